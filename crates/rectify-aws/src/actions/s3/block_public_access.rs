//! `aws.s3.block-public-access`: turns on all four S3 Block Public Access
//! settings of one bucket (Security Hub S3.2, S3.3, S3.8). A bucket that
//! looks public on purpose (a static website, a policy or ACL granting
//! public read, a CloudFront origin) waits for a person's approval; the
//! four settings as they were can be restored (`rectify jobs revert`).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::types::PublicAccessBlockConfiguration;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::bucket_reads::BucketReads;
use crate::actions::{changed_since, no_params, recorded};
use crate::errors::sdk_error_on;
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
        "s3:GetBucketWebsite",
        "s3:GetBucketPolicy",
        "s3:GetBucketAcl",
        "s3:ListAllMyBuckets",
        "s3:GetBucketLocation",
    ],
    params: &[],
    // Check: the settings and the tags, then (settings off) the website,
    // the policy and the ACL, each round read at once; the write; the
    // read-back of the settings.
    calls_per_fix: 7,
    approval_by_default: false,
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

/// What the action governs: the four settings, and whether the bucket has
/// a configuration at all (an undo deletes the one rectify made).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Settings {
    #[serde(flatten)]
    flags: BlockPublicAccess,
    /// Changes recorded before this field existed: a configuration is
    /// assumed (restoring all-off flags means the same as none).
    #[serde(default = "configured_by_default")]
    configured: bool,
}

fn configured_by_default() -> bool {
    true
}

impl Settings {
    const ALL_ON: Settings = Settings {
        flags: BlockPublicAccess::ALL_ON,
        configured: true,
    };

    fn describe(&self) -> String {
        if !self.configured {
            return "no Block Public Access configuration".to_string();
        }
        let f = &self.flags;
        let on_off = |b: bool| if b { "on" } else { "off" };
        format!(
            "BlockPublicAcls {}, IgnorePublicAcls {}, BlockPublicPolicy {}, RestrictPublicBuckets {}",
            on_off(f.block_public_acls),
            on_off(f.ignore_public_acls),
            on_off(f.block_public_policy),
            on_off(f.restrict_public_buckets)
        )
    }
}

