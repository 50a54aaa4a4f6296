//! Watch: a chunked stream of JSON lines (`{"type":…,"object":…}`) from a
//! resourceVersion, with bookmarks, timeouts and 410 Gone when the change
//! history no longer reaches back far enough.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::Req;
use super::crud::Filter;
use crate::Shared;
use crate::errors::ApiError;
use crate::resources::Resource;
use crate::store::{EventType, Stored};
use crate::table::{self, IncludeObject};
use crate::util;

type Tx = mpsc::Sender<Result<Bytes, std::io::Error>>;

struct Watcher {
    res: &'static Resource,
    ns: Option<String>,
    filter: Filter,
    table: bool,
    include: IncludeObject,
    tx: Tx,
}

impl Watcher {
    fn render(&self, s: &Stored) -> Value {
        let v = s.value();
        if self.table {
            let row = table::row(self.res, &v, util::now(), self.include);
            table::table(self.res, vec![row], s.meta.rv, None)
        } else {
            v
        }
    }

    async fn send(&mut self, etype: &str, obj: Value) -> bool {
        let mut line = serde_json::to_vec(&json!({"type": etype, "object": obj})).expect("json");
        line.push(b'\n');
        self.tx.send(Ok(Bytes::from(line))).await.is_ok()
    }

    async fn send_gone(&mut self, rv: u64, compacted: u64) {
        let e = ApiError::gone(format!("too old resource version: {rv} ({compacted})"));
        let _ = self.send("ERROR", e.status()).await;
    }

    fn in_scope(&self, s: &Stored) -> bool {
        self.ns.as_deref().is_none_or(|n| s.meta.namespace == n)
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Value {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        json!({"kind": self.res.kind, "apiVersion": self.res.api_version(), "metadata": meta})
    }
}

pub(super) async fn watch(sh: &Arc<Shared>, req: Req) -> Result<Response, ApiError> {
    let filter = Filter::from_req(&req)?;
    let (tx, rx) = mpsc::channel(256);
    let rv_param = req.q("resourceVersion").unwrap_or("").to_string();
    let initial = req.q_bool("sendInitialEvents");
    let bookmarks = req.q_bool("allowWatchBookmarks");
    let timeout = req
        .q("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let w = Watcher {
        res: req.res,
        ns: req.ns.clone(),
        filter,
        table: req.wants_table(),
        include: match req.q("includeObject") {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        },
        tx,
    };
    let start_rv: Option<u64> = match rv_param.as_str() {
        "" | "0" => None,
        s => Some(
            s.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {s:?}")))?,
        ),
    };
    tokio::spawn(run(sh.clone(), w, start_rv, initial, bookmarks, timeout));
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    let mut resp = Response::new(Body::from_stream(stream));
    let ct = if req.wants_table() {
        "application/json;as=Table;v=v1;g=meta.k8s.io"
    } else {
        "application/json"
    };
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}

async fn run(
    sh: Arc<Shared>,
    mut w: Watcher,
    start_rv: Option<u64>,
    initial: bool,
    bookmarks: bool,
    timeout: Duration,
) {
    let mut sub = sh.store.subscribe();
    let mut shutdown = sh.shutdown.clone();
    let mut cursor = match start_rv {
        Some(rv) if !initial => rv,
        _ => {
            // No resourceVersion (or sendInitialEvents): synthetic ADDED for
            // everything that exists now, then changes after that.
            let (items, rv) = sh.store.snapshot(w.res, w.ns.as_deref());
            for s in items {
                if w.filter.matches(&s.meta) {
                    let obj = w.render(&s);
                    if !w.send("ADDED", obj).await {
                        return;
                    }
                }
            }
            if initial {
                let b = w.bookmark(rv, true);
                if !w.send("BOOKMARK", b).await {
                    return;
                }
            }
            rv
        }
    };
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    let mut bookmark_tick = tokio::time::interval(sh.timing.bookmark_interval);
    bookmark_tick.tick().await;
    // Faults can change while a watch is open, so expiry is re-read often.
    let mut fault_check = tokio::time::interval(std::time::Duration::from_millis(100));
    loop {
        let expiry = sh.faults.lock().spec.watch_expiry;
        if expiry.is_some_and(|e| started.elapsed() >= e) {
            w.send_gone(cursor, cursor).await;
            return;
        }
        match sh.store.changes_since(cursor) {
            Err(compacted) => {
                w.send_gone(cursor, compacted).await;
                return;
            }
            Ok(changes) => {
                for c in changes {
                    cursor = c.rv;
                    if !std::ptr::eq(c.resource, w.res) || !w.in_scope(&c.obj) {
                        continue;
                    }
                    let now_match = w.filter.matches(&c.obj.meta);
                    let was_match = c.prev.as_ref().is_some_and(|p| w.filter.matches(&p.meta));
                    let etype = match c.etype {
                        EventType::Added if now_match => "ADDED",
                        EventType::Deleted if was_match || now_match => "DELETED",
                        EventType::Modified if now_match && was_match => "MODIFIED",
                        EventType::Modified if now_match => "ADDED",
                        EventType::Modified if was_match => "DELETED",
                        _ => continue,
                    };
                    let obj = w.render(&c.obj);
                    if !w.send(etype, obj).await {
                        return;
                    }
                }
            }
        }
        tokio::select! {
            r = sub.changed() => if r.is_err() { return },
            _ = bookmark_tick.tick(), if bookmarks => {
                let b = w.bookmark(cursor, false);
                if !w.send("BOOKMARK", b).await { return; }
            }
            _ = tokio::time::sleep_until(deadline) => return,
            _ = fault_check.tick() => {}
            _ = shutdown.changed() => return,
            _ = w.tx.closed() => return,
        }
    }
}
