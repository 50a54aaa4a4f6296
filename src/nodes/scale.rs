//! `--scale-up`: one more replica for workloads whose every ready replica
//! is on the nodes being drained, so the drain causes no outage; the
//! replica count is restored afterwards.

use std::time::Duration;

use futures::TryStreamExt;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event as WatchEvent};
use serde::Serialize;
use serde_json::json;

use super::check::Outage;
use crate::cluster::retry::retry;
use crate::cluster::{Cluster, api_error};
use crate::error::{Error, Result};

/// A Deployment or StatefulSet (or a bare ReplicaSet) and its replica count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scalable {
    pub namespace: String,
    /// `deployments`, `statefulsets` or `replicasets`.
    pub resource: String,
    pub name: String,
    /// Replicas before scaling up; restored afterwards.
    pub replicas: i64,
    /// Ready replicas when it was looked up.
    #[serde(skip)]
    pub ready: i64,
    /// A Deployment with the `Recreate` strategy: never two copies at once.
    #[serde(skip)]
    pub recreate: bool,
}

impl Scalable {
    /// `namespace/kind/name`.
    pub fn target(&self) -> String {
        format!("{}/{}", self.namespace, self.kind_name())
    }

    /// `kind/name`, as `pods stuck` names a pod's owner.
    pub fn kind_name(&self) -> String {
        format!("{}/{}", self.kind(), self.name)
    }

    /// `deployment`, `statefulset` or `replicaset`.
    pub fn kind(&self) -> &'static str {
        match self.resource.as_str() {
            "deployments" => "deployment",
            "statefulsets" => "statefulset",
            _ => "replicaset",
        }
    }
}

fn api(cluster: &Cluster, ns: &str, resource: &str) -> Api<DynamicObject> {
    let kind = match resource {
        "deployments" => "Deployment",
        "statefulsets" => "StatefulSet",
        _ => "ReplicaSet",
    };
    let ar = ApiResource {
        group: "apps".into(),
        version: "v1".into(),
        api_version: "apps/v1".into(),
        kind: kind.into(),
        plural: resource.into(),
    };
    Api::namespaced_with(cluster.client.clone(), ns, &ar)
}

/// The workload to scale for an outage: a ReplicaSet's Deployment, or the
/// StatefulSet itself.
pub async fn resolve(cluster: &Cluster, outage: &Outage) -> Result<Scalable> {
    resolve_owner(cluster, &outage.namespace, &outage.owner).await
}

/// The workload behind a pod's controller (`Kind/name`), when it is one
/// that keeps replicas: Deployment (via its ReplicaSet), StatefulSet, ReplicaSet.
pub async fn resolve_owner(cluster: &Cluster, namespace: &str, owner: &str) -> Result<Scalable> {
    let outage = Outage {
        namespace: namespace.to_string(),
        owner: owner.to_string(),
        pods: Vec::new(),
    };
    let outage = &outage;
    let (kind, name) = outage.owner.split_once('/').unwrap_or(("", &outage.owner));
    let (mut resource, mut name) = match kind {
        "StatefulSet" => ("statefulsets", name.to_string()),
        "ReplicaSet" => ("replicasets", name.to_string()),
        other => {
            return Err(Error::Failed(format!(
                "cannot scale up `{other}/{name}`: only Deployments and StatefulSets can be scaled"
            )));
        }
    };
    let get = |resource: &'static str, name: String| async move {
        let api = api(cluster, &outage.namespace, resource);
        retry(|| api.get(&name))
            .await
            .map_err(|e| api_error(e, &cluster.url, &format!("get {resource}")))
    };
    let mut obj = get(resource, name.clone()).await?;
    if resource == "replicasets"
        && let Some(owner) = obj.metadata.owner_references.as_ref().and_then(|o| {
            o.iter()
                .find(|o| o.controller == Some(true) && o.kind == "Deployment")
        })
    {
        resource = "deployments";
        name = owner.name.clone();
        obj = get(resource, name.clone()).await?;
    }
    Ok(Scalable {
        namespace: outage.namespace.clone(),
        resource: resource.into(),
        name,
        replicas: obj.data["spec"]["replicas"].as_i64().unwrap_or(1),
        ready: obj.data["status"]["readyReplicas"].as_i64().unwrap_or(0),
        recreate: obj.data["spec"]["strategy"]["type"] == "Recreate",
    })
}

pub async fn set_replicas(cluster: &Cluster, w: &Scalable, replicas: i64) -> Result<()> {
    let api = api(cluster, &w.namespace, &w.resource);
    let patch = Patch::Merge(json!({"spec": {"replicas": replicas}}));
    let params = PatchParams::default();
    retry(|| api.patch(&w.name, &params, &patch))
        .await
        .map(|_| ())
        .map_err(|e| api_error(e, &cluster.url, &format!("patch {}", w.resource)))
}

/// Waits, by watching the workload, until it has `want` ready replicas.
pub async fn wait_ready(
    cluster: &Cluster,
    w: &Scalable,
    want: i64,
    timeout: Duration,
) -> Result<()> {
    let api = api(cluster, &w.namespace, &w.resource);
    let config = watcher::Config::default().fields(&format!("metadata.name={}", w.name));
    let wait = async {
        let stream = watcher::watcher(api, config).default_backoff();
        futures::pin_mut!(stream);
        loop {
            match stream.try_next().await {
                Ok(Some(WatchEvent::Apply(o) | WatchEvent::InitApply(o)))
                    if o.data["status"]["readyReplicas"].as_i64().unwrap_or(0) >= want =>
                {
                    return;
                }
                Ok(None) => return,
                _ => {}
            }
        }
    };
    tokio::time::timeout(timeout, wait)
        .await
        .map_err(|_| Error::TimedOut {
            after: humantime::format_duration(timeout).to_string(),
            what: format!("`{}` did not reach {want} ready replicas", w.target()),
        })
}
