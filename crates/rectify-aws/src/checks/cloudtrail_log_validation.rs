//! CIS 3.2 / CloudTrail.4: every trail has log file validation on.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};
use serde_json::json;

use super::reads;
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "cloudtrail.log-file-validation",
    title: "CloudTrail log file validation is enabled",
    severity: Severity::Low,
    resource_type: "AwsCloudTrailTrail",
    service: "cloudtrail",
    controls: &["CloudTrail.4"],
    permissions: &["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus"],
    account_wide: true,
};

pub struct LogFileValidation(pub Arc<Aws>);

#[async_trait]
impl Check for LogFileValidation {
    fn spec(&self) -> &'static CheckSpec {
        &SPEC
    }

    async fn run(
        &self,
        account: &str,
        region: &str,
        r: &ScanReads,
    ) -> Result<Vec<Verdict>, ActionError> {
        let trails = reads::trails(&self.0, r, account, region).await?;
        Ok(trails
            .iter()
            .map(|t| {
                Verdict::new(
                    account,
                    &t.home_region,
                    SPEC.resource_type,
                    t.arn.clone(),
                    t.log_file_validation,
                    format!(
                        "trail {}: log file validation {}",
                        t.name,
                        if t.log_file_validation { "on" } else { "off" }
                    ),
                    json!({"trail": t.name, "LogFileValidationEnabled": t.log_file_validation}),
                )
            })
            .collect())
    }
}
