//! What a step's arguments may look like, in one place.
//!
//! Arguments reach an action as JSON after template rendering, so every
//! scalar arrives as text (`"true"`, `"30"`, `"5m"`), and runbooks rely on a
//! single value where a list is accepted. The types here read that
//! leniently, and each says what kind of field it is, so that the validator
//! and `oncall runbook actions` learn an action's fields from its `Args`
//! struct alone.

use std::time::Duration;

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};

use crate::lenient::{Scalar, text as scalar_text};

/// One field of an action's mapping.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Field {
    pub name: &'static str,
    pub required: bool,
    pub kind: FieldKind,
    /// What the engine does with the field's text before the action sees it.
    #[serde(skip)]
    pub render: Render,
    pub help: &'static str,
    /// Reads a value given as written (no template in it), for the
    /// validator: what is wrong with it, if anything.
    #[serde(skip)]
    pub check: fn(name: &str, value: &serde_json::Value) -> Option<String>,
}

/// Whether `T` can read a value; the reason when it cannot.
fn check_as<T: serde::de::DeserializeOwned>(
    _name: &str,
    value: &serde_json::Value,
) -> Option<String> {
    serde_json::from_value::<T>(value.clone())
        .err()
        .map(|e| e.to_string())
}

/// One drain option alone (the others take their defaults).
fn check_drain_option(name: &str, value: &serde_json::Value) -> Option<String> {
    check_as::<crate::nodes::decide::DrainOptions>(name, &serde_json::json!({ name: value }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FieldKind {
    /// One scalar (string, number or boolean), templated.
    Scalar,
    /// A list of scalars (a single scalar is taken as a list of one).
    List,
}

impl FieldKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            FieldKind::Scalar => "scalar",
            FieldKind::List => "list",
        }
    }
}

/// How the engine treats a field's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Render {
    /// A template, filled in before the action runs.
    Template,
    /// An expression the action evaluates itself (`assert`'s `that`).
    Expression,
    /// Shell code: never templated (a value pasted in could become code).
    Script,
    /// A command: one string is split into words as a shell would before
    /// values are filled in, so that a value stays one argument.
    Words,
}

/// What a field's type says about it.
pub(crate) trait Arg {
    const KIND: FieldKind;
    const REQUIRED: bool = true;
    const RENDER: Render = Render::Template;
}

/// An optional field: absent, or its type's value.
impl<T: Arg> Arg for Option<T> {
    const KIND: FieldKind = T::KIND;
    const REQUIRED: bool = false;
    const RENDER: Render = T::RENDER;
}

impl Field {
    pub(crate) fn of<T: Arg + serde::de::DeserializeOwned>(
        name: &'static str,
        help: &'static str,
    ) -> Field {
        Field {
            // `r#type` is serde's (and the runbook's) `type`.
            name: name.trim_start_matches("r#"),
            required: T::REQUIRED,
            kind: T::KIND,
            render: T::RENDER,
            // The house style of help: no full stop, as in `--help`.
            help: help.trim().trim_end_matches('.'),
            check: check_as::<T>,
        }
    }
}

/// An action's arguments: the fields a step may give.
pub(crate) trait Fields {
    fn fields() -> Vec<Field>;
}

/// Declares an action's arguments once: the struct serde reads (unknown
/// fields refused), and its field list with each field's `///` help. A
/// trailing `..name: Type` flattens in another `Fields` type (the drain
/// options).
macro_rules! args {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( #[doc = $help:literal] $field:ident : $ty:ty, )*
            $( ..$flat:ident : $fty:ty )?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $name {
            $( pub(crate) $field: $ty, )*
            $( #[serde(flatten)] pub(crate) $flat: $fty, )?
        }

        impl $crate::runbook::actions::args::Fields for $name {
            fn fields() -> Vec<$crate::runbook::actions::args::Field> {
                #[allow(unused_mut)]
                let mut out = vec![
                    $( $crate::runbook::actions::args::Field::of::<$ty>(stringify!($field), $help), )*
                ];
                $( out.extend(<$fty as $crate::runbook::actions::args::Fields>::fields()); )?
                out
            }
        }
    };
}
pub(crate) use args;

/// kubectl drain's options, as `DrainOptions` names and reads them.
impl Fields for crate::nodes::decide::DrainOptions {
    fn fields() -> Vec<Field> {
        Self::FIELDS
            .iter()
            .map(|(name, help)| Field {
                name,
                required: false,
                kind: FieldKind::Scalar,
                render: Render::Template,
                help,
                check: check_drain_option,
            })
            .collect()
    }
}

/// Text (a number or boolean is taken as written).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Text(pub String);

impl Arg for Text {
    const KIND: FieldKind = FieldKind::Scalar;
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar_text(d).map(Text)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// A list of scalars; one scalar is a list of one, nothing an empty list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct List(pub Vec<String>);

impl Arg for List {
    const KIND: FieldKind = FieldKind::List;
}

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            Many(Vec<Option<Scalar>>),
            One(Option<Scalar>),
        }
        let text = |s: Option<Scalar>| s.map(Scalar::text).unwrap_or_default();
        Ok(List(match OneOrMany::deserialize(d)? {
            OneOrMany::Many(items) => items.into_iter().map(text).collect(),
            OneOrMany::One(None) => Vec::new(),
            OneOrMany::One(one) => vec![text(one)],
        }))
    }
}

