//! The simulated control plane and kubelets.
//!
//! One tokio task runs every controller in turn each tick. Work is driven by
//! the store's change log (what changed since the last tick marks objects
//! dirty, the way informers feed work queues) plus timers, so a 150,000-pod
//! cluster that is at rest costs almost nothing per tick.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Shared;
use crate::store::{EventType, Store, Stored, res};

mod cronjobs;
mod daemonset;
pub(crate) mod defaults;
mod endpoints;
mod events;
mod gc;
mod jobs;
mod kubelet;
mod nodes;
mod pdb;
pub(crate) mod podutil;
mod scheduler;
mod statefulset;
mod workloads;

pub(crate) use events::Recorder;

/// (plural, namespace, name)
pub(crate) type ObjKey = (&'static str, String, String);

/// Per-run controller state that is not in the store (timers, what each
/// simulated kubelet remembers).
#[derive(Default)]
pub(crate) struct State {
    pub dirty: BTreeSet<ObjKey>,
    pub wake: BTreeMap<Instant, Vec<ObjKey>>,
    pub recorder: Recorder,
    pub kubelet: kubelet::KubeletState,
    pub schedule_all: bool,
    pub deploy_progress: HashMap<String, (Instant, String)>,
    pub autoscaler: Vec<(Instant, Value)>,
    pub node_not_ready: HashMap<String, Instant>,
    /// Nodes whose status the `kubelet-stopped` fault turned Unknown.
    pub kubelet_stopped: std::collections::HashSet<String>,
    pub gc: Vec<(&'static str, String, String)>,
    pub last_full_sync: Option<Instant>,
    /// Objects a controller could not read, logged once each.
    pub skipped: std::collections::HashSet<(String, String, String)>,
}

impl State {
    pub(crate) fn wake_at(&mut self, at: Instant, k: ObjKey) {
        self.wake.entry(at).or_default().push(k);
    }
    pub(crate) fn wake_in(&mut self, d: Duration, k: ObjKey) {
        self.wake_at(Instant::now() + d, k);
    }
    fn mark(&mut self, plural: &'static str, ns: &str, name: &str) {
        self.dirty
            .insert((plural, ns.to_string(), name.to_string()));
    }
}

pub(crate) struct Ctx<'a> {
    pub sh: &'a Shared,
    pub store: &'a Store,
}

impl Ctx<'_> {
    /// The object a workload controller reconciles: `None` once it is gone
    /// or being deleted (the garbage collector then takes what it owns).
    pub(crate) fn live(&self, plural: &str, ns: &str, name: &str) -> Option<Value> {
        let object = self.store.get_value(res(plural), ns, name)?;
        object["metadata"]["deletionTimestamp"]
            .is_null()
            .then_some(object)
    }
}

pub(crate) fn owner_plural(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "ReplicaSet" => "replicasets",
        "Deployment" => "deployments",
        "StatefulSet" => "statefulsets",
        "DaemonSet" => "daemonsets",
        "Job" => "jobs",
        "CronJob" => "cronjobs",
        _ => return None,
    })
}

const WATCHED: &[&str] = &[
    "nodes",
    "pods",
    "replicasets",
    "deployments",
    "statefulsets",
    "daemonsets",
    "jobs",
    "cronjobs",
    "poddisruptionbudgets",
    "services",
];

fn mark_all(st: &mut State, store: &Store) {
    for p in WATCHED {
        // Ready pods need nothing from anyone until they change.
        let keep = |m: &crate::store::Meta| *p != "pods" || !m.ready;
        for s in store.scan(res(p), None, keep) {
            st.mark(p, &s.meta.namespace, &s.meta.name);
        }
    }
    st.schedule_all = true;
}

fn mark_related(st: &mut State, store: &Store, plural: &'static str, s: &Stored) {
    let ns = s.meta.namespace.as_str();
    st.mark(plural, ns, &s.meta.name);
    if let Some((kind, name, _)) = &s.meta.owner
        && let Some(p) = owner_plural(kind)
    {
        st.mark(p, ns, name);
    }
    match plural {
        "pods" => {
            for pdb in store.scan(res("poddisruptionbudgets"), Some(ns), |_| true) {
                st.mark("poddisruptionbudgets", ns, &pdb.meta.name);
            }
            for svc in store.scan(res("services"), Some(ns), |_| true) {
                st.mark("services", ns, &svc.meta.name);
            }
        }
        "nodes" => {
            for ds in store.scan(res("daemonsets"), None, |_| true) {
                st.mark("daemonsets", &ds.meta.namespace, &ds.meta.name);
            }
            st.schedule_all = true;
        }
        _ => {}
    }
}

