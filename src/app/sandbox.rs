//! The built-in simulated cluster, started here at the edge: for `--sandbox`
//! (the demo cluster, handed to the cluster layer as a kubeconfig and a
//! guard) and for `oncall sandbox serve`. Nothing below the edge knows a
//! simulator exists.
//!
//! A build without the `sandbox` cargo feature leaves the simulator out;
//! asking it for a sandbox is then a usage error.

use std::path::PathBuf;

#[cfg(feature = "sandbox")]
pub(crate) use built_in::{demo, serve};
#[cfg(not(feature = "sandbox"))]
pub(crate) use left_out::{demo, serve};

/// What `oncall sandbox serve` starts (read only by the simulator, which a
/// build without the feature leaves out).
#[derive(Debug, Clone, Default)]
#[cfg_attr(not(feature = "sandbox"), allow(dead_code))]
pub(crate) struct ServeOptions {
    /// A multi-document YAML file to seed from (default: the demo cluster).
    pub seed: Option<PathBuf>,
    /// Generate this many nodes, with this many pods on each, instead.
    pub generated: Option<(usize, usize)>,
    /// 0 for a free one.
    pub port: u16,
    /// A fault spec as `--faults` takes it.
    pub faults: Option<String>,
}

#[cfg(feature = "sandbox")]
mod built_in {
    use std::path::Path;
    use std::sync::Arc;

    use kube::config::Kubeconfig;
    use oncall_sim::{FaultSpec, Seed, SimError, SimOptions, Simulator, Timing};

    use super::ServeOptions;
    use crate::cluster::Provided;
    use crate::error::{Error, Result};

    /// The context, cluster and user name in a sandbox's kubeconfig.
    const CONTEXT: &str = "sandbox";

    /// A running simulator; dropping the guard stops it.
    pub(crate) struct Guard(Option<Simulator>);

    impl Guard {
        fn sim(&self) -> &Simulator {
            self.0
                .as_ref()
                .expect("only shutdown empties a guard, and it consumes it")
        }

        pub(crate) fn url(&self) -> String {
            self.sim().url()
        }

        /// Writes a kubeconfig for it (context `sandbox`) to `path`.
        pub(crate) fn write_kubeconfig(&self, path: &Path) -> Result<()> {
            self.sim()
                .write_kubeconfig(path, CONTEXT)
                .map_err(|e| Error::CannotWrite {
                    what: "the sandbox's kubeconfig",
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })
        }

        /// Stops it and waits for its server and controllers to finish.
        pub(crate) async fn shutdown(mut self) {
            if let Some(sim) = self.0.take() {
                sim.shutdown().await;
            }
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            if let Some(sim) = &self.0 {
                sim.stop();
            }
        }
    }

    /// Starts the demo cluster `--sandbox` runs against (fast controllers,
    /// so a command's waits end soon), and hands over its kubeconfig with
    /// the guard that keeps it running.
    pub(crate) async fn demo() -> Result<Provided> {
        let sim = Simulator::start(SimOptions {
            port: 0,
            seed: Seed::Demo,
            faults: Default::default(),
            timing: Timing::fast(),
        })
        .await
        .map_err(|e| Error::SandboxStart {
            reason: e.to_string(),
        })?;
        let kubeconfig = Kubeconfig::from_yaml(&sim.kubeconfig_yaml(CONTEXT))
            .map_err(|e| Error::BadKubeconfig(e.to_string()))?;
        Ok(Provided {
            kubeconfig,
            context: CONTEXT.into(),
            keep_alive: Arc::new(Guard(Some(sim))),
        })
    }

    /// Starts the cluster `oncall sandbox serve` serves, at realistic speed.
    pub(crate) async fn serve(opts: &ServeOptions) -> Result<Guard> {
        let seed = match (&opts.seed, opts.generated) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path).map_err(|e| Error::CannotRead {
                    what: "seed",
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                Seed::Yaml {
                    text,
                    source: path.display().to_string(),
                }
            }
            (None, Some((nodes, pods_per_node))) => Seed::Generated {
                nodes,
                pods_per_node,
            },
            (None, None) => Seed::Demo,
        };
        let faults = match &opts.faults {
            Some(spec) => FaultSpec::parse(spec).map_err(|e| Error::BadFaults {
                spec: spec.clone(),
                reason: e.to_string(),
            })?,
            None => Default::default(),
        };
        let sim = Simulator::start(SimOptions {
            port: opts.port,
            seed,
            faults,
            timing: Timing::realistic(),
        })
        .await
        .map_err(|e| match e {
            SimError::Seed { .. } => Error::Usage(e.to_string()),
            other => Error::SandboxStart {
                reason: other.to_string(),
            },
        })?;
        Ok(Guard(Some(sim)))
    }
}

/// The same interface in a build without the simulator: every way in
/// refuses, and a guard cannot exist.
#[cfg(not(feature = "sandbox"))]
mod left_out {
    use std::convert::Infallible;
    use std::path::Path;

    use super::ServeOptions;
    use crate::cluster::Provided;
    use crate::error::{Error, Result};

    pub(crate) struct Guard(Infallible);

    impl Guard {
        pub(crate) fn url(&self) -> String {
            match self.0 {}
        }

        pub(crate) fn write_kubeconfig(&self, _path: &Path) -> Result<()> {
            match self.0 {}
        }

        pub(crate) async fn shutdown(self) {
            match self.0 {}
        }
    }

    pub(crate) async fn demo() -> Result<Provided> {
        Err(Error::NoSandbox)
    }

    pub(crate) async fn serve(_opts: &ServeOptions) -> Result<Guard> {
        Err(Error::NoSandbox)
    }
}

#[cfg(test)]
mod tests {
    use crate::error::{Error, exit};

    /// What `--sandbox` and `sandbox serve` answer in a build without the
    /// simulator: one lower-case sentence naming the missing feature and the
    /// ways on, and the usage exit code.
    #[test]
    fn a_build_without_the_simulator_says_so_in_one_sentence() {
        let message = Error::NoSandbox.to_string();
        assert!(message.starts_with("this build of oncall has no sandbox"));
        assert!(message.contains("`sandbox` feature"), "{message}");
        assert!(message.contains("--kubeconfig"), "{message}");
        assert!(
            !message.contains(". ") && !message.ends_with('.'),
            "{message}"
        );
        assert_eq!(Error::NoSandbox.exit_code(), exit::USAGE);
    }

    #[cfg(not(feature = "sandbox"))]
    #[tokio::test]
    async fn without_the_simulator_every_way_in_refuses() {
        assert!(matches!(super::demo().await, Err(Error::NoSandbox)));
        let serve = super::serve(&Default::default()).await;
        assert!(matches!(serve, Err(Error::NoSandbox)));
    }
}
