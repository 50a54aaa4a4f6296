//! Runs one action once, and describes what a mutating action will change.
//!
//! Every cluster action calls the same domain functions as its command:
//! `act` runs it, `plan_for` shows the domain's own plan for a mutating one.

use serde_json::Value as Json;

use super::engine::Run;
use super::model::Step;
use super::template;
use super::{
    check_actions, job_actions, kube_actions, node_actions, secret_actions, workload_actions,
};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::safety::Plan;

pub(super) fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

pub(super) fn as_list(v: Option<&Json>) -> Vec<String> {
    match v {
        Some(Json::Array(a)) => a.iter().map(json_text).collect(),
        Some(Json::Null) | None => Vec::new(),
        Some(other) => vec![json_text(other)],
    }
}

/// A boolean field, given as a boolean or as (templated) text.
pub(super) fn flag(v: Option<&Json>, name: &str) -> Result<bool> {
    match v {
        None | Some(Json::Null) => Ok(false),
        Some(Json::Bool(b)) => Ok(*b),
        // A templated bool renders as `true` or `True`.
        Some(other) => match json_text(other).trim().to_lowercase().as_str() {
            "true" | "yes" => Ok(true),
            "false" | "no" | "" => Ok(false),
            t => Err(Error::Usage(format!(
                "`{name}` must be true or false, not `{t}`"
            ))),
        },
    }
}

/// A duration field such as `10m`; 10 minutes when absent, as the commands.
pub(super) fn duration(v: Option<&Json>, name: &str) -> Result<std::time::Duration> {
    duration_or(v, name, std::time::Duration::from_secs(600))
}

/// A duration field such as `10m` (`0` is zero); `default` when absent or empty.
pub(super) fn duration_or(
    v: Option<&Json>,
    name: &str,
    default: std::time::Duration,
) -> Result<std::time::Duration> {
    match v.map(json_text) {
        None => Ok(default),
        Some(t) if t.trim().is_empty() => Ok(default),
        Some(t) if t.trim() == "0" => Ok(std::time::Duration::ZERO),
        Some(t) => {
            humantime::parse_duration(t.trim()).map_err(|e| Error::Usage(format!("`{name}`: {e}")))
        }
    }
}

/// A whole-number field; `default` when absent or empty.
pub(super) fn whole(v: Option<&Json>, name: &str, default: i64) -> Result<i64> {
    match v.map(json_text) {
        None => Ok(default),
        Some(t) if t.trim().is_empty() => Ok(default),
        Some(t) => t
            .trim()
            .parse()
            .map_err(|_| Error::Usage(format!("`{name}` must be a whole number, not `{t}`"))),
    }
}

pub(super) fn arg<'j>(args: &'j Json, key: &str) -> Option<&'j str> {
    args.get(key).and_then(Json::as_str)
}

/// A runnable view of a step's command, quoted for display.
fn argv_display(argv: &[String]) -> String {
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
}

/// What a mutating step will change, for its plan.
pub(super) async fn plan_for(run: &Run<'_>, step: &Step, args: &Json) -> Result<Plan> {
    let ns = arg(args, "namespace")
        .map(str::to_string)
        .unwrap_or_else(|| run.journal.namespace.clone());
    let mut plan = Plan {
        action: format!("step `{}`: {}", step.id, step.title),
        context: run.journal.context.clone(),
        cluster: run.journal.cluster.clone(),
        namespace: ns.clone(),
        changes: Vec::new(),
        skipped: Vec::new(),
        warnings: Vec::new(),
    };
    match step.action.as_str() {
        "shell" => {
            let (what, detail) = match arg(args, "sh") {
                Some(script) => ("run shell script", script.to_string()),
                None => ("run", argv_display(&as_list(args.get("argv")))),
            };
            plan.change("this machine", what, run.redact(&detail));
        }
        "scale" => {
            let target = arg(args, "target").unwrap_or_default();
            let to = arg(args, "replicas").unwrap_or_default();
            let from = match run.cluster {
                Some(c) => kube_actions::current_replicas(c, &ns, target)
                    .await
                    .ok()
                    .flatten()
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "?".into()),
                None => "?".into(),
            };
            plan.change(target, "scale", format!("replicas {from} → {to}"));
        }
        "restart" if run.cluster.is_some() => {
            let cluster = run.cluster.expect("checked");
            workload_actions::plan_restart(cluster, &ns, args, &mut plan).await?;
        }
        "node_cordon" | "node_drain" | "node_replace" | "node_rotate" | "promote" => {
            let cluster = cluster_for(run, &step.action)?;
            match step.action.as_str() {
                "node_cordon" => node_actions::plan_cordon(cluster, args, &mut plan).await?,
                "node_drain" => node_actions::plan_drain(cluster, args, &mut plan).await?,
                "node_replace" => {
                    node_actions::plan_rebuild(cluster, run.config, "replace", args, &mut plan)
                        .await?
                }
                "node_rotate" => {
                    node_actions::plan_rebuild(cluster, run.config, "rotate", args, &mut plan)
                        .await?
                }
                _ => {
                    check_actions::plan_promote(cluster, &run.connect, run.config, args, &mut plan)
                        .await?
                }
            }
        }
        "rotate_secret" => {
            let cluster = cluster_for(run, "rotate_secret")?;
            secret_actions::plan_rotate(run, cluster, &ns, args, &mut plan).await?;
        }
        "job_run" | "job_suspend" | "job_resume" => {
            let cluster = cluster_for(run, &step.action)?;
            match step.action.as_str() {
                "job_run" => job_actions::plan_run(cluster, &ns, args, &mut plan).await?,
                action => {
                    let suspending = action == "job_suspend";
                    job_actions::plan_toggle(cluster, &ns, args, suspending, &mut plan).await?
                }
            }
        }
        "delete_pod" => plan.change(
            format!("pod/{}", arg(args, "pod").unwrap_or_default()),
            "delete",
            "its controller makes a new pod",
        ),
        "exec" => plan.change(
            format!("pod/{}", arg(args, "pod").unwrap_or_default()),
            "exec",
            run.redact(&argv_display(&as_list(args.get("command")))),
        ),
        other => {
            let mut targets = as_list(args.get("nodes"));
            targets.extend(as_list(args.get("targets")));
            if let Some(s) = arg(args, "selector") {
                targets.push(format!("-l {s}"));
            }
            let rest: serde_json::Map<_, _> = args
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(k, _)| !matches!(k.as_str(), "nodes" | "targets" | "selector"))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            let detail = if rest.is_empty() {
                String::new()
            } else {
                run.redact(&Json::Object(rest).to_string())
            };
            let target = if targets.is_empty() {
                "-".to_string()
            } else {
                targets.join(", ")
            };
            plan.change(target, other.replace('_', " "), detail);
        }
    }
    Ok(plan)
}

