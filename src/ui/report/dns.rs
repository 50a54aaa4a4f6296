//! What DNS servers answered (`oncall dns resolve`) and where a name
//! really points (`oncall dns check` and the `dns_check` step).

use chrono::{DateTime, Local, Utc};
use serde::Serialize;

use crate::dns::check::{CheckReport, ViewState, answer_text};
use crate::dns::cluster::ClusterObject;
use crate::dns::{Resolution, ResolveReport, Status};
use crate::error::{Error, Result};
use crate::ui::output::{OutputFormat, Report};
use crate::ui::{style, table};

/// What each server answered; exit 1 when one gave no answer.
#[derive(Serialize)]
#[serde(transparent)]
pub(crate) struct Resolved {
    report: ResolveReport,
    /// `--short`: only the data, as `dig +short`.
    #[serde(skip)]
    short: bool,
}

impl Resolved {
    pub(crate) fn new(report: ResolveReport, short: bool) -> Self {
        Resolved { report, short }
    }
}

impl Report for Resolved {
    fn human(&self, format: OutputFormat) -> String {
        let mut out = String::new();
        if self.short {
            write_short(&mut out, &self.report);
        } else {
            write_resolve(&mut out, &self.report, format);
        }
        out
    }

    /// With `--short`, a server that did not answer is a line on stderr.
    fn remarks(&self, _: OutputFormat) -> Vec<String> {
        if !self.short {
            return Vec::new();
        }
        let several = self.report.results.len() > 1;
        self.report
            .results
            .iter()
            .filter(|r| r.status != Status::Ok)
            .map(|r| {
                format!(
                    "{}{}: {}",
                    server_prefix(r, several),
                    r.status.label(),
                    r.error.as_deref().unwrap_or("")
                )
            })
            .collect()
    }

    fn exit(&self) -> Result<()> {
        let failed: Vec<String> = self
            .report
            .results
            .iter()
            .filter(|r| r.status != Status::Ok)
            .map(|r| format!("{} ({})", r.server, r.status.label()))
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::ProblemsFound(format!(
                "no answer for {} from {}",
                self.report.name,
                failed.join(", ")
            )))
        }
    }
}

/// One server's lines start with the server when there are several.
fn server_prefix(r: &Resolution, several: bool) -> String {
    if several {
        format!("{}\t", r.server)
    } else {
        String::new()
    }
}

/// dig +short: the chain's targets, then the data.
fn write_short(out: &mut String, report: &ResolveReport) {
    let several = report.results.len() > 1;
    for r in report.results.iter().filter(|r| r.status == Status::Ok) {
        let prefix = server_prefix(r, several);
        for l in &r.chain {
            push_line!(out, "{prefix}{}", l.target);
        }
        for a in &r.answers {
            push_line!(out, "{prefix}{}", a.data);
        }
    }
}

fn write_resolve(out: &mut String, report: &ResolveReport, format: OutputFormat) {
    let what = match &report.reverse_of {
        Some(ip) => format!("{ip} ({} {})", report.name, report.record_type),
        None => format!("{} {}", report.name, report.record_type),
    };
    if let [r] = report.results.as_slice() {
        push_line!(
            out,
            "{}  {}",
            style::bold(&what),
            style::dim(&format!(
                "from {} over {} in {}",
                server_text(r),
                r.protocol,
                ms(r.query_time_ms)
            ))
        );
        if r.status != Status::Ok && r.chain.is_empty() {
            push_line!(out, "{} {}", style::bad(r.status.label()), failure_text(r));
            return;
        }
        let mut t = table::new(&["name", "ttl", "type", "data"]);
        for l in &r.chain {
            t.add_row(vec![
                l.name.clone(),
                ttl(l.ttl),
                "CNAME".into(),
                l.target.clone(),
            ]);
        }
        for a in &r.answers {
            t.add_row(vec![
                a.name.clone(),
                ttl(a.ttl),
                a.record_type.clone(),
                a.data.clone(),
            ]);
        }
        push_line!(out, "{}", table::render(&t));
        if r.status != Status::Ok {
            let end = r.chain.last().map(|l| l.target.as_str()).unwrap_or("");
            push_line!(
                out,
                "{} at the end of the chain, {end}: {}",
                style::bad(r.status.label()),
                failure_text(r)
            );
        }
        return;
    }

    push_line!(out, "{}", style::bold(&what));
    let mut headers = vec!["server", "status", "cname chain", "answers", "ttl", "time"];
    if format == OutputFormat::Wide {
        headers.push("protocol");
    }
    let mut t = table::new(&headers);
    for (r, differs) in report.results.iter().zip(&report.differs) {
        let mark = |text: String| {
            if *differs { style::warn(&text) } else { text }
        };
        let server = if *differs {
            format!("{} *", server_text(r))
        } else {
            server_text(r)
        };
        let answers = if r.status == Status::Ok {
            r.answers
                .iter()
                .map(|a| a.data.clone())
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            failure_text(r)
        };
        let ttls = r
            .answers
            .iter()
            .map(|a| a.ttl)
            .min()
            .map(ttl)
            .unwrap_or_default();
        let mut row = vec![
            server,
            mark(r.status.label().to_string()),
            mark(chain_text(r)),
            mark(answers),
            ttls,
            ms(r.query_time_ms),
        ];
        if format == OutputFormat::Wide {
            row.push(r.protocol.to_string());
        }
        t.add_row(row);
    }
    push_line!(out, "{}", table::render(&t));
    if report.agree {
        push_line!(out, "{}", style::good("All servers agree."));
    } else {
        push_line!(
            out,
            "{}",
            style::warn("* differs from the answer most servers gave (TTLs aside).")
        );
    }
}

