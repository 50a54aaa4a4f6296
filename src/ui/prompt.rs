//! The one place that asks the user anything.

use std::io::IsTerminal;

use dialoguer::{Confirm, Input, theme::ColorfulTheme};

use crate::error::{Error, Result};
use crate::safety::interrupt;
use crate::ui::style;

pub(crate) fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// y/N, defaulting to no.
pub(crate) fn confirm(question: &str) -> Result<bool> {
    let _prompting = interrupt::at_prompt();
    Confirm::with_theme(&ColorfulTheme::default())
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(prompt_error)
}

/// Asks the user to type `expected` exactly; anything else is a no.
pub(crate) fn type_to_confirm(question: &str, expected: &str) -> Result<bool> {
    let _prompting = interrupt::at_prompt();
    let typed: String = Input::with_theme(&ColorfulTheme::default())
        .with_prompt(question)
        .allow_empty(true)
        .interact_text()
        .map_err(prompt_error)?;
    Ok(typed.trim() == expected)
}

/// Asks for a value (runbook parameters).
pub(crate) fn ask(question: &str, default: Option<&str>) -> Result<String> {
    let _prompting = interrupt::at_prompt();
    let theme = ColorfulTheme::default();
    let mut input = Input::<String>::with_theme(&theme).with_prompt(question);
    if let Some(d) = default {
        input = input.default(d.to_string());
    }
    input.interact_text().map_err(prompt_error)
}

/// Asks for a secret value without echoing it (empty values refused).
pub(crate) fn secret(question: &str) -> Result<String> {
    // The value is read as a line with the echo off, and a read that a
    // signal interrupts is resumed, so Ctrl-C cannot end it from here: the
    // signal handler ends the command, and this gives the echo back first.
    let echo = terminal_mode();
    let _stop = interrupt::at_uninterruptible_prompt(move || {
        if let Some(mode) = &echo {
            restore_terminal_mode(mode);
        }
        eprintln!("\n{} {}", style::bad("error:"), Error::InterruptedAtPrompt);
    });
    dialoguer::Password::with_theme(&ColorfulTheme::default())
        .with_prompt(question)
        .interact()
        .map_err(prompt_error)
}

/// Picks one of `items`.
pub(crate) fn choose(question: &str, items: &[String]) -> Result<usize> {
    let _prompting = interrupt::at_prompt();
    dialoguer::Select::with_theme(&ColorfulTheme::default())
        .with_prompt(question)
        .items(items)
        .default(0)
        .interact()
        .map_err(prompt_error)
}

/// The terminal's settings on stdin, to put back after a hidden prompt.
fn terminal_mode() -> Option<libc::termios> {
    use std::os::fd::AsRawFd;
    let mut mode = std::mem::MaybeUninit::uninit();
    // SAFETY: tcgetattr(3) writes the settings into `mode` or fails.
    let got = unsafe { libc::tcgetattr(std::io::stdin().as_raw_fd(), mode.as_mut_ptr()) };
    // SAFETY: on success `mode` was written.
    (got == 0).then(|| unsafe { mode.assume_init() })
}

fn restore_terminal_mode(mode: &libc::termios) {
    use std::os::fd::AsRawFd;
    // SAFETY: tcsetattr(3) only reads `mode`.
    unsafe {
        libc::tcsetattr(std::io::stdin().as_raw_fd(), libc::TCSANOW, mode);
    }
}

fn prompt_error(e: dialoguer::Error) -> Error {
    // The prompt hides the cursor while it reads; give it back.
    let _ = console::Term::stderr().show_cursor();
    let dialoguer::Error::IO(io) = &e;
    if io.kind() == std::io::ErrorKind::Interrupted || interrupt::is_interrupted() {
        interrupt::signal_ended_the_prompt();
        // Ctrl-C (or SIGTERM) interrupts the terminal read before the
        // signal task has recorded which signal it was: give it a moment,
        // so the exit code is the signal's.
        for _ in 0..50 {
            if interrupt::is_interrupted() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        // The prompt's line is still open: end it, so the message stands alone.
        eprintln!();
        return Error::InterruptedAtPrompt;
    }
    Error::Declined(format!("the prompt was closed ({e})"))
}
