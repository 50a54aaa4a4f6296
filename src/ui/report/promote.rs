//! A promotion's or a rollback's report, as `oncall promote` and the
//! `promote` step show it.

use serde::Serialize;

use crate::error::Result;
use crate::promote::plan::PromotionPlan;
use crate::promote::run::PromoteReport;
use crate::ui::output::{OutputFormat, Report};
use crate::ui::style;

/// The release and where it is live. The data is `PromoteReport`.
#[derive(Serialize)]
#[serde(transparent)]
pub(crate) struct Promoted {
    report: PromoteReport,
    /// The namespace the release changed.
    #[serde(skip)]
    namespace: String,
}

impl Promoted {
    pub(crate) fn new(report: PromoteReport, namespace: &str) -> Self {
        Promoted {
            report,
            namespace: namespace.to_string(),
        }
    }

    /// Whether a release was started: if not, only the error has something
    /// to say.
    pub(crate) fn started(&self) -> bool {
        self.report.release.is_some()
    }
}

impl Report for Promoted {
    fn human(&self, _: OutputFormat) -> String {
        let r = &self.report;
        match (&r.outcome, r.release) {
            (Ok(()), Some(number)) => {
                let sha = r
                    .sha
                    .as_deref()
                    .map(|s| format!(" (git {s})"))
                    .unwrap_or_default();
                format!(
                    "{} release {number} is live in {}{sha}\n",
                    style::good("✓"),
                    self.namespace
                )
            }
            (Ok(()), None) => nothing_to_do(&r.plan),
            (Err(_), _) => String::new(),
        }
    }

    /// A ledger that could not record the end: the change stands, but
    /// `promote history` will not say how it went.
    fn warnings(&self) -> Vec<String> {
        self.report
            .ledger_error
            .iter()
            .map(|e| format!("could not update the release ledger: {e}"))
            .collect()
    }

    fn summary(&self) -> String {
        match self.report.release {
            Some(number) => format!("release {number} is live in {}", self.namespace),
            None => nothing_to_do_because(&self.report.plan).to_lowercase(),
        }
    }

    fn finish(self) -> Result<()> {
        self.report.outcome
    }
}

/// A promotion with nothing to change; its data is the plan.
#[derive(Serialize)]
#[serde(transparent)]
pub(crate) struct NothingToPromote<'a>(pub &'a PromotionPlan);

impl Report for NothingToPromote<'_> {
    fn human(&self, _: OutputFormat) -> String {
        nothing_to_do(self.0)
    }
}

/// Why a promotion has nothing to change: the target runs the source's
/// images already, or runs none of its workloads (a promotion changes the
/// images of workloads both sides run; it creates none).
fn nothing_to_do_because(plan: &PromotionPlan) -> String {
    if plan.unchanged.is_empty() {
        format!(
            "Nothing to do: {} runs none of the workloads of {}",
            plan.target, plan.source
        )
    } else {
        format!(
            "Nothing to do: {} already runs what {} runs",
            plan.target, plan.source
        )
    }
}

fn nothing_to_do(plan: &PromotionPlan) -> String {
    let mut out = String::new();
    push_line!(out, "{}.", nothing_to_do_because(plan));
    for id in &plan.only_in_source {
        push_line!(out, "  note: `{id}` exists only in {}", plan.source);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::ui::output;

    fn report(outcome: Result<()>, ledger_error: Option<&str>) -> PromoteReport {
        PromoteReport {
            release: Some(7),
            result: "unknown".into(),
            plan: PromotionPlan::new("staging", "production"),
            migration: None,
            sha: Some("abc123".into()),
            ledger_error: ledger_error.map(str::to_string),
            outcome,
        }
    }

    #[test]
    fn a_ledger_that_could_not_be_updated_is_a_warning_in_the_step_text() {
        let shown = Promoted::new(report(Ok(()), Some("conflict")), "production");
        assert_eq!(
            output::plain(&shown),
            "warning: could not update the release ledger: conflict\n\
             ✓ release 7 is live in production (git abc123)"
        );
        assert_eq!(shown.summary(), "release 7 is live in production");
        assert!(shown.finish().is_ok());
    }

    #[test]
    fn a_failed_release_shows_nothing_and_hands_over_its_error() {
        let failed = Err(Error::Failed("`deployment/web` failed".into()));
        let shown = Promoted::new(report(failed, None), "production");
        assert_eq!(output::plain(&shown), "");
        let err = shown.finish().unwrap_err();
        assert!(err.to_string().contains("deployment/web"), "{err}");
    }
}
