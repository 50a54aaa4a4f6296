//! Starting and resuming a run: the decisions that do not need the
//! engineer (which parameters were given, where the run starts, the new
//! journal, what a resumed journal keeps). The command asks for what is
//! missing, connects, and prints.

use std::collections::BTreeMap;

use chrono::Utc;
use serde_json::Value as Json;

use super::journal::{self, Journal, RunStatus, StepRecord, StepState};
use super::model::Runbook;
use super::{Origin, Source};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::safety::audit;

/// Where a run acts: context, cluster URL and namespace.
pub(crate) struct Place {
    pub context: String,
    pub cluster: String,
    pub namespace: String,
}

/// Parses `--set k=v` into a map; a key that is not a parameter is an error.
pub(crate) fn parse_sets(runbook: &Runbook, sets: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for s in sets {
        let (k, v) = s.split_once('=').ok_or_else(|| Error::BadSet(s.clone()))?;
        if !runbook.params.iter().any(|p| p.name == k) {
            return Err(Error::NotInRunbook {
                runbook: runbook.name.clone(),
                what: "parameter",
                name: k.into(),
                known: runbook.params.iter().map(|p| p.name.clone()).collect(),
            });
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// The index of the step `--from-step` names (0 without it).
pub(crate) fn start_index(runbook: &Runbook, from_step: Option<&str>) -> Result<usize> {
    let Some(id) = from_step else {
        return Ok(0);
    };
    runbook
        .steps
        .iter()
        .position(|s| s.id == id)
        .ok_or_else(|| Error::NotInRunbook {
            runbook: runbook.name.clone(),
            what: "step",
            name: id.into(),
            known: runbook.steps.iter().map(|s| s.id.clone()).collect(),
        })
}

/// The parameters as the journal keeps them: secrets never written.
fn journal_params(runbook: &Runbook, values: &BTreeMap<String, Json>) -> BTreeMap<String, String> {
    runbook
        .params
        .iter()
        .filter_map(|p| {
            let v = values.get(&p.name)?;
            let text = if p.secret {
                "<redacted>".to_string()
            } else {
                match v {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                }
            };
            Some((p.name.clone(), text))
        })
        .collect()
}

/// A new run's journal; the steps before `start` are skipped.
pub(crate) fn new_journal(
    source: &Source,
    runbook: &Runbook,
    values: &BTreeMap<String, Json>,
    place: Place,
    dry_run: bool,
    start: usize,
) -> Journal {
    let mut steps: Vec<StepRecord> = runbook.steps.iter().map(StepRecord::new).collect();
    for r in steps.iter_mut().take(start) {
        r.state = StepState::Skipped;
        r.outcome = Some("skipped: the run started at a later step (--from-step)".into());
    }
    Journal {
        run_id: journal::new_run_id(&runbook.name),
        runbook: runbook.name.clone(),
        origin: match &source.origin {
            Origin::File(p) => Origin::File(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
            o => o.clone(),
        },
        hash: source.hash(),
        params: journal_params(runbook, values),
        context: place.context,
        cluster: place.cluster,
        namespace: place.namespace,
        user: audit::os_user(),
        dry_run,
        started: Utc::now(),
        finished: None,
        status: RunStatus::Running,
        steps,
        pid: Some(std::process::id()),
        resumes: Vec::new(),
    }
}

impl Journal {
    /// Fits a resumed run's records to the runbook as it is now: what the
    /// journal knows about steps that still exist is kept; new steps start
    /// pending. Returns the index of the first step not finished.
    pub(crate) fn adopt(&mut self, runbook: &Runbook) -> usize {
        let old = std::mem::take(&mut self.steps);
        self.steps = runbook
            .steps
            .iter()
            .map(|s| {
                old.iter()
                    .find(|r| r.id == s.id)
                    .cloned()
                    .unwrap_or_else(|| StepRecord::new(s))
            })
            .collect();
        self.steps
            .iter()
            .position(|r| !r.is_finished())
            .unwrap_or(self.steps.len())
    }

    /// The parameters a resumed run is given: `--set`, then the journal's
    /// (secrets were never written and must be given again).
    pub(crate) fn resumed_params(
        &self,
        runbook: &Runbook,
        sets: &[String],
    ) -> Result<BTreeMap<String, String>> {
        let mut given = parse_sets(runbook, sets)?;
        for p in &runbook.params {
            if let Some(v) = self.params.get(&p.name)
                && !p.secret
            {
                given.entry(p.name.clone()).or_insert_with(|| v.clone());
            }
        }
        Ok(given)
    }
}

/// What the journal says where no cluster was needed yet.
const NO_CLUSTER: &str = "(no cluster)";

impl Journal {
    /// A resumed run with the runbook as it is now: a change since the run
    /// started is refused unless `force`. Returns whether it changed.
    pub(crate) fn check_source(&self, source: &Source, force: bool) -> Result<bool> {
        if source.hash() == self.hash {
            return Ok(false);
        }
        if !force {
            return Err(Error::RunbookChanged {
                runbook: self.runbook.clone(),
                origin: self.origin.describe(),
                run_id: self.run_id.clone(),
            });
        }
        Ok(true)
    }

    /// Moves a resumed run to the cluster it is connected to now: another
    /// context than the one the run started on is refused unless `force`.
    /// Returns whether it was another context.
    pub(crate) fn resume_on(&mut self, cluster: Option<&Cluster>, force: bool) -> Result<bool> {
        let Some(c) = cluster else {
            return Ok(false);
        };
        if self.context == NO_CLUSTER {
            self.context = c.context.clone();
            self.cluster = c.url.clone();
            self.namespace = c.namespace.clone();
            return Ok(false);
        }
        if c.context == self.context {
            return Ok(false);
        }
        if !force {
            return Err(Error::RunOnOtherContext {
                run_id: self.run_id.clone(),
                started_on: self.context.clone(),
                current: c.context.clone(),
            });
        }
        self.context = c.context.clone();
        self.cluster = c.url.clone();
        Ok(true)
    }

    /// Records a resume at step `first`, by this process.
    pub(crate) fn record_resume(
        &mut self,
        runbook: &Runbook,
        first: usize,
        source: &Source,
        forced: bool,
        dry_run: bool,
    ) {
        self.resumes.push(journal::Resumed {
            time: Utc::now(),
            user: audit::os_user(),
            after: self.status,
            at_step: runbook.steps.get(first).map(|s| s.id.clone()),
            forced,
        });
        self.pid = Some(std::process::id());
        self.hash = source.hash();
        self.dry_run = dry_run;
    }
}
