//! `oncall node list`, of one cluster or of several at once (a CONTEXT
//! column first, and the context in each JSON item).

use serde::Serialize;

use crate::app::App;
use crate::cli::OutputFormat;
use crate::cluster::Cluster;
use crate::cluster::fanout::{self, InContext, Unreachable};
use crate::error::Result;
use crate::nodes::list::{self, NodeRow};
use crate::ui::output::{self, Report};
use crate::ui::report::left_out;
use crate::ui::{style, table};

/// The columns hidden first when the table is wider than the terminal.
const DROP_FIRST: &[&str] = &["instance", "zone", "version", "age"];

/// One cluster's nodes, as `node list` has always printed them.
#[derive(Serialize)]
#[serde(transparent)]
struct Nodes<'a> {
    rows: Vec<NodeRow>,
    #[serde(skip)]
    selector: Option<&'a str>,
}

impl Report for Nodes<'_> {
    fn human(&self, format: OutputFormat) -> String {
        self.fitted(format).0
    }

    fn remarks(&self, format: OutputFormat) -> Vec<String> {
        self.fitted(format).1.into_iter().collect()
    }
}

impl Nodes<'_> {
    fn fitted(&self, format: OutputFormat) -> (String, Option<String>) {
        let rows: Vec<(&str, &NodeRow)> = self.rows.iter().map(|r| ("", r)).collect();
        render(&rows, self.selector, format, false)
    }
}

/// Several contexts' nodes: every node with its context, and the contexts
/// that did not answer.
#[derive(Serialize)]
struct SeveralLists<'a> {
    nodes: Vec<InContext<'a, NodeRow>>,
    unreachable: &'a [Unreachable],
    #[serde(skip)]
    selector: Option<&'a str>,
    #[serde(skip)]
    any_answered: bool,
}

impl Report for SeveralLists<'_> {
    fn human(&self, format: OutputFormat) -> String {
        self.fitted(format).0
    }

    fn remarks(&self, format: OutputFormat) -> Vec<String> {
        let mut remarks: Vec<String> = self.fitted(format).1.into_iter().collect();
        remarks.extend(left_out(self.unreachable));
        remarks
    }
}

impl SeveralLists<'_> {
    fn fitted(&self, format: OutputFormat) -> (String, Option<String>) {
        let rows: Vec<(&str, &NodeRow)> = self.nodes.iter().map(|n| (n.context, n.item)).collect();
        if !self.any_answered {
            // None answered: the warnings are the whole story.
            return (String::new(), None);
        }
        render(&rows, self.selector, format, true)
    }
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
    let report = SeveralLists {
        nodes: answers
            .answered
            .iter()
            .flat_map(|a| {
                a.value.iter().map(move |item| InContext {
                    context: a.context.as_str(),
                    item,
                })
            })
            .collect(),
        unreachable: &answers.unreachable,
        selector,
        any_answered: !answers.answered.is_empty(),
    };
    output::show(app.global.output, report)?;
    match answers.none_answered() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One cluster, as `node list` has always printed it.
pub(super) async fn one(app: &App, cluster: &Cluster, selector: Option<&str>) -> Result<()> {
    let rows = list::list(cluster, selector).await?;
    output::show(app.global.output, Nodes { rows, selector })
}

/// The table, fitted to the terminal, and the note saying which columns it
/// hides (or that nothing matched); the CONTEXT column only when several
/// contexts were asked, so that one cluster's list stays as it always was.
fn render(
    rows: &[(&str, &NodeRow)],
    selector: Option<&str>,
    format: OutputFormat,
    with_context: bool,
) -> (String, Option<String>) {
    if rows.is_empty() {
        let note = match selector {
            Some(s) => format!("No nodes match `{s}`."),
            None => "No nodes.".into(),
        };
        return (String::new(), Some(style::dim(&note)));
    }
    let wide = format == OutputFormat::Wide;
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
    let (text, note) = if wide {
        (table::render(&t), None)
    } else {
        table::fitted(t, DROP_FIRST)
    };
    (format!("{text}\n"), note.as_deref().map(style::dim))
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
