//! `oncall node ...`: call the domain in `crate::nodes`, render the result.

use crate::app::App;
use crate::cli::{DrainFlags, NodeCommand, NodeTargets};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::nodes::check::CheckReport;
use crate::nodes::cordon::{self, CordonNote, UncordonDecision};
use crate::nodes::decide::{Action, DrainOptions};
use crate::nodes::drain::{self, Event, NodeDrain, NodeStatus, PodOutcome};
use crate::nodes::{LeanNode, plan, targets};
use crate::safety::{self, Plan, audit};
use crate::ui::{output, style, table};

pub async fn run(app: &App, cmd: NodeCommand) -> Result<()> {
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
    let mut plan = Plan::new("cordon nodes", cluster);
    let todo: Vec<String> = plan::plan_cordon(&mut plan, &nodes, &user, reason)
        .into_iter()
        .map(|n| format!("node/{n}"))
        .collect();
    let answer = safety::approve(app, cluster, &plan)?;
    if !answer.proceeds() {
        return Ok(());
    }
    safety::apply_each(app, cluster, &plan, answer, &todo, "cordoned", |target| {
        let name = target.trim_start_matches("node/").to_string();
        let user = user.clone();
        async move { cordon::cordon(cluster, &name, &user, reason).await }
    })
    .await
}

async fn uncordon_nodes(app: &App, cluster: &Cluster, t: &NodeTargets, force: bool) -> Result<()> {
    let nodes = resolve(cluster, t).await?;
    let user = audit::os_user();
    let mut plan = Plan::new("uncordon nodes", cluster);
    let mut todo = Vec::new();
    let mut refused = Vec::new();
    for n in &nodes {
        let target = format!("node/{}", n.name());
        match cordon::uncordon_decision(n, &user, force) {
            UncordonDecision::Uncordon => {
                let detail = CordonNote::read(n)
                    .map(|c| format!("was cordoned {}", c.describe()))
                    .unwrap_or_else(|| "was cordoned with no oncall note (--force)".into());
                plan.change(target, "uncordon", detail);
                todo.push(format!("node/{}", n.name()));
            }
            UncordonDecision::NotCordoned => plan.skip(target, "not cordoned"),
            UncordonDecision::Refuse { why } => {
                plan.skip(target, &why);
                refused.push(format!("`{}` {why}", n.name()));
            }
        }
    }
    let answer = safety::approve(app, cluster, &plan)?;
    if answer.proceeds() {
        safety::apply_each(app, cluster, &plan, answer, &todo, "uncordoned", |target| {
            let name = target.trim_start_matches("node/").to_string();
            async move { cordon::uncordon(cluster, &name).await }
        })
        .await?;
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "left cordoned: {}",
            refused.join("; ")
        )))
    }
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
    if app.global.output.is_structured() {
        output::print(app.global.output, &report)?;
    } else {
        out!(
            "{}",
            render_check(&report, app.global.verbose > 0 || nodes.len() == 1)
        );
    }
    if report.go {
        Ok(())
    } else {
        Err(Error::ProblemsFound(String::new()))
    }
}

/// The check as text: a pod table per node (when `pods`), blockers, verdict.
pub fn render_check(report: &CheckReport, pods: bool) -> String {
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
            out.push_str(&table::render(&t));
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
    let report = plan::run_check(cluster, &nodes, &opts).await?;
    let mut plan = Plan::new(format!("drain {} node(s)", nodes.len()), cluster);
    let refused = plan::plan_drain(&mut plan, &report, &opts);
    if !refused.is_empty() {
        if !app.global.output.is_structured() {
            outln!("{}", plan.render());
        }
        return Err(plan::refusal_error(&refused));
    }
    if plan.changes.is_empty() {
        // Every node is cordoned and empty: a drain is a no-op, as in kubectl.
        safety::approve(app, cluster, &plan)?;
        return Ok(());
    }
    let mut scale = plan::plan_scale_ups(cluster, &report, &mut plan).await?;
    let answer = safety::approve(app, cluster, &plan)?;
    if !answer.proceeds() {
        return Ok(());
    }
    let nodes = if scale.is_empty() {
        nodes
    } else {
        let user = audit::os_user();
        let cordoned = plan::cordon_all(cluster, &nodes, &user, "drain").await;
        let cordoned = match cordoned {
            Ok(c) => c,
            Err(e) => return record_error(app, cluster, &plan, answer, e),
        };
        if let Err(e) = plan::scale_up(cluster, &mut scale, &opts).await {
            plan::restore(cluster, &scale).await?;
            return record_error(app, cluster, &plan, answer, e);
        }
        cordoned
    };
    let results = run_drains(app, cluster, &nodes, &opts, concurrency, "drain").await;
    plan::restore(cluster, &scale).await?;
    finish_drains(app, cluster, &plan, answer, &results)
}

fn record_error(
    app: &App,
    cluster: &Cluster,
    plan: &Plan,
    answer: safety::Answer,
    e: Error,
) -> Result<()> {
    audit::record(app, cluster, plan, answer, &audit::Outcome::from_error(&e))?;
    Err(e)
}

/// Draws drain progress (a bar per node) from the domain's events.
pub struct Renderer {
    pub tx: tokio::sync::mpsc::UnboundedSender<Event>,
    task: tokio::task::JoinHandle<()>,
}

