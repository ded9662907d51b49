//! `aws.ec2.enable-ebs-default-encryption`: turns on EBS encryption by
//! default in the target's account and region (Security Hub EC2.7), so
//! that every new volume and snapshot copy is encrypted. Existing volumes
//! are not touched. The default KMS key is read and shown in the plan and
//! left as it is, unless the param `kms_key_id` chooses one. The setting
//! and the key as they were can be restored (`rectify jobs revert`).

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::account_region as where_;
use crate::actions::{
    changed_since, ec2_client, params_object, recorded, reject_unknown, string_param,
};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.ec2.enable-ebs-default-encryption";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Turn on EBS encryption by default in the account and region.",
    controls: &["EC2.7"],
    resource_types: &["AwsAccount"],
    account_wide: false,
    permissions: &[
        "ec2:GetEbsEncryptionByDefault",
        "ec2:EnableEbsEncryptionByDefault",
        "ec2:DisableEbsEncryptionByDefault",
        "ec2:GetEbsDefaultKmsKeyId",
        "ec2:ModifyEbsDefaultKmsKeyId",
        "ec2:ResetEbsDefaultKmsKeyId",
    ],
    params: &[ParamSpec {
        name: "kms_key_id",
        kind: "string",
        default: "null",
        doc: "The KMS key new volumes are encrypted with, as its ARN or key id (the key policy must let the account's users and services use it). Default: the account's default key stays as it is.",
    }],
    // Check (setting and key), enable, read-back of the setting.
    calls_per_fix: 4,
    approval_by_default: false,
};

/// What EC2 answers for the default key when the account never chose one:
/// the AWS managed key for EBS.
const AWS_MANAGED_KEY: &str = "alias/aws/ebs";

fn kms_key_param(params: &Value) -> Result<Option<String>, String> {
    let p = params_object(params)?;
    reject_unknown(&p, &["kms_key_id"], ID)?;
    let key = string_param(&p, "kms_key_id", 2048)?;
    if let Some(k) = &key {
        // EC2 reports the key it uses by ARN: an alias could never be
        // compared with it.
        if k.starts_with("alias/") || k.contains(":alias/") {
            return Err(format!(
                "params.kms_key_id: give the key's ARN or key id, not an alias ({k})"
            ));
        }
    }
    Ok(key)
}

/// Whether `current` (as EC2 reports it, an ARN) is the key `chosen` names
/// (an ARN or a key id).
fn same_key(current: &str, chosen: &str) -> bool {
    current == chosen || current.ends_with(&format!(":key/{chosen}"))
}

/// The account-region setting as `check` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Setting {
    ebs_encryption_by_default: bool,
    /// The default KMS key (`GetEbsDefaultKmsKeyId`). Absent in changes
    /// recorded before it was read: then it cannot be restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kms_key_id: Option<String>,
}

impl Setting {
    fn key_text(&self) -> String {
        match self.kms_key_id.as_deref() {
            None => "not recorded".to_string(),
            Some(AWS_MANAGED_KEY) => format!("{AWS_MANAGED_KEY} (the AWS managed key)"),
            Some(k) => k.to_string(),
        }
    }
}

pub struct Ec2EnableEbsDefaultEncryption {
    aws: Arc<Aws>,
}

impl Ec2EnableEbsDefaultEncryption {
    pub fn new(aws: Arc<Aws>) -> Self {
        Ec2EnableEbsDefaultEncryption { aws }
    }

