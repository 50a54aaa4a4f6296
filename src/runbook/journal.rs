//! The journal of one run: `$XDG_STATE_HOME/oncall/runs/<run-id>.json`,
//! mode 0600, rewritten after every change of state so a killed run can be
//! resumed from what it shows.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Origin;
use crate::error::{Error, Result};

/// Outputs longer than this are cut in the journal (the end is kept).
const MAX_OUTPUT: usize = 16 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Journal {
    pub run_id: String,
    pub runbook: String,
    pub origin: Origin,
    /// SHA-256 of the runbook text the run started with.
    pub hash: String,
    /// Parameter values; secret ones are `<redacted>`.
    pub params: BTreeMap<String, String>,
    pub context: String,
    pub cluster: String,
    pub namespace: String,
    pub user: String,
    pub dry_run: bool,
    pub started: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub steps: Vec<StepRecord>,
    /// The process running it now (another `run` of the same runbook warns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Every time the run was resumed: the incident record keeps them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumes: Vec<Resumed>,
}

/// One `oncall runbook resume`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Resumed {
    pub time: DateTime<Utc>,
    pub user: String,
    /// How the run had stopped.
    pub after: RunStatus,
    /// The step it continued at.
    pub at_step: Option<String>,
    /// `--force`: a changed runbook or another context was accepted.
    #[serde(default)]
    pub forced: bool,
}

/// One attempt at a step: the timeline shows retries and interruptions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Attempt {
    pub started: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
    /// done, failed, timed out, interrupted; none while it runs.
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Attempt {
    pub(crate) fn begin() -> Attempt {
        Attempt {
            started: Utc::now(),
            finished: None,
            result: None,
            detail: None,
        }
    }

    pub(crate) fn end<T>(&mut self, result: &Result<T>) {
        self.finished = Some(Utc::now());
        let (what, detail) = match result {
            Ok(_) => ("done", None),
            Err(Error::Interrupted { .. }) => ("interrupted", None),
            Err(e) if crate::safety::interrupt::is_interrupted() => {
                ("interrupted", Some(e.to_string()))
            }
            Err(e @ Error::TimedOut { .. }) => ("timed out", Some(e.to_string())),
            Err(e) => ("failed", Some(e.to_string())),
        };
        self.result = Some(what.into());
        self.detail = detail;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RunStatus {
    Running,
    Completed,
    Failed,
    /// Stopped at a step that needed an answer: no TTY and no `--yes`.
    Refused,
    Declined,
    Interrupted,
    DryRun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StepState {
    Pending,
    /// Started and not known to have finished: the run was killed inside it.
    Started,
    /// Stopped by an interrupt (Ctrl-C, SIGTERM, SIGHUP) while it ran:
    /// whether its work completed is not known.
    Interrupted,
    Done,
    Failed,
    /// Its `when` was false.
    Skipped,
    /// Shown but not run (dry run).
    Planned,
}

impl RunStatus {
    /// How a run's status reads: `dry run`, `completed`.
    pub(crate) fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(|x| x.replace('_', " ")))
            .unwrap_or_default()
    }
}

impl StepState {
    /// How a step's state reads in tables and the timeline.
    pub(crate) fn name(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Started | StepState::Interrupted => "interrupted",
            StepState::Done => "done",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
            StepState::Planned => "planned",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StepRecord {
    pub id: String,
    pub title: String,
    pub action: String,
    pub mutating: bool,
    pub state: StepState,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    pub duration_ms: Option<u64>,
    /// How the go-ahead was given: yes_flag, confirmed, typed_context, refused...
    pub answer: Option<String>,
    pub attempts: u32,
    /// One line: what happened.
    pub outcome: Option<String>,
    /// Output for later steps' templates (stdout, or a JSON result); secrets redacted.
    pub output: Option<serde_json::Value>,
    pub exit_code: Option<i32>,
    /// Each attempt, retries and interrupted ones included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Attempt>,
}

impl StepRecord {
    pub(crate) fn new(step: &super::model::Step) -> Self {
        StepRecord {
            id: step.id.clone(),
            title: step.title.clone(),
            action: step.action.clone(),
            mutating: step.mutating,
            state: StepState::Pending,
            started: None,
            finished: None,
            duration_ms: None,
            answer: None,
            attempts: 0,
            outcome: None,
            output: None,
            exit_code: None,
            history: Vec::new(),
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        matches!(self.state, StepState::Done | StepState::Skipped)
    }

    /// Started and never seen to end: killed or interrupted inside it.
    pub(crate) fn was_cut_short(&self) -> bool {
        matches!(self.state, StepState::Started | StepState::Interrupted)
    }
}

pub(crate) fn runs_dir() -> Result<PathBuf> {
    crate::config::state_dir()
        .map(|d| d.join("runs"))
        .ok_or(Error::NoJournalHome)
}

/// A run id: sortable by time, readable, unique enough for one engineer.
/// It names the journal file, so the runbook's name is reduced to safe
/// characters whatever it holds.
pub(crate) fn new_run_id(runbook: &str) -> String {
    let now = Utc::now();
    let salt =
        (now.timestamp_subsec_nanos() ^ std::process::id().wrapping_mul(2_654_435_761)) & 0xffff;
    format!(
        "{}-{}-{salt:04x}",
        now.format("%Y%m%d-%H%M%S"),
        file_safe(runbook)
    )
}

/// Letters, digits, `-` and `_` only, at most 48 of them.
fn file_safe(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(48)
        .collect();
    let safe = safe.trim_matches('-');
    if safe.is_empty() {
        "runbook".into()
    } else {
        safe.to_string()
    }
}

/// Ids of the journaled runs, newest first (shell completion).
pub(crate) fn run_ids() -> Vec<String> {
    let mut ids: Vec<String> = runs_dir()
        .ok()
        .and_then(|d| std::fs::read_dir(d).ok())
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".json").map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    ids.sort_by(|a, b| b.cmp(a));
    ids
}

/// The newest run of `runbook` on `context` that is still running in a
/// live process other than this one.
pub(crate) fn running_elsewhere(runbook: &str, context: &str) -> Option<Journal> {
    let me = std::process::id();
    run_ids()
        .into_iter()
        .filter_map(|id| Journal::load(&id).ok())
        .find(|j| {
            j.runbook == runbook
                && j.context == context
                && j.status == RunStatus::Running
                && !j.dry_run
                && j.pid.is_some_and(|p| p != me && process_alive(p as i32))
        })
}

/// Keeps two `resume`s of one run from acting at once: a file created
/// exclusively next to the journal, holding the owner's pid. A lock whose
/// process is gone (the run was killed) is taken over.
pub(crate) struct Lock {
    path: PathBuf,
}

impl Lock {
    pub(crate) fn take(run_id: &str) -> Result<Lock> {
        let path = runs_dir()?.join(format!("{run_id}.lock"));
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|t| t.trim().parse::<i32>().ok());
                    if let Some(pid) = pid.filter(|p| process_alive(*p)) {
                        return Err(Error::RunLocked {
                            run_id: run_id.into(),
                            pid,
                        });
                    }
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(journal_io("lock", &path, e)),
            }
        }
        // A stale lock was removed twice and taken by someone else each time.
        Err(Error::JournalIo {
            doing: "lock",
            path,
            reason: "another process keeps taking it".into(),
        })
    }
}

