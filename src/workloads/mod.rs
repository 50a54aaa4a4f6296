//! Deployments, StatefulSets and DaemonSets: finding them, restarting them
//! the way kubectl does, evicting their broken pods, and following a rollout
//! until it is really finished (or has really failed).
//!
//! Nothing here prints: every function returns data that `commands::workloads`
//! renders, so `promote` and the runbook engine can call the same code.

pub(crate) mod inspect;
pub(crate) mod plan;
pub(crate) mod pods;
pub(crate) mod resolve;
pub(crate) mod restart;
pub(crate) mod status;
pub(crate) mod wait;

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::Api;
use serde::Serialize;

pub(crate) use inspect::inspect;
pub(crate) use wait::{
    RolloutOutcome, RolloutProgress, Verdict, live_pods, wait_for_rollout, wait_for_rollout_from,
};

/// The kinds of workload a restart understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl Kind {
    pub(crate) const ALL: [Kind; 3] = [Kind::Deployment, Kind::StatefulSet, Kind::DaemonSet];

    /// The singular, lower-case name kubectl uses in `kind/name`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Deployment => "deployment",
            Kind::StatefulSet => "statefulset",
            Kind::DaemonSet => "daemonset",
        }
    }

    /// The resource name in URLs.
    pub(crate) fn plural(self) -> &'static str {
        match self {
            Kind::Deployment => "deployments",
            Kind::StatefulSet => "statefulsets",
            Kind::DaemonSet => "daemonsets",
        }
    }

    /// Parses the kind part of `KIND/NAME` as kubectl accepts it: singular,
    /// plural, short name, optionally with the `.apps` group.
    pub(crate) fn parse(text: &str) -> Option<Kind> {
        let lower = text.to_ascii_lowercase();
        let bare = lower
            .strip_suffix(".apps")
            .or_else(|| lower.strip_suffix(".apps/v1"))
            .unwrap_or(&lower);
        match bare {
            "deployment" | "deployments" | "deploy" => Some(Kind::Deployment),
            "statefulset" | "statefulsets" | "sts" => Some(Kind::StatefulSet),
            "daemonset" | "daemonsets" | "ds" => Some(Kind::DaemonSet),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A workload by identity: what a plan names and an outcome reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub(crate) struct WorkloadRef {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl WorkloadRef {
    pub(crate) fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        WorkloadRef {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for WorkloadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// A live workload object of any of the three kinds.
#[derive(Debug, Clone)]
pub(crate) enum Workload {
    Deployment(Deployment),
    StatefulSet(StatefulSet),
    DaemonSet(DaemonSet),
}

impl Workload {
    /// Reads the workload; `None` when it does not exist.
    pub(crate) async fn get(
        client: &kube::Client,
        r: &WorkloadRef,
    ) -> Result<Option<Workload>, kube::Error> {
        Ok(match r.kind {
            Kind::Deployment => Api::<Deployment>::namespaced(client.clone(), &r.namespace)
                .get_opt(&r.name)
                .await?
                .map(Workload::Deployment),
            Kind::StatefulSet => Api::<StatefulSet>::namespaced(client.clone(), &r.namespace)
                .get_opt(&r.name)
                .await?
                .map(Workload::StatefulSet),
            Kind::DaemonSet => Api::<DaemonSet>::namespaced(client.clone(), &r.namespace)
                .get_opt(&r.name)
                .await?
                .map(Workload::DaemonSet),
        })
    }

    pub(crate) fn kind(&self) -> Kind {
        match self {
            Workload::Deployment(_) => Kind::Deployment,
            Workload::StatefulSet(_) => Kind::StatefulSet,
            Workload::DaemonSet(_) => Kind::DaemonSet,
        }
    }

    pub(crate) fn meta(&self) -> &ObjectMeta {
        match self {
            Workload::Deployment(d) => &d.metadata,
            Workload::StatefulSet(s) => &s.metadata,
            Workload::DaemonSet(d) => &d.metadata,
        }
    }

    pub(crate) fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    pub(crate) fn reference(&self) -> WorkloadRef {
        WorkloadRef::new(
            self.kind(),
            self.meta().namespace.as_deref().unwrap_or_default(),
            self.name(),
        )
    }

    /// The pod selector, as in the spec.
    pub(crate) fn selector(&self) -> Option<&LabelSelector> {
        match self {
            Workload::Deployment(d) => d.spec.as_ref().map(|s| &s.selector),
            Workload::StatefulSet(s) => s.spec.as_ref().map(|s| &s.selector),
            Workload::DaemonSet(d) => d.spec.as_ref().map(|s| &s.selector),
        }
    }

    /// The pod selector as a label-selector query string.
    pub(crate) fn selector_string(&self) -> Option<String> {
        let selector = self.selector()?.clone();
        kube::core::Selector::try_from(selector)
            .ok()
            .map(|s| s.to_string())
    }

    /// The labels of the pods the template makes (what a PDB selects).
    pub(crate) fn template_labels(&self) -> BTreeMap<String, String> {
        let template = match self {
            Workload::Deployment(d) => d.spec.as_ref().map(|s| &s.template),
            Workload::StatefulSet(s) => s.spec.as_ref().map(|s| &s.template),
            Workload::DaemonSet(d) => d.spec.as_ref().map(|s| &s.template),
        };
        template
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default()
    }

    /// Whether this is a paused Deployment (a restart would not roll out).
    pub(crate) fn is_paused(&self) -> bool {
        matches!(self, Workload::Deployment(d) if d.spec.as_ref().and_then(|s| s.paused) == Some(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_like_kubectl() {
        assert_eq!(Kind::parse("deploy"), Some(Kind::Deployment));
        assert_eq!(Kind::parse("Deployments.apps"), Some(Kind::Deployment));
        assert_eq!(Kind::parse("sts"), Some(Kind::StatefulSet));
        assert_eq!(Kind::parse("daemonset"), Some(Kind::DaemonSet));
        assert_eq!(Kind::parse("pod"), None);
    }
}
