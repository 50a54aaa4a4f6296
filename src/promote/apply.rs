//! Carrying out a promotion: the migration Job, image patches, the
//! kill-deploy of singletons, and putting images back on failure.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job, JobSpec};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::{Api, Client};
use serde_json::json;

use super::inventory::Kind;
use super::plan::{MigrationPlan, WorkloadChange};
use crate::cluster::retry::{is_conflict, is_transient, retry};
use crate::cluster::{is_not_found, plain};

/// Which images of a change to apply: the new ones, or back to the old.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Forward,
    Back,
}

/// Sets the images of one workload with a strategic merge patch, which
/// merges containers by name and leaves everything else alone.
pub(crate) async fn set_images(
    client: &Client,
    namespace: &str,
    change: &WorkloadChange,
    direction: Direction,
) -> Result<(), kube::Error> {
    let pick = |c: &super::plan::ContainerChange| match direction {
        Direction::Forward => c.to.clone(),
        Direction::Back => c.from.clone(),
    };
    let list = |init: bool| -> Vec<serde_json::Value> {
        change
            .containers
            .iter()
            .filter(|c| c.init == init)
            .map(|c| json!({"name": c.container, "image": pick(c)}))
            .collect()
    };
    let mut pod_spec = serde_json::Map::new();
    let (main, init) = (list(false), list(true));
    if !main.is_empty() {
        pod_spec.insert("containers".into(), main.into());
    }
    if !init.is_empty() {
        pod_spec.insert("initContainers".into(), init.into());
    }
    let patch = json!({"spec": {"template": {"spec": pod_spec}}});
    patch_workload(client, namespace, change.kind, &change.name, &patch).await
}

async fn patch_workload(
    client: &Client,
    namespace: &str,
    kind: Kind,
    name: &str,
    patch: &serde_json::Value,
) -> Result<(), kube::Error> {
    let params = PatchParams::default();
    let patch = Patch::Strategic(patch);
    match kind {
        Kind::Deployment => Api::<Deployment>::namespaced(client.clone(), namespace)
            .patch(name, &params, &patch)
            .await
            .map(drop),
        Kind::StatefulSet => Api::<StatefulSet>::namespaced(client.clone(), namespace)
            .patch(name, &params, &patch)
            .await
            .map(drop),
        Kind::DaemonSet => Api::<DaemonSet>::namespaced(client.clone(), namespace)
            .patch(name, &params, &patch)
            .await
            .map(drop),
    }
}

/// Kill-deploys a singleton: scale to zero, wait until no pod is left,
/// change the image, scale back. Two copies never run at once, and
/// whatever fails on the way, it is scaled back: a singleton left at zero
/// replicas is an outage nobody asked for.
pub(crate) async fn kill_deploy(
    client: &Client,
    namespace: &str,
    change: &WorkloadChange,
    direction: Direction,
    timeout: Duration,
) -> Result<(), String> {
    let replicas = change.replicas.unwrap_or(1);
    let id = change.id();
    let selector = retry(|| pod_selector(client, namespace, change))
        .await
        .map_err(|e| format!("cannot read `{id}`: {}", plain(&e)))?;
    let stopped = async {
        scale(client, namespace, change, 0)
            .await
            .map_err(|e| format!("cannot scale `{id}` to 0: {}", plain(&e)))?;
        tokio::time::timeout(timeout, pods_gone(client, namespace, &selector))
            .await
            .map_err(|_| format!("the pods of `{id}` did not stop within {timeout:?}"))?
            .map_err(|e| format!("lost track of the pods of `{id}`: {}", plain(&e)))?;
        set_images(client, namespace, change, direction)
            .await
            .map_err(|e| format!("cannot set the images of `{id}`: {}", plain(&e)))
    }
    .await;
    let restored = retry(|| scale(client, namespace, change, replicas)).await;
    match (stopped, restored) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(e), Ok(())) => Err(format!(
            "{e}; `{id}` was scaled back to {replicas} on its previous images"
        )),
        (_, Err(e)) => Err(format!(
            "`{id}` may be left at 0 replicas: scaling it back to {replicas} failed ({})",
            plain(&e)
        )),
    }
}

async fn scale(
    client: &Client,
    namespace: &str,
    change: &WorkloadChange,
    replicas: i32,
) -> Result<(), kube::Error> {
    patch_workload(
        client,
        namespace,
        change.kind,
        &change.name,
        &json!({"spec": {"replicas": replicas}}),
    )
    .await
}

