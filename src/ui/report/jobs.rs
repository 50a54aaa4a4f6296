//! A CronJob's run and a suspension or resumption, as `oncall job ...` and
//! the job steps show them.

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::error::Result;
use crate::jobs::run::{Outcome, Report as RunReport, Verdict};
use crate::jobs::suspend::Toggle;
use crate::safety::each::EachOutcome;
use crate::ui::output::{OutputFormat, Report};
use crate::ui::style;

/// How a run of a CronJob's job ended. Its data is `jobs::run::Report`.
#[derive(Serialize)]
#[serde(transparent)]
pub(crate) struct JobRan {
    report: RunReport,
    /// Whether the log was followed as it ran (then it is not repeated).
    #[serde(skip)]
    followed: bool,
    #[serde(skip)]
    result: Result<()>,
}

impl JobRan {
    pub(crate) fn new(outcome: Outcome, followed: bool) -> Self {
        JobRan {
            report: outcome.report,
            followed,
            result: outcome.result,
        }
    }
}

impl Report for JobRan {
    fn human(&self, _: OutputFormat) -> String {
        let mut out = String::new();
        let report = &self.report;
        let Some(job) = &report.job else {
            return out;
        };
        let took = format!("{:.1}s", report.duration_seconds);
        let pod = report
            .pod
            .as_ref()
            .map(|p| format!(", pod {p}"))
            .unwrap_or_default();
        match report.outcome {
            Verdict::Succeeded => {
                push_line!(out, "job/{job} {} in {took}{pod}", style::good("succeeded"))
            }
            Verdict::Failed => {
                let code = report
                    .exit_code
                    .map(|c| format!(", exit code {c}"))
                    .unwrap_or_default();
                push_line!(
                    out,
                    "job/{job} {} after {took}{pod}{code}",
                    style::bad("failed")
                );
                if !self.followed && !report.log_tail.is_empty() {
                    push_line!(out, "  last {} log lines:", report.log_tail.len());
                    for line in &report.log_tail {
                        push_line!(out, "    {}", style::dim(line));
                    }
                }
            }
            Verdict::TimedOut => {
                push_line!(
                    out,
                    "job/{job} {} after {took}",
                    style::warn("still running")
                )
            }
            Verdict::Interrupted | Verdict::NotStarted => {}
        }
        out
    }

    /// The job's line, without its log.
    fn summary(&self) -> String {
        let text = self.human(OutputFormat::Table);
        match text.lines().next() {
            Some(line) => console::strip_ansi_codes(line).into_owned(),
            None => format!("no job was started from cronjob/{}", self.report.cronjob),
        }
    }

    fn finish(self) -> Result<()> {
        self.result
    }
}

/// A suspension's or a resumption's report: a line per CronJob changed.
/// Its data names them under `suspended` or `resumed`.
pub(crate) struct Toggled<'a> {
    toggle: &'a Toggle,
    outcome: EachOutcome,
}

impl<'a> Toggled<'a> {
    pub(crate) fn new(toggle: &'a Toggle, outcome: EachOutcome) -> Self {
        Toggled { toggle, outcome }
    }
}

impl Serialize for Toggled<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.outcome.verb, &self.outcome.done)?;
        map.end()
    }
}

impl Report for Toggled<'_> {
    fn human(&self, _: OutputFormat) -> String {
        super::each_done("cronjob", &self.outcome.done, self.outcome.verb)
    }

    /// The last CronJob's line, or that none needed it.
    fn summary(&self) -> String {
        match self.outcome.done.last() {
            Some(name) => format!("cronjob/{name} {}", self.outcome.verb),
            None => format!(
                "nothing to do: no CronJob needed to be {}",
                self.outcome.verb
            ),
        }
    }

    /// The run's own error (Ctrl-C, a failed patch), else the CronJobs
    /// someone else suspended, left as they are.
    fn finish(self) -> Result<()> {
        let toggle = self.toggle;
        self.outcome.result?;
        toggle.refusal()
    }
}
