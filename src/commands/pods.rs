//! `oncall pods stuck`: renders the report of `crate::pods`.

use std::time::Instant;

use chrono::{DateTime, Local, Utc};

use crate::app::App;
use crate::cli::{OutputFormat, StuckArgs};
use crate::error::{Error, Result};
use crate::pods::{self, Group, Options, Report, Thresholds};
use crate::ui::{output, style, table};

pub async fn stuck(app: &App, args: StuckArgs) -> Result<()> {
    let cluster = app.cluster().await?;
    // kubectl's scoping: the context's namespace unless -n or -A; a node is
    // looked at as a whole unless a namespace is named.
    let namespace =
        if args.all_namespaces || (args.node.is_some() && app.global.namespace.is_none()) {
            None
        } else {
            Some(cluster.namespace.clone())
        };
    let opts = Options {
        namespace,
        node: args.node.clone(),
        selector: args.selector.clone(),
        thresholds: Thresholds {
            older_than: args.older_than,
            ..Thresholds::default()
        },
        page_size: None,
        advice: pods::Advice {
            terminate_configured: app
                .config
                .clusters
                .get(&cluster.context)
                .and_then(|c| c.terminate.as_ref())
                .is_some_and(|t| !t.is_empty()),
        },
    };
    let started = Instant::now();
    let spinner = app.progress.spinner("pods");
    spinner.set_message("listing nodes, pods and Warning events");
    let result = pods::find_stuck(cluster, &opts).await;
    spinner.finish_and_clear();
    let mut report = result?;
    // The connection check (GET /version) made by `app.cluster()` is a request too.
    report.api_requests += 1;

    for w in &report.warnings {
        eprintln!("{} {w}", style::warn("warning:"));
    }
    if app.global.verbose > 0 {
        style::note(&format!(
            "{} API requests; {} pods checked in {:.1}s",
            report.api_requests,
            report.pods_checked,
            started.elapsed().as_secs_f64()
        ));
    }
    match app.global.output {
        OutputFormat::Json | OutputFormat::Yaml => output::print(app.global.output, &report)?,
        OutputFormat::Wide => print_wide(&report),
        OutputFormat::Table => print_groups(&report),
    }
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
    if report.stuck > 0 {
        return Err(Error::ProblemsFound(String::new()));
    }
    Ok(())
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

fn print_groups(report: &Report) {
    if report.stuck == 0 {
        outln!(
            "{} among {} pods {}.",
            style::good("No stuck pods"),
            report.pods_checked,
            scope_words(report)
        );
        if report.scope.namespace.is_some() && report.scope.node.is_none() {
            style::note("Look in every namespace with -A.");
        }
        return;
    }
    outln!(
        "{} stuck {} in {} {}, out of {} pods {}",
        report.stuck,
        plural(report.stuck, "pod"),
        report.groups.len(),
        plural(report.groups.len(), "group"),
        report.pods_checked,
        scope_words(report)
    );
    for g in &report.groups {
        outln!();
        print_group(g, report.checked_at);
    }
}

fn print_group(g: &Group, now: DateTime<Utc>) {
    let place = match (&g.node, g.owners.as_slice()) {
        (Some(node), _) if g.namespace.is_none() => format!("on node {node}"),
        (_, [one]) if !one.owner.ends_with("/<none>") => format!("in {}", one.owner),
        _ => format!("in namespace {}", g.namespace.as_deref().unwrap_or("?")),
    };
    outln!(
        "{} {} {}  {}  since {}  [{}]",
        style::bold(&g.count.to_string()),
        plural(g.count, "pod"),
        style::bad(&g.status),
        place,
        when(g.since, now),
        g.category.name()
    );
    outln!("   {}: {}", g.reason, g.message);
    if g.namespace.is_none() || g.owners.len() > 1 {
        let owners: Vec<String> = g
            .owners
            .iter()
            .take(5)
            .map(|o| format!("{} ({})", o.owner, o.count))
            .collect();
        let more = g.owners.len().saturating_sub(5);
        outln!(
            "   owners: {}{}",
            owners.join(", "),
            if more > 0 {
                format!(", and {more} more")
            } else {
                String::new()
            }
        );
    }
    let shown: Vec<&str> = g.pods.iter().take(3).map(String::as_str).collect();
    let more = g.pods.len().saturating_sub(3);
    outln!(
        "   pods: {}{}",
        shown.join(", "),
        if more > 0 {
            format!(", and {more} more")
        } else {
            String::new()
        }
    );
    outln!("   {} {}", style::good("→"), style::bold(&g.suggestion));
}

fn print_wide(report: &Report) {
    if report.stuck == 0 {
        print_groups(report);
        return;
    }
    let mut t = table::new(&[
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
    for p in &report.pods {
        t.add_row(vec![
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
    }
    outln!("{}", table::render(&t));
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
}
