//! The three patch types the API server accepts for built-in resources.
//!
//! Strategic merge needs the Go struct tags (patchMergeKey) that say which
//! lists merge by which key; the table below covers the lists kubectl and
//! controllers actually patch. Lists not in it are replaced, as with
//! `patchStrategy` unset.

use serde_json::{Map, Value};

pub(crate) enum PatchType {
    Merge,
    Strategic,
    Json,
    /// Server-side apply, approximated as a strategic merge of the applied
    /// configuration (no field ownership tracking).
    Apply,
}

impl PatchType {
    pub(crate) fn from_content_type(ct: &str) -> Option<Self> {
        let ct = ct.split(';').next().unwrap_or("").trim();
        match ct {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/json-patch+json" => Some(Self::Json),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            _ => None,
        }
    }
}

pub(crate) fn apply(pt: PatchType, target: &Value, patch: &Value) -> Result<Value, String> {
    match pt {
        PatchType::Merge => Ok(merge_patch(target, patch)),
        PatchType::Strategic | PatchType::Apply => Ok(strategic_merge(target, patch, "")),
        PatchType::Json => {
            let p: json_patch::Patch =
                serde_json::from_value(patch.clone()).map_err(|e| e.to_string())?;
            let mut doc = target.clone();
            json_patch::patch(&mut doc, &p).map_err(|e| e.to_string())?;
            Ok(doc)
        }
    }
}

/// RFC 7386 JSON merge patch.
pub(crate) fn merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => Map::new(),
    };
    for (k, v) in p {
        if v.is_null() {
            out.remove(k);
        } else {
            let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), v);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

/// The merge key of a list field, by field name (and parent for `ports`).
fn merge_key(field: &str, parent: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" | "addresses" => "type",
        "ownerReferences" => "uid",
        "taints" => "key",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "ports" if parent == "spec" => "port",
        "ports" => "containerPort",
        _ => return None,
    })
}

/// Lists of scalars that merge as sets (patchStrategy merge without a key).
fn is_primitive_merge(field: &str) -> bool {
    matches!(field, "finalizers")
}

/// Strategic merge patch. `field` is the name of the field holding `target`.
pub(crate) fn strategic_merge(target: &Value, patch: &Value, field: &str) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut p = p.clone();
        p.remove("$patch");
        return Value::Object(p);
    }
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => Map::new(),
    };
    // `$retainKeys` lists the only keys that survive (used for strategy changes).
    if let Some(keep) = p.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        out.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in p {
        if k == "$retainKeys" || k == "$patch" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(list) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(cur)), Value::Array(del)) = (out.get_mut(list), v) {
                cur.retain(|x| !del.contains(x));
            }
            continue;
        }
        if v.is_null() {
            out.remove(k);
            continue;
        }
        let cur = out.get(k).cloned().unwrap_or(Value::Null);
        let merged = match (v, &cur) {
            (Value::Object(_), _) => strategic_merge(&cur, v, k),
            (Value::Array(pl), Value::Array(tl)) => {
                if let Some(mk) = merge_key(k, field) {
                    merge_list_by_key(tl, pl, mk)
                } else if is_primitive_merge(k) {
                    let mut t = tl.clone();
                    for x in pl {
                        if !t.contains(x) {
                            t.push(x.clone());
                        }
                    }
                    Value::Array(t)
                } else {
                    v.clone()
                }
            }
            (Value::Array(pl), _) => Value::Array(
                pl.iter()
                    .filter(|e| e.get("$patch").is_none())
                    .cloned()
                    .collect(),
            ),
            _ => v.clone(),
        };
        out.insert(k.clone(), merged);
    }
    Value::Object(out)
}

fn merge_list_by_key(target: &[Value], patch: &[Value], mk: &str) -> Value {
    let mut out: Vec<Value> = target.to_vec();
    for pe in patch {
        let Some(kv) = pe.get(mk) else {
            out.push(pe.clone());
            continue;
        };
        let pos = out.iter().position(|t| t.get(mk) == Some(kv));
        let directive = pe.get("$patch").and_then(Value::as_str);
        match (pos, directive) {
            (Some(i), Some("delete")) => {
                out.remove(i);
            }
            (None, Some("delete")) => {}
            (Some(i), Some("replace")) => {
                let mut e = pe.clone();
                e.as_object_mut().map(|o| o.remove("$patch"));
                out[i] = e;
            }
            (Some(i), _) => {
                let merged = strategic_merge(&out[i], pe, "");
                out[i] = merged;
            }
            (None, _) => {
                let mut e = pe.clone();
                e.as_object_mut().map(|o| o.remove("$patch"));
                out.push(e);
            }
        }
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_removes_nulls() {
        let t = json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]});
        let p = json!({"a": null, "b": {"c": 5}, "l": [3]});
        assert_eq!(
            merge_patch(&t, &p),
            json!({"b": {"c": 5, "d": 3}, "l": [3]})
        );
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let t = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "side", "image": "s:1"}
        ]}}}});
        let p = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "a:2", "env": [{"name": "Y", "value": "2"}]}
        ]}}}});
        let r = strategic_merge(&t, &p, "");
        let cs = &r["spec"]["template"]["spec"]["containers"];
        assert_eq!(cs.as_array().unwrap().len(), 2);
        assert_eq!(cs[0]["image"], "a:2");
        assert_eq!(cs[0]["env"].as_array().unwrap().len(), 2);
        assert_eq!(cs[1]["image"], "s:1");
    }

    #[test]
    fn strategic_delete_directive_and_null() {
        let t = json!({"spec": {"unschedulable": true, "taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "NoSchedule"}]}});
        let p =
            json!({"spec": {"unschedulable": null, "taints": [{"key": "a", "$patch": "delete"}]}});
        let r = strategic_merge(&t, &p, "");
        assert!(r["spec"].get("unschedulable").is_none());
        assert_eq!(
            r["spec"]["taints"],
            json!([{"key": "b", "effect": "NoSchedule"}])
        );
    }

    #[test]
    fn strategic_conditions_and_unknown_lists() {
        let t = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}, "spec": {"args": ["a"]}});
        let p = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "X", "status": "True"}]}, "spec": {"args": ["b"]}});
        let r = strategic_merge(&t, &p, "");
        assert_eq!(r["status"]["conditions"].as_array().unwrap().len(), 2);
        assert_eq!(r["status"]["conditions"][0]["status"], "False");
        assert_eq!(r["spec"]["args"], json!(["b"]));
    }

    #[test]
    fn strategic_finalizers_union_and_delete_from_primitive() {
        let t = json!({"metadata": {"finalizers": ["a"]}});
        let r = strategic_merge(&t, &json!({"metadata": {"finalizers": ["b"]}}), "");
        assert_eq!(r["metadata"]["finalizers"], json!(["a", "b"]));
        let r = strategic_merge(
            &r,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
            "",
        );
        assert_eq!(r["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn json_patch() {
        let t = json!({"spec": {"replicas": 1}});
        let p = json!([{"op": "replace", "path": "/spec/replicas", "value": 3}]);
        assert_eq!(
            apply(PatchType::Json, &t, &p).unwrap()["spec"]["replicas"],
            3
        );
        let bad = json!([{"op": "remove", "path": "/nope"}]);
        assert!(apply(PatchType::Json, &t, &bad).is_err());
    }
}
