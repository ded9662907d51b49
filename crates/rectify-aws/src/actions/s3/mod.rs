//! S3 remediation actions, one file each, and what the bucket actions
//! share: the bucket a target names (validated), clients, the bucket's
//! tags and its policy.

use std::sync::Arc;

use rectify_model::{Action, ActionError, Target};
use serde_json::{Map, Value};

use bucket_reads::BucketReads;

use crate::errors::sdk_error_on;
use crate::Aws;

pub mod access_logging;
pub mod account_public_access_block;
pub mod block_public_access;
pub(crate) mod bucket_reads;
pub mod default_encryption;
pub mod deny_principal;
pub(crate) mod recorded;
pub mod require_tls;
pub mod restrict_cross_account;
pub(crate) mod tagged;

/// This service's actions, in catalog order.
pub fn catalog(aws: &Arc<Aws>) -> Vec<Arc<dyn Action>> {
    vec![
        Arc::new(block_public_access::S3BlockPublicAccess::new(aws.clone())),
        Arc::new(account_public_access_block::S3AccountPublicAccessBlock::new(aws.clone())),
        Arc::new(require_tls::S3RequireTls::new(aws.clone())),
        Arc::new(default_encryption::S3DefaultEncryption::new(aws.clone())),
        Arc::new(access_logging::S3AccessLogging::new(aws.clone())),
        Arc::new(restrict_cross_account::S3RestrictCrossAccount::new(
            aws.clone(),
        )),
        Arc::new(deny_principal::S3DenyPrincipal::new(aws.clone())),
    ]
}

/// `discover`, `discover_in_scan`, `inventory`, `check` and
/// `check_in_scan` of a bucket action, inside its `#[async_trait] impl
/// Action`: the account's buckets in the region (listed once per scan),
/// how many buckets the account has, and the type's own
/// `observe(target, params, scan)`.
macro_rules! bucket_targets {
    () => {
        $crate::actions::listed_targets!(
            $crate::actions::s3::buckets_in,
            $crate::actions::s3::buckets_in_scan,
            $crate::actions::s3::bucket_inventory
        );
        $crate::actions::observed_checks!();
    };
}
pub(crate) use bucket_targets;

/// Whether `name` is a valid general purpose bucket name: 3 to 63
/// lowercase letters, digits, dots and hyphens, starting and ending with a
/// letter or digit, no `..`, not an IP address.
pub(crate) fn valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

/// The bucket a target names: `arn:<partition>:s3:::<bucket>` (or the
/// bare name) with a valid bucket name, in the target's partition.
pub(crate) fn bucket_of(target: &Target, action: &str) -> Result<String, ActionError> {
    let id = target.resource_id.as_str();
    let prefix = format!("arn:{}:s3:::", target.partition);
    let name = id.strip_prefix(&prefix).unwrap_or(id);
    if !valid_bucket_name(name) {
        return Err(ActionError::invalid(format!(
            "{action}: resource id {id:?} is not a bucket (arn:{}:s3:::<bucket name>)",
            target.partition
        )));
    }
    Ok(name.to_string())
}

/// An S3 client acting in the target's account and region.
pub(crate) async fn s3_client(
    aws: &Aws,
    target: &Target,
) -> Result<aws_sdk_s3::Client, ActionError> {
    let config = aws.config_for(&target.account, &target.region).await?;
    Ok(aws.s3(&config))
}

/// Every bucket of the account (S3 lists them account-wide): its name,
/// and its region when the listing gives it.
async fn listed_buckets(
    s3: &aws_sdk_s3::Client,
) -> Result<Vec<(String, Option<String>)>, ActionError> {
    crate::actions::collect_pages(|token| {
        let request = s3.list_buckets().set_continuation_token(token);
        async move {
            let out = request
                .send()
                .await
                .map_err(|e| crate::errors::sdk_error("s3:ListAllMyBuckets", e))?;
            let page = out
                .buckets()
                .iter()
                .filter_map(|b| {
                    Some((b.name()?.to_string(), b.bucket_region().map(str::to_string)))
                })
                .collect();
            Ok((page, out.continuation_token().map(str::to_string)))
        }
    })
    .await
}

