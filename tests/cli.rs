//! The command line itself: help text, completion scripts, config errors and
//! connection errors. None of these need a running cluster.

mod common;
use common::*;

use std::path::{Path, PathBuf};

/// `oncall ARGS` with `home` as HOME, no kubeconfig and no terminal.
fn oncall(home: &Path, args: &[&str]) -> Run {
    oncall_in(home).args(args).run()
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Compares `actual` with a checked-in file; `UPDATE_SNAPSHOTS=1` rewrites it.
fn assert_snapshot(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        expected == actual,
        "{} is stale; regenerate with `UPDATE_SNAPSHOTS=1 cargo test --test cli`\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// Every command path, e.g. ["node", "drain"], found by walking `--help`.
fn command_paths(home: &Path, prefix: Vec<String>) -> Vec<Vec<String>> {
    let mut args: Vec<&str> = prefix.iter().map(String::as_str).collect();
    args.push("--help");
    let Run { stdout: help, .. } = oncall(home, &args);
    let mut paths = vec![prefix.clone()];
    let Some(section) = help.split("Commands:\n").nth(1) else {
        return paths;
    };
    for line in section.lines() {
        if line.trim().is_empty() || !line.starts_with("  ") {
            break;
        }
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        if name == "help" || line.starts_with("    ") {
            continue;
        }
        let mut next = prefix.clone();
        next.push(name.to_string());
        paths.extend(command_paths(home, next));
    }
    paths
}

#[test]
fn help_of_every_command_matches_the_snapshot() {
    let home = tempfile::tempdir().unwrap();
    let mut all = String::new();
    let paths = command_paths(home.path(), Vec::new());
    assert!(paths.len() > 25, "found only {} commands", paths.len());
    for path in paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let Run {
            code, stdout: help, ..
        } = oncall(home.path(), &args);
        assert_eq!(code, 0, "`oncall {}` failed", args.join(" "));
        all.push_str(&format!("===== oncall {}\n{help}\n", path.join(" ")));
    }
    assert_snapshot(&repo("tests/snapshots/help.txt"), &all);
}

#[test]
fn completion_scripts_in_the_repository_are_current() {
    let home = tempfile::tempdir().unwrap();
    for (shell, file) in [
        ("bash", "oncall.bash"),
        ("zsh", "_oncall"),
        ("fish", "oncall.fish"),
        ("powershell", "_oncall.ps1"),
        ("elvish", "oncall.elv"),
        ("kubectl", "kubectl_complete-oncall"),
    ] {
        let Run { stdout: script, .. } =
            oncall(home.path(), &["completions", shell]).expect_exit(0);
        assert!(script.contains("oncall"), "{shell} script names the binary");
        assert_snapshot(&repo(&format!("completions/{file}")), &script);
    }
}

/// The man pages in `completions/man/` are what `oncall man --dir` writes
/// today: oncall(1) and a page per command, none missing and none stale.
#[test]
fn man_pages_in_the_repository_are_current() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("man");
    oncall(home.path(), &["man", "--dir", dir.to_str().unwrap()]).expect_exit(0);
    let names = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let committed = repo("completions/man");
    let generated = names(&dir);
    assert!(generated.contains(&"oncall-node-drain.1".to_string()));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        for stale in names(&committed) {
            std::fs::remove_file(committed.join(stale)).unwrap();
        }
    } else {
        assert_eq!(
            names(&committed),
            generated,
            "completions/man/ is stale; regenerate with `UPDATE_SNAPSHOTS=1 cargo test --test cli`"
        );
    }
    for name in generated {
        let page = std::fs::read_to_string(dir.join(&name)).unwrap();
        assert!(page.starts_with(".ie \\n(.g"), "{name} is roff: {page}");
        assert_snapshot(&committed.join(&name), &page);
    }
    let Run { stdout: page, .. } = oncall(home.path(), &["man"]).expect_exit(0);
    assert_eq!(
        page,
        std::fs::read_to_string(committed.join("oncall.1")).unwrap()
    );
}

