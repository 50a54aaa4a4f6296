//! The runbook actions `restart` and `rollout_status`: the same resolve →
//! inspect → plan → apply → wait path as the commands, without prompts
//! (the runbook engine asks before each mutating step).

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use super::inspect::Facts;
use super::resolve::ambiguity_error;
use super::{Resolved, RolloutOutcome, Verdict, WorkloadRef, inspect, plan, resolve, restart};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::safety::Plan;

async fn facts(
    cluster: &Cluster,
    namespace: &str,
    targets: &[String],
    selector: Option<&str>,
    command: &str,
) -> Result<Vec<Facts>> {
    let mut refs: Vec<WorkloadRef> = Vec::new();
    for r in resolve(cluster, namespace, targets, selector).await? {
        match r {
            Resolved::One(w) => refs.push(w),
            Resolved::Ambiguous { name, candidates } => {
                return Err(ambiguity_error(&name, &candidates, command));
            }
        }
    }
    let mut out = Vec::new();
    for r in &refs {
        out.push(inspect(cluster, r).await?);
    }
    Ok(out)
}

/// Fills a step's plan with what `restart` would change.
pub async fn plan_restart(
    cluster: &Cluster,
    namespace: &str,
    targets: &[String],
    selector: Option<&str>,
    bad_pods: bool,
    into: &mut Plan,
) -> Result<()> {
    let facts = facts(cluster, namespace, targets, selector, "restart").await?;
    if bad_pods {
        plan::bad_pod_changes(into, &facts);
    } else {
        plan::restart_changes(into, &facts);
    }
    Ok(())
}

/// Restarts (or evicts the broken pods of) the workloads and waits for
/// their rollouts. Returns the step's output (restarted, evictions,
/// rollouts, as `restart -o json`) and a line of text.
pub async fn run_restart(
    cluster: &Cluster,
    namespace: &str,
    targets: &[String],
    selector: Option<&str>,
    bad_pods: bool,
    timeout: Duration,
) -> Result<(Value, String)> {
    let facts = facts(cluster, namespace, targets, selector, "restart").await?;
    if !bad_pods {
        restart::refuse_paused(&facts)?;
    }
    let applied = restart::apply(cluster, &facts, bad_pods, Utc::now()).await;
    if crate::safety::interrupt::is_interrupted() {
        return Err(Error::Interrupted {
            done: join_or_nothing(&applied.done),
            not_done: join_or_nothing(&applied.not_done),
        });
    }
    if let Some(e) = applied.error {
        return Err(e);
    }
    let refused: Vec<String> = applied
        .evictions
        .iter()
        .filter(|e| !e.evicted)
        .map(|e| format!("`{}` ({})", e.pod, e.error.as_deref().unwrap_or("?")))
        .collect();
    let rollouts = wait_all(cluster, &applied.to_follow, &applied.baselines, timeout).await?;
    let output = json!({
        "restarted": applied.restarted.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
        "evictions": applied.evictions,
        "rollouts": rollouts,
    });
    judge(&rollouts, timeout)?;
    if !refused.is_empty() {
        return Err(Error::Failed(format!(
            "{} pod(s) could not be evicted: {}",
            refused.len(),
            refused.join("; ")
        )));
    }
    let text = if applied.done.is_empty() {
        "nothing to restart".to_string()
    } else {
        format!("{}; {}", applied.done.join(", "), summary(&rollouts))
    };
    Ok((output, text))
}

/// Waits for one workload's rollout, like `oncall rollout status`.
pub async fn run_rollout_status(
    cluster: &Cluster,
    namespace: &str,
    target: &str,
    timeout: Duration,
) -> Result<(Value, String)> {
    let facts = facts(
        cluster,
        namespace,
        &[target.to_string()],
        None,
        "rollout status",
    )
    .await?;
    let refs: Vec<WorkloadRef> = facts.into_iter().map(|f| f.workload).collect();
    let rollouts = wait_all(cluster, &refs, &Default::default(), timeout).await?;
    judge(&rollouts, timeout)?;
    let output = serde_json::to_value(&rollouts).unwrap_or_default();
    Ok((output, summary(&rollouts)))
}

async fn wait_all(
    cluster: &Cluster,
    refs: &[WorkloadRef],
    baselines: &std::collections::HashMap<WorkloadRef, std::collections::BTreeMap<String, String>>,
    timeout: Duration,
) -> Result<Vec<RolloutOutcome>> {
    let waits = refs.iter().map(|r| {
        let baseline = baselines.get(r).cloned();
        super::wait_for_rollout_from(&cluster.client, r, baseline, timeout, |_| {})
    });
    futures::future::join_all(waits).await.into_iter().collect()
}

fn judge(rollouts: &[RolloutOutcome], timeout: Duration) -> Result<()> {
    for o in rollouts {
        match o.outcome {
            Verdict::Failed => {
                let mut msg = format!("the rollout of `{}` failed", o.workload);
                if let Some(f) = &o.failure {
                    msg.push_str(&format!(": {}", f.message));
                    if let Some(a) = &f.advice {
                        msg.push_str(&format!("; {a}"));
                    }
                }
                return Err(Error::Failed(msg));
            }
            Verdict::TimedOut => {
                return Err(Error::TimedOut {
                    after: humantime::format_duration(timeout).to_string(),
                    what: format!("`{}` is still rolling out ({})", o.workload, o.status),
                });
            }
            Verdict::Interrupted => {
                return Err(Error::Interrupted {
                    done: "the change was made".into(),
                    not_done: format!("stopped waiting for `{}`", o.workload),
                });
            }
            Verdict::Complete | Verdict::NotWaited => {}
        }
    }
    Ok(())
}

fn summary(rollouts: &[RolloutOutcome]) -> String {
    rollouts
        .iter()
        .map(|o| format!("{}: {}", o.workload, o.status))
        .collect::<Vec<_>>()
        .join("; ")
}

fn join_or_nothing(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".into()
    } else {
        items.join(", ")
    }
}