fn journal_io(doing: &'static str, path: &std::path::Path, e: std::io::Error) -> Error {
    Error::JournalIo {
        doing,
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(unix)]
fn process_alive(pid: i32) -> bool {
    // Signal 0 checks existence without sending anything.
    // SAFETY: kill(2) with signal 0 has no effect on the target.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[cfg(not(unix))]
fn process_alive(_pid: i32) -> bool {
    true
}

pub(crate) fn cut(text: &str) -> String {
    if text.len() <= MAX_OUTPUT {
        return text.to_string();
    }
    let mut start = text.len() - MAX_OUTPUT;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("[… {start} bytes cut …]{}", &text[start..])
}

/// Records, at the last moment before a hard exit (a second interrupt),
/// that the run and the step it was in were interrupted, so the journal is
/// never left `running`. It works on the saved journal: secrets are already
/// hidden there.
pub(crate) fn mark_quit(path: &std::path::Path, why: &str) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let Ok(mut j) = serde_json::from_str::<Journal>(&text) else {
        return;
    };
    let now = Utc::now();
    for s in j.steps.iter_mut().filter(|s| s.state == StepState::Started) {
        s.state = StepState::Interrupted;
        s.finished = Some(now);
        s.outcome = Some(format!("interrupted: {why}"));
        if let Some(a) = s.history.last_mut().filter(|a| a.result.is_none()) {
            a.finished = Some(now);
            a.result = Some("interrupted".into());
            a.detail = Some(why.to_string());
        }
    }
    if j.status == RunStatus::Running {
        j.status = RunStatus::Interrupted;
        j.finished = Some(now);
    }
    j.pid = None;
    let _ = j.save();
}

impl Journal {
    pub(crate) fn path(&self) -> Result<PathBuf> {
        Ok(runs_dir()?.join(format!("{}.json", self.run_id)))
    }

    /// The journal with every secret (and its encodings) hidden from what
    /// steps produced: outcomes, outputs, attempts and parameters.
    pub(crate) fn redacted(&self, redactor: &super::secrets::Redactor) -> Journal {
        let mut clean = self.clone();
        if redactor.is_empty() {
            return clean;
        }
        for v in clean.params.values_mut() {
            *v = redactor.redact(v);
        }
        for s in &mut clean.steps {
            if let Some(o) = &mut s.outcome {
                *o = redactor.redact(o);
            }
            if let Some(out) = &mut s.output {
                redactor.redact_json(out);
            }
            for a in &mut s.history {
                if let Some(d) = &mut a.detail {
                    *d = redactor.redact(d);
                }
            }
        }
        clean
    }

    /// Writes the journal, secrets hidden.
    pub(crate) fn save_redacted(&self, redactor: &super::secrets::Redactor) -> Result<()> {
        self.redacted(redactor).save()
    }

    /// Writes the journal atomically (temp file + rename), mode 0600.
    pub(crate) fn save(&self) -> Result<()> {
        let path = self.path()?;
        let fail = |e: std::io::Error| journal_io("write", &path, e);
        let dir = path.parent().expect("runs dir");
        crate::config::create_private_dir(dir).map_err(fail)?;
        let tmp = path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.create(true).write(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(fail)?;
        let text = serde_json::to_vec_pretty(self).map_err(|e| Error::Failed(e.to_string()))?;
        file.write_all(&text).map_err(fail)?;
        file.sync_all().map_err(fail)?;
        std::fs::rename(&tmp, &path).map_err(fail)
    }

    /// Loads a run's journal; `last` is the newest run.
    pub(crate) fn load(run_id: &str) -> Result<Journal> {
        if run_id == "last" {
            // A dry run changed nothing: `last` is the newest real run.
            return run_ids()
                .into_iter()
                .filter_map(|id| Journal::load(&id).ok())
                .find(|j| !j.dry_run)
                .ok_or_else(|| Error::NoRunsYet {
                    start: crate::suggest::oncall("runbook run NAME"),
                });
        }
        if run_id.contains('/') || run_id.contains("..") {
            return Err(Error::BadRunId {
                run_id: run_id.into(),
                dir: runs_dir()?,
            });
        }
        let path = runs_dir()?.join(format!("{run_id}.json"));
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NoSuchRun {
                    run_id: run_id.into(),
                    path: path.clone(),
                }
            } else {
                journal_io("read", &path, e)
            }
        })?;
        serde_json::from_str(&text).map_err(|e| Error::JournalDamaged {
            path,
            reason: e.to_string(),
        })
    }

    pub(crate) fn step(&mut self, id: &str) -> &mut StepRecord {
        self.steps
            .iter_mut()
            .find(|s| s.id == id)
            .expect("journal has every step")
    }

    /// Outputs of finished steps, for templates: `steps.<id>.output` etc.
    pub(crate) fn outputs(&self) -> BTreeMap<String, serde_json::Value> {
        self.steps
            .iter()
            .map(|s| {
                let mut v = serde_json::json!({
                    "ok": s.state == StepState::Done,
                    "skipped": s.state == StepState::Skipped,
                    "state": s.state,
                    "output": s.output.clone().unwrap_or(serde_json::Value::Null),
                    "exit_code": s.exit_code,
                });
                if let Some(serde_json::Value::String(text)) = &s.output
                    && let Ok(parsed) = serde_json::from_str::<serde_json::Value>(text)
                {
                    v["json"] = parsed;
                }
                (s.id.clone(), v)
            })
            .collect()
    }
}

