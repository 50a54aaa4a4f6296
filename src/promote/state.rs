//! What a workload runs after a promotion or rollback that failed, in one
//! sentence with the command that puts it back: the last thing an engineer
//! reads when every retry has failed.

use kube::Client;

use super::inventory::{self, Workload};
use super::plan::{Strategy, WorkloadChange};
use crate::cluster::retry::retry;

/// `production now: `deployment/a` runs its previous images; `deployment/b`
/// runs the new images (restore: `kubectl …`)`, for every workload touched.
pub(crate) async fn describe(
    client: &Client,
    namespace: &str,
    touched: &[&WorkloadChange],
) -> String {
    let live = retry(|| inventory::list(client, namespace, None)).await;
    let parts: Vec<String> = touched
        .iter()
        .map(|change| {
            let found = live.as_ref().ok().and_then(|all| {
                all.iter()
                    .find(|w| w.kind == change.kind && w.name == change.name)
            });
            match found {
                Some(w) => one(namespace, change, w),
                None => format!(
                    "`{}` could not be read (look with `{}`)",
                    change.id(),
                    crate::suggest::kubectl(&format!("-n {namespace} get {}", change.id()))
                ),
            }
        })
        .collect();
    format!("`{namespace}` now: {}", parts.join("; "))
}

/// One workload's images and, for a singleton, its replicas, against what
/// it ran before the change.
fn one(namespace: &str, change: &WorkloadChange, live: &Workload) -> String {
    let id = change.id();
    let now = |c: &super::plan::ContainerChange| live.image_of(&c.container, c.init).unwrap_or("");
    let previous = runs_previous_images(change, live);
    let new = change.containers.iter().all(|c| now(c) == c.to);
    let images = match (previous, new) {
        (true, _) => "runs its previous images",
        (_, true) => "runs the new images",
        _ => "runs a mix of previous and new images",
    };
    let wanted = change.replicas.unwrap_or(1);
    let stopped = is_stopped(change, live);
    let mut restore = Vec::new();
    if !previous {
        let set: Vec<String> = change
            .containers
            .iter()
            .map(|c| format!("{}={}", c.container, c.from))
            .collect();
        restore.push(crate::suggest::kubectl(&format!(
            "-n {namespace} set image {id} {}",
            set.join(" ")
        )));
    }
    if stopped {
        restore.push(crate::suggest::kubectl(&format!(
            "-n {namespace} scale {id} --replicas={wanted}"
        )));
    }
    let replicas = if stopped { " at 0 replicas" } else { "" };
    match restore.is_empty() {
        true => format!("`{id}` {images}{replicas}"),
        false => format!(
            "`{id}` {images}{replicas} (restore: `{}`)",
            restore.join(" && ")
        ),
    }
}

/// Whether every container `change` touches runs its image from before.
fn runs_previous_images(change: &WorkloadChange, live: &Workload) -> bool {
    change
        .containers
        .iter()
        .all(|c| live.image_of(&c.container, c.init) == Some(c.from.as_str()))
}

/// A kill-deployed singleton left at 0 replicas.
fn is_stopped(change: &WorkloadChange, live: &Workload) -> bool {
    change.strategy == Strategy::Recreate
        && live.replicas == Some(0)
        && change.replicas.unwrap_or(1) > 0
}

/// Whether `live` is as it was before `change`: its previous images, and
/// not stopped. Such a workload has nothing to roll back (a kill-deploy
/// that failed before setting images scales it back itself).
pub(crate) fn as_before(change: &WorkloadChange, live: &Workload) -> bool {
    runs_previous_images(change, live) && !is_stopped(change, live)
}
