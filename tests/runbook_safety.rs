//! Runbooks against hostile input and rough endings: parameters never run
//! as shell code, secrets never written anywhere, signals passed on to a
//! step's processes, unsafe names and arguments refused, clear messages, and
//! runs that do not step on each other.

mod common;

use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use common::*;

// ---- parameters are never shell code ----------------------------------------

/// Eight ways a step can hand a parameter to a program, each writing what
/// it received to its own file.
const SHAPES: &str = r#"
name: shapes
summary: every way a step can pass a value on
params:
  v: {type: string}
steps:
  - id: argv
    title: An argv element
    shell: [sh, -c, 'printf "%s" "$1" > out.argv', sh, "{{ v }}"]
  - id: argv_inner
    title: An argv element with text around the value
    shell: [sh, -c, 'printf "%s" "$1" > out.argv_inner', sh, "<{{ v }}>"]
  - id: double_quoted
    title: The environment, in double quotes
    shell: {sh: 'printf "%s" "$ONCALL_PARAM_v" > out.double_quoted'}
  - id: unquoted
    title: The environment, unquoted
    shell: {sh: 'printf "%s" $ONCALL_PARAM_v > out.unquoted'}
  - id: heredoc
    title: The environment, in a heredoc
    shell:
      sh: |
        cat > out.heredoc <<EOF
        $ONCALL_PARAM_v
        EOF
  - id: eval
    title: The environment, under eval
    shell: {sh: "eval 'printf \"%s\" \"$ONCALL_PARAM_v\"' > out.eval"}
  - id: env_entry
    title: A templated env entry
    shell:
      env: ["VALUE={{ v }}"]
      sh: 'printf "%s" "$VALUE" > out.env_entry'
  - id: assert_command
    title: An assert command's argument
    assert: {command: [sh, -c, 'printf "%s" "$1" > out.assert_command', sh, "{{ v }}"]}
"#;

#[test]
fn eight_step_shapes_times_ten_hostile_values_execute_nothing() {
    let l = Local::new();
    l.write("rb.yaml", SHAPES);
    let marker = l.path("PWNED");
    let m = marker.display().to_string();
    let hostile = [
        format!("; touch {m}"),
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!("a\ntouch {m}"),
        format!("' ; touch {m} ; '"),
        format!("\" ; touch {m} ; \""),
        format!("&& touch {m} #"),
        format!("| touch {m}"),
        format!("EOF\ntouch {m}\nEOF"),
        format!("$(touch {m})'\"`touch {m}`\\"),
    ];
    let shapes = [
        "argv",
        "argv_inner",
        "double_quoted",
        "unquoted",
        "heredoc",
        "eval",
        "env_entry",
        "assert_command",
    ];
    let mut executions = 0;
    for value in &hostile {
        let set = format!("v={value}");
        l.oncall(&["runbook", "run", "rb.yaml", "--yes", "--set", &set])
            .expect_code(0);
        for shape in shapes {
            if marker.exists() {
                executions += 1;
                std::fs::remove_file(&marker).unwrap();
            }
            let got = l.read(&format!("out.{shape}"));
            let want = match shape {
                "argv_inner" => format!("<{value}>"),
                "heredoc" => format!("{value}\n"),
                // Unquoted, the shell splits the value into words (printf
                // joins them), but never runs it.
                "unquoted" => value.split_whitespace().collect(),
                _ => value.clone(),
            };
            assert_eq!(got, want, "{shape} with {value:?}");
        }
    }
    assert_eq!(executions, 0, "0 of 80 hostile cases may execute");
}

