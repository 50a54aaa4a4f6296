//! Following a rollout until it is finished, has failed, or runs out of
//! time: the reusable wait behind `restart`, `rollout status` and `promote`.
//!
//! It follows two watches (the workload, and its pods) rather than polling.
//! "Finished" is kubectl's rule (see `status`); "failed" comes early, as soon
//! as a pod of the new revision crash-loops, cannot pull its image, cannot
//! be scheduled or configured, is OOM-killed, or the Deployment exceeds its
//! progress deadline, because waiting longer would not help.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, ResourceExt};
use serde::Serialize;

use super::pods::{self, Problem, diagnose};
use super::status::{self, State};
use super::{Kind, Workload, WorkloadRef};
use crate::error::{Error, Result};
use crate::safety::Cancel;

/// How many log lines a failure shows.
pub(crate) const LOG_LINES: i64 = 20;

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    /// kubectl's completion rule holds.
    Complete,
    /// The rollout cannot finish without someone fixing something.
    Failed,
    /// The timeout passed first.
    TimedOut,
    /// Ctrl-C.
    Interrupted,
    /// `--no-wait`: the change was made and not followed.
    NotWaited,
}

impl Verdict {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verdict::Complete => "complete",
            Verdict::Failed => "failed",
            Verdict::TimedOut => "timed out",
            Verdict::Interrupted => "interrupted",
            Verdict::NotWaited => "not waited",
        }
    }
}

/// Why a rollout failed, with what the user needs to fix it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RolloutFailure {
    /// The failing pod, when one pod explains it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// The container at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// CrashLoopBackOff, ImagePullBackOff, Unschedulable, OOMKilled,
    /// CreateContainerConfigError, ProgressDeadlineExceeded, Paused, ...
    pub reason: String,
    pub message: String,
    /// The last log lines of the failing container (of its previous run
    /// when it crashed), read through the API.
    pub logs: Vec<String>,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

/// The summary of one wait, as `-o json` prints it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RolloutOutcome {
    /// `kind/name`.
    pub workload: String,
    pub namespace: String,
    pub outcome: Verdict,
    /// How long the wait took, in seconds.
    pub duration_seconds: f64,
    /// Pods live before the change (or, without a baseline, when the wait
    /// began) that are gone or going now.
    pub pods_replaced: Vec<String>,
    /// The last status, in kubectl's words.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<RolloutFailure>,
}

impl RolloutOutcome {
    /// The outcome of a change that was not followed: `--no-wait`
    /// (`NotWaited`), or Ctrl-C before the wait began (`Interrupted`).
    pub(crate) fn unfollowed(r: &WorkloadRef, outcome: Verdict, status: impl Into<String>) -> Self {
        RolloutOutcome {
            workload: r.to_string(),
            namespace: r.namespace.clone(),
            outcome,
            duration_seconds: 0.0,
            pods_replaced: Vec::new(),
            status: status.into(),
            failure: None,
        }
    }
}

