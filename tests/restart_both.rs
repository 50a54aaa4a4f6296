//! `oncall restart` and `oncall rollout status` on both backends, beside
//! `kubectl rollout`: a healthy restart replaces every pod, and a rollout
//! whose new pods crash-loop fails fast while the old pods keep serving.

mod common;
use common::*;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

on_both_backends!(
    a_healthy_restart_replaces_every_pod_as_kubectl_does,
    crash_looping_new_pods_fail_the_rollout_fast,
    the_runbook_restart_step_and_the_command_end_and_record_alike,
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
    let mut v: Vec<(String, String)> = h
        .list("pods", Some(&s.ns("shop")))
        .into_iter()
        .filter(|p| {
            p["metadata"]["labels"]["app"] == "web" && p["metadata"]["deletionTimestamp"].is_null()
        })
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

fn ready(h: &Harness, s: &Scope) -> usize {
    h.list("pods", Some(&s.ns("shop")))
        .into_iter()
        .filter(|p| {
            p["metadata"]["labels"]["app"] == "web" && p["metadata"]["deletionTimestamp"].is_null()
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

fn wait_ready(h: &Harness, s: &Scope, n: usize) {
    assert!(
        eventually(Duration::from_secs(60), || ready(h, s) == n
            && pods(h, s).len() == n),
        "web did not settle at {n} ready pods"
    );
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
