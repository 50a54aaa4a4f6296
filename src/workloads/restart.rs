//! The two changes: a rolling restart (kubectl's annotation, so both tools
//! agree on what a restart is) and the eviction of one broken pod.

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use super::{Kind, WorkloadRef};
use crate::cluster::{Cluster, api_error, status_of};
use crate::error::{Error, Result};

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
