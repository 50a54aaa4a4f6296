//! The promotion procedure itself, shared by `oncall promote`, `promote
//! rollback` and the runbook `promote` action: plan the two sides, record
//! the release, run the migration, change the workloads in order, put
//! everything back on failure, and record how the release ended. It
//! reports progress through an `OpCtx` and never prints.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::batch::v1::JobSpec;
use kube::Client;
use serde::Serialize;

use super::apply::{self, Direction, MigrationOutcome};
use super::image::ImageRef;
use super::inventory::{self, Workload};
use super::ledger::{self, ImageChange, Release};
use super::plan::{self, ContainerChange, MigrationPlan, PromotionPlan, Strategy, WorkloadChange};
use super::sides::Side;
use crate::cluster::retry::retry;
use crate::cluster::{Cluster, api_error};
use crate::config::PromoteSettings;
use crate::error::{Error, PromoteFailure, Result, Rollback};
use crate::safety::{Audited, OpCtx, audit};

/// What the procedure tells its caller as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// Work on `target` (a workload, or `migration`) began or moved on.
    Progress { target: String, message: String },
    /// A line of the migration job's log.
    MigrationLog(String),
    /// `target` finished; `error` says why when it failed.
    Finished {
        target: String,
        error: Option<String>,
    },
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Leave changed workloads as they are when something fails.
    pub no_rollback: bool,
    /// The longest wait for the migration or one rollout.
    pub timeout: Duration,
}

/// What a release does, as the ledger records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Make the target run what the source runs.
    Promote,
    /// Go back to an earlier release's images.
    Rollback,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Promote => "promote",
            Action::Rollback => "rollback",
        }
    }
}

/// A planned release: what `run` changes, and how the ledger names it.
pub(crate) struct Job {
    pub action: Action,
    /// Where the images come from: the source's label, or the release gone back to.
    pub source: String,
    /// The git SHA the release runs, when the images say.
    pub sha: Option<String>,
    pub plan: PromotionPlan,
    pub options: Options,
}

/// How a release went: `promote -o json`, and the runbook step's output.
#[derive(Debug, Serialize)]
pub(crate) struct PromoteReport {
    /// The release number in the ledger; none when no release was started.
    pub release: Option<u32>,
    /// `succeeded`, `failed`, `rolled back` or `interrupted` as the ledger
    /// records it; `unknown` when the ledger could not be updated, `nothing
    /// to do` when the target already runs the source's images.
    pub result: String,
    pub plan: PromotionPlan,
    pub migration: Option<MigrationOutcome>,
    /// The git SHA of the release.
    #[serde(skip)]
    pub sha: Option<String>,
    /// Why the ledger could not record how the release ended.
    #[serde(skip)]
    pub ledger_error: Option<String>,
    /// The procedure's result: what failed, and what was put back.
    #[serde(skip)]
    pub outcome: Result<()>,
}

impl PromoteReport {
    /// The report for a plan with nothing to change.
    pub(crate) fn nothing_to_do(plan: PromotionPlan) -> Self {
        PromoteReport {
            release: None,
            result: "nothing to do".into(),
            plan,
            migration: None,
            sha: None,
            ledger_error: None,
            outcome: Ok(()),
        }
    }
}

/// The audit log's outcome, the same for the command and the runbook.
impl Audited for PromoteReport {
    fn audit(&self) -> audit::Outcome {
        match (&self.outcome, self.release) {
            (Err(e), _) => audit::Outcome::from_error(e),
            (Ok(()), Some(n)) => audit::Outcome::ok(format!("release {n} ({})", self.result)),
            (Ok(()), None) => audit::Outcome::nothing(),
        }
    }
}

/// How an application of a plan ended.
struct Applied {
    migration: Option<MigrationOutcome>,
    result: Result<()>,
    /// Whether the previous images were put back after a failure.
    rolled_back: bool,
}

