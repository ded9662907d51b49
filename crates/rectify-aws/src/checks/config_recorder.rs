//! CIS 3.3 / Config.1: AWS Config records every supported resource type
//! in the region, and is recording.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};
use serde_json::json;

use super::on_account;
use crate::errors::sdk_error_on;
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
        let config = self.0.config_for(account, region).await?;
        let client = aws_sdk_config::Client::new(&config);
        let at = format!("account {account} in {region}");
        let recorders = r
            .call("config", region, || async {
                client
                    .describe_configuration_recorders()
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("config:DescribeConfigurationRecorders", &at, e))
            })
            .await?;
        let all_supported = recorders
            .configuration_recorders()
            .iter()
            .any(|rec| rec.recording_group().is_some_and(|g| g.all_supported()));
        let recording = if recorders.configuration_recorders().is_empty() {
            false
        } else {
            r.call("config", region, || async {
                client
                    .describe_configuration_recorder_status()
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("config:DescribeConfigurationRecorderStatus", &at, e))
            })
            .await?
            .configuration_recorders_status()
            .iter()
            .any(|s| s.recording())
        };
        let count = recorders.configuration_recorders().len();
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
