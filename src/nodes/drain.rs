//! `node drain`: cordon, then evict (or delete) the node's pods in parallel,
//! retrying PodDisruptionBudget refusals with backoff, awaiting each
//! deletion with a watch on the pod's UID, all within an exact deadline.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::Eviction;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event as WatchEvent};
use serde::Serialize;

use super::check::{LeanPdb, PdbNumbers, missing_daemonsets, pods_on_node};
use super::cordon;
use super::decide::{Action, DrainOptions, decide};
use super::lean::{LeanNode, LeanPod, never_confirmed};
use super::plan;
use super::scale::Scalable;
use crate::cluster::list::{ListQuery, collect};
use crate::cluster::retry::{backoff, is_conflict, is_pdb_refusal, is_transient, retry};
use crate::cluster::{Cluster, api_error, is_not_found};
use crate::error::{Error, Result};
use crate::safety::{Audited, OpCtx, Plan, audit};

/// Eviction requests in flight per node. kubectl starts one goroutine per
/// pod; a bound keeps a burst of 110 POSTs off the API server.
pub(crate) const EVICTION_PARALLELISM: usize = 32;

/// What happened to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NodeStatus {
    Drained,
    Failed,
    TimedOut,
    Interrupted,
}

/// The result of draining one node.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NodeDrain {
    pub node: String,
    pub status: NodeStatus,
    /// Whether the node is left cordoned (always, once the drain started).
    pub cordoned: bool,
    /// Why it failed, if it did.
    pub message: Option<String>,
    /// The API server refused our credentials or permission (the error).
    #[serde(skip)]
    pub refused: Option<String>,
    pub pods: Vec<PodResult>,
    /// Seconds the drain took.
    pub seconds: f64,
}

