//! S3.4 (CIS v1.4 2.1.1, PCI DSS v3.2.1): every bucket has default
//! server-side encryption configured (`GetBucketEncryption`). AWS
//! encrypts new objects by default since 2023; a bucket that reports no
//! configuration fails here.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};
use serde_json::json;

use super::reads;
use crate::actions::s3::bucket_reads::BucketReads;
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "s3.bucket-default-encryption",
    title: "S3 buckets have default server-side encryption",
    severity: Severity::Medium,
    resource_type: "AwsS3Bucket",
    service: "s3",
    controls: &["S3.4"],
    permissions: &["s3:ListAllMyBuckets", "s3:GetEncryptionConfiguration"],
    account_wide: false,
};

pub struct BucketDefaultEncryption(pub Arc<Aws>);

#[async_trait]
impl Check for BucketDefaultEncryption {
    fn spec(&self) -> &'static CheckSpec {
        &SPEC
    }

    async fn run(
        &self,
        account: &str,
        region: &str,
        r: &ScanReads,
    ) -> Result<Vec<Verdict>, ActionError> {
        let buckets = reads::buckets_in(&self.0, r, account, region).await?;
        let config = self.0.config_for(account, region).await?;
        let s3 = self.0.s3(&config);
        let partition = rectify_model::partition_of(region);
        let judged = futures_util::future::join_all(buckets.iter().map(|bucket| {
            let s3 = s3.clone();
            async move {
                // Read once per bucket and scan: the bucket action judges
                // the same answer.
                let algorithms: Option<Vec<String>> =
                    BucketReads::new(s3, bucket.clone(), account, region, Some(r))
                        .encryption()
                        .await?
                        .map(|c| {
                            c.rules()
                                .iter()
                                .filter_map(|r| {
                                    r.apply_server_side_encryption_by_default()
                                        .map(|d| d.sse_algorithm().as_str().to_string())
                                })
                                .collect()
                        });
                let pass = algorithms.as_ref().is_some_and(|a| !a.is_empty());
                Ok::<_, ActionError>(Verdict::new(
                    account,
                    region,
                    SPEC.resource_type,
                    format!("arn:{partition}:s3:::{bucket}"),
                    pass,
                    match &algorithms {
                        Some(a) if pass => {
                            format!("{bucket} encrypts by default with {}", a.join(", "))
                        }
                        _ => format!("{bucket} has no default encryption configuration"),
                    },
                    json!({"SSEAlgorithms": algorithms}),
                ))
            }
        }))
        .await;
        judged.into_iter().collect()
    }
}
