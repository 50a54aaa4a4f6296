//! `oncall restart` and `oncall rollout status` on both backends, beside
//! `kubectl rollout`: restarts of each kind of workload, the plan, refusals
//! and dry runs, `--bad-pods` (a crash-looping pod, a budget that refuses, a
//! pod on a node whose kubelet died), and rollouts whose new pods fail in
//! each way a kubelet reports, failing fast while the old pods keep serving
//! and showing the crashed container's last log lines (kwok serves them on
//! the real control plane, as a kubelet does);
//! and restarts that finish under the simulator's API faults (watches that
//! expire, a flaky server), played in front of the real control plane by
//! the fault proxy.
mod common;
use common::*;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

on_both_backends!(
    a_healthy_restart_replaces_every_pod_as_kubectl_does,
    crash_looping_new_pods_fail_the_rollout_fast,
    the_runbook_restart_step_and_the_command_end_and_record_alike,
    a_paused_deployment_is_refused,
    dry_run_changes_nothing,
    without_a_tty_or_yes_it_refuses,
    the_plan_warns_of_an_outage,
    an_ambiguous_name_without_a_tty_lists_the_candidates,
    a_wait_that_runs_out_of_time_exits_5,
    on_delete_workloads_are_skipped_by_a_restart,
    restart_by_label_selector_and_no_wait,
    a_daemonset_restarts_on_every_node,
    a_statefulset_restarts_highest_ordinal_first,
    bad_pods_evicts_only_the_broken_pod,
    bad_pods_respects_a_pdb_that_refuses_the_eviction,
    each_kind_of_new_pod_failure_is_named,
    rollout_status_verdicts_match_kubectl,
    a_statefulset_stuck_on_a_broken_pod_is_named_with_advice,
    a_daemonset_whose_new_pods_cannot_pull_fails,
    ctrl_c_while_waiting_stops_cleanly_and_is_recorded,
    bad_pods_evicts_the_pod_on_a_lost_node_among_many,
    runbook_restart_and_rollout_status_steps_use_the_same_code,
    the_wait_survives_watches_that_expire,
    restart_survives_a_flaky_api_server,
);

fn cluster(s: &Scope, replicas: u32) -> String {
    let mut y = s.namespace("shop");
    y += &s.node_yaml("a", "8", &[]);
    y += &s.node_yaml("b", "8", &[]);
    y += &Workload::deployment(&s.ns("shop"), "web")
        .replicas(replicas)
        .set("/spec/progressDeadlineSeconds", json!(6000))
        .toleration(s.toleration())
        .grace_period(5)
        .container("web", "shop/web:1.0")
        .yaml();
    y
}

/// `(name, uid)` of the live pods of `web`.
fn pods(h: &Harness, s: &Scope) -> Vec<(String, String)> {
    pods_of(h, s, "web")
}

fn ready(h: &Harness, s: &Scope) -> usize {
    ready_pods(h, s, "web")
}

