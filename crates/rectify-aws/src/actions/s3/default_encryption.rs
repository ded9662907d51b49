//! `aws.s3.enable-default-encryption`: sets a bucket's default encryption
//! (Security Hub S3.4, AWS Config `s3-bucket-server-side-encryption-enabled`):
//! SSE-S3 (AES256), or SSE-KMS with the key of the param `kms_key_id`
//! (with an S3 Bucket Key, which cuts KMS requests).
//!
//! The control passes when `GetBucketEncryption` returns a default
//! encryption rule. Since January 2023 S3 gives every bucket SSE-S3 by
//! default, so on AWS a finding of S3.4 is rare (a bucket of a region or
//! partition without that default, an old evaluation); with `kms_key_id`
//! the action also moves a bucket from SSE-S3 to that key, which is
//! stricter than the control. Objects already stored are not re-encrypted.
//!
//! What may be meant: a bucket that encrypts with a KMS key of its own (or
//! DSSE-KMS) that the change would replace; readers of new objects need
//! the new key. The rule as it was can be restored (`rectify jobs
//! revert`); a bucket that had no rule gets none again (on AWS, S3's own
//! SSE-S3 default then applies).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::types::{
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule,
};
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::s3::bucket_reads::BucketReads;
use crate::actions::s3::{bucket_of, s3_client};
use crate::actions::{
    changed_since, no_change, params_object, recorded, reject_unknown, string_param,
};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.s3.enable-default-encryption";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Turn on a bucket's default encryption: SSE-S3, or SSE-KMS with a chosen key.",
    controls: &["S3.4"],
    resource_types: &["AwsS3Bucket"],
    account_wide: false,
    // S3 authorises PutBucketEncryption and DeleteBucketEncryption (the
    // undo of a rule made from none) as s3:PutEncryptionConfiguration.
    permissions: &[
        "s3:GetEncryptionConfiguration",
        "s3:PutEncryptionConfiguration",
        "s3:GetBucketTagging",
        "s3:ListAllMyBuckets",
        "s3:GetBucketLocation",
    ],
    params: &[ParamSpec {
        name: "kms_key_id",
        kind: "string",
        default: "null",
        doc: "Encrypt with SSE-KMS and this KMS key (its ARN or key id; the key policy must let S3 use it for the bucket's writers and readers). Default: SSE-S3 (AES256), or any rule the bucket already has.",
    }],
    // GetBucketEncryption, GetBucketTagging; PutBucketEncryption;
    // GetBucketEncryption.
    calls_per_fix: 4,
    approval_by_default: false,
};

const AES256: &str = "AES256";
const KMS: &str = "aws:kms";

/// A bucket's default encryption rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Rule {
    sse_algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kms_master_key_id: Option<String>,
    /// An S3 Bucket Key (SSE-KMS); S3 reports `false` when unset.
    #[serde(default)]
    bucket_key_enabled: bool,
}

impl Rule {
    fn describe(&self) -> String {
        match (&*self.sse_algorithm, &self.kms_master_key_id) {
            (AES256, _) => "SSE-S3 (AES256)".to_string(),
            (alg, Some(key)) => format!("{alg} with key {key}"),
            (alg, None) => format!("{alg} with the AWS managed key"),
        }
    }
}

/// The bucket's default encryption as read; `None`: no rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Encryption {
    rule: Option<Rule>,
}

/// The rule S3 applies by default (its first), as read.
fn encryption_of(config: Option<ServerSideEncryptionConfiguration>) -> Encryption {
    let rule = config
        .as_ref()
        .and_then(|c| c.rules().first())
        .and_then(|r| {
            let by_default = r.apply_server_side_encryption_by_default()?;
            Some(Rule {
                sse_algorithm: by_default.sse_algorithm().as_str().to_string(),
                kms_master_key_id: by_default.kms_master_key_id().map(str::to_string),
                bucket_key_enabled: r.bucket_key_enabled().unwrap_or(false),
            })
        });
    Encryption { rule }
}

impl Encryption {
    fn describe(&self) -> String {
        self.rule
            .as_ref()
            .map(Rule::describe)
            .unwrap_or_else(|| "no default encryption".to_string())
    }
}

fn kms_key_param(params: &Value) -> Result<Option<String>, String> {
    let p = params_object(params)?;
    reject_unknown(&p, &["kms_key_id"], ID)?;
    let key = string_param(&p, "kms_key_id", 2048)?;
    if let Some(k) = &key {
        if k.starts_with("alias/") || k.contains(":alias/") {
            return Err(format!(
                "params.kms_key_id: give the key's ARN or key id, not an alias ({k}): S3 reports the key it uses by ARN"
            ));
        }
    }
    Ok(key)
}

