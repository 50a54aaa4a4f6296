//! The config file: protected contexts and per-cluster settings.
//!
//! `$XDG_CONFIG_HOME/oncall/config.yaml`, or `--config FILE`. A missing
//! default file is an empty config; a missing `--config` file is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct Config {
    /// Contexts where confirmation means typing the context name. Any
    /// context whose name contains `prod` is protected as well.
    #[serde(default)]
    pub protected_contexts: Vec<String>,

    /// Settings per kubeconfig context.
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterSettings>,

    /// Named environments (for `promote`): a context and a namespace each.
    #[serde(default)]
    pub environments: BTreeMap<String, Environment>,

    /// How `oncall promote` works when given no flags.
    #[serde(default)]
    pub promote: Option<PromoteSettings>,

    /// Workloads that `--scale-up` may scale although they are a StatefulSet,
    /// a `Recreate` Deployment or a promote singleton (`name`,
    /// `namespace/name` or `namespace/kind/name`).
    #[serde(default)]
    pub scale_up_safe: Vec<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct ClusterSettings {
    /// Treat this context as production.
    #[serde(default)]
    pub protected: bool,
    /// Argument list that terminates a node's instance, with `{node}`,
    /// `{provider_id}`, `{instance_id}`, `{zone}` and `{project}` filled in.
    #[serde(default)]
    pub terminate: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct Environment {
    pub context: Option<String>,
    pub namespace: String,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct PromoteSettings {
    pub from: Option<String>,
    pub to: Option<String>,
    /// Label selector of the workloads that take part.
    pub selector: Option<String>,
    /// Workload names that take part (default: every workload on both sides).
    #[serde(default)]
    pub workloads: Vec<String>,
    /// Rollout order; unlisted workloads follow in name order.
    #[serde(default)]
    pub order: Vec<String>,
    /// Workloads that must never run two copies at once (kill-deployed).
    #[serde(default)]
    pub singletons: Vec<String>,
    /// The migration job template: an existing Job or CronJob in the target namespace.
    pub migration: Option<String>,
}

impl Config {
    /// Loads the config from `explicit`, or from the default location if it exists.
    pub(crate) fn load(explicit: Option<&Path>) -> Result<Config> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => match default_path() {
                Some(p) if p.exists() => p,
                _ => return Ok(Config::default()),
            },
        };
        let text = std::fs::read_to_string(&path).map_err(|e| Error::CannotRead {
            what: "config file",
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        crate::yaml::parse(&path, &text)
    }

    /// Which workloads `--scale-up` must leave alone, and which it may scale
    /// anyway.
    pub(crate) fn scale_policy(&self) -> crate::nodes::decide::ScalePolicy {
        crate::nodes::decide::ScalePolicy {
            singletons: self
                .promote
                .as_ref()
                .map(|p| p.singletons.clone())
                .unwrap_or_default(),
            safe: self.scale_up_safe.clone(),
        }
    }

    /// Whether changes in `context` need the context name typed to confirm.
    pub(crate) fn is_protected(&self, context: &str) -> bool {
        context.to_lowercase().contains("prod")
            || self.protected_contexts.iter().any(|c| c == context)
            || self.clusters.get(context).is_some_and(|c| c.protected)
    }
}

pub(crate) fn default_path() -> Option<PathBuf> {
    config_dir().map(|d| d.join("config.yaml"))
}

/// `$XDG_CONFIG_HOME/oncall`, falling back to `~/.config/oncall` on every OS,
/// so that the documented path is the real one.
pub(crate) fn config_dir() -> Option<PathBuf> {
    xdg_dir("XDG_CONFIG_HOME", ".config")
}

/// `$XDG_STATE_HOME/oncall`, falling back to `~/.local/state/oncall`.
pub(crate) fn state_dir() -> Option<PathBuf> {
    xdg_dir("XDG_STATE_HOME", ".local/state")
}

/// Creates `dir` and any missing parents readable only by their owner
/// (0700): the audit log and run journals say what was done to which cluster.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn xdg_dir(var: &str, fallback: &str) -> Option<PathBuf> {
    let base = std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| dirs::home_dir().map(|h| h.join(fallback)))?;
    Some(base.join("oncall"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prod_in_the_name_is_protected() {
        let c = Config::default();
        assert!(c.is_protected("gke_acme_prod-eu"));
        assert!(c.is_protected("PRODUCTION"));
        assert!(!c.is_protected("staging"));
    }

    #[test]
    fn listed_contexts_are_protected() {
        let c: Config = serde_saphyr::from_str(
            "protected_contexts: [live]\nclusters:\n  blue:\n    protected: true\n",
        )
        .unwrap();
        assert!(c.is_protected("live"));
        assert!(c.is_protected("blue"));
        assert!(!c.is_protected("dev"));
    }
}
