//! A promotion plan as the safety plan every change shows before it is
//! confirmed, shared by `oncall promote` and the runbook `promote` action.

use super::image::ImageRef;
use super::plan::{ContainerChange, PromotionPlan, Strategy};
use crate::cluster::Cluster;
use crate::safety::Plan;

/// What the promotion changes (migration first, then each workload in
/// order), skips and warns about.
pub fn safety_plan(promotion: &PromotionPlan, cluster: &Cluster, namespace: &str) -> Plan {
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
        p.change(
            format!("job from {}", m.template),
            "run migration",
            images.join(", "),
        );
    }
    for c in &promotion.changes {
        p.change(
            c.id(),
            strategy_name(c.strategy),
            describe_containers(&c.containers),
        );
    }
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

pub fn strategy_name(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::Rolling => "rolling update",
        Strategy::Recreate => "kill-deploy (singleton)",
    }
}

pub fn describe_containers(containers: &[ContainerChange]) -> String {
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
            format!(
                "{}{init}: {} → {}{sha}",
                c.container,
                c.from_ref.version(),
                c.to_ref.version()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
