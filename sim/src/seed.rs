//! Seeds: plain multi-document Kubernetes YAML loaded into the store.

use serde_json::{Value, json};

use crate::SimError;
use crate::knobs::{AGE_ANNOTATION, TERMINATING_FOR_ANNOTATION};
use crate::resources;
use crate::store::{Store, UpdateMode, res};
use crate::util::str_at;

/// Split YAML text into documents, remembering the 1-based line each starts on,
/// so errors in later documents still point at the right line of the file.
fn documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("---") && (line.len() == 3 || line[3..].starts_with([' ', '\t'])) {
            docs.push((start, std::mem::take(&mut cur)));
            start = i + 2;
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    docs.push((start, cur));
    docs
}

fn seed_err(source: &str, line: u64, column: u64, reason: impl Into<String>) -> SimError {
    SimError::Seed {
        file: source.to_string(),
        line,
        column,
        reason: reason.into(),
    }
}

/// One plain sentence for what the YAML reader refused: its resource budget
/// (an alias bomb) and its duplicate-key policy are worded for programmers.
fn yaml_reason(err: &serde_saphyr::Error) -> String {
    use serde_saphyr::Error as E;
    use serde_saphyr::budget::BudgetBreach as B;
    let mut inner = err;
    while let E::WithSnippet { error, .. } | E::AliasError { error, .. } = inner {
        inner = error;
    }
    match inner {
        E::Budget {
            breach: B::Nodes { nodes },
            ..
        } => format!("the seed is too large (over {} nodes)", nodes - 1),
        E::Budget { .. } => {
            "the seed is too large to read; split it or remove repeated aliases".into()
        }
        E::DuplicateMappingKey { key: Some(k), .. } => {
            format!("duplicate key `{k}`: each key may appear once")
        }
        _ => clean_reason(&err.to_string()),
    }
}

/// Strip serde-saphyr's own " at line X column Y" so the reason reads cleanly
/// next to our file:line:column prefix.
fn clean_reason(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or(msg);
    let mut r = first.strip_prefix("error: ").unwrap_or(first);
    // "line 5 column 15: mismatched bracket" counts lines within the
    // document, which would contradict the file position we report.
    if let Some(rest) = r.strip_prefix("line ")
        && let Some((pos, tail)) = rest.split_once(": ")
        && pos
            .split(" column ")
            .all(|n| n.trim().parse::<u64>().is_ok())
    {
        r = tail;
    }
    match r.find(" at line ") {
        Some(i) => r[..i].to_string(),
        None => r.to_string(),
    }
}

/// The API server's checks of one seeded object, as one sentence: a seed
/// holds what a cluster could hold, so the controllers can read all of it.
fn checked(v: &Value) -> Result<(), String> {
    let r =
        resources::by_kind(str_at(v, &["apiVersion"]), str_at(v, &["kind"])).ok_or_else(|| {
            format!(
                "unknown kind {} in {}",
                str_at(v, &["kind"]),
                str_at(v, &["apiVersion"])
            )
        })?;
    crate::validate::check(r, v).map_err(|e| e.message)
}

/// Parse a multi-document seed. Every document must be a Kubernetes object
/// of a kind the simulator serves.
pub fn parse_seed(text: &str, source: &str) -> Result<Vec<Value>, SimError> {
    let mut out = Vec::new();
    for (start, doc) in documents(text) {
        if doc.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#')
        }) {
            continue;
        }
        let v: Value = serde_saphyr::from_str(&doc).map_err(|e| {
            let (line, col) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            seed_err(
                source,
                start as u64 + line.max(1) - 1,
                col.max(1),
                yaml_reason(&e),
            )
        })?;
        if v.is_null() {
            continue;
        }
        let line_of = |key: &str| -> u64 {
            doc.lines()
                .position(|l| l.starts_with(&format!("{key}:")))
                .map(|p| (start + p) as u64)
                .unwrap_or(start as u64)
        };
        if !v.is_object() {
            return Err(seed_err(
                source,
                start as u64,
                1,
                "a document must be a Kubernetes object (a mapping)",
            ));
        }
        let api_version = str_at(&v, &["apiVersion"]);
        let kind = str_at(&v, &["kind"]);
        if api_version.is_empty() {
            return Err(seed_err(source, start as u64, 1, "missing apiVersion"));
        }
        if kind.is_empty() {
            return Err(seed_err(source, start as u64, 1, "missing kind"));
        }
        if kind == "List" {
            for item in v["items"].as_array().cloned().unwrap_or_default() {
                checked(&item).map_err(|why| seed_err(source, start as u64, 1, why))?;
                out.push(item);
            }
            continue;
        }
        if resources::by_kind(api_version, kind).is_none() {
            return Err(seed_err(
                source,
                line_of("kind"),
                1,
                format!("unknown kind {kind} in {api_version}"),
            ));
        }
        if str_at(&v, &["metadata", "name"]).is_empty()
            && str_at(&v, &["metadata", "generateName"]).is_empty()
        {
            return Err(seed_err(
                source,
                line_of("metadata"),
                1,
                "metadata.name is required",
            ));
        }
        checked(&v).map_err(|why| seed_err(source, start as u64, 1, why))?;
        out.push(v);
    }
    Ok(out)
}

