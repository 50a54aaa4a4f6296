//! Builders for the objects scenarios seed a cluster with. Each renders one
//! YAML document (JSON, which is YAML) ending in `---`, so a seed is their
//! concatenation; the simulator loads it as it is, and the real-cluster
//! harness creates its objects through the API server. `.value()` is the
//! object itself, for a test that applies it mid-run.
//!
//! A builder starts from an object that works as it is and says what a
//! test changes, so a fixture reads as what matters to its test:
//!
//! ```
//! use oncall_testkit::fixtures::*;
//! let seed = namespace("app")
//!     + &Node::new("n1").pool("pool-a").yaml()
//!     + &Workload::deployment("app", "web").replicas(2).on_node("n1").yaml()
//!     + &pdb("app", "web-pdb", "web", 2);
//! assert!(seed.contains("web-pdb"));
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// One seed document.
fn document(value: &Value) -> String {
    format!("{value}\n---\n")
}

/// Sets `value` at a JSON pointer, making the objects on the way.
pub(crate) fn set(target: &mut Value, pointer: &str, value: Value) {
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

/// A JSON pointer's escape of a key with `/` or `~` in it.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// What every builder has: metadata, any other field by JSON pointer, and
/// the object as a value or a seed document.
macro_rules! object_methods {
    ($builder:ident) => {
        impl $builder {
            pub fn label(mut self, key: &str, value: &str) -> $builder {
                set(
                    &mut self.0,
                    &format!("/metadata/labels/{}", escape(key)),
                    json!(value),
                );
                self
            }

            pub fn annotation(mut self, key: &str, value: &str) -> $builder {
                set(
                    &mut self.0,
                    &format!("/metadata/annotations/{}", escape(key)),
                    json!(value),
                );
                self
            }

            /// Any other field, by JSON pointer (`/status/nodeInfo`, ...).
            pub fn set(mut self, pointer: &str, value: Value) -> $builder {
                set(&mut self.0, pointer, value);
                self
            }

            pub fn value(&self) -> &Value {
                &self.0
            }

            pub fn into_value(self) -> Value {
                self.0
            }

            pub fn yaml(&self) -> String {
                document(&self.0)
            }
        }
    };
}

/// The annotation that makes the simulator's kubelet play a fault
/// (`crash-loop exit-code=1`, `image-pull`, ...; see sim/README.md).
pub const FAULT_ANNOTATION: &str = "sim.oncall.dev/fault";

/// A Namespace.
pub fn namespace(name: &str) -> String {
    document(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
}

/// A policy/v1 PodDisruptionBudget over the pods labelled `app: <app>`
/// that keeps `min_available` of them.
pub fn pdb(ns: &str, name: &str, app: &str, min_available: u32) -> String {
    budget(ns, name, app, json!({"minAvailable": min_available}))
}

/// A PodDisruptionBudget over the pods labelled `app: <app>` that lets
/// `max_unavailable` of them go at once.
pub fn pdb_max_unavailable(ns: &str, name: &str, app: &str, max_unavailable: u32) -> String {
    budget(ns, name, app, json!({"maxUnavailable": max_unavailable}))
}

fn budget(ns: &str, name: &str, app: &str, mut spec: Value) -> String {
    spec["selector"] = json!({"matchLabels": {"app": app}});
    document(&json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }))
}

/// A ConfigMap.
#[derive(Clone, Debug)]
#[must_use]
pub struct ConfigMap(Value);

object_methods!(ConfigMap);

impl ConfigMap {
    pub fn new(ns: &str, name: &str) -> ConfigMap {
        ConfigMap(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns},
            "data": {},
        }))
    }

    /// The simulator's image faults for pods of namespace `ns`: one rule a
    /// line, `IMAGE-PATTERN FAULT` (`shop/web:crash crash-loop exit-code=1`).
    pub fn image_faults(ns: &str, rules: &[&str]) -> ConfigMap {
        let text: String = rules.iter().map(|r| format!("{r}\n")).collect();
        ConfigMap::new(ns, "sim-image-faults").data("rules", &text)
    }

    pub fn data(mut self, key: &str, value: &str) -> ConfigMap {
        set(&mut self.0, &format!("/data/{}", escape(key)), json!(value));
        self
    }
}

/// An Opaque Secret.
#[derive(Clone, Debug)]
#[must_use]
pub struct Secret(Value);

object_methods!(Secret);

