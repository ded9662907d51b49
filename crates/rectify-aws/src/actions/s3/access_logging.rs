//! `aws.s3.enable-access-logging`: turns on server access logging of a
//! bucket into a log bucket the rule names (Security Hub S3.9, AWS Config
//! `s3-bucket-logging-enabled`, which passes when logging is on, whatever
//! the target).
//!
//! The log bucket is the param `target_bucket` (in the same account and
//! region, its policy letting `logging.s3.amazonaws.com` write); logs go
//! under `target_prefix`, by default `<bucket>/`. Without a target bucket
//! the action refuses (the job fails saying so): there is no safe default.
//! It never logs a bucket into itself: the log bucket's own finding is
//! refused too (each delivery would write a new log object). A bucket that
//! already logs anywhere is left as it is. The undo turns logging off
//! again, refused when the logging changed since.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::types::{BucketLoggingStatus, LoggingEnabled};
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::s3::bucket_reads::BucketReads;
use crate::actions::s3::{bucket_of, s3_client, valid_bucket_name};
use crate::actions::{
    changed_since, no_change, params_object, recorded, reject_unknown, string_param,
};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.s3.enable-access-logging";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Turn on server access logging of a bucket into the configured log bucket.",
    controls: &["S3.9"],
    resource_types: &["AwsS3Bucket"],
    account_wide: false,
    permissions: &[
        "s3:GetBucketLogging",
        "s3:PutBucketLogging",
        "s3:GetBucketTagging",
        "s3:ListAllMyBuckets",
        "s3:GetBucketLocation",
    ],
    params: &[
        ParamSpec {
            name: "target_bucket",
            kind: "string",
            default: "null",
            doc: "The bucket that receives the logs: same account and region, its policy letting logging.s3.amazonaws.com put objects. Required: without it the action refuses.",
        },
        ParamSpec {
            name: "target_prefix",
            kind: "string",
            default: "null",
            doc: "The key prefix of the logs in the log bucket. Default: `<bucket>/`.",
        },
    ],
    // GetBucketLogging, GetBucketTagging; PutBucketLogging; GetBucketLogging.
    calls_per_fix: 4,
    approval_by_default: false,
};

struct Params {
    target_bucket: Option<String>,
    target_prefix: Option<String>,
}

fn parse_params(params: &Value) -> Result<Params, String> {
    let p = params_object(params)?;
    reject_unknown(&p, &["target_bucket", "target_prefix"], ID)?;
    let target_bucket = string_param(&p, "target_bucket", 63)?;
    if let Some(b) = &target_bucket {
        if !valid_bucket_name(b) {
            return Err(format!("params.target_bucket: {b:?} is not a bucket name"));
        }
    }
    let target_prefix = string_param(&p, "target_prefix", 900)?;
    Ok(Params {
        target_bucket,
        target_prefix,
    })
}

/// Where the bucket's logs go; `None`: logging off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Logging {
    target: Option<LogTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LogTarget {
    bucket: String,
    prefix: String,
}

/// The logging as read.
fn logging_of(enabled: Option<LoggingEnabled>) -> Logging {
    Logging {
        target: enabled.map(|l| LogTarget {
            bucket: l.target_bucket().to_string(),
            prefix: l.target_prefix().to_string(),
        }),
    }
}

impl Logging {
    fn describe(&self) -> String {
        match &self.target {
            None => "off".to_string(),
            Some(t) => format!("into s3://{}/{}", t.bucket, t.prefix),
        }
    }
}

/// The log target the params ask for, for `bucket`; refuses when there is
/// none, or when it is the bucket itself.
fn wanted(bucket: &str, params: &Params) -> Result<LogTarget, ActionError> {
    let Some(target) = &params.target_bucket else {
        return Err(ActionError::not_configured(format!(
            "{ID}: no log bucket configured for bucket {bucket}: set params.target_bucket on the rule \
             (for a rule of the built-in pack: overrides: {{RULE_ID: {{params: {{target_bucket: LOG_BUCKET}}}}}}); \
             nothing was changed"
        )));
    };
    if target == bucket {
        return Err(ActionError::invalid(format!(
            "{ID}: bucket {bucket} is the configured log bucket: rectify does not log a bucket into itself \
             (every delivery would add a log object); log it into another bucket, or leave it"
        )));
    }
    Ok(LogTarget {
        bucket: target.clone(),
        prefix: params
            .target_prefix
            .clone()
            .unwrap_or_else(|| format!("{bucket}/")),
    })
}

pub struct S3AccessLogging {
    aws: Arc<Aws>,
}

impl S3AccessLogging {
    pub fn new(aws: Arc<Aws>) -> Self {
        S3AccessLogging { aws }
    }

    async fn read(
        &self,
        target: &Target,
    ) -> Result<(Logging, aws_sdk_s3::Client, String), ActionError> {
        let b = BucketReads::of(&self.aws, target, ID, None).await?;
        let logging = logging_of(b.logging().await?);
        Ok((logging, b.client().clone(), b.bucket().to_string()))
    }

