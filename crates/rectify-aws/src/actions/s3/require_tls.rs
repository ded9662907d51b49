//! `aws.s3.require-tls`: makes a bucket refuse requests that do not use
//! TLS (Security Hub S3.5, AWS Config `s3-bucket-ssl-requests-only`, CIS
//! 2.1.1) by merging one statement into its bucket policy:
//!
//! ```json
//! {"Sid": "RectifyDenyInsecureTransport", "Effect": "Deny", "Principal": "*",
//!  "Action": "s3:*", "Resource": ["arn:aws:s3:::B", "arn:aws:s3:::B/*"],
//!  "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
//! ```
//!
//! Every other statement stays as it was. The control passes when a Deny
//! statement for everyone, on every S3 action, conditioned on
//! `aws:SecureTransport` false, covers the bucket and its objects; a
//! policy that already has one is left alone. A bucket that hosts a static
//! website waits for approval: S3's website endpoints answer plain HTTP
//! only, so the denial would take the site offline. The undo removes only
//! rectify's statement (and deletes the policy when the change made it
//! from nothing), refused when the policy changed since.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::actions::resource_policy::{
    condition_values, covers_action, covers_resource, find_sid, grants_everyone, statement_name,
    statements, with_statement, without_statement,
};
use crate::actions::s3::bucket_reads::BucketReads;
use crate::actions::s3::{bucket_of, put_bucket_policy};
use crate::actions::{changed_since, no_change, recorded, takes_no_params};
use crate::Aws;

pub const ID: &str = "aws.s3.require-tls";

/// The `Sid` of the statement rectify adds.
pub const SID: &str = "RectifyDenyInsecureTransport";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Deny every request to a bucket that does not use TLS (a statement merged into its bucket policy).",
    controls: &["S3.5"],
    resource_types: &["AwsS3Bucket"],
    account_wide: false,
    permissions: &[
        "s3:GetBucketPolicy",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "s3:GetBucketTagging",
        "s3:GetBucketWebsite",
        "s3:ListAllMyBuckets",
        "s3:GetBucketLocation",
    ],
    params: &[],
    // GetBucketPolicy, GetBucketTagging, GetBucketWebsite; GetBucketPolicy
    // (the policy as it is when the change goes in), PutBucketPolicy;
    // GetBucketPolicy.
    calls_per_fix: 6,
    approval_by_default: false,
};

/// The bucket's policy as read: the document (none: no policy), and the
/// statement that makes it pass, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PolicyState {
    policy: Option<Value>,
    /// The statement that denies insecure transport, by name.
    denies_insecure: Option<String>,
    /// The bucket hosts a static website: S3's website endpoints answer
    /// plain HTTP only, so the denial takes the site offline. Read only
    /// when the bucket does not comply.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    website: bool,
    /// A report-only scan judged the policy alone: whether the bucket
    /// hosts a website was not read (it weighs only in a change).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    website_not_read: bool,
}

/// rectify's statement for `bucket`.
fn deny_statement(partition: &str, bucket: &str) -> Value {
    json!({
        "Sid": SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [
            format!("arn:{partition}:s3:::{bucket}"),
            format!("arn:{partition}:s3:::{bucket}/*"),
        ],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    })
}

/// The statement of `policy` that denies requests without TLS on the
/// bucket and its objects to everyone, for every S3 action, by name.
fn insecure_denial(policy: &Value, partition: &str, bucket: &str) -> Option<String> {
    let bucket_arn = format!("arn:{partition}:s3:::{bucket}");
    let objects = format!("{bucket_arn}/*");
    statements(policy)
        .into_iter()
        .enumerate()
        .find(|(_, s)| {
            s["Effect"] == "Deny"
                && grants_everyone(s)
                && covers_action(s, "s3:*")
                && [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:ListBucket",
                    "s3:DeleteBucket",
                ]
                .iter()
                .all(|a| covers_action(s, a))
                && (covers_resource(s, &bucket_arn) || covers_resource(s, &objects))
                && condition_values(s, "Bool", "aws:SecureTransport")
                    .iter()
                    .any(|v| v.eq_ignore_ascii_case("false"))
        })
        .map(|(n, s)| statement_name(s, n))
}

