//! Turns a positioned YAML tree into a `Runbook`, collecting every problem
//! with its line and column instead of stopping at the first.

use std::time::Duration;

use serde::Serialize;

use super::actions::{self, Erased, FieldKind, Render};
use super::model::{Param, ParamType, Runbook, Step};
use super::template::{self, Problem, Scope};
use super::tree::{Key, Node, Pos, Value};

/// One problem in a runbook file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Diagnostic {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

const TOP_KEYS: &[&str] = &["name", "summary", "source", "params", "steps"];
const PARAM_KEYS: &[&str] = &[
    "type",
    "description",
    "required",
    "default",
    "pattern",
    "enum",
    "secret",
    "complete",
];
const STEP_KEYS: &[&str] = &[
    "id",
    "title",
    "when",
    "timeout",
    "retries",
    "read_only",
    "idempotent",
];
/// Names templates use for the run itself; the other built-in names
/// (`context`, `namespace`, `cluster`) may be declared as parameters.
const RESERVED: &[&str] = &["params", "steps", "run_id"];
const COMPLETIONS: &[&str] = &["nodes", "workloads", "contexts", "namespaces", "pods"];

#[derive(Default)]
struct Checker<'s> {
    diags: Vec<Diagnostic>,
    /// The file's text, to place problems inside a multi-line string.
    source: &'s str,
}

impl Checker<'_> {
    /// Where `needle` first appears at or after `from` in the file (the
    /// place of a tag inside a string), else `from` itself.
    fn find_after(&self, from: Pos, needle: &str) -> Pos {
        let mut offset = 0;
        for (i, line) in self.source.split_inclusive('\n').enumerate() {
            if i + 1 == from.line {
                offset += line
                    .char_indices()
                    .nth(from.column.saturating_sub(1))
                    .map(|(b, _)| b)
                    .unwrap_or(0);
                break;
            }
            offset += line.len();
        }
        let Some(found) = self.source.get(offset..).and_then(|t| t.find(needle)) else {
            return from;
        };
        let before = &self.source[..offset + found];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        Pos { line, column }
    }

    fn err(&mut self, pos: Pos, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            line: pos.line,
            column: pos.column,
            message: message.into(),
        });
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.scalar_text() {
            Some(s) if !matches!(node.value, Value::Null) => Some(s),
            _ => {
                self.err(
                    node.pos,
                    format!("{what} must be a string, not {}", node.kind()),
                );
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, what: &str) -> bool {
        match node.value {
            Value::Bool(b) => b,
            _ => {
                self.err(
                    node.pos,
                    format!("{what} must be true or false, not {}", node.kind()),
                );
                false
            }
        }
    }

    fn problems(&mut self, pos: Pos, what: &str, problems: Vec<Problem>) {
        for p in problems {
            let msg = match p {
                Problem::Syntax(m) => format!("bad template in {what}: {m}"),
                Problem::UnknownName(n) => {
                    format!("unknown parameter `{n}` in {what}; declare it under `params`")
                }
                Problem::UnknownStep(s) => format!("unknown step `{s}` in {what}"),
                Problem::LaterStep(s) => {
                    format!("{what} uses the output of step `{s}`, which runs later")
                }
            };
            self.err(pos, msg);
        }
    }
}

fn entries(node: &Node) -> &[(Key, Node)] {
    match &node.value {
        Value::Map(e) => e,
        _ => &[],
    }
}

fn get<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    entries(node)
        .iter()
        .find(|(k, _)| k.name == key)
        .map(|(_, v)| v)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Validates a parsed document. Returns the runbook, or every problem found.
