//! Stuck pods, as `oncall pods stuck` and the `pods_stuck` step show
//! them: one cluster's report, or several contexts' as one.

use chrono::{DateTime, Local, Utc};
use serde::Serialize;

use crate::cluster::fanout::{InContext, Unreachable};
use crate::error::{Error, Result};
use crate::pods::{self, Group, Report as Stuck, StuckPod};
use crate::ui::output::{OutputFormat, Report};
use crate::ui::{style, table};

impl Report for Stuck {
    fn human(&self, format: OutputFormat) -> String {
        let mut out = String::new();
        if format == OutputFormat::Wide && self.stuck > 0 {
            let pods: Vec<_> = self.pods.iter().map(|p| ("", p)).collect();
            write_wide(&mut out, &pods, false);
        } else {
            write_groups(&mut out, self);
        }
        out
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// What was found, in one line: the headline, not the last group's
    /// next action.
    fn summary(&self) -> String {
        let mut out = String::new();
        write_headline(&mut out, self);
        console::strip_ansi_codes(out.trim()).into_owned()
    }

    fn remarks(&self, _: OutputFormat) -> Vec<String> {
        look_everywhere(&[self])
    }

    /// Stuck pods exit 1; the report has shown them.
    fn exit(&self) -> Result<()> {
        if self.stuck > 0 {
            Err(Error::ProblemsFound(String::new()))
        } else {
            Ok(())
        }
    }
}

/// Several contexts' reports as one: the totals, each context's scope and
/// counts, every group and pod with its context, and the contexts that did
/// not answer.
#[derive(Serialize)]
pub(crate) struct SeveralReports<'a> {
    pub(crate) pods_checked: u64,
    stuck: usize,
    pub(crate) api_requests: u64,
    contexts: Vec<ContextSummary<'a>>,
    groups: Vec<InContext<'a, Group>>,
    pods: Vec<InContext<'a, StuckPod>>,
    unreachable: &'a [Unreachable],
    #[serde(skip)]
    reports: &'a [(&'a str, &'a Stuck)],
}

#[derive(Serialize)]
struct ContextSummary<'a> {
    context: &'a str,
    scope: &'a pods::Scope,
    checked_at: DateTime<Utc>,
    pods_checked: u64,
    stuck: usize,
    api_requests: u64,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

impl<'a> SeveralReports<'a> {
    pub(crate) fn new(reports: &'a [(&'a str, &'a Stuck)], unreachable: &'a [Unreachable]) -> Self {
        let sum = |f: fn(&Stuck) -> u64| reports.iter().map(|(_, r)| f(r)).sum::<u64>();
        let pods: Vec<InContext<'a, StuckPod>> = reports
            .iter()
            .flat_map(|&(context, r)| r.pods.iter().map(move |item| InContext { context, item }))
            .collect();
        SeveralReports {
            pods_checked: sum(|r| r.pods_checked),
            stuck: pods.len(),
            api_requests: sum(|r| r.api_requests),
            contexts: reports
                .iter()
                .map(|&(c, r)| context_summary(c, r))
                .collect(),
            groups: reports
                .iter()
                .flat_map(|&(context, r)| {
                    r.groups.iter().map(move |item| InContext { context, item })
                })
                .collect(),
            pods,
            unreachable,
            reports,
        }
    }
}

impl Report for SeveralReports<'_> {
    fn human(&self, format: OutputFormat) -> String {
        let mut out = String::new();
        write_headlines(&mut out, self.reports);
        if format == OutputFormat::Wide && !self.pods.is_empty() {
            let pods: Vec<_> = self.pods.iter().map(|p| (p.context, p.item)).collect();
            write_wide(&mut out, &pods, true);
            return out;
        }
        for (context, r) in self.reports {
            for g in &r.groups {
                push_line!(out);
                write_group(&mut out, g, r.checked_at, Some(context));
            }
        }
        out
    }

    fn warnings(&self) -> Vec<String> {
        self.reports
            .iter()
            .flat_map(|(context, r)| {
                r.warnings
                    .iter()
                    .map(move |w| format!("context `{context}`: {w}"))
            })
            .collect()
    }

    fn remarks(&self, _: OutputFormat) -> Vec<String> {
        let reports: Vec<&Stuck> = self.reports.iter().map(|(_, r)| *r).collect();
        let mut remarks = look_everywhere(&reports);
        remarks.extend(super::left_out(self.unreachable));
        remarks
    }

    /// Stuck pods exit 1; the report has shown them.
    fn exit(&self) -> Result<()> {
        if self.pods.is_empty() {
            Ok(())
        } else {
            Err(Error::ProblemsFound(String::new()))
        }
    }
}

/// Nothing stuck where a namespace limited the look: say how to look
/// everywhere.
fn look_everywhere(reports: &[&Stuck]) -> Vec<String> {
    let namespaced = |r: &Stuck| r.scope.namespace.is_some() && r.scope.node.is_none();
    if reports.iter().all(|r| r.stuck == 0) && reports.iter().any(|r| namespaced(r)) {
        vec![style::dim("Look in every namespace with -A.")]
    } else {
        Vec::new()
    }
}

fn context_summary<'a>(context: &'a str, r: &'a Stuck) -> ContextSummary<'a> {
    ContextSummary {
        context,
        scope: &r.scope,
        checked_at: r.checked_at,
        pods_checked: r.pods_checked,
        stuck: r.stuck,
        api_requests: r.api_requests,
        warnings: &r.warnings,
    }
}

