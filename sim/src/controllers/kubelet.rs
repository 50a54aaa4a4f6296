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
use crate::knobs::{ANNOTATION_FAULT, Fault, IMAGE_FAULTS_CONFIGMAP, image_matches};
use crate::store::{DeleteOptions, UpdateMode, res};
use crate::util::{self, str_at};

const COMPONENT: &str = "kubelet";

#[derive(Default)]
pub struct KubeletState {
    pods: HashMap<String, PodRun>,
    /// While settling a seed, every delay is skipped.
    pub settling: bool,
}

impl KubeletState {
    pub fn forget(&mut self, uid: &str) {
        self.pods.remove(uid);
    }

    /// Moves when the kubelet started this pod by `delta`: a seeded pod
    /// started as long ago as it was created, while its crash or restart
    /// cycles stay recent.
    pub fn shift(&mut self, uid: &str, delta: chrono::Duration) {
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
pub fn resolve_fault(ctx: &Ctx, pod: &Value, node: &Value) -> (Option<Fault>, String) {
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

pub fn reconcile(ctx: &Ctx, st: &mut State, ns: &str, name: &str) {
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
        let _ = ctx.store.delete(
            pods,
            ns,
            name,
            &DeleteOptions {
                grace_period: Some(0),
                ..Default::default()
            },
        );
        return;
    };
    if !node_ready(&node) {
        // The kubelet is unreachable: nothing on this node changes.
        return;
    }
    let timing = ctx.sh.timing.clone();
    let now = Instant::now();
    let settling = st.kubelet.settling;
    let uid = stored.meta.uid.clone();
    let mut pod = stored.value();
    let (fault, fcontainer) = resolve_fault(ctx, &pod, &node);
    let already_running = str_at(&pod, &["status", "phase"]) == "Running"
        && pod["status"]["containerStatuses"]
            .as_array()
            .is_some_and(|c| !c.is_empty());
    let run = st.kubelet.pods.entry(uid.clone()).or_insert_with(|| {
        // While settling a seed, pretend the kubelet saw the pod a while ago
        // so crash loops already have restarts and everything is started.
        let back = if settling {
            timing.pod_start + timing.ready_delay + timing.crash_backoff.mul_f64(4.3)
        } else if already_running {
            // A pod that is already Running (seeded or generated with its
            // status) was started long ago as far as this kubelet knows.
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
    });
    if stored.meta.deleting {
        let since = *run.terminating_since.get_or_insert(now);
        let grace = pod["metadata"]["deletionGracePeriodSeconds"]
            .as_i64()
            .unwrap_or(0)
            .max(0) as f64;
        // Containers exit promptly on SIGTERM (within 10 s); one that ignores
        // it (slow-termination) is killed when the grace period ends.
        let secs = if matches!(fault, Some(Fault::SlowTermination)) {
            grace
        } else {
            grace.min(10.0)
        };
        let wait = Duration::from_secs_f64(secs * timing.grace_scale);
        if settling || now >= since + wait {
            let _ = ctx.store.delete(
                pods,
                ns,
                name,
                &DeleteOptions {
                    grace_period: Some(0),
                    ..Default::default()
                },
            );
        } else {
            st.wake_at(since + wait, obj_key("pods", ns, name));
        }
        return;
    }
    if matches!(str_at(&pod, &["status", "phase"]), "Succeeded" | "Failed") {
        return;
    }
    let elapsed = now.saturating_duration_since(run.seen);
    let start = timing.pod_start;
    let mut next: Option<Duration> = None;
    let mut events: Vec<(&str, String, String)> = Vec::new();
    let before = pod["status"].clone();
    let status = &mut pod["status"];
    if status["startTime"].is_null() {
        status["startTime"] = json!(first_start(run, Duration::ZERO));
    }
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
    podutil::set_condition(status, "PodScheduled", "True", "", "");
    let restart_policy = str_at(&pod["spec"], &["restartPolicy"]).to_string();
    let is_job = restart_policy != "Always";
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let init: Vec<Value> = pod["spec"]["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let pod_name = name.to_string();
    let first_volume = pod["spec"]["volumes"][0]["name"]
        .as_str()
        .unwrap_or("config")
        .to_string();
    let status = &mut pod["status"];
    let started = elapsed >= start;
    let init_stuck = init_fault_target(&fault, &fcontainer, &init);
    // What blocks container start entirely.
    let blocked: Option<(&str, String)> = match &fault {
        Some(Fault::SandboxStuck) if started => {
            events.push(("Warning", "FailedCreatePodSandBox".into(), format!(
                "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"{}\": plugin type=\"cilium-cni\" failed (add): unable to allocate IP via local cilium agent: [POST /ipam][502] postIpamFailure  range is full",
                &container_id(&uid, "sandbox", 0)["containerd://".len()..]
            )));
            next = Some(elapsed + timing.crash_backoff * 4);
            Some(("ContainerCreating", String::new()))
        }
        Some(Fault::FailedMount { volume }) if started => {
            let vol = if volume.is_empty() {
                first_volume.clone()
            } else {
                volume.clone()
            };
            events.push((
                "Warning",
                "FailedMount".into(),
                format!(
                    "MountVolume.SetUp failed for volume \"{vol}\" : secret \"{vol}\" not found"
                ),
            ));
            next = Some(elapsed + timing.crash_backoff * 4);
            Some(("ContainerCreating", String::new()))
        }
        _ => None,
    };
    let mut statuses = Vec::new();
    let mut all_ready = true;
    let mut any_running = false;
    let mut job_done: Option<i64> = None;
    for c in &containers {
        let cname = str_at(c, &["name"]).to_string();
        let image = str_at(c, &["image"]).to_string();
        let mut cs = json!({
            "name": cname, "image": image, "imageID": "", "ready": false,
            "restartCount": 0, "started": false, "state": {"waiting": {"reason": "ContainerCreating"}},
        });
        let mine = cname == fcontainer;
        let cid = container_id(&uid, &cname, 0);
        if let Some((reason, _)) = &blocked {
            cs["state"] = json!({"waiting": {"reason": reason}});
        } else if started && init_stuck.is_some() {
            // The app containers wait for the init container that never ends.
            cs["state"] = json!({"waiting": {"reason": "PodInitializing"}});
        } else if !started {
            next = Some(start);
        } else if mine && matches!(fault, Some(Fault::ConfigError { .. })) {
            let Some(Fault::ConfigError { missing }) = &fault else {
                unreachable!()
            };
            let (kind, obj) = missing.split_once('/').unwrap_or(("secret", missing));
            let msg = format!("{} \"{obj}\" not found", kind.to_lowercase());
            cs["state"] =
                json!({"waiting": {"reason": "CreateContainerConfigError", "message": msg}});
            events.push(("Warning", "Failed".into(), format!("Error: {msg}")));
            next = Some(elapsed + timing.crash_backoff * 4);
        } else if mine && matches!(fault, Some(Fault::ImagePull { .. })) {
            let back_off_first = matches!(fault, Some(Fault::ImagePull { back_off: true }));
            let cycle =
                ((elapsed - start).as_secs_f64() / timing.crash_backoff.as_secs_f64()) as u64;
            let back_off = back_off_first && !cycle.is_multiple_of(3);
            if back_off {
                cs["state"] = json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}});
                events.push((
                    "Normal",
                    "BackOff".into(),
                    format!("Back-off pulling image \"{image}\""),
                ));
                events.push(("Warning", "Failed".into(), "Error: ImagePullBackOff".into()));
            } else {
                let msg = format!(
                    "rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found"
                );
                cs["state"] = json!({"waiting": {"reason": "ErrImagePull", "message": msg}});
                events.push((
                    "Normal",
                    "Pulling".into(),
                    format!("Pulling image \"{image}\""),
                ));
                events.push((
                    "Warning",
                    "Failed".into(),
                    format!("Failed to pull image \"{image}\": {msg}"),
                ));
                events.push(("Warning", "Failed".into(), "Error: ErrImagePull".into()));
            }
            next = Some(start + timing.crash_backoff * (cycle as u32 + 1));
        } else if mine
            && matches!(
                fault,
                Some(Fault::CrashLoop { .. } | Fault::OomKilled | Fault::LivenessKill)
            )
            && !is_job
        {
            let (code, reason) = match &fault {
                Some(Fault::CrashLoop { exit_code, reason }) => (*exit_code, reason.clone()),
                Some(Fault::LivenessKill) => (137, "Error".to_string()),
                _ => (137, "OOMKilled".to_string()),
            };
            if matches!(fault, Some(Fault::LivenessKill)) && elapsed > start {
                events.push((
                    "Warning",
                    "Unhealthy".into(),
                    "Liveness probe failed: HTTP probe failed with statuscode: 500".into(),
                ));
                events.push((
                    "Normal",
                    "Killing".into(),
                    format!("Container {cname} failed liveness probe, will be restarted"),
                ));
            }
            let crash = CrashLoop {
                uid: &uid,
                pod: &pod_name,
                ns,
                container: &cname,
                exit_code: code,
                reason: &reason,
            };
            let (n, running) =
                crash.play(&mut cs, run, &timing, elapsed - start, start, &mut events);
            next = Some(start + n);
            any_running |= running;
        } else if mine && matches!(fault, Some(Fault::Flapping { .. })) && !is_job {
            let Some(Fault::Flapping { exit_code, reason }) = &fault else {
                unreachable!()
            };
            // Each run lasts one back-off period, then the container exits
            // and restarts at once (its back-off was reset by running long).
            let p = timing.crash_backoff;
            let t = elapsed - start;
            let k = (t.as_secs_f64() / p.as_secs_f64()) as u32;
            let run_start = start + p * k;
            cs["restartCount"] = json!(k);
            if k > 0 {
                cs["lastState"] = json!({"terminated": {
                    "exitCode": exit_code, "reason": reason, "containerID": container_id(&uid, &cname, k - 1),
                    "startedAt": wall(run, start + p * (k - 1)), "finishedAt": wall(run, run_start),
                }});
            }
            cs["state"] = json!({"running": {"startedAt": wall(run, run_start)}});
            cs["started"] = json!(true);
            cs["containerID"] = json!(container_id(&uid, &cname, k));
            any_running = true;
            // Ready again as soon as it restarts: a flap too short for the
            // readiness probe to notice (and for a snapshot to catch).
            cs["ready"] = json!(true);
            next = Some(run_start + p);
        } else {
            cs["state"] = json!({"running": {"startedAt": first_start(run, start)}});
            cs["started"] = json!(true);
            cs["containerID"] = json!(cid);
            any_running = true;
            let ready_at = start + timing.ready_delay;
            let not_ready = mine && matches!(fault, Some(Fault::NotReady));
            if not_ready && elapsed >= ready_at {
                events.push((
                    "Warning",
                    "Unhealthy".into(),
                    "Readiness probe failed: HTTP probe failed with statuscode: 503".into(),
                ));
                next = Some(elapsed + timing.crash_backoff * 2);
            }
            if elapsed >= ready_at && !not_ready {
                cs["ready"] = json!(true);
            } else if !not_ready {
                next = Some(ready_at);
            }
            if is_job && !(mine && matches!(fault, Some(Fault::JobHang))) {
                let done_at = start + timing.job_duration;
                if elapsed >= done_at {
                    let code = match (&fault, mine) {
                        (Some(Fault::JobFail { exit_code }), true) => *exit_code,
                        (Some(Fault::CrashLoop { exit_code, .. }), true) => *exit_code,
                        _ => 0,
                    };
                    cs["state"] = json!({"terminated": {
                        "exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" },
                        "containerID": cid, "startedAt": first_start(run, start), "finishedAt": first_start(run, done_at),
                    }});
                    cs["ready"] = json!(false);
                    cs["started"] = json!(false);
                    job_done = Some(job_done.unwrap_or(0).max(code));
                } else {
                    next = Some(done_at);
                }
            }
        }
        if cs["ready"] != true {
            all_ready = false;
        }
        if cs["containerID"].is_null()
            && let Some(o) = cs.as_object_mut()
        {
            o.remove("containerID");
        }
        if cs["lastState"].is_null() {
            cs["lastState"] = json!({});
        }
        statuses.push(cs);
    }
    if !init.is_empty() {
        let mut ist = Vec::new();
        for (i, c) in init.iter().enumerate() {
            let sidecar = c["restartPolicy"] == "Always";
            let up = started && blocked.is_none() && init_stuck.is_none_or(|k| i < k);
            let mut cs = json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": sidecar && up,
                   "restartCount": 0, "started": sidecar && up, "lastState": {}});
            cs["state"] = if init_stuck == Some(i) && started && blocked.is_none() {
                let cname = str_at(c, &["name"]);
                match &fault {
                    Some(Fault::CrashLoop { exit_code, reason }) => {
                        let crash = CrashLoop {
                            uid: &uid,
                            pod: &pod_name,
                            ns,
                            container: cname,
                            exit_code: *exit_code,
                            reason,
                        };
                        let (n, _) =
                            crash.play(&mut cs, run, &timing, elapsed - start, start, &mut events);
                        next = Some(start + n);
                        cs["state"].take()
                    }
                    _ => {
                        cs["started"] = json!(true);
                        cs["containerID"] = json!(container_id(&uid, cname, 0));
                        json!({"running": {"startedAt": first_start(run, start)}})
                    }
                }
            } else if !up {
                json!({"waiting": {"reason": "PodInitializing"}})
            } else if sidecar {
                json!({"running": {"startedAt": first_start(run, start)}})
            } else {
                json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": first_start(run, start), "finishedAt": first_start(run, start)}})
            };
            ist.push(cs);
        }
        status["initContainerStatuses"] = json!(ist);
    }
    status["containerStatuses"] = json!(statuses);
    let sandbox_ready = started && blocked.is_none();
    let initialized = sandbox_ready && init_stuck.is_none();
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
            .skip(init_stuck.unwrap_or(0))
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
    let (ready, reason, msg) = match job_done {
        Some(_) => ("False", "PodCompleted", String::new()),
        None if all_ready => ("True", "", String::new()),
        None => {
            let not_ready: Vec<String> = containers
                .iter()
                .zip(
                    status["containerStatuses"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                )
                .filter(|(_, s)| s["ready"] != true)
                .map(|(c, _)| str_at(c, &["name"]).to_string())
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
    let phase = match job_done {
        Some(0) => "Succeeded",
        Some(_) => "Failed",
        None if any_running || (started && blocked.is_none() && statuses_started(status)) => {
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
    let changed = before != pod["status"];
    // Normal lifecycle events, once.
    if started && blocked.is_none() && !run.recorded.iter().any(|(r, _)| r == "Started") {
        for c in &containers {
            let cname = str_at(c, &["name"]);
            if cname == fcontainer
                && matches!(
                    fault,
                    Some(Fault::ImagePull { .. } | Fault::ConfigError { .. })
                )
            {
                continue;
            }
            events.push((
                "Normal",
                "Pulled".into(),
                format!(
                    "Container image \"{}\" already present on machine",
                    str_at(c, &["image"])
                ),
            ));
            events.push((
                "Normal",
                "Created".into(),
                format!("Created container: {cname}"),
            ));
            events.push((
                "Normal",
                "Started".into(),
                format!("Started container {cname}"),
            ));
        }
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
        timing: &crate::Timing,
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
