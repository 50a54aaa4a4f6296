//! `node replace` and `node rotate` as one procedure: cordon every node
//! first, then drain, terminate and wait for replacements, a batch at a
//! time. Shared by the commands and the runbook actions; reports progress
//! through drain events and never prints.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use super::check::CheckReport;
use super::decide::DrainOptions;
use super::drain::{self, Event, NodeDrain};
use super::plan::{self, cordon_all, drain_error, plan_drain, refusal_error};
use super::replace::{self, Terminate};
use super::scale::{self, Scalable};
use super::{LeanNode, targets};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::safety::{Audited, OpCtx, Plan, audit};

/// What happened to one node of a replace or rotate.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Replaced {
    pub node: String,
    pub drain: NodeDrain,
    pub terminated: bool,
    /// The new node that took its place.
    pub replacement: Option<String>,
}

impl Replaced {
    /// What became of the node, in words.
    pub(crate) fn describe(&self) -> String {
        match (&self.replacement, self.terminated) {
            (Some(new), _) => format!("replaced by node/{new}"),
            (None, true) => "terminated".into(),
            (None, false) => "drained; left to the cloud's rebuild".into(),
        }
    }
}

/// One replace or rotate, resolved and planned.
pub(crate) struct Job {
    /// `replace` or `rotate` (recorded in the cordon note).
    pub verb: String,
    pub nodes: Vec<LeanNode>,
    /// Nodes drained and replaced at once.
    pub batch: usize,
    pub how: Terminate,
    pub opts: DrainOptions,
    pub wait_replacement: Duration,
    /// The pre-flight the plan was made from.
    pub report: CheckReport,
    /// Workloads given one more replica first (`--scale-up`).
    pub scale: Vec<Scalable>,
}

/// How many ready replicas a workload must have again after the drain: as
/// many as it had before it, so that a workload the drain did not break is
/// not waited for (that would fail the job after the node was already
/// replaced), and one it did break is, even if it was degraded already
/// (rotating on would take its last ready pods). None: none was ready.
pub(crate) fn ready_again(before: &Scalable) -> Option<i64> {
    (before.ready > 0).then_some(before.ready.min(before.replicas))
}

/// The line said of a workload that was already unhealthy before the drain.
pub(crate) fn not_waited_for(w: &Scalable) -> String {
    let waited = match ready_again(w) {
        Some(n) => format!("waited only for {n} ready again"),
        None => "not waited for".into(),
    };
    format!(
        "`{}` was already unhealthy before the drain ({} of {} ready); {waited}",
        w.target(),
        w.ready,
        w.replicas
    )
}

/// How an applied job ended: the nodes done, the drains of a batch that
/// failed (for the summary), the workloads not waited for, and the result.
pub(crate) struct Outcome {
    pub replaced: Vec<Replaced>,
    pub failed_drains: Vec<NodeDrain>,
    /// Workloads that were already unhealthy before their node's drain, so
    /// their readiness afterwards was not waited for.
    pub unhealthy: Vec<Scalable>,
    pub result: Result<()>,
}

/// The audit log's outcome, the same for the command and the runbook: the
/// nodes done.
impl Audited for Outcome {
    fn audit(&self) -> audit::Outcome {
        let mut record = match &self.result {
            Ok(()) => audit::Outcome::ok(format!("{} node(s) done", self.replaced.len())),
            Err(e) => audit::Outcome::from_error(e),
        };
        record.done = self.replaced.iter().map(|r| r.node.clone()).collect();
        record
    }
}

/// How nodes are terminated: an explicit command, `delete_node`, or the
/// cluster's configured command, in that order.
pub(crate) fn terminate_method(
    explicit: Option<Terminate>,
    delete_node: bool,
    configured: Option<Vec<String>>,
    context: &str,
) -> Result<Terminate> {
    if let Some(t) = explicit {
        return Ok(t);
    }
    if delete_node {
        return Ok(Terminate::DeleteNode);
    }
    if let Some(template) = configured.filter(|t| !t.is_empty()) {
        return Ok(Terminate::Command { template });
    }
    Err(Error::NoTerminateWay {
        context: context.into(),
    })
}

fn pool_of(node: &LeanNode) -> Result<(&'static str, String)> {
    node.pool()
        .map(|(l, v)| (l, v.to_string()))
        .ok_or_else(|| Error::NoPoolLabel {
            node: node.name().to_string(),
        })
}

