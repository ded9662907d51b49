//! CIS 3.3 / Config.1: AWS Config records every supported resource type
//! in the region, and is recording.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};
use serde_json::json;

use super::{on_account, reads};
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "config.recorder",
    title: "AWS Config is enabled and records all resource types",
    severity: Severity::Medium,
    resource_type: "AwsAccount",
    service: "config",
    controls: &["Config.1"],
    permissions: &[
        "config:DescribeConfigurationRecorders",
        "config:DescribeConfigurationRecorderStatus",
    ],
    account_wide: false,
};

pub struct ConfigRecorder(pub Arc<Aws>);

#[async_trait]
impl Check for ConfigRecorder {
    fn spec(&self) -> &'static CheckSpec {
        &SPEC
    }

    async fn run(
        &self,
        account: &str,
        region: &str,
        r: &ScanReads,
    ) -> Result<Vec<Verdict>, ActionError> {
        let read = reads::config_recorders(&self.0, r, account, region).await?;
        let all_supported = read
            .recorders
            .iter()
            .any(|rec| rec.recording_group().is_some_and(|g| g.all_supported()));
        let recording = read.statuses.iter().any(|s| s.recording());
        let count = read.recorders.len();
        Ok(vec![on_account(
            account,
            region,
            recording && all_supported,
            if count == 0 {
                format!("no configuration recorder in {region}")
            } else {
                format!(
                    "recorder in {region}: recording {recording}, all supported types {all_supported}"
                )
            },
            json!({"recorders": count, "recording": recording, "all_supported": all_supported}),
        )])
    }
}
