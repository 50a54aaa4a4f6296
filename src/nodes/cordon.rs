//! Cordon and uncordon with kubectl's semantics, plus a note on the node
//! saying who cordoned it, when and why.

use kube::api::{Patch, PatchParams};
use serde::Serialize;
use serde_json::json;

use super::lean::LeanNode;
use super::plan;
use super::targets::nodes_api;
use crate::cluster::retry::retry;
use crate::cluster::{Cluster, api_error};
use crate::error::{Error, Result};
use crate::safety::each::{EachOutcome, Objects};
use crate::safety::note::{Note, NoteKeys, undo_refusal};
use crate::safety::{OpCtx, Plan};

pub(crate) const CORDONED_BY: &str = "oncall.dev/cordoned-by";
pub(crate) const CORDON_REASON: &str = "oncall.dev/cordon-reason";
pub(crate) const CORDONED_AT: &str = "oncall.dev/cordoned-at";
/// The Kubernetes identity that made the cordon (`cordoned-by` is the OS user).
pub(crate) const CORDONED_AS: &str = "oncall.dev/cordoned-as";

/// Where the cordon note is kept.
const NOTE: NoteKeys = NoteKeys {
    by: CORDONED_BY,
    as_: CORDONED_AS,
    at: CORDONED_AT,
    reason: CORDON_REASON,
};

/// The taint the node controller adds, with the time it did, when a node is
/// cordoned (by anyone).
const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// How long after oncall's cordon the controller may take to add its taint
/// (it reacts to the node update, usually within a second).
/// A taint added later belongs to a later cordon, by someone else.
const TAINT_LAG: chrono::Duration = chrono::Duration::seconds(10);

/// The note oncall left about the node's current cordon, or `None` when
/// the node was cordoned some other way. A note left behind by a cordon
/// that `kubectl uncordon` undid (kubectl keeps annotations) describes an
/// older cordon than the current one and is ignored: the controller's
/// `unschedulable` taint dates the current cordon.
pub(crate) fn note(node: &LeanNode) -> Option<Note> {
    let note = NOTE.read(&node.metadata.annotations)?;
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

/// What uncordon will do with one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub(crate) enum UncordonDecision {
    Uncordon,
    /// Not cordoned: nothing to do.
    NotCordoned,
    /// Cordoned by someone else or another tool; `--force` overrides.
    Refuse {
        why: String,
    },
}

/// Decides whether `user` may uncordon `node`.
pub(crate) fn uncordon_decision(node: &LeanNode, user: &str, force: bool) -> UncordonDecision {
    if !node.is_cordoned() {
        return UncordonDecision::NotCordoned;
    }
    match undo_refusal(note(node).as_ref(), user, force, "cordoned", "undo it") {
        None => UncordonDecision::Uncordon,
        Some(why) => UncordonDecision::Refuse { why },
    }
}

/// A cordon or an uncordon, resolved and planned: what `run` changes.
#[derive(Debug, Clone)]
pub(crate) struct CordonJob {
    /// `true` to cordon, `false` to uncordon.
    pub cordon: bool,
    pub reason: Option<String>,
    /// The nodes to change, by name, in order.
    pub todo: Vec<String>,
    /// Nodes left as they are because they already are (cordon only).
    pub already: Vec<String>,
    /// Nodes someone else cordoned, left cordoned (`` `name` why ``).
    pub refused: Vec<String>,
}

impl CordonJob {
    /// `cordoned` or `uncordoned`: what each node done is said to be.
    pub(crate) fn verb(&self) -> &'static str {
        if self.cordon {
            "cordoned"
        } else {
            "uncordoned"
        }
    }

    /// The error for the nodes left cordoned because someone else cordoned
    /// them (none: `Ok`).
    /// The outcome when there was nothing to change.
    pub(crate) fn nothing_done(&self) -> EachOutcome {
        NODES.none(self.verb())
    }

    pub(crate) fn refusal(&self) -> Result<()> {
        if self.refused.is_empty() {
            Ok(())
        } else {
            Err(Error::LeftAsIs {
                state: "cordoned",
                refusals: self.refused.clone(),
            })
        }
    }
}

/// Plans cordoning `nodes` as `user`; those already cordoned are skipped.
pub(crate) fn prepare_cordon(
    cluster: &Cluster,
    nodes: &[LeanNode],
    user: &str,
    reason: Option<&str>,
) -> (CordonJob, Plan) {
    let mut plan = Plan::new("cordon nodes", cluster);
    let todo = plan::plan_cordon(&mut plan, nodes, user, reason);
    let already = nodes
        .iter()
        .map(|n| n.name().to_string())
        .filter(|n| !todo.contains(n))
        .collect();
    let job = CordonJob {
        cordon: true,
        reason: reason.map(str::to_string),
        todo,
        already,
        refused: Vec::new(),
    };
    (job, plan)
}

/// Plans uncordoning `nodes` as `user`, refusing (as a skip with its
/// reason) to undo someone else's cordon without `force`.
pub(crate) fn prepare_uncordon(
    cluster: &Cluster,
    nodes: &[LeanNode],
    user: &str,
    force: bool,
) -> (CordonJob, Plan) {
    let mut plan = Plan::new("uncordon nodes", cluster);
    let mut todo = Vec::new();
    let mut refused = Vec::new();
    for n in nodes {
        let target = format!("node/{}", n.name());
        match uncordon_decision(n, user, force) {
            UncordonDecision::Uncordon => {
                let detail = note(n)
                    .map(|c| format!("was cordoned {}", c.describe()))
                    .unwrap_or_else(|| "was cordoned with no oncall note (--force)".into());
                plan.change(target, "uncordon", detail);
                todo.push(n.name().to_string());
            }
            UncordonDecision::NotCordoned => plan.skip(target, "not cordoned"),
            UncordonDecision::Refuse { why } => {
                plan.skip(target, &why);
                refused.push(format!("`{}` {why}", n.name()));
            }
        }
    }
    let job = CordonJob {
        cordon: false,
        reason: None,
        todo,
        already: Vec::new(),
        refused,
    };
    (job, plan)
}

