//! `aws.config.enable-recorder`: turns AWS Config on in the target's
//! account and region (Security Hub Config.1): a configuration recorder
//! recording all supported resource types (global ones included) with the
//! role of param `role_arn`, a delivery channel to the bucket of param
//! `bucket`, and the recorder started. What exists is kept: a recorder
//! recording fewer types is widened, a stopped one started. The undo
//! stops and deletes what the change created and restores what it changed
//! (`rectify jobs revert`).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_config::types::{
    ConfigurationRecorder, ConfigurationRecorderStatus, DeliveryChannel, RecordingGroup,
};
use rectify_model::{
    Action, ActionError, ActionSpec, Change, Observed, ParamSpec, ScanReads, Target,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::account_region as where_;
use crate::actions::{
    changed_since, client_for, params_object, recorded, reject_unknown, string_param,
};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.config.enable-recorder";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Turn AWS Config on: a recorder of all resource types, a delivery channel, recording.",
    controls: &["Config.1"],
    resource_types: &["AwsAccount"],
    account_wide: false,
    permissions: &[
        "config:DescribeConfigurationRecorders",
        "config:DescribeConfigurationRecorderStatus",
        "config:DescribeDeliveryChannels",
        "config:PutConfigurationRecorder",
        "config:PutDeliveryChannel",
        "config:StartConfigurationRecorder",
        "config:StopConfigurationRecorder",
        "config:DeleteConfigurationRecorder",
        "config:DeleteDeliveryChannel",
        "iam:PassRole",
    ],
    params: &[
        ParamSpec {
            name: "role_arn",
            kind: "string",
            default: "null",
            doc: "Required where the region has no recorder: the role AWS Config records with, in the target account (the service-linked role arn:aws:iam::ACCOUNT:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig, or a role with the AWS_ConfigRole policy); rectify needs iam:PassRole on it.",
        },
        ParamSpec {
            name: "bucket",
            kind: "string",
            default: "null",
            doc: "Required where the region has no delivery channel: the existing S3 bucket AWS Config delivers to; its policy must allow config.amazonaws.com s3:GetBucketAcl, s3:ListBucket and s3:PutObject.",
        },
    ],
    // Three reads (check), PutConfigurationRecorder, PutDeliveryChannel,
    // StartConfigurationRecorder, three reads (verify).
    calls_per_fix: 9,
    approval_by_default: false,
};

/// The name rectify gives what it creates (the console's name).
const DEFAULT_NAME: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Recorder {
    name: String,
    role_arn: String,
    all_supported: bool,
    include_global: bool,
}

/// AWS Config in a region as `check` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ConfigState {
    recorder: Option<Recorder>,
    recording: bool,
    /// The delivery channel and its bucket.
    channel: Option<(String, String)>,
}

impl ConfigState {
    fn compliant(&self) -> bool {
        self.recording
            && self.channel.is_some()
            && self
                .recorder
                .as_ref()
                .is_some_and(|r| r.all_supported && r.include_global)
    }
}

struct Params {
    role_arn: Option<String>,
    bucket: Option<String>,
}

fn parse(params: &Value) -> Result<Params, String> {
    let p = params_object(params)?;
    reject_unknown(&p, &["role_arn", "bucket"], ID)?;
    let role_arn = string_param(&p, "role_arn", 2048)?;
    let bucket = string_param(&p, "bucket", 63)?;
    if let Some(r) = &role_arn {
        let parts: Vec<&str> = r.splitn(6, ':').collect();
        if !matches!(parts[..], ["arn", _, "iam", "", _, name] if name.starts_with("role/")) {
            return Err(format!(
                "params.role_arn: {r} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
            ));
        }
    }
    if let Some(b) = &bucket {
        let ok = b.len() >= 3
            && b.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'));
        if !ok {
            return Err(format!("params.bucket: {b} is not a bucket name"));
        }
    }
    Ok(Params { role_arn, bucket })
}

pub struct ConfigEnableRecorder {
    aws: Arc<Aws>,
}

impl ConfigEnableRecorder {
    pub fn new(aws: Arc<Aws>) -> Self {
        ConfigEnableRecorder { aws }
    }

    async fn client(&self, target: &Target) -> Result<aws_sdk_config::Client, ActionError> {
        client_for(&self.aws, target, aws_sdk_config::Client::new).await
    }

    async fn read(&self, target: &Target) -> Result<ConfigState, ActionError> {
        let cfg = self.client(target).await?;
        let here = where_(target);
        let recorders = cfg
            .describe_configuration_recorders()
            .send()
            .await
            .map_err(|e| sdk_error_on("config:DescribeConfigurationRecorders", &here, e))?;
        let status = cfg
            .describe_configuration_recorder_status()
            .send()
            .await
            .map_err(|e| sdk_error_on("config:DescribeConfigurationRecorderStatus", &here, e))?;
        let channel = delivery_channel(&cfg, &here).await?;
        Ok(state_of(
            recorders.configuration_recorders(),
            status.configuration_recorders_status(),
            channel,
        ))
    }

