//! One function per command: call the domain, render the result.

mod audit;
mod dns;
mod runbook;
mod sandbox;

use crate::app::App;
use crate::cli::{Command, NodeCommand, PodsCommand, RolloutCommand, RunbookCommand};
use crate::error::{Error, Result};

pub async fn run(app: &App, command: Command) -> Result<()> {
    match command {
        Command::Node(cmd) => node(app, cmd).await,
        Command::Pods(PodsCommand::Stuck(_)) => Err(Error::NotYetAvailable("pods stuck")),
        Command::Restart(_) => Err(Error::NotYetAvailable("restart")),
        Command::Rollout(RolloutCommand::Status { .. }) => {
            Err(Error::NotYetAvailable("rollout status"))
        }
        Command::Promote(_) => Err(Error::NotYetAvailable("promote")),
        Command::Dns(cmd) => dns::run(app, cmd).await,
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

async fn runbook(app: &App, cmd: RunbookCommand) -> Result<()> {
    runbook::run(app, cmd).await
}
