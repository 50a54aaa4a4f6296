//! Reaching the cluster where SREs work: proxies (environment and the
//! kubeconfig's `proxy-url`), servers that never answer, exec credential
//! plugins, merged KUBECONFIG lists, kubectl's connection flags, and the one
//! sentence each failure deserves.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use oncall_testkit::kubeconfig::Kubeconfig;
use serde_json::json;

/// A kubeconfig with one context `c` (namespace `production`) on
/// `server`, whose user presents token `t`; a test sets what it is about.
fn kubeconfig(server: &str) -> Kubeconfig {
    Kubeconfig::new()
        .cluster("c", server)
        .user("u", json!({"token": "t"}))
        .context("c", "c", "u")
        .set("/contexts/0/context/namespace", json!("production"))
        .current("c")
}

/// `oncall ARGS` with KUBECONFIG and a private HOME, nothing else from the
/// environment unless `env` adds it (completion keeps its own time budget).
fn oncall_env(home: &Path, kubeconfig: &Path, args: &[&str], env: &[(&str, &str)]) -> Cmd {
    oncall_in(home)
        .env_remove("ONCALL_COMPLETION_TIMEOUT")
        .kubeconfig(kubeconfig)
        .args(args)
        .envs(env.iter().copied())
}

fn one_line(r: &Run) {
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
}

#[test]
fn a_sandbox_command_works_with_https_proxy_set_and_no_proxy_covering_it() {
    let home = tempfile::tempdir().unwrap();
    // Nothing listens on the proxy's port: any request sent there fails.
    let unused = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://127.0.0.1:{}", unused.local_addr().unwrap().port());
    drop(unused);
    for (var, no_var) in [("HTTPS_PROXY", "NO_PROXY"), ("https_proxy", "no_proxy")] {
        let out = oncall_env(
            home.path(),
            &home.path().join("none"),
            &["--sandbox", "node", "list"],
            &[
                (var, &proxy),
                ("HTTP_PROXY", &proxy),
                (no_var, "127.0.0.1,localhost"),
            ],
        )
        .run();
        let r = out.expect_code(0);
        assert!(r.stdout.contains("gke-demo-pool-a"), "{}", r.stdout);
    }
}

/// As kubectl: `HTTP_PROXY` (either case) carries requests to an http
/// server, `HTTPS_PROXY` does not, and `NO_PROXY` naming the server sends
/// them direct.
#[test]
fn the_environments_proxy_is_used_as_kubectl_uses_it() {
    let h = Harness::demo();
    let (port, tunnels) = proxy(Proxy::Connect);
    let proxy_url = format!("http://127.0.0.1:{port}");
    let sim_port = h.sim().url().rsplit(':').next().unwrap().to_string();
    let home = tempfile::tempdir().unwrap();
    let config = kubeconfig(&format!("http://{INTERNAL_NAME}:{sim_port}"))
        .write(home.path().join("kubeconfig"));
    let list = |env: &[(&str, &str)]| {
        let args = ["--request-timeout", "5s", "node", "list"];
        oncall_env(home.path(), &config, &args, env).run()
    };
    for var in ["HTTP_PROXY", "http_proxy"] {
        let before = tunnels.load(Ordering::SeqCst);
        let r = list(&[(var, &proxy_url)]).expect_code(0);
        assert!(r.stdout.contains("gke-demo-pool-a"), "{var}: {}", r.stdout);
        assert!(
            tunnels.load(Ordering::SeqCst) > before,
            "{var}: not through the proxy"
        );
    }
    let before = tunnels.load(Ordering::SeqCst);
    for env in [
        vec![("HTTPS_PROXY", proxy_url.as_str())],
        vec![("HTTP_PROXY", proxy_url.as_str()), ("NO_PROXY", ".invalid")],
        vec![
            ("http_proxy", proxy_url.as_str()),
            ("no_proxy", INTERNAL_NAME),
        ],
    ] {
        let r = list(&env).expect_code(4);
        one_line(&r);
        assert!(r.stderr.contains(INTERNAL_NAME), "{env:?}: {}", r.stderr);
        assert!(
            !r.stderr.contains("proxy"),
            "{env:?}: went direct: {}",
            r.stderr
        );
    }
    assert_eq!(
        tunnels.load(Ordering::SeqCst),
        before,
        "no tunnel when direct"
    );
}

