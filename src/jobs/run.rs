//! `job run`: start a CronJob's job now, as `kubectl create job
//! --from=cronjob/NAME` does, honouring its concurrency policy, then follow
//! it to its end. Shared by the command and the runbook action; reports
//! progress through events and never prints.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, LogParams, ObjectMeta, PostParams};
use kube::runtime::{WatchStreamExt, wait, watcher};
use serde::Serialize;

use super::{JobState, get_cronjob, jobs_api, runs_by_cronjob, schedule, suspend};
use crate::cluster::{Cluster, api_error, is_not_found, plain};
use crate::error::{Error, JobFailure, Result};
use crate::safety::{Audited, OpCtx, Plan, audit};
use crate::suggest;

/// The annotation `kubectl create job --from=cronjob/…` sets on the Job.
pub(crate) const INSTANTIATE: &str = "cronjob.kubernetes.io/instantiate";
/// Who started the run with oncall (the OS user, as the audit log has it).
pub(crate) const RUN_BY: &str = "oncall.dev/run-by";

/// How many log lines a failure report keeps.
const LOG_TAIL: usize = 20;

#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Start another run although the CronJob forbids concurrent runs.
    pub force: bool,
    /// Stream the pod's log while the job runs.
    pub follow: bool,
    /// How long to wait for the job to finish (it goes on afterwards).
    pub timeout: Duration,
}

/// One container of the job's template, as the plan shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ContainerFacts {
    pub name: String,
    pub image: String,
    /// Command and arguments, shell-quoted; empty for the image's entrypoint.
    pub command: String,
}

/// What the plan says about the CronJob.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Facts {
    pub containers: Vec<ContainerFacts>,
    pub concurrency_policy: String,
    /// Runs of the same CronJob that have not finished.
    pub active: Vec<String>,
    /// How it is suspended (who, when, why), when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended: Option<String>,
    pub schedule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    pub next_run: Option<DateTime<Utc>>,
}

/// One run, resolved and planned.
pub(crate) struct RunJob {
    pub namespace: String,
    pub cronjob: String,
    /// The Job to create.
    pub job: Job,
    /// Active runs deleted first (`concurrencyPolicy: Replace`).
    pub replace: Vec<String>,
    pub opts: Options,
    pub facts: Facts,
}

/// What happens while it runs.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// An active run was deleted (Replace).
    Replaced {
        job: String,
    },
    Created {
        job: String,
    },
    /// A pod of the job started; its log follows.
    Pod {
        pod: String,
    },
    Log {
        line: String,
    },
    /// The log cannot be streamed (for example a kubelet that serves none).
    LogsUnavailable {
        why: String,
    },
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    Succeeded,
    Failed,
    TimedOut,
    Interrupted,
    /// The Job could not be created.
    NotStarted,
}

/// `job run -o json`, and the runbook step's output.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub cronjob: String,
    pub namespace: String,
    pub job: Option<String>,
    pub outcome: Verdict,
    /// Active runs deleted first (Replace).
    pub replaced: Vec<String>,
    pub pod: Option<String>,
    pub exit_code: Option<i32>,
    /// The Job's condition reason and message when it failed.
    pub reason: Option<String>,
    pub message: Option<String>,
    pub duration_seconds: f64,
    /// The last lines of its log, when they could be read.
    pub log_tail: Vec<String>,
    /// Why no log was shown, when it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs_unavailable: Option<String>,
    pub facts: Facts,
}

pub(crate) struct Outcome {
    pub report: Report,
    pub result: Result<()>,
}

/// The audit log's outcome, the same for the command and the runbook: the
/// jobs deleted and created are what was done.
impl Audited for Outcome {
    fn audit(&self) -> audit::Outcome {
        let report = &self.report;
        let mut record = match &self.result {
            Ok(()) => audit::Outcome::ok(format!(
                "job `{}` succeeded",
                report.job.as_deref().unwrap_or_default()
            )),
            Err(e) => audit::Outcome::from_error(e),
        };
        record.done = report
            .replaced
            .iter()
            .map(|j| format!("deleted job/{j}"))
            .chain(report.job.iter().map(|j| format!("created job/{j}")))
            .collect();
        record
    }
}

