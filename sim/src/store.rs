//! The in-memory object store.
//!
//! Each object is kept as its serialized JSON bytes plus a small parsed
//! index ([`Meta`]) holding what selectors, paging and controllers need.
//! That keeps 150,000 pods in a few hundred MiB and lets a list page be
//! served by concatenating bytes. One global resourceVersion counter orders
//! every write; a bounded change log feeds watches and the controllers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use parking_lot::RwLock;
use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::resources::{self, Resource};
use crate::table::CachedRow;
use crate::util::{self, str_at};

/// The small parsed index of one object.
#[derive(Debug, Clone, Default)]
pub(crate) struct Meta {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub rv: u64,
    pub labels: Vec<(String, String)>,
    /// Values of the selectable fields (field selectors).
    pub fields: Vec<(&'static str, String)>,
    /// The controlling owner (kind, name, uid), or the first owner.
    pub owner: Option<(String, String, String)>,
    pub deleting: bool,
    pub finalizers: bool,
    /// Pods: the Ready condition is True.
    pub ready: bool,
}

impl Meta {
    pub(crate) fn field(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
    pub(crate) fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn owner_uid(&self) -> Option<&str> {
        self.owner.as_ref().map(|(_, _, u)| u.as_str())
    }
}

#[derive(Debug)]
pub(crate) struct Stored {
    pub json: Bytes,
    pub meta: Meta,
    /// Its Table row, read the first time a table asks for it. A stored
    /// version never changes (a write stores a new one), so neither does
    /// the row, apart from its clock-dependent cells.
    row: OnceLock<CachedRow>,
}

impl Stored {
    pub(crate) fn new(json: Bytes, meta: Meta) -> Stored {
        Stored {
            json,
            meta,
            row: OnceLock::new(),
        }
    }

    /// Its Table row as a resource of kind `r`.
    pub(crate) fn row(&self, r: &Resource) -> &CachedRow {
        self.row.get_or_init(|| CachedRow::new(r, &self.json))
    }

    /// Whether its Table row has been read already.
    pub(crate) fn has_row(&self) -> bool {
        self.row.get().is_some()
    }

