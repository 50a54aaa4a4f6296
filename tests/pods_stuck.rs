//! `oncall pods stuck` on what only the simulator can stage: statuses and
//! ages written into a seed (a node down for an hour, pods Evicted or
//! OOMKilled long ago, pods in every kubectl STATUS, with kubectl as the
//! reference). A real API server takes no status or age from a created
//! object; the scenarios that need neither run on both backends in
//! `pods_stuck_both.rs` (every category, played by the kubelets as it
//! happens), paging, API faults and a healthy namespace answered without
//! listing events among them.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::*;
use serde_json::{Value, json};

/// A node labelled `role=<role>` whose Ready condition (True, or Unknown
/// for a lost one) last changed an hour ago.
fn node(name: &str, role: &str, ready: bool) -> Node {
    let node = Node::new(name).label("role", role).cpu("8").memory("32Gi");
    let node = if ready { node } else { node.lost() };
    node.ready_since(&ago(3600))
}

/// A Deployment of `replicas` pods on the nodes with `role`; `.fault()`
/// makes its pods play a failure.
fn deployment(name: &str, replicas: u32, role: &str) -> Workload {
    Workload::deployment("shop", name)
        .replicas(replicas)
        .node_selector("role", role)
        .container(name, &format!("registry.example.com/shop/{name}:v1"))
}

fn ago(secs: i64) -> String {
    (Utc::now() - chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Pods that live on the NotReady node keep whatever status they are given:
/// no kubelet runs there, and eviction is pushed past the end of the test.
fn slow_eviction() -> Timing {
    Timing {
        unreachable_eviction: Duration::from_secs(3600),
        ..Timing::fast()
    }
}

fn json_report(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr))
}

/// The reported pod whose name starts with `prefix`.
fn pod<'a>(report: &'a Value, prefix: &str) -> &'a Value {
    report["pods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str().unwrap().starts_with(prefix))
        .unwrap_or_else(|| panic!("no stuck pod named {prefix}* in {:#}", report["pods"]))
}

