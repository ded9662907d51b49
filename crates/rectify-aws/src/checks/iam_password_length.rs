//! CIS 1.8 / IAM.15: the account's password policy requires 14 or more
//! characters (no policy: fails).

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};
use serde_json::json;

use super::{on_account, reads};
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "iam.password-length",
    title: "The IAM password policy requires a minimum length of 14 or more",
    severity: Severity::Medium,
    resource_type: "AwsAccount",
    service: "iam",
    controls: &["IAM.15"],
    permissions: &["iam:GetAccountPasswordPolicy"],
    account_wide: true,
};

pub const MIN_LENGTH: i32 = 14;

pub struct PasswordLength(pub Arc<Aws>);

pub fn judge(account: &str, region: &str, policy: Option<&reads::PasswordPolicyRead>) -> Verdict {
    let length = policy.and_then(|p| p.minimum_length);
    let pass = length.is_some_and(|n| n >= MIN_LENGTH);
    on_account(
        account,
        region,
        pass,
        match (policy, length) {
            (None, _) => "the account has no password policy".to_string(),
            (_, Some(n)) => format!("minimum password length {n} (at least {MIN_LENGTH} required)"),
            (_, None) => "the password policy sets no minimum length".to_string(),
        },
        json!({"MinimumPasswordLength": length, "policy": policy.is_some()}),
    )
}

#[async_trait]
impl Check for PasswordLength {
    fn spec(&self) -> &'static CheckSpec {
        &SPEC
    }

    async fn run(
        &self,
        account: &str,
        region: &str,
        r: &ScanReads,
    ) -> Result<Vec<Verdict>, ActionError> {
        let policy = reads::password_policy(&self.0, r, account, region).await?;
        Ok(vec![judge(account, region, policy.as_ref().as_ref())])
    }
}
