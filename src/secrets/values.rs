//! Where new Secret values come from: a hidden prompt, stdin, a file or an
//! env file, never the command line (shell history and `ps` keep it).
//!
//! Values live only in memory: `NewValues` has no `Debug` or `Serialize`
//! that could show them, and plans carry fingerprints instead.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One `--set`, `--from-file` or `--from-env-file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// `--set KEY`: typed at a hidden prompt.
    Prompt(String),
    /// `--set KEY=-`: read from stdin.
    Stdin(String),
    /// `--from-file KEY=PATH`: the file's bytes, as kubectl's `--from-file`.
    File(String, PathBuf),
    /// `--from-env-file PATH`: `KEY=VALUE` lines, as kubectl's `--from-env-file`.
    EnvFile(PathBuf),
}

/// New values by key. Deliberately without `Debug`: a stray `{:?}` must
/// not be able to print a secret.
#[derive(Default, Clone)]
pub(crate) struct NewValues(BTreeMap<String, Vec<u8>>);

impl NewValues {
    pub(crate) fn insert(&mut self, key: &str, value: Vec<u8>) -> Result<()> {
        check_key(key)?;
        if self.0.insert(key.to_string(), value).is_some() {
            return Err(Error::KeyGivenTwice { key: key.into() });
        }
        Ok(())
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &Vec<u8>)> {
        self.0.iter()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Parses `--set KEY` or `--set KEY=-`. A value on the command line is
/// refused, without repeating it.
pub(crate) fn parse_set(arg: &str) -> Result<Source> {
    match arg.split_once('=') {
        None => {
            check_key(arg)?;
            Ok(Source::Prompt(arg.to_string()))
        }
        Some((key, "-")) => {
            check_key(key)?;
            Ok(Source::Stdin(key.to_string()))
        }
        Some((key, _)) => Err(Error::SecretOnCommandLine { key: key.into() }),
    }
}

/// Parses `--from-file KEY=PATH`.
pub(crate) fn parse_from_file(arg: &str) -> Result<Source> {
    let (key, path) = arg
        .split_once('=')
        .filter(|(k, p)| !k.is_empty() && !p.is_empty())
        .ok_or_else(|| Error::BadFromFile { arg: arg.into() })?;
    check_key(key)?;
    Ok(Source::File(key.to_string(), PathBuf::from(path)))
}

/// A Secret key as the API server accepts it: letters, digits, `-`, `_`
/// and `.`, at most 253 characters.
pub(crate) fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::BadSecretKey { key: key.into() })
    }
}

/// Reads every source but the prompts (which the command asks for itself)
/// into `values`. Stdin may be read once.
pub(crate) fn read_sources(sources: &[Source], values: &mut NewValues) -> Result<()> {
    let stdin_keys: Vec<&String> = sources
        .iter()
        .filter_map(|s| match s {
            Source::Stdin(k) => Some(k),
            _ => None,
        })
        .collect();
    if stdin_keys.len() > 1 {
        return Err(Error::StdinTwice);
    }
    for source in sources {
        match source {
            Source::Prompt(_) => {}
            Source::Stdin(key) => values.insert(key, read_stdin(key)?)?,
            Source::File(key, path) => values.insert(key, read_file(path)?)?,
            Source::EnvFile(path) => {
                let text = String::from_utf8(read_file(path)?).map_err(|_| Error::CannotRead {
                    what: "env file",
                    path: path.clone(),
                    reason: "it is not UTF-8 text".into(),
                })?;
                for (key, value) in parse_env_file(path, &text)? {
                    values.insert(&key, value.into_bytes())?;
                }
            }
        }
    }
    Ok(())
}

/// Stdin up to its end, less one trailing newline (what `echo` adds);
/// `None` when that leaves nothing.
pub(crate) fn stdin_value() -> Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| Error::StdinUnreadable {
            reason: e.to_string(),
        })?;
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    Ok(Some(bytes).filter(|b| !b.is_empty()))
}

/// A key's value from stdin. An empty stdin is nearly always a mistake
/// upstream (`</dev/null`, a command in the pipe that failed), and an empty
/// key breaks its consumers at their next restart.
fn read_stdin(key: &str) -> Result<Vec<u8>> {
    stdin_value()?.ok_or_else(|| Error::EmptyStdin { key: key.into() })
}

/// A value file, byte for byte (kubectl's `--from-file`).
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::CannotRead {
        what: "the file",
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// kubectl's `--from-env-file` format: `KEY=VALUE` lines, the value taken
/// literally (quotes included); blank lines and `#` comments skipped. A
/// line with no `=` would take its value from the environment in kubectl;
/// that is refused here, as a value from nowhere the plan can name.
pub(crate) fn parse_env_file(path: &Path, text: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |reason: String| Error::BadFile {
            path: path.to_path_buf(),
            line: i + 1,
            column: 1,
            reason,
        };
        let (key, value) = line.split_once('=').ok_or_else(|| {
            at("expected KEY=VALUE (a bare name would read the environment)".into())
        })?;
        // `KEY = value` is refused, as kubectl refuses it: read loosely, the
        // value would start with a space nobody sees.
        check_key(key).map_err(|e| at(e.to_string()))?;
        out.push((key.to_string(), value.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_on_the_command_line_is_refused_without_repeating_it() {
        assert_eq!(
            parse_set("API_KEY").unwrap(),
            Source::Prompt("API_KEY".into())
        );
        assert_eq!(
            parse_set("API_KEY=-").unwrap(),
            Source::Stdin("API_KEY".into())
        );
        let e = parse_set("API_KEY=hunter2").unwrap_err().to_string();
        assert!(e.contains("shell history"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        assert!(parse_set("bad key").is_err());
    }

    #[test]
    fn env_files_read_as_kubectl_reads_them() {
        let text = "\u{feff}# comment\n\nA=1\n  B= \"two\"\nC=x=y\n";
        let pairs = parse_env_file(Path::new("f.env"), text).unwrap();
        assert_eq!(
            pairs,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), " \"two\"".into()),
                ("C".into(), "x=y".into())
            ]
        );
        let e = parse_env_file(Path::new("f.env"), "A=1\nBARE\n").unwrap_err();
        assert!(e.to_string().starts_with("f.env:2:1:"), "{e}");
        let e = parse_env_file(Path::new("f.env"), "A=1\nB = 2\n").unwrap_err();
        assert!(e.to_string().starts_with("f.env:2:1:"), "{e}");
        assert!(e.to_string().contains("`B `"), "{e}");
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        let mut v = NewValues::default();
        v.insert("A", b"1".to_vec()).unwrap();
        assert!(v.insert("A", b"2".to_vec()).is_err());
    }
}
