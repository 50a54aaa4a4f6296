//! The promotion plan: every workload and container, current and target
//! image, strategy and order; what exists on one side only; what is left
//! alone and why. Pure, so it is tested without a cluster.

use std::collections::BTreeMap;

use serde::Serialize;

use super::image::ImageRef;
use super::inventory::{Kind, Workload};
use crate::config::PromoteSettings;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PromotionPlan {
    pub source: String,
    pub target: String,
    /// The migration to run before any deploy, if any.
    pub migration: Option<MigrationPlan>,
    /// The workloads to change, in the order they will be changed.
    pub changes: Vec<WorkloadChange>,
    /// Workloads that already run the source's images.
    pub unchanged: Vec<String>,
    /// Workloads found only in the source: not created by a promotion.
    pub only_in_source: Vec<String>,
    /// Workloads found only in the target: left as they are.
    pub only_in_target: Vec<String>,
    /// Workloads left out, and why.
    pub excluded: Vec<Excluded>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Excluded {
    pub workload: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct WorkloadChange {
    pub kind: Kind,
    pub name: String,
    /// `rolling`, or `recreate` for a singleton (never two copies at once).
    pub strategy: Strategy,
    pub replicas: Option<i32>,
    pub containers: Vec<ContainerChange>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Strategy {
    Rolling,
    Recreate,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ContainerChange {
    pub container: String,
    pub init: bool,
    pub from: String,
    pub to: String,
    pub from_ref: ImageRef,
    pub to_ref: ImageRef,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct MigrationPlan {
    /// `job/NAME` or `cronjob/NAME` in the target namespace, used as template.
    pub template: String,
    /// Container name → the image it will run.
    pub images: BTreeMap<String, String>,
}

impl ContainerChange {
    pub(crate) fn new(container: &str, init: bool, from: &str, to: &str) -> Self {
        ContainerChange {
            container: container.to_string(),
            init,
            from: from.to_string(),
            to: to.to_string(),
            from_ref: ImageRef::parse(from),
            to_ref: ImageRef::parse(to),
        }
    }

    /// The image comes from another registry or repository than before: a
    /// promotion that would pull production's images from somewhere else.
    pub(crate) fn changes_source(&self) -> bool {
        self.from_ref.source() != self.to_ref.source()
    }
}

impl WorkloadChange {
    pub(crate) fn id(&self) -> String {
        format!("{}/{}", self.kind.as_str(), self.name)
    }
}

impl PromotionPlan {
    /// A plan from `source` to `target` that changes nothing yet.
    pub(crate) fn new(source: impl Into<String>, target: impl Into<String>) -> PromotionPlan {
        PromotionPlan {
            source: source.into(),
            target: target.into(),
            migration: None,
            changes: Vec::new(),
            unchanged: Vec::new(),
            only_in_source: Vec::new(),
            only_in_target: Vec::new(),
            excluded: Vec::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The git SHA the target will run, when every changed image agrees on one.
    pub(crate) fn release_sha(&self) -> Option<String> {
        let mut shas = self
            .changes
            .iter()
            .flat_map(|c| &c.containers)
            .filter_map(|c| c.to_ref.git_sha.clone());
        let first = shas.next()?;
        shas.all(|s| s == first).then_some(first)
    }
}

/// Compares the two sides. `only` narrows to named workloads (`--only`).
pub(crate) fn compare(
    source_label: &str,
    target_label: &str,
    source: &[Workload],
    target: &[Workload],
    settings: &PromoteSettings,
    only: &[String],
) -> PromotionPlan {
    let key = |w: &Workload| (w.name.clone(), w.kind);
    let source_by: BTreeMap<_, _> = source.iter().map(|w| (key(w), w)).collect();
    let target_by: BTreeMap<_, _> = target.iter().map(|w| (key(w), w)).collect();
    let mut plan = PromotionPlan::new(source_label, target_label);
    for (k, w) in &source_by {
        if !target_by.contains_key(k) && selected(w, settings, only).is_ok() {
            plan.only_in_source.push(w.id());
        }
    }
    for (k, t) in &target_by {
        let Some(s) = source_by.get(k) else {
            if selected(t, settings, only).is_ok() {
                plan.only_in_target.push(t.id());
            }
            continue;
        };
        if let Err(reason) = selected(t, settings, only) {
            plan.excluded.push(Excluded {
                workload: t.id(),
                reason,
            });
            continue;
        }
        let containers = container_changes(s, t);
        if containers.is_empty() {
            plan.unchanged.push(t.id());
            continue;
        }
        let singleton = settings.singletons.contains(&t.name)
            || (t.kind == Kind::Deployment && t.replicas == Some(1) && t.strategy == "Recreate");
        plan.changes.push(WorkloadChange {
            kind: t.kind,
            name: t.name.clone(),
            strategy: if singleton {
                Strategy::Recreate
            } else {
                Strategy::Rolling
            },
            replicas: t.replicas,
            containers,
        });
    }
    // Configured order first, then by name; singletons after everything else,
    // as the manual kill-deploys `cron` last.
    let rank = |c: &WorkloadChange| {
        let pos = settings
            .order
            .iter()
            .position(|n| *n == c.name)
            .unwrap_or(usize::MAX);
        (c.strategy == Strategy::Recreate, pos, c.name.clone())
    };
    plan.changes.sort_by_key(rank);
    plan
}

fn selected(w: &Workload, settings: &PromoteSettings, only: &[String]) -> Result<(), String> {
    if !only.is_empty() && !only.contains(&w.name) {
        return Err("not named in --only".into());
    }
    if only.is_empty() && !settings.workloads.is_empty() && !settings.workloads.contains(&w.name) {
        return Err("not listed in the config's promote.workloads".into());
    }
    Ok(())
}

/// Containers whose image differs, matched by name (init containers with
/// init containers). A container missing on one side changes nothing.
fn container_changes(source: &Workload, target: &Workload) -> Vec<ContainerChange> {
    target
        .containers
        .iter()
        .filter_map(|t| {
            let to = source.image_of(&t.name, t.init)?;
            // `nginx:1` and `docker.io/library/nginx:1` are the same image.
            (!ImageRef::same_image(to, &t.image))
                .then(|| ContainerChange::new(&t.name, t.init, &t.image, to))
        })
        .collect()
}

/// The image a migration container should run: the source image of the
/// same repository, found among the planned changes or the source workloads.
pub(crate) fn migration_image(current: &str, source: &[Workload]) -> Option<String> {
    let repo = ImageRef::parse(current).source();
    source
        .iter()
        .flat_map(|w| &w.containers)
        .find(|c| ImageRef::parse(&c.image).source() == repo)
        .map(|c| c.image.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promote::inventory::Container;

    fn deploy(name: &str, replicas: i32, strategy: &str, images: &[(&str, &str)]) -> Workload {
        Workload {
            kind: Kind::Deployment,
            name: name.into(),
            replicas: Some(replicas),
            strategy: strategy.into(),
            containers: images
                .iter()
                .map(|(n, i)| Container {
                    name: n.to_string(),
                    image: i.to_string(),
                    init: false,
                })
                .collect(),
        }
    }

    #[test]
    fn plans_changes_in_order_with_singletons_last_and_reports_one_sided() {
        let staging = vec![
            deploy("web", 3, "RollingUpdate", &[("web", "r/web:sha-bbbbbbb")]),
            deploy("cron", 1, "Recreate", &[("cron", "r/cron:sha-bbbbbbb")]),
            deploy("api", 2, "RollingUpdate", &[("api", "r/api:sha-bbbbbbb")]),
            deploy("new", 1, "RollingUpdate", &[("new", "r/new:sha-bbbbbbb")]),
            deploy("same", 1, "RollingUpdate", &[("same", "r/same:1")]),
        ];
        let production = vec![
            deploy("web", 3, "RollingUpdate", &[("web", "r/web:sha-aaaaaaa")]),
            deploy("cron", 1, "Recreate", &[("cron", "r/cron:sha-aaaaaaa")]),
            deploy("api", 2, "RollingUpdate", &[("api", "r/api:sha-aaaaaaa")]),
            deploy("old", 1, "RollingUpdate", &[("old", "r/old:1")]),
            deploy("same", 1, "RollingUpdate", &[("same", "r/same:1")]),
        ];
        let settings = PromoteSettings {
            order: vec!["web".into()],
            ..Default::default()
        };
        let plan = compare(
            "staging",
            "production",
            &staging,
            &production,
            &settings,
            &[],
        );
        let order: Vec<_> = plan.changes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(order, ["web", "api", "cron"]);
        assert_eq!(plan.changes[2].strategy, Strategy::Recreate);
        assert_eq!(plan.only_in_source, ["deployment/new"]);
        assert_eq!(plan.only_in_target, ["deployment/old"]);
        assert_eq!(plan.unchanged, ["deployment/same"]);
        assert_eq!(plan.release_sha().as_deref(), Some("bbbbbbb"));
        assert_eq!(
            plan.changes[0].containers[0].from_ref.git_sha.as_deref(),
            Some("aaaaaaa")
        );
    }

    #[test]
    fn docker_hub_spellings_of_one_image_are_unchanged() {
        let s = vec![
            deploy("hub", 1, "RollingUpdate", &[("hub", "nginx:1")]),
            deploy(
                "moved",
                1,
                "RollingUpdate",
                &[("moved", "eu.gcr.io/x/app:2")],
            ),
        ];
        let t = vec![
            deploy(
                "hub",
                1,
                "RollingUpdate",
                &[("hub", "docker.io/library/nginx:1")],
            ),
            deploy("moved", 1, "RollingUpdate", &[("moved", "r.io/app:1")]),
        ];
        let plan = compare("s", "t", &s, &t, &PromoteSettings::default(), &[]);
        assert_eq!(plan.unchanged, ["deployment/hub"]);
        assert_eq!(plan.changes.len(), 1);
        let moved = &plan.changes[0].containers[0];
        assert!(moved.changes_source());
        assert_eq!(moved.to_ref.reference, "eu.gcr.io/x/app:2");
    }

    #[test]
    fn only_narrows_and_explains_the_rest() {
        let s = vec![
            deploy("a", 1, "RollingUpdate", &[("a", "x:2")]),
            deploy("b", 1, "RollingUpdate", &[("b", "y:2")]),
        ];
        let t = vec![
            deploy("a", 1, "RollingUpdate", &[("a", "x:1")]),
            deploy("b", 1, "RollingUpdate", &[("b", "y:1")]),
        ];
        let plan = compare("s", "t", &s, &t, &PromoteSettings::default(), &["a".into()]);
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.excluded[0].workload, "deployment/b");
        assert_eq!(plan.excluded[0].reason, "not named in --only");
    }

    #[test]
    fn migration_takes_the_source_image_of_the_same_repository() {
        let s = vec![deploy(
            "web",
            1,
            "RollingUpdate",
            &[("web", "r/app:sha-bbbbbbb")],
        )];
        assert_eq!(
            migration_image("r/app:sha-aaaaaaa", &s).as_deref(),
            Some("r/app:sha-bbbbbbb")
        );
        assert_eq!(migration_image("r/other:1", &s), None);
    }
}
