//! CronJobs and the Jobs they make: run one now, suspend and resume the
//! schedule, and list them with their last and next runs. Everything here
//! returns data; `commands::job` and the runbook actions render it.

pub(crate) mod list;
pub(crate) mod run;
pub(crate) mod schedule;
pub(crate) mod suspend;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{Api, ListParams};
use serde::Serialize;

use crate::cluster::{Cluster, api_error, is_not_found};
use crate::error::{Error, Result};

/// Splits `cronjob/NAME` (also `cj/`, `cronjobs/`, `cronjob.batch/`, or a
/// bare NAME) into the CronJob's name.
pub(crate) fn parse_target(arg: &str) -> Result<String> {
    let name = match arg.split_once('/') {
        None => arg,
        Some((kind, name))
            if matches!(
                kind.to_lowercase().as_str(),
                "cronjob" | "cronjobs" | "cj" | "cronjob.batch" | "cronjobs.batch"
            ) =>
        {
            name
        }
        Some((kind, _)) => {
            return Err(Error::NotACronJob {
                arg: arg.into(),
                kind: kind.into(),
            });
        }
    };
    if name.is_empty() || name.contains('/') {
        return Err(Error::BadCronJobName { arg: arg.into() });
    }
    Ok(name.to_string())
}

pub(crate) fn cronjobs_api(cluster: &Cluster, namespace: &str) -> Api<CronJob> {
    Api::namespaced(cluster.client.clone(), namespace)
}

pub(crate) fn jobs_api(cluster: &Cluster, namespace: &str) -> Api<Job> {
    Api::namespaced(cluster.client.clone(), namespace)
}

/// Reads the CronJob, or says where it was looked for.
pub(crate) async fn get_cronjob(cluster: &Cluster, namespace: &str, name: &str) -> Result<CronJob> {
    match cronjobs_api(cluster, namespace).get(name).await {
        Ok(cj) => Ok(cj),
        Err(e) if is_not_found(&e) => Err(Error::NoSuchCronJob {
            name: name.into(),
            namespace: namespace.into(),
        }),
        Err(e) => Err(api_error(e, &cluster.url, "get cronjobs")),
    }
}

/// Where a Job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum JobState {
    Running,
    Succeeded,
    Failed,
}

impl JobState {
    /// A Job is finished once its `Complete` or `Failed` condition is true
    /// (the job controller's terminal conditions; `FailureTarget` and
    /// `SuccessCriteriaMet` come first, while pods may still be stopping).
    pub(crate) fn of(job: &Job) -> JobState {
        let conditions = job
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten();
        for c in conditions {
            if c.status != "True" {
                continue;
            }
            match c.type_.as_str() {
                "Complete" => return JobState::Succeeded,
                "Failed" => return JobState::Failed,
                _ => {}
            }
        }
        JobState::Running
    }
}

/// One run of a CronJob, as `job list` and the run plan show it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunSummary {
    pub job: String,
    pub state: JobState,
    pub started: Option<DateTime<Utc>>,
    /// `manual` for a run started by hand (`cronjob.kubernetes.io/instantiate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instantiated: Option<String>,
    /// Who started it with oncall, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_by: Option<String>,
}

impl RunSummary {
    pub(crate) fn of(job: &Job) -> RunSummary {
        let annotations = job.metadata.annotations.as_ref();
        RunSummary {
            job: job.metadata.name.clone().unwrap_or_default(),
            state: JobState::of(job),
            started: job
                .status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .or(job.metadata.creation_timestamp.as_ref())
                .and_then(|t| {
                    DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond() as u32)
                }),
            instantiated: annotations.and_then(|a| a.get(run::INSTANTIATE)).cloned(),
            run_by: annotations.and_then(|a| a.get(run::RUN_BY)).cloned(),
        }
    }
}

/// The Jobs of the namespace made from CronJobs, a page at a time; kept
/// only as summaries keyed by their CronJob's uid, newest first.
pub(crate) async fn runs_by_cronjob(
    cluster: &Cluster,
    namespace: Option<&str>,
) -> Result<std::collections::HashMap<String, Vec<RunSummary>>> {
    let api: Api<Job> = match namespace {
        Some(ns) => jobs_api(cluster, ns),
        None => Api::all(cluster.client.clone()),
    };
    let mut out: std::collections::HashMap<String, Vec<RunSummary>> = Default::default();
    let mut params = ListParams::default().limit(500);
    loop {
        let page = api
            .list(&params)
            .await
            .map_err(|e| api_error(e, &cluster.url, "list jobs"))?;
        for job in &page.items {
            let owner = job
                .metadata
                .owner_references
                .iter()
                .flatten()
                .find(|o| o.kind == "CronJob");
            if let Some(o) = owner {
                out.entry(o.uid.clone())
                    .or_default()
                    .push(RunSummary::of(job));
            }
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    for runs in out.values_mut() {
        runs.sort_by(|a, b| b.started.cmp(&a.started).then(b.job.cmp(&a.job)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_cronjobs() {
        assert_eq!(parse_target("cronjob/builder").unwrap(), "builder");
        assert_eq!(parse_target("cj/builder").unwrap(), "builder");
        assert_eq!(parse_target("builder").unwrap(), "builder");
        let e = parse_target("deployment/web").unwrap_err().to_string();
        assert!(e.contains("cronjob/NAME"), "{e}");
        assert!(parse_target("cronjob/").is_err());
    }
}
