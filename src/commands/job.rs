//! `oncall job ...`: call the domain in `crate::jobs`, render the result.

use std::io::IsTerminal;

use chrono::Utc;
use std::sync::Mutex;

use crate::app::App;
use crate::cli::JobCommand;
use crate::cli::OutputFormat;
use crate::cluster::Cluster;
use crate::error::Result;
use crate::jobs::run::{self, Event, Options};
use crate::jobs::{self, list, suspend};
use crate::safety::{self, Cancel, OpCtx, audit, op};
use crate::ui::progress::Progress;
use crate::ui::report::jobs::{JobRan, Toggled};
use crate::ui::{output, style, table};
use serde::Serialize;

pub(super) async fn run(app: &App, cmd: JobCommand) -> Result<()> {
    let cluster = app.cluster().await?;
    match cmd {
        JobCommand::List { all_namespaces } => list_cronjobs(app, cluster, all_namespaces).await,
        JobCommand::Run {
            cronjob,
            follow,
            no_follow,
            timeout,
            force,
        } => {
            // An engineer at a terminal wants to watch the job; a script
            // wants its outcome, and the log only when it failed.
            let follow = if follow || no_follow {
                follow
            } else {
                std::io::stdout().is_terminal() && !app.global.output.is_structured()
            };
            let opts = Options {
                force,
                follow,
                timeout,
            };
            run_now(app, cluster, &cronjob, opts).await
        }
        JobCommand::Suspend { cronjobs, reason } => {
            toggle(app, cluster, &cronjobs, true, reason.as_deref(), false).await
        }
        JobCommand::Resume { cronjobs, force } => {
            toggle(app, cluster, &cronjobs, false, None, force).await
        }
    }
}

async fn run_now(app: &App, cluster: &Cluster, target: &str, opts: Options) -> Result<()> {
    let name = jobs::parse_target(target)?;
    let user = audit::os_user();
    let (job, plan) = run::prepare(cluster, &cluster.namespace, &name, &user, opts).await?;
    let printer = Printer {
        progress: app.progress.clone(),
        structured: app.global.output.is_structured(),
        spinner: Mutex::new(None),
    };
    let observer = |e| printer.show(e);
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &observer);
    let ran = async || {
        let outcome = run::run(cluster, &job, &ctx).await;
        printer.done();
        outcome
    };
    let Some(outcome) = safety::execute(app, cluster, &plan, ran).await? else {
        return Ok(());
    };
    output::show(app.global.output, JobRan::new(outcome, job.opts.follow))
}

/// Prints what happens while the job runs: a spinner on stderr (plain
/// lines without a terminal) and the log on stdout, or on stderr when
/// stdout is JSON or YAML.
struct Printer {
    progress: Progress,
    /// Stdout carries JSON or YAML: the log goes to stderr.
    structured: bool,
    spinner: Mutex<Option<indicatif::ProgressBar>>,
}

impl Printer {
    fn show(&self, event: Event) {
        let Ok(mut spinner) = self.spinner.lock() else {
            return;
        };
        let say = |spinner: &Option<indicatif::ProgressBar>, line: &str, to_stdout: bool| {
            let print = || {
                if to_stdout {
                    outln!("{line}");
                } else {
                    eprintln!("{line}");
                }
            };
            match spinner {
                Some(s) => s.suspend(print),
                None => print(),
            }
        };
        match event {
            Event::Replaced { job } => say(
                &spinner,
                &format!("job/{job} deleted (concurrencyPolicy Replace)"),
                false,
            ),
            Event::Created { job } => {
                if self.progress.is_hidden() {
                    eprintln!("job/{job} created; waiting for it to finish");
                } else {
                    let s = self.progress.spinner(&format!("job/{job}"));
                    s.set_message("running");
                    *spinner = Some(s);
                }
            }
            Event::Pod { pod } => {
                if let Some(s) = spinner.as_ref() {
                    s.set_message(format!("running (pod {pod})"));
                }
                say(
                    &spinner,
                    &style::dim(&format!("--- log of pod {pod}")),
                    false,
                );
            }
            Event::Log { line } => say(&spinner, &line, !self.structured),
            Event::LogsUnavailable { why } => {
                say(&spinner, &style::dim(&format!("note: {why}.")), false)
            }
        }
    }

