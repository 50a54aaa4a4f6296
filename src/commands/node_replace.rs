//! `oncall node replace` and `oncall node rotate`.

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::Utc;
use serde::Serialize;

use super::node::{
    cordon_all, drain_error, plan_drain, plan_scale_ups, render_drains, restore, run_check,
    run_drains, scale_up,
};
use crate::app::App;
use crate::cli::{NodeTargets, ReplaceFlags};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::nodes::decide::DrainOptions;
use crate::nodes::drain::{NodeDrain, NodeStatus};
use crate::nodes::replace::{self, Terminate};
use crate::nodes::scale;
use crate::nodes::{LeanNode, targets};
use crate::safety::{self, Answer, Plan, audit};
use crate::ui::{output, style};

/// What happened to one node of a replace or rotate.
#[derive(Debug, Clone, Serialize)]
pub struct Replaced {
    pub node: String,
    pub drain: NodeDrain,
    pub terminated: bool,
    /// The new node that took its place.
    pub replacement: Option<String>,
}

/// How nodes are terminated: `--terminate`, `--delete-node`, or the config.
fn terminate_method(app: &App, cluster: &Cluster, flags: &ReplaceFlags) -> Result<Terminate> {
    if let Some(t) = &flags.terminate {
        return Terminate::from_template(t);
    }
    if flags.delete_node {
        return Ok(Terminate::DeleteNode);
    }
    if let Some(template) = app
        .config
        .clusters
        .get(&cluster.context)
        .and_then(|c| c.terminate.clone())
        .filter(|t| !t.is_empty())
    {
        return Ok(Terminate::Command { template });
    }
    Err(Error::Usage(format!(
        "say how to terminate the nodes: --terminate CMD, --delete-node, or `clusters.{}.terminate` in the config file",
        cluster.context
    )))
}

fn pool_of(node: &LeanNode) -> Result<(&'static str, String)> {
    node.pool().map(|(l, v)| (l, v.to_string())).ok_or_else(|| {
        Error::Usage(format!(
            "node `{}` has no pool label (e.g. cloud.google.com/gke-nodepool), so its replacement cannot be recognised",
            node.name()
        ))
    })
}

fn build_plan(
    action: &str,
    cluster: &Cluster,
    report: &crate::nodes::check::CheckReport,
    opts: &DrainOptions,
    nodes: &[LeanNode],
    how: &Terminate,
    flags: &ReplaceFlags,
) -> Result<Plan> {
    let mut plan = Plan::new(action, cluster);
    let refused = plan_drain(&mut plan, report, opts);
    if !refused.is_empty() {
        return Err(Error::Failed(format!(
            "cannot drain; nothing was changed: {}",
            refused.join("; ")
        )));
    }
    for n in nodes {
        plan.change(format!("node/{}", n.name()), "terminate", how.describe(n));
        if !matches!(how, Terminate::Nothing) {
            let (_, pool) = pool_of(n)?;
            plan.change(
                format!("pool/{pool}"),
                "wait",
                format!(
                    "for a new Ready node to replace {} (up to {})",
                    n.name(),
                    humantime::format_duration(flags.wait_replacement)
                ),
            );
        }
    }
    Ok(plan)
}

pub async fn replace(
    app: &App,
    cluster: &Cluster,
    t: &NodeTargets,
    flags: &ReplaceFlags,
) -> Result<()> {
    let nodes = targets::resolve(cluster, &t.nodes, t.selector.as_deref()).await?;
    let how = terminate_method(app, cluster, flags)?;
    run(app, cluster, "replace", nodes, 1, how, flags).await
}

pub async fn rotate(
    app: &App,
    cluster: &Cluster,
    selector: &str,
    batch: usize,
    no_terminate: bool,
    flags: &ReplaceFlags,
) -> Result<()> {
    let nodes = targets::resolve(cluster, &[], Some(selector)).await?;
    let how = if no_terminate {
        Terminate::Nothing
    } else {
        terminate_method(app, cluster, flags)?
    };
    run(app, cluster, "rotate", nodes, batch.max(1), how, flags).await
}

