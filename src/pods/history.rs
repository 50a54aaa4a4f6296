//! How many rollout revisions the workloads behind image-pull failures keep,
//! so `kubectl rollout undo` is suggested only where an earlier revision
//! exists, and the bad image is named with the workload it comes from.
//!
//! One list per namespace that has such a pod, whatever the number of pods.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::report::{Cause, StuckPod};
use crate::cluster::list::{ListQuery, collect};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Owned {
    metadata: Meta,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Meta {
    owner_references: Vec<Owner>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Owner {
    kind: String,
    name: String,
}

/// The owner `kind/name` of an image-pull failure that `rollout undo`
/// understands.
fn workload(p: &StuckPod) -> Option<&str> {
    let owner = p.owner.as_deref()?;
    (p.cause == Cause::ImagePull
        && ["deployment/", "statefulset/", "daemonset/"]
            .iter()
            .any(|k| owner.starts_with(k)))
    .then_some(owner)
}

/// Fills in `revisions` of the image-pull failures and names the image's
/// source in their message. Returns the number of requests made. A failed
/// lookup (no permission, say) leaves `revisions` unknown: undo is then not
/// suggested, which is the safe side.
pub(crate) async fn fill(client: &kube::Client, pods: &mut [StuckPod]) {
    let namespaces: BTreeSet<String> = pods
        .iter()
        .filter(|p| workload(p).is_some())
        .map(|p| p.namespace.clone())
        .collect();
    // (namespace, kind/name) → revisions kept.
    let mut kept: BTreeMap<(String, String), usize> = BTreeMap::new();
    for ns in namespaces {
        let wants = |kind: &str| {
            pods.iter()
                .filter_map(workload)
                .any(|w| w.starts_with(kind))
        };
        // A Deployment keeps its revisions as ReplicaSets, StatefulSets and
        // DaemonSets as ControllerRevisions.
        let mut lists = Vec::new();
        if wants("deployment/") {
            lists.push("replicasets");
        }
        if wants("statefulset/") || wants("daemonset/") {
            lists.push("controllerrevisions");
        }
        for resource in lists {
            let query = ListQuery::new(format!("/apis/apps/v1/namespaces/{ns}/{resource}"));
            let Ok((items, _)) = collect::<Owned>(client, &query).await else {
                continue;
            };
            for item in items {
                for o in item.metadata.owner_references {
                    let key = (ns.clone(), format!("{}/{}", o.kind.to_lowercase(), o.name));
                    *kept.entry(key).or_default() += 1;
                }
            }
        }
    }
    for p in pods.iter_mut() {
        let Some(w) = workload(p).map(str::to_string) else {
            continue;
        };
        let Some(&n) = kept.get(&(p.namespace.clone(), w.clone())) else {
            continue;
        };
        p.revisions = Some(n);
        let source = match image_of(p) {
            Some(i) if !p.message.contains(&i) => format!("the image `{i}` comes from {w}"),
            _ => format!("the image comes from {w}"),
        };
        let history = if n > 1 {
            format!(", which keeps {n} revisions")
        } else {
            ", which has no earlier revision to roll back to: fix the image there".to_string()
        };
        p.message = format!("{}; {source}{history}", p.message);
    }
}

/// The image a pull failure names (`pulling image "X"`), if it does.
fn image_of(p: &StuckPod) -> Option<String> {
    std::iter::once(p.message.as_str())
        .chain(p.evidence.iter().map(|e| e.message.as_str()))
        .find_map(|m| {
            let start = m.find("image \"")? + "image \"".len();
            let len = m[start..].find('"')?;
            Some(m[start..start + len].to_string())
        })
}
