//! Runs a validated runbook step by step, keeping the journal current.
//!
//! The engine decides and acts; everything the engineer sees or answers
//! goes through the `Ui` the command layer gives it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value as Json;

use super::actions::{Kind, ManualArgs, Produced, Render};
use super::journal::{Attempt, Journal, RunStatus, StepRecord, StepState};
use super::model::{Param, ParamType, Runbook, Step};
use super::secrets::Redactor;
use super::template;
use crate::cluster::Cluster;
use crate::error::{Error, Result, exit};
use crate::safety::{Answer, Plan};

/// What the engine needs from the person (or script) running it.
pub(crate) trait Ui {
    /// A step is about to be considered.
    fn step_start(&mut self, index: usize, total: usize, step: &Step);
    /// A mutating step's plan: show it and return the go-ahead (dry run,
    /// --yes, refused without a TTY, confirmed, declined).
    fn approve(&mut self, step: &Step, plan: &Plan) -> Result<Answer>;
    /// Records a change in the audit log once it is applied (or failed).
    fn audit(
        &mut self,
        plan: &Plan,
        answer: Answer,
        outcome: &crate::safety::audit::Outcome,
    ) -> Result<()>;
    /// Shows a manual step's instructions and waits until it is done.
    fn manual(&mut self, step: &Step, instructions: &str) -> Result<Answer>;
    /// A non-idempotent step was interrupted: did it complete? `None` when
    /// there is nobody to ask.
    fn ask_completed(&mut self, step: &Step) -> Result<Option<bool>>;
    /// The step's action starts now (after any confirmation).
    fn running(&mut self, step: &Step);
    /// A step finished (done, skipped, failed, planned).
    fn step_end(&mut self, step: &Step, record: &StepRecord, output: Option<&str>);
    /// A line of progress worth showing (retries, re-runs).
    fn note(&mut self, text: &str);
}

/// Everything one run needs.
pub(crate) struct Run<'a> {
    pub runbook: &'a Runbook,
    pub cluster: Option<&'a Cluster>,
    /// How the run connected, for steps that reach another context.
    pub connect: crate::cluster::ConnectOptions,
    /// The config file (terminate commands, promotion environments).
    pub config: &'a crate::config::Config,
    /// Typed parameter values, secrets included (never written anywhere).
    pub values: BTreeMap<String, Json>,
    pub journal: Journal,
    pub dry_run: bool,
    /// The audit outcome a procedure reported for the step being run, so
    /// that the log says what the command would say (done, not done).
    pub reported: std::sync::Mutex<Option<crate::safety::audit::Outcome>>,
}

/// Converts and checks a parameter value given as text.
pub(crate) fn parse_param(p: &Param, text: &str) -> Result<Json> {
    let bad = |why: String| Error::BadParam {
        name: p.name.clone(),
        why,
    };
    if !p.choices.is_empty() && !p.choices.iter().any(|c| c == text) {
        return Err(bad(format!(
            "`{}` is not one of {}",
            shown(p, text),
            p.choices.join(", ")
        )));
    }
    if let Some(pattern) = &p.pattern {
        let re = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| bad(e.to_string()))?;
        if !re.is_match(text) {
            return Err(bad(format!(
                "`{}` does not match `{pattern}`",
                shown(p, text)
            )));
        }
    }
    Ok(match p.ty {
        ParamType::Int => Json::from(
            text.trim()
                .parse::<i64>()
                .map_err(|_| bad(format!("`{}` is not a whole number", shown(p, text))))?,
        ),
        ParamType::Bool => Json::from(match text.trim().to_lowercase().as_str() {
            "true" | "yes" | "y" | "1" => true,
            "false" | "no" | "n" | "0" => false,
            _ => return Err(bad(format!("`{}` is not true or false", shown(p, text)))),
        }),
        ParamType::Duration => {
            humantime::parse_duration(text.trim()).map_err(|_| {
                bad(format!(
                    "`{}` is not a duration like 30s or 5m",
                    shown(p, text)
                ))
            })?;
            Json::from(text.trim())
        }
        _ => Json::from(text),
    })
}

fn shown<'t>(p: &Param, text: &'t str) -> &'t str {
    if p.secret { "<redacted>" } else { text }
}

