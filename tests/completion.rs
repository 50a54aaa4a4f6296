//! Completion as users meet it: through the real bash, zsh and fish
//! completion functions (the scripts `oncall completions SHELL` prints) and
//! through kubectl's plugin completion (`kubectl oncall <TAB>`).
//!
//! bash and zsh run their completion functions without a terminal: the
//! test sets the variables the shell would set (for bash, the words split
//! at COMP_WORDBREAKS as readline splits them) and zsh's `_describe` prints
//! what it would offer. fish answers `complete -C LINE` itself.

mod common;
use common::*;

use std::path::{Path, PathBuf};

const ARN: &str = "arn:aws:eks:us-east-1:123456789012:cluster/prod";

/// The demo cluster, a kubeconfig whose current context `dead` points
/// nowhere (contexts `live` and an EKS ARN point at the cluster, without a
/// namespace), and a PATH with `oncall`, `kubectl-oncall` and the
/// `kubectl_complete-oncall` helper. KUBECONFIG names a file that does not
/// exist: only `--kubeconfig` on the line finds the cluster.
struct Bed {
    _cluster: Harness,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    path: std::ffi::OsString,
}

impl Bed {
    fn new() -> Bed {
        let cluster = Harness::demo();
        let dir = tempfile::tempdir().unwrap();
        let url = cluster.sim().url();
        let kubeconfig = dir.path().join("kube.yaml");
        kubeconfig::Kubeconfig::new()
            .cluster("dead", "http://127.0.0.1:1")
            .cluster("live", &url)
            .user("u", serde_json::json!({"token": "t"}))
            .context("dead", "dead", "u")
            .context("live", "live", "u")
            .context(ARN, "live", "u")
            .current("dead")
            .write(&kubeconfig);
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let oncall = Path::new(env!("CARGO_BIN_EXE_oncall"));
        std::os::unix::fs::symlink(oncall, bin.join("oncall")).unwrap();
        std::os::unix::fs::symlink(oncall, bin.join("kubectl-oncall")).unwrap();
        let mut path = bin.clone().into_os_string();
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        let bed = Bed {
            _cluster: cluster,
            dir,
            kubeconfig,
            path,
        };
        let helper = bin.join("kubectl_complete-oncall");
        std::fs::write(&helper, bed.script("kubectl")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        bed
    }

    fn command(&self, program: &str) -> Cmd {
        let home = self.dir.path();
        Cmd::new(program)
            .env("PATH", &self.path)
            .env("HOME", home)
            .env("KUBECONFIG", home.join("missing"))
            .env("XDG_STATE_HOME", home.join("state"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("ONCALL_COMPLETION_TIMEOUT", "20s")
            .current_dir(home)
    }

    fn script(&self, shell: &str) -> String {
        self.command("oncall")
            .args(["completions", shell])
            .run()
            .expect_exit(0)
            .stdout
    }

    /// `line` with `{K}` standing for `--kubeconfig FILE`.
    fn line(&self, line: &str) -> String {
        line.replace(
            "{K}",
            &format!("--kubeconfig {}", self.kubeconfig.display()),
        )
    }

    fn run(&self, shell: &str, code: &str, args: &[&str]) -> Vec<String> {
        assert!(
            which(shell).is_some(),
            "cannot run {shell}: install it (apt-get install zsh fish)"
        );
        self.command(shell)
            .args(args)
            .arg(code)
            .run()
            .expect_exit(0)
            .stdout
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// What bash puts in COMPREPLY for `line`, the cursor at its end.
    fn bash(&self, line: &str) -> Vec<String> {
        let line = self.line(line);
        let words = readline_words(&line);
        let cword = words.len() - 1;
        // readline's word under the cursor starts after the last break.
        let cur = if words[cword].chars().all(|c| "=:".contains(c)) {
            ""
        } else {
            &words[cword]
        };
        let quoted: Vec<String> = words.iter().map(|w| sh_quote(w)).collect();
        let code = format!(
            "source {script}\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\nCOMP_LINE={line}\nCOMP_POINT=${{#COMP_LINE}}\nCOMP_TYPE=9\n_clap_complete_oncall oncall {cur} {prev}\nfor c in \"${{COMPREPLY[@]}}\"; do printf '%s\\n' \"$c\"; done\n",
            script = sh_quote(&self.write_script("bash")),
            words = quoted.join(" "),
            line = sh_quote(&line),
            cur = sh_quote(cur),
            prev = sh_quote(words.get(cword.wrapping_sub(1)).map_or("", |w| w)),
        );
        self.run("bash", &code, &["--norc", "--noprofile", "-c"])
    }

    /// What zsh's completion function offers for `line`.
    fn zsh(&self, line: &str) -> Vec<String> {
        let line = self.line(line);
        let mut words: Vec<&str> = line.split_whitespace().collect();
        if line.ends_with(' ') {
            words.push("");
        }
        let quoted: Vec<String> = words.iter().map(|w| sh_quote(w)).collect();
        let code = format!(
            "compdef() {{ :; }}\n_describe() {{ print -rl -- \"${{(@P)3}}\"; }}\nsource {script}\nwords=({words})\nCURRENT={current}\n_clap_dynamic_completer_oncall\n",
            script = sh_quote(&self.write_script("zsh")),
            words = quoted.join(" "),
            current = words.len(),
        );
        self.run("zsh", &code, &["-f", "-c"])
            .iter()
            .map(|entry| zsh_value(entry))
            .collect()
    }

    /// What fish offers for `line`.
    fn fish(&self, line: &str) -> Vec<String> {
        let line = self.line(line);
        let code = format!(
            "source {}; complete -C {}",
            fish_quote(&self.write_script("fish")),
            fish_quote(&line)
        );
        self.run("fish", &code, &["--no-config", "-c"])
            .iter()
            .map(|l| l.split('\t').next().unwrap_or_default().to_string())
            .collect()
    }

    /// What kubectl's own completion offers for `kubectl LINE` (its
    /// `__complete` is what kubectl's bash, zsh and fish scripts call).
    fn kubectl(&self, line: &str) -> Vec<String> {
        let line = self.line(line);
        let mut words: Vec<&str> = line.split_whitespace().collect();
        if line.ends_with(' ') {
            words.push("");
        }
        self.command("kubectl")
            .arg("__complete")
            .args(&words)
            .run()
            .expect_exit(0)
            .stdout
            .lines()
            .take_while(|l| !l.starts_with(':'))
            .map(|l| l.split('\t').next().unwrap_or_default().to_string())
            .collect()
    }

    fn write_script(&self, shell: &str) -> String {
        let path = self.dir.path().join(format!("completion.{shell}"));
        if !path.exists() {
            std::fs::write(&path, self.script(shell)).unwrap();
        }
        path.display().to_string()
    }

    /// The same line through every shell.
    fn every_shell(&self, line: &str) -> Vec<(&'static str, Vec<String>)> {
        vec![
            ("bash", self.bash(line)),
            ("zsh", self.zsh(line)),
            ("fish", self.fish(line)),
        ]
    }
}

/// The words bash hands a completion function: split at blanks, and each
/// run of `=` or `:` (in COMP_WORDBREAKS) a word of its own.
fn readline_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    for token in line.split_whitespace() {
        let mut word = String::new();
        for c in token.chars() {
            let is_break = "=:".contains(c);
            let last_break = word.chars().last().is_some_and(|l| "=:".contains(l));
            if !word.is_empty() && is_break != last_break {
                words.push(std::mem::take(&mut word));
            }
            word.push(c);
        }
        words.push(word);
    }
    if line.ends_with(' ') {
        words.push(String::new());
    }
    words
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn fish_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', r"\\").replace('\'', r"\'"))
}

/// The value of a zsh `_describe` entry `value:help` (`\:` is a colon in
/// the value).
fn zsh_value(entry: &str) -> String {
    let mut value = String::new();
    let mut chars = entry.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => value.extend(chars.next()),
            ':' => break,
            c => value.push(c),
        }
    }
    value
}

