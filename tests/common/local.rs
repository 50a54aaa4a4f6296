//! A private HOME, state and working directory for runs that need no
//! cluster (runbooks of local steps), and helpers to read their journals.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Cmd, Run, eventually, oncall_in};

/// A private HOME and working directory for runs that need no cluster.
pub struct Local {
    pub dir: tempfile::TempDir,
}

impl Local {
    pub fn new() -> Local {
        Local {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    /// `oncall ARGS` in this directory, with it as HOME and no kubeconfig.
    pub fn command(&self, args: &[&str]) -> Cmd {
        oncall_in(self.dir.path())
            .current_dir(self.dir.path())
            .args(args)
    }

    pub fn oncall(&self, args: &[&str]) -> Run {
        self.command(args).run()
    }

    pub fn runs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.path("state/oncall/runs"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "json"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The only run's id and journal.
    pub fn journal(&self) -> (String, serde_json::Value) {
        let runs = self.runs();
        assert_eq!(runs.len(), 1, "one journal: {runs:?}");
        let id = runs[0].file_stem().unwrap().to_string_lossy().into_owned();
        (
            id,
            serde_json::from_str(&std::fs::read_to_string(&runs[0]).unwrap()).unwrap(),
        )
    }
}

pub fn state_of(journal: &serde_json::Value, step: &str) -> String {
    journal["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == step)
        .map(|s| s["state"].as_str().unwrap().to_string())
        .unwrap()
}

pub fn count(text: &str, line: &str) -> usize {
    text.lines().filter(|l| *l == line).count()
}

pub fn wait_for(path: &Path) {
    assert!(
        eventually(Duration::from_secs(20), || path.exists()),
        "{} never appeared",
        path.display()
    );
}