/// The krew manifest installs `oncall` as `kubectl oncall` with its
/// completion helper on every platform; only release-time placeholders are
/// left to fill in.
#[test]
fn krew_manifest_ships_the_plugin_and_its_completion_helper() {
    let text = std::fs::read_to_string(repo("packaging/krew/oncall.yaml")).unwrap();
    let manifest: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(manifest["kind"], "Plugin");
    assert_eq!(manifest["metadata"]["name"], "oncall");
    let platforms = manifest["spec"]["platforms"].as_array().unwrap();
    assert!(platforms.len() >= 4, "linux and darwin, amd64 and arm64");
    for p in platforms {
        assert_eq!(p["bin"], "oncall");
        let files: Vec<&str> = p["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["from"].as_str())
            .collect();
        assert!(files.contains(&"kubectl_complete-oncall"), "{p}");
        assert!(p["sha256"].as_str().unwrap().starts_with("RELEASE_SHA256_"));
        assert!(p["uri"].as_str().unwrap().contains("/vRELEASE_VERSION/"));
    }
}

/// Flags are offered once the user has typed `-`, not before: `node drain
/// <TAB>` is about nodes.
#[test]
fn dynamic_completion_offers_flags_only_after_a_dash() {
    let home = tempfile::tempdir().unwrap();
    let complete = |words: &[&str]| {
        oncall_in(home.path())
            .arg("--")
            .args(words)
            .env("COMPLETE", "bash")
            .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
            .env("_CLAP_IFS", "\n")
            .kubeconfig(home.path().join("missing"))
            .run()
            .stdout
    };
    let top = complete(&["oncall", ""]);
    assert!(top.lines().any(|l| l == "node"), "{top}");
    assert!(!top.contains("--"), "no flags before `-`: {top}");
    let drain = complete(&["oncall", "node", "drain", ""]);
    assert!(!drain.contains("--force"), "no flags before `-`: {drain}");
    let dashed = complete(&["oncall", "node", "drain", "--f"]);
    assert!(dashed.lines().any(|l| l == "--force"), "{dashed}");
}

#[test]
fn dynamic_completion_offers_subcommands_and_flags() {
    let home = tempfile::tempdir().unwrap();
    let text = oncall_in(home.path())
        .args(["--", "oncall", "node", "dr"])
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "2")
        .env("_CLAP_COMPLETE_COMP_TYPE", "9")
        .env("_CLAP_COMPLETE_SPACE", "true")
        .env("_CLAP_IFS", "\n")
        .kubeconfig(home.path().join("missing"))
        .run()
        .stdout;
    assert!(text.lines().any(|l| l == "drain"), "got: {text:?}");
}

/// A cluster that accepts connections and never answers must not hang the
/// shell: node names are given up after `ONCALL_COMPLETION_TIMEOUT`.
#[test]
fn completion_gives_up_on_a_silent_cluster_within_its_budget() {
    let home = tempfile::tempdir().unwrap();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let kubeconfig = home.path().join("kubeconfig");
    kubeconfig::write_for_server(&kubeconfig, "c", &format!("http://127.0.0.1:{port}"), "t");
    let started = std::time::Instant::now();
    oncall_in(home.path())
        .args(["--", "oncall", "node", "drain", ""])
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "3")
        .env("_CLAP_COMPLETE_COMP_TYPE", "9")
        .env("_CLAP_COMPLETE_SPACE", "true")
        .env("_CLAP_IFS", "\n")
        .kubeconfig(&kubeconfig)
        .env("ONCALL_COMPLETION_TIMEOUT", "500ms")
        .run()
        .expect_exit(0);
    let took = started.elapsed();
    // It gave up instead of waiting on a server that never answers (the
    // margin is for a loaded machine, not a speed test).
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
    assert!(
        took >= std::time::Duration::from_millis(500),
        "took {took:?}"
    );
    drop(silent);
}

#[test]
fn config_error_names_file_line_and_column() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("bad.yaml");
    std::fs::write(&config, "protected_contexts:\n  - live\nclustrs: {}\n").unwrap();
    let Run { stderr: err, .. } = oncall(
        home.path(),
        &["--config", config.to_str().unwrap(), "audit"],
    )
    .expect_exit(2);
    let expected = format!("{}:3:1: unknown field `clustrs`", config.display());
    assert!(err.contains(&expected), "got: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn unreachable_server_names_the_url_and_exits_4() {
    let home = tempfile::tempdir().unwrap();
    // A port nobody listens on: bind, learn it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kubeconfig = home.path().join("config");
    kubeconfig::write_for_server(
        &kubeconfig,
        "dead",
        &format!("http://127.0.0.1:{port}"),
        "s3cr3t-token",
    );
    let Run { stderr: err, .. } = oncall(
        home.path(),
        &["--kubeconfig", kubeconfig.to_str().unwrap(), "node", "list"],
    )
    .expect_exit(4);
    assert!(
        err.contains(&format!("http://127.0.0.1:{port}")),
        "names the URL: {err}"
    );
    assert!(err.contains("cannot reach"), "{err}");
    assert!(!err.contains("s3cr3t"), "never prints the token");
}