/// The label selector of a workload's pods, as `k=v,k=v`.
pub(crate) async fn pod_selector(
    client: &Client,
    namespace: &str,
    change: &WorkloadChange,
) -> Result<String, kube::Error> {
    let labels = match change.kind {
        Kind::Deployment => Api::<Deployment>::namespaced(client.clone(), namespace)
            .get(&change.name)
            .await?
            .spec
            .and_then(|s| s.selector.match_labels),
        Kind::StatefulSet => Api::<StatefulSet>::namespaced(client.clone(), namespace)
            .get(&change.name)
            .await?
            .spec
            .and_then(|s| s.selector.match_labels),
        Kind::DaemonSet => Api::<DaemonSet>::namespaced(client.clone(), namespace)
            .get(&change.name)
            .await?
            .spec
            .and_then(|s| s.selector.match_labels),
    };
    Ok(labels
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(","))
}

/// Resolves when no pod matches `selector`, following a watch.
async fn pods_gone(client: &Client, namespace: &str, selector: &str) -> Result<(), kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    loop {
        let list = api.list(&ListParams::default().labels(selector)).await?;
        let mut alive: BTreeSet<String> = list
            .items
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        if alive.is_empty() {
            return Ok(());
        }
        let version = list.metadata.resource_version.unwrap_or_default();
        let params = WatchParams::default().labels(selector).timeout(60);
        let mut stream = api.watch(&params, &version).await?.boxed();
        // A watch cut short (or expired: 410) is followed by a fresh list.
        while let Some(event) = next_event(&mut stream).await? {
            match event {
                WatchEvent::Deleted(p) => {
                    alive.remove(p.metadata.name.as_deref().unwrap_or_default());
                }
                WatchEvent::Added(p) => {
                    alive.insert(p.metadata.name.unwrap_or_default());
                }
                WatchEvent::Error(_) => break,
                _ => {}
            }
            if alive.is_empty() {
                return Ok(());
            }
        }
    }
}

/// The next event of a watch; `None` when it ended, or broke in a way a
/// fresh list and watch will mend.
async fn next_event<K>(
    stream: &mut futures::stream::BoxStream<'_, Result<WatchEvent<K>, kube::Error>>,
) -> Result<Option<WatchEvent<K>>, kube::Error> {
    match stream.try_next().await {
        Err(e) if is_transient(&e) => Ok(None),
        other => other,
    }
}

/// How a migration ended.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct MigrationOutcome {
    pub job: String,
    pub succeeded: bool,
    /// The last lines of its log (best effort).
    pub log_tail: Vec<String>,
}

/// Finds the migration template in the target namespace: a Job or a CronJob.
pub(crate) async fn find_migration_template(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<(String, JobSpec)>, kube::Error> {
    match Api::<CronJob>::namespaced(client.clone(), namespace)
        .get(name)
        .await
    {
        Ok(cj) => {
            let spec = cj
                .spec
                .and_then(|s| s.job_template.spec)
                .unwrap_or_default();
            return Ok(Some((format!("cronjob/{name}"), spec)));
        }
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(e),
    }
    match Api::<Job>::namespaced(client.clone(), namespace)
        .get(name)
        .await
    {
        Ok(job) => Ok(Some((format!("job/{name}"), job.spec.unwrap_or_default()))),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Runs the migration as a new Job with the target images and waits for it.
/// `on_log` receives its log lines as they come (best effort).
pub(crate) async fn run_migration(
    client: &Client,
    namespace: &str,
    template: JobSpec,
    plan: &MigrationPlan,
    release: &str,
    timeout: Duration,
    mut on_log: impl FnMut(&str),
) -> Result<MigrationOutcome, String> {
    let mut spec = template;
    // Selector and its labels are generated by the API server for a new Job.
    spec.selector = None;
    spec.manual_selector = None;
    spec.backoff_limit = Some(0);
    let mut pod = spec.template.clone();
    if let Some(labels) = pod.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.retain(|k, _| {
            !k.contains("controller-uid")
                && k != "job-name"
                && !k.starts_with("batch.kubernetes.io/")
        });
    }
    if let Some(pod_spec) = pod.spec.as_mut() {
        for c in pod_spec
            .containers
            .iter_mut()
            .chain(pod_spec.init_containers.iter_mut().flatten())
        {
            if let Some(image) = plan.images.get(&c.name) {
                c.image = Some(image.clone());
            }
        }
    }
    spec.template = pod;
    let base = plan.template.split('/').nth(1).unwrap_or("migrate");
    // Named here rather than by the server (generateName): a create whose
    // answer was lost can then be sent again, and finds its own Job.
    let name = format!("{base}-{release}-{}", suffix());
    let job = Job {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                "oncall".to_string(),
            )])),
            ..Default::default()
        },
        spec: Some(spec),
        ..Default::default()
    };
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    retry(|| async {
        match jobs.create(&PostParams::default(), &job).await {
            Err(e) if is_conflict(&e) => Ok(()),
            other => other.map(drop),
        }
    })
    .await
    .map_err(|e| {
        format!(
            "cannot create the migration job: {}",
            crate::cluster::plain(&e)
        )
    })?;
    let finished = tokio::time::timeout(timeout, job_finished(&jobs, &name)).await;
    let log_tail = job_logs(client, namespace, &name, &mut on_log).await;
    match finished {
        Err(_) => Err(format!(
            "the migration job `{name}` did not finish within {timeout:?}"
        )),
        Ok(Err(e)) => Err(format!("lost track of the migration job `{name}`: {e}")),
        Ok(Ok(succeeded)) => Ok(MigrationOutcome {
            job: name,
            succeeded,
            log_tail,
        }),
    }
}

