//! StatefulSet controller: stable names `<set>-<ordinal>`, ordered start
//! (OrderedReady), ControllerRevisions, and RollingUpdate with a partition
//! (highest ordinal first, one pod at a time).

use serde_json::{Value, json};

use super::podutil::{is_ready, owned_pods, pod_from_template, template_hash};
use super::{Ctx, State};
use crate::store::{DeleteOptions, UpdateMode, res};
use crate::util::str_at;

fn ensure_revision(ctx: &Ctx, sts: &Value, rev_name: &str) {
    let ns = str_at(sts, &["metadata", "namespace"]);
    let cr = res("controllerrevisions");
    if ctx.store.get(cr, ns, rev_name).is_some() {
        return;
    }
    let uid = str_at(sts, &["metadata", "uid"]).to_string();
    let revision = ctx
        .store
        .scan(cr, Some(ns), |m| m.owner_uid() == Some(uid.as_str()))
        .len()
        + 1;
    let _ = ctx.store.create(
        cr,
        json!({
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {
                "name": rev_name, "namespace": ns,
                "labels": sts["spec"]["selector"]["matchLabels"],
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": sts["kind"], "name": sts["metadata"]["name"], "uid": uid, "controller": true, "blockOwnerDeletion": true}],
            },
            "data": {"spec": {"template": sts["spec"]["template"]}},
            "revision": revision,
        }),
    );
}

pub(super) fn reconcile(ctx: &Ctx, st: &mut State, ns: &str, name: &str) {
    let sts_r = res("statefulsets");
    let Some(sts) = ctx.live("statefulsets", ns, name) else {
        return;
    };
    let uid = str_at(&sts, &["metadata", "uid"]).to_string();
    let replicas = sts["spec"]["replicas"].as_i64().unwrap_or(1);
    let parallel = str_at(&sts, &["spec", "podManagementPolicy"]) == "Parallel";
    let update_rev = format!("{name}-{}", template_hash(&sts["spec"]["template"]));
    ensure_revision(ctx, &sts, &update_rev);
    let pods = owned_pods(ctx.store, ns, &uid);
    let by_ord = |i: i64| pods.iter().find(|p| p.meta.name == format!("{name}-{i}"));
    // Create missing pods in order; OrderedReady waits for predecessors.
    for i in 0..replicas {
        match by_ord(i) {
            Some(p) => {
                if !parallel && (!is_ready(&p.meta) || p.meta.deleting) {
                    break;
                }
            }
            None => {
                let pod = pod_from_template(
                    &sts,
                    &sts["spec"]["template"],
                    Some(format!("{name}-{i}")),
                    &[
                        ("controller-revision-hash", update_rev.clone()),
                        ("statefulset.kubernetes.io/pod-name", format!("{name}-{i}")),
                        ("apps.kubernetes.io/pod-index", i.to_string()),
                    ],
                );
                let mut pod = pod;
                pod["spec"]["hostname"] = json!(format!("{name}-{i}"));
                if let Some(svc) = sts["spec"]["serviceName"].as_str() {
                    pod["spec"]["subdomain"] = json!(svc);
                }
                if ctx.store.create(res("pods"), pod).is_ok() {
                    st.recorder.record(
                        ctx.store,
                        &sts,
                        "Normal",
                        "SuccessfulCreate",
                        &format!("create Pod {name}-{i} in StatefulSet {name} successful"),
                        "statefulset-controller",
                    );
                }
                if !parallel {
                    break;
                }
            }
        }
    }
    // Scale down from the highest ordinal.
    let mut extra: Vec<_> = pods
        .iter()
        .filter(|p| {
            p.meta
                .name
                .rsplit_once('-')
                .and_then(|(_, o)| o.parse::<i64>().ok())
                .is_some_and(|o| o >= replicas)
        })
        .collect();
    extra.sort_by_key(|p| {
        std::cmp::Reverse(
            p.meta
                .name
                .rsplit_once('-')
                .and_then(|(_, o)| o.parse::<i64>().ok()),
        )
    });
    if let Some(p) = extra.first()
        && !p.meta.deleting
    {
        let _ = ctx
            .store
            .delete(res("pods"), ns, &p.meta.name, &DeleteOptions::default());
    }
    // Rolling update: the highest ordinal at or above the partition that is
    // not on the update revision goes, once every pod is Ready.
    let partition = sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"]
        .as_i64()
        .unwrap_or(0);
    let rolling = str_at(&sts, &["spec", "updateStrategy", "type"]) != "OnDelete";
    let all_ready = (0..replicas).all(|i| by_ord(i).is_some_and(|p| is_ready(&p.meta)));
    if rolling && all_ready {
        for i in (partition..replicas).rev() {
            if let Some(p) = by_ord(i)
                && p.meta.label("controller-revision-hash") != Some(update_rev.as_str())
            {
                let _ = ctx
                    .store
                    .delete(res("pods"), ns, &p.meta.name, &DeleteOptions::default());
                break;
            }
        }
    }
    let pods = owned_pods(ctx.store, ns, &uid);
    let existing: Vec<_> = pods.iter().filter(|p| !p.meta.deleting).collect();
    let ready = existing.iter().filter(|p| is_ready(&p.meta)).count();
    let updated = existing
        .iter()
        .filter(|p| p.meta.label("controller-revision-hash") == Some(update_rev.as_str()))
        .count();
    let mut current_rev = str_at(&sts, &["status", "currentRevision"]).to_string();
    if current_rev.is_empty() || (updated as i64 == replicas && ready as i64 == replicas) {
        current_rev = update_rev.clone();
    }
    let current = existing
        .iter()
        .filter(|p| p.meta.label("controller-revision-hash") == Some(current_rev.as_str()))
        .count();
    let mut new = sts.clone();
    new["status"] = json!({
        "observedGeneration": sts["metadata"]["generation"],
        "replicas": existing.len(),
        "readyReplicas": ready,
        "currentReplicas": current,
        "updatedReplicas": updated,
        "availableReplicas": ready,
        "currentRevision": current_rev,
        "updateRevision": update_rev,
        "collisionCount": 0,
    });
    if new != sts {
        let _ = ctx.store.update(sts_r, new, UpdateMode::Raw, true);
    }
}
