//! Ctrl-C, SIGTERM and SIGHUP: the first one asks operations to stop between
//! steps; a second one exits at once.
//!
//! A second signal kills the process groups of local children (a runbook's
//! shell steps) and runs the registered last-moment hooks (a runbook marks
//! its journal interrupted there) before exiting.
//!
//! `timeout`, systemd and CI runners stop a process with SIGTERM, and a
//! closed terminal sends SIGHUP. Both are handled like Ctrl-C so that a drain
//! stopped that way still says what was and was not done and leaves an audit
//! entry. The exit code is 128 + the signal's number, as shells report it.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

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

/// Starts listening for stop signals. Call once, inside the runtime. A
/// command that only reads (`stop_at_once`) has nothing to finish: the first
/// signal ends it.
pub(crate) fn install(stop_at_once: bool) {
    tokio::spawn(async move {
        let Some(first) = next_signal().await else {
            return;
        };
        // A prompt that reads a whole line never sees the signal (the read
        // is resumed): end the command here, through the prompt's hooks.
        if ENDS_AT_ONCE.load(Ordering::SeqCst) {
            hard_exit(first);
        }
        if stop_at_once {
            eprintln!("\n{}", name(first));
            std::process::exit(exit_code_for(first));
        }
        // Read before the signal is recorded: the prompt waits for that to
        // return, and then it is no longer prompting.
        let at_prompt = PROMPTING.load(Ordering::SeqCst) || ENDED_A_PROMPT.load(Ordering::SeqCst);
        SIGNAL.store(first, Ordering::SeqCst);
        notify().notify_waiters();
        // At a prompt nothing is under way: the prompt returns an error
        // that says so, and that is the only message.
        if at_prompt {
            if next_signal().await.is_some() {
                hard_exit(first);
            }
            return;
        }
        eprintln!(
            "\n{}: finishing the current step, then stopping ({} again to quit now)",
            name(first),
            if first == SIGINT { "Ctrl-C" } else { "signal" }
        );
        if next_signal().await.is_some() {
            hard_exit(first);
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

/// Whether the user is being asked something right now.
static PROMPTING: AtomicBool = AtomicBool::new(false);

/// Whether a signal ended a prompt, remembered after the prompt is gone: the
/// prompt may see its read interrupted before the signal task runs.
static ENDED_A_PROMPT: AtomicBool = AtomicBool::new(false);

/// Records that a signal ended the current prompt. Call while still at it.
pub(crate) fn signal_ended_the_prompt() {
    ENDED_A_PROMPT.store(true, Ordering::SeqCst);
}

/// Marks the time spent at a prompt, until dropped.
pub(crate) struct PromptGuard(());

pub(crate) fn at_prompt() -> PromptGuard {
    PROMPTING.store(true, Ordering::SeqCst);
    PromptGuard(())
}

impl Drop for PromptGuard {
    fn drop(&mut self) {
        PROMPTING.store(false, Ordering::SeqCst);
    }
}

/// Whether the first stop signal ends the program at once.
static ENDS_AT_ONCE: AtomicBool = AtomicBool::new(false);

/// Marks a prompt that a signal cannot interrupt (a hidden line read with
/// the terminal's echo off), until dropped: the first signal ends the
/// program at once, after `on_stop` (which gives the terminal back and
/// says why).
pub(crate) struct EndsAtOnce {
    _on_stop: HookGuard,
}

pub(crate) fn at_uninterruptible_prompt(on_stop: impl Fn() + Send + 'static) -> EndsAtOnce {
    let hook = on_hard_exit(on_stop);
    ENDS_AT_ONCE.store(true, Ordering::SeqCst);
    EndsAtOnce { _on_stop: hook }
}

impl Drop for EndsAtOnce {
    fn drop(&mut self) {
        ENDS_AT_ONCE.store(false, Ordering::SeqCst);
    }
}

type Hook = Box<dyn Fn() + Send>;

/// Process groups of running local children, killed on a hard exit.
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// Last-moment hooks, by id.
static HOOKS: Mutex<Vec<(u64, Hook)>> = Mutex::new(Vec::new());
static NEXT_HOOK: AtomicU64 = AtomicU64::new(1);

/// Kills every child group, runs the hooks, and exits with the signal's code.
fn hard_exit(first: i32) -> ! {
    for g in GROUPS.lock().map(|g| g.clone()).unwrap_or_default() {
        kill_group(g, libc::SIGKILL);
    }
    if let Ok(hooks) = HOOKS.lock() {
        for (_, h) in hooks.iter() {
            h();
        }
    }
    std::process::exit(exit_code_for(first))
}

/// The stop signal received (SIGINT while none was), to pass on to children.
pub(crate) fn signal() -> i32 {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => SIGINT,
        s => s,
    }
}

/// Sends a signal to a whole process group.
pub(crate) fn kill_group(pgid: i32, signal: i32) {
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
pub(crate) struct TrackedGroup(i32);

pub(crate) fn track_group(pgid: i32) -> TrackedGroup {
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
pub(crate) struct HookGuard(u64);

pub(crate) fn on_hard_exit(hook: impl Fn() + Send + 'static) -> HookGuard {
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

pub(crate) fn is_interrupted() -> bool {
    SIGNAL.load(Ordering::SeqCst) != 0
}

/// The exit code of an interrupted command: 130 for Ctrl-C, 143 for SIGTERM,
/// 129 for SIGHUP.
pub(crate) fn exit_code() -> u8 {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => crate::error::exit::INTERRUPTED,
        s => exit_code_for(s) as u8,
    }
}

/// Resolves when a stop signal arrives (at once if one already did).
pub(crate) async fn interrupted() {
    let notified = notify().notified();
    if is_interrupted() {
        return;
    }
    notified.await;
}
