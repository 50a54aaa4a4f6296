//! What a drain does with each pod on a node: evict (or delete), skip, or
//! refuse. The rules and their order follow kubectl's drain filters, so
//! `node check`, `node drain`, `replace` and `rotate` agree with kubectl.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::lean::LeanPod;

/// kubectl drain's options, with kubectl's defaults. A runbook step's
/// drain arguments are read straight into it, so the field names are the
/// runbook's; values may be templated text (`"true"`, `"30"`, `"5m"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DrainOptions {
    #[serde(deserialize_with = "lenient::flag")]
    pub ignore_daemonsets: bool,
    #[serde(deserialize_with = "lenient::flag")]
    pub delete_emptydir_data: bool,
    #[serde(deserialize_with = "lenient::flag")]
    pub force: bool,
    /// Seconds each pod gets to stop; negative means the pod's own.
    #[serde(deserialize_with = "lenient::whole")]
    pub grace_period: i64,
    /// 0 waits forever.
    #[serde(
        serialize_with = "lenient::serialize_secs",
        deserialize_with = "lenient::duration"
    )]
    pub timeout: Duration,
    pub pod_selector: Option<String>,
    #[serde(deserialize_with = "lenient::flag")]
    pub disable_eviction: bool,
    /// Pods deleted longer ago than this many seconds are not waited for (0: always wait).
    #[serde(deserialize_with = "lenient::seconds")]
    pub skip_wait_for_delete_timeout: u64,
    #[serde(deserialize_with = "lenient::flag")]
    pub scale_up: bool,
    /// What `--scale-up` must not scale (from the config).
    #[serde(skip)]
    pub scale_policy: ScalePolicy,
}

impl Default for DrainOptions {
    /// kubectl's: each pod's own grace period, no timeout, nothing forced.
    fn default() -> Self {
        DrainOptions {
            ignore_daemonsets: false,
            delete_emptydir_data: false,
            force: false,
            grace_period: -1,
            timeout: Duration::ZERO,
            pod_selector: None,
            disable_eviction: false,
            skip_wait_for_delete_timeout: 0,
            scale_up: false,
            scale_policy: ScalePolicy::default(),
        }
    }
}

/// Workloads `--scale-up` must leave alone: the config's singletons (one
/// copy at a time, ever), unless listed as safe to scale. StatefulSets and
/// `Recreate` Deployments are never scaled unless listed as safe.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScalePolicy {
    pub singletons: Vec<String>,
    pub safe: Vec<String>,
}

/// Why `--scale-up` leaves a workload alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScaleRefusal {
    /// A new member would join a clustered service.
    StatefulSet,
    /// The config's `promote.singletons` lists it.
    Singleton,
    /// A `Recreate` Deployment: never two copies at once.
    Recreate,
}

impl DrainOptions {
    /// The names a runbook step gives these options (the fields serde
    /// reads; a test keeps the two in step), each with its help.
    pub(crate) const FIELDS: [(&'static str, &'static str); 9] = [
        (
            "ignore_daemonsets",
            "Skip DaemonSet-managed pods (they would come straight back)",
        ),
        (
            "delete_emptydir_data",
            "Evict pods using emptyDir volumes; their data is lost",
        ),
        ("force", "Also delete pods that no controller will recreate"),
        (
            "grace_period",
            "Seconds each pod gets to terminate (default: the pod's own)",
        ),
        (
            "timeout",
            "Give up after this long (e.g. 5m); 0 waits forever",
        ),
        (
            "pod_selector",
            "Only evict pods matching this label selector",
        ),
        (
            "disable_eviction",
            "Delete pods instead of evicting them (bypasses PodDisruptionBudgets)",
        ),
        (
            "skip_wait_for_delete_timeout",
            "Stop waiting for pods deleted longer ago than this many seconds (0: always wait)",
        ),
        (
            "scale_up",
            "Add a replica to workloads that would otherwise go down, and restore them afterwards",
        ),
    ];

    pub(crate) fn with_policy(mut self, policy: ScalePolicy) -> Self {
        self.scale_policy = policy;
        self
    }
}

