//! Every command oncall suggests must run as printed: pasted into the shell
//! it parses, starts, acts on the cluster the user was looking at (not the
//! kubeconfig's current context), and changes nothing until the user drops
//! its dry-run flag. Run as a kubectl plugin, oncall names itself
//! `kubectl oncall` in usage lines and suggestions.

mod common;
use common::*;

use std::path::PathBuf;

const POOL_A_NODE: &str = "gke-demo-pool-a-8f3c2a1d-q2w8";

/// A copy of the harness kubeconfig whose current context is a dead server:
/// a suggestion that forgets `--context sandbox` fails against it.
fn kubeconfig_elsewhere(h: &Harness) -> PathBuf {
    let path = h.home.path().join("two-contexts");
    std::fs::copy(&h.kubeconfig, &path).unwrap();
    kubeconfig::switch_to_new_context(&path, "elsewhere", "http://127.0.0.1:9");
    // kubectl agrees that the default is now the dead server.
    let current = Kubectl::new(&path, h.home.path())
        .run(&["config", "current-context"])
        .expect_exit(0);
    assert_eq!(current.stdout.trim(), "elsewhere");
    path
}

/// The commands a human would paste from `text`: the `→ …` next actions and
/// every command quoted in backticks.
fn suggested(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("→ ") {
            found.push(rest.trim().to_string());
        }
        for (i, span) in line.split('`').enumerate() {
            if i % 2 == 1 && (span.starts_with("oncall ") || span.starts_with("kubectl ")) {
                found.push(span.to_string());
            }
        }
    }
    found
}

/// Runs a suggestion as the shell would and returns what it did.
fn paste(h: &Harness, line: &str) -> Run {
    let words = shlex::split(line).unwrap_or_else(|| panic!("`{line}` is not valid shell"));
    match words[0].as_str() {
        "oncall" => {
            let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
            h.oncall(&args)
        }
        "kubectl" => {
            // As pasted: no flag of the harness's own.
            Cmd::new(kubectl_path())
                .inherit_env()
                .args(&words[1..])
                .env("HOME", h.home.path())
                .run()
        }
        other => panic!("`{line}` runs `{other}`, neither oncall nor kubectl"),
    }
}

#[test]
fn every_suggestion_of_the_demo_runs_as_printed_on_the_context_given() {
    let h = Harness::demo();
    let kubeconfig = kubeconfig_elsewhere(&h);
    let k = kubeconfig.to_str().unwrap();
    let on = |args: &[&str]| {
        let mut all = vec!["--kubeconfig", k, "--context", "sandbox"];
        all.extend_from_slice(args);
        h.oncall(&all)
    };
    let stuck = on(&["pods", "stuck", "-A"]).expect_code(1);
    let check = on(&[
        "node",
        "check",
        POOL_A_NODE,
        "--ignore-daemonsets",
        "--force",
    ]);
    let mut lines = suggested(&stuck.stdout);
    lines.extend(suggested(&check.stdout));
    lines.extend(suggested(&check.stderr));
    // A mistyped name's error says where to look it up.
    for typo in [
        &["-n", "prodution", "pods", "stuck"][..],
        &["node", "check", "gke-demo-pool-a-nope"],
        &["-n", "production", "restart", "deploy/nope", "--dry-run"],
    ] {
        let run = on(typo).expect_code(1);
        let found = suggested(&run.stderr);
        assert!(!found.is_empty(), "{typo:?}: {}", run.stderr);
        lines.extend(found);
    }
    lines.sort();
    lines.dedup();
    // The demo's dead node and its finalizer-held pod are both in there.
    assert!(
        lines.iter().any(|l| l.contains(" node replace ")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.contains("finalizers")), "{lines:#?}");
    for line in &lines {
        assert!(
            line.contains(&format!("--kubeconfig {k} --context sandbox ")),
            "`{line}` would act on the kubeconfig's current context"
        );
        let changes = [" delete ", " patch ", " replace ", " undo ", " drain "]
            .iter()
            .any(|verb| line.contains(verb));
        if changes {
            assert!(
                line.contains("--dry-run"),
                "`{line}` changes things with no dry run"
            );
        }
        let run = paste(&h, line);
        let said = format!(
            "`{line}` exited {}:\n{}{}",
            run.code, run.stdout, run.stderr
        );
        assert!(run.code != 2 && !run.stderr.contains("Usage:"), "{said}");
        assert!(!run.stderr.contains("127.0.0.1:9"), "{said}");
        if line.starts_with("kubectl ") {
            assert_eq!(run.code, 0, "{said}");
        }
    }
    // Pasting them changed nothing: the same pods are stuck, the same way.
    let again = on(&["pods", "stuck", "-A"]).expect_code(1);
    assert_eq!(
        again.stdout.lines().next(),
        stuck.stdout.lines().next(),
        "{}",
        again.stdout
    );
}

