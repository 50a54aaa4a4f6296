//! One function per command: call the domain, render the result.

mod audit;
mod node;
mod node_replace;
mod pods;
mod promote;
mod runbook;
mod sandbox;

use crate::app::App;
use crate::cli::{Command, DnsCommand, PodsCommand, RolloutCommand, RunbookCommand};
use crate::error::{Error, Result};

pub async fn run(app: &App, command: Command) -> Result<()> {
    match command {
        Command::Node(cmd) => node::run(app, cmd).await,
        Command::Pods(PodsCommand::Stuck(args)) => pods::stuck(app, args).await,
        Command::Restart(_) => Err(Error::NotYetAvailable("restart")),
        Command::Rollout(RolloutCommand::Status { .. }) => {
            Err(Error::NotYetAvailable("rollout status"))
        }
        Command::Promote(args) => promote::run(app, args).await,
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

async fn runbook(app: &App, cmd: RunbookCommand) -> Result<()> {
    runbook::run(app, cmd).await
}
