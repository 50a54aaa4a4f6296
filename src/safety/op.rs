//! What a procedure's `run` needs besides the cluster and its plan: who is
//! acting (for cordon notes and release records), whether the user asked to
//! stop, and where its progress goes. One value for commands, runbooks and
//! tests, so no procedure invents its own channel or callback.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::interrupt;

/// Whether a running procedure should stop at its next safe point.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cancel {
    /// `None`: the process's stop signals (Ctrl-C, SIGTERM, SIGHUP).
    /// `Some`: a flag of its own, for tests and embedded runs.
    flag: Option<Arc<AtomicBool>>,
}

impl Cancel {
    /// Stops when the process receives a stop signal.
    pub(crate) fn on_signal() -> Self {
        Self { flag: None }
    }

    /// A token that stops only when [`Cancel::cancel`] is called.
    #[cfg(test)]
    pub(crate) fn manual() -> Self {
        Self {
            flag: Some(Arc::new(AtomicBool::new(false))),
        }
    }

    /// Asks a manual token to stop; a signal token ignores it (only the
    /// user stops those).
    #[cfg(test)]
    pub(crate) fn cancel(&self) {
        if let Some(flag) = &self.flag {
            flag.store(true, Ordering::SeqCst);
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        match &self.flag {
            None => interrupt::is_interrupted(),
            Some(flag) => flag.load(Ordering::SeqCst),
        }
    }

    /// Resolves once the procedure should stop.
    pub(crate) async fn cancelled(&self) {
        match &self.flag {
            None => interrupt::interrupted().await,
            Some(flag) => {
                while !flag.load(Ordering::SeqCst) {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// The context a procedure runs in. `E` is the procedure's own event type;
/// the observer may be called from several tasks at once (a drain of many
/// nodes), so it must be `Sync`.
pub(crate) struct OpCtx<'a, E> {
    /// The person acting, as cordon notes and release records name them.
    pub user: &'a str,
    pub cancel: Cancel,
    observer: &'a (dyn Fn(E) + Send + Sync),
}

impl<'a, E> OpCtx<'a, E> {
    pub(crate) fn new(
        user: &'a str,
        cancel: Cancel,
        observer: &'a (dyn Fn(E) + Send + Sync),
    ) -> Self {
        Self {
            user,
            cancel,
            observer,
        }
    }

    /// Reports progress; what becomes of it (a bar, a line, nothing) is the
    /// caller's choice.
    pub(crate) fn emit(&self, event: E) {
        (self.observer)(event)
    }
}

/// An observer that drops every event: for runbook steps that report only
/// their outcome, and for tests that do not look at progress.
pub(crate) fn ignore<E>(_: E) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn events_reach_the_observer_in_order() {
        let seen = Mutex::new(Vec::new());
        let observer = |e: u32| seen.lock().unwrap().push(e);
        let ctx = OpCtx::new("alice", Cancel::manual(), &observer);
        ctx.emit(1);
        ctx.emit(2);
        assert_eq!(*seen.lock().unwrap(), vec![1, 2]);
        assert_eq!(ctx.user, "alice");
    }

    #[test]
    fn a_manual_token_stops_only_when_cancelled() {
        let cancel = Cancel::manual();
        let copy = cancel.clone();
        assert!(!copy.is_cancelled());
        cancel.cancel();
        assert!(copy.is_cancelled(), "clones share the flag");
    }

    #[tokio::test]
    async fn cancelled_resolves_after_cancel() {
        let cancel = Cancel::manual();
        let waiter = {
            let c = cancel.clone();
            tokio::spawn(async move { c.cancelled().await })
        };
        cancel.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(2), waiter)
            .await
            .expect("cancelled() resolves once cancel() was called")
            .unwrap();
    }
}