/// How a set of waits went, in one wording for `restart`, `rollout status`
/// and their runbook steps: failures first (exit 1), then timeouts (exit
/// 5), then Ctrl-C.
pub(crate) fn verdict(outcomes: &[RolloutOutcome], timeout: Duration) -> Result<()> {
    let with = |v: Verdict| -> Vec<&RolloutOutcome> {
        outcomes.iter().filter(|o| o.outcome == v).collect()
    };
    let names = |os: &[&RolloutOutcome]| {
        os.iter()
            .map(|o| format!("`{}`", o.workload))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let failed = with(Verdict::Failed);
    if !failed.is_empty() {
        return Err(Error::RolloutFailed {
            workloads: failed.iter().map(|o| o.workload.to_string()).collect(),
            why: failed[0].failure.as_ref().map(|f| f.message.clone()),
        });
    }
    let timed_out = with(Verdict::TimedOut);
    if !timed_out.is_empty() {
        return Err(Error::TimedOut {
            after: humantime::format_duration(timeout).to_string(),
            what: format!(
                "{} still rolling out ({}); keep watching with {}, or pass a longer --timeout",
                names(&timed_out),
                timed_out[0].status,
                follow_command(&timed_out)
            ),
        });
    }
    let interrupted = with(Verdict::Interrupted);
    if !interrupted.is_empty() {
        let finished: Vec<&RolloutOutcome> = outcomes
            .iter()
            .filter(|o| o.outcome != Verdict::Interrupted)
            .collect();
        let each = |list: &[&RolloutOutcome], how: &dyn Fn(&str) -> String| -> Vec<String> {
            list.iter().map(|o| how(&o.workload)).collect()
        };
        return Err(Error::Interrupted {
            done: each(&finished, &|w| format!("`{w}` finished")),
            not_done: each(&interrupted, &|w| format!("waiting for `{w}`")),
            next: Some(format!(
                "the rollouts themselves go on: follow them with {}",
                follow_command(&interrupted)
            )),
        });
    }
    Ok(())
}

/// The `oncall rollout status` command, in backticks, that goes on
/// watching `outcomes` (one per namespace), with the connection flags the
/// user gave.
fn follow_command(outcomes: &[&RolloutOutcome]) -> String {
    let mut by_namespace: Vec<(&str, Vec<&str>)> = Vec::new();
    for o in outcomes {
        match by_namespace.iter_mut().find(|(ns, _)| *ns == o.namespace) {
            Some((_, workloads)) => workloads.push(&o.workload),
            None => by_namespace.push((&o.namespace, vec![&o.workload])),
        }
    }
    by_namespace
        .iter()
        .map(|(ns, workloads)| {
            let line = format!("-n {ns} rollout status {}", workloads.join(" "));
            format!("`{}`", crate::suggest::oncall(&line))
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

/// What the progress callback sees on every change of status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RolloutProgress {
    /// kubectl's wording of where the rollout stands.
    pub message: String,
    /// Pods on the new revision so far, out of `desired`.
    pub updated: i64,
    pub desired: i64,
}

/// Waits until the rollout of `workload` completes, fails, or `timeout`
/// passes, calling `on_progress` whenever its status changes; `cancel`
/// ends the wait (not the rollout) as interrupted. Only an unreadable or
/// vanished workload is an `Err`; every other ending is an outcome.
pub(crate) async fn wait_for_rollout(
    client: &kube::Client,
    workload: &WorkloadRef,
    timeout: Duration,
    cancel: &Cancel,
    on_progress: impl FnMut(&RolloutProgress),
) -> Result<RolloutOutcome> {
    wait_for_rollout_from(client, workload, None, timeout, cancel, on_progress).await
}

/// The live pods (uid → name) of a workload: taken before a change, it is
/// the baseline a wait counts replaced pods against (pods that go between
/// the change and the start of the wait count too).
pub(crate) async fn live_pods(
    client: &kube::Client,
    workload: &WorkloadRef,
) -> Result<BTreeMap<String, String>> {
    let read = |e| Error::Kube {
        context: format!("cannot read {workload}"),
        source: e,
    };
    let Some(w) = Workload::get(client, workload).await.map_err(read)? else {
        return Ok(BTreeMap::new());
    };
    let selector = w.selector_string().unwrap_or_default();
    let pods = Api::<Pod>::namespaced(client.clone(), &workload.namespace)
        .list(&kube::api::ListParams::default().labels(&selector))
        .await
        .map_err(read)?;
    Ok(pods
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            (
                p.metadata.uid.unwrap_or_default(),
                p.metadata.name.unwrap_or_default(),
            )
        })
        .collect())
}

/// [`wait_for_rollout`], counting replaced pods against `baseline` (from
/// [`live_pods`] before the change) rather than the pods when the wait began.
pub(crate) async fn wait_for_rollout_from(
    client: &kube::Client,
    workload: &WorkloadRef,
    baseline: Option<BTreeMap<String, String>>,
    timeout: Duration,
    cancel: &Cancel,
    mut on_progress: impl FnMut(&RolloutProgress),
) -> Result<RolloutOutcome> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let first = Workload::get(client, workload)
        .await
        .map_err(|e| Error::Kube {
            context: format!("cannot read {workload}"),
            source: e,
        })?
        .ok_or_else(|| Error::WorkloadGone {
            workload: workload.to_string(),
            namespace: workload.namespace.clone(),
        })?;
    let selector = first.selector_string().unwrap_or_default();
    let mut tracker = Tracker::new(client.clone(), first);
    tracker.initial = baseline;
    let mut workload_events = workload_stream(client, workload);
    let pod_api = Api::<Pod>::namespaced(client.clone(), &workload.namespace);
    let mut pod_events = watcher::watcher(pod_api, watcher::Config::default().labels(&selector))
        .default_backoff()
        .boxed();
    let mut last_progress: Option<RolloutProgress> = None;
    let mut last_error: Option<String> = None;
    let mut pods_unwatchable = false;
    let end = |tracker: &Tracker, verdict, status: String, failure| RolloutOutcome {
        workload: workload.to_string(),
        namespace: workload.namespace.clone(),
        outcome: verdict,
        duration_seconds: (started.elapsed().as_millis() as f64) / 1000.0,
        pods_replaced: tracker.replaced(),
        status,
        failure,
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                let mut status = last_progress.map(|p| p.message).unwrap_or_default();
                if let Some(e) = last_error {
                    status.push_str(&format!(" (last watch error: {e})"));
                }
                return Ok(end(&tracker, Verdict::TimedOut, status, None));
            }
            _ = cancel.cancelled() => {
                let status = last_progress.map(|p| p.message).unwrap_or_default();
                return Ok(end(&tracker, Verdict::Interrupted, status, None));
            }
            event = workload_events.next() => match event {
                Some(Ok(WorkloadEvent::Changed(w))) => tracker.workload = *w,
                Some(Ok(WorkloadEvent::Deleted)) => {
                    let failure = RolloutFailure {
                        pod: None,
                        container: None,
                        reason: "Deleted".into(),
                        message: format!("{workload} was deleted while waiting for its rollout"),
                        logs: Vec::new(),
                        advice: None,
                    };
                    return Ok(end(&tracker, Verdict::Failed, "deleted".into(), Some(failure)));
                }
                Some(Ok(WorkloadEvent::Nothing)) => continue,
                Some(Err(e)) => { last_error = Some(crate::cluster::plain_watch(&e)); continue; }
                // A watcher does not end; if one ever did, stop polling it
                // rather than spin.
                None => { workload_events = futures::stream::pending().boxed(); continue; }
            },
            event = pod_events.next() => match event {
                Some(Ok(e)) => tracker.pod_event(e),
                Some(Err(e)) => {
                    last_error = Some(crate::cluster::plain_watch(&e));
                    pods_unwatchable = !tracker.pods_listed;
                }
                None => { pod_events = futures::stream::pending().boxed(); continue; }
            },
        }
        // Judge once the pods are known, so a failure is seen with its pod;
        // if they cannot be watched, judge by the workload's status alone.
        if !tracker.pods_listed && !pods_unwatchable {
            continue;
        }
        let current = status::of(&tracker.workload);
        let progress = RolloutProgress {
            message: current.message.clone(),
            updated: current.updated,
            desired: current.desired,
        };
        if last_progress.as_ref() != Some(&progress) {
            on_progress(&progress);
            last_progress = Some(progress);
        }
        match current.state {
            State::Done => {
                let mut outcome = end(&tracker, Verdict::Complete, current.message, None);
                // The pod watch may trail the workload's status by an event:
                // read the pods once more so every replaced pod is counted.
                if let (Some(initial), Ok(live)) =
                    (&tracker.initial, live_pods(client, workload).await)
                {
                    let mut gone: Vec<String> = initial
                        .iter()
                        .filter(|(uid, _)| !live.contains_key(*uid))
                        .map(|(_, name)| name.clone())
                        .collect();
                    gone.sort();
                    outcome.pods_replaced = gone;
                }
                return Ok(outcome);
            }
            State::Failed => {
                let failure = tracker.status_failure(&current.message).await;
                return Ok(end(
                    &tracker,
                    Verdict::Failed,
                    current.message,
                    Some(failure),
                ));
            }
            State::Waiting => {}
        }
        if let Some(failure) = tracker.paused_failure() {
            return Ok(end(
                &tracker,
                Verdict::Failed,
                current.message,
                Some(failure),
            ));
        }
        if let Some(failure) = tracker.broken_pod_failure().await {
            return Ok(end(
                &tracker,
                Verdict::Failed,
                current.message,
                Some(failure),
            ));
        }
    }
}

