//! The REST API at the HTTP level: eviction rules, conflicts, patches,
//! paging and selectors, tables, discovery, logs and injected faults.

mod common;

use common::{
    Cluster, Node, Workload, http, json_of, pdb, pdb_max_unavailable, wait_for_stdout, wait_until,
};
use oncall_sim::FaultSpec;
use serde_json::{Value, json};

/// A Deployment `web` of two pods (two containers each) held by a budget
/// that lets none go, and a Deployment whose pod crash-loops.
fn seed() -> String {
    Node::new("node-1").label("agentpool", "blue").yaml()
        + &Workload::deployment("default", "web")
            .replicas(2)
            .pod_field(
                "containers",
                json!([
                    {"name": "web", "image": "nginx:1.27", "env": [{"name": "A", "value": "1"}]},
                    {"name": "sidecar", "image": "envoy:1"},
                ]),
            )
            .yaml()
        + &pdb("default", "web-pdb", "web", 2)
        + &Workload::deployment("default", "crasher")
            .fault("crash-loop exit-code=3")
            .container("app", "registry.example.com/crasher:1")
            .yaml()
}

async fn cluster() -> Cluster {
    Cluster::yaml(&seed()).await
}

fn web_pods(c: &Cluster) -> Vec<String> {
    c.sim
        .list("pods", Some("default"))
        .iter()
        .filter(|p| p["metadata"]["labels"]["app"] == "web")
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn eviction(name: &str) -> String {
    json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "default"},
           "deleteOptions": {"gracePeriodSeconds": 0}})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_follows_pdb_rules() {
    let c = cluster().await;
    let pods = web_pods(&c);
    assert_eq!(pods.len(), 2);
    let path = format!("/api/v1/namespaces/default/pods/{}/eviction", pods[0]);
    let (code, head, body) = http(
        &c,
        "POST",
        &path,
        "application/json",
        "application/json",
        &eviction(&pods[0]),
    );
    assert_eq!(code, 429, "{body}");
    assert!(!head.to_lowercase().contains("retry-after"), "{head}");
    let st = json_of(&body);
    assert_eq!(st["kind"], "Status");
    assert_eq!(st["reason"], "TooManyRequests");
    assert_eq!(
        st["message"],
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert_eq!(st["details"]["causes"][0]["reason"], "DisruptionBudget");
    assert_eq!(
        st["details"]["causes"][0]["message"],
        "The disruption budget web-pdb needs 2 healthy pods and has 2 currently"
    );

    // A second matching budget is a server error.
    c.sim
        .apply(
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web-pdb-2", "namespace": "default"},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}}),
        )
        .unwrap();
    let (code, _, body) = http(
        &c,
        "POST",
        &path,
        "application/json",
        "application/json",
        &eviction(&pods[0]),
    );
    assert_eq!(code, 500, "{body}");
    assert!(body.contains("more than one PodDisruptionBudget"), "{body}");
    c.sim
        .delete("poddisruptionbudgets", Some("default"), "web-pdb-2")
        .unwrap();

    // Lower the budget: one eviction is allowed, with the eviction's grace (0: immediate).
    let mut pdb = c
        .sim
        .get("poddisruptionbudgets", Some("default"), "web-pdb")
        .unwrap();
    pdb["spec"]["minAvailable"] = json!(1);
    c.sim.apply(pdb).unwrap();
    wait_until("budget allows", 10, || {
        let p = c
            .sim
            .get("poddisruptionbudgets", Some("default"), "web-pdb")
            .unwrap();
        p["status"]["disruptionsAllowed"] == 1
            && p["status"]["observedGeneration"] == p["metadata"]["generation"]
    })
    .await;
    let (code, _, body) = http(
        &c,
        "POST",
        &path,
        "application/json",
        "application/json",
        &eviction(&pods[0]),
    );
    assert_eq!(code, 201, "{body}");
    assert!(c.sim.get("pods", Some("default"), &pods[0]).is_none());

    // A Pending pod is evicted without a PDB check.
    c.sim
        .apply(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "pending", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"nodeSelector": {"no": "such-node"}, "containers": [{"name": "c", "image": "i"}]}}))
        .unwrap();
    let (code, _, body) = http(
        &c,
        "POST",
        "/api/v1/namespaces/default/pods/pending/eviction",
        "application/json",
        "application/json",
        &eviction("pending"),
    );
    assert_eq!(code, 201, "{body}");
    let (code, _, _) = http(
        &c,
        "POST",
        "/api/v1/namespaces/default/pods/nope/eviction",
        "application/json",
        "application/json",
        &eviction("nope"),
    );
    assert_eq!(code, 404);
    c.sim.shutdown().await;
}

