use crate::error::Error;

/// The API server's Status, when the error carries one.
pub fn status_of(err: &kube::Error) -> Option<&kube::core::Status> {
    match err {
        kube::Error::Api(status) => Some(status),
        _ => None,
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
        if is_web_page(status) {
            return Error::WebPage {
                url: url.into(),
                code: status.code,
                title: page_title(&status.message).unwrap_or_else(|| "untitled".into()),
            };
        }
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
                return Error::ServerFailed {
                    url: url.into(),
                    doing: doing.into(),
                    detail: format!("{code} {}: {}", status.reason, status.message),
                };
            }
            // A 400 answers what the user typed: a bad selector or name.
            // A 400 (exit 2) answers what the user typed; others exit 1.
            code => {
                return Error::ApiRejected {
                    doing: doing.into(),
                    what: None,
                    code,
                    status: None,
                    message: status.message.clone(),
                };
            }
        }
    }
    if let Some(e) = connection_error(&err, url) {
        return e;
    }
    match &err {
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

/// A request that never got an answer: timed out, refused by a proxy, an
/// untrusted certificate, or no route to the server.
fn connection_error(err: &kube::Error, url: &str) -> Option<Error> {
    if !matches!(err, kube::Error::HyperError(_) | kube::Error::Service(_)) {
        return None;
    }
    let mut timed_out = false;
    let mut through_proxy = None;
    let mut cause: &(dyn std::error::Error + 'static) = err;
    loop {
        if super::retry::timed_out(cause) {
            timed_out = true;
        }
        let text = cause.to_string();
        // hyper-util's proxy connectors word every failure this way.
        if through_proxy.is_none()
            && (text.starts_with("tunnel error: ") || text.starts_with("SOCKS error: "))
        {
            through_proxy = Some(text);
        }
        match cause.source() {
            Some(next) => cause = next,
            None => break,
        }
    }
    let reason = root_cause(err);
    if timed_out {
        return Some(Error::RequestTimedOut {
            url: url.into(),
            after: super::connect::request_timeout_words(),
        });
    }
    if let Some(proxy) = super::proxy::in_use(url)
        && (through_proxy.is_some() || !reason.contains("certificate"))
    {
        let first = through_proxy.unwrap_or_default();
        let first = first
            .trim_start_matches("tunnel error: ")
            .trim_start_matches("SOCKS error: ");
        return Some(Error::Proxy {
            url: url.into(),
            proxy,
            reason: if first.is_empty() || first == reason {
                reason
            } else {
                format!("{first}: {reason}")
            },
        });
    }
    // rustls words a failed verification "invalid peer certificate: …".
    let certificate = reason.replace("invalid peer certificate: ", "");
    Some(
        if certificate.contains("notvalidforname") || certificate.contains("not valid for name") {
            Error::WrongServerName {
                url: url.into(),
                reason: certificate.replace("notvalidforname", "not valid for this name"),
            }
        } else if reason.contains("certificate") {
            Error::UntrustedServer {
                url: url.into(),
                reason: certificate.replace("unknownissuer", "signed by an unknown authority"),
            }
        } else {
            Error::Unreachable {
                url: url.into(),
                reason,
            }
        },
    )
}

/// A kube error as one plain sentence: the API server's message rather
/// than kube's `Status { … }` dump, and words for the failures kube names
/// after its own types.
pub fn plain(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) if status.message.is_empty() => {
            format!("{} {}", status.code, status.reason)
        }
        kube::Error::Api(status) if is_web_page(status) => format!(
            "the server answered {} with a web page{}",
            status.code,
            page_title(&status.message)
                .map(|t| format!(" (\"{t}\")"))
                .unwrap_or_default()
        ),
        kube::Error::Api(status) => status.message.clone(),
        kube::Error::HttpError(e) if e.to_string().contains("uri too long") => {
            "the request names too much to fit in one URL; select fewer objects, or use a label selector".into()
        }
        kube::Error::SerdeError(e) => format!("the server's answer could not be read ({e})"),
        other => root_cause(other),
    }
}

/// A watch's failure as one plain sentence (kube words it with a `Status`
/// dump inside).
pub fn plain_watch(err: &kube::runtime::watcher::Error) -> String {
    use kube::runtime::watcher::Error as W;
    match err {
        W::InitialListFailed(e) | W::WatchStartFailed(e) | W::WatchFailed(e) => plain(e),
        W::WatchError(status) => status.message.clone(),
        W::NoResourceVersion => err.to_string(),
    }
}

/// An answer that is not the API server's JSON but someone's HTML page: a
/// proxy, load balancer or ingress in front of the API server.
fn is_web_page(status: &kube::core::Status) -> bool {
    let m = status.message.trim_start().to_ascii_lowercase();
    m.starts_with('<') && (m.contains("<html") || m.contains("<!doctype") || m.contains("<body"))
}

/// The `<title>` (or first `<h1>`) of an HTML page, tags and spaces tidied.
fn page_title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    for tag in ["title", "h1"] {
        let open = format!("<{tag}");
        let close = format!("</{tag}>");
        if let Some(start) = lower.find(&open)
            && let Some(gt) = lower[start..].find('>')
            && let Some(end) = lower[start..].find(&close)
        {
            let text = &html[start + gt + 1..start + end];
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if !text.is_empty() {
                return Some(text);
            }
        }
    }
    None
}

/// The innermost cause, which is the one that names the problem
/// ("Connection refused") rather than the layer that saw it.
pub(super) fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
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
    fn a_proxy_page_is_named_by_its_title() {
        let html = "<html>\n<head><title>400 No required SSL certificate was sent</title></head><body></body></html>";
        assert_eq!(
            page_title(html).as_deref(),
            Some("400 No required SSL certificate was sent")
        );
        let status = kube::core::Status::failure(html, "Failed to parse error data").with_code(400);
        let err = api_error(
            kube::Error::Api(Box::new(status)),
            "https://k",
            "list nodes",
        );
        assert_eq!(err.exit_code(), crate::error::exit::CLUSTER);
        let text = err.to_string();
        assert!(
            text.contains("No required SSL certificate") && !text.contains('<'),
            "{text}"
        );
    }

    #[test]
    fn kube_errors_are_plain_sentences() {
        let status =
            kube::core::Status::failure("pods is forbidden: no", "Forbidden").with_code(403);
        let api = kube::Error::Api(Box::new(status));
        assert_eq!(plain(&api), "pods is forbidden: no");
        let watch = kube::runtime::watcher::Error::WatchFailed(api);
        assert_eq!(plain_watch(&watch), "pods is forbidden: no");
        let too_long = http::Request::builder()
            .uri(format!("/api/v1/pods?fieldSelector={}", "x".repeat(70_000)))
            .body(())
            .unwrap_err();
        let text = plain(&kube::Error::HttpError(too_long));
        assert!(text.contains("too much to fit in one URL"), "{text}");
    }

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
