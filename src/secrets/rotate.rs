//! `secret rotate` as one procedure: `prepare` reads the Secret and its
//! consumers and makes the plan; `run` keeps the previous values in a
//! Secret of their own, writes the new ones (only if nobody changed the
//! Secret since the plan), restarts the consumers that need it one at a
//! time, and on a failed restart puts the old values back and restarts
//! again. Shared by the command and the runbook action; never prints.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use serde::Serialize;

use super::consumers::{self, Consumer};
use super::values::NewValues;
use super::{fingerprint, managed};
use crate::cluster::{Cluster, api_error, status_of};
use crate::error::{Error, Result};
use crate::safety::{Audited, OpCtx, Plan, audit};
use crate::workloads::inspect::Facts;
use crate::workloads::{self, RolloutOutcome, Verdict, restart};

/// The label that ties a kept copy of previous values to its Secret.
pub(crate) const PREVIOUS_OF: &str = "oncall.dev/previous-of";

/// How a rotation behaves.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Rotate a Secret another tool manages.
    pub force: bool,
    /// Put the old values back (and restart again) when a restart fails.
    pub rollback_on_failure: bool,
    /// The longest wait for one consumer's rollout.
    pub timeout: Duration,
    /// Restart order by workload name (the config's `promote.order`);
    /// unlisted consumers follow in name order.
    pub order: Vec<String>,
}

/// One key's change, by fingerprint.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct KeyChange {
    pub key: String,
    /// added, changed, removed or unchanged.
    pub change: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

impl KeyChange {
    fn detail(&self) -> String {
        let fp = |f: &Option<String>| f.clone().unwrap_or_else(|| "-".into());
        format!(
            "`{}` {} (sha256 {} → {})",
            self.key,
            self.change,
            fp(&self.old),
            fp(&self.new)
        )
    }
}

/// A rotation, resolved and planned. It holds the values, so it has no
/// `Debug` and is never serialised.
pub(crate) struct Rotation {
    pub name: String,
    pub namespace: String,
    /// Where the previous values are kept (named in the plan).
    pub backup: String,
    pub keys: Vec<KeyChange>,
    pub consumers: Vec<Consumer>,
    /// The consumers to restart, in order.
    restarts: Vec<Facts>,
    resource_version: String,
    secret_type: Option<String>,
    old: BTreeMap<String, ByteString>,
    new: BTreeMap<String, ByteString>,
    options: Options,
}

/// What became of one consumer.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConsumerState {
    /// `kind/name`.
    pub workload: String,
    /// In words: which values its pods run with, and how it got there.
    pub state: String,
    /// Its rollouts: after the new values, then after a rollback.
    pub rollouts: Vec<RolloutOutcome>,
}

/// How an applied rotation ended.
#[derive(Debug, Serialize)]
pub(crate) struct Outcome {
    /// The Secret keeping the previous values, once created.
    pub backup: Option<String>,
    /// Whether the Secret holds the new values now.
    pub new_values_in_place: bool,
    pub rolled_back: bool,
    pub consumers: Vec<ConsumerState>,
    #[serde(skip)]
    pub result: Result<()>,
    /// What the rotation set out to do, for the audit log's done / not done.
    #[serde(skip)]
    intended: Intended,
}

/// The rotation's steps by name: the Secret, its backup, the restarts.
#[derive(Debug, Default)]
struct Intended {
    secret: String,
    backup: String,
    restarts: Vec<String>,
}

/// The audit log's outcome, the same for the command and the runbook: each
/// consumer's state, and what was and was not done.
impl Audited for Outcome {
    fn audit(&self) -> audit::Outcome {
        let states = self
            .consumers
            .iter()
            .map(|s| format!("{}: {}", s.workload, s.state))
            .collect::<Vec<_>>()
            .join("; ");
        let mut record = match &self.result {
            Ok(()) => audit::Outcome::ok(states),
            Err(e) => {
                let mut o = audit::Outcome::from_error(e);
                o.detail = format!("{}; {states}", o.detail);
                o
            }
        };
        (record.done, record.not_done) = self.done_and_not();
        record
    }
}

