//! Asking DNS servers, one resolver per server with its cache off, and
//! turning each answer (or failure) into plain data.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hickory_resolver::Resolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ProtocolConfig, ResolveHosts, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use hickory_resolver::system_conf;
use serde::Serialize;

use super::query::{Options, Question, Target, trim_dot};

/// How a server answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// Records came back.
    Ok,
    /// The name does not exist.
    Nxdomain,
    /// The name exists but has no records of the type asked.
    Nodata,
    /// The server failed (often: it cannot reach the zone's servers).
    Servfail,
    /// The server refused to answer (not its zone, or recursion not allowed for us).
    Refused,
    /// No answer in time.
    Timeout,
    /// Anything else: connection refused, malformed reply.
    Error,
}

impl Status {
    /// The name dig uses, for tables.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Status::Ok => "NOERROR",
            Status::Nxdomain => "NXDOMAIN",
            Status::Nodata => "NODATA",
            Status::Servfail => "SERVFAIL",
            Status::Refused => "REFUSED",
            Status::Timeout => "TIMEOUT",
            Status::Error => "ERROR",
        }
    }
}

/// One link of a CNAME chain: `name` is an alias of `target` for `ttl` seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ChainLink {
    pub name: String,
    pub ttl: u32,
    pub target: String,
}

/// One answer record (the end of the chain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Answer {
    pub name: String,
    pub ttl: u32,
    #[serde(rename = "type")]
    pub record_type: String,
    /// The record data as dig prints it (an address, a name, TXT text).
    pub data: String,
}

/// What one server said.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Resolution {
    /// `system` or the server's IP:PORT.
    pub server: String,
    /// For `system`: the nameservers of /etc/resolv.conf.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// `udp` or `tcp`.
    pub protocol: &'static str,
    pub status: Status,
    /// A plain sentence when the status is not `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// CNAME links from the name asked to the name that has the records, in order.
    pub chain: Vec<ChainLink>,
    pub answers: Vec<Answer>,
    /// For NXDOMAIN/NODATA: how long the server says the absence may be cached (SOA minimum).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negative_ttl: Option<u32>,
    /// Wall time of the query, in milliseconds.
    pub query_time_ms: f64,
    /// When the answer arrived; with the TTLs this says when caches expire.
    pub answered_at: DateTime<Utc>,
}

impl Resolution {
    /// The addresses answered (A/AAAA).
    pub(crate) fn addresses(&self) -> Vec<IpAddr> {
        self.answers
            .iter()
            .filter_map(|a| a.data.parse().ok())
            .collect()
    }

