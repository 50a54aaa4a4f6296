//! `job_run`, `job_suspend` and `job_resume`: the same procedures as `oncall
//! job run|suspend|resume`, through `crate::jobs`, without prompts (the
//! engine asks before each mutating step).

use serde_json::{Value as Json, json};

use super::dispatch::{arg, as_list, duration_or, flag};
use super::engine::Run;
use crate::cluster::Cluster;
use crate::error::Result;
use crate::jobs::run::{self, Options, Verdict};
use crate::jobs::{self, suspend};
use crate::safety::op::ignore;
use crate::safety::{Audited, Cancel, OpCtx, Plan, audit};

/// A step waits as long as the command does by default.
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

fn cronjob(args: &Json) -> Result<String> {
    jobs::parse_target(arg(args, "cronjob").unwrap_or_default())
}

fn options(args: &Json) -> Result<Options> {
    Ok(Options {
        force: flag(args.get("force"), "force")?,
        // The engine keeps the log's last lines; nobody watches a stream.
        follow: false,
        timeout: duration_or(args.get("timeout"), "timeout", DEFAULT_TIMEOUT)?,
    })
}

/// Copies the domain's plan into the step's.
fn adopt(into: &mut Plan, plan: Plan) {
    into.changes = plan.changes;
    into.skipped = plan.skipped;
    into.warnings = plan.warnings;
}

pub(super) async fn plan_run(
    cluster: &Cluster,
    namespace: &str,
    args: &Json,
    into: &mut Plan,
) -> Result<()> {
    let name = cronjob(args)?;
    let (_, plan) =
        run::prepare(cluster, namespace, &name, &audit::os_user(), options(args)?).await?;
    adopt(into, plan);
    Ok(())
}

/// Runs the CronJob's job and waits for it. Its output is `job run -o json`;
/// the step fails as the command would (failed, timed out, refused).
pub(super) async fn run_job(
    run: &Run<'_>,
    cluster: &Cluster,
    namespace: &str,
    args: &Json,
) -> Result<(Json, String)> {
    let name = cronjob(args)?;
    let user = audit::os_user();
    let (job, _) = run::prepare(cluster, namespace, &name, &user, options(args)?).await?;
    // Events are only for a watching terminal; the report carries the rest.
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &ignore::<run::Event>);
    let outcome = run::run(cluster, &job, &ctx).await;
    run.report_audit(outcome.audit());
    let report = outcome.report;
    let mut text = match (&report.job, report.outcome) {
        (Some(j), Verdict::Succeeded) => {
            format!("job/{j} succeeded in {:.1}s", report.duration_seconds)
        }
        (Some(j), Verdict::Failed) => format!(
            "job/{j} failed{}",
            report
                .exit_code
                .map(|c| format!(" with exit code {c}"))
                .unwrap_or_default()
        ),
        (Some(j), _) => format!("job/{j} is still running"),
        (None, _) => format!("no job was started from cronjob/{name}"),
    };
    for line in &report.log_tail {
        text.push_str(&format!("\n  {line}"));
    }
    outcome.result?;
    Ok((serde_json::to_value(&report).unwrap_or_default(), text))
}

async fn prepare_toggle(
    cluster: &Cluster,
    namespace: &str,
    args: &Json,
    suspending: bool,
) -> Result<(suspend::Toggle, Plan)> {
    let names = as_list(args.get("cronjobs"))
        .iter()
        .map(|t| jobs::parse_target(t))
        .collect::<Result<Vec<_>>>()?;
    if suspending {
        suspend::prepare_suspend(cluster, namespace, &names, arg(args, "reason")).await
    } else {
        let force = flag(args.get("force"), "force")?;
        suspend::prepare_resume(cluster, namespace, &names, &audit::os_user(), force).await
    }
}

pub(super) async fn plan_toggle(
    cluster: &Cluster,
    namespace: &str,
    args: &Json,
    suspending: bool,
    into: &mut Plan,
) -> Result<()> {
    let (_, plan) = prepare_toggle(cluster, namespace, args, suspending).await?;
    adopt(into, plan);
    Ok(())
}

/// Suspends or resumes the CronJobs. Its output lists what was changed and
/// what was left; a suspension someone else made fails the step, as the
/// command exits 1, after the others are done.
pub(super) async fn run_toggle(
    cluster: &Cluster,
    namespace: &str,
    args: &Json,
    suspending: bool,
) -> Result<(Json, String)> {
    let (toggle, _) = prepare_toggle(cluster, namespace, args, suspending).await?;
    let user = audit::os_user();
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &ignore);
    let outcome = suspend::run(cluster, &toggle, &ctx).await;
    outcome.result?;
    toggle.refusal()?;
    let (verb, done) = (outcome.verb, outcome.done);
    let text = if done.is_empty() {
        format!("nothing to do: no CronJob needed to be {verb}")
    } else {
        done.iter()
            .map(|n| format!("cronjob/{n} {verb}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok((json!({ verb: done }), text))
}
