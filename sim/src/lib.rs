//! oncall-sim: a Kubernetes API simulator (placeholder until the simulator lands).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

pub const DEMO_SEED: &str = "";

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{file}:{line}:{column}: {reason}")]
    Seed {
        file: String,
        line: u64,
        column: u64,
        reason: String,
    },
    #[error("api error: {0}")]
    Api(String),
}

#[derive(Debug, Clone)]
pub enum Seed {
    Empty,
    Demo,
    Yaml { text: String, source: String },
    Generated { nodes: usize, pods_per_node: usize },
}

#[derive(Debug, Clone, Default)]
pub struct Timing {
    pub tick: Duration,
}

impl Timing {
    pub fn fast() -> Self {
        Self::default()
    }
    pub fn realistic() -> Self {
        Self::default()
    }
}

#[derive(Debug, Clone, Default)]
pub struct FaultSpec {}

impl FaultSpec {
    pub fn parse(_spec: &str) -> Result<FaultSpec, String> {
        Err("the simulator has not landed yet".into())
    }
}

#[derive(Debug, Clone)]
pub struct SimOptions {
    pub port: u16,
    pub seed: Seed,
    pub faults: FaultSpec,
    pub timing: Timing,
}

pub struct Simulator {}

impl Simulator {
    pub async fn start(_opts: SimOptions) -> Result<Simulator, SimError> {
        Err(SimError::Api("the simulator has not landed yet".into()))
    }
    pub fn url(&self) -> String {
        String::new()
    }
    pub fn port(&self) -> u16 {
        0
    }
    pub fn kubeconfig_yaml(&self, _context: &str) -> String {
        String::new()
    }
    pub fn write_kubeconfig(&self, _path: &Path, _context: &str) -> std::io::Result<()> {
        Ok(())
    }
    pub fn set_faults(&self, _faults: FaultSpec) {}
    pub fn request_count(&self) -> u64 {
        0
    }
    pub fn get(&self, _resource: &str, _namespace: Option<&str>, _name: &str) -> Option<Value> {
        None
    }
    pub fn list(&self, _resource: &str, _namespace: Option<&str>) -> Vec<Value> {
        Vec::new()
    }
    pub fn apply(&self, _object: Value) -> Result<Value, SimError> {
        Err(SimError::Api("the simulator has not landed yet".into()))
    }
    pub async fn shutdown(self) {}
}
