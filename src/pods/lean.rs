//! Lean views of pods, nodes and events: only the fields `pods stuck` reads.
//!
//! Each 500-item page is decoded straight into these, classified, and dropped,
//! so memory does not grow with the size of the cluster. Every field is
//! optional on the wire (`#[serde(default)]`): a missing field must never
//! fail a whole page.

use chrono::{DateTime, Utc};
use serde::Deserialize;

pub(crate) type Time = DateTime<Utc>;

/// Treats an explicit `null` like a missing field: some servers and tools
/// write `"finalizers": null` where others leave the field out.
fn nullable<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Pod {
    #[serde(deserialize_with = "nullable")]
    pub metadata: PodMeta,
    #[serde(deserialize_with = "nullable")]
    pub spec: PodSpec,
    #[serde(deserialize_with = "nullable")]
    pub status: PodStatus,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct PodMeta {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub namespace: String,
    #[serde(deserialize_with = "nullable")]
    pub uid: String,
    pub creation_timestamp: Option<Time>,
    pub deletion_timestamp: Option<Time>,
    #[serde(deserialize_with = "nullable")]
    pub finalizers: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub owner_references: Vec<OwnerRef>,
    #[serde(deserialize_with = "nullable")]
    pub labels: PodLabels,
}

/// The one label we read: it lets a ReplicaSet owner be named by its Deployment.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct PodLabels {
    #[serde(rename = "pod-template-hash")]
    pub pod_template_hash: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct OwnerRef {
    #[serde(deserialize_with = "nullable")]
    pub kind: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    pub controller: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct PodSpec {
    pub node_name: Option<String>,
    pub restart_policy: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub init_containers: Vec<ContainerSpec>,
    #[serde(deserialize_with = "nullable")]
    pub containers: Vec<ContainerSpec>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ContainerSpec {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// `Always` on an init container makes it a sidecar.
    pub restart_policy: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct PodStatus {
    pub phase: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub start_time: Option<Time>,
    #[serde(deserialize_with = "nullable")]
    pub conditions: Vec<Condition>,
    #[serde(deserialize_with = "nullable")]
    pub init_container_statuses: Vec<ContainerStatus>,
    #[serde(deserialize_with = "nullable")]
    pub container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Condition {
    #[serde(rename = "type")]
    #[serde(deserialize_with = "nullable")]
    pub type_: String,
    #[serde(deserialize_with = "nullable")]
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub last_transition_time: Option<Time>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ContainerStatus {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub ready: bool,
    pub started: Option<bool>,
    #[serde(deserialize_with = "nullable")]
    pub restart_count: i64,
    #[serde(deserialize_with = "nullable")]
    pub state: ContainerState,
    #[serde(deserialize_with = "nullable")]
    pub last_state: ContainerState,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct ContainerState {
    pub waiting: Option<Waiting>,
    pub running: Option<Running>,
    pub terminated: Option<Terminated>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct Waiting {
    pub reason: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Running {
    pub started_at: Option<Time>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Terminated {
    #[serde(deserialize_with = "nullable")]
    pub exit_code: i64,
    #[serde(deserialize_with = "nullable")]
    pub signal: i64,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub started_at: Option<Time>,
    pub finished_at: Option<Time>,
}

impl Pod {
    pub(crate) fn condition(&self, type_: &str) -> Option<&Condition> {
        self.status.conditions.iter().find(|c| c.type_ == type_)
    }

    pub(crate) fn phase(&self) -> &str {
        self.status.phase.as_deref().unwrap_or("")
    }

    pub(crate) fn node(&self) -> Option<&str> {
        self.spec.node_name.as_deref().filter(|n| !n.is_empty())
    }

    /// Whether the init container of this name is a sidecar (restartPolicy Always).
    pub(crate) fn is_sidecar(&self, init_name: &str) -> bool {
        self.spec
            .init_containers
            .iter()
            .any(|c| c.name == init_name && c.restart_policy.as_deref() == Some("Always"))
    }
}

impl Condition {
    pub(crate) fn is_true(&self) -> bool {
        self.status == "True"
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct Node {
    #[serde(deserialize_with = "nullable")]
    pub metadata: NodeMeta,
    #[serde(deserialize_with = "nullable")]
    pub spec: NodeSpec,
    #[serde(deserialize_with = "nullable")]
    pub status: NodeStatus,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct NodeMeta {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct NodeSpec {
    pub unschedulable: Option<bool>,
    #[serde(deserialize_with = "nullable")]
    pub taints: Vec<Taint>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct Taint {
    #[serde(deserialize_with = "nullable")]
    pub key: String,
    #[serde(deserialize_with = "nullable")]
    pub effect: String,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct NodeStatus {
    #[serde(deserialize_with = "nullable")]
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Event {
    #[serde(deserialize_with = "nullable")]
    pub involved_object: InvolvedObject,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub count: Option<i64>,
    pub first_timestamp: Option<Time>,
    pub last_timestamp: Option<Time>,
    /// events.k8s.io-style events carry only this.
    pub event_time: Option<Time>,
    pub series: Option<EventSeries>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct EventSeries {
    pub count: Option<i64>,
    pub last_observed_time: Option<Time>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct InvolvedObject {
    #[serde(deserialize_with = "nullable")]
    pub kind: String,
    #[serde(deserialize_with = "nullable")]
    pub uid: String,
    pub field_path: Option<String>,
}

impl Event {
    /// When the event was last seen, whichever API wrote it.
    pub(crate) fn last_seen(&self) -> Option<Time> {
        self.series
            .as_ref()
            .and_then(|s| s.last_observed_time)
            .or(self.last_timestamp)
            .or(self.event_time)
            .or(self.first_timestamp)
    }

    pub(crate) fn times(&self) -> i64 {
        self.series
            .as_ref()
            .and_then(|s| s.count)
            .or(self.count)
            .unwrap_or(1)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_pod_keeping_only_what_it_needs() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1",
                "creationTimestamp": "2024-05-01T10:00:00Z",
                "labels": {"app": "web", "pod-template-hash": "abc12"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc12", "controller": true, "uid": "x"}],
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "x", "env": []}],
                "initContainers": [{"name": "proxy", "restartPolicy": "Always"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true,
                "restartCount": 2, "state": {"running": {"startedAt": "2024-05-01T10:01:00Z"}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}
        }))
        .unwrap();
        assert_eq!(
            pod.metadata.labels.pod_template_hash.as_deref(),
            Some("abc12")
        );
        assert_eq!(pod.node(), Some("n1"));
        assert!(pod.is_sidecar("proxy"));
        let cs = &pod.status.container_statuses[0];
        assert_eq!(cs.last_state.terminated.as_ref().unwrap().exit_code, 137);
    }

    #[test]
    fn nulls_and_missing_fields_do_not_fail() {
        let pod: Pod = serde_json::from_str(r#"{"metadata": {"name": "p"}, "status": {"conditions": [{"type": "Ready", "status": "False", "lastProbeTime": null}]}}"#).unwrap();
        assert_eq!(pod.phase(), "");
        assert!(!pod.condition("Ready").unwrap().is_true());
    }
}
