//! Node procedures on both backends, the simulator and the real control
//! plane, with the same assertions, and against the real kubectl where it
//! has the operation: cordon, uncordon, drain (clean, budget, timeout,
//! kubectl's flags) and the pre-flight check.

mod common;
use common::*;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

on_both_backends!(
    cordon_and_uncordon_look_the_same_to_kubectl,
    drain_evicts_and_leaves_the_node_cordoned,
    drain_survives_a_flaky_api_server,
    two_drains_of_one_node_each_report_only_their_own_evictions,
    drain_blocked_by_a_budget_is_retried_until_the_budget_allows,
    drain_timeout_is_exact_and_says_the_node_stays_cordoned,
    drain_reaches_the_same_outcome_as_kubectl_drain,
    check_names_every_blocker_and_its_fix,
    node_list_counts_only_the_pods_still_on_each_node,
    drain_stopped_by_sigterm_says_what_it_did_and_records_it,
    a_pod_held_by_a_finalizer_is_named_and_skip_wait_ends_the_drain,
    a_dead_nodes_pods_are_named_and_skip_wait_ends_its_drain,
    scale_up_never_scales_a_singleton_or_a_statefulset,
    a_cordon_note_left_behind_by_kubectl_uncordon_is_ignored,
    a_selector_that_selects_nothing_is_not_a_failure_as_in_kubectl,
    every_unknown_node_name_is_named_and_nothing_changes,
    wide_node_list_shows_what_kubectl_wide_shows,
    a_runbook_drain_step_and_node_drain_end_the_same_and_record_the_same,
    list_shows_pool_zone_pods_and_who_cordoned,
    cordon_without_tty_or_yes_refuses_and_records_it,
    cordon_dry_run_changes_nothing,
    cordon_with_yes_is_audited_privately_and_uncordon_removes_the_field,
    cordon_and_uncordon_report_each_node_and_name_them_in_json,
    uncordon_leaves_someone_elses_cordon_without_force,
    check_on_a_healthy_node_is_go,
    drain_dry_run_changes_nothing_and_refusal_without_yes,
    replace_needs_a_way_to_terminate,
    a_workload_that_is_already_down_is_not_an_outage,
    ctrl_c_stops_a_drain_cleanly_and_says_the_node_stays_cordoned,
    scale_up_adds_a_replica_elsewhere_before_draining_and_restores_it,
    a_drain_after_an_unfinished_scale_up_restores_the_recorded_count,
    two_scale_up_drains_of_one_node_add_one_replica_and_restore_the_true_count,
    protected_context_demands_its_name_typed,
    ctrl_c_at_a_prompt_exits_130_with_one_message_on_its_own_line,
);

/// A Deployment pinned to one node of the scope; its pods take up to 30 s
/// to stop.
fn deployment(s: &Scope, name: &str, replicas: u32, node: &str) -> Workload {
    s.deployment(name)
        .replicas(replicas)
        .on_node(&s.node(node))
        .grace_period(30)
}

/// Three nodes in two pools; `web` (2 replicas) sits on n1.
fn simple_cluster(s: &Scope) -> String {
    let mut y = s.namespace("app");
    y += &s.node_yaml("n1", "4", &[("cloud.google.com/gke-nodepool", "pool-a")]);
    y += &s.node_yaml("n2", "4", &[("cloud.google.com/gke-nodepool", "pool-a")]);
    y += &s.node_yaml("n3", "4", &[("cloud.google.com/gke-nodepool", "pool-b")]);
    y += &deployment(s, "web", 2, "n1").yaml();
    y
}

/// A budget that lets none of `web`'s two pods go.
fn web_budget(s: &Scope) -> String {
    pdb(&s.ns("app"), "web-pdb", "web", 2)
}

/// n1 carries one of each blocker; n2 and n3 are small, so there is no room.
fn blocked_cluster(s: &Scope) -> String {
    let mut y = s.namespace("app");
    y += &s.node_yaml("n1", "16", &[("cloud.google.com/gke-nodepool", "pool-a")]);
    y += &s.node_yaml("n2", "100m", &[("cloud.google.com/gke-nodepool", "pool-a")]);
    y += &s.node_yaml("n3", "100m", &[("cloud.google.com/gke-nodepool", "pool-b")]);
    y += &deployment(s, "web", 2, "n1").yaml();
    y += &deployment(s, "batch", 1, "n1")
        .pod_annotation("cluster-autoscaler.kubernetes.io/safe-to-evict", "false")
        .yaml();
    y += &web_budget(s);
    let ns = s.ns("app");
    y += &Workload::daemon_set(&ns, "agent")
        .node_selector(SCOPE_KEY, &s.id)
        .toleration(s.toleration())
        .set(
            "/spec/template/spec/containers",
            json!([{"name": "a", "image": "agent"}]),
        )
        .yaml();
    y += &s.pod("app", "debug", "n1").containers(&["c"]).yaml();
    y += &Workload::replica_set(&ns, "cache")
        .on_node(&s.node("n1"))
        .toleration(s.toleration())
        .set(
            "/spec/template/spec/volumes",
            json!([{"name": "scratch", "emptyDir": {}}]),
        )
        .image("redis")
        .set(
            "/spec/template/spec/containers/0/resources/requests/cpu",
            json!("1"),
        )
        .yaml();
    y
}

fn is_ready(p: &Value) -> bool {
    p["status"]["phase"] == "Running"
        && p["metadata"]["deletionTimestamp"].is_null()
        && p["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn wait_ready(h: &Harness, s: &Scope, count: usize) {
    let ns = s.ns("app");
    assert!(
        eventually(Duration::from_secs(60), || {
            h.list("pods", Some(&ns))
                .iter()
                .filter(|p| is_ready(p))
                .count()
                >= count
        }),
        "{count} pods did not become ready in {ns}"
    );
}

fn cordon_and_uncordon_look_the_same_to_kubectl(backend: Backend) {
    let s = Scope::new("cordon");
    let h = Harness::on(backend, &s, &simple_cluster(&s));
    let (n1, n2) = (s.node("n1"), s.node("n2"));

    h.oncall(&["node", "cordon", &n1, "--reason", "disk errors", "--yes"])
        .expect_code(0);
    h.kubectl(&["cordon", &n2]).expect_code(0);
    // The node lifecycle controller taints a cordoned node, whoever cordoned it.
    let taint_keys = |node: &str| -> Vec<String> {
        let mut keys: Vec<String> = h.get("nodes", None, node).unwrap()["spec"]["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                format!(
                    "{}:{}",
                    t["key"].as_str().unwrap(),
                    t["effect"].as_str().unwrap()
                )
            })
            .collect();
        keys.sort();
        keys
    };
    assert!(
        eventually(Duration::from_secs(20), || {
            taint_keys(&n1).contains(&"node.kubernetes.io/unschedulable:NoSchedule".to_string())
                && taint_keys(&n1) == taint_keys(&n2)
        }),
        "oncall's cordon {:?}, kubectl's {:?}",
        taint_keys(&n1),
        taint_keys(&n2)
    );
    let ours = h.get("nodes", None, &n1).unwrap();
    let theirs = h.get("nodes", None, &n2).unwrap();
    assert_eq!(ours["spec"]["unschedulable"], true);
    assert_eq!(
        ours["spec"]["unschedulable"],
        theirs["spec"]["unschedulable"]
    );
    assert_eq!(
        ours["metadata"]["annotations"]["oncall.dev/cordon-reason"],
        "disk errors"
    );
    let listed = h
        .kubectl(&["get", "nodes", "-l", &s.node_selector()])
        .expect_code(0);
    for node in [&n1, &n2] {
        let line = listed
            .stdout
            .lines()
            .find(|l| l.starts_with(node.as_str()))
            .unwrap();
        assert!(line.contains("Ready,SchedulingDisabled"), "{line}");
    }
    let ours_listed = h
        .oncall(&["node", "list", "-l", &s.node_selector()])
        .expect_code(0);
    let line = ours_listed
        .stdout
        .lines()
        .find(|l| l.starts_with(n1.as_str()))
        .unwrap();
    assert!(
        line.contains("SchedulingDisabled") && line.contains("disk errors"),
        "{line}"
    );

    h.oncall(&["node", "uncordon", &n1, "--yes"]).expect_code(0);
    // n2 was cordoned by kubectl: oncall leaves it unless forced.
    let refused = h.oncall(&["node", "uncordon", &n2, "--yes"]);
    assert_eq!(h.unschedulable(&n2), true, "{}", refused.stdout);
    h.oncall(&["node", "uncordon", &n2, "--yes", "--force"])
        .expect_code(0);
    let n1_after = h.get("nodes", None, &n1).unwrap();
    assert!(
        n1_after["spec"]["unschedulable"].is_null(),
        "kubectl removes the field too"
    );
    assert!(n1_after["metadata"]["annotations"]["oncall.dev/cordon-reason"].is_null());
    assert!(
        eventually(Duration::from_secs(20), || !taint_keys(&n1)
            .iter()
            .any(|k| k.starts_with("node.kubernetes.io/unschedulable"))),
        "the taint goes with the cordon: {:?}",
        taint_keys(&n1)
    );
    let listed = h
        .kubectl(&["get", "nodes", "-l", &s.node_selector()])
        .expect_code(0);
    assert!(
        !listed.stdout.contains("SchedulingDisabled"),
        "{}",
        listed.stdout
    );
}

