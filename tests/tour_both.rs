//! The README's tour, on the demo cluster of `--sandbox` and on the real
//! control plane seeded with the same `sim/seeds/demo.yaml`: every command
//! answers the same on both, as recorded in `tests/snapshots/tour.json`
//! (`UPDATE_SNAPSHOTS=1 cargo test --test tour_both sim::` rewrites it from
//! the simulator; the real cluster must then agree with it). `TOUR_DUMP=FILE`
//! writes what a run saw, to compare with the record.
//!
//! Only what differs between any two runs is written over before comparing:
//! times and ages, UIDs, the cluster's URL and context, request counts,
//! restart counts, addresses, the hash in a ReplicaSet's pod names and the
//! ordinal of a StatefulSet pod (which replica the scheduler put where).

mod common;
use common::*;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

on_both_backends!(the_readme_tour_answers_as_on_the_sandbox);

/// The node of the issue's example, and the one the tour drains.
const ISSUE_NODE: &str = "gke-demo-pool-a-8f3c2a1d-q2w8";
const DRAINED: &str = "gke-demo-pool-b-5b9e7c40-d3f6";

/// The read-only steps of the tour: a name and the command line.
const READS: &[(&str, &[&str])] = &[
    (
        "node list",
        &[
            "node",
            "list",
            "-l",
            // The demo's pools only: the test bed's anchor node and nodes
            // other tests left behind are not the tour's.
            "cloud.google.com/gke-nodepool in (pool-a,pool-b)",
            "-o",
            "json",
        ],
    ),
    (
        "node check of pool-a (the quick start)",
        &[
            "node",
            "check",
            "-l",
            "cloud.google.com/gke-nodepool=pool-a",
            "-o",
            "json",
        ],
    ),
    (
        "node check of one node with every flag (the issue's example)",
        &[
            "node",
            "check",
            ISSUE_NODE,
            "--ignore-daemonsets",
            "--force",
            "--scale-up",
            "-o",
            "json",
        ],
    ),
    (
        "pods stuck in every namespace",
        &["pods", "stuck", "-A", "--older-than", "0s", "-o", "json"],
    ),
    (
        "pods stuck in staging",
        &[
            "-n",
            "staging",
            "pods",
            "stuck",
            "--older-than",
            "0s",
            "-o",
            "json",
        ],
    ),
    (
        "secret consumers",
        &[
            "-n",
            "production",
            "secret",
            "consumers",
            "webapp-secrets",
            "-o",
            "json",
        ],
    ),
    (
        "promote plan",
        &[
            "promote",
            "--from-namespace",
            "staging",
            "--to-namespace",
            "production",
            "--dry-run",
            "-o",
            "json",
        ],
    ),
    (
        "restart plan",
        &[
            "-n",
            "staging",
            "restart",
            "deployment/frontend",
            "--dry-run",
            "-o",
            "json",
        ],
    ),
    (
        "rollout status",
        &[
            "-n",
            "production",
            "rollout",
            "status",
            "deployment/frontend",
            "-o",
            "json",
        ],
    ),
    ("job list", &["job", "list", "-A", "-o", "json"]),
];

/// The changes the tour makes, in order, each followed by a read of what
/// it did.
const CHANGES: &[(&str, &[&str])] = &[
    (
        "cordon",
        &[
            "node",
            "cordon",
            DRAINED,
            "--reason",
            "disk errors",
            "--yes",
            "-o",
            "json",
        ],
    ),
    (
        "drain",
        &[
            "node",
            "drain",
            DRAINED,
            "--ignore-daemonsets",
            "--yes",
            "-o",
            "json",
        ],
    ),
    (
        "the drained node in node list",
        &[
            "node",
            "list",
            "-l",
            "kubernetes.io/hostname=gke-demo-pool-b-5b9e7c40-d3f6",
            "-o",
            "json",
        ],
    ),
    (
        "restart",
        &[
            "-n",
            "staging",
            "restart",
            "deployment/frontend",
            "--yes",
            "-o",
            "json",
        ],
    ),
];

fn the_readme_tour_answers_as_on_the_sandbox(backend: Backend) {
    let h = Harness::demo_on(backend);
    let snapshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/tour.json");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some() && backend == Backend::Sim;
    let expected: Vec<Value> = if update {
        Vec::new()
    } else {
        serde_json::from_str(&std::fs::read_to_string(&snapshot).unwrap_or_default())
            .expect("tests/snapshots/tour.json is JSON")
    };
    let want = |step: &str| {
        expected
            .iter()
            .find(|e| e["step"] == step)
            .cloned()
            .unwrap_or_else(|| panic!("no step `{step}` in tour.json"))
    };
    let mut seen = Vec::new();
    // A kubelet needs a moment to play each fault (a crash loop its
    // restarts), so a read is repeated until it agrees or time is up.
    for (step, args) in READS {
        let mut got = answer(&h, step, args);
        if !update {
            eventually(Duration::from_secs(30), || {
                got = answer(&h, step, args);
                got == want(step)
            });
        }
        seen.push(got);
    }
    for (step, args) in CHANGES {
        seen.push(answer(&h, step, args));
    }
    if update {
        std::fs::write(
            &snapshot,
            serde_json::to_string_pretty(&seen).unwrap() + "\n",
        )
        .unwrap();
        return;
    }
    if let Some(dump) = std::env::var_os("TOUR_DUMP") {
        std::fs::write(dump, serde_json::to_string_pretty(&seen).unwrap()).unwrap();
    }
    for got in &seen {
        let step = got["step"].as_str().unwrap();
        assert_eq!(
            pretty(got),
            pretty(&want(step)),
            "`{step}` answers otherwise on {backend:?}"
        );
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

/// One step's exit code and `-o json` answer, with what differs between
/// runs written over.
fn answer(h: &Harness, step: &str, args: &[&str]) -> Value {
    let run = h.oncall(args);
    let output: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "`{step}`: {e}\nexit {}\n{}{}",
            run.code, run.stdout, run.stderr
        )
    });
    json!({"step": step, "exit": run.code, "output": normalise(output)})
}