#[test]
fn completion_asks_the_cluster_and_namespace_given_on_the_line() {
    let bed = Bed::new();
    for (shell, got) in bed.every_shell("oncall {K} --context live -n production restart fr") {
        assert_eq!(got, ["frontend"], "{shell}: a bare name completes");
    }
    let line = "oncall {K} --context live --namespace=production restart deployment/fr";
    for (shell, got) in bed.every_shell(line) {
        assert_eq!(got, ["deployment/frontend"], "{shell}: the kind/name form");
    }
    for (shell, got) in bed.every_shell("oncall {K} --context live restart fr") {
        assert!(
            got.is_empty(),
            "{shell}: the default namespace has no frontend: {got:?}"
        );
    }
}

#[test]
fn namespaces_and_contexts_complete() {
    let bed = Bed::new();
    for (shell, got) in bed.every_shell("oncall {K} --context live -n ") {
        for ns in ["production", "staging", "kube-system"] {
            assert!(got.contains(&ns.to_string()), "{shell}: {ns} in {got:?}");
        }
    }
    // `pods stuck` and `node list` take `--context` more than once.
    for line in [
        "oncall {K} --context ",
        "oncall {K} --context live --context ",
        "oncall {K} pods stuck --context dead --context ",
    ] {
        for (shell, got) in bed.every_shell(line) {
            for context in ["dead", "live"] {
                assert!(
                    got.contains(&context.to_string()),
                    "{shell}: {context} in {got:?} for `{line}`"
                );
            }
        }
    }
}

