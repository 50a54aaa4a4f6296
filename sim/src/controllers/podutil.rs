//! Helpers shared by the controllers: pod state, template hashing, pod
//! creation from templates, taints and tolerations.

use serde_json::{Value, json};

use crate::store::{Meta, Stored};
use crate::util::{self, str_at};

/// A pod that counts as a replica: not terminating and not finished.
pub(crate) fn is_active(m: &Meta) -> bool {
    !m.deleting && !matches!(m.field("status.phase"), "Succeeded" | "Failed")
}

pub(crate) fn is_ready(m: &Meta) -> bool {
    m.ready && !m.deleting
}

/// The pods a controller owns (by owner uid), in one namespace.
pub(crate) fn owned_pods(
    store: &crate::store::Store,
    ns: &str,
    uid: &str,
) -> Vec<std::sync::Arc<Stored>> {
    store.scan(crate::store::res("pods"), Some(ns), |m| {
        m.owner_uid() == Some(uid)
    })
}

/// A short stable hash of a pod template, in the alphabet Kubernetes uses
/// for pod-template-hash and controller-revision-hash values.
pub(crate) fn template_hash(template: &Value) -> String {
    let mut t = template.clone();
    // A pointer, not indexing: indexing into a malformed template panics.
    if let Some(l) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        l.remove("pod-template-hash");
        l.remove("controller-revision-hash");
    }
    // Go clients send `creationTimestamp: null` and other empty fields
    // (kubectl rollout undo does); they do not make a different template.
    strip_nulls(&mut t);
    // FNV-1a over the canonical JSON (serde_json maps are sorted).
    let bytes = serde_json::to_vec(&t).expect("json");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut s = String::new();
    for _ in 0..10 {
        s.push(ALPHA[(h % ALPHA.len() as u64) as usize] as char);
        h /= ALPHA.len() as u64;
        if h == 0 {
            h = 0x9e37_79b9;
        }
    }
    s
}

fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Build a pod from a controller's template.
pub(crate) fn pod_from_template(
    owner: &Value,
    template: &Value,
    name: Option<String>,
    extra_labels: &[(&str, String)],
) -> Value {
    let om = &owner["metadata"];
    let mut meta = template["metadata"].clone();
    if !meta.is_object() {
        meta = json!({});
    }
    let owner_name = str_at(om, &["name"]);
    match name {
        Some(n) => meta["name"] = json!(n),
        None => meta["generateName"] = json!(format!("{owner_name}-")),
    }
    meta["namespace"] = om["namespace"].clone();
    if !meta["labels"].is_object() {
        meta["labels"] = json!({});
    }
    for (k, v) in extra_labels {
        meta["labels"][*k] = json!(v);
    }
    meta["ownerReferences"] = json!([{
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner_name,
        "uid": om["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    }]);
    if let Some(m) = meta.as_object_mut() {
        m.remove("creationTimestamp");
    }
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": template["spec"].clone(),
    });
    super::defaults::apply(crate::store::res("pods"), &mut pod);
    pod
}

pub(crate) fn tolerates(tolerations: &Value, taint: &Value) -> bool {
    let tk = str_at(taint, &["key"]);
    let te = str_at(taint, &["effect"]);
    let tv = str_at(taint, &["value"]);
    tolerations.as_array().into_iter().flatten().any(|t| {
        let key = str_at(t, &["key"]);
        let eff = str_at(t, &["effect"]);
        let op = str_at(t, &["operator"]);
        (eff.is_empty() || eff == te)
            && (key.is_empty() && op == "Exists" || key == tk)
            && (op == "Exists" || str_at(t, &["value"]) == tv)
    })
}

pub(crate) fn node_ready(node: &Value) -> bool {
    node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Whether a pod's nodeSelector and required node affinity accept a node.
pub(crate) fn node_matches(pod_spec: &Value, node: &Value) -> bool {
    let labels = &node["metadata"]["labels"];
    if let Some(sel) = pod_spec["nodeSelector"].as_object() {
        for (k, v) in sel {
            if labels[k] != *v {
                return false;
            }
        }
    }
    let terms = &pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"];
    let Some(terms) = terms.as_array() else {
        return true;
    };
    if terms.is_empty() {
        return true;
    }
    terms.iter().any(|term| term_matches(term, node))
}

/// Whether a node selector term (of required or preferred node affinity)
/// selects `node`.
pub(crate) fn term_matches(term: &Value, node: &Value) -> bool {
    let labels = &node["metadata"]["labels"];
    let exprs_ok = term["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let val = labels[str_at(e, &["key"])].as_str();
            let vals = values(e);
            match str_at(e, &["operator"]) {
                "In" => val.is_some_and(|v| vals.contains(&v)),
                "NotIn" => val.is_none_or(|v| !vals.contains(&v)),
                "Exists" => val.is_some(),
                "DoesNotExist" => val.is_none(),
                _ => true,
            }
        });
    let fields_ok = term["matchFields"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let vals = values(e);
            let name = str_at(node, &["metadata", "name"]);
            match str_at(e, &["operator"]) {
                "In" => vals.contains(&name),
                "NotIn" => !vals.contains(&name),
                _ => true,
            }
        });
    exprs_ok && fields_ok
}

/// A selector requirement's `values`.
fn values(requirement: &Value) -> Vec<&str> {
    requirement["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The summed weights of the pod's preferred node affinity terms that
/// select `node`: the scheduler's NodeAffinity score before normalising.
pub(crate) fn preference(pod_spec: &Value, node: &Value) -> i64 {
    pod_spec["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| term_matches(&p["preference"], node))
        .map(|p| p["weight"].as_i64().unwrap_or(0))
        .sum()
}

pub(crate) fn set_condition(
    status: &mut Value,
    ctype: &str,
    cstatus: &str,
    reason: &str,
    message: &str,
) {
    let now = util::now_ts();
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    let conds = status["conditions"].as_array_mut().expect("array");
    if let Some(c) = conds.iter_mut().find(|c| c["type"] == ctype) {
        if c["status"] != cstatus {
            c["lastTransitionTime"] = json!(now);
        }
        c["status"] = json!(cstatus);
        set_or_remove(c, "reason", reason);
        set_or_remove(c, "message", message);
    } else {
        let mut c = json!({"type": ctype, "status": cstatus, "lastProbeTime": null, "lastTransitionTime": now});
        set_or_remove(&mut c, "reason", reason);
        set_or_remove(&mut c, "message", message);
        conds.push(c);
    }
}

fn set_or_remove(c: &mut Value, k: &str, v: &str) {
    if v.is_empty() {
        if let Some(o) = c.as_object_mut() {
            o.remove(k);
        }
    } else {
        c[k] = json!(v);
    }
}

pub(crate) fn condition_status<'a>(status: &'a Value, ctype: &str) -> &'a str {
    status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == ctype)
        .map(|c| str_at(c, &["status"]))
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_ignores_hash_label() {
        let a =
            json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"image": "a"}]}});
        let mut b = a.clone();
        b["metadata"]["labels"]["pod-template-hash"] = json!("zzz");
        assert_eq!(template_hash(&a), template_hash(&b));
        let mut n = a.clone();
        n["metadata"]["creationTimestamp"] = Value::Null;
        assert_eq!(template_hash(&a), template_hash(&n));
        let mut c = a.clone();
        c["spec"]["containers"][0]["image"] = json!("b");
        assert_ne!(template_hash(&a), template_hash(&c));
        assert_eq!(template_hash(&a).len(), 10);
    }

    #[test]
    fn tolerations_match_taints() {
        let taint = json!({"key": "dedicated", "value": "db", "effect": "NoSchedule"});
        assert!(tolerates(
            &json!([{"key": "dedicated", "operator": "Equal", "value": "db"}]),
            &taint
        ));
        assert!(tolerates(&json!([{"operator": "Exists"}]), &taint));
        assert!(!tolerates(
            &json!([{"key": "dedicated", "operator": "Equal", "value": "web"}]),
            &taint
        ));
        assert!(!tolerates(&json!([]), &taint));
    }

    #[test]
    fn node_selector_and_affinity() {
        let node = json!({"metadata": {"name": "n1", "labels": {"pool": "a"}}});
        assert!(node_matches(&json!({"nodeSelector": {"pool": "a"}}), &node));
        assert!(!node_matches(
            &json!({"nodeSelector": {"pool": "b"}}),
            &node
        ));
        let aff = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}});
        assert!(!node_matches(&aff, &node));
    }
}
