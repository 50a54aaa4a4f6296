//! What is wrong with a pod, read from its status the way an SRE reads
//! `kubectl get pods`; and its last log lines, read through the API.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::Api;
use kube::api::LogParams;
use serde::Serialize;

/// Why a pod is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum Reason {
    /// A container keeps crashing and the kubelet backs off restarting it.
    CrashLoopBackOff,
    /// A container was killed for using more memory than its limit.
    OOMKilled,
    /// The image cannot be pulled (ImagePullBackOff, ErrImagePull, InvalidImageName).
    ImagePullBackOff,
    /// A referenced Secret or ConfigMap is missing.
    CreateContainerConfigError,
    /// The scheduler found no node for the pod.
    Unschedulable,
    /// The pod (or a container that does not restart) exited with an error.
    Error,
    /// The pod's node stopped reporting: its state is unknown.
    Unknown,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::CrashLoopBackOff => "CrashLoopBackOff",
            Reason::OOMKilled => "OOMKilled",
            Reason::ImagePullBackOff => "ImagePullBackOff",
            Reason::CreateContainerConfigError => "CreateContainerConfigError",
            Reason::Unschedulable => "Unschedulable",
            Reason::Error => "Error",
            Reason::Unknown => "Unknown",
        }
    }

    /// Whether a new pod in this state means the rollout has failed: it will
    /// not become ready by waiting longer.
    pub(crate) fn fails_rollout(self) -> bool {
        !matches!(self, Reason::Unknown | Reason::Error)
    }

    /// Whether `restart --bad-pods` replaces a pod in this state. Pods that
    /// cannot be scheduled or configured would come back the same way.
    pub(crate) fn replaceable(self) -> bool {
        matches!(
            self,
            Reason::CrashLoopBackOff
                | Reason::OOMKilled
                | Reason::ImagePullBackOff
                | Reason::Error
                | Reason::Unknown
        )
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A broken pod and the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Problem {
    pub reason: Reason,
    /// The container at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The kubelet's or scheduler's message, or the exit code.
    pub message: String,
    /// Whether the container has crashed before, so `previous` logs exist.
    pub crashed: bool,
}

/// The pod's problem, if it has one. `node_lost` says whether the node it
/// runs on has stopped reporting (or is gone).
pub(crate) fn diagnose(pod: &Pod, node_lost: bool) -> Option<Problem> {
    let status = pod.status.as_ref()?;
    let phase = status.phase.as_deref().unwrap_or("");
    if node_lost && !matches!(phase, "Succeeded" | "Failed") {
        return Some(Problem {
            reason: Reason::Unknown,
            container: None,
            message: format!(
                "node `{}` stopped reporting",
                pod.spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .unwrap_or("?")
            ),
            crashed: false,
        });
    }
    let statuses = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    let mut found: Option<Problem> = None;
    for cs in statuses {
        if let Some(p) = container_problem(cs) {
            // The most telling problem wins: OOMKilled explains a crash loop.
            if found
                .as_ref()
                .is_none_or(|f| rank(p.reason) < rank(f.reason))
            {
                found = Some(p);
            }
        }
    }
    if found.is_some() {
        return found;
    }
    if phase == "Failed" {
        return Some(Problem {
            reason: Reason::Error,
            container: None,
            message: status
                .message
                .clone()
                .or(status.reason.clone())
                .unwrap_or_else(|| "the pod failed".into()),
            crashed: false,
        });
    }
    let unschedulable = status.conditions.iter().flatten().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    });
    if let Some(c) = unschedulable {
        return Some(Problem {
            reason: Reason::Unschedulable,
            container: None,
            message: c.message.clone().unwrap_or_default(),
            crashed: false,
        });
    }
    None
}

fn rank(reason: Reason) -> u8 {
    match reason {
        Reason::OOMKilled => 0,
        Reason::CrashLoopBackOff => 1,
        Reason::ImagePullBackOff => 2,
        Reason::CreateContainerConfigError => 3,
        Reason::Error => 4,
        Reason::Unschedulable => 5,
        Reason::Unknown => 6,
    }
}