/// Bash splits `arn:aws:eks:…` at each `:` and `node=x` at `=`; what it
/// inserts must still make the whole word.
#[test]
fn bash_completes_across_equals_signs_and_colons() {
    let bed = Bed::new();
    assert_eq!(
        bed.bash("oncall {K} --context arn:aws:eks:us-east-1:1"),
        ["123456789012:cluster/prod"],
        "bash replaces only what follows the last colon"
    );
    assert_eq!(bed.zsh("oncall {K} --context arn:aws:eks:us"), [ARN]);
    assert_eq!(bed.fish("oncall {K} --context arn:aws:eks:us"), [ARN]);

    let line = "oncall {K} --context live runbook run replace-node --set node=";
    let nodes = bed.bash(line);
    assert!(
        nodes.contains(&"gke-demo-pool-a-8f3c2a1d-m4p9".to_string()),
        "node names after `node=`: {nodes:?}"
    );
    assert!(
        nodes.iter().all(|n| n.starts_with("gke-demo-")),
        "{nodes:?}"
    );
    assert_eq!(
        bed.bash(&format!("{line}gke-demo-pool-a-8f3c2a1d-m")),
        ["gke-demo-pool-a-8f3c2a1d-m4p9"]
    );
    let settings = bed.fish(line);
    assert!(
        settings.contains(&"node=gke-demo-pool-a-8f3c2a1d-m4p9".to_string()),
        "{settings:?}"
    );
    // A context named on the line with `=` is read too.
    assert_eq!(
        bed.bash("oncall {K} --context=live -n=production restart fr"),
        ["frontend"]
    );
}

#[test]
fn flags_are_offered_only_after_a_dash_in_every_shell() {
    let bed = Bed::new();
    for (shell, got) in bed.every_shell("oncall {K} --context live node drain ") {
        assert!(
            got.contains(&"gke-demo-pool-a-8f3c2a1d-m4p9".to_string()),
            "{shell}: nodes: {got:?}"
        );
        assert!(!got.iter().any(|c| c.starts_with('-')), "{shell}: {got:?}");
    }
    for (shell, got) in bed.every_shell("oncall node drain --igno") {
        assert_eq!(got, ["--ignore-daemonsets"], "{shell}");
    }
}

/// `kubectl oncall <TAB>`: kubectl 1.26 and newer run the
/// `kubectl_complete-oncall` helper found on PATH.
#[test]
fn kubectl_oncall_completes_through_the_helper() {
    let bed = Bed::new();
    let version = bed
        .command("kubectl")
        .args(["version", "--client", "-o", "json"])
        .run()
        .json();
    let minor: u32 = version["clientVersion"]["minor"]
        .as_str()
        .and_then(|m| m.trim_end_matches('+').parse().ok())
        .unwrap_or_default();
    assert!(
        minor >= 26,
        "plugin completion needs kubectl 1.26 or newer on PATH; found {version}"
    );
    let commands = bed.kubectl("oncall ");
    for command in ["node", "restart", "runbook"] {
        assert!(commands.contains(&command.to_string()), "{commands:?}");
    }
    assert!(!commands.iter().any(|c| c.starts_with('-')), "{commands:?}");
    assert_eq!(
        bed.kubectl("oncall {K} --context live -n production restart fr"),
        ["frontend"]
    );
}
