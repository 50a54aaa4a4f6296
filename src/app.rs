//! What every command gets: the global flags, the config, and a lazily made
//! connection to the cluster.

use tokio::sync::OnceCell;

use crate::cli::GlobalArgs;
use crate::cluster::{self, Cluster, ConnectOptions};
use crate::config::Config;
use crate::error::Result;
use crate::ui::progress::Progress;

pub struct App {
    pub global: GlobalArgs,
    pub config: Config,
    pub progress: Progress,
    /// The command only reads: nothing to record, so no need to ask the
    /// server who we are.
    reads_only: bool,
    cluster: OnceCell<Cluster>,
}

impl App {
    pub fn new(global: GlobalArgs, reads_only: bool) -> Result<App> {
        let config = Config::load(global.config.as_deref())?;
        let progress = Progress::new(!global.output.is_structured());
        if global.sandbox {
            crate::safety::audit::use_sandbox_log();
        }
        Ok(App {
            global,
            config,
            progress,
            reads_only,
            cluster: OnceCell::new(),
        })
    }

    pub fn connect_options(&self) -> ConnectOptions {
        connect_options(&self.global)
    }

    /// The cluster, connected on first use. The first call also asks the API
    /// server for its version, so an unreachable server or expired
    /// credentials are reported before any plan is made.
    pub async fn cluster(&self) -> Result<&Cluster> {
        self.cluster
            .get_or_try_init(|| async {
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

/// Where the global flags say the cluster is (shell completion reads the
/// same flags from the line being completed).
pub fn connect_options(global: &GlobalArgs) -> ConnectOptions {
    ConnectOptions {
        kubeconfig: global.kubeconfig.clone(),
        context: global.context(),
        namespace: global.namespace.clone(),
        sandbox: global.sandbox,
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
