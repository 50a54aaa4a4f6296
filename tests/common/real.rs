//! The real control plane as a test backend: objects are created through
//! the API server with kube-rs, read back as JSON, and removed when the
//! test ends.

use std::path::Path;
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use super::scenario::{SCOPE_KEY, Scope};

/// The seed annotation of an object that starts out Terminating.
const TERMINATING_FOR: &str = "sim.oncall.dev/terminating-for";

/// The variable that names the real cluster's kubeconfig.
pub const KUBECONFIG_VAR: &str = "ONCALL_TEST_KUBECONFIG";

pub struct RealCluster {
    client: kube::Client,
    scope: String,
    namespaces: std::sync::Mutex<Vec<String>>,
    /// Nodes a seed made without the scope's label (the demo's).
    nodes: std::sync::Mutex<Vec<String>>,
    /// The autoscaler being played, stopped before the clean-up (which
    /// deletes the scope's nodes it would otherwise replace, leaving nodes
    /// behind for later tests).
    autoscaler: std::sync::Mutex<Option<tokio::task::AbortHandle>>,
    /// The simulator's API faults in front of this cluster, started by the
    /// first `set_faults`.
    faults: tokio::sync::OnceCell<oncall_sim::FaultProxy>,
}

/// kind, plural, group, version, namespaced: the kinds the scenarios use.
const KINDS: &[(&str, &str, &str, &str, bool)] = &[
    ("Namespace", "namespaces", "", "v1", false),
    ("Node", "nodes", "", "v1", false),
    ("Pod", "pods", "", "v1", true),
    ("Service", "services", "", "v1", true),
    ("ConfigMap", "configmaps", "", "v1", true),
    ("Secret", "secrets", "", "v1", true),
    ("ServiceAccount", "serviceaccounts", "", "v1", true),
    ("Event", "events", "", "v1", true),
    ("Deployment", "deployments", "apps", "v1", true),
    ("ReplicaSet", "replicasets", "apps", "v1", true),
    ("StatefulSet", "statefulsets", "apps", "v1", true),
    ("DaemonSet", "daemonsets", "apps", "v1", true),
    ("Job", "jobs", "batch", "v1", true),
    ("CronJob", "cronjobs", "batch", "v1", true),
    (
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        "policy",
        "v1",
        true,
    ),
    ("Ingress", "ingresses", "networking.k8s.io", "v1", true),
];

fn resource_by(matches: impl Fn(&(&str, &str, &str, &str, bool)) -> bool) -> (ApiResource, bool) {
    let &(kind, plural, group, version, namespaced) = KINDS
        .iter()
        .find(|k| matches(k))
        .expect("a kind the real-cluster harness knows (add it to KINDS)");
    let gvk = GroupVersionKind::gvk(group, version, kind);
    (ApiResource::from_gvk_with_plural(&gvk, plural), namespaced)
}

impl RealCluster {
    /// Connects to the cluster named by `ONCALL_TEST_KUBECONFIG` and copies
    /// that kubeconfig to `kubeconfig` for the commands under test. A missing
    /// cluster fails the test: the real backend is never skipped.
    pub async fn connect(scope: &Scope, kubeconfig: &Path) -> RealCluster {
        let source = std::env::var_os(KUBECONFIG_VAR).unwrap_or_else(|| {
            panic!(
                "the real control plane is not running: run `scripts/test` (it builds and starts \
                 testbed/), or set {KUBECONFIG_VAR} to the kubeconfig of a disposable cluster"
            )
        });
        std::fs::copy(&source, kubeconfig).expect("copy the real cluster's kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig reads"),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .expect("kubeconfig is usable");
        RealCluster {
            client: kube::Client::try_from(config).expect("client"),
            scope: scope.id.clone(),
            namespaces: Default::default(),
            nodes: Default::default(),
            autoscaler: Default::default(),
            faults: Default::default(),
        }
    }

