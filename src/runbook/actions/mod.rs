//! Every action a step can use, one file per family. Each action is a type
//! implementing `Action`: its spec, its `Args` (read by serde, unknown
//! fields refused), its plan and its run. The registry, the validator's
//! field checks and `oncall runbook actions` are all derived from them.
//!
//! Each cluster action calls the same domain functions as the matching
//! command.

pub(crate) mod args;
mod check;
mod job;
mod kube;
mod local;
mod node;
mod promote;
mod secret;
mod workload;

use futures::future::LocalBoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use super::engine::Run;
use super::model::Step;
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::safety::Plan;
use crate::ui::output::{self, Report};
pub(crate) use args::{Field, FieldKind, Fields, Render};
pub(crate) use local::ManualArgs;

/// Where an action acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// On this machine (a program, an expression).
    Local,
    /// The engineer does it; the run waits for their word.
    Manual,
    /// On the cluster (the run connects before starting).
    Cluster,
}

/// A short form of an action's value: `shell: [argv]`, `manual: text`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Short {
    /// A list (else one text).
    pub list: bool,
    /// The field the value stands for.
    pub field: &'static str,
}

/// What an action is, apart from its arguments.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    pub name: &'static str,
    pub about: &'static str,
    /// Whether the action changes the cluster or the world. Dry runs only
    /// run actions that do not.
    pub mutating: bool,
    /// Whether running it twice does no harm. `resume` re-runs an
    /// interrupted idempotent step and asks about any other.
    pub idempotent: bool,
    pub kind: Kind,
    /// Whether a step may say `read_only: true|false` (what a program does
    /// is for the runbook to say).
    pub declared: bool,
    pub short: Option<Short>,
    /// What to say when the value is neither a mapping nor the short form.
    pub shape_hint: &'static str,
}

impl Spec {
    /// An action of `kind`, with no short form.
    const fn of(
        kind: Kind,
        name: &'static str,
        about: &'static str,
        mutating: bool,
        idempotent: bool,
    ) -> Spec {
        Spec {
            name,
            about,
            mutating,
            idempotent,
            kind,
            declared: false,
            short: None,
            shape_hint: "",
        }
    }

    /// A cluster action that reads or changes, with no short form.
    const fn cluster(
        name: &'static str,
        about: &'static str,
        mutating: bool,
        idempotent: bool,
    ) -> Spec {
        Spec::of(Kind::Cluster, name, about, mutating, idempotent)
    }

    /// The same action, with a short form: `name: VALUE` fills `field`
    /// (a list when `list`).
    const fn short(self, list: bool, field: &'static str) -> Spec {
        Spec {
            short: Some(Short { list, field }),
            ..self
        }
    }
}

/// One action. `plan` is asked only of mutating actions, before the
/// engineer confirms; `run` does the work once.
pub(crate) trait Action: Sync {
    type Args: DeserializeOwned + Fields;
    const SPEC: &'static Spec;

    /// Problems with the fields a step gives that their types cannot say
    /// (exactly one of two fields), found at validation.
    fn check(_given: &serde_json::Map<String, Json>) -> Option<String> {
        None
    }

    /// What a mutating step will change, into its plan.
    async fn plan(&self, _run: &Run<'_>, _args: &Self::Args, _into: &mut Plan) -> Result<()> {
        Ok(())
    }

    async fn run(&self, run: &Run<'_>, step: &Step, args: Self::Args) -> Result<Produced>;
}

/// An action with its arguments still JSON: what the registry holds. Every
/// `Action` is one, through the adapter below.
pub(crate) trait Erased: Sync {
    fn spec(&self) -> &'static Spec;
    fn fields(&self) -> Vec<Field>;
    fn check(&self, given: &serde_json::Map<String, Json>) -> Option<String>;
    fn plan<'a>(
        &'a self,
        run: &'a Run<'_>,
        args: &'a Json,
        into: &'a mut Plan,
    ) -> LocalBoxFuture<'a, Result<()>>;
    fn run<'a>(
        &'a self,
        run: &'a Run<'_>,
        step: &'a Step,
        args: &'a Json,
    ) -> LocalBoxFuture<'a, Result<Produced>>;
}

impl<A: Action> Erased for A {
    fn spec(&self) -> &'static Spec {
        A::SPEC
    }

    fn fields(&self) -> Vec<Field> {
        A::Args::fields()
    }

    fn check(&self, given: &serde_json::Map<String, Json>) -> Option<String> {
        A::check(given)
    }

    fn plan<'a>(
        &'a self,
        run: &'a Run<'_>,
        args: &'a Json,
        into: &'a mut Plan,
    ) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let args = args::parse::<A::Args>(A::SPEC.name, args)?;
            Action::plan(self, run, &args, into).await
        })
    }

    fn run<'a>(
        &'a self,
        run: &'a Run<'_>,
        step: &'a Step,
        args: &'a Json,
    ) -> LocalBoxFuture<'a, Result<Produced>> {
        Box::pin(async move {
            let args = args::parse::<A::Args>(A::SPEC.name, args)?;
            Action::run(self, run, step, args).await
        })
    }
}