impl Journal {
    /// The run as an incident timeline in Markdown, ready to paste into a
    /// ticket: every step, every attempt and resume, and the outputs.
    pub(crate) fn markdown(&self) -> String {
        timeline(self)
    }
}

/// Retries, interrupted attempts and resumes: the incident record keeps
/// every try, not only how each step ended.
fn attempts_markdown(j: &Journal) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let time = |t: chrono::DateTime<Utc>| t.format("%H:%M:%S").to_string();
    let mut out = String::new();
    let tried: Vec<&StepRecord> = j
        .steps
        .iter()
        .filter(|s| {
            s.history.len() > 1
                || s.history
                    .iter()
                    .any(|a| a.result.as_deref() != Some("done"))
        })
        .collect();
    if !tried.is_empty() {
        out.push_str("\n## Attempts\n\n| Step | Attempt | Started | Ended | Result | Detail |\n|---|---|---|---|---|---|\n");
        for s in tried {
            for (i, a) in s.history.iter().enumerate() {
                out.push_str(&format!(
                    "| `{}` | {} of {} | {} | {} | **{}** | {} |\n",
                    s.id,
                    i + 1,
                    s.history.len(),
                    time(a.started),
                    a.finished.map(time).unwrap_or_else(|| "—".into()),
                    a.result.as_deref().unwrap_or("never ended (killed)"),
                    cell(a.detail.as_deref().unwrap_or(""))
                ));
            }
        }
    }
    if !j.resumes.is_empty() {
        out.push_str("\n## Resumed\n\n");
        for r in &j.resumes {
            out.push_str(&format!(
                "- {} UTC by `{}` after the run was {}{}{}\n",
                r.time.format("%Y-%m-%d %H:%M:%S"),
                r.user,
                r.after.name(),
                r.at_step
                    .as_ref()
                    .map(|s| format!(", continuing at `{s}`"))
                    .unwrap_or_default(),
                if r.forced {
                    " (--force: the runbook or the context had changed)"
                } else {
                    ""
                }
            ));
        }
    }
    out
}

