//! Runbooks: YAML procedures built from oncall's own actions.
//!
//! `load` finds and validates a runbook; `engine` runs it step by step
//! through a `Ui` the command layer provides; `journal` keeps each run's
//! record so it can be resumed and turned into an incident timeline.

pub(crate) mod actions;
pub(crate) mod engine;
pub(crate) mod journal;
pub(crate) mod launch;
pub(crate) mod model;
pub(crate) mod secrets;
pub(crate) mod template;
pub(crate) mod tree;
pub(crate) mod validate;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
pub(crate) use model::Runbook;
pub(crate) use validate::Diagnostic;

/// The runbooks shipped inside the binary.
pub(crate) const SHIPPED: &[(&str, &str)] = &[
    (
        "dns-swap-check",
        include_str!("../../runbooks/dns-swap-check.yaml"),
    ),
    (
        "promote-staging-to-production",
        include_str!("../../runbooks/promote-staging-to-production.yaml"),
    ),
    (
        "rebuild-now",
        include_str!("../../runbooks/rebuild-now.yaml"),
    ),
    (
        "rabbitmq-stuck-node",
        include_str!("../../runbooks/rabbitmq-stuck-node.yaml"),
    ),
    (
        "replace-node",
        include_str!("../../runbooks/replace-node.yaml"),
    ),
    (
        "restart-service",
        include_str!("../../runbooks/restart-service.yaml"),
    ),
    (
        "rotate-node-pool",
        include_str!("../../runbooks/rotate-node-pool.yaml"),
    ),
    (
        "rotate-secret",
        include_str!("../../runbooks/rotate-secret.yaml"),
    ),
    (
        "stuck-pods-triage",
        include_str!("../../runbooks/stuck-pods-triage.yaml"),
    ),
];

/// Where a runbook was found.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "kind", content = "path")]
pub(crate) enum Origin {
    /// A file given by path, or found in ./runbooks or the config directory.
    File(PathBuf),
    /// Shipped inside the binary.
    Shipped(String),
}

impl Origin {
    pub(crate) fn describe(&self) -> String {
        match self {
            Origin::File(p) => p.display().to_string(),
            Origin::Shipped(n) => format!("shipped ({n})"),
        }
    }
}

/// A runbook's text and where it came from, before validation.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub origin: Origin,
    pub text: String,
}

impl Source {
    /// A short hash of the text: `resume` refuses when it changed.
    pub(crate) fn hash(&self) -> String {
        hash(&self.text)
    }

    fn path(&self) -> PathBuf {
        match &self.origin {
            Origin::File(p) => p.clone(),
            Origin::Shipped(n) => PathBuf::from(format!("{n}.yaml")),
        }
    }
}

pub(crate) fn hash(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses and validates; on failure, every problem found.
pub(crate) fn check(text: &str) -> std::result::Result<Runbook, Vec<Diagnostic>> {
    match tree::parse(text) {
        Ok(root) => validate::validate(&root, text),
        Err(e) => {
            let (line, column) = e
                .location()
                .map(|l| (l.line() as usize, l.column() as usize))
                .unwrap_or((0, 0));
            let message = match crate::yaml::bad_file(Path::new(""), &e) {
                Error::BadFile { reason, .. } => too_large(&reason).unwrap_or(reason),
                other => other.to_string(),
            };
            Err(vec![Diagnostic {
                line,
                column,
                message,
            }])
        }
    }
}

/// The YAML reader's size limits (which also stop alias bombs), as
/// `crate::yaml` words them for any file, said of the runbook.
fn too_large(reason: &str) -> Option<String> {
    let rest = reason.strip_prefix("the file ")?;
    rest.contains("too").then(|| {
        format!("the runbook {rest}; split it into smaller runbooks and do not nest aliases")
    })
}

/// Validates a source; the error lists every problem as `file:line:column: message`.
pub(crate) fn load(source: &Source) -> Result<Runbook> {
    check(&source.text).map_err(|diags| invalid(&source.path(), &diags))
}

pub(crate) fn invalid(path: &Path, diags: &[Diagnostic]) -> Error {
    let lines: Vec<String> = diags
        .iter()
        .map(|d| format!("{}:{}:{}: {}", path.display(), d.line, d.column, d.message))
        .collect();
    Error::InvalidRunbook { problems: lines }
}

/// The directories searched, in order of precedence (earlier wins).
pub(crate) fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("runbooks")];
    if let Some(d) = crate::config::config_dir() {
        dirs.push(d.join("runbooks"));
    }
    dirs
}

