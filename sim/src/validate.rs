//! What the API server checks before it stores an object, so a malformed
//! object is refused at the door instead of reaching the controllers.
//!
//! Two stages, as on a real server: an object that does not decode into its
//! Go type (a number where a struct goes, a list where a map goes) is a 400
//! naming the field; one that decodes but breaks a rule the controllers rely
//! on (a pod template without containers, a selector that does not match the
//! template's labels) is a 422 with the field path.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::errors::ApiError;
use crate::resources::Resource;
use crate::selectors::LabelSelector;

/// Decode `v` as `T` and report the path of the first field that does not fit.
fn decodes<T: DeserializeOwned>(v: &Value) -> Result<(), String> {
    serde_path_to_error::deserialize::<_, T>(v)
        .map(|_| ())
        .map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            }
        })
}

/// Any other kind: only its metadata has a shape every kind shares.
#[derive(serde::Deserialize)]
struct AnyObject {
    #[serde(default)]
    #[allow(dead_code)]
    metadata: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
}

/// The typed decode for the resources whose shape the simulator relies on.
/// Unknown fields are ignored and missing ones defaulted, as by Go's decoder.
fn decode(plural: &str, v: &Value) -> Result<(), String> {
    use k8s_openapi::api::{apps, batch, core, policy};
    match plural {
        "pods" => decodes::<core::v1::Pod>(v),
        "nodes" => decodes::<core::v1::Node>(v),
        "namespaces" => decodes::<core::v1::Namespace>(v),
        "services" => decodes::<core::v1::Service>(v),
        "endpoints" => decodes::<core::v1::Endpoints>(v),
        "configmaps" => decodes::<core::v1::ConfigMap>(v),
        "secrets" => decodes::<core::v1::Secret>(v),
        "serviceaccounts" => decodes::<core::v1::ServiceAccount>(v),
        "persistentvolumeclaims" => decodes::<core::v1::PersistentVolumeClaim>(v),
        "deployments" => decodes::<apps::v1::Deployment>(v),
        "replicasets" => decodes::<apps::v1::ReplicaSet>(v),
        "statefulsets" => decodes::<apps::v1::StatefulSet>(v),
        "daemonsets" => decodes::<apps::v1::DaemonSet>(v),
        "controllerrevisions" => decodes::<apps::v1::ControllerRevision>(v),
        "jobs" => decodes::<batch::v1::Job>(v),
        "cronjobs" => decodes::<batch::v1::CronJob>(v),
        "poddisruptionbudgets" => decodes::<policy::v1::PodDisruptionBudget>(v),
        _ => decodes::<AnyObject>(v),
    }
}

/// 400 when the object does not decode; the message names the field.
pub(crate) fn check_decodes(r: &Resource, v: &Value) -> Result<(), ApiError> {
    let kind = r.kind;
    let version = r.version;
    if !v.is_object() {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {kind}): the body is not a JSON object"
        )));
    }
    // Quantities may be given as numbers (`cpu: 1`); the API server reads
    // them, and so does the simulator's store.
    let mut normal = v.clone();
    crate::store::quantities_as_strings(&mut normal);
    decode(r.plural, &normal).map_err(|why| {
        ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {why}"
        ))
    })
}

/// Where a resource keeps its pod template, and whether it has a selector.
fn template_path(plural: &str) -> Option<(&'static [&'static str], bool)> {
    Some(match plural {
        "deployments" | "replicasets" | "statefulsets" | "daemonsets" => {
            (&["spec", "template"], true)
        }
        "jobs" => (&["spec", "template"], false),
        "cronjobs" => (&["spec", "jobTemplate", "spec", "template"], false),
        _ => return None,
    })
}

fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter()
        .fold(v, |cur, p| cur.get(p).unwrap_or(&Value::Null))
}

fn has_containers(pod_spec: &Value) -> bool {
    pod_spec
        .get("containers")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty())
}

