//! The one place that asks the user anything.

use std::io::IsTerminal;

use dialoguer::{Confirm, Input, theme::ColorfulTheme};

use crate::error::{Error, Result};

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// y/N, defaulting to no.
pub fn confirm(question: &str) -> Result<bool> {
    Confirm::with_theme(&ColorfulTheme::default())
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(prompt_error)
}

/// Asks the user to type `expected` exactly; anything else is a no.
pub fn type_to_confirm(question: &str, expected: &str) -> Result<bool> {
    let typed: String = Input::with_theme(&ColorfulTheme::default())
        .with_prompt(question)
        .allow_empty(true)
        .interact_text()
        .map_err(prompt_error)?;
    Ok(typed.trim() == expected)
}

/// Asks for a value (runbook parameters).
pub fn ask(question: &str, default: Option<&str>) -> Result<String> {
    let theme = ColorfulTheme::default();
    let mut input = Input::<String>::with_theme(&theme).with_prompt(question);
    if let Some(d) = default {
        input = input.default(d.to_string());
    }
    input.interact_text().map_err(prompt_error)
}

/// Asks for a secret value without echoing it (empty values refused).
pub fn secret(question: &str) -> Result<String> {
    dialoguer::Password::with_theme(&ColorfulTheme::default())
        .with_prompt(question)
        .interact()
        .map_err(prompt_error)
}

/// Picks one of `items`.
pub fn choose(question: &str, items: &[String]) -> Result<usize> {
    dialoguer::Select::with_theme(&ColorfulTheme::default())
        .with_prompt(question)
        .items(items)
        .default(0)
        .interact()
        .map_err(prompt_error)
}

fn prompt_error(e: dialoguer::Error) -> Error {
    // Ctrl-C at a prompt surfaces as an I/O error from the terminal.
    Error::Declined(format!("the prompt was closed ({e})"))
}