/// Checks the nodes and builds the job and its plan (drain, terminate,
/// wait, scale-ups). Refuses, changing nothing, when the drain would.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn prepare(
    cluster: &Cluster,
    verb: &str,
    nodes: Vec<LeanNode>,
    batch: usize,
    how: Terminate,
    opts: DrainOptions,
    wait_replacement: Duration,
) -> Result<(Job, Plan)> {
    let batch = batch.max(1);
    let report = plan::run_check(cluster, &nodes, &opts, batch).await?;
    let mut plan = Plan::new(
        format!("{verb} {} node(s), {batch} at a time", nodes.len()),
        cluster,
    );
    let refused = plan_drain(&mut plan, &report, &opts);
    if !refused.is_empty() {
        return Err(refusal_error(&refused));
    }
    for n in &nodes {
        plan.change(format!("node/{}", n.name()), "terminate", how.describe(n)?);
        if !matches!(how, Terminate::Nothing) {
            let (_, pool) = pool_of(n)?;
            plan.change(
                format!("pool/{pool}"),
                "wait",
                format!(
                    "for a new Ready node to replace {} (up to {})",
                    n.name(),
                    humantime::format_duration(wait_replacement)
                ),
            );
        }
    }
    let scale = plan::plan_scale_ups(cluster, &report, &mut plan).await?;
    let job = Job {
        verb: verb.to_string(),
        nodes,
        batch,
        how,
        opts,
        wait_replacement,
        report,
        scale,
    };
    Ok((job, plan))
}

/// Runs the job. Scaled-up workloads are restored whatever happens.
pub(crate) async fn run(cluster: &Cluster, job: &Job, ctx: &OpCtx<'_, Event>) -> Outcome {
    let mut replaced: Vec<Replaced> = Vec::new();
    let mut failed_drains = Vec::new();
    let mut unhealthy = Vec::new();
    let result = steps(
        cluster,
        job,
        ctx,
        &mut replaced,
        &mut failed_drains,
        &mut unhealthy,
    )
    .await;
    let restored = plan::restore(cluster, &job.scale).await;
    Outcome {
        replaced,
        failed_drains,
        unhealthy,
        result: result.and(restored),
    }
}

async fn steps(
    cluster: &Cluster,
    job: &Job,
    ctx: &OpCtx<'_, Event>,
    results: &mut Vec<Replaced>,
    failed_drains: &mut Vec<NodeDrain>,
    unhealthy: &mut Vec<Scalable>,
) -> Result<()> {
    let verb = job.verb.as_str();
    // Every node that exists now is old: a replacement is a node that joins later.
    let mut old: HashSet<String> = job.nodes.iter().map(|n| n.name().to_string()).collect();
    old.extend(
        targets::list(cluster, None)
            .await?
            .iter()
            .map(|n| n.name().to_string()),
    );
    let claimed = Mutex::new(HashSet::new());
    // New pods must land elsewhere from the start: cordon everything first.
    let cordoned = cordon_all(cluster, &job.nodes, ctx.user, verb).await?;
    plan::scale_up(cluster, &mut job.scale.clone(), &job.opts).await?;
    for chunk in cordoned.chunks(job.batch) {
        if ctx.cancel.is_cancelled() {
            return Err(interrupted(results, &cordoned, None));
        }
        let since = Utc::now();
        // Each workload's readiness before the drain: afterwards, only what
        // the drain made unready is waited for.
        let mut before = Vec::new();
        for n in chunk {
            before.extend(evicted_workloads(cluster, &job.report, n.name()).await?);
        }
        let drains = drain::drain_all(cluster, chunk, &job.opts, job.batch, verb, ctx).await;
        if !plan::failed(&drains).is_empty() {
            let err = drain_error(&plan::failed(&drains));
            *failed_drains = drains;
            return err;
        }
        for (n, d) in chunk.iter().zip(drains) {
            replace::terminate(cluster, n, &job.how).await?;
            results.push(Replaced {
                node: n.name().to_string(),
                drain: d,
                terminated: !matches!(job.how, Terminate::Nothing),
                replacement: None,
            });
        }
        if matches!(job.how, Terminate::Nothing) {
            continue;
        }
        let names: Vec<&str> = chunk.iter().map(|n| n.name()).collect();
        ctx.emit(Event::Waiting {
            what: format!("a new Ready node to replace {}", names.join(", ")),
        });
        let waits = chunk.iter().map(|n| async {
            let (label, pool) = pool_of(n)?;
            replace::wait_replacement(
                cluster,
                (label, &pool),
                since,
                &old,
                &claimed,
                job.wait_replacement,
            )
            .await
        });
        // A wait changes nothing, so a stop signal ends it at once: the
        // signal's sender (systemd, CI) will not wait minutes for a node.
        let found = tokio::select! {
            found = futures::future::join_all(waits) => found,
            _ = ctx.cancel.cancelled() => {
                let what = format!("the wait for a new node to replace {}", names.join(", "));
                return Err(interrupted(results, &cordoned, Some(what)));
            }
        };
        let start = results.len() - chunk.len();
        for (i, f) in found.into_iter().enumerate() {
            results[start + i].replacement = Some(f?);
        }
        for r in &results[start..] {
            ctx.emit(Event::Replaced {
                node: r.node.clone(),
                by: r.replacement.clone().unwrap_or_else(|| "?".into()),
            });
        }
        // The batch is done when what it evicted is as ready as before the
        // drain (`ready_again`). A workload that was already unhealthy is
        // reported too.
        for w in before {
            let Some(want) = ready_again(&w) else {
                unhealthy.push(w);
                continue;
            };
            if want < w.replicas {
                unhealthy.push(w.clone());
            }
            ctx.emit(Event::Waiting {
                what: format!("`{}` to be ready again", w.target()),
            });
            tokio::select! {
                ready = scale::wait_ready(cluster, &w, want, job.wait_replacement) => ready?,
                _ = ctx.cancel.cancelled() => {
                    let what = format!("the wait for `{}` to be ready again", w.target());
                    return Err(interrupted(results, &cordoned, Some(what)));
                }
            }
        }
    }
    Ok(())
}

