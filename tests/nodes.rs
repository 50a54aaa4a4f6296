//! `oncall node ...` on what only the simulator can stage: its API faults
//! (a flaky server during rotations, expired credentials, RBAC refusals).
//! The scenarios that need none (listing, cordon, prompts, drains, budgets,
//! timeouts, scale-up, concurrent drains, kubectl parity, the pre-flight
//! check, a drain under a flaky server) run on both backends in
//! `nodes_both.rs`, and replace and rotate in `replace_both.rs`.

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
