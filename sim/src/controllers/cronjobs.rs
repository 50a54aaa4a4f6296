//! CronJob controller: creates each scheduled Job when its time comes, as
//! the cronjob controller of kube-controller-manager does: named
//! `NAME-<minutes since the epoch>`, owned by the CronJob, with the
//! concurrency policy, the starting deadline and the history limits honoured,
//! and `status.active`, `lastScheduleTime` and `lastSuccessfulTime` kept.
//!
//! Schedules missed before the simulator started are not run: a seed's
//! CronJob may look 40 days old (`sim.oncall.dev/age`) or carry an old
//! `lastScheduleTime`, but the simulated control plane did not exist then,
//! just as a real cluster seeded a moment ago has no missed runs (the API
//! server ignores a status sent with a create).

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde_json::{Value, json};

use super::{Ctx, State, obj_key};
use crate::store::{DeleteOptions, UpdateMode, res};
use crate::util::{self, parse_ts, str_at};

pub(super) fn reconcile(ctx: &Ctx, st: &mut State, ns: &str, name: &str) {
    let cronjobs = res("cronjobs");
    let Some(cj) = ctx.live("cronjobs", ns, name) else {
        return;
    };
    let mut cj = cj;
    let orig = cj.clone();
    let uid = str_at(&cj, &["metadata", "uid"]).to_string();
    let jobs = owned_jobs(ctx, ns, &uid);
    let active: Vec<&Value> = jobs.iter().filter(|j| finished(j).is_none()).collect();
    keep_history(ctx, &cj, &jobs);
    if let Some(last) = jobs
        .iter()
        .filter(|j| finished(j) == Some(true))
        .filter_map(|j| j["status"]["completionTime"].as_str())
        .max()
    {
        cj["status"]["lastSuccessfulTime"] = json!(last);
    }
    cj["status"]["active"] = json!(active.iter().map(|j| reference(j)).collect::<Vec<_>>());
    if cj["spec"]["suspend"].as_bool() != Some(true) {
        run_due(ctx, st, &mut cj, &active);
    }
    if cj["status"]["active"].as_array().is_some_and(Vec::is_empty)
        && let Some(status) = cj["status"].as_object_mut()
    {
        status.remove("active");
    }
    if cj != orig {
        let _ = ctx.store.update(cronjobs, cj, UpdateMode::Raw, true);
    }
}

/// Starts the most recent scheduled run that is due and not started yet,
/// and asks to be woken for the next one.
fn run_due(ctx: &Ctx, st: &mut State, cj: &mut Value, active: &[&Value]) {
    let ns = str_at(cj, &["metadata", "namespace"]).to_string();
    let name = str_at(cj, &["metadata", "name"]).to_string();
    let Some(schedule) = Schedule::of(cj) else {
        return;
    };
    let now = util::now();
    // Woken for the next run once: the periodic resync reconciles a small
    // cluster's CronJobs every few seconds, and each would add a timer.
    let key = obj_key("cronjobs", &ns, &name);
    if let Some(next) = schedule.after(now)
        && !st.wake.values().any(|keys| keys.contains(&key))
    {
        let wait = (next - now).to_std().unwrap_or_default();
        st.wake_in(wait + Duration::from_millis(50), key);
    }
    let mut earliest = cj["status"]["lastScheduleTime"]
        .as_str()
        .or_else(|| cj["metadata"]["creationTimestamp"].as_str())
        .and_then(parse_ts)
        .unwrap_or(now)
        .max(ctx.sh.started);
    let deadline = cj["spec"]["startingDeadlineSeconds"].as_i64();
    if let Some(seconds) = deadline {
        earliest = earliest.max(now - chrono::Duration::seconds(seconds));
    }
    let Some(due) = schedule.latest_between(earliest, now) else {
        return;
    };
    match str_at(cj, &["spec", "concurrencyPolicy"]) {
        // The run waits until the active one ends (if still in its deadline).
        "Forbid" if !active.is_empty() => return,
        "Replace" => {
            for job in active {
                // The garbage collector takes the Job's pods.
                let _ = ctx.store.delete(
                    res("jobs"),
                    &ns,
                    str_at(job, &["metadata", "name"]),
                    &DeleteOptions::default(),
                );
            }
            cj["status"]["active"] = json!([]);
        }
        _ => {}
    }
    let job_name = format!("{name}-{}", due.timestamp() / 60);
    match ctx.store.create(res("jobs"), job_for(cj, &job_name, due)) {
        Ok(job) => {
            let job = job.value();
            if let Some(list) = cj["status"]["active"].as_array_mut() {
                list.push(reference(&job));
            }
            st.recorder.record(
                ctx.store,
                cj,
                "Normal",
                "SuccessfulCreate",
                &format!("Created job {job_name}"),
                "cronjob-controller",
            );
        }
        // Already made for this time (its status was not written yet).
        Err(_) if ctx.store.get(res("jobs"), &ns, &job_name).is_some() => {}
        Err(_) => return,
    }
    cj["status"]["lastScheduleTime"] = json!(util::ts(due));
}

