//! The HTTP front: routing Kubernetes REST paths to handlers, fault
//! injection, and response helpers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;

use crate::Shared;
use crate::errors::ApiError;
use crate::faults::{Action, FaultState};
use crate::resources::{self, Resource};

mod authz;
mod crud;
mod discovery;
mod exec;
mod logs;
#[cfg(feature = "fault-proxy")]
pub(crate) mod proxy;
mod watch;

/// A parsed resource request.
pub(crate) struct Req {
    pub method: Method,
    pub res: &'static Resource,
    pub ns: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    pub(crate) fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }
    pub(crate) fn q_bool(&self, k: &str) -> bool {
        matches!(self.q(k), Some("1" | "true" | "True"))
    }
    pub(crate) fn accept(&self) -> &str {
        self.headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub(crate) fn wants_table(&self) -> bool {
        self.accept().contains("as=Table") && self.accept().contains("g=meta.k8s.io")
    }
    pub(crate) fn wants_partial(&self) -> bool {
        self.accept().contains("as=PartialObjectMetadata")
    }
    pub(crate) fn ns_str(&self) -> &str {
        self.ns.as_deref().unwrap_or("")
    }
}

pub(crate) async fn serve(shared: Arc<Shared>, listener: tokio::net::TcpListener) {
    let mut stop = shared.shutdown.clone();
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(shared.clone());
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
}