#[test]
fn a_dead_node_is_replaced_with_a_terminate_choice_that_runs() {
    let h = Harness::demo();
    let run = h.oncall(&["pods", "stuck", "-A"]).expect_code(1);
    let replace = suggested(&run.stdout)
        .into_iter()
        .find(|l| l.contains(" node replace "))
        .expect("a node replace suggestion");
    assert!(replace.contains("--delete-node"), "{replace}");
    let pasted = paste(&h, &replace);
    assert_ne!(pasted.code, 2, "{}", pasted.stderr);
    assert!(
        pasted.stderr.contains("Dry run") || pasted.stdout.contains("Dry run"),
        "{}{}",
        pasted.stdout,
        pasted.stderr
    );
    // With the terminate command in the config, the suggestion relies on it.
    h.write_config("clusters:\n  sandbox:\n    terminate: [\"true\", \"{node}\"]\n");
    let run = h.oncall(&["pods", "stuck", "-A"]).expect_code(1);
    let replace = suggested(&run.stdout)
        .into_iter()
        .find(|l| l.contains(" node replace "))
        .expect("a node replace suggestion");
    assert!(!replace.contains("--delete-node"), "{replace}");
    assert_ne!(paste(&h, &replace).code, 2);
}

#[test]
fn the_drain_failure_hint_names_the_context_it_drained() {
    let h = Harness::demo();
    let kubeconfig = kubeconfig_elsewhere(&h);
    let k = kubeconfig.to_str().unwrap();
    // The finalizer-held pod never goes: the drain times out, cordon kept.
    let run = h.oncall(&[
        "--kubeconfig",
        k,
        "--context",
        "sandbox",
        "node",
        "drain",
        POOL_A_NODE,
        "--ignore-daemonsets",
        "--force",
        "--timeout",
        "2s",
        "--yes",
    ]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    let hint = suggested(&run.stderr)
        .into_iter()
        .find(|l| l.contains("node uncordon"))
        .unwrap_or_else(|| panic!("no uncordon hint in {}", run.stderr));
    assert_eq!(
        hint,
        format!("oncall --kubeconfig {k} --context sandbox node uncordon {POOL_A_NODE}")
    );
    paste(&h, &format!("{hint} --yes")).expect_code(0);
    assert_eq!(h.unschedulable(POOL_A_NODE), serde_json::Value::Null);
}

/// The binary under the name kubectl looks for, in a directory of its own.
fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_oncall"),
        dir.path().join("kubectl-oncall"),
    )
    .unwrap();
    dir
}

