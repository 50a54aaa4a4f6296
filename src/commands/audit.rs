use chrono::Utc;

use crate::app::App;
use crate::cli::AuditArgs;
use crate::error::Result;
use crate::safety::audit;
use crate::ui::{output, style, table};

pub(super) fn run(app: &App, args: AuditArgs) -> Result<()> {
    let since = args
        .since
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| Utc::now() - d);
    let entries = audit::read(since)?;
    if app.global.output.is_structured() {
        return output::print(app.global.output, &entries);
    }
    if entries.is_empty() {
        style::note(&format!(
            "No audit entries{} in {}.",
            if since.is_some() {
                " in that period"
            } else {
                ""
            },
            audit::path()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ));
        return Ok(());
    }
    let mut t = table::new(&["time", "user", "context", "command", "answer", "outcome"]);
    for e in &entries {
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
    outln!("{}", table::render(&t));
    Ok(())
}
