//! A simulated cluster for the node procedures' own tests: the simulator
//! in this process, reached through a kubeconfig as a real cluster is.

use super::{LeanNode, targets};
pub(crate) use crate::testing::Recorder;
pub(crate) use crate::testing::node;
use crate::testing::{SimCluster, sim_cluster};

/// The simulated cluster the crate's procedure tests share, with what the
/// node procedures' tests ask of it.
pub(crate) type TestCluster = SimCluster;

impl SimCluster {
    /// Starts the simulator with `seed` (Kubernetes YAML) and connects.
    pub(crate) async fn start(seed: &str) -> SimCluster {
        sim_cluster(seed, "default").await
    }

    /// The named nodes, as a command resolves them.
    pub(crate) async fn nodes(&self, names: &[&str]) -> Vec<LeanNode> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        targets::resolve(&self.cluster, &names, None)
            .await
            .expect("nodes resolve")
    }

    pub(crate) fn is_cordoned(&self, node: &str) -> bool {
        self.sim
            .get("nodes", None, node)
            .and_then(|n| n["spec"]["unschedulable"].as_bool())
            .unwrap_or(false)
    }

    /// The names of the pods left in `namespace`.
    pub(crate) fn pods(&self, namespace: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .sim
            .list("pods", Some(namespace))
            .iter()
            .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        names.sort();
        names
    }
}

/// A Deployment in `app` whose pods all sit on `node`.
pub(crate) fn deployment(name: &str, replicas: u32, node: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: app}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      nodeSelector: {{kubernetes.io/hostname: {node}}}
      containers: [{{name: c, image: nginx}}]
---
"#
    )
}

/// A budget that lets none of the deployment's `replicas` pods go.
pub(crate) fn tight_budget(name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: {name}-pdb, namespace: app}}\nspec:\n  minAvailable: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n---\n"
    )
}