impl NodeDrain {
    pub(crate) fn count(&self, outcome: PodOutcome) -> usize {
        self.pods.iter().filter(|p| p.outcome == outcome).count()
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PodResult {
    /// `namespace/name`.
    pub pod: String,
    pub outcome: PodOutcome,
    pub reason: String,
    /// The error to end the drain with when the API server refused our
    /// credentials (401) or permission (403) for this pod.
    #[serde(skip)]
    pub refused: Option<String>,
    /// `Evicted` or `Deleted` once the API server accepted that request: the
    /// pod is on its way out even if the drain stopped before it was gone.
    #[serde(skip)]
    pub accepted: Option<PodOutcome>,
}

impl PodResult {
    fn new(pod: &str, outcome: PodOutcome, reason: impl Into<String>) -> Self {
        PodResult {
            pod: pod.to_string(),
            outcome,
            reason: reason.into(),
            refused: None,
            accepted: matches!(outcome, PodOutcome::Evicted | PodOutcome::Deleted)
                .then_some(outcome),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PodOutcome {
    Evicted,
    Deleted,
    Skipped,
    /// Still on the node when the drain stopped.
    Pending,
    Failed,
}

/// Progress the command can show while a drain runs.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// The node's pods are listed: `total` will be removed.
    Started { node: String, total: u64 },
    /// More pods turned up on the node after it was cordoned (see
    /// [`MAX_LOOKS`]): `count` more will be removed.
    Arrived { node: String, count: u64 },
    /// A pod is gone.
    PodDone { node: String },
    /// An eviction was refused by a budget and will be retried.
    Blocked {
        node: String,
        pod: String,
        message: String,
    },
    /// `replace`/`rotate`: a new node took the drained node's place.
    Replaced { node: String, by: String },
    /// `replace`/`rotate`: the drain is done and a longer wait begins, for
    /// `what` (a replacement node, a workload's readiness).
    Waiting { what: String },
}

/// How many times a drain looks at its node's pods. A pod can still land
/// on the node after the cordon: a scheduler that has not yet seen it binds
/// a pod it had chosen the node for (under load, seconds later). So once
/// every pod found is gone, the node is looked at again and pods that
/// arrived meanwhile are removed too, and the drain says done only when
/// none did (kubectl drain looks once).
const MAX_LOOKS: u32 = 3;

/// What a drain is recorded as doing, in the cordon note it leaves.
const WHY: &str = "drain";

/// One drain, resolved and planned: what `run` does.
#[derive(Debug, Clone)]
pub(crate) struct DrainJob {
    pub nodes: Vec<LeanNode>,
    pub opts: DrainOptions,
    /// Nodes drained at once.
    pub concurrency: usize,
    /// Pods the drain will not remove without a flag (`` `ns/pod` why ``);
    /// as in kubectl, any of them stops the whole drain before it starts.
    pub refused: Vec<String>,
    /// Workloads given one more replica first (`--scale-up`).
    pub scale: Vec<Scalable>,
}

impl DrainJob {
    /// The error that stops the drain before it changes anything, if any.
    pub(crate) fn refusal(&self) -> Option<Error> {
        (!self.refused.is_empty()).then(|| plan::refusal_error(&self.refused))
    }

    /// The outcome of a drain with nothing to do: every node already
    /// cordoned and empty (another drain may just have emptied it).
    pub(crate) fn already_drained(&self) -> DrainOutcome {
        let nodes = self
            .nodes
            .iter()
            .map(|n| NodeDrain {
                node: n.metadata.name.clone(),
                status: NodeStatus::Drained,
                cordoned: true,
                message: None,
                refused: None,
                pods: Vec::new(),
                seconds: 0.0,
            })
            .collect();
        DrainOutcome {
            nodes,
            result: Ok(()),
        }
    }
}

/// Checks the nodes against the whole cluster and plans their drain: each
/// pod evicted, deleted or skipped, each scale-up, each warning.
pub(crate) async fn prepare(
    cluster: &Cluster,
    nodes: Vec<LeanNode>,
    opts: DrainOptions,
    concurrency: usize,
) -> Result<(DrainJob, Plan)> {
    let report = plan::run_check(cluster, &nodes, &opts, nodes.len()).await?;
    let mut plan = Plan::new(format!("drain {} node(s)", nodes.len()), cluster);
    let refused = plan::plan_drain(&mut plan, &report, &opts);
    // Scale-ups are planned only for a drain that can go ahead and has
    // something to do.
    let scale = if refused.is_empty() && !plan.changes.is_empty() {
        plan::plan_scale_ups(cluster, &report, &mut plan).await?
    } else {
        Vec::new()
    };
    let job = DrainJob {
        nodes,
        opts,
        concurrency: concurrency.max(1),
        refused,
        scale,
    };
    Ok((job, plan))
}

/// How a drain ended.
#[derive(Debug)]
pub(crate) struct DrainOutcome {
    /// Each node's drain, in order; empty when the drain could not start.
    pub nodes: Vec<NodeDrain>,
    /// Why the drain could not start (a cordon or a scale-up failed), or
    /// why the scaled-up workloads could not be restored afterwards. Nodes
    /// that did not drain are in `nodes`, not here.
    pub result: Result<()>,
}

impl DrainOutcome {
    /// The nodes whose drain did not finish.
    pub(crate) fn failed(&self) -> Vec<&NodeDrain> {
        plan::failed(&self.nodes)
    }

    /// The error the drain ends with: its own, else the first node that did
    /// not drain (saying which nodes stay cordoned), else none.
    pub(crate) fn into_result(self) -> Result<()> {
        let failed = plan::failed(&self.nodes);
        match self.result {
            Err(e) => Err(e),
            Ok(()) => plan::drain_error(&failed),
        }
    }
}

/// The audit log's outcome: the status of the first node that did not
/// drain, each node drained and each pod removed from a node that did not
/// finish (changes someone may have to answer for).
impl Audited for DrainOutcome {
    fn audit(&self) -> audit::Outcome {
        let failed = self.failed();
        let mut outcome = match (&self.result, failed.first()) {
            (_, Some(f)) => audit::Outcome::new(
                match f.status {
                    NodeStatus::TimedOut => audit::Status::TimedOut,
                    NodeStatus::Interrupted => audit::Status::Interrupted,
                    _ => audit::Status::Failed,
                },
                f.message.clone().unwrap_or_default(),
            ),
            (Err(e), None) => audit::Outcome::from_error(e),
            (Ok(()), None) => audit::Outcome::ok(format!("drained {} node(s)", self.nodes.len())),
        };
        outcome.done = drained_and_evicted(&self.nodes);
        outcome.not_done = failed.iter().map(|r| r.node.clone()).collect();
        outcome
    }
}

/// Runs a planned drain: cordon, then (with `--scale-up`) the extra
/// replicas, then every node's drain, then the replica counts put back,
/// whatever happened. Never call it on a job with refusals.
pub(crate) async fn run(cluster: &Cluster, job: &DrainJob, ctx: &OpCtx<'_, Event>) -> DrainOutcome {
    let not_started = |e: Error| DrainOutcome {
        nodes: Vec::new(),
        result: Err(e),
    };
    let mut scale = job.scale.clone();
    let nodes = if scale.is_empty() {
        job.nodes.clone()
    } else {
        // Cordon everything first, so the added replicas land elsewhere.
        let cordoned = match plan::cordon_all(cluster, &job.nodes, ctx.user, WHY).await {
            Ok(c) => c,
            Err(e) => return not_started(e),
        };
        if let Err(e) = plan::scale_up(cluster, &mut scale, &job.opts).await {
            let restored = plan::restore(cluster, &scale).await;
            return not_started(restored.err().unwrap_or(e));
        }
        cordoned
    };
    let drains = drain_all(cluster, &nodes, &job.opts, job.concurrency, WHY, ctx).await;
    DrainOutcome {
        nodes: drains,
        result: plan::restore(cluster, &scale).await,
    }
}

/// What a drain did, for the audit log: each node drained, and on a node
/// whose drain did not finish, each pod that was evicted or deleted.
fn drained_and_evicted(results: &[NodeDrain]) -> Vec<String> {
    let mut done = Vec::new();
    for r in results {
        if r.status == NodeStatus::Drained {
            done.push(format!("node/{}", r.node));
            continue;
        }
        for p in &r.pods {
            let verb = match p.accepted {
                Some(PodOutcome::Evicted) => "evicted",
                Some(PodOutcome::Deleted) => "deleted",
                _ => continue,
            };
            let gone = matches!(p.outcome, PodOutcome::Evicted | PodOutcome::Deleted);
            let still = if gone { "" } else { " (still terminating)" };
            done.push(format!("pod/{} {verb} from node/{}{still}", p.pod, r.node));
        }
    }
    done
}

/// Drains `nodes`, `concurrency` at a time, reporting progress to the
/// context's observer. `why` is recorded in the cordon note.
pub(crate) async fn drain_all(
    cluster: &Cluster,
    nodes: &[LeanNode],
    opts: &DrainOptions,
    concurrency: usize,
    why: &str,
    ctx: &OpCtx<'_, Event>,
) -> Vec<NodeDrain> {
    futures::stream::iter(nodes.iter())
        .map(|n| drain_node(cluster, n, opts, why, ctx))
        .buffered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
}

/// Drains one node. Never returns an error: failures are part of the
/// result, so that a multi-node drain can report every node.
pub(crate) async fn drain_node(
    cluster: &Cluster,
    node: &LeanNode,
    opts: &DrainOptions,
    why: &str,
    ctx: &OpCtx<'_, Event>,
) -> NodeDrain {
    let started = std::time::Instant::now();
    let name = node.name().to_string();
    let mut result = NodeDrain {
        node: name.clone(),
        status: NodeStatus::Drained,
        cordoned: node.is_cordoned(),
        message: None,
        refused: None,
        pods: Vec::new(),
        seconds: 0.0,
    };
    if !node.is_cordoned()
        && let Err(e) = cordon::cordon(cluster, &name, ctx.user, Some(why)).await
    {
        // Refused credentials or permission end the whole command (exit 4).
        if matches!(
            e,
            crate::error::Error::Unauthorized { .. } | crate::error::Error::Forbidden { .. }
        ) {
            result.refused = Some(e.to_string());
        }
        result.status = NodeStatus::Failed;
        result.message = Some(e.to_string());
        return result;
    }
    result.cordoned = true;

    let state: Arc<Mutex<BTreeMap<String, PodResult>>> = Arc::default();
    let run = async {
        for look in 1..=MAX_LOOKS {
            let removed = run_removals(cluster, node, opts, ctx, state.clone(), look).await?;
            if removed == 0 {
                break;
            }
        }
        Ok(())
    };
    let limited = async {
        if opts.timeout.is_zero() {
            Ok(run.await)
        } else {
            tokio::time::timeout(opts.timeout, run).await
        }
    };
    let outcome = tokio::select! {
        r = limited => match r {
            Ok(Ok(())) => None,
            Ok(Err(message)) => Some((NodeStatus::Failed, message)),
            Err(_) => Some((
                NodeStatus::TimedOut,
                format!("timed out after {}", humantime::format_duration(opts.timeout)),
            )),
        },
        _ = ctx.cancel.cancelled() => Some((NodeStatus::Interrupted, "interrupted".to_string())),
    };
    result.pods = state
        .lock()
        .expect("state lock")
        .values()
        .cloned()
        .collect();
    if let Some((status, message)) = outcome {
        result.status = status;
        result.message = Some(message);
    }
    if result.status == NodeStatus::Drained
        && let Some(p) = result.pods.iter().find(|p| p.outcome == PodOutcome::Failed)
    {
        result.status = NodeStatus::Failed;
        result.message = Some(format!("`{}` could not be removed: {}", p.pod, p.reason));
        result.refused = p.refused.clone();
    }
    result.seconds = started.elapsed().as_secs_f64();
    result
}

async fn run_removals(
    cluster: &Cluster,
    lean_node: &LeanNode,
    opts: &DrainOptions,
    ctx: &OpCtx<'_, Event>,
    state: Arc<Mutex<BTreeMap<String, PodResult>>>,
    look: u32,
) -> std::result::Result<usize, String> {
    let node = lean_node.name();
    let mut pods = pods_on_node(cluster, node, opts.pod_selector.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    // A later look deals only with pods that arrived since the last one: a
    // pod left terminating by --skip-wait-for-delete-timeout is not new.
    {
        let known = state.lock().expect("state lock");
        pods.retain(|p| !known.contains_key(&p.key()));
    }
    if look > 1 && pods.is_empty() {
        return Ok(0);
    }
    let missing = missing_daemonsets(cluster, &pods)
        .await
        .map_err(|e| e.to_string())?;
    let now = Utc::now();
    let mut to_remove = Vec::new();
    let mut refused = Vec::new();
    {
        let mut st = state.lock().expect("state lock");
        for p in pods {
            let d = decide(&p, opts, &missing, now);
            let key = p.key();
            match d.action {
                Action::Skip => {
                    st.insert(
                        key.clone(),
                        PodResult::new(&key, PodOutcome::Skipped, d.reason),
                    );
                }
                Action::Refuse => refused.push(format!("`{key}` {}", d.reason)),
                Action::Evict | Action::Delete => {
                    st.insert(
                        key.clone(),
                        PodResult::new(&key, PodOutcome::Pending, "not started"),
                    );
                    to_remove.push(p);
                }
            }
        }
    }
    if !refused.is_empty() {
        // As kubectl: nothing is evicted while any pod is refused.
        let mut st = state.lock().expect("state lock");
        for p in &to_remove {
            st.remove(&p.key());
        }
        return Err(format!("cannot drain: {}", refused.join("; ")));
    }
    ctx.emit(if look == 1 {
        Event::Started {
            node: node.to_string(),
            total: to_remove.len() as u64,
        }
    } else {
        Event::Arrived {
            node: node.to_string(),
            count: to_remove.len() as u64,
        }
    });
    let removing = to_remove.len();
    // Only the eviction requests are bounded; every pod's wait for deletion
    // runs at once, so the drain ends when the slowest pod is gone rather
    // than after waves of waits.
    let requests = tokio::sync::Semaphore::new(EVICTION_PARALLELISM);
    let removals = &Removals {
        cluster,
        node: lean_node,
        opts,
        ctx,
        state: &state,
        requests: &requests,
    };
    let pods = to_remove.len().max(1);
    futures::stream::iter(to_remove)
        .map(|pod| async move {
            let result = removals.remove_pod(&pod).await;
            if matches!(result.outcome, PodOutcome::Evicted | PodOutcome::Deleted) {
                ctx.emit(Event::PodDone {
                    node: node.to_string(),
                });
            }
            removals
                .state
                .lock()
                .expect("state lock")
                .insert(result.pod.clone(), result);
        })
        .buffer_unordered(pods)
        .collect::<Vec<()>>()
        .await;
    Ok(removing)
}

fn set_pending(state: &Mutex<BTreeMap<String, PodResult>>, key: &str, reason: &str) {
    if let Some(r) = state.lock().expect("state lock").get_mut(key) {
        r.reason = reason.to_string();
    }
}

/// What the removals of one node's pods share: the drain's settings, where
/// progress goes, each pod's result so far, and the bound on requests in
/// flight.
struct Removals<'a> {
    cluster: &'a Cluster,
    node: &'a LeanNode,
    opts: &'a DrainOptions,
    ctx: &'a OpCtx<'a, Event>,
    state: &'a Mutex<BTreeMap<String, PodResult>>,
    requests: &'a tokio::sync::Semaphore,
}

impl Removals<'_> {
    /// `--grace-period`, when given (a negative value means the pod's own).
    fn grace(&self) -> Option<i64> {
        (self.opts.grace_period >= 0).then_some(self.opts.grace_period)
    }

    /// Evicts (or deletes) one pod, then waits until it is gone.
    async fn remove_pod(&self, pod: &LeanPod) -> PodResult {
        let Removals {
            cluster,
            node: lean_node,
            opts,
            state,
            ..
        } = *self;
        let key = pod.key();
        let done = if opts.disable_eviction {
            PodOutcome::Deleted
        } else {
            PodOutcome::Evicted
        };
        let sent = match self.send_removal(pod).await {
            Ok(sent) => sent,
            Err(result) => return result,
        };
        let grace = self
            .grace()
            .or(pod.spec.termination_grace_period_seconds)
            .unwrap_or(30);
        if let Some(r) = state.lock().expect("state lock").get_mut(&key) {
            r.accepted = Some(done);
        }
        // The reason shown while waiting says whether the wait can ever end:
        // a finalizer or a gone kubelet is not a grace period.
        let waiting = |finalizers: &[String], deleted_at: Option<DateTime<Utc>>| {
            let reason = match never_confirmed(finalizers, deleted_at, lean_node, Utc::now()) {
                Some(why) => format!("cannot be confirmed deleted: {why}"),
                None => format!("terminating (grace period {grace}s)"),
            };
            set_pending(state, &key, &reason);
        };
        waiting(&pod.metadata.finalizers, Some(Utc::now()));
        match wait_deleted(cluster, pod, opts.skip_wait_for_delete_timeout, &waiting).await {
            Ok(true) if sent == Sent::ByOthers => {
                PodResult::new(&key, PodOutcome::Skipped, REMOVED_BY_OTHERS)
            }
            Ok(true) => PodResult::new(&key, done, ""),
            Ok(false) => {
                let mut skipped = PodResult::new(
                    &key,
                    PodOutcome::Skipped,
                    "still terminating after --skip-wait-for-delete-timeout; stopped waiting",
                );
                skipped.accepted = Some(done);
                skipped
            }
            Err(e) => PodResult::new(&key, PodOutcome::Failed, e),
        }
    }
}

/// Who removes a pod: this run, or someone else (another drain) who began
/// first. A drain reports only its own evictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Ours,
    ByOthers,
}

const REMOVED_BY_OTHERS: &str = "removed by someone else (another drain?) while this one ran";

/// Conflicts answered by sending again at once, before backing off.
const IMMEDIATE_CONFLICT_RETRIES: u32 = 3;

impl Removals<'_> {
    /// Sends the eviction (or deletion) of one pod until the API server
    /// takes it, retrying budget refusals and transient failures. The
    /// eviction names the version listed: a 409 then means the pod changed,
    /// and a re-read tells whether someone else began removing it (then it
    /// is not ours).
    async fn send_removal(&self, pod: &LeanPod) -> std::result::Result<Sent, PodResult> {
        let Removals {
            cluster,
            opts,
            ctx,
            state,
            requests,
            ..
        } = *self;
        let node = self.node.name();
        let key = pod.key();
        let (ns, name) = (&pod.metadata.namespace, &pod.metadata.name);
        let grace = self.grace();
        if pod.metadata.deletion_timestamp.is_some() {
            return Ok(Sent::ByOthers);
        }
        let mut version = Some(pod.metadata.resource_version.clone()).filter(|v| !v.is_empty());
        // After an answer lost on the way, our own request may have been taken:
        // a pod found terminating then is ours.
        let mut maybe_taken = false;
        let mut attempt = 0u32;
        let mut conflicts = 0u32;
        let mut last_block = String::new();
        loop {
            let permit = requests
                .acquire()
                .await
                .expect("the semaphore is never closed");
            let sent = if opts.disable_eviction {
                delete(cluster, pod, grace).await
            } else {
                evict(cluster, ns, name, grace, version.as_deref()).await
            };
            drop(permit);
            match sent {
                Ok(()) => return Ok(Sent::Ours),
                Err(e) if is_not_found(&e) && maybe_taken => return Ok(Sent::Ours),
                Err(e) if is_not_found(&e) => {
                    return Err(PodResult::new(&key, PodOutcome::Skipped, REMOVED_BY_OTHERS));
                }
                Err(kube::Error::Api(status)) if is_pdb_refusal(&status) => {
                    let message = pdb_message(cluster, pod, &status).await;
                    set_pending(state, &key, &message);
                    if message != last_block {
                        ctx.emit(Event::Blocked {
                            node: node.to_string(),
                            pod: key.clone(),
                            message: message.clone(),
                        });
                        last_block = message;
                    }
                    // Budgets free up as pods become ready elsewhere: retry
                    // quickly at first, then every few seconds (kubectl: 5 s).
                    tokio::time::sleep(pdb_backoff(attempt)).await;
                    attempt += 1;
                }
                // A 409 from `pods/eviction`: the pod changed since it was
                // listed, or the budget's status changed under the server's own
                // retries. Read the pod again, and send again if it is still up.
                Err(e) if !opts.disable_eviction && is_conflict(&e) => {
                    // Any wait comes before the read, never between the read and
                    // the next send: a pod that changes every few hundred
                    // milliseconds (a crash loop) would change again during it.
                    // The first conflicts get no wait at all; later ones back
                    // off, so a server that keeps answering 409 is not hammered.
                    conflicts += 1;
                    if conflicts > IMMEDIATE_CONFLICT_RETRIES {
                        tokio::time::sleep(backoff(attempt.min(4))).await;
                        attempt += 1;
                    }
                    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
                    match retry(|| api.get_opt(name)).await {
                        Ok(Some(p)) if p.metadata.deletion_timestamp.is_some() => {
                            return Ok(if maybe_taken {
                                Sent::Ours
                            } else {
                                Sent::ByOthers
                            });
                        }
                        Ok(Some(p))
                            if p.metadata.uid.as_deref() == Some(pod.metadata.uid.as_str()) =>
                        {
                            version = p.metadata.resource_version;
                        }
                        Ok(_) if maybe_taken => return Ok(Sent::Ours),
                        Ok(_) => {
                            return Err(PodResult::new(
                                &key,
                                PodOutcome::Skipped,
                                REMOVED_BY_OTHERS,
                            ));
                        }
                        Err(e) => return Err(not_removed(cluster, &key, "get pods", e)),
                    }
                }
                Err(e) if is_transient(&e) => {
                    // 429 and 503 are refusals before any work; anything else
                    // may have been acted on.
                    let refused =
                        crate::cluster::status_of(&e).is_some_and(|s| matches!(s.code, 429 | 503));
                    maybe_taken |= !refused;
                    tokio::time::sleep(backoff(attempt.min(4))).await;
                    attempt += 1;
                }
                Err(e) => {
                    let doing = if opts.disable_eviction {
                        "delete pods"
                    } else {
                        "evict pods"
                    };
                    return Err(not_removed(cluster, &key, doing, e));
                }
            }
        }
    }
}

/// A pod the API server would not let us remove: its own sentence as the
/// reason and, for refused credentials or permission, the error to end with.
fn not_removed(cluster: &Cluster, key: &str, doing: &str, e: kube::Error) -> PodResult {
    let (reason, refused) = match crate::cluster::status_of(&e) {
        Some(status) => (status.message.clone(), matches!(status.code, 401 | 403)),
        None => (e.to_string(), false),
    };
    let mut result = PodResult::new(key, PodOutcome::Failed, reason);
    if refused {
        result.refused = Some(api_error(e, &cluster.url, doing).to_string());
    }
    result
}

/// 250 ms doubling to 4 s: a budget that frees up is noticed quickly, and a
/// budget that stays shut costs one request every few seconds.
pub(crate) fn pdb_backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(4)).min(Duration::from_secs(4))
}

