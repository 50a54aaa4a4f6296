//! The audit log: one JSON line per mutating command, in
//! `$XDG_STATE_HOME/oncall/audit.jsonl`, readable only by its owner.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Answer, Plan};
use crate::cluster::Cluster;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub time: DateTime<Utc>,
    pub user: String,
    /// Who the API server knows us as (SelfSubjectReview), or the
    /// kubeconfig's user name when it will not say.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kube_user: String,
    pub context: String,
    pub cluster: String,
    /// The command line, with secret values redacted.
    pub argv: Vec<String>,
    pub plan: serde_json::Value,
    pub answer: serde_json::Value,
    pub outcome: Outcome,
}

/// How an operation ended, as the log records it (`ok`, `failed`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// Everything asked for was done.
    Ok,
    /// It stopped on an error; `done` and `not_done` say how far it got.
    Failed,
    /// Stopped by Ctrl-C, SIGTERM or SIGHUP.
    Interrupted,
    /// A wait ran out of time.
    TimedOut,
    /// Nothing was changed: declined, refused, or nothing to do.
    Nothing,
    /// A status written by another version of oncall: kept readable, so
    /// that one newer line does not hide the history.
    #[serde(other)]
    Unknown,
}

impl Status {
    /// The status an error that ended the operation stands for.
    pub(crate) fn of(err: &Error) -> Self {
        match err {
            Error::Interrupted { .. } => Status::Interrupted,
            Error::TimedOut { .. } => Status::TimedOut,
            _ => Status::Failed,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
            Status::TimedOut => "timed_out",
            Status::Nothing => "nothing",
            Status::Unknown => "unknown",
        }
    }
}

/// What happened after the answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Outcome {
    pub status: Status,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub done: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_done: Vec<String>,
}

impl Outcome {
    pub(crate) fn nothing() -> Self {
        Outcome::new(Status::Nothing, "")
    }

    /// Quit at once by a second signal, in the middle of the operation.
    pub(crate) fn cut_short() -> Self {
        Outcome::new(
            Status::Interrupted,
            "quit at once by a second signal in the middle of the operation: what was under way may be half done; check the objects in the plan",
        )
    }

    pub(crate) fn ok(detail: impl Into<String>) -> Self {
        Outcome::new(Status::Ok, detail)
    }

    pub(crate) fn new(status: Status, detail: impl Into<String>) -> Self {
        Outcome {
            status,
            detail: detail.into(),
            done: Vec::new(),
            not_done: Vec::new(),
        }
    }

    /// The outcome for an error that ended the operation.
    pub(crate) fn from_error(err: &Error) -> Self {
        Outcome::new(Status::of(err), err.to_string())
    }
}

/// Whether this process works on the built-in sandbox, whose practice runs
/// must not mix with the record of real changes.
static SANDBOX: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sends this process's entries (and `oncall audit`'s reads) to the sandbox
/// log, `sandbox-audit.jsonl`, beside the real one.
pub(crate) fn use_sandbox_log() {
    SANDBOX.store(true, std::sync::atomic::Ordering::SeqCst);
}

pub(crate) fn path() -> Option<PathBuf> {
    let name = if SANDBOX.load(std::sync::atomic::Ordering::SeqCst) {
        "sandbox-audit.jsonl"
    } else {
        "audit.jsonl"
    };
    crate::config::state_dir().map(|d| d.join(name))
}

/// Appends one entry. A command that changed the cluster must not pretend
/// it left a record, so failing to write is an error.
pub(crate) fn record(
    cluster: &Cluster,
    plan: &Plan,
    answer: Answer,
    outcome: &Outcome,
) -> Result<()> {
    Pending::new(cluster, plan, answer).write(outcome)
}

/// An entry whose outcome is not known yet: who asked, where, the plan and
/// the answer, taken before the operation starts, so that it can still be
/// written if the process has to quit in the middle.
#[derive(Debug, Clone)]
pub(crate) struct Pending(Entry);

impl Pending {
    pub(crate) fn new(cluster: &Cluster, plan: &Plan, answer: Answer) -> Self {
        let entry = entry(
            &cluster.context,
            &cluster.url,
            plan,
            answer,
            &Outcome::nothing(),
        );
        Pending(Entry {
            kube_user: cluster.identity_known(),
            ..entry
        })
    }

    /// Writes the entry with how the operation ended, stamped now.
    pub(crate) fn write(&self, outcome: &Outcome) -> Result<()> {
        append(&Entry {
            time: Utc::now(),
            outcome: outcome.clone(),
            ..self.0.clone()
        })
    }
}

/// Like `record`, for a runbook's steps: the context and URL are given,
/// and the connection, when the run has one, names the Kubernetes identity
/// (a local command's step has none).
pub(crate) fn record_at(
    context: &str,
    cluster_url: &str,
    cluster: Option<&Cluster>,
    plan: &Plan,
    answer: Answer,
    outcome: &Outcome,
) -> Result<()> {
    let entry = entry(context, cluster_url, plan, answer, outcome);
    append(&Entry {
        kube_user: cluster.map(Cluster::identity_known).unwrap_or_default(),
        ..entry
    })
}

