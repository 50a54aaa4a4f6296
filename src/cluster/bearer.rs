//! The bearer token on each request: the kubeconfig's `token` (or
//! `--token`), its `tokenFile`, or an exec plugin's token.
//!
//! kube-rs can put these on requests itself, but it does so beneath every
//! layer a client may add, so the request log (`-vv`) would never show that
//! a credential was sent. Taken over here, the token goes on above the log,
//! which shows it as `authorization: <redacted>`. A `tokenFile` is read again
//! once a minute, as client-go does, because the kubelet rotates mounted
//! service-account tokens; an exec plugin's token is cached until it expires
//! (`exec::credential`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use http::{HeaderValue, Request, header::AUTHORIZATION};
use kube::config::{AuthInfo, ExecConfig};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tower::BoxError;

use super::exec;

/// How long a token read from a file is used before the file is read again.
const REREAD_TOKEN_FILE: Duration = Duration::from_secs(60);

enum Source {
    Fixed(SecretString),
    File {
        path: PathBuf,
        read: Mutex<(SecretString, Instant)>,
    },
    Plugin(Box<ExecConfig>),
}

/// Puts the current bearer token on every request.
#[derive(Clone)]
pub(super) struct BearerLayer {
    source: Arc<Source>,
}

/// The token file could not be read; the message names it.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the token file `{path}`: {reason}")]
pub(super) struct TokenFileError {
    path: String,
    reason: String,
}

impl BearerLayer {
    /// The plugin's token, renewed when it expires.
    pub(super) fn plugin(exec: ExecConfig) -> BearerLayer {
        BearerLayer {
            source: Arc::new(Source::Plugin(Box::new(exec))),
        }
    }

    /// Takes the kubeconfig's `token` or `tokenFile` out of `auth`, so that
    /// kube-rs does not add it beneath the log; `None` when there is none,
    /// or when kube-rs would present something else first (an
    /// `auth-provider`, or a user name and password).
    pub(super) fn take_token(auth: &mut AuthInfo) -> Result<Option<BearerLayer>, TokenFileError> {
        if auth.auth_provider.is_some() || (auth.username.is_some() && auth.password.is_some()) {
            return Ok(None);
        }
        let source = match (auth.token.take(), auth.token_file.take()) {
            (Some(token), _) => Source::Fixed(token),
            (None, Some(path)) => {
                let path = PathBuf::from(path);
                let token = read_token_file(&path)?;
                Source::File {
                    path,
                    read: Mutex::new((token, Instant::now())),
                }
            }
            (None, None) => return Ok(None),
        };
        Ok(Some(BearerLayer {
            source: Arc::new(source),
        }))
    }

    async fn token(&self) -> Result<Option<SecretString>, BoxError> {
        match &*self.source {
            Source::Fixed(token) => Ok(Some(token.clone())),
            Source::File { path, read } => {
                let mut read = read.lock().await;
                if read.1.elapsed() >= REREAD_TOKEN_FILE {
                    // A rotation half done leaves the old token valid for a
                    // while: keep it if the file cannot be read right now.
                    if let Ok(token) = read_token_file(path) {
                        *read = (token, Instant::now());
                    }
                }
                Ok(Some(read.0.clone()))
            }
            Source::Plugin(exec) => Ok(exec::credential(exec).await?.token.map(SecretString::from)),
        }
    }
}

fn read_token_file(path: &std::path::Path) -> Result<SecretString, TokenFileError> {
    let fail = |reason: String| TokenFileError {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(fail("it is empty".into()));
    }
    Ok(SecretString::from(token.to_string()))
}

impl<B: Send + 'static> tower::filter::AsyncPredicate<Request<B>> for BearerLayer {
    type Future = BoxFuture<'static, Result<Request<B>, BoxError>>;
    type Request = Request<B>;

    fn check(&mut self, mut request: Request<B>) -> Self::Future {
        let layer = self.clone();
        Box::pin(async move {
            if let Some(token) = layer.token().await? {
                let mut value = HeaderValue::try_from(format!("Bearer {}", token.expose_secret()))?;
                value.set_sensitive(true);
                request.headers_mut().insert(AUTHORIZATION, value);
            }
            Ok(request)
        })
    }
}
