//! `oncall promote` on both backends: staging runs a newer release than
//! production. The migration Job, ordered rollouts, the kill-deployed
//! singleton (and one whose pod never stops), the automatic rollback of a
//! crash-looping image, a failed migration, a dry run and a refusal without
//! `--yes`, and history and rollback, with the same seed on the simulator
//! and the real control plane (a bad image is a `sim-image-faults` rule in
//! the namespace), and promote and rollback under a flaky API server. Each
//! scenario has environments of its own, so all of them run on both.

mod common;
use common::*;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

on_both_backends!(
    promote_runs_the_migration_then_the_rollouts_and_records_the_release,
    a_crash_looping_image_is_rolled_back_and_history_and_rollback_work,
    the_plan_shows_where_images_come_from,
    a_runbook_promote_step_and_the_command_end_and_record_alike,
    promote_and_rollback_survive_a_flaky_api_server,
    a_dry_run_and_a_refusal_change_nothing_and_name_what_only_staging_has,
    a_failed_migration_stops_before_any_deploy,
    a_singleton_whose_pod_never_stops_is_scaled_back_once_and_the_error_says_where_it_is,
    a_mistyped_namespace_is_named_and_an_unrelated_one_is_not_called_up_to_date,
    a_bad_release_left_in_place_says_what_runs_and_how_to_restore_it,
);

const OLD: &str = "sha-1111111111111111111111111111111111111111";
const NEW: &str = "sha-5f63e0a6c11d4df06682f4c5ab85e0457b1ce9ed";

/// A Deployment of the environment `env` (a namespace of the scope)
/// running `sha`, its pods labelled `app.kubernetes.io/name: <name>`.
fn deployment(s: &Scope, env: &str, name: &str, replicas: u32, sha: &str) -> Workload {
    Workload::deployment(&s.ns(env), name)
        .label("app.kubernetes.io/name", name)
        .selected_by("app.kubernetes.io/name")
        .replicas(replicas)
        .progress_deadline(600)
        .toleration(s.toleration())
        .grace_period(2)
        .container(name, &format!("registry.example.com/{}/{name}:{sha}", s.id))
}

/// One environment: two rolling services, a singleton `cron` (Recreate)
/// and the suspended `migrate` CronJob promote runs first.
fn environment(s: &Scope, env: &str, sha: &str) -> String {
    let migrate = Workload::cron_job(&s.ns(env), "migrate", "0 3 * * *")
        .suspended()
        .set("/spec/jobTemplate/spec/backoffLimit", json!(0))
        .toleration(s.toleration())
        .container(
            "migrate",
            &format!("registry.example.com/{}/migrate:{sha}", s.id),
        )
        .container_field("args", json!(["db", "migrate"]));
    s.namespace(env)
        + &deployment(s, env, "frontend", 3, sha)
            .strategy("RollingUpdate")
            .yaml()
        + &deployment(s, env, "fetcher", 2, sha)
            .strategy("RollingUpdate")
            .yaml()
        + &deployment(s, env, "cron", 1, sha)
            .strategy("Recreate")
            .yaml()
        + &migrate.yaml()
}

fn cluster(s: &Scope) -> String {
    let mut y = s.node_yaml("a", "16", &[]);
    y += &s.node_yaml("b", "16", &[]);
    y += &environment(s, "staging", NEW);
    y += &environment(s, "production", OLD);
    y
}

