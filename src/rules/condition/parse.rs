//! The one parser: a condition written as JSON (TOML is turned into JSON first, so both go
//! through the same code and give the same tree), with the path of every mistake.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{
    ConditionError, DAYS, Node, Pattern, PropOp, PropTest, ScoreBounds, Window, index, join,
};
use crate::domain::{Scene, TagName, TouchKey};

/// Every key that names a condition, in the order the error messages list them.
const HEADS: [&str; 15] = [
    "all",
    "any",
    "none",
    "tag",
    "tag_prefix",
    "channel",
    "first_channel",
    "subscribed",
    "first_seen_within_days",
    "last_seen_within_days",
    "inactive_days",
    "score",
    "field",
    "count",
    "event",
];

/// How deep combinators may nest, so evaluating a condition never runs out of stack.
const MAX_DEPTH: usize = 32;

/// The largest compiled `regex` in a `where`, so a condition's cost stays bounded.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The same value as JSON: tables become objects, dates their TOML text.
pub(super) fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

fn fail<T>(path: &str, message: impl Into<String>) -> Result<T, ConditionError> {
    Err(ConditionError {
        path: path.to_owned(),
        message: message.into(),
    })
}

/// A condition at `path`: a tag name or a table.
pub(super) fn node(value: &Value, path: &str) -> Result<Node, ConditionError> {
    element(value, path, 0)
}

/// A condition at `path`, `depth` combinators down.
fn element(value: &Value, path: &str, depth: usize) -> Result<Node, ConditionError> {
    if depth > MAX_DEPTH {
        return fail(
            path,
            format!("nested more than {MAX_DEPTH} deep; flatten it"),
        );
    }
    match value {
        Value::String(_) => tag(value, path).map(Node::Tag),
        Value::Object(table) => self::table(table, path, depth),
        _ => fail(
            path,
            "must be a tag name or a table such as { tag = \"兴趣:PLC\" }",
        ),
    }
}

fn table(table: &Map<String, Value>, path: &str, depth: usize) -> Result<Node, ConditionError> {
    let mut heads = HEADS.iter().filter(|h| table.contains_key(**h));
    let Some(&head) = heads.next() else {
        let message = format!("a condition is one of {}", HEADS.join(", "));
        return match table.keys().next() {
            Some(key) => fail(
                &join(path, key),
                format!("unknown field `{key}`; {message}"),
            ),
            None => fail(path, format!("empty condition; {message}")),
        };
    };
    if let Some(other) = heads.next() {
        let message = format!(
            "`{other}` cannot share a table with `{head}`; put each in its own table inside \
             all = [...]"
        );
        return fail(&join(path, other), message);
    }
    let extras: &[&str] = match head {
        "field" => &["exists"],
        "count" => &["at_least", "at_most", "within_days"],
        "event" => &["at_least", "at_most", "within_days", "where"],
        _ => &[],
    };
    if let Some(key) = table
        .keys()
        .find(|k| k.as_str() != head && !extras.contains(&k.as_str()))
    {
        let message = if extras.is_empty() {
            format!("unknown field `{key}`; a `{head}` condition takes no other field")
        } else {
            format!(
                "unknown field `{key}`; a `{head}` condition also takes {}",
                extras.join(", ")
            )
        };
        return fail(&join(path, key), message);
    }
    let at = |key: &str| join(path, key);
    // `head` was found among the table's keys just above.
    let value = &table[head];
    Ok(match head {
        "all" => Node::All(children(value, &at(head), depth)?),
        "any" => Node::Any(children(value, &at(head), depth)?),
        "none" => Node::None(children(value, &at(head), depth)?),
        "tag" => Node::Tag(tag(value, &at(head))?),
        "tag_prefix" => Node::TagPrefix(tag_prefix(value, &at(head))?),
        "channel" => Node::Channel(scene(value, &at(head))?),
        "first_channel" => Node::FirstChannel(scene(value, &at(head))?),
        "subscribed" => Node::Subscribed(boolean(value, &at(head))?),
        "first_seen_within_days" => Node::FirstSeenWithin(days(value, &at(head))?),
        "last_seen_within_days" => Node::LastSeenWithin(days(value, &at(head))?),
        "inactive_days" => Node::Inactive(days(value, &at(head))?),
        "score" => Node::Score(score(value, &at(head))?),
        "field" => Node::Field {
            name: field_name(value, &at(head))?,
            exists: match table.get("exists") {
                Some(v) => boolean(v, &at("exists"))?,
                None => true,
            },
        },
        "count" => {
            let keys = touch_keys(value, &at(head))?;
            Node::Count(window(table, keys, path)?)
        }
        _ => event(value, table, path)?,
    })
}

