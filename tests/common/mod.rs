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
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use oncall_sim::{FaultSpec, Seed, SimOptions, Simulator, Timing};

pub struct Harness {
    target: Target,
    pub home: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    runtime: tokio::runtime::Runtime,
}

/// The cluster a test runs against.
enum Target {
    Sim(Simulator),
    Real(RealCluster),
}

/// What a finished command printed, and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with both streams when the exit code is not `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code {} (wanted {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// An `oncall` process running in the background (see `spawn_oncall`).
pub struct Background {
    child: std::process::Child,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl Background {
    /// Stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits up to `within` for stderr to contain `text`; panics with what
    /// it has otherwise.
    pub fn wait_for_stderr(&self, text: &str, within: Duration) {
        assert!(
            eventually(within, || self.stderr().contains(text)),
            "stderr never said `{text}`:\n{}",
            self.stderr()
        );
    }

    /// Sends a signal (`libc::SIGTERM`, ...) to the process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Waits for the process to end.
    pub fn finish(self) -> Run {
        let out = self.child.wait_with_output().expect("oncall ends");
        self.reader.join().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }
}

impl Harness {
    /// The built-in demo cluster with fast controllers.
    pub fn demo() -> Harness {
        Harness::start(Seed::Demo)
    }

    /// A cluster seeded from YAML text.
    pub fn yaml(text: &str) -> Harness {
        Harness::start(Seed::Yaml {
            text: text.to_string(),
            source: "test.yaml".into(),
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
                    target: Target::Real(cluster),
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

    /// Deleted nodes of a pool come back as new nodes, as a cloud's
    /// autoscaler does: built into the simulator, played on a real cluster.
    pub fn play_autoscaler(&self) {
        if let Target::Real(real) = &self.target {
            real.play_autoscaler(&self.runtime);
        }
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
                };
                set_kubeconfig_token(&self.kubeconfig, &token);
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
        use base64::Engine;
        let text = std::fs::read_to_string(&self.kubeconfig).unwrap();
        let config: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let data = config["clusters"][0]["cluster"]["certificate-authority-data"]
            .as_str()
            .expect("the kubeconfig carries its CA inline");
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap(),
        )
        .unwrap()
    }

    /// Makes the kubeconfig trust `ca_pem` instead of the cluster's own CA.
    pub fn replace_ca(&self, ca_pem: &str) {
        use base64::Engine;
        let text = std::fs::read_to_string(&self.kubeconfig).unwrap();
        let mut config: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        for cluster in config["clusters"].as_array_mut().unwrap() {
            cluster["cluster"]["certificate-authority-data"] =
                serde_json::json!(base64::engine::general_purpose::STANDARD.encode(ca_pem));
        }
        std::fs::write(&self.kubeconfig, serde_json::to_string(&config).unwrap()).unwrap();
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

    /// `oncall ARGS` with no TTY on stdin, a private HOME, and no colours.
    pub fn oncall(&self, args: &[&str]) -> Run {
        Run::from(self.oncall_command(args).output().expect("oncall runs"))
    }

    /// The `oncall` command, ready for extra environment or a spawn.
    pub fn oncall_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_oncall"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("USER", "tester")
            .env("KUBECONFIG", &self.kubeconfig)
            .env("XDG_STATE_HOME", self.home.path().join("state"))
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("NO_COLOR", "1")
            // Completion's time budget is for shells, not for a loaded CI machine.
            .env("ONCALL_COMPLETION_TIMEOUT", "30s")
            .stdin(Stdio::null());
        cmd
    }

    /// Starts `oncall` in the background, collecting stderr as it comes, so
    /// a test can wait for a message and then act (relax a budget, send a
    /// signal) while the command runs.
    pub fn spawn_oncall(&self, args: &[&str]) -> Background {
        let mut child = self
            .oncall_command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("oncall starts");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let reader = {
            let stderr = stderr.clone();
            let mut pipe = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = std::io::Read::read(&mut pipe, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    stderr
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            })
        };
        Background {
            child,
            stderr,
            reader,
        }
    }

    /// The real kubectl, with its own discovery cache.
    pub fn kubectl(&self, args: &[&str]) -> Run {
        let cache = self.home.path().join("kube-cache");
        let out = Command::new(kubectl_path())
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&cache)
            .args(args)
            .env("HOME", self.home.path())
            .stdin(Stdio::null())
            .output()
            .expect("kubectl runs");
        Run::from(out)
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
}

/// Replaces the current context's user with a bearer token.
fn set_kubeconfig_token(path: &Path, token: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut config: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let current = config["current-context"].as_str().unwrap().to_string();
    let user = config["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == current.as_str())
        .unwrap()["context"]["user"]
        .as_str()
        .unwrap()
        .to_string();
    for entry in config["users"].as_array_mut().unwrap() {
        if entry["name"] == user.as_str() {
            entry["user"] = serde_json::json!({ "token": token });
        }
    }
    std::fs::write(path, serde_json::to_string(&config).unwrap()).unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The kubectl on PATH; tests that need it fail loudly without it.
pub fn kubectl_path() -> PathBuf {
    which("kubectl").expect("kubectl is required on PATH for the fidelity tests")
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| Path::new(p).is_file())
}

/// The account running the tests, as oncall records it (from the uid, not
/// the `USER` the harness sets).
pub fn os_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id runs");
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!name.is_empty(), "`id -un` names the user");
    name
}

/// Polls `check` until it holds or `timeout` passes; returns whether it held.
/// For waiting on the simulator's controllers, not for timing assertions.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

/// `oncall ARGS` for commands that need no cluster: a private HOME and a
/// KUBECONFIG that does not exist, so an accidental connection fails loudly.
pub fn oncall_offline(args: &[&str]) -> Run {
    let home = tempfile::tempdir().expect("temp home");
    let out = Command::new(env!("CARGO_BIN_EXE_oncall"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("USER", "tester")
        .env("KUBECONFIG", home.path().join("no-such-kubeconfig"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("oncall runs");
    Run::from(out)
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
