//! Label and field selectors, parsed from query strings the way the API
//! server reads them, and matched against the small index each stored
//! object keeps (so a list never has to parse object JSON to filter).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector: all requirements must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LabelSelector(pub Vec<Req>);

fn split_top_level(s: &str) -> Vec<&str> {
    // Commas inside `in (a,b)` parentheses do not separate requirements.
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn parse_set(rest: &str) -> Result<Vec<String>, String> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesised set, found {rest:?}"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

/// Characters the API server's selector lexer reads as operators or separators.
const SPECIAL: &str = "=!(),<>";

/// A value is one token: `a=b=c` or `a=b c` leaves something after it, which
/// the API server refuses with the token it found.
fn check_value(v: &str) -> Result<(), String> {
    let v = v.trim();
    let end = v
        .find(|c: char| c.is_whitespace() || SPECIAL.contains(c))
        .unwrap_or(v.len());
    let rest = v[end..].trim_start();
    let Some(first) = rest.chars().next() else {
        return Ok(());
    };
    let token = if ["==", "!="].iter().any(|op| rest.starts_with(op)) {
        rest[..2].to_string()
    } else if SPECIAL.contains(first) {
        first.to_string()
    } else {
        rest.split(|c: char| c.is_whitespace() || SPECIAL.contains(c))
            .next()
            .unwrap_or_default()
            .to_string()
    };
    Err(format!("found '{token}', expected: ',' or 'end of string'"))
}

impl LabelSelector {
    /// Parses a selector; an error is the API server's message for it.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        Self::parse_requirements(s).map_err(|e| {
            if e.starts_with("found ") {
                e
            } else {
                format!("unable to parse requirement: {e}")
            }
        })
    }

    fn parse_requirements(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Self::default());
        }
        let mut reqs = Vec::new();
        for part in split_top_level(s) {
            let part = part.trim();
            if part.is_empty() {
                return Err("empty requirement in label selector".into());
            }
            let req = if let Some(k) = part.strip_prefix('!') {
                Req::NotExists(k.trim().to_string())
            } else if let Some((k, v)) = part.split_once("!=") {
                Req::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==") {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once('=') {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                Req::NotIn(k.trim().into(), parse_set(rest)?)
            } else if let Some((k, rest)) = part.split_once(" in ") {
                Req::In(k.trim().into(), parse_set(rest)?)
            } else {
                Req::Exists(part.to_string())
            };
            let key = match &req {
                Req::Eq(k, _)
                | Req::NotEq(k, _)
                | Req::In(k, _)
                | Req::NotIn(k, _)
                | Req::Exists(k)
                | Req::NotExists(k) => k,
            };
            if !valid_key(key) {
                return Err(format!("invalid label key {key:?}"));
            }
            if let Req::Eq(_, v) | Req::NotEq(_, v) = &req {
                check_value(v)?;
            }
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    /// Convert a metav1.LabelSelector object (matchLabels/matchExpressions).
    pub(crate) fn from_object(sel: &Value) -> Self {
        let mut reqs = Vec::new();
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push(Req::Eq(k.clone(), v.as_str().unwrap_or("").to_string()));
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e["key"].as_str().unwrap_or("").to_string();
                let values: Vec<String> = e["values"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                match e["operator"].as_str().unwrap_or("") {
                    "In" => reqs.push(Req::In(key, values)),
                    "NotIn" => reqs.push(Req::NotIn(key, values)),
                    "Exists" => reqs.push(Req::Exists(key)),
                    "DoesNotExist" => reqs.push(Req::NotExists(key)),
                    _ => {}
                }
            }
        }
        Self(reqs)
    }

    pub(crate) fn matches<'a>(&self, labels: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => labels(k) == Some(v.as_str()),
            Req::NotEq(k, v) => labels(k) != Some(v.as_str()),
            Req::In(k, vs) => labels(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Req::NotIn(k, vs) => labels(k).is_none_or(|l| !vs.iter().any(|v| v == l)),
            Req::Exists(k) => labels(k).is_some(),
            Req::NotExists(k) => labels(k).is_none(),
        })
    }

    pub(crate) fn matches_pairs(&self, pairs: &[(String, String)]) -> bool {
        self.matches(|k| {
            pairs
                .iter()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.as_str())
        })
    }
}

