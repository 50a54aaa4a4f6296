//! `oncall promote` on the simulator's demo cluster (the `--sandbox` one):
//! staging runs a newer release than production. The demo's names are
//! fixed, so these run on the simulator, where each test has a demo of its
//! own; the scenarios in `promote_both.rs`, a flaky API server among them,
//! run on both backends with environments of their own.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use serde_json::Value;

const STAGING_SHA: &str = "5f63e0a6c11d4df06682f4c5ab85e0457b1ce9ed";
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

/// Makes the simulated kubelet play `fault` for every image matching `pattern`.
fn image_fault(h: &Harness, pattern: &str, fault: &str) {
    h.sim()
        .apply(
            ConfigMap::image_faults("kube-system", &[&format!("{pattern} {fault}")]).into_value(),
        )
        .expect("fault rules applied");
}

fn ledger(h: &Harness) -> Vec<Value> {
    let cm = h
        .get("configmaps", Some("production"), "oncall-releases")
        .expect("ledger exists");
    serde_json::from_str(cm["data"]["releases.json"].as_str().unwrap()).unwrap()
}

#[test]
fn happy_path_promotes_every_workload_runs_the_migration_and_records_the_release() {
    let h = Harness::demo();
    let before = production_images(&h);
    assert!(
        before.iter().all(|i| !i.contains(STAGING_SHA)),
        "production starts behind: {before:?}"
    );
    let run = h.oncall(&args(&["--yes"])).expect_code(0);
    assert!(
        run.stdout.contains("deployment/frontend"),
        "plan lists frontend:\n{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("kill-deploy (singleton)"),
        "cron is kill-deployed:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("run migration"), "{}", run.stdout);
    for (name, img) in ["frontend", "fetcher", "renderer", "cron"]
        .iter()
        .zip(production_images(&h))
    {
        assert_eq!(
            img,
            image(&h, "staging", name),
            "{name} runs the staging image"
        );
    }
    let jobs = h.list("jobs", Some("production"));
    let migration = jobs
        .iter()
        .find(|j| {
            j["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .starts_with("migrate-")
        })
        .expect("a migration job ran");
    let job_image = migration["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    assert!(
        job_image.ends_with(STAGING_SHA),
        "migration runs the new image: {job_image}"
    );
    let releases = ledger(&h);
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0]["result"], "succeeded");
    assert_eq!(releases[0]["sha"], STAGING_SHA);
    let audit = h.audit_entries();
    assert_eq!(audit.last().unwrap()["outcome"]["status"], "ok");

    // Nothing left to do the second time.
    let again = h.oncall(&args(&["--yes"])).expect_code(0);
    assert!(again.stdout.contains("Nothing to do"), "{}", again.stdout);
}

#[test]
fn a_crash_looping_image_is_rolled_back_automatically() {
    let h = Harness::demo();
    image_fault(
        &h,
        &format!("*fetcher:sha-{STAGING_SHA}"),
        "crash-loop exit-code=1",
    );
    let before = production_images(&h);
    let run = h
        .oncall(&args(&["--yes", "--timeout", "20s"]))
        .expect_code(1);
    assert!(run.stderr.contains("deployment/fetcher"), "{}", run.stderr);
    assert!(run.stderr.contains("rolled back"), "{}", run.stderr);
    assert!(
        run.stderr.contains("ran and was not reverted"),
        "the error says the migration stays: {}",
        run.stderr
    );
    assert_eq!(
        production_images(&h),
        before,
        "production ends on its old images"
    );
    assert_eq!(ledger(&h)[0]["result"], "rolled back");
}

#[test]
fn the_singleton_never_runs_two_pods() {
    let h = Arc::new(Harness::demo());
    let stop = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (h, stop, most) = (h.clone(), stop.clone(), most.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let running = h
                    .list("pods", Some("production"))
                    .iter()
                    .filter(|p| p["metadata"]["labels"]["app.kubernetes.io/name"] == "cron")
                    .count();
                most.fetch_max(running, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    h.oncall(&args(&["--yes"])).expect_code(0);
    stop.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "at most one cron pod at any time"
    );
    assert!(image(&h, "production", "cron").ends_with(STAGING_SHA));
}

#[test]
fn rollback_returns_to_the_earlier_release() {
    let h = Harness::demo();
    h.oncall(&args(&["--yes"])).expect_code(0);
    let release_one = image(&h, "production", "frontend");
    let newer = "registry.example.com/app/frontend:sha-cccccccccccccccccccccccccccccccccccccccc";
    h.kubectl(&[
        "-n",
        "staging",
        "set",
        "image",
        "deployment/frontend",
        &format!("frontend={newer}"),
    ])
    .expect_code(0);
    h.oncall(&args(&["--yes"])).expect_code(0);
    assert_eq!(image(&h, "production", "frontend"), newer);

    let history = h
        .oncall(&["-n", "production", "promote", "history"])
        .expect_code(0);
    assert!(
        history.stdout.contains("cccccccccccc"),
        "{}",
        history.stdout
    );
    let run = h
        .oncall(&["-n", "production", "promote", "rollback", "--yes"])
        .expect_code(0);
    assert!(
        run.stdout.contains("migrations are not reverted"),
        "warns about migrations: {}",
        run.stdout
    );
    assert_eq!(
        image(&h, "production", "frontend"),
        release_one,
        "back on release 1"
    );
    let releases = ledger(&h);
    assert_eq!(releases.last().unwrap()["action"], "rollback");
    assert_eq!(releases.last().unwrap()["result"], "succeeded");
}

#[test]
fn after_the_first_promotion_rollback_restores_the_images_it_replaced() {
    let h = Harness::demo();
    let before = production_images(&h);
    h.oncall(&args(&["--yes"])).expect_code(0);
    assert_ne!(production_images(&h), before);
    let run = h
        .oncall(&["-n", "production", "promote", "rollback", "--yes"])
        .expect_code(0);
    assert!(
        run.stdout.contains("before release 1"),
        "the plan names where it goes: {}",
        run.stdout
    );
    assert_eq!(production_images(&h), before, "back on the first images");
    let again = h
        .oncall(&["-n", "production", "promote", "rollback", "--yes"])
        .expect_code(2);
    assert!(
        again.stderr.contains("no earlier successful release"),
        "{}",
        again.stderr
    );
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
