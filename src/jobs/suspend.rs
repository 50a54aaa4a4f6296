//! Suspend and resume a CronJob's schedule during an incident. Like a
//! cordon, a suspension records who made it, when and why, in annotations
//! that `job list` shows, and `resume` will not undo someone else's
//! suspension without `--force`.

use k8s_openapi::api::batch::v1::CronJob;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::{cronjobs_api, get_cronjob};
use crate::cluster::{Cluster, api_error};
use crate::error::{Error, Result};
use crate::safety::each::{EachOutcome, Objects};
use crate::safety::note::{Note, NoteKeys, undo_refusal};
use crate::safety::{OpCtx, Plan};

pub(crate) const SUSPENDED_BY: &str = "oncall.dev/suspended-by";
/// The Kubernetes identity that suspended it (`suspended-by` is the OS user).
pub(crate) const SUSPENDED_AS: &str = "oncall.dev/suspended-as";
pub(crate) const SUSPENDED_AT: &str = "oncall.dev/suspended-at";
pub(crate) const SUSPEND_REASON: &str = "oncall.dev/suspend-reason";

/// Where the suspension note is kept.
const NOTE: NoteKeys = NoteKeys {
    by: SUSPENDED_BY,
    as_: SUSPENDED_AS,
    at: SUSPENDED_AT,
    reason: SUSPEND_REASON,
};

/// The note about the CronJob's current suspension; `None` when it is not
/// suspended or was suspended some other way. A note left behind after
/// `kubectl patch` resumed it describes no current suspension.
pub(crate) fn note(cj: &CronJob) -> Option<Note> {
    if !is_suspended(cj) {
        return None;
    }
    NOTE.read(cj.metadata.annotations.as_ref()?)
}

pub(crate) fn is_suspended(cj: &CronJob) -> bool {
    cj.spec.as_ref().and_then(|s| s.suspend) == Some(true)
}

/// How a suspension is described where no oncall note exists.
pub(crate) fn describe_suspension(cj: &CronJob) -> Option<String> {
    if !is_suspended(cj) {
        return None;
    }
    Some(match note(cj) {
        Some(note) => note.describe(),
        None => "by another tool or by hand (no oncall note)".into(),
    })
}

/// Suspensions or resumptions to make, resolved and planned.
#[derive(Debug, Clone)]
pub(crate) struct Toggle {
    pub namespace: String,
    /// `true` to suspend, `false` to resume.
    pub suspend: bool,
    pub reason: Option<String>,
    /// The CronJobs to change, by name.
    pub todo: Vec<String>,
    /// CronJobs left as they are because someone else suspended them
    /// (`resume` without `--force`), with why.
    pub refused: Vec<String>,
}

impl Toggle {
    /// The error for the suspensions left in place (`resume` without
    /// `--force`), once the others are done: they exit 1.
    pub(crate) fn refusal(&self) -> Result<()> {
        if self.refused.is_empty() {
            Ok(())
        } else {
            Err(Error::LeftAsIs {
                state: "suspended",
                refusals: self.refused.clone(),
            })
        }
    }
}

/// Reads the CronJobs and plans their suspension: one already suspended is
/// skipped, saying by whom.
pub(crate) async fn prepare_suspend(
    cluster: &Cluster,
    namespace: &str,
    names: &[String],
    reason: Option<&str>,
) -> Result<(Toggle, Plan)> {
    let mut plan = Plan::new("suspend scheduled runs", cluster).in_namespace(namespace);
    let mut todo = Vec::new();
    for name in names {
        let cj = get_cronjob(cluster, namespace, name).await?;
        let target = format!("cronjob/{name}");
        match describe_suspension(&cj) {
            Some(how) => plan.skip(target, format!("already suspended {how}")),
            None => {
                let detail = match reason {
                    Some(r) => format!("no scheduled runs until resumed: {r}"),
                    None => "no scheduled runs until resumed".into(),
                };
                plan.change(target, "suspend", detail);
                todo.push(name.clone());
            }
        }
    }
    let toggle = Toggle {
        namespace: namespace.to_string(),
        suspend: true,
        reason: reason.map(str::to_string),
        todo,
        refused: Vec::new(),
    };
    Ok((toggle, plan))
}

/// What resume will do with one CronJob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResumeDecision {
    Resume,
    NotSuspended,
    /// Suspended by someone else or another tool; `--force` overrides.
    Refuse {
        why: String,
    },
}

