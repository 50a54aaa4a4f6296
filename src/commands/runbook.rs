//! `oncall runbook ...`: list, show, validate, run, resume, log.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::Value as Json;

use crate::app::App;
use crate::cli::OutputFormat;
use crate::cli::{LogFormat, RunbookCommand};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::runbook::actions::Kind;
use crate::runbook::engine::{Run, Ui};
use crate::runbook::journal::{Journal, StepRecord, StepState};
use crate::runbook::launch::{self, Beside, Ended, Resume, Resuming};
use crate::runbook::model::{Param, Runbook, Step};
use crate::runbook::{self as rb};
use crate::safety::audit::{self, Outcome};
use crate::safety::{self, Answer, Plan};
use crate::ui::output::{self, Report};
use crate::ui::progress::Heartbeat;
use crate::ui::{prompt, style, table};

pub(super) async fn run(app: &App, cmd: RunbookCommand) -> Result<()> {
    match cmd {
        RunbookCommand::List => list(app),
        RunbookCommand::Show { name } => show(app, &name),
        RunbookCommand::Validate { file } => validate(app, &file),
        RunbookCommand::Actions => actions(app),
        RunbookCommand::Run {
            runbook,
            set,
            from_step,
            force,
        } => start(app, &runbook, &set, from_step.as_deref(), force).await,
        RunbookCommand::Resume { run, force, set } => resume(app, &run, force, &set).await,
        RunbookCommand::Log { run, format } => log(app, &run, format),
    }
}

#[derive(serde::Serialize)]
struct Listed {
    name: String,
    summary: String,
    /// Where it was found: a file path, or `shipped`.
    origin: String,
    /// Problems, when the file does not validate.
    #[serde(skip_serializing_if = "Option::is_none")]
    invalid: Option<String>,
}

fn list(app: &App) -> Result<()> {
    let mut rows = Vec::new();
    for (name, origin) in rb::discover() {
        let listed = match rb::read(&origin).and_then(|s| rb::load(&s)) {
            Ok(r) => Listed {
                name,
                summary: r.summary,
                origin: origin.describe(),
                invalid: None,
            },
            Err(e) => Listed {
                name,
                summary: String::new(),
                origin: origin.describe(),
                invalid: Some(e.to_string().lines().next().unwrap_or_default().to_string()),
            },
        };
        rows.push(listed);
    }
    output::show(app.global.output, Listing(rows))
}

/// Every runbook found, with where it comes from.
#[derive(Serialize)]
#[serde(transparent)]
struct Listing(Vec<Listed>);

impl Report for Listing {
    fn human(&self, _: OutputFormat) -> String {
        let mut t = table::new(&["name", "summary", "from"]);
        for r in &self.0 {
            let summary = match &r.invalid {
                Some(e) => style::bad(&format!("invalid: {e}")),
                None => r.summary.clone(),
            };
            t.add_row(vec![r.name.clone(), summary, r.origin.clone()]);
        }
        format!("{}\n", table::render(&t))
    }
}

fn kind_of(step: &Step) -> String {
    match step.spec().kind {
        Kind::Manual => "manual".to_string(),
        _ if step.mutating => "changes".to_string(),
        _ => "read-only".to_string(),
    }
}

fn steps_table(runbook: &Runbook, records: Option<&[StepRecord]>) -> String {
    let mut headers = vec!["#", "id", "action", "kind", "title"];
    if records.is_some() {
        headers.push("state");
    }
    let mut t = table::new(&headers);
    for (i, s) in runbook.steps.iter().enumerate() {
        let mut title = s.title.clone();
        if let Some(w) = &s.when {
            title.push_str(&format!(" (when {w})"));
        }
        let mut row = vec![
            (i + 1).to_string(),
            s.id.clone(),
            s.action.clone(),
            kind_of(s),
            title,
        ];
        if let Some(recs) = records {
            let state = recs
                .iter()
                .find(|r| r.id == s.id)
                .map(|r| r.state.name())
                .unwrap_or("pending");
            row.push(state.to_string());
        }
        t.add_row(row);
    }
    table::render(&t)
}

fn show(app: &App, name: &str) -> Result<()> {
    let source = rb::find(name)?;
    let runbook = rb::load(&source)?;
    let origin = source.origin.describe();
    output::show(app.global.output, Shown { runbook, origin })
}

