//! `node replace` and `node rotate`: terminate drained nodes and wait for
//! their replacements, a new Ready node of the same pool.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DeleteParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event as WatchEvent};
use serde::Serialize;

use super::lean::{LeanNode, ZONE_LABEL};
use crate::cluster::retry::retry;
use crate::cluster::{Cluster, api_error, is_not_found};
use crate::error::{Error, Result};

/// How a node's instance goes away.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub(crate) enum Terminate {
    /// Run this argument list (template, not yet filled in).
    Command { template: Vec<String> },
    /// Delete the Node object (the autoscaler or cloud replaces it).
    DeleteNode,
    /// Leave it: the cloud's rebuild removes it (`rotate --no-terminate`).
    Nothing,
}

impl Terminate {
    /// Splits a `--terminate` template into words before any value is
    /// filled in, so a value (a node name, a provider ID) can never add
    /// words or shell syntax.
    pub(crate) fn from_template(template: &str) -> Result<Terminate> {
        let words = shlex::split(template).ok_or_else(|| Error::TerminateUnbalanced {
            template: template.into(),
        })?;
        // `--terminate ''` (or only spaces, or `"''"`) names no program to run.
        if words.first().is_none_or(|w| w.trim().is_empty()) {
            return Err(Error::TerminateEmpty);
        }
        Ok(Terminate::Command { template: words })
    }

    /// The command as it will run for this node; refused when a value
    /// from the node would be read as an option.
    pub(crate) fn describe(&self, node: &LeanNode) -> Result<String> {
        Ok(match self {
            Terminate::Command { template } => fill(template, node)?.join(" "),
            Terminate::DeleteNode => "delete the Node object".into(),
            Terminate::Nothing => "leave it to the cloud's rebuild".into(),
        })
    }
}

/// Values a terminate template can use, read from `spec.providerID`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Instance {
    pub provider_id: String,
    pub instance_id: String,
    pub zone: String,
    /// GCP project or Azure subscription.
    pub project: String,
}

/// Reads `gce://PROJECT/ZONE/NAME`, `aws:///ZONE/i-ID` and
/// `azure:///subscriptions/SUB/.../virtualMachines/ID`.
pub(crate) fn instance(node: &LeanNode) -> Instance {
    let provider_id = node.spec.provider_id.clone().unwrap_or_default();
    let mut out = Instance {
        provider_id: provider_id.clone(),
        zone: node.label(ZONE_LABEL).unwrap_or_default().to_string(),
        ..Default::default()
    };
    let Some((scheme, rest)) = provider_id.split_once("://") else {
        out.instance_id = node.name().to_string();
        return out;
    };
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    match scheme {
        "gce" if parts.len() >= 3 => {
            out.project = parts[0].into();
            out.zone = parts[1].into();
            out.instance_id = parts[2].into();
        }
        "aws" if parts.len() >= 2 => {
            out.zone = parts[0].into();
            out.instance_id = parts[parts.len() - 1].into();
        }
        "azure" => {
            if let Some(i) = parts
                .iter()
                .position(|p| p.eq_ignore_ascii_case("subscriptions"))
            {
                out.project = parts.get(i + 1).copied().unwrap_or_default().into();
            }
            out.instance_id = parts.last().copied().unwrap_or_default().into();
        }
        _ => out.instance_id = parts.last().copied().unwrap_or(node.name()).into(),
    }
    out
}

/// Fills `{node}`, `{provider_id}`, `{instance_id}`, `{zone}`, `{project}`
/// into each word of an already split template, in one pass: a value that
/// itself looks like `{zone}` is not filled again. A value starting with `-`
/// would reach the command as an option, so it is refused, naming the node.
pub(crate) fn fill(template: &[String], node: &LeanNode) -> Result<Vec<String>> {
    let i = instance(node);
    let values = [
        ("{node}", node.name()),
        ("{provider_id}", i.provider_id.as_str()),
        ("{instance_id}", i.instance_id.as_str()),
        ("{zone}", i.zone.as_str()),
        ("{project}", i.project.as_str()),
    ];
    let mut argv = Vec::with_capacity(template.len());
    for word in template {
        let mut out = String::new();
        let mut rest = word.as_str();
        while let Some(at) = rest.find('{') {
            out.push_str(&rest[..at]);
            rest = &rest[at..];
            match values.iter().find(|(p, _)| rest.starts_with(p)) {
                Some((placeholder, value)) => {
                    if value.starts_with('-') {
                        return Err(Error::TerminateOptionLike {
                            node: node.name().into(),
                            field: placeholder[1..placeholder.len() - 1].into(),
                            value: value.to_string(),
                        });
                    }
                    out.push_str(value);
                    rest = &rest[placeholder.len()..];
                }
                None => {
                    out.push('{');
                    rest = &rest[1..];
                }
            }
        }
        out.push_str(rest);
        argv.push(out);
    }
    Ok(argv)
}

