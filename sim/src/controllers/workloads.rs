//! ReplicaSet and Deployment controllers.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::podutil::{self, is_active, is_ready, owned_pods, pod_from_template, template_hash};
use super::{Ctx, State, obj_key};
use crate::store::{DeleteOptions, UpdateMode, res};
use crate::util::{int_or_percent, str_at};

const REVISION: &str = "deployment.kubernetes.io/revision";

pub(super) fn reconcile_replicaset(ctx: &Ctx, st: &mut State, ns: &str, name: &str) {
    let rs_r = res("replicasets");
    let Some(rs) = ctx.live("replicasets", ns, name) else {
        return;
    };
    let uid = str_at(&rs, &["metadata", "uid"]).to_string();
    let want = rs["spec"]["replicas"].as_i64().unwrap_or(1);
    let pods = owned_pods(ctx.store, ns, &uid);
    let active: Vec<_> = pods.iter().filter(|p| is_active(&p.meta)).collect();
    let have = active.len() as i64;
    if have < want {
        let hash = str_at(&rs, &["metadata", "labels", "pod-template-hash"]).to_string();
        for _ in 0..(want - have) {
            let mut extra = vec![];
            if !hash.is_empty() {
                extra.push(("pod-template-hash", hash.clone()));
            }
            let pod = pod_from_template(&rs, &rs["spec"]["template"], None, &extra);
            match ctx.store.create(res("pods"), pod) {
                Ok(p) => {
                    st.recorder.record(
                        ctx.store,
                        &rs,
                        "Normal",
                        "SuccessfulCreate",
                        &format!("Created pod: {}", p.meta.name),
                        "replicaset-controller",
                    );
                }
                Err(e) => tracing::warn!("replicaset {ns}/{name}: {e}"),
            }
        }
    } else if have > want {
        // Delete the least useful pods first: unscheduled, then not ready, then newest.
        let mut victims: Vec<_> = active.clone();
        victims.sort_by_key(|p| {
            (
                !p.meta.field("spec.nodeName").is_empty(),
                is_ready(&p.meta),
                std::cmp::Reverse(p.meta.rv),
            )
        });
        for p in victims.iter().take((have - want) as usize) {
            if ctx
                .store
                .delete(res("pods"), ns, &p.meta.name, &DeleteOptions::default())
                .is_ok()
            {
                st.recorder.record(
                    ctx.store,
                    &rs,
                    "Normal",
                    "SuccessfulDelete",
                    &format!("Deleted pod: {}", p.meta.name),
                    "replicaset-controller",
                );
            }
        }
    }
    let pods = owned_pods(ctx.store, ns, &uid);
    let active: Vec<_> = pods.iter().filter(|p| is_active(&p.meta)).collect();
    let ready = active.iter().filter(|p| is_ready(&p.meta)).count() as i64;
    let mut new = rs.clone();
    let s = &mut new["status"];
    s["replicas"] = json!(active.len());
    s["fullyLabeledReplicas"] = json!(active.len());
    s["readyReplicas"] = json!(ready);
    s["availableReplicas"] = json!(ready);
    s["terminatingReplicas"] = json!(pods.iter().filter(|p| p.meta.deleting).count());
    s["observedGeneration"] = rs["metadata"]["generation"].clone();
    if new != rs {
        let _ = ctx.store.update(rs_r, new, UpdateMode::Raw, true);
    }
}

struct Rs {
    v: Value,
    name: String,
    replicas: i64,
    available: i64,
    ready: i64,
    status_replicas: i64,
    revision: i64,
}

impl Rs {
    fn of(v: Value) -> Self {
        Rs {
            name: str_at(&v, &["metadata", "name"]).to_string(),
            replicas: v["spec"]["replicas"].as_i64().unwrap_or(0),
            available: v["status"]["availableReplicas"].as_i64().unwrap_or(0),
            ready: v["status"]["readyReplicas"].as_i64().unwrap_or(0),
            status_replicas: v["status"]["replicas"].as_i64().unwrap_or(0),
            revision: str_at(&v, &["metadata", "annotations", REVISION])
                .parse()
                .unwrap_or(0),
            v,
        }
    }
}