/// Replace (`batch` 1) and rotate: cordon every node first, then drain,
/// terminate and wait for replacements, `batch` nodes at a time.
async fn run(
    app: &App,
    cluster: &Cluster,
    verb: &str,
    nodes: Vec<LeanNode>,
    batch: usize,
    how: Terminate,
    flags: &ReplaceFlags,
) -> Result<()> {
    let opts = DrainOptions::from(&flags.drain);
    let report = run_check(cluster, &nodes, &opts).await?;
    let mut plan = build_plan(
        &format!("{verb} {} node(s), {batch} at a time", nodes.len()),
        cluster,
        &report,
        &opts,
        &nodes,
        &how,
        flags,
    )?;
    let scale = plan_scale_ups(cluster, &report, &mut plan).await?;
    let answer = safety::approve(app, cluster, &plan)?;
    if !answer.proceeds() {
        return Ok(());
    }
    let user = audit::os_user();
    // Every node that exists now is old: a replacement is a node that joins later.
    let mut old: HashSet<String> = nodes.iter().map(|n| n.name().to_string()).collect();
    old.extend(
        targets::list(cluster, None)
            .await?
            .iter()
            .map(|n| n.name().to_string()),
    );
    let claimed = Mutex::new(HashSet::new());
    let mut results: Vec<Replaced> = Vec::new();
    let outcome = async {
        // New pods must land elsewhere from the start: cordon everything first.
        let cordoned = cordon_all(cluster, &nodes, &user, verb).await?;
        scale_up(cluster, &scale, &opts).await?;
        for chunk in cordoned.chunks(batch) {
            if safety::interrupt::is_interrupted() {
                return Err(Error::Interrupted {
                    done: format!("{} node(s)", results.len()),
                    not_done: "the remaining nodes (they stay cordoned)".into(),
                });
            }
            let since = Utc::now();
            let drains = run_drains(app, cluster, chunk, &opts, batch, verb).await;
            let failed: Vec<&NodeDrain> = drains
                .iter()
                .filter(|d| d.status != NodeStatus::Drained)
                .collect();
            if !failed.is_empty() {
                if !app.global.output.is_structured() {
                    print!("{}", render_drains(&drains));
                }
                drain_error(&failed)?;
            }
            for (n, d) in chunk.iter().zip(drains) {
                replace::terminate(cluster, n, &how).await?;
                results.push(Replaced {
                    node: n.name().to_string(),
                    drain: d,
                    terminated: !matches!(how, Terminate::Nothing),
                    replacement: None,
                });
            }
            if matches!(how, Terminate::Nothing) {
                continue;
            }
            let waits = chunk.iter().map(|n| async {
                let (label, pool) = pool_of(n)?;
                replace::wait_replacement(
                    cluster,
                    (label, &pool),
                    since,
                    &old,
                    &claimed,
                    flags.wait_replacement,
                )
                .await
            });
            let found = futures::future::join_all(waits).await;
            let start = results.len() - chunk.len();
            for (i, f) in found.into_iter().enumerate() {
                results[start + i].replacement = Some(f?);
            }
            for r in &results[start..] {
                app.progress.println(&format!(
                    "node/{} replaced by node/{}",
                    r.node,
                    r.replacement.as_deref().unwrap_or("?")
                ));
            }
            // The batch is done when what it evicted is Ready again.
            for n in chunk {
                wait_workloads(cluster, &report, n.name(), flags.wait_replacement).await?;
            }
        }
        Ok(())
    }
    .await;
    let restored = restore(cluster, &scale).await;
    finish(app, cluster, &plan, answer, &results, outcome.and(restored))
}

/// Waits until every workload that had pods evicted from `node` has all
/// its replicas ready again.
async fn wait_workloads(
    cluster: &Cluster,
    report: &crate::nodes::check::CheckReport,
    node: &str,
    timeout: std::time::Duration,
) -> Result<()> {
    let Some(check) = report.nodes.iter().find(|n| n.node == node) else {
        return Ok(());
    };
    let mut seen = HashSet::new();
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
        let w = scale::resolve_owner(cluster, &p.namespace, owner).await?;
        scale::wait_ready(cluster, &w, w.replicas, timeout).await?;
    }
    Ok(())
}

fn finish(
    app: &App,
    cluster: &Cluster,
    plan: &Plan,
    answer: Answer,
    results: &[Replaced],
    outcome: Result<()>,
) -> Result<()> {
    if app.global.output.is_structured() {
        output::print(app.global.output, &results)?;
    } else {
        for r in results {
            let what = match (&r.replacement, r.terminated) {
                (Some(new), _) => format!("replaced by node/{new}"),
                (None, true) => "terminated".into(),
                (None, false) => "drained; left to the cloud's rebuild".into(),
            };
            println!(
                "node/{} {} ({} pods evicted in {:.1}s)",
                r.node,
                style::good(&what),
                r.drain.count(crate::nodes::drain::PodOutcome::Evicted)
                    + r.drain.count(crate::nodes::drain::PodOutcome::Deleted),
                r.drain.seconds
            );
        }
    }
    let mut record = match &outcome {
        Ok(()) => audit::Outcome::ok(format!("{} node(s) done", results.len())),
        Err(e) => audit::Outcome::from_error(e),
    };
    record.done = results.iter().map(|r| r.node.clone()).collect();
    audit::record(app, cluster, plan, answer, &record)?;
    outcome
}
