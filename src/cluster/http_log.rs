//! `-v` and `-vv`: each request with its status and time, and with `-vv`
//! its headers, credentials hidden. Every request sent is counted here too,
//! retries included, as the API server sees them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use http::{HeaderMap, Request, Response};

/// Logs every request that passes through it (target `oncall::http`), and
/// counts it.
#[derive(Clone)]
pub(super) struct Layer {
    sent: Arc<AtomicU64>,
}

impl Layer {
    /// Counts each request into `sent`.
    pub(super) fn counting(sent: Arc<AtomicU64>) -> Layer {
        Layer { sent }
    }
}

impl<S> tower::Layer<S> for Layer {
    type Service = Logged<S>;

    fn layer(&self, inner: S) -> Logged<S> {
        Logged {
            inner,
            sent: self.sent.clone(),
        }
    }
}

#[derive(Clone)]
pub(super) struct Logged<S> {
    inner: S,
    sent: Arc<AtomicU64>,
}

impl<S, B, R> tower::Service<Request<B>> for Logged<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let line = format!("{} {}", request.method(), request.uri());
        if !request.headers().is_empty() {
            tracing::debug!(target: "oncall::http", "{line}\n{}", headers(request.headers()));
        }
        let started = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let result = answer.await;
            let ms = started.elapsed().as_millis();
            match &result {
                Ok(response) => {
                    tracing::info!(target: "oncall::http", "{line} {} in {ms} ms", response.status());
                    tracing::debug!(target: "oncall::http", "response headers:\n{}", headers(response.headers()));
                }
                Err(e) => {
                    tracing::info!(target: "oncall::http", "{line} failed after {ms} ms: {e}")
                }
            }
            result
        })
    }
}

/// One `name: value` per line; values marked sensitive (credentials) and
/// cookies are shown as `<redacted>`, after the scheme of a credential
/// (`Bearer <redacted>`), which says what kind was sent, as kubectl's
/// `-v=8` does.
fn headers(map: &HeaderMap) -> String {
    map.iter()
        .map(|(name, value)| {
            let secret = value.is_sensitive()
                || name == http::header::AUTHORIZATION
                || name == http::header::PROXY_AUTHORIZATION
                || name == http::header::COOKIE;
            let shown = if secret {
                redacted(value.as_bytes())
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            format!("  {name}: {shown}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `Bearer <redacted>` for `Bearer abc…`: the scheme, never the credential.
fn redacted(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    match text.split_once(' ') {
        Some((scheme, _))
            if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic()) =>
        {
            format!("{scheme} <redacted>")
        }
        _ => "<redacted>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_keeps_its_scheme_and_loses_its_value() {
        assert_eq!(redacted(b"Bearer s3cr3t"), "Bearer <redacted>");
        assert_eq!(redacted(b"Basic dXNlcjpwdw=="), "Basic <redacted>");
        assert_eq!(redacted(b"s3cr3t"), "<redacted>");
        assert_eq!(redacted(b"abc/def ghi"), "<redacted>");
    }
}
