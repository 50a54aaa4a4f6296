//! The simulated controllers, driven through the store: StatefulSet rolling
//! updates, node lifecycle, Jobs, per-image faults, Recreate, exec, scale.

mod common;

use std::time::{Duration, Instant};

use common::{Cluster, ConfigMap, Node, Pod, Workload, rows, wait_until};
use oncall_sim::{FaultSpec, Seed, Timing};
use serde_json::{Value, json};

fn pods(c: &Cluster, ns: &str, app: &str) -> Vec<Value> {
    c.sim
        .list("pods", Some(ns))
        .into_iter()
        .filter(|p| {
            p["metadata"]["labels"]["app.kubernetes.io/name"] == app
                || p["metadata"]["labels"]["app"] == app
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_rolls_from_the_highest_ordinal() {
    let c = Cluster::start(Seed::Demo).await;
    let sts = c
        .sim
        .get("statefulsets", Some("rabbitmq"), "rabbitmq")
        .unwrap();
    assert_eq!(sts["status"]["readyReplicas"], 3);
    let old_rev = sts["status"]["updateRevision"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sts["status"]["currentRevision"], old_rev.as_str());
    c.ok(&[
        "-n",
        "rabbitmq",
        "set",
        "image",
        "statefulset/rabbitmq",
        "rabbitmq=docker.io/library/rabbitmq:4.0.5-management",
    ])
    .await;
    let out = c
        .ok(&[
            "-n",
            "rabbitmq",
            "rollout",
            "status",
            "statefulset/rabbitmq",
            "--timeout=60s",
        ])
        .await;
    assert!(
        out.contains("partitioned roll out complete") || out.contains("rolling update complete"),
        "{out}"
    );
    let sts = c
        .sim
        .get("statefulsets", Some("rabbitmq"), "rabbitmq")
        .unwrap();
    let new_rev = sts["status"]["updateRevision"].as_str().unwrap();
    assert_ne!(new_rev, old_rev);
    assert_eq!(sts["status"]["currentRevision"], new_rev);
    for p in pods(&c, "rabbitmq", "rabbitmq") {
        assert_eq!(p["metadata"]["labels"]["controller-revision-hash"], new_rev);
        assert_eq!(
            p["spec"]["containers"][0]["image"],
            "docker.io/library/rabbitmq:4.0.5-management"
        );
    }
    let out = c
        .ok(&["get", "controllerrevisions", "-n", "rabbitmq"])
        .await;
    assert_eq!(rows(&out).len(), 3, "{out}");
    c.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_node_is_tainted_and_its_pods_move() {
    let c = Cluster::start(Seed::Demo).await;
    let node = "gke-demo-pool-a-8f3c2a1d-x7k2";
    let on_node: Vec<String> = c
        .sim
        .list("pods", Some("production"))
        .iter()
        .filter(|p| p["spec"]["nodeName"] == node)
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(!on_node.is_empty());
    let mut n = c.sim.get("nodes", None, node).unwrap();
    for cond in n["status"]["conditions"].as_array_mut().unwrap() {
        if cond["type"] == "Ready" {
            cond["status"] = json!("Unknown");
            cond["reason"] = json!("NodeStatusUnknown");
        }
    }
    c.sim.apply(n).unwrap();
    wait_until("unreachable taint", 10, || {
        c.sim.get("nodes", None, node).unwrap()["spec"]["taints"]
            .as_array()
            .is_some_and(|t| {
                t.iter().any(|t| {
                    t["key"] == "node.kubernetes.io/unreachable" && t["effect"] == "NoExecute"
                })
            })
    })
    .await;
    // kubectl shows an unreachable node as NotReady, as a real API server does.
    let out = c.ok(&["get", "node", node]).await;
    assert_eq!(rows(&out)[1][1], "NotReady", "{out}");
    // After the (scaled) toleration the pods are evicted and stay Terminating.
    wait_until("pods terminating", 15, || {
        on_node.iter().all(|p| {
            c.sim
                .get("pods", Some("production"), p)
                .is_some_and(|v| v["metadata"]["deletionTimestamp"].is_string())
        })
    })
    .await;
    let out = c
        .ok(&[
            "get",
            "pods",
            "-n",
            "production",
            "--field-selector",
            &format!("spec.nodeName={node}"),
        ])
        .await;
    assert!(
        rows(&out)[1..].iter().all(|r| r[2] == "Terminating"),
        "{out}"
    );
    // DaemonSet pods tolerate the taint without limit: they stay, as in a
    // real cluster, and no replacement is made elsewhere.
    let daemons: Vec<serde_json::Value> = c
        .sim
        .list("pods", Some("monitoring"))
        .into_iter()
        .filter(|p| p["spec"]["nodeName"] == node)
        .collect();
    assert_eq!(daemons.len(), 1, "{daemons:#?}");
    assert!(daemons[0]["metadata"]["deletionTimestamp"].is_null());
    assert_eq!(
        daemons[0]["metadata"]["ownerReferences"][0]["kind"],
        "DaemonSet"
    );
    // Their Deployments get back to full strength elsewhere.
    wait_until("frontend available again", 15, || {
        let d = c
            .sim
            .get("deployments", Some("production"), "frontend")
            .unwrap();
        d["status"]["availableReplicas"] == 3
    })
    .await;
    c.sim.shutdown().await;
}

/// Image faults for a bad release; a Job that succeeds and one that fails;
/// a Recreate Deployment `api`.
fn jobs() -> String {
    let migrate = |name: &str, tag: &str| {
        Workload::job("default", name).container(
            "migrate",
            &format!("registry.example.com/app/migrate:{tag}"),
        )
    };
    Node::new("n1").yaml()
        + &ConfigMap::image_faults(
            "kube-system",
            &[
                "# a bad release of the app",
                "registry.example.com/app/api:bad* crash-loop exit-code=2",
                "registry.example.com/app/migrate:bad job-fail exit-code=1",
            ],
        )
        .yaml()
        + &migrate("migrate-ok", "good").yaml()
        + &migrate("migrate-bad", "bad")
            .set("/spec/backoffLimit", json!(1))
            .yaml()
        + &Workload::deployment("default", "api")
            .replicas(2)
            .strategy("Recreate")
            .container("api", "registry.example.com/app/api:v1")
            .yaml()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_image_faults_and_recreate() {
    let c = Cluster::yaml(&jobs()).await;
    let job_cond = |name: &str, t: &str| {
        c.sim.get("jobs", Some("default"), name).is_some_and(|j| {
            j["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|x| x["type"] == t && x["status"] == "True"))
        })
    };
    wait_until("migrate-ok completes", 15, || {
        job_cond("migrate-ok", "Complete")
    })
    .await;
    wait_until("migrate-bad fails", 15, || {
        job_cond("migrate-bad", "Failed")
    })
    .await;
    let bad = c.sim.get("jobs", Some("default"), "migrate-bad").unwrap();
    assert_eq!(bad["status"]["failed"], 2);
    let out = c.ok(&["get", "jobs"]).await;
    let r = rows(&out);
    assert_eq!(&r[0][..3], ["NAME", "STATUS", "COMPLETIONS"], "{out}");
    assert!(
        r.iter()
            .any(|x| x[0] == "migrate-ok" && x[1] == "Complete" && x[2] == "1/1"),
        "{out}"
    );
    assert!(
        r.iter().any(|x| x[0] == "migrate-bad" && x[1] == "Failed"),
        "{out}"
    );

    // A bad release: the new image crash-loops; Recreate stops the old pods first.
    c.ok(&[
        "set",
        "image",
        "deployment/api",
        "api=registry.example.com/app/api:bad-1",
    ])
    .await;
    wait_until("crash loop", 15, || {
        let ps = pods(&c, "default", "api");
        ps.len() == 2
            && ps.iter().all(|p| {
                p["spec"]["containers"][0]["image"] == "registry.example.com/app/api:bad-1"
            })
            && ps.iter().any(|p| {
                p["status"]["containerStatuses"][0]["restartCount"]
                    .as_i64()
                    .unwrap_or(0)
                    >= 1
            })
    })
    .await;
    let p = pods(&c, "default", "api").remove(0);
    assert_eq!(
        p["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
        2
    );
    let out = c
        .kubectl(&["rollout", "status", "deployment/api", "--timeout=2s"])
        .await;
    assert_eq!(
        out.code, 1,
        "a crash-looping rollout does not complete: {out}"
    );
    // Rolling back fixes it.
    c.ok(&["rollout", "undo", "deployment/api"]).await;
    let out = c
        .ok(&["rollout", "status", "deployment/api", "--timeout=60s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    // Undo reuses the old ReplicaSet as the newest revision, like the real controller.
    let out = c.ok(&["rollout", "history", "deployment/api"]).await;
    let revs: Vec<String> = rows(&out)[2..].iter().map(|r| r[0].clone()).collect();
    assert_eq!(revs, ["2", "3"], "{out}");
    let rs = c.sim.list("replicasets", Some("default"));
    assert_eq!(
        rs.iter()
            .filter(|r| r["metadata"]["labels"]["app"] == "api")
            .count(),
        2
    );
    c.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_deadline_is_reported() {
    let c = Cluster::yaml(&jobs()).await;
    let mut d = c.sim.get("deployments", Some("default"), "api").unwrap();
    d["spec"]["progressDeadlineSeconds"] = json!(100); // 1 s with Timing::fast
    d["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("registry.example.com/app/api:bad-2");
    c.sim.apply(d).unwrap();
    let out = c
        .kubectl(&["rollout", "status", "deployment/api", "--timeout=30s"])
        .await;
    let out = out.expect_exit(1);
    assert!(
        out.stderr.contains("exceeded its progress deadline"),
        "{out}"
    );
    c.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_is_scripted_per_pod() {
    let c = Cluster::start(Seed::Demo).await;
    let out = c
        .ok(&[
            "exec",
            "-n",
            "rabbitmq",
            "rabbitmq-0",
            "--",
            "rabbitmq-diagnostics",
            "maybe_stuck",
        ])
        .await;
    assert_eq!(out, "There are 0 stuck processes.\nDone.\n");
    let out = c
        .ok(&["exec", "-n", "rabbitmq", "rabbitmq-1", "--", "hostname"])
        .await;
    assert_eq!(out, "rabbitmq-1\n");
    let out = c
        .kubectl(&["exec", "-n", "rabbitmq", "rabbitmq-1", "--", "false"])
        .await;
    out.expect_exit(1);
    c.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_cluster_is_settled_and_pages_fast() {
    let t = Instant::now();
    let c = Cluster::start(Seed::Generated {
        nodes: 200,
        pods_per_node: 30,
    })
    .await;
    let started = t.elapsed();
    assert!(started < Duration::from_secs(20), "{started:?}");
    assert_eq!(c.sim.list("nodes", None).len(), 200);
    let out = c
        .ok(&["get", "pods", "-A", "--chunk-size=500", "-o", "name"])
        .await;
    assert_eq!(out.lines().count(), 6000);
    let out = c.ok(&["get", "deploy", "-n", "payments"]).await;
    let r = rows(&out);
    assert!(
        r[1..]
            .iter()
            .all(|x| x[1].split('/').next() == x[1].split('/').nth(1)),
        "all ready: {out}"
    );
    let out = c.ok(&["get", "pdb", "-A"]).await;
    assert!(rows(&out).len() > 10, "{out}");
    // The controllers leave a settled cluster alone: no pod is rewritten.
    let before = c.sim.request_count();
    let pods_before = c.sim.list("pods", Some("payments"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(c.sim.list("pods", Some("payments")), pods_before);
    assert_eq!(c.sim.request_count(), before);
    c.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_applied_as_running_stays_running() {
    let c = Cluster::yaml(&jobs()).await;
    c.sim
        .apply(
            Pod::new("default", "static")
                .node_name("n1")
                .set("/spec/containers", json!([{"name": "c", "image": "i:1"}]))
                .phase("Running")
                .condition(json!({"type": "Ready", "status": "True"}))
                .container_status(
                    json!({"name": "c", "image": "i:1", "ready": true, "restartCount": 0,
                    "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}}),
                )
                .into_value(),
        )
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let p = c.sim.get("pods", Some("default"), "static").unwrap();
    assert_eq!(p["status"]["phase"], "Running");
    assert_eq!(p["status"]["containerStatuses"][0]["ready"], true, "{p}");
    let out = c.ok(&["get", "pod", "static"]).await;
    assert_eq!(&rows(&out)[1][1..3], ["1/1", "Running"], "{out}");
    c.sim.shutdown().await;
}

/// Two Jobs of the same builder: one plays `job-hang`, one finishes.
fn hung_and_finishing_jobs() -> String {
    let build = |name: &str| Workload::job("default", name).container("build", "powo/builder:4.2");
    Node::new("n1").yaml() + &build("hangs").fault("job-hang").yaml() + &build("finishes").yaml()
}

/// `job-hang` keeps a Job running past its duration, and a followed log of
/// a Job pod ends when its container stops, as a kubelet ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_job_runs_on_and_a_finished_pods_followed_log_ends() {
    let timing = Timing {
        job_duration: Duration::from_secs(3),
        ..Timing::fast()
    };
    let c = Cluster::start_timed(
        common::yaml(&hung_and_finishing_jobs()),
        FaultSpec::default(),
        timing,
    )
    .await;
    let pod_of = |job: &str| {
        c.sim
            .list("pods", Some("default"))
            .into_iter()
            .find(|p| p["metadata"]["labels"]["job-name"] == job)
    };
    let running = |job: &str| {
        pod_of(job)
            .is_some_and(|p| p["status"]["containerStatuses"][0]["state"]["running"].is_object())
    };
    wait_until("both jobs' pods run", 15, || {
        running("hangs") && running("finishes")
    })
    .await;
    let pod = pod_of("finishes").unwrap()["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let mut follow = c.kubectl_spawn(&["logs", "-f", &pod]);
    wait_until("logs -f ends once the container stopped", 15, || {
        follow.has_ended()
    })
    .await;
    // The job controller counts the success on its next pass after the
    // container stopped, which may come just after the log ends.
    let succeeded =
        || c.sim.get("jobs", Some("default"), "finishes").unwrap()["status"]["succeeded"] == 1;
    wait_until("the finished job counts its success", 15, succeeded).await;
    // Well past the job duration, the hung job is still running.
    assert!(running("hangs"));
    let hung = c.sim.get("jobs", Some("default"), "hangs").unwrap();
    assert!(hung["status"]["conditions"].is_null(), "{hung}");
    assert_eq!(hung["status"]["active"], 1, "{hung}");
    c.sim.shutdown().await;
}

/// The Ready condition of an object's status: (status, reason, message).
fn ready_condition(object: &Value) -> (String, String, String) {
    let ready = object["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .cloned()
        .unwrap_or_default();
    let text = |k: &str| ready[k].as_str().unwrap_or_default().to_string();
    (text("status"), text("reason"), text("message"))
}

/// `kubelet-stopped` on a pod: it turns not Ready and, deleted, stays
/// Terminating, while its neighbour's deletion is confirmed. On a node: Ready
/// turns Unknown as the node lifecycle controller writes it when heartbeats
/// stop, the node is tainted unreachable, and it is back once the fault is
/// removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_kubelet_confirms_no_deletion_and_leaves_its_node_unknown() {
    let pod = |name: &str| Pod::new("default", name).node_name("n1").grace_period(1);
    let seed = Node::new("n1").yaml() + &Node::new("n2").yaml() + &pod("stopped").yaml();
    let c = Cluster::yaml(&(seed + &pod("running").yaml())).await;
    let pod_ready = |name: &str| {
        c.sim
            .get("pods", Some("default"), name)
            .map(|p| ready_condition(&p).0)
            .unwrap_or_default()
    };
    assert_eq!(pod_ready("stopped"), "True");
    let fault = "sim.oncall.dev/fault=kubelet-stopped";
    c.ok(&["annotate", "pod", "stopped", fault]).await;
    wait_until("the pod turns not Ready", 10, || {
        pod_ready("stopped") == "False"
    })
    .await;
    c.ok(&["delete", "pod", "stopped", "running", "--wait=false"])
        .await;
    wait_until("the other pod's deletion is confirmed", 15, || {
        c.sim.get("pods", Some("default"), "running").is_none()
    })
    .await;
    let out = c.ok(&["get", "pod", "stopped"]).await;
    assert_eq!(rows(&out)[1][2], "Terminating", "{out}");

    let unreachable = |taints: &Value| {
        taints.as_array().is_some_and(|t| {
            t.iter()
                .any(|t| t["key"] == "node.kubernetes.io/unreachable" && t["effect"] == "NoExecute")
        })
    };
    let n2 = || c.sim.get("nodes", None, "n2").unwrap();
    c.ok(&["annotate", "node", "n2", fault]).await;
    wait_until("n2 tainted unreachable", 10, || {
        unreachable(&n2()["spec"]["taints"])
    })
    .await;
    assert_eq!(
        ready_condition(&n2()),
        (
            "Unknown".to_string(),
            "NodeStatusUnknown".to_string(),
            "Kubelet stopped posting node status.".to_string()
        )
    );
    c.ok(&["annotate", "node", "n2", "sim.oncall.dev/fault-"])
        .await;
    wait_until("n2 Ready again, untainted", 10, || {
        let n = n2();
        ready_condition(&n).0 == "True" && !unreachable(&n["spec"]["taints"])
    })
    .await;
    c.sim.shutdown().await;
}

/// A failing container is started again or not as its pod's
/// `restartPolicy` says: Always and OnFailure loop (`job-fail` too, under
/// OnFailure), Never leaves the pod Failed with the container's exit; a
/// one-off pod without a fault ends Succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_container_is_restarted_as_its_restart_policy_says() {
    let pod = |name: &str, policy: &str, fault: &str| {
        Pod::new("default", name)
            .node_name("n1")
            .set("/spec/restartPolicy", json!(policy))
            .containers(&["c"])
            .fault(fault)
            .yaml()
    };
    let seed = Node::new("n1").yaml()
        + &pod("always", "Always", "crash-loop exit-code=3")
        + &pod("on-failure", "OnFailure", "crash-loop exit-code=3")
        + &pod("on-failure-job", "OnFailure", "job-fail exit-code=4")
        + &pod("never", "Never", "crash-loop exit-code=3")
        + &pod("never-oom", "Never", "oom-killed")
        + &pod("never-fine", "Never", "");
    let c = Cluster::yaml(&seed).await;
    let status = |name: &str| c.sim.get("pods", Some("default"), name).unwrap()["status"].clone();
    let restarts = |name: &str| status(name)["containerStatuses"][0]["restartCount"].as_i64();
    wait_until("the loops restart and the others end", 30, || {
        ["always", "on-failure", "on-failure-job"]
            .iter()
            .all(|p| restarts(p).unwrap_or(0) >= 2)
            && ["never", "never-oom", "never-fine"]
                .iter()
                .all(|p| status(p)["phase"] != "Running" && status(p)["phase"] != "Pending")
    })
    .await;
    for looping in ["always", "on-failure", "on-failure-job"] {
        assert_eq!(status(looping)["phase"], "Running", "{looping}");
    }
    let ended = |name: &str| status(name)["containerStatuses"][0]["state"]["terminated"].clone();
    assert_eq!(status("never")["phase"], "Failed");
    assert_eq!(ended("never")["exitCode"], 3);
    assert_eq!(restarts("never"), Some(0));
    assert_eq!(status("never-oom")["phase"], "Failed");
    assert_eq!(ended("never-oom")["reason"], "OOMKilled");
    assert_eq!(ended("never-oom")["exitCode"], 137);
    assert_eq!(status("never-fine")["phase"], "Succeeded");
    assert_eq!(ended("never-fine")["reason"], "Completed");
    c.sim.shutdown().await;
}
