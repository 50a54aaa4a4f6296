//! The plans of `node cordon`, `drain`, `replace` and `rotate`, and the
//! steps around a drain (cordon first, scale up, restore), shared by the
//! commands and the runbook actions.

use super::check::{self, CheckReport};
use super::cordon;
use super::decide::{Action, DrainOptions};
use super::drain::{NodeDrain, NodeStatus};
use super::scale::{self, Scalable};
use super::{LeanNode, targets};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::safety::Plan;

/// The pre-flight of `nodes` against the whole cluster, drained `together`
/// at a time (all at once for a drain, a batch at a time for a rotation).
pub(crate) async fn run_check(
    cluster: &Cluster,
    nodes: &[LeanNode],
    opts: &DrainOptions,
    together: usize,
) -> Result<CheckReport> {
    let all = targets::list(cluster, None).await?;
    check::check(cluster, nodes, &all, opts, together).await
}

/// Adds a cordon to a plan; returns the names of the nodes to cordon
/// (those already cordoned are skipped, naming who did it).
pub(crate) fn plan_cordon(
    plan: &mut Plan,
    nodes: &[LeanNode],
    user: &str,
    reason: Option<&str>,
) -> Vec<String> {
    let mut todo = Vec::new();
    for n in nodes {
        if n.is_cordoned() {
            let who = cordon::note(n)
                .map(|c| c.describe())
                .unwrap_or_else(|| "by another tool or by hand".into());
            plan.skip(
                format!("node/{}", n.name()),
                format!("already cordoned {who}"),
            );
        } else {
            let detail = match reason {
                Some(r) => format!("by {user}: {r}"),
                None => format!("by {user}"),
            };
            plan.change(format!("node/{}", n.name()), "cordon", detail);
            todo.push(n.name().to_string());
        }
    }
    todo
}

/// Adds a drain's pods to a plan, and returns the refusals that stop it.
pub(crate) fn plan_drain(
    plan: &mut Plan,
    report: &CheckReport,
    opts: &DrainOptions,
) -> Vec<String> {
    let mut refused = Vec::new();
    for n in &report.nodes {
        if !n.cordoned {
            plan.change(format!("node/{}", n.node), "cordon", "before the drain");
        }
        for p in &n.pods {
            let target = format!("pod/{}", p.key());
            match p.action {
                Action::Evict | Action::Delete => {
                    let verb = if p.action == Action::Evict {
                        "evict"
                    } else {
                        "delete"
                    };
                    let mut detail = format!("from {}", n.node);
                    if !p.reason.is_empty() {
                        detail.push_str(&format!("; {}", p.reason));
                    }
                    plan.change(target, verb, detail);
                }
                Action::Skip => plan.skip(target, &p.reason),
                Action::Refuse => refused.push(format!("`{}` {}", p.key(), p.reason)),
            }
        }
        for b in &n.blockers {
            if !b.kind.stops_drain() {
                plan.warn(format!("{}: {} ({})", n.node, b.message, b.fix));
            }
        }
    }
    if opts.disable_eviction {
        plan.warn("--disable-eviction deletes pods directly: PodDisruptionBudgets are bypassed");
    }
    refused
}

/// The error for refusals found by `plan_drain`.
pub(crate) fn refusal_error(refused: &[String]) -> Error {
    Error::DrainRefused {
        blockers: refused.to_vec(),
    }
}

/// Cordons every node not yet cordoned; returns the nodes, marked cordoned.
pub(crate) async fn cordon_all(
    cluster: &Cluster,
    nodes: &[LeanNode],
    user: &str,
    why: &str,
) -> Result<Vec<LeanNode>> {
    let mut out = Vec::new();
    for n in nodes {
        if !n.is_cordoned() {
            cordon::cordon(cluster, n.name(), user, Some(why)).await?;
        }
        let mut n = n.clone();
        n.spec.unschedulable = Some(true);
        out.push(n);
    }
    Ok(out)
}

/// With `--scale-up`: the workloads to give one more replica, added to the plan.
pub(crate) async fn plan_scale_ups(
    cluster: &Cluster,
    report: &CheckReport,
    plan: &mut Plan,
) -> Result<Vec<Scalable>> {
    let mut out: Vec<Scalable> = Vec::new();
    for n in &report.nodes {
        for o in &n.scale_up {
            let w = scale::resolve(cluster, o).await?;
            if out.iter().any(|x| x.target() == w.target()) {
                continue;
            }
            let detail = if w.scaled_by_another_run {
                format!(
                    "already {} → {} replicas by another run; back to {} after",
                    w.replicas,
                    w.replicas + 1,
                    w.replicas
                )
            } else {
                format!(
                    "{} → {} replicas before the drain (all ready replicas are on {}); restored after",
                    w.replicas,
                    w.replicas + 1,
                    n.node
                )
            };
            plan.change(w.target(), "scale", detail);
            out.push(w);
        }
    }
    Ok(out)
}

/// Adds the replicas and waits until each workload has them ready.
pub(crate) async fn scale_up(
    cluster: &Cluster,
    ws: &mut [Scalable],
    opts: &DrainOptions,
) -> Result<()> {
    let timeout = if opts.timeout.is_zero() {
        std::time::Duration::from_secs(300)
    } else {
        opts.timeout
    };
    for w in ws.iter_mut() {
        scale::add_replica(cluster, w).await?;
    }
    for w in ws.iter() {
        scale::wait_ready(cluster, w, w.replicas + 1, timeout).await?;
    }
    Ok(())
}

/// Puts the original replica counts back (a run that found another run's
/// replica restores it too: the drain it was for is over or is this one).
pub(crate) async fn restore(cluster: &Cluster, ws: &[Scalable]) -> Result<()> {
    for w in ws {
        scale::restore_replicas(cluster, w).await?;
    }
    Ok(())
}

/// The error for the drains that did not finish (none: `Ok`).
pub(crate) fn drain_error(failed: &[&NodeDrain]) -> Result<()> {
    let Some(first) = failed.first() else {
        return Ok(());
    };
    let names: Vec<&str> = failed.iter().map(|r| r.node.as_str()).collect();
    // Only what was cordoned stays so: a cordon that failed changed nothing.
    let cordoned: Vec<&str> = failed
        .iter()
        .filter(|r| r.cordoned)
        .map(|r| r.node.as_str())
        .collect();
    let stays = if cordoned.is_empty() {
        "nothing was changed".to_string()
    } else {
        format!(
            "{} stay(s) cordoned; run `{}` to make them schedulable again",
            cordoned.join(", "),
            crate::suggest::oncall(&format!("node uncordon {}", cordoned.join(" ")))
        )
    };
    let what = first.message.clone().unwrap_or_default();
    Err(match first.status {
        NodeStatus::TimedOut => Error::TimedOut {
            after: what.trim_start_matches("timed out after ").to_string(),
            what: format!("draining {}; {stays}", first.node),
        },
        NodeStatus::Interrupted => Error::Interrupted {
            done: vec!["see the summary above".into()],
            not_done: names.iter().map(|n| format!("draining {n}")).collect(),
            next: Some(stays),
        },
        _ => match &first.refused {
            Some(refusal) => Error::ClusterRefused(format!("{refusal}; {stays}")),
            None => Error::DrainFailed {
                node: first.node.clone(),
                reason: what,
                stays,
            },
        },
    })
}

/// The drains that did not finish.
pub(crate) fn failed(results: &[NodeDrain]) -> Vec<&NodeDrain> {
    results
        .iter()
        .filter(|r| r.status != NodeStatus::Drained)
        .collect()
}