#[test]
fn validate_rejects_templates_in_shell_scripts_naming_the_variable() {
    let l = Local::new();
    l.write(
        "rb.yaml",
        r#"name: old
summary: the shapes that used to run values as code
params:
  v: {type: string}
steps:
  - id: double
    title: Double quotes
    shell: {sh: 'echo "{{ v }}"'}
  - id: single
    title: Single quotes
    shell: {sh: "echo '{{ params.v }}'"}
  - id: heredoc
    title: Heredoc
    shell:
      sh: |
        cat <<EOF
        {{ v }}
        EOF
  - id: eval
    title: Eval
    shell: {sh: "eval \"echo {{ v }}\""}
  - id: output
    title: An earlier output
    shell: {sh: "echo {{ steps.eval.output }}"}
"#,
    );
    let r = l.oncall(&["runbook", "validate", "rb.yaml"]).expect_code(2);
    for line in [
        "rb.yaml:8:24: `{{ v }}` inside `sh:` would paste a value into shell code; read the parameter from the environment instead: \"$ONCALL_PARAM_v\"",
        "rb.yaml:11:24: `{{ params.v }}` inside `sh:`",
        "rb.yaml:17:9: `{{ v }}` inside `sh:`",
        "rb.yaml:21:30: `{{ v }}` inside `sh:`",
        "rb.yaml:24:23: `{{ steps.eval.output }}` inside `sh:` would paste a value into shell code; pass the value in the environment instead, with `env: [\"NAME={{ steps.eval.output }}\"]`, and read \"$NAME\"",
    ] {
        assert!(r.stderr.contains(line), "{line}\n{}", r.stderr);
    }
    assert!(r.stderr.contains("has 5 problem(s)"), "{}", r.stderr);
}

// ---- secrets -------------------------------------------------------------------

const SECRET: &str = "hunter2-Secret";

/// Every occurrence of the secret, or of its base64, in `text`.
fn leaks(text: &str) -> Vec<String> {
    let forms = [
        SECRET.to_string(),
        base64::engine::general_purpose::STANDARD.encode(SECRET),
        base64::engine::general_purpose::STANDARD.encode(format!("{SECRET}\n")),
    ];
    forms
        .iter()
        .filter(|f| text.contains(f.as_str()))
        .cloned()
        .collect()
}

#[test]
fn a_secret_transformed_in_a_template_is_refused() {
    let l = Local::new();
    l.write(
        "rb.yaml",
        r#"
name: derived
summary: a template that makes something out of a secret
params:
  pin: {type: string, secret: true}
steps:
  - id: upper
    title: Upper-cased
    shell: [echo, "{{ pin | upper }}"]
"#,
    );
    let set = format!("pin={SECRET}");
    let r = l
        .oncall(&["runbook", "run", "rb.yaml", "--yes", "--set", &set])
        .expect_code(2);
    assert!(
        r.stderr
            .contains("`argv` makes a new value out of the secret parameter `pin`")
            && r.stderr.contains("\"$ONCALL_PARAM_pin\""),
        "{}",
        r.stderr
    );
    assert!(leaks(&(r.stdout + &r.stderr)).is_empty());
    assert!(
        !l.read(&l.runs()[0].display().to_string())
            .contains("HUNTER2")
    );
}

