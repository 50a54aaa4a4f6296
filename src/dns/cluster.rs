//! The cluster side of `dns check`: which LoadBalancer Services and Ingresses
//! claim a name or own an address, read page by page into lean types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cluster::list::{self, ListQuery, Page};
use crate::cluster::{Cluster, api_error, is_not_found};
use crate::error::Result;

/// The external-dns annotations that publish hostnames, both prefixes.
pub(crate) const HOSTNAME_ANNOTATIONS: &[&str] = &[
    "external-dns.alpha.kubernetes.io/hostname",
    "external-dns.kubernetes.io/hostname",
];

/// Labels that say which release an object belongs to, best first.
pub(crate) const RELEASE_LABELS: &[&str] = &[
    "app.kubernetes.io/version",
    "release",
    "helm.sh/chart",
    "app.kubernetes.io/instance",
    "version",
];

/// Where Helm says which release installed an object: the annotation Helm 3
/// writes on everything it installs, then the label most charts set.
const HELM_RELEASE_ANNOTATION: &str = "meta.helm.sh/release-name";
const HELM_RELEASE_LABEL: &str = "app.kubernetes.io/instance";

/// A Service or an Ingress, as far as DNS is concerned.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct ClusterObject {
    /// `Service` or `Ingress`.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// The release label as `key=value`, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The Helm release that installed it, when it says (`helm list` names it so).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helm_release: Option<String>,
    /// Its `status.loadBalancer.ingress` IPs and hostnames.
    pub addresses: Vec<String>,
    /// How it claims the name (annotation key, or `ingress rule host`); empty when it does not.
    pub claims: Vec<String>,
    /// Every hostname it publishes, with where it says so.
    #[serde(skip)]
    pub published: Vec<Published>,
}

/// A hostname an object publishes, and where (annotation key or rule host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Published {
    pub source: String,
    pub host: String,
}

impl ClusterObject {
    /// `Service shop/web`, for sentences.
    pub(crate) fn describe(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }

