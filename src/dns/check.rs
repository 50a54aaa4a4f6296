//! `dns check`: put what the resolvers say next to what the cluster says,
//! name the object that serves the name, and flag what does not add up.

use std::collections::BTreeSet;
use std::net::IpAddr;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use hickory_resolver::proto::rr::RecordType;
use serde::Serialize;

use super::cluster::{self, ClusterObject, Wanted};
use super::query::{Options, Question, Target};
use super::resolve::{self, Resolution, Status};
use crate::cluster::Cluster;
use crate::error::{Error, Result};

/// What the check should find, from `--expect-namespace` / `--expect-ip`.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Expect {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
}

impl Expect {
    pub(crate) fn is_set(&self) -> bool {
        self.namespace.is_some() || self.ip.is_some()
    }
}

/// One resolver's answer, mapped onto the cluster.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct View {
    #[serde(flatten)]
    pub resolution: Resolution,
    /// The objects (`Kind namespace/name`) its answer points at.
    pub points_at: Vec<String>,
    /// `new`, `old` or `mixed` against the expected or claimed target;
    /// `unknown` when nothing says which target is the new one; absent when the resolver failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<ViewState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ViewState {
    New,
    Old,
    Mixed,
    Unknown,
}

/// The external-dns TXT ownership record, when there is one.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Ownership {
    /// The TXT record's name (external-dns writes `NAME` and `a-NAME`/`cname-NAME`).
    pub record: String,
    /// The external-dns instance that owns the name (`external-dns/owner`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The object it was published for (`service/NS/NAME`, `ingress/NS/NAME`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ProblemKind {
    /// An answer matches no LoadBalancer Service or Ingress.
    PointsAtNothing,
    /// An object claims the name but DNS does not answer its address.
    AddressMismatch,
    /// More than one object claims the name.
    ClaimedTwice,
    /// Resolvers give different answers.
    ResolversDisagree,
    /// A resolver gave no answer.
    ResolverFailed,
    /// The TXT ownership record names another object than the one served.
    OwnershipMismatch,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Problem {
    pub kind: ProblemKind,
    pub message: String,
}

/// Agreement between resolvers after a change.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Agreement {
    /// `agree`, `new` (all see the new target), `old` (none does yet) or `mixed`.
    pub state: String,
    pub new: Vec<String>,
    pub old: Vec<String>,
    pub mixed: Vec<String>,
    /// When the last cached old answer expires, from the remaining TTLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_agree_by: Option<DateTime<Utc>>,
}

/// The whole report of `dns check`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CheckReport {
    pub name: String,
    #[serde(rename = "type")]
    pub record_type: String,
    pub resolvers: Vec<View>,
    /// Objects that claim the name or own an answered address.
    pub objects: Vec<ClusterObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ownership: Option<Ownership>,
    /// The objects that serve the name (usually one), most answers first.
    pub served_by: Vec<ClusterObject>,
    pub problems: Vec<Problem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreement: Option<Agreement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
    /// Whether the expectation holds; absent without `--expect-*`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expectation_met: Option<bool>,
    /// Why the expectation does not hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mismatches: Vec<String>,
}

impl CheckReport {
    /// Why the check counts as failed (exit 1), if it does: the
    /// expectation is not met, no resolver answered at all, or it found
    /// problems (then the message is empty: the report lists them).
    pub(crate) fn failure(&self) -> Option<String> {
        if self.expectation_met == Some(false) {
            return Some(format!(
                "{} does not match the expectation: {}",
                self.name,
                self.mismatches.join("; ")
            ));
        }
        if self
            .resolvers
            .iter()
            .all(|v| v.resolution.status != Status::Ok)
        {
            return Some(format!("no resolver answered for {}", self.name));
        }
        // The report lists each problem already; a check that found any
        // fails (exit 1) without repeating them.
        if !self.problems.is_empty() {
            return Some(String::new());
        }
        None
    }
}

