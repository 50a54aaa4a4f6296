//! Garbage collection: dependents of deleted owners go (background
//! propagation), and so does everything in a deleted namespace.

use super::{Ctx, State};
use crate::resources::RESOURCES;
use crate::store::{DeleteOptions, res};

const DEPENDENTS: &[&str] = &[
    "pods",
    "replicasets",
    "controllerrevisions",
    "jobs",
    "endpoints",
];

pub(super) fn run(ctx: &Ctx, st: &mut State) {
    for (plural, name, uid) in std::mem::take(&mut st.gc) {
        if plural == "namespaces" {
            for r in RESOURCES.iter().filter(|r| r.namespaced) {
                for s in ctx.store.scan(r, Some(&name), |_| true) {
                    let _ = ctx.store.delete(
                        r,
                        &name,
                        &s.meta.name,
                        &DeleteOptions {
                            grace_period: Some(0),
                            ..Default::default()
                        },
                    );
                }
            }
            continue;
        }
        for dep in DEPENDENTS {
            let r = res(dep);
            for s in ctx
                .store
                .scan(r, None, |m| m.owner_uid() == Some(uid.as_str()))
            {
                if !s.meta.deleting {
                    let _ = ctx.store.delete(
                        r,
                        &s.meta.namespace,
                        &s.meta.name,
                        &DeleteOptions::default(),
                    );
                }
            }
        }
    }
}
