//! `pods stuck`: find every stuck pod, say why, and say what to do next.
//!
//! A fixed number of paged lists, whatever the number of stuck pods: nodes
//! (for their health) and pods, and the Warning events alongside once
//! something is stuck. Each page is decoded into lean types, classified and dropped,
//! so memory stays flat as the cluster grows.

pub(crate) mod classify;
pub(crate) mod evidence;
pub(crate) mod group;
pub(crate) mod health;
pub(crate) mod history;
pub(crate) mod lean;
pub(crate) mod report;
pub(crate) mod status;

use chrono::Utc;

use crate::cluster::list::{ListQuery, ListStats, Listing, Page, for_each_page};
use crate::cluster::{Cluster, api_error, status_of};
use crate::error::Result;

pub(crate) use classify::Thresholds;
pub(crate) use group::{Advice, Group};
pub(crate) use report::{Report, Scope, StuckPod};

use evidence::Events;
use health::Nodes;

/// What to look at, and how old a bad state must be to count.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// A namespace, or `None` for all namespaces.
    pub namespace: Option<String>,
    pub node: Option<String>,
    pub selector: Option<String>,
    pub thresholds: Thresholds,
    /// Page size of every list (the API default when `None`).
    pub page_size: Option<u32>,
    pub advice: Advice,
}

/// What the node and pod lists found.
struct Listed {
    node_stats: std::result::Result<ListStats, kube::Error>,
    stuck: Vec<StuckPod>,
    checked: u64,
    nodes_known: bool,
    node_exists: bool,
}

/// What is wrong with the pods of `owner` (`kind/name`, as a stuck pod
/// names its owner) in `namespace`, as `STATUS (reason)`: for a workload
/// known to be unhealthy, so however briefly its pods have been so.
pub(crate) async fn trouble_of(cluster: &Cluster, namespace: &str, owner: &str) -> Option<String> {
    let opts = Options {
        namespace: Some(namespace.to_string()),
        thresholds: Thresholds {
            older_than: Some(std::time::Duration::ZERO),
            ..Thresholds::default()
        },
        ..Options::default()
    };
    let report = find_stuck(cluster, &opts).await.ok()?;
    report
        .pods
        .into_iter()
        .find(|p| p.owner.as_deref() == Some(owner))
        .map(|p| format!("{} ({})", p.status, p.reason))
}

/// Lists, classifies, joins events and groups. Never prints.
pub(crate) async fn find_stuck(cluster: &Cluster, opts: &Options) -> Result<Report> {
    let now = Utc::now();
    let client = &cluster.client;
    let mut warnings = Vec::new();

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

    // The Warning events only explain stuck pods: they are listed once the
    // first stuck pod is found, alongside the remaining pod pages, and not
    // at all when nothing is stuck. On a real API server events have no
    // watch cache, so every list of them reads all of them from etcd; a
    // healthy cluster no longer pays for that (see bench/NOTES.md).
    let (found_stuck, stuck_found) = tokio::sync::oneshot::channel::<()>();
    let listed = list_nodes_and_pods(cluster, opts, &pods_query, now, found_stuck);
    let events = async {
        let mut events = Events::default();
        if stuck_found.await.is_err() {
            // Nothing is stuck: no request was made, none is counted.
            return (events, Ok(ListStats::default()));
        }
        let stats = for_each_page::<lean::Event, _>(client, &events_query, |page| match page {
            Page::Items(items) => items.into_iter().for_each(|e| events.add(e)),
            Page::Restarted => events.clear(),
        })
        .await;
        events.listed = stats.is_ok();
        (events, stats)
    };
    let (listed, (events, event_stats)) = tokio::join!(listed, events);
    let Listed {
        node_stats,
        mut stuck,
        checked,
        nodes_known,
        node_exists,
    } = listed?;
    if let Some(ns) = &opts.namespace
        && checked == 0
    {
        cluster.require_namespace(ns).await?;
    }

    if let Err(e) = node_stats {
        warnings.push(format!(
            "cannot list nodes ({}): pods on broken nodes are judged by their own status only",
            short(&e)
        ));
    }
    match event_stats {
        Ok(_) => {}
        Err(e) if status_of(&e).is_some_and(|s| s.code == 403) => {
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
    history::fill(client, &mut stuck).await;
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
        api_requests: cluster.requests_sent(),
        warnings,
        groups,
        pods: stuck,
    })
}

/// Lists the nodes (for their health), then classifies the pods page by
/// page, telling `found_stuck` about the first stuck pod. The pod pages are
/// requested at once, beside the node list: the fetcher runs at most two
/// pages ahead, so the pods wait for the nodes without holding more than
/// that in memory.
async fn list_nodes_and_pods(
    cluster: &Cluster,
    opts: &Options,
    pods_query: &ListQuery,
    now: chrono::DateTime<Utc>,
    found_stuck: tokio::sync::oneshot::Sender<()>,
) -> Result<Listed> {
    let client = &cluster.client;
    let pod_pages = Listing::<lean::Pod>::start(client, pods_query);
    let nodes_query = ListQuery::new("/api/v1/nodes")
        .fields(
            opts.node
                .as_ref()
                .map(|n| format!("metadata.name={n}"))
                .as_deref(),
        )
        .page_size(opts.page_size);
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
    let mut found_stuck = Some(found_stuck);
    pod_pages
        .for_each(|page| match page {
            Page::Items(items) => {
                checked += items.len() as u64;
                stuck.extend(
                    items
                        .iter()
                        .filter_map(|p| classify::classify(p, &nodes, &opts.thresholds, now)),
                );
                if !stuck.is_empty()
                    && let Some(tell) = found_stuck.take()
                {
                    let _ = tell.send(());
                }
            }
            // A stuck pod of the abandoned pass is looked for again; the
            // events, once asked for, stay asked for.
            Page::Restarted => {
                stuck.clear();
                checked = 0;
            }
        })
        .await
        .map_err(|e| api_error(e, &cluster.url, "list pods"))?;
    let node_exists = opts.node.as_deref().is_some_and(|n| nodes.get(n).is_some());
    Ok(Listed {
        node_stats,
        stuck,
        checked,
        nodes_known: nodes.known,
        node_exists,
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
