use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kube::client::ClientBuilder;

use super::bearer::BearerLayer;
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError, NamedAuthInfo};
use tokio::sync::OnceCell;
use tower::ServiceBuilder;

use super::{exec, http_log, kubeconfig, proxy};
use crate::error::{Error, Result};

/// How long a request may wait for the server's answer unless
/// `--request-timeout` says otherwise. kubectl waits forever; an on-call
/// engineer on a broken VPN should hear about it within a minute.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long opening a connection (TCP, proxy tunnel and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The request timeout in force, for the message of a request that ran out
/// of it (errors are worded far from the connection that knows it).
static REQUEST_TIMEOUT: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();

/// `--request-timeout`'s value in words: "2s", "1m".
pub(super) fn request_timeout_words() -> String {
    match REQUEST_TIMEOUT.get().copied().flatten() {
        Some(t) => humantime::format_duration(t).to_string(),
        None => "the connect timeout".into(),
    }
}

/// Where to find the cluster: the global flags that kubectl also has.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    /// A kubeconfig handed over instead of the files (the sandbox's).
    pub provided: Option<Provided>,
    /// How long each request may wait for an answer; `None` waits forever.
    pub request_timeout: Option<Duration>,
    pub overrides: Overrides,
}

/// A kubeconfig made in memory by whoever started the server it points at
/// (the sandbox, started at the edge), and what keeps that server running:
/// every connection made from it holds `keep_alive`, so the server lives as
/// long as the last of them. Its `context` is used whatever `--context`
/// says: it is the only one.
#[derive(Clone)]
pub struct Provided {
    pub kubeconfig: Kubeconfig,
    pub context: String,
    pub keep_alive: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for Provided {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provided")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// kubectl's flags that override parts of the kubeconfig.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub user: Option<String>,
    pub cluster: Option<String>,
    pub server: Option<String>,
    pub token: Option<String>,
    pub certificate_authority: Option<PathBuf>,
    pub insecure_skip_tls_verify: bool,
    pub as_user: Option<String>,
    pub as_groups: Vec<String>,
}

/// A live connection and the facts every plan header names.
pub struct Cluster {
    pub client: kube::Client,
    /// The same connection (and credential) without kube's automatic 429
    /// retries. Evictions must see a PodDisruptionBudget's 429 at once, not
    /// after 15 silent retries.
    pub client_no_retry: kube::Client,
    pub context: String,
    pub url: String,
    pub namespace: String,
    /// The kubeconfig's name for the user, the identity recorded when the
    /// server will not say who we are.
    pub kube_user: String,
    identity: OnceCell<String>,
    /// The HTTP requests this connection has sent, retries included.
    sent: Arc<AtomicU64>,
    /// Keeps a provided kubeconfig's server running as long as the connection.
    _keep_alive: Option<Arc<dyn Any + Send + Sync>>,
}

impl Cluster {
    /// How many HTTP requests this connection has sent so far, each retry
    /// and the connection check included: what the API server served.
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    pub fn describe(&self) -> String {
        format!("context `{}` ({})", self.context, self.url)
    }

    /// Fails with `NotFound` when namespace `ns` does not exist: an empty
    /// answer from a mistyped namespace is not "nothing there". Asked only
    /// once an answer came back empty; credentials that may not read
    /// namespaces leave that answer as it was.
    pub async fn require_namespace(&self, ns: &str) -> Result<()> {
        use k8s_openapi::api::core::v1::Namespace;
        let namespaces = kube::Api::<Namespace>::all(self.client.clone());
        match namespaces.get_opt(ns).await {
            Ok(None) => Err(Error::NotFound {
                what: format!("namespace `{ns}`"),
                list: crate::suggest::kubectl_in(&self.context, "get namespaces"),
            }),
            _ => Ok(()),
        }
    }

    /// The identity if already asked for, else the kubeconfig's user name.
    pub fn identity_known(&self) -> String {
        self.identity
            .get()
            .cloned()
            .unwrap_or_else(|| self.kube_user.clone())
    }

