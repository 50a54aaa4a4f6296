//! `job list`: each CronJob with its last run and that run's outcome, the
//! next scheduled run, and whether (and by whom) it is suspended.

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::CronJob;
use kube::api::{Api, ListParams};
use serde::Serialize;

use super::suspend::{self, is_suspended};
use super::{JobState, RunSummary, runs_by_cronjob, schedule};
use crate::cluster::{Cluster, api_error};
use crate::error::Result;
use crate::safety::note::Note;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    pub namespace: String,
    pub name: String,
    pub schedule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    pub concurrency_policy: String,
    pub suspended: bool,
    /// oncall's note on the suspension; absent when it was made another way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspension: Option<Note>,
    /// Runs that have not finished.
    pub active: Vec<String>,
    pub last_run: Option<RunSummary>,
    /// When the schedule runs next (also shown while suspended: the time it
    /// would run).
    pub next_run: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_error: Option<String>,
    /// The job template's containers and their images, in order (what
    /// `kubectl get cronjobs -o wide` adds).
    pub containers: Vec<String>,
    pub images: Vec<String>,
}

/// The CronJobs of `namespace` (every namespace when `None`), sorted by
/// namespace and name.
pub(crate) async fn list(cluster: &Cluster, namespace: Option<&str>) -> Result<Vec<Row>> {
    let api: Api<CronJob> = match namespace {
        Some(ns) => Api::namespaced(cluster.client.clone(), ns),
        None => Api::all(cluster.client.clone()),
    };
    let (cronjobs, mut runs) = tokio::try_join!(
        async {
            api.list(&ListParams::default())
                .await
                .map_err(|e| api_error(e, &cluster.url, "list cronjobs"))
        },
        runs_by_cronjob(cluster, namespace)
    )?;
    if let Some(ns) = namespace
        && cronjobs.items.is_empty()
    {
        cluster.require_namespace(ns).await?;
    }
    let now = Utc::now();
    let mut rows: Vec<Row> = cronjobs
        .items
        .into_iter()
        .map(|cj| {
            let uid = cj.metadata.uid.clone().unwrap_or_default();
            let spec = cj.spec.clone().unwrap_or_default();
            let runs = runs.remove(&uid).unwrap_or_default();
            let next = schedule::next_run(&spec.schedule, spec.time_zone.as_deref(), now);
            let containers = spec
                .job_template
                .spec
                .as_ref()
                .and_then(|j| j.template.spec.as_ref())
                .map(|p| p.containers.as_slice())
                .unwrap_or_default();
            Row {
                containers: containers.iter().map(|c| c.name.clone()).collect(),
                images: containers
                    .iter()
                    .map(|c| c.image.clone().unwrap_or_default())
                    .collect(),
                namespace: cj.metadata.namespace.clone().unwrap_or_default(),
                name: cj.metadata.name.clone().unwrap_or_default(),
                schedule: spec.schedule.clone(),
                time_zone: spec.time_zone.clone(),
                concurrency_policy: spec.concurrency_policy.unwrap_or_else(|| "Allow".into()),
                suspended: is_suspended(&cj),
                suspension: suspend::note(&cj),
                active: runs
                    .iter()
                    .filter(|r| r.state == JobState::Running)
                    .map(|r| r.job.clone())
                    .collect(),
                last_run: runs.into_iter().next(),
                next_run: next.as_ref().ok().copied(),
                schedule_error: next.err(),
            }
        })
        .collect();
    rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(rows)
}
