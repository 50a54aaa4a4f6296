//! The one retry policy for every API call, whichever domain makes it.
//!
//! Two halves share it. The client's [`Layer`] retries each HTTP request
//! the API server failed for no reason of ours (5xx, 429 with its
//! Retry-After, a dropped connection or a body cut short), but only when
//! sending it again is safe: reads always; `PATCH` (it sets values, and a
//! 409 is re-applied to the fresh object by the server); `PUT` (it carries
//! the resourceVersion it was read at, so a repeat cannot overwrite a newer
//! write); a `DELETE` only with a UID precondition; a `POST` only when the
//! server says it did not act (429, 503). [`retry`] covers what a request
//! cannot see on its own: a watch stream cut mid-way, and a write its
//! caller must re-read before trying again.
//!
//! Both are bounded (a few attempts, backoff capped at seconds), stop at
//! Ctrl-C, and never retry a request that used up `--request-timeout`:
//! the user said how long an answer may take.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full};
use kube::client::Body;
use tower::{BoxError, Service, ServiceExt};

use crate::safety::interrupt;

/// Attempts of one HTTP request, the first included.
const REQUEST_ATTEMPTS: u32 = 6;
/// Attempts of a caller's operation ([`retry`]), for what the layer could
/// not repeat on its own (a cut watch, a create or delete sent again after
/// a fresh read); a request the layer gave up on is not sent again.
const CALL_ATTEMPTS: u32 = 4;
/// Requests the layer sent [`REQUEST_ATTEMPTS`] times and gave up on. A
/// caller's [`retry`] does not send such a request again: a server that
/// failed it six times over several seconds is down, and more attempts
/// would only multiply the wait before the user is told. It is one count
/// for the process, so a give-up elsewhere during a call also ends that
/// call's retries; with a server that fails now and then, a give-up is far
/// too rare for that to matter, and with one that is down it is right.
static GAVE_UP: AtomicU64 = AtomicU64::new(0);

fn give_up() {
    GAVE_UP.fetch_add(1, Ordering::Relaxed);
}

/// The longest Retry-After honoured: a server asking for minutes is down,
/// and saying so beats a silent wait.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// The wait before retry `n` (0-based): 100 ms doubling, capped at 2 s.
pub fn backoff(n: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << n.min(5))).min(Duration::from_secs(2))
}

/// Whether `err` is worth trying again: the server or the network hiccuped.
/// A disruption budget's refusal is an answer, not a hiccup, and a request
/// that ran out of `--request-timeout` is not tried again.
pub fn is_transient(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) if is_pdb_refusal(status) || is_kubelet_unreachable(status) => {
            false
        }
        kube::Error::Api(status) => status.code >= 500 || status.code == 429,
        kube::Error::HyperError(_) | kube::Error::Service(_) if timed_out(err) => false,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        // A connection cut mid-body surfaces as JSON that ends early; any
        // other decode failure will fail the same way again.
        kube::Error::SerdeError(e) => e.is_eof(),
        _ => false,
    }
}

/// A 409 Conflict: the object changed between a read and a write (or,
/// for a create, it already exists).
pub fn is_conflict(err: &kube::Error) -> bool {
    super::status_of(err).is_some_and(|s| s.code == 409)
}

/// Whether a 500 is the API server failing to reach a node's kubelet for a
/// pod's log (`Get "https://10.0.0.7:10250/containerLogs/…": dial tcp …`):
/// the kubelet is down or its port closed to the control plane, which asking
/// the API server again does not change (kubectl says it once too).
pub fn is_kubelet_unreachable(status: &kube::core::Status) -> bool {
    status.code == 500 && names_kubelet_endpoint(status.message.as_bytes())
}

/// Whether an answer names a kubelet's log endpoint (the API server quotes
/// the request it could not make to the node).
fn names_kubelet_endpoint(text: &[u8]) -> bool {
    const ENDPOINT: &[u8] = b"/containerLogs/";
    text.windows(ENDPOINT.len()).any(|w| w == ENDPOINT)
}

/// Whether a 429 is the eviction API refusing because of a disruption budget
/// (as opposed to the server asking us to slow down).
pub fn is_pdb_refusal(status: &kube::core::Status) -> bool {
    status.code == 429
        && (status.message.contains("disruption budget")
            || status
                .details
                .as_ref()
                .is_some_and(|d| d.causes.iter().any(|c| c.reason == "DisruptionBudget")))
}

/// Whether the error, or anything under it, is a timeout: no headers, or
/// no more of the body, within `--request-timeout`.
pub(super) fn timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(c) = cause {
        if c.is::<tower::timeout::error::Elapsed>()
            || c.is::<super::body_timeout::TimeoutError>()
            || c.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Waits `wait`, or less if the user stops the command. Returns whether
/// to go on.
async fn pause(wait: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => !interrupt::is_interrupted(),
        _ = interrupt::interrupted() => false,
    }
}

