//! Asking several clusters the same read-only question at once (`--context`
//! given more than once, or `--all-contexts`): one connection per context,
//! all asked concurrently, every answer kept with its context, and a cluster
//! that fails (unreachable, refusing the credentials, timing out) set aside
//! as one line instead of failing the others.

use std::future::Future;

use serde::Serialize;

use super::{Cluster, ConnectOptions, api_error, connect, kubeconfig, retry};
use crate::error::{Error, Result};

/// What one context answered.
pub struct Answered<T> {
    pub context: String,
    pub value: T,
}

/// A context that gave no answer, and why, in one sentence.
#[derive(Debug, Clone, Serialize)]
pub struct Unreachable {
    pub context: String,
    /// The error, as it would be printed for that context alone.
    pub error: String,
    /// The exit code that context alone would have given (4, 5…).
    pub exit_code: u8,
}

/// Every context's outcome, in the order the contexts were asked.
pub struct Answers<T> {
    pub answered: Vec<Answered<T>>,
    pub unreachable: Vec<Unreachable>,
}

impl<T> Answers<T> {
    /// The error that ends the command when no context answered; each
    /// context's own reason has been reported by then. Its exit code is
    /// theirs when they agree (all timed out: 5; the namespace exists in
    /// none: 1), else 4.
    pub fn none_answered(&self) -> Option<Error> {
        if !self.answered.is_empty() {
            return None;
        }
        let names: Vec<String> = self
            .unreachable
            .iter()
            .map(|u| format!("`{}`", u.context))
            .collect();
        let codes: Vec<u8> = self.unreachable.iter().map(|u| u.exit_code).collect();
        let exit_code = match codes.as_slice() {
            [first, rest @ ..] if rest.iter().all(|c| c == first) => *first,
            _ => crate::error::exit::CLUSTER,
        };
        Some(Error::NoContextAnswered {
            contexts: names.join(", "),
            exit_code,
        })
    }
}

/// An item of one context's answer, with that context as its first field
/// (for `-o json|yaml`).
#[derive(Serialize)]
pub struct InContext<'a, T> {
    pub context: &'a str,
    #[serde(flatten)]
    pub item: &'a T,
}

/// Whether `--context` names more than one context (naming one twice is
/// still one).
pub fn several(given: &[String]) -> bool {
    given.iter().any(|c| *c != given[0])
}

/// The contexts to ask: every context of the kubeconfig for `--all-contexts`,
/// else those given (each once, in the order given). Unknown names are a
/// usage error before anything is asked, as for one context.
pub fn contexts(opts: &ConnectOptions, given: &[String], all: bool) -> Result<Vec<String>> {
    let Some(config) = kubeconfig::load(opts.kubeconfig.as_deref())? else {
        return Err(Error::NoKubeconfig);
    };
    let known: Vec<String> = config.contexts.into_iter().map(|c| c.name).collect();
    if all {
        if known.is_empty() {
            return Err(Error::BadKubeconfig(
                "the kubeconfig has no contexts".into(),
            ));
        }
        return Ok(known);
    }
    let mut wanted: Vec<String> = Vec::new();
    for name in given {
        if !known.contains(name) {
            return Err(Error::NotInKubeconfig {
                what: "context",
                name: name.clone(),
                known: if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                },
            });
        }
        if !wanted.contains(name) {
            wanted.push(name.clone());
        }
    }
    Ok(wanted)
}

/// Connects to each context and runs `ask` on it, all at once. Each run's
/// suggestions name its context. A context whose connection check or
/// question fails is set aside with its error.
pub async fn ask<T, F, Fut>(base: &ConnectOptions, contexts: &[String], ask: F) -> Answers<T>
where
    F: Fn(Cluster) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let ask = &ask;
    let runs = contexts.iter().map(|name| {
        let mut opts = base.clone();
        opts.context = Some(name.clone());
        crate::suggest::in_context(name.clone(), async move {
            let cluster = connect(&opts).await?;
            // As for one context: an unreachable server or expired
            // credentials are found by the cheapest request.
            retry::retry(|| cluster.client.apiserver_version())
                .await
                .map_err(|e| api_error(e, &cluster.url, "get the server version"))?;
            ask(cluster).await
        })
    });
    let outcomes = futures::future::join_all(runs).await;
    let mut answers = Answers {
        answered: Vec::new(),
        unreachable: Vec::new(),
    };
    for (context, outcome) in contexts.iter().cloned().zip(outcomes) {
        match outcome {
            Ok(value) => answers.answered.push(Answered { context, value }),
            Err(e) => answers.unreachable.push(Unreachable {
                context,
                error: e.to_string(),
                exit_code: e.exit_code(),
            }),
        }
    }
    answers
}