impl Outcome {
    fn done_and_not(&self) -> (Vec<String>, Vec<String>) {
        let rotation = &self.intended;
        let mut done = Vec::new();
        let mut not_done = Vec::new();
        match &self.backup {
            Some(b) => done.push(format!("keep the previous values in secret/{b}")),
            None => not_done.push(format!(
                "keep the previous values in secret/{}",
                rotation.backup
            )),
        }
        if self.new_values_in_place || self.rolled_back {
            done.push(format!("update secret/{}", rotation.secret));
        } else {
            not_done.push(format!("update secret/{}", rotation.secret));
        }
        if self.rolled_back {
            done.push(format!(
                "put the previous values back in secret/{}",
                rotation.secret
            ));
        }
        for target in &rotation.restarts {
            let restarted = self
                .consumers
                .iter()
                .any(|c| &c.workload == target && !c.rollouts.is_empty());
            if restarted {
                done.push(format!("restart {target}"));
            } else {
                not_done.push(format!("restart {target}"));
            }
        }
        (done, not_done)
    }
}

/// Progress for the command's spinners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// Work on consumer `target` began or moved on.
    Progress { target: String, message: String },
    /// Its restart ended; `error` says why when it failed.
    Finished {
        target: String,
        error: Option<String>,
    },
}

/// Reads the Secret and its consumers and plans the rotation. Refuses a
/// Secret another tool manages (without `force`), an immutable one, a
/// removal of a key it does not have, and a paused consumer.
pub(crate) async fn prepare(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    values: &NewValues,
    remove: &[String],
    options: Options,
) -> Result<(Rotation, Plan)> {
    let secret = Api::<Secret>::namespaced(cluster.client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|e| api_error(e, &cluster.url, "get secrets"))?
        .ok_or_else(|| Error::SecretNotFound {
            name: name.into(),
            namespace: namespace.into(),
        })?;
    let mut plan = Plan::new(format!("rotate secret/{name}"), cluster).in_namespace(namespace);
    if let Some(tool) = managed::manager(&secret) {
        if !options.force {
            return Err(Error::SecretManaged {
                name: name.into(),
                tool: tool.to_string(),
            });
        }
        plan.warn(format!(
            "secret `{name}` is managed by {tool}, which will overwrite this change at its next sync (--force)"
        ));
    }
    if secret.immutable == Some(true) {
        return Err(Error::SecretImmutable { name: name.into() });
    }
    let old = secret.data.clone().unwrap_or_default();
    let (new, keys) = merge(&old, values, remove)?;
    let changed: Vec<&str> = keys
        .iter()
        .filter(|k| k.change != "unchanged")
        .map(|k| k.key.as_str())
        .collect();
    let consumers: Vec<Consumer> = consumers::find(cluster, namespace, name)
        .await?
        .into_iter()
        .map(|c| c.for_changes(&changed))
        .collect();
    let mut restarts = Vec::new();
    for c in consumers.iter().filter(|c| c.restart) {
        let Some(w) = c.workload() else { continue };
        restarts.push(workloads::inspect(cluster, &w).await?);
    }
    restart::refuse_paused(&restarts)?;
    restarts.sort_by_key(|f| {
        let pos = options.order.iter().position(|n| *n == f.workload.name);
        (pos.unwrap_or(usize::MAX), f.workload.name.clone())
    });
    let resource_version = secret.metadata.resource_version.clone().unwrap_or_default();
    let backup = backup_name(name, &resource_version);
    let rotation = Rotation {
        name: name.to_string(),
        namespace: namespace.to_string(),
        backup,
        keys,
        consumers,
        restarts,
        resource_version,
        secret_type: secret.type_.clone(),
        old,
        new,
        options,
    };
    fill_plan(&rotation, &mut plan);
    Ok((rotation, plan))
}

