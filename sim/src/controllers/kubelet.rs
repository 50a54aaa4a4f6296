//! The simulated kubelets: they start pods (after `Timing::pod_start`),
//! make them Ready, play the faults set by annotations or image rules, and
//! remove terminating pods once their (scaled) grace period is over.
//!
//! A pod's status is a pure function of when the kubelet first saw it, the
//! fault it plays and the clock, so the status is only written when it
//! actually changes and the next change is scheduled as a timer.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::podutil::{self, node_ready};
use super::{Ctx, State, obj_key};
use crate::Timing;
use crate::knobs::{ANNOTATION_FAULT, Fault, IMAGE_FAULTS_CONFIGMAP, SLOW_START, image_matches};
use crate::store::{DeleteOptions, UpdateMode, res};
use crate::util::{self, str_at};

const COMPONENT: &str = "kubelet";

#[derive(Default)]
pub(crate) struct KubeletState {
    pods: HashMap<String, PodRun>,
    /// While settling a seed, every delay is skipped.
    pub settling: bool,
}

impl KubeletState {
    pub(crate) fn forget(&mut self, uid: &str) {
        self.pods.remove(uid);
    }

    /// Moves when the kubelet started this pod by `delta`: a seeded pod
    /// started as long ago as it was created, while its crash or restart
    /// cycles stay recent.
    pub(crate) fn shift(&mut self, uid: &str, delta: chrono::Duration) {
        if let Some(run) = self.pods.get_mut(uid) {
            run.started_wall += delta;
        }
    }
}

struct PodRun {
    seen: Instant,
    seen_wall: DateTime<Utc>,
    /// `seen_wall`, moved back for a seeded pod as old as its owner.
    started_wall: DateTime<Utc>,
    terminating_since: Option<Instant>,
    /// Event reasons already recorded, so repeated states aggregate once per cycle.
    recorded: Vec<(String, u64)>,
}

/// The fault this pod plays: its own annotation, its node's, or an image rule.
pub(super) fn resolve_fault(ctx: &Ctx, pod: &Value, node: &Value) -> (Option<Fault>, String) {
    let first = str_at(&pod["spec"]["containers"][0], &["name"]).to_string();
    let parse = |s: &str| -> (Option<Fault>, String) {
        let container = s
            .split_whitespace()
            .find_map(|w| w.strip_prefix("container="))
            .map(String::from)
            .unwrap_or_else(|| first.clone());
        (Fault::parse(s).ok(), container)
    };
    if let Some(s) = pod["metadata"]["annotations"][ANNOTATION_FAULT].as_str() {
        return parse(s);
    }
    if let Some(s) = node["metadata"]["annotations"][ANNOTATION_FAULT].as_str() {
        return parse(s);
    }
    // Rules in kube-system apply everywhere; rules in the pod's own
    // namespace apply there (tests sharing a real cluster keep theirs apart).
    let (system, name) = IMAGE_FAULTS_CONFIGMAP;
    let pod_ns = str_at(pod, &["metadata", "namespace"]);
    for ns in [pod_ns, system] {
        let Some(cm) = ctx.store.get_value(res("configmaps"), ns, name) else {
            continue;
        };
        let Some(rules) = cm["data"]["rules"].as_str() else {
            continue;
        };
        for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
            let image = str_at(c, &["image"]);
            for line in rules
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
            {
                if let Some((pat, fault)) = line.split_once(char::is_whitespace)
                    && image_matches(pat, image)
                {
                    return (
                        Fault::parse(fault.trim()).ok(),
                        str_at(c, &["name"]).to_string(),
                    );
                }
            }
        }
    }
    (None, first)
}

/// The wall-clock time `d` after the kubelet first saw the pod: for events
/// of the fault cycles, which are always recent.
fn wall(run: &PodRun, d: Duration) -> String {
    util::ts(run.seen_wall + chrono::Duration::from_std(d).unwrap_or_default())
}

/// Like `wall`, for the pod's first start: as old as the pod.
fn first_start(run: &PodRun, d: Duration) -> String {
    util::ts(run.started_wall + chrono::Duration::from_std(d).unwrap_or_default())
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs().max(10))
}

