//! `oncall pods stuck`: finds stuck pods in one cluster or several and
//! shows the report (`ui::report::pods`).

use std::time::Instant;

use crate::app::App;
use crate::cli::StuckArgs;
use crate::cluster::Cluster;
use crate::cluster::fanout;
use crate::error::Result;
use crate::pods::{self, Options, Report, Thresholds};
use crate::ui::report::pods::SeveralReports;
use crate::ui::{output, style};

/// What to look at in one cluster: kubectl's scoping (the context's
/// namespace unless -n or -A; a node is looked at as a whole unless a
/// namespace is named), and the advice its config allows.
fn options(app: &App, args: &StuckArgs, cluster: &Cluster) -> Options {
    let namespace =
        if args.all_namespaces || (args.node.is_some() && app.global.namespace.is_none()) {
            None
        } else {
            Some(cluster.namespace.clone())
        };
    Options {
        namespace,
        node: args.node.clone(),
        selector: args.selector.clone(),
        thresholds: Thresholds {
            older_than: args.older_than,
            ..Thresholds::default()
        },
        page_size: Some(args.chunk_size),
        advice: pods::Advice {
            terminate_configured: app
                .config
                .clusters
                .get(&cluster.context)
                .and_then(|c| c.terminate.as_ref())
                .is_some_and(|t| !t.is_empty()),
        },
    }
}

pub(super) async fn stuck(app: &App, args: StuckArgs) -> Result<()> {
    if args.all_contexts || fanout::several(&app.global.contexts) {
        return stuck_in_several(app, &args).await;
    }
    let cluster = app.cluster().await?;
    let opts = options(app, &args, cluster);
    let started = Instant::now();
    let spinner = app.progress.spinner("pods");
    spinner.set_message("listing nodes, pods and Warning events");
    let result = pods::find_stuck(cluster, &opts).await;
    spinner.finish_and_clear();
    let report = result?;

    if app.global.verbose > 0 {
        style::note(&format!(
            "{} API requests; {} pods checked in {:.1}s",
            report.api_requests,
            report.pods_checked,
            started.elapsed().as_secs_f64()
        ));
    }
    output::show(app.global.output, &report)
}

/// `pods stuck` in several clusters at once: one report, each group and pod
/// with its context (and its suggestions acting there), and one line for
/// each cluster that did not answer. Exit 4 only when none answered.
async fn stuck_in_several(app: &App, args: &StuckArgs) -> Result<()> {
    let connect = app.connect_options();
    let names = fanout::contexts(&connect, &app.global.contexts, args.all_contexts)?;
    let started = Instant::now();
    let spinner = app.progress.spinner("pods");
    spinner.set_message(format!(
        "listing nodes, pods and Warning events in {} contexts",
        names.len()
    ));
    let answers = fanout::ask(&connect, &names, |cluster| async move {
        pods::find_stuck(&cluster, &options(app, args, &cluster)).await
    })
    .await;
    spinner.finish_and_clear();
    let reports: Vec<(&str, &Report)> = answers
        .answered
        .iter()
        .map(|a| (a.context.as_str(), &a.value))
        .collect();
    let several = SeveralReports::new(&reports, &answers.unreachable);
    if app.global.verbose > 0 {
        style::note(&format!(
            "{} API requests; {} pods checked in {} contexts in {:.1}s",
            several.api_requests,
            several.pods_checked,
            reports.len(),
            started.elapsed().as_secs_f64()
        ));
    }
    let shown = output::show(app.global.output, several);
    match answers.none_answered() {
        Some(e) => Err(e),
        None => shown,
    }
}
