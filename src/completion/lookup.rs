//! Names read from the live cluster for one completion: one connection (so
//! one run of an exec credential plugin), shared by every look-up, and a
//! time budget after which the shell gets what is known, or nothing.
//!
//! The budget starts once the credential is in hand: a cloud plugin
//! (`gke-gcloud-auth-plugin`, `aws eks get-token`) often takes longer than the
//! whole budget, and counting it would leave every completion empty on
//! exactly the clusters where typing names is hardest.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

use super::line;
use crate::cluster::list::{self, ListQuery};
use crate::cluster::{self, Cluster};

/// How long the API requests of one completion may take in all.
const DEFAULT_BUDGET: Duration = Duration::from_secs(1);

/// How long reading the kubeconfig and running a credential plugin may take.
const CREDENTIAL_BUDGET: Duration = Duration::from_secs(10);

/// The budget: `ONCALL_COMPLETION_TIMEOUT` (a VPN to a far-away cluster may
/// need more, an impatient user less), else one second.
fn budget() -> Duration {
    std::env::var("ONCALL_COMPLETION_TIMEOUT")
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .unwrap_or(DEFAULT_BUDGET)
}

fn runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()
        })
        .as_ref()
}

/// The connection the line's global flags describe, and when its budget
/// ends; `None` when it cannot be made in time.
async fn connection() -> Option<&'static (Cluster, Instant)> {
    static CLUSTER: OnceCell<Option<(Cluster, Instant)>> = OnceCell::const_new();
    CLUSTER
        .get_or_init(|| async {
            cluster::never_interactive();
            let globals = line::globals();
            let connected = tokio::time::timeout(CREDENTIAL_BUDGET, crate::app::connect(&globals));
            let cluster = connected.await.ok()?.ok()?;
            Some((cluster, Instant::now() + budget()))
        })
        .await
        .as_ref()
}

#[derive(serde::Deserialize)]
struct NameOnly {
    metadata: Meta,
}

#[derive(serde::Deserialize)]
struct Meta {
    name: String,
}

/// The names in each collection `paths` gives for the connection (listed
/// at once), in the same order; a collection that fails or does not arrive
/// within the budget has none, rather than an error in the shell.
pub(super) fn names(paths: impl FnOnce(&Cluster) -> Vec<String>) -> Vec<Vec<String>> {
    let Some(runtime) = runtime() else {
        return Vec::new();
    };
    runtime.block_on(async {
        let Some((cluster, deadline)) = connection().await else {
            return Vec::new();
        };
        let lists = paths(cluster).into_iter().map(|path| async move {
            let query = ListQuery::new(path);
            let listed = list::collect::<NameOnly>(&cluster.client, &query);
            match tokio::time::timeout_at(*deadline, listed).await {
                Ok(Ok((items, _))) => items.into_iter().map(|i| i.metadata.name).collect(),
                _ => Vec::new(),
            }
        });
        futures::future::join_all(lists).await
    })
}

/// The names in one collection.
pub(super) fn names_in(path: impl FnOnce(&Cluster) -> String) -> Vec<String> {
    names(|c| vec![path(c)]).into_iter().flatten().collect()
}