pub(crate) fn validate(root: &Node, source: &str) -> Result<Runbook, Vec<Diagnostic>> {
    let mut c = Checker {
        diags: Vec::new(),
        source,
    };
    if !matches!(root.value, Value::Map(_)) {
        c.err(
            root.pos,
            format!(
                "a runbook is a mapping with `name`, `summary` and `steps`, not {}",
                root.kind()
            ),
        );
        return Err(c.diags);
    }
    let mut seen = Vec::<&str>::new();
    for (k, _) in entries(root) {
        if !TOP_KEYS.contains(&k.name.as_str()) {
            c.err(
                k.pos,
                format!(
                    "unknown field `{}`; expected one of {}",
                    k.name,
                    quoted(TOP_KEYS)
                ),
            );
        }
        if seen.contains(&k.name.as_str()) {
            c.err(k.pos, format!("duplicate field `{}`", k.name));
        }
        seen.push(&k.name);
    }
    let name = required_string(&mut c, root, "name", "the runbook");
    if let (Some(n), Some(node)) = (&name, get(root, "name"))
        && let Some(problem) = bad_name(n)
    {
        c.err(node.pos, problem);
    }
    let summary = required_string(&mut c, root, "summary", "the runbook");
    let source = get(root, "source")
        .and_then(|n| c.string(n, "`source`"))
        .unwrap_or_default();
    let params = get(root, "params")
        .map(|n| params(&mut c, n))
        .unwrap_or_default();
    let param_names: Vec<String> = params.iter().map(|p| p.name.clone()).collect();
    let steps = match get(root, "steps") {
        None => {
            c.err(root.pos, "missing required field `steps`");
            Vec::new()
        }
        Some(n) => steps(&mut c, n, &param_names),
    };
    if c.diags.is_empty() {
        Ok(Runbook {
            name: name.unwrap_or_default(),
            summary: summary.unwrap_or_default(),
            source,
            params,
            steps,
        })
    } else {
        c.diags.sort_by_key(|d| (d.line, d.column));
        Err(c.diags)
    }
}

