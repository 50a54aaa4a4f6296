//! `oncall restart` and `oncall rollout status`: render what
//! `crate::workloads` finds and does.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use crate::app::App;
use crate::cli::RestartArgs;
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::safety::{self, Plan, audit, interrupt};
use crate::ui::{output, prompt, style, table};
use crate::workloads::inspect::Facts;
use crate::workloads::resolve::ambiguity_error;
use crate::workloads::restart::EvictionResult;
use crate::workloads::{self, Resolved, RolloutOutcome, Verdict, WorkloadRef, restart as change};

/// Resolves the arguments; a bare name several kinds carry is asked about
/// on a terminal and refused (with the candidates) without one.
async fn targets(
    cluster: &Cluster,
    names: &[String],
    selector: Option<&str>,
    command: &str,
) -> Result<Vec<WorkloadRef>> {
    let mut out = Vec::new();
    for r in workloads::resolve(cluster, &cluster.namespace, names, selector).await? {
        match r {
            Resolved::One(w) => out.push(w),
            Resolved::Ambiguous { name, candidates } => {
                if !prompt::stdin_is_terminal() {
                    return Err(ambiguity_error(&name, &candidates, command));
                }
                let items: Vec<String> = candidates.iter().map(|c| c.to_string()).collect();
                let i = prompt::choose(
                    &format!("`{name}` names several workloads; which one?"),
                    &items,
                )?;
                out.push(candidates[i].clone());
            }
        }
    }
    out.dedup();
    Ok(out)
}

/// What `restart -o json` prints.
#[derive(Debug, Serialize)]
struct RestartReport {
    /// Workloads whose pod template was patched (`kind/name`).
    restarted: Vec<String>,
    /// Broken pods evicted with `--bad-pods`, and the ones the API refused.
    evictions: Vec<EvictionResult>,
    /// The rollouts that followed, one per workload.
    rollouts: Vec<RolloutOutcome>,
}

