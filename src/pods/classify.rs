//! Is this pod stuck, and in which way? One pod at a time, from the pod and
//! its node alone; events are joined later (see `evidence`).
//!
//! Every category has an age threshold: a pod only counts once it has been
//! in its bad state for at least that long, so a pod that is simply starting
//! is never reported. `--older-than` replaces every threshold.

use std::time::Duration;

use serde::Serialize;

use super::health::{Lookup, Nodes};
use super::lean::{ContainerStatus, Pod, Terminated, Time};
use super::report::{Cause, Evidence, StuckPod};
use super::status::{self, Display};

/// The ways a pod can be stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Category {
    /// Bound to a node that is NotReady, unreachable or gone.
    NodeNotReady,
    /// Deleted, but still there past its deletionTimestamp.
    Terminating,
    /// Pending: the scheduler cannot place it.
    Unschedulable,
    /// A referenced Secret, ConfigMap or key is missing (CreateContainerConfigError).
    ConfigError,
    /// ImagePullBackOff, ErrImagePull, InvalidImageName.
    ImagePull,
    /// The container keeps exiting and restarting (CrashLoopBackOff).
    CrashLoop,
    /// The container terminated with an error (Error, OOMKilled) and will not restart.
    Failed,
    /// Evicted, or another failed leftover with a `status.reason`.
    Evicted,
    /// Scheduled, but the containers never start (ContainerCreating).
    ContainerCreating,
    /// An init container has been running for too long.
    InitStuck,
    /// Running but not Ready.
    NotReady,
    /// Ready now, but restarting repeatedly.
    Restarting,
}

impl Category {
    pub(crate) const ALL: [Category; 12] = [
        Category::NodeNotReady,
        Category::Terminating,
        Category::Unschedulable,
        Category::ConfigError,
        Category::ImagePull,
        Category::CrashLoop,
        Category::Failed,
        Category::Evicted,
        Category::ContainerCreating,
        Category::InitStuck,
        Category::NotReady,
        Category::Restarting,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Category::NodeNotReady => "node-not-ready",
            Category::Terminating => "terminating",
            Category::Unschedulable => "unschedulable",
            Category::ConfigError => "config-error",
            Category::ImagePull => "image-pull",
            Category::CrashLoop => "crash-loop",
            Category::Failed => "failed",
            Category::Evicted => "evicted",
            Category::ContainerCreating => "container-creating",
            Category::InitStuck => "init-stuck",
            Category::NotReady => "not-ready",
            Category::Restarting => "restarting",
        }
    }

    /// How long a pod must have been in this state before it counts.
    pub(crate) fn default_threshold(self) -> Duration {
        let m = |n: u64| Duration::from_secs(60 * n);
        match self {
            Category::NodeNotReady => m(1),
            Category::Terminating => m(2),
            Category::Unschedulable => m(5),
            Category::ConfigError => m(1),
            Category::ImagePull => m(2),
            Category::CrashLoop => m(2),
            Category::Failed | Category::Evicted | Category::Restarting => Duration::ZERO,
            Category::ContainerCreating => m(5),
            Category::InitStuck => m(10),
            Category::NotReady => m(5),
        }
    }
}

/// Per-category age thresholds, and the restart window.
#[derive(Debug, Clone)]
pub(crate) struct Thresholds {
    /// Replaces every category's default (`--older-than`).
    pub older_than: Option<Duration>,
    /// A Ready pod counts as restarting after this many restarts...
    pub restarts: i64,
    /// ...the last of them within this window.
    pub restart_window: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            older_than: None,
            restarts: 3,
            restart_window: Duration::from_secs(3600),
        }
    }
}

impl Thresholds {
    pub(crate) fn for_category(&self, c: Category) -> Duration {
        self.older_than.unwrap_or_else(|| c.default_threshold())
    }
}

/// What the pod itself says about one cause; turned into a `StuckPod`.
struct Verdict {
    category: Category,
    since: Option<Time>,
    cause: Cause,
    reason: String,
    message: String,
    container: Option<String>,
    evidence: Vec<Evidence>,
}

impl Verdict {
    fn new(category: Category, cause: Cause, reason: impl Into<String>) -> Self {
        Verdict {
            category,
            since: None,
            cause,
            reason: reason.into(),
            message: String::new(),
            container: None,
            evidence: Vec::new(),
        }
    }
    fn since(mut self, t: Option<Time>) -> Self {
        self.since = t;
        self
    }
    fn message(mut self, m: impl Into<String>) -> Self {
        self.message = m.into();
        self
    }
    fn container(mut self, c: &str) -> Self {
        self.container = Some(c.to_string());
        self
    }
    fn evidence(mut self, e: Evidence) -> Self {
        self.evidence.push(e);
        self
    }
}