/// The new data and each key's change.
fn merge(
    old: &BTreeMap<String, ByteString>,
    values: &NewValues,
    remove: &[String],
) -> Result<(BTreeMap<String, ByteString>, Vec<KeyChange>)> {
    let mut new = old.clone();
    let mut keys = Vec::new();
    for (key, value) in values.iter() {
        let before = old.get(key).map(|b| fingerprint(&b.0));
        let after = fingerprint(value);
        let change = match &before {
            None => "added",
            Some(b) if old[key].0 == *value && *b == after => "unchanged",
            Some(_) => "changed",
        };
        new.insert(key.clone(), ByteString(value.clone()));
        keys.push(KeyChange {
            key: key.clone(),
            change,
            old: before,
            new: Some(after),
        });
    }
    for key in remove {
        if values.iter().any(|(k, _)| k == key) {
            return Err(Error::KeySetAndRemoved { key: key.clone() });
        }
        let Some(b) = new.remove(key) else {
            return Err(Error::NoKeyToRemove {
                key: key.clone(),
                keys: old.keys().cloned().collect(),
            });
        };
        keys.push(KeyChange {
            key: key.clone(),
            change: "removed",
            old: Some(fingerprint(&b.0)),
            new: None,
        });
    }
    Ok((new, keys))
}

/// `NAME-previous-RV`, within the 253 characters of a name. Named after
/// the resourceVersion the new values replace, so a runbook step's plan
/// and its run name the same copy, and two rotations from the same values
/// cannot both proceed (the second cannot create it).
fn backup_name(name: &str, resource_version: &str) -> String {
    let rv: String = resource_version
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let suffix = format!("-previous-{rv}");
    let keep = name.len().min(253usize.saturating_sub(suffix.len()));
    format!("{}{suffix}", name[..keep].trim_end_matches(['-', '.']))
}

fn fill_plan(r: &Rotation, plan: &mut Plan) {
    let changed: Vec<&KeyChange> = r.keys.iter().filter(|k| k.change != "unchanged").collect();
    for k in r.keys.iter().filter(|k| k.change == "unchanged") {
        plan.skip(format!("key {}", k.key), k.detail());
    }
    if changed.is_empty() {
        return;
    }
    plan.change(
        format!("secret/{}", r.backup),
        "create",
        format!(
            "keeps the previous values of secret/{} for a rollback",
            r.name
        ),
    );
    for k in &changed {
        plan.change(format!("secret/{}", r.name), "update", k.detail());
    }
    for f in &r.restarts {
        match &f.no_restart {
            Some(why) => plan.skip(
                f.workload.to_string(),
                format!("needs a restart for the new values, but {why}"),
            ),
            None => plan.change(
                f.workload.to_string(),
                "restart",
                format!(
                    "{}; {} replicas, {}, {}",
                    why_of(r, &f.workload.to_string()),
                    f.replicas,
                    f.strategy,
                    f.health()
                ),
            ),
        }
        if let Some(o) = &f.outage {
            plan.warn(format!("{}: the restart causes an outage: {o}", f.workload));
        }
    }
    for c in r.consumers.iter().filter(|c| !c.restart) {
        plan.skip(c.target(), format!("no restart: {}", use_and_why(c)));
    }
    if r.consumers.is_empty() {
        plan.warn(format!(
            "no Deployment, StatefulSet, DaemonSet or CronJob in namespace `{}` uses secret `{}`",
            r.namespace, r.name
        ));
    }
    if r.options.rollback_on_failure {
        plan.warn(
            "if a restart fails, the previous values are put back and the restarted workloads restarted again (--no-rollback-on-failure leaves them)",
        );
    }
}

/// How a consumer uses the Secret, and why that needs a restart (or not).
fn why_of(r: &Rotation, target: &str) -> String {
    r.consumers
        .iter()
        .find(|c| c.target() == target)
        .map(use_and_why)
        .unwrap_or_default()
}

fn use_and_why(c: &Consumer) -> String {
    let uses: Vec<String> = c.uses.iter().map(|u| u.describe()).collect();
    format!("{}: {}", uses.join("; "), c.why)
}

impl Rotation {
    /// Whether the plan changes anything (every value may be unchanged).
    pub(crate) fn changes_anything(&self) -> bool {
        self.keys.iter().any(|k| k.change != "unchanged")
    }

    /// The restarts, in order, that the plan makes (`kind/name`).
    pub(crate) fn restart_targets(&self) -> Vec<String> {
        self.to_restart().map(|f| f.workload.to_string()).collect()
    }

