//! Shared test harness: a simulator on a random port plus the real kubectl
//! pointed at it through a temporary kubeconfig and cache directory (the
//! kubectl set-up oncall's own tests use, from `oncall-testkit`).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use oncall_sim::{FaultSpec, Seed, SimOptions, Simulator, Timing};
use oncall_testkit::Kubectl;
#[allow(unused_imports)]
pub use oncall_testkit::fixtures::{self, Node, Workload, namespace, pdb};
use serde_json::Value;

pub struct Cluster {
    pub sim: Simulator,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl Cluster {
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

    /// Run kubectl with the given arguments (no shell).
    pub async fn kubectl(&self, args: &[&str]) -> Output {
        let mut cmd = self.kubectl_command(args);
        tokio::time::timeout(Duration::from_secs(120), cmd.output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
            .expect("kubectl runs")
    }

    /// Run kubectl and return stdout, failing the test on a non-zero exit.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        );
        stdout
    }

    /// kubectl against this simulator, ready to run.
    pub fn kubectl_command(&self, args: &[&str]) -> tokio::process::Command {
        let kubectl = Kubectl::new(&self.kubeconfig, self.dir.path());
        let mut cmd = tokio::process::Command::from(kubectl.cmd().args(args).command());
        cmd.kill_on_drop(true);
        cmd
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