pub(crate) fn resume_decision(cj: &CronJob, user: &str, force: bool) -> ResumeDecision {
    if !is_suspended(cj) {
        return ResumeDecision::NotSuspended;
    }
    match undo_refusal(note(cj).as_ref(), user, force, "suspended", "resume it") {
        None => ResumeDecision::Resume,
        Some(why) => ResumeDecision::Refuse { why },
    }
}

/// Reads the CronJobs and plans their resumption, refusing (as a skip with
/// its reason) to undo someone else's suspension without `force`.
pub(crate) async fn prepare_resume(
    cluster: &Cluster,
    namespace: &str,
    names: &[String],
    user: &str,
    force: bool,
) -> Result<(Toggle, Plan)> {
    let mut plan = Plan::new("resume scheduled runs", cluster).in_namespace(namespace);
    let mut todo = Vec::new();
    let mut refused = Vec::new();
    for name in names {
        let cj = get_cronjob(cluster, namespace, name).await?;
        let target = format!("cronjob/{name}");
        match resume_decision(&cj, user, force) {
            ResumeDecision::Resume => {
                let how = describe_suspension(&cj).unwrap_or_default();
                plan.change(target, "resume", format!("was suspended {how}"));
                todo.push(name.clone());
            }
            ResumeDecision::NotSuspended => plan.skip(target, "not suspended"),
            ResumeDecision::Refuse { why } => {
                plan.skip(target, &why);
                refused.push(format!("`{name}` {why}"));
            }
        }
    }
    let toggle = Toggle {
        namespace: namespace.to_string(),
        suspend: false,
        reason: None,
        todo,
        refused,
    };
    Ok((toggle, plan))
}

/// Suspends or resumes one planned CronJob. Suspending records who, when
/// and why; resuming forgets the note.
pub(crate) async fn apply(
    cluster: &Cluster,
    toggle: &Toggle,
    name: &str,
    user: &str,
) -> Result<()> {
    let patch = if toggle.suspend {
        json!({
            "metadata": {"annotations": NOTE.write(user, &cluster.identity().await, toggle.reason.as_deref())},
            "spec": {"suspend": true}
        })
    } else {
        json!({
            "metadata": {"annotations": NOTE.clear()},
            "spec": {"suspend": false}
        })
    };
    cronjobs_api(cluster, &toggle.namespace)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(|e| api_error(e, &cluster.url, "patch cronjobs"))
}

/// CronJobs as a suspension's audit entry names and counts them.
const CRONJOBS: Objects = Objects {
    kind: "cronjob",
    counted_as: "CronJob(s)",
};

/// Suspends or resumes the planned CronJobs in order, stopping cleanly
/// between them when the context is cancelled; each one done is reported
/// to the observer as `cronjob/NAME`.
pub(crate) async fn run(
    cluster: &Cluster,
    toggle: &Toggle,
    ctx: &OpCtx<'_, String>,
) -> EachOutcome {
    let verb = if toggle.suspend {
        "suspended"
    } else {
        "resumed"
    };
    let change = async |name: &str| apply(cluster, toggle, name, ctx.user).await;
    let changed = |name: &str| format!("cronjob/{name}");
    CRONJOBS
        .change_each(verb, &toggle.todo, ctx, change, changed)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cronjob(suspended: bool, by: Option<&str>) -> CronJob {
        let mut annotations = serde_json::Map::new();
        if let Some(by) = by {
            annotations.insert(SUSPENDED_BY.into(), by.into());
            annotations.insert(SUSPEND_REASON.into(), "incident 42".into());
        }
        serde_json::from_value(json!({
            "metadata": {"name": "builder", "annotations": annotations},
            "spec": {"schedule": "0 3 * * *", "suspend": suspended,
                     "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}
        }))
        .unwrap()
    }

    #[test]
    fn resume_respects_other_peoples_suspensions() {
        assert_eq!(
            resume_decision(&cronjob(false, None), "me", false),
            ResumeDecision::NotSuspended
        );
        assert_eq!(
            resume_decision(&cronjob(true, Some("me")), "me", false),
            ResumeDecision::Resume
        );
        assert_eq!(
            resume_decision(&cronjob(true, Some("alice")), "me", false),
            ResumeDecision::Refuse {
                why: "suspended by alice: incident 42; pass --force to resume it".into()
            }
        );
        assert_eq!(
            resume_decision(&cronjob(true, Some("alice")), "me", true),
            ResumeDecision::Resume
        );
        // A note left behind after someone resumed it with kubectl is stale.
        assert_eq!(note(&cronjob(false, Some("alice"))), None);
    }
}