/// Records the release in the target's ledger, applies it, and records how
/// it ended. A ledger that cannot be written first stops everything; one
/// that cannot record the end is reported, not fatal (the change stands).
pub(crate) async fn run(
    cluster: &Cluster,
    namespace: &str,
    job: &Job,
    ctx: &OpCtx<'_, Event>,
) -> PromoteReport {
    let mut report = PromoteReport {
        release: None,
        result: "not started".into(),
        plan: job.plan.clone(),
        migration: None,
        sha: job.sha.clone(),
        ledger_error: None,
        outcome: Ok(()),
    };
    let client = &cluster.client;
    let started = start_release(client, namespace, job, ctx.user).await;
    let release = match started {
        Ok(r) => r,
        Err(e) => {
            report.outcome = Err(api_error(e, &cluster.url, "update the release ledger"));
            return report;
        }
    };
    report.release = Some(release.number);
    let tag = match (job.action, &release.sha) {
        (Action::Rollback, _) => "rollback".to_string(),
        (Action::Promote, Some(sha)) => sha.chars().take(7).collect(),
        (Action::Promote, None) => format!("r{}", release.number),
    };
    // The target may live in another context than the one the command was
    // given (an environment of the config): the commands the outcome gives
    // to paste, such as a restore, name the target's.
    let applied = crate::suggest::in_context(
        cluster.context.clone(),
        apply(client, namespace, &job.plan, &tag, job.options, ctx),
    )
    .await;
    match finish_release(client, namespace, release, &applied).await {
        Ok(r) => report.result = r.result,
        Err(e) => {
            report.result = "unknown".into();
            report.ledger_error = Some(e.to_string());
        }
    }
    report.migration = applied.migration;
    report.outcome = applied.result;
    report
}

/// Compares both sides and plans the migration.
pub(crate) async fn plan(
    source: &Side<'_>,
    target: &Side<'_>,
    settings: &PromoteSettings,
    only: &[String],
) -> Result<PromotionPlan> {
    let selector = settings.selector.as_deref();
    let source_url = &source.conn.cluster().url;
    let target_url = &target.conn.cluster().url;
    let source_workloads = inventory::list(source.client(), &source.namespace, selector)
        .await
        .map_err(|e| api_error(e, source_url, "list workloads"))?;
    let target_workloads = inventory::list(target.client(), &target.namespace, selector)
        .await
        .map_err(|e| api_error(e, target_url, "list workloads"))?;
    for (side, workloads) in [(source, &source_workloads), (target, &target_workloads)] {
        // A side without workloads is often a mistyped namespace.
        if workloads.is_empty() {
            side.conn
                .cluster()
                .require_namespace(&side.namespace)
                .await?;
        }
    }
    let mut promotion = plan::compare(
        &source.label,
        &target.label,
        &source_workloads,
        &target_workloads,
        settings,
        only,
    );
    let name = settings
        .migration
        .clone()
        .unwrap_or_else(|| "migrate".into());
    let template = apply::find_migration_template(target.client(), &target.namespace, &name)
        .await
        .map_err(|e| api_error(e, target_url, "get the migration template"))?;
    match template {
        Some((template_id, spec)) => {
            // The source's own migration template says which image to run;
            // failing that, the source image of the same repository.
            let source_template =
                apply::find_migration_template(source.client(), &source.namespace, &name)
                    .await
                    .map_err(|e| api_error(e, source_url, "get the migration template"))?;
            let source_spec = source_template.map(|(_, spec)| spec);
            promotion.migration = Some(migration_plan(
                &template_id,
                &spec,
                source_spec.as_ref(),
                &source_workloads,
            )?);
        }
        None if settings.migration.is_some() => {
            return Err(Error::NoMigrationTemplate {
                name,
                namespace: target.namespace.clone(),
            });
        }
        None => {}
    }
    Ok(promotion)
}

fn migration_plan(
    template_id: &str,
    spec: &JobSpec,
    source_spec: Option<&JobSpec>,
    source: &[Workload],
) -> Result<MigrationPlan> {
    let containers = |spec: &JobSpec| {
        let pod = spec.template.spec.clone().unwrap_or_default();
        pod.init_containers
            .unwrap_or_default()
            .into_iter()
            .chain(pod.containers)
            .collect::<Vec<_>>()
    };
    let source_images: BTreeMap<String, String> = source_spec
        .map(|s| {
            containers(s)
                .into_iter()
                .filter_map(|c| Some((c.name, c.image?)))
                .collect()
        })
        .unwrap_or_default();
    let mut images = BTreeMap::new();
    for c in containers(spec) {
        let current = c.image.clone().unwrap_or_default();
        let from_template = source_images.get(&c.name).cloned();
        let Some(image) = from_template.or_else(|| plan::migration_image(&current, source)) else {
            return Err(Error::MigrationImageUnknown {
                template: template_id.into(),
                container: c.name,
                image: current,
            });
        };
        images.insert(c.name.clone(), image);
    }
    Ok(MigrationPlan {
        template: template_id.to_string(),
        images,
    })
}

