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
use crate::cluster::retry::{is_conflict, retry};
use crate::cluster::{Cluster, api_error};
use crate::error::{Error, Result};

/// A Deployment or StatefulSet (or a bare ReplicaSet) and its replica count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Scalable {
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
    /// Another run already added the replica (its annotation says so):
    /// this one does not add another, and `replicas` is the true original.
    pub scaled_by_another_run: bool,
    /// The version read, so that two runs cannot both add a replica.
    #[serde(skip)]
    pub resource_version: Option<String>,
}

/// The replica count a workload had before `--scale-up` added one, recorded
/// on the workload itself so that a concurrent or later run restores the
/// true count and never adds a second replica.
pub(crate) const SCALED_UP_FROM: &str = "oncall.dev/scaled-up-from";

impl Scalable {
    /// `namespace/kind/name`.
    pub(crate) fn target(&self) -> String {
        format!("{}/{}", self.namespace, self.kind_name())
    }

    /// `kind/name`, as `pods stuck` names a pod's owner.
    pub(crate) fn kind_name(&self) -> String {
        format!("{}/{}", self.kind(), self.name)
    }

    /// `deployment`, `statefulset` or `replicaset`.
    pub(crate) fn kind(&self) -> &'static str {
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
pub(crate) async fn resolve(cluster: &Cluster, outage: &Outage) -> Result<Scalable> {
    resolve_owner(cluster, &outage.namespace, &outage.owner).await
}

/// The workload behind a pod's controller (`Kind/name`), when it is one
/// that keeps replicas: Deployment (via its ReplicaSet), StatefulSet, ReplicaSet.
pub(crate) async fn resolve_owner(
    cluster: &Cluster,
    namespace: &str,
    owner: &str,
) -> Result<Scalable> {
    let outage = Outage {
        namespace: namespace.to_string(),
        owner: owner.to_string(),
        pods: Vec::new(),
        replicas: 0,
    };
    let outage = &outage;
    let (kind, name) = outage.owner.split_once('/').unwrap_or(("", &outage.owner));
    let (mut resource, mut name) = match kind {
        "StatefulSet" => ("statefulsets", name.to_string()),
        "ReplicaSet" => ("replicasets", name.to_string()),
        other => {
            return Err(Error::CannotScaleUp {
                target: format!("{other}/{name}"),
                why: "only Deployments and StatefulSets can be scaled",
            });
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
    Ok(scalable(&outage.namespace, resource, name, &obj))
}

fn scalable(namespace: &str, resource: &str, name: String, obj: &DynamicObject) -> Scalable {
    let recorded = obj
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SCALED_UP_FROM))
        .and_then(|v| v.parse::<i64>().ok());
    Scalable {
        namespace: namespace.to_string(),
        resource: resource.into(),
        name,
        replicas: recorded.unwrap_or_else(|| obj.data["spec"]["replicas"].as_i64().unwrap_or(1)),
        ready: obj.data["status"]["readyReplicas"].as_i64().unwrap_or(0),
        recreate: obj.data["spec"]["strategy"]["type"] == "Recreate",
        scaled_by_another_run: recorded.is_some(),
        resource_version: obj.metadata.resource_version.clone(),
    }
}

/// Adds one replica and records the original count, unless another run
/// already did. The write names the version read: of two runs racing, one
/// adds the replica, and the other re-reads and finds the record.
pub(crate) async fn add_replica(cluster: &Cluster, w: &mut Scalable) -> Result<()> {
    let api = api(cluster, &w.namespace, &w.resource);
    let params = PatchParams::default();
    let doing = format!("patch {}", w.resource);
    for _ in 0..5 {
        if w.scaled_by_another_run {
            return Ok(());
        }
        let patch = Patch::Merge(json!({
            "metadata": {
                "resourceVersion": w.resource_version,
                "annotations": {SCALED_UP_FROM: w.replicas.to_string()},
            },
            "spec": {"replicas": w.replicas + 1},
        }));
        match api.patch(&w.name, &params, &patch).await {
            Ok(_) => return Ok(()),
            Err(e) if is_conflict(&e) => {
                let fresh = retry(|| api.get(&w.name))
                    .await
                    .map_err(|e| api_error(e, &cluster.url, &format!("get {}", w.resource)))?;
                *w = scalable(&w.namespace, &w.resource, w.name.clone(), &fresh);
            }
            Err(e) => return Err(api_error(e, &cluster.url, &doing)),
        }
    }
    Err(Error::CannotScaleUp {
        target: w.target(),
        why: "it kept changing while oncall tried; try again",
    })
}

/// Puts the original replica count back and forgets the record.
pub(crate) async fn restore_replicas(cluster: &Cluster, w: &Scalable) -> Result<()> {
    let api = api(cluster, &w.namespace, &w.resource);
    let patch = Patch::Merge(json!({
        "metadata": {"annotations": {SCALED_UP_FROM: null}},
        "spec": {"replicas": w.replicas},
    }));
    let params = PatchParams::default();
    retry(|| api.patch(&w.name, &params, &patch))
        .await
        .map(|_| ())
        .map_err(|e| api_error(e, &cluster.url, &format!("patch {}", w.resource)))
}

/// Waits, by watching the workload, until it has `want` ready replicas.
pub(crate) async fn wait_ready(
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
                // Another run's drain ended and took the replica back: there
                // is nothing left to wait for.
                Ok(Some(WatchEvent::Apply(o) | WatchEvent::InitApply(o)))
                    if o.data["spec"]["replicas"]
                        .as_i64()
                        .is_some_and(|r| r < want) =>
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
