//! `aws.ec2.require-imdsv2`: an instance whose metadata service still
//! answers IMDSv1 requests (`HttpTokens` `optional`, Security Hub EC2.8,
//! AWS Config `ec2-imdsv2-check`) is made to require IMDSv2 session
//! tokens (`ModifyInstanceMetadataOptions`, `HttpTokens` `required`).
//! Whether the metadata service is on at all (`HttpEndpoint`) is left as
//! it is. Software on the instance that still reads metadata without a
//! token stops getting credentials and metadata, so the jobs wait for a
//! person's approval by default and the plan says so. The undo sets
//! `HttpTokens` back to `optional` (`rectify jobs revert`).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{HttpTokensState, InstanceMetadataEndpointState, InstanceStateName};
use rectify_model::{Action, ActionError, ActionSpec, Change, Event, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::targets::{id_of, tag_pairs, target_of, INSTANCE};
use crate::actions::{
    collect_pages, ec2_client, recorded, tag_map, takes_no_params, unchanged_since,
};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.ec2.require-imdsv2";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Require IMDSv2 (session tokens) on an EC2 instance's metadata service.",
    controls: &["EC2.8"],
    resource_types: &["AwsEc2Instance"],
    account_wide: false,
    permissions: &["ec2:DescribeInstances", "ec2:ModifyInstanceMetadataOptions"],
    params: &[],
    // check (DescribeInstances), apply (ModifyInstanceMetadataOptions),
    // verify (DescribeInstances).
    calls_per_fix: 3,
    approval_by_default: true,
};

/// The instance's metadata options as `check` reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct MetadataState {
    instance: String,
    /// `optional` (IMDSv1 answered) or `required`.
    http_tokens: String,
    /// `enabled` or `disabled`: left as it is.
    http_endpoint: String,
    /// `running`, `stopped`, ...
    instance_state: String,
}

/// What the action changes: the token setting alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Tokens {
    http_tokens: String,
}

const REQUIRED: &str = "required";
const OPTIONAL: &str = "optional";

pub struct Ec2RequireImdsv2 {
    aws: Arc<Aws>,
}

impl Ec2RequireImdsv2 {
    pub fn new(aws: Arc<Aws>) -> Self {
        Ec2RequireImdsv2 { aws }
    }

    /// Sets `HttpTokens` to `tokens`. The endpoint is sent as it was read
    /// (`endpoint`), so that the call states the whole wanted setting and
    /// no implementation that resets what a call leaves out can turn the
    /// service on or off.
    async fn write(
        &self,
        target: &Target,
        tokens: &str,
        endpoint: &str,
    ) -> Result<(), ActionError> {
        let id = id_of(&INSTANCE, target, ID)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        ec2.modify_instance_metadata_options()
            .instance_id(&id)
            .http_tokens(HttpTokensState::from(tokens))
            .http_endpoint(InstanceMetadataEndpointState::from(endpoint))
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:ModifyInstanceMetadataOptions", &id, e))?;
        Ok(())
    }
}

