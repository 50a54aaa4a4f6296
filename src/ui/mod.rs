//! Everything that talks to the terminal: tables, prompts, progress, styles
//! and structured output. Domain code never prints; commands use these.

pub mod output;
pub mod progress;
pub mod prompt;
pub mod style;
pub mod table;

pub use output::OutputFormat;
pub use style::ColorChoice;