/// The incident timeline, ready to paste into a ticket.
fn timeline(j: &Journal) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!("# Runbook `{}` — run {}\n\n", j.runbook, j.run_id);
    out.push_str(&format!(
        "- **Status:** {}{}\n",
        j.status.name(),
        if j.dry_run { " (dry run)" } else { "" }
    ));
    out.push_str(&format!(
        "- **Started:** {} UTC by `{}`\n",
        j.started.format("%Y-%m-%d %H:%M:%S"),
        j.user
    ));
    if let Some(f) = j.finished {
        out.push_str(&format!(
            "- **Finished:** {} UTC\n",
            f.format("%Y-%m-%d %H:%M:%S")
        ));
    }
    out.push_str(&format!(
        "- **Context:** `{}` ({}), namespace `{}`\n",
        j.context, j.cluster, j.namespace
    ));
    out.push_str(&format!(
        "- **Runbook:** {} (sha256 `{}`)\n",
        j.origin.describe(),
        &j.hash[..12.min(j.hash.len())]
    ));
    if !j.params.is_empty() {
        let p: Vec<String> = j.params.iter().map(|(k, v)| format!("`{k}={v}`")).collect();
        out.push_str(&format!("- **Parameters:** {}\n", p.join(", ")));
    }
    out.push_str("\n## Timeline\n\n| Time (UTC) | Step | Action | Answer | Outcome | Duration |\n|---|---|---|---|---|---|\n");
    for s in &j.steps {
        let time = s
            .started
            .or(s.finished)
            .map(|t| t.format("%H:%M:%S").to_string())
            .unwrap_or_else(|| "—".into());
        let duration = s
            .duration_ms
            .map(|ms| {
                humantime::format_duration(std::time::Duration::from_millis(ms / 1000 * 1000))
                    .to_string()
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "| {time} | `{}` {} | {} | {} | **{}** {} | {} |\n",
            s.id,
            cell(&s.title),
            s.action,
            s.answer
                .clone()
                .map(|a| a.replace('_', " "))
                .unwrap_or_else(|| "—".into()),
            s.state.name(),
            cell(&s.outcome.clone().unwrap_or_default()),
            if duration == "0s" {
                "<1s".into()
            } else {
                duration
            },
        ));
    }
    out.push_str(&attempts_markdown(j));
    let with_output: Vec<&StepRecord> = j
        .steps
        .iter()
        .filter(|s| matches!(&s.output, Some(serde_json::Value::String(t)) if !t.is_empty()))
        .collect();
    if !with_output.is_empty() {
        out.push_str("\n## Output\n");
        for s in with_output {
            if let Some(serde_json::Value::String(t)) = &s.output {
                out.push_str(&format!("\n### `{}`\n\n```\n{}\n```\n", s.id, t.trim_end()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_never_leave_the_runs_directory() {
        for name in ["../../../../x", "a/b", "a\0b\nc", "..", "", "名前"] {
            let id = new_run_id(name);
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{name:?} → {id}"
            );
        }
        assert!(new_run_id("replace-node").contains("-replace-node-"));
    }
}
