//! Client certificates from an exec plugin, renewed when they expire.
//!
//! A token is put on each request (`exec::TokenLayer`), but a client
//! certificate is presented once per TLS connection: a new certificate needs
//! new connections. So when the plugin's certificate is about to expire,
//! the plugin runs again and a fresh connection pool is built with the new
//! certificate; requests already under way finish on the old pool, which
//! goes when they do (client-go closes its connections for the same reason).
//! Plugins such as Teleport's `tsh` and Pinniped give certificates that
//! expire within hours, shorter than a pool rotation may take.

use std::sync::Arc;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use http::{Request, Response};
use kube::client::{Body, ClientBuilder, DynBody};
use kube::config::ExecConfig;
use tower::buffer::Buffer;
use tower::util::{BoxCloneService, BoxService};
use tower::{BoxError, Service, ServiceExt};

use super::exec;

/// The HTTP service kube-rs builds from a configuration (TLS, proxy, gzip):
/// its `GenericService`, which it does not export by name.
pub(super) type Connections = BoxService<Request<Body>, Response<Box<DynBody>>, BoxError>;
/// Connections shared by every request: a queue in front of the service, in
/// a box that names no future type (which spares `call` a higher-ranked
/// bound the compiler cannot prove).
type Pool = BoxCloneService<Request<Body>, Response<Box<DynBody>>, BoxError>;

/// Requests waiting for a pool's connections (kube-rs's own default).
const QUEUE: usize = 1024;

/// The connections to the API server, rebuilt with the plugin's next
/// certificate once the current one is about to expire.
#[derive(Clone)]
pub(super) struct RenewingTls {
    /// The configuration without the plugin, with the current certificate.
    base: Arc<kube::Config>,
    exec: Arc<ExecConfig>,
    current: Arc<tokio::sync::Mutex<Current>>,
}

struct Current {
    pool: Pool,
    expires: Option<DateTime<Utc>>,
}

impl RenewingTls {
    /// Serves through `connections`, built from `base` with a certificate
    /// that expires at `expires`.
    pub(super) fn new(
        connections: Connections,
        base: kube::Config,
        exec: ExecConfig,
        expires: DateTime<Utc>,
    ) -> RenewingTls {
        RenewingTls {
            base: Arc::new(base),
            exec: Arc::new(exec),
            current: Arc::new(tokio::sync::Mutex::new(Current {
                pool: BoxCloneService::new(Buffer::new(connections, QUEUE)),
                expires: Some(expires),
            })),
        }
    }

    /// The pool to send on: the current one, or a new one with a renewed
    /// certificate. The lock is held while the plugin runs, so requests
    /// made meanwhile wait for one renewal rather than start their own.
    async fn current_pool(&self) -> Result<Pool, BoxError> {
        let mut current = self.current.lock().await;
        if current.expires.is_some_and(exec::is_stale) {
            let credential = exec::credential(&self.exec).await?;
            let mut config = (*self.base).clone();
            if !exec::present_certificate(&mut config.auth_info, &credential) {
                return Err(format!(
                    "the credential plugin `{}` gave a client certificate, then none when run again",
                    self.exec.command.as_deref().unwrap_or_default()
                )
                .into());
            }
            *current = Current {
                pool: pool(config)?,
                expires: credential.expires,
            };
        }
        Ok(current.pool.clone())
    }
}

impl Service<Request<Body>> for RenewingTls {
    type Response = Response<Box<DynBody>>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Readiness is the pool's, known only once it is picked in `call`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            match this.current_pool().await {
                Ok(pool) => pool.oneshot(request).await,
                Err(e) => Err(e),
            }
        })
    }
}

/// A pool of the connections kube-rs builds for `config`.
fn pool(config: kube::Config) -> Result<Pool, kube::Error> {
    let builder = ClientBuilder::try_from(config)?;
    let (_client, pool) = super::connect::build_around(builder, |inner| Buffer::new(inner, QUEUE));
    Ok(BoxCloneService::new(pool))
}