fn scale_rs(ctx: &Ctx, st: &mut State, d: &Value, rs: &mut Rs, to: i64) {
    if rs.replicas == to {
        return;
    }
    let mut v = rs.v.clone();
    v["spec"]["replicas"] = json!(to);
    v["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
        json!(d["spec"]["replicas"].as_i64().unwrap_or(1).to_string());
    let verb = if to > rs.replicas { "up" } else { "down" };
    if let Ok(s) = ctx
        .store
        .update(res("replicasets"), v, UpdateMode::Raw, true)
    {
        st.recorder.record(
            ctx.store,
            d,
            "Normal",
            "ScalingReplicaSet",
            &format!(
                "Scaled {verb} replica set {} from {} to {to}",
                rs.name, rs.replicas
            ),
            "deployment-controller",
        );
        st.dirty
            .insert(obj_key("replicasets", &s.meta.namespace, &s.meta.name));
        rs.v = s.value();
        rs.replicas = to;
    }
}

pub(super) fn reconcile_deployment(ctx: &Ctx, st: &mut State, ns: &str, name: &str) {
    let Some(d) = ctx.store.get_value(res("deployments"), ns, name) else {
        return;
    };
    if !d["metadata"]["deletionTimestamp"].is_null() {
        return;
    }
    let paused = d["spec"]["paused"].as_bool() == Some(true);
    let mut all = owned_replicasets(ctx, &d, ns);
    let (new_idx, created_new) = current_replicaset(ctx, st, &d, &mut all, paused);
    if !paused && let Some(ni) = new_idx {
        roll(ctx, st, &d, &mut all, ni);
    }
    prune_history(ctx, &d, &all, new_idx);
    update_status(ctx, st, &d, &all, new_idx, created_new);
}

/// The Deployment's live ReplicaSets, oldest revision first.
fn owned_replicasets(ctx: &Ctx, d: &Value, ns: &str) -> Vec<Rs> {
    let uid = str_at(d, &["metadata", "uid"]);
    let mut all: Vec<Rs> = ctx
        .store
        .scan(res("replicasets"), Some(ns), |m| m.owner_uid() == Some(uid))
        .iter()
        .map(|s| Rs::of(s.value()))
        .filter(|r| r.v["metadata"]["deletionTimestamp"].is_null())
        .collect();
    all.sort_by_key(|r| r.revision);
    all
}

/// The index of the ReplicaSet running the current template, made newest
/// or created as needed (not while paused), and the name of one created.
fn current_replicaset(
    ctx: &Ctx,
    st: &mut State,
    d: &Value,
    all: &mut Vec<Rs>,
    paused: bool,
) -> (Option<usize>, Option<String>) {
    let hash = template_hash(&d["spec"]["template"]);
    let max_rev = all.iter().map(|r| r.revision).max().unwrap_or(0);
    let found = all.iter().position(|r| {
        let mut t = r.v["spec"]["template"].clone();
        if let Some(l) = t["metadata"]["labels"].as_object_mut() {
            l.remove("pod-template-hash");
        }
        template_hash(&t) == hash
    });
    match found {
        Some(i) => {
            // Rolling back to an old template makes it the newest revision.
            if all[i].revision != max_rev && !paused {
                let mut v = all[i].v.clone();
                v["metadata"]["annotations"][REVISION] = json!((max_rev + 1).to_string());
                if let Ok(s) = ctx
                    .store
                    .update(res("replicasets"), v, UpdateMode::Raw, true)
                {
                    all[i] = Rs::of(s.value());
                }
            }
            (Some(i), None)
        }
        None if paused => (None, None),
        None => match create_replicaset(ctx, st, d, &hash, max_rev, all.is_empty()) {
            Some(r) => {
                let name = r.name.clone();
                all.push(r);
                (Some(all.len() - 1), Some(name))
            }
            None => (None, None),
        },
    }
}

/// A new ReplicaSet for the template whose hash is `hash`: with every
/// replica when it is the first, else at zero for the rollout to scale.
fn create_replicaset(
    ctx: &Ctx,
    st: &mut State,
    d: &Value,
    hash: &str,
    max_rev: i64,
    first: bool,
) -> Option<Rs> {
    let (ns, name) = (
        str_at(d, &["metadata", "namespace"]),
        str_at(d, &["metadata", "name"]),
    );
    let uid = str_at(d, &["metadata", "uid"]);
    let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let template = &d["spec"]["template"];
    let mut t = template.clone();
    t["metadata"]["labels"]["pod-template-hash"] = json!(hash);
    let mut sel = d["spec"]["selector"].clone();
    sel["matchLabels"]["pod-template-hash"] = json!(hash);
    let mut labels = template["metadata"]["labels"].clone();
    labels["pod-template-hash"] = json!(hash);
    let rs = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{name}-{hash}"),
            "namespace": ns,
            "labels": labels,
            "annotations": {
                REVISION: (max_rev + 1).to_string(),
                "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                "deployment.kubernetes.io/max-replicas": (replicas + 1).to_string(),
            },
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": {
            "replicas": if first { replicas } else { 0 },
            "minReadySeconds": d["spec"]["minReadySeconds"].as_i64().unwrap_or(0),
            "selector": sel,
            "template": t,
        },
    });
    let r = Rs::of(ctx.store.create(res("replicasets"), rs).ok()?.value());
    if first {
        st.recorder.record(
            ctx.store,
            d,
            "Normal",
            "ScalingReplicaSet",
            &format!("Scaled up replica set {} from 0 to {replicas}", r.name),
            "deployment-controller",
        );
    }
    st.dirty.insert(obj_key("replicasets", ns, &r.name));
    Some(r)
}