fn children(value: &Value, path: &str, depth: usize) -> Result<Vec<Node>, ConditionError> {
    let example = ("condition", "\"兴趣:PLC\"");
    each(value, path, example, |item, at| {
        element(item, at, depth + 1)
    })
}

/// Each item of a non-empty list (`what` and an example of one say what it holds), parsed
/// by `parse` at its path.
fn each<T>(
    value: &Value,
    path: &str,
    (what, example): (&str, &str),
    parse: impl Fn(&Value, &str) -> Result<T, ConditionError>,
) -> Result<Vec<T>, ConditionError> {
    match value {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| parse(item, &index(path, i)))
            .collect(),
        Value::Array(_) => fail(path, format!("is empty; give at least one {what}")),
        _ => fail(path, format!("must be a list of {what}s, e.g. [{example}]")),
    }
}

fn string<'v>(value: &'v Value, path: &str, what: &str) -> Result<&'v str, ConditionError> {
    match value {
        Value::String(s) => Ok(s),
        _ => fail(path, format!("must be {what}")),
    }
}

fn tag(value: &Value, path: &str) -> Result<TagName, ConditionError> {
    let s = string(value, path, "a tag name, e.g. \"兴趣:PLC\"")?;
    TagName::parse(s).or_else(|e| fail(path, format!("{e}")))
}

fn tag_prefix(value: &Value, path: &str) -> Result<String, ConditionError> {
    let s = string(value, path, "a tag prefix, e.g. \"兴趣:\"")?;
    if s.is_empty() || s.chars().count() > TagName::MAX_CHARS || s.chars().any(char::is_control) {
        return fail(
            path,
            format!(
                "must be 1 to {} characters without control characters",
                TagName::MAX_CHARS
            ),
        );
    }
    Ok(s.to_owned())
}

fn scene(value: &Value, path: &str) -> Result<Scene, ConditionError> {
    match value {
        Value::String(s) => Scene::parse(s).or_else(|e| fail(path, format!("{e}"))),
        Value::Number(n) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(id) => Ok(Scene::from_id(id)),
            None => fail(
                path,
                "a numeric scene must be a whole number, 1 to 4294967295",
            ),
        },
        _ => fail(path, "must be a channel's scene, e.g. \"expo-2026\""),
    }
}

fn boolean(value: &Value, path: &str) -> Result<bool, ConditionError> {
    value
        .as_bool()
        .map_or_else(|| fail(path, "must be true or false"), Ok)
}

fn days(value: &Value, path: &str) -> Result<u32, ConditionError> {
    match value.as_u64().and_then(|d| u32::try_from(d).ok()) {
        Some(d) if DAYS.contains(&d) => Ok(d),
        _ => fail(path, format!("must be {}..={}", DAYS.start(), DAYS.end())),
    }
}

fn number(value: &Value, path: &str) -> Result<f64, ConditionError> {
    value
        .as_f64()
        .map_or_else(|| fail(path, "must be a number"), Ok)
}

fn whole(value: &Value, path: &str) -> Result<u64, ConditionError> {
    value
        .as_u64()
        .map_or_else(|| fail(path, "must be a whole number, 0 or more"), Ok)
}

fn score(value: &Value, path: &str) -> Result<ScoreBounds, ConditionError> {
    let Value::Object(table) = value else {
        return fail(path, "must be a table, e.g. { at_least = 60 }");
    };
    if let Some(key) = table
        .keys()
        .find(|k| !matches!(k.as_str(), "at_least" | "at_most"))
    {
        let message = format!("unknown field `{key}`; a score takes at_least and at_most");
        return fail(&join(path, key), message);
    }
    let bound = |key: &str| {
        table
            .get(key)
            .map(|v| number(v, &join(path, key)))
            .transpose()
    };
    let bounds = ScoreBounds {
        at_least: bound("at_least")?,
        at_most: bound("at_most")?,
    };
    if bounds.at_least.is_none() && bounds.at_most.is_none() {
        return fail(
            path,
            "give at_least, at_most or both, e.g. { at_least = 60 }",
        );
    }
    Ok(bounds)
}

fn field_name(value: &Value, path: &str) -> Result<String, ConditionError> {
    let s = string(value, path, "a profile field's name, e.g. \"company\"")?;
    if s.trim().is_empty() || s.len() > 64 || s.chars().any(char::is_control) {
        return fail(path, "must be a field name of 1 to 64 bytes");
    }
    Ok(s.to_owned())
}

