//! Scenarios that run on both backends: the simulator, and the real control
//! plane (kube-apiserver, etcd, controllers and kwok kubelets from `testbed/`).
//!
//! A real cluster is shared by every test running at once, so a scenario
//! lives in its own [`Scope`]: namespaces and nodes named after the test,
//! nodes labelled with the scope and tainted so that only the scope's pods
//! (which tolerate the taint) land on them. The simulator gets the very same
//! names, so both runs assert the same output.

use std::sync::atomic::{AtomicU32, Ordering};

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
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {}}}\n---\n",
            self.ns(name)
        )
    }

    /// A Ready node of this scope with `cpu` allocatable and extra labels
    /// (`key: value` pairs). On the real control plane a kwok kubelet
    /// registers it (the Ready condition comes from kwok, not the seed; the
    /// seed's address and node info are the ones kwok reports).
    pub fn node_yaml(&self, name: &str, cpu: &str, labels: &[(&str, &str)]) -> String {
        let full = self.node(name);
        let mut extra = String::new();
        for (k, v) in labels {
            extra += &format!("    {k}: {v}\n");
        }
        format!(
            r#"apiVersion: v1
kind: Node
metadata:
  name: {full}
  annotations: {{kwok.x-k8s.io/node: fake}}
  labels:
    kubernetes.io/hostname: {full}
    kubernetes.io/os: linux
    {SCOPE_KEY}: {id}
{extra}spec:
  taints: [{{key: {SCOPE_KEY}, value: {id}, effect: NoSchedule}}]
status:
  allocatable: {{cpu: "{cpu}", memory: 16Gi, pods: "110"}}
  capacity: {{cpu: "{cpu}", memory: 16Gi, pods: "110"}}
  conditions: [{{type: Ready, status: "True", reason: KubeletReady}}]
  addresses: [{{type: InternalIP, address: 10.0.0.1}}]
  nodeInfo: {{kubeletVersion: v1.34.4, osImage: kwok, kernelVersion: 6.1.0, containerRuntimeVersion: "containerd://1.7.0"}}
---
"#,
            id = self.id
        )
    }

    /// The toleration every pod of the scope carries, as a YAML flow list
    /// (for `tolerations: {}`).
    pub fn tolerations(&self) -> String {
        format!(
            "[{{key: {SCOPE_KEY}, operator: Equal, value: {}, effect: NoSchedule}}]",
            self.id
        )
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
