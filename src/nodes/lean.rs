//! Lean views of nodes, pods and disruption budgets: only the fields the node
//! commands read, so cluster-wide lists stay small page after page.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Labels that name a node's pool, most specific first (GKE, EKS,
/// Karpenter, AKS, then the generic fallback).
pub(crate) const POOL_LABELS: &[&str] = &[
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "karpenter.sh/nodepool",
    "kubernetes.azure.com/agentpool",
    "agentpool",
    "node.kubernetes.io/pool",
];
pub(crate) const INSTANCE_TYPE_LABEL: &str = "node.kubernetes.io/instance-type";
pub(crate) const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Meta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub creation_timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    pub deletion_timestamp: Option<DateTime<Utc>>,
    /// The version listed: an eviction names it, so that a pod someone else
    /// began to remove since is not counted as this run's eviction.
    #[serde(default)]
    pub resource_version: String,
    #[serde(default)]
    pub owner_references: Vec<OwnerRef>,
    #[serde(default)]
    pub finalizers: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub(crate) struct OwnerRef {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub controller: Option<bool>,
}

impl Meta {
    /// The owner that manages this object, as `metav1.GetControllerOf` finds it.
    pub(crate) fn controller(&self) -> Option<&OwnerRef> {
        self.owner_references
            .iter()
            .find(|o| o.controller == Some(true))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct LeanNode {
    #[serde(default)]
    pub metadata: Meta,
    #[serde(default)]
    pub spec: NodeSpec,
    #[serde(default)]
    pub status: NodeStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeSpec {
    #[serde(default)]
    pub unschedulable: Option<bool>,
    #[serde(rename = "providerID", default)]
    pub provider_id: Option<String>,
    #[serde(default)]
    pub taints: Vec<Taint>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Taint {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub effect: String,
    #[serde(default, rename = "timeAdded")]
    pub time_added: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Toleration {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub effect: Option<String>,
}

impl Toleration {
    /// The scheduler's rule: an empty key with `Exists` tolerates every
    /// taint; an empty effect matches every effect.
    pub(crate) fn tolerates(&self, taint: &Taint) -> bool {
        let effect_ok = self
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == taint.effect);
        let key = self.key.as_deref().unwrap_or_default();
        match self.operator.as_deref().unwrap_or("Equal") {
            "Exists" => effect_ok && (key.is_empty() || key == taint.key),
            _ => {
                effect_ok
                    && key == taint.key
                    && self.value.as_deref().unwrap_or_default()
                        == taint.value.as_deref().unwrap_or_default()
            }
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeStatus {
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub node_info: NodeInfo,
    #[serde(default)]
    pub allocatable: BTreeMap<String, Quantity>,
    #[serde(default)]
    pub addresses: Vec<NodeAddress>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct NodeAddress {
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(default)]
    pub address: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeInfo {
    #[serde(default)]
    pub kubelet_version: String,
    #[serde(default)]
    pub os_image: String,
    #[serde(default)]
    pub kernel_version: String,
    #[serde(default)]
    pub container_runtime_version: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Condition {
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(default)]
    pub status: String,
    #[serde(default, rename = "lastTransitionTime")]
    pub last_transition_time: Option<DateTime<Utc>>,
}

impl LeanNode {
    pub(crate) fn name(&self) -> &str {
        &self.metadata.name
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    }

    pub(crate) fn is_cordoned(&self) -> bool {
        self.spec.unschedulable == Some(true)
    }

    /// Whether the scheduler could place `pod` here, as far as its node
    /// selector and this node's NoSchedule/NoExecute taints go (affinity
    /// and spread constraints are not weighed).
    pub(crate) fn accepts(&self, pod: &LeanPod) -> bool {
        let selected = pod
            .spec
            .node_selector
            .iter()
            .all(|(k, v)| self.metadata.labels.get(k) == Some(v));
        let tolerated = self
            .spec
            .taints
            .iter()
            .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            .all(|t| pod.spec.tolerations.iter().any(|tol| tol.tolerates(t)));
        selected && tolerated
    }

    /// `(label, value)` of the first pool label the node carries.
    pub(crate) fn pool(&self) -> Option<(&'static str, &str)> {
        POOL_LABELS
            .iter()
            .find_map(|l| self.metadata.labels.get(*l).map(|v| (*l, v.as_str())))
    }

    pub(crate) fn label(&self, key: &str) -> Option<&str> {
        self.metadata.labels.get(key).map(String::as_str)
    }

    /// Why this node's kubelet will not confirm a pod's deletion, when it
    /// is NotReady or unreachable: `node `n` is NotReady since 17:02 UTC (12m)`.
    pub(crate) fn unready_since(&self, now: DateTime<Utc>) -> Option<String> {
        if self.is_ready() {
            return None;
        }
        let ready = self.status.conditions.iter().find(|c| c.type_ == "Ready");
        let state = match ready.map(|c| c.status.as_str()) {
            Some("False") => "NotReady",
            _ => "unreachable (Ready is Unknown)",
        };
        Some(match ready.and_then(|c| c.last_transition_time) {
            Some(t) => format!(
                "node `{}` is {state} since {} ({})",
                self.name(),
                t.format("%H:%M UTC"),
                crate::age::human(now - t)
            ),
            None => format!("node `{}` is {state}", self.name()),
        })
    }

    /// The first address of a kind (`InternalIP`, `ExternalIP`).
    pub(crate) fn address(&self, kind: &str) -> Option<&str> {
        self.status
            .addresses
            .iter()
            .find(|a| a.type_ == kind)
            .map(|a| a.address.as_str())
    }

    pub(crate) fn status_text(&self) -> String {
        let ready = match self
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.status.as_str())
        {
            Some("True") => "Ready",
            Some("False") => "NotReady",
            _ => "Unknown",
        };
        if self.is_cordoned() {
            format!("{ready},SchedulingDisabled")
        } else {
            ready.to_string()
        }
    }

    /// Allocatable pods, CPU (millicores) and memory (bytes).
    pub(crate) fn allocatable(&self) -> Resources {
        let get = |k: &str| self.status.allocatable.get(k).map(|q| q.0.as_str());
        Resources {
            pods: get("pods").and_then(|v| v.parse().ok()).unwrap_or(110),
            cpu_milli: get("cpu").map(parse_cpu).unwrap_or(0),
            memory: get("memory").map(parse_memory).unwrap_or(0),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct LeanPod {
    #[serde(default)]
    pub metadata: Meta,
    #[serde(default)]
    pub spec: PodSpec,
    #[serde(default)]
    pub status: PodStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodSpec {
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default)]
    pub termination_grace_period_seconds: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Volume {
    #[serde(default)]
    pub empty_dir: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Container {
    #[serde(default)]
    pub resources: ContainerResources,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ContainerResources {
    #[serde(default)]
    pub requests: BTreeMap<String, Quantity>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct PodStatus {
    #[serde(default)]
    pub phase: String,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

impl LeanPod {
    pub(crate) fn key(&self) -> String {
        format!("{}/{}", self.metadata.namespace, self.metadata.name)
    }

    /// Why a removal of this pod can never be confirmed, once it is asked
    /// for (see `never_confirmed`).
    pub(crate) fn never_confirmed(&self, node: &LeanNode, now: DateTime<Utc>) -> Option<String> {
        never_confirmed(
            &self.metadata.finalizers,
            self.metadata.deletion_timestamp,
            node,
            now,
        )
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.status.phase == "Succeeded" || self.status.phase == "Failed"
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    }

    pub(crate) fn has_empty_dir(&self) -> bool {
        self.spec.volumes.iter().any(|v| v.empty_dir.is_some())
    }

    pub(crate) fn requests(&self) -> Resources {
        let mut r = Resources {
            pods: 1,
            ..Default::default()
        };
        for c in &self.spec.containers {
            if let Some(cpu) = c.resources.requests.get("cpu") {
                r.cpu_milli += parse_cpu(&cpu.0);
            }
            if let Some(mem) = c.resources.requests.get("memory") {
                r.memory += parse_memory(&mem.0);
            }
        }
        r
    }
}

/// Why a pod's removal can never be confirmed: a finalizer holds the
/// Terminating pod, or its node's kubelet is gone. `None` when the kubelet
/// will confirm it within its grace period.
pub(crate) fn never_confirmed(
    finalizers: &[String],
    deleted_at: Option<DateTime<Utc>>,
    node: &LeanNode,
    now: DateTime<Utc>,
) -> Option<String> {
    if let Some(deleted) = deleted_at
        && !finalizers.is_empty()
    {
        let names: Vec<String> = finalizers.iter().map(|f| format!("`{f}`")).collect();
        return Some(format!(
            "held by finalizer {} (Terminating for {}), which the controller that added it has not removed",
            names.join(", "),
            crate::age::human(now - deleted)
        ));
    }
    node.unready_since(now)
        .map(|n| format!("{n}, so no kubelet will confirm the deletion"))
}

/// A resource quantity. The API always sends strings; seeds and older
/// tools sometimes hold bare numbers, so both are accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Quantity(pub String);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Quantity(match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        }))
    }
}

/// A pod count with CPU and memory, for the room estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Resources {
    pub pods: i64,
    /// CPU in millicores.
    pub cpu_milli: i64,
    /// Memory in bytes.
    pub memory: i64,
}

impl Resources {
    pub(crate) fn add(&mut self, other: Resources) {
        self.pods += other.pods;
        self.cpu_milli += other.cpu_milli;
        self.memory += other.memory;
    }
}

/// `250m` → 250, `2` → 2000, `0.5` → 500.
pub(crate) fn parse_cpu(q: &str) -> i64 {
    if let Some(m) = q.strip_suffix('m') {
        return m.parse().unwrap_or(0);
    }
    q.parse::<f64>().map(|c| (c * 1000.0) as i64).unwrap_or(0)
}

/// `128Mi`, `1G`, `1.5Gi`, `1000` → bytes.
pub(crate) fn parse_memory(q: &str) -> i64 {
    const UNITS: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("k", 1e3),
        ("K", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    for (suffix, factor) in UNITS {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<f64>().map(|n| (n * factor) as i64).unwrap_or(0);
        }
    }
    q.parse::<f64>().map(|n| n as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_cpu("250m"), 250);
        assert_eq!(parse_cpu("2"), 2000);
        assert_eq!(parse_cpu("0.5"), 500);
        assert_eq!(parse_memory("128Mi"), 128 * 1024 * 1024);
        assert_eq!(parse_memory("1G"), 1_000_000_000);
        assert_eq!(parse_memory("1000"), 1000);
    }

    #[test]
    fn pool_prefers_the_cloud_label_and_falls_back() {
        let node: LeanNode = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n", "labels": {
                "node.kubernetes.io/pool": "generic",
                "eks.amazonaws.com/nodegroup": "ng-1"
            }},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        assert_eq!(node.pool(), Some(("eks.amazonaws.com/nodegroup", "ng-1")));
        assert_eq!(node.status_text(), "Ready,SchedulingDisabled");
    }
}