/// A runbook as written: its parameters and steps. The data is the runbook.
#[derive(Serialize)]
#[serde(transparent)]
struct Shown {
    runbook: Runbook,
    #[serde(skip)]
    origin: String,
}

impl Report for Shown {
    fn human(&self, _: OutputFormat) -> String {
        let mut out = String::new();
        push_line!(
            out,
            "{} {}",
            style::bold(&self.runbook.name),
            style::dim(&format!("({})", self.origin))
        );
        push_line!(out, "{}", self.runbook.summary);
        if !self.runbook.source.is_empty() {
            push_line!(out, "{} {}", style::dim("from:"), self.runbook.source);
        }
        if !self.runbook.params.is_empty() {
            let mut t = table::new(&["param", "type", "required", "default", "description"]);
            for p in &self.runbook.params {
                let mut ty = p.ty.name().to_string();
                if !p.choices.is_empty() {
                    ty = format!("{ty} ({})", p.choices.join("|"));
                }
                if p.secret {
                    ty.push_str(", secret");
                }
                t.add_row(vec![
                    p.name.clone(),
                    ty,
                    if p.required {
                        "yes".into()
                    } else {
                        "no".into()
                    },
                    p.default.clone().unwrap_or_default(),
                    p.description.clone(),
                ]);
            }
            push_line!(out, "\n{}", table::render(&t));
        }
        push_line!(out, "\n{}", steps_table(&self.runbook, None));
        for (i, s) in self.runbook.steps.iter().enumerate() {
            push_line!(
                out,
                "\n{} {} {}",
                style::bold(&format!("{}. {}", i + 1, s.id)),
                s.title,
                style::dim(&format!("[{}]", s.action))
            );
            let mut extra = Vec::new();
            if let Some(w) = &s.when {
                extra.push(format!("when: {w}"));
            }
            if let Some(t) = s.timeout {
                extra.push(format!("timeout: {}", humantime::format_duration(t)));
            }
            if s.retries > 0 {
                extra.push(format!("retries: {}", s.retries));
            }
            if !extra.is_empty() {
                push_line!(out, "   {}", style::dim(&extra.join("   ")));
            }
            let text = serde_saphyr::to_string(&s.args).unwrap_or_default();
            for line in text.lines() {
                push_line!(out, "   {line}");
            }
        }
        out
    }
}

/// Every action a step can use: what it does, and its arguments.
fn actions(app: &App) -> Result<()> {
    output::show(
        app.global.output,
        Actions(crate::runbook::actions::describe()),
    )
}

/// Every action with its arguments.
#[derive(Serialize)]
#[serde(transparent)]
struct Actions(Vec<crate::runbook::actions::Described>);

impl Report for Actions {
    fn human(&self, _: OutputFormat) -> String {
        let mut out = String::new();
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        let mut t = table::new(&["action", "changes", "idempotent", "about"]);
        for a in &self.0 {
            t.add_row(vec![
                a.name.to_string(),
                yes_no(a.changes),
                yes_no(a.idempotent),
                a.about.to_string(),
            ]);
        }
        push_line!(out, "{}", table::render_to_fit(t));
        let mut t = table::new(&["action", "argument", "required", "takes", "help"]);
        for a in &self.0 {
            for f in &a.args {
                t.add_row(vec![
                    a.name.to_string(),
                    f.name.to_string(),
                    yes_no(f.required),
                    f.kind.name().to_string(),
                    f.help.to_string(),
                ]);
            }
        }
        push_line!(out, "\n{}", table::render_to_fit(t));
        out
    }
}

/// Whether a runbook file is valid, and its problems.
#[derive(Serialize)]
struct Validated<'a> {
    file: String,
    valid: bool,
    problems: &'a [rb::Diagnostic],
    /// What a valid one holds: its name, parameters and steps.
    #[serde(skip)]
    holds: Option<(String, usize, usize)>,
    #[serde(skip)]
    path: &'a Path,
}

impl Report for Validated<'_> {
    fn human(&self, _: OutputFormat) -> String {
        match &self.holds {
            Some((name, params, steps)) => format!(
                "{}: ok: runbook `{name}`, {params} parameter(s), {steps} step(s)\n",
                self.file
            ),
            None => String::new(),
        }
    }

    /// An invalid file exits 2, its problems each at their line.
    fn exit(&self) -> Result<()> {
        if self.valid {
            Ok(())
        } else {
            Err(rb::invalid(self.path, self.problems))
        }
    }
}