    /// Who the API server says we are (a SelfSubjectReview), or the
    /// kubeconfig's user name when it does not allow the question.
    pub async fn identity(&self) -> String {
        self.identity
            .get_or_init(|| async {
                use k8s_openapi::api::authentication::v1::SelfSubjectReview;
                let api = kube::Api::<SelfSubjectReview>::all(self.client.clone());
                let asked = api
                    .create(&Default::default(), &SelfSubjectReview::default())
                    .await;
                asked
                    .ok()
                    .and_then(|r| r.status?.user_info?.username)
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| self.kube_user.clone())
            })
            .await
            .clone()
    }
}

pub async fn connect(opts: &ConnectOptions) -> Result<Cluster> {
    let (kubeconfig, context, keep_alive) = if let Some(given) = &opts.provided {
        let keep_alive = Some(given.keep_alive.clone());
        (given.kubeconfig.clone(), given.context.clone(), keep_alive)
    } else {
        match kubeconfig::load(opts.kubeconfig.as_deref())? {
            Some(k) => {
                let context = pick_context(&k, opts)?;
                (k, context, None)
            }
            None => return in_cluster(opts).await,
        }
    };
    let (kubeconfig, chosen) = apply_overrides(kubeconfig, &context, &opts.overrides)?;
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        cluster: opts.overrides.cluster.clone(),
        user: Some(chosen.user.clone()),
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| config_error(e, &context))?;
    build(config, context, chosen, opts, keep_alive).await
}

/// The user and cluster entries the connection uses, after the flags.
struct Chosen {
    user: String,
    proxy_url: Option<String>,
}

/// The name given to the user entry made for `--token` or `--as` when the
/// context names none.
const FLAGS_USER: &str = "oncall-command-line";

/// Applies `--server`, `--token`, `--as`… to the entries the context uses, as
/// kubectl lays its flags over the kubeconfig.
fn apply_overrides(
    mut k: Kubeconfig,
    context: &str,
    o: &Overrides,
) -> Result<(Kubeconfig, Chosen)> {
    let ctx = k
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.clone());
    let cluster_name = o
        .cluster
        .clone()
        .or_else(|| ctx.as_ref().map(|c| c.cluster.clone()));
    let user_name = o
        .user
        .clone()
        .or_else(|| ctx.as_ref().and_then(|c| c.user.clone()))
        .unwrap_or_else(|| FLAGS_USER.into());
    let known = |names: Vec<&str>| names.join(", ");
    if let Some(name) = &o.cluster
        && !k.clusters.iter().any(|c| &c.name == name)
    {
        return Err(Error::NotInKubeconfig {
            what: "cluster",
            name: name.clone(),
            known: known(k.clusters.iter().map(|c| c.name.as_str()).collect()),
        });
    }
    if let Some(name) = &o.user
        && !k.auth_infos.iter().any(|u| &u.name == name)
    {
        return Err(Error::NotInKubeconfig {
            what: "user",
            name: name.clone(),
            known: known(k.auth_infos.iter().map(|u| u.name.as_str()).collect()),
        });
    }
    let mut proxy_url = None;
    if let Some(c) = k
        .clusters
        .iter_mut()
        .find(|c| Some(&c.name) == cluster_name.as_ref())
        .and_then(|c| c.cluster.as_mut())
    {
        if let Some(server) = &o.server {
            c.server = Some(server.clone());
        }
        if let Some(ca) = &o.certificate_authority {
            c.certificate_authority = Some(ca.display().to_string());
            c.certificate_authority_data = None;
        }
        if o.insecure_skip_tls_verify {
            c.insecure_skip_tls_verify = Some(true);
            c.certificate_authority = None;
            c.certificate_authority_data = None;
        }
        proxy_url = c.proxy_url.take();
    }
    if !k.auth_infos.iter().any(|u| u.name == user_name) {
        k.auth_infos.push(NamedAuthInfo {
            name: user_name.clone(),
            auth_info: Some(Default::default()),
            other: Default::default(),
        });
    }
    if let Some(entry) = k.auth_infos.iter_mut().find(|u| u.name == user_name) {
        let auth = entry.auth_info.get_or_insert_with(Default::default);
        if let Some(token) = &o.token {
            // The token replaces whatever else the entry would present.
            let (imp, groups) = (auth.impersonate.take(), auth.impersonate_groups.take());
            *auth = Default::default();
            auth.token = Some(token.clone().into());
            auth.impersonate = imp;
            auth.impersonate_groups = groups;
        }
        if let Some(user) = &o.as_user {
            auth.impersonate = Some(user.clone());
        }
        if !o.as_groups.is_empty() {
            auth.impersonate_groups = Some(o.as_groups.clone());
        }
    }
    Ok((
        k,
        Chosen {
            user: user_name,
            proxy_url,
        },
    ))
}