    pub(crate) fn value(&self) -> Value {
        serde_json::from_slice(&self.json).expect("stored objects are valid JSON")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

#[derive(Debug)]
pub(crate) struct Change {
    pub rv: u64,
    pub etype: EventType,
    pub resource: &'static Resource,
    pub obj: Arc<Stored>,
    /// The object before a modification (watches with selectors need it to
    /// turn "stopped matching" into DELETED).
    pub prev: Option<Arc<Stored>>,
}

/// How an update treats the parts of the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateMode {
    /// PUT/PATCH of the main resource: status is kept from the stored object.
    Main,
    /// The status subresource: only status is taken from the new object.
    Status,
    /// Internal writes (controllers, `Simulator::apply`): everything is taken.
    Raw,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOptions {
    pub grace_period: Option<i64>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

/// The outcome of a delete: the object as last stored, and whether it is gone
/// (false when it only got a deletionTimestamp).
pub(crate) struct Deleted {
    pub obj: Arc<Stored>,
    pub removed: bool,
}

type Table = BTreeMap<String, Arc<Stored>>;

struct Inner {
    rv: u64,
    tables: HashMap<&'static str, Table>,
    log: VecDeque<Arc<Change>>,
    log_cap: usize,
    /// Changes at or below this resourceVersion are no longer in the log.
    compacted: u64,
}

pub(crate) struct Store {
    inner: RwLock<Inner>,
    notify: tokio::sync::watch::Sender<u64>,
}

/// The storage key of an object: "namespace/name" ("/name" for cluster scope),
/// so a BTreeMap orders by namespace then name like etcd does.
pub(crate) fn key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

pub(crate) struct ListPage {
    pub items: Vec<Arc<Stored>>,
    pub rv: u64,
    /// The key of the last returned item when more items remain.
    pub next: Option<String>,
}

pub(crate) fn supported_fields(r: &Resource) -> &'static [&'static str] {
    match r.plural {
        "pods" => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "events" => &[
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "nodes" => &["metadata.name", "spec.unschedulable"],
        "namespaces" => &["metadata.name", "status.phase"],
        "secrets" => &["metadata.name", "metadata.namespace", "type"],
        "jobs" => &["metadata.name", "metadata.namespace", "status.successful"],
        _ => &["metadata.name", "metadata.namespace"],
    }
}

fn field_value(v: &Value, field: &str) -> String {
    match field {
        "spec.hostNetwork" | "spec.unschedulable" => v
            .pointer(&format!("/{}", field.replace('.', "/")))
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .to_string(),
        "status.successful" => v
            .pointer("/status/succeeded")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .to_string(),
        "source" => str_at(v, &["source", "component"]).to_string(),
        _ => {
            let path: Vec<&str> = field.split('.').collect();
            str_at(v, &path).to_string()
        }
    }
}

pub(crate) fn meta_of(r: &Resource, v: &Value) -> Meta {
    let m = &v["metadata"];
    let labels = m["labels"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    let fields = supported_fields(r)
        .iter()
        .map(|f| (*f, field_value(v, f)))
        .collect();
    let owner = m["ownerReferences"].as_array().and_then(|refs| {
        let o = refs
            .iter()
            .find(|o| o["controller"].as_bool() == Some(true))
            .or_else(|| refs.first())?;
        Some((
            str_at(o, &["kind"]).to_string(),
            str_at(o, &["name"]).to_string(),
            str_at(o, &["uid"]).to_string(),
        ))
    });
    let ready = r.plural == "pods"
        && v["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
    Meta {
        name: str_at(m, &["name"]).to_string(),
        namespace: str_at(m, &["namespace"]).to_string(),
        uid: str_at(m, &["uid"]).to_string(),
        rv: str_at(m, &["resourceVersion"]).parse().unwrap_or(0),
        labels,
        fields,
        owner,
        deleting: m.get("deletionTimestamp").is_some_and(|d| !d.is_null()),
        finalizers: m["finalizers"].as_array().is_some_and(|f| !f.is_empty()),
        ready,
    }
}

fn spec_part(v: &Value) -> Value {
    // Everything but metadata and status: what metadata.generation tracks.
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "metadata" | "status" | "kind" | "apiVersion")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => Value::Null,
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::new(20_000)
    }
}

impl Store {
    pub(crate) fn new(log_cap: usize) -> Self {
        let (notify, _) = tokio::sync::watch::channel(1);
        Self {
            inner: RwLock::new(Inner {
                rv: 1,
                tables: HashMap::new(),
                log: VecDeque::new(),
                log_cap,
                compacted: 1,
            }),
            notify,
        }
    }

    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.notify.subscribe()
    }

    pub(crate) fn current_rv(&self) -> u64 {
        self.inner.read().rv
    }

    /// Drop the whole change history: any watch resuming from an older
    /// resourceVersion gets 410 Gone, as after an etcd compaction.
    pub(crate) fn compact(&self) {
        let mut g = self.inner.write();
        g.log.clear();
        g.compacted = g.rv;
    }

    /// The resourceVersion history starts after: older continue tokens and
    /// watch positions are gone.
    pub(crate) fn compacted(&self) -> u64 {
        self.inner.read().compacted
    }

    pub(crate) fn get(&self, r: &Resource, ns: &str, name: &str) -> Option<Arc<Stored>> {
        let g = self.inner.read();
        g.tables.get(r.plural)?.get(&key(ns, name)).cloned()
    }

    pub(crate) fn get_value(&self, r: &Resource, ns: &str, name: &str) -> Option<Value> {
        self.get(r, ns, name).map(|s| s.value())
    }

    pub(crate) fn count(&self, r: &Resource) -> usize {
        self.inner
            .read()
            .tables
            .get(r.plural)
            .map_or(0, |t| t.len())
    }

    /// A page of objects in key order, starting after `after`, keeping those
    /// `keep` accepts, at most `limit` (0 = no limit).
    pub(crate) fn list(
        &self,
        r: &Resource,
        ns: Option<&str>,
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&Meta) -> bool,
    ) -> ListPage {
        let g = self.inner.read();
        let rv = g.rv;
        let Some(t) = g.tables.get(r.plural) else {
            return ListPage {
                items: vec![],
                rv,
                next: None,
            };
        };
        let prefix = ns.map(|n| format!("{n}/"));
        let start = match (after, &prefix) {
            (Some(a), _) => Bound::Excluded(a.to_string()),
            (None, Some(p)) => Bound::Included(p.clone()),
            (None, None) => Bound::Unbounded,
        };
        let mut items = Vec::new();
        let mut next = None;
        let mut more = false;
        for (k, s) in t.range((start, Bound::Unbounded)) {
            if let Some(p) = &prefix
                && !k.starts_with(p.as_str())
            {
                break;
            }
            if !keep(&s.meta) {
                continue;
            }
            if limit > 0 && items.len() >= limit {
                // One more match proves there is a next page; counting them
                // all would make every page cost the whole table.
                more = true;
                break;
            }
            items.push(s.clone());
            next = Some(k.clone());
        }
        if !more {
            next = None;
        }
        ListPage { items, rv, next }
    }

    /// All objects of a resource (optionally in one namespace) whose index
    /// passes `keep`. For controllers.
    pub(crate) fn scan(
        &self,
        r: &Resource,
        ns: Option<&str>,
        keep: impl Fn(&Meta) -> bool,
    ) -> Vec<Arc<Stored>> {
        self.list(r, ns, None, 0, keep).items
    }

    fn push_change(
        g: &mut Inner,
        etype: EventType,
        r: &'static Resource,
        obj: Arc<Stored>,
        prev: Option<Arc<Stored>>,
    ) {
        let c = Arc::new(Change {
            rv: obj.meta.rv.max(g.rv),
            etype,
            resource: r,
            obj,
            prev,
        });
        g.log.push_back(c);
        while g.log.len() > g.log_cap {
            if let Some(old) = g.log.pop_front() {
                g.compacted = old.rv;
            }
        }
    }

    fn finish(&self, g: parking_lot::RwLockWriteGuard<'_, Inner>) {
        let rv = g.rv;
        drop(g);
        self.notify.send_replace(rv);
    }

    fn seal(r: &Resource, mut v: Value, rv: u64) -> Arc<Stored> {
        quantities_as_strings(&mut v);
        v["metadata"]["resourceVersion"] = json!(rv.to_string());
        if v.get("apiVersion").is_none() {
            v["apiVersion"] = json!(r.api_version());
        }
        if v.get("kind").is_none() {
            v["kind"] = json!(r.kind);
        }
        let meta = meta_of(r, &v);
        // copy_from_slice: a serialized Vec may carry twice its length in capacity.
        let json = Bytes::copy_from_slice(&serde_json::to_vec(&v).expect("json"));
        Arc::new(Stored::new(json, meta))
    }

    /// Fill server-set metadata for a new object.
    fn prepare_new(r: &Resource, v: &mut Value, ns: &str) -> Result<(), ApiError> {
        if !v.is_object() {
            return Err(ApiError::bad_request("the object is not a JSON object"));
        }
        let m = util::obj_mut(v, &["metadata"]);
        let name = m
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if name.is_empty() {
            let gen_name = m
                .get("generateName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if gen_name.is_empty() {
                return Err(ApiError::invalid(
                    r.kind,
                    "",
                    "metadata.name",
                    "Required value: name or generateName is required",
                ));
            }
            let n = format!("{gen_name}{}", util::global_rng(|g| g.suffix(5)));
            m.insert("name".into(), json!(n));
        }
        if r.namespaced {
            m.insert("namespace".into(), json!(ns));
        } else {
            m.remove("namespace");
        }
        m.insert("uid".into(), json!(util::new_uid()));
        if m.get("creationTimestamp").is_none_or(Value::is_null) {
            m.insert("creationTimestamp".into(), json!(util::now_ts()));
        }
        m.insert("generation".into(), json!(1));
        m.remove("deletionTimestamp");
        m.remove("deletionGracePeriodSeconds");
        if r.plural == "namespaces" && v["status"]["phase"].is_null() {
            v["status"] = json!({"phase": "Active"});
        }
        Ok(())
    }

    pub(crate) fn create(
        &self,
        r: &'static Resource,
        mut v: Value,
    ) -> Result<Arc<Stored>, ApiError> {
        let ns = str_at(&v, &["metadata", "namespace"]).to_string();
        Self::prepare_new(r, &mut v, &ns)?;
        let name = str_at(&v, &["metadata", "name"]).to_string();
        let mut g = self.inner.write();
        let k = key(if r.namespaced { &ns } else { "" }, &name);
        if g.tables.get(r.plural).is_some_and(|t| t.contains_key(&k)) {
            return Err(ApiError::already_exists(r.group, r.plural, &name));
        }
        g.rv += 1;
        let s = Self::seal(r, v, g.rv);
        g.tables.entry(r.plural).or_default().insert(k, s.clone());
        Self::push_change(&mut g, EventType::Added, r, s.clone(), None);
        self.finish(g);
        Ok(s)
    }

    /// Insert many fully formed objects without recording changes (the scale
    /// generator). Objects keep the uid and timestamps they carry.
    pub(crate) fn bulk_insert(&self, r: &'static Resource, objs: impl IntoIterator<Item = Value>) {
        let mut g = self.inner.write();
        g.rv += 1;
        let rv = g.rv;
        let mut batch = Vec::new();
        for v in objs {
            let s = Self::seal(r, v, rv);
            batch.push((key(&s.meta.namespace, &s.meta.name), s));
        }
        let t = g.tables.entry(r.plural).or_default();
        t.extend(batch);
        g.compacted = g.rv;
        g.log.clear();
        self.finish(g);
    }

    /// Insert objects the caller serialized and indexed itself (the scale
    /// generator stamps many pods from one template). Their JSON must carry
    /// `metadata.resourceVersion` = `current_rv() + 1`.
    pub(crate) fn bulk_insert_stored(&self, r: &'static Resource, objs: Vec<Stored>) {
        let mut g = self.inner.write();
        g.rv += 1;
        let t = g.tables.entry(r.plural).or_default();
        for s in objs {
            t.insert(key(&s.meta.namespace, &s.meta.name), Arc::new(s));
        }
        g.compacted = g.rv;
        g.log.clear();
        self.finish(g);
    }

    /// Replace an object. `check_rv` makes a stale metadata.resourceVersion a 409.
    pub(crate) fn update(
        &self,
        r: &'static Resource,
        mut v: Value,
        mode: UpdateMode,
        check_rv: bool,
    ) -> Result<Arc<Stored>, ApiError> {
        let ns = if r.namespaced {
            str_at(&v, &["metadata", "namespace"]).to_string()
        } else {
            String::new()
        };
        let name = str_at(&v, &["metadata", "name"]).to_string();
        let k = key(&ns, &name);
        let mut g = self.inner.write();
        let Some(old) = g.tables.get(r.plural).and_then(|t| t.get(&k)).cloned() else {
            return Err(ApiError::not_found(r.group, r.plural, &name));
        };
        let given_rv = str_at(&v, &["metadata", "resourceVersion"]);
        if check_rv && !given_rv.is_empty() && given_rv != old.meta.rv.to_string() {
            return Err(ApiError::stale(r.group, r.plural, &name));
        }
        let oldv = old.value();
        match mode {
            UpdateMode::Main => {
                if !oldv["status"].is_null() {
                    v["status"] = oldv["status"].clone();
                } else if let Some(o) = v.as_object_mut() {
                    o.remove("status");
                }
            }
            UpdateMode::Status => {
                let status = v["status"].take();
                v = oldv.clone();
                v["status"] = status;
            }
            UpdateMode::Raw => {}
        }
        // Server-owned metadata is kept whatever the client sent.
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            match oldv["metadata"].get(f) {
                Some(x) if mode != UpdateMode::Raw || v["metadata"].get(f).is_none() => {
                    v["metadata"][f] = x.clone()
                }
                None if mode != UpdateMode::Raw => {
                    if let Some(m) = v["metadata"].as_object_mut() {
                        m.remove(f);
                    }
                }
                _ => {}
            }
        }
        if r.namespaced {
            v["metadata"]["namespace"] = json!(ns);
        }
        let old_gen = oldv["metadata"]["generation"].as_i64().unwrap_or(1);
        let generation = if spec_part(&oldv) != spec_part(&v) && mode != UpdateMode::Status {
            old_gen + 1
        } else {
            old_gen
        };
        v["metadata"]["generation"] = json!(generation);
        // A write that changes nothing does not bump the resourceVersion
        // (the API server short-circuits no-op updates too).
        v["metadata"]["resourceVersion"] = oldv["metadata"]["resourceVersion"].clone();
        if v == oldv {
            return Ok(old);
        }
        let deleting = !v["metadata"]["deletionTimestamp"].is_null();
        let no_finalizers = v["metadata"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty());
        g.rv += 1;
        let s = Self::seal(r, v, g.rv);
        if deleting && no_finalizers && Self::grace_over(r, &s) {
            g.tables.get_mut(r.plural).expect("table").remove(&k);
            Self::push_change(&mut g, EventType::Deleted, r, s.clone(), Some(old.clone()));
        } else {
            g.tables
                .get_mut(r.plural)
                .expect("table")
                .insert(k, s.clone());
            Self::push_change(&mut g, EventType::Modified, r, s.clone(), Some(old.clone()));
        }
        self.finish(g);
        Ok(s)
    }

