//! CIS 3.1 / CloudTrail.1: at least one multi-Region trail is logging.
//! (CloudTrail.1 also asks for read and write management events; trails
//! with event selectors that leave some out are not told apart here.)

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};
use serde_json::json;

use super::{on_account, reads};
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "cloudtrail.multi-region",
    title: "At least one multi-Region CloudTrail trail is logging",
    severity: Severity::High,
    resource_type: "AwsAccount",
    service: "cloudtrail",
    controls: &["CloudTrail.1"],
    permissions: &["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus"],
    account_wide: true,
};

pub struct MultiRegionTrail(pub Arc<Aws>);

pub fn judge(account: &str, region: &str, trails: &[reads::TrailRead]) -> Verdict {
    let good: Vec<&str> = trails
        .iter()
        .filter(|t| t.multi_region && t.logging)
        .map(|t| t.name.as_str())
        .collect();
    on_account(
        account,
        region,
        !good.is_empty(),
        if good.is_empty() {
            format!(
                "no multi-Region trail is logging ({} trail(s): {})",
                trails.len(),
                trails
                    .iter()
                    .map(|t| format!(
                        "{} multi-Region {} logging {}",
                        t.name, t.multi_region, t.logging
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            format!("multi-Region trail(s) logging: {}", good.join(", "))
        },
        json!({"trails": trails}),
    )
}

#[async_trait]
impl Check for MultiRegionTrail {
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
        Ok(vec![judge(account, region, &trails)])
    }
}
