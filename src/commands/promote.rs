//! `oncall promote`, `promote history` and `promote rollback`.

use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use k8s_openapi::api::batch::v1::JobSpec;

use crate::app::App;
use crate::cli::{PromoteArgs, PromoteCommand};
use crate::cluster::{Cluster, api_error};
use crate::error::{Error, Result};
use crate::promote::apply::{self, Direction};
use crate::promote::image::ImageRef;
use crate::promote::inventory::{self, Workload};
use crate::promote::ledger::{self, ImageChange, Release};
use crate::promote::plan::{
    self, ContainerChange, MigrationPlan, PromotionPlan, Strategy, WorkloadChange,
};
use crate::promote::sides;
use crate::safety::{self, Answer, Plan, audit::Outcome};
use crate::ui::{output, style, table};

/// What `promote -o json` prints after a run.
#[derive(Debug, Serialize)]
pub struct PromoteReport {
    pub release: u32,
    pub result: String,
    pub plan: PromotionPlan,
    pub migration: Option<apply::MigrationOutcome>,
}

pub async fn run(app: &App, args: PromoteArgs) -> Result<()> {
    match args.command {
        Some(PromoteCommand::History) => history(app).await,
        Some(PromoteCommand::Rollback { ref to }) => rollback(app, to.clone(), args.timeout).await,
        None => promote(app, &args).await,
    }
}

async fn promote(app: &App, args: &PromoteArgs) -> Result<()> {
    let settings = app.config.promote.clone().unwrap_or_default();
    let sides = sides::resolve(app, args).await?;
    let (source, target) = (&sides.source, &sides.target);
    let target_cluster = target.conn.cluster();
    let selector = settings.selector.as_deref();
    let source_workloads = inventory::list(source.client(), &source.namespace, selector)
        .await
        .map_err(|e| api_error(e, &source.conn.cluster().url, "list workloads"))?;
    let target_workloads = inventory::list(target.client(), &target.namespace, selector)
        .await
        .map_err(|e| api_error(e, &target_cluster.url, "list workloads"))?;
    let mut promotion = plan::compare(
        &source.label,
        &target.label,
        &source_workloads,
        &target_workloads,
        &settings,
        &args.only,
    );
    let migration_name = settings
        .migration
        .clone()
        .unwrap_or_else(|| "migrate".into());
    let template =
        apply::find_migration_template(target.client(), &target.namespace, &migration_name)
            .await
            .map_err(|e| api_error(e, &target_cluster.url, "get the migration template"))?;
    if let Some((template_id, spec)) = &template {
        // The source's own migration template says which image to run; failing
        // that, the source image of the same repository.
        let source_template =
            apply::find_migration_template(source.client(), &source.namespace, &migration_name)
                .await
                .map_err(|e| {
                    api_error(e, &source.conn.cluster().url, "get the migration template")
                })?;
        let source_spec = source_template.map(|(_, spec)| spec);
        promotion.migration = Some(migration_plan(
            template_id,
            spec,
            source_spec.as_ref(),
            &source_workloads,
        )?);
    } else if settings.migration.is_some() {
        return Err(Error::Usage(format!(
            "the migration template `{migration_name}` (a Job or CronJob) is not in namespace `{}`",
            target.namespace
        )));
    }
    if promotion.is_empty() {
        return report_nothing(app, &promotion);
    }
    let mut safety_plan = safety_plan(&promotion, target_cluster, &target.namespace);
    let answer = safety::approve(app, target_cluster, &safety_plan)?;
    if !answer.proceeds() {
        if app.global.output.is_structured() && !app.global.dry_run {
            output::print(app.global.output, &promotion)?;
        }
        return Ok(());
    }
    safety_plan.action = format!("promote {} to {}", source.label, target.label);
    let mut release = Release {
        number: 0,
        time: Utc::now(),
        user: safety::audit::os_user(),
        action: "promote".into(),
        source: source.label.clone(),
        sha: promotion.release_sha(),
        changes: ledger_changes(&promotion.changes),
        result: "in progress".into(),
    };
    release = ledger::record(target.client(), &target.namespace, release)
        .await
        .map_err(|e| api_error(e, &target_cluster.url, "update the release ledger"))?;
    let tag = release
        .sha
        .clone()
        .map(|s| s.chars().take(7).collect())
        .unwrap_or_else(|| format!("r{}", release.number));
    let result = carry_out(
        app,
        target.client(),
        &target.namespace,
        &promotion,
        &tag,
        args.no_rollback,
        args.timeout,
    )
    .await;
    finish(
        app,
        target_cluster,
        &target.namespace,
        &safety_plan,
        answer,
        release,
        promotion,
        result,
    )
    .await
}

