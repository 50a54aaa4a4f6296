//! The scale generator: a large, settled cluster built directly in the
//! store (no controller has to start anything), with realistic namespaces,
//! Deployments with their ReplicaSets, PDBs and Running pods spread over
//! node pools.

use serde_json::{Value, json};

use crate::controllers::{defaults, podutil};
use bytes::Bytes;

use crate::store::{Store, Stored, meta_of, res};
use crate::util::{self, Rng};

const NAMESPACES: &[&str] = &[
    "payments",
    "checkout",
    "catalog",
    "search",
    "identity",
    "notifications",
    "media",
    "analytics",
    "ml-serving",
    "platform",
    "ingress",
    "monitoring",
];
const APPS: &[&str] = &[
    "api",
    "worker",
    "frontend",
    "gateway",
    "scheduler",
    "indexer",
    "consumer",
    "renderer",
    "cache",
    "exporter",
    "sync",
    "webhook",
];
const REPLICAS: &[usize] = &[2, 3, 3, 4, 6, 8, 12];
const NODES_PER_POOL: usize = 500;

fn node(name: &str, pool: &str, zone: &str, ip: &str, created: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name, "uid": util::new_uid(), "creationTimestamp": created,
            "labels": {
                "cloud.google.com/gke-nodepool": pool,
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": "n2-standard-16",
                "topology.kubernetes.io/region": "europe-west2", "topology.kubernetes.io/zone": zone,
            },
        },
        "spec": {"providerID": format!("gce://scale-project/{zone}/{name}")},
        "status": {
            "capacity": {"cpu": "16", "memory": "65851340Ki", "pods": "110"},
            "allocatable": {"cpu": "15890m", "memory": "57553356Ki", "pods": "110"},
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status",
                            "lastHeartbeatTime": created, "lastTransitionTime": created}],
            "nodeInfo": {"kubeletVersion": "v1.33.1-gke.1386000", "kubeProxyVersion": "v1.33.1-gke.1386000",
                         "osImage": "Container-Optimized OS from Google", "kernelVersion": "6.6.87+",
                         "containerRuntimeVersion": "containerd://2.0.4", "operatingSystem": "linux", "architecture": "amd64"},
        },
    })
}

fn owner(kind: &str, api: &str, name: &str, uid: &str) -> Value {
    json!([{"apiVersion": api, "kind": kind, "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}])
}

/// The nodes, spread over three zones and pools of `NODES_PER_POOL`, and the
/// namespaces. Returns the nodes' names and internal IPs.
fn nodes_and_namespaces(
    store: &Store,
    rng: &mut Rng,
    nodes: usize,
    created: &str,
) -> (Vec<String>, Vec<String>) {
    let zones = ["europe-west2-a", "europe-west2-b", "europe-west2-c"];
    let mut node_names = Vec::with_capacity(nodes);
    let mut node_ips = Vec::with_capacity(nodes);
    let mut node_objs = Vec::with_capacity(nodes);
    for i in 0..nodes {
        let pool = format!("pool-{}", i / NODES_PER_POOL + 1);
        let name = format!(
            "gke-scale-{pool}-{:08x}-{}",
            (i / NODES_PER_POOL) as u32 * 0x9e37_79b9,
            rng.suffix(4)
        );
        let ip = format!("10.{}.{}.{}", 128 + (i >> 16) % 64, (i >> 8) & 255, i & 255);
        node_objs.push(node(&name, &pool, zones[i % 3], &ip, created));
        node_ips.push(ip);
        node_names.push(name);
    }
    store.bulk_insert(res("nodes"), node_objs);
    let mut nss = vec![];
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"]
        .iter()
        .chain(NAMESPACES)
    {
        nss.push(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "uid": util::new_uid(), "creationTimestamp": created},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}));
    }
    store.bulk_insert(res("namespaces"), nss);
    (node_names, node_ips)
}

