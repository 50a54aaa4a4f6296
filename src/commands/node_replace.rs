//! `oncall node replace` and `oncall node rotate`.

use crate::app::App;
use crate::cli::{NodeTargets, ReplaceFlags};
use crate::cluster::Cluster;
use crate::error::{Error, Result};

pub async fn replace(
    _app: &App,
    _cluster: &Cluster,
    _t: &NodeTargets,
    _flags: &ReplaceFlags,
) -> Result<()> {
    Err(Error::NotYetAvailable("node replace"))
}

pub async fn rotate(
    _app: &App,
    _cluster: &Cluster,
    _selector: &str,
    _batch: usize,
    _no_terminate: bool,
    _flags: &ReplaceFlags,
) -> Result<()> {
    Err(Error::NotYetAvailable("node rotate"))
}
