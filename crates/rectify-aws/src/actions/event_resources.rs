//! The resource of a CloudTrail call or an AWS Config evaluation for the
//! resource types the model does not resolve itself (IAM users, KMS keys,
//! queues, topics, repositories, clusters): each action says where its
//! resource's id is in a call's request parameters and how a Config
//! resource id becomes the ASFF id; everything else (findings) goes to
//! `Target::from_event`. Also what these actions read alike: plain
//! resource names, and the AWS services a resource policy lets in.

use rectify_model::target::{CLOUDTRAIL_API_CALL, CONFIG_COMPLIANCE_CHANGE};
use rectify_model::{ActionError, Event, Target};
use serde_json::Value;

/// Where an event says the resource is.
pub(crate) struct Place {
    pub account: String,
    pub region: String,
    pub partition: String,
}

impl Place {
    /// The ARN of `resource` (`repository/name`, `cluster:name`) of
    /// `service` here.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition, self.region, self.account
        )
    }
}

fn text(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

/// The target of `event` for an action on `resource_type` (with `types`
/// its ASFF types, for findings). `from_call` reads a CloudTrail call's
/// `detail` and returns the resource id, `None` when the call names no
/// such resource; `config_type` is the Config resource type
/// (`AWS::KMS::Key`) and `from_config` turns its `resourceId` into the
/// resource id (`None`: not a resource id of that type). An OCSF finding
/// may name the type either way (`AWS::KMS::Key` or `AwsKmsKey`).
pub(crate) fn target_of(
    event: &Event,
    types: &[&str],
    resource_type: &str,
    from_call: impl Fn(&Place, &Value) -> Option<String>,
    config_type: &str,
    from_config: impl Fn(&Place, &str) -> Option<String>,
) -> Result<Target, ActionError> {
    let detail = &event.body["detail"];
    let place = |account: &Value, region: &Value| {
        let region = text(region).unwrap_or(&event.region).to_string();
        Place {
            account: text(account).unwrap_or(&event.account).to_string(),
            partition: rectify_model::partition_of(&region).to_string(),
            region,
        }
    };
    let (id, place) = if event.detail_type == CLOUDTRAIL_API_CALL {
        let call = text(&detail["eventName"]).unwrap_or("?");
        if let Some(code) = text(&detail["errorCode"]) {
            return Err(ActionError::invalid(format!(
                "CloudTrail call {call} failed ({code}): it changed nothing"
            )));
        }
        let place = place(&detail["recipientAccountId"], &detail["awsRegion"]);
        let id = from_call(&place, detail).ok_or_else(|| {
            ActionError::invalid(format!(
                "CloudTrail call {call} ({}) names no {resource_type} in its request parameters",
                event.id
            ))
        })?;
        (id, place)
    } else if event.detail_type == CONFIG_COMPLIANCE_CHANGE {
        let place = place(&detail["awsAccountId"], &detail["awsRegion"]);
        let kind = text(&detail["resourceType"]).unwrap_or("no resource type");
        let raw = text(&detail["resourceId"]).unwrap_or_default();
        let id = (kind == config_type)
            .then(|| from_config(&place, raw))
            .flatten()
            .ok_or_else(|| {
                ActionError::invalid(format!(
                    "Config evaluation {} is of {kind} `{raw}`, not of {config_type}",
                    event.id
                ))
            })?;
        (id, place)
    } else if event.detail_type == rectify_model::SECURITY_HUB_IMPORTED_V2 {
        // OCSF findings may spell the type as CloudFormation does (the
        // Config type): read as the ASFF type.
        let mut asff = event.clone();
        if let Some(findings) = asff.body["detail"]["findings"].as_array_mut() {
            for r in findings
                .iter_mut()
                .filter_map(|f| f["resources"].as_array_mut())
                .flatten()
            {
                if r["type"] == config_type {
                    r["type"] = Value::String(resource_type.to_string());
                }
            }
        }
        return Target::from_event(&asff, types).map_err(ActionError::invalid);
    } else {
        return Target::from_event(event, types).map_err(ActionError::invalid);
    };
    let target = Target {
        partition: place.partition.clone(),
        ..Target::listed(&place.account, &place.region, resource_type, id)
    };
    target
        .check_consistent()
        .map_err(|why| ActionError::invalid(format!("event {}: {why}; refused", event.id)))?;
    Ok(target)
}

/// `name` if it is a plain resource name: 1 to `max` characters, each a
/// letter, a digit or one of `extra`.
pub(crate) fn plain_name<'a>(name: &'a str, max: usize, extra: &str) -> Option<&'a str> {
    let ok = !name.is_empty()
        && name.chars().count() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
    ok.then_some(name)
}

/// The error of a target whose id is not a resource of the action's kind.
pub(crate) fn bad_id(action: &str, what: &str, target: &Target) -> ActionError {
    ActionError::invalid(format!(
        "{action}: resource id {:?} names no {what}; refused",
        target.resource_id
    ))
}