/// What an action produced: output for later steps, and an exit code for commands.
pub(super) struct Produced {
    pub output: Json,
    pub text: String,
    pub exit_code: Option<i32>,
}

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
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "`env` entries are NAME=VALUE, not `{}`",
                run.redact(pair)
            ))
        })?;
        cmd.env(k, v);
    }
    let child = cmd
        .spawn()
        .map_err(|e| Error::Failed(format!("cannot run `{program}`: {e}")))?;
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
    .map_err(|e| Error::Failed(format!("cannot run `{program}`: {e}")))?;
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
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .or_else(|| stdout.lines().rev().find(|l| !l.trim().is_empty()))
            .unwrap_or("");
        return Err(Error::Failed(format!(
            "`{program}` exited with code {code}{}{}",
            if last.is_empty() { "" } else { ": " },
            last.trim()
        )));
    }
    Ok(Produced {
        output: Json::String(stdout.trim_end().to_string()),
        text,
        exit_code: Some(code),
    })
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

/// The cluster a cluster action runs against (a runbook validated offline
/// has none).
fn cluster_for<'a>(run: &Run<'a>, action: &str) -> Result<&'a Cluster> {
    run.cluster
        .ok_or_else(|| Error::Failed(format!("the `{action}` action needs a cluster connection")))
}

