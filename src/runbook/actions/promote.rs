//! `promote`: the same `promote::run` procedure as `oncall promote`.

use super::args::{Dur, Flag, List, Text, args, dur, list, on};
use super::{Action, Produced, Spec, cluster};
use crate::cluster::{Cluster, ConnectOptions};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::promote::{run as procedure, sides, summary};
use crate::runbook::engine::Run;
use crate::runbook::model::Step;
use crate::safety::{Audited, Cancel, OpCtx, Plan, audit, op};
use crate::ui::output::Report;
use crate::ui::report::promote::Promoted;

args! {
    PromoteArgs {
        /// The environment (of the config file) or namespace to copy from (default: the config's `promote.from`).
        from: Option<Text>,
        /// The environment or namespace to change (default: the config's `promote.to`).
        to: Option<Text>,
        /// Only these workloads.
        only: Option<List>,
        /// How long to wait for each rollout (default 10m).
        timeout: Option<Dur>,
        /// Leave a failed promotion as it is instead of rolling back.
        no_rollback: Option<Flag>,
    }
}

async fn sides_of<'a>(
    cluster: &'a Cluster,
    options: &ConnectOptions,
    config: &Config,
    args: &PromoteArgs,
) -> Result<sides::Sides<'a>> {
    let settings = config.promote.clone().unwrap_or_default();
    let pick = |field: &str, given: &Option<Text>, configured: Option<String>| -> Result<String> {
        given
            .as_deref()
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .or(configured)
            .ok_or_else(|| Error::BadStepArgs {
                action: "promote".into(),
                field: Some(field.into()),
                reason: format!(
                    "is missing: give an environment of the config file or a namespace, or set `promote.{field}` in the config file"
                ),
            })
    };
    let from = pick("from", &args.from, settings.from.clone())?;
    let to = pick("to", &args.to, settings.to.clone())?;
    sides::for_runbook(cluster, options, config, &from, &to).await
}

pub(super) struct Promote;

impl Action for Promote {
    type Args = PromoteArgs;
    const SPEC: &'static Spec = &Spec::cluster(
        "promote",
        "make one environment run exactly the images another runs",
        true,
        false,
    );

    async fn plan(&self, run: &Run<'_>, args: &PromoteArgs, into: &mut Plan) -> Result<()> {
        let cluster = cluster(run, Self::SPEC.name)?;
        let sides = sides_of(cluster, &run.connect, run.config, args).await?;
        let settings = run.config.promote.clone().unwrap_or_default();
        let promotion =
            procedure::plan(&sides.source, &sides.target, &settings, list(&args.only)).await?;
        let target_cluster = sides.target.conn.cluster();
        let plan = summary::safety_plan(&promotion, target_cluster, &sides.target.namespace);
        if target_cluster.context != cluster.context {
            // The plan names where the change happens, not where the run started.
            into.context = target_cluster.context.clone();
            into.cluster = target_cluster.url.clone();
        }
        into.namespace = sides.target.namespace.clone();
        super::extend(into, plan);
        Ok(())
    }

    /// Promotes through `promote::run`, as `oncall promote` does. Output:
    /// `release`, `result`, `plan`, `migration` (`promote -o json`).
    async fn run(&self, run: &Run<'_>, _step: &Step, args: PromoteArgs) -> Result<Produced> {
        let cluster = cluster(run, Self::SPEC.name)?;
        let sides = sides_of(cluster, &run.connect, run.config, &args).await?;
        let (source, target) = (&sides.source, &sides.target);
        let settings = run.config.promote.clone().unwrap_or_default();
        let promotion = procedure::plan(source, target, &settings, list(&args.only)).await?;
        if promotion.is_empty() {
            let report = procedure::PromoteReport::nothing_to_do(promotion);
            let report = Promoted::new(report, &target.namespace);
            return Ok(Produced::report(&report));
        }
        let job = procedure::Job {
            action: procedure::Action::Promote,
            source: source.label.clone(),
            sha: promotion.release_sha(),
            plan: promotion,
            options: procedure::Options {
                no_rollback: on(args.no_rollback),
                timeout: dur(args.timeout, std::time::Duration::from_secs(600)),
            },
        };
        let user = audit::os_user();
        let ctx = OpCtx::new(&user, Cancel::on_signal(), &op::ignore);
        let target_cluster = target.conn.cluster();
        let report = procedure::run(target_cluster, &target.namespace, &job, &ctx).await;
        run.report_audit(report.audit());
        let report = Promoted::new(report, &target.namespace);
        let produced = Produced::report(&report);
        report.finish()?;
        Ok(produced)
    }
}