pub struct S3RequireTls {
    aws: Arc<Aws>,
}

impl S3RequireTls {
    pub fn new(aws: Arc<Aws>) -> Self {
        S3RequireTls { aws }
    }

    async fn read(
        &self,
        target: &Target,
    ) -> Result<(PolicyState, aws_sdk_s3::Client), ActionError> {
        let b = BucketReads::of(&self.aws, target, ID, None).await?;
        let state = policy_state(target, b.bucket(), b.policy().await?);
        Ok((state, b.client().clone()))
    }

    /// The policy and the tags (and, without the denial, whether the
    /// bucket serves a website), through the scan's reads when `scan` is
    /// given.
    async fn observe(
        &self,
        target: &Target,
        params: &Value,
        scan: Option<&rectify_model::ScanReads>,
    ) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let b = BucketReads::of(&self.aws, target, ID, scan).await?;
        let (policy, tags) = tokio::join!(b.policy(), b.tags());
        let mut state = policy_state(target, b.bucket(), policy?);
        if state.denies_insecure.is_none() {
            if rectify_model::ScanReads::verdicts_only(scan) {
                state.website_not_read = true;
            } else {
                state.website = b.website().await?;
            }
        }
        Ok(observed(&state, tags?))
    }
}

/// The policy as read, and the statement that denies requests without
/// TLS, if one does.
fn policy_state(target: &Target, bucket: &str, policy: Option<Value>) -> PolicyState {
    let denies_insecure = policy
        .as_ref()
        .and_then(|p| insecure_denial(p, &target.partition, bucket));
    PolicyState {
        policy,
        denies_insecure,
        website: false,
        website_not_read: false,
    }
}

fn observed(state: &PolicyState, tags: serde_json::Map<String, Value>) -> Observed {
    Observed::new(state.denies_insecure.is_some(), state, tags)
}