enum WorkloadEvent {
    Changed(Box<Workload>),
    Deleted,
    Nothing,
}

fn map_event<K>(event: Event<K>, wrap: fn(K) -> Workload) -> WorkloadEvent {
    match event {
        Event::Apply(k) | Event::InitApply(k) => WorkloadEvent::Changed(Box::new(wrap(k))),
        Event::Delete(_) => WorkloadEvent::Deleted,
        Event::Init | Event::InitDone => WorkloadEvent::Nothing,
    }
}

/// A watch on the one workload object, by name.
fn workload_stream(
    client: &kube::Client,
    r: &WorkloadRef,
) -> BoxStream<'static, Result<WorkloadEvent, watcher::Error>> {
    let config = watcher::Config::default().fields(&format!("metadata.name={}", r.name));
    let ns = &r.namespace;
    match r.kind {
        Kind::Deployment => {
            watcher::watcher(Api::<Deployment>::namespaced(client.clone(), ns), config)
                .default_backoff()
                .map_ok(|e| map_event(e, Workload::Deployment))
                .boxed()
        }
        Kind::StatefulSet => {
            watcher::watcher(Api::<StatefulSet>::namespaced(client.clone(), ns), config)
                .default_backoff()
                .map_ok(|e| map_event(e, Workload::StatefulSet))
                .boxed()
        }
        Kind::DaemonSet => {
            watcher::watcher(Api::<DaemonSet>::namespaced(client.clone(), ns), config)
                .default_backoff()
                .map_ok(|e| map_event(e, Workload::DaemonSet))
                .boxed()
        }
    }
}