impl Run<'_> {
    /// Gives the audit log the procedure's own outcome for the current step.
    pub(super) fn report_audit(&self, outcome: crate::safety::audit::Outcome) {
        if let Ok(mut reported) = self.reported.lock() {
            *reported = Some(outcome);
        }
    }

    /// The step's audit outcome: the procedure's own, else a plain one.
    fn audit_outcome(
        &self,
        step: &Step,
        result: &Result<Produced>,
    ) -> crate::safety::audit::Outcome {
        let reported = self.reported.lock().ok().and_then(|mut r| r.take());
        reported.unwrap_or_else(|| match result {
            Ok(_) => crate::safety::audit::Outcome::ok(format!("step `{}` done", step.id)),
            Err(e) => crate::safety::audit::Outcome::from_error(e),
        })
    }

    /// Secret values, as text.
    pub(super) fn secret_values(&self) -> Vec<(String, String)> {
        self.runbook
            .params
            .iter()
            .filter(|p| p.secret)
            .filter_map(|p| Some((p.name.clone(), self.values.get(&p.name)?)))
            .map(|(n, v)| (n, json_text(v)))
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }

    /// Hides the run's secret values and what scripts commonly make of them.
    pub(crate) fn redactor(&self) -> Redactor {
        Redactor::new(self.secret_values().into_iter().map(|(_, v)| v))
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        self.redactor().redact(text)
    }

    /// The environment every local child gets: each parameter as
    /// `ONCALL_PARAM_<name>`, and where the run acts.
    pub(super) fn child_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .values
            .iter()
            .map(|(k, v)| (template::param_env_var(k), json_text(v)))
            .collect();
        env.push(("ONCALL_RUN_ID".into(), self.journal.run_id.clone()));
        env.push(("ONCALL_CONTEXT".into(), self.journal.context.clone()));
        env.push(("ONCALL_NAMESPACE".into(), self.journal.namespace.clone()));
        env
    }

    pub(super) fn context(&self) -> minijinja::Value {
        self.context_with(&self.values)
    }

    /// The template context with these parameter values.
    fn context_with(&self, values: &BTreeMap<String, Json>) -> minijinja::Value {
        let mut ctx = serde_json::Map::new();
        ctx.insert("context".into(), self.journal.context.clone().into());
        ctx.insert("cluster".into(), self.journal.cluster.clone().into());
        ctx.insert("namespace".into(), self.journal.namespace.clone().into());
        // Parameters may be called `namespace` or `context`; theirs wins.
        for (k, v) in values {
            ctx.insert(k.clone(), v.clone());
        }
        ctx.insert(
            "params".into(),
            values
                .clone()
                .into_iter()
                .collect::<serde_json::Map<_, _>>()
                .into(),
        );
        ctx.insert(
            "steps".into(),
            self.journal
                .outputs()
                .into_iter()
                .collect::<serde_json::Map<_, _>>()
                .into(),
        );
        ctx.insert("run_id".into(), self.journal.run_id.clone().into());
        // The config's environments (context and namespace of each), so a
        // step can find where an environment a parameter names lives.
        ctx.insert(
            "environments".into(),
            serde_json::to_value(&self.config.environments).unwrap_or_default(),
        );
        minijinja::Value::from_serialize(&ctx)
    }

    /// Renders every string of the step's arguments (`sh:` scripts are
    /// never templated: validation rejects template tags in them).
    pub(super) fn render_args(&self, step: &Step) -> Result<Json> {
        let ctx = self.context();
        let secrets = self.secret_values();
        // The same context with each secret replaced by a marker: a template
        // whose text differs from "the marked text with the secret put back"
        // has made something out of the secret that cannot be hidden.
        let marked_values: BTreeMap<String, Json> = self
            .values
            .iter()
            .map(|(k, v)| match secrets.iter().position(|(n, _)| n == k) {
                Some(i) => (k.clone(), Json::String(marker(i))),
                None => (k.clone(), v.clone()),
            })
            .collect();
        let marked = (!secrets.is_empty()).then(|| self.context_with(&marked_values));
        let plain = template::env();
        let fail = |field: &str, e: String| Error::StepTemplate {
            step: step.id.clone(),
            doing: format!("render `{field}`"),
            reason: self.redact(&e),
        };
        let Json::Object(args) = &step.args else {
            return Ok(step.args.clone());
        };
        let fields = step.implementation().fields();
        let mut out = serde_json::Map::new();
        for (field, value) in args {
            // Expressions are evaluated later; scripts are passed as written.
            let how = fields
                .iter()
                .find(|f| f.name == field)
                .map_or(Render::Template, |f| f.render);
            if matches!(how, Render::Expression | Render::Script) {
                out.insert(field.clone(), value.clone());
                continue;
            }
            let render = |v: &Json| -> Result<Json> {
                Ok(match v {
                    Json::String(s) => {
                        let text = template::render(&plain, s, &ctx).map_err(|e| fail(field, e))?;
                        if let Some(marked) = &marked {
                            self.check_secret_use(step, field, s, &text, marked, &secrets)?;
                        }
                        Json::String(text)
                    }
                    Json::Number(n) => Json::String(n.to_string()),
                    Json::Bool(b) => Json::String(b.to_string()),
                    other => other.clone(),
                })
            };
            let rendered = match value {
                Json::Array(items) => Json::Array(items.iter().map(render).collect::<Result<_>>()?),
                // A terminate command given as one string is split into
                // words before values are filled in, so a value stays one
                // argument (unless the whole string is one parameter: a
                // command given by the engineer, as `--terminate` is).
                Json::String(s) if how == Render::Words && !is_one_param(s, &self.values) => {
                    let words = split_template(s).ok_or_else(|| Error::StepUnbalancedQuotes {
                        step: step.id.clone(),
                        field: field.clone(),
                    })?;
                    let words: Vec<Json> = words.into_iter().map(Json::String).collect();
                    Json::Array(words.iter().map(render).collect::<Result<_>>()?)
                }
                v => render(v)?,
            };
            out.insert(field.clone(), rendered);
        }
        Ok(Json::Object(out))
    }

    /// Refuses a template that derives a value from a secret (upper-cased,
    /// cut, encoded...): only the secret itself can be recognised and hidden.
    fn check_secret_use(
        &self,
        step: &Step,
        field: &str,
        source: &str,
        rendered: &str,
        marked: &minijinja::Value,
        secrets: &[(String, String)],
    ) -> Result<()> {
        let used: Vec<&(String, String)> = secrets
            .iter()
            .filter(|(n, _)| source.contains(n.as_str()))
            .collect();
        if used.is_empty() {
            return Ok(());
        }
        let tracked = template::render(&template::env(), source, marked)
            .ok()
            .map(|mut text| {
                for (i, (_, value)) in secrets.iter().enumerate() {
                    text = text.replace(&marker(i), value);
                }
                text
            });
        if tracked.as_deref() == Some(rendered) {
            return Ok(());
        }
        let name = &used[0].0;
        Err(Error::SecretDerived {
            step: step.id.clone(),
            field: field.into(),
            name: name.clone(),
            env_var: template::param_env_var(name),
        })
    }

    /// Writes the journal, every secret hidden.
    pub(super) fn save(&self) -> Result<()> {
        self.journal.save_redacted(&self.redactor())
    }

    pub(super) fn finish(&mut self, status: RunStatus) -> Result<()> {
        self.journal.status = status;
        self.journal.finished = Some(Utc::now());
        self.journal.pid = None;
        self.save()
    }

    pub(super) fn resume_hint(&self) -> String {
        format!(
            "`{}`",
            crate::suggest::oncall(&format!("runbook resume {}", self.journal.run_id))
        )
    }
}