/// The context: `--context`, else the kubeconfig's current one.
fn pick_context(kubeconfig: &Kubeconfig, opts: &ConnectOptions) -> Result<String> {
    let Some(context) = opts.context.clone().or(kubeconfig.current_context.clone()) else {
        return Err(Error::NoCurrentContext);
    };
    if !kubeconfig.contexts.iter().any(|c| c.name == context) {
        let known: Vec<_> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(Error::NotInKubeconfig {
            what: "context",
            name: context,
            known: if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            },
        });
    }
    Ok(context)
}

fn config_error(err: KubeconfigError, context: &str) -> Error {
    match err {
        KubeconfigError::MissingClusterUrl => Error::BadKubeconfig(format!(
            "the cluster of context `{context}` has no `server`; add one or pass --server URL"
        )),
        KubeconfigError::ParseClusterUrl(e) => Error::BadKubeconfig(format!(
            "the server address of context `{context}` is not a URL ({e})"
        )),
        KubeconfigError::ParseProxyUrl(e) => Error::BadKubeconfig(format!(
            "the proxy address for context `{context}` is not a URL ({e}); check HTTPS_PROXY and the cluster's `proxy-url`"
        )),
        KubeconfigError::ParseNoProxy(e) => Error::BadKubeconfig(format!(
            "NO_PROXY cannot be read ({e}); list host names, IP addresses or CIDR ranges separated by commas"
        )),
        other => Error::Credentials {
            context: context.into(),
            reason: other.to_string(),
        },
    }
}

async fn in_cluster(opts: &ConnectOptions) -> Result<Cluster> {
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
        return Err(Error::NoKubeconfig);
    }
    if let Some(context) = &opts.context {
        return Err(Error::NotInKubeconfig {
            what: "context",
            name: context.clone(),
            known: "none (running in-cluster)".into(),
        });
    }
    let mut config = kube::Config::incluster().map_err(|e| Error::BadKubeconfig(e.to_string()))?;
    if let Some(user) = &opts.overrides.as_user {
        config.auth_info.impersonate = Some(user.clone());
    }
    if !opts.overrides.as_groups.is_empty() {
        config.auth_info.impersonate_groups = Some(opts.overrides.as_groups.clone());
    }
    let chosen = Chosen {
        user: "service account".into(),
        proxy_url: None,
    };
    build(config, "in-cluster".into(), chosen, opts, None).await
}

