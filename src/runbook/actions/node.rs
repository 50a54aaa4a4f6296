//! The node actions (`node_check`, `node_cordon`, `node_drain`,
//! `node_replace`, `node_rotate`): the same resolve → check → plan → apply
//! path as `oncall node ...`, through `crate::nodes`, without prompts (the
//! engine asks before each mutating step).

use serde_json::json;

use super::args::{Dur, Flag, List, Text, Whole, Words, args, dur, list, on, whole};
use super::{Action, Produced, Spec, cluster, extend, finding};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::error::Result;
use crate::nodes::decide::DrainOptions;
use crate::nodes::drain::{self, DrainJob};
use crate::nodes::rebuild::{self, Job};
use crate::nodes::replace::Terminate;
use crate::nodes::{LeanNode, cordon, plan, targets};
use crate::runbook::engine::Run;
use crate::runbook::model::Step;
use crate::safety::{Audited, Cancel, OpCtx, Plan, audit, op};
use crate::ui::output::{self, Report};
use crate::ui::report::nodes::{CheckView, Cordoned, Drains, Rebuilt};

async fn resolve(
    cluster: &Cluster,
    nodes: &Option<List>,
    selector: &Option<Text>,
) -> Result<Vec<LeanNode>> {
    targets::resolve(cluster, list(nodes), selector.as_deref()).await
}

// ---- node_check -------------------------------------------------------

args! {
    CheckArgs {
        /// Nodes by name.
        nodes: Option<List>,
        /// Nodes by label selector.
        selector: Option<Text>,
        /// Fail the step (as the command exits 1) when a node is not go.
        fail_on_problems: Option<Flag>,
        ..drain: DrainOptions
    }
}

pub(super) struct Check;

impl Action for Check {
    type Args = CheckArgs;
    const SPEC: &'static Spec = &Spec::cluster(
        "node_check",
        "pre-flight a drain: what it would evict and what blocks it",
        false,
        true,
    );

    /// Runs the pre-flight. Its output is `node check -o json` plus
    /// `verdict` (`go` or `no-go`) and `blocked` (the nodes that are not go).
    async fn run(&self, run: &Run<'_>, _step: &Step, args: CheckArgs) -> Result<Produced> {
        let cluster = cluster(run, Self::SPEC.name)?;
        let nodes = resolve(cluster, &args.nodes, &args.selector).await?;
        let report = plan::run_check(cluster, &nodes, &args.drain, nodes.len()).await?;
        let view = CheckView::new(report, false);
        let mut output = output::data(&view);
        let blocked: Vec<&str> = view
            .check()
            .nodes
            .iter()
            .filter(|n| !n.go)
            .map(|n| n.node.as_str())
            .collect();
        let go = view.check().go;
        output["verdict"] = json!(if go { "go" } else { "no-go" });
        output["blocked"] = json!(blocked);
        finding(Self::SPEC.name, args.fail_on_problems, &view, output)
    }
}

// ---- node_cordon ------------------------------------------------------

args! {
    CordonArgs {
        /// Nodes by name.
        nodes: Option<List>,
        /// Nodes by label selector.
        selector: Option<Text>,
        /// Why; recorded on the node with your name and the time.
        reason: Option<Text>,
    }
}

pub(super) struct Cordon;

impl Action for Cordon {
    type Args = CordonArgs;
    const SPEC: &'static Spec =
        &Spec::cluster("node_cordon", "mark nodes unschedulable", true, true);

    async fn plan(&self, run: &Run<'_>, args: &CordonArgs, into: &mut Plan) -> Result<()> {
        let cluster = cluster(run, Self::SPEC.name)?;
        let nodes = resolve(cluster, &args.nodes, &args.selector).await?;
        let user = audit::os_user();
        let (_, plan) = cordon::prepare_cordon(cluster, &nodes, &user, args.reason.as_deref());
        extend(into, plan);
        Ok(())
    }

    /// Runs the cordon as `oncall node cordon` does, with its audit entry.
    async fn run(&self, run: &Run<'_>, _step: &Step, args: CordonArgs) -> Result<Produced> {
        let cluster = cluster(run, Self::SPEC.name)?;
        let nodes = resolve(cluster, &args.nodes, &args.selector).await?;
        let user = audit::os_user();
        let (job, _) = cordon::prepare_cordon(cluster, &nodes, &user, args.reason.as_deref());
        let ctx = OpCtx::new(&user, Cancel::on_signal(), &op::ignore);
        let outcome = cordon::run(cluster, &job, &ctx).await;
        run.report_audit(outcome.audit());
        let report = Cordoned::new(&job, outcome);
        let produced = Produced::report(&report);
        report.finish()?;
        Ok(produced)
    }
}

