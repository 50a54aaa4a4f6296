//! API errors, rendered as metav1 Status objects like the real API server.

use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds for a Retry-After header (429 and some 5xx).
    pub retry_after: Option<u64>,
    /// `metadata.continue` of the Status: an expired list's token that goes
    /// on without consistency.
    pub continue_token: Option<String>,
}

impl ApiError {
    pub(crate) fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
            continue_token: None,
        }
    }

    /// An RBAC refusal: `message` is the full sentence.
    pub(crate) fn forbidden(message: String, name: &str, group: &str, resource: &str) -> Self {
        Self::new(403, "Forbidden", message).with_details(Self::gk(group, resource, name))
    }

    fn with_details(mut self, d: Value) -> Self {
        self.details = Some(d);
        self
    }

    fn gk(group: &str, resource: &str, name: &str) -> Value {
        let mut d = json!({"name": name, "kind": resource});
        if !group.is_empty() {
            d["group"] = json!(group);
        }
        d
    }

    fn qualified(group: &str, resource: &str) -> String {
        if group.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}.{group}")
        }
    }

    pub(crate) fn not_found(group: &str, resource: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", Self::qualified(group, resource)),
        )
        .with_details(Self::gk(group, resource, name))
    }

    pub(crate) fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!(
                "{} \"{name}\" already exists",
                Self::qualified(group, resource)
            ),
        )
        .with_details(Self::gk(group, resource, name))
    }

    pub(crate) fn conflict(group: &str, resource: &str, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                Self::qualified(group, resource)
            ),
        )
        .with_details(Self::gk(group, resource, name))
    }

    pub(crate) fn stale(group: &str, resource: &str, name: &str) -> Self {
        Self::conflict(
            group,
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub(crate) fn invalid(kind: &str, name: &str, field: &str, why: &str) -> Self {
        Self::new(
            422,
            "Invalid",
            format!("{kind} \"{name}\" is invalid: {field}: {why}"),
        )
        .with_details(json!({
            "name": name, "kind": kind,
            "causes": [{"reason": "FieldValueInvalid", "message": why, "field": field}]
        }))
    }

    /// A 422 as the API server words it for a kind in an API group:
    /// `Deployment.apps "web" is invalid: FIELD: WHY`, with the cause in
    /// `details` (from which kubectl prints its own sentence).
    pub(crate) fn invalid_field(
        group: &str,
        kind: &str,
        name: &str,
        field: &str,
        reason: &str,
        why: &str,
    ) -> Self {
        let mut details = json!({
            "name": name, "kind": kind,
            "causes": [{"reason": reason, "message": why, "field": field}]
        });
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        Self::new(
            422,
            "Invalid",
            format!("{qualified} \"{name}\" is invalid: {field}: {why}"),
        )
        .with_details(details)
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    pub(crate) fn unsupported_media(ct: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {ct:?})"
            ),
        )
    }

    /// A create or update whose body is protobuf or CBOR, which the
    /// simulator does not decode. A real API server reads protobuf, so the
    /// sentence says how to send the same object as YAML instead.
    pub(crate) fn undecodable_body(ct: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {ct:?}; the sandbox does not read protobuf, which kubectl's create generators send: pipe them through `--dry-run=client -o yaml | kubectl create -f -`)"
            ),
        )
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    pub(crate) fn too_many_requests(message: impl Into<String>, retry_after: u64) -> Self {
        let mut e = Self::new(429, "TooManyRequests", message)
            .with_details(json!({"retryAfterSeconds": retry_after}));
        e.retry_after = Some(retry_after);
        e
    }

    pub(crate) fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// A list's continue token outlived an etcd compaction. Like the API
    /// server, the answer carries `inconsistent`, a token that lists the
    /// rest as it is now.
    pub(crate) fn expired_continue(inconsistent: String) -> Self {
        let mut e = Self::gone(
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
        );
        e.continue_token = Some(inconsistent);
        e
    }

    pub(crate) fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        if let Some(c) = &self.continue_token {
            s["metadata"]["continue"] = json!(c);
        }
        s
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}
