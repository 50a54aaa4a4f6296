//! Resolving the nodes a command acts on against the live cluster: names
//! must exist, a selector must select something.

use kube::api::Api;

use super::lean::LeanNode;
use crate::cluster::list::{ListQuery, collect};
use crate::cluster::retry::retry;
use crate::cluster::{Cluster, api_error, is_not_found};
use crate::error::{Error, Result};

/// The named nodes (in the order given), or those the selector selects (by name).
pub(crate) async fn resolve(
    cluster: &Cluster,
    names: &[String],
    selector: Option<&str>,
) -> Result<Vec<LeanNode>> {
    if names.is_empty() && selector.is_none() {
        return Err(Error::NoTargets {
            what: "the nodes",
            list: Some(crate::suggest::oncall("node list")),
        });
    }
    let mut nodes = Vec::new();
    let mut missing = Vec::new();
    for name in names {
        match get(cluster, name).await {
            Ok(node) => nodes.push(node),
            // Every missing name at once, as kubectl names each one.
            Err(Error::NotFound { .. }) => missing.push(name.clone()),
            Err(e) => return Err(e),
        }
    }
    match missing.len() {
        0 => {}
        1 => return Err(not_found(&missing[0])),
        _ => {
            return Err(Error::NodesNotFound {
                names: missing,
                list: crate::suggest::oncall("node list"),
            });
        }
    }
    if let Some(sel) = selector {
        let mut selected = list(cluster, Some(sel)).await?;
        if selected.is_empty() && names.is_empty() {
            return Err(Error::NothingSelected(sel.to_string()));
        }
        selected.retain(|n| !names.iter().any(|m| m == n.name()));
        nodes.extend(selected);
    }
    Ok(nodes)
}

pub(crate) async fn get(cluster: &Cluster, name: &str) -> Result<LeanNode> {
    let path = format!("/api/v1/nodes/{name}");
    let result = retry(|| async {
        let request = http::Request::get(&path)
            .body(Vec::new())
            .map_err(kube::Error::HttpError)?;
        cluster.client.request::<LeanNode>(request).await
    })
    .await;
    match result {
        Ok(node) => Ok(node),
        Err(e) if is_not_found(&e) => Err(not_found(name)),
        Err(e) => Err(api_error(e, &cluster.url, "get nodes")),
    }
}

fn not_found(name: &str) -> Error {
    Error::NotFound {
        what: format!("node `{name}`"),
        list: crate::suggest::oncall("node list"),
    }
}

/// Every node (or those matching `selector`), sorted by name.
pub(crate) async fn list(cluster: &Cluster, selector: Option<&str>) -> Result<Vec<LeanNode>> {
    let query = ListQuery::new("/api/v1/nodes").labels(selector);
    let (mut nodes, _) = retry(|| collect::<LeanNode>(&cluster.client, &query))
        .await
        .map_err(|e| api_error(e, &cluster.url, "list nodes"))?;
    nodes.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(nodes)
}

/// The typed Node API, for patches and deletes.
pub(crate) fn nodes_api(cluster: &Cluster) -> Api<k8s_openapi::api::core::v1::Node> {
    Api::all(cluster.client.clone())
}