impl Renderer {
    pub fn start(app: &App) -> Renderer {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
        let progress = app.progress.clone();
        let task = tokio::spawn(async move {
            let mut bars = std::collections::HashMap::new();
            // Without a terminal there are no bars: a plain line says what
            // is going on, and is repeated while a long wait lasts, so a log
            // never goes quiet for long.
            let plain = progress.is_hidden();
            let started = std::time::Instant::now();
            let mut doing = String::new();
            let mut gone: std::collections::HashMap<String, (u64, u64)> = Default::default();
            let mut heartbeat = tokio::time::interval(heartbeat_interval());
            heartbeat.tick().await;
            loop {
                let ev = tokio::select! {
                    ev = rx.recv() => match ev {
                        Some(ev) => ev,
                        None => break,
                    },
                    _ = heartbeat.tick() => {
                        if plain && !doing.is_empty() {
                            let elapsed = chrono::Duration::seconds(started.elapsed().as_secs() as i64);
                            eprintln!("still {doing} ({})", crate::age::human(elapsed));
                        }
                        continue;
                    }
                };
                match ev {
                    Event::Started { node, total } => {
                        let bar = progress.bar(&node, total);
                        bar.set_message("evicting");
                        bars.insert(node.clone(), bar);
                        gone.insert(node.clone(), (0, total));
                        doing = draining(&gone);
                        if plain {
                            eprintln!("node/{node}: removing {total} pod(s)");
                        }
                    }
                    Event::PodDone { node, .. } => {
                        if let Some(b) = bars.get(&node) {
                            b.inc(1);
                        }
                        if let Some(g) = gone.get_mut(&node) {
                            g.0 += 1;
                        }
                        doing = draining(&gone);
                    }
                    Event::Blocked { node, pod, message } => {
                        progress.println(&format!("{node}: `{pod}` {message}; retrying"));
                    }
                    Event::Replaced { node, by } => {
                        progress.println(&format!("node/{node} replaced by node/{by}"));
                    }
                    Event::Waiting { what } => {
                        for b in bars.values() {
                            b.set_message(format!("waiting for {what}"));
                        }
                        doing = format!("waiting for {what}");
                        if plain {
                            eprintln!("{doing}");
                        }
                    }
                }
            }
            for (_, b) in bars {
                b.finish_and_clear();
            }
        });
        Renderer { tx, task }
    }

    pub async fn finish(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

/// How often a plain progress line repeats during a long wait: 30 s, or
/// `ONCALL_PROGRESS_INTERVAL` (for example `1s`).
fn heartbeat_interval() -> std::time::Duration {
    std::env::var("ONCALL_PROGRESS_INTERVAL")
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(std::time::Duration::from_secs(30))
}

/// `draining: node/a 3/5 pods gone, node/b 0/2 pods gone`.
fn draining(gone: &std::collections::HashMap<String, (u64, u64)>) -> String {
    let mut nodes: Vec<String> = gone
        .iter()
        .map(|(n, (done, total))| format!("node/{n} {done}/{total} pods gone"))
        .collect();
    nodes.sort();
    format!("draining: {}", nodes.join(", "))
}

/// Drains `nodes`, `concurrency` at a time, with a progress bar per node.
async fn run_drains(
    app: &App,
    cluster: &Cluster,
    nodes: &[LeanNode],
    opts: &DrainOptions,
    concurrency: usize,
    why: &str,
) -> Vec<NodeDrain> {
    let renderer = Renderer::start(app);
    let results = drain::drain_all(
        cluster,
        nodes,
        opts,
        concurrency,
        &audit::os_user(),
        why,
        &renderer.tx,
    )
    .await;
    renderer.finish().await;
    results
}

/// Prints the summary, records the outcome, and turns failures into errors.
pub fn finish_drains(
    app: &App,
    cluster: &Cluster,
    plan: &Plan,
    answer: safety::Answer,
    results: &[NodeDrain],
) -> Result<()> {
    if app.global.output.is_structured() {
        output::print(app.global.output, &results)?;
    } else {
        out!("{}", render_drains(results));
    }
    let failed = plan::failed(results);
    let mut outcome = match failed.first() {
        None => audit::Outcome::ok(format!("drained {} node(s)", results.len())),
        Some(f) => audit::Outcome::new(
            match f.status {
                NodeStatus::TimedOut => "timed_out",
                NodeStatus::Interrupted => "interrupted",
                _ => "failed",
            },
            f.message.clone().unwrap_or_default(),
        ),
    };
    outcome.done = drained_and_evicted(results);
    outcome.not_done = failed.iter().map(|r| r.node.clone()).collect();
    audit::record(app, cluster, plan, answer, &outcome)?;
    plan::drain_error(&failed)
}

/// What a drain did, for the audit log: each node drained, and on a node
/// whose drain did not finish, each pod that was evicted or deleted, since
/// those are changes someone may have to answer for.
fn drained_and_evicted(results: &[NodeDrain]) -> Vec<String> {
    let mut done = Vec::new();
    for r in results {
        if r.status == NodeStatus::Drained {
            done.push(format!("node/{}", r.node));
            continue;
        }
        for p in &r.pods {
            let verb = match p.accepted {
                Some(PodOutcome::Evicted) => "evicted",
                Some(PodOutcome::Deleted) => "deleted",
                _ => continue,
            };
            let gone = matches!(p.outcome, PodOutcome::Evicted | PodOutcome::Deleted);
            let still = if gone { "" } else { " (still terminating)" };
            done.push(format!("pod/{} {verb} from node/{}{still}", p.pod, r.node));
        }
    }
    done
}

pub fn render_drains(results: &[NodeDrain]) -> String {
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
