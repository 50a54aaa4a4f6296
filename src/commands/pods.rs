//! `oncall pods stuck`: renders the report of `crate::pods`.

use std::time::Instant;

use chrono::{DateTime, Local, Utc};
use serde::Serialize;

use crate::app::App;
use crate::cli::{OutputFormat, StuckArgs};
use crate::cluster::Cluster;
use crate::cluster::fanout::{self, InContext, Unreachable};
use crate::error::{Error, Result};
use crate::pods::{self, Group, Options, Report, StuckPod, Thresholds};
use crate::ui::{output, style, table};

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
    let shown = output::show(app.global.output, &report);
    // The sandbox lives only as long as this command: a pasted kubectl
    // suggestion would reach the kubeconfig's cluster instead.
    if app.global.sandbox
        && report
            .groups
            .iter()
            .any(|g| g.suggestion.starts_with("kubectl "))
    {
        // `sandbox serve` starts a cluster of its own: no connection flags.
        let serve = format!(
            "{} sandbox serve --kubeconfig-out sandbox.kubeconfig",
            crate::suggest::program()
        );
        style::note(&format!(
            "kubectl cannot reach this sandbox: to try the kubectl suggestions, run `{serve}` and pass that kubeconfig to both tools"
        ));
    }
    shown
}

impl output::Report for Report {
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
struct SeveralReports<'a> {
    pods_checked: u64,
    stuck: usize,
    api_requests: u64,
    contexts: Vec<ContextSummary<'a>>,
    groups: Vec<InContext<'a, Group>>,
    pods: Vec<InContext<'a, StuckPod>>,
    unreachable: &'a [Unreachable],
    #[serde(skip)]
    reports: &'a [(&'a str, &'a Report)],
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
    fn new(reports: &'a [(&'a str, &'a Report)], unreachable: &'a [Unreachable]) -> Self {
        let sum = |f: fn(&Report) -> u64| reports.iter().map(|(_, r)| f(r)).sum::<u64>();
        let pods: Vec<InContext<'a, StuckPod>> = reports
            .iter()
            .flat_map(|&(context, r)| r.pods.iter().map(move |item| InContext { context, item }))
            .collect();
        SeveralReports {
            pods_checked: sum(|r| r.pods_checked),
            stuck: pods.len(),
            api_requests: sum(|r| r.api_requests),
            contexts: reports.iter().map(|&(c, r)| summary(c, r)).collect(),
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

impl output::Report for SeveralReports<'_> {
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
        let reports: Vec<&Report> = self.reports.iter().map(|(_, r)| *r).collect();
        let mut remarks = look_everywhere(&reports);
        remarks.extend(super::contexts::left_out(self.unreachable));
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
fn look_everywhere(reports: &[&Report]) -> Vec<String> {
    let namespaced = |r: &Report| r.scope.namespace.is_some() && r.scope.node.is_none();
    if reports.iter().all(|r| r.stuck == 0) && reports.iter().any(|r| namespaced(r)) {
        vec![style::dim("Look in every namespace with -A.")]
    } else {
        Vec::new()
    }
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

fn summary<'a>(context: &'a str, r: &'a Report) -> ContextSummary<'a> {
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
fn write_headlines(out: &mut String, reports: &[(&str, &Report)]) {
    for (context, r) in reports {
        if r.stuck == 0 {
            push_line!(
                out,
                "context `{context}`: {} among {} pods {}",
                style::good("no stuck pods"),
                r.pods_checked,
                scope_words(r)
            );
        } else {
            push_line!(out, "context `{context}`: {}", stuck_line(r));
        }
    }
}

/// `3 stuck pods in 2 groups, out of 40 pods in namespace `shop``.
fn stuck_line(r: &Report) -> String {
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

fn scope_words(report: &Report) -> String {
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

fn write_groups(out: &mut String, report: &Report) {
    if report.stuck == 0 {
        push_line!(
            out,
            "{} among {} pods {}.",
            style::good("No stuck pods"),
            report.pods_checked,
            scope_words(report)
        );
        return;
    }
    push_line!(out, "{}", stuck_line(report));
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
