//! `node replace` and `node rotate` on both backends: deleting the node or
//! running a terminate command, in batches or draining only, a broken
//! workload, Ctrl-C twice, the runbook's step, and a rotation under the
//! simulator's API faults (played in front of the real control plane by the
//! fault proxy). The cloud's autoscaler (which brings a deleted pool node
//! back as a new node) is the simulator's own, and the test's on a real
//! cluster.

mod common;
use common::*;

use std::time::Duration;

on_both_backends!(
    replace_deletes_the_node_and_waits_for_its_replacement,
    rotate_without_terminating_cordons_and_drains_the_pool,
    replace_does_not_wait_for_a_workload_broken_before_the_drain,
    a_runbook_replace_step_and_the_command_end_and_record_alike,
    a_replace_stopped_while_it_waits_says_what_it_did_and_records_it,
    replace_waits_for_a_degraded_workload_to_be_as_ready_as_before,
    replace_terminates_with_a_command_and_waits_for_the_new_node,
    rotate_cordons_the_pool_then_replaces_it_in_batches,
    rotate_survives_a_flaky_api_server,
    a_second_ctrl_c_quits_at_once_and_still_leaves_an_audit_entry,
    on_a_terminal_the_bar_says_when_it_waits_for_a_replacement_node,
);

/// pool-a: n1, n2, n5; pool-b: n3. `web` (3 replicas) runs anywhere in pool-a.
fn pool_cluster(s: &Scope) -> String {
    let pool_a = s.id.clone() + "-pool-a";
    let pool_b = s.id.clone() + "-pool-b";
    let mut y = s.namespace("app");
    for (node, pool) in [
        ("n1", &pool_a),
        ("n2", &pool_a),
        ("n5", &pool_a),
        ("n3", &pool_b),
    ] {
        y += &s.node_yaml(node, "4", &[("cloud.google.com/gke-nodepool", pool)]);
    }
    y += &s
        .deployment("web")
        .replicas(3)
        .node_selector("cloud.google.com/gke-nodepool", &pool_a)
        .grace_period(5)
        .yaml();
    y
}

/// `node replace NODE --delete-node`, waiting up to a minute for the new
/// node: it must succeed.
fn replace_deleting_the_node(h: &Harness, node: &str) -> Run {
    h.oncall(&[
        "node",
        "replace",
        node,
        "--delete-node",
        "--yes",
        "--wait-replacement",
        "60s",
    ])
    .expect_code(0)
}

fn ready_web(h: &Harness, s: &Scope) -> i64 {
    h.get("deployments", Some(&s.ns("app")), "web")
        .and_then(|d| d["status"]["readyReplicas"].as_i64())
        .unwrap_or(0)
}

fn replace_deletes_the_node_and_waits_for_its_replacement(backend: Backend) {
    let s = Scope::new("replace");
    let h = Harness::on(backend, &s, &pool_cluster(&s));
    h.play_autoscaler();
    assert!(eventually(Duration::from_secs(60), || ready_web(&h, &s) == 3));
    let n1 = s.node("n1");
    let run = replace_deleting_the_node(&h, &n1);
    assert_replaced(&h, &s, &n1, &run);
}

/// `old` is gone from pool-a, a new node took its place, and `web` is
/// ready again: a replace returns only then.
fn assert_replaced(h: &Harness, s: &Scope, old: &str, run: &Run) {
    assert!(
        run.stdout
            .contains(&format!("node/{old} replaced by node/")),
        "{}",
        run.stdout
    );
    let pool = h.pool_nodes(&(s.id.clone() + "-pool-a"));
    assert!(!pool.iter().any(|n| n == old), "{pool:?}");
    assert_eq!(pool.len(), 3, "{pool:?}\n{}", run.stdout);
    assert_eq!(ready_web(h, s), 3);
}

fn rotate_without_terminating_cordons_and_drains_the_pool(backend: Backend) {
    let s = Scope::new("rotate");
    let h = Harness::on(backend, &s, &pool_cluster(&s));
    assert!(eventually(Duration::from_secs(60), || ready_web(&h, &s) == 3));
    let pool_a = format!("cloud.google.com/gke-nodepool={}-pool-a", s.id);
    h.oncall(&[
        "node",
        "rotate",
        "-l",
        &pool_a,
        "--no-terminate",
        "--yes",
        "--timeout",
        "60s",
    ])
    .expect_code(0);
    for old in ["n1", "n2", "n5"] {
        let name = s.node(old);
        let node = h.get("nodes", None, &name).unwrap();
        assert_eq!(node["spec"]["unschedulable"], true, "{name}");
        let live = h
            .list("pods", Some(&s.ns("app")))
            .into_iter()
            .filter(|p| {
                p["spec"]["nodeName"] == name.as_str()
                    && p["metadata"]["deletionTimestamp"].is_null()
            })
            .count();
        assert_eq!(live, 0, "{name} still runs pods");
    }
    // pool-b was left alone.
    assert!(h.get("nodes", None, &s.node("n3")).unwrap()["spec"]["unschedulable"].is_null());
}