impl Secret {
    pub fn new(ns: &str, name: &str) -> Secret {
        Secret(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "type": "Opaque",
            "data": {},
        }))
    }

    /// A key and its plain value (stored base64-encoded, as the API wants).
    pub fn data(mut self, key: &str, plain: &str) -> Secret {
        set(
            &mut self.0,
            &format!("/data/{}", escape(key)),
            json!(STANDARD.encode(plain)),
        );
        self
    }
}

/// A Ready node with 4 CPUs, 16Gi and room for 110 pods, labelled with its
/// hostname.
#[derive(Clone, Debug)]
#[must_use]
pub struct Node(Value);

object_methods!(Node);

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

    /// A node whose kubelet stopped posting status (Ready Unknown), as the
    /// node lifecycle controller marks it.
    pub fn lost(self) -> Node {
        self.ready_condition(
            "Unknown",
            "NodeStatusUnknown",
            "Kubelet stopped posting node status.",
        )
    }

    /// When the Ready condition last changed (RFC 3339).
    pub fn ready_since(mut self, time: &str) -> Node {
        set(
            &mut self.0,
            "/status/conditions/0/lastTransitionTime",
            json!(time),
        );
        self
    }

    /// A fault the simulator's kubelet plays on the node (`sandbox-stuck`).
    pub fn fault(self, spec: &str) -> Node {
        self.annotation(FAULT_ANNOTATION, spec)
    }
}

/// A workload with a pod template: a Deployment, ReplicaSet, StatefulSet,
/// DaemonSet, Job or CronJob of pods labelled `app: <name>`, one container
/// `c` running `nginx` and asking for 100m CPU.
#[derive(Clone, Debug)]
#[must_use]
pub struct Workload(Value);

object_methods!(Workload);

