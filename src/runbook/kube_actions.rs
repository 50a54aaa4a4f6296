//! The cluster actions with no command of their own: scale, delete a pod, exec
//! in a pod. Kept thin: resolve the target, make one call, return data.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{AttachParams, DeleteParams, Patch, PatchParams};
use serde::Deserialize;
use tokio::io::AsyncReadExt;

use crate::cluster::{Cluster, api_error, is_not_found};
use crate::error::{Error, Result};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleArgs {
    pub target: String,
    pub replicas: String,
    /// Read by the engine from the rendered arguments (it defaults to the context's namespace).
    #[allow(dead_code)]
    pub namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletePodArgs {
    pub pod: String,
    /// Read by the engine from the rendered arguments (it defaults to the context's namespace).
    #[allow(dead_code)]
    pub namespace: Option<String>,
    pub grace_period: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecArgs {
    pub pod: String,
    pub command: Vec<String>,
    /// Read by the engine from the rendered arguments (it defaults to the context's namespace).
    #[allow(dead_code)]
    pub namespace: Option<String>,
    pub container: Option<String>,
}

/// `deployment/web`, `statefulset/db`, `sts/db` or `web` (a Deployment).
pub fn split_target(target: &str) -> Result<(&'static str, &str)> {
    let (kind, name) = target.split_once('/').unwrap_or(("deployment", target));
    let kind = match kind.to_lowercase().as_str() {
        "deployment" | "deploy" | "deployments" => "deployment",
        "statefulset" | "sts" | "statefulsets" => "statefulset",
        other => {
            return Err(Error::Usage(format!(
                "`scale` works on deployments and statefulsets, not `{other}`"
            )));
        }
    };
    if name.is_empty() {
        return Err(Error::Usage(format!("`{target}` names no workload")));
    }
    Ok((kind, name))
}

pub fn parse_replicas(text: &str) -> Result<i32> {
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| Error::Usage(format!("`replicas` must be a whole number, not `{text}`")))
}

/// Current replicas of the target, for the plan.
pub async fn current_replicas(cluster: &Cluster, ns: &str, target: &str) -> Result<Option<i32>> {
    let (kind, name) = split_target(target)?;
    let doing = format!("get {kind} {name}");
    let replicas = match kind {
        "deployment" => Api::<Deployment>::namespaced(cluster.client.clone(), ns)
            .get(name)
            .await
            .map_err(|e| not_found_or(e, cluster, &doing, &format!("{ns}/{kind}/{name}")))?
            .spec
            .and_then(|s| s.replicas),
        _ => Api::<StatefulSet>::namespaced(cluster.client.clone(), ns)
            .get(name)
            .await
            .map_err(|e| not_found_or(e, cluster, &doing, &format!("{ns}/{kind}/{name}")))?
            .spec
            .and_then(|s| s.replicas),
    };
    Ok(replicas)
}

fn not_found_or(e: kube::Error, cluster: &Cluster, doing: &str, what: &str) -> Error {
    if is_not_found(&e) {
        // `what` is `namespace/kind/name`.
        let mut parts = what.splitn(3, '/');
        let (ns, kind) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        return Error::NotFound {
            what: format!("`{what}`"),
            list: format!("kubectl -n {ns} get {kind}"),
        };
    }
    match api_error(e, &cluster.url, doing) {
        // A plain API refusal (405, 409, 422, ...): the server's own words.
        Error::Kube {
            source: kube::Error::Api(status),
            ..
        } => Error::Failed(format!(
            "cannot {doing} for `{what}`: {} ({} {})",
            status.message, status.code, status.reason
        )),
        other => other,
    }
}

pub async fn scale(cluster: &Cluster, ns: &str, args: &ScaleArgs) -> Result<serde_json::Value> {
    let (kind, name) = split_target(&args.target)?;
    let replicas = parse_replicas(&args.replicas)?;
    let from = current_replicas(cluster, ns, &args.target).await?;
    let patch = Patch::Merge(serde_json::json!({ "spec": { "replicas": replicas } }));
    let params = PatchParams::default();
    let doing = format!("patch {kind} {name}");
    let what = format!("{ns}/{kind}/{name}");
    match kind {
        "deployment" => {
            Api::<Deployment>::namespaced(cluster.client.clone(), ns)
                .patch(name, &params, &patch)
                .await
                .map_err(|e| not_found_or(e, cluster, &doing, &what))?;
        }
        _ => {
            Api::<StatefulSet>::namespaced(cluster.client.clone(), ns)
                .patch(name, &params, &patch)
                .await
                .map_err(|e| not_found_or(e, cluster, &doing, &what))?;
        }
    }
    Ok(serde_json::json!({ "target": what, "from": from, "to": replicas }))
}

pub async fn delete_pod(
    cluster: &Cluster,
    ns: &str,
    args: &DeletePodArgs,
) -> Result<serde_json::Value> {
    let grace = match &args.grace_period {
        Some(g) => Some(
            humantime::parse_duration(g)
                .map(|d| d.as_secs() as u32)
                .or_else(|_| g.parse::<u32>())
                .map_err(|_| {
                    Error::Usage(format!(
                        "bad `grace_period` `{g}`; use seconds or a duration like 30s"
                    ))
                })?,
        ),
        None => None,
    };
    let api = Api::<Pod>::namespaced(cluster.client.clone(), ns);
    let what = format!("{ns}/pod/{}", args.pod);
    let pod = api
        .get(&args.pod)
        .await
        .map_err(|e| not_found_or(e, cluster, "get pods", &what))?;
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let params = DeleteParams {
        grace_period_seconds: grace,
        // Never delete a pod of the same name that replaced the one we looked at.
        preconditions: Some(kube::api::Preconditions {
            uid: Some(uid.clone()),
            resource_version: None,
        }),
        ..Default::default()
    };
    api.delete(&args.pod, &params)
        .await
        .map_err(|e| not_found_or(e, cluster, "delete pods", &what))?;
    Ok(serde_json::json!({ "pod": what, "uid": uid, "node": pod.spec.and_then(|s| s.node_name) }))
}

/// Runs a command in a pod; returns (stdout + stderr, exit code).
pub async fn exec(cluster: &Cluster, ns: &str, args: &ExecArgs) -> Result<(String, i32)> {
    let api = Api::<Pod>::namespaced(cluster.client.clone(), ns);
    let mut params = AttachParams::default()
        .stdin(false)
        .stdout(true)
        .stderr(true);
    if let Some(c) = &args.container {
        params = params.container(c.clone());
    }
    let what = format!("{ns}/pod/{}", args.pod);
    let mut attached = api
        .exec(&args.pod, args.command.clone(), &params)
        .await
        .map_err(|e| not_found_or(e, cluster, "create pods/exec", &what))?;
    let mut out = String::new();
    let mut err = String::new();
    let stdout = attached.stdout();
    let stderr = attached.stderr();
    let read_out = async {
        if let Some(mut s) = stdout {
            let _ = s.read_to_string(&mut out).await;
        }
    };
    let read_err = async {
        if let Some(mut s) = stderr {
            let _ = s.read_to_string(&mut err).await;
        }
    };
    tokio::join!(read_out, read_err);
    let status = match attached.take_status() {
        Some(s) => s.await,
        None => None,
    };
    let _ = attached.join().await;
    let code = match status {
        Some(s) if s.status.as_deref() == Some("Success") => 0,
        Some(s) => s
            .details
            .and_then(|d| d.causes)
            .and_then(|c| {
                c.into_iter()
                    .find(|c| c.reason.as_deref() == Some("ExitCode"))
            })
            .and_then(|c| c.message)
            .and_then(|m| m.parse().ok())
            .unwrap_or(1),
        None => 0,
    };
    if !err.is_empty() {
        out.push_str(&err);
    }
    Ok((out, code))
}
