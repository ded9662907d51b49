//! The checks of an action's params shared by every catalog: what the
//! default [`crate::Action::validate_params`] and the actions' own params
//! parsers use, so that every action words its refusals alike.

use serde_json::{Map, Value};

/// The params object; `null` counts as `{}`.
pub fn params_object(params: &Value) -> Result<Map<String, Value>, String> {
    match params {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => Ok(map.clone()),
        other => Err(format!(
            "params: expected an object, got {}",
            kind_of(other)
        )),
    }
}

/// The params check of an action that takes none: `{}` or `null`.
pub fn no_params(params: &Value, action: &str) -> Result<(), String> {
    reject_unknown(&params_object(params)?, &[], action)
}

/// Rejects keys not in `known`, naming the first one.
pub fn reject_unknown(
    params: &Map<String, Value>,
    known: &[&str],
    action: &str,
) -> Result<(), String> {
    for key in params.keys() {
        if !known.contains(&key.as_str()) {
            return Err(if known.is_empty() {
                format!("params.{key}: {action} takes no params")
            } else {
                format!(
                    "params.{key}: unknown param of {action} (known: {})",
                    known.join(", ")
                )
            });
        }
    }
    Ok(())
}

/// How a refusal names the kind of a JSON value: "a string", "an array".
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