    /// Brings AWS Config from `from` to `to`, in the order AWS Config
    /// needs: a recorder before its channel and its start; stopped before
    /// its channel and itself are deleted.
    async fn write(
        &self,
        target: &Target,
        from: &ConfigState,
        to: &ConfigState,
    ) -> Result<(), ActionError> {
        let cfg = self.client(target).await?;
        let here = where_(target);
        if let Some(r) = &to.recorder {
            if from.recorder.as_ref() != Some(r) {
                let group = RecordingGroup::builder()
                    .all_supported(r.all_supported)
                    .include_global_resource_types(r.include_global)
                    .build();
                let recorder = ConfigurationRecorder::builder()
                    .name(&r.name)
                    .role_arn(&r.role_arn)
                    .recording_group(group)
                    .build();
                cfg.put_configuration_recorder()
                    .configuration_recorder(recorder)
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("config:PutConfigurationRecorder", &here, e))?;
            }
        }
        if let (Some((name, bucket)), None) = (&to.channel, &from.channel) {
            let channel = DeliveryChannel::builder()
                .name(name)
                .s3_bucket_name(bucket)
                .build();
            cfg.put_delivery_channel()
                .delivery_channel(channel)
                .send()
                .await
                .map_err(|e| sdk_error_on("config:PutDeliveryChannel", &here, e))?;
        }
        let name = to
            .recorder
            .as_ref()
            .or(from.recorder.as_ref())
            .map(|r| r.name.clone())
            .unwrap_or_else(|| DEFAULT_NAME.to_string());
        if to.recording && !from.recording {
            cfg.start_configuration_recorder()
                .configuration_recorder_name(&name)
                .send()
                .await
                .map_err(|e| sdk_error_on("config:StartConfigurationRecorder", &here, e))?;
        }
        if !to.recording && from.recording {
            cfg.stop_configuration_recorder()
                .configuration_recorder_name(&name)
                .send()
                .await
                .map_err(|e| sdk_error_on("config:StopConfigurationRecorder", &here, e))?;
        }
        if let (None, Some((channel, _))) = (&to.channel, &from.channel) {
            cfg.delete_delivery_channel()
                .delivery_channel_name(channel)
                .send()
                .await
                .map_err(|e| sdk_error_on("config:DeleteDeliveryChannel", &here, e))?;
        }
        if let (None, Some(r)) = (&to.recorder, &from.recorder) {
            cfg.delete_configuration_recorder()
                .configuration_recorder_name(&r.name)
                .send()
                .await
                .map_err(|e| sdk_error_on("config:DeleteConfigurationRecorder", &here, e))?;
        }
        Ok(())
    }
}

/// AWS Config in a region from what was read of it: the first recorder,
/// whether any is recording, the first delivery channel.
fn state_of(
    recorders: &[ConfigurationRecorder],
    statuses: &[ConfigurationRecorderStatus],
    channel: Option<(String, String)>,
) -> ConfigState {
    let recorder = recorders.first().map(|r| {
        let group = r.recording_group();
        Recorder {
            name: r.name().unwrap_or(DEFAULT_NAME).to_string(),
            role_arn: r.role_arn().unwrap_or_default().to_string(),
            all_supported: group.is_some_and(|g| g.all_supported()),
            include_global: group
                .map(|g| g.include_global_resource_types())
                .unwrap_or(false),
        }
    });
    ConfigState {
        recorder,
        recording: statuses.iter().any(|s| s.recording()),
        channel,
    }
}

/// The region's first delivery channel and its bucket.
async fn delivery_channel(
    cfg: &aws_sdk_config::Client,
    here: &str,
) -> Result<Option<(String, String)>, ActionError> {
    let channels = cfg
        .describe_delivery_channels()
        .send()
        .await
        .map_err(|e| sdk_error_on("config:DescribeDeliveryChannels", here, e))?;
    Ok(channels.delivery_channels().first().map(|c| {
        (
            c.name().unwrap_or(DEFAULT_NAME).to_string(),
            c.s3_bucket_name().unwrap_or_default().to_string(),
        )
    }))
}

fn observed(state: &ConfigState) -> Observed {
    Observed::new(state.compliant(), state, Default::default())
}