/// The bucket as `check` reads it: the settings, and what says that it is
/// public on purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct BucketState {
    #[serde(flatten)]
    settings: Settings,
    /// Static website hosting is configured (`GetBucketWebsite`).
    #[serde(default)]
    website: bool,
    /// Grants of public read: policy statements (`Principal: "*"`, a read
    /// action, no condition that narrows who) and ACL grants to everyone.
    #[serde(default)]
    public_read: Vec<String>,
    /// CloudFront's access to the bucket: origin access control (the
    /// `cloudfront.amazonaws.com` service principal, with its
    /// distribution) or an origin access identity.
    #[serde(default)]
    cloudfront: Vec<String>,
    /// A report-only scan judged the settings alone: the website, grants
    /// and origins above were not read (they weigh only in a change).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    intent_not_read: bool,
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

    /// The settings and the tags (an exemption is weighed first), then,
    /// with the settings off, what says the bucket is public on purpose.
    async fn observe(
        &self,
        target: &Target,
        params: &Value,
        scan: Option<&rectify_model::ScanReads>,
    ) -> Result<Observed, ActionError> {
        validate(params).map_err(ActionError::invalid)?;
        let b = BucketReads::of(&self.aws, target, ID, scan).await?;
        let (flags, tags) = tokio::join!(b.public_access_block(), b.tags());
        let settings = settings_of(flags?);
        let tags = tags?;

        let verdict_only = rectify_model::ScanReads::verdicts_only(scan);
        if settings.flags.all_on() || verdict_only {
            // Nothing to change, or a report that changes nothing: nothing
            // to weigh, so no reads for intent.
            let state = BucketState {
                settings,
                website: false,
                public_read: Vec::new(),
                cloudfront: Vec::new(),
                intent_not_read: !settings.flags.all_on(),
            };
            return Ok(Observed {
                compliant: settings.flags.all_on(),
                state: serde_json::to_value(state).expect("plain struct"),
                tags,
            });
        }
        // What says the bucket is public on purpose: three reads at once.
        let (website, policy, grants) = tokio::join!(b.website(), b.policy(), b.acl_grants());
        let website = website?;
        let (mut public_read, cloudfront) = policy?.as_ref().map(read_grants).unwrap_or_default();
        for grant in grants? {
            let everyone = grant
                .grantee()
                .and_then(|g| g.uri())
                .and_then(|uri| uri.rsplit('/').next())
                .filter(|group| matches!(*group, "AllUsers" | "AuthenticatedUsers"));
            let reads = grant
                .permission()
                .is_some_and(|p| matches!(p.as_str(), "READ" | "FULL_CONTROL"));
            if let (Some(group), true) = (everyone, reads) {
                public_read.push(format!(
                    "the bucket ACL grants {} to {group}",
                    grant.permission().map(|p| p.as_str()).unwrap_or("READ")
                ));
            }
        }

        let state = BucketState {
            settings,
            website,
            public_read,
            cloudfront,
            intent_not_read: false,
        };
        Ok(Observed {
            compliant: settings.flags.all_on(),
            state: serde_json::to_value(state).expect("plain struct"),
            tags,
        })
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

    // discover, discover_in_scan, inventory, check, check_in_scan: the
    // account's buckets, and `observe` (through the scan's reads in a scan).
    super::bucket_targets!();

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        validate(params).map_err(ActionError::invalid)?;
        let bucket = bucket_of(target)?;
        let before: BucketState = recorded(&observed.state, ID)?;
        if before.intent_not_read {
            return Err(ActionError::invalid(format!(
                "{ID}: bucket {bucket} was judged by a report-only scan, which does not read what \
                 says a bucket is public on purpose; check it again before planning a change"
            )));
        }
        let summary = if before.settings.flags.all_on() {
            format!("S3 Block Public Access is already on for bucket {bucket}")
        } else {
            format!("turn on all four S3 Block Public Access settings of bucket {bucket}")
        };
        Ok(Change {
            summary,
            before: observed.state.clone(),
            after: serde_json::to_value(Settings::ALL_ON).expect("plain struct"),
        })
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        validate(params).map_err(ActionError::invalid)?;
        let after: Settings = recorded(&change.after, ID)?;
        self.write(target, &after).await
    }

    /// A website, a public read grant or a CloudFront origin: what
    /// Block Public Access would take offline. None of them (a private
    /// bucket without the settings, S3.8): nothing suggests intent.
    /// Reads back only what the write changed: the four settings.
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        validate(params).map_err(ActionError::invalid)?;
        let bucket = bucket_of(target)?;
        let s3 = self.client(target).await?;
        let settings = read_settings(&s3, bucket, &target.account).await?;
        Ok(Observed {
            compliant: settings.flags.all_on(),
            state: serde_json::to_value(settings).expect("plain struct"),
            tags: Default::default(),
        })
    }

    fn intent(&self, target: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        let Ok(state) = recorded::<BucketState>(&observed.state, ID) else {
            return Vec::new();
        };
        let bucket = target.resource_name();
        let mut reasons = Vec::new();
        if state.intent_not_read {
            reasons.push(format!(
                "whether bucket {bucket} is public on purpose was not read (a report-only scan)"
            ));
        }
        if state.website {
            reasons.push(format!(
                "bucket {bucket} hosts a static website (GetBucketWebsite): blocking public access takes the site offline"
            ));
        }
        for grant in &state.public_read {
            reasons.push(format!(
                "bucket {bucket} is readable by anyone on purpose, it seems ({grant}): a public download or website bucket loses its readers"
            ));
        }
        for origin in &state.cloudfront {
            reasons.push(format!(
                "bucket {bucket} is a CloudFront origin ({origin}): check that the distribution reaches it only through that access before blocking public access"
            ));
        }
        if !reasons.is_empty() {
            reasons.push(
                "approve the job to block public access anyway, or tag the bucket with the exemption tag to leave it as it is"
                    .to_string(),
            );
        }
        reasons
    }

    /// Restores the four settings recorded before `applied`, deleting the
    /// configuration when the bucket had none; refuses when they are no
    /// longer what `applied` left.
    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        validate(params).map_err(ActionError::invalid)?;
        let bucket = bucket_of(target)?;
        let left: Settings = recorded(&applied.after, ID)?;
        let restore: Settings = recorded(&applied.before, ID)?;
        let current = recorded::<BucketState>(&now.state, ID)?.settings;
        if current != left {
            return Err(changed_since(
                &format!("the Block Public Access of bucket {bucket}"),
                &json!(current.describe()),
                &json!(left.describe()),
            ));
        }
        let summary = if restore.configured {
            format!(
                "set the Block Public Access of bucket {bucket} back to {}",
                restore.describe()
            )
        } else {
            format!(
                "delete the Block Public Access configuration of bucket {bucket} (it had none before)"
            )
        };
        Ok(Change {
            summary,
            before: serde_json::to_value(current).expect("plain struct"),
            after: serde_json::to_value(restore).expect("plain struct"),
        })
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        validate(params).map_err(ActionError::invalid)?;
        let after: Settings = recorded(&change.after, ID)?;
        self.write(target, &after).await
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        // What the undo wrote: the four settings.
        let now = self.verify(target, params).await?;
        let restored: Settings = recorded(&change.after, ID)?;
        Ok(recorded::<BucketState>(&now.state, ID)?.settings == restored)
    }
}

