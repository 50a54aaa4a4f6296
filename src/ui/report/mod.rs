//! The reports a command and the runbook step that runs the same
//! procedure both show: one `Report` (data, text, exit) per procedure, so
//! neither writes its own second rendering. `dns` also holds `dns
//! resolve`'s report, which shares its way of writing an answer.

use crate::cluster::fanout::Unreachable;
use crate::ui::style;

pub(crate) mod dns;
pub(crate) mod jobs;
pub(crate) mod nodes;
pub(crate) mod pods;
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

/// A line for each context that gave no answer, so a report of several
/// contexts is read knowing what it leaves out (`-o json` names them in
/// `unreachable`).
pub(crate) fn left_out(unreachable: &[Unreachable]) -> Vec<String> {
    unreachable
        .iter()
        .map(|u| {
            format!(
                "{} context `{}` left out: {}",
                style::warn("warning:"),
                u.context,
                u.error
            )
        })
        .collect()
}
