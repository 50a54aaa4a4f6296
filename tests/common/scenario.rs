//! Scenarios that run on both backends: the simulator, and the real control
//! plane (kube-apiserver, etcd, controllers and kwok kubelets from `testbed/`).
//!
//! A real cluster is shared by every test running at once, so a scenario
//! lives in its own [`Scope`]: namespaces and nodes named after the test,
//! nodes labelled with the scope and tainted so that only the scope's pods
//! (which tolerate the taint) land on them. The simulator gets the very same
//! names, so both runs assert the same output.

use std::sync::atomic::{AtomicU32, Ordering};

use oncall_testkit::fixtures::{Node, Pod, Workload};
use serde_json::json;

/// Which cluster a scenario runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sim,
    Real,
}

/// The label (on nodes) and taint key that isolate a scenario.
pub const SCOPE_KEY: &str = "oncall.dev/test-scope";

/// Generates `sim::NAME` and `real::NAME` tests from `fn NAME(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sim {
            $( #[test] fn $name() { super::$name($crate::common::Backend::Sim) } )*
        }
        mod real {
            $( #[test] fn $name() { super::$name($crate::common::Backend::Real) } )*
        }
    };
}

/// The names of one scenario.
pub struct Scope {
    pub id: String,
}

impl Scope {
    /// A scope for one test: `prefix` plus a suffix unique to this run, so
    /// a rerun never meets the leftovers of the last one.
    pub fn new(prefix: &str) -> Scope {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let salt = (nanos ^ (std::process::id() << 8) ^ (n << 24)) % 46_656;
        Scope {
            id: format!("{prefix}-{}", base36(salt)),
        }
    }

    /// A node's name in this scope.
    pub fn node(&self, name: &str) -> String {
        format!("{}-{name}", self.id)
    }

    /// A namespace's name in this scope.
    pub fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.id)
    }

    /// `-l` selecting this scope's nodes.
    pub fn node_selector(&self) -> String {
        format!("{SCOPE_KEY}={}", self.id)
    }

    /// A Namespace document.
    pub fn namespace(&self, name: &str) -> String {
        oncall_testkit::fixtures::namespace(&self.ns(name))
    }

    /// A Ready node of this scope: labelled with the scope and tainted so
    /// that only the scope's pods land on it. On the real control plane a
    /// kwok kubelet registers it (the Ready condition comes from kwok, not
    /// the seed; the seed's address and node info are the ones kwok reports).
    pub fn node_fixture(&self, name: &str) -> Node {
        Node::new(&self.node(name))
            .annotation("kwok.x-k8s.io/node", "fake")
            .label("kubernetes.io/os", "linux")
            .label(SCOPE_KEY, &self.id)
            .taint(SCOPE_KEY, &self.id, "NoSchedule")
            .set(
                "/status/addresses",
                json!([{"type": "InternalIP", "address": "10.0.0.1"}]),
            )
            .set(
                "/status/nodeInfo",
                json!({
                    "kubeletVersion": "v1.34.4",
                    "osImage": "kwok",
                    "kernelVersion": "6.1.0",
                    "containerRuntimeVersion": "containerd://1.7.0",
                }),
            )
    }

    /// [`Scope::node_fixture`] with `cpu` allocatable and extra labels.
    pub fn node_yaml(&self, name: &str, cpu: &str, labels: &[(&str, &str)]) -> String {
        labels
            .iter()
            .fold(self.node_fixture(name).cpu(cpu), |n, (k, v)| n.label(k, v))
            .yaml()
    }

    /// A Deployment in the scope's `app` namespace whose pods tolerate the
    /// scope's nodes.
    pub fn deployment(&self, name: &str) -> Workload {
        Workload::deployment(&self.ns("app"), name).toleration(self.toleration())
    }

    /// A bare pod in the scope's namespace `ns`, bound to the scope's node
    /// `node` and tolerating it.
    pub fn pod(&self, ns: &str, name: &str, node: &str) -> Pod {
        Pod::new(&self.ns(ns), name)
            .node_name(&self.node(node))
            .toleration(self.toleration())
    }

    /// The toleration every pod of the scope carries.
    pub fn toleration(&self) -> serde_json::Value {
        json!({"key": SCOPE_KEY, "operator": "Equal", "value": self.id, "effect": "NoSchedule"})
    }

    /// The same toleration as a YAML flow list (for `tolerations: {}`).
    pub fn tolerations(&self) -> String {
        format!("[{}]", self.toleration())
    }
}

fn base36(mut n: u32) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    for _ in 0..3 {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap()
}