/// Whether `current` (as S3 reports it) is the key `chosen` names.
fn same_key(current: &str, chosen: &str) -> bool {
    current == chosen || current.ends_with(&format!(":key/{chosen}"))
}

/// Whether `encryption` is what the params ask for: any rule, or SSE-KMS
/// with the chosen key.
fn complies(encryption: &Encryption, chosen: Option<&str>) -> bool {
    match (&encryption.rule, chosen) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(rule), Some(key)) => {
            rule.sse_algorithm.starts_with(KMS)
                && rule
                    .kms_master_key_id
                    .as_deref()
                    .is_some_and(|k| same_key(k, key))
        }
    }
}

/// The rule the params ask for.
fn wanted(chosen: Option<&str>) -> Rule {
    match chosen {
        None => Rule {
            sse_algorithm: AES256.into(),
            kms_master_key_id: None,
            bucket_key_enabled: false,
        },
        Some(key) => Rule {
            sse_algorithm: KMS.into(),
            kms_master_key_id: Some(key.to_string()),
            bucket_key_enabled: true,
        },
    }
}

pub struct S3DefaultEncryption {
    aws: Arc<Aws>,
}

impl S3DefaultEncryption {
    pub fn new(aws: Arc<Aws>) -> Self {
        S3DefaultEncryption { aws }
    }

    async fn read(
        &self,
        target: &Target,
    ) -> Result<(Encryption, aws_sdk_s3::Client, String), ActionError> {
        let b = BucketReads::of(&self.aws, target, ID, None).await?;
        let encryption = encryption_of(b.encryption().await?);
        Ok((encryption, b.client().clone(), b.bucket().to_string()))
    }

    /// The encryption and the tags, through the scan's reads when `scan`
    /// is given.
    async fn observe(
        &self,
        target: &Target,
        params: &Value,
        scan: Option<&rectify_model::ScanReads>,
    ) -> Result<Observed, ActionError> {
        let chosen = kms_key_param(params).map_err(ActionError::invalid)?;
        let b = BucketReads::of(&self.aws, target, ID, scan).await?;
        let (encryption, tags) = tokio::join!(b.encryption(), b.tags());
        let encryption = encryption_of(encryption?);
        Ok(Observed::new(
            complies(&encryption, chosen.as_deref()),
            &encryption,
            tags?,
        ))
    }

    /// Puts `rule`, or deletes the bucket's rule when `None`.
    async fn write(&self, target: &Target, rule: Option<&Rule>) -> Result<(), ActionError> {
        let bucket = bucket_of(target, ID)?;
        let s3 = s3_client(&self.aws, target).await?;
        let Some(rule) = rule else {
            s3.delete_bucket_encryption()
                .bucket(&bucket)
                .expected_bucket_owner(&target.account)
                .send()
                .await
                .map_err(|e| sdk_error_on("s3:PutEncryptionConfiguration", &bucket, e))?;
            return Ok(());
        };
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::from(rule.sse_algorithm.as_str()))
            .set_kms_master_key_id(rule.kms_master_key_id.clone())
            .build()
            .map_err(|e| ActionError::invalid(format!("{ID}: {e}")))?;
        let config = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(by_default)
                    .bucket_key_enabled(rule.bucket_key_enabled)
                    .build(),
            )
            .build()
            .map_err(|e| ActionError::invalid(format!("{ID}: {e}")))?;
        s3.put_bucket_encryption()
            .bucket(&bucket)
            .expected_bucket_owner(&target.account)
            .server_side_encryption_configuration(config)
            .send()
            .await
            .map_err(|e| sdk_error_on("s3:PutEncryptionConfiguration", &bucket, e))?;
        Ok(())
    }
}

