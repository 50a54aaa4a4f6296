//! The note oncall leaves on an object it holds in a changed state for a
//! while (a cordoned node, a suspended CronJob): who did it, as which
//! Kubernetes identity, when and why, in `oncall.dev/*` annotations. List
//! commands show it, and the undo reads it before undoing someone else's
//! change.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

/// The annotations one kind of note is kept in.
pub(crate) struct NoteKeys {
    /// The OS user who made the change.
    pub by: &'static str,
    /// The Kubernetes identity that made it.
    pub as_: &'static str,
    pub at: &'static str,
    pub reason: &'static str,
}

/// Who made a change, as recorded in the object's annotations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Note {
    pub by: String,
    pub at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

impl NoteKeys {
    /// The note in `annotations`, if oncall left one.
    pub(crate) fn read(&self, annotations: &BTreeMap<String, String>) -> Option<Note> {
        Some(Note {
            by: annotations.get(self.by)?.clone(),
            at: annotations
                .get(self.at)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
            reason: annotations.get(self.reason).cloned(),
        })
    }

    /// The annotations of a merge patch that records the change now.
    pub(crate) fn write(&self, user: &str, identity: &str, reason: Option<&str>) -> Value {
        json!({
            self.by: user,
            self.as_: identity,
            self.at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            self.reason: reason,
        })
    }

    /// The annotations of a merge patch that forgets the note.
    pub(crate) fn clear(&self) -> Value {
        json!({self.by: null, self.as_: null, self.at: null, self.reason: null})
    }
}

impl Note {
    /// `by alice at 2026-12-01 10:00 UTC: disk`.
    pub(crate) fn describe(&self) -> String {
        let mut s = format!("by {}", self.by);
        if let Some(at) = self.at {
            s.push_str(&format!(" at {}", at.format("%Y-%m-%d %H:%M UTC")));
        }
        if let Some(r) = &self.reason {
            s.push_str(&format!(": {r}"));
        }
        s
    }
}

/// Why `user` may not undo the change `note` describes (none: they may).
/// Their own change they may undo, anyone's with `force`; a change with no
/// note was made some other way and needs `force` too. `changed` says what
/// was done (`cordoned`), `undo` what `--force` would do (`undo it`).
pub(crate) fn undo_refusal(
    note: Option<&Note>,
    user: &str,
    force: bool,
    changed: &str,
    undo: &str,
) -> Option<String> {
    match note {
        _ if force => None,
        Some(note) if note.by == user => None,
        Some(note) => Some(format!(
            "{changed} {}; pass --force to {undo}",
            note.describe()
        )),
        None => Some(format!(
            "{changed} by another tool or by hand (no oncall note); pass --force to {undo}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: NoteKeys = NoteKeys {
        by: "x/by",
        as_: "x/as",
        at: "x/at",
        reason: "x/reason",
    };

    #[test]
    fn a_written_note_reads_back_and_clears() {
        let written = KEYS.write("alice", "system:admin", Some("disk"));
        let annotations: BTreeMap<String, String> = serde_json::from_value(written).unwrap();
        let note = KEYS.read(&annotations).unwrap();
        assert_eq!(
            (note.by.as_str(), note.reason.as_deref()),
            ("alice", Some("disk"))
        );
        assert!(note.describe().starts_with("by alice at ") && note.describe().ends_with(": disk"));
        assert!(
            KEYS.clear()
                .as_object()
                .unwrap()
                .values()
                .all(Value::is_null)
        );
        assert_eq!(KEYS.read(&BTreeMap::new()), None);
    }

    #[test]
    fn only_whoever_made_a_change_undoes_it_without_force() {
        let alices = Note {
            by: "alice".into(),
            at: None,
            reason: Some("disk".into()),
        };
        let refusal = |note, user, force| undo_refusal(note, user, force, "cordoned", "undo it");
        assert_eq!(refusal(Some(&alices), "alice", false), None);
        assert_eq!(
            refusal(Some(&alices), "bob", false).as_deref(),
            Some("cordoned by alice: disk; pass --force to undo it")
        );
        assert_eq!(
            refusal(None, "alice", false).as_deref(),
            Some("cordoned by another tool or by hand (no oncall note); pass --force to undo it")
        );
        assert_eq!(refusal(Some(&alices), "bob", true), None);
        assert_eq!(refusal(None, "bob", true), None);
    }
}