fn drain_evicts_and_leaves_the_node_cordoned(backend: Backend) {
    let s = Scope::new("drain");
    let h = Harness::on(backend, &s, &simple_cluster(&s));
    wait_ready(&h, &s, 2);
    let n1 = s.node("n1");
    let run = h.oncall(&["node", "drain", &n1, "--yes"]).expect_code(0);
    assert!(run.stdout.contains("2 evicted"), "{}", run.stdout);
    assert_eq!(h.unschedulable(&n1), true);
    assert!(h.pods_on(&n1).is_empty());
    assert_eq!(h.audit_entries().last().unwrap()["outcome"]["status"], "ok");
    // Drained again: nothing to do, and a script asking for JSON reads so.
    let again = h
        .oncall(&["node", "drain", &n1, "--yes", "-o", "json"])
        .expect_code(0);
    let report: Value = serde_json::from_str(&again.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", again.stdout, again.stderr));
    assert_eq!(report[0]["node"], n1.as_str(), "{report:#}");
    assert_eq!(report[0]["status"], "drained", "{report:#}");
    assert_eq!(report[0]["pods"], json!([]), "{report:#}");
}

/// Two nodes drained at once while the API server fails about one request
/// in six (5xx, 429, dropped connections, stale writes, expiring watches):
/// every pod is evicted and both nodes stay cordoned, for every fault seed.
fn drain_survives_a_flaky_api_server(backend: Backend) {
    for_each_fault_seed(|seed| {
        let s = Scope::new("flakydrain");
        let h = Harness::on(
            backend,
            &s,
            &(simple_cluster(&s) + &deployment(&s, "api", 1, "n2").yaml()),
        );
        wait_ready(&h, &s, 3);
        let (n1, n2) = (s.node("n1"), s.node("n2"));
        h.set_faults(flaky_api(seed));
        let run = h.oncall(&[
            "node",
            "drain",
            &n1,
            &n2,
            "--yes",
            "--concurrency",
            "2",
            "--timeout",
            "60s",
        ]);
        h.set_faults(FaultSpec::default());
        let drained = run.stdout.contains(&format!("node/{n1} drained"))
            && run.stdout.contains(&format!("node/{n2} drained"));
        if run.code != 0 || !drained {
            return Err(format!("exit {}: {}{}", run.code, run.stdout, run.stderr));
        }
        if !h.pods_on(&n1).is_empty()
            || !h.pods_on(&n2).is_empty()
            || h.unschedulable(&n1) != true
            || h.unschedulable(&n2) != true
        {
            return Err(format!("pods left or not cordoned: {}", run.stdout));
        }
        Ok(())
    });
}

/// Two engineers drain the same node at once: each drain reports the
/// evictions it made, and no pod is counted twice.
fn two_drains_of_one_node_each_report_only_their_own_evictions(backend: Backend) {
    let s = Scope::new("twodrains");
    let h = Harness::on(backend, &s, &simple_cluster(&s));
    wait_ready(&h, &s, 2);
    let n1 = s.node("n1");
    let on_node = h.pods_on(&n1);
    assert_eq!(on_node.len(), 2);
    let drain = [
        "node",
        "drain",
        &n1,
        "--yes",
        "-o",
        "json",
        "--timeout",
        "60s",
    ];
    let (a, b) = (h.spawn_oncall(&drain), h.spawn_oncall(&drain));
    let evicted = |run: &Run| -> Vec<String> {
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        let report: Value =
            serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
        report[0]["pods"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["outcome"] == "evicted")
            .map(|p| {
                p["pod"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let (a, b) = (a.finish(), b.finish());
    let (a, b) = (evicted(&a), evicted(&b));
    let both: Vec<_> = a.iter().filter(|p| b.contains(p)).collect();
    assert!(both.is_empty(), "counted by both drains: {both:?}");
    let mut all: Vec<String> = a.into_iter().chain(b).collect();
    all.sort();
    assert_eq!(
        all, on_node,
        "every pod counted once, by the drain that evicted it"
    );
    assert!(h.pods_on(&n1).is_empty());
}

fn drain_blocked_by_a_budget_is_retried_until_the_budget_allows(backend: Backend) {
    let s = Scope::new("budget");
    let mut y = simple_cluster(&s);
    y += &web_budget(&s);
    let h = Harness::on(backend, &s, &y);
    wait_ready(&h, &s, 2);
    let n1 = s.node("n1");
    let drain = h.spawn_oncall(&["node", "drain", &n1, "--yes", "--timeout", "60s"]);
    // Relax the budget only after the drain has been refused by it.
    drain.wait_for_stderr("web-pdb", Duration::from_secs(30));
    assert_eq!(h.unschedulable(&n1), true);
    assert_eq!(h.pods_on(&n1).len(), 2, "the budget must hold the pods");
    let mut pdb = h
        .get("poddisruptionbudgets", Some(&s.ns("app")), "web-pdb")
        .unwrap();
    pdb["spec"]["minAvailable"] = json!(0);
    h.apply(pdb);
    drain.finish().expect_code(0);
    assert!(h.pods_on(&n1).is_empty());
}

/// `timeout`, systemd and CI runners stop a drain with SIGTERM: it stops
/// like Ctrl-C, says what was done and how to undo it, exits 143, and the
/// audit entry lists the pods it did evict.
fn drain_stopped_by_sigterm_says_what_it_did_and_records_it(backend: Backend) {
    let s = Scope::new("sigterm");
    let mut y = simple_cluster(&s);
    y += &deployment(&s, "batch", 1, "n1").yaml();
    y += &web_budget(&s);
    let h = Harness::on(backend, &s, &y);
    wait_ready(&h, &s, 3);
    let n1 = s.node("n1");
    let drain = h.spawn_oncall(&["node", "drain", &n1, "--yes"]);
    drain.wait_for_stderr("web-pdb", Duration::from_secs(30));
    assert!(
        eventually(Duration::from_secs(30), || h.pods_on(&n1).len() == 2),
        "batch is evicted while web is held by its budget"
    );
    drain.signal(libc::SIGTERM);
    let run = drain.finish().expect_code(143);
    assert!(run.stderr.contains("SIGTERM"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("oncall node uncordon {n1}")),
        "{}",
        run.stderr
    );
    assert_eq!(h.unschedulable(&n1), true);
    let entry = h.audit_entries().last().cloned().expect("an audit entry");
    assert_eq!(entry["outcome"]["status"], "interrupted", "{entry}");
    let done: Vec<&str> = entry["outcome"]["done"]
        .as_array()
        .expect("a list of what was done")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // One entry per pod, naming what happened to it ("evicted", not
    // "deleted", and not anywhere in the entry).
    assert!(
        done.iter()
            .any(|d| d.contains("/batch-") && d.contains(&format!(" evicted from node/{n1}"))),
        "the evicted pod is on record: {entry}"
    );
    assert!(
        !done.iter().any(|d| d.contains("/web-")),
        "web was never evicted: {entry}"
    );
}

fn drain_timeout_is_exact_and_says_the_node_stays_cordoned(backend: Backend) {
    let s = Scope::new("timeout");
    let mut y = simple_cluster(&s);
    // Ignores SIGTERM and has ten hours' grace: far longer than the timeout.
    y += &deployment(&s, "slow", 1, "n1")
        .pod_annotation("sim.oncall.dev/fault", "slow-termination")
        .grace_period(36000)
        .yaml();
    let h = Harness::on(backend, &s, &y);
    wait_ready(&h, &s, 3);
    let n1 = s.node("n1");
    let start = Instant::now();
    let run = h
        .cmd()
        .args(["node", "drain", &n1, "--yes", "--timeout", "3s"])
        .env("ONCALL_PROGRESS_INTERVAL", "1s")
        .run()
        .expect_exit(5);
    let took = start.elapsed();
    // It waited for the timeout, and gave up long before the pod's ten
    // hours of grace (the margin is for a loaded machine, not a speed test).
    assert!(took >= Duration::from_secs(3), "took {took:?}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert!(
        // "cordoned" alone would also match "uncordoned".
        run.stderr.contains(&format!("{n1} stay(s) cordoned"))
            && run.stderr.contains(&format!("oncall node uncordon {n1}")),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("pending"), "{}", run.stdout);
    assert_eq!(h.unschedulable(&n1), true);
    // Without a terminal, a long wait repeats a plain progress line.
    assert!(
        run.stderr.contains(&format!("still draining: node/{n1} "))
            && run.stderr.contains("/3 pods gone"),
        "{}",
        run.stderr
    );
}

fn drain_reaches_the_same_outcome_as_kubectl_drain(backend: Backend) {
    let flags = [
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--force",
        "--timeout",
        "60s",
    ];
    let outcome = |use_kubectl: bool| {
        let s = Scope::new(if use_kubectl { "kdrain" } else { "odrain" });
        let h = Harness::on(backend, &s, &blocked_cluster(&s));
        wait_ready(&h, &s, 7);
        let n1 = s.node("n1");
        // Let the budget allow it: both tools then finish.
        let mut pdb = h
            .get("poddisruptionbudgets", Some(&s.ns("app")), "web-pdb")
            .unwrap();
        pdb["spec"]["minAvailable"] = json!(0);
        h.apply(pdb);
        assert!(eventually(Duration::from_secs(30), || {
            h.get("poddisruptionbudgets", Some(&s.ns("app")), "web-pdb")
                .and_then(|p| p["status"]["disruptionsAllowed"].as_i64())
                .is_some_and(|n| n > 0)
        }));
        let mut args: Vec<&str> = if use_kubectl {
            vec!["drain", &n1]
        } else {
            vec!["node", "drain", &n1, "--yes"]
        };
        args.extend_from_slice(&flags);
        let run = if use_kubectl {
            h.kubectl(&args)
        } else {
            h.oncall(&args)
        };
        let remaining: Vec<String> = h
            .pods_on(&n1)
            .into_iter()
            .map(|p| p.split('-').next().unwrap().to_string())
            .collect();
        (
            run.code == 0,
            h.unschedulable(&n1),
            remaining,
            run.stdout + &run.stderr,
        )
    };
    let kubectl = outcome(true);
    let ours = outcome(false);
    assert_eq!(
        (&ours.0, &ours.1, &ours.2),
        (&kubectl.0, &kubectl.1, &kubectl.2),
        "oncall:\n{}\nkubectl:\n{}",
        ours.3,
        kubectl.3
    );
    assert_eq!(
        ours.2,
        vec!["agent".to_string()],
        "only the DaemonSet pod stays"
    );

    // Without the flags both refuse, and neither evicts a pod.
    let s = Scope::new("refuse");
    let h = Harness::on(backend, &s, &blocked_cluster(&s));
    wait_ready(&h, &s, 7);
    let n1 = s.node("n1");
    let before = h.pods_on(&n1);
    assert_ne!(h.kubectl(&["drain", &n1]).code, 0);
    assert_eq!(h.pods_on(&n1), before);
    h.kubectl(&["uncordon", &n1]).expect_code(0);
    h.oncall(&["node", "drain", &n1, "--yes"]).expect_code(1);
    assert_eq!(h.pods_on(&n1), before);
}

fn check_json(h: &Harness, node: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["node", "check", node, "-o", "json"];
    args.extend_from_slice(extra);
    let run = h.oncall(&args);
    (
        run.code,
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout)),
    )
}

fn kinds(report: &Value) -> Vec<String> {
    report["nodes"][0]["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["kind"].as_str().unwrap().to_string())
        .collect()
}

fn check_names_every_blocker_and_its_fix(backend: Backend) {
    let s = Scope::new("check");
    // Besides, a pod already Terminating that a finalizer holds.
    let held = s
        .pod("app", "held", "n1")
        .finalizer("example.com/export-cleanup")
        .grace_period(0)
        .containers(&["c"])
        .yaml();
    let h = Harness::on(backend, &s, &(blocked_cluster(&s) + &held));
    wait_ready(&h, &s, 8);
    h.kubectl(&["-n", &s.ns("app"), "delete", "pod", "held", "--wait=false"])
        .expect_code(0);
    let n1 = s.node("n1");
    let (code, report) = check_json(&h, &n1, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["go"], false);
    let k = kinds(&report);
    // web and batch each have every ready replica on n1: two outages.
    assert_eq!(
        k,
        [
            "daemon_set",
            "empty_dir",
            "no_controller",
            "pdb",
            "outage",
            "outage",
            "safe_to_evict",
            "no_room"
        ]
    );
    let blockers = report["nodes"][0]["blockers"].as_array().unwrap();
    let pdb = blockers.iter().find(|b| b["kind"] == "pdb").unwrap();
    assert_eq!(pdb["pdb"]["name"], "web-pdb");
    assert_eq!(pdb["pdb"]["disruptions_allowed"], 0);
    assert_eq!(pdb["pods"].as_array().unwrap().len(), 2);

    let (_, report) = check_json(
        &h,
        &n1,
        &[
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--force",
            "--scale-up",
        ],
    );
    let k = kinds(&report);
    for gone in ["daemon_set", "empty_dir", "no_controller", "outage"] {
        assert!(!k.contains(&gone.to_string()), "{gone} still in {k:?}");
    }
    // Forced, the held pod would be evicted, and waited for forever.
    assert!(k.contains(&"never_deleted".to_string()), "{k:?}");
    let blockers = report["nodes"][0]["blockers"].as_array().unwrap();
    let never = blockers
        .iter()
        .find(|b| b["kind"] == "never_deleted")
        .unwrap();
    assert!(
        never["message"]
            .as_str()
            .unwrap()
            .contains("`example.com/export-cleanup`"),
        "{never:#}"
    );
    assert!(
        never["fix"]
            .as_str()
            .unwrap()
            .contains("--skip-wait-for-delete-timeout"),
        "{never:#}"
    );
    let (_, report) = check_json(
        &h,
        &n1,
        &[
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--force",
            "--skip-wait-for-delete-timeout",
            "60",
        ],
    );
    assert!(!kinds(&report).contains(&"never_deleted".to_string()));
    let text = h.oncall(&["node", "check", &n1]).expect_code(1);
    assert!(
        text.stdout.lines().any(|l| l.trim() == "verdict: NO-GO")
            && text.stdout.contains("web-pdb"),
        "{}",
        text.stdout
    );
}

/// A Job of one pod pinned to `node`; `fault` (`job-fail`) makes it fail.
fn job(s: &Scope, name: &str, node: &str, fault: &str) -> String {
    let job = Workload::job(&s.ns("app"), name)
        .set("/spec/backoffLimit", json!(0))
        .on_node(&s.node(node))
        .toleration(s.toleration())
        .container("c", "busybox");
    if fault.is_empty() {
        job
    } else {
        job.fault(fault)
    }
    .yaml()
}

fn node_list_counts_only_the_pods_still_on_each_node(backend: Backend) {
    let s = Scope::new("nlcount");
    let mut y = simple_cluster(&s);
    y += &deployment(&s, "api", 1, "n2").yaml();
    // Finished pods stay bound to their node but hold no place on it.
    y += &job(&s, "done", "n1", "");
    y += &job(&s, "failed", "n2", "job-fail");
    // Never scheduled: bound to no node.
    y += &deployment(&s, "lost", 1, "nowhere").yaml();
    let h = Harness::on(backend, &s, &y);
    wait_ready(&h, &s, 3);
    let ns = s.ns("app");
    assert!(
        eventually(Duration::from_secs(60), || {
            let phases: Vec<Value> = h
                .list("pods", Some(&ns))
                .iter()
                .map(|p| p["status"]["phase"].clone())
                .collect();
            phases.contains(&json!("Succeeded")) && phases.contains(&json!("Failed"))
        }),
        "the jobs did not finish in {ns}"
    );
    let listed = h
        .oncall(&["node", "list", "-l", &s.node_selector(), "-o", "json"])
        .expect_code(0);
    let rows: Value = serde_json::from_str(&listed.stdout).unwrap();
    let pods = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == s.node(name))
            .map(|r| r["pods"].clone())
    };
    assert_eq!(pods("n1"), Some(json!(2)), "{}", listed.stdout);
    assert_eq!(pods("n2"), Some(json!(1)), "{}", listed.stdout);
    assert_eq!(pods("n3"), Some(json!(0)), "{}", listed.stdout);
    let table = h
        .oncall(&["node", "list", "-l", &s.node_selector()])
        .expect_code(0);
    let n1 = table
        .stdout
        .lines()
        .find(|l| l.starts_with(&s.node("n1")))
        .unwrap();
    assert!(n1.split_whitespace().any(|cell| cell == "2"), "{n1}");
}

/// A finalizer nobody removes holds an evicted pod forever: the drain says
/// so instead of "grace period", the check and the plan name it with the
/// flag that ends the wait, and that flag does end it.
fn a_pod_held_by_a_finalizer_is_named_and_skip_wait_ends_the_drain(backend: Backend) {
    let s = Scope::new("finalizer");
    let mut y = simple_cluster(&s);
    y += &deployment(&s, "held", 1, "n1")
        .set(
            "/spec/template/metadata/finalizers",
            json!(["oncall.dev/test-hold"]),
        )
        .yaml();
    let h = Harness::on(backend, &s, &y);
    wait_ready(&h, &s, 3);
    let n1 = s.node("n1");
    let run = h
        .oncall(&["node", "drain", &n1, "--yes", "--timeout", "4s"])
        .expect_code(5);
    assert!(
        run.stdout
            .contains("cannot be confirmed deleted: held by finalizer `oncall.dev/test-hold`"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("grace period"), "{}", run.stdout);

    let check = h.oncall(&["node", "check", &n1]).expect_code(1);
    assert!(
        check
            .stdout
            .contains("held by finalizer `oncall.dev/test-hold`")
            && check.stdout.contains("--skip-wait-for-delete-timeout"),
        "{}",
        check.stdout
    );
    let plan = h
        .oncall(&["node", "drain", &n1, "--dry-run"])
        .expect_code(0);
    assert!(
        plan.stdout.contains("wait for them forever")
            && plan.stdout.contains("--skip-wait-for-delete-timeout"),
        "{}",
        plan.stdout
    );
    let run = skip_wait_ends_the_drain(&h, &n1);
    assert!(
        run.stdout
            .contains("longer ago than --skip-wait-for-delete-timeout"),
        "{}",
        run.stdout
    );
}

/// A node whose kubelet died never confirms a deletion: the check names the
/// node's state as the blocker with the flag that ends the wait (and its
/// pods, no longer Ready, are no outage), the drain says so instead of
/// "grace period", and that flag does end it.
fn a_dead_nodes_pods_are_named_and_skip_wait_ends_its_drain(backend: Backend) {
    let s = Scope::new("deadnode");
    let mut y = s.namespace("app");
    y += &s.node_yaml("n1", "4", &[("cloud.google.com/gke-nodepool", "pool-a")]);
    y += &s.node_yaml("n2", "4", &[("cloud.google.com/gke-nodepool", "pool-a")]);
    // A short grace: an evicted pod's deletion is due two seconds later.
    y += &deployment(&s, "web", 2, "n1").grace_period(2).yaml();
    let h = Harness::on(backend, &s, &y);
    wait_ready(&h, &s, 2);
    let n1 = s.node("n1");
    h.stop_kubelet(&n1);
    // The node lifecycle controller marks the node's pods not Ready as it
    // finds the node unreachable.
    assert!(
        eventually(Duration::from_secs(90), || {
            let unknown = h.get("nodes", None, &n1).is_some_and(|n| {
                n["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "Unknown")
                })
            });
            unknown
                && h.list("pods", Some(&s.ns("app")))
                    .iter()
                    .all(|p| !is_ready(p))
        }),
        "{n1} did not turn unreachable with its pods not Ready"
    );
    // kubectl shows the node as NotReady.
    let get = h.kubectl(&["get", "node", &n1]).expect_code(0);
    assert!(get.stdout.contains(" NotReady "), "{}", get.stdout);
    let unreachable = format!("node `{n1}` is unreachable (Ready is Unknown) since");
    let check = h.oncall(&["node", "check", &n1]).expect_code(1);
    assert!(
        check.stdout.contains(&unreachable)
            && check.stdout.contains("--skip-wait-for-delete-timeout")
            && !check.stdout.contains("every ready replica"),
        "{}",
        check.stdout
    );
    let run = h
        .oncall(&["node", "drain", &n1, "--yes", "--timeout", "4s"])
        .expect_code(5);
    assert!(
        run.stdout
            .contains(&format!("cannot be confirmed deleted: {unreachable}")),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("grace period"), "{}", run.stdout);
    let run = skip_wait_ends_the_drain(&h, &n1);
    // Skipped in the plan or while waiting, as the deletions fall due.
    assert!(
        run.stdout.contains("--skip-wait-for-delete-timeout"),
        "{}",
        run.stdout
    );
}

/// A drain of `node` that stops waiting for pods deleted over a second ago
/// (`--skip-wait-for-delete-timeout 1`) and so ends, with exit 0.
fn skip_wait_ends_the_drain(h: &Harness, node: &str) -> Run {
    h.oncall(&[
        "node",
        "drain",
        node,
        "--yes",
        "--timeout",
        "60s",
        "--skip-wait-for-delete-timeout",
        "1",
    ])
    .expect_code(0)
}

/// `--scale-up` would run two copies of a `Recreate` singleton and add a
/// member to a clustered StatefulSet: the check names both as blockers with
/// the right action instead, and the verdict does not count on replicas
/// that will not be added. The config can list a workload as safe to scale.
fn scale_up_never_scales_a_singleton_or_a_statefulset(backend: Backend) {
    let s = Scope::new("singleton");
    let mut y = simple_cluster(&s);
    y += &deployment(&s, "cron", 1, "n1")
        .set("/spec/strategy", json!({"type": "Recreate"}))
        .yaml();
    y += &Workload::stateful_set(&s.ns("app"), "mq")
        .on_node(&s.node("n1"))
        .toleration(s.toleration())
        .image("rabbitmq")
        .yaml();
    let h = Harness::on(backend, &s, &y);
    wait_ready(&h, &s, 4);
    let n1 = s.node("n1");
    // Without --scale-up, each outage's fix suits its workload: only web
    // is sent to --scale-up.
    let (code, report) = check_json(&h, &n1, &[]);
    assert_eq!(code, 1, "{report:#}");
    let fix_of = |report: &serde_json::Value, workload: &str| -> String {
        let blockers = report["nodes"][0]["blockers"].as_array().unwrap();
        let named = blockers
            .iter()
            .find(|b| b["message"].as_str().unwrap().contains(workload))
            .unwrap_or_else(|| panic!("no blocker names {workload}: {report:#}"));
        named["fix"].as_str().unwrap().to_string()
    };
    let cron = fix_of(&report, "deployment/cron`");
    assert!(
        cron.starts_with("accept the short outage") && !cron.contains("pass --scale-up"),
        "{cron}"
    );
    let mq = fix_of(&report, "statefulset/mq`");
    assert!(
        mq.contains("one at a time") && !mq.contains("--scale-up"),
        "{mq}"
    );
    let web = fix_of(&report, "deployment/web`");
    assert_eq!(web, "pass --scale-up to add a replica elsewhere first");

    let (code, report) = check_json(&h, &n1, &["--scale-up"]);
    assert_eq!(code, 1, "{report:#}");
    let blockers = report["nodes"][0]["blockers"].to_string();
    assert!(
        blockers.contains("deployment/cron`") && blockers.contains("Recreate"),
        "{blockers}"
    );
    assert!(
        blockers.contains("statefulset/mq`") && blockers.contains("--concurrency 1"),
        "{blockers}"
    );
    let scaled: Vec<String> = report["nodes"][0]["scale_up"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["owner"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        scaled.iter().all(|o| o.starts_with("ReplicaSet/web-")),
        "only web is scaled: {scaled:?}"
    );

    h.write_config(&format!(
        "scale_up_safe: [{ns}/cron, {ns}/mq]\n",
        ns = s.ns("app")
    ));
    let (_, report) = check_json(&h, &n1, &["--scale-up"]);
    let scaled = report["nodes"][0]["scale_up"].to_string();
    assert!(
        scaled.contains("StatefulSet/mq") && scaled.contains("ReplicaSet/cron-"),
        "listed as safe, both may be scaled: {report:#}"
    );
    let blockers = report["nodes"][0]["blockers"].to_string();
    assert!(!blockers.contains("Recreate"), "{blockers}");
}

/// `kubectl uncordon` keeps oncall's cordon note. A later `kubectl cordon`
/// by someone else must not be shown as the old oncall cordon, with its old
/// reason, nor be undone by the old user without `--force`. Uncordoning with
/// oncall removes the note.
fn a_cordon_note_left_behind_by_kubectl_uncordon_is_ignored(backend: Backend) {
    let s = Scope::new("stale");
    let h = Harness::on(backend, &s, &simple_cluster(&s));
    let n1 = s.node("n1");
    let has_taint = |h: &Harness| {
        h.get("nodes", None, &n1).unwrap()["spec"]["taints"]
            .to_string()
            .contains("node.kubernetes.io/unschedulable")
    };
    h.oncall(&["node", "cordon", &n1, "--reason", "disk errors", "--yes"])
        .expect_code(0);
    assert!(eventually(Duration::from_secs(20), || has_taint(&h)));
    h.kubectl(&["uncordon", &n1]).expect_code(0);
    assert!(eventually(Duration::from_secs(20), || !has_taint(&h)));
    // A later cordon by hand, well after the note's time.
    std::thread::sleep(Duration::from_secs(12));
    h.kubectl(&["cordon", &n1]).expect_code(0);
    assert!(eventually(Duration::from_secs(20), || has_taint(&h)));

    let listed = h
        .oncall(&["node", "list", "-l", &s.node_selector()])
        .expect_code(0);
    assert!(!listed.stdout.contains("disk errors"), "{}", listed.stdout);
    let refused = h.oncall(&["node", "uncordon", &n1, "--yes"]);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(
        format!("{}{}", refused.stdout, refused.stderr).contains("--force"),
        "{}\n{}",
        refused.stdout,
        refused.stderr
    );
    assert_eq!(h.unschedulable(&n1), true);

    h.oncall(&["node", "uncordon", &n1, "--force", "--yes"])
        .expect_code(0);
    let node = h.get("nodes", None, &n1).unwrap();
    assert!(
        !node["metadata"]["annotations"]
            .to_string()
            .contains("oncall.dev/"),
        "the note is gone: {node}"
    );
}

/// kubectl exits 0 when a selector selects no node; so does oncall, saying
/// so in a sentence and changing nothing.
fn a_selector_that_selects_nothing_is_not_a_failure_as_in_kubectl(backend: Backend) {
    let s = Scope::new("empty");
    let h = Harness::on(backend, &s, &simple_cluster(&s));
    let selector = format!("{},nothing=here", s.node_selector());
    h.kubectl(&["cordon", "-l", &selector]).expect_code(0);
    for cmd in ["cordon", "drain", "uncordon"] {
        let ours = h
            .oncall(&["node", cmd, "-l", &selector, "--yes"])
            .expect_code(0);
        assert!(
            ours.stderr.contains("no resources found")
                && ours.stderr.contains("nothing was changed")
                && !ours.stderr.contains("error"),
            "{cmd}: {}",
            ours.stderr
        );
    }
    // A script asking for JSON reads each command's report, of no nodes,
    // and the sentence still goes to stderr.
    for (cmd, empty) in [
        ("cordon", json!({"cordoned": [], "already_cordoned": []})),
        ("uncordon", json!({"uncordoned": [], "left_cordoned": []})),
        ("drain", json!([])),
        ("check", json!({"go": true, "nodes": []})),
    ] {
        let ours = h
            .oncall(&["node", cmd, "-l", &selector, "--yes", "-o", "json"])
            .expect_code(0);
        let report: Value = serde_json::from_str(&ours.stdout)
            .unwrap_or_else(|e| panic!("{cmd}: {e}: {}", ours.stdout));
        assert_eq!(report, empty, "{cmd}");
        assert!(
            ours.stderr.contains("no resources found"),
            "{cmd}: {}",
            ours.stderr
        );
    }
}

/// A typo among the names changes nothing, as in kubectl, which exits 1
/// naming the first missing node; oncall names every missing one, so one
/// correction is enough.
fn every_unknown_node_name_is_named_and_nothing_changes(backend: Backend) {
    let s = Scope::new("typo");
    let h = Harness::on(backend, &s, &simple_cluster(&s));
    let (n1, typo1, typo2) = (s.node("n1"), s.node("nope1"), s.node("nope2"));
    let theirs = h.kubectl(&["cordon", &n1, &typo1, &typo2]);
    assert_eq!(theirs.code, 1, "{}", theirs.stderr);
    assert!(h.unschedulable(&n1).is_null(), "kubectl changed nothing");
    for cmd in ["cordon", "drain"] {
        let ours = h
            .oncall(&["node", cmd, &n1, &typo1, &typo2, "--yes"])
            .expect_code(1);
        assert!(
            ours.stderr
                .contains(&format!("`{typo1}`, `{typo2}` were not found"))
                && ours.stderr.contains("oncall node list"),
            "{cmd}: {}",
            ours.stderr
        );
        assert!(h.unschedulable(&n1).is_null(), "{cmd} changed nothing");
    }
}

/// Rows of an aligned table (kubectl's or oncall's), cut at the header's
/// column starts, so cells with spaces (an OS image) stay whole.
fn table_rows(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let mut starts = Vec::new();
    for (i, c) in header.char_indices() {
        if c != ' ' && (i == 0 || header.as_bytes()[i - 1] == b' ') {
            starts.push(i);
        }
    }
    lines
        .map(|line| {
            starts
                .iter()
                .enumerate()
                .map(|(n, &start)| {
                    let end = starts
                        .get(n + 1)
                        .copied()
                        .unwrap_or(line.len())
                        .min(line.len());
                    let name = header[start..]
                        .split_whitespace()
                        .next()
                        .unwrap()
                        .to_string();
                    (
                        name,
                        line.get(start.min(end)..end)
                            .unwrap_or("")
                            .trim()
                            .to_string(),
                    )
                })
                .collect()
        })
        .collect()
}

/// `-o wide` adds what kubectl's wide adds for nodes (addresses, OS image,
/// kernel, runtime) and the provider ID, with kubectl's values.
fn wide_node_list_shows_what_kubectl_wide_shows(backend: Backend) {
    let s = Scope::new("nlwide");
    let h = Harness::on(backend, &s, &simple_cluster(&s));
    let ours = h
        .oncall(&["node", "list", "-l", &s.node_selector(), "-o", "wide"])
        .expect_code(0);
    let theirs = h.kubectl(&["get", "nodes", "-l", &s.node_selector(), "-o", "wide"]);
    let (ours, theirs) = (table_rows(&ours.stdout), table_rows(&theirs.stdout));
    assert_eq!(ours.len(), 3, "{ours:?}");
    for row in &ours {
        let name = &row["NAME"];
        let kubectl = theirs
            .iter()
            .find(|r| &r["NAME"] == name)
            .unwrap_or_else(|| panic!("kubectl does not list {name}: {theirs:?}"));
        for column in [
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME",
            "VERSION",
        ] {
            assert_eq!(
                row.get(column),
                kubectl.get(column),
                "{name} {column}: {row:?} / {kubectl:?}"
            );
        }
        assert!(row.contains_key("PROVIDER-ID"), "{row:?}");
        assert!(
            row["INTERNAL-IP"].parse::<std::net::IpAddr>().is_ok(),
            "an address, not a placeholder: {row:?}"
        );
        assert!(
            row["CONTAINER-RUNTIME"].starts_with("containerd://"),
            "{row:?}"
        );
    }
    // The default table keeps to the columns an on-call engineer scans.
    let plain = h
        .oncall(&["node", "list", "-l", &s.node_selector()])
        .expect_code(0);
    assert!(!plain.stdout.contains("INTERNAL-IP"), "{}", plain.stdout);
}

/// The runbook's `node_drain` step and `oncall node drain` are one
/// procedure: on two like nodes they report the same outcome and leave
/// audit entries that differ only in the node's name.
fn a_runbook_drain_step_and_node_drain_end_the_same_and_record_the_same(backend: Backend) {
    let s = Scope::new("drainboth");
    let mut seed = simple_cluster(&s);
    seed += &deployment(&s, "api", 2, "n2").yaml();
    let h = Harness::on(backend, &s, &seed);
    wait_ready(&h, &s, 4);
    let (n1, n2) = (s.node("n1"), s.node("n2"));
    let by_command = h
        .oncall(&["node", "drain", &n1, "--yes", "-o", "json"])
        .expect_code(0);
    let by_command: Value = serde_json::from_str(&by_command.stdout).unwrap();
    let file = h.home.path().join("drain.yaml");
    std::fs::write(
        &file,
        format!(
            "name: drain\nsummary: drain one node\nsteps:\n  - id: drain\n    title: Drain it\n    node_drain: {{nodes: [{n2}]}}\n"
        ),
    )
    .unwrap();
    h.oncall(&["runbook", "run", file.to_str().unwrap(), "--yes"])
        .expect_code(0);
    let journal: Value =
        serde_json::from_str(&h.oncall(&["runbook", "log", "last", "-o", "json"]).stdout).unwrap();
    let by_step = &journal["steps"][0]["output"]["nodes"];
    // The same outcome, node by node: status, cordon, and each pod's fate.
    let fate = |drains: &Value, node: &str| {
        let d = &drains[0];
        assert_eq!(d["node"], node);
        let mut pods: Vec<String> = d["pods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| format!("{} {}", p["outcome"], p["reason"]))
            .collect();
        pods.sort();
        (
            d["status"].clone(),
            d["cordoned"].clone(),
            d["message"].clone(),
            pods,
        )
    };
    assert_eq!(fate(&by_command, &n1), fate(by_step, &n2));
    assert_eq!(fate(by_step, &n2).0, "drained");
    // The same audit entry, but for the node's name.
    let entries = h.audit_entries();
    let [.., command, step] = entries.as_slice() else {
        panic!("two audit entries: {entries:?}")
    };
    let outcome = |e: &Value, node: &str| e["outcome"].to_string().replace(node, "NODE");
    assert_eq!(outcome(command, &n1), outcome(step, &n2));
    assert_eq!(step["outcome"]["done"], json!([format!("node/{n2}")]));
    let keys = |e: &Value| e.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(command), keys(step));
    let changes = |e: &Value, node: &str| {
        let mut c: Vec<String> = e["plan"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c["action"], c["detail"]).replace(node, "NODE"))
            .collect();
        c.sort();
        c
    };
    assert_eq!(changes(command, &n1), changes(step, &n2));
}

/// A Ready GKE node of the scope: `pool` in `zone`, with 4 CPUs.
fn gke_node(s: &Scope, name: &str, pool: &str, zone: &str) -> String {
    s.node_fixture(name)
        .pool(pool)
        .zone(zone)
        .instance_type("e2-standard-4")
        .cpu("4")
        .yaml()
}

/// Two pools in three zones: `web` (2 replicas) on n1, `api` (1) on n2.
fn gke_cluster(s: &Scope) -> String {
    let mut y = s.namespace("app");
    y += &gke_node(s, "n1", "pool-a", "zone-a");
    y += &gke_node(s, "n2", "pool-a", "zone-b");
    y += &gke_node(s, "n3", "pool-b", "zone-c");
    y += &deployment(s, "web", 2, "n1").yaml();
    y += &deployment(s, "api", 1, "n2").yaml();
    y
}

fn list_shows_pool_zone_pods_and_who_cordoned(backend: Backend) {
    let s = Scope::new("nlist");
    let h = Harness::on(backend, &s, &gke_cluster(&s));
    wait_ready(&h, &s, 3);
    let (n1, n2, n3) = (s.node("n1"), s.node("n2"), s.node("n3"));
    h.oncall(&["node", "cordon", &n2, "--reason", "disk errors", "--yes"])
        .expect_code(0);
    let run = h
        .oncall(&["node", "list", "-l", &s.node_selector()])
        .expect_code(0);
    let line = |name: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {}", run.stdout))
            .to_string()
    };
    let first = line(&n1);
    assert!(
        first.contains("pool-a") && first.contains("zone-a") && first.contains("e2-standard-4"),
        "{first}"
    );
    let second = line(&n2);
    assert!(
        second.contains("SchedulingDisabled")
            && second.contains(&format!("by {}", os_user()))
            && second.contains("disk errors"),
        "{second}"
    );
    let json: Value = serde_json::from_str(
        &h.oncall(&["node", "list", "-l", &s.node_selector(), "-o", "json"])
            .expect_code(0)
            .stdout,
    )
    .unwrap();
    let listed = json
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == n1.as_str())
        .unwrap();
    assert_eq!(listed["pods"], 2);
    assert_eq!(listed["pool"], "pool-a");
    let pool_b = format!("{},cloud.google.com/gke-nodepool=pool-b", s.node_selector());
    let selected = h.oncall(&["node", "list", "-l", &pool_b]).expect_code(0);
    assert!(
        selected.stdout.contains(&n3) && !selected.stdout.contains(&format!("{n1} ")),
        "{}",
        selected.stdout
    );
}