impl ScalePolicy {
    /// Why adding a replica to this workload would do harm, or `None` when
    /// `--scale-up` may add one. `recreate`: a Deployment with the
    /// `Recreate` strategy, which never runs two copies at once.
    pub(crate) fn refuses(
        &self,
        namespace: &str,
        kind: &str,
        name: &str,
        recreate: bool,
    ) -> Option<ScaleRefusal> {
        if Self::names(&self.safe, namespace, kind, name) {
            return None;
        }
        if kind == "statefulset" {
            Some(ScaleRefusal::StatefulSet)
        } else if Self::names(&self.singletons, namespace, kind, name) {
            Some(ScaleRefusal::Singleton)
        } else if recreate {
            Some(ScaleRefusal::Recreate)
        } else {
            None
        }
    }

    /// Whether `list` names the workload, as `name`, `namespace/name` or
    /// `namespace/kind/name`.
    fn names(list: &[String], namespace: &str, kind: &str, name: &str) -> bool {
        list.iter().any(|entry| {
            entry == name
                || *entry == format!("{namespace}/{name}")
                || *entry == format!("{kind}/{name}")
                || *entry == format!("{namespace}/{kind}/{name}")
        })
    }
}

/// Reading the options from a runbook step, where any value may be text a
/// template produced: `"true"`, `"30"`, `"5m"`, or empty for the default.
/// The messages are completed with the field's name by the caller.
mod lenient {
    use serde::Serializer;
    use serde::de::{Deserializer, Error};
    use std::time::Duration;

    /// The step's text, trimmed; `None` when it gave nothing.
    fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        let text = crate::lenient::text(d)?;
        let text = text.trim();
        Ok((!text.is_empty()).then(|| text.to_string()))
    }

    pub(super) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        // A templated bool renders as `true` or `True`.
        match scalar(d)?.map(|t| t.to_lowercase()).as_deref() {
            None | Some("false" | "no") => Ok(false),
            Some("true" | "yes") => Ok(true),
            Some(t) => Err(D::Error::custom(format!(
                "must be true or false, not `{t}`"
            ))),
        }
    }

    /// A grace period: empty means the pod's own (-1).
    pub(super) fn whole<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        match scalar(d)? {
            None => Ok(-1),
            Some(t) => t
                .parse()
                .map_err(|_| D::Error::custom(format!("must be a whole number, not `{t}`"))),
        }
    }

    /// Seconds, where a negative number means none.
    pub(super) fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        match scalar(d)? {
            None => Ok(0),
            Some(t) => t
                .parse::<i64>()
                .map(|n| n.max(0) as u64)
                .map_err(|_| D::Error::custom(format!("must be a whole number, not `{t}`"))),
        }
    }

    /// `10m`, `90s`; `0` (or nothing) is zero.
    pub(super) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        match scalar(d)?.as_deref() {
            None | Some("0") => Ok(Duration::ZERO),
            Some(t) => humantime::parse_duration(t)
                .map_err(|e| D::Error::custom(format!("is not a duration like 30s or 5m ({e})"))),
        }
    }

    pub(super) fn serialize_secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

/// What the drain does with a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Action {
    /// Evicted through the eviction API (respects PodDisruptionBudgets).
    Evict,
    /// Deleted (`--disable-eviction`, bypasses PodDisruptionBudgets).
    Delete,
    /// Left alone.
    Skip,
    /// The drain refuses to go on while this pod is there.
    Refuse,
}

/// Why a pod is refused; each names the flag that resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Refusal {
    DaemonSet,
    EmptyDir,
    NoController,
}

impl Refusal {
    pub(crate) fn flag(self) -> &'static str {
        match self {
            Refusal::DaemonSet => "--ignore-daemonsets",
            Refusal::EmptyDir => "--delete-emptydir-data",
            Refusal::NoController => "--force",
        }
    }

    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::DaemonSet => "managed by a DaemonSet",
            Refusal::EmptyDir => "uses emptyDir storage, which would be lost",
            Refusal::NoController => "has no controller: nothing would recreate it",
        }
    }
}

/// The drain's verdict on one pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Decision {
    pub action: Action,
    /// Why: the kubectl-style warning or skip reason ("" when unremarkable).
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
}

impl Decision {
    fn remove(opts: &DrainOptions, reason: &str) -> Decision {
        Decision {
            action: if opts.disable_eviction {
                Action::Delete
            } else {
                Action::Evict
            },
            reason: reason.into(),
            refusal: None,
        }
    }

