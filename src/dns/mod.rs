//! DNS for on-call: resolve a name like dig (every server side by side, the
//! whole CNAME chain, TTLs, errors in plain words) and say which Service or
//! Ingress in the cluster a name really points at.
//!
//! Nothing here prints: `commands::dns` renders the reports.

pub(crate) mod check;
pub(crate) mod cluster;
pub(crate) mod query;
pub(crate) mod resolve;

use serde::Serialize;

pub(crate) use query::{Options, Question, Target};
pub(crate) use resolve::{Resolution, Status};

/// The report of `dns resolve`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ResolveReport {
    /// The name asked, without the trailing dot (`in-addr.arpa` form for an address).
    pub name: String,
    #[serde(rename = "type")]
    pub record_type: String,
    /// The address, for a reverse lookup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reverse_of: Option<String>,
    /// One entry per server, in the order given.
    pub results: Vec<Resolution>,
    /// Whether every server gave the same outcome and answers (TTLs aside).
    pub agree: bool,
    /// Per result: whether it differs from the answer most servers gave.
    pub differs: Vec<bool>,
}

/// Asks every target and compares the answers.
pub(crate) async fn resolve(
    question: &Question,
    targets: &[Target],
    opts: Options,
) -> ResolveReport {
    let results = resolve::resolve_all(question, targets, opts).await;
    let differs = differences(&results);
    ResolveReport {
        name: question.display_name(),
        record_type: question.record_type.to_string(),
        reverse_of: question.reverse_of.map(|ip| ip.to_string()),
        agree: !differs.iter().any(|d| *d),
        differs,
        results,
    }
}

/// Marks results that differ from the most common answer (the first one on a tie).
pub(crate) fn differences(results: &[Resolution]) -> Vec<bool> {
    let signatures: Vec<String> = results.iter().map(Resolution::signature).collect();
    let majority = signatures
        .iter()
        .max_by_key(|s| {
            let count = signatures.iter().filter(|o| o == s).count();
            // On a tie, prefer the earliest: a higher rank for a lower index.
            let first = signatures.iter().position(|o| o == *s).unwrap_or(0);
            (count, usize::MAX - first)
        })
        .cloned()
        .unwrap_or_default();
    signatures.iter().map(|s| *s != majority).collect()
}