impl Workload {
    fn template(name: &str) -> Value {
        json!({
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{
                "name": "c",
                "image": "nginx",
                "resources": {"requests": {"cpu": "100m"}},
            }]},
        })
    }

    fn new(api_version: &str, kind: &str, ns: &str, name: &str) -> Workload {
        let mut spec = json!({
            "selector": {"matchLabels": {"app": name}},
            "template": Workload::template(name),
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

    /// A Job whose pods run once (`restartPolicy: Never`).
    pub fn job(ns: &str, name: &str) -> Workload {
        let mut template = Workload::template(name);
        template["spec"]["restartPolicy"] = json!("Never");
        Workload(json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"template": template},
        }))
    }

    /// A CronJob on `schedule` whose jobs' pods run once.
    pub fn cron_job(ns: &str, name: &str, schedule: &str) -> Workload {
        let job = Workload::job(ns, name).0;
        Workload(json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"schedule": schedule, "jobTemplate": {"spec": job["spec"]}},
        }))
    }

    /// Where the pod template is: a CronJob keeps it in its job template.
    fn pod(&self) -> &'static str {
        if self.0["kind"] == "CronJob" {
            "/spec/jobTemplate/spec/template"
        } else {
            "/spec/template"
        }
    }

    fn set_in_pod(mut self, pointer: &str, value: Value) -> Workload {
        let at = format!("{}{pointer}", self.pod());
        set(&mut self.0, &at, value);
        self
    }

    fn push_in_pod(mut self, pointer: &str, item: Value) -> Workload {
        let at = format!("{}{pointer}", self.pod());
        push(&mut self.0, &at, item);
        self
    }

    pub fn replicas(mut self, replicas: u32) -> Workload {
        set(&mut self.0, "/spec/replicas", json!(replicas));
        self
    }

    /// Selects and labels its pods `key: <name>` instead of `app: <name>`
    /// (`app.kubernetes.io/name`, as Helm charts do).
    pub fn selected_by(mut self, key: &str) -> Workload {
        let labels = json!({ key: self.0["metadata"]["name"] });
        if self.0["spec"].get("selector").is_some() {
            set(&mut self.0, "/spec/selector/matchLabels", labels.clone());
        }
        self.set_in_pod("/metadata/labels", labels)
    }

    /// A suspended CronJob: its schedule starts no jobs.
    pub fn suspended(mut self) -> Workload {
        set(&mut self.0, "/spec/suspend", json!(true));
        self
    }

    /// A paused Deployment: changes to its template roll nothing out.
    pub fn paused(mut self) -> Workload {
        set(&mut self.0, "/spec/paused", json!(true));
        self
    }

    /// How new pods replace old ones: `RollingUpdate` or `Recreate` for a
    /// Deployment, `RollingUpdate` or `OnDelete` for the others.
    pub fn strategy(mut self, kind: &str) -> Workload {
        let pointer = if self.0["kind"] == "Deployment" {
            "/spec/strategy/type"
        } else {
            "/spec/updateStrategy/type"
        };
        set(&mut self.0, pointer, json!(kind));
        self
    }

    pub fn progress_deadline(mut self, seconds: u32) -> Workload {
        set(&mut self.0, "/spec/progressDeadlineSeconds", json!(seconds));
        self
    }

    /// Pins the pods to the node with this hostname.
    pub fn on_node(self, node: &str) -> Workload {
        self.node_selector("kubernetes.io/hostname", node)
    }

    pub fn node_selector(self, key: &str, value: &str) -> Workload {
        self.set_in_pod(&format!("/spec/nodeSelector/{}", escape(key)), json!(value))
    }

    /// A toleration of the pods (`{key, operator, value, effect}`).
    pub fn toleration(self, toleration: Value) -> Workload {
        self.push_in_pod("/spec/tolerations", toleration)
    }

    /// A label on the pods (their template), beside `app`.
    pub fn pod_label(self, key: &str, value: &str) -> Workload {
        self.set_in_pod(&format!("/metadata/labels/{}", escape(key)), json!(value))
    }

    /// An annotation on the pods (their template), e.g. a simulated fault.
    pub fn pod_annotation(self, key: &str, value: &str) -> Workload {
        self.set_in_pod(
            &format!("/metadata/annotations/{}", escape(key)),
            json!(value),
        )
    }

    /// A fault the simulator's kubelet plays in every pod (see
    /// [`FAULT_ANNOTATION`]).
    pub fn fault(self, spec: &str) -> Workload {
        self.pod_annotation(FAULT_ANNOTATION, spec)
    }

    pub fn grace_period(self, seconds: u32) -> Workload {
        self.set_in_pod("/spec/terminationGracePeriodSeconds", json!(seconds))
    }

    /// The first container's name and image.
    pub fn container(self, name: &str, image: &str) -> Workload {
        self.set_in_pod("/spec/containers/0/name", json!(name))
            .image(image)
    }

    /// The first container's image.
    pub fn image(self, image: &str) -> Workload {
        self.set_in_pod("/spec/containers/0/image", json!(image))
    }

    /// Another field of the first container (`env`, `envFrom`, ...).
    pub fn container_field(self, field: &str, value: Value) -> Workload {
        self.set_in_pod(&format!("/spec/containers/0/{field}"), value)
    }

    /// Another field of the pod spec (`imagePullSecrets`, `volumes`, ...).
    pub fn pod_field(self, field: &str, value: Value) -> Workload {
        self.set_in_pod(&format!("/spec/{field}"), value)
    }

    /// An init container running `busybox`, after any already there.
    pub fn init_container(self, name: &str) -> Workload {
        self.push_in_pod(
            "/spec/initContainers",
            json!({"name": name, "image": "busybox"}),
        )
    }

    /// A volume of the pods (`{name, secret: {...}}`, ...).
    pub fn volume(self, volume: Value) -> Workload {
        self.push_in_pod("/spec/volumes", volume)
    }
}

/// A bare pod (no owner) in the `default` scheduler's hands, with one
/// container `app` running `busybox`. Its status is what the test seeds:
/// on a node with no kubelet (a lost one, or another scheduler's pod) it
/// stays as given.
#[derive(Clone, Debug)]
#[must_use]
pub struct Pod(Value);

object_methods!(Pod);

