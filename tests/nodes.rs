//! `oncall node rotate` under a flaky API server, on the simulator. The
//! other node scenarios run on both backends: in `nodes_both.rs` (listing,
//! cordon, prompts, drains, budgets, timeouts, scale-up, concurrent drains,
//! kubectl parity, the pre-flight check, a drain under a flaky server),
//! `replace_both.rs` (replace and rotate) and `auth_both.rs` (expired
//! credentials and RBAC refusals).

mod common;
use common::*;

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

/// pool-a: n1, n2, n5; pool-b: n3. `web` runs anywhere in pool-a.
fn pool_cluster() -> String {
    let mut y = namespace("app");
    y += &node_yaml("n1", "pool-a", "zone-a", "4");
    y += &node_yaml("n2", "pool-a", "zone-b", "4");
    y += &node_yaml("n5", "pool-a", "zone-c", "4");
    y += &node_yaml("n3", "pool-b", "zone-c", "4");
    y += &deployment("web", 3)
        .node_selector("cloud.google.com/gke-nodepool", "pool-a")
        .yaml();
    y
}

#[test]
fn rotate_survives_a_flaky_api_server() {
    for_each_fault_seed(|seed| {
        let h = Harness::yaml(&pool_cluster());
        wait_running(&h, 3);
        h.sim().set_faults(flaky_api(seed));
        let run = h.oncall(&[
            "node",
            "rotate",
            "-l",
            "cloud.google.com/gke-nodepool=pool-a",
            "--batch",
            "2",
            "--delete-node",
            "--wait-replacement",
            "60s",
            "--timeout",
            "60s",
            "--yes",
        ]);
        h.sim().set_faults(FaultSpec::default());
        if run.code != 0 {
            return Err(format!("exit {}: {}{}", run.code, run.stdout, run.stderr));
        }
        if let Some(old) = ["n1", "n2", "n5"]
            .iter()
            .find(|n| h.get("nodes", None, n).is_some())
        {
            return Err(format!("node/{old} is still there: {}", run.stdout));
        }
        match h.pool_nodes("pool-a").len() {
            3 => Ok(()),
            n => Err(format!("{n} nodes in pool-a: {}", run.stdout)),
        }
    });
}
