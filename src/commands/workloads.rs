//! `oncall restart` and `oncall rollout status`: drive
//! `crate::workloads::restart` and render what it finds and does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::app::App;
use crate::cli::RestartArgs;
use crate::cluster::Cluster;
use crate::error::Result;
use crate::safety::{self, Cancel, OpCtx, audit};
use crate::ui::output;
use crate::ui::progress::Progress;
use crate::ui::prompt;
use crate::ui::report::workloads::{Restarted, Rollouts};
use crate::workloads::WorkloadRef;
use crate::workloads::resolve::{ambiguity_error, resolve_with};
use crate::workloads::restart::{self, Event, Options};

/// Resolves the arguments; a bare name several kinds carry is asked about
/// on a terminal and refused (with the candidates) without one.
async fn targets(
    cluster: &Cluster,
    names: &[String],
    selector: Option<&str>,
    command: &str,
) -> Result<Vec<WorkloadRef>> {
    resolve_with(
        cluster,
        &cluster.namespace,
        names,
        selector,
        |name, candidates| {
            if !prompt::stdin_is_terminal() {
                return Err(ambiguity_error(name, candidates, command));
            }
            let items: Vec<String> = candidates.iter().map(|c| c.to_string()).collect();
            let i = prompt::choose(
                &format!("`{name}` names several workloads; which one?"),
                &items,
            )?;
            Ok(candidates[i].clone())
        },
    )
    .await
}

pub(super) async fn restart(app: &App, args: RestartArgs) -> Result<()> {
    let cluster = app.cluster().await?;
    let targets = targets(
        cluster,
        &args.workloads,
        args.selector.as_deref(),
        "restart",
    )
    .await?;
    let options = Options {
        bad_pods: args.bad_pods,
        wait: !args.no_wait,
        timeout: args.timeout,
    };
    let (job, plan) = restart::prepare(cluster, &targets, options).await?;
    let bars = Bars::new(app);
    let observer = |e| bars.show(e);
    let user = audit::os_user();
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &observer);
    let restarted = async || restart::run(cluster, &job, &ctx).await;
    let Some(mut outcome) = safety::execute(app, cluster, &plan, restarted).await? else {
        return Ok(());
    };
    if outcome.stopped.is_some() {
        // Nothing was followed: the error says what was and was not done.
        return outcome.take_result();
    }
    output::show(app.global.output, Restarted(outcome))
}

pub(super) async fn rollout_status(app: &App, names: Vec<String>, timeout: Duration) -> Result<()> {
    let cluster = app.cluster().await?;
    let targets = targets(cluster, &names, None, "rollout status").await?;
    let bars = Bars::new(app);
    let observer = |e| bars.show(e);
    let user = audit::os_user();
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &observer);
    let outcomes = restart::follow(cluster, &targets, &HashMap::new(), timeout, &ctx).await?;
    output::show(app.global.output, Rollouts::new(outcomes, timeout))
}

/// A progress bar per rollout followed; with `-v`, every change of status
/// as a line too.
struct Bars {
    progress: Progress,
    verbose: bool,
    bars: Mutex<HashMap<String, indicatif::ProgressBar>>,
}

impl Bars {
    fn new(app: &App) -> Self {
        Bars {
            progress: app.progress.clone(),
            verbose: app.global.verbose > 0,
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn show(&self, event: Event) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        match event {
            Event::Following { workload } => {
                let bar = self.progress.bar(&workload, 0);
                bars.insert(workload, bar);
            }
            Event::Progress { workload, progress } => {
                if self.verbose {
                    self.progress
                        .println(&format!("{workload}: {}", progress.message));
                }
                if let Some(bar) = bars.get(&workload) {
                    bar.set_length(progress.desired.max(0) as u64);
                    bar.set_position(progress.updated.max(0) as u64);
                    bar.set_message(progress.message);
                }
            }
            Event::Settled { workload } => {
                if let Some(bar) = bars.remove(&workload) {
                    bar.finish_and_clear();
                }
            }
        }
    }
}