/// A secret parameter is read from stdin with `--set NAME=-`, so that it is
/// never on the command line (shell history, the process list); a missing
/// one is asked for that way, and an empty stdin runs nothing.
#[test]
fn a_secret_parameter_is_read_from_stdin() {
    let l = Local::new();
    l.write(
        "rb.yaml",
        r#"
name: stdin
summary: a secret from stdin
params:
  pin: {type: string, secret: true}
steps:
  - id: check
    title: The value arrives intact
    shell: {sh: 'test "$ONCALL_PARAM_pin" = "hunter2-Secret" && echo same > out'}
"#,
    );
    let missing = l
        .oncall(&["runbook", "run", "rb.yaml", "--yes"])
        .expect_code(2);
    assert!(
        missing
            .stderr
            .contains("missing parameter(s) `pin`; pass --set pin=- with its value on stdin"),
        "{}",
        missing.stderr
    );
    let run = |stdin: &str| {
        l.command(&["runbook", "run", "rb.yaml", "--yes", "--set", "pin=-"])
            .stdin(stdin)
            .run()
    };
    let empty = run("").expect_code(2);
    assert!(
        empty
            .stderr
            .contains("stdin was empty, so `--set pin=-` has no value; nothing was run"),
        "{}",
        empty.stderr
    );
    assert_eq!(l.read("out"), "");
    let r = run(&format!("{SECRET}\n")).expect_code(0);
    assert_eq!(l.read("out"), "same\n", "{}", r.stderr);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    assert!(leaks(&(r.stdout + &r.stderr)).is_empty());
    // On a terminal, `-` is asked for at the hidden prompt (reading stdin
    // there would echo the value), an optional secret too: `-` never means
    // its empty default.
    let optional = l.read("rb.yaml").replace(
        "{type: string, secret: true}",
        "{type: string, secret: true, required: false}",
    );
    l.write("optional.yaml", &optional);
    for file in ["rb.yaml", "optional.yaml"] {
        std::fs::remove_file(l.path("out")).unwrap();
        let typed = l
            .command(&["runbook", "run", file, "--yes", "--set", "pin=-"])
            .answer(&["pin"], &format!("{SECRET}\r"))
            .run()
            .expect_code(0);
        assert_eq!(l.read("out"), "same\n", "{file}: {}", typed.stdout);
        assert!(leaks(&typed.stdout).is_empty(), "echoed: {}", typed.stdout);
    }
    // On the command line it still works, with a warning that says where
    // the value stays behind.
    let set = format!("pin={SECRET}");
    let literal = l
        .oncall(&["runbook", "run", "rb.yaml", "--yes", "--set", &set])
        .expect_code(0);
    assert!(
        literal.stderr.contains(
            "warning: the secret parameter `pin` was given on the command line, where shell history and the process list keep it; pass `--set pin=-`"
        ),
        "{}",
        literal.stderr
    );
    assert!(leaks(&(literal.stdout + &literal.stderr)).is_empty());
    for journal in l.runs() {
        assert!(leaks(&l.read(&journal.display().to_string())).is_empty());
    }
}

// ---- signals -----------------------------------------------------------------

/// A step whose script ignores SIGINT, SIGTERM and SIGHUP, with a
/// background process in its group that records its pid.
const STUBBORN: &str = r#"
name: stubborn
summary: a step that will not stop by itself
steps:
  - id: stubborn
    title: Ignores every polite signal
    shell: {sh: "trap '' INT TERM HUP; sleep 300 & echo $! > child.pid; touch started; wait; echo finished >> log"}
  - id: after
    title: After
    shell: {sh: "echo after >> log"}
"#;

/// Whether a process still runs (a zombie waiting to be reaped does not).
fn alive(pid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .trim_start()
        .chars()
        .next();
    !matches!(state, None | Some('Z' | 'X'))
}