/// Runs `call` until it succeeds, fails for a reason that is not transient,
/// has failed a few times, or the user stops the command. For a write,
/// `call` must read afresh what it writes, so that a repeat is safe.
pub async fn retry<T, F, Fut>(mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut attempt = 0;
    loop {
        let gave_up = GAVE_UP.load(Ordering::Relaxed);
        match call().await {
            Err(e)
                if is_transient(&e)
                    && GAVE_UP.load(Ordering::Relaxed) == gave_up
                    && attempt + 1 < CALL_ATTEMPTS
                    && pause(backoff(attempt)).await =>
            {
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// How safe a request is to send again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// Reads, and writes that end in the same state however often they
    /// are sent.
    Safe,
    /// A `PATCH` without a resourceVersion: safe, and a 409 means the
    /// server's own read went stale.
    Patch,
    /// Only when the server says it did not act.
    IfNotActed,
}

fn repeat_of(method: &Method, body: &Bytes) -> Repeat {
    match *method {
        Method::GET | Method::HEAD | Method::PUT => Repeat::Safe,
        // A patch carrying a resourceVersion asks to fail if the object
        // changed: its 409 is an answer for the caller.
        Method::PATCH if has_resource_version(body) => Repeat::Safe,
        Method::PATCH => Repeat::Patch,
        // A UID precondition makes a repeat fail rather than delete a
        // new object that took the old one's name.
        Method::DELETE if has_uid_precondition(body) => Repeat::Safe,
        // A create may have been made, an eviction may have been granted.
        _ => Repeat::IfNotActed,
    }
}

fn has_resource_version(body: &Bytes) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| v["metadata"]["resourceVersion"].is_string())
}

fn has_uid_precondition(body: &Bytes) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| v["preconditions"]["uid"].is_string())
}

/// Whether an answer with `status` should be asked again, and after how long.
fn retry_status(
    status: StatusCode,
    repeat: Repeat,
    path: &str,
    retry_after: Option<Duration>,
    attempt: u32,
) -> Option<Duration> {
    let wait = || Some(retry_after.unwrap_or(backoff(attempt)).min(MAX_RETRY_AFTER));
    match status.as_u16() {
        // A budget's refusal is an answer the drain handles.
        429 if path.ends_with("/eviction") => None,
        429 | 503 => wait(),
        409 if repeat == Repeat::Patch => Some(backoff(attempt)),
        500..=599 if repeat != Repeat::IfNotActed => wait(),
        _ => None,
    }
}

/// Streams that stay open (watches, followed logs, exec): their body is
/// passed on as it comes, not read whole first.
pub(super) fn is_stream<B>(req: &Request<B>) -> bool {
    let query = req.uri().query().unwrap_or_default();
    query
        .split('&')
        .any(|kv| matches!(kv, "watch=true" | "watch=1" | "follow=true"))
        || req.uri().path().contains("/watch/")
        || req.headers().contains_key(http::header::UPGRADE)
}

fn retry_after<B>(resp: &Response<B>) -> Option<Duration> {
    resp.headers()
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The client's retrying layer (see the module's documentation).
#[derive(Clone, Copy)]
pub struct Layer;

impl<S> tower::Layer<S> for Layer {
    type Service = Retrying<S>;

    fn layer(&self, inner: S) -> Retrying<S> {
        Retrying { inner }
    }
}

#[derive(Clone)]
pub struct Retrying<S> {
    inner: S,
}

type Answer<B> = Response<Either<B, Full<Bytes>>>;

impl<S, B> Service<Request<Body>> for Retrying<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Answer<B>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Answer<B>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The ready service takes this request; a clone sends the repeats.
        let clone = self.inner.clone();
        let first = std::mem::replace(&mut self.inner, clone);
        Box::pin(send(first, req))
    }
}