pub(super) fn reconcile(ctx: &Ctx, st: &mut State, ns: &str, name: &str) {
    let pods = res("pods");
    let Some(stored) = ctx.store.get(pods, ns, name) else {
        return;
    };
    let node_name = stored.meta.field("spec.nodeName").to_string();
    if node_name.is_empty() {
        return;
    }
    let Some(node) = ctx.store.get_value(res("nodes"), "", &node_name) else {
        // Bound to a node that no longer exists: the pod GC removes it.
        remove_now(ctx, ns, name);
        return;
    };
    if !node_ready(&node) {
        // The kubelet is unreachable: nothing on this node changes.
        return;
    }
    let mut pod = stored.value();
    let (fault, fcontainer) = resolve_fault(ctx, &pod, &node);
    if matches!(fault, Some(Fault::KubeletStopped)) {
        // No kubelet: nothing runs the pod or confirms its deletion, and the
        // node lifecycle controller marks a Ready one not Ready, as it marks
        // the pods of a node whose kubelet stopped.
        if podutil::condition_status(&pod["status"], "Ready") == "True" {
            super::nodes::mark_pod_not_ready(ctx, st, &mut pod);
        }
        return;
    }
    let timing = ctx.sh.timing.clone();
    let now = Instant::now();
    let settling = st.kubelet.settling;
    let uid = stored.meta.uid.clone();
    let run = st
        .kubelet
        .pods
        .entry(uid.clone())
        .or_insert_with(|| PodRun::new(&timing, settling, is_running(&pod), now));
    if stored.meta.deleting {
        let since = *run.terminating_since.get_or_insert(now);
        let wait = termination_wait(&pod, fault.as_ref(), &timing);
        if settling || now >= since + wait {
            if stored.meta.finalizers {
                stop_containers(ctx, &mut pod);
            }
            remove_now(ctx, ns, name);
        } else {
            st.wake_at(since + wait, obj_key("pods", ns, name));
        }
        return;
    }
    if matches!(str_at(&pod, &["status", "phase"]), "Succeeded" | "Failed") {
        return;
    }
    let before = pod["status"].clone();
    let mut tick = Tick::new(&pod, &uid, ns, (fault, fcontainer), &timing, run, now);
    tick.write_status(&mut pod, &node);
    let changed = before != pod["status"];
    let (next, events, first_start) = (tick.next, tick.events, tick.first_start);
    let to_record = new_events(run, events, next, first_start);
    let seen = run.seen;
    if let Some(n) = next {
        st.wake_at(seen + n, obj_key("pods", ns, name));
    }
    if changed {
        let _ = ctx.store.update(pods, pod.clone(), UpdateMode::Raw, true);
    }
    for (t, reason, msg) in to_record {
        st.recorder
            .record(ctx.store, &pod, t, &reason, &msg, COMPONENT);
    }
}

/// The containers of a deleted pod that finalizers keep have stopped: it is
/// no longer ready, as a kubelet reports it while the pod waits.
fn stop_containers(ctx: &Ctx, pod: &mut Value) {
    let before = pod["status"].clone();
    let names: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| str_at(c, &["name"]))
        .collect();
    let msg = format!("containers with unready status: [{}]", names.join(" "));
    let stopped: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({
                "name": c["name"], "image": c["image"], "imageID": "", "ready": false,
                "restartCount": 0, "started": false,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
            })
        })
        .collect();
    let mut status = before.clone();
    if !status.is_object() {
        status = json!({});
    }
    status["containerStatuses"] = json!(stopped);
    for ctype in ["ContainersReady", "Ready"] {
        podutil::set_condition(&mut status, ctype, "False", "ContainersNotReady", &msg);
    }
    if before["containerStatuses"].is_array() && before["conditions"] == status["conditions"] {
        return;
    }
    pod["status"] = status;
    let _ = ctx
        .store
        .update(res("pods"), pod.clone(), UpdateMode::Raw, true);
}

fn remove_now(ctx: &Ctx, ns: &str, name: &str) {
    let _ = ctx.store.delete(
        res("pods"),
        ns,
        name,
        &DeleteOptions {
            grace_period: Some(0),
            ..Default::default()
        },
    );
}

