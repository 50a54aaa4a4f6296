//! The restart procedure, driven by `oncall restart` and the runbook
//! `restart` step alike: `prepare` inspects the workloads and plans, `run`
//! makes the changes (a rolling restart with kubectl's annotation, so both
//! tools agree on what a restart is, or the eviction of broken pods) and
//! follows the rollouts; `RestartOutcome` says how it went, in one wording.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde::Serialize;
use serde_json::json;

use super::inspect::Facts;
use super::{Kind, RolloutOutcome, RolloutProgress, Verdict, WorkloadRef};
use crate::cluster::{Cluster, api_error, status_of};
use crate::error::{Error, Result};
use crate::safety::{Audited, Cancel, OpCtx, Plan, audit};

/// How a restart is done.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Evict only the broken pods instead of restarting the workloads.
    pub bad_pods: bool,
    /// Follow the rollouts once the changes are made (`--no-wait` does not).
    pub wait: bool,
    /// The longest wait for the rollouts.
    pub timeout: Duration,
}

/// A planned restart: what `run` changes.
pub(crate) struct Job {
    facts: Vec<Facts>,
    options: Options,
}

/// What a restart reports while it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// The rollout of `workload` (`kind/name`) is followed from now on.
    Following { workload: String },
    /// The rollout moved on.
    Progress {
        workload: String,
        progress: RolloutProgress,
    },
    /// The wait for `workload` ended, however it ended.
    Settled { workload: String },
}

/// Inspects `targets` and plans their restart (or, with `bad_pods`, the
/// eviction of their broken pods). A paused Deployment is refused: its
/// rollout would not start.
pub(crate) async fn prepare(
    cluster: &Cluster,
    targets: &[WorkloadRef],
    options: Options,
) -> Result<(Job, Plan)> {
    let mut facts = Vec::new();
    for t in targets {
        facts.push(super::inspect(cluster, t).await?);
    }
    if !options.bad_pods {
        refuse_paused(&facts)?;
    }
    let (action, changes): (&str, fn(&mut Plan, &[Facts])) = if options.bad_pods {
        ("evict broken pods", super::plan::bad_pod_changes)
    } else {
        ("rolling restart", super::plan::restart_changes)
    };
    let mut plan = Plan::new(action, cluster);
    changes(&mut plan, &facts);
    Ok((Job { facts, options }, plan))
}

/// How a restart ended. It serialises as `restart -o json` and the runbook
/// step's output.
#[derive(Debug, Serialize)]
pub(crate) struct RestartOutcome {
    /// Workloads whose pod template was patched (`kind/name`).
    pub restarted: Vec<String>,
    /// Broken pods evicted with `--bad-pods`, and the ones the API refused.
    pub evictions: Vec<EvictionResult>,
    /// The rollouts that followed, one per workload.
    pub rollouts: Vec<RolloutOutcome>,
    /// The audit log's done / not done lists.
    #[serde(skip)]
    pub done: Vec<String>,
    #[serde(skip)]
    pub not_done: Vec<String>,
    /// What stopped the procedure before its rollouts were judged: Ctrl-C
    /// between changes, an unreachable cluster, a workload that vanished.
    #[serde(skip)]
    pub stopped: Option<Error>,
    #[serde(skip)]
    timeout: Duration,
}

impl RestartOutcome {
    /// The one wording of how the rollouts and evictions went: failures
    /// first (exit 1), then timeouts (exit 5), then Ctrl-C, then evictions
    /// the API refused.
    pub(crate) fn verdict(&self) -> Result<()> {
        super::wait::verdict(&self.rollouts, self.timeout)?;
        let refused: Vec<String> = self
            .evictions
            .iter()
            .filter(|e| !e.evicted)
            .map(|e| format!("`{}` ({})", e.pod, e.error.as_deref().unwrap_or("?")))
            .collect();
        if refused.is_empty() {
            return Ok(());
        }
        Err(Error::EvictionsRefused { pods: refused })
    }

