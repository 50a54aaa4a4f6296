//! The cluster actions with no command of their own: `scale`, `delete_pod`,
//! `exec`. Kept thin: resolve the target, make one call, return data.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{AttachParams, DeleteParams, Patch, PatchParams};
use serde_json::Value as Json;
use tokio::io::AsyncReadExt;

use super::args::{List, Text, args};
use super::{Action, Produced, Spec, argv_display, cluster, namespace};
use crate::cluster::{Cluster, api_error, is_not_found};
use crate::error::{Error, Result};
use crate::runbook::engine::Run;
use crate::runbook::model::Step;
use crate::safety::Plan;

args! {
    ScaleArgs {
        /// The workload, as deployment/NAME, statefulset/NAME or NAME (a Deployment).
        target: Text,
        /// The number of replicas to set.
        replicas: Text,
        /// The namespace (default: the run's).
        namespace: Option<Text>,
    }
}

pub(super) struct Scale;

impl Action for Scale {
    type Args = ScaleArgs;
    const SPEC: &'static Spec = &Spec::cluster(
        "scale",
        "set a Deployment's or StatefulSet's replicas",
        true,
        true,
    );

    async fn plan(&self, run: &Run<'_>, args: &ScaleArgs, into: &mut Plan) -> Result<()> {
        let ns = namespace(run, &args.namespace);
        let from = match run.cluster {
            Some(c) => current_replicas(c, &ns, &args.target)
                .await
                .ok()
                .flatten()
                .map(|n| n.to_string())
                .unwrap_or_else(|| "?".into()),
            None => "?".into(),
        };
        into.change(
            args.target.0.clone(),
            "scale",
            format!("replicas {from} → {}", args.replicas.0),
        );
        Ok(())
    }

    async fn run(&self, run: &Run<'_>, _step: &Step, args: ScaleArgs) -> Result<Produced> {
        let ns = namespace(run, &args.namespace);
        let out = scale(cluster(run, Self::SPEC.name)?, &ns, &args).await?;
        Ok(Produced {
            text: format!(
                "{} scaled from {} to {}",
                out["target"].as_str().unwrap_or_default(),
                out["from"],
                out["to"]
            ),
            output: out,
            exit_code: None,
            summary: None,
        })
    }
}

args! {
    DeletePodArgs {
        /// The pod's name.
        pod: Text,
        /// The namespace (default: the run's).
        namespace: Option<Text>,
        /// Seconds (or a duration like 30s) the pod gets to stop (default: its own).
        grace_period: Option<Text>,
    }
}

pub(super) struct DeletePod;

impl Action for DeletePod {
    type Args = DeletePodArgs;
    const SPEC: &'static Spec = &Spec::cluster(
        "delete_pod",
        "delete one pod (its controller makes a new one)",
        true,
        false,
    );

    async fn plan(&self, _run: &Run<'_>, args: &DeletePodArgs, into: &mut Plan) -> Result<()> {
        into.change(
            format!("pod/{}", args.pod.0),
            "delete",
            "its controller makes a new pod",
        );
        Ok(())
    }

    async fn run(&self, run: &Run<'_>, _step: &Step, args: DeletePodArgs) -> Result<Produced> {
        let ns = namespace(run, &args.namespace);
        let out = delete_pod(cluster(run, Self::SPEC.name)?, &ns, &args).await?;
        Ok(Produced {
            text: format!("deleted {}", out["pod"].as_str().unwrap_or_default()),
            output: out,
            exit_code: None,
            summary: None,
        })
    }
}

args! {
    ExecArgs {
        /// The pod's name.
        pod: Text,
        /// The command and its arguments (no shell).
        command: List,
        /// The namespace (default: the run's).
        namespace: Option<Text>,
        /// The container (default: the pod's first).
        container: Option<Text>,
    }
}

pub(super) struct Exec;

