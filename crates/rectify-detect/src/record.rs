//! A CloudTrail record as the detectors read it, and the ways records
//! arrive: a log file (`{"Records": [...]}`), an EventBridge event that
//! carries one (`AWS API Call via CloudTrail`, `AWS Console Sign In via
//! CloudTrail`, ...), or a bare record.

use serde_json::Value;

/// The EventBridge detail-types whose `detail` is a CloudTrail record.
pub const CLOUDTRAIL_DETAIL_TYPES: &[&str] = &[
    "AWS API Call via CloudTrail",
    "AWS Console Sign In via CloudTrail",
    "AWS Console Action via CloudTrail",
    "AWS Service Event via CloudTrail",
    "AWS Insight via CloudTrail",
];

/// The CloudTrail records `input` holds, in order: every element of a log
/// file's `Records`, the `detail` of an EventBridge CloudTrail event, or
/// `input` itself when it is a record. Anything else holds none.
pub fn records(input: &Value) -> Vec<&Value> {
    if let Some(Value::Array(items)) = input.get("Records") {
        return items.iter().filter(|r| is_record(r)).collect();
    }
    if let (Some(detail_type), Some(detail)) = (
        input.get("detail-type").and_then(Value::as_str),
        input.get("detail"),
    ) {
        if CLOUDTRAIL_DETAIL_TYPES.contains(&detail_type) && is_record(detail) {
            return vec![detail];
        }
        return Vec::new();
    }
    if is_record(input) {
        return vec![input];
    }
    Vec::new()
}

fn is_record(v: &Value) -> bool {
    v.get("eventName").is_some_and(Value::is_string)
        && v.get("eventSource").is_some_and(Value::is_string)
}

/// Borrowed, typed view of the fields detectors use. Missing or mistyped
/// fields read as empty; a record is never refused for its shape here.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub raw: &'a Value,
}

impl<'a> Record<'a> {
    pub fn new(raw: &'a Value) -> Self {
        Self { raw }
    }

    fn str_at(&self, pointer: &str) -> &'a str {
        self.raw
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// `s3.amazonaws.com`.
    pub fn event_source(&self) -> &'a str {
        self.str_at("/eventSource")
    }
    /// `PutBucketPolicy`.
    pub fn event_name(&self) -> &'a str {
        self.str_at("/eventName")
    }
    /// RFC 3339, as CloudTrail writes it (`2026-12-06T07:00:00Z`).
    pub fn event_time(&self) -> &'a str {
        self.str_at("/eventTime")
    }
    /// Seconds since the epoch, when `eventTime` parses.
    pub fn epoch_seconds(&self) -> Option<i64> {
        time::OffsetDateTime::parse(
            self.event_time(),
            &time::format_description::well_known::Rfc3339,
        )
        .ok()
        .map(|t| t.unix_timestamp())
    }
    pub fn region(&self) -> &'a str {
        self.str_at("/awsRegion")
    }
    pub fn source_ip(&self) -> &'a str {
        self.str_at("/sourceIPAddress")
    }
    pub fn user_agent(&self) -> &'a str {
        self.str_at("/userAgent")
    }
    /// `AccessDenied`, `Client.UnauthorizedOperation`, ... or empty.
    pub fn error_code(&self) -> &'a str {
        self.str_at("/errorCode")
    }
    /// The account the call was made in: `recipientAccountId`, else the
    /// caller's own account.
    pub fn account(&self) -> &'a str {
        match self.str_at("/recipientAccountId") {
            "" => self.str_at("/userIdentity/accountId"),
            account => account,
        }
    }
    /// `Root`, `IAMUser`, `AssumedRole`, `AWSService`, ...
    pub fn identity_type(&self) -> &'a str {
        self.str_at("/userIdentity/type")
    }
    /// The caller's ARN (for an assumed role, the session's ARN).
    pub fn principal_arn(&self) -> &'a str {
        self.str_at("/userIdentity/arn")
    }
    /// The long-lived principal behind the call: the role a session was
    /// issued for, else the caller's ARN, else the principal id.
    pub fn principal(&self) -> &'a str {
        match self.str_at("/userIdentity/sessionContext/sessionIssuer/arn") {
            "" => match self.principal_arn() {
                "" => self.str_at("/userIdentity/principalId"),
                arn => arn,
            },
            issuer => issuer,
        }
    }
    pub fn access_key_id(&self) -> &'a str {
        self.str_at("/userIdentity/accessKeyId")
    }
    pub fn request(&self) -> &'a Value {
        self.raw.get("requestParameters").unwrap_or(&Value::Null)
    }
    pub fn response(&self) -> &'a Value {
        self.raw.get("responseElements").unwrap_or(&Value::Null)
    }
    pub fn additional(&self) -> &'a Value {
        self.raw.get("additionalEventData").unwrap_or(&Value::Null)
    }
    /// `aws` unless the region or the caller's ARN says otherwise.
    pub fn partition(&self) -> &'a str {
        let arn = self.principal_arn();
        if let Some(rest) = arn.strip_prefix("arn:") {
            if let Some(p) = rest.split(':').next().filter(|p| !p.is_empty()) {
                return p;
            }
        }
        let region = self.region();
        if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_come_from_log_files_events_and_bare_records() {
        let rec = json!({"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com"});
        let file = json!({"Records": [rec, {"not": "a record"}, rec]});
        assert_eq!(records(&file).len(), 2);
        let event = json!({"detail-type": "AWS API Call via CloudTrail", "detail": rec});
        assert_eq!(records(&event), vec![&rec]);
        let other = json!({"detail-type": "Security Hub Findings - Imported", "detail": rec});
        assert!(records(&other).is_empty());
        assert_eq!(records(&rec), vec![&rec]);
        assert!(records(&json!([1, 2])).is_empty());
    }

    #[test]
    fn the_principal_is_the_role_behind_a_session() {
        let rec = json!({
            "eventName": "GetSecretValue", "eventSource": "secretsmanager.amazonaws.com",
            "eventTime": "2026-12-06T07:00:00Z", "awsRegion": "cn-north-1",
            "userIdentity": {
                "type": "AssumedRole", "accountId": "111122223333",
                "arn": "arn:aws-cn:sts::111122223333:assumed-role/app/i-0abc",
                "sessionContext": {"sessionIssuer": {"arn": "arn:aws-cn:iam::111122223333:role/app"}}
            }
        });
        let r = Record::new(&rec);
        assert_eq!(r.principal(), "arn:aws-cn:iam::111122223333:role/app");
        assert_eq!(r.account(), "111122223333");
        assert_eq!(r.partition(), "aws-cn");
        assert_eq!(r.epoch_seconds(), Some(1_796_540_400));
        assert_eq!(r.error_code(), "");
    }
}
