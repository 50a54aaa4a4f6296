//! The reports a command and the runbook step that runs the same
//! procedure both show: one `Report` (data, text, exit) per procedure, so
//! neither writes its own second rendering.

pub(crate) mod jobs;
pub(crate) mod nodes;
pub(crate) mod promote;
pub(crate) mod secrets;
pub(crate) mod workloads;

/// A line per object done, as `kind/name verb` (`node/a cordoned`).
fn each_done(kind: &str, names: &[String], verb: &str) -> String {
    let mut out = String::new();
    for name in names {
        push_line!(out, "{kind}/{name} {verb}");
    }
    out
}
