//! Authentication and RBAC refusals on demand (fault keys `auth=expired` and
//! `forbid=VERB:RESOURCE|…`), worded as the API server words them, so that
//! clients can be tested against expired credentials and missing permissions.

use axum::http::Method;

use crate::errors::ApiError;

/// The user the sandbox kubeconfig's token stands for, in RBAC messages.
const USER: &str = "system:serviceaccount:oncall:sandbox";

/// What a resource request asks for, as the API server's RequestInfo has it.
#[derive(Debug, PartialEq)]
struct RequestInfo<'a> {
    verb: &'static str,
    group: &'a str,
    namespace: Option<&'a str>,
    /// `pods`, or `pods/eviction` for a subresource.
    resource: String,
    name: Option<&'a str>,
}

fn request_info<'a>(method: &Method, path: &'a str, is_watch: bool) -> Option<RequestInfo<'a>> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(*ns), rest),
        _ => (None, rest),
    };
    let (resource, name, sub) = match rest {
        [res] => (*res, None, None),
        [res, name] => (*res, Some(*name), None),
        [res, name, sub] => (*res, Some(*name), Some(*sub)),
        _ => return None,
    };
    let verb = match *method {
        Method::GET if name.is_some() => "get",
        Method::GET if is_watch => "watch",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if name.is_some() => "delete",
        Method::DELETE => "deletecollection",
        _ => return None,
    };
    Some(RequestInfo {
        verb,
        group,
        namespace,
        resource: match sub {
            Some(sub) => format!("{resource}/{sub}"),
            None => resource.to_string(),
        },
        name,
    })
}

/// The 401 every request gets once the credentials have expired.
pub(super) fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized")
}

/// The 403 for a request a `forbid` rule (`verb:resource`, `*` for any)
/// matches, or None.
pub(super) fn forbidden(
    rules: &[(String, String)],
    method: &Method,
    path: &str,
    is_watch: bool,
) -> Option<ApiError> {
    let info = request_info(method, path, is_watch)?;
    let matches = |(verb, resource): &(String, String)| {
        (verb == "*" || verb == info.verb) && (resource == "*" || *resource == info.resource)
    };
    if !rules.iter().any(matches) {
        return None;
    }
    let base = info.resource.split('/').next().unwrap_or_default();
    let subject = match info.name {
        Some(name) => format!("{base} \"{name}\""),
        None => base.to_string(),
    };
    let scope = match info.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    Some(ApiError::forbidden(
        format!(
            "{subject} is forbidden: User \"{USER}\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
            info.verb, info.resource, info.group
        ),
        info.name.unwrap_or_default(),
        info.group,
        base,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_verb_and_resource_like_the_api_server() {
        let i = request_info(
            &Method::POST,
            "/api/v1/namespaces/web/pods/p1/eviction",
            false,
        )
        .unwrap();
        assert_eq!(
            (i.verb, i.resource.as_str(), i.namespace),
            ("create", "pods/eviction", Some("web"))
        );
        let i = request_info(&Method::GET, "/apis/apps/v1/deployments", true).unwrap();
        assert_eq!((i.verb, i.group, i.namespace), ("watch", "apps", None));
        let i = request_info(&Method::PATCH, "/api/v1/nodes/n1", false).unwrap();
        assert_eq!((i.verb, i.name), ("patch", Some("n1")));
        let i = request_info(&Method::GET, "/api/v1/namespaces/web", false).unwrap();
        assert_eq!(
            (i.verb, i.resource.as_str(), i.name),
            ("get", "namespaces", Some("web"))
        );
        assert_eq!(request_info(&Method::GET, "/version", false), None);
        assert_eq!(request_info(&Method::GET, "/apis/apps/v1", false), None);
    }

    #[test]
    fn refuses_with_the_rbac_sentence() {
        let rules = vec![("patch".to_string(), "nodes".to_string())];
        let e = forbidden(&rules, &Method::PATCH, "/api/v1/nodes/n1", false).unwrap();
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "nodes \"n1\" is forbidden: User \"system:serviceaccount:oncall:sandbox\" cannot patch resource \"nodes\" in API group \"\" at the cluster scope"
        );
        assert!(forbidden(&rules, &Method::GET, "/api/v1/nodes/n1", false).is_none());
    }
}