async fn evict(
    cluster: &Cluster,
    ns: &str,
    name: &str,
    grace: Option<i64>,
    version: Option<&str>,
) -> std::result::Result<(), kube::Error> {
    // Sent without kube's retry layer: a budget's 429 must be seen at once.
    let api: Api<Pod> = Api::namespaced(cluster.client_no_retry.clone(), ns);
    let eviction = Eviction {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(ns.to_string()),
            ..Default::default()
        },
        delete_options: Some(meta::DeleteOptions {
            grace_period_seconds: grace,
            preconditions: version.map(|v| meta::Preconditions {
                resource_version: Some(v.to_string()),
                uid: None,
            }),
            ..Default::default()
        }),
    };
    api.create_subresource::<_, serde_json::Value>(
        "eviction",
        name,
        &PostParams::default(),
        &eviction,
    )
    .await
    .map(|_| ())
}

async fn delete(
    cluster: &Cluster,
    pod: &LeanPod,
    grace: Option<i64>,
) -> std::result::Result<(), kube::Error> {
    let api: Api<Pod> = Api::namespaced(cluster.client_no_retry.clone(), &pod.metadata.namespace);
    let mut params = DeleteParams::default();
    if let Some(g) = grace {
        params = params.grace_period(g.max(0) as u32);
    }
    // Only this pod: a recreated pod of the same name must not be deleted.
    params.preconditions = Some(kube::api::Preconditions {
        uid: Some(pod.metadata.uid.clone()),
        resource_version: None,
    });
    match api.delete(&pod.metadata.name, &params).await {
        Ok(_) => Ok(()),
        // A failed UID precondition means the pod we meant is gone.
        Err(kube::Error::Api(s)) if s.code == 409 => Err(kube::Error::Api(
            kube::core::Status::failure("gone", "NotFound")
                .with_code(404)
                .boxed(),
        )),
        Err(e) => Err(e),
    }
}