/// Progress of a cordon or uncordon: one node is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Changed {
    pub node: String,
}

/// Nodes as a cordon's audit entry names and counts them.
const NODES: Objects = Objects {
    kind: "node",
    counted_as: "item(s)",
};

/// Cordons (or uncordons) the planned nodes in order, stopping cleanly
/// between nodes when the context is cancelled.
pub(crate) async fn run(
    cluster: &Cluster,
    job: &CordonJob,
    ctx: &OpCtx<'_, Changed>,
) -> EachOutcome {
    let change = async |name: &str| {
        if job.cordon {
            cordon(cluster, name, ctx.user, job.reason.as_deref()).await
        } else {
            uncordon(cluster, name).await
        }
    };
    let changed = |name: &str| Changed {
        node: name.to_string(),
    };
    NODES
        .change_each(job.verb(), &job.todo, ctx, change, changed)
        .await
}

/// Marks the node unschedulable and records who, when and why.
pub(crate) async fn cordon(
    cluster: &Cluster,
    node: &str,
    user: &str,
    reason: Option<&str>,
) -> Result<()> {
    let patch = json!({
        "metadata": {"annotations": NOTE.write(user, &cluster.identity().await, reason)},
        "spec": {"unschedulable": true}
    });
    patch_node(cluster, node, &patch, "patch nodes").await
}

/// Makes the node schedulable again. Like kubectl, it removes the field
/// (`null`), rather than setting `false`, and it forgets the note.
pub(crate) async fn uncordon(cluster: &Cluster, node: &str) -> Result<()> {
    let patch = json!({
        "metadata": {"annotations": NOTE.clear()},
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
    use crate::nodes::testing::{self, Recorder, TestCluster};
    use crate::safety::{Audited, Cancel, audit};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_cordon_stops_between_nodes_and_says_what_it_did() {
        let t = TestCluster::start(
            &(testing::node("n1") + &testing::node("n2") + &testing::node("n3")),
        )
        .await;
        let nodes = t.nodes(&["n1", "n2", "n3"]).await;
        let (job, plan) = prepare_cordon(&t.cluster, &nodes, "alice", Some("disk"));
        assert_eq!(plan.changes.len(), 3);
        let cancel = Cancel::manual();
        let seen = Recorder::default();
        // Ctrl-C as the first node is done.
        let observer = |c: Changed| {
            cancel.cancel();
            seen.record(c);
        };
        let outcome = run(
            &t.cluster,
            &job,
            &OpCtx::new("alice", cancel.clone(), &observer),
        )
        .await;
        assert_eq!(seen.events(), vec![Changed { node: "n1".into() }]);
        assert_eq!(outcome.done, vec!["n1"]);
        assert_eq!(outcome.not_done, vec!["n2", "n3"]);
        assert!(t.is_cordoned("n1") && !t.is_cordoned("n2") && !t.is_cordoned("n3"));
        let n1 = t.sim.get("nodes", None, "n1").unwrap();
        assert_eq!(n1["metadata"]["annotations"][CORDON_REASON], "disk");
        let record = outcome.audit();
        assert_eq!(record.status, audit::Status::Interrupted);
        assert_eq!(record.done, vec!["node/n1"]);
        assert_eq!(record.not_done, vec!["node/n2", "node/n3"]);
        assert!(
            record.detail.contains("node/n2, node/n3"),
            "{}",
            record.detail
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn uncordon_undoes_only_its_own_users_cordons() {
        let t = TestCluster::start(&(testing::node("n1") + &testing::node("n2"))).await;
        let ctx_as =
            |user: &'static str| OpCtx::new(user, Cancel::manual(), &crate::safety::op::ignore);
        let (mine, _) = prepare_cordon(&t.cluster, &t.nodes(&["n1"]).await, "alice", None);
        let (theirs, _) = prepare_cordon(&t.cluster, &t.nodes(&["n2"]).await, "bob", None);
        run(&t.cluster, &mine, &ctx_as("alice"))
            .await
            .result
            .unwrap();
        run(&t.cluster, &theirs, &ctx_as("bob"))
            .await
            .result
            .unwrap();
        let nodes = t.nodes(&["n1", "n2"]).await;
        let (job, plan) = prepare_uncordon(&t.cluster, &nodes, "alice", false);
        assert_eq!(job.todo, vec!["n1"]);
        assert_eq!(plan.skipped.len(), 1);
        let outcome = run(&t.cluster, &job, &ctx_as("alice")).await;
        assert_eq!(outcome.audit().detail, "uncordoned 1 item(s)");
        assert!(!t.is_cordoned("n1") && t.is_cordoned("n2"));
        let err = job.refusal().unwrap_err().to_string();
        assert!(
            err.contains("`n2` cordoned by bob") && err.contains("--force"),
            "{err}"
        );
    }

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
        assert!(note(&with_taint("2026-12-01T10:00:03Z")).is_some());
        // kubectl uncordon, then a later kubectl cordon: the note is stale.
        let later = with_taint("2026-12-01T12:00:00Z");
        assert!(note(&later).is_none());
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
        assert_eq!(
            uncordon_decision(&node(true, Some("alice")), "me", false),
            UncordonDecision::Refuse {
                why: "cordoned by alice: disk; pass --force to undo it".into()
            }
        );
        assert_eq!(
            uncordon_decision(&node(true, None), "me", true),
            UncordonDecision::Uncordon
        );
    }
}
