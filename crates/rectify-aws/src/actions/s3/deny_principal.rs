//! `aws.s3.deny-principal`: the response to data leaving a bucket
//! (GuardDuty `Exfiltration:S3/*`, `UnauthorizedAccess:S3/*` and the like).
//! It turns on all four Block Public Access settings of the bucket and
//! merges one statement into its bucket policy that denies the finding's
//! principal every S3 action on the bucket and its objects:
//!
//! ```json
//! {"Sid": "RectifyDenyPrincipal", "Effect": "Deny", "Principal": "*",
//!  "Action": "s3:*", "Resource": ["arn:aws:s3:::B", "arn:aws:s3:::B/*"],
//!  "Condition": {"ArnLike": {"aws:PrincipalArn": [
//!     "arn:aws:iam::A:role/NAME", "arn:aws:iam::A:role/*/NAME"]}}}
//! ```
//!
//! The principal is matched by `aws:PrincipalArn` (with or without an IAM
//! path, every session of a role) rather than named in `Principal`, which
//! S3 rejects when the ARN does not exist exactly so. A second principal
//! joins the same statement. Every other statement stays as it was. The
//! principal comes from the finding: GuardDuty's `accessKeyDetails` (an IAM
//! user, or a role for an assumed-role session), a finding's
//! `AwsIamAccessKey`, or a rectify detection's `rectify/Principal`. The
//! root user and the roles rectify acts as are refused (the deny would
//! lock out the account or rectify itself). The undo takes out exactly the
//! principal this change added (the statement with it when it is the
//! last) and puts the Block Public Access settings back as they were. Its
//! jobs wait for approval by default.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::types::PublicAccessBlockConfiguration;
use rectify_model::target::GUARDDUTY_FINDING;
use rectify_model::{Action, ActionError, ActionSpec, Change, Event, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::block_public_access::BlockPublicAccess;
use crate::actions::event_resources::plain_name;
use crate::actions::resource_policy::{find_sid, strings, with_statement, without_statement};
use crate::actions::s3::{bucket_of, bucket_policy, bucket_tags, put_bucket_policy, s3_client};
use crate::actions::{no_change, recorded, takes_no_params};
use crate::errors::{code_of, sdk_error_on};
use crate::Aws;

pub const ID: &str = "aws.s3.deny-principal";

/// The `Sid` of the statement rectify adds.
pub const SID: &str = "RectifyDenyPrincipal";

/// Where the target carries the principal (its IAM ARN).
const PRINCIPAL_KEY: &str = "RectifyPrincipal";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Block public access on a bucket and deny the finding's principal every S3 action on it (a statement merged into its policy).",
    controls: &[],
    resource_types: &["AwsS3Bucket"],
    account_wide: false,
    permissions: &[
        "s3:GetBucketPublicAccessBlock",
        "s3:PutBucketPublicAccessBlock",
        "s3:GetBucketPolicy",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "s3:GetBucketTagging",
    ],
    params: &[],
    // check (GetBucketPublicAccessBlock, GetBucketPolicy,
    // GetBucketTagging), apply (PutBucketPublicAccessBlock, GetBucketPolicy
    // as it is now, PutBucketPolicy), verify (GetBucketPublicAccessBlock,
    // GetBucketPolicy).
    calls_per_fix: 8,
    approval_by_default: true,
};

/// The bucket as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct BucketState {
    bucket: String,
    principal: String,
    /// Block Public Access as it was; `None`: no configuration.
    block: Option<BlockPublicAccess>,
    policy: Option<Value>,
    /// rectify's statement denies the principal.
    denied: bool,
}

impl BucketState {
    fn contained(&self) -> bool {
        self.block.is_some_and(|b| b.all_on()) && self.denied
    }
}

/// What the change writes, and what its undo needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Containment {
    bucket: String,
    principal: String,
    /// The patterns the change adds to rectify's statement.
    patterns: Vec<String>,
    /// Block Public Access before (`None`: no configuration); `after`: on.
    block_before: Option<BlockPublicAccess>,
}

