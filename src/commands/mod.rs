//! One function per command: call the domain, render the result.

mod audit;
mod dns;
mod job;
mod node;
mod node_list;
mod node_replace;
mod pods;
mod promote;
mod runbook;
mod sandbox;
mod secret;
mod workloads;

use crate::app::App;
use crate::cli::{Command, NodeCommand, PodsCommand, RolloutCommand};
use crate::error::Result;

pub(crate) async fn run(app: &App, command: Command) -> Result<()> {
    match command {
        // `node list` may ask several clusters: it connects by itself.
        Command::Node(NodeCommand::List {
            selector,
            all_contexts,
        }) => node_list::list(app, selector.as_deref(), all_contexts).await,
        Command::Node(cmd) => node::run(app, cmd).await,
        Command::Pods(PodsCommand::Stuck(args)) => pods::stuck(app, args).await,
        Command::Restart(args) => workloads::restart(app, args).await,
        Command::Rollout(RolloutCommand::Status { workloads, timeout }) => {
            workloads::rollout_status(app, workloads, timeout).await
        }
        Command::Promote(args) => promote::run(app, args).await,
        Command::Dns(cmd) => dns::run(app, cmd).await,
        Command::Secret(cmd) => secret::run(app, cmd).await,
        Command::Job(cmd) => job::run(app, cmd).await,
        Command::Runbook(cmd) => runbook::run(app, cmd).await,
        Command::Audit(args) => audit::run(app, args),
        Command::Sandbox(cmd) => sandbox::run(app, cmd).await,
        Command::Completions(args) => {
            out!("{}", crate::completion::script(args.shell));
            Ok(())
        }
        Command::Man(args) => match args.dir {
            Some(dir) => crate::completion::man::write_pages(&dir),
            None => {
                out!("{}", crate::completion::man::page());
                Ok(())
            }
        },
    }
}
