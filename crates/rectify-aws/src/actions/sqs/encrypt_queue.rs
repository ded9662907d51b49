//! `aws.sqs.encrypt-queue`: encrypts an SQS queue at rest (Security Hub
//! SQS.1): SQS managed keys (SSE-SQS, `SqsManagedSseEnabled`) by default,
//! which every sender, AWS services included, can use as it is; or the KMS
//! key the param `kms_key_id` names (SSE-KMS). With a KMS key, a queue
//! whose policy lets AWS services send (SNS, S3 events, EventBridge, ...)
//! waits for a person's approval: those services need the key's policy to
//! let them use it, or their messages are lost. Messages already in the
//! queue stay as they are. The undo turns encryption off again.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;
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

pub const ID: &str = "aws.sqs.encrypt-queue";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Encrypt an SQS queue at rest (SQS managed keys, or a KMS key by param).",
    controls: &["SQS.1"],
    resource_types: &["AwsSqsQueue"],
    account_wide: false,
    permissions: &[
        "sqs:GetQueueUrl",
        "sqs:GetQueueAttributes",
        "sqs:SetQueueAttributes",
        "sqs:ListQueues",
    ],
    params: &[ParamSpec {
        name: "kms_key_id",
        kind: "string",
        default: "null",
        doc: "Encrypt with this KMS key (its ARN, id or alias) instead of SQS managed keys; its key policy must let the queue's senders and receivers use it. Default: SQS managed keys (SSE-SQS).",
    }],
    // GetQueueUrl, GetQueueAttributes, SetQueueAttributes (the queue URL
    // recorded by the check), then the two reads again.
    calls_per_fix: 5,
    approval_by_default: false,
};

fn kms_key(params: &Value) -> Result<Option<String>, ActionError> {
    let p = params_object(params).map_err(ActionError::invalid)?;
    reject_unknown(&p, &["kms_key_id"], ID).map_err(ActionError::invalid)?;
    string_param(&p, "kms_key_id", 2048).map_err(ActionError::invalid)
}

/// The queue's encryption at rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Encryption {
    /// SSE-SQS.
    sqs_managed: bool,
    /// SSE-KMS: the key (`KmsMasterKeyId`).
    kms_key: Option<String>,
}

impl Encryption {
    fn on(&self) -> bool {
        self.sqs_managed || self.kms_key.is_some()
    }

    fn text(&self) -> String {
        match (&self.kms_key, self.sqs_managed) {
            (Some(k), _) => format!("SSE-KMS with {k}"),
            (None, true) => "SSE-SQS (SQS managed keys)".into(),
            (None, false) => "no encryption at rest".into(),
        }
    }
}

/// The queue as `check` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct QueueState {
    queue: String,
    url: String,
    #[serde(flatten)]
    encryption: Encryption,
    /// AWS services its policy lets in.
    service_senders: Vec<String>,
}

fn queue_name(target: &Target) -> Result<&str, ActionError> {
    let id = target.resource_id.as_str();
    let name = target.resource_name();
    if !id.starts_with("arn:") || !id.contains(":sqs:") || plain_name(name, 80, "-_.").is_none() {
        return Err(bad_id(ID, "SQS queue", target));
    }
    Ok(name)
}

/// A queue's ARN from its URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`).
fn arn_of_url(p: &crate::actions::event_resources::Place, url: &str) -> Option<String> {
    let mut parts = url.trim_end_matches('/').rsplit('/');
    let name = plain_name(parts.next()?, 80, "-_.")?;
    let account = parts
        .next()
        .filter(|a| a.len() == 12 && a.chars().all(|c| c.is_ascii_digit()))?;
    Some(format!(
        "arn:{}:sqs:{}:{account}:{name}",
        p.partition, p.region
    ))
}

pub struct SqsEncryptQueue {
    aws: Arc<Aws>,
}

impl SqsEncryptQueue {
    pub fn new(aws: Arc<Aws>) -> Self {
        SqsEncryptQueue { aws }
    }