    /// Whether this is the object an external-dns `resource=` value names
    /// (`service/ns/name`, `ingress/ns/name`).
    pub(crate) fn is_resource(&self, resource: &str) -> bool {
        let mut parts = resource.splitn(3, '/');
        let (Some(kind), Some(ns), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        kind.eq_ignore_ascii_case(&self.kind) && ns == self.namespace && name == self.name
    }
}

#[derive(Deserialize)]
struct Lean {
    metadata: Meta,
    #[serde(default)]
    spec: Spec,
    #[serde(default)]
    status: Status,
}

#[derive(Deserialize)]
struct Meta {
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct Spec {
    /// Services only.
    #[serde(rename = "type", default)]
    service_type: Option<String>,
    /// Ingresses only.
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    #[serde(default)]
    host: Option<String>,
}

#[derive(Deserialize, Default)]
struct Status {
    #[serde(rename = "loadBalancer", default)]
    load_balancer: LoadBalancer,
}

#[derive(Deserialize, Default)]
struct LoadBalancer {
    #[serde(default)]
    ingress: Vec<LbIngress>,
}

#[derive(Deserialize)]
struct LbIngress {
    #[serde(default)]
    ip: Option<String>,
    #[serde(default)]
    hostname: Option<String>,
}

/// What the answers contain, to keep only objects that matter while paging.
pub(crate) struct Wanted<'a> {
    /// The name checked.
    pub name: &'a str,
    /// Every address and name any resolver answered.
    pub answered: &'a [String],
}

/// Lists LoadBalancer Services and Ingresses in every namespace and keeps
/// those that claim the name or own an answered address. Pages are dropped
/// as they are read, so memory does not grow with the cluster.
pub(crate) async fn related_objects(
    cluster: &Cluster,
    wanted: &Wanted<'_>,
) -> Result<Vec<ClusterObject>> {
    let mut found = Vec::new();
    for (kind, path) in [
        ("Service", "/api/v1/services"),
        ("Ingress", "/apis/networking.k8s.io/v1/ingresses"),
    ] {
        let mut kept: Vec<ClusterObject> = Vec::new();
        let result =
            list::for_each_page(&cluster.client, &ListQuery::new(path), |page| match page {
                Page::Items(items) => kept.extend(
                    items
                        .into_iter()
                        .filter_map(|item: Lean| lean_to_object(kind, item))
                        .filter(|o| is_related(o, wanted)),
                ),
                Page::Restarted => kept.clear(),
            })
            .await;
        match result {
            Ok(_) => found.extend(kept),
            // A cluster without the Ingress API simply has no Ingresses.
            Err(e) if kind == "Ingress" && is_not_found(&e) => {}
            Err(e) => {
                return Err(api_error(
                    e,
                    &cluster.url,
                    &format!("list {}", kind.to_lowercase() + "s"),
                ));
            }
        }
    }
    found.sort_by(|a, b| (&a.namespace, &a.kind, &a.name).cmp(&(&b.namespace, &b.kind, &b.name)));
    Ok(found)
}

fn lean_to_object(kind: &str, item: Lean) -> Option<ClusterObject> {
    if kind == "Service" && item.spec.service_type.as_deref() != Some("LoadBalancer") {
        return None;
    }
    let addresses = item
        .status
        .load_balancer
        .ingress
        .iter()
        .filter_map(|i| {
            i.ip.clone()
                .or_else(|| i.hostname.as_deref().map(normalise))
        })
        .collect();
    let release = RELEASE_LABELS
        .iter()
        .find_map(|k| item.metadata.labels.get(*k).map(|v| format!("{k}={v}")));
    let helm_release = helm_release(&item.metadata.annotations, &item.metadata.labels);
    Some(ClusterObject {
        kind: kind.to_string(),
        namespace: item.metadata.namespace,
        name: item.metadata.name,
        release,
        helm_release,
        addresses,
        // Filled in against the name by `resolve_claims`.
        claims: Vec::new(),
        published: published(&item.metadata.annotations, &item.spec.rules),
    })
}

/// The Helm release an object belongs to: Helm's own annotation wins over
/// the instance label, which other tools set too.
fn helm_release(
    annotations: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> Option<String> {
    annotations
        .get(HELM_RELEASE_ANNOTATION)
        .or_else(|| labels.get(HELM_RELEASE_LABEL))
        .filter(|name| !name.is_empty())
        .cloned()
}

/// Every hostname the object publishes: external-dns annotations (comma
/// separated) and Ingress rule hosts.
fn published(annotations: &BTreeMap<String, String>, rules: &[Rule]) -> Vec<Published> {
    let mut out = Vec::new();
    for key in HOSTNAME_ANNOTATIONS {
        if let Some(value) = annotations.get(*key) {
            for host in value.split(',').map(str::trim).filter(|h| !h.is_empty()) {
                out.push(Published {
                    source: format!("annotation {key}"),
                    host: normalise(host),
                });
            }
        }
    }
    for host in rules.iter().filter_map(|r| r.host.as_deref()) {
        out.push(Published {
            source: "ingress rule host".into(),
            host: normalise(host),
        });
    }
    out
}

fn is_related(object: &ClusterObject, wanted: &Wanted<'_>) -> bool {
    object
        .published
        .iter()
        .any(|p| host_matches(&p.host, wanted.name))
        || object.addresses.iter().any(|a| wanted.answered.contains(a))
}

/// Fills each object's `claims` with the ways it publishes `name`.
pub(crate) fn resolve_claims(objects: &mut [ClusterObject], name: &str) {
    for o in objects {
        let mut claims: Vec<String> = o
            .published
            .iter()
            .filter(|p| host_matches(&p.host, name))
            .map(|p| {
                if p.host == name {
                    p.source.clone()
                } else {
                    format!("{} ({})", p.source, p.host)
                }
            })
            .collect();
        claims.dedup();
        o.claims = claims;
    }
}

/// Whether a published host covers `name`: equal, or a `*.` wildcard one label up.
pub(crate) fn host_matches(host: &str, name: &str) -> bool {
    if host == name {
        return true;
    }
    match host.strip_prefix("*.") {
        Some(parent) => name
            .split_once('.')
            .is_some_and(|(first, rest)| !first.is_empty() && rest == parent),
        None => false,
    }
}

/// Lower case, no trailing dot: the form every comparison uses.
pub(crate) fn normalise(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(host_matches("shop.example.com", "shop.example.com"));
        assert!(host_matches("*.example.com", "shop.example.com"));
        assert!(!host_matches("*.example.com", "a.shop.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
    }

    #[test]
    fn services_and_ingresses_become_objects() {
        let svc: Lean = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "blue",
                "labels": {"release": "blue-7", "helm.sh/chart": "web-1.0"},
                "annotations": {"external-dns.alpha.kubernetes.io/hostname": "Shop.Example.com., api.example.com"}},
            "spec": {"type": "LoadBalancer"},
            "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}, {"hostname": "LB.example.net"}]}}
        }))
        .unwrap();
        let mut o = vec![lean_to_object("Service", svc).unwrap()];
        assert_eq!(o[0].release.as_deref(), Some("release=blue-7"));
        assert_eq!(o[0].addresses, vec!["10.0.0.1", "lb.example.net"]);
        resolve_claims(&mut o, "shop.example.com");
        assert_eq!(
            o[0].claims,
            vec!["annotation external-dns.alpha.kubernetes.io/hostname"]
        );
        assert!(o[0].is_resource("service/blue/web"));

        let cluster_ip: Lean = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "db", "namespace": "blue"}, "spec": {"type": "ClusterIP"}
        }))
        .unwrap();
        assert!(lean_to_object("Service", cluster_ip).is_none());

        let ing: Lean = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "green"},
            "spec": {"rules": [{"host": "*.example.com"}]}
        }))
        .unwrap();
        let mut o = vec![lean_to_object("Ingress", ing).unwrap()];
        let answered = vec![];
        assert!(is_related(
            &o[0],
            &Wanted {
                name: "shop.example.com",
                answered: &answered
            }
        ));
        resolve_claims(&mut o, "shop.example.com");
        assert_eq!(o[0].claims, vec!["ingress rule host (*.example.com)"]);
    }

    #[test]
    fn helm_annotation_names_the_release_before_the_instance_label() {
        let object = |meta: serde_json::Value| {
            let lean: Lean = serde_json::from_value(serde_json::json!({
                "metadata": meta, "spec": {"type": "LoadBalancer"}
            }))
            .unwrap();
            lean_to_object("Service", lean).unwrap().helm_release
        };
        assert_eq!(
            object(serde_json::json!({"name": "web",
                "labels": {"app.kubernetes.io/instance": "shop-label"},
                "annotations": {"meta.helm.sh/release-name": "shop"}})),
            Some("shop".into())
        );
        assert_eq!(
            object(serde_json::json!({"name": "web",
                "labels": {"app.kubernetes.io/instance": "shop-label"}})),
            Some("shop-label".into())
        );
        assert_eq!(object(serde_json::json!({"name": "web"})), None);
    }
}
