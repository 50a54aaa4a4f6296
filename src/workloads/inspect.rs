//! What a plan shows about a workload before it is restarted: replicas,
//! strategy, PodDisruptionBudget, health, broken pods, and whether the
//! restart takes the service down.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::core::SelectorExt;
use serde::Serialize;

use super::pods::{Problem, diagnose};
use super::{Workload, WorkloadRef};
use crate::cluster::list::{self, ListQuery};
use crate::cluster::{Cluster, api_error};
use crate::error::{Error, Result};

/// The facts about one workload, as of now.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Facts {
    pub workload: WorkloadRef,
    /// Desired pods (for a DaemonSet: the nodes it should run on).
    pub replicas: i64,
    /// Pods that are Ready now.
    pub ready: i64,
    /// The update strategy, with the numbers that matter.
    pub strategy: String,
    /// The PodDisruptionBudget covering the pods, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdb: Option<Pdb>,
    /// Pods that are broken now, with the reason.
    pub broken: Vec<BrokenPod>,
    /// Pods that are not broken (including ones still starting).
    pub healthy: Vec<String>,
    /// Why a rolling restart would leave no pod serving, if it would.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outage: Option<String>,
    /// Whether this is a paused Deployment.
    pub paused: bool,
    /// Why a restart would replace nothing (OnDelete, scaled to zero).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_restart: Option<String>,
}

impl Facts {
    /// "3/3 ready", with the broken pods counted.
    pub(crate) fn health(&self) -> String {
        let mut text = format!("{}/{} ready", self.ready, self.replicas);
        if !self.broken.is_empty() {
            let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
            for b in &self.broken {
                *reasons.entry(b.problem.reason.as_str()).or_default() += 1;
            }
            let parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
            text.push_str(&format!(", {}", parts.join(", ")));
        }
        text
    }

