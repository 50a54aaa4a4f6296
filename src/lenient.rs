//! Values a runbook step gives once its templates are filled in: any scalar
//! may arrive as a boolean, a number or text (`"true"`, `"30"`, `"5m"`). The
//! runbook's argument types and the drain options read them through this
//! one type.

use serde::{Deserialize, Deserializer};

/// A scalar as a step gives it: a boolean, a number or text.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Scalar {
    /// The value as written.
    pub(crate) fn text(self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(n) => n.to_string(),
            Scalar::Float(n) => n.to_string(),
            Scalar::Text(t) => t,
        }
    }
}

/// A scalar's text, `""` for null (as a template renders nothing).
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?
        .map(Scalar::text)
        .unwrap_or_default())
}
