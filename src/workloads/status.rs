//! kubectl's rollout completion rules (`kubectl rollout status`), so that
//! both tools call the same rollout finished. The messages are kubectl's.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};

use super::Workload;

/// Where a rollout stands according to the workload's own status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    pub state: State,
    /// kubectl's wording, e.g. "2 of 3 updated replicas are available".
    pub message: String,
    /// Pods on the new template so far, and how many there should be: the
    /// progress bar's position and length.
    pub updated: i64,
    pub desired: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Waiting,
    Done,
    /// The rollout cannot finish as things stand (progress deadline
    /// exceeded, OnDelete strategy): kubectl stops with an error too.
    Failed,
}

impl Status {
    fn new(state: State, message: String, updated: i64, desired: i64) -> Self {
        Status {
            state,
            message,
            updated,
            desired,
        }
    }
}

pub(crate) fn of(workload: &Workload) -> Status {
    match workload {
        Workload::Deployment(d) => deployment(d),
        Workload::StatefulSet(s) => statefulset(s),
        Workload::DaemonSet(d) => daemonset(d),
    }
}

fn deployment(d: &Deployment) -> Status {
    let name = d.metadata.name.as_deref().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    let status = d.status.clone().unwrap_or_default();
    let spec_replicas = d.spec.as_ref().and_then(|s| s.replicas);
    let desired = spec_replicas.unwrap_or(1) as i64;
    let updated = status.updated_replicas.unwrap_or(0) as i64;
    let replicas = status.replicas.unwrap_or(0) as i64;
    let available = status.available_replicas.unwrap_or(0) as i64;
    use State::*;
    if generation > status.observed_generation.unwrap_or(0) {
        return Status::new(
            Waiting,
            "waiting for deployment spec update to be observed".into(),
            0,
            desired,
        );
    }
    let timed_out = status.conditions.iter().flatten().any(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if timed_out {
        return Status::new(
            Failed,
            format!("deployment \"{name}\" exceeded its progress deadline"),
            updated,
            desired,
        );
    }
    if spec_replicas.is_some() && updated < desired {
        return Status::new(
            Waiting,
            format!("{updated} out of {desired} new replicas have been updated"),
            updated,
            desired,
        );
    }
    if replicas > updated {
        return Status::new(
            Waiting,
            format!(
                "{} old replicas are pending termination",
                replicas - updated
            ),
            updated,
            desired,
        );
    }
    if available < updated {
        return Status::new(
            Waiting,
            format!("{available} of {updated} updated replicas are available"),
            available,
            desired,
        );
    }
    Status::new(
        Done,
        format!("deployment \"{name}\" successfully rolled out"),
        desired,
        desired,
    )
}

fn daemonset(d: &DaemonSet) -> Status {
    let name = d.metadata.name.as_deref().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    let status = d.status.clone().unwrap_or_default();
    let desired = status.desired_number_scheduled as i64;
    let updated = status.updated_number_scheduled.unwrap_or(0) as i64;
    let available = status.number_available.unwrap_or(0) as i64;
    use State::*;
    let strategy = d
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.clone())
        .unwrap_or_else(|| "RollingUpdate".into());
    if strategy != "RollingUpdate" {
        return Status::new(
            Failed,
            "rollout status is only available for RollingUpdate strategy type".into(),
            updated,
            desired,
        );
    }
    if generation > status.observed_generation.unwrap_or(0) {
        return Status::new(
            Waiting,
            "waiting for daemon set spec update to be observed".into(),
            0,
            desired,
        );
    }
    if updated < desired {
        return Status::new(
            Waiting,
            format!("{updated} out of {desired} new pods have been updated"),
            updated,
            desired,
        );
    }
    if available < desired {
        return Status::new(
            Waiting,
            format!("{available} of {desired} updated pods are available"),
            available,
            desired,
        );
    }
    Status::new(
        Done,
        format!("daemon set \"{name}\" successfully rolled out"),
        desired,
        desired,
    )
}

