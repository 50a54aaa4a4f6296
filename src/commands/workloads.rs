//! `oncall restart` and `oncall rollout status`: drive
//! `crate::workloads::restart` and render what it finds and does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::app::App;
use crate::cli::RestartArgs;
use crate::cluster::Cluster;
use crate::error::Result;
use crate::safety::{self, Cancel, OpCtx, audit};
use crate::ui::output::{self, OutputFormat, Report};
use crate::ui::progress::Progress;
use crate::ui::{prompt, style, table};
use crate::workloads::resolve::{ambiguity_error, resolve_with};
use crate::workloads::restart::{self, Event, Options};
use crate::workloads::{RolloutOutcome, Verdict, WorkloadRef};

/// Resolves the arguments; a bare name several kinds carry is asked about
/// on a terminal and refused (with the candidates) without one.
async fn targets(
    cluster: &Cluster,
    names: &[String],
    selector: Option<&str>,
    command: &str,
) -> Result<Vec<WorkloadRef>> {
    resolve_with(
        cluster,
        &cluster.namespace,
        names,
        selector,
        |name, candidates| {
            if !prompt::stdin_is_terminal() {
                return Err(ambiguity_error(name, candidates, command));
            }
            let items: Vec<String> = candidates.iter().map(|c| c.to_string()).collect();
            let i = prompt::choose(
                &format!("`{name}` names several workloads; which one?"),
                &items,
            )?;
            Ok(candidates[i].clone())
        },
    )
    .await
}

pub(super) async fn restart(app: &App, args: RestartArgs) -> Result<()> {
    let cluster = app.cluster().await?;
    let targets = targets(
        cluster,
        &args.workloads,
        args.selector.as_deref(),
        "restart",
    )
    .await?;
    let options = Options {
        bad_pods: args.bad_pods,
        wait: !args.no_wait,
        timeout: args.timeout,
    };
    let (job, plan) = restart::prepare(cluster, &targets, options).await?;
    let bars = Bars::new(app);
    let observer = |e| bars.show(e);
    let user = audit::os_user();
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &observer);
    let restarted = async || restart::run(cluster, &job, &ctx).await;
    let Some(mut outcome) = safety::execute(app, cluster, &plan, restarted).await? else {
        return Ok(());
    };
    let stopped_early = outcome.stopped.is_some();
    let result = outcome.take_result();
    if stopped_early {
        // Nothing was followed: the error says what was and was not done.
        return result;
    }
    if app.global.output.is_structured() {
        output::print(app.global.output, &outcome)?;
    } else {
        if !outcome.evictions.is_empty() {
            let mut t = table::new(&["pod", "workload", "reason", "result"]);
            for e in &outcome.evictions {
                t.add_row(vec![
                    e.pod.clone(),
                    e.workload.clone(),
                    e.reason.clone(),
                    match &e.error {
                        None => "evicted".into(),
                        Some(err) => format!("not evicted: {err}"),
                    },
                ]);
            }
            outln!("{}\n", table::render(&t));
        }
        out!("{}", outcomes_text(&outcome.rollouts));
    }
    result
}

pub(super) async fn rollout_status(app: &App, names: Vec<String>, timeout: Duration) -> Result<()> {
    let cluster = app.cluster().await?;
    let targets = targets(cluster, &names, None, "rollout status").await?;
    let bars = Bars::new(app);
    let observer = |e| bars.show(e);
    let user = audit::os_user();
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &observer);
    let outcomes = restart::follow(cluster, &targets, &HashMap::new(), timeout, &ctx).await?;
    output::show(app.global.output, &Rollouts { outcomes, timeout })
}

/// `rollout status`'s report: each rollout followed, judged against the
/// `--timeout` it was given.
#[derive(Serialize)]
#[serde(transparent)]
struct Rollouts {
    outcomes: Vec<RolloutOutcome>,
    #[serde(skip)]
    timeout: Duration,
}

impl Report for Rollouts {
    fn human(&self, _: OutputFormat) -> String {
        outcomes_text(&self.outcomes)
    }

    fn exit(&self) -> Result<()> {
        crate::workloads::wait::verdict(&self.outcomes, self.timeout)
    }
}

/// A progress bar per rollout followed; with `-v`, every change of status
/// as a line too.
struct Bars {
    progress: Progress,
    verbose: bool,
    bars: Mutex<HashMap<String, indicatif::ProgressBar>>,
}

impl Bars {
    fn new(app: &App) -> Self {
        Bars {
            progress: app.progress.clone(),
            verbose: app.global.verbose > 0,
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn show(&self, event: Event) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        match event {
            Event::Following { workload } => {
                let bar = self.progress.bar(&workload, 0);
                bars.insert(workload, bar);
            }
            Event::Progress { workload, progress } => {
                if self.verbose {
                    self.progress
                        .println(&format!("{workload}: {}", progress.message));
                }
                if let Some(bar) = bars.get(&workload) {
                    bar.set_length(progress.desired.max(0) as u64);
                    bar.set_position(progress.updated.max(0) as u64);
                    bar.set_message(progress.message);
                }
            }
            Event::Settled { workload } => {
                if let Some(bar) = bars.remove(&workload) {
                    bar.finish_and_clear();
                }
            }
        }
    }
}

fn outcomes_text(outcomes: &[RolloutOutcome]) -> String {
    let mut out = String::new();
    if outcomes.is_empty() {
        return out;
    }
    let mut t = table::new(&["workload", "outcome", "duration", "replaced", "status"]);
    for o in outcomes {
        let outcome = match o.outcome {
            Verdict::Complete => style::good(o.outcome.as_str()),
            Verdict::Failed => style::bad(o.outcome.as_str()),
            Verdict::TimedOut | Verdict::Interrupted => style::warn(o.outcome.as_str()),
            Verdict::NotWaited => o.outcome.as_str().to_string(),
        };
        t.add_row(vec![
            o.workload.clone(),
            outcome,
            format!("{:.1}s", o.duration_seconds),
            o.pods_replaced.len().to_string(),
            o.status.clone(),
        ]);
    }
    push_line!(out, "{}", table::render(&t));
    for o in outcomes {
        let Some(f) = &o.failure else { continue };
        push_line!(out);
        push_line!(
            out,
            "{} {}: {}",
            style::bad(&format!("{} failed", o.workload)),
            f.reason,
            f.message
        );
        if !f.logs.is_empty() {
            let whose = match (&f.pod, &f.container) {
                (Some(p), Some(c)) => format!(" of {p} ({c})"),
                (Some(p), None) => format!(" of {p}"),
                _ => String::new(),
            };
            push_line!(out, "  last {} log lines{whose}:", f.logs.len());
            for line in &f.logs {
                push_line!(out, "    {}", style::dim(line));
            }
        }
        if let Some(a) = &f.advice {
            push_line!(out, "  what to do: {a}");
        }
    }
    out
}
