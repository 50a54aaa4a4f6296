use crate::app::App;
use crate::cli::{SandboxCommand, SandboxServeArgs};
use crate::error::{Error, Result};

pub async fn run(_app: &App, cmd: SandboxCommand) -> Result<()> {
    match cmd {
        SandboxCommand::Serve(args) => serve(args).await,
    }
}

async fn serve(args: SandboxServeArgs) -> Result<()> {
    let seed = match (&args.seed, args.nodes, args.pods_per_node) {
        (Some(path), _, _) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Usage(format!("cannot read seed {}: {e}", path.display())))?;
            oncall_sim::Seed::Yaml {
                text,
                source: path.display().to_string(),
            }
        }
        (None, Some(nodes), Some(pods_per_node)) => oncall_sim::Seed::Generated {
            nodes,
            pods_per_node,
        },
        _ => oncall_sim::Seed::Demo,
    };
    let faults = match &args.faults {
        Some(spec) => oncall_sim::FaultSpec::parse(spec)
            .map_err(|e| Error::Usage(format!("bad --faults `{spec}`: {e}")))?,
        None => Default::default(),
    };
    let sim = oncall_sim::Simulator::start(oncall_sim::SimOptions {
        port: args.port,
        seed,
        faults,
        timing: oncall_sim::Timing::realistic(),
    })
    .await
    .map_err(|e| match e {
        oncall_sim::SimError::Seed { .. } => Error::Usage(e.to_string()),
        other => Error::Failed(format!("cannot start the sandbox: {other}")),
    })?;
    let kubeconfig = match args.kubeconfig_out {
        Some(p) => p,
        None => {
            std::env::temp_dir().join(format!("oncall-sandbox-{}.kubeconfig", std::process::id()))
        }
    };
    sim.write_kubeconfig(&kubeconfig, "sandbox")
        .map_err(|e| Error::Failed(format!("cannot write {}: {e}", kubeconfig.display())))?;
    outln!("sandbox cluster serving at {}", sim.url());
    outln!("export KUBECONFIG={}", kubeconfig.display());
    eprintln!("press Ctrl-C to stop");
    crate::safety::interrupt::interrupted().await;
    sim.shutdown().await;
    Ok(())
}
