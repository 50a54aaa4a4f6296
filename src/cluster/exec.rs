//! Exec credential plugins (`gke-gcloud-auth-plugin`, `aws eks get-token`,
//! `kubelogin`…), run once and shared by every connection of the process.
//!
//! kube-rs runs the plugin several times for each client it builds and again
//! whenever it likes; a plugin that takes a second then costs seconds per
//! command and per completion. Here the credential is cached with its
//! `expirationTimestamp` and the plugin only runs again once it has expired.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use kube::config::{AuthInfo, ExecConfig, ExecInteractiveMode};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

/// What a plugin gave: a bearer token or a client certificate, and until when.
#[derive(Clone)]
pub(super) struct Credential {
    pub token: Option<String>,
    pub client_certificate_data: Option<String>,
    pub client_key_data: Option<String>,
    pub expires: Option<DateTime<Utc>>,
}

impl Credential {
    fn is_stale(&self) -> bool {
        self.expires.is_some_and(is_stale)
    }
}

/// Expires at `t`, or is about to: a request made now might arrive too late.
pub(super) fn is_stale(t: DateTime<Utc>) -> bool {
    t <= Utc::now() + chrono::Duration::seconds(10)
}

/// How a plugin's credential is kept fresh for the rest of the command.
pub(super) enum Renewal {
    /// A bearer token: `bearer::BearerLayer` puts the current one on each
    /// request.
    Token(ExecConfig),
    /// A client certificate that expires: `renew::RenewingTls` builds new
    /// connections with the next one.
    Certificate {
        exec: ExecConfig,
        expires: DateTime<Utc>,
    },
}

/// The plugin's failure, in words the user can act on.
#[derive(Debug, thiserror::Error)]
#[error("the credential plugin `{command}` failed: {reason}")]
pub(super) struct PluginError {
    pub command: String,
    pub reason: String,
}

type Cache = Mutex<HashMap<String, Credential>>;

static NEVER_INTERACTIVE: AtomicBool = AtomicBool::new(false);

/// Plugins of this process must not talk to the terminal (shell completion).
pub fn never_interactive() {
    NEVER_INTERACTIVE.store(true, Ordering::Relaxed);
}

/// Credentials by plugin invocation, for the whole process: every connection
/// (and every look-up of one completion) with the same plugin shares them.
fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The credential for `exec`: cached, or fresh from the plugin. The lock is
/// held while the plugin runs, so concurrent requests wait for one run.
pub(super) async fn credential(exec: &ExecConfig) -> Result<Credential, PluginError> {
    let key = serde_json::to_string(exec).unwrap_or_default();
    let mut cache = cache().lock().await;
    if let Some(c) = cache.get(&key).filter(|c| !c.is_stale()) {
        return Ok(c.clone());
    }
    let fresh = run(exec).await?;
    cache.insert(key, fresh.clone());
    Ok(fresh)
}

/// Replaces the plugin in `auth` with what it gives, so kube-rs never runs
/// it, and says how to keep that credential fresh: `None` when it never
/// expires (or there is no plugin).
pub(super) async fn resolve(auth: &mut AuthInfo) -> Result<Option<Renewal>, PluginError> {
    let Some(exec) = auth.exec.take() else {
        return Ok(None);
    };
    let credential = credential(&exec).await?;
    if present_certificate(auth, &credential) {
        return Ok(credential
            .expires
            .map(|expires| Renewal::Certificate { exec, expires }));
    }
    Ok(Some(Renewal::Token(exec)))
}

/// Puts the plugin's client certificate into `auth`'s TLS identity; false
/// when the plugin gave none.
pub(super) fn present_certificate(auth: &mut AuthInfo, credential: &Credential) -> bool {
    let (Some(cert), Some(key)) = (
        &credential.client_certificate_data,
        &credential.client_key_data,
    ) else {
        return false;
    };
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    auth.client_certificate_data = Some(b64.encode(cert));
    auth.client_key_data = Some(b64.encode(key).into());
    true
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecInfo<'a> {
    api_version: Option<&'a str>,
    kind: &'static str,
    spec: ExecSpec<'a>,
}

#[derive(Serialize)]
struct ExecSpec<'a> {
    interactive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<&'a kube::config::ExecAuthCluster>,
}

#[derive(Deserialize)]
struct ExecOutput {
    status: Option<ExecStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecStatus {
    token: Option<String>,
    expiration_timestamp: Option<String>,
    client_certificate_data: Option<String>,
    client_key_data: Option<String>,
}

async fn run(exec: &ExecConfig) -> Result<Credential, PluginError> {
    let command = exec.command.clone().unwrap_or_default();
    let fail = |reason: String| PluginError {
        command: command.clone(),
        reason,
    };
    if command.is_empty() {
        return Err(fail("the kubeconfig names no command".into()));
    }
    let mut cmd = tokio::process::Command::new(&command);
    cmd.args(exec.args.iter().flatten());
    for pair in exec.env.iter().flatten() {
        if let (Some(name), Some(value)) = (pair.get("name"), pair.get("value")) {
            cmd.env(name, value);
        }
    }
    for name in exec.drop_env.iter().flatten() {
        cmd.env_remove(name);
    }
    // As client-go: interactive only when there is a terminal to talk to,
    // and never during shell completion (bash's stdin is the terminal then,
    // but a login prompt would garble the line being edited).
    let interactive = exec.interactive_mode != Some(ExecInteractiveMode::Never)
        && std::io::stdin().is_terminal()
        && !NEVER_INTERACTIVE.load(Ordering::Relaxed);
    if interactive {
        cmd.stdin(std::process::Stdio::inherit())
            .stderr(std::process::Stdio::inherit());
    } else {
        cmd.stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
    }
    let info = ExecInfo {
        api_version: exec.api_version.as_deref(),
        kind: "ExecCredential",
        spec: ExecSpec {
            interactive,
            cluster: exec
                .provide_cluster_info
                .then_some(exec.cluster.as_ref())
                .flatten(),
        },
    };
    cmd.env(
        "KUBERNETES_EXEC_INFO",
        serde_json::to_string(&info).unwrap_or_default(),
    );
    let out = cmd.output().await.map_err(|e| {
        let hint = exec
            .install_hint
            .as_deref()
            .map(|h| format!(" ({})", h.trim()))
            .unwrap_or_default();
        fail(format!("cannot start it: {e}{hint}"))
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        return Err(fail(match last {
            Some(line) => format!("{} ({})", out.status, line.trim()),
            None => out.status.to_string(),
        }));
    }
    let parsed: ExecOutput = serde_saphyr::from_slice(&out.stdout)
        .map_err(|_| fail("its output is not an ExecCredential".into()))?;
    let status = parsed
        .status
        .ok_or_else(|| fail("its ExecCredential has no status".into()))?;
    let expires = match status.expiration_timestamp {
        Some(t) => Some(
            DateTime::parse_from_rfc3339(&t)
                .map_err(|_| fail(format!("its expirationTimestamp `{t}` is not a time")))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    Ok(Credential {
        token: status.token,
        client_certificate_data: status.client_certificate_data,
        client_key_data: status.client_key_data,
        expires,
    })
}