fn image(h: &Harness, ns: &str, name: &str) -> String {
    h.get("deployments", Some(ns), name).expect("deployment")["spec"]["template"]["spec"]["containers"][0]
        ["image"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn ready(h: &Harness, ns: &str, name: &str) -> i64 {
    h.get("deployments", Some(ns), name)
        .and_then(|d| d["status"]["readyReplicas"].as_i64())
        .unwrap_or(0)
}

fn settle(h: &Harness, s: &Scope) {
    for env in ["staging", "production"] {
        for (name, n) in [("frontend", 3), ("fetcher", 2), ("cron", 1)] {
            assert!(
                eventually(Duration::from_secs(60), || ready(h, &s.ns(env), name) == n),
                "{env}/{name} did not become ready"
            );
        }
    }
}

fn ledger(h: &Harness, s: &Scope) -> Vec<Value> {
    let cm = h
        .get("configmaps", Some(&s.ns("production")), "oncall-releases")
        .expect("ledger exists");
    serde_json::from_str(cm["data"]["releases.json"].as_str().unwrap()).unwrap()
}

/// The Jobs promote made from the `migrate` template in `ns`.
fn migration_jobs(h: &Harness, ns: &str) -> Vec<Value> {
    h.list("jobs", Some(ns))
        .into_iter()
        .filter(|j| {
            j["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .starts_with("migrate-")
        })
        .collect()
}

/// Staging's fetcher moves to an image that crash-loops on start in
/// production (a `sim-image-faults` rule there); returns that image.
fn stage_a_crash_looping_fetcher(h: &Harness, s: &Scope) -> String {
    let bad = format!("registry.example.com/{}/fetcher:sha-bad", s.id);
    h.apply(
        ConfigMap::image_faults(
            &s.ns("production"),
            &[&format!("{bad} crash-loop exit-code=1")],
        )
        .into_value(),
    );
    h.kubectl(&[
        "-n",
        &s.ns("staging"),
        "set",
        "image",
        "deployment/fetcher",
        &format!("fetcher={bad}"),
    ])
    .expect_code(0);
    bad
}

fn promote<'a>(staging: &'a str, production: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "promote",
        "--from-namespace",
        staging,
        "--to-namespace",
        production,
    ];
    args.extend_from_slice(extra);
    args
}

fn promote_runs_the_migration_then_the_rollouts_and_records_the_release(backend: Backend) {
    let s = Scope::new("promote");
    let h = Arc::new(Harness::on(backend, &s, &cluster(&s)));
    settle(&h, &s);
    let (staging, production) = (s.ns("staging"), s.ns("production"));

    // Watch the singleton: never two cron pods at once.
    let stop = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (h, stop, most, ns) = (h.clone(), stop.clone(), most.clone(), production.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let running = h
                    .list("pods", Some(&ns))
                    .iter()
                    .filter(|p| p["metadata"]["labels"]["app.kubernetes.io/name"] == "cron")
                    .count();
                most.fetch_max(running, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let run = h
        .oncall(&promote(
            &staging,
            &production,
            &["--yes", "--timeout", "120s"],
        ))
        .expect_code(0);
    stop.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    assert!(
        run.stdout.contains("deployment/frontend"),
        "the plan lists frontend:\n{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("kill-deploy (singleton)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("run migration"), "{}", run.stdout);
    for name in ["frontend", "fetcher", "cron"] {
        assert_eq!(
            image(&h, &production, name),
            image(&h, &staging, name),
            "{name}"
        );
    }
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "at most one cron pod at any time"
    );
    let migration = migration_jobs(&h, &production)
        .pop()
        .expect("a migration job ran");
    assert!(
        migration["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .ends_with(NEW),
        "the migration runs the new image"
    );
    let releases = ledger(&h, &s);
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0]["result"], "succeeded");
    assert_eq!(releases[0]["sha"], NEW.trim_start_matches("sha-"));
    assert_eq!(h.audit_entries().last().unwrap()["outcome"]["status"], "ok");
    let again = h
        .oncall(&promote(&staging, &production, &["--yes"]))
        .expect_code(0);
    assert!(again.stdout.contains("Nothing to do"), "{}", again.stdout);
}

fn a_crash_looping_image_is_rolled_back_and_history_and_rollback_work(backend: Backend) {
    let s = Scope::new("rollback");
    let h = Harness::on(backend, &s, &cluster(&s));
    settle(&h, &s);
    let (staging, production) = (s.ns("staging"), s.ns("production"));
    let before = images(&h, &production);
    // Release 1 goes out cleanly.
    h.oncall(&promote(
        &staging,
        &production,
        &["--yes", "--timeout", "120s"],
    ))
    .expect_code(0);
    let release_one = image(&h, &production, "fetcher");
    let on_release_one = images(&h, &production);

    // Release 2's fetcher crashes on start: promote rolls production back.
    stage_a_crash_looping_fetcher(&h, &s);
    let run = h
        .oncall(&promote(
            &staging,
            &production,
            &["--yes", "--timeout", "60s"],
        ))
        .expect_code(1);
    assert!(
        run.stderr.contains("deployment/fetcher") && run.stderr.contains("rolled back"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("ran and was not reverted"),
        "the error says the migration stays: {}",
        run.stderr
    );
    assert_eq!(
        images(&h, &production),
        on_release_one,
        "production ends on release 1"
    );
    assert_eq!(ledger(&h, &s).last().unwrap()["result"], "rolled back");

    // A good release 2, then a rollback to release 1.
    let good = format!("registry.example.com/{}/fetcher:sha-cccccccccccc", s.id);
    h.kubectl(&[
        "-n",
        &staging,
        "set",
        "image",
        "deployment/fetcher",
        &format!("fetcher={good}"),
    ])
    .expect_code(0);
    h.oncall(&promote(
        &staging,
        &production,
        &["--yes", "--timeout", "120s"],
    ))
    .expect_code(0);
    assert_eq!(image(&h, &production, "fetcher"), good);
    // The side flags of `promote` work on its subcommands too.
    let history = h
        .oncall(&[
            "promote",
            "history",
            "--from-namespace",
            &staging,
            "--to-namespace",
            &production,
        ])
        .expect_code(0);
    assert!(
        history.stdout.contains("cccccccccccc"),
        "{}",
        history.stdout
    );
    let first = h
        .oncall(&[
            "-n",
            &production,
            "promote",
            "rollback",
            "--yes",
            "--timeout",
            "120s",
        ])
        .expect_code(0);
    assert!(
        first.stdout.contains("migrations are not reverted"),
        "warns about migrations: {}",
        first.stdout
    );
    assert_eq!(
        image(&h, &production, "fetcher"),
        release_one,
        "back on release 1"
    );
    let releases = ledger(&h, &s);
    assert_eq!(releases.last().unwrap()["action"], "rollback");
    assert_eq!(releases.last().unwrap()["result"], "succeeded");

    // A second rollback goes on to the images release 1 replaced, never
    // forward to the release just rolled back from.
    let second = h
        .oncall(&[
            "promote",
            "rollback",
            "--to-namespace",
            &production,
            "--yes",
            "--timeout",
            "120s",
        ])
        .expect_code(0);
    assert!(
        second.stdout.contains("before release 1"),
        "the plan names where it goes: {}",
        second.stdout
    );
    assert_eq!(
        image(&h, &production, "fetcher"),
        format!("registry.example.com/{}/fetcher:{OLD}", s.id),
        "back on the images before release 1"
    );
    assert_eq!(images(&h, &production), before, "every workload");
    assert_eq!(ledger(&h, &s).last().unwrap()["source"], "before release 1");
    // There is nothing before that.
    let third = h
        .oncall(&["-n", &production, "promote", "rollback", "--yes"])
        .expect_code(2);
    assert!(
        third.stderr.contains("no earlier successful release"),
        "{}",
        third.stderr
    );
}

/// Staging's frontend comes from another registry; its fetcher is the same
/// image as production's, spelled the short Docker Hub way.
fn the_plan_shows_where_images_come_from(backend: Backend) {
    let s = Scope::new("source");
    let ours = format!("registry.example.com/{}", s.id);
    let mut y = s.node_yaml("a", "16", &[]);
    y += &environment(&s, "staging", NEW)
        .replace(
            &format!("{ours}/frontend:"),
            "eu.gcr.io/evil-project/frontend:",
        )
        .replace(&format!("{ours}/fetcher:{NEW}"), "nginx:1.27");
    y += &environment(&s, "production", OLD).replace(
        &format!("{ours}/fetcher:{OLD}"),
        "docker.io/library/nginx:1.27",
    );
    let h = Harness::on(backend, &s, &y);
    let (staging, production) = (s.ns("staging"), s.ns("production"));

    let table = h
        .oncall(&promote(&staging, &production, &["--dry-run"]))
        .expect_code(0);
    let out = format!("{}{}", table.stdout, table.stderr);
    let frontend = out
        .lines()
        .find(|l| l.contains("deployment/frontend"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        frontend.contains(&format!(
            "{ours}/frontend:sha-111111111111… → eu.gcr.io/evil-project/frontend:sha-5f63e0a6c11d…"
        )),
        "registry and repository shown on both sides: {out}"
    );
    assert!(
        out.contains(&format!(
            "IMAGE SOURCE CHANGES: `deployment/frontend` container `frontend` would run `eu.gcr.io/evil-project/frontend` instead of `{ours}/frontend`"
        )),
        "{out}"
    );
    // The same source on both sides: the short form, and no warning.
    let cron = out
        .lines()
        .find(|l| l.contains("deployment/cron"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        cron.contains("cron: sha-111111111111… → sha-5f63e0a6c11d…"),
        "{out}"
    );
    assert!(!out.contains("`deployment/cron` container"), "{out}");
    // `nginx:1.27` is `docker.io/library/nginx:1.27`: nothing to change.
    let fetcher = out
        .lines()
        .find(|l| l.contains("deployment/fetcher"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(fetcher.contains("already runs the"), "{out}");

    // JSON names every image in full, on both sides.
    let json = h
        .oncall(&promote(
            &staging,
            &production,
            &["--dry-run", "-o", "json"],
        ))
        .expect_code(0);
    let plan: Value = serde_json::from_str(&json.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", json.stdout, json.stderr));
    let images = |target: &str| {
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["target"] == target)
            .unwrap_or_else(|| panic!("{target} in {plan:#}"))["images"][0]
            .clone()
    };
    assert_eq!(
        images("deployment/cron"),
        json!({
            "container": "cron",
            "from": format!("{ours}/cron:{OLD}"),
            "to": format!("{ours}/cron:{NEW}"),
        })
    );
    assert_eq!(
        images("deployment/frontend")["to"],
        format!("eu.gcr.io/evil-project/frontend:{NEW}")
    );
    assert_eq!(
        image(&h, &production, "frontend"),
        format!("{ours}/frontend:{OLD}")
    );
}

/// The runbook's `promote` step and `oncall promote` are one procedure: on
/// two like pairs of environments they roll out the same way, record the
/// same release, and leave audit entries that differ only in the names.
fn a_runbook_promote_step_and_the_command_end_and_record_alike(backend: Backend) {
    let s = Scope::new("promoboth");
    let slim = |env: &str, sha: &str| {
        s.namespace(env)
            + &deployment(&s, env, "frontend", 2, sha)
                .strategy("RollingUpdate")
                .yaml()
            + &deployment(&s, env, "cron", 1, sha)
                .strategy("Recreate")
                .yaml()
    };
    let mut y = s.node_yaml("a", "16", &[]);
    for side in ["x", "y"] {
        y += &slim(&format!("staging-{side}"), NEW);
        y += &slim(&format!("prod-{side}"), OLD);
    }
    let h = Harness::on(backend, &s, &y);
    for side in ["x", "y"] {
        for env in ["staging", "prod"] {
            let ns = s.ns(&format!("{env}-{side}"));
            for (name, n) in [("frontend", 2), ("cron", 1)] {
                assert!(
                    eventually(Duration::from_secs(60), || ready(&h, &ns, name) == n),
                    "{ns}/{name} did not become ready"
                );
            }
        }
    }
    let ns = |env: &str| s.ns(env);
    h.oncall(&promote(
        &ns("staging-x"),
        &ns("prod-x"),
        &["--yes", "--timeout", "120s"],
    ))
    .expect_code(0);
    let file = h.home.path().join("promote.yaml");
    std::fs::write(
        &file,
        format!(
            "name: promote\nsummary: promote one environment\nsteps:\n  - id: promote\n    title: Promote it\n    promote: {{from: {}, to: {}, timeout: 120s}}\n",
            ns("staging-y"),
            ns("prod-y")
        ),
    )
    .unwrap();
    h.oncall(&["runbook", "run", file.to_str().unwrap(), "--yes"])
        .expect_code(0);
    for side in ["x", "y"] {
        for name in ["frontend", "cron"] {
            assert_eq!(
                image(&h, &ns(&format!("prod-{side}")), name),
                image(&h, &ns(&format!("staging-{side}")), name),
                "{side}: {name}"
            );
        }
    }
    let normal = |text: String, side: &str| {
        text.replace(&ns(&format!("staging-{side}")), "STAGING")
            .replace(&ns(&format!("prod-{side}")), "PROD")
    };
    let release = |side: &str| {
        let cm = h
            .get(
                "configmaps",
                Some(&ns(&format!("prod-{side}"))),
                "oncall-releases",
            )
            .expect("ledger exists");
        let releases: Vec<Value> =
            serde_json::from_str(cm["data"]["releases.json"].as_str().unwrap()).unwrap();
        assert_eq!(releases.len(), 1, "{side}: {releases:#?}");
        let r = &releases[0];
        normal(
            json!({"number": r["number"], "action": r["action"], "result": r["result"], "source": r["source"], "sha": r["sha"], "changes": r["changes"]})
                .to_string(),
            side,
        )
    };
    assert_eq!(release("x"), release("y"));
    assert_recorded_alike(&h, |driver, text| {
        Some(normal(
            text.to_string(),
            if driver == Driver::Command { "x" } else { "y" },
        ))
    });
}

/// What production runs, checked against the ledger's last release: every
/// image it records as deployed is the one running.
fn ledger_matches_production(h: &Harness, s: &Scope) -> Result<(), String> {
    let releases = ledger(h, s);
    let last = releases.last().ok_or("no release recorded")?;
    for c in last["changes"].as_array().into_iter().flatten() {
        let name = c["workload"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("deployment/");
        let running = image(h, &s.ns("production"), name);
        let recorded = if last["result"] == "succeeded" {
            &c["to"]
        } else {
            &c["from"]
        };
        if running != recorded.as_str().unwrap_or_default() {
            return Err(format!(
                "release {} ({}) records {name} on {recorded}, production runs {running}",
                last["number"], last["result"]
            ));
        }
    }
    Ok(())
}

/// The images of production's workloads, in a fixed order.
fn images(h: &Harness, ns: &str) -> Vec<String> {
    ["frontend", "fetcher", "cron"]
        .iter()
        .map(|name| image(h, ns, name))
        .collect()
}

fn cron_replicas(h: &Harness, s: &Scope) -> i64 {
    h.get("deployments", Some(&s.ns("production")), "cron")
        .expect("cron exists")["spec"]["replicas"]
        .as_i64()
        .unwrap_or(-1)
}

/// Promote and then rollback while the API server fails about one request
/// in six (5xx, 429, dropped connections, stale writes, expiring watches):
/// for every fault seed both end where they should, the singleton is never
/// left scaled down, and the release ledger says what production runs.
fn promote_and_rollback_survive_a_flaky_api_server(backend: Backend) {
    for_each_fault_seed(|seed| {
        let s = Scope::new("flakypromo");
        let h = Harness::on(backend, &s, &cluster(&s));
        settle(&h, &s);
        let (staging, production) = (s.ns("staging"), s.ns("production"));
        let before = images(&h, &production);
        h.set_faults(flaky_api(seed));
        let run = h.oncall(&promote(
            &staging,
            &production,
            &["--yes", "--timeout", "120s"],
        ));
        let after = images(&h, &production);
        if run.code != 0 || after != images(&h, &staging) {
            return Err(format!(
                "promote exited {}: {}\nproduction: {after:?}",
                run.code, run.stderr
            ));
        }
        if cron_replicas(&h, &s) != 1 {
            return Err(format!("cron left at {} replicas", cron_replicas(&h, &s)));
        }
        ledger_matches_production(&h, &s)?;
        if ledger(&h, &s).last().unwrap()["result"] != "succeeded" {
            return Err("the ledger does not say succeeded".into());
        }
        let back = h.oncall(&[
            "-n",
            &production,
            "promote",
            "rollback",
            "--yes",
            "--timeout",
            "120s",
        ]);
        if back.code != 0 || images(&h, &production) != before {
            return Err(format!("rollback exited {}: {}", back.code, back.stderr));
        }
        if cron_replicas(&h, &s) != 1 {
            return Err(format!(
                "rollback left cron at {} replicas",
                cron_replicas(&h, &s)
            ));
        }
        ledger_matches_production(&h, &s)
    });
}

/// A dry run shows the plan, and without `--yes` and no terminal to ask on
/// promote refuses: neither changes an image, records a release or runs
/// the migration. A workload staging has and production has not is named.
fn a_dry_run_and_a_refusal_change_nothing_and_name_what_only_staging_has(backend: Backend) {
    let s = Scope::new("dryrun");
    let y = cluster(&s) + &deployment(&s, "staging", "search", 1, NEW).yaml();
    let h = Harness::on(backend, &s, &y);
    let (staging, production) = (s.ns("staging"), s.ns("production"));
    let before = images(&h, &production);

    let dry = h
        .oncall(&promote(&staging, &production, &["--dry-run"]))
        .expect_code(0);
    assert!(dry.stdout.contains("rolling update"), "{}", dry.stdout);
    assert!(
        dry.stdout
            .contains(&format!("`deployment/search` exists only in {staging}")),
        "{}",
        dry.stdout
    );
    let refused = h
        .oncall(&promote(&staging, &production, &[]))
        .expect_code(3);
    assert!(refused.stderr.contains("pass --yes"), "{}", refused.stderr);

    assert_eq!(images(&h, &production), before);
    assert!(
        h.get("configmaps", Some(&production), "oncall-releases")
            .is_none(),
        "no release recorded"
    );
    assert_eq!(migration_jobs(&h, &production), Vec::<Value>::new());
}

/// The migration Job fails: promote stops before changing any workload,
/// says so, and the ledger records the release as failed.
fn a_failed_migration_stops_before_any_deploy(backend: Backend) {
    let s = Scope::new("failmig");
    let h = Harness::on(backend, &s, &cluster(&s));
    let (staging, production) = (s.ns("staging"), s.ns("production"));
    h.apply(
        ConfigMap::image_faults(
            &production,
            &[&format!(
                "registry.example.com/{}/migrate:{NEW} job-fail exit-code=3",
                s.id
            )],
        )
        .into_value(),
    );
    let before = images(&h, &production);
    let run = h
        .oncall(&promote(
            &staging,
            &production,
            &["--yes", "--timeout", "60s"],
        ))
        .expect_code(1);
    assert!(run.stderr.contains("migration job"), "{}", run.stderr);
    assert!(
        run.stderr.contains("nothing was deployed"),
        "{}",
        run.stderr
    );
    assert_eq!(images(&h, &production), before);
    assert_eq!(ledger(&h, &s)[0]["result"], "failed");
}

/// Sets (`["example.com/hold"]`) or clears (`null`) the finalizers of a pod.
fn set_finalizers(h: &Harness, ns: &str, pod: &str, finalizers: &str) {
    h.kubectl(&[
        "-n",
        ns,
        "patch",
        "pod",
        pod,
        "--type=merge",
        "-p",
        &format!(r#"{{"metadata":{{"finalizers":{finalizers}}}}}"#),
    ])
    .expect_code(0);
}

/// The old cron pod cannot go away (a finalizer nobody removes): the
/// kill-deploy gives up and scales cron back on its old images, the
/// rollouts before it are rolled back (cron, as it was, is not stopped a
/// second time), and the error's last words say where cron is.
fn a_singleton_whose_pod_never_stops_is_scaled_back_once_and_the_error_says_where_it_is(
    backend: Backend,
) {
    let s = Scope::new("held");
    let h = Harness::on(backend, &s, &cluster(&s));
    settle(&h, &s);
    let (staging, production) = (s.ns("staging"), s.ns("production"));
    let pod = h
        .list("pods", Some(&production))
        .into_iter()
        .find(|p| p["metadata"]["labels"]["app.kubernetes.io/name"] == "cron")
        .expect("a cron pod");
    let pod = pod["metadata"]["name"].as_str().unwrap().to_string();
    set_finalizers(&h, &production, &pod, r#"["example.com/hold"]"#);
    let before = images(&h, &production);
    let run = h
        .oncall(&promote(
            &staging,
            &production,
            &["--yes", "--timeout", "10s"],
        ))
        .expect_code(1);
    assert_eq!(
        cron_replicas(&h, &s),
        1,
        "cron is never left at 0: {}",
        run.stderr
    );
    assert_eq!(images(&h, &production), before, "{}", run.stderr);
    assert!(run.stderr.contains("did not stop within"), "{}", run.stderr);
    assert!(!run.stderr.contains("Status {"), "{}", run.stderr);
    // The last words say where cron is. It was scaled back on its previous
    // images, so the rollback leaves it alone: it is not stopped a second
    // time, and the rollback of the others is not reported as failing.
    let last = run.stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.contains("`deployment/cron` was scaled back to 1 on its previous images"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("rollback also had problems"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("rollback deployment/cron"),
        "cron was stopped once: {}",
        run.stderr
    );
    assert_eq!(ledger(&h, &s).last().unwrap()["result"], "rolled back");
    // The harness's clean-up clears finalizers too; this one is ours to lift.
    set_finalizers(&h, &production, &pod, "null");
}

/// A mistyped target (or source) namespace is named as not found, exit 1,
/// not answered with "nothing to do" (nor its history with "no releases
/// yet"); a namespace that exists but runs none of staging's workloads is
/// not said to run what staging runs.
fn a_mistyped_namespace_is_named_and_an_unrelated_one_is_not_called_up_to_date(backend: Backend) {
    let s = Scope::new("promotens");
    let y = s.node_yaml("a", "16", &[]) + &environment(&s, "staging", NEW) + &s.namespace("empty");
    let h = Harness::on(backend, &s, &y);
    let (staging, typo, empty) = (s.ns("staging"), s.ns("prodution"), s.ns("empty"));
    let history = ["promote", "history", "--to-namespace", &typo];
    let rollback = ["promote", "rollback", "--to-namespace", &typo, "--yes"];
    for args in [
        promote(&staging, &typo, &["--yes"]),
        promote(&typo, &staging, &["--yes"]),
        history.to_vec(),
        rollback.to_vec(),
    ] {
        let run = h.oncall(&args).expect_code(1);
        assert!(
            run.stderr
                .contains(&format!("namespace `{typo}` was not found"))
                && run.stderr.contains("get namespaces"),
            "{}",
            run.stderr
        );
    }
    let run = h
        .oncall(&promote(&staging, &empty, &["--yes"]))
        .expect_code(0);
    assert!(
        run.stdout.contains(&format!(
            "Nothing to do: {empty} runs none of the workloads of {staging}."
        )),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("already runs"), "{}", run.stdout);
}

/// A release whose fetcher crash-loops, promoted with `--no-rollback` to a
/// target in a context of its own (`--to-context`), neither the
/// kubeconfig's current one nor the one given with `--context`: the last
/// words say what production's fetcher runs now and give the command that
/// restores it, on the target's context, and that command, pasted as
/// printed, does.
fn a_bad_release_left_in_place_says_what_runs_and_how_to_restore_it(backend: Backend) {
    let s = Scope::new("norollback");
    let y = s.node_yaml("a", "16", &[])
        + &s.node_yaml("b", "16", &[])
        + &environment(&s, "staging", NEW)
        + &environment(&s, "production", NEW);
    let h = Harness::on(backend, &s, &y);
    settle(&h, &s);
    let (staging, production) = (s.ns("staging"), s.ns("production"));
    let before = images(&h, &production);
    let bad = stage_a_crash_looping_fetcher(&h, &s);
    // The kubeconfig's current context is a dead server: a restore command
    // without `--context` would act on it.
    let context = h.kubectl(&["config", "current-context"]).expect_code(0);
    let context = context.stdout.trim();
    let kubeconfig = h.home.path().join("two-contexts");
    std::fs::copy(&h.kubeconfig, &kubeconfig).unwrap();
    kubeconfig::add_context_alias(&kubeconfig, "production-cluster");
    kubeconfig::switch_to_new_context(&kubeconfig, "elsewhere", "http://127.0.0.1:9");
    let k = kubeconfig.to_str().unwrap();
    // A mistyped target namespace is looked up on the target's context.
    let typo = s.ns("prodution");
    let mut args = vec!["--kubeconfig", k, "--context", context];
    args.extend(promote(
        &staging,
        &typo,
        &["--to-context", "production-cluster", "--yes"],
    ));
    let run = h.oncall(&args).expect_code(1);
    assert!(
        run.stderr.contains(&format!(
            "`kubectl --kubeconfig {k} --context production-cluster get namespaces`"
        )),
        "{}",
        run.stderr
    );
    let mut args = vec!["--kubeconfig", k, "--context", context];
    args.extend(promote(
        &staging,
        &production,
        &[
            "--to-context",
            "production-cluster",
            "--yes",
            "--timeout",
            "30s",
            "--no-rollback",
        ],
    ));
    let run = h.oncall(&args).expect_code(1);
    assert_eq!(image(&h, &production, "fetcher"), bad, "left in place");
    let last = run.stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.contains("`deployment/fetcher` runs the new images"),
        "{}",
        run.stderr
    );
    let restore = last
        .split_once("(restore: `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(command, _)| command)
        .unwrap_or_else(|| panic!("no restore command: {}", run.stderr));
    assert_eq!(
        restore,
        format!(
            "kubectl --kubeconfig {k} --context production-cluster -n {production} set image deployment/fetcher fetcher={}",
            before[1]
        )
    );
    let words = shlex::split(restore).expect("the restore command is valid shell");
    Cmd::new(kubectl_path())
        .inherit_env()
        .args(&words[1..])
        .env("HOME", h.home.path())
        .run()
        .expect_code(0);
    assert_eq!(images(&h, &production), before, "restored as printed");
    let fetcher_ready = || ready(&h, &production, "fetcher") == 2;
    assert!(
        eventually(Duration::from_secs(60), fetcher_ready),
        "the restored fetcher is ready again"
    );
}
