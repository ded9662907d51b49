//! Resource policy documents (bucket policies and the like) as the actions
//! read and edit them: their statements, who a statement grants to, which
//! actions it allows, and edits of one statement by its `Sid` that keep
//! every other statement exactly as it was parsed (keys in their order).

use serde_json::{Map, Value};

use rectify_model::ActionError;

/// A policy document parsed from its text; `what` names it in errors.
pub(crate) fn parse(text: &str, what: &str) -> Result<Value, ActionError> {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ActionError::invalid(format!(
            "{what}: the policy is not a JSON object"
        ))),
        Err(e) => Err(ActionError::invalid(format!(
            "{what}: the policy is not JSON: {e}"
        ))),
    }
}

/// The statements of a policy: `Statement` as a list, or a single one.
pub(crate) fn statements(policy: &Value) -> Vec<&Value> {
    match &policy["Statement"] {
        Value::Array(a) => a.iter().collect(),
        s @ Value::Object(_) => vec![s],
        _ => Vec::new(),
    }
}

/// A string or a list of strings, as policies write them.
pub(crate) fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// IAM's wildcard match (`*`, `?`); `case_sensitive` for resources,
/// not for actions.
pub(crate) fn wildcard_matches(pattern: &str, value: &str, case_sensitive: bool) -> bool {
    fn go(p: &[char], a: &[char]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], a) || (!a.is_empty() && go(p, &a[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &a[1..]),
            (Some(x), Some(y)) => x == y && go(&p[1..], &a[1..]),
            _ => false,
        }
    }
    let fold = |s: &str| -> Vec<char> {
        if case_sensitive {
            s.chars().collect()
        } else {
            s.to_lowercase().chars().collect()
        }
    };
    go(&fold(pattern), &fold(value))
}

/// Whether `statement` (whatever its effect) applies to `action`, through
/// `Action` or `NotAction`.
pub(crate) fn covers_action(statement: &Value, action: &str) -> bool {
    if let Some(not) = statement.get("NotAction") {
        !strings(not)
            .iter()
            .any(|p| wildcard_matches(p, action, false))
    } else {
        strings(&statement["Action"])
            .iter()
            .any(|p| wildcard_matches(p, action, false))
    }
}

/// Whether `statement` applies to the resource ARN `arn`, through
/// `Resource` or `NotResource`.
pub(crate) fn covers_resource(statement: &Value, arn: &str) -> bool {
    if let Some(not) = statement.get("NotResource") {
        !strings(not).iter().any(|p| wildcard_matches(p, arn, true))
    } else {
        strings(&statement["Resource"])
            .iter()
            .any(|p| wildcard_matches(p, arn, true))
    }
}

