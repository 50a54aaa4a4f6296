//! Ctrl-C: the first one asks operations to stop between steps; the second
//! one exits at once.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn notify() -> &'static Notify {
    static NOTIFY: OnceLock<Notify> = OnceLock::new();
    NOTIFY.get_or_init(Notify::new)
}

/// Starts listening for Ctrl-C. Call once, inside the runtime. A command
/// that only reads (`stop_at_once`) has nothing to finish: the first press
/// ends it.
pub fn install(stop_at_once: bool) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        if stop_at_once {
            eprintln!("\ninterrupted");
            std::process::exit(crate::error::exit::INTERRUPTED as i32);
        }
        INTERRUPTED.store(true, Ordering::SeqCst);
        notify().notify_waiters();
        eprintln!(
            "\ninterrupt: finishing the current step, then stopping (Ctrl-C again to quit now)"
        );
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(crate::error::exit::INTERRUPTED as i32);
        }
    });
}

pub fn is_interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Resolves when Ctrl-C is pressed (at once if it already was).
pub async fn interrupted() {
    let notified = notify().notified();
    if is_interrupted() {
        return;
    }
    notified.await;
}
