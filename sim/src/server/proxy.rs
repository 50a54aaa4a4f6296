//! The simulator's API faults in front of another API server: a plain-HTTP
//! proxy on 127.0.0.1 that forwards every request to a real cluster and
//! rolls the very same dice on the way, so that a scenario under faults
//! runs on both backends with one fault profile.
//!
//! It plays what the simulator plays at its front: latency, 5xx, 429 with
//! Retry-After, expired credentials and RBAC refusals (answered without
//! forwarding), 409 on writes (not forwarded either, as a stale write is
//! refused before it is applied), dropped connections (forwarded, so a
//! write may have been applied, and then cut off half-way), and watches
//! that end with 410 after `watch-expiry`. An expired continue token is
//! the real server's own: the page is held until its etcd compaction has
//! passed the token (see [`after_compaction`]).
//! Streams (watches, followed logs) are passed on as they come; upgraded
//! connections (`exec`, `attach`, port forwarding) are not proxied.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{self, Method, header};
use axum::response::Response;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use parking_lot::Mutex;

use super::{error_response, is_watch, parse_query, roll_faults, stale_write, truncate};
use crate::errors::ApiError;
use crate::faults::{Action, FaultSpec, FaultState};

/// A running fault proxy. Dropping it stops it.
pub struct FaultProxy {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    stop: tokio::sync::watch::Sender<bool>,
}

struct Shared {
    upstream: kube::Client,
    faults: Mutex<FaultState>,
    /// Every request received, as the simulator counts its own.
    requests: AtomicU64,
}

impl FaultProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`,
    /// whose credentials every forwarded request carries. No faults until
    /// [`FaultProxy::set_faults`].
    pub async fn start(upstream: kube::Client) -> std::io::Result<FaultProxy> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            faults: Mutex::new(FaultState::new(FaultSpec::default())),
            requests: AtomicU64::new(0),
        });
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
        });
        Ok(FaultProxy { addr, shared, stop })
    }

    /// The URL a kubeconfig's cluster points at to go through the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests the proxy has received (refused ones included).
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Replaces the faults, with fresh dice for the spec's seed.
    pub fn set_faults(&self, spec: FaultSpec) {
        *self.shared.faults.lock() = FaultState::new(spec);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn forward(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let action = match roll_faults(&shared.faults, &method, &uri).await {
        Ok(action) => action,
        Err(refusal) => return refusal,
    };
    if action == Action::Conflict {
        return stale_write(uri.path());
    }
    let query = parse_query(uri.query());
    let expire = method == Method::GET
        && query.get("continue").is_some_and(|c| !c.is_empty())
        && shared.faults.lock().take_continue_expiry();
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return error_response(&ApiError::bad_request("the request body could not be read"));
    };
    let sent = if expire {
        after_compaction(&shared.upstream, &parts, &body).await
    } else {
        send_upstream(&shared.upstream, &parts, &body).await
    };
    let resp = match sent {
        Ok(resp) => resp,
        Err(refusal) => return refusal,
    };
    let (mut parts, body) = resp.into_parts();
    parts.headers.remove(header::TRANSFER_ENCODING);
    let body = Body::new(body);
    let resp = if is_watch(&uri) {
        let rv = query.get("resourceVersion").cloned().unwrap_or_default();
        parts.headers.remove(header::CONTENT_LENGTH);
        Response::from_parts(parts, Body::from_stream(expiring(shared, body, rv)))
    } else {
        Response::from_parts(parts, body)
    };
    if action == Action::Drop {
        truncate(resp)
    } else {
        resp
    }
}

/// The request as the upstream client sends it: the same method, path,
/// query, headers and body, with the upstream's own credentials.
async fn send_upstream(
    upstream: &kube::Client,
    parts: &http::request::Parts,
    body: &Bytes,
) -> Result<http::Response<kube::client::Body>, Response> {
    let mut request = http::Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    for (name, value) in &parts.headers {
        // The upstream client sets its own host, credentials, length and
        // encoding (it decompresses what it asks to be compressed).
        if ![
            header::HOST,
            header::AUTHORIZATION,
            header::CONTENT_LENGTH,
            header::ACCEPT_ENCODING,
            header::CONNECTION,
        ]
        .contains(name)
        {
            request = request.header(name, value);
        }
    }
    let Ok(request) = request.body(kube::client::Body::from(body.to_vec())) else {
        return Err(error_response(&ApiError::bad_request(
            "the request could not be forwarded",
        )));
    };
    upstream.send(request).await.map_err(|e| {
        error_response(&ApiError::new(
            502,
            "ServiceUnavailable",
            format!("the fault proxy could not reach the API server: {e}"),
        ))
    })
}

/// How long a page is held for the real server's compaction: two of the
/// test bed's compaction intervals (30 s each), with room to spare.
const COMPACTION_WAIT: Duration = Duration::from_secs(100);

/// A page whose continue token is to expire, answered once the real API
/// server has compacted etcd past the token: the request is sent again
/// every second until the server itself answers 410 Expired, and that
/// answer, the server's own, is passed on. The real server compacts on
/// its own schedule (`--etcd-compaction-interval`), so the page is held
/// for up to two intervals, as if the server were slow to answer it.
async fn after_compaction(
    upstream: &kube::Client,
    parts: &http::request::Parts,
    body: &Bytes,
) -> Result<http::Response<kube::client::Body>, Response> {
    let deadline = tokio::time::Instant::now() + COMPACTION_WAIT;
    loop {
        let resp = send_upstream(upstream, parts, body).await?;
        if resp.status() == http::StatusCode::GONE {
            return Ok(resp);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(error_response(&ApiError::new(
                504,
                "Timeout",
                format!(
                    "the fault proxy waited {}s for the API server to compact etcd past a continue token, and it did not",
                    COMPACTION_WAIT.as_secs()
                ),
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A watch's events, ended with a 410 ERROR event once the faults' watch
/// expiry has passed, between two events, as the simulator ends its own.
/// The expiry is read again every 100 ms: faults change while watches run.
fn expiring(
    shared: Arc<Shared>,
    body: Body,
    rv: String,
) -> impl Stream<Item = Result<Bytes, axum::Error>> {
    struct Watch {
        shared: Arc<Shared>,
        events: axum::body::BodyDataStream,
        started: tokio::time::Instant,
        at_line_end: bool,
        ended: bool,
        rv: String,
    }
    let watch = Watch {
        shared,
        events: body.into_data_stream(),
        started: tokio::time::Instant::now(),
        at_line_end: true,
        ended: false,
        rv,
    };
    futures::stream::unfold(watch, |mut w| async move {
        if w.ended {
            return None;
        }
        loop {
            let expiry = w.shared.faults.lock().spec.watch_expiry;
            if w.at_line_end && expiry.is_some_and(|e| w.started.elapsed() >= e) {
                w.ended = true;
                let gone =
                    ApiError::gone(format!("too old resource version: {rv} ({rv})", rv = w.rv));
                let mut line = serde_json::to_vec(
                    &serde_json::json!({"type": "ERROR", "object": gone.status()}),
                )
                .expect("json");
                line.push(b'\n');
                return Some((Ok(Bytes::from(line)), w));
            }
            tokio::select! {
                next = w.events.next() => {
                    let chunk = next?;
                    if let Ok(bytes) = &chunk
                        && let Some(last) = bytes.last()
                    {
                        w.at_line_end = *last == b'\n';
                    }
                    return Some((chunk, w));
                }
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    })
}