    fn api(
        &self,
        resource: &ApiResource,
        namespaced: bool,
        ns: Option<&str>,
    ) -> Api<DynamicObject> {
        match (namespaced, ns) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, resource),
            _ => Api::all_with(self.client.clone(), resource),
        }
    }

    /// From now on the commands under test meet `faults`, rolled by the
    /// simulator's own dice in a proxy in front of this cluster: the first
    /// call points `kubeconfig` at the proxy, which presents this harness's
    /// credentials upstream. The cluster's controllers and kubelets meet no
    /// faults, as the simulator's do not.
    pub async fn set_faults(&self, faults: oncall_sim::FaultSpec, kubeconfig: &Path) {
        self.fault_proxy(kubeconfig).await.set_faults(faults);
    }

    /// How many requests the commands under test have sent since the fault
    /// proxy started (the first call starts it, with no faults).
    pub async fn request_count(&self, kubeconfig: &Path) -> u64 {
        self.fault_proxy(kubeconfig).await.request_count()
    }

    async fn fault_proxy(&self, kubeconfig: &Path) -> &oncall_sim::FaultProxy {
        self.faults
            .get_or_init(|| async {
                let proxy = oncall_sim::FaultProxy::start(self.client.clone())
                    .await
                    .expect("the fault proxy starts");
                oncall_testkit::kubeconfig::set_server(kubeconfig, &proxy.url());
                proxy
            })
            .await
    }

    /// Creates a seed's objects in order. Nodes are given to the kwok
    /// kubelets (their annotation), and their conditions are left to them;
    /// pods wait for their namespace's default ServiceAccount, as admission
    /// demands. An object the seed marks `sim.oncall.dev/terminating-for`
    /// is deleted at once, as the simulator does on load (with finalizers
    /// it stays Terminating).
    pub async fn seed(&self, yaml: &str) {
        let mut objects =
            oncall_sim::parse_seed(yaml, "scenario.yaml").expect("scenario seed parses");
        // Nodes first, and Ready before any pod is made: the scheduler
        // places nothing on a node that is not Ready yet.
        objects.sort_by_key(|o| o["kind"] != "Namespace" && o["kind"] != "Node");
        let mut nodes: Vec<String> = Vec::new();
        let mut doomed = Vec::new();
        for mut object in objects {
            if object["kind"] != "Namespace" && object["kind"] != "Node" {
                for node in nodes.drain(..) {
                    self.wait_node_ready(&node).await;
                }
            }
            let kind = object["kind"].as_str().unwrap_or_default().to_string();
            let (resource, namespaced) = resource_by(|k| k.0 == kind);
            let ns = object["metadata"]["namespace"].as_str().map(str::to_string);
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if kind == "Node" {
                if let Some(status) = object.get_mut("status").and_then(Value::as_object_mut) {
                    status.remove("conditions");
                }
                object["metadata"]["annotations"]["kwok.x-k8s.io/node"] = "fake".into();
                if object["metadata"]["labels"][SCOPE_KEY] != self.scope.as_str() {
                    self.nodes.lock().unwrap().push(name.clone());
                }
                nodes.push(name.clone());
            }
            if !object["metadata"]["annotations"][TERMINATING_FOR].is_null() {
                doomed.push((resource.clone(), namespaced, ns.clone(), name.clone()));
            }
            let dynamic: DynamicObject = serde_json::from_value(object).expect("object shape");
            let api = self.api(&resource, namespaced, ns.as_deref());
            api.create(&PostParams::default(), &dynamic)
                .await
                .unwrap_or_else(|e| panic!("cannot create {kind} {name}: {e}"));
            if kind == "Namespace" {
                self.namespaces.lock().unwrap().push(name.clone());
                self.wait_for_service_account(&name).await;
            }
        }
        for node in nodes {
            self.wait_node_ready(&node).await;
        }
        if doomed.is_empty() {
            return;
        }
        // Such a pod ran before it was deleted: its kubelet has seen it.
        self.wait_settled().await;
        for (resource, namespaced, ns, name) in doomed {
            self.api(&resource, namespaced, ns.as_deref())
                .delete(&name, &DeleteParams::default().grace_period(0))
                .await
                .unwrap_or_else(|e| panic!("cannot delete {name}: {e}"));
        }
    }

    /// Waits until the seeded namespaces' controllers and kubelets have
    /// caught up: every Deployment, StatefulSet and DaemonSet has all its
    /// pods, every pod on a node has container statuses from its kubelet,
    /// and every pod without one has been through the scheduler.
    pub async fn wait_settled(&self) {
        let namespaces = self.namespaces.lock().unwrap().clone();
        let end = Instant::now() + Duration::from_secs(90);
        loop {
            let mut waiting = Vec::new();
            for ns in &namespaces {
                waiting.extend(self.unsettled(ns).await);
            }
            if waiting.is_empty() {
                return;
            }
            assert!(
                Instant::now() < end,
                "the seed did not settle in 90s: {waiting:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// What in `ns` has not settled yet, by name.
    async fn unsettled(&self, ns: &str) -> Vec<String> {
        let mut waiting = Vec::new();
        for resource in ["deployments", "statefulsets"] {
            for w in self.list(resource, Some(ns)).await {
                let want = w["spec"]["replicas"].as_i64().unwrap_or(1);
                if w["status"]["replicas"].as_i64().unwrap_or(0) != want
                    || w["status"]["observedGeneration"] != w["metadata"]["generation"]
                {
                    waiting.push(format!("{ns}/{}", w["metadata"]["name"]));
                }
            }
        }
        for d in self.list("daemonsets", Some(ns)).await {
            let status = &d["status"];
            if status["desiredNumberScheduled"].as_i64().unwrap_or(0) == 0
                || status["currentNumberScheduled"] != status["desiredNumberScheduled"]
            {
                waiting.push(format!("{ns}/{}", d["metadata"]["name"]));
            }
        }
        for p in self.list("pods", Some(ns)).await {
            let seen = if p["spec"]["nodeName"].is_string() {
                p["status"]["containerStatuses"].is_array()
                    || p["status"]["initContainerStatuses"].is_array()
            } else {
                p["status"]["conditions"].is_array()
            };
            if !seen {
                waiting.push(format!("{ns}/{}", p["metadata"]["name"]));
            }
        }
        waiting
    }

    /// Waits until none of `namespaces` exists (an earlier run's are still
    /// being removed).
    pub async fn wait_gone(&self, namespaces: &[&str]) {
        let end = Instant::now() + Duration::from_secs(90);
        for ns in namespaces {
            while self.get("namespaces", None, ns).await.is_some() {
                assert!(
                    Instant::now() < end,
                    "namespace {ns} from an earlier run is still there after 90s"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }

    async fn wait_for_service_account(&self, ns: &str) {
        let (resource, _) = resource_by(|k| k.0 == "ServiceAccount");
        let api = self.api(&resource, true, Some(ns));
        let end = Instant::now() + Duration::from_secs(30);
        while api.get_opt("default").await.ok().flatten().is_none() {
            assert!(
                Instant::now() < end,
                "no default ServiceAccount in {ns} after 30s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_node_ready(&self, name: &str) {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            // Ready, and the node lifecycle controller has lifted its
            // not-ready taint: only then does the scheduler use the node.
            let ready = self.get("nodes", None, name).await.is_some_and(|n| {
                n["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                }) && !n["spec"]["taints"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t["key"] == "node.kubernetes.io/not-ready"))
            });
            if ready {
                return;
            }
            assert!(
                Instant::now() < end,
                "node {name} not Ready after 60s: is kwok running?"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn get(&self, resource: &str, ns: Option<&str>, name: &str) -> Option<Value> {
        let (res, namespaced) = resource_by(|k| k.1 == resource);
        let object = self
            .api(&res, namespaced, ns)
            .get_opt(name)
            .await
            .unwrap_or_else(|e| panic!("cannot get {resource} {name}: {e}"))?;
        Some(serde_json::to_value(object).unwrap())
    }

    pub async fn list(&self, resource: &str, ns: Option<&str>) -> Vec<Value> {
        let (res, namespaced) = resource_by(|k| k.1 == resource);
        self.api(&res, namespaced, ns)
            .list(&ListParams::default())
            .await
            .unwrap_or_else(|e| panic!("cannot list {resource}: {e}"))
            .items
            .into_iter()
            .map(|o| serde_json::to_value(o).unwrap())
            .collect()
    }

    /// Server-side apply of a whole object (as read with `get`, then edited).
    pub async fn apply(&self, mut object: Value) {
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let (res, namespaced) = resource_by(|k| k.0 == kind);
        if let Some(meta) = object["metadata"].as_object_mut() {
            meta.remove("managedFields");
            meta.remove("resourceVersion");
        }
        let ns = object["metadata"]["namespace"].as_str().map(str::to_string);
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        self.api(&res, namespaced, ns.as_deref())
            .patch(
                &name,
                &PatchParams::apply("oncall-tests").force(),
                &Patch::Apply(&object),
            )
            .await
            .unwrap_or_else(|e| panic!("cannot apply {kind} {name}: {e}"));
    }

    /// Plays the cloud's autoscaler for this scope's node pools: a deleted
    /// node is replaced, after a moment, by a new one with its labels and
    /// taints (the simulator has this built in). Runs until the test ends.
    pub fn play_autoscaler(&self, runtime: &tokio::runtime::Runtime) {
        let (node_res, _) = resource_by(|k| k.0 == "Node");
        let nodes = self.api(&node_res, false, None);
        let selector = format!("{SCOPE_KEY}={}", self.scope);
        let task = runtime.spawn(async move {
            let mut known: std::collections::BTreeMap<String, Value> = Default::default();
            let mut replaced = 0;
            loop {
                let Ok(list) = nodes.list(&ListParams::default().labels(&selector)).await else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                let now: std::collections::BTreeMap<String, Value> = list
                    .items
                    .into_iter()
                    .map(|n| (n.metadata.name.clone().unwrap_or_default(), serde_json::to_value(n).unwrap()))
                    .collect();
                for (name, old) in &known {
                    if now.contains_key(name) {
                        continue;
                    }
                    replaced += 1;
                    let new_name = format!("{}-r{replaced}", name.rsplit_once('-').map_or(name.as_str(), |(a, _)| a));
                    let mut labels = old["metadata"]["labels"].clone();
                    labels["kubernetes.io/hostname"] = Value::String(new_name.clone());
                    let node = serde_json::json!({
                        "apiVersion": "v1", "kind": "Node",
                        "metadata": {"name": new_name, "labels": labels, "annotations": old["metadata"]["annotations"]},
                        "spec": {"taints": old["spec"]["taints"].as_array().map(|t| t.iter().filter(|t| t["key"] != "node.kubernetes.io/unschedulable").cloned().collect::<Vec<_>>())},
                        "status": {"allocatable": old["status"]["allocatable"], "capacity": old["status"]["capacity"]},
                    });
                    let node: DynamicObject = serde_json::from_value(node).unwrap();
                    let _ = nodes.create(&PostParams::default(), &node).await;
                }
                known = now;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        *self.autoscaler.lock().unwrap() = Some(task.abort_handle());
    }

    /// A token for a ServiceAccount of the scope that may read everything
    /// and change nothing (a ClusterRole of get/list/watch), made with the
    /// TokenRequest API, so it works on any cluster.
    pub async fn read_only_token(&self, ns: &str) -> String {
        self.token_for(ns, "viewer", &[]).await
    }

    /// A token for a ServiceAccount `account` in `ns` that RBAC lets read
    /// everything and, beyond that, do only what `rules` allow: a
    /// ClusterRole and its binding, labelled with the scope for the
    /// clean-up.
    pub async fn token_for(&self, ns: &str, account: &str, rules: &[Value]) -> String {
        use k8s_openapi::api::authentication::v1::TokenRequest;
        use k8s_openapi::api::core::v1::ServiceAccount;
        use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
        let name = format!("{}-{account}", self.scope);
        let mut all_rules = vec![
            serde_json::json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}),
        ];
        all_rules.extend(rules.iter().cloned());
        let role: ClusterRole = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {SCOPE_KEY: self.scope}},
            "rules": all_rules,
        }))
        .unwrap();
        let binding: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {SCOPE_KEY: self.scope}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns}],
        }))
        .unwrap();
        let service_account: ServiceAccount =
            serde_json::from_value(serde_json::json!({"metadata": {"name": account}})).unwrap();
        let pp = PostParams::default();
        Api::<ClusterRole>::all(self.client.clone())
            .create(&pp, &role)
            .await
            .expect("the account's role");
        Api::<ClusterRoleBinding>::all(self.client.clone())
            .create(&pp, &binding)
            .await
            .expect("the account's binding");
        let accounts = Api::<ServiceAccount>::namespaced(self.client.clone(), ns);
        accounts
            .create(&pp, &service_account)
            .await
            .expect("the service account");
        let request: TokenRequest =
            serde_json::from_value(serde_json::json!({"spec": {"audiences": []}})).unwrap();
        let token: TokenRequest = accounts
            .create_subresource("token", account, &pp, &request)
            .await
            .expect("a token for the account");
        token.status.expect("token status").token
    }

    /// Removes the scope's namespaces (and everything in them) and nodes.
    /// Pods go first with no grace, so that a pod that ignores SIGTERM does
    /// not keep its namespace Terminating for hours.
    pub async fn clean_up(&self) {
        if let Some(autoscaler) = self.autoscaler.lock().unwrap().take() {
            autoscaler.abort();
        }
        let namespaces = self.namespaces.lock().unwrap().clone();
        let (pod_res, _) = resource_by(|k| k.0 == "Pod");
        let (ns_res, _) = resource_by(|k| k.0 == "Namespace");
        let now = DeleteParams::default().grace_period(0);
        for ns in &namespaces {
            // The namespace first: once it is Terminating, no controller can
            // recreate the pods removed below.
            let _ = self
                .api(&ns_res, false, None)
                .delete(ns, &DeleteParams::background())
                .await;
            let pods = self.api(&pod_res, true, Some(ns));
            // Finalizers a test put on pods would keep the namespace forever.
            if let Ok(list) = pods.list(&ListParams::default()).await {
                let clear = serde_json::json!({"metadata": {"finalizers": null}});
                for p in &list.items {
                    let name = p.metadata.name.clone().unwrap_or_default();
                    if !p.metadata.finalizers.clone().unwrap_or_default().is_empty() {
                        let _ = pods
                            .patch(&name, &PatchParams::default(), &Patch::Merge(&clear))
                            .await;
                    }
                    let _ = pods.delete(&name, &now).await;
                }
            }
        }
        let (node_res, _) = resource_by(|k| k.0 == "Node");
        let nodes = self.api(&node_res, false, None);
        let seeded = self.nodes.lock().unwrap().clone();
        for node in seeded {
            let _ = nodes.delete(&node, &DeleteParams::default()).await;
        }
        let selector = ListParams::default().labels(&format!("{SCOPE_KEY}={}", self.scope));
        let _ = nodes
            .delete_collection(&DeleteParams::default(), &selector)
            .await;
        use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
        let _ = Api::<ClusterRoleBinding>::all(self.client.clone())
            .delete_collection(&DeleteParams::default(), &selector)
            .await;
        let _ = Api::<ClusterRole>::all(self.client.clone())
            .delete_collection(&DeleteParams::default(), &selector)
            .await;
    }
}