/// A field selector: `a=b`, `a==b` and `a!=b` terms joined by commas.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FieldSelector(pub Vec<(String, bool, String)>);

impl FieldSelector {
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, eq, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ));
            };
            out.push((k.trim().to_string(), eq, v.trim().to_string()));
        }
        Ok(Self(out))
    }

    /// Check that every field is one the resource supports, like the API
    /// server does ("field label not supported").
    pub(crate) fn validate(&self, supported: &[&str]) -> Result<(), String> {
        for (k, _, _) in &self.0 {
            if !supported.contains(&k.as_str()) {
                return Err(format!("field label not supported: {k}"));
            }
        }
        Ok(())
    }

    pub(crate) fn matches(&self, fields: &[(&'static str, String)]) -> bool {
        self.0.iter().all(|(k, eq, v)| {
            let actual = fields
                .iter()
                .find(|(fk, _)| *fk == k)
                .map(|(_, fv)| fv.as_str())
                .unwrap_or("");
            (actual == v) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_value_with_an_operator_in_it_is_refused_like_the_api_server() {
        let err = |s: &str| super::LabelSelector::parse(s).unwrap_err();
        assert_eq!(err("a=b=c"), "found '=', expected: ',' or 'end of string'");
        assert_eq!(err("a==b=c"), "found '=', expected: ',' or 'end of string'");
        assert_eq!(err("a=b c"), "found 'c', expected: ',' or 'end of string'");
        assert_eq!(err("a=b("), "found '(', expected: ',' or 'end of string'");
        assert!(err("a$b").starts_with("unable to parse requirement: "));
        assert!(super::LabelSelector::parse("a=b,c!=d").is_ok());
    }

    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn label_selector_operators() {
        let l = pairs(&[("app", "web"), ("tier", "front")]);
        let ok = |s: &str| LabelSelector::parse(s).unwrap().matches_pairs(&l);
        assert!(ok("app=web"));
        assert!(ok("app==web"));
        assert!(!ok("app!=web"));
        assert!(ok("app in (web, api)"));
        assert!(!ok("app notin (web,api)"));
        assert!(ok("env notin (prod)"));
        assert!(ok("tier"));
        assert!(!ok("!tier"));
        assert!(ok("!env"));
        assert!(ok("app=web,tier in (front),!env"));
        assert!(!ok("app=web,env"));
        assert!(ok(""));
    }

    #[test]
    fn label_selector_rejects_garbage() {
        assert!(LabelSelector::parse("app=web,,x").is_err());
        assert!(LabelSelector::parse("a b c").is_err());
        assert!(LabelSelector::parse("app in web").is_err());
    }

    #[test]
    fn label_selector_from_object() {
        let sel = serde_json::json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]
        });
        let s = LabelSelector::from_object(&sel);
        assert!(s.matches_pairs(&pairs(&[("app", "web"), ("tier", "front")])));
        assert!(!s.matches_pairs(&pairs(&[("app", "web")])));
    }

    #[test]
    fn field_selector() {
        let f = FieldSelector::parse("spec.nodeName=n1,status.phase!=Succeeded").unwrap();
        let fields = vec![
            ("spec.nodeName", "n1".to_string()),
            ("status.phase", "Running".to_string()),
        ];
        assert!(f.matches(&fields));
        let fields2 = vec![("spec.nodeName", "n2".to_string())];
        assert!(!f.matches(&fields2));
        assert!(f.validate(&["spec.nodeName"]).is_err());
        assert!(FieldSelector::parse("nonsense").is_err());
        // a field that is absent compares as the empty string
        assert!(FieldSelector::parse("spec.nodeName=").unwrap().matches(&[]));
    }
}
