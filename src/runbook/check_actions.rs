//! `pods_stuck`, `dns_check` and `promote`: the same domain calls as
//! `oncall pods stuck`, `oncall dns check` and `oncall promote`.
//!
//! What a check finds is data for later steps (`steps.ID.output`), not a
//! failure of the run, unless the step sets `fail_on_problems: true`; then
//! it fails as the command would exit 1.

use serde_json::{Value as Json, json};

use std::sync::Mutex;

use super::dispatch::{arg, as_list, duration_or, flag};
use super::engine::Run;
use crate::cluster::{Cluster, ConnectOptions};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::promote::{run as procedure, sides, summary};
use crate::safety::{Audited, Cancel, OpCtx, Plan, audit};

// ---- pods_stuck -------------------------------------------------------

/// Finds stuck pods. Scope as the command: `all_namespaces`, else
/// `namespace`, else every namespace when only `node` is given, else the
/// run's namespace.
pub(super) async fn pods_stuck(
    cluster: &Cluster,
    run_namespace: &str,
    args: &Json,
) -> Result<(Json, String, bool)> {
    let all = flag(args.get("all_namespaces"), "all_namespaces")?;
    let node = arg(args, "node")
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let namespace = match arg(args, "namespace").filter(|n| !n.is_empty()) {
        _ if all => None,
        Some(ns) => Some(ns.to_string()),
        None if node.is_some() => None,
        None => Some(run_namespace.to_string()),
    };
    let older_than = match arg(args, "older_than").filter(|t| !t.trim().is_empty()) {
        Some(t) => Some(
            humantime::parse_duration(t.trim())
                .map_err(|e| Error::Usage(format!("`older_than`: {e}")))?,
        ),
        None => None,
    };
    let opts = crate::pods::Options {
        namespace,
        node,
        selector: arg(args, "selector").map(str::to_string),
        thresholds: crate::pods::Thresholds {
            older_than,
            ..crate::pods::Thresholds::default()
        },
        page_size: None,
        advice: crate::pods::Advice::default(),
    };
    let report = crate::pods::find_stuck(cluster, &opts).await?;
    let mut lines: Vec<String> = report
        .warnings
        .iter()
        .map(|w| format!("warning: {w}"))
        .collect();
    for g in &report.groups {
        let place = g
            .node
            .as_deref()
            .map(|n| format!(" on node {n}"))
            .or_else(|| g.namespace.as_deref().map(|n| format!(" in {n}")))
            .unwrap_or_default();
        lines.push(format!(
            "{} pod(s) {}{place} [{}]: {}",
            g.count,
            g.status,
            g.category.name(),
            g.suggestion
        ));
    }
    lines.push(if report.stuck == 0 {
        format!("no stuck pods among {} pods", report.pods_checked)
    } else {
        format!(
            "{} stuck pod(s) in {} group(s), out of {} pods",
            report.stuck,
            report.groups.len(),
            report.pods_checked
        )
    });
    let text = lines.join("\n");
    let ok = report.stuck == 0;
    Ok((serde_json::to_value(&report).unwrap_or_default(), text, ok))
}

// ---- dns_check --------------------------------------------------------

/// Resolves the name and maps the answers onto the cluster. Its output is
/// `dns check -o json` plus `ok` (false when the command would exit 1).
pub(super) async fn dns_check(cluster: &Cluster, args: &Json) -> Result<(Json, String, bool)> {
    use crate::dns::{check, query};
    let name = arg(args, "name").unwrap_or_default();
    let question = query::question(name, arg(args, "type").filter(|t| !t.is_empty()))?;
    if question.reverse_of.is_some() {
        return Err(Error::Usage(format!(
            "`dns_check` needs a host name, not the address `{name}`"
        )));
    }
    let servers: Vec<String> = as_list(args.get("servers"))
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .collect();
    let with_system = !flag(args.get("no_system_resolver"), "no_system_resolver")?;
    let targets = query::targets(&servers, with_system)?;
    let expect = check::Expect {
        namespace: arg(args, "expect_namespace")
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        ip: match arg(args, "expect_ip").filter(|i| !i.is_empty()) {
            Some(ip) => Some(
                ip.parse()
                    .map_err(|_| Error::Usage(format!("`expect_ip`: `{ip}` is not an address")))?,
            ),
            None => None,
        },
    };
    let options = query::Options {
        tcp: false,
        timeout: duration_or(
            args.get("timeout"),
            "timeout",
            std::time::Duration::from_secs(5),
        )?,
    };
    let report = check::check(cluster, &question, &targets, options, expect).await?;
    let failure = report.failure();
    let mut output = serde_json::to_value(&report).unwrap_or_default();
    output["ok"] = json!(failure.is_none());
    let answers: Vec<String> = report
        .resolvers
        .iter()
        .map(|v| {
            let r = &v.resolution;
            let answer = if r.status == crate::dns::Status::Ok {
                check::answer_text(r)
            } else {
                r.error
                    .clone()
                    .unwrap_or_else(|| r.status.label().to_string())
            };
            format!("{}: {answer}", r.server)
        })
        .collect();
    let mut text = answers.join("\n");
    let served: Vec<String> = report
        .served_by
        .iter()
        .map(|o| format!("{}/{}/{}", o.kind, o.namespace, o.name))
        .collect();
    text.push_str(&format!(
        "\n{} points at {}",
        report.name,
        if served.is_empty() {
            "nothing in the cluster".to_string()
        } else {
            served.join(", ")
        }
    ));
    match &failure {
        // An empty reason: the problems the report lists are the reason.
        Some(why) if why.is_empty() => {
            for p in &report.problems {
                text.push_str(&format!("\n{}", p.message));
            }
        }
        Some(why) => text.push_str(&format!("\n{why}")),
        None => {}
    }
    Ok((output, text, failure.is_none()))
}