    /// The PDB, as the plan prints it.
    pub(crate) fn pdb_text(&self) -> String {
        match &self.pdb {
            None => "no PDB".into(),
            Some(p) => format!(
                "PDB {} ({}, {} disruption(s) allowed now)",
                p.name, p.rule, p.disruptions_allowed
            ),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Pdb {
    pub name: String,
    /// `minAvailable 2` or `maxUnavailable 1`.
    pub rule: String,
    /// The PDB's own count of evictions it would allow now.
    pub disruptions_allowed: i64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct BrokenPod {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub problem: Problem,
}

/// Reads the workload, its pods, their nodes' health and the matching PDB.
pub(crate) async fn inspect(cluster: &Cluster, r: &WorkloadRef) -> Result<Facts> {
    let client = &cluster.client;
    let workload = Workload::get(client, r)
        .await
        .map_err(|e| api_error(e, &cluster.url, &format!("get {}", r.kind.plural())))?
        .ok_or_else(|| Error::WorkloadGone {
            workload: r.to_string(),
            namespace: r.namespace.clone(),
        })?;
    let pods = workload_pods(cluster, &workload).await?;
    let lost = lost_nodes(cluster, &pods).await?;
    let mut broken = Vec::new();
    let mut healthy = Vec::new();
    let mut ready = 0;
    for pod in &pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        let node_lost = node.as_ref().is_some_and(|n| lost.contains(n));
        if is_ready(pod) && !node_lost {
            ready += 1;
        }
        match diagnose(pod, node_lost) {
            Some(problem) => broken.push(BrokenPod {
                name,
                node,
                problem,
            }),
            None => healthy.push(name),
        }
    }
    let pdb = matching_pdb(cluster, &workload).await?;
    Ok(Facts {
        workload: r.clone(),
        replicas: desired(&workload),
        ready,
        strategy: strategy(&workload),
        pdb,
        broken,
        healthy,
        outage: outage(&workload),
        paused: workload.is_paused(),
        no_restart: no_restart(&workload),
    })
}

/// The workload's live pods (not the ones already terminating).
pub(crate) async fn workload_pods(cluster: &Cluster, workload: &Workload) -> Result<Vec<Pod>> {
    let r = workload.reference();
    let Some(selector) = workload.selector_string() else {
        return Ok(Vec::new());
    };
    let query =
        ListQuery::new(format!("/api/v1/namespaces/{}/pods", r.namespace)).labels(Some(&selector));
    let (pods, _) = list::collect::<Pod>(&cluster.client, &query)
        .await
        .map_err(|e| api_error(e, &cluster.url, "list pods"))?;
    Ok(pods
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect())
}

/// Nodes among those hosting `pods` that have stopped reporting (Ready
/// condition Unknown) or no longer exist. A few nodes are read one by one;
/// many (a DaemonSet's) with one lean, paged list of every node.
pub(crate) async fn lost_nodes(cluster: &Cluster, pods: &[Pod]) -> Result<BTreeSet<String>> {
    let names: BTreeSet<String> = pods
        .iter()
        .filter_map(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()))
        .collect();
    let mut reporting = BTreeSet::new();
    if names.len() <= 20 {
        let api = Api::<Node>::all(cluster.client.clone());
        for name in &names {
            let node = api
                .get_opt(name)
                .await
                .map_err(|e| api_error(e, &cluster.url, "get nodes"))?;
            let lean = node.map(|n| LeanNode {
                metadata: LeanNodeMeta { name: name.clone() },
                status: LeanNodeStatus {
                    conditions: n
                        .status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|c| LeanCondition {
                            type_: c.type_,
                            status: c.status,
                        })
                        .collect(),
                },
            });
            if lean.is_some_and(|n| n.reporting()) {
                reporting.insert(name.clone());
            }
        }
    } else {
        let query = ListQuery::new("/api/v1/nodes");
        list::for_each_page::<LeanNode, _>(&cluster.client, &query, |page| match page {
            list::Page::Items(nodes) => reporting.extend(
                nodes
                    .into_iter()
                    .filter(|n| n.reporting())
                    .map(|n| n.metadata.name),
            ),
            list::Page::Restarted => reporting.clear(),
        })
        .await
        .map_err(|e| api_error(e, &cluster.url, "list nodes"))?;
    }
    Ok(names.difference(&reporting).cloned().collect())
}

#[derive(serde::Deserialize)]
struct LeanNode {
    metadata: LeanNodeMeta,
    #[serde(default)]
    status: LeanNodeStatus,
}

#[derive(serde::Deserialize)]
struct LeanNodeMeta {
    name: String,
}

#[derive(serde::Deserialize, Default)]
struct LeanNodeStatus {
    #[serde(default)]
    conditions: Vec<LeanCondition>,
}

#[derive(serde::Deserialize)]
struct LeanCondition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
}

impl LeanNode {
    /// Whether the kubelet still reports: a Ready condition that is not Unknown.
    fn reporting(&self) -> bool {
        self.status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status != "Unknown")
    }
}

pub(crate) fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn matching_pdb(cluster: &Cluster, workload: &Workload) -> Result<Option<Pdb>> {
    let r = workload.reference();
    let api = Api::<PodDisruptionBudget>::namespaced(cluster.client.clone(), &r.namespace);
    let pdbs = api
        .list(&Default::default())
        .await
        .map_err(|e| api_error(e, &cluster.url, "list poddisruptionbudgets"))?;
    let labels = workload.template_labels();
    Ok(pdbs.items.into_iter().find_map(|p| {
        let spec = p.spec.clone()?;
        let selector = kube::core::Selector::try_from(spec.selector.clone()?).ok()?;
        if !selector.matches(&labels) {
            return None;
        }
        let rule = match (&spec.min_available, &spec.max_unavailable) {
            (Some(v), _) => format!("minAvailable {}", int_or_string(v)),
            (_, Some(v)) => format!("maxUnavailable {}", int_or_string(v)),
            _ => "no limit".into(),
        };
        Some(Pdb {
            name: p.metadata.name.clone().unwrap_or_default(),
            rule,
            disruptions_allowed: p.status.map(|s| s.disruptions_allowed as i64).unwrap_or(0),
        })
    }))
}