/// Records the start of a release in the ledger (result "in progress").
async fn start_release(
    client: &Client,
    namespace: &str,
    job: &Job,
    user: &str,
) -> Result<Release, kube::Error> {
    let release = Release {
        number: 0,
        time: Utc::now(),
        user: user.to_string(),
        action: job.action.as_str().into(),
        source: job.source.clone(),
        sha: job.sha.clone(),
        changes: ledger_changes(&job.plan.changes),
        result: "in progress".into(),
    };
    ledger::record(client, namespace, release).await
}

/// Records how the release ended.
async fn finish_release(
    client: &Client,
    namespace: &str,
    mut release: Release,
    applied: &Applied,
) -> Result<Release, kube::Error> {
    release.result = match (&applied.result, applied.rolled_back) {
        (Ok(()), _) => "succeeded".into(),
        (Err(_), true) => "rolled back".into(),
        (Err(Error::Interrupted { .. }), _) => "interrupted".into(),
        (Err(_), false) => "failed".into(),
    };
    ledger::record(client, namespace, release).await
}

fn ledger_changes(changes: &[WorkloadChange]) -> Vec<ImageChange> {
    changes
        .iter()
        .flat_map(|w| {
            w.containers.iter().map(|c| ImageChange {
                workload: w.id(),
                container: c.container.clone(),
                init: c.init,
                from: c.from.clone(),
                to: c.to.clone(),
            })
        })
        .collect()
}

/// Runs the migration, then changes each workload in order and waits for
/// it. On a failure every workload changed so far gets its previous images
/// back, unless `no_rollback`.
async fn apply(
    client: &Client,
    namespace: &str,
    promotion: &PromotionPlan,
    tag: &str,
    options: Options,
    ctx: &OpCtx<'_, Event>,
) -> Applied {
    let mut applied = Applied {
        migration: None,
        result: Ok(()),
        rolled_back: false,
    };
    if let Some(migration) = &promotion.migration {
        match migrate(client, namespace, migration, tag, options.timeout, ctx).await {
            Ok(outcome) => applied.migration = Some(outcome),
            Err((outcome, error)) => {
                applied.migration = outcome;
                applied.result = Err(error);
                return applied;
            }
        }
    }
    let mut touched: Vec<&WorkloadChange> = Vec::new();
    for change in &promotion.changes {
        if ctx.cancel.is_cancelled() {
            let done: Vec<_> = touched.iter().map(|c| c.id()).collect();
            let not_done: Vec<_> = promotion
                .changes
                .iter()
                .skip(touched.len())
                .map(|c| c.id())
                .collect();
            applied.result = Err(Error::Interrupted {
                done,
                not_done,
                next: Some(format!(
                    "run `{}` again, or `{}`",
                    crate::suggest::oncall("promote"),
                    crate::suggest::oncall("promote rollback")
                )),
            });
            return applied;
        }
        touched.push(change);
        let id = change.id();
        let step = change_one(
            client,
            namespace,
            change,
            Direction::Forward,
            options.timeout,
            &ctx.cancel,
            &mut |m| {
                ctx.emit(Event::Progress {
                    target: id.clone(),
                    message: m.to_string(),
                })
            },
        )
        .await;
        ctx.emit(Event::Finished {
            target: id.clone(),
            error: step.as_ref().err().cloned(),
        });
        if let Err(reason) = step {
            let rollback = if options.no_rollback {
                Rollback::Skipped
            } else {
                let (rolled_back, problems) =
                    roll_back(client, namespace, &touched, options.timeout, ctx).await;
                // The ledger says "rolled back" only when it is true.
                applied.rolled_back = problems.is_empty();
                if problems.is_empty() {
                    Rollback::Done(rolled_back)
                } else {
                    Rollback::Failed(problems)
                }
            };
            let left = match rollback {
                Rollback::Done(_) => None,
                _ => Some(super::state::describe(client, namespace, &touched).await),
            };
            applied.result = Err(Error::PromoteFailed(Box::new(PromoteFailure {
                workload: id.clone(),
                reason,
                rollback,
                // Rolling back images never undoes a schema change; say so where it is read.
                migrated: applied
                    .migration
                    .as_ref()
                    .filter(|m| m.succeeded)
                    .map(|m| m.job.clone()),
                left,
            })));
            return applied;
        }
    }
    applied
}

type MigrationFailure = (Option<MigrationOutcome>, Error);

