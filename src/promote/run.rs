//! The promotion procedure itself, shared by `oncall promote`, `promote
//! rollback` and the runbook `promote` action: plan the two sides, run the
//! migration, change the workloads in order, and put everything back on
//! failure. It reports progress through events and never prints.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::batch::v1::JobSpec;
use kube::Client;

use super::apply::{self, Direction, MigrationOutcome};
use super::image::ImageRef;
use super::inventory::{self, Workload};
use super::ledger::{self, ImageChange, Release};
use super::plan::{self, ContainerChange, MigrationPlan, PromotionPlan, Strategy, WorkloadChange};
use super::sides::Side;
use crate::cluster::api_error;
use crate::config::PromoteSettings;
use crate::error::{Error, Result};
use crate::safety::interrupt;

/// What the procedure tells its caller as it goes.
pub enum Event<'a> {
    /// Work on `target` (a workload, or `migration`) began or moved on.
    Progress { target: &'a str, message: &'a str },
    /// A line of the migration job's log.
    MigrationLog(&'a str),
    /// `target` finished; `error` says why when it failed.
    Finished {
        target: &'a str,
        error: Option<&'a str>,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Leave changed workloads as they are when something fails.
    pub no_rollback: bool,
    /// The longest wait for the migration or one rollout.
    pub timeout: Duration,
}

/// How an application of a plan ended.
pub struct Applied {
    pub migration: Option<MigrationOutcome>,
    pub result: Result<()>,
    /// Whether the previous images were put back after a failure.
    pub rolled_back: bool,
}

/// Compares both sides and plans the migration.
pub async fn plan(
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
            return Err(Error::Usage(format!(
                "the migration template `{name}` (a Job or CronJob) is not in namespace `{}`",
                target.namespace
            )));
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
            return Err(Error::Failed(format!(
                "cannot tell which image the migration `{template_id}` container `{}` should run: no source workload uses the repository of `{current}`",
                c.name
            )));
        };
        images.insert(c.name.clone(), image);
    }
    Ok(MigrationPlan {
        template: template_id.to_string(),
        images,
    })
}

/// Records the start of a release in the ledger (result "in progress").
pub async fn start_release(
    client: &Client,
    namespace: &str,
    action: &str,
    source: &str,
    sha: Option<String>,
    changes: &[WorkloadChange],
) -> Result<Release, kube::Error> {
    let release = Release {
        number: 0,
        time: Utc::now(),
        user: crate::safety::audit::os_user(),
        action: action.into(),
        source: source.into(),
        sha,
        changes: ledger_changes(changes),
        result: "in progress".into(),
    };
    ledger::record(client, namespace, release).await
}