/// The AWS service principals (`sns.amazonaws.com`, ...) a resource
/// policy's `Allow` statements name, sorted: services that send to the
/// resource, which need the resource's KMS key too.
pub(crate) fn service_principals(policy: Option<&str>) -> Vec<String> {
    let Some(doc) = policy.and_then(|p| serde_json::from_str::<Value>(p).ok()) else {
        return Vec::new();
    };
    let statements = match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    };
    let mut found: Vec<String> = statements
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| match &s["Principal"]["Service"] {
            Value::String(one) => vec![one.clone()],
            Value::Array(many) => many
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(detail_type: &str, detail: Value) -> Event {
        let body = json!({"version": "0", "id": "e-1", "detail-type": detail_type,
            "source": "aws.x", "account": "111122223333", "time": "2026-12-02T10:00:00Z",
            "region": "eu-west-1", "resources": [], "detail": detail});
        Event {
            id: "e-1".into(),
            source: "aws.x".into(),
            detail_type: detail_type.into(),
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            time: "2026-12-02T10:00:00Z".into(),
            resources: Vec::new(),
            body,
            parsed: Default::default(),
        }
    }

    fn resolve(e: &Event) -> Result<Target, ActionError> {
        target_of(
            e,
            &["AwsKmsKey"],
            "AwsKmsKey",
            |p, d| {
                let id = d["requestParameters"]["keyId"].as_str()?;
                if id.starts_with("arn:") {
                    return Some(id.to_string());
                }
                Some(p.arn("kms", &format!("key/{id}")))
            },
            "AWS::KMS::Key",
            |p, id| Some(p.arn("kms", &format!("key/{id}"))),
        )
    }

    #[test]
    fn calls_and_evaluations() {
        let call = event(
            CLOUDTRAIL_API_CALL,
            json!({"eventName": "DisableKeyRotation", "awsRegion": "eu-west-1",
                   "recipientAccountId": "111122223333", "requestParameters": {"keyId": "k-1"}}),
        );
        assert_eq!(
            resolve(&call).unwrap().resource_id,
            "arn:aws:kms:eu-west-1:111122223333:key/k-1"
        );
        let failed = event(
            CLOUDTRAIL_API_CALL,
            json!({"eventName": "DisableKeyRotation", "errorCode": "AccessDenied",
                   "requestParameters": {"keyId": "k-1"}}),
        );
        assert!(resolve(&failed).unwrap_err().message.contains("failed"));
        let other_account = event(
            CLOUDTRAIL_API_CALL,
            json!({"eventName": "DisableKeyRotation", "recipientAccountId": "111122223333",
                   "requestParameters": {"keyId": "arn:aws:kms:eu-west-1:444455556666:key/k"}}),
        );
        // A key of another account is refused.
        assert!(resolve(&other_account)
            .unwrap_err()
            .message
            .contains("not in the finding's account"));
        let config = event(
            CONFIG_COMPLIANCE_CHANGE,
            json!({"resourceType": "AWS::KMS::Key", "resourceId": "k-2",
                   "awsAccountId": "111122223333", "awsRegion": "eu-west-1"}),
        );
        assert_eq!(resolve(&config).unwrap().resource_name(), "k-2");
        let wrong = event(
            CONFIG_COMPLIANCE_CHANGE,
            json!({"resourceType": "AWS::S3::Bucket", "resourceId": "b"}),
        );
        assert!(resolve(&wrong)
            .unwrap_err()
            .message
            .contains("not of AWS::KMS::Key"));
        let ocsf = event(
            rectify_model::SECURITY_HUB_IMPORTED_V2,
            json!({"findings": [{"metadata": {"uid": "f-1"},
                "cloud": {"account": {"uid": "111122223333"}, "region": "eu-west-1"},
                "resources": [{"type": "AWS::KMS::Key",
                               "uid": "arn:aws:kms:eu-west-1:111122223333:key/k-3"}]}]}),
        );
        assert_eq!(resolve(&ocsf).unwrap().resource_type, "AwsKmsKey");
        let policy = r#"{"Statement": [
            {"Effect": "Allow", "Principal": {"Service": ["sns.amazonaws.com", "events.amazonaws.com"]}, "Action": "sqs:SendMessage"},
            {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage"},
            {"Effect": "Deny", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "*"},
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "*"}]}"#;
        assert_eq!(
            service_principals(Some(policy)),
            ["events.amazonaws.com", "sns.amazonaws.com"]
        );
        assert!(service_principals(None).is_empty());
        assert!(service_principals(Some("not json")).is_empty());
        assert_eq!(plain_name("a-b_c", 10, "-_"), Some("a-b_c"));
        assert_eq!(plain_name("a/b", 10, "-_"), None);
        assert_eq!(plain_name("", 10, "-_"), None);
    }
}
