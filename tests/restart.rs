//! `oncall restart` and `oncall rollout status` on what only the simulator
//! can stage: container logs read through `pods/log` (kwok serves none).
//! The scenarios that do not need them, its API faults included (the fault
//! proxy plays them in front of the real control plane), run on both
//! backends in `restart_both.rs`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Three Ready nodes and the shop namespace, with the simulator's image
/// faults: `shop/web:crash`, `:oom` and `:missing` break a rollout, and no
/// pod of `shop/never-ready` ever gets Ready.
fn nodes() -> String {
    namespace("shop")
        + &namespace("kube-system")
        + &ConfigMap::image_faults(
            "kube-system",
            &[
                "shop/web:crash crash-loop exit-code=1",
                "shop/web:oom oom-killed",
                "shop/web:missing image-pull",
                "shop/never-ready:* not-ready",
            ],
        )
        .yaml()
        + &["node-a", "node-b", "node-c"]
            .map(|n| Node::new(n).yaml())
            .concat()
}

/// A Deployment labelled `tier: <name>` whose one container is also
/// `name`, with a progress deadline (scaled down by the simulator) far
/// enough that only the pods' own failures end a rollout.
fn deployment(name: &str, replicas: u32, image: &str) -> Workload {
    Workload::deployment("shop", name)
        .label("tier", name)
        .replicas(replicas)
        .progress_deadline(6000)
        .container(name, image)
}

fn cluster(workloads: &[Workload]) -> Harness {
    Harness::yaml(&workloads.iter().fold(nodes(), |seed, w| seed + &w.yaml()))
}

fn ready_pods(h: &Harness, app: &str) -> usize {
    h.list("pods", Some("shop"))
        .into_iter()
        .filter(|p| {
            p["metadata"]["labels"]["app"] == app && p["metadata"]["deletionTimestamp"].is_null()
        })
        .filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .count()
}

#[test]
fn crashing_new_pods_fail_fast_with_the_pod_reason_and_logs() {
    let h = cluster(&[deployment("web", 3, "shop/web:1.0")]);
    h.kubectl(&[
        "-n",
        "shop",
        "set",
        "image",
        "deployment/web",
        "web=shop/web:crash",
    ])
    .expect_code(0);
    let started = Instant::now();
    let run = h.oncall(&[
        "-n",
        "shop",
        "rollout",
        "status",
        "deployment/web",
        "--timeout",
        "2m",
    ]);
    let took = started.elapsed();
    let run = run.expect_code(1);
    // It gave up on the crash loop, not at its two-minute timeout (the
    // margin is for a loaded machine, not a speed test).
    assert!(
        took < Duration::from_secs(100),
        "failed after {took:?}: it waited for the timeout"
    );
    let new_pods: Vec<String> = h
        .list("pods", Some("shop"))
        .into_iter()
        .filter(|p| p["spec"]["containers"][0]["image"] == "shop/web:crash")
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        new_pods.iter().any(|p| run.stdout.contains(p.as_str())),
        "names a new pod ({new_pods:?}):\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("CrashLoopBackOff"), "{}", run.stdout);
    assert!(
        run.stdout.contains("log lines"),
        "shows the last log lines:\n{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("the rollout of `deployment/web` failed"),
        "{}",
        run.stderr
    );
    let d = h.get("deployments", Some("shop"), "web").unwrap();
    let deadline_hit = d["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["reason"] == "ProgressDeadlineExceeded");
    assert!(!deadline_hit, "it failed before the progress deadline");
    // The old pods keep serving.
    assert!(ready_pods(&h, "web") >= 2);
}

#[test]
fn json_summary_of_a_failed_rollout_names_pod_reason_and_logs() {
    let h = cluster(&[deployment("web", 2, "shop/web:1.0")]);
    h.kubectl(&[
        "-n",
        "shop",
        "set",
        "image",
        "deployment/web",
        "web=shop/web:crash",
    ])
    .expect_code(0);
    let run = h
        .oncall(&[
            "-n",
            "shop",
            "-o",
            "json",
            "rollout",
            "status",
            "web",
            "--timeout",
            "1m",
        ])
        .expect_code(1);
    let out: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let failure = &out[0]["failure"];
    assert_eq!(out[0]["outcome"], "failed");
    assert_eq!(failure["reason"], "CrashLoopBackOff");
    assert!(failure["pod"].as_str().unwrap().starts_with("web-"));
    let logs = failure["logs"].as_array().unwrap();
    assert!(
        !logs.is_empty(),
        "the crashed container's log lines, read through pods/log"
    );
    assert!(out[0]["duration_seconds"].as_f64().unwrap() < 20.0);
}
