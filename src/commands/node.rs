//! `oncall node ...`: call the domain in `crate::nodes`, render the result.

use crate::app::App;
use crate::cli::{DrainFlags, NodeCommand, NodeTargets};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::nodes::check::CheckReport;
use crate::nodes::cordon::{self, CordonJob};
use crate::nodes::decide::{Action, DrainOptions};
use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::ProgressBar;

use crate::nodes::drain::{self, DrainOutcome, Event, NodeDrain, NodeStatus, PodOutcome};
use crate::nodes::{LeanNode, plan, targets};
use crate::safety::{self, Cancel, OpCtx, Plan, audit};
use crate::ui::progress::{Heartbeat, Progress};
use serde::Serialize;

use crate::ui::output::{self, OutputFormat, Report};
use crate::ui::{style, table};

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

async fn resolve(cluster: &Cluster, t: &NodeTargets) -> Result<Vec<LeanNode>> {
    targets::resolve(cluster, &t.nodes, t.selector.as_deref()).await
}

async fn cordon_nodes(
    app: &App,
    cluster: &Cluster,
    t: &NodeTargets,
    reason: Option<&str>,
) -> Result<()> {
    let nodes = resolve(cluster, t).await?;
    let user = audit::os_user();
    let (job, plan) = cordon::prepare_cordon(cluster, &nodes, &user, reason);
    apply_cordon(app, cluster, &plan, &job, &user).await
}

async fn uncordon_nodes(app: &App, cluster: &Cluster, t: &NodeTargets, force: bool) -> Result<()> {
    let nodes = resolve(cluster, t).await?;
    let user = audit::os_user();
    let (job, plan) = cordon::prepare_uncordon(cluster, &nodes, &user, force);
    apply_cordon(app, cluster, &plan, &job, &user).await
}

/// Asks, runs the cordon (or uncordon) saying each node as it is done, and
/// records it; then reports the nodes left alone because of someone else.
async fn apply_cordon(
    app: &App,
    cluster: &Cluster,
    plan: &Plan,
    job: &CordonJob,
    user: &str,
) -> Result<()> {
    let human = !app.global.output.is_structured();
    let verb = job.verb();
    let observer = |c: cordon::Changed| {
        if human {
            outln!("node/{} {verb}", c.node);
        }
    };
    let ctx = OpCtx::new(user, Cancel::on_signal(), &observer);
    let cordoned = async || cordon::run(cluster, job, &ctx).await;
    if let Some(outcome) = safety::execute(app, cluster, plan, cordoned).await? {
        outcome.result?;
    }
    job.refusal()
}

async fn check_nodes(
    app: &App,
    cluster: &Cluster,
    t: &NodeTargets,
    flags: &DrainFlags,
) -> Result<()> {
    let nodes = resolve(cluster, t).await?;
    let opts = DrainOptions::from(flags).with_policy(app.config.scale_policy());
    let report = plan::run_check(cluster, &nodes, &opts).await?;
    let view = CheckView {
        pods: app.global.verbose > 0 || nodes.len() == 1,
        report,
    };
    output::show(app.global.output, &view)
}

/// `node check`'s report as shown: the pod tables only for one node, or
/// with `-v`.
#[derive(Serialize)]
#[serde(transparent)]
struct CheckView {
    report: CheckReport,
    #[serde(skip)]
    pods: bool,
}

impl Report for CheckView {
    fn human(&self, _: OutputFormat) -> String {
        render_check(&self.report, self.pods)
    }

    /// NO-GO exits 1; the report has said why.
    fn exit(&self) -> Result<()> {
        if self.report.go {
            Ok(())
        } else {
            Err(Error::ProblemsFound(String::new()))
        }
    }
}

