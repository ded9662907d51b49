//! `aws.s3.block-public-access`: turns on all four S3 Block Public Access
//! settings of one bucket (Security Hub S3.2, S3.3, S3.8).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::types::PublicAccessBlockConfiguration;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::{collect_pages, no_params, tag_map};
use crate::errors::{code_of, sdk_error, sdk_error_on};
use crate::Aws;

pub const ID: &str = "aws.s3.block-public-access";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Turn on all four S3 Block Public Access settings of a bucket.",
    controls: &["S3.2", "S3.3", "S3.8"],
    resource_types: &["AwsS3Bucket"],
    account_wide: false,
    permissions: &[
        "s3:GetBucketPublicAccessBlock",
        "s3:PutBucketPublicAccessBlock",
        "s3:GetBucketTagging",
        "s3:ListAllMyBuckets",
        "s3:GetBucketLocation",
    ],
    params: &[],
};

/// The bucket's Block Public Access settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockPublicAccess {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

impl BlockPublicAccess {
    pub const ALL_ON: BlockPublicAccess = BlockPublicAccess {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };

    pub fn all_on(&self) -> bool {
        *self == Self::ALL_ON
    }
}

pub struct S3BlockPublicAccess {
    aws: Arc<Aws>,
}

impl S3BlockPublicAccess {
    pub fn new(aws: Arc<Aws>) -> Self {
        S3BlockPublicAccess { aws }
    }

    async fn client(&self, target: &Target) -> Result<aws_sdk_s3::Client, ActionError> {
        let config = self.aws.config_for(&target.account, &target.region).await?;
        Ok(self.aws.s3(&config))
    }
}

fn bucket_of(target: &Target) -> Result<&str, ActionError> {
    let bucket = target.resource_name();
    if bucket.is_empty() {
        return Err(ActionError::invalid(format!(
            "{}: no bucket name in resource id {:?}",
            ID, target.resource_id
        )));
    }
    Ok(bucket)
}

fn validate(params: &Value) -> Result<(), String> {
    no_params(params, ID)
}

#[async_trait]
impl Action for S3BlockPublicAccess {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        validate(params)
    }

    /// The account's buckets (S3 lists them account-wide).
    async fn inventory(&self, target: &Target, _: &Value) -> Result<Option<u64>, ActionError> {
        let s3 = self.client(target).await?;
        Ok(Some(list_buckets(&s3).await?.len() as u64))
    }

    /// The account's buckets in `region`: S3 lists every bucket of the
    /// account, each with its region (else `GetBucketLocation` tells it).
    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        let config = self.aws.config_for(account, region).await?;
        let s3 = self.aws.s3(&config);
        let buckets = list_buckets(&s3).await?;
        let partition = rectify_model::partition_of(region);
        let mut found = Vec::new();
        for (name, listed_in) in buckets {
            let bucket_region = match listed_in {
                Some(r) => r,
                None => {
                    let out = s3
                        .get_bucket_location()
                        .bucket(&name)
                        .expected_bucket_owner(account)
                        .send()
                        .await
                        .map_err(|e| sdk_error_on("s3:GetBucketLocation", &name, e))?;
                    // No constraint: us-east-1; `EU`: the old name of eu-west-1.
                    match out.location_constraint().map(|c| c.as_str()) {
                        None | Some("") => "us-east-1".to_string(),
                        Some("EU") => "eu-west-1".to_string(),
                        Some(other) => other.to_string(),
                    }
                }
            };
            if bucket_region == region {
                found.push(Target::listed(
                    account,
                    region,
                    "AwsS3Bucket",
                    format!("arn:{partition}:s3:::{name}"),
                ));
            }
        }
        Ok(found)
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        validate(params).map_err(ActionError::invalid)?;
        let bucket = bucket_of(target)?;
        let s3 = self.client(target).await?;

        // Every call on the bucket names its owner: S3 refuses it
        // (403) when the bucket is another account's.
        let owner = target.account.as_str();
        let state = match s3
            .get_public_access_block()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .send()
            .await
        {
            Ok(out) => {
                let c = out.public_access_block_configuration();
                BlockPublicAccess {
                    block_public_acls: c.and_then(|c| c.block_public_acls()).unwrap_or(false),
                    ignore_public_acls: c.and_then(|c| c.ignore_public_acls()).unwrap_or(false),
                    block_public_policy: c.and_then(|c| c.block_public_policy()).unwrap_or(false),
                    restrict_public_buckets: c
                        .and_then(|c| c.restrict_public_buckets())
                        .unwrap_or(false),
                }
            }
            Err(e) if code_of(&e) == Some("NoSuchPublicAccessBlockConfiguration") => {
                BlockPublicAccess {
                    block_public_acls: false,
                    ignore_public_acls: false,
                    block_public_policy: false,
                    restrict_public_buckets: false,
                }
            }
            Err(e) => return Err(sdk_error_on("s3:GetBucketPublicAccessBlock", bucket, e)),
        };

        let tags = match s3
            .get_bucket_tagging()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .send()
            .await
        {
            Ok(out) => tag_map(out.tag_set().iter().map(|t| (t.key(), t.value()))),
            Err(e) if code_of(&e) == Some("NoSuchTagSet") => Default::default(),
            Err(e) => return Err(sdk_error_on("s3:GetBucketTagging", bucket, e)),
        };

        Ok(Observed {
            compliant: state.all_on(),
            state: serde_json::to_value(state).expect("plain struct"),
            tags,
        })
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        validate(params).map_err(ActionError::invalid)?;
        let bucket = bucket_of(target)?;
        let before: BlockPublicAccess = serde_json::from_value(observed.state.clone())
            .map_err(|e| ActionError::invalid(format!("{ID}: unexpected observed state: {e}")))?;
        let summary = if before.all_on() {
            format!("S3 Block Public Access is already on for bucket {bucket}")
        } else {
            format!("turn on all four S3 Block Public Access settings of bucket {bucket}")
        };
        Ok(Change {
            summary,
            before: observed.state.clone(),
            after: serde_json::to_value(BlockPublicAccess::ALL_ON).expect("plain struct"),
        })
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        validate(params).map_err(ActionError::invalid)?;
        let after: BlockPublicAccess = serde_json::from_value(change.after.clone())
            .map_err(|e| ActionError::invalid(format!("{ID}: unexpected planned state: {e}")))?;
        let bucket = bucket_of(target)?;
        let s3 = self.client(target).await?;
        let config = PublicAccessBlockConfiguration::builder()
            .block_public_acls(after.block_public_acls)
            .ignore_public_acls(after.ignore_public_acls)
            .block_public_policy(after.block_public_policy)
            .restrict_public_buckets(after.restrict_public_buckets)
            .build();
        s3.put_public_access_block()
            .bucket(bucket)
            .expected_bucket_owner(&target.account)
            .public_access_block_configuration(config)
            .send()
            .await
            .map_err(|e| sdk_error_on("s3:PutBucketPublicAccessBlock", bucket, e))?;
        Ok(())
    }
}