impl Action for Exec {
    type Args = ExecArgs;
    const SPEC: &'static Spec = &Spec {
        declared: true,
        ..Spec::cluster("exec", "run a command in a pod's container", true, false)
    };

    async fn plan(&self, run: &Run<'_>, args: &ExecArgs, into: &mut Plan) -> Result<()> {
        into.change(
            format!("pod/{}", args.pod.0),
            "exec",
            run.redact(&argv_display(&args.command.0)),
        );
        Ok(())
    }

    /// A command in a pod; a non-zero exit fails the step with the
    /// command's last line, redacted.
    async fn run(&self, run: &Run<'_>, _step: &Step, args: ExecArgs) -> Result<Produced> {
        let ns = namespace(run, &args.namespace);
        let (text, code) = exec(cluster(run, Self::SPEC.name)?, &ns, &args).await?;
        let text = run.redact(&text);
        if code != 0 {
            return Err(Error::CommandFailed {
                program: args.command.0.first().cloned().unwrap_or_default(),
                code,
                pod: Some(args.pod.0.clone()),
                last: super::local::last_line(&text).unwrap_or("").trim().into(),
            });
        }
        Ok(Produced {
            output: Json::String(text.trim_end().to_string()),
            text,
            exit_code: Some(code),
            summary: None,
        })
    }
}

/// `deployment/web`, `statefulset/db`, `sts/db` or `web` (a Deployment).
fn split_target(target: &str) -> Result<(&'static str, &str)> {
    let (kind, name) = target.split_once('/').unwrap_or(("deployment", target));
    let kind = match kind.to_lowercase().as_str() {
        "deployment" | "deploy" | "deployments" => "deployment",
        "statefulset" | "sts" | "statefulsets" => "statefulset",
        other => {
            return Err(Error::BadStepArgs {
                action: "scale".into(),
                field: Some("target".into()),
                reason: format!("must be a deployment or statefulset, not a `{other}`"),
            });
        }
    };
    if name.is_empty() {
        return Err(Error::BadWorkloadName { arg: target.into() });
    }
    Ok((kind, name))
}

fn parse_replicas(text: &str) -> Result<i32> {
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| Error::BadStepArgs {
            action: "scale".into(),
            field: Some("replicas".into()),
            reason: format!("must be a whole number, not `{text}`"),
        })
}

/// Current replicas of the target, for the plan.
async fn current_replicas(cluster: &Cluster, ns: &str, target: &str) -> Result<Option<i32>> {
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
            list: crate::suggest::kubectl(&format!("-n {ns} get {kind}")),
        };
    }
    match api_error(e, &cluster.url, doing) {
        // A plain API refusal (405, 409, 422, ...): the server's own words.
        Error::Kube {
            source: kube::Error::Api(status),
            ..
        } => Error::ApiRejected {
            doing: doing.into(),
            what: Some(what.into()),
            code: status.code,
            status: Some(format!("{} {}", status.code, status.reason)),
            message: status.message,
        },
        other => other,
    }
}

async fn scale(cluster: &Cluster, ns: &str, args: &ScaleArgs) -> Result<serde_json::Value> {
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

async fn delete_pod(
    cluster: &Cluster,
    ns: &str,
    args: &DeletePodArgs,
) -> Result<serde_json::Value> {
    let grace = match &args.grace_period {
        Some(g) => Some(
            humantime::parse_duration(g)
                .map(|d| d.as_secs() as u32)
                .or_else(|_| g.parse::<u32>())
                .map_err(|_| Error::BadStepArgs {
                    action: "delete_pod".into(),
                    field: Some("grace_period".into()),
                    reason: format!("must be seconds or a duration like 30s, not `{g}`"),
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
async fn exec(cluster: &Cluster, ns: &str, args: &ExecArgs) -> Result<(String, i32)> {
    let api = Api::<Pod>::namespaced(cluster.client.clone(), ns);
    let mut params = AttachParams::default()
        .stdin(false)
        .stdout(true)
        .stderr(true);
    if let Some(c) = &args.container {
        params = params.container(c.0.clone());
    }
    let what = format!("{ns}/pod/{}", args.pod);
    let mut attached = api
        .exec(&args.pod, args.command.0.clone(), &params)
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
