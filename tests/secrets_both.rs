//! `oncall secret consumers` and `oncall secret rotate` on both backends:
//! every way a pod template uses a Secret is found; a rotated value never
//! appears in any output or file (nor its base64); a value on the command
//! line is refused, and so is an empty stdin; a failed restart puts the previous values back; a
//! Secret another tool manages is refused without --force.

mod common;
use common::*;

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

on_both_backends!(
    every_way_of_using_a_secret_is_found,
    a_rotated_value_appears_in_no_output_and_no_file,
    a_value_on_the_command_line_is_refused,
    an_empty_stdin_is_refused,
    a_value_typed_at_the_hidden_prompt_is_never_shown,
    a_failed_restart_puts_the_previous_values_back,
    without_rollback_a_failed_restart_leaves_the_new_values,
    a_secret_another_tool_manages_is_refused_without_force,
    a_runbook_rotate_step_and_the_command_end_and_record_alike,
    a_workload_reading_only_keys_left_alone_is_not_restarted,
);

const OLD: &str = "old-Value-7731";

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The first 8 hex digits of the value's SHA-256, as the plan shows it.
fn fingerprint(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A Secret `name` of the scope's `app` namespace holding `API_KEY` and
/// `DB_PASS`, both [`OLD`].
fn secret(s: &Scope, name: &str) -> Secret {
    Secret::new(&s.ns("app"), name)
        .data("API_KEY", OLD)
        .data("DB_PASS", OLD)
}

/// A Deployment of 2 pods on node `node` whose container `main` uses a
/// secret as `.container_field()` / `.volume()` say.
fn deployment(s: &Scope, name: &str, node: &str) -> Workload {
    s.deployment(name)
        .replicas(2)
        .progress_deadline(6000)
        .on_node(&s.node(node))
        .grace_period(1)
        .container("main", &format!("shop/{name}:1.0"))
}

/// [`deployment`] whose container reads `API_KEY` of `app-creds` into `KEY`.
fn env_user(s: &Scope, name: &str, node: &str) -> Workload {
    deployment(s, name, node).container_field(
        "env",
        json!([{"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "app-creds", "key": "API_KEY"}}}]),
    )
}

/// [`deployment`] whose container mounts volume `volume` at `mount`
/// (`{mountPath, subPath}`).
fn mounting(s: &Scope, name: &str, mount: Value, volume: Value) -> Workload {
    let mut mount = mount;
    mount["name"] = volume["name"].clone();
    deployment(s, name, "a")
        .container_field("volumeMounts", json!([mount]))
        .volume(volume)
}

fn base(s: &Scope) -> String {
    s.namespace("app")
        + &s.node_yaml("a", "8", &[])
        + &s.node_yaml("b", "8", &[])
        + &secret(s, "app-creds").yaml()
}

/// `oncall ARGS` with `input` on stdin.
fn oncall_with_stdin(h: &Harness, args: &[&str], input: &str) -> Run {
    h.cmd().args(args).stdin(input).run()
}

fn ready(h: &Harness, s: &Scope, app: &str) -> usize {
    h.list("pods", Some(&s.ns("app")))
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["app"] == app)
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .count()
}

fn wait_ready(h: &Harness, s: &Scope, app: &str, n: usize) {
    assert!(
        eventually(Duration::from_secs(60), || ready(h, s, app) == n),
        "{app} did not reach {n} ready pods"
    );
}

fn data(h: &Harness, s: &Scope, name: &str, key: &str) -> Value {
    h.get("secrets", Some(&s.ns("app")), name).expect("secret")["data"][key].clone()
}

fn every_way_of_using_a_secret_is_found(backend: Backend) {
    let s = Scope::new("sec-use");
    let ns = s.ns("app");
    let creds_volume = json!({"name": "creds", "secret": {"secretName": "app-creds"}});
    let workloads = [
        env_user(&s, "env-user", "a"),
        deployment(&s, "envfrom-user", "a")
            .container_field("envFrom", json!([{"secretRef": {"name": "app-creds"}}])),
        mounting(&s, "volume-user", json!({"mountPath": "/etc/creds"}), creds_volume.clone()),
        mounting(
            &s,
            "subpath-user",
            json!({"mountPath": "/etc/key", "subPath": "API_KEY"}),
            creds_volume,
        ),
        mounting(
            &s,
            "projected-user",
            json!({"mountPath": "/etc/all"}),
            json!({"name": "all", "projected": {"sources": [{"secret": {"name": "app-creds"}}]}}),
        ),
        deployment(&s, "bystander", "a")
            .container_field("envFrom", json!([{"secretRef": {"name": "other"}}])),
        Workload::daemon_set(&ns, "pull-user")
            .toleration(s.toleration())
            .node_selector(SCOPE_KEY, &s.id)
            .pod_field("imagePullSecrets", json!([{"name": "app-creds"}]))
            .container("main", "shop/agent:1.0"),
        Workload::stateful_set(&ns, "db")
            .toleration(s.toleration())
            .container("db", "shop/db:1.0")
            .container_field(
                "env",
                json!([{"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "app-creds", "key": "DB_PASS"}}}]),
            ),
        Workload::cron_job(&ns, "nightly", "0 3 * * *")
            .set("/spec/suspend", json!(true))
            .toleration(s.toleration())
            .container("job", "shop/job:1.0")
            .container_field("envFrom", json!([{"secretRef": {"name": "app-creds"}}])),
    ];
    let seed = base(&s)
        + &secret(&s, "other").yaml()
        + &workloads.iter().map(Workload::yaml).collect::<String>();
    let h = Harness::on(backend, &s, &seed);
    let run = h
        .oncall(&["-n", &ns, "secret", "consumers", "app-creds", "-o", "json"])
        .expect_code(0);
    let found: Vec<Value> = serde_json::from_str(&run.stdout).expect("JSON list");
    let get = |kind: &str, name: &str| -> &Value {
        found
            .iter()
            .find(|c| c["kind"] == kind && c["name"] == name)
            .unwrap_or_else(|| panic!("{kind}/{name} in {found:#?}"))
    };
    let how = |c: &Value| c["uses"][0]["how"].as_str().unwrap().to_string();
    let env = get("deployment", "env-user");
    assert_eq!(how(env), "env");
    assert_eq!(env["uses"][0]["keys"], serde_json::json!(["API_KEY"]));
    assert_eq!(env["restart"], true);
    assert_eq!(how(get("deployment", "envfrom-user")), "env_from");
    assert_eq!(get("deployment", "envfrom-user")["restart"], true);
    let volume = get("deployment", "volume-user");
    assert_eq!(how(volume), "volume");
    assert_eq!(volume["restart"], false, "the kubelet refreshes it");
    let sub = get("deployment", "subpath-user");
    assert_eq!(sub["uses"][0]["sub_path"], true);
    assert_eq!(sub["restart"], true, "a subPath mount is never refreshed");
    assert_eq!(how(get("deployment", "projected-user")), "projected");
    assert_eq!(get("deployment", "projected-user")["restart"], false);
    let pull = get("daemonset", "pull-user");
    assert_eq!(how(pull), "image_pull_secret");
    assert_eq!(pull["restart"], false);
    assert_eq!(get("statefulset", "db")["uses"][0]["keys"][0], "DB_PASS");
    let cron = get("cronjob", "nightly");
    assert_eq!(how(cron), "env_from");
    assert_eq!(cron["restart"], false, "its next run reads the new values");
    assert!(
        !found.iter().any(|c| c["name"] == "bystander"),
        "a workload using another Secret is not a consumer: {found:#?}"
    );
    assert_eq!(found.len(), 8, "{found:#?}");
    let table = h
        .oncall(&["-n", &ns, "secret", "consumers", "app-creds"])
        .expect_code(0);
    for line in [
        "deployment/subpath-user",
        "mounted with subPath",
        "imagePullSecrets",
        "cronjob/nightly",
    ] {
        assert!(table.stdout.contains(line), "{line}:\n{}", table.stdout);
    }
    // A name nobody uses and that does not exist is a mistake, not "no consumers".
    let typo = h
        .oncall(&["-n", &ns, "secret", "consumers", "app-cred"])
        .expect_code(1);
    assert!(typo.stderr.contains("was not found"), "{}", typo.stderr);
}

/// Every file under `dir`, with its text.
fn files(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            let bytes = std::fs::read(&p).unwrap_or_default();
            out.push((
                p.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    out
}

fn a_rotated_value_appears_in_no_output_and_no_file(backend: Backend) {
    let s = Scope::new("sec-leak");
    let ns = s.ns("app");
    let seed = base(&s)
        + &env_user(&s, "web", "a").yaml()
        + &mounting(
            &s,
            "files",
            json!({"mountPath": "/etc/creds"}),
            json!({"name": "creds", "secret": {"secretName": "app-creds"}}),
        )
        .yaml();
    let h = Harness::on(backend, &s, &seed);
    wait_ready(&h, &s, "web", 2);
    wait_ready(&h, &s, "files", 2);
    let (from_stdin, from_file, from_env, from_runbook) = (
        "sk-Stdin-5f2a9c",
        "pw-File-77d1e0",
        "tok-Env-3b8e41",
        "sk-Runbook-0c6d",
    );
    let dir = h.home.path();
    std::fs::write(dir.join("db.pass"), from_file).unwrap();
    std::fs::write(
        dir.join("extra.env"),
        format!("# new\nNEW_TOKEN={from_env}\n"),
    )
    .unwrap();
    let db_pass = format!("DB_PASS={}", dir.join("db.pass").display());
    let env_file = dir.join("extra.env").display().to_string();
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "-n",
            &ns,
            "secret",
            "rotate",
            "app-creds",
            "--set",
            "API_KEY=-",
            "--from-file",
            &db_pass,
            "--from-env-file",
            &env_file,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let mut runs = Vec::new();
    // The dry run's JSON plan names each key with fingerprints.
    let dry = args(&["--dry-run", "-o", "json"]);
    let dry = oncall_with_stdin(
        &h,
        &dry.iter().map(String::as_str).collect::<Vec<_>>(),
        from_stdin,
    )
    .expect_code(0);
    let plan: Value = serde_json::from_str(&dry.stdout).expect("JSON plan");
    let details: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["detail"].as_str().unwrap())
        .collect();
    assert!(
        details.iter().any(|d| d.contains("`API_KEY` changed")
            && d.contains(&fingerprint(OLD))
            && d.contains(&fingerprint(from_stdin))),
        "{details:#?}"
    );
    assert!(
        details.iter().any(|d| d.contains("`NEW_TOKEN` added")),
        "{details:#?}"
    );
    // Each consumer: how it uses the Secret, and whether it is restarted.
    assert!(
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["target"] == "deployment/web"
                && c["action"] == "restart"
                && c["detail"]
                    .as_str()
                    .unwrap()
                    .contains("env of `main` (API_KEY)")),
        "{plan:#}"
    );
    assert!(
        plan["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["target"] == "deployment/files"
                && k["reason"]
                    .as_str()
                    .unwrap()
                    .contains("secret volume `creds`")),
        "{plan:#}"
    );
    assert_eq!(
        data(&h, &s, "app-creds", "API_KEY"),
        b64(OLD),
        "a dry run changes nothing"
    );
    runs.push(dry);
    // The rotation itself, in a table and then as JSON.
    let real = args(&["--yes"]);
    let run = oncall_with_stdin(
        &h,
        &real.iter().map(String::as_str).collect::<Vec<_>>(),
        from_stdin,
    )
    .expect_code(0);
    assert!(run.stdout.contains("deployment/web"), "{}", run.stdout);
    assert!(
        run.stdout.contains("restarted: runs the new values"),
        "{}",
        run.stdout
    );
    runs.push(run);
    assert_eq!(data(&h, &s, "app-creds", "API_KEY"), b64(from_stdin));
    assert_eq!(data(&h, &s, "app-creds", "DB_PASS"), b64(from_file));
    assert_eq!(data(&h, &s, "app-creds", "NEW_TOKEN"), b64(from_env));
    // The previous values are kept in a Secret of their own.
    let kept: Vec<Value> = h
        .list("secrets", Some(&ns))
        .into_iter()
        .filter(|x| x["metadata"]["labels"]["oncall.dev/previous-of"] == "app-creds")
        .collect();
    assert_eq!(kept.len(), 1, "{kept:#?}");
    assert_eq!(kept[0]["data"]["API_KEY"], b64(OLD));
    assert!(kept[0]["data"]["NEW_TOKEN"].is_null());
    // The shipped runbook, with its value as a secret parameter read from
    // stdin, as its README shows.
    let rb = h
        .cmd()
        .args([
            "runbook",
            "run",
            "rotate-secret",
            "--yes",
            "--set",
            "secret=app-creds",
            "--set",
            &format!("namespace={ns}"),
            "--set",
            "key=API_KEY",
            "--set",
            "value=-",
        ])
        .stdin(format!("{from_runbook}\n"))
        .run()
        .expect_code(0);
    // The step shows the command's table: the workload and its state.
    assert!(
        rb.stdout
            .lines()
            .any(|l| l.contains("deployment/web") && l.contains("restarted")),
        "{}",
        rb.stdout
    );
    assert_eq!(data(&h, &s, "app-creds", "API_KEY"), b64(from_runbook));
    let log = h
        .oncall(&["runbook", "log", "last", "--format", "markdown"])
        .expect_code(0);
    assert!(log.stdout.contains("rotate"), "{}", log.stdout);
    runs.push(rb);
    runs.push(log);
    let audit = h.oncall(&["audit", "-o", "json"]).expect_code(0);
    runs.push(audit);
    let mut places: Vec<(String, String)> = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        places.push((format!("run {i} stdout"), r.stdout.clone()));
        places.push((format!("run {i} stderr"), r.stderr.clone()));
    }
    let state = files(&dir.join("state"));
    assert!(
        state.iter().any(|(p, _)| p.ends_with("audit.jsonl")),
        "{state:?}"
    );
    assert!(state.iter().any(|(p, _)| p.contains("runs")), "{state:?}");
    places.extend(state);
    for value in [from_stdin, from_file, from_env, from_runbook, OLD] {
        for form in [value.to_string(), b64(value)] {
            for (place, text) in &places {
                assert!(
                    !text.contains(&form),
                    "`{form}` appears in {place}:\n{text}"
                );
            }
        }
    }
}

fn a_value_on_the_command_line_is_refused(backend: Backend) {
    let s = Scope::new("sec-cli");
    let ns = s.ns("app");
    let h = Harness::on(backend, &s, &base(&s));
    let run = h
        .oncall(&[
            "-n",
            &ns,
            "secret",
            "rotate",
            "app-creds",
            "--set",
            "API_KEY=hunter2-On-The-Line",
            "--yes",
        ])
        .expect_code(2);
    assert!(run.stderr.contains("shell history"), "{}", run.stderr);
    assert!(run.stderr.contains("--set API_KEY=-"), "{}", run.stderr);
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
    assert!(!run.stdout.contains("hunter2"), "{}", run.stdout);
    assert_eq!(data(&h, &s, "app-creds", "API_KEY"), b64(OLD));
    assert!(h.audit_entries().is_empty());
    // In a runbook, a value must come from a secret parameter.
    let file = h.home.path().join("rb.yaml");
    std::fs::write(
        &file,
        format!(
            "name: plain\nsummary: a value from a plain parameter\nparams:\n  v: {{type: string}}\nsteps:\n  - id: rotate\n    title: Rotate\n    rotate_secret: {{secret: app-creds, namespace: {ns}, values: [\"API_KEY={{{{ v }}}}\"]}}\n"
        ),
    )
    .unwrap();
    let rb = h.oncall(&[
        "runbook",
        "run",
        file.to_str().unwrap(),
        "--yes",
        "--set",
        "v=plain-Value-9",
    ]);
    assert_ne!(rb.code, 0, "{}\n{}", rb.stdout, rb.stderr);
    assert!(
        rb.stderr.contains("`secret: true` parameter"),
        "{}",
        rb.stderr
    );
    assert_eq!(data(&h, &s, "app-creds", "API_KEY"), b64(OLD));
}

/// `--set KEY=-` with nothing on stdin (`</dev/null`, or a command that
/// failed upstream in a pipe) must not blank the key.
fn an_empty_stdin_is_refused(backend: Backend) {
    let s = Scope::new("sec-empty");
    let ns = s.ns("app");
    let h = Harness::on(backend, &s, &base(&s));
    let args = [
        "-n",
        &ns,
        "secret",
        "rotate",
        "app-creds",
        "--set",
        "API_KEY=-",
        "--yes",
    ];
    for input in ["", "\n"] {
        let run = oncall_with_stdin(&h, &args, input).expect_code(2);
        assert!(run.stderr.contains("stdin was empty"), "{}", run.stderr);
        assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
        assert!(run.stderr.contains("pipe the value in"), "{}", run.stderr);
        assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
        assert_eq!(data(&h, &s, "app-creds", "API_KEY"), b64(OLD));
    }
    assert!(h.audit_entries().is_empty());
}

/// `--set KEY` on a terminal: the value is typed at a prompt that does
/// not echo it, a protected context wants its name typed, and Ctrl-C at
/// the prompt ends the command at once. Without a terminal the prompt is
/// refused in one sentence.
fn a_value_typed_at_the_hidden_prompt_is_never_shown(backend: Backend) {
    const TYPED: &str = "typed-Value-5309";
    let s = Scope::new("sec-prompt");
    let ns = s.ns("app");
    let h = Harness::on(backend, &s, &base(&s));
    let args = [
        "-n",
        &ns,
        "secret",
        "rotate",
        "app-creds",
        "--set",
        "API_KEY",
    ];
    let refused = h.oncall(&args).expect_code(2);
    assert!(
        refused.stderr.contains("stdin is not a terminal")
            && refused.stderr.contains("--set API_KEY=-"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        refused.stderr.trim().lines().count(),
        1,
        "{}",
        refused.stderr
    );

    let on_terminal_with = |args: &[&str], answers: &[(&str, &str)]| {
        let mut cmd = h.cmd().args(args).pty();
        for (prompt, text) in answers {
            cmd = cmd.answer(&[prompt], text);
        }
        cmd.run()
    };
    let on_terminal = |answers: &[(&str, &str)]| on_terminal_with(&args, answers);
    // Ctrl-C at the hidden prompt: nothing under way, nothing to finish.
    let stopped = on_terminal(&[("New value for `API_KEY`", "\x03")]);
    assert_eq!(stopped.code, 130, "{}", stopped.stdout);
    assert!(
        stopped
            .stdout
            .contains("interrupted at the prompt: nothing was changed")
            && !stopped.stdout.contains("finishing the current step"),
        "{}",
        stopped.stdout
    );
    assert_eq!(data(&h, &s, "app-creds", "API_KEY"), b64(OLD));

    let context = h
        .kubectl(&["config", "current-context"])
        .stdout
        .trim()
        .to_string();
    h.write_config(&format!("protected_contexts: [{context}]\n"));
    let rotated = on_terminal(&[
        ("New value for `API_KEY`", &format!("{TYPED}\r")),
        ("Type its name", &format!("{context}\r")),
    ]);
    assert_eq!(rotated.code, 0, "{}", rotated.stdout);
    assert!(
        !rotated.stdout.contains(TYPED),
        "echoed: {}",
        rotated.stdout
    );
    assert!(
        rotated.stdout.contains(&fingerprint(TYPED)),
        "the plan names the new value by its fingerprint: {}",
        rotated.stdout
    );
    assert_eq!(data(&h, &s, "app-creds", "API_KEY"), b64(TYPED));
    assert_eq!(data(&h, &s, "app-creds", "DB_PASS"), b64(OLD));
    let entries = h.audit_entries();
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0]["answer"], "typed_context");
    assert!(!serde_json::to_string(&entries).unwrap().contains(TYPED));

    // `--set KEY=-` on a terminal is asked for at the same hidden prompt:
    // reading the terminal as stdin would echo the value.
    const AGAIN: &str = "typed-Again-8675";
    let mut from_stdin = args;
    from_stdin[6] = "API_KEY=-";
    let from_terminal = on_terminal_with(
        &from_stdin,
        &[
            ("New value for `API_KEY`", &format!("{AGAIN}\r")),
            ("Type its name", &format!("{context}\r")),
        ],
    );
    assert_eq!(from_terminal.code, 0, "{}", from_terminal.stdout);
    assert!(
        !from_terminal.stdout.contains(AGAIN),
        "echoed: {}",
        from_terminal.stdout
    );
    assert_eq!(data(&h, &s, "app-creds", "API_KEY"), b64(AGAIN));
}

fn a_failed_restart_puts_the_previous_values_back(backend: Backend) {
    let s = Scope::new("sec-back");
    let ns = s.ns("app");
    let seed = base(&s) + &env_user(&s, "web", "a").yaml() + &env_user(&s, "worker", "b").yaml();
    let h = Harness::on(backend, &s, &seed);
    h.write_config("promote:\n  order: [web, worker]\n");
    wait_ready(&h, &s, "web", 2);
    wait_ready(&h, &s, "worker", 2);
    // The worker's node takes no new pods: its restart cannot finish.
    h.kubectl(&["cordon", &s.node("b")]).expect_code(0);
    let run = oncall_with_stdin(
        &h,
        &[
            "-n",
            &ns,
            "secret",
            "rotate",
            "app-creds",
            "--set",
            "API_KEY=-",
            "--yes",
            "--timeout",
            "90s",
            "-o",
            "json",
        ],
        "new-Value-Bad",
    )
    .expect_code(1);
    assert!(
        run.stderr.contains("`deployment/worker` failed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("rolled back"), "{}", run.stderr);
    assert_eq!(
        data(&h, &s, "app-creds", "API_KEY"),
        b64(OLD),
        "the previous values are back"
    );
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert_eq!(report["rolled_back"], true, "{report:#}");
    let state = |w: &str| -> String {
        report["consumers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["workload"] == w)
            .unwrap_or_else(|| panic!("{w} in {report:#}"))["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let web = state("deployment/web");
    assert!(
        web.contains("runs the new values")
            && web.contains("rolled back: restarted: runs the previous values"),
        "{web}"
    );
    let worker = state("deployment/worker");
    assert!(
        worker.contains("restart failed") && worker.contains("Unschedulable"),
        "{worker}"
    );
    assert!(!run.stdout.contains("new-Value-Bad") && !run.stderr.contains("new-Value-Bad"));
    let entries = h.audit_entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["outcome"]["status"], "failed");
    let done = entries[0]["outcome"]["done"].to_string();
    assert!(done.contains("put the previous values back"), "{done}");
    assert!(done.contains("restart deployment/web"), "{done}");
}

fn without_rollback_a_failed_restart_leaves_the_new_values(backend: Backend) {
    let s = Scope::new("sec-keep");
    let ns = s.ns("app");
    let seed = base(&s) + &env_user(&s, "worker", "b").yaml();
    let h = Harness::on(backend, &s, &seed);
    wait_ready(&h, &s, "worker", 2);
    h.kubectl(&["cordon", &s.node("b")]).expect_code(0);
    let run = oncall_with_stdin(
        &h,
        &[
            "-n",
            &ns,
            "secret",
            "rotate",
            "app-creds",
            "--set",
            "API_KEY=-",
            "--no-rollback-on-failure",
            "--yes",
        ],
        "kept-Value-2",
    )
    .expect_code(1);
    assert!(
        run.stderr.contains("--no-rollback-on-failure was given"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("restart failed"), "{}", run.stdout);
    assert_eq!(data(&h, &s, "app-creds", "API_KEY"), b64("kept-Value-2"));
    assert!(!run.stdout.contains("kept-Value-2") && !run.stderr.contains("kept-Value-2"));
}

fn a_secret_another_tool_manages_is_refused_without_force(backend: Backend) {
    let s = Scope::new("sec-own");
    let ns = s.ns("app");
    let seed = s.namespace("app")
        + &s.node_yaml("a", "8", &[])
        + &secret(&s, "sealed")
            .annotation("sealedsecrets.bitnami.com/managed", "true")
            .yaml()
        + &secret(&s, "charted")
            .label("app.kubernetes.io/managed-by", "Helm")
            .yaml();
    let h = Harness::on(backend, &s, &seed);
    let rotate = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "-n",
            &ns,
            "secret",
            "rotate",
            name,
            "--set",
            "API_KEY=-",
            "--yes",
        ];
        args.extend(extra);
        oncall_with_stdin(&h, &args, "forced-Value-1")
    };
    let run = rotate("sealed", &[]).expect_code(1);
    assert!(run.stderr.contains("Sealed Secrets"), "{}", run.stderr);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    let run = rotate("charted", &[]).expect_code(1);
    assert!(run.stderr.contains("Helm"), "{}", run.stderr);
    assert!(run.stderr.contains("overwrite"), "{}", run.stderr);
    assert_eq!(
        data(&h, &s, "charted", "API_KEY"),
        b64(OLD),
        "nothing changed"
    );
    assert!(h.audit_entries().is_empty());
    let forced = rotate("charted", &["--force"]).expect_code(0);
    assert!(
        forced.stdout.contains("Helm"),
        "the plan warns: {}",
        forced.stdout
    );
    assert_eq!(data(&h, &s, "charted", "API_KEY"), b64("forced-Value-1"));
}

/// The runbook's `rotate_secret` step and `oncall secret rotate` are one
/// procedure: on two like Secrets, each read by a like Deployment, they
/// change the same keys, restart alike, and leave audit entries that differ
/// only in the names.
fn a_runbook_rotate_step_and_the_command_end_and_record_alike(backend: Backend) {
    let s = Scope::new("sec-both");
    let ns = s.ns("app");
    let reader = |name: &str, secret: &str| {
        deployment(&s, name, "a").container_field(
            "env",
            json!([{"name": "KEY", "valueFrom": {"secretKeyRef": {"name": secret, "key": "API_KEY"}}}]),
        )
    };
    let seed = s.namespace("app")
        + &s.node_yaml("a", "8", &[])
        + &secret(&s, "creds-x").yaml()
        + &secret(&s, "creds-y").yaml()
        + &reader("web-x", "creds-x").yaml()
        + &reader("web-y", "creds-y").yaml();
    let h = Harness::on(backend, &s, &seed);
    wait_ready(&h, &s, "web-x", 2);
    wait_ready(&h, &s, "web-y", 2);
    let value = h.home.path().join("api.key");
    std::fs::write(&value, "sk-Both-90ab12").unwrap();
    let from_file = format!("API_KEY={}", value.display());
    h.oncall(&[
        "-n",
        &ns,
        "secret",
        "rotate",
        "creds-x",
        "--from-file",
        &from_file,
        "--yes",
    ])
    .expect_code(0);
    let file = h.home.path().join("rotate.yaml");
    std::fs::write(
        &file,
        format!(
            "name: rotate\nsummary: rotate one Secret\nsteps:\n  - id: rotate\n    title: Rotate it\n    rotate_secret: {{secret: creds-y, namespace: {ns}, from_file: [\"{from_file}\"]}}\n"
        ),
    )
    .unwrap();
    h.oncall(&["runbook", "run", file.to_str().unwrap(), "--yes"])
        .expect_code(0);
    for name in ["creds-x", "creds-y"] {
        assert_eq!(
            data(&h, &s, name, "API_KEY"),
            b64("sk-Both-90ab12"),
            "{name}"
        );
        assert_eq!(data(&h, &s, name, "DB_PASS"), b64(OLD), "{name}");
    }
    // The backup Secret's name carries the Secret's resourceVersion.
    let backup = regex::Regex::new(r"creds-[xy]-previous-[0-9a-z-]+").unwrap();
    assert_recorded_alike(&h, |driver, text| {
        let side = if driver == Driver::Command { "x" } else { "y" };
        Some(
            backup
                .replace_all(text, "BACKUP")
                .replace(&format!("creds-{side}"), "SECRET")
                .replace(&format!("web-{side}"), "WORKLOAD"),
        )
    });
    let entries = h.audit_entries();
    let everything = serde_json::to_string(&entries).unwrap();
    assert!(
        !everything.contains("sk-Both-90ab12"),
        "the value is in the audit log"
    );
}

/// The names of `app`'s live pods, sorted.
fn pod_names(h: &Harness, s: &Scope, app: &str) -> Vec<String> {
    let mut names: Vec<String> = h
        .list("pods", Some(&s.ns("app")))
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["app"] == app)
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// A rotation of `DB_PASS` alone: `web`, whose environment reads only
/// `API_KEY`, keeps its pods (the plan says why), while `all`, which takes
/// every key with `envFrom`, is restarted.
fn a_workload_reading_only_keys_left_alone_is_not_restarted(backend: Backend) {
    let s = Scope::new("sec-keys");
    let ns = s.ns("app");
    let every_key = deployment(&s, "all", "b")
        .container_field("envFrom", json!([{"secretRef": {"name": "app-creds"}}]));
    let seed = base(&s) + &env_user(&s, "web", "a").yaml() + &every_key.yaml();
    let h = Harness::on(backend, &s, &seed);
    wait_ready(&h, &s, "web", 2);
    wait_ready(&h, &s, "all", 2);
    let (web_before, all_before) = (pod_names(&h, &s, "web"), pod_names(&h, &s, "all"));
    let pass = h.home.path().join("db.pass");
    std::fs::write(&pass, "pw-New-91c2").unwrap();
    let from_file = format!("DB_PASS={}", pass.display());
    let rotate = [
        "-n",
        &ns,
        "secret",
        "rotate",
        "app-creds",
        "--from-file",
        &from_file,
    ];
    let dry = h
        .oncall(&[&rotate[..], &["--dry-run"]].concat())
        .expect_code(0);
    let web = dry
        .stdout
        .lines()
        .find(|l| l.starts_with("deployment/web"))
        .unwrap_or_else(|| panic!("web is in the plan: {}", dry.stdout));
    assert!(
        web.contains("no restart")
            && web.contains("reads only `API_KEY`, which this rotation leaves unchanged"),
        "{}",
        dry.stdout
    );
    h.oncall(&[&rotate[..], &["--yes", "--timeout", "90s"]].concat())
        .expect_code(0);
    assert_eq!(data(&h, &s, "app-creds", "DB_PASS"), b64("pw-New-91c2"));
    assert_eq!(data(&h, &s, "app-creds", "API_KEY"), b64(OLD));
    assert_eq!(
        pod_names(&h, &s, "web"),
        web_before,
        "web was not restarted"
    );
    wait_ready(&h, &s, "all", 2);
    assert!(
        pod_names(&h, &s, "all")
            .iter()
            .all(|p| !all_before.contains(p)),
        "every pod of `all` was replaced"
    );
}
