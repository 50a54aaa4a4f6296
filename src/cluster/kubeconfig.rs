//! Reading kubeconfig files as client-go does: `--kubeconfig`, else the
//! `KUBECONFIG` list (missing files skipped, the first value set wins), else
//! `~/.kube/config`.

use std::path::{Path, PathBuf};

use kube::config::{Kubeconfig, KubeconfigError};

use crate::error::{Error, Result};

/// The kubeconfig to use, or `None` when there is none anywhere (then the
/// in-cluster service account is the last resort).
pub fn load(explicit: Option<&Path>) -> Result<Option<Kubeconfig>> {
    if let Some(path) = explicit {
        if !path.exists() {
            return Err(Error::BadKubeconfig(format!(
                "`{}` does not exist",
                path.display()
            )));
        }
        return read(path).map(Some);
    }
    if let Some(list) = std::env::var_os("KUBECONFIG") {
        let paths: Vec<PathBuf> = std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            return merge(&paths);
        }
    }
    let Some(path) = dirs::home_dir().map(|h| h.join(".kube").join("config")) else {
        return Ok(None);
    };
    if !path.exists() {
        return Ok(None);
    }
    read(&path).map(Some)
}

/// Merges the files of a `KUBECONFIG` list. As in client-go, a file that does
/// not exist is skipped (a list shared between machines often names one that
/// only some have); a list where none exists is no kubeconfig at all.
fn merge(paths: &[PathBuf]) -> Result<Option<Kubeconfig>> {
    let mut merged: Option<Kubeconfig> = None;
    for path in paths.iter().filter(|p| p.exists()) {
        let next = read(path)?;
        merged = Some(match merged {
            None => next,
            Some(m) => m.merge(next).map_err(|e| {
                Error::BadKubeconfig(format!("`{}` cannot be merged: {e}", path.display()))
            })?,
        });
    }
    match merged {
        Some(k) => Ok(Some(k)),
        None => Err(Error::BadKubeconfig(format!(
            "none of the files in KUBECONFIG exists ({})",
            paths
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Reads one file. `current-context: ""` counts as unset, as in client-go, so
/// that the next file of the list can set it.
fn read(path: &Path) -> Result<Kubeconfig> {
    let mut config = Kubeconfig::read_from(path).map_err(|e| bad(path, e))?;
    if config.current_context.as_deref() == Some("") {
        config.current_context = None;
    }
    Ok(config)
}

/// One sentence naming the file and, for a YAML problem, the line.
fn bad(path: &Path, err: KubeconfigError) -> Error {
    match err {
        KubeconfigError::Parse(e) => crate::yaml::bad_file(path, &e),
        KubeconfigError::ReadConfig(e, _) => {
            Error::BadKubeconfig(format!("cannot read `{}`: {e}", path.display()))
        }
        other => Error::BadKubeconfig(format!("`{}`: {other}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const A: &str = "apiVersion: v1\nkind: Config\ncurrent-context: \"\"\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n";
    const B: &str = "apiVersion: v1\nkind: Config\ncurrent-context: b\ncontexts:\n- name: b\n  context: {cluster: c, user: u}\n";

    #[test]
    fn missing_files_are_skipped_and_an_empty_current_context_is_unset() {
        let dir = tempfile::tempdir().unwrap();
        let a = file(dir.path(), "a", A);
        let b = file(dir.path(), "b", B);
        let merged = merge(&[dir.path().join("gone"), a, b]).unwrap().unwrap();
        assert_eq!(merged.current_context.as_deref(), Some("b"));
        assert_eq!(merged.contexts.len(), 2);
    }

    #[test]
    fn a_list_of_missing_files_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let err = merge(&[dir.path().join("gone")]).unwrap_err().to_string();
        assert!(
            err.contains("none of the files in KUBECONFIG exists"),
            "{err}"
        );
    }

    #[test]
    fn a_yaml_error_is_one_line_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = file(
            dir.path(),
            "bad",
            "apiVersion: v1\nclusters:\n- name: x\n  cluster: [\n",
        );
        let err = read(&p).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:", p.display())), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
}