/// The list's items, or none when the field is absent.
pub(crate) fn list(l: &Option<List>) -> &[String] {
    l.as_ref().map(|l| l.0.as_slice()).unwrap_or_default()
}

/// A command to run: an argv list, or one string split into words as a
/// shell would (before any value is filled in).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub(crate) struct Words(pub List);

impl Arg for Words {
    const KIND: FieldKind = FieldKind::List;
    const RENDER: Render = Render::Words;
}

/// A boolean, or the text a template made of one (`true`, `True`, `yes`,
/// `no`, or nothing for false).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flag(pub bool);

impl Arg for Flag {
    const KIND: FieldKind = FieldKind::Scalar;
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = scalar_text(d)?;
        match text.trim().to_lowercase().as_str() {
            "true" | "yes" => Ok(Flag(true)),
            "false" | "no" | "" => Ok(Flag(false)),
            t => Err(D::Error::custom(format!(
                "must be true or false, not `{t}`"
            ))),
        }
    }
}

/// Whether an optional flag is set.
pub(crate) fn on(f: Option<Flag>) -> bool {
    f.is_some_and(|f| f.0)
}

/// A duration such as `10m`; `0` is zero, nothing is the action's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Dur(pub Option<Duration>);

impl Arg for Dur {
    const KIND: FieldKind = FieldKind::Scalar;
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = scalar_text(d)?;
        match text.trim() {
            "" => Ok(Dur(None)),
            "0" => Ok(Dur(Some(Duration::ZERO))),
            t => humantime::parse_duration(t)
                .map(|d| Dur(Some(d)))
                .map_err(|e| D::Error::custom(format!("is not a duration like 30s or 5m ({e})"))),
        }
    }
}

/// An optional duration, or `default` when absent or empty.
pub(crate) fn dur(d: Option<Dur>, default: Duration) -> Duration {
    d.and_then(|d| d.0).unwrap_or(default)
}

/// A whole number; nothing is the action's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Whole(pub Option<i64>);

impl Arg for Whole {
    const KIND: FieldKind = FieldKind::Scalar;
}

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = scalar_text(d)?;
        match text.trim() {
            "" => Ok(Whole(None)),
            t => t
                .parse()
                .map(|n| Whole(Some(n)))
                .map_err(|_| D::Error::custom(format!("must be a whole number, not `{text}`"))),
        }
    }
}

/// An optional whole number, or `default` when absent or empty.
pub(crate) fn whole(w: Option<Whole>, default: i64) -> i64 {
    w.and_then(|w| w.0).unwrap_or(default)
}

/// An expression the action evaluates (not a template filled in first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub(crate) struct Expr(pub Text);

impl Arg for Expr {
    const KIND: FieldKind = FieldKind::Scalar;
    const RENDER: Render = Render::Expression;
}

/// Shell code, passed as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub(crate) struct Script(pub Text);

impl Arg for Script {
    const KIND: FieldKind = FieldKind::Scalar;
    const RENDER: Render = Render::Script;
}

/// Reads a step's rendered arguments into `T`; a bad value is named by its
/// field, as `` `force` must be true or false, not `maybe` ``.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    action: &str,
    args: &serde_json::Value,
) -> crate::error::Result<T> {
    serde_path_to_error::deserialize(args).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        crate::error::Error::BadStepArgs {
            action: action.into(),
            field: (path != ".").then_some(path),
            reason: inner,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    args! {
        Example {
            /// Some names.
            names: Option<List>,
            /// One name.
            name: Text,
            /// A keyword name.
            r#type: Option<Text>,
            /// A switch.
            on: Option<Flag>,
            /// How long.
            wait: Option<Dur>,
            ..drain: crate::nodes::decide::DrainOptions
        }
    }

    #[test]
    fn fields_come_from_the_declaration() {
        let fields = Example::fields();
        let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
        assert_eq!(&names[..5], ["names", "name", "type", "on", "wait"]);
        assert!(names.contains(&"ignore_daemonsets"), "{names:?}");
        assert_eq!(fields[0].kind, FieldKind::List);
        assert!(!fields[0].required);
        assert!(fields[1].required);
        assert_eq!(fields[3].help, "A switch");
    }

    #[test]
    fn templated_scalars_are_read_leniently() {
        let e: Example = parse(
            "x",
            &json!({"names": "one", "name": 3, "type": "A", "on": "True", "wait": "5m", "force": "yes"}),
        )
        .unwrap();
        assert_eq!(list(&e.names), ["one"]);
        assert_eq!(&*e.name, "3");
        assert_eq!(e.r#type.as_deref(), Some("A"));
        assert!(on(e.on) && e.drain.force);
        assert_eq!(dur(e.wait, Duration::ZERO), Duration::from_secs(300));
        let e: Example = parse("x", &json!({"name": "n", "on": "", "wait": ""})).unwrap();
        assert!(!on(e.on));
        assert_eq!(dur(e.wait, Duration::from_secs(7)), Duration::from_secs(7));
    }

    #[test]
    fn bad_values_and_unknown_fields_are_named() {
        let e = parse::<Example>("x", &json!({"name": "n", "on": "maybe"})).unwrap_err();
        assert_eq!(e.to_string(), "`on` must be true or false, not `maybe`");
        let e = parse::<Example>("x", &json!({"name": "n", "forc": true})).unwrap_err();
        assert!(e.to_string().contains("unknown field `forc`"), "{e}");
    }
}
