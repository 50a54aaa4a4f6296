//! `oncall pods stuck` on both backends: each category a kubelet can put a
//! pod in, with its reason and evidence, from the same seed (the faults are
//! `sim.oncall.dev/fault` annotations, played by the simulator's kubelet or
//! by the test bed's kwok stages and kubelet events), and kubectl's STATUS.

mod common;
use common::*;

use std::time::Duration;

use serde_json::{Value, json};

on_both_backends!(
    every_kubelet_category_is_named_with_its_cause,
    rollout_undo_is_suggested_only_when_an_earlier_revision_exists,
    events_explain_a_stuck_pod_found_on_the_last_page,
    the_command_and_its_runbook_step_say_the_same,
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