/// Runs one action once.
pub(super) async fn act(run: &Run<'_>, step: &Step, args: &Json) -> Result<Produced> {
    let spec = step.spec();
    let cluster = || cluster_for(run, spec.name);
    let ns = || {
        arg(args, "namespace")
            .map(str::to_string)
            .unwrap_or_else(|| run.journal.namespace.clone())
    };
    let typed =
        |what: &str| Error::Usage(format!("step `{}`: bad arguments for `{what}`", step.id));
    match spec.name {
        "shell" => {
            let env = as_list(args.get("env"));
            match arg(args, "sh") {
                Some(script) => run_command(run, "sh", &["-c".into(), script.into()], &env).await,
                None => {
                    let argv = as_list(args.get("argv"));
                    let (program, rest) = argv.split_first().ok_or_else(|| typed("shell"))?;
                    run_command(run, program, rest, &env).await
                }
            }
        }
        "assert" => assert(run, step, args).await,
        "scale" => {
            let a: kube_actions::ScaleArgs =
                serde_json::from_value(args.clone()).map_err(|_| typed("scale"))?;
            let out = kube_actions::scale(cluster()?, &ns(), &a).await?;
            Ok(Produced {
                text: format!(
                    "{} scaled from {} to {}",
                    out["target"].as_str().unwrap_or_default(),
                    out["from"],
                    out["to"]
                ),
                output: out,
                exit_code: None,
            })
        }
        "delete_pod" => {
            let a: kube_actions::DeletePodArgs =
                serde_json::from_value(args.clone()).map_err(|_| typed("delete_pod"))?;
            let out = kube_actions::delete_pod(cluster()?, &ns(), &a).await?;
            Ok(Produced {
                text: format!("deleted {}", out["pod"].as_str().unwrap_or_default()),
                output: out,
                exit_code: None,
            })
        }
        "restart" => done(workload_actions::run_restart(run, cluster()?, &ns(), args).await?),
        "rollout_status" => {
            let target = arg(args, "target").ok_or_else(|| typed("rollout_status"))?;
            let (output, text) = workload_actions::run_rollout_status(
                cluster()?,
                &ns(),
                target,
                duration(args.get("timeout"), "timeout")?,
            )
            .await?;
            Ok(Produced {
                output,
                text,
                exit_code: None,
            })
        }
        "node_check" => {
            let (output, text, go) = node_actions::check(cluster()?, args).await?;
            finding(step, args, output, text, go)
        }
        "pods_stuck" => {
            let (output, text, none) =
                check_actions::pods_stuck(cluster()?, &run.journal.namespace, args).await?;
            finding(step, args, output, text, none)
        }
        "dns_check" => {
            let (output, text, ok) = check_actions::dns_check(cluster()?, args).await?;
            finding(step, args, output, text, ok)
        }
        "secret_consumers" => done(secret_actions::consumers(cluster()?, &ns(), args).await?),
        "rotate_secret" => done(secret_actions::rotate(run, cluster()?, &ns(), args).await?),
        "node_cordon" => {
            done(node_actions::run_cordon(cluster()?, args, |o| run.report_audit(o)).await?)
        }
        "node_drain" => {
            done(node_actions::run_drain(cluster()?, args, |o| run.report_audit(o)).await?)
        }
        "node_replace" => {
            done(node_actions::run_rebuild(cluster()?, run.config, "replace", args).await?)
        }
        "node_rotate" => {
            done(node_actions::run_rebuild(cluster()?, run.config, "rotate", args).await?)
        }
        "promote" => done(check_actions::promote(run, cluster()?, args).await?),
        "job_run" => done(job_actions::run_job(run, cluster()?, &ns(), args).await?),
        "job_suspend" => done(job_actions::run_toggle(cluster()?, &ns(), args, true).await?),
        "job_resume" => done(job_actions::run_toggle(cluster()?, &ns(), args, false).await?),
        "exec" => {
            let a: kube_actions::ExecArgs =
                serde_json::from_value(args.clone()).map_err(|_| typed("exec"))?;
            exec(run, cluster()?, &ns(), &a).await
        }
        other => Err(Error::Failed(format!("unknown action `{other}`"))),
    }
}

/// `assert`: an expression that must be true, or a command that must
/// succeed; the step's message says what failed, redacted.
async fn assert(run: &Run<'_>, step: &Step, args: &Json) -> Result<Produced> {
    let Some(expr) = arg(args, "that") else {
        let argv = as_list(args.get("command"));
        let (program, rest) = argv.split_first().ok_or_else(|| {
            Error::Usage(format!("step `{}`: bad arguments for `assert`", step.id))
        })?;
        return run_command(run, program, rest, &[]).await.map_err(|e| {
            let msg = arg(args, "message")
                .map(|m| format!("{m} ({e})"))
                .unwrap_or_else(|| e.to_string());
            Error::ProblemsFound(format!("assertion failed: {}", run.redact(&msg)))
        });
    };
    let ok = template::eval(expr, &run.context())
        .map_err(|e| Error::Failed(format!("step `{}`: {}", step.id, run.redact(&e))))?;
    if !ok {
        let msg = arg(args, "message")
            .map(str::to_string)
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
    })
}

/// `exec`: a command in a pod; a non-zero exit fails the step with the
/// command's last line, redacted.
async fn exec(
    run: &Run<'_>,
    cluster: &Cluster,
    ns: &str,
    a: &kube_actions::ExecArgs,
) -> Result<Produced> {
    let (text, code) = kube_actions::exec(cluster, ns, a).await?;
    let text = run.redact(&text);
    if code != 0 {
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(Error::Failed(format!(
            "`{}` exited with code {code} in pod `{}`: {}",
            a.command.first().map(String::as_str).unwrap_or(""),
            a.pod,
            last.trim()
        )));
    }
    Ok(Produced {
        output: Json::String(text.trim_end().to_string()),
        text,
        exit_code: Some(code),
    })
}

fn done((output, text): (Json, String)) -> Result<Produced> {
    Ok(Produced {
        output,
        text,
        exit_code: None,
    })
}

/// A read-only check's result: what it found is output for later steps;
/// the step fails only with `fail_on_problems: true` (as the command's exit 1).
fn finding(step: &Step, args: &Json, output: Json, text: String, clean: bool) -> Result<Produced> {
    if !clean && flag(args.get("fail_on_problems"), "fail_on_problems")? {
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("problems found");
        return Err(Error::ProblemsFound(format!(
            "`{}` found problems: {}",
            step.action,
            last.trim()
        )));
    }
    Ok(Produced {
        output,
        text,
        exit_code: None,
    })
}
