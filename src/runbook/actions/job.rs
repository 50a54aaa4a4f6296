//! `job_run`, `job_suspend` and `job_resume`: the same procedures as `oncall
//! job run|suspend|resume`, through `crate::jobs`, without prompts (the
//! engine asks before each mutating step).

use super::args::{Dur, Flag, List, Text, args, dur, on};
use super::{Action, Produced, Spec, cluster, namespace};
use crate::cluster::Cluster;
use crate::error::Result;
use crate::jobs::run::{self, Options};
use crate::jobs::{self, suspend};
use crate::runbook::engine::Run as RunbookRun;
use crate::runbook::model::Step;
use crate::safety::op::ignore;
use crate::safety::{Audited, Cancel, OpCtx, Plan, audit};
use crate::ui::output::Report;
use crate::ui::report::jobs::{JobRan, Toggled};

/// A step waits as long as the command does by default.
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

/// Copies the domain's plan into the step's.
fn adopt(into: &mut Plan, plan: Plan) {
    into.changes = plan.changes;
    into.skipped = plan.skipped;
    into.warnings = plan.warnings;
}

// ---- job_run ----------------------------------------------------------

args! {
    JobRunArgs {
        /// The CronJob, as NAME or cronjob/NAME.
        cronjob: Text,
        /// The namespace (default: the run's).
        namespace: Option<Text>,
        /// How long to wait for the job (default 1h).
        timeout: Option<Dur>,
        /// Run even when a job of the CronJob is already running.
        force: Option<Flag>,
    }
}

async fn prepare_run(run: &RunbookRun<'_>, args: &JobRunArgs) -> Result<(run::RunJob, Plan)> {
    let cluster = cluster(run, Run::SPEC.name)?;
    let name = jobs::parse_target(&args.cronjob)?;
    let options = Options {
        force: on(args.force),
        // The engine keeps the log's last lines; nobody watches a stream.
        follow: false,
        timeout: dur(args.timeout, DEFAULT_TIMEOUT),
    };
    let ns = namespace(run, &args.namespace);
    run::prepare(cluster, &ns, &name, &audit::os_user(), options).await
}

pub(super) struct Run;

impl Action for Run {
    type Args = JobRunArgs;
    const SPEC: &'static Spec = &Spec::cluster(
        "job_run",
        "run a CronJob's job now and wait for its outcome",
        true,
        false,
    );

    async fn plan(&self, run: &RunbookRun<'_>, args: &JobRunArgs, into: &mut Plan) -> Result<()> {
        let (_, plan) = prepare_run(run, args).await?;
        adopt(into, plan);
        Ok(())
    }

    /// Runs the CronJob's job and waits for it. Its output is `job run -o
    /// json`; the step fails as the command would (failed, timed out, refused).
    async fn run(&self, run: &RunbookRun<'_>, _step: &Step, args: JobRunArgs) -> Result<Produced> {
        let cluster = cluster(run, Self::SPEC.name)?;
        let (job, _) = prepare_run(run, &args).await?;
        let user = audit::os_user();
        // Events are only for a watching terminal; the report carries the rest.
        let ctx = OpCtx::new(&user, Cancel::on_signal(), &ignore::<run::Event>);
        let outcome = run::run(cluster, &job, &ctx).await;
        run.report_audit(outcome.audit());
        let report = JobRan::new(outcome, false);
        let produced = Produced::report(&report);
        report.finish()?;
        Ok(produced)
    }
}

// ---- job_suspend and job_resume ---------------------------------------

args! {
    SuspendArgs {
        /// The CronJobs, as NAME or cronjob/NAME.
        cronjobs: List,
        /// The namespace (default: the run's).
        namespace: Option<Text>,
        /// Why; recorded on the CronJob with your name and the time.
        reason: Option<Text>,
    }
}

args! {
    ResumeArgs {
        /// The CronJobs, as NAME or cronjob/NAME.
        cronjobs: List,
        /// The namespace (default: the run's).
        namespace: Option<Text>,
        /// Resume even a CronJob someone else suspended.
        force: Option<Flag>,
    }
}

