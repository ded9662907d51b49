//! The checks a signature adds to its pattern: what an event pattern cannot
//! say (one field compared with another, the principals of a policy
//! document, account lists from the config).

use serde_json::Value;

use super::Context;
use crate::Record;

/// Longest policy document read, in bytes (IAM's own limits are far below).
const MAX_POLICY_BYTES: usize = 64 * 1024;

/// The string values at a dotted path, through arrays, in order.
pub fn values_at<'a>(v: &'a Value, path: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    collect(v, path.split('.').collect::<Vec<_>>().as_slice(), &mut out);
    out
}

fn collect<'a>(v: &'a Value, parts: &[&str], out: &mut Vec<&'a str>) {
    // Bounded: a hostile record can hold big arrays; what we read from one
    // is capped.
    if out.len() >= 1_000 {
        return;
    }
    match (v, parts.split_first()) {
        (Value::Array(items), _) => {
            for item in items.iter().take(1_000) {
                collect(item, parts, out);
            }
        }
        (Value::String(s), None) => out.push(s),
        (Value::Object(map), Some((first, rest))) => {
            if let Some(next) = map.get(*first) {
                collect(next, rest, out);
            }
        }
        _ => {}
    }
}

/// The value at a dotted path (no arrays), when there is one.
pub fn value_at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

/// `other_user`: the user named at `path` is someone else than the caller.
pub fn other_user(record: &Record<'_>, path: &str) -> bool {
    let Some(target) = values_at(record.value(), path)
        .into_iter()
        .next()
        .filter(|s| !s.is_empty())
    else {
        // No user named: the caller acts on itself.
        return false;
    };
    let caller = match record.identity_type() {
        "IAMUser" => record
            .value()
            .pointer("/userIdentity/userName")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        _ => "",
    };
    caller != target
}

/// Whether `account` counts as inside: the record's own account, or one of
/// the organization's when the config lists them.
fn inside(cx: &Context, record: &Record<'_>, account: &str) -> bool {
    account == record.account() || cx.organization_accounts.iter().any(|a| a == account)
}

/// The account an AWS principal names: `123456789012`,
/// `arn:aws:iam::123456789012:root`, `arn:aws:iam::123456789012:role/x`.
fn principal_account(p: &str) -> Option<&str> {
    if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
        return Some(p);
    }
    let rest = p.strip_prefix("arn:")?;
    let account = rest.split(':').nth(3)?;
    (!account.is_empty()).then_some(account)
}

/// Condition keys that pin who may use a `*` principal, so that the
/// statement is not open to anyone.
const PINNING_KEYS: &[&str] = &[
    "aws:sourceaccount",
    "aws:sourceowner",
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceip",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:userid",
    "sts:externalid",
];

fn pinned(statement: &Value) -> bool {
    let Some(Value::Object(operators)) = statement.get("Condition") else {
        return false;
    };
    operators.values().any(|keys| {
        keys.as_object().is_some_and(|k| {
            k.keys()
                .any(|key| PINNING_KEYS.contains(&key.to_ascii_lowercase().as_str()))
        })
    })
}