/// A runbook's name names its journals and is typed on command lines:
/// no path separators, control characters or leading dot or dash.
fn bad_name(name: &str) -> Option<String> {
    let shown: String = name.escape_default().collect();
    if name.trim().is_empty() {
        Some("the runbook's `name` is empty".into())
    } else if name.contains(['/', '\\']) {
        Some(format!(
            "the runbook's name `{shown}` contains a path separator; use letters, digits, `-` and `_`"
        ))
    } else if name.chars().any(char::is_control) {
        Some(format!(
            "the runbook's name `{shown}` contains a control character; use letters, digits, `-` and `_`"
        ))
    } else if name.starts_with(['.', '-']) {
        Some(format!(
            "the runbook's name `{shown}` starts with `{}`; start it with a letter or digit",
            &name[..1]
        ))
    } else {
        None
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn required_string(c: &mut Checker<'_>, map: &Node, key: &str, what: &str) -> Option<String> {
    match get(map, key) {
        Some(n) => c.string(n, &format!("`{key}`")),
        None => {
            c.err(map.pos, format!("missing required field `{key}` in {what}"));
            None
        }
    }
}

fn params(c: &mut Checker<'_>, node: &Node) -> Vec<Param> {
    let Value::Map(list) = &node.value else {
        c.err(
            node.pos,
            format!(
                "`params` must be a mapping of parameter names, not {}",
                node.kind()
            ),
        );
        return Vec::new();
    };
    let mut out: Vec<Param> = Vec::new();
    for (key, def) in list {
        check_param_name(c, key, &out);
        out.push(param(c, key, def));
    }
    out
}

/// A parameter's name: an identifier, not taken, not reserved.
fn check_param_name(c: &mut Checker<'_>, key: &Key, earlier: &[Param]) {
    if !is_identifier(&key.name) {
        c.err(
            key.pos,
            format!(
                "parameter name `{}` must be letters, digits and underscores",
                key.name
            ),
        );
    }
    if earlier.iter().any(|p| p.name == key.name) {
        c.err(key.pos, format!("duplicate parameter `{}`", key.name));
    }
    if RESERVED.contains(&key.name.as_str()) {
        c.err(
            key.pos,
            format!(
                "`{}` is a reserved name; choose another parameter name",
                key.name
            ),
        );
    }
}

/// One parameter's definition: its fields, then the checks of its default.
fn param(c: &mut Checker<'_>, key: &Key, def: &Node) -> Param {
    let mut p = Param::named(key.name.clone());
    let mut required = None;
    let mut default_pos = def.pos;
    match &def.value {
        Value::Null => {}
        Value::Map(fields) => {
            for (k, v) in fields {
                param_field(c, &mut p, k, v, &mut required, &mut default_pos);
            }
        }
        _ => c.err(
            def.pos,
            format!(
                "parameter `{}` must be a mapping, not {}",
                key.name,
                def.kind()
            ),
        ),
    }
    p.required = required.unwrap_or(p.default.is_none());
    check_default(c, &p, def.pos, default_pos);
    if p.complete.is_none() {
        p.complete = match p.ty {
            ParamType::Node => Some("nodes".into()),
            ParamType::Workload => Some("workloads".into()),
            ParamType::Context => Some("contexts".into()),
            _ => None,
        };
    }
    p
}

/// One field of a parameter's definition, into `p`.
fn param_field(
    c: &mut Checker<'_>,
    p: &mut Param,
    k: &Key,
    v: &Node,
    required: &mut Option<bool>,
    default_pos: &mut Pos,
) {
    match k.name.as_str() {
        "type" => {
            let t = c.string(v, "`type`").unwrap_or_default();
            match ParamType::ALL.iter().find(|(n, _)| *n == t) {
                Some((_, ty)) => p.ty = *ty,
                None => c.err(
                    v.pos,
                    format!(
                        "unknown parameter type `{t}`; expected one of {}",
                        quoted(&ParamType::ALL.map(|(n, _)| n))
                    ),
                ),
            }
        }
        "description" => p.description = c.string(v, "`description`").unwrap_or_default(),
        "required" => *required = Some(c.boolean(v, "`required`")),
        "default" => {
            p.default = c.string(v, "`default`");
            *default_pos = v.pos;
        }
        "pattern" => {
            if let Some(re) = c.string(v, "`pattern`") {
                if let Err(e) = regex::Regex::new(&re) {
                    c.err(
                        v.pos,
                        format!(
                            "bad pattern: {}",
                            e.to_string().lines().last().unwrap_or_default()
                        ),
                    );
                }
                p.pattern = Some(re);
            }
        }
        "enum" => match &v.value {
            Value::Seq(items) => {
                for i in items {
                    if let Some(s) = c.string(i, "an `enum` value") {
                        p.choices.push(s);
                    }
                }
            }
            _ => c.err(v.pos, format!("`enum` must be a list, not {}", v.kind())),
        },
        "secret" => p.secret = c.boolean(v, "`secret`"),
        "complete" => {
            let s = c.string(v, "`complete`").unwrap_or_default();
            if !COMPLETIONS.contains(&s.as_str()) {
                c.err(
                    v.pos,
                    format!(
                        "unknown completion source `{s}`; expected one of {}",
                        quoted(COMPLETIONS)
                    ),
                );
            }
            p.complete = Some(s);
        }
        other => c.err(
            k.pos,
            format!(
                "unknown field `{other}` in parameter `{}`; expected one of {}",
                p.name,
                quoted(PARAM_KEYS)
            ),
        ),
    }
}

/// A default must be one of the `enum` values, and one `run` would take: a
/// problem now, not at 3 a.m.
fn check_default(c: &mut Checker<'_>, p: &Param, def_pos: Pos, default_pos: Pos) {
    let Some(d) = &p.default else {
        return;
    };
    if !p.choices.is_empty() && !p.choices.contains(d) {
        c.err(
            def_pos,
            format!(
                "the default `{d}` of `{}` is not one of its `enum` values",
                p.name
            ),
        );
    }
    let mut typed = p.clone();
    typed.choices.clear();
    if let Err(e) = super::engine::parse_param(&typed, d) {
        let why = e.to_string();
        let why = why
            .strip_prefix(&format!("parameter `{}`: ", p.name))
            .unwrap_or(&why);
        c.err(
            default_pos,
            format!("the default of parameter `{}` is wrong: {why}", p.name),
        );
    }
}

fn steps(c: &mut Checker<'_>, node: &Node, params: &[String]) -> Vec<Step> {
    let Value::Seq(items) = &node.value else {
        c.err(
            node.pos,
            format!("`steps` must be a list, not {}", node.kind()),
        );
        return Vec::new();
    };
    if items.is_empty() {
        c.err(
            node.pos,
            "`steps` is empty; a runbook needs at least one step",
        );
    }
    // Every id first, so a reference to a later step is named as such.
    let all_ids: Vec<String> = items
        .iter()
        .filter_map(|s| get(s, "id").and_then(Node::as_str).map(str::to_string))
        .collect();
    let mut ids: Vec<(String, Pos)> = Vec::new();
    let mut out = Vec::new();
    for item in items {
        let earlier: Vec<String> = ids.iter().map(|(i, _)| i.clone()).collect();
        let scope = Scope {
            params,
            earlier_steps: &earlier,
            all_steps: &all_ids,
        };
        if let Some(step) = step(c, item, &scope, &mut ids) {
            out.push(step);
        }
    }
    out
}

fn step(
    c: &mut Checker<'_>,
    item: &Node,
    scope: &Scope,
    ids: &mut Vec<(String, Pos)>,
) -> Option<Step> {
    if !matches!(item.value, Value::Map(_)) {
        c.err(
            item.pos,
            format!(
                "a step must be a mapping with `id`, `title` and one action, not {}",
                item.kind()
            ),
        );
        return None;
    }
    let id = match get(item, "id") {
        Some(n) => {
            let id = c.string(n, "`id`");
            if let Some(id) = &id {
                if !is_identifier(id) {
                    c.err(n.pos, format!("step id `{id}` must be letters, digits and underscores (templates refer to it as `steps.{id}`)"));
                }
                if let Some((_, first)) = ids.iter().find(|(i, _)| i == id) {
                    c.err(
                        n.pos,
                        format!(
                            "duplicate step id `{id}` (first used at line {})",
                            first.line
                        ),
                    );
                } else {
                    ids.push((id.clone(), n.pos));
                }
            }
            id
        }
        None => {
            c.err(item.pos, "missing required field `id` in a step");
            None
        }
    };
    let label = id
        .as_deref()
        .map(|i| format!("step `{i}`"))
        .unwrap_or_else(|| "a step".into());
    let title = required_string(c, item, "title", &label);
    let mut action: Option<(&Key, &Node, &'static dyn Erased)> = None;
    let mut named_in_a_field = false;
    let mut when = None;
    let mut timeout = None;
    let mut retries = 0;
    let mut read_only = None;
    let mut idempotent = None;
    for (k, v) in entries(item) {
        match k.name.as_str() {
            "id" | "title" => {}
            "when" => {
                if let Some(expr) = c.string(v, "`when`") {
                    let problems = template::check_expression(&expr, scope);
                    c.problems(v.pos, "`when`", problems);
                    when = Some(expr);
                }
            }
            "timeout" => {
                if let Some(t) = c.string(v, "`timeout`") {
                    match humantime::parse_duration(&t) {
                        Ok(d) if d > Duration::ZERO => timeout = Some(d),
                        _ => c.err(
                            v.pos,
                            format!("bad `timeout` `{t}`; use a duration like 30s, 5m or 1h"),
                        ),
                    }
                }
            }
            "retries" => match v.value {
                Value::Int(n) if (0..=100).contains(&n) => retries = n as u32,
                _ => c.err(v.pos, "`retries` must be a whole number from 0 to 100"),
            },
            "read_only" => read_only = Some((c.boolean(v, "`read_only`"), v.pos)),
            "idempotent" => idempotent = Some(c.boolean(v, "`idempotent`")),
            name => match actions::find(name) {
                Some(spec) => {
                    if let Some((first, _, _)) = action {
                        c.err(k.pos, format!("{label} has two actions, `{}` and `{name}`; a step has exactly one", first.name));
                    } else {
                        action = Some((k, v, spec));
                    }
                }
                // Other runbook formats name the action in a field.
                None if name == "action" => {
                    named_in_a_field = true;
                    let guess = match &v.value {
                        Value::Str(s) => {
                            actions::find(&s.replace(['.', '-'], "_")).map(|a| a.spec().name)
                        }
                        _ => None,
                    };
                    c.err(
                        k.pos,
                        format!(
                            "{label} names its action in a field `action`; a step names it as a key instead: write `{}:` with the action's arguments under it",
                            guess.unwrap_or("ACTION")
                        ),
                    )
                }
                None => {
                    let mut known = actions::names();
                    known.extend_from_slice(STEP_KEYS);
                    let hint = match closest(name, &known) {
                        Some(k) => format!("did you mean `{k}`?"),
                        None => format!(
                            "actions are {}; fields are {}",
                            quoted(&actions::names()),
                            quoted(STEP_KEYS)
                        ),
                    };
                    c.err(
                        k.pos,
                        format!("unknown action or field `{name}` in {label}; {hint}"),
                    )
                }
            },
        }
    }
    let Some((_, value, implementation)) = action else {
        if !named_in_a_field {
            c.err(
                item.pos,
                format!(
                    "{label} has no action; give it one of {}",
                    quoted(&actions::names())
                ),
            );
        }
        return None;
    };
    let spec = implementation.spec();
    let args = action_args(c, implementation, value, scope);
    let mutating = mutating(c, spec, read_only);
    Some(Step {
        id: id?,
        title: title?,
        action: spec.name.to_string(),
        args: args?,
        when,
        timeout,
        retries,
        mutating,
        idempotent: idempotent.unwrap_or(spec.idempotent || !mutating),
    })
}

/// Whether a step changes anything: its action's word, or the step's own
/// `read_only` for the actions whose effect the runbook declares.
fn mutating(c: &mut Checker<'_>, spec: &actions::Spec, read_only: Option<(bool, Pos)>) -> bool {
    let Some((ro, pos)) = read_only else {
        return spec.mutating;
    };
    if spec.declared {
        return !ro;
    }
    if ro == spec.mutating {
        let declared: Vec<&str> = actions::ACTIONS
            .iter()
            .map(|a| a.spec())
            .filter(|s| s.declared)
            .map(|s| s.name)
            .collect();
        c.err(
            pos,
            format!(
                "`read_only` applies to {} steps; `{}` always {}",
                quoted(&declared).replace(", ", " and "),
                spec.name,
                if spec.mutating {
                    "changes things"
                } else {
                    "only reads"
                }
            ),
        );
    }
    spec.mutating
}

/// Checks an action's value and returns its arguments as JSON.
fn action_args(
    c: &mut Checker<'_>,
    action: &dyn Erased,
    value: &Node,
    scope: &Scope,
) -> Option<serde_json::Value> {
    let spec = action.spec();
    let fields = action.fields();
    // Short forms: `shell: [argv]`, `manual: text`, `assert: expression`.
    let shorthand = match (spec.short, &value.value) {
        (Some(short), Value::Seq(_)) if short.list => Some(short.field),
        (Some(short), Value::Str(_)) if !short.list => Some(short.field),
        _ => None,
    };
    let given: Vec<(Key, Node)> = match (shorthand, &value.value) {
        (Some(f), _) => vec![(
            Key {
                pos: value.pos,
                name: f.to_string(),
            },
            value.clone(),
        )],
        (None, Value::Map(e)) => e.clone(),
        (None, Value::Null) => Vec::new(),
        (None, _) => {
            c.err(
                value.pos,
                format!(
                    "`{}` takes a mapping, not {}{}",
                    spec.name,
                    value.kind(),
                    spec.shape_hint
                ),
            );
            return None;
        }
    };
    let before = c.diags.len();
    let mut out = serde_json::Map::new();
    for (k, v) in &given {
        let Some(field) = fields.iter().find(|f| f.name == k.name) else {
            unknown_field(c, spec.name, &fields, k);
            continue;
        };
        if field.render == Render::Script {
            script_without_templates(c, v, scope);
        } else {
            let before = c.diags.len();
            field_value(c, spec.name, field, v, scope);
            let value = v.to_json();
            // A value written out (no template) is read now, as the run
            // would read it: `force: maybe` is a problem today, not at 3 a.m.
            if c.diags.len() == before
                && !has_template(&value)
                && let Some(why) = (field.check)(field.name, &value)
            {
                c.err(v.pos, format!("`{}` of `{}` {why}", field.name, spec.name));
            }
        }
        out.insert(k.name.clone(), v.to_json());
    }
    for f in fields.iter().filter(|f| f.required) {
        if !out.contains_key(f.name) && !given.iter().any(|(k, _)| k.name == f.name) {
            c.err(
                value.pos,
                format!(
                    "missing required field `{}` for action `{}`",
                    f.name, spec.name
                ),
            );
        }
    }
    if let Some(problem) = action.check(&out) {
        c.err(value.pos, problem);
    }
    (c.diags.len() == before).then_some(serde_json::Value::Object(out))
}

/// Whether a value holds a template tag anywhere (its text is known only
/// when the run renders it).
fn has_template(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => template::find_tag(s).is_some(),
        serde_json::Value::Array(items) => items.iter().any(has_template),
        _ => false,
    }
}

/// A field the action does not take: the nearest one it does, and all of them.
fn unknown_field(c: &mut Checker<'_>, action: &str, fields: &[actions::Field], k: &Key) {
    let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
    let hint = match closest(&k.name, &names) {
        Some(near) => format!("did you mean `{near}`? `{action}` takes "),
        None => "expected one of ".to_string(),
    };
    c.err(
        k.pos,
        format!(
            "unknown field `{}` for action `{action}`; {hint}{}",
            k.name,
            quoted(&names)
        ),
    );
}

/// One field's value: its shape (a single value or a list), and the
/// templates in it.
fn field_value(c: &mut Checker<'_>, action: &str, field: &actions::Field, v: &Node, scope: &Scope) {
    let check = |c: &mut Checker<'_>, n: &Node| {
        if let Value::Str(s) = &n.value {
            let problems = if field.render == Render::Expression {
                template::check_expression(s, scope)
            } else {
                template::check_template(s, scope)
            };
            c.problems(n.pos, &format!("`{action}.{}`", field.name), problems);
        }
    };
    match (&v.value, field.kind) {
        (Value::Seq(_) | Value::Map(_), FieldKind::Scalar) | (Value::Null, _) => {
            c.err(
                v.pos,
                format!(
                    "`{}` of `{action}` must be a single value, not {}",
                    field.name,
                    v.kind()
                ),
            );
        }
        (Value::Map(_), FieldKind::List) => {
            c.err(
                v.pos,
                format!(
                    "`{}` of `{action}` must be a list, not {}",
                    field.name,
                    v.kind()
                ),
            );
        }
        (Value::Seq(items), FieldKind::List) => {
            for i in items {
                if matches!(i.value, Value::Seq(_) | Value::Map(_) | Value::Null) {
                    c.err(
                        i.pos,
                        format!(
                            "items of `{}` must be single values, not {}",
                            field.name,
                            i.kind()
                        ),
                    );
                }
                check(c, i);
            }
            if items.is_empty() && field.required {
                c.err(
                    v.pos,
                    format!("`{}` of `{action}` must not be empty", field.name),
                );
            }
        }
        _ => check(c, v),
    }
}

/// A `sh:` script is shell code: a value pasted into it could become code
/// whatever the quoting, so it takes no template tags. Parameters reach it
/// through the environment.
fn script_without_templates(c: &mut Checker<'_>, v: &Node, scope: &Scope) {
    let Value::Str(script) = &v.value else {
        c.err(
            v.pos,
            format!(
                "`sh` of `shell` must be a script (a string), not {}",
                v.kind()
            ),
        );
        return;
    };
    let mut rest = script.as_str();
    let mut from = v.pos;
    while let Some((at, tag)) = template::find_tag(rest) {
        let pos = c.find_after(from, tag);
        let inner = tag
            .trim_start_matches(['{', '%', '#'])
            .trim_end_matches(['}', '%', '#'])
            .trim();
        let param = inner.strip_prefix("params.").unwrap_or(inner);
        let instead = if scope.params.iter().any(|p| p == param) {
            format!(
                "read the parameter from the environment instead: \"${}\" (oncall sets it for the script)",
                template::param_env_var(param)
            )
        } else {
            format!(
                "pass the value in the environment instead, with `env: [\"NAME={tag}\"]`, and read \"$NAME\""
            )
        };
        c.err(
            pos,
            format!("`{tag}` inside `sh:` would paste a value into shell code; {instead}"),
        );
        from = Pos {
            line: pos.line,
            column: pos.column + 1,
        };
        rest = &rest[at + tag.len().max(1)..];
    }
}

/// The known name nearest to a misspelling, if it is close enough.
fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    known
        .iter()
        .map(|k| (distance(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}
