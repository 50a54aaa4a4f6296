//! A Secret rotation's report, as `oncall secret rotate` and the
//! `rotate_secret` step show it: fingerprints and states, never a value.

use serde::Serialize;

use crate::error::Result;
use crate::secrets::rotate::{KeyChange, Outcome, Rotation};
use crate::ui::output::{OutputFormat, Report};
use crate::ui::{style, table};

/// What `secret rotate -o json` prints after a run.
#[derive(Serialize)]
pub(crate) struct Rotated<'a> {
    secret: &'a str,
    namespace: &'a str,
    keys: &'a [KeyChange],
    #[serde(flatten)]
    outcome: Outcome,
    /// `ok`, or the error.
    result: String,
}

impl<'a> Rotated<'a> {
    pub(crate) fn new(rotation: &'a Rotation, outcome: Outcome) -> Self {
        Rotated {
            secret: &rotation.name,
            namespace: &rotation.namespace,
            keys: &rotation.keys,
            result: match &outcome.result {
                Ok(()) => "ok".into(),
                Err(e) => e.to_string(),
            },
            outcome,
        }
    }

    pub(crate) fn outcome(&self) -> &Outcome {
        &self.outcome
    }
}

impl Report for Rotated<'_> {
    fn human(&self, _: OutputFormat) -> String {
        let mut out = String::new();
        if !self.outcome.consumers.is_empty() {
            let mut t = table::new(&["workload", "state"]);
            for c in &self.outcome.consumers {
                t.add_row(vec![c.workload.clone(), c.state.clone()]);
            }
            push_line!(out, "{}", table::render(&t));
        }
        if self.outcome.result.is_ok() {
            let changed = self.keys.iter().filter(|k| k.change != "unchanged").count();
            push_line!(
                out,
                "{} secret/{}: {changed} key(s) changed; the previous values are kept in secret/{} (delete it once the new values are known to work)",
                style::good("✓"),
                self.secret,
                self.outcome.backup.as_deref().unwrap_or("?")
            );
        }
        out
    }

    /// The error keeps its own exit code (5 for a timeout, 130 for Ctrl-C).
    fn finish(self) -> Result<()> {
        self.outcome.result
    }
}