/// One line per context that answered: what was looked at and what was found.
fn write_headlines(out: &mut String, reports: &[(&str, &Stuck)]) {
    for (context, r) in reports {
        push_line!(out, "context `{context}`: {}", headline(r, "no stuck pods"));
    }
}

/// What one cluster's look found: `none` (`No stuck pods`) among how many
/// pods where, or the stuck line.
fn headline(r: &Stuck, none: &str) -> String {
    if r.stuck == 0 {
        format!(
            "{} among {} pods {}",
            style::good(none),
            r.pods_checked,
            scope_words(r)
        )
    } else {
        stuck_line(r)
    }
}

/// `3 stuck pods in 2 groups, out of 40 pods in namespace `shop``.
fn stuck_line(r: &Stuck) -> String {
    format!(
        "{} stuck {} in {} {}, out of {} pods {}",
        r.stuck,
        plural(r.stuck, "pod"),
        r.groups.len(),
        plural(r.groups.len(), "group"),
        r.pods_checked,
        scope_words(r)
    )
}

fn scope_words(report: &Stuck) -> String {
    let mut words = match &report.scope.namespace {
        Some(ns) => format!("in namespace `{ns}`"),
        None => "in all namespaces".to_string(),
    };
    if let Some(n) = &report.scope.node {
        words.push_str(&format!(" on node `{n}`"));
    }
    if let Some(l) = &report.scope.selector {
        words.push_str(&format!(" matching `{l}`"));
    }
    words
}

/// `No stuck pods among 40 pods in namespace `shop`.`, or the stuck line.
fn write_headline(out: &mut String, report: &Stuck) {
    let end = if report.stuck == 0 { "." } else { "" };
    push_line!(out, "{}{end}", headline(report, "No stuck pods"));
}

fn write_groups(out: &mut String, report: &Stuck) {
    write_headline(out, report);
    for g in &report.groups {
        push_line!(out);
        write_group(out, g, report.checked_at, None);
    }
}

/// A group's heading names its context when several were asked.
fn write_group(out: &mut String, g: &Group, now: DateTime<Utc>, context: Option<&str>) {
    let place = match (&g.node, g.owners.as_slice()) {
        (Some(node), _) if g.namespace.is_none() => format!("on node {node}"),
        (_, [one]) if !one.owner.ends_with("/<none>") => format!("in {}", one.owner),
        _ => format!("in namespace {}", g.namespace.as_deref().unwrap_or("?")),
    };
    push_line!(
        out,
        "{}{} {} {}  {}  since {}  [{}]",
        context.map(|c| format!("[{c}] ")).unwrap_or_default(),
        style::bold(&g.count.to_string()),
        plural(g.count, "pod"),
        style::bad(&g.status),
        place,
        when(g.since, now),
        g.category.name()
    );
    push_line!(out, "   {}: {}", g.reason, g.message);
    if g.namespace.is_none() || g.owners.len() > 1 {
        let owners: Vec<String> = g
            .owners
            .iter()
            .map(|o| format!("{} ({})", o.owner, o.count))
            .collect();
        push_line!(out, "   owners: {}", first_of(&owners, 5));
    }
    push_line!(out, "   pods: {}", first_of(&g.pods, 3));
    push_line!(
        out,
        "   {} {}",
        style::good("→"),
        style::bold(&g.suggestion)
    );
}

/// One row per stuck pod; the CONTEXT column only when several contexts
/// were asked, so that one cluster's table stays as it always was.
fn write_wide(out: &mut String, pods: &[(&str, &StuckPod)], with_context: bool) {
    let mut headers = Vec::new();
    if with_context {
        headers.push("context");
    }
    headers.extend([
        "namespace",
        "name",
        "ready",
        "status",
        "restarts",
        "node",
        "category",
        "for",
        "reason",
        "next action",
    ]);
    let mut t = table::new(&headers);
    for (context, p) in pods {
        let mut cells = Vec::new();
        if with_context {
            cells.push(context.to_string());
        }
        cells.extend([
            p.namespace.clone(),
            p.name.clone(),
            p.ready.clone(),
            p.status.clone(),
            p.restarts.to_string(),
            p.node.clone().unwrap_or_else(|| "<none>".into()),
            p.category.name().to_string(),
            crate::age::seconds(p.age_seconds),
            clip(&p.reason, 60),
            p.suggestion.clone(),
        ]);
        t.add_row(cells);
    }
    push_line!(out, "{}", table::render(&t));
}

/// The first `n` items, then how many more: `a, b, c, and 4 more`.
fn first_of(items: &[String], n: usize) -> String {
    let mut text = items.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > n {
        text.push_str(&format!(", and {} more", items.len() - n));
    }
    text
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// "14:02 (2h ago)", with the date when it is not today.
fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let local = t.with_timezone(&Local);
    let clock = if local.date_naive() == now.with_timezone(&Local).date_naive() {
        local.format("%H:%M").to_string()
    } else {
        local.format("%b %d %H:%M").to_string()
    };
    format!("{clock} ({} ago)", crate::age::human(now - t))
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max - 1).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_clipped() {
        assert_eq!(clip("abcdef", 4), "abc…");
    }

    #[test]
    fn long_lists_say_how_many_more() {
        let items: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        assert_eq!(first_of(&items, 3), "a, b, c, and 1 more");
        assert_eq!(first_of(&items, 4), "a, b, c, d");
    }
}
