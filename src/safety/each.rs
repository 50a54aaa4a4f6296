//! A change made to named objects one at a time (cordon nodes, suspend
//! CronJobs): it stops cleanly between two objects when the user asks, and
//! its audit entry names the objects changed and those not reached.

use super::op::OpCtx;
use super::{Audited, audit};
use crate::error::{Error, Result};

/// The objects a change is made to, as the audit log names them.
pub(crate) struct Objects {
    /// The kind in each object's name: `node` records `node/NAME`.
    pub kind: &'static str,
    /// How the audit summary counts them: `cordoned 2 item(s)`.
    pub counted_as: &'static str,
}

/// How a change one object at a time ended.
#[derive(Debug)]
pub(crate) struct EachOutcome {
    /// What each object done is said to be: `cordoned`, `resumed`.
    pub verb: &'static str,
    /// The objects changed, by name.
    pub done: Vec<String>,
    /// The objects not reached when it stopped early, by name.
    pub not_done: Vec<String>,
    pub result: Result<()>,
    kind: &'static str,
    counted_as: &'static str,
}

impl Objects {
    /// Makes `change` to each of `names` in order, stopping at the first
    /// failure or, between two objects, when the context is cancelled. Each
    /// object done is reported to the observer as `event` describes it.
    pub(crate) async fn change_each<E>(
        &self,
        verb: &'static str,
        names: &[String],
        ctx: &OpCtx<'_, E>,
        change: impl AsyncFn(&str) -> Result<()>,
        event: impl Fn(&str) -> E,
    ) -> EachOutcome {
        let mut outcome = self.none(verb);
        for (i, name) in names.iter().enumerate() {
            let failure = if ctx.cancel.is_cancelled() {
                Some(Error::interrupted(
                    outcome.targets(&outcome.done),
                    outcome.targets(&names[i..]),
                ))
            } else {
                change(name).await.err()
            };
            if let Some(err) = failure {
                outcome.not_done = names[i..].to_vec();
                outcome.result = Err(err);
                return outcome;
            }
            outcome.done.push(name.clone());
            ctx.emit(event(name));
        }
        outcome
    }

    /// The outcome of a change that had nothing to do.
    pub(crate) fn none(&self, verb: &'static str) -> EachOutcome {
        EachOutcome {
            verb,
            done: Vec::new(),
            not_done: Vec::new(),
            result: Ok(()),
            kind: self.kind,
            counted_as: self.counted_as,
        }
    }
}

impl EachOutcome {
    /// `kind/name` for each name.
    fn targets(&self, names: &[String]) -> Vec<String> {
        names.iter().map(|n| format!("{}/{n}", self.kind)).collect()
    }
}

impl Audited for EachOutcome {
    fn audit(&self) -> audit::Outcome {
        let mut outcome = match &self.result {
            Ok(()) => audit::Outcome::ok(format!(
                "{} {} {}",
                self.verb,
                self.done.len(),
                self.counted_as
            )),
            Err(e) => audit::Outcome::from_error(e),
        };
        outcome.done = self.targets(&self.done);
        outcome.not_done = self.targets(&self.not_done);
        outcome
    }
}
