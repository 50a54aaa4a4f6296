//! What to ask and whom: the name, the record type and the servers, checked
//! before any packet is sent so that a typo is a usage error, not a SERVFAIL.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::proto::rr::{Name, RecordType};

use crate::error::{Error, Result};

/// The record types a user may ask for; the ones an on-call engineer needs.
pub(crate) const TYPES: &[&str] = &["A", "AAAA", "CNAME", "TXT", "MX", "NS", "SOA", "SRV", "PTR"];

/// One question, ready to send.
#[derive(Debug, Clone)]
pub(crate) struct Question {
    /// The fully qualified name asked (`in-addr.arpa` form for a reverse lookup).
    pub name: Name,
    pub record_type: RecordType,
    /// The address, when the user asked about an IP address.
    pub reverse_of: Option<IpAddr>,
}

impl Question {
    /// The name as typed in reports: without the trailing dot.
    pub(crate) fn display_name(&self) -> String {
        trim_dot(&self.name.to_ascii())
    }
}

/// Who to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The resolvers of /etc/resolv.conf, as applications see them.
    System,
    Server(SocketAddr),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::System => f.write_str("system"),
            Target::Server(addr) => write!(f, "{addr}"),
        }
    }
}

/// How to ask.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub tcp: bool,
    /// The whole budget for one server, retries included.
    pub timeout: Duration,
}

/// Parses `NAME` (or an IP address) and `--type` into a question.
pub(crate) fn question(input: &str, record_type: Option<&str>) -> Result<Question> {
    let input = input.trim();
    if let Ok(ip) = input.parse::<IpAddr>() {
        let record_type = parse_type(record_type.unwrap_or("PTR"))?;
        let mut name = Name::from(ip);
        name.set_fqdn(true);
        return Ok(Question {
            name,
            record_type,
            reverse_of: Some(ip),
        });
    }
    let name = parse_name(input)?;
    Ok(Question {
        name,
        record_type: parse_type(record_type.unwrap_or("A"))?,
        reverse_of: None,
    })
}

pub(crate) fn parse_type(text: &str) -> Result<RecordType> {
    let upper = text.trim().to_ascii_uppercase();
    if !TYPES.contains(&upper.as_str()) {
        return Err(Error::BadRecordType {
            text: text.into(),
            known: TYPES.join(", "),
        });
    }
    upper
        .parse::<RecordType>()
        .map_err(|_| Error::BadRecordType {
            text: text.into(),
            known: TYPES.join(", "),
        })
}

/// Checks a host name the way a zone file would accept it, so that the
/// user hears what is wrong with it instead of a server's SERVFAIL.
pub(crate) fn parse_name(input: &str) -> Result<Name> {
    let invalid = |why: &str| Error::BadDnsName {
        name: input.into(),
        why: why.into(),
    };
    if input.is_empty() {
        return Err(invalid("it is empty"));
    }
    let bare = input.strip_suffix('.').unwrap_or(input);
    if bare.is_empty() {
        return Err(invalid("it has no labels"));
    }
    for label in bare.split('.') {
        if label.is_empty() {
            return Err(invalid(
                "it has an empty label (two dots in a row, or a leading dot)",
            ));
        }
        if label.chars().count() > 63 {
            return Err(invalid("a label is longer than 63 characters"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_alphanumeric() || *c == '-' || *c == '_' || *c == '*'))
        {
            return Err(invalid(&format!("it contains {c:?}")));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid("a label starts or ends with a hyphen"));
        }
    }
    // IDNA turns non-ASCII labels into punycode; underscores (SRV, TXT
    // records) are allowed by the relaxed parse only.
    let mut name = Name::from_str_relaxed(bare).map_err(|e| invalid(&e.to_string()))?;
    name.set_fqdn(true);
    if name.len() > 254 {
        return Err(invalid("it is longer than 253 characters"));
    }
    Ok(name)
}

/// Parses `--server IP[:PORT]` (IPv6 with a port as `[::1]:5353`).
pub(crate) fn parse_server(text: &str) -> Result<SocketAddr> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(Error::BadNameServer { text: text.into() })
}

/// The servers to ask: each `--server`, or the system resolver when none.
pub(crate) fn targets(servers: &[String], with_system: bool) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    if with_system || servers.is_empty() {
        targets.push(Target::System);
    }
    for s in servers {
        let t = Target::Server(parse_server(s)?);
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    Ok(targets)
}

pub(crate) fn trim_dot(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(
            parse_name("Shop.Example.com").unwrap().to_ascii(),
            "shop.example.com."
        );
        assert!(parse_name("_http._tcp.example.com.").is_ok());
        for bad in ["", ".", "a..b", "-a.com", "a b.com", "a/b", "exa$mple.com"] {
            let err = parse_name(bad).unwrap_err();
            assert!(matches!(err, Error::BadDnsName { .. }), "{bad}: {err}");
        }
        let long = format!("{}.com", "a".repeat(64));
        assert!(parse_name(&long).is_err());
    }

    #[test]
    fn an_ip_address_is_a_reverse_lookup() {
        let q = question("10.0.0.1", None).unwrap();
        assert_eq!(q.record_type, RecordType::PTR);
        assert_eq!(q.name.to_ascii(), "1.0.0.10.in-addr.arpa.");
        assert_eq!(q.reverse_of, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(
            question("x.com", Some("mx")).unwrap().record_type,
            RecordType::MX
        );
        assert!(question("x.com", Some("AXFR")).is_err());
    }

    #[test]
    fn servers_take_an_optional_port() {
        assert_eq!(parse_server("10.0.0.2").unwrap().to_string(), "10.0.0.2:53");
        assert_eq!(parse_server("10.0.0.2:5353").unwrap().port(), 5353);
        assert_eq!(parse_server("[::1]:5353").unwrap().port(), 5353);
        assert_eq!(parse_server("::1").unwrap().port(), 53);
        assert!(parse_server("dns.google").is_err());
        assert_eq!(
            targets(&["1.1.1.1".into(), "1.1.1.1:53".into()], false).unwrap(),
            vec![Target::Server("1.1.1.1:53".parse().unwrap())]
        );
        assert_eq!(targets(&[], false).unwrap(), vec![Target::System]);
    }
}
