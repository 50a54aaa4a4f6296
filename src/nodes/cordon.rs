//! Cordon and uncordon with kubectl's semantics, plus a note on the node
//! saying who cordoned it, when and why.

use chrono::{DateTime, Utc};
use kube::api::{Patch, PatchParams};
use serde::Serialize;
use serde_json::json;

use super::lean::LeanNode;
use super::targets::nodes_api;
use crate::cluster::retry::retry;
use crate::cluster::{Cluster, api_error};
use crate::error::Result;

pub const CORDONED_BY: &str = "oncall.dev/cordoned-by";
pub const CORDON_REASON: &str = "oncall.dev/cordon-reason";
pub const CORDONED_AT: &str = "oncall.dev/cordoned-at";
/// The Kubernetes identity that made the cordon (`cordoned-by` is the OS user).
pub const CORDONED_AS: &str = "oncall.dev/cordoned-as";

/// Who cordoned a node, as recorded in its annotations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CordonNote {
    pub by: String,
    pub at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

/// The taint the node controller adds, with the time it did, when a node is
/// cordoned (by anyone).
const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// How long after oncall's cordon the controller may take to add its taint
/// (it reacts to the node update, usually within a second).
/// A taint added later belongs to a later cordon, by someone else.
const TAINT_LAG: chrono::Duration = chrono::Duration::seconds(10);

impl CordonNote {
    /// The note oncall left about the node's current cordon, or `None` when
    /// the node was cordoned some other way. A note left behind by a cordon
    /// that `kubectl uncordon` undid (kubectl keeps annotations) describes
    /// an older cordon than the current one and is ignored: the controller's
    /// `unschedulable` taint dates the current cordon.
    pub fn read(node: &LeanNode) -> Option<CordonNote> {
        let a = &node.metadata.annotations;
        let note = CordonNote {
            by: a.get(CORDONED_BY)?.clone(),
            at: a
                .get(CORDONED_AT)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
            reason: a.get(CORDON_REASON).cloned(),
        };
        let current_since = node
            .spec
            .taints
            .iter()
            .find(|t| t.key == UNSCHEDULABLE_TAINT)
            .and_then(|t| t.time_added);
        match (note.at, current_since) {
            (Some(at), Some(since)) if since > at + TAINT_LAG => None,
            _ => Some(note),
        }
    }

    pub fn describe(&self) -> String {
        let mut s = format!("by {}", self.by);
        if let Some(at) = self.at {
            s.push_str(&format!(" at {}", at.format("%Y-%m-%d %H:%M UTC")));
        }
        if let Some(r) = &self.reason {
            s.push_str(&format!(": {r}"));
        }
        s
    }
}

/// What uncordon will do with one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum UncordonDecision {
    Uncordon,
    /// Not cordoned: nothing to do.
    NotCordoned,
    /// Cordoned by someone else or another tool; `--force` overrides.
    Refuse {
        why: String,
    },
}

/// Decides whether `user` may uncordon `node`.
pub fn uncordon_decision(node: &LeanNode, user: &str, force: bool) -> UncordonDecision {
    if !node.is_cordoned() {
        return UncordonDecision::NotCordoned;
    }
    if force {
        return UncordonDecision::Uncordon;
    }
    match CordonNote::read(node) {
        Some(note) if note.by == user => UncordonDecision::Uncordon,
        Some(note) => UncordonDecision::Refuse {
            why: format!("cordoned {}; pass --force to undo it", note.describe()),
        },
        None => UncordonDecision::Refuse {
            why: "cordoned by another tool or by hand (no oncall note); pass --force to undo it"
                .into(),
        },
    }
}

/// Marks the node unschedulable and records who, when and why.
pub async fn cordon(cluster: &Cluster, node: &str, user: &str, reason: Option<&str>) -> Result<()> {
    let patch = json!({
        "metadata": {"annotations": {
            CORDONED_BY: user,
            CORDONED_AS: cluster.identity().await,
            CORDONED_AT: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            CORDON_REASON: reason,
        }},
        "spec": {"unschedulable": true}
    });
    patch_node(cluster, node, &patch, "patch nodes").await
}

/// Makes the node schedulable again. Like kubectl, it removes the field
/// (`null`), rather than setting `false`, and it forgets the note.
pub async fn uncordon(cluster: &Cluster, node: &str) -> Result<()> {
    let patch = json!({
        "metadata": {"annotations": {CORDONED_BY: null, CORDONED_AS: null, CORDONED_AT: null, CORDON_REASON: null}},
        "spec": {"unschedulable": null}
    });
    patch_node(cluster, node, &patch, "patch nodes").await
}

async fn patch_node(
    cluster: &Cluster,
    node: &str,
    patch: &serde_json::Value,
    doing: &str,
) -> Result<()> {
    let api = nodes_api(cluster);
    let params = PatchParams::default();
    let patch = Patch::Merge(patch);
    retry(|| api.patch(node, &params, &patch))
        .await
        .map(|_| ())
        .map_err(|e| api_error(e, &cluster.url, doing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_older_than_the_current_cordon_is_ignored() {
        let at = "2026-12-01T10:00:00Z";
        let with_taint = |added: &str| -> LeanNode {
            serde_json::from_value(json!({
                "metadata": {"name": "n1", "annotations": {
                    CORDONED_BY: "alice", CORDONED_AT: at, CORDON_REASON: "disk"}},
                "spec": {"unschedulable": true, "taints": [
                    {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule", "timeAdded": added}]}
            }))
            .unwrap()
        };
        // The controller tainted the node as oncall cordoned it: the note holds.
        assert!(CordonNote::read(&with_taint("2026-12-01T10:00:03Z")).is_some());
        // kubectl uncordon, then a later kubectl cordon: the note is stale.
        let later = with_taint("2026-12-01T12:00:00Z");
        assert!(CordonNote::read(&later).is_none());
        assert!(matches!(
            uncordon_decision(&later, "alice", false),
            UncordonDecision::Refuse { .. }
        ));
    }

    fn node(cordoned: bool, by: Option<&str>) -> LeanNode {
        let mut annotations = serde_json::Map::new();
        if let Some(by) = by {
            annotations.insert(CORDONED_BY.into(), by.into());
            annotations.insert(CORDON_REASON.into(), "disk".into());
        }
        serde_json::from_value(json!({
            "metadata": {"name": "n1", "annotations": annotations},
            "spec": {"unschedulable": cordoned}
        }))
        .unwrap()
    }

    #[test]
    fn uncordon_respects_other_peoples_cordons() {
        assert_eq!(
            uncordon_decision(&node(false, None), "me", false),
            UncordonDecision::NotCordoned
        );
        assert_eq!(
            uncordon_decision(&node(true, Some("me")), "me", false),
            UncordonDecision::Uncordon
        );
        let UncordonDecision::Refuse { why } =
            uncordon_decision(&node(true, Some("alice")), "me", false)
        else {
            panic!("must refuse")
        };
        assert!(why.contains("alice") && why.contains("disk") && why.contains("--force"));
        assert!(matches!(
            uncordon_decision(&node(true, None), "me", false),
            UncordonDecision::Refuse { .. }
        ));
        assert_eq!(
            uncordon_decision(&node(true, None), "me", true),
            UncordonDecision::Uncordon
        );
    }
}