/// One pass of every controller.
fn step(ctx: &Ctx, st: &mut State, cursor: &mut u64) {
    let store = ctx.store;
    match store.changes_since(*cursor) {
        Ok(changes) => {
            for c in &changes {
                *cursor = c.rv;
                let p = c.resource.plural;
                if c.etype == EventType::Deleted {
                    if matches!(
                        p,
                        "deployments"
                            | "replicasets"
                            | "statefulsets"
                            | "daemonsets"
                            | "jobs"
                            | "cronjobs"
                            | "namespaces"
                    ) {
                        st.gc
                            .push((p, c.obj.meta.name.clone(), c.obj.meta.uid.clone()));
                    }
                    if p == "nodes" {
                        nodes::on_node_deleted(ctx, st, &c.obj);
                    }
                    if p == "pods" {
                        st.kubelet.forget(&c.obj.meta.uid);
                        st.schedule_all = true;
                    }
                }
                if WATCHED.contains(&p) {
                    mark_related(st, store, p, &c.obj);
                }
            }
        }
        Err(_) => {
            *cursor = store.current_rv();
            mark_all(st, store);
        }
    }
    // A periodic full resync catches anything missed (cheap on small clusters).
    let now = Instant::now();
    let small = store.count(res("pods")) < 5000;
    if small
        && st
            .last_full_sync
            .is_none_or(|t| now - t > Duration::from_secs(3))
    {
        st.last_full_sync = Some(now);
        mark_all(st, store);
    }
    let due: Vec<Instant> = st.wake.range(..=now).map(|(t, _)| *t).collect();
    for t in due {
        for k in st.wake.remove(&t).unwrap_or_default() {
            st.dirty.insert(k);
        }
    }
    let dirty = std::mem::take(&mut st.dirty);
    let of = |p: &str| -> Vec<(String, String)> {
        dirty
            .iter()
            .filter(|(dp, _, _)| *dp == p)
            .map(|(_, ns, n)| (ns.clone(), n.clone()))
            .collect()
    };

    guarded(ctx, st, ("gc", "", ""), |st| gc::run(ctx, st));
    for (_, n) in of("nodes") {
        guarded(ctx, st, ("nodes", "", &n), |st| {
            nodes::reconcile(ctx, st, &n)
        });
    }
    guarded(ctx, st, ("autoscaler", "", ""), |st| {
        nodes::autoscale(ctx, st)
    });
    type Reconcile = fn(&Ctx, &mut State, &str, &str);
    let workload_controllers: [(&str, Reconcile); 6] = [
        ("deployments", workloads::reconcile_deployment),
        ("replicasets", workloads::reconcile_replicaset),
        ("statefulsets", statefulset::reconcile),
        ("daemonsets", daemonset::reconcile),
        ("jobs", jobs::reconcile),
        ("cronjobs", cronjobs::reconcile),
    ];
    for (plural, reconcile) in workload_controllers {
        for (ns, n) in of(plural) {
            guarded(ctx, st, (plural, &ns, &n), |st| reconcile(ctx, st, &ns, &n));
        }
    }
    let pods = of("pods");
    guarded(ctx, st, ("scheduler", "", ""), |st| {
        scheduler::run(ctx, st, &pods)
    });
    for (ns, n) in &pods {
        guarded(ctx, st, ("pods", ns, n), |st| {
            kubelet::reconcile(ctx, st, ns, n)
        });
    }
    for (ns, n) in of("poddisruptionbudgets") {
        guarded(ctx, st, ("poddisruptionbudgets", &ns, &n), |st| {
            pdb::reconcile(ctx, st, &ns, &n)
        });
    }
    for (ns, n) in of("services") {
        guarded(ctx, st, ("services", &ns, &n), |st| {
            endpoints::reconcile(ctx, st, &ns, &n)
        });
    }
}

/// Runs one controller's work on one object (`what` is the controller or
/// plural, namespace and name). The API refuses malformed objects, but a
/// controller that still cannot read one (a bug, or an object written
/// around the API) must not take the whole loop down: the object is skipped
/// and logged once, and every other object keeps being reconciled.
fn guarded(ctx: &Ctx, st: &mut State, what: (&str, &str, &str), work: impl FnOnce(&mut State)) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&mut *st)));
    let Err(panic) = outcome else {
        return;
    };
    let why = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    let (plural, ns, name) = what;
    if st
        .skipped
        .insert((plural.to_string(), ns.to_string(), name.to_string()))
    {
        ctx.sh
            .skipped
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(
            "controller for {plural} skipped `{ns}/{name}`, which it cannot read: {why}"
        );
    }
}

