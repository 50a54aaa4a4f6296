//! The command line being completed: its words, which one is being typed,
//! and the global flags (`--kubeconfig`, `--context`, `-n`…) typed before it,
//! so that `oncall -n production restart <TAB>` asks about production.

use std::ffi::OsString;
use std::sync::OnceLock;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, GlobalArgs};

struct Line {
    words: Vec<String>,
    index: usize,
}

static LINE: OnceLock<Line> = OnceLock::new();

/// Keeps the words the shell passed (the program name first) and the index
/// of the word being completed, for the candidate functions clap calls.
pub(super) fn remember(args: &[OsString], index: usize) {
    let words = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let _ = LINE.set(Line { words, index });
}

/// The words before the one being completed, the program name first.
pub(super) fn before() -> &'static [String] {
    LINE.get()
        .map(|l| &l.words[..l.index.min(l.words.len())])
        .unwrap_or_default()
}

/// The word being completed, as typed so far.
pub(super) fn current() -> &'static str {
    LINE.get()
        .and_then(|l| l.words.get(l.index))
        .map(String::as_str)
        .unwrap_or_default()
}

/// The global flags given before the word being completed. The line is
/// parsed by the same clap definition as a real run, ignoring what is
/// missing or wrong (it is unfinished by nature).
pub(super) fn globals() -> GlobalArgs {
    let words: Vec<&str> = match before() {
        [] => vec!["oncall"],
        words => words.iter().map(String::as_str).collect(),
    };
    let parse = |words: &[&str]| {
        let matches = Cli::command()
            .ignore_errors(true)
            .try_get_matches_from(words)
            .ok()?;
        GlobalArgs::from_arg_matches(&matches).ok()
    };
    parse(&words)
        .or_else(|| parse(&["oncall"]))
        .expect("the bare program name always parses")
}
