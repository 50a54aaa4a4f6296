//! The node reports: a pre-flight check, a cordon or uncordon, a drain, and
//! a replace or rotation, as `oncall node ...` and the node steps show them.

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::nodes::check::CheckReport;
use crate::nodes::cordon::CordonJob;
use crate::nodes::decide::Action;
use crate::nodes::drain::{DrainOutcome, NodeDrain, NodeStatus, PodOutcome};
use crate::nodes::rebuild::{self, Replaced};
use crate::safety::each::EachOutcome;
use crate::ui::output::{OutputFormat, Report};
use crate::ui::{style, table};

/// `node check`'s report as shown: the pod tables only for one node, or
/// with `-v`. Its data is the check itself.
#[derive(Serialize)]
#[serde(transparent)]
pub(crate) struct CheckView {
    report: CheckReport,
    #[serde(skip)]
    pods: bool,
    /// The terminal's width, when shown on one: the pod table fits it.
    #[serde(skip)]
    width: Option<usize>,
}

impl CheckView {
    pub(crate) fn new(report: CheckReport, pods: bool) -> Self {
        CheckView {
            report,
            pods,
            width: None,
        }
    }

    /// Fits the pod table to a terminal `width` columns wide (a journal
    /// keeps one line per pod).
    pub(crate) fn fitted_to(self, width: Option<usize>) -> Self {
        CheckView { width, ..self }
    }

    pub(crate) fn check(&self) -> &CheckReport {
        &self.report
    }
}

impl Report for CheckView {
    fn human(&self, _: OutputFormat) -> String {
        render_check(&self.report, self.pods, self.width)
    }

    /// NO-GO exits 1; the report has said why.
    fn exit(&self) -> Result<()> {
        if self.report.go {
            Ok(())
        } else {
            Err(Error::ProblemsFound(String::new()))
        }
    }
}

/// The check as text: a pod table per node (when `pods`), blockers, verdict.
fn render_check(report: &CheckReport, pods: bool, width: Option<usize>) -> String {
    let mut out = String::new();
    for n in &report.nodes {
        let mut head = format!("{} {}", style::bold("node"), style::bold(&n.node));
        if let Some(p) = &n.pool {
            head.push_str(&format!("  pool {p}"));
        }
        if n.cordoned {
            head.push_str("  (cordoned)");
        }
        out.push_str(&head);
        out.push('\n');
        if pods && !n.pods.is_empty() {
            let mut t = table::new(&["pod", "owner", "drain would", "why"]);
            for p in &n.pods {
                let action = match p.action {
                    Action::Evict => "evict",
                    Action::Delete => "delete",
                    Action::Skip => "skip",
                    Action::Refuse => "BLOCK",
                };
                let mut why = p.reason.clone();
                if !p.pdbs.is_empty() {
                    if !why.is_empty() {
                        why.push_str("; ");
                    }
                    why.push_str(&format!("budget {}", p.pdbs.join(", ")));
                }
                t.add_row(vec![
                    p.key(),
                    p.owner.clone().unwrap_or_else(|| "<none>".into()),
                    action.into(),
                    why,
                ]);
            }
            out.push_str(&table::render_fitted(t, width));
            out.push('\n');
        } else {
            let count = |a: Action| n.pods.iter().filter(|p| p.action == a).count();
            out.push_str(&format!(
                "  {} pod(s): {} to evict, {} to delete, {} skipped\n",
                n.pods.len(),
                count(Action::Evict),
                count(Action::Delete),
                count(Action::Skip)
            ));
        }
        for b in &n.blockers {
            out.push_str(&format!("  {} {}\n", style::bad("blocker:"), b.message));
            if !b.pods.is_empty() {
                out.push_str(&format!("    pods: {}\n", b.pods.join(", ")));
            }
            out.push_str(&format!("    fix: {}\n", b.fix));
        }
        out.push_str(&format!(
            "  verdict: {}\n\n",
            if n.go {
                style::good("GO")
            } else {
                style::bad("NO-GO")
            }
        ));
    }
    let blocked = report.nodes.iter().filter(|n| !n.go).count();
    out.push_str(&if report.go {
        format!(
            "{} all {} node(s) can be drained\n",
            style::good("GO:"),
            report.nodes.len()
        )
    } else {
        format!(
            "{} {blocked} of {} node(s) blocked\n",
            style::bad("NO-GO:"),
            report.nodes.len()
        )
    });
    out
}

/// A cordon's or an uncordon's report: a line per node changed. Its data
/// names the nodes changed (`cordoned` or `uncordoned`), and those left as
/// they were: `already_cordoned`, or `left_cordoned` because someone else
/// cordoned them (which the command exits 1 for).
pub(crate) struct Cordoned<'a> {
    job: &'a CordonJob,
    outcome: EachOutcome,
}

impl<'a> Cordoned<'a> {
    pub(crate) fn new(job: &'a CordonJob, outcome: EachOutcome) -> Self {
        Cordoned { job, outcome }
    }
}

impl Serialize for Cordoned<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry(self.outcome.verb, &self.outcome.done)?;
        if self.job.cordon {
            map.serialize_entry("already_cordoned", &self.job.already)?;
        } else {
            map.serialize_entry("left_cordoned", &self.job.refused)?;
        }
        map.end()
    }
}