    /// Whether an object marked for deletion may go once its finalizers are
    /// gone: pods wait for their kubelet (deletionGracePeriodSeconds 0).
    fn grace_over(r: &Resource, s: &Stored) -> bool {
        if r.plural != "pods" {
            return true;
        }
        let v = s.value();
        v["metadata"]["deletionGracePeriodSeconds"]
            .as_i64()
            .unwrap_or(0)
            == 0
            || v["spec"]["nodeName"].as_str().unwrap_or("").is_empty()
    }

    pub(crate) fn delete(
        &self,
        r: &'static Resource,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let k = key(if r.namespaced { ns } else { "" }, name);
        let mut g = self.inner.write();
        let Some(old) = g.tables.get(r.plural).and_then(|t| t.get(&k)).cloned() else {
            return Err(ApiError::not_found(r.group, r.plural, name));
        };
        if let Some(uid) = &opts.uid
            && *uid != old.meta.uid
        {
            return Err(ApiError::conflict(
                r.group,
                r.plural,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    old.meta.uid
                ),
            ));
        }
        if let Some(rv) = &opts.resource_version
            && *rv != old.meta.rv.to_string()
        {
            return Err(ApiError::conflict(
                r.group,
                r.plural,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    old.meta.rv
                ),
            ));
        }
        let mut v = old.value();
        let grace = if r.plural == "pods" {
            let scheduled = !str_at(&v, &["spec", "nodeName"]).is_empty();
            let terminal = matches!(str_at(&v, &["status", "phase"]), "Succeeded" | "Failed");
            let g = opts
                .grace_period
                .or_else(|| v["spec"]["terminationGracePeriodSeconds"].as_i64())
                .unwrap_or(30)
                .max(0);
            if !scheduled || terminal { 0 } else { g }
        } else {
            0
        };
        if grace == 0 && !old.meta.finalizers {
            g.rv += 1;
            // The DELETED event carries the final resourceVersion.
            let s = Self::seal(r, v, g.rv);
            g.tables.get_mut(r.plural).expect("table").remove(&k);
            Self::push_change(&mut g, EventType::Deleted, r, s.clone(), Some(old.clone()));
            self.finish(g);
            return Ok(Deleted {
                obj: s,
                removed: true,
            });
        }
        let now = util::now();
        let existing_grace = v["metadata"]["deletionGracePeriodSeconds"].as_i64();
        if old.meta.deleting && existing_grace.is_some_and(|e| e <= grace) {
            // Already terminating with a shorter grace: nothing changes.
            return Ok(Deleted {
                obj: old,
                removed: false,
            });
        }
        // A shorter grace on an object already terminating counts from when
        // its deletion was asked for, not from now (as the API server's
        // BeforeDelete does), so a pod stuck on a finalizer keeps its age.
        let requested_at = match (
            old.meta.deleting,
            v["metadata"]["deletionTimestamp"]
                .as_str()
                .and_then(util::parse_ts),
            existing_grace,
        ) {
            (true, Some(ts), Some(e)) => ts - chrono::Duration::seconds(e),
            _ => now,
        };
        v["metadata"]["deletionTimestamp"] =
            json!(util::ts(requested_at + chrono::Duration::seconds(grace)));
        v["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
        g.rv += 1;
        let s = Self::seal(r, v, g.rv);
        g.tables
            .get_mut(r.plural)
            .expect("table")
            .insert(k, s.clone());
        Self::push_change(&mut g, EventType::Modified, r, s.clone(), Some(old.clone()));
        self.finish(g);
        Ok(Deleted {
            obj: s,
            removed: false,
        })
    }

