//! Stuck pods grouped by cause and node, then owner, each group with a
//! runnable next action: 300 pods in ContainerCreating are one broken node,
//! not 300 problems.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::classify::Category;
use super::report::{Cause, StuckPod};
use crate::suggest;

/// Pods on one node failing the same way for at least this many pods point
/// at the node rather than at the pods.
const NODE_SUSPECT: usize = 3;

/// Pods that are stuck for the same reason in the same place.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Group {
    pub category: Category,
    /// kubectl's STATUS of the group's oldest pod.
    pub status: String,
    /// The short cause shared by the group (from its oldest pod).
    pub reason: String,
    /// What it means and why, in a sentence.
    pub message: String,
    /// The node, for causes that live on a node (sandbox, node down,
    /// deletions the kubelet does not finish).
    pub node: Option<String>,
    /// The namespace, for causes that live in a workload.
    pub namespace: Option<String>,
    /// Owners of the pods (`namespace/kind/name`, or `namespace/<none>`) and how many pods each.
    pub owners: Vec<OwnerCount>,
    /// How many pods.
    pub count: usize,
    /// When the oldest pod of the group got stuck.
    pub since: DateTime<Utc>,
    /// The next action, runnable as it is.
    pub suggestion: String,
    /// The pods, `namespace/name`, oldest first.
    pub pods: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct OwnerCount {
    pub owner: String,
    pub count: usize,
}

/// Where a cause lives: a node, or a workload.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    Node(String),
    Namespace(String),
    Workload {
        namespace: String,
        owner: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    category: Category,
    cause: Cause,
    place: Place,
}

fn key(pod: &StuckPod) -> Key {
    let node = pod.node.clone().unwrap_or_default();
    let place = match (&pod.cause, pod.category) {
        (Cause::Sandbox | Cause::NodeDown | Cause::KubeletSlow, _) if !node.is_empty() => {
            Place::Node(node)
        }
        (_, Category::NodeNotReady) if !node.is_empty() => Place::Node(node),
        // Cleaning up leftovers is done a namespace at a time.
        (Cause::Evicted { .. }, _) => Place::Namespace(pod.namespace.clone()),
        _ => Place::Workload {
            namespace: pod.namespace.clone(),
            owner: pod.owner.clone(),
        },
    };
    // Group by the kind of exit, not by every message detail.
    let cause = match &pod.cause {
        Cause::Finalizers(_) => Cause::Finalizers(Vec::new()),
        c => c.clone(),
    };
    Key {
        category: pod.category,
        cause,
        place,
    }
}

/// What the suggestions need to know beyond the pods.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Advice {
    /// The config names a terminate command for this cluster, so
    /// `node replace` needs no `--delete-node`.
    pub terminate_configured: bool,
}

/// Seconds a suggested replace waits for a pod on a dead node before it goes
/// on: its kubelet will never confirm the deletion.
const DEAD_NODE_SKIP_WAIT: u64 = 60;

/// Groups the pods (in place: each pod gets its suggestion) and returns the
/// groups, biggest and oldest first.
pub(crate) fn group(pods: &mut [StuckPod], advice: Advice) -> Vec<Group> {
    let mut by_key: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    for (i, p) in pods.iter().enumerate() {
        by_key.entry(key(p)).or_default().push(i);
    }
    let mut groups = Vec::with_capacity(by_key.len());
    for (key, mut members) in by_key {
        members.sort_by(|a, b| {
            pods[*a]
                .since
                .cmp(&pods[*b].since)
                .then(pods[*a].name.cmp(&pods[*b].name))
        });
        let count = members.len();
        for &i in &members {
            pods[i].suggestion = suggest(&pods[i], count, advice);
        }
        let first = &pods[members[0]];
        let mut owners: BTreeMap<String, usize> = BTreeMap::new();
        for &i in &members {
            let p = &pods[i];
            let owner = format!("{}/{}", p.namespace, p.owner.as_deref().unwrap_or("<none>"));
            *owners.entry(owner).or_default() += 1;
        }
        let mut owners: Vec<OwnerCount> = owners
            .into_iter()
            .map(|(owner, count)| OwnerCount { owner, count })
            .collect();
        owners.sort_by(|a, b| b.count.cmp(&a.count).then(a.owner.cmp(&b.owner)));
        let (node, namespace) = match &key.place {
            Place::Node(n) => (Some(n.clone()).filter(|n| !n.is_empty()), None),
            Place::Namespace(ns) | Place::Workload { namespace: ns, .. } => {
                (first.node.clone().filter(|_| count == 1), Some(ns.clone()))
            }
        };
        groups.push(Group {
            category: key.category,
            status: first.status.clone(),
            reason: first.reason.clone(),
            message: group_message(first, count),
            node,
            namespace,
            owners,
            count,
            since: first.since,
            suggestion: group_suggestion(first, count, advice),
            pods: members
                .iter()
                .map(|&i| format!("{}/{}", pods[i].namespace, pods[i].name))
                .collect(),
        });
    }
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.since.cmp(&b.since)));
    groups
}

