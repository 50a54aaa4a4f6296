//! Colour decisions, made once from `--color` and `NO_COLOR`.

use std::io::IsTerminal;

/// `--color`: when to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Whether the environment asks for no colour whatever the streams are:
/// `NO_COLOR` set (no-color.org), or a terminal that says it is dumb.
pub(crate) fn colour_unwanted() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
        || std::env::var_os("TERM").is_some_and(|t| t == "dumb")
}

/// Applies `--color` to both streams. `auto` colours a stream only when it
/// is a terminal, `NO_COLOR` is unset and `TERM` is not `dumb`.
pub(crate) fn init(choice: ColorChoice) {
    let (out, err) = match choice {
        ColorChoice::Always => (true, true),
        ColorChoice::Never => (false, false),
        ColorChoice::Auto if colour_unwanted() => (false, false),
        ColorChoice::Auto => (
            std::io::stdout().is_terminal(),
            std::io::stderr().is_terminal(),
        ),
    };
    console::set_colors_enabled(out);
    console::set_colors_enabled_stderr(err);
}

pub(crate) fn bold(text: &str) -> String {
    console::style(text).bold().to_string()
}

pub(crate) fn good(text: &str) -> String {
    console::style(text).green().to_string()
}

pub(crate) fn bad(text: &str) -> String {
    console::style(text).red().bold().to_string()
}

pub(crate) fn warn(text: &str) -> String {
    console::style(text).yellow().to_string()
}

pub(crate) fn dim(text: &str) -> String {
    console::style(text).dim().to_string()
}

/// A note on stderr, for things a script should not have to parse.
pub(crate) fn note(text: &str) {
    let text = super::fit::to_terminal(text, super::fit::Stream::Stderr);
    eprintln!("{}", dim(&text));
}