/// 422 for an object that decodes but that no controller could act on.
pub(crate) fn check_valid(r: &Resource, v: &Value) -> Result<(), ApiError> {
    let name = crate::util::str_at(v, &["metadata", "name"]);
    let invalid = |field: String, why: &str| {
        let reason = if why == "Required value" {
            "FieldValueRequired"
        } else {
            "FieldValueInvalid"
        };
        ApiError::invalid_field(r.group, r.kind, name, &field, reason, why)
    };
    if r.plural == "pods" && !has_containers(at(v, &["spec"])) {
        return Err(invalid("spec.containers".into(), "Required value"));
    }
    let Some((path, has_selector)) = template_path(r.plural) else {
        return Ok(());
    };
    for field in ["replicas", "parallelism", "completions", "backoffLimit"] {
        if let Some(n) = at(v, &["spec", field]).as_i64().filter(|n| *n < 0) {
            return Err(invalid(
                format!("spec.{field}"),
                &format!("Invalid value: {n}: must be greater than or equal to 0"),
            ));
        }
    }
    let template = at(v, path);
    if !has_containers(at(template, &["spec"])) {
        return Err(invalid(
            format!("{}.spec.containers", path.join(".")),
            "Required value",
        ));
    }
    if !has_selector {
        return Ok(());
    }
    let selector = at(v, &["spec", "selector"]);
    let empty = |k: &str| {
        selector.get(k).is_none_or(|x| {
            x.as_object().is_some_and(|m| m.is_empty())
                || x.as_array().is_some_and(|a| a.is_empty())
                || x.is_null()
        })
    };
    if empty("matchLabels") && empty("matchExpressions") {
        return Err(invalid("spec.selector".into(), "Required value"));
    }
    let labels: Vec<(String, String)> = at(template, &["metadata", "labels"])
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    if !LabelSelector::from_object(selector).matches_pairs(&labels) {
        // The labels as JSON, as the API server prints an invalid value.
        let shown = match at(template, &["metadata", "labels"]) {
            Value::Null => "{}".to_string(),
            labels => labels.to_string(),
        };
        return Err(invalid(
            format!("{}.metadata.labels", path.join(".")),
            &format!("Invalid value: {shown}: `selector` does not match template `labels`"),
        ));
    }
    Ok(())
}

/// Both checks, in the API server's order.
pub(crate) fn check(r: &Resource, v: &Value) -> Result<(), ApiError> {
    check_decodes(r, v)?;
    check_valid(r, v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::res;
    use serde_json::json;

    fn deployment(spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": spec})
    }

    #[test]
    fn a_spec_that_is_not_an_object_is_a_400_naming_the_field() {
        let e = check(res("deployments"), &deployment(json!(5))).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(
            e.message
                .contains("cannot be handled as a Deployment: spec: invalid type"),
            "{}",
            e.message
        );
    }

    #[test]
    fn template_labels_that_are_a_list_are_a_400_naming_the_path() {
        let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": [1, 2]},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let e = check(res("daemonsets"), &ds).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(
            e.message
                .contains("spec.template.metadata.labels: invalid type: sequence"),
            "{}",
            e.message
        );
    }

    #[test]
    fn numeric_quantities_and_unknown_fields_are_accepted() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "x-extra": 1,
            "spec": {"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": 0.5}}}]}});
        check(res("pods"), &pod).unwrap();
    }

    #[test]
    fn a_template_without_containers_or_with_a_foreign_selector_is_a_422() {
        let no_containers = deployment(json!({"selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}}}));
        let e = check(res("deployments"), &no_containers).unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "Deployment.apps \"web\" is invalid: spec.template.spec.containers: Required value"
        );
        let foreign = deployment(json!({"selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "c"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}));
        let e = check(res("deployments"), &foreign).unwrap_err();
        assert_eq!(e.code, 422);
        assert!(
            e.message.contains("spec.template.metadata.labels"),
            "{}",
            e.message
        );
    }
}
