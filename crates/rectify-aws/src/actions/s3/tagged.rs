//! The tags of a region's buckets from the Resource Groups Tagging API
//! (`GetResources`, 100 buckets a call) instead of one `GetBucketTagging`
//! a bucket, in a report-only scan ([`ScanReads::verdicts_only`]): there a
//! tag decides only whether a failed verdict is reported exempt. The API
//! answers from its own copy of each bucket's tags, which can lag a change
//! by minutes, so a scan that feeds the rules (and so may lead to a write)
//! reads each bucket's own tags. A bucket the API does not name has no
//! tags (it returns tagged resources only). Where the API cannot be read
//! (its permission not granted, say), the tags come from S3 and a note
//! says why.

use std::collections::HashMap;

use rectify_model::{ActionError, ScanReads};
use serde_json::{Map, Value};

use crate::actions::tag_map;
use crate::checks::reads;
use crate::errors::sdk_error_on;
use crate::Aws;

/// Tags by bucket name, for the buckets that have any.
pub(crate) type TaggedBuckets = HashMap<String, Map<String, Value>>;

fn key(account: &str, region: &str) -> String {
    format!("tag:GetResources/s3/{account}/{region}")
}

/// The tags of `bucket` as this scan loaded them ([`load`]); `None`: they
/// were not (not a report-only scan, or the API could not be read).
pub(crate) fn tags(
    scan: &ScanReads,
    account: &str,
    region: &str,
    bucket: &str,
) -> Option<Map<String, Value>> {
    if !ScanReads::verdicts_only(Some(scan)) {
        return None;
    }
    let tagged = scan.made::<Option<TaggedBuckets>>(&key(account, region))?;
    let tagged = tagged.as_ref().as_ref()?;
    Some(tagged.get(bucket).cloned().unwrap_or_default())
}

/// Reads the tags of the buckets of `account` in `region` once in a
/// report-only scan (nothing otherwise). Never fails: an error becomes a
/// note, and the tags are then read from S3.
pub(crate) async fn load(aws: &Aws, scan: &ScanReads, account: &str, region: &str) {
    if !ScanReads::verdicts_only(Some(scan)) {
        return;
    }
    let _ = scan
        .once(&key(account, region), || async {
            match tagged_buckets(aws, scan, account, region).await {
                Ok(tagged) => Ok::<_, ActionError>(Some(tagged)),
                Err(e) => {
                    scan.note(format!(
                        "account {account} in {region}: bucket tags read from S3: the Resource Groups Tagging API could not be read ({})",
                        e.message
                    ));
                    Ok(None)
                }
            }
        })
        .await;
}

async fn tagged_buckets(
    aws: &Aws,
    scan: &ScanReads,
    account: &str,
    region: &str,
) -> Result<TaggedBuckets, ActionError> {
    let config = aws.config_for(account, region).await?;
    let client = aws_sdk_resourcegroupstagging::Client::new(&config);
    let buckets = reads::paged(
        scan,
        "tagging",
        region,
        |token| {
            client
                .get_resources()
                .resource_type_filters("s3")
                .resources_per_page(100)
                .set_pagination_token(token)
        },
        |request| async move {
            let out = request.send().await.map_err(|e| {
                sdk_error_on(
                    "tag:GetResources",
                    &format!("account {account} in {region}"),
                    e,
                )
            })?;
            let buckets = out
                .resource_tag_mapping_list()
                .iter()
                .filter_map(|m| {
                    let name = bucket_of_arn(m.resource_arn()?)?;
                    let tags = tag_map(m.tags().iter().map(|t| (t.key(), t.value())));
                    Some((name.to_string(), tags))
                })
                .collect();
            // The last page has no token (AWS also answers an empty one).
            let next = out
                .pagination_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            Ok((buckets, next))
        },
    )
    .await?;
    Ok(buckets.into_iter().collect())
}

/// The bucket an S3 ARN names (`arn:PARTITION:s3:::NAME`); `None` for any
/// other S3 resource (an access point, an object, a Storage Lens
/// configuration) or ARN.
fn bucket_of_arn(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (arn_prefix, _partition, service, region, account) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let name = parts.next()?;
    let bucket = arn_prefix == "arn"
        && service == "s3"
        && region.is_empty()
        && account.is_empty()
        && !name.is_empty()
        && !name.contains('/');
    bucket.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bucket_arns_name_a_bucket() {
        assert_eq!(bucket_of_arn("arn:aws:s3:::logs-1"), Some("logs-1"));
        assert_eq!(
            bucket_of_arn("arn:aws-us-gov:s3:::gov.bucket"),
            Some("gov.bucket")
        );
        assert_eq!(bucket_of_arn("arn:aws:s3:::logs-1/key"), None);
        assert_eq!(
            bucket_of_arn("arn:aws:s3:us-east-1:111122223333:accesspoint/ap"),
            None
        );
        assert_eq!(
            bucket_of_arn("arn:aws:s3:us-east-1:111122223333:storage-lens/default"),
            None
        );
        assert_eq!(bucket_of_arn("arn:aws:sqs:::queue"), None);
        assert_eq!(bucket_of_arn("arn:aws:s3:::"), None);
        assert_eq!(bucket_of_arn("s3:::logs-1"), None);
    }

    #[test]
    fn tags_are_given_only_in_a_report_only_scan_that_loaded_them() {
        let scan = ScanReads::new(1).with_verdicts_only(true);
        assert_eq!(tags(&scan, "1", "r", "b"), None);
        let feeding = ScanReads::new(1);
        assert_eq!(tags(&feeding, "1", "r", "b"), None);
    }
}
