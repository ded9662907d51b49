//! `aws.ec2.enable-ebs-default-encryption`: turns on EBS encryption by
//! default in the target's account and region (Security Hub EC2.7), so
//! that every new volume and snapshot copy is encrypted. Existing volumes
//! are not touched, and the default KMS key is left as it is.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, Target};
use serde_json::{json, Value};

use crate::actions::account_region as where_;
use crate::actions::{account_target, ec2_client, no_params};
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
    ],
    params: &[],
};

fn validate(params: &Value) -> Result<(), String> {
    no_params(params, ID)
}

pub struct Ec2EnableEbsDefaultEncryption {
    aws: Arc<Aws>,
}

impl Ec2EnableEbsDefaultEncryption {
    pub fn new(aws: Arc<Aws>) -> Self {
        Ec2EnableEbsDefaultEncryption { aws }
    }
}

#[async_trait]
impl Action for Ec2EnableEbsDefaultEncryption {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        validate(params)
    }

    /// A setting of each account and region: the account, in `region`.
    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        Ok(account_target(account, region))
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        validate(params).map_err(ActionError::invalid)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let out = ec2
            .get_ebs_encryption_by_default()
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:GetEbsEncryptionByDefault", &where_(target), e))?;
        let enabled = out.ebs_encryption_by_default().unwrap_or(false);
        Ok(Observed {
            compliant: enabled,
            state: json!({ "ebs_encryption_by_default": enabled }),
            tags: Default::default(),
        })
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        validate(params).map_err(ActionError::invalid)?;
        let summary = if observed.compliant {
            format!(
                "EBS encryption by default is already on in {}/{}",
                target.account, target.region
            )
        } else {
            format!(
                "turn on EBS encryption by default in {}/{}",
                target.account, target.region
            )
        };
        Ok(Change {
            summary,
            before: observed.state.clone(),
            after: json!({ "ebs_encryption_by_default": true }),
        })
    }

    async fn apply(&self, target: &Target, params: &Value, _: &Change) -> Result<(), ActionError> {
        validate(params).map_err(ActionError::invalid)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        ec2.enable_ebs_encryption_by_default()
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:EnableEbsEncryptionByDefault", &where_(target), e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;
    use crate::AwsSettings;

    #[tokio::test]
    async fn takes_no_params_and_plans_the_setting() {
        let action = Ec2EnableEbsDefaultEncryption::new(Arc::new(
            Aws::new(AwsSettings::new("us-east-1")).await,
        ));
        assert!(action.validate_params(&json!({})).is_ok());
        assert!(action.validate_params(&Value::Null).is_ok());
        assert_eq!(
            action
                .validate_params(&json!({"kms_key": "x"}))
                .unwrap_err(),
            "params.kms_key: aws.ec2.enable-ebs-default-encryption takes no params"
        );
        let t = target("AwsAccount", "AWS::::Account:111122223333", Value::Null);
        let off = Observed {
            compliant: false,
            state: json!({"ebs_encryption_by_default": false}),
            tags: Default::default(),
        };
        let change = action.plan(&t, &json!({}), &off).unwrap();
        assert_eq!(change.before, json!({"ebs_encryption_by_default": false}));
        assert_eq!(change.after, json!({"ebs_encryption_by_default": true}));
        assert_eq!(
            change.summary,
            "turn on EBS encryption by default in 111122223333/us-east-1"
        );
        let on = Observed {
            compliant: true,
            state: json!({"ebs_encryption_by_default": true}),
            tags: Default::default(),
        };
        assert!(action
            .plan(&t, &json!({}), &on)
            .unwrap()
            .summary
            .contains("already on"));
    }
}
