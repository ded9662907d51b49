//! What the bucket actions and the bucket checks read of one bucket. In a
//! scan each read is made once per bucket and shared through the scan's
//! [`ScanReads`]: the tags one bucket action weighs are the tags every
//! other one weighs, and the Block Public Access settings the check reads
//! are the ones the action judges. A scan that takes settings from AWS
//! Config (a report-only scan, unless `--live`) reads them from the bucket's configuration
//! item where it states them ([`super::recorded`]). Outside a scan (a
//! job's check before it writes, a read-back) every read goes to S3.
//!
//! Every call names the bucket's owner: S3 refuses it (403) when the
//! bucket is another account's.

use std::any::Any;
use std::future::Future;

use aws_sdk_s3::types::{Grant, LoggingEnabled, ServerSideEncryptionConfiguration};
use rectify_model::{ActionError, ScanReads, Target};
use serde_json::{Map, Value};

use super::block_public_access::BlockPublicAccess;
use super::recorded::RecordedBucket;
use super::{bucket_of, s3_client};
use crate::actions::tag_map;
use crate::errors::{code_of, sdk_error_on};
use crate::Aws;

pub(crate) struct BucketReads<'a> {
    s3: aws_sdk_s3::Client,
    bucket: String,
    owner: String,
    region: String,
    scan: Option<&'a ScanReads>,
}