/// Asserts that the report's `field` of pod `p` contains `needle`.
fn has(p: &Value, field: &str, needle: &str) {
    assert!(
        text(&p[field]).contains(needle),
        "{field} lacks {needle:?}: {p:#}"
    );
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn broken_cluster_yaml() -> String {
    let long_ago = ago(3600);
    let workloads = [
        deployment("api", 1, "app").fault("crash-loop exit-code=1"),
        deployment("cache", 1, "app").fault("oom-killed"),
        deployment("tools", 1, "app").fault("crash-loop exit-code=127"),
        deployment("probed", 1, "app").fault("liveness-kill"),
        deployment("web", 1, "app").fault("image-pull"),
        deployment("worker", 1, "app").fault("config-error missing=secret/db-password"),
        deployment("frontend", 1, "app").fault("not-ready"),
        deployment("files", 1, "app")
            .fault("failed-mount volume=certs")
            .volume(json!({"name": "certs", "secret": {"secretName": "certs"}})),
        deployment("schema", 1, "app")
            .fault("init-hang")
            .init_container("wait-for-db"),
        deployment("migrator", 1, "app")
            .fault("crash-loop exit-code=2 container=migrate")
            .init_container("migrate"),
        deployment("flaky", 1, "app").fault("flapping exit-code=137 reason=OOMKilled"),
        deployment("geo", 3, "broken"),
        deployment("ml", 1, "gpu"),
    ];
    let pods = [
        // On the lost node, where no kubelet changes its status.
        Pod::new("shop", "orphan")
            .created(&long_ago)
            .node_name("node-c")
            .containers(&["orphan"])
            .phase("Running")
            .set("/status/startTime", json!(long_ago))
            .condition(json!({"type": "Ready", "status": "True", "lastTransitionTime": long_ago}))
            .container_status(json!({"name": "orphan", "ready": true, "restartCount": 0,
                "state": {"running": {"startedAt": long_ago}}})),
        Pod::new("shop", "evicted-1")
            .node_name("node-a")
            .phase("Failed")
            .reason("Evicted", "The node was low on resource: memory."),
        Pod::new("shop", "report-oom")
            .node_name("node-a")
            .set("/spec/restartPolicy", json!("Never"))
            .containers(&["report"])
            .phase("Failed")
            .container_status(json!({"name": "report", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": long_ago}}})),
        Pod::new("shop", "held")
            .finalizer("example.com/backup")
            .node_name("node-a")
            .grace_period(0)
            .containers(&["held"]),
    ];
    namespace("shop")
        + &node("node-a", "app", true).yaml()
        + &node("node-b", "broken", true).fault("sandbox-stuck").yaml()
        + &node("node-c", "lost", false).yaml()
        + &workloads.iter().map(Workload::yaml).collect::<String>()
        + &pods.iter().map(Pod::yaml).collect::<String>()
}

#[test]
fn every_category_is_detected_with_its_cause_and_next_action() {
    let h = Harness::yaml_with(&broken_cluster_yaml(), slow_eviction());
    h.sim()
        .delete("pods", Some("shop"), "held")
        .expect("delete held");

    let run = h
        .oncall(&["pods", "stuck", "-A", "--older-than", "0s", "-o", "json"])
        .expect_code(1);
    let r = json_report(&run);

    let api = pod(&r, "api-");
    assert_eq!(api["category"], "crash-loop");
    assert_eq!(api["reason"], "Error, exit code 1");
    assert_eq!(api["owner"], "deployment/api");
    assert_eq!(
        api["suggestion"],
        format!(
            "kubectl -n shop logs {} -c api --previous",
            text(&api["name"])
        )
    );

    let cache = pod(&r, "cache-");
    assert_eq!(cache["category"], "crash-loop");
    assert_eq!(cache["reason"], "OOMKilled");
    has(cache, "message", "memory limit");
    assert_eq!(
        cache["suggestion"],
        format!("kubectl -n shop describe pod {}", text(&cache["name"]))
    );

    let tools = pod(&r, "tools-");
    assert_eq!(tools["category"], "crash-loop");
    has(
        tools,
        "message",
        "cannot run its command: not found (exit 127)",
    );

    let probed = pod(&r, "probed-");
    assert_eq!(probed["category"], "crash-loop");
    has(
        probed,
        "message",
        "is killed by its liveness probe: Liveness probe failed",
    );
    assert_eq!(
        probed["suggestion"],
        format!("kubectl -n shop describe pod {}", text(&probed["name"]))
    );

    let web = pod(&r, "web-");
    assert_eq!(web["category"], "image-pull");
    assert!(
        ["ImagePullBackOff", "ErrImagePull"].contains(&text(&web["reason"])),
        "{web:#}"
    );
    has(web, "message", "registry.example.com/shop/web:v1");

    let worker = pod(&r, "worker-");
    assert_eq!(worker["category"], "config-error");
    assert_eq!(worker["status"], "CreateContainerConfigError");
    has(worker, "message", "Secret `db-password` does not exist");
    assert_eq!(worker["suggestion"], "kubectl -n shop get secrets");

    let frontend = pod(&r, "frontend-");
    assert_eq!(frontend["category"], "not-ready");
    has(frontend, "message", "Readiness probe failed");

    let files = pod(&r, "files-");
    assert_eq!(files["category"], "container-creating");
    assert_eq!(files["reason"], "FailedMount");
    has(files, "message", "volume \"certs\"");

    let schema = pod(&r, "schema-");
    assert_eq!(schema["category"], "init-stuck");
    assert_eq!(schema["status"], "Init:0/1");
    has(
        schema,
        "message",
        "init container `wait-for-db` has not finished",
    );
    assert_eq!(
        schema["suggestion"],
        format!(
            "kubectl -n shop logs {} -c wait-for-db",
            text(&schema["name"])
        )
    );

    // No events name a hung init container: the pod's conditions are the evidence.
    assert_eq!(
        schema["evidence"][0]["reason"], "Initialized=False (ContainersNotInitialized)",
        "{schema:#}"
    );

    let migrator = pod(&r, "migrator-");
    assert_eq!(migrator["category"], "crash-loop");
    assert!(
        ["Init:CrashLoopBackOff", "Init:0/1", "Init:Error"].contains(&text(&migrator["status"])),
        "{migrator:#}"
    );
    has(migrator, "message", "init container `migrate`");

    let flaky = pod(&r, "flaky-");
    assert_eq!(flaky["category"], "restarting");
    assert_eq!(flaky["status"], "Running");
    has(flaky, "reason", "restarts, last: OOMKilled");
    has(
        flaky,
        "message",
        "it was killed for exceeding its memory limit",
    );
    assert_eq!(flaky["evidence"][0]["source"], "last-state", "{flaky:#}");

    let ml = pod(&r, "ml-");
    assert_eq!(ml["category"], "unschedulable");
    assert_eq!(ml["node"], Value::Null);
    has(ml, "message", "didn't match Pod's node affinity/selector");

    let orphan = pod(&r, "orphan");
    assert_eq!(orphan["category"], "node-not-ready");
    assert_eq!(
        orphan["suggestion"],
        "oncall node replace node-c --ignore-daemonsets --delete-node --skip-wait-for-delete-timeout 60 --dry-run"
    );
    assert!(
        orphan["age_seconds"].as_i64().unwrap() >= 3500,
        "the node went down an hour ago: {orphan:#}"
    );

    let evicted = pod(&r, "evicted-1");
    assert_eq!(evicted["category"], "evicted");
    assert_eq!(evicted["status"], "Evicted");
    assert_eq!(evicted["message"], "The node was low on resource: memory.");

    let oom = pod(&r, "report-oom");
    assert_eq!(oom["category"], "failed");
    assert_eq!(oom["status"], "OOMKilled");
    assert_eq!(oom["reason"], "OOMKilled");

    let held = pod(&r, "held");
    assert_eq!(held["category"], "terminating");
    assert_eq!(held["status"], "Terminating");
    has(held, "message", "`example.com/backup`");
    has(held, "message", "node node-a is Ready");
    has(held, "suggestion", "patch pod held");

    // Three pods failing sandbox creation on one node are one problem: the node.
    let sandbox: Vec<&Value> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["reason"] == "FailedCreatePodSandBox")
        .collect();
    assert_eq!(sandbox.len(), 1, "{:#}", r["groups"]);
    assert_eq!(sandbox[0]["count"], 3);
    assert_eq!(sandbox[0]["node"], "node-b");
    assert_eq!(
        sandbox[0]["suggestion"],
        "oncall node replace node-b --ignore-daemonsets --delete-node --dry-run"
    );
    let geo = pod(&r, "geo-");
    assert_eq!(
        geo["evidence"][0]["source"], "event",
        "events come first: {geo:#}"
    );

    // Every documented field is there, for every pod.
    for p in r["pods"].as_array().unwrap() {
        for field in [
            "namespace",
            "name",
            "node",
            "owner",
            "status",
            "category",
            "since",
            "age_seconds",
            "reason",
            "message",
            "evidence",
            "suggestion",
        ] {
            assert!(p.get(field).is_some(), "{field} missing from {p:#}");
        }
        assert!(!text(&p["suggestion"]).is_empty(), "{p:#}");
    }
    assert_eq!(r["stuck"], r["pods"].as_array().unwrap().len());
    assert!(r["api_requests"].as_u64().unwrap() >= 4);

    // The default view groups them and says what to do.
    let table = h
        .oncall(&["pods", "stuck", "-A", "--older-than", "0s"])
        .expect_code(1);
    assert!(
        table
            .stdout
            .contains("3 pods ContainerCreating  on node node-b"),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains("→ oncall node replace node-b"),
        "{}",
        table.stdout
    );
    // The wide view has one row per pod.
    let wide = h
        .oncall(&["pods", "stuck", "-A", "--older-than", "0s", "-o", "wide"])
        .expect_code(1);
    assert_eq!(
        wide.stdout.lines().count(),
        1 + r["pods"].as_array().unwrap().len(),
        "{}",
        wide.stdout
    );
}

#[test]
fn per_category_age_thresholds_and_older_than() {
    // Pods the scheduler leaves alone (another scheduler's) keep their
    // seeded Unschedulable condition, with its time.
    let pending = |name: &str, since: &str| {
        Pod::new("default", name)
            .created(since)
            .scheduler("batch-scheduler")
            .phase("Pending")
            .condition(json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient cpu.", "lastTransitionTime": since}))
            .yaml()
    };
    let y = pending("old", &ago(3600)) + &pending("young", &ago(30));
    let h = Harness::yaml_with(&y, Timing::fast());
    let r = json_report(&h.oncall(&["pods", "stuck", "-o", "json"]).expect_code(1));
    assert_eq!(
        r["stuck"], 1,
        "only the hour-old pod passes the 5m default: {:#}",
        r["pods"]
    );
    let old = pod(&r, "old");
    assert_eq!(old["category"], "unschedulable");
    assert_eq!(
        old["message"],
        "0/3 nodes are available: 3 Insufficient cpu."
    );
    assert!(
        (3590..3700).contains(&old["age_seconds"].as_i64().unwrap()),
        "{old:#}"
    );
    let r = json_report(
        &h.oncall(&["pods", "stuck", "--older-than", "10s", "-o", "json"])
            .expect_code(1),
    );
    assert_eq!(r["stuck"], 2);
    let run = h
        .oncall(&["pods", "stuck", "--older-than", "2h"])
        .expect_code(0);
    assert!(
        run.stdout.contains("No stuck pods among 2 pods"),
        "{}",
        run.stdout
    );
}

#[test]
fn status_matches_kubectl_get_pods() {
    // Statuses that stay put: seeded on the kubelet-less node, or played by
    // faults that do not cycle. Each container status is the point here:
    // kubectl's STATUS and READY columns are derived from them.
    let on_c = |name: &str| Pod::new("default", name).node_name("node-c");
    let two_inits = |name: &str| on_c(name).init_containers(&["i1", "i2"]).phase("Pending");
    let two = |name: &str| on_c(name).containers(&["a", "b"]).phase("Running");
    let state = |name: &str, ready: bool, restarts: u32, state: Value| json!({"name": name, "ready": ready, "restartCount": restarts, "state": state});
    let pods = [
        two_inits("init-progress")
            .init_container_status(state(
                "i1",
                false,
                0,
                json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
            ))
            .init_container_status(state("i2", false, 0, json!({"running": {}}))),
        two_inits("init-error").init_container_status(state(
            "i1",
            false,
            2,
            json!({"terminated": {"exitCode": 1, "reason": "Error"}}),
        )),
        two_inits("init-signal").init_container_status(state(
            "i1",
            false,
            0,
            json!({"terminated": {"exitCode": 137, "signal": 9}}),
        )),
        two_inits("init-backoff").init_container_status(state(
            "i1",
            false,
            4,
            json!({"waiting": {"reason": "CrashLoopBackOff"}}),
        )),
        on_c("sidecar-init")
            .init_containers(&["proxy", "migrate"])
            .set("/spec/initContainers/0/restartPolicy", json!("Always"))
            .phase("Pending")
            .init_container_status(json!({"name": "proxy", "ready": true, "started": true,
                "restartCount": 1, "state": {"running": {}}}))
            .init_container_status(state("migrate", false, 0, json!({"running": {}}))),
        on_c("exit-code").phase("Running").container_status(state(
            "app",
            false,
            0,
            json!({"terminated": {"exitCode": 3}}),
        )),
        on_c("signal").phase("Running").container_status(state(
            "app",
            false,
            0,
            json!({"terminated": {"exitCode": 0, "signal": 15}}),
        )),
        two("half-done")
            .container_status(state(
                "a",
                false,
                0,
                json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
            ))
            .container_status(state("b", true, 0, json!({"running": {}}))),
        two("two-reasons")
            .container_status(state(
                "a",
                false,
                3,
                json!({"waiting": {"reason": "CrashLoopBackOff"}}),
            ))
            .container_status(state(
                "b",
                false,
                0,
                json!({"waiting": {"reason": "ErrImagePull"}}),
            )),
        on_c("lost")
            .phase("Running")
            .reason("NodeLost", "")
            .container_status(state("app", true, 0, json!({"running": {}}))),
        on_c("oom").phase("Failed").container_status(state(
            "app",
            false,
            0,
            json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}),
        )),
        on_c("evicted")
            .phase("Failed")
            .reason("Evicted", "low on memory"),
        Pod::new("default", "gated")
            .set(
                "/spec/schedulingGates",
                json!([{"name": "example.com/quota"}]),
            )
            .scheduler("batch-scheduler")
            .phase("Pending")
            .condition(
                json!({"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}),
            ),
        Pod::new("default", "sandbox-init")
            .node_name("node-b")
            .init_containers(&["setup"]),
        Pod::new("default", "missing-config")
            .node_name("node-a")
            .fault("config-error missing=configmap/settings"),
        Pod::new("default", "unready")
            .node_name("node-a")
            .fault("not-ready"),
        Pod::new("default", "init-hangs")
            .node_name("node-a")
            .init_containers(&["first", "second"])
            .fault("init-hang container=second"),
        Pod::new("default", "flapping")
            .node_name("node-a")
            .fault("flapping"),
    ];
    let y = node("node-a", "app", true).yaml()
        + &node("node-b", "broken", true).fault("sandbox-stuck").yaml()
        + &node("node-c", "lost", false).yaml()
        + &pods.iter().map(Pod::yaml).collect::<String>();
    let h = Harness::yaml_with(&y, slow_eviction());
    // One pod terminating on the lost node: kubectl says Unknown for NodeLost ones.
    h.sim()
        .delete("pods", Some("default"), "lost")
        .expect("delete lost");
    h.sim()
        .delete("pods", Some("default"), "exit-code")
        .expect("delete exit-code");

    let kubectl = h.kubectl(&["get", "pods", "-A"]).expect_code(0);
    let mut expected = std::collections::BTreeMap::new();
    for line in kubectl.stdout.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        expected.insert(
            cols[1].to_string(),
            (cols[2].to_string(), cols[3].to_string()),
        );
    }
    let r = json_report(
        &h.oncall(&["pods", "stuck", "-A", "--older-than", "0s", "-o", "json"])
            .expect_code(1),
    );
    let mut compared = 0;
    for p in r["pods"].as_array().unwrap() {
        let name = text(&p["name"]);
        let (ready, status) = expected
            .get(name)
            .unwrap_or_else(|| panic!("{name} not in kubectl's list"));
        assert_eq!(
            text(&p["status"]),
            status,
            "STATUS of {name}\n{}",
            kubectl.stdout
        );
        assert_eq!(
            text(&p["ready"]),
            ready,
            "READY of {name}\n{}",
            kubectl.stdout
        );
        compared += 1;
    }
    let statuses: std::collections::BTreeSet<&str> =
        expected.values().map(|(_, s)| s.as_str()).collect();
    for s in [
        "Init:1/2",
        "Init:Error",
        "Init:Signal:9",
        "Init:CrashLoopBackOff",
        "Init:0/1",
        "Terminating",
        "Signal:15",
        "NotReady",
        "CrashLoopBackOff",
        "Unknown",
        "OOMKilled",
        "Evicted",
        "SchedulingGated",
        "CreateContainerConfigError",
        "Running",
    ] {
        assert!(
            statuses.contains(s),
            "kubectl shows no {s}:\n{}",
            kubectl.stdout
        );
    }
    for (name, status) in [("init-hangs", "Init:1/2"), ("flapping", "Running")] {
        assert_eq!(
            expected.get(name).map(|(_, s)| s.as_str()),
            Some(status),
            "{}",
            kubectl.stdout
        );
    }
    assert!(
        compared >= 17,
        "compared only {compared}:\n{}",
        kubectl.stdout
    );
}