/// Five characters that make a Job's name unique, as the API server's
/// generateName would.
fn suffix() -> String {
    use std::hash::BuildHasher;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    // std's hasher keys are random per process: a random number without a crate.
    let mut n =
        std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize];
            n /= ALPHABET.len() as u64;
            c as char
        })
        .collect()
}

/// Follows the Job until it has succeeded or failed.
async fn job_finished(jobs: &Api<Job>, name: &str) -> Result<bool, kube::Error> {
    let cond = |job: &Job| -> Option<bool> {
        let status = job.status.as_ref()?;
        if status.succeeded.unwrap_or(0) > 0 {
            return Some(true);
        }
        if status.failed.unwrap_or(0) > 0 {
            return Some(false);
        }
        let conditions = status.conditions.as_ref()?;
        conditions
            .iter()
            .find(|c| c.status == "True" && (c.type_ == "Complete" || c.type_ == "Failed"))
            .map(|c| c.type_ == "Complete")
    };
    loop {
        let job = jobs.get(name).await?;
        if let Some(done) = cond(&job) {
            return Ok(done);
        }
        let version = job.metadata.resource_version.unwrap_or_default();
        let params = WatchParams::default()
            .fields(&format!("metadata.name={name}"))
            .timeout(60);
        let mut stream = jobs.watch(&params, &version).await?.boxed();
        while let Some(event) = next_event(&mut stream).await? {
            if let WatchEvent::Modified(job) | WatchEvent::Added(job) = event
                && let Some(done) = cond(&job)
            {
                return Ok(done);
            }
        }
    }
}

/// The Job's pod logs, passed line by line to `on_log`; the last 20 lines
/// are kept for the report. A missing log is not an error.
async fn job_logs(
    client: &Client,
    namespace: &str,
    job: &str,
    on_log: &mut impl FnMut(&str),
) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let Ok(list) = pods
        .list(&ListParams::default().labels(&format!("job-name={job}")))
        .await
    else {
        return Vec::new();
    };
    let mut tail = Vec::new();
    for pod in list.items {
        let name = pod.metadata.name.unwrap_or_default();
        let Ok(text) = pods
            .logs(
                &name,
                &LogParams {
                    tail_lines: Some(200),
                    ..Default::default()
                },
            )
            .await
        else {
            continue;
        };
        for line in text.lines() {
            on_log(line);
            tail.push(line.to_string());
        }
    }
    let keep = tail.len().saturating_sub(20);
    tail.split_off(keep)
}

/// Waits for one workload's rollout with the shared waiter, which fails
/// early when new pods crash, cannot pull their image or are unschedulable.
pub(crate) async fn wait_rollout(
    client: &Client,
    namespace: &str,
    change: &WorkloadChange,
    timeout: Duration,
    cancel: &crate::safety::Cancel,
) -> Result<(), String> {
    use crate::workloads::{Verdict, WorkloadRef, wait_for_rollout};
    let workload = WorkloadRef::new(change.kind, namespace, &change.name);
    let outcome = wait_for_rollout(client, &workload, timeout, cancel, |_| {})
        .await
        .map_err(|e| e.to_string())?;
    match outcome.outcome {
        Verdict::Complete | Verdict::NotWaited => Ok(()),
        Verdict::TimedOut => Err(format!(
            "did not finish rolling out within {timeout:?} ({})",
            outcome.status
        )),
        Verdict::Interrupted => Err("interrupted while waiting for the rollout".into()),
        Verdict::Failed => Err(match outcome.failure {
            Some(f) => {
                let pod = f.pod.map(|p| format!(" (pod `{p}`)")).unwrap_or_default();
                format!("{}{pod}: {}", f.reason, f.message)
            }
            None => outcome.status,
        }),
    }
}
