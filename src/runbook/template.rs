//! minijinja templating for step arguments, `when` and `assert`.
//!
//! Values are only ever placed into single arguments (argv elements, fields
//! of cluster actions, environment variables). A `sh:` script is never
//! templated: it reads parameters from its environment, so no value can
//! become shell syntax however it is quoted.

use std::collections::HashSet;

use minijinja::{Environment, UndefinedBehavior, Value};

/// Names the templating offers besides the parameters.
pub(crate) const BUILTIN_VARS: &[&str] = &[
    "params",
    "steps",
    "context",
    "namespace",
    "cluster",
    "run_id",
    "environments",
];

/// minijinja's global functions, which `undeclared_variables` reports too.
const GLOBAL_FUNCTIONS: &[&str] = &[
    "range",
    "dict",
    "namespace",
    "debug",
    "lipsum",
    "cycler",
    "joiner",
];

/// The environment variable a shell step reads a parameter from.
pub(crate) fn param_env_var(name: &str) -> String {
    format!("ONCALL_PARAM_{name}")
}

pub(crate) fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// Template syntax inside a text: where it starts and the whole tag.
pub(crate) fn find_tag(text: &str) -> Option<(usize, &str)> {
    let start = ["{{", "{%", "{#"]
        .iter()
        .filter_map(|t| text.find(t))
        .min()?;
    let close = match &text[start..start + 2] {
        "{{" => "}}",
        "{%" => "%}",
        _ => "#}",
    };
    let end = text[start..]
        .find(close)
        .map(|e| start + e + 2)
        .unwrap_or(text.len());
    Some((start, &text[start..end]))
}

/// A template problem found without running it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    Syntax(String),
    UnknownName(String),
    UnknownStep(String),
    LaterStep(String),
}

/// What a template may refer to at a given step.
pub(crate) struct Scope<'a> {
    pub params: &'a [String],
    pub earlier_steps: &'a [String],
    pub all_steps: &'a [String],
}

fn check_names(names: HashSet<String>, scope: &Scope) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut names: Vec<_> = names.into_iter().collect();
    names.sort();
    for name in names {
        let mut parts = name.split('.');
        let head = parts.next().unwrap_or_default();
        let second = parts.next();
        if head == "params" {
            if let Some(p) = second
                && !scope.params.iter().any(|x| x == p)
            {
                problems.push(Problem::UnknownName(p.to_string()));
            }
        } else if head == "steps" {
            if let Some(s) = second
                && !scope.earlier_steps.iter().any(|x| x == s)
            {
                problems.push(if scope.all_steps.iter().any(|x| x == s) {
                    Problem::LaterStep(s.to_string())
                } else {
                    Problem::UnknownStep(s.to_string())
                });
            }
        } else if !BUILTIN_VARS.contains(&head)
            && !GLOBAL_FUNCTIONS.contains(&head)
            && !scope.params.iter().any(|x| x == head)
        {
            problems.push(Problem::UnknownName(head.to_string()));
        }
    }
    problems
}

/// Checks a template string (`{{ ... }}` inside text).
pub(crate) fn check_template(source: &str, scope: &Scope) -> Vec<Problem> {
    let env = env();
    match env.template_from_str(source) {
        Ok(t) => check_names(t.undeclared_variables(true), scope),
        Err(e) => vec![Problem::Syntax(describe(&e))],
    }
}

/// Checks an expression (`when`, `assert.that`).
pub(crate) fn check_expression(source: &str, scope: &Scope) -> Vec<Problem> {
    let env = env();
    match env.compile_expression(source) {
        Ok(e) => check_names(e.undeclared_variables(true), scope),
        Err(e) => vec![Problem::Syntax(describe(&e))],
    }
}

/// minijinja's message without its "(in template:line)" decoration.
pub(crate) fn describe(e: &minijinja::Error) -> String {
    e.detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string())
}

pub(crate) fn render(env: &Environment, source: &str, ctx: &Value) -> Result<String, String> {
    env.render_str(source, ctx).map_err(|e| {
        let paths = env
            .template_from_str(source)
            .map(|t| t.undeclared_variables(true))
            .unwrap_or_default();
        explain(&e, paths, ctx)
    })
}

pub(crate) fn eval(source: &str, ctx: &Value) -> Result<bool, String> {
    let env = env();
    let expr = env.compile_expression(source).map_err(|e| describe(&e))?;
    expr.eval(ctx).map(|v| v.is_true()).map_err(|e| {
        let paths = expr.undeclared_variables(true);
        explain(&e, paths, ctx)
    })
}

/// minijinja says only "undefined value": name the first name, or the
/// first part of a dotted path (`steps.check.json`), that has no value.
fn explain(e: &minijinja::Error, paths: HashSet<String>, ctx: &Value) -> String {
    let message = describe(e);
    if e.kind() != minijinja::ErrorKind::UndefinedError {
        return message;
    }
    let mut paths: Vec<String> = paths.into_iter().collect();
    paths.sort();
    for path in paths {
        let mut value = ctx.clone();
        let mut walked = Vec::new();
        for part in path.split('.') {
            walked.push(part);
            let next = value.get_attr(part).unwrap_or(Value::UNDEFINED);
            if next.is_undefined() {
                let name = walked.join(".");
                let hint = match walked.as_slice() {
                    ["steps", id, "json"] => {
                        format!(" (step `{id}` printed no JSON, or has not run)")
                    }
                    ["steps", id, ..] if walked.len() > 2 => {
                        format!(" (step `{id}` has not run, or its output has no such field)")
                    }
                    _ => String::new(),
                };
                return format!("`{name}` is undefined{hint}");
            }
            value = next;
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> (Vec<String>, Vec<String>) {
        (vec!["node".into()], vec!["check".into()])
    }

    #[test]
    fn unknown_names_are_found() {
        let (p, s) = scope();
        let all = vec!["check".into(), "later".into()];
        let scope = Scope {
            params: &p,
            earlier_steps: &s,
            all_steps: &all,
        };
        assert!(
            check_template(
                "{{ node }} {{ params.node }} {{ steps.check.output }}",
                &scope
            )
            .is_empty()
        );
        assert_eq!(
            check_template("{{ nod }}", &scope),
            vec![Problem::UnknownName("nod".into())]
        );
        assert_eq!(
            check_template("{{ params.x }}", &scope),
            vec![Problem::UnknownName("x".into())]
        );
        assert_eq!(
            check_template("{{ steps.later.output }}", &scope),
            vec![Problem::LaterStep("later".into())]
        );
        assert!(matches!(
            check_template("{{ node ", &scope)[0],
            Problem::Syntax(_)
        ));
        assert!(matches!(
            check_expression("node ==", &scope)[0],
            Problem::Syntax(_)
        ));
    }

    #[test]
    fn an_undefined_value_is_named() {
        let ctx = minijinja::context! { steps => minijinja::context! { first => minijinja::context! { output => "x" } } };
        let e = eval("steps.first.json.pods > 5", &ctx).unwrap_err();
        assert!(e.starts_with("`steps.first.json` is undefined"), "{e}");
        let e = eval("nodes == 1", &ctx).unwrap_err();
        assert_eq!(e, "`nodes` is undefined");
    }

    #[test]
    fn tags_are_found() {
        assert_eq!(find_tag("echo \"{{ v }}\" x"), Some((6, "{{ v }}")));
        assert_eq!(find_tag("a {% if x %}"), Some((2, "{% if x %}")));
        assert_eq!(find_tag("echo $x"), None);
    }
}
