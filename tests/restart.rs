//! `oncall restart` and `oncall rollout status` against the simulator, and
//! against the real kubectl for the rollout verdicts.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

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

/// Three pods, `db-0` to `db-2`.
fn statefulset() -> Workload {
    Workload::stateful_set("shop", "db")
        .replicas(3)
        .container("db", "shop/db:15")
}

fn daemonset(name: &str) -> Workload {
    Workload::daemon_set("shop", name).container(name, &format!("shop/{name}:1"))
}

fn cluster(workloads: &[Workload]) -> Harness {
    Harness::yaml(&workloads.iter().fold(nodes(), |seed, w| seed + &w.yaml()))
}

/// Pod names and uids of one app, sorted by name.
fn pods_of(h: &Harness, app: &str) -> Vec<(String, String)> {
    let mut pods: Vec<(String, String)> = h
        .list("pods", Some("shop"))
        .into_iter()
        .filter(|p| {
            p["metadata"]["labels"]["app"] == app && p["metadata"]["deletionTimestamp"].is_null()
        })
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_string(),
                p["metadata"]["uid"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    pods.sort();
    pods
}

fn uids(pods: &[(String, String)]) -> Vec<String> {
    pods.iter().map(|(_, u)| u.clone()).collect()
}

fn restarted_at(h: &Harness, resource: &str, name: &str) -> Option<String> {
    h.get(resource, Some("shop"), name)?["spec"]["template"]["metadata"]["annotations"]
        ["kubectl.kubernetes.io/restartedAt"]
        .as_str()
        .map(str::to_string)
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
fn a_healthy_restart_replaces_every_pod_and_completes() {
    let h = cluster(&[deployment("web", 3, "shop/web:1.0")]);
    let before = pods_of(&h, "web");
    assert_eq!(before.len(), 3);
    let run = h
        .oncall(&[
            "-n",
            "shop",
            "restart",
            "deployment/web",
            "--yes",
            "-o",
            "json",
        ])
        .expect_code(0);
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON report");
    let rollout = &report["rollouts"][0];
    assert_eq!(rollout["workload"], "deployment/web");
    assert_eq!(rollout["outcome"], "complete");
    assert_eq!(rollout["pods_replaced"].as_array().unwrap().len(), 3);
    let at = restarted_at(&h, "deployments", "web").expect("kubectl's restartedAt annotation");
    assert!(
        chrono::DateTime::parse_from_rfc3339(&at).is_ok(),
        "{at} is RFC 3339"
    );
    let after = pods_of(&h, "web");
    assert_eq!(after.len(), 3);
    assert!(
        uids(&after).iter().all(|u| !uids(&before).contains(u)),
        "every pod is new"
    );
    assert_eq!(ready_pods(&h, "web"), 3, "complete means ready");
    let entries = h.audit_entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["outcome"]["status"], "ok");
    assert_eq!(entries[0]["answer"], "yes_flag");
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

#[test]
fn a_paused_deployment_is_refused() {
    let h = cluster(&[deployment("web", 2, "shop/web:1.0").paused()]);
    let run = h
        .oncall(&["-n", "shop", "restart", "web", "--yes"])
        .expect_code(1);
    assert!(
        run.stderr.contains("kubectl rollout resume deployment/web"),
        "{}",
        run.stderr
    );
    assert_eq!(
        restarted_at(&h, "deployments", "web"),
        None,
        "nothing was patched"
    );
}

#[test]
fn a_statefulset_restarts_highest_ordinal_first() {
    let h = cluster(&[statefulset()]);
    let before = pods_of(&h, "db");
    assert_eq!(before.len(), 3);
    // The verdict from `-o json`: "complete" in the text would also match a
    // rollout still "waiting for statefulset rolling update to complete".
    let report = h
        .oncall(&["-n", "shop", "restart", "sts/db", "--yes", "-o", "json"])
        .expect_exit(0)
        .json();
    assert_eq!(
        report["restarted"],
        serde_json::json!(["statefulset/db"]),
        "{report:#}"
    );
    let rollout = &report["rollouts"][0];
    assert_eq!(rollout["workload"], "statefulset/db", "{report:#}");
    assert_eq!(rollout["outcome"], "complete", "{report:#}");
    let after = pods_of(&h, "db");
    let names: Vec<&str> = after.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["db-0", "db-1", "db-2"], "stable names");
    assert!(
        uids(&after).iter().all(|u| !uids(&before).contains(u)),
        "every pod is new"
    );
    // The controller's "create Pod" events, in the order they last happened.
    let mut creations: Vec<(u64, String)> = h
        .list("events", Some("shop"))
        .into_iter()
        .filter(|e| e["reason"] == "SuccessfulCreate" && e["involvedObject"]["name"] == "db")
        .map(|e| {
            (
                e["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    creations.sort();
    let order: Vec<String> = creations
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(|(_, m)| m.split_whitespace().nth(2).unwrap_or("").to_string())
        .collect();
    assert_eq!(
        order,
        ["db-2", "db-1", "db-0"],
        "one at a time, highest ordinal first"
    );
}

#[test]
fn a_daemonset_restarts_on_every_node() {
    let h = cluster(&[daemonset("agent")]);
    let before = pods_of(&h, "agent");
    assert_eq!(before.len(), 3, "one per node");
    let run = h
        .oncall(&["-n", "shop", "restart", "agent", "--yes"])
        .expect_code(0);
    assert!(run.stdout.contains("daemonset/agent"), "{}", run.stdout);
    let after = pods_of(&h, "agent");
    assert_eq!(after.len(), 3);
    assert!(
        uids(&after).iter().all(|u| !uids(&before).contains(u)),
        "every pod is new"
    );
    assert!(restarted_at(&h, "daemonsets", "agent").is_some());
}

#[test]
fn bad_pods_evicts_only_the_broken_pod() {
    let h = cluster(&[deployment("api", 3, "shop/api:1")]);
    let before = pods_of(&h, "api");
    let broken = before[0].0.clone();
    h.kubectl(&[
        "-n",
        "shop",
        "annotate",
        "pod",
        &broken,
        "sim.oncall.dev/fault=crash-loop",
    ])
    .expect_code(0);
    assert!(
        eventually(Duration::from_secs(10), || {
            h.get("pods", Some("shop"), &broken).is_some_and(|p| {
                p["status"]["containerStatuses"][0]["restartCount"].as_i64() >= Some(2)
            })
        }),
        "the pod crash-loops"
    );
    let run = h
        .oncall(&[
            "-n",
            "shop",
            "restart",
            "--bad-pods",
            "deployment/api",
            "--yes",
        ])
        .expect_code(0);
    assert!(run.stdout.contains(&broken), "{}", run.stdout);
    assert!(run.stdout.contains("healthy: left alone"), "{}", run.stdout);
    let after = pods_of(&h, "api");
    assert!(
        !after.iter().any(|(n, _)| *n == broken),
        "the broken pod is gone"
    );
    for healthy in &before[1..] {
        assert!(after.contains(healthy), "{} was left alone", healthy.0);
    }
    assert_eq!(after.len(), 3, "a replacement took its place");
    assert_eq!(
        restarted_at(&h, "deployments", "api"),
        None,
        "no rolling restart"
    );
}

#[test]
fn dry_run_changes_nothing() {
    let h = cluster(&[deployment("web", 2, "shop/web:1.0")]);
    let before = pods_of(&h, "web");
    let run = h
        .oncall(&["-n", "shop", "restart", "web", "--dry-run"])
        .expect_code(0);
    assert!(
        run.stdout.contains("deployment/web"),
        "the plan is shown:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("2 replicas"), "{}", run.stdout);
    assert_eq!(restarted_at(&h, "deployments", "web"), None);
    assert_eq!(pods_of(&h, "web"), before);
}

#[test]
fn without_a_tty_or_yes_it_refuses() {
    let h = cluster(&[deployment("web", 2, "shop/web:1.0")]);
    let run = h.oncall(&["-n", "shop", "restart", "web"]).expect_code(3);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert_eq!(restarted_at(&h, "deployments", "web"), None);
    assert_eq!(h.audit_entries()[0]["answer"], "refused");
}

#[test]
fn the_plan_warns_of_an_outage() {
    let h = cluster(&[deployment("cron", 1, "shop/cron:1").strategy("Recreate")]);
    let run = h
        .oncall(&["-n", "shop", "restart", "cron", "--dry-run"])
        .expect_code(0);
    assert!(run.stdout.contains("Recreate"), "{}", run.stdout);
    assert!(run.stdout.contains("outage"), "{}", run.stdout);
}

#[test]
fn an_ambiguous_name_without_a_tty_lists_the_candidates() {
    let h = cluster(&[deployment("db", 1, "shop/db-proxy:1"), statefulset()]);
    let run = h
        .oncall(&["-n", "shop", "restart", "db", "--yes"])
        .expect_code(2);
    assert!(run.stderr.contains("deployment/db"), "{}", run.stderr);
    assert!(run.stderr.contains("statefulset/db"), "{}", run.stderr);
}

#[test]
fn a_wait_that_runs_out_of_time_exits_5() {
    let h = cluster(&[deployment("slow", 2, "shop/never-ready:1")]);
    let run = h
        .oncall(&["-n", "shop", "rollout", "status", "slow", "--timeout", "1s"])
        .expect_code(5);
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
}

#[test]
fn rollout_status_verdicts_match_kubectl() {
    let h = cluster(&[
        deployment("web", 2, "shop/web:1.0"),
        deployment("crashy", 2, "shop/web:1.0"),
        deployment("stuck", 2, "shop/never-ready:1").set(
            "/spec/strategy",
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}),
        ),
        statefulset(),
        daemonset("agent"),
        daemonset("logs").strategy("OnDelete"),
    ]);
    // Only ordinals at or above the partition (2) take the new image.
    h.kubectl(&[
        "-n",
        "shop",
        "patch",
        "statefulset/db",
        "-p",
        r#"{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":2}}}}"#,
    ])
    .expect_code(0);
    h.kubectl(&[
        "-n",
        "shop",
        "set",
        "image",
        "statefulset/db",
        "db=shop/db:16",
    ])
    .expect_code(0);
    // A progress deadline of 100 s is 1 s in the simulator: `stuck` exceeds it.
    h.kubectl(&[
        "-n",
        "shop",
        "patch",
        "deployment/stuck",
        "-p",
        r#"{"spec":{"progressDeadlineSeconds":100}}"#,
    ])
    .expect_code(0);
    h.kubectl(&[
        "-n",
        "shop",
        "set",
        "image",
        "deployment/crashy",
        "crashy=shop/web:crash",
    ])
    .expect_code(0);
    for (target, rolled_out) in [
        ("deployment/web", true),
        ("statefulset/db", true),
        ("daemonset/agent", true),
        ("daemonset/logs", false),
        ("deployment/crashy", false),
        ("deployment/stuck", false),
    ] {
        let ours = h.oncall(&["-n", "shop", "rollout", "status", target, "--timeout", "5s"]);
        let theirs = h.kubectl(&["-n", "shop", "rollout", "status", target, "--timeout=5s"]);
        assert_eq!(
            ours.code == 0,
            theirs.code == 0,
            "{target}: oncall exit {} ({}{}), kubectl exit {} ({}{})",
            ours.code,
            ours.stdout,
            ours.stderr,
            theirs.code,
            theirs.stdout,
            theirs.stderr
        );
        assert_eq!(
            ours.code == 0,
            rolled_out,
            "{target}: {}{}",
            ours.stdout,
            ours.stderr
        );
    }
}

#[test]
fn a_statefulset_stuck_on_a_broken_pod_is_named_with_advice() {
    let h = cluster(&[statefulset()]);
    h.kubectl(&[
        "-n",
        "shop",
        "set",
        "image",
        "statefulset/db",
        "db=shop/web:crash",
    ])
    .expect_code(0);
    let run = h
        .oncall(&[
            "-n",
            "shop",
            "rollout",
            "status",
            "statefulset/db",
            "--timeout",
            "1m",
        ])
        .expect_code(1);
    assert!(run.stdout.contains("ordered rollout"), "{}", run.stdout);
    assert!(
        run.stdout.contains("db-2"),
        "the highest ordinal goes first:\n{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("kubectl delete pod db-2"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("fix the template"), "{}", run.stdout);
}

#[test]
fn a_daemonset_whose_new_pods_cannot_pull_fails() {
    let h = cluster(&[daemonset("agent")]);
    let faults = r#"{"data":{"rules":"shop/agent:missing image-pull\n"}}"#;
    h.kubectl(&[
        "-n",
        "kube-system",
        "patch",
        "configmap",
        "sim-image-faults",
        "-p",
        faults,
    ])
    .expect_code(0);
    h.kubectl(&[
        "-n",
        "shop",
        "set",
        "image",
        "daemonset/agent",
        "agent=shop/agent:missing",
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
            "ds/agent",
            "--timeout",
            "1m",
        ])
        .expect_code(1);
    let out: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(
        out[0]["failure"]["reason"], "ImagePullBackOff",
        "{}",
        run.stdout
    );
    assert!(
        out[0]["failure"]["pod"]
            .as_str()
            .unwrap()
            .starts_with("agent-")
    );
}

#[test]
fn on_delete_workloads_are_skipped_by_a_restart() {
    let h = cluster(&[daemonset("agent").strategy("OnDelete")]);
    let run = h
        .oncall(&["-n", "shop", "restart", "daemonset/agent", "--yes"])
        .expect_code(0);
    assert!(run.stdout.contains("OnDelete"), "{}", run.stdout);
    assert_eq!(restarted_at(&h, "daemonsets", "agent"), None);
}

#[test]
fn restart_by_label_selector_and_no_wait() {
    let h = cluster(&[
        deployment("web", 2, "shop/web:1.0"),
        deployment("api", 2, "shop/api:1"),
    ]);
    let run = h
        .oncall(&[
            "-n",
            "shop",
            "restart",
            "-l",
            "tier=api",
            "--no-wait",
            "--yes",
            "-o",
            "json",
        ])
        .expect_code(0);
    let rollouts = &run.json()["rollouts"];
    assert_eq!(rollouts.as_array().map(Vec::len), Some(1), "{}", run.stdout);
    assert_eq!(rollouts[0]["workload"], "deployment/api");
    assert_eq!(rollouts[0]["outcome"], "not_waited", "{}", run.stdout);
    assert!(restarted_at(&h, "deployments", "api").is_some());
    assert_eq!(restarted_at(&h, "deployments", "web"), None, "not selected");
    // kubectl agrees that the restart is a rollout it can follow.
    h.kubectl(&[
        "-n",
        "shop",
        "rollout",
        "status",
        "deployment/api",
        "--timeout=20s",
    ])
    .expect_code(0);
}

#[test]
fn bad_pods_respects_a_pdb_that_refuses_the_eviction() {
    let h = Harness::yaml(
        &(nodes() + &deployment("api", 3, "shop/api:1").yaml() + &pdb("shop", "api-pdb", "api", 3)),
    );
    let broken = pods_of(&h, "api")[0].0.clone();
    h.kubectl(&[
        "-n",
        "shop",
        "annotate",
        "pod",
        &broken,
        "sim.oncall.dev/fault=crash-loop",
    ])
    .expect_code(0);
    assert!(eventually(Duration::from_secs(10), || {
        h.get("pods", Some("shop"), &broken).is_some_and(|p| {
            p["status"]["containerStatuses"][0]["restartCount"].as_i64() >= Some(2)
        })
    }));
    let run = h
        .oncall(&["-n", "shop", "restart", "--bad-pods", "api", "--yes"])
        .expect_code(1);
    assert!(
        run.stdout.contains("api-pdb"),
        "the plan names the PDB:\n{}",
        run.stdout
    );
    assert!(run.stderr.contains("PodDisruptionBudget"), "{}", run.stderr);
    assert!(
        pods_of(&h, "api").iter().any(|(n, _)| *n == broken),
        "the PDB kept it"
    );
    let entries = h.audit_entries();
    assert_eq!(entries.last().unwrap()["outcome"]["status"], "failed");
}

#[test]
fn ctrl_c_while_waiting_stops_cleanly_and_is_recorded() {
    let h = cluster(&[deployment("slow", 2, "shop/web:1.0")]);
    // New pods of this image never become ready, so the wait goes on.
    h.kubectl(&[
        "-n",
        "shop",
        "set",
        "image",
        "deployment/slow",
        "slow=shop/never-ready:2",
    ])
    .expect_code(0);
    let child = h.spawn_oncall(&["-n", "shop", "restart", "slow", "--yes", "--timeout", "1m"]);
    let applied = eventually(Duration::from_secs(20), || {
        restarted_at(&h, "deployments", "slow").is_some()
    });
    if !applied {
        panic!("the restart was not applied; {}", child.kill());
    }
    child.signal(libc::SIGINT);
    let stderr = child.finish().expect_exit(130).stderr;
    assert!(
        stderr.contains("not done: waiting for `deployment/slow`; the rollouts themselves go on"),
        "{stderr}"
    );
    let entries = h.audit_entries();
    assert_eq!(entries.last().unwrap()["outcome"]["status"], "interrupted");
}

#[test]
fn bad_pods_evicts_the_pod_on_a_lost_node_among_many() {
    // More nodes than are read one by one, so the lean node list is used.
    let extra: String = (0..22)
        .map(|i| Node::new(&format!("extra-{i:02}")).yaml())
        .collect();
    // Node agents commonly tolerate every taint, so the pod stays on the
    // unreachable node.
    let agent = daemonset("agent").toleration(json!({"operator": "Exists"}));
    // The simulator evicts pods from an unreachable node after this delay
    // (300 s on a real cluster): long enough for the test to see them there.
    let timing = Timing {
        unreachable_eviction: Duration::from_secs(120),
        ..Timing::fast()
    };
    let h = Harness::yaml_with(&(nodes() + &extra + &agent.yaml()), timing);
    // The node stops reporting: its Ready condition turns Unknown.
    h.kubectl(&[
        "patch",
        "node",
        "extra-07",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Ready","status":"Unknown","reason":"NodeStatusUnknown"}]}}"#,
    ])
    .expect_code(0);
    let on_lost: Vec<String> = h
        .list("pods", Some("shop"))
        .into_iter()
        .filter(|p| p["spec"]["nodeName"] == "extra-07")
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(on_lost.len(), 1, "the DaemonSet put a pod on the lost node");
    let lost = &on_lost[0];
    let run = h
        .oncall(&[
            "-n",
            "shop",
            "restart",
            "--bad-pods",
            "ds/agent",
            "--dry-run",
        ])
        .expect_code(0);
    let evictions: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("pod/") && l.contains(" evict "))
        .collect();
    assert_eq!(evictions.len(), 1, "{}", run.stdout);
    assert!(
        evictions[0].contains(lost.as_str()) && evictions[0].contains("Unknown"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("24 pod(s)"),
        "3 + 21 healthy pods are left alone:\n{}",
        run.stdout
    );
    h.oncall(&[
        "-n",
        "shop",
        "restart",
        "--bad-pods",
        "ds/agent",
        "--yes",
        "--no-wait",
    ])
    .expect_code(0);
    assert!(
        h.get("pods", Some("shop"), lost)
            .is_none_or(|p| !p["metadata"]["deletionTimestamp"].is_null()),
        "the pod on the lost node was evicted"
    );
}

#[test]
fn each_kind_of_new_pod_failure_is_named() {
    let h = cluster(&[
        deployment("oom", 2, "shop/web:1.0"),
        deployment("pull", 2, "shop/web:1.0"),
        deployment("nowhere", 2, "shop/web:1.0"),
    ]);
    h.kubectl(&[
        "-n",
        "shop",
        "set",
        "image",
        "deployment/oom",
        "oom=shop/web:oom",
    ])
    .expect_code(0);
    h.kubectl(&[
        "-n",
        "shop",
        "set",
        "image",
        "deployment/pull",
        "pull=shop/web:missing",
    ])
    .expect_code(0);
    h.kubectl(&[
        "-n",
        "shop",
        "patch",
        "deployment/nowhere",
        "-p",
        r#"{"spec":{"template":{"spec":{"nodeSelector":{"pool":"gpu"}}}}}"#,
    ])
    .expect_code(0);
    for (name, reason) in [
        ("oom", "OOMKilled"),
        ("pull", "ImagePullBackOff"),
        ("nowhere", "Unschedulable"),
    ] {
        let run = h
            .oncall(&[
                "-n",
                "shop",
                "-o",
                "json",
                "rollout",
                "status",
                name,
                "--timeout",
                "1m",
            ])
            .expect_code(1);
        let out: Value = serde_json::from_str(&run.stdout).expect("JSON");
        assert_eq!(
            out[0]["failure"]["reason"], reason,
            "{name}: {}",
            run.stdout
        );
        assert!(out[0]["failure"]["pod"].as_str().unwrap().starts_with(name));
        assert!(out[0]["duration_seconds"].as_f64().unwrap() < 20.0);
    }
}

#[test]
fn the_wait_survives_watches_that_expire() {
    let h = cluster(&[deployment("web", 3, "shop/web:1.0")]);
    h.sim()
        .set_faults(FaultSpec::parse("watch-expiry=150ms,seed=3").unwrap());
    let run = h
        .oncall(&[
            "-n",
            "shop",
            "-o",
            "json",
            "restart",
            "web",
            "--yes",
            "--timeout",
            "1m",
        ])
        .expect_code(0);
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert_eq!(report["rollouts"][0]["outcome"], "complete");
    assert_eq!(ready_pods(&h, "web"), 3);
}

#[test]
fn restart_survives_a_flaky_api_server() {
    for_each_fault_seed(|seed| {
        let h = cluster(&[deployment("web", 3, "shop/web:1.0"), statefulset()]);
        let before = pods_of(&h, "web");
        h.sim().set_faults(flaky_api(seed));
        let run = h.oncall(&[
            "-n",
            "shop",
            "-o",
            "json",
            "restart",
            "web",
            "statefulset/db",
            "--yes",
            "--timeout",
            "1m",
        ]);
        h.sim().set_faults(FaultSpec::default());
        if run.code != 0 {
            return Err(format!("exit {}: {}{}", run.code, run.stdout, run.stderr));
        }
        let report: Value =
            serde_json::from_str(&run.stdout).map_err(|e| format!("{e}: {}", run.stdout))?;
        let complete = report["rollouts"]
            .as_array()
            .is_some_and(|r| r.len() == 2 && r.iter().all(|r| r["outcome"] == "complete"));
        if !complete || restarted_at(&h, "deployments", "web").is_none() {
            return Err(format!("not restarted: {}", run.stdout));
        }
        let after = pods_of(&h, "web");
        if ready_pods(&h, "web") != 3 || after.iter().any(|p| before.contains(p)) {
            return Err(format!("web pods {before:?} -> {after:?}"));
        }
        Ok(())
    });
}

#[test]
fn runbook_restart_and_rollout_status_steps_use_the_same_code() {
    let h = cluster(&[deployment("web", 2, "shop/web:1.0")]);
    let file = h.home.path().join("restart-web.yaml");
    std::fs::write(
        &file,
        r#"
name: restart-web
summary: Restart web and wait for it
params:
  image:
    type: string
    default: "shop/web:1.0"
steps:
  - id: restart
    title: Restart web
    restart:
      targets: ["deployment/web"]
      namespace: shop
      timeout: 1m
  - id: break
    title: Roll out an image
    shell: {argv: ["kubectl", "--kubeconfig", "KUBECONFIG_PATH", "-n", "shop", "set", "image", "deployment/web", "web={{ image }}"]}
  - id: rollout
    title: Wait for the rollout
    rollout_status:
      target: web
      namespace: shop
      timeout: 1m
"#
        .replace("KUBECONFIG_PATH", h.kubeconfig.to_str().unwrap()),
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let run = h.oncall(&["runbook", "run", path, "--yes"]);
    let run = run.expect_code(0);
    assert!(
        restarted_at(&h, "deployments", "web").is_some(),
        "{}",
        run.stdout
    );
    let run = h.oncall(&[
        "runbook",
        "run",
        path,
        "--yes",
        "--set",
        "image=shop/web:crash",
    ]);
    let run = run.expect_code(1);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("CrashLoopBackOff") || all.contains("keeps crashing"),
        "{all}"
    );
}
