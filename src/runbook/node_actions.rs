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
use crate::nodes::drain::{self, NodeDrain, PodOutcome};
use crate::nodes::rebuild::{self, Job};
use crate::nodes::replace::Terminate;
use crate::nodes::{LeanNode, cordon, plan, targets};
use crate::safety::{Plan, audit};

async fn resolve(cluster: &Cluster, args: &Json) -> Result<Vec<LeanNode>> {
    targets::resolve(cluster, &as_list(args.get("nodes")), arg(args, "selector")).await
}

/// kubectl drain's options from a step, with the commands' defaults
/// (no timeout, each pod's own grace period).
pub(super) fn drain_options(args: &Json) -> Result<DrainOptions> {
    Ok(DrainOptions {
        ignore_daemonsets: flag(args.get("ignore_daemonsets"), "ignore_daemonsets")?,
        delete_emptydir_data: flag(args.get("delete_emptydir_data"), "delete_emptydir_data")?,
        force: flag(args.get("force"), "force")?,
        grace_period: whole(args.get("grace_period"), "grace_period", -1)?,
        timeout: duration_or(args.get("timeout"), "timeout", std::time::Duration::ZERO)?,
        pod_selector: arg(args, "pod_selector").map(str::to_string),
        disable_eviction: flag(args.get("disable_eviction"), "disable_eviction")?,
        skip_wait_for_delete_timeout: whole(
            args.get("skip_wait_for_delete_timeout"),
            "skip_wait_for_delete_timeout",
            0,
        )?
        .max(0) as u64,
        scale_up: flag(args.get("scale_up"), "scale_up")?,
        scale_policy: Default::default(),
    })
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
    plan::plan_cordon(into, &nodes, &audit::os_user(), arg(args, "reason"));
    Ok(())
}

pub(super) async fn run_cordon(cluster: &Cluster, args: &Json) -> Result<(Json, String)> {
    let nodes = resolve(cluster, args).await?;
    let user = audit::os_user();
    let mut scratch = Plan::new("cordon nodes", cluster);
    let todo = plan::plan_cordon(&mut scratch, &nodes, &user, arg(args, "reason"));
    let already: Vec<String> = nodes
        .iter()
        .map(|n| n.name().to_string())
        .filter(|n| !todo.contains(n))
        .collect();
    let mut done = Vec::new();
    for (i, name) in todo.iter().enumerate() {
        if crate::safety::interrupt::is_interrupted() {
            return Err(Error::Interrupted {
                done: join_or_nothing(&done),
                not_done: todo[i..].join(", "),
            });
        }
        cordon::cordon(cluster, name, &user, arg(args, "reason")).await?;
        done.push(name.clone());
    }
    let mut text = format!("cordoned {}", join_or_nothing(&done));
    if !already.is_empty() {
        text.push_str(&format!("; already cordoned: {}", already.join(", ")));
    }
    Ok((
        json!({ "cordoned": done, "already_cordoned": already }),
        text,
    ))
}

// ---- node_drain -------------------------------------------------------

pub(super) async fn plan_drain(cluster: &Cluster, args: &Json, into: &mut Plan) -> Result<()> {
    let nodes = resolve(cluster, args).await?;
    let opts = drain_options(args)?;
    let report = plan::run_check(cluster, &nodes, &opts).await?;
    let refused = plan::plan_drain(into, &report, &opts);
    if !refused.is_empty() {
        return Err(plan::refusal_error(&refused));
    }
    if opts.scale_up {
        plan::plan_scale_ups(cluster, &report, into).await?;
    }
    Ok(())
}

pub(super) async fn run_drain(cluster: &Cluster, args: &Json) -> Result<(Json, String)> {
    let nodes = resolve(cluster, args).await?;
    let opts = drain_options(args)?;
    let report = plan::run_check(cluster, &nodes, &opts).await?;
    let mut scratch = Plan::new("drain", cluster);
    let refused = plan::plan_drain(&mut scratch, &report, &opts);
    if !refused.is_empty() {
        return Err(plan::refusal_error(&refused));
    }
    let mut scale = if opts.scale_up {
        plan::plan_scale_ups(cluster, &report, &mut scratch).await?
    } else {
        Vec::new()
    };
    let user = audit::os_user();
    let nodes = if scale.is_empty() {
        nodes
    } else {
        let cordoned = plan::cordon_all(cluster, &nodes, &user, "drain").await?;
        if let Err(e) = plan::scale_up(cluster, &mut scale, &opts).await {
            plan::restore(cluster, &scale).await?;
            return Err(e);
        }
        cordoned
    };
    let concurrency = whole(args.get("concurrency"), "concurrency", 1)?.max(1) as usize;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    drop(rx);
    let results = drain::drain_all(cluster, &nodes, &opts, concurrency, &user, "drain", &tx).await;
    plan::restore(cluster, &scale).await?;
    plan::drain_error(&plan::failed(&results))?;
    Ok((json!({ "nodes": results }), drains_text(&results)))
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
    into.changes.extend(plan.changes);
    into.skipped.extend(plan.skipped);
    into.warnings.extend(plan.warnings);
    Ok(())
}

pub(super) async fn run_rebuild(
    cluster: &Cluster,
    config: &Config,
    verb: &str,
    args: &Json,
) -> Result<(Json, String)> {
    let (job, _) = prepare(cluster, config, verb, args).await?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    drop(rx);
    let outcome = rebuild::run(cluster, &job, &audit::os_user(), &tx).await;
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