/// What the test proxy does with each connection.
#[derive(Clone, Copy, PartialEq)]
enum Proxy {
    /// An HTTP CONNECT proxy.
    Connect,
    /// An HTTP proxy that answers every CONNECT with 403.
    Refuse,
    /// A SOCKS5 proxy without authentication.
    Socks5,
}

/// A host name only the test proxy resolves (to 127.0.0.1).
const INTERNAL_NAME: &str = "api.cluster.invalid";

/// A proxy on 127.0.0.1 that counts the tunnels it opens.
fn proxy(kind: Proxy) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tunnels = Arc::new(AtomicUsize::new(0));
    let count = tunnels.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (client, _) = listener.accept().await.unwrap();
                let count = count.clone();
                tokio::spawn(async move {
                    if kind == Proxy::Socks5 {
                        let _ = socks5(client, count).await;
                    } else {
                        tunnel(client, kind == Proxy::Refuse, count).await
                    }
                });
            }
        });
    });
    (port, tunnels)
}

/// RFC 1928, CONNECT only, no authentication.
async fn socks5(mut client: tokio::net::TcpStream, count: Arc<AtomicUsize>) -> Option<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = [0u8; 2];
    client.read_exact(&mut head).await.ok()?;
    let mut methods = vec![0u8; head[1] as usize];
    client.read_exact(&mut methods).await.ok()?;
    client.write_all(&[5, 0]).await.ok()?;
    let mut request = [0u8; 4];
    client.read_exact(&mut request).await.ok()?;
    let host = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await.ok()?;
            std::net::Ipv4Addr::from(ip).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len).await.ok()?;
            let mut name = vec![0u8; len[0] as usize];
            client.read_exact(&mut name).await.ok()?;
            String::from_utf8(name).ok()?
        }
        _ => return None,
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port).await.ok()?;
    let target = format!("{host}:{}", u16::from_be_bytes(port));
    let mut server = tokio::net::TcpStream::connect(target).await.ok()?;
    count.fetch_add(1, Ordering::SeqCst);
    client
        .write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])
        .await
        .ok()?;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    Some(())
}

async fn tunnel(mut client: tokio::net::TcpStream, refuse: bool, count: Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let mut words = head.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
        let _ = client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    };
    if refuse {
        let _ = client
            .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    }
    // Like a corporate proxy, it knows a name the client cannot resolve.
    let target = target.replace(INTERNAL_NAME, "127.0.0.1");
    let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
        let _ = client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    };
    count.fetch_add(1, Ordering::SeqCst);
    let _ = client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

#[test]
fn a_cluster_behind_a_connect_or_socks5_proxy_is_reached_through_its_proxy_url() {
    let h = Harness::demo();
    for (kind, scheme) in [(Proxy::Connect, "http"), (Proxy::Socks5, "socks5")] {
        let (port, tunnels) = proxy(kind);
        let home = tempfile::tempdir().unwrap();
        let config = kubeconfig(&h.sim().url())
            .set(
                "/clusters/0/cluster/proxy-url",
                json!(format!("{scheme}://127.0.0.1:{port}")),
            )
            .write(home.path().join("kubeconfig"));
        let out = oncall_env(home.path(), &config, &["node", "list"], &[]).run();
        let r = out.expect_code(0);
        assert!(r.stdout.contains("gke-demo-pool-a"), "{}", r.stdout);
        assert!(
            tunnels.load(Ordering::SeqCst) >= 1,
            "the request did not go through the {scheme} proxy"
        );
    }
}

/// TLS to the real API server inside the proxy's tunnel.
#[test]
fn real_the_api_server_is_reached_through_a_connect_proxy() {
    let s = Scope::new("proxy");
    let h = Harness::on(Backend::Real, &s, &s.node_yaml("n1", "4", &[]));
    let (port, tunnels) = proxy(Proxy::Connect);
    let text = std::fs::read_to_string(&h.kubeconfig).unwrap();
    let mut config: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    for cluster in config["clusters"].as_array_mut().unwrap() {
        cluster["cluster"]["proxy-url"] = serde_json::json!(format!("http://127.0.0.1:{port}"));
    }
    std::fs::write(&h.kubeconfig, serde_json::to_string(&config).unwrap()).unwrap();
    let r = h
        .oncall(&["node", "list", "-l", &s.node_selector()])
        .expect_code(0);
    assert!(r.stdout.contains(&s.node("n1")), "{}", r.stdout);
    assert!(tunnels.load(Ordering::SeqCst) >= 1);
}