/// The touch keys of a `count`, each once (a repeat would count its touches twice).
fn touch_keys(value: &Value, path: &str) -> Result<Vec<TouchKey>, ConditionError> {
    let example = ("touch key", "\"click:MENU_PLC\"");
    let keys = each(value, path, example, |item, at| {
        let s = string(item, at, "a touch key, e.g. \"click:MENU_PLC\"")?;
        TouchKey::parse(s).or_else(|e| fail(at, format!("{e}")))
    })?;
    let mut seen = HashMap::new();
    for (i, key) in keys.iter().enumerate() {
        if let Some(first) = seen.insert(key, i) {
            let message = format!(
                "`{key}` is listed twice (first at {}); list each touch key once",
                index(path, first)
            );
            return fail(&index(path, i), message);
        }
    }
    Ok(keys)
}

/// `at_least`, `at_most` and `within_days` of a `count` or `event` table.
fn window(
    table: &Map<String, Value>,
    keys: Vec<TouchKey>,
    path: &str,
) -> Result<Window, ConditionError> {
    let bound = |key: &str| {
        table
            .get(key)
            .map(|v| whole(v, &join(path, key)))
            .transpose()
    };
    let at_most = bound("at_most")?;
    let at_least = bound("at_least")?.unwrap_or(if at_most.is_some() { 0 } else { 1 });
    let days = match table.get("within_days") {
        Some(v) => days(v, &join(path, "within_days"))?,
        None => {
            let message = format!(
                "missing: the window to count in, {}..={} days, e.g. within_days = 30",
                DAYS.start(),
                DAYS.end()
            );
            return fail(&join(path, "within_days"), message);
        }
    };
    Ok(Window {
        keys,
        at_least,
        at_most,
        days,
    })
}

fn event(value: &Value, table: &Map<String, Value>, path: &str) -> Result<Node, ConditionError> {
    let at = join(path, "event");
    let name = string(value, &at, "an event name, e.g. \"order\"")?;
    let key = TouchKey::parse(&format!("event:{name}")).or_else(|e| fail(&at, format!("{e}")))?;
    let window = window(table, vec![key], path)?;
    let filter = match table.get("where") {
        Some(value) => props(value, &join(path, "where"))?,
        None => Vec::new(),
    };
    Ok(Node::Event {
        name: name.to_owned(),
        window,
        filter,
    })
}

/// `where = { prop = { op = value, … }, … }`.
pub(super) fn props(value: &Value, path: &str) -> Result<Vec<PropTest>, ConditionError> {
    let Value::Object(table) = value else {
        return fail(
            path,
            "must be a table, e.g. { amount = { at_least = 1000 } }",
        );
    };
    if table.is_empty() {
        return fail(path, "is empty; name at least one property");
    }
    let mut tests = Vec::new();
    for (prop, ops) in table {
        let at = join(path, prop);
        let Value::Object(ops) = ops else {
            return fail(
                &at,
                "must be a table of operators, e.g. { at_least = 1000 }",
            );
        };
        if ops.is_empty() {
            return fail(&at, format!("is empty; use one of {}", OPS.join(", ")));
        }
        for (op, arg) in ops {
            tests.push(PropTest {
                prop: prop.clone(),
                op: prop_op(op, arg, &join(&at, op))?,
            });
        }
    }
    Ok(tests)
}

/// The property operators, as written.
const OPS: [&str; 7] = [
    "equals", "contains", "regex", "in", "at_least", "at_most", "exists",
];

fn prop_op(op: &str, arg: &Value, path: &str) -> Result<PropOp, ConditionError> {
    Ok(match op {
        "equals" | "contains" => {
            if !matches!(arg, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                return fail(path, "must be a text, a number or true/false");
            }
            if op == "equals" {
                PropOp::Equals(arg.clone())
            } else {
                PropOp::Contains(arg.clone())
            }
        }
        "regex" => {
            let text = string(arg, path, "a regular expression")?;
            let regex = regex::RegexBuilder::new(text)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .or_else(|e| fail(path, format!("not a valid regex: {}", one_line(&e))))?;
            PropOp::Regex(Pattern(regex))
        }
        "in" => match arg {
            Value::Array(items) if !items.is_empty() => PropOp::In(items.clone()),
            _ => return fail(path, "must be a non-empty list of values"),
        },
        "at_least" => PropOp::AtLeast(number(arg, path)?),
        "at_most" => PropOp::AtMost(number(arg, path)?),
        "exists" => PropOp::Exists(boolean(arg, path)?),
        _ => {
            let message = format!("unknown operator `{op}`; use one of {}", OPS.join(", "));
            return fail(path, message);
        }
    })
}

fn one_line(e: &regex::Error) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
