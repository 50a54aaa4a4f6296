//! pods/exec over the Kubernetes websocket stream protocol
//! (`v5.channel.k8s.io`, falling back to `v4.channel.k8s.io`): each binary
//! message starts with a channel byte (1 stdout, 2 stderr, 3 status). The
//! output and exit code come from the `sim.oncall.dev/exec` annotation or a
//! few built-in commands.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::request::Parts;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::Shared;
use crate::errors::ApiError;
use crate::knobs::ANNOTATION_EXEC;
use crate::store::res;
use crate::util::{self, str_at};

const PROTOCOLS: [&str; 4] = [
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "channel.k8s.io",
];

/// The result of running a command: stdout, stderr, exit code.
pub(super) struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: i64,
}

/// What a command prints in this pod: a scripted line (longest matching
/// prefix wins) or a built-in.
pub(super) fn run_command(pod: &Value, container: &str, cmd: &[String]) -> Outcome {
    let line = cmd.join(" ");
    let name = str_at(pod, &["metadata", "name"]);
    let script = pod["metadata"]["annotations"][ANNOTATION_EXEC]
        .as_str()
        .unwrap_or("");
    let best = script
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, "=>").map(str::trim);
            let prefix = parts.next()?;
            let code = parts.next()?.parse::<i64>().ok()?;
            let out = parts.next().unwrap_or("");
            (!prefix.is_empty() && line.starts_with(prefix)).then_some((prefix.len(), code, out))
        })
        .max_by_key(|(len, _, _)| *len);
    if let Some((_, code, out)) = best {
        let mut text = out
            .replace("\\n", "\n")
            .replace("\\t", "\t")
            .replace("$(POD_NAME)", name);
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        return if code == 0 {
            Outcome {
                stdout: text,
                stderr: String::new(),
                code,
            }
        } else {
            Outcome {
                stdout: String::new(),
                stderr: text,
                code,
            }
        };
    }
    let ok = |s: String| Outcome {
        stdout: s,
        stderr: String::new(),
        code: 0,
    };
    let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["true"] => ok(String::new()),
        ["false"] => Outcome {
            stdout: String::new(),
            stderr: String::new(),
            code: 1,
        },
        ["echo", rest @ ..] => ok(format!("{}\n", rest.join(" "))),
        ["hostname"] => ok(format!("{name}\n")),
        ["date"] => ok(format!(
            "{}\n",
            util::now().format("%a %b %e %H:%M:%S UTC %Y")
        )),
        ["env"] | ["printenv"] => {
            let mut s = format!(
                "HOSTNAME={name}\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
            );
            for c in pod["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["name"] == container)
            {
                for e in c["env"].as_array().into_iter().flatten() {
                    if let Some(v) = e["value"].as_str() {
                        s.push_str(&format!("{}={v}\n", str_at(e, &["name"])));
                    }
                }
            }
            ok(s)
        }
        ["sh" | "bash" | "/bin/sh" | "/bin/bash", "-c", script] => run_command(
            pod,
            container,
            &script
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>(),
        ),
        [first, ..] => Outcome {
            stdout: String::new(),
            stderr: format!(
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{first}\": executable file not found in $PATH: unknown\n"
            ),
            code: 126,
        },
        [] => Outcome {
            stdout: String::new(),
            stderr: "you must specify at least one command for the container\n".into(),
            code: 1,
        },
    }
}

fn status_message(cmd: &[String], code: i64) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", cmd.join(" ")),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(Bytes::from(v))
}

/// How long a command takes to start, as a kubelet's exec of a process
/// does. client-go creates its stream pipes while it already reads the
/// connection and drops a frame for a stream it has not created yet, so
/// output sent the instant the connection is upgraded could be lost.
const PROCESS_START: std::time::Duration = std::time::Duration::from_millis(100);

async fn session(mut socket: WebSocket, protocol: String, cmd: Vec<String>, out: Outcome) {
    tokio::time::sleep(PROCESS_START).await;
    if !out.stdout.is_empty() {
        let _ = socket.send(frame(1, out.stdout.as_bytes())).await;
    }
    if !out.stderr.is_empty() {
        let _ = socket.send(frame(2, out.stderr.as_bytes())).await;
    }
    if protocol != "channel.k8s.io" {
        let st = serde_json::to_vec(&status_message(&cmd, out.code)).expect("json");
        let _ = socket.send(frame(3, &st)).await;
    }
    let _ = socket
        .send(Message::Close(Some(axum::extract::ws::CloseFrame {
            code: 1000,
            reason: "".into(),
        })))
        .await;
    // Let the client read everything and answer the close.
    while let Some(Ok(m)) = socket.recv().await {
        if matches!(m, Message::Close(_)) {
            break;
        }
    }
}

/// Handle an exec upgrade request. `pairs` are the decoded query pairs
/// (`command` repeats, so a map would lose arguments).
pub(super) async fn exec(
    sh: &Arc<Shared>,
    parts: &mut Parts,
    ns: &str,
    name: &str,
    pairs: &[(String, String)],
) -> Result<Response, ApiError> {
    let pod = sh
        .store
        .get_value(res("pods"), ns, name)
        .ok_or_else(|| ApiError::not_found("", "pods", name))?;
    let cmd: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    let container = pairs
        .iter()
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| str_at(&pod["spec"]["containers"][0], &["name"]).to_string());
    let running = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["name"] == container.as_str() && c["state"]["running"].is_object());
    if !running {
        return Err(ApiError::bad_request(format!(
            "container not found (\"{container}\")"
        )));
    }
    let ws = WebSocketUpgrade::from_request_parts(parts, &())
        .await
        .map_err(|_| ApiError::bad_request("Upgrade request required"))?;
    let ws = ws.protocols(PROTOCOLS);
    let protocol = ws
        .selected_protocol()
        .and_then(|p| p.to_str().ok())
        .unwrap_or("channel.k8s.io")
        .to_string();
    let out = run_command(&pod, &container, &cmd);
    Ok(ws.on_upgrade(move |socket| session(socket, protocol, cmd, out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_and_builtin_commands() {
        let pod = json!({"metadata": {"name": "rabbitmq-0", "annotations": {ANNOTATION_EXEC:
            "rabbitmq-diagnostics maybe_stuck => 0 => There are 0 stuck processes.\\nDone.\nfail => 3 => boom"}},
            "spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": "1"}]}]}});
        let cmd = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let o = run_command(&pod, "c", &cmd("rabbitmq-diagnostics maybe_stuck -q"));
        assert_eq!(
            (o.code, o.stdout.as_str()),
            (0, "There are 0 stuck processes.\nDone.\n")
        );
        let o = run_command(&pod, "c", &cmd("fail now"));
        assert_eq!((o.code, o.stderr.as_str()), (3, "boom\n"));
        assert_eq!(
            run_command(&pod, "c", &cmd("hostname")).stdout,
            "rabbitmq-0\n"
        );
        assert!(run_command(&pod, "c", &cmd("env")).stdout.contains("A=1"));
        assert_eq!(run_command(&pod, "c", &cmd("nope")).code, 126);
        let st = status_message(&cmd("x"), 2);
        assert_eq!(st["details"]["causes"][0]["message"], "2");
    }
}
