//! The EventBridge envelope and the SNS wrapper around it.

use rectify_model::Event;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::IngestError;

const SECURITY_HUB_IMPORTED: &str = "Security Hub Findings - Imported";

/// An SNS notification (`Type: Notification`) carries the event as a JSON
/// string in `Message`; anything else is returned unchanged.
pub(crate) fn unwrap_sns(value: Value) -> Result<Value, IngestError> {
    let is_sns = value.get("Type").and_then(Value::as_str) == Some("Notification")
        && value.get("TopicArn").is_some();
    if !is_sns {
        return Ok(value);
    }
    let message = value
        .get("Message")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            IngestError::invalid("Message", "SNS notification without a Message string")
        })?;
    serde_json::from_str(message).map_err(|e| {
        IngestError::invalid("Message", format!("SNS Message is not a JSON event: {e}"))
    })
}

/// Whether `value` is an EventBridge event that ingest keeps as it is:
/// not an SNS notification, not a bare finding or `GetFindings` answer.
/// (An import with several findings is still split by [`fan_out`].)
pub(crate) fn is_plain_event(value: &Value) -> bool {
    value.get("detail-type").is_some() && value.get("Type").is_none()
}

/// Whether `value` is an ASFF finding rather than an event.
fn is_finding(value: &Value) -> bool {
    value.get("detail-type").is_none()
        && value.get("SchemaVersion").is_some()
        && value.get("ProductArn").is_some()
        && value.get("Id").is_some()
}

/// Whether `value` is an OCSF finding of the new Security Hub (as
/// `GetFindingsV2` returns it) rather than an event.
fn is_ocsf_finding(value: &Value) -> bool {
    value.get("detail-type").is_none()
        && value.get("class_uid").is_some()
        && value.get("metadata").is_some_and(Value::is_object)
}

/// A bare finding, or a `GetFindings` / `GetFindingsV2` answer, as the
/// EventBridge events Security Hub sends for them (`Security Hub Findings -
/// Imported` for ASFF, `Findings Imported V2` for OCSF); anything else is
/// returned unchanged.
pub fn wrap_asff(value: Value) -> Vec<Value> {
    if is_finding(&value) {
        return vec![imported_event(value)];
    }
    if is_ocsf_finding(&value) {
        return vec![imported_v2_event(value)];
    }
    match value {
        Value::Object(mut map)
            if map.get("detail-type").is_none()
                && map.get("Findings").is_some_and(|f| f.is_array()) =>
        {
            match map.remove("Findings") {
                Some(Value::Array(findings)) => findings
                    .into_iter()
                    .map(|f| {
                        if is_ocsf_finding(&f) {
                            imported_v2_event(f)
                        } else {
                            imported_event(f)
                        }
                    })
                    .collect(),
                _ => vec![Value::Object(map)],
            }
        }
        other => vec![other],
    }
}