/// A replace or rotate stopped by a signal: the nodes done (terminated,
/// whether or not a replacement was seen), the wait cut short, and the
/// cordoned nodes not reached.
fn interrupted(results: &[Replaced], cordoned: &[LeanNode], waiting: Option<String>) -> Error {
    let done = results
        .iter()
        .map(|r| format!("node/{} {}", r.node, r.describe()))
        .collect();
    let rest = &cordoned[results.len().min(cordoned.len())..];
    let not_done = waiting
        .into_iter()
        .chain(rest.iter().map(|n| format!("node/{}", n.name())))
        .collect();
    Error::Interrupted {
        done,
        not_done,
        next: (!rest.is_empty()).then(|| "the nodes not done stay cordoned".into()),
    }
}

/// The workloads (with their readiness now) that have pods the drain of
/// `node` removes.
async fn evicted_workloads(
    cluster: &Cluster,
    report: &CheckReport,
    node: &str,
) -> Result<Vec<Scalable>> {
    let Some(check) = report.nodes.iter().find(|n| n.node == node) else {
        return Ok(Vec::new());
    };
    let mut seen = HashSet::new();
    let mut workloads = Vec::new();
    for p in &check.pods {
        let Some(owner) = p.owner.as_deref() else {
            continue;
        };
        if !p.action_removes()
            || !(owner.starts_with("ReplicaSet/") || owner.starts_with("StatefulSet/"))
            || !seen.insert((p.namespace.clone(), owner.to_string()))
        {
            continue;
        }
        workloads.push(scale::resolve_owner(cluster, &p.namespace, owner).await?);
    }
    Ok(workloads)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(ready: i64, replicas: i64) -> Scalable {
        Scalable {
            namespace: "app".into(),
            resource: "deployments".into(),
            name: "web".into(),
            replicas,
            ready,
            recreate: false,
            scaled_by_another_run: false,
            resource_version: None,
        }
    }

    /// A degraded workload whose ready pods the drain evicts is waited for
    /// until it is as ready as before: rotating on at once would take its
    /// last ready pods too.
    #[test]
    fn what_the_drain_made_unready_is_waited_for_and_no_more() {
        assert_eq!(ready_again(&web(3, 3)), Some(3));
        assert_eq!(ready_again(&web(2, 3)), Some(2));
        assert_eq!(ready_again(&web(0, 1)), None);
        assert_eq!(
            not_waited_for(&web(2, 3)),
            "`app/deployment/web` was already unhealthy before the drain (2 of 3 ready); waited only for 2 ready again"
        );
        assert_eq!(
            not_waited_for(&web(0, 1)),
            "`app/deployment/web` was already unhealthy before the drain (0 of 1 ready); not waited for"
        );
    }
}
