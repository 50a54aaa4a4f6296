//! `oncall promote`, `promote history` and `promote rollback`: plans,
//! confirmation, progress and reports around `crate::promote::run`.

use crate::app::App;
use crate::cli::{PromoteArgs, PromoteCommand};
use crate::cluster::{Cluster, api_error};
use crate::error::{Error, Result};
use crate::promote::inventory;
use crate::promote::ledger;
use crate::promote::plan::PromotionPlan;
use crate::promote::run::{self, Action, Event, Job, Options};
use crate::promote::sides::{self, SideSpec};
use crate::promote::summary::{add_workload_changes, safety_plan};
use crate::safety::{self, Cancel, OpCtx, Plan, audit};
use crate::ui::output::{self, OutputFormat, Report};
use crate::ui::progress::Spinners;
use crate::ui::report::promote::{NothingToPromote, Promoted};
use crate::ui::table;
use serde::Serialize;

pub(super) async fn run(app: &App, args: PromoteArgs) -> Result<()> {
    match args.command {
        Some(PromoteCommand::History) => history(app, &args).await,
        Some(PromoteCommand::Rollback { ref to }) => rollback(app, &args, to.clone()).await,
        None => promote(app, &args).await,
    }
}

/// The side flags as the domain takes them.
fn side_spec(app: &App, args: &PromoteArgs) -> SideSpec {
    SideSpec {
        from: args.from.clone(),
        to: args.to.clone(),
        from_context: args.from_context.clone(),
        from_namespace: args.from_namespace.clone(),
        to_context: args.to_context.clone(),
        to_namespace: args.to_namespace.clone(),
        context: app.global.context(),
        namespace: app.global.namespace.clone(),
    }
}

async fn target_side<'a>(app: &'a App, args: &PromoteArgs) -> Result<sides::Side<'a>> {
    let shared = app.cluster().await?;
    sides::target(
        shared,
        &app.connect_options(),
        &app.config,
        &side_spec(app, args),
    )
    .await
}

async fn promote(app: &App, args: &PromoteArgs) -> Result<()> {
    let settings = app.config.promote.clone().unwrap_or_default();
    let shared = app.cluster().await?;
    let spec = side_spec(app, args);
    let sides = sides::resolve(shared, &app.connect_options(), &app.config, &spec).await?;
    let (source, target) = (&sides.source, &sides.target);
    let cluster = target.conn.cluster();
    let promotion = run::plan(source, target, &settings, &args.only).await?;
    if promotion.is_empty() {
        return output::show(app.global.output, NothingToPromote(&promotion));
    }
    let plan = safety_plan(&promotion, cluster, &target.namespace);
    let job = Job {
        action: Action::Promote,
        source: source.label.clone(),
        sha: promotion.release_sha(),
        plan: promotion,
        options: Options {
            no_rollback: args.no_rollback,
            timeout: args.timeout,
        },
    };
    release(app, cluster, &target.namespace, &plan, &job).await
}

/// Asks, runs the release with a spinner per workload, and reports.
async fn release(
    app: &App,
    cluster: &Cluster,
    namespace: &str,
    plan: &Plan,
    job: &Job,
) -> Result<()> {
    let observer = Spinners::observer(&app.progress, show);
    let user = audit::os_user();
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &observer);
    let released = async || run::run(cluster, namespace, job, &ctx).await;
    let Some(report) = safety::execute(app, cluster, plan, released).await? else {
        return Ok(());
    };
    let promoted = Promoted::new(report, namespace);
    if !promoted.started() {
        // Nothing was started: the error says why.
        return promoted.finish();
    }
    output::show(app.global.output, promoted)
}

/// Draws the procedure's events as one spinner per workload.
fn show(spinners: &mut Spinners, event: Event) {
    match event {
        Event::Progress { target, message } => spinners.message(&target, &message),
        Event::MigrationLog(line) => spinners.update("migration", &line),
        Event::Finished { target, error } => spinners.finished(&target, error.as_deref()),
    }
}

async fn history(app: &App, args: &PromoteArgs) -> Result<()> {
    let side = target_side(app, args).await?;
    let (cluster, namespace) = (side.conn.cluster(), side.namespace.clone());
    let releases = read_ledger(cluster, &namespace).await?;
    output::show(
        app.global.output,
        History {
            releases,
            namespace,
        },
    )
}

