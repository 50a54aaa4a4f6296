//! Progress bars on stderr, hidden when stderr is not a terminal (or the
//! output is meant for a script).

use std::io::IsTerminal;
use std::time::Duration;

use std::collections::HashMap;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone)]
pub struct Progress {
    multi: MultiProgress,
}

impl Progress {
    pub fn new(visible: bool) -> Self {
        let target = if visible && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Progress {
            multi: MultiProgress::with_draw_target(target),
        }
    }

    /// Whether the bars are drawn; when not, commands may print plain status lines instead.
    pub fn is_hidden(&self) -> bool {
        self.multi.is_hidden()
    }

    /// A bar counting `len` steps, labelled `name` (e.g. a node). The message
    /// comes last and is cut to the terminal's width, so a bar never wraps
    /// (a wrapped bar is redrawn as a new line at every tick).
    pub fn bar(&self, name: &str, len: u64) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new(len));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>24.bold} [{bar:20}] {pos}/{len} ({elapsed}) {wide_msg}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// A spinner for a wait of unknown length.
    pub fn spinner(&self, name: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:.bold} ({elapsed}) {wide_msg}")
                .expect("static template"),
        );
        bar.set_prefix(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// Prints a line above the bars without tearing them.
    pub fn println(&self, line: &str) {
        if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }
}

/// One spinner per target (a workload, a Secret's consumer) while it is
/// worked on, replaced by a `✓ target` or `✗ target: error` line when done.
pub struct Spinners {
    progress: Progress,
    bars: HashMap<String, ProgressBar>,
}

impl Spinners {
    pub fn new(progress: &Progress) -> Self {
        Spinners {
            progress: progress.clone(),
            bars: HashMap::new(),
        }
    }

    /// Shows `message` on the target's spinner, starting it if needed.
    pub fn message(&mut self, target: &str, message: &str) {
        let progress = &self.progress;
        self.bars
            .entry(target.to_string())
            .or_insert_with(|| progress.spinner(target))
            .set_message(message.to_string());
    }

    /// Shows `message` on the target's spinner only if it is running.
    pub fn update(&self, target: &str, message: &str) {
        if let Some(bar) = self.bars.get(target) {
            bar.set_message(message.to_string());
        }
    }

    pub fn finished(&mut self, target: &str, error: Option<&str>) {
        if let Some(bar) = self.bars.remove(target) {
            bar.finish_and_clear();
        }
        let line = match error {
            None => format!("{} {target}", crate::ui::style::good("✓")),
            Some(e) => format!("{} {target}: {e}", crate::ui::style::bad("✗")),
        };
        self.progress.println(&line);
    }
}
