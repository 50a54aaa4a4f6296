//! `node list`: nodes with pool, zone, pod count and who cordoned them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::cordon;
use super::lean::{INSTANCE_TYPE_LABEL, LeanNode, ZONE_LABEL};
use super::targets;
use crate::cluster::Cluster;
use crate::cluster::api_error;
use crate::cluster::list::{ListQuery, Page, for_each_page};
use crate::cluster::retry::retry;
use crate::cluster::table::for_each_column_page;
use crate::error::Result;
use crate::safety::note::Note;

/// One row of `node list`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NodeRow {
    pub name: String,
    /// Ready, NotReady or Unknown, with `,SchedulingDisabled` when cordoned.
    pub status: String,
    pub ready: bool,
    pub cordoned: bool,
    /// The pool, from the GKE / EKS / Karpenter / AKS label (or `node.kubernetes.io/pool`).
    pub pool: Option<String>,
    /// The label the pool was read from.
    pub pool_label: Option<String>,
    pub instance_type: Option<String>,
    pub zone: Option<String>,
    /// Pods bound to the node that have not finished.
    pub pods: u64,
    /// Who cordoned the node, when and why, if oncall recorded it.
    pub cordon: Option<Note>,
    pub created: Option<DateTime<Utc>>,
    /// The kubelet version.
    pub version: String,
    pub internal_ip: Option<String>,
    pub external_ip: Option<String>,
    pub os_image: String,
    pub kernel_version: String,
    pub container_runtime: String,
    /// The cloud's id of the machine (`gce://project/zone/name`, `aws:///zone/i-…`).
    pub provider_id: Option<String>,
}

pub(crate) async fn list(cluster: &Cluster, selector: Option<&str>) -> Result<Vec<NodeRow>> {
    // The pod list is the long one: start it with the node list, not after.
    // Both finish before either error is reported, so a cluster that refuses
    // both always reports the nodes.
    let (nodes, counts) = tokio::join!(targets::list(cluster, selector), pod_counts(cluster));
    let (nodes, counts) = (nodes?, counts?);
    Ok(nodes.iter().map(|n| row(n, &counts)).collect())
}

/// The phases of pods that hold no place on their node any more.
const FINISHED: &str = "status.phase!=Succeeded,status.phase!=Failed";

/// Rows per page of the pods' table. A row without its object is about 200
/// bytes, so a page of 5,000 is about as large as a page of 500 pods as JSON
/// (kubectl's chunk size): ten times fewer round trips for the same memory.
const TABLE_PAGE_SIZE: u32 = 5000;

/// Non-finished pods per node, from one paged list of every pod, read as the
/// server's table: only each row's Node cell is needed, and a table row costs
/// the server a fraction of a pod's JSON. The field selector leaves finished
/// pods out (every API server supports it for pods); a server that answers
/// with the objects instead of a table is read the long way, in pages of the
/// usual size.
pub(crate) async fn pod_counts(cluster: &Cluster) -> Result<HashMap<String, u64>> {
    let query = ListQuery::new("/api/v1/pods").fields(Some(FINISHED));
    let table_query = query.clone().page_size(Some(TABLE_PAGE_SIZE));
    retry(|| async {
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut tables = true;
        for_each_column_page(&cluster.client, &table_query, "Node", |page| match page {
            Page::Items(pages) => {
                for table in pages {
                    if !table.has_column {
                        tables &= table.cells.is_empty() && table.kind == "Table";
                        continue;
                    }
                    for node in table.texts() {
                        match counts.get_mut(node) {
                            Some(count) => *count += 1,
                            None => {
                                counts.insert(node.to_string(), 1);
                            }
                        }
                    }
                }
            }
            Page::Restarted => counts.clear(),
        })
        .await?;
        if !tables {
            return pod_counts_from_objects(cluster, &query).await;
        }
        Ok(counts)
    })
    .await
    .map_err(|e| api_error(e, &cluster.url, "list pods"))
}

/// The same count from the pods themselves, for a server without tables.
/// The phase is checked too, in case such a server ignores the selector.
async fn pod_counts_from_objects(
    cluster: &Cluster,
    query: &ListQuery,
) -> Result<HashMap<String, u64>, kube::Error> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for_each_page::<PodPlacement, _>(&cluster.client, query, |page| match page {
        Page::Items(pods) => {
            for p in pods {
                if p.status.phase == "Succeeded" || p.status.phase == "Failed" {
                    continue;
                }
                if let Some(node) = p.spec.node_name {
                    *counts.entry(node).or_default() += 1;
                }
            }
        }
        Page::Restarted => counts.clear(),
    })
    .await?;
    Ok(counts)
}

/// The pod fields the count needs; nothing more is decoded.
#[derive(Deserialize)]
struct PodPlacement {
    #[serde(default)]
    spec: PlacementSpec,
    #[serde(default)]
    status: PlacementStatus,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PlacementSpec {
    #[serde(default)]
    node_name: Option<String>,
}

#[derive(Deserialize, Default)]
struct PlacementStatus {
    #[serde(default)]
    phase: String,
}

fn row(n: &LeanNode, counts: &HashMap<String, u64>) -> NodeRow {
    NodeRow {
        name: n.name().to_string(),
        status: n.status_text(),
        ready: n.is_ready(),
        cordoned: n.is_cordoned(),
        pool: n.pool().map(|(_, v)| v.to_string()),
        pool_label: n.pool().map(|(l, _)| l.to_string()),
        instance_type: n.label(INSTANCE_TYPE_LABEL).map(str::to_string),
        zone: n.label(ZONE_LABEL).map(str::to_string),
        pods: counts.get(n.name()).copied().unwrap_or(0),
        cordon: if n.is_cordoned() {
            cordon::note(n)
        } else {
            None
        },
        created: n.metadata.creation_timestamp,
        version: n.status.node_info.kubelet_version.clone(),
        internal_ip: n.address("InternalIP").map(str::to_string),
        external_ip: n.address("ExternalIP").map(str::to_string),
        os_image: n.status.node_info.os_image.clone(),
        kernel_version: n.status.node_info.kernel_version.clone(),
        container_runtime: n.status.node_info.container_runtime_version.clone(),
        provider_id: n.spec.provider_id.clone(),
    }
}