/// What the wait knows: the latest workload and pods, and which pods
/// belong to the revision being rolled out.
struct Tracker {
    client: kube::Client,
    workload: Workload,
    pods: BTreeMap<String, Pod>,
    listing: Option<BTreeMap<String, Pod>>,
    pods_listed: bool,
    /// The pods (uid → name) when the wait began.
    initial: Option<BTreeMap<String, String>>,
    /// Deployment revision → pod-template-hash of its ReplicaSet.
    rs_hashes: HashMap<String, String>,
    /// The workload resourceVersion of the last fruitless revision lookup,
    /// so a lookup is repeated only when the workload changed.
    looked_up_at: Option<String>,
    /// DaemonSet generation → controller-revision-hash of its newest revision.
    ds_hashes: HashMap<i64, Option<String>>,
}

impl Tracker {
    fn new(client: kube::Client, workload: Workload) -> Self {
        Tracker {
            client,
            workload,
            pods: BTreeMap::new(),
            listing: None,
            pods_listed: false,
            initial: None,
            rs_hashes: HashMap::new(),
            looked_up_at: None,
            ds_hashes: HashMap::new(),
        }
    }

    fn pod_event(&mut self, event: Event<Pod>) {
        let uid = |p: &Pod| p.metadata.uid.clone().unwrap_or_default();
        match event {
            Event::Init => self.listing = Some(BTreeMap::new()),
            Event::InitApply(p) => {
                self.listing
                    .get_or_insert_with(BTreeMap::new)
                    .insert(uid(&p), p);
            }
            Event::InitDone => {
                self.pods = self.listing.take().unwrap_or_default();
                self.pods_listed = true;
                // Pods already going when the wait began were not replaced by it.
                if self.initial.is_none() {
                    self.initial = Some(
                        self.pods
                            .iter()
                            .filter(|(_, p)| p.metadata.deletion_timestamp.is_none())
                            .map(|(u, p)| (u.clone(), p.metadata.name.clone().unwrap_or_default()))
                            .collect(),
                    );
                }
            }
            Event::Apply(p) => {
                self.pods.insert(uid(&p), p);
            }
            Event::Delete(p) => {
                self.pods.remove(&uid(&p));
            }
        }
    }

