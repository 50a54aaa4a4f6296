//! `kubectl get` against the demo cluster shows the real columns and values,
//! with more than one kubectl minor (the dispatcher picks the kubectl that
//! matches the server's reported version).

mod common;

use common::{Cluster, rows};
use oncall_sim::Seed;

async fn client_minor(c: &Cluster) -> String {
    let out = c.ok(&["version", "-o", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&out).expect("version json");
    v["clientVersion"]["minor"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

async fn check_get(c: &Cluster) {
    check_nodes(c).await;
    check_pods(c).await;
    check_workloads(c).await;
    check_selectors(c).await;
}

/// Nodes: NAME STATUS ROLES AGE VERSION
async fn check_nodes(c: &Cluster) {
    let out = c.ok(&["get", "nodes"]).await;
    let r = rows(&out);
    assert_eq!(r[0], ["NAME", "STATUS", "ROLES", "AGE", "VERSION"], "{out}");
    assert_eq!(r.len(), 7, "{out}");
    assert!(
        r[1..]
            .iter()
            .all(|row| row[1] == "Ready" && row[2] == "<none>" && row[3] == "41d"),
        "{out}"
    );
    assert!(r[1][0].starts_with("gke-demo-pool-a-"), "{out}");
}

/// Pods across namespaces, with kubectl's STATUS values for the broken ones,
/// and the priority-1 columns of -o wide.
async fn check_pods(c: &Cluster) {
    let out = c.ok(&["get", "pods", "-A"]).await;
    let r = rows(&out);
    assert_eq!(
        r[0],
        ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{out}"
    );
    let status_of = |prefix: &str| {
        r.iter()
            .find(|row| row[1].starts_with(prefix))
            .map(|row| row[3].clone())
            .unwrap_or_else(|| panic!("no pod {prefix} in\n{out}"))
    };
    assert_eq!(status_of("frontend-"), "Running");
    assert!(
        ["CrashLoopBackOff", "Running"].contains(&status_of("search-indexer-").as_str()),
        "{out}"
    );
    assert_eq!(status_of("report-worker-"), "CreateContainerConfigError");
    assert!(
        ["ImagePullBackOff", "ErrImagePull"].contains(&status_of("image-proxy-").as_str()),
        "{out}"
    );
    assert_eq!(status_of("geo-sync-"), "ContainerCreating");
    assert_eq!(status_of("ml-batch-"), "Pending");
    assert_eq!(status_of("legacy-importer"), "Terminating");
    assert_eq!(status_of("rabbitmq-0"), "Running");
    let crash = r
        .iter()
        .find(|row| row[1].starts_with("search-indexer-"))
        .expect("crash pod");
    assert!(
        crash[4].contains("ago)"),
        "restarts column shows the last restart: {out}"
    );
    let frontend = r
        .iter()
        .find(|row| row[0] == "production" && row[1].starts_with("frontend-"))
        .expect("frontend");
    assert_eq!(frontend[2], "1/1");

    // -o wide adds the priority-1 columns.
    let out = c
        .ok(&["get", "pods", "-n", "production", "-o", "wide"])
        .await;
    assert!(
        out.lines().next().unwrap().contains("IP")
            && out.contains("NOMINATED NODE")
            && out.contains("READINESS GATES"),
        "{out}"
    );
    assert!(out.contains("gke-demo-pool-"), "{out}");
}

/// Deployments (NAME READY UP-TO-DATE AVAILABLE AGE) and the other printers.
async fn check_workloads(c: &Cluster) {
    let out = c.ok(&["get", "deploy", "-A"]).await;
    let r = rows(&out);
    assert_eq!(
        r[0],
        [
            "NAMESPACE",
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE"
        ],
        "{out}"
    );
    let fe = r
        .iter()
        .find(|row| row[0] == "staging" && row[1] == "frontend")
        .expect("frontend");
    assert_eq!(&fe[2..5], ["3/3", "3", "3"], "{out}");
    let ml = r.iter().find(|row| row[1] == "ml-batch").expect("ml-batch");
    assert_eq!(ml[2], "0/1");

    // Other printers.
    let out = c.ok(&["get", "sts,ds", "-A"]).await;
    assert!(
        out.contains("statefulset.apps/rabbitmq") && out.contains("3/3"),
        "{out}"
    );
    assert!(
        out.contains("daemonset.apps/node-exporter") && out.contains("NODE SELECTOR"),
        "{out}"
    );
    let out = c.ok(&["get", "svc", "-n", "production"]).await;
    assert!(
        out.contains("LoadBalancer") && out.contains("203.0.113.20"),
        "{out}"
    );
    let out = c
        .ok(&["get", "endpoints", "frontend", "-n", "production"])
        .await;
    assert_eq!(rows(&out)[1][1].matches(":8080").count(), 3, "{out}");
    let out = c.ok(&["get", "pdb", "-n", "staging"]).await;
    assert!(
        rows(&out)[0].contains(&"ALLOWED DISRUPTIONS".to_string()),
        "{out}"
    );
    let out = c
        .ok(&[
            "get",
            "events",
            "-n",
            "production",
            "--field-selector",
            "reason=FailedScheduling",
        ])
        .await;
    assert!(out.contains("0/6 nodes are available"), "{out}");
}

/// Short names, label and field selectors, a single object.
async fn check_selectors(c: &Cluster) {
    let out = c
        .ok(&[
            "get",
            "po",
            "-n",
            "staging",
            "-l",
            "app.kubernetes.io/name in (fetcher,renderer)",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(out.lines().count(), 4, "{out}");
    let node = "gke-demo-pool-a-8f3c2a1d-x7k2";
    let out = c
        .ok(&[
            "get",
            "pods",
            "-A",
            "--field-selector",
            &format!("spec.nodeName={node}"),
            "-o",
            "wide",
        ])
        .await;
    assert!(
        rows(&out)[1..]
            .iter()
            .all(|row| row.contains(&node.to_string())),
        "{out}"
    );
    let out = c
        .ok(&[
            "get",
            "no",
            node,
            "-o",
            "jsonpath={.metadata.labels.cloud\\.google\\.com/gke-nodepool}",
        ])
        .await;
    assert_eq!(out, "pool-a");
    let out = c
        .kubectl(&["get", "pod", "nope", "-n", "staging"])
        .await
        .expect_exit(1);
    assert!(out.stderr.contains("pods \"nope\" not found"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_shows_real_columns_on_two_kubectl_minors() {
    let c = Cluster::start(Seed::Demo).await;
    assert_eq!(client_minor(&c).await, "33");
    check_get(&c).await;

    c.sim.shutdown().await;

    // The dispatcher runs the kubectl matching the server (and remembers the
    // choice per cache), so a fresh cluster reporting 1.29 gets kubectl 1.29.
    let c = Cluster::start(Seed::Demo).await;
    c.sim.set_server_version("v1.29.14");
    assert_eq!(client_minor(&c).await, "29");
    check_get(&c).await;
    c.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_returns_every_object_once() {
    let c = Cluster::start(Seed::Demo).await;
    let all = c.ok(&["get", "pods", "-A", "-o", "name"]).await;
    let paged = c
        .ok(&["get", "pods", "-A", "-o", "name", "--chunk-size", "3"])
        .await;
    assert_eq!(all, paged);
    assert!(all.lines().count() > 20);
    c.sim.shutdown().await;
}