/// Records how the release ended.
pub async fn finish_release(
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
pub async fn apply(
    client: &Client,
    namespace: &str,
    promotion: &PromotionPlan,
    tag: &str,
    options: Options,
    on_event: &mut dyn FnMut(Event),
) -> Applied {
    let mut applied = Applied {
        migration: None,
        result: Ok(()),
        rolled_back: false,
    };
    if let Some(migration) = &promotion.migration {
        match migrate(client, namespace, migration, tag, options.timeout, on_event).await {
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
        if interrupt::is_interrupted() {
            let done: Vec<_> = touched.iter().map(|c| c.id()).collect();
            let not_done: Vec<_> = promotion
                .changes
                .iter()
                .skip(touched.len())
                .map(|c| c.id())
                .collect();
            applied.result = Err(Error::Interrupted {
                done: if done.is_empty() {
                    "nothing".into()
                } else {
                    done.join(", ")
                },
                not_done: format!(
                    "{} (run `{}` again, or `{}`)",
                    not_done.join(", "),
                    crate::suggest::oncall("promote"),
                    crate::suggest::oncall("promote rollback")
                ),
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
            &mut |m| {
                on_event(Event::Progress {
                    target: &id,
                    message: m,
                })
            },
        )
        .await;
        on_event(Event::Finished {
            target: &id,
            error: step.as_ref().err().map(String::as_str),
        });
        if let Err(e) = step {
            let mut message = format!("`{id}` failed: {e}");
            let mut left_changed = true;
            if options.no_rollback {
                message.push_str(
                    "; --no-rollback was given, so the changed workloads were left as they are",
                );
            } else {
                let problems =
                    roll_back(client, namespace, &touched, options.timeout, on_event).await;
                // The ledger says "rolled back" only when it is true.
                applied.rolled_back = problems.is_empty();
                left_changed = !problems.is_empty();
                if problems.is_empty() {
                    let names: Vec<_> = touched.iter().map(|c| format!("`{}`", c.id())).collect();
                    message.push_str(&format!(
                        "; rolled back {} to the previous images",
                        names.join(", ")
                    ));
                } else {
                    message.push_str(&format!(
                        "; the rollback also had problems: {}",
                        problems.join("; ")
                    ));
                }
            }
            if let Some(m) = applied.migration.as_ref().filter(|m| m.succeeded) {
                // Rolling back images never undoes a schema change; say so where it is read.
                message.push_str(&format!(
                    "; the migration job `{}` ran and was not reverted: check that the running images work with the migrated database",
                    m.job
                ));
            }
            if left_changed {
                // Last, so that it is what the engineer reads.
                message.push_str("; ");
                message.push_str(&super::state::describe(client, namespace, &touched).await);
            }
            applied.result = Err(Error::Failed(message));
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
    on_event: &mut dyn FnMut(Event),
) -> Result<MigrationOutcome, MigrationFailure> {
    on_event(Event::Progress {
        target: "migration",
        message: "running",
    });
    let name = migration.template.split('/').nth(1).unwrap_or_default();
    let outcome = match apply::find_migration_template(client, namespace, name).await {
        Ok(Some((_, spec))) => {
            apply::run_migration(client, namespace, spec, migration, tag, timeout, |line| {
                on_event(Event::MigrationLog(line))
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
    on_event(Event::Finished {
        target: "migration",
        error: error.as_deref(),
    });
    match outcome {
        Ok(o) if o.succeeded => Ok(o),
        Ok(o) => {
            let tail = o.log_tail.join("\n  ");
            let logs = if tail.is_empty() {
                String::new()
            } else {
                format!("; its last log lines:\n  {tail}")
            };
            let error = Error::Failed(format!(
                "the migration job `{}` failed, so nothing was deployed{logs}",
                o.job
            ));
            Err((Some(o), error))
        }
        Err(e) => Err((None, Error::Failed(format!("{e}; nothing was deployed")))),
    }
}

/// Changes one workload's images (kill-deploying a singleton) and waits for it.
async fn change_one(
    client: &Client,
    namespace: &str,
    change: &WorkloadChange,
    direction: Direction,
    timeout: Duration,
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
    apply::wait_rollout(client, namespace, change, timeout).await
}

/// Puts the previous images back on every workload touched, newest first.
async fn roll_back(
    client: &Client,
    namespace: &str,
    touched: &[&WorkloadChange],
    timeout: Duration,
    on_event: &mut dyn FnMut(Event),
) -> Vec<String> {
    let mut problems = Vec::new();
    for change in touched.iter().rev() {
        let target = format!("rollback {}", change.id());
        let result = change_one(
            client,
            namespace,
            change,
            Direction::Back,
            timeout,
            &mut |m| {
                on_event(Event::Progress {
                    target: &target,
                    message: m,
                })
            },
        )
        .await;
        on_event(Event::Finished {
            target: &target,
            error: result.as_ref().err().map(String::as_str),
        });
        if let Err(e) = result {
            problems.push(format!("`{}`: {e}", change.id()));
        }
    }
    problems
}

/// The changes that take `current` back to the images of `releases`' entry
/// number `to` (every container changed by a later release is restored).
pub fn rollback_changes(
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
