//! Ctrl-C, SIGTERM and SIGHUP: the first one asks operations to stop between
//! steps; the second one quits at once, after killing the process groups of
//! local children and running the registered last-moment hooks (a runbook
//! marks its journal interrupted there).
//!
//! `timeout`, systemd and CI runners stop processes with SIGTERM, and a
//! closed terminal sends SIGHUP: each is handled as Ctrl-C is, and the exit
//! code says which signal it was (128 + its number).

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tokio::sync::Notify;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The signal that stopped us (SIGINT until one arrives).
static SIGNAL: AtomicI32 = AtomicI32::new(libc::SIGINT);

fn notify() -> &'static Notify {
    static NOTIFY: OnceLock<Notify> = OnceLock::new();
    NOTIFY.get_or_init(Notify::new)
}

type Hook = Box<dyn Fn() + Send>;

/// Process groups of running local children, killed on a hard exit.
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// Last-moment hooks, by id.
static HOOKS: Mutex<Vec<(u64, Hook)>> = Mutex::new(Vec::new());
static NEXT_HOOK: AtomicU64 = AtomicU64::new(1);

/// Starts listening for Ctrl-C, SIGTERM and SIGHUP. Call once, inside the runtime.
pub fn install() {
    tokio::spawn(async {
        let Some(first) = next_signal().await else {
            return;
        };
        SIGNAL.store(first, Ordering::SeqCst);
        INTERRUPTED.store(true, Ordering::SeqCst);
        notify().notify_waiters();
        let again = if first == libc::SIGINT {
            "Ctrl-C again to quit now".to_string()
        } else {
            format!("{} again to quit now", name(first))
        };
        eprintln!(
            "\n{}: finishing the current step, then stopping ({again})",
            if first == libc::SIGINT {
                "interrupt".to_string()
            } else {
                format!("{} received", name(first))
            }
        );
        if next_signal().await.is_some() {
            hard_exit();
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
        r = tokio::signal::ctrl_c() => r.ok().map(|_| libc::SIGINT),
        _ = term.recv() => Some(libc::SIGTERM),
        _ = hup.recv() => Some(libc::SIGHUP),
    }
}

#[cfg(not(unix))]
async fn next_signal() -> Option<i32> {
    tokio::signal::ctrl_c().await.ok().map(|_| libc::SIGINT)
}

fn name(signal: i32) -> &'static str {
    match signal {
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "SIGINT",
    }
}

/// Kills every child group, runs the hooks, and exits with the signal's code.
fn hard_exit() -> ! {
    for g in GROUPS.lock().map(|g| g.clone()).unwrap_or_default() {
        kill_group(g, libc::SIGKILL);
    }
    if let Ok(hooks) = HOOKS.lock() {
        for (_, h) in hooks.iter() {
            h();
        }
    }
    std::process::exit(i32::from(exit_code()))
}

pub fn is_interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The signal that interrupted the program (SIGINT if none did).
pub fn signal() -> i32 {
    SIGNAL.load(Ordering::SeqCst)
}

/// 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP.
pub fn exit_code() -> u8 {
    128 + signal() as u8
}

/// Resolves when an interrupt arrives (at once if one already has).
pub async fn interrupted() {
    let notified = notify().notified();
    if is_interrupted() {
        return;
    }
    notified.await;
}

/// Sends a signal to a whole process group.
pub fn kill_group(pgid: i32, signal: i32) {
    #[cfg(unix)]
    if pgid > 0 {
        // SAFETY: killpg(2) only sends a signal; a group that is gone gives ESRCH.
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
}

/// A child's process group, killed if the program quits at once while it
/// runs. Dropping it forgets the group.
pub struct TrackedGroup(i32);

pub fn track_group(pgid: i32) -> TrackedGroup {
    if let Ok(mut g) = GROUPS.lock() {
        g.push(pgid);
    }
    TrackedGroup(pgid)
}

impl Drop for TrackedGroup {
    fn drop(&mut self) {
        if let Ok(mut g) = GROUPS.lock() {
            g.retain(|p| *p != self.0);
        }
    }
}

/// A hook run if the program quits at once; dropping it removes the hook.
pub struct HookGuard(u64);

pub fn on_hard_exit(hook: impl Fn() + Send + 'static) -> HookGuard {
    let id = NEXT_HOOK.fetch_add(1, Ordering::SeqCst);
    if let Ok(mut h) = HOOKS.lock() {
        h.push((id, Box::new(hook)));
    }
    HookGuard(id)
}

impl Drop for HookGuard {
    fn drop(&mut self) {
        if let Ok(mut h) = HOOKS.lock() {
            h.retain(|(id, _)| *id != self.0);
        }
    }
}
