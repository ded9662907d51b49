//! The built-in pack of signature detections, embedded in the binary.

use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

use crate::signature::{Spec, SpecError};

/// `packs/cloudtrail.yaml`: the well-known attacker techniques on AWS.
pub const CLOUDTRAIL_PACK: &str = include_str!("../packs/cloudtrail.yaml");

/// The built-in detections, in pack order.
pub fn builtin() -> Vec<Spec> {
    // The pack is checked by a test; a broken one is a build defect.
    parse_pack(CLOUDTRAIL_PACK).unwrap_or_else(|e| panic!("built-in detection pack: {e:?}"))
}

/// Reads a YAML list of detections, each validated.
pub fn parse_pack(text: &str) -> Result<Vec<Spec>, Vec<(usize, SpecError)>> {
    let value = yaml_to_json(text).map_err(|e| {
        vec![(
            0,
            SpecError {
                field: String::new(),
                message: e,
            },
        )]
    })?;
    let Value::Array(items) = value else {
        return Err(vec![(
            0,
            SpecError {
                field: String::new(),
                message: "a pack is a list of detections".into(),
            },
        )]);
    };
    let mut specs = Vec::new();
    let mut problems = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match Spec::from_value(item) {
            Ok(s) => specs.push(s),
            Err(es) => problems.extend(es.into_iter().map(|e| (i, e))),
        }
    }
    if problems.is_empty() {
        Ok(specs)
    } else {
        Err(problems)
    }
}

/// YAML text as a JSON value (the first document).
pub fn yaml_to_json(text: &str) -> Result<Value, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    Ok(docs.first().map(convert).unwrap_or(Value::Null))
}

fn convert(y: &Yaml) -> Value {
    match y {
        Yaml::Real(s) => s
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(s.clone())),
        Yaml::Integer(i) => Value::Number((*i).into()),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(items) => Value::Array(items.iter().map(convert).collect()),
        Yaml::Hash(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    Yaml::String(s) | Yaml::Real(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    _ => continue,
                };
                out.insert(key, convert(v));
            }
            Value::Object(out)
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_pack_is_valid_and_ids_are_unique() {
        let specs = parse_pack(CLOUDTRAIL_PACK).expect("pack parses");
        assert!(specs.len() >= 20, "{}", specs.len());
        let mut ids: Vec<&str> = specs.iter().map(|s| s.id.as_str()).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate ids");
        for s in &specs {
            assert!(
                crate::signature::spec::is_technique_id(&s.technique.id),
                "{}",
                s.id
            );
            assert!(
                !s.false_positives.is_empty(),
                "{} names no false positives",
                s.id
            );
        }
    }
}
