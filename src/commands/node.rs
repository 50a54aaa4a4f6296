//! `oncall node ...`: call the domain in `crate::nodes`, render the result.

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::ProgressBar;

use crate::app::App;
use crate::cli::{DrainFlags, NodeCommand, NodeTargets};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::nodes::cordon::{self, CordonJob};
use crate::nodes::decide::DrainOptions;
use crate::nodes::drain::{self, DrainOutcome, Event};
use crate::nodes::{LeanNode, plan, targets};
use crate::safety::{self, Cancel, OpCtx, Plan, audit, op};
use crate::ui::progress::{Heartbeat, Progress};
use crate::ui::report::nodes::{CheckView, Cordoned, Drains};
use crate::ui::{fit, output};

pub(super) async fn run(app: &App, cmd: NodeCommand) -> Result<()> {
    let cluster = app.cluster().await?;
    match cmd {
        NodeCommand::List { selector, .. } => {
            super::node_list::one(app, cluster, selector.as_deref()).await
        }
        NodeCommand::Cordon { targets, reason } => {
            cordon_nodes(app, cluster, &targets, reason.as_deref()).await
        }
        NodeCommand::Uncordon { targets, force } => {
            uncordon_nodes(app, cluster, &targets, force).await
        }
        NodeCommand::Check { targets, drain } => check_nodes(app, cluster, &targets, &drain).await,
        NodeCommand::Drain {
            targets,
            drain,
            concurrency,
        } => drain_nodes(app, cluster, &targets, &drain, concurrency).await,
        NodeCommand::Replace { targets, replace } => {
            super::node_replace::replace(app, cluster, &targets, &replace).await
        }
        NodeCommand::Rotate {
            selector,
            batch,
            no_terminate,
            replace,
        } => {
            super::node_replace::rotate(app, cluster, &selector, batch, no_terminate, &replace)
                .await
        }
    }
}

/// Runs `command` on the nodes named or selected. A selector that selects
/// nothing is not a failure (as in kubectl): a script that asked for
/// `-o json|yaml` still reads the command's report, of no nodes, and the
/// sentence saying so goes to stderr either way.
async fn on_targets(
    app: &App,
    cluster: &Cluster,
    t: &NodeTargets,
    command: impl AsyncFnOnce(Vec<LeanNode>) -> Result<()>,
) -> Result<()> {
    match targets::resolve(cluster, &t.nodes, t.selector.as_deref()).await {
        Err(e @ Error::NothingSelected(_)) if app.global.output.is_structured() => {
            command(Vec::new()).await?;
            Err(e)
        }
        resolved => command(resolved?).await,
    }
}

async fn cordon_nodes(
    app: &App,
    cluster: &Cluster,
    t: &NodeTargets,
    reason: Option<&str>,
) -> Result<()> {
    on_targets(app, cluster, t, async |nodes| {
        let user = audit::os_user();
        let (job, plan) = cordon::prepare_cordon(cluster, &nodes, &user, reason);
        apply_cordon(app, cluster, &plan, &job, &user).await
    })
    .await
}

async fn uncordon_nodes(app: &App, cluster: &Cluster, t: &NodeTargets, force: bool) -> Result<()> {
    on_targets(app, cluster, t, async |nodes| {
        let user = audit::os_user();
        let (job, plan) = cordon::prepare_uncordon(cluster, &nodes, &user, force);
        apply_cordon(app, cluster, &plan, &job, &user).await
    })
    .await
}

/// Asks, runs the cordon (or uncordon), records it, and reports the nodes
/// changed and those left alone because of someone else.
async fn apply_cordon(
    app: &App,
    cluster: &Cluster,
    plan: &Plan,
    job: &CordonJob,
    user: &str,
) -> Result<()> {
    let ctx = OpCtx::new(user, Cancel::on_signal(), &op::ignore);
    let cordoned = async || cordon::run(cluster, job, &ctx).await;
    match safety::execute(app, cluster, plan, cordoned).await? {
        Some(outcome) => output::show(app.global.output, Cordoned::new(job, outcome)),
        // A script asking for -o json|yaml reads a report either way.
        None if plan.changes.is_empty() && app.global.output.is_structured() => {
            output::show(app.global.output, Cordoned::new(job, job.nothing_done()))
        }
        None => job.refusal(),
    }
}

async fn check_nodes(
    app: &App,
    cluster: &Cluster,
    t: &NodeTargets,
    flags: &DrainFlags,
) -> Result<()> {
    on_targets(app, cluster, t, async |nodes| {
        let opts = DrainOptions::from(flags).with_policy(app.config.scale_policy());
        let report = plan::run_check(cluster, &nodes, &opts, nodes.len()).await?;
        let pods = app.global.verbose > 0 || nodes.len() == 1;
        let view = CheckView::new(report, pods).fitted_to(fit::width(fit::Stream::Stdout));
        output::show(app.global.output, view)
    })
    .await
}

