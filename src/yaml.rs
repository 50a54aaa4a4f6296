//! YAML reading with errors that point at a line and column.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::Error;

/// Parses `text` (read from `path`) into `T`; a failure names the file, line and column.
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, Error> {
    serde_saphyr::from_str(text).map_err(|e| bad_file(path, &e))
}

/// The error for a YAML problem, as `file:line:column: reason`.
pub fn bad_file(path: &Path, err: &serde_saphyr::Error) -> Error {
    let (line, column) = err
        .location()
        .map(|l| (l.line() as usize, l.column() as usize))
        .unwrap_or((0, 0));
    Error::BadFile {
        path: path.to_path_buf(),
        line,
        column,
        reason: reason(err),
    }
}

/// serde-saphyr's message without its "error: line N column M:" prefix and
/// source snippet, which our own `file:line:column:` prefix replaces.
fn reason(err: &serde_saphyr::Error) -> String {
    let text = err.to_string();
    let first = text.lines().next().unwrap_or_default();
    let stripped = first.strip_prefix("error: ").unwrap_or(first);
    match stripped.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest.to_string(),
        _ => stripped.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
    }

    #[test]
    fn error_has_line_column_and_plain_reason() {
        let err = parse::<Sample>(Path::new("x.yaml"), "name: a\nbogus: 1\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("x.yaml:2:1: unknown field `bogus`"),
            "{err}"
        );
        assert!(!err.to_string().contains('\n'), "one line: {err}");
        let Error::BadFile {
            line,
            column,
            reason,
            ..
        } = err
        else {
            panic!()
        };
        assert_eq!((line, column), (2, 1));
        assert!(reason.starts_with("unknown field `bogus`"), "{reason}");
    }
}
