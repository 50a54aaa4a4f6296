//! Shell completion: the registration scripts, and the dynamic candidates
//! (namespace, node, workload, context and runbook names) read from the
//! cluster that the global flags on the line being completed point at.
//!
//! A completion must never make the shell wait: cluster look-ups give up
//! silently once their budget is spent (see `lookup`).

mod line;
mod lookup;
pub(crate) mod man;
mod shells;

use clap_complete::engine::CompletionCandidate;
use clap_complete::env::{CompleteEnv, EnvCompleter, Shells};

/// Answers the shell and exits when the process was started to complete a
/// command line (`COMPLETE=SHELL oncall -- WORDS`); otherwise returns.
pub(crate) fn complete_if_asked() {
    let adapters: Vec<&dyn EnvCompleter> = shells::ALL.iter().map(|a| a as _).collect();
    CompleteEnv::with_factory(<crate::cli::Cli as clap::CommandFactory>::command)
        .completer("oncall")
        .shells(Shells(&adapters))
        .complete();
}

/// The shells `oncall completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
    /// The `kubectl_complete-oncall` helper that completes `kubectl oncall …`
    Kubectl,
}

/// The registration script for `shell`: it calls back into `oncall` for
/// every completion, so flags and live names are always current. For
/// kubectl it is the `kubectl_complete-oncall` helper.
pub(crate) fn script(shell: Shell) -> String {
    let mut buf = Vec::new();
    shells::Adapter(shell)
        .write_registration("COMPLETE", "oncall", "oncall", "oncall", &mut buf)
        .expect("writing to memory cannot fail");
    String::from_utf8(buf).expect("scripts are UTF-8")
}

/// Contexts of the kubeconfig the line names (`--kubeconfig`), else of
/// KUBECONFIG or `~/.kube/config`, merged as for a command.
pub(crate) fn contexts() -> Vec<CompletionCandidate> {
    let path = line::globals().kubeconfig;
    crate::cluster::kubeconfig::load(path.as_deref())
        .ok()
        .flatten()
        .map(|k| {
            k.contexts
                .into_iter()
                .map(|c| CompletionCandidate::new(c.name))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn namespaces() -> Vec<CompletionCandidate> {
    lookup::names_in(|_| "/api/v1/namespaces".into())
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

pub(crate) fn nodes() -> Vec<CompletionCandidate> {
    lookup::names_in(|_| "/api/v1/nodes".into())
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

/// CronJob names of the namespace, as `cronjob/NAME`.
pub(crate) fn cronjobs() -> Vec<CompletionCandidate> {
    lookup::names_in(|c| format!("/apis/batch/v1/namespaces/{}/cronjobs", c.namespace))
        .into_iter()
        .map(|name| CompletionCandidate::new(format!("cronjob/{name}")))
        .collect()
}

/// Workloads of the namespace in force, both as bare names (`frontend`,
/// what people type) and as `deployment/frontend`.
pub(crate) fn workloads() -> Vec<CompletionCandidate> {
    const KINDS: [(&str, &str); 3] = [
        ("deployment", "deployments"),
        ("statefulset", "statefulsets"),
        ("daemonset", "daemonsets"),
    ];
    let lists = lookup::names(|c| {
        KINDS
            .iter()
            .map(|(_, resource)| format!("/apis/apps/v1/namespaces/{}/{resource}", c.namespace))
            .collect()
    });
    let mut bare: Vec<(String, Vec<&str>)> = Vec::new();
    let mut typed = Vec::new();
    for ((kind, _), names) in KINDS.iter().zip(lists) {
        for name in names {
            typed.push(CompletionCandidate::new(format!("{kind}/{name}")));
            match bare.iter_mut().find(|(n, _)| *n == name) {
                Some((_, kinds)) => kinds.push(kind),
                None => bare.push((name, vec![kind])),
            }
        }
    }
    bare.into_iter()
        .map(|(name, kinds)| CompletionCandidate::new(name).help(Some(kinds.join(", ").into())))
        .chain(typed)
        .collect()
}

/// Secret names in the namespace, for `secret consumers` and `secret rotate`.
pub(crate) fn secrets() -> Vec<CompletionCandidate> {
    lookup::names_in(|c| format!("/api/v1/namespaces/{}/secrets", c.namespace))
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

/// Run ids for `runbook resume` and `runbook log`, newest first.
pub(crate) fn runbook_runs() -> Vec<CompletionCandidate> {
    crate::runbook::journal::run_ids()
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

pub(crate) fn runbooks() -> Vec<CompletionCandidate> {
    crate::runbook::available_names()
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

/// `--set KEY=VALUE` of `runbook run NAME`: the runbook's parameters, then
/// the values its completion source offers (nodes, workloads, contexts, or
/// the `enum` values).
pub(crate) fn runbook_settings(current: &std::ffi::OsStr) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let Some(params) = runbook_being_run().map(|rb| rb.params) else {
        return Vec::new();
    };
    let Some((key, _)) = current.split_once('=') else {
        return params
            .iter()
            .filter(|p| p.name.starts_with(current.as_ref()))
            .map(|p| {
                CompletionCandidate::new(format!("{}=", p.name))
                    .help((!p.description.is_empty()).then(|| p.description.clone().into()))
            })
            .collect();
    };
    let Some(param) = params.iter().find(|p| p.name == key) else {
        return Vec::new();
    };
    let values = if !param.choices.is_empty() {
        param.choices.iter().map(CompletionCandidate::new).collect()
    } else {
        match param.complete.as_deref() {
            Some("nodes") => nodes(),
            Some("workloads") => workloads(),
            Some("contexts") => contexts(),
            Some("namespaces") => namespaces(),
            Some("pods") => {
                lookup::names_in(|c| format!("/api/v1/namespaces/{}/pods", c.namespace))
                    .into_iter()
                    .map(CompletionCandidate::new)
                    .collect()
            }
            _ => Vec::new(),
        }
    };
    values
        .into_iter()
        .map(|c| format!("{key}={}", c.get_value().to_string_lossy()))
        .filter(|setting| setting.starts_with(current.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}

/// The runbook named after `runbook run` on the command line being completed.
fn runbook_being_run() -> Option<crate::runbook::model::Runbook> {
    let args = line::before();
    let run = args
        .windows(2)
        .position(|w| w[0] == "runbook" && w[1] == "run")?;
    let name = args[run + 2..].iter().find(|a| !a.starts_with('-'))?;
    let source = crate::runbook::find(name).ok()?;
    crate::runbook::load(&source).ok()
}