    async fn client(&self, target: &Target) -> Result<aws_sdk_sqs::Client, ActionError> {
        client_for(&self.aws, target, aws_sdk_sqs::Client::new).await
    }

    /// Brings the queue's encryption from `from` to `to`.
    async fn write(
        &self,
        target: &Target,
        url: &str,
        from: &Encryption,
        to: &Encryption,
    ) -> Result<(), ActionError> {
        let sqs = self.client(target).await?;
        let mut request = sqs.set_queue_attributes().queue_url(url);
        if to.kms_key != from.kms_key {
            request = request.attributes(
                QueueAttributeName::KmsMasterKeyId,
                to.kms_key.clone().unwrap_or_default(),
            );
        }
        if to.sqs_managed != from.sqs_managed && to.kms_key.is_none() {
            request = request.attributes(
                QueueAttributeName::SqsManagedSseEnabled,
                to.sqs_managed.to_string(),
            );
        }
        request
            .send()
            .await
            .map_err(|e| sdk_error_on("sqs:SetQueueAttributes", url, e))?;
        Ok(())
    }

    async fn list_queues(&self, sqs: &aws_sdk_sqs::Client) -> Result<Vec<String>, ActionError> {
        collect_pages(|token| {
            let request = sqs.list_queues().set_next_token(token);
            async move {
                let out = request
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("sqs:ListQueues", "the account's queues", e))?;
                Ok((
                    out.queue_urls().to_vec(),
                    out.next_token().map(str::to_string),
                ))
            }
        })
        .await
    }
}

