//! A restart's report and a rollout's, as `oncall restart`, `oncall
//! rollout status` and their runbook steps show them.

use std::time::Duration;

use serde::Serialize;

use crate::error::Result;
use crate::ui::output::{OutputFormat, Report};
use crate::ui::{style, table};
use crate::workloads::restart::RestartOutcome;
use crate::workloads::{RolloutOutcome, Verdict};

/// A restart: the broken pods evicted, then each rollout followed. Its
/// data is `RestartOutcome`.
#[derive(Serialize)]
#[serde(transparent)]
pub(crate) struct Restarted(pub RestartOutcome);

impl Report for Restarted {
    fn human(&self, _: OutputFormat) -> String {
        let mut out = String::new();
        if !self.0.evictions.is_empty() {
            let mut t = table::new(&["pod", "workload", "reason", "result"]);
            for e in &self.0.evictions {
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
            push_line!(out, "{}\n", table::render(&t));
        }
        out.push_str(&outcomes_text(&self.0.rollouts));
        out
    }

    /// `deployment/web; deployment/web: <its last status>`.
    fn summary(&self) -> String {
        if self.0.done.is_empty() {
            "nothing to restart".to_string()
        } else {
            format!("{}; {}", self.0.done.join(", "), statuses(&self.0.rollouts))
        }
    }

    fn finish(mut self) -> Result<()> {
        self.0.take_result()
    }
}

/// `rollout status`'s report: each rollout followed, judged against the
/// `--timeout` it was given.
#[derive(Serialize)]
#[serde(transparent)]
pub(crate) struct Rollouts {
    outcomes: Vec<RolloutOutcome>,
    #[serde(skip)]
    timeout: Duration,
}

impl Rollouts {
    pub(crate) fn new(outcomes: Vec<RolloutOutcome>, timeout: Duration) -> Self {
        Rollouts { outcomes, timeout }
    }
}

impl Report for Rollouts {
    fn human(&self, _: OutputFormat) -> String {
        outcomes_text(&self.outcomes)
    }

    fn summary(&self) -> String {
        statuses(&self.outcomes)
    }

    fn exit(&self) -> Result<()> {
        crate::workloads::wait::verdict(&self.outcomes, self.timeout)
    }
}

/// Each rollout's last status, in one line.
fn statuses(rollouts: &[RolloutOutcome]) -> String {
    rollouts
        .iter()
        .map(|o| format!("{}: {}", o.workload, o.status))
        .collect::<Vec<_>>()
        .join("; ")
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