/// The ledger of `namespace`; a namespace without one may be mistyped, so
/// one that does not exist is named as such rather than read as "no
/// releases yet".
async fn read_ledger(cluster: &Cluster, namespace: &str) -> Result<Vec<ledger::Release>> {
    let releases = ledger::read(&cluster.client, namespace)
        .await
        .map_err(|e| api_error(e, &cluster.url, "read the release ledger"))?;
    if releases.is_empty() {
        cluster.require_namespace(namespace).await?;
    }
    Ok(releases)
}

/// The release ledger of a namespace, newest release first in the table.
#[derive(Serialize)]
#[serde(transparent)]
struct History {
    releases: Vec<ledger::Release>,
    #[serde(skip)]
    namespace: String,
}

impl Report for History {
    fn human(&self, _: OutputFormat) -> String {
        if self.releases.is_empty() {
            return format!(
                "No releases recorded in `{}` yet (the ledger is the ConfigMap `{}`).\n",
                self.namespace,
                ledger::CONFIGMAP
            );
        }
        let mut t = table::new(&[
            "release", "time", "user", "action", "source", "git sha", "result", "changes",
        ]);
        for r in self.releases.iter().rev() {
            t.add_row(vec![
                r.number.to_string(),
                r.time
                    .with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M")
                    .to_string(),
                r.user.clone(),
                r.action.clone(),
                r.source.clone(),
                r.sha
                    .as_deref()
                    .map(|s| s.chars().take(12).collect())
                    .unwrap_or_else(|| "-".into()),
                r.result.clone(),
                r.changes.len().to_string(),
            ]);
        }
        format!("{}\n", table::render(&t))
    }
}

async fn rollback(app: &App, args: &PromoteArgs, to: Option<String>) -> Result<()> {
    let side = target_side(app, args).await?;
    let (cluster, namespace) = (side.conn.cluster(), side.namespace.clone());
    let timeout = args.timeout;
    let client = &cluster.client;
    let releases = read_ledger(cluster, &namespace).await?;
    let Some(goal) = ledger::find_target(&releases, to.as_deref()) else {
        return Err(Error::NoRelease {
            namespace,
            release: to,
            history: crate::suggest::oncall("promote history"),
        });
    };
    let current = inventory::list(client, &namespace, None)
        .await
        .map_err(|e| api_error(e, &cluster.url, "list workloads"))?;
    let singletons = app
        .config
        .promote
        .as_ref()
        .map(|p| p.singletons.clone())
        .unwrap_or_default();
    let changes = run::rollback_changes(&releases, goal.state(), &current, &singletons);
    let mut plan = Plan::new(
        format!("roll back `{namespace}` to {}", describe_goal(goal)),
        cluster,
    )
    .in_namespace(&namespace);
    if let ledger::Goal::Release(r) = goal
        && ledger::was_undone(&releases, r)
    {
        plan.warn(format!(
            "release {} was {}: you are going back to a release that did not stay live",
            r.number,
            if r.result == "succeeded" {
                "rolled back later"
            } else {
                r.result.as_str()
            }
        ));
    }
    add_workload_changes(&mut plan, &changes);
    plan.warn("database migrations are not reverted: check that the old release works with the current schema");
    if changes.is_empty() {
        outln!(
            "Nothing to do: `{namespace}` already runs {}.",
            goal.label()
        );
        return Ok(());
    }
    let source = goal.label();
    let promotion = PromotionPlan {
        changes,
        ..PromotionPlan::new(source.clone(), namespace.clone())
    };
    let job = Job {
        action: Action::Rollback,
        source,
        sha: goal.sha(),
        plan: promotion,
        // A failed rollback is not itself rolled back: the engineer decides.
        options: Options {
            no_rollback: true,
            timeout,
        },
    };
    release(app, cluster, &namespace, &plan, &job).await
}

/// The rollback goal as the plan names it: which release, what it was, how it ended.
fn describe_goal(goal: ledger::Goal) -> String {
    let r = goal.release();
    let when = r
        .time
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M");
    let sha = r
        .sha
        .as_deref()
        .map(|s| format!(", git {}", s.chars().take(12).collect::<String>()))
        .unwrap_or_default();
    match goal {
        ledger::Goal::Release(_) => format!(
            "release {} ({} from {}{sha} by {} at {when}, {})",
            r.number, r.action, r.source, r.user, r.result
        ),
        ledger::Goal::Before(_) => format!(
            "before release {}: the images it replaced ({} from {} at {when})",
            r.number, r.action, r.source
        ),
    }
}
