//! get, list, create, update, patch, delete (and their subresources).

use std::sync::Arc;

use axum::http::Method;
use axum::response::Response;
use base64::Engine;
use bytes::{BufMut, BytesMut};
use serde_json::{Value, json};

use super::{Req, json_response, value_response};
use crate::Shared;
use crate::errors::ApiError;
use crate::patch::{self, PatchType};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{self, DeleteOptions, ListPage, Meta, Stored, UpdateMode, res};
use crate::table::{self, IncludeObject};
use crate::util::{self, str_at};

pub(super) async fn dispatch(sh: &Arc<Shared>, req: Req) -> Result<Response, ApiError> {
    let sub = req.sub.clone();
    match (&req.method, req.name.is_some(), sub.as_deref()) {
        (&Method::GET, false, None) if req.q_bool("watch") => super::watch::watch(sh, req).await,
        (&Method::GET, true, None) if req.q_bool("watch") => {
            // Watching one object is a watch with a name field selector.
            let mut req = req;
            let name = req.name.take().unwrap_or_default();
            req.query
                .insert("fieldSelector".into(), format!("metadata.name={name}"));
            super::watch::watch(sh, req).await
        }
        (&Method::GET, false, None) => list(sh, &req),
        (&Method::GET, true, None) => get(sh, &req),
        (&Method::POST, false, None) => create(sh, &req),
        (&Method::PUT, true, None) => update(sh, &req, UpdateMode::Main),
        (&Method::PATCH, true, None) => patch_obj(sh, &req, UpdateMode::Main),
        (&Method::DELETE, true, None) => delete(sh, &req),
        (&Method::DELETE, false, None) => delete_collection(sh, &req),
        (&Method::GET, true, Some("status")) => get(sh, &req),
        (&Method::PUT, true, Some("status")) => update(sh, &req, UpdateMode::Status),
        (&Method::PATCH, true, Some("status")) => patch_obj(sh, &req, UpdateMode::Status),
        (&Method::GET, true, Some("scale")) => get_scale(sh, &req),
        (&Method::PUT | &Method::PATCH, true, Some("scale")) => write_scale(sh, &req),
        (&Method::POST, true, Some("eviction")) if req.res.plural == "pods" => {
            crate::eviction::evict(sh, &req)
        }
        (&Method::GET, true, Some("log")) if req.res.plural == "pods" => {
            super::logs::logs(sh, &req)
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn not_found(req: &Req) -> ApiError {
    ApiError::not_found(
        req.res.group,
        req.res.plural,
        req.name.as_deref().unwrap_or(""),
    )
}

fn load(sh: &Shared, req: &Req) -> Result<Arc<Stored>, ApiError> {
    sh.store
        .get(req.res, req.ns_str(), req.name.as_deref().unwrap_or(""))
        .ok_or_else(|| not_found(req))
}

fn include_object(req: &Req) -> IncludeObject {
    match req.q("includeObject") {
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        _ => IncludeObject::Metadata,
    }
}

/// One object, as JSON or as a one-row Table.
pub(super) fn object_response(req: &Req, s: &Stored, code: u16) -> Response {
    if req.wants_table() {
        let v = s.value();
        let row = table::row(req.res, &v, util::now(), include_object(req));
        let t = table::table(req.res, vec![row], s.meta.rv, None);
        return value_response(code, &t);
    }
    if req.wants_partial() {
        return value_response(code, &table::partial_metadata(&s.value()));
    }
    json_response(code, s.json.clone())
}

fn get(sh: &Shared, req: &Req) -> Result<Response, ApiError> {
    let s = load(sh, req)?;
    Ok(object_response(req, &s, 200))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    start: String,
}

/// The token's resourceVersion and the key the next page starts after.
fn decode_continue(tok: &str) -> Result<(u64, String), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(tok)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(tok))
        .map_err(|_| bad())?;
    let t: ContinueToken = serde_json::from_slice(&raw).map_err(|_| bad())?;
    Ok((t.rv, t.start))
}

fn encode_continue(rv: u64, start: &str) -> String {
    let t = ContinueToken {
        rv,
        start: start.to_string(),
    };
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&t).expect("json"))
}

