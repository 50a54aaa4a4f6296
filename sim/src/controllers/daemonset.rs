//! DaemonSet controller: one pod per eligible node, rolling updates one
//! node at a time (maxUnavailable 1).

use serde_json::{Value, json};

use super::podutil::{
    is_active, is_ready, node_matches, owned_pods, pod_from_template, template_hash, tolerates,
};
use super::{Ctx, State};
use crate::store::{DeleteOptions, UpdateMode, res};
use crate::util::str_at;

/// Taints every DaemonSet pod tolerates (added by the DaemonSet controller).
fn ds_tolerations(spec: &Value) -> Value {
    let mut t = spec["tolerations"].as_array().cloned().unwrap_or_default();
    for (key, effect) in [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ] {
        t.push(json!({"key": key, "operator": "Exists", "effect": effect}));
    }
    json!(t)
}

fn eligible(spec: &Value, node: &Value) -> bool {
    let tols = ds_tolerations(spec);
    node["metadata"]["deletionTimestamp"].is_null()
        && node_matches(spec, node)
        && node["spec"]["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|t| {
                !matches!(str_at(t, &["effect"]), "NoSchedule" | "NoExecute") || tolerates(&tols, t)
            })
}

pub(super) fn reconcile(ctx: &Ctx, st: &mut State, ns: &str, name: &str) {
    let ds_r = res("daemonsets");
    let Some(ds) = ctx.live("daemonsets", ns, name) else {
        return;
    };
    let uid = str_at(&ds, &["metadata", "uid"]).to_string();
    let tspec = &ds["spec"]["template"]["spec"];
    let hash = template_hash(&ds["spec"]["template"]);
    let nodes: Vec<Value> = ctx
        .store
        .scan(res("nodes"), None, |_| true)
        .iter()
        .map(|s| s.value())
        .collect();
    let eligible_nodes: Vec<String> = nodes
        .iter()
        .filter(|n| eligible(tspec, n))
        .map(|n| str_at(n, &["metadata", "name"]).to_string())
        .collect();
    let pods = owned_pods(ctx.store, ns, &uid);
    for node in &eligible_nodes {
        let has = pods
            .iter()
            .any(|p| p.meta.field("spec.nodeName") == node && is_active(&p.meta));
        let terminating = pods
            .iter()
            .any(|p| p.meta.field("spec.nodeName") == node && p.meta.deleting);
        if !has && !terminating {
            let mut pod = pod_from_template(
                &ds,
                &ds["spec"]["template"],
                None,
                &[
                    ("controller-revision-hash", hash.clone()),
                    (
                        "pod-template-generation",
                        ds["metadata"]["generation"]
                            .as_i64()
                            .unwrap_or(1)
                            .to_string(),
                    ),
                ],
            );
            pod["spec"]["nodeName"] = json!(node);
            pod["spec"]["tolerations"] = ds_tolerations(&pod["spec"]);
            pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({
                "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]
            });
            if let Ok(p) = ctx.store.create(res("pods"), pod) {
                st.recorder.record(
                    ctx.store,
                    &ds,
                    "Normal",
                    "SuccessfulCreate",
                    &format!("Created pod: {}", p.meta.name),
                    "daemonset-controller",
                );
            }
        }
    }
    for p in &pods {
        let on = p.meta.field("spec.nodeName");
        if !eligible_nodes.iter().any(|n| n == on) && !p.meta.deleting {
            let _ = ctx
                .store
                .delete(res("pods"), ns, &p.meta.name, &DeleteOptions::default());
        }
    }
    // Rolling update: replace one outdated pod when all pods are available.
    let pods = owned_pods(ctx.store, ns, &uid);
    let active: Vec<_> = pods.iter().filter(|p| is_active(&p.meta)).collect();
    let rolling = str_at(&ds, &["spec", "updateStrategy", "type"]) != "OnDelete";
    if rolling
        && active.iter().all(|p| is_ready(&p.meta))
        && pods.iter().all(|p| !p.meta.deleting)
        && let Some(old) = active
            .iter()
            .find(|p| p.meta.label("controller-revision-hash") != Some(hash.as_str()))
    {
        let _ = ctx
            .store
            .delete(res("pods"), ns, &old.meta.name, &DeleteOptions::default());
    }
    let desired = eligible_nodes.len();
    let current = active.len();
    let ready = active.iter().filter(|p| is_ready(&p.meta)).count();
    let updated = active
        .iter()
        .filter(|p| p.meta.label("controller-revision-hash") == Some(hash.as_str()))
        .count();
    let mut new = ds.clone();
    new["status"] = json!({
        "observedGeneration": ds["metadata"]["generation"],
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": current,
        "numberReady": ready,
        "numberAvailable": ready,
        "numberUnavailable": desired.saturating_sub(ready),
        "updatedNumberScheduled": updated,
        "numberMisscheduled": 0,
    });
    if new["status"]["numberUnavailable"] == 0
        && let Some(o) = new["status"].as_object_mut()
    {
        o.remove("numberUnavailable");
    }
    if new != ds {
        let _ = ctx.store.update(ds_r, new, UpdateMode::Raw, true);
    }
}
