//! kube-rs against the simulator: typed objects decode, a watcher survives
//! 410 Gone (watch expiry) and resumes by
//! re-listing, and the raw API answers an old resourceVersion with 410.

mod common;

use std::time::Duration;

use common::Cluster;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher;
use kube::{Api, Client};
use oncall_sim::{FaultSpec, Seed};

async fn client(c: &Cluster) -> Client {
    let kc = kube::config::Kubeconfig::read_from(&c.kubeconfig).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    Client::try_from(cfg).unwrap()
}

fn cm(name: &str) -> serde_json::Value {
    common::ConfigMap::new("default", name)
        .data("k", "v")
        .into_value()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_survives_410_and_resumes() {
    let c = Cluster::start(Seed::Empty).await;
    c.sim.apply(cm("first")).unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client(&c).await, "default");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut s = watcher(api, watcher::Config::default()).boxed();
        while let Some(ev) = s.next().await {
            let msg = match ev {
                Ok(watcher::Event::Init) => "init".to_string(),
                Ok(watcher::Event::InitApply(o)) | Ok(watcher::Event::Apply(o)) => {
                    format!("apply:{}", o.metadata.name.unwrap_or_default())
                }
                Ok(watcher::Event::Delete(o)) => {
                    format!("delete:{}", o.metadata.name.unwrap_or_default())
                }
                Ok(watcher::Event::InitDone) => "done".to_string(),
                Err(e) => format!("error:{e}"),
            };
            if tx.send(msg).is_err() {
                return;
            }
        }
    });
    let mut log: Vec<String> = Vec::new();
    async fn expect(
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
        log: &mut Vec<String>,
        want: &str,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !log.iter().any(|l| l == want) {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(m)) => log.push(m),
                _ => panic!("never saw {want}; events: {log:?}"),
            }
        }
    }
    expect(&mut rx, &mut log, "apply:first").await;
    expect(&mut rx, &mut log, "done").await;

    // Every watch now ends after 300 ms with a 410 ERROR event.
    c.sim
        .set_faults(FaultSpec::parse("watch-expiry=300ms").unwrap());
    let inits_before = log.iter().filter(|l| *l == "init").count();
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.sim.apply(cm("second")).unwrap();
    expect(&mut rx, &mut log, "apply:second").await;
    let inits = log.iter().filter(|l| *l == "init").count();
    assert!(
        inits > inits_before,
        "the watcher re-listed after 410: {log:?}"
    );

    // Back to normal: changes keep flowing.
    c.sim.set_faults(FaultSpec::default());
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.sim.apply(cm("third")).unwrap();
    expect(&mut rx, &mut log, "apply:third").await;
    task.abort();
    c.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_compacted_version_is_gone() {
    let c = Cluster::start(Seed::Empty).await;
    let client = client(&c).await;
    c.sim.apply(cm("a")).unwrap();
    c.sim.compact();
    let req = http::Request::get(
        "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=1&timeoutSeconds=2",
    )
    .body(Vec::new())
    .unwrap();
    let text = client.request_text(req).await.unwrap();
    let ev: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(ev["object"]["code"], 410);
    assert_eq!(ev["object"]["reason"], "Expired");
    c.sim.shutdown().await;
}

/// Typed kube-rs objects decode: quantities arrive as strings, as from a
/// real API server, even where the seed wrote plain numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_nodes_and_pods_of_the_demo_decode() {
    use k8s_openapi::api::core::v1::{Node, Pod};
    let c = Cluster::start(Seed::Demo).await;
    let client = client(&c).await;
    let nodes = Api::<Node>::all(client.clone())
        .list(&Default::default())
        .await
        .expect("typed nodes decode");
    assert!(nodes.items.len() >= 5);
    let capacity = nodes.items[0]
        .status
        .as_ref()
        .and_then(|s| s.capacity.as_ref())
        .expect("capacity");
    assert!(capacity.contains_key("cpu"), "{capacity:?}");
    // The seed writes `ephemeral-storage: 47060071478`; the wire carries a string.
    let raw = c.ok(&["get", "nodes", "-o", "json"]).await;
    let raw: serde_json::Value = serde_json::from_str(&raw).unwrap();
    for n in raw["items"].as_array().unwrap() {
        for (k, q) in n["status"]["allocatable"].as_object().unwrap() {
            assert!(q.is_string(), "allocatable {k} is {q}");
        }
    }
    let pods = Api::<Pod>::all(client)
        .list(&Default::default())
        .await
        .expect("typed pods decode");
    assert!(pods.items.len() > 20);
    c.sim.shutdown().await;
}
