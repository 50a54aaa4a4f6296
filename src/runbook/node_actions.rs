//! The node actions (`node_check`, `node_cordon`, `node_drain`,
//! `node_replace`, `node_rotate`): the same resolve → check → plan → apply
//! path as `oncall node ...`, through `crate::nodes`, without prompts (the
//! engine asks before each mutating step).

use serde_json::{Value as Json, json};

use super::dispatch::{arg, as_list, duration_or, flag, whole};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::nodes::check::CheckReport;
use crate::nodes::decide::{Action, DrainOptions};
use crate::nodes::drain::{self, DrainJob, NodeDrain, PodOutcome};
use crate::nodes::rebuild::{self, Job};
use crate::nodes::replace::Terminate;
use crate::nodes::{LeanNode, cordon, plan, targets};
use crate::safety::{Audited, Cancel, OpCtx, Plan, audit, op};

async fn resolve(cluster: &Cluster, args: &Json) -> Result<Vec<LeanNode>> {
    targets::resolve(cluster, &as_list(args.get("nodes")), arg(args, "selector")).await
}

/// kubectl drain's options from a step, read straight into `DrainOptions`
/// (its defaults are the commands': no timeout, each pod's own grace period).
pub(super) fn drain_options(args: &Json) -> Result<DrainOptions> {
    let given: serde_json::Map<String, Json> = args
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| DrainOptions::FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    serde_path_to_error::deserialize(Json::Object(given))
        .map_err(|e| Error::Usage(format!("`{}` {}", e.path(), e.inner())))
}

// ---- node_check -------------------------------------------------------

/// Runs the pre-flight. Its output is `node check -o json` plus
/// `verdict` (`go` or `no-go`) and `blocked` (the nodes that are not go).
pub(super) async fn check(cluster: &Cluster, args: &Json) -> Result<(Json, String, bool)> {
    let nodes = resolve(cluster, args).await?;
    let report = plan::run_check(cluster, &nodes, &drain_options(args)?).await?;
    let mut output = serde_json::to_value(&report).unwrap_or_default();
    let blocked: Vec<&str> = report
        .nodes
        .iter()
        .filter(|n| !n.go)
        .map(|n| n.node.as_str())
        .collect();
    output["verdict"] = json!(if report.go { "go" } else { "no-go" });
    output["blocked"] = json!(blocked);
    Ok((output, check_text(&report), report.go))
}

fn check_text(report: &CheckReport) -> String {
    let mut out = String::new();
    for n in &report.nodes {
        let count = |a: Action| n.pods.iter().filter(|p| p.action == a).count();
        out.push_str(&format!(
            "node/{}: {} pod(s): {} to evict, {} to delete, {} skipped, {} blocking; {}\n",
            n.node,
            n.pods.len(),
            count(Action::Evict),
            count(Action::Delete),
            count(Action::Skip),
            count(Action::Refuse),
            if n.go { "GO" } else { "NO-GO" }
        ));
        for b in &n.blockers {
            out.push_str(&format!("  blocker: {} (fix: {})\n", b.message, b.fix));
        }
    }
    let blocked = report.nodes.iter().filter(|n| !n.go).count();
    out.push_str(&if report.go {
        format!("GO: all {} node(s) can be drained", report.nodes.len())
    } else {
        format!("NO-GO: {blocked} of {} node(s) blocked", report.nodes.len())
    });
    out
}

// ---- node_cordon ------------------------------------------------------

pub(super) async fn plan_cordon(cluster: &Cluster, args: &Json, into: &mut Plan) -> Result<()> {
    let nodes = resolve(cluster, args).await?;
    let (_, plan) = cordon::prepare_cordon(cluster, &nodes, &audit::os_user(), arg(args, "reason"));
    extend(into, plan);
    Ok(())
}

/// Runs the cordon as `oncall node cordon` does, with its audit entry.
pub(super) async fn run_cordon(
    cluster: &Cluster,
    args: &Json,
    record: impl FnOnce(audit::Outcome),
) -> Result<(Json, String)> {
    let nodes = resolve(cluster, args).await?;
    let user = audit::os_user();
    let (job, _) = cordon::prepare_cordon(cluster, &nodes, &user, arg(args, "reason"));
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &op::ignore);
    let outcome = cordon::run(cluster, &job, &ctx).await;
    record(outcome.audit());
    outcome.result?;
    let mut text = format!("cordoned {}", join_or_nothing(&outcome.done));
    if !job.already.is_empty() {
        text.push_str(&format!("; already cordoned: {}", job.already.join(", ")));
    }
    Ok((
        json!({ "cordoned": outcome.done, "already_cordoned": job.already }),
        text,
    ))
}

// ---- node_drain -------------------------------------------------------

