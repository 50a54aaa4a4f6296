//! Which workloads use a Secret, how, and whether they must be restarted to
//! see new values: read from each pod template, never guessed from names.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Container, PodSpec, Secret};
use kube::Api;
use kube::api::ListParams;
use serde::Serialize;

use crate::cluster::{Cluster, api_error};
use crate::error::Result;
use crate::workloads::{Kind, WorkloadRef};

/// One way a pod template uses the Secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub(crate) enum Use {
    /// `env[].valueFrom.secretKeyRef`, with the keys read.
    Env {
        container: String,
        keys: Vec<String>,
    },
    /// `envFrom[].secretRef`: every key becomes a variable.
    EnvFrom { container: String },
    /// A `secret` volume; `sub_path` when a container mounts part of it
    /// with `subPath` (the kubelet never refreshes such a mount).
    Volume { volume: String, sub_path: bool },
    /// A `projected` volume with the Secret among its sources.
    Projected { volume: String, sub_path: bool },
    /// `imagePullSecrets`: read when an image is pulled.
    ImagePullSecret,
}

impl Use {
    /// Whether running pods keep the old values until they are replaced.
    pub(crate) fn needs_restart(&self) -> bool {
        match self {
            Use::Env { .. } | Use::EnvFrom { .. } => true,
            Use::Volume { sub_path, .. } | Use::Projected { sub_path, .. } => *sub_path,
            Use::ImagePullSecret => false,
        }
    }

    /// Whether a rotation that changes `changed` (added, changed or removed
    /// keys) reaches running pods through this use only by a restart: an
    /// `env` entry only when it reads one of those keys.
    fn restart_for(&self, changed: &[&str]) -> bool {
        match self {
            Use::Env { keys, .. } => keys.iter().any(|k| changed.contains(&k.as_str())),
            other => other.needs_restart(),
        }
    }

    /// The use in words, as the plan and `secret consumers` show it.
    pub(crate) fn describe(&self) -> String {
        match self {
            Use::Env { container, keys } => {
                format!("env of `{container}` ({})", keys.join(", "))
            }
            Use::EnvFrom { container } => format!("envFrom of `{container}` (every key)"),
            Use::Volume { volume, sub_path } => {
                format!("secret volume `{volume}`{}", sub_path_note(*sub_path))
            }
            Use::Projected { volume, sub_path } => {
                format!("projected volume `{volume}`{}", sub_path_note(*sub_path))
            }
            Use::ImagePullSecret => "imagePullSecrets".into(),
        }
    }
}

fn sub_path_note(sub_path: bool) -> &'static str {
    if sub_path {
        " mounted with subPath"
    } else {
        ""
    }
}

/// A workload whose pod template uses the Secret.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Consumer {
    /// deployment, statefulset, daemonset or cronjob.
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub uses: Vec<Use>,
    /// Whether its pods must be replaced to see new values.
    pub restart: bool,
    /// Why, or why not, in words.
    pub why: String,
}

impl Consumer {
    /// This consumer for a rotation that changes `changed`: a workload whose
    /// pods read, as environment variables, only keys the rotation leaves
    /// alone keeps running, and says why.
    pub(crate) fn for_changes(mut self, changed: &[&str]) -> Consumer {
        if self.restart && !self.uses.iter().any(|u| u.restart_for(changed)) {
            self.restart = false;
            let mut read: Vec<String> = self
                .uses
                .iter()
                .filter_map(|u| match u {
                    Use::Env { keys, .. } => Some(keys.iter().map(|k| format!("`{k}`"))),
                    _ => None,
                })
                .flatten()
                .collect();
            read.sort();
            read.dedup();
            self.why = format!(
                "its environment reads only {}, which this rotation leaves unchanged",
                read.join(", ")
            );
        }
        self
    }

