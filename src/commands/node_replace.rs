//! `oncall node replace` and `oncall node rotate`: plan, confirm, run
//! `crate::nodes::rebuild` with progress, report.

use super::node::DrainProgress;
use crate::app::App;
use crate::cli::{NodeTargets, ReplaceFlags};
use crate::cluster::Cluster;
use crate::error::Result;
use crate::nodes::decide::DrainOptions;
use crate::nodes::rebuild;
use crate::nodes::replace::Terminate;
use crate::nodes::{LeanNode, targets};
use crate::safety::{self, Cancel, OpCtx, audit};
use crate::ui::output;
use crate::ui::report::nodes::Rebuilt;

/// How nodes are terminated: `--terminate`, `--delete-node`, or the config.
fn terminate_method(app: &App, cluster: &Cluster, flags: &ReplaceFlags) -> Result<Terminate> {
    let explicit = match &flags.terminate {
        Some(t) => Some(Terminate::from_template(t)?),
        None => None,
    };
    let configured = app
        .config
        .clusters
        .get(&cluster.context)
        .and_then(|c| c.terminate.clone());
    rebuild::terminate_method(explicit, flags.delete_node, configured, &cluster.context)
}

pub(super) async fn replace(
    app: &App,
    cluster: &Cluster,
    t: &NodeTargets,
    flags: &ReplaceFlags,
) -> Result<()> {
    let nodes = targets::resolve(cluster, &t.nodes, t.selector.as_deref()).await?;
    let how = terminate_method(app, cluster, flags)?;
    run(app, cluster, "replace", nodes, 1, how, flags).await
}

pub(super) async fn rotate(
    app: &App,
    cluster: &Cluster,
    selector: &str,
    batch: usize,
    no_terminate: bool,
    flags: &ReplaceFlags,
) -> Result<()> {
    let nodes = targets::resolve(cluster, &[], Some(selector)).await?;
    let how = if no_terminate {
        Terminate::Nothing
    } else {
        terminate_method(app, cluster, flags)?
    };
    run(app, cluster, "rotate", nodes, batch.max(1), how, flags).await
}

async fn run(
    app: &App,
    cluster: &Cluster,
    verb: &str,
    nodes: Vec<LeanNode>,
    batch: usize,
    how: Terminate,
    flags: &ReplaceFlags,
) -> Result<()> {
    let (job, plan) = rebuild::prepare(
        cluster,
        verb,
        nodes,
        batch,
        how,
        DrainOptions::from(&flags.drain).with_policy(app.config.scale_policy()),
        flags.wait_replacement,
    )
    .await?;
    let user = audit::os_user();
    let rebuilt = async || {
        let progress = DrainProgress::start(app);
        let observer = |e| progress.observe(e);
        let ctx = OpCtx::new(&user, Cancel::on_signal(), &observer);
        let outcome = rebuild::run(cluster, &job, &ctx).await;
        progress.finish();
        outcome
    };
    let Some(outcome) = safety::execute(app, cluster, &plan, rebuilt).await? else {
        return Ok(());
    };
    output::show(app.global.output, Rebuilt::new(cluster, outcome).await)
}