#[async_trait]
impl Action for ConfigEnableRecorder {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        parse(params).map(|_| ())
    }

    // discover: a setting of each account and region: the account, in `region`.
    crate::actions::account_setting_discover!();

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        parse(params).map_err(ActionError::invalid)?;
        Ok(observed(&self.read(target).await?))
    }

    /// In a scan, the recorders and their status as the posture checks and
    /// the bucket reads already read them (once per region).
    async fn check_in_scan(
        &self,
        target: &Target,
        params: &Value,
        reads: &ScanReads,
    ) -> Result<Observed, ActionError> {
        parse(params).map_err(ActionError::invalid)?;
        let shared = crate::checks::reads::config_recorders(
            &self.aws,
            reads,
            &target.account,
            &target.region,
        )
        .await?;
        let cfg = self.client(target).await?;
        let here = where_(target);
        let channel = reads
            .call("config", &target.region, || delivery_channel(&cfg, &here))
            .await?;
        Ok(observed(&state_of(
            &shared.recorders,
            &shared.statuses,
            channel,
        )))
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        let p = parse(params).map_err(ActionError::invalid)?;
        let before: ConfigState = recorded(&observed.state, ID)?;
        let place = format!("{}/{}", target.account, target.region);
        let mut steps = Vec::new();
        let recorder = match &before.recorder {
            Some(r) if r.all_supported && r.include_global => r.clone(),
            Some(r) => {
                steps.push(format!(
                    "make recorder {} record all supported resource types, global ones included",
                    r.name
                ));
                Recorder {
                    all_supported: true,
                    include_global: true,
                    ..r.clone()
                }
            }
            None => {
                let Some(role) = p.role_arn else {
                    return Err(ActionError::not_configured(format!(
                        "{ID}: AWS Config has no recorder in {place}, and the rule names no role: set params.role_arn \
                         (the AWSServiceRoleForConfig service-linked role, or a role with the AWS_ConfigRole policy) \
                         and params.bucket"
                    )));
                };
                if role.split(':').nth(4) != Some(target.account.as_str()) {
                    return Err(ActionError::invalid(format!(
                        "{ID}: role {role} is not in account {}; refused",
                        target.account
                    )));
                }
                steps.push(format!(
                    "create recorder {DEFAULT_NAME} of all supported resource types (global ones included) with role {role}"
                ));
                Recorder {
                    name: DEFAULT_NAME.to_string(),
                    role_arn: role,
                    all_supported: true,
                    include_global: true,
                }
            }
        };
        let channel = match &before.channel {
            Some(c) => c.clone(),
            None => {
                let Some(bucket) = p.bucket else {
                    return Err(ActionError::not_configured(format!(
                        "{ID}: AWS Config has no delivery channel in {place}, and the rule names no bucket: set params.bucket \
                         (an existing bucket whose policy lets config.amazonaws.com write to it)"
                    )));
                };
                steps.push(format!(
                    "create delivery channel {DEFAULT_NAME} to bucket {bucket}"
                ));
                (DEFAULT_NAME.to_string(), bucket)
            }
        };
        if !before.recording {
            steps.push(format!("start recorder {}", recorder.name));
        }
        let after = ConfigState {
            recorder: Some(recorder),
            recording: true,
            channel: Some(channel),
        };
        let summary = if steps.is_empty() {
            format!("AWS Config already records all resource types in {place}")
        } else {
            format!("turn AWS Config on in {place}: {}", steps.join("; "))
        };
        Ok(Change::new(summary, observed.state.clone(), after))
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        parse(params).map_err(ActionError::invalid)?;
        let before: ConfigState = recorded(&change.before, ID)?;
        let after: ConfigState = recorded(&change.after, ID)?;
        self.write(target, &before, &after).await
    }

    /// Stops and deletes what the change created, restores the recording
    /// group it widened; refuses when AWS Config is no longer as the
    /// change left it.
    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        parse(params).map_err(ActionError::invalid)?;
        let left: ConfigState = recorded(&applied.after, ID)?;
        let restore: ConfigState = recorded(&applied.before, ID)?;
        let current: ConfigState = recorded(&now.state, ID)?;
        let place = format!("{}/{}", target.account, target.region);
        if current != left {
            return Err(changed_since(
                &format!("AWS Config in {place}"),
                &now.state,
                &applied.after,
            ));
        }
        let mut steps = Vec::new();
        if !restore.recording {
            steps.push("stop the recorder".to_string());
        }
        if restore.channel.is_none() {
            steps.push("delete the delivery channel it created".to_string());
        }
        match &restore.recorder {
            None => steps.push("delete the recorder it created".to_string()),
            Some(r) if Some(r) != current.recorder.as_ref() => {
                steps.push("restore the recorder's recording group".to_string())
            }
            Some(_) => {}
        }
        Ok(Change {
            summary: format!(
                "undo turning AWS Config on in {place}: {}",
                steps.join("; ")
            ),
            before: now.state.clone(),
            after: applied.before.clone(),
        })
    }

    crate::actions::revert_by_apply!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;
    use crate::AwsSettings;
    use serde_json::json;

    #[tokio::test]
    async fn params_and_what_to_configure() {
        let a = ConfigEnableRecorder::new(Arc::new(Aws::new(AwsSettings::new("us-east-1")).await));
        assert!(a.validate_params(&json!({"bucket": "Bad_Bucket"})).is_err());
        assert!(a
            .validate_params(&json!({"role_arn": "arn:aws:iam::1:user/x"}))
            .is_err());
        let t = target("AwsAccount", "AWS::::Account:111122223333", Value::Null);
        let off = observed(&ConfigState {
            recorder: None,
            recording: false,
            channel: None,
        });
        let refused = a.plan(&t, &json!({}), &off).unwrap_err();
        assert!(
            refused.message.contains("set params.role_arn"),
            "{}",
            refused.message
        );
        let foreign =
            json!({"role_arn": "arn:aws:iam::444455556666:role/config", "bucket": "logs"});
        assert!(a.plan(&t, &foreign, &off).is_err());
    }
}