/// How many buckets the account has: the inventory of the bucket actions.
pub(crate) async fn bucket_count(s3: &aws_sdk_s3::Client) -> Result<u64, ActionError> {
    Ok(listed_buckets(s3).await?.len() as u64)
}

/// The inventory of a bucket action: how many buckets `target`'s account
/// has (every bucket action counts the same).
pub(crate) async fn bucket_inventory(
    aws: &Aws,
    target: &Target,
) -> Result<Option<u64>, ActionError> {
    let s3 = s3_client(aws, target).await?;
    bucket_count(&s3).await.map(Some)
}

/// The account's buckets in `region`, as targets for `rectify scan`: one
/// `ListBuckets` with `BucketRegion` set (S3 answers only that region's
/// buckets, so none costs a `GetBucketLocation`).
pub(crate) async fn buckets_in(
    aws: &Aws,
    account: &str,
    region: &str,
) -> Result<Vec<Target>, ActionError> {
    let reads = rectify_model::ScanReads::new(1);
    buckets_in_scan(aws, &reads, account, region).await
}

/// [`buckets_in`] within a scan: the listing made once for every bucket
/// action and check of the scan.
pub(crate) async fn buckets_in_scan(
    aws: &Aws,
    reads: &rectify_model::ScanReads,
    account: &str,
    region: &str,
) -> Result<Vec<Target>, ActionError> {
    let names = crate::checks::reads::buckets_in(aws, reads, account, region).await?;
    let partition = rectify_model::partition_of(region);
    Ok(names
        .iter()
        .map(|name| {
            Target::listed(
                account,
                region,
                "AwsS3Bucket",
                format!("arn:{partition}:s3:::{name}"),
            )
        })
        .collect())
}

/// The bucket's tags (none: empty), read anew.
pub(crate) async fn bucket_tags(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    owner: &str,
) -> Result<Map<String, Value>, ActionError> {
    BucketReads::new(s3.clone(), bucket.to_string(), owner, "", None)
        .tags()
        .await
}

/// The bucket policy, parsed, read anew; `None` when the bucket has none.
pub(crate) async fn bucket_policy(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    owner: &str,
) -> Result<Option<Value>, ActionError> {
    BucketReads::new(s3.clone(), bucket.to_string(), owner, "", None)
        .policy()
        .await
}

/// Puts `policy` on the bucket, or deletes the bucket policy when `None`.
pub(crate) async fn put_bucket_policy(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    owner: &str,
    policy: Option<&Value>,
) -> Result<(), ActionError> {
    match policy {
        Some(doc) => s3
            .put_bucket_policy()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .policy(doc.to_string())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error_on("s3:PutBucketPolicy", bucket, e)),
        None => s3
            .delete_bucket_policy()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error_on("s3:DeleteBucketPolicy", bucket, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;

    #[test]
    fn bucket_names_are_validated() {
        for good in ["my-bucket", "a.b.c", "abc", "logs-111122223333"] {
            assert!(valid_bucket_name(good), "{good}");
        }
        for bad in [
            "ab",
            "My-Bucket",
            "-lead",
            "trail-",
            "a..b",
            "192.168.1.1",
            "b/key",
            "b?x",
            &"x".repeat(64),
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
        let t = target("AwsS3Bucket", "arn:aws:s3:::payments", Value::Null);
        assert_eq!(bucket_of(&t, "x").unwrap(), "payments");
        let t = target("AwsS3Bucket", "arn:aws:s3:::payments/key", Value::Null);
        assert!(bucket_of(&t, "x")
            .unwrap_err()
            .message
            .contains("is not a bucket"));
        let t = target("AwsS3Bucket", "arn:aws-cn:s3:::payments", Value::Null);
        assert!(bucket_of(&t, "x").is_err());
    }
}