    /// The procedure's result: what stopped it, else the verdict. The stop
    /// is handed over once (an error is not copied), so the audit entry is
    /// taken before.
    pub(crate) fn take_result(&mut self) -> Result<()> {
        match self.stopped.take() {
            Some(e) => Err(e),
            None => self.verdict(),
        }
    }

    /// Each rollout's ending, as `deployment/web: complete, ...`.
    pub(crate) fn summary(&self) -> String {
        self.rollouts
            .iter()
            .map(|o| format!("{}: {}", o.workload, o.outcome.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The audit log's outcome, the same whichever way the restart was started.
impl Audited for RestartOutcome {
    fn audit(&self) -> audit::Outcome {
        let verdict;
        let result = match &self.stopped {
            Some(e) => Err(e),
            None => {
                verdict = self.verdict();
                verdict.as_ref().map(|_| ())
            }
        };
        match result {
            Ok(()) => audit::Outcome {
                done: self.done.clone(),
                ..audit::Outcome::ok(self.summary())
            },
            Err(e) => audit::Outcome {
                done: self.done.clone(),
                not_done: self.not_done.clone(),
                ..audit::Outcome::from_error(e)
            },
        }
    }
}

/// Makes the planned changes, stopping between them when `ctx.cancel`
/// says so or the cluster fails every later one, then follows the rollouts
/// (all at once) unless the options say not to wait.
pub(crate) async fn run(cluster: &Cluster, job: &Job, ctx: &OpCtx<'_, Event>) -> RestartOutcome {
    let opts = job.options;
    let applied = apply(cluster, &job.facts, opts.bad_pods, Utc::now(), &ctx.cancel).await;
    let mut outcome = RestartOutcome {
        restarted: applied.restarted.iter().map(|w| w.to_string()).collect(),
        evictions: applied.evictions,
        rollouts: Vec::new(),
        done: applied.done,
        not_done: applied.not_done,
        stopped: applied.error,
        timeout: opts.timeout,
    };
    // Ctrl-C after the last change and before the wait began leaves only
    // the wait undone: it is told below as a wait cut short.
    let only_the_wait_undone = opts.wait && outcome.not_done.is_empty();
    if ctx.cancel.is_cancelled() && !only_the_wait_undone {
        outcome.stopped = Some(Error::interrupted(
            outcome.done.clone(),
            outcome.not_done.clone(),
        ));
    }
    if outcome.stopped.is_some() {
        return outcome;
    }
    let unfollowed = |verdict: Verdict, status: &str| {
        applied
            .to_follow
            .iter()
            .map(|w| RolloutOutcome::unfollowed(w, verdict, status))
            .collect()
    };
    if !opts.wait {
        outcome.rollouts = unfollowed(
            Verdict::NotWaited,
            "restart requested; not waiting (--no-wait)",
        );
        return outcome;
    }
    if ctx.cancel.is_cancelled() {
        outcome.rollouts = unfollowed(Verdict::Interrupted, "interrupted before the wait began");
        return outcome;
    }
    match follow(
        cluster,
        &applied.to_follow,
        &applied.baselines,
        opts.timeout,
        ctx,
    )
    .await
    {
        Ok(rollouts) => outcome.rollouts = rollouts,
        Err(e) => outcome.stopped = Some(e),
    }
    outcome
}

/// Waits for every rollout at once; `rollout status` uses it too.
pub(crate) async fn follow(
    cluster: &Cluster,
    targets: &[WorkloadRef],
    baselines: &HashMap<WorkloadRef, BTreeMap<String, String>>,
    timeout: Duration,
    ctx: &OpCtx<'_, Event>,
) -> Result<Vec<RolloutOutcome>> {
    let waits = targets.iter().map(|t| {
        let baseline = baselines.get(t).cloned();
        let workload = t.to_string();
        async move {
            ctx.emit(Event::Following {
                workload: workload.clone(),
            });
            let outcome = super::wait_for_rollout_from(
                &cluster.client,
                t,
                baseline,
                timeout,
                &ctx.cancel,
                |p| {
                    ctx.emit(Event::Progress {
                        workload: workload.clone(),
                        progress: p.clone(),
                    })
                },
            )
            .await;
            ctx.emit(Event::Settled { workload });
            outcome
        }
    });
    futures::future::join_all(waits).await.into_iter().collect()
}

/// The annotation `kubectl rollout restart` sets on the pod template.
pub(crate) const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// The patch `kubectl rollout restart` sends (as a strategic merge patch).
pub(crate) fn restart_patch(at: DateTime<Utc>) -> serde_json::Value {
    json!({"spec": {"template": {"metadata": {"annotations": {
        RESTARTED_AT: at.to_rfc3339_opts(SecondsFormat::Secs, true)
    }}}}})
}

/// Restarts a workload: its controller replaces every pod by its strategy.
pub(crate) async fn rolling_restart(
    cluster: &Cluster,
    r: &WorkloadRef,
    at: DateTime<Utc>,
) -> Result<()> {
    let patch = Patch::Strategic(restart_patch(at));
    let params = PatchParams::default();
    let client = cluster.client.clone();
    let result = match r.kind {
        Kind::Deployment => {
            Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client, &r.namespace)
                .patch(&r.name, &params, &patch)
                .await
                .map(drop)
        }
        Kind::StatefulSet => {
            Api::<k8s_openapi::api::apps::v1::StatefulSet>::namespaced(client, &r.namespace)
                .patch(&r.name, &params, &patch)
                .await
                .map(drop)
        }
        Kind::DaemonSet => {
            Api::<k8s_openapi::api::apps::v1::DaemonSet>::namespaced(client, &r.namespace)
                .patch(&r.name, &params, &patch)
                .await
                .map(drop)
        }
    };
    result.map_err(|e| api_error(e, &cluster.url, &format!("patch {}", r.kind.plural())))
}

/// Evicts one pod through the policy/v1 eviction subresource, so the API
/// server applies the PodDisruptionBudgets. It uses the client without
/// automatic retries: a PDB refusal (429) is reported at once.
pub(crate) async fn evict(cluster: &Cluster, namespace: &str, pod: &str) -> Result<()> {
    let api = Api::<Pod>::namespaced(cluster.client_no_retry.clone(), namespace);
    let eviction = json!({
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod, "namespace": namespace},
    });
    match api
        .create_subresource::<_, serde_json::Value>(
            "eviction",
            pod,
            &PostParams::default(),
            &eviction,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if status_of(&e).is_some_and(|s| s.code == 404) => Ok(()),
        Err(e) if status_of(&e).is_some_and(|s| s.code == 429) => {
            let message = status_of(&e).map(|s| s.message.clone()).unwrap_or_default();
            Err(Error::PdbRefused {
                pod: pod.into(),
                message,
            })
        }
        Err(e) => Err(api_error(e, &cluster.url, "create pods/eviction")),
    }
}

/// One eviction tried by `restart --bad-pods`.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct EvictionResult {
    pub pod: String,
    /// `kind/name` of the workload it belongs to.
    pub workload: String,
    /// Why it was broken: CrashLoopBackOff, Unknown, ...
    pub reason: String,
    pub evicted: bool,
    /// Why the API server refused it (a PodDisruptionBudget, usually).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What applying a restart plan did.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// Workloads whose pod template was patched.
    pub restarted: Vec<WorkloadRef>,
    pub evictions: Vec<EvictionResult>,
    /// Workloads whose rollout is worth following now.
    pub to_follow: Vec<WorkloadRef>,
    /// Per workload (`kind/name` in namespace), its live pods just before
    /// the restart: what the wait counts replaced pods against.
    pub baselines: HashMap<WorkloadRef, BTreeMap<String, String>>,
    /// The audit log's done / not done lists.
    pub done: Vec<String>,
    pub not_done: Vec<String>,
    /// What stopped the run early: the cluster became unreachable, refused
    /// a patch, ... (a cancellation is seen on the `Cancel` given).
    pub error: Option<Error>,
}

/// Applies a plan made by `plan::restart_changes` or `plan::bad_pod_changes`
/// from the same `facts`: patches each workload (at time `at`), or evicts
/// its replaceable broken pods. It stops between operations on Ctrl-C or on
/// an error that would fail every later one; a refused eviction does not
/// stop the others. Secret rotation restarts its consumers through it too.
pub(crate) async fn apply(
    cluster: &Cluster,
    facts: &[Facts],
    bad_pods: bool,
    at: DateTime<Utc>,
    cancel: &Cancel,
) -> Applied {
    let mut applied = Applied::default();
    for f in facts {
        if bad_pods {
            let mut evicted_any = false;
            for b in f.broken.iter().filter(|b| b.problem.reason.replaceable()) {
                let what = format!("evict pod/{}", b.name);
                if cancel.is_cancelled() || applied.error.is_some() {
                    applied.not_done.push(what);
                    continue;
                }
                let result = evict(cluster, &f.workload.namespace, &b.name).await;
                let error = result.as_ref().err().map(|e| e.to_string());
                match result {
                    Ok(()) => {
                        evicted_any = true;
                        applied.done.push(what);
                    }
                    Err(e) => {
                        applied.not_done.push(what);
                        if matches!(
                            e,
                            Error::Unreachable { .. }
                                | Error::Unauthorized { .. }
                                | Error::Forbidden { .. }
                        ) {
                            applied.error = Some(e);
                        }
                    }
                }
                applied.evictions.push(EvictionResult {
                    pod: b.name.clone(),
                    workload: f.workload.to_string(),
                    reason: b.problem.reason.to_string(),
                    evicted: error.is_none(),
                    error,
                });
            }
            if evicted_any {
                applied.to_follow.push(f.workload.clone());
            }
        } else {
            if f.no_restart.is_some() {
                continue;
            }
            let what = format!("restart {}", f.workload);
            if cancel.is_cancelled() || applied.error.is_some() {
                applied.not_done.push(what);
                continue;
            }
            let baseline = super::live_pods(&cluster.client, &f.workload).await.ok();
            match rolling_restart(cluster, &f.workload, at).await {
                Ok(()) => {
                    if let Some(b) = baseline {
                        applied.baselines.insert(f.workload.clone(), b);
                    }
                    applied.done.push(what);
                    applied.restarted.push(f.workload.clone());
                    applied.to_follow.push(f.workload.clone());
                }
                Err(e) => {
                    applied.not_done.push(what);
                    applied.error = Some(e);
                }
            }
        }
    }
    applied
}

/// The refusal for a paused Deployment among `facts`, if there is one: its
/// rollout would not start until it is resumed.
pub(crate) fn refuse_paused(facts: &[Facts]) -> Result<()> {
    match facts.iter().find(|f| f.paused) {
        None => Ok(()),
        Some(f) => {
            let name = &f.workload.name;
            Err(Error::DeploymentPaused {
                name: name.clone(),
                resume: crate::suggest::kubectl(&format!(
                    "rollout resume deployment/{name} -n {}",
                    f.workload.namespace
                )),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Recorder, SimCluster, deployment, shop, sim_cluster};
    use crate::workloads::Verdict;

    fn options() -> Options {
        Options {
            bad_pods: false,
            wait: true,
            timeout: Duration::from_secs(60),
        }
    }

    /// `shop/web`, two pods of `image`, and its restart as planned.
    async fn restart_web(image: &str) -> (SimCluster, Job, Plan) {
        let seed = shop() + &deployment("shop", "web", 2, image);
        let t = sim_cluster(&seed, "shop").await;
        let web = [WorkloadRef::new(Kind::Deployment, "shop", "web")];
        let (job, plan) = prepare(&t.cluster, &web, options()).await.unwrap();
        (t, job, plan)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_healthy_restart_completes_and_reports_its_wait() {
        let (t, job, plan) = restart_web("shop/web:1").await;
        assert_eq!(plan.changes.len(), 1, "{plan:?}");
        let seen = Recorder::new();
        let observer = |e| seen.record(e);
        let ctx = OpCtx::new("alice", Cancel::manual(), &observer);
        let mut outcome = run(&t.cluster, &job, &ctx).await;
        let audit = outcome.audit();
        let result = outcome.take_result();
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(outcome.restarted, vec!["deployment/web"]);
        assert_eq!(outcome.rollouts[0].outcome, Verdict::Complete);
        assert_eq!(outcome.summary(), "deployment/web: complete");
        assert_eq!(audit.status, audit::Status::Ok);
        assert_eq!(audit.done, vec!["restart deployment/web"]);
        let events = seen.events();
        assert_eq!(
            events.first(),
            Some(&Event::Following {
                workload: "deployment/web".into()
            })
        );
        assert_eq!(
            events.last(),
            Some(&Event::Settled {
                workload: "deployment/web".into()
            })
        );
        assert!(
            events.iter().any(|e| matches!(e, Event::Progress { .. })),
            "progress is reported: {events:?}"
        );
        let d = t.sim.get("deployments", Some("shop"), "web").unwrap();
        assert!(
            d["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT].is_string(),
            "kubectl's annotation is set"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crash_looping_workload_fails_fast_in_the_commands_words() {
        let (t, job, _) = restart_web("shop/web:crash").await;
        let observer = |_: Event| {};
        let ctx = OpCtx::new("alice", Cancel::manual(), &observer);
        let mut outcome = run(&t.cluster, &job, &ctx).await;
        let err = outcome.take_result().unwrap_err();
        // Failed on the crash loop, not timed out.
        assert_eq!(outcome.rollouts[0].outcome, Verdict::Failed);
        let message = err.to_string();
        assert!(
            message.starts_with("the rollout of `deployment/web` failed: "),
            "{message}"
        );
        let audit = outcome.audit();
        assert_eq!(audit.status, audit::Status::Failed);
        assert_eq!(audit.done, vec!["restart deployment/web"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_restart_changes_nothing_more() {
        let (t, job, _) = restart_web("shop/web:1").await;
        let cancel = Cancel::manual();
        cancel.cancel();
        let seen = Recorder::new();
        let observer = |e| seen.record(e);
        let ctx = OpCtx::new("alice", cancel, &observer);
        let mut outcome = run(&t.cluster, &job, &ctx).await;
        let err = outcome.take_result().unwrap_err();
        assert!(matches!(err, Error::Interrupted { .. }), "{err}");
        assert_eq!(outcome.not_done, vec!["restart deployment/web"]);
        assert!(outcome.done.is_empty() && seen.events().is_empty());
        let d = t.sim.get("deployments", Some("shop"), "web").unwrap();
        assert!(
            d["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT].is_null(),
            "the workload was not restarted"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelling_during_the_wait_stops_waiting_not_the_rollout() {
        let (t, job, _) = restart_web("shop/web:1").await;
        let cancel = Cancel::manual();
        let stop = cancel.clone();
        // The user presses Ctrl-C as soon as the wait begins.
        let observer = move |e| {
            if matches!(e, Event::Following { .. }) {
                stop.cancel();
            }
        };
        let ctx = OpCtx::new("alice", cancel, &observer);
        let mut outcome = run(&t.cluster, &job, &ctx).await;
        let err = outcome.take_result().unwrap_err();
        assert_eq!(outcome.rollouts[0].outcome, Verdict::Interrupted);
        assert!(
            err.to_string()
                .contains("not done: waiting for `deployment/web`; the rollouts themselves go on"),
            "{err}"
        );
        assert_eq!(outcome.done, vec!["restart deployment/web"]);
    }

    #[test]
    fn patch_is_kubectls() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T01:02:03.456Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            restart_patch(at),
            json!({"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": "2026-11-23T01:02:03Z"
            }}}}})
        );
    }
}
