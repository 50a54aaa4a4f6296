//! `restart` and `rollout_status`: thin drivers of `crate::workloads::restart`,
//! the procedure `oncall restart` and `oncall rollout status` drive, without
//! prompts (the engine asks before each mutating step).

use std::collections::HashMap;
use std::time::Duration;

use super::args::{Dur, Flag, List, Text, args, dur, list, on};
use super::{Action, Produced, Spec, cluster, extend, namespace};
use crate::cluster::Cluster;
use crate::error::Result;
use crate::runbook::engine::Run;
use crate::runbook::model::Step;
use crate::safety::op::ignore;
use crate::safety::{Audited, Cancel, OpCtx, Plan, audit};
use crate::ui::output::Report;
use crate::ui::report::workloads::{Restarted, Rollouts};
use crate::workloads::WorkloadRef;
use crate::workloads::resolve::{ambiguity_error, resolve_with};
use crate::workloads::restart::{self, Event, Options};

/// How long a restart or a rollout is waited for, as the commands.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The step's workloads; an ambiguous name fails the step, listing the
/// candidates (nobody is there to choose).
async fn targets(
    cluster: &Cluster,
    namespace: &str,
    names: &[String],
    selector: Option<&str>,
    command: &str,
) -> Result<Vec<WorkloadRef>> {
    resolve_with(cluster, namespace, names, selector, |name, candidates| {
        Err(ambiguity_error(name, candidates, command))
    })
    .await
}

// ---- restart ----------------------------------------------------------

args! {
    RestartArgs {
        /// Workloads as [KIND/]NAME.
        targets: Option<List>,
        /// The namespace (default: the run's).
        namespace: Option<Text>,
        /// Workloads by label selector.
        selector: Option<Text>,
        /// Delete only the workloads' broken pods instead of a rolling restart.
        bad_pods: Option<Flag>,
        /// How long to wait for the rollouts (default 10m).
        timeout: Option<Dur>,
    }
}

async fn prepare(run: &Run<'_>, args: &RestartArgs) -> Result<(restart::Job, Plan)> {
    let cluster = cluster(run, Restart::SPEC.name)?;
    let ns = namespace(run, &args.namespace);
    let targets = targets(
        cluster,
        &ns,
        list(&args.targets),
        args.selector.as_deref(),
        "restart",
    )
    .await?;
    let options = Options {
        bad_pods: on(args.bad_pods),
        wait: true,
        timeout: dur(args.timeout, DEFAULT_TIMEOUT),
    };
    restart::prepare(cluster, &targets, options).await
}

pub(super) struct Restart;

impl Action for Restart {
    type Args = RestartArgs;
    const SPEC: &'static Spec = &Spec::cluster(
        "restart",
        "restart workloads (rolling), or delete their bad pods",
        true,
        false,
    );

    async fn plan(&self, run: &Run<'_>, args: &RestartArgs, into: &mut Plan) -> Result<()> {
        let (_, plan) = prepare(run, args).await?;
        extend(into, plan);
        Ok(())
    }

    /// Restarts (or evicts the broken pods of) the workloads and waits for
    /// their rollouts. Output: `restart -o json`; the step fails as the
    /// command does, in its words, and the audit log gets the command's outcome.
    async fn run(&self, run: &Run<'_>, _step: &Step, args: RestartArgs) -> Result<Produced> {
        let (job, _) = prepare(run, &args).await?;
        let user = audit::os_user();
        let ctx = OpCtx::new(&user, Cancel::on_signal(), &ignore::<Event>);
        let outcome = restart::run(cluster(run, Self::SPEC.name)?, &job, &ctx).await;
        run.report_audit(outcome.audit());
        let report = Restarted(outcome);
        let produced = Produced::report(&report);
        report.finish()?;
        Ok(produced)
    }
}

// ---- rollout_status ---------------------------------------------------

args! {
    RolloutArgs {
        /// The workload, as [KIND/]NAME.
        target: Text,
        /// The namespace (default: the run's).
        namespace: Option<Text>,
        /// How long to wait (default 10m).
        timeout: Option<Dur>,
    }
}

pub(super) struct RolloutStatus;

impl Action for RolloutStatus {
    type Args = RolloutArgs;
    const SPEC: &'static Spec = &Spec::cluster(
        "rollout_status",
        "wait for a workload's rollout to finish",
        false,
        true,
    );

    /// Waits for one workload's rollout, like `oncall rollout status`.
    async fn run(&self, run: &Run<'_>, _step: &Step, args: RolloutArgs) -> Result<Produced> {
        let cluster = cluster(run, Self::SPEC.name)?;
        let ns = namespace(run, &args.namespace);
        let timeout = dur(args.timeout, DEFAULT_TIMEOUT);
        let refs = targets(cluster, &ns, &[args.target.0], None, "rollout status").await?;
        let user = audit::os_user();
        let ctx = OpCtx::new(&user, Cancel::on_signal(), &ignore::<Event>);
        let rollouts = restart::follow(cluster, &refs, &HashMap::new(), timeout, &ctx).await?;
        let report = Rollouts::new(rollouts, timeout);
        let produced = Produced::report(&report);
        report.finish()?;
        Ok(produced)
    }
}
