//! The release ledger: a ConfigMap `oncall-releases` in the target
//! namespace holding a bounded history of promotions and rollbacks, so the
//! whole team shares one history.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use serde::{Deserialize, Serialize};

use crate::cluster::is_not_found;
use crate::cluster::retry::{backoff, is_conflict, is_transient};

pub(crate) const CONFIGMAP: &str = "oncall-releases";
const KEY: &str = "releases.json";
/// How many releases are kept; older ones are dropped.
pub(crate) const KEEP: usize = 50;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Release {
    pub number: u32,
    pub time: DateTime<Utc>,
    pub user: String,
    /// `promote` or `rollback`.
    pub action: String,
    /// Where the images came from: an environment, or `release N`.
    pub source: String,
    /// The git SHA of the release, when its images agree on one.
    pub sha: Option<String>,
    pub changes: Vec<ImageChange>,
    /// `succeeded`, `failed`, `rolled back` or `in progress`.
    pub result: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ImageChange {
    /// `kind/name`.
    pub workload: String,
    pub container: String,
    #[serde(default)]
    pub init: bool,
    pub from: String,
    pub to: String,
}

/// Reads the ledger, oldest first. No ConfigMap means no history yet.
pub(crate) async fn read(client: &Client, namespace: &str) -> Result<Vec<Release>, kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    match api.get(CONFIGMAP).await {
        Ok(cm) => Ok(parse(&cm)),
        Err(e) if is_not_found(&e) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn parse(cm: &ConfigMap) -> Vec<Release> {
    cm.data
        .as_ref()
        .and_then(|d| d.get(KEY))
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

/// Appends `release` (its number is assigned here) or, when a release with
/// the same number exists, replaces it. Retries on write conflicts, since
/// two engineers may promote at once, and on transient failures.
pub(crate) async fn record(
    client: &Client,
    namespace: &str,
    mut release: Release,
) -> Result<Release, kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let existing = match api.get(CONFIGMAP).await {
            Ok(cm) => Some(cm),
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(e),
        };
        let mut releases = existing.as_ref().map(parse).unwrap_or_default();
        if release.number == 0 {
            release.number = releases.last().map(|r| r.number + 1).unwrap_or(1);
        }
        match releases.iter_mut().find(|r| r.number == release.number) {
            Some(slot) => *slot = release.clone(),
            None => releases.push(release.clone()),
        }
        if releases.len() > KEEP {
            releases.drain(..releases.len() - KEEP);
        }
        let data = BTreeMap::from([(
            KEY.to_string(),
            serde_json::to_string_pretty(&releases).unwrap_or_default(),
        )]);
        let result = match existing {
            Some(mut cm) => {
                cm.data = Some(data);
                api.replace(CONFIGMAP, &PostParams::default(), &cm).await
            }
            None => {
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(CONFIGMAP.into()),
                        labels: Some(BTreeMap::from([(
                            "app.kubernetes.io/managed-by".into(),
                            "oncall".into(),
                        )])),
                        ..Default::default()
                    },
                    data: Some(data),
                    ..Default::default()
                };
                api.create(&PostParams::default(), &cm).await
            }
        };
        match result {
            Ok(_) => return Ok(release),
            // A conflict, or a write whose answer was lost: read again and
            // re-apply (a release with its number replaces itself).
            Err(e) if (is_conflict(&e) || is_transient(&e)) && attempts < 5 => {
                tokio::time::sleep(backoff(attempts)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Where a rollback goes: the images of a release, or the images that a
/// release replaced (the only way back from the oldest recorded release).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Goal<'a> {
    Release(&'a Release),
    Before(&'a Release),
}

impl<'a> Goal<'a> {
    /// The release whose state is restored: every later change is undone.
    pub(crate) fn state(&self) -> u32 {
        match self {
            Goal::Release(r) => r.number,
            Goal::Before(r) => r.number - 1,
        }
    }

    /// `release N` or `before release N`, as the ledger's `source` records it.
    pub(crate) fn label(&self) -> String {
        match self {
            Goal::Release(r) => format!("release {}", r.number),
            Goal::Before(r) => format!("before release {}", r.number),
        }
    }

    /// The git SHA of the images restored, when known.
    pub(crate) fn sha(&self) -> Option<String> {
        match self {
            Goal::Release(r) => r.sha.clone(),
            Goal::Before(_) => None,
        }
    }

    pub(crate) fn release(&self) -> &'a Release {
        match self {
            Goal::Release(r) | Goal::Before(r) => r,
        }
    }
}

/// The release state a `source` of `release N` or `before release N` names.
fn restored_state(source: &str) -> Option<u32> {
    if let Some(n) = source.strip_prefix("before release ") {
        return n.parse::<u32>().ok().map(|n| n.saturating_sub(1));
    }
    source.strip_prefix("release ")?.parse().ok()
}

/// What the ledger says the target runs now (the state number of the last
/// release that took effect; 0 before the first), and which promotions a
/// later rollback undid.
pub(crate) fn current_state(releases: &[Release]) -> (u32, Vec<u32>) {
    let mut current = releases.first().map(|r| r.number - 1).unwrap_or(0);
    let mut undone: Vec<u32> = Vec::new();
    for r in releases.iter().filter(|r| r.result == "succeeded") {
        if r.action != "rollback" {
            current = r.number;
            continue;
        }
        if let Some(to) = restored_state(&r.source) {
            undone.extend(
                releases
                    .iter()
                    .filter(|p| p.action != "rollback" && p.number > to && p.number < r.number)
                    .map(|p| p.number),
            );
            current = to;
        }
    }
    (current, undone)
}

/// Whether `release` was undone: it failed, its failure was rolled back, or
/// a later `promote rollback` went back past it.
pub(crate) fn was_undone(releases: &[Release], release: &Release) -> bool {
    release.result != "succeeded" || current_state(releases).1.contains(&release.number)
}

/// Finds where to go back to: `--to N` or `--to SHA` (prefix), or by
/// default the last good promotion before the one running now, skipping
/// promotions that failed or were rolled back. With no such promotion, the
/// images the oldest recorded release replaced.
pub(crate) fn find_target<'a>(releases: &'a [Release], to: Option<&str>) -> Option<Goal<'a>> {
    match to {
        Some(want) => {
            if let Ok(n) = want.parse::<u32>()
                && let Some(r) = releases.iter().find(|r| r.number == n)
            {
                return Some(Goal::Release(r));
            }
            let want = want.to_lowercase();
            releases
                .iter()
                .rev()
                .find(|r| {
                    r.sha
                        .as_deref()
                        .is_some_and(|s| s.starts_with(&want) || want.starts_with(s))
                })
                .map(Goal::Release)
        }
        None => {
            let (current, undone) = current_state(releases);
            let good = releases.iter().rev().find(|r| {
                r.number < current
                    && r.action != "rollback"
                    && r.result == "succeeded"
                    && !undone.contains(&r.number)
            });
            match good {
                Some(r) => Some(Goal::Release(r)),
                None => releases
                    .first()
                    .filter(|first| first.number <= current)
                    .map(Goal::Before),
            }
        }
    }
}

/// The images to restore to go back to `release`: every container changed
/// by a later release gets the image it had just before the first such change.
pub(crate) fn undo_after(releases: &[Release], release: u32) -> Vec<ImageChange> {
    let mut restore: Vec<ImageChange> = Vec::new();
    for later in releases.iter().filter(|r| r.number > release) {
        for c in &later.changes {
            let seen = restore.iter().any(|r| {
                r.workload == c.workload && r.container == c.container && r.init == c.init
            });
            if !seen {
                // `from` here is the image to go back to; `to` is filled in by the caller from the live state.
                restore.push(ImageChange {
                    to: c.from.clone(),
                    from: c.to.clone(),
                    ..c.clone()
                });
            }
        }
    }
    restore
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(number: u32, sha: &str, result: &str) -> Release {
        Release {
            number,
            time: Utc::now(),
            user: "u".into(),
            action: "promote".into(),
            source: "staging".into(),
            sha: Some(sha.into()),
            changes: Vec::new(),
            result: result.into(),
        }
    }

    #[test]
    fn default_rollback_target_is_the_previous_good_release() {
        let rs = vec![
            release(1, "aaaaaaa", "succeeded"),
            release(2, "bbbbbbb", "rolled back"),
            release(3, "ccccccc", "succeeded"),
        ];
        let target = |to| find_target(&rs, to).map(|g| g.label());
        assert_eq!(target(None).as_deref(), Some("release 1"));
        assert_eq!(target(Some("2")).as_deref(), Some("release 2"));
        assert_eq!(target(Some("cccc")).as_deref(), Some("release 3"));
        assert!(target(Some("ddddddd")).is_none());
    }

    fn rollback(number: u32, source: &str) -> Release {
        Release {
            action: "rollback".into(),
            source: source.into(),
            ..release(number, "aaaaaaa", "succeeded")
        }
    }

    #[test]
    fn a_second_rollback_skips_the_release_just_rolled_back_from() {
        let mut rs = vec![
            release(1, "aaaaaaa", "succeeded"),
            release(2, "bbbbbbb", "succeeded"),
            release(3, "ccccccc", "succeeded"),
            rollback(4, "release 2"),
        ];
        let goal = find_target(&rs, None).unwrap();
        assert_eq!(goal.label(), "release 1");
        assert_eq!(goal.state(), 1);
        assert!(was_undone(&rs, &rs[2]));
        rs.push(rollback(5, "release 1"));
        assert_eq!(find_target(&rs, None).unwrap().label(), "before release 1");
        rs.push(rollback(6, "before release 1"));
        assert!(
            find_target(&rs, None).is_none(),
            "nothing older is recorded"
        );
    }

    #[test]
    fn after_the_first_promotion_rollback_goes_to_before_it() {
        let rs = vec![release(1, "aaaaaaa", "succeeded")];
        let goal = find_target(&rs, None).unwrap();
        assert_eq!(goal.label(), "before release 1");
        assert_eq!(goal.state(), 0);
        assert_eq!(goal.sha(), None);
    }

    /// A succeeded promotion that made `changes` (workload, from, to).
    fn rel(number: u32, changes: &[(&str, &str, &str)]) -> Release {
        Release {
            sha: None,
            changes: changes
                .iter()
                .map(|(w, f, t)| ImageChange {
                    workload: w.to_string(),
                    container: "c".into(),
                    init: false,
                    from: f.to_string(),
                    to: t.to_string(),
                })
                .collect(),
            ..release(number, "", "succeeded")
        }
    }

    #[test]
    fn undo_restores_the_image_before_the_first_later_change() {
        let rs = vec![
            rel(1, &[("deployment/web", "v0", "v1")]),
            rel(
                2,
                &[
                    ("deployment/web", "v1", "v2"),
                    ("deployment/api", "a1", "a2"),
                ],
            ),
            rel(3, &[("deployment/web", "v2", "v3")]),
        ];
        let undo = undo_after(&rs, 1);
        let web = undo
            .iter()
            .find(|c| c.workload == "deployment/web")
            .unwrap();
        assert_eq!(web.to, "v1");
        let api = undo
            .iter()
            .find(|c| c.workload == "deployment/api")
            .unwrap();
        assert_eq!(api.to, "a1");
        assert!(undo_after(&rs, 3).is_empty());
    }
}
