//! The two sides of a promotion: where images come from and where they go.
//! Each is a context and a namespace; both may live in one cluster.

use crate::cluster::{self, Cluster, ConnectOptions};
use crate::config::Config;
use crate::error::{Error, Result};

/// A connection either shared with the app (same context) or opened for one side.
pub(crate) enum Conn<'a> {
    Shared(&'a Cluster),
    Own(Box<Cluster>),
}

impl Conn<'_> {
    pub(crate) fn cluster(&self) -> &Cluster {
        match self {
            Conn::Shared(c) => c,
            Conn::Own(c) => c,
        }
    }
}

pub(crate) struct Side<'a> {
    /// The environment's name (`staging`) or `context/namespace`.
    pub label: String,
    pub conn: Conn<'a>,
    pub namespace: String,
}

impl Side<'_> {
    pub(crate) fn client(&self) -> &kube::Client {
        &self.conn.cluster().client
    }
}

pub(crate) struct Sides<'a> {
    pub source: Side<'a>,
    pub target: Side<'a>,
}

/// Where the two sides are, as the command line names them: environments
/// of the config file, or a context and namespace for either side.
#[derive(Debug, Clone, Default)]
pub(crate) struct SideSpec {
    pub from: Option<String>,
    pub to: Option<String>,
    pub from_context: Option<String>,
    pub from_namespace: Option<String>,
    pub to_context: Option<String>,
    pub to_namespace: Option<String>,
    /// The global `--context`, for a side named by namespace alone.
    pub context: Option<String>,
    /// The global `-n`: the target of `history` and `rollback` when no
    /// target side is named.
    pub namespace: Option<String>,
}

/// A side as named on the command line or in the config, before connecting.
struct Wanted {
    label: String,
    context: Option<String>,
    namespace: String,
}

/// Works out both sides from the spec, then the config's `promote` and
/// `environments` sections, and connects to them (sharing `shared` where a
/// side lives in its context).
pub(crate) async fn resolve<'a>(
    shared: &'a Cluster,
    options: &ConnectOptions,
    config: &Config,
    spec: &SideSpec,
) -> Result<Sides<'a>> {
    let settings = config.promote.clone().unwrap_or_default();
    let from = wanted(
        config,
        spec,
        "source",
        spec.from.as_ref().or(settings.from.as_ref()),
        &spec.from_context,
        &spec.from_namespace,
    )?;
    let to = wanted(
        config,
        spec,
        "target",
        spec.to.as_ref().or(settings.to.as_ref()),
        &spec.to_context,
        &spec.to_namespace,
    )?;
    if from.context == to.context && from.namespace == to.namespace {
        return Err(Error::SameEnvironment(from.label.clone()));
    }
    Ok(Sides {
        source: connect(shared, options, from).await?,
        target: connect(shared, options, to).await?,
    })
}

/// The target side alone, for `history` and `rollback`: `--to-namespace`
/// (and `--to-context`) when given, else `-n`, else the config's `promote.to`.
pub(crate) async fn target<'a>(
    shared: &'a Cluster,
    options: &ConnectOptions,
    config: &Config,
    spec: &SideSpec,
) -> Result<Side<'a>> {
    let settings = config.promote.clone().unwrap_or_default();
    let wanted = match &spec.namespace {
        Some(ns) if spec.to_namespace.is_none() && spec.to_context.is_none() => Wanted {
            label: ns.clone(),
            context: spec.context.clone(),
            namespace: ns.clone(),
        },
        _ => wanted(
            config,
            spec,
            "target",
            settings.to.as_ref(),
            &spec.to_context,
            &spec.to_namespace,
        )?,
    };
    connect(shared, options, wanted).await
}

fn wanted(
    config: &Config,
    spec: &SideSpec,
    role: &str,
    env: Option<&String>,
    context: &Option<String>,
    namespace: &Option<String>,
) -> Result<Wanted> {
    if let Some(ns) = namespace {
        let context = context.clone().or_else(|| spec.context.clone());
        let label = match &context {
            Some(c) => format!("{c}/{ns}"),
            None => ns.clone(),
        };
        return Ok(Wanted {
            label,
            context,
            namespace: ns.clone(),
        });
    }
    let Some(name) = env else {
        return Err(Error::NoEnvironment {
            role: role.into(),
            flag: if role == "source" { "from" } else { "to" }.into(),
        });
    };
    let Some(env) = config.environments.get(name) else {
        return Err(Error::UnknownEnvironment {
            name: name.clone(),
            known: config.environments.keys().cloned().collect(),
        });
    };
    Ok(Wanted {
        label: name.clone(),
        context: context.clone().or(env.context.clone()),
        namespace: env.namespace.clone(),
    })
}

async fn connect<'a>(
    shared: &'a Cluster,
    options: &ConnectOptions,
    wanted: Wanted,
) -> Result<Side<'a>> {
    let conn = conn_for(shared, options, wanted.context.as_deref()).await?;
    Ok(Side {
        label: wanted.label,
        conn,
        namespace: wanted.namespace,
    })
}

/// The connection for a side in `context`: the shared one when that is its
/// context (or none is named, or in the sandbox, where every context is the
/// same cluster), else a new one made with the same kubeconfig.
async fn conn_for<'a>(
    shared: &'a Cluster,
    options: &ConnectOptions,
    context: Option<&str>,
) -> Result<Conn<'a>> {
    match context.filter(|c| *c != shared.context && options.provided.is_none()) {
        None => Ok(Conn::Shared(shared)),
        Some(context) => {
            let mut options = options.clone();
            options.context = Some(context.to_string());
            Ok(Conn::Own(Box::new(cluster::connect(&options).await?)))
        }
    }
}

/// Both sides for the runbook action, from the run's connection: each of
/// `from` and `to` is an environment of the config or else a namespace of
/// the run's cluster. An environment in another context gets its own
/// connection (made with the run's kubeconfig), as `oncall promote` does.
pub(crate) async fn for_runbook<'a>(
    cluster: &'a Cluster,
    options: &ConnectOptions,
    config: &Config,
    from: &str,
    to: &str,
) -> Result<Sides<'a>> {
    let side = async |name: &str| -> Result<Side<'a>> {
        let Some(env) = config.environments.get(name) else {
            return Ok(Side {
                label: name.to_string(),
                conn: Conn::Shared(cluster),
                namespace: name.to_string(),
            });
        };
        Ok(Side {
            label: name.to_string(),
            conn: conn_for(cluster, options, env.context.as_deref()).await?,
            namespace: env.namespace.clone(),
        })
    };
    let (source, target) = (side(from).await?, side(to).await?);
    if source.conn.cluster().url == target.conn.cluster().url
        && source.namespace == target.namespace
    {
        return Err(Error::SameEnvironment(source.namespace.clone()));
    }
    Ok(Sides { source, target })
}