fn statefulset(s: &StatefulSet) -> Status {
    let generation = s.metadata.generation.unwrap_or(0);
    let status = s.status.clone().unwrap_or_default();
    let spec = s.spec.clone().unwrap_or_default();
    let spec_replicas = spec.replicas;
    let desired = spec_replicas.unwrap_or(1) as i64;
    let updated = status.updated_replicas.unwrap_or(0) as i64;
    let ready = status.ready_replicas.unwrap_or(0) as i64;
    use State::*;
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    if strategy.type_.as_deref().unwrap_or("RollingUpdate") != "RollingUpdate" {
        return Status::new(
            Failed,
            "rollout status is only available for RollingUpdate strategy type".into(),
            updated,
            desired,
        );
    }
    let observed = status.observed_generation.unwrap_or(0);
    if observed == 0 || generation > observed {
        return Status::new(
            Waiting,
            "waiting for statefulset spec update to be observed".into(),
            0,
            desired,
        );
    }
    if spec_replicas.is_some() && ready < desired {
        return Status::new(
            Waiting,
            format!("waiting for {} pods to be ready", desired - ready),
            updated.min(ready),
            desired,
        );
    }
    // kubectl: with a rollingUpdate block (the API server always defaults
    // one, with partition 0), updated pods at or above the partition is done.
    if let Some(rolling) = &strategy.rolling_update {
        let want = match (spec_replicas, rolling.partition) {
            (Some(replicas), Some(partition)) => (replicas - partition).max(0) as i64,
            _ => 0,
        };
        if updated < want {
            return Status::new(
                Waiting,
                format!(
                    "waiting for partitioned roll out to finish: {updated} out of {want} new pods have been updated"
                ),
                updated,
                want,
            );
        }
        return Status::new(
            Done,
            format!("partitioned roll out complete: {updated} new pods have been updated"),
            want.max(updated),
            want.max(updated),
        );
    }
    let update_revision = status.update_revision.clone().unwrap_or_default();
    if update_revision != status.current_revision.clone().unwrap_or_default() {
        return Status::new(
            Waiting,
            format!(
                "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}"
            ),
            updated,
            desired,
        );
    }
    Status::new(
        Done,
        format!(
            "statefulset rolling update complete {} pods at revision {}",
            status.current_replicas.unwrap_or(0),
            status.current_revision.unwrap_or_default()
        ),
        desired,
        desired,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(v: serde_json::Value) -> Workload {
        Workload::Deployment(serde_json::from_value(v).unwrap())
    }

    fn sts(v: serde_json::Value) -> Workload {
        Workload::StatefulSet(serde_json::from_value(v).unwrap())
    }

    fn ds(v: serde_json::Value) -> Workload {
        Workload::DaemonSet(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn deployment_waits_for_the_new_generation_to_be_observed() {
        let d = deploy(json!({
            "metadata": {"name": "web", "generation": 3},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
        }));
        let s = of(&d);
        assert_eq!(s.state, State::Waiting);
        assert!(s.message.contains("spec update"));
    }

    #[test]
    fn deployment_rules_in_kubectl_order() {
        let base = |status: serde_json::Value| {
            deploy(json!({
                "metadata": {"name": "web", "generation": 2},
                "spec": {"replicas": 3, "selector": {}, "template": {}},
                "status": status
            }))
        };
        let s = of(&base(
            json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1, "availableReplicas": 3}),
        ));
        assert_eq!(s.message, "1 out of 3 new replicas have been updated");
        let s = of(&base(
            json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}),
        ));
        assert_eq!(s.message, "1 old replicas are pending termination");
        let s = of(&base(
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}),
        ));
        assert_eq!(s.message, "2 of 3 updated replicas are available");
        let s = of(&base(
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
        ));
        assert_eq!(s.state, State::Done);
        let s = of(&base(json!({"observedGeneration": 2, "updatedReplicas": 1,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]})));
        assert_eq!(s.state, State::Failed);
        assert!(s.message.contains("progress deadline"));
    }

    #[test]
    fn daemonset_counts_scheduled_pods() {
        let d = ds(json!({
            "metadata": {"name": "agent", "generation": 4},
            "spec": {"selector": {}, "template": {}},
            "status": {"observedGeneration": 4, "desiredNumberScheduled": 5, "currentNumberScheduled": 5,
                       "numberMisscheduled": 0, "numberReady": 5, "updatedNumberScheduled": 5, "numberAvailable": 4}
        }));
        assert_eq!(of(&d).message, "4 of 5 updated pods are available");
        let d = ds(json!({
            "metadata": {"name": "agent", "generation": 4},
            "spec": {"selector": {}, "template": {}, "updateStrategy": {"type": "OnDelete"}},
            "status": {"observedGeneration": 4, "desiredNumberScheduled": 5, "currentNumberScheduled": 5,
                       "numberMisscheduled": 0, "numberReady": 5}
        }));
        assert_eq!(of(&d).state, State::Failed);
    }

    #[test]
    fn statefulset_partition_and_revisions() {
        let s = sts(json!({
            "metadata": {"name": "db", "generation": 2},
            "spec": {"replicas": 3, "selector": {}, "template": {}, "serviceName": "db",
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}},
            "status": {"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 1,
                       "currentRevision": "db-1", "updateRevision": "db-2"}
        }));
        let st = of(&s);
        assert_eq!(st.state, State::Done);
        assert!(st.message.starts_with("partitioned roll out complete"));
        let s = sts(json!({
            "metadata": {"name": "db", "generation": 2},
            "spec": {"replicas": 3, "selector": {}, "template": {}, "serviceName": "db"},
            "status": {"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 2,
                       "currentRevision": "db-1", "updateRevision": "db-2"}
        }));
        assert_eq!(of(&s).state, State::Waiting);
        let s = sts(json!({
            "metadata": {"name": "db", "generation": 2},
            "spec": {"replicas": 3, "selector": {}, "template": {}, "serviceName": "db"},
            "status": {"observedGeneration": 2, "replicas": 3, "readyReplicas": 2, "updatedReplicas": 3,
                       "currentRevision": "db-2", "updateRevision": "db-2"}
        }));
        assert_eq!(of(&s).message, "waiting for 1 pods to be ready");
    }
}