/// Classifies one pod; `None` when it is fine (or not stuck for long enough).
pub(crate) fn classify(pod: &Pod, nodes: &Nodes, t: &Thresholds, now: Time) -> Option<StuckPod> {
    let display = status::display(pod);
    let verdict = verdict(pod, &display, nodes, t, now)?;
    let created = pod.metadata.creation_timestamp;
    // A state cannot have begun before the pod existed.
    let since = match (verdict.since, created) {
        (Some(s), Some(c)) => s.max(c),
        (s, c) => s.or(c).unwrap_or(now),
    };
    let age = now - since;
    let threshold = chrono::Duration::from_std(t.for_category(verdict.category))
        .unwrap_or(chrono::Duration::MAX);
    if age < threshold {
        return None;
    }
    let mut evidence = verdict.evidence;
    evidence.extend(condition_evidence(pod));
    Some(StuckPod {
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        node: pod.node().map(str::to_string),
        owner: owner(pod),
        status: display.status,
        ready: format!("{}/{}", display.ready, display.total),
        restarts: display.restarts,
        category: verdict.category,
        since,
        age_seconds: age.num_seconds().max(0),
        reason: verdict.reason,
        message: verdict.message,
        evidence,
        suggestion: String::new(),
        container: verdict.container,
        uid: pod.metadata.uid.clone(),
        revisions: None,
        cause: verdict.cause,
    })
}

fn verdict(pod: &Pod, d: &Display, nodes: &Nodes, t: &Thresholds, now: Time) -> Option<Verdict> {
    let phase = pod.phase();
    if phase == "Succeeded" {
        return None;
    }
    if let Some(deleted) = pod.metadata.deletion_timestamp {
        return terminating(pod, nodes, deleted);
    }
    if phase == "Failed" {
        return Some(failed(pod));
    }
    if let Some(node) = pod.node() {
        match nodes.lookup(node) {
            Lookup::Found(h) if !h.healthy => {
                let reason = format!("node {} {}", node, h.state);
                return Some(
                    Verdict::new(Category::NodeNotReady, Cause::NodeDown, reason)
                        .since(h.since)
                        .message(format!(
                            "the node's kubelet is not reporting, so this pod's containers are in an unknown state{}",
                            if h.detail.is_empty() { String::new() } else { format!(" ({})", h.detail) }
                        ))
                        .evidence(Evidence::new("node", h.state, h.detail.clone())),
                );
            }
            Lookup::Gone => {
                return Some(
                    Verdict::new(Category::NodeNotReady, Cause::NodeDown, format!("node {node} is gone"))
                        .since(pod.metadata.creation_timestamp)
                        .message("the pod is bound to a node that no longer exists; nothing will run or delete it")
                        .evidence(Evidence::new("node", "NotFound", format!("node {node} does not exist"))),
                );
            }
            _ => {}
        }
    } else {
        return Some(unscheduled(pod));
    }
    if d.status.starts_with("Init:")
        && let Some(v) = init(pod)
    {
        return Some(v);
    }
    containers(pod, t, now)
}

