//! The real kubectl, pointed at a test cluster: its kubeconfig, and a
//! discovery cache and HOME of its own so that no run reads another's cache
//! (a fresh random port per cluster would otherwise meet a stale one).

use std::path::{Path, PathBuf};

use crate::{Cmd, Run};

/// The kubectl on PATH; tests that need it fail loudly without it.
pub fn kubectl_path() -> PathBuf {
    crate::which("kubectl").expect("kubectl is required on PATH for the fidelity tests")
}

/// kubectl for one test cluster.
#[derive(Clone, Debug)]
pub struct Kubectl {
    kubeconfig: PathBuf,
    home: PathBuf,
}

impl Kubectl {
    /// kubectl reading `kubeconfig`, with `home` as HOME and its cache under it.
    pub fn new(kubeconfig: impl AsRef<Path>, home: impl AsRef<Path>) -> Kubectl {
        Kubectl {
            kubeconfig: kubeconfig.as_ref().to_path_buf(),
            home: home.as_ref().to_path_buf(),
        }
    }

    /// `kubectl --kubeconfig K --cache-dir C`, ready for its arguments. The
    /// machine's environment stays (kubectl may be a dispatcher that needs it).
    pub fn cmd(&self) -> Cmd {
        Cmd::new(kubectl_path())
            .inherit_env()
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.home.join("kube-cache"))
            .env("HOME", &self.home)
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.cmd().args(args).run()
    }
}