    /// Changes after `rv`, or Err(compacted) when history no longer reaches back.
    pub(crate) fn changes_since(&self, rv: u64) -> Result<Vec<Arc<Change>>, u64> {
        let g = self.inner.read();
        if rv < g.compacted {
            return Err(g.compacted);
        }
        // The log is ordered by rv: binary search for the first newer change.
        let idx = g.log.partition_point(|c| c.rv <= rv);
        Ok(g.log.range(idx..).cloned().collect())
    }

    /// Snapshot of every object of a resource with the store's rv (for the
    /// initial events of a watch).
    pub(crate) fn snapshot(&self, r: &Resource, ns: Option<&str>) -> (Vec<Arc<Stored>>, u64) {
        let p = self.list(r, ns, None, 0, |_| true);
        (p.items, p.rv)
    }
}

/// Maps of resource quantities (`cpu: 8`, `ephemeral-storage: 47060071478`):
/// the API server stores a quantity as a string, whatever number YAML gave.
const QUANTITY_MAPS: &[&str] = &[
    "capacity",
    "allocatable",
    "requests",
    "limits",
    "hard",
    "used",
    "overhead",
];

pub(crate) fn quantities_as_strings(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    Value::Object(q) if QUANTITY_MAPS.contains(&key.as_str()) => {
                        for n in q.values_mut().filter(|n| n.is_number()) {
                            *n = json!(n.to_string());
                        }
                    }
                    Value::Number(_) if key == "sizeLimit" => *child = json!(child.to_string()),
                    _ => quantities_as_strings(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(quantities_as_strings),
        _ => {}
    }
}

/// Look a resource up by plural, panicking on a programming error.
pub(crate) fn res(plural: &str) -> &'static Resource {
    resources::by_name(plural).unwrap_or_else(|| panic!("unknown resource {plural}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
               "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]}})
    }

    #[test]
    fn create_update_conflict_delete() {
        let s = Store::default();
        let pods = res("pods");
        let a = s.create(pods, pod("a")).unwrap();
        assert_eq!(a.meta.rv, 2);
        assert!(s.create(pods, pod("a")).is_err());
        let mut v = a.value();
        v["metadata"]["labels"]["x"] = json!("y");
        let b = s.update(pods, v.clone(), UpdateMode::Main, true).unwrap();
        assert!(b.meta.rv > a.meta.rv);
        // the same stale body again is a conflict
        let e = s.update(pods, v, UpdateMode::Main, true).unwrap_err();
        assert_eq!(e.code, 409);
        // a scheduled pod gets a deletionTimestamp, not removal
        let d = s
            .delete(pods, "default", "a", &DeleteOptions::default())
            .unwrap();
        assert!(!d.removed);
        assert!(d.obj.meta.deleting);
        let d = s
            .delete(
                pods,
                "default",
                "a",
                &DeleteOptions {
                    grace_period: Some(0),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(d.removed);
        assert!(s.get(pods, "default", "a").is_none());
    }

    #[test]
    fn a_shorter_grace_counts_from_the_original_request() {
        let s = Store::default();
        let pods = res("pods");
        let mut p = pod("held");
        p["metadata"]["finalizers"] = json!(["example.com/keep"]);
        s.create(pods, p).unwrap();
        let first = s
            .delete(pods, "default", "held", &DeleteOptions::default())
            .unwrap();
        let asked_at = util::parse_ts(
            first.obj.value()["metadata"]["deletionTimestamp"]
                .as_str()
                .unwrap(),
        )
        .unwrap()
            - chrono::Duration::seconds(30);
        let zero = DeleteOptions {
            grace_period: Some(0),
            ..Default::default()
        };
        let second = s.delete(pods, "default", "held", &zero).unwrap();
        let v = second.obj.value();
        assert!(!second.removed, "a finalizer holds it");
        assert_eq!(v["metadata"]["deletionGracePeriodSeconds"], 0);
        assert_eq!(
            v["metadata"]["deletionTimestamp"],
            json!(util::ts(asked_at)),
            "the deletion time moves back by the grace it lost, not to now"
        );
    }

    #[test]
    fn quantities_are_stored_as_strings() {
        let s = Store::default();
        let mut p = pod("sized");
        p["spec"]["containers"][0]["resources"] =
            json!({"requests": {"cpu": 0.5, "memory": "64Mi"}, "limits": {"nvidia.com/gpu": 1}});
        let v = s.create(res("pods"), p).unwrap().value();
        let r = &v["spec"]["containers"][0]["resources"];
        assert_eq!(r["requests"]["cpu"], "0.5");
        assert_eq!(r["requests"]["memory"], "64Mi");
        assert_eq!(r["limits"]["nvidia.com/gpu"], "1");
        assert_eq!(v["spec"]["containers"][0]["image"], "i");
    }

    #[test]
    fn paging_and_changes() {
        let s = Store::new(3);
        let pods = res("pods");
        for i in 0..5 {
            s.create(pods, pod(&format!("p{i}"))).unwrap();
        }
        let p = s.list(pods, Some("default"), None, 2, |_| true);
        assert_eq!(p.items.len(), 2);
        assert!(p.next.is_some());
        let p2 = s.list(pods, Some("default"), p.next.as_deref(), 2, |_| true);
        assert_eq!(p2.items[0].meta.name, "p2");
        // only the last three changes are kept
        assert!(s.changes_since(2).is_err());
        assert_eq!(s.changes_since(s.current_rv() - 1).unwrap().len(), 1);
    }
}
