//! The STATUS column of `kubectl get pods`, computed the way kubectl's
//! server-side printer computes it, so that what we report reads exactly like
//! what the on-call engineer sees in kubectl.
//!
//! Order matters and mirrors the printer: the phase (or `status.reason`),
//! then a scheduling gate, then the first init container that has not
//! finished (`Init:N/M`, `Init:<reason>`), then the app containers from last
//! to first (so the first container with a waiting or terminated reason
//! wins), and finally deletion (`Terminating`, or `Unknown` for a pod whose
//! node was lost).

use super::lean::{Pod, Time};

/// The reason a node controller writes on pods of an unreachable node.
pub(crate) const NODE_LOST: &str = "NodeLost";

/// What kubectl shows for a pod: READY, STATUS and RESTARTS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Display {
    pub status: String,
    pub ready: usize,
    pub total: usize,
    pub restarts: i64,
    /// When a counted container last terminated, for "N (5m ago)".
    pub last_restart: Option<Time>,
}

pub(crate) fn display(pod: &Pod) -> Display {
    let phase = pod.phase();
    let mut reason = match pod.status.reason.as_deref() {
        Some(r) if !r.is_empty() => r.to_string(),
        _ => phase.to_string(),
    };
    if pod
        .status
        .conditions
        .iter()
        .any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("SchedulingGated"))
    {
        reason = "SchedulingGated".into();
    }

    let sidecars = pod
        .spec
        .init_containers
        .iter()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .count();
    let total = pod.spec.containers.len() + sidecars;
    let mut ready = 0;
    let mut restarts = 0;
    let mut last_restart: Option<Time> = None;
    let mut sidecar_restarts = 0;
    let mut sidecar_last_restart: Option<Time> = None;

    let mut initializing = false;
    let init_count = pod.spec.init_containers.len();
    for (i, c) in pod.status.init_container_statuses.iter().enumerate() {
        restarts += c.restart_count;
        let finished = c.last_state.terminated.as_ref().and_then(|t| t.finished_at);
        later(&mut last_restart, finished);
        let sidecar = pod.is_sidecar(&c.name);
        if sidecar {
            sidecar_restarts += c.restart_count;
            later(&mut sidecar_last_restart, finished);
        }
        if let Some(t) = &c.state.terminated
            && t.exit_code == 0
        {
            continue;
        }
        if sidecar && c.started == Some(true) {
            if c.ready {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(t) = &c.state.terminated {
            match t.reason.as_deref().filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None if t.signal != 0 => format!("Init:Signal:{}", t.signal),
                None => format!("Init:ExitCode:{}", t.exit_code),
            }
        } else if let Some(w) = c
            .state
            .waiting
            .as_ref()
            .and_then(|w| w.reason.as_deref())
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            format!("Init:{w}")
        } else {
            format!("Init:{i}/{init_count}")
        };
        initializing = true;
        break;
    }

    let initialized = pod.condition("Initialized").is_some_and(|c| c.is_true());
    if !initializing || initialized {
        restarts = sidecar_restarts;
        last_restart = sidecar_last_restart;
        let mut has_running = false;
        for c in pod.status.container_statuses.iter().rev() {
            restarts += c.restart_count;
            later(
                &mut last_restart,
                c.last_state.terminated.as_ref().and_then(|t| t.finished_at),
            );
            let waiting = c
                .state
                .waiting
                .as_ref()
                .and_then(|w| w.reason.as_deref())
                .filter(|r| !r.is_empty());
            if let Some(w) = waiting {
                reason = w.to_string();
            } else if let Some(t) = &c.state.terminated {
                reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                    Some(r) => r.to_string(),
                    None if t.signal != 0 => format!("Signal:{}", t.signal),
                    None => format!("ExitCode:{}", t.exit_code),
                };
            } else if c.ready && c.state.running.is_some() {
                has_running = true;
                ready += 1;
            }
        }
        // A finished container next to one still running is not "Completed".
        if reason == "Completed" && has_running {
            reason = if pod.condition("Ready").is_some_and(|c| c.is_true()) {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    if pod.metadata.deletion_timestamp.is_some() {
        if pod.status.reason.as_deref() == Some(NODE_LOST) {
            reason = "Unknown".into();
        } else if !matches!(phase, "Succeeded" | "Failed") {
            reason = "Terminating".into();
        }
    }

    Display {
        status: reason,
        ready,
        total,
        restarts,
        last_restart,
    }
}

fn later(slot: &mut Option<Time>, candidate: Option<Time>) {
    if let Some(c) = candidate
        && slot.is_none_or(|s| s < c)
    {
        *slot = Some(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn pod(v: Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn status(v: Value) -> String {
        display(&pod(v)).status
    }

    #[test]
    fn phase_and_status_reason() {
        assert_eq!(status(json!({"status": {"phase": "Pending"}})), "Pending");
        assert_eq!(
            status(json!({"status": {"phase": "Failed", "reason": "Evicted"}})),
            "Evicted"
        );
        assert_eq!(
            status(json!({"status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}})),
            "SchedulingGated"
        );
    }

    #[test]
    fn first_container_with_a_reason_wins() {
        let p = pod(json!({
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "a", "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "restartCount": 4},
                {"name": "b", "state": {"waiting": {"reason": "ImagePullBackOff"}}, "restartCount": 1}]}
        }));
        let d = display(&p);
        assert_eq!(d.status, "CrashLoopBackOff");
        assert_eq!((d.ready, d.total, d.restarts), (0, 2, 5));
    }

    #[test]
    fn terminated_without_reason_shows_exit_code_or_signal() {
        assert_eq!(
            status(json!({"status": {"phase": "Running", "containerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 3}}}]}})),
            "ExitCode:3"
        );
        assert_eq!(
            status(json!({"status": {"phase": "Running", "containerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 0, "signal": 9}}}]}})),
            "Signal:9"
        );
    }

    #[test]
    fn completed_next_to_running_is_running_or_not_ready() {
        let base = |ready: &str| {
            json!({
                "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
                "status": {"phase": "Running",
                    "conditions": [{"type": "Ready", "status": ready}],
                    "containerStatuses": [
                        {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                        {"name": "b", "ready": true, "state": {"running": {}}}]}
            })
        };
        assert_eq!(status(base("True")), "Running");
        assert_eq!(status(base("False")), "NotReady");
    }

    #[test]
    fn init_containers() {
        let spec = json!({"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]});
        let with = |inits: Value| json!({"spec": spec, "status": {"phase": "Pending", "initContainerStatuses": inits}});
        assert_eq!(
            status(with(json!([
                {"name": "i1", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "i2", "state": {"running": {}}}]))),
            "Init:1/2"
        );
        assert_eq!(
            status(with(
                json!([{"name": "i1", "state": {"waiting": {"reason": "PodInitializing"}}}])
            )),
            "Init:0/2"
        );
        assert_eq!(
            status(with(
                json!([{"name": "i1", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}])
            )),
            "Init:CrashLoopBackOff"
        );
        assert_eq!(
            status(with(
                json!([{"name": "i1", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}])
            )),
            "Init:Error"
        );
        assert_eq!(
            status(with(
                json!([{"name": "i1", "state": {"terminated": {"exitCode": 2}}}])
            )),
            "Init:ExitCode:2"
        );
        assert_eq!(
            status(with(
                json!([{"name": "i1", "state": {"terminated": {"exitCode": 2, "signal": 15}}}])
            )),
            "Init:Signal:15"
        );
    }

    #[test]
    fn started_sidecar_lets_initialisation_continue_and_counts() {
        let p = pod(json!({
            "spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}, {"name": "migrate"}],
                     "containers": [{"name": "app"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "proxy", "started": true, "ready": true, "restartCount": 2, "state": {"running": {}}},
                {"name": "migrate", "state": {"running": {}}}]}
        }));
        let d = display(&p);
        assert_eq!(d.status, "Init:1/2");
        assert_eq!((d.ready, d.total), (1, 2));
    }

    #[test]
    fn sidecar_restarts_count_once_initialized() {
        let p = pod(json!({
            "spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "app"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true, "restartCount": 2,
                    "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-01-01T00:00:00Z"}}}],
                "containerStatuses": [{"name": "app", "ready": true, "restartCount": 1, "state": {"running": {}}}]}
        }));
        let d = display(&p);
        assert_eq!(d.status, "Running");
        assert_eq!((d.ready, d.total, d.restarts), (2, 2, 3));
        assert!(d.last_restart.is_some());
    }

    #[test]
    fn finished_sidecar_of_a_completed_pod() {
        let p = pod(json!({
            "spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "job"}]},
            "status": {"phase": "Succeeded", "conditions": [{"type": "Initialized", "status": "True"}],
                "initContainerStatuses": [{"name": "proxy", "started": false,
                    "state": {"terminated": {"exitCode": 137, "reason": "Error"}}}],
                "containerStatuses": [{"name": "job", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}
        }));
        assert_eq!(display(&p).status, "Completed");
    }

    #[test]
    fn deletion() {
        assert_eq!(
            status(
                json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"},
                "status": {"phase": "Running"}})
            ),
            "Terminating"
        );
        assert_eq!(
            status(
                json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"},
                "status": {"phase": "Running", "reason": "NodeLost"}})
            ),
            "Unknown"
        );
        assert_eq!(
            status(
                json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"},
                "status": {"phase": "Failed", "reason": "Evicted"}})
            ),
            "Evicted"
        );
    }
}