fn yaml_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            {
                out.push((stem.to_string(), path));
            }
        }
    }
    out.sort();
    out
}

/// Every runbook that `run NAME` can find, one per name (the first found wins).
pub(crate) fn discover() -> Vec<(String, Origin)> {
    let mut found: Vec<(String, Origin)> = Vec::new();
    for dir in search_dirs() {
        for (name, path) in yaml_files(&dir) {
            if !found.iter().any(|(n, _)| *n == name) {
                found.push((name, Origin::File(path)));
            }
        }
    }
    for (name, _) in SHIPPED {
        if !found.iter().any(|(n, _)| n == name) {
            found.push((name.to_string(), Origin::Shipped(name.to_string())));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// Reads a runbook's text from where it was found.
pub(crate) fn read(origin: &Origin) -> Result<Source> {
    let text = match origin {
        Origin::File(p) => std::fs::read_to_string(p).map_err(|e| Error::CannotRead {
            what: "runbook",
            path: p.clone(),
            reason: e.to_string(),
        })?,
        Origin::Shipped(n) => SHIPPED
            .iter()
            .find(|(name, _)| name == n)
            .map(|(_, t)| t.to_string())
            .ok_or_else(|| no_such_runbook(n))?,
    };
    Ok(Source {
        origin: origin.clone(),
        text,
    })
}

/// Finds a runbook by name, or reads it from a path (anything with a `/`
/// or a `.yaml`/`.yml` ending).
pub(crate) fn find(name_or_file: &str) -> Result<Source> {
    let looks_like_path = name_or_file.contains('/')
        || name_or_file.ends_with(".yaml")
        || name_or_file.ends_with(".yml");
    if looks_like_path || Path::new(name_or_file).is_file() {
        return read(&Origin::File(PathBuf::from(name_or_file)));
    }
    match discover().into_iter().find(|(n, _)| n == name_or_file) {
        Some((_, origin)) => read(&origin),
        None => Err(no_such_runbook(name_or_file)),
    }
}

fn no_such_runbook(name: &str) -> Error {
    Error::NoSuchRunbook {
        name: name.into(),
        list: crate::suggest::oncall("runbook list"),
    }
}

/// Names of the runbooks that `runbook run NAME` can find (shell completion).
pub(crate) fn available_names() -> Vec<String> {
    discover().into_iter().map(|(n, _)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_runbook_validates() {
        for (name, text) in SHIPPED {
            let rb = check(text).unwrap_or_else(|d| panic!("{name}: {d:?}"));
            assert_eq!(&rb.name, name);
        }
    }

    fn errors(text: &str) -> Vec<String> {
        check(text)
            .unwrap_err()
            .into_iter()
            .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
            .collect()
    }

    #[test]
    fn an_action_named_in_a_field_is_told_to_be_a_key() {
        let text = "\
name: x
summary: y
steps:
  - id: a
    title: A
    action: node.cordon
";
        let e = errors(text);
        assert_eq!(
            e,
            [
                "6:5: step `a` names its action in a field `action`; a step names it as a key instead: write `node_cordon:` with the action's arguments under it"
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let text = "\
name: x
summary: y
params:
  node: {type: node}
steps:
  - id: a
    title: A
    shel: [echo]
  - id: a
    title: B
    shell: [echo, '{{ nod }}']
  - id: c
    title: C
    manual: '{{ node '
  - title: D
    shell: [echo]
";
        let e = errors(text);
        assert_eq!(e.len(), 6, "{e:#?}");
        assert!(e[0].starts_with("6:5: step `a` has no action"), "{e:#?}");
        assert_eq!(
            e[1],
            "8:5: unknown action or field `shel` in step `a`; did you mean `shell`?"
        );
        assert!(
            e[2].starts_with("9:9: duplicate step id `a` (first used at line 6)"),
            "{e:#?}"
        );
        assert!(e[3].starts_with("11:19: unknown parameter `nod`"), "{e:#?}");
        assert!(e[4].starts_with("14:13: bad template"), "{e:#?}");
        assert!(
            e[5].starts_with("15:5: missing required field `id`"),
            "{e:#?}"
        );
    }
}