#[async_trait]
impl Action for S3RequireTls {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
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
        takes_no_params(params, ID)?;
        let bucket = bucket_of(target, ID)?;
        let before: PolicyState = recorded(&observed.state, ID)?;
        if let Some(name) = &before.denies_insecure {
            return Ok(no_change(
                format!(
                    "bucket {bucket} already denies requests without TLS ({name} of its policy)"
                ),
                observed,
            ));
        }
        if before.website_not_read {
            return Err(ActionError::invalid(format!(
                "{ID}: bucket {bucket} was judged by a report-only scan, which does not read \
                 whether it hosts a website; check it again before planning a change"
            )));
        }
        let after = with_statement(
            before.policy.as_ref(),
            deny_statement(&target.partition, &bucket),
        );
        let summary = match &before.policy {
            None => format!(
                "give bucket {bucket} a policy that denies every request without TLS (statement {SID})"
            ),
            Some(p) => format!(
                "add statement {SID} to the policy of bucket {bucket}: deny every request without TLS \
                 (its {} other statement(s) unchanged)",
                statements(p).iter().filter(|s| s["Sid"] != SID).count()
            ),
        };
        let after_state = PolicyState {
            policy: Some(after),
            denies_insecure: Some(format!("statement {SID:?}")),
            website: false,
            website_not_read: false,
        };
        Ok(Change::new(summary, observed.state.clone(), after_state))
    }

    /// A static website: its HTTP-only website endpoint stops answering.
    fn intent(&self, target: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        match recorded::<PolicyState>(&observed.state, ID) {
            Ok(state) if state.website => vec![format!(
                "bucket {} hosts a static website (GetBucketWebsite): S3's website endpoint answers \
                 plain HTTP only, so denying requests without TLS takes the site offline unless it is \
                 served through HTTPS (CloudFront); approve the job, or tag the bucket with the \
                 exemption tag to leave it",
                target.resource_name()
            )],
            Ok(state) if state.website_not_read => vec![format!(
                "whether bucket {} hosts a static website was not read (a report-only scan)",
                target.resource_name()
            )],
            _ => Vec::new(),
        }
    }

    /// Merges rectify's statement into the policy read now (not the one
    /// recorded at plan time), so that a statement added meanwhile is
    /// kept; idempotent.
    async fn apply(&self, target: &Target, params: &Value, _: &Change) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let bucket = bucket_of(target, ID)?;
        let (now, s3) = self.read(target).await?;
        if now.denies_insecure.is_some() {
            return Ok(());
        }
        let merged = with_statement(
            now.policy.as_ref(),
            deny_statement(&target.partition, &bucket),
        );
        put_bucket_policy(&s3, &bucket, &target.account, Some(&merged)).await
    }

    /// Reads the policy back: it must hold a statement the control
    /// accepts.
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let (state, _) = self.read(target).await?;
        Ok(observed(&state, Default::default()))
    }

    /// Removes rectify's statement (deleting the policy when the change
    /// made it from nothing); refuses when the policy is no longer the
    /// one the change left.
    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let bucket = bucket_of(target, ID)?;
        let left: PolicyState = recorded(&applied.after, ID)?;
        let current: PolicyState = recorded(&now.state, ID)?;
        let Some(left_policy) = &left.policy else {
            return Err(ActionError::invalid(format!(
                "{ID}: the change on bucket {bucket} wrote nothing: there is nothing to undo"
            )));
        };
        if current.policy.as_ref() != Some(left_policy) {
            return Err(changed_since(
                &format!("the policy of bucket {bucket}"),
                &current.policy.clone().unwrap_or(Value::Null),
                left_policy,
            ));
        }
        let (rest, _) = without_statement(left_policy, SID);
        let summary = match &rest {
            None => format!("delete the policy of bucket {bucket} (it had none before)"),
            Some(_) => format!("remove statement {SID} from the policy of bucket {bucket}"),
        };
        let denies_insecure = rest
            .as_ref()
            .and_then(|p| insecure_denial(p, &target.partition, &bucket));
        Ok(Change {
            summary,
            before: now.state.clone(),
            after: serde_json::to_value(PolicyState {
                policy: rest,
                denies_insecure,
                website: false,
                website_not_read: false,
            })
            .expect("plain struct"),
        })
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let bucket = bucket_of(target, ID)?;
        let after: PolicyState = recorded(&change.after, ID)?;
        let (now, s3) = self.read(target).await?;
        let Some(policy) = &now.policy else {
            return Ok(());
        };
        if find_sid(policy, SID).is_none() {
            return Ok(());
        }
        put_bucket_policy(&s3, &bucket, &target.account, after.policy.as_ref()).await
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        takes_no_params(params, ID)?;
        let after: PolicyState = recorded(&change.after, ID)?;
        let (now, _) = self.read(target).await?;
        Ok(now.policy == after.policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_control_accepts() {
        let ours = json!({"Statement": [deny_statement("aws", "b")]});
        assert_eq!(
            insecure_denial(&ours, "aws", "b").as_deref(),
            Some("statement \"RectifyDenyInsecureTransport\"")
        );
        // CIS's form: objects only, boolean false, `{"AWS": "*"}`.
        let cis = json!({"Statement": [{"Effect": "Deny", "Principal": {"AWS": "*"},
            "Action": "*", "Resource": "arn:aws:s3:::b/*",
            "Condition": {"Bool": {"aws:SecureTransport": false}}}]});
        assert_eq!(
            insecure_denial(&cis, "aws", "b").as_deref(),
            Some("statement 1")
        );
        for bad in [
            // Only GetObject.
            json!({"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
            // Another bucket.
            json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": "arn:aws:s3:::other/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
            // An Allow on TLS is not a denial.
            json!({"Effect": "Allow", "Principal": "*", "Action": "s3:*",
                "Resource": "arn:aws:s3:::b/*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}),
            // One principal only.
            json!({"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:*",
                "Resource": "arn:aws:s3:::b/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
        ] {
            assert_eq!(
                insecure_denial(&json!({"Statement": [bad.clone()]}), "aws", "b"),
                None,
                "{bad}"
            );
        }
    }
}