/// The `AWS` principals of a statement; `Principal: "*"` is `["*"]`.
pub(crate) fn aws_principals(statement: &Value) -> Vec<&str> {
    match &statement["Principal"] {
        p @ Value::String(_) => strings(p),
        Value::Object(o) => o.get("AWS").map(strings).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Whether a statement's principal is everyone (`"*"` or `{"AWS": "*"}`).
pub(crate) fn grants_everyone(statement: &Value) -> bool {
    aws_principals(statement).contains(&"*")
}

/// The account of an `AWS` principal: a 12-digit id, or the account field
/// of an IAM/STS ARN; `None` for `*`, services and what is not an account.
pub(crate) fn principal_account(principal: &str) -> Option<&str> {
    let is_account = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    if is_account(principal) {
        return Some(principal);
    }
    let parts: Vec<&str> = principal.splitn(6, ':').collect();
    match parts[..] {
        ["arn", _, "iam" | "sts", _, account, _] if is_account(account) => Some(account),
        _ => None,
    }
}

/// The condition value(s) a statement sets for `key` (case-insensitive)
/// under `operator`, as text (`true`/`"true"` both `true`).
pub(crate) fn condition_values(statement: &Value, operator: &str, key: &str) -> Vec<String> {
    let Some(ops) = statement["Condition"].as_object() else {
        return Vec::new();
    };
    ops.iter()
        .filter(|(op, _)| op.as_str() == operator)
        .filter_map(|(_, keys)| keys.as_object())
        .flat_map(|keys| keys.iter())
        .filter(|(k, _)| k.eq_ignore_ascii_case(key))
        .flat_map(|(_, v)| match v {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        })
        .map(|v| match v {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .collect()
}

/// A statement's name for people: its `Sid`, or its position.
pub(crate) fn statement_name(statement: &Value, index: usize) -> String {
    statement["Sid"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(|s| format!("statement {s:?}"))
        .unwrap_or_else(|| format!("statement {}", index + 1))
}

/// The statement whose `Sid` is `sid`.
pub(crate) fn find_sid<'p>(policy: &'p Value, sid: &str) -> Option<&'p Value> {
    statements(policy).into_iter().find(|s| s["Sid"] == sid)
}

/// `policy` with `statement` in it: it replaces the statement with the same
/// `Sid`, or is appended; every other statement stays as it was. `None`
/// (no policy): a new document holding only `statement`.
pub(crate) fn with_statement(policy: Option<&Value>, statement: Value) -> Value {
    let sid = statement["Sid"].clone();
    let Some(policy) = policy else {
        let mut doc = Map::new();
        doc.insert("Version".into(), Value::String("2012-10-17".into()));
        doc.insert("Statement".into(), Value::Array(vec![statement]));
        return Value::Object(doc);
    };
    let mut doc = policy.clone();
    let mut list: Vec<Value> = statements(policy).into_iter().cloned().collect();
    match list.iter_mut().find(|s| s["Sid"] == sid) {
        Some(same) => *same = statement,
        None => list.push(statement),
    }
    doc["Statement"] = Value::Array(list);
    doc
}

/// `policy` without the statement whose `Sid` is `sid` (every other
/// statement as it was), and whether there was one. A document left with
/// no statement is `None`: the policy is to be deleted.
pub(crate) fn without_statement(policy: &Value, sid: &str) -> (Option<Value>, bool) {
    let list: Vec<Value> = statements(policy).into_iter().cloned().collect();
    let before = list.len();
    let kept: Vec<Value> = list.into_iter().filter(|s| s["Sid"] != sid).collect();
    let removed = kept.len() != before;
    if kept.is_empty() {
        return (None, removed);
    }
    let mut doc = policy.clone();
    doc["Statement"] = Value::Array(kept);
    (Some(doc), removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statements_principals_and_matching() {
        let policy = parse(
            r#"{"Version":"2012-10-17","Statement":{"Sid":"One","Effect":"Allow",
                "Principal":{"AWS":["arn:aws:iam::444455556666:root","777788889999","*"]},
                "Action":"s3:Get*","Resource":"arn:aws:s3:::b/*"}}"#,
            "bucket b",
        )
        .unwrap();
        let all = statements(&policy);
        assert_eq!(all.len(), 1);
        let s = all[0];
        assert!(grants_everyone(s));
        let accounts: Vec<&str> = aws_principals(s)
            .into_iter()
            .filter_map(principal_account)
            .collect();
        assert_eq!(accounts, ["444455556666", "777788889999"]);
        assert_eq!(
            principal_account("arn:aws:sts::111122223333:assumed-role/r/s"),
            Some("111122223333")
        );
        assert_eq!(principal_account("cloudfront.amazonaws.com"), None);
        assert!(covers_action(s, "s3:GetObject"));
        assert!(!covers_action(s, "s3:PutObject"));
        assert!(covers_resource(s, "arn:aws:s3:::b/key"));
        assert!(!covers_resource(s, "arn:aws:s3:::b"));
        assert!(!covers_resource(s, "arn:aws:s3:::B/key"));
        assert!(covers_action(
            &json!({"NotAction": "s3:Delete*"}),
            "s3:PutBucketAcl"
        ));
        assert!(!covers_action(
            &json!({"NotAction": "s3:*"}),
            "s3:PutBucketAcl"
        ));
        assert_eq!(statement_name(s, 0), "statement \"One\"");
        assert_eq!(statement_name(&json!({}), 2), "statement 3");
        assert!(parse("[]", "x")
            .unwrap_err()
            .message
            .contains("not a JSON object"));
        assert!(parse("{", "x").unwrap_err().message.contains("not JSON"));
    }

    #[test]
    fn conditions_as_text() {
        let s = json!({"Condition": {"Bool": {"AWS:SecureTransport": false},
            "StringEquals": {"aws:SecureTransport": "false"}}});
        assert_eq!(
            condition_values(&s, "Bool", "aws:SecureTransport"),
            ["false"]
        );
        let s = json!({"Condition": {"Bool": {"aws:SecureTransport": ["false"]}}});
        assert_eq!(
            condition_values(&s, "Bool", "aws:securetransport"),
            ["false"]
        );
        assert!(condition_values(&json!({}), "Bool", "k").is_empty());
    }

    #[test]
    fn edits_by_sid_keep_the_other_statements() {
        let text = r#"{"Version":"2012-10-17","Id":"P","Statement":[
            {"Sid":"Keep","Principal":"*","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
            {"Effect":"Deny","Action":"s3:*","Principal":"*","Resource":"*"}]}"#;
        let policy = parse(text, "b").unwrap();
        let added = with_statement(Some(&policy), json!({"Sid": "New", "Effect": "Deny"}));
        let list = statements(&added);
        assert_eq!(list.len(), 3);
        // Key order as parsed.
        assert_eq!(
            serde_json::to_string(list[0]).unwrap(),
            r#"{"Sid":"Keep","Principal":"*","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#
        );
        assert_eq!(added["Id"], "P");
        let replaced = with_statement(Some(&added), json!({"Sid": "New", "Effect": "Allow"}));
        assert_eq!(statements(&replaced).len(), 3);
        assert_eq!(find_sid(&replaced, "New").unwrap()["Effect"], "Allow");
        let (back, removed) = without_statement(&replaced, "New");
        assert!(removed);
        assert_eq!(back.unwrap(), policy);
        let (none, removed) =
            without_statement(&with_statement(None, json!({"Sid": "Only"})), "Only");
        assert!(removed && none.is_none());
        let (same, removed) = without_statement(&policy, "Absent");
        assert!(!removed);
        assert_eq!(same.unwrap(), policy);
    }
}