impl Pod {
    pub fn new(ns: &str, name: &str) -> Pod {
        Pod(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [{"name": "app", "image": "busybox"}]},
        }))
    }

    /// Bound to `node` already (no scheduler involved).
    pub fn node_name(mut self, node: &str) -> Pod {
        set(&mut self.0, "/spec/nodeName", json!(node));
        self
    }

    /// Its containers by name, all running `busybox`.
    pub fn containers(mut self, names: &[&str]) -> Pod {
        set(&mut self.0, "/spec/containers", containers(names));
        self
    }

    /// Its init containers by name, all running `busybox`.
    pub fn init_containers(mut self, names: &[&str]) -> Pod {
        set(&mut self.0, "/spec/initContainers", containers(names));
        self
    }

    /// A finalizer no controller removes: deleted, the pod stays
    /// Terminating until the test lets it go.
    pub fn finalizer(mut self, name: &str) -> Pod {
        push(&mut self.0, "/metadata/finalizers", json!(name));
        self
    }

    pub fn grace_period(mut self, seconds: u32) -> Pod {
        set(
            &mut self.0,
            "/spec/terminationGracePeriodSeconds",
            json!(seconds),
        );
        self
    }

    /// A toleration (`{key, operator, value, effect}`).
    pub fn toleration(mut self, toleration: Value) -> Pod {
        push(&mut self.0, "/spec/tolerations", toleration);
        self
    }

    /// A fault the simulator's kubelet plays (see [`FAULT_ANNOTATION`]).
    pub fn fault(self, spec: &str) -> Pod {
        self.annotation(FAULT_ANNOTATION, spec)
    }

    /// Left to another scheduler, so the simulator's leaves it alone.
    pub fn scheduler(mut self, name: &str) -> Pod {
        set(&mut self.0, "/spec/schedulerName", json!(name));
        self
    }

    pub fn created(mut self, time: &str) -> Pod {
        set(&mut self.0, "/metadata/creationTimestamp", json!(time));
        self
    }

    pub fn phase(mut self, phase: &str) -> Pod {
        set(&mut self.0, "/status/phase", json!(phase));
        self
    }

    /// The pod's own status reason and message (`Evicted`, `NodeLost`).
    pub fn reason(mut self, reason: &str, message: &str) -> Pod {
        set(&mut self.0, "/status/reason", json!(reason));
        if !message.is_empty() {
            set(&mut self.0, "/status/message", json!(message));
        }
        self
    }

    /// A status condition (`{type, status, reason, ...}`).
    pub fn condition(mut self, condition: Value) -> Pod {
        push(&mut self.0, "/status/conditions", condition);
        self
    }

    /// A container's status (`{name, ready, restartCount, state}`), after
    /// any already there.
    pub fn container_status(mut self, status: Value) -> Pod {
        push(&mut self.0, "/status/containerStatuses", status);
        self
    }

    pub fn init_container_status(mut self, status: Value) -> Pod {
        push(&mut self.0, "/status/initContainerStatuses", status);
        self
    }
}

fn containers(names: &[&str]) -> Value {
    names
        .iter()
        .map(|n| json!({"name": n, "image": "busybox"}))
        .collect()
}

/// A Service on port 80 selecting the pods labelled `app: <name>`.
#[derive(Clone, Debug)]
#[must_use]
pub struct Service(Value);

object_methods!(Service);

impl Service {
    pub fn new(ns: &str, name: &str) -> Service {
        Service(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"type": "ClusterIP", "selector": {"app": name}, "ports": [{"port": 80}]},
        }))
    }

    /// A LoadBalancer the cloud gave `ip`.
    pub fn load_balancer(mut self, ip: &str) -> Service {
        set(&mut self.0, "/spec/type", json!("LoadBalancer"));
        set(
            &mut self.0,
            "/status/loadBalancer/ingress",
            json!([{"ip": ip}]),
        );
        self
    }
}

/// An Ingress for one host.
#[derive(Clone, Debug)]
#[must_use]
pub struct Ingress(Value);

object_methods!(Ingress);

impl Ingress {
    pub fn new(ns: &str, name: &str, host: &str) -> Ingress {
        Ingress(json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"rules": [{"host": host}]},
        }))
    }

    /// The load balancer's DNS name the controller published.
    pub fn load_balancer(mut self, hostname: &str) -> Ingress {
        set(
            &mut self.0,
            "/status/loadBalancer/ingress",
            json!([{"hostname": hostname}]),
        );
        self
    }
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

    #[test]
    fn a_cron_jobs_pods_are_shaped_in_its_job_template() {
        let c = Workload::cron_job("app", "nightly", "0 3 * * *").image("shop/job:1");
        let pod = &c.value()["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["containers"][0]["image"], "shop/job:1");
        assert_eq!(pod["restartPolicy"], "Never");
        assert!(c.value()["spec"].get("template").is_none());
    }

    #[test]
    fn secret_data_is_stored_base64_encoded() {
        let s = Secret::new("app", "creds").data("KEY", "hunter2");
        assert_eq!(s.value()["data"]["KEY"], "aHVudGVyMg==");
    }
}
