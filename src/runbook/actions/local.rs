//! `shell`, `manual` and `assert`: actions on this machine, or for the
//! engineer.

use serde_json::Value as Json;

use super::args::{Expr, List, Script, Text, args, list};
use super::{Action, Kind, Produced, Spec, argv_display};
use crate::error::{Error, Result};
use crate::runbook::engine::Run;
use crate::runbook::model::Step;
use crate::runbook::template;
use crate::safety::Plan;

/// Exactly one of two fields must be given.
fn one_of(action: &str, given: &serde_json::Map<String, Json>, a: &str, b: &str) -> Option<String> {
    (given.contains_key(a) == given.contains_key(b))
        .then(|| format!("`{action}` needs exactly one of `{a}`, `{b}`"))
}

// ---- shell ------------------------------------------------------------

args! {
    ShellArgs {
        /// The program and its arguments (no shell); each value stays one argument.
        argv: Option<List>,
        /// A shell script, run with `sh -c`; it takes no template tags (read parameters from the environment).
        sh: Option<Script>,
        /// Extra environment variables, as NAME=VALUE.
        env: Option<List>,
    }
}

pub(super) struct Shell;

impl Action for Shell {
    type Args = ShellArgs;
    const SPEC: &'static Spec = &Spec {
        declared: true,
        shape_hint: "; give an argv list like [kubectl, get, pods], or `sh: SCRIPT`",
        ..Spec::of(
            Kind::Local,
            "shell",
            "run a program (argv list, no shell) or, with `sh:`, a shell script with every value quoted",
            true,
            false,
        )
        .short(true, "argv")
    };

    fn check(given: &serde_json::Map<String, Json>) -> Option<String> {
        if let Some(Json::Array(argv)) = given.get("argv")
            && argv.is_empty()
        {
            return Some("`shell` needs a program to run: the argv list is empty".into());
        }
        one_of("shell", given, "argv", "sh")
    }

    async fn plan(&self, run: &Run<'_>, args: &ShellArgs, into: &mut Plan) -> Result<()> {
        let (what, detail) = match &args.sh {
            Some(script) => ("run shell script", script.0.0.clone()),
            None => ("run", argv_display(list(&args.argv))),
        };
        into.change("this machine", what, run.redact(&detail));
        Ok(())
    }

    async fn run(&self, run: &Run<'_>, _step: &Step, args: ShellArgs) -> Result<Produced> {
        let env = list(&args.env);
        match &args.sh {
            Some(script) => run_command(run, "sh", &["-c".into(), script.0.0.clone()], env).await,
            None => {
                let (program, rest) = list(&args.argv)
                    .split_first()
                    .ok_or_else(|| no_program(Self::SPEC.name, "argv"))?;
                run_command(run, program, rest, env).await
            }
        }
    }
}

// ---- manual -----------------------------------------------------------

args! {
    ManualArgs {
        /// What the engineer must do; the run waits until they confirm it is done.
        instructions: Text,
    }
}

/// Shown by the engine, which waits for the engineer's word: never run.
pub(super) struct Manual;

impl Action for Manual {
    type Args = ManualArgs;
    const SPEC: &'static Spec = &Spec::of(
        Kind::Manual,
        "manual",
        "show instructions and wait until the engineer confirms they are done",
        false,
        false,
    )
    .short(false, "instructions");

    async fn run(&self, _run: &Run<'_>, step: &Step, _args: ManualArgs) -> Result<Produced> {
        Err(Error::Failed(format!(
            "step `{}`: a manual step is done by the engineer, not run",
            step.id
        )))
    }
}

// ---- assert -----------------------------------------------------------

args! {
    AssertArgs {
        /// An expression that must be true, such as `steps.check.output.verdict == "go"`.
        that: Option<Expr>,
        /// A program (argv list) that must succeed.
        command: Option<List>,
        /// What to say when the assertion fails.
        message: Option<Text>,
    }
}

pub(super) struct Assert;

