//! Builders for the objects scenarios seed a cluster with. Each renders one
//! YAML document (JSON, which is YAML) ending in `---`, so a seed is their
//! concatenation; the simulator loads it as it is, and the real-cluster
//! harness creates its objects through the API server.
//!
//! ```
//! use oncall_testkit::fixtures::*;
//! let seed = namespace("app")
//!     + &Node::new("n1").pool("pool-a").yaml()
//!     + &Workload::deployment("app", "web").replicas(2).on_node("n1").yaml()
//!     + &pdb("app", "web-pdb", "web", 2);
//! assert!(seed.contains("web-pdb"));
//! ```

use serde_json::{Value, json};

/// One seed document.
fn document(value: &Value) -> String {
    format!("{value}\n---\n")
}

/// Sets `value` at a JSON pointer, making the objects on the way.
fn set(target: &mut Value, pointer: &str, value: Value) {
    let mut at = target;
    for key in pointer.trim_start_matches('/').split('/') {
        let key = key.replace("~1", "/").replace("~0", "~");
        at = match (at, key.parse::<usize>()) {
            (Value::Array(items), Ok(index)) => &mut items[index],
            (at, _) => {
                if !at.is_object() {
                    *at = json!({});
                }
                at.as_object_mut()
                    .unwrap()
                    .entry(key)
                    .or_insert(Value::Null)
            }
        };
    }
    *at = value;
}

/// Appends `item` to the array at `pointer`, making it if needed.
fn push(target: &mut Value, pointer: &str, item: Value) {
    match target.pointer_mut(pointer).and_then(Value::as_array_mut) {
        Some(items) => items.push(item),
        None => set(target, pointer, json!([item])),
    }
}

/// A Namespace.
pub fn namespace(name: &str) -> String {
    document(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
}

/// A policy/v1 PodDisruptionBudget over the pods labelled `app: <app>`
/// that keeps `min_available` of them.
pub fn pdb(ns: &str, name: &str, app: &str, min_available: u32) -> String {
    document(&json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": app}}},
    }))
}

/// A Ready node with 4 CPUs, 16Gi and room for 110 pods, labelled with its
/// hostname.
#[derive(Clone, Debug)]
#[must_use]
pub struct Node(Value);

impl Node {
    pub fn new(name: &str) -> Node {
        Node(json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {},
            "status": {
                "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            },
        }))
    }

    pub fn label(mut self, key: &str, value: &str) -> Node {
        set(
            &mut self.0,
            &format!("/metadata/labels/{}", escape(key)),
            json!(value),
        );
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Node {
        set(
            &mut self.0,
            &format!("/metadata/annotations/{}", escape(key)),
            json!(value),
        );
        self
    }

    /// The GKE node pool label.
    pub fn pool(self, pool: &str) -> Node {
        self.label("cloud.google.com/gke-nodepool", pool)
    }

    pub fn zone(self, zone: &str) -> Node {
        self.label("topology.kubernetes.io/zone", zone)
    }

    pub fn instance_type(self, kind: &str) -> Node {
        self.label("node.kubernetes.io/instance-type", kind)
    }

    /// Allocatable and capacity CPU.
    pub fn cpu(mut self, cpu: &str) -> Node {
        set(&mut self.0, "/status/allocatable/cpu", json!(cpu));
        set(&mut self.0, "/status/capacity/cpu", json!(cpu));
        self
    }

    pub fn memory(mut self, memory: &str) -> Node {
        set(&mut self.0, "/status/allocatable/memory", json!(memory));
        set(&mut self.0, "/status/capacity/memory", json!(memory));
        self
    }

    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> Node {
        push(
            &mut self.0,
            "/spec/taints",
            json!({"key": key, "value": value, "effect": effect}),
        );
        self
    }

    pub fn provider_id(mut self, id: &str) -> Node {
        set(&mut self.0, "/spec/providerID", json!(id));
        self
    }

    pub fn kubelet_version(mut self, version: &str) -> Node {
        set(
            &mut self.0,
            "/status/nodeInfo/kubeletVersion",
            json!(version),
        );
        self
    }

    /// The Ready condition in full (`status` "True", "False" or "Unknown").
    pub fn ready_condition(mut self, status: &str, reason: &str, message: &str) -> Node {
        set(
            &mut self.0,
            "/status/conditions",
            json!([{"type": "Ready", "status": status, "reason": reason, "message": message}]),
        );
        self
    }

    /// Any other field, by JSON pointer (`/status/nodeInfo`, ...).
    pub fn set(mut self, pointer: &str, value: Value) -> Node {
        set(&mut self.0, pointer, value);
        self
    }

    pub fn value(&self) -> &Value {
        &self.0
    }

    pub fn yaml(&self) -> String {
        document(&self.0)
    }
}

