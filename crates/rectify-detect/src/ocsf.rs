//! CloudTrail records from Amazon Security Lake, which stores them in OCSF
//! (API Activity, and the Account Change, Authentication and Entity
//! Management classes of its 1.0 mapping): each event is turned back into
//! the CloudTrail record it was mapped from, as far as the fields the
//! detections read go, following Security Lake's published mapping
//! (`api.operation` is `eventName`, `actor.user.credential_uid` is
//! `userIdentity.accessKeyId`, ...). Both versions of the mapping are
//! read: OCSF 1.1 (`actor.user.uid` is the ARN, `uid_alt` the principal
//! id) and 1.0 (`actor.user.uuid` is the ARN, `uid` the principal id).

use serde_json::{json, Map, Value};

/// Security Lake's CloudTrail events as JSON lines of CloudTrail records;
/// None when `text` holds no OCSF event from CloudTrail (one JSON value,
/// an array of them, or values one after another).
pub fn records_as_lines(text: &str) -> Option<String> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with(['{', '[']) || !trimmed.contains("\"class_uid\"") {
        return None;
    }
    let mut lines = String::new();
    let mut found = false;
    for value in serde_json::Deserializer::from_str(trimmed).into_iter::<Value>() {
        let value = value.ok()?;
        let events = match value {
            Value::Array(items) => items,
            one => vec![one],
        };
        for event in &events {
            if let Some(record) = record(event) {
                found = true;
                lines.push_str(&record.to_string());
                lines.push('\n');
            }
        }
    }
    found.then_some(lines)
}

/// The CloudTrail record an OCSF event from CloudTrail was mapped from;
/// None for any other event.
pub fn record(event: &Value) -> Option<Value> {
    let at = |path: &str| event.pointer(path);
    let text = |path: &str| at(path).and_then(Value::as_str);
    if event.get("class_uid").and_then(Value::as_u64).is_none()
        || !text("/metadata/product/name").is_some_and(|n| n.eq_ignore_ascii_case("cloudtrail"))
    {
        return None;
    }
    let event_source = text("/api/service/name")?;
    let event_name = text("/api/operation")?;
    let mut record = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value.filter(|v| !v.is_null()) {
            record.insert(key.to_string(), v);
        }
    };
    let string = |path: &str| text(path).map(|s| Value::String(s.to_string()));
    put("eventSource", Some(json!(event_source)));
    put("eventName", Some(json!(event_name)));
    put("eventTime", event_time(event).map(Value::String));
    put(
        "eventType",
        string("/metadata/event_code").or_else(|| string("/unmapped/eventType")),
    );
    put("eventID", string("/metadata/uid"));
    put("requestID", string("/api/request/uid"));
    put("awsRegion", string("/cloud/region"));
    put(
        "sourceIPAddress",
        string("/src_endpoint/ip").or_else(|| string("/src_endpoint/domain")),
    );
    put("userAgent", string("/http_request/user_agent"));
    put("errorCode", string("/api/response/error"));
    put("errorMessage", string("/api/response/message"));
    put(
        "recipientAccountId",
        string("/cloud/account/uid")
            .or_else(|| string("/cloud/account_uid"))
            .or_else(|| string("/unmapped/recipientAccountId")),
    );
    put("userIdentity", Some(user_identity(event)));
    put("requestParameters", data(at("/api/request/data")));
    put("responseElements", data(at("/api/response/data")));
    put("additionalEventData", additional(event));
    Some(Value::Object(record))
}

/// `eventTime` as CloudTrail writes it (seconds, `Z`): from `time_dt`, else
/// from `time` (milliseconds since the epoch).
fn event_time(event: &Value) -> Option<String> {
    let t = match event.get("time").and_then(Value::as_i64) {
        Some(ms) => time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).ok()?,
        None => rectify_model::parse_rfc3339(event.get("time_dt").and_then(Value::as_str)?)?,
    };
    // Whole seconds, as CloudTrail writes them.
    Some(rectify_model::format_rfc3339(t.replace_nanosecond(0).ok()?).replace(".000Z", "Z"))
}

/// `userIdentity` from `actor`, in either version of the mapping.
fn user_identity(event: &Value) -> Value {
    let text = |path: &str| event.pointer(path).and_then(Value::as_str);
    let uid = text("/actor/user/uid");
    // 1.1: uid is the ARN, uid_alt the principal id; 1.0: uuid is the ARN,
    // uid the principal id.
    let (arn, principal_id) = match (text("/actor/user/uuid"), text("/actor/user/uid_alt")) {
        (Some(arn), _) => (Some(arn), uid),
        (None, alt) if uid.is_some_and(|u| u.starts_with("arn:")) => (uid, alt),
        (None, alt) => (None, alt.or(uid)),
    };
    let mut identity = Map::new();
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(v) = value {
            identity.insert(key.to_string(), json!(v));
        }
    };
    put("type", text("/actor/user/type"));
    put("principalId", principal_id);
    put("arn", arn);
    put(
        "accountId",
        text("/actor/user/account/uid").or_else(|| text("/actor/user/account_uid")),
    );
    put("accessKeyId", text("/actor/user/credential_uid"));
    put("userName", text("/actor/user/name"));
    put("invokedBy", text("/actor/invoked_by"));
    let mfa = event
        .pointer("/actor/session/is_mfa")
        .or_else(|| event.pointer("/actor/session/mfa"))
        .and_then(Value::as_bool);
    let issuer = text("/actor/session/issuer");
    if mfa.is_some() || issuer.is_some() {
        let mut context = Map::new();
        if let Some(mfa) = mfa {
            context.insert(
                "attributes".into(),
                json!({"mfaAuthenticated": mfa.to_string()}),
            );
        }
        if let Some(issuer) = issuer {
            context.insert("sessionIssuer".into(), json!({"arn": issuer}));
        }
        identity.insert("sessionContext".into(), Value::Object(context));
    }
    Value::Object(identity)
}