fn container_problem(cs: &ContainerStatus) -> Option<Problem> {
    let state = cs.state.as_ref();
    let waiting = state.and_then(|s| s.waiting.as_ref());
    let terminated = state.and_then(|s| s.terminated.as_ref());
    let last = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let crashed = cs.restart_count > 0;
    let problem = |reason, message: String| {
        Some(Problem {
            reason,
            container: Some(cs.name.clone()),
            message,
            crashed,
        })
    };
    let oom = |t: &k8s_openapi::api::core::v1::ContainerStateTerminated| {
        t.reason.as_deref() == Some("OOMKilled")
    };
    if let Some(t) = terminated.filter(|t| oom(t)).or(last.filter(|t| oom(t))) {
        return problem(
            Reason::OOMKilled,
            format!(
                "container `{}` was killed for exceeding its memory limit (exit code {})",
                cs.name, t.exit_code
            ),
        );
    }
    if let Some(w) = waiting {
        let message = w.message.clone().unwrap_or_default();
        match w.reason.as_deref().unwrap_or("") {
            "CrashLoopBackOff" => {
                let exit = last
                    .map(|t| {
                        format!(
                            "last exit code {} ({})",
                            t.exit_code,
                            t.reason.as_deref().unwrap_or("Error")
                        )
                    })
                    .unwrap_or_default();
                return problem(
                    Reason::CrashLoopBackOff,
                    format!(
                        "container `{}` keeps crashing ({}{}{exit})",
                        cs.name,
                        restarts(cs.restart_count),
                        if exit.is_empty() { "" } else { ", " }
                    ),
                );
            }
            "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull" => {
                return problem(Reason::ImagePullBackOff, pull_message(cs, &message));
            }
            // A single ErrImagePull can be a registry hiccup; a missing image is not.
            "ErrImagePull" if is_permanent_pull_error(&message) => {
                return problem(Reason::ImagePullBackOff, pull_message(cs, &message));
            }
            "CreateContainerConfigError" => {
                return problem(Reason::CreateContainerConfigError, message);
            }
            _ => {}
        }
    }
    // Between two crashes a crash-looping container runs for a moment
    // (not ready): kubectl shows Running, but it is the same crash loop.
    if let Some(t) = last
        && state.is_some_and(|s| s.running.is_some())
        && !cs.ready
        && cs.restart_count >= 2
        && t.exit_code != 0
    {
        return problem(
            Reason::CrashLoopBackOff,
            format!(
                "container `{}` keeps crashing ({}, last exit code {} ({}))",
                cs.name,
                restarts(cs.restart_count),
                t.exit_code,
                t.reason.as_deref().unwrap_or("Error")
            ),
        );
    }
    if let Some(t) = terminated
        && t.exit_code != 0
    {
        return problem(
            Reason::Error,
            format!(
                "container `{}` exited with code {} ({})",
                cs.name,
                t.exit_code,
                t.reason.as_deref().unwrap_or("Error")
            ),
        );
    }
    None
}

fn restarts(n: i32) -> String {
    if n == 1 {
        "1 restart".into()
    } else {
        format!("{n} restarts")
    }
}

fn pull_message(cs: &ContainerStatus, message: &str) -> String {
    let mut text = format!("cannot pull image `{}`", cs.image);
    if !message.is_empty() {
        text.push_str(": ");
        text.push_str(message);
    }
    text
}

fn is_permanent_pull_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["not found", "manifest unknown", "unauthorized", "denied"]
        .iter()
        .any(|w| m.contains(w))
}

