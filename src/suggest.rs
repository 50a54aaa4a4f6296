//! Commands oncall prints for the user to run next, built in one place.
//!
//! A suggestion is pasted at 3 a.m. as it is, so it must act on the cluster
//! the user was looking at: it carries the `--kubeconfig` and `--context` the
//! user gave (without them a pasted command acts on the kubeconfig's current
//! context), `--sandbox` for oncall itself, and names oncall the way it was
//! invoked (`kubectl oncall` when run as a kubectl plugin).

use std::ffi::OsStr;
use std::path::Path;
use std::sync::OnceLock;

/// What every suggestion must repeat from the command line it answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Connection {
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    /// The built-in simulated cluster: only oncall can reach it.
    pub sandbox: bool,
}

static PROGRAM: OnceLock<String> = OnceLock::new();
static CONNECTION: OnceLock<Connection> = OnceLock::new();

tokio::task_local! {
    /// The context of the cluster being asked, when one command asks several
    /// at once: each answer's suggestions must act on its own cluster.
    static CONTEXT: String;
}

/// The name to show for a binary started as `argv0`: kubectl runs a plugin
/// `kubectl-oncall` for `kubectl oncall`, and that is what the user typed.
pub(crate) fn program_for(argv0: &OsStr) -> String {
    let file = Path::new(argv0)
        .file_name()
        .and_then(OsStr::to_str)
        .unwrap_or("oncall");
    match file.strip_prefix("kubectl-") {
        Some(plugin) if !plugin.is_empty() => format!("kubectl {}", plugin.replace('_', "-")),
        _ => "oncall".to_string(),
    }
}

/// Records how oncall was invoked; the first call wins.
pub(crate) fn set_program(name: String) {
    let _ = PROGRAM.set(name);
}

/// Records the connection flags to repeat; the first call wins.
pub(crate) fn set_connection(connection: Connection) {
    let _ = CONNECTION.set(connection);
}

/// `oncall`, or `kubectl oncall` when run as a kubectl plugin.
pub(crate) fn program() -> &'static str {
    PROGRAM.get().map(String::as_str).unwrap_or("oncall")
}

fn connection() -> Connection {
    let mut c = CONNECTION.get().cloned().unwrap_or_default();
    if let Ok(context) = CONTEXT.try_with(String::clone) {
        c.context = Some(context);
    }
    c
}

/// Runs `work` with every suggestion it makes naming `context`, so the
/// answers of several clusters asked at once each point at their own.
pub(crate) async fn in_context<F: std::future::Future>(context: String, work: F) -> F::Output {
    CONTEXT.scope(context, work).await
}

/// `oncall ARGS`, with the connection flags the user gave.
pub(crate) fn oncall(args: &str) -> String {
    oncall_with(program(), &connection(), args)
}

/// `kubectl ARGS`, with the connection flags the user gave.
pub(crate) fn kubectl(args: &str) -> String {
    kubectl_with(&connection(), args)
}

/// `kubectl ARGS` on the cluster of `context`, whatever context the
/// command was given: for what one cluster of several said (a promotion's
/// target in a context of its own).
pub(crate) fn kubectl_in(context: &str, args: &str) -> String {
    let mut c = CONNECTION.get().cloned().unwrap_or_default();
    c.context = Some(context.to_string());
    kubectl_with(&c, args)
}

/// Under `--sandbox`, the line to show after `text` when it suggests a
/// kubectl command: the sandbox lives only as long as this command, so a
/// pasted kubectl command would reach the kubeconfig's cluster instead.
pub(crate) fn sandbox_kubectl_note(text: &str) -> Option<String> {
    if !connection().sandbox {
        return None;
    }
    let program = program();
    // `kubectl oncall …`, when run as a plugin, is oncall itself.
    if !text.replace(program, "").contains("kubectl ") {
        return None;
    }
    // `sandbox serve` starts a cluster of its own: no connection flags.
    Some(format!(
        "kubectl cannot reach this sandbox: to try the kubectl suggestions, run \
         `{program} sandbox serve --kubeconfig-out sandbox.kubeconfig` and pass that kubeconfig to \
         both tools"
    ))
}

fn oncall_with(program: &str, c: &Connection, args: &str) -> String {
    let mut line = program.to_string();
    if c.sandbox {
        line.push_str(" --sandbox");
    }
    push_flags(&mut line, c);
    format!("{line} {args}")
}

fn kubectl_with(c: &Connection, args: &str) -> String {
    // kubectl cannot reach the in-process sandbox: flags would not help.
    let mut line = "kubectl".to_string();
    push_flags(&mut line, c);
    format!("{line} {args}")
}

fn push_flags(line: &mut String, c: &Connection) {
    if let Some(k) = &c.kubeconfig {
        line.push_str(&format!(" --kubeconfig {}", quote(k)));
    }
    if let Some(x) = &c.context {
        line.push_str(&format!(" --context {}", quote(x)));
    }
}

/// Quotes for a POSIX shell only when needed (an EKS context ARN is fine
/// bare; a path with a space is not).
pub(crate) fn quote(word: &str) -> String {
    shlex::try_quote(word)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| word.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_is_named_as_kubectl_runs_it() {
        assert_eq!(
            program_for(OsStr::new("/usr/bin/kubectl-oncall")),
            "kubectl oncall"
        );
        assert_eq!(program_for(OsStr::new("oncall")), "oncall");
        assert_eq!(program_for(OsStr::new("./target/debug/oncall")), "oncall");
    }

    #[test]
    fn suggestions_repeat_the_connection_flags() {
        let c = Connection {
            kubeconfig: Some("/tmp/my configs/k".into()),
            context: Some("arn:aws:eks:eu-west-1:1:cluster/prod".into()),
            sandbox: false,
        };
        assert_eq!(
            oncall_with("kubectl oncall", &c, "node uncordon n1"),
            "kubectl oncall --kubeconfig '/tmp/my configs/k' --context arn:aws:eks:eu-west-1:1:cluster/prod node uncordon n1"
        );
        assert_eq!(
            kubectl_with(&c, "-n a get pods"),
            "kubectl --kubeconfig '/tmp/my configs/k' --context arn:aws:eks:eu-west-1:1:cluster/prod -n a get pods"
        );
        let plain = Connection::default();
        assert_eq!(oncall_with("oncall", &plain, "audit"), "oncall audit");
        let sandbox = Connection {
            sandbox: true,
            ..Connection::default()
        };
        assert_eq!(
            oncall_with("oncall", &sandbox, "node list"),
            "oncall --sandbox node list"
        );
    }

    #[tokio::test]
    async fn answers_of_several_clusters_each_name_their_context() {
        let (left, right) = tokio::join!(
            in_context("left".into(), async { kubectl("get nodes") }),
            in_context("right".into(), async { oncall("node list") }),
        );
        assert_eq!(left, "kubectl --context left get nodes");
        assert_eq!(right, "oncall --context right node list");
        assert_eq!(kubectl("get nodes"), "kubectl get nodes");
    }
}
