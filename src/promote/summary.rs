//! A promotion plan as the safety plan every change shows before it is
//! confirmed, shared by `oncall promote` and the runbook `promote` action.

use super::image::ImageRef;
use super::plan::{ContainerChange, PromotionPlan, Strategy, WorkloadChange};
use crate::cluster::Cluster;
use crate::safety::{ImageUpdate, Plan};

/// What the promotion changes (migration first, then each workload in
/// order), skips and warns about.
pub(crate) fn safety_plan(promotion: &PromotionPlan, cluster: &Cluster, namespace: &str) -> Plan {
    let mut p = Plan::new(
        format!("promote {} → {}", promotion.source, promotion.target),
        cluster,
    )
    .in_namespace(namespace);
    if let Some(m) = &promotion.migration {
        let images: Vec<_> = m
            .images
            .iter()
            .map(|(c, i)| format!("{c}: {}", ImageRef::parse(i).version()))
            .collect();
        let full = m
            .images
            .iter()
            .map(|(c, i)| ImageUpdate {
                container: c.clone(),
                from: None,
                to: ImageRef::parse(i).reference,
            })
            .collect();
        p.change_images(
            format!("job from {}", m.template),
            "run migration",
            images.join(", "),
            full,
        );
    }
    add_workload_changes(&mut p, &promotion.changes);
    for id in &promotion.unchanged {
        p.skip(id, format!("already runs the {} images", promotion.source));
    }
    for id in &promotion.only_in_target {
        p.skip(id, format!("only in {}: left alone", promotion.target));
    }
    for e in &promotion.excluded {
        p.skip(&e.workload, &e.reason);
    }
    for id in &promotion.only_in_source {
        p.warn(format!(
            "`{id}` exists only in {}: a promotion does not create it",
            promotion.source
        ));
    }
    if promotion.migration.is_none() {
        p.warn(format!(
            "no migration job (no Job or CronJob `migrate` in {}): none will run",
            promotion.target
        ));
    }
    p
}

/// One plan line per workload, its images in full for `-o json`, and a
/// warning for every image that would come from another registry or
/// repository: such a switch must not look like a normal release.
pub(crate) fn add_workload_changes(p: &mut Plan, changes: &[WorkloadChange]) {
    for c in changes {
        let images = c
            .containers
            .iter()
            .map(|i| ImageUpdate {
                container: i.container.clone(),
                from: Some(i.from_ref.reference.clone()),
                to: i.to_ref.reference.clone(),
            })
            .collect();
        p.change_images(
            c.id(),
            strategy_name(c.strategy),
            describe_containers(&c.containers),
            images,
        );
    }
    for c in changes {
        for i in c.containers.iter().filter(|i| i.changes_source()) {
            p.warn(format!(
                "IMAGE SOURCE CHANGES: `{}` container `{}` would run `{}` instead of `{}`: another registry or repository; make sure it is yours before you confirm",
                c.id(),
                i.container,
                i.to_ref.source(),
                i.from_ref.source()
            ));
        }
    }
}

pub(crate) fn strategy_name(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::Rolling => "rolling update",
        Strategy::Recreate => "kill-deploy (singleton)",
    }
}

pub(crate) fn describe_containers(containers: &[ContainerChange]) -> String {
    containers
        .iter()
        .map(|c| {
            // Name the git SHA only when the tag does not already show it.
            let sha = match &c.to_ref.git_sha {
                Some(s)
                    if !c
                        .to_ref
                        .tag
                        .as_deref()
                        .unwrap_or_default()
                        .contains(s.as_str()) =>
                {
                    format!(" (git {s})")
                }
                _ => String::new(),
            };
            let init = if c.init { " [init]" } else { "" };
            // The tag alone hides where an image comes from: name registry
            // and repository on both sides when they differ.
            let (from, to) = if c.changes_source() {
                (c.from_ref.located(), c.to_ref.located())
            } else {
                (c.from_ref.version(), c.to_ref.version())
            };
            format!("{}{init}: {from} → {to}{sha}", c.container)
        })
        .collect::<Vec<_>>()
        .join("; ")
}
