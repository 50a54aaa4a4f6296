//! Structured output (`-o json|yaml`) of documented serde types.

use serde::Serialize;

use crate::cli::OutputFormat;
use crate::error::{Error, Result};

/// Prints `value` as JSON or YAML on stdout. Table formats are the caller's job.
pub fn print<T: Serialize>(format: OutputFormat, value: &T) -> Result<()> {
    let text = render(format, value)?;
    outln!("{}", text.trim_end());
    Ok(())
}

pub fn render<T: Serialize>(format: OutputFormat, value: &T) -> Result<String> {
    match format {
        OutputFormat::Yaml => serde_saphyr::to_string(value)
            .map_err(|e| Error::Failed(format!("cannot render YAML: {e}"))),
        _ => serde_json::to_string_pretty(value)
            .map_err(|e| Error::Failed(format!("cannot render JSON: {e}"))),
    }
}