fn int_or_string(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// How many pods `value` allows out of `replicas`: percentages round up
/// for a surge and down for unavailability, as the controllers do.
pub(crate) fn scaled(
    value: Option<&IntOrString>,
    default: &str,
    replicas: i64,
    round_up: bool,
) -> i64 {
    let text = match value {
        Some(IntOrString::Int(i)) => return *i as i64,
        Some(IntOrString::String(s)) => s.as_str(),
        None => default,
    };
    match text.strip_suffix('%').and_then(|p| p.parse::<f64>().ok()) {
        Some(pct) => {
            let exact = pct * replicas as f64 / 100.0;
            if round_up {
                exact.ceil() as i64
            } else {
                exact.floor() as i64
            }
        }
        None => text.parse().unwrap_or(0),
    }
}

pub(crate) fn desired(workload: &Workload) -> i64 {
    match workload {
        Workload::Deployment(d) => d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1) as i64,
        Workload::StatefulSet(s) => s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1) as i64,
        Workload::DaemonSet(d) => d
            .status
            .as_ref()
            .map(|s| s.desired_number_scheduled as i64)
            .unwrap_or(0),
    }
}

/// Deployment (maxUnavailable, maxSurge) after defaulting and rounding.
fn deployment_budget(workload: &Workload) -> Option<(i64, i64)> {
    let Workload::Deployment(d) = workload else {
        return None;
    };
    let replicas = desired(workload);
    let rolling = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let mut unavailable = scaled(
        rolling.and_then(|r| r.max_unavailable.as_ref()),
        "25%",
        replicas,
        false,
    );
    let surge = scaled(
        rolling.and_then(|r| r.max_surge.as_ref()),
        "25%",
        replicas,
        true,
    );
    if unavailable == 0 && surge == 0 {
        unavailable = 1;
    }
    Some((unavailable, surge))
}

fn strategy_type(workload: &Workload) -> String {
    let t = match workload {
        Workload::Deployment(d) => d
            .spec
            .as_ref()
            .and_then(|s| s.strategy.as_ref())
            .and_then(|s| s.type_.clone()),
        Workload::StatefulSet(s) => s
            .spec
            .as_ref()
            .and_then(|s| s.update_strategy.as_ref())
            .and_then(|s| s.type_.clone()),
        Workload::DaemonSet(d) => d
            .spec
            .as_ref()
            .and_then(|s| s.update_strategy.as_ref())
            .and_then(|s| s.type_.clone()),
    };
    t.unwrap_or_else(|| "RollingUpdate".into())
}

/// The strategy with the numbers that decide how many pods go at once.
pub(crate) fn strategy(workload: &Workload) -> String {
    let kind = strategy_type(workload);
    if kind != "RollingUpdate" {
        return kind;
    }
    match workload {
        Workload::Deployment(_) => {
            let (unavailable, surge) = deployment_budget(workload).unwrap_or((1, 0));
            format!("RollingUpdate (maxUnavailable {unavailable}, maxSurge {surge})")
        }
        Workload::StatefulSet(s) => {
            let rolling = s
                .spec
                .as_ref()
                .and_then(|s| s.update_strategy.as_ref())
                .and_then(|u| u.rolling_update.as_ref());
            let partition = rolling.and_then(|r| r.partition).unwrap_or(0);
            let mut text = "RollingUpdate (one pod at a time, highest ordinal first".to_string();
            if partition > 0 {
                text.push_str(&format!(", partition {partition}"));
            }
            text.push(')');
            text
        }
        Workload::DaemonSet(d) => {
            let rolling = d
                .spec
                .as_ref()
                .and_then(|s| s.update_strategy.as_ref())
                .and_then(|u| u.rolling_update.as_ref());
            let nodes = desired(workload);
            let unavailable = scaled(
                rolling.and_then(|r| r.max_unavailable.as_ref()),
                "1",
                nodes,
                false,
            );
            let surge = scaled(rolling.and_then(|r| r.max_surge.as_ref()), "0", nodes, true);
            format!("RollingUpdate (maxUnavailable {unavailable}, maxSurge {surge}, per node)")
        }
    }
}

