//! `oncall restart` and `oncall rollout status`: render what
//! `crate::workloads` finds and does.

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
use crate::workloads::{
    self, Kind, Resolved, RolloutOutcome, Verdict, WorkloadRef, restart as change,
};

/// Resolves the arguments; a bare name several kinds carry is asked about
/// on a terminal and refused (with the candidates) without one.
async fn targets(
    cluster: &Cluster,
    names: &[String],
    selector: Option<&str>,
    command: &str,
) -> Result<Vec<WorkloadRef>> {
    let mut out = Vec::new();
    for r in workloads::resolve(cluster, names, selector).await? {
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

#[derive(Debug, Serialize)]
struct EvictionResult {
    pod: String,
    workload: String,
    reason: String,
    evicted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
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
    if !args.bad_pods
        && let Some(f) = facts.iter().find(|f| f.paused)
    {
        let name = &f.workload.name;
        return Err(Error::Failed(format!(
            "deployment `{name}` is paused, so a restart would not roll out; resume it first: `kubectl rollout resume deployment/{name} -n {}`",
            f.workload.namespace
        )));
    }
    let plan = if args.bad_pods {
        bad_pods_plan(cluster, &facts)
    } else {
        restart_plan(cluster, &facts)
    };
    let answer = safety::approve(app, cluster, &plan)?;
    if !answer.proceeds() {
        return Ok(());
    }

    // Apply, stopping cleanly between operations on Ctrl-C.
    let mut report = RestartReport {
        restarted: Vec::new(),
        evictions: Vec::new(),
        rollouts: Vec::new(),
    };
    let mut to_follow: Vec<WorkloadRef> = Vec::new();
    let mut done: Vec<String> = Vec::new();
    let mut not_done: Vec<String> = Vec::new();
    let mut apply_error: Option<Error> = None;
    let at = Utc::now();
    for f in &facts {
        if args.bad_pods {
            let mut evicted_any = false;
            for b in f.broken.iter().filter(|b| b.problem.reason.replaceable()) {
                if interrupt::is_interrupted() || apply_error.is_some() {
                    not_done.push(format!("evict pod/{}", b.name));
                    continue;
                }
                let result = change::evict(cluster, &f.workload.namespace, &b.name).await;
                let error = result.as_ref().err().map(|e| e.to_string());
                if let Err(
                    e @ (Error::Unreachable { .. }
                    | Error::Unauthorized { .. }
                    | Error::Forbidden { .. }),
                ) = result
                {
                    apply_error = Some(e);
                }
                match &error {
                    None => {
                        evicted_any = true;
                        done.push(format!("evict pod/{}", b.name));
                    }
                    Some(_) => not_done.push(format!("evict pod/{}", b.name)),
                }
                report.evictions.push(EvictionResult {
                    pod: b.name.clone(),
                    workload: f.workload.to_string(),
                    reason: b.problem.reason.to_string(),
                    evicted: error.is_none(),
                    error,
                });
            }
            if evicted_any {
                to_follow.push(f.workload.clone());
            }
        } else {
            if f.no_restart.is_some() {
                continue;
            }
            if interrupt::is_interrupted() || apply_error.is_some() {
                not_done.push(format!("restart {}", f.workload));
                continue;
            }
            match change::rolling_restart(cluster, &f.workload, at).await {
                Ok(()) => {
                    done.push(format!("restart {}", f.workload));
                    report.restarted.push(f.workload.to_string());
                    to_follow.push(f.workload.clone());
                }
                Err(e) => {
                    not_done.push(format!("restart {}", f.workload));
                    apply_error = Some(e);
                }
            }
        }
    }
    if interrupt::is_interrupted() {
        let err = Error::Interrupted {
            done: list_or_nothing(&done),
            not_done: list_or_nothing(&not_done),
        };
        record(app, cluster, &plan, answer, &err, &done, &not_done)?;
        return Err(err);
    }
    if let Some(err) = apply_error {
        record(app, cluster, &plan, answer, &err, &done, &not_done)?;
        return Err(err);
    }

    if args.no_wait {
        report.rollouts = to_follow
            .iter()
            .map(|w| RolloutOutcome::not_waited(w, "restart requested; not waiting (--no-wait)"))
            .collect();
    } else {
        report.rollouts = follow(app, cluster, &to_follow, args.timeout).await?;
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
            println!("{}\n", table::render(&t));
        }
        render_outcomes(&report.rollouts);
    }
    result
}

fn restart_plan(cluster: &Cluster, facts: &[Facts]) -> Plan {
    let mut plan = Plan::new("rolling restart", cluster);
    for f in facts {
        let target = f.workload.to_string();
        if let Some(why) = &f.no_restart {
            plan.skip(target, why.clone());
            continue;
        }
        let outage = match &f.outage {
            Some(_) => "OUTAGE",
            None => "no outage",
        };
        plan.change(
            target.clone(),
            "restart",
            format!(
                "{} replicas, {}, {}, {}, {outage}",
                f.replicas,
                f.strategy,
                f.pdb_text(),
                f.health()
            ),
        );
        if let Some(o) = &f.outage {
            plan.warn(format!("{target}: the restart causes an outage: {o}"));
        }
        if !f.broken.is_empty() {
            plan.warn(format!(
                "{target} has {} broken pod(s) now ({}); if its template is at fault the new pods will fail too, and the wait stops as soon as they do",
                f.broken.len(),
                f.health()
            ));
        }
    }
    plan
}

fn bad_pods_plan(cluster: &Cluster, facts: &[Facts]) -> Plan {
    let mut plan = Plan::new("evict broken pods", cluster);
    for f in facts {
        let target = f.workload.to_string();
        let mut evicting = 0;
        for b in &f.broken {
            let where_ = b
                .node
                .as_deref()
                .map(|n| format!(" on {n}"))
                .unwrap_or_default();
            if b.problem.reason.replaceable() {
                evicting += 1;
                plan.change(
                    format!("pod/{}", b.name),
                    "evict",
                    format!(
                        "{target}: {}{where_}: {}",
                        b.problem.reason, b.problem.message
                    ),
                );
                if b.problem.reason == workloads::pods::Reason::Unknown
                    && f.workload.kind == Kind::StatefulSet
                {
                    plan.warn(format!(
                        "pod/{} is on a node that stopped reporting: it stays Terminating, and its StatefulSet cannot recreate it, until the node is gone or you force-delete it (`kubectl delete pod {} --force`) once you are sure the node is down",
                        b.name, b.name
                    ));
                }
            } else {
                plan.skip(
                    format!("pod/{}", b.name),
                    format!(
                        "{}: a new pod would fail the same way: {}",
                        b.problem.reason, b.problem.message
                    ),
                );
            }
        }
        if !f.healthy.is_empty() {
            plan.skip(
                format!("{target}: {} pod(s)", f.healthy.len()),
                "healthy: left alone",
            );
        }
        if evicting > 0
            && let Some(p) = &f.pdb
            && p.disruptions_allowed == 0
        {
            plan.warn(format!(
                "{target}: PDB {} allows no disruption now; the API server may refuse some evictions",
                p.name
            ));
        }
    }
    plan
}

pub async fn rollout_status(app: &App, names: Vec<String>, timeout: Duration) -> Result<()> {
    let cluster = app.cluster().await?;
    let targets = targets(cluster, &names, None, "rollout status").await?;
    let outcomes = follow(app, cluster, &targets, timeout).await?;
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
    timeout: Duration,
) -> Result<Vec<RolloutOutcome>> {
    let waits = targets.iter().map(|t| {
        let bar = app.progress.bar(&t.to_string(), 0);
        let client = cluster.client.clone();
        let verbose = app.global.verbose > 0;
        async move {
            let outcome = workloads::wait_for_rollout(&client, t, timeout, |p| {
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
    println!("{}", table::render(&t));
    for o in outcomes {
        let Some(f) = &o.failure else { continue };
        println!();
        println!(
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
            println!("  last {} log lines{whose}:", f.logs.len());
            for line in &f.logs {
                println!("    {}", style::dim(line));
            }
        }
        if let Some(a) = &f.advice {
            println!("  what to do: {a}");
        }
    }
}