// ---- node_drain -------------------------------------------------------

args! {
    DrainArgs {
        /// Nodes by name.
        nodes: Option<List>,
        /// Nodes by label selector.
        selector: Option<Text>,
        /// How many nodes to drain at once (default 1).
        concurrency: Option<Whole>,
        ..drain: DrainOptions
    }
}

pub(super) struct Drain;

/// The drain a step describes, resolved and planned by `nodes::drain`.
async fn prepare_drain(cluster: &Cluster, args: &DrainArgs) -> Result<(DrainJob, Plan)> {
    let nodes = resolve(cluster, &args.nodes, &args.selector).await?;
    let concurrency = whole(args.concurrency, 1).max(1) as usize;
    let (job, plan) = drain::prepare(cluster, nodes, args.drain.clone(), concurrency).await?;
    match job.refusal() {
        Some(refusal) => Err(refusal),
        None => Ok((job, plan)),
    }
}

impl Action for Drain {
    type Args = DrainArgs;
    const SPEC: &'static Spec = &Spec::cluster(
        "node_drain",
        "cordon nodes and evict their pods, respecting PodDisruptionBudgets",
        true,
        true,
    );

    async fn plan(&self, run: &Run<'_>, args: &DrainArgs, into: &mut Plan) -> Result<()> {
        let (_, plan) = prepare_drain(cluster(run, Self::SPEC.name)?, args).await?;
        extend(into, plan);
        Ok(())
    }

    /// Runs the drain as `oncall node drain` does; its result is the
    /// command's `-o json` under `nodes`, and the audit entry is the command's.
    async fn run(&self, run: &Run<'_>, _step: &Step, args: DrainArgs) -> Result<Produced> {
        let cluster = cluster(run, Self::SPEC.name)?;
        let (job, _) = prepare_drain(cluster, &args).await?;
        let user = audit::os_user();
        let ctx = OpCtx::new(&user, Cancel::on_signal(), &op::ignore);
        let outcome = drain::run(cluster, &job, &ctx).await;
        run.report_audit(outcome.audit());
        let report = Drains::of(outcome)?;
        let mut produced = Produced::report(&report);
        produced.output = json!({ "nodes": produced.output });
        report.finish()?;
        Ok(produced)
    }
}

// ---- node_replace and node_rotate -------------------------------------

args! {
    ReplaceArgs {
        /// Nodes by name.
        nodes: Option<List>,
        /// Nodes by label selector.
        selector: Option<Text>,
        /// Command that terminates the instance (an argv list, or one string split as a shell would); {node} {provider_id} {instance_id} {zone} {project} are filled in.
        terminate: Option<Words>,
        /// Delete the Node object instead of running a terminate command.
        delete_node: Option<Flag>,
        /// How long to wait for a replacement node of the same pool (default 10m).
        wait_replacement: Option<Dur>,
        ..drain: DrainOptions
    }
}

args! {
    RotateArgs {
        /// The pool to rotate, by label (e.g. cloud.google.com/gke-nodepool=old).
        selector: Text,
        /// Command that terminates each instance (an argv list, or one string split as a shell would).
        terminate: Option<Words>,
        /// Delete the Node objects instead of running a terminate command.
        delete_node: Option<Flag>,
        /// Only drain; let the cloud's rebuild remove the nodes.
        no_terminate: Option<Flag>,
        /// How long to wait for each replacement node (default 10m).
        wait_replacement: Option<Dur>,
        /// How many nodes to replace at once (default 1).
        batch: Option<Whole>,
        /// Only these nodes of the pool.
        nodes: Option<List>,
        ..drain: DrainOptions
    }
}

/// What a replace or a rotation is given, in one shape.
struct Rebuild<'a> {
    verb: &'static str,
    nodes: &'a Option<List>,
    selector: Option<&'a Text>,
    terminate: &'a Option<Words>,
    delete_node: Option<Flag>,
    no_terminate: Option<Flag>,
    wait_replacement: Option<Dur>,
    batch: usize,
    drain: &'a DrainOptions,
}

impl<'a> From<&'a ReplaceArgs> for Rebuild<'a> {
    fn from(a: &'a ReplaceArgs) -> Self {
        Rebuild {
            verb: "replace",
            nodes: &a.nodes,
            selector: a.selector.as_ref(),
            terminate: &a.terminate,
            delete_node: a.delete_node,
            no_terminate: None,
            wait_replacement: a.wait_replacement,
            batch: 1,
            drain: &a.drain,
        }
    }
}