/// Terminates the node's instance.
pub(crate) async fn terminate(cluster: &Cluster, node: &LeanNode, how: &Terminate) -> Result<()> {
    match how {
        Terminate::Nothing => Ok(()),
        Terminate::DeleteNode => {
            let api: Api<Node> = Api::all(cluster.client.clone());
            let params = DeleteParams::default();
            match retry(|| api.delete(node.name(), &params)).await {
                Ok(_) => Ok(()),
                Err(e) if is_not_found(&e) => Ok(()),
                Err(e) => Err(api_error(e, &cluster.url, "delete nodes")),
            }
        }
        Terminate::Command { template } => {
            let argv = fill(template, node)?;
            let out = tokio::process::Command::new(&argv[0])
                .args(&argv[1..])
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .map_err(|e| Error::TerminateNotRun {
                    program: argv[0].clone(),
                    reason: e.to_string(),
                })?;
            if out.status.success() {
                Ok(())
            } else {
                Err(Error::TerminateFailed {
                    command: argv.join(" "),
                    status: out.status.to_string(),
                    stderr: String::from_utf8_lossy(&out.stderr).trim().into(),
                })
            }
        }
    }
}

/// Waits for a Ready node with `pool_label=pool` that is not in `old` and
/// not already `claimed`, created at or after `since`. Claims and returns it.
pub(crate) async fn wait_replacement(
    cluster: &Cluster,
    (pool_label, pool): (&str, &str),
    since: DateTime<Utc>,
    old: &HashSet<String>,
    claimed: &Mutex<HashSet<String>>,
    timeout: Duration,
) -> Result<String> {
    let api: Api<Node> = Api::all(cluster.client.clone());
    let config = watcher::Config::default().labels(&format!("{pool_label}={pool}"));
    let wait = async {
        let stream = watcher::watcher(api, config).default_backoff();
        futures::pin_mut!(stream);
        loop {
            let node = match stream.try_next().await {
                Ok(Some(WatchEvent::Apply(n) | WatchEvent::InitApply(n))) => n,
                Ok(Some(_)) | Err(_) => continue,
                Ok(None) => return Err(Error::Failed("the node watch ended".into())),
            };
            let name = node.metadata.name.clone().unwrap_or_default();
            let new_enough = node
                .metadata
                .creation_timestamp
                .as_ref()
                .is_some_and(|t| t.0.as_second() >= since.timestamp() - 1);
            let ready = node.status.as_ref().is_some_and(|s| {
                s.conditions
                    .as_ref()
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            });
            let schedulable = node.spec.as_ref().and_then(|s| s.unschedulable) != Some(true);
            if !new_enough || !ready || !schedulable || old.contains(&name) {
                continue;
            }
            let mut claimed = claimed.lock().expect("claimed lock");
            if claimed.insert(name.clone()) {
                return Ok(name);
            }
        }
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(r) => r,
        Err(_) => Err(Error::TimedOut {
            after: humantime::format_duration(timeout).to_string(),
            what: format!(
                "no new Ready node joined pool `{pool}`; check the autoscaler, or raise --wait-replacement"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(provider: &str) -> LeanNode {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "gke-a-1", "labels": {ZONE_LABEL: "label-zone"}},
            "spec": {"providerID": provider}
        }))
        .unwrap()
    }

    #[test]
    fn provider_ids_of_the_three_clouds() {
        let g = instance(&node("gce://my-proj/europe-west2-a/gke-a-1"));
        assert_eq!(
            (g.project.as_str(), g.zone.as_str(), g.instance_id.as_str()),
            ("my-proj", "europe-west2-a", "gke-a-1")
        );
        let a = instance(&node("aws:///eu-west-1b/i-0abc"));
        assert_eq!(
            (a.zone.as_str(), a.instance_id.as_str()),
            ("eu-west-1b", "i-0abc")
        );
        let z = instance(&node(
            "azure:///subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/vmss/virtualMachines/3",
        ));
        assert_eq!(
            (z.project.as_str(), z.instance_id.as_str(), z.zone.as_str()),
            ("sub-1", "3", "label-zone")
        );
    }

    #[test]
    fn template_is_split_before_values_are_filled() {
        let Terminate::Command { template } = Terminate::from_template(
            "gcloud compute instances delete {instance_id} --zone '{zone}' --project={project}",
        )
        .unwrap() else {
            panic!()
        };
        let mut n = node("gce://p/z/evil; rm -rf ~");
        n.metadata.name = "x".into();
        let argv = fill(&template, &n).unwrap();
        assert_eq!(argv.len(), 8);
        assert_eq!(argv[4], "evil; rm -rf ~", "a value stays one word");
        assert_eq!(argv[6], "z");
        assert_eq!(argv[7], "--project=p");
        assert!(Terminate::from_template("echo 'unbalanced").is_err());
        for empty in ["", "   ", "''"] {
            let e = Terminate::from_template(empty).unwrap_err().to_string();
            assert!(
                e.starts_with("--terminate names no command") && !e.contains("unbalanced"),
                "{empty:?}: {e}"
            );
        }
    }

    #[test]
    fn values_are_filled_once_and_never_as_options() {
        let template: Vec<String> = ["del", "{instance_id}", "--zone={zone}"]
            .map(String::from)
            .to_vec();
        let mut n = node("gce://p/{zone}/{project}");
        n.metadata.name = "x".into();
        let argv = fill(&template, &n).unwrap();
        assert_eq!(argv, ["del", "{project}", "--zone={zone}"]);
        let n = node("gce://p/z/--impersonate-service-account=x");
        let e = fill(&template, &n).unwrap_err().to_string();
        assert!(
            e.contains("instance_id `--impersonate-service-account=x` starts with `-`"),
            "{e}"
        );
        assert!(e.starts_with("node `"), "{e}");
    }
}