/// The Job of the run due at `due`, from the CronJob's template.
fn job_for(cj: &Value, job_name: &str, due: DateTime<Utc>) -> Value {
    let template = &cj["spec"]["jobTemplate"];
    let mut annotations = template["metadata"]["annotations"].clone();
    if !annotations.is_object() {
        annotations = json!({});
    }
    annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] = json!(util::ts(due));
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name,
            "namespace": cj["metadata"]["namespace"],
            "labels": template["metadata"]["labels"],
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": cj["metadata"]["name"],
                "uid": cj["metadata"]["uid"],
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": template["spec"],
    })
}

/// Deletes the oldest finished Jobs beyond the CronJob's history limits.
fn keep_history(ctx: &Ctx, cj: &Value, jobs: &[Value]) {
    for (succeeded, field, default) in [
        (true, "successfulJobsHistoryLimit", 3),
        (false, "failedJobsHistoryLimit", 1),
    ] {
        let limit = cj["spec"][field].as_u64().unwrap_or(default) as usize;
        let mut done: Vec<&Value> = jobs
            .iter()
            .filter(|j| finished(j) == Some(succeeded))
            .collect();
        done.sort_by_key(|j| str_at(j, &["metadata", "creationTimestamp"]).to_string());
        let excess = done.len().saturating_sub(limit);
        for job in &done[..excess] {
            let _ = ctx.store.delete(
                res("jobs"),
                str_at(job, &["metadata", "namespace"]),
                str_at(job, &["metadata", "name"]),
                &DeleteOptions::default(),
            );
        }
    }
}

fn owned_jobs(ctx: &Ctx, ns: &str, uid: &str) -> Vec<Value> {
    ctx.store
        .scan(res("jobs"), Some(ns), |m| {
            m.owner.as_ref().is_some_and(|(_, _, owner)| owner == uid)
        })
        .iter()
        .map(|s| s.value())
        .filter(|j| j["metadata"]["deletionTimestamp"].is_null())
        .collect()
}

/// `Some(true)` when the Job completed, `Some(false)` when it failed,
/// `None` while it runs.
fn finished(job: &Value) -> Option<bool> {
    job["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == "True")
        .find_map(|c| match c["type"].as_str() {
            Some("Complete") => Some(true),
            Some("Failed") => Some(false),
            _ => None,
        })
}

/// The object reference `status.active` lists.
fn reference(job: &Value) -> Value {
    let meta = &job["metadata"];
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": meta["name"],
        "namespace": meta["namespace"],
        "uid": meta["uid"],
        "resourceVersion": meta["resourceVersion"],
    })
}

/// A CronJob's schedule in its time zone: five fields or a macro, with the
/// old `CRON_TZ=`/`TZ=` prefix still read.
struct Schedule {
    cron: Cron,
    zone: Option<Tz>,
}

impl Schedule {
    fn of(cj: &Value) -> Option<Schedule> {
        let mut text = str_at(cj, &["spec", "schedule"]).trim();
        let mut zone = cj["spec"]["timeZone"].as_str().map(str::to_string);
        for prefix in ["CRON_TZ=", "TZ="] {
            if let Some((z, rest)) = text
                .strip_prefix(prefix)
                .and_then(|r| r.split_once(char::is_whitespace))
            {
                zone = zone.or(Some(z.to_string()));
                text = rest.trim();
            }
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(text)
            .ok()?;
        let zone = match zone {
            Some(z) => Some(z.parse().ok()?),
            None => None,
        };
        Some(Schedule { cron, zone })
    }

    fn after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.zone {
            None => self.cron.find_next_occurrence(&t, false).ok(),
            Some(tz) => self
                .cron
                .find_next_occurrence(&t.with_timezone(&tz), false)
                .ok()
                .map(|n| n.with_timezone(&Utc)),
        }
    }

    /// The last scheduled time in `(from, to]`.
    fn latest_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut latest = None;
        while let Some(next) = self.after(latest.unwrap_or(from)).filter(|n| *n <= to) {
            latest = Some(next);
        }
        latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        parse_ts(text).unwrap()
    }

    fn schedule(spec: Value) -> Schedule {
        Schedule::of(&json!({ "spec": spec })).expect("a schedule")
    }

    #[test]
    fn the_latest_missed_time_is_the_one_run() {
        let every_15 = schedule(json!({"schedule": "*/15 * * * *"}));
        assert_eq!(
            every_15.latest_between(at("2026-12-01T10:00:00Z"), at("2026-12-01T10:50:00Z")),
            Some(at("2026-12-01T10:45:00Z"))
        );
        // `from` itself already ran; nothing is due before the next time.
        assert_eq!(
            every_15.latest_between(at("2026-12-01T10:45:00Z"), at("2026-12-01T10:59:59Z")),
            None
        );
    }

    #[test]
    fn the_time_zone_comes_from_the_field_or_the_old_prefix() {
        let field = schedule(json!({"schedule": "0 3 * * *", "timeZone": "Europe/Berlin"}));
        let prefix = schedule(json!({"schedule": "CRON_TZ=Europe/Berlin 0 3 * * *"}));
        for s in [field, prefix] {
            assert_eq!(
                s.after(at("2026-12-01T12:00:00Z")),
                Some(at("2026-12-02T02:00:00Z"))
            );
        }
        assert!(
            Schedule::of(&json!({"spec": {"schedule": "0 3 * * *", "timeZone": "Mars/Olympus"}}))
                .is_none()
        );
    }
}
