//! `oncall job` on both backends: a CronJob run now succeeds, fails or
//! hangs past its timeout with the exit codes scripts rely on; a CronJob
//! that forbids concurrent runs refuses a second one (Replace replaces the
//! first); suspend and resume record who did it and respect someone else's
//! suspension; the shipped `rebuild-now` runbook runs the builder, then
//! checks DNS.

mod common;
use common::*;

use oncall_testkit::dns::DnsServer;

use std::time::Duration;

use serde_json::{Value, json};

on_both_backends!(
    a_run_succeeds_and_is_made_as_kubectl_makes_it,
    a_failed_run_exits_1_naming_its_exit_code,
    a_hung_run_times_out_with_exit_5_and_goes_on,
    a_second_run_honours_the_concurrency_policy,
    resume_respects_someone_elses_suspension,
    the_rebuild_now_runbook_runs_the_builder_then_checks_dns,
    a_runbook_job_run_step_and_the_command_end_and_record_alike,
    a_schedule_runs_on_time_as_the_cronjob_controller_runs_it,
);

/// A CronJob whose schedule will not fire during the test (03:00 on
/// January 1st), with `fault` (the simulator's and kwok's) on its pods.
fn cronjob(s: &Scope, name: &str, policy: &str, fault: &str) -> Workload {
    let cronjob = Workload::cron_job(&s.ns("batch"), name, "0 3 1 1 *")
        .set("/spec/timeZone", json!("Europe/London"))
        .set("/spec/concurrencyPolicy", json!(policy))
        .set("/spec/jobTemplate/metadata/labels/app", json!(name))
        .set("/spec/jobTemplate/spec/backoffLimit", json!(0))
        .pod_annotation(
            "sim.oncall.dev/logs",
            "loading taxa\nbuilding the search index\nswapping aliases",
        )
        .toleration(s.toleration())
        .grace_period(1)
        .container("build", "powo/builder:4.2")
        .container_field("command", json!(["/bin/build", "--all"]));
    if fault.is_empty() {
        cronjob
    } else {
        cronjob.fault(fault)
    }
}

fn cluster(s: &Scope, cronjobs: &[(&str, &str, &str)]) -> String {
    let mut y = s.namespace("batch");
    y += &s.node_yaml("a", "8", &[]);
    for (name, policy, fault) in cronjobs {
        y += &cronjob(s, name, policy, fault).yaml();
    }
    y
}

/// The Jobs in the scope's namespace, by name, oldest first.
fn jobs(h: &Harness, s: &Scope) -> Vec<Value> {
    let mut v = h.list("jobs", Some(&s.ns("batch")));
    v.sort_by_key(|j| {
        j["metadata"]["creationTimestamp"]
            .as_str()
            .map(String::from)
    });
    v
}

fn job_list(h: &Harness, s: &Scope) -> Vec<Value> {
    let run = h
        .oncall(&["-n", &s.ns("batch"), "job", "list", "-o", "json"])
        .expect_code(0);
    serde_json::from_str(&run.stdout).expect("JSON rows")
}

/// What `kubectl logs` shows for the pod of job `job` (never empty).
fn kubectl_log_of_job(h: &Harness, ns: &str, job: &str) -> String {
    let pod = h
        .list("pods", Some(ns))
        .into_iter()
        .find(|p| p["metadata"]["labels"]["batch.kubernetes.io/job-name"] == job)
        .expect("the job's pod");
    let log = h
        .kubectl(&["-n", ns, "logs", pod["metadata"]["name"].as_str().unwrap()])
        .expect_code(0)
        .stdout;
    assert!(!log.trim().is_empty(), "kubectl shows a log");
    log
}

/// `job run cronjob/builder --follow --yes` in `ns`.
fn run_builder_followed(h: &Harness, ns: &str) -> Run {
    h.oncall(&[
        "-n",
        ns,
        "job",
        "run",
        "cronjob/builder",
        "--follow",
        "--yes",
    ])
}

