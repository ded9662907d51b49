//! CIS 2.1.4 / S3.8: every bucket blocks public access with all four
//! Block Public Access settings of its own (`GetPublicAccessBlock`).
//! (CIS also accepts the account-wide settings; S3.8 does not, and
//! neither does this check.)

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};
use serde_json::json;

use super::reads;
use crate::actions::s3::bucket_reads::BucketReads;
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "s3.bucket-block-public-access",
    title: "S3 buckets block public access (all four settings)",
    severity: Severity::High,
    resource_type: "AwsS3Bucket",
    service: "s3",
    controls: &["S3.8"],
    permissions: &["s3:ListAllMyBuckets", "s3:GetBucketPublicAccessBlock"],
    account_wide: false,
};

pub struct BucketBlockPublicAccess(pub Arc<Aws>);

#[async_trait]
impl Check for BucketBlockPublicAccess {
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
                let settings = BucketReads::new(s3, bucket.clone(), account, region, Some(r))
                    .public_access_block()
                    .await?
                    .map(|f| {
                        [
                            f.block_public_acls,
                            f.ignore_public_acls,
                            f.block_public_policy,
                            f.restrict_public_buckets,
                        ]
                    });
                let on = settings.unwrap_or_default();
                let pass = on.iter().all(|b| *b);
                Ok::<_, ActionError>(Verdict::new(
                    account,
                    region,
                    SPEC.resource_type,
                    format!("arn:{partition}:s3:::{bucket}"),
                    pass,
                    match settings {
                        None => format!("{bucket} has no Block Public Access settings"),
                        Some(_) if pass => format!("{bucket} blocks public access (all four settings)"),
                        Some(_) => format!(
                            "{bucket} Block Public Access: BlockPublicAcls {}, IgnorePublicAcls {}, BlockPublicPolicy {}, RestrictPublicBuckets {}",
                            on[0], on[1], on[2], on[3]
                        ),
                    },
                    json!({
                        "BlockPublicAcls": on[0],
                        "IgnorePublicAcls": on[1],
                        "BlockPublicPolicy": on[2],
                        "RestrictPublicBuckets": on[3],
                    }),
                ))
            }
        }))
        .await;
        judged.into_iter().collect()
    }
}
