//! Shared harness for integration tests: a cluster (the simulator on a
//! random port, or the real control plane given by `ONCALL_TEST_KUBECONFIG`),
//! a temporary HOME with its own kubeconfig, audit log and config, and helpers
//! that run the real `oncall` binary and the real `kubectl` against it.
#![allow(dead_code)]

pub mod local;
pub mod real;
pub mod scenario;

#[allow(unused_imports)]
pub use local::{Local, count, state_of, wait_for};
pub use real::RealCluster;
#[allow(unused_imports)]
pub use scenario::{Backend, SCOPE_KEY, Scope};

use std::path::{Path, PathBuf};

pub use oncall_sim::{FaultSpec, Seed, SimOptions, Simulator, Timing};
#[allow(unused_imports)]
pub use oncall_testkit::fixtures::{
    self, ConfigMap, Ingress, Node, Pod, Secret, Service, Workload, namespace, pdb,
    pdb_max_unavailable,
};
#[allow(unused_imports)]
pub use oncall_testkit::{
    Background, Cmd, Kubectl, Run, eventually, kubeconfig, kubectl_path, which,
};

/// The namespaces of the demo cluster.
pub const DEMO_NAMESPACES: &[&str] = &["staging", "production", "rabbitmq", "monitoring"];

pub struct Harness {
    target: Target,
    pub home: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    runtime: tokio::runtime::Runtime,
}

/// The cluster a test runs against.
enum Target {
    Sim(Simulator),
    Real(Box<RealCluster>),
}

impl Harness {
    /// The built-in demo cluster with fast controllers.
    pub fn demo() -> Harness {
        Harness::start(Seed::Demo)
    }

    /// The demo cluster of `--sandbox` (`sim/seeds/demo.yaml`) on either
    /// backend. On the real control plane its objects are created as they
    /// are written, once the cluster holds no demo from an earlier run, and
    /// the harness waits until the controllers and kubelets have settled;
    /// they are removed when the harness is dropped. The demo's names are
    /// fixed, so one test of a run may hold it on the real cluster.
    pub fn demo_on(backend: Backend) -> Harness {
        match backend {
            Backend::Sim => Harness::demo(),
            Backend::Real => {
                let runtime = runtime();
                let home = tempfile::tempdir().expect("temp home");
                let kubeconfig = home.path().join("kubeconfig");
                let cluster =
                    runtime.block_on(RealCluster::connect(&Scope::new("demo"), &kubeconfig));
                runtime.block_on(cluster.wait_gone(DEMO_NAMESPACES));
                // Made before the seed, so that a seed that fails is removed too.
                let h = Harness {
                    target: Target::Real(Box::new(cluster)),
                    home,
                    kubeconfig,
                    runtime,
                };
                if let Target::Real(cluster) = &h.target {
                    h.runtime.block_on(async {
                        cluster.seed(oncall_sim::DEMO_SEED).await;
                        cluster.wait_settled().await;
                    });
                }
                h
            }
        }
    }

    /// A cluster seeded from YAML text.
    pub fn yaml(text: &str) -> Harness {
        Harness::start(Seed::Yaml {
            text: text.to_string(),
            source: "test.yaml".into(),
        })
    }

    /// A cluster seeded from YAML text, with controllers on `timing`.
    pub fn yaml_with(text: &str, timing: Timing) -> Harness {
        Harness::with_options(SimOptions {
            port: 0,
            seed: Seed::Yaml {
                text: text.to_string(),
                source: "test.yaml".into(),
            },
            faults: FaultSpec::default(),
            timing,
        })
    }

    pub fn start(seed: Seed) -> Harness {
        Harness::with_options(SimOptions {
            port: 0,
            seed,
            faults: FaultSpec::default(),
            timing: Timing::fast(),
        })
    }

