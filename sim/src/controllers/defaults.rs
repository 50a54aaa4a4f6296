//! Defaulting on create, as the API server does, so objects read back the
//! way they would from a real cluster (and controllers can rely on fields).

use serde_json::{Value, json};

use crate::resources::Resource;
use crate::util::{self, str_at};

fn set_default(v: &mut Value, key: &str, d: Value) {
    if let Some(o) = v.as_object_mut() {
        o.entry(key.to_string()).or_insert(d);
    }
}

/// The object at `v.key`, created empty when absent; `None` when `v` or the
/// value there is not an object (a malformed object is left as it is rather
/// than indexed into, which would panic).
fn child<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    let slot = v
        .as_object_mut()?
        .entry(key.to_string())
        .or_insert_with(|| json!({}));
    if slot.is_null() {
        *slot = json!({});
    }
    slot.is_object().then_some(slot)
}

/// The object at the end of `path`, created as needed (see `child`).
fn descend<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |cur, key| child(cur, key))
}

pub(crate) fn pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        *spec = json!({});
    }
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "serviceAccountName", json!("default"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "enableServiceLinks", json!(true));
    for list in ["containers", "initContainers"] {
        // `get_mut`, not indexing: indexing would add `initContainers: null`.
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter(|c| c.is_object()) {
                let image = str_at(c, &["image"]).to_string();
                let tag = image.rsplit('/').next().unwrap_or("");
                let latest = !tag.contains(':') || tag.ends_with(":latest");
                set_default(
                    c,
                    "imagePullPolicy",
                    json!(if latest { "Always" } else { "IfNotPresent" }),
                );
                set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
                set_default(c, "terminationMessagePolicy", json!("File"));
                set_default(c, "resources", json!({}));
            }
        }
    }
}

/// Pod defaults for the template at `path` under a workload's spec.
fn template_spec(spec: &mut Value, path: &[&str]) {
    if let Some(pod) = descend(spec, path) {
        pod_spec(pod);
    }
}