fn group_message(first: &StuckPod, count: usize) -> String {
    match &first.cause {
        Cause::Sandbox if count >= NODE_SUSPECT => format!(
            "sandbox creation is failing on this node: its container runtime or CNI is broken ({})",
            first.evidence.iter().find(|e| e.reason == "FailedCreatePodSandBox").map(|e| e.message.as_str()).unwrap_or("")
        ),
        Cause::KubeletSlow if count >= NODE_SUSPECT => {
            "the kubelet on this node does not finish deletions: it or the container runtime is stuck".into()
        }
        _ => first.message.clone(),
    }
}

/// The next action for a whole group, when one command covers it.
fn group_suggestion(first: &StuckPod, count: usize, advice: Advice) -> String {
    let node = first.node.as_deref().unwrap_or("");
    match (&first.cause, first.category) {
        (Cause::NodeDown, _) if node_gone(first) => suggest::kubectl(&format!(
            "delete pods --all-namespaces --field-selector spec.nodeName={node} --grace-period=0 --force --dry-run=server"
        )),
        (Cause::Evicted { .. }, _) if count > 1 => suggest::kubectl(&format!(
            "-n {} delete pods --field-selector=status.phase=Failed --dry-run=server",
            first.namespace
        )),
        _ => suggest(first, count, advice),
    }
}

fn node_gone(p: &StuckPod) -> bool {
    p.evidence
        .iter()
        .any(|e| e.source == "node" && e.reason == "NotFound")
        || p.message.contains("is gone")
}

/// The next action for one pod, given how many pods share its group.
/// Anything that changes the cluster is suggested with a dry run: pasted
/// as it is, it shows what it would do; without the flag, it does it.
pub(crate) fn suggest(p: &StuckPod, group_size: usize, advice: Advice) -> String {
    let ns = &p.namespace;
    let name = &p.name;
    let container = p
        .container
        .as_deref()
        .map(|c| format!(" -c {c}"))
        .unwrap_or_default();
    let kubectl = |args: String| suggest::kubectl(&format!("-n {ns} {args}"));
    let describe = kubectl(format!("describe pod {name}"));
    let force_delete = kubectl(format!(
        "delete pod {name} --grace-period=0 --force --dry-run=server"
    ));
    match &p.cause {
        Cause::NodeDown if node_gone(p) => force_delete,
        // The kubelet is gone or stuck: it will never confirm a deletion.
        Cause::NodeDown => replace_node(p, advice, true),
        Cause::Sandbox => replace_node(p, advice, false),
        Cause::KubeletSlow if group_size >= NODE_SUSPECT => replace_node(p, advice, true),
        Cause::KubeletSlow => force_delete,
        Cause::Finalizers(_) => kubectl(format!(
            "patch pod {name} --type=merge -p '{{\"metadata\":{{\"finalizers\":null}}}}' --dry-run=server"
        )),
        Cause::Evicted { .. } => kubectl(format!("delete pod {name} --dry-run=server")),
        Cause::Exit { .. } if p.category == Category::Failed => {
            kubectl(format!("logs {name}{container}"))
        }
        Cause::Exit { .. } => kubectl(format!("logs {name}{container} --previous")),
        Cause::InitRunning => kubectl(format!("logs {name}{container}")),
        Cause::ImagePull => match rollout_target(p) {
            // `rollout undo` fails with "no rollout history found" when the
            // workload has a single revision: only suggest it when there is
            // an earlier one to go back to.
            Some(target) if image_missing(p) && p.revisions.is_some_and(|r| r > 1) => {
                kubectl(format!("rollout undo {target} --dry-run=server"))
            }
            Some(target) => kubectl(format!("describe {}", target.replacen('/', " ", 1))),
            None => describe,
        },
        Cause::Missing {
            kind,
            name: object,
            key: Some(_),
        } => kubectl(format!("describe {} {object}", kind.to_lowercase())),
        Cause::Missing { kind, .. } => kubectl(format!("get {}s", kind.to_lowercase())),
        Cause::Mount { .. } => describe,
        _ => describe,
    }
}

