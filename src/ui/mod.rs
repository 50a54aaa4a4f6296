//! Everything that talks to the terminal: tables, prompts, progress, styles
//! and structured output. Domain code never prints; commands use these.

pub(crate) mod fit;
pub(crate) mod output;
pub(crate) mod progress;
pub(crate) mod prompt;
pub(crate) mod report;
pub(crate) mod style;
pub(crate) mod table;

pub(crate) use output::OutputFormat;
pub(crate) use style::ColorChoice;
