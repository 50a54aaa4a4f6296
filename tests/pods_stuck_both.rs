//! `oncall pods stuck` on both backends: each category a kubelet can put a
//! pod in (a crash loop, an OOM kill under each restart policy, an
//! eviction, ...), with its reason and evidence, from the same seed (the faults are
//! `sim.oncall.dev/fault` annotations, played by the simulator's kubelet or
//! by the test bed's kwok stages and kubelet events), and kubectl's STATUS;
//! and a list of several pages under API faults (an expired continue token,
//! a flaky server), with the API requests reported as the server saw them.

mod common;
use common::*;

use std::time::Duration;

use serde_json::{Value, json};

on_both_backends!(
    every_kubelet_category_is_named_with_its_cause,
    rollout_undo_is_suggested_only_when_an_earlier_revision_exists,
    events_explain_a_stuck_pod_found_on_the_last_page,
    the_command_and_its_runbook_step_say_the_same,
    pods_on_a_dead_node_stay_reported_after_they_are_evicted,
    healthy_cluster_and_false_positive_guards_exit_zero,
    scoping_by_namespace_node_and_labels,
    pages_across_continue_tokens_with_a_fixed_number_of_requests,
    an_expired_continue_token_restarts_the_list,
    a_flaky_api_server_costs_a_retry_not_the_answer,
    a_healthy_namespace_is_answered_without_listing_events,
    a_mistyped_namespace_is_named_not_reported_empty,
);

/// One pod of `name` on node `a`, playing the simulated `fault`.
fn deployment(s: &Scope, name: &str, fault: &str) -> Workload {
    Workload::deployment(&s.ns("shop"), name)
        .on_node(&s.node("a"))
        .toleration(s.toleration())
        .pod_annotation("sim.oncall.dev/fault", fault)
        .container(name, &format!("registry.example.com/shop/{name}:v1"))
}

fn cluster(s: &Scope) -> String {
    let mut y = s.namespace("shop");
    y += &s.node_yaml("a", "8", &[]);
    y += &deployment(s, "api", "crash-loop exit-code=1").yaml();
    y += &deployment(s, "cache", "oom-killed").yaml();
    y += &deployment(s, "web", "image-pull").yaml();
    y += &deployment(s, "worker", "config-error missing=secret/db-password").yaml();
    y += &deployment(s, "frontend", "not-ready").yaml();
    y += &deployment(s, "geo", "sandbox-stuck").yaml();
    y += &deployment(s, "schema", "init-hang")
        .set(
            "/spec/template/spec/initContainers",
            json!([{"name": "wait-for-db", "image": "busybox"}]),
        )
        .yaml();
    // Restarts pile up while it stays Ready.
    y += &deployment(s, "flaky", "flapping exit-code=137 reason=OOMKilled").yaml();
    // A one-off pod is not started again: killed once, it stays failed.
    y += &s
        .pod("shop", "report", "a")
        .set("/spec/restartPolicy", json!("Never"))
        .containers(&["report"])
        .fault("oom-killed")
        .yaml();
    // Evicted by its kubelet for memory pressure once it runs.
    y += &s
        .pod("shop", "squeezed", "a")
        .containers(&["squeezed"])
        .fault("evicted")
        .yaml();
    // Held by a finalizer no controller will remove (deleted below).
    y += &s
        .pod("shop", "held", "a")
        .finalizer("example.com/backup")
        .grace_period(0)
        .containers(&["held"])
        .yaml();
    // Nothing in the cluster is a GPU node.
    y += &Workload::deployment(&s.ns("shop"), "ml")
        .node_selector("gpu", "nvidia-h100")
        .toleration(s.toleration())
        .pod_annotation("sim.oncall.dev/fault", "")
        .container("ml", "registry.example.com/shop/ml:v1")
        .yaml();
    y
}

fn report(h: &Harness, s: &Scope) -> Value {
    let run = h.oncall(&[
        "pods",
        "stuck",
        "-n",
        &s.ns("shop"),
        "--older-than",
        "0s",
        "-o",
        "json",
    ]);
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", run.stdout, run.stderr))
}

fn pods(report: &Value) -> Vec<Value> {
    report["pods"].as_array().cloned().unwrap_or_default()
}

