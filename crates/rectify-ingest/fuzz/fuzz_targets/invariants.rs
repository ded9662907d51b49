//! What every answer of `parse_body` must satisfy; shared by the fuzz
//! target and the stable replay of its corpus (`tests/fuzz_corpus.rs`).

use rectify_ingest::{IngestError, Limits};
use serde_json::Value;

/// Panics when an accepted body holds something the store would refuse
/// or more than the limits allow, or when a refusal says nothing.
pub fn check(result: &Result<Vec<rectify_model::Event>, IngestError>, limits: &Limits) {
    let events = match result {
        Ok(events) => events,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    assert!(events.len() <= limits.max_events);
    for event in events {
        // The split adds `#<index>` to the id as received.
        assert!(event.id.len() <= limits.max_id_bytes + 8, "{}", event.id);
        assert!(!has_nul(&event.body), "NUL accepted in {}", event.id);
        let findings = event.body.get("detail").and_then(|d| d.get("findings"));
        // OCSF findings (Findings Imported V2) carry no ASFF Id or ProductArn.
        if event.source == "aws.securityhub" && event.detail_type != "Findings Imported V2" {
            if let Some(Value::Array(findings)) = findings {
                for f in findings {
                    for field in ["Id", "ProductArn"] {
                        let s = f.get(field).and_then(Value::as_str).unwrap_or_default();
                        assert!(!s.is_empty() && s.len() <= limits.max_id_bytes, "{field}");
                    }
                }
            }
        }
        if [
            "Security Hub Findings - Imported",
            "Security Hub Findings - Custom Action",
            "Findings Imported V2",
        ]
        .contains(&event.detail_type.as_str())
        {
            if let Some(Value::Array(findings)) = findings {
                assert!(findings.len() <= 1, "a finding event is split per finding");
            }
        }
    }
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}