#[test]
fn a_proxy_that_refuses_gets_its_own_message_not_a_login_hint() {
    let h = Harness::demo();
    let (port, tunnels) = proxy(Proxy::Refuse);
    let home = tempfile::tempdir().unwrap();
    let config = kubeconfig(&h.sim().url())
        .set(
            "/clusters/0/cluster/proxy-url",
            json!(format!("http://127.0.0.1:{port}")),
        )
        .write(home.path().join("kubeconfig"));
    let out = oncall_env(home.path(), &config, &["node", "list"], &[]).run();
    let r = out.expect_code(4);
    one_line(&r);
    assert!(
        r.stderr
            .contains(&format!("through the proxy http://127.0.0.1:{port}"))
            && r.stderr.contains("proxy-url"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("log in"), "{}", r.stderr);
    assert_eq!(tunnels.load(Ordering::SeqCst), 0);
}

/// Accepts connections and never answers.
fn black_hole() -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    (port, handle)
}

#[test]
fn a_server_that_never_answers_times_out_with_exit_5_naming_it() {
    let (port, _hole) = black_hole();
    let home = tempfile::tempdir().unwrap();
    let server = format!("http://127.0.0.1:{port}");
    let config = kubeconfig(&server).write(home.path().join("kubeconfig"));
    for timeout in ["2s", "2"] {
        let child = oncall_env(
            home.path(),
            &config,
            &["--request-timeout", timeout, "node", "list"],
            &[],
        )
        .spawn();
        let r = child.finish_within(Duration::from_secs(60)).expect_code(5);
        one_line(&r);
        assert!(
            r.stderr.contains(&format!("the API server at {server}"))
                && r.stderr.contains("did not answer within 2s"),
            "{}",
            r.stderr
        );
    }
}

/// Answers `/version`, and to anything else sends a list's headers and the
/// start of its body, then nothing more: a server or proxy that stalls
/// mid-page. Returns the port and how many answers it left hanging.
fn stalling_body() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stalled = Arc::new(AtomicUsize::new(0));
    let count = stalled.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let count = count.clone();
            std::thread::spawn(move || serve_then_stall(stream, &count));
        }
    });
    (port, stalled)
}

fn serve_then_stall(mut stream: TcpStream, stalled: &AtomicUsize) {
    const VERSION: &str = r#"{"major":"1","minor":"33","gitVersion":"v1.33.0"}"#;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        head.clear();
        if text.starts_with("GET /version") {
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{VERSION}",
                VERSION.len()
            );
            let _ = stream.write_all(answer.as_bytes());
            continue;
        }
        let start =
            r#"{"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":["#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{start}"
        );
        let _ = stream.write_all(answer.as_bytes());
        stalled.fetch_add(1, Ordering::SeqCst);
        // Hold the connection open and say nothing more.
        std::thread::sleep(Duration::from_secs(600));
        return;
    }
}

#[test]
fn a_body_that_stalls_after_the_headers_times_out_with_exit_5_naming_the_server() {
    let (port, stalled) = stalling_body();
    let home = tempfile::tempdir().unwrap();
    let server = format!("http://127.0.0.1:{port}");
    let config = kubeconfig(&server).write(home.path().join("kubeconfig"));
    let child = oncall_env(
        home.path(),
        &config,
        &["--request-timeout", "2s", "node", "list"],
        &[],
    )
    .spawn();
    let r = child.finish_within(Duration::from_secs(60)).expect_code(5);
    one_line(&r);
    assert!(
        r.stderr.contains(&format!("the API server at {server}"))
            && r.stderr.contains("did not answer within 2s"),
        "{}",
        r.stderr
    );
    assert!(stalled.load(Ordering::SeqCst) >= 1, "a list was answered");
}