impl<'a> From<&'a RotateArgs> for Rebuild<'a> {
    fn from(a: &'a RotateArgs) -> Self {
        Rebuild {
            verb: "rotate",
            nodes: &a.nodes,
            selector: Some(&a.selector),
            terminate: &a.terminate,
            delete_node: a.delete_node,
            no_terminate: a.no_terminate,
            wait_replacement: a.wait_replacement,
            batch: whole(a.batch, 1).max(1) as usize,
            drain: &a.drain,
        }
    }
}

/// How the step terminates nodes: `terminate` (an argv list, or one
/// string split like `--terminate`), `delete_node`, or the config.
fn terminate_method(cluster: &Cluster, config: &Config, r: &Rebuild<'_>) -> Result<Terminate> {
    if on(r.no_terminate) {
        return Ok(Terminate::Nothing);
    }
    let words = r
        .terminate
        .as_ref()
        .map(|w| w.0.0.as_slice())
        .unwrap_or_default();
    let explicit = match words {
        [] => None,
        [one] if one.trim().is_empty() => None,
        [one] => Some(Terminate::from_template(one)?),
        _ => Some(Terminate::Command {
            template: words.to_vec(),
        }),
    };
    let configured = config
        .clusters
        .get(&cluster.context)
        .and_then(|c| c.terminate.clone());
    rebuild::terminate_method(explicit, on(r.delete_node), configured, &cluster.context)
}

async fn prepare(cluster: &Cluster, config: &Config, r: Rebuild<'_>) -> Result<(Job, Plan)> {
    let selector = r.selector.cloned();
    let nodes = resolve(cluster, r.nodes, &selector).await?;
    rebuild::prepare(
        cluster,
        r.verb,
        nodes,
        r.batch,
        terminate_method(cluster, config, &r)?,
        r.drain.clone(),
        dur(r.wait_replacement, std::time::Duration::from_secs(600)),
    )
    .await
}

async fn run_rebuild(run: &Run<'_>, action: &str, r: Rebuild<'_>) -> Result<Produced> {
    let cluster = cluster(run, action)?;
    let (job, _) = prepare(cluster, run.config, r).await?;
    let user = audit::os_user();
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &op::ignore);
    let outcome = rebuild::run(cluster, &job, &ctx).await;
    run.report_audit(outcome.audit());
    let replacements: Vec<&str> = outcome
        .replaced
        .iter()
        .filter_map(|r| r.replacement.as_deref())
        .collect();
    let output = json!({
        "nodes": outcome.replaced,
        "replacements": replacements,
        "not_waited_for": outcome.unhealthy,
    });
    let report = Rebuilt::new(cluster, outcome).await;
    let produced = Produced {
        output,
        ..Produced::report(&report)
    };
    report.finish()?;
    Ok(produced)
}

pub(super) struct Replace;

impl Action for Replace {
    type Args = ReplaceArgs;
    const SPEC: &'static Spec = &Spec::cluster(
        "node_replace",
        "drain nodes, terminate their instances and wait for replacements",
        true,
        false,
    );

    async fn plan(&self, run: &Run<'_>, args: &ReplaceArgs, into: &mut Plan) -> Result<()> {
        let cluster = cluster(run, Self::SPEC.name)?;
        let (_, plan) = prepare(cluster, run.config, args.into()).await?;
        extend(into, plan);
        Ok(())
    }

    async fn run(&self, run: &Run<'_>, _step: &Step, args: ReplaceArgs) -> Result<Produced> {
        run_rebuild(run, Self::SPEC.name, (&args).into()).await
    }
}

pub(super) struct Rotate;

impl Action for Rotate {
    type Args = RotateArgs;
    const SPEC: &'static Spec = &Spec::cluster(
        "node_rotate",
        "replace every node of a pool, a batch at a time",
        true,
        false,
    );

    async fn plan(&self, run: &Run<'_>, args: &RotateArgs, into: &mut Plan) -> Result<()> {
        let cluster = cluster(run, Self::SPEC.name)?;
        let (_, plan) = prepare(cluster, run.config, args.into()).await?;
        extend(into, plan);
        Ok(())
    }

    async fn run(&self, run: &Run<'_>, _step: &Step, args: RotateArgs) -> Result<Produced> {
        run_rebuild(run, Self::SPEC.name, (&args).into()).await
    }
}