/// Strategic merge on a Deployment merges containers and env by name and bumps generation.
fn strategic_merge_on_a_deployment(c: &Cluster) {
    let dpath = "/apis/apps/v1/namespaces/default/deployments/web";
    let smp = r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.28","env":[{"name":"B","value":"2"}]}]}}}}"#;
    let (code, _, body) = http(
        c,
        "PATCH",
        dpath,
        "application/strategic-merge-patch+json",
        "application/json",
        smp,
    );
    assert_eq!(code, 200, "{body}");
    let d = json_of(&body);
    let cs = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(cs.len(), 2);
    assert_eq!(cs[0]["image"], "nginx:1.28");
    assert_eq!(cs[0]["env"].as_array().unwrap().len(), 2);
    assert_eq!(d["metadata"]["generation"], 2);
}

/// Server-side apply creates, then merges.
fn server_side_apply(c: &Cluster) {
    let ssa = "/api/v1/namespaces/default/configmaps/applied?fieldManager=test";
    let (code, _, body) = http(
        c,
        "PATCH",
        ssa,
        "application/apply-patch+yaml",
        "application/json",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: \"1\"\n",
    );
    assert_eq!(code, 201, "{body}");
    let (code, _, body) = http(
        c,
        "PATCH",
        ssa,
        "application/apply-patch+yaml",
        "application/json",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied"},"data":{"b":"2"}}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(json_of(&body)["data"], json!({"a": "1", "b": "2"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_conflicts_and_patches() {
    let c = cluster().await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "cfg-"}, "data": {"a": "1"}});
    let (code, _, body) = http(
        &c,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        "application/json",
        &cm.to_string(),
    );
    assert_eq!(code, 201, "{body}");
    let created = json_of(&body);
    let name = created["metadata"]["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("cfg-") && name.len() == 9, "{name}");
    assert!(
        created["metadata"]["uid"].is_string()
            && created["metadata"]["creationTimestamp"].is_string()
    );
    let path = format!("/api/v1/namespaces/default/configmaps/{name}");

    // Duplicate create, stale update.
    let mut dup = created.clone();
    dup["metadata"]["resourceVersion"] = Value::Null;
    let (code, _, body) = http(
        &c,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        "application/json",
        &dup.to_string(),
    );
    assert_eq!(
        (code, json_of(&body)["reason"].clone()),
        (409, json!("AlreadyExists"))
    );
    let mut upd = created.clone();
    upd["data"]["a"] = json!("2");
    let (code, _, _) = http(
        &c,
        "PUT",
        &path,
        "application/json",
        "application/json",
        &upd.to_string(),
    );
    assert_eq!(code, 200);
    let (code, _, body) = http(
        &c,
        "PUT",
        &path,
        "application/json",
        "application/json",
        &upd.to_string(),
    );
    assert_eq!(code, 409, "stale resourceVersion: {body}");
    assert_eq!(json_of(&body)["reason"], "Conflict");

    // Merge patch and JSON patch.
    let (code, _, body) = http(
        &c,
        "PATCH",
        &path,
        "application/merge-patch+json",
        "application/json",
        r#"{"data":{"a":null,"b":"x"}}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(json_of(&body)["data"], json!({"b": "x"}));
    let (code, _, body) = http(
        &c,
        "PATCH",
        &path,
        "application/json-patch+json",
        "application/json",
        r#"[{"op":"add","path":"/data/c","value":"y"}]"#,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(json_of(&body)["data"]["c"], "y");
    let (code, _, _) = http(&c, "PATCH", &path, "text/plain", "application/json", "{}");
    assert_eq!(code, 415);

    strategic_merge_on_a_deployment(&c);
    server_side_apply(&c);

    // Scale subresource.
    let (code, _, body) = http(
        &c,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        "application/merge-patch+json",
        "application/json",
        r#"{"spec":{"replicas":3}}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(json_of(&body)["kind"], "Scale");
    assert_eq!(
        c.sim.get("deployments", Some("default"), "web").unwrap()["spec"]["replicas"],
        3
    );

    // Delete with a wrong uid precondition, then the real delete (protobuf-ish body tolerated).
    let pre =
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "nope"}})
            .to_string();
    let (code, _, body) = http(
        &c,
        "DELETE",
        &path,
        "application/json",
        "application/json",
        &pre,
    );
    assert_eq!(code, 409, "{body}");
    let (code, _, _) = http(
        &c,
        "DELETE",
        &path,
        "application/vnd.kubernetes.protobuf",
        "application/json",
        "k8s\0\n\x0c\n\x02v1",
    );
    assert_eq!(code, 200);
    let (code, _, body) = http(&c, "GET", &path, "", "application/json", "");
    assert_eq!(code, 404);
    assert_eq!(
        json_of(&body)["message"],
        format!("configmaps \"{name}\" not found")
    );
    c.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_selectors_tables_and_discovery() {
    let c = cluster().await;
    for i in 0..7 {
        c.sim
            .apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("cm-{i}"), "namespace": "default", "labels": {"tier": if i % 2 == 0 { "even" } else { "odd" }}}}))
            .unwrap();
    }
    let mut names = Vec::new();
    let mut cont = String::new();
    loop {
        let path = format!(
            "/api/v1/namespaces/default/configmaps?limit=2&labelSelector=tier%20in%20(even)&continue={cont}"
        );
        let (code, _, body) = http(&c, "GET", &path, "", "application/json", "");
        assert_eq!(code, 200, "{body}");
        let l = json_of(&body);
        assert_eq!(l["kind"], "ConfigMapList");
        for it in l["items"].as_array().unwrap() {
            names.push(it["metadata"]["name"].as_str().unwrap().to_string());
        }
        match l["metadata"]["continue"].as_str() {
            Some(c) if !c.is_empty() => cont = c.to_string(),
            _ => break,
        }
    }
    assert_eq!(names, ["cm-0", "cm-2", "cm-4", "cm-6"]);
    let (code, _, _) = http(
        &c,
        "GET",
        "/api/v1/pods?fieldSelector=spec.bogus%3Dx",
        "",
        "application/json",
        "",
    );
    assert_eq!(code, 400);
    let (_, _, body) = http(
        &c,
        "GET",
        "/api/v1/pods?fieldSelector=status.phase%3DRunning,metadata.namespace%3Ddefault",
        "",
        "application/json",
        "",
    );
    assert!(!json_of(&body)["items"].as_array().unwrap().is_empty());

    // Server-side table.
    let (code, _, body) = http(
        &c,
        "GET",
        "/api/v1/namespaces/default/pods",
        "",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        "",
    );
    assert_eq!(code, 200);
    let t = json_of(&body);
    assert_eq!(t["kind"], "Table");
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(&cols[..5], ["Name", "Ready", "Status", "Restarts", "Age"]);
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");

    // Discovery: eviction is policy/v1 Eviction, shortNames are there.
    let (_, _, body) = http(&c, "GET", "/api/v1", "", "application/json", "");
    let d = json_of(&body);
    let res = d["resources"].as_array().unwrap();
    let ev = res.iter().find(|r| r["name"] == "pods/eviction").unwrap();
    assert_eq!(
        (
            ev["kind"].as_str(),
            ev["group"].as_str(),
            ev["version"].as_str()
        ),
        (Some("Eviction"), Some("policy"), Some("v1"))
    );
    assert!(
        res.iter()
            .any(|r| r["name"] == "pods" && r["shortNames"] == json!(["po"]))
    );
    let (_, _, body) = http(&c, "GET", "/apis/apps/v1", "", "application/json", "");
    assert!(body.contains("\"deployments/scale\"") && body.contains("\"deploy\""));
    let (_, _, body) = http(&c, "GET", "/version", "", "application/json", "");
    assert_eq!(json_of(&body)["minor"], "33");
    c.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_kubectl_logs() {
    let c = cluster().await;
    let pod = c
        .sim
        .list("pods", Some("default"))
        .into_iter()
        .find(|p| p["metadata"]["labels"]["app"] == "crasher")
        .unwrap();
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    let out = c.ok(&["logs", &name, "--previous"]).await;
    assert!(out.contains("panic:"), "{out}");
    let out = c.ok(&["logs", &name, "--previous", "--tail=2"]).await;
    assert_eq!(out.lines().count(), 2, "{out}");
    let web = web_pods(&c);
    c.kubectl(&["logs", &web[0], "--container", "nope"])
        .await
        .expect_exit(1);
    let out = c.ok(&["logs", &web[0], "-c", "sidecar"]).await;
    assert!(out.contains("starting envoy"), "{out}");
    // -f keeps streaming.
    let mut follow = c.kubectl_spawn(&["logs", "-f", &web[0], "-c", "web"]);
    wait_for_stdout(&follow, 15, |seen| {
        seen.matches("GET /healthz").count() >= 3
    })
    .await;
    assert!(!follow.has_ended(), "still following");
    follow.kill();
    c.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults() {
    let c = cluster().await;
    let before = c.sim.request_count();
    c.sim.set_faults(FaultSpec::parse("5xx=1,seed=3").unwrap());
    let (code, _, body) = http(&c, "GET", "/api/v1/pods", "", "application/json", "");
    assert!(code == 500 || code == 503, "{code} {body}");
    assert_eq!(json_of(&body)["kind"], "Status");
    c.sim
        .set_faults(FaultSpec::parse("429=1,retry-after=7").unwrap());
    let (code, head, _) = http(&c, "GET", "/api/v1/pods", "", "application/json", "");
    assert_eq!(code, 429);
    assert!(head.to_lowercase().contains("retry-after: 7"), "{head}");
    c.sim.set_faults(FaultSpec::parse("drop=1").unwrap());
    let (_, _, body) = http(&c, "GET", "/api/v1/pods", "", "application/json", "");
    assert!(
        serde_json::from_str::<Value>(&body).is_err(),
        "a dropped list is cut short: {body}"
    );
    c.sim.set_faults(FaultSpec::parse("conflict=1").unwrap());
    let (code, _, _) = http(
        &c,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web",
        "application/merge-patch+json",
        "application/json",
        "{}",
    );
    assert_eq!(code, 409);
    let (code, _, _) = http(
        &c,
        "GET",
        "/apis/apps/v1/namespaces/default/deployments/web",
        "",
        "application/json",
        "",
    );
    assert_eq!(code, 200, "reads are not conflicted");
    c.sim.set_faults(FaultSpec::parse("latency=300ms").unwrap());
    let t = std::time::Instant::now();
    http(&c, "GET", "/version", "", "application/json", "");
    assert!(t.elapsed() >= std::time::Duration::from_millis(300));
    c.sim.set_faults(FaultSpec::default());
    let (code, _, _) = http(&c, "GET", "/api/v1/pods", "", "application/json", "");
    assert_eq!(code, 200);
    // Benchmarks count a command's requests as the difference of this
    // counter: each request served counts once, refused by a fault or not.
    assert_eq!(c.sim.request_count(), before + 7);
    c.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_tokens_expire_with_compaction() {
    let c = cluster().await;
    let page = |cont: &str| {
        // Tokens are base64: `+`, `/` and `=` are escaped in a query.
        let cont = cont
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        http(
            &c,
            "GET",
            &format!("/api/v1/pods?limit=1&continue={cont}"),
            "application/json",
            "application/json",
            "",
        )
    };
    let (code, _, body) = page("");
    assert_eq!(code, 200, "{body}");
    let first = json_of(&body);
    let cont = first["metadata"]["continue"].as_str().unwrap().to_string();
    // The token reads the next page while its history lasts...
    let (code, _, body) = page(&cont);
    assert_eq!(code, 200, "{body}");
    // ...and is refused once the store has compacted past it.
    c.sim
        .apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "later", "namespace": "default"}}))
        .unwrap();
    c.sim.compact();
    let (code, _, body) = page(&cont);
    assert_eq!(code, 410, "{body}");
    let status = json_of(&body);
    assert_eq!(status["reason"], "Expired");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("continue parameter is too old"),
        "{status}"
    );
    // Like the API server's, the answer carries a token that lists the rest
    // without consistency.
    let rest = status["metadata"]["continue"].as_str().expect("a token");
    let (code, _, body) = page(rest);
    assert_eq!(code, 200, "{body}");
    assert!(
        !json_of(&body)["items"].as_array().unwrap().is_empty(),
        "{body}"
    );
    // An injected compaction refuses exactly the next token presented.
    let (_, _, body) = page("");
    let cont = json_of(&body)["metadata"]["continue"]
        .as_str()
        .unwrap()
        .to_string();
    c.sim
        .set_faults(FaultSpec::parse("expire-continue=1").unwrap());
    assert_eq!(page(&cont).0, 410);
    let (_, _, body) = page("");
    let cont = json_of(&body)["metadata"]["continue"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(page(&cont).0, 200);
    c.sim.shutdown().await;
}

