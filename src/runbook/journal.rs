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
pub struct Journal {
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
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
pub enum StepState {
    Pending,
    /// Started and not known to have finished: the run was killed inside it.
    Started,
    Done,
    Failed,
    /// Its `when` was false.
    Skipped,
    /// Shown but not run (dry run).
    Planned,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
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
}

impl StepRecord {
    pub fn new(step: &super::model::Step) -> Self {
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
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.state, StepState::Done | StepState::Skipped)
    }
}

pub fn runs_dir() -> Result<PathBuf> {
    crate::config::state_dir()
        .map(|d| d.join("runs"))
        .ok_or_else(|| {
            Error::Failed(
                "cannot find a home directory for run journals; set XDG_STATE_HOME".into(),
            )
        })
}

/// A run id: sortable by time, readable, unique enough for one engineer.
pub fn new_run_id(runbook: &str) -> String {
    let now = Utc::now();
    let salt =
        (now.timestamp_subsec_nanos() ^ std::process::id().wrapping_mul(2_654_435_761)) & 0xffff;
    format!("{}-{runbook}-{salt:04x}", now.format("%Y%m%d-%H%M%S"))
}

/// Ids of the journaled runs, newest first (shell completion).
pub fn run_ids() -> Vec<String> {
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

/// Keeps two `resume`s of one run from acting at once: a file created
/// exclusively next to the journal, holding the owner's pid. A lock whose
/// process is gone (the run was killed) is taken over.
pub struct Lock {
    path: PathBuf,
}

impl Lock {
    pub fn take(run_id: &str) -> Result<Lock> {
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
                        return Err(Error::Refused(format!(
                            "run {run_id} is being resumed by process {pid}; wait for it to finish or stop it first"
                        )));
                    }
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => {
                    return Err(Error::Failed(format!(
                        "cannot lock {}: {e}",
                        path.display()
                    )));
                }
            }
        }
        Err(Error::Failed(format!("cannot lock {}", path.display())))
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

pub fn cut(text: &str) -> String {
    if text.len() <= MAX_OUTPUT {
        return text.to_string();
    }
    let mut start = text.len() - MAX_OUTPUT;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("[… {start} bytes cut …]{}", &text[start..])
}

impl Journal {
    pub fn path(&self) -> Result<PathBuf> {
        Ok(runs_dir()?.join(format!("{}.json", self.run_id)))
    }

    /// Writes the journal atomically (temp file + rename), mode 0600.
    pub fn save(&self) -> Result<()> {
        let path = self.path()?;
        let fail = |e: std::io::Error| {
            Error::Failed(format!(
                "cannot write the run journal {}: {e}",
                path.display()
            ))
        };
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
    pub fn load(run_id: &str) -> Result<Journal> {
        if run_id == "last" {
            let newest = run_ids().into_iter().next().ok_or_else(|| {
                Error::Usage(
                    "there are no runs yet; start one with `oncall runbook run NAME`".into(),
                )
            })?;
            return Journal::load(&newest);
        }
        if run_id.contains('/') || run_id.contains("..") {
            return Err(Error::Usage(format!(
                "`{run_id}` is not a run id; see the ids in {}",
                runs_dir()?.display()
            )));
        }
        let path = runs_dir()?.join(format!("{run_id}.json"));
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Usage(format!(
                    "no run `{run_id}`: {} does not exist; run ids are printed when a run starts",
                    path.display()
                ))
            } else {
                Error::Failed(format!("cannot read {}: {e}", path.display()))
            }
        })?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Failed(format!("the journal {} is damaged: {e}", path.display())))
    }

    pub fn step(&mut self, id: &str) -> &mut StepRecord {
        self.steps
            .iter_mut()
            .find(|s| s.id == id)
            .expect("journal has every step")
    }

    /// Outputs of finished steps, for templates: `steps.<id>.output` etc.
    pub fn outputs(&self) -> BTreeMap<String, serde_json::Value> {
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
