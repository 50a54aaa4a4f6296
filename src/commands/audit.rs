use chrono::Utc;
use serde::Serialize;

use crate::app::App;
use crate::cli::{AuditArgs, OutputFormat};
use crate::error::Result;
use crate::safety::audit::{self, Entry};
use crate::ui::output::{self, Report};
use crate::ui::{style, table};

pub(super) fn run(app: &App, args: AuditArgs) -> Result<()> {
    let since = args
        .since
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| Utc::now() - d);
    let entries = audit::read(since)?;
    output::show(
        app.global.output,
        AuditLog {
            entries,
            limited: since.is_some(),
        },
    )
}

/// The audit log's entries, oldest first.
#[derive(Serialize)]
#[serde(transparent)]
struct AuditLog {
    entries: Vec<Entry>,
    /// Whether `--since` left some out.
    #[serde(skip)]
    limited: bool,
}

impl Report for AuditLog {
    fn human(&self, _: OutputFormat) -> String {
        if self.entries.is_empty() {
            return String::new();
        }
        let mut t = table::new(&["time", "user", "context", "command", "answer", "outcome"]);
        for e in &self.entries {
            let command = e.argv.iter().skip(1).cloned().collect::<Vec<_>>().join(" ");
            let answer = e.answer.as_str().unwrap_or_default().replace('_', " ");
            let mut outcome = e.outcome.status.as_str().to_string();
            if !e.outcome.detail.is_empty() {
                outcome = format!("{outcome}: {}", e.outcome.detail);
            }
            t.add_row(vec![
                e.time
                    .with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                e.user.clone(),
                e.context.clone(),
                command,
                answer,
                outcome,
            ]);
        }
        format!("{}\n", table::render(&t))
    }

    fn remarks(&self, _: OutputFormat) -> Vec<String> {
        if !self.entries.is_empty() {
            return Vec::new();
        }
        vec![style::dim(&format!(
            "No audit entries{} in {}.",
            if self.limited { " in that period" } else { "" },
            audit::path()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ))]
    }
}