/// The settings as read: none configured reads as all off.
fn settings_of(flags: Option<BlockPublicAccess>) -> Settings {
    match flags {
        Some(flags) => Settings {
            flags,
            configured: true,
        },
        None => Settings {
            flags: BlockPublicAccess {
                block_public_acls: false,
                ignore_public_acls: false,
                block_public_policy: false,
                restrict_public_buckets: false,
            },
            configured: false,
        },
    }
}

/// The bucket's Block Public Access settings, read anew.
async fn read_settings(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    owner: &str,
) -> Result<Settings, ActionError> {
    let b = BucketReads::new(s3.clone(), bucket.to_string(), owner, "", None);
    Ok(settings_of(b.public_access_block().await?))
}

impl S3BlockPublicAccess {
    /// Puts `settings`, or deletes the configuration when they say none.
    async fn write(&self, target: &Target, settings: &Settings) -> Result<(), ActionError> {
        let bucket = bucket_of(target)?;
        let s3 = self.client(target).await?;
        if !settings.configured {
            // S3 authorises DeletePublicAccessBlock as s3:PutBucketPublicAccessBlock.
            s3.delete_public_access_block()
                .bucket(bucket)
                .expected_bucket_owner(&target.account)
                .send()
                .await
                .map_err(|e| sdk_error_on("s3:PutBucketPublicAccessBlock", bucket, e))?;
            return Ok(());
        }
        let f = settings.flags;
        let config = PublicAccessBlockConfiguration::builder()
            .block_public_acls(f.block_public_acls)
            .ignore_public_acls(f.ignore_public_acls)
            .block_public_policy(f.block_public_policy)
            .restrict_public_buckets(f.restrict_public_buckets)
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

/// Condition keys that narrow who a statement grants to: a statement with
/// any of them is not public (AWS judges a policy the same way).
const NARROWING_KEYS: &[&str] = &[
    "aws:sourceip",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourcearn",
    "aws:sourceaccount",
    "aws:sourceowner",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:userid",
    "s3:dataaccesspointarn",
    "s3:dataaccesspointaccount",
];

/// A string or a list of strings, as policies write them.
fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// IAM's wildcard match (`*`, `?`), case-insensitive, as for actions.
fn action_matches(pattern: &str, action: &str) -> bool {
    fn go(p: &[char], a: &[char]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], a) || (!a.is_empty() && go(p, &a[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &a[1..]),
            (Some(x), Some(y)) => x == y && go(&p[1..], &a[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let a: Vec<char> = action.to_lowercase().chars().collect();
    go(&p, &a)
}

/// The bucket policy's Allow statements that let anyone read objects
/// (`Principal: "*"`, `s3:GetObject` among the actions, no narrowing
/// condition), and those that give CloudFront access, each described.
fn read_grants(policy: &Value) -> (Vec<String>, Vec<String>) {
    let statements = match &policy["Statement"] {
        Value::Array(a) => a.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => Vec::new(),
    };
    let mut public = Vec::new();
    let mut cloudfront = Vec::new();
    for (n, st) in statements.iter().enumerate() {
        if st["Effect"] != "Allow" {
            continue;
        }
        let name = st["Sid"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(|s| format!("policy statement {s:?}"))
            .unwrap_or_else(|| format!("policy statement {}", n + 1));
        let principal = &st["Principal"];
        let (aws, services) = match principal {
            Value::String(_) => (strings(principal), Vec::new()),
            Value::Object(_) => (strings(&principal["AWS"]), strings(&principal["Service"])),
            _ => (Vec::new(), Vec::new()),
        };
        let reads = if st.get("NotAction").is_some() {
            !strings(&st["NotAction"])
                .iter()
                .any(|p| action_matches(p, "s3:GetObject"))
        } else {
            strings(&st["Action"])
                .iter()
                .any(|p| action_matches(p, "s3:GetObject"))
        };
        if services.contains(&"cloudfront.amazonaws.com") {
            let distributions: Vec<String> = st["Condition"]
                .as_object()
                .into_iter()
                .flat_map(|ops| ops.values())
                .filter_map(Value::as_object)
                .flat_map(|keys| keys.iter())
                .filter(|(k, _)| k.eq_ignore_ascii_case("aws:SourceArn"))
                .flat_map(|(_, v)| strings(v).into_iter().map(str::to_string))
                .collect();
            cloudfront.push(if distributions.is_empty() {
                format!("origin access control, {name}")
            } else {
                format!(
                    "origin access control for {}, {name}",
                    distributions.join(", ")
                )
            });
        }
        for identity in aws
            .iter()
            .filter(|p| p.starts_with("arn:aws:iam::cloudfront:user/"))
        {
            cloudfront.push(format!("origin access identity {identity}, {name}"));
        }
        if aws.contains(&"*") && reads {
            let narrowed = st["Condition"]
                .as_object()
                .into_iter()
                .flat_map(|ops| ops.values())
                .filter_map(Value::as_object)
                .flat_map(|keys| keys.keys())
                .any(|k| NARROWING_KEYS.contains(&k.to_lowercase().as_str()));
            if !narrowed {
                public.push(format!("{name} grants s3:GetObject to everyone"));
            }
        }
    }
    (public, cloudfront)
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
                "block_public_policy": true, "restrict_public_buckets": true,
                "configured": true})
        );
        assert!(change.summary.contains("my-bucket"));
        // A private bucket without the settings: nothing suggests intent.
        assert!(a.intent(&t, &json!({}), &observed).is_empty());
    }

    #[test]
    fn public_read_and_cloudfront_grants() {
        let policy = json!({"Statement": [
            {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
             "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::b/*"},
            {"Sid": "FromTheOffice", "Effect": "Allow", "Principal": {"AWS": "*"},
             "Action": "s3:*", "Resource": "arn:aws:s3:::b/*",
             "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}},
            {"Sid": "Tls", "Effect": "Allow", "Principal": {"AWS": ["*"]},
             "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*",
             "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"},
            {"Sid": "Oac", "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
             "Condition": {"StringEquals": {"AWS:SourceArn": "arn:aws:cloudfront::111122223333:distribution/E1"}}},
            {"Sid": "Oai", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E2"},
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
            {"Sid": "Put", "Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}
        ]});
        let (public, cloudfront) = read_grants(&policy);
        assert_eq!(
            public,
            [
                "policy statement \"PublicRead\" grants s3:GetObject to everyone",
                "policy statement \"Tls\" grants s3:GetObject to everyone"
            ]
        );
        assert_eq!(
            cloudfront,
            [
                "origin access control for arn:aws:cloudfront::111122223333:distribution/E1, policy statement \"Oac\"",
                "origin access identity arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E2, policy statement \"Oai\""
            ]
        );
        assert!(action_matches("s3:Get*", "s3:GetObject"));
        assert!(action_matches("*", "s3:GetObject"));
        assert!(!action_matches("s3:GetObjectAcl", "s3:GetObject"));
    }
}