    fn to_restart(&self) -> impl Iterator<Item = &Facts> {
        self.restarts.iter().filter(|f| f.no_restart.is_none())
    }
}

/// Applies the rotation (see the module's description). `ctx.user` is
/// recorded on the kept copy of the previous values; a cancellation stops
/// before the next restart.
pub(crate) async fn run(cluster: &Cluster, r: &Rotation, ctx: &OpCtx<'_, Event>) -> Outcome {
    let api = Api::<Secret>::namespaced(cluster.client.clone(), &r.namespace);
    let mut outcome = Outcome {
        intended: Intended {
            secret: r.name.clone(),
            backup: r.backup.clone(),
            restarts: r.restart_targets(),
        },
        backup: None,
        new_values_in_place: false,
        rolled_back: false,
        consumers: Vec::new(),
        result: Ok(()),
    };
    if let Err(e) = create_backup(&api, r, ctx.user).await {
        outcome.result = Err(if status_of(&e).is_some_and(|s| s.code == 409) {
            Error::BackupExists {
                backup: r.backup.clone(),
                name: r.name.clone(),
            }
        } else {
            api_error(e, &cluster.url, "create secrets")
        });
        outcome.consumers = states(r, &BTreeMap::new(), "not restarted: nothing was changed");
        return outcome;
    }
    outcome.backup = Some(r.backup.clone());
    let written = match write(&api, r, &r.new, &r.resource_version).await {
        Ok(rv) => rv,
        Err(e) => {
            // Nothing changed, so the copy of the previous values is not needed.
            let _ = api.delete(&r.backup, &DeleteParams::default()).await;
            outcome.backup = None;
            outcome.result = Err(write_error(e, cluster, r));
            outcome.consumers = states(r, &BTreeMap::new(), "not restarted: nothing was changed");
            return outcome;
        }
    };
    outcome.new_values_in_place = true;
    let mut done: BTreeMap<String, ConsumerState> = BTreeMap::new();
    let mut touched: Vec<&Facts> = Vec::new();
    let mut failure: Option<Error> = None;
    for f in r.to_restart() {
        let target = f.workload.to_string();
        if ctx.cancel.is_cancelled() {
            failure = Some(Error::Interrupted {
                done: vec![format!("secret `{}` has the new values", r.name)],
                not_done: vec![format!("the restarts from {target} on")],
                next: Some(format!(
                    "the previous values are kept in secret `{}`",
                    r.backup
                )),
            });
            break;
        }
        touched.push(f);
        let result = restart_one(cluster, f, r.options.timeout, ctx).await;
        let (state, error) = judge(&target, &result, r.options.timeout, "runs the new values");
        let entry = done.entry(target.clone()).or_insert_with(|| ConsumerState {
            workload: target,
            state: String::new(),
            rollouts: Vec::new(),
        });
        entry.state = state;
        entry.rollouts.extend(result.ok());
        if let Some(e) = error {
            failure = Some(e);
            break;
        }
    }
    let Some(error) = failure else {
        outcome.consumers = states(r, &done, "");
        return outcome;
    };
    if matches!(error, Error::Interrupted { .. }) || !r.options.rollback_on_failure {
        let untouched = if r.options.rollback_on_failure {
            "not restarted (interrupted): its pods still run the previous values"
        } else {
            "not restarted: its pods still run the previous values while the Secret holds the new ones"
        };
        outcome.consumers = states(r, &done, untouched);
        outcome.result = Err(match error {
            Error::Interrupted { .. } => error,
            other => with_note(
                other,
                &format!(
                    "--no-rollback-on-failure was given: secret `{}` keeps the new values (the previous ones are in secret `{}`)",
                    r.name, r.backup
                ),
            ),
        });
        return outcome;
    }
    let note = roll_back(cluster, r, &api, &written, &touched, &mut done, ctx).await;
    outcome.rolled_back = note.is_ok();
    outcome.new_values_in_place = note.is_err();
    outcome.consumers = states(
        r,
        &done,
        "not restarted: it never ran the new values, and the Secret has the previous ones again",
    );
    outcome.result = Err(with_note(error, &note.unwrap_or_else(|e| e)));
    outcome
}

