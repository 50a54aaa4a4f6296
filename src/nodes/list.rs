//! `node list`: nodes with pool, zone, pod count and who cordoned them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::cordon::CordonNote;
use super::lean::{INSTANCE_TYPE_LABEL, LeanNode, ZONE_LABEL};
use super::retry::retry;
use super::targets;
use crate::cluster::Cluster;
use crate::cluster::api_error;
use crate::cluster::list::{ListQuery, TablePage, for_each_table_page};
use crate::error::{Error, Result};

/// One row of `node list`.
#[derive(Debug, Clone, Serialize)]
pub struct NodeRow {
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
    pub cordon: Option<CordonNote>,
    pub created: Option<DateTime<Utc>>,
    /// The kubelet version.
    pub version: String,
}

/// A row of the pod table: its cells, of which the count reads one.
#[derive(Deserialize)]
struct PodRow {
    #[serde(default)]
    cells: Vec<serde_json::Value>,
}

pub async fn list(cluster: &Cluster, selector: Option<&str>) -> Result<Vec<NodeRow>> {
    // The pod list is the long one: start it with the node list, not after.
    // Both finish before either error is reported, so a cluster that refuses
    // both always reports the nodes.
    let (nodes, counts) = tokio::join!(targets::list(cluster, selector), pod_counts(cluster));
    let (nodes, counts) = (nodes?, counts?);
    Ok(nodes.iter().map(|n| row(n, &counts)).collect())
}

/// The phases of pods that hold no place on their node any more.
const FINISHED: &str = "status.phase!=Succeeded,status.phase!=Failed";

/// Rows per page of the pod table: a row is about a tenth of a kilobyte, so
/// a page of them weighs less than a page of 500 pods and needs a tenth of
/// the round trips.
const TABLE_PAGE: u32 = 5000;

/// Non-finished pods per node, exactly, from one paged list of every pod.
/// The API server leaves finished pods out (field selector) and sends each
/// pod as a table row without the object: its Node cell is `spec.nodeName`,
/// `<none>` when unscheduled. Decoding whole pods to read one field cost the
/// server and us ten times as much.
pub async fn pod_counts(cluster: &Cluster) -> Result<HashMap<String, u64>> {
    let query = ListQuery::new("/api/v1/pods")
        .fields(Some(FINISHED))
        .page_size(Some(TABLE_PAGE));
    let (counts, has_node_column) = retry(|| async {
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut has_node_column = true;
        for_each_table_page::<PodRow, _>(&cluster.client, &query, |page| match page {
            TablePage::Table(table) => {
                let Some(node) = table.column("Node") else {
                    has_node_column = false;
                    return;
                };
                for row in &table.rows {
                    match row.cells.get(node).and_then(serde_json::Value::as_str) {
                        Some("<none>") | None => {}
                        Some(name) => *counts.entry(name.to_string()).or_default() += 1,
                    }
                }
            }
            TablePage::Restarted => counts.clear(),
        })
        .await?;
        Ok((counts, has_node_column))
    })
    .await
    .map_err(|e| api_error(e, &cluster.url, "list pods"))?;
    if !has_node_column {
        // Counting zero pods everywhere would be a wrong answer, not a slow one.
        return Err(Error::Failed(format!(
            "the API server at {} answered the pod list without a `Node` column, so pods per node cannot be counted; `kubectl get pods -A -o wide` shows them",
            cluster.url
        )));
    }
    Ok(counts)
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
            CordonNote::read(n)
        } else {
            None
        },
        created: n.metadata.creation_timestamp,
        version: n.status.node_info.kubelet_version.clone(),
    }
}