/// The drain a step describes, resolved and planned by `nodes::drain`.
async fn prepare_drain(cluster: &Cluster, args: &Json) -> Result<(DrainJob, Plan)> {
    let nodes = resolve(cluster, args).await?;
    let concurrency = whole(args.get("concurrency"), "concurrency", 1)?.max(1) as usize;
    let (job, plan) = drain::prepare(cluster, nodes, drain_options(args)?, concurrency).await?;
    match job.refusal() {
        Some(refusal) => Err(refusal),
        None => Ok((job, plan)),
    }
}

pub(super) async fn plan_drain(cluster: &Cluster, args: &Json, into: &mut Plan) -> Result<()> {
    let (_, plan) = prepare_drain(cluster, args).await?;
    extend(into, plan);
    Ok(())
}

/// Runs the drain as `oncall node drain` does; its result is the command's
/// `-o json` under `nodes`, and the audit entry is the command's.
pub(super) async fn run_drain(
    cluster: &Cluster,
    args: &Json,
    record: impl FnOnce(audit::Outcome),
) -> Result<(Json, String)> {
    let (job, _) = prepare_drain(cluster, args).await?;
    let user = audit::os_user();
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &op::ignore);
    let outcome = drain::run(cluster, &job, &ctx).await;
    record(outcome.audit());
    let output = json!({ "nodes": outcome.nodes });
    let text = drains_text(&outcome.nodes);
    outcome.into_result()?;
    Ok((output, text))
}

fn extend(into: &mut Plan, plan: Plan) {
    into.changes.extend(plan.changes);
    into.skipped.extend(plan.skipped);
    into.warnings.extend(plan.warnings);
}

fn drains_text(results: &[NodeDrain]) -> String {
    results
        .iter()
        .map(|r| {
            format!(
                "node/{} drained in {:.1}s: {} evicted, {} deleted, {} skipped",
                r.node,
                r.seconds,
                r.count(PodOutcome::Evicted),
                r.count(PodOutcome::Deleted),
                r.count(PodOutcome::Skipped)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---- node_replace and node_rotate -------------------------------------

/// How the step terminates nodes: `terminate` (an argv list, or one
/// string split like `--terminate`), `delete_node`, or the config.
fn terminate_method(cluster: &Cluster, config: &Config, args: &Json) -> Result<Terminate> {
    if flag(args.get("no_terminate"), "no_terminate")? {
        return Ok(Terminate::Nothing);
    }
    let words = as_list(args.get("terminate"));
    let explicit = match words.as_slice() {
        [] => None,
        [one] if one.trim().is_empty() => None,
        [one] => Some(Terminate::from_template(one)?),
        _ => Some(Terminate::Command { template: words }),
    };
    let configured = config
        .clusters
        .get(&cluster.context)
        .and_then(|c| c.terminate.clone());
    rebuild::terminate_method(
        explicit,
        flag(args.get("delete_node"), "delete_node")?,
        configured,
        &cluster.context,
    )
}

async fn prepare(
    cluster: &Cluster,
    config: &Config,
    verb: &str,
    args: &Json,
) -> Result<(Job, Plan)> {
    let nodes = resolve(cluster, args).await?;
    let batch = if verb == "rotate" {
        whole(args.get("batch"), "batch", 1)?.max(1) as usize
    } else {
        1
    };
    rebuild::prepare(
        cluster,
        verb,
        nodes,
        batch,
        terminate_method(cluster, config, args)?,
        drain_options(args)?,
        duration_or(
            args.get("wait_replacement"),
            "wait_replacement",
            std::time::Duration::from_secs(600),
        )?,
    )
    .await
}

pub(super) async fn plan_rebuild(
    cluster: &Cluster,
    config: &Config,
    verb: &str,
    args: &Json,
    into: &mut Plan,
) -> Result<()> {
    let (_, plan) = prepare(cluster, config, verb, args).await?;
    extend(into, plan);
    Ok(())
}

pub(super) async fn run_rebuild(
    cluster: &Cluster,
    config: &Config,
    verb: &str,
    args: &Json,
) -> Result<(Json, String)> {
    let (job, _) = prepare(cluster, config, verb, args).await?;
    let user = audit::os_user();
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &op::ignore);
    let outcome = rebuild::run(cluster, &job, &ctx).await;
    outcome.result?;
    let text = outcome
        .replaced
        .iter()
        .map(|r| format!("node/{} {}", r.node, r.describe()))
        .chain(outcome.unhealthy.iter().map(rebuild::not_waited_for))
        .collect::<Vec<_>>()
        .join("\n");
    let replacements: Vec<&str> = outcome
        .replaced
        .iter()
        .filter_map(|r| r.replacement.as_deref())
        .collect();
    Ok((
        json!({
            "nodes": outcome.replaced,
            "replacements": replacements,
            "not_waited_for": outcome.unhealthy,
        }),
        text,
    ))
}

fn join_or_nothing(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".into()
    } else {
        items.join(", ")
    }
}