async fn migrate(
    client: &Client,
    namespace: &str,
    migration: &MigrationPlan,
    tag: &str,
    timeout: Duration,
    ctx: &OpCtx<'_, Event>,
) -> Result<MigrationOutcome, MigrationFailure> {
    ctx.emit(Event::Progress {
        target: "migration".into(),
        message: "running".into(),
    });
    let name = migration.template.split('/').nth(1).unwrap_or_default();
    let outcome = match apply::find_migration_template(client, namespace, name).await {
        Ok(Some((_, spec))) => {
            apply::run_migration(client, namespace, spec, migration, tag, timeout, |line| {
                ctx.emit(Event::MigrationLog(line.to_string()))
            })
            .await
        }
        Ok(None) => Err(format!(
            "the migration template `{}` disappeared",
            migration.template
        )),
        Err(e) => Err(e.to_string()),
    };
    let error = match &outcome {
        Ok(o) if o.succeeded => None,
        Ok(o) => Some(format!("the migration job `{}` failed", o.job)),
        Err(e) => Some(e.clone()),
    };
    ctx.emit(Event::Finished {
        target: "migration".into(),
        error: error.clone(),
    });
    match outcome {
        Ok(o) if o.succeeded => Ok(o),
        Ok(o) => {
            let error = Error::MigrationFailed {
                job: o.job.clone(),
                log_tail: o.log_tail.clone(),
            };
            Err((Some(o), error))
        }
        Err(reason) => Err((None, Error::MigrationNotRun { reason })),
    }
}

