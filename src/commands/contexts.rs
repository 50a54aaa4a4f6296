//! What the commands that ask several contexts at once report alike.

use crate::cluster::fanout::Unreachable;
use crate::ui::style;

/// A line for each context that gave no answer, so the report is read
/// knowing what it leaves out (`-o json` names them in `unreachable`).
pub(super) fn left_out(unreachable: &[Unreachable]) -> Vec<String> {
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
