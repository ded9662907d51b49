//! `aws.s3.restrict-cross-account-actions`: takes the sensitive actions
//! out of bucket policy statements that grant them to principals of other
//! accounts (Security Hub S3.6, AWS Config
//! `s3-bucket-blacklisted-actions-prohibited` with Security Hub's action
//! list: s3:DeleteBucketPolicy, s3:PutBucketAcl, s3:PutBucketPolicy,
//! s3:PutEncryptionConfiguration, s3:PutObjectAcl). As the Config rule
//! does, it judges the `Principal` of Allow statements and not their
//! conditions; `"*"` counts as other accounts.
//!
//! How a statement is narrowed: an action named as it is in `Action` is
//! removed (a statement left with no action is removed); an `Allow` with
//! `NotAction` gets the sensitive actions added to its `NotAction`. A
//! wildcard (`s3:*`, `s3:Put*`) cannot be narrowed without listing what
//! the account needs: it is left in place and named (the finding is then
//! NOTIFIED). Principals of the bucket's own account in the same
//! statement lose the actions too (IAM policies grant them in the
//! account). Every other statement stays as it was.
//!
//! A cross-account grant is often deliberate: the jobs wait for approval
//! by default, with the accounts named. The undo puts the recorded policy
//! back, refused when the policy changed since.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::actions::resource_policy::{
    aws_principals, principal_account, statement_name, statements, strings, wildcard_matches,
};
use crate::actions::s3::bucket_reads::BucketReads;
use crate::actions::s3::{bucket_of, put_bucket_policy};
use crate::actions::{no_change, recorded, takes_no_params, unchanged_since};
use crate::Aws;

pub const ID: &str = "aws.s3.restrict-cross-account-actions";

/// The actions S3.6 does not let other accounts have (Security Hub's
/// `blacklistedActionPatterns`).
pub const SENSITIVE: &[&str] = &[
    "s3:DeleteBucketPolicy",
    "s3:PutBucketAcl",
    "s3:PutBucketPolicy",
    "s3:PutEncryptionConfiguration",
    "s3:PutObjectAcl",
];

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Remove policy-changing actions (S3.6's list) that a bucket policy grants to other accounts.",
    controls: &["S3.6"],
    resource_types: &["AwsS3Bucket"],
    account_wide: false,
    permissions: &[
        "s3:GetBucketPolicy",
        "s3:PutBucketPolicy",
        "s3:GetBucketTagging",
        "s3:ListAllMyBuckets",
        "s3:GetBucketLocation",
    ],
    params: &[],
    // GetBucketPolicy, GetBucketTagging; GetBucketPolicy (unchanged since
    // the plan?), PutBucketPolicy; GetBucketPolicy.
    calls_per_fix: 5,
    approval_by_default: true,
};

/// One statement's grant of sensitive actions to other accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Grant {
    statement: String,
    /// The other accounts (`*`: everyone).
    accounts: Vec<String>,
    /// Sensitive actions the statement grants and the action can remove.
    removable: Vec<String>,
    /// Wildcard patterns that grant sensitive actions: left in place.
    wildcards: Vec<String>,
}

/// The bucket's policy as read, and its grants to other accounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PolicyState {
    policy: Option<Value>,
    grants: Vec<Grant>,
}

impl PolicyState {
    fn read(policy: Option<Value>, own: &str) -> PolicyState {
        let grants = policy
            .as_ref()
            .map(|p| grants_of(p, own))
            .unwrap_or_default();
        PolicyState { policy, grants }
    }

    /// Nothing the action could still remove.
    fn compliant(&self) -> bool {
        self.grants.iter().all(|g| g.removable.is_empty())
    }

