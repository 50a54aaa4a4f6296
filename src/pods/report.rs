//! What `pods stuck` returns: documented, serde-serializable types that the
//! command renders and `-o json|yaml` prints as they are.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::classify::Category;
use super::group::Group;

/// The whole answer of one `pods stuck` run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// What was looked at.
    pub scope: Scope,
    /// When the report was made (RFC 3339, UTC).
    pub checked_at: DateTime<Utc>,
    /// How many pods were examined.
    pub pods_checked: u64,
    /// How many of them are stuck (the length of `pods`).
    pub stuck: usize,
    /// Requests sent to the API server: the connection check and every page
    /// of every list. It does not grow with the number of stuck pods.
    pub api_requests: u64,
    /// Things that limited the report, e.g. no permission to list nodes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Stuck pods grouped by cause and node, then owner; biggest group first.
    pub groups: Vec<Group>,
    /// Every stuck pod, one entry each.
    pub pods: Vec<StuckPod>,
}

/// Which pods were examined.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Scope {
    /// The namespace, or null for all namespaces.
    pub namespace: Option<String>,
    /// Only pods on this node.
    pub node: Option<String>,
    /// Only pods matching this label selector.
    pub selector: Option<String>,
    /// The `--older-than` override, in seconds, when given.
    pub older_than_seconds: Option<u64>,
}

/// One stuck pod.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StuckPod {
    pub namespace: String,
    pub name: String,
    /// The node it is bound to, or null when not scheduled.
    pub node: Option<String>,
    /// The controller that owns it, as `kind/name` (a ReplicaSet is named by
    /// its Deployment), or null for a bare pod.
    pub owner: Option<String>,
    /// kubectl's STATUS column for this pod, exactly.
    pub status: String,
    /// kubectl's READY column.
    pub ready: String,
    /// kubectl's RESTARTS count.
    pub restarts: i64,
    /// Why it counts as stuck.
    pub category: Category,
    /// When it entered the state it is stuck in (RFC 3339, UTC).
    pub since: DateTime<Utc>,
    /// Seconds from `since` until the report was made.
    pub age_seconds: i64,
    /// The short cause: an exit code, a kubelet or scheduler reason.
    pub reason: String,
    /// What it means, in a sentence.
    pub message: String,
    /// What the cause was read from, most telling first: Warning events,
    /// then the pod's conditions, container states and the node.
    pub evidence: Vec<Evidence>,
    /// The next action: a command to run.
    pub suggestion: String,
    /// The container the cause is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip)]
    pub uid: String,
    /// How many rollout revisions its workload keeps (ReplicaSets of a
    /// Deployment, ControllerRevisions otherwise), when looked up: more than
    /// one means `kubectl rollout undo` has somewhere to go back to.
    #[serde(skip)]
    pub revisions: Option<usize>,
    /// What the pods of a group have in common, beyond the category.
    #[serde(skip)]
    pub cause: Cause,
}

/// One fact supporting a diagnosis.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Evidence {
    /// Where it comes from: `event`, `condition`, `container`,
    /// `last-state`, `pod` or `node`.
    pub source: &'static str,
    /// The reason as the API reports it (e.g. `FailedCreatePodSandBox`).
    pub reason: String,
    pub message: String,
    /// How many times an event was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// When an event was last seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
}

impl Evidence {
    pub(crate) fn new(
        source: &'static str,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Evidence {
            source,
            reason: reason.into(),
            message: message.into(),
            count: None,
            last_seen: None,
        }
    }
}

/// The cause behind a category, precise enough to group pods by and to
/// pick the next action from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Cause {
    #[default]
    Unknown,
    /// The scheduler cannot place it.
    Unschedulable,
    /// The pod sandbox (network namespace, CNI) cannot be created on the node.
    Sandbox,
    /// A volume cannot be attached or mounted.
    Mount { volume: String },
    /// The container exits; `code` is its last exit code.
    Exit { code: i64, reason: String },
    /// The kernel killed it for exceeding its memory limit.
    OomKilled,
    /// The liveness (or startup) probe killed it.
    ProbeKilled,
    /// The command cannot be run (exit 126/127 or a runtime start error).
    BadCommand,
    /// The image cannot be pulled.
    ImagePull,
    /// A referenced Secret or ConfigMap (or one of its keys) is missing.
    Missing {
        kind: String,
        name: String,
        key: Option<String>,
    },
    /// Another configuration error the kubelet reported.
    Config,
    /// The readiness probe fails.
    Readiness,
    /// Finalizers hold the deletion.
    Finalizers(Vec<String>),
    /// The node is NotReady, unreachable or gone.
    NodeDown,
    /// The kubelet has not finished the deletion on a healthy node.
    KubeletSlow,
    /// Evicted, or another `status.reason` on a failed pod.
    Evicted { reason: String },
    /// An init container is still running.
    InitRunning,
    /// Pending with no container started and no other evidence.
    NotStarted,
}
