//! `oncall node list`, of one cluster or of several at once (a CONTEXT
//! column first, and the context in each JSON item).

use serde::Serialize;

use super::contexts;
use crate::app::App;
use crate::cli::OutputFormat;
use crate::cluster::Cluster;
use crate::cluster::fanout::{self, InContext, Unreachable};
use crate::error::Result;
use crate::nodes::list::{self, NodeRow};
use crate::ui::{output, style, table};

/// `-o json|yaml` of several contexts: every node with its context, and
/// the contexts that did not answer.
#[derive(Serialize)]
struct SeveralLists<'a> {
    nodes: Vec<InContext<'a, NodeRow>>,
    unreachable: &'a [Unreachable],
}

pub(super) async fn list(app: &App, selector: Option<&str>, all_contexts: bool) -> Result<()> {
    if !(all_contexts || fanout::several(&app.global.contexts)) {
        return one(app, app.cluster().await?, selector).await;
    }
    let opts = app.connect_options();
    let names = fanout::contexts(&opts, &app.global.contexts, all_contexts)?;
    let spinner = app.progress.spinner("nodes");
    spinner.set_message(format!("listing nodes in {} contexts", names.len()));
    let answers = fanout::ask(&opts, &names, |cluster| async move {
        list::list(&cluster, selector).await
    })
    .await;
    spinner.finish_and_clear();
    let rows: Vec<(&str, &NodeRow)> = answers
        .answered
        .iter()
        .flat_map(|a| a.value.iter().map(move |r| (a.context.as_str(), r)))
        .collect();
    if app.global.output.is_structured() {
        let report = SeveralLists {
            nodes: rows
                .iter()
                .map(|&(context, item)| InContext { context, item })
                .collect(),
            unreachable: &answers.unreachable,
        };
        output::print(app.global.output, &report)?;
    } else {
        if !answers.answered.is_empty() {
            print(app, selector, &rows, true);
        }
        contexts::print_unreachable(&answers.unreachable);
    }
    match answers.none_answered() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One cluster, as `node list` has always printed it.
pub(super) async fn one(app: &App, cluster: &Cluster, selector: Option<&str>) -> Result<()> {
    let rows = list::list(cluster, selector).await?;
    if app.global.output.is_structured() {
        return output::print(app.global.output, &rows);
    }
    let rows: Vec<(&str, &NodeRow)> = rows.iter().map(|r| ("", r)).collect();
    print(app, selector, &rows, false);
    Ok(())
}

/// The table; the CONTEXT column only when several contexts were asked,
/// so that one cluster's list stays as it always was.
fn print(app: &App, selector: Option<&str>, rows: &[(&str, &NodeRow)], with_context: bool) {
    if rows.is_empty() {
        style::note(&match selector {
            Some(s) => format!("No nodes match `{s}`."),
            None => "No nodes.".into(),
        });
        return;
    }
    let wide = app.global.output == OutputFormat::Wide;
    let mut headers = Vec::new();
    if with_context {
        headers.push("context");
    }
    headers.extend([
        "name", "status", "pool", "instance", "zone", "pods", "cordoned", "age", "version",
    ]);
    if wide {
        headers.extend([
            "internal-ip",
            "external-ip",
            "os-image",
            "kernel-version",
            "container-runtime",
            "provider-id",
        ]);
    }
    let mut t = table::new(&headers);
    for (context, r) in rows {
        let mut cells = Vec::new();
        if with_context {
            cells.push(context.to_string());
        }
        cells.extend(cells_of(r, wide));
        t.add_row(cells);
    }
    if wide {
        outln!("{}", table::render(&t));
    } else {
        table::print_fitted(t, &["instance", "zone", "version", "age"]);
    }
}

fn cells_of(r: &NodeRow, wide: bool) -> Vec<String> {
    let cordoned = match (&r.cordon, r.cordoned) {
        (Some(note), _) => note.describe(),
        (None, true) => "yes (no oncall note)".into(),
        (None, false) => String::new(),
    };
    let mut cells = vec![
        r.name.clone(),
        r.status.clone(),
        r.pool.clone().unwrap_or_else(|| "<none>".into()),
        r.instance_type.clone().unwrap_or_default(),
        r.zone.clone().unwrap_or_default(),
        r.pods.to_string(),
        cordoned,
        crate::age::since(r.created),
        r.version.clone(),
    ];
    if wide {
        let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "<none>".into());
        cells.extend([
            or_none(&r.internal_ip),
            or_none(&r.external_ip),
            r.os_image.clone(),
            r.kernel_version.clone(),
            r.container_runtime.clone(),
            or_none(&r.provider_id),
        ]);
    }
    cells
}
