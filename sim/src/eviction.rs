//! The eviction subresource, following the API server's rules: terminal,
//! pending and already-terminating pods go without a PDB check; otherwise
//! the single matching PodDisruptionBudget must allow a disruption.

use axum::response::Response;
use serde_json::{Value, json};

use crate::Shared;
use crate::errors::ApiError;
use crate::selectors::LabelSelector;
use crate::server::{Req, value_response};
use crate::store::{DeleteOptions, UpdateMode, res};
use crate::util::{self, str_at};

fn violation(message: String) -> ApiError {
    let mut e = ApiError::too_many_requests(
        "Cannot evict pod as it would violate the pod's disruption budget.",
        0,
    );
    // A PDB refusal carries no Retry-After: clients retry on their own clock.
    e.retry_after = None;
    e.details = Some(json!({"causes": [{"reason": "DisruptionBudget", "message": message}]}));
    e
}

fn success() -> Response {
    value_response(
        201,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}

pub(crate) fn evict(sh: &Shared, req: &Req) -> Result<Response, ApiError> {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let dopts = &body["deleteOptions"];
    let opts = DeleteOptions {
        grace_period: dopts["gracePeriodSeconds"].as_i64(),
        uid: dopts["preconditions"]["uid"].as_str().map(String::from),
        resource_version: dopts["preconditions"]["resourceVersion"]
            .as_str()
            .map(String::from),
    };
    let dry =
        req.q("dryRun") == Some("All") || dopts["dryRun"].as_array().is_some_and(|d| !d.is_empty());
    // Like the API server, retry when the budget changed under us (its
    // status is written by the disruption controller at the same time):
    // a client sees the refusal or the success, not the conflict.
    let mut attempt = 0;
    loop {
        match evict_once(sh, req, &opts, dry) {
            Err(e) if is_budget_conflict(&e) && attempt < EVICTION_RETRIES => {
                attempt += 1;
                std::thread::yield_now();
            }
            result => return result,
        }
    }
}

fn is_budget_conflict(e: &ApiError) -> bool {
    e.code == 409 && e.message.contains("poddisruptionbudgets")
}

/// The API server retries a budget conflict for about ten seconds.
const EVICTION_RETRIES: u32 = 20;

fn evict_once(
    sh: &Shared,
    req: &Req,
    opts: &DeleteOptions,
    dry: bool,
) -> Result<Response, ApiError> {
    let name = req.name.as_deref().unwrap_or("");
    let ns = req.ns_str();
    let pods = res("pods");
    let pod = sh
        .store
        .get(pods, ns, name)
        .ok_or_else(|| ApiError::not_found("", "pods", name))?;
    let delete = |sh: &Shared| -> Result<Response, ApiError> {
        if !dry {
            sh.store.delete(pods, ns, name, opts)?;
        }
        Ok(success())
    };
    let phase = pod.meta.field("status.phase");
    if pod.meta.deleting || matches!(phase, "Succeeded" | "Failed" | "Pending") {
        return delete(sh);
    }
    let pdbs_res = res("poddisruptionbudgets");
    let matching: Vec<Value> = sh
        .store
        .scan(pdbs_res, Some(ns), |_| true)
        .iter()
        .map(|s| s.value())
        .filter(|pdb| {
            let sel = &pdb["spec"]["selector"];
            !sel.is_null() && LabelSelector::from_object(sel).matches_pairs(&pod.meta.labels)
        })
        .collect();
    if matching.is_empty() {
        return delete(sh);
    }
    if matching.len() > 1 {
        return Err(ApiError::internal(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        ));
    }
    let mut pdb = matching.into_iter().next().expect("one pdb");
    let pdb_name = str_at(&pdb, &["metadata", "name"]).to_string();
    let st = &pdb["status"];
    let generation = pdb["metadata"]["generation"].as_i64().unwrap_or(1);
    if st["observedGeneration"].as_i64().unwrap_or(0) < generation {
        return Err(violation(format!(
            "The disruption budget {pdb_name} is still being processed by the server."
        )));
    }
    let current = st["currentHealthy"].as_i64().unwrap_or(0);
    let desired = st["desiredHealthy"].as_i64().unwrap_or(0);
    if !pod.meta.ready {
        // Unready pods do not count towards the budget: with the default
        // IfHealthyBudget policy they may go while the budget is met.
        let policy = str_at(&pdb, &["spec", "unhealthyPodEvictionPolicy"]);
        if policy == "AlwaysAllow" || current >= desired {
            return delete(sh);
        }
    }
    let allowed = st["disruptionsAllowed"].as_i64().unwrap_or(0);
    if allowed < 0 {
        return Err(ApiError::new(
            403,
            "Forbidden",
            "pdb disruptions allowed is negative",
        ));
    }
    if allowed == 0 {
        return Err(violation(format!(
            "The disruption budget {pdb_name} needs {desired} healthy pods and has {current} currently"
        )));
    }
    if !dry {
        pdb["status"]["disruptionsAllowed"] = json!(allowed - 1);
        pdb["status"]["disruptedPods"][name] = json!(util::now_ts());
        sh.store.update(pdbs_res, pdb, UpdateMode::Status, true)?;
    }
    delete(sh)
}
