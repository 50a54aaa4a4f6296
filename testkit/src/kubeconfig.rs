//! Kubeconfig files tests write or edit: a one-context file for a server,
//! a bearer token instead of the current user's credentials, another CA.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_saphyr::from_str(&text).expect("the kubeconfig is YAML")
}

fn write(path: &Path, config: &Value) {
    // JSON is YAML: kube and kubectl read it alike.
    std::fs::write(path, serde_json::to_string_pretty(config).unwrap()).unwrap();
}

/// A kubeconfig of one context `name` for `server`, whose user presents
/// `token`, written to `path`.
pub fn write_for_server(path: &Path, name: &str, server: &str, token: &str) {
    write(
        path,
        &json!({
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": name,
            "clusters": [{"name": name, "cluster": {"server": server}}],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        }),
    );
}

/// The name of the current context's user.
fn current_user(config: &Value) -> String {
    let current = &config["current-context"];
    config["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == *current)
        .expect("the current context exists")["context"]["user"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Replaces the current context's user with a bearer token.
pub fn set_token(path: &Path, token: &str) {
    let mut config = read(path);
    let user = current_user(&config);
    for entry in config["users"].as_array_mut().unwrap() {
        if entry["name"] == user.as_str() {
            entry["user"] = json!({ "token": token });
        }
    }
    write(path, &config);
}

/// Replaces the current context's user with a bearer token read from a
/// file (`tokenFile`), as in-cluster and many CI kubeconfigs give one.
pub fn set_token_file(path: &Path, token_file: &Path) {
    let mut config = read(path);
    let user = current_user(&config);
    for entry in config["users"].as_array_mut().unwrap() {
        if entry["name"] == user.as_str() {
            entry["user"] = json!({ "tokenFile": token_file.display().to_string() });
        }
    }
    write(path, &config);
}

/// The PEM of the CA the kubeconfig trusts.
pub fn ca_pem(path: &Path) -> String {
    let config = read(path);
    let data = config["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .expect("the kubeconfig carries its CA inline");
    String::from_utf8(STANDARD.decode(data).unwrap()).unwrap()
}

/// Makes the kubeconfig trust `ca_pem` instead of the cluster's own CA.
pub fn replace_ca(path: &Path, ca_pem: &str) {
    let mut config = read(path);
    for cluster in config["clusters"].as_array_mut().unwrap() {
        cluster["cluster"]["certificate-authority-data"] = json!(STANDARD.encode(ca_pem));
    }
    write(path, &config);
}

/// Points every cluster of the kubeconfig at `server` (a proxy in front of
/// the cluster).
pub fn set_server(path: &Path, server: &str) {
    let mut config = read(path);
    for cluster in config["clusters"].as_array_mut().unwrap() {
        cluster["cluster"]["server"] = json!(server);
    }
    write(path, &config);
}

/// Makes every cluster of the kubeconfig verify the server's certificate
/// against `name` instead of the server's address (`tls-server-name`).
pub fn set_tls_server_name(path: &Path, name: &str) {
    let mut config = read(path);
    for cluster in config["clusters"].as_array_mut().unwrap() {
        cluster["cluster"]["tls-server-name"] = json!(name);
    }
    write(path, &config);
}

/// Adds a context `name` for a cluster of its own at `server`, with the
/// current context's user, and makes it the current one: commands that
/// forget `--context` then go to `server`.
pub fn switch_to_new_context(path: &Path, name: &str, server: &str) {
    let mut config = read(path);
    let user = current_user(&config);
    config["clusters"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": name, "cluster": {"server": server}}));
    config["contexts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": name, "context": {"cluster": name, "user": user}}));
    config["current-context"] = json!(name);
    write(path, &config);
}

/// Adds a context `alias` with the current context's cluster, user and
/// namespace: another name for the same cluster, as a config environment
/// may name it.
pub fn add_context_alias(path: &Path, alias: &str) {
    let mut config = read(path);
    let current = config["current-context"].clone();
    let context = config["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == current)
        .expect("the current context exists")["context"]
        .clone();
    config["contexts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": alias, "context": context}));
    write(path, &config);
}

/// A kubeconfig a test writes: clusters, users and contexts by name, then
/// the current one.
///
/// ```
/// use oncall_testkit::kubeconfig::Kubeconfig;
/// use serde_json::json;
/// let config = Kubeconfig::new()
///     .cluster("dead", "http://127.0.0.1:1")
///     .user("u", json!({"token": "t"}))
///     .context("a", "dead", "u")
///     .current("a");
/// assert_eq!(config.value()["contexts"][0]["context"]["cluster"], "dead");
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Kubeconfig(Value);

impl Default for Kubeconfig {
    fn default() -> Kubeconfig {
        Kubeconfig::new()
    }
}

impl Kubeconfig {
    pub fn new() -> Kubeconfig {
        Kubeconfig(json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [],
            "users": [],
            "contexts": [],
        }))
    }

    fn add(mut self, list: &str, entry: Value) -> Kubeconfig {
        self.0[list].as_array_mut().unwrap().push(entry);
        self
    }

    pub fn cluster(self, name: &str, server: &str) -> Kubeconfig {
        self.add(
            "clusters",
            json!({"name": name, "cluster": {"server": server}}),
        )
    }

    /// A user and its credentials (`{"token": ...}`, `{"exec": ...}`, `{}`).
    pub fn user(self, name: &str, credentials: Value) -> Kubeconfig {
        self.add("users", json!({"name": name, "user": credentials}))
    }

    pub fn context(self, name: &str, cluster: &str, user: &str) -> Kubeconfig {
        self.add(
            "contexts",
            json!({"name": name, "context": {"cluster": cluster, "user": user}}),
        )
    }

    pub fn current(mut self, context: &str) -> Kubeconfig {
        self.0["current-context"] = json!(context);
        self
    }

    /// Any other field, by JSON pointer (`/clusters/0/cluster/proxy-url`).
    pub fn set(mut self, pointer: &str, value: Value) -> Kubeconfig {
        crate::fixtures::set(&mut self.0, pointer, value);
        self
    }

    pub fn value(&self) -> &Value {
        &self.0
    }

    /// Writes it to `path` and returns the path.
    pub fn write(&self, path: impl AsRef<Path>) -> std::path::PathBuf {
        write(path.as_ref(), &self.0);
        path.as_ref().to_path_buf()
    }
}