/// Contexts `a` and `b`, both on a server nothing listens on.
fn two_contexts() -> kubeconfig::Kubeconfig {
    kubeconfig::Kubeconfig::new()
        .cluster("a", "http://127.0.0.1:1")
        .user("u", serde_json::json!({}))
        .context("a", "a", "u")
        .context("b", "a", "u")
        .current("a")
}

#[test]
fn unknown_context_lists_the_known_ones() {
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = home.path().join("config");
    two_contexts().write(&kubeconfig);
    let Run { stderr: err, .. } = oncall(
        home.path(),
        &[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--context",
            "prod",
            "node",
            "list",
        ],
    )
    .expect_exit(2);
    assert!(
        err.contains("context `prod` is not in the kubeconfig; known contexts: a, b"),
        "{err}"
    );
}

/// Only `pods stuck` and `node list` ask several clusters at once; other
/// commands, and flags that set one cluster's connection, are refused before
/// anything connects. An unknown name among several is refused too.
#[test]
fn several_contexts_are_refused_where_they_cannot_apply() {
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = home.path().join("config");
    two_contexts().write(&kubeconfig);
    let k = kubeconfig.to_str().unwrap();
    let two = ["--kubeconfig", k, "--context", "a", "--context", "b"];
    let refused = |extra: &[&str], says: &str| {
        let run = oncall(home.path(), &[&two[..], extra].concat());
        let (code, out, err) = (run.code, run.stdout, run.stderr);
        assert_eq!(code, 2, "{extra:?}: {err}");
        assert!(err.contains(says), "{extra:?}: {err}");
        assert!(out.is_empty(), "{extra:?}: {out}");
    };
    let only = "only `pods stuck` and `node list` take several contexts";
    refused(&["node", "drain", "n1", "--dry-run"], only);
    refused(&["restart", "web"], only);
    refused(&["node", "check", "n1"], only);
    refused(
        &["pods", "stuck", "--token", "s3cr3t"],
        "`--token` sets one cluster's connection",
    );
    refused(
        &["node", "list", "--server", "https://10.0.0.1"],
        "`--server`",
    );
    refused(&["--sandbox", "node", "list"], "the sandbox is one cluster");
    refused(&["pods", "stuck", "--all-contexts"], "cannot be used with");
    let run = oncall(
        home.path(),
        &[
            "--kubeconfig",
            k,
            "node",
            "list",
            "--all-contexts",
            "--context",
            "a",
        ],
    );
    let (code, err) = (run.code, run.stderr);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
    let run = oncall(
        home.path(),
        &[
            "--kubeconfig",
            k,
            "--context",
            "a",
            "--context",
            "prod",
            "node",
            "list",
        ],
    );
    let (code, err) = (run.code, run.stderr);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("context `prod` is not in the kubeconfig"),
        "{err}"
    );
}

#[test]
fn no_kubeconfig_at_all_is_explained() {
    let home = tempfile::tempdir().unwrap();
    let Run { stderr: err, .. } = oncall(home.path(), &["node", "list"]).expect_exit(2);
    assert!(err.contains("no kubeconfig found"), "{err}");
    assert!(err.contains("--sandbox"), "suggests the sandbox: {err}");
}

#[test]
fn bad_flag_value_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let Run { stderr: err, .. } =
        oncall(home.path(), &["node", "drain", "n1", "--timeout", "soon"]).expect_exit(2);
    assert!(err.contains("not a duration"), "{err}");
}

/// The API server answers groups without a user with a 500, which read as
/// "overloaded, try again"; kubectl refuses them before asking.
#[test]
fn as_group_without_as_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let args = ["--sandbox", "--as-group", "ops", "node", "list"];
    let Run { stderr: err, .. } = oncall(home.path(), &args).expect_exit(2);
    assert!(err.contains("--as <USER>"), "{err}");
    let args = [
        "--sandbox",
        "--as",
        "alice",
        "--as-group",
        "ops",
        "node",
        "list",
    ];
    oncall(home.path(), &args).expect_exit(0);
}