/// Reads the CronJob and its active runs and plans the run. Refuses,
/// changing nothing, when the CronJob forbids concurrent runs and one is
/// active, unless `opts.force`.
pub(crate) async fn prepare(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    user: &str,
    opts: Options,
) -> Result<(RunJob, Plan)> {
    let cj = get_cronjob(cluster, namespace, name).await?;
    let uid = cj.metadata.uid.clone().unwrap_or_default();
    let spec = cj.spec.clone().unwrap_or_default();
    let policy = spec
        .concurrency_policy
        .clone()
        .unwrap_or_else(|| "Allow".into());
    let active: Vec<String> = runs_by_cronjob(cluster, Some(namespace))
        .await?
        .remove(&uid)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.state == JobState::Running)
        .map(|r| r.job)
        .collect();
    let now = Utc::now();
    let next = schedule::next_run(&spec.schedule, spec.time_zone.as_deref(), now);
    let facts = Facts {
        containers: containers(&cj),
        concurrency_policy: policy.clone(),
        active: active.clone(),
        suspended: suspend::describe_suspension(&cj),
        schedule: spec.schedule.clone(),
        time_zone: spec.time_zone.clone(),
        next_run: next.as_ref().ok().copied(),
    };
    let listed = active
        .iter()
        .map(|j| format!("`{j}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if policy == "Forbid" && !active.is_empty() && !opts.force {
        return Err(Error::Refused(format!(
            "`cronjob/{name}` allows one run at a time (concurrencyPolicy: Forbid) and job {listed} is still running; nothing was changed: wait for it to finish, or pass --force to start another alongside it"
        )));
    }
    let mut plan = Plan::new(format!("run cronjob/{name} now"), cluster).in_namespace(namespace);
    let replace = if policy == "Replace" {
        active.clone()
    } else {
        Vec::new()
    };
    for j in &replace {
        plan.change(
            format!("job/{j}"),
            "delete",
            "still running; concurrencyPolicy Replace: the new run replaces it",
        );
    }
    plan.change(
        format!("cronjob/{name}"),
        "run now",
        format!(
            "a new Job from its jobTemplate (as `kubectl create job --from=cronjob/{name}`): {}",
            describe_containers(&facts.containers)
        ),
    );
    plan.change(
        format!("job/{}…", generate_name(name)),
        "wait",
        format!(
            "until it succeeds or fails (up to {}){}",
            humantime::format_duration(opts.timeout),
            if opts.follow {
                ", streaming its log"
            } else {
                ""
            }
        ),
    );
    if !active.is_empty() && replace.is_empty() {
        let why = if policy == "Forbid" {
            "concurrencyPolicy Forbid, overridden with --force"
        } else {
            "concurrencyPolicy Allow"
        };
        plan.warn(format!(
            "another run of cronjob/{name} is active (job {listed}); {why}: both will run at once"
        ));
    }
    if let Some(how) = &facts.suspended {
        plan.warn(format!(
            "cronjob/{name} is suspended {how}: this run goes ahead, the scheduled runs stay suspended"
        ));
    }
    match (&next, &facts.suspended) {
        (Ok(at), None) => plan.warn(format!(
            "the next scheduled run is due at {} (in {}){}",
            at.format("%Y-%m-%d %H:%M UTC"),
            crate::age::human(*at - now),
            zone_note(spec.time_zone.as_deref())
        )),
        (Ok(_), Some(_)) => {}
        (Err(e), _) => plan.warn(format!("cannot tell when the next run is due: {e}")),
    }
    let job = job_from(&cj, name, namespace, &uid, user);
    let run = RunJob {
        namespace: namespace.to_string(),
        cronjob: name.to_string(),
        job,
        replace,
        opts,
        facts,
    };
    Ok((run, plan))
}

fn zone_note(zone: Option<&str>) -> String {
    zone.map(|z| format!(", schedule in {z}"))
        .unwrap_or_default()
}

/// The name prefix of manual runs; the API server adds five characters.
/// Job names end up in a label, so they stay within 63 characters.
fn generate_name(cronjob: &str) -> String {
    let base: String = cronjob.chars().take(50).collect();
    format!("{}-manual-", base.trim_end_matches('-'))
}

