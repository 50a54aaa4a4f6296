//! `pods stuck`: find every stuck pod, say why, and say what to do next.
//!
//! A fixed number of paged lists, whatever the number of stuck pods: nodes
//! (for their health), then pods, while the Warning events are listed
//! alongside. Each page is decoded into lean types, classified and dropped,
//! so memory stays flat as the cluster grows.

pub mod classify;
pub mod evidence;
pub mod group;
pub mod health;
pub mod history;
pub mod lean;
pub mod report;
pub mod status;

use chrono::Utc;

use crate::cluster::list::{ListQuery, Page, for_each_page};
use crate::cluster::{Cluster, api_error, status_of};
use crate::error::Result;

pub use classify::{Category, Thresholds};
pub use group::{Advice, Group};
pub use report::{Evidence, Report, Scope, StuckPod};

use evidence::Events;
use health::Nodes;

/// What to look at, and how old a bad state must be to count.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A namespace, or `None` for all namespaces.
    pub namespace: Option<String>,
    pub node: Option<String>,
    pub selector: Option<String>,
    pub thresholds: Thresholds,
    /// Page size of every list (the API default when `None`).
    pub page_size: Option<u32>,
    pub advice: Advice,
}

/// Lists, classifies, joins events and groups. Never prints.
pub async fn find_stuck(cluster: &Cluster, opts: &Options) -> Result<Report> {
    let now = Utc::now();
    let client = &cluster.client;
    let mut warnings = Vec::new();

    let nodes_query = ListQuery::new("/api/v1/nodes")
        .fields(
            opts.node
                .as_ref()
                .map(|n| format!("metadata.name={n}"))
                .as_deref(),
        )
        .page_size(opts.page_size);
    let pods_query = ListQuery::new(collection(opts.namespace.as_deref(), "pods"))
        .labels(opts.selector.as_deref())
        .fields(
            opts.node
                .as_ref()
                .map(|n| format!("spec.nodeName={n}"))
                .as_deref(),
        )
        .page_size(opts.page_size);
    let events_query = ListQuery::new(collection(opts.namespace.as_deref(), "events"))
        .fields(Some("type=Warning"))
        .page_size(opts.page_size);

    let nodes_then_pods = async {
        let mut nodes = Nodes::unknown();
        let node_stats = for_each_page::<lean::Node, _>(client, &nodes_query, |page| match page {
            Page::Items(items) => items.iter().for_each(|n| nodes.add(n)),
            Page::Restarted => nodes.clear(),
        })
        .await;
        let node_stats = match node_stats {
            Ok(s) => {
                nodes.mark_known();
                Ok(s)
            }
            // Namespace-scoped credentials often cannot list nodes: judge
            // pods without node health rather than not at all.
            Err(e) if status_of(&e).is_some_and(|s| s.code == 403) => Err(e),
            Err(e) => return Err(api_error(e, &cluster.url, "list nodes")),
        };
        let mut stuck = Vec::new();
        let mut checked = 0u64;
        let pod_stats = for_each_page::<lean::Pod, _>(client, &pods_query, |page| match page {
            Page::Items(items) => {
                checked += items.len() as u64;
                stuck.extend(
                    items
                        .iter()
                        .filter_map(|p| classify::classify(p, &nodes, &opts.thresholds, now)),
                );
            }
            Page::Restarted => {
                stuck.clear();
                checked = 0;
            }
        })
        .await
        .map_err(|e| api_error(e, &cluster.url, "list pods"))?;
        let node_exists = opts.node.as_deref().is_some_and(|n| nodes.get(n).is_some());
        Ok((
            node_stats,
            stuck,
            checked,
            pod_stats,
            nodes.known,
            node_exists,
        ))
    };
    let events = async {
        let mut events = Events::default();
        let stats = for_each_page::<lean::Event, _>(client, &events_query, |page| match page {
            Page::Items(items) => items.into_iter().for_each(|e| events.add(e)),
            Page::Restarted => events.clear(),
        })
        .await;
        events.listed = stats.is_ok();
        (events, stats)
    };
    let (listed, (events, event_stats)) = tokio::join!(nodes_then_pods, events);
    let (node_stats, mut stuck, checked, pod_stats, nodes_known, node_exists) = listed?;

    let mut requests = pod_stats.requests;
    match node_stats {
        Ok(s) => requests += s.requests,
        Err(e) => {
            requests += 1;
            warnings.push(format!(
                "cannot list nodes ({}): pods on broken nodes are judged by their own status only",
                short(&e)
            ));
        }
    }
    match event_stats {
        Ok(s) => requests += s.requests,
        Err(e) if status_of(&e).is_some_and(|s| s.code == 403) => {
            requests += 1;
            warnings.push(format!(
                "cannot list events ({}): causes are read from pod conditions and container states only",
                short(&e)
            ));
        }
        Err(e) => return Err(api_error(e, &cluster.url, "list events")),
    }

    if let Some(node) = &opts.node
        && nodes_known
        && !node_exists
    {
        warnings.push(format!(
            "node `{node}` does not exist; check the name with `{}`",
            crate::suggest::kubectl("get nodes")
        ));
    }
    for pod in &mut stuck {
        events.attach(pod);
    }
    requests += history::fill(client, &mut stuck).await;
    let groups = group::group(&mut stuck, opts.advice);
    stuck.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(Report {
        scope: Scope {
            namespace: opts.namespace.clone(),
            node: opts.node.clone(),
            selector: opts.selector.clone(),
            older_than_seconds: opts.thresholds.older_than.map(|d| d.as_secs()),
        },
        checked_at: now,
        pods_checked: checked,
        stuck: stuck.len(),
        api_requests: requests,
        warnings,
        groups,
        pods: stuck,
    })
}

fn collection(namespace: Option<&str>, plural: &str) -> String {
    match namespace {
        Some(ns) => format!("/api/v1/namespaces/{ns}/{plural}"),
        None => format!("/api/v1/{plural}"),
    }
}

fn short(e: &kube::Error) -> String {
    status_of(e)
        .map(|s| format!("{} {}", s.code, s.reason))
        .unwrap_or_else(|| e.to_string())
}