/// Sends one request, and again while the policy allows. It asks of the
/// service only what it uses; whether the future may cross threads is the
/// layer's bound, checked where it is boxed.
async fn send<S, B>(mut inner: S, req: Request<Body>) -> Result<Answer<B>, BoxError>
where
    S: Service<Request<Body>, Response = Response<B>, Error: Into<BoxError>> + Clone,
    B: http_body::Body<Data = Bytes, Error: Into<BoxError>>,
{
    let stream = is_stream(&req);
    let (parts, body) = req.into_parts();
    let body = body.collect_bytes().await?;
    let path = parts.uri.path().to_string();
    let repeat = repeat_of(&parts.method, &body);
    let name = parts.extensions.get::<&'static str>().copied();
    let build = || {
        let mut req = Request::builder()
            .method(parts.method.clone())
            .uri(parts.uri.clone())
            .version(parts.version)
            .body(Body::from(body.clone()))
            .expect("the parts of a request that was already built");
        *req.headers_mut() = parts.headers.clone();
        if let Some(name) = name {
            req.extensions_mut().insert(name);
        }
        req
    };
    let mut attempt = 0;
    loop {
        let last = attempt + 1 >= REQUEST_ATTEMPTS;
        let sent = if attempt == 0 {
            inner.call(build()).await.map_err(Into::into)
        } else {
            inner.clone().oneshot(build()).await.map_err(Into::into)
        };
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => {
                if !again_after(&e, repeat, attempt, last).await {
                    return Err(e);
                }
                attempt += 1;
                continue;
            }
        };
        let status = resp.status();
        let wait = retry_status(status, repeat, &path, retry_after(&resp), attempt);
        if stream && status.is_success() {
            return Ok(resp.map(Either::Left));
        }
        let (head, body) = resp.into_parts();
        let collected: Result<_, BoxError> = body.collect().await.map_err(Into::into);
        match collected {
            Ok(full) => {
                let full = full.to_bytes();
                // The API server could not reach a node's kubelet: asking
                // the API server again does not bring the kubelet back.
                let wait = wait.filter(|_| !(status == 500 && names_kubelet_endpoint(&full)));
                let answer = Response::from_parts(head, Either::Right(Full::new(full)));
                match wait {
                    Some(wait) if !last && pause(wait).await => attempt += 1,
                    _ => {
                        if last && wait.is_some() {
                            give_up();
                        }
                        return Ok(answer);
                    }
                }
            }
            // The connection dropped half-way through the answer; a body
            // that stalled used up the time the user allowed.
            Err(e) => {
                if !again_after(&e, repeat, attempt, last).await {
                    return Err(e);
                }
                attempt += 1;
            }
        }
    }
}

/// Whether to send a request again after it got no answer, or one cut
/// short, and waits first. A request never answered may have been acted
/// on, and one that used up `--request-timeout` is not tried again.
async fn again_after(e: &BoxError, repeat: Repeat, attempt: u32, last: bool) -> bool {
    let repeatable = repeat != Repeat::IfNotActed && !timed_out(&**e);
    if last && repeatable {
        give_up();
    }
    !last && repeatable && pause(backoff(attempt)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, message: &str) -> kube::core::Status {
        kube::core::Status::failure(message, "").with_code(code)
    }

    #[test]
    fn pdb_refusals_are_not_transient_but_throttling_is() {
        let pdb = status(
            429,
            "Cannot evict pod as it would violate the pod's disruption budget.",
        );
        assert!(is_pdb_refusal(&pdb));
        assert!(!is_transient(&kube::Error::Api(pdb.boxed())));
        let slow_down = status(429, "too many requests");
        assert!(is_transient(&kube::Error::Api(slow_down.boxed())));
        assert!(is_transient(&kube::Error::Api(status(500, "boom").boxed())));
        assert!(!is_transient(&kube::Error::Api(
            status(404, "gone").boxed()
        )));
        let kubelet = status(
            500,
            r#"Get "https://10.0.0.7:10250/containerLogs/shop/web-1/web": dial tcp 10.0.0.7:10250: connect: connection refused"#,
        );
        assert!(!is_transient(&kube::Error::Api(kubelet.boxed())));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(10), Duration::from_secs(2));
    }

    #[test]
    fn only_writes_safe_to_repeat_are_repeated_after_a_500() {
        let none = Bytes::new();
        let with_uid = Bytes::from_static(br#"{"preconditions":{"uid":"u1"}}"#);
        let repeat = |m: Method, body: &Bytes| repeat_of(&m, body);
        let s500 = StatusCode::INTERNAL_SERVER_ERROR;
        let after = |r| retry_status(s500, r, "/api/v1/x", None, 0);
        assert!(after(repeat(Method::GET, &none)).is_some());
        assert!(after(repeat(Method::PATCH, &none)).is_some());
        assert!(after(repeat(Method::DELETE, &with_uid)).is_some());
        assert!(after(repeat(Method::DELETE, &none)).is_none());
        assert!(after(repeat(Method::POST, &none)).is_none());
        // The server did not act on a 429 or a 503: anything may be resent,
        // and its Retry-After is honoured up to a cap.
        let s429 = StatusCode::TOO_MANY_REQUESTS;
        let post = repeat(Method::POST, &none);
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(retry_status(s429, post, "/x", secs(1), 0), secs(1));
        assert_eq!(
            retry_status(s429, post, "/x", secs(600), 0),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(retry_status(s429, post, "/a/eviction", secs(1), 0), None);
        // Only a patch is re-applied after a conflict.
        let s409 = StatusCode::CONFLICT;
        assert!(retry_status(s409, Repeat::Patch, "/x", None, 0).is_some());
        let guarded = Bytes::from_static(br#"{"metadata":{"resourceVersion":"7"}}"#);
        assert_eq!(repeat(Method::PATCH, &guarded), Repeat::Safe);
        assert!(retry_status(s409, Repeat::Safe, "/x", None, 0).is_none());
    }
}
