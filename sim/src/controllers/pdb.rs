//! PodDisruptionBudget status controller (the disruption controller).

use std::collections::HashSet;

use serde_json::{Value, json};

use super::podutil;
use super::{Ctx, State};
use crate::selectors::LabelSelector;
use crate::store::{UpdateMode, res};
use crate::util::{self, int_or_percent};

/// The replicas the owning controllers want (for percentages and maxUnavailable).
fn expected_from_controllers(ctx: &Ctx, ns: &str, owners: &HashSet<(String, String)>) -> i64 {
    let mut total = 0;
    let mut seen = HashSet::new();
    for (kind, name) in owners {
        let (plural, name) = match kind.as_str() {
            "ReplicaSet" => {
                // A ReplicaSet owned by a Deployment counts the Deployment's scale.
                let rs = ctx.store.get(res("replicasets"), ns, name);
                match rs.as_ref().and_then(|r| r.meta.owner.clone()) {
                    Some((k, n, _)) if k == "Deployment" => ("deployments", n),
                    _ => ("replicasets", name.clone()),
                }
            }
            "StatefulSet" => ("statefulsets", name.clone()),
            _ => continue,
        };
        if !seen.insert((plural, name.clone())) {
            continue;
        }
        if let Some(v) = ctx.store.get_value(res(plural), ns, &name) {
            total += v["spec"]["replicas"].as_i64().unwrap_or(1);
        }
    }
    total
}

pub(super) fn reconcile(ctx: &Ctx, _st: &mut State, ns: &str, name: &str) {
    let pdbs = res("poddisruptionbudgets");
    let Some(pdb) = ctx.store.get_value(pdbs, ns, name) else {
        return;
    };
    let sel = &pdb["spec"]["selector"];
    let selector = LabelSelector::from_object(sel);
    let pods = if sel.is_null() {
        vec![]
    } else {
        ctx.store
            .scan(res("pods"), Some(ns), |m| selector.matches_pairs(&m.labels))
    };
    let now = util::now();
    let mut disrupted = pdb["status"]["disruptedPods"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    disrupted.retain(|pod, t| {
        let recent = util::parse_ts(t.as_str().unwrap_or(""))
            .is_some_and(|t| now - t < chrono::Duration::minutes(2));
        recent && pods.iter().any(|p| p.meta.name == *pod && !p.meta.deleting)
    });
    let current_healthy = pods
        .iter()
        .filter(|p| podutil::is_ready(&p.meta) && !disrupted.contains_key(&p.meta.name))
        .count() as i64;
    let owners: HashSet<(String, String)> = pods
        .iter()
        .filter_map(|p| {
            p.meta
                .owner
                .as_ref()
                .map(|(k, n, _)| (k.clone(), n.clone()))
        })
        .collect();
    let min_av = &pdb["spec"]["minAvailable"];
    let max_un = &pdb["spec"]["maxUnavailable"];
    let (expected, desired) = if let Some(n) = min_av.as_i64() {
        (pods.iter().filter(|p| !p.meta.deleting).count() as i64, n)
    } else if min_av.is_string() {
        let e = expected_from_controllers(ctx, ns, &owners);
        (e, int_or_percent(Some(min_av), e, "0", true))
    } else if !max_un.is_null() {
        let e = expected_from_controllers(ctx, ns, &owners);
        (e, (e - int_or_percent(Some(max_un), e, "0", true)).max(0))
    } else {
        let e = pods.len() as i64;
        (e, e)
    };
    let allowed = (current_healthy - desired).max(0);
    let mut new = pdb.clone();
    let s = &mut new["status"];
    s["observedGeneration"] = pdb["metadata"]["generation"].clone();
    s["currentHealthy"] = json!(current_healthy);
    s["desiredHealthy"] = json!(desired);
    s["expectedPods"] = json!(expected);
    s["disruptionsAllowed"] = json!(allowed);
    if disrupted.is_empty() {
        if let Some(o) = s.as_object_mut() {
            o.remove("disruptedPods");
        }
    } else {
        s["disruptedPods"] = Value::Object(disrupted);
    }
    if allowed > 0 {
        podutil::set_condition(s, "DisruptionAllowed", "True", "SufficientPods", "");
    } else {
        podutil::set_condition(s, "DisruptionAllowed", "False", "InsufficientPods", "");
    }
    if let Some(c) = s["conditions"].as_array_mut() {
        for c in c {
            if let Some(o) = c.as_object_mut() {
                o.remove("lastProbeTime");
                o.entry("message").or_insert(json!(""));
                o.insert(
                    "observedGeneration".into(),
                    pdb["metadata"]["generation"].clone(),
                );
            }
        }
    }
    if new != pdb {
        let _ = ctx.store.update(pdbs, new, UpdateMode::Raw, true);
    }
}