/// Every bucket of the account: its name, and its region when the listing
/// gives it.
async fn list_buckets(
    s3: &aws_sdk_s3::Client,
) -> Result<Vec<(String, Option<String>)>, ActionError> {
    collect_pages(|token| {
        let request = s3.list_buckets().set_continuation_token(token);
        async move {
            let out = request
                .send()
                .await
                .map_err(|e| sdk_error("s3:ListAllMyBuckets", e))?;
            let buckets = out
                .buckets()
                .iter()
                .filter_map(|b| {
                    Some((b.name()?.to_string(), b.bucket_region().map(str::to_string)))
                })
                .collect();
            Ok((buckets, out.continuation_token().map(str::to_string)))
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;
    use crate::AwsSettings;
    use serde_json::json;

    async fn action() -> S3BlockPublicAccess {
        S3BlockPublicAccess::new(Arc::new(Aws::new(AwsSettings::new("us-east-1")).await))
    }

    #[tokio::test]
    async fn params() {
        let a = action().await;
        assert!(a.validate_params(&json!({})).is_ok());
        assert!(a.validate_params(&Value::Null).is_ok());
        let err = a.validate_params(&json!({"force": true})).unwrap_err();
        assert_eq!(
            err,
            "params.force: aws.s3.block-public-access takes no params"
        );
        assert_eq!(
            a.validate_params(&json!("x")).unwrap_err(),
            "params: expected an object, got a string"
        );
    }

    #[tokio::test]
    async fn plan_turns_everything_on() {
        let a = action().await;
        let t = target("AwsS3Bucket", "arn:aws:s3:::my-bucket", Value::Null);
        let before = json!({"block_public_acls": true, "ignore_public_acls": false,
            "block_public_policy": false, "restrict_public_buckets": false});
        let observed = Observed {
            compliant: false,
            state: before.clone(),
            tags: Default::default(),
        };
        let change = a.plan(&t, &json!({}), &observed).unwrap();
        assert_eq!(change.before, before);
        assert_eq!(
            change.after,
            json!({"block_public_acls": true, "ignore_public_acls": true,
                "block_public_policy": true, "restrict_public_buckets": true})
        );
        assert!(change.summary.contains("my-bucket"));
    }
}
