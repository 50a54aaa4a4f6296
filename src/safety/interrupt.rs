//! Ctrl-C, SIGTERM and SIGHUP: the first one asks operations to stop between
//! steps; a second one exits at once.
//!
//! `timeout`, systemd and CI runners stop a process with SIGTERM, and a
//! closed terminal sends SIGHUP. Both are handled like Ctrl-C so that a drain
//! stopped that way still says what was and was not done and leaves an audit
//! entry. The exit code is 128 + the signal's number, as shells report it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};

use tokio::sync::Notify;

/// The number of the first stop signal received, 0 while none was.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

const SIGINT: i32 = 2;
const SIGHUP: i32 = 1;
const SIGTERM: i32 = 15;

fn notify() -> &'static Notify {
    static NOTIFY: OnceLock<Notify> = OnceLock::new();
    NOTIFY.get_or_init(Notify::new)
}

/// Starts listening for stop signals. Call once, inside the runtime.
pub fn install() {
    tokio::spawn(async {
        let Some(first) = next_signal().await else {
            return;
        };
        SIGNAL.store(first, Ordering::SeqCst);
        notify().notify_waiters();
        eprintln!(
            "\n{}: finishing the current step, then stopping ({} again to quit now)",
            name(first),
            if first == SIGINT { "Ctrl-C" } else { "signal" }
        );
        if next_signal().await.is_some() {
            std::process::exit(exit_code_for(first));
        }
    });
}

/// Waits for the next Ctrl-C, SIGTERM or SIGHUP and returns its number.
#[cfg(unix)]
async fn next_signal() -> Option<i32> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok()?;
    let mut hup = signal(SignalKind::hangup()).ok()?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.ok().map(|_| SIGINT),
        _ = term.recv() => Some(SIGTERM),
        _ = hup.recv() => Some(SIGHUP),
    }
}

#[cfg(not(unix))]
async fn next_signal() -> Option<i32> {
    tokio::signal::ctrl_c().await.ok().map(|_| SIGINT)
}

fn name(signal: i32) -> &'static str {
    match signal {
        SIGTERM => "terminated (SIGTERM)",
        SIGHUP => "hung up (SIGHUP)",
        _ => "interrupt",
    }
}

fn exit_code_for(signal: i32) -> i32 {
    128 + signal
}

pub fn is_interrupted() -> bool {
    SIGNAL.load(Ordering::SeqCst) != 0
}

/// The exit code of an interrupted command: 130 for Ctrl-C, 143 for SIGTERM,
/// 129 for SIGHUP.
pub fn exit_code() -> u8 {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => crate::error::exit::INTERRUPTED,
        s => exit_code_for(s) as u8,
    }
}

/// Resolves when a stop signal arrives (at once if one already did).
pub async fn interrupted() {
    let notified = notify().notified();
    if is_interrupted() {
        return;
    }
    notified.await;
}