    fn accounts(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .grants
            .iter()
            .flat_map(|g| g.accounts.iter().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// The other accounts a statement grants to: `*`, or accounts not `own`.
fn other_accounts(statement: &Value, own: &str) -> Vec<String> {
    let mut accounts: Vec<String> = aws_principals(statement)
        .into_iter()
        .filter_map(|p| {
            if p == "*" {
                Some("*".to_string())
            } else {
                principal_account(p)
                    .filter(|a| *a != own)
                    .map(str::to_string)
            }
        })
        .collect();
    accounts.sort();
    accounts.dedup();
    accounts
}

/// The sensitive actions an Allow statement grants: those named as they
/// are (or, with `NotAction`, not excluded), and the wildcard patterns
/// that cover some.
fn sensitive_in(statement: &Value) -> (Vec<String>, Vec<String>) {
    let mut removable = Vec::new();
    let mut wildcards = Vec::new();
    if let Some(not) = statement.get("NotAction") {
        let excluded = strings(not);
        for action in SENSITIVE {
            if !excluded.iter().any(|p| wildcard_matches(p, action, false)) {
                removable.push(action.to_string());
            }
        }
        return (removable, wildcards);
    }
    for pattern in strings(&statement["Action"]) {
        let exact = SENSITIVE.iter().find(|a| a.eq_ignore_ascii_case(pattern));
        match exact {
            Some(action) => removable.push(action.to_string()),
            None if SENSITIVE
                .iter()
                .any(|a| wildcard_matches(pattern, a, false)) =>
            {
                wildcards.push(pattern.to_string())
            }
            None => {}
        }
    }
    (removable, wildcards)
}

fn grants_of(policy: &Value, own: &str) -> Vec<Grant> {
    statements(policy)
        .into_iter()
        .enumerate()
        .filter(|(_, s)| s["Effect"] == "Allow")
        .filter_map(|(n, s)| {
            let accounts = other_accounts(s, own);
            if accounts.is_empty() {
                return None;
            }
            let (removable, wildcards) = sensitive_in(s);
            if removable.is_empty() && wildcards.is_empty() {
                return None;
            }
            Some(Grant {
                statement: statement_name(s, n),
                accounts,
                removable,
                wildcards,
            })
        })
        .collect()
}

/// `statement` without the sensitive actions it names (`None`: no action
/// left, the statement goes), or with them added to its `NotAction`.
fn narrowed(statement: &Value) -> Option<Value> {
    let mut out = statement.clone();
    if let Some(not) = statement.get("NotAction") {
        let mut excluded: Vec<Value> = strings(not).into_iter().map(|s| json!(s)).collect();
        let (add, _) = sensitive_in(statement);
        excluded.extend(add.into_iter().map(Value::String));
        out["NotAction"] = Value::Array(excluded);
        return Some(out);
    }
    let kept: Vec<&str> = strings(&statement["Action"])
        .into_iter()
        .filter(|p| !SENSITIVE.iter().any(|a| a.eq_ignore_ascii_case(p)))
        .collect();
    match kept.len() {
        0 => None,
        _ if statement["Action"].is_string() => {
            out["Action"] = json!(kept[0]);
            Some(out)
        }
        _ => {
            out["Action"] = json!(kept);
            Some(out)
        }
    }
}

/// The policy with every removable grant to other accounts narrowed;
/// `None`: no statement left.
fn restricted(policy: &Value, own: &str) -> Option<Value> {
    let list: Vec<Value> = statements(policy)
        .into_iter()
        .filter_map(|s| {
            let grants = s["Effect"] == "Allow"
                && !other_accounts(s, own).is_empty()
                && !sensitive_in(s).0.is_empty();
            if grants {
                narrowed(s)
            } else {
                Some(s.clone())
            }
        })
        .collect();
    if list.is_empty() {
        return None;
    }
    let mut doc = policy.clone();
    doc["Statement"] = Value::Array(list);
    Some(doc)
}

pub struct S3RestrictCrossAccount {
    aws: Arc<Aws>,
}

impl S3RestrictCrossAccount {
    pub fn new(aws: Arc<Aws>) -> Self {
        S3RestrictCrossAccount { aws }
    }

    async fn read(
        &self,
        target: &Target,
    ) -> Result<(PolicyState, aws_sdk_s3::Client, String), ActionError> {
        let b = BucketReads::of(&self.aws, target, ID, None).await?;
        let state = PolicyState::read(b.policy().await?, &target.account);
        Ok((state, b.client().clone(), b.bucket().to_string()))
    }

    /// The policy and the tags, through the scan's reads when `scan` is
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
        let state = PolicyState::read(policy?, &target.account);
        Ok(Observed::new(state.compliant(), &state, tags?))
    }

    /// Writes `to` when the policy is still `from` (or already `to`);
    /// refuses when someone changed it since.
    async fn replace(
        &self,
        target: &Target,
        from: &PolicyState,
        to: &PolicyState,
    ) -> Result<(), ActionError> {
        let (now, s3, bucket) = self.read(target).await?;
        if now.policy == to.policy {
            return Ok(());
        }
        unchanged_since(
            || format!("the policy of bucket {bucket}"),
            &now.policy,
            &from.policy,
        )?;
        put_bucket_policy(&s3, &bucket, &target.account, to.policy.as_ref()).await
    }
}

#[async_trait]
impl Action for S3RestrictCrossAccount {
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
        let Some(policy) = before.policy.as_ref().filter(|_| !before.compliant()) else {
            return Ok(no_change(format!(
                    "the policy of bucket {bucket} grants other accounts none of {} that rectify can remove",
                    SENSITIVE.join(", ")
                ), observed));
        };
        let after = PolicyState::read(restricted(policy, &target.account), &target.account);
        let removed: Vec<String> = before
            .grants
            .iter()
            .filter(|g| !g.removable.is_empty())
            .map(|g| {
                format!(
                    "{} ({} for {})",
                    g.statement,
                    g.removable.join(", "),
                    g.accounts.join(", ")
                )
            })
            .collect();
        Ok(Change {
            summary: format!(
                "take policy-changing actions away from other accounts in the policy of bucket {bucket}: {}; \
                 every other statement unchanged",
                removed.join("; ")
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
        takes_no_params(params, ID)?;
        if change.before == change.after {
            return Ok(());
        }
        let from: PolicyState = recorded(&change.before, ID)?;
        let to: PolicyState = recorded(&change.after, ID)?;
        self.replace(target, &from, &to).await
    }

    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let (state, _, _) = self.read(target).await?;
        Ok(Observed::new(state.compliant(), &state, Default::default()))
    }

    /// The accounts the policy grants sensitive actions to: such a grant
    /// is often deliberate (a partner's pipeline, a central account).
    fn intent(&self, target: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        let Ok(state) = recorded::<PolicyState>(&observed.state, ID) else {
            return Vec::new();
        };
        let accounts = state.accounts();
        if accounts.is_empty() {
            return Vec::new();
        }
        vec![format!(
            "the policy of bucket {} grants policy-changing actions to account(s) {}: a cross-account grant \
             is often deliberate; check with the owners of those accounts before approving, or tag the \
             bucket with the exemption tag to keep it",
            target.resource_name(),
            accounts.join(", ")
        )]
    }

    /// Wildcard grants the action cannot narrow.
    fn left_in_place(&self, target: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        let Ok(state) = recorded::<PolicyState>(&observed.state, ID) else {
            return Vec::new();
        };
        state
            .grants
            .iter()
            .filter(|g| !g.wildcards.is_empty())
            .map(|g| {
                format!(
                    "{} of the policy of bucket {} grants {} to {}: a wildcard rectify does not narrow \
                     (list the actions those accounts need instead)",
                    g.statement,
                    target.resource_name(),
                    g.wildcards.join(", "),
                    g.accounts.join(", ")
                )
            })
            .collect()
    }

    /// Puts the recorded policy back; refuses when the policy is no
    /// longer the one `applied` left.
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
        let restore: PolicyState = recorded(&applied.before, ID)?;
        let current: PolicyState = recorded(&now.state, ID)?;
        unchanged_since(
            || format!("the policy of bucket {bucket}"),
            &current.policy,
            &left.policy,
        )?;
        Ok(Change {
            summary: format!(
                "put the policy of bucket {bucket} back as it was, with its grants to account(s) {}",
                restore.accounts().join(", ")
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
        takes_no_params(params, ID)?;
        let from: PolicyState = recorded(&change.before, ID)?;
        let to: PolicyState = recorded(&change.after, ID)?;
        self.replace(target, &from, &to).await
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        takes_no_params(params, ID)?;
        let restored: PolicyState = recorded(&change.after, ID)?;
        let (now, _, _) = self.read(target).await?;
        Ok(now.policy == restored.policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "111122223333";

    #[test]
    fn grants_and_how_statements_are_narrowed() {
        let policy = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Partner", "Effect": "Allow",
             "Principal": {"AWS": ["arn:aws:iam::444455556666:root", "arn:aws:iam::111122223333:role/own"]},
             "Action": ["s3:GetObject", "s3:PutObjectAcl", "s3:putbucketpolicy"], "Resource": "*"},
            {"Sid": "OnlyAcl", "Effect": "Allow", "Principal": {"AWS": "777788889999"},
             "Action": "s3:PutBucketAcl", "Resource": "*"},
            {"Sid": "Everything", "Effect": "Allow", "Principal": {"AWS": "777788889999"},
             "Action": "s3:*", "Resource": "*"},
            {"Sid": "AllBut", "Effect": "Allow", "Principal": "*",
             "NotAction": ["s3:Delete*"], "Resource": "*"},
            {"Sid": "Own", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
             "Action": "s3:PutBucketPolicy", "Resource": "*"},
            {"Sid": "DenyOthers", "Effect": "Deny", "Principal": "*",
             "Action": "s3:PutBucketPolicy", "Resource": "*"}
        ]});
        let state = PolicyState::read(Some(policy.clone()), OWN);
        assert!(!state.compliant());
        let names: Vec<&str> = state.grants.iter().map(|g| g.statement.as_str()).collect();
        assert_eq!(
            names,
            [
                "statement \"Partner\"",
                "statement \"OnlyAcl\"",
                "statement \"Everything\"",
                "statement \"AllBut\""
            ]
        );
        assert_eq!(state.grants[0].accounts, ["444455556666"]);
        assert_eq!(
            state.grants[0].removable,
            ["s3:PutObjectAcl", "s3:PutBucketPolicy"]
        );
        assert_eq!(state.grants[2].wildcards, ["s3:*"]);
        assert_eq!(state.grants[3].accounts, ["*"]);
        assert_eq!(state.grants[3].removable.len(), 4, "{:?}", state.grants[3]);
        assert_eq!(state.accounts(), ["*", "444455556666", "777788889999"]);

        let after = restricted(&policy, OWN).unwrap();
        let list = statements(&after);
        assert_eq!(list.len(), 5, "OnlyAcl goes: {after:#}");
        assert_eq!(list[0]["Action"], json!(["s3:GetObject"]));
        assert_eq!(list[1]["Sid"], "Everything");
        assert_eq!(list[1], &policy["Statement"][2]);
        assert_eq!(
            list[2]["NotAction"],
            json!([
                "s3:Delete*",
                "s3:PutBucketAcl",
                "s3:PutBucketPolicy",
                "s3:PutEncryptionConfiguration",
                "s3:PutObjectAcl"
            ])
        );
        assert_eq!(list[3], &policy["Statement"][4]);
        assert_eq!(list[4], &policy["Statement"][5]);
        let narrowed = PolicyState::read(Some(after), OWN);
        assert!(narrowed.compliant(), "{:?}", narrowed.grants);
        // The wildcard is still there, named.
        assert_eq!(narrowed.grants.len(), 1);
        assert_eq!(narrowed.grants[0].wildcards, ["s3:*"]);

        let only = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "777788889999"},
            "Action": "s3:PutBucketAcl", "Resource": "*"}]});
        assert_eq!(restricted(&only, OWN), None);
        assert!(PolicyState::read(None, OWN).compliant());
    }
}