#[test]
fn a_read_only_command_stops_on_the_first_ctrl_c() {
    let (port, _hole) = black_hole();
    let home = tempfile::tempdir().unwrap();
    let config =
        kubeconfig(&format!("http://127.0.0.1:{port}")).write(home.path().join("kubeconfig"));
    let child = oncall_env(
        home.path(),
        &config,
        &["--request-timeout", "0", "node", "list"],
        &[],
    )
    .spawn();
    // Give it time to install its handler and send the request.
    std::thread::sleep(Duration::from_millis(1500));
    child.signal(libc::SIGINT);
    let r = child
        .finish_within(Duration::from_secs(30))
        .expect_code(130);
    assert!(!r.stderr.contains("Ctrl-C again"), "{}", r.stderr);
}

/// An exec credential plugin that appends a line to `count` on every run,
/// then runs `prints`, the shell that prints its ExecCredential.
fn counting_plugin(dir: &Path, prints: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let count = dir.join("plugin-runs");
    let script = dir.join("plugin.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho run >> '{}'\n{prints}\n", count.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, count)
}

/// The kubeconfig `user` that runs `plugin` for its credential.
fn exec_user(plugin: &Path) -> serde_json::Value {
    json!({"exec": {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": plugin,
        "interactiveMode": "Never",
    }})
}

fn runs(count: &Path) -> usize {
    std::fs::read_to_string(count)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// A kubeconfig whose user is a counting exec plugin whose credential
/// expires at `expires`; returns it with the plugin's run counter.
fn exec_kubeconfig(
    home: &Path,
    server: &str,
    expires: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let token = json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": "from-plugin", "expirationTimestamp": expires},
    });
    // A heredoc, so that `expires` may be a command substitution.
    let (script, count) = counting_plugin(home, &format!("cat <<EOF\n{token}\nEOF"));
    let config = kubeconfig(server)
        .set("/users/0/user", exec_user(&script))
        .write(home.join("kubeconfig"));
    (config, count)
}

#[test]
fn an_exec_plugin_runs_once_per_command_and_once_per_completion() {
    let h = Harness::demo();
    let home = tempfile::tempdir().unwrap();
    let (config, count) = exec_kubeconfig(home.path(), &h.sim().url(), "2099-01-01T00:00:00Z");
    let out = oncall_env(home.path(), &config, &["node", "list"], &[]).run();
    out.expect_code(0);
    assert_eq!(runs(&count), 1, "plugin runs for `node list`");

    let out = oncall_env(
        home.path(),
        &config,
        &["node", "cordon", "gke-demo-pool-a-8f3c2a1d-m4p9", "--yes"],
        &[],
    )
    .run();
    out.expect_code(0);
    assert_eq!(runs(&count), 2, "plugin runs for `node cordon`");

    // `restart <TAB>` lists three kinds of workload.
    let out = oncall_env(
        home.path(),
        &config,
        &["--", "oncall", "restart", ""],
        &[
            ("COMPLETE", "bash"),
            ("_CLAP_COMPLETE_INDEX", "2"),
            ("_CLAP_COMPLETE_COMP_TYPE", "9"),
            ("_CLAP_COMPLETE_SPACE", "true"),
            ("_CLAP_IFS", "\n"),
            ("ONCALL_COMPLETION_TIMEOUT", "30s"),
        ],
    )
    .run();
    let text = out.stdout.clone();
    assert!(
        text.contains("deployment/"),
        "completion offers workloads: {text}"
    );
    assert_eq!(runs(&count), 3, "plugin runs for one completion");
}

/// A cloud credential plugin often takes longer than completion's whole
/// budget: the budget starts once the credential is in hand, so names still
/// come, and one completion (three kinds of workload, listed at once) runs
/// the plugin once.
#[test]
fn a_completion_survives_a_slow_exec_plugin_and_runs_it_once() {
    let h = Harness::demo();
    let home = tempfile::tempdir().unwrap();
    let (config, count) = exec_kubeconfig(home.path(), &h.sim().url(), "2099-01-01T00:00:00Z");
    let script = home.path().join("plugin.sh");
    let slow = std::fs::read_to_string(&script).unwrap().replacen(
        "#!/bin/sh\n",
        "#!/bin/sh\nsleep 2\n",
        1,
    );
    std::fs::write(&script, slow).unwrap();
    let out = oncall_env(
        home.path(),
        &config,
        &["--", "oncall", "-n", "production", "restart", "fr"],
        &[
            ("COMPLETE", "bash"),
            ("_CLAP_COMPLETE_INDEX", "4"),
            ("_CLAP_IFS", "\n"),
        ],
    )
    .run();
    let text = out.stdout.clone();
    assert_eq!(text, "frontend", "completion waits for the credential");
    assert_eq!(runs(&count), 1, "plugin runs for one completion");
}