/// One step of the rollout towards the ReplicaSet at `ni`, by the
/// Deployment's strategy.
fn roll(ctx: &Ctx, st: &mut State, d: &Value, all: &mut [Rs], ni: usize) {
    let ns = str_at(d, &["metadata", "namespace"]);
    let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let (mut old, new) = {
        let (a, b) = all.split_at_mut(ni);
        let (n, c) = b.split_first_mut().expect("new rs");
        let mut old: Vec<&mut Rs> = a.iter_mut().chain(c.iter_mut()).collect();
        old.sort_by_key(|r| r.revision);
        (old, n)
    };
    if str_at(d, &["spec", "strategy", "type"]) == "Recreate" {
        for o in old.iter_mut() {
            scale_rs(ctx, st, d, o, 0);
        }
        // Recreate waits until every old pod is gone.
        let old_pods = old
            .iter()
            .map(|o| owned_pods(ctx.store, ns, str_at(&o.v, &["metadata", "uid"])).len())
            .sum::<usize>();
        if old_pods == 0 {
            scale_rs(ctx, st, d, new, replicas);
        }
    } else {
        rolling_update(ctx, st, d, &mut old, new, replicas);
    }
}

/// RollingUpdate: scale the new ReplicaSet up within maxSurge and the old
/// ones down within maxUnavailable.
fn rolling_update(
    ctx: &Ctx,
    st: &mut State,
    d: &Value,
    old: &mut [&mut Rs],
    new: &mut Rs,
    replicas: i64,
) {
    let ru = &d["spec"]["strategy"]["rollingUpdate"];
    let mut surge = int_or_percent(ru.get("maxSurge"), replicas, "25%", true);
    let mut unavail = int_or_percent(ru.get("maxUnavailable"), replicas, "25%", false);
    if surge == 0 && unavail == 0 {
        unavail = 1;
    }
    if replicas == 0 {
        surge = 0;
    }
    let old_total: i64 = old.iter().map(|o| o.replicas).sum();
    if old_total == 0 {
        scale_rs(ctx, st, d, new, replicas);
        return;
    }
    // Scale up the new ReplicaSet within maxSurge.
    let total = old_total + new.replicas;
    let max_total = replicas + surge;
    if total < max_total && new.replicas < replicas {
        let up = (max_total - total).min(replicas - new.replicas);
        let to = new.replicas + up;
        scale_rs(ctx, st, d, new, to);
    }
    // Scale down old ReplicaSets within maxUnavailable.
    let min_available = replicas - unavail;
    let all_pods = old.iter().map(|o| o.replicas).sum::<i64>() + new.replicas;
    let new_unavailable = (new.replicas - new.available).max(0);
    let mut budget = all_pods - min_available - new_unavailable;
    // Old pods that are not available can always go.
    for o in old.iter_mut() {
        let unhealthy = (o.replicas - o.available).max(0);
        if unhealthy > 0 && o.replicas > 0 {
            let to = o.replicas - unhealthy.min(o.replicas);
            scale_rs(ctx, st, d, o, to);
        }
    }
    for o in old.iter_mut() {
        if budget <= 0 {
            break;
        }
        let down = budget.min(o.replicas);
        if down > 0 {
            let to = o.replicas - down;
            scale_rs(ctx, st, d, o, to);
            budget -= down;
        }
    }
}

/// Old ReplicaSets beyond revisionHistoryLimit go once scaled to zero.
fn prune_history(ctx: &Ctx, d: &Value, all: &[Rs], new_idx: Option<usize>) {
    let ns = str_at(d, &["metadata", "namespace"]);
    let limit = d["spec"]["revisionHistoryLimit"].as_i64().unwrap_or(10) as usize;
    let idle: Vec<&Rs> = all
        .iter()
        .enumerate()
        .filter(|(i, r)| Some(*i) != new_idx && r.replicas == 0 && r.status_replicas == 0)
        .map(|(_, r)| r)
        .collect();
    if idle.len() > limit {
        for r in idle.iter().take(idle.len() - limit) {
            let _ = ctx
                .store
                .delete(res("replicasets"), ns, &r.name, &DeleteOptions::default());
        }
    }
}

