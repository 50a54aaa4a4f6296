//! Job controller: runs pods until `completions` succeed or `backoffLimit`
//! failures are reached.

use serde_json::json;

use super::podutil::{self, owned_pods, pod_from_template};
use super::{Ctx, State};
use crate::store::{DeleteOptions, UpdateMode, res};
use crate::util::{self, str_at};

pub(super) fn reconcile(ctx: &Ctx, st: &mut State, ns: &str, name: &str) {
    let jobs = res("jobs");
    let Some(job) = ctx.live("jobs", ns, name) else {
        return;
    };
    let uid = str_at(&job, &["metadata", "uid"]).to_string();
    let mut job = job;
    let orig = job.clone();
    // The API server gives each Job a selector on its own uid.
    if job["spec"]["selector"].is_null() {
        job["spec"]["selector"] =
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
        for (k, v) in [
            ("batch.kubernetes.io/controller-uid", uid.clone()),
            ("batch.kubernetes.io/job-name", name.to_string()),
            ("controller-uid", uid.clone()),
            ("job-name", name.to_string()),
        ] {
            job["spec"]["template"]["metadata"]["labels"][k] = json!(v);
        }
    }
    let finished = job["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True");
    let pods = owned_pods(ctx.store, ns, &uid);
    let succeeded = pods
        .iter()
        .filter(|p| p.meta.field("status.phase") == "Succeeded")
        .count() as i64;
    let failed = pods
        .iter()
        .filter(|p| p.meta.field("status.phase") == "Failed")
        .count() as i64;
    let active: Vec<_> = pods
        .iter()
        .filter(|p| podutil::is_active(&p.meta))
        .collect();
    let completions = job["spec"]["completions"].as_i64().unwrap_or(1);
    let parallelism = job["spec"]["parallelism"].as_i64().unwrap_or(1);
    let backoff = job["spec"]["backoffLimit"].as_i64().unwrap_or(6);
    let suspended = job["spec"]["suspend"].as_bool() == Some(true);
    if job["status"]["startTime"].is_null() && !suspended {
        job["status"]["startTime"] = json!(util::now_ts());
    }
    if !finished {
        if succeeded >= completions {
            let now = util::now_ts();
            podutil::set_condition(
                &mut job["status"],
                "SuccessCriteriaMet",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            );
            podutil::set_condition(
                &mut job["status"],
                "Complete",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            );
            job["status"]["completionTime"] = json!(now);
            st.recorder.record(
                ctx.store,
                &job,
                "Normal",
                "Completed",
                "Job completed",
                "job-controller",
            );
        } else if failed > backoff {
            podutil::set_condition(
                &mut job["status"],
                "FailureTarget",
                "True",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            );
            podutil::set_condition(
                &mut job["status"],
                "Failed",
                "True",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            );
            st.recorder.record(
                ctx.store,
                &job,
                "Warning",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                "job-controller",
            );
            for p in &active {
                let _ = ctx
                    .store
                    .delete(res("pods"), ns, &p.meta.name, &DeleteOptions::default());
            }
        } else if !suspended {
            let want = parallelism.min(completions - succeeded) - active.len() as i64;
            for _ in 0..want.max(0) {
                let pod = pod_from_template(&job, &job["spec"]["template"], None, &[]);
                if let Ok(p) = ctx.store.create(res("pods"), pod) {
                    st.recorder.record(
                        ctx.store,
                        &job,
                        "Normal",
                        "SuccessfulCreate",
                        &format!("Created pod: {}", p.meta.name),
                        "job-controller",
                    );
                }
            }
        }
    }
    let pods = owned_pods(ctx.store, ns, &uid);
    let active = pods.iter().filter(|p| podutil::is_active(&p.meta)).count();
    let ready = pods
        .iter()
        .filter(|p| podutil::is_active(&p.meta) && p.meta.ready)
        .count();
    let s = &mut job["status"];
    s["active"] = json!(active);
    s["ready"] = json!(ready);
    s["terminating"] = json!(pods.iter().filter(|p| p.meta.deleting).count());
    s["uncountedTerminatedPods"] = json!({});
    for (k, v) in [
        ("active", active as i64),
        ("succeeded", succeeded),
        ("failed", failed),
    ] {
        if v == 0 {
            if let Some(o) = s.as_object_mut() {
                o.remove(k);
            }
        } else {
            s[k] = json!(v);
        }
    }
    if job != orig {
        let _ = ctx.store.update(jobs, job, UpdateMode::Raw, true);
    }
}
