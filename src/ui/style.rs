//! Colour decisions, made once from `--color` and `NO_COLOR`.

use std::io::IsTerminal;

use crate::cli::ColorChoice;

/// Applies `--color` to both streams. `auto` colours a stream only when it
/// is a terminal and `NO_COLOR` is unset.
pub fn init(choice: ColorChoice) {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let (out, err) = match choice {
        ColorChoice::Always => (true, true),
        ColorChoice::Never => (false, false),
        ColorChoice::Auto if no_color => (false, false),
        ColorChoice::Auto => (
            std::io::stdout().is_terminal(),
            std::io::stderr().is_terminal(),
        ),
    };
    console::set_colors_enabled(out);
    console::set_colors_enabled_stderr(err);
}

pub fn bold(text: &str) -> String {
    console::style(text).bold().to_string()
}

pub fn good(text: &str) -> String {
    console::style(text).green().to_string()
}

pub fn bad(text: &str) -> String {
    console::style(text).red().bold().to_string()
}

pub fn warn(text: &str) -> String {
    console::style(text).yellow().to_string()
}

pub fn dim(text: &str) -> String {
    console::style(text).dim().to_string()
}

/// A note on stderr, for things a script should not have to parse.
pub fn note(text: &str) {
    eprintln!("{}", dim(text));
}