async fn drain_nodes(
    app: &App,
    cluster: &Cluster,
    t: &NodeTargets,
    flags: &DrainFlags,
    concurrency: usize,
) -> Result<()> {
    on_targets(app, cluster, t, async |nodes| {
        drain_these(app, cluster, nodes, flags, concurrency).await
    })
    .await
}

async fn drain_these(
    app: &App,
    cluster: &Cluster,
    nodes: Vec<LeanNode>,
    flags: &DrainFlags,
    concurrency: usize,
) -> Result<()> {
    let opts = DrainOptions::from(flags).with_policy(app.config.scale_policy());
    let (job, plan) = drain::prepare(cluster, nodes, opts, concurrency).await?;
    if let Some(refusal) = job.refusal() {
        safety::plan::show(app, cluster, &plan)?;
        return Err(refusal);
    }
    // Every node cordoned and empty: nothing to do, as in kubectl.
    let user = audit::os_user();
    let drained = async || {
        let progress = DrainProgress::start(app);
        let observer = |e| progress.observe(e);
        let ctx = OpCtx::new(&user, Cancel::on_signal(), &observer);
        let outcome = drain::run(cluster, &job, &ctx).await;
        progress.finish();
        outcome
    };
    match safety::execute(app, cluster, &plan, drained).await? {
        Some(outcome) => finish_drains(app, outcome),
        // A script asking for -o json|yaml reads a report either way.
        None if plan.changes.is_empty() && app.global.output.is_structured() => {
            finish_drains(app, job.already_drained())
        }
        None => Ok(()),
    }
}

/// Shows each node's drain and turns failures into errors; a drain that
/// never started has no report, only its error.
fn finish_drains(app: &App, outcome: DrainOutcome) -> Result<()> {
    output::show(app.global.output, Drains::of(outcome)?)
}

/// Draws drain progress (a bar per node) from the domain's events; without
/// a terminal, plain lines and a heartbeat instead.
pub(super) struct DrainProgress {
    progress: Progress,
    heartbeat: Heartbeat,
    state: Mutex<Bars>,
}

#[derive(Default)]
struct Bars {
    bars: HashMap<String, ProgressBar>,
    /// Per node: pods gone, pods to remove.
    gone: HashMap<String, (u64, u64)>,
}

impl DrainProgress {
    pub(super) fn start(app: &App) -> DrainProgress {
        DrainProgress {
            heartbeat: Heartbeat::start(&app.progress),
            progress: app.progress.clone(),
            state: Mutex::default(),
        }
    }

    /// The observer: called from the drain's tasks as events happen.
    pub(super) fn observe(&self, ev: Event) {
        let plain = self.progress.is_hidden();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match ev {
            Event::Started { node, total } => {
                let bar = self.progress.bar(&node, total);
                bar.set_message("evicting");
                st.bars.insert(node.clone(), bar);
                st.gone.insert(node.clone(), (0, total));
                self.heartbeat.set(draining(&st.gone));
                if plain {
                    eprintln!("node/{node}: removing {total} pod(s)");
                }
            }
            Event::Arrived { node, count } => {
                if let Some(b) = st.bars.get(&node) {
                    b.inc_length(count);
                }
                if let Some(g) = st.gone.get_mut(&node) {
                    g.1 += count;
                }
                self.progress.println(&format!(
                    "node/{node}: {count} more pod(s) arrived after the cordon; removing them too"
                ));
            }
            Event::PodDone { node, .. } => {
                if let Some(b) = st.bars.get(&node) {
                    b.inc(1);
                }
                if let Some(g) = st.gone.get_mut(&node) {
                    g.0 += 1;
                }
                self.heartbeat.set(draining(&st.gone));
            }
            Event::Blocked { node, pod, message } => {
                self.progress
                    .println(&format!("{node}: `{pod}` {message}; retrying"));
            }
            Event::Replaced { node, by } => {
                self.progress
                    .println(&format!("node/{node} replaced by node/{by}"));
            }
            Event::Waiting { what } => {
                for b in st.bars.values() {
                    b.set_message(format!("waiting for {what}"));
                }
                let doing = format!("waiting for {what}");
                if plain {
                    eprintln!("{doing}");
                }
                self.heartbeat.set(doing);
            }
        }
    }

    /// Clears the bars (and stops the heartbeat) before the summary.
    pub(super) fn finish(self) {
        let st = self.state.into_inner().unwrap_or_else(|p| p.into_inner());
        for b in st.bars.into_values() {
            b.finish_and_clear();
        }
    }
}

/// `draining: node/a 3/5 pods gone, node/b 0/2 pods gone`.
fn draining(gone: &HashMap<String, (u64, u64)>) -> String {
    let mut nodes: Vec<String> = gone
        .iter()
        .map(|(n, (done, total))| format!("node/{n} {done}/{total} pods gone"))
        .collect();
    nodes.sort();
    format!("draining: {}", nodes.join(", "))
}
