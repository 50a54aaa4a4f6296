//! Runbooks: validation errors with their place, runs, dry runs, refusal
//! without a TTY, kill-and-resume, injection attempts, the incident log, and
//! cluster steps on the simulator.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use oncall_testkit::dns::DnsServer;

// ---- validation -------------------------------------------------------------

fn invalid(text: &str) -> String {
    let l = Local::new();
    l.write("rb.yaml", text);
    let r = l.oncall(&["runbook", "validate", "rb.yaml"]).expect_code(2);
    r.stderr
}

const HEAD: &str = "name: t\nsummary: test\nparams:\n  node: {type: node}\nsteps:\n";

#[test]
fn unknown_action_is_reported_at_its_key() {
    let err = invalid(&format!(
        "{HEAD}  - id: a\n    title: A\n    node_drian: {{nodes: [x]}}\n"
    ));
    assert!(err.contains("rb.yaml:8:5: unknown action or field `node_drian` in step `a`; did you mean `node_drain`?"), "{err}");
}

#[test]
fn unknown_parameter_in_a_template_is_reported_at_its_string() {
    let err = invalid(&format!(
        "{HEAD}  - id: a\n    title: A\n    shell: [echo, '{{{{ nod }}}}']\n"
    ));
    assert!(
        err.contains(
            "rb.yaml:8:19: unknown parameter `nod` in `shell.argv`; declare it under `params`"
        ),
        "{err}"
    );
}

#[test]
fn bad_template_is_reported_at_its_string() {
    let err = invalid(&format!(
        "{HEAD}  - id: a\n    title: A\n    when: 'node =='\n    manual: hi\n"
    ));
    assert!(
        err.contains("rb.yaml:8:11: bad template in `when`: unexpected end of input"),
        "{err}"
    );
}

#[test]
fn duplicate_step_id_names_the_first_one() {
    let err = invalid(&format!(
        "{HEAD}  - id: a\n    title: A\n    manual: hi\n  - id: a\n    title: B\n    manual: ho\n"
    ));
    assert!(
        err.contains("rb.yaml:9:9: duplicate step id `a` (first used at line 6)"),
        "{err}"
    );
}

#[test]
fn missing_required_field_is_reported() {
    let err = invalid(&format!("{HEAD}  - id: a\n    manual: hi\n"));
    assert!(
        err.contains("rb.yaml:6:5: missing required field `title` in step `a`"),
        "{err}"
    );
    let err = invalid(&format!(
        "{HEAD}  - id: a\n    title: A\n    scale: {{target: web}}\n"
    ));
    assert!(
        err.contains("rb.yaml:8:12: missing required field `replicas` for action `scale`"),
        "{err}"
    );
}

#[test]
fn an_unknown_field_in_a_step_is_refused_with_the_fields_its_action_takes() {
    let err = invalid(&format!(
        "{HEAD}  - id: a\n    title: A\n    node_drain:\n      nodes: [x]\n      forse: true\n  - id: b\n    title: B\n    restart: {{targets: [web], wait: 5m}}\n"
    ));
    assert!(
        err.contains(
            "rb.yaml:10:7: unknown field `forse` for action `node_drain`; did you mean `force`? `node_drain` takes `nodes`, `selector`, `concurrency`, `ignore_daemonsets`, "
        ),
        "{err}"
    );
    assert!(err.contains("`force`, `grace_period`, `timeout`"), "{err}");
    assert!(
        err.contains(
            "rb.yaml:13:31: unknown field `wait` for action `restart`; expected one of `targets`, `namespace`, `selector`, `bad_pods`, `timeout`"
        ),
        "{err}"
    );
    assert!(err.contains("has 2 problem(s)"), "{err}");
}

#[test]
fn a_value_written_out_is_read_at_validation_as_the_run_would_read_it() {
    let err = invalid(&format!(
        "{HEAD}  - id: a\n    title: A\n    node_drain:\n      nodes: ['{{{{ node }}}}']\n      force: maybe\n      grace_period: '{{{{ node }}}}'\n  - id: b\n    title: B\n    restart: {{targets: [web], bad_pods: 'yes', timeout: soon}}\n"
    ));
    assert!(
        err.contains("rb.yaml:10:14: `force` of `node_drain` must be true or false, not `maybe`"),
        "{err}"
    );
    assert!(
        err.contains("rb.yaml:14:57: `timeout` of `restart` is not a duration like 30s or 5m"),
        "{err}"
    );
    // A templated value is known only when the run renders it.
    assert!(err.contains("has 2 problem(s)"), "{err}");
}