fn update_status(
    ctx: &Ctx,
    st: &mut State,
    d: &Value,
    all: &[Rs],
    new_idx: Option<usize>,
    created: Option<String>,
) {
    let ns = str_at(d, &["metadata", "namespace"]);
    let name = str_at(d, &["metadata", "name"]);
    let uid = str_at(d, &["metadata", "uid"]).to_string();
    let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let sum = |f: fn(&Rs) -> i64| all.iter().map(f).sum::<i64>();
    let status_replicas = sum(|r| r.status_replicas);
    let available = sum(|r| r.available);
    let ready = sum(|r| r.ready);
    let updated = new_idx.map(|i| all[i].status_replicas).unwrap_or(0);
    let new_name = new_idx.map(|i| all[i].name.clone()).unwrap_or_default();
    let ru = &d["spec"]["strategy"]["rollingUpdate"];
    let unavail = if str_at(d, &["spec", "strategy", "type"]) == "Recreate" {
        0
    } else {
        int_or_percent(ru.get("maxUnavailable"), replicas, "25%", false)
    };
    let mut nd = d.clone();
    let s = &mut nd["status"];
    s["observedGeneration"] = d["metadata"]["generation"].clone();
    s["replicas"] = json!(status_replicas);
    s["updatedReplicas"] = json!(updated);
    s["readyReplicas"] = json!(ready);
    s["availableReplicas"] = json!(available);
    s["unavailableReplicas"] = json!((replicas - available).max(0));
    for k in [
        "readyReplicas",
        "availableReplicas",
        "updatedReplicas",
        "unavailableReplicas",
    ] {
        if s[k] == 0
            && let Some(o) = s.as_object_mut()
        {
            o.remove(k);
        }
    }
    if let Some(i) = new_idx {
        let rev = str_at(&all[i].v, &["metadata", "annotations", REVISION]).to_string();
        nd["metadata"]["annotations"][REVISION] = json!(rev);
    }
    let s = &mut nd["status"];
    if available >= replicas - unavail {
        podutil::set_condition(
            s,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        );
    } else {
        podutil::set_condition(
            s,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        );
    }
    let complete = updated == replicas && available >= replicas && status_replicas == replicas;
    let now = Instant::now();
    let fingerprint = format!(
        "{new_name}/{updated}/{available}/{status_replicas}/{}",
        d["metadata"]["generation"]
    );
    let progress = st
        .deploy_progress
        .entry(uid)
        .or_insert((now, String::new()));
    if progress.1 != fingerprint {
        *progress = (now, fingerprint);
    }
    let progress_at = progress.0;
    let deadline = Duration::from_secs_f64(
        d["spec"]["progressDeadlineSeconds"]
            .as_f64()
            .unwrap_or(600.0)
            * ctx.sh.timing.deadline_scale,
    );
    let paused = d["spec"]["paused"].as_bool() == Some(true);
    let timed_out = now.duration_since(progress_at) > deadline;
    let (status, reason, message) =
        progressing(paused, complete, created.as_deref(), timed_out, &new_name);
    podutil::set_condition(&mut nd["status"], "Progressing", status, reason, &message);
    // Check the deadline again when it would pass.
    if !complete {
        st.wake_at(
            progress_at + deadline + Duration::from_millis(10),
            obj_key("deployments", ns, name),
        );
    }
    stamp_update_times(d, &mut nd);
    if nd != *d {
        let _ = ctx
            .store
            .update(res("deployments"), nd, UpdateMode::Raw, true);
    }
}

/// The Progressing condition, as the deployment controller words it.
fn progressing(
    paused: bool,
    complete: bool,
    created: Option<&str>,
    timed_out: bool,
    new_name: &str,
) -> (&'static str, &'static str, String) {
    if paused {
        ("Unknown", "DeploymentPaused", "Deployment is paused".into())
    } else if complete {
        (
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{new_name}\" has successfully progressed."),
        )
    } else if let Some(c) = created {
        (
            "True",
            "NewReplicaSetCreated",
            format!("Created new replica set \"{c}\""),
        )
    } else if timed_out {
        (
            "False",
            "ProgressDeadlineExceeded",
            format!("ReplicaSet \"{new_name}\" has timed out progressing."),
        )
    } else {
        (
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{new_name}\" is progressing."),
        )
    }
}

/// Deployment conditions carry lastUpdateTime (moved whenever status,
/// reason or message change) instead of lastProbeTime.
fn stamp_update_times(d: &Value, nd: &mut Value) {
    let now_ts = crate::util::now_ts();
    if let Some(conds) = nd["status"]["conditions"].as_array_mut() {
        for c in conds {
            let old = d["status"]["conditions"]
                .as_array()
                .and_then(|o| o.iter().find(|o| o["type"] == c["type"]));
            let same = old.is_some_and(|o| {
                o["status"] == c["status"]
                    && o["reason"] == c["reason"]
                    && o["message"] == c["message"]
            });
            if let Some(o) = c.as_object_mut() {
                o.remove("lastProbeTime");
                let t = match old {
                    Some(o) if same && o["lastUpdateTime"].is_string() => {
                        o["lastUpdateTime"].clone()
                    }
                    _ => json!(now_ts),
                };
                o.insert("lastUpdateTime".into(), t);
            }
        }
    }
}
