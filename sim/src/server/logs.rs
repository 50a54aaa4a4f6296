//! pods/log: scripted container logs (annotations, or plausible defaults
//! derived from the image, with a stack trace for crashing containers).

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::Value;

use super::Req;
use std::sync::Arc;
use std::time::Duration;

use crate::Shared;
use crate::errors::ApiError;
use crate::knobs::{ANNOTATION_LOGS, ANNOTATION_PREVIOUS_LOGS};
use crate::util::str_at;

fn default_lines(pod: &Value, container: &str, previous: bool, status: &Value) -> String {
    let image = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            pod["spec"]["initContainers"]
                .as_array()
                .into_iter()
                .flatten(),
        )
        .find(|c| c["name"] == container)
        .map(|c| str_at(c, &["image"]).to_string())
        .unwrap_or_default();
    let started = str_at(status, &["state", "running", "startedAt"]);
    let started = if started.is_empty() {
        str_at(pod, &["metadata", "creationTimestamp"])
    } else {
        started
    };
    let app = image
        .rsplit('/')
        .next()
        .unwrap_or(&image)
        .split(':')
        .next()
        .unwrap_or("app")
        .to_string();
    let version = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest");
    let last_exit = status["lastState"]["terminated"]["reason"]
        .as_str()
        .unwrap_or("");
    if previous {
        if last_exit == "OOMKilled" {
            return format!(
                "{started} INFO starting {app} version={version}\n{started} INFO loading cache into memory\n{started} WARN heap usage at 94% of limit\n"
            );
        }
        return format!(
            "{started} INFO starting {app} version={version}\n{started} INFO connecting to database host=db.internal port=5432\npanic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6b2f4c]\n\ngoroutine 1 [running]:\nmain.(*Server).loadConfig(0x0)\n\t/src/cmd/{app}/config.go:88 +0x2c\nmain.main()\n\t/src/cmd/{app}/main.go:41 +0x1a5\n"
        );
    }
    format!(
        "{started} INFO starting {app} version={version}\n{started} INFO configuration loaded from /etc/{app}/config.yaml\n{started} INFO listening on :8080\n{started} INFO readiness probe ok\n{started} INFO GET /healthz 200 0.4ms\n"
    )
}

pub(super) fn logs(sh: &Arc<Shared>, req: &Req) -> Result<Response, ApiError> {
    let name = req.name.as_deref().unwrap_or("");
    let pod = sh
        .store
        .get_value(req.res, req.ns_str(), name)
        .ok_or_else(|| ApiError::not_found("", "pods", name))?;
    let names: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| str_at(c, &["name"]).to_string())
        .collect();
    let container = match req.q("container") {
        Some(c) if !c.is_empty() => c.to_string(),
        _ if names.len() == 1 => names[0].clone(),
        _ => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    let all_status = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            pod["status"]["initContainerStatuses"]
                .as_array()
                .into_iter()
                .flatten(),
        );
    let status = all_status
        .clone()
        .find(|s| s["name"] == container.as_str())
        .cloned();
    let known = names.contains(&container)
        || pod["spec"]["initContainers"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["name"] == container.as_str());
    if !known {
        return Err(ApiError::bad_request(format!(
            "container {container} is not valid for pod {name}"
        )));
    }
    let status = status.unwrap_or(Value::Null);
    let previous = req.q_bool("previous");
    let restarts = status["restartCount"].as_i64().unwrap_or(0);
    if previous && restarts == 0 {
        return Err(ApiError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{name}\" not found"
        )));
    }
    let waiting = str_at(&status, &["state", "waiting", "reason"]);
    if !previous && restarts == 0 && (status.is_null() || !waiting.is_empty()) {
        let why = if waiting.is_empty() {
            "ContainerCreating"
        } else {
            waiting
        };
        let msg = match why {
            "ImagePullBackOff" | "ErrImagePull" => format!(
                "container \"{container}\" in pod \"{name}\" is waiting to start: trying and failing to pull image"
            ),
            "CreateContainerConfigError" => format!(
                "container \"{container}\" in pod \"{name}\" is waiting to start: CreateContainerConfigError"
            ),
            _ => format!("container \"{container}\" in pod \"{name}\" is waiting to start: {why}"),
        };
        return Err(ApiError::bad_request(msg));
    }
    let ann = &pod["metadata"]["annotations"];
    let key = if previous {
        ANNOTATION_PREVIOUS_LOGS
    } else {
        ANNOTATION_LOGS
    };
    let text = match ann[key].as_str() {
        Some(t) => t.to_string(),
        None => default_lines(&pod, &container, previous, &status),
    };
    let mut lines: Vec<&str> = text.lines().collect();
    if let Some(n) = req.q("tailLines").and_then(|t| t.parse::<usize>().ok()) {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    let running = status["state"]["running"].is_object();
    let body = if req.q_bool("follow") && running && !previous {
        follow(
            sh,
            req.ns_str().to_string(),
            name.to_string(),
            container,
            out,
        )
    } else {
        Body::from(out)
    };
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(r)
}

/// `logs -f`: the lines so far, then a health-check line every second until
/// the client goes away, the container stops (as a kubelet ends the stream
/// when the container exits: a finished Job pod's log ends), the pod is
/// gone or the simulator stops.
fn follow(sh: &Arc<Shared>, ns: String, name: String, container: String, first: String) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(16);
    let sh = sh.clone();
    tokio::spawn(async move {
        if tx.send(Ok(first.into())).await.is_err() {
            return;
        }
        let mut stop = sh.shutdown.clone();
        let pods = crate::store::res("pods");
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => return,
                _ = tx.closed() => return,
            }
            let Some(pod) = sh.store.get_value(pods, &ns, &name) else {
                return;
            };
            let running = pod["status"]["containerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["name"] == container.as_str() && s["state"]["running"].is_object());
            if !pod["metadata"]["deletionTimestamp"].is_null() || !running {
                return;
            }
            let line = format!("{} INFO GET /healthz 200 0.4ms\n", crate::util::now_ts());
            if tx.send(Ok(line.into())).await.is_err() {
                return;
            }
        }
    });
    Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (b, rx))
    }))
}