/// Why a restart would leave no pod serving for a while, if it would.
pub(crate) fn outage(workload: &Workload) -> Option<String> {
    let replicas = desired(workload);
    if replicas == 0 || no_restart(workload).is_some() {
        return None;
    }
    let kind = strategy_type(workload);
    match workload {
        Workload::Deployment(_) if kind == "Recreate" => Some(format!(
            "Recreate stops all {replicas} pod(s) before starting new ones"
        )),
        Workload::Deployment(_) => {
            let (unavailable, _) = deployment_budget(workload)?;
            (unavailable >= replicas).then(|| {
                format!(
                    "maxUnavailable {unavailable} allows all {replicas} pod(s) to be down at once"
                )
            })
        }
        Workload::StatefulSet(s) => {
            let max_unavailable = s
                .spec
                .as_ref()
                .and_then(|s| s.update_strategy.as_ref())
                .and_then(|u| u.rolling_update.as_ref())
                .and_then(|r| r.max_unavailable.as_ref());
            let unavailable = scaled(max_unavailable, "1", replicas, false).max(1);
            if replicas == 1 {
                Some("a single replica: its pod is deleted before the new one starts".into())
            } else if unavailable >= replicas {
                Some(format!(
                    "maxUnavailable {unavailable} allows all {replicas} pod(s) to be down at once"
                ))
            } else {
                None
            }
        }
        // A DaemonSet serves per node: its pods are replaced node by node by design.
        Workload::DaemonSet(_) => None,
    }
}

/// Why changing the template would replace no pod, if it would not.
pub(crate) fn no_restart(workload: &Workload) -> Option<String> {
    if strategy_type(workload) == "OnDelete" {
        return Some(
            "updateStrategy OnDelete: a template change replaces no pod; use --bad-pods or delete its pods"
                .into(),
        );
    }
    if desired(workload) == 0 {
        return Some(match workload {
            Workload::DaemonSet(_) => "runs on no node: nothing to restart".into(),
            _ => "scaled to zero: nothing to restart".into(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(replicas: i64, strategy: serde_json::Value) -> Workload {
        Workload::Deployment(
            serde_json::from_value(json!({
                "metadata": {"name": "web"},
                "spec": {"replicas": replicas, "selector": {}, "template": {}, "strategy": strategy}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn percentages_round_like_the_controller() {
        let pct = IntOrString::String("25%".into());
        assert_eq!(scaled(Some(&pct), "0", 3, false), 0);
        assert_eq!(scaled(Some(&pct), "0", 3, true), 1);
        assert_eq!(scaled(None, "25%", 8, false), 2);
        assert_eq!(scaled(Some(&IntOrString::Int(2)), "0", 8, false), 2);
    }

    #[test]
    fn one_replica_with_recreate_is_an_outage() {
        let w = deploy(1, json!({"type": "Recreate"}));
        assert!(outage(&w).unwrap().contains("Recreate"));
        assert_eq!(strategy(&w), "Recreate");
    }

    #[test]
    fn default_rolling_update_keeps_one_replica_up() {
        let w = deploy(1, json!({}));
        assert_eq!(outage(&w), None);
        assert_eq!(strategy(&w), "RollingUpdate (maxUnavailable 0, maxSurge 1)");
    }

    #[test]
    fn max_unavailable_covering_every_replica_is_an_outage() {
        let w = deploy(
            2,
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "100%", "maxSurge": 0}}),
        );
        assert!(outage(&w).unwrap().contains("all 2"));
        let w = deploy(
            3,
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
        );
        assert_eq!(outage(&w), None);
    }

    #[test]
    fn single_statefulset_pod_is_an_outage_and_on_delete_restarts_nothing() {
        let w = Workload::StatefulSet(
            serde_json::from_value(json!({
                "metadata": {"name": "db"},
                "spec": {"replicas": 1, "selector": {}, "template": {}, "serviceName": "db"}
            }))
            .unwrap(),
        );
        assert!(outage(&w).is_some());
        let w = Workload::StatefulSet(
            serde_json::from_value(json!({
                "metadata": {"name": "db"},
                "spec": {"replicas": 3, "selector": {}, "template": {}, "serviceName": "db",
                         "updateStrategy": {"type": "OnDelete"}}
            }))
            .unwrap(),
        );
        assert!(no_restart(&w).unwrap().contains("OnDelete"));
        assert_eq!(outage(&w), None);
    }

    #[test]
    fn scaled_to_zero_restarts_nothing() {
        assert!(no_restart(&deploy(0, json!({}))).is_some());
    }
}