#[test]
fn as_a_kubectl_plugin_usage_and_suggestions_say_kubectl_oncall() {
    let h = Harness::demo();
    let dir = plugin_dir();
    let plugin = |args: &[&str]| {
        oncall_named(&dir.path().join("kubectl-oncall"), h.home.path())
            .kubeconfig(&h.kubeconfig)
            .args(args)
            .run()
    };
    let help = plugin(&["node", "--help"]).expect_code(0);
    assert!(
        help.stdout.contains("Usage: kubectl oncall node"),
        "{}",
        help.stdout
    );
    let usage = plugin(&["node", "drain", "--no-such-flag"]);
    assert_eq!(usage.code, 2);
    assert!(
        usage.stderr.contains("kubectl oncall node drain"),
        "{}",
        usage.stderr
    );
    let stuck = plugin(&["--context", "sandbox", "pods", "stuck", "-A"]).expect_code(1);
    let replace = suggested(&stuck.stdout)
        .into_iter()
        .find(|l| l.contains(" node replace "))
        .expect("a node replace suggestion");
    assert!(
        replace.starts_with("kubectl oncall --context sandbox node replace "),
        "{replace}"
    );

    // In the sandbox, kubectl suggestions cannot reach it: say so.
    let sandbox = plugin(&["--sandbox", "pods", "stuck", "-A"]).expect_code(1);
    assert!(
        sandbox.stderr.contains(
            "kubectl cannot reach this sandbox: to try the kubectl suggestions, run `kubectl oncall sandbox serve --kubeconfig-out sandbox.kubeconfig`"
        ),
        "{}",
        sandbox.stderr
    );

    // And through kubectl itself, which finds the plugin on PATH.
    let path = std::env::join_paths(
        std::iter::once(dir.path().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let via_kubectl = Cmd::new(kubectl_path())
        .inherit_env()
        .args(["oncall", "node", "--help"])
        .env("PATH", &path)
        .env("HOME", h.home.path())
        .env("NO_COLOR", "1")
        .run()
        .expect_exit(0);
    assert!(
        via_kubectl.stdout.contains("Usage: kubectl oncall node"),
        "{}",
        via_kubectl.stdout
    );
}

/// The sandbox lives only as long as one command, so a kubectl command it
/// suggests would act on the kubeconfig's cluster instead: wherever one is
/// shown (an error, a report), a note says so; against a served cluster,
/// where kubectl reaches the same objects, nothing is added.
#[test]
fn kubectl_suggested_in_the_sandbox_says_it_cannot_reach_it() {
    const NOTE: &str = "kubectl cannot reach this sandbox: to try the kubectl suggestions, run \
                        `oncall sandbox serve --kubeconfig-out sandbox.kubeconfig`";
    let missing = oncall_offline(&["--sandbox", "-n", "staging", "restart", "nope"]).expect_code(1);
    assert!(
        missing
            .stderr
            .contains("`kubectl get deploy,sts,ds -n staging`")
            && missing.stderr.contains(NOTE),
        "{}",
        missing.stderr
    );
    let check = oncall_offline(&[
        "--sandbox",
        "node",
        "check",
        POOL_A_NODE,
        "--ignore-daemonsets",
        "--force",
    ]);
    assert!(
        check.stdout.contains("kubectl -n staging patch pod"),
        "{}",
        check.stdout
    );
    assert!(check.stderr.contains(NOTE), "{}", check.stderr);
    // A runbook's steps show the same reports: said once, at the end.
    let triage = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/runbooks/stuck-pods-triage.yaml"
    );
    let run = oncall_offline(&["--sandbox", "runbook", "run", triage, "--dry-run"]);
    assert!(run.stdout.contains("→ kubectl "), "{}", run.stdout);
    assert_eq!(run.stderr.matches(NOTE).count(), 1, "{}", run.stderr);
    // Nothing to say when the suggestions name no kubectl command.
    let list = oncall_offline(&["--sandbox", "node", "list"]).expect_code(0);
    assert!(!list.stderr.contains("cannot reach"), "{}", list.stderr);

    let h = Harness::demo();
    let served = h
        .oncall(&["-n", "staging", "restart", "nope"])
        .expect_code(1);
    assert!(
        served
            .stderr
            .contains("`kubectl get deploy,sts,ds -n staging`"),
        "{}",
        served.stderr
    );
    assert!(!served.stderr.contains("cannot reach"), "{}", served.stderr);
}
