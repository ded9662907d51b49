//! CIS 1.4 / IAM.4: the root user has no access keys
//! (`GetAccountSummary`'s `AccountAccessKeysPresent`).

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};
use serde_json::json;

use super::{on_account, reads};
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "iam.root-access-keys",
    title: "The root user has no access keys",
    severity: Severity::Critical,
    resource_type: "AwsAccount",
    service: "iam",
    controls: &["IAM.4"],
    permissions: &["iam:GetAccountSummary"],
    account_wide: true,
};

pub struct RootAccessKeys(pub Arc<Aws>);

/// Passes when the summary counts no root access key.
pub fn judge(account: &str, region: &str, keys_present: i32) -> Verdict {
    on_account(
        account,
        region,
        keys_present == 0,
        if keys_present == 0 {
            "the root user has no access keys".to_string()
        } else {
            format!("the root user has access keys (AccountAccessKeysPresent = {keys_present})")
        },
        json!({"AccountAccessKeysPresent": keys_present}),
    )
}

#[async_trait]
impl Check for RootAccessKeys {
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
        let present = summary
            .get("AccountAccessKeysPresent")
            .copied()
            .unwrap_or(0);
        Ok(vec![judge(account, region, present)])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn any_root_key_fails() {
        assert!(super::judge("1", "r", 0).pass);
        let v = super::judge("1", "r", 1);
        assert!(!v.pass && v.evidence.contains("has access keys"));
    }
}