fn terminating(pod: &Pod, nodes: &Nodes, deleted: Time) -> Option<Verdict> {
    let node = pod.node();
    let health = node.map(|n| nodes.lookup(n));
    let finalizers = &pod.metadata.finalizers;
    let (cause, mut message) = if !finalizers.is_empty() {
        (
            Cause::Finalizers(finalizers.clone()),
            format!(
                "deletion waits for finalizer{} {} to be removed",
                if finalizers.len() == 1 { "" } else { "s" },
                finalizers
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    } else {
        match (node, &health) {
            (Some(n), Some(Lookup::Found(h))) if !h.healthy => (
                Cause::NodeDown,
                format!(
                    "node {n} is {}: its kubelet cannot confirm the containers stopped",
                    h.state
                ),
            ),
            (Some(n), Some(Lookup::Gone)) => (
                Cause::NodeDown,
                format!("node {n} is gone: nothing will confirm the containers stopped"),
            ),
            (Some(n), _) => (
                Cause::KubeletSlow,
                format!("the kubelet on {n} has not confirmed the containers stopped"),
            ),
            (None, _) => (
                Cause::KubeletSlow,
                "it was never scheduled, yet it is still not gone".to_string(),
            ),
        }
    };
    // Name the node's health even when finalizers are the main cause.
    if let (Cause::Finalizers(_), Some(n), Some(Lookup::Found(h))) = (&cause, node, &health) {
        message.push_str(&format!("; node {n} is {}", h.state));
    }
    let mut v = Verdict::new(
        Category::Terminating,
        cause,
        if finalizers.is_empty() {
            "DeletionNotConfirmed"
        } else {
            "Finalizers"
        },
    )
    .since(Some(deleted))
    .message(message)
    .evidence(Evidence::new(
        "pod",
        "DeletionTimestamp",
        format!("deletion requested, due by {}", deleted.to_rfc3339()),
    ));
    if let (Some(n), Some(Lookup::Found(h))) = (node, &health)
        && !h.healthy
    {
        v = v.evidence(Evidence::new(
            "node",
            h.state,
            format!("node {n}: {}", h.detail),
        ));
        // Stuck since the node went down, not since the eviction that
        // followed: the pod must not drop out of the report in between.
        if h.since.is_some_and(|s| s < deleted) {
            v = v.since(h.since);
        }
    }
    // Otherwise the deletion timestamp is when the grace period ends, so age
    // counts from the moment the pod should have been gone.
    Some(v)
}

fn failed(pod: &Pod) -> Verdict {
    let st = &pod.status;
    if let Some(reason) = st.reason.as_deref().filter(|r| !r.is_empty()) {
        let message = st.message.clone().unwrap_or_default();
        return Verdict::new(
            Category::Evicted,
            Cause::Evicted {
                reason: reason.into(),
            },
            reason,
        )
        .since(ready_since(pod))
        .message(if message.is_empty() {
            format!("the pod failed: {reason}")
        } else {
            message.clone()
        })
        .evidence(Evidence::new("pod", reason, message));
    }
    let all = pod
        .status
        .init_container_statuses
        .iter()
        .chain(&pod.status.container_statuses);
    for c in all {
        if let Some(term) = c
            .state
            .terminated
            .as_ref()
            .filter(|t| t.exit_code != 0 || t.signal != 0)
        {
            return terminated(Category::Failed, &c.name, term)
                .since(term.finished_at.or(ready_since(pod)));
        }
    }
    Verdict::new(Category::Failed, Cause::Unknown, "Failed")
        .since(ready_since(pod))
        .message(
            st.message
                .clone()
                .unwrap_or_else(|| "the pod failed".into()),
        )
}

fn unscheduled(pod: &Pod) -> Verdict {
    let cond = pod.condition("PodScheduled").filter(|c| !c.is_true());
    let reason = cond
        .and_then(|c| c.reason.clone())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "NotScheduled".into());
    let message = cond.and_then(|c| c.message.clone()).unwrap_or_default();
    let explained = match reason.as_str() {
        "SchedulingGated" => "the pod has scheduling gates that nothing has removed".to_string(),
        _ if message.is_empty() => "the scheduler has not placed the pod".to_string(),
        _ => message.clone(),
    };
    Verdict::new(Category::Unschedulable, Cause::Unschedulable, reason)
        .since(cond.and_then(|c| c.last_transition_time))
        .message(explained)
}

/// An init container that exited with an error: the pod crash-loops on
/// it. `how` says whether it failed once or keeps failing.
fn init_crash(pod: &Pod, container: &str, term: &Terminated, how: &str) -> Verdict {
    terminated(Category::CrashLoop, container, term)
        .since(ready_since(pod))
        .message(format!(
            "init container `{container}` {how}: {}",
            exit_meaning(term)
        ))
}

/// The first init container that holds initialisation up.
fn init(pod: &Pod) -> Option<Verdict> {
    let total = pod.spec.init_containers.len();
    for (i, c) in pod.status.init_container_statuses.iter().enumerate() {
        if c.state
            .terminated
            .as_ref()
            .is_some_and(|t| t.exit_code == 0)
        {
            continue;
        }
        if pod.is_sidecar(&c.name) && c.started == Some(true) {
            continue;
        }
        if let Some(v) = waiting(pod, c, true) {
            return Some(v);
        }
        if let Some(term) = &c.state.terminated {
            return Some(init_crash(pod, &c.name, term, "failed"));
        }
        // Running again after failing: a crash loop caught between restarts,
        // not a hung init container.
        if c.state.running.is_some()
            && c.restart_count > 0
            && let Some(last) = c
                .last_state
                .terminated
                .as_ref()
                .filter(|t| t.exit_code != 0)
        {
            return Some(init_crash(pod, &c.name, last, "keeps failing"));
        }
        if let Some(run) = &c.state.running {
            return Some(
                Verdict::new(
                    Category::InitStuck,
                    Cause::InitRunning,
                    format!("init container {}/{total} running", i + 1),
                )
                .since(run.started_at)
                .container(&c.name)
                .message(format!(
                    "init container `{}` has not finished; the app containers wait for it",
                    c.name
                )),
            );
        }
        return Some(not_started(pod));
    }
    None
}

fn containers(pod: &Pod, t: &Thresholds, now: Time) -> Option<Verdict> {
    let restart_always = pod.spec.restart_policy.as_deref().unwrap_or("Always") == "Always";
    let mut worst: Option<Verdict> = None;
    let mut consider = |v: Verdict| {
        if worst
            .as_ref()
            .is_none_or(|w| rank(v.category) < rank(w.category))
        {
            worst = Some(v);
        }
    };
    for c in &pod.status.container_statuses {
        if let Some(v) = waiting(pod, c, false) {
            consider(v);
        } else if let Some(term) = c
            .state
            .terminated
            .as_ref()
            .filter(|t| t.exit_code != 0 || t.signal != 0)
        {
            // Under restartPolicy Always the kubelet restarts it at once; the
            // next look will show CrashLoopBackOff.
            let category =
                if restart_always || pod.spec.restart_policy.as_deref() == Some("OnFailure") {
                    Category::CrashLoop
                } else {
                    Category::Failed
                };
            consider(
                terminated(category, &c.name, term).since(term.finished_at.or(ready_since(pod))),
            );
        } else if c.state.running.is_some()
            && !c.ready
            && let Some(last) = c
                .last_state
                .terminated
                .as_ref()
                .filter(|t| t.exit_code != 0 || t.signal != 0)
        {
            // A crash-looping container between two crashes: kubectl says
            // Running, but it has not become ready since it last died.
            let meaning = exit_meaning(last);
            consider(
                terminated(Category::CrashLoop, &c.name, last)
                    .since(ready_since(pod))
                    .message(format!(
                        "container `{}` keeps crashing ({} restarts): {meaning}",
                        c.name, c.restart_count
                    )),
            );
        }
    }
    // A sidecar that crashes after initialisation is not in kubectl's
    // STATUS, but it is just as stuck.
    for c in pod
        .status
        .init_container_statuses
        .iter()
        .filter(|c| pod.is_sidecar(&c.name))
    {
        if let Some(v) = waiting(pod, c, true) {
            consider(v);
        }
    }
    if worst.is_some() {
        return worst;
    }
    let waiting_to_start = pod
        .status
        .container_statuses
        .iter()
        .any(|c| c.state.waiting.is_some());
    if pod.status.container_statuses.is_empty() || waiting_to_start {
        return Some(not_started(pod));
    }
    if pod.phase() == "Running" {
        let ready = pod.condition("Ready");
        if ready.is_some_and(|c| !c.is_true()) {
            let unready = pod
                .status
                .container_statuses
                .iter()
                .find(|c| !c.ready && c.state.running.is_some());
            let all_done = pod
                .status
                .container_statuses
                .iter()
                .all(|c| c.state.terminated.is_some());
            if !all_done {
                let mut v = Verdict::new(Category::NotReady, Cause::Readiness, "not ready")
                    .since(ready.and_then(|c| c.last_transition_time))
                    .message(match unready {
                        Some(c) => format!(
                            "container `{}` is running but not ready: its readiness probe fails",
                            c.name
                        ),
                        None => {
                            "every container is ready but the pod is not (readiness gates)".into()
                        }
                    });
                if let Some(c) = unready {
                    v = v.container(&c.name);
                }
                return Some(v);
            }
        }
        return restarting(pod, t, now);
    }
    None
}

/// Lower is worse: the cause to report when containers disagree.
fn rank(c: Category) -> usize {
    Category::ALL
        .iter()
        .position(|x| *x == c)
        .unwrap_or(usize::MAX)
}

/// A waiting container with a reason that means trouble.
fn waiting(pod: &Pod, c: &ContainerStatus, init: bool) -> Option<Verdict> {
    let w = c.state.waiting.as_ref()?;
    let reason = w.reason.as_deref().unwrap_or("");
    let msg = w.message.clone().unwrap_or_default();
    let what = if init { "init container" } else { "container" };
    let v = match reason {
        "CrashLoopBackOff" => {
            let last = c.last_state.terminated.as_ref();
            let v = match last {
                Some(term) => terminated(Category::CrashLoop, &c.name, term),
                None => Verdict::new(Category::CrashLoop, Cause::Unknown, "CrashLoopBackOff")
                    .container(&c.name),
            };
            let meaning = last
                .map(exit_meaning)
                .unwrap_or_else(|| "it keeps exiting".into());
            v.message(format!(
                "{what} `{}` keeps crashing ({} restarts): {meaning}",
                c.name, c.restart_count
            ))
        }
        "ImagePullBackOff"
        | "ErrImagePull"
        | "InvalidImageName"
        | "ErrImageNeverPull"
        | "RegistryUnavailable"
        | "ImageInspectError"
        | "SignatureValidationFailed" => {
            Verdict::new(Category::ImagePull, Cause::ImagePull, reason).message(if msg.is_empty() {
                format!("{what} `{}` cannot pull its image", c.name)
            } else {
                msg.clone()
            })
        }
        "CreateContainerConfigError" => {
            let cause = missing_reference(&msg).unwrap_or(Cause::Config);
            Verdict::new(Category::ConfigError, cause.clone(), reason).message(match &cause {
                Cause::Missing {
                    kind,
                    name,
                    key: Some(k),
                } => format!("key `{k}` is missing from {kind} `{name}` ({msg})"),
                Cause::Missing {
                    kind,
                    name,
                    key: None,
                } => format!("{kind} `{name}` does not exist ({msg})"),
                _ => msg.clone(),
            })
        }
        "CreateContainerError" | "RunContainerError" | "StartError" => {
            Verdict::new(Category::CrashLoop, Cause::BadCommand, reason).message(msg.clone())
        }
        "ContainerCreating" | "PodInitializing" | "" => return None,
        other => {
            Verdict::new(Category::ContainerCreating, Cause::Unknown, other).message(msg.clone())
        }
    };
    let v = v.container(&c.name).since(ready_since(pod));
    Some(if msg.is_empty() {
        v
    } else {
        v.evidence(Evidence::new("container", reason, msg))
    })
}

/// Scheduled but no container has started, with nothing more specific to say.
fn not_started(pod: &Pod) -> Verdict {
    let scheduled = pod.condition("PodScheduled").filter(|c| c.is_true());
    Verdict::new(
        Category::ContainerCreating,
        Cause::NotStarted,
        "ContainerCreating",
    )
    .since(scheduled.and_then(|c| c.last_transition_time))
    .message("the containers have not started on the node")
}

/// A container that terminated: exit code mapped to a likely cause.
fn terminated(category: Category, container: &str, t: &Terminated) -> Verdict {
    let reason = t
        .reason
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "Error".into());
    let cause = if reason == "OOMKilled" {
        Cause::OomKilled
    } else if matches!(t.exit_code, 126 | 127)
        || reason == "StartError"
        || reason == "ContainerCannotRun"
    {
        Cause::BadCommand
    } else {
        Cause::Exit {
            code: t.exit_code,
            reason: reason.clone(),
        }
    };
    let short = if reason == "OOMKilled" {
        "OOMKilled".to_string()
    } else if t.signal != 0 {
        format!("{reason}, signal {}", t.signal)
    } else {
        format!("{reason}, exit code {}", t.exit_code)
    };
    let mut detail = format!("exit code {}", t.exit_code);
    if let Some(m) = t.message.as_deref().filter(|m| !m.is_empty()) {
        detail.push_str(": ");
        detail.push_str(m);
    }
    let source = if category == Category::Failed {
        "container"
    } else {
        "last-state"
    };
    Verdict::new(category, cause, short)
        .container(container)
        .message(format!("container `{container}` {}", exit_meaning(t)))
        .evidence(Evidence::new(source, reason, detail))
}