/// Changes one workload's images (kill-deploying a singleton) and waits for it.
async fn change_one(
    client: &Client,
    namespace: &str,
    change: &WorkloadChange,
    direction: Direction,
    timeout: Duration,
    cancel: &crate::safety::Cancel,
    progress: &mut dyn FnMut(&str),
) -> Result<(), String> {
    match change.strategy {
        Strategy::Recreate => {
            progress("kill-deploy: stopping the old pod");
            apply::kill_deploy(client, namespace, change, direction, timeout).await?;
        }
        Strategy::Rolling => {
            progress("rolling update");
            apply::set_images(client, namespace, change, direction)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    progress("waiting for the rollout");
    apply::wait_rollout(client, namespace, change, timeout, cancel).await
}

/// Puts the previous images back on every workload touched, newest first,
/// and says which it rolled back and what went wrong. A workload still as
/// it was (a kill-deploy that failed before setting its images scaled it
/// back itself) is left alone: rolling it back would stop a singleton a
/// second time for nothing.
async fn roll_back(
    client: &Client,
    namespace: &str,
    touched: &[&WorkloadChange],
    timeout: Duration,
    ctx: &OpCtx<'_, Event>,
) -> (Vec<String>, Vec<String>) {
    let live = retry(|| inventory::list(client, namespace, None))
        .await
        .unwrap_or_default();
    let mut rolled_back = Vec::new();
    let mut problems = Vec::new();
    for change in touched.iter().rev() {
        let unchanged = live
            .iter()
            .find(|w| w.kind == change.kind && w.name == change.name)
            .is_some_and(|w| super::state::as_before(change, w));
        if unchanged {
            continue;
        }
        let target = format!("rollback {}", change.id());
        let result = change_one(
            client,
            namespace,
            change,
            Direction::Back,
            timeout,
            &ctx.cancel,
            &mut |m| {
                ctx.emit(Event::Progress {
                    target: target.clone(),
                    message: m.to_string(),
                })
            },
        )
        .await;
        ctx.emit(Event::Finished {
            target: target.clone(),
            error: result.as_ref().err().cloned(),
        });
        match result {
            Ok(()) => rolled_back.push(change.id()),
            Err(e) => problems.push(format!("`{}`: {e}", change.id())),
        }
    }
    rolled_back.reverse();
    (rolled_back, problems)
}

/// The changes that take `current` back to the images of `releases`' entry
/// number `to` (every container changed by a later release is restored).
pub(crate) fn rollback_changes(
    releases: &[Release],
    to: u32,
    current: &[Workload],
    singletons: &[String],
) -> Vec<WorkloadChange> {
    let restore = ledger::undo_after(releases, to);
    let mut out: Vec<WorkloadChange> = Vec::new();
    for w in current {
        let containers: Vec<ContainerChange> = restore
            .iter()
            .filter(|r| r.workload == w.id())
            .filter_map(|r| {
                let now = w.image_of(&r.container, r.init)?;
                (!ImageRef::same_image(now, &r.to))
                    .then(|| ContainerChange::new(&r.container, r.init, now, &r.to))
            })
            .collect();
        if containers.is_empty() {
            continue;
        }
        let singleton =
            singletons.contains(&w.name) || (w.replicas == Some(1) && w.strategy == "Recreate");
        out.push(WorkloadChange {
            kind: w.kind,
            name: w.name.clone(),
            strategy: if singleton {
                Strategy::Recreate
            } else {
                Strategy::Rolling
            },
            replicas: w.replicas,
            containers,
        });
    }
    out.sort_by_key(|c| (c.strategy == Strategy::Recreate, c.name.clone()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ConnectOptions;
    use crate::config::Config;
    use crate::promote::sides::{self, SideSpec};
    use crate::safety::Cancel;
    use crate::testing::{Recorder, deployment, namespace, node, sim_cluster};

    /// `web` on shop/web:2 in staging and shop/web:1 in production, and the
    /// job that promotes it, as `oncall promote` plans it.
    async fn staging_to_production() -> (crate::testing::SimCluster, Job) {
        let seed = [
            namespace("staging"),
            namespace("production"),
            node("node-a"),
            deployment("staging", "web", 2, "shop/web:2"),
            deployment("production", "web", 2, "shop/web:1"),
        ]
        .concat();
        let t = sim_cluster(&seed, "production").await;
        let spec = SideSpec {
            from_namespace: Some("staging".into()),
            to_namespace: Some("production".into()),
            ..Default::default()
        };
        let config = Config::default();
        let sides = sides::resolve(&t.cluster, &ConnectOptions::default(), &config, &spec)
            .await
            .unwrap();
        let settings = PromoteSettings::default();
        let promotion = plan(&sides.source, &sides.target, &settings, &[])
            .await
            .unwrap();
        let job = Job {
            action: Action::Promote,
            source: sides.source.label.clone(),
            sha: promotion.release_sha(),
            plan: promotion,
            options: Options {
                no_rollback: false,
                timeout: Duration::from_secs(60),
            },
        };
        (t, job)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_promotion_is_applied_and_recorded_in_the_ledger() {
        let (t, job) = staging_to_production().await;
        assert_eq!(job.plan.changes.len(), 1, "{:?}", job.plan);
        let seen = Recorder::new();
        let observer = |e| seen.record(e);
        let ctx = OpCtx::new("alice", Cancel::manual(), &observer);
        let report = run(&t.cluster, "production", &job, &ctx).await;
        assert!(report.outcome.is_ok(), "{:?}", report.outcome);
        assert_eq!(report.release, Some(1));
        assert_eq!(report.result, "succeeded");
        assert!(report.ledger_error.is_none());
        assert_eq!(report.audit().detail, "release 1 (succeeded)");
        seen.assert_seen(&Event::Finished {
            target: "deployment/web".into(),
            error: None,
        });
        let releases = ledger::read(&t.cluster.client, "production").await.unwrap();
        assert_eq!(releases.len(), 1);
        assert_eq!(releases[0].user, "alice", "the context's user is recorded");
        assert_eq!(releases[0].result, "succeeded");
        assert_eq!(releases[0].changes[0].to, "shop/web:2");
        let d = t.sim.get("deployments", Some("production"), "web").unwrap();
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            "shop/web:2"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_promotion_changes_no_workload() {
        let (t, job) = staging_to_production().await;
        let cancel = Cancel::manual();
        cancel.cancel();
        let observer = |_: Event| {};
        let ctx = OpCtx::new("alice", cancel, &observer);
        let report = run(&t.cluster, "production", &job, &ctx).await;
        assert!(matches!(report.outcome, Err(Error::Interrupted { .. })));
        assert_eq!(report.result, "interrupted", "the ledger says how it ended");
        let d = t.sim.get("deployments", Some("production"), "web").unwrap();
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            "shop/web:1"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_ledger_that_cannot_record_the_end_is_a_warning_not_a_failure() {
        let (t, job) = staging_to_production().await;
        // Once the workload is done, every write is refused: the ledger
        // cannot record how the release ended.
        let observer = |e| {
            if matches!(e, Event::Finished { .. }) {
                t.sim
                    .set_faults(oncall_sim::FaultSpec::parse("conflict=1").unwrap());
            }
        };
        let ctx = OpCtx::new("alice", Cancel::manual(), &observer);
        let report = run(&t.cluster, "production", &job, &ctx).await;
        assert!(report.outcome.is_ok(), "{:?}", report.outcome);
        assert_eq!(report.result, "unknown");
        assert!(report.ledger_error.is_some(), "{report:?}");
        assert_eq!(report.audit().status, audit::Status::Ok);
    }
}
