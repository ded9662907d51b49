//! The audit chain outside the database: anchors written to S3 under
//! Object Lock in compliance mode (no one, the bucket's owner included, can
//! delete or overwrite an anchor before its retention ends), and an AWS KMS
//! HMAC key as the audit log's [`MacSigner`].
//!
//! What an anchor holds and how its MAC is made is the store's business
//! (`rectify_store::audit`); this module only moves bytes.

use aws_config::SdkConfig;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::MacAlgorithmSpec;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectLockEnabled, ObjectLockMode};
use rectify_model::mac::MacSigner;

/// An AWS KMS HMAC key (key spec `HMAC_256`, usage `GENERATE_VERIFY_MAC`):
/// `GenerateMac` and `VerifyMac` with `HMAC_SHA_256`. The key never leaves
/// KMS; rectify's identity needs `kms:GenerateMac` (and `kms:VerifyMac` to
/// verify anchors) on it.
pub struct KmsMac {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsMac {
    pub fn new(config: &SdkConfig, key_id: &str) -> KmsMac {
        KmsMac {
            client: aws_sdk_kms::Client::new(config),
            key_id: key_id.to_string(),
        }
    }
}

#[async_trait::async_trait]
impl MacSigner for KmsMac {
    async fn mac(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let out = self
            .client
            .generate_mac()
            .key_id(&self.key_id)
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .message(Blob::new(message))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "KMS GenerateMac with {}: {}",
                    self.key_id,
                    DisplayErrorContext(&e)
                )
            })?;
        out.mac
            .map(Blob::into_inner)
            .ok_or_else(|| format!("KMS GenerateMac with {} returned no MAC", self.key_id))
    }

    async fn verify(&self, message: &[u8], mac: &[u8]) -> Result<bool, String> {
        let result = self
            .client
            .verify_mac()
            .key_id(&self.key_id)
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .message(Blob::new(message))
            .mac(Blob::new(mac))
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.mac_valid),
            // KMS answers a MAC that does not match with an error.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_kms_invalid_mac_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(format!(
                "KMS VerifyMac with {}: {}",
                self.key_id,
                DisplayErrorContext(&e)
            )),
        }
    }

    fn describe(&self) -> String {
        format!("KMS key {}", self.key_id)
    }
}

/// Anchor objects under `prefix/` in a bucket with Object Lock enabled.
pub struct AnchorBucket {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl AnchorBucket {
    /// `client`: rectify's own S3 client (`Aws::s3`, path-style when the
    /// endpoint is overridden).
    pub fn new(client: aws_sdk_s3::Client, bucket: &str, prefix: &str) -> AnchorBucket {
        AnchorBucket {
            client,
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        }
    }

    fn where_(&self) -> String {
        format!("s3://{}/{}/", self.bucket, self.prefix)
    }

    /// The object key of the anchor of `seq` written at `millis`: the seq
    /// zero-padded, so that a listing is in chain order.
    fn key(&self, seq: i64, millis: i128) -> String {
        let name = format!("{seq:020}-{millis}.json");
        if self.prefix.is_empty() {
            name
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// Fails unless the bucket has Object Lock enabled: without it an
    /// anchor could be deleted by whoever can write the bucket.
    pub async fn check_object_lock(&self) -> Result<(), String> {
        let out = self
            .client
            .get_object_lock_configuration()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "reading the Object Lock configuration of bucket {}: {}",
                    self.bucket,
                    DisplayErrorContext(&e)
                )
            })?;
        let enabled = out
            .object_lock_configuration()
            .and_then(|c| c.object_lock_enabled())
            == Some(&ObjectLockEnabled::Enabled);
        if !enabled {
            return Err(format!(
                "bucket {} does not have Object Lock enabled: create it with Object Lock \
                 (`aws s3api create-bucket --object-lock-enabled-for-bucket`)",
                self.bucket
            ));
        }
        Ok(())
    }

    /// Writes one anchor (`body`, JSON) for `seq`, locked in compliance mode
    /// for `retain_days`; returns its object key.
    pub async fn put(&self, seq: i64, body: Vec<u8>, retain_days: u32) -> Result<String, String> {
        let now = time::OffsetDateTime::now_utc();
        let until = now + time::Duration::days(i64::from(retain_days));
        let key = self.key(seq, now.unix_timestamp_nanos() / 1_000_000);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .object_lock_mode(ObjectLockMode::Compliance)
            .object_lock_retain_until_date(DateTime::from_secs(until.unix_timestamp()))
            // S3 takes an Object Lock write only with a checksum.
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "writing anchor s3://{}/{key}: {}",
                    self.bucket,
                    DisplayErrorContext(&e)
                )
            })?;
        Ok(key)
    }

    /// Every anchor object under the prefix, in key order: `(key, body)`.
    pub async fn list(&self) -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let mut req = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .set_continuation_token(token.take());
            if !self.prefix.is_empty() {
                req = req.prefix(format!("{}/", self.prefix));
            }
            let page = req.send().await.map_err(|e| {
                format!(
                    "listing anchors in {}: {}",
                    self.where_(),
                    DisplayErrorContext(&e)
                )
            })?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string))
                    .filter(|k| k.ends_with(".json")),
            );
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        keys.sort();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let object = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "reading anchor s3://{}/{key}: {}",
                        self.bucket,
                        DisplayErrorContext(&e)
                    )
                })?;
            let body = object
                .body
                .collect()
                .await
                .map_err(|e| format!("reading anchor s3://{}/{key}: {e}", self.bucket))?
                .into_bytes()
                .to_vec();
            out.push((key, body));
        }
        Ok(out)
    }
}