/// A value as text: a string as it is, nothing for null.
fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// What a mutating step will change, for its plan: the action's own plan
/// under a header naming the step and where it acts.
async fn plan_for(run: &Run<'_>, step: &Step, args: &Json) -> Result<Plan> {
    let namespace = args
        .get("namespace")
        .and_then(Json::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| run.journal.namespace.clone());
    let mut plan = Plan {
        action: format!("step `{}`: {}", step.id, step.title),
        context: run.journal.context.clone(),
        cluster: run.journal.cluster.clone(),
        namespace,
        changes: Vec::new(),
        skipped: Vec::new(),
        warnings: Vec::new(),
    };
    step.implementation().plan(run, args, &mut plan).await?;
    Ok(plan)
}

/// A stand-in for the `i`th secret: letters and digits, so that any
/// transformation of it shows.
fn marker(i: usize) -> String {
    format!("oncallSecretMarker{i}q7Zx")
}

/// Splits a command template into words as a shell would, keeping each
/// `{{ … }}` whole (its spaces do not split), before anything is filled in.
fn split_template(text: &str) -> Option<Vec<String>> {
    let mut tags = Vec::new();
    let mut masked = String::new();
    let mut rest = text;
    while let Some((at, tag)) = template::find_tag(rest) {
        masked.push_str(&rest[..at]);
        masked.push_str(&format!("\u{1}{}\u{1}", tags.len()));
        tags.push(tag.to_string());
        rest = &rest[at + tag.len()..];
    }
    masked.push_str(rest);
    let words = shlex::split(&masked)?;
    Some(
        words
            .into_iter()
            .map(|w| {
                tags.iter()
                    .enumerate()
                    .fold(w, |w, (i, tag)| w.replace(&format!("\u{1}{i}\u{1}"), tag))
            })
            .collect(),
    )
}