    /// Pods present at the start that are gone or going now.
    fn replaced(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .initial
            .iter()
            .flatten()
            .filter(|(uid, _)| {
                self.pods
                    .get(*uid)
                    .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
            })
            .map(|(_, name)| name.clone())
            .collect();
        names.sort();
        names
    }

    fn paused_failure(&self) -> Option<RolloutFailure> {
        if !self.workload.is_paused() {
            return None;
        }
        let name = self.workload.name();
        Some(RolloutFailure {
            pod: None,
            container: None,
            reason: "Paused".into(),
            message: format!("deployment `{name}` is paused, so its rollout cannot progress"),
            logs: Vec::new(),
            advice: Some(format!(
                "resume it first: `{}`",
                crate::suggest::kubectl(&format!(
                    "rollout resume deployment/{name} -n {}",
                    self.workload.reference().namespace
                ))
            )),
        })
    }

    /// A failure kubectl also reports (progress deadline, OnDelete), with
    /// the broken new pod that explains it when there is one.
    async fn status_failure(&mut self, message: &str) -> RolloutFailure {
        let deadline = message.contains("progress deadline");
        let r = self.workload.reference();
        if !deadline {
            return RolloutFailure {
                pod: None,
                container: None,
                reason: "UnsupportedStrategy".into(),
                message: message.to_string(),
                logs: Vec::new(),
                advice: Some(format!(
                    "its pods are only replaced when deleted: use `{}` or delete them",
                    crate::suggest::oncall(&format!("restart --bad-pods {r} -n {}", r.namespace))
                )),
            };
        }
        if let Some(mut f) = self.broken_pod_failure().await {
            f.message = format!("{message}: {}", f.message);
            return f;
        }
        // No pod is broken outright: name a new pod that never became ready
        // (a failing readiness probe, usually) and show what it logs.
        let hash = self.new_revision().await;
        let not_ready = self
            .pods
            .values()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| self.is_new(p, hash.as_deref()) && !super::inspect::is_ready(p))
            .map(|p| p.metadata.name.clone().unwrap_or_default())
            .next();
        let mut failure = RolloutFailure {
            pod: None,
            container: None,
            reason: "ProgressDeadlineExceeded".into(),
            message: message.to_string(),
            logs: Vec::new(),
            advice: Some(format!(
                "look at its pods with `{}`; undo with `{}`",
                crate::suggest::kubectl(&format!("describe {r} -n {}", r.namespace)),
                crate::suggest::kubectl(&format!("rollout undo {r} -n {}", r.namespace)),
            )),
        };
        if let Some(pod) = not_ready {
            failure.message = format!("{message}: new pod `{pod}` never became ready");
            failure.logs =
                pods::last_log_lines(&self.client, &r.namespace, &pod, None, false, LOG_LINES)
                    .await;
            failure.pod = Some(pod);
        }
        failure
    }

    /// The first pod of the new revision that will not become ready by
    /// waiting (for a StatefulSet, any pod: one broken pod stops it).
    async fn broken_pod_failure(&mut self) -> Option<RolloutFailure> {
        let hash = self.new_revision().await;
        let workload_ref = self.workload.reference();
        let mut found: Option<(Pod, Problem, bool)> = None;
        for pod in self.pods.values() {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let is_new = self.is_new(pod, hash.as_deref());
            let counts = is_new || matches!(self.workload, Workload::StatefulSet(_));
            if !counts {
                continue;
            }
            if let Some(problem) = diagnose(pod, false).filter(|p| p.reason.fails_rollout()) {
                found = Some((pod.clone(), problem, is_new));
                break;
            }
        }
        let (pod, problem, is_new) = found?;
        let name = pod.metadata.name.clone().unwrap_or_default();
        let logs = match &problem.container {
            Some(c) if problem.crashed || problem.reason == pods::Reason::CrashLoopBackOff => {
                pods::last_log_lines(
                    &self.client,
                    &workload_ref.namespace,
                    &name,
                    Some(c),
                    problem.crashed,
                    LOG_LINES,
                )
                .await
            }
            _ => Vec::new(),
        };
        let old_serving = self
            .pods
            .values()
            .filter(|p| p.metadata.deletion_timestamp.is_none() && super::inspect::is_ready(p))
            .filter(|p| !self.is_new(p, hash.as_deref()))
            .count();
        let advice = match &self.workload {
            Workload::StatefulSet(_) => {
                Some(stuck_statefulset_advice(&workload_ref, &name, is_new))
            }
            _ => {
                let mut text = format!(
                    "fix the cause, or undo with `{}`",
                    crate::suggest::kubectl(&format!(
                        "rollout undo {workload_ref} -n {}",
                        workload_ref.namespace
                    ))
                );
                if problem.reason == pods::Reason::Unschedulable {
                    text.push_str(&format!(
                        "; if a cluster autoscaler is adding a node, follow it with `{}`",
                        crate::suggest::oncall(&format!(
                            "rollout status {workload_ref} -n {}",
                            workload_ref.namespace
                        ))
                    ));
                }
                if old_serving > 0 {
                    text.push_str(&format!(
                        "; meanwhile {old_serving} pod(s) of the previous revision keep serving"
                    ));
                }
                Some(text)
            }
        };
        let message = match &self.workload {
            Workload::StatefulSet(_) => format!(
                "the ordered rollout of {workload_ref} is stuck on pod `{name}`: {}",
                problem.message
            ),
            _ => format!("new pod `{name}`: {}", problem.message),
        };
        Some(RolloutFailure {
            pod: Some(name),
            container: problem.container.clone(),
            reason: problem.reason.as_str().to_string(),
            message,
            logs,
            advice,
        })
    }

    /// Whether `pod` belongs to the revision being rolled out, given that
    /// revision's label value (see `new_revision`).
    fn is_new(&self, pod: &Pod, hash: Option<&str>) -> bool {
        match (hash, &self.workload) {
            (Some(h), Workload::Deployment(_)) => {
                label(pod, "pod-template-hash").map(String::as_str) == Some(h)
            }
            (Some(h), _) => label(pod, "controller-revision-hash").map(String::as_str) == Some(h),
            // Without ControllerRevisions, a DaemonSet's pods still carry the
            // generation of the template they were made from.
            (None, Workload::DaemonSet(d)) => {
                label(pod, "pod-template-generation")
                    == d.metadata.generation.map(|g| g.to_string()).as_ref()
            }
            (None, _) => false,
        }
    }

    /// The label value that marks pods of the revision being rolled out:
    /// a Deployment's new ReplicaSet's pod-template-hash, a StatefulSet's
    /// updateRevision, a DaemonSet's newest ControllerRevision hash.
    async fn new_revision(&mut self) -> Option<String> {
        let rv = self.workload.meta().resource_version.clone();
        match &self.workload {
            Workload::StatefulSet(s) => s.status.as_ref().and_then(|s| s.update_revision.clone()),
            Workload::Deployment(d) => {
                let generation = d.metadata.generation.unwrap_or(0);
                let observed = d
                    .status
                    .as_ref()
                    .and_then(|s| s.observed_generation)
                    .unwrap_or(0);
                if observed < generation {
                    return None;
                }
                let revision = d.annotations().get(REVISION).cloned()?;
                if let Some(h) = self.rs_hashes.get(&revision) {
                    return Some(h.clone());
                }
                if self.looked_up_at == rv {
                    return None;
                }
                self.looked_up_at = rv;
                let hash = self.find_replicaset_hash(d.clone(), &revision).await?;
                self.rs_hashes.insert(revision, hash.clone());
                Some(hash)
            }
            Workload::DaemonSet(d) => {
                let generation = d.metadata.generation.unwrap_or(0);
                if let Some(h) = self.ds_hashes.get(&generation) {
                    return h.clone();
                }
                let hash = self.find_daemonset_hash(d.clone()).await;
                self.ds_hashes.insert(generation, hash.clone());
                hash
            }
        }
    }

    async fn find_replicaset_hash(&self, d: Deployment, revision: &str) -> Option<String> {
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let uid = d.metadata.uid.clone();
        let selector = self.workload.selector_string()?;
        let api = Api::<ReplicaSet>::namespaced(self.client.clone(), &ns);
        let list = api
            .list(&ListParams::default().labels(&selector))
            .await
            .ok()?;
        list.items.into_iter().find_map(|rs| {
            let owned = rs
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| Some(&o.uid) == uid.as_ref());
            let same = rs.annotations().get(REVISION).map(String::as_str) == Some(revision);
            (owned && same)
                .then(|| rs.labels().get("pod-template-hash").cloned())
                .flatten()
        })
    }

    async fn find_daemonset_hash(&self, d: DaemonSet) -> Option<String> {
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let uid = d.metadata.uid.clone();
        let selector = self.workload.selector_string()?;
        let api = Api::<ControllerRevision>::namespaced(self.client.clone(), &ns);
        let list = api
            .list(&ListParams::default().labels(&selector))
            .await
            .ok()?;
        list.items
            .into_iter()
            .filter(|cr| {
                cr.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| Some(&o.uid) == uid.as_ref())
            })
            .max_by_key(|cr| cr.revision)
            .and_then(|cr| cr.labels().get("controller-revision-hash").cloned())
    }
}