    /// Brings the setting from `from` to `to`: the key first, so that no
    /// volume is encrypted by default with a key about to be replaced.
    async fn write(
        &self,
        target: &Target,
        from: &Setting,
        to: &Setting,
    ) -> Result<(), ActionError> {
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let here = where_(target);
        if let Some(key) = to.kms_key_id.as_deref() {
            if from.kms_key_id.as_deref() != Some(key) {
                if key == AWS_MANAGED_KEY {
                    ec2.reset_ebs_default_kms_key_id()
                        .send()
                        .await
                        .map_err(|e| sdk_error_on("ec2:ResetEbsDefaultKmsKeyId", &here, e))?;
                } else {
                    ec2.modify_ebs_default_kms_key_id()
                        .kms_key_id(key)
                        .send()
                        .await
                        .map_err(|e| sdk_error_on("ec2:ModifyEbsDefaultKmsKeyId", &here, e))?;
                }
            }
        }
        if from.ebs_encryption_by_default != to.ebs_encryption_by_default {
            if to.ebs_encryption_by_default {
                ec2.enable_ebs_encryption_by_default()
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("ec2:EnableEbsEncryptionByDefault", &here, e))?;
            } else {
                ec2.disable_ebs_encryption_by_default()
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("ec2:DisableEbsEncryptionByDefault", &here, e))?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Action for Ec2EnableEbsDefaultEncryption {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        kms_key_param(params).map(|_| ())
    }

    // discover: a setting of each account and region: the account, in `region`.
    crate::actions::account_setting_discover!();

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let chosen = kms_key_param(params).map_err(ActionError::invalid)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let here = where_(target);
        // The setting and the key (shown in the plan, kept for an undo),
        // read together.
        let (enabled, key) = tokio::join!(
            ec2.get_ebs_encryption_by_default().send(),
            ec2.get_ebs_default_kms_key_id().send()
        );
        let enabled = enabled
            .map_err(|e| sdk_error_on("ec2:GetEbsEncryptionByDefault", &here, e))?
            .ebs_encryption_by_default()
            .unwrap_or(false);
        let key = key
            .map_err(|e| sdk_error_on("ec2:GetEbsDefaultKmsKeyId", &here, e))?
            .kms_key_id()
            .unwrap_or(AWS_MANAGED_KEY)
            .to_string();
        let key_ok = chosen.as_deref().is_none_or(|c| same_key(&key, c));
        let setting = Setting {
            ebs_encryption_by_default: enabled,
            kms_key_id: Some(key),
        };
        Ok(Observed::new(
            enabled && key_ok,
            setting,
            Default::default(),
        ))
    }