/// The outcome of applying a plan: which workloads changed, and the error if any.
struct Applied {
    migration: Option<apply::MigrationOutcome>,
    result: std::result::Result<(), Error>,
    rolled_back: bool,
}

async fn carry_out(
    app: &App,
    client: &kube::Client,
    namespace: &str,
    promotion: &PromotionPlan,
    tag: &str,
    no_rollback: bool,
    timeout: Duration,
) -> Applied {
    let mut applied = Applied {
        migration: None,
        result: Ok(()),
        rolled_back: false,
    };
    if let Some(migration) = &promotion.migration {
        let spinner = app.progress.spinner("migration");
        let template = apply::find_migration_template(
            client,
            namespace,
            migration.template.split('/').nth(1).unwrap_or_default(),
        )
        .await;
        let outcome = match template {
            Ok(Some((_, spec))) => {
                apply::run_migration(client, namespace, spec, migration, tag, timeout, |line| {
                    spinner.set_message(line.to_string())
                })
                .await
            }
            Ok(None) => Err(format!(
                "the migration template `{}` disappeared",
                migration.template
            )),
            Err(e) => Err(e.to_string()),
        };
        spinner.finish_and_clear();
        match outcome {
            Ok(o) if o.succeeded => applied.migration = Some(o),
            Ok(o) => {
                let tail = o.log_tail.join("\n  ");
                applied.result = Err(Error::Failed(format!(
                    "the migration job `{}` failed, so nothing was deployed{}",
                    o.job,
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!("; its last log lines:\n  {tail}")
                    }
                )));
                applied.migration = Some(o);
                return applied;
            }
            Err(e) => {
                applied.result = Err(Error::Failed(format!("{e}; nothing was deployed")));
                return applied;
            }
        }
    }
    let mut touched: Vec<&WorkloadChange> = Vec::new();
    for change in &promotion.changes {
        if safety::interrupt::is_interrupted() {
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
                    "{} (run `oncall promote` again, or `oncall promote rollback`)",
                    not_done.join(", ")
                ),
            });
            return applied;
        }
        touched.push(change);
        let spinner = app.progress.spinner(&change.id());
        let step = match change.strategy {
            Strategy::Recreate => {
                spinner.set_message("kill-deploy: stopping the old pod");
                apply::kill_deploy(client, namespace, change, Direction::Forward, timeout).await
            }
            Strategy::Rolling => {
                spinner.set_message("rolling update");
                apply::set_images(client, namespace, change, Direction::Forward)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        let step = match step {
            Ok(()) => {
                spinner.set_message("waiting for the rollout");
                apply::wait_rollout(client, namespace, change, timeout).await
            }
            Err(e) => Err(e),
        };
        spinner.finish_and_clear();
        match step {
            Ok(()) => app
                .progress
                .println(&format!("{} {}", style::good("✓"), change.id())),
            Err(e) => {
                app.progress
                    .println(&format!("{} {}: {e}", style::bad("✗"), change.id()));
                let mut message = format!("`{}` failed: {e}", change.id());
                if no_rollback {
                    message.push_str(
                        "; --no-rollback was given, so the changed workloads were left as they are",
                    );
                } else {
                    let problems = roll_back(app, client, namespace, &touched, timeout).await;
                    applied.rolled_back = true;
                    if problems.is_empty() {
                        message.push_str(&format!(
                            "; rolled back {} to the previous images",
                            touched
                                .iter()
                                .map(|c| format!("`{}`", c.id()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    } else {
                        message.push_str(&format!(
                            "; the rollback also had problems: {}",
                            problems.join("; ")
                        ));
                    }
                }
                applied.result = Err(Error::Failed(message));
                return applied;
            }
        }
    }
    applied
}

/// Puts the previous images back on every workload this run touched, newest first.
async fn roll_back(
    app: &App,
    client: &kube::Client,
    namespace: &str,
    touched: &[&WorkloadChange],
    timeout: Duration,
) -> Vec<String> {
    let mut problems = Vec::new();
    for change in touched.iter().rev() {
        let spinner = app.progress.spinner(&format!("rollback {}", change.id()));
        let result = match change.strategy {
            Strategy::Recreate => {
                apply::kill_deploy(client, namespace, change, Direction::Back, timeout).await
            }
            Strategy::Rolling => apply::set_images(client, namespace, change, Direction::Back)
                .await
                .map_err(|e| e.to_string()),
        };
        let result = match result {
            Ok(()) => apply::wait_rollout(client, namespace, change, timeout).await,
            Err(e) => Err(e),
        };
        spinner.finish_and_clear();
        if let Err(e) = result {
            problems.push(format!("`{}`: {e}", change.id()));
        }
    }
    problems
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    app: &App,
    cluster: &Cluster,
    namespace: &str,
    safety_plan: &Plan,
    answer: Answer,
    mut release: Release,
    promotion: PromotionPlan,
    applied: Applied,
) -> Result<()> {
    release.result = match (&applied.result, applied.rolled_back) {
        (Ok(()), _) => "succeeded".into(),
        (Err(_), true) => "rolled back".into(),
        (Err(Error::Interrupted { .. }), _) => "interrupted".into(),
        (Err(_), false) => "failed".into(),
    };
    let recorded = ledger::record(&cluster.client, namespace, release.clone()).await;
    let outcome = match &applied.result {
        Ok(()) => Outcome::ok(format!("release {} ({})", release.number, release.result)),
        Err(e) => Outcome::from_error(e),
    };
    safety::audit::record(app, cluster, safety_plan, answer, &outcome)?;
    if let Err(e) = recorded {
        style::note(&format!(
            "warning: could not update the release ledger: {e}"
        ));
    }
    if app.global.output.is_structured() {
        output::print(
            app.global.output,
            &PromoteReport {
                release: release.number,
                result: release.result.clone(),
                plan: promotion,
                migration: applied.migration,
            },
        )?;
    } else if applied.result.is_ok() {
        println!(
            "{} release {} is live in {}{}",
            style::good("✓"),
            release.number,
            namespace,
            release
                .sha
                .as_deref()
                .map(|s| format!(" (git {s})"))
                .unwrap_or_default()
        );
    }
    applied.result
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
    let source_images: std::collections::BTreeMap<String, String> = source_spec
        .map(|s| {
            containers(s)
                .into_iter()
                .filter_map(|c| Some((c.name, c.image?)))
                .collect()
        })
        .unwrap_or_default();
    let mut images = std::collections::BTreeMap::new();
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

fn safety_plan(promotion: &PromotionPlan, cluster: &Cluster, namespace: &str) -> Plan {
    let mut p = Plan::new(
        format!("promote {} → {}", promotion.source, promotion.target),
        cluster,
    )
    .in_namespace(namespace);
    if let Some(m) = &promotion.migration {
        let images: Vec<_> = m
            .images
            .iter()
            .map(|(c, i)| format!("{c}: {}", ImageRef::parse(i).version()))
            .collect();
        p.change(
            format!("job from {}", m.template),
            "run migration",
            images.join(", "),
        );
    }
    for c in &promotion.changes {
        let action = match c.strategy {
            Strategy::Rolling => "rolling update",
            Strategy::Recreate => "kill-deploy (singleton)",
        };
        p.change(c.id(), action, describe_containers(&c.containers));
    }
    for id in &promotion.unchanged {
        p.skip(id, format!("already runs the {} images", promotion.source));
    }
    for id in &promotion.only_in_target {
        p.skip(id, format!("only in {}: left alone", promotion.target));
    }
    for e in &promotion.excluded {
        p.skip(&e.workload, &e.reason);
    }
    for id in &promotion.only_in_source {
        p.warn(format!(
            "`{id}` exists only in {}: a promotion does not create it",
            promotion.source
        ));
    }
    if promotion.migration.is_none() {
        p.warn(format!(
            "no migration job (no Job or CronJob `migrate` in {}): none will run",
            promotion.target
        ));
    }
    p
}

fn describe_containers(containers: &[ContainerChange]) -> String {
    containers
        .iter()
        .map(|c| {
            // Name the git SHA only when the tag does not already show it.
            let sha = match &c.to_ref.git_sha {
                Some(s)
                    if !c
                        .to_ref
                        .tag
                        .as_deref()
                        .unwrap_or_default()
                        .contains(s.as_str()) =>
                {
                    format!(" (git {s})")
                }
                _ => String::new(),
            };
            let init = if c.init { " [init]" } else { "" };
            format!(
                "{}{init}: {} → {}{sha}",
                c.container,
                c.from_ref.version(),
                c.to_ref.version()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn report_nothing(app: &App, promotion: &PromotionPlan) -> Result<()> {
    if app.global.output.is_structured() {
        return output::print(app.global.output, promotion);
    }
    println!(
        "Nothing to do: {} already runs what {} runs.",
        promotion.target, promotion.source
    );
    for id in &promotion.only_in_source {
        println!("  note: `{id}` exists only in {}", promotion.source);
    }
    Ok(())
}

/// The target of `history` and `rollback`: `-n` if given, else the config's `promote.to`.
async fn ledger_side(app: &App) -> Result<(&Cluster, String)> {
    let cluster = app.cluster().await?;
    if app.global.namespace.is_some() {
        return Ok((cluster, cluster.namespace.clone()));
    }
    let env = app.config.promote.as_ref().and_then(|p| p.to.clone());
    match env.and_then(|e| app.config.environments.get(&e).cloned()) {
        Some(env) => Ok((cluster, env.namespace)),
        None => Err(Error::Usage(
            "which environment? pass -n NAMESPACE (and --context), or set `promote.to` in the config file".into(),
        )),
    }
}

async fn history(app: &App) -> Result<()> {
    let (cluster, namespace) = ledger_side(app).await?;
    let releases = ledger::read(&cluster.client, &namespace)
        .await
        .map_err(|e| api_error(e, &cluster.url, "read the release ledger"))?;
    if app.global.output.is_structured() {
        return output::print(app.global.output, &releases);
    }
    if releases.is_empty() {
        println!(
            "No releases recorded in `{namespace}` yet (the ledger is the ConfigMap `{}`).",
            ledger::CONFIGMAP
        );
        return Ok(());
    }
    let mut t = table::new(&[
        "release", "time", "user", "action", "source", "git sha", "result", "changes",
    ]);
    for r in releases.iter().rev() {
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
    println!("{}", table::render(&t));
    Ok(())
}

async fn rollback(app: &App, to: Option<String>, timeout: Duration) -> Result<()> {
    let (cluster, namespace) = ledger_side(app).await?;
    let client = &cluster.client;
    let releases = ledger::read(client, &namespace)
        .await
        .map_err(|e| api_error(e, &cluster.url, "read the release ledger"))?;
    let Some(goal) = ledger::find_target(&releases, to.as_deref()) else {
        return Err(Error::Usage(match to {
            Some(t) => format!(
                "no release `{t}` in the ledger of `{namespace}`; see `oncall promote history`"
            ),
            None => format!(
                "no earlier successful release in the ledger of `{namespace}`; see `oncall promote history`"
            ),
        }));
    };
    let current = inventory::list(client, &namespace, None)
        .await
        .map_err(|e| api_error(e, &cluster.url, "list workloads"))?;
    let changes = rollback_changes(&ledger::undo_after(&releases, goal.number), &current);
    let mut safety_plan = Plan::new(
        format!("roll back `{namespace}` to release {}", goal.number),
        cluster,
    )
    .in_namespace(&namespace);
    for c in &changes {
        let action = if c.strategy == Strategy::Recreate {
            "kill-deploy (singleton)"
        } else {
            "rolling update"
        };
        safety_plan.change(c.id(), action, describe_containers(&c.containers));
    }
    safety_plan.warn("database migrations are not reverted: check that the old release works with the current schema");
    if changes.is_empty() {
        println!(
            "Nothing to do: `{namespace}` already runs release {}.",
            goal.number
        );
        return Ok(());
    }
    let answer = safety::approve(app, cluster, &safety_plan)?;
    if !answer.proceeds() {
        return Ok(());
    }
    let promotion = PromotionPlan {
        source: format!("release {}", goal.number),
        target: namespace.clone(),
        migration: None,
        changes,
        unchanged: Vec::new(),
        only_in_source: Vec::new(),
        only_in_target: Vec::new(),
        excluded: Vec::new(),
    };
    let release = Release {
        number: 0,
        time: Utc::now(),
        user: safety::audit::os_user(),
        action: "rollback".into(),
        source: format!("release {}", goal.number),
        sha: goal.sha.clone(),
        changes: ledger_changes(&promotion.changes),
        result: "in progress".into(),
    };
    let release = ledger::record(client, &namespace, release)
        .await
        .map_err(|e| api_error(e, &cluster.url, "update the release ledger"))?;
    let applied = carry_out(
        app, client, &namespace, &promotion, "rollback", true, timeout,
    )
    .await;
    finish(
        app,
        cluster,
        &namespace,
        &safety_plan,
        answer,
        release,
        promotion,
        applied,
    )
    .await
}

/// Turns "restore these images" into workload changes against the live state.
fn rollback_changes(restore: &[ImageChange], current: &[Workload]) -> Vec<WorkloadChange> {
    let mut out: Vec<WorkloadChange> = Vec::new();
    for w in current {
        let containers: Vec<ContainerChange> = restore
            .iter()
            .filter(|r| r.workload == w.id())
            .filter_map(|r| {
                let now = w.image_of(&r.container, r.init)?;
                (now != r.to).then(|| ContainerChange {
                    container: r.container.clone(),
                    init: r.init,
                    from: now.to_string(),
                    to: r.to.clone(),
                    from_ref: ImageRef::parse(now),
                    to_ref: ImageRef::parse(&r.to),
                })
            })
            .collect();
        if containers.is_empty() {
            continue;
        }
        let singleton = w.replicas == Some(1) && w.strategy == "Recreate";
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
