//! Server-side Table rendering (meta.k8s.io/v1 Table), which is what
//! `kubectl get` prints. Columns and cell values follow the API server's
//! printers so the output looks like a real cluster's.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::resources::Resource;
use crate::util::{self, str_at};

/// kubectl's HumanDuration: "45s", "3m20s", "5h", "12d", "2y30d".
pub fn human_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn since(ts: &str, now: DateTime<Utc>) -> String {
    match util::parse_ts(ts) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".into(),
    }
}

fn col(name: &str, ty: &str, priority: i64) -> Value {
    let mut c = json!({"name": name, "type": ty, "format": if name == "Name" {"name"} else {""}, "description": "", "priority": priority});
    if name == "Age" {
        c["description"] = json!(
            "CreationTimestamp is a timestamp representing the server time when this object was created."
        );
    }
    c
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn none_if_empty(s: String) -> String {
    if s.is_empty() { "<none>".into() } else { s }
}

/// The column definitions of a resource.
pub fn columns(r: &Resource) -> Vec<Value> {
    let c = |n: &str| col(n, "string", 0);
    let w = |n: &str| col(n, "string", 1);
    let i = |n: &str| col(n, "integer", 0);
    match r.plural {
        "pods" => vec![
            c("Name"),
            c("Ready"),
            c("Status"),
            i("Restarts"),
            c("Age"),
            w("IP"),
            w("Node"),
            w("Nominated Node"),
            w("Readiness Gates"),
        ],
        "nodes" => vec![
            c("Name"),
            c("Status"),
            c("Roles"),
            c("Age"),
            c("Version"),
            w("Internal-IP"),
            w("External-IP"),
            w("OS-Image"),
            w("Kernel-Version"),
            w("Container-Runtime"),
        ],
        "deployments" => vec![
            c("Name"),
            c("Ready"),
            i("Up-to-date"),
            i("Available"),
            c("Age"),
            w("Containers"),
            w("Images"),
            w("Selector"),
        ],
        "replicasets" => vec![
            c("Name"),
            i("Desired"),
            i("Current"),
            i("Ready"),
            c("Age"),
            w("Containers"),
            w("Images"),
            w("Selector"),
        ],
        "statefulsets" => vec![
            c("Name"),
            c("Ready"),
            c("Age"),
            w("Containers"),
            w("Images"),
        ],
        "daemonsets" => vec![
            c("Name"),
            i("Desired"),
            i("Current"),
            i("Ready"),
            i("Up-to-date"),
            i("Available"),
            c("Node Selector"),
            c("Age"),
            w("Containers"),
            w("Images"),
            w("Selector"),
        ],
        "services" => vec![
            c("Name"),
            c("Type"),
            c("Cluster-IP"),
            c("External-IP"),
            c("Port(s)"),
            c("Age"),
            w("Selector"),
        ],
        "events" => vec![
            c("Last Seen"),
            c("Type"),
            c("Reason"),
            c("Object"),
            w("Subobject"),
            w("Source"),
            c("Message"),
            w("First Seen"),
            w("Count"),
            w("Name"),
        ],
        "namespaces" => vec![c("Name"), c("Status"), c("Age")],
        "jobs" => vec![
            c("Name"),
            c("Status"),
            c("Completions"),
            c("Duration"),
            c("Age"),
            w("Containers"),
            w("Images"),
            w("Selector"),
        ],
        "cronjobs" => vec![
            c("Name"),
            c("Schedule"),
            c("Timezone"),
            c("Suspend"),
            i("Active"),
            c("Last Schedule"),
            c("Age"),
            w("Containers"),
            w("Images"),
            w("Selector"),
        ],
        "poddisruptionbudgets" => vec![
            c("Name"),
            c("Min Available"),
            c("Max Unavailable"),
            i("Allowed Disruptions"),
            c("Age"),
        ],
        "configmaps" => vec![c("Name"), i("Data"), c("Age")],
        "secrets" => vec![c("Name"), c("Type"), i("Data"), c("Age")],
        "ingresses" => vec![
            c("Name"),
            c("Class"),
            c("Hosts"),
            c("Address"),
            c("Ports"),
            c("Age"),
        ],
        "endpoints" => vec![c("Name"), c("Endpoints"), c("Age")],
        "leases" => vec![c("Name"), c("Holder"), c("Age")],
        "controllerrevisions" => vec![c("Name"), c("Controller"), i("Revision"), c("Age")],
        "persistentvolumeclaims" => vec![
            c("Name"),
            c("Status"),
            c("Volume"),
            c("Capacity"),
            c("Access Modes"),
            c("StorageClass"),
            c("Age"),
        ],
        _ => vec![c("Name"), c("Age")],
    }
}

fn containers_images(spec: &Value) -> (String, String) {
    let cs = arr(&spec["containers"]);
    let names: Vec<&str> = cs.iter().map(|c| str_at(c, &["name"])).collect();
    let images: Vec<&str> = cs.iter().map(|c| str_at(c, &["image"])).collect();
    (names.join(","), images.join(","))
}

fn selector_string(sel: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = sel["matchLabels"].as_object() {
        for (k, v) in m {
            parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    for e in arr(&sel["matchExpressions"]) {
        let key = str_at(e, &["key"]);
        let vals: Vec<&str> = arr(&e["values"]).iter().filter_map(Value::as_str).collect();
        match str_at(e, &["operator"]) {
            "In" => parts.push(format!("{key} in ({})", vals.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
            "Exists" => parts.push(key.to_string()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    none_if_empty(parts.join(","))
}

fn map_selector(sel: &Value) -> String {
    let parts: Vec<String> = sel
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    none_if_empty(parts.join(","))
}

fn int(v: &Value, path: &[&str]) -> i64 {
    util::i64_at(v, path).unwrap_or(0)
}

/// What kubectl prints in the STATUS column of a pod, with READY and RESTARTS.
pub struct PodSummary {
    pub ready: String,
    pub status: String,
    pub restarts: String,
}

fn is_sidecar(pod: &Value, name: &str) -> bool {
    arr(&pod["spec"]["initContainers"])
        .iter()
        .any(|c| c["name"] == name && c["restartPolicy"] == "Always")
}

fn terminated_reason(t: &Value, prefix: &str) -> String {
    let reason = str_at(t, &["reason"]);
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    match t["signal"].as_i64() {
        Some(s) if s != 0 => format!("{prefix}Signal:{s}"),
        _ => format!("{prefix}ExitCode:{}", t["exitCode"].as_i64().unwrap_or(0)),
    }
}

/// kubectl's pod STATUS algorithm (printPod): the phase or status.reason,
/// overridden by the first unfinished init container, then by the last
/// container with a waiting/terminated reason; Terminating when deleted.
pub fn pod_summary(pod: &Value, now: DateTime<Utc>) -> PodSummary {
    let spec = &pod["spec"];
    let status = &pod["status"];
    let mut total = arr(&spec["containers"]).len();
    let mut ready = 0usize;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut sidecar_last_restart: Option<DateTime<Utc>> = None;
    let phase = str_at(status, &["phase"]);
    let mut reason = phase.to_string();
    if !str_at(status, &["reason"]).is_empty() {
        reason = str_at(status, &["reason"]).to_string();
    }
    for c in arr(&status["conditions"]) {
        if c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated" {
            reason = "SchedulingGated".into();
        }
    }
    total += arr(&spec["initContainers"])
        .iter()
        .filter(|c| c["restartPolicy"] == "Always")
        .count();
    let finished_at =
        |c: &Value| util::parse_ts(str_at(c, &["lastState", "terminated", "finishedAt"]));
    let n_init = arr(&spec["initContainers"]).len();
    let mut initializing = false;
    for (i, c) in arr(&status["initContainerStatuses"]).iter().enumerate() {
        let rc = c["restartCount"].as_i64().unwrap_or(0);
        restarts += rc;
        if let Some(t) = finished_at(c) {
            last_restart = last_restart.max(Some(t));
        }
        let sidecar = is_sidecar(pod, str_at(c, &["name"]));
        if sidecar {
            sidecar_restarts += rc;
            if let Some(t) = finished_at(c) {
                sidecar_last_restart = sidecar_last_restart.max(Some(t));
            }
        }
        let term = &c["state"]["terminated"];
        let waiting_reason = str_at(c, &["state", "waiting", "reason"]);
        if term.is_object() && term["exitCode"].as_i64() == Some(0) {
            continue;
        }
        if sidecar && c["started"].as_bool() == Some(true) {
            if c["ready"].as_bool() == Some(true) {
                ready += 1;
            }
            continue;
        }
        if term.is_object() {
            reason = terminated_reason(term, "Init:");
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{n_init}");
        }
        initializing = true;
        break;
    }
    let initialized = arr(&status["conditions"])
        .iter()
        .any(|c| c["type"] == "Initialized" && c["status"] == "True");
    if !initializing || initialized {
        restarts = sidecar_restarts;
        last_restart = sidecar_last_restart;
        let mut has_running = false;
        for c in arr(&status["containerStatuses"]).iter().rev() {
            restarts += c["restartCount"].as_i64().unwrap_or(0);
            if let Some(t) = finished_at(c) {
                last_restart = last_restart.max(Some(t));
            }
            let waiting_reason = str_at(c, &["state", "waiting", "reason"]);
            let term = &c["state"]["terminated"];
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if term.is_object() {
                reason = terminated_reason(term, "");
            } else if c["ready"].as_bool() == Some(true) && c["state"]["running"].is_object() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = arr(&status["conditions"])
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            reason = if pod_ready {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }
    let deleting = !pod["metadata"]["deletionTimestamp"].is_null();
    if deleting && str_at(status, &["reason"]) == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && !matches!(phase, "Succeeded" | "Failed") {
        reason = "Terminating".into();
    }
    let restarts = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", human_duration(now - t)),
        _ => restarts.to_string(),
    };
    PodSummary {
        ready: format!("{ready}/{total}"),
        status: reason,
        restarts,
    }
}

fn node_status(node: &Value) -> String {
    let mut parts = Vec::new();
    let ready = arr(&node["status"]["conditions"])
        .iter()
        .find(|c| c["type"] == "Ready")
        .map(|c| str_at(c, &["status"]).to_string());
    parts.push(match ready.as_deref() {
        Some("True") => "Ready",
        Some("False") => "NotReady",
        _ => "Unknown",
    });
    if node["spec"]["unschedulable"].as_bool() == Some(true) {
        parts.push("SchedulingDisabled");
    }
    parts.join(",")
}

fn node_roles(node: &Value) -> String {
    let mut roles: Vec<String> = Vec::new();
    if let Some(l) = node["metadata"]["labels"].as_object() {
        for (k, v) in l {
            if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                roles.push(r.to_string());
            } else if k == "kubernetes.io/role" {
                roles.push(v.as_str().unwrap_or("").to_string());
            }
        }
    }
    roles.sort();
    none_if_empty(roles.join(","))
}

fn node_address(node: &Value, ty: &str) -> String {
    arr(&node["status"]["addresses"])
        .iter()
        .find(|a| a["type"] == ty)
        .map(|a| str_at(a, &["address"]).to_string())
        .unwrap_or_else(|| "<none>".into())
}

fn service_external_ip(svc: &Value) -> String {
    let ty = str_at(svc, &["spec", "type"]);
    let mut ips: Vec<String> = arr(&svc["spec"]["externalIPs"])
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    match ty {
        "LoadBalancer" => {
            for i in arr(&svc["status"]["loadBalancer"]["ingress"]) {
                let a = if !str_at(i, &["ip"]).is_empty() {
                    str_at(i, &["ip"])
                } else {
                    str_at(i, &["hostname"])
                };
                if !a.is_empty() {
                    ips.push(a.to_string());
                }
            }
            if ips.is_empty() {
                "<pending>".into()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => str_at(svc, &["spec", "externalName"]).to_string(),
        _ => none_if_empty(ips.join(",")),
    }
}

fn service_ports(svc: &Value) -> String {
    let ports: Vec<String> = arr(&svc["spec"]["ports"])
        .iter()
        .map(|p| {
            let proto = if str_at(p, &["protocol"]).is_empty() {
                "TCP"
            } else {
                str_at(p, &["protocol"])
            };
            match p["nodePort"].as_i64() {
                Some(np) if np != 0 => format!("{}:{np}/{proto}", p["port"]),
                _ => format!("{}/{proto}", p["port"]),
            }
        })
        .collect();
    none_if_empty(ports.join(","))
}

fn intstr(v: &Value) -> String {
    match v {
        Value::Null => "N/A".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn job_status(job: &Value) -> String {
    let conds = arr(&job["status"]["conditions"]);
    let has = |t: &str| {
        conds
            .iter()
            .any(|c| c["type"] == t && c["status"] == "True")
    };
    if has("Complete") {
        "Complete".into()
    } else if has("Failed") {
        "Failed".into()
    } else if !job["metadata"]["deletionTimestamp"].is_null() {
        "Terminating".into()
    } else if has("Suspended") {
        "Suspended".into()
    } else if has("FailureTarget") {
        "FailureTarget".into()
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet".into()
    } else {
        "Running".into()
    }
}

fn job_duration(job: &Value, now: DateTime<Utc>) -> String {
    let Some(start) = util::parse_ts(str_at(job, &["status", "startTime"])) else {
        return String::new();
    };
    match util::parse_ts(str_at(job, &["status", "completionTime"])) {
        Some(end) => human_duration(end - start),
        None => human_duration(now - start),
    }
}

fn event_object(ev: &Value) -> String {
    let io = &ev["involvedObject"];
    format!(
        "{}/{}",
        str_at(io, &["kind"]).to_lowercase(),
        str_at(io, &["name"])
    )
}

/// The cells of one row.
pub fn cells(r: &Resource, v: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = json!(str_at(v, &["metadata", "name"]));
    let age = json!(since(str_at(v, &["metadata", "creationTimestamp"]), now));
    let spec = &v["spec"];
    let st = &v["status"];
    match r.plural {
        "pods" => {
            let s = pod_summary(v, now);
            let ip = arr(&st["podIPs"])
                .first()
                .map(|p| str_at(p, &["ip"]).to_string());
            let ip = ip.unwrap_or_else(|| str_at(st, &["podIP"]).to_string());
            let gates = arr(&spec["readinessGates"]);
            let gates = if gates.is_empty() {
                "<none>".to_string()
            } else {
                let ok = gates
                    .iter()
                    .filter(|g| {
                        arr(&st["conditions"])
                            .iter()
                            .any(|c| c["type"] == g["conditionType"] && c["status"] == "True")
                    })
                    .count();
                format!("{ok}/{}", gates.len())
            };
            vec![
                name,
                json!(s.ready),
                json!(s.status),
                json!(s.restarts),
                age,
                json!(none_if_empty(ip)),
                json!(none_if_empty(str_at(spec, &["nodeName"]).to_string())),
                json!(none_if_empty(
                    str_at(st, &["nominatedNodeName"]).to_string()
                )),
                json!(gates),
            ]
        }
        "nodes" => {
            let ni = &st["nodeInfo"];
            vec![
                name,
                json!(node_status(v)),
                json!(node_roles(v)),
                age,
                json!(str_at(ni, &["kubeletVersion"])),
                json!(node_address(v, "InternalIP")),
                json!(node_address(v, "ExternalIP")),
                json!(str_at(ni, &["osImage"])),
                json!(str_at(ni, &["kernelVersion"])),
                json!(str_at(ni, &["containerRuntimeVersion"])),
            ]
        }
        "deployments" => {
            let (c, i) = containers_images(&spec["template"]["spec"]);
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int(st, &["readyReplicas"]),
                    int(spec, &["replicas"])
                )),
                json!(int(st, &["updatedReplicas"])),
                json!(int(st, &["availableReplicas"])),
                age,
                json!(c),
                json!(i),
                json!(selector_string(&spec["selector"])),
            ]
        }
        "replicasets" => {
            let (c, i) = containers_images(&spec["template"]["spec"]);
            vec![
                name,
                json!(int(spec, &["replicas"])),
                json!(int(st, &["replicas"])),
                json!(int(st, &["readyReplicas"])),
                age,
                json!(c),
                json!(i),
                json!(selector_string(&spec["selector"])),
            ]
        }
        "statefulsets" => {
            let (c, i) = containers_images(&spec["template"]["spec"]);
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int(st, &["readyReplicas"]),
                    int(spec, &["replicas"])
                )),
                age,
                json!(c),
                json!(i),
            ]
        }
        "daemonsets" => {
            let (c, i) = containers_images(&spec["template"]["spec"]);
            vec![
                name,
                json!(int(st, &["desiredNumberScheduled"])),
                json!(int(st, &["currentNumberScheduled"])),
                json!(int(st, &["numberReady"])),
                json!(int(st, &["updatedNumberScheduled"])),
                json!(int(st, &["numberAvailable"])),
                json!(map_selector(&spec["template"]["spec"]["nodeSelector"])),
                age,
                json!(c),
                json!(i),
                json!(selector_string(&spec["selector"])),
            ]
        }
        "services" => {
            let cip = str_at(spec, &["clusterIP"]);
            vec![
                name,
                json!(if str_at(spec, &["type"]).is_empty() {
                    "ClusterIP"
                } else {
                    str_at(spec, &["type"])
                }),
                json!(none_if_empty(cip.to_string())),
                json!(service_external_ip(v)),
                json!(service_ports(v)),
                age,
                json!(map_selector(&spec["selector"])),
            ]
        }
        "events" => {
            let last = [
                str_at(v, &["lastTimestamp"]),
                str_at(v, &["eventTime"]),
                str_at(v, &["metadata", "creationTimestamp"]),
            ]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or("");
            let first = if str_at(v, &["firstTimestamp"]).is_empty() {
                last
            } else {
                str_at(v, &["firstTimestamp"])
            };
            vec![
                json!(since(last, now)),
                json!(str_at(v, &["type"])),
                json!(str_at(v, &["reason"])),
                json!(event_object(v)),
                json!(str_at(v, &["involvedObject", "fieldPath"])),
                json!(str_at(v, &["source", "component"])),
                json!(str_at(v, &["message"]).trim()),
                json!(since(first, now)),
                json!(v["count"].as_i64().unwrap_or(1)),
                name,
            ]
        }
        "namespaces" => vec![name, json!(str_at(st, &["phase"])), age],
        "jobs" => {
            let (c, i) = containers_images(&spec["template"]["spec"]);
            let completions = match spec["completions"].as_i64() {
                Some(n) => format!("{}/{n}", int(st, &["succeeded"])),
                None => format!(
                    "{}/1 of {}",
                    int(st, &["succeeded"]),
                    spec["parallelism"].as_i64().unwrap_or(1)
                ),
            };
            vec![
                name,
                json!(job_status(v)),
                json!(completions),
                json!(job_duration(v, now)),
                age,
                json!(c),
                json!(i),
                json!(selector_string(&spec["selector"])),
            ]
        }
        "cronjobs" => {
            let (c, i) = containers_images(&spec["jobTemplate"]["spec"]["template"]["spec"]);
            let last = str_at(st, &["lastScheduleTime"]);
            vec![
                name,
                json!(str_at(spec, &["schedule"])),
                json!(none_if_empty(str_at(spec, &["timeZone"]).to_string())),
                json!(
                    spec["suspend"]
                        .as_bool()
                        .unwrap_or(false)
                        .to_string()
                        .replace("false", "False")
                        .replace("true", "True")
                ),
                json!(arr(&st["active"]).len()),
                json!(if last.is_empty() {
                    "<none>".to_string()
                } else {
                    since(last, now)
                }),
                age,
                json!(c),
                json!(i),
                json!(selector_string(&spec["jobTemplate"]["spec"]["selector"])),
            ]
        }
        "poddisruptionbudgets" => vec![
            name,
            json!(intstr(&spec["minAvailable"])),
            json!(intstr(&spec["maxUnavailable"])),
            json!(int(st, &["disruptionsAllowed"])),
            age,
        ],
        "configmaps" => {
            let n = v["data"].as_object().map_or(0, |m| m.len())
                + v["binaryData"].as_object().map_or(0, |m| m.len());
            vec![name, json!(n), age]
        }
        "secrets" => {
            let n = v["data"].as_object().map_or(0, |m| m.len());
            vec![name, json!(str_at(v, &["type"])), json!(n), age]
        }
        "ingresses" => {
            let hosts: Vec<&str> = arr(&spec["rules"])
                .iter()
                .map(|r| str_at(r, &["host"]))
                .filter(|h| !h.is_empty())
                .collect();
            let addrs: Vec<&str> = arr(&st["loadBalancer"]["ingress"])
                .iter()
                .map(|i| {
                    if str_at(i, &["ip"]).is_empty() {
                        str_at(i, &["hostname"])
                    } else {
                        str_at(i, &["ip"])
                    }
                })
                .collect();
            let ports = if arr(&spec["tls"]).is_empty() {
                "80"
            } else {
                "80, 443"
            };
            vec![
                name,
                json!(none_if_empty(
                    str_at(spec, &["ingressClassName"]).to_string()
                )),
                json!(if hosts.is_empty() {
                    "*".to_string()
                } else {
                    hosts.join(",")
                }),
                json!(addrs.join(",")),
                json!(ports),
                age,
            ]
        }
        "endpoints" => {
            let mut eps = Vec::new();
            for s in arr(&v["subsets"]) {
                for a in arr(&s["addresses"]) {
                    for p in arr(&s["ports"]) {
                        eps.push(format!("{}:{}", str_at(a, &["ip"]), p["port"]));
                    }
                }
            }
            let shown = if eps.len() > 3 {
                format!("{} + {} more...", eps[..3].join(","), eps.len() - 3)
            } else {
                none_if_empty(eps.join(","))
            };
            vec![name, json!(shown), age]
        }
        "leases" => vec![name, json!(str_at(spec, &["holderIdentity"])), age],
        "controllerrevisions" => {
            let owner = v["metadata"]["ownerReferences"]
                .as_array()
                .and_then(|o| o.first())
                .map(|o| {
                    format!(
                        "{}.{}/{}",
                        str_at(o, &["kind"]).to_lowercase(),
                        str_at(o, &["apiVersion"]).split('/').next().unwrap_or(""),
                        str_at(o, &["name"])
                    )
                })
                .unwrap_or_else(|| "<none>".into());
            vec![
                name,
                json!(owner),
                json!(v["revision"].as_i64().unwrap_or(0)),
                age,
            ]
        }
        "persistentvolumeclaims" => vec![
            name,
            json!(str_at(st, &["phase"])),
            json!(str_at(spec, &["volumeName"])),
            json!(str_at(st, &["capacity", "storage"])),
            json!(
                arr(&spec["accessModes"])
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|m| match m {
                        "ReadWriteOnce" => "RWO",
                        "ReadOnlyMany" => "ROX",
                        "ReadWriteMany" => "RWX",
                        "ReadWriteOncePod" => "RWOP",
                        o => o,
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            json!(str_at(spec, &["storageClassName"])),
            age,
        ],
        _ => vec![name, age],
    }
}

/// PartialObjectMetadata for a row's `object`.
pub fn partial_metadata(v: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": v["metadata"],
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

pub fn row(r: &Resource, v: &Value, now: DateTime<Utc>, include: IncludeObject) -> Value {
    let mut row = json!({"cells": cells(r, v, now)});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => row["object"] = partial_metadata(v),
        IncludeObject::Object => row["object"] = v.clone(),
    }
    row
}

/// A Table. Column definitions go in every Table, watch events included:
/// kubectl prints the header only when the columns change.
pub fn table(r: &Resource, rows: Vec<Value>, rv: u64, cont: Option<String>) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns(r),
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: Value) -> Value {
        json!({"metadata": {"name": "p", "creationTimestamp": "2024-01-01T00:00:00Z"},
               "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
               "status": status})
    }

    fn status_of(p: &Value) -> String {
        pod_summary(p, util::now()).status
    }

    #[test]
    fn durations() {
        let d = chrono::Duration::seconds;
        assert_eq!(human_duration(d(5)), "5s");
        assert_eq!(human_duration(d(119)), "119s");
        assert_eq!(human_duration(d(200)), "3m20s");
        assert_eq!(human_duration(d(600)), "10m");
        assert_eq!(human_duration(d(3 * 3600 + 60)), "3h1m");
        assert_eq!(human_duration(d(30 * 3600)), "30h");
        assert_eq!(human_duration(d(3 * 86400 + 3600)), "3d1h");
        assert_eq!(human_duration(d(100 * 86400)), "100d");
        assert_eq!(human_duration(d(-5)), "<invalid>");
    }

    #[test]
    fn running_and_ready_counts() {
        let p = pod(json!({"phase": "Running", "containerStatuses": [
            {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
            {"name": "b", "ready": false, "restartCount": 0, "state": {"running": {}}}
        ]}));
        let s = pod_summary(&p, util::now());
        assert_eq!(s.ready, "1/2");
        assert_eq!(s.status, "Running");
        assert_eq!(s.restarts, "0");
    }

    #[test]
    fn crashloop_and_restarts_ago() {
        let p = pod(json!({"phase": "Running", "containerStatuses": [
            {"name": "a", "ready": false, "restartCount": 4,
             "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": util::now_ts()}}},
            {"name": "b", "ready": true, "restartCount": 0, "state": {"running": {}}}
        ]}));
        let s = pod_summary(&p, util::now());
        assert_eq!(s.status, "CrashLoopBackOff");
        assert!(s.restarts.starts_with("4 ("), "{}", s.restarts);
    }

    #[test]
    fn init_containers() {
        let mut p = pod(json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "i1", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "i2", "state": {"running": {}}}
        ]}));
        p["spec"]["initContainers"] = json!([{"name": "i1"}, {"name": "i2"}, {"name": "i3"}]);
        assert_eq!(status_of(&p), "Init:1/3");
        p["status"]["initContainerStatuses"][1]["state"] =
            json!({"waiting": {"reason": "CrashLoopBackOff"}});
        assert_eq!(status_of(&p), "Init:CrashLoopBackOff");
        p["status"]["initContainerStatuses"][1]["state"] = json!({"terminated": {"exitCode": 2}});
        assert_eq!(status_of(&p), "Init:ExitCode:2");
    }

    #[test]
    fn sidecar_counts_as_container() {
        let mut p = pod(json!({"phase": "Running",
        "conditions": [{"type": "Initialized", "status": "True"}],
        "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true, "restartCount": 1, "state": {"running": {}}}],
        "containerStatuses": [
            {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
            {"name": "b", "ready": true, "restartCount": 0, "state": {"running": {}}}
        ]}));
        p["spec"]["initContainers"] = json!([{"name": "proxy", "restartPolicy": "Always"}]);
        let s = pod_summary(&p, util::now());
        assert_eq!(s.ready, "3/3");
        assert_eq!(s.status, "Running");
        assert_eq!(s.restarts, "1");
    }

    #[test]
    fn terminating_unknown_completed() {
        let mut p = pod(json!({"phase": "Running", "containerStatuses": []}));
        p["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        assert_eq!(status_of(&p), "Terminating");
        p["status"]["reason"] = json!("NodeLost");
        assert_eq!(status_of(&p), "Unknown");
        let done = pod(json!({"phase": "Succeeded", "containerStatuses": [
            {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}));
        assert_eq!(status_of(&done), "Completed");
        let oom = pod(json!({"phase": "Running", "containerStatuses": [
            {"name": "a", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}));
        assert_eq!(status_of(&oom), "OOMKilled");
    }
}
