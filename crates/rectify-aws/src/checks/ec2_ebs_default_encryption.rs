//! CIS 2.2.1 / EC2.7: EBS encryption by default is on in the region.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};
use serde_json::json;

use super::on_account;
use crate::errors::sdk_error_on;
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "ec2.ebs-default-encryption",
    title: "EBS default encryption is enabled",
    severity: Severity::Medium,
    resource_type: "AwsAccount",
    service: "ec2",
    controls: &["EC2.7"],
    permissions: &["ec2:GetEbsEncryptionByDefault"],
    account_wide: false,
};

pub struct EbsDefaultEncryption(pub Arc<Aws>);

#[async_trait]
impl Check for EbsDefaultEncryption {
    fn spec(&self) -> &'static CheckSpec {
        &SPEC
    }

    async fn run(
        &self,
        account: &str,
        region: &str,
        r: &ScanReads,
    ) -> Result<Vec<Verdict>, ActionError> {
        let config = self.0.config_for(account, region).await?;
        let ec2 = aws_sdk_ec2::Client::new(&config);
        let at = format!("account {account} in {region}");
        let on = r
            .call("ec2", region, || async {
                ec2.get_ebs_encryption_by_default()
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("ec2:GetEbsEncryptionByDefault", &at, e))
            })
            .await?
            .ebs_encryption_by_default()
            .unwrap_or(false);
        Ok(vec![on_account(
            account,
            region,
            on,
            format!(
                "EBS encryption by default {} in {region}",
                if on { "on" } else { "off" }
            ),
            json!({"EbsEncryptionByDefault": on}),
        )])
    }
}