/// Concurrent evictions under one budget: each decrements the budget's
/// allowance with the version it read, so they conflict with each other.
/// The API server retries those conflicts itself; a client sees only
/// successes (201) and budget refusals (429), never a 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_evictions_never_answer_conflict() {
    let seed = Node::new("node-1").cpu("64").yaml()
        + &Workload::deployment("default", "web")
            .replicas(60)
            .container("web", "nginx:1.27")
            .yaml()
        + &pdb_max_unavailable("default", "web-pdb", "web", 20);
    let c = Cluster::yaml(&seed).await;
    let pods = web_pods(&c);
    assert_eq!(pods.len(), 60);
    let c = std::sync::Arc::new(c);
    let codes: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = pods
            .iter()
            .map(|pod| {
                let c = c.clone();
                scope.spawn(move || {
                    let path = format!("/api/v1/namespaces/default/pods/{pod}/eviction");
                    http(
                        &c,
                        "POST",
                        &path,
                        "application/json",
                        "application/json",
                        &eviction(pod),
                    )
                    .0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(!codes.contains(&409), "{codes:?}");
    assert_eq!(codes.iter().filter(|&&c| c == 201).count(), 20, "{codes:?}");
    assert_eq!(codes.iter().filter(|&&c| c == 429).count(), 40, "{codes:?}");
}