/// `node replace` as it runs: with the terminate method (the config's, or
/// deleting the Node object), DaemonSet pods left to die with the node, and,
/// when the kubelet cannot confirm deletions, a limit on waiting for them.
fn replace_node(p: &StuckPod, advice: Advice, dead_kubelet: bool) -> String {
    let node = p.node.as_deref().unwrap_or("");
    let mut args = format!("node replace {node} --ignore-daemonsets");
    if !advice.terminate_configured {
        args.push_str(" --delete-node");
    }
    if dead_kubelet {
        args.push_str(&format!(
            " --skip-wait-for-delete-timeout {DEAD_NODE_SKIP_WAIT}"
        ));
    }
    args.push_str(" --dry-run");
    suggest::oncall(&args)
}

/// The image or tag does not exist (as opposed to an auth or network failure).
fn image_missing(p: &StuckPod) -> bool {
    let says = |s: &str| {
        let s = s.to_lowercase();
        s.contains("not found")
            || s.contains("manifest unknown")
            || s.contains("invalid reference format")
    };
    p.reason == "InvalidImageName"
        || says(&p.message)
        || p.evidence.iter().any(|e| says(&e.message))
}

/// A workload `kubectl rollout undo` understands.
fn rollout_target(p: &StuckPod) -> Option<String> {
    let owner = p.owner.as_deref()?;
    ["deployment/", "statefulset/", "daemonset/"]
        .iter()
        .any(|k| owner.starts_with(k))
        .then(|| owner.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::report::Evidence;

    fn stuck(name: &str, node: &str, owner: &str, category: Category, cause: Cause) -> StuckPod {
        StuckPod {
            namespace: "shop".into(),
            name: name.into(),
            node: Some(node.into()),
            owner: Some(owner.into()),
            status: "ContainerCreating".into(),
            ready: "0/1".into(),
            restarts: 0,
            category,
            since: "2024-06-01T12:00:00Z".parse().unwrap(),
            age_seconds: 600,
            reason: "FailedCreatePodSandBox".into(),
            message: "m".into(),
            evidence: vec![Evidence::new(
                "event",
                "FailedCreatePodSandBox",
                "rpc error: context deadline exceeded",
            )],
            suggestion: String::new(),
            container: Some("app".into()),
            revisions: None,
            uid: name.into(),
            cause,
        }
    }

    #[test]
    fn sandbox_failures_group_by_node_across_owners() {
        let mut pods = vec![
            stuck(
                "a-1",
                "n1",
                "deployment/a",
                Category::ContainerCreating,
                Cause::Sandbox,
            ),
            stuck(
                "b-1",
                "n1",
                "deployment/b",
                Category::ContainerCreating,
                Cause::Sandbox,
            ),
            stuck(
                "a-2",
                "n1",
                "deployment/a",
                Category::ContainerCreating,
                Cause::Sandbox,
            ),
            stuck(
                "c-1",
                "n2",
                "deployment/c",
                Category::CrashLoop,
                Cause::Exit {
                    code: 1,
                    reason: "Error".into(),
                },
            ),
        ];
        let groups = group(&mut pods, Advice::default());
        assert_eq!(groups.len(), 2);
        let g = &groups[0];
        assert_eq!(g.count, 3);
        assert_eq!(g.node.as_deref(), Some("n1"));
        assert_eq!(
            g.suggestion,
            "oncall node replace n1 --ignore-daemonsets --delete-node --dry-run"
        );
        assert_eq!(g.owners[0].owner, "shop/deployment/a");
        assert_eq!(g.owners[0].count, 2);
        assert!(
            g.message.contains("container runtime or CNI is broken"),
            "{}",
            g.message
        );
        assert_eq!(
            groups[1].suggestion,
            "kubectl -n shop logs c-1 -c app --previous"
        );
        assert!(pods.iter().all(|p| !p.suggestion.is_empty()));
    }

    #[test]
    fn suggestions_follow_the_cause() {
        let one = |category, cause| {
            let mut pods = vec![stuck("p", "n1", "deployment/web", category, cause)];
            group(&mut pods, Advice::default())[0].suggestion.clone()
        };
        let missing_secret_db = |key: Option<&str>| {
            let cause = Cause::Missing {
                kind: "Secret".into(),
                name: "db".into(),
                key: key.map(Into::into),
            };
            one(Category::ConfigError, cause)
        };
        // The whole Secret is missing: list them; only a key: look at it.
        assert_eq!(missing_secret_db(None), "kubectl -n shop get secrets");
        assert_eq!(
            missing_secret_db(Some("pw")),
            "kubectl -n shop describe secret db"
        );
        assert_eq!(
            one(Category::NodeNotReady, Cause::NodeDown),
            "oncall node replace n1 --ignore-daemonsets --delete-node --skip-wait-for-delete-timeout 60 --dry-run"
        );
        assert_eq!(
            one(Category::Terminating, Cause::KubeletSlow),
            "kubectl -n shop delete pod p --grace-period=0 --force --dry-run=server"
        );
        assert_eq!(
            one(
                Category::Failed,
                Cause::Exit {
                    code: 2,
                    reason: "Error".into()
                }
            ),
            "kubectl -n shop logs p -c app"
        );
        assert_eq!(
            one(Category::CrashLoop, Cause::OomKilled),
            "kubectl -n shop describe pod p"
        );
        assert!(
            one(Category::Terminating, Cause::Finalizers(vec!["x".into()]))
                .contains("\"finalizers\":null")
        );
        let mut pull = stuck(
            "p",
            "n1",
            "deployment/web",
            Category::ImagePull,
            Cause::ImagePull,
        );
        pull.message = "failed to resolve reference \"web:nope\": not found".into();
        // One revision only: `rollout undo` would fail, so look at the workload.
        pull.revisions = Some(1);
        assert_eq!(
            suggest(&pull, 1, Advice::default()),
            "kubectl -n shop describe deployment web"
        );
        pull.revisions = Some(2);
        assert_eq!(
            suggest(&pull, 1, Advice::default()),
            "kubectl -n shop rollout undo deployment/web --dry-run=server"
        );
        let sandbox = stuck(
            "p",
            "n1",
            "deployment/web",
            Category::ContainerCreating,
            Cause::Sandbox,
        );
        assert_eq!(
            suggest(
                &sandbox,
                1,
                Advice {
                    terminate_configured: true
                }
            ),
            "oncall node replace n1 --ignore-daemonsets --dry-run"
        );
    }

    #[test]
    fn evicted_leftovers_are_cleaned_per_namespace() {
        let cause = || Cause::Evicted {
            reason: "Evicted".into(),
        };
        let mut pods = vec![
            stuck("a", "n1", "deployment/a", Category::Evicted, cause()),
            stuck("b", "n2", "deployment/b", Category::Evicted, cause()),
        ];
        let groups = group(&mut pods, Advice::default());
        assert_eq!(groups.len(), 1);
        assert_eq!(
            groups[0].suggestion,
            "kubectl -n shop delete pods --field-selector=status.phase=Failed --dry-run=server"
        );
        assert_eq!(
            pods[0].suggestion,
            "kubectl -n shop delete pod a --dry-run=server"
        );
    }
}