    /// The logging and the tags, through the scan's reads when `scan` is
    /// given.
    async fn observe(
        &self,
        target: &Target,
        params: &Value,
        scan: Option<&rectify_model::ScanReads>,
    ) -> Result<Observed, ActionError> {
        parse_params(params).map_err(ActionError::invalid)?;
        let b = BucketReads::of(&self.aws, target, ID, scan).await?;
        let (logging, tags) = tokio::join!(b.logging(), b.tags());
        let logging = logging_of(logging?);
        Ok(Observed::new(logging.target.is_some(), &logging, tags?))
    }

    async fn write(&self, target: &Target, logging: &Logging) -> Result<(), ActionError> {
        let bucket = bucket_of(target, ID)?;
        let s3 = s3_client(&self.aws, target).await?;
        let status = match &logging.target {
            None => BucketLoggingStatus::builder().build(),
            Some(t) => BucketLoggingStatus::builder()
                .logging_enabled(
                    LoggingEnabled::builder()
                        .target_bucket(&t.bucket)
                        .target_prefix(&t.prefix)
                        .build()
                        .map_err(|e| ActionError::invalid(format!("{ID}: {e}")))?,
                )
                .build(),
        };
        s3.put_bucket_logging()
            .bucket(&bucket)
            .expected_bucket_owner(&target.account)
            .bucket_logging_status(status)
            .send()
            .await
            .map_err(|e| sdk_error_on("s3:PutBucketLogging", &bucket, e))?;
        Ok(())
    }
}

#[async_trait]
impl Action for S3AccessLogging {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        parse_params(params).map(|_| ())
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
        let p = parse_params(params).map_err(ActionError::invalid)?;
        let bucket = bucket_of(target, ID)?;
        let before: Logging = recorded(&observed.state, ID)?;
        if before.target.is_some() {
            return Ok(no_change(
                format!("bucket {bucket} already logs {}", before.describe()),
                observed,
            ));
        }
        let after = Logging {
            target: Some(wanted(&bucket, &p)?),
        };
        Ok(Change {
            summary: format!(
                "turn on server access logging of bucket {bucket} {}",
                after.describe()
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
        parse_params(params).map_err(ActionError::invalid)?;
        if change.before == change.after {
            return Ok(());
        }
        let after: Logging = recorded(&change.after, ID)?;
        self.write(target, &after).await
    }

    /// Reads back what the write set: logging into the configured bucket
    /// and prefix (a bucket that already logged elsewhere: logging on).
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let p = parse_params(params).map_err(ActionError::invalid)?;
        let (logging, _, bucket) = self.read(target).await?;
        let expected = wanted(&bucket, &p).ok();
        let compliant = match (&logging.target, &expected) {
            (Some(now), Some(want)) => now == want,
            (Some(_), None) => true,
            (None, _) => false,
        };
        Ok(Observed::new(compliant, &logging, Default::default()))
    }

    /// Turns logging off again; refuses when the logging is no longer
    /// what `applied` left.
    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        parse_params(params).map_err(ActionError::invalid)?;
        let bucket = bucket_of(target, ID)?;
        let left: Logging = recorded(&applied.after, ID)?;
        let restore: Logging = recorded(&applied.before, ID)?;
        let current: Logging = recorded(&now.state, ID)?;
        if current != left {
            return Err(changed_since(
                &format!("the server access logging of bucket {bucket}"),
                &Value::String(current.describe()),
                &Value::String(left.describe()),
            ));
        }
        Ok(Change {
            summary: format!(
                "set the server access logging of bucket {bucket} back to {}",
                restore.describe()
            ),
            before: now.state.clone(),
            after: serde_json::to_value(restore).expect("plain struct"),
        })
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        parse_params(params).map_err(ActionError::invalid)?;
        let after: Logging = recorded(&change.after, ID)?;
        self.write(target, &after).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn params_and_the_log_target() {
        assert!(parse_params(&json!({})).is_ok());
        assert!(parse_params(&json!({"target_bucket": "Logs!"}))
            .err()
            .unwrap()
            .contains("not a bucket name"));
        assert!(parse_params(&json!({"bucket": "x"})).is_err());
        let none = parse_params(&json!({})).unwrap();
        let err = wanted("data", &none).unwrap_err();
        assert!(
            err.message.contains("no log bucket configured"),
            "{}",
            err.message
        );
        let logs = parse_params(&json!({"target_bucket": "logs"})).unwrap();
        assert_eq!(
            wanted("data", &logs).unwrap(),
            LogTarget {
                bucket: "logs".into(),
                prefix: "data/".into()
            }
        );
        let err = wanted("logs", &logs).unwrap_err();
        assert!(
            err.message.contains("does not log a bucket into itself"),
            "{}",
            err.message
        );
        let prefixed =
            parse_params(&json!({"target_bucket": "logs", "target_prefix": "s3/"})).unwrap();
        assert_eq!(wanted("data", &prefixed).unwrap().prefix, "s3/");
    }
}
