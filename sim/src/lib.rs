//! oncall-sim: a Kubernetes API simulator.
//!
//! It speaks the real REST/JSON API on 127.0.0.1 so that the real `kubectl`
//! and kube-rs clients work against it, and runs simulated controllers
//! (scheduler, kubelet, workload controllers, PDB status, a node-pool
//! autoscaler) so a cluster behaves like one. See README.md for the knobs.

// A function over 150 lines (clippy.toml) is tangled: split it. Tests are
// not held to this.
#![warn(clippy::too_many_lines)]
#![warn(unreachable_pub)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

mod controllers;
mod errors;
mod eviction;
mod faults;
mod generate;
mod knobs;
mod patch;
mod resources;
mod seed;
mod selectors;
mod server;
mod store;
mod table;
mod util;
mod validate;

pub use faults::FaultSpec;
pub use knobs::*;
pub use seed::parse_seed;
#[cfg(feature = "fault-proxy")]
pub use server::proxy::FaultProxy;

/// The built-in demo cluster (two node pools, a web app in staging and
/// production, RabbitMQ, PDBs and a few broken pods).
pub const DEMO_SEED: &str = include_str!("../seeds/demo.yaml");

/// The Kubernetes version the simulator reports by default.
pub const DEFAULT_VERSION: &str = "v1.33.1";

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot bind 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("{file}:{line}:{column}: {reason}")]
    Seed {
        file: String,
        line: u64,
        column: u64,
        reason: String,
    },
    #[error("unknown resource kind {kind} in {api_version}")]
    UnknownKind { api_version: String, kind: String },
    #[error("api error: {0}")]
    Api(String),
}

/// What the cluster starts with.
#[derive(Debug, Clone)]
pub enum Seed {
    Empty,
    Demo,
    Yaml { text: String, source: String },
    Generated { nodes: usize, pods_per_node: usize },
}

/// How fast the simulated cluster moves.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Period of the controller loop.
    pub tick: Duration,
    /// From scheduled to containers running.
    pub pod_start: Duration,
    /// From running to Ready (readiness probes).
    pub ready_delay: Duration,
    /// Termination grace periods are multiplied by this.
    pub grace_scale: f64,
    /// Time between restarts of a crash-looping container.
    pub crash_backoff: Duration,
    /// A deleted node of a pool is replaced after this long.
    pub autoscaler_delay: Duration,
    /// Pods on a NotReady node are evicted after this long (300 s on a real cluster).
    pub unreachable_eviction: Duration,
    /// progressDeadlineSeconds of deployments are multiplied by this.
    pub deadline_scale: f64,
    /// Interval between watch bookmarks.
    pub bookmark_interval: Duration,
    /// How long a Job's pod runs before it completes.
    pub job_duration: Duration,
}

impl Timing {
    /// For tests: pods Running within ~100-300 ms, node replacement ~1 s.
    pub fn fast() -> Self {
        Self {
            tick: Duration::from_millis(25),
            pod_start: Duration::from_millis(100),
            ready_delay: Duration::from_millis(50),
            grace_scale: 0.01,
            crash_backoff: Duration::from_millis(400),
            autoscaler_delay: Duration::from_secs(1),
            unreachable_eviction: Duration::from_secs(2),
            deadline_scale: 0.01,
            bookmark_interval: Duration::from_secs(1),
            job_duration: Duration::from_millis(300),
        }
    }

    /// For the sandbox: things take a few seconds, like a small real cluster.
    pub fn realistic() -> Self {
        Self {
            tick: Duration::from_millis(200),
            pod_start: Duration::from_secs(3),
            ready_delay: Duration::from_secs(2),
            grace_scale: 0.2,
            crash_backoff: Duration::from_secs(10),
            autoscaler_delay: Duration::from_secs(20),
            unreachable_eviction: Duration::from_secs(30),
            deadline_scale: 0.2,
            bookmark_interval: Duration::from_secs(30),
            job_duration: Duration::from_secs(5),
        }
    }
}

impl Default for Timing {
    fn default() -> Self {
        Self::realistic()
    }
}

#[derive(Debug, Clone)]
pub struct SimOptions {
    /// 0 picks a free port.
    pub port: u16,
    pub seed: Seed,
    pub faults: FaultSpec,
    pub timing: Timing,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            port: 0,
            seed: Seed::Empty,
            faults: FaultSpec::default(),
            timing: Timing::realistic(),
        }
    }
}

/// State shared by the HTTP server and the controllers.
pub(crate) struct Shared {
    pub store: store::Store,
    pub faults: parking_lot::Mutex<faults::FaultState>,
    pub requests: AtomicU64,
    /// Objects a controller could not read and skipped (see controllers::guarded).
    pub skipped: AtomicU64,
    pub timing: Timing,
    pub version: parking_lot::RwLock<String>,
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    pub addr: std::net::SocketAddr,
    /// When the simulated control plane started: CronJobs run no schedule
    /// missed before it.
    pub started: chrono::DateTime<chrono::Utc>,
}