#[test]
fn sandbox_rejects_an_invalid_seed_with_file_line_and_reason() {
    let home = tempfile::tempdir().unwrap();
    let seed = home.path().join("seed.yaml");
    std::fs::write(
        &seed,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: [unclosed\n",
    )
    .unwrap();
    let Run {
        stdout: out,
        stderr: err,
        ..
    } = oncall(
        home.path(),
        &["sandbox", "serve", "--seed", seed.to_str().unwrap()],
    )
    .expect_exit(2);
    assert!(out.is_empty(), "nothing is served: {out}");
    assert!(
        err.contains(&format!("{}:", seed.display())),
        "names the file: {err}"
    );
    let missing = home.path().join("missing.yaml");
    let Run { stderr: err, .. } = oncall(
        home.path(),
        &["sandbox", "serve", "--seed", missing.to_str().unwrap()],
    )
    .expect_exit(2);
    assert!(err.contains("cannot read seed `"), "{err}");
}

#[test]
fn a_selector_the_api_server_rejects_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let Run { stderr: err, .. } = oncall(
        home.path(),
        &["--sandbox", "node", "list", "-l", "bad selector!!"],
    )
    .expect_exit(2);
    assert!(
        err.contains("invalid label key"),
        "says what is wrong: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

/// `oncall … | head` closes stdout early: the command neither panics nor
/// stops half-way, and still exits with its own code.
#[test]
fn a_closed_stdout_is_not_a_crash() {
    let home = tempfile::tempdir().unwrap();
    let mut child = oncall_in(home.path())
        .args(["--sandbox", "pods", "stuck", "-A"])
        .command()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads: every write to stdout fails with a broken pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "the demo has stuck pods: {stderr}"
    );
}

/// Practice on the built-in sandbox must not mix with the record of real
/// changes: its entries go to their own log, and `oncall --sandbox audit`
/// reads that one.
#[test]
fn sandbox_changes_go_to_the_sandbox_audit_log() {
    let home = tempfile::tempdir().unwrap();
    let node = "gke-demo-pool-b-5b9e7c40-h8j1";
    oncall(home.path(), &["--sandbox", "node", "cordon", node, "--yes"]).expect_exit(0);
    let state = home.path().join("state/oncall");
    assert!(
        !state.join("audit.jsonl").exists(),
        "the real audit log stays untouched"
    );
    let sandbox_log = std::fs::read_to_string(state.join("sandbox-audit.jsonl")).unwrap();
    assert!(sandbox_log.contains(node), "{sandbox_log}");
    let out = oncall(home.path(), &["--sandbox", "audit"])
        .expect_exit(0)
        .stdout;
    assert!(out.contains(node), "{out}");
}

/// Runs oncall on an 80-column pseudo-terminal (so clap and oncall would
/// colour) with `env` added, and returns everything the terminal showed.
fn oncall_on_a_terminal(env: &[(&str, &str)], args: &[&str]) -> String {
    common::oncall()
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .args(args)
        .pty()
        .run()
        .stdout
}

#[test]
fn color_never_and_a_dumb_terminal_reach_clap_help_and_usage_errors() {
    let escapes = |text: &str| text.matches('\u{1b}').count();
    let usage_error = ["node", "drain", "--no-such-flag"];
    let help = ["node", "drain", "--help"];
    // On a terminal clap colours both by default, so the test can fail.
    assert!(escapes(&oncall_on_a_terminal(&[], &usage_error)) > 0);
    assert!(escapes(&oncall_on_a_terminal(&[], &help)) > 0);
    for args in [&usage_error, &help] {
        for flag in [["--color", "never"].as_slice(), &["--color=never"]] {
            let mut with_flag: Vec<&str> = flag.to_vec();
            with_flag.extend_from_slice(args);
            let shown = oncall_on_a_terminal(&[], &with_flag);
            assert_eq!(escapes(&shown), 0, "{with_flag:?}: {shown:?}");
        }
        let shown = oncall_on_a_terminal(&[("TERM", "dumb")], args);
        assert_eq!(escapes(&shown), 0, "TERM=dumb {args:?}: {shown:?}");
        let shown = oncall_on_a_terminal(&[("NO_COLOR", "1")], args);
        assert_eq!(escapes(&shown), 0, "NO_COLOR {args:?}: {shown:?}");
    }
    // TERM=dumb also keeps oncall's own output plain.
    let shown = oncall_on_a_terminal(&[("TERM", "dumb")], &["--sandbox", "pods", "stuck", "-A"]);
    assert!(shown.contains("staging"), "{shown}");
    assert_eq!(escapes(&shown), 0, "{shown:?}");
    let coloured = oncall_on_a_terminal(&[], &["--sandbox", "pods", "stuck", "-A"]);
    assert!(escapes(&coloured) > 0, "{coloured:?}");
}

/// What a user copies from the terminal: the finalizer fix, on one line.
const FINALIZER_FIX: &str = "`kubectl -n staging patch pod legacy-importer --type=merge -p '{\"metadata\":{\"finalizers\":null}}' --dry-run=server`";

/// Every line fits 80 columns, except a command too long for any line,
/// which stands whole on a line of its own.
fn assert_fits_80_columns(shown: &str) {
    for line in shown.lines() {
        let line = line.trim_end();
        let whole_command = line.trim_start().starts_with('`')
            && line.trim_end_matches([')', '.', ',', ';']).ends_with('`');
        assert!(
            line.chars().count() <= 80 || whole_command,
            "{} columns: {line}\n{shown}",
            line.chars().count()
        );
    }
}

#[test]
fn check_and_plan_wrap_to_an_80_column_terminal_with_names_and_commands_whole() {
    let node = "gke-demo-pool-a-8f3c2a1d-q2w8";
    let check = [
        "--sandbox",
        "node",
        "check",
        node,
        "--ignore-daemonsets",
        "--force",
        "--scale-up",
    ];
    let shown = oncall_on_a_terminal(&[("NO_COLOR", "1")], &check);
    assert!(shown.contains("NO-GO"), "{shown}");
    assert_fits_80_columns(&shown);
    assert!(
        shown.lines().any(|l| l.trim() == FINALIZER_FIX),
        "the fix's command is whole: {shown}"
    );
    // The wrapped lines hang under their label, so `fix:` still starts one.
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("    fix: pass --skip-wait-for-delete-timeout")),
        "{shown}"
    );
    let drain = [
        "--sandbox",
        "node",
        "drain",
        node,
        "--ignore-daemonsets",
        "--force",
        "--dry-run",
    ];
    let shown = oncall_on_a_terminal(&[("NO_COLOR", "1")], &drain);
    assert!(shown.contains("Dry run: nothing was changed."), "{shown}");
    assert_fits_80_columns(&shown);
    // The plan's detail moved under its row rather than cutting the node's name.
    assert!(
        shown.lines().any(|l| l.trim() == format!("from {node}")),
        "{shown}"
    );
    // A suggestion is pasted as it is: never cut, even wider than the terminal.
    let shown = oncall_on_a_terminal(
        &[("NO_COLOR", "1")],
        &["--sandbox", "pods", "stuck", "-n", "staging"],
    );
    assert!(
        shown
            .lines()
            .any(|l| l.trim() == format!("→ {}", FINALIZER_FIX.trim_matches('`'))),
        "{shown}"
    );
    // A pipe keeps one line per finding, for grep.
    let home = tempfile::tempdir().unwrap();
    let piped = oncall(home.path(), &check).expect_exit(1);
    assert!(
        piped.stdout.lines().any(
            |l| l.starts_with("    fix: pass --skip-wait-for-delete-timeout")
                && l.ends_with(FINALIZER_FIX)
        ),
        "{}",
        piped.stdout
    );
}

#[test]
fn node_list_fits_an_80_column_terminal_and_keeps_every_column_in_a_pipe() {
    let shown = oncall_on_a_terminal(&[("NO_COLOR", "1")], &["--sandbox", "node", "list"]);
    let table: Vec<&str> = shown
        .lines()
        .filter(|l| l.contains("gke-demo") || l.starts_with("NAME"))
        .collect();
    assert_eq!(table.len(), 7, "{shown}");
    for line in &table {
        assert!(
            line.trim_end().chars().count() <= 80,
            "{} columns: {line}",
            line.len()
        );
    }
    assert!(
        shown.contains("hidden to fit the terminal; -o wide shows them"),
        "{shown}"
    );
    let home = tempfile::tempdir().unwrap();
    let Run { stdout: piped, .. } =
        oncall(home.path(), &["--sandbox", "node", "list"]).expect_exit(0);
    assert!(
        piped.starts_with("NAME") && piped.contains("ZONE") && piped.contains("VERSION"),
        "{piped}"
    );
}