const REVISION: &str = "deployment.kubernetes.io/revision";

fn label<'a>(pod: &'a Pod, key: &str) -> Option<&'a String> {
    pod.metadata.labels.as_ref()?.get(key)
}

/// What to do about a StatefulSet whose ordered rollout waits on a broken
/// pod: the controller never replaces a pod that is not Ready by itself.
pub(crate) fn stuck_statefulset_advice(
    r: &WorkloadRef,
    pod: &str,
    on_new_revision: bool,
) -> String {
    let ns = &r.namespace;
    let delete = crate::suggest::kubectl(&format!("delete pod {pod} -n {ns}"));
    if on_new_revision {
        let undo = crate::suggest::kubectl(&format!("rollout undo {r} -n {ns}"));
        format!(
            "the new template is broken and the StatefulSet controller will not replace `{pod}` by itself: fix the template (or `{undo}`), then delete the broken pod (`{delete}`) so it is recreated from the fixed template"
        )
    } else {
        let bad_pods = crate::suggest::oncall(&format!("restart --bad-pods {r} -n {ns}"));
        format!(
            "an old pod is broken and the ordered rollout waits for it: delete it (`{delete}`, or `{bad_pods}`) so it is recreated at the new revision"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_serialise_in_snake_case() {
        assert_eq!(
            serde_json::to_value(Verdict::TimedOut).unwrap(),
            serde_json::json!("timed_out")
        );
    }

    #[test]
    fn statefulset_advice_says_to_delete_the_pod_after_fixing() {
        let r = WorkloadRef::new(Kind::StatefulSet, "data", "db");
        let a = stuck_statefulset_advice(&r, "db-2", true);
        assert!(a.contains("fix the template") && a.contains("kubectl delete pod db-2 -n data"));
        let a = stuck_statefulset_advice(&r, "db-0", false);
        assert!(a.contains("old pod"));
    }
}