impl Report for CheckReport {
    fn human(&self, _: OutputFormat) -> String {
        check_text(self)
    }

    /// Why the check fails, else the verdict, in one line.
    fn summary(&self) -> String {
        match self.failure() {
            Some(why) if !why.is_empty() => why,
            // An empty reason: the problems the report lists are the reason.
            Some(_) => self
                .problems
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            None => {
                let mut out = String::new();
                verdict(&mut out, self);
                let line = out.lines().next().unwrap_or_default();
                let line = console::strip_ansi_codes(line);
                line.trim_start_matches("VERDICT:").trim().to_string()
            }
        }
    }

    fn exit(&self) -> Result<()> {
        match self.failure() {
            Some(why) => Err(Error::ProblemsFound(why)),
            None => Ok(()),
        }
    }
}

fn check_text(report: &CheckReport) -> String {
    let mut out = String::new();
    push_line!(
        out,
        "{}",
        style::bold(&format!("{} {}", report.name, report.record_type))
    );
    push_line!(out, "{}", resolvers_table(report));
    push_line!(out);
    verdict(&mut out, report);
    if !report.objects.is_empty() {
        push_line!(out);
        push_line!(out, "{}", objects_table(report));
    }
    findings(&mut out, report);
    out
}

/// One row per resolver: what it answered, where that points, and whether
/// it is the new or the old target.
fn resolvers_table(report: &CheckReport) -> String {
    let mut t = table::new(&["server", "status", "answers", "ttl", "points at", "state"]);
    for v in &report.resolvers {
        let r = &v.resolution;
        let answers = match (r.status, r.chain.last()) {
            (Status::Ok, Some(end)) if !r.answers.is_empty() => {
                format!("{} (via {})", answer_text(r), end.target)
            }
            (Status::Ok, _) => answer_text(r),
            _ => failure_text(r),
        };
        let state = match v.state {
            Some(ViewState::New) => style::good("new"),
            Some(ViewState::Old) => style::warn("old"),
            Some(ViewState::Mixed) => style::warn("mixed"),
            Some(ViewState::Unknown) | None => String::new(),
        };
        t.add_row(vec![
            server_text(r),
            status_text(r.status),
            answers,
            r.max_ttl().map(ttl).unwrap_or_default(),
            if v.points_at.is_empty() && r.status == Status::Ok {
                style::bad("nothing in the cluster")
            } else {
                v.points_at.join(", ")
            },
            state,
        ]);
    }
    table::render(&t)
}

/// The one line an on-call engineer reads: which object serves the name
/// (one line per object when resolvers disagree).
fn verdict(out: &mut String, report: &CheckReport) {
    let answered = report
        .resolvers
        .iter()
        .any(|v| v.resolution.status == Status::Ok);
    match report.served_by.as_slice() {
        [] if !answered => push_line!(
            out,
            "{} no resolver gave an answer for {}.",
            style::bad("VERDICT:"),
            report.name
        ),
        [] => push_line!(
            out,
            "{} {} points at nothing in the cluster.",
            style::bad("VERDICT:"),
            report.name
        ),
        [o] => push_line!(
            out,
            "{} {} is served by {}.",
            style::bold("VERDICT:"),
            report.name,
            served_text(o)
        ),
        several => {
            push_line!(
                out,
                "{} {} is served by {} objects, depending on the resolver:",
                style::warn("VERDICT:"),
                report.name,
                several.len()
            );
            for o in several {
                let via: Vec<&str> = report
                    .resolvers
                    .iter()
                    .filter(|v| v.points_at.contains(&o.describe()))
                    .map(|v| v.resolution.server.as_str())
                    .collect();
                push_line!(out, "  {}: according to {}", served_text(o), via.join(", "));
            }
        }
    }
}