/// Whether a text is exactly one parameter, `{{ name }}`.
fn is_one_param(text: &str, values: &BTreeMap<String, Json>) -> bool {
    let inner = text
        .trim()
        .strip_prefix("{{")
        .and_then(|t| t.strip_suffix("}}"))
        .map(str::trim);
    inner.is_some_and(|n| {
        values.contains_key(n)
            || n.strip_prefix("params.")
                .is_some_and(|n| values.contains_key(n))
    })
}

/// Runs an action with the step's timeout and retries; every attempt is
/// kept in the step's history.
async fn attempt(run: &mut Run<'_>, ui: &mut dyn Ui, step: &Step, args: &Json) -> Result<Produced> {
    let mut tries = 0;
    loop {
        tries += 1;
        // A report from an earlier attempt is not this attempt's.
        if let Ok(r) = run.reported.get_mut() {
            *r = None;
        }
        {
            let r = run.journal.step(&step.id);
            r.attempts += 1;
            r.history.push(Attempt::begin());
        }
        run.save()?;
        let result = match step.timeout {
            Some(t) => {
                match tokio::time::timeout(t, step.implementation().run(run, step, args)).await {
                    Ok(r) => r,
                    Err(_) => Err(Error::TimedOut {
                        after: humantime::format_duration(t).to_string(),
                        what: format!("step `{}`", step.id),
                    }),
                }
            }
            None => step.implementation().run(run, step, args).await,
        };
        let redactor = run.redactor();
        let result = result
            .map(|mut p| {
                p.text = redactor.redact(&p.text);
                redactor.redact_json(&mut p.output);
                p
            })
            .map_err(|e| redactor.redact_error(e));
        if let Some(a) = run.journal.step(&step.id).history.last_mut() {
            a.end(&result);
        }
        match result {
            Ok(p) => return Ok(p),
            Err(e) if tries <= step.retries && !crate::safety::interrupt::is_interrupted() => {
                ui.note(&format!(
                    "step `{}` attempt {tries} failed: {e}; retrying ({} left)",
                    step.id,
                    step.retries + 1 - tries
                ));
                run.save()?;
                let wait = Duration::from_secs(u64::from(tries.min(5)));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = crate::safety::interrupt::interrupted() => {}
                }
            }
            Err(e) => return Err(e),
        }
    }
}

fn answer_name(a: Answer) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn stopped(run: &Run<'_>, step: &Step, answer: Answer) -> Error {
    Error::StoppedBeforeStep {
        step: step.id.clone(),
        no_terminal: answer == Answer::Refused,
        answer: answer_name(answer).replace('_', " "),
        resume: run.resume_hint(),
    }
}