    /// Clears the spinner once the run is over.
    fn done(&self) {
        if let Some(s) = self.spinner.lock().ok().and_then(|mut s| s.take()) {
            s.finish_and_clear();
        }
    }
}

async fn toggle(
    app: &App,
    cluster: &Cluster,
    targets: &[String],
    suspending: bool,
    reason: Option<&str>,
    force: bool,
) -> Result<()> {
    let names = targets
        .iter()
        .map(|t| jobs::parse_target(t))
        .collect::<Result<Vec<_>>>()?;
    let user = audit::os_user();
    let ns = cluster.namespace.clone();
    let (toggle, plan) = if suspending {
        suspend::prepare_suspend(cluster, &ns, &names, reason).await?
    } else {
        suspend::prepare_resume(cluster, &ns, &names, &user, force).await?
    };
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &op::ignore);
    let toggled = async || suspend::run(cluster, &toggle, &ctx).await;
    match safety::execute(app, cluster, &plan, toggled).await? {
        Some(outcome) => output::show(app.global.output, Toggled::new(&toggle, outcome)),
        None => toggle.refusal(),
    }
}

async fn list_cronjobs(app: &App, cluster: &Cluster, all: bool) -> Result<()> {
    let namespace = (!all).then(|| cluster.namespace.clone());
    let rows = list::list(cluster, namespace.as_deref()).await?;
    output::show(app.global.output, CronJobs { rows, namespace })
}

/// The CronJobs of a namespace (`namespace`), or of all of them.
#[derive(Serialize)]
#[serde(transparent)]
struct CronJobs {
    rows: Vec<list::Row>,
    #[serde(skip)]
    namespace: Option<String>,
}

impl output::Report for CronJobs {
    fn human(&self, format: OutputFormat) -> String {
        if self.rows.is_empty() {
            return String::new();
        }
        let (rows, all) = (&self.rows, self.namespace.is_none());
        let wide = format == OutputFormat::Wide;
        let mut headers = vec![
            "name",
            "schedule",
            "suspended",
            "active",
            "last run",
            "outcome",
            "next run",
        ];
        if all {
            headers.insert(0, "namespace");
        }
        if wide {
            headers.extend(["containers", "images"]);
        }
        let mut t = table::new(&headers);
        let now = Utc::now();
        for r in rows {
            let suspended = match (&r.suspension, r.suspended) {
                (Some(note), _) => note.describe(),
                (None, true) => "yes (no oncall note)".into(),
                (None, false) => String::new(),
            };
            let (last, outcome) = match &r.last_run {
                Some(run) => (
                    format!(
                        "{} ({} ago{})",
                        run.job,
                        crate::age::since(run.started),
                        run.run_by
                            .as_ref()
                            .map(|b| format!(", by {b}"))
                            .unwrap_or_default()
                    ),
                    match run.state {
                        jobs::JobState::Succeeded => style::good("succeeded"),
                        jobs::JobState::Failed => style::bad("failed"),
                        jobs::JobState::Running => "running".into(),
                    },
                ),
                None => ("never".into(), String::new()),
            };
            let next = match (&r.next_run, &r.schedule_error) {
                _ if r.suspended => "none (suspended)".into(),
                (Some(at), _) => format!(
                    "{} (in {})",
                    at.format("%Y-%m-%d %H:%M UTC"),
                    crate::age::human(*at - now)
                ),
                (None, Some(e)) => e.clone(),
                (None, None) => String::new(),
            };
            let mut row = vec![
                r.name.clone(),
                match &r.time_zone {
                    Some(z) => format!("{} ({z})", r.schedule),
                    None => r.schedule.clone(),
                },
                suspended,
                r.active.len().to_string(),
                last,
                outcome,
                next,
            ];
            if all {
                row.insert(0, r.namespace.clone());
            }
            if wide {
                row.extend([r.containers.join(","), r.images.join(",")]);
            }
            t.add_row(row);
        }
        format!("{}\n", table::render(&t))
    }

    fn remarks(&self, _: OutputFormat) -> Vec<String> {
        if !self.rows.is_empty() {
            return Vec::new();
        }
        vec![style::dim(&match &self.namespace {
            Some(ns) => format!("No CronJobs in namespace `{ns}`."),
            None => "No CronJobs.".into(),
        })]
    }
}