fn validate(app: &App, file: &Path) -> Result<()> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::CannotRead {
        what: "runbook",
        path: file.to_path_buf(),
        reason: e.to_string(),
    })?;
    let result = rb::check(&text);
    output::show(
        app.global.output,
        Validated {
            file: file.display().to_string(),
            valid: result.is_ok(),
            problems: result.as_ref().err().map(Vec::as_slice).unwrap_or(&[]),
            holds: result
                .as_ref()
                .ok()
                .map(|r| (r.name.clone(), r.params.len(), r.steps.len())),
            path: file,
        },
    )
}

/// A secret given as `--set NAME=VALUE` works, but stays behind.
fn warn_of_secrets_on_command_line(runbook: &Runbook, sets: &[String]) {
    for name in launch::secrets_on_command_line(runbook, sets) {
        style::note(&format!(
            "warning: the secret parameter `{name}` was given on the command line, where shell history and the process list keep it; pass `--set {name}=-` and the value on stdin"
        ));
    }
}

/// Asks the engineer for a required parameter nothing gave, on a terminal
/// (`None` without one: the parameter is missing).
fn ask_param(p: &Param) -> Result<Option<String>> {
    if !prompt::stdin_is_terminal() {
        return Ok(None);
    }
    let mut q = p.name.clone();
    if !p.description.is_empty() {
        q = format!("{q} ({})", p.description);
    }
    let answer = if p.secret {
        // Typed, never echoed: the screen may be shared or recorded.
        prompt::secret(&q)?
    } else if p.choices.is_empty() {
        prompt::ask(&q, None)?
    } else {
        p.choices[prompt::choose(&q, &p.choices)?].clone()
    };
    Ok(Some(answer))
}

/// Connects when a step from `start` on talks to the cluster.
async fn connect_if_needed<'a>(
    app: &'a App,
    runbook: &Runbook,
    start: usize,
) -> Result<Option<&'a Cluster>> {
    if launch::needs_cluster(runbook, start) {
        Ok(Some(app.cluster().await?))
    } else {
        Ok(None)
    }
}

/// Another run of the same runbook, on the same context, still running:
/// warn, and ask whether to run beside it.
fn check_concurrent(runbook: &str, context: &str, force: bool) -> Result<()> {
    match launch::beside(runbook, context, force, prompt::stdin_is_terminal())? {
        Beside::Alone => Ok(()),
        Beside::Forced(what) => {
            style::note(&format!("warning: {what}; running beside it (--force)"));
            Ok(())
        }
        Beside::Ask(what, other) => {
            style::note(&format!("warning: {what}"));
            if prompt::confirm("Run beside it anyway?")? {
                Ok(())
            } else {
                Err(Error::Declined(format!("run {other} is still running")))
            }
        }
    }
}

async fn start(
    app: &App,
    name: &str,
    sets: &[String],
    from_step: Option<&str>,
    force: bool,
) -> Result<()> {
    let source = rb::find(name)?;
    let runbook = rb::load(&source)?;
    let mut given = launch::parse_sets(&runbook, sets, ask_param)?;
    launch::apply_namespace_flag(&runbook, &mut given, app.global.namespace.as_deref());
    warn_of_secrets_on_command_line(&runbook, sets);
    let start = launch::start_index(&runbook, from_step)?;
    let values = launch::resolve_params(&runbook, &given, ask_param)?;
    let cluster = connect_if_needed(app, &runbook, start).await?;
    let place = launch::Place::of(cluster, app.global.context(), app.global.namespace.clone());
    if !app.global.dry_run {
        check_concurrent(&runbook.name, &place.context, force)?;
    }
    let journal = launch::new_journal(&source, &runbook, &values, place, app.global.dry_run, start);
    let _lock = launch::begin(&journal)?;
    let mut run = new_run(app, &runbook, cluster, values, journal);
    print_header(app, &run, Opening::New(start));
    finish(app, &mut run, start).await
}