/// An interrupt arrived between steps: the run stops here, resumably.
fn stop_between_steps(run: &mut Run<'_>) -> Result<Error> {
    let ids = |finished: bool| -> Vec<String> {
        run.journal
            .steps
            .iter()
            .filter(|s| s.is_finished() == finished)
            .map(|s| s.id.clone())
            .collect()
    };
    let (done, not_done) = (ids(true), ids(false));
    run.finish(RunStatus::Interrupted)?;
    Ok(Error::Interrupted {
        done,
        not_done,
        next: Some(format!("resume with {}", run.resume_hint())),
    })
}

/// What to do with a step cut short by a kill or an interrupt, at resume.
enum CutShort {
    RunAgain,
    /// The engineer confirmed it had completed: it is now done.
    Completed,
}

fn settle_cut_short(run: &mut Run<'_>, ui: &mut dyn Ui, step: &Step) -> Result<CutShort> {
    if step.idempotent {
        ui.note(&format!(
            "step `{}` was interrupted; it is safe to repeat, so it runs again",
            step.id
        ));
        return Ok(CutShort::RunAgain);
    }
    match ui.ask_completed(step)? {
        Some(true) => {
            let r = run.journal.step(&step.id);
            r.state = StepState::Done;
            r.answer = Some("completed_before_interruption".into());
            r.outcome =
                Some("marked done at resume: the engineer confirmed it had completed".into());
            r.finished = Some(Utc::now());
            let r = r.clone();
            run.save()?;
            ui.step_end(step, &r, None);
            Ok(CutShort::Completed)
        }
        Some(false) => {
            ui.note(&format!(
                "step `{}` did not complete; running it again",
                step.id
            ));
            Ok(CutShort::RunAgain)
        }
        None => {
            run.finish(RunStatus::Refused)?;
            Err(Error::CutShortStep {
                step: step.id.clone(),
                resume: run.resume_hint(),
            })
        }
    }
}

/// A manual step: show the instructions and record the answer.
fn manual_step(run: &mut Run<'_>, ui: &mut dyn Ui, step: &Step, args: &Json) -> Result<()> {
    let args: ManualArgs = super::actions::args::parse(&step.action, args)?;
    let text = run.redact(&args.instructions);
    let answer = ui.manual(step, &text)?;
    let r = run.journal.step(&step.id);
    r.answer = Some(answer_name(answer));
    match answer {
        Answer::DryRun => {
            r.state = StepState::Planned;
            r.outcome = Some("dry run: instructions shown, not waited for".into());
        }
        a if a.proceeds() => {
            r.state = StepState::Done;
            r.started = r.started.or(Some(Utc::now()));
            r.finished = Some(Utc::now());
            r.outcome = Some(if a == Answer::YesFlag {
                "confirmed by --yes".into()
            } else {
                "the engineer confirmed it is done".into()
            });
        }
        other => {
            r.outcome = Some(format!(
                "not confirmed ({})",
                answer_name(other).replace('_', " ")
            ));
            run.finish(if other == Answer::Declined {
                RunStatus::Declined
            } else {
                RunStatus::Refused
            })?;
            return Err(stopped(run, step, other));
        }
    }
    let r = r.clone();
    run.save()?;
    ui.step_end(step, &r, None);
    Ok(())
}

/// Runs the steps from `start`, skipping steps the journal shows finished.
/// Secrets are hidden from the error it returns, as from everything else.
pub(crate) async fn execute(run: &mut Run<'_>, ui: &mut dyn Ui, start: usize) -> Result<()> {
    let result = steps(run, ui, start).await;
    result.map_err(|e| run.redactor().redact_error(e))
}

