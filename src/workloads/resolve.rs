//! Turning `[KIND/]NAME` arguments and `-l SELECTOR` into live workloads.

use serde::Deserialize;

use super::{Kind, Workload, WorkloadRef};
use crate::cluster::list::{self, ListQuery};
use crate::cluster::{Cluster, api_error};
use crate::error::{Error, Result};

/// One argument, resolved against the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    One(WorkloadRef),
    /// A bare name that several kinds carry: the caller must ask which.
    Ambiguous {
        name: String,
        candidates: Vec<WorkloadRef>,
    },
}

/// Splits `KIND/NAME` (or a bare `NAME`).
pub(crate) fn parse_target(arg: &str) -> Result<(Option<Kind>, String)> {
    match arg.split_once('/') {
        None if !arg.is_empty() => Ok((None, arg.to_string())),
        Some((kind, name)) if !name.is_empty() && !name.contains('/') => match Kind::parse(kind) {
            Some(k) => Ok((Some(k), name.to_string())),
            None => Err(Error::NotAWorkloadKind {
                arg: arg.into(),
                kind: kind.into(),
            }),
        },
        _ => Err(Error::BadWorkloadName { arg: arg.into() }),
    }
}

#[derive(Deserialize)]
struct Lean {
    metadata: LeanMeta,
}

#[derive(Deserialize)]
struct LeanMeta {
    name: String,
}

/// Resolves the arguments in `namespace`, in the order given,
/// followed by what `selector` selects (sorted by kind, then name).
/// A name that does not exist is an error naming what was searched.
pub(crate) async fn resolve(
    cluster: &Cluster,
    namespace: &str,
    names: &[String],
    selector: Option<&str>,
) -> Result<Vec<Resolved>> {
    let ns = namespace;
    if names.is_empty() && selector.is_none() {
        return Err(Error::NoTargets {
            what: "at least one workload ([KIND/]NAME)",
            list: None,
        });
    }
    let mut out = Vec::new();
    for arg in names {
        let (kind, name) = parse_target(arg)?;
        let kinds: Vec<Kind> = kind.map(|k| vec![k]).unwrap_or_else(|| Kind::ALL.to_vec());
        let mut found = Vec::new();
        for k in &kinds {
            let r = WorkloadRef::new(*k, ns, &name);
            let exists = Workload::get(&cluster.client, &r)
                .await
                .map_err(|e| api_error(e, &cluster.url, &format!("get {}", k.plural())))?
                .is_some();
            if exists {
                found.push(r);
            }
        }
        match found.len() {
            0 => {
                return Err(Error::NoSuchWorkload {
                    kind: match kind {
                        Some(k) => k.to_string(),
                        None => "deployment, statefulset or daemonset".into(),
                    },
                    name,
                    namespace: ns.into(),
                    list: crate::suggest::kubectl(&format!("get deploy,sts,ds -n {ns}")),
                });
            }
            1 => out.push(Resolved::One(found.remove(0))),
            _ => out.push(Resolved::Ambiguous {
                name,
                candidates: found,
            }),
        }
    }
    if let Some(selector) = selector {
        let mut selected = Vec::new();
        for k in Kind::ALL {
            let query = ListQuery::new(format!("/apis/apps/v1/namespaces/{ns}/{}", k.plural()))
                .labels(Some(selector));
            let (items, _) = list::collect::<Lean>(&cluster.client, &query)
                .await
                .map_err(|e| api_error(e, &cluster.url, &format!("list {}", k.plural())))?;
            selected.extend(
                items
                    .into_iter()
                    .map(|i| WorkloadRef::new(k, ns, &i.metadata.name)),
            );
        }
        if selected.is_empty() {
            return Err(Error::NoWorkloadSelected {
                namespace: ns.into(),
                selector: selector.into(),
            });
        }
        selected.sort();
        out.extend(selected.into_iter().map(Resolved::One));
    }
    dedupe(&mut out);
    Ok(out)
}

/// Resolves the arguments to workloads, letting `choose` settle each
/// ambiguous name (a prompt for the command, a refusal for a runbook).
pub(crate) async fn resolve_with(
    cluster: &Cluster,
    namespace: &str,
    names: &[String],
    selector: Option<&str>,
    mut choose: impl FnMut(&str, &[WorkloadRef]) -> Result<WorkloadRef>,
) -> Result<Vec<WorkloadRef>> {
    let mut out = Vec::new();
    for r in resolve(cluster, namespace, names, selector).await? {
        match r {
            Resolved::One(w) => out.push(w),
            Resolved::Ambiguous { name, candidates } => out.push(choose(&name, &candidates)?),
        }
    }
    out.dedup();
    Ok(out)
}

/// Drops repeats (a name given twice, or also selected by -l), keeping the first.
fn dedupe(items: &mut Vec<Resolved>) {
    let mut seen = std::collections::HashSet::new();
    items.retain(|r| match r {
        Resolved::One(w) => seen.insert(w.clone()),
        Resolved::Ambiguous { .. } => true,
    });
}

/// The message for an ambiguous name when there is no terminal to ask on.
pub(crate) fn ambiguity_error(name: &str, candidates: &[WorkloadRef], command: &str) -> Error {
    let example = candidates
        .first()
        .map(|c| c.to_string())
        .unwrap_or_default();
    Error::AmbiguousName {
        name: name.into(),
        candidates: candidates.iter().map(|c| c.to_string()).collect(),
        example: crate::suggest::oncall(&format!("{command} {example}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(parse_target("web").unwrap(), (None, "web".into()));
        assert_eq!(
            parse_target("sts/db").unwrap(),
            (Some(Kind::StatefulSet), "db".into())
        );
        assert!(matches!(
            parse_target("pod/x"),
            Err(Error::NotAWorkloadKind { .. })
        ));
        assert!(matches!(
            parse_target("deploy/"),
            Err(Error::BadWorkloadName { .. })
        ));
        assert!(matches!(
            parse_target("a/b/c"),
            Err(Error::BadWorkloadName { .. })
        ));
    }

    #[test]
    fn repeats_are_dropped() {
        let w = WorkloadRef::new(Kind::Deployment, "ns", "web");
        let mut v = vec![Resolved::One(w.clone()), Resolved::One(w.clone())];
        dedupe(&mut v);
        assert_eq!(v, vec![Resolved::One(w)]);
    }

    #[test]
    fn ambiguity_lists_candidates() {
        let c = vec![
            WorkloadRef::new(Kind::Deployment, "ns", "web"),
            WorkloadRef::new(Kind::StatefulSet, "ns", "web"),
        ];
        let msg = ambiguity_error("web", &c, "restart").to_string();
        assert!(msg.contains("`deployment/web`") && msg.contains("`statefulset/web`"));
    }
}
