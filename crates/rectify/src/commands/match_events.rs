//! `rectify match`: the pattern engine alone, with grep's exit codes.

use std::io::Read;
use std::path::{Path, PathBuf};

use event_pattern::{MatcherBuilder, Pattern};
use serde_json::{json, Value};

pub fn run(
    pattern: Option<&Path>,
    rules: Option<&Path>,
    events: &[PathBuf],
    json: bool,
) -> anyhow::Result<u8> {
    let (ids, matcher) = match load_matcher(pattern, rules) {
        Ok(m) => m,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(2);
        }
    };
    let inputs: Vec<(String, Vec<u8>)> = if events.is_empty() {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        vec![("<stdin>".into(), buf)]
    } else {
        let mut inputs = Vec::new();
        for path in events {
            match std::fs::read(path) {
                Ok(bytes) => inputs.push((path.display().to_string(), bytes)),
                Err(e) => {
                    eprintln!("error: {}: {e}", path.display());
                    return Ok(2);
                }
            }
        }
        inputs
    };
    let mut any = false;
    let mut out = Vec::new();
    for (name, bytes) in &inputs {
        let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
        let mut index = 0;
        loop {
            let event = match stream.next() {
                None => break,
                Some(Ok(v)) => v,
                Some(Err(e)) => {
                    eprintln!(
                        "error: {name}: event {}: invalid JSON at byte {}: {}",
                        index + 1,
                        offset_of(bytes, e.line(), e.column()),
                        e.to_string()
                            .rsplit_once(" at line ")
                            .map_or(e.to_string(), |(m, _)| m.to_string())
                    );
                    return Ok(2);
                }
            };
            index += 1;
            // As routing sees it: a Security Hub finding without a
            // consolidated control id gets the one derived from its standard.
            let matched: Vec<&str> = matcher
                .matches(&rectify_model::routing_view(&event))
                .into_iter()
                .map(|i| ids[i].as_str())
                .collect();
            any |= !matched.is_empty();
            if json {
                out.push(json!({"input": name, "event": index, "id": event.get("id"), "matched": matched}).to_string());
            } else {
                let list = if matched.is_empty() {
                    "(none)".to_string()
                } else {
                    matched.join(", ")
                };
                out.push(format!("{name}:{index}: {list}"));
            }
        }
    }
    for line in out {
        println!("{line}");
    }
    Ok(if any { 0 } else { 1 })
}

fn load_matcher(
    pattern: Option<&Path>,
    rules: Option<&Path>,
) -> Result<(Vec<String>, event_pattern::Matcher), String> {
    let mut builder = MatcherBuilder::new();
    let mut ids = Vec::new();
    if let Some(path) = pattern {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let p = Pattern::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        builder.add(0, &p);
        ids.push(
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "pattern".into()),
        );
    } else if let Some(path) = rules {
        let loaded = rectify_config::Loader::new()
            .load_rules_file(path)
            .map_err(|diagnostics| {
                diagnostics
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        let mut problems = Vec::new();
        for (i, rule) in loaded.iter().enumerate() {
            match Pattern::from_value(&rule.rule.pattern) {
                Ok(p) => builder.add(i, &p),
                Err(e) => problems.push(format!(
                    "{}:{}:{}: rule {}: pattern: {e}",
                    rule.source.file.display(),
                    rule.source.line,
                    rule.source.column,
                    rule.rule.id
                )),
            }
            ids.push(rule.rule.id.clone());
        }
        if !problems.is_empty() {
            return Err(problems.join("\n"));
        }
    }
    Ok((ids, builder.build()))
}

/// Byte offset of a 1-based line/column within `bytes`.
fn offset_of(bytes: &[u8], line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        if i + 1 == line {
            return offset + column.saturating_sub(1).min(l.len());
        }
        offset += l.len();
    }
    offset
}
