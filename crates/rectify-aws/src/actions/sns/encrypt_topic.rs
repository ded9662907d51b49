//! `aws.sns.encrypt-topic`: encrypts an SNS topic at rest with KMS
//! (Security Hub SNS.1, AWS Config `sns-encrypted-kms`): the AWS managed
//! key `alias/aws/sns` by default, or the key the param `kms_key_id`
//! names. A topic whose policy lets AWS services publish (CloudWatch
//! alarms, S3 events, EventBridge, ...) waits for a person's approval:
//! those services cannot use the AWS managed key at all, and a customer
//! managed key only if its policy lets them, or their messages are lost.
//! The undo removes the key again.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{Action, ActionError, ActionSpec, Change, Event, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::event_resources::{bad_id, plain_name, service_principals, target_of};
use crate::actions::{
    client_for, collect_pages, params_object, recorded, reject_unknown, string_param,
    unchanged_since,
};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.sns.encrypt-topic";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Encrypt an SNS topic at rest with KMS (alias/aws/sns, or a key by param).",
    controls: &["SNS.1"],
    resource_types: &["AwsSnsTopic"],
    account_wide: false,
    permissions: &[
        "sns:GetTopicAttributes",
        "sns:SetTopicAttributes",
        "sns:ListTopics",
    ],
    params: &[ParamSpec {
        name: "kms_key_id",
        kind: "string",
        default: "\"alias/aws/sns\"",
        doc: "The KMS key (ARN, id or alias) the topic is encrypted with. The AWS managed key alias/aws/sns cannot be used by AWS services that publish to the topic: give a customer managed key whose policy lets them.",
    }],
    // GetTopicAttributes, SetTopicAttributes, GetTopicAttributes.
    calls_per_fix: 3,
    approval_by_default: false,
};

const AWS_MANAGED: &str = "alias/aws/sns";

fn kms_key(params: &Value) -> Result<String, ActionError> {
    let p = params_object(params).map_err(ActionError::invalid)?;
    reject_unknown(&p, &["kms_key_id"], ID).map_err(ActionError::invalid)?;
    Ok(string_param(&p, "kms_key_id", 2048)
        .map_err(ActionError::invalid)?
        .unwrap_or_else(|| AWS_MANAGED.to_string()))
}

/// The topic as `check` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TopicState {
    topic: String,
    /// `KmsMasterKeyId`: none, not encrypted.
    kms_key: Option<String>,
    /// AWS services its policy lets publish.
    service_publishers: Vec<String>,
}

/// What the action changes: the topic's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TopicKey {
    kms_key: Option<String>,
}

fn topic_arn(target: &Target) -> Result<&str, ActionError> {
    let id = target.resource_id.as_str();
    if !id.starts_with("arn:")
        || !id.contains(":sns:")
        || plain_name(target.resource_name(), 256, "-_.").is_none()
    {
        return Err(bad_id(ID, "SNS topic", target));
    }
    Ok(id)
}

fn key_text(key: &Option<String>) -> String {
    match key.as_deref() {
        None => "no KMS key (not encrypted at rest)".into(),
        Some(AWS_MANAGED) => format!("{AWS_MANAGED} (the AWS managed key)"),
        Some(k) => k.to_string(),
    }
}

pub struct SnsEncryptTopic {
    aws: Arc<Aws>,
}

impl SnsEncryptTopic {
    pub fn new(aws: Arc<Aws>) -> Self {
        SnsEncryptTopic { aws }
    }

    async fn client(&self, target: &Target) -> Result<aws_sdk_sns::Client, ActionError> {
        client_for(&self.aws, target, aws_sdk_sns::Client::new).await
    }

    async fn write(&self, target: &Target, key: Option<&str>) -> Result<(), ActionError> {
        let arn = topic_arn(target)?;
        self.client(target)
            .await?
            .set_topic_attributes()
            .topic_arn(arn)
            .attribute_name("KmsMasterKeyId")
            // An empty value removes the key.
            .attribute_value(key.unwrap_or_default())
            .send()
            .await
            .map_err(|e| sdk_error_on("sns:SetTopicAttributes", arn, e))?;
        Ok(())
    }

    async fn list_topics(&self, sns: &aws_sdk_sns::Client) -> Result<Vec<String>, ActionError> {
        collect_pages(|token| {
            let request = sns.list_topics().set_next_token(token);
            async move {
                let out = request
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("sns:ListTopics", "the account's topics", e))?;
                let arns = out
                    .topics()
                    .iter()
                    .filter_map(|t| t.topic_arn().map(str::to_string))
                    .collect();
                Ok((arns, out.next_token().map(str::to_string)))
            }
        })
        .await
    }
}

