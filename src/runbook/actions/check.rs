//! `pods_stuck` and `dns_check`: the same domain calls as `oncall pods
//! stuck` and `oncall dns check`.
//!
//! What a check finds is data for later steps (`steps.ID.output`), not a
//! failure of the run, unless the step sets `fail_on_problems: true`; then
//! it fails as the command would exit 1.

use serde_json::json;

use super::args::{Dur, Flag, List, Text, args, dur, list, on};
use super::{Action, Produced, Spec, cluster, finding};
use crate::cluster::Cluster;
use crate::dns::{check, query};
use crate::error::{Error, Result};
use crate::runbook::engine::Run;
use crate::runbook::model::Step;
use crate::ui::output::{Report, data};

/// A text that is given and not empty.
fn given(t: &Option<Text>) -> Option<&str> {
    t.as_deref().filter(|t| !t.trim().is_empty())
}

// ---- pods_stuck -------------------------------------------------------

args! {
    PodsStuckArgs {
        /// The namespace (default: the run's; every namespace when only `node` is given).
        namespace: Option<Text>,
        /// Look in every namespace.
        all_namespaces: Option<Flag>,
        /// Only pods on this node.
        node: Option<Text>,
        /// Only pods matching this label selector.
        selector: Option<Text>,
        /// Only pods stuck longer than this (e.g. 10m).
        older_than: Option<Dur>,
        /// Fail the step (as the command exits 1) when stuck pods are found.
        fail_on_problems: Option<Flag>,
    }
}

pub(super) struct PodsStuck;

impl Action for PodsStuck {
    type Args = PodsStuckArgs;
    const SPEC: &'static Spec = &Spec::cluster(
        "pods_stuck",
        "find pods that are not running and group them by node",
        false,
        true,
    );

    async fn run(&self, run: &Run<'_>, _step: &Step, args: PodsStuckArgs) -> Result<Produced> {
        let cluster = cluster(run, Self::SPEC.name)?;
        let report = pods_stuck(cluster, &run.journal.namespace, &args).await?;
        finding(
            Self::SPEC.name,
            args.fail_on_problems,
            &report,
            data(&report),
        )
    }
}

/// Finds stuck pods, the report `oncall pods stuck` shows. Scope as the command: `all_namespaces`, else
/// `namespace`, else every namespace when only `node` is given, else the
/// run's namespace.
async fn pods_stuck(
    cluster: &Cluster,
    run_namespace: &str,
    args: &PodsStuckArgs,
) -> Result<crate::pods::Report> {
    let node = given(&args.node).map(str::to_string);
    let namespace = match given(&args.namespace) {
        _ if on(args.all_namespaces) => None,
        Some(ns) => Some(ns.to_string()),
        None if node.is_some() => None,
        None => Some(run_namespace.to_string()),
    };
    let opts = crate::pods::Options {
        namespace,
        node,
        selector: args.selector.as_ref().map(|s| s.0.clone()),
        thresholds: crate::pods::Thresholds {
            older_than: args.older_than.and_then(|d| d.0),
            ..crate::pods::Thresholds::default()
        },
        page_size: None,
        advice: crate::pods::Advice::default(),
    };
    crate::pods::find_stuck(cluster, &opts).await
}

// ---- dns_check --------------------------------------------------------

args! {
    DnsCheckArgs {
        /// The host name to resolve.
        name: Text,
        /// The namespace whose Service or Ingress the name must point at.
        expect_namespace: Option<Text>,
        /// The address the name must resolve to.
        expect_ip: Option<Text>,
        /// DNS servers to ask, as IP[:PORT] (besides the system resolver).
        servers: Option<List>,
        /// The record type (default A).
        r#type: Option<Text>,
        /// How long each server gets to answer (default 5s).
        timeout: Option<Dur>,
        /// Ask only the given servers, not the system resolver.
        no_system_resolver: Option<Flag>,
        /// Fail the step (as the command exits 1) when the check fails.
        fail_on_problems: Option<Flag>,
    }
}

pub(super) struct DnsCheck;

impl Action for DnsCheck {
    type Args = DnsCheckArgs;
    const SPEC: &'static Spec = &Spec::cluster(
        "dns_check",
        "check that a name resolves to the expected service's address",
        false,
        true,
    );

    async fn run(&self, run: &Run<'_>, _step: &Step, args: DnsCheckArgs) -> Result<Produced> {
        let report = dns_check(cluster(run, Self::SPEC.name)?, &args).await?;
        let mut output = data(&report);
        output["ok"] = json!(report.exit().is_ok());
        finding(Self::SPEC.name, args.fail_on_problems, &report, output)
    }
}

/// Resolves the name and maps the answers onto the cluster: the report
/// `oncall dns check` shows. The step's output is `dns check -o json` plus
/// `ok` (false when the command would exit 1).
async fn dns_check(cluster: &Cluster, args: &DnsCheckArgs) -> Result<check::CheckReport> {
    let name = &args.name.0;
    let question = query::question(name, args.r#type.as_deref().filter(|t| !t.is_empty()))?;
    if question.reverse_of.is_some() {
        return Err(Error::BadStepArgs {
            action: "dns_check".into(),
            field: Some("name".into()),
            reason: format!("must be a host name, not the address `{name}`"),
        });
    }
    let servers: Vec<String> = list(&args.servers)
        .iter()
        .filter(|s| !s.trim().is_empty())
        .cloned()
        .collect();
    let targets = query::targets(&servers, !on(args.no_system_resolver))?;
    let expect = check::Expect {
        namespace: given(&args.expect_namespace).map(str::to_string),
        ip: match args.expect_ip.as_deref().filter(|i| !i.is_empty()) {
            Some(ip) => Some(ip.parse().map_err(|_| Error::BadStepArgs {
                action: "dns_check".into(),
                field: Some("expect_ip".into()),
                reason: format!("must be an IP address, not `{ip}`"),
            })?),
            None => None,
        },
    };
    let options = query::Options {
        tcp: false,
        timeout: dur(args.timeout, std::time::Duration::from_secs(5)),
    };
    check::check(cluster, &question, &targets, options, expect).await
}