#[test]
fn two_actions_and_a_later_output_are_errors() {
    let err = invalid(&format!(
        "{HEAD}  - id: a\n    title: A\n    manual: hi\n    shell: [echo]\n  - id: b\n    title: B\n    shell: [echo, '{{{{ steps.c.output }}}}']\n  - id: c\n    title: C\n    manual: x\n"
    ));
    assert!(
        err.contains("rb.yaml:9:5: step `a` has two actions, `manual` and `shell`"),
        "{err}"
    );
    assert!(
        err.contains("rb.yaml:12:19: `shell.argv` uses the output of step `c`, which runs later"),
        "{err}"
    );
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let err = invalid(
        "name: t\nsummary: s\nbogus: 1\nsteps:\n  - id: a\n    title: A\n    shel: [x]\n  - id: a\n    title: B\n    shell: ['{{ x }}']\n  - id: c\n    title: C\n    manual: '{{ '\n",
    );
    for expected in [
        "rb.yaml:3:1: unknown field `bogus`",
        "rb.yaml:5:5: step `a` has no action",
        "rb.yaml:7:5: unknown action or field `shel`",
        "rb.yaml:8:9: duplicate step id `a`",
        "rb.yaml:10:13: unknown parameter `x`",
        "rb.yaml:13:13: bad template in `manual.instructions`",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(err.contains("has 6 problem(s)"), "{err}");
}

/// `oncall runbook actions -o json`, which needs no cluster.
fn listed_actions() -> Vec<serde_json::Value> {
    let l = Local::new();
    let r = l
        .oncall(&["runbook", "actions", "-o", "json"])
        .expect_code(0);
    r.json().as_array().expect("a list of actions").clone()
}

#[test]
fn runbook_actions_lists_every_action_the_validator_accepts() {
    let listed = listed_actions();
    let names: Vec<&str> = listed.iter().map(|a| a["name"].as_str().unwrap()).collect();
    // The validator names every action it accepts when a step has none.
    let err = invalid(&format!("{HEAD}  - id: a\n    title: A\n"));
    let accepted = err
        .split("give it one of ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("{err}"));
    let accepted: Vec<&str> = accepted.split(", ").map(|n| n.trim_matches('`')).collect();
    assert_eq!(names, accepted);
    for action in &listed {
        let name = action["name"].as_str().unwrap();
        assert!(!action["about"].as_str().unwrap().is_empty(), "{name}");
        assert!(action["changes"].is_boolean() && action["idempotent"].is_boolean());
        // Every listed argument, in its listed shape, is one the step may give.
        let mut fields = String::new();
        for arg in action["args"].as_array().unwrap() {
            let field = arg["name"].as_str().unwrap();
            assert!(!arg["help"].as_str().unwrap().is_empty(), "{name}.{field}");
            assert!(arg["required"].is_boolean(), "{name}.{field}");
            let value = match arg["kind"].as_str().unwrap() {
                "list" => "[x]",
                "scalar" => "x",
                other => panic!("{name}.{field} is a {other}"),
            };
            fields.push_str(&format!("      {field}: {value}\n"));
        }
        let l = Local::new();
        l.write(
            "rb.yaml",
            &format!("{HEAD}  - id: a\n    title: A\n    {name}:\n{fields}"),
        );
        let r = l.oncall(&["runbook", "validate", "rb.yaml"]);
        for refusal in [
            "unknown field",
            "must be a list",
            "must be a single value",
            "missing required field",
        ] {
            assert!(!r.stderr.contains(refusal), "{name}: {}", r.stderr);
        }
    }
}

#[test]
fn runbook_actions_shows_each_action_and_argument_with_its_help() {
    let l = Local::new();
    let r = l.oncall(&["runbook", "actions"]).expect_code(0);
    // Columns are padded: compare each line with its spaces squeezed.
    let line = |start: &str| {
        r.stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line for {start:?} in:\n{}", r.stdout))
    };
    assert!(
        line("node_drain ").starts_with(
            "node_drain yes yes cordon nodes and evict their pods, respecting PodDisruptionBudgets"
        ),
        "{}",
        r.stdout
    );
    assert!(line("pods_stuck ").starts_with("pods_stuck no yes find pods"));
    // The drain options come from the drain's own option list.
    assert_eq!(
        line("node_replace ignore_daemonsets "),
        "node_replace ignore_daemonsets no scalar Skip DaemonSet-managed pods (they would come straight back)"
    );
    assert_eq!(
        line("job_suspend cronjobs "),
        "job_suspend cronjobs yes list The CronJobs, as NAME or cronjob/NAME"
    );
    let yaml = l
        .oncall(&["runbook", "actions", "-o", "yaml"])
        .expect_code(0);
    assert!(
        yaml.stdout.contains("- name: rotate_secret"),
        "{}",
        yaml.stdout
    );
}

#[test]
fn yaml_syntax_error_has_its_place() {
    let err = invalid("name: t\nsteps: [\n");
    assert!(err.contains("rb.yaml:"), "{err}");
    assert!(!err.contains("rb.yaml:0:0"), "{err}");
}

#[test]
fn every_shipped_runbook_validates_and_is_listed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks");
    let l = Local::new();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let r = l
                .oncall(&["runbook", "validate", path.to_str().unwrap()])
                .expect_code(0);
            assert!(r.stdout.contains(": ok: runbook"), "{}", r.stdout);
            names.push(path.file_stem().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(names.len() >= 7, "{names:?}");
    let list = l.oncall(&["runbook", "list"]).expect_code(0);
    for n in &names {
        assert!(
            list.stdout
                .lines()
                .any(|line| line.starts_with(n.as_str()) && line.contains("shipped")),
            "{n} in:\n{}",
            list.stdout
        );
    }
    let show = l
        .oncall(&["runbook", "show", "rabbitmq-stuck-node"])
        .expect_code(0);
    assert!(
        show.stdout.contains("rabbitmq-diagnostics"),
        "{}",
        show.stdout
    );
}

#[test]
fn local_runbooks_override_shipped_ones() {
    let l = Local::new();
    std::fs::create_dir_all(l.path("runbooks")).unwrap();
    l.write("runbooks/replace-node.yaml", "name: replace-node\nsummary: our own version\nsteps:\n  - id: a\n    title: A\n    manual: hi\n");
    let list = l.oncall(&["runbook", "list"]).expect_code(0);
    let line = list
        .stdout
        .lines()
        .find(|l| l.starts_with("replace-node"))
        .unwrap();
    assert!(
        line.contains("our own version") && line.contains("runbooks/replace-node.yaml"),
        "{line}"
    );
}

// ---- running ----------------------------------------------------------------

const THREE_STEPS: &str = r#"
name: three
summary: read, change, change
steps:
  - id: look
    title: Read something
    shell: {sh: "echo look >> log"}
    read_only: true
  - id: change
    title: Change something
    shell: {sh: "echo change >> log; touch changed"}
  - id: again
    title: Change more
    shell: {sh: "echo again >> log"}
"#;

#[test]
fn without_tty_and_yes_it_refuses_at_the_first_mutating_step_and_can_resume() {
    let l = Local::new();
    l.write("rb.yaml", THREE_STEPS);
    let r = l.oncall(&["runbook", "run", "rb.yaml"]).expect_code(3);
    assert!(
        r.stderr.contains("stopped before step `change`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("pass --yes"), "{}", r.stderr);
    assert!(
        r.stdout.contains("Plan: step `change`"),
        "the step shows its plan: {}",
        r.stdout
    );
    assert_eq!(l.read("log"), "look\n", "only the read-only step ran");
    assert!(!l.path("changed").exists());
    let (id, j) = l.journal();
    assert_eq!(j["status"], "refused");
    assert_eq!(state_of(&j, "look"), "done");
    assert_eq!(state_of(&j, "change"), "pending");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&l.runs()[0])
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    l.oncall(&["runbook", "resume", &id, "--yes"])
        .expect_code(0);
    assert_eq!(
        l.read("log"),
        "look\nchange\nagain\n",
        "finished steps were not repeated"
    );
    let (_, j) = l.journal();
    assert_eq!(j["status"], "completed");
    // Each change went to the audit log.
    let audit = std::fs::read_to_string(l.path("state/oncall/audit.jsonl")).unwrap();
    assert_eq!(
        audit
            .lines()
            .filter(|e| e.contains("\"status\":\"ok\""))
            .count(),
        2,
        "{audit}"
    );
    assert!(
        audit.contains("refused"),
        "the refusal is recorded too: {audit}"
    );
}

#[test]
fn dry_run_runs_only_read_only_steps_and_changes_nothing() {
    let l = Local::new();
    l.write("rb.yaml", THREE_STEPS);
    let r = l
        .oncall(&["runbook", "run", "rb.yaml", "--dry-run"])
        .expect_code(0);
    assert_eq!(l.read("log"), "look\n");
    assert!(!l.path("changed").exists());
    assert!(
        r.stdout.contains("Plan: step `change`") && r.stdout.contains("Plan: step `again`"),
        "{}",
        r.stdout
    );
    let (_, j) = l.journal();
    assert_eq!(j["status"], "dry_run");
    assert_eq!(state_of(&j, "change"), "planned");
    assert!(
        !l.path("state/oncall/audit.jsonl").exists(),
        "a dry run records no change"
    );
    let (id, _) = l.journal();
    let r = l
        .oncall(&["runbook", "resume", &id, "--yes"])
        .expect_code(2);
    assert!(r.stderr.contains("was a dry run"), "{}", r.stderr);
    assert!(!l.path("changed").exists());
}

#[test]
fn a_failed_step_stops_the_run_and_resume_finishes_it_without_repeating() {
    let l = Local::new();
    l.write(
        "rb.yaml",
        r#"
name: fails
summary: the second step fails until it is fixed
steps:
  - id: one
    title: One
    shell: {sh: "echo one >> log"}
  - id: two
    title: Two
    shell: [test, -f, fixed]
  - id: three
    title: Three
    shell: {sh: "echo three >> log"}
"#,
    );
    let r = l
        .oncall(&["runbook", "run", "rb.yaml", "--yes"])
        .expect_code(1);
    assert!(
        r.stderr
            .contains("step `two` failed: `test` exited with code 1"),
        "{}",
        r.stderr
    );
    let (id, j) = l.journal();
    assert_eq!(state_of(&j, "two"), "failed");
    l.write("fixed", "");
    l.oncall(&["runbook", "resume", &id, "--yes"])
        .expect_code(0);
    assert_eq!(l.read("log"), "one\nthree\n");
}

#[test]
fn a_run_killed_inside_a_step_resumes_without_repeating_finished_steps() {
    let l = Local::new();
    l.write(
        "rb.yaml",
        r#"
name: killed
summary: killed in the middle of a slow step
steps:
  - id: one
    title: One
    shell: {sh: "echo one >> log"}
  - id: slow
    title: Slow but safe to repeat
    shell: {sh: "echo slow >> log; touch started; sleep 2"}
    idempotent: true
  - id: three
    title: Three
    shell: {sh: "echo three >> log"}
"#,
    );
    let child = l.command(&["runbook", "run", "rb.yaml", "--yes"]).spawn();
    wait_for(&l.path("started"));
    child.kill(); // SIGKILL: no chance to clean up
    let (id, j) = l.journal();
    assert_eq!(
        j["status"], "running",
        "the killed run could not record its end"
    );
    assert_eq!(state_of(&j, "one"), "done");
    assert_eq!(state_of(&j, "slow"), "started");
    assert!(
        l.path(&format!("state/oncall/runs/{id}.lock")).exists(),
        "the killed run left its lock behind"
    );
    let r = l
        .oncall(&["runbook", "resume", &id, "--yes"])
        .expect_code(0);
    assert!(
        r.stderr.contains("was interrupted; it is safe to repeat"),
        "{}",
        r.stderr
    );
    let lock = l.path(&format!("state/oncall/runs/{id}.lock"));
    assert!(
        !lock.exists(),
        "the lock left by the killed run was taken over and released"
    );
    let log = l.read("log");
    assert_eq!(count(&log, "one"), 1, "{log}");
    assert_eq!(count(&log, "slow"), 2, "{log}");
    assert_eq!(count(&log, "three"), 1, "{log}");
}

#[test]
fn an_interrupted_unsafe_step_is_not_repeated_blindly() {
    let l = Local::new();
    l.write(
        "rb.yaml",
        r#"
name: unsafe
summary: killed inside a step that must not run twice
steps:
  - id: pay
    title: Not idempotent
    shell: {sh: "echo pay >> log; touch started; sleep 2"}
  - id: after
    title: After
    shell: {sh: "echo after >> log"}
"#,
    );
    let child = l.command(&["runbook", "run", "rb.yaml", "--yes"]).spawn();
    wait_for(&l.path("started"));
    child.kill();
    let (id, _) = l.journal();
    let r = l
        .oncall(&["runbook", "resume", &id, "--yes"])
        .expect_code(3);
    assert!(
        r.stderr
            .contains("step `pay` was interrupted while it ran and is not safe to repeat"),
        "{}",
        r.stderr
    );
    std::thread::sleep(Duration::from_millis(2500)); // let the orphaned script finish its sleep
    assert_eq!(count(&l.read("log"), "pay"), 1);
    assert_eq!(count(&l.read("log"), "after"), 0);
}

#[test]
fn a_manual_step_waits_and_without_a_tty_stops_resumably() {
    let l = Local::new();
    l.write(
        "rb.yaml",
        r#"
name: manual
summary: a manual step in the middle
steps:
  - id: before
    title: Before
    shell: [true]
    read_only: true
  - id: hands
    title: Do it by hand
    manual: "Delete the old pool in the console."
  - id: after
    title: After
    shell: {sh: "echo after >> log"}
"#,
    );
    let r = l.oncall(&["runbook", "run", "rb.yaml"]).expect_code(3);
    assert!(
        r.stdout.contains("Delete the old pool in the console."),
        "{}",
        r.stdout
    );
    let (id, j) = l.journal();
    assert_eq!(state_of(&j, "hands"), "pending");
    let r = l
        .oncall(&["runbook", "resume", &id, "--yes"])
        .expect_code(0);
    assert!(r.stderr.contains("confirmed by --yes"), "{}", r.stderr);
    assert_eq!(l.read("log"), "after\n");
    let (_, j) = l.journal();
    assert_eq!(j["steps"][1]["answer"], "yes_flag");
}

#[test]
fn resume_refuses_a_changed_runbook_unless_forced() {
    let l = Local::new();
    l.write("rb.yaml", THREE_STEPS);
    l.oncall(&["runbook", "run", "rb.yaml"]).expect_code(3);
    let (id, _) = l.journal();
    l.write(
        "rb.yaml",
        &THREE_STEPS.replace("Change more", "Changed title"),
    );
    let r = l
        .oncall(&["runbook", "resume", &id, "--yes"])
        .expect_code(3);
    assert!(r.stderr.contains("has changed since run"), "{}", r.stderr);
    assert_eq!(l.read("log"), "look\n");
    l.oncall(&["runbook", "resume", &id, "--yes", "--force"])
        .expect_code(0);
    assert_eq!(l.read("log"), "look\nchange\nagain\n");
}

#[test]
fn outputs_when_and_from_step() {
    let l = Local::new();
    l.write(
        "rb.yaml",
        r#"
name: outputs
summary: later steps use earlier outputs
params:
  count: {type: int, default: "2"}
steps:
  - id: first
    title: First
    shell: [echo, '{"pods": {{ count }}}']
    read_only: true
  - id: skipped
    title: Only with many pods
    when: steps.first.json.pods > 5
    shell: {sh: "echo skipped >> log"}
  - id: uses
    title: Uses the output
    shell: {env: ["PODS={{ steps.first.json.pods }}"], sh: 'echo got "$PODS" >> log'}
  - id: check
    title: Check
    assert: {that: "steps.first.json.pods == count", message: "pods changed"}
"#,
    );
    l.oncall(&["runbook", "run", "rb.yaml", "--yes"])
        .expect_code(0);
    assert_eq!(l.read("log"), "got 2\n");
    let r = l
        .oncall(&["runbook", "run", "rb.yaml", "--yes", "--from-step", "uses"])
        .expect_code(1);
    assert!(
        r.stderr.contains("step `uses`"),
        "outputs of skipped steps are not there: {}",
        r.stderr
    );
    let r = l
        .oncall(&["runbook", "run", "rb.yaml", "--yes", "--set", "count=x"])
        .expect_code(2);
    assert!(
        r.stderr
            .contains("parameter `count`: `x` is not a whole number"),
        "{}",
        r.stderr
    );
    let r = l
        .oncall(&["runbook", "run", "rb.yaml", "--set", "nope=1"])
        .expect_code(2);
    assert!(r.stderr.contains("has no parameter `nope`"), "{}", r.stderr);
}

#[test]
fn missing_parameters_without_a_tty_are_an_error() {
    let l = Local::new();
    l.write("rb.yaml", "name: p\nsummary: s\nparams:\n  node: {type: node}\nsteps:\n  - id: a\n    title: A\n    shell: [echo, '{{ node }}']\n");
    let r = l.oncall(&["runbook", "run", "rb.yaml"]).expect_code(2);
    assert!(
        r.stderr
            .contains("missing parameter(s) `node`; pass --set node=VALUE"),
        "{}",
        r.stderr
    );
    assert!(
        l.runs().is_empty(),
        "no journal for a run that never started"
    );
}

// ---- security ---------------------------------------------------------------

#[test]
fn cluster_actions_connect_before_the_run_starts() {
    let l = Local::new();
    l.write("rb.yaml", "name: n\nsummary: s\nsteps:\n  - id: a\n    title: A\n    dns_check: {name: example.org}\n");
    l.oncall(&["runbook", "validate", "rb.yaml"]).expect_code(0);
    // dns_check talks to the cluster: without a kubeconfig the run stops before starting.
    let r = l.oncall(&["runbook", "run", "rb.yaml"]).expect_code(2);
    assert!(r.stderr.contains("no kubeconfig found"), "{}", r.stderr);
}

// ---- cluster steps on the simulator -------------------------------------------

#[test]
fn scale_and_delete_pod_run_on_the_cluster() {
    let h = Harness::demo();
    let pod = h
        .list("pods", Some("staging"))
        .into_iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
        .find(|n| n.starts_with("frontend"))
        .expect("a frontend pod in staging");
    let uid = h.get("pods", Some("staging"), &pod).unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let file = h.home.path().join("rb.yaml");
    std::fs::write(
        &file,
        r#"
name: cluster
summary: scale and delete a pod
params:
  pod: {type: string}
steps:
  - id: scale
    title: Scale the frontend
    scale: {target: deployment/frontend, replicas: 4, namespace: staging}
  - id: delete
    title: Delete one pod
    delete_pod: {pod: "{{ pod }}", namespace: staging}
"#,
    )
    .unwrap();
    let set = format!("pod={pod}");
    let f = file.to_str().unwrap();
    let dry = h
        .oncall(&["runbook", "run", f, "--set", &set, "--dry-run"])
        .expect_code(0);
    assert!(dry.stdout.contains("replicas"), "{}", dry.stdout);
    assert_ne!(
        h.get("deployments", Some("staging"), "frontend").unwrap()["spec"]["replicas"],
        4
    );
    h.oncall(&["runbook", "run", f, "--set", &set, "--yes"])
        .expect_code(0);
    assert_eq!(
        h.get("deployments", Some("staging"), "frontend").unwrap()["spec"]["replicas"],
        4
    );
    assert!(
        eventually(Duration::from_secs(10), || {
            h.get("pods", Some("staging"), &pod)
                .is_none_or(|p| p["metadata"]["uid"] != uid.as_str())
        }),
        "pod {pod} was deleted"
    );
    let audit = h.audit_entries();
    assert!(
        audit
            .iter()
            .any(|e| e["plan"]["changes"][0]["action"] == "scale" && e["context"] == "sandbox"),
        "{audit:?}"
    );
}

/// Every shipped runbook runs end to end on the demo cluster with --yes.
#[test]
fn shipped_runbooks_run_end_to_end_on_the_demo_cluster() {
    // The name the demo's production frontend publishes, at its address.
    let dns = DnsServer::start("example.com");
    dns.set_a("www.example.com", 60, &["203.0.113.20"]);
    let dns_server = format!("server={}", dns.addr());
    // (runbook, parameters, what the engineer must see)
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "replace-node",
            &[
                "node=gke-demo-pool-b-5b9e7c40-d3f6",
                "delete_node=true",
                "grace_period=30",
                "wait_replacement=1m",
            ],
            "node/gke-demo-pool-b-5b9e7c40-d3f6 replaced by node/gke-demo-pool-b-",
        ),
        // pool-a holds a pod stuck Terminating on a finalizer for days
        // (staging/legacy-importer): skip_wait_for_delete_timeout lets the
        // rotation pass it.
        (
            "rotate-node-pool",
            &["old_pool=pool-a", "new_pool=pool-b", "grace_period=30"],
            "node/gke-demo-pool-a-8f3c2a1d-x7k2 drained; left to the cloud's rebuild",
        ),
        (
            "restart-service",
            &["service=frontend", "namespace=staging"],
            "deployment \"frontend\" successfully rolled out",
        ),
        (
            "stuck-pods-triage",
            &["older_than=0s"],
            "ContainerCreating  on node gke-demo-pool-b-5b9e7c40-t5v7",
        ),
        (
            "dns-swap-check",
            &[
                "name=www.example.com",
                "expect_namespace=production",
                &dns_server,
                "system_resolver=false",
            ],
            "www.example.com points at production. Keep the old release",
        ),
        (
            "promote-staging-to-production",
            &[],
            "release 1 is live in production",
        ),
        (
            "rabbitmq-stuck-node",
            &[],
            "skipped: `steps.count.output | int > 0` is false",
        ),
        (
            "rotate-secret",
            &[
                "secret=webapp-secrets",
                "namespace=production",
                "key=DATABASE_URL",
                "value=postgres://rotated@db",
            ],
            "secret/webapp-secrets: 1 key(s) changed",
        ),
        (
            "rebuild-now",
            &[
                "builder=migrate",
                "namespace=production",
                "name=www.example.com",
                &dns_server,
                "system_resolver=false",
            ],
            "succeeded and www.example.com resolves",
        ),
    ];
    let runs: Vec<(&str, Run)> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(name, sets, expect)| {
                s.spawn(move || {
                    // One cluster each: they change it, and run side by side.
                    let h = Harness::demo();
                    if *name == "rotate-secret" {
                        // The runbook compares stuck pods before and after:
                        // start once the demo's crash loops have all become
                        // stuck, not while one is still crossing its
                        // threshold in the middle of the run.
                        let settled = eventually(Duration::from_secs(60), || {
                            let r = h.oncall(&["-n", "production", "pods", "stuck", "-o", "json"]);
                            serde_json::from_str::<serde_json::Value>(&r.stdout)
                                .is_ok_and(|v| v["stuck"] == 4)
                        });
                        assert!(
                            settled,
                            "the demo's production namespace settles at 4 stuck pods"
                        );
                    }
                    let mut args = vec!["runbook", "run", name, "--yes"];
                    for set in *sets {
                        args.extend(["--set", set]);
                    }
                    let r = h.oncall(&args);
                    if r.code == 0 {
                        assert!(r.stdout.contains(expect), "{name}: {expect}\n{}", r.stdout);
                        after(&h, name);
                    }
                    (*name, r)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let failed: Vec<String> = runs
        .iter()
        .filter(|(_, r)| r.code != 0)
        .map(|(name, r)| format!("{name}: exit {}\n{}\n{}", r.code, r.stdout, r.stderr))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// What each shipped runbook must have changed on the demo cluster.
fn after(h: &Harness, name: &str) {
    let image = |ns: &str, d: &str| {
        h.get("deployments", Some(ns), d).unwrap()["spec"]["template"]["spec"]["containers"][0]
            ["image"]
            .clone()
    };
    match name {
        "replace-node" => {
            assert!(
                h.get("nodes", None, "gke-demo-pool-b-5b9e7c40-d3f6")
                    .is_none()
            );
        }
        "rotate-node-pool" => {
            for n in h.list("nodes", None) {
                let pool = n["metadata"]["labels"]["cloud.google.com/gke-nodepool"].clone();
                if pool == "pool-a" {
                    assert_eq!(n["spec"]["unschedulable"], true, "{n}");
                }
            }
            for p in h.list("pods", None) {
                let on = p["spec"]["nodeName"].as_str().unwrap_or("");
                let owner = p["metadata"]["ownerReferences"][0]["kind"].clone();
                let deleting = !p["metadata"]["deletionTimestamp"].is_null();
                assert!(
                    !on.contains("pool-a") || owner == "DaemonSet" || deleting,
                    "left on pool-a: {}",
                    p["metadata"]["name"]
                );
            }
        }
        "promote-staging-to-production" => {
            for d in ["frontend", "fetcher", "renderer", "cron"] {
                assert_eq!(image("production", d), image("staging", d), "{d}");
            }
        }
        "rotate-secret" => {
            use base64::Engine as _;
            let secret = h
                .get("secrets", Some("production"), "webapp-secrets")
                .unwrap();
            assert_eq!(
                secret["data"]["DATABASE_URL"],
                base64::engine::general_purpose::STANDARD.encode("postgres://rotated@db"),
                "{secret}"
            );
        }
        "rebuild-now" => {
            // The demo's suspended `migrate` CronJob ran once, by hand.
            let runs: Vec<_> = h
                .list("jobs", Some("production"))
                .into_iter()
                .filter(|j| j["metadata"]["ownerReferences"][0]["name"] == "migrate")
                .collect();
            assert_eq!(runs.len(), 1, "{runs:?}");
            assert_eq!(runs[0]["status"]["succeeded"], 1, "{}", runs[0]);
        }
        "rabbitmq-stuck-node" => {
            // The demo's node reports no stuck process: its pod is left alone.
            let pod = h.get("pods", Some("rabbitmq"), "rabbitmq-0").unwrap();
            assert!(pod["metadata"]["deletionTimestamp"].is_null(), "{pod}");
        }
        _ => {}
    }
}

#[test]
fn timeouts_and_retries() {
    let l = Local::new();
    l.write(
        "rb.yaml",
        r#"
name: timing
summary: a flaky step and a slow one
steps:
  - id: flaky
    title: Fails once, then works
    shell: {sh: "echo try >> log; test -f flag || { touch flag; exit 1; }"}
    retries: 1
  - id: slow
    title: Too slow
    shell: [sleep, "10"]
    timeout: 1s
"#,
    );
    let r = l
        .oncall(&["runbook", "run", "rb.yaml", "--yes"])
        .expect_code(5);
    assert!(r.stderr.contains("attempt 1 failed"), "{}", r.stderr);
    assert!(
        r.stderr.contains("timed out after 1s: step `slow`"),
        "{}",
        r.stderr
    );
    assert_eq!(count(&l.read("log"), "try"), 2);
    let (_, j) = l.journal();
    assert_eq!(state_of(&j, "flaky"), "done");
    assert_eq!(j["steps"][0]["attempts"], 2);
    assert_eq!(state_of(&j, "slow"), "failed");
}

#[test]
fn show_renders_steps_and_log_prints_a_timeline() {
    let l = Local::new();
    l.write("rb.yaml", THREE_STEPS);
    let show = l.oncall(&["runbook", "show", "rb.yaml"]).expect_code(0);
    assert!(
        show.stdout
            .contains("2   change   shell    changes     Change something"),
        "{}",
        show.stdout
    );
    assert!(
        show.stdout
            .contains("sh: echo change >> log; touch changed"),
        "{}",
        show.stdout
    );
    l.oncall(&["runbook", "run", "rb.yaml", "--yes"])
        .expect_code(0);
    let (id, _) = l.journal();
    let text = l.oncall(&["runbook", "log", "last"]).expect_code(0);
    assert!(text.stdout.contains(&id), "{}", text.stdout);
    assert!(text.stdout.contains("completed"), "{}", text.stdout);
    assert_eq!(
        text.stdout
            .lines()
            .filter(|line| line.contains(" done "))
            .count(),
        3,
        "{}",
        text.stdout
    );
    let json = l
        .oncall(&["runbook", "log", &id, "-o", "json"])
        .expect_code(0);
    let j: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(j["run_id"], id.as_str());
    let missing = l.oncall(&["runbook", "log", "nope"]).expect_code(2);
    assert!(
        missing.stderr.contains("no run `nope`"),
        "{}",
        missing.stderr
    );
}

#[test]
fn ctrl_c_is_passed_on_to_the_step_which_may_finish_then_the_run_stops_resumably() {
    let l = Local::new();
    l.write(
        "rb.yaml",
        r#"
name: interrupted
summary: Ctrl-C during a step
steps:
  - id: slow
    title: Slow, and finishes cleanly when interrupted
    shell: {sh: "trap 'echo slow >> log; exit 0' INT; touch started; sleep 30; echo too-late >> log"}
  - id: after
    title: After
    shell: {sh: "echo after >> log"}
"#,
    );
    let child = l.command(&["runbook", "run", "rb.yaml", "--yes"]).spawn();
    wait_for(&l.path("started"));
    // Only oncall gets the signal (the step runs in its own process group,
    // out of the terminal's reach): oncall passes it on.
    child.signal(libc::SIGINT);
    let run = child.finish().expect_exit(130);
    let stderr = run.stderr;
    assert!(
        stderr.contains("interrupted: slow; not done: after"),
        "{stderr}"
    );
    assert_eq!(l.read("log"), "slow\n");
    let (id, j) = l.journal();
    assert_eq!(j["status"], "interrupted");
    l.oncall(&["runbook", "resume", &id, "--yes"])
        .expect_code(0);
    assert_eq!(l.read("log"), "slow\nafter\n");
}

// ---- the domain actions, one runbook per kind -----------------------------------

/// Whether some line of a table holds every one of `cells`.
fn row(text: &str, cells: &[&str]) -> bool {
    text.lines().any(|l| cells.iter().all(|c| l.contains(c)))
}

fn node(h: &Harness, name: &str) -> serde_json::Value {
    h.get("nodes", None, name).expect("node exists")
}

const NODES: &str = r#"
name: nodes
summary: check, cordon and drain one node; the check's verdict is data
params:
  node: {type: node}
steps:
  - id: check
    title: Pre-flight with kubectl's defaults (DaemonSets block)
    node_check: {nodes: ["{{ node }}"]}
  - id: seen
    title: The verdict is an output
    assert:
      that: steps.check.output.verdict == "no-go" and node in steps.check.output.blocked
  - id: cordon
    title: Cordon
    node_cordon: {nodes: ["{{ node }}"], reason: "test {{ run_id }}"}
  - id: drain
    title: Drain
    node_drain: {nodes: ["{{ node }}"], ignore_daemonsets: true, grace_period: 1, timeout: 1m}
  - id: drained
    title: The drain's result is an output
    when: steps.drain.ok
    assert:
      that: steps.drain.output.nodes[0].status == "drained"
"#;

#[test]
fn node_actions_plan_and_run_through_the_node_domain() {
    let h = Harness::demo();
    let f = runbook_file(&h, "nodes.yaml", NODES);
    let target = "gke-demo-pool-b-5b9e7c40-h8j1";
    let set = format!("node={target}");
    let on_node = || {
        h.list("pods", None)
            .into_iter()
            .filter(|p| p["spec"]["nodeName"] == target)
            .filter(|p| p["metadata"]["ownerReferences"][0]["kind"] != "DaemonSet")
            .count()
    };
    let before = on_node();
    assert!(before > 0, "the demo has pods on {target}");

    // A dry run runs the check, shows the cordon's and the drain's real
    // plans (the pods it evicts and skips), and changes nothing.
    let dry = h
        .oncall(&["runbook", "run", &f, "--set", &set, "--dry-run"])
        .expect_code(0);
    assert!(
        dry.stdout.contains("NO-GO: 1 of 1 node(s) blocked"),
        "{}",
        dry.stdout
    );
    assert!(
        row(
            &dry.stdout,
            &[
                &format!("node/{target}"),
                "cordon",
                &format!("by {}: test ", os_user())
            ]
        ),
        "{}",
        dry.stdout
    );
    assert!(
        row(
            &dry.stdout,
            &["evict", "from gke-demo-pool-b-5b9e7c40-h8j1"]
        ),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("DaemonSet pod (it would come straight back)"),
        "{}",
        dry.stdout
    );
    assert!(node(&h, target)["spec"]["unschedulable"].is_null());
    assert_eq!(on_node(), before);
    assert!(h.audit_entries().is_empty(), "a dry run records no change");

    let run = h
        .oncall(&["runbook", "run", &f, "--set", &set, "--yes"])
        .expect_code(0);
    assert!(
        run.stdout.contains(&format!("node/{target} cordoned")),
        "{}",
        run.stdout
    );
    assert_eq!(node(&h, target)["spec"]["unschedulable"], true);
    assert_eq!(
        node(&h, target)["metadata"]["annotations"]["oncall.dev/cordoned-by"],
        os_user().as_str()
    );
    assert!(
        eventually(Duration::from_secs(10), || on_node() == 0),
        "drained"
    );
    let audit = h.audit_entries();
    let actions: Vec<&str> = audit
        .iter()
        .filter_map(|e| e["plan"]["changes"][0]["action"].as_str())
        .collect();
    assert_eq!(actions, ["cordon", "evict"], "{audit:?}");
}

#[test]
fn a_drain_that_cannot_start_fails_at_its_plan_and_changes_nothing() {
    let h = Harness::demo();
    let f = runbook_file(
        &h,
        "drain.yaml",
        "name: d\nsummary: s\nsteps:\n  - id: drain\n    title: Drain without --ignore-daemonsets\n    node_drain: {nodes: [gke-demo-pool-b-5b9e7c40-h8j1]}\n",
    );
    let r = h.oncall(&["runbook", "run", &f, "--yes"]).expect_code(1);
    assert!(
        r.stderr.contains("step `drain` cannot be planned: cannot drain; nothing was changed: `monitoring/node-exporter-")
            && r.stderr.contains("managed by a DaemonSet (pass --ignore-daemonsets)"),
        "{}",
        r.stderr
    );
    assert!(node(&h, "gke-demo-pool-b-5b9e7c40-h8j1")["spec"]["unschedulable"].is_null());
    let missing = runbook_file(
        &h,
        "missing.yaml",
        "name: m\nsummary: s\nsteps:\n  - id: check\n    title: Check a node that is not there\n    node_check: {nodes: [no-such-node]}\n",
    );
    let r = h.oncall(&["runbook", "run", &missing, "--yes"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("node `no-such-node`"), "{}", r.stderr);
    assert!(r.stderr.contains("oncall node list"), "{}", r.stderr);
    // A missing workload points at the list of workloads, not of nodes.
    let missing = runbook_file(
        &h,
        "missing-workload.yaml",
        "name: w\nsummary: s\nsteps:\n  - id: scale\n    title: Scale what is not there\n    scale: {target: deployment/no-such-app, replicas: 2, namespace: staging}\n",
    );
    let r = h.oncall(&["runbook", "run", &missing, "--yes"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("no-such-app` was not found"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("kubectl -n staging get deployment"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("node list"), "{}", r.stderr);
    // Whatever stops a plan, the error says which step and how to go on.
    let gone = runbook_file(
        &h,
        "gone.yaml",
        "name: g\nsummary: s\nsteps:\n  - id: cordon\n    title: Cordon a node that is not there\n    node_cordon: {nodes: [no-such-node]}\n",
    );
    let r = h.oncall(&["runbook", "run", &gone, "--yes"]).expect_code(1);
    assert!(
        r.stderr
            .contains("step `cordon` cannot be planned: node `no-such-node`")
            && r.stderr.contains("; fix the cause, then `")
            && r.stderr.contains("runbook resume "),
        "{}",
        r.stderr
    );
    // A bad argument names its field.
    let bad = runbook_file(
        &h,
        "bad-target.yaml",
        "name: b\nsummary: s\nsteps:\n  - id: scale\n    title: Scale a pod\n    scale: {target: pod/web-1, replicas: 2}\n",
    );
    let r = h.oncall(&["runbook", "run", &bad, "--yes"]).expect_code(1);
    assert!(
        r.stderr
            .contains("`target` must be a deployment or statefulset, not a `pod`"),
        "{}",
        r.stderr
    );
}

const STUCK: &str = r#"
name: stuck
summary: stuck pods are data, or a failure when the step says so
params:
  strict: {type: bool, default: "false"}
steps:
  - id: find
    title: Find stuck pods
    pods_stuck: {namespace: production, older_than: 0s, fail_on_problems: "{{ strict }}"}
  - id: report
    title: Use the count and the groups
    shell: [echo, "stuck={{ steps.find.output.stuck }} first={{ steps.find.output.groups[0].category }}"]
    read_only: true
"#;

#[test]
fn pods_stuck_findings_are_outputs_unless_the_step_fails_on_them() {
    let h = Harness::demo();
    let f = runbook_file(&h, "stuck.yaml", STUCK);
    let found = |r: &Run| r.stdout.contains("[container-creating]");
    let r = eventually(Duration::from_secs(60), || {
        found(&h.oncall(&["runbook", "run", &f, "--yes"]))
    });
    assert!(r, "the demo's production namespace has stuck pods");
    let r = h.oncall(&["runbook", "run", &f, "--yes"]).expect_code(0);
    assert!(r.stdout.contains("stuck=4 first="), "{}", r.stdout);
    let strict = h
        .oncall(&["runbook", "run", &f, "--yes", "--set", "strict=true"])
        .expect_code(1);
    assert!(
        strict
            .stderr
            .contains("step `find`: `pods_stuck` found problems: 4 stuck pods in "),
        "{}",
        strict.stderr
    );
}

#[test]
fn dns_check_output_decides_the_next_step_and_can_fail_the_run() {
    let h = Harness::demo();
    let dns = DnsServer::start("example.com");
    // Still the staging address: the swap has not happened.
    dns.set_a("www.example.com", 60, &["203.0.113.10"]);
    let server = format!("server={}", dns.addr());
    let args = |extra: &'static [&'static str]| {
        let mut a = vec![
            "runbook",
            "run",
            "dns-swap-check",
            "--yes",
            "--set",
            "name=www.example.com",
            "--set",
            "expect_namespace=production",
            "--set",
            "system_resolver=false",
        ];
        a.extend(extra);
        a
    };
    let mut a = args(&[]);
    a.extend(["--set", &server]);
    let r = h.oncall(&a).expect_code(0);
    assert!(
        r.stdout
            .contains("does not point at production everywhere yet"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "VERDICT: www.example.com is served by Service frontend in namespace `staging`"
        ),
        "{}",
        r.stdout
    );
    let strict = runbook_file(
        &h,
        "dns.yaml",
        &format!(
            "name: d\nsummary: s\nsteps:\n  - id: check\n    title: Must point at production\n    dns_check: {{name: www.example.com, expect_namespace: production, servers: ['{}'], no_system_resolver: true, fail_on_problems: true}}\n",
            dns.addr()
        ),
    );
    let r = h
        .oncall(&["runbook", "run", &strict, "--yes"])
        .expect_code(1);
    assert!(
        r.stderr
            .contains("`dns_check` found problems: www.example.com does not match the expectation"),
        "{}",
        r.stderr
    );
}

#[test]
fn promote_shows_the_promotion_plan_in_a_dry_run_then_promotes() {
    let h = Harness::demo();
    let image = |ns: &str| {
        h.get("deployments", Some(ns), "frontend").unwrap()["spec"]["template"]["spec"]
            ["containers"][0]["image"]
            .clone()
    };
    let before = image("production");
    assert_ne!(before, image("staging"));
    let dry = h
        .oncall(&[
            "runbook",
            "run",
            "promote-staging-to-production",
            "--dry-run",
        ])
        .expect_code(0);
    for cells in [
        &["job from cronjob/migrate", "run migration"][..],
        &[
            "deployment/frontend",
            "rolling update",
            "frontend: sha-4213ab7db6b9… → sha-5f63e0a6c11d…",
        ],
        &["deployment/cron", "kill-deploy (singleton)"],
        &["deployment/report-worker", "only in production: left alone"],
    ] {
        assert!(row(&dry.stdout, cells), "{cells:?}\n{}", dry.stdout);
    }
    assert!(
        dry.stdout.contains("namespace: production"),
        "{}",
        dry.stdout
    );
    assert_eq!(image("production"), before, "a dry run changes nothing");
    assert!(h.audit_entries().is_empty());
    let bad = runbook_file(
        &h,
        "same.yaml",
        "name: p\nsummary: s\nsteps:\n  - id: p\n    title: P\n    promote: {from: staging, to: staging}\n",
    );
    let r = h.oncall(&["runbook", "run", &bad, "--yes"]).expect_code(2);
    assert!(
        r.stderr.contains("source and target are both `staging`"),
        "{}",
        r.stderr
    );
    let only = runbook_file(
        &h,
        "only.yaml",
        "name: p\nsummary: s\nsteps:\n  - id: p\n    title: P\n    promote: {from: staging, to: production, only: [frontend]}\n  - id: again\n    title: Nothing left\n    promote: {from: staging, to: production, only: [frontend]}\n  - id: seen\n    title: Outputs\n    assert: {that: 'steps.p.output.release == 1 and steps.again.output.result == \"nothing to do\"'}\n",
    );
    let ran = h.oncall(&["runbook", "run", &only, "--yes"]).expect_code(0);
    assert_eq!(image("production"), image("staging"));
    // The step says what the command says, in the command's words.
    let command = h
        .oncall(&[
            "promote",
            "--from-namespace",
            "staging",
            "--to-namespace",
            "production",
            "--only",
            "frontend",
        ])
        .expect_code(0);
    let said = command.stdout.lines().next().unwrap_or_default();
    assert!(said.starts_with("Nothing to do: "), "{}", command.stdout);
    assert!(ran.stdout.contains(said), "{said}\n{}", ran.stdout);
    assert_ne!(
        h.get("deployments", Some("production"), "fetcher").unwrap()["spec"]["template"]["spec"]["containers"]
            [0]["image"],
        h.get("deployments", Some("staging"), "fetcher").unwrap()["spec"]["template"]["spec"]["containers"]
            [0]["image"],
        "`only` limits the promotion"
    );
}

#[test]
fn replace_node_dry_run_shows_the_replace_plan_and_changes_nothing() {
    let h = Harness::demo();
    let target = "gke-demo-pool-b-5b9e7c40-h8j1";
    let set = format!("node={target}");
    let dry = h
        .oncall(&[
            "runbook",
            "run",
            "replace-node",
            "--set",
            &set,
            "--set",
            "delete_node=true",
            "--dry-run",
        ])
        .expect_code(0);
    assert!(
        row(
            &dry.stdout,
            &[
                &format!("node/{target}"),
                "terminate",
                "delete the Node object"
            ]
        ),
        "{}",
        dry.stdout
    );
    assert!(
        row(
            &dry.stdout,
            &[
                "pool/pool-b",
                "wait",
                &format!("for a new Ready node to replace {target} (up to 10m)")
            ]
        ),
        "{}",
        dry.stdout
    );
    let n = node(&h, target);
    assert!(n["spec"]["unschedulable"].is_null());
    assert_eq!(h.list("nodes", None).len(), 6);
    let no_way = h
        .oncall(&["runbook", "run", "replace-node", "--set", &set, "--dry-run"])
        .expect_code(2);
    assert!(
        no_way.stderr.contains("say how to terminate the nodes"),
        "{}",
        no_way.stderr
    );
}

/// Staging and production in two clusters: the `promote` step reads the
/// source through its own context and changes only the run's cluster.
#[test]
fn promote_reaches_an_environment_in_another_context() {
    let production = Harness::demo();
    let staging = Harness::demo();
    // Staging's cluster runs a build production's cluster has never seen.
    staging
        .kubectl(&[
            "-n",
            "staging",
            "set",
            "image",
            "deployment/frontend",
            "frontend=registry.example.com/app/frontend:sha-only-in-the-staging-cluster",
        ])
        .expect_code(0);
    let other = production.home.path().join("staging-kubeconfig");
    staging
        .sim()
        .write_kubeconfig(&other, "staging-cluster")
        .unwrap();
    production.write_config(
        "environments:\n  staging: {context: staging-cluster, namespace: staging}\n  production: {namespace: production}\n",
    );
    let f = runbook_file(
        &production,
        "cross.yaml",
        "name: cross\nsummary: s\nsteps:\n  - id: p\n    title: Promote across clusters\n    promote: {from: staging, to: production, only: [frontend]}\n",
    );
    let kubeconfigs = std::env::join_paths([&production.kubeconfig, &other]).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["runbook", "run", f.as_str()];
        args.extend(extra);
        production.cmd().args(args).kubeconfig(&kubeconfigs).run()
    };
    let dry = run(&["--dry-run"]).expect_code(0);
    assert!(
        dry.stdout.contains("sha-only-in-the-staging-cluster"),
        "the plan reads staging's cluster:\n{}",
        dry.stdout
    );
    run(&["--yes"]).expect_code(0);
    let image = |h: &Harness, ns: &str| {
        h.get("deployments", Some(ns), "frontend").unwrap()["spec"]["template"]["spec"]
            ["containers"][0]["image"]
            .clone()
    };
    assert_eq!(
        image(&production, "production"),
        "registry.example.com/app/frontend:sha-only-in-the-staging-cluster"
    );
    assert_ne!(
        image(&staging, "production"),
        image(&production, "production"),
        "the staging cluster's own production is left alone"
    );
}

/// `--set <TAB>` offers the runbook's parameters, and `--set node=<TAB>`
/// the cluster's nodes (the parameter's completion source).
#[test]
fn set_completes_parameters_and_their_values() {
    let h = Harness::demo();
    let complete = |words: &[&str]| -> Vec<String> {
        let mut args = vec!["--", "oncall"];
        args.extend(words);
        h.cmd()
            .args(args)
            .env("COMPLETE", "bash")
            .env("_CLAP_COMPLETE_INDEX", words.len().to_string())
            .env("_CLAP_COMPLETE_COMP_TYPE", "9")
            .env("_CLAP_COMPLETE_SPACE", "true")
            .env("_CLAP_IFS", "\n")
            .run()
            .stdout
            .lines()
            .map(str::to_string)
            .collect()
    };
    let keys = complete(&["runbook", "run", "replace-node", "--set", ""]);
    assert!(keys.contains(&"node=".to_string()), "{keys:?}");
    assert!(keys.contains(&"grace_period=".to_string()), "{keys:?}");
    let nodes = complete(&[
        "runbook",
        "run",
        "replace-node",
        "--set",
        "node=gke-demo-pool-b",
    ]);
    assert_eq!(
        nodes,
        [
            "node=gke-demo-pool-b-5b9e7c40-d3f6",
            "node=gke-demo-pool-b-5b9e7c40-h8j1",
            "node=gke-demo-pool-b-5b9e7c40-t5v7"
        ]
    );
}

/// The shipped promotion checks the target environment's namespace, not a
/// namespace that happens to share the environment's name.
#[test]
fn promote_runbook_checks_the_target_environments_namespace() {
    let h = Harness::demo();
    h.write_config(
        "environments:\n  stage: {namespace: staging}\n  live: {namespace: production}\n",
    );
    let r = h
        .oncall(&[
            "runbook",
            "run",
            "promote-staging-to-production",
            "--set",
            "from=stage",
            "--set",
            "to=live",
            "--dry-run",
        ])
        .expect_code(0);
    let verify = r.stdout.split("[3/4] verify").nth(1).unwrap_or_default();
    let verify = verify.split("[4/4]").next().unwrap_or_default();
    assert!(
        verify.contains("kubectl -n production")
            && verify.contains("stuck pods in")
            && verify.contains("out of")
            && verify.contains("in namespace `production`"),
        "the check looked in `production`:\n{}",
        r.stdout
    );
}

/// `-n NS` sets a runbook's `namespace` parameter over its default, as the
/// engineer means it; `--set namespace=…` still wins.
#[test]
fn the_namespace_flag_sets_the_namespace_parameter() {
    let l = Local::new();
    l.write(
        "rb.yaml",
        r#"
name: ns
summary: which namespace a step is given
params:
  namespace: {type: string, default: default}
steps:
  - id: show
    title: Show it
    shell: {sh: 'printf %s "$ONCALL_PARAM_namespace" > out'}
"#,
    );
    let namespace = |global: &[&str], sets: &[&str]| {
        let mut all = global.to_vec();
        all.extend(["runbook", "run", "rb.yaml", "--yes"]);
        all.extend(sets);
        l.oncall(&all).expect_code(0);
        l.read("out")
    };
    assert_eq!(namespace(&[], &[]), "default");
    assert_eq!(namespace(&["-n", "production"], &[]), "production");
    assert_eq!(
        namespace(&["-n", "production"], &["--set", "namespace=staging"]),
        "staging"
    );
}
