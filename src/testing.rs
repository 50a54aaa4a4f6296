//! What in-crate tests of a procedure's `run` share: a simulated cluster
//! connected the way the commands connect, and an observer that records.

use std::sync::Mutex;

use oncall_sim::{FaultSpec, Seed, SimOptions, Simulator, Timing};

use crate::cluster::{self, Cluster, ConnectOptions};

/// A simulator seeded from YAML, and a connection to it.
pub(crate) struct SimCluster {
    pub sim: Simulator,
    pub cluster: Cluster,
    _dir: tempfile::TempDir,
}

/// Starts a simulator with fast controllers and connects to it, with
/// `namespace` as the connection's namespace.
pub(crate) async fn sim_cluster(seed: &str, namespace: &str) -> SimCluster {
    let sim = Simulator::start(SimOptions {
        port: 0,
        seed: Seed::Yaml {
            text: seed.to_string(),
            source: "test.yaml".into(),
        },
        faults: FaultSpec::default(),
        timing: Timing::fast(),
    })
    .await
    .expect("simulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig, "sandbox")
        .expect("kubeconfig written");
    let cluster = cluster::connect(&ConnectOptions {
        kubeconfig: Some(kubeconfig),
        namespace: Some(namespace.to_string()),
        request_timeout: Some(std::time::Duration::from_secs(30)),
        ..Default::default()
    })
    .await
    .expect("connects to the simulator");
    SimCluster {
        sim,
        cluster,
        _dir: dir,
    }
}

/// Keeps every event a procedure reports, in order.
pub(crate) struct Recorder<E> {
    events: Mutex<Vec<E>>,
}

impl<E> Default for Recorder<E> {
    fn default() -> Self {
        Recorder {
            events: Mutex::new(Vec::new()),
        }
    }
}

impl<E: Clone> Recorder<E> {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn record(&self, event: E) {
        self.events.lock().unwrap().push(event);
    }

    pub(crate) fn events(&self) -> Vec<E> {
        self.events.lock().unwrap().clone()
    }

    /// Fails the test unless `event` was reported.
    pub(crate) fn assert_seen(&self, event: &E)
    where
        E: PartialEq + std::fmt::Debug,
    {
        let events = self.events();
        assert!(events.contains(event), "{event:?} not among {events:?}");
    }
}

/// A Namespace.
pub(crate) fn namespace(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n---\n")
}

/// A schedulable, Ready node.
pub(crate) fn node(name: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Node
metadata:
  name: {name}
  labels: {{kubernetes.io/hostname: {name}, cloud.google.com/gke-nodepool: pool-a}}
status:
  allocatable: {{cpu: "4", memory: 16Gi, pods: "110"}}
  capacity: {{cpu: "4", memory: 16Gi, pods: "110"}}
  conditions: [{{type: Ready, status: "True", reason: KubeletReady}}]
---
"#
    )
}

/// The namespace `shop` on two ready nodes, with the simulator's image
/// faults (`crash` tags crash-loop), for workload tests.
pub(crate) fn shop() -> String {
    let faults = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: sim-image-faults, namespace: kube-system}
data:
  rules: |
    shop/web:crash crash-loop exit-code=1
---
"#;
    [
        namespace("shop"),
        namespace("kube-system"),
        faults.to_string(),
        node("node-a"),
        node("node-b"),
    ]
    .concat()
}

/// A Deployment of `replicas` pods running `image`.
pub(crate) fn deployment(namespace: &str, name: &str, replicas: u32, image: &str) -> String {
    format!(
        r#"
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  replicas: {replicas}
  progressDeadlineSeconds: 6000
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: {name}, image: "{image}"}}]
"#
    )
}