/// A pod that is already Running (seeded or generated with its status).
fn is_running(pod: &Value) -> bool {
    str_at(pod, &["status", "phase"]) == "Running"
        && pod["status"]["containerStatuses"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
}

impl PodRun {
    fn new(timing: &Timing, settling: bool, already_running: bool, now: Instant) -> PodRun {
        // While settling a seed, pretend the kubelet saw the pod a while ago
        // so crash loops already have restarts and everything is started.
        let back = if settling {
            timing.pod_start + timing.ready_delay + timing.crash_backoff.mul_f64(4.3)
        } else if already_running {
            // Started long ago as far as this kubelet knows.
            timing.pod_start + timing.ready_delay
        } else {
            Duration::ZERO
        };
        PodRun {
            seen: now.checked_sub(back).unwrap_or(now),
            seen_wall: util::now() - chrono::Duration::from_std(back).unwrap_or_default(),
            started_wall: util::now() - chrono::Duration::from_std(back).unwrap_or_default(),
            terminating_since: None,
            recorded: vec![],
        }
    }
}

/// How long a terminating pod's containers take to stop. They exit promptly
/// on SIGTERM (within 10 s); one that ignores it (slow-termination) is
/// killed when the grace period ends.
fn termination_wait(pod: &Value, fault: Option<&Fault>, timing: &Timing) -> Duration {
    let grace = pod["metadata"]["deletionGracePeriodSeconds"]
        .as_i64()
        .unwrap_or(0)
        .max(0) as f64;
    let secs = if matches!(fault, Some(Fault::SlowTermination)) {
        grace
    } else {
        grace.min(10.0)
    };
    Duration::from_secs_f64(secs * timing.grace_scale)
}

type Event = (&'static str, String, String);

/// One look of the kubelet at a live pod: the fault it plays, where its clock
/// stands, and what the look found (when to look again, events to record).
struct Tick<'a> {
    uid: &'a str,
    pod: String,
    ns: &'a str,
    fault: Option<Fault>,
    /// The container the fault is aimed at.
    fcontainer: String,
    timing: &'a Timing,
    run: &'a PodRun,
    /// Since the kubelet first saw the pod.
    elapsed: Duration,
    /// When, after it was seen, its containers start.
    start: Duration,
    started: bool,
    /// `spec.restartPolicy`: whether a container that exited starts again.
    restart: Restart,
    /// What keeps every container from starting (the waiting reason).
    blocked: Option<&'static str>,
    /// The init container the pod is stuck at.
    init_stuck: Option<usize>,
    /// When to look again, after the pod was first seen.
    next: Option<Duration>,
    events: Vec<Event>,
    /// Whether this look started the containers (their lifecycle events).
    first_start: bool,
}

/// What the app containers add up to.
#[derive(Default)]
struct Containers {
    statuses: Vec<Value>,
    all_ready: bool,
    any_running: bool,
    /// A job's pod whose containers all ended: the worst exit code.
    job_done: Option<i64>,
}

impl<'a> Tick<'a> {
    fn new(
        pod: &Value,
        uid: &'a str,
        ns: &'a str,
        (fault, fcontainer): (Option<Fault>, String),
        timing: &'a Timing,
        run: &'a PodRun,
        now: Instant,
    ) -> Tick<'a> {
        let elapsed = now.saturating_duration_since(run.seen);
        let init = pod["spec"]["initContainers"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        let init_stuck = init_fault_target(&fault, &fcontainer, init);
        let start = match fault {
            Some(Fault::SlowStart) => timing.pod_start.max(SLOW_START),
            _ => timing.pod_start,
        };
        Tick {
            uid,
            pod: str_at(pod, &["metadata", "name"]).to_string(),
            ns,
            fcontainer,
            timing,
            run,
            elapsed,
            start,
            started: elapsed >= start,
            restart: Restart::of(pod),
            blocked: None,
            init_stuck,
            fault,
            next: None,
            events: Vec::new(),
            first_start: false,
        }
    }

    /// The pod's whole status at this look: placement, what blocks it, the
    /// containers, the init containers, then conditions and phase.
    fn write_status(&mut self, pod: &mut Value, node: &Value) {
        let containers: Vec<Value> = pod["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let init: Vec<Value> = pod["spec"]["initContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let first_volume = pod["spec"]["volumes"][0]["name"]
            .as_str()
            .unwrap_or("config")
            .to_string();
        let status = &mut pod["status"];
        if status["startTime"].is_null() {
            status["startTime"] = json!(first_start(self.run, Duration::ZERO));
        }
        set_host_ip(status, node);
        podutil::set_condition(status, "PodScheduled", "True", "", "");
        self.blocked = self.blocked_by(&first_volume);
        let apps = self.containers(&containers);
        if !init.is_empty() {
            status["initContainerStatuses"] = json!(self.init_containers(&init));
        }
        status["containerStatuses"] = json!(apps.statuses);
        self.conditions(status, &containers, &init, &apps);
        self.phase(status, &apps);
        self.lifecycle_events(&containers);
        if matches!(self.fault, Some(Fault::Evicted)) && apps.all_ready && self.started {
            self.evict(status);
        }
    }

    /// The kubelet evicts the pod under node memory pressure, as a real
    /// one reports it: Failed with reason `Evicted`, a DisruptionTarget
    /// condition, every container killed (exit 137), and the events.
    fn evict(&mut self, status: &mut Value) {
        let container = self.fcontainer.clone();
        let message = format!(
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 86Mi. Container {container} was using 1342Mi, request is 256Mi, has larger consumption of memory. "
        );
        status["phase"] = json!("Failed");
        status["reason"] = json!("Evicted");
        status["message"] = json!(message);
        podutil::set_condition(
            status,
            "DisruptionTarget",
            "True",
            "TerminationByKubelet",
            &message,
        );
        podutil::set_condition(status, "Ready", "False", "PodFailed", "");
        podutil::set_condition(status, "ContainersReady", "False", "PodFailed", "");
        let now = wall(self.run, self.elapsed);
        if let Some(statuses) = status["containerStatuses"].as_array_mut() {
            for cs in statuses {
                let started = cs["state"]["running"]["startedAt"].clone();
                cs["state"] = json!({"terminated": {
                    "exitCode": 137, "reason": "Error",
                    "startedAt": started, "finishedAt": now,
                }});
                cs["ready"] = json!(false);
                cs["started"] = json!(false);
            }
        }
        self.events.push(("Warning", "Evicted".into(), message));
        self.events.push((
            "Normal",
            "Killing".into(),
            format!("Stopping container {container}"),
        ));
        self.next = None;
    }

    /// The normal lifecycle events (pulled, created, started), once per
    /// pod, when its containers first start; not for a container whose
    /// image cannot be pulled or whose config is missing.
    fn lifecycle_events(&mut self, containers: &[Value]) {
        if !self.started
            || self.blocked.is_some()
            || self.run.recorded.iter().any(|(r, _)| r == "Started")
        {
            return;
        }
        let failing = matches!(
            self.fault,
            Some(Fault::ImagePull { .. } | Fault::ConfigError { .. })
        );
        for c in containers {
            let cname = str_at(c, &["name"]);
            if failing && cname == self.fcontainer {
                continue;
            }
            self.events.push((
                "Normal",
                "Pulled".into(),
                format!(
                    "Container image \"{}\" already present on machine",
                    str_at(c, &["image"])
                ),
            ));
            self.events.push((
                "Normal",
                "Created".into(),
                format!("Created container: {cname}"),
            ));
            self.events.push((
                "Normal",
                "Started".into(),
                format!("Started container {cname}"),
            ));
        }
        self.first_start = true;
    }

    /// The faults that keep every container from starting: a sandbox that
    /// cannot get an IP, or a volume that cannot be mounted.
    fn blocked_by(&mut self, first_volume: &str) -> Option<&'static str> {
        if !self.started {
            return None;
        }
        let message = match &self.fault {
            Some(Fault::SandboxStuck) => format!(
                "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"{}\": plugin type=\"cilium-cni\" failed (add): unable to allocate IP via local cilium agent: [POST /ipam][502] postIpamFailure  range is full",
                &container_id(self.uid, "sandbox", 0)["containerd://".len()..]
            ),
            Some(Fault::FailedMount { volume }) => {
                let vol = if volume.is_empty() {
                    first_volume
                } else {
                    volume
                };
                format!(
                    "MountVolume.SetUp failed for volume \"{vol}\" : secret \"{vol}\" not found"
                )
            }
            _ => return None,
        };
        let reason = match &self.fault {
            Some(Fault::SandboxStuck) => "FailedCreatePodSandBox",
            _ => "FailedMount",
        };
        self.events.push(("Warning", reason.into(), message));
        self.next = Some(self.elapsed + self.timing.crash_backoff * 4);
        Some("ContainerCreating")
    }

    /// Container state: each app container's status, from the fault aimed
    /// at it (if any) and the clock.
    fn containers(&mut self, containers: &[Value]) -> Containers {
        let mut out = Containers {
            all_ready: true,
            ..Containers::default()
        };
        for c in containers {
            let (mut cs, running, exit) = self.container(c);
            out.any_running |= running;
            if let Some(code) = exit {
                out.job_done = Some(out.job_done.unwrap_or(0).max(code));
            }
            if cs["ready"] != true {
                out.all_ready = false;
            }
            if cs["containerID"].is_null()
                && let Some(o) = cs.as_object_mut()
            {
                o.remove("containerID");
            }
            if cs["lastState"].is_null() {
                cs["lastState"] = json!({});
            }
            out.statuses.push(cs);
        }
        out
    }

    /// One app container: its status, whether it runs, and a job
    /// container's exit code once it ended.
    fn container(&mut self, c: &Value) -> (Value, bool, Option<i64>) {
        let cname = str_at(c, &["name"]);
        let image = str_at(c, &["image"]);
        let mut cs = json!({
            "name": cname, "image": image, "imageID": "", "ready": false,
            "restartCount": 0, "started": false, "state": {"waiting": {"reason": "ContainerCreating"}},
        });
        if let Some(reason) = self.blocked {
            cs["state"] = json!({"waiting": {"reason": reason}});
            return (cs, false, None);
        }
        if self.started && self.init_stuck.is_some() {
            // The app containers wait for the init container that never ends.
            cs["state"] = json!({"waiting": {"reason": "PodInitializing"}});
            return (cs, false, None);
        }
        if !self.started {
            self.next = Some(self.start);
            return (cs, false, None);
        }
        let mine = cname == self.fcontainer;
        let fault = if mine { self.fault.clone() } else { None };
        match fault {
            Some(Fault::ConfigError { missing }) => {
                self.config_error(&mut cs, &missing);
                (cs, false, None)
            }
            Some(Fault::ImagePull { back_off }) => {
                self.image_pull(&mut cs, image, back_off);
                (cs, false, None)
            }
            Some(f @ (Fault::CrashLoop { .. } | Fault::OomKilled | Fault::LivenessKill))
                if self.restart != Restart::Never =>
            {
                let running = self.crash(&mut cs, cname, &f);
                (cs, running, None)
            }
            // A failed container of a pod that restarts on failure starts
            // again: a crash loop, not a failed pod.
            Some(Fault::JobFail { exit_code }) if self.restart == Restart::OnFailure => {
                let f = Fault::CrashLoop {
                    exit_code,
                    reason: "Error".into(),
                };
                let running = self.crash(&mut cs, cname, &f);
                (cs, running, None)
            }
            Some(Fault::Flapping { exit_code, reason }) if self.restart != Restart::Never => {
                self.flap(&mut cs, cname, exit_code, &reason);
                (cs, true, None)
            }
            _ => {
                let exit = self.run_normally(&mut cs, cname, mine);
                (cs, true, exit)
            }
        }
    }

    /// A Secret or ConfigMap the container needs is missing.
    fn config_error(&mut self, cs: &mut Value, missing: &str) {
        let (kind, obj) = missing.split_once('/').unwrap_or(("secret", missing));
        let msg = format!("{} \"{obj}\" not found", kind.to_lowercase());
        cs["state"] = json!({"waiting": {"reason": "CreateContainerConfigError", "message": msg}});
        self.events
            .push(("Warning", "Failed".into(), format!("Error: {msg}")));
        self.next = Some(self.elapsed + self.timing.crash_backoff * 4);
    }

    /// An image that cannot be pulled: ErrImagePull, then (with back-off)
    /// ImagePullBackOff for two periods out of three. A kubelet backs off
    /// only after a pull failed, so that failure is on record first.
    fn image_pull(&mut self, cs: &mut Value, image: &str, back_off_first: bool) {
        let cycle = ((self.elapsed - self.start).as_secs_f64()
            / self.timing.crash_backoff.as_secs_f64()) as u64;
        let pulled = self
            .run
            .recorded
            .iter()
            .any(|(tag, _)| tag.starts_with("Failed:Failed to pull image"));
        if back_off_first && !cycle.is_multiple_of(3) {
            if !pulled {
                self.pull_failed(image);
            }
            let msg = format!("Back-off pulling image \"{image}\"");
            cs["state"] = json!({"waiting": {"reason": "ImagePullBackOff", "message": msg}});
            self.events.push(("Normal", "BackOff".into(), msg));
            self.events
                .push(("Warning", "Failed".into(), "Error: ImagePullBackOff".into()));
        } else {
            let msg = self.pull_failed(image);
            cs["state"] = json!({"waiting": {"reason": "ErrImagePull", "message": msg}});
        }
        self.next = Some(self.start + self.timing.crash_backoff * (cycle as u32 + 1));
    }

    /// The events of a pull that failed; returns why it failed.
    fn pull_failed(&mut self, image: &str) -> String {
        let msg = format!(
            "rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found"
        );
        self.events.push((
            "Normal",
            "Pulling".into(),
            format!("Pulling image \"{image}\""),
        ));
        self.events.push((
            "Warning",
            "Failed".into(),
            format!("Failed to pull image \"{image}\": {msg}"),
        ));
        self.events
            .push(("Warning", "Failed".into(), "Error: ErrImagePull".into()));
        msg
    }

    /// A crash loop, an OOM kill or a failing liveness probe: the container
    /// keeps exiting and restarting with back-off. Returns whether it runs.
    fn crash(&mut self, cs: &mut Value, cname: &str, fault: &Fault) -> bool {
        let (code, reason) = match fault {
            Fault::CrashLoop { exit_code, reason } => (*exit_code, reason.clone()),
            Fault::LivenessKill => (137, "Error".to_string()),
            _ => (137, "OOMKilled".to_string()),
        };
        if matches!(fault, Fault::LivenessKill) && self.elapsed > self.start {
            self.events.push((
                "Warning",
                "Unhealthy".into(),
                "Liveness probe failed: HTTP probe failed with statuscode: 500".into(),
            ));
            self.events.push((
                "Normal",
                "Killing".into(),
                format!("Container {cname} failed liveness probe, will be restarted"),
            ));
        }
        let crash = CrashLoop {
            uid: self.uid,
            pod: &self.pod,
            ns: self.ns,
            container: cname,
            exit_code: code,
            reason: &reason,
        };
        let (n, running) = crash.play(
            cs,
            self.run,
            self.timing,
            self.elapsed - self.start,
            self.start,
            &mut self.events,
        );
        self.next = Some(self.start + n);
        running
    }

    /// Each run lasts one back-off period, then the container exits and
    /// restarts at once (its back-off was reset by running long).
    fn flap(&mut self, cs: &mut Value, cname: &str, exit_code: i64, reason: &str) {
        let (run, start, uid) = (self.run, self.start, self.uid);
        let p = self.timing.crash_backoff;
        let k = ((self.elapsed - start).as_secs_f64() / p.as_secs_f64()) as u32;
        let run_start = start + p * k;
        cs["restartCount"] = json!(k);
        if k > 0 {
            cs["lastState"] = json!({"terminated": {
                "exitCode": exit_code, "reason": reason, "containerID": container_id(uid, cname, k - 1),
                "startedAt": wall(run, start + p * (k - 1)), "finishedAt": wall(run, run_start),
            }});
        }
        cs["state"] = json!({"running": {"startedAt": wall(run, run_start)}});
        cs["started"] = json!(true);
        cs["containerID"] = json!(container_id(uid, cname, k));
        // Ready again as soon as it restarts: a flap too short for the
        // readiness probe to notice (and for a snapshot to catch).
        cs["ready"] = json!(true);
        self.next = Some(run_start + p);
    }

    /// A container that starts and runs: ready after the readiness delay
    /// (never, with `not-ready`); a job's container ends after the job's
    /// duration (never, with `job-hang`) and returns its exit code.
    fn run_normally(&mut self, cs: &mut Value, cname: &str, mine: bool) -> Option<i64> {
        let (run, start, timing) = (self.run, self.start, self.timing);
        let cid = container_id(self.uid, cname, 0);
        cs["state"] = json!({"running": {"startedAt": first_start(run, start)}});
        cs["started"] = json!(true);
        cs["containerID"] = json!(cid);
        let ready_at = start + timing.ready_delay;
        let not_ready = mine && matches!(self.fault, Some(Fault::NotReady));
        if not_ready && self.elapsed >= ready_at {
            self.events.push((
                "Warning",
                "Unhealthy".into(),
                "Readiness probe failed: HTTP probe failed with statuscode: 503".into(),
            ));
            self.next = Some(self.elapsed + timing.crash_backoff * 2);
        }
        if self.elapsed >= ready_at && !not_ready {
            cs["ready"] = json!(true);
        } else if !not_ready {
            self.next = Some(ready_at);
        }
        if self.restart == Restart::Always || (mine && matches!(self.fault, Some(Fault::JobHang))) {
            return None;
        }
        let done_at = start + timing.job_duration;
        if self.elapsed < done_at {
            self.next = Some(done_at);
            return None;
        }
        let (code, reason) = match self.fault.as_ref().filter(|_| mine) {
            Some(f) => exit_of(f),
            None => (0, "Completed".to_string()),
        };
        cs["state"] = json!({"terminated": {
            "exitCode": code, "reason": reason,
            "containerID": cid, "startedAt": first_start(run, start), "finishedAt": first_start(run, done_at),
        }});
        cs["ready"] = json!(false);
        cs["started"] = json!(false);
        Some(code)
    }

    /// Init containers: done in order up to the one a fault stops at (which
    /// hangs or crash-loops); sidecars (restartPolicy Always) keep running.
    fn init_containers(&mut self, init: &[Value]) -> Vec<Value> {
        let (run, start) = (self.run, self.start);
        let mut statuses = Vec::new();
        for (i, c) in init.iter().enumerate() {
            let sidecar = c["restartPolicy"] == "Always";
            let up =
                self.started && self.blocked.is_none() && self.init_stuck.is_none_or(|k| i < k);
            let mut cs = json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": sidecar && up,
                   "restartCount": 0, "started": sidecar && up, "lastState": {}});
            cs["state"] = if self.init_stuck == Some(i) && self.started && self.blocked.is_none() {
                self.stuck_init(&mut cs, str_at(c, &["name"]))
            } else if !up {
                json!({"waiting": {"reason": "PodInitializing"}})
            } else if sidecar {
                json!({"running": {"startedAt": first_start(run, start)}})
            } else {
                json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": first_start(run, start), "finishedAt": first_start(run, start)}})
            };
            statuses.push(cs);
        }
        statuses
    }

    /// The state of the init container a fault stops at: crash-looping, or
    /// running for ever (`init-hang`).
    fn stuck_init(&mut self, cs: &mut Value, cname: &str) -> Value {
        if let Some(f @ Fault::CrashLoop { .. }) = self.fault.clone() {
            self.crash(cs, cname, &f);
            return cs["state"].take();
        }
        cs["started"] = json!(true);
        cs["containerID"] = json!(container_id(self.uid, cname, 0));
        json!({"running": {"startedAt": first_start(self.run, self.start)}})
    }

    /// Conditions: sandbox ready, initialized (or which init containers are
    /// not), containers ready and pod ready (or which containers are not).
    fn conditions(
        &self,
        status: &mut Value,
        containers: &[Value],
        init: &[Value],
        apps: &Containers,
    ) {
        let sandbox_ready = self.started && self.blocked.is_none();
        let initialized = sandbox_ready && self.init_stuck.is_none();
        podutil::set_condition(
            status,
            "PodReadyToStartContainers",
            if sandbox_ready { "True" } else { "False" },
            "",
            "",
        );
        if initialized || init.is_empty() {
            podutil::set_condition(status, "Initialized", "True", "", "");
        } else {
            let incomplete: Vec<&str> = init
                .iter()
                .skip(self.init_stuck.unwrap_or(0))
                .filter(|c| c["restartPolicy"] != "Always")
                .map(|c| str_at(c, &["name"]))
                .collect();
            podutil::set_condition(
                status,
                "Initialized",
                "False",
                "ContainersNotInitialized",
                &format!(
                    "containers with incomplete status: [{}]",
                    incomplete.join(" ")
                ),
            );
        }
        let (ready, reason, msg) = match apps.job_done {
            Some(_) => ("False", "PodCompleted", String::new()),
            None if apps.all_ready => ("True", "", String::new()),
            None => {
                let not_ready: Vec<&str> = containers
                    .iter()
                    .zip(&apps.statuses)
                    .filter(|(_, s)| s["ready"] != true)
                    .map(|(c, _)| str_at(c, &["name"]))
                    .collect();
                (
                    "False",
                    "ContainersNotReady",
                    format!("containers with unready status: [{}]", not_ready.join(" ")),
                )
            }
        };
        podutil::set_condition(status, "ContainersReady", ready, reason, &msg);
        podutil::set_condition(status, "Ready", ready, reason, &msg);
    }

    /// Phase: a job's pod ends Succeeded or Failed; a pod with a container
    /// running (or that ran) is Running; an IP comes with leaving Pending.
    fn phase(&self, status: &mut Value, apps: &Containers) {
        let phase = match apps.job_done {
            Some(0) => "Succeeded",
            Some(_) => "Failed",
            None if apps.any_running
                || (self.started && self.blocked.is_none() && statuses_started(status)) =>
            {
                "Running"
            }
            None => "Pending",
        };
        status["phase"] = json!(phase);
        if phase != "Pending" && status["podIP"].is_null() {
            let ip = util::global_rng(|r| {
                format!(
                    "10.{}.{}.{}",
                    100 + r.below(100),
                    r.below(256),
                    2 + r.below(250)
                )
            });
            status["podIP"] = json!(ip);
            status["podIPs"] = json!([{"ip": ip}]);
        }
    }
}

