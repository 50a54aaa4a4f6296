//! `oncall node ...` on the simulator only: pods it makes slow to turn
//! Ready (its timing), so that two scale-up drains overlap, and its
//! credential and RBAC faults on the demo cluster, down to a user allowed
//! to cordon but not to evict (rejected and read-only credentials are in
//! `auth_both.rs`). The other scenarios (listing, cordon, prompts, drains,
//! budgets, timeouts, scale-up, kubectl parity, the pre-flight check, a
//! drain under a flaky API server) run on both backends in `nodes_both.rs`,
//! and replace and rotate (a rotation under a flaky API server too) in
//! `replace_both.rs`.

mod common;
use common::*;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

/// A Ready GKE node of `pool` in `zone` with `cpu` allocatable.
fn node_yaml(name: &str, pool: &str, zone: &str, cpu: &str) -> String {
    Node::new(name)
        .pool(pool)
        .zone(zone)
        .instance_type("e2-standard-4")
        .cpu(cpu)
        .provider_id(&format!("gce://proj/{zone}/{name}"))
        .kubelet_version("v1.33.1")
        .yaml()
}

/// A Deployment in `app` whose pods ask for 100m and take up to 30 s to stop.
fn deployment(name: &str, replicas: u32) -> Workload {
    Workload::deployment("app", name)
        .replicas(replicas)
        .grace_period(30)
}

fn wait_running(h: &Harness, count: usize) {
    assert!(
        eventually(Duration::from_secs(10), || {
            h.list("pods", Some("app"))
                .iter()
                .filter(|p| {
                    p["status"]["phase"] == "Running"
                        && p["status"]["conditions"].as_array().is_some_and(|c| {
                            c.iter()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                        })
                })
                .count()
                >= count
        }),
        "pods did not become ready"
    );
}

/// One Deployment with one replica, on n1 or n2 of pool-a.
fn solo_cluster() -> String {
    let mut y = namespace("app");
    y += &node_yaml("n1", "pool-a", "zone-a", "4");
    y += &node_yaml("n2", "pool-a", "zone-b", "4");
    y += &deployment("solo", 1)
        .node_selector("cloud.google.com/gke-nodepool", "pool-a")
        .yaml();
    y
}

#[test]
fn two_scale_up_drains_of_one_node_add_one_replica_and_restore_the_true_count() {
    // New pods take a while to be ready, so the second run starts while the
    // first one's extra replica is not ready yet and the outage still shows.
    let h = Arc::new(Harness::with_options(SimOptions {
        port: 0,
        seed: Seed::Yaml {
            text: solo_cluster(),
            source: "test.yaml".into(),
        },
        faults: FaultSpec::default(),
        timing: Timing {
            ready_delay: Duration::from_secs(2),
            ..Timing::fast()
        },
    }));
    wait_running(&h, 1);
    let pod = h.list("pods", Some("app")).pop().unwrap();
    let node = pod["spec"]["nodeName"].as_str().unwrap().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicI64::new(0));
    let watcher = {
        let (h, stop, most) = (h.clone(), stop.clone(), most.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if let Some(d) = h.get("deployments", Some("app"), "solo") {
                    most.fetch_max(
                        d["spec"]["replicas"].as_i64().unwrap_or(0),
                        Ordering::SeqCst,
                    );
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let drain = [
        "node",
        "drain",
        &node,
        "--scale-up",
        "--yes",
        "--timeout",
        "30s",
    ];
    let first = h.spawn_oncall(&drain);
    assert!(eventually(Duration::from_secs(10), || most
        .load(Ordering::SeqCst)
        == 2));
    let second = h.spawn_oncall(&drain);
    let (first, second) = (first.finish(), second.finish());
    stop.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    for run in [&first, &second] {
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }
    assert_eq!(
        most.load(Ordering::SeqCst),
        2,
        "one replica added, never two"
    );
    let deploy = h.get("deployments", Some("app"), "solo").unwrap();
    assert_eq!(deploy["spec"]["replicas"], 1, "the true original count");
    assert!(
        deploy["metadata"]["annotations"]["oncall.dev/scaled-up-from"].is_null(),
        "{}",
        deploy["metadata"]
    );
    assert!(h.pods_on(&node).is_empty());
}

/// Expired credentials and missing RBAC permissions: one sentence that says
/// what to do, exit 4, and the cluster left as it was (or said how it is).
#[test]
fn expired_credentials_and_rbac_refusals_exit_4_and_say_what_to_do() {
    let h = Harness::demo();
    let node = "gke-demo-pool-b-5b9e7c40-h8j1";
    let one_line = |r: &Run| {
        assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    };

    h.sim()
        .set_faults(FaultSpec::parse("auth=expired").unwrap());
    let r = h.oncall(&["node", "list"]).expect_code(4);
    assert!(
        r.stderr.contains("rejected the credentials (401)") && r.stderr.contains("refresh them"),
        "{}",
        r.stderr
    );
    one_line(&r);

    h.sim()
        .set_faults(FaultSpec::parse("forbid=patch:nodes").unwrap());
    let r = h.oncall(&["node", "cordon", node, "--yes"]).expect_code(4);
    assert!(
        r.stderr
            .contains("refused to let you patch nodes (403 Forbidden)")
            && r.stderr.contains("ask for RBAC permission"),
        "{}",
        r.stderr
    );
    one_line(&r);
    assert!(h.get("nodes", None, node).unwrap()["spec"]["unschedulable"].is_null());

    // Allowed to cordon, not to evict: the drain stops, says the node stays
    // cordoned and how to undo it, and evicts nothing.
    h.sim()
        .set_faults(FaultSpec::parse("forbid=create:pods/eviction").unwrap());
    let before = h
        .list("pods", None)
        .iter()
        .filter(|p| p["spec"]["nodeName"] == node)
        .count();
    let r = h
        .oncall(&[
            "node",
            "drain",
            node,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--yes",
        ])
        .expect_code(4);
    assert!(
        r.stderr
            .contains("refused to let you create pods/eviction (403 Forbidden)")
            && r.stderr
                .contains(&format!("run `oncall node uncordon {node}`")),
        "{}",
        r.stderr
    );
    assert!(
        !r.stdout.contains("Status {"),
        "no debug dumps: {}",
        r.stdout
    );
    assert_eq!(
        h.get("nodes", None, node).unwrap()["spec"]["unschedulable"],
        true
    );
    let after = h
        .list("pods", None)
        .iter()
        .filter(|p| p["spec"]["nodeName"] == node && p["metadata"]["deletionTimestamp"].is_null())
        .count();
    assert_eq!(after, before, "nothing was evicted");
    // The audit log keeps both refusals, with the server's sentence.
    let audit = h.audit_entries();
    for action in ["cordon", "drain"] {
        assert!(
            audit.iter().any(|e| e["argv"][1] == "node"
                && e["argv"][2] == action
                && e["outcome"]["status"] == "failed"
                && e["outcome"]["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("is forbidden"))),
            "{action}: {audit:#?}"
        );
    }
}