/// A budget allowing one disruption, for a Deployment of three or more.
fn pdb(ns: &str, app: &str, labels: &Value, replicas: usize, created: &str) -> Value {
    json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": format!("{app}-pdb"), "namespace": ns, "uid": util::new_uid(),
                     "creationTimestamp": created, "generation": 1},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}},
        "status": {"observedGeneration": 1, "currentHealthy": replicas, "desiredHealthy": replicas - 1,
                   "expectedPods": replicas, "disruptionsAllowed": 1,
                   "conditions": [{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods",
                                   "message": "", "observedGeneration": 1, "lastTransitionTime": created}]},
    })
}

/// Fill the store with `nodes` nodes and about `pods_per_node` Running pods each.
pub(crate) fn generate(store: &Store, nodes: usize, pods_per_node: usize) {
    let mut rng = Rng::new(0x5eed);
    let created = util::ts(util::now() - chrono::Duration::days(30));
    let pod_created = util::ts(util::now() - chrono::Duration::days(3));
    let (node_names, node_ips) = nodes_and_namespaces(store, &mut rng, nodes, &created);
    if nodes == 0 {
        return;
    }
    let total = nodes * pods_per_node;
    let (mut deploys, mut rss, mut pdbs, mut pods) =
        (vec![], vec![], vec![], Vec::with_capacity(8192));
    let mut made = 0usize;
    let mut next_node = 0usize;
    let mut k = 0usize;
    while made < total {
        let ns = NAMESPACES[k % NAMESPACES.len()];
        let app = format!(
            "{}-{}",
            APPS[(k / NAMESPACES.len()) % APPS.len()],
            k / (NAMESPACES.len() * APPS.len())
        );
        let replicas = REPLICAS[k % REPLICAS.len()].min(total - made);
        k += 1;
        let image = format!("registry.example.com/{ns}/{app}:sha-{}", rng.hex(40));
        let labels = json!({"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": ns});
        let mut template = json!({
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": app, "image": image,
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}}]},
        });
        defaults::pod_spec(&mut template["spec"]);
        let hash = podutil::template_hash(&template);
        let d_uid = util::new_uid();
        let rs_name = format!("{app}-{hash}");
        let rs_uid = util::new_uid();
        let avail_cond = |t: &str, reason: &str, msg: String| {
            json!({"type": t, "status": "True", "reason": reason, "message": msg,
            "lastTransitionTime": created, "lastUpdateTime": created})
        };
        let mut d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": app, "namespace": ns, "uid": d_uid, "creationTimestamp": created, "generation": 1,
                         "labels": labels, "annotations": {"deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": template},
            "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                       "readyReplicas": replicas, "availableReplicas": replicas,
                       "conditions": [
                           avail_cond("Available", "MinimumReplicasAvailable", "Deployment has minimum availability.".into()),
                           avail_cond("Progressing", "NewReplicaSetAvailable", format!("ReplicaSet \"{rs_name}\" has successfully progressed.")),
                       ]},
        });
        defaults::apply(res("deployments"), &mut d);
        let mut rs_template = template.clone();
        rs_template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
        let mut rs_labels = labels.clone();
        rs_labels["pod-template-hash"] = json!(hash);
        rss.push(json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": rs_name, "namespace": ns, "uid": rs_uid, "creationTimestamp": created, "generation": 1,
                         "labels": rs_labels,
                         "annotations": {"deployment.kubernetes.io/revision": "1",
                                         "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                                         "deployment.kubernetes.io/max-replicas": (replicas + 1).to_string()},
                         "ownerReferences": owner("Deployment", "apps/v1", &app, &d_uid)},
            "spec": {"replicas": replicas, "minReadySeconds": 0, "selector": {"matchLabels": rs_labels}, "template": rs_template},
            "status": {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas,
                       "availableReplicas": replicas, "terminatingReplicas": 0, "observedGeneration": 1},
        }));
        deploys.push(d);
        if replicas >= 3 {
            pdbs.push(pdb(ns, &app, &labels, replicas, &created));
        }
        // One pod per Deployment is built as JSON with placeholders; the
        // replicas are stamped from it (string substitution), which is what
        // makes 150,000 pods take seconds rather than minutes.
        let rv = store.current_rv() + 1;
        let mut proto = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "@NAME@", "generateName": format!("{rs_name}-"), "namespace": ns, "uid": "@UID@",
                         "resourceVersion": rv.to_string(),
                         "creationTimestamp": pod_created, "labels": rs_labels, "generation": 1,
                         "ownerReferences": owner("ReplicaSet", "apps/v1", &rs_name, &rs_uid)},
            "spec": template["spec"].clone(),
            "status": {
                "phase": "Running", "hostIP": "@HOSTIP@", "hostIPs": [{"ip": "@HOSTIP@"}], "podIP": "@PODIP@", "podIPs": [{"ip": "@PODIP@"}],
                "startTime": pod_created, "qosClass": "Burstable",
                "conditions": [
                    {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": null, "lastTransitionTime": pod_created},
                    {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": pod_created},
                    {"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": pod_created},
                    {"type": "ContainersReady", "status": "True", "lastProbeTime": null, "lastTransitionTime": pod_created},
                    {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": pod_created},
                ],
                "containerStatuses": [{"name": app, "image": image, "imageID": "", "ready": true, "started": true,
                    "restartCount": 0, "containerID": "containerd://@CID@",
                    "state": {"running": {"startedAt": pod_created}}, "lastState": {}}],
            },
        });
        proto["spec"]["nodeName"] = json!("@NODE@");
        let base_meta = meta_of(res("pods"), &proto);
        let text = serde_json::to_string(&proto).expect("json");
        for _ in 0..replicas {
            let i = next_node % nodes;
            next_node += 1;
            let name = format!("{rs_name}-{}", rng.suffix(5));
            let ip = format!(
                "10.{}.{}.{}",
                64 + (made >> 16) % 64,
                (made >> 8) & 255,
                made & 255
            );
            let uid = rng.uid();
            let json = text
                .replace("@NAME@", &name)
                .replace("@UID@", &uid)
                .replace("@HOSTIP@", &node_ips[i])
                .replace("@PODIP@", &ip)
                .replace("@NODE@", &node_names[i])
                .replace("@CID@", &rng.hex(64));
            let mut meta = base_meta.clone();
            meta.name = name;
            meta.uid = uid;
            for (k, v) in meta.fields.iter_mut() {
                match *k {
                    "metadata.name" => v.clone_from(&meta.name),
                    "spec.nodeName" => v.clone_from(&node_names[i]),
                    "status.podIP" => v.clone_from(&ip),
                    _ => {}
                }
            }
            pods.push(Stored::new(Bytes::copy_from_slice(json.as_bytes()), meta));
            made += 1;
            if pods.len() >= 8192 {
                store.bulk_insert_stored(res("pods"), std::mem::take(&mut pods));
            }
        }
        if deploys.len() >= 1024 {
            flush(store, &mut deploys, &mut rss, &mut pdbs);
        }
    }
    flush(store, &mut deploys, &mut rss, &mut pdbs);
    store.bulk_insert_stored(res("pods"), pods);
}