/// The tolerations the DefaultTolerationSeconds admission plugin adds.
fn default_tolerations(spec: &mut Value) {
    let Some(spec) = spec.as_object_mut() else {
        return;
    };
    let tols = spec.entry("tolerations").or_insert_with(|| json!([]));
    if let Some(t) = tols.as_array_mut() {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            if !t.iter().any(|x| x["key"] == key) {
                t.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
    }
}

fn qos_class(spec: &Value) -> &'static str {
    let cs = spec["containers"].as_array().cloned().unwrap_or_default();
    let any = cs.iter().any(|c| {
        c["resources"]["requests"]
            .as_object()
            .is_some_and(|m| !m.is_empty())
            || c["resources"]["limits"]
                .as_object()
                .is_some_and(|m| !m.is_empty())
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = cs.iter().all(|c| {
        let l = &c["resources"]["limits"];
        let r = &c["resources"]["requests"];
        !l["cpu"].is_null()
            && !l["memory"].is_null()
            && (r["cpu"].is_null() || r["cpu"] == l["cpu"])
            && (r["memory"].is_null() || r["memory"] == l["memory"])
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// What the API server does to every write of an object, create or update:
/// a Secret's `stringData` is merged into `data` (base64) and never stored.
pub(crate) fn on_write(r: &Resource, v: &mut Value) {
    if r.plural != "secrets" {
        return;
    }
    let Some(string_data) = v
        .as_object_mut()
        .and_then(|o| o.remove("stringData"))
        .and_then(|d| d.as_object().cloned())
    else {
        return;
    };
    use base64::Engine;
    let Some(data) = child(v, "data").and_then(Value::as_object_mut) else {
        return;
    };
    for (key, value) in string_data {
        let text = value.as_str().unwrap_or_default();
        data.insert(
            key,
            json!(base64::engine::general_purpose::STANDARD.encode(text)),
        );
    }
}

pub(crate) fn apply(r: &Resource, v: &mut Value) {
    match r.plural {
        "pods" => {
            if let Some(spec) = child(v, "spec") {
                pod_spec(spec);
                default_tolerations(spec);
            }
            let q = qos_class(&v["spec"]);
            if v.get("status").is_none_or(Value::is_null)
                && let Some(o) = v.as_object_mut()
            {
                o.insert("status".into(), json!({"phase": "Pending"}));
            }
            if let Some(status) = child(v, "status") {
                set_default(status, "qosClass", json!(q));
            }
        }
        "deployments" => {
            let Some(spec) = child(v, "spec") else { return };
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            set_default(
                spec,
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
            );
            if spec["strategy"]["type"] == "RollingUpdate"
                && let Some(ru) = descend(spec, &["strategy", "rollingUpdate"])
            {
                set_default(ru, "maxSurge", json!("25%"));
                set_default(ru, "maxUnavailable", json!("25%"));
            }
            template_spec(spec, &["template", "spec"]);
        }
        "replicasets" => {
            let Some(spec) = child(v, "spec") else { return };
            set_default(spec, "replicas", json!(1));
            template_spec(spec, &["template", "spec"]);
        }
        "statefulsets" => {
            let Some(spec) = child(v, "spec") else { return };
            set_default(spec, "replicas", json!(1));
            set_default(spec, "podManagementPolicy", json!("OrderedReady"));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
            template_spec(spec, &["template", "spec"]);
        }
        "daemonsets" => {
            let Some(spec) = child(v, "spec") else { return };
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
            );
            template_spec(spec, &["template", "spec"]);
        }
        "jobs" => {
            let Some(spec) = child(v, "spec") else { return };
            set_default(spec, "completions", json!(1));
            set_default(spec, "parallelism", json!(1));
            set_default(spec, "backoffLimit", json!(6));
            template_spec(spec, &["template", "spec"]);
        }
        "cronjobs" => {
            let Some(spec) = child(v, "spec") else { return };
            set_default(spec, "suspend", json!(false));
            set_default(spec, "concurrencyPolicy", json!("Allow"));
            template_spec(spec, &["jobTemplate", "spec", "template", "spec"]);
        }
        "services" => {
            let Some(spec) = child(v, "spec") else { return };
            set_default(spec, "type", json!("ClusterIP"));
            set_default(spec, "sessionAffinity", json!("None"));
            if str_at(spec, &["clusterIP"]).is_empty() {
                let ip =
                    util::global_rng(|r| format!("10.96.{}.{}", r.below(255), 1 + r.below(253)));
                spec["clusterIP"] = json!(ip);
                spec["clusterIPs"] = json!([ip]);
            }
            let node_ports = matches!(str_at(spec, &["type"]), "LoadBalancer" | "NodePort");
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports.iter_mut().filter(|p| p.is_object()) {
                    set_default(p, "protocol", json!("TCP"));
                    let port = p["port"].clone();
                    set_default(p, "targetPort", port);
                    if node_ports && p["nodePort"].is_null() {
                        p["nodePort"] = json!(30000 + util::global_rng(|r| r.below(2768)));
                    }
                }
            }
        }
        "namespaces" => {
            if let Some(spec) = child(v, "spec") {
                set_default(spec, "finalizers", json!(["kubernetes"]));
            }
        }
        "secrets" => set_default(v, "type", json!("Opaque")),
        "nodes" => {
            // The API server always returns a spec, if only an empty one.
            child(v, "spec");
            // Conditions a seed gives without timestamps get the node's creation time.
            let created = v["metadata"]["creationTimestamp"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(util::now_ts);
            // (A pointer, not `v["status"][..]`: indexing would invent a
            // `status: {conditions: null}` for a node seeded without status.)
            if let Some(cs) = v
                .pointer_mut("/status/conditions")
                .and_then(Value::as_array_mut)
            {
                for c in cs.iter_mut() {
                    set_default(c, "lastHeartbeatTime", json!(util::now_ts()));
                    set_default(c, "lastTransitionTime", json!(created));
                }
            }
        }
        _ => {}
    }
}