// ---- promote ----------------------------------------------------------

async fn sides_of<'a>(
    cluster: &'a Cluster,
    options: &ConnectOptions,
    config: &Config,
    args: &Json,
) -> Result<sides::Sides<'a>> {
    let settings = config.promote.clone().unwrap_or_default();
    let pick = |field: &str, configured: Option<String>| -> Result<String> {
        arg(args, field)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .or(configured)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "the `promote` step needs `{field}` (an environment of the config file, or a namespace)"
                ))
            })
    };
    let from = pick("from", settings.from.clone())?;
    let to = pick("to", settings.to.clone())?;
    sides::for_runbook(cluster, options, config, &from, &to).await
}

pub(super) async fn plan_promote(
    cluster: &Cluster,
    options: &ConnectOptions,
    config: &Config,
    args: &Json,
    into: &mut Plan,
) -> Result<()> {
    let sides = sides_of(cluster, options, config, args).await?;
    let settings = config.promote.clone().unwrap_or_default();
    let promotion = procedure::plan(
        &sides.source,
        &sides.target,
        &settings,
        &as_list(args.get("only")),
    )
    .await?;
    let target_cluster = sides.target.conn.cluster();
    let plan = summary::safety_plan(&promotion, target_cluster, &sides.target.namespace);
    if target_cluster.context != cluster.context {
        // The plan names where the change happens, not where the run started.
        into.context = target_cluster.context.clone();
        into.cluster = target_cluster.url.clone();
    }
    into.namespace = sides.target.namespace.clone();
    into.changes.extend(plan.changes);
    into.skipped.extend(plan.skipped);
    into.warnings.extend(plan.warnings);
    Ok(())
}

/// Promotes through `promote::run`, as `oncall promote` does. Output:
/// `release`, `result`, `plan`, `migration` (`promote -o json`).
pub(super) async fn promote(
    run: &Run<'_>,
    cluster: &Cluster,
    args: &Json,
) -> Result<(Json, String)> {
    let sides = sides_of(cluster, &run.connect, run.config, args).await?;
    let (source, target) = (&sides.source, &sides.target);
    let settings = run.config.promote.clone().unwrap_or_default();
    let promotion = procedure::plan(source, target, &settings, &as_list(args.get("only"))).await?;
    if promotion.is_empty() {
        let text = format!(
            "nothing to do: {} already runs what {} runs",
            promotion.target, promotion.source
        );
        let report = procedure::PromoteReport::nothing_to_do(promotion);
        return Ok((serde_json::to_value(&report).unwrap_or_default(), text));
    }
    let job = procedure::Job {
        action: procedure::Action::Promote,
        source: source.label.clone(),
        sha: promotion.release_sha(),
        plan: promotion,
        options: procedure::Options {
            no_rollback: flag(args.get("no_rollback"), "no_rollback")?,
            timeout: duration_or(
                args.get("timeout"),
                "timeout",
                std::time::Duration::from_secs(600),
            )?,
        },
    };
    let lines = Mutex::new(Vec::new());
    let observer = |e| {
        if let procedure::Event::Finished { target, error } = e
            && let Ok(mut lines) = lines.lock()
        {
            lines.push(match error {
                None => format!("✓ {target}"),
                Some(e) => format!("✗ {target}: {e}"),
            });
        }
    };
    let user = audit::os_user();
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &observer);
    let target_cluster = target.conn.cluster();
    let mut report = procedure::run(target_cluster, &target.namespace, &job, &ctx).await;
    run.report_audit(report.audit());
    let mut lines = lines.into_inner().unwrap_or_default();
    lines.extend(report.ledger_warning());
    std::mem::replace(&mut report.outcome, Ok(()))?;
    if let Some(number) = report.release {
        lines.push(format!("release {number} is live in {}", target.namespace));
    }
    Ok((
        serde_json::to_value(&report).unwrap_or_default(),
        lines.join("\n"),
    ))
}