/// What an exit most likely means, for the person deciding what to do.
fn exit_meaning(t: &Terminated) -> String {
    let reason = t.reason.as_deref().unwrap_or("");
    match (reason, t.exit_code) {
        ("OOMKilled", _) => "was killed for exceeding its memory limit (OOMKilled)".into(),
        (_, 126) => "cannot run its command: not executable (exit 126)".into(),
        (_, 127) => "cannot run its command: not found (exit 127)".into(),
        ("StartError" | "ContainerCannotRun", c) => format!("cannot start its command (exit {c})"),
        (_, 137) => {
            "was killed with SIGKILL (exit 137): a failing liveness probe, or the memory limit"
                .into()
        }
        (_, 143) => {
            "was stopped with SIGTERM (exit 143), usually by a failing liveness probe".into()
        }
        (_, 0) => "exited successfully but is expected to keep running (exit 0)".into(),
        (_, c) => format!("exited with code {c}: the application failed; its last logs say why"),
    }
}

/// When the pod stopped being ready: the best start of a container problem.
fn ready_since(pod: &Pod) -> Option<Time> {
    pod.condition("Ready")
        .filter(|c| !c.is_true())
        .and_then(|c| c.last_transition_time)
        .or(pod.status.start_time)
}

fn restarting(pod: &Pod, t: &Thresholds, now: Time) -> Option<Verdict> {
    let window = chrono::Duration::from_std(t.restart_window).unwrap_or(chrono::Duration::MAX);
    let c = pod
        .status
        .container_statuses
        .iter()
        .filter(|c| c.restart_count >= t.restarts)
        .max_by_key(|c| c.restart_count)?;
    let last = c.last_state.terminated.as_ref()?;
    let finished = last.finished_at?;
    if now - finished > window {
        return None;
    }
    let v = terminated(Category::Restarting, &c.name, last);
    let meaning = exit_meaning(last);
    Some(
        Verdict {
            reason: format!("{} restarts, last: {}", c.restart_count, v.reason),
            message: format!(
                "container `{}` restarted {} times, last at {}: it {}",
                c.name,
                c.restart_count,
                finished.format("%H:%M:%S"),
                meaning
            ),
            ..v
        }
        .since(Some(finished)),
    )
}