/// Puts the previous values back and restarts the touched consumers again.
/// Ok carries the sentence for the error message; Err when the values
/// could not be put back.
async fn roll_back(
    cluster: &Cluster,
    r: &Rotation,
    api: &Api<Secret>,
    written: &str,
    touched: &[&Facts],
    done: &mut BTreeMap<String, ConsumerState>,
    ctx: &OpCtx<'_, Event>,
) -> std::result::Result<String, String> {
    if let Err(e) = write(api, r, &r.old, written).await {
        let e = write_error(e, cluster, r);
        for f in touched {
            if let Some(s) = done.get_mut(&f.workload.to_string()) {
                s.state
                    .push_str("; the rollback could not put the previous values back");
            }
        }
        return Err(format!(
            "the previous values could not be put back ({e}); they are kept in secret `{}`",
            r.backup
        ));
    }
    let mut again_failed = Vec::new();
    for f in touched {
        let target = f.workload.to_string();
        let result = restart_one(cluster, f, r.options.timeout, ctx).await;
        let (state, error) = judge(
            &target,
            &result,
            r.options.timeout,
            "runs the previous values",
        );
        let entry = done
            .get_mut(&target)
            .expect("touched consumers have a state");
        entry.state = format!("{}; rolled back: {state}", entry.state);
        entry.rollouts.extend(result.ok());
        if error.is_some() {
            again_failed.push(format!("`{target}`"));
        }
    }
    let names: Vec<String> = touched
        .iter()
        .map(|f| format!("`{}`", f.workload))
        .collect();
    let mut note = format!(
        "rolled back: secret `{}` has its previous values again (a copy stays in secret `{}`)",
        r.name, r.backup
    );
    if !names.is_empty() {
        note.push_str(&format!(", and {} restarted with them", names.join(", ")));
    }
    if !again_failed.is_empty() {
        note.push_str(&format!(
            "; the restart with the previous values failed too for {}",
            again_failed.join(", ")
        ));
    }
    Ok(note)
}

/// Restarts one workload as `oncall restart` does and waits for it with
/// the same fail-fast wait.
async fn restart_one(
    cluster: &Cluster,
    f: &Facts,
    timeout: Duration,
    ctx: &OpCtx<'_, Event>,
) -> Result<RolloutOutcome> {
    let target = f.workload.to_string();
    let progress = |message: &str| {
        ctx.emit(Event::Progress {
            target: target.clone(),
            message: message.to_string(),
        })
    };
    progress("restarting");
    let cancel = &ctx.cancel;
    let applied = restart::apply(cluster, std::slice::from_ref(f), false, Utc::now(), cancel).await;
    if let Some(e) = applied.error {
        ctx.emit(Event::Finished {
            target: target.clone(),
            error: Some(e.to_string()),
        });
        return Err(e);
    }
    let baseline = applied.baselines.get(&f.workload).cloned();
    let outcome = workloads::wait_for_rollout_from(
        &cluster.client,
        &f.workload,
        baseline,
        timeout,
        cancel,
        |p| progress(&p.message),
    )
    .await;
    let error = match &outcome {
        Ok(o) if o.outcome == Verdict::Complete => None,
        Ok(o) => Some(
            o.failure
                .as_ref()
                .map(|f| format!("{}: {}", f.reason, f.message))
                .unwrap_or_else(|| o.outcome.as_str().to_string()),
        ),
        Err(e) => Some(e.to_string()),
    };
    ctx.emit(Event::Finished { target, error });
    outcome
}