fn entry(
    context: &str,
    cluster_url: &str,
    plan: &Plan,
    answer: Answer,
    outcome: &Outcome,
) -> Entry {
    Entry {
        time: Utc::now(),
        user: os_user(),
        kube_user: String::new(),
        context: context.to_string(),
        cluster: cluster_url.to_string(),
        argv: redact_argv(std::env::args())
            .into_iter()
            .map(|a| hide_registered(&a))
            .collect(),
        plan: serde_json::to_value(plan).unwrap_or_default(),
        answer: serde_json::to_value(answer).unwrap_or_default(),
        outcome: outcome.clone(),
    }
}

/// Refuses to go on when the audit log cannot be written, before anything
/// is changed: a change must never be made without its record (exit 2).
pub(crate) fn check_writable() -> Result<()> {
    let path = path().ok_or(Error::NoAuditHome)?;
    open(&path).map(drop).map_err(|e| Error::AuditNotWritable {
        reason: e.to_string(),
        path,
    })
}

/// Opens the log for appending (0600), creating its directory (0700).
fn open(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        crate::config::create_private_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn append(entry: &Entry) -> Result<()> {
    let path = path().ok_or(Error::NoAuditHome)?;
    let fail = |e: &dyn std::fmt::Display| Error::AuditWriteFailed {
        path: path.clone(),
        reason: e.to_string(),
    };
    let mut file = open(&path).map_err(|e| fail(&e))?;
    let mut line = serde_json::to_string(entry).map_err(|e| fail(&e))?;
    line.push('\n');
    file.write_all(line.as_bytes()).map_err(|e| fail(&e))
}

/// Reads entries newer than `since` (all when `None`). Lines that do not
/// parse are skipped: a damaged line must not hide the rest of the history.
pub(crate) fn read(since: Option<DateTime<Utc>>) -> Result<Vec<Entry>> {
    let Some(path) = path() else {
        return Ok(Vec::new());
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::AuditUnreadable {
                reason: e.to_string(),
                path,
            });
        }
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
        .filter(|e| since.is_none_or(|s| e.time >= s))
        .collect())
}

/// The operating-system user running oncall, from the process's uid: `$USER`
/// is unset in cron, CI and most containers, and anyone can set it. A uid
/// with no account (common in containers) is recorded as `uid N`.
pub(crate) fn os_user() -> String {
    #[cfg(unix)]
    {
        let uid = unsafe { libc::getuid() };
        account_name(uid).unwrap_or_else(|| format!("uid {uid}"))
    }
    #[cfg(not(unix))]
    {
        std::env::var("USERNAME").unwrap_or_else(|_| "unknown".into())
    }
}

#[cfg(unix)]
fn account_name(uid: libc::uid_t) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: getpwuid_r writes only into `pwd` and `buf`, both owned here
    // and alive for the call; `found` is null or points at `pwd`.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points at a NUL-terminated string in `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned()).filter(|n| !n.is_empty())
}

/// Values known to be secret in this process (for example a runbook's
/// secret parameters), hidden wherever they appear on the command line.
static SECRETS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Registers a secret value so the audit log never shows it.
pub(crate) fn register_secret(value: &str) {
    if !value.is_empty()
        && let Ok(mut s) = SECRETS.lock()
    {
        s.push(value.to_string());
        s.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }
}

fn hide_registered(arg: &str) -> String {
    let mut out = arg.to_string();
    if let Ok(secrets) = SECRETS.lock() {
        for s in secrets.iter() {
            out = out.replace(s.as_str(), "<redacted>");
        }
    }
    out
}

const SECRET_WORDS: [&str; 5] = ["password", "token", "secret", "key", "credential"];

/// Replaces secret values on a command line: `--set password=x` and
/// `--token x` style arguments.
pub(crate) fn redact_argv(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut hide_next = false;
    for arg in args {
        if hide_next {
            out.push("<redacted>".into());
            hide_next = false;
            continue;
        }
        let lower = arg.to_lowercase();
        let is_secret_word = |s: &str| SECRET_WORDS.iter().any(|w| s.contains(w));
        if let Some((key, _)) = arg.split_once('=') {
            if is_secret_word(&key.to_lowercase()) {
                out.push(format!("{key}=<redacted>"));
                continue;
            }
        } else if lower.starts_with("--") && is_secret_word(&lower) {
            hide_next = true;
        }
        out.push(arg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_from_argv() {
        let argv = [
            "oncall",
            "runbook",
            "run",
            "x",
            "--set",
            "db_password=hunter2",
            "--set",
            "node=n1",
            "--token",
            "abc",
        ]
        .map(String::from);
        let red = redact_argv(argv);
        assert!(!red.join(" ").contains("hunter2"));
        assert!(!red.join(" ").contains("abc"));
        assert!(red.contains(&"node=n1".to_string()));
        assert!(red.contains(&"db_password=<redacted>".to_string()));
    }
}