/// Reads the missing Secret, ConfigMap or key out of a kubelet message:
/// `secret "db" not found`, `configmap "cfg" not found`,
/// `couldn't find key password in Secret shop/db`.
pub(crate) fn missing_reference(message: &str) -> Option<Cause> {
    // Object names are lower case, so reading them from the lowered text is exact.
    let lower = message.to_lowercase();
    for kind in ["secret", "configmap"] {
        let pattern = format!("{kind} \"");
        if let Some(start) = lower.find(&pattern) {
            let rest = &lower[start + pattern.len()..];
            let name = rest.split('"').next()?;
            if rest[name.len()..]
                .trim_start_matches('"')
                .trim_start()
                .starts_with("not found")
            {
                return Some(Cause::Missing {
                    kind: if kind == "secret" {
                        "Secret"
                    } else {
                        "ConfigMap"
                    }
                    .into(),
                    name: name.into(),
                    key: None,
                });
            }
        }
    }
    let rest = message.split("couldn't find key ").nth(1)?;
    let mut words = rest.split_whitespace();
    let key = words.next()?.to_string();
    if words.next()? != "in" {
        return None;
    }
    let kind = words.next()?.to_string();
    let full = words
        .next()?
        .trim_end_matches(|c: char| !c.is_alphanumeric() && c != '-');
    let name = full.rsplit('/').next().unwrap_or(full);
    Some(Cause::Missing {
        kind,
        name: name.to_string(),
        key: Some(key),
    })
}

/// The controlling owner as `kind/name`, a ReplicaSet named by its Deployment.
pub(crate) fn owner(pod: &Pod) -> Option<String> {
    let refs = &pod.metadata.owner_references;
    let o = refs
        .iter()
        .find(|o| o.controller == Some(true))
        .or(refs.first())?;
    if o.kind == "ReplicaSet"
        && let Some(hash) = pod.metadata.labels.pod_template_hash.as_deref()
        && let Some(deployment) = o.name.strip_suffix(hash).and_then(|n| n.strip_suffix('-'))
    {
        return Some(format!("deployment/{deployment}"));
    }
    Some(format!("{}/{}", o.kind.to_lowercase(), o.name))
}

