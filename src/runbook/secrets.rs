//! Hiding secret parameter values everywhere a run writes: output, errors,
//! plans, the audit log, the journal and the incident timeline.
//!
//! A secret reaches a template only unchanged (the engine refuses a
//! template that derives something from it), so its literal text is what
//! cluster steps can show. A shell step may still print what it makes of
//! the value it reads from its environment; the usual encodings (base64 at
//! any alignment, hex, case changes) are hidden as well.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde_json::Value as Json;

use crate::error::{Error, exit};

pub(crate) const REDACTED: &str = "<redacted>";

/// Base64 runs shorter than this are not hidden: they would hide ordinary
/// text while revealing next to nothing.
const MIN_ENCODED: usize = 6;

/// Every form of the run's secret values that is hidden, longest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    forms: Vec<String>,
}

impl Redactor {
    pub(crate) fn new<I: IntoIterator<Item = String>>(secrets: I) -> Redactor {
        let mut forms = Vec::new();
        for s in secrets.into_iter().filter(|s| !s.is_empty()) {
            forms.extend(derived_forms(&s));
            forms.push(s);
        }
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms.dedup();
        Redactor { forms }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for f in &self.forms {
            if out.contains(f.as_str()) {
                out = out.replace(f.as_str(), REDACTED);
            }
        }
        out
    }

    /// Hides secrets in every string of a JSON value, keys included.
    pub(crate) fn redact_json(&self, value: &mut Json) {
        if self.is_empty() {
            return;
        }
        match value {
            Json::String(s) => *s = self.redact(s),
            Json::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Json::Object(map) => {
                let entries = std::mem::take(map);
                for (k, mut v) in entries {
                    self.redact_json(&mut v);
                    map.insert(self.redact(&k), v);
                }
            }
            _ => {}
        }
    }

    pub(crate) fn redact_plan(&self, plan: &mut crate::safety::Plan) {
        if self.is_empty() {
            return;
        }
        for s in [
            &mut plan.action,
            &mut plan.context,
            &mut plan.cluster,
            &mut plan.namespace,
        ] {
            *s = self.redact(s);
        }
        for c in &mut plan.changes {
            c.target = self.redact(&c.target);
            c.action = self.redact(&c.action);
            c.detail = self.redact(&c.detail);
        }
        for s in &mut plan.skipped {
            s.target = self.redact(&s.target);
            s.reason = self.redact(&s.reason);
        }
        for w in &mut plan.warnings {
            *w = self.redact(w);
        }
    }

    pub(crate) fn redact_outcome(&self, outcome: &mut crate::safety::audit::Outcome) {
        outcome.detail = self.redact(&outcome.detail);
        for s in outcome.done.iter_mut().chain(outcome.not_done.iter_mut()) {
            *s = self.redact(s);
        }
    }

    /// The same error, with secrets hidden from its message and the same
    /// exit code.
    pub(crate) fn redact_error(&self, e: Error) -> Error {
        let text = e.to_string();
        let hidden = self.redact(&text);
        if hidden == text {
            return e;
        }
        match e {
            Error::TimedOut { after, what } => Error::TimedOut {
                after,
                what: self.redact(&what),
            },
            Error::Interrupted {
                done,
                not_done,
                next,
            } => Error::Interrupted {
                done: done.iter().map(|d| self.redact(d)).collect(),
                not_done: not_done.iter().map(|d| self.redact(d)).collect(),
                next: next.map(|n| self.redact(&n)),
            },
            Error::ProblemsFound(m) => Error::ProblemsFound(self.redact(&m)),
            other => match other.exit_code() {
                exit::USAGE => Error::Usage(hidden),
                exit::CLUSTER => Error::ClusterRefused(hidden),
                exit::REFUSED => Error::Refused(hidden),
                _ => Error::Failed(hidden),
            },
        }
    }
}

/// What a script is likely to make of a secret: other cases, hex, and
/// base64 (standard and URL-safe) at each of the three byte alignments it
/// can have inside a longer encoded text, such as `echo "$S" | base64`.
fn derived_forms(secret: &str) -> Vec<String> {
    let bytes = secret.as_bytes();
    let mut forms = vec![
        secret.to_uppercase(),
        secret.to_lowercase(),
        bytes.iter().map(|b| format!("{b:02x}")).collect(),
        bytes.iter().map(|b| format!("{b:02X}")).collect(),
    ];
    for engine in [&STANDARD, &URL_SAFE] {
        forms.push(engine.encode(bytes));
        for pad in 0..3usize {
            let mut padded = vec![0u8; pad];
            padded.extend_from_slice(bytes);
            let encoded = engine.encode(&padded);
            // Characters that depend on the padding bytes, and those of a
            // final partial group (which depend on what follows), vary.
            let skip = [0, 2, 3][pad];
            let end = padded.len() / 3 * 4;
            if end > skip && end - skip >= MIN_ENCODED {
                forms.push(encoded[skip..end].to_string());
            }
        }
    }
    forms.retain(|f| f.len() >= secret.len().min(MIN_ENCODED) && !f.is_empty());
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_of_a_secret_are_hidden_wherever_they_sit() {
        let r = Redactor::new(["hunter2-secret".to_string()]);
        for prefix in ["", "a", "ab", "abc"] {
            for suffix in ["", "\n", "xyz"] {
                let text = format!("{prefix}hunter2-secret{suffix}");
                let encoded = STANDARD.encode(text.as_bytes());
                let hidden = r.redact(&encoded);
                assert!(hidden.contains(REDACTED), "{text:?} → {encoded} → {hidden}");
            }
        }
        assert_eq!(r.redact("HUNTER2-SECRET"), REDACTED);
        assert_eq!(r.redact("token: hunter2-secret."), "token: <redacted>.");
        assert!(!r.redact("68756e746572322d736563726574").contains("68756e"));
    }

    #[test]
    fn errors_keep_their_exit_code() {
        let r = Redactor::new(["pw".to_string()]);
        let e = r.redact_error(Error::NotFound {
            what: "node `pw`".into(),
            list: "oncall node list".into(),
        });
        assert_eq!(e.exit_code(), exit::FAILED);
        assert!(!e.to_string().contains("pw"), "{e}");
        let e = r.redact_error(Error::Usage("bad pw".into()));
        assert_eq!(e.exit_code(), exit::USAGE);
    }
}