/// The engine's state for a run (new or resumed) under the app's flags.
fn new_run<'a>(
    app: &'a App,
    runbook: &'a Runbook,
    cluster: Option<&'a Cluster>,
    values: BTreeMap<String, Json>,
    journal: Journal,
) -> Run<'a> {
    Run {
        runbook,
        cluster,
        connect: app.connect_options(),
        config: &app.config,
        values,
        journal,
        dry_run: app.global.dry_run,
        reported: Default::default(),
    }
}

/// Where a run begins: a new run at its first step (or `--from-step`'s),
/// or a resumed one at its first step not finished.
#[derive(Clone, Copy)]
enum Opening {
    New(usize),
    Resumed(usize),
}

fn print_header(app: &App, run: &Run, opening: Opening) {
    // The heading, like each step's lines, is the run's live account; with
    // `-o json|yaml` the journal printed at the end says it all.
    if app.global.output.is_structured() {
        return;
    }
    let j = &run.journal;
    if let Opening::Resumed(_) = opening {
        outln!("{} run {}", style::bold("Resuming"), j.run_id);
    }
    outln!(
        "{} {} — {}",
        style::bold("Runbook:"),
        run.runbook.name,
        run.runbook.summary
    );
    outln!(
        "  context: {}   cluster: {}   namespace: {}",
        style::bold(&j.context),
        j.cluster,
        j.namespace
    );
    if !j.params.is_empty() {
        let p: Vec<String> = j.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        outln!("  params: {}", p.join("  "));
    }
    outln!(
        "  run id: {}{}",
        style::bold(&j.run_id),
        if run.dry_run {
            "   (dry run: only read-only steps run)"
        } else {
            ""
        }
    );
    if let Opening::New(start) = opening
        && start > 0
    {
        outln!(
            "  starting at step {} (`{}`)",
            start + 1,
            run.runbook.steps[start].id
        );
    }
    outln!("\n{}", steps_table(run.runbook, Some(&j.steps)));
    if let Opening::Resumed(first) = opening
        && let Some(step) = run.runbook.steps.get(first)
    {
        outln!(
            "\nContinuing at step {} (`{}`); finished steps are not repeated.",
            first + 1,
            step.id
        );
    }
}

async fn finish(app: &App, run: &mut Run<'_>, start: usize) -> Result<()> {
    let (context, url) = (run.journal.context.clone(), run.journal.cluster.clone());
    let describe = match run.cluster {
        Some(c) => c.describe(),
        None => format!("context `{context}`"),
    };
    let mut ui = CliUi {
        app,
        spinner: None,
        heartbeat: None,
        context,
        url,
        describe,
        cluster: run.cluster,
        sandbox_note: None,
    };
    let Ended { journal, result } = launch::execute(run, &mut ui, start).await;
    let ended = RunEnded {
        journal,
        runbook: run.runbook.name.clone(),
        dry_run: run.dry_run,
        result,
        sandbox_note: ui.sandbox_note,
    };
    output::show(app.global.output, ended)
}

/// How a run ended: its journal (secrets redacted) is the data; a person
/// gets a closing line, or where the journal is.
#[derive(Serialize)]
#[serde(transparent)]
struct RunEnded {
    journal: Journal,
    #[serde(skip)]
    runbook: String,
    #[serde(skip)]
    dry_run: bool,
    #[serde(skip)]
    result: Result<()>,
    #[serde(skip)]
    sandbox_note: Option<String>,
}

impl Report for RunEnded {
    fn human(&self, _: OutputFormat) -> String {
        if self.result.is_err() || self.dry_run {
            return String::new();
        }
        let id = &self.journal.run_id;
        format!(
            "\n{} runbook `{}` completed (run {id}; timeline: `{}`)\n",
            style::good("✓"),
            self.runbook,
            crate::suggest::oncall(&format!("runbook log {id} --format markdown"))
        )
    }