fn a_run_succeeds_and_is_made_as_kubectl_makes_it(backend: Backend) {
    let s = Scope::new("jobrun");
    let h = Harness::on(backend, &s, &cluster(&s, &[("builder", "Forbid", "")]));
    let ns = s.ns("batch");
    let run = run_builder_followed(&h, &ns).expect_code(0);
    // The plan shows what will run, and when the schedule runs next.
    assert!(
        run.stdout
            .contains("image powo/builder:4.2, command `/bin/build --all`"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("the next scheduled run is due at")
            && run.stdout.contains("schedule in Europe/London"),
        "{}",
        run.stdout
    );
    let all = jobs(&h, &s);
    assert_eq!(all.len(), 1, "one job made");
    let job = &all[0];
    let name = job["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("builder-manual-"), "{name}");
    assert!(
        run.stdout.contains(&format!("job/{name} succeeded")),
        "{}",
        run.stdout
    );
    // As `kubectl create job --from=cronjob/builder` makes it.
    assert_eq!(
        job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
    let cj = h.get("cronjobs", Some(&ns), "builder").unwrap();
    let owner = &job["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "CronJob");
    assert_eq!(owner["uid"], cj["metadata"]["uid"]);
    assert_eq!(owner["controller"], true);
    assert_eq!(job["metadata"]["labels"]["app"], "builder");
    // The pod's log was streamed: every line `kubectl logs` shows for it.
    for line in kubectl_log_of_job(&h, &ns, name).lines() {
        assert!(
            run.stdout.contains(line),
            "{line:?} missing:\n{}",
            run.stdout
        );
    }
    // -o wide adds the containers and images, as kubectl's wide does.
    let wide = h
        .oncall(&["-n", &ns, "job", "list", "-o", "wide"])
        .expect_code(0);
    let theirs = h.kubectl(&["-n", &ns, "get", "cronjobs", "-o", "wide"]);
    for (column, value) in [("CONTAINERS", "build"), ("IMAGES", "powo/builder:4.2")] {
        for (who, text) in [("oncall", &wide.stdout), ("kubectl", &theirs.stdout)] {
            let head = text.lines().next().unwrap_or_default();
            assert!(head.contains(column), "{who}: {text}");
            assert!(text.contains(value), "{who}: {text}");
        }
    }
    let table = h.oncall(&["-n", &ns, "job", "list"]).expect_code(0);
    assert!(!table.stdout.contains("IMAGES"), "{}", table.stdout);
    let rows = job_list(&h, &s);
    assert_eq!(rows[0]["images"], json!(["powo/builder:4.2"]));
    assert_eq!(rows[0]["last_run"]["job"], name);
    assert_eq!(rows[0]["last_run"]["state"], "succeeded");
    assert_eq!(rows[0]["last_run"]["instantiated"], "manual");
    assert!(rows[0]["next_run"].is_string(), "{}", rows[0]);
    let entries = h.audit_entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["outcome"]["status"], "ok");
    assert_eq!(
        entries[0]["outcome"]["done"][0],
        format!("created job/{name}")
    );
}

fn a_failed_run_exits_1_naming_its_exit_code(backend: Backend) {
    let s = Scope::new("jobfail");
    let h = Harness::on(
        backend,
        &s,
        &cluster(&s, &[("builder", "Allow", "job-fail exit-code=3")]),
    );
    let ns = s.ns("batch");
    // The context is given on the line: the hint must name it, or pasted
    // it reads the kubeconfig's current one.
    let context = h
        .kubectl(&["config", "current-context"])
        .stdout
        .trim()
        .to_string();
    let args = [
        "--context",
        &context,
        "-n",
        &ns,
        "job",
        "run",
        "cronjob/builder",
        "--yes",
    ];
    let run = h.oncall(&args).expect_code(1);
    assert!(
        run.stderr.contains("failed") && run.stderr.contains("exited with code 3"),
        "{}",
        run.stderr
    );
    let hint = format!("`kubectl --context {context} logs -n {ns} job/builder-manual-");
    assert!(run.stderr.contains(&hint), "{hint} in {}", run.stderr);
    assert!(run.stdout.contains("failed after"), "{}", run.stdout);
    // With the last lines of the pod's log, as kubectl shows them.
    let job = jobs(&h, &s)[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let log = kubectl_log_of_job(&h, &ns, &job);
    let last = log.lines().last().unwrap();
    assert!(
        run.stdout.contains(last) || run.stderr.contains(last),
        "{last:?} missing:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    let rows = job_list(&h, &s);
    assert_eq!(rows[0]["last_run"]["state"], "failed");
    assert_eq!(h.audit_entries()[0]["outcome"]["status"], "failed");
}

fn a_hung_run_times_out_with_exit_5_and_goes_on(backend: Backend) {
    let s = Scope::new("jobhang");
    let h = Harness::on(
        backend,
        &s,
        &cluster(&s, &[("builder", "Allow", "job-hang")]),
    );
    let ns = s.ns("batch");
    let run = h
        .oncall(&[
            "-n",
            &ns,
            "job",
            "run",
            "cronjob/builder",
            "--timeout",
            "5s",
            "--yes",
        ])
        .expect_code(5);
    assert!(run.stderr.contains("timed out after 5s"), "{}", run.stderr);
    assert!(run.stderr.contains("still running"), "{}", run.stderr);
    // Only the wait ended: the job is still there, running.
    let rows = job_list(&h, &s);
    assert_eq!(rows[0]["last_run"]["state"], "running", "{}", rows[0]);
    assert_eq!(rows[0]["active"].as_array().unwrap().len(), 1);
    assert_eq!(h.audit_entries()[0]["outcome"]["status"], "timed_out");
    // Ctrl-C ends the wait, not the job, and says so.
    let waiting = h.spawn_oncall(&["-n", &ns, "job", "run", "cronjob/builder", "--yes"]);
    waiting.wait_for_stderr("waiting for it to finish", Duration::from_secs(30));
    waiting.signal(libc::SIGINT);
    let stopped = waiting.finish();
    assert_eq!(stopped.code, 130, "{}", stopped.stderr);
    assert!(
        stopped
            .stderr
            .contains("not done: waiting for it to finish (the job goes on)"),
        "{}",
        stopped.stderr
    );
    assert_eq!(job_list(&h, &s)[0]["active"].as_array().unwrap().len(), 2);
    assert_eq!(h.audit_entries()[1]["outcome"]["status"], "interrupted");
}

fn a_second_run_honours_the_concurrency_policy(backend: Backend) {
    let s = Scope::new("jobforbid");
    let h = Harness::on(
        backend,
        &s,
        &cluster(
            &s,
            &[
                ("builder", "Forbid", "job-hang"),
                ("indexer", "Replace", "job-hang"),
            ],
        ),
    );
    let ns = s.ns("batch");
    let start = |cj: &str, extra: &[&str]| {
        let mut args = vec!["-n", &ns, "job", "run", cj, "--timeout", "2s", "--yes"];
        args.extend(extra);
        h.oncall(&args)
    };
    start("cronjob/builder", &[]).expect_code(5);
    let first = jobs(&h, &s)[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    // Forbid: refused, nothing made, the active run named.
    let refused = start("cronjob/builder", &[]).expect_code(3);
    assert!(
        refused.stderr.contains("concurrencyPolicy: Forbid")
            && refused.stderr.contains(&first)
            && refused.stderr.contains("--force"),
        "{}",
        refused.stderr
    );
    assert_eq!(jobs(&h, &s).len(), 1);
    // --force starts another alongside, and the plan says both will run.
    let forced = start("cronjob/builder", &["--force"]).expect_code(5);
    assert!(forced.stdout.contains("both will run"), "{}", forced.stdout);
    assert_eq!(jobs(&h, &s).len(), 2);

    // Replace: the active run is deleted first, as the plan says.
    start("cronjob/indexer", &[]).expect_code(5);
    let indexer = |h: &Harness| -> Vec<String> {
        jobs(h, &s)
            .into_iter()
            .filter(|j| {
                j["metadata"]["labels"]["app"] == "indexer"
                    && j["metadata"]["deletionTimestamp"].is_null()
            })
            .map(|j| j["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let old = indexer(&h);
    assert_eq!(old.len(), 1);
    let replaced = start("cronjob/indexer", &[]).expect_code(5);
    assert!(
        replaced.stdout.contains(&format!("job/{}", old[0]))
            && replaced.stdout.contains("concurrencyPolicy Replace"),
        "{}",
        replaced.stdout
    );
    assert!(
        eventually(Duration::from_secs(30), || {
            let now = indexer(&h);
            now.len() == 1 && now[0] != old[0]
        }),
        "the old run was replaced: {:?}",
        indexer(&h)
    );
}

fn resume_respects_someone_elses_suspension(backend: Backend) {
    let s = Scope::new("jobsusp");
    let h = Harness::on(backend, &s, &cluster(&s, &[("builder", "Allow", "")]));
    let ns = s.ns("batch");
    let suspended =
        |h: &Harness| h.get("cronjobs", Some(&ns), "builder").unwrap()["spec"]["suspend"] == true;
    h.oncall(&[
        "-n",
        &ns,
        "job",
        "suspend",
        "cronjob/builder",
        "--reason",
        "incident 42",
        "--yes",
    ])
    .expect_code(0);
    assert!(suspended(&h));
    let me = os_user();
    let row = &job_list(&h, &s)[0];
    assert_eq!(row["suspended"], true);
    assert_eq!(row["suspension"]["by"], me.as_str());
    assert_eq!(row["suspension"]["reason"], "incident 42");
    let table = h.oncall(&["-n", &ns, "job", "list"]).expect_code(0).stdout;
    assert!(table.contains(&format!("by {me}")), "{table}");

    // Someone else's suspension is left alone without --force.
    h.kubectl(&[
        "-n",
        &ns,
        "annotate",
        "--overwrite",
        "cronjob/builder",
        "oncall.dev/suspended-by=alice",
    ])
    .expect_code(0);
    let refused = h
        .oncall(&["-n", &ns, "job", "resume", "cronjob/builder", "--yes"])
        .expect_code(1);
    assert!(
        refused.stderr.contains("alice")
            && refused.stderr.contains("incident 42")
            && refused.stderr.contains("--force"),
        "{}",
        refused.stderr
    );
    assert!(suspended(&h), "still suspended");
    let resumed = force_resume(&h, &ns, &["-o", "json"]);
    let report: serde_json::Value = serde_json::from_str(&resumed.stdout).unwrap();
    assert_eq!(report, serde_json::json!({ "resumed": ["builder"] }));
    assert!(!suspended(&h));
    let cj = h.get("cronjobs", Some(&ns), "builder").unwrap();
    assert!(
        cj["metadata"]["annotations"]["oncall.dev/suspended-by"].is_null(),
        "{cj}"
    );

    // A suspension made with kubectl carries no note: also refused.
    h.kubectl(&[
        "-n",
        &ns,
        "patch",
        "cronjob/builder",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ])
    .expect_code(0);
    let refused = h
        .oncall(&["-n", &ns, "job", "resume", "cronjob/builder", "--yes"])
        .expect_code(1);
    assert!(
        refused.stderr.contains("no oncall note"),
        "{}",
        refused.stderr
    );
    // Our own suspension we may undo.
    force_resume(&h, &ns, &[]);
    h.oncall(&["-n", &ns, "job", "suspend", "cronjob/builder", "--yes"])
        .expect_code(0);
    h.oncall(&["-n", &ns, "job", "resume", "cronjob/builder", "--yes"])
        .expect_code(0);
    assert!(!suspended(&h));
}

/// `oncall job resume cronjob/builder --force --yes ARGS` in `ns`, which
/// succeeds whoever suspended it.
fn force_resume(h: &Harness, ns: &str, args: &[&str]) -> Run {
    let resume = [
        "-n",
        ns,
        "job",
        "resume",
        "cronjob/builder",
        "--force",
        "--yes",
    ];
    h.oncall(&[&resume[..], args].concat()).expect_code(0)
}

fn the_rebuild_now_runbook_runs_the_builder_then_checks_dns(backend: Backend) {
    let s = Scope::new("rebuild");
    let h = Harness::on(backend, &s, &cluster(&s, &[("builder", "Forbid", "")]));
    let ns = s.ns("batch");
    // The name still points at an address no release of this cluster serves.
    let dns = DnsServer::start("example.com");
    dns.set_a("www.example.com", 60, &["203.0.113.99"]);
    let run = h
        .oncall(&[
            "runbook",
            "run",
            "rebuild-now",
            "--set",
            &format!("namespace={ns}"),
            "--set",
            "name=www.example.com",
            "--set",
            &format!("server={}", dns.addr()),
            "--set",
            "system_resolver=false",
            "--yes",
        ])
        .expect_code(0);
    let all = jobs(&h, &s);
    assert_eq!(all.len(), 1, "the builder ran once");
    let job = all[0]["metadata"]["name"].as_str().unwrap();
    assert_eq!(
        all[0]["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
    let out = &run.stdout;
    let ran = out
        .find(&format!("job/{job} succeeded"))
        .unwrap_or_else(|| panic!("the builder's job succeeded:\n{out}"));
    let checked = out
        .find("203.0.113.99")
        .unwrap_or_else(|| panic!("DNS was checked:\n{out}"));
    assert!(ran < checked, "the build first, then DNS:\n{out}");
    assert!(
        out.contains("does not") && out.contains(&format!("job/{job}`")),
        "says the swap is not visible yet and where the build's log is:\n{out}"
    );
    let rows = job_list(&h, &s);
    assert_eq!(rows[0]["last_run"]["state"], "succeeded");
}

/// The runbook's `job_run` step and `oncall job run` are one procedure: on
/// two like CronJobs they make the same Job, reach the same end, and leave
/// audit entries that differ only in the names.
fn a_runbook_job_run_step_and_the_command_end_and_record_alike(backend: Backend) {
    let s = Scope::new("jobboth");
    let h = Harness::on(
        backend,
        &s,
        &cluster(&s, &[("build-x", "Forbid", ""), ("build-y", "Forbid", "")]),
    );
    let ns = s.ns("batch");
    h.oncall(&["-n", &ns, "job", "run", "build-x", "--yes"])
        .expect_code(0);
    let file = h.home.path().join("run.yaml");
    std::fs::write(
        &file,
        format!(
            "name: run\nsummary: run one CronJob now\nsteps:\n  - id: run\n    title: Run it\n    job_run: {{cronjob: build-y, namespace: {ns}}}\n"
        ),
    )
    .unwrap();
    h.oncall(&["runbook", "run", file.to_str().unwrap(), "--yes"])
        .expect_code(0);
    // The same Job, but for the names.
    let made: Vec<Value> = jobs(&h, &s);
    assert_eq!(made.len(), 2, "{made:#?}");
    let job_name = regex::Regex::new(r"build-[xy]-manual-[0-9a-z]+").unwrap();
    let normal = |text: String, side: &str| {
        job_name
            .replace_all(&text, "JOB")
            .replace(&format!("build-{side}"), "CRONJOB")
    };
    let shape = |job: &Value, side: &str| {
        normal(
            json!({
                "annotations": job["metadata"]["annotations"],
                "owner": job["metadata"]["ownerReferences"][0]["kind"],
                "template": job["spec"]["template"]["spec"]["containers"],
                "succeeded": job["status"]["succeeded"],
            })
            .to_string(),
            side,
        )
    };
    assert_eq!(shape(&made[0], "x"), shape(&made[1], "y"));
    assert_eq!(made[1]["status"]["succeeded"], 1, "{:#}", made[1]);
    assert_recorded_alike(&h, |driver, text| {
        Some(normal(
            text.to_string(),
            if driver == Driver::Command { "x" } else { "y" },
        ))
    });
}

/// The cronjob controller (the simulator's, and kube-controller-manager's
/// on the real control plane) starts a Job when the schedule says, named
/// after the scheduled minute, and `job list` shows it as the last run, not
/// as a manual one. Every minute: the test waits for the next one.
fn a_schedule_runs_on_time_as_the_cronjob_controller_runs_it(backend: Backend) {
    let s = Scope::new("jobsched");
    let mut y = s.namespace("batch");
    y += &s.node_yaml("a", "8", &[]);
    y += &Workload::cron_job(&s.ns("batch"), "ticker", "* * * * *")
        .set("/spec/jobTemplate/metadata/labels/app", json!("ticker"))
        .toleration(s.toleration())
        .grace_period(1)
        .yaml();
    let h = Harness::on(backend, &s, &y);
    let mut made = Vec::new();
    assert!(
        eventually(Duration::from_secs(90), || {
            made = jobs(&h, &s);
            made.iter().any(|j| {
                j["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Complete" && c["status"] == "True")
            })
        }),
        "no scheduled job completed within 90 s: {made:?}"
    );
    let job = &made[0];
    let name = job["metadata"]["name"].as_str().unwrap();
    let scheduled =
        job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
            .as_str()
            .unwrap_or_else(|| panic!("no scheduled timestamp: {job}"));
    let minute = chrono::DateTime::parse_from_rfc3339(scheduled)
        .unwrap()
        .timestamp()
        / 60;
    assert_eq!(name, format!("ticker-{minute}"));
    assert_eq!(job["metadata"]["labels"]["app"], "ticker");
    let owner = &job["metadata"]["ownerReferences"][0];
    assert_eq!(
        (&owner["kind"], &owner["controller"]),
        (&json!("CronJob"), &json!(true))
    );
    let cj = h.get("cronjobs", Some(&s.ns("batch")), "ticker").unwrap();
    assert!(
        cj["status"]["lastScheduleTime"].is_string(),
        "lastScheduleTime is kept: {}",
        cj["status"]
    );
    let rows = job_list(&h, &s);
    let last = &rows[0]["last_run"];
    assert!(
        last["job"]
            .as_str()
            .is_some_and(|j| j.starts_with("ticker-")),
        "{}",
        rows[0]
    );
    assert!(
        last["instantiated"].is_null(),
        "not a manual run: {}",
        rows[0]
    );
}

/// A kubelet whose API the API server cannot reach (a firewalled port
/// 10250, as on private clusters) serves no log: `--follow` says so in one
/// sentence and the job is still followed to its end. The simulator has no
/// kubelet API to cut off, so this runs on the real control plane only.
#[test]
fn real_a_kubelet_out_of_reach_is_said_once_and_the_job_still_followed() {
    let s = Scope::new("jobnolog");
    let node = s.node("a");
    let pinned = cronjob(&s, "builder", "Forbid", "")
        .set("/spec/jobTemplate/spec/template/spec/nodeName", json!(node));
    let y = s.namespace("batch") + &s.node_yaml("a", "8", &[]) + &pinned.yaml();
    let h = Harness::on(Backend::Real, &s, &y);
    let ns = s.ns("batch");
    // Nothing listens on port 1: the API server's log request to the
    // node's kubelet fails to connect.
    h.kubectl(&[
        "patch",
        "node",
        &node,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"daemonEndpoints":{"kubeletEndpoint":{"Port":1}}}}"#,
    ])
    .expect_code(0);
    let run = run_builder_followed(&h, &ns).expect_code(0);
    let said: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("cannot be streamed"))
        .collect();
    assert_eq!(said.len(), 1, "{}", run.stderr);
    assert!(
        said[0].contains("so the job is followed without it"),
        "{}",
        said[0]
    );
    assert!(run.stdout.contains("succeeded"), "{}", run.stdout);
}
