//! The test harness shared by oncall's integration tests (`tests/`) and the
//! simulator's (`sim/tests/`):
//!
//! - [`Cmd`], the one way tests start a program: arguments, environment,
//!   stdin, a pseudo-terminal when the program must believe a person is
//!   there, and a [`Run`] whose `expect_exit` shows the command line and
//!   both streams when it fails;
//! - [`Kubectl`], the real kubectl pointed at a test cluster with a private
//!   discovery cache, and [`kubeconfig`] helpers for the files tests write
//!   or edit;
//! - [`fixtures`], builders for the nodes and workloads scenarios seed a
//!   cluster with (the simulator and the real control plane alike).

pub mod cmd;
pub mod dns;
pub mod fixtures;
pub mod kubeconfig;
pub mod kubectl;
mod pty;

pub use cmd::{Background, Cmd, Run};
pub use kubectl::{Kubectl, kubectl_path};

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where `name` is on PATH, if it is.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Polls `check` until it holds or `timeout` passes; returns whether it held.
/// For waiting on controllers, not for timing assertions.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}
