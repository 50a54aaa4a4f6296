//! Starting and resuming a run, and ending it: which parameters were
//! given (and which to ask for), where the run starts and acts, another run
//! beside it, the new journal, what a resumed journal keeps, and the
//! journal a run leaves. The command asks the engineer, connects, and
//! prints.

use std::collections::BTreeMap;

use chrono::Utc;
use serde_json::Value as Json;

use super::actions::Kind;
use super::engine::{self, Run, Ui};
use super::journal::{self, Journal, RunStatus, StepRecord, StepState};
use super::model::{Param, Runbook};
use super::{Origin, Source};
use crate::cluster::Cluster;
use crate::error::{Error, MissingParam, Result};
use crate::safety::audit;

/// Where a run acts: context, cluster URL and namespace.
pub(crate) struct Place {
    pub context: String,
    pub cluster: String,
    pub namespace: String,
}

impl Place {
    /// The connection's place, or, when no step needs a cluster, the
    /// context and namespace the flags name.
    pub(crate) fn of(
        cluster: Option<&Cluster>,
        context: Option<String>,
        namespace: Option<String>,
    ) -> Place {
        match cluster {
            Some(c) => Place {
                context: c.context.clone(),
                cluster: c.url.clone(),
                namespace: c.namespace.clone(),
            },
            None => Place {
                context: context.unwrap_or_else(|| NO_CLUSTER.into()),
                cluster: "-".into(),
                namespace: namespace.unwrap_or_else(|| "default".into()),
            },
        }
    }
}

/// Whether a step from `start` on talks to the cluster (then the run
/// connects before it starts).
pub(crate) fn needs_cluster(runbook: &Runbook, start: usize) -> bool {
    runbook
        .steps
        .iter()
        .skip(start)
        .any(|s| s.spec().kind == Kind::Cluster)
}

/// Every parameter's value: `given` (`--set`, then the journal), then the
/// default, then, for a required one, what `ask` gets from the engineer
/// (`None`: nobody to ask, so it is missing). A secret is registered so
/// that no output shows it.
pub(crate) fn resolve_params(
    runbook: &Runbook,
    given: &BTreeMap<String, String>,
    mut ask: impl FnMut(&Param) -> Result<Option<String>>,
) -> Result<BTreeMap<String, Json>> {
    let mut values = BTreeMap::new();
    let mut missing = Vec::new();
    for p in &runbook.params {
        let text = match given.get(&p.name).or(p.default.as_ref()) {
            Some(t) => Some(t.clone()),
            None if p.required => {
                let answer = ask(p)?;
                if answer.is_none() {
                    missing.push(MissingParam {
                        name: p.name.clone(),
                        secret: p.secret,
                    });
                }
                answer
            }
            None => Some(String::new()),
        };
        if let Some(t) = text {
            if p.secret {
                audit::register_secret(&t);
            }
            values.insert(p.name.clone(), engine::parse_param(p, &t)?);
        }
    }
    if !missing.is_empty() {
        return Err(Error::MissingParams(missing));
    }
    Ok(values)
}

/// Another run of the same runbook still running on the same context.
pub(crate) enum Beside {
    /// None: the run is alone.
    Alone,
    /// One, and `--force` runs beside it: what it is, to warn about.
    Forced(String),
    /// One: what it is, and its id; the engineer decides.
    Ask(String, String),
}

/// Whether another run of `runbook` is still running on `context`. With
/// nobody to ask (`can_ask` false) and no `force`, two runs would act side
/// by side unseen: refused.
pub(crate) fn beside(runbook: &str, context: &str, force: bool, can_ask: bool) -> Result<Beside> {
    let Some(other) = journal::running_elsewhere(runbook, context) else {
        return Ok(Beside::Alone);
    };
    let what = format!(
        "run {} of `{runbook}` is still running on context `{context}` (process {}, started {} UTC by {})",
        other.run_id,
        other.pid.unwrap_or_default(),
        other.started.format("%H:%M:%S"),
        other.user
    );
    if force {
        return Ok(Beside::Forced(what));
    }
    if !can_ask {
        return Err(Error::Refused(format!(
            "{what}; two runs would act side by side: wait for it, or pass --force to run anyway"
        )));
    }
    Ok(Beside::Ask(what, other.run_id))
}

/// Writes a new run's journal and takes the run's lock on it.
pub(crate) fn begin(journal: &Journal) -> Result<journal::Lock> {
    journal.save()?;
    journal::Lock::take(&journal.run_id)
}

/// A run that stopped and can go on.
pub(crate) enum Resume {
    /// It had completed: nothing to do (its id).
    Completed(String),
    Stopped(Box<Stopped>),
}

/// A stopped run, its journal and the runbook's text now.
pub(crate) struct Stopped {
    pub journal: Journal,
    pub source: Source,
    /// The runbook changed since the run started (accepted with `--force`).
    pub changed: bool,
}

/// A stopped run fitted to the runbook as it is now.
pub(crate) struct Resuming {
    pub journal: Journal,
    pub source: Source,
    pub runbook: Runbook,
    /// The first step not finished.
    pub first: usize,
    /// The parameters given: `--set`, then the journal's.
    pub given: BTreeMap<String, String>,
    pub changed: bool,
}