/// What a suspension or a resumption is given.
struct ToggleArgs<'a> {
    cronjobs: &'a List,
    namespace: &'a Option<Text>,
    /// `Some(reason)` to suspend; `None` to resume.
    suspend: Option<Option<&'a str>>,
    force: bool,
}

async fn prepare_toggle(
    cluster: &Cluster,
    namespace: &str,
    t: &ToggleArgs<'_>,
) -> Result<(suspend::Toggle, Plan)> {
    let names = t
        .cronjobs
        .0
        .iter()
        .map(|t| jobs::parse_target(t))
        .collect::<Result<Vec<_>>>()?;
    match t.suspend {
        Some(reason) => suspend::prepare_suspend(cluster, namespace, &names, reason).await,
        None => {
            suspend::prepare_resume(cluster, namespace, &names, &audit::os_user(), t.force).await
        }
    }
}

async fn plan_toggle(
    run: &RunbookRun<'_>,
    action: &str,
    t: ToggleArgs<'_>,
    into: &mut Plan,
) -> Result<()> {
    let cluster = cluster(run, action)?;
    let (_, plan) = prepare_toggle(cluster, &namespace(run, t.namespace), &t).await?;
    adopt(into, plan);
    Ok(())
}

/// Suspends or resumes the CronJobs. Its output lists what was changed and
/// what was left; a suspension someone else made fails the step, as the
/// command exits 1, after the others are done.
async fn run_toggle(run: &RunbookRun<'_>, action: &str, t: ToggleArgs<'_>) -> Result<Produced> {
    let cluster = cluster(run, action)?;
    let (toggle, _) = prepare_toggle(cluster, &namespace(run, t.namespace), &t).await?;
    let user = audit::os_user();
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &ignore);
    let outcome = suspend::run(cluster, &toggle, &ctx).await;
    run.report_audit(outcome.audit());
    let report = Toggled::new(&toggle, outcome);
    let produced = Produced::report(&report);
    report.finish()?;
    Ok(produced)
}

impl<'a> From<&'a SuspendArgs> for ToggleArgs<'a> {
    fn from(a: &'a SuspendArgs) -> Self {
        ToggleArgs {
            cronjobs: &a.cronjobs,
            namespace: &a.namespace,
            suspend: Some(a.reason.as_deref()),
            force: false,
        }
    }
}

impl<'a> From<&'a ResumeArgs> for ToggleArgs<'a> {
    fn from(a: &'a ResumeArgs) -> Self {
        ToggleArgs {
            cronjobs: &a.cronjobs,
            namespace: &a.namespace,
            suspend: None,
            force: on(a.force),
        }
    }
}

pub(super) struct Suspend;

impl Action for Suspend {
    type Args = SuspendArgs;
    const SPEC: &'static Spec = &Spec::cluster(
        "job_suspend",
        "stop a CronJob's scheduled runs, recording who and why",
        true,
        true,
    );

    async fn plan(&self, run: &RunbookRun<'_>, args: &SuspendArgs, into: &mut Plan) -> Result<()> {
        plan_toggle(run, Self::SPEC.name, args.into(), into).await
    }

    async fn run(&self, run: &RunbookRun<'_>, _step: &Step, args: SuspendArgs) -> Result<Produced> {
        run_toggle(run, Self::SPEC.name, (&args).into()).await
    }
}

pub(super) struct Resume;

impl Action for Resume {
    type Args = ResumeArgs;
    const SPEC: &'static Spec = &Spec::cluster(
        "job_resume",
        "start a CronJob's scheduled runs again",
        true,
        true,
    );

    async fn plan(&self, run: &RunbookRun<'_>, args: &ResumeArgs, into: &mut Plan) -> Result<()> {
        plan_toggle(run, Self::SPEC.name, args.into(), into).await
    }

    async fn run(&self, run: &RunbookRun<'_>, _step: &Step, args: ResumeArgs) -> Result<Produced> {
        run_toggle(run, Self::SPEC.name, (&args).into()).await
    }
}
