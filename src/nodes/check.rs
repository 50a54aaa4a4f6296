//! `node check`: the pre-flight. For every pod on the node, what a drain
//! would do; then everything that would block it or cause an outage, each
//! with the flag or action that resolves it; then go / no-go.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::decide::{Action, DrainOptions, Refusal, ScaleRefusal, decide};
use super::lean::{LeanNode, LeanPod, Meta, Resources};
use super::scale;
use super::selector::LabelSelector;
use crate::cluster::list::{ListQuery, Page, collect, for_each_page};
use crate::cluster::retry::retry;
use crate::cluster::{Cluster, api_error, is_not_found};
use crate::error::Result;

pub(crate) const SAFE_TO_EVICT: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";

/// The whole pre-flight: one report per node, and the verdict.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CheckReport {
    /// True when no node has a blocker.
    pub go: bool,
    pub nodes: Vec<NodeCheck>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct NodeCheck {
    pub node: String,
    pub pool: Option<String>,
    pub ready: bool,
    pub cordoned: bool,
    /// Every pod on the node and what a drain would do with it.
    pub pods: Vec<PodPlan>,
    /// What stops or endangers the drain; empty means go.
    pub blockers: Vec<Blocker>,
    /// With `--scale-up`: workloads that get one more replica before the
    /// drain (all their ready replicas are here) and are restored after.
    pub scale_up: Vec<Outage>,
    pub go: bool,
}

/// A workload whose every ready replica is on the drained nodes.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Outage {
    pub namespace: String,
    /// The pods' controller, as `Kind/name`.
    pub owner: String,
    pub pods: Vec<String>,
    /// The controller's pods in all, drained or not.
    #[serde(skip)]
    pub replicas: u32,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PodPlan {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// The controller, as `Kind/name`, if any.
    pub owner: Option<String>,
    /// evict, delete, skip or refuse.
    pub action: Action,
    pub reason: String,
    /// PodDisruptionBudgets (`namespace/name`) that cover the pod.
    pub pdbs: Vec<String>,
}

impl PodPlan {
    /// Whether the drain evicts or deletes this pod.
    pub(crate) fn action_removes(&self) -> bool {
        matches!(self.action, Action::Evict | Action::Delete)
    }

    pub(crate) fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// One thing that blocks the drain, and how to resolve it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Blocker {
    pub kind: BlockerKind,
    /// A sentence naming the problem.
    pub message: String,
    /// The pods concerned, as `namespace/name`.
    pub pods: Vec<String>,
    /// The flag or action that resolves it.
    pub fix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdb: Option<PdbNumbers>,
}

/// In the order a node's blockers are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum BlockerKind {
    /// DaemonSet pods without `--ignore-daemonsets`.
    DaemonSet,
    /// emptyDir pods without `--delete-emptydir-data`.
    EmptyDir,
    /// Pods with no controller without `--force`.
    NoController,
    /// A PodDisruptionBudget that allows too few disruptions.
    Pdb,
    /// Every replica of a workload is on the nodes being drained.
    Outage,
    /// `cluster-autoscaler.kubernetes.io/safe-to-evict: "false"`.
    SafeToEvict,
    /// Pods already Terminating that nothing will ever confirm deleted (a
    /// finalizer holds them, or their node's kubelet is gone): without
    /// `--skip-wait-for-delete-timeout` a drain waits for them forever.
    NeverDeleted,
    /// The remaining schedulable nodes lack room for the evicted pods.
    NoRoom,
}

impl BlockerKind {
    /// Whether the drain refuses to start (as kubectl does), rather than
    /// starting and waiting or warning.
    pub(crate) fn stops_drain(self) -> bool {
        matches!(
            self,
            BlockerKind::DaemonSet | BlockerKind::EmptyDir | BlockerKind::NoController
        )
    }
}

/// A budget's numbers, as `kubectl get pdb` shows them.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PdbNumbers {
    pub namespace: String,
    pub name: String,
    pub min_available: Option<String>,
    pub max_unavailable: Option<String>,
    pub current_healthy: i64,
    pub desired_healthy: i64,
    pub expected_pods: i64,
    pub disruptions_allowed: i64,
}

