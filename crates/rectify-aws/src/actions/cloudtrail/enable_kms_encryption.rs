//! `aws.cloudtrail.enable-kms-encryption`: encrypts the log files of a
//! trail with a customer managed KMS key (Security Hub CloudTrail.2),
//! the key given by the rule's param `kms_key_id`. Whoever reads the log
//! files (people, a SIEM, Athena) then needs `kms:Decrypt` on the key: the
//! jobs wait for a person's approval by default. The trail's encryption as
//! it was can be restored (`rectify jobs revert`).

use std::sync::Arc;

use rectify_model::{ActionError, ActionSpec, Change, Observed, ParamSpec, Target};
use serde_json::Value;

use super::{
    check_key_param, key_in_home_region, same_key, trail_of, verify_trail, TrailSettings,
    TRAIL_TYPE,
};
use crate::actions::{no_change, params_object, recorded, reject_unknown, string_param};
use crate::Aws;

pub const ID: &str = "aws.cloudtrail.enable-kms-encryption";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Encrypt a CloudTrail trail's log files with a customer managed KMS key.",
    controls: &["CloudTrail.2"],
    resource_types: &[TRAIL_TYPE],
    account_wide: false,
    permissions: &[
        "cloudtrail:GetTrail",
        "cloudtrail:ListTags",
        "cloudtrail:UpdateTrail",
        "cloudtrail:DescribeTrails",
    ],
    params: &[ParamSpec {
        name: "kms_key_id",
        kind: "string",
        default: "null",
        doc: "Required to change a trail: the KMS key (its ARN, or its key id in the trail's account) in the trail's home region. Its key policy must allow the CloudTrail service (cloudtrail.amazonaws.com) kms:GenerateDataKey* and kms:DescribeKey for the trail (condition aws:SourceArn or kms:EncryptionContext:aws:cloudtrail:arn), and those who read the logs kms:Decrypt; else CloudTrail refuses the update.",
    }],
    // GetTrail and ListTags (check), UpdateTrail, GetTrail (verify).
    calls_per_fix: 4,
    approval_by_default: true,
};

/// The key param, when given.
fn key_param(params: &Value) -> Result<Option<String>, String> {
    let p = params_object(params)?;
    reject_unknown(&p, &["kms_key_id"], ID)?;
    let key = string_param(&p, "kms_key_id", 2048)?;
    if let Some(k) = &key {
        check_key_param(k)?;
    }
    Ok(key)
}

fn complies(s: &TrailSettings) -> bool {
    s.kms_key_id.is_some()
}

fn describe(s: &TrailSettings) -> String {
    match &s.kms_key_id {
        Some(k) => format!("encryption with KMS key {k}"),
        None => "no KMS encryption (S3 server-side encryption only)".to_string(),
    }
}

pub struct CloudTrailEnableKmsEncryption {
    aws: Arc<Aws>,
}

impl CloudTrailEnableKmsEncryption {
    pub fn new(aws: Arc<Aws>) -> Self {
        CloudTrailEnableKmsEncryption { aws }
    }

    /// Compliant when the trail is encrypted with the key the change set.
    async fn verify_trail(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let chosen = key_param(params).map_err(ActionError::invalid)?;
        verify_trail(&self.aws, target, ID, |s| match (&s.kms_key_id, &chosen) {
            (Some(now), Some(c)) => same_key(now, c) || now == c,
            (now, _) => now.is_some(),
        })
        .await
    }

    fn plan_trail(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        let chosen = key_param(params).map_err(ActionError::invalid)?;
        let name = trail_of(target, ID)?;
        let before: TrailSettings = recorded(&observed.state, ID)?;
        if let Some(current) = &before.kms_key_id {
            return Ok(no_change(
                format!("trail {name} is already encrypted with KMS key {current}"),
                observed,
            ));
        }
        let Some(key) = chosen else {
            return Err(ActionError::not_configured(format!(
                "{ID}: trail {name} is not encrypted with KMS, and the rule names no key: set params.kms_key_id \
                 to a customer managed key in {} whose key policy allows CloudTrail (cloudtrail.amazonaws.com) \
                 kms:GenerateDataKey* and kms:DescribeKey, and the log readers kms:Decrypt",
                target.region
            )));
        };
        key_in_home_region(&key, &target.region, name, ID)?;
        let after = TrailSettings {
            kms_key_id: Some(key.clone()),
            ..before
        };
        Ok(Change {
            summary: format!(
                "encrypt the log files of trail {name} with KMS key {key} (readers of the logs need kms:Decrypt on it)"
            ),
            before: observed.state.clone(),
            after: serde_json::to_value(after).expect("plain struct"),
        })
    }
}

super::trail_setting_action!(CloudTrailEnableKmsEncryption, key_param, complies, describe);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;
    use crate::AwsSettings;
    use rectify_model::Action;
    use serde_json::json;

    #[tokio::test]
    async fn without_a_key_the_plan_says_what_to_configure() {
        let a = CloudTrailEnableKmsEncryption::new(Arc::new(
            Aws::new(AwsSettings::new("us-east-1")).await,
        ));
        assert!(a.validate_params(&json!({})).is_ok());
        assert!(a
            .validate_params(&json!({"kms_key_id": "alias/logs"}))
            .unwrap_err()
            .contains("not an alias"));
        let t = target(
            TRAIL_TYPE,
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/main",
            Value::Null,
        );
        let plain = Observed {
            compliant: false,
            state: json!({"log_file_validation": true}),
            tags: Default::default(),
        };
        let refused = a.plan(&t, &json!({}), &plain).unwrap_err();
        assert!(
            refused.message.contains("set params.kms_key_id"),
            "{}",
            refused.message
        );
        assert!(refused.message.contains("cloudtrail.amazonaws.com"));
        let other_region = json!({"kms_key_id": "arn:aws:kms:eu-west-1:111122223333:key/k-1"});
        assert!(a.plan(&t, &other_region, &plain).is_err());
        let change = a.plan(&t, &json!({"kms_key_id": "k-1"}), &plain).unwrap();
        assert_eq!(change.after["kms_key_id"], "k-1");
        assert_eq!(change.after["log_file_validation"], true);
        // CloudTrail reports the key by ARN: the undo still matches it.
        let now = Observed {
            compliant: true,
            state: json!({"log_file_validation": true,
                          "kms_key_id": "arn:aws:kms:us-east-1:111122223333:key/k-1"}),
            tags: Default::default(),
        };
        let undo = a.revert_plan(&t, &json!({}), &change, &now).unwrap();
        assert!(
            undo.summary.contains("no KMS encryption"),
            "{}",
            undo.summary
        );
    }
}
