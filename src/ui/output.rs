//! Structured output (`-o json|yaml`) of documented serde types.

use serde::Serialize;

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
/// text a person reads, and how the command exits once it is shown.
pub(crate) trait Report: Serialize {
    /// The text for a terminal (`-o table`, or `-o wide` where the report
    /// has more to show).
    fn human(&self, format: OutputFormat) -> String;

    /// How the command ends after showing the report: `Ok`, or the error
    /// (and so the exit code) its findings call for.
    fn exit(&self) -> Result<()> {
        Ok(())
    }
}

/// Shows a report as asked, structured or for a person (the one place that
/// chooses), and returns how the command exits.
pub(crate) fn show(format: OutputFormat, report: &impl Report) -> Result<()> {
    if format.is_structured() {
        print(format, report)?;
    } else {
        let text = report.human(format);
        out!(
            "{}",
            super::fit::to_terminal(&text, super::fit::Stream::Stdout)
        );
    }
    report.exit()
}