pub struct Simulator {
    shared: Arc<Shared>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Simulator {
    /// Bind 127.0.0.1:port, load the seed, and spawn the server and the
    /// controllers on the current tokio runtime.
    pub async fn start(opts: SimOptions) -> Result<Simulator, SimError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
            .await
            .map_err(|source| SimError::Bind {
                port: opts.port,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            port: opts.port,
            source,
        })?;
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let shared = Arc::new(Shared {
            store: store::Store::default(),
            faults: parking_lot::Mutex::new(faults::FaultState::new(opts.faults.clone())),
            requests: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            timing: opts.timing.clone(),
            version: parking_lot::RwLock::new(DEFAULT_VERSION.to_string()),
            shutdown,
            addr,
            started: chrono::Utc::now(),
        });
        match &opts.seed {
            Seed::Empty => seed::load(&shared.store, seed::default_namespaces())?,
            Seed::Demo => {
                let objs = parse_seed(DEMO_SEED, "demo.yaml")?;
                seed::load(&shared.store, objs)?;
            }
            Seed::Yaml { text, source } => {
                let objs = parse_seed(text, source)?;
                seed::load(&shared.store, objs)?;
            }
            Seed::Generated {
                nodes,
                pods_per_node,
            } => {
                generate::generate(&shared.store, *nodes, *pods_per_node);
            }
        }
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(server::serve(shared.clone(), listener)));
        let generated = matches!(opts.seed, Seed::Generated { .. });
        let (state, cursor) = controllers::settle(&shared, !generated);
        tasks.push(tokio::spawn(controllers::run(
            shared.clone(),
            state,
            cursor,
        )));
        Ok(Simulator {
            shared,
            stop,
            tasks,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    pub fn port(&self) -> u16 {
        self.shared.addr.port()
    }

    /// A kubeconfig with a cluster, user and context all named `context`.
    pub fn kubeconfig_yaml(&self, context: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {context}\n  cluster:\n    server: {url}\nusers:\n- name: {context}\n  user:\n    token: sandbox-token\ncontexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: {context}\n    namespace: default\ncurrent-context: {context}\npreferences: {{}}\n",
            url = self.url()
        )
    }

    pub fn write_kubeconfig(&self, path: &Path, context: &str) -> std::io::Result<()> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, self.kubeconfig_yaml(context))
    }

    pub fn set_faults(&self, faults: FaultSpec) {
        *self.shared.faults.lock() = faults::FaultState::new(faults);
    }

    /// The gitVersion `/version` reports, e.g. "v1.30.4". The kubectl
    /// dispatcher picks the kubectl minor matching the server, so tests use
    /// this to drive several kubectl versions.
    pub fn set_server_version(&self, git_version: &str) {
        *self.shared.version.write() = git_version.to_string();
    }

    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// How many objects the controllers have skipped because they could not
    /// read them (0 unless something malformed got past the API's checks).
    pub fn skipped_objects(&self) -> u64 {
        self.shared.skipped.load(Ordering::Relaxed)
    }

    /// Drop the watch history: watches resuming from an older
    /// resourceVersion get 410 Gone.
    pub fn compact(&self) {
        self.shared.store.compact();
    }

    pub fn get(&self, resource: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let r = resources::by_name(resource)?;
        self.shared
            .store
            .get_value(r, namespace.unwrap_or(""), name)
    }

    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Value> {
        let Some(r) = resources::by_name(resource) else {
            return vec![];
        };
        self.shared
            .store
            .scan(r, namespace, |_| true)
            .iter()
            .map(|s| s.value())
            .collect()
    }

    /// Create or replace an object, chosen by apiVersion and kind. Status is
    /// taken as given, so tests can set any state.
    pub fn apply(&self, object: Value) -> Result<Value, SimError> {
        seed::apply_one(&self.shared.store, object)
    }

    /// Delete an object as a client would (grace periods and finalizers apply).
    pub fn delete(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), SimError> {
        let r = resources::by_name(resource)
            .ok_or_else(|| SimError::Api(format!("unknown resource {resource}")))?;
        self.shared
            .store
            .delete(
                r,
                namespace.unwrap_or(""),
                name,
                &store::DeleteOptions::default(),
            )
            .map(|_| ())
            .map_err(|e| SimError::Api(e.message))
    }

    /// Tells the server and the controllers to stop, without waiting for
    /// them (for a guard's `Drop`, which cannot wait).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    pub async fn shutdown(self) {
        self.stop();
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
    }
}
