//! Progress bars on stderr, hidden when stderr is not a terminal (or the
//! output is meant for a script).

use std::io::IsTerminal;
use std::time::Duration;

use std::collections::HashMap;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone)]
pub(crate) struct Progress {
    multi: MultiProgress,
}

impl Progress {
    pub(crate) fn new(visible: bool) -> Self {
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
    pub(crate) fn is_hidden(&self) -> bool {
        self.multi.is_hidden()
    }

    /// A bar counting `len` steps, labelled `name` (e.g. a node). The message
    /// comes last and is cut to the terminal's width, so a bar never wraps
    /// (a wrapped bar is redrawn as a new line at every tick).
    pub(crate) fn bar(&self, name: &str, len: u64) -> ProgressBar {
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
    pub(crate) fn spinner(&self, name: &str) -> ProgressBar {
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
    pub(crate) fn println(&self, line: &str) {
        if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }
}

/// One spinner per target (a workload, a Secret's consumer) while it is
/// worked on, replaced by a `✓ target` or `✗ target: error` line when done.
pub(crate) struct Spinners {
    progress: Progress,
    bars: HashMap<String, ProgressBar>,
}

impl Spinners {
    pub(crate) fn new(progress: &Progress) -> Self {
        Spinners {
            progress: progress.clone(),
            bars: HashMap::new(),
        }
    }

    /// An observer of a procedure's events that draws each with `draw`,
    /// one at a time (they come from the procedure's tasks).
    pub(crate) fn observer<E>(
        progress: &Progress,
        draw: fn(&mut Spinners, E),
    ) -> impl Fn(E) + Send + Sync + use<E> {
        let spinners = std::sync::Mutex::new(Spinners::new(progress));
        move |e| {
            if let Ok(mut s) = spinners.lock() {
                draw(&mut s, e)
            }
        }
    }

    /// Shows `message` on the target's spinner, starting it if needed.
    pub(crate) fn message(&mut self, target: &str, message: &str) {
        let progress = &self.progress;
        self.bars
            .entry(target.to_string())
            .or_insert_with(|| progress.spinner(target))
            .set_message(message.to_string());
    }

    /// Shows `message` on the target's spinner only if it is running.
    pub(crate) fn update(&self, target: &str, message: &str) {
        if let Some(bar) = self.bars.get(target) {
            bar.set_message(message.to_string());
        }
    }

    pub(crate) fn finished(&mut self, target: &str, error: Option<&str>) {
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

/// Without a terminal there are no bars: a plain line says what is going
/// on, and is repeated while a long wait lasts, so a log never goes quiet
/// for long. A heartbeat repeats `still DOING (ELAPSED)` every
/// `ONCALL_PROGRESS_INTERVAL` (30 s by default) while `doing` is set.
pub(crate) struct Heartbeat {
    doing: std::sync::Arc<std::sync::Mutex<String>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Heartbeat {
    /// Beats only when `progress` draws no bars.
    pub(crate) fn start(progress: &Progress) -> Self {
        let doing = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let task = progress.is_hidden().then(|| {
            let doing = doing.clone();
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let mut beat = tokio::time::interval(heartbeat_interval());
                beat.tick().await;
                loop {
                    beat.tick().await;
                    let now = doing.lock().map(|d| d.clone()).unwrap_or_default();
                    if !now.is_empty() {
                        let elapsed = chrono::Duration::seconds(started.elapsed().as_secs() as i64);
                        eprintln!("still {now} ({})", crate::age::human(elapsed));
                    }
                }
            })
        });
        Heartbeat { doing, task }
    }

    /// What the next beats say is going on.
    pub(crate) fn set(&self, doing: String) {
        if let Ok(mut d) = self.doing.lock() {
            *d = doing;
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// How often a plain progress line repeats during a long wait: 30 s, or
/// `ONCALL_PROGRESS_INTERVAL` (for example `1s`).
fn heartbeat_interval() -> Duration {
    std::env::var("ONCALL_PROGRESS_INTERVAL")
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(30))
}