    fn remarks(&self, _: OutputFormat) -> Vec<String> {
        let remark = match &self.result {
            Ok(()) if self.dry_run => format!(
                "\nDry run of `{}` finished: read-only steps ran, nothing was changed. Journal: {}",
                self.runbook, self.journal.run_id
            ),
            Ok(()) => String::new(),
            Err(_) => format!(
                "journal: {}",
                self.journal
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
        };
        [Some(remark), self.sandbox_note.clone()]
            .into_iter()
            .flatten()
            .filter(|r| !r.is_empty())
            .map(|r| style::dim(&r))
            .collect()
    }

    fn finish(self) -> Result<()> {
        self.result
    }
}

async fn resume(app: &App, run_id: &str, force: bool, sets: &[String]) -> Result<()> {
    let stopped = match launch::resume(run_id, force)? {
        Resume::Completed(run_id) => {
            outln!("Run {run_id} already completed; nothing to resume.");
            return Ok(());
        }
        Resume::Stopped(stopped) => stopped,
    };
    if stopped.changed {
        style::note(
            "the runbook changed since the run started; resuming with the new version (--force)",
        );
    }
    let mut resuming = stopped.fit(sets, ask_param)?;
    warn_of_secrets_on_command_line(&resuming.runbook, sets);
    let values = launch::resolve_params(&resuming.runbook, &resuming.given, ask_param)?;
    let first = resuming.first;
    let cluster = connect_if_needed(app, &resuming.runbook, first).await?;
    let _lock = resuming.on(cluster, force, app.global.dry_run)?;
    let Resuming {
        journal, runbook, ..
    } = resuming;
    let mut run = new_run(app, &runbook, cluster, values, journal);
    print_header(app, &run, Opening::Resumed(first));
    finish(app, &mut run, 0).await
}

/// The command layer's side of a run: prints, asks, records.
struct CliUi<'a> {
    app: &'a App,
    /// Shown while a step's action runs; hidden when stderr is not a terminal.
    spinner: Option<indicatif::ProgressBar>,
    /// Without a terminal: a line every so often while a step's action
    /// runs (a replace waits minutes), so a CI log never goes quiet.
    heartbeat: Option<Heartbeat>,
    context: String,
    url: String,
    describe: String,
    /// The run's connection: its identity goes into the audit entries.
    cluster: Option<&'a Cluster>,
    /// Said once at the end when a step's text suggested kubectl in the
    /// sandbox (see `suggest::sandbox_kubectl_note`).
    sandbox_note: Option<String>,
}

impl CliUi<'_> {
    /// Whether to tell the run as it goes; with `-o json|yaml` the journal
    /// printed at the end is the output.
    fn human(&self) -> bool {
        !self.app.global.output.is_structured()
    }
}