/// bash runs a completion with the terminal as its stdin, where a plugin's
/// login prompt would garble the line being edited: during completion the
/// plugin is told it is not interactive, even when its mode allows it.
#[test]
fn a_credential_plugin_never_prompts_during_completion() {
    let h = Harness::demo();
    let home = tempfile::tempdir().unwrap();
    let (config, _) = exec_kubeconfig(home.path(), &h.sim().url(), "2099-01-01T00:00:00Z");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("interactiveMode: Never", "interactiveMode: IfAvailable"),
    )
    .unwrap();
    let script = home.path().join("plugin.sh");
    let info = home.path().join("exec-info");
    let recording = std::fs::read_to_string(&script).unwrap().replacen(
        "#!/bin/sh\n",
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$KUBERNETES_EXEC_INFO\" >> '{}'\n",
            info.display()
        ),
        1,
    );
    std::fs::write(&script, recording).unwrap();
    // A terminal for stdin, as bash gives a completion.
    let out = oncall_in(home.path())
        .args(["--", "oncall", "node", "drain", ""])
        .kubeconfig(&config)
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "3")
        .env("_CLAP_IFS", "\n")
        .env("ONCALL_COMPLETION_TIMEOUT", "30s")
        .pty()
        .run();
    let text = out.stdout.clone();
    assert!(text.contains("gke-demo-pool-a-8f3c2a1d-m4p9"), "{text}");
    let info = std::fs::read_to_string(&info).unwrap();
    assert!(info.contains("\"interactive\":false"), "{info}");
}

/// A credential that has expired is fetched again before the next request.
#[test]
fn an_expired_exec_credential_is_fetched_again() {
    let h = Harness::demo();
    let home = tempfile::tempdir().unwrap();
    let (config, count) = exec_kubeconfig(home.path(), &h.sim().url(), "2000-01-01T00:00:00Z");
    let out = oncall_env(home.path(), &config, &["node", "list"], &[]).run();
    out.expect_code(0);
    // `node list` asks for the version, the nodes and the pods.
    assert!(runs(&count) >= 3, "plugin ran {} times", runs(&count));
}

/// A credential that expires while a command runs (a drain of an hour) is
/// fetched again for the requests after its expiry, not sent stale: the
/// plugin's `expirationTimestamp` (computed when it runs) is 11 s ahead,
/// inside the 10 s margin after a second, and every answer takes longer.
#[test]
fn a_credential_that_expires_mid_command_is_fetched_again() {
    let h = Harness::demo();
    let home = tempfile::tempdir().unwrap();
    let (config, count) = exec_kubeconfig(
        home.path(),
        &h.sim().url(),
        "$(date -u -d '+11 seconds' +%Y-%m-%dT%H:%M:%SZ)",
    );
    h.sim()
        .set_faults(FaultSpec::parse("latency=1500ms").expect("fault spec"));
    let run = oncall_env(home.path(), &config, &["node", "list"], &[])
        .run()
        .expect_code(0);
    assert!(
        run.stdout.contains("gke-demo-pool-a-8f3c2a1d-m4p9"),
        "{}",
        run.stdout
    );
    // Once when the command starts, and again once the first answer came
    // after the credential had gone stale.
    assert!(runs(&count) >= 2, "plugin ran {} times", runs(&count));
}