/// A pod's `spec.restartPolicy` (the API server defaults it to Always).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restart {
    Always,
    OnFailure,
    Never,
}

impl Restart {
    fn of(pod: &Value) -> Restart {
        match str_at(&pod["spec"], &["restartPolicy"]) {
            "Never" => Restart::Never,
            "OnFailure" => Restart::OnFailure,
            _ => Restart::Always,
        }
    }
}

/// The exit code and terminated reason of a container that ran to its end
/// and is not started again (`restartPolicy` other than Always) under
/// `fault`: a failing fault ends it as it would have crashed, exit 0
/// otherwise.
fn exit_of(fault: &Fault) -> (i64, String) {
    match fault {
        Fault::JobFail { exit_code } => (*exit_code, "Error".into()),
        Fault::CrashLoop { exit_code, reason } | Fault::Flapping { exit_code, reason } => {
            (*exit_code, reason.clone())
        }
        Fault::OomKilled => (137, "OOMKilled".into()),
        Fault::LivenessKill => (137, "Error".into()),
        _ => (0, "Completed".into()),
    }
}

/// The node's internal IP as the pod's host IP.
fn set_host_ip(status: &mut Value, node: &Value) {
    let host_ip = node["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == "InternalIP")
        .map(|a| str_at(a, &["address"]).to_string())
        .unwrap_or_default();
    if !host_ip.is_empty() {
        status["hostIP"] = json!(host_ip);
        status["hostIPs"] = json!([{"ip": host_ip}]);
    }
}

/// Events: the look's events that were not recorded yet in this cycle (a
/// repeated state aggregates once per cycle, as the kubelet's recorder
/// does). `first_start` marks the lifecycle events as recorded for good.
fn new_events(
    run: &mut PodRun,
    events: Vec<Event>,
    next: Option<Duration>,
    first_start: bool,
) -> Vec<Event> {
    if first_start {
        run.recorded.push(("Started".into(), 0));
    }
    let cycle = next.map(|n| n.as_millis() as u64).unwrap_or(0);
    let mut to_record = Vec::new();
    for (t, reason, msg) in events {
        let tag = format!("{reason}:{msg}");
        if run.recorded.iter().any(|(r, c)| *r == tag && *c == cycle) {
            continue;
        }
        run.recorded.retain(|(r, _)| *r != tag);
        run.recorded.push((tag, cycle));
        to_record.push((t, reason, msg));
    }
    to_record
}

/// The init container a fault stops at: `init-hang` (the one named by
/// `container=`, else the first) or a crash loop aimed at an init container.
fn init_fault_target(fault: &Option<Fault>, container: &str, init: &[Value]) -> Option<usize> {
    let named = init.iter().position(|c| c["name"] == container);
    match fault {
        Some(Fault::InitHang) if !init.is_empty() => Some(named.unwrap_or(0)),
        Some(Fault::CrashLoop { .. }) => named,
        _ => None,
    }
}

/// A container that keeps crashing with back-off: each period it runs for
/// half the period, exits, and waits in CrashLoopBackOff.
struct CrashLoop<'a> {
    uid: &'a str,
    pod: &'a str,
    ns: &'a str,
    container: &'a str,
    exit_code: i64,
    reason: &'a str,
}