/// Keys whose values differ between any two runs of the same tour.
const VOLATILE_KEYS: &[&str] = &[
    "uid",
    "created",
    "since",
    "age_seconds",
    "duration_seconds",
    "api_requests",
    // Every pod of the cluster, the test bed's own node's too.
    "pods_checked",
    "cluster",
    "context",
    "restarts",
    "internal_ip",
    "external_ip",
    "next_run",
    "at",
    "seconds",
];

fn normalise(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            // How often an event repeated, whether a crash-looping pod is
            // between two restarts (Running) or backing off, and whether a
            // pull is being tried (ErrImagePull) or backed off from, depend
            // on the moment.
            let event = map.get("source").is_some_and(|s| s == "event");
            let category = map.get("category").and_then(Value::as_str);
            let crash_loop = matches!(category, Some("crash-loop" | "image-pull"));
            let pull = category == Some("image-pull");
            let volatile = |k: &str| {
                VOLATILE_KEYS.contains(&k)
                    || (event && k == "count")
                    || (crash_loop && k == "status")
                    || (pull && k == "reason")
            };
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| match v {
                        // The container's own state is there only while it
                        // backs off.
                        Value::Array(items) if crash_loop && k == "evidence" => (
                            k,
                            normalise(Value::Array(
                                items
                                    .into_iter()
                                    .filter(|e| e["source"] != "container")
                                    .collect(),
                            )),
                        ),
                        v => {
                            let v = if volatile(&k) && !v.is_null() {
                                Value::String("<volatile>".into())
                            } else {
                                normalise(v)
                            };
                            (k, v)
                        }
                    })
                    .collect(),
            )
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items.into_iter().map(normalise).collect();
            // Items told apart only by a hash or an ordinal now compare
            // equal: keep a stable order.
            if items.iter().all(Value::is_object) {
                items.sort_by_key(|i| i.to_string());
            }
            Value::Array(items)
        }
        Value::String(s) => Value::String(normalise_text(&s)),
        other => other,
    }
}

fn normalise_text(s: &str) -> String {
    use std::sync::LazyLock;
    static RULES: LazyLock<Vec<(regex::Regex, &str)>> = LazyLock::new(|| {
        [
            // A ReplicaSet's pods and the ReplicaSet itself.
            (
                r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
                "<uid>",
            ),
            // In events a pod's name is followed by `_namespace`.
            (
                r"\b([a-z][a-z-]*)-[a-z0-9]{6,10}-[a-z0-9]{5}([^a-z0-9]|$)",
                "$1-<hash>-<pod>$2",
            ),
            (
                r"\bReplicaSet/([a-z][a-z-]*)-[a-z0-9]{6,10}\b",
                "ReplicaSet/$1-<hash>",
            ),
            (
                r"\bnode-exporter-[a-z0-9]{5}([^a-z0-9]|$)",
                "node-exporter-<pod>$1",
            ),
            (r"\brabbitmq-[0-9]\b", "rabbitmq-<ordinal>"),
            (
                r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
                "<time>",
            ),
            (r"\b\d+\.\d+\.\d+\.\d+\b", "<ip>"),
            (r"\b\d+ restarts\b", "<n> restarts"),
            (
                r"restarted \d+ times, last at [\d:]+",
                "restarted <n> times, last at <time>",
            ),
            (r"Terminating for [^)]+\)", "Terminating for <age>)"),
            (r#"sandbox "[^"]+""#, r#"sandbox "<id>""#),
            // The scheduler counts every node, the test bed's own too.
            (r"\d+ node\(s\) had untolerated taint\(s\), ", ""),
            (r"\b0/\d+ nodes\b", "0/<n> nodes"),
            (r"\b\d+ Preemption\b", "<n> Preemption"),
            (r"https?://127\.0\.0\.1:\d+", "<server>"),
        ]
        .into_iter()
        .map(|(re, to)| (regex::Regex::new(re).unwrap(), to))
        .collect()
    });
    RULES.iter().fold(s.to_string(), |s, (re, to)| {
        re.replace_all(&s, *to).into_owned()
    })
}