#[async_trait]
impl Action for SnsEncryptTopic {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        kms_key(params).map(|_| ()).map_err(|e| e.message)
    }

    /// A finding's topic; the topic of a `SetTopicAttributes` call
    /// (`requestParameters.topicArn`); the topic of a Config evaluation
    /// (`AWS::SNS::Topic`, by ARN).
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        let arn = |id: &str| id.starts_with("arn:").then(|| id.to_string());
        target_of(
            event,
            SPEC.resource_types,
            "AwsSnsTopic",
            |_, d| arn(d["requestParameters"]["topicArn"].as_str()?),
            "AWS::SNS::Topic",
            |_, id| arn(id),
        )
    }

    async fn inventory(&self, target: &Target, _: &Value) -> Result<Option<u64>, ActionError> {
        let sns = self.client(target).await?;
        Ok(Some(self.list_topics(&sns).await?.len() as u64))
    }

    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        let config = self.aws.config_for(account, region).await?;
        let sns = aws_sdk_sns::Client::new(&config);
        Ok(self
            .list_topics(&sns)
            .await?
            .into_iter()
            .map(|arn| Target::listed(account, region, "AwsSnsTopic", arn))
            .collect())
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        kms_key(params)?;
        let arn = topic_arn(target)?;
        let out = self
            .client(target)
            .await?
            .get_topic_attributes()
            .topic_arn(arn)
            .send()
            .await
            .map_err(|e| sdk_error_on("sns:GetTopicAttributes", arn, e))?;
        let attrs = out.attributes();
        let attr = |n: &str| {
            attrs
                .and_then(|a| a.get(n))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        if let Some(owner) = attr("Owner").filter(|o| *o != target.account) {
            return Err(ActionError::invalid(format!(
                "topic {arn} is owned by account {owner}, not {}; refused",
                target.account
            )));
        }
        let state = TopicState {
            topic: arn.to_string(),
            kms_key: attr("KmsMasterKeyId"),
            service_publishers: service_principals(attr("Policy").as_deref()),
        };
        Ok(Observed::new(
            state.kms_key.is_some(),
            state,
            Default::default(),
        ))
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        let key = kms_key(params)?;
        let before: TopicState = recorded(&observed.state, ID)?;
        let (after, summary) = match &before.kms_key {
            Some(k) => (
                TopicKey {
                    kms_key: Some(k.clone()),
                },
                format!(
                    "topic {} is already encrypted with {}",
                    before.topic,
                    key_text(&before.kms_key)
                ),
            ),
            None => {
                let after = TopicKey { kms_key: Some(key) };
                let summary = format!(
                    "encrypt topic {} at rest with {}",
                    before.topic,
                    key_text(&after.kms_key)
                );
                (after, summary)
            }
        };
        Ok(Change::new(summary, observed.state.clone(), after))
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        kms_key(params)?;
        let before: TopicState = recorded(&change.before, ID)?;
        let after: TopicKey = recorded(&change.after, ID)?;
        if after.kms_key == before.kms_key {
            return Ok(());
        }
        self.write(target, after.kms_key.as_deref()).await
    }

    /// AWS services that publish to the topic cannot use the AWS managed
    /// key, and a customer managed key only if its policy lets them.
    fn intent(&self, _: &Target, params: &Value, observed: &Observed) -> Vec<String> {
        let (Ok(key), Ok(state)) = (kms_key(params), recorded::<TopicState>(&observed.state, ID))
        else {
            return Vec::new();
        };
        if state.kms_key.is_some() || state.service_publishers.is_empty() {
            return Vec::new();
        }
        let services = state.service_publishers.join(", ");
        vec![if key == AWS_MANAGED {
            format!(
                "topic {} lets {services} publish to it: AWS services cannot use the AWS managed key \
                 {AWS_MANAGED}, so their messages would be lost; set kms_key_id to a customer managed \
                 key whose policy lets them use it",
                state.topic
            )
        } else {
            format!(
                "topic {} lets {services} publish to it: their messages are lost unless the policy of \
                 KMS key {key} lets them use it (kms:GenerateDataKey*, kms:Decrypt)",
                state.topic
            )
        }]
    }

    fn revert_plan(
        &self,
        _: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        kms_key(params)?;
        let left: TopicKey = recorded(&applied.after, ID)?;
        let found: TopicState = recorded(&applied.before, ID)?;
        let current: TopicState = recorded(&now.state, ID)?;
        unchanged_since(
            || format!("the KMS key of topic {}", current.topic),
            &current.kms_key,
            &left.kms_key,
        )?;
        Ok(Change {
            summary: format!(
                "set the KMS key of topic {} back to {}",
                current.topic,
                key_text(&found.kms_key)
            ),
            before: now.state.clone(),
            after: serde_json::to_value(TopicKey {
                kms_key: found.kms_key,
            })
            .expect("plain struct"),
        })
    }

    crate::actions::revert_by_apply!();

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let now: TopicState = recorded(&self.check(target, params).await?.state, ID)?;
        Ok(now.kms_key == recorded::<TopicKey>(&change.after, ID)?.kms_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;
    use crate::AwsSettings;
    use serde_json::json;

    #[tokio::test]
    async fn params_and_the_aws_managed_key_for_service_publishers() {
        let action = SnsEncryptTopic::new(Arc::new(Aws::new(AwsSettings::new("us-east-1")).await));
        assert_eq!(kms_key(&json!({})).unwrap(), AWS_MANAGED);
        assert!(action.validate_params(&json!({"kms_key_id": ""})).is_err());
        let t = target(
            "AwsSnsTopic",
            "arn:aws:sns:us-east-1:111122223333:alarms",
            Value::Null,
        );
        assert!(topic_arn(&t).is_ok());
        assert!(topic_arn(&target("AwsSnsTopic", "alarms", Value::Null)).is_err());
        let observed = Observed {
            compliant: false,
            state: json!({"topic": t.resource_id, "kms_key": null,
                          "service_publishers": ["cloudwatch.amazonaws.com"]}),
            tags: Default::default(),
        };
        let reasons = action.intent(&t, &json!({}), &observed);
        assert!(
            reasons[0].contains("cannot use the AWS managed key"),
            "{reasons:?}"
        );
        let own = action.intent(&t, &json!({"kms_key_id": "alias/alarms"}), &observed);
        assert!(own[0].contains("policy of KMS key alias/alarms"), "{own:?}");
    }
}