/// `Service web in namespace `shop` (release label), Helm release `shop``.
fn served_text(o: &ClusterObject) -> String {
    let mut text = format!("{} {} in namespace `{}`", o.kind, o.name, o.namespace);
    if let Some(r) = &o.release {
        text.push_str(&format!(" ({r})"));
    }
    if let Some(h) = &o.helm_release {
        text.push_str(&format!(", Helm release `{h}`"));
    }
    text
}

/// Every object that claims the name or owns an answered address.
fn objects_table(report: &CheckReport) -> String {
    let mut t = table::new(&[
        "namespace",
        "kind",
        "name",
        "release",
        "address",
        "claims name",
    ]);
    for o in &report.objects {
        t.add_row(vec![
            o.namespace.clone(),
            o.kind.clone(),
            o.name.clone(),
            o.release.clone().unwrap_or_default(),
            if o.addresses.is_empty() {
                "<pending>".into()
            } else {
                o.addresses.join(", ")
            },
            if o.claims.is_empty() {
                "-".into()
            } else {
                o.claims.join(", ")
            },
        ]);
    }
    table::render(&t)
}

/// What follows the verdict: the TXT ownership record, when caches will
/// agree, the problems found and whether the expectation holds.
fn findings(out: &mut String, report: &CheckReport) {
    if let Some(o) = &report.ownership {
        push_line!(
            out,
            "\nexternal-dns TXT record {}: owner {}, resource {}",
            o.record,
            o.owner.as_deref().unwrap_or("?"),
            o.resource.as_deref().unwrap_or("?")
        );
    }

    if let Some(a) = &report.agreement
        && let Some(by) = a.all_agree_by
    {
        push_line!(
            out,
            "\n{} all caches agree by {} (in {}, from the remaining TTLs).",
            style::warn("Resolvers disagree:"),
            clock(by),
            humantime::format_duration(std::time::Duration::from_secs(
                (by - Utc::now()).num_seconds().max(0) as u64
            ))
        );
    }

    if !report.problems.is_empty() {
        push_line!(out, "\n{}", style::bold("Problems:"));
        for p in &report.problems {
            push_line!(out, "  {} {}", style::warn("!"), p.message);
        }
    }

    match report.expectation_met {
        Some(true) => push_line!(out, "\n{} {}", style::good("OK:"), expectation_text(report)),
        Some(false) => {
            push_line!(
                out,
                "\n{} {}",
                style::bad("MISMATCH:"),
                expectation_text(report)
            );
            for m in &report.mismatches {
                push_line!(out, "  - {m}");
            }
        }
        None => {}
    }
}

fn expectation_text(report: &CheckReport) -> String {
    let Some(e) = &report.expect else {
        return String::new();
    };
    let mut parts = Vec::new();
    if let Some(ns) = &e.namespace {
        parts.push(format!("namespace `{ns}`"));
    }
    if let Some(ip) = e.ip {
        parts.push(format!("address {ip}"));
    }
    format!(
        "expected {} from every resolver for {}",
        parts.join(" and "),
        report.name
    )
}

fn server_text(r: &Resolution) -> String {
    if r.nameservers.is_empty() {
        r.server.clone()
    } else {
        format!("{} ({})", r.server, r.nameservers.join(", "))
    }
}

fn status_text(status: Status) -> String {
    if status == Status::Ok {
        status.label().to_string()
    } else {
        style::bad(status.label())
    }
}

fn failure_text(r: &Resolution) -> String {
    let mut text = r.error.clone().unwrap_or_default();
    if let Some(n) = r.negative_ttl {
        text.push_str(&format!("; may be cached for {}", ttl(n)));
    }
    text
}

fn chain_text(r: &Resolution) -> String {
    if r.chain.is_empty() {
        return "-".into();
    }
    let mut text = r.chain[0].name.clone();
    for l in &r.chain {
        text.push_str(&format!(" -> {} ({})", l.target, ttl(l.ttl)));
    }
    text
}

fn ttl(seconds: u32) -> String {
    format!("{seconds}s")
}

fn ms(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.1}ms")
    } else {
        format!("{value:.0}ms")
    }
}

fn clock(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%H:%M:%S").to_string()
}
