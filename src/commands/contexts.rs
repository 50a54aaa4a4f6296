//! What the commands that ask several contexts at once print alike.

use crate::cluster::fanout::Unreachable;
use crate::ui::style;

/// One line on stderr for each context that gave no answer, so the report
/// above it is read knowing what it leaves out.
pub(super) fn print_unreachable(unreachable: &[Unreachable]) {
    for u in unreachable {
        eprintln!(
            "{} context `{}` left out: {}",
            style::warn("warning:"),
            u.context,
            u.error
        );
    }
}