impl Action for Assert {
    type Args = AssertArgs;
    const SPEC: &'static Spec = &Spec::of(
        Kind::Local,
        "assert",
        "stop the run unless an expression is true or a command succeeds",
        false,
        true,
    )
    .short(false, "that");

    fn check(given: &serde_json::Map<String, Json>) -> Option<String> {
        one_of("assert", given, "that", "command")
    }

    /// An expression that must be true, or a command that must succeed;
    /// the step's message says what failed, redacted.
    async fn run(&self, run: &Run<'_>, step: &Step, args: AssertArgs) -> Result<Produced> {
        let Some(expr) = &args.that else {
            let (program, rest) = list(&args.command)
                .split_first()
                .ok_or_else(|| no_program(Self::SPEC.name, "command"))?;
            return run_command(run, program, rest, &[]).await.map_err(|e| {
                let msg = args
                    .message
                    .as_ref()
                    .map(|m| format!("{} ({e})", m.0))
                    .unwrap_or_else(|| e.to_string());
                Error::ProblemsFound(format!("assertion failed: {}", run.redact(&msg)))
            });
        };
        let expr = &expr.0.0;
        let ok = template::eval(expr, &run.context()).map_err(|e| Error::StepTemplate {
            step: step.id.clone(),
            doing: "evaluate `that`".into(),
            reason: run.redact(&e),
        })?;
        if !ok {
            let msg = args
                .message
                .map(|m| m.0)
                .unwrap_or_else(|| format!("`{expr}` is false"));
            return Err(Error::ProblemsFound(format!(
                "assertion failed: {}",
                run.redact(&msg)
            )));
        }
        Ok(Produced {
            output: Json::Bool(true),
            text: String::new(),
            exit_code: None,
            summary: None,
        })
    }
}

// ---- running a local program ------------------------------------------

/// How long a step's process group has to stop after the interrupt is
/// passed on to it, before it is killed.
const CHILD_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs a local program in its own process group, with the run's
/// parameters in its environment. On an interrupt the signal is passed on
/// to the group, which gets `CHILD_GRACE` to finish before it is killed; a
/// step abandoned by its timeout is killed with its whole group.
async fn run_command(
    run: &Run<'_>,
    program: &str,
    args: &[String],
    env: &[String],
) -> Result<Produced> {
    use crate::safety::interrupt;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .envs(run.child_env())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    for pair in env {
        let (k, v) = pair.split_once('=').ok_or_else(|| Error::BadStepArgs {
            action: "shell".into(),
            field: Some("env".into()),
            reason: format!("entries are NAME=VALUE, not `{}`", run.redact(pair)),
        })?;
        cmd.env(k, v);
    }
    let cannot_run = |e: std::io::Error| Error::CannotRun {
        program: program.into(),
        reason: e.to_string(),
    };
    let child = cmd.spawn().map_err(cannot_run)?;
    let pgid = child.id().map(|p| p as i32).unwrap_or(0);
    let _tracked = interrupt::track_group(pgid);
    let mut guard = GroupGuard(pgid);
    let output = child.wait_with_output();
    tokio::pin!(output);
    let mut interrupted = false;
    let out = tokio::select! {
        r = &mut output => r,
        _ = interrupt::interrupted() => {
            interrupted = true;
            interrupt::kill_group(pgid, interrupt::signal());
            match tokio::time::timeout(CHILD_GRACE, &mut output).await {
                Ok(r) => r,
                Err(_) => {
                    interrupt::kill_group(pgid, libc::SIGKILL);
                    output.await
                }
            }
        }
    }
    .map_err(cannot_run)?;
    guard.0 = 0;
    let stdout = run.redact(&String::from_utf8_lossy(&out.stdout));
    let stderr = run.redact(&String::from_utf8_lossy(&out.stderr));
    let code = out.status.code().unwrap_or(-1);
    let mut text = stdout.clone();
    text.push_str(&stderr);
    if interrupted && !out.status.success() {
        return Err(Error::interrupted(
            Vec::new(),
            vec![format!(
                "`{program}` was stopped ({})",
                describe_status(&out.status)
            )],
        ));
    }
    if !out.status.success() {
        let last = last_line(&stderr)
            .or_else(|| last_line(&stdout))
            .unwrap_or("");
        return Err(Error::CommandFailed {
            program: program.into(),
            code,
            pod: None,
            last: last.trim().into(),
        });
    }
    Ok(Produced {
        output: Json::String(stdout.trim_end().to_string()),
        text,
        exit_code: Some(code),
        summary: None,
    })
}

/// The last line of an output that is not blank.
pub(super) fn last_line(text: &str) -> Option<&str> {
    text.lines().rev().find(|l| !l.trim().is_empty())
}

/// A program list that names no program (a template filled it with nothing).
fn no_program(action: &str, field: &str) -> Error {
    Error::BadStepArgs {
        action: action.into(),
        field: Some(field.into()),
        reason: "names no program to run".into(),
    }
}

/// Kills a step's process group when the step is abandoned (a timeout
/// drops it); disarmed once the program has ended by itself.
struct GroupGuard(i32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        crate::safety::interrupt::kill_group(self.0, libc::SIGKILL);
    }
}

fn describe_status(status: &std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("killed by signal {sig}");
        }
    }
    format!("exit code {}", status.code().unwrap_or(-1))
}