/// `policy_opens`: the policy at `path` (JSON text, as IAM calls log it, or
/// an object, as S3's do) allows a principal outside, or `*` unpinned.
pub fn policy_opens(cx: &Context, record: &Record<'_>, path: &str) -> Option<String> {
    let doc = value_at(record.value(), path)?;
    let parsed;
    let doc = match doc {
        Value::String(text) if text.len() <= MAX_POLICY_BYTES => {
            parsed = parse_policy_text(text)?;
            &parsed
        }
        Value::Object(_) => doc,
        _ => return None,
    };
    let statements: Vec<&Value> = match doc.get("Statement")? {
        Value::Array(items) => items.iter().take(500).collect(),
        one => vec![one],
    };
    for s in statements {
        if s.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        let Some(principal) = s.get("Principal") else {
            continue;
        };
        let mut aws: Vec<&str> = Vec::new();
        match principal {
            Value::String(p) => aws.push(p),
            Value::Object(map) => {
                if let Some(v) = map.get("AWS") {
                    match v {
                        Value::String(p) => aws.push(p),
                        Value::Array(items) => aws.extend(items.iter().filter_map(Value::as_str)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        for p in aws {
            if p == "*" {
                if !pinned(s) {
                    return Some("*".to_string());
                }
                continue;
            }
            if let Some(account) = principal_account(p) {
                if !inside(cx, record, account) {
                    return Some(p.to_string());
                }
            }
        }
    }
    None
}

/// A policy document as CloudTrail logs it: JSON text, sometimes
/// URL-encoded.
fn parse_policy_text(text: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Some(v);
    }
    let decoded = url_decode(text)?;
    serde_json::from_str(&decoded).ok()
}

fn url_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `shared_outside`: what the record adds to a snapshot's or image's
/// permissions names an account outside, or everyone. Reads EC2's
/// `createVolumePermission` / `launchPermission` (`add.items[].userId`,
/// `.group`) and RDS's `valuesToAdd`.
pub fn shared_outside(cx: &Context, record: &Record<'_>) -> Option<String> {
    let request = record.request();
    let mut added: Vec<&str> = Vec::new();
    for attr in ["createVolumePermission", "launchPermission"] {
        for field in ["userId", "group", "groups"] {
            added.extend(values_at(request, &format!("{attr}.add.items.{field}")));
        }
    }
    // The older query form: `operationType: add` with lists.
    if request.get("operationType").and_then(Value::as_str) == Some("add") {
        added.extend(values_at(request, "userIds"));
        added.extend(values_at(request, "userIds.item"));
        added.extend(values_at(request, "groupNames"));
        added.extend(values_at(request, "userGroups"));
    }
    added.extend(values_at(request, "valuesToAdd"));
    added
        .into_iter()
        .find(|a| a.eq_ignore_ascii_case("all") || !inside(cx, record, a))
        .map(str::to_string)
}

/// `logging_bucket`: the bucket named at `path` holds logs.
pub fn logging_bucket(cx: &Context, record: &Record<'_>, path: &str) -> Option<String> {
    let bucket = values_at(record.value(), path).into_iter().next()?;
    let lower = bucket.to_ascii_lowercase();
    // Names people give log buckets: `org-cloudtrail-123`, `audit-logs`,
    // `access-logging`.
    let named_so = lower.contains("cloudtrail")
        || lower.split(['-', '.', '_']).any(|part| {
            matches!(
                part,
                "log" | "logs" | "logging" | "trail" | "trails" | "audit"
            )
        });
    (cx.logging_buckets.iter().any(|b| b == bucket)
        || cx.trail_buckets.contains(bucket)
        || named_so)
        .then(|| bucket.to_string())
}

/// `drops_management_events`: the selectors a `PutEventSelectors` sets
/// record no management events at all.
pub fn drops_management_events(record: &Record<'_>) -> bool {
    let request = record.request();
    if let Some(Value::Array(selectors)) = request.get("eventSelectors") {
        // A selector includes management events unless it says false.
        return !selectors
            .iter()
            .any(|s| s.get("includeManagementEvents").and_then(Value::as_bool) != Some(false));
    }
    if let Some(Value::Array(selectors)) = request.get("advancedEventSelectors") {
        return !selectors.iter().any(|s| {
            s.get("fieldSelectors")
                .and_then(Value::as_array)
                .is_some_and(|fields| {
                    fields.iter().any(|f| {
                        f.get("field").and_then(Value::as_str) == Some("eventCategory")
                            && values_at(f, "equals").contains(&"Management")
                    })
                })
        });
    }
    false
}

/// `lifecycle_expires`: a lifecycle rule the record sets is enabled and
/// expires current or old object versions; with `within_days`, only after
/// at most that many days.
pub fn lifecycle_expires(record: &Record<'_>, within_days: Option<u64>) -> bool {
    let request = record.request();
    let Some(config) = request
        .get("LifecycleConfiguration")
        .or_else(|| request.get("lifecycleConfiguration"))
    else {
        return false;
    };
    let rules: Vec<&Value> = match config
        .get("Rule")
        .or_else(|| config.get("Rules"))
        .or_else(|| config.get("rules"))
    {
        Some(Value::Array(items)) => items.iter().take(1_000).collect(),
        Some(one) => vec![one],
        None => return false,
    };
    let soon = |v: Option<&Value>| match within_days {
        None => v.is_some(),
        Some(max) => v.and_then(days).is_some_and(|d| d <= max),
    };
    rules.into_iter().any(|r| {
        let enabled = r
            .get("Status")
            .and_then(Value::as_str)
            .is_none_or(|s| s == "Enabled");
        let current = r.get("Expiration").map(|e| e.get("Days").unwrap_or(e));
        let noncurrent = r
            .get("NoncurrentVersionExpiration")
            .map(|e| e.get("NoncurrentDays").unwrap_or(e));
        enabled && (soon(current) || soon(noncurrent))
    })
}

/// A day count as S3 logs it (a number, or a number in a string).
fn days(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cx(org: &[&str]) -> Context {
        Context {
            organization_accounts: org.iter().map(|s| s.to_string()).collect(),
            ..Context::default()
        }
    }

    #[test]
    fn a_trust_policy_naming_another_account_opens_the_role() {
        let doc = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"ec2.amazonaws.com\"},\"Action\":\"sts:AssumeRole\"},{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::193672423079:root\"},\"Action\":\"sts:AssumeRole\"}]}";
        let rec = json!({"recipientAccountId": "111122223333", "requestParameters": {"policyDocument": doc}});
        let r = Record::new(&rec);
        assert_eq!(
            policy_opens(&cx(&[]), &r, "requestParameters.policyDocument").as_deref(),
            Some("arn:aws:iam::193672423079:root")
        );
        // The same account inside the configured organization.
        assert_eq!(
            policy_opens(
                &cx(&["193672423079"]),
                &r,
                "requestParameters.policyDocument"
            ),
            None
        );
        // URL-encoded text reads the same.
        let encoded = doc
            .replace('{', "%7B")
            .replace('}', "%7D")
            .replace('"', "%22")
            .replace(':', "%3A");
        let rec = json!({"recipientAccountId": "111122223333", "requestParameters": {"policyDocument": encoded}});
        assert!(policy_opens(
            &cx(&[]),
            &Record::new(&rec),
            "requestParameters.policyDocument"
        )
        .is_some());
    }

    #[test]
    fn a_star_principal_opens_unless_a_condition_pins_it() {
        let open = json!({"recipientAccountId": "1", "requestParameters": {"bucketPolicy": {"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]}}});
        assert_eq!(
            policy_opens(
                &cx(&[]),
                &Record::new(&open),
                "requestParameters.bucketPolicy"
            )
            .as_deref(),
            Some("*")
        );
        let pinned = json!({"recipientAccountId": "1", "requestParameters": {"bucketPolicy": {"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject",
             "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}]}}});
        assert_eq!(
            policy_opens(
                &cx(&[]),
                &Record::new(&pinned),
                "requestParameters.bucketPolicy"
            ),
            None
        );
        let deny = json!({"recipientAccountId": "1", "requestParameters": {"bucketPolicy": {"Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*"}]}}});
        assert_eq!(
            policy_opens(
                &cx(&[]),
                &Record::new(&deny),
                "requestParameters.bucketPolicy"
            ),
            None
        );
    }

    #[test]
    fn sharing_reads_ec2_and_rds_shapes() {
        let ebs = json!({"recipientAccountId": "756680937392", "requestParameters": {
            "attributeType": "CREATE_VOLUME_PERMISSION",
            "createVolumePermission": {"add": {"items": [{"userId": "098797384747"}]}}}});
        assert_eq!(
            shared_outside(&cx(&[]), &Record::new(&ebs)).as_deref(),
            Some("098797384747")
        );
        assert_eq!(
            shared_outside(&cx(&["098797384747"]), &Record::new(&ebs)),
            None
        );
        let public = json!({"recipientAccountId": "1", "requestParameters": {
            "launchPermission": {"add": {"items": [{"group": "all"}]}}}});
        assert_eq!(
            shared_outside(&cx(&[]), &Record::new(&public)).as_deref(),
            Some("all")
        );
        let removal = json!({"recipientAccountId": "1", "requestParameters": {
            "createVolumePermission": {"remove": {"items": [{"userId": "222233334444"}]}}}});
        assert_eq!(shared_outside(&cx(&[]), &Record::new(&removal)), None);
        let rds = json!({"recipientAccountId": "171471557522", "requestParameters": {
            "attributeName": "restore", "valuesToAdd": ["503161813013"]}});
        assert_eq!(
            shared_outside(&cx(&[]), &Record::new(&rds)).as_deref(),
            Some("503161813013")
        );
    }

    #[test]
    fn event_selectors_without_management_events_drop_them() {
        let drop = json!({"requestParameters": {"eventSelectors": [
            {"includeManagementEvents": false, "readWriteType": "ReadOnly"}]}});
        assert!(drops_management_events(&Record::new(&drop)));
        let keep = json!({"requestParameters": {"eventSelectors": [
            {"includeManagementEvents": true, "readWriteType": "All"}]}});
        assert!(!drops_management_events(&Record::new(&keep)));
        let advanced_data_only = json!({"requestParameters": {"advancedEventSelectors": [
            {"fieldSelectors": [{"field": "eventCategory", "equals": ["Data"]}]}]}});
        assert!(drops_management_events(&Record::new(&advanced_data_only)));
        let advanced_mgmt = json!({"requestParameters": {"advancedEventSelectors": [
            {"fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}]}]}});
        assert!(!drops_management_events(&Record::new(&advanced_mgmt)));
    }

    #[test]
    fn the_caller_creating_its_own_key_is_not_another_user() {
        let own = json!({"userIdentity": {"type": "IAMUser", "userName": "alice"},
            "requestParameters": {"userName": "alice"}});
        assert!(!other_user(
            &Record::new(&own),
            "requestParameters.userName"
        ));
        let bare = json!({"userIdentity": {"type": "IAMUser", "userName": "alice"}, "requestParameters": null});
        assert!(!other_user(
            &Record::new(&bare),
            "requestParameters.userName"
        ));
        let other = json!({"userIdentity": {"type": "IAMUser", "userName": "alice"},
            "requestParameters": {"userName": "bob"}});
        assert!(other_user(
            &Record::new(&other),
            "requestParameters.userName"
        ));
        let role = json!({"userIdentity": {"type": "AssumedRole"}, "requestParameters": {"userName": "bob"}});
        assert!(other_user(
            &Record::new(&role),
            "requestParameters.userName"
        ));
    }

    #[test]
    fn lifecycle_rules_that_expire_objects() {
        let expire = json!({"requestParameters": {"LifecycleConfiguration": {"Rule": {
            "ID": "x", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}}}});
        assert!(lifecycle_expires(&Record::new(&expire), None));
        assert!(lifecycle_expires(&Record::new(&expire), Some(1)));
        let transition = json!({"requestParameters": {"LifecycleConfiguration": {"Rule": [{
            "Status": "Enabled", "Transition": {"Days": 30, "StorageClass": "GLACIER"}}]}}});
        assert!(!lifecycle_expires(&Record::new(&transition), None));
        let month = json!({"requestParameters": {"LifecycleConfiguration": {"Rule": {
            "Status": "Enabled", "Expiration": {"Days": "30"}}}}});
        assert!(lifecycle_expires(&Record::new(&month), None));
        assert!(!lifecycle_expires(&Record::new(&month), Some(1)));
        let disabled = json!({"requestParameters": {"LifecycleConfiguration": {"Rule": {
            "Status": "Disabled", "Expiration": {"Days": 1}}}}});
        assert!(!lifecycle_expires(&Record::new(&disabled), None));
    }
}