/// A client certificate from a plugin is presented once per connection, so
/// when it expires mid-command the plugin runs again and new connections
/// present the new one. Real control plane only: the simulator does not ask
/// for client certificates. The plugin hands out the test bed's admin
/// certificate with an `expirationTimestamp` 5 s ahead, always inside the
/// 10 s margin: each request of `node list` finds it stale.
#[test]
fn real_a_client_certificate_from_a_plugin_is_renewed_when_it_expires() {
    use base64::Engine as _;
    let s = Scope::new("certplugin");
    let h = Harness::on(Backend::Real, &s, &s.node_yaml("n1", "4", &[]));
    let text = std::fs::read_to_string(&h.kubeconfig).unwrap();
    let mut config: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let user = &mut config["users"][0]["user"];
    let pem = |field: &str| {
        let data = user[field].as_str().unwrap_or_else(|| panic!("no {field}"));
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap(),
        )
        .unwrap()
    };
    let credential = json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {
            "clientCertificateData": pem("client-certificate-data"),
            "clientKeyData": pem("client-key-data"),
            "expirationTimestamp": "EXPIRES",
        },
    });
    let dir = h.home.path();
    let template = dir.join("credential.json");
    std::fs::write(&template, credential.to_string()).unwrap();
    let (script, count) = counting_plugin(
        dir,
        &format!(
            "sed \"s/EXPIRES/$(date -u -d '+5 seconds' +%Y-%m-%dT%H:%M:%SZ)/\" '{}'",
            template.display()
        ),
    );
    *user = exec_user(&script);
    std::fs::write(&h.kubeconfig, config.to_string()).unwrap();

    let run = h
        .oncall(&["node", "list", "-l", &s.node_selector()])
        .expect_code(0);
    assert!(run.stdout.contains(&s.node("n1")), "{}", run.stdout);
    // Once when the command started, and again for the requests made once
    // the certificate was stale; the server took the new connections.
    assert!(runs(&count) >= 2, "plugin ran {} times", runs(&count));
}

#[test]
fn a_missing_file_in_kubeconfig_is_skipped_and_an_empty_current_context_is_unset() {
    let h = Harness::demo();
    let home = tempfile::tempdir().unwrap();
    let first = home.path().join("first");
    // Written out: the empty `current-context` string is the point.
    std::fs::write(
        &first,
        "apiVersion: v1\nkind: Config\ncurrent-context: \"\"\n",
    )
    .unwrap();
    let list = std::env::join_paths([
        home.path().join("does-not-exist"),
        first,
        h.kubeconfig.clone(),
    ])
    .unwrap();
    let out = oncall_env(home.path(), Path::new(&list), &["node", "list"], &[]).run();
    let r = out.expect_code(0);
    assert!(r.stdout.contains("gke-demo-pool-a"), "{}", r.stdout);
}

#[test]
fn a_broken_kubeconfig_is_one_sentence_naming_file_and_line() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join("kubeconfig");
    // Written out: the unclosed bracket on line 5 is the point.
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: [\n",
    )
    .unwrap();
    let out = oncall_env(home.path(), &path, &["node", "list"], &[]).run();
    let r = out.expect_code(2);
    one_line(&r);
    assert!(
        r.stderr.contains(&format!("{}:", path.display())),
        "{}",
        r.stderr
    );
}

#[test]
fn server_cluster_and_user_flags_pick_what_the_kubeconfig_does_not() {
    let h = Harness::demo();
    let home = tempfile::tempdir().unwrap();
    let (port, _hole) = black_hole();
    let config = home.path().join("kubeconfig");
    Kubeconfig::new()
        .cluster("dead", &format!("http://127.0.0.1:{port}"))
        .cluster("live", &h.sim().url())
        .user("u", json!({"token": "t"}))
        .user("other", json!({"token": "o"}))
        .context("c", "dead", "u")
        .current("c")
        .write(&config);
    let list = |extra: &[&str]| {
        let mut args = vec!["--request-timeout", "3s"];
        args.extend_from_slice(extra);
        args.extend(["node", "list"]);
        oncall_env(home.path(), &config, &args, &[]).run()
    };
    list(&[]).expect_code(5);
    let url = h.sim().url();
    for flags in [
        vec!["--server", url.as_str()],
        vec!["--cluster", "live"],
        vec!["--cluster", "live", "--user", "other"],
        vec!["--server", url.as_str(), "--token", "another"],
    ] {
        let r = list(&flags).expect_code(0);
        assert!(
            r.stdout.contains("gke-demo-pool-a"),
            "{flags:?}: {}",
            r.stdout
        );
    }
    let r = list(&["--cluster", "nowhere"]).expect_code(2);
    assert!(
        r.stderr
            .contains("cluster `nowhere` is not in the kubeconfig"),
        "{}",
        r.stderr
    );
    let r = list(&["--user", "nobody"]).expect_code(2);
    assert!(
        r.stderr.contains("user `nobody` is not in the kubeconfig"),
        "{}",
        r.stderr
    );
}