/// A consumer's state after a restart, and the error that stops the
/// rotation when the restart did not complete.
fn judge(
    target: &str,
    result: &Result<RolloutOutcome>,
    timeout: Duration,
    values: &str,
) -> (String, Option<Error>) {
    let o = match result {
        Ok(o) => o,
        Err(e) => {
            return (
                format!("restart failed: {e}"),
                Some(Error::ConsumerRestartFailed {
                    target: target.into(),
                    why: e.to_string(),
                }),
            );
        }
    };
    match o.outcome {
        Verdict::Complete | Verdict::NotWaited => (format!("restarted: {values}"), None),
        Verdict::Failed => {
            let why = o
                .failure
                .as_ref()
                .map(|f| format!("{}: {}", f.reason, f.message))
                .unwrap_or_else(|| o.status.clone());
            (
                format!("restart failed ({why}); its ready pods are the ones from before"),
                Some(Error::ConsumerRestartFailed {
                    target: target.into(),
                    why,
                }),
            )
        }
        Verdict::TimedOut => (
            format!("restart timed out ({})", o.status),
            Some(Error::TimedOut {
                after: humantime::format_duration(timeout).to_string(),
                what: format!("`{target}` was still rolling out ({})", o.status),
            }),
        ),
        Verdict::Interrupted => (
            "restart interrupted: its rollout goes on".to_string(),
            Some(Error::interrupted(
                vec!["the Secret has the new values".into()],
                vec![format!("waiting for `{target}`")],
            )),
        ),
    }
}

fn with_note(error: Error, note: &str) -> Error {
    match error {
        Error::TimedOut { after, what } => Error::TimedOut {
            after,
            what: format!("{what}; {note}"),
        },
        other => Error::Failed(format!("{other}; {note}")),
    }
}

/// Every consumer's state: the restarted ones from `done`, the others by
/// whether they needed a restart (`untouched` for those that did and were
/// not reached; empty when all were).
fn states(
    r: &Rotation,
    done: &BTreeMap<String, ConsumerState>,
    untouched: &str,
) -> Vec<ConsumerState> {
    let mut out = Vec::new();
    for f in &r.restarts {
        let target = f.workload.to_string();
        out.push(done.get(&target).cloned().unwrap_or_else(|| ConsumerState {
            state: match &f.no_restart {
                Some(why) => format!(
                    "not restarted ({why}): its pods keep the previous values until replaced"
                ),
                None => untouched.to_string(),
            },
            workload: target,
            rollouts: Vec::new(),
        }));
    }
    for c in r
        .consumers
        .iter()
        .filter(|c| !c.restart || c.workload().is_none())
    {
        out.push(ConsumerState {
            workload: c.target(),
            state: format!("not restarted: {}", c.why),
            rollouts: Vec::new(),
        });
    }
    out
}