async fn steps(run: &mut Run<'_>, ui: &mut dyn Ui, start: usize) -> Result<()> {
    // A second interrupt quits at once: the journal still says so.
    let _quit_hook = run.journal.path().ok().map(|path| {
        crate::safety::interrupt::on_hard_exit(move || {
            super::journal::mark_quit(
                &path,
                "the run was stopped at once by a second interrupt; the step's processes were killed",
            )
        })
    });
    let total = run.runbook.steps.len();
    run.journal.status = RunStatus::Running;
    run.journal.finished = None;
    run.save()?;
    for (index, step) in run.runbook.steps.iter().enumerate().skip(start) {
        if crate::safety::interrupt::is_interrupted() {
            return Err(stop_between_steps(run)?);
        }
        let record = run.journal.step(&step.id).clone();
        if record.is_finished() {
            continue;
        }
        ui.step_start(index, total, step);
        if record.was_cut_short()
            && !run.dry_run
            && matches!(settle_cut_short(run, ui, step)?, CutShort::Completed)
        {
            continue;
        }
        if let Some(cond) = &step.when {
            let ctx = run.context();
            let go = template::eval(cond, &ctx).map_err(|e| Error::StepTemplate {
                step: step.id.clone(),
                doing: "evaluate `when`".into(),
                reason: run.redact(&e),
            });
            let go = match go {
                Ok(g) => g,
                Err(e) => {
                    fail_step(run, step, &e)?;
                    return Err(e);
                }
            };
            if !go {
                let r = run.journal.step(&step.id);
                r.state = StepState::Skipped;
                r.outcome = Some(format!("skipped: `{cond}` is false"));
                let r = r.clone();
                run.save()?;
                ui.step_end(step, &r, None);
                continue;
            }
        }
        let args = match run.render_args(step) {
            Ok(a) => a,
            Err(e) => {
                fail_step(run, step, &e)?;
                return Err(e);
            }
        };
        if step.spec().kind == Kind::Manual {
            manual_step(run, ui, step, &args)?;
            continue;
        }
        let mut plan = None;
        let mut answer = None;
        if step.mutating {
            let p = match plan_for(run, step, &args).await {
                Ok(mut p) => {
                    run.redactor().redact_plan(&mut p);
                    p
                }
                Err(e) => {
                    // Planning reads the cluster and may refuse (a drain
                    // blocked by a pod with no controller): the step fails,
                    // having changed nothing.
                    fail_step(run, step, &e)?;
                    let r = run.journal.step(&step.id).clone();
                    ui.step_end(step, &r, None);
                    // A failure (not a refusal, a usage error or a lost
                    // connection) says which step and how to go on.
                    return Err(match e {
                        e if e.exit_code() == exit::FAILED
                            && !matches!(e, Error::ProblemsFound(_)) =>
                        {
                            Error::StepFailed {
                                step: step.id.clone(),
                                planning: true,
                                reason: e.to_string(),
                                resume: run.resume_hint(),
                            }
                        }
                        other => other,
                    });
                }
            };
            // The plan is shown in a dry run too; the answer is then DryRun.
            let a = ui.approve(step, &p)?;
            run.journal.step(&step.id).answer = Some(answer_name(a));
            if a == Answer::DryRun {
                let r = run.journal.step(&step.id);
                r.state = StepState::Planned;
                r.outcome = Some("dry run: not run".into());
                let r = r.clone();
                run.save()?;
                ui.step_end(step, &r, None);
                continue;
            }
            if !a.proceeds() && a != Answer::NothingToDo {
                run.finish(if a == Answer::Declined {
                    RunStatus::Declined
                } else {
                    RunStatus::Refused
                })?;
                return Err(stopped(run, step, a));
            }
            plan = Some(p);
            answer = Some(a);
        }
        // Mark the step as started before acting, so a kill inside it is
        // visible to `resume`.
        {
            let r = run.journal.step(&step.id);
            r.state = StepState::Started;
            r.started = Some(Utc::now());
            r.finished = None;
            r.outcome = None;
        }
        run.save()?;
        ui.running(step);
        let began = Instant::now();
        let result = attempt(run, ui, step, &args).await;
        let elapsed = began.elapsed();
        let mut outcome = run.audit_outcome(step, &result);
        run.redactor().redact_outcome(&mut outcome);
        if let (Some(p), Some(a)) = (&plan, answer) {
            ui.audit(p, a, &outcome)?;
        }
        record_result(run, ui, step, result, elapsed)?;
    }
    run.finish(if run.dry_run {
        RunStatus::DryRun
    } else {
        RunStatus::Completed
    })
}