    fn skip(reason: &str) -> Decision {
        Decision {
            action: Action::Skip,
            reason: reason.into(),
            refusal: None,
        }
    }

    fn refuse(r: Refusal) -> Decision {
        Decision {
            action: Action::Refuse,
            reason: format!("{} (pass {})", r.reason(), r.flag()),
            refusal: Some(r),
        }
    }

    #[cfg(test)]
    pub(crate) fn removes(&self) -> bool {
        matches!(self.action, Action::Evict | Action::Delete)
    }
}

pub(crate) const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Decides what a drain does with `pod`, applying kubectl's filters in
/// kubectl's order: deleted long ago, DaemonSet, mirror, emptyDir, no
/// controller. The first filter that keeps the pod decides; the last
/// warning wins otherwise, as in kubectl.
///
/// `missing_daemonsets` holds `namespace/name` of DaemonSets that own pods
/// here but no longer exist: such orphans are removed only with `--force`.
pub(crate) fn decide(
    pod: &LeanPod,
    opts: &DrainOptions,
    missing_daemonsets: &HashSet<String>,
    now: DateTime<Utc>,
) -> Decision {
    let finished = pod.is_finished();
    let mut warning = "";

    // Deleted long ago: kubectl stops waiting for it.
    if opts.skip_wait_for_delete_timeout > 0
        && let Some(deleted) = pod.metadata.deletion_timestamp
        && (now - deleted).num_seconds() > opts.skip_wait_for_delete_timeout as i64
    {
        return Decision::skip("deleted longer ago than --skip-wait-for-delete-timeout");
    }

    let controller = pod.metadata.controller();
    if let Some(c) = controller.filter(|c| c.kind == "DaemonSet")
        && !finished
    {
        let key = format!("{}/{}", pod.metadata.namespace, c.name);
        if missing_daemonsets.contains(&key) {
            if !opts.force {
                return Decision {
                    action: Action::Refuse,
                    reason: format!(
                        "its DaemonSet `{key}` no longer exists (pass --force to remove the orphan)"
                    ),
                    refusal: Some(Refusal::NoController),
                };
            }
            warning = "orphaned DaemonSet pod";
        } else if !opts.ignore_daemonsets {
            return Decision::refuse(Refusal::DaemonSet);
        } else {
            return Decision::skip("DaemonSet pod (it would come straight back)");
        }
    }

    if pod.metadata.annotations.contains_key(MIRROR_ANNOTATION) {
        return Decision::skip("mirror pod (static pod managed by the kubelet)");
    }

    if pod.has_empty_dir() && !finished {
        if !opts.delete_emptydir_data {
            return Decision::refuse(Refusal::EmptyDir);
        }
        warning = "emptyDir data will be lost";
    }

    if !finished && controller.is_none() {
        if !opts.force {
            return Decision::refuse(Refusal::NoController);
        }
        warning = "no controller: it will not be recreated";
    }

    if finished && warning.is_empty() {
        warning = "finished";
    }
    Decision::remove(opts, warning)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_runbook_names_are_the_fields_serde_reads() {
        let err = serde_json::from_value::<DrainOptions>(json!({"nope": 1})).unwrap_err();
        let expected: Vec<String> = DrainOptions::FIELDS
            .iter()
            .map(|(f, _)| format!("`{f}`"))
            .collect();
        assert_eq!(
            err.to_string(),
            format!(
                "unknown field `nope`, expected one of {}",
                expected.join(", ")
            )
        );
    }

    #[test]
    fn a_step_may_give_options_as_templated_text() {
        let opts: DrainOptions = serde_json::from_value(json!({
            "force": "True", "ignore_daemonsets": true, "grace_period": "30",
            "timeout": "5m", "skip_wait_for_delete_timeout": -4, "scale_up": "",
        }))
        .unwrap();
        assert!(opts.force && opts.ignore_daemonsets && !opts.scale_up);
        assert_eq!(opts.grace_period, 30);
        assert_eq!(opts.timeout, Duration::from_secs(300));
        assert_eq!(opts.skip_wait_for_delete_timeout, 0);
        // Absent or empty: kubectl's defaults.
        let empty: DrainOptions =
            serde_json::from_value(json!({"grace_period": "", "timeout": "0"})).unwrap();
        assert_eq!((empty.grace_period, empty.timeout), (-1, Duration::ZERO));
        let bad = serde_json::from_value::<DrainOptions>(json!({"force": "maybe"}));
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("must be true or false, not `maybe`")
        );
    }

    fn pod(owner: Option<&str>, extra: serde_json::Value) -> LeanPod {
        let mut v = json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "status": {"phase": "Running"}
        });
        if let Some(kind) = owner {
            v["metadata"]["ownerReferences"] =
                json!([{"kind": kind, "name": "owner", "uid": "u", "controller": true}]);
        }
        merge(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
        if let (Some(a), serde_json::Value::Object(b)) = (a.as_object_mut(), b.clone()) {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
    }

    fn run(p: &LeanPod, opts: &DrainOptions) -> Decision {
        decide(p, opts, &HashSet::new(), Utc::now())
    }

    #[test]
    fn replicated_pods_are_evicted_or_deleted() {
        let p = pod(Some("ReplicaSet"), json!({}));
        assert_eq!(run(&p, &DrainOptions::default()).action, Action::Evict);
        let opts = DrainOptions {
            disable_eviction: true,
            ..Default::default()
        };
        assert_eq!(run(&p, &opts).action, Action::Delete);
    }

    #[test]
    fn daemonset_pods_need_the_flag_and_are_then_skipped() {
        let p = pod(Some("DaemonSet"), json!({}));
        let d = run(&p, &DrainOptions::default());
        assert_eq!(d.refusal, Some(Refusal::DaemonSet));
        assert!(d.reason.contains("--ignore-daemonsets"));
        let opts = DrainOptions {
            ignore_daemonsets: true,
            ..Default::default()
        };
        assert_eq!(run(&p, &opts).action, Action::Skip);
        // An orphan is removed with --force only.
        let missing: HashSet<String> = ["ns/owner".to_string()].into();
        assert_eq!(
            decide(&p, &opts, &missing, Utc::now()).action,
            Action::Refuse
        );
        let forced = DrainOptions {
            force: true,
            ..opts
        };
        assert_eq!(
            decide(&p, &forced, &missing, Utc::now()).action,
            Action::Evict
        );
    }

    #[test]
    fn finished_daemonset_pods_are_removed() {
        let p = pod(Some("DaemonSet"), json!({"status": {"phase": "Succeeded"}}));
        assert!(run(&p, &DrainOptions::default()).removes());
    }

    #[test]
    fn mirror_pods_are_skipped_even_without_a_controller() {
        let p = pod(
            None,
            json!({"metadata": {"annotations": {MIRROR_ANNOTATION: "x"}}}),
        );
        assert_eq!(run(&p, &DrainOptions::default()).action, Action::Skip);
    }

    #[test]
    fn empty_dir_needs_the_flag_unless_finished() {
        let vols = json!({"spec": {"volumes": [{"name": "tmp", "emptyDir": {}}]}});
        let p = pod(Some("ReplicaSet"), vols.clone());
        assert_eq!(
            run(&p, &DrainOptions::default()).refusal,
            Some(Refusal::EmptyDir)
        );
        let opts = DrainOptions {
            delete_emptydir_data: true,
            ..Default::default()
        };
        assert_eq!(run(&p, &opts).action, Action::Evict);
        let mut done = vols;
        done["status"] = json!({"phase": "Failed"});
        assert!(run(&pod(Some("ReplicaSet"), done), &DrainOptions::default()).removes());
    }

    #[test]
    fn bare_pods_need_force() {
        let p = pod(None, json!({}));
        assert_eq!(
            run(&p, &DrainOptions::default()).refusal,
            Some(Refusal::NoController)
        );
        let opts = DrainOptions {
            force: true,
            ..Default::default()
        };
        let d = run(&p, &opts);
        assert_eq!(d.action, Action::Evict);
        assert!(d.reason.contains("not be recreated"));
    }

    #[test]
    fn long_deleted_pods_are_skipped_with_the_timeout() {
        let old = (Utc::now() - chrono::Duration::seconds(60)).to_rfc3339();
        let p = pod(
            Some("ReplicaSet"),
            json!({"metadata": {"deletionTimestamp": old}}),
        );
        let opts = DrainOptions {
            skip_wait_for_delete_timeout: 30,
            ..Default::default()
        };
        assert_eq!(run(&p, &opts).action, Action::Skip);
        assert_eq!(run(&p, &DrainOptions::default()).action, Action::Evict);
    }
}