impl<'a> BucketReads<'a> {
    /// The bucket `target` names (validated), read in scan `scan` (`None`:
    /// read anew).
    pub async fn of(
        aws: &Aws,
        target: &Target,
        action: &str,
        scan: Option<&'a ScanReads>,
    ) -> Result<BucketReads<'a>, ActionError> {
        let bucket = bucket_of(target, action)?;
        let s3 = s3_client(aws, target).await?;
        Ok(BucketReads::new(
            s3,
            bucket,
            &target.account,
            &target.region,
            scan,
        ))
    }

    pub fn new(
        s3: aws_sdk_s3::Client,
        bucket: String,
        owner: &str,
        region: &str,
        scan: Option<&'a ScanReads>,
    ) -> BucketReads<'a> {
        BucketReads {
            s3,
            bucket,
            owner: owner.to_string(),
            region: region.to_string(),
            scan,
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    /// `read` once per bucket and scan (within the scan's slots for S3 in
    /// the bucket's region, with its backoff), or anew outside a scan; in
    /// a scan that takes settings from AWS Config, what `recorded` picks
    /// of the bucket's configuration item where it states it.
    async fn shared<T, F, Fut>(
        &self,
        operation: &str,
        recorded: impl FnOnce(&RecordedBucket) -> Option<T>,
        read: F,
    ) -> Result<T, ActionError>
    where
        T: Clone + Any + Send + Sync,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ActionError>>,
    {
        if let Some(value) = self.scan.and_then(|reads| {
            super::recorded::setting(reads, &self.owner, &self.region, &self.bucket, recorded)
        }) {
            return Ok(value);
        }
        let key = format!("s3:{operation}/{}/{}", self.owner, self.bucket);
        ScanReads::shared(self.scan, &key, "s3", &self.region, read).await
    }

    /// The bucket's tags (none: empty); in a report-only scan, from the
    /// region's tags read once ([`super::tagged`]).
    pub async fn tags(&self) -> Result<Map<String, Value>, ActionError> {
        if let Some(tags) = self
            .scan
            .and_then(|reads| super::tagged::tags(reads, &self.owner, &self.region, &self.bucket))
        {
            return Ok(tags);
        }
        self.shared(
            "GetBucketTagging",
            |_| None,
            || async {
                match self
                    .s3
                    .get_bucket_tagging()
                    .bucket(&self.bucket)
                    .expected_bucket_owner(&self.owner)
                    .send()
                    .await
                {
                    Ok(out) => Ok(tag_map(out.tag_set().iter().map(|t| (t.key(), t.value())))),
                    Err(e) if code_of(&e) == Some("NoSuchTagSet") => Ok(Map::new()),
                    Err(e) => Err(sdk_error_on("s3:GetBucketTagging", &self.bucket, e)),
                }
            },
        )
        .await
    }

    /// The bucket's four Block Public Access settings; `None`: it has no
    /// configuration.
    pub async fn public_access_block(&self) -> Result<Option<BlockPublicAccess>, ActionError> {
        self.shared(
            "GetPublicAccessBlock",
            |b| b.public_access_block,
            || async {
                match self
                    .s3
                    .get_public_access_block()
                    .bucket(&self.bucket)
                    .expected_bucket_owner(&self.owner)
                    .send()
                    .await
                {
                    Ok(out) => {
                        let c = out.public_access_block_configuration();
                        let on = |f: fn(
                            &aws_sdk_s3::types::PublicAccessBlockConfiguration,
                        ) -> Option<bool>| {
                            c.and_then(f).unwrap_or(false)
                        };
                        Ok(Some(BlockPublicAccess {
                            block_public_acls: on(|c| c.block_public_acls()),
                            ignore_public_acls: on(|c| c.ignore_public_acls()),
                            block_public_policy: on(|c| c.block_public_policy()),
                            restrict_public_buckets: on(|c| c.restrict_public_buckets()),
                        }))
                    }
                    Err(e) if code_of(&e) == Some("NoSuchPublicAccessBlockConfiguration") => {
                        Ok(None)
                    }
                    Err(e) => Err(sdk_error_on(
                        "s3:GetBucketPublicAccessBlock",
                        &self.bucket,
                        e,
                    )),
                }
            },
        )
        .await
    }

    /// The bucket's default encryption configuration; `None`: it has none.
    pub async fn encryption(
        &self,
    ) -> Result<Option<ServerSideEncryptionConfiguration>, ActionError> {
        self.shared(
            "GetBucketEncryption",
            |b| b.encryption.clone(),
            || async {
                match self
                    .s3
                    .get_bucket_encryption()
                    .bucket(&self.bucket)
                    .expected_bucket_owner(&self.owner)
                    .send()
                    .await
                {
                    Ok(out) => Ok(out.server_side_encryption_configuration().cloned()),
                    Err(e)
                        if code_of(&e)
                            == Some("ServerSideEncryptionConfigurationNotFoundError") =>
                    {
                        Ok(None)
                    }
                    Err(e) => Err(sdk_error_on(
                        "s3:GetEncryptionConfiguration",
                        &self.bucket,
                        e,
                    )),
                }
            },
        )
        .await
    }

    /// The bucket policy, parsed; `None`: the bucket has none.
    pub async fn policy(&self) -> Result<Option<Value>, ActionError> {
        self.shared(
            "GetBucketPolicy",
            |b| b.policy.clone(),
            || async {
                match self
                    .s3
                    .get_bucket_policy()
                    .bucket(&self.bucket)
                    .expected_bucket_owner(&self.owner)
                    .send()
                    .await
                {
                    Ok(out) => {
                        let text = out.policy().unwrap_or("{}");
                        crate::actions::resource_policy::parse(
                            text,
                            &format!("bucket {}", self.bucket),
                        )
                        .map(Some)
                    }
                    Err(e) if code_of(&e) == Some("NoSuchBucketPolicy") => Ok(None),
                    Err(e) => Err(sdk_error_on("s3:GetBucketPolicy", &self.bucket, e)),
                }
            },
        )
        .await
    }

    /// Where the bucket's server access logs go; `None`: not logged.
    pub async fn logging(&self) -> Result<Option<LoggingEnabled>, ActionError> {
        self.shared(
            "GetBucketLogging",
            |b| b.logging.clone(),
            || async {
                self.s3
                    .get_bucket_logging()
                    .bucket(&self.bucket)
                    .expected_bucket_owner(&self.owner)
                    .send()
                    .await
                    .map(|out| out.logging_enabled().cloned())
                    .map_err(|e| sdk_error_on("s3:GetBucketLogging", &self.bucket, e))
            },
        )
        .await
    }

    /// Whether the bucket hosts a static website (`GetBucketWebsite`).
    pub async fn website(&self) -> Result<bool, ActionError> {
        self.shared(
            "GetBucketWebsite",
            |b| b.website,
            || async {
                match self
                    .s3
                    .get_bucket_website()
                    .bucket(&self.bucket)
                    .expected_bucket_owner(&self.owner)
                    .send()
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(e) if code_of(&e) == Some("NoSuchWebsiteConfiguration") => Ok(false),
                    Err(e) => Err(sdk_error_on("s3:GetBucketWebsite", &self.bucket, e)),
                }
            },
        )
        .await
    }

    /// The grants of the bucket ACL.
    pub async fn acl_grants(&self) -> Result<Vec<Grant>, ActionError> {
        self.shared(
            "GetBucketAcl",
            |b| b.acl.clone(),
            || async {
                self.s3
                    .get_bucket_acl()
                    .bucket(&self.bucket)
                    .expected_bucket_owner(&self.owner)
                    .send()
                    .await
                    .map(|out| out.grants().to_vec())
                    .map_err(|e| sdk_error_on("s3:GetBucketAcl", &self.bucket, e))
            },
        )
        .await
    }
}
