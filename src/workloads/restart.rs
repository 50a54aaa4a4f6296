//! The two changes: a rolling restart (kubectl's annotation, so both tools
//! agree on what a restart is) and the eviction of one broken pod.

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use super::inspect::Facts;
use super::{Kind, WorkloadRef};
use crate::cluster::{Cluster, api_error, status_of};
use crate::error::{Error, Result};
use crate::safety::interrupt;

/// The annotation `kubectl rollout restart` sets on the pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// The patch `kubectl rollout restart` sends (as a strategic merge patch).
pub fn restart_patch(at: DateTime<Utc>) -> serde_json::Value {
    json!({"spec": {"template": {"metadata": {"annotations": {
        RESTARTED_AT: at.to_rfc3339_opts(SecondsFormat::Secs, true)
    }}}}})
}

/// Restarts a workload: its controller replaces every pod by its strategy.
pub async fn rolling_restart(cluster: &Cluster, r: &WorkloadRef, at: DateTime<Utc>) -> Result<()> {
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
pub async fn evict(cluster: &Cluster, namespace: &str, pod: &str) -> Result<()> {
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
            Err(Error::Failed(format!(
                "the PodDisruptionBudget refused to let pod `{pod}` go ({message}); wait for the other pods to become ready, or relax the PDB"
            )))
        }
        Err(e) => Err(api_error(e, &cluster.url, "create pods/eviction")),
    }
}

/// One eviction tried by `restart --bad-pods`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvictionResult {
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
pub struct Applied {
    /// Workloads whose pod template was patched.
    pub restarted: Vec<WorkloadRef>,
    pub evictions: Vec<EvictionResult>,
    /// Workloads whose rollout is worth following now.
    pub to_follow: Vec<WorkloadRef>,
    /// Per workload (`kind/name` in namespace), its live pods just before
    /// the restart: what the wait counts replaced pods against.
    pub baselines:
        std::collections::HashMap<WorkloadRef, std::collections::BTreeMap<String, String>>,
    /// The audit log's done / not done lists.
    pub done: Vec<String>,
    pub not_done: Vec<String>,
    /// What stopped the run early: the cluster became unreachable, refused
    /// a patch, ... (Ctrl-C is seen with `interrupt::is_interrupted`).
    pub error: Option<Error>,
}

/// Applies a plan made by `plan::restart_changes` or `plan::bad_pod_changes`
/// from the same `facts`: patches each workload (at time `at`), or evicts
/// its replaceable broken pods. It stops between operations on Ctrl-C or on
/// an error that would fail every later one; a refused eviction does not
/// stop the others.
pub async fn apply(
    cluster: &Cluster,
    facts: &[Facts],
    bad_pods: bool,
    at: DateTime<Utc>,
) -> Applied {
    let mut applied = Applied::default();
    for f in facts {
        if bad_pods {
            let mut evicted_any = false;
            for b in f.broken.iter().filter(|b| b.problem.reason.replaceable()) {
                let what = format!("evict pod/{}", b.name);
                if interrupt::is_interrupted() || applied.error.is_some() {
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
            if interrupt::is_interrupted() || applied.error.is_some() {
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
pub fn refuse_paused(facts: &[Facts]) -> Result<()> {
    match facts.iter().find(|f| f.paused) {
        None => Ok(()),
        Some(f) => {
            let name = &f.workload.name;
            Err(Error::Failed(format!(
                "deployment `{name}` is paused, so a restart would not roll out; resume it first: `{}`",
                crate::suggest::kubectl(&format!(
                    "rollout resume deployment/{name} -n {}",
                    f.workload.namespace
                ))
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