impl PdbNumbers {
    pub(crate) fn describe(&self) -> String {
        let rule = match (&self.min_available, &self.max_unavailable) {
            (Some(m), _) => format!("minAvailable {m}"),
            (_, Some(m)) => format!("maxUnavailable {m}"),
            _ => "no rule".into(),
        };
        format!(
            "PodDisruptionBudget `{}/{}` ({rule}; {} of {} healthy, {} needed; {} disruption(s) allowed)",
            self.namespace,
            self.name,
            self.current_healthy,
            self.expected_pods,
            self.desired_healthy,
            self.disruptions_allowed
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct LeanPdb {
    #[serde(default)]
    pub metadata: Meta,
    #[serde(default)]
    pub spec: PdbSpec,
    #[serde(default)]
    pub status: PdbStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PdbSpec {
    #[serde(default)]
    pub selector: Option<LabelSelector>,
    #[serde(default)]
    pub min_available: Option<serde_json::Value>,
    #[serde(default)]
    pub max_unavailable: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PdbStatus {
    #[serde(default)]
    pub current_healthy: i64,
    #[serde(default)]
    pub desired_healthy: i64,
    #[serde(default)]
    pub expected_pods: i64,
    #[serde(default)]
    pub disruptions_allowed: i64,
}

impl LeanPdb {
    pub(crate) fn covers(&self, pod: &LeanPod) -> bool {
        pod.metadata.namespace == self.metadata.namespace
            && self
                .spec
                .selector
                .as_ref()
                .is_some_and(|s| s.matches(&pod.metadata.labels))
    }

    pub(crate) fn numbers(&self) -> PdbNumbers {
        let text = |v: &Option<serde_json::Value>| {
            v.as_ref().map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        PdbNumbers {
            namespace: self.metadata.namespace.clone(),
            name: self.metadata.name.clone(),
            min_available: text(&self.spec.min_available),
            max_unavailable: text(&self.spec.max_unavailable),
            current_healthy: self.status.current_healthy,
            desired_healthy: self.status.desired_healthy,
            expected_pods: self.status.expected_pods,
            disruptions_allowed: self.status.disruptions_allowed,
        }
    }
}

/// The pods bound to `node` (matching `pod_selector`), page by page.
pub(crate) async fn pods_on_node(
    cluster: &Cluster,
    node: &str,
    pod_selector: Option<&str>,
) -> Result<Vec<LeanPod>> {
    let field = format!("spec.nodeName={node}");
    let query = ListQuery::new("/api/v1/pods")
        .fields(Some(&field))
        .labels(pod_selector);
    let (mut pods, _) = retry(|| collect::<LeanPod>(&cluster.client, &query))
        .await
        .map_err(|e| api_error(e, &cluster.url, "list pods"))?;
    pods.sort_by_key(|p| p.key());
    Ok(pods)
}

/// `namespace/name` of DaemonSets that own pods in `pods` but are gone,
/// each DaemonSet looked up once.
pub(crate) async fn missing_daemonsets<'a>(
    cluster: &Cluster,
    pods: impl IntoIterator<Item = &'a LeanPod>,
) -> Result<HashSet<String>> {
    let owners: HashSet<(String, String)> = pods
        .into_iter()
        .filter_map(|p| {
            p.metadata
                .controller()
                .filter(|c| c.kind == "DaemonSet")
                .map(|c| (p.metadata.namespace.clone(), c.name.clone()))
        })
        .collect();
    let mut missing = HashSet::new();
    for (ns, name) in owners {
        let path = format!("/apis/apps/v1/namespaces/{ns}/daemonsets/{name}");
        let got = retry(|| async {
            let req = http::Request::get(&path)
                .body(Vec::new())
                .map_err(kube::Error::HttpError)?;
            cluster.client.request::<serde_json::Value>(req).await
        })
        .await;
        match got {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {
                missing.insert(format!("{ns}/{name}"));
            }
            Err(e) => return Err(api_error(e, &cluster.url, "get daemonsets")),
        }
    }
    Ok(missing)
}

/// Every PodDisruptionBudget in the cluster (a short list).
pub(crate) async fn pdbs(cluster: &Cluster) -> Result<Vec<LeanPdb>> {
    let query = ListQuery::new("/apis/policy/v1/poddisruptionbudgets");
    retry(|| collect::<LeanPdb>(&cluster.client, &query))
        .await
        .map(|(items, _)| items)
        .map_err(|e| api_error(e, &cluster.url, "list poddisruptionbudgets"))
}

/// The drain decision for each pod, with the budgets covering it.
pub(crate) fn plan_pods(
    pods: &[LeanPod],
    opts: &DrainOptions,
    missing: &HashSet<String>,
    budgets: &[LeanPdb],
) -> Vec<PodPlan> {
    let now = Utc::now();
    pods.iter()
        .map(|p| {
            let d = decide(p, opts, missing, now);
            PodPlan {
                namespace: p.metadata.namespace.clone(),
                name: p.metadata.name.clone(),
                uid: p.metadata.uid.clone(),
                owner: p
                    .metadata
                    .controller()
                    .map(|c| format!("{}/{}", c.kind, c.name)),
                action: d.action,
                reason: d.reason,
                pdbs: budgets
                    .iter()
                    .filter(|b| b.covers(p))
                    .map(|b| format!("{}/{}", b.metadata.namespace, b.metadata.name))
                    .collect(),
            }
        })
        .collect()
}

/// What the rest of the cluster looks like from the drained nodes: room
/// on the other nodes, and healthy replicas elsewhere per controller.
#[derive(Debug, Default)]
pub(crate) struct ClusterView {
    /// Requests of non-finished pods, per node.
    pub used: HashMap<String, Resources>,
    /// Per controller UID: its healthy pods, per node.
    pub healthy_on: HashMap<String, HashMap<String, u32>>,
    /// Per controller UID: all non-finished pods.
    pub total: HashMap<String, u32>,
}

#[derive(Deserialize)]
struct ViewPod {
    #[serde(default)]
    metadata: ViewMeta,
    #[serde(default)]
    spec: super::lean::PodSpec,
    #[serde(default)]
    status: super::lean::PodStatus,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ViewMeta {
    #[serde(default)]
    owner_references: Vec<super::lean::OwnerRef>,
    #[serde(default)]
    deletion_timestamp: Option<serde::de::IgnoredAny>,
}

impl ClusterView {
    /// Healthy pods of the controller `uid` on nodes outside `drained`.
    fn healthy_outside(&self, uid: &str, drained: &HashSet<String>) -> u32 {
        self.healthy_on.get(uid).map_or(0, |on| {
            on.iter()
                .filter(|(node, _)| !drained.contains(*node))
                .map(|(_, n)| n)
                .sum()
        })
    }
}

/// One paged pass over every pod, keeping only per-node and per-controller sums.
pub(crate) async fn cluster_view(cluster: &Cluster) -> Result<ClusterView> {
    let query = ListQuery::new("/api/v1/pods");
    retry(|| async {
        let mut view = ClusterView::default();
        for_each_page::<ViewPod, _>(&cluster.client, &query, |page| match page {
            Page::Items(pods) => {
                for p in pods {
                    let lean = LeanPod {
                        spec: p.spec,
                        status: p.status,
                        ..Default::default()
                    };
                    if lean.is_finished() {
                        continue;
                    }
                    let node = lean.spec.node_name.clone().unwrap_or_default();
                    if !node.is_empty() {
                        view.used
                            .entry(node.clone())
                            .or_default()
                            .add(lean.requests());
                    }
                    let Some(owner) = p
                        .metadata
                        .owner_references
                        .iter()
                        .find(|o| o.controller == Some(true))
                    else {
                        continue;
                    };
                    *view.total.entry(owner.uid.clone()).or_default() += 1;
                    let healthy = lean.is_ready() && p.metadata.deletion_timestamp.is_none();
                    if healthy && !node.is_empty() {
                        *view
                            .healthy_on
                            .entry(owner.uid.clone())
                            .or_default()
                            .entry(node)
                            .or_default() += 1;
                    }
                }
            }
            Page::Restarted => view = ClusterView::default(),
        })
        .await?;
        Ok(view)
    })
    .await
    .map_err(|e| api_error(e, &cluster.url, "list pods"))
}

/// How many nodes' pods a check lists at once: enough to read a large pool
/// in a fraction of the time, few enough not to queue behind the API
/// server's fairness limits.
const NODES_AT_ONCE: usize = 8;

/// Runs the pre-flight for `targets`, given every node of the cluster.
/// They are drained `together` at a time, in order (a rotation's batches,
/// each back in service before the next): a workload's outage is judged per
/// batch, while room is counted outside all of them.
pub(crate) async fn check(
    cluster: &Cluster,
    targets: &[LeanNode],
    all_nodes: &[LeanNode],
    opts: &DrainOptions,
    together: usize,
) -> Result<CheckReport> {
    let drained: HashSet<String> = targets.iter().map(|n| n.name().to_string()).collect();
    // The targets' pods, listed a few nodes at a time beside the budgets and
    // the cluster-wide view: a pool of hundreds of nodes is not read one
    // node after another.
    let pods_of_targets = futures::stream::iter(targets)
        .map(|node| pods_on_node(cluster, node.name(), opts.pod_selector.as_deref()))
        .buffered(NODES_AT_ONCE)
        .try_collect::<Vec<_>>();
    let (budgets, view, pods_by_target) =
        tokio::try_join!(pdbs(cluster), cluster_view(cluster), pods_of_targets)?;
    // Room counts only on nodes that could take at least one of the pods
    // to move: a tainted pool (GPUs, another team) is no room for them.
    let others: Vec<&LeanNode> = all_nodes
        .iter()
        .filter(|n| !drained.contains(n.name()) && !n.is_cordoned() && n.is_ready())
        .collect();
    let mut needed = Resources::default();
    let mut moved: Vec<&LeanPod> = Vec::new();
    let mut nodes = Vec::new();
    let together = together.max(1);
    let batches: Vec<HashSet<String>> = targets
        .chunks(together)
        .map(|batch| batch.iter().map(|n| n.name().to_string()).collect())
        .collect();
    // What each node's drain would do and meet, then the workloads behind
    // every outage, each looked up once however many nodes it spans.
    let missing = missing_daemonsets(cluster, pods_by_target.iter().flatten()).await?;
    let mut found = Vec::new();
    for (i, pods) in pods_by_target.iter().enumerate() {
        let plans = plan_pods(pods, opts, &missing, &budgets);
        let batch = &batches[i / together];
        let (blockers, outages) = blockers(pods, &plans, opts, &budgets, &view, batch);
        found.push((plans, blockers, outages));
    }
    let workloads = outage_workloads(cluster, found.iter().flat_map(|f| &f.2), opts).await?;
    for ((node, pods), (plans, mut blockers, outages)) in
        targets.iter().zip(&pods_by_target).zip(found)
    {
        let (outage_blockers, scale_up) = weigh_outages(outages, &workloads, opts);
        blockers.extend(outage_blockers);
        blockers.extend(never_deleted(pods, &plans, opts, node));
        for (p, plan) in pods.iter().zip(&plans) {
            if plan.action == Action::Evict || plan.action == Action::Delete {
                needed.add(p.requests());
                moved.push(p);
            }
        }
        let free = free_room(&others, &moved, &view);
        if let Some(b) = room_blocker(needed, free) {
            blockers.push(b);
        }
        blockers.sort_by_key(|b| b.kind);
        let go = blockers.is_empty();
        nodes.push(NodeCheck {
            node: node.name().to_string(),
            pool: node.pool().map(|(_, v)| v.to_string()),
            ready: node.is_ready(),
            cordoned: node.is_cordoned(),
            pods: plans,
            blockers,
            scale_up,
            go,
        });
    }
    Ok(CheckReport {
        go: nodes.iter().all(|n| n.go),
        nodes,
    })
}

/// The blockers of one node, drained at the same time as the nodes of
/// `batch` (itself among them): refusals, budgets, safe-to-evict; and the
/// outages, the workloads whose every ready replica goes, which
/// [`weigh_outages`] turns into blockers or replicas to add.
pub(crate) fn blockers(
    pods: &[LeanPod],
    plans: &[PodPlan],
    opts: &DrainOptions,
    budgets: &[LeanPdb],
    view: &ClusterView,
    batch: &HashSet<String>,
) -> (Vec<Blocker>, Vec<Outage>) {
    let mut out = Vec::new();
    let mut outages = Vec::new();
    for refusal in [Refusal::DaemonSet, Refusal::EmptyDir, Refusal::NoController] {
        let hit: Vec<&PodPlan> = plans
            .iter()
            .filter(|p| p.action == Action::Refuse && refusal_of(p) == Some(refusal))
            .collect();
        if hit.is_empty() {
            continue;
        }
        out.push(Blocker {
            kind: match refusal {
                Refusal::DaemonSet => BlockerKind::DaemonSet,
                Refusal::EmptyDir => BlockerKind::EmptyDir,
                Refusal::NoController => BlockerKind::NoController,
            },
            message: format!("{} pod(s) {}", hit.len(), hit[0].reason),
            pods: hit.iter().map(|p| p.key()).collect(),
            fix: format!("pass {}", refusal.flag()),
            pdb: None,
        });
    }

    let removed: Vec<(&LeanPod, &PodPlan)> = pods
        .iter()
        .zip(plans)
        .filter(|(_, p)| matches!(p.action, Action::Evict | Action::Delete))
        .collect();

    // Budgets: an eviction needs one allowed disruption per pod; deletion
    // (--disable-eviction) bypasses them, which the plan warns about instead.
    if !opts.disable_eviction {
        for b in budgets {
            let covered: Vec<String> = removed
                .iter()
                .filter(|(p, _)| !p.is_finished() && b.covers(p))
                .map(|(p, _)| p.key())
                .collect();
            if covered.is_empty() || b.status.disruptions_allowed >= covered.len() as i64 {
                continue;
            }
            let n = b.numbers();
            out.push(Blocker {
                kind: BlockerKind::Pdb,
                message: format!(
                    "{} blocks the eviction of {} pod(s) here",
                    n.describe(),
                    covered.len()
                ),
                pods: covered,
                fix: "wait for the budget's pods to be healthy elsewhere, scale the workload up (--scale-up), or relax the budget".into(),
                pdb: Some(n),
            });
        }
    }

    // Outages: every healthy replica of a controller is on the nodes drained
    // at once. A pod that is not ready serves nothing: moving it causes no
    // outage.
    let mut by_owner: BTreeMap<String, (String, String, Vec<String>)> = BTreeMap::new();
    for (p, plan) in &removed {
        if p.is_finished() || !p.is_ready() {
            continue;
        }
        let Some(c) = p.metadata.controller() else {
            continue;
        };
        if !matches!(
            c.kind.as_str(),
            "ReplicaSet" | "StatefulSet" | "ReplicationController"
        ) {
            continue;
        }
        by_owner
            .entry(c.uid.clone())
            .or_insert_with(|| {
                (
                    p.metadata.namespace.clone(),
                    plan.owner.clone().unwrap_or_default(),
                    Vec::new(),
                )
            })
            .2
            .push(plan.key());
    }
    for (uid, (namespace, owner, pods)) in by_owner {
        if view.healthy_outside(&uid, batch) > 0 {
            continue;
        }
        let replicas = view.total.get(&uid).copied().unwrap_or(pods.len() as u32);
        outages.push(Outage {
            namespace,
            owner,
            pods,
            replicas,
        });
    }

    let unsafe_pods: Vec<String> = removed
        .iter()
        .filter(|(p, _)| {
            p.metadata
                .annotations
                .get(SAFE_TO_EVICT)
                .map(String::as_str)
                == Some("false")
        })
        .map(|(p, _)| p.key())
        .collect();
    if !unsafe_pods.is_empty() {
        out.push(Blocker {
            kind: BlockerKind::SafeToEvict,
            message: format!(
                "{} pod(s) are marked `{SAFE_TO_EVICT}: \"false\"`",
                unsafe_pods.len()
            ),
            pods: unsafe_pods,
            fix: "ask the owner whether the pod may move, then remove the annotation".into(),
            pdb: None,
        });
    }
    (out, outages)
}

fn refusal_of(p: &PodPlan) -> Option<Refusal> {
    [Refusal::DaemonSet, Refusal::EmptyDir, Refusal::NoController]
        .into_iter()
        .find(|r| p.reason.contains(r.flag()))
}

/// The pods a drain would wait for forever: already Terminating, held by a
/// finalizer or on a node whose kubelet cannot confirm the deletion, when
/// `--skip-wait-for-delete-timeout` does not end the wait.
fn never_deleted(
    pods: &[LeanPod],
    plans: &[PodPlan],
    opts: &DrainOptions,
    node: &LeanNode,
) -> Option<Blocker> {
    if opts.skip_wait_for_delete_timeout > 0 {
        return None;
    }
    let now = chrono::Utc::now();
    // Pods already Terminating under a finalizer, and every pod a drain
    // would remove from a node whose kubelet is gone: once evicted, none of
    // them can be confirmed deleted.
    let stuck: Vec<(&LeanPod, String)> = pods
        .iter()
        .zip(plans)
        .filter(|(_, plan)| matches!(plan.action, Action::Evict | Action::Delete))
        .filter_map(|(p, _)| p.never_confirmed(node, now).map(|why| (p, why)))
        .collect();
    let (first, why) = stuck.first()?;
    let key = first.key();
    let (ns, name) = (&first.metadata.namespace, &first.metadata.name);
    let mut fix =
        "pass --skip-wait-for-delete-timeout 60 to stop waiting for pods deleted over a minute ago"
            .to_string();
    if !first.metadata.finalizers.is_empty() {
        fix.push_str(&format!(
            ", or, once the finalizer's controller is known to be gone, remove it (drop --dry-run=server to do it): `{}`",
            crate::suggest::kubectl(&format!(
                "-n {ns} patch pod {name} --type=merge -p '{{\"metadata\":{{\"finalizers\":null}}}}' --dry-run=server"
            ))
        ));
    }
    Some(Blocker {
        kind: BlockerKind::NeverDeleted,
        message: format!(
            "{} pod(s) cannot be confirmed deleted once evicted (`{key}`: {why}): a drain would wait for them forever",
            stuck.len()
        ),
        pods: stuck.iter().map(|(p, _)| p.key()).collect(),
        fix,
        pdb: None,
    })
}

/// The workload behind each outage's owner (`namespace`, `Kind/name`),
/// looked up once however many nodes it spans, a few at a time. Without
/// `--scale-up` only the wording of a fix depends on it, so one that cannot
/// be read (a ReplicationController, no right to get Deployments) is left
/// out rather than failing the check.
async fn outage_workloads<'a>(
    cluster: &Cluster,
    outages: impl Iterator<Item = &'a Outage>,
    opts: &DrainOptions,
) -> Result<HashMap<(String, String), scale::Scalable>> {
    let owners: BTreeSet<(&str, &str)> = outages
        .map(|o| (o.namespace.as_str(), o.owner.as_str()))
        .collect();
    let looked_up: Vec<_> = futures::stream::iter(owners)
        .map(|(namespace, owner)| async move {
            let got = scale::resolve_owner(cluster, namespace, owner).await;
            ((namespace.to_string(), owner.to_string()), got)
        })
        .buffered(NODES_AT_ONCE)
        .collect()
        .await;
    let mut workloads = HashMap::new();
    for (owner, got) in looked_up {
        match got {
            Ok(w) => {
                workloads.insert(owner, w);
            }
            Err(e) if opts.scale_up => return Err(e),
            Err(_) => {}
        }
    }
    Ok(workloads)
}

/// What each outage comes to: with `--scale-up`, a replica added elsewhere
/// first (the outages returned); otherwise a blocker whose fix suits the
/// workload. A StatefulSet, a config singleton or a `Recreate` Deployment
/// must not get a second copy, so their fix never sends the user to
/// `--scale-up`, and with it they stay blockers: the verdict does not count
/// on replicas that will not be added.
fn weigh_outages(
    outages: Vec<Outage>,
    workloads: &HashMap<(String, String), scale::Scalable>,
    opts: &DrainOptions,
) -> (Vec<Blocker>, Vec<Outage>) {
    let mut blockers = Vec::new();
    let mut scale_up = Vec::new();
    for outage in outages {
        let workload = workloads.get(&(outage.namespace.clone(), outage.owner.clone()));
        let refusal = workload.and_then(|w| {
            opts.scale_policy
                .refuses(&w.namespace, w.kind(), &w.name, w.recreate)
        });
        // `namespace/deployment/name` where it was read, else the pods' owner.
        let named = workload.map_or_else(|| outage.owner.clone(), scale::Scalable::target);
        let replicas = outage.replicas;
        let (message, fix) = match refusal {
            None if opts.scale_up => {
                scale_up.push(outage);
                continue;
            }
            None => (
                format!(
                    "every ready replica of `{named}` ({replicas} in all) is on the drained node(s): draining causes an outage"
                ),
                "pass --scale-up to add a replica elsewhere first".to_string(),
            ),
            Some(why) => {
                let (what, fix) = refused_scale_up(why, opts.scale_up);
                (
                    format!(
                        "every ready replica of `{named}` ({replicas} in all) is on the drained node(s), and it {what}"
                    ),
                    fix,
                )
            }
        };
        blockers.push(Blocker {
            kind: BlockerKind::Outage,
            message,
            pods: outage.pods,
            fix,
            pdb: None,
        });
    }
    (blockers, scale_up)
}

/// Why a workload whose replicas all go must not be scaled up, and what to
/// do instead, with `--scale-up` given or not.
fn refused_scale_up(why: ScaleRefusal, scale_up: bool) -> (&'static str, String) {
    const SAFE: &str =
        "; or list it under `scale_up_safe` in the config if a second copy is harmless";
    let message = match why {
        ScaleRefusal::StatefulSet if scale_up => {
            "is a StatefulSet: --scale-up would add a member to it (a clustered service such as RabbitMQ or etcd must not grow and shrink for a drain)"
        }
        ScaleRefusal::StatefulSet => "is a StatefulSet: draining causes an outage",
        ScaleRefusal::Singleton => {
            "is a singleton in the config (promote.singletons): draining causes a short outage, and --scale-up would run two copies at once"
        }
        ScaleRefusal::Recreate => {
            "is a Deployment with the Recreate strategy, which never runs two copies at once: draining causes a short outage, and --scale-up would run two"
        }
    };
    let fix = match (why, scale_up) {
        (ScaleRefusal::StatefulSet, true) => format!(
            "drain one node at a time (--concurrency 1) with a PodDisruptionBudget covering it, so its members move one by one{SAFE}"
        ),
        (ScaleRefusal::StatefulSet, false) => "move its members one at a time first: delete one of its pods, wait until it is Ready on another node, and repeat; or drain fewer nodes at once (--batch 1 for replace and rotate)".into(),
        (_, with) => format!(
            "{}accept the short outage while its one copy restarts elsewhere, as kill-deploy in promote does{SAFE}",
            if with { "drain without --scale-up and " } else { "" }
        ),
    };
    (message, fix)
}

/// Free resources on the nodes that accept at least one of `moved`.
fn free_room(others: &[&LeanNode], moved: &[&LeanPod], view: &ClusterView) -> Resources {
    let mut free = Resources::default();
    for n in others.iter().filter(|n| moved.iter().any(|p| n.accepts(p))) {
        let alloc = n.allocatable();
        let used = view.used.get(n.name()).copied().unwrap_or_default();
        free.add(Resources {
            pods: (alloc.pods - used.pods).max(0),
            cpu_milli: (alloc.cpu_milli - used.cpu_milli).max(0),
            memory: (alloc.memory - used.memory).max(0),
        });
    }
    free
}

/// A blocker when the pods to move need more than the other nodes have free.
pub(crate) fn room_blocker(needed: Resources, free: Resources) -> Option<Blocker> {
    let mut short = Vec::new();
    if needed.pods > free.pods {
        short.push(format!(
            "{} pod slot(s) needed, {} free",
            needed.pods, free.pods
        ));
    }
    if needed.cpu_milli > free.cpu_milli {
        short.push(format!(
            "{}m CPU requested, {}m free",
            needed.cpu_milli, free.cpu_milli
        ));
    }
    if needed.memory > free.memory {
        short.push(format!(
            "{} MiB memory requested, {} MiB free",
            needed.memory / 1048576,
            free.memory / 1048576
        ));
    }
    if short.is_empty() || needed.pods == 0 {
        return None;
    }
    Some(Blocker {
        kind: BlockerKind::NoRoom,
        message: format!(
            "not enough room on the remaining schedulable nodes: {}",
            short.join("; ")
        ),
        pods: Vec::new(),
        fix: "add nodes (scale the pool up) or uncordon nodes before draining".into(),
        pdb: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::targets;
    use crate::nodes::testing::TestCluster;

    /// The demo cluster, its pool-a nodes, and every node.
    async fn demo_pool_a() -> (TestCluster, Vec<LeanNode>, Vec<LeanNode>) {
        let t = TestCluster::start(oncall_sim::DEMO_SEED).await;
        let pool = t
            .nodes(&[
                "gke-demo-pool-a-8f3c2a1d-m4p9",
                "gke-demo-pool-a-8f3c2a1d-q2w8",
                "gke-demo-pool-a-8f3c2a1d-x7k2",
            ])
            .await;
        let all = targets::list(&t.cluster, None).await.unwrap();
        (t, pool, all)
    }

    /// The demo's RabbitMQ has one member on each node of pool-a. Drained
    /// one node at a time, each back before the next (a rotation's batches),
    /// the other two serve: no outage. Drained at once, all three go, and
    /// the fix is not --scale-up, which never grows a StatefulSet.
    #[tokio::test]
    async fn a_statefulset_spread_over_batches_is_no_outage_but_all_at_once_is() {
        let (t, pool, all) = demo_pool_a().await;
        let opts = DrainOptions {
            ignore_daemonsets: true,
            delete_emptydir_data: true,
            force: true,
            ..DrainOptions::default()
        };
        let rabbitmq_fixes = |report: &CheckReport| -> Vec<String> {
            report
                .nodes
                .iter()
                .flat_map(|n| &n.blockers)
                .filter(|b| b.kind == BlockerKind::Outage && b.message.contains("rabbitmq"))
                .map(|b| b.fix.clone())
                .collect()
        };

        let one_at_a_time = check(&t.cluster, &pool, &all, &opts, 1).await.unwrap();
        assert_eq!(rabbitmq_fixes(&one_at_a_time), Vec::<String>::new());

        let at_once = check(&t.cluster, &pool, &all, &opts, 3).await.unwrap();
        let fixes = rabbitmq_fixes(&at_once);
        assert_eq!(fixes.len(), 3, "{fixes:?}");
        assert!(
            fixes
                .iter()
                .all(|f| f.contains("one at a time") && !f.contains("--scale-up")),
            "{fixes:?}"
        );
    }

    /// A pool checked at once reads each DaemonSet and each workload behind
    /// an outage once, however many of its nodes they span, so a check of
    /// hundreds of nodes makes hundreds of requests, not thousands.
    #[tokio::test]
    async fn a_pool_check_reads_each_daemonset_and_workload_once() {
        let (t, pool, all) = demo_pool_a().await;
        let before = t.sim.request_count();
        let report = check(&t.cluster, &pool, &all, &DrainOptions::default(), 3)
            .await
            .unwrap();
        let requests = t.sim.request_count() - before;
        let outages: BTreeSet<&str> = report
            .nodes
            .iter()
            .flat_map(|n| &n.blockers)
            .filter(|b| b.kind == BlockerKind::Outage)
            .map(|b| b.message.as_str())
            .collect();
        // RabbitMQ's members span all three nodes, node-exporter has a pod
        // on each, and two crons and the notifier are one copy each.
        assert_eq!(outages.len(), 4, "{outages:#?}");
        // The budgets, the cluster's pods, each node's pods; node-exporter;
        // the StatefulSet; each one-copy Deployment and its ReplicaSet.
        assert_eq!(requests, 1 + 1 + 3 + 1 + 1 + 3 * 2);
    }

    #[test]
    fn room_counts_pods_cpu_and_memory() {
        let free = Resources {
            pods: 10,
            cpu_milli: 1000,
            memory: 1 << 30,
        };
        let fits = Resources {
            pods: 3,
            cpu_milli: 500,
            memory: 1 << 20,
        };
        assert!(room_blocker(fits, free).is_none());
        let too_much = Resources {
            pods: 3,
            cpu_milli: 1500,
            memory: 1 << 20,
        };
        let b = room_blocker(too_much, free).unwrap();
        assert!(b.message.contains("1500m CPU requested, 1000m free"));
    }
}