#[async_trait]
impl Action for S3DefaultEncryption {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        kms_key_param(params).map(|_| ())
    }

    // discover, discover_in_scan, inventory, check, check_in_scan: the
    // account's buckets, and `observe` (through the scan's reads in a scan).
    super::bucket_targets!();

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        let chosen = kms_key_param(params).map_err(ActionError::invalid)?;
        let bucket = bucket_of(target, ID)?;
        let before: Encryption = recorded(&observed.state, ID)?;
        if complies(&before, chosen.as_deref()) {
            return Ok(no_change(
                format!(
                    "bucket {bucket} already has default encryption: {}",
                    before.describe()
                ),
                observed,
            ));
        }
        let after = Encryption {
            rule: Some(wanted(chosen.as_deref())),
        };
        Ok(Change {
            summary: format!(
                "set the default encryption of bucket {bucket} to {} (was: {}); objects already stored are not re-encrypted",
                after.describe(),
                before.describe()
            ),
            before: observed.state.clone(),
            after: serde_json::to_value(after).expect("plain struct"),
        })
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        kms_key_param(params).map_err(ActionError::invalid)?;
        if change.before == change.after {
            return Ok(());
        }
        let after: Encryption = recorded(&change.after, ID)?;
        self.write(target, after.rule.as_ref()).await
    }

    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let chosen = kms_key_param(params).map_err(ActionError::invalid)?;
        let (encryption, _, _) = self.read(target).await?;
        Ok(Observed::new(
            complies(&encryption, chosen.as_deref()),
            &encryption,
            Default::default(),
        ))
    }

    /// A KMS key of the bucket's own (or DSSE-KMS) that the change would
    /// replace.
    fn intent(&self, target: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        let Ok(before) = recorded::<Encryption>(&observed.state, ID) else {
            return Vec::new();
        };
        match &before.rule {
            Some(rule) if rule.sse_algorithm != AES256 => vec![format!(
                "bucket {} encrypts new objects with {} on purpose, it seems: the change replaces it, \
                 and readers of new objects need the new key; approve the job, or tag the bucket with \
                 the exemption tag to keep it",
                target.resource_name(),
                rule.describe()
            )],
            _ => Vec::new(),
        }
    }

    /// Restores the rule recorded before `applied` (none: the rule is
    /// deleted); refuses when the rule is no longer what `applied` left.
    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        kms_key_param(params).map_err(ActionError::invalid)?;
        let bucket = bucket_of(target, ID)?;
        let left: Encryption = recorded(&applied.after, ID)?;
        let restore: Encryption = recorded(&applied.before, ID)?;
        let current: Encryption = recorded(&now.state, ID)?;
        if current != left {
            return Err(changed_since(
                &format!("the default encryption of bucket {bucket}"),
                &Value::String(current.describe()),
                &Value::String(left.describe()),
            ));
        }
        let summary = match &restore.rule {
            Some(_) => format!(
                "set the default encryption of bucket {bucket} back to {}",
                restore.describe()
            ),
            None => format!(
                "delete the default encryption rule of bucket {bucket} (it had none before; on AWS, S3's SSE-S3 default then applies)"
            ),
        };
        Ok(Change::new(summary, now.state.clone(), restore))
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        kms_key_param(params).map_err(ActionError::invalid)?;
        let after: Encryption = recorded(&change.after, ID)?;
        self.write(target, after.rule.as_ref()).await
    }

    /// The rule restored; a rule deleted reads back as none, or as S3's
    /// own SSE-S3 default on AWS.
    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        kms_key_param(params).map_err(ActionError::invalid)?;
        let restored: Encryption = recorded(&change.after, ID)?;
        let (now, _, _) = self.read(target).await?;
        Ok(match (&restored.rule, &now.rule) {
            (None, Some(rule)) => rule.sse_algorithm == AES256 && rule.kms_master_key_id.is_none(),
            _ => now == restored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn params_and_what_complies() {
        assert_eq!(kms_key_param(&json!({})).unwrap(), None);
        assert!(kms_key_param(&json!({"kms_key_id": "alias/s3"}))
            .unwrap_err()
            .contains("not an alias"));
        assert!(kms_key_param(&json!({"key": "x"})).is_err());
        let none = Encryption { rule: None };
        let sse_s3 = Encryption {
            rule: Some(wanted(None)),
        };
        let kms = Encryption {
            rule: Some(Rule {
                sse_algorithm: KMS.into(),
                kms_master_key_id: Some("arn:aws:kms:us-east-1:111122223333:key/k-1".into()),
                bucket_key_enabled: true,
            }),
        };
        assert!(!complies(&none, None));
        assert!(complies(&sse_s3, None));
        assert!(!complies(&sse_s3, Some("k-1")));
        assert!(complies(&kms, Some("k-1")));
        assert!(!complies(&kms, Some("k-2")));
        assert_eq!(
            kms.rule.as_ref().unwrap().describe(),
            "aws:kms with key arn:aws:kms:us-east-1:111122223333:key/k-1"
        );
        assert_eq!(none.describe(), "no default encryption");
    }
}