    /// Reads back what the write changed: the setting, and the default
    /// key only when a key is chosen (without `kms_key_id` the key is
    /// left as it is).
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let chosen = kms_key_param(params).map_err(ActionError::invalid)?;
        if chosen.is_some() {
            return self.check(target, params).await;
        }
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let enabled = ec2
            .get_ebs_encryption_by_default()
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:GetEbsEncryptionByDefault", &where_(target), e))?
            .ebs_encryption_by_default()
            .unwrap_or(false);
        let setting = Setting {
            ebs_encryption_by_default: enabled,
            kms_key_id: None,
        };
        Ok(Observed::new(enabled, setting, Default::default()))
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        let chosen = kms_key_param(params).map_err(ActionError::invalid)?;
        let before: Setting = recorded(&observed.state, ID)?;
        let current = before
            .kms_key_id
            .clone()
            .unwrap_or_else(|| AWS_MANAGED_KEY.to_string());
        let after = Setting {
            ebs_encryption_by_default: true,
            kms_key_id: Some(match &chosen {
                Some(c) if !same_key(&current, c) => c.clone(),
                _ => current.clone(),
            }),
        };
        let place = format!("{}/{}", target.account, target.region);
        let key = if after.kms_key_id == before.kms_key_id {
            format!(
                "new volumes encrypted with the default KMS key {} (left as it is)",
                before.key_text()
            )
        } else {
            format!(
                "default KMS key set to {} (was {})",
                after.key_text(),
                before.key_text()
            )
        };
        let summary = if before.ebs_encryption_by_default {
            format!("EBS encryption by default is already on in {place}; {key}")
        } else {
            format!("turn on EBS encryption by default in {place}; {key}")
        };
        Ok(Change::new(summary, observed.state.clone(), after))
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        kms_key_param(params).map_err(ActionError::invalid)?;
        let before: Setting = recorded(&change.before, ID)?;
        let after: Setting = recorded(&change.after, ID)?;
        self.write(target, &before, &after).await
    }

    /// Restores the setting and the default key `applied` found; refuses
    /// when they are no longer what `applied` left.
    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        kms_key_param(params).map_err(ActionError::invalid)?;
        let left: Setting = recorded(&applied.after, ID)?;
        let mut restore: Setting = recorded(&applied.before, ID)?;
        let mut current: Setting = recorded(&now.state, ID)?;
        if current.kms_key_id.is_none() {
            // A read-back without the key (`verify` without `kms_key_id`,
            // whose change left the key alone): the key the change left.
            current.kms_key_id = left.kms_key_id.clone();
        }
        let place = format!("{}/{}", target.account, target.region);
        let key_moved = left.kms_key_id.as_deref().is_some_and(|k| {
            !current
                .kms_key_id
                .as_deref()
                .is_some_and(|c| same_key(c, k))
        });
        if current.ebs_encryption_by_default != left.ebs_encryption_by_default || key_moved {
            return Err(changed_since(
                &format!("EBS encryption by default in {place}"),
                &serde_json::to_value(&current).expect("plain struct"),
                &serde_json::to_value(&left).expect("plain struct"),
            ));
        }
        let mut summary = format!(
            "set EBS encryption by default in {place} back to {}",
            if restore.ebs_encryption_by_default {
                "on"
            } else {
                "off"
            }
        );
        match &restore.kms_key_id {
            Some(_) if restore.kms_key_id != current.kms_key_id => {
                summary.push_str(&format!(
                    " and the default KMS key back to {}",
                    restore.key_text()
                ));
            }
            Some(_) => {}
            None => {
                // A change recorded before the key was read: the key stays.
                restore.kms_key_id = current.kms_key_id.clone();
                summary.push_str(
                    "; the default KMS key from before cannot be restored (the change did not record it): it stays as it is",
                );
            }
        }
        Ok(Change::new(
            summary,
            serde_json::to_value(current).expect("plain struct"),
            restore,
        ))
    }

    crate::actions::revert_by_apply!();

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let now: Setting = recorded(&self.check(target, params).await?.state, ID)?;
        let restored: Setting = recorded(&change.after, ID)?;
        let key_back = match (restored.kms_key_id.as_deref(), now.kms_key_id.as_deref()) {
            (None, _) => true,
            // The AWS managed key may be reported by its alias's ARN.
            (Some(AWS_MANAGED_KEY), Some(k)) => {
                k == AWS_MANAGED_KEY || k.ends_with(":alias/aws/ebs")
            }
            (Some(want), Some(k)) => same_key(k, want),
            (Some(_), None) => false,
        };
        Ok(now.ebs_encryption_by_default == restored.ebs_encryption_by_default && key_back)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;
    use crate::AwsSettings;
    use serde_json::json;

    #[tokio::test]
    async fn params_and_the_plan_shows_the_key() {
        let action = Ec2EnableEbsDefaultEncryption::new(Arc::new(
            Aws::new(AwsSettings::new("us-east-1")).await,
        ));
        assert!(action.validate_params(&json!({})).is_ok());
        assert!(action.validate_params(&Value::Null).is_ok());
        assert!(action
            .validate_params(&json!({"kms_key_id": "1234abcd-12ab-34cd-56ef-1234567890ab"}))
            .is_ok());
        assert_eq!(
            action.validate_params(&json!({"kms_key": "x"})).unwrap_err(),
            "params.kms_key: unknown param of aws.ec2.enable-ebs-default-encryption (known: kms_key_id)"
        );
        assert!(action
            .validate_params(&json!({"kms_key_id": "alias/mine"}))
            .unwrap_err()
            .contains("not an alias"));
        let t = target("AwsAccount", "AWS::::Account:111122223333", Value::Null);
        let off = Observed {
            compliant: false,
            state: json!({"ebs_encryption_by_default": false, "kms_key_id": "alias/aws/ebs"}),
            tags: Default::default(),
        };
        let change = action.plan(&t, &json!({}), &off).unwrap();
        assert_eq!(
            change.after,
            json!({"ebs_encryption_by_default": true, "kms_key_id": "alias/aws/ebs"})
        );
        assert_eq!(
            change.summary,
            "turn on EBS encryption by default in 111122223333/us-east-1; new volumes encrypted \
             with the default KMS key alias/aws/ebs (the AWS managed key) (left as it is)"
        );
        let key = "arn:aws:kms:us-east-1:111122223333:key/k-1";
        let chosen = action
            .plan(&t, &json!({"kms_key_id": "k-1"}), &off)
            .unwrap();
        assert_eq!(chosen.after["kms_key_id"], "k-1");
        assert!(chosen.summary.contains("default KMS key set to k-1"));
        assert!(same_key(key, "k-1") && same_key(key, key) && !same_key(key, "k-2"));
    }
}
