//! What runs on one side: its Deployments, StatefulSets and DaemonSets, and
//! the images of every container (init containers included).

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::PodSpec;
use kube::api::ListParams;
use kube::{Api, Client};
use serde::Serialize;

use crate::error::Result;
pub(crate) use crate::workloads::Kind;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Workload {
    pub kind: Kind,
    pub name: String,
    pub replicas: Option<i32>,
    /// `RollingUpdate`, `Recreate` or `OnDelete`.
    pub strategy: String,
    pub containers: Vec<Container>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Container {
    pub name: String,
    pub image: String,
    pub init: bool,
}

impl Workload {
    pub(crate) fn id(&self) -> String {
        format!("{}/{}", self.kind.as_str(), self.name)
    }

    pub(crate) fn image_of(&self, container: &str, init: bool) -> Option<&str> {
        self.containers
            .iter()
            .find(|c| c.name == container && c.init == init)
            .map(|c| c.image.as_str())
    }
}

/// Lists the workloads of `namespace`, optionally by label selector.
pub(crate) async fn list(
    client: &Client,
    namespace: &str,
    selector: Option<&str>,
) -> Result<Vec<Workload>, kube::Error> {
    let mut params = ListParams::default();
    if let Some(s) = selector {
        params = params.labels(s);
    }
    let mut out = Vec::new();
    for d in Api::<Deployment>::namespaced(client.clone(), namespace)
        .list(&params)
        .await?
    {
        let spec = d.spec.unwrap_or_default();
        out.push(workload(
            Kind::Deployment,
            d.metadata.name.unwrap_or_default(),
            spec.replicas.or(Some(1)),
            spec.strategy
                .and_then(|s| s.type_)
                .unwrap_or_else(|| "RollingUpdate".into()),
            spec.template.spec,
        ));
    }
    for s in Api::<StatefulSet>::namespaced(client.clone(), namespace)
        .list(&params)
        .await?
    {
        let spec = s.spec.unwrap_or_default();
        out.push(workload(
            Kind::StatefulSet,
            s.metadata.name.unwrap_or_default(),
            spec.replicas.or(Some(1)),
            spec.update_strategy
                .and_then(|s| s.type_)
                .unwrap_or_else(|| "RollingUpdate".into()),
            spec.template.spec,
        ));
    }
    for d in Api::<DaemonSet>::namespaced(client.clone(), namespace)
        .list(&params)
        .await?
    {
        let spec = d.spec.unwrap_or_default();
        out.push(workload(
            Kind::DaemonSet,
            d.metadata.name.unwrap_or_default(),
            None,
            spec.update_strategy
                .and_then(|s| s.type_)
                .unwrap_or_else(|| "RollingUpdate".into()),
            spec.template.spec,
        ));
    }
    Ok(out)
}

fn workload(
    kind: Kind,
    name: String,
    replicas: Option<i32>,
    strategy: String,
    spec: Option<PodSpec>,
) -> Workload {
    let spec = spec.unwrap_or_default();
    let init = spec
        .init_containers
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c, true));
    let main = spec.containers.into_iter().map(|c| (c, false));
    Workload {
        kind,
        name,
        replicas,
        strategy,
        containers: init
            .chain(main)
            .map(|(c, init)| Container {
                name: c.name,
                image: c.image.unwrap_or_default(),
                init,
            })
            .collect(),
    }
}