pub(crate) fn default_namespaces() -> Vec<Value> {
    ["default", "kube-system", "kube-public", "kube-node-lease"]
        .iter()
        .map(|n| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}))
        .collect()
}

fn ensure_namespace(store: &Store, ns: &str) {
    if ns.is_empty() || store.get(res("namespaces"), "", ns).is_some() {
        return;
    }
    let _ = store.create(
        res("namespaces"),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    );
}

/// `12d`, `3h`, `45m`, `30s` as a chrono duration.
fn parse_age(s: &str) -> Option<chrono::Duration> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = n.parse().ok()?;
    Some(match unit {
        "s" => chrono::Duration::seconds(n),
        "m" => chrono::Duration::minutes(n),
        "h" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        _ => return None,
    })
}

/// Create or replace one object, keeping the status it carries.
pub(crate) fn apply_one(store: &Store, mut v: Value) -> Result<Value, SimError> {
    for (knob, field) in [
        (AGE_ANNOTATION, "creationTimestamp"),
        (TERMINATING_FOR_ANNOTATION, "deletionTimestamp"),
    ] {
        if let Some(age) = v["metadata"]["annotations"][knob]
            .as_str()
            .and_then(parse_age)
        {
            v["metadata"][field] = json!(crate::util::ts(crate::util::now() - age));
            if let Some(a) = v["metadata"]["annotations"].as_object_mut() {
                a.remove(knob);
                if a.is_empty() {
                    v["metadata"]
                        .as_object_mut()
                        .map(|m| m.remove("annotations"));
                }
            }
        }
    }
    let seeded_deletion = v["metadata"]["deletionTimestamp"].clone();
    let seeded_grace = v["metadata"]["deletionGracePeriodSeconds"].clone();
    let terminating = !seeded_deletion.is_null();
    let api_version = str_at(&v, &["apiVersion"]).to_string();
    let kind = str_at(&v, &["kind"]).to_string();
    let r = resources::by_kind(&api_version, &kind)
        .ok_or(SimError::UnknownKind { api_version, kind })?;
    crate::validate::check(r, &v).map_err(|e| SimError::Api(e.message))?;
    if r.namespaced {
        if str_at(&v, &["metadata", "namespace"]).is_empty() {
            v["metadata"]["namespace"] = json!("default");
        }
        ensure_namespace(store, str_at(&v, &["metadata", "namespace"]));
    }
    let ns = str_at(&v, &["metadata", "namespace"]).to_string();
    let name = str_at(&v, &["metadata", "name"]).to_string();
    let exists = !name.is_empty()
        && store
            .get(r, if r.namespaced { &ns } else { "" }, &name)
            .is_some();
    crate::controllers::defaults::on_write(r, &mut v);
    let s = if exists {
        if let Some(m) = v["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        store.update(r, v, UpdateMode::Raw, false)
    } else {
        crate::controllers::defaults::apply(r, &mut v);
        store.create(r, v)
    }
    .map_err(|e| SimError::Api(e.message))?;
    if terminating {
        // A seed may show an object already being deleted (e.g. stuck on a finalizer).
        let d = store
            .delete(r, &s.meta.namespace, &s.meta.name, &Default::default())
            .map_err(|e| SimError::Api(e.message))?;
        if d.removed {
            return Ok(d.obj.value());
        }
        // It has been stuck since the seed says, not since the seed loaded.
        let mut pinned = d.obj.value();
        pinned["metadata"]["deletionTimestamp"] = seeded_deletion;
        if !seeded_grace.is_null() {
            pinned["metadata"]["deletionGracePeriodSeconds"] = seeded_grace;
        }
        let s = store
            .update(r, pinned, UpdateMode::Raw, false)
            .map_err(|e| SimError::Api(e.message))?;
        return Ok(s.value());
    }
    Ok(s.value())
}

/// Load seed objects: the default namespaces first, then namespaces and
/// nodes, then everything else, so references resolve like in a real cluster.
pub(crate) fn load(store: &Store, objs: Vec<Value>) -> Result<(), SimError> {
    let rank = |v: &Value| match str_at(v, &["kind"]) {
        "Namespace" => 0,
        "Node" => 1,
        _ => 2,
    };
    let mut objs = objs;
    objs.sort_by_key(rank);
    // The built-in namespaces are as old as the oldest seed object.
    let oldest = objs
        .iter()
        .filter_map(|o| o["metadata"]["annotations"][AGE_ANNOTATION].as_str())
        .filter_map(parse_age)
        .max();
    for mut ns in default_namespaces() {
        if let Some(age) = oldest {
            ns["metadata"]["creationTimestamp"] = json!(crate::util::ts(crate::util::now() - age));
        }
        if store
            .get(res("namespaces"), "", str_at(&ns, &["metadata", "name"]))
            .is_none()
        {
            apply_one(store, ns)?;
        }
    }
    for v in objs {
        apply_one(store, v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_stored_as_a_real_api_server_stores_them() {
        let store = Store::default();
        let text = "apiVersion: v1\nkind: Node\nmetadata: {name: bare}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\ndata: {A: YQ==}\nstringData: {B: hello}\n";
        load(&store, parse_seed(text, "s.yaml").unwrap()).unwrap();
        let node = store.get_value(res("nodes"), "", "bare").unwrap();
        assert!(
            node["status"]
                .get("conditions")
                .is_none_or(|c| !c.is_null()),
            "no null conditions: {node}"
        );
        let secret = store.get_value(res("secrets"), "default", "s").unwrap();
        assert!(secret.get("stringData").is_none(), "{secret}");
        assert_eq!(
            secret["data"],
            serde_json::json!({"A": "YQ==", "B": "aGVsbG8="})
        );
    }

    #[test]
    fn a_seeded_pod_stuck_terminating_keeps_how_long_it_has_been_stuck() {
        let store = Store::default();
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: held\n  namespace: default\n  finalizers: [example.com/keep]\n  annotations:\n    sim.oncall.dev/age: 9d\n    sim.oncall.dev/terminating-for: 2d\nspec:\n  nodeName: n1\n  containers: [{name: c, image: i}]\n";
        load(&store, parse_seed(text, "s.yaml").unwrap()).unwrap();
        let v = store.get_value(res("pods"), "default", "held").unwrap();
        let deleted =
            crate::util::parse_ts(v["metadata"]["deletionTimestamp"].as_str().unwrap()).unwrap();
        let stuck_for = crate::util::now() - deleted;
        assert!(
            (stuck_for - chrono::Duration::days(2)).num_seconds().abs() < 60,
            "stuck for {stuck_for}"
        );
        assert!(
            v["metadata"]["annotations"].is_null(),
            "knobs are removed: {v}"
        );
        assert!(
            v["spec"].get("initContainers").is_none(),
            "no null lists: {v}"
        );
    }

    #[test]
    fn parses_documents_and_skips_empty() {
        let text = "# comment\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: a\n";
        let objs = parse_seed(text, "s.yaml").unwrap();
        assert_eq!(objs.len(), 2);
    }

    #[test]
    fn syntax_error_has_file_line_column() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n";
        match parse_seed(text, "bad.yaml").unwrap_err() {
            SimError::Seed {
                file, line, reason, ..
            } => {
                assert_eq!(file, "bad.yaml");
                assert!(line >= 9, "line {line}");
                assert!(!reason.is_empty() && !reason.contains("line "), "{reason}");
            }
            e => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn unknown_kind_names_its_line() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n";
        let e = parse_seed(text, "w.yaml").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("w.yaml:7:1: unknown kind Widget"), "{msg}");
    }

    #[test]
    fn an_alias_bomb_and_a_duplicate_key_are_one_plain_sentence() {
        let mut bomb = String::from(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n",
        );
        for (n, prev) in ["b", "c", "d", "e", "f", "g"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f"])
        {
            bomb += &format!(
                "  {n}: &{n} [{}]\n",
                vec![format!("*{prev}"); 10].join(", ")
            );
        }
        let e = parse_seed(&bomb, "bomb.yaml").unwrap_err().to_string();
        assert!(
            e.ends_with(": the seed is too large (over 250000 nodes)"),
            "{e}"
        );
        let dup = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\ndata:\n  k: a\n  k: b\n";
        let e = parse_seed(dup, "dup.yaml").unwrap_err().to_string();
        assert_eq!(
            e,
            "dup.yaml:6:3: duplicate key `k`: each key may appear once"
        );
    }

    #[test]
    fn missing_name_is_rejected() {
        let e = parse_seed("apiVersion: v1\nkind: Pod\nmetadata: {}\n", "p.yaml").unwrap_err();
        assert!(e.to_string().contains("metadata.name is required"), "{e}");
    }

    #[test]
    fn demo_seed_parses() {
        let objs = parse_seed(crate::DEMO_SEED, "demo.yaml").unwrap();
        assert!(objs.len() > 20);
    }
}