/// A workload with a pod template: a Deployment, ReplicaSet, StatefulSet or
/// DaemonSet of pods labelled `app: <name>`, one container `c` running
/// `nginx` and asking for 100m CPU.
#[derive(Clone, Debug)]
#[must_use]
pub struct Workload(Value);

impl Workload {
    fn new(api_version: &str, kind: &str, ns: &str, name: &str) -> Workload {
        let mut spec = json!({
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "c",
                    "image": "nginx",
                    "resources": {"requests": {"cpu": "100m"}},
                }]},
            },
        });
        if kind != "DaemonSet" {
            spec["replicas"] = json!(1);
        }
        if kind == "StatefulSet" {
            spec["serviceName"] = json!(name);
        }
        Workload(json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        }))
    }

    pub fn deployment(ns: &str, name: &str) -> Workload {
        Workload::new("apps/v1", "Deployment", ns, name)
    }

    pub fn replica_set(ns: &str, name: &str) -> Workload {
        Workload::new("apps/v1", "ReplicaSet", ns, name)
    }

    pub fn stateful_set(ns: &str, name: &str) -> Workload {
        Workload::new("apps/v1", "StatefulSet", ns, name)
    }

    pub fn daemon_set(ns: &str, name: &str) -> Workload {
        Workload::new("apps/v1", "DaemonSet", ns, name)
    }

    pub fn replicas(mut self, replicas: u32) -> Workload {
        set(&mut self.0, "/spec/replicas", json!(replicas));
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Workload {
        set(
            &mut self.0,
            &format!("/metadata/labels/{}", escape(key)),
            json!(value),
        );
        self
    }

    /// Pins the pods to the node with this hostname.
    pub fn on_node(self, node: &str) -> Workload {
        self.node_selector("kubernetes.io/hostname", node)
    }

    pub fn node_selector(mut self, key: &str, value: &str) -> Workload {
        set(
            &mut self.0,
            &format!("/spec/template/spec/nodeSelector/{}", escape(key)),
            json!(value),
        );
        self
    }

    /// A toleration of the pods (`{key, operator, value, effect}`).
    pub fn toleration(mut self, toleration: Value) -> Workload {
        push(&mut self.0, "/spec/template/spec/tolerations", toleration);
        self
    }

    /// An annotation on the pods (their template), e.g. a simulated fault.
    pub fn pod_annotation(mut self, key: &str, value: &str) -> Workload {
        set(
            &mut self.0,
            &format!("/spec/template/metadata/annotations/{}", escape(key)),
            json!(value),
        );
        self
    }

    pub fn grace_period(mut self, seconds: u32) -> Workload {
        set(
            &mut self.0,
            "/spec/template/spec/terminationGracePeriodSeconds",
            json!(seconds),
        );
        self
    }

    /// The first container's name and image.
    pub fn container(mut self, name: &str, image: &str) -> Workload {
        set(
            &mut self.0,
            "/spec/template/spec/containers/0/name",
            json!(name),
        );
        self.image(image)
    }

    /// The first container's image.
    pub fn image(mut self, image: &str) -> Workload {
        set(
            &mut self.0,
            "/spec/template/spec/containers/0/image",
            json!(image),
        );
        self
    }

    /// Any other field, by JSON pointer (`/spec/template/spec/volumes`, ...).
    pub fn set(mut self, pointer: &str, value: Value) -> Workload {
        set(&mut self.0, pointer, value);
        self
    }

    pub fn value(&self) -> &Value {
        &self.0
    }

    pub fn yaml(&self) -> String {
        document(&self.0)
    }
}

/// A JSON pointer's escape of a key with `/` or `~` in it.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pointer_through_an_array_sets_its_element() {
        let w = Workload::deployment("app", "web").image("nginx:1.27");
        assert_eq!(
            w.value()["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1.27"
        );
        assert_eq!(
            w.value()["spec"]["template"]["spec"]["containers"][0]["name"],
            "c"
        );
    }

    #[test]
    fn keys_with_slashes_stay_one_key() {
        let n = Node::new("n1").pool("pool-a");
        assert_eq!(
            n.value()["metadata"]["labels"]["cloud.google.com/gke-nodepool"],
            "pool-a"
        );
    }
}