    /// `kind/name`, as plans name workloads.
    pub(crate) fn target(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    /// The workload to restart (None for a CronJob, whose next run reads
    /// the Secret afresh).
    pub(crate) fn workload(&self) -> Option<WorkloadRef> {
        let kind = Kind::parse(&self.kind)?;
        Some(WorkloadRef::new(kind, &self.namespace, &self.name))
    }

    fn new(kind: &str, namespace: &str, name: &str, uses: Vec<Use>) -> Consumer {
        let cronjob = kind == "cronjob";
        let restart = !cronjob && uses.iter().any(Use::needs_restart);
        let why = if cronjob {
            "its next run reads the new values".to_string()
        } else if restart {
            "running pods keep the old values until they are replaced".to_string()
        } else if uses.iter().all(|u| *u == Use::ImagePullSecret) {
            "only pulls images with it: the next pull uses the new values".to_string()
        } else {
            "the kubelet refreshes the mounted files within about a minute".to_string()
        };
        Consumer {
            kind: kind.to_string(),
            name: name.to_string(),
            namespace: namespace.to_string(),
            uses,
            restart,
            why,
        }
    }
}

/// Every Deployment, StatefulSet, DaemonSet and CronJob in `namespace`
/// whose pod template uses Secret `secret`, by kind then name.
pub(crate) async fn find(
    cluster: &Cluster,
    namespace: &str,
    secret: &str,
) -> Result<Vec<Consumer>> {
    let client = &cluster.client;
    let lp = ListParams::default();
    let err = |e, what: &str| api_error(e, &cluster.url, &format!("list {what}"));
    let mut out = Vec::new();
    let mut add = |kind: &str, name: Option<String>, spec: Option<&PodSpec>| {
        let uses = spec.map(|s| uses_of(s, secret)).unwrap_or_default();
        if !uses.is_empty() {
            out.push(Consumer::new(
                kind,
                namespace,
                &name.unwrap_or_default(),
                uses,
            ));
        }
    };
    let deployments = Api::<Deployment>::namespaced(client.clone(), namespace)
        .list(&lp)
        .await
        .map_err(|e| err(e, "deployments"))?;
    for d in deployments {
        let spec = d.spec.as_ref().and_then(|s| s.template.spec.as_ref());
        add("deployment", d.metadata.name.clone(), spec);
    }
    let statefulsets = Api::<StatefulSet>::namespaced(client.clone(), namespace)
        .list(&lp)
        .await
        .map_err(|e| err(e, "statefulsets"))?;
    for s in statefulsets {
        let spec = s.spec.as_ref().and_then(|s| s.template.spec.as_ref());
        add("statefulset", s.metadata.name.clone(), spec);
    }
    let daemonsets = Api::<DaemonSet>::namespaced(client.clone(), namespace)
        .list(&lp)
        .await
        .map_err(|e| err(e, "daemonsets"))?;
    for d in daemonsets {
        let spec = d.spec.as_ref().and_then(|s| s.template.spec.as_ref());
        add("daemonset", d.metadata.name.clone(), spec);
    }
    let cronjobs = Api::<CronJob>::namespaced(client.clone(), namespace)
        .list(&lp)
        .await
        .map_err(|e| err(e, "cronjobs"))?;
    for c in cronjobs {
        let spec = c
            .spec
            .as_ref()
            .and_then(|s| s.job_template.spec.as_ref())
            .and_then(|s| s.template.spec.as_ref());
        add("cronjob", c.metadata.name.clone(), spec);
    }
    Ok(out)
}

/// Whether Secret `name` exists in `namespace`: workloads may reference one
/// that does not (their new pods cannot start).
pub(crate) async fn exists(cluster: &Cluster, namespace: &str, name: &str) -> Result<bool> {
    Api::<Secret>::namespaced(cluster.client.clone(), namespace)
        .get_opt(name)
        .await
        .map(|s| s.is_some())
        .map_err(|e| api_error(e, &cluster.url, "get secrets"))
}

/// How one pod spec uses Secret `secret`: containers and init containers
/// (env, envFrom), volumes (with whether any mount of them uses subPath),
/// and imagePullSecrets.
pub(crate) fn uses_of(spec: &PodSpec, secret: &str) -> Vec<Use> {
    let containers: Vec<&Container> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .collect();
    let mut uses = Vec::new();
    for c in &containers {
        let mut keys: Vec<String> = c
            .env
            .iter()
            .flatten()
            .filter_map(|e| e.value_from.as_ref()?.secret_key_ref.as_ref())
            .filter(|r| r.name == secret)
            .map(|r| r.key.clone())
            .collect();
        keys.dedup();
        if !keys.is_empty() {
            uses.push(Use::Env {
                container: c.name.clone(),
                keys,
            });
        }
        let from = c
            .env_from
            .iter()
            .flatten()
            .filter_map(|e| e.secret_ref.as_ref())
            .any(|r| r.name == secret);
        if from {
            uses.push(Use::EnvFrom {
                container: c.name.clone(),
            });
        }
    }
    let sub_path = |volume: &str| {
        containers.iter().any(|c| {
            c.volume_mounts.iter().flatten().any(|m| {
                m.name == volume
                    && (m.sub_path.as_deref().is_some_and(|p| !p.is_empty())
                        || m.sub_path_expr.as_deref().is_some_and(|p| !p.is_empty()))
            })
        })
    };
    for v in spec.volumes.iter().flatten() {
        if v.secret
            .as_ref()
            .is_some_and(|s| s.secret_name.as_deref() == Some(secret))
        {
            uses.push(Use::Volume {
                volume: v.name.clone(),
                sub_path: sub_path(&v.name),
            });
        }
        let projected = v.projected.as_ref().is_some_and(|p| {
            p.sources
                .iter()
                .flatten()
                .any(|s| s.secret.as_ref().is_some_and(|s| s.name == secret))
        });
        if projected {
            uses.push(Use::Projected {
                volume: v.name.clone(),
                sub_path: sub_path(&v.name),
            });
        }
    }
    if spec
        .image_pull_secrets
        .iter()
        .flatten()
        .any(|r| r.name == secret)
    {
        uses.push(Use::ImagePullSecret);
    }
    uses
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn finds_every_use_and_whether_it_needs_a_restart() {
        let s = spec(serde_json::json!({
            "containers": [{"name": "web", "image": "x",
                "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "K"}}},
                        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "other", "key": "K"}}}],
                "envFrom": [{"secretRef": {"name": "s"}}],
                "volumeMounts": [{"name": "certs", "mountPath": "/c"},
                                 {"name": "proj", "mountPath": "/p/f", "subPath": "f"}]}],
            "volumes": [{"name": "certs", "secret": {"secretName": "s"}},
                        {"name": "proj", "projected": {"sources": [{"secret": {"name": "s"}}]}}],
            "imagePullSecrets": [{"name": "s"}]
        }));
        let uses = uses_of(&s, "s");
        assert_eq!(
            uses,
            vec![
                Use::Env {
                    container: "web".into(),
                    keys: vec!["K".into()]
                },
                Use::EnvFrom {
                    container: "web".into()
                },
                Use::Volume {
                    volume: "certs".into(),
                    sub_path: false
                },
                Use::Projected {
                    volume: "proj".into(),
                    sub_path: true
                },
                Use::ImagePullSecret,
            ]
        );
        let needs: Vec<bool> = uses.iter().map(Use::needs_restart).collect();
        assert_eq!(needs, [true, true, false, true, false]);
        assert!(uses_of(&s, "nobody").is_empty());
    }

    #[test]
    fn a_mounted_volume_alone_needs_no_restart_and_a_cronjob_never_does() {
        let mounted = vec![Use::Volume {
            volume: "v".into(),
            sub_path: false,
        }];
        let c = Consumer::new("deployment", "ns", "web", mounted);
        assert!(!c.restart);
        assert!(c.why.contains("kubelet refreshes"), "{}", c.why);
        let env = vec![Use::EnvFrom {
            container: "job".into(),
        }];
        let c = Consumer::new("cronjob", "ns", "nightly", env);
        assert!(!c.restart);
        assert!(c.why.contains("next run"), "{}", c.why);
    }

    #[test]
    fn a_rotation_restarts_an_env_reader_only_for_the_keys_it_reads() {
        let env = |keys: &[&str]| Use::Env {
            container: "web".into(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
        };
        let web = || Consumer::new("deployment", "ns", "web", vec![env(&["API_KEY"])]);
        assert!(web().for_changes(&["API_KEY"]).restart);
        let left = web().for_changes(&["DB_PASS"]);
        assert!(!left.restart);
        assert!(left.why.contains("reads only `API_KEY`"), "{}", left.why);
        // envFrom takes every key, added ones too.
        let all = Consumer::new(
            "deployment",
            "ns",
            "all",
            vec![
                env(&["API_KEY"]),
                Use::EnvFrom {
                    container: "all".into(),
                },
            ],
        );
        assert!(all.for_changes(&["NEW_KEY"]).restart);
    }
}
