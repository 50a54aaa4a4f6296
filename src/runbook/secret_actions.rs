//! The secret actions (`secret_consumers`, `rotate_secret`): the same
//! prepare → run procedure as `oncall secret ...`, through
//! `crate::secrets`, without prompts (the engine asks before the step).
//!
//! A value reaches `rotate_secret` only from a file, an env file, or a
//! secret parameter used unchanged (`values: ["KEY={{ api_key }}"]`), so
//! the engine hides it wherever the run writes.

use serde_json::{Value as Json, json};

use super::dispatch::{arg, as_list, duration, flag};
use super::engine::Run;
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::safety::op::ignore;
use crate::safety::{Audited, Cancel, OpCtx, Plan, audit};
use crate::secrets::rotate::{self, Options, Rotation};
use crate::secrets::values::{self, NewValues, Source};

fn secret_name(args: &Json) -> Result<&str> {
    arg(args, "secret").ok_or_else(|| Error::Usage("`secret` names the Secret".into()))
}

/// Runs `secret consumers`: output is its `-o json` list.
pub(super) async fn consumers(cluster: &Cluster, ns: &str, args: &Json) -> Result<(Json, String)> {
    let name = secret_name(args)?;
    let found = crate::secrets::consumers::find(cluster, ns, name).await?;
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
    Ok((serde_json::to_value(&found).unwrap_or_default(), text))
}

/// The step's values: each `values` entry must be `KEY=` a secret
/// parameter's value, so that the engine can hide it.
fn new_values(run: &Run<'_>, args: &Json) -> Result<NewValues> {
    let secrets = run.secret_values();
    let mut new = NewValues::default();
    for pair in as_list(args.get("values")) {
        let (key, value) = pair.split_once('=').unwrap_or((pair.as_str(), ""));
        let from_secret = secrets.iter().any(|(_, v)| v == value);
        if !from_secret {
            return Err(Error::Usage(format!(
                "`values` entry for `{key}` must be `{key}={{{{ PARAM }}}}` with a `secret: true` parameter, so the value is never shown or journaled; or use `from_file`"
            )));
        }
        new.insert(key, value.as_bytes().to_vec())?;
    }
    let mut sources = Vec::new();
    for f in as_list(args.get("from_file")) {
        sources.push(values::parse_from_file(&f)?);
    }
    if let Some(p) = arg(args, "from_env_file").filter(|p| !p.is_empty()) {
        sources.push(Source::EnvFile(p.into()));
    }
    values::read_sources(&sources, &mut new)?;
    Ok(new)
}

async fn prepare(
    run: &Run<'_>,
    cluster: &Cluster,
    ns: &str,
    args: &Json,
) -> Result<(Rotation, Plan)> {
    let new = new_values(run, args)?;
    let remove = as_list(args.get("remove"));
    if new.is_empty() && remove.is_empty() {
        return Err(Error::Usage(
            "`rotate_secret` needs `values`, `from_file`, `from_env_file` or `remove`".into(),
        ));
    }
    let options = Options {
        force: flag(args.get("force"), "force")?,
        rollback_on_failure: !flag(args.get("no_rollback_on_failure"), "no_rollback_on_failure")?,
        timeout: duration(args.get("timeout"), "timeout")?,
        order: run
            .config
            .promote
            .as_ref()
            .map(|p| p.order.clone())
            .unwrap_or_default(),
    };
    rotate::prepare(cluster, ns, secret_name(args)?, &new, &remove, options).await
}

/// Fills a step's plan with what `secret rotate` would change.
pub(super) async fn plan_rotate(
    run: &Run<'_>,
    cluster: &Cluster,
    ns: &str,
    args: &Json,
    into: &mut Plan,
) -> Result<()> {
    let (_, plan) = prepare(run, cluster, ns, args).await?;
    into.changes.extend(plan.changes);
    into.skipped.extend(plan.skipped);
    into.warnings.extend(plan.warnings);
    Ok(())
}

/// Rotates. Output: `secret`, `keys` (fingerprints), `backup`,
/// `rolled_back`, `consumers` (each with its state and rollouts).
pub(super) async fn rotate(
    run: &Run<'_>,
    cluster: &Cluster,
    ns: &str,
    args: &Json,
) -> Result<(Json, String)> {
    let (rotation, _) = prepare(run, cluster, ns, args).await?;
    if !rotation.changes_anything() {
        let output =
            json!({ "secret": rotation.name, "keys": rotation.keys, "result": "nothing to do" });
        return Ok((output, "nothing to do: every value is unchanged".into()));
    }
    let user = audit::os_user();
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &ignore::<rotate::Event>);
    let outcome = rotate::run(cluster, &rotation, &ctx).await;
    run.report_audit(outcome.audit());
    let text = outcome
        .consumers
        .iter()
        .map(|c| format!("{}: {}", c.workload, c.state))
        .collect::<Vec<_>>()
        .join("\n");
    outcome.result?;
    let output = json!({
        "secret": rotation.name,
        "namespace": rotation.namespace,
        "keys": rotation.keys,
        "backup": outcome.backup,
        "rolled_back": outcome.rolled_back,
        "consumers": outcome.consumers,
    });
    Ok((output, text))
}
