//! `oncall promote` on the simulator's demo cluster (the `--sandbox` one):
//! staging runs a newer release than production. The demo's names are
//! fixed, so these run on the simulator, where each test has a demo of its
//! own; the scenarios in `promote_both.rs`, a flaky API server among them,
//! run on both backends with environments of their own.

mod common;

use common::*;

const PROMOTE: &[&str] = &[
    "promote",
    "--from-namespace",
    "staging",
    "--to-namespace",
    "production",
];

fn image(h: &Harness, ns: &str, name: &str) -> String {
    let d = h
        .get("deployments", Some(ns), name)
        .expect("deployment exists");
    d["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn production_images(h: &Harness) -> Vec<String> {
    ["frontend", "fetcher", "renderer", "cron"]
        .iter()
        .map(|n| image(h, "production", n))
        .collect()
}

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    PROMOTE
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .collect()
}

fn cron_replicas(h: &Harness) -> i64 {
    h.get("deployments", Some("production"), "cron").unwrap()["spec"]["replicas"]
        .as_i64()
        .unwrap_or(-1)
}

#[test]
fn a_singleton_whose_pod_never_stops_is_scaled_back_and_the_error_says_where_everything_is() {
    let h = Harness::demo();
    // The old cron pod cannot go away: a finalizer nobody removes.
    let pod = h
        .list("pods", Some("production"))
        .into_iter()
        .find(|p| p["metadata"]["labels"]["app.kubernetes.io/name"] == "cron")
        .expect("a cron pod");
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    h.kubectl(&[
        "-n",
        "production",
        "patch",
        "pod",
        &name,
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ])
    .expect_code(0);
    let before = production_images(&h);
    let run = h
        .oncall(&args(&["--yes", "--timeout", "10s"]))
        .expect_code(1);
    assert_eq!(
        cron_replicas(&h),
        1,
        "cron is never left at 0: {}",
        run.stderr
    );
    assert_eq!(production_images(&h), before, "{}", run.stderr);
    assert!(run.stderr.contains("did not stop within"), "{}", run.stderr);
    assert!(!run.stderr.contains("Status {"), "{}", run.stderr);
    // The last words say where each workload is.
    let last = run
        .stderr
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        run.stderr.contains("`production` now:")
            && run
                .stderr
                .contains("`deployment/cron` runs its previous images"),
        "{}",
        run.stderr
    );
    assert!(last.contains("`deployment/cron`"), "{last}");
    h.kubectl(&[
        "-n",
        "production",
        "patch",
        "pod",
        &name,
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ])
    .expect_code(0);
}
