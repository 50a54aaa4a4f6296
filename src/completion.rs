//! Shell completion: the registration scripts and the dynamic candidates
//! (node, workload, context and runbook names) read from the live cluster.
//!
//! A completion must never make the shell wait: cluster look-ups give up
//! silently after one second, or `ONCALL_COMPLETION_TIMEOUT` (a VPN to a
//! far-away cluster may need more, an impatient user less).

use std::time::Duration;

use clap_complete::engine::CompletionCandidate;
use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};

use crate::cli::Shell;
use crate::cluster::list::{self, ListQuery};
use crate::cluster::{self, ConnectOptions};

const DEFAULT_BUDGET: Duration = Duration::from_secs(1);

/// How long a completion may spend asking the cluster.
fn budget() -> Duration {
    std::env::var("ONCALL_COMPLETION_TIMEOUT")
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .unwrap_or(DEFAULT_BUDGET)
}

/// The registration script for `shell`: it calls back into `oncall` for
/// every completion, so flags and live names are always current.
pub fn script(shell: Shell) -> String {
    let completer: &dyn EnvCompleter = match shell {
        Shell::Bash => &Bash,
        Shell::Zsh => &Zsh,
        Shell::Fish => &Fish,
        Shell::Powershell => &Powershell,
        Shell::Elvish => &Elvish,
    };
    let mut buf = Vec::new();
    completer
        .write_registration("COMPLETE", "oncall", "oncall", "oncall", &mut buf)
        .expect("writing to memory cannot fail");
    String::from_utf8(buf).expect("scripts are UTF-8")
}

/// The committed file name of each shell's script in `completions/`.
pub fn file_name(shell: Shell) -> &'static str {
    match shell {
        Shell::Bash => "oncall.bash",
        Shell::Zsh => "_oncall",
        Shell::Fish => "oncall.fish",
        Shell::Powershell => "_oncall.ps1",
        Shell::Elvish => "oncall.elv",
    }
}

pub fn contexts() -> Vec<CompletionCandidate> {
    kube::config::Kubeconfig::read()
        .map(|k| {
            k.contexts
                .into_iter()
                .map(|c| CompletionCandidate::new(c.name))
                .collect()
        })
        .unwrap_or_default()
}

pub fn nodes() -> Vec<CompletionCandidate> {
    names_from_cluster(|_| "/api/v1/nodes".to_string())
}

/// CronJob names of the namespace, as `cronjob/NAME`.
pub fn cronjobs() -> Vec<CompletionCandidate> {
    names_from_cluster(|ns| format!("/apis/batch/v1/namespaces/{ns}/cronjobs"))
        .into_iter()
        .map(|c| {
            let name = c.get_value().to_string_lossy().to_string();
            CompletionCandidate::new(format!("cronjob/{name}"))
        })
        .collect()
}

pub fn workloads() -> Vec<CompletionCandidate> {
    let mut all = Vec::new();
    for (kind, resource) in [
        ("deployment", "deployments"),
        ("statefulset", "statefulsets"),
        ("daemonset", "daemonsets"),
    ] {
        let names = names_from_cluster(|ns| format!("/apis/apps/v1/namespaces/{ns}/{resource}"));
        all.extend(names.into_iter().map(|c| {
            let name = c.get_value().to_string_lossy().to_string();
            CompletionCandidate::new(format!("{kind}/{name}"))
        }));
    }
    all
}

/// Run ids for `runbook resume` and `runbook log`, newest first.
pub fn runbook_runs() -> Vec<CompletionCandidate> {
    crate::runbook::journal::run_ids()
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

pub fn runbooks() -> Vec<CompletionCandidate> {
    crate::runbook::available_names()
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

/// `--set KEY=VALUE` of `runbook run NAME`: the runbook's parameters, then
/// the values its completion source offers (nodes, workloads, contexts, or
/// the `enum` values).
pub fn runbook_settings(current: &std::ffi::OsStr) -> Vec<CompletionCandidate> {
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
            Some("namespaces") => names_from_cluster(|_| "/api/v1/namespaces".to_string()),
            Some("pods") => names_from_cluster(|ns| format!("/api/v1/namespaces/{ns}/pods")),
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
    let args: Vec<String> = std::env::args().collect();
    let run = args
        .windows(2)
        .position(|w| w[0] == "runbook" && w[1] == "run")?;
    let name = args[run + 2..].iter().find(|a| !a.starts_with('-'))?;
    let source = crate::runbook::find(name).ok()?;
    crate::runbook::load(&source).ok()
}

#[derive(serde::Deserialize)]
struct NameOnly {
    metadata: Meta,
}

#[derive(serde::Deserialize)]
struct Meta {
    name: String,
}

/// Lists names from the cluster of the current context within the budget;
/// any failure or delay yields nothing rather than an error in the shell.
fn names_from_cluster(path: impl Fn(&str) -> String) -> Vec<CompletionCandidate> {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    runtime.block_on(async {
        let work = async {
            let cluster = cluster::connect(&ConnectOptions::default()).await.ok()?;
            let query = ListQuery::new(path(&cluster.namespace));
            let (items, _) = list::collect::<NameOnly>(&cluster.client, &query)
                .await
                .ok()?;
            Some(
                items
                    .into_iter()
                    .map(|i| CompletionCandidate::new(i.metadata.name))
                    .collect(),
            )
        };
        tokio::time::timeout(budget(), work)
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
    })
}
