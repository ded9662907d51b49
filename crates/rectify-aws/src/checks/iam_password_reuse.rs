//! CIS 1.9 / IAM.16: the account's password policy prevents reuse of the
//! last 24 passwords (no policy: fails).

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};
use serde_json::json;

use super::{on_account, reads};
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "iam.password-reuse",
    title: "The IAM password policy prevents password reuse (24 remembered)",
    severity: Severity::Low,
    resource_type: "AwsAccount",
    service: "iam",
    controls: &["IAM.16"],
    permissions: &["iam:GetAccountPasswordPolicy"],
    account_wide: true,
};

pub const MIN_REMEMBERED: i32 = 24;

pub struct PasswordReuse(pub Arc<Aws>);

pub fn judge(account: &str, region: &str, policy: Option<&reads::PasswordPolicyRead>) -> Verdict {
    let reuse = policy.and_then(|p| p.reuse_prevention);
    on_account(
        account,
        region,
        reuse.is_some_and(|n| n >= MIN_REMEMBERED),
        match (policy, reuse) {
            (None, _) => "the account has no password policy".to_string(),
            (_, Some(n)) => {
                format!("{n} previous passwords remembered (at least {MIN_REMEMBERED} required)")
            }
            (_, None) => "the password policy allows reusing passwords".to_string(),
        },
        json!({"PasswordReusePrevention": reuse, "policy": policy.is_some()}),
    )
}

#[async_trait]
impl Check for PasswordReuse {
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
