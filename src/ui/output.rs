//! Structured output (`-o json|yaml`) of documented serde types.

use serde::Serialize;

use super::fit;
use crate::error::{Error, Result};

/// `-o`: how a command prints its result. The variants' comments are the
/// help text of `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OutputFormat {
    /// A human-readable table
    Table,
    /// A table with more columns, one row per object
    Wide,
    /// Stable JSON for scripts
    Json,
    /// Stable YAML for scripts
    Yaml,
}

impl OutputFormat {
    pub(crate) fn is_structured(self) -> bool {
        matches!(self, OutputFormat::Json | OutputFormat::Yaml)
    }
}

/// Prints `value` as JSON or YAML on stdout. Table formats are the caller's job.
pub(crate) fn print<T: Serialize>(format: OutputFormat, value: &T) -> Result<()> {
    let text = render(format, value)?;
    outln!("{}", text.trim_end());
    Ok(())
}

pub(crate) fn render<T: Serialize>(format: OutputFormat, value: &T) -> Result<String> {
    match format {
        OutputFormat::Yaml => serde_saphyr::to_string(value)
            .map_err(|e| Error::Failed(format!("cannot render YAML: {e}"))),
        _ => serde_json::to_string_pretty(value)
            .map_err(|e| Error::Failed(format!("cannot render JSON: {e}"))),
    }
}

/// What a command reports, in one shape: the data `-o json|yaml` prints, the
/// text a person reads, and how the command exits once it is shown. A
/// runbook step that runs the same procedure shows the same report: its
/// `data` is the serialized report and its text `plain(report)`.
pub(crate) trait Report: Serialize {
    /// The text for a terminal (`-o table`, or `-o wide` where the report
    /// has more to show).
    fn human(&self, format: OutputFormat) -> String;

    /// What went wrong beside the findings, on stderr whatever the format
    /// (`warning: ...`), and at the top of a runbook step's text.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// What a person should know beside the report, on stderr (no matches,
    /// hidden columns, contexts left out), styled: never shown with
    /// structured output, which says it all.
    fn remarks(&self, _format: OutputFormat) -> Vec<String> {
        Vec::new()
    }

    /// The report in one line: the last line of its text.
    fn summary(&self) -> String {
        let text = self.human(OutputFormat::Table);
        let line = text.lines().rev().find(|l| !l.trim().is_empty());
        console::strip_ansi_codes(line.unwrap_or_default().trim()).into_owned()
    }

    /// How the command ends after showing the report: `Ok`, or the error
    /// (and so the exit code) its findings call for.
    fn exit(&self) -> Result<()> {
        Ok(())
    }

    /// `exit` for a report that owns its procedure's error (not `Clone`):
    /// it hands the error over instead of copying it.
    fn finish(self) -> Result<()>
    where
        Self: Sized,
    {
        self.exit()
    }
}

/// A report lent out is the same report; only the owner can hand over an
/// error it holds, so a lent one ends with `exit`.
impl<R: Report + ?Sized> Report for &R {
    fn human(&self, format: OutputFormat) -> String {
        (**self).human(format)
    }

    fn warnings(&self) -> Vec<String> {
        (**self).warnings()
    }

    fn remarks(&self, format: OutputFormat) -> Vec<String> {
        (**self).remarks(format)
    }

    fn summary(&self) -> String {
        (**self).summary()
    }

    fn exit(&self) -> Result<()> {
        (**self).exit()
    }
}

/// Shows a report as asked, structured or for a person (the one place that
/// chooses), and returns how the command exits.
pub(crate) fn show(format: OutputFormat, report: impl Report) -> Result<()> {
    let warnings = report.warnings();
    for warning in &warnings {
        let line = format!("{} {warning}", crate::ui::style::warn("warning:"));
        eprintln!("{}", fit::to_terminal(&line, fit::Stream::Stderr));
    }
    if format.is_structured() {
        print(format, &report)?;
    } else {
        let text = report.human(format);
        out!("{}", fit::to_terminal(&text, fit::Stream::Stdout));
        for remark in report.remarks(format) {
            eprintln!("{}", fit::to_terminal(&remark, fit::Stream::Stderr));
        }
        let shown = warnings.join("\n") + &text;
        if let Some(note) = crate::suggest::sandbox_kubectl_note(&shown) {
            crate::ui::style::note(&note);
        }
    }
    report.finish()
}

/// Shows a report only to a person (a plan before the change): structured
/// output carries the command's result alone.
pub(crate) fn show_to_person(format: OutputFormat, report: impl Report) -> Result<()> {
    if format.is_structured() {
        return report.finish();
    }
    show(format, report)
}

/// The report's text without colour, its warnings first: a runbook step's
/// text, kept in the journal whatever the terminal was.
pub(crate) fn plain(report: &(impl Report + ?Sized)) -> String {
    let mut text: String = report
        .warnings()
        .iter()
        .map(|w| format!("warning: {w}\n"))
        .collect();
    text.push_str(&report.human(OutputFormat::Table));
    console::strip_ansi_codes(text.trim_end()).into_owned()
}

/// The report as JSON: a runbook step's `output`, for later steps.
pub(crate) fn data(report: &(impl Report + ?Sized)) -> serde_json::Value {
    serde_json::to_value(report).unwrap_or_default()
}