/// The check as text: a pod table per node (when `pods`), blockers, verdict.
pub(super) fn render_check(report: &CheckReport, pods: bool) -> String {
    let mut out = String::new();
    for n in &report.nodes {
        let mut head = format!("{} {}", style::bold("node"), style::bold(&n.node));
        if let Some(p) = &n.pool {
            head.push_str(&format!("  pool {p}"));
        }
        if n.cordoned {
            head.push_str("  (cordoned)");
        }
        out.push_str(&head);
        out.push('\n');
        if pods && !n.pods.is_empty() {
            let mut t = table::new(&["pod", "owner", "drain would", "why"]);
            for p in &n.pods {
                let action = match p.action {
                    Action::Evict => "evict",
                    Action::Delete => "delete",
                    Action::Skip => "skip",
                    Action::Refuse => "BLOCK",
                };
                let mut why = p.reason.clone();
                if !p.pdbs.is_empty() {
                    if !why.is_empty() {
                        why.push_str("; ");
                    }
                    why.push_str(&format!("budget {}", p.pdbs.join(", ")));
                }
                t.add_row(vec![
                    p.key(),
                    p.owner.clone().unwrap_or_else(|| "<none>".into()),
                    action.into(),
                    why,
                ]);
            }
            out.push_str(&table::render_to_fit(t));
            out.push('\n');
        } else {
            let count = |a: Action| n.pods.iter().filter(|p| p.action == a).count();
            out.push_str(&format!(
                "  {} pod(s): {} to evict, {} to delete, {} skipped\n",
                n.pods.len(),
                count(Action::Evict),
                count(Action::Delete),
                count(Action::Skip)
            ));
        }
        for b in &n.blockers {
            out.push_str(&format!("  {} {}\n", style::bad("blocker:"), b.message));
            if !b.pods.is_empty() {
                out.push_str(&format!("    pods: {}\n", b.pods.join(", ")));
            }
            out.push_str(&format!("    fix: {}\n", b.fix));
        }
        out.push_str(&format!(
            "  verdict: {}\n\n",
            if n.go {
                style::good("GO")
            } else {
                style::bad("NO-GO")
            }
        ));
    }
    let blocked = report.nodes.iter().filter(|n| !n.go).count();
    out.push_str(&if report.go {
        format!(
            "{} all {} node(s) can be drained\n",
            style::good("GO:"),
            report.nodes.len()
        )
    } else {
        format!(
            "{} {blocked} of {} node(s) blocked\n",
            style::bad("NO-GO:"),
            report.nodes.len()
        )
    });
    out
}

async fn drain_nodes(
    app: &App,
    cluster: &Cluster,
    t: &NodeTargets,
    flags: &DrainFlags,
    concurrency: usize,
) -> Result<()> {
    let nodes = resolve(cluster, t).await?;
    let opts = DrainOptions::from(flags).with_policy(app.config.scale_policy());
    let (job, plan) = drain::prepare(cluster, nodes, opts, concurrency).await?;
    if let Some(refusal) = job.refusal() {
        if !app.global.output.is_structured() {
            outln!("{}", plan.render());
        }
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
        None => Ok(()),
    }
}

/// Prints the summary and turns failures into errors.
fn finish_drains(app: &App, outcome: DrainOutcome) -> Result<()> {
    // A drain that never started has no summary, only its error.
    if !(outcome.nodes.is_empty() && outcome.result.is_err()) {
        if app.global.output.is_structured() {
            output::print(app.global.output, &outcome.nodes)?;
        } else {
            out!("{}", render_drains(&outcome.nodes));
        }
    }
    outcome.into_result()
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

pub(super) fn render_drains(results: &[NodeDrain]) -> String {
    let mut out = String::new();
    for r in results {
        let status = match r.status {
            NodeStatus::Drained => style::good("drained"),
            NodeStatus::Failed => style::bad("FAILED"),
            NodeStatus::TimedOut => style::bad("TIMED OUT"),
            NodeStatus::Interrupted => style::warn("interrupted"),
        };
        out.push_str(&format!(
            "node/{} {status} in {:.1}s: {} evicted, {} deleted, {} skipped, {} pending\n",
            r.node,
            r.seconds,
            r.count(PodOutcome::Evicted),
            r.count(PodOutcome::Deleted),
            r.count(PodOutcome::Skipped),
            r.count(PodOutcome::Pending) + r.count(PodOutcome::Failed),
        ));
        let notable: Vec<_> = r
            .pods
            .iter()
            .filter(|p| {
                matches!(
                    p.outcome,
                    PodOutcome::Skipped | PodOutcome::Pending | PodOutcome::Failed
                )
            })
            .collect();
        if !notable.is_empty() {
            let mut t = table::new(&["pod", "outcome", "reason"]);
            for p in notable {
                t.add_row(vec![
                    p.pod.clone(),
                    format!("{:?}", p.outcome).to_lowercase(),
                    p.reason.clone(),
                ]);
            }
            for line in table::render(&t).lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
        if let Some(m) = &r.message {
            out.push_str(&format!("  {m}\n"));
        }
    }
    out
}
