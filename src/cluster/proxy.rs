//! Which proxy a connection goes through, decided as kubectl (Go's
//! `net/http`) decides it.

use hyper_util::client::proxy::matcher::Matcher;

/// The proxy for `server`: the kubeconfig cluster's `proxy-url` when set,
/// else `HTTPS_PROXY` (for an https server) or `HTTP_PROXY` (for http), in
/// upper or lower case, unless `NO_PROXY` covers the server. As in Go, a
/// loopback server is never proxied.
///
/// kube-rs decides this itself too, but matches `NO_PROXY` against the
/// proxy's address rather than the server's, so its answer is replaced.
pub(super) fn for_server(server: &http::Uri, proxy_url: Option<&str>) -> Option<String> {
    if let Some(url) = proxy_url.filter(|u| !u.is_empty()) {
        return Some(url.to_string());
    }
    let host = server.host()?.trim_start_matches('[').trim_end_matches(']');
    if host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    {
        return None;
    }
    let proxy = match server.scheme_str() {
        Some("http") => env_any(&["HTTP_PROXY", "http_proxy"]),
        _ => env_any(&["HTTPS_PROXY", "https_proxy"]),
    }?;
    // Only NO_PROXY's matching is borrowed from hyper-util: the proxy's own
    // address keeps its user and password, which the matcher would drop.
    let matcher = Matcher::builder()
        .all(proxy.clone())
        .no(env_any(&["NO_PROXY", "no_proxy"]).unwrap_or_default())
        .build();
    matcher.intercept(server).map(|_| with_scheme(&proxy))
}

fn env_any(names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| std::env::var(n).ok())
        .find(|v| !v.is_empty())
}

/// `proxy:3128` means `http://proxy:3128`, as in Go.
fn with_scheme(proxy: &str) -> String {
    if proxy.contains("://") {
        proxy.to_string()
    } else {
        format!("http://{proxy}")
    }
}

/// The proxy each server is reached through. Errors are turned into
/// messages far from the connection, knowing only the server's URL; this
/// lets them name the proxy too.
static IN_USE: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

pub(super) fn remember(server: &str, proxy: &str) {
    if let Ok(mut v) = IN_USE.lock() {
        v.push((server.to_string(), redact(proxy)));
    }
}

/// The proxy (without its password) that `server` is reached through.
pub(super) fn in_use(server: &str) -> Option<String> {
    let v = IN_USE.lock().ok()?;
    v.iter().find(|(s, _)| s == server).map(|(_, p)| p.clone())
}

/// The proxy's address without the user and password it may carry.
pub(super) fn redact(proxy: &str) -> String {
    match (proxy.find("://"), proxy.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}{}", &proxy[..scheme + 3], &proxy[at + 1..])
        }
        (None, Some(at)) => proxy[at + 1..].to_string(),
        _ => proxy.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubeconfig_proxy_wins_and_loopback_is_never_proxied() {
        let server: http::Uri = "https://10.0.0.1:6443".parse().unwrap();
        assert_eq!(
            for_server(&server, Some("socks5://p:1080")).as_deref(),
            Some("socks5://p:1080")
        );
        let local: http::Uri = "http://127.0.0.1:8080".parse().unwrap();
        assert_eq!(for_server(&local, None), None);
    }
}
