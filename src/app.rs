//! What every command gets: the global flags, the config, and a lazily made
//! connection to the cluster. The sandbox is started here, at the edge: the
//! cluster layer only gets its kubeconfig and the guard that keeps it alive.

pub(crate) mod sandbox;

use tokio::sync::OnceCell;

use crate::cli::GlobalArgs;
use crate::cluster::{self, Cluster, ConnectOptions};
use crate::config::Config;
use crate::error::Result;
use crate::ui::progress::Progress;

pub(crate) struct App {
    pub global: GlobalArgs,
    pub config: Config,
    pub progress: Progress,
    /// The command only reads: nothing to record, so no need to ask the
    /// server who we are.
    reads_only: bool,
    /// The sandbox `--sandbox` asks for, started with the first connection.
    sandbox: OnceCell<cluster::Provided>,
    cluster: OnceCell<Cluster>,
}

impl App {
    pub(crate) fn new(global: GlobalArgs, reads_only: bool) -> Result<App> {
        let config = Config::load(global.config.as_deref())?;
        // Bars and spinners are for a person watching, never beside JSON or YAML.
        let progress = Progress::new(!global.output.is_structured());
        if global.sandbox {
            crate::safety::audit::use_sandbox_log();
        }
        Ok(App {
            global,
            config,
            progress,
            reads_only,
            sandbox: OnceCell::new(),
            cluster: OnceCell::new(),
        })
    }

    /// How to connect to a context: the global flags, and with `--sandbox`
    /// the sandbox that `cluster()` started (call that first: before it,
    /// there is no sandbox to hand over).
    pub(crate) fn connect_options(&self) -> ConnectOptions {
        let mut options = connect_options(&self.global);
        options.provided = self.sandbox.get().cloned();
        options
    }

    /// The cluster, connected on first use. The first call also asks the API
    /// server for its version, so an unreachable server or expired
    /// credentials are reported before any plan is made.
    pub(crate) async fn cluster(&self) -> Result<&Cluster> {
        self.cluster
            .get_or_try_init(|| async {
                if self.global.sandbox {
                    self.sandbox.get_or_try_init(sandbox::demo).await?;
                }
                let cluster = cluster::connect(&self.connect_options()).await?;
                // A command that may change things records who did it; ask
                // the server alongside the version so it costs no time.
                let version = if self.reads_only {
                    server_version(&cluster).await?
                } else {
                    let (version, _) = tokio::join!(server_version(&cluster), cluster.identity());
                    version?
                };
                if self.global.verbose > 0 {
                    crate::ui::style::note(&format!(
                        "connected to {} (Kubernetes {}), namespace `{}`",
                        cluster.describe(),
                        version.git_version,
                        cluster.namespace
                    ));
                }
                Ok(cluster)
            })
            .await
    }
}

/// The cluster the global flags point at, with a sandbox of its own when
/// they ask for one (shell completion reads the same flags from the line
/// being completed, and connects this way).
pub(crate) async fn connect(global: &GlobalArgs) -> Result<Cluster> {
    let mut options = connect_options(global);
    if global.sandbox {
        options.provided = Some(sandbox::demo().await?);
    }
    cluster::connect(&options).await
}

/// Where the global flags say the cluster is; the sandbox is the caller's.
fn connect_options(global: &GlobalArgs) -> ConnectOptions {
    ConnectOptions {
        kubeconfig: global.kubeconfig.clone(),
        context: global.context(),
        namespace: global.namespace.clone(),
        provided: None,
        request_timeout: match global.request_timeout {
            None => Some(cluster::DEFAULT_REQUEST_TIMEOUT),
            Some(t) if t.is_zero() => None,
            Some(t) => Some(t),
        },
        overrides: cluster::Overrides {
            user: global.user.clone(),
            cluster: global.cluster.clone(),
            server: global.server.clone(),
            token: global.token.clone(),
            certificate_authority: global.certificate_authority.clone(),
            insecure_skip_tls_verify: global.insecure_skip_tls_verify,
            as_user: global.as_user.clone(),
            as_groups: global.as_group.clone(),
        },
    }
}

/// Asks for the server version, trying again after a transient failure so a
/// single 5xx or dropped connection does not end the command.
async fn server_version(
    cluster: &Cluster,
) -> Result<k8s_openapi::apimachinery::pkg::version::Info> {
    cluster::retry::retry(|| cluster.client.apiserver_version())
        .await
        .map_err(|e| cluster::api_error(e, &cluster.url, "get the server version"))
}
