//! Serve a simulated cluster until Ctrl-C (for trying things by hand).
//!
//! cargo run -p oncall-sim --example serve -- [demo|empty|FILE|gen:NODES:PODS] [PORT] [KUBECONFIG]

use oncall_sim::{FaultSpec, Seed, SimOptions, Simulator, Timing};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seed = match args.first().map(String::as_str) {
        None | Some("demo") => Seed::Demo,
        Some("empty") => Seed::Empty,
        Some(g) if g.starts_with("gen:") => {
            let p: Vec<usize> = g[4..].split(':').map(|x| x.parse().unwrap_or(10)).collect();
            Seed::Generated {
                nodes: p[0],
                pods_per_node: p[1],
            }
        }
        Some(f) => Seed::Yaml {
            text: std::fs::read_to_string(f)?,
            source: f.to_string(),
        },
    };
    let port = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    let faults = std::env::var("SIM_FAULTS")
        .ok()
        .map(|f| FaultSpec::parse(&f))
        .transpose()?
        .unwrap_or_default();
    let t = std::time::Instant::now();
    let sim = Simulator::start(SimOptions {
        port,
        seed,
        faults,
        timing: Timing::realistic(),
    })
    .await?;
    eprintln!("started in {:?}", t.elapsed());
    let kc = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "/tmp/sim-kubeconfig".into());
    sim.write_kubeconfig(std::path::Path::new(&kc), "sandbox")?;
    println!("export KUBECONFIG={kc}  # {}", sim.url());
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