/// Resolves `question` through every target, reads the cluster and assesses.
pub(crate) async fn check(
    cluster: &Cluster,
    question: &Question,
    targets: &[Target],
    opts: Options,
    expect: Expect,
) -> Result<CheckReport> {
    if !matches!(
        question.record_type,
        RecordType::A | RecordType::AAAA | RecordType::CNAME
    ) || question.reverse_of.is_some()
    {
        return Err(Error::DnsCheckNeedsHost);
    }
    let name = question.display_name();
    // The TXT ownership record is asked of the first server given: that is
    // the one the user trusts most (often the zone's own).
    let primary = targets
        .iter()
        .find(|t| matches!(t, Target::Server(_)))
        .copied()
        .unwrap_or(Target::System);
    let (resolutions, ownership) = tokio::join!(
        resolve::resolve_all(question, targets, opts),
        ownership(&name, primary, opts)
    );
    let answered = answered_values(&resolutions);
    let mut objects = cluster::related_objects(
        cluster,
        &Wanted {
            name: &name,
            answered: &answered,
        },
    )
    .await?;
    cluster::resolve_claims(&mut objects, &name);
    Ok(assess(
        name,
        question.record_type.to_string(),
        resolutions,
        objects,
        ownership,
        expect,
        Utc::now(),
    ))
}

/// Every address and name the resolvers answered, normalised.
fn answered_values(resolutions: &[Resolution]) -> Vec<String> {
    let mut out: Vec<String> = resolutions
        .iter()
        .filter(|r| r.status == Status::Ok)
        .flat_map(values_of)
        .collect();
    out.sort();
    out.dedup();
    out
}

fn values_of(r: &Resolution) -> Vec<String> {
    r.names()
        .into_iter()
        .chain(r.answers.iter().map(|a| cluster::normalise(&a.data)))
        .collect()
}

/// Looks for external-dns's TXT record: the old format at the name itself,
/// the new one with the record type as a prefix of the first label.
async fn ownership(name: &str, target: Target, opts: Options) -> Option<Ownership> {
    let candidates = [
        name.to_string(),
        format!("a-{name}"),
        format!("cname-{name}"),
        format!("aaaa-{name}"),
    ];
    let lookups = candidates.iter().filter_map(|n| {
        let q = super::query::question(n, Some("TXT")).ok()?;
        Some(async move { (n.clone(), resolve::resolve(&q, target, opts).await) })
    });
    for (record, res) in futures::future::join_all(lookups).await {
        for answer in res.answers.iter().filter(|a| a.record_type == "TXT") {
            if let Some(o) = parse_ownership(&record, &answer.data) {
                return Some(o);
            }
        }
    }
    None
}

/// Parses `heritage=external-dns,external-dns/owner=X,external-dns/resource=service/ns/name`.
pub(crate) fn parse_ownership(record: &str, text: &str) -> Option<Ownership> {
    let text = text.trim_matches('"');
    if !text.contains("heritage=external-dns") {
        return None;
    }
    let field = |key: &str| {
        text.split(',')
            .find_map(|kv| kv.trim().strip_prefix(key))
            .map(str::to_string)
    };
    Some(Ownership {
        record: record.to_string(),
        owner: field("external-dns/owner="),
        resource: field("external-dns/resource="),
    })
}

/// The judgement, from data alone (no I/O), so it can be tested directly.
/// Problems come in a fixed order: resolvers, claims, ownership, agreement.
pub(crate) fn assess(
    name: String,
    record_type: String,
    resolutions: Vec<Resolution>,
    objects: Vec<ClusterObject>,
    ownership: Option<Ownership>,
    expect: Expect,
    now: DateTime<Utc>,
) -> CheckReport {
    let mut views = map_views(resolutions, &objects);
    let mut problems = resolver_problems(&views);
    let served_by = served_by(&objects, &views);
    let claimants: Vec<&ClusterObject> = objects.iter().filter(|o| !o.claims.is_empty()).collect();
    problems.extend(claim_problems(&name, &claimants, &views));
    problems.extend(ownership_problem(&name, ownership.as_ref(), &served_by));
    let is_new = classifier(&expect, &objects, &claimants, ownership.as_ref());
    set_states(&mut views, is_new.as_ref());
    let (agreement, disagreement) = agreement(&views, is_new.is_some(), now);
    problems.extend(disagreement);
    let (expectation_met, mismatches) = expectation(&name, &views, &objects, &expect);
    CheckReport {
        name,
        record_type,
        resolvers: views,
        objects,
        ownership,
        served_by,
        problems,
        agreement,
        expect: expect.is_set().then_some(expect),
        expectation_met,
        mismatches,
    }
}

