//! minijinja templating for step arguments, `when` and `assert`.
//!
//! Two environments: plain values for argv elements (never run by a shell),
//! and one for `sh:` scripts whose formatter shell-quotes every `{{ value }}`,
//! so a parameter can never become shell syntax.

use std::collections::HashSet;

use minijinja::{Environment, UndefinedBehavior, Value};

/// Names the templating offers besides the parameters.
pub const BUILTIN_VARS: &[&str] = &[
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

pub fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// The environment for `sh:` scripts: every printed value is shell-quoted.
pub fn sh_env() -> Environment<'static> {
    let mut env = env();
    env.set_formatter(|out, _state, value| {
        let text = if value.is_none() || value.is_undefined() {
            String::new()
        } else {
            value.to_string()
        };
        let quoted = shlex::try_quote(&text).map_err(|_| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                "a value holds a NUL byte and cannot be passed to a shell",
            )
        })?;
        out.write_str(&quoted)
            .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
    });
    env
}

/// A template problem found without running it.
#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    Syntax(String),
    UnknownName(String),
    UnknownStep(String),
    LaterStep(String),
}

/// What a template may refer to at a given step.
pub struct Scope<'a> {
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
pub fn check_template(source: &str, scope: &Scope) -> Vec<Problem> {
    let env = env();
    match env.template_from_str(source) {
        Ok(t) => check_names(t.undeclared_variables(true), scope),
        Err(e) => vec![Problem::Syntax(describe(&e))],
    }
}

/// Checks an expression (`when`, `assert.that`).
pub fn check_expression(source: &str, scope: &Scope) -> Vec<Problem> {
    let env = env();
    match env.compile_expression(source) {
        Ok(e) => check_names(e.undeclared_variables(true), scope),
        Err(e) => vec![Problem::Syntax(describe(&e))],
    }
}

/// minijinja's message without its "(in template:line)" decoration.
pub fn describe(e: &minijinja::Error) -> String {
    e.detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string())
}

pub fn render(env: &Environment, source: &str, ctx: &Value) -> Result<String, String> {
    env.render_str(source, ctx).map_err(|e| describe(&e))
}

pub fn eval(source: &str, ctx: &Value) -> Result<bool, String> {
    let env = env();
    let expr = env.compile_expression(source).map_err(|e| describe(&e))?;
    expr.eval(ctx)
        .map(|v| v.is_true())
        .map_err(|e| describe(&e))
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
    fn sh_values_are_quoted() {
        let env = sh_env();
        let ctx = minijinja::context! { x => "a; rm -rf / $(touch y) `z`\nw" };
        let out = render(&env, "echo {{ x }}", &ctx).unwrap();
        assert_eq!(out, "echo 'a; rm -rf / $(touch y) `z`\nw'");
    }
}