/// Conditions that are not True and say why: the fallback evidence when
/// events have expired.
fn condition_evidence(pod: &Pod) -> Vec<Evidence> {
    pod.status
        .conditions
        .iter()
        .filter(|c| !c.is_true())
        .filter_map(|c| {
            let msg = c.message.as_deref().filter(|m| !m.is_empty())?;
            Some(Evidence::new(
                "condition",
                format!(
                    "{}={}{}",
                    c.type_,
                    c.status,
                    c.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
                msg,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::lean::Node;
    use serde_json::{Value, json};

    fn now() -> Time {
        "2024-06-01T12:00:00Z".parse().unwrap()
    }

    /// An RFC 3339 time `mins` minutes before `now()`.
    fn ago(mins: i64) -> String {
        (now() - chrono::Duration::minutes(mins)).to_rfc3339()
    }

    fn nodes() -> Nodes {
        let ready: Node = serde_json::from_value(json!({"metadata": {"name": "n1"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}))
        .unwrap();
        let down: Node = serde_json::from_value(json!({"metadata": {"name": "n2"},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                "message": "Kubelet stopped posting node status.", "lastTransitionTime": ago(30)}]}}))
        .unwrap();
        Nodes::from_nodes([ready, down])
    }

    /// A pod created `created` minutes ago on node n1, with `status` merged in.
    fn pod(created: i64, status: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-abc12-xyz", "namespace": "shop", "uid": "u1", "creationTimestamp": ago(created),
                "labels": {"pod-template-hash": "abc12"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc12", "controller": true}]},
            "spec": {"nodeName": "n1", "containers": [{"name": "app"}]},
            "status": status,
        }))
        .unwrap()
    }

    fn check(p: &Pod) -> Option<StuckPod> {
        classify(p, &nodes(), &Thresholds::default(), now())
    }

    fn running(ready: bool, since: i64) -> Value {
        json!({"phase": "Running", "startTime": ago(since),
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }, "lastTransitionTime": ago(since)}],
            "containerStatuses": [{"name": "app", "ready": ready, "started": true, "restartCount": 0,
                "state": {"running": {"startedAt": ago(since)}}}]})
    }

    fn crash(exit: i64, reason: &str) -> Value {
        json!({"phase": "Running", "startTime": ago(30),
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": ago(30)}],
            "containerStatuses": [{"name": "app", "ready": false, "restartCount": 7,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
                "lastState": {"terminated": {"exitCode": exit, "reason": reason, "finishedAt": ago(1)}}}]})
    }

    #[test]
    fn healthy_and_completed_pods_are_not_stuck() {
        assert!(check(&pod(60, running(true, 60))).is_none());
        assert!(
            check(&pod(
                60,
                json!({"phase": "Succeeded", "containerStatuses": [{"name": "app",
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]})
            ))
            .is_none()
        );
    }

    #[test]
    fn crash_loop_exit_codes_map_to_causes() {
        let s = check(&pod(30, crash(1, "Error"))).unwrap();
        assert_eq!(s.category, Category::CrashLoop);
        assert_eq!(s.status, "CrashLoopBackOff");
        assert_eq!(s.reason, "Error, exit code 1");
        assert_eq!(
            s.cause,
            Cause::Exit {
                code: 1,
                reason: "Error".into()
            }
        );
        assert_eq!(s.owner.as_deref(), Some("deployment/web"));
        assert_eq!(s.container.as_deref(), Some("app"));
        assert!(
            s.evidence.iter().any(|e| e.source == "last-state"),
            "{:?}",
            s.evidence
        );

        let oom = check(&pod(30, crash(137, "OOMKilled"))).unwrap();
        assert_eq!(oom.cause, Cause::OomKilled);
        assert!(oom.message.contains("memory limit"), "{}", oom.message);

        let bad = check(&pod(30, crash(127, "Error"))).unwrap();
        assert_eq!(bad.cause, Cause::BadCommand);
        assert!(bad.message.contains("not found (exit 127)"));
    }

    #[test]
    fn young_pods_are_not_stuck_and_older_than_overrides() {
        let young = pod(
            0,
            json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": ago(0)}]}),
        );
        assert!(check(&young).is_none());
        let t = Thresholds {
            older_than: Some(Duration::ZERO),
            ..Thresholds::default()
        };
        let s = classify(&young, &nodes(), &t, now()).unwrap();
        assert_eq!(s.category, Category::ContainerCreating);
        assert_eq!(s.cause, Cause::NotStarted);
        let strict = Thresholds {
            older_than: Some(Duration::from_secs(7200)),
            ..Thresholds::default()
        };
        assert!(classify(&pod(30, crash(1, "Error")), &nodes(), &strict, now()).is_none());
    }

    #[test]
    fn unschedulable_gives_the_scheduler_reason() {
        let mut p = pod(
            20,
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient cpu.", "lastTransitionTime": ago(20)}]}),
        );
        p.spec.node_name = None;
        let s = check(&p).unwrap();
        assert_eq!(s.category, Category::Unschedulable);
        assert_eq!(s.reason, "Unschedulable");
        assert_eq!(s.message, "0/3 nodes are available: 3 Insufficient cpu.");
        assert_eq!(s.age_seconds, 20 * 60);
        assert!(s.evidence.iter().any(|e| e.source == "condition"));
    }

    #[test]
    fn image_pull_and_config_errors() {
        let waiting = |reason: &str, msg: &str| {
            json!({"phase": "Pending", "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": ago(10)}],
                "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": reason, "message": msg}}}]})
        };
        let s = check(&pod(
            10,
            waiting("ImagePullBackOff", "Back-off pulling image \"web:nope\""),
        ))
        .unwrap();
        assert_eq!(s.category, Category::ImagePull);
        assert_eq!(s.message, "Back-off pulling image \"web:nope\"");
        let s = check(&pod(
            10,
            waiting("InvalidImageName", "couldn't parse image name"),
        ))
        .unwrap();
        assert_eq!(s.category, Category::ImagePull);

        let s = check(&pod(
            10,
            waiting(
                "CreateContainerConfigError",
                "secret \"db-password\" not found",
            ),
        ))
        .unwrap();
        assert_eq!(s.category, Category::ConfigError);
        assert_eq!(
            s.cause,
            Cause::Missing {
                kind: "Secret".into(),
                name: "db-password".into(),
                key: None
            }
        );
        let s = check(&pod(
            10,
            waiting(
                "CreateContainerConfigError",
                "couldn't find key password in Secret shop/db",
            ),
        ))
        .unwrap();
        assert_eq!(
            s.cause,
            Cause::Missing {
                kind: "Secret".into(),
                name: "db".into(),
                key: Some("password".into())
            }
        );
        assert!(
            s.message
                .contains("key `password` is missing from Secret `db`")
        );
    }

    #[test]
    fn missing_references_in_kubelet_messages() {
        assert_eq!(
            missing_reference("configmap \"app-config\" not found"),
            Some(Cause::Missing {
                kind: "ConfigMap".into(),
                name: "app-config".into(),
                key: None
            })
        );
        assert_eq!(
            missing_reference("couldn't find key url in ConfigMap shop/settings"),
            Some(Cause::Missing {
                kind: "ConfigMap".into(),
                name: "settings".into(),
                key: Some("url".into())
            })
        );
        assert_eq!(missing_reference("something else"), None);
    }

    #[test]
    fn terminated_with_error_and_evicted_leftovers() {
        let mut p = pod(
            30,
            json!({"phase": "Failed", "containerStatuses": [{"name": "app",
            "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": ago(5)}}}]}),
        );
        p.spec.restart_policy = Some("Never".into());
        let s = check(&p).unwrap();
        assert_eq!(s.category, Category::Failed);
        assert_eq!(s.status, "OOMKilled");
        assert_eq!(s.cause, Cause::OomKilled);

        let e = check(&pod(
            30,
            json!({"phase": "Failed", "reason": "Evicted",
            "message": "The node was low on resource: memory."}),
        ))
        .unwrap();
        assert_eq!(e.category, Category::Evicted);
        assert_eq!(e.status, "Evicted");
        assert_eq!(e.message, "The node was low on resource: memory.");
    }

    #[test]
    fn not_ready_for_too_long() {
        let s = check(&pod(30, running(false, 20))).unwrap();
        assert_eq!(s.category, Category::NotReady);
        assert_eq!(s.age_seconds, 20 * 60);
        assert!(check(&pod(30, running(false, 1))).is_none());
    }

    #[test]
    fn restarts_within_the_window() {
        let mut st = running(true, 30);
        st["containerStatuses"][0]["restartCount"] = json!(4);
        st["containerStatuses"][0]["lastState"] =
            json!({"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(10)}});
        let s = check(&pod(120, st.clone())).unwrap();
        assert_eq!(s.category, Category::Restarting);
        assert!(s.reason.starts_with("4 restarts"), "{}", s.reason);
        st["containerStatuses"][0]["lastState"]["terminated"]["finishedAt"] = json!(ago(120));
        assert!(check(&pod(180, st)).is_none());
    }

    #[test]
    fn terminating_past_its_deletion_timestamp() {
        let mut p = pod(60, running(true, 60));
        p.metadata.deletion_timestamp = Some(now() - chrono::Duration::minutes(10));
        p.metadata.finalizers = vec!["example.com/block".into()];
        let s = check(&p).unwrap();
        assert_eq!(s.category, Category::Terminating);
        assert_eq!(s.status, "Terminating");
        assert!(s.message.contains("`example.com/block`"), "{}", s.message);
        assert!(s.message.contains("node n1 is Ready"), "{}", s.message);

        p.metadata.finalizers.clear();
        p.spec.node_name = Some("n2".into());
        let s = check(&p).unwrap();
        assert_eq!(s.cause, Cause::NodeDown);

        // Evicted a moment ago from a node that died half an hour ago: stuck
        // since the node died.
        p.metadata.deletion_timestamp = Some(now() + chrono::Duration::seconds(30));
        assert_eq!(check(&p).unwrap().age_seconds, 30 * 60);

        p.spec.node_name = Some("n1".into());
        p.metadata.deletion_timestamp = Some(now() - chrono::Duration::seconds(30));
        assert!(
            check(&p).is_none(),
            "a healthy node's kubelet is still at it"
        );
        p.metadata.deletion_timestamp = Some(now() + chrono::Duration::seconds(30));
        assert!(check(&p).is_none(), "still within its grace");
    }

    #[test]
    fn pods_on_a_lost_node() {
        let mut p = pod(60, running(true, 60));
        p.spec.node_name = Some("n2".into());
        let s = check(&p).unwrap();
        assert_eq!(s.category, Category::NodeNotReady);
        assert_eq!(s.reason, "node n2 Unknown");
        assert_eq!(s.age_seconds, 30 * 60);
        p.spec.node_name = Some("gone".into());
        assert!(check(&p).unwrap().reason.contains("is gone"));
    }

    #[test]
    fn init_containers_stuck_or_failing() {
        let with = |inits: Value| {
            let mut p = pod(
                30,
                json!({"phase": "Pending", "startTime": ago(30),
                "conditions": [{"type": "Initialized", "status": "False"}, {"type": "Ready", "status": "False", "lastTransitionTime": ago(30)}],
                "initContainerStatuses": inits,
                "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
            );
            p.spec.init_containers = serde_json::from_value(json!([{"name": "migrate"}])).unwrap();
            p
        };
        let s = check(&with(
            json!([{"name": "migrate", "state": {"running": {"startedAt": ago(25)}}}]),
        ))
        .unwrap();
        assert_eq!(s.category, Category::InitStuck);
        assert_eq!(s.status, "Init:0/1");
        // Running again after a failure: a crash loop between restarts.
        let s = check(&with(json!([{"name": "migrate", "restartCount": 3,
            "state": {"running": {"startedAt": ago(1)}},
            "lastState": {"terminated": {"exitCode": 2, "reason": "Error"}}}])))
        .unwrap();
        assert_eq!(s.category, Category::CrashLoop);
        assert_eq!(s.container.as_deref(), Some("migrate"));
        let s = check(&with(json!([{"name": "migrate", "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 2, "reason": "Error"}}}])))
        .unwrap();
        assert_eq!(s.category, Category::CrashLoop);
        assert_eq!(s.status, "Init:CrashLoopBackOff");
        assert!(
            s.message.starts_with("init container `migrate`"),
            "{}",
            s.message
        );
    }

    #[test]
    fn finished_and_running_sidecars_are_fine() {
        let mut p = pod(
            60,
            json!({"phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true, "state": {"running": {}}}],
            "containerStatuses": [{"name": "app", "ready": true, "state": {"running": {}}}]}),
        );
        p.spec.init_containers =
            serde_json::from_value(json!([{"name": "proxy", "restartPolicy": "Always"}])).unwrap();
        assert!(check(&p).is_none());
        // A Job pod whose sidecar was stopped after the main container finished.
        p.status = serde_json::from_value(json!({"phase": "Succeeded",
            "initContainerStatuses": [{"name": "proxy", "state": {"terminated": {"exitCode": 143, "reason": "Error"}}}],
            "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]})).unwrap();
        assert!(check(&p).is_none());
        // A crashing sidecar after initialisation is stuck, although kubectl says Running.
        p.status = serde_json::from_value(json!({"phase": "Running", "startTime": ago(30),
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "False", "lastTransitionTime": ago(30)}],
            "initContainerStatuses": [{"name": "proxy", "restartCount": 5, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}],
            "containerStatuses": [{"name": "app", "ready": true, "state": {"running": {}}}]})).unwrap();
        let s = check(&p).unwrap();
        assert_eq!(s.category, Category::CrashLoop);
        assert_eq!(s.container.as_deref(), Some("proxy"));
    }

    #[test]
    fn completed_job_container_next_to_a_running_one_is_not_failed() {
        let mut p = pod(
            60,
            json!({"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": "app", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "helper", "ready": true, "state": {"running": {}}}]}),
        );
        p.spec.restart_policy = Some("Never".into());
        assert!(check(&p).is_none());
    }
}

#[cfg(test)]
mod crash_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_crash_looping_container_between_crashes_is_still_crash_looping() {
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "creationTimestamp": "2024-06-01T11:00:00Z"},
            "spec": {"nodeName": "n1", "containers": [{"name": "app"}]},
            "status": {"phase": "Running", "startTime": "2024-06-01T11:00:00Z",
                "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "2024-06-01T11:00:00Z"}],
                "containerStatuses": [{"name": "app", "ready": false, "restartCount": 6, "state": {"running": {}},
                    "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}
        }))
        .unwrap();
        let now = "2024-06-01T12:00:00Z".parse().unwrap();
        let s = classify(&p, &Nodes::unknown(), &Thresholds::default(), now).unwrap();
        assert_eq!(s.status, "Running");
        assert_eq!(s.category, Category::CrashLoop);
        assert_eq!(s.cause, Cause::OomKilled);
    }
}