#[async_trait]
impl Action for Ec2RequireImdsv2 {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    /// The instance a `ModifyInstanceMetadataOptions` or `RunInstances`
    /// call names, an AWS Config `ec2-imdsv2-check` evaluation's, or a
    /// finding's `AwsEc2Instance`.
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        target_of(
            &INSTANCE,
            event,
            &[
                "/requestParameters/ModifyInstanceMetadataOptionsRequest/InstanceId",
                "/requestParameters/instanceId",
                "/responseElements/instancesSet/items/0/instanceId",
            ],
        )
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let id = id_of(&INSTANCE, target, ID)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let out = ec2
            .describe_instances()
            .instance_ids(&id)
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeInstances", &id, e))?;
        let instance = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(id.as_str()))
            .filter(|i| i.state().and_then(|s| s.name()) != Some(&InstanceStateName::Terminated))
            .ok_or_else(|| {
                ActionError::new(
                    rectify_model::ErrorClass::NotFound,
                    format!("instance {id} not found (or terminated)"),
                )
            })?;
        let options = instance.metadata_options();
        let state = MetadataState {
            instance: id.clone(),
            // Absent: EC2's default for instances launched without
            // options, which answers IMDSv1.
            http_tokens: options
                .and_then(|o| o.http_tokens())
                .map(|t| t.as_str().to_string())
                .unwrap_or_else(|| OPTIONAL.into()),
            http_endpoint: options
                .and_then(|o| o.http_endpoint())
                .map(|e| e.as_str().to_string())
                .unwrap_or_else(|| "enabled".into()),
            instance_state: instance
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string())
                .unwrap_or_default(),
        };
        Ok(Observed::new(
            state.http_tokens == REQUIRED,
            state,
            tag_map(tag_pairs(instance.tags())),
        ))
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let before: MetadataState = recorded(&observed.state, ID)?;
        let endpoint = if before.http_endpoint == "disabled" {
            " (its metadata service is turned off (HttpEndpoint disabled) and stays off)"
        } else {
            " (HttpEndpoint left as it is)"
        };
        Ok(Change {
            summary: format!(
                "require IMDSv2 on instance {}: HttpTokens {} -> required{endpoint}",
                before.instance, before.http_tokens
            ),
            before: observed.state.clone(),
            after: json!({"http_tokens": REQUIRED}),
        })
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let before: MetadataState = recorded(&change.before, ID)?;
        let after: Tokens = recorded(&change.after, ID)?;
        self.write(target, &after.http_tokens, &before.http_endpoint)
            .await
    }

    /// Always: software that reads metadata without a token breaks.
    fn intent(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        let Ok(state) = recorded::<MetadataState>(&observed.state, ID) else {
            return Vec::new();
        };
        if state.http_tokens == REQUIRED {
            return Vec::new();
        }
        vec![format!(
            "instance {} ({}) still answers IMDSv1: software on it that reads instance metadata \
             without a session token (older AWS SDKs and CLIs, agents, scripts calling \
             http://169.254.169.254 directly) stops getting its credentials and metadata once \
             IMDSv2 is required; see the instance's MetadataNoToken metric (CloudWatch, AWS/EC2) \
             for IMDSv1 use before approving",
            state.instance, state.instance_state
        )]
    }

    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let id = id_of(&INSTANCE, target, ID)?;
        let restore: MetadataState = recorded(&applied.before, ID)?;
        let left: Tokens = recorded(&applied.after, ID)?;
        let current: MetadataState = recorded(&now.state, ID)?;
        unchanged_since(
            || format!("the metadata options (HttpTokens) of instance {id}"),
            &current.http_tokens,
            &left.http_tokens,
        )?;
        Ok(Change {
            summary: format!(
                "let instance {id} answer IMDSv1 again: HttpTokens required -> {} (HttpEndpoint left as it is)",
                restore.http_tokens
            ),
            before: now.state.clone(),
            after: json!({"http_tokens": restore.http_tokens}),
        })
    }

    crate::actions::revert_by_apply!();

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let now: MetadataState = recorded(&self.check(target, params).await?.state, ID)?;
        let after: Tokens = recorded(&change.after, ID)?;
        Ok(now.http_tokens == after.http_tokens)
    }

    // Every instance of the account in `region` but terminated ones.
    super::targets::listed_by_id!(INSTANCE, instances);
}

impl Ec2RequireImdsv2 {
    /// The ids of the account's instances in `region` but terminated ones.
    async fn instances(&self, account: &str, region: &str) -> Result<Vec<String>, ActionError> {
        let ec2 = ec2_client(&self.aws, account, region).await?;
        collect_pages(|token| {
            let request = ec2.describe_instances().set_next_token(token);
            async move {
                let out = request.send().await.map_err(|e| {
                    sdk_error_on("ec2:DescribeInstances", "the account's instances", e)
                })?;
                let ids = out
                    .reservations()
                    .iter()
                    .flat_map(|r| r.instances())
                    .filter(|i| {
                        i.state().and_then(|s| s.name()) != Some(&InstanceStateName::Terminated)
                    })
                    .filter_map(|i| i.instance_id().map(str::to_string))
                    .collect();
                Ok((ids, out.next_token().map(str::to_string)))
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;

    fn observed(tokens: &str) -> Observed {
        Observed {
            compliant: tokens == REQUIRED,
            state: json!({"instance": "i-0123456789abcdef0", "http_tokens": tokens,
                          "http_endpoint": "enabled", "instance_state": "running"}),
            tags: Default::default(),
        }
    }

    #[tokio::test]
    async fn plan_intent_and_undo() {
        let action = Ec2RequireImdsv2::new(Arc::new(
            Aws::new(crate::AwsSettings::new("us-east-1")).await,
        ));
        let t = target(
            "AwsEc2Instance",
            "arn:aws:ec2:us-east-1:111122223333:instance/i-0123456789abcdef0",
            Value::Null,
        );
        let before = observed(OPTIONAL);
        let change = action.plan(&t, &json!({}), &before).unwrap();
        assert!(change.summary.contains("HttpTokens optional -> required"));
        assert!(action.intent(&t, &json!({}), &before)[0].contains("MetadataNoToken"));
        assert!(action.validate_params(&json!({"x": 1})).is_err());
        let undo = action
            .revert_plan(&t, &json!({}), &change, &observed(REQUIRED))
            .unwrap();
        assert_eq!(undo.after, json!({"http_tokens": "optional"}));
        let refused = action
            .revert_plan(&t, &json!({}), &change, &observed(OPTIONAL))
            .unwrap_err();
        assert!(refused.message.contains("has changed since"));
    }
}
