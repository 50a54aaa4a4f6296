use crate::error::Error;

/// The API server's Status, when the error carries one.
pub fn status_of(err: &kube::Error) -> Option<&kube::core::Status> {
    match err {
        kube::Error::Api(status) => Some(status),
        _ => None,
    }
}

/// 5xx answers, 429 and broken connections: worth asking again.
pub fn is_transient(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => status.code >= 500 || status.code == 429,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        // A connection cut mid-body surfaces as JSON that ends early; any
        // other decode failure will fail the same way again.
        kube::Error::SerdeError(e) => e.is_eof(),
        _ => false,
    }
}

pub fn is_not_found(err: &kube::Error) -> bool {
    status_of(err).is_some_and(|s| s.code == 404)
}

/// Turns a kube error into the error the user should see. `doing` says what
/// we were doing ("list nodes"), for the 403 message when the server's own
/// text does not name the verb and resource.
pub fn api_error(err: kube::Error, url: &str, doing: &str) -> Error {
    if let Some(status) = status_of(&err) {
        match status.code {
            401 => return Error::Unauthorized { url: url.into() },
            403 => {
                let (verb, resource) =
                    forbidden_target(&status.message).unwrap_or_else(|| split_doing(doing));
                return Error::Forbidden {
                    verb,
                    resource,
                    message: status.message.clone(),
                };
            }
            code if code >= 500 => {
                return Error::ServerError {
                    url: url.into(),
                    doing: doing.into(),
                    detail: format!("{code} {}: {}", status.reason, status.message),
                };
            }
            // A 400 answers what the user typed: a bad selector or name.
            400 => return Error::Usage(format!("cannot {doing}: {}", status.message)),
            _ => {
                return Error::Failed(format!("cannot {doing}: {}", status.message));
            }
        }
    }
    match &err {
        kube::Error::HyperError(_) | kube::Error::Service(_) => {
            let reason = root_cause(&err);
            // rustls words a failed verification "invalid peer certificate: …".
            if reason.contains("certificate") {
                Error::UntrustedServer {
                    url: url.into(),
                    reason,
                }
            } else {
                Error::Unreachable {
                    url: url.into(),
                    reason,
                }
            }
        }
        kube::Error::Auth(e) => Error::Credentials {
            context: url.into(),
            reason: e.to_string(),
        },
        _ => Error::Kube {
            context: format!("cannot {doing}"),
            source: err,
        },
    }
}

/// The innermost cause, which is the one that names the problem
/// ("Connection refused") rather than the layer that saw it.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string().to_lowercase()
}

/// Reads `cannot VERB resource "RES"` out of an RBAC refusal.
fn forbidden_target(message: &str) -> Option<(String, String)> {
    let rest = message.split("cannot ").nth(1)?;
    let mut words = rest.split_whitespace();
    let verb = words.next()?.to_string();
    if words.next()? != "resource" {
        return None;
    }
    let resource = words.next()?.trim_matches('"').to_string();
    Some((verb, resource))
}

fn split_doing(doing: &str) -> (String, String) {
    let mut parts = doing.splitn(2, ' ');
    let verb = parts.next().unwrap_or("access").to_string();
    (verb, parts.next().unwrap_or("resources").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbac_message_names_verb_and_resource() {
        let msg = r#"nodes "n1" is forbidden: User "jane" cannot patch resource "nodes" in API group "" at the cluster scope"#;
        assert_eq!(
            forbidden_target(msg),
            Some(("patch".into(), "nodes".into()))
        );
        assert_eq!(forbidden_target("forbidden"), None);
    }
}