    pub fn with_options(options: SimOptions) -> Harness {
        let runtime = runtime();
        let sim = runtime
            .block_on(Simulator::start(options))
            .expect("simulator starts");
        let home = tempfile::tempdir().expect("temp home");
        let kubeconfig = home.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig, "sandbox")
            .expect("kubeconfig written");
        Harness {
            target: Target::Sim(sim),
            home,
            kubeconfig,
            runtime,
        }
    }

    /// A scenario on either backend: `seed` is YAML written with `scope`'s
    /// names (see `scenario.rs`). On the simulator it is the seed; on the
    /// real control plane its objects are created, and removed again when
    /// the harness is dropped.
    pub fn on(backend: Backend, scope: &Scope, seed: &str) -> Harness {
        match backend {
            Backend::Sim => Harness::yaml(seed),
            Backend::Real => {
                let runtime = runtime();
                let home = tempfile::tempdir().expect("temp home");
                let kubeconfig = home.path().join("kubeconfig");
                let cluster = runtime.block_on(RealCluster::connect(scope, &kubeconfig));
                runtime.block_on(cluster.seed(seed));
                Harness {
                    target: Target::Real(Box::new(cluster)),
                    home,
                    kubeconfig,
                    runtime,
                }
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self.target {
            Target::Sim(_) => Backend::Sim,
            Target::Real(_) => Backend::Real,
        }
    }

    /// The simulator, for tests that use its knobs (faults, request counts).
    pub fn sim(&self) -> &Simulator {
        match &self.target {
            Target::Sim(sim) => sim,
            Target::Real(_) => panic!("this test step needs the simulator"),
        }
    }

    /// From now on the commands under test (and `kubectl`) meet `faults`:
    /// the simulator rolls them at its front; on the real control plane a
    /// proxy in front of the API server rolls the same dice.
    pub fn set_faults(&self, faults: FaultSpec) {
        match &self.target {
            Target::Sim(sim) => sim.set_faults(faults),
            Target::Real(real) => self
                .runtime
                .block_on(real.set_faults(faults, &self.kubeconfig)),
        }
    }

    /// How many API requests the cluster has received: the simulator's
    /// counter, or on the real control plane the fault proxy's (the first
    /// call points the commands under test at it), which sees only what the
    /// commands under test and `kubectl` send.
    pub fn request_count(&self) -> u64 {
        match &self.target {
            Target::Sim(sim) => sim.request_count(),
            Target::Real(real) => self.runtime.block_on(real.request_count(&self.kubeconfig)),
        }
    }

    /// Deleted nodes of a pool come back as new nodes, as a cloud's
    /// autoscaler does: built into the simulator, played on a real cluster.
    pub fn play_autoscaler(&self) {
        if let Target::Real(real) = &self.target {
            real.play_autoscaler(&self.runtime);
        }
    }

    /// The kubelet of `node` stops (its VM died): the node and every pod
    /// bound to it get the `kubelet-stopped` fault, which both backends
    /// play. The node's Ready turns Unknown and the node lifecycle
    /// controller taints it unreachable; nothing confirms its pods'
    /// deletion, so once deleted they stay Terminating. The pods first, so
    /// that none can be deleted and confirmed before it has the fault.
    pub fn stop_kubelet(&self, node: &str) {
        let fault = format!("{}=kubelet-stopped", oncall_sim::ANNOTATION_FAULT);
        let bound = format!("spec.nodeName={node}");
        self.kubectl(&[
            "annotate",
            "pods",
            "--all-namespaces",
            "--field-selector",
            &bound,
            "--overwrite",
            &fault,
        ])
        .expect_code(0);
        self.kubectl(&["annotate", "node", node, "--overwrite", &fault])
            .expect_code(0);
    }

    /// From now on the commands under test present `credentials`.
    /// The simulator plays them with its auth faults (it checks no token);
    /// the real cluster gets a real token in the kubeconfig.
    pub fn use_credentials(&self, credentials: Credentials, scope: &Scope) {
        match &self.target {
            Target::Sim(sim) => sim.set_faults(
                FaultSpec::parse(match credentials {
                    Credentials::Rejected => "auth=expired",
                    Credentials::ReadOnly => {
                        "forbid=create:*|update:*|patch:*|delete:*|deletecollection:*"
                    }
                    Credentials::CordonOnly => "forbid=create:pods/eviction",
                })
                .unwrap(),
            ),
            Target::Real(real) => {
                let token = match credentials {
                    Credentials::Rejected => "not-a-token-this-cluster-issued".to_string(),
                    Credentials::ReadOnly => {
                        let ns = scope.ns("app");
                        self.runtime.block_on(real.read_only_token(&ns))
                    }
                    Credentials::CordonOnly => {
                        let ns = scope.ns("app");
                        let cordon = serde_json::json!({
                            "apiGroups": [""], "resources": ["nodes"], "verbs": ["patch", "update"],
                        });
                        self.runtime
                            .block_on(real.token_for(&ns, "cordoner", &[cordon]))
                    }
                };
                kubeconfig::set_token(&self.kubeconfig, &token);
            }
        }
    }

    /// On the real cluster: a ServiceAccount `viewer` in the scope's `app`
    /// namespace that RBAC lets read everything and change nothing, and a
    /// token for it. The kubeconfig is left as it is.
    pub fn read_only_account(&self, scope: &Scope) -> (String, String) {
        let Target::Real(real) = &self.target else {
            panic!("the simulator has no service accounts or tokens");
        };
        let ns = scope.ns("app");
        let token = self.runtime.block_on(real.read_only_token(&ns));
        (format!("system:serviceaccount:{ns}:viewer"), token)
    }

    /// The PEM of the CA the kubeconfig trusts.
    pub fn ca_pem(&self) -> String {
        kubeconfig::ca_pem(&self.kubeconfig)
    }

    /// Makes the kubeconfig trust `ca_pem` instead of the cluster's own CA.
    pub fn replace_ca(&self, ca_pem: &str) {
        kubeconfig::replace_ca(&self.kubeconfig, ca_pem);
    }

    /// Creates or replaces an object, as `kubectl apply` would.
    pub fn apply(&self, object: serde_json::Value) {
        match &self.target {
            Target::Sim(sim) => {
                sim.apply(object).expect("simulator applies the object");
            }
            Target::Real(real) => self.runtime.block_on(real.apply(object)),
        }
    }

    /// Runs async code (e.g. a kube-rs client) on the harness's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// `oncall ARGS` against this cluster, with no TTY on stdin, the
    /// harness's HOME, and no colours.
    pub fn oncall(&self, args: &[&str]) -> Run {
        self.cmd().args(args).run()
    }

    /// `oncall` against this cluster, ready for arguments, environment,
    /// stdin or a terminal (see [`oncall_in`]).
    pub fn cmd(&self) -> Cmd {
        oncall_in(self.home.path()).kubeconfig(&self.kubeconfig)
    }

    /// Starts `oncall ARGS` in the background (see [`Cmd::spawn`]).
    pub fn spawn_oncall(&self, args: &[&str]) -> Background {
        self.cmd().args(args).spawn()
    }

    /// The real kubectl against this cluster, with its own discovery cache.
    pub fn kubectl(&self, args: &[&str]) -> Run {
        Kubectl::new(&self.kubeconfig, self.home.path()).run(args)
    }

    /// Writes the oncall config file.
    pub fn write_config(&self, yaml: &str) {
        let dir = self.home.path().join("config/oncall");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.yaml"), yaml).unwrap();
    }

    pub fn audit_path(&self) -> PathBuf {
        self.home.path().join("state/oncall/audit.jsonl")
    }

    /// The audit log's entries, parsed.
    pub fn audit_entries(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.audit_path())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }

    pub fn get(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<serde_json::Value> {
        match &self.target {
            Target::Sim(sim) => sim.get(resource, namespace, name),
            Target::Real(real) => self.runtime.block_on(real.get(resource, namespace, name)),
        }
    }

    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<serde_json::Value> {
        match &self.target {
            Target::Sim(sim) => sim.list(resource, namespace),
            Target::Real(real) => self.runtime.block_on(real.list(resource, namespace)),
        }
    }
}

/// Views of the cluster that node tests assert on.
impl Harness {
    /// The node's `spec.unschedulable` (null when schedulable).
    pub fn unschedulable(&self, node: &str) -> serde_json::Value {
        self.get("nodes", None, node).expect("node exists")["spec"]["unschedulable"].clone()
    }

    /// Names of the live (not terminating) pods on a node, sorted.
    pub fn pods_on(&self, node: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .list("pods", None)
            .iter()
            .filter(|p| {
                p["spec"]["nodeName"] == node && p["metadata"]["deletionTimestamp"].is_null()
            })
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    }

    /// Names of the nodes of a GKE node pool, sorted.
    pub fn pool_nodes(&self, pool: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .list("nodes", None)
            .iter()
            .filter(|n| n["metadata"]["labels"]["cloud.google.com/gke-nodepool"] == pool)
            .map(|n| n["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Target::Real(real) = &self.target {
            self.runtime.block_on(real.clean_up());
        }
    }
}

/// Who the commands under test are, for the authentication and RBAC tests.
#[derive(Clone, Copy, Debug)]
pub enum Credentials {
    /// A token the API server does not accept (401).
    Rejected,
    /// A user RBAC lets read everything and change nothing (403 on writes).
    ReadOnly,
    /// A user RBAC lets read everything and cordon nodes, but not evict
    /// pods (403 on `pods/eviction`).
    CordonOnly,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Which of the two drivers of one procedure made an audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Command,
    Step,
}

/// The last two audit entries, a command's and then a runbook step's doing
/// the same to like objects, record alike: the same outcome, the same
/// fields and the same plan, once `alike` has written each one's names the
/// same way. A plan line `alike` maps to `None` is left out of the
/// comparison. Returns the two entries, command first.
pub fn assert_recorded_alike(
    h: &Harness,
    alike: impl Fn(Driver, &str) -> Option<String>,
) -> (serde_json::Value, serde_json::Value) {
    let entries = h.audit_entries();
    let [.., command, step] = entries.as_slice() else {
        panic!("two audit entries: {entries:?}")
    };
    let outcome = |driver, e: &serde_json::Value| alike(driver, &e["outcome"].to_string());
    assert_eq!(
        outcome(Driver::Command, command),
        outcome(Driver::Step, step)
    );
    assert_eq!(command["outcome"]["status"], "ok", "{command}");
    let keys = |e: &serde_json::Value| e.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(command), keys(step));
    let plan = |driver, e: &serde_json::Value| {
        let mut lines: Vec<String> = e["plan"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| {
                alike(
                    driver,
                    &format!("{} {} {}", c["target"], c["action"], c["detail"]),
                )
            })
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(plan(Driver::Command, command), plan(Driver::Step, step));
    (command.clone(), step.clone())
}

/// Writes `text` as a runbook in the harness's home and returns its path.
pub fn runbook_file(h: &Harness, name: &str, text: &str) -> String {
    let file = h.home.path().join(name);
    std::fs::write(&file, text).unwrap();
    file.to_str().unwrap().to_string()
}

/// A command and its runbook step show one report: the text `runbook run`
/// printed under the step's heading (`[i/n] ID: ...`, indented) is the
/// command's stdout, line for line, once `alike` has written what passes
/// between the two runs (ages, clock times) the same way. The step's text
/// must be short enough to be shown whole.
pub fn assert_said_alike(
    command: &Run,
    runbook: &Run,
    step: &str,
    alike: impl Fn(Driver, &str) -> String,
) {
    let heading = format!("] {step}: ");
    let mut lines = runbook.stdout.lines();
    assert!(
        lines.any(|l| l.starts_with('[') && l.contains(&heading)),
        "step `{step}` ran:\n{}",
        runbook.stdout
    );
    let shown: Vec<&str> = lines
        .take_while(|l| !l.starts_with("  ✓") && !l.starts_with("  ✗"))
        .map(|l| l.strip_prefix("  ").unwrap_or(l).trim_end())
        .collect();
    assert!(
        !shown.iter().any(|l| l.contains("line(s) above")),
        "the step's text is shown whole:\n{}",
        runbook.stdout
    );
    let said: Vec<&str> = command
        .stdout
        .trim_end()
        .lines()
        .map(str::trim_end)
        .collect();
    assert_eq!(
        alike(Driver::Command, &said.join("\n")),
        alike(Driver::Step, &shown.join("\n")),
        "\n--- command\n{}\n--- runbook\n{}",
        command.stdout,
        runbook.stdout
    );
}

/// The account running the tests, as oncall records it (from the uid, not
/// the `USER` the harness sets).
pub fn os_user() -> String {
    let out = Cmd::new(which("id").expect("id is on PATH"))
        .arg("-un")
        .run()
        .expect_exit(0);
    let name = out.stdout.trim().to_string();
    assert!(!name.is_empty(), "`id -un` names the user");
    name
}

/// The oncall binary with `home` as HOME (and its XDG state and config
/// under it), user `tester`, no colours, stdin empty and no kubeconfig
/// unless `.kubeconfig()` names one. Nothing else comes from the
/// environment of the test.
pub fn oncall_in(home: &Path) -> Cmd {
    oncall_named(Path::new(env!("CARGO_BIN_EXE_oncall")), home)
}

/// [`oncall_in`] for the binary under another name (as a kubectl plugin).
pub fn oncall_named(program: &Path, home: &Path) -> Cmd {
    Cmd::new(program)
        .env("HOME", home)
        .env("USER", "tester")
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("NO_COLOR", "1")
        // Completion's time budget is for shells, not for a loaded CI machine.
        .env("ONCALL_COMPLETION_TIMEOUT", "30s")
}

/// The oncall binary with a private HOME of its own (see [`oncall_in`]).
pub fn oncall() -> Cmd {
    let home = tempfile::tempdir().expect("temp home");
    oncall_in(home.path()).keep(home)
}

/// `oncall ARGS` for commands that need no cluster: a private HOME and a
/// KUBECONFIG that does not exist, so an accidental connection fails loudly.
pub fn oncall_offline(args: &[&str]) -> Run {
    let home = tempfile::tempdir().expect("temp home");
    oncall_in(home.path())
        .kubeconfig(home.path().join("no-such-kubeconfig"))
        .args(args)
        .keep(home)
        .run()
}

/// The fault seeds every "survives a flaky API server" test runs with.
pub const FAULT_SEEDS: [u64; 5] = [1, 2, 3, 4, 5];

/// The API fault profile of the robustness targets (5xx, 429 with
/// Retry-After, dropped connections, expiring watches, write conflicts)
/// with the dice seeded by `seed`.
pub fn flaky_api(seed: u64) -> FaultSpec {
    FaultSpec::parse(&format!(
        "5xx=0.1,429=0.05,retry-after=1,drop=0.02,watch-expiry=5s,conflict=0.1,seed={seed}"
    ))
    .expect("the fault profile parses")
}

/// Runs `scenario` once per fault seed, each on its own thread, and fails
/// naming every seed whose outcome was wrong: the target is 5 of 5.
pub fn for_each_fault_seed(scenario: impl Fn(u64) -> Result<(), String> + Sync) {
    let scenario = &scenario;
    let failures: Vec<String> = std::thread::scope(|s| {
        let runs: Vec<_> = FAULT_SEEDS
            .iter()
            .map(|&seed| (seed, s.spawn(move || scenario(seed))))
            .collect();
        runs.into_iter()
            .filter_map(|(seed, run)| match run.join() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("seed {seed}: {e}")),
                Err(_) => Some(format!("seed {seed}: panicked")),
            })
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} fault seeds went wrong:\n{}",
        failures.len(),
        FAULT_SEEDS.len(),
        failures.join("\n")
    );
}