/// Records how a step's action ended; an error stops the run.
fn record_result(
    run: &mut Run<'_>,
    ui: &mut dyn Ui,
    step: &Step,
    result: Result<Produced>,
    elapsed: Duration,
) -> Result<()> {
    let r = run.journal.step(&step.id);
    r.finished = Some(Utc::now());
    r.duration_ms = Some(elapsed.as_millis() as u64);
    match result {
        Ok(p) => {
            r.state = StepState::Done;
            r.exit_code = p.exit_code;
            let line = p.summary.as_deref().unwrap_or(&p.text);
            r.outcome = Some(summary(line).unwrap_or_else(|| match p.exit_code {
                Some(code) => format!("exit code {code}"),
                None => "done".into(),
            }));
            r.output = Some(match p.output {
                Json::String(s) => Json::String(super::journal::cut(&s)),
                other => other,
            });
            let r = r.clone();
            run.save()?;
            ui.step_end(step, &r, Some(&p.text));
            Ok(())
        }
        Err(e) if crate::safety::interrupt::is_interrupted() => {
            // The interrupt was passed on to the step's processes:
            // whether it finished its work is unknown, so `resume`
            // decides (re-run if idempotent, otherwise ask).
            r.state = StepState::Interrupted;
            r.outcome = Some(format!("interrupted: {e}"));
            run.finish(RunStatus::Interrupted)?;
            let done: Vec<String> = run
                .journal
                .steps
                .iter()
                .filter(|s| s.is_finished())
                .map(|s| s.id.clone())
                .collect();
            Err(Error::Interrupted {
                done,
                not_done: vec![format!(
                    "`{}` (interrupted while running) and the steps after it",
                    step.id
                )],
                next: Some(format!("resume with {}", run.resume_hint())),
            })
        }
        Err(e) => {
            fail_step(run, step, &e)?;
            let r = run.journal.step(&step.id).clone();
            ui.step_end(step, &r, None);
            let hint = run.resume_hint();
            Err(match e {
                Error::TimedOut { after, what } => Error::TimedOut {
                    after,
                    what: format!("{what}; continue with {hint} once it can finish"),
                },
                Error::ProblemsFound(m) => Error::ProblemsFound(format!(
                    "step `{}`: {m}; the run stopped (resume with {hint})",
                    step.id
                )),
                Error::Interrupted { .. } => e,
                other => Error::StepFailed {
                    step: step.id.clone(),
                    planning: false,
                    reason: other.to_string(),
                    resume: hint,
                },
            })
        }
    }
}

/// The last non-empty line of an output, as the step's one-line outcome.
fn summary(text: &str) -> Option<String> {
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?.trim();
    let mut s: String = line.chars().take(200).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    Some(s)
}

fn fail_step(run: &mut Run<'_>, step: &Step, e: &Error) -> Result<()> {
    let r = run.journal.step(&step.id);
    r.state = StepState::Failed;
    r.finished = Some(Utc::now());
    r.outcome = Some(e.to_string());
    let r = r.clone();
    run.finish(RunStatus::Failed)?;
    let _ = r;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_template_is_split_before_values_are_filled() {
        assert_eq!(
            split_template("del '{{ v }} x' --zone={{ params.z }} {instance_id}").unwrap(),
            ["del", "{{ v }} x", "--zone={{ params.z }}", "{instance_id}"]
        );
        assert!(split_template("del 'open").is_none());
    }

    fn param(ty: ParamType) -> Param {
        Param {
            ty,
            ..Param::named("p".into())
        }
    }

    #[test]
    fn parameters_are_typed_and_checked() {
        assert_eq!(
            parse_param(&param(ParamType::Int), "3").unwrap(),
            Json::from(3)
        );
        assert!(parse_param(&param(ParamType::Int), "3x").is_err());
        assert_eq!(
            parse_param(&param(ParamType::Bool), "yes").unwrap(),
            Json::from(true)
        );
        assert!(parse_param(&param(ParamType::Duration), "5 parsecs").is_err());
        let mut p = param(ParamType::String);
        p.pattern = Some("[a-z]+".into());
        assert!(parse_param(&p, "abc").is_ok());
        assert!(
            parse_param(&p, "abc; rm").is_err(),
            "the whole value must match"
        );
        p.pattern = None;
        p.choices = vec!["staging".into(), "production".into()];
        assert!(parse_param(&p, "dev").is_err());
        p.secret = true;
        let e = parse_param(&p, "hunter2").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
