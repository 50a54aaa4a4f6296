//! Legacy discovery: /version, /api, /apis, /api/v1, /apis/<g>, /apis/<g>/<v>.
//! Answers are plain application/json, so clients asking for aggregated
//! discovery fall back to these documents.

use axum::response::Response;
use serde_json::{Value, json};

use super::value_response;
use crate::Shared;
use crate::errors::ApiError;
use crate::resources::{self, FULL_VERBS, RESOURCES};

pub(super) fn version(sh: &Shared) -> Response {
    let git = sh.version.read().clone();
    let mut it = git.trim_start_matches('v').split('.');
    let major = it.next().unwrap_or("1").to_string();
    let minor = it.next().unwrap_or("33").to_string();
    value_response(
        200,
        &json!({
            "major": major,
            "minor": minor,
            "gitVersion": git,
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2025-05-15T00:00:00Z",
            "goVersion": "go1.24.2",
            "compiler": "gc",
            "platform": "linux/amd64",
        }),
    )
}

pub(super) fn core_versions(sh: &Shared) -> Response {
    value_response(
        200,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": sh.addr.to_string()}],
        }),
    )
}

fn group_doc(g: &str) -> Value {
    let v = RESOURCES
        .iter()
        .find(|r| r.group == g)
        .map(|r| r.version)
        .unwrap_or("v1");
    let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
    json!({"name": g, "versions": [gv], "preferredVersion": gv})
}

pub(super) fn group_list() -> Response {
    let groups: Vec<Value> = resources::groups().into_iter().map(group_doc).collect();
    value_response(
        200,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

pub(super) fn group(g: &str) -> Response {
    if !resources::groups().contains(&g) {
        return super::error_response(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    let mut d = group_doc(g);
    d["kind"] = json!("APIGroup");
    d["apiVersion"] = json!("v1");
    value_response(200, &d)
}

pub(super) fn resource_list(g: &str, v: &str) -> Response {
    let mut list = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.group == g && r.version == v) {
        let mut e = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": FULL_VERBS,
        });
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        list.push(e);
        for s in r.subresources {
            let mut se = json!({
                "name": format!("{}/{}", r.plural, s.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": s.kind,
                "verbs": s.verbs,
            });
            if s.group != r.group || s.version != r.version {
                se["group"] = json!(s.group);
                se["version"] = json!(s.version);
            }
            list.push(se);
        }
    }
    if list.is_empty() {
        return super::error_response(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    let gv = if g.is_empty() {
        v.to_string()
    } else {
        format!("{g}/{v}")
    };
    value_response(
        200,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
    )
}

/// An empty OpenAPI v2 document (protobuf-encoded, which is zero bytes).
/// kubectl validates objects against it before create/apply; with no schema
/// for a kind it skips validation instead of failing to download OpenAPI.
pub(super) fn openapi_v2() -> Response {
    let mut r = Response::new(axum::body::Body::empty());
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
        ),
    );
    r
}
