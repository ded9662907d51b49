//! CIS 1.5 / IAM.9: MFA is on for the root user
//! (`GetAccountSummary`'s `AccountMFAEnabled`).

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};
use serde_json::json;

use super::{on_account, reads};
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "iam.root-mfa",
    title: "MFA is enabled for the root user",
    severity: Severity::Critical,
    resource_type: "AwsAccount",
    service: "iam",
    controls: &["IAM.9"],
    permissions: &["iam:GetAccountSummary"],
    account_wide: true,
};

pub struct RootMfa(pub Arc<Aws>);

pub fn judge(account: &str, region: &str, mfa_enabled: i32) -> Verdict {
    on_account(
        account,
        region,
        mfa_enabled == 1,
        if mfa_enabled == 1 {
            "the root user has an MFA device"
        } else {
            "the root user has no MFA device (AccountMFAEnabled = 0)"
        },
        json!({"AccountMFAEnabled": mfa_enabled}),
    )
}

#[async_trait]
impl Check for RootMfa {
    fn spec(&self) -> &'static CheckSpec {
        &SPEC
    }

    async fn run(
        &self,
        account: &str,
        region: &str,
        r: &ScanReads,
    ) -> Result<Vec<Verdict>, ActionError> {
        let summary = reads::account_summary(&self.0, r, account, region).await?;
        let on = summary.get("AccountMFAEnabled").copied().unwrap_or(0);
        Ok(vec![judge(account, region, on)])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_without_mfa_fails() {
        assert!(super::judge("1", "r", 1).pass);
        assert!(!super::judge("1", "r", 0).pass);
    }
}