/// The filter a list or watch applies, from labelSelector/fieldSelector.
pub(super) struct Filter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub(super) fn from_req(req: &Req) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(req.q("labelSelector").unwrap_or(""))
            .map_err(ApiError::bad_request)?;
        let fields = FieldSelector::parse(req.q("fieldSelector").unwrap_or(""))
            .map_err(ApiError::bad_request)?;
        fields
            .validate(store::supported_fields(req.res))
            .map_err(ApiError::bad_request)?;
        Ok(Self { labels, fields })
    }
    pub(super) fn matches(&self, m: &Meta) -> bool {
        self.labels.matches_pairs(&m.labels) && self.fields.matches(&m.fields)
    }
}

fn list(sh: &Shared, req: &Req) -> Result<Response, ApiError> {
    let filter = Filter::from_req(req)?;
    let limit: usize = req.q("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
    let after = match req.q("continue") {
        Some(c) if !c.is_empty() => {
            let (rv, start) = decode_continue(c)?;
            // An injected expiry compacts the history past the token even
            // when nothing was written since it was issued.
            let injected = sh.faults.lock().take_continue_expiry();
            if injected {
                sh.store.compact();
            }
            if injected || rv < sh.store.compacted() {
                let rest = encode_continue(sh.store.current_rv(), &start);
                return Err(ApiError::expired_continue(rest));
            }
            Some(start)
        }
        _ => None,
    };
    let page = sh
        .store
        .list(req.res, req.ns.as_deref(), after.as_deref(), limit, |m| {
            filter.matches(m)
        });
    let cont = page.next.as_ref().map(|k| encode_continue(page.rv, k));
    if req.wants_table() {
        return Ok(json_response(200, table_page(req, &page, cont)));
    }
    let mut meta = json!({"resourceVersion": page.rv.to_string()});
    if let Some(c) = &cont {
        meta["continue"] = json!(c);
    }
    let (kind, api_version) = if req.wants_partial() {
        (
            "PartialObjectMetadataList".to_string(),
            "meta.k8s.io/v1".to_string(),
        )
    } else {
        (req.res.list_kind(), req.res.api_version())
    };
    // Build the list by concatenating the stored bytes: no re-serialization.
    let mut buf =
        BytesMut::with_capacity(page.items.iter().map(|s| s.json.len() + 1).sum::<usize>() + 256);
    buf.put_slice(
        format!(
            "{{\"kind\":{},\"apiVersion\":{},\"metadata\":{},\"items\":[",
            json!(kind),
            json!(api_version),
            meta
        )
        .as_bytes(),
    );
    for (i, s) in page.items.iter().enumerate() {
        if i > 0 {
            buf.put_u8(b',');
        }
        if req.wants_partial() {
            buf.put_slice(&serde_json::to_vec(&table::partial_metadata(&s.value())).expect("json"));
        } else {
            buf.put_slice(&s.json);
        }
    }
    buf.put_slice(b"]}");
    Ok(json_response(200, buf.freeze()))
}

/// A page as a Table. Each row is kept with its stored object; rows not
/// read yet are read first (parsing the object, about 25 µs for a pod), a
/// large batch of them shared out over the cores, as a real API server
/// converts a list's objects in parallel with serving others.
fn table_page(req: &Req, page: &ListPage, cont: Option<String>) -> Vec<u8> {
    let res = req.res;
    let unread: Vec<&Arc<Stored>> = page.items.iter().filter(|s| !s.has_row()).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if unread.len() >= 64 && cores >= 2 {
        let chunk = unread.len().div_ceil(cores);
        std::thread::scope(|scope| {
            for part in unread.chunks(chunk) {
                scope.spawn(move || {
                    for s in part {
                        let _ = s.row(res);
                    }
                });
            }
        });
    }
    let rows = page.items.iter().map(|s| (&s.json[..], s.row(res)));
    table::table_bytes(res, rows, (page.rv, cont), util::now(), include_object(req))
}

fn parse_body(req: &Req) -> Result<Value, ApiError> {
    let ct = req
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.contains("protobuf") || ct.contains("cbor") {
        // Only JSON bodies are understood. client-go falls back to JSON
        // after a 415 for CBOR only: a protobuf body (kubectl's generator
        // subcommands) stays refused, a known limitation (README), with
        // the way round it in the message.
        return Err(ApiError::undecodable_body(ct));
    }
    if ct.starts_with("application/apply-patch+yaml")
        && let Ok(text) = std::str::from_utf8(&req.body)
        && serde_json::from_str::<Value>(text).is_err()
    {
        return serde_saphyr::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")));
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
    })
}

fn dry_run(req: &Req) -> bool {
    req.q("dryRun").is_some_and(|d| d == "All")
}