/// Whether it stops within a few seconds (a killed process takes a moment
/// to be reaped).
fn stops(pid: &str) -> bool {
    eventually(Duration::from_secs(5), || !alive(pid))
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// Starts the stubborn runbook and waits until its step runs.
fn stubborn(l: &Local) -> Background {
    l.write("rb.yaml", STUBBORN);
    let child = l.command(&["runbook", "run", "rb.yaml", "--yes"]).spawn();
    wait_for(&l.path("started"));
    child
}

#[test]
fn sigterm_and_sighup_stop_the_steps_process_group_and_record_the_step_interrupted() {
    for (sig, code) in [("TERM", 143), ("HUP", 129)] {
        let l = Local::new();
        let child = stubborn(&l);
        let grandchild = l.read("child.pid");
        signal(child.id(), sig);
        let run = child.finish();
        let stderr = &run.stderr;
        assert_eq!(run.code, code, "SIG{sig}: {stderr}");
        assert!(stderr.contains(&format!("(SIG{sig})")), "{stderr}");
        assert!(
            stops(&grandchild),
            "SIG{sig}: the step's background process was killed with its group"
        );
        let (_, j) = l.journal();
        assert_eq!(j["status"], "interrupted", "SIG{sig}");
        assert_eq!(state_of(&j, "stubborn"), "interrupted", "SIG{sig}");
        assert_eq!(state_of(&j, "after"), "pending", "SIG{sig}");
        assert_eq!(l.read("log"), "", "SIG{sig}: nothing ran to its end");
    }
}

#[test]
fn a_double_ctrl_c_kills_the_step_and_leaves_the_journal_interrupted() {
    let l = Local::new();
    let child = stubborn(&l);
    let grandchild = l.read("child.pid");
    signal(child.id(), "INT");
    std::thread::sleep(Duration::from_millis(300));
    signal(child.id(), "INT");
    child.finish().expect_exit(130);
    assert!(stops(&grandchild), "the step's processes were killed");
    let (id, j) = l.journal();
    assert_eq!(j["status"], "interrupted", "never left `running`");
    assert_eq!(state_of(&j, "stubborn"), "interrupted");
    let md = l
        .oncall(&["runbook", "log", &id, "--format", "markdown"])
        .expect_code(0);
    assert!(
        md.stdout.contains("| `stubborn` | 1 of 1 |") && md.stdout.contains("**interrupted**"),
        "the timeline keeps the interrupted attempt: {}",
        md.stdout
    );
}

// ---- names and arguments from untrusted places ----------------------------------

#[test]
fn runbook_names_with_path_separators_or_control_characters_are_refused() {
    let l = Local::new();
    for (name, why) in [
        ("\"../../../../x\"", "contains a path separator"),
        ("\"a\\0b\"", "contains a control character"),
        ("\"-rf\"", "starts with `-`"),
    ] {
        l.write(
            "rb.yaml",
            &format!(
                "name: {name}\nsummary: s\nsteps:\n  - id: a\n    title: A\n    shell: [true]\n"
            ),
        );
        let r = l.oncall(&["runbook", "validate", "rb.yaml"]).expect_code(2);
        assert!(
            r.stderr.contains("rb.yaml:1:7: the runbook's name"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains(why), "{name}: {}", r.stderr);
        l.oncall(&["runbook", "run", "rb.yaml", "--yes"])
            .expect_code(2);
        assert!(l.runs().is_empty(), "no journal written for {name}");
    }
}

// ---- one clear sentence -------------------------------------------------------

#[test]
fn an_undefined_value_in_when_is_named() {
    let l = Local::new();
    l.write(
        "rb.yaml",
        r#"
name: undefined
summary: a condition on an output that is not JSON
steps:
  - id: first
    title: Prints text
    shell: [echo, hello]
    read_only: true
  - id: second
    title: Reads a JSON field
    when: steps.first.json.pods > 5
    shell: [true]
"#,
    );
    let r = l
        .oncall(&["runbook", "run", "rb.yaml", "--yes"])
        .expect_code(1);
    assert!(
        r.stderr.contains("step `second`: cannot evaluate `when`: `steps.first.json` is undefined (step `first` printed no JSON, or has not run)"),
        "{}",
        r.stderr
    );
}

#[test]
fn defaults_are_checked_against_their_types() {
    let l = Local::new();
    l.write(
        "rb.yaml",
        "name: d\nsummary: s\nparams:\n  n: {type: int, default: abc}\n  d: {type: duration, default: 5x}\n  b: {type: bool, default: maybe}\nsteps:\n  - id: a\n    title: A\n    shell: [true]\n",
    );
    let r = l.oncall(&["runbook", "validate", "rb.yaml"]).expect_code(2);
    for line in [
        "rb.yaml:4:27: the default of parameter `n` is wrong: `abc` is not a whole number",
        "rb.yaml:5:32: the default of parameter `d` is wrong: `5x` is not a duration like 30s or 5m",
        "rb.yaml:6:28: the default of parameter `b` is wrong: `maybe` is not true or false",
    ] {
        assert!(r.stderr.contains(line), "{line}\n{}", r.stderr);
    }
}

#[test]
fn an_alias_bomb_or_a_huge_runbook_is_too_large() {
    let l = Local::new();
    let mut bomb = String::from(
        "name: t\nsummary: s\nsteps:\n  - id: a\n    title: A\n    manual: hi\nbomb:\n  a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n",
    );
    for i in 1..9 {
        let refs = vec![format!("*a{}", i - 1); 10].join(",");
        bomb.push_str(&format!("  a{i}: &a{i} [{refs}]\n"));
    }
    let mut huge = String::from("name: t\nsummary: s\nsteps:\n");
    for i in 0..50_000 {
        huge.push_str(&format!("  - id: s{i}\n    title: T\n    manual: hi\n"));
    }
    for (file, text) in [("bomb.yaml", bomb), ("huge.yaml", huge)] {
        l.write(file, &text);
        let r = l.oncall(&["runbook", "validate", file]).expect_code(2);
        assert!(
            r.stderr
                .contains("the runbook is too large (over 250000 nodes"),
            "{file}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("budget"), "{}", r.stderr);
    }
}

// ---- dry runs, the timeline, concurrent runs ------------------------------------------

#[test]
fn a_dry_run_does_not_become_last() {
    let l = Local::new();
    l.write(
        "rb.yaml",
        "name: t\nsummary: s\nsteps:\n  - id: a\n    title: A\n    shell: {sh: 'echo a >> log'}\n",
    );
    l.oncall(&["runbook", "run", "rb.yaml"]).expect_code(3);
    let real = l.runs()[0]
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    std::thread::sleep(Duration::from_millis(1100)); // run ids sort by the second
    l.oncall(&["runbook", "run", "rb.yaml", "--dry-run"])
        .expect_code(0);
    let r = l
        .oncall(&["runbook", "resume", "last", "--yes"])
        .expect_code(0);
    assert!(
        r.stdout.contains(&format!("Resuming run {real}")),
        "{}",
        r.stdout
    );
    assert_eq!(l.read("log"), "a\n");
}

#[test]
fn the_timeline_keeps_retries_interrupted_attempts_and_resumes() {
    let l = Local::new();
    l.write(
        "rb.yaml",
        r#"
name: history
summary: a flaky step, then one that is killed and resumed
steps:
  - id: flaky
    title: Fails once
    shell: {sh: "test -f flag || { touch flag; exit 1; }"}
    retries: 1
  - id: slow
    title: Interrupted once
    shell: {sh: "test -f resumed || { touch started; sleep 30; }"}
    idempotent: true
"#,
    );
    let child = l.command(&["runbook", "run", "rb.yaml", "--yes"]).spawn();
    wait_for(&l.path("started"));
    signal(child.id(), "INT");
    child.finish().expect_exit(130);
    l.write("resumed", "");
    let (id, _) = l.journal();
    l.oncall(&["runbook", "resume", &id, "--yes"])
        .expect_code(0);
    let md = l
        .oncall(&["runbook", "log", &id, "--format", "markdown"])
        .expect_code(0)
        .stdout;
    for want in [
        "## Attempts",
        "| `flaky` | 1 of 2 |",
        "| `flaky` | 2 of 2 |",
        "| `slow` | 1 of 2 |",
        "| `slow` | 2 of 2 |",
        "## Resumed",
        "after the run was interrupted, continuing at `slow`",
    ] {
        assert!(md.contains(want), "{want}\n{md}");
    }
    assert!(
        md.contains("**failed**") && md.contains("**interrupted**"),
        "{md}"
    );
}

#[test]
fn a_second_run_of_the_same_runbook_is_refused_without_a_tty_unless_forced() {
    let l = Local::new();
    l.write(
        "rb.yaml",
        "name: twice\nsummary: s\nsteps:\n  - id: a\n    title: A\n    shell: {sh: 'touch started; sleep 30'}\n",
    );
    let first = l.command(&["runbook", "run", "rb.yaml", "--yes"]).spawn();
    wait_for(&l.path("started"));
    let (first_id, _) = l.journal();
    let r = l
        .oncall(&["runbook", "run", "rb.yaml", "--yes"])
        .expect_code(3);
    assert!(
        r.stderr.contains(&format!(
            "run {first_id} of `twice` is still running on context `(no cluster)`"
        )) && r.stderr.contains("pass --force"),
        "{}",
        r.stderr
    );
    assert_eq!(l.runs().len(), 1, "the refused run wrote no journal");
    let forced = l
        .command(&["runbook", "run", "rb.yaml", "--yes", "--force"])
        .spawn();
    std::thread::sleep(Duration::from_millis(500));
    signal(forced.id(), "INT");
    let stderr = forced.finish().stderr;
    assert!(
        stderr.contains(&format!(
            "warning: run {first_id} of `twice` is still running"
        )),
        "{stderr}"
    );
    first.kill();
}

// ---- the shipped RabbitMQ runbook ----------------------------------------------

#[test]
fn rabbitmq_stuck_node_deletes_the_pod_only_when_processes_are_stuck() {
    let uid = |h: &Harness| {
        h.get("pods", Some("rabbitmq"), "rabbitmq-0").unwrap()["metadata"]["uid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // A healthy node: "There are 0 stuck processes." Nothing is deleted.
    let healthy = Harness::demo();
    let before = uid(&healthy);
    let r = healthy
        .oncall(&["runbook", "run", "rabbitmq-stuck-node", "--yes"])
        .expect_code(0);
    assert!(
        r.stdout.contains("There are 0 stuck processes."),
        "{}",
        r.stdout
    );
    let pod = healthy.get("pods", Some("rabbitmq"), "rabbitmq-0").unwrap();
    assert_eq!(uid(&healthy), before, "{}", r.stdout);
    assert!(pod["metadata"]["deletionTimestamp"].is_null(), "{pod}");
    let log = healthy
        .oncall(&["runbook", "log", "last", "-o", "json"])
        .expect_code(0);
    let j: serde_json::Value = serde_json::from_str(&log.stdout).unwrap();
    assert_eq!(state_of(&j, "delete"), "skipped");
    // A stuck node: its pod is deleted (and comes back as a new pod).
    let stuck = Harness::demo();
    let before = uid(&stuck);
    stuck
        .kubectl(&[
            "-n",
            "rabbitmq",
            "annotate",
            "pod",
            "rabbitmq-0",
            "--overwrite",
            "sim.oncall.dev/exec=rabbitmq-diagnostics maybe_stuck => 0 => <0.123.0> gen_server2 loop\\nFound 2 suspicious processes.",
        ])
        .expect_code(0);
    let r = stuck
        .oncall(&["runbook", "run", "rabbitmq-stuck-node", "--yes"])
        .expect_code(0);
    assert!(r.stdout.contains("deleted"), "{}", r.stdout);
    assert!(
        eventually(Duration::from_secs(10), || {
            stuck
                .get("pods", Some("rabbitmq"), "rabbitmq-0")
                .is_none_or(|p| p["metadata"]["uid"] != before.as_str())
        }),
        "rabbitmq-0 was deleted"
    );
}

// ---- terminate templates ------------------------------------------------------

#[test]
fn a_terminate_template_keeps_each_value_one_argument() {
    let h = Harness::yaml(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels: {cloud.google.com/gke-nodepool: pool-a, topology.kubernetes.io/zone: zone-a}\nspec:\n  providerID: gce://proj/zone-a/inst-1\n",
    );
    let args = h.home.path().join("args");
    let file = h.home.path().join("rb.yaml");
    std::fs::write(
        &file,
        format!(
            r#"
name: terminate
summary: a terminate string with a parameter in it
params:
  v: {{type: string}}
steps:
  - id: replace
    title: Replace
    node_replace:
      nodes: [n1]
      terminate: "sh -c 'printf \"%s\\n\" \"$@\" > {}' sh {{{{ v }}}} {{instance_id}}"
      wait_replacement: 1s
"#,
            args.display()
        ),
    )
    .unwrap();
    let r = h.oncall(&[
        "runbook",
        "run",
        file.to_str().unwrap(),
        "--yes",
        "--set",
        "v=a b --zone=evil",
    ]);
    let got = std::fs::read_to_string(&args).unwrap_or_default();
    assert_eq!(
        got, "a b --zone=evil\ninst-1\n",
        "two arguments: the value whole, then the instance\n{}\n{}",
        r.stdout, r.stderr
    );
}

/// Without a terminal, a step that runs long (a replace waits minutes for
/// its new node) still says every so often what is going on.
#[test]
fn a_long_step_without_a_terminal_repeats_a_progress_line() {
    let l = Local::new();
    l.write(
        "rb.yaml",
        "name: t\nsummary: s\nsteps:\n  - id: nap\n    title: Wait a while\n    shell: [sleep, '3']\n",
    );
    let r = l
        .command(&["runbook", "run", "rb.yaml", "--yes"])
        .env("ONCALL_PROGRESS_INTERVAL", "1s")
        .run()
        .expect_exit(0);
    assert!(
        r.stderr
            .contains("still running step `nap`: Wait a while ("),
        "{}",
        r.stderr
    );
}
