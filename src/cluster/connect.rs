use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::{Error, Result};

/// Where to find the cluster: the global flags that kubectl also has.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    /// Start the built-in simulated cluster instead of reading a kubeconfig.
    pub sandbox: bool,
}

/// A live connection and the facts every plan header names.
pub struct Cluster {
    pub client: kube::Client,
    /// The same connection without kube's automatic 429 retries. Evictions
    /// must see a PodDisruptionBudget's 429 at once, not after 15 silent retries.
    pub client_no_retry: kube::Client,
    pub context: String,
    pub url: String,
    pub namespace: String,
    /// Keeps the sandbox simulator alive for as long as the connection.
    _sandbox: Option<oncall_sim::Simulator>,
}

impl Cluster {
    pub fn describe(&self) -> String {
        format!("context `{}` ({})", self.context, self.url)
    }
}

pub async fn connect(opts: &ConnectOptions) -> Result<Cluster> {
    if opts.sandbox {
        return connect_sandbox(opts).await;
    }
    let (config, context) = load_config(opts).await?;
    build(config, context, opts, None)
}

async fn connect_sandbox(opts: &ConnectOptions) -> Result<Cluster> {
    let sim = oncall_sim::Simulator::start(oncall_sim::SimOptions {
        port: 0,
        seed: oncall_sim::Seed::Demo,
        faults: Default::default(),
        timing: oncall_sim::Timing::fast(),
    })
    .await
    .map_err(|e| Error::Failed(format!("cannot start the sandbox cluster: {e}")))?;
    let kubeconfig = Kubeconfig::from_yaml(&sim.kubeconfig_yaml("sandbox"))
        .map_err(|e| Error::BadKubeconfig(e.to_string()))?;
    let options = KubeConfigOptions {
        context: Some("sandbox".into()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| Error::BadKubeconfig(e.to_string()))?;
    build(config, "sandbox".into(), opts, Some(sim))
}

fn build(
    config: kube::Config,
    context: String,
    opts: &ConnectOptions,
    sandbox: Option<oncall_sim::Simulator>,
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
    let mut no_retry = config.clone();
    no_retry.default_retry = false;
    let make = |c: kube::Config| {
        kube::Client::try_from(c).map_err(|e| Error::Credentials {
            context: context.clone(),
            reason: e.to_string(),
        })
    };
    Ok(Cluster {
        client: make(config)?,
        client_no_retry: make(no_retry)?,
        context,
        url,
        namespace,
        _sandbox: sandbox,
    })
}

/// Reads the kubeconfig as kubectl does: `--kubeconfig`, else the merged
/// `KUBECONFIG` list, else `~/.kube/config`, else the in-cluster service account.
async fn load_config(opts: &ConnectOptions) -> Result<(kube::Config, String)> {
    let kubeconfig = match &opts.kubeconfig {
        Some(path) => Some(Kubeconfig::read_from(path).map_err(|e| {
            if path.exists() {
                Error::BadKubeconfig(format!("{}: {e}", path.display()))
            } else {
                Error::BadKubeconfig(format!("{} does not exist", path.display()))
            }
        })?),
        None => match Kubeconfig::from_env().map_err(|e| Error::BadKubeconfig(e.to_string()))? {
            Some(k) => Some(k),
            None => default_kubeconfig()?,
        },
    };
    let Some(kubeconfig) = kubeconfig else {
        return in_cluster(opts);
    };
    let context = match opts.context.clone().or(kubeconfig.current_context.clone()) {
        Some(c) => c,
        None => {
            return Err(Error::Usage(
                "the kubeconfig has no current context: pass --context NAME".into(),
            ));
        }
    };
    if !kubeconfig.contexts.iter().any(|c| c.name == context) {
        let known: Vec<_> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(Error::UnknownContext {
            name: context,
            known: if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            },
        });
    }
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| Error::Credentials {
            context: context.clone(),
            reason: e.to_string(),
        })?;
    Ok((config, context))
}

fn default_kubeconfig() -> Result<Option<Kubeconfig>> {
    let Some(path) = dirs::home_dir().map(|h| h.join(".kube").join("config")) else {
        return Ok(None);
    };
    if !path.exists() {
        return Ok(None);
    }
    Kubeconfig::read_from(&path)
        .map(Some)
        .map_err(|e| Error::BadKubeconfig(format!("{}: {e}", path.display())))
}

fn in_cluster(opts: &ConnectOptions) -> Result<(kube::Config, String)> {
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
        return Err(Error::NoKubeconfig);
    }
    if let Some(context) = &opts.context {
        return Err(Error::UnknownContext {
            name: context.clone(),
            known: "none (running in-cluster)".into(),
        });
    }
    let config = kube::Config::incluster().map_err(|e| Error::BadKubeconfig(e.to_string()))?;
    Ok((config, "in-cluster".into()))
}