fn check_body_identity(req: &Req, v: &Value) -> Result<(), ApiError> {
    let body_ns = str_at(v, &["metadata", "namespace"]);
    if req.res.namespaced && !body_ns.is_empty() && body_ns != req.ns_str() {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if let Some(name) = &req.name {
        let body_name = str_at(v, &["metadata", "name"]);
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
    }
    let kind = str_at(v, &["kind"]);
    if !kind.is_empty() && kind != req.res.kind && req.sub.is_none() {
        return Err(ApiError::bad_request(format!(
            "the kind of the object ({kind}) does not match the resource ({})",
            req.res.kind
        )));
    }
    Ok(())
}

fn create(sh: &Shared, req: &Req) -> Result<Response, ApiError> {
    let mut v = parse_body(req)?;
    check_body_identity(req, &v)?;
    crate::validate::check(req.res, &v)?;
    if req.res.namespaced {
        let ns = req.ns.clone().ok_or_else(ApiError::method_not_allowed)?;
        if sh.store.get(res("namespaces"), "", &ns).is_none() {
            return Err(ApiError::not_found("", "namespaces", &ns));
        }
        v["metadata"]["namespace"] = json!(ns);
    }
    if dry_run(req) {
        return Ok(value_response(201, &v));
    }
    crate::controllers::defaults::apply(req.res, &mut v);
    crate::controllers::defaults::on_write(req.res, &mut v);
    let s = sh.store.create(req.res, v)?;
    Ok(object_response(req, &s, 201))
}

fn update(sh: &Shared, req: &Req, mode: UpdateMode) -> Result<Response, ApiError> {
    let mut v = parse_body(req)?;
    check_body_identity(req, &v)?;
    crate::validate::check(req.res, &v)?;
    if req.res.namespaced {
        v["metadata"]["namespace"] = json!(req.ns_str());
    }
    v["metadata"]["name"] = json!(req.name.as_deref().unwrap_or(""));
    if dry_run(req) {
        load(sh, req)?;
        return Ok(value_response(200, &v));
    }
    crate::controllers::defaults::on_write(req.res, &mut v);
    let s = sh.store.update(req.res, v, mode, true)?;
    Ok(object_response(req, &s, 200))
}

fn patch_obj(sh: &Shared, req: &Req, mode: UpdateMode) -> Result<Response, ApiError> {
    let ct = req
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let pt = PatchType::from_content_type(ct).ok_or_else(|| ApiError::unsupported_media(ct))?;
    let p = parse_body(req)?;
    if matches!(pt, PatchType::Apply) && mode == UpdateMode::Main && load(sh, req).is_err() {
        // Server-side apply creates what does not exist yet.
        let mut v = p;
        check_body_identity(req, &v)?;
        crate::validate::check(req.res, &v)?;
        if req.res.namespaced {
            v["metadata"]["namespace"] = json!(req.ns_str());
        }
        v["metadata"]["name"] = json!(req.name.as_deref().unwrap_or(""));
        if dry_run(req) {
            return Ok(value_response(201, &v));
        }
        crate::controllers::defaults::apply(req.res, &mut v);
        crate::controllers::defaults::on_write(req.res, &mut v);
        let s = sh.store.create(req.res, v)?;
        return Ok(object_response(req, &s, 201));
    }
    let cur = load(sh, req)?;
    let curv = cur.value();
    let mut newv = patch::apply(pt, &curv, &p).map_err(|e| {
        ApiError::new(
            422,
            "Invalid",
            format!("the patch could not be applied: {e}"),
        )
    })?;
    crate::validate::check(req.res, &newv)?;
    // Patches are not conditional unless they carry a resourceVersion.
    let check = !str_at(&p, &["metadata", "resourceVersion"]).is_empty();
    if !check {
        newv["metadata"]["resourceVersion"] = curv["metadata"]["resourceVersion"].clone();
    }
    if dry_run(req) {
        return Ok(value_response(200, &newv));
    }
    crate::controllers::defaults::on_write(req.res, &mut newv);
    let s = sh.store.update(req.res, newv, mode, check)?;
    Ok(object_response(req, &s, 200))
}

/// DeleteOptions come as query parameters or a JSON body; kubectl sends a
/// protobuf body on DELETE, which is ignored (it carries nothing we need
/// that the query does not).
fn delete_options(req: &Req) -> DeleteOptions {
    let mut o = DeleteOptions {
        grace_period: req.q("gracePeriodSeconds").and_then(|g| g.parse().ok()),
        ..Default::default()
    };
    if let Ok(b) = serde_json::from_slice::<Value>(&req.body) {
        if let Some(g) = b["gracePeriodSeconds"].as_i64() {
            o.grace_period = Some(g);
        }
        let pre = &b["preconditions"];
        if let Some(u) = pre["uid"].as_str() {
            o.uid = Some(u.to_string());
        }
        if let Some(r) = pre["resourceVersion"].as_str() {
            o.resource_version = Some(r.to_string());
        }
    }
    o
}

fn delete(sh: &Shared, req: &Req) -> Result<Response, ApiError> {
    let opts = delete_options(req);
    if dry_run(req) {
        let s = load(sh, req)?;
        return Ok(json_response(200, s.json.clone()));
    }
    let d = sh.store.delete(
        req.res,
        req.ns_str(),
        req.name.as_deref().unwrap_or(""),
        &opts,
    )?;
    if d.removed && req.res.plural != "pods" {
        let st = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": d.obj.meta.name, "group": req.res.group, "kind": req.res.plural, "uid": d.obj.meta.uid}
        });
        return Ok(value_response(200, &st));
    }
    Ok(json_response(200, d.obj.json.clone()))
}