/// Run the controllers with every delay skipped until the cluster stops
/// changing, so a seed starts as a settled cluster (pods Running, crash
/// loops already looping) rather than everything Pending.
pub(crate) fn settle(sh: &Shared, full: bool) -> (State, u64) {
    let mut st = State::default();
    let mut cursor = sh.store.current_rv();
    if !full {
        // A generated cluster is built settled; looking at every object would
        // only cost time.
        st.last_full_sync = Some(Instant::now());
        return (st, cursor);
    }
    st.kubelet.settling = true;
    mark_all(&mut st, &sh.store);
    let ctx = Ctx {
        sh,
        store: &sh.store,
    };
    for _ in 0..40 {
        let before = sh.store.current_rv();
        step(&ctx, &mut st, &mut cursor);
        if sh.store.current_rv() == before && st.dirty.is_empty() {
            break;
        }
    }
    st.kubelet.settling = false;
    st.last_full_sync = Some(Instant::now());
    inherit_ages(&sh.store, &mut st.kubelet);
    (st, cursor)
}

/// Objects created while settling a seed take their owner's age (a little
/// younger), so `kubectl get pods` does not show a 12-day-old Deployment
/// with 0-second-old pods.
fn inherit_ages(store: &Store, kubelet: &mut kubelet::KubeletState) {
    for (plural, offset) in [("replicasets", 5), ("controllerrevisions", 5), ("pods", 40)] {
        let r = res(plural);
        for s in store.scan(r, None, |m| m.owner.is_some()) {
            let Some((kind, owner, _)) = &s.meta.owner else {
                continue;
            };
            let Some(op) = owner_plural(kind) else {
                continue;
            };
            let Some(ov) = store.get_value(res(op), &s.meta.namespace, owner) else {
                continue;
            };
            let mut v = s.value();
            let Some(ot) =
                crate::util::parse_ts(ov["metadata"]["creationTimestamp"].as_str().unwrap_or(""))
            else {
                continue;
            };
            let mine =
                crate::util::parse_ts(v["metadata"]["creationTimestamp"].as_str().unwrap_or(""));
            let want = ot + chrono::Duration::seconds(offset);
            if let Some(m) = mine.filter(|m| *m > want) {
                v["metadata"]["creationTimestamp"] = serde_json::json!(crate::util::ts(want));
                // The status happened as long ago as the object was created,
                // so a broken seeded pod looks stuck, not just started.
                shift_times(&mut v["status"], want - m);
                // ...and its kubelet remembers starting it then, so the
                // container times it writes next agree.
                kubelet.shift(&s.meta.uid, want - m);
                // A pod stuck Terminating in a seed has been stuck that long too.
                if let Some(t) = v["metadata"]["deletionTimestamp"]
                    .as_str()
                    .and_then(crate::util::parse_ts)
                {
                    v["metadata"]["deletionTimestamp"] =
                        serde_json::json!(crate::util::ts(t + (want - m)));
                }
                let _ = store.update(r, v, crate::store::UpdateMode::Raw, false);
            }
        }
    }
}

/// Moves every timestamp under `value` (keys ending in `Time` or `At`, such
/// as `lastTransitionTime`, `startTime`, `startedAt`, `finishedAt`) by `delta`.
fn shift_times(value: &mut serde_json::Value, delta: chrono::Duration) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let is_time = key.ends_with("Time") || key.ends_with("At");
                match v.as_str().and_then(crate::util::parse_ts) {
                    Some(t) if is_time => *v = serde_json::json!(crate::util::ts(t + delta)),
                    _ => shift_times(v, delta),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| shift_times(v, delta)),
        _ => {}
    }
}

pub(crate) async fn run(sh: Arc<Shared>, st: State, cursor: u64) {
    let mut st = st;
    let mut cursor = cursor;
    let mut stop = sh.shutdown.clone();
    loop {
        let ctx = Ctx {
            sh: &sh,
            store: &sh.store,
        };
        step(&ctx, &mut st, &mut cursor);
        // Sleep a tick, but wake early for new writes so the cluster reacts
        // promptly; the tick bounds how often we run.
        let tick = sh.timing.tick;
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(tick) => {}
        }
    }
}

/// Shorthand used by controllers.
pub(crate) fn obj_key(plural: &'static str, ns: &str, name: &str) -> ObjKey {
    (plural, ns.to_string(), name.to_string())
}