    /// Every name on the way: the chain's names and targets and the answers' owners.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .chain
            .iter()
            .flat_map(|l| [l.name.clone(), l.target.clone()])
            .chain(self.answers.iter().map(|a| a.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The longest any record of this answer may still be cached, in seconds.
    pub(crate) fn max_ttl(&self) -> Option<u32> {
        self.chain
            .iter()
            .map(|l| l.ttl)
            .chain(self.answers.iter().map(|a| a.ttl))
            .chain(self.negative_ttl)
            .max()
    }

    /// What is compared across servers: the outcome, the chain's targets and
    /// the sorted answer data (TTLs differ between caches and are not a difference).
    pub(crate) fn signature(&self) -> String {
        let mut data: Vec<&str> = self.answers.iter().map(|a| a.data.as_str()).collect();
        data.sort();
        let chain: Vec<&str> = self.chain.iter().map(|l| l.target.as_str()).collect();
        format!(
            "{}|{}|{}",
            self.status.label(),
            chain.join(">"),
            data.join(",")
        )
    }
}

/// Asks every target the same question, concurrently, in the targets' order.
pub(crate) async fn resolve_all(
    question: &Question,
    targets: &[Target],
    opts: Options,
) -> Vec<Resolution> {
    futures::future::join_all(targets.iter().map(|t| resolve(question, *t, opts))).await
}

/// Asks one target. Never fails: a failure is a `Resolution` with its status.
pub(crate) async fn resolve(question: &Question, target: Target, opts: Options) -> Resolution {
    let protocol = if opts.tcp { "tcp" } else { "udp" };
    let mut result = Resolution {
        server: target.to_string(),
        nameservers: Vec::new(),
        protocol,
        status: Status::Error,
        error: None,
        chain: Vec::new(),
        answers: Vec::new(),
        negative_ttl: None,
        query_time_ms: 0.0,
        answered_at: Utc::now(),
    };
    let resolver = match build(target, opts) {
        Ok((resolver, nameservers)) => {
            result.nameservers = nameservers;
            resolver
        }
        Err(reason) => {
            result.error = Some(reason);
            return result;
        }
    };
    let start = Instant::now();
    // The resolver has its own per-attempt timeout; this bounds the whole
    // lookup, CNAME hops and retries included.
    let outcome = tokio::time::timeout(
        opts.timeout,
        resolver.lookup(question.name.clone(), question.record_type),
    )
    .await;
    result.query_time_ms = (start.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    result.answered_at = Utc::now();
    match outcome {
        Err(_) => fail(&mut result, Status::Timeout, timeout_text(opts.timeout)),
        Ok(Err(e)) => {
            classify(&mut result, &e, question, opts.timeout);
            // A chain that breaks half way (a CNAME to a deleted load
            // balancer) is the interesting case: show how far it got.
            if !matches!(result.status, Status::Timeout | Status::Error)
                && question.record_type != RecordType::CNAME
            {
                let budget = opts.timeout.saturating_sub(start.elapsed());
                if let Ok(chain) =
                    tokio::time::timeout(budget, partial_chain(&resolver, &question.name)).await
                {
                    result.chain = chain;
                }
            }
        }
        Ok(Ok(lookup)) => {
            // Asked for CNAME, the CNAME record is the answer (as dig shows
            // it), not a link to follow.
            let follow = question.record_type != RecordType::CNAME;
            let (chain, answers) = split_chain(&question.name, lookup.answers(), follow);
            result.chain = chain;
            result.answers = answers;
            result.status = Status::Ok;
            if result.answers.is_empty() {
                let what = question.record_type.to_string();
                fail(
                    &mut result,
                    Status::Nodata,
                    format!("the name exists but has no {what} records (NODATA)"),
                );
            }
        }
    }
    result
}

type TokioResolver = Resolver<TokioRuntimeProvider>;

/// Follows CNAMEs one query at a time, for as long as they exist.
async fn partial_chain(resolver: &TokioResolver, name: &Name) -> Vec<ChainLink> {
    let mut chain: Vec<ChainLink> = Vec::new();
    let mut current = name.clone();
    for _ in 0..8 {
        let Ok(lookup) = resolver.lookup(current.clone(), RecordType::CNAME).await else {
            break;
        };
        let (links, answers) = split_chain(&current, lookup.answers(), true);
        let link = links.into_iter().next().or_else(|| {
            answers
                .into_iter()
                .find(|a| a.record_type == "CNAME")
                .map(|a| ChainLink {
                    name: a.name,
                    ttl: a.ttl,
                    target: a.data,
                })
        });
        let Some(link) = link else { break };
        let Ok(next) = Name::from_str_relaxed(&link.target) else {
            chain.push(link);
            break;
        };
        if chain.iter().any(|l| l.target == link.target) {
            break;
        }
        chain.push(link);
        current = next;
        current.set_fqdn(true);
    }
    chain
}

/// A resolver for one target, and (for the system resolver) the nameservers it asks.
fn build(target: Target, opts: Options) -> Result<(TokioResolver, Vec<String>), String> {
    let provider = TokioRuntimeProvider::default();
    let mut nameservers = Vec::new();
    let mut builder = match target {
        Target::System => {
            let (mut config, options) = system_conf::read_system_conf().map_err(|e| {
                format!("cannot read the system resolver configuration (/etc/resolv.conf): {e}")
            })?;
            for server in &mut config.name_servers {
                if opts.tcp {
                    server
                        .connections
                        .retain(|c| matches!(c.protocol, ProtocolConfig::Tcp));
                }
                nameservers.push(server.ip.to_string());
            }
            Resolver::builder_with_config(config, provider).with_options(options)
        }
        Target::Server(addr) => {
            let mut connection = if opts.tcp {
                ConnectionConfig::tcp()
            } else {
                ConnectionConfig::udp()
            };
            connection.port = addr.port();
            let server = NameServerConfig::new(addr.ip(), true, vec![connection]);
            let config = ResolverConfig::from_name_servers(vec![server]);
            Resolver::builder_with_config(config, provider)
        }
    };
    let options = builder.options_mut();
    // Every run must see what the servers say now, not what we saw before.
    options.cache_size = 0;
    options.preserve_intermediates = true;
    options.attempts = 1;
    options.timeout = (opts.timeout / 2).max(Duration::from_millis(100));
    options.ndots = 0;
    if matches!(target, Target::Server(_)) {
        // dig ignores /etc/hosts when given a server; so do we.
        options.use_hosts_file = ResolveHosts::Never;
    }
    let resolver = builder
        .build()
        .map_err(|e| format!("cannot set up the resolver: {e}"))?;
    Ok((resolver, nameservers))
}

fn fail(result: &mut Resolution, status: Status, message: String) {
    result.status = status;
    result.error = Some(message);
}

fn timeout_text(after: Duration) -> String {
    format!(
        "no answer within {} (timeout); the server may be down or a firewall drops DNS",
        humantime::format_duration(after)
    )
}

/// Maps a resolver error onto the statuses users know from dig.
fn classify(result: &mut Resolution, err: &NetError, question: &Question, timeout: Duration) {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(nr)) => {
            result.negative_ttl = nr.negative_ttl;
            if nr.response_code == ResponseCode::NXDomain {
                fail(
                    result,
                    Status::Nxdomain,
                    "the name does not exist (NXDOMAIN)".into(),
                );
            } else {
                fail(
                    result,
                    Status::Nodata,
                    format!(
                        "the name exists but has no {} records (NODATA)",
                        question.record_type
                    ),
                );
            }
        }
        NetError::Dns(DnsError::ResponseCode(code)) => match *code {
            ResponseCode::ServFail => fail(
                result,
                Status::Servfail,
                "the server failed to answer (SERVFAIL); it may not reach the zone's own servers"
                    .into(),
            ),
            ResponseCode::Refused => fail(
                result,
                Status::Refused,
                "the server refused the query (REFUSED); it does not serve this zone or does not recurse for you".into(),
            ),
            ResponseCode::NXDomain => fail(
                result,
                Status::Nxdomain,
                "the name does not exist (NXDOMAIN)".into(),
            ),
            other => fail(
                result,
                Status::Error,
                format!("the server answered {other} ({})", u16::from(other)),
            ),
        },
        NetError::Timeout => fail(result, Status::Timeout, timeout_text(timeout)),
        NetError::Io(e) => fail(
            result,
            Status::Error,
            format!("cannot reach the server: {}", e.to_string().to_lowercase()),
        ),
        NetError::NoConnections => fail(
            result,
            Status::Error,
            "cannot reach the server: no connection could be made".into(),
        ),
        other => fail(result, Status::Error, other.to_string()),
    }
}

/// Splits the answer section into the CNAME chain starting at `qname` and
/// the records at its end. Records are kept in the order the server sent.
fn split_chain(qname: &Name, records: &[Record], follow: bool) -> (Vec<ChainLink>, Vec<Answer>) {
    let mut chain = Vec::new();
    let mut current = qname.to_lowercase();
    // Follow CNAMEs from the name asked; a loop cannot run longer than the
    // number of records.
    let hops = if follow { records.len() } else { 0 };
    for _ in 0..hops {
        let next = records.iter().find_map(|r| match &r.data {
            RData::CNAME(cname) if r.name.to_lowercase() == current => Some((r, cname.0.clone())),
            _ => None,
        });
        let Some((record, target)) = next else { break };
        chain.push(ChainLink {
            name: trim_dot(&record.name.to_ascii()),
            ttl: record.ttl,
            target: trim_dot(&target.to_ascii()),
        });
        current = target.to_lowercase();
    }
    let in_chain = |r: &Record| {
        matches!(r.data, RData::CNAME(_))
            && chain.iter().any(|l| l.name == trim_dot(&r.name.to_ascii()))
    };
    let answers = records
        .iter()
        .filter(|r| !in_chain(r))
        .map(|r| Answer {
            name: trim_dot(&r.name.to_ascii()),
            ttl: r.ttl,
            record_type: r.record_type().to_string(),
            data: rdata_text(&r.data),
        })
        .collect();
    (chain, answers)
}

/// Record data as dig prints it, without trailing dots on names.
fn rdata_text(data: &RData) -> String {
    match data {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        RData::CNAME(n) => trim_dot(&n.0.to_ascii()),
        RData::PTR(n) => trim_dot(&n.0.to_ascii()),
        RData::NS(n) => trim_dot(&n.0.to_ascii()),
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|d| dig_string(d))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// One TXT character-string as dig prints it: quoted, with `"` and `\`
/// escaped and bytes outside printable ASCII as `\DDD`. A record of several
/// strings is several of these, space-separated, so their boundaries show.
fn dig_string(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::rr::rdata::{A, CNAME};
    use std::str::FromStr;

    #[test]
    fn txt_strings_are_quoted_and_escaped_as_dig_shows_them() {
        assert_eq!(dig_string(b"v=spf1 -all"), "\"v=spf1 -all\"");
        assert_eq!(dig_string(b"a\"b\\c\x01"), "\"a\\\"b\\\\c\\001\"");
    }

    fn rec(name: &str, ttl: u32, data: RData) -> Record {
        Record::from_rdata(Name::from_str(name).unwrap(), ttl, data)
    }

    #[test]
    fn chain_is_followed_in_order_and_answers_kept() {
        let records = vec![
            rec(
                "b.example.com.",
                60,
                RData::CNAME(CNAME(Name::from_str("c.example.com.").unwrap())),
            ),
            rec(
                "a.example.com.",
                300,
                RData::CNAME(CNAME(Name::from_str("b.example.com.").unwrap())),
            ),
            rec("c.example.com.", 30, RData::A(A::new(10, 0, 0, 1))),
        ];
        let (chain, answers) =
            split_chain(&Name::from_str("A.example.com.").unwrap(), &records, true);
        assert_eq!(
            chain,
            vec![
                ChainLink {
                    name: "a.example.com".into(),
                    ttl: 300,
                    target: "b.example.com".into()
                },
                ChainLink {
                    name: "b.example.com".into(),
                    ttl: 60,
                    target: "c.example.com".into()
                },
            ]
        );
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0].data, "10.0.0.1");
        assert_eq!(answers[0].ttl, 30);
    }
}