/// Every action, in the order the format documentation lists them.
pub(crate) static ACTIONS: &[&dyn Erased] = &[
    &local::Shell,
    &local::Manual,
    &local::Assert,
    &node::Check,
    &node::Cordon,
    &node::Drain,
    &node::Replace,
    &node::Rotate,
    &check::PodsStuck,
    &workload::Restart,
    &workload::RolloutStatus,
    &promote::Promote,
    &check::DnsCheck,
    &secret::Consumers,
    &secret::Rotate,
    &job::Run,
    &job::Suspend,
    &job::Resume,
    &kube::Scale,
    &kube::DeletePod,
    &kube::Exec,
];

pub(crate) fn find(name: &str) -> Option<&'static dyn Erased> {
    ACTIONS.iter().copied().find(|a| a.spec().name == name)
}

pub(crate) fn names() -> Vec<&'static str> {
    ACTIONS.iter().map(|a| a.spec().name).collect()
}

/// One action as `oncall runbook actions` lists it.
#[derive(Debug, Serialize)]
pub(crate) struct Described {
    pub name: &'static str,
    pub about: &'static str,
    /// Whether it changes anything (a dry run only shows its plan).
    pub changes: bool,
    /// Whether `resume` may run it again after an interruption.
    pub idempotent: bool,
    /// Where it acts: `cluster`, `local` or `manual`.
    pub acts: Kind,
    pub args: Vec<Field>,
}

/// Every action with its arguments, in the registry's order.
pub(crate) fn describe() -> Vec<Described> {
    ACTIONS
        .iter()
        .map(|a| {
            let spec = a.spec();
            Described {
                name: spec.name,
                about: spec.about,
                changes: spec.mutating,
                idempotent: spec.idempotent,
                acts: spec.kind,
                args: a.fields(),
            }
        })
        .collect()
}

/// What an action produced: output for later steps, and an exit code for commands.
pub(crate) struct Produced {
    pub output: Json,
    pub text: String,
    pub exit_code: Option<i32>,
    /// The step's one-line outcome, when it is not the text's last line.
    pub summary: Option<String>,
}

impl Produced {
    /// A step that ran a command's procedure shows the command's report:
    /// its data as the output, its text, and its summary as the outcome.
    fn report(report: &impl Report) -> Produced {
        Produced {
            output: output::data(report),
            text: output::plain(report),
            exit_code: None,
            summary: Some(report.summary()),
        }
    }

    fn done((output, text): (Json, String)) -> Result<Produced> {
        Ok(Produced {
            output,
            text,
            exit_code: None,
            summary: None,
        })
    }
}

/// The cluster a cluster action runs against (a runbook validated offline
/// has none).
fn cluster<'a>(run: &Run<'a>, action: &str) -> Result<&'a Cluster> {
    run.cluster
        .ok_or_else(|| Error::Failed(format!("the `{action}` action needs a cluster connection")))
}

/// The step's namespace, else the run's.
fn namespace(run: &Run<'_>, given: &Option<args::Text>) -> String {
    given
        .as_ref()
        .map(|n| n.0.clone())
        .unwrap_or_else(|| run.journal.namespace.clone())
}

/// Adds a domain's plan to the step's.
fn extend(into: &mut Plan, plan: Plan) {
    into.changes.extend(plan.changes);
    into.skipped.extend(plan.skipped);
    into.warnings.extend(plan.warnings);
}

/// A read-only check's result: the command's report is the step's text,
/// its data (with what `output` adds) the output for later steps; the step
/// fails only with `fail_on_problems: true`, where the command exits 1.
fn finding(
    action: &str,
    fail_on_problems: Option<args::Flag>,
    report: &impl Report,
    output: Json,
) -> Result<Produced> {
    let summary = report.summary();
    if report.exit().is_err() && args::on(fail_on_problems) {
        return Err(Error::ProblemsFound(format!(
            "`{action}` found problems: {summary}"
        )));
    }
    Ok(Produced {
        output,
        text: output::plain(report),
        exit_code: None,
        summary: Some(summary),
    })
}

/// A runnable view of a command, quoted for display.
fn argv_display(argv: &[String]) -> String {
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_action_has_fields_with_help() {
        let mut names = names();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ACTIONS.len());
        for a in ACTIONS {
            assert!(!a.spec().about.is_empty(), "{}", a.spec().name);
            for f in a.fields() {
                assert!(!f.help.is_empty(), "{}.{}", a.spec().name, f.name);
            }
        }
    }
}
