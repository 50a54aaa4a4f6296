//! A runbook after validation: parameters and steps, ready to run.

use std::time::Duration;

use serde::Serialize;

use super::actions::{Erased, Spec};

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Runbook {
    pub name: String,
    pub summary: String,
    /// The manual procedure this runbook comes from.
    pub source: String,
    pub params: Vec<Param>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ParamType {
    String,
    Int,
    Bool,
    Duration,
    Node,
    Workload,
    Context,
}

impl ParamType {
    pub(crate) const ALL: [(&'static str, ParamType); 7] = [
        ("string", ParamType::String),
        ("int", ParamType::Int),
        ("bool", ParamType::Bool),
        ("duration", ParamType::Duration),
        ("node", ParamType::Node),
        ("workload", ParamType::Workload),
        ("context", ParamType::Context),
    ];

    pub(crate) fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map(|(n, _)| *n)
            .unwrap_or("string")
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Param {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ParamType,
    pub description: String,
    pub required: bool,
    pub default: Option<String>,
    /// A regular expression the whole value must match.
    pub pattern: Option<String>,
    /// The only values allowed, when not empty.
    #[serde(rename = "enum")]
    pub choices: Vec<String>,
    /// Never shown, journaled or logged.
    pub secret: bool,
    /// Where shell completion and prompts find candidates: nodes, workloads, contexts.
    pub complete: Option<String>,
}

impl Param {
    /// A required string parameter with nothing else said about it: what
    /// a runbook's parameter is until its fields say otherwise.
    pub(crate) fn named(name: String) -> Param {
        Param {
            name,
            ty: ParamType::String,
            description: String::new(),
            required: true,
            default: None,
            pattern: None,
            choices: Vec::new(),
            secret: false,
            complete: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Step {
    pub id: String,
    pub title: String,
    pub action: String,
    /// The action's arguments; every string in it is a template.
    pub args: serde_json::Value,
    /// A template expression; the step is skipped when it is false.
    pub when: Option<String>,
    #[serde(with = "humantime_serde_opt")]
    pub timeout: Option<Duration>,
    pub retries: u32,
    /// Whether the step changes anything (dry runs skip it).
    pub mutating: bool,
    /// Whether running it again after an interruption is harmless.
    pub idempotent: bool,
}

impl Step {
    /// The step's action (validation made sure it exists).
    pub(crate) fn implementation(&self) -> &'static dyn Erased {
        super::actions::find(&self.action).expect("validated action")
    }

    pub(crate) fn spec(&self) -> &'static Spec {
        self.implementation().spec()
    }
}

mod humantime_serde_opt {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(
        d: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }
}
