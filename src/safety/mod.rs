//! The safety model every mutating command goes through:
//! resolve → plan → confirm → apply with progress → record.

pub(crate) mod audit;
pub(crate) mod each;
pub(crate) mod interrupt;
pub(crate) mod note;
pub(crate) mod op;
pub(crate) mod plan;

use crate::app::App;
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::ui::{prompt, style};

pub(crate) use op::{Cancel, OpCtx};
pub(crate) use plan::{ImageUpdate, Plan};

/// How the go-ahead was given, as the audit log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Answer {
    /// `--yes` on the command line.
    YesFlag,
    /// "y" at the prompt.
    Confirmed,
    /// The context name typed at the production prompt.
    TypedContext,
    /// `--dry-run`: nothing was asked and nothing changed.
    DryRun,
    /// The plan had nothing to change.
    NothingToDo,
    /// "n", or a wrong context name.
    Declined,
    /// No terminal to ask on and no `--yes`.
    Refused,
}

impl Answer {
    /// Whether the command may go on and change things.
    pub(crate) fn proceeds(self) -> bool {
        matches!(
            self,
            Answer::YesFlag | Answer::Confirmed | Answer::TypedContext
        )
    }
}

/// Shows the plan and asks for the go-ahead.
///
/// Returns the answer when the command may go on, or when there is nothing
/// to do (dry run, empty plan). A refusal or a "no" is recorded in the audit
/// log and returned as an error (exit 3), so nothing can run after it.
pub(crate) fn approve(app: &App, cluster: &Cluster, plan: &Plan) -> Result<Answer> {
    plan::show(app, cluster, plan)?;
    let answer = decide(app, cluster, plan)?;
    match answer {
        Answer::Declined => {
            audit::record(cluster, plan, answer, &audit::Outcome::nothing())?;
            Err(Error::Declined("you answered no".into()))
        }
        Answer::Refused => {
            audit::record(cluster, plan, answer, &audit::Outcome::nothing())?;
            Err(Error::NoTty)
        }
        Answer::NothingToDo => {
            // A note for a person; a script reads the result that follows.
            if !app.global.output.is_structured() {
                outln!("Nothing to do.");
            }
            Ok(answer)
        }
        Answer::DryRun => {
            // With -o json|yaml the plan printed is the dry run's whole output.
            if !app.global.output.is_structured() {
                style::note("Dry run: nothing was changed.");
            }
            Ok(answer)
        }
        _ => Ok(answer),
    }
}

fn decide(app: &App, cluster: &Cluster, plan: &Plan) -> Result<Answer> {
    decide_at(app, &cluster.context, &cluster.describe(), plan)
}

/// The go-ahead for `plan` in `context` (described as `where_`), without
/// printing the plan: dry run, --yes, no TTY, typed context name or y/N.
pub(crate) fn decide_at(app: &App, context: &str, where_: &str, plan: &Plan) -> Result<Answer> {
    if plan.changes.is_empty() {
        return Ok(Answer::NothingToDo);
    }
    if app.global.dry_run {
        return Ok(Answer::DryRun);
    }
    // Before any answer: a change that cannot be recorded is not made.
    audit::check_writable()?;
    if app.global.yes {
        return Ok(Answer::YesFlag);
    }
    if !prompt::stdin_is_terminal() {
        return Ok(Answer::Refused);
    }
    if app.config.is_protected(context) {
        let question = format!(
            "{} is protected. Type its name to apply {} change(s)",
            style::bold(context),
            plan.changes.len()
        );
        return Ok(if prompt::type_to_confirm(&question, context)? {
            Answer::TypedContext
        } else {
            Answer::Declined
        });
    }
    let question = format!("Apply {} change(s) to {where_}?", plan.changes.len());
    Ok(if prompt::confirm(&question)? {
        Answer::Confirmed
    } else {
        Answer::Declined
    })
}

/// An operation's ending, as its audit entry records it.
pub(crate) trait Audited {
    fn audit(&self) -> audit::Outcome;
}

/// The one way a change is made: shows the plan and asks (see `approve`),
/// runs `op`, and writes the audit entry however it ends: done, failed, or
/// stopped between steps by Ctrl-C. If a second signal quits the process
/// at once while `op` runs, the entry is still written on the way out,
/// saying the operation was cut short.
///
/// `None` when there was nothing to run: a dry run or an empty plan.
pub(crate) async fn execute<O: Audited>(
    app: &App,
    cluster: &Cluster,
    plan: &Plan,
    op: impl AsyncFnOnce() -> O,
) -> Result<Option<O>> {
    let answer = approve(app, cluster, plan)?;
    if !answer.proceeds() {
        return Ok(None);
    }
    let pending = audit::Pending::new(cluster, plan, answer);
    let cut_short = {
        let pending = pending.clone();
        interrupt::on_hard_exit(move || {
            // Quitting anyway: a failed write has nowhere to be reported.
            let _ = pending.write(&audit::Outcome::cut_short());
        })
    };
    let outcome = op().await;
    drop(cut_short);
    pending.write(&outcome.audit())?;
    Ok(Some(outcome))
}
