//! `restart` and `rollout_status`: thin drivers of `crate::workloads::restart`,
//! the procedure `oncall restart` and `oncall rollout status` drive, without
//! prompts (the engine asks before each mutating step).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value as Json;

use super::dispatch::{arg, as_list, duration, flag};
use super::engine::Run;
use crate::cluster::Cluster;
use crate::error::Result;
use crate::safety::op::ignore;
use crate::safety::{Audited, Cancel, OpCtx, Plan, audit};
use crate::workloads::RolloutOutcome;
use crate::workloads::WorkloadRef;
use crate::workloads::resolve::{ambiguity_error, resolve_with};
use crate::workloads::restart::{self, Event, Options};

/// The step's workloads; an ambiguous name fails the step, listing the
/// candidates (nobody is there to choose).
async fn targets(
    cluster: &Cluster,
    namespace: &str,
    names: &[String],
    selector: Option<&str>,
    command: &str,
) -> Result<Vec<WorkloadRef>> {
    resolve_with(cluster, namespace, names, selector, |name, candidates| {
        Err(ambiguity_error(name, candidates, command))
    })
    .await
}

async fn prepare(cluster: &Cluster, ns: &str, args: &Json) -> Result<(restart::Job, Plan)> {
    let targets = targets(
        cluster,
        ns,
        &as_list(args.get("targets")),
        arg(args, "selector"),
        "restart",
    )
    .await?;
    let options = Options {
        bad_pods: flag(args.get("bad_pods"), "bad_pods")?,
        wait: true,
        timeout: duration(args.get("timeout"), "timeout")?,
    };
    restart::prepare(cluster, &targets, options).await
}

/// Fills a step's plan with what `restart` would change.
pub(super) async fn plan_restart(
    cluster: &Cluster,
    ns: &str,
    args: &Json,
    into: &mut Plan,
) -> Result<()> {
    let (_, plan) = prepare(cluster, ns, args).await?;
    into.changes.extend(plan.changes);
    into.skipped.extend(plan.skipped);
    into.warnings.extend(plan.warnings);
    Ok(())
}

/// Restarts (or evicts the broken pods of) the workloads and waits for
/// their rollouts. Output: `restart -o json`; the step fails as the command
/// does, in its words, and the audit log gets the command's outcome.
pub(super) async fn run_restart(
    run: &Run<'_>,
    cluster: &Cluster,
    ns: &str,
    args: &Json,
) -> Result<(Json, String)> {
    let (job, _) = prepare(cluster, ns, args).await?;
    let user = audit::os_user();
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &ignore::<Event>);
    let mut outcome = restart::run(cluster, &job, &ctx).await;
    run.report_audit(outcome.audit());
    outcome.take_result()?;
    let text = if outcome.done.is_empty() {
        "nothing to restart".to_string()
    } else {
        format!(
            "{}; {}",
            outcome.done.join(", "),
            statuses(&outcome.rollouts)
        )
    };
    Ok((serde_json::to_value(&outcome).unwrap_or_default(), text))
}

/// Waits for one workload's rollout, like `oncall rollout status`.
pub(super) async fn run_rollout_status(
    cluster: &Cluster,
    ns: &str,
    target: &str,
    timeout: Duration,
) -> Result<(Json, String)> {
    let refs = targets(cluster, ns, &[target.to_string()], None, "rollout status").await?;
    let user = audit::os_user();
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &ignore::<Event>);
    let rollouts = restart::follow(cluster, &refs, &HashMap::new(), timeout, &ctx).await?;
    crate::workloads::wait::verdict(&rollouts, timeout)?;
    let output = serde_json::to_value(&rollouts).unwrap_or_default();
    Ok((output, statuses(&rollouts)))
}

/// Each rollout's last status, for the journal.
fn statuses(rollouts: &[RolloutOutcome]) -> String {
    rollouts
        .iter()
        .map(|o| format!("{}: {}", o.workload, o.status))
        .collect::<Vec<_>>()
        .join("; ")
}
