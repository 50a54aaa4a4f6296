//! One function per command: call the domain, render the result.

mod audit;
mod pods;
mod sandbox;

use crate::app::App;
use crate::cli::{Command, DnsCommand, NodeCommand, PodsCommand, RolloutCommand, RunbookCommand};
use crate::error::{Error, Result};

pub async fn run(app: &App, command: Command) -> Result<()> {
    match command {
        Command::Node(cmd) => node(app, cmd).await,
        Command::Pods(PodsCommand::Stuck(args)) => pods::stuck(app, args).await,
        Command::Restart(_) => Err(Error::NotYetAvailable("restart")),
        Command::Rollout(RolloutCommand::Status { .. }) => {
            Err(Error::NotYetAvailable("rollout status"))
        }
        Command::Promote(_) => Err(Error::NotYetAvailable("promote")),
        Command::Dns(DnsCommand::Resolve { .. }) => Err(Error::NotYetAvailable("dns resolve")),
        Command::Dns(DnsCommand::Check { .. }) => Err(Error::NotYetAvailable("dns check")),
        Command::Runbook(cmd) => runbook(app, cmd).await,
        Command::Audit(args) => audit::run(app, args),
        Command::Sandbox(cmd) => sandbox::run(app, cmd).await,
        Command::Completions(args) => {
            print!("{}", crate::completion::script(args.shell));
            Ok(())
        }
    }
}

async fn node(app: &App, cmd: NodeCommand) -> Result<()> {
    app.cluster().await?;
    Err(Error::NotYetAvailable(match cmd {
        NodeCommand::List { .. } => "node list",
        NodeCommand::Check { .. } => "node check",
        NodeCommand::Cordon { .. } => "node cordon",
        NodeCommand::Uncordon { .. } => "node uncordon",
        NodeCommand::Drain { .. } => "node drain",
        NodeCommand::Replace { .. } => "node replace",
        NodeCommand::Rotate { .. } => "node rotate",
    }))
}

async fn runbook(_app: &App, cmd: RunbookCommand) -> Result<()> {
    Err(Error::NotYetAvailable(match cmd {
        RunbookCommand::List => "runbook list",
        RunbookCommand::Show { .. } => "runbook show",
        RunbookCommand::Validate { .. } => "runbook validate",
        RunbookCommand::Run { .. } => "runbook run",
        RunbookCommand::Resume { .. } => "runbook resume",
        RunbookCommand::Log { .. } => "runbook log",
    }))
}