/// Serves one fixed HTTP answer to every request.
fn fixed_answer(answer: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    port
}

#[test]
fn a_proxys_html_error_page_is_one_sentence_and_exit_4() {
    const PAGE: &str = "<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
    let answer: &'static str = Box::leak(
        format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{PAGE}",
            PAGE.len()
        )
        .into_boxed_str(),
    );
    let port = fixed_answer(answer);
    let home = tempfile::tempdir().unwrap();
    let config =
        kubeconfig(&format!("http://127.0.0.1:{port}")).write(home.path().join("kubeconfig"));
    let out = oncall_env(home.path(), &config, &["node", "list"], &[]).run();
    let r = out.expect_code(4);
    one_line(&r);
    assert!(
        r.stderr
            .contains("400 No required SSL certificate was sent")
            && r.stderr.contains("web page")
            && !r.stderr.contains("<html"),
        "{}",
        r.stderr
    );
}

#[test]
fn without_user_set_the_os_user_and_the_kubernetes_identity_are_recorded() {
    let h = Harness::demo();
    let node = "gke-demo-pool-a-8f3c2a1d-m4p9";
    let out = h
        .cmd()
        .args(["node", "cordon", node, "--yes", "--reason", "test"])
        .env_remove("USER")
        .run();
    out.expect_code(0);
    let me = os_user();
    let annotations = &h.get("nodes", None, node).unwrap()["metadata"]["annotations"];
    assert_eq!(annotations["oncall.dev/cordoned-by"], me.as_str());
    // The simulator does not serve SelfSubjectReview: the kubeconfig's user.
    assert_eq!(annotations["oncall.dev/cordoned-as"], "sandbox");
    let audit = h.audit_entries();
    let last = audit.last().unwrap();
    assert_eq!(last["user"], me.as_str());
    assert_eq!(last["kube_user"], "sandbox");
}

/// `-v` shows each request with its status and time, `-vv` its headers
/// with the credential hidden, and `RUST_LOG` decides when set; all of it
/// on stderr, so stdout stays what a script parses.
#[test]
fn verbose_logs_each_request_and_never_the_credential() {
    const TOKEN: &str = "s3cr3t-Token-6172";
    let h = Harness::demo();
    let home = tempfile::tempdir().unwrap();
    let config = kubeconfig(&h.sim().url())
        .set("/users/0/user/token", json!(TOKEN))
        .write(home.path().join("kubeconfig"));
    let list = |args: &[&str], env: &[(&str, &str)]| {
        let args = [args, &["node", "list", "-o", "json"]].concat();
        let r = oncall_env(home.path(), &config, &args, env)
            .run()
            .expect_code(0);
        let _: serde_json::Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("stdout is JSON alone ({e}): {}", r.stdout));
        assert!(!r.stdout.contains(TOKEN) && !r.stderr.contains(TOKEN));
        r.stderr
    };
    let request = |stderr: &str| {
        stderr
            .lines()
            .any(|l| l.contains("GET ") && l.contains("/api/v1/nodes") && l.contains("200 OK in "))
    };
    let quiet = list(&[], &[]);
    assert!(!request(&quiet), "{quiet}");
    let v = list(&["-v"], &[]);
    assert!(request(&v), "each request with its status and time: {v}");
    assert!(!v.contains("response headers:"), "headers only at -vv: {v}");
    let vv = list(&["-vv"], &[]);
    assert!(request(&vv), "{vv}");
    assert!(
        vv.contains("accept: ") && vv.contains("response headers:"),
        "the headers of each request and answer: {vv}"
    );
    assert!(
        vv.contains("authorization: Bearer <redacted>"),
        "the credential sent, by kind only: {vv}"
    );
    let logged = list(&[], &[("RUST_LOG", "oncall::http=info")]);
    assert!(
        request(&logged),
        "RUST_LOG alone turns the log on: {logged}"
    );
}
