//! A timeout on the answer's body, not only on its headers.
//!
//! `tower::timeout` stops waiting once the response headers arrive; a server
//! or proxy that then stalls the body (mid-way through a list page) would
//! hang the command. Each body here must send its next bytes within
//! `--request-timeout`: an idle limit, not a deadline, so a large page that
//! keeps streaming is never cut. Watches and followed logs are left alone:
//! a quiet watch is a healthy one.

use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use http::{Request, Response};
use http_body_util::Either;
use tower_http::timeout::TimeoutBody;

pub(super) use tower_http::timeout::TimeoutError;

/// `idle` is `--request-timeout`; `None` (`0`) waits forever, as it does
/// for the headers.
#[derive(Clone, Copy)]
pub(super) struct Layer {
    idle: Option<Duration>,
}

impl Layer {
    pub(super) fn new(idle: Option<Duration>) -> Layer {
        Layer { idle }
    }
}

impl<S> tower::Layer<S> for Layer {
    type Service = Idle<S>;

    fn layer(&self, inner: S) -> Idle<S> {
        Idle {
            inner,
            idle: self.idle,
        }
    }
}

#[derive(Clone)]
pub(super) struct Idle<S> {
    inner: S,
    idle: Option<Duration>,
}

impl<S, B, R> tower::Service<Request<B>> for Idle<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    R: http_body::Body,
{
    type Response = Response<Either<TimeoutBody<R>, R>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let idle = self.idle.filter(|_| !super::retry::is_stream(&request));
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(match idle {
                Some(idle) => response.map(|body| Either::Left(TimeoutBody::new(idle, body))),
                None => response.map(Either::Right),
            })
        })
    }
}
