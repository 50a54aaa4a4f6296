//! The scheduler: binds pending pods to nodes that are schedulable, Ready,
//! whose taints the pod tolerates, that match its node selector/affinity,
//! and that have pod capacity left. As in kube-scheduler's default scoring,
//! the node the pod's preferred node affinity weighs most wins, then the one
//! with fewest pods of the same owner (the default topology spread), then
//! the least-loaded.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::podutil::{self, node_matches, node_ready, tolerates};
use super::{Ctx, State, obj_key};
use crate::store::{UpdateMode, res};
use crate::util::str_at;

const COMPONENT: &str = "default-scheduler";

pub(super) fn run(ctx: &Ctx, st: &mut State, dirty_pods: &[(String, String)]) {
    let pods_r = res("pods");
    // Candidates: dirty pods without a node, or every pending pod when
    // something that frees capacity happened.
    let mut pending: Vec<(String, String)> = if st.schedule_all {
        ctx.store
            .scan(pods_r, None, |m| {
                m.field("spec.nodeName").is_empty() && !m.deleting
            })
            .iter()
            .map(|s| (s.meta.namespace.clone(), s.meta.name.clone()))
            .collect()
    } else {
        dirty_pods.to_vec()
    };
    st.schedule_all = false;
    pending.retain(|(ns, n)| {
        ctx.store
            .get(pods_r, ns, n)
            .is_some_and(|s| s.meta.field("spec.nodeName").is_empty() && !s.meta.deleting)
    });
    if pending.is_empty() {
        return;
    }
    let nodes: Vec<Value> = ctx
        .store
        .scan(res("nodes"), None, |_| true)
        .iter()
        .map(|s| s.value())
        .collect();
    let mut load: HashMap<String, i64> = HashMap::new();
    // Pods per (node, owner uid): replicas spread over the nodes they prefer.
    let mut siblings: HashMap<(String, String), i64> = HashMap::new();
    for s in ctx.store.scan(pods_r, None, |m| {
        !m.field("spec.nodeName").is_empty() && podutil::is_active(m)
    }) {
        let node = s.meta.field("spec.nodeName").to_string();
        if let Some((_, _, uid)) = &s.meta.owner {
            *siblings.entry((node.clone(), uid.clone())).or_default() += 1;
        }
        *load.entry(node).or_default() += 1;
    }
    for (ns, name) in pending {
        let Some(mut pod) = ctx.store.get_value(pods_r, &ns, &name) else {
            continue;
        };
        if str_at(&pod, &["spec", "schedulerName"]) != COMPONENT
            && !str_at(&pod, &["spec", "schedulerName"]).is_empty()
        {
            continue;
        }
        let owner = pod["metadata"]["ownerReferences"][0]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut reasons: HashMap<&str, usize> = HashMap::new();
        let mut best: Option<((i64, i64, i64), String)> = None;
        for node in &nodes {
            let nname = str_at(node, &["metadata", "name"]).to_string();
            let why = unfit(node, &pod, *load.get(&nname).unwrap_or(&0));
            match why {
                Some(w) => *reasons.entry(w).or_default() += 1,
                None => {
                    // Lower is better: preference first, then spread, then load.
                    let score = (
                        -podutil::preference(&pod["spec"], node),
                        *siblings.get(&(nname.clone(), owner.clone())).unwrap_or(&0),
                        *load.get(&nname).unwrap_or(&0),
                    );
                    if best
                        .as_ref()
                        .is_none_or(|(bs, bn)| score < *bs || (score == *bs && nname < *bn))
                    {
                        best = Some((score, nname));
                    }
                }
            }
        }
        match best {
            Some((_, node)) => {
                pod["spec"]["nodeName"] = json!(node);
                podutil::set_condition(&mut pod["status"], "PodScheduled", "True", "", "");
                if ctx
                    .store
                    .update(pods_r, pod.clone(), UpdateMode::Raw, true)
                    .is_ok()
                {
                    *load.entry(node.clone()).or_default() += 1;
                    if !owner.is_empty() {
                        *siblings.entry((node.clone(), owner.clone())).or_default() += 1;
                    }
                    st.recorder.record(
                        ctx.store,
                        &pod,
                        "Normal",
                        "Scheduled",
                        &format!("Successfully assigned {ns}/{name} to {node}"),
                        COMPONENT,
                    );
                    st.dirty.insert(obj_key("pods", &ns, &name));
                }
            }
            None => {
                let mut parts: Vec<String> =
                    reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
                parts.sort();
                let total = nodes.len();
                let msg = format!(
                    "0/{total} nodes are available: {}. no new claims to deallocate, preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling.",
                    parts.join(", ")
                );
                let before = pod["status"].clone();
                podutil::set_condition(
                    &mut pod["status"],
                    "PodScheduled",
                    "False",
                    "Unschedulable",
                    &msg,
                );
                if before != pod["status"] {
                    let _ = ctx.store.update(pods_r, pod.clone(), UpdateMode::Raw, true);
                    st.recorder.record(
                        ctx.store,
                        &pod,
                        "Warning",
                        "FailedScheduling",
                        &msg,
                        COMPONENT,
                    );
                }
                // Retry later even without cluster changes, like the scheduler's backoff queue.
                st.wake_in(Duration::from_secs(5), obj_key("pods", &ns, &name));
            }
        }
    }
}

/// Why `pod` cannot go to `node` (which holds `load` pods), as the
/// scheduler's filters word it; `None` when it fits.
fn unfit(node: &Value, pod: &Value, load: i64) -> Option<&'static str> {
    if node["spec"]["unschedulable"].as_bool() == Some(true) {
        Some("node(s) were unschedulable")
    } else if !node_ready(node) {
        Some("node(s) had untolerated taint {node.kubernetes.io/not-ready: }")
    } else if let Some(t) = node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| {
            matches!(str_at(t, &["effect"]), "NoSchedule" | "NoExecute")
                && !tolerates(&pod["spec"]["tolerations"], t)
        })
    {
        let _ = t;
        Some("node(s) had untolerated taint(s)")
    } else if !node_matches(&pod["spec"], node) {
        Some("node(s) didn't match Pod's node affinity/selector")
    } else {
        let cap = node["status"]["allocatable"]["pods"]
            .as_str()
            .and_then(|p| p.parse::<i64>().ok())
            .or_else(|| node["status"]["allocatable"]["pods"].as_i64())
            .unwrap_or(110);
        if load >= cap {
            Some("Too many pods")
        } else {
            None
        }
    }
}