/// `(name, uid)` of the live pods of `app` in the shop, sorted by name.
fn pods_of(h: &Harness, s: &Scope, app: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = live(h, s, app)
        .into_iter()
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_string(),
                p["metadata"]["uid"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The pods of `app` in the shop that are not being deleted.
fn live(h: &Harness, s: &Scope, app: &str) -> Vec<Value> {
    h.list("pods", Some(&s.ns("shop")))
        .into_iter()
        .filter(|p| {
            p["metadata"]["labels"]["app"] == app && p["metadata"]["deletionTimestamp"].is_null()
        })
        .collect()
}

fn ready_pods(h: &Harness, s: &Scope, app: &str) -> usize {
    live(h, s, app)
        .iter()
        .filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .count()
}

/// Waits until `app` has `n` pods, all Ready.
fn settle(h: &Harness, s: &Scope, app: &str, n: usize) {
    assert!(
        eventually(Duration::from_secs(60), || ready_pods(h, s, app) == n
            && live(h, s, app).len() == n),
        "{app} did not settle at {n} ready pods"
    );
}

fn wait_ready(h: &Harness, s: &Scope, n: usize) {
    settle(h, s, "web", n);
}

fn a_healthy_restart_replaces_every_pod_as_kubectl_does(backend: Backend) {
    let s = Scope::new("restart");
    let h = Harness::on(backend, &s, &cluster(&s, 3));
    wait_ready(&h, &s, 3);
    let ns = s.ns("shop");
    let before = pods(&h, &s);
    let run = h
        .oncall(&[
            "-n",
            &ns,
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
    assert_eq!(rollout["outcome"], "complete", "{report:#}");
    assert_eq!(rollout["pods_replaced"].as_array().unwrap().len(), 3);
    let after = pods(&h, &s);
    assert_eq!(after.len(), 3);
    assert!(
        after
            .iter()
            .all(|(_, uid)| !before.iter().any(|(_, old)| old == uid)),
        "every pod is new"
    );
    assert_eq!(ready(&h, &s), 3, "complete means ready");
    // The same annotation kubectl's restart sets, so both tools agree on
    // what a restart is; kubectl then sees the rollout complete.
    let template = &h.get("deployments", Some(&ns), "web").unwrap()["spec"]["template"];
    let at = template["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
        .as_str()
        .expect("kubectl's restartedAt annotation");
    assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
    h.kubectl(&[
        "-n",
        &ns,
        "rollout",
        "status",
        "deployment/web",
        "--timeout=30s",
    ])
    .expect_code(0);
    h.kubectl(&["-n", &ns, "rollout", "restart", "deployment/web"])
        .expect_code(0);
    h.oncall(&[
        "-n",
        &ns,
        "rollout",
        "status",
        "deployment/web",
        "--timeout",
        "60s",
    ])
    .expect_code(0);
    let entries = h.audit_entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["outcome"]["status"], "ok");
    assert_eq!(entries[0]["answer"], "yes_flag");
}

fn crash_looping_new_pods_fail_the_rollout_fast(backend: Backend) {
    let s = Scope::new("crashy");
    let h = Harness::on(backend, &s, &cluster(&s, 3));
    wait_ready(&h, &s, 3);
    let ns = s.ns("shop");
    // A new release whose containers exit at once.
    h.kubectl(&[
        "-n",
        &ns,
        "patch",
        "deployment/web",
        "-p",
        r#"{"spec":{"template":{"metadata":{"annotations":{"sim.oncall.dev/fault":"crash-loop exit-code=2"}}}}}"#,
    ])
    .expect_code(0);
    let started = Instant::now();
    let run = h.oncall(&[
        "-n",
        &ns,
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
    assert!(run.stdout.contains("CrashLoopBackOff"), "{}", run.stdout);
    let new_pods: Vec<String> = h
        .list("pods", Some(&ns))
        .into_iter()
        .filter(|p| !p["metadata"]["annotations"]["sim.oncall.dev/fault"].is_null())
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        new_pods.iter().any(|p| run.stdout.contains(p.as_str())),
        "names a new pod ({new_pods:?}):\n{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("the rollout of `deployment/web` failed"),
        "{}",
        run.stderr
    );
    // The crashed container's last lines, read through pods/log (from the
    // kubelet's API: kwok's on the real control plane).
    assert!(
        run.stdout.contains("log lines") && run.stdout.contains("panic: runtime error"),
        "shows the last log lines of the crash:\n{}",
        run.stdout
    );
    let json = h
        .oncall(&[
            "-n",
            &ns,
            "-o",
            "json",
            "rollout",
            "status",
            "web",
            "--timeout",
            "1m",
        ])
        .expect_code(1);
    let out: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let failure = &out[0]["failure"];
    assert_eq!(out[0]["outcome"], "failed", "{out:#}");
    assert_eq!(failure["reason"], "CrashLoopBackOff", "{out:#}");
    assert!(
        new_pods.iter().any(|p| failure["pod"] == p.as_str()),
        "{out:#}"
    );
    let logs: Vec<&str> = failure["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert!(
        logs.iter().any(|l| l.contains("panic: runtime error")),
        "the crashed container's log lines: {logs:?}"
    );
    // kubectl waits for the deadline instead; it agrees the rollout is not done.
    assert_ne!(
        h.kubectl(&[
            "-n",
            &ns,
            "rollout",
            "status",
            "deployment/web",
            "--timeout=3s"
        ])
        .code,
        0
    );
    // The old pods keep serving.
    assert!(ready(&h, &s) >= 2, "{} ready", ready(&h, &s));
}

/// `oncall restart` and a runbook's `restart` step, on the same workload,
/// healthy and then crash-looping: the same ending, in the same words, and
/// the same outcome in the audit log.
fn the_runbook_restart_step_and_the_command_end_and_record_alike(backend: Backend) {
    let s = Scope::new("restartrb");
    let h = Harness::on(backend, &s, &cluster(&s, 2));
    wait_ready(&h, &s, 2);
    let ns = s.ns("shop");
    let file = h.home.path().join("restart-web.yaml");
    std::fs::write(
        &file,
        format!(
            r#"
name: restart-web
summary: Restart web and wait for it
steps:
  - id: restart
    title: Restart web
    restart:
      targets: ["deployment/web"]
      namespace: {ns}
      timeout: 2m
"#
        ),
    )
    .unwrap();
    let runbook = file.to_str().unwrap();
    let command = [
        "-n",
        &ns,
        "restart",
        "deployment/web",
        "--yes",
        "--timeout",
        "2m",
    ];
    h.oncall(&command).expect_code(0);
    wait_ready(&h, &s, 2);
    h.oncall(&["runbook", "run", runbook, "--yes"])
        .expect_code(0);
    wait_ready(&h, &s, 2);
    // A release whose containers exit at once.
    h.kubectl(&[
        "-n",
        &ns,
        "patch",
        "deployment/web",
        "-p",
        r#"{"spec":{"template":{"metadata":{"annotations":{"sim.oncall.dev/fault":"crash-loop exit-code=2"}}}}}"#,
    ])
    .expect_code(0);
    let by_command = h.oncall(&command).expect_code(1);
    let by_runbook = h
        .oncall(&["runbook", "run", runbook, "--yes"])
        .expect_code(1);
    let verdict = "the rollout of `deployment/web` failed: ";
    assert!(by_command.stderr.contains(verdict), "{}", by_command.stderr);
    let runbook_said = format!("{}{}", by_runbook.stdout, by_runbook.stderr);
    assert!(runbook_said.contains(verdict), "{runbook_said}");

    let entries = h.audit_entries();
    assert_eq!(entries.len(), 4, "{entries:#?}");
    let outcome = |i: usize| entries[i]["outcome"].clone();
    // Healthy: the very same outcome.
    assert_eq!(outcome(0)["status"], "ok");
    assert_eq!(outcome(0)["detail"], "deployment/web: complete");
    assert_eq!(
        outcome(0)["done"],
        serde_json::json!(["restart deployment/web"])
    );
    assert_eq!(outcome(1), outcome(0), "runbook and command record alike");
    // Failed: the same status, lists and verdict (the pod named differs).
    for i in [2, 3] {
        assert_eq!(outcome(i)["status"], "failed", "{:#}", outcome(i));
        assert_eq!(outcome(i)["done"], outcome(0)["done"]);
        assert!(
            outcome(i)["detail"].as_str().unwrap().starts_with(verdict),
            "{:#}",
            outcome(i)
        );
    }
    let keys = |i: usize| {
        let mut k: Vec<String> = outcome(i).as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(3), keys(2));
}

/// The scope's shop on three nodes (`a`, `b`, `c`), with image faults for
/// its pods: `shop/web:crash`, `:oom` and `:missing` break a rollout, and no
/// pod of `shop/never-ready` ever gets Ready. Each workload's pods are all
/// Ready before it returns.
fn shop(backend: Backend, s: &Scope, workloads: &[Workload], extra: &str) -> Harness {
    let mut y = s.namespace("shop");
    y += &ConfigMap::image_faults(
        &s.ns("shop"),
        &[
            "shop/web:crash crash-loop exit-code=1",
            "shop/web:oom oom-killed",
            "shop/web:missing image-pull",
            "shop/never-ready:* not-ready",
        ],
    )
    .yaml();
    for node in ["a", "b", "c"] {
        y += &s.node_yaml(node, "8", &[]);
    }
    y = workloads.iter().fold(y, |y, w| y + &w.yaml()) + extra;
    let h = Harness::on(backend, s, &y);
    // Pods by their `app` label (two workloads may share a name); a paused
    // Deployment starts none.
    let mut expected = std::collections::BTreeMap::new();
    for w in workloads {
        let w = w.clone().into_value();
        let n = match w["kind"].as_str().unwrap() {
            "DaemonSet" => 3,
            _ if w["spec"]["paused"] == true => 0,
            _ => w["spec"]["replicas"].as_u64().unwrap_or(1) as usize,
        };
        *expected
            .entry(w["metadata"]["name"].as_str().unwrap().to_string())
            .or_insert(0) += n;
    }
    for (app, n) in expected {
        settle(&h, s, &app, n);
    }
    h
}

/// A Deployment labelled `tier: <name>` whose one container is also
/// `name`, with a progress deadline (scaled down by the simulator) far
/// enough that only the pods' own failures end a rollout.
fn deployment(s: &Scope, name: &str, replicas: u32, image: &str) -> Workload {
    Workload::deployment(&s.ns("shop"), name)
        .label("tier", name)
        .replicas(replicas)
        .progress_deadline(6000)
        .toleration(s.toleration())
        .container(name, image)
}

/// Three pods, `db-0` to `db-2`.
fn statefulset(s: &Scope) -> Workload {
    Workload::stateful_set(&s.ns("shop"), "db")
        .replicas(3)
        .toleration(s.toleration())
        .container("db", "shop/db:15")
}

/// One pod on each of the scope's nodes.
fn daemonset(s: &Scope, name: &str) -> Workload {
    Workload::daemon_set(&s.ns("shop"), name)
        .node_selector(SCOPE_KEY, &s.id)
        .toleration(s.toleration())
        .container(name, &format!("shop/{name}:1"))
}

fn restarted_at(h: &Harness, s: &Scope, resource: &str, name: &str) -> Option<String> {
    h.get(resource, Some(&s.ns("shop")), name)?["spec"]["template"]["metadata"]["annotations"]
        ["kubectl.kubernetes.io/restartedAt"]
        .as_str()
        .map(str::to_string)
}

fn uids(pods: &[(String, String)]) -> Vec<String> {
    pods.iter().map(|(_, u)| u.clone()).collect()
}

fn a_paused_deployment_is_refused(backend: Backend) {
    let s = Scope::new("paused");
    let h = shop(
        backend,
        &s,
        &[deployment(&s, "web", 2, "shop/web:1.0").paused()],
        "",
    );
    let run = h
        .oncall(&["-n", &s.ns("shop"), "restart", "web", "--yes"])
        .expect_code(1);
    assert!(
        run.stderr.contains("kubectl rollout resume deployment/web"),
        "{}",
        run.stderr
    );
    assert_eq!(
        restarted_at(&h, &s, "deployments", "web"),
        None,
        "nothing was patched"
    );
}

fn dry_run_changes_nothing(backend: Backend) {
    let s = Scope::new("rsdry");
    let h = shop(backend, &s, &[deployment(&s, "web", 2, "shop/web:1.0")], "");
    let before = pods(&h, &s);
    let run = h
        .oncall(&["-n", &s.ns("shop"), "restart", "web", "--dry-run"])
        .expect_code(0);
    assert!(
        run.stdout.contains("deployment/web"),
        "the plan is shown:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("2 replicas"), "{}", run.stdout);
    assert_eq!(restarted_at(&h, &s, "deployments", "web"), None);
    assert_eq!(pods(&h, &s), before);
}

fn without_a_tty_or_yes_it_refuses(backend: Backend) {
    let s = Scope::new("rsnotty");
    let h = shop(backend, &s, &[deployment(&s, "web", 2, "shop/web:1.0")], "");
    let run = h
        .oncall(&["-n", &s.ns("shop"), "restart", "web"])
        .expect_code(3);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert_eq!(restarted_at(&h, &s, "deployments", "web"), None);
    assert_eq!(h.audit_entries()[0]["answer"], "refused");
}

fn the_plan_warns_of_an_outage(backend: Backend) {
    let s = Scope::new("outage");
    let cron = deployment(&s, "cron", 1, "shop/cron:1").strategy("Recreate");
    let h = shop(backend, &s, &[cron], "");
    let run = h
        .oncall(&["-n", &s.ns("shop"), "restart", "cron", "--dry-run"])
        .expect_code(0);
    assert!(run.stdout.contains("Recreate"), "{}", run.stdout);
    assert!(run.stdout.contains("outage"), "{}", run.stdout);
}

fn an_ambiguous_name_without_a_tty_lists_the_candidates(backend: Backend) {
    let s = Scope::new("ambiguous");
    let h = shop(
        backend,
        &s,
        &[deployment(&s, "db", 1, "shop/db-proxy:1"), statefulset(&s)],
        "",
    );
    let run = h
        .oncall(&["-n", &s.ns("shop"), "restart", "db", "--yes"])
        .expect_code(2);
    assert!(run.stderr.contains("deployment/db"), "{}", run.stderr);
    assert!(run.stderr.contains("statefulset/db"), "{}", run.stderr);
}

fn a_wait_that_runs_out_of_time_exits_5(backend: Backend) {
    let s = Scope::new("rstimeout");
    let slow = deployment(&s, "slow", 2, "shop/never-ready:1");
    let mut y = s.namespace("shop");
    y += &s.node_yaml("a", "8", &[]);
    y += &ConfigMap::image_faults(&s.ns("shop"), &["shop/never-ready:* not-ready"]).yaml();
    y += &slow.yaml();
    let h = Harness::on(backend, &s, &y);
    let run = h
        .oncall(&[
            "-n",
            &s.ns("shop"),
            "rollout",
            "status",
            "slow",
            "--timeout",
            "1s",
        ])
        .expect_code(5);
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
    // The command it gives to keep watching runs as printed.
    let follow = format!("oncall -n {} rollout status deployment/slow", s.ns("shop"));
    assert!(
        run.stderr
            .contains(&format!("keep watching with `{follow}`")),
        "{}",
        run.stderr
    );
    let words: Vec<&str> = follow.split(' ').skip(1).collect();
    let again = h.oncall(&[&words[..], &["--timeout", "1s"]].concat());
    assert!(again.expect_code(5).stderr.contains("timed out"));
}

fn on_delete_workloads_are_skipped_by_a_restart(backend: Backend) {
    let s = Scope::new("ondelete");
    let agent = daemonset(&s, "agent").strategy("OnDelete");
    let h = shop(backend, &s, &[agent], "");
    let run = h
        .oncall(&["-n", &s.ns("shop"), "restart", "daemonset/agent", "--yes"])
        .expect_code(0);
    assert!(run.stdout.contains("OnDelete"), "{}", run.stdout);
    assert_eq!(restarted_at(&h, &s, "daemonsets", "agent"), None);
}

fn restart_by_label_selector_and_no_wait(backend: Backend) {
    let s = Scope::new("rslabel");
    let h = shop(
        backend,
        &s,
        &[
            deployment(&s, "web", 2, "shop/web:1.0"),
            deployment(&s, "api", 2, "shop/api:1"),
        ],
        "",
    );
    let ns = s.ns("shop");
    let run = h
        .oncall(&[
            "-n",
            &ns,
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
    assert!(restarted_at(&h, &s, "deployments", "api").is_some());
    assert_eq!(
        restarted_at(&h, &s, "deployments", "web"),
        None,
        "not selected"
    );
    // kubectl agrees that the restart is a rollout it can follow.
    h.kubectl(&[
        "-n",
        &ns,
        "rollout",
        "status",
        "deployment/api",
        "--timeout=60s",
    ])
    .expect_code(0);
}

fn a_daemonset_restarts_on_every_node(backend: Backend) {
    let s = Scope::new("rsds");
    let h = shop(backend, &s, &[daemonset(&s, "agent")], "");
    let before = pods_of(&h, &s, "agent");
    assert_eq!(before.len(), 3, "one per node");
    let run = h
        .oncall(&["-n", &s.ns("shop"), "restart", "agent", "--yes"])
        .expect_code(0);
    assert!(run.stdout.contains("daemonset/agent"), "{}", run.stdout);
    let after = pods_of(&h, &s, "agent");
    assert_eq!(after.len(), 3);
    assert!(
        uids(&after).iter().all(|u| !uids(&before).contains(u)),
        "every pod is new"
    );
    assert!(restarted_at(&h, &s, "daemonsets", "agent").is_some());
}

fn a_statefulset_restarts_highest_ordinal_first(backend: Backend) {
    let s = Scope::new("rssts");
    let h = shop(backend, &s, &[statefulset(&s)], "");
    let ns = s.ns("shop");
    let before = pods_of(&h, &s, "db");
    assert_eq!(before.len(), 3);
    // The verdict from `-o json`: "complete" in the text would also match a
    // rollout still "waiting for statefulset rolling update to complete".
    let report = h
        .oncall(&["-n", &ns, "restart", "sts/db", "--yes", "-o", "json"])
        .expect_exit(0)
        .json();
    assert_eq!(report["restarted"], json!(["statefulset/db"]), "{report:#}");
    let rollout = &report["rollouts"][0];
    assert_eq!(rollout["workload"], "statefulset/db", "{report:#}");
    assert_eq!(rollout["outcome"], "complete", "{report:#}");
    let after = pods_of(&h, &s, "db");
    let names: Vec<&str> = after.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["db-0", "db-1", "db-2"], "stable names");
    assert!(
        uids(&after).iter().all(|u| !uids(&before).contains(u)),
        "every pod is new"
    );
    // The controller's "create Pod" events, in the order they last happened.
    let mut creations: Vec<(u64, String)> = h
        .list("events", Some(&ns))
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

/// Makes the pod `name` crash-loop, and waits until it has restarted twice.
fn crash(h: &Harness, s: &Scope, name: &str) {
    let ns = s.ns("shop");
    h.kubectl(&[
        "-n",
        &ns,
        "annotate",
        "pod",
        name,
        "sim.oncall.dev/fault=crash-loop",
    ])
    .expect_code(0);
    assert!(
        eventually(Duration::from_secs(30), || {
            h.get("pods", Some(&ns), name).is_some_and(|p| {
                p["status"]["containerStatuses"][0]["restartCount"].as_i64() >= Some(2)
            })
        }),
        "the pod crash-loops"
    );
}

fn bad_pods_evicts_only_the_broken_pod(backend: Backend) {
    let s = Scope::new("badpods");
    let h = shop(backend, &s, &[deployment(&s, "api", 3, "shop/api:1")], "");
    let ns = s.ns("shop");
    let before = pods_of(&h, &s, "api");
    let broken = before[0].0.clone();
    crash(&h, &s, &broken);
    let run = h
        .oncall(&[
            "-n",
            &ns,
            "restart",
            "--bad-pods",
            "deployment/api",
            "--yes",
        ])
        .expect_code(0);
    assert!(run.stdout.contains(&broken), "{}", run.stdout);
    assert!(run.stdout.contains("healthy: left alone"), "{}", run.stdout);
    let after = pods_of(&h, &s, "api");
    assert!(
        !after.iter().any(|(n, _)| *n == broken),
        "the broken pod is gone"
    );
    for healthy in &before[1..] {
        assert!(after.contains(healthy), "{} was left alone", healthy.0);
    }
    assert!(
        eventually(Duration::from_secs(30), || pods_of(&h, &s, "api").len()
            == 3),
        "a replacement took its place"
    );
    assert_eq!(
        restarted_at(&h, &s, "deployments", "api"),
        None,
        "no rolling restart"
    );
}

fn bad_pods_respects_a_pdb_that_refuses_the_eviction(backend: Backend) {
    let s = Scope::new("badpdb");
    let ns = s.ns("shop");
    let h = shop(
        backend,
        &s,
        &[deployment(&s, "api", 3, "shop/api:1")],
        &pdb(&ns, "api-pdb", "api", 3),
    );
    let broken = pods_of(&h, &s, "api")[0].0.clone();
    crash(&h, &s, &broken);
    let run = h
        .oncall(&["-n", &ns, "restart", "--bad-pods", "api", "--yes"])
        .expect_code(1);
    assert!(
        run.stdout.contains("api-pdb"),
        "the plan names the PDB:\n{}",
        run.stdout
    );
    assert!(run.stderr.contains("PodDisruptionBudget"), "{}", run.stderr);
    assert!(
        pods_of(&h, &s, "api").iter().any(|(n, _)| *n == broken),
        "the PDB kept it"
    );
    let entries = h.audit_entries();
    assert_eq!(entries.last().unwrap()["outcome"]["status"], "failed");
}

/// `rollout status` of `target` in the shop, as JSON, expected to fail.
fn failed_rollout(h: &Harness, s: &Scope, target: &str) -> Value {
    let run = h
        .oncall(&[
            "-n",
            &s.ns("shop"),
            "-o",
            "json",
            "rollout",
            "status",
            target,
            "--timeout",
            "1m",
        ])
        .expect_code(1);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

fn each_kind_of_new_pod_failure_is_named(backend: Backend) {
    let s = Scope::new("newfail");
    let h = shop(
        backend,
        &s,
        &[
            deployment(&s, "oom", 2, "shop/web:1.0"),
            deployment(&s, "pull", 2, "shop/web:1.0"),
            deployment(&s, "nowhere", 2, "shop/web:1.0"),
        ],
        "",
    );
    let ns = s.ns("shop");
    set_image(&h, &ns, "deployment/oom", "oom=shop/web:oom");
    set_image(&h, &ns, "deployment/pull", "pull=shop/web:missing");
    h.kubectl(&[
        "-n",
        &ns,
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
        let out = failed_rollout(&h, &s, name);
        assert_eq!(out[0]["failure"]["reason"], reason, "{name}: {out:#}");
        assert!(out[0]["failure"]["pod"].as_str().unwrap().starts_with(name));
        assert!(out[0]["duration_seconds"].as_f64().unwrap() < 20.0);
    }
}

/// `rollout status` says done, or not, where `kubectl rollout status`
/// does: a finished rollout, a partitioned StatefulSet (done once the
/// ordinals above the partition are updated), a DaemonSet, an `OnDelete`
/// DaemonSet (no rollout to watch), a crash-looping new image, and a
/// rollout that exceeded its progress deadline.
fn rollout_status_verdicts_match_kubectl(backend: Backend) {
    let s = Scope::new("verdicts");
    let stuck = deployment(&s, "stuck", 2, "shop/never-ready:1").set(
        "/spec/strategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}),
    );
    let h = shop(
        backend,
        &s,
        &[
            deployment(&s, "web", 2, "shop/web:1.0"),
            deployment(&s, "crashy", 2, "shop/web:1.0"),
            statefulset(&s),
            daemonset(&s, "agent"),
            daemonset(&s, "logs").strategy("OnDelete"),
        ],
        // Never Ready: not waited for.
        &stuck.yaml(),
    );
    let ns = s.ns("shop");
    // Only ordinals at or above the partition (2) take the new image.
    h.kubectl(&[
        "-n",
        &ns,
        "patch",
        "statefulset/db",
        "-p",
        r#"{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":2}}}}"#,
    ])
    .expect_code(0);
    set_image(&h, &ns, "statefulset/db", "db=shop/db:16");
    // Two seconds (scaled down by the simulator): `stuck` exceeds it.
    h.kubectl(&[
        "-n",
        &ns,
        "patch",
        "deployment/stuck",
        "-p",
        r#"{"spec":{"progressDeadlineSeconds":2}}"#,
    ])
    .expect_code(0);
    set_image(&h, &ns, "deployment/crashy", "crashy=shop/web:crash");
    for (target, rolled_out) in [
        ("deployment/web", true),
        ("statefulset/db", true),
        ("daemonset/agent", true),
        ("daemonset/logs", false),
        ("deployment/crashy", false),
        ("deployment/stuck", false),
    ] {
        let ours = h.oncall(&["-n", &ns, "rollout", "status", target, "--timeout", "10s"]);
        let theirs = h.kubectl(&["-n", &ns, "rollout", "status", target, "--timeout=10s"]);
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

fn a_statefulset_stuck_on_a_broken_pod_is_named_with_advice(backend: Backend) {
    let s = Scope::new("stsstuck");
    let h = shop(backend, &s, &[statefulset(&s)], "");
    let ns = s.ns("shop");
    set_image(&h, &ns, "statefulset/db", "db=shop/web:crash");
    let run = h
        .oncall(&[
            "-n",
            &ns,
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

fn a_daemonset_whose_new_pods_cannot_pull_fails(backend: Backend) {
    let s = Scope::new("dspull");
    let h = shop(backend, &s, &[daemonset(&s, "agent")], "");
    let ns = s.ns("shop");
    let faults = r#"{"data":{"rules":"shop/agent:missing image-pull\n"}}"#;
    h.kubectl(&[
        "-n",
        &ns,
        "patch",
        "configmap",
        "sim-image-faults",
        "-p",
        faults,
    ])
    .expect_code(0);
    set_image(&h, &ns, "daemonset/agent", "agent=shop/agent:missing");
    let out = failed_rollout(&h, &s, "ds/agent");
    assert_eq!(out[0]["failure"]["reason"], "ImagePullBackOff", "{out:#}");
    assert!(
        out[0]["failure"]["pod"]
            .as_str()
            .unwrap()
            .starts_with("agent-")
    );
}

fn ctrl_c_while_waiting_stops_cleanly_and_is_recorded(backend: Backend) {
    let s = Scope::new("rsctrlc");
    let h = shop(
        backend,
        &s,
        &[deployment(&s, "slow", 2, "shop/web:1.0")],
        "",
    );
    let ns = s.ns("shop");
    // New pods of this image never become ready, so the wait goes on.
    set_image(&h, &ns, "deployment/slow", "slow=shop/never-ready:2");
    let child = h.spawn_oncall(&["-n", &ns, "restart", "slow", "--yes", "--timeout", "1m"]);
    let applied = eventually(Duration::from_secs(20), || {
        restarted_at(&h, &s, "deployments", "slow").is_some()
    });
    if !applied {
        panic!("the restart was not applied; {}", child.kill());
    }
    child.signal(libc::SIGINT);
    let stderr = child.finish().expect_exit(130).stderr;
    assert!(
        stderr.contains(&format!(
            "not done: waiting for `deployment/slow`; the rollouts themselves go on: follow them with `oncall -n {ns} rollout status deployment/slow`"
        )),
        "{stderr}"
    );
    let entries = h.audit_entries();
    assert_eq!(entries.last().unwrap()["outcome"]["status"], "interrupted");
}

/// A DaemonSet's pod on a node whose kubelet died is the one bad pod among
/// many nodes' (more than are read one by one, so the lean node list is
/// used); `--bad-pods` evicts it and leaves the others alone.
fn bad_pods_evicts_the_pod_on_a_lost_node_among_many(backend: Backend) {
    let s = Scope::new("lostds");
    let extra: String = (0..22)
        .map(|i| s.node_yaml(&format!("x{i:02}"), "1", &[]))
        .collect();
    // Node agents commonly tolerate every taint, so the pod stays on the
    // unreachable node.
    let agent = daemonset(&s, "agent").toleration(json!({"operator": "Exists"}));
    let h = shop(backend, &s, &[], &(extra + &agent.yaml()));
    settle(&h, &s, "agent", 25);
    let ns = s.ns("shop");
    let lost_node = s.node("x07");
    h.stop_kubelet(&lost_node);
    assert!(
        eventually(Duration::from_secs(60), || h
            .get("nodes", None, &lost_node)
            .is_some_and(|n| n["status"]["conditions"].as_array().is_some_and(
                |c| c
                    .iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "Unknown")
            ))),
        "the node stops reporting"
    );
    let on_lost = h.pods_on(&lost_node);
    assert_eq!(on_lost.len(), 1, "the DaemonSet put a pod on the lost node");
    let lost = &on_lost[0];
    let run = h
        .oncall(&["-n", &ns, "restart", "--bad-pods", "ds/agent", "--dry-run"])
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
        "24 healthy pods are left alone:\n{}",
        run.stdout
    );
    h.oncall(&[
        "-n",
        &ns,
        "restart",
        "--bad-pods",
        "ds/agent",
        "--yes",
        "--no-wait",
    ])
    .expect_code(0);
    assert!(
        h.get("pods", Some(&ns), lost)
            .is_none_or(|p| !p["metadata"]["deletionTimestamp"].is_null()),
        "the pod on the lost node was evicted"
    );
}

fn runbook_restart_and_rollout_status_steps_use_the_same_code(backend: Backend) {
    let s = Scope::new("rsrunbook");
    let h = shop(backend, &s, &[deployment(&s, "web", 2, "shop/web:1.0")], "");
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
      namespace: NAMESPACE
      timeout: 1m
  - id: break
    title: Roll out an image
    shell: {argv: ["kubectl", "--kubeconfig", "KUBECONFIG_PATH", "-n", "NAMESPACE", "set", "image", "deployment/web", "web={{ image }}"]}
  - id: rollout
    title: Wait for the rollout
    rollout_status:
      target: web
      namespace: NAMESPACE
      timeout: 1m
"#
        .replace("KUBECONFIG_PATH", h.kubeconfig.to_str().unwrap())
        .replace("NAMESPACE", &s.ns("shop")),
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let run = h.oncall(&["runbook", "run", path, "--yes"]);
    let run = run.expect_code(0);
    assert!(
        restarted_at(&h, &s, "deployments", "web").is_some(),
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

/// Every watch of the wait ends with 410 Gone after 150 ms: the wait reads
/// again and carries on, and the restart completes.
fn the_wait_survives_watches_that_expire(backend: Backend) {
    let s = Scope::new("rsexpiry");
    let h = shop(backend, &s, &[deployment(&s, "web", 3, "shop/web:1.0")], "");
    h.set_faults(FaultSpec::parse("watch-expiry=150ms,seed=3").unwrap());
    let run = h
        .oncall(&[
            "-n",
            &s.ns("shop"),
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
    assert_eq!(report["rollouts"][0]["outcome"], "complete", "{report:#}");
    assert_eq!(ready_pods(&h, &s, "web"), 3);
}

/// A Deployment and a StatefulSet restarted together while the API server
/// fails about one request in six (5xx, 429, dropped connections, stale
/// writes, expiring watches): both rollouts complete and every pod of
/// `web` is new and Ready, for every fault seed.
fn restart_survives_a_flaky_api_server(backend: Backend) {
    for_each_fault_seed(|seed| {
        let s = Scope::new("flakyrestart");
        let h = shop(
            backend,
            &s,
            &[deployment(&s, "web", 3, "shop/web:1.0"), statefulset(&s)],
            "",
        );
        let before = pods(&h, &s);
        h.set_faults(flaky_api(seed));
        let run = h.oncall(&[
            "-n",
            &s.ns("shop"),
            "-o",
            "json",
            "restart",
            "web",
            "statefulset/db",
            "--yes",
            "--timeout",
            "1m",
        ]);
        h.set_faults(FaultSpec::default());
        if run.code != 0 {
            return Err(format!("exit {}: {}{}", run.code, run.stdout, run.stderr));
        }
        let report: Value =
            serde_json::from_str(&run.stdout).map_err(|e| format!("{e}: {}", run.stdout))?;
        let complete = report["rollouts"]
            .as_array()
            .is_some_and(|r| r.len() == 2 && r.iter().all(|r| r["outcome"] == "complete"));
        if !complete || restarted_at(&h, &s, "deployments", "web").is_none() {
            return Err(format!("not restarted: {}", run.stdout));
        }
        let after = pods(&h, &s);
        if ready(&h, &s) != 3 || after.iter().any(|p| before.contains(p)) {
            return Err(format!("web pods {before:?} -> {after:?}"));
        }
        Ok(())
    });
}

/// `kubectl set image` of `workload` in `ns` (`container=image`), as an
/// engineer starts a rollout.
fn set_image(h: &Harness, ns: &str, workload: &str, image: &str) {
    h.kubectl(&["-n", ns, "set", "image", workload, image])
        .expect_code(0);
}