pub(crate) fn json_response(code: u16, body: impl Into<Bytes>) -> Response {
    let mut r = Response::new(Body::from(body.into()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub(crate) fn value_response(code: u16, v: &serde_json::Value) -> Response {
    json_response(code, serde_json::to_vec(v).expect("json"))
}

pub(crate) fn error_response(e: &ApiError) -> Response {
    let mut r = value_response(e.code, &e.status());
    if let Some(s) = e.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    r
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    q.map(|q| {
        form_urlencoded_pairs(q)
            .into_iter()
            .collect::<HashMap<_, _>>()
    })
    .unwrap_or_default()
}

/// Decode `a=b&c=d` with percent-escapes and `+` as space.
fn form_urlencoded_pairs(q: &str) -> Vec<(String, String)> {
    fn dec(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    match std::str::from_utf8(&b[i + 1..i + 3])
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                    {
                        Some(x) => {
                            out.push(x);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (dec(k), dec(v)),
            None => (dec(p), String::new()),
        })
        .collect()
}

/// Cut a response off half-way, as a dropped connection does.
fn truncate(resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let stream = futures::stream::once(async move {
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let half = bytes.len() / 2;
        Ok::<_, std::io::Error>(bytes.slice(..half))
    })
    .chain(futures::stream::once(async {
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected connection drop",
        ))
    }));
    let mut parts = parts;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Whether a request is a watch (`?watch=true` or the old `/watch/` prefix).
fn is_watch(uri: &Uri) -> bool {
    let query = parse_query(uri.query());
    matches!(query.get("watch").map(String::as_str), Some("1" | "true"))
        || uri.path().contains("/watch/")
}

/// Rolls the fault dice for one request, as the simulator and the fault
/// proxy both do: an injected latency is slept, and an injected refusal
/// (expired credentials, RBAC, 5xx, 429) is the answer. Otherwise the
/// request is served, with a conflict or a drop still to play.
pub(crate) async fn roll_faults(
    faults: &parking_lot::Mutex<FaultState>,
    method: &Method,
    uri: &Uri,
) -> Result<Action, Response> {
    let is_watch = is_watch(uri);
    // An eviction answers 409 when the server's own retries of a budget
    // conflict ran out: the `conflict` fault plays that too.
    let is_write = matches!(*method, Method::PUT | Method::PATCH)
        || (method == Method::POST && uri.path().ends_with("/eviction"));
    let (action, latency, refusal, retry_after) = {
        let mut f = faults.lock();
        let refusal = if f.spec.unauthorized {
            Some(authz::unauthorized())
        } else {
            authz::forbidden(&f.spec.forbid, method, uri.path(), is_watch)
        };
        let action = f.roll(is_write, is_watch);
        (action, f.spec.latency, refusal, f.spec.retry_after)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(e) = refusal {
        return Err(error_response(&e));
    }
    match action {
        Action::Error5xx(503) => Err(error_response(&ApiError::new(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request (injected fault)",
        ))),
        Action::Error5xx(_) => Err(error_response(&ApiError::internal(
            "an error on the server (\"injected fault\") has prevented the request from succeeding",
        ))),
        Action::Throttle => Err(error_response(&ApiError::too_many_requests(
            "the server has received too many requests and has asked us to try again later (injected fault)",
            retry_after,
        ))),
        other => Ok(other),
    }
}

async fn handle(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    sh.requests.fetch_add(1, Ordering::Relaxed);
    let method = req.method().clone();
    let uri = req.uri().clone();
    let headers = req.headers().clone();
    let query = parse_query(uri.query());
    let action = match roll_faults(&sh.faults, &method, &uri).await {
        Ok(action) => action,
        Err(refusal) => return refusal,
    };
    let (mut parts, body) = req.into_parts();
    if uri.path().ends_with("/exec") || uri.path().ends_with("/attach") {
        let segs: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
        if let ["api", "v1", "namespaces", ns, "pods", name, "exec"] = segs.as_slice() {
            let pairs = form_urlencoded_pairs(uri.query().unwrap_or(""));
            return match exec::exec(&sh, &mut parts, ns, name, &pairs).await {
                Ok(r) => r,
                Err(e) => error_response(&e),
            };
        }
    }
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let resp = route(&sh, method, uri.path(), query, headers, body, action).await;
    if action == Action::Drop {
        truncate(resp)
    } else {
        resp
    }
}

async fn route(
    sh: &Arc<Shared>,
    method: Method,
    path: &str,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
    action: Action,
) -> Response {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segs.as_slice() {
        ["version"] => return discovery::version(sh),
        ["healthz" | "livez" | "readyz", ..] => {
            return Response::new(Body::from("ok"));
        }
        // Benchmarks read how many API requests a command made.
        ["debug", "requests"] => {
            return Response::new(Body::from(sh.requests.load(Ordering::Relaxed).to_string()));
        }
        ["api"] => return discovery::core_versions(sh),
        ["openapi", "v2"] => return discovery::openapi_v2(),
        ["apis"] => return discovery::group_list(),
        ["api", "v1"] => return discovery::resource_list("", "v1"),
        ["apis", g] => return discovery::group(g),
        ["apis", g, v] => return discovery::resource_list(g, v),
        _ => {}
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => {
            return error_response(&ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ));
        }
    };
    // "watch/" path prefix (deprecated but still served).
    let (rest, query) = match rest {
        ["watch", r @ ..] => {
            let mut q = query;
            q.insert("watch".into(), "true".into());
            (r, q)
        }
        r => (r, query),
    };
    let parsed = parse_resource_path(group, version, rest);
    let Some((res, ns, name, sub)) = parsed else {
        return error_response(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    };
    if action == Action::Conflict {
        return error_response(&ApiError::stale(res.group, res.plural, name.unwrap_or("")));
    }
    if !res.namespaced && ns.is_some() {
        return error_response(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    let req = Req {
        method,
        res,
        ns: ns.map(String::from),
        name: name.map(String::from),
        sub: sub.map(String::from),
        query,
        headers,
        body,
    };
    match crud::dispatch(sh, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

/// The 409 an injected `conflict` answers a write to `path` with, worded
/// as a real server words a stale write (used by the fault proxy, which
/// has no route of its own).
#[cfg(feature = "fault-proxy")]
pub(crate) fn stale_write(path: &str) -> Response {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let parsed = match segs.as_slice() {
        ["api", "v1", rest @ ..] => parse_resource_path("", "v1", rest),
        ["apis", g, v, rest @ ..] => parse_resource_path(g, v, rest),
        _ => None,
    };
    let (group, plural, name) = match parsed {
        Some((res, _, name, _)) => (res.group, res.plural, name.unwrap_or("")),
        None => (
            "",
            segs.get(segs.len().saturating_sub(2))
                .copied()
                .unwrap_or(""),
            "",
        ),
    };
    error_response(&ApiError::stale(group, plural, name))
}

type Parsed<'a> = (
    &'static Resource,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

fn parse_resource_path<'a>(group: &str, version: &str, rest: &[&'a str]) -> Option<Parsed<'a>> {
    let find = |p: &str| resources::by_plural(group, version, p);
    match rest {
        ["namespaces", ns, plural, tail @ ..] if find(plural).is_some_and(|r| r.namespaced) => {
            let r = find(plural)?;
            match tail {
                [] => Some((r, Some(ns), None, None)),
                [name] => Some((r, Some(ns), Some(name), None)),
                [name, sub] => Some((r, Some(ns), Some(name), Some(sub))),
                _ => None,
            }
        }
        [plural] => Some((find(plural)?, None, None, None)),
        [plural, name] => Some((find(plural)?, None, Some(name), None)),
        [plural, name, sub] => Some((find(plural)?, None, Some(name), Some(sub))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = form_urlencoded_pairs("labelSelector=app%3Dweb%2Ctier+in+%28a%29&limit=500&x");
        assert_eq!(q[0], ("labelSelector".into(), "app=web,tier in (a)".into()));
        assert_eq!(q[1].1, "500");
        assert_eq!(q[2], ("x".into(), String::new()));
    }

    #[test]
    fn paths() {
        let (r, ns, name, sub) =
            parse_resource_path("", "v1", &["namespaces", "a", "pods", "p", "eviction"]).unwrap();
        assert_eq!(
            (r.plural, ns, name, sub),
            ("pods", Some("a"), Some("p"), Some("eviction"))
        );
        let (r, ns, name, _) = parse_resource_path("", "v1", &["namespaces", "a"]).unwrap();
        assert_eq!((r.plural, ns, name), ("namespaces", None, Some("a")));
        let (r, _, name, sub) =
            parse_resource_path("", "v1", &["namespaces", "a", "status"]).unwrap();
        assert_eq!(
            (r.plural, name, sub),
            ("namespaces", Some("a"), Some("status"))
        );
        assert!(parse_resource_path("", "v1", &["widgets"]).is_none());
    }
}