/// An OCSF finding in the `Findings Imported V2` envelope: account and
/// region from `cloud`, the id derived from `metadata.uid` and the time.
fn imported_v2_event(finding: Value) -> Value {
    let text = |path: &str| {
        finding
            .pointer(path)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let uid = match text("/metadata/uid") {
        u if !u.is_empty() => u,
        _ => text("/finding_info/uid"),
    };
    let modified = finding
        .pointer("/finding_info/modified_time")
        .or_else(|| finding.get("time"))
        .map(Value::to_string)
        .unwrap_or_default();
    let event_id = format!(
        "ocsf:{}",
        &hex::encode(Sha256::digest(format!("{uid}\n{modified}").as_bytes()))[..32]
    );
    let time = match text("/finding_info/modified_time_dt") {
        t if !t.is_empty() => t,
        _ => text("/time_dt"),
    };
    serde_json::json!({
        "version": "0",
        "id": event_id,
        "detail-type": rectify_model::SECURITY_HUB_IMPORTED_V2,
        "source": "aws.securityhub",
        "account": text("/cloud/account/uid"),
        "time": time,
        "region": text("/cloud/region"),
        "resources": [],
        "detail": {"findings": [finding]},
    })
}

fn imported_event(finding: Value) -> Value {
    let text = |field: &str| {
        finding
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let id = text("Id");
    let updated = text("UpdatedAt");
    let region = match text("Region") {
        r if !r.is_empty() => r,
        // arn:aws:securityhub:REGION::product/...
        _ => text("ProductArn")
            .split(':')
            .nth(3)
            .unwrap_or_default()
            .to_string(),
    };
    let event_id = format!(
        "asff:{}",
        &hex::encode(Sha256::digest(format!("{id}\n{updated}").as_bytes()))[..32]
    );
    serde_json::json!({
        "version": "0",
        "id": event_id,
        "detail-type": SECURITY_HUB_IMPORTED,
        "source": "aws.securityhub",
        "account": text("AwsAccountId"),
        "time": updated,
        "region": region,
        "resources": [id],
        "detail": {"findings": [finding]},
    })
}

fn string_field(
    map: &Map<String, Value>,
    field: &str,
    required: bool,
) -> Result<String, IngestError> {
    match map.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(IngestError::invalid(
            field,
            format!("expected a string, found {}", kind(other)),
        )),
        None if required => Err(IngestError::invalid(field, "missing")),
        None => Ok(String::new()),
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks the envelope and builds the event. `source`, `detail-type` and an
/// object `detail` are required; a missing `id` is derived from the bytes so
/// that a resent event dedupes.
pub fn event_from_value(value: Value, raw: &[u8]) -> Result<Event, IngestError> {
    let Value::Object(map) = &value else {
        return Err(IngestError::invalid(
            "(event)",
            format!("expected a JSON object, found {}", kind(&value)),
        ));
    };
    let source = string_field(map, "source", true)?;
    let detail_type = string_field(map, "detail-type", true)?;
    match map.get("detail") {
        Some(Value::Object(_)) => {}
        Some(other) => {
            return Err(IngestError::invalid(
                "detail",
                format!("expected an object, found {}", kind(other)),
            ))
        }
        None => return Err(IngestError::invalid("detail", "missing")),
    }
    let mut id = match map.get("id") {
        Some(Value::String(s)) => s.clone(),
        None => String::new(),
        // A number or object as the id: nothing could find the event again.
        Some(other) => {
            return Err(IngestError::unstorable(
                None,
                format!("the event id must be a string, found {}", kind(other)),
            ))
        }
    };
    if id.is_empty() {
        id = format!("sha256:{}", hex::encode(Sha256::digest(raw)));
    }
    let resources = match map.get("resources") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    IngestError::invalid(&format!("resources[{i}]"), "expected a string (an ARN)")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(IngestError::invalid(
                "resources",
                format!("expected an array, found {}", kind(other)),
            ))
        }
    };
    Ok(Event {
        id,
        source,
        detail_type,
        account: string_field(map, "account", false)?,
        region: string_field(map, "region", false)?,
        time: string_field(map, "time", false)?,
        resources,
        body: value,
        parsed: Default::default(),
    })
}

/// Splits a Security Hub event with N findings (an import, a custom action
/// on several findings, an OCSF import) into N events, each carrying one
/// finding; other events pass through. The i-th event's id is
/// `{id}#{i}`, stable across redeliveries. An import event with no findings
/// yields nothing to act on but is kept so it is recorded.
pub fn fan_out(mut event: Event) -> Vec<Event> {
    let many = [
        SECURITY_HUB_IMPORTED,
        rectify_model::SECURITY_HUB_CUSTOM_ACTION,
        rectify_model::SECURITY_HUB_IMPORTED_V2,
    ]
    .contains(&event.detail_type.as_str())
        && matches!(
            event.body.get("detail").and_then(|d| d.get("findings")),
            Some(Value::Array(items)) if items.len() > 1
        );
    if !many {
        return vec![event];
    }
    // Take the findings out first so that each copy of the envelope holds
    // only its own finding.
    let Some(Value::Array(findings)) = event.body["detail"]
        .as_object_mut()
        .and_then(|d| d.insert("findings".into(), Value::Array(Vec::new())))
    else {
        return vec![event];
    };
    findings
        .into_iter()
        .enumerate()
        .map(|(i, finding)| {
            let mut body = event.body.clone();
            body["detail"]["findings"] = Value::Array(vec![finding]);
            let id = format!("{}#{i}", event.id);
            body["id"] = Value::String(id.clone());
            Event {
                id,
                body,
                parsed: Default::default(),
                ..event.clone()
            }
        })
        .collect()
}