fn cordon_without_tty_or_yes_refuses_and_records_it(backend: Backend) {
    let s = Scope::new("cnotty");
    let h = Harness::on(backend, &s, &simple_cluster(&s));
    let n1 = s.node("n1");
    let run = h.oncall(&["node", "cordon", &n1]).expect_code(3);
    assert!(run.stderr.contains("pass --yes"), "{}", run.stderr);
    assert!(h.unschedulable(&n1).is_null());
    let entries = h.audit_entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["answer"], "refused");
}

fn cordon_dry_run_changes_nothing(backend: Backend) {
    let s = Scope::new("cdry");
    let h = Harness::on(backend, &s, &simple_cluster(&s));
    let n1 = s.node("n1");
    let run = h
        .oncall(&["node", "cordon", &n1, "--dry-run"])
        .expect_code(0);
    assert!(
        run.stdout.contains(&format!("node/{n1}")) && run.stdout.contains("cordon"),
        "{}",
        run.stdout
    );
    assert!(h.unschedulable(&n1).is_null());
}

fn cordon_with_yes_is_audited_privately_and_uncordon_removes_the_field(backend: Backend) {
    let s = Scope::new("caudit");
    let h = Harness::on(backend, &s, &simple_cluster(&s));
    let n1 = s.node("n1");
    h.oncall(&["node", "cordon", &n1, "--yes", "--reason", "kernel panic"])
        .expect_code(0);
    let node = h.get("nodes", None, &n1).unwrap();
    assert_eq!(node["spec"]["unschedulable"], true);
    assert_eq!(
        node["metadata"]["annotations"]["oncall.dev/cordoned-by"],
        os_user().as_str()
    );
    assert_eq!(
        node["metadata"]["annotations"]["oncall.dev/cordon-reason"],
        "kernel panic"
    );

    // Cordoning again is a note, not an error.
    let again = h.oncall(&["node", "cordon", &n1, "--yes"]).expect_code(0);
    assert!(
        again.stdout.contains("already cordoned"),
        "{}",
        again.stdout
    );

    let entries = h.audit_entries();
    assert_eq!(entries[0]["answer"], "yes_flag");
    assert_eq!(entries[0]["outcome"]["status"], "ok");
    // No credential of the kubeconfig is written to the log.
    let text = std::fs::read_to_string(h.audit_path()).unwrap();
    let kubeconfig = std::fs::read_to_string(&h.kubeconfig).unwrap();
    for secret in kubeconfig
        .lines()
        .filter_map(|l| l.trim().strip_prefix("token:"))
        .map(|t| t.trim().trim_matches('"'))
        .filter(|t| !t.is_empty())
    {
        assert!(!text.contains(secret), "the token is in the audit log");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(h.audit_path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    h.oncall(&["node", "uncordon", &n1, "--yes"]).expect_code(0);
    let node = h.get("nodes", None, &n1).unwrap();
    assert!(
        node["spec"].get("unschedulable").is_none(),
        "the field is removed, not set to false: {}",
        node["spec"]
    );
    assert!(
        node["metadata"]["annotations"]
            .get("oncall.dev/cordoned-by")
            .is_none()
    );
}

fn cordon_and_uncordon_report_each_node_and_name_them_in_json(backend: Backend) {
    let s = Scope::new("cjson");
    let h = Harness::on(backend, &s, &simple_cluster(&s));
    let (n1, n2, n3) = (s.node("n1"), s.node("n2"), s.node("n3"));
    let first = h.oncall(&["node", "cordon", &n1, "--yes"]).expect_code(0);
    assert!(
        first.stdout.contains(&format!("node/{n1} cordoned")),
        "{}",
        first.stdout
    );

    let json = |args: &[&str], code: i32| -> Value {
        let run = h.oncall(args).expect_code(code);
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
    };
    let cordoned = json(&["node", "cordon", &n1, &n2, "--yes", "-o", "json"], 0);
    assert_eq!(cordoned["cordoned"], json!([n2]));
    assert_eq!(cordoned["already_cordoned"], json!([n1]));
    // Nothing left to cordon: a script still reads the report.
    let again = json(&["node", "cordon", &n1, &n2, "--yes", "-o", "json"], 0);
    assert_eq!(again, json!({"cordoned": [], "already_cordoned": [n1, n2]}));

    // n3 was cordoned by someone else: left as it is, and the exit says so.
    h.kubectl(&["cordon", &n3]).expect_code(0);
    let uncordoned = json(&["node", "uncordon", &n1, &n3, "--yes", "-o", "json"], 1);
    assert_eq!(uncordoned["uncordoned"], json!([n1]));
    let left = uncordoned["left_cordoned"].as_array().unwrap();
    assert!(
        left.len() == 1 && left[0].as_str().unwrap().contains(&n3),
        "{uncordoned}"
    );
    assert_eq!(h.unschedulable(&n3), true);
}

fn uncordon_leaves_someone_elses_cordon_without_force(backend: Backend) {
    let s = Scope::new("cforce");
    let h = Harness::on(backend, &s, &simple_cluster(&s));
    let n1 = s.node("n1");
    h.kubectl(&["cordon", &n1]).expect_code(0);
    let run = h.oncall(&["node", "uncordon", &n1, "--yes"]).expect_code(1);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(h.unschedulable(&n1), true);
    h.oncall(&["node", "uncordon", &n1, "--yes", "--force"])
        .expect_code(0);
    assert!(h.unschedulable(&n1).is_null());
}

fn check_on_a_healthy_node_is_go(backend: Backend) {
    let s = Scope::new("checkgo");
    let mut y = gke_cluster(&s);
    y += &gke_node(&s, "n4", "pool-b", "zone-d");
    y += &s
        .deployment("spread")
        .replicas(2)
        .grace_period(30)
        .node_selector("cloud.google.com/gke-nodepool", "pool-b")
        .yaml();
    let h = Harness::on(backend, &s, &y);
    wait_ready(&h, &s, 5);
    let n3 = s.node("n3");
    let (code, report) = check_json(&h, &n3, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["go"], true, "{report:#}");
    assert_eq!(report["nodes"][0]["go"], true, "{report:#}");
    assert_eq!(kinds(&report), Vec::<String>::new());
    // The text says so too ("GO" alone would also match "NO-GO").
    let run = h.oncall(&["node", "check", &n3]).expect_exit(0);
    assert!(
        run.stdout.lines().any(|l| l.trim() == "verdict: GO")
            && run.stdout.contains("GO: all 1 node(s) can be drained")
            && !run.stdout.contains("NO-GO"),
        "{}",
        run.stdout
    );
}

fn drain_dry_run_changes_nothing_and_refusal_without_yes(backend: Backend) {
    let s = Scope::new("ddry");
    let h = Harness::on(backend, &s, &simple_cluster(&s));
    wait_ready(&h, &s, 2);
    let n1 = s.node("n1");
    let before = h.pods_on(&n1);
    let run = h
        .oncall(&["node", "drain", &n1, "--dry-run"])
        .expect_code(0);
    assert!(run.stdout.contains("evict"), "{}", run.stdout);
    h.oncall(&["node", "drain", &n1]).expect_code(3);
    assert!(h.unschedulable(&n1).is_null());
    assert_eq!(h.pods_on(&n1), before);
}

fn replace_needs_a_way_to_terminate(backend: Backend) {
    let s = Scope::new("rnoterm");
    let h = Harness::on(backend, &s, &simple_cluster(&s));
    let n1 = s.node("n1");
    let run = h.oncall(&["node", "replace", &n1, "--yes"]).expect_code(2);
    assert!(run.stderr.contains("--delete-node"), "{}", run.stderr);
    assert!(h.unschedulable(&n1).is_null());
}

/// Moving a workload whose only pod never became ready takes nothing away:
/// it is not an outage blocker (a ready single replica still is).
fn a_workload_that_is_already_down_is_not_an_outage(backend: Backend) {
    let s = Scope::new("down");
    let mut y = gke_cluster(&s);
    y += &deployment(&s, "broken", 1, "n1")
        .pod_annotation("sim.oncall.dev/fault", "not-ready")
        .yaml();
    let h = Harness::on(backend, &s, &y);
    wait_ready(&h, &s, 3);
    let (code, report) = check_json(&h, &s.node("n1"), &[]);
    let outages: Vec<&Value> = report["nodes"][0]["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["kind"] == "outage")
        .collect();
    let text = format!("{outages:#?}");
    assert!(
        text.contains("web-"),
        "the ready web pods still count: {text}"
    );
    assert!(!text.contains("broken-"), "{text}");
    assert_eq!(code, 1);
}

fn ctrl_c_stops_a_drain_cleanly_and_says_the_node_stays_cordoned(backend: Backend) {
    let s = Scope::new("dctrlc");
    let mut y = gke_cluster(&s);
    y += &web_budget(&s);
    let h = Harness::on(backend, &s, &y);
    wait_ready(&h, &s, 3);
    let n1 = s.node("n1");
    let child = h.spawn_oncall(&["node", "drain", &n1, "--yes"]);
    // Interrupted while the budget holds web's pods.
    child.wait_for_stderr("web-pdb", Duration::from_secs(30));
    assert_eq!(h.unschedulable(&n1), true);
    child.signal(libc::SIGINT);
    let run = child.finish().expect_exit(130);
    let stderr = run.stderr;
    assert!(
        stderr.contains(&format!("oncall node uncordon {n1}")),
        "{stderr}"
    );
    assert_eq!(h.pods_on(&n1).len(), 2);
    assert_eq!(
        h.audit_entries().last().unwrap()["outcome"]["status"],
        "interrupted"
    );
}

/// One Deployment `solo` with one replica, on n1 or n2 of the scope's pool;
/// returns the seed and the node the replica runs on, once it is ready.
fn solo(backend: Backend, s: &Scope) -> (Harness, String) {
    solo_with(backend, s, |w| w)
}

/// [`solo`] with its Deployment changed by `adjust`.
fn solo_with(
    backend: Backend,
    s: &Scope,
    adjust: impl FnOnce(Workload) -> Workload,
) -> (Harness, String) {
    let pool = s.id.clone() + "-pool-a";
    let mut y = s.namespace("app");
    y += &s.node_yaml("n1", "4", &[("cloud.google.com/gke-nodepool", &pool)]);
    y += &s.node_yaml("n2", "4", &[("cloud.google.com/gke-nodepool", &pool)]);
    y += &adjust(
        s.deployment("solo")
            .grace_period(30)
            .node_selector("cloud.google.com/gke-nodepool", &pool),
    )
    .yaml();
    let h = Harness::on(backend, s, &y);
    wait_ready(&h, s, 1);
    let pod = h.list("pods", Some(&s.ns("app"))).pop().unwrap();
    let node = pod["spec"]["nodeName"].as_str().unwrap().to_string();
    (h, node)
}

/// `node drain NODE --scale-up`, which must succeed within a minute.
fn drain_scaling_up(h: &Harness, node: &str) -> Run {
    h.oncall(&[
        "node",
        "drain",
        node,
        "--scale-up",
        "--yes",
        "--timeout",
        "60s",
    ])
    .expect_code(0)
}

fn scale_up_adds_a_replica_elsewhere_before_draining_and_restores_it(backend: Backend) {
    let s = Scope::new("scaleup");
    let (h, node) = solo(backend, &s);
    let ns = s.ns("app");
    let (code, report) = check_json(&h, &node, &[]);
    assert_eq!(code, 1);
    assert!(kinds(&report).contains(&"outage".to_string()));

    let run = drain_scaling_up(&h, &node);
    assert!(
        run.stdout.contains(&format!("{ns}/deployment/solo")) && run.stdout.contains("1 → 2"),
        "{}",
        run.stdout
    );
    let deploy = h.get("deployments", Some(&ns), "solo").unwrap();
    assert_eq!(deploy["spec"]["replicas"], 1, "restored");
    assert!(h.pods_on(&node).is_empty());
    wait_ready(&h, &s, 1);
}

/// Two engineers drain the one node of a single-replica Deployment with
/// `--scale-up` at once. New pods take 5 s to start, so the second drain
/// begins while the first one's extra replica is not ready and the outage
/// still shows: one replica is added, never two, and the true count (1) is
/// restored.
fn two_scale_up_drains_of_one_node_add_one_replica_and_restore_the_true_count(backend: Backend) {
    let s = Scope::new("scaletwice");
    let (h, node) = solo_with(backend, &s, |w| {
        w.pod_annotation(oncall_sim::ANNOTATION_FAULT, "slow-start")
    });
    let ns = s.ns("app");
    let stop = AtomicBool::new(false);
    let most = AtomicI64::new(0);
    let drain = [
        "node",
        "drain",
        &node,
        "--scale-up",
        "--yes",
        "--timeout",
        "60s",
    ];
    let (first, second) = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                if let Some(d) = h.get("deployments", Some(&ns), "solo") {
                    let replicas = d["spec"]["replicas"].as_i64().unwrap_or(0);
                    most.fetch_max(replicas, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let first = h.spawn_oncall(&drain);
        assert!(
            eventually(Duration::from_secs(10), || most.load(Ordering::SeqCst) == 2),
            "the first drain added a replica"
        );
        let second = h.spawn_oncall(&drain);
        let runs = (first.finish(), second.finish());
        stop.store(true, Ordering::SeqCst);
        runs
    });
    for run in [&first, &second] {
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }
    // The second saw the first's replica not ready yet: it planned the
    // same scale-up, as done by another run.
    assert!(
        second
            .stdout
            .contains("already 1 → 2 replicas by another run"),
        "{}",
        second.stdout
    );
    assert_eq!(
        most.load(Ordering::SeqCst),
        2,
        "one replica added, never two"
    );
    let deploy = h.get("deployments", Some(&ns), "solo").unwrap();
    assert_eq!(deploy["spec"]["replicas"], 1, "the true original count");
    assert!(
        deploy["metadata"]["annotations"]["oncall.dev/scaled-up-from"].is_null(),
        "{}",
        deploy["metadata"]
    );
    assert!(h.pods_on(&node).is_empty());
}

fn a_drain_after_an_unfinished_scale_up_restores_the_recorded_count(backend: Backend) {
    let s = Scope::new("scaleleft");
    let (h, node) = solo(backend, &s);
    let ns = s.ns("app");
    let other = if node == s.node("n1") {
        s.node("n2")
    } else {
        s.node("n1")
    };
    // A run that was killed after adding the replica left its record, and
    // both replicas on the node (the other node was cordoned then).
    h.kubectl(&["cordon", &other]).expect_code(0);
    h.kubectl(&[
        "-n",
        &ns,
        "annotate",
        "deployment/solo",
        "oncall.dev/scaled-up-from=1",
    ])
    .expect_code(0);
    h.kubectl(&["-n", &ns, "scale", "deployment/solo", "--replicas=2"])
        .expect_code(0);
    wait_ready(&h, &s, 2);
    h.kubectl(&["uncordon", &other]).expect_code(0);
    let run = drain_scaling_up(&h, &node);
    assert!(run.stdout.contains("already 1 → 2"), "{}", run.stdout);
    let deploy = h.get("deployments", Some(&ns), "solo").unwrap();
    assert_eq!(deploy["spec"]["replicas"], 1, "{}", run.stdout);
    assert!(deploy["metadata"]["annotations"]["oncall.dev/scaled-up-from"].is_null());
}

/// Runs oncall on a pseudo-terminal, typing `answer` at its first
/// question; returns the exit code and what the terminal showed.
fn oncall_in_pty(h: &Harness, args: &[&str], answer: &str) -> (i32, String) {
    let run = h
        .cmd()
        .args(args)
        .env("TERM", "xterm")
        .pty()
        .answer(&["Type its name", "(y/n)"], answer)
        .run();
    eprintln!("{}", run.stdout);
    (run.code, run.stdout)
}

/// The kubeconfig's current context, which a protected context names.
fn current_context(h: &Harness) -> String {
    h.kubectl(&["config", "current-context"])
        .expect_code(0)
        .stdout
        .trim()
        .to_string()
}

fn protected_context_demands_its_name_typed(backend: Backend) {
    let s = Scope::new("protected");
    let h = Harness::on(backend, &s, &simple_cluster(&s));
    let (n1, context) = (s.node("n1"), current_context(&h));
    h.write_config(&format!("protected_contexts: [{context}]\n"));
    assert_eq!(oncall_in_pty(&h, &["node", "cordon", &n1], "nope\r").0, 3);
    assert!(h.unschedulable(&n1).is_null());
    let typed = format!("{context}\r");
    assert_eq!(oncall_in_pty(&h, &["node", "cordon", &n1], &typed).0, 0);
    assert_eq!(h.unschedulable(&n1), true);
    let entries = h.audit_entries();
    assert_eq!(entries.last().unwrap()["answer"], "typed_context");
}

fn ctrl_c_at_a_prompt_exits_130_with_one_message_on_its_own_line(backend: Backend) {
    let s = Scope::new("promptc");
    let h = Harness::on(backend, &s, &simple_cluster(&s));
    let (n1, context) = (s.node("n1"), current_context(&h));
    for protected in [false, true] {
        if protected {
            h.write_config(&format!("protected_contexts: [{context}]\n"));
        }
        let (code, shown) = oncall_in_pty(&h, &["node", "cordon", &n1], "\x03");
        assert_eq!(code, 130, "{shown}");
        let line = shown
            .lines()
            .find(|l| l.contains("interrupted at the prompt: nothing was changed"))
            .unwrap_or_else(|| panic!("no interruption message in {shown:?}"));
        assert!(!line.contains('?') && !line.contains("Type"), "{line:?}");
        assert!(
            !shown.contains("finishing the current step"),
            "nothing was under way: {shown:?}"
        );
        // The prompt hid the cursor; the terminal must get it back.
        let hidden = shown.rfind("\x1b[?25l");
        assert!(
            hidden.is_none_or(|at| shown[at..].contains("\x1b[?25h")),
            "{shown:?}"
        );
        assert!(h.unschedulable(&n1).is_null());
        assert!(
            h.audit_entries().is_empty(),
            "nothing changed, nothing recorded"
        );
    }
}
