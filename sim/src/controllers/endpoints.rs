//! Endpoints controller: each Service with a selector gets an Endpoints
//! object listing its pods' IPs (ready and not ready) and ports.

use serde_json::{Value, json};

use super::{Ctx, State};
use crate::selectors::LabelSelector;
use crate::store::{UpdateMode, res};
use crate::util::str_at;

fn target_port(svc_port: &Value, pod: &Value) -> Value {
    match &svc_port["targetPort"] {
        Value::String(name) => pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .find(|p| p["name"] == name.as_str())
            .map(|p| p["containerPort"].clone())
            .unwrap_or_else(|| svc_port["port"].clone()),
        Value::Null => svc_port["port"].clone(),
        n => n.clone(),
    }
}

pub(super) fn reconcile(ctx: &Ctx, _st: &mut State, ns: &str, name: &str) {
    let eps = res("endpoints");
    let Some(svc) = ctx.store.get_value(res("services"), ns, name) else {
        let _ = ctx.store.delete(eps, ns, name, &Default::default());
        return;
    };
    let sel = &svc["spec"]["selector"];
    if sel.as_object().is_none_or(|m| m.is_empty()) {
        return;
    }
    let selector = LabelSelector(
        sel.as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                crate::selectors::Req::Eq(k.clone(), v.as_str().unwrap_or("").to_string())
            })
            .collect(),
    );
    let pods: Vec<Value> = ctx
        .store
        .scan(res("pods"), Some(ns), |m| {
            selector.matches_pairs(&m.labels) && !m.deleting
        })
        .iter()
        .map(|s| s.value())
        .filter(|p| !str_at(p, &["status", "podIP"]).is_empty())
        .collect();
    let mut ready = Vec::new();
    let mut not_ready = Vec::new();
    for p in &pods {
        let addr = json!({
            "ip": p["status"]["podIP"], "nodeName": p["spec"]["nodeName"],
            "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]},
        });
        let is_ready = p["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        if is_ready || svc["spec"]["publishNotReadyAddresses"] == true {
            ready.push(addr);
        } else {
            not_ready.push(addr);
        }
    }
    let ports: Vec<Value> = svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|sp| {
            let port = pods
                .first()
                .map(|p| target_port(sp, p))
                .unwrap_or_else(|| sp["port"].clone());
            let mut e = json!({"port": port, "protocol": sp["protocol"].as_str().unwrap_or("TCP")});
            if let Some(n) = sp["name"].as_str() {
                e["name"] = json!(n);
            }
            e
        })
        .collect();
    let mut subset = json!({"ports": ports});
    if !ready.is_empty() {
        subset["addresses"] = json!(ready);
    }
    if !not_ready.is_empty() {
        subset["notReadyAddresses"] = json!(not_ready);
    }
    let subsets = if pods.is_empty() {
        json!([])
    } else {
        json!([subset])
    };
    let labels = svc["metadata"]["labels"].clone();
    match ctx.store.get_value(eps, ns, name) {
        Some(mut cur) => {
            let before = cur.clone();
            cur["subsets"] = subsets;
            if !labels.is_null() {
                cur["metadata"]["labels"] = labels;
            }
            if cur != before {
                let _ = ctx.store.update(eps, cur, UpdateMode::Raw, false);
            }
        }
        None => {
            let mut meta = json!({"name": name, "namespace": ns, "creationTimestamp": svc["metadata"]["creationTimestamp"]});
            if !labels.is_null() {
                meta["labels"] = labels;
            }
            let _ = ctx.store.create(eps, json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": meta, "subsets": subsets}));
        }
    }
}
