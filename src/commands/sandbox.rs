use crate::app::App;
use crate::app::sandbox::{self, ServeOptions};
use crate::cli::{SandboxCommand, SandboxServeArgs};
use crate::error::Result;

pub(super) async fn run(_app: &App, cmd: SandboxCommand) -> Result<()> {
    match cmd {
        SandboxCommand::Serve(args) => serve(args).await,
    }
}

async fn serve(args: SandboxServeArgs) -> Result<()> {
    let options = ServeOptions {
        seed: args.seed,
        generated: args.nodes.zip(args.pods_per_node),
        port: args.port,
        faults: args.faults,
    };
    let sim = sandbox::serve(&options).await?;
    let kubeconfig = match args.kubeconfig_out {
        Some(p) => p,
        None => {
            std::env::temp_dir().join(format!("oncall-sandbox-{}.kubeconfig", std::process::id()))
        }
    };
    sim.write_kubeconfig(&kubeconfig)?;
    outln!("sandbox cluster serving at {}", sim.url());
    outln!("export KUBECONFIG={}", kubeconfig.display());
    eprintln!("press Ctrl-C to stop");
    crate::safety::interrupt::interrupted().await;
    sim.shutdown().await;
    Ok(())
}