impl CrashLoop<'_> {
    /// Writes the container status for `t` after its first start; returns
    /// when (after the first start) it next changes, and whether it runs now.
    fn play(
        &self,
        cs: &mut Value,
        run: &PodRun,
        timing: &Timing,
        t: Duration,
        start: Duration,
        events: &mut Vec<(&str, String, String)>,
    ) -> (Duration, bool) {
        let (uid, cname, pod, ns) = (self.uid, self.container, self.pod, self.ns);
        let p = timing.crash_backoff;
        let k = (t.as_secs_f64() / p.as_secs_f64()) as u32;
        let in_backoff = t >= p * k + p / 2;
        let crashes = k + u32::from(in_backoff);
        cs["restartCount"] = json!(crashes);
        if crashes > 0 {
            let last_crash = if in_backoff { k } else { k - 1 };
            cs["lastState"] = json!({"terminated": {
                "exitCode": self.exit_code, "reason": self.reason,
                "containerID": container_id(uid, cname, last_crash),
                "startedAt": wall(run, start + p * last_crash),
                "finishedAt": wall(run, start + p * last_crash + p / 2),
            }});
        }
        if in_backoff {
            cs["state"] = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!(
                "back-off {} restarting failed container={cname} pod={pod}_{ns}({uid})", secs(p))}});
            events.push((
                "Warning",
                "BackOff".into(),
                format!("Back-off restarting failed container {cname} in pod {pod}_{ns}({uid})"),
            ));
            (p * (k + 1), false)
        } else {
            cs["state"] = json!({"running": {"startedAt": wall(run, start + p * k)}});
            cs["started"] = json!(true);
            cs["containerID"] = json!(container_id(uid, cname, crashes));
            (p * k + p / 2, true)
        }
    }
}

/// A containerd-style id that is stable for a pod, container and restart,
/// so recomputing a status does not change it.
fn container_id(uid: &str, container: &str, restart: u32) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in uid
        .bytes()
        .chain(container.bytes())
        .chain(restart.to_le_bytes())
    {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut r = util::Rng::new(h);
    format!("containerd://{}", r.hex(64))
}

fn statuses_started(status: &Value) -> bool {
    status["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["lastState"]["terminated"].is_object())
}