/// Which objects each resolver's answer points at (nothing, for a resolver
/// that failed).
fn map_views(resolutions: Vec<Resolution>, objects: &[ClusterObject]) -> Vec<View> {
    resolutions
        .into_iter()
        .map(|r| {
            let values = values_of(&r);
            let points_at = if r.status == Status::Ok {
                objects
                    .iter()
                    .filter(|o| o.addresses.iter().any(|a| values.contains(a)))
                    .map(ClusterObject::describe)
                    .collect()
            } else {
                Vec::new()
            };
            View {
                resolution: r,
                points_at,
                state: None,
            }
        })
        .collect()
}

/// A resolver that failed, or whose answer is nothing in the cluster.
fn resolver_problems(views: &[View]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for v in views {
        let r = &v.resolution;
        if r.status != Status::Ok {
            problems.push(Problem {
                kind: ProblemKind::ResolverFailed,
                message: format!(
                    "{} gave no answer: {}",
                    r.server,
                    r.error.clone().unwrap_or_default()
                ),
            });
        } else if v.points_at.is_empty() {
            problems.push(Problem {
                kind: ProblemKind::PointsAtNothing,
                message: format!(
                    "{} answers {}, which no LoadBalancer Service or Ingress in the cluster has",
                    r.server,
                    answer_text(r)
                ),
            });
        }
    }
    problems
}

/// Served by: objects in answers, the most pointed-at first.
fn served_by(objects: &[ClusterObject], views: &[View]) -> Vec<ClusterObject> {
    let mut served_by: Vec<(usize, ClusterObject)> = objects
        .iter()
        .filter_map(|o| {
            let n = views
                .iter()
                .filter(|v| v.points_at.contains(&o.describe()))
                .count();
            (n > 0).then(|| (n, o.clone()))
        })
        .collect();
    served_by.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    served_by.into_iter().map(|(_, o)| o).collect()
}