/// The last `lines` log lines of a container, through `pods/log`: of the
/// previous (crashed) container when there is one, since the current one
/// has usually not logged anything useful yet. Best effort: a pod whose
/// logs cannot be read gives no lines rather than an error.
pub(crate) async fn last_log_lines(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    container: Option<&str>,
    previous: bool,
    lines: i64,
) -> Vec<String> {
    let api = Api::<Pod>::namespaced(client.clone(), namespace);
    let params = |previous| LogParams {
        container: container.map(str::to_string),
        previous,
        tail_lines: Some(lines),
        ..Default::default()
    };
    let text = match api.logs(pod, &params(previous)).await {
        Ok(t) => t,
        Err(_) if previous => api.logs(pod, &params(false)).await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    text.lines().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-1"},
            "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "web:2"}]},
            "status": status
        }))
        .unwrap()
    }

    fn cs(state: serde_json::Value, last: serde_json::Value, restarts: i32) -> serde_json::Value {
        json!({"name": "app", "image": "web:2", "imageID": "", "ready": false,
               "restartCount": restarts, "state": state, "lastState": last})
    }

    #[test]
    fn healthy_pod_has_no_problem() {
        let p = pod(json!({"phase": "Running", "containerStatuses": [
            cs(json!({"running": {}}), json!({}), 0)]}));
        assert_eq!(diagnose(&p, false), None);
    }

    #[test]
    fn crash_loop_names_the_container_and_exit() {
        let p = pod(json!({"phase": "Running", "containerStatuses": [cs(
            json!({"waiting": {"reason": "CrashLoopBackOff"}}),
            json!({"terminated": {"exitCode": 2, "reason": "Error"}}), 3)]}));
        let d = diagnose(&p, false).unwrap();
        assert_eq!(d.reason, Reason::CrashLoopBackOff);
        assert_eq!(d.container.as_deref(), Some("app"));
        assert!(d.crashed);
        assert!(d.message.contains("exit code 2"), "{}", d.message);
    }

    #[test]
    fn running_between_crashes_is_still_a_crash_loop() {
        let p = pod(json!({"phase": "Running", "containerStatuses": [cs(
            json!({"running": {}}),
            json!({"terminated": {"exitCode": 1, "reason": "Error"}}), 4)]}));
        assert_eq!(
            diagnose(&p, false).unwrap().reason,
            Reason::CrashLoopBackOff
        );
        let p = pod(json!({"phase": "Running", "containerStatuses": [cs(
            json!({"running": {}}),
            json!({"terminated": {"exitCode": 1, "reason": "Error"}}), 1)]}));
        assert_eq!(diagnose(&p, false), None, "one crash is not a loop yet");
    }

    #[test]
    fn oom_killed_explains_the_crash_loop() {
        let p = pod(json!({"phase": "Running", "containerStatuses": [cs(
            json!({"waiting": {"reason": "CrashLoopBackOff"}}),
            json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}), 1)]}));
        assert_eq!(diagnose(&p, false).unwrap().reason, Reason::OOMKilled);
    }

    #[test]
    fn image_pull_and_config_errors() {
        let p = pod(json!({"phase": "Pending", "containerStatuses": [cs(
            json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}), json!({}), 0)]}));
        assert_eq!(
            diagnose(&p, false).unwrap().reason,
            Reason::ImagePullBackOff
        );
        let p = pod(json!({"phase": "Pending", "containerStatuses": [cs(
            json!({"waiting": {"reason": "ErrImagePull", "message": "i/o timeout"}}), json!({}), 0)]}));
        assert_eq!(
            diagnose(&p, false),
            None,
            "a transient pull error is not final"
        );
        let p = pod(json!({"phase": "Pending", "containerStatuses": [cs(
            json!({"waiting": {"reason": "ErrImagePull", "message": "web:2: not found"}}), json!({}), 0)]}));
        assert_eq!(
            diagnose(&p, false).unwrap().reason,
            Reason::ImagePullBackOff
        );
        let p = pod(json!({"phase": "Pending", "containerStatuses": [cs(
            json!({"waiting": {"reason": "CreateContainerConfigError", "message": "secret \"db\" not found"}}), json!({}), 0)]}));
        let d = diagnose(&p, false).unwrap();
        assert_eq!(d.reason, Reason::CreateContainerConfigError);
        assert!(!d.reason.replaceable());
    }

    #[test]
    fn unschedulable_and_lost_node() {
        let p = pod(
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient cpu."}]}),
        );
        let d = diagnose(&p, false).unwrap();
        assert_eq!(d.reason, Reason::Unschedulable);
        assert!(d.reason.fails_rollout());
        let p = pod(
            json!({"phase": "Running", "containerStatuses": [cs(json!({"running": {}}), json!({}), 0)]}),
        );
        let d = diagnose(&p, true).unwrap();
        assert_eq!(d.reason, Reason::Unknown);
        assert!(d.message.contains("n1"));
    }

    #[test]
    fn failed_pod_is_an_error() {
        let p = pod(json!({"phase": "Failed", "reason": "Evicted", "message": "low on memory"}));
        let d = diagnose(&p, false).unwrap();
        assert_eq!(d.reason, Reason::Error);
        assert!(d.reason.replaceable());
    }
}