/// `requestParameters` / `responseElements`: an object, or the JSON text
/// of one (as some exports of Security Lake's tables keep it).
fn data(value: Option<&Value>) -> Option<Value> {
    match value? {
        Value::String(s) => serde_json::from_str(s).ok(),
        Value::Null => None,
        v => Some(v.clone()),
    }
}

/// `additionalEventData`, as the 1.0 mapping leaves it under `unmapped`,
/// else what a console sign-in (Authentication) says of MFA.
fn additional(event: &Value) -> Option<Value> {
    if let Some(v) = data(event.pointer("/unmapped/additionalEventData")) {
        return Some(v);
    }
    let mfa = event
        .get("is_mfa")
        .or_else(|| event.get("mfa"))
        .and_then(Value::as_bool)?;
    Some(json!({"MFAUsed": if mfa { "Yes" } else { "No" }}))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An API Activity event as Security Lake's OCSF 1.1 mapping writes it.
    fn v11() -> Value {
        json!({
            "class_uid": 6003, "class_name": "API Activity", "time": 1764576000000u64,
            "metadata": {"product": {"name": "CloudTrail", "vendor_name": "AWS"}, "version": "1.1.0",
                         "uid": "e-1", "event_code": "AwsApiCall"},
            "api": {"operation": "StopLogging", "service": {"name": "cloudtrail.amazonaws.com"},
                    "request": {"uid": "r-1", "data": {"name": "arn:aws:cloudtrail:us-east-1:111122223333:trail/org"}},
                    "response": {"error": "AccessDenied", "message": "no"}},
            "actor": {"user": {"type": "IAMUser", "uid": "arn:aws:iam::111122223333:user/mallory",
                               "uid_alt": "AIDAEXAMPLE", "credential_uid": "AKIAEXAMPLE",
                               "account": {"uid": "111122223333"}, "name": "mallory"},
                      "session": {"is_mfa": false, "issuer": "arn:aws:iam::111122223333:role/r"}},
            "src_endpoint": {"ip": "185.220.101.47"}, "http_request": {"user_agent": "aws-cli/2"},
            "cloud": {"region": "us-east-1", "provider": "AWS", "account": {"uid": "111122223333"}}
        })
    }

    #[test]
    fn an_ocsf_1_1_event_gives_back_its_record() {
        let r = record(&v11()).unwrap();
        assert_eq!(r["eventName"], "StopLogging");
        assert_eq!(r["eventSource"], "cloudtrail.amazonaws.com");
        assert_eq!(r["eventTime"], "2025-12-01T08:00:00Z");
        assert_eq!(r["eventID"], "e-1");
        assert_eq!(r["eventType"], "AwsApiCall");
        assert_eq!(r["errorCode"], "AccessDenied");
        assert_eq!(r["sourceIPAddress"], "185.220.101.47");
        assert_eq!(r["recipientAccountId"], "111122223333");
        let who = &r["userIdentity"];
        assert_eq!(who["arn"], "arn:aws:iam::111122223333:user/mallory");
        assert_eq!(who["principalId"], "AIDAEXAMPLE");
        assert_eq!(who["accessKeyId"], "AKIAEXAMPLE");
        assert_eq!(who["accountId"], "111122223333");
        assert_eq!(
            who["sessionContext"]["attributes"]["mfaAuthenticated"],
            "false"
        );
        assert_eq!(
            who["sessionContext"]["sessionIssuer"]["arn"],
            "arn:aws:iam::111122223333:role/r"
        );
        assert_eq!(
            r["requestParameters"]["name"],
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/org"
        );
    }

    #[test]
    fn an_ocsf_1_0_event_gives_back_its_record() {
        let event = json!({
            "class_uid": 3002, "time": 1764576000000u64, "mfa": true, "status": "Success",
            "metadata": {"product": {"name": "CloudTrail"}, "version": "1.0.0-rc.2", "uid": "e-2"},
            "api": {"operation": "ConsoleLogin", "service": {"name": "signin.amazonaws.com"},
                    "response": {"data": "{\"ConsoleLogin\": \"Success\"}"}},
            "actor": {"user": {"type": "Root", "uid": "111122223333",
                               "uuid": "arn:aws:iam::111122223333:root", "account_uid": "111122223333"}},
            "src_endpoint": {"ip": "203.0.113.9"}, "cloud": {"region": "us-east-1"}
        });
        let r = record(&event).unwrap();
        assert_eq!(r["eventName"], "ConsoleLogin");
        assert_eq!(r["userIdentity"]["arn"], "arn:aws:iam::111122223333:root");
        assert_eq!(r["userIdentity"]["principalId"], "111122223333");
        assert_eq!(r["userIdentity"]["accountId"], "111122223333");
        assert_eq!(r["responseElements"]["ConsoleLogin"], "Success");
        assert_eq!(r["additionalEventData"]["MFAUsed"], "Yes");
    }

    #[test]
    fn only_cloudtrail_events_are_taken() {
        let mut other = v11();
        other["metadata"]["product"]["name"] = json!("Route 53");
        assert_eq!(record(&other), None);
        let lines = records_as_lines(&format!("[{}, {other}]\n{}", v11(), v11())).unwrap();
        assert_eq!(lines.lines().count(), 2);
        assert_eq!(records_as_lines(&other.to_string()), None);
        assert_eq!(records_as_lines(r#"{"Records": []}"#), None);
    }
}
