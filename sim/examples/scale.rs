//! Measure the scale targets: `cargo run --release -p oncall-sim --example scale -- [NODES] [PODS_PER_NODE]`
//! (defaults 5000 and 30): time to ready, 500-pod page latency as JSON and
//! as a Table (`kubectl get`'s and `node list`'s form, read twice: the first
//! pass reads each pod's row, the second serves kept rows), peak memory.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use oncall_sim::{FaultSpec, Seed, SimOptions, Simulator, Timing};

const JSON: &str = "application/json";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

fn get(port: u16, path: &str, accept: &str) -> (usize, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAccept: {accept}\r\n\r\n"
    )
    .expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let text = String::from_utf8_lossy(&buf);
    let cont = text
        .split("\"continue\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("")
        .to_string();
    (buf.len(), cont)
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?")
        .to_string()
}

/// Reads up to 50 pages of pods: how many, the slowest and the total time.
fn pages(port: u16, accept: &str, query: &str) -> (u32, Duration, Duration) {
    let (mut worst, mut total) = (Duration::ZERO, Duration::ZERO);
    let mut cont = String::new();
    let mut n = 0;
    loop {
        let path = format!("/api/v1/pods?limit=500&continue={cont}{query}");
        let t = Instant::now();
        let (_, next) = get(port, &path, accept);
        worst = worst.max(t.elapsed());
        total += t.elapsed();
        n += 1;
        if next.is_empty() || n >= 50 {
            return (n, worst, total);
        }
        cont = next;
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (nodes, ppn) = (
        args.first().copied().unwrap_or(5000),
        args.get(1).copied().unwrap_or(30),
    );
    let t = Instant::now();
    let sim = Simulator::start(SimOptions {
        port: 0,
        seed: Seed::Generated {
            nodes,
            pods_per_node: ppn,
        },
        faults: FaultSpec::default(),
        timing: Timing::realistic(),
    })
    .await
    .expect("start");
    println!("{nodes} nodes x {ppn} pods/node ready in {:?}", t.elapsed());
    let port = sim.port();
    for (what, accept, query) in [
        ("JSON", JSON, ""),
        ("Table, rows read", TABLE, "&includeObject=None"),
        ("Table, rows kept", TABLE, "&includeObject=None"),
        ("Table with metadata", TABLE, ""),
    ] {
        let (n, worst, total) = tokio::task::spawn_blocking(move || pages(port, accept, query))
            .await
            .expect("pages");
        println!(
            "{what}: {n} pages of 500 pods, {:?} a page, slowest {worst:?}",
            total / n
        );
    }
    println!("{}", peak_rss());
    sim.shutdown().await;
}