/// Loads run `run_id` to resume it: a dry run cannot be, and a runbook
/// changed since is refused unless `force`.
pub(crate) fn resume(run_id: &str, force: bool) -> Result<Resume> {
    let journal = Journal::load(run_id)?;
    if journal.status == RunStatus::Completed {
        return Ok(Resume::Completed(journal.run_id));
    }
    if journal.dry_run {
        return Err(Error::DryRunNotResumable {
            run_id: journal.run_id.clone(),
            start: crate::suggest::oncall(&format!("runbook run {}", journal.runbook)),
        });
    }
    let source = super::read(&journal.origin)?;
    let changed = journal.check_source(&source, force)?;
    Ok(Resume::Stopped(Box::new(Stopped {
        journal,
        source,
        changed,
    })))
}

impl Stopped {
    /// Reads the runbook and fits the journal's steps and parameters to it.
    pub(crate) fn fit(
        self: Box<Self>,
        sets: &[String],
        ask: impl FnMut(&Param) -> Result<Option<String>>,
    ) -> Result<Resuming> {
        let Stopped {
            mut journal,
            source,
            changed,
        } = *self;
        let runbook = super::load(&source)?;
        let first = journal.adopt(&runbook);
        let given = journal.resumed_params(&runbook, sets, ask)?;
        Ok(Resuming {
            journal,
            source,
            runbook,
            first,
            given,
            changed,
        })
    }
}

impl Resuming {
    /// Continues on `cluster` (another context only with `force`), records
    /// the resume, and takes the run's lock.
    pub(crate) fn on(
        &mut self,
        cluster: Option<&Cluster>,
        force: bool,
        dry_run: bool,
    ) -> Result<journal::Lock> {
        let moved = self.journal.resume_on(cluster, force)?;
        self.journal.record_resume(
            &self.runbook,
            self.first,
            &self.source,
            self.changed || moved,
            dry_run,
        );
        journal::Lock::take(&self.journal.run_id)
    }
}

/// How a run ended: its journal, secrets redacted, and the engine's result.
pub(crate) struct Ended {
    pub journal: Journal,
    pub result: Result<()>,
}

/// Runs the steps from `start` on and keeps what the run leaves.
pub(crate) async fn execute(run: &mut Run<'_>, ui: &mut dyn Ui, start: usize) -> Ended {
    let result = engine::execute(run, ui, start).await;
    Ended {
        journal: run.journal.redacted(&run.redactor()),
        result,
    }
}

/// Parses `--set k=v` into a map; a key that is not a parameter is an error.
/// A secret parameter set to `-` is read from stdin, so that its value stays
/// out of shell history and the process list; on a terminal, where stdin
/// would echo it, `ask` gets it (at a hidden prompt; `None` without one).
pub(crate) fn parse_sets(
    runbook: &Runbook,
    sets: &[String],
    mut ask: impl FnMut(&Param) -> Result<Option<String>>,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut from_stdin: Option<&str> = None;
    for s in sets {
        let (k, v) = s.split_once('=').ok_or_else(|| Error::BadSet(s.clone()))?;
        let Some(param) = runbook.params.iter().find(|p| p.name == k) else {
            return Err(Error::NotInRunbook {
                runbook: runbook.name.clone(),
                what: "parameter",
                name: k.into(),
                known: runbook.params.iter().map(|p| p.name.clone()).collect(),
            });
        };
        let value = if param.secret && v == "-" {
            if let Some(typed) = ask(param)? {
                typed
            } else if let Some(first) = from_stdin.replace(k) {
                return Err(Error::ParamsFromStdinTwice {
                    first: first.into(),
                    second: k.into(),
                });
            } else {
                secret_from_stdin(k)?
            }
        } else {
            v.to_string()
        };
        out.insert(k.to_string(), value);
    }
    Ok(out)
}

/// `-n NS` sets the runbook's `namespace` parameter, when it has one and
/// `--set namespace=…` did not: the namespace the engineer typed beats the
/// runbook's default.
pub(crate) fn apply_namespace_flag(
    runbook: &Runbook,
    given: &mut BTreeMap<String, String>,
    namespace: Option<&str>,
) {
    if let Some(ns) = namespace
        && runbook.params.iter().any(|p| p.name == "namespace")
    {
        given
            .entry("namespace".to_string())
            .or_insert_with(|| ns.to_string());
    }
}

/// The secret parameters `sets` gives on the command line itself (not as
/// `-`, read from stdin), where shell history and the process list keep
/// them.
pub(crate) fn secrets_on_command_line(runbook: &Runbook, sets: &[String]) -> Vec<String> {
    sets.iter()
        .filter_map(|s| s.split_once('='))
        .filter(|(k, v)| *v != "-" && runbook.params.iter().any(|p| p.name == *k && p.secret))
        .map(|(k, _)| k.to_string())
        .collect()
}

/// The value of secret parameter `name`, read from stdin.
fn secret_from_stdin(name: &str) -> Result<String> {
    let bytes = crate::secrets::values::stdin_value()?
        .ok_or_else(|| Error::EmptyStdinParam { name: name.into() })?;
    String::from_utf8(bytes).map_err(|_| Error::BadParam {
        name: name.into(),
        why: "the value read from stdin is not UTF-8 text".into(),
    })
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
        ask: impl FnMut(&Param) -> Result<Option<String>>,
    ) -> Result<BTreeMap<String, String>> {
        let mut given = parse_sets(runbook, sets, ask)?;
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
