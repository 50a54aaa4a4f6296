//! Server-side Table rendering (meta.k8s.io/v1 Table), which is what
//! `kubectl get` prints. Columns and cell values follow the API server's
//! printers so the output looks like a real cluster's.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::resources::Resource;
use crate::util::{self, str_at};

/// kubectl's HumanDuration: "45s", "3m20s", "5h", "12d", "2y30d".
pub(crate) fn human_duration(d: chrono::Duration) -> String {
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

/// One column definition of a Table.
pub(crate) struct Column {
    name: &'static str,
    ty: &'static str,
    /// 0 for the columns `kubectl get` prints, 1 for the extra ones of `-o wide`.
    priority: i64,
}

const fn c(name: &'static str) -> Column {
    Column {
        name,
        ty: "string",
        priority: 0,
    }
}

const fn w(name: &'static str) -> Column {
    Column {
        name,
        ty: "string",
        priority: 1,
    }
}

const fn i(name: &'static str) -> Column {
    Column {
        name,
        ty: "integer",
        priority: 0,
    }
}

impl Column {
    fn definition(&self) -> Value {
        let format = if self.name == "Name" { "name" } else { "" };
        let mut def = json!({"name": self.name, "type": self.ty, "format": format, "description": "", "priority": self.priority});
        if self.name == "Age" {
            def["description"] = json!(
                "CreationTimestamp is a timestamp representing the server time when this object was created."
            );
        }
        def
    }
}

/// One cell of a row. Most depend only on the object; the ones that say how
/// long ago something happened are rendered when the table is served, so a
/// row can be kept with its object's version and still show the right age.
#[derive(Debug, Clone)]
pub(crate) enum Cell {
    Fixed(Value),
    /// kubectl's HumanDuration since a time; `<unknown>` when there is none.
    Since(Option<DateTime<Utc>>),
    /// RESTARTS with how long ago the last one was: `4 (2m ago)`.
    Restarts(i64, DateTime<Utc>),
}

impl Cell {
    fn text(s: impl Into<String>) -> Cell {
        Cell::Fixed(Value::String(s.into()))
    }

    fn int(n: i64) -> Cell {
        Cell::Fixed(json!(n))
    }

    /// The time since an RFC 3339 timestamp.
    fn since(ts: &str) -> Cell {
        Cell::Since(util::parse_ts(ts))
    }

    fn restarts(count: i64, last: Option<DateTime<Utc>>) -> Cell {
        match last {
            Some(t) if count != 0 => Cell::Restarts(count, t),
            _ => Cell::text(count.to_string()),
        }
    }

    /// The cell's value at `now`.
    pub(crate) fn at(&self, now: DateTime<Utc>) -> Value {
        match self {
            Cell::Fixed(v) => v.clone(),
            Cell::Since(Some(t)) => json!(human_duration(now - *t)),
            Cell::Since(None) => json!("<unknown>"),
            Cell::Restarts(n, t) => json!(format!("{n} ({} ago)", human_duration(now - *t))),
        }
    }
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn none_if_empty(s: String) -> String {
    if s.is_empty() { "<none>".into() } else { s }
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
pub(crate) struct PodSummary {
    pub ready: String,
    pub status: String,
    pub restarts: Cell,
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
pub(crate) fn pod_summary(pod: &Value) -> PodSummary {
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
    PodSummary {
        ready: format!("{ready}/{total}"),
        status: reason,
        restarts: Cell::restarts(restarts, last_restart),
    }
}

fn node_status(node: &Value) -> String {
    let mut parts = Vec::new();
    let ready = arr(&node["status"]["conditions"])
        .iter()
        .find(|c| c["type"] == "Ready")
        .map(|c| str_at(c, &["status"]).to_string());
    // As the API server prints it: Ready False and Unknown are both
    // NotReady; only a node with no Ready condition at all is Unknown.
    parts.push(match ready.as_deref() {
        Some("True") => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
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

/// How long a job ran, or has been running so far.
fn job_duration(job: &Value) -> Cell {
    let Some(start) = util::parse_ts(str_at(job, &["status", "startTime"])) else {
        return Cell::text("");
    };
    match util::parse_ts(str_at(job, &["status", "completionTime"])) {
        Some(end) => Cell::text(human_duration(end - start)),
        None => Cell::Since(Some(start)),
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

/// How the API server prints one resource, as Kubernetes' printers do
/// (pkg/printers/internalversion): its columns, and how a row's cells are
/// read from an object, in the same order.
struct Printer {
    plural: &'static str,
    columns: &'static [Column],
    cells: fn(&Value) -> Vec<Cell>,
}

static PRINTERS: &[Printer] = &[
    Printer {
        plural: "pods",
        columns: &[
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
        cells: pod_cells,
    },
    Printer {
        plural: "nodes",
        columns: &[
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
        cells: node_cells,
    },
    Printer {
        plural: "deployments",
        columns: &[
            c("Name"),
            c("Ready"),
            i("Up-to-date"),
            i("Available"),
            c("Age"),
            w("Containers"),
            w("Images"),
            w("Selector"),
        ],
        cells: deployment_cells,
    },
    Printer {
        plural: "replicasets",
        columns: &[
            c("Name"),
            i("Desired"),
            i("Current"),
            i("Ready"),
            c("Age"),
            w("Containers"),
            w("Images"),
            w("Selector"),
        ],
        cells: replicaset_cells,
    },
    Printer {
        plural: "statefulsets",
        columns: &[
            c("Name"),
            c("Ready"),
            c("Age"),
            w("Containers"),
            w("Images"),
        ],
        cells: statefulset_cells,
    },
    Printer {
        plural: "daemonsets",
        columns: &[
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
        cells: daemonset_cells,
    },
    Printer {
        plural: "services",
        columns: &[
            c("Name"),
            c("Type"),
            c("Cluster-IP"),
            c("External-IP"),
            c("Port(s)"),
            c("Age"),
            w("Selector"),
        ],
        cells: service_cells,
    },
    Printer {
        plural: "events",
        columns: &[
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
        cells: event_cells,
    },
    Printer {
        plural: "namespaces",
        columns: &[c("Name"), c("Status"), c("Age")],
        cells: namespace_cells,
    },
    Printer {
        plural: "jobs",
        columns: &[
            c("Name"),
            c("Status"),
            c("Completions"),
            c("Duration"),
            c("Age"),
            w("Containers"),
            w("Images"),
            w("Selector"),
        ],
        cells: job_cells,
    },
    Printer {
        plural: "cronjobs",
        columns: &[
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
        cells: cronjob_cells,
    },
    Printer {
        plural: "poddisruptionbudgets",
        columns: &[
            c("Name"),
            c("Min Available"),
            c("Max Unavailable"),
            i("Allowed Disruptions"),
            c("Age"),
        ],
        cells: pdb_cells,
    },
    Printer {
        plural: "configmaps",
        columns: &[c("Name"), i("Data"), c("Age")],
        cells: configmap_cells,
    },
    Printer {
        plural: "secrets",
        columns: &[c("Name"), c("Type"), i("Data"), c("Age")],
        cells: secret_cells,
    },
    Printer {
        plural: "ingresses",
        columns: &[
            c("Name"),
            c("Class"),
            c("Hosts"),
            c("Address"),
            c("Ports"),
            c("Age"),
        ],
        cells: ingress_cells,
    },
    Printer {
        plural: "endpoints",
        columns: &[c("Name"), c("Endpoints"), c("Age")],
        cells: endpoints_cells,
    },
    Printer {
        plural: "leases",
        columns: &[c("Name"), c("Holder"), c("Age")],
        cells: lease_cells,
    },
    Printer {
        plural: "controllerrevisions",
        columns: &[c("Name"), c("Controller"), i("Revision"), c("Age")],
        cells: controllerrevision_cells,
    },
    Printer {
        plural: "persistentvolumeclaims",
        columns: &[
            c("Name"),
            c("Status"),
            c("Volume"),
            c("Capacity"),
            c("Access Modes"),
            c("StorageClass"),
            c("Age"),
        ],
        cells: pvc_cells,
    },
];

/// Every other resource prints its name and age, as the API server's
/// default table convertor does.
static DEFAULT_PRINTER: Printer = Printer {
    plural: "",
    columns: &[c("Name"), c("Age")],
    cells: |v| vec![name(v), age(v)],
};

fn printer(r: &Resource) -> &'static Printer {
    PRINTERS
        .iter()
        .find(|p| p.plural == r.plural)
        .unwrap_or(&DEFAULT_PRINTER)
}

/// The column definitions of a resource.
pub(crate) fn columns(r: &Resource) -> Vec<Value> {
    printer(r).columns.iter().map(Column::definition).collect()
}

/// The cells of one row, with the clock-dependent ones left to render.
pub(crate) fn cells(r: &Resource, v: &Value) -> Vec<Cell> {
    (printer(r).cells)(v)
}

fn name(v: &Value) -> Cell {
    Cell::text(str_at(v, &["metadata", "name"]))
}

fn age(v: &Value) -> Cell {
    Cell::since(str_at(v, &["metadata", "creationTimestamp"]))
}

fn pod_cells(v: &Value) -> Vec<Cell> {
    let spec = &v["spec"];
    let st = &v["status"];
    let s = pod_summary(v);
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
        name(v),
        Cell::text(s.ready),
        Cell::text(s.status),
        s.restarts,
        age(v),
        Cell::text(none_if_empty(ip)),
        Cell::text(none_if_empty(str_at(spec, &["nodeName"]).to_string())),
        Cell::text(none_if_empty(
            str_at(st, &["nominatedNodeName"]).to_string(),
        )),
        Cell::text(gates),
    ]
}

fn node_cells(v: &Value) -> Vec<Cell> {
    let ni = &v["status"]["nodeInfo"];
    vec![
        name(v),
        Cell::text(node_status(v)),
        Cell::text(node_roles(v)),
        age(v),
        Cell::text(str_at(ni, &["kubeletVersion"])),
        Cell::text(node_address(v, "InternalIP")),
        Cell::text(node_address(v, "ExternalIP")),
        Cell::text(str_at(ni, &["osImage"])),
        Cell::text(str_at(ni, &["kernelVersion"])),
        Cell::text(str_at(ni, &["containerRuntimeVersion"])),
    ]
}

/// READY as `ready/desired`, for Deployments and StatefulSets.
fn ready_of_replicas(v: &Value) -> Cell {
    Cell::text(format!(
        "{}/{}",
        int(&v["status"], &["readyReplicas"]),
        int(&v["spec"], &["replicas"])
    ))
}

fn deployment_cells(v: &Value) -> Vec<Cell> {
    let (spec, st) = (&v["spec"], &v["status"]);
    let (c, i) = containers_images(&spec["template"]["spec"]);
    vec![
        name(v),
        ready_of_replicas(v),
        Cell::int(int(st, &["updatedReplicas"])),
        Cell::int(int(st, &["availableReplicas"])),
        age(v),
        Cell::text(c),
        Cell::text(i),
        Cell::text(selector_string(&spec["selector"])),
    ]
}

fn replicaset_cells(v: &Value) -> Vec<Cell> {
    let (spec, st) = (&v["spec"], &v["status"]);
    let (c, i) = containers_images(&spec["template"]["spec"]);
    vec![
        name(v),
        Cell::int(int(spec, &["replicas"])),
        Cell::int(int(st, &["replicas"])),
        Cell::int(int(st, &["readyReplicas"])),
        age(v),
        Cell::text(c),
        Cell::text(i),
        Cell::text(selector_string(&spec["selector"])),
    ]
}

fn statefulset_cells(v: &Value) -> Vec<Cell> {
    let (c, i) = containers_images(&v["spec"]["template"]["spec"]);
    vec![
        name(v),
        ready_of_replicas(v),
        age(v),
        Cell::text(c),
        Cell::text(i),
    ]
}

fn daemonset_cells(v: &Value) -> Vec<Cell> {
    let (spec, st) = (&v["spec"], &v["status"]);
    let (c, i) = containers_images(&spec["template"]["spec"]);
    vec![
        name(v),
        Cell::int(int(st, &["desiredNumberScheduled"])),
        Cell::int(int(st, &["currentNumberScheduled"])),
        Cell::int(int(st, &["numberReady"])),
        Cell::int(int(st, &["updatedNumberScheduled"])),
        Cell::int(int(st, &["numberAvailable"])),
        Cell::text(map_selector(&spec["template"]["spec"]["nodeSelector"])),
        age(v),
        Cell::text(c),
        Cell::text(i),
        Cell::text(selector_string(&spec["selector"])),
    ]
}

fn service_cells(v: &Value) -> Vec<Cell> {
    let spec = &v["spec"];
    let ty = match str_at(spec, &["type"]) {
        "" => "ClusterIP",
        ty => ty,
    };
    vec![
        name(v),
        Cell::text(ty),
        Cell::text(none_if_empty(str_at(spec, &["clusterIP"]).to_string())),
        Cell::text(service_external_ip(v)),
        Cell::text(service_ports(v)),
        age(v),
        Cell::text(map_selector(&spec["selector"])),
    ]
}

/// LAST SEEN is the last timestamp the event has; FIRST SEEN falls back to it.
fn event_cells(v: &Value) -> Vec<Cell> {
    let last = [
        str_at(v, &["lastTimestamp"]),
        str_at(v, &["eventTime"]),
        str_at(v, &["metadata", "creationTimestamp"]),
    ]
    .into_iter()
    .find(|s| !s.is_empty())
    .unwrap_or("");
    let first = match str_at(v, &["firstTimestamp"]) {
        "" => last,
        first => first,
    };
    vec![
        Cell::since(last),
        Cell::text(str_at(v, &["type"])),
        Cell::text(str_at(v, &["reason"])),
        Cell::text(event_object(v)),
        Cell::text(str_at(v, &["involvedObject", "fieldPath"])),
        Cell::text(str_at(v, &["source", "component"])),
        Cell::text(str_at(v, &["message"]).trim()),
        Cell::since(first),
        Cell::int(v["count"].as_i64().unwrap_or(1)),
        name(v),
    ]
}

fn namespace_cells(v: &Value) -> Vec<Cell> {
    vec![name(v), Cell::text(str_at(v, &["status", "phase"])), age(v)]
}

fn job_cells(v: &Value) -> Vec<Cell> {
    let (spec, st) = (&v["spec"], &v["status"]);
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
        name(v),
        Cell::text(job_status(v)),
        Cell::text(completions),
        job_duration(v),
        age(v),
        Cell::text(c),
        Cell::text(i),
        Cell::text(selector_string(&spec["selector"])),
    ]
}

fn cronjob_cells(v: &Value) -> Vec<Cell> {
    let (spec, st) = (&v["spec"], &v["status"]);
    let (c, i) = containers_images(&spec["jobTemplate"]["spec"]["template"]["spec"]);
    let suspend = if spec["suspend"].as_bool().unwrap_or(false) {
        "True"
    } else {
        "False"
    };
    let last_schedule = match str_at(st, &["lastScheduleTime"]) {
        "" => Cell::text("<none>"),
        last => Cell::since(last),
    };
    vec![
        name(v),
        Cell::text(str_at(spec, &["schedule"])),
        Cell::text(none_if_empty(str_at(spec, &["timeZone"]).to_string())),
        Cell::text(suspend),
        Cell::Fixed(json!(arr(&st["active"]).len())),
        last_schedule,
        age(v),
        Cell::text(c),
        Cell::text(i),
        Cell::text(selector_string(&spec["jobTemplate"]["spec"]["selector"])),
    ]
}

fn pdb_cells(v: &Value) -> Vec<Cell> {
    let spec = &v["spec"];
    vec![
        name(v),
        Cell::text(intstr(&spec["minAvailable"])),
        Cell::text(intstr(&spec["maxUnavailable"])),
        Cell::int(int(&v["status"], &["disruptionsAllowed"])),
        age(v),
    ]
}

fn configmap_cells(v: &Value) -> Vec<Cell> {
    let n = v["data"].as_object().map_or(0, |m| m.len())
        + v["binaryData"].as_object().map_or(0, |m| m.len());
    vec![name(v), Cell::Fixed(json!(n)), age(v)]
}

fn secret_cells(v: &Value) -> Vec<Cell> {
    let n = v["data"].as_object().map_or(0, |m| m.len());
    vec![
        name(v),
        Cell::text(str_at(v, &["type"])),
        Cell::Fixed(json!(n)),
        age(v),
    ]
}

fn ingress_cells(v: &Value) -> Vec<Cell> {
    let (spec, st) = (&v["spec"], &v["status"]);
    let hosts: Vec<&str> = arr(&spec["rules"])
        .iter()
        .map(|r| str_at(r, &["host"]))
        .filter(|h| !h.is_empty())
        .collect();
    let addrs: Vec<&str> = arr(&st["loadBalancer"]["ingress"])
        .iter()
        .map(|i| match str_at(i, &["ip"]) {
            "" => str_at(i, &["hostname"]),
            ip => ip,
        })
        .collect();
    let ports = if arr(&spec["tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name(v),
        Cell::text(none_if_empty(
            str_at(spec, &["ingressClassName"]).to_string(),
        )),
        Cell::text(if hosts.is_empty() {
            "*".to_string()
        } else {
            hosts.join(",")
        }),
        Cell::text(addrs.join(",")),
        Cell::text(ports),
        age(v),
    ]
}

/// The first three addresses with their ports, then how many more.
fn endpoints_cells(v: &Value) -> Vec<Cell> {
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
    vec![name(v), Cell::text(shown), age(v)]
}

fn lease_cells(v: &Value) -> Vec<Cell> {
    vec![
        name(v),
        Cell::text(str_at(&v["spec"], &["holderIdentity"])),
        age(v),
    ]
}

/// CONTROLLER as `kind.group/name` of the first owner.
fn controllerrevision_cells(v: &Value) -> Vec<Cell> {
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
        name(v),
        Cell::text(owner),
        Cell::int(v["revision"].as_i64().unwrap_or(0)),
        age(v),
    ]
}

fn pvc_cells(v: &Value) -> Vec<Cell> {
    let (spec, st) = (&v["spec"], &v["status"]);
    let modes = arr(&spec["accessModes"])
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
        .join(",");
    vec![
        name(v),
        Cell::text(str_at(st, &["phase"])),
        Cell::text(str_at(spec, &["volumeName"])),
        Cell::text(str_at(st, &["capacity", "storage"])),
        Cell::text(modes),
        Cell::text(str_at(spec, &["storageClassName"])),
        age(v),
    ]
}

/// PartialObjectMetadata for a row's `object`.
pub(crate) fn partial_metadata(v: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": v["metadata"],
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum IncludeObject {
    None,
    Metadata,
    Object,
}

/// One row as a value, for a single object or a watch event.
pub(crate) fn row(r: &Resource, v: &Value, now: DateTime<Utc>, include: IncludeObject) -> Value {
    let cells: Vec<Value> = cells(r, v).iter().map(|c| c.at(now)).collect();
    let mut row = json!({ "cells": cells });
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => row["object"] = partial_metadata(v),
        IncludeObject::Object => row["object"] = v.clone(),
    }
    row
}

/// A Table. Column definitions go in every Table, watch events included:
/// kubectl prints the header only when the columns change.
pub(crate) fn table(r: &Resource, rows: Vec<Value>, rv: u64, cont: Option<String>) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": table_meta(rv, cont),
        "columnDefinitions": columns(r),
        "rows": rows,
    })
}

fn table_meta(rv: u64, cont: Option<String>) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    meta
}

/// A row kept with one stored version of its object. Reading the cells
/// means parsing the whole object (about 25 µs for a pod); kept, a row costs
/// what copying its bytes costs, as a JSON list's items do.
#[derive(Debug)]
pub(crate) struct CachedRow {
    /// The cells in order: runs of cells that depend only on the object as
    /// their JSON text, the clock-dependent ones to render at serve time.
    parts: Vec<Part>,
    /// Where the object's `metadata` sits in its stored JSON.
    metadata: std::ops::Range<usize>,
}

#[derive(Debug)]
enum Part {
    Json(Box<str>),
    Clock(Cell),
}

/// The part of a stored object a row's `object` reads, without the rest.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    metadata: &'a serde_json::value::RawValue,
}

impl CachedRow {
    /// Reads the row of a stored object (its JSON bytes).
    pub(crate) fn new(r: &Resource, json: &[u8]) -> CachedRow {
        let v: Value = serde_json::from_slice(json).expect("stored objects are valid JSON");
        let mut parts = Vec::new();
        let mut text = String::new();
        for cell in cells(r, &v) {
            match cell {
                Cell::Fixed(value) => {
                    if !text.is_empty() {
                        text.push(',');
                    }
                    text.push_str(&value.to_string());
                }
                clock => {
                    if !text.is_empty() {
                        parts.push(Part::Json(std::mem::take(&mut text).into()));
                    }
                    parts.push(Part::Clock(clock));
                }
            }
        }
        if !text.is_empty() {
            parts.push(Part::Json(text.into()));
        }
        let head: Head = serde_json::from_slice(json).expect("stored objects have metadata");
        let start = head.metadata.get().as_ptr() as usize - json.as_ptr() as usize;
        CachedRow {
            parts,
            metadata: start..start + head.metadata.get().len(),
        }
    }

    /// Appends the row as JSON, its clock-dependent cells at `now`.
    fn write(&self, out: &mut Vec<u8>, json: &[u8], now: DateTime<Utc>, include: IncludeObject) {
        out.extend_from_slice(b"{\"cells\":[");
        for (n, part) in self.parts.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            match part {
                Part::Json(text) => out.extend_from_slice(text.as_bytes()),
                Part::Clock(cell) => {
                    serde_json::to_writer(&mut *out, &cell.at(now)).expect("json");
                }
            }
        }
        out.push(b']');
        match include {
            IncludeObject::None => {}
            IncludeObject::Metadata => {
                out.extend_from_slice(
                    br#","object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":"#,
                );
                out.extend_from_slice(&json[self.metadata.clone()]);
                out.push(b'}');
            }
            IncludeObject::Object => {
                out.extend_from_slice(b",\"object\":");
                out.extend_from_slice(json);
            }
        }
        out.push(b'}');
    }
}

/// A Table of stored objects as JSON bytes, each row from its object's
/// kept row: the same document `table` builds, at the cost of a JSON list.
pub(crate) fn table_bytes<'a>(
    r: &Resource,
    items: impl ExactSizeIterator<Item = (&'a [u8], &'a CachedRow)>,
    page: (u64, Option<String>),
    now: DateTime<Utc>,
    include: IncludeObject,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + items.len() * 256);
    out.extend_from_slice(br#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":"#);
    serde_json::to_writer(&mut out, &table_meta(page.0, page.1)).expect("json");
    out.extend_from_slice(br#","columnDefinitions":"#);
    serde_json::to_writer(&mut out, &columns(r)).expect("json");
    out.extend_from_slice(br#","rows":["#);
    for (n, (json, row)) in items.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        row.write(&mut out, json, now, include);
    }
    out.extend_from_slice(b"]}");
    out
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
        pod_summary(p).status
    }

    fn restarts_of(s: &PodSummary) -> String {
        s.restarts.at(util::now()).as_str().unwrap().to_string()
    }

    /// A table served from kept rows is the table built from the objects,
    /// clock-dependent cells included, whatever the row's object holds.
    #[test]
    fn kept_rows_serve_the_same_table() {
        let ago = |s: i64| util::ts(util::now() - chrono::Duration::seconds(s));
        let mut p = pod(
            json!({"phase": "Running", "podIP": "10.0.0.9", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 3, "state": {"running": {}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(300)}}},
                {"name": "b", "ready": true, "restartCount": 0, "state": {"running": {}}}
            ]}),
        );
        p["metadata"]["labels"] = json!({"app": "web"});
        p["spec"]["nodeName"] = json!("node-1");
        let job = json!({"metadata": {"name": "j", "creationTimestamp": ago(90)},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
            "status": {"startTime": ago(80)}});
        let pods = crate::store::res("pods");
        let jobs = crate::store::res("jobs");
        for (r, v) in [(pods, &p), (jobs, &job)] {
            let json = serde_json::to_vec(v).unwrap();
            let kept = CachedRow::new(r, &json);
            for include in [
                IncludeObject::None,
                IncludeObject::Metadata,
                IncludeObject::Object,
            ] {
                let now = util::now();
                let bytes = table_bytes(
                    r,
                    [(&json[..], &kept)].into_iter(),
                    (7, Some("c".into())),
                    now,
                    include,
                );
                let served: Value = serde_json::from_slice(&bytes).unwrap();
                let built = table(r, vec![row(r, v, now, include)], 7, Some("c".into()));
                assert_eq!(served, built, "{include:?}");
            }
        }
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
        let s = pod_summary(&p);
        assert_eq!(s.ready, "1/2");
        assert_eq!(s.status, "Running");
        assert_eq!(restarts_of(&s), "0");
    }

    #[test]
    fn crashloop_and_restarts_ago() {
        let p = pod(json!({"phase": "Running", "containerStatuses": [
            {"name": "a", "ready": false, "restartCount": 4,
             "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": util::now_ts()}}},
            {"name": "b", "ready": true, "restartCount": 0, "state": {"running": {}}}
        ]}));
        let s = pod_summary(&p);
        assert_eq!(s.status, "CrashLoopBackOff");
        assert!(restarts_of(&s).starts_with("4 ("), "{}", restarts_of(&s));
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
        let s = pod_summary(&p);
        assert_eq!(s.ready, "3/3");
        assert_eq!(s.status, "Running");
        assert_eq!(restarts_of(&s), "1");
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