/// What the undo writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Release {
    bucket: String,
    principal: String,
    patterns: Vec<String>,
    block: Option<BlockPublicAccess>,
}

fn text(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

/// The `aws:PrincipalArn` patterns of an IAM user or role ARN: the ARN
/// with its path, and any path.
fn patterns_of(principal: &str) -> Result<Vec<String>, ActionError> {
    let parts: Vec<&str> = principal.splitn(6, ':').collect();
    let refuse =
        |why: &str| ActionError::invalid(format!("{ID}: principal `{principal}` {why}; refused"));
    let ["arn", partition, "iam", "", account, resource] = parts[..] else {
        return Err(refuse("is not an IAM user or role ARN"));
    };
    let (kind, rest) = resource
        .split_once('/')
        .filter(|(k, _)| *k == "user" || *k == "role")
        .ok_or_else(|| refuse("is not an IAM user or role"))?;
    let name = rest.rsplit('/').next().unwrap_or(rest);
    if plain_name(name, 64, "+=,.@_-").is_none() || account.len() != 12 {
        return Err(refuse("is not a plain IAM name"));
    }
    Ok(vec![
        format!("arn:{partition}:iam::{account}:{kind}/{name}"),
        format!("arn:{partition}:iam::{account}:{kind}/*/{name}"),
    ])
}

/// The principal's ARN from a key's owner (`IAMUser` or `AssumedRole`).
fn principal_arn(
    partition: &str,
    account: &str,
    name: Option<&str>,
    kind: Option<&str>,
) -> Result<String, ActionError> {
    let name = name.unwrap_or_default();
    let arn = match kind {
        Some("IAMUser") => format!("arn:{partition}:iam::{account}:user/{name}"),
        Some("AssumedRole") => format!("arn:{partition}:iam::{account}:role/{name}"),
        other => {
            return Err(ActionError::invalid(format!(
                "{ID}: the finding's principal is of type {} (not an IAM user or role): a bucket \
                 policy deny would not hold it, or would lock out the account; refused",
                other.unwrap_or("none")
            )))
        }
    };
    patterns_of(&arn)?;
    Ok(arn)
}

/// rectify's statement for `bucket` with `patterns`.
fn deny_statement(partition: &str, bucket: &str, patterns: &[String]) -> Value {
    json!({
        "Sid": SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [
            format!("arn:{partition}:s3:::{bucket}"),
            format!("arn:{partition}:s3:::{bucket}/*"),
        ],
        "Condition": {"ArnLike": {"aws:PrincipalArn": patterns}},
    })
}

/// The patterns rectify's statement in `policy` holds.
fn denied_patterns(policy: Option<&Value>) -> Vec<String> {
    policy
        .and_then(|p| find_sid(p, SID))
        .map(|s| {
            strings(&s["Condition"]["ArnLike"]["aws:PrincipalArn"])
                .into_iter()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `policy` with rectify's statement holding `patterns` as well.
fn merged(policy: Option<&Value>, partition: &str, bucket: &str, patterns: &[String]) -> Value {
    let mut all = denied_patterns(policy);
    for p in patterns {
        if !all.contains(p) {
            all.push(p.clone());
        }
    }
    with_statement(policy, deny_statement(partition, bucket, &all))
}

/// `policy` with `patterns` taken out of rectify's statement (the statement
/// gone when it is left with none; the policy gone when it is left empty).
fn released(policy: &Value, partition: &str, bucket: &str, patterns: &[String]) -> Option<Value> {
    let rest: Vec<String> = denied_patterns(Some(policy))
        .into_iter()
        .filter(|p| !patterns.contains(p))
        .collect();
    if rest.is_empty() {
        return without_statement(policy, SID).0;
    }
    Some(with_statement(
        Some(policy),
        deny_statement(partition, bucket, &rest),
    ))
}

pub struct S3DenyPrincipal {
    aws: Arc<Aws>,
}

impl S3DenyPrincipal {
    pub fn new(aws: Arc<Aws>) -> Self {
        S3DenyPrincipal { aws }
    }

    async fn read_block(
        s3: &aws_sdk_s3::Client,
        bucket: &str,
        owner: &str,
    ) -> Result<Option<BlockPublicAccess>, ActionError> {
        match s3
            .get_public_access_block()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .send()
            .await
        {
            Ok(out) => {
                let c = out.public_access_block_configuration();
                let flag = |f: Option<bool>| f.unwrap_or(false);
                Ok(Some(BlockPublicAccess {
                    block_public_acls: flag(c.and_then(|c| c.block_public_acls())),
                    ignore_public_acls: flag(c.and_then(|c| c.ignore_public_acls())),
                    block_public_policy: flag(c.and_then(|c| c.block_public_policy())),
                    restrict_public_buckets: flag(c.and_then(|c| c.restrict_public_buckets())),
                }))
            }
            Err(e) if code_of(&e) == Some("NoSuchPublicAccessBlockConfiguration") => Ok(None),
            Err(e) => Err(sdk_error_on("s3:GetBucketPublicAccessBlock", bucket, e)),
        }
    }

    async fn write_block(
        s3: &aws_sdk_s3::Client,
        bucket: &str,
        owner: &str,
        block: Option<BlockPublicAccess>,
    ) -> Result<(), ActionError> {
        let Some(f) = block else {
            // S3 authorises DeletePublicAccessBlock as s3:PutBucketPublicAccessBlock.
            s3.delete_public_access_block()
                .bucket(bucket)
                .expected_bucket_owner(owner)
                .send()
                .await
                .map_err(|e| sdk_error_on("s3:PutBucketPublicAccessBlock", bucket, e))?;
            return Ok(());
        };
        s3.put_public_access_block()
            .bucket(bucket)
            .expected_bucket_owner(owner)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(f.block_public_acls)
                    .ignore_public_acls(f.ignore_public_acls)
                    .block_public_policy(f.block_public_policy)
                    .restrict_public_buckets(f.restrict_public_buckets)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error_on("s3:PutBucketPublicAccessBlock", bucket, e))?;
        Ok(())
    }

    /// The principal the target names, refused when it is rectify's own.
    async fn principal(&self, target: &Target) -> Result<String, ActionError> {
        let principal = text(&target.details[PRINCIPAL_KEY])
            .ok_or_else(|| {
                ActionError::invalid(format!(
                    "{ID}: the finding names no principal (IAM user or role) to deny; refused"
                ))
            })?
            .to_string();
        patterns_of(&principal)?;
        let name = principal.rsplit('/').next().unwrap_or_default();
        let in_account = principal.split(':').nth(4) == Some(target.account.as_str());
        if principal.contains(":role/")
            && in_account
            && self
                .aws
                .own_role_names_in(&target.account)
                .await?
                .iter()
                .any(|own| own == name)
        {
            return Err(ActionError::invalid(format!(
                "{ID}: {principal} is a role rectify itself acts as: denying it the bucket would \
                 lock rectify out of it (and out of the undo); refused"
            )));
        }
        Ok(principal)
    }

    async fn observe(&self, target: &Target, with_tags: bool) -> Result<Observed, ActionError> {
        let bucket = bucket_of(target, ID)?;
        let principal = self.principal(target).await?;
        let s3 = s3_client(&self.aws, target).await?;
        let block = Self::read_block(&s3, &bucket, &target.account).await?;
        let policy = bucket_policy(&s3, &bucket, &target.account).await?;
        let tags = if with_tags {
            bucket_tags(&s3, &bucket, &target.account).await?
        } else {
            Default::default()
        };
        let held = denied_patterns(policy.as_ref());
        let denied = patterns_of(&principal)?.iter().all(|p| held.contains(p));
        let state = BucketState {
            bucket,
            principal,
            block,
            policy,
            denied,
        };
        Ok(Observed::new(state.contained(), state, tags))
    }
}

#[async_trait]
impl Action for S3DenyPrincipal {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    /// The bucket of a GuardDuty finding (`s3BucketDetails`) or of a
    /// finding's `AwsS3Bucket`, with the principal: GuardDuty's
    /// `accessKeyDetails`, a finding's `AwsIamAccessKey`, or a rectify
    /// detection's `rectify/Principal`.
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        let mut target =
            Target::from_event(event, SPEC.resource_types).map_err(ActionError::invalid)?;
        let principal = if event.detail_type == GUARDDUTY_FINDING {
            let key = &event.body["detail"]["resource"]["accessKeyDetails"];
            principal_arn(
                &target.partition,
                &target.account,
                text(&key["userName"]),
                text(&key["userType"]),
            )?
        } else {
            let finding = event.finding_value().cloned().unwrap_or(Value::Null);
            let named = text(&finding["ProductFields"]["rectify/Principal"]);
            let key = finding["Resources"]
                .as_array()
                .and_then(|r| r.iter().find(|r| r["Type"] == "AwsIamAccessKey"))
                .map(|r| r["Details"]["AwsIamAccessKey"].clone())
                .unwrap_or(Value::Null);
            match named {
                Some(arn) => {
                    patterns_of(arn)?;
                    arn.to_string()
                }
                None => principal_arn(
                    &target.partition,
                    &target.account,
                    text(&key["PrincipalName"]).or(text(&key["UserName"])),
                    text(&key["PrincipalType"]),
                )?,
            }
        };
        let mut details = match std::mem::take(&mut target.details) {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        details.insert(PRINCIPAL_KEY.into(), Value::String(principal));
        target.details = Value::Object(details);
        Ok(target)
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        self.observe(target, true).await
    }

    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        self.observe(target, false).await
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let state: BucketState = recorded(&observed.state, ID)?;
        if state.contained() {
            return Ok(no_change(
                format!(
                    "bucket {} already blocks public access and denies {} (statement {SID}): \
                     nothing to do",
                    state.bucket, state.principal
                ),
                observed,
            ));
        }
        let held = denied_patterns(state.policy.as_ref());
        let patterns: Vec<String> = patterns_of(&state.principal)?
            .into_iter()
            .filter(|p| !held.contains(p))
            .collect();
        let mut steps = Vec::new();
        if !state.block.is_some_and(|b| b.all_on()) {
            steps.push("turn on all four Block Public Access settings".to_string());
        }
        if !patterns.is_empty() {
            steps.push(format!(
                "deny {} every S3 action on the bucket and its objects (statement {SID} of its \
                 policy; other statements unchanged)",
                state.principal
            ));
        }
        Ok(Change::new(
            format!(
                "bucket {}: {}; what was already copied out stays where it went",
                state.bucket,
                steps.join("; ")
            ),
            observed.state.clone(),
            Containment {
                bucket: state.bucket.clone(),
                principal: state.principal.clone(),
                patterns,
                block_before: state.block,
            },
        ))
    }

    /// Merges into the policy read now, so that a statement added
    /// meanwhile is kept; idempotent.
    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        if change.before == change.after {
            return Ok(());
        }
        let want: Containment = recorded(&change.after, ID)?;
        let bucket = bucket_of(target, ID)?;
        if want.bucket != bucket {
            return Err(ActionError::invalid(format!(
                "{ID}: the change is for bucket {}, not this target's; refused",
                want.bucket
            )));
        }
        let s3 = s3_client(&self.aws, target).await?;
        if !want.block_before.is_some_and(|b| b.all_on()) {
            Self::write_block(
                &s3,
                &bucket,
                &target.account,
                Some(BlockPublicAccess::ALL_ON),
            )
            .await?;
        }
        if !want.patterns.is_empty() {
            let now = bucket_policy(&s3, &bucket, &target.account).await?;
            let doc = merged(now.as_ref(), &target.partition, &bucket, &want.patterns);
            if now.as_ref() != Some(&doc) {
                put_bucket_policy(&s3, &bucket, &target.account, Some(&doc)).await?;
            }
        }
        Ok(())
    }

    fn revert_plan(
        &self,
        _: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        if applied.before == applied.after {
            return Err(ActionError::invalid(format!(
                "{ID}: that job changed nothing (the bucket was already contained): nothing to undo"
            )));
        }
        let done: Containment = recorded(&applied.after, ID)?;
        let current: BucketState = recorded(&now.state, ID)?;
        let held = denied_patterns(current.policy.as_ref());
        let still = done.patterns.iter().all(|p| held.contains(p));
        let blocked = current.block.is_some_and(|b| b.all_on());
        if !(still && blocked) {
            return Err(crate::actions::changed_since(
                &format!("bucket {}", done.bucket),
                &json!({"block_public_access_all_on": blocked, "denied": held}),
                &json!({"block_public_access_all_on": true, "denied": done.patterns}),
            ));
        }
        Ok(Change::new(
            format!(
                "bucket {}: stop denying {} (taken out of statement {SID}); Block Public Access \
                 back to {}",
                done.bucket,
                done.principal,
                match &done.block_before {
                    None => "no configuration".to_string(),
                    Some(b) if b.all_on() => "all on (unchanged)".to_string(),
                    Some(b) => serde_json::to_string(b).unwrap_or_default(),
                }
            ),
            now.state.clone(),
            Release {
                bucket: done.bucket,
                principal: done.principal,
                patterns: done.patterns,
                block: done.block_before,
            },
        ))
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let undo: Release = recorded(&change.after, ID)?;
        let bucket = bucket_of(target, ID)?;
        if undo.bucket != bucket {
            return Err(ActionError::invalid(format!(
                "{ID}: the undo is for bucket {}, not this target's; refused",
                undo.bucket
            )));
        }
        let s3 = s3_client(&self.aws, target).await?;
        if !undo.patterns.is_empty() {
            if let Some(policy) = bucket_policy(&s3, &bucket, &target.account).await? {
                let rest = released(&policy, &target.partition, &bucket, &undo.patterns);
                if rest.as_ref() != Some(&policy) {
                    put_bucket_policy(&s3, &bucket, &target.account, rest.as_ref()).await?;
                }
            }
        }
        if !undo.block.is_some_and(|b| b.all_on()) {
            Self::write_block(&s3, &bucket, &target.account, undo.block).await?;
        }
        Ok(())
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let undo: Release = recorded(&change.after, ID)?;
        let now: BucketState = recorded(&self.verify(target, params).await?.state, ID)?;
        let held = denied_patterns(now.policy.as_ref());
        Ok(now.block == undo.block && undo.patterns.iter().all(|p| !held.contains(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_merge_and_release() {
        let p = patterns_of("arn:aws:iam::111122223333:role/app/worker").unwrap();
        assert_eq!(
            p,
            [
                "arn:aws:iam::111122223333:role/worker",
                "arn:aws:iam::111122223333:role/*/worker"
            ]
        );
        assert!(patterns_of("arn:aws:iam::111122223333:root").is_err());
        assert!(patterns_of("*").is_err());
        assert!(principal_arn("aws", "111122223333", Some("x"), Some("Root")).is_err());
        let own = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Keep", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::b/*"}]});
        let q = patterns_of("arn:aws:iam::111122223333:user/mallory").unwrap();
        let one = merged(Some(&own), "aws", "b", &p);
        let two = merged(Some(&one), "aws", "b", &q);
        assert_eq!(denied_patterns(Some(&two)).len(), 4);
        assert_eq!(two["Statement"].as_array().unwrap().len(), 2);
        let back = released(&two, "aws", "b", &q).unwrap();
        assert_eq!(back, one);
        assert_eq!(released(&one, "aws", "b", &p), Some(own.clone()));
        assert_eq!(
            released(&merged(None, "aws", "b", &p), "aws", "b", &p),
            None
        );
    }
}
