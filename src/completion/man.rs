//! Manual pages, generated from the same clap definition as `--help` and the
//! completion scripts, so the three cannot drift apart.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{Error, Result};

/// oncall(1): the synopsis, the global options and the list of commands
/// (each with its own page; `help` has none, as in `write_pages`).
pub(crate) fn page() -> String {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command().disable_help_subcommand(true))
        .render(&mut buf)
        .expect("writing to memory cannot fail");
    String::from_utf8(buf).expect("roff is UTF-8")
}

/// oncall(1) and one page per command (`oncall-node-drain.1`…) in `dir`,
/// the way git ships `git-commit(1)`.
pub(crate) fn write_pages(dir: &Path) -> Result<()> {
    let failed = |e: std::io::Error| Error::CannotWrite {
        what: "the manual pages to",
        path: dir.to_path_buf(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    clap_mangen::generate_to(Cli::command(), dir).map_err(failed)
}