/// Claims: more than one object claiming the name, and a claimant that no
/// answer points at (its address is not what DNS answers).
fn claim_problems(name: &str, claimants: &[&ClusterObject], views: &[View]) -> Vec<Problem> {
    let mut problems = Vec::new();
    if claimants.len() > 1 {
        problems.push(Problem {
            kind: ProblemKind::ClaimedTwice,
            message: format!(
                "{} objects claim {name}: {}",
                claimants.len(),
                claimants
                    .iter()
                    .map(|o| format!("{} ({})", o.describe(), o.claims.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        });
    }
    let answered: Vec<&View> = views
        .iter()
        .filter(|v| v.resolution.status == Status::Ok)
        .collect();
    if answered.is_empty() {
        return problems;
    }
    for c in claimants {
        if answered.iter().any(|v| v.points_at.contains(&c.describe())) {
            continue;
        }
        let has = if c.addresses.is_empty() {
            "has no load balancer address yet".to_string()
        } else {
            format!("has {}", c.addresses.join(", "))
        };
        problems.push(Problem {
            kind: ProblemKind::AddressMismatch,
            message: format!(
                "{} claims {name} ({}) but {has}, and DNS answers {}",
                c.describe(),
                c.claims.join(", "),
                answered
                    .iter()
                    .map(|v| answer_text(&v.resolution))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join(" / ")
            ),
        });
    }
    problems
}

/// The ownership record against what is served.
fn ownership_problem(
    name: &str,
    ownership: Option<&Ownership>,
    served_by: &[ClusterObject],
) -> Option<Problem> {
    let res = ownership.and_then(|o| o.resource.as_deref())?;
    if served_by.is_empty() || served_by.iter().any(|o| o.is_resource(res)) {
        return None;
    }
    Some(Problem {
        kind: ProblemKind::OwnershipMismatch,
        message: format!(
            "the external-dns TXT record says {res} owns {name}, but the name points at {}",
            served_by
                .iter()
                .map(ClusterObject::describe)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// Which target is the new one: what the user expects, else the single
/// claimant, else the TXT owner; `None` when nothing says.
fn classifier(
    expect: &Expect,
    objects: &[ClusterObject],
    claimants: &[&ClusterObject],
    ownership: Option<&Ownership>,
) -> Option<Classifier> {
    if let Some(ns) = &expect.namespace {
        let ns = ns.clone();
        let objects = objects.to_vec();
        return Some(Box::new(move |v: &View| in_namespace(v, &objects, &ns)));
    }
    if let Some(ip) = expect.ip {
        return Some(Box::new(move |v: &View| {
            let addrs = v.resolution.addresses();
            (addrs.contains(&ip), addrs.iter().any(|a| *a != ip))
        }));
    }
    let owner = || {
        ownership
            .and_then(|o| o.resource.as_deref())
            .and_then(|r| objects.iter().find(|o| o.is_resource(r)))
    };
    let target = match claimants {
        [only] => Some(*only),
        _ => owner(),
    }?;
    let k = target.describe();
    Some(Box::new(move |v: &View| points_only(v, &k)))
}

/// Marks each answering view new, old or mixed (unknown without a classifier).
fn set_states(views: &mut [View], is_new: Option<&Classifier>) {
    for v in views
        .iter_mut()
        .filter(|v| v.resolution.status == Status::Ok)
    {
        v.state = Some(match is_new {
            None => ViewState::Unknown,
            Some(f) => match f(v) {
                (true, false) => ViewState::New,
                (true, true) => ViewState::Mixed,
                _ => ViewState::Old,
            },
        });
    }
}

/// Do the resolvers agree? Failures that say "no such name" count as an
/// answer (a cached NXDOMAIN is a view too); SERVFAIL and timeouts do not.
/// Returns the agreement (when there is something to compare) and the
/// problem to report when they disagree.
fn agreement(
    views: &[View],
    knows_new: bool,
    now: DateTime<Utc>,
) -> (Option<Agreement>, Option<Problem>) {
    let comparable: Vec<&View> = views
        .iter()
        .filter(|v| {
            matches!(
                v.resolution.status,
                Status::Ok | Status::Nxdomain | Status::Nodata
            )
        })
        .collect();
    if comparable.len() <= 1 && !knows_new {
        return (None, None);
    }
    let signatures: BTreeSet<String> = comparable
        .iter()
        .map(|v| {
            if v.points_at.is_empty() {
                v.resolution.signature()
            } else {
                v.points_at.join(",")
            }
        })
        .collect();
    let names = |s: ViewState| {
        views
            .iter()
            .filter(|v| v.state == Some(s))
            .map(|v| v.resolution.server.clone())
            .collect::<Vec<_>>()
    };
    let (new, old, mixed) = (
        names(ViewState::New),
        names(ViewState::Old),
        names(ViewState::Mixed),
    );
    let disagree = signatures.len() > 1;
    let state = if disagree {
        "mixed"
    } else if knows_new && !new.is_empty() && old.is_empty() && mixed.is_empty() {
        "new"
    } else if knows_new && new.is_empty() && mixed.is_empty() && !old.is_empty() {
        "old"
    } else {
        "agree"
    };
    let problem = disagree.then(|| Problem {
        kind: ProblemKind::ResolversDisagree,
        message: format!(
            "resolvers disagree ({})",
            disagreement_detail(&comparable, knows_new, [&new, &old, &mixed])
        ),
    });
    let all_agree_by = if disagree {
        stale_until(&comparable, now)
    } else {
        None
    };
    let agreement = Agreement {
        state: state.to_string(),
        new,
        old,
        mixed,
        all_agree_by,
    };
    (Some(agreement), problem)
}

/// Caches holding something other than the new answer expire at the
/// latest when their longest remaining TTL runs out (never before now).
fn stale_until(comparable: &[&View], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    comparable
        .iter()
        .filter(|v| !matches!(v.state, Some(ViewState::New)))
        .filter_map(|v| {
            v.resolution
                .max_ttl()
                .map(|t| v.resolution.answered_at + ChronoDuration::seconds(t.into()))
        })
        .max()
        .map(|t| t.max(now))
}

/// Who says what when resolvers disagree: grouped as new, old, mixed and no
/// answer when the new target is known, else each resolver's answer.
fn disagreement_detail(comparable: &[&View], knows_new: bool, groups: [&Vec<String>; 3]) -> String {
    if !knows_new {
        return comparable
            .iter()
            .map(|v| format!("{} says {}", v.resolution.server, view_text(v)))
            .collect::<Vec<_>>()
            .join("; ");
    }
    let mut parts: Vec<String> = ["new", "old", "mixed"]
        .into_iter()
        .zip(groups)
        .filter(|(_, servers)| !servers.is_empty())
        .map(|(label, servers)| format!("{label}: {}", servers.join(", ")))
        .collect();
    let missing: Vec<String> = comparable
        .iter()
        .filter(|v| v.state.is_none())
        .map(|v| format!("{} ({})", v.resolution.server, v.resolution.status.label()))
        .collect();
    if !missing.is_empty() {
        parts.push(format!("no answer: {}", missing.join(", ")));
    }
    parts.join("; ")
}

/// The assertion of `--expect-*`: whether it holds, and why not. `None`
/// without an expectation.
fn expectation(
    name: &str,
    views: &[View],
    objects: &[ClusterObject],
    expect: &Expect,
) -> (Option<bool>, Vec<String>) {
    if !expect.is_set() {
        return (None, Vec::new());
    }
    let mut why = Vec::new();
    if !views.iter().any(|v| v.resolution.status == Status::Ok) {
        why.push(format!("no resolver answered for {name}"));
    }
    for v in views {
        let r = &v.resolution;
        if r.status != Status::Ok {
            why.push(format!(
                "{} gave no answer ({})",
                r.server,
                r.status.label()
            ));
            continue;
        }
        if let Some(ns) = &expect.namespace {
            match in_namespace(v, objects, ns) {
                (true, false) => {}
                _ if v.points_at.is_empty() => why.push(format!(
                    "{} answers {}, which is nothing in the cluster, not namespace `{ns}`",
                    r.server,
                    answer_text(r)
                )),
                _ => why.push(format!(
                    "{} points at {}, not namespace `{ns}`",
                    r.server,
                    v.points_at.join(", ")
                )),
            }
        }
        if let Some(ip) = expect.ip {
            let addrs = r.addresses();
            if !addrs.contains(&ip) || addrs.iter().any(|a| *a != ip) {
                why.push(format!("{} answers {}, not {ip}", r.server, answer_text(r)));
            }
        }
    }
    (Some(why.is_empty()), why)
}

/// Says of a view: (points at the new target, points at something else).
type Classifier = Box<dyn Fn(&View) -> (bool, bool)>;

/// (points at something in `ns`, points at something elsewhere).
fn in_namespace(v: &View, objects: &[ClusterObject], ns: &str) -> (bool, bool) {
    let ns_of = |k: &String| {
        objects
            .iter()
            .find(|o| &o.describe() == k)
            .map(|o| o.namespace.as_str())
    };
    let inside = v.points_at.iter().any(|k| ns_of(k) == Some(ns));
    let outside = v.points_at.is_empty() || v.points_at.iter().any(|k| ns_of(k) != Some(ns));
    (inside, outside)
}

fn points_only(v: &View, key: &str) -> (bool, bool) {
    let inside = v.points_at.iter().any(|k| k == key);
    let outside = v.points_at.is_empty() || v.points_at.iter().any(|k| k != key);
    (inside, outside)
}

fn view_text(v: &View) -> String {
    if v.resolution.status != Status::Ok {
        return v.resolution.status.label().to_string();
    }
    if v.points_at.is_empty() {
        answer_text(&v.resolution)
    } else {
        v.points_at.join(", ")
    }
}

/// The answer's data, comma-separated (or the last chain target).
pub(crate) fn answer_text(r: &Resolution) -> String {
    if r.answers.is_empty() {
        return r
            .chain
            .last()
            .map(|l| l.target.clone())
            .unwrap_or_else(|| r.status.label().to_string());
    }
    r.answers
        .iter()
        .map(|a| a.data.clone())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::resolve::{Answer, ChainLink};

    fn res(server: &str, ip: Option<&str>, ttl: u32, at: DateTime<Utc>) -> Resolution {
        Resolution {
            server: server.into(),
            nameservers: vec![],
            protocol: "udp",
            status: if ip.is_some() {
                Status::Ok
            } else {
                Status::Nxdomain
            },
            error: ip
                .is_none()
                .then(|| "the name does not exist (NXDOMAIN)".into()),
            chain: vec![ChainLink {
                name: "shop.example.com".into(),
                ttl: 300,
                target: "lb.example.com".into(),
            }]
            .into_iter()
            .filter(|_| ip.is_some())
            .collect(),
            answers: ip
                .map(|ip| Answer {
                    name: "lb.example.com".into(),
                    ttl,
                    record_type: "A".into(),
                    data: ip.into(),
                })
                .into_iter()
                .collect(),
            negative_ttl: ip.is_none().then_some(60),
            query_time_ms: 1.0,
            answered_at: at,
        }
    }

    fn svc(ns: &str, ip: &str, claims: bool) -> ClusterObject {
        ClusterObject {
            kind: "Service".into(),
            namespace: ns.into(),
            name: "web".into(),
            release: Some(format!("release={ns}")),
            helm_release: None,
            addresses: vec![ip.into()],
            claims: if claims {
                vec!["annotation external-dns.alpha.kubernetes.io/hostname".into()]
            } else {
                vec![]
            },
            published: vec![],
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-01-01T14:00:00Z".parse().unwrap()
    }

    #[test]
    fn one_resolver_one_object_is_a_clean_verdict() {
        let r = assess(
            "shop.example.com".into(),
            "A".into(),
            vec![res("a", Some("10.0.0.1"), 60, now())],
            vec![
                svc("blue", "10.0.0.1", true),
                svc("green", "10.0.0.2", false),
            ],
            None,
            Expect::default(),
            now(),
        );
        assert_eq!(r.served_by.len(), 1);
        assert_eq!(r.served_by[0].namespace, "blue");
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.agreement.unwrap().state, "new");
    }

    #[test]
    fn disagreeing_resolvers_give_old_new_and_a_time() {
        let r = assess(
            "shop.example.com".into(),
            "A".into(),
            vec![
                res("a", Some("10.0.0.1"), 120, now()),
                res("b", Some("10.0.0.2"), 60, now()),
            ],
            vec![
                svc("blue", "10.0.0.1", false),
                svc("green", "10.0.0.2", true),
            ],
            None,
            Expect {
                namespace: Some("green".into()),
                ip: None,
            },
            now(),
        );
        let a = r.agreement.unwrap();
        assert_eq!(a.state, "mixed");
        assert_eq!(a.new, vec!["b"]);
        assert_eq!(a.old, vec!["a"]);
        // The old answer's CNAME link (300 s) outlives its A record (120 s).
        assert_eq!(a.all_agree_by, Some(now() + ChronoDuration::seconds(300)));
        assert_eq!(r.expectation_met, Some(false));
        assert!(
            r.mismatches[0].contains("Service blue/web"),
            "{:?}",
            r.mismatches
        );
        assert!(
            r.problems
                .iter()
                .any(|p| p.kind == ProblemKind::ResolversDisagree)
        );
    }

    #[test]
    fn nothing_matching_two_claimants_and_a_wrong_address_are_flagged() {
        let r = assess(
            "shop.example.com".into(),
            "A".into(),
            vec![res("a", Some("10.9.9.9"), 60, now())],
            vec![
                svc("blue", "10.0.0.1", true),
                svc("green", "10.0.0.2", true),
            ],
            Some(Ownership {
                record: "a-shop.example.com".into(),
                owner: Some("default".into()),
                resource: Some("service/blue/web".into()),
            }),
            Expect {
                namespace: None,
                ip: Some("10.9.9.9".parse().unwrap()),
            },
            now(),
        );
        let kinds: Vec<ProblemKind> = r.problems.iter().map(|p| p.kind).collect();
        assert!(kinds.contains(&ProblemKind::PointsAtNothing), "{kinds:?}");
        assert!(kinds.contains(&ProblemKind::ClaimedTwice), "{kinds:?}");
        assert_eq!(
            kinds
                .iter()
                .filter(|k| **k == ProblemKind::AddressMismatch)
                .count(),
            2
        );
        assert_eq!(r.expectation_met, Some(true));
    }

    #[test]
    fn ownership_records_are_parsed() {
        let o = parse_ownership(
            "a-shop.example.com",
            "\"heritage=external-dns,external-dns/owner=prod,external-dns/resource=ingress/green/web\"",
        )
        .unwrap();
        assert_eq!(o.owner.as_deref(), Some("prod"));
        assert_eq!(o.resource.as_deref(), Some("ingress/green/web"));
        assert!(parse_ownership("x", "v=spf1 -all").is_none());
    }
}