/// The budget that refused an eviction, with its current numbers.
async fn pdb_message(cluster: &Cluster, pod: &LeanPod, status: &kube::core::Status) -> String {
    let ns = &pod.metadata.namespace;
    let query = ListQuery::new(format!(
        "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets"
    ));
    let budgets: Vec<PdbNumbers> = retry(|| collect::<LeanPdb>(&cluster.client, &query))
        .await
        .map(|(items, _)| items)
        .unwrap_or_default()
        .iter()
        .filter(|b| b.covers(pod))
        .map(LeanPdb::numbers)
        .collect();
    let cause = status
        .details
        .as_ref()
        .and_then(|d| d.causes.iter().find(|c| c.reason == "DisruptionBudget"))
        .map(|c| c.message.clone());
    match (budgets.first(), cause) {
        (Some(b), _) => format!("blocked by {}", b.describe()),
        (None, Some(c)) => format!("blocked by a PodDisruptionBudget: {c}"),
        (None, None) => format!("blocked by a PodDisruptionBudget: {}", status.message),
    }
}

/// Waits, by watching the pod, until the pod with this UID is gone.
/// Returns `false` when it stopped waiting because of `skip_wait` seconds.
/// Told a pod's finalizers and deletion time each time the pod changes
/// while its deletion is awaited.
type WaitingReason<'a> = dyn Fn(&[String], Option<DateTime<Utc>>) + 'a;