impl Report for Cordoned<'_> {
    fn human(&self, _: OutputFormat) -> String {
        super::each_done("node", &self.outcome.done, self.outcome.verb)
    }

    /// `cordoned a, b; already cordoned: c`.
    fn summary(&self) -> String {
        let done = if self.outcome.done.is_empty() {
            "nothing".to_string()
        } else {
            self.outcome.done.join(", ")
        };
        let mut line = format!("{} {done}", self.outcome.verb);
        if !self.job.already.is_empty() {
            line.push_str(&format!(
                "; already cordoned: {}",
                self.job.already.join(", ")
            ));
        }
        line
    }

    /// The cordon's own error (Ctrl-C, a failed patch), else the nodes left
    /// cordoned because of someone else.
    fn exit(&self) -> Result<()> {
        self.job.refusal()
    }

    fn finish(self) -> Result<()> {
        let job = self.job;
        self.outcome.result?;
        job.refusal()
    }
}

/// A drain's report: each node's drain (the data is the list), and the
/// error the drain ends with.
#[derive(Serialize)]
#[serde(transparent)]
pub(crate) struct Drains {
    nodes: Vec<NodeDrain>,
    #[serde(skip)]
    result: Result<()>,
}

impl Drains {
    /// The report of a drain that started; `Err` with only the error when
    /// it never did (then there is nothing to show).
    pub(crate) fn of(outcome: DrainOutcome) -> std::result::Result<Self, Error> {
        match outcome {
            DrainOutcome {
                nodes,
                result: Err(e),
            } if nodes.is_empty() => Err(e),
            outcome => Ok(Drains {
                nodes: outcome.nodes.clone(),
                result: outcome.into_result(),
            }),
        }
    }
}

impl Report for Drains {
    fn human(&self, _: OutputFormat) -> String {
        render_drains(&self.nodes)
    }

    /// The last node's line, without its table of pods left behind.
    fn summary(&self) -> String {
        let last = self.nodes.last().map(drained_line).unwrap_or_default();
        console::strip_ansi_codes(&last).into_owned()
    }

    fn finish(self) -> Result<()> {
        self.result
    }
}

/// A replace's or a rotation's report: the drains that failed, the
/// workloads not waited for, and each node done. The data is the nodes done.
#[derive(Serialize)]
#[serde(transparent)]
pub(crate) struct Rebuilt {
    replaced: Vec<Replaced>,
    #[serde(skip)]
    failed_drains: Vec<NodeDrain>,
    #[serde(skip)]
    not_waited_for: Vec<String>,
    #[serde(skip)]
    result: Result<()>,
}

impl Rebuilt {
    /// The report of `outcome`, saying of each workload that was already
    /// unhealthy before the drain (`rebuild::not_waited_for`) what `pods
    /// stuck` finds wrong with its pods.
    pub(crate) async fn new(cluster: &Cluster, outcome: rebuild::Outcome) -> Self {
        let mut not_waited_for = Vec::new();
        for w in &outcome.unhealthy {
            let why = crate::pods::trouble_of(cluster, &w.namespace, &w.kind_name())
                .await
                .map(|t| format!(": {t}"))
                .unwrap_or_default();
            not_waited_for.push(format!("{}{why}", rebuild::not_waited_for(w)));
        }
        Rebuilt {
            replaced: outcome.replaced,
            failed_drains: outcome.failed_drains,
            not_waited_for,
            result: outcome.result,
        }
    }
}

impl Report for Rebuilt {
    fn human(&self, _: OutputFormat) -> String {
        let mut out = render_drains(&self.failed_drains);
        for r in &self.replaced {
            push_line!(
                out,
                "node/{} {} ({} pods evicted in {:.1}s)",
                r.node,
                style::good(&r.describe()),
                r.drain.count(PodOutcome::Evicted) + r.drain.count(PodOutcome::Deleted),
                r.drain.seconds
            );
        }
        out
    }

    /// Workloads not waited for: on stderr also with `-o json`, whose
    /// list of nodes has no place for them.
    fn warnings(&self) -> Vec<String> {
        self.not_waited_for.clone()
    }

    fn finish(self) -> Result<()> {
        self.result
    }
}

fn render_drains(results: &[NodeDrain]) -> String {
    let mut out = String::new();
    for r in results {
        push_line!(out, "{}", drained_line(r));
        let notable: Vec<_> = r
            .pods
            .iter()
            .filter(|p| {
                matches!(
                    p.outcome,
                    PodOutcome::Skipped | PodOutcome::Pending | PodOutcome::Failed
                )
            })
            .collect();
        if !notable.is_empty() {
            let mut t = table::new(&["pod", "outcome", "reason"]);
            for p in notable {
                t.add_row(vec![
                    p.pod.clone(),
                    format!("{:?}", p.outcome).to_lowercase(),
                    p.reason.clone(),
                ]);
            }
            for line in table::render(&t).lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
        if let Some(m) = &r.message {
            out.push_str(&format!("  {m}\n"));
        }
    }
    out
}

/// `node/a drained in 3.1s: 5 evicted, 0 deleted, 2 skipped, 0 pending`.
fn drained_line(r: &NodeDrain) -> String {
    let status = match r.status {
        NodeStatus::Drained => style::good("drained"),
        NodeStatus::Failed => style::bad("FAILED"),
        NodeStatus::TimedOut => style::bad("TIMED OUT"),
        NodeStatus::Interrupted => style::warn("interrupted"),
    };
    format!(
        "node/{} {status} in {:.1}s: {} evicted, {} deleted, {} skipped, {} pending",
        r.node,
        r.seconds,
        r.count(PodOutcome::Evicted),
        r.count(PodOutcome::Deleted),
        r.count(PodOutcome::Skipped),
        r.count(PodOutcome::Pending) + r.count(PodOutcome::Failed),
    )
}