#[async_trait]
impl Action for SqsEncryptQueue {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        kms_key(params).map(|_| ()).map_err(|e| e.message)
    }

    /// A finding's queue; the queue of a `SetQueueAttributes` call
    /// (`requestParameters.queueUrl`); the queue of a Config evaluation
    /// (`AWS::SQS::Queue`, by URL).
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        target_of(
            event,
            SPEC.resource_types,
            "AwsSqsQueue",
            |p, d| arn_of_url(p, d["requestParameters"]["queueUrl"].as_str()?),
            "AWS::SQS::Queue",
            arn_of_url,
        )
    }

    async fn inventory(&self, target: &Target, _: &Value) -> Result<Option<u64>, ActionError> {
        let sqs = self.client(target).await?;
        Ok(Some(self.list_queues(&sqs).await?.len() as u64))
    }

    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        let config = self.aws.config_for(account, region).await?;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let place = crate::actions::event_resources::Place {
            account: account.to_string(),
            region: region.to_string(),
            partition: rectify_model::partition_of(region).to_string(),
        };
        Ok(self
            .list_queues(&sqs)
            .await?
            .iter()
            .filter_map(|url| arn_of_url(&place, url))
            .map(|arn| Target::listed(account, region, "AwsSqsQueue", arn))
            .collect())
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        kms_key(params)?;
        let name = queue_name(target)?;
        let sqs = self.client(target).await?;
        let url = sqs
            .get_queue_url()
            .queue_name(name)
            .queue_owner_aws_account_id(&target.account)
            .send()
            .await
            .map_err(|e| sdk_error_on("sqs:GetQueueUrl", name, e))?
            .queue_url()
            .unwrap_or_default()
            .to_string();
        let out = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::SqsManagedSseEnabled)
            .attribute_names(QueueAttributeName::KmsMasterKeyId)
            .attribute_names(QueueAttributeName::Policy)
            .send()
            .await
            .map_err(|e| sdk_error_on("sqs:GetQueueAttributes", name, e))?;
        let attrs = out.attributes();
        let attr = |n: QueueAttributeName| {
            attrs
                .and_then(|a| a.get(&n))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        let state = QueueState {
            queue: name.to_string(),
            encryption: Encryption {
                sqs_managed: attr(QueueAttributeName::SqsManagedSseEnabled).as_deref()
                    == Some("true"),
                kms_key: attr(QueueAttributeName::KmsMasterKeyId),
            },
            service_senders: service_principals(attr(QueueAttributeName::Policy).as_deref()),
            url,
        };
        Ok(Observed::new(
            state.encryption.on(),
            state,
            Default::default(),
        ))
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        let key = kms_key(params)?;
        let before: QueueState = recorded(&observed.state, ID)?;
        let after = if before.encryption.on() {
            before.encryption.clone()
        } else {
            Encryption {
                sqs_managed: key.is_none(),
                kms_key: key,
            }
        };
        let summary = if before.encryption.on() {
            format!(
                "queue {} is already encrypted at rest ({})",
                before.queue,
                before.encryption.text()
            )
        } else {
            format!(
                "encrypt queue {} at rest: {} (messages already in it stay as they are)",
                before.queue,
                after.text()
            )
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
        let before: QueueState = recorded(&change.before, ID)?;
        let after: Encryption = recorded(&change.after, ID)?;
        if after == before.encryption {
            return Ok(());
        }
        self.write(target, &before.url, &before.encryption, &after)
            .await
    }

    /// With a KMS key, AWS services that send to the queue need that key:
    /// their messages are lost until its key policy lets them use it.
    fn intent(&self, _: &Target, params: &Value, observed: &Observed) -> Vec<String> {
        let (Ok(Some(key)), Ok(state)) =
            (kms_key(params), recorded::<QueueState>(&observed.state, ID))
        else {
            return Vec::new();
        };
        if state.encryption.on() || state.service_senders.is_empty() {
            return Vec::new();
        }
        vec![format!(
            "queue {} lets {} send to it: with KMS key {key} their messages are lost unless the key \
             policy lets them use it (kms:GenerateDataKey, kms:Decrypt); check the key policy, or \
             use SQS managed keys (no kms_key_id)",
            state.queue,
            state.service_senders.join(", ")
        )]
    }

    fn revert_plan(
        &self,
        _: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        kms_key(params)?;
        let left: Encryption = recorded(&applied.after, ID)?;
        let found: QueueState = recorded(&applied.before, ID)?;
        let current: QueueState = recorded(&now.state, ID)?;
        unchanged_since(
            || format!("the encryption of queue {}", current.queue),
            &current.encryption,
            &left,
        )?;
        Ok(Change {
            summary: format!(
                "set the encryption of queue {} back to {} (new messages are stored as before)",
                current.queue,
                found.encryption.text()
            ),
            before: now.state.clone(),
            after: serde_json::to_value(found.encryption).expect("plain struct"),
        })
    }

    crate::actions::revert_by_apply!();

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let now: QueueState = recorded(&self.check(target, params).await?.state, ID)?;
        Ok(now.encryption == recorded::<Encryption>(&change.after, ID)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::event_resources::Place;
    use crate::actions::testing::target;
    use serde_json::json;

    #[test]
    fn names_urls_and_params() {
        let t = target(
            "AwsSqsQueue",
            "arn:aws:sqs:us-east-1:111122223333:orders.fifo",
            Value::Null,
        );
        assert_eq!(queue_name(&t).unwrap(), "orders.fifo");
        assert!(queue_name(&target("AwsSqsQueue", "orders", Value::Null)).is_err());
        let p = Place {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            partition: "aws".into(),
        };
        assert_eq!(
            arn_of_url(&p, "https://sqs.us-east-1.amazonaws.com/444455556666/jobs").unwrap(),
            "arn:aws:sqs:us-east-1:444455556666:jobs"
        );
        assert!(arn_of_url(&p, "https://sqs.us-east-1.amazonaws.com/x/jobs").is_none());
        assert_eq!(
            kms_key(&json!({"kms_key_id": "alias/q"}))
                .unwrap()
                .as_deref(),
            Some("alias/q")
        );
        assert!(kms_key(&json!({"key": 1})).is_err());
        let off = Encryption {
            sqs_managed: false,
            kms_key: None,
        };
        assert!(!off.on());
        assert_eq!(off.text(), "no encryption at rest");
    }
}
