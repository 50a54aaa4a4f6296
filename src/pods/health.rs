//! Node health as far as stuck pods are concerned: is the kubelet there?

use std::collections::HashMap;

use super::lean::{Node, Time};

const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodeHealth {
    /// Ready and reachable: its kubelet reports and acts.
    pub healthy: bool,
    /// `NotReady`, `Unknown` (unreachable) or `Ready`, as `kubectl get nodes` words it.
    pub state: &'static str,
    /// The Ready condition's reason and message, when unhealthy.
    pub detail: String,
    /// Since when it has been in that state.
    pub since: Option<Time>,
}

/// Node health by node name. `known` is false when the nodes could not be
/// listed (no permission): then no pod is judged by its node.
#[derive(Debug, Clone, Default)]
pub(crate) struct Nodes {
    pub known: bool,
    by_name: HashMap<String, NodeHealth>,
}

pub(crate) enum Lookup<'a> {
    /// Nothing is known about nodes.
    Unknown,
    Found(&'a NodeHealth),
    /// The pod is bound to a node that does not exist any more.
    Gone,
}

impl Nodes {
    pub(crate) fn unknown() -> Self {
        Nodes::default()
    }

    #[cfg(test)]
    pub(crate) fn from_nodes(nodes: impl IntoIterator<Item = Node>) -> Self {
        let mut n = Nodes {
            known: true,
            by_name: HashMap::new(),
        };
        for node in nodes {
            n.add(&node);
        }
        n
    }

    pub(crate) fn add(&mut self, node: &Node) {
        self.known = true;
        self.by_name
            .insert(node.metadata.name.clone(), NodeHealth::of(node));
    }

    pub(crate) fn clear(&mut self) {
        self.by_name.clear();
    }

    /// The list succeeded: a node missing from it does not exist.
    pub(crate) fn mark_known(&mut self) {
        self.known = true;
    }

    pub(crate) fn lookup(&self, name: &str) -> Lookup<'_> {
        if !self.known {
            return Lookup::Unknown;
        }
        match self.by_name.get(name) {
            Some(h) => Lookup::Found(h),
            None => Lookup::Gone,
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&NodeHealth> {
        self.by_name.get(name)
    }
}

impl NodeHealth {
    pub(crate) fn of(node: &Node) -> NodeHealth {
        let ready = node.status.conditions.iter().find(|c| c.type_ == "Ready");
        let unreachable = node.spec.taints.iter().any(|t| t.key == UNREACHABLE_TAINT);
        let detail = ready
            .map(|c| {
                let mut d = c.reason.clone().unwrap_or_default();
                if let Some(m) = c.message.as_deref().filter(|m| !m.is_empty()) {
                    if !d.is_empty() {
                        d.push_str(": ");
                    }
                    d.push_str(m);
                }
                d
            })
            .unwrap_or_default();
        let since = ready.and_then(|c| c.last_transition_time);
        match ready.map(|c| c.status.as_str()) {
            // A node that has not reported a Ready condition yet is new, not broken.
            Some("True") | None if !unreachable => NodeHealth {
                healthy: true,
                state: "Ready",
                detail: String::new(),
                since,
            },
            Some("False") => NodeHealth {
                healthy: false,
                state: "NotReady",
                detail,
                since,
            },
            _ => NodeHealth {
                healthy: false,
                state: "Unknown",
                detail: if detail.is_empty() {
                    "the node is unreachable".into()
                } else {
                    detail
                },
                since,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(v: serde_json::Value) -> Node {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn ready_not_ready_and_unreachable() {
        let ok = node(serde_json::json!({"metadata": {"name": "a"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}));
        assert!(NodeHealth::of(&ok).healthy);
        let down = node(serde_json::json!({"metadata": {"name": "b"},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown",
                "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status.",
                "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}));
        let h = NodeHealth::of(&down);
        assert!(!h.healthy);
        assert_eq!(h.state, "Unknown");
        assert_eq!(
            h.detail,
            "NodeStatusUnknown: Kubelet stopped posting node status."
        );
        let tainted = node(serde_json::json!({"metadata": {"name": "c"},
            "spec": {"taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}));
        assert!(!NodeHealth::of(&tainted).healthy);
        let nodes = Nodes::from_nodes([ok]);
        assert!(matches!(nodes.lookup("a"), Lookup::Found(_)));
        assert!(matches!(nodes.lookup("zz"), Lookup::Gone));
        assert!(matches!(Nodes::unknown().lookup("a"), Lookup::Unknown));
    }
}