fn delete_collection(sh: &Shared, req: &Req) -> Result<Response, ApiError> {
    let filter = Filter::from_req(req)?;
    let opts = delete_options(req);
    let items = sh
        .store
        .scan(req.res, req.ns.as_deref(), |m| filter.matches(m));
    let mut out = Vec::new();
    for s in items {
        if let Ok(d) = sh
            .store
            .delete(req.res, &s.meta.namespace, &s.meta.name, &opts)
        {
            out.push(d.obj.value());
        }
    }
    Ok(value_response(
        200,
        &json!({"kind": req.res.list_kind(), "apiVersion": req.res.api_version(), "metadata": {}, "items": out}),
    ))
}

fn scale_of(req: &Req, v: &Value) -> Value {
    let sel = &v["spec"]["selector"];
    let selector = LabelSelectorString::from(sel);
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": v["metadata"]["name"], "namespace": v["metadata"]["namespace"],
            "uid": v["metadata"]["uid"], "resourceVersion": v["metadata"]["resourceVersion"],
            "creationTimestamp": v["metadata"]["creationTimestamp"],
        },
        "spec": {"replicas": v["spec"]["replicas"].as_i64().unwrap_or(if req.res.plural == "deployments" { 1 } else { 0 })},
        "status": {"replicas": v["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector.0},
    })
}

struct LabelSelectorString(String);

impl From<&Value> for LabelSelectorString {
    fn from(sel: &Value) -> Self {
        let mut parts: Vec<String> = Vec::new();
        if let Some(m) = sel["matchLabels"].as_object() {
            for (k, v) in m {
                parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
            }
        }
        Self(parts.join(","))
    }
}

fn get_scale(sh: &Shared, req: &Req) -> Result<Response, ApiError> {
    let s = load(sh, req)?;
    Ok(value_response(200, &scale_of(req, &s.value())))
}

fn write_scale(sh: &Shared, req: &Req) -> Result<Response, ApiError> {
    let cur = load(sh, req)?;
    let mut v = cur.value();
    let scale = scale_of(req, &v);
    let body = parse_body(req)?;
    let new_scale = if req.method == Method::PATCH {
        let ct = req
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let pt = PatchType::from_content_type(ct).ok_or_else(|| ApiError::unsupported_media(ct))?;
        patch::apply(pt, &scale, &body).map_err(|e| ApiError::new(422, "Invalid", e))?
    } else {
        let rv = str_at(&body, &["metadata", "resourceVersion"]);
        if !rv.is_empty() && rv != cur.meta.rv.to_string() {
            return Err(ApiError::stale(
                req.res.group,
                req.res.plural,
                &cur.meta.name,
            ));
        }
        body
    };
    let replicas = new_scale["spec"]["replicas"].as_i64().unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            "Scale",
            &cur.meta.name,
            "spec.replicas",
            "must be greater than or equal to 0",
        ));
    }
    v["spec"]["replicas"] = json!(replicas);
    let s = sh.store.update(req.res, v, UpdateMode::Main, false)?;
    Ok(value_response(200, &scale_of(req, &s.value())))
}