/// One HTTP stack (connection pool, credential, timeout), shared by the
/// client with kube's retries and the one without.
async fn build(
    mut config: kube::Config,
    context: String,
    chosen: Chosen,
    opts: &ConnectOptions,
    keep_alive: Option<Arc<dyn Any + Send + Sync>>,
) -> Result<Cluster> {
    let url = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let namespace = opts
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    config.proxy_url = match proxy::for_server(&config.cluster_url, chosen.proxy_url.as_deref()) {
        Some(p) => {
            proxy::remember(&url, &p);
            Some(p.parse().map_err(|e| {
                Error::BadKubeconfig(format!(
                    "the proxy address `{}` is not a URL ({e}); check HTTPS_PROXY and the cluster's `proxy-url`",
                    proxy::redact(&p)
                ))
            })?)
        }
        None => None,
    };
    config.connect_timeout = Some(
        opts.request_timeout
            .map_or(CONNECT_TIMEOUT, |t| t.min(CONNECT_TIMEOUT)),
    );
    config.default_retry = false;
    let _ = REQUEST_TIMEOUT.set(opts.request_timeout);
    let credentials_error = |reason: String| Error::Credentials {
        context: context.clone(),
        reason,
    };
    // A kubeconfig token comes before an exec plugin, as in kube-rs and
    // client-go; the plugin then never runs.
    let mut bearer = BearerLayer::take_token(&mut config.auth_info)
        .map_err(|e| credentials_error(e.to_string()))?;
    if bearer.is_some() {
        config.auth_info.exec = None;
    }
    let renewal = exec::resolve(&mut config.auth_info)
        .await
        .map_err(|e| credentials_error(e.to_string()))?;
    let certificate_exec = match renewal {
        Some(exec::Renewal::Token(exec)) => {
            bearer = Some(BearerLayer::plugin(exec));
            None
        }
        Some(exec::Renewal::Certificate { exec, expires }) => Some((exec, expires, config.clone())),
        None => None,
    };
    let default_ns = config.default_namespace.clone();
    let builder = ClientBuilder::try_from(config).map_err(|e| client_error(e, &context, &url))?;
    let timeout = opts.request_timeout;
    let sent = Arc::new(AtomicU64::new(0));
    let (client_no_retry, shared) = build_around(builder, |inner| {
        let inner = match certificate_exec {
            Some((exec, expires, base)) => super::renew::Connections::new(
                super::renew::RenewingTls::new(inner, base, exec, expires),
            ),
            None => inner,
        };
        // The token goes on above the log, so that `-vv` shows it was sent
        // (redacted), and outside the request timeout, which a plugin's
        // login must not count against.
        ServiceBuilder::new()
            .option_layer(bearer.map(tower::filter::AsyncFilterLayer::new))
            .layer(http_log::Layer::counting(sent.clone()))
            .option_layer(timeout.map(tower::timeout::TimeoutLayer::new))
            .layer(super::body_timeout::Layer::new(timeout))
            .layer(tower::buffer::BufferLayer::new(1024))
            .service(inner)
    });
    let client = ClientBuilder::new(
        ServiceBuilder::new()
            .layer(super::retry::Layer)
            .service(shared),
        default_ns,
    )
    .build();
    Ok(Cluster {
        client,
        client_no_retry,
        context,
        url,
        namespace,
        kube_user: chosen.user,
        identity: OnceCell::new(),
        sent,
        _keep_alive: keep_alive,
    })
}

/// The client kube-rs builds with `wrap` around its connections (TLS,
/// proxy, gzip), and a handle on the service `wrap` made: kube-rs offers no
/// other way to reach it, and a second client (with retries) shares it.
pub(super) fn build_around<S, B>(
    builder: ClientBuilder<super::renew::Connections>,
    wrap: impl FnOnce(super::renew::Connections) -> S,
) -> (kube::Client, S)
where
    S: tower::Service<http::Request<kube::client::Body>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<tower::BoxError>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<tower::BoxError>,
{
    let wrap = std::sync::Mutex::new(Some(wrap));
    let made = std::sync::Mutex::new(None);
    let client = builder
        .with_layer(&tower::layer::layer_fn(|inner| {
            let wrap = wrap.lock().ok().and_then(|mut w| w.take());
            let service = wrap.expect("kube-rs applies a layer once")(inner);
            if let Ok(mut m) = made.lock() {
                *m = Some(service.clone());
            }
            service
        }))
        .build();
    let service = made.into_inner().ok().flatten();
    (
        client,
        service.expect("the layer ran when the client was built"),
    )
}

fn client_error(err: kube::Error, context: &str, url: &str) -> Error {
    match err {
        kube::Error::ProxyProtocolUnsupported { proxy_url } => Error::Proxy {
            url: url.into(),
            proxy: proxy::redact(&proxy_url.to_string()),
            reason: "its scheme is not supported (use http://, https:// or socks5://)".into(),
        },
        other => Error::Credentials {
            context: context.into(),
            reason: other.to_string(),
        },
    }
}