async fn wait_deleted(
    cluster: &Cluster,
    pod: &LeanPod,
    skip_wait: u64,
    waiting: &WaitingReason<'_>,
) -> std::result::Result<bool, String> {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &pod.metadata.namespace);
    let uid = pod.metadata.uid.clone();
    let config = watcher::Config::default().fields(&format!("metadata.name={}", pod.metadata.name));
    let stream = watcher::watcher(api, config).default_backoff();
    futures::pin_mut!(stream);
    let mut seen_in_init = false;
    // With --skip-wait-for-delete-timeout, the wait ends that long after the
    // pod's deletion began, even if no further event ever comes (a pod on a
    // dead node changes no more).
    let mut give_up_at: Option<tokio::time::Instant> = None;
    let mine = |p: &Pod| p.metadata.uid.as_deref() == Some(uid.as_str());
    loop {
        let next = async {
            match give_up_at {
                Some(at) => tokio::time::timeout_at(at, stream.try_next()).await.ok(),
                None => Some(stream.try_next().await),
            }
        };
        let event = match next.await {
            None => return Ok(false),
            Some(Ok(Some(e))) => e,
            Some(Ok(None)) => return Err("the watch ended".into()),
            // default_backoff retries; an error here is worth another try.
            Some(Err(_)) => continue,
        };
        let seen = match event {
            WatchEvent::Init => {
                seen_in_init = false;
                None
            }
            WatchEvent::InitApply(p) if mine(&p) => {
                seen_in_init = true;
                Some(p)
            }
            WatchEvent::InitDone if !seen_in_init => return Ok(true),
            WatchEvent::Apply(p) if mine(&p) => Some(p),
            // Same name, new UID: ours is gone.
            WatchEvent::Apply(_) => return Ok(true),
            WatchEvent::Delete(p) if mine(&p) => return Ok(true),
            _ => None,
        };
        let Some(p) = seen else { continue };
        let deleted_at = p
            .metadata
            .deletion_timestamp
            .as_ref()
            .and_then(|t| t.0.to_string().parse::<DateTime<Utc>>().ok());
        let finalizers = p.metadata.finalizers.clone().unwrap_or_default();
        waiting(&finalizers, deleted_at);
        if skip_wait > 0
            && let Some(at) = deleted_at
        {
            let left = (at + chrono::Duration::seconds(skip_wait as i64) - Utc::now())
                .to_std()
                .unwrap_or_default();
            give_up_at = Some(tokio::time::Instant::now() + left);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::testing::{Recorder, TestCluster, deployment, node, tight_budget};
    use crate::safety::Cancel;

    /// An event as a line, for comparing sequences.
    fn line(e: &Event) -> String {
        match e {
            Event::Started { node, total } => format!("started {node} {total}"),
            Event::Arrived { node, count } => format!("{count} more on {node}"),
            Event::PodDone { node, .. } => format!("pod gone from {node}"),
            Event::Blocked { node, pod, .. } => format!("blocked {node} {pod}"),
            Event::Replaced { node, by } => format!("replaced {node} by {by}"),
            Event::Waiting { what } => format!("waiting for {what}"),
        }
    }

    /// The drain of node `n1` with kubectl's default flags, as planned.
    async fn prepare_n1(t: &TestCluster) -> (DrainJob, Plan) {
        let nodes = t.nodes(&["n1"]).await;
        prepare(&t.cluster, nodes, DrainOptions::default(), 1)
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_drain_cordons_evicts_and_reports_each_pod_to_the_observer() {
        let t = TestCluster::start(&(node("n1") + &node("n2") + &deployment("web", 2, "n1"))).await;
        let (job, plan) = prepare_n1(&t).await;
        assert!(job.refusal().is_none());
        let evictions = plan.changes.iter().filter(|c| c.action == "evict").count();
        assert_eq!(evictions, 2, "the plan names both pods");
        let seen = Recorder::default();
        let observer = |e: Event| seen.record(line(&e));
        let outcome = run(
            &t.cluster,
            &job,
            &OpCtx::new("alice", Cancel::manual(), &observer),
        )
        .await;
        assert!(outcome.result.is_ok());
        assert_eq!(outcome.nodes[0].status, NodeStatus::Drained);
        assert_eq!(outcome.nodes[0].count(PodOutcome::Evicted), 2);
        assert_eq!(
            seen.events(),
            vec!["started n1 2", "pod gone from n1", "pod gone from n1"]
        );
        assert!(t.is_cordoned("n1"));
        let n1 = t.sim.get("nodes", None, "n1").unwrap();
        assert_eq!(n1["metadata"]["annotations"][cordon::CORDONED_BY], "alice");
        let record = outcome.audit();
        assert_eq!(
            (record.status, record.done),
            (audit::Status::Ok, vec!["node/n1".to_string()])
        );
    }

    /// A pod bound to the node after the drain listed its pods (as by a
    /// scheduler that had not seen the cordon yet) is removed too: the
    /// drain ends with the node empty, not with the first list done.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pod_that_lands_after_the_cordon_is_drained_too() {
        let t = TestCluster::start(&(node("n1") + &node("n2") + &deployment("web", 1, "n1"))).await;
        let nodes = t.nodes(&["n1"]).await;
        let opts = DrainOptions {
            force: true,
            ..DrainOptions::default()
        };
        let (job, _) = prepare(&t.cluster, nodes, opts, 1).await.unwrap();
        let seen = Recorder::default();
        let late = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "late", "namespace": "app"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]},
        });
        let observer = |e: Event| {
            if matches!(e, Event::Started { .. }) {
                t.sim.apply(late.clone()).expect("the late pod is bound");
            }
            seen.record(line(&e));
        };
        let outcome = run(
            &t.cluster,
            &job,
            &OpCtx::new("alice", Cancel::manual(), &observer),
        )
        .await;
        assert_eq!(outcome.nodes[0].status, NodeStatus::Drained);
        assert_eq!(outcome.nodes[0].count(PodOutcome::Evicted), 2);
        assert_eq!(
            seen.events(),
            vec![
                "started n1 1",
                "pod gone from n1",
                "1 more on n1",
                "pod gone from n1"
            ]
        );
        let left = t.sim.list("pods", Some("app"));
        assert!(
            left.iter().all(|p| p["spec"]["nodeName"] != "n1"),
            "pods left on n1: {left:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_drain_evicts_no_more_pods_and_leaves_the_node_cordoned() {
        let seed = node("n1") + &node("n2") + &deployment("web", 2, "n1") + &tight_budget("web", 2);
        let t = TestCluster::start(&seed).await;
        let before = t.pods("app");
        let (job, _) = prepare_n1(&t).await;
        let cancel = Cancel::manual();
        let seen = Recorder::default();
        // The user stops the drain as soon as a budget holds a pod back.
        let observer = |e: Event| {
            if matches!(e, Event::Blocked { .. }) {
                cancel.cancel();
            }
            seen.record(line(&e));
        };
        let outcome = run(
            &t.cluster,
            &job,
            &OpCtx::new("alice", cancel.clone(), &observer),
        )
        .await;
        let drained = &outcome.nodes[0];
        assert_eq!(drained.status, NodeStatus::Interrupted);
        assert!(
            drained.cordoned && t.is_cordoned("n1"),
            "the node stays cordoned"
        );
        assert_eq!(drained.count(PodOutcome::Evicted), 0);
        assert_eq!(t.pods("app"), before, "no pod was evicted");
        assert!(seen.events().iter().all(|e| !e.starts_with("pod gone")));
        let record = outcome.audit();
        assert_eq!(record.status, audit::Status::Interrupted);
        assert_eq!(record.not_done, vec!["n1".to_string()]);
        let err = outcome.into_result().unwrap_err().to_string();
        assert!(err.contains("node uncordon n1"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_pod_stops_the_drain_before_it_starts() {
        let bare = "apiVersion: v1\nkind: Pod\nmetadata: {name: debug, namespace: app}\nspec:\n  nodeName: n1\n  containers: [{name: c, image: busybox}]\n---\n";
        let t = TestCluster::start(&(node("n1") + bare)).await;
        let (job, _) = prepare_n1(&t).await;
        let err = job.refusal().expect("a bare pod needs --force").to_string();
        assert!(
            err.contains("app/debug") && err.contains("nothing was changed"),
            "{err}"
        );
        assert!(!t.is_cordoned("n1"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pod_that_changes_every_few_hundred_milliseconds_is_still_evicted() {
        let t = TestCluster::start(&(node("n1") + &node("n2") + &deployment("web", 1, "n1"))).await;
        let (job, _) = prepare_n1(&t).await;
        let pod = t.pods("app").pop().expect("the web pod");
        // A crash loop rewrites the pod's status every few hundred
        // milliseconds: here, a label changes every 150 ms, so any wait
        // between reading the pod and evicting it meets a 409. The change is
        // a patch, as a kubelet's: it cannot bring back a pod that is gone.
        let pods: Api<Pod> = Api::namespaced(t.cluster.client.clone(), "app");
        let churn = async {
            for tick in 0u32.. {
                let label = serde_json::json!({"metadata": {"labels": {"tick": tick.to_string()}}});
                let patched = pods
                    .patch(
                        &pod,
                        &kube::api::PatchParams::default(),
                        &kube::api::Patch::Merge(&label),
                    )
                    .await;
                if patched.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            std::future::pending::<()>().await
        };
        let observer = |_: Event| {};
        let ctx = OpCtx::new("alice", Cancel::manual(), &observer);
        let drained = tokio::time::timeout(Duration::from_secs(20), async {
            tokio::select! {
                outcome = run(&t.cluster, &job, &ctx) => outcome,
                () = churn => unreachable!("the churn never ends"),
            }
        })
        .await;
        let outcome = drained.expect("the drain ends instead of retrying its 409s forever");
        assert!(outcome.result.is_ok());
        assert_eq!(outcome.nodes[0].count(PodOutcome::Evicted), 1);
        assert!(!t.pods("app").contains(&pod), "`app/{pod}` was evicted");
    }

    #[test]
    fn pdb_backoff_is_quick_then_steady() {
        assert_eq!(pdb_backoff(0), Duration::from_millis(250));
        assert_eq!(pdb_backoff(3), Duration::from_secs(2));
        assert_eq!(pdb_backoff(9), Duration::from_secs(4));
    }
}