/// The Job `kubectl create job --from=cronjob/NAME` makes: the template's
/// labels, annotations and spec, the `instantiate: manual` annotation and a
/// controller reference to the CronJob (without `blockOwnerDeletion`, as
/// kubectl, which would need a permission on the CronJob's finalizers).
fn job_from(cj: &CronJob, name: &str, namespace: &str, uid: &str, user: &str) -> Job {
    let template = cj
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut annotations: BTreeMap<String, String> = meta.annotations.unwrap_or_default();
    annotations.insert(INSTANTIATE.into(), "manual".into());
    annotations.insert(RUN_BY.into(), user.into());
    Job {
        metadata: ObjectMeta {
            generate_name: Some(generate_name(name)),
            namespace: Some(namespace.to_string()),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "CronJob".into(),
                name: name.to_string(),
                uid: uid.to_string(),
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

fn containers(cj: &CronJob) -> Vec<ContainerFacts> {
    let pod_spec = cj
        .spec
        .as_ref()
        .and_then(|s| s.job_template.spec.as_ref())
        .and_then(|s| s.template.spec.as_ref());
    pod_spec
        .map(|p| p.containers.iter().map(container_facts).collect())
        .unwrap_or_default()
}

fn container_facts(c: &Container) -> ContainerFacts {
    let words: Vec<&str> = c
        .command
        .iter()
        .flatten()
        .chain(c.args.iter().flatten())
        .map(String::as_str)
        .collect();
    ContainerFacts {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        command: shlex::try_join(words.iter().copied()).unwrap_or_else(|_| words.join(" ")),
    }
}

fn describe_containers(containers: &[ContainerFacts]) -> String {
    let one = |c: &ContainerFacts| {
        let command = if c.command.is_empty() {
            "the image's own entrypoint".to_string()
        } else {
            format!("`{}`", c.command)
        };
        format!("image {}, command {command}", c.image)
    };
    match containers {
        [c] => one(c),
        many => many
            .iter()
            .map(|c| format!("{}: {}", c.name, one(c)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// Runs the job: replaces active runs if planned, creates the Job, follows
/// it (and its log) until it finishes, the timeout passes or Ctrl-C. The
/// Job goes on after a timeout or an interrupt: only the wait ends.
pub(crate) async fn run(cluster: &Cluster, job: &RunJob, ctx: &OpCtx<'_, Event>) -> Outcome {
    let started = Instant::now();
    let mut report = Report {
        cronjob: job.cronjob.clone(),
        namespace: job.namespace.clone(),
        job: None,
        outcome: Verdict::NotStarted,
        replaced: Vec::new(),
        pod: None,
        exit_code: None,
        reason: None,
        message: None,
        duration_seconds: 0.0,
        log_tail: Vec::new(),
        logs_unavailable: None,
        facts: job.facts.clone(),
    };
    let result = steps(cluster, job, ctx, &mut report).await;
    report.duration_seconds = started.elapsed().as_secs_f64();
    Outcome { report, result }
}

async fn steps(
    cluster: &Cluster,
    job: &RunJob,
    ctx: &OpCtx<'_, Event>,
    report: &mut Report,
) -> Result<()> {
    let jobs = jobs_api(cluster, &job.namespace);
    for old in &job.replace {
        match jobs.delete(old, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(api_error(e, &cluster.url, "delete jobs")),
        }
        report.replaced.push(old.clone());
        ctx.emit(Event::Replaced { job: old.clone() });
    }
    let created = jobs
        .create(&PostParams::default(), &job.job)
        .await
        .map_err(|e| api_error(e, &cluster.url, "create jobs"))?;
    let name = created.metadata.name.clone().unwrap_or_default();
    report.job = Some(name.clone());
    report.outcome = Verdict::Interrupted;
    ctx.emit(Event::Created { job: name.clone() });

    let tail = Mutex::new(Vec::new());
    let unavailable = Mutex::new(None);
    let follow = follow_logs(cluster, &job.namespace, &name, ctx, &tail, &unavailable);
    let finished = async {
        let done = |j: Option<&Job>| j.is_none_or(|j| JobState::of(j) != JobState::Running);
        tokio::time::timeout(
            job.opts.timeout,
            wait::await_condition(jobs.clone(), &name, done),
        )
        .await
    };
    tokio::pin!(follow);
    tokio::pin!(finished);
    let mut following = job.opts.follow;
    let end = loop {
        tokio::select! {
            r = &mut finished => break Some(r),
            _ = ctx.cancel.cancelled() => break None,
            _ = &mut follow, if following => following = false,
        }
    };
    if following {
        // The log's last lines can trail the Job's status by a moment.
        let _ = tokio::time::timeout(Duration::from_secs(3), &mut follow).await;
    }
    report.logs_unavailable = unavailable.lock().map(|u| u.clone()).unwrap_or_default();
    let ns = &job.namespace;
    let Some(end) = end else {
        return Err(Error::Interrupted {
            done: vec![format!("job `{name}` was created")],
            not_done: vec!["waiting for it to finish (the job goes on)".into()],
            next: Some(format!(
                "follow it with `{}`",
                suggest::kubectl(&format!("logs -n {ns} -f job/{name}"))
            )),
        });
    };
    let finished = match end {
        Err(_) => {
            report.outcome = Verdict::TimedOut;
            return Err(Error::TimedOut {
                after: humantime::format_duration(job.opts.timeout).to_string(),
                what: format!(
                    "job `{name}` is still running and goes on; follow it with `{}`, or stop it with `{}`",
                    suggest::kubectl(&format!("logs -n {ns} -f job/{name}")),
                    suggest::kubectl(&format!("delete -n {ns} job/{name}"))
                ),
            });
        }
        Ok(Err(e)) => return Err(job_lost(&name, ns, e.to_string())),
        Ok(Ok(None)) => {
            report.outcome = Verdict::Failed;
            return Err(job_lost(
                &name,
                ns,
                "it was deleted before it finished".into(),
            ));
        }
        Ok(Ok(Some(j))) => j,
    };
    describe_pod(cluster, ns, &name, report).await;
    // The followed log's last lines, or else the pod's log read now.
    report.log_tail = tail
        .lock()
        .map(|lines| lines[lines.len().saturating_sub(LOG_TAIL)..].to_vec())
        .unwrap_or_default();
    if report.log_tail.is_empty() {
        report.log_tail = log_tail(cluster, ns, report.pod.as_deref()).await;
    }
    if JobState::of(&finished) == JobState::Succeeded {
        report.outcome = Verdict::Succeeded;
        return Ok(());
    }
    report.outcome = Verdict::Failed;
    if let Some(c) = finished
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "Failed" && c.status == "True")
    {
        report.reason = c.reason.clone();
        report.message = c.message.clone();
    }
    Err(failure_error(report))
}

fn job_lost(name: &str, ns: &str, why: String) -> Error {
    Error::JobLost {
        job: name.into(),
        why,
        list: crate::suggest::oncall(&format!("-n {ns} job list")),
    }
}

fn failure_error(report: &Report) -> Error {
    Error::JobFailed(Box::new(JobFailure {
        job: report.job.clone().unwrap_or_default(),
        cronjob: report.cronjob.clone(),
        namespace: report.namespace.clone(),
        reason: report.reason.clone(),
        message: report.message.clone(),
        pod: report.pod.clone(),
        exit_code: report.exit_code,
    }))
}

fn job_pods(cluster: &Cluster, namespace: &str) -> Api<Pod> {
    Api::namespaced(cluster.client.clone(), namespace)
}

fn job_selector(job: &str) -> String {
    format!("batch.kubernetes.io/job-name={job}")
}

/// Whether the pod's first container has started (running or finished),
/// so that its log can be read.
fn started(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .and_then(|c| c.state.as_ref())
        .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
}

/// Streams the log of each pod of the job as it starts, one after another
/// (a retried job has several). Stops for good, saying why once, when the
/// log cannot be read at all.
async fn follow_logs(
    cluster: &Cluster,
    namespace: &str,
    job: &str,
    ctx: &OpCtx<'_, Event>,
    tail: &Mutex<Vec<String>>,
    unavailable: &Mutex<Option<String>>,
) {
    let pods = job_pods(cluster, namespace);
    let config = watcher::Config::default().labels(&job_selector(job));
    let mut seen = HashSet::new();
    let stream = watcher(pods.clone(), config).applied_objects();
    tokio::pin!(stream);
    while let Ok(Some(pod)) = stream.try_next().await {
        let name = pod.metadata.name.clone().unwrap_or_default();
        if !started(&pod) || !seen.insert(name.clone()) {
            continue;
        }
        ctx.emit(Event::Pod { pod: name.clone() });
        let container = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .map(|c| c.name.clone());
        let params = LogParams {
            follow: true,
            container,
            ..Default::default()
        };
        let reader = match pods.log_stream(&name, &params).await {
            Ok(r) => r,
            Err(e) => {
                let why = format!(
                    "the log of pod `{name}` cannot be streamed ({}), so the job is followed without it",
                    plain(&e)
                );
                if let Ok(mut u) = unavailable.lock() {
                    *u = Some(why.clone());
                }
                ctx.emit(Event::LogsUnavailable { why });
                return;
            }
        };
        let mut lines = reader.lines();
        while let Some(Ok(line)) = lines.next().await {
            if let Ok(mut t) = tail.lock() {
                t.push(line.clone());
                let excess = t.len().saturating_sub(LOG_TAIL * 10);
                t.drain(..excess);
            }
            ctx.emit(Event::Log { line });
        }
    }
}

/// Fills in the pod that ran last and its container's exit code.
async fn describe_pod(cluster: &Cluster, namespace: &str, job: &str, report: &mut Report) {
    let params = kube::api::ListParams::default().labels(&job_selector(job));
    let Ok(list) = job_pods(cluster, namespace).list(&params).await else {
        return;
    };
    let last = list
        .items
        .into_iter()
        .max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0));
    let Some(pod) = last else {
        return;
    };
    report.pod = pod.metadata.name.clone();
    report.exit_code = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.exit_code);
}

/// The last lines of the pod's log (best effort: none when it cannot be read).
async fn log_tail(cluster: &Cluster, namespace: &str, pod: Option<&str>) -> Vec<String> {
    let Some(pod) = pod else {
        return Vec::new();
    };
    let params = LogParams {
        tail_lines: Some(LOG_TAIL as i64),
        ..Default::default()
    };
    match job_pods(cluster, namespace).logs(pod, &params).await {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safety::Cancel;
    use crate::testing::{Recorder, shop, sim_cluster};

    #[test]
    fn a_manual_run_is_made_as_kubectl_makes_it() {
        let cj: CronJob = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "builder", "namespace": "prod", "uid": "u-1"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {
                "metadata": {"labels": {"app": "builder"}, "annotations": {"team": "powo"}},
                "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "build", "image": "powo/builder:4.2",
                                    "command": ["/bin/build"], "args": ["--all", "two words"]}]}}}}}
        }))
        .unwrap();
        let job = job_from(&cj, "builder", "prod", "u-1", "alice");
        let meta = &job.metadata;
        assert_eq!(meta.generate_name.as_deref(), Some("builder-manual-"));
        let annotations = meta.annotations.as_ref().unwrap();
        assert_eq!(annotations[INSTANTIATE], "manual");
        assert_eq!(annotations["team"], "powo");
        assert_eq!(annotations[RUN_BY], "alice");
        assert_eq!(meta.labels.as_ref().unwrap()["app"], "builder");
        let owner = &meta.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("CronJob", "u-1", Some(true))
        );
        assert_eq!(job.spec.unwrap().backoff_limit, Some(0));
        let facts = containers(&cj);
        assert_eq!(facts[0].command, "/bin/build --all 'two words'");
        assert_eq!(
            describe_containers(&facts),
            "image powo/builder:4.2, command `/bin/build --all 'two words'`"
        );
        assert!(generate_name(&"x".repeat(80)).len() + 5 <= 63);
    }

    const CRONJOB: &str = r#"
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: shop}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          containers: [{name: report, image: "shop/report:1"}]
"#;

    fn opts() -> Options {
        Options {
            force: false,
            follow: false,
            timeout: Duration::from_secs(60),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_creates_the_job_follows_it_and_says_what_it_did() {
        let t = sim_cluster(&(shop() + CRONJOB), "shop").await;
        let (job, _) = prepare(&t.cluster, "shop", "report", "alice", opts())
            .await
            .unwrap();
        let seen = Recorder::new();
        let observer = |e| seen.record(e);
        let ctx = OpCtx::new("alice", Cancel::manual(), &observer);
        let outcome = run(&t.cluster, &job, &ctx).await;
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        assert_eq!(outcome.report.outcome, Verdict::Succeeded);
        let name = outcome.report.job.clone().expect("a job was created");
        assert!(name.starts_with("report-manual-"), "{name}");
        let created = seen
            .events()
            .iter()
            .any(|e| matches!(e, Event::Created { job } if *job == name));
        assert!(created, "{:?}", seen.events());
        let audit = outcome.audit();
        assert_eq!(audit.status, audit::Status::Ok);
        assert_eq!(audit.done, vec![format!("created job/{name}")]);
        let made = t
            .sim
            .get("jobs", Some("shop"), &name)
            .expect("the job exists");
        assert_eq!(made["metadata"]["annotations"][RUN_BY], "alice");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_wait_leaves_the_job_running() {
        let t = sim_cluster(&(shop() + CRONJOB), "shop").await;
        let (job, _) = prepare(&t.cluster, "shop", "report", "alice", opts())
            .await
            .unwrap();
        let cancel = Cancel::manual();
        let stop = cancel.clone();
        // The user presses Ctrl-C as soon as the job exists.
        let observer = move |e| {
            if matches!(e, Event::Created { .. }) {
                stop.cancel();
            }
        };
        let ctx = OpCtx::new("alice", cancel, &observer);
        let outcome = run(&t.cluster, &job, &ctx).await;
        let err = outcome.result.as_ref().unwrap_err();
        assert!(
            err.to_string()
                .contains("not done: waiting for it to finish (the job goes on); follow it with"),
            "{err}"
        );
        assert_eq!(outcome.report.outcome, Verdict::Interrupted);
        let name = outcome.report.job.clone().unwrap();
        assert!(t.sim.get("jobs", Some("shop"), &name).is_some());
        assert_eq!(outcome.audit().status, audit::Status::Interrupted);
    }
}
