//! kubectl's mutating workflows against the simulator: cordon/uncordon,
//! drain held back by a PDB, rollout restart + status, delete with grace,
//! get -w, and the node-pool autoscaler.

mod common;

use std::time::{Duration, Instant};

use common::{Cluster, Node, Workload, pdb, rows, wait_for_stdout, wait_until};
use serde_json::json;

/// Two nodes of pool `general`; a Deployment `web` of two pods (with an
/// emptyDir, as drain must be told) whose budget lets none go; a DaemonSet.
fn seed() -> String {
    let node = |name: &str| Node::new(name).label("node.kubernetes.io/pool", "general");
    node("node-1").yaml()
        + &node("node-2").yaml()
        + &Workload::deployment("default", "web")
            .replicas(2)
            .container("web", "nginx:1.27")
            .volume(json!({"name": "cache", "emptyDir": {}}))
            .yaml()
        + &pdb("default", "web-pdb", "web", 2)
        + &Workload::daemon_set("default", "agent")
            .container("agent", "agent:1")
            .yaml()
}

async fn cluster() -> Cluster {
    Cluster::yaml(&seed()).await
}

fn pods_on(c: &Cluster, node: &str, app: &str) -> Vec<serde_json::Value> {
    c.sim
        .list("pods", Some("default"))
        .into_iter()
        .filter(|p| p["spec"]["nodeName"] == node && p["metadata"]["labels"]["app"] == app)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordon_and_uncordon() {
    let c = cluster().await;
    c.ok(&["cordon", "node-1"]).await;
    assert_eq!(
        c.sim.get("nodes", None, "node-1").unwrap()["spec"]["unschedulable"],
        true
    );
    let out = c.ok(&["get", "nodes"]).await;
    assert!(out.contains("Ready,SchedulingDisabled"), "{out}");
    c.ok(&["uncordon", "node-1"]).await;
    assert!(c.sim.get("nodes", None, "node-1").unwrap()["spec"]["unschedulable"].is_null());
    let out = c.ok(&["get", "nodes"]).await;
    assert!(!out.contains("SchedulingDisabled"), "{out}");
    c.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_is_held_back_by_a_pdb_until_it_allows() {
    let c = drain_with_pdb(None).await;
    c.sim.shutdown().await;
}

/// The same drain with an older kubectl (the dispatcher follows the
/// server's reported version), plus a rollout on that kubectl.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_and_rollout_on_kubectl_1_28() {
    let c = drain_with_pdb(Some("v1.28.15")).await;
    let out = c.ok(&["version", "-o", "json"]).await;
    assert!(out.contains("\"gitVersion\": \"v1.28"), "{out}");
    c.ok(&["rollout", "restart", "deployment/web"]).await;
    let out = c
        .ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    c.sim.shutdown().await;
}

async fn drain_with_pdb(version: Option<&str>) -> Cluster {
    let c = cluster().await;
    if let Some(v) = version {
        c.sim.set_server_version(v);
    }
    assert_eq!(
        pods_on(&c, "node-1", "web").len(),
        1,
        "one web pod per node"
    );
    let pdb = c
        .sim
        .get("poddisruptionbudgets", Some("default"), "web-pdb")
        .unwrap();
    assert_eq!(pdb["status"]["disruptionsAllowed"], 0);

    let mut drain = c.kubectl_spawn(&[
        "drain",
        "node-1",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--timeout=60s",
    ]);
    // The node gets cordoned, the eviction is refused (429) and retried.
    wait_until("cordon", 20, || {
        c.sim.get("nodes", None, "node-1").unwrap()["spec"]["unschedulable"] == true
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!drain.has_ended(), "drain must wait for the PDB");
    assert_eq!(
        pods_on(&c, "node-1", "web").len(),
        1,
        "the pod is still there"
    );

    // Scale up through the store: a third pod starts on node-2, the budget allows one.
    let mut d = c.sim.get("deployments", Some("default"), "web").unwrap();
    d["spec"]["replicas"] = serde_json::json!(3);
    c.sim.apply(d).unwrap();

    wait_until("drain finishes once the PDB allows", 40, || {
        drain.has_ended()
    })
    .await;
    let drained = drain.finish().expect_exit(0);
    let (out, err) = (drained.stdout, drained.stderr);
    assert!(
        out.contains("evicted") && out.contains("node/node-1 drained"),
        "{out}"
    );
    assert!(
        err.contains("Cannot evict pod as it would violate the pod's disruption budget"),
        "{err}"
    );
    assert!(err.contains("ignoring DaemonSet-managed Pods"), "{err}");
    assert!(pods_on(&c, "node-1", "web").is_empty());
    assert_eq!(
        pods_on(&c, "node-1", "agent").len(),
        1,
        "DaemonSet pods stay"
    );
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_restart_then_status_completes() {
    let c = cluster().await;
    let before: Vec<String> = c
        .sim
        .list("pods", Some("default"))
        .iter()
        .filter(|p| p["metadata"]["labels"]["app"] == "web")
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    c.ok(&["rollout", "restart", "deployment/web"]).await;
    let out = c
        .ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let d = c.sim.get("deployments", Some("default"), "web").unwrap();
    assert!(
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string()
    );
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    assert_eq!(d["status"]["updatedReplicas"], 2);
    let after = c.ok(&["get", "pods", "-l", "app=web", "-o", "name"]).await;
    wait_until("old pods gone", 20, || {
        c.sim
            .list("pods", Some("default"))
            .iter()
            .all(|p| !before.contains(&p["metadata"]["name"].as_str().unwrap().to_string()))
    })
    .await;
    assert!(!after.is_empty());
    let out = c.ok(&["rollout", "history", "deployment/web"]).await;
    assert!(out.contains('2'), "{out}");
    c.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_pod_honours_grace_period() {
    let c = cluster().await;
    let pod = pods_on(&c, "node-1", "web")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    // A container that ignores SIGTERM is killed when the grace period ends:
    // 300 s scaled by Timing::fast (x0.01) is 3 s.
    c.ok(&[
        "annotate",
        "pod",
        &pod,
        "sim.oncall.dev/fault=slow-termination",
    ])
    .await;
    let t0 = Instant::now();
    c.ok(&["delete", "pod", &pod, "--grace-period=300", "--wait=false"])
        .await;
    let v = c
        .sim
        .get("pods", Some("default"), &pod)
        .expect("still there while terminating");
    assert!(v["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(v["metadata"]["deletionGracePeriodSeconds"], 300);
    let out = c.ok(&["get", "pod", &pod]).await;
    assert_eq!(rows(&out)[1][2], "Terminating", "{out}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        c.sim.get("pods", Some("default"), &pod).is_some(),
        "gone before its grace period"
    );
    wait_until("pod removal after grace", 15, || {
        c.sim.get("pods", Some("default"), &pod).is_none()
    })
    .await;
    assert!(t0.elapsed() >= Duration::from_millis(2500));
    // The ReplicaSet replaced it.
    wait_until("replacement", 10, || {
        c.sim
            .list("pods", Some("default"))
            .iter()
            .filter(|p| {
                p["metadata"]["labels"]["app"] == "web" && p["status"]["phase"] == "Running"
            })
            .count()
            == 2
    })
    .await;
    // --grace-period=0 --force removes at once.
    let pod = pods_on(&c, "node-2", "web")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    c.ok(&["delete", "pod", &pod, "--grace-period=0", "--force"])
        .await;
    assert!(c.sim.get("pods", Some("default"), &pod).is_none());
    c.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_sees_changes() {
    let c = cluster().await;
    let watch = c.kubectl_spawn(&["get", "pods", "-w", "-l", "app=web"]);
    // The header and the two existing pods.
    wait_for_stdout(&watch, 20, |s| s.matches('\n').count() >= 3).await;
    let initial: Vec<String> = watch
        .stdout()
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    let mut d = c.sim.get("deployments", Some("default"), "web").unwrap();
    d["spec"]["replicas"] = serde_json::json!(3);
    c.sim.apply(d).unwrap();
    let is_new = |l: &str| {
        l.split_whitespace()
            .next()
            .is_some_and(|n| n.starts_with("web-") && !initial.iter().any(|i| i == n))
    };
    wait_for_stdout(&watch, 20, |s| {
        s.lines()
            .any(|l| is_new(l) && l.contains("Running") && s.ends_with('\n'))
    })
    .await;
    let seen = watch.kill().stdout;
    let lines: Vec<&str> = seen.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{seen}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("NAME")).count(),
        1,
        "one header: {seen}"
    );
    assert!(
        lines
            .iter()
            .any(|l| is_new(l) && (l.contains("Pending") || l.contains("ContainerCreating"))),
        "{seen}"
    );
    c.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_pool_node_is_replaced() {
    let c = cluster().await;
    c.ok(&["delete", "node", "node-2"]).await;
    wait_until("replacement node", 15, || {
        c.sim.list("nodes", None).iter().any(|n| {
            let name = n["metadata"]["name"].as_str().unwrap();
            name.starts_with("node-") && name != "node-1" && name != "node-2"
        })
    })
    .await;
    let out = c.ok(&["get", "nodes"]).await;
    assert_eq!(rows(&out).len(), 3, "{out}");
    assert!(!out.contains("node-2 "), "{out}");
    c.sim.shutdown().await;
}

/// Expired credentials and RBAC refusals read to kubectl as a real API
/// server's do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_credentials_and_rbac_refusals() {
    let c = cluster().await;
    c.sim
        .set_faults(oncall_sim::FaultSpec::parse("forbid=patch:nodes").unwrap());
    // (kubectl cordon reports the refusal but still exits 0.)
    // kubectl cordon exits 0 even when refused: the message is the evidence.
    let out = c.kubectl(&["cordon", "node-1"]).await;
    let stderr = out.stderr;
    assert!(
        stderr.contains("unable to cordon node \"node-1\": nodes \"node-1\" is forbidden: User \"system:serviceaccount:oncall:sandbox\" cannot patch resource \"nodes\" in API group \"\" at the cluster scope"),
        "{stderr}"
    );
    assert!(c.sim.get("nodes", None, "node-1").unwrap()["spec"]["unschedulable"].is_null());
    // Reading is still allowed.
    c.ok(&["get", "nodes"]).await;
    c.sim
        .set_faults(oncall_sim::FaultSpec::parse("auth=expired").unwrap());
    let out = c.kubectl(&["get", "nodes"]).await.expect_exit(1);
    let stderr = out.stderr;
    assert!(
        stderr.contains("You must be logged in to the server (Unauthorized)"),
        "{stderr}"
    );
    c.sim.shutdown().await;
}

/// kubectl's create generators send protobuf, which the simulator does not
/// read: the refusal says how to send the same object, and that works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protobuf_create_is_refused_with_the_way_round_it() {
    let c = cluster().await;
    let refused = c
        .kubectl(&[
            "create",
            "configmap",
            "settings",
            "--from-literal=mode=fast",
        ])
        .await
        .expect_exit(1);
    assert!(
        refused
            .stderr
            .contains("pipe them through `--dry-run=client -o yaml | kubectl create -f -`"),
        "{}",
        refused.stderr
    );
    assert!(
        c.sim
            .get("configmaps", Some("default"), "settings")
            .is_none()
    );
    let yaml = c
        .ok(&[
            "create",
            "configmap",
            "settings",
            "--from-literal=mode=fast",
            "--dry-run=client",
            "-o",
            "yaml",
        ])
        .await;
    let cmd = c.kubectl_cmd(&["create", "-f", "-"]).stdin(yaml);
    let created = tokio::task::spawn_blocking(move || cmd.run())
        .await
        .unwrap()
        .expect_exit(0);
    assert!(
        created.stdout.contains("configmap/settings created"),
        "{}",
        created.stdout
    );
    let stored = c
        .sim
        .get("configmaps", Some("default"), "settings")
        .unwrap();
    assert_eq!(stored["data"]["mode"], "fast");
    c.sim.shutdown().await;
}