fn flush(store: &Store, deploys: &mut Vec<Value>, rss: &mut Vec<Value>, pdbs: &mut Vec<Value>) {
    store.bulk_insert(res("deployments"), std::mem::take(deploys));
    store.bulk_insert(res("replicasets"), std::mem::take(rss));
    store.bulk_insert(res("poddisruptionbudgets"), std::mem::take(pdbs));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamped_pods_index_like_parsed_ones() {
        let store = Store::default();
        generate(&store, 4, 5);
        let pods = store.scan(res("pods"), None, |_| true);
        assert_eq!(pods.len(), 20);
        for p in &pods {
            let v = p.value();
            let m = meta_of(res("pods"), &v);
            assert_eq!(m.name, p.meta.name);
            assert_eq!(m.uid, p.meta.uid);
            assert_eq!(m.fields, p.meta.fields);
            assert_eq!(m.labels, p.meta.labels);
            assert_eq!(m.owner, p.meta.owner);
            assert_eq!(m.rv, p.meta.rv);
            assert!(m.ready && p.meta.ready);
            assert!(
                v["spec"]["nodeName"]
                    .as_str()
                    .unwrap()
                    .starts_with("gke-scale-pool-1-")
            );
        }
        assert!(store.count(res("poddisruptionbudgets")) > 0);
        assert!(store.count(res("deployments")) > 0);
    }
}
