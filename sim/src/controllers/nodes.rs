//! Node lifecycle (taints and pod eviction for NotReady nodes) and the
//! node-pool autoscaler (a deleted node of a pool comes back as a new node).

use std::time::Instant;

use serde_json::{Value, json};

use super::podutil;
use super::{Ctx, State, obj_key};
use crate::knobs::{ANNOTATION_FAULT, Fault, POOL_LABELS};
use crate::store::{DeleteOptions, Stored, UpdateMode, res};
use crate::util::{self, str_at};

const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// Added to a cordoned node by the node lifecycle controller
/// (TaintNodesByCondition), removed when it is uncordoned.
const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

pub(super) fn reconcile(ctx: &Ctx, st: &mut State, name: &str) {
    let nodes = res("nodes");
    let Some(node) = ctx.store.get_value(nodes, "", name) else {
        st.node_not_ready.remove(name);
        st.kubelet_stopped.remove(name);
        return;
    };
    let mut new = node.clone();
    post_kubelet_status(st, name, &mut new);
    let ready = podutil::condition_status(&new["status"], "Ready").to_string();
    let taints = new["spec"]["taints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let old_time = |key: &str, effect: &str| {
        node["spec"]["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["key"] == key && t["effect"] == effect)
            .map(|t| t["timeAdded"].clone())
            .unwrap_or_else(|| json!(util::now_ts()))
    };
    let mut taints: Vec<Value> = taints
        .into_iter()
        .filter(|t| !matches!(str_at(t, &["key"]), UNREACHABLE | NOT_READY | UNSCHEDULABLE))
        .collect();
    if node["spec"]["unschedulable"] == true {
        taints.push(json!({"key": UNSCHEDULABLE, "effect": "NoSchedule", "timeAdded": old_time(UNSCHEDULABLE, "NoSchedule")}));
    }
    let key = match ready.as_str() {
        "True" => None,
        "False" => Some(NOT_READY),
        _ => Some(UNREACHABLE),
    };
    if let Some(k) = key {
        let old_added = old_time(k, "NoExecute");
        taints.push(json!({"key": k, "effect": "NoSchedule"}));
        taints.push(json!({"key": k, "effect": "NoExecute", "timeAdded": old_added}));
    }
    if taints.is_empty() {
        if let Some(o) = new["spec"].as_object_mut() {
            o.remove("taints");
        }
    } else {
        new["spec"]["taints"] = json!(taints);
    }
    if new != node {
        let _ = ctx.store.update(nodes, new, UpdateMode::Raw, true);
    }
    if key.is_none() {
        st.node_not_ready.remove(name);
        ensure_lease(ctx, &node);
        return;
    }
    // The node's pods lose readiness; after the toleration time they are
    // evicted and, with no kubelet to confirm, stay Terminating.
    let since = *st
        .node_not_ready
        .entry(name.to_string())
        .or_insert_with(Instant::now);
    let evict = !st.kubelet.settling && since.elapsed() >= ctx.sh.timing.unreachable_eviction;
    let pods = ctx
        .store
        .scan(res("pods"), None, |m| m.field("spec.nodeName") == name);
    for p in pods {
        let mut pv = p.value();
        mark_pod_not_ready(ctx, st, &mut pv);
        let is_ds = p
            .meta
            .owner
            .as_ref()
            .is_some_and(|(k, _, _)| k == "DaemonSet");
        if evict && !p.meta.deleting && !is_ds {
            let _ = ctx.store.delete(
                res("pods"),
                &p.meta.namespace,
                &p.meta.name,
                &DeleteOptions::default(),
            );
            st.recorder.record(
                ctx.store,
                &pv,
                "Normal",
                "TaintManagerEviction",
                &format!(
                    "Marking for deletion Pod {}/{}",
                    p.meta.namespace, p.meta.name
                ),
                "taint-eviction-controller",
            );
        }
    }
    if !evict {
        st.wake_at(
            since + ctx.sh.timing.unreachable_eviction,
            obj_key("nodes", "", name),
        );
    }
}

/// What the node lifecycle controller does to each pod of a node it finds
/// NotReady or unreachable (`MarkPodsNotReady`): the pod's Ready condition
/// turns False and keeps the reason and message the kubelet gave it (none,
/// for a pod that was Ready); a pod without one is left alone.
pub(super) fn mark_pod_not_ready(ctx: &Ctx, st: &mut State, pod: &mut Value) {
    let conditions = pod["status"]["conditions"].as_array_mut();
    let Some(ready) = conditions
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
    else {
        return;
    };
    if ready["status"] == "False" {
        return;
    }
    ready["status"] = json!("False");
    ready["lastTransitionTime"] = json!(util::now_ts());
    let _ = ctx
        .store
        .update(res("pods"), pod.clone(), UpdateMode::Raw, true);
    st.recorder.record(
        ctx.store,
        pod,
        "Warning",
        "NodeNotReady",
        "Node is not ready",
        "node-controller",
    );
}

/// The conditions a kubelet posts: (type, healthy status, reason, message).
const KUBELET_CONDITIONS: [(&str, &str, &str, &str); 4] = [
    (
        "Ready",
        "True",
        "KubeletReady",
        "kubelet is posting ready status",
    ),
    (
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    (
        "DiskPressure",
        "False",
        "KubeletHasNoDiskPressure",
        "kubelet has no disk pressure",
    ),
    (
        "PIDPressure",
        "False",
        "KubeletHasSufficientPID",
        "kubelet has sufficient PID available",
    ),
];

/// The `kubelet-stopped` fault on a node: its kubelet posts no more status,
/// so its conditions turn Unknown, as the node lifecycle controller writes
/// them when heartbeats stop (the taints follow from Ready). Once the fault
/// is removed the kubelet is back and posts a healthy status, as kwok's
/// node-initialize stage does on the test bed. A node seeded Unknown without
/// the fault is left as it is.
fn post_kubelet_status(st: &mut State, name: &str, node: &mut Value) {
    let stopped = node["metadata"]["annotations"][ANNOTATION_FAULT]
        .as_str()
        .is_some_and(|f| Fault::parse(f) == Ok(Fault::KubeletStopped));
    if stopped {
        st.kubelet_stopped.insert(name.to_string());
    } else if !st.kubelet_stopped.remove(name) {
        return;
    }
    let now = util::now_ts();
    let conditions = node["status"]["conditions"].as_array_mut();
    for c in conditions.into_iter().flatten() {
        let Some(&(_, healthy, reason, message)) =
            KUBELET_CONDITIONS.iter().find(|k| c["type"] == k.0)
        else {
            continue;
        };
        let (status, reason, message) = if stopped {
            (
                "Unknown",
                "NodeStatusUnknown",
                "Kubelet stopped posting node status.",
            )
        } else {
            (healthy, reason, message)
        };
        if c["status"] == status {
            continue;
        }
        c["status"] = json!(status);
        c["reason"] = json!(reason);
        c["message"] = json!(message);
        c["lastTransitionTime"] = json!(now);
        if !stopped {
            c["lastHeartbeatTime"] = json!(now);
        }
    }
}

/// The kubelet's Lease in kube-node-lease (what `kubectl describe node` shows).
fn ensure_lease(ctx: &Ctx, node: &Value) {
    let name = str_at(node, &["metadata", "name"]);
    let leases = res("leases");
    if ctx.store.get(leases, "kube-node-lease", name).is_some() {
        return;
    }
    let _ = ctx.store.create(
        leases,
        json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease",
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node["metadata"]["uid"]}]},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": util::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()},
        }),
    );
}