/// A crash-looping workload on the replaced node was broken before the
/// drain: replace says so and finishes, instead of waiting out
/// `--wait-replacement` and failing after the node was already replaced.
/// Without a terminal, plain progress lines say what it waits for.
fn replace_does_not_wait_for_a_workload_broken_before_the_drain(backend: Backend) {
    let s = Scope::new("broken");
    let mut y = pool_cluster(&s);
    y += &s
        .deployment("ledger")
        .on_node(&s.node("n1"))
        .pod_annotation("sim.oncall.dev/fault", "crash-loop")
        .grace_period(5)
        .image("ledger")
        .yaml();
    let h = Harness::on(backend, &s, &y);
    h.play_autoscaler();
    assert!(eventually(Duration::from_secs(60), || ready_web(&h, &s) == 3));
    let ns = s.ns("app");
    assert!(
        eventually(Duration::from_secs(60), || h
            .list("pods", Some(&ns))
            .iter()
            .any(|p| p["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("ledger-"))
                && p["status"]["containerStatuses"][0]["restartCount"]
                    .as_i64()
                    .unwrap_or(0)
                    > 0)),
        "ledger crash-loops before the drain"
    );
    let n1 = s.node("n1");
    let run = h
        .cmd()
        .args([
            "node",
            "replace",
            &n1,
            "--delete-node",
            "--yes",
            "--wait-replacement",
            "60s",
        ])
        .env("ONCALL_PROGRESS_INTERVAL", "1s")
        .run()
        .expect_exit(0);
    // A warning on stderr (so also with `-o json`), with what `pods stuck`
    // finds wrong with it.
    assert!(
        run.stderr.contains(&format!(
            "warning: `{ns}/deployment/ledger` was already unhealthy before the drain (0 of 1 ready); not waited for: "
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains(&format!("node/{n1} replaced by node/")),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains(&format!("waiting for a new Ready node to replace {n1}")),
        "{}",
        run.stderr
    );
    assert_eq!(ready_web(&h, &s), 3);
}

/// The runbook's `node_replace` step and `oncall node replace` are one
/// procedure: replacing two like nodes of a pool, they end the same way and
/// leave audit entries that differ only in the nodes' names.
fn a_runbook_replace_step_and_the_command_end_and_record_alike(backend: Backend) {
    let s = Scope::new("replboth");
    let h = Harness::on(backend, &s, &pool_cluster(&s));
    h.play_autoscaler();
    assert!(eventually(Duration::from_secs(60), || ready_web(&h, &s) == 3));
    let (n1, n2) = (s.node("n1"), s.node("n2"));
    replace_deleting_the_node(&h, &n1);
    let file = h.home.path().join("replace.yaml");
    std::fs::write(
        &file,
        format!(
            "name: replace\nsummary: replace one node\nsteps:\n  - id: replace\n    title: Replace it\n    node_replace: {{nodes: [{n2}], delete_node: true, wait_replacement: 60s}}\n"
        ),
    )
    .unwrap();
    h.oncall(&["runbook", "run", file.to_str().unwrap(), "--yes"])
        .expect_code(0);
    let pool = h.pool_nodes(&(s.id.clone() + "-pool-a"));
    assert!(!pool.contains(&n1) && !pool.contains(&n2), "{pool:?}");
    assert_eq!(pool.len(), 3, "{pool:?}");
    assert!(eventually(Duration::from_secs(60), || ready_web(&h, &s) == 3));
    // Node names (the replaced one and its replacement) and pod names differ.
    let names = regex::Regex::new(&format!(r"{}-[0-9a-z-]+", regex::escape(&s.id))).unwrap();
    let normal = |text: String| names.replace_all(&text, "NAME").to_string();
    // Which of `web`'s pods each node had is the scheduler's choice (the
    // drain's own test compares evictions): the node's steps are compared.
    assert_recorded_alike(&h, |_, text| {
        (!text.starts_with("\"pod/")).then(|| normal(text.to_string()))
    });
}

/// `timeout`, systemd and CI runners stop a replace with SIGTERM, and a
/// replace spends most of its time waiting for the new node: the wait ends
/// at once (the runner sends SIGKILL soon after), and the node already
/// terminated is on record. Nothing replaces a node whose terminate
/// command leaves it in place, so the wait would last `--wait-replacement`.
fn a_replace_stopped_while_it_waits_says_what_it_did_and_records_it(backend: Backend) {
    let s = Scope::new("stopwait");
    let h = Harness::on(backend, &s, &pool_cluster(&s));
    assert!(eventually(Duration::from_secs(60), || ready_web(&h, &s) == 3));
    let n1 = s.node("n1");
    let replace = h.spawn_oncall(&[
        "node",
        "replace",
        &n1,
        "--terminate",
        "true",
        "--yes",
        "--wait-replacement",
        "10m",
    ]);
    replace.wait_for_stderr(
        &format!("waiting for a new Ready node to replace {n1}"),
        Duration::from_secs(60),
    );
    replace.signal(libc::SIGTERM);
    let run = replace
        .finish_within(Duration::from_secs(20))
        .expect_exit(143);
    assert!(
        run.stderr
            .contains(&format!("interrupted: node/{n1} terminated"))
            && run.stderr.contains(&format!(
                "not done: the wait for a new node to replace {n1}"
            )),
        "{}",
        run.stderr
    );
    let entry = h.audit_entries().last().cloned().expect("an audit entry");
    assert_eq!(entry["outcome"]["status"], "interrupted", "{entry}");
    assert_eq!(entry["outcome"]["done"], serde_json::json!([n1]), "{entry}");
}

/// A workload already degraded before the drain (its pods on a node whose
/// kubelet died are not ready) loses its ready pods on the replaced node:
/// the replace waits until it is as ready as before, on the new node,
/// instead of finishing while none of it is ready.
fn replace_waits_for_a_degraded_workload_to_be_as_ready_as_before(backend: Backend) {
    let s = Scope::new("degraded");
    let pool_a = s.id.clone() + "-pool-a";
    let mut y = s.namespace("app");
    for node in ["n1", "n2"] {
        y += &s.node_yaml(node, "4", &[("cloud.google.com/gke-nodepool", &pool_a)]);
    }
    y += &s
        .deployment("web")
        .replicas(3)
        .node_selector("cloud.google.com/gke-nodepool", &pool_a)
        .grace_period(1)
        .yaml();
    let h = Harness::on(backend, &s, &y);
    h.play_autoscaler();
    assert!(eventually(Duration::from_secs(60), || ready_web(&h, &s) == 3));
    let on = |node: &str| h.pods_on(node).len() as i64;
    let (n1, n2) = (s.node("n1"), s.node("n2"));
    let (kept, dead) = if on(&n1) > 0 { (n1, n2) } else { (n2, n1) };
    let before = on(&kept);
    h.stop_kubelet(&dead);
    assert!(
        eventually(Duration::from_secs(90), || ready_web(&h, &s) == before),
        "the pods on {dead} did not turn unready"
    );
    let run = replace_deleting_the_node(&h, &kept);
    let ns = s.ns("app");
    assert!(
        run.stderr.contains(&format!(
            "`{ns}/deployment/web` was already unhealthy before the drain ({before} of 3 ready); waited only for {before} ready again"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(ready_web(&h, &s), before, "{}", run.stdout);
}

fn replace_terminates_with_a_command_and_waits_for_the_new_node(backend: Backend) {
    let s = Scope::new("rterm");
    let h = Harness::on(backend, &s, &pool_cluster(&s));
    h.play_autoscaler();
    assert!(eventually(Duration::from_secs(60), || ready_web(&h, &s) == 3));
    let n1 = s.node("n1");
    // The terminate command is an argument list; here it deletes the node through kubectl.
    let template = format!(
        "{} --kubeconfig {} --cache-dir {} delete node {{node}}",
        kubectl_path().display(),
        h.kubeconfig.display(),
        h.home.path().join("kube-cache").display()
    );
    let run = h
        .oncall(&[
            "node",
            "replace",
            &n1,
            "--yes",
            "--terminate",
            &template,
            "--wait-replacement",
            "60s",
        ])
        .expect_code(0);
    assert_replaced(&h, &s, &n1, &run);
}

fn rotate_cordons_the_pool_then_replaces_it_in_batches(backend: Backend) {
    let s = Scope::new("rbatch");
    let h = Harness::on(backend, &s, &pool_cluster(&s));
    h.play_autoscaler();
    assert!(eventually(Duration::from_secs(60), || ready_web(&h, &s) == 3));
    let (pool_a, pool_b) = (s.id.clone() + "-pool-a", s.id.clone() + "-pool-b");
    let selector = format!("cloud.google.com/gke-nodepool={pool_a}");
    let run = h
        .oncall(&[
            "node",
            "rotate",
            "-l",
            &selector,
            "--batch",
            "2",
            "--delete-node",
            "--wait-replacement",
            "60s",
            "--yes",
        ])
        .expect_code(0);
    for old in ["n1", "n2", "n5"] {
        let old = s.node(old);
        assert!(
            run.stdout
                .contains(&format!("node/{old} replaced by node/")),
            "{}",
            run.stdout
        );
        assert!(h.get("nodes", None, &old).is_none());
    }
    assert_eq!(h.pool_nodes(&pool_a).len(), 3);
    assert_eq!(h.pool_nodes(&pool_b), vec![s.node("n3")]);
    assert!(eventually(Duration::from_secs(60), || ready_web(&h, &s) == 3));
}

/// A pool rotated two nodes at a time while the API server fails about one
/// request in six (5xx, 429, dropped connections, stale writes, expiring
/// watches): every old node is gone and the pool is whole again, for every
/// fault seed.
fn rotate_survives_a_flaky_api_server(backend: Backend) {
    for_each_fault_seed(|seed| {
        let s = Scope::new("flakyrotate");
        let h = Harness::on(backend, &s, &pool_cluster(&s));
        h.play_autoscaler();
        if !eventually(Duration::from_secs(60), || ready_web(&h, &s) == 3) {
            return Err("web did not get ready".to_string());
        }
        let pool_a = s.id.clone() + "-pool-a";
        let selector = format!("cloud.google.com/gke-nodepool={pool_a}");
        h.set_faults(flaky_api(seed));
        let run = h.oncall(&[
            "node",
            "rotate",
            "-l",
            &selector,
            "--batch",
            "2",
            "--delete-node",
            "--wait-replacement",
            "60s",
            "--timeout",
            "60s",
            "--yes",
        ]);
        h.set_faults(FaultSpec::default());
        if run.code != 0 {
            return Err(format!("exit {}: {}{}", run.code, run.stdout, run.stderr));
        }
        if let Some(old) = ["n1", "n2", "n5"]
            .map(|n| s.node(n))
            .into_iter()
            .find(|n| h.get("nodes", None, n).is_some())
        {
            return Err(format!("node/{old} is still there: {}", run.stdout));
        }
        match h.pool_nodes(&pool_a).len() {
            3 => Ok(()),
            n => Err(format!("{n} nodes in the pool: {}", run.stdout)),
        }
    });
}

fn a_second_ctrl_c_quits_at_once_and_still_leaves_an_audit_entry(backend: Backend) {
    let s = Scope::new("ctrlc2");
    let h = Harness::on(backend, &s, &pool_cluster(&s));
    assert!(eventually(Duration::from_secs(60), || ready_web(&h, &s) == 3));
    // A terminate command that takes its time, as a cloud CLI does; it
    // says when it has started.
    let started = h.home.path().join("terminating");
    let template = format!("sh -c 'touch {}; sleep 30'", started.display());
    let n1 = s.node("n1");
    let replace = h.spawn_oncall(&["node", "replace", &n1, "--yes", "--terminate", &template]);
    assert!(
        eventually(Duration::from_secs(60), || started.exists()),
        "the terminate command never started"
    );
    replace.signal(libc::SIGINT);
    replace.wait_for_stderr("finishing the current step", Duration::from_secs(10));
    replace.signal(libc::SIGINT);
    replace
        .finish_within(Duration::from_secs(10))
        .expect_exit(130);
    let entries = h.audit_entries();
    let last = entries.last().expect("an audit entry");
    assert_eq!(last["outcome"]["status"], "interrupted", "{last}");
    assert!(
        last["outcome"]["detail"]
            .as_str()
            .unwrap()
            .contains("quit at once by a second signal"),
        "{last}"
    );
    let action = last["plan"]["action"].as_str().unwrap();
    assert!(action.starts_with("replace"), "{last}");
}

/// On a terminal, the node's bar says what the replace waits for once the
/// drain is done, instead of still saying "evicting".
fn on_a_terminal_the_bar_says_when_it_waits_for_a_replacement_node(backend: Backend) {
    let s = Scope::new("rbar");
    let h = Harness::on(backend, &s, &pool_cluster(&s));
    assert!(eventually(Duration::from_secs(60), || ready_web(&h, &s) == 3));
    let n1 = s.node("n1");
    // Nothing replaces a node its terminate command leaves in place.
    let run = h
        .cmd()
        .args([
            "node",
            "replace",
            &n1,
            "--terminate",
            "true",
            "--yes",
            "--wait-replacement",
            "3s",
        ])
        .pty()
        .run();
    assert_eq!(run.code, 5, "{}", run.stdout);
    // The bar, with its pods gone, cut to the terminal's 80 columns.
    assert!(
        run.stdout
            .split('\r')
            .any(|frame| frame.contains(" [") && frame.contains("waiting for a new Ready")),
        "{}",
        run.stdout
    );
}