fn find<'a>(pods: &'a [Value], prefix: &str) -> Option<&'a Value> {
    pods.iter()
        .find(|p| p["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
}

fn every_kubelet_category_is_named_with_its_cause(backend: Backend) {
    let s = Scope::new("stuck");
    let h = Harness::on(backend, &s, &cluster(&s));
    h.kubectl(&["-n", &s.ns("shop"), "delete", "pod", "held", "--wait=false"])
        .expect_code(0);
    let expected = [
        ("held", "terminating"),
        ("api-", "crash-loop"),
        ("cache-", "crash-loop"),
        ("web-", "image-pull"),
        ("worker-", "config-error"),
        ("frontend-", "not-ready"),
        ("geo-", "container-creating"),
        ("schema-", "init-stuck"),
        ("ml-", "unschedulable"),
        ("flaky-", "restarting"),
        ("report", "failed"),
        ("squeezed", "evicted"),
    ];
    // The kubelets need a moment to play every fault (and to crash twice).
    let mut last = Value::Null;
    let settled = eventually(Duration::from_secs(60), || {
        last = report(&h, &s);
        let p = pods(&last);
        expected.iter().all(|(prefix, category)| {
            find(&p, prefix).is_some_and(|pod| pod["category"] == *category)
        }) && find(&p, "api-").is_some_and(|a| a["restarts"].as_i64().unwrap_or(0) >= 2)
    });
    assert!(settled, "{last:#}");
    let p = pods(&last);
    let get = |prefix: &str| find(&p, prefix).unwrap();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();

    assert_eq!(get("api-")["reason"], "Error, exit code 1");
    assert_eq!(
        get("api-")["suggestion"],
        format!(
            "kubectl -n {} logs {} -c api --previous",
            s.ns("shop"),
            text(&get("api-")["name"])
        )
    );
    assert_eq!(get("cache-")["reason"], "OOMKilled");
    assert_eq!(get("flaky-")["status"], "Running");
    assert!(
        text(&get("flaky-")["reason"]).ends_with("restarts, last: OOMKilled"),
        "{:#}",
        get("flaky-")
    );
    assert_eq!(get("report")["status"], "OOMKilled");
    assert_eq!(get("report")["reason"], "OOMKilled");
    assert_eq!(get("report")["restarts"], 0, "{:#}", get("report"));
    // kubectl's STATUS is its killed container's (compared below).
    assert_eq!(get("squeezed")["status"], "Error");
    assert!(
        text(&get("squeezed")["message"]).starts_with("The node was low on resource: memory."),
        "{:#}",
        get("squeezed")
    );
    assert!(
        ["ImagePullBackOff", "ErrImagePull"].contains(&text(&get("web-")["reason"]).as_str()),
        "{:#}",
        get("web-")
    );
    assert!(
        text(&get("web-")["message"]).contains("registry.example.com/shop/web:v1"),
        "{:#}",
        get("web-")
    );
    assert_eq!(get("worker-")["status"], "CreateContainerConfigError");
    assert!(
        text(&get("worker-")["message"]).contains("Secret `db-password` does not exist"),
        "{:#}",
        get("worker-")
    );
    assert!(
        text(&get("frontend-")["message"]).contains("Readiness probe failed"),
        "{:#}",
        get("frontend-")
    );
    assert_eq!(
        get("geo-")["reason"],
        "FailedCreatePodSandBox",
        "{:#}",
        get("geo-")
    );
    assert_eq!(get("held")["status"], "Terminating");
    assert!(
        text(&get("held")["message"]).contains("`example.com/backup`"),
        "{:#}",
        get("held")
    );
    assert!(
        text(&get("held")["suggestion"]).contains("patch pod held"),
        "{:#}",
        get("held")
    );
    assert_eq!(get("schema-")["status"], "Init:0/1");
    assert!(
        text(&get("schema-")["message"]).contains("init container `wait-for-db` has not finished"),
        "{:#}",
        get("schema-")
    );

    // kubectl's STATUS column agrees with oncall's for every pod. A crash
    // loop flips between Running and CrashLoopBackOff, so the two readings
    // are retried until they are taken in the same state.
    let mut disagreement = String::new();
    let agreed = eventually(Duration::from_secs(20), || {
        let ours = pods(&report(&h, &s));
        let listed = h.kubectl(&["get", "pods", "-n", &s.ns("shop"), "--no-headers"]);
        disagreement.clear();
        for pod in &ours {
            let name = text(&pod["name"]);
            let line = listed
                .stdout
                .lines()
                .find(|l| l.starts_with(&name))
                .unwrap_or_default();
            let status = line.split_whitespace().nth(2).unwrap_or_default();
            if status != text(&pod["status"]) {
                disagreement += &format!("{name}: oncall {}, kubectl: {line}\n", pod["status"]);
            }
        }
        disagreement.is_empty()
    });
    assert!(agreed, "{disagreement}");
}

/// The pod of `web-` whose image cannot be pulled and whose suggestion
/// contains `wanted`, once there is one. During a rollout the old
/// revision's pod is listed beside the new one, with its own advice: the
/// pod returned is the one that matched, not the first of `web-`.
fn web_advice(h: &Harness, s: &Scope, wanted: &str) -> Value {
    let mut last = Value::Null;
    let mut matched = None;
    let found = eventually(Duration::from_secs(60), || {
        last = report(h, s);
        matched = pods(&last)
            .iter()
            .find(|p| {
                p["name"].as_str().is_some_and(|n| n.starts_with("web-"))
                    && p["category"] == "image-pull"
                    && p["suggestion"].as_str().is_some_and(|x| x.contains(wanted))
            })
            .cloned();
        matched.is_some()
    });
    assert!(found, "no `{wanted}` for web: {last:#}");
    matched.unwrap()
}

fn rollout_undo_is_suggested_only_when_an_earlier_revision_exists(backend: Backend) {
    let s = Scope::new("undo");
    let mut y = s.namespace("shop");
    y += &s.node_yaml("a", "8", &[]);
    y += &deployment(&s, "web", "err-image-pull").yaml();
    let h = Harness::on(backend, &s, &y);
    let ns = s.ns("shop");

    // One revision: `rollout undo` would fail with "no rollout history
    // found", so the bad image is named with the workload it comes from.
    let web = web_advice(&h, &s, "describe deployment web");
    let message = web["message"].as_str().unwrap();
    assert!(
        message.contains("registry.example.com/shop/web:v1")
            && message.contains("deployment/web")
            && message.contains("no earlier revision"),
        "{web:#}"
    );

    // A second revision that cannot be pulled either: undo goes back to v1.
    h.kubectl(&[
        "-n",
        &ns,
        "set",
        "image",
        "deployment/web",
        "web=registry.example.com/shop/web:v2",
    ])
    .expect_code(0);
    let web = web_advice(&h, &s, "rollout undo");
    let undo = web["suggestion"].as_str().unwrap();
    assert_eq!(
        undo,
        format!("kubectl -n {ns} rollout undo deployment/web --dry-run=server")
    );
    // As printed, it runs (and, being a dry run, changes nothing).
    let words = shlex::split(undo).unwrap();
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    h.kubectl(&args).expect_code(0);
    let image = h.kubectl(&[
        "-n",
        &ns,
        "get",
        "deployment/web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image.stdout, "registry.example.com/shop/web:v2");
}

/// What a report says about its pods, without the clock: counts, ages and
/// timestamps move between two runs, the diagnosis must not.
fn diagnosis(report: &Value) -> Vec<Value> {
    pods(report)
        .iter()
        .map(|p| {
            let evidence: Vec<Value> = p["evidence"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|e| json!([e["source"], e["reason"], e["message"]]))
                .collect();
            json!([
                p["name"],
                p["category"],
                p["status"],
                p["reason"],
                p["message"],
                p["suggestion"],
                evidence
            ])
        })
        .collect()
}

fn events_explain_a_stuck_pod_found_on_the_last_page(backend: Backend) {
    let s = Scope::new("late");
    let mut y = s.namespace("shop");
    y += &s.node_yaml("a", "8", &[]);
    y += &deployment(&s, "ok", "").replicas(3).yaml();
    // Named to come last in the list: with one pod per page, the Warning
    // events are asked for only after every healthy pod has been read.
    y += &deployment(&s, "zgeo", "sandbox-stuck").yaml();
    let h = Harness::on(backend, &s, &y);
    let ns = s.ns("shop");
    let run = |chunk: &str| {
        let run = h.oncall(&[
            "pods",
            "stuck",
            "-n",
            &ns,
            "--older-than",
            "0s",
            "--chunk-size",
            chunk,
            "-o",
            "json",
        ]);
        serde_json::from_str::<Value>(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}{}", run.stdout, run.stderr))
    };
    let mut last = Value::Null;
    let explained = eventually(Duration::from_secs(60), || {
        last = run("500");
        find(&pods(&last), "zgeo-").is_some_and(|p| p["reason"] == "FailedCreatePodSandBox")
    });
    assert!(explained, "{last:#}");
    // Every pod on a page of its own gives the same diagnosis as one page.
    let (mut one_page, mut paged) = (Value::Null, Value::Null);
    let same = eventually(Duration::from_secs(30), || {
        one_page = run("500");
        paged = run("1");
        diagnosis(&one_page) == diagnosis(&paged)
    });
    assert!(same, "one page: {one_page:#}\none pod a page: {paged:#}");
    assert_eq!(paged["pods_checked"], 4, "{paged:#}");
    assert_eq!(paged["pods_checked"], one_page["pods_checked"]);
    let geo = find(&pods(&paged), "zgeo-").cloned().unwrap();
    assert_eq!(geo["reason"], "FailedCreatePodSandBox", "{geo:#}");
    assert_eq!(geo["evidence"][0]["source"], "event", "{geo:#}");
}

/// `oncall pods stuck` and the runbook's `pods_stuck` step show one report:
/// the step's text is the command's, but for the ages.
fn the_command_and_its_runbook_step_say_the_same(backend: Backend) {
    let s = Scope::new("stucksaid");
    let mut y = s.namespace("shop");
    y += &s.node_yaml("a", "8", &[]);
    y += &deployment(&s, "worker", "config-error missing=secret/db-password").yaml();
    y += &deployment(&s, "api", "config-error missing=configmap/api-settings").yaml();
    let h = Harness::on(backend, &s, &y);
    let ns = s.ns("shop");
    let mut last = Value::Null;
    let settled = eventually(Duration::from_secs(60), || {
        last = report(&h, &s);
        let pods = pods(&last);
        pods.len() == 2 && pods.iter().all(|p| p["category"] == "config-error")
    });
    assert!(settled, "{last:#}");
    let command = h
        .oncall(&["pods", "stuck", "-n", &ns, "--older-than", "0s"])
        .expect_code(1);
    let file = runbook_file(
        &h,
        "stuck.yaml",
        &format!(
            "name: stuck\nsummary: what is stuck\nsteps:\n  - id: find\n    title: Find stuck pods\n    pods_stuck: {{namespace: {ns}, older_than: 0s}}\n"
        ),
    );
    let run = h.oncall(&["runbook", "run", &file, "--yes"]).expect_code(0);
    let since = regex::Regex::new(r"since [^\[]*\[").unwrap();
    assert_said_alike(&command, &run, "find", |_, text| {
        since.replace_all(text, "since T  [").into_owned()
    });
    assert!(
        command.stdout.contains("2 stuck pods in 2 groups"),
        "{}",
        command.stdout
    );
}

/// `lastTransitionTime` of the node's Ready condition.
fn ready_since(h: &Harness, node: &str) -> chrono::DateTime<chrono::FixedOffset> {
    let node = h.get("nodes", None, node).expect("the node exists");
    let ready = node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .unwrap_or_else(|| panic!("no Ready condition: {node:#}"));
    chrono::DateTime::parse_from_rfc3339(ready["lastTransitionTime"].as_str().unwrap()).unwrap()
}

/// A pod on a node whose kubelet died: the taint manager evicts it, nothing
/// confirms the deletion, and it stays reported, as stuck since the node
/// went down (not since the eviction, which a real cluster dates to the
/// end of the pod's grace period).
fn pods_on_a_dead_node_stay_reported_after_they_are_evicted(backend: Backend) {
    let s = Scope::new("deadpods");
    let mut y = s.namespace("shop");
    y += &s.node_yaml("a", "8", &[]);
    y += &s.node_yaml("c", "8", &[]);
    y += &s.pod("shop", "stranded", "c").containers(&["app"]).yaml();
    let h = Harness::on(backend, &s, &y);
    let (ns, c) = (s.ns("shop"), s.node("c"));
    let stranded = || h.get("pods", Some(&ns), "stranded");
    let ready = |p: &Value| {
        p["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    };
    assert!(
        eventually(Duration::from_secs(60), || stranded()
            .is_some_and(|p| ready(&p))),
        "the pod runs"
    );
    h.stop_kubelet(&c);
    // The taint manager evicts it; with no kubelet it stays Terminating.
    assert!(
        eventually(Duration::from_secs(60), || stranded()
            .is_some_and(|p| !p["metadata"]["deletionTimestamp"].is_null())),
        "the pod is evicted: {:#}",
        stranded().unwrap_or_default()
    );
    let run = h
        .oncall(&[
            "pods",
            "stuck",
            "-n",
            &ns,
            "--older-than",
            "0s",
            "-o",
            "json",
        ])
        .expect_code(1);
    let r: Value = serde_json::from_str(&run.stdout).unwrap();
    let listed = pods(&r);
    let p = find(&listed, "stranded").unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(p["status"], "Terminating", "{p:#}");
    assert_eq!(p["category"], "terminating", "{p:#}");
    assert!(
        p["message"]
            .as_str()
            .unwrap()
            .contains(&format!("node {c} is Unknown")),
        "{p:#}"
    );
    assert_eq!(
        p["suggestion"],
        format!(
            "oncall node replace {c} --ignore-daemonsets --delete-node --skip-wait-for-delete-timeout 60 --dry-run"
        )
    );
    let since = chrono::DateTime::parse_from_rfc3339(p["since"].as_str().unwrap()).unwrap();
    assert_eq!(
        since,
        ready_since(&h, &c),
        "stuck since the node went down: {p:#}"
    );
    // The node lifecycle controller marked it not Ready, and said so.
    assert!(stranded().is_some_and(|p| !ready(&p)));
    assert!(
        p["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["source"] == "event"
                && e["reason"] == "NodeNotReady"
                && e["message"] == "Node is not ready"),
        "{p:#}"
    );
}

/// Nothing stuck, or not stuck for long yet: exit 0 and no pods. A job
/// whose native sidecar keeps running after the job's container ends is a
/// finished job; a crash loop that began a moment ago is not stuck yet, and
/// is reported once the threshold is lowered.
fn healthy_cluster_and_false_positive_guards_exit_zero(backend: Backend) {
    let s = Scope::new("healthy");
    let ns = s.ns("shop");
    let nightly = Workload::job(&ns, "nightly")
        .on_node(&s.node("a"))
        .toleration(s.toleration())
        .container("nightly", "busybox")
        .pod_field(
            "initContainers",
            json!([{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}]),
        );
    let mut y = s.namespace("shop");
    y += &s.node_yaml("a", "8", &[]);
    y += &deployment(&s, "ok", "").replicas(3).yaml();
    y += &deployment(&s, "fresh", "crash-loop exit-code=1").yaml();
    y += &nightly.yaml();
    let h = Harness::on(backend, &s, &y);
    let named = |p: &Value, prefix: &str| {
        p["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with(prefix))
    };
    let settled = eventually(Duration::from_secs(60), || {
        let all = h.list("pods", Some(&ns));
        let ok_ready = all
            .iter()
            .filter(|p| named(p, "ok-"))
            .filter(|p| {
                p["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            })
            .count();
        ok_ready == 3
            && all
                .iter()
                .any(|p| named(p, "nightly") && p["status"]["phase"] == "Succeeded")
    });
    assert!(settled, "the job completes and `ok` is ready");
    let run = h.oncall(&["pods", "stuck", "-n", &ns]).expect_code(0);
    assert!(
        run.stdout.starts_with("No stuck pods among"),
        "{}",
        run.stdout
    );
    let r: Value = serde_json::from_str(
        &h.oncall(&["pods", "stuck", "-n", &ns, "-o", "json"])
            .expect_code(0)
            .stdout,
    )
    .unwrap();
    assert_eq!(r["stuck"], 0);
    assert_eq!(r["pods"], json!([]));
    // The same young crash loop is reported once the threshold is lowered.
    let run = h
        .oncall(&[
            "pods",
            "stuck",
            "-n",
            &ns,
            "--older-than",
            "0s",
            "-o",
            "json",
        ])
        .expect_code(1);
    let r: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(r["stuck"], 1, "{:#}", r["pods"]);
    assert!(find(&pods(&r), "fresh-").is_some(), "{r:#}");
}

/// `--node`, `-n` and `-l` narrow the report; a fault on a node is played
/// by every pod on it (three pods failing sandbox creation on `b`).
fn scoping_by_namespace_node_and_labels(backend: Backend) {
    let s = Scope::new("scoping");
    let ns = s.ns("shop");
    let b = s.node("b");
    let mut y = s.namespace("shop");
    y += &s.node_yaml("a", "8", &[]);
    y += &s.node_fixture("b").cpu("8").fault("sandbox-stuck").yaml();
    y += &deployment(&s, "api", "crash-loop exit-code=1").yaml();
    y += &Workload::deployment(&ns, "geo")
        .replicas(3)
        .on_node(&b)
        .toleration(s.toleration())
        .container("geo", "registry.example.com/shop/geo:v1")
        .yaml();
    let h = Harness::on(backend, &s, &y);
    let stuck = |args: &[&str]| -> Value {
        let mut all = vec!["pods", "stuck", "--older-than", "0s", "-o", "json"];
        all.extend_from_slice(args);
        let run = h.oncall(&all);
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}{}", run.stdout, run.stderr))
    };
    let names = |r: &Value| -> Vec<String> {
        pods(r)
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    let mut on_b = Value::Null;
    let sandbox = eventually(Duration::from_secs(60), || {
        on_b = stuck(&["--node", &b]);
        let p = pods(&on_b);
        p.len() == 3 && p.iter().all(|p| p["reason"] == "FailedCreatePodSandBox")
    });
    assert!(sandbox, "every pod on {b} fails its sandbox: {on_b:#}");
    assert_eq!(on_b["stuck"], 3, "{:?}", names(&on_b));
    assert!(names(&on_b).iter().all(|n| n.starts_with("geo-")));
    // The context's namespace (default) has nothing stuck; exit code 0.
    let run = h
        .oncall(&["pods", "stuck", "--older-than", "0s"])
        .expect_code(0);
    assert!(run.stdout.contains("No stuck pods"), "{}", run.stdout);
    assert!(
        run.stdout.contains("in namespace `default`"),
        "{}",
        run.stdout
    );
    let z = s.node("z");
    let typo = h.oncall(&["pods", "stuck", "--node", &z]).expect_code(0);
    assert!(
        typo.stderr.contains(&format!("node `{z}` does not exist")),
        "{}",
        typo.stderr
    );
    let labelled = stuck(&["-n", &ns, "-l", "app=api"]);
    assert_eq!(names(&labelled).len(), 1, "{labelled:#}");
    assert!(names(&labelled)[0].starts_with("api-"));
    assert_eq!(labelled["scope"]["namespace"], ns.as_str());
}

/// Pods per page in the paging scenarios: a dozen pods make three pages.
const CHUNK: usize = 5;

/// Ten running pods (`ok-0`…) and two (`stuck-0`, `stuck-1`) whose Secret
/// does not exist, all bound to node `a`; how many pods that is.
fn paged_cluster(s: &Scope) -> (String, usize) {
    let mut y = s.namespace("shop");
    y += &s.node_yaml("a", "8", &[]);
    for i in 0..10 {
        y += &s
            .pod("shop", &format!("ok-{i}"), "a")
            .containers(&["app"])
            .yaml();
    }
    for i in 0..2 {
        y += &s
            .pod("shop", &format!("stuck-{i}"), "a")
            .containers(&["app"])
            .fault("config-error missing=secret/db-password")
            .yaml();
    }
    (y, 12)
}

/// `pods stuck` on the scope's namespace and node `a` (so that the nodes
/// and events of other scenarios are neither listed nor paged), `CHUNK`
/// items a page, and `extra` arguments.
fn paged_stuck(h: &Harness, s: &Scope, extra: &[&str]) -> Run {
    let (ns, node, chunk) = (s.ns("shop"), s.node("a"), CHUNK.to_string());
    let mut args = vec![
        "pods",
        "stuck",
        "-n",
        &ns,
        "--node",
        &node,
        "--older-than",
        "0s",
        "--chunk-size",
        &chunk,
        "-o",
        "json",
    ];
    args.extend_from_slice(extra);
    h.oncall(&args)
}

fn stuck_names(report: &Value) -> Vec<String> {
    pods(report)
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The paging scenario once every pod has started (or failed to): both
/// stuck pods are reported, each for its missing Secret.
fn paged_and_settled(backend: Backend, prefix: &str) -> (Harness, Scope, usize) {
    let s = Scope::new(prefix);
    let (y, total) = paged_cluster(&s);
    let h = Harness::on(backend, &s, &y);
    let mut last = Value::Null;
    let settled = eventually(Duration::from_secs(60), || {
        let run = paged_stuck(&h, &s, &[]);
        last = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
        last["pods_checked"] == total
            && stuck_names(&last) == ["stuck-0", "stuck-1"]
            && pods(&last).iter().all(|p| p["category"] == "config-error")
    });
    assert!(settled, "{last:#}");
    (h, s, total)
}

fn pages_across_continue_tokens_with_a_fixed_number_of_requests(backend: Backend) {
    let (h, s, total) = paged_and_settled(backend, "pages");
    let before = h.request_count();
    let run = paged_stuck(&h, &s, &["-v"]).expect_code(1);
    let used = h.request_count() - before;
    let r: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(r["pods_checked"], total, "{r:#}");
    assert_eq!(stuck_names(&r), ["stuck-0", "stuck-1"], "{r:#}");
    // version + nodes (1 page) + events (1 page) + pods (one request a page).
    let expected = 3 + total.div_ceil(CHUNK) as u64;
    assert_eq!(r["api_requests"], expected, "{}", run.stderr);
    assert_eq!(used, expected, "the server saw what we report");
    assert!(
        run.stderr.contains(&format!("{expected} API requests")),
        "{}",
        run.stderr
    );
    // Two pods missing one Secret are one problem.
    let groups = r["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    assert_eq!(groups[0]["count"], 2, "{groups:#?}");
}

fn an_expired_continue_token_restarts_the_list(backend: Backend) {
    let (h, s, total) = paged_and_settled(backend, "expired");
    // An etcd compaction lands between the first and second page. On the
    // real control plane the second page waits for the API server's own
    // compaction (up to two of its 30 s intervals) and gets its own 410,
    // so the request timeout is lifted above that wait.
    h.set_faults(FaultSpec::parse("expire-continue=1").expect("fault spec"));
    let before = h.request_count();
    let run = paged_stuck(&h, &s, &["--request-timeout", "2m"]).expect_code(1);
    let used = h.request_count() - before;
    let r: Value = serde_json::from_str(&run.stdout).unwrap();
    // Every pod once: the pods of the abandoned first pass are not counted twice.
    assert_eq!(r["pods_checked"], total, "{r:#}");
    assert_eq!(stuck_names(&r), ["stuck-0", "stuck-1"], "{r:#}");
    // version + nodes + events + the pod pages, plus the page refused with
    // 410 and the first page read again.
    let expected = 3 + total.div_ceil(CHUNK) as u64 + 2;
    assert_eq!(r["api_requests"], expected, "{r:#}");
    assert_eq!(used, expected, "the server saw what we report");
}

fn a_flaky_api_server_costs_a_retry_not_the_answer(backend: Backend) {
    let (h, s, total) = paged_and_settled(backend, "flakystuck");
    let clean: Value = serde_json::from_str(&paged_stuck(&h, &s, &[]).stdout).unwrap();
    let clean = clean["api_requests"].as_u64().unwrap();
    // Any request may fail (500 or a dropped connection) and is sent again;
    // one that fails every attempt ends the run with exit 4.
    h.set_faults(FaultSpec::parse("5xx=0.3,drop=0.1,seed=11").expect("fault spec"));
    let mut answered = 0;
    let mut retried = false;
    for _ in 0..4 {
        let before = h.request_count();
        let run = paged_stuck(&h, &s, &[]);
        let served = h.request_count() - before;
        if run.code == 4 {
            continue; // a request failed every retry: a fair refusal
        }
        let run = run.expect_code(1);
        let r: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(r["pods_checked"], total, "{r:#}");
        assert_eq!(stuck_names(&r), ["stuck-0", "stuck-1"], "{r:#}");
        // Every request the server served is counted, each retry included.
        assert_eq!(r["api_requests"], served, "{r:#}");
        retried |= served > clean;
        answered += 1;
    }
    assert!(answered > 0, "at least one run got an answer");
    assert!(retried, "the faults made some request be sent again");
}

/// A namespace healthy but for one pod whose sandbox keeps failing, not for
/// long yet: only the version, the nodes and the pods are asked for (the
/// Warning events would explain nothing). Once that pod counts as stuck
/// (`--older-than 0s`), its events are read and explain it.
fn a_healthy_namespace_is_answered_without_listing_events(backend: Backend) {
    let s = Scope::new("noevents");
    let mut y = s.namespace("shop");
    y += &s.node_yaml("a", "8", &[]);
    for i in 0..3 {
        y += &s
            .pod("shop", &format!("ok-{i}"), "a")
            .containers(&["app"])
            .yaml();
    }
    y += &s
        .pod("shop", "geo", "a")
        .containers(&["geo"])
        .fault("sandbox-stuck")
        .yaml();
    let h = Harness::on(backend, &s, &y);
    let (ns, node) = (s.ns("shop"), s.node("a"));
    let stuck = |extra: &[&str]| {
        let mut args = vec!["pods", "stuck", "-n", &ns, "--node", &node, "-o", "json"];
        args.extend_from_slice(extra);
        h.oncall(&args)
    };
    let json = |run: &Run| -> Value {
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}{}", run.stdout, run.stderr))
    };
    let sandbox_failing = || {
        let r = json(&stuck(&["--older-than", "0s"]));
        find(&pods(&r), "geo").is_some_and(|p| p["reason"] == "FailedCreatePodSandBox")
    };
    assert!(
        eventually(Duration::from_secs(60), sandbox_failing),
        "the sandbox fails"
    );
    let before = h.request_count();
    let run = stuck(&["-v"]).expect_code(0);
    let used = h.request_count() - before;
    let r = json(&run);
    assert_eq!(r["stuck"], 0, "{r:#}");
    assert_eq!(r["api_requests"], 3, "{}", run.stderr);
    assert_eq!(used, 3, "the server saw what we report");
    assert!(!run.stderr.contains("/events"), "{}", run.stderr);

    let before = h.request_count();
    let run = stuck(&["--older-than", "0s"]).expect_code(1);
    let used = h.request_count() - before;
    let r = json(&run);
    assert_eq!(r["api_requests"], 4, "{r:#}");
    assert_eq!(used, 4, "the server saw what we report");
    let geo = find(&pods(&r), "geo").expect("geo is reported").clone();
    assert_eq!(geo["reason"], "FailedCreatePodSandBox", "{geo:#}");
    assert_eq!(geo["evidence"][0]["source"], "event", "{geo:#}");
}

/// `pods stuck -n` (and `job list -n`, the other lister of one namespace)
/// with a namespace that does not exist: named as not found, exit 1, where
/// "no stuck pods among 0 pods" would tell a tired engineer all is well. A
/// namespace that exists and is empty is still just empty.
fn a_mistyped_namespace_is_named_not_reported_empty(backend: Backend) {
    let s = Scope::new("typo");
    let h = Harness::on(backend, &s, &s.namespace("empty"));
    let (typo, empty) = (s.ns("emtpy"), s.ns("empty"));
    for command in [&["pods", "stuck"][..], &["job", "list"][..]] {
        let mut args = vec!["-n", typo.as_str()];
        args.extend_from_slice(command);
        let run = h.oncall(&args).expect_code(1);
        assert_eq!(run.stdout, "", "{command:?}");
        assert!(
            run.stderr
                .contains(&format!("namespace `{typo}` was not found"))
                && run.stderr.contains("get namespaces"),
            "{command:?}: {}",
            run.stderr
        );
    }
    let run = h.oncall(&["-n", &empty, "pods", "stuck"]).expect_code(0);
    assert!(
        run.stdout.contains(&format!(
            "No stuck pods among 0 pods in namespace `{empty}`"
        )),
        "{}",
        run.stdout
    );
}
