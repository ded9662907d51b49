//! Refusals of events that could never be stored or acted on, made at
//! ingest so that the client is told which event is wrong (a 4xx) instead
//! of the store failing later for the whole batch.

use rectify_model::Event;
use serde_json::Value;

use crate::envelope::kind;
use crate::{IngestError, Limits};

const SECURITY_HUB_IMPORTED: &str = "Security Hub Findings - Imported";

/// Where the first NUL character in `v` is (a string value, or a key),
/// as a path like `detail.findings[0].Title`. PostgreSQL refuses NUL in
/// `text` and `jsonb`.
pub(crate) fn nul_at(v: &Value) -> Option<String> {
    fn walk(v: &Value, path: &mut String) -> bool {
        match v {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            Value::Object(map) => map.iter().any(|(k, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                if k.contains('\0') {
                    path.push_str("(a key)");
                    return true;
                }
                path.push_str(k);
                let found = walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = String::new();
    walk(v, &mut path).then(|| {
        if path.is_empty() {
            "(the event)".to_string()
        } else {
            path
        }
    })
}

/// The event's `id` as received, when it is a string.
pub(crate) fn event_id(v: &Value) -> Option<&str> {
    v.get("id").and_then(Value::as_str)
}

/// Checks what the store and the engine need of an event: an id within
/// bounds and, for a Security Hub event, at most `max_findings_per_event`
/// findings, each an object with a non-empty `Id` and `ProductArn` string
/// within bounds.
pub(crate) fn event(event: &Event, limits: &Limits) -> Result<(), IngestError> {
    if event.id.len() > limits.max_id_bytes {
        return Err(IngestError::unstorable(
            Some(&shorten(&event.id)),
            format!(
                "the event id is {} bytes; the limit is {}",
                event.id.len(),
                limits.max_id_bytes
            ),
        ));
    }
    let from_security_hub =
        event.detail_type == SECURITY_HUB_IMPORTED || event.source == "aws.securityhub";
    if !from_security_hub {
        return Ok(());
    }
    let Some(Value::Array(findings)) = event.body.get("detail").and_then(|d| d.get("findings"))
    else {
        return Ok(());
    };
    let split = [
        SECURITY_HUB_IMPORTED,
        rectify_model::SECURITY_HUB_CUSTOM_ACTION,
        rectify_model::SECURITY_HUB_IMPORTED_V2,
    ]
    .contains(&event.detail_type.as_str());
    if split && findings.len() > limits.max_findings_per_event {
        return Err(IngestError::TooManyFindings {
            index: 0,
            findings: findings.len(),
            limit: limits.max_findings_per_event,
        });
    }
    for (i, finding) in findings.iter().enumerate() {
        let refuse = |reason: String| {
            let id = finding
                .get("Id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            IngestError::unstorable(
                Some(&shorten(id.unwrap_or(&event.id))),
                format!("finding {i}: {reason}"),
            )
        };
        if !finding.is_object() {
            return Err(refuse(format!(
                "expected an ASFF finding (an object), found {}",
                kind(finding)
            )));
        }
        // OCSF findings (Findings Imported V2) have no ASFF Id or ProductArn.
        if event.detail_type == rectify_model::SECURITY_HUB_IMPORTED_V2 {
            continue;
        }
        for field in ["Id", "ProductArn"] {
            match finding.get(field) {
                None => return Err(refuse(format!("`{field}` is missing"))),
                Some(Value::String(s)) if s.is_empty() => {
                    return Err(refuse(format!("`{field}` is empty")))
                }
                Some(Value::String(s)) if s.len() > limits.max_id_bytes => {
                    return Err(refuse(format!(
                        "`{field}` is {} bytes; the limit is {}",
                        s.len(),
                        limits.max_id_bytes
                    )))
                }
                Some(Value::String(_)) => {}
                Some(other) => {
                    return Err(refuse(format!(
                        "`{field}` must be a string, found {}",
                        kind(other)
                    )))
                }
            }
        }
    }
    Ok(())
}

/// An id short enough to quote in an error message.
pub(crate) fn shorten(id: &str) -> String {
    const QUOTED: usize = 128;
    match id.char_indices().nth(QUOTED) {
        Some((at, _)) => format!("{}...", &id[..at]),
        None => id.to_string(),
    }
}