/// The pool a node belongs to, if any.
fn pool_of(node: &Value) -> Option<(&'static str, String)> {
    POOL_LABELS.iter().find_map(|l| {
        node["metadata"]["labels"][*l]
            .as_str()
            .map(|v| (*l, v.to_string()))
    })
}

pub(super) fn on_node_deleted(ctx: &Ctx, st: &mut State, node: &Stored) {
    let v = node.value();
    if pool_of(&v).is_none() {
        return;
    }
    st.autoscaler
        .push((Instant::now() + ctx.sh.timing.autoscaler_delay, v));
}

/// A fresh node of the same pool: a new name suffix, Ready, schedulable.
pub(super) fn replacement(old: &Value) -> Value {
    let old_name = str_at(old, &["metadata", "name"]);
    let suffix = util::global_rng(|r| r.suffix(4));
    let name = match old_name.rsplit_once('-') {
        Some((base, _)) => format!("{base}-{suffix}"),
        None => format!("{old_name}-{suffix}"),
    };
    let mut n = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": old["metadata"]["labels"],
            "annotations": old["metadata"]["annotations"],
        },
        "spec": {},
        "status": old["status"],
    });
    n["metadata"]["labels"]["kubernetes.io/hostname"] = json!(name);
    if let Some(p) = old["spec"]["providerID"].as_str() {
        let base = p.rsplit_once('/').map(|(b, _)| b).unwrap_or(p);
        n["spec"]["providerID"] = json!(format!("{base}/{name}"));
    }
    // Taints that belong to the pool survive; lifecycle taints do not.
    let taints: Vec<Value> = old["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| !str_at(t, &["key"]).starts_with("node.kubernetes.io/"))
        .cloned()
        .collect();
    if !taints.is_empty() {
        n["spec"]["taints"] = json!(taints);
    }
    if let Some(o) = n["metadata"]["annotations"].as_object_mut() {
        o.remove(ANNOTATION_FAULT);
    }
    let ip = util::global_rng(|r| format!("10.154.{}.{}", r.below(256), 2 + r.below(250)));
    n["status"]["addresses"] = json!([
        {"type": "InternalIP", "address": ip},
        {"type": "Hostname", "address": name},
    ]);
    let now = util::now_ts();
    n["status"]["conditions"] = json!([{
        "type": "Ready", "status": "True", "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
        "lastHeartbeatTime": now, "lastTransitionTime": now,
    }]);
    n
}

pub(super) fn autoscale(ctx: &Ctx, st: &mut State) {
    let now = Instant::now();
    let due: Vec<Value> = st
        .autoscaler
        .iter()
        .filter(|(t, _)| *t <= now)
        .map(|(_, v)| v.clone())
        .collect();
    st.autoscaler.retain(|(t, _)| *t > now);
    for old in due {
        let n = replacement(&old);
        let pool = pool_of(&old).map(|(_, p)| p).unwrap_or_default();
        if let Ok(s) = ctx.store.create(res("nodes"), n) {
            let v = s.value();
            st.recorder.record(
                ctx.store,
                &v,
                "Normal",
                "RegisteredNode",
                &format!(
                    "Node {} event: Registered Node {} in Controller (pool {pool})",
                    s.meta.name, s.meta.name
                ),
                "node-controller",
            );
        }
    }
}