pub async fn restart(app: &App, args: RestartArgs) -> Result<()> {
    let cluster = app.cluster().await?;
    let targets = targets(
        cluster,
        &args.workloads,
        args.selector.as_deref(),
        "restart",
    )
    .await?;
    let mut facts = Vec::new();
    for t in &targets {
        facts.push(workloads::inspect(cluster, t).await?);
    }
    if !args.bad_pods {
        change::refuse_paused(&facts)?;
    }
    let (action, changes): (&str, fn(&mut Plan, &[Facts])) = if args.bad_pods {
        ("evict broken pods", workloads::plan::bad_pod_changes)
    } else {
        ("rolling restart", workloads::plan::restart_changes)
    };
    let mut plan = Plan::new(action, cluster);
    changes(&mut plan, &facts);
    let answer = safety::approve(app, cluster, &plan)?;
    if !answer.proceeds() {
        return Ok(());
    }

    // Apply, stopping cleanly between operations on Ctrl-C.
    let applied = change::apply(cluster, &facts, args.bad_pods, Utc::now()).await;
    let (done, not_done) = (applied.done.clone(), applied.not_done.clone());
    if interrupt::is_interrupted() {
        let err = Error::Interrupted {
            done: list_or_nothing(&done),
            not_done: list_or_nothing(&not_done),
        };
        record(app, cluster, &plan, answer, &err, &done, &not_done)?;
        return Err(err);
    }
    if let Some(err) = applied.error {
        record(app, cluster, &plan, answer, &err, &done, &not_done)?;
        return Err(err);
    }
    let to_follow = applied.to_follow;
    let mut report = RestartReport {
        restarted: applied.restarted.iter().map(|w| w.to_string()).collect(),
        evictions: applied.evictions,
        rollouts: Vec::new(),
    };
    if args.no_wait {
        report.rollouts = to_follow
            .iter()
            .map(|w| RolloutOutcome::not_waited(w, "restart requested; not waiting (--no-wait)"))
            .collect();
    } else {
        report.rollouts =
            follow(app, cluster, &to_follow, &applied.baselines, args.timeout).await?;
    }
    let result = verdict(&report.rollouts, args.timeout).and_then(|()| {
        let refused: Vec<&EvictionResult> =
            report.evictions.iter().filter(|e| !e.evicted).collect();
        if refused.is_empty() {
            Ok(())
        } else {
            Err(Error::Failed(format!(
                "{} pod(s) could not be evicted: {}",
                refused.len(),
                refused
                    .iter()
                    .map(|e| format!("`{}` ({})", e.pod, e.error.as_deref().unwrap_or("?")))
                    .collect::<Vec<_>>()
                    .join("; ")
            )))
        }
    });
    match &result {
        Ok(()) => audit::record(
            app,
            cluster,
            &plan,
            answer,
            &audit::Outcome {
                done: done.clone(),
                ..audit::Outcome::ok(summary(&report.rollouts))
            },
        )?,
        Err(e) => record(app, cluster, &plan, answer, e, &done, &not_done)?,
    }
    if app.global.output.is_structured() {
        output::print(app.global.output, &report)?;
    } else {
        if !report.evictions.is_empty() {
            let mut t = table::new(&["pod", "workload", "reason", "result"]);
            for e in &report.evictions {
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
        render_outcomes(&report.rollouts);
    }
    result
}

pub async fn rollout_status(app: &App, names: Vec<String>, timeout: Duration) -> Result<()> {
    let cluster = app.cluster().await?;
    let targets = targets(cluster, &names, None, "rollout status").await?;
    let outcomes = follow(app, cluster, &targets, &Default::default(), timeout).await?;
    if app.global.output.is_structured() {
        output::print(app.global.output, &outcomes)?;
    } else {
        render_outcomes(&outcomes);
    }
    verdict(&outcomes, timeout)
}

/// Waits for every workload at once, with a progress bar each.
async fn follow(
    app: &App,
    cluster: &Cluster,
    targets: &[WorkloadRef],
    baselines: &HashMap<WorkloadRef, BTreeMap<String, String>>,
    timeout: Duration,
) -> Result<Vec<RolloutOutcome>> {
    let waits = targets.iter().map(|t| {
        let bar = app.progress.bar(&t.to_string(), 0);
        let client = cluster.client.clone();
        let verbose = app.global.verbose > 0;
        let baseline = baselines.get(t).cloned();
        async move {
            let outcome = workloads::wait_for_rollout_from(&client, t, baseline, timeout, |p| {
                if verbose {
                    app.progress.println(&format!("{t}: {}", p.message));
                }
                bar.set_length(p.desired.max(0) as u64);
                bar.set_position(p.updated.max(0) as u64);
                bar.set_message(p.message.clone());
            })
            .await;
            bar.finish_and_clear();
            outcome
        }
    });
    futures::future::join_all(waits).await.into_iter().collect()
}

/// The command's result: failures first (exit 1), then timeouts (exit 5),
/// then Ctrl-C.
fn verdict(outcomes: &[RolloutOutcome], timeout: Duration) -> Result<()> {
    let with = |v: Verdict| -> Vec<&RolloutOutcome> {
        outcomes.iter().filter(|o| o.outcome == v).collect()
    };
    let names = |os: &[&RolloutOutcome]| {
        os.iter()
            .map(|o| format!("`{}`", o.workload))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let failed = with(Verdict::Failed);
    if !failed.is_empty() {
        let first = failed[0].failure.as_ref();
        let why = first
            .map(|f| format!(": {}", f.message))
            .unwrap_or_default();
        return Err(Error::Failed(format!(
            "the rollout of {} failed{why}",
            names(&failed)
        )));
    }
    let timed_out = with(Verdict::TimedOut);
    if !timed_out.is_empty() {
        return Err(Error::TimedOut {
            after: humantime::format_duration(timeout).to_string(),
            what: format!(
                "{} still rolling out ({}); keep watching with `oncall rollout status`, or pass a longer --timeout",
                names(&timed_out),
                timed_out[0].status
            ),
        });
    }
    let interrupted = with(Verdict::Interrupted);
    if !interrupted.is_empty() {
        let finished: Vec<&RolloutOutcome> = outcomes
            .iter()
            .filter(|o| o.outcome != Verdict::Interrupted)
            .collect();
        return Err(Error::Interrupted {
            done: if finished.is_empty() {
                "no rollout had finished".into()
            } else {
                format!("{} finished", names(&finished))
            },
            not_done: format!(
                "stopped waiting for {} (the rollout itself goes on)",
                names(&interrupted)
            ),
        });
    }
    Ok(())
}

fn summary(outcomes: &[RolloutOutcome]) -> String {
    outcomes
        .iter()
        .map(|o| format!("{}: {}", o.workload, o.outcome.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn list_or_nothing(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".into()
    } else {
        items.join(", ")
    }
}

fn record(
    app: &App,
    cluster: &Cluster,
    plan: &Plan,
    answer: safety::Answer,
    err: &Error,
    done: &[String],
    not_done: &[String],
) -> Result<()> {
    let mut outcome = audit::Outcome::from_error(err);
    outcome.done = done.to_vec();
    outcome.not_done = not_done.to_vec();
    audit::record(app, cluster, plan, answer, &outcome)
}

fn render_outcomes(outcomes: &[RolloutOutcome]) {
    if outcomes.is_empty() {
        return;
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
    outln!("{}", table::render(&t));
    for o in outcomes {
        let Some(f) = &o.failure else { continue };
        outln!();
        outln!(
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
            outln!("  last {} log lines{whose}:", f.logs.len());
            for line in &f.logs {
                outln!("    {}", style::dim(line));
            }
        }
        if let Some(a) = &f.advice {
            outln!("  what to do: {a}");
        }
    }
}
