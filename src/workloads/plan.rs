//! What a restart plan says about each workload, shared by `oncall restart`
//! and the runbook `restart` action.

use super::Kind;
use super::inspect::Facts;
use crate::safety::Plan;

/// Adds a rolling restart of each workload to `plan`: its replicas,
/// strategy, PDB, health and outage risk; OnDelete and empty workloads are
/// skipped with the reason.
pub(crate) fn restart_changes(plan: &mut Plan, facts: &[Facts]) {
    for f in facts {
        let target = f.workload.to_string();
        if let Some(why) = &f.no_restart {
            plan.skip(target, why.clone());
            continue;
        }
        let outage = match &f.outage {
            Some(_) => "OUTAGE",
            None => "no outage",
        };
        plan.change(
            target.clone(),
            "restart",
            format!(
                "{} replicas, {}, {}, {}, {outage}",
                f.replicas,
                f.strategy,
                f.pdb_text(),
                f.health()
            ),
        );
        if let Some(o) = &f.outage {
            plan.warn(format!("{target}: the restart causes an outage: {o}"));
        }
        if !f.broken.is_empty() {
            plan.warn(format!(
                "{target} has {} broken pod(s) now ({}); if its template is at fault the new pods will fail too, and the wait stops as soon as they do",
                f.broken.len(),
                f.health()
            ));
        }
    }
}

/// Adds the eviction of each replaceable broken pod to `plan`; broken pods
/// a new pod would not fix, and healthy pods, are skipped with the reason.
pub(crate) fn bad_pod_changes(plan: &mut Plan, facts: &[Facts]) {
    for f in facts {
        let target = f.workload.to_string();
        let mut evicting = 0;
        for b in &f.broken {
            let where_ = b
                .node
                .as_deref()
                .map(|n| format!(" on {n}"))
                .unwrap_or_default();
            if b.problem.reason.replaceable() {
                evicting += 1;
                plan.change(
                    format!("pod/{}", b.name),
                    "evict",
                    format!(
                        "{target}: {}{where_}: {}",
                        b.problem.reason, b.problem.message
                    ),
                );
                if b.problem.reason == super::pods::Reason::Unknown
                    && f.workload.kind == Kind::StatefulSet
                {
                    plan.warn(format!(
                        "pod/{} is on a node that stopped reporting: it stays Terminating, and its StatefulSet cannot recreate it, until the node is gone or you force-delete it (`{}`) once you are sure the node is down",
                        b.name,
                        crate::suggest::kubectl(&format!(
                            "delete pod {} -n {} --force",
                            b.name, f.workload.namespace
                        ))
                    ));
                }
            } else {
                plan.skip(
                    format!("pod/{}", b.name),
                    format!(
                        "{}: a new pod would fail the same way: {}",
                        b.problem.reason, b.problem.message
                    ),
                );
            }
        }
        if !f.healthy.is_empty() {
            plan.skip(
                format!("{target}: {} pod(s)", f.healthy.len()),
                "healthy: left alone",
            );
        }
        if evicting > 0
            && let Some(p) = &f.pdb
            && p.disruptions_allowed == 0
        {
            plan.warn(format!(
                "{target}: PDB {} allows no disruption now; the API server may refuse some evictions",
                p.name
            ));
        }
    }
}
