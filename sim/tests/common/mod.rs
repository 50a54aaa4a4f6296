//! Shared test harness: a simulator on a random port plus the real kubectl
//! pointed at it through a temporary kubeconfig and cache directory (the
//! kubectl set-up oncall's own tests use, from `oncall-testkit`).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use oncall_sim::{FaultSpec, Seed, SimOptions, Simulator, Timing};
#[allow(unused_imports)]
pub use oncall_testkit::fixtures::{
    self, ConfigMap, Node, Pod, Workload, namespace, pdb, pdb_max_unavailable,
};
pub use oncall_testkit::{Background, Cmd, Kubectl, Run};
use serde_json::Value;

pub struct Cluster {
    pub sim: Simulator,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl Cluster {
    /// A simulator seeded from YAML text (the fixtures' documents).
    pub async fn yaml(text: &str) -> Self {
        Self::start(yaml(text)).await
    }

    pub async fn start(seed: Seed) -> Self {
        Self::start_with(seed, FaultSpec::default()).await
    }

    pub async fn start_with(seed: Seed, faults: FaultSpec) -> Self {
        Self::start_timed(seed, faults, Timing::fast()).await
    }

    pub async fn start_timed(seed: Seed, faults: FaultSpec, timing: Timing) -> Self {
        let sim = Simulator::start(SimOptions {
            port: 0,
            seed,
            faults,
            timing,
        })
        .await
        .expect("simulator starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig, "sim")
            .expect("kubeconfig");
        Cluster {
            sim,
            dir,
            kubeconfig,
        }
    }

    /// kubectl against this simulator (its own discovery cache), ready to
    /// run or spawn.
    pub fn kubectl_cmd(&self, args: &[&str]) -> Cmd {
        Kubectl::new(&self.kubeconfig, self.dir.path())
            .cmd()
            .args(args)
    }

    /// Runs kubectl to its end. It runs on a blocking thread: the
    /// simulator serves it from the test's runtime.
    pub async fn kubectl(&self, args: &[&str]) -> Run {
        let cmd = self.kubectl_cmd(args);
        tokio::task::spawn_blocking(move || cmd.spawn().finish_within(Duration::from_secs(120)))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }

    /// Run kubectl and return stdout, failing the test on a non-zero exit.
    pub async fn ok(&self, args: &[&str]) -> String {
        self.kubectl(args).await.expect_exit(0).stdout
    }

    /// Starts kubectl in the background (`logs -f`, `get -w`, a drain).
    pub fn kubectl_spawn(&self, args: &[&str]) -> Background {
        self.kubectl_cmd(args).spawn()
    }
}

/// Waits up to `secs` until what `program` printed on stdout satisfies
/// `done`; fails showing it otherwise.
pub async fn wait_for_stdout(program: &Background, secs: u64, done: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done(&program.stdout()) {
        assert!(
            Instant::now() < deadline,
            "stdout so far:\n{}\nstderr:\n{}",
            program.stdout(),
            program.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A seed of YAML text.
pub fn yaml(text: &str) -> Seed {
    Seed::Yaml {
        text: text.to_string(),
        source: "test.yaml".into(),
    }
}

/// Poll until `f` is true or fail after `secs`.
pub async fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The header row and the data rows of kubectl table output, split on runs of spaces.
pub fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

/// A minimal HTTP/1.1 client (Connection: close) so tests see raw status
/// codes, headers and bodies.
pub fn http(
    c: &Cluster,
    method: &str,
    path: &str,
    ctype: &str,
    accept: &str,
    body: &str,
) -> (u16, String, String) {
    let port = c
        .sim
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {ctype}\r\nAccept: {accept}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    (code, head.to_string(), body.to_string())
}

pub fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}
