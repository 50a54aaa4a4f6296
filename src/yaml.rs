//! YAML reading with errors that point at a line and column.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::Error;

/// Parses `text` (read from `path`) into `T`; a failure names the file, line and column,
/// and the key whose value did not fit.
pub(crate) fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, Error> {
    let mut key = String::new();
    serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            key = e.path().to_string();
            e.into_inner()
        })
    })
    .map_err(|e| bad_file_at(path, &e, &key))
}

/// The error for a YAML problem, as `file:line:column: reason`.
pub(crate) fn bad_file(path: &Path, err: &serde_saphyr::Error) -> Error {
    bad_file_at(path, err, "")
}

/// As [`bad_file`], naming `key` (a dotted path such as `clusters.prod.terminate`)
/// when the problem is the value found there.
fn bad_file_at(path: &Path, err: &serde_saphyr::Error, key: &str) -> Error {
    let (line, column) = err
        .location()
        .map(|l| (l.line() as usize, l.column() as usize))
        .unwrap_or((0, 0));
    Error::BadFile {
        path: path.to_path_buf(),
        line,
        column,
        reason: reason(err, key),
    }
}

/// One plain sentence for a YAML problem. The parser's own wording is kept
/// where it is already plain; what it words for programmers (its resource
/// budget, its duplicate-key policy, "expected sequence start") is rewritten.
fn reason(err: &serde_saphyr::Error, key: &str) -> String {
    use serde_saphyr::Error as E;
    let mut inner = err;
    while let E::WithSnippet { error, .. } | E::AliasError { error, .. } = inner {
        inner = error;
    }
    match inner {
        E::Budget { breach, .. } => return too_large(breach),
        E::DuplicateMappingKey { key: Some(k), .. } => {
            return format!("duplicate key `{k}`: each key may appear once");
        }
        E::DuplicateMappingKey { key: None, .. } => {
            return "duplicate key: each key may appear once".into();
        }
        _ => {}
    }
    let text = err.to_string();
    let first = text.lines().next().unwrap_or_default();
    let stripped = first.strip_prefix("error: ").unwrap_or(first);
    let plain = match stripped.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest,
        _ => stripped,
    };
    let plain = match plain.split_once(" at line ") {
        Some((before, _)) => before,
        None => plain,
    };
    let wanted = match plain {
        "expected sequence start" => Some("a list"),
        "expected mapping start" => Some("a mapping of keys to values"),
        _ => None,
    };
    // An unknown key's path ends in that key, which the message names already.
    let key = match plain.starts_with("unknown field") {
        true => key.rsplit_once('.').map_or("", |(parent, _)| parent),
        false => key,
    };
    match (key, wanted) {
        ("" | ".", Some(what)) => format!("expected {what} here"),
        ("" | ".", None) => plain.to_string(),
        (key, Some(what)) => format!("`{key}` must be {what}"),
        (key, None) if plain.starts_with("unknown field") || plain.starts_with("missing field") => {
            format!("{plain} in `{key}`")
        }
        (key, None) => format!("`{key}`: {plain}"),
    }
}

/// The parser's resource budget, which stops alias bombs and runaway files.
fn too_large(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    match breach {
        B::Nodes { nodes } => format!("the file is too large (over {} nodes)", nodes - 1),
        B::Depth { depth } => format!("the file is nested too deeply (over {} levels)", depth - 1),
        B::Aliases { aliases } => format!("the file uses too many aliases (over {})", aliases - 1),
        B::Documents { documents } => {
            format!("the file has too many documents (over {})", documents - 1)
        }
        _ => "the file is too large to read; split it or remove repeated aliases".into(),
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

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Nested {
        clusters: std::collections::BTreeMap<String, Cluster>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cluster {
        terminate: Option<Vec<String>>,
    }

    fn reason_of<T: DeserializeOwned + std::fmt::Debug>(text: &str) -> String {
        parse::<T>(Path::new("f.yaml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn an_alias_bomb_says_the_file_is_too_large() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (n, prev) in ["b", "c", "d", "e", "f", "g"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f"])
        {
            bomb += &format!("{n}: &{n} [{}]\n", vec![format!("*{prev}"); 10].join(", "));
        }
        let e = reason_of::<serde_json::Value>(&bomb);
        assert!(
            e.ends_with(": the file is too large (over 250000 nodes)"),
            "{e}"
        );
        assert!(!e.contains("budget"), "{e}");
    }

    #[test]
    fn a_wrong_shape_names_the_key() {
        let e = reason_of::<Nested>("clusters:\n  prod:\n    terminate: 5\n");
        assert_eq!(e, "f.yaml:3:16: `clusters.prod.terminate` must be a list");
    }

    #[test]
    fn an_unknown_nested_key_names_where_it_is() {
        let e = reason_of::<Nested>("clusters:\n  prod:\n    terminat: [a]\n");
        assert!(e.starts_with("f.yaml:3:5: unknown field `terminat`"), "{e}");
        assert!(e.ends_with(" in `clusters.prod`"), "{e}");
    }

    #[test]
    fn a_duplicate_key_is_named_without_the_library_api() {
        let e = reason_of::<Nested>("clusters:\n  prod: {}\n  prod: {}\n");
        assert_eq!(
            e,
            "f.yaml:3:3: duplicate key `prod`: each key may appear once"
        );
        assert!(!e.contains("DuplicateKeyPolicy"), "{e}");
    }
}