impl Ui for CliUi<'_> {
    fn step_start(&mut self, index: usize, total: usize, step: &Step) {
        if self.human() {
            outln!(
                "\n{} {} {}",
                style::bold(&format!("[{}/{}] {}:", index + 1, total, step.id)),
                step.title,
                style::dim(&format!("({})", step.action))
            );
        }
    }

    fn approve(&mut self, _step: &Step, plan: &Plan) -> Result<Answer> {
        if self.human() {
            let text = plan.render();
            outln!("{text}");
            self.sandbox_note = self
                .sandbox_note
                .take()
                .or_else(|| crate::suggest::sandbox_kubectl_note(&text));
        }
        let answer = safety::decide_at(self.app, &self.context, &self.describe, plan)?;
        if matches!(answer, Answer::Declined | Answer::Refused) {
            self.audit(plan, answer, &Outcome::nothing())?;
        }
        Ok(answer)
    }

    fn audit(&mut self, plan: &Plan, answer: Answer, outcome: &Outcome) -> Result<()> {
        audit::record_at(
            &self.context,
            &self.url,
            self.cluster,
            plan,
            answer,
            outcome,
        )
    }

    fn manual(&mut self, _step: &Step, instructions: &str) -> Result<Answer> {
        if self.human() {
            for line in instructions.trim_end().lines() {
                outln!("  │ {line}");
            }
        }
        if self.app.global.dry_run {
            return Ok(Answer::DryRun);
        }
        if self.app.global.yes {
            if self.human() {
                style::note("  confirmed by --yes: you are responsible for having done this");
            }
            return Ok(Answer::YesFlag);
        }
        if !prompt::stdin_is_terminal() {
            return Ok(Answer::Refused);
        }
        Ok(
            if prompt::confirm("Done? (no stops the run; resume it later)")? {
                Answer::Confirmed
            } else {
                Answer::Declined
            },
        )
    }

    fn ask_completed(&mut self, step: &Step) -> Result<Option<bool>> {
        if !prompt::stdin_is_terminal() {
            return Ok(None);
        }
        let q = format!(
            "Step `{}` ({}) was interrupted while it ran and is not safe to repeat. Did it complete?",
            step.id, step.title
        );
        prompt::confirm(&q).map(Some)
    }

    fn running(&mut self, step: &Step) {
        let spinner = self.app.progress.spinner(&step.id);
        spinner.set_message(step.title.clone());
        self.spinner = Some(spinner);
        let heartbeat = Heartbeat::start(&self.app.progress);
        heartbeat.set(format!("running step `{}`: {}", step.id, step.title));
        self.heartbeat = Some(heartbeat);
    }

    fn step_end(&mut self, _step: &Step, record: &StepRecord, output: Option<&str>) {
        if let Some(s) = self.spinner.take() {
            s.finish_and_clear();
        }
        self.heartbeat = None;
        if !self.human() {
            return;
        }
        let outcome = record.outcome.clone().unwrap_or_default();
        // The mark already says "skipped".
        let outcome = outcome
            .strip_prefix("skipped: ")
            .map(str::to_string)
            .unwrap_or(outcome);
        // A long text is shown by its end; its outcome (a report's headline)
        // may be above it, and is then repeated on the closing line.
        let mut outcome_cut = false;
        if let Some(out) = output {
            self.sandbox_note = self
                .sandbox_note
                .take()
                .or_else(|| crate::suggest::sandbox_kubectl_note(out));
            let lines: Vec<&str> = out.trim_end().lines().collect();
            let hidden = lines.len().saturating_sub(20);
            if hidden > 0 {
                outln!(
                    "  {}",
                    style::dim(&format!("… {hidden} line(s) above; the journal keeps them"))
                );
                outcome_cut = !lines[hidden..].iter().any(|l| l.trim() == outcome);
            }
            for l in &lines[hidden..] {
                outln!("  {}", style::dim(l));
            }
        }
        let took = record
            .duration_ms
            .map(|ms| {
                format!(
                    " in {}",
                    humantime::format_duration(std::time::Duration::from_millis(ms))
                )
            })
            .unwrap_or_default();
        let mark = match record.state {
            StepState::Done => style::good("✓ done"),
            StepState::Skipped => style::dim("– skipped"),
            StepState::Planned => style::warn("○ not run (dry run)"),
            StepState::Failed => style::bad("✗ failed"),
            _ => String::new(),
        };
        outln!(
            "  {mark}{took}{}",
            if outcome.is_empty()
                || record.state == StepState::Planned
                || record.state == StepState::Done && output.is_some() && !outcome_cut
            {
                String::new()
            } else {
                format!(": {outcome}")
            }
        );
    }

    fn note(&mut self, text: &str) {
        match &self.spinner {
            Some(s) => s.suspend(|| style::note(text)),
            None => style::note(text),
        }
    }
}

fn log(app: &App, run_id: &str, format: LogFormat) -> Result<()> {
    let journal = Journal::load(run_id)?;
    output::show(app.global.output, Logged { journal, format })
}

/// A run's journal: as JSON/YAML, as a timeline, or as markdown.
#[derive(Serialize)]
#[serde(transparent)]
struct Logged {
    journal: Journal,
    #[serde(skip)]
    format: LogFormat,
}

impl Report for Logged {
    fn human(&self, _: OutputFormat) -> String {
        let mut out = String::new();
        match self.format {
            LogFormat::Markdown => out.push_str(&self.journal.markdown()),
            LogFormat::Text => {
                push_line!(
                    out,
                    "run {} of `{}`: {}",
                    self.journal.run_id,
                    self.journal.runbook,
                    self.journal.status.name()
                );
                push_line!(
                    out,
                    "context {} ({}), namespace {}, by {}",
                    self.journal.context,
                    self.journal.cluster,
                    self.journal.namespace,
                    self.journal.user
                );
                for s in &self.journal.steps {
                    let when = s
                        .started
                        .or(s.finished)
                        .map(|t| t.format("%H:%M:%S").to_string())
                        .unwrap_or_else(|| "--:--:--".into());
                    push_line!(
                        out,
                        "{when}  {:<11} {:<20} {}",
                        s.state.name(),
                        s.id,
                        s.outcome.clone().unwrap_or_default()
                    );
                }
            }
        }
        out
    }
}
