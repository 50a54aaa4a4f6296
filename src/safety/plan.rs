//! A plan: the ordered changes a command will make, and what it will leave
//! alone and why, under a header naming where it will act.

use serde::Serialize;

use crate::app::App;
use crate::cluster::Cluster;
use crate::error::Result;
use crate::ui::{output, style, table};

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Plan {
    /// What the command does, e.g. "cordon nodes".
    pub action: String,
    pub context: String,
    pub cluster: String,
    pub namespace: String,
    /// The changes, in the order they will be made.
    pub changes: Vec<Change>,
    /// What will be left alone, and why.
    pub skipped: Vec<Skip>,
    /// Things the user should know before saying yes.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Change {
    /// The object, as `kind/name` or `namespace/kind/name`.
    pub target: String,
    /// The verb: cordon, evict, patch image, ...
    pub action: String,
    /// The detail: from → to, reason, flags.
    pub detail: String,
    /// The images the change sets, with the full reference on both sides
    /// (the detail shortens them for the table).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageUpdate>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ImageUpdate {
    pub container: String,
    /// The image it runs now; none for a new container or job.
    pub from: Option<String>,
    pub to: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Skip {
    pub target: String,
    pub reason: String,
}

impl Plan {
    pub(crate) fn new(action: impl Into<String>, cluster: &Cluster) -> Self {
        Plan {
            action: action.into(),
            context: cluster.context.clone(),
            cluster: cluster.url.clone(),
            namespace: cluster.namespace.clone(),
            changes: Vec::new(),
            skipped: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// For commands that act in a namespace other than the context's default.
    pub(crate) fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_string();
        self
    }

    pub(crate) fn change(
        &mut self,
        target: impl Into<String>,
        action: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.change_images(target, action, detail, Vec::new());
    }

    /// A change that sets images, each named in full in `-o json`.
    pub(crate) fn change_images(
        &mut self,
        target: impl Into<String>,
        action: impl Into<String>,
        detail: impl Into<String>,
        images: Vec<ImageUpdate>,
    ) {
        self.changes.push(Change {
            target: target.into(),
            action: action.into(),
            detail: detail.into(),
            images,
        });
    }

    pub(crate) fn skip(&mut self, target: impl Into<String>, reason: impl Into<String>) {
        self.skipped.push(Skip {
            target: target.into(),
            reason: reason.into(),
        });
    }

    pub(crate) fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    /// The human rendering: header, changes, skips, warnings.
    pub(crate) fn render(&self) -> String {
        let mut out = format!(
            "{} {}\n  context: {}   cluster: {}   namespace: {}\n",
            style::bold("Plan:"),
            self.action,
            style::bold(&self.context),
            self.cluster,
            self.namespace
        );
        if !self.changes.is_empty() {
            let mut t = table::new(&["#", "target", "action", "detail"]);
            for (i, c) in self.changes.iter().enumerate() {
                t.add_row(vec![
                    (i + 1).to_string(),
                    c.target.clone(),
                    c.action.clone(),
                    c.detail.clone(),
                ]);
            }
            out.push('\n');
            out.push_str(&table::render_to_fit(t));
            out.push('\n');
        }
        if !self.skipped.is_empty() {
            let mut t = table::new(&["skipped", "reason"]);
            for s in &self.skipped {
                t.add_row(vec![s.target.clone(), s.reason.clone()]);
            }
            out.push('\n');
            out.push_str(&table::render_to_fit(t));
            out.push('\n');
        }
        for w in &self.warnings {
            out.push_str(&format!("\n{} {w}", style::warn("warning:")));
        }
        if !self.warnings.is_empty() {
            out.push('\n');
        }
        out
    }
}

/// A plan is shown as a table to a person, and as itself to a script.
impl output::Report for Plan {
    fn human(&self, _: output::OutputFormat) -> String {
        format!("{}\n", self.render())
    }
}

/// Prints the plan: as a table for people; as JSON/YAML on `--dry-run` so a
/// script can review it (a real run prints its result instead).
pub(crate) fn show(app: &App, _cluster: &Cluster, plan: &Plan) -> Result<()> {
    if app.global.dry_run {
        output::show(app.global.output, plan)
    } else {
        output::show_to_person(app.global.output, plan)
    }
}
