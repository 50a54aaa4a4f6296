//! Shared harness for integration tests: a simulator on a random port, a
//! temporary HOME with its own kubeconfig, audit log and config, and helpers
//! that run the real `oncall` binary and the real `kubectl` against it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use oncall_sim::{FaultSpec, Seed, SimOptions, Simulator, Timing};

pub struct Harness {
    pub sim: Simulator,
    pub home: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    runtime: tokio::runtime::Runtime,
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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let sim = runtime
            .block_on(Simulator::start(options))
            .expect("simulator starts");
        let home = tempfile::tempdir().expect("temp home");
        let kubeconfig = home.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig, "sandbox")
            .expect("kubeconfig written");
        Harness {
            sim,
            home,
            kubeconfig,
            runtime,
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
            .stdin(Stdio::null());
        cmd
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
        self.sim.get(resource, namespace, name)
    }

    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<serde_json::Value> {
        self.sim.list(resource, namespace)
    }
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
