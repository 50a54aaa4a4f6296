//! Malformed objects and selectors get the same answer from the simulator as
//! from a real API server: 400 for an object that does not decode (naming the
//! field), 422 for one that breaks a rule, 400 for a selector like `a=b=c`,
//! which oncall reports as a usage error (exit 2).

mod common;
use common::*;

on_both_backends!(
    malformed_objects_are_refused_as_the_api_server_refuses_them,
    a_selector_with_two_equals_signs_is_a_usage_error,
);

/// `kubectl create --raw` of `body` into the scope's namespace.
fn post(h: &Harness, path: &str, body: &serde_json::Value) -> Run {
    let file = h.home.path().join("body.json");
    std::fs::write(&file, body.to_string()).unwrap();
    h.kubectl(&["create", "--raw", path, "-f", file.to_str().unwrap()])
}

fn malformed_objects_are_refused_as_the_api_server_refuses_them(backend: Backend) {
    let s = Scope::new("malformed");
    let h = Harness::on(backend, &s, &s.namespace("app"));
    let ns = s.ns("app");
    let deployments = format!("/apis/apps/v1/namespaces/{ns}/deployments");
    let container = serde_json::json!([{"name": "c", "image": "nginx:1.27"}]);

    let spec_is_a_number = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "number"}, "spec": 5});
    let r = post(&h, &deployments, &spec_is_a_number);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("Error from server (BadRequest): Deployment in version \"v1\" cannot be handled as a Deployment")
            && r.stderr.contains("spec"),
        "{}",
        r.stderr
    );

    let labels_are_a_list = serde_json::json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "list"},
        "spec": {"selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": [1, 2]}, "spec": {"containers": container}}}});
    let r = post(
        &h,
        &format!("/apis/apps/v1/namespaces/{ns}/daemonsets"),
        &labels_are_a_list,
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("Error from server (BadRequest): DaemonSet in version \"v1\" cannot be handled as a DaemonSet")
            && r.stderr.contains("spec.template.metadata.labels"),
        "{}",
        r.stderr
    );

    let no_containers = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "empty"},
        "spec": {"selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}}}});
    let r = post(&h, &deployments, &no_containers);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(
            "The Deployment \"empty\" is invalid: spec.template.spec.containers: Required value"
        ),
        "{}",
        r.stderr
    );

    let foreign_selector = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "foreign"},
        "spec": {"selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "c"}}, "spec": {"containers": container}}}});
    let r = post(&h, &deployments, &foreign_selector);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("The Deployment \"foreign\" is invalid")
            && r.stderr
                .contains("spec.template.metadata.labels: Invalid value")
            && r.stderr
                .contains("`selector` does not match template `labels`"),
        "{}",
        r.stderr
    );
    // Nothing was stored.
    assert!(h.list("deployments", Some(&ns)).is_empty());
    assert!(h.list("daemonsets", Some(&ns)).is_empty());
}

fn a_selector_with_two_equals_signs_is_a_usage_error(backend: Backend) {
    let s = Scope::new("badsel");
    let h = Harness::on(backend, &s, &s.node_yaml("n1", "4", &[]));
    let r = h.oncall(&["node", "list", "-l", "a=b=c"]).expect_code(2);
    assert!(
        r.stderr
            .contains("found '=', expected: ',' or 'end of string'"),
        "{}",
        r.stderr
    );
    let k = h.kubectl(&["get", "pods", "-A", "-l", "a=b=c"]);
    assert_eq!(k.code, 1);
    assert!(
        k.stderr
            .contains("found '=', expected: ',' or 'end of string'"),
        "{}",
        k.stderr
    );
}
