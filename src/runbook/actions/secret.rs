//! The secret actions (`secret_consumers`, `rotate_secret`): the same
//! prepare → run procedure as `oncall secret ...`, through
//! `crate::secrets`, without prompts (the engine asks before the step).
//!
//! A value reaches `rotate_secret` only from a file, an env file, or a
//! secret parameter used unchanged (`values: ["KEY={{ api_key }}"]`), so
//! the engine hides it wherever the run writes.

use serde_json::json;

use super::args::{Dur, Flag, List, Text, args, dur, list, on};
use super::{Action, Produced, Spec, cluster, extend, namespace};
use crate::error::{Error, Result};
use crate::runbook::engine::Run;
use crate::runbook::model::Step;
use crate::safety::op::ignore;
use crate::safety::{Audited, Cancel, OpCtx, Plan, audit};
use crate::secrets::rotate::{self, Options, Rotation};
use crate::secrets::values::{self, NewValues, Source};
use crate::ui::output::Report;
use crate::ui::report::secrets::Rotated;

// ---- secret_consumers -------------------------------------------------

args! {
    ConsumersArgs {
        /// The Secret's name.
        secret: Text,
        /// The namespace (default: the run's).
        namespace: Option<Text>,
    }
}

pub(super) struct Consumers;

impl Action for Consumers {
    type Args = ConsumersArgs;
    const SPEC: &'static Spec = &Spec::cluster(
        "secret_consumers",
        "list the workloads that use a Secret, how, and whether a change needs a restart",
        false,
        true,
    );

    /// Runs `secret consumers`: output is its `-o json` list.
    async fn run(&self, run: &Run<'_>, _step: &Step, args: ConsumersArgs) -> Result<Produced> {
        let cluster = cluster(run, Self::SPEC.name)?;
        let ns = namespace(run, &args.namespace);
        let name = &args.secret.0;
        let found = crate::secrets::consumers::find(cluster, &ns, name).await?;
        let text = if found.is_empty() {
            format!("no workload in namespace `{ns}` uses secret `{name}`")
        } else {
            found
                .iter()
                .map(|c| {
                    let uses: Vec<String> = c.uses.iter().map(|u| u.describe()).collect();
                    let restart = if c.restart { "restart" } else { "no restart" };
                    format!("{}: {} ({restart})", c.target(), uses.join("; "))
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        Produced::done((serde_json::to_value(&found).unwrap_or_default(), text))
    }
}

// ---- rotate_secret ----------------------------------------------------

args! {
    RotateArgs {
        /// The Secret's name.
        secret: Text,
        /// The namespace (default: the run's).
        namespace: Option<Text>,
        /// New values as KEY={{ PARAM }}, each from a `secret: true` parameter.
        values: Option<List>,
        /// New values read from files, as KEY=PATH.
        from_file: Option<List>,
        /// New values read from an env file (KEY=VALUE lines).
        from_env_file: Option<Text>,
        /// Keys to remove.
        remove: Option<List>,
        /// Rotate even when a consumer cannot be restarted safely.
        force: Option<Flag>,
        /// Leave the new values in place when a restart fails.
        no_rollback_on_failure: Option<Flag>,
        /// How long to wait for each restart (default 10m).
        timeout: Option<Dur>,
    }
}

/// The step's values: each `values` entry must be `KEY=` a secret
/// parameter's value, so that the engine can hide it.
fn new_values(run: &Run<'_>, args: &RotateArgs) -> Result<NewValues> {
    let secrets = run.secret_values();
    let mut new = NewValues::default();
    for pair in list(&args.values) {
        let (key, value) = pair.split_once('=').unwrap_or((pair.as_str(), ""));
        let from_secret = secrets.iter().any(|(_, v)| v == value);
        if !from_secret {
            return Err(Error::BadStepArgs {
                action: Rotate::SPEC.name.into(),
                field: Some("values".into()),
                reason: format!(
                    "entry for `{key}` must be `{key}={{{{ PARAM }}}}` with a `secret: true` parameter, so the value is never shown or journaled; or use `from_file`"
                ),
            });
        }
        new.insert(key, value.as_bytes().to_vec())?;
    }
    let mut sources = Vec::new();
    for f in list(&args.from_file) {
        sources.push(values::parse_from_file(f)?);
    }
    if let Some(p) = args.from_env_file.as_deref().filter(|p| !p.is_empty()) {
        sources.push(Source::EnvFile(p.into()));
    }
    values::read_sources(&sources, &mut new)?;
    Ok(new)
}

async fn prepare(run: &Run<'_>, args: &RotateArgs) -> Result<(Rotation, Plan)> {
    let cluster = cluster(run, Rotate::SPEC.name)?;
    let new = new_values(run, args)?;
    let remove = list(&args.remove);
    if new.is_empty() && remove.is_empty() {
        return Err(Error::BadStepArgs {
            action: Rotate::SPEC.name.into(),
            field: None,
            reason: "give `values`, `from_file`, `from_env_file` or `remove`".into(),
        });
    }
    let options = Options {
        force: on(args.force),
        rollback_on_failure: !on(args.no_rollback_on_failure),
        timeout: dur(args.timeout, std::time::Duration::from_secs(600)),
        order: run
            .config
            .promote
            .as_ref()
            .map(|p| p.order.clone())
            .unwrap_or_default(),
    };
    let ns = namespace(run, &args.namespace);
    rotate::prepare(cluster, &ns, &args.secret, &new, remove, options).await
}

pub(super) struct Rotate;

impl Action for Rotate {
    type Args = RotateArgs;
    const SPEC: &'static Spec = &Spec::cluster(
        "rotate_secret",
        "put new values in a Secret and restart exactly the workloads that need them",
        true,
        false,
    );

    async fn plan(&self, run: &Run<'_>, args: &RotateArgs, into: &mut Plan) -> Result<()> {
        let (_, plan) = prepare(run, args).await?;
        extend(into, plan);
        Ok(())
    }

    /// Rotates. Output: `secret`, `keys` (fingerprints), `backup`,
    /// `rolled_back`, `consumers` (each with its state and rollouts).
    async fn run(&self, run: &Run<'_>, _step: &Step, args: RotateArgs) -> Result<Produced> {
        let (rotation, _) = prepare(run, &args).await?;
        if !rotation.changes_anything() {
            let output = json!({ "secret": rotation.name, "keys": rotation.keys, "result": "nothing to do" });
            return Produced::done((output, "nothing to do: every value is unchanged".into()));
        }
        let user = audit::os_user();
        let ctx = OpCtx::new(&user, Cancel::on_signal(), &ignore::<rotate::Event>);
        let outcome = rotate::run(cluster(run, Self::SPEC.name)?, &rotation, &ctx).await;
        run.report_audit(outcome.audit());
        let report = Rotated::new(&rotation, outcome);
        let outcome = report.outcome();
        let output = json!({
            "secret": rotation.name,
            "namespace": rotation.namespace,
            "keys": rotation.keys,
            "backup": outcome.backup,
            "rolled_back": outcome.rolled_back,
            "consumers": outcome.consumers,
        });
        let produced = Produced {
            output,
            ..Produced::report(&report)
        };
        report.finish()?;
        Ok(produced)
    }
}