async fn create_backup(api: &Api<Secret>, r: &Rotation, user: &str) -> Result<(), kube::Error> {
    let copy = Secret {
        metadata: ObjectMeta {
            name: Some(r.backup.clone()),
            namespace: Some(r.namespace.clone()),
            labels: Some(BTreeMap::from([(PREVIOUS_OF.to_string(), r.name.clone())])),
            annotations: Some(BTreeMap::from([
                (
                    "oncall.dev/rotated-at".to_string(),
                    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
                ("oncall.dev/rotated-by".to_string(), user.to_string()),
            ])),
            ..Default::default()
        },
        type_: r.secret_type.clone(),
        data: Some(r.old.clone()),
        ..Default::default()
    };
    api.create(&PostParams::default(), &copy).await.map(drop)
}

/// Replaces the Secret's data, only if it is still at `resource_version`;
/// returns the new resourceVersion.
async fn write(
    api: &Api<Secret>,
    r: &Rotation,
    data: &BTreeMap<String, ByteString>,
    resource_version: &str,
) -> Result<String, kube::Error> {
    let mut current = api.get(&r.name).await?;
    current.metadata.resource_version = Some(resource_version.to_string());
    current.data = Some(data.clone());
    current.string_data = None;
    let written = api
        .replace(&r.name, &PostParams::default(), &current)
        .await?;
    Ok(written.metadata.resource_version.unwrap_or_default())
}

fn write_error(e: kube::Error, cluster: &Cluster, r: &Rotation) -> Error {
    if status_of(&e).is_some_and(|s| s.code == 409) {
        return Error::SecretChangedMeanwhile {
            name: r.name.clone(),
        };
    }
    api_error(e, &cluster.url, "update secrets")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safety::Cancel;
    use crate::testing::{Recorder, SimCluster, shop, sim_cluster};

    const CONSUMED: &str = r#"
---
apiVersion: v1
kind: Secret
metadata: {name: web-secrets, namespace: shop}
data: {TOKEN: b2xk}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: "shop/web:1"
          env: [{name: TOKEN, valueFrom: {secretKeyRef: {name: web-secrets, key: TOKEN}}}]
"#;

    /// `web-secrets` and its consumer, and the rotation of its `TOKEN` to
    /// `new` (rolled back if a restart fails), as planned.
    async fn rotate_token() -> (SimCluster, Rotation) {
        let t = sim_cluster(&(shop() + CONSUMED), "shop").await;
        let mut new = NewValues::default();
        new.insert("TOKEN", b"new".to_vec()).unwrap();
        let options = Options {
            force: false,
            rollback_on_failure: true,
            timeout: Duration::from_secs(60),
            order: Vec::new(),
        };
        let (rotation, _) = prepare(&t.cluster, "shop", "web-secrets", &new, &[], options)
            .await
            .unwrap();
        (t, rotation)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rotation_writes_the_values_and_restarts_the_consumer() {
        let (t, rotation) = rotate_token().await;
        let seen = Recorder::new();
        let observer = |e| seen.record(e);
        let ctx = OpCtx::new("alice", Cancel::manual(), &observer);
        let outcome = run(&t.cluster, &rotation, &ctx).await;
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        assert!(outcome.new_values_in_place && !outcome.rolled_back);
        seen.assert_seen(&Event::Finished {
            target: "deployment/web".into(),
            error: None,
        });
        let audit = outcome.audit();
        assert_eq!(audit.status, audit::Status::Ok);
        assert!(audit.done.contains(&"restart deployment/web".to_string()));
        let secret = t.sim.get("secrets", Some("shop"), "web-secrets").unwrap();
        assert_eq!(secret["data"]["TOKEN"], "bmV3", "base64 of `new`");
        let backup = t
            .sim
            .get("secrets", Some("shop"), outcome.backup.as_deref().unwrap())
            .expect("the previous values are kept");
        assert_eq!(
            backup["metadata"]["annotations"]["oncall.dev/rotated-by"],
            "alice"
        );
        assert_eq!(backup["data"]["TOKEN"], "b2xk");
    }

    /// Someone changes the Secret while the plan is read: their change is
    /// kept, no copy of the old values is left, and no consumer restarts.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_secret_changed_after_the_plan_is_not_overwritten() {
        let (t, rotation) = rotate_token().await;
        let mut theirs = t.sim.get("secrets", Some("shop"), "web-secrets").unwrap();
        theirs["data"]["TOKEN"] = "dGhlaXJz".into();
        t.sim.apply(theirs).unwrap();
        let observer = |_: Event| {};
        let ctx = OpCtx::new("alice", Cancel::manual(), &observer);
        let outcome = run(&t.cluster, &rotation, &ctx).await;
        assert!(
            matches!(outcome.result, Err(Error::SecretChangedMeanwhile { .. })),
            "{:?}",
            outcome.result
        );
        assert!(!outcome.new_values_in_place && outcome.backup.is_none());
        let secret = t.sim.get("secrets", Some("shop"), "web-secrets").unwrap();
        assert_eq!(secret["data"]["TOKEN"], "dGhlaXJz", "base64 of `theirs`");
        assert!(
            t.sim
                .get("secrets", Some("shop"), &rotation.backup)
                .is_none()
        );
        let d = t.sim.get("deployments", Some("shop"), "web").unwrap();
        assert!(d["spec"]["template"]["metadata"]["annotations"][restart::RESTARTED_AT].is_null());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_rotation_restarts_no_consumer() {
        let (t, rotation) = rotate_token().await;
        let cancel = Cancel::manual();
        cancel.cancel();
        let observer = |_: Event| {};
        let ctx = OpCtx::new("alice", cancel, &observer);
        let outcome = run(&t.cluster, &rotation, &ctx).await;
        assert!(matches!(outcome.result, Err(Error::Interrupted { .. })));
        let audit = outcome.audit();
        assert_eq!(audit.not_done, vec!["restart deployment/web"]);
        let d = t.sim.get("deployments", Some("shop"), "web").unwrap();
        assert!(
            d["spec"]["template"]["metadata"]["annotations"][restart::RESTARTED_AT].is_null(),
            "not restarted"
        );
    }
}
