//! `aws.iam.deactivate-old-access-keys`: an IAM user's active access keys
//! older than `max_age_days` (Security Hub IAM.3, AWS Config
//! `access-keys-rotated`: 90 days) are made inactive (`UpdateAccessKey`),
//! never deleted. A key used in the last 30 days is still in use: the job
//! waits for a person's approval, the key's last use shown; keys the
//! user's tag `rectify:keep-access-keys` lists stay active and are
//! reported. Its jobs wait for approval by default (what signs with an old
//! key stops working). The undo re-activates exactly the keys it
//! deactivated.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{Action, ActionError, ActionSpec, Change, Event, Observed, ParamSpec, Target};
use serde_json::Value;

use super::{
    access_keys, get_user, iam_client, kept_reasons, key_list, now_secs, older_than, reactivated,
    reactivation_plan, recently_used, set_key_status, user_name, Deactivation, LastUse,
    Reactivation, Staleness, UserCredentials,
};
use crate::actions::{int_param, params_object, recorded, reject_unknown};
use crate::Aws;

pub const ID: &str = "aws.iam.deactivate-old-access-keys";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Deactivate an IAM user's access keys older than 90 days (never deleted).",
    controls: &["IAM.3"],
    resource_types: &["AwsIamUser"],
    // IAM users are global: `rectify scan` checks each once.
    account_wide: true,
    permissions: &[
        "iam:GetUser",
        "iam:ListAccessKeys",
        "iam:GetAccessKeyLastUsed",
        "iam:UpdateAccessKey",
        "iam:ListUsers",
    ],
    params: &[ParamSpec {
        name: "max_age_days",
        kind: "integer",
        default: "90",
        doc: "Active keys created more than this many days ago are deactivated (IAM.3: 90). 0 counts every active key.",
    }],
    // GetUser, ListAccessKeys, GetAccessKeyLastUsed (a user with one key),
    // UpdateAccessKey, then GetUser and ListAccessKeys (the keys' status
    // and the keep tag; an age needs no last use).
    calls_per_fix: 6,
    approval_by_default: true,
};

fn max_age(params: &Value) -> Result<i64, String> {
    let p = params_object(params)?;
    reject_unknown(&p, &["max_age_days"], ID)?;
    int_param(&p, "max_age_days", 0, 3650, 90)
}

pub struct IamDeactivateOldAccessKeys {
    aws: Arc<Aws>,
}

impl IamDeactivateOldAccessKeys {
    pub fn new(aws: Arc<Aws>) -> Self {
        IamDeactivateOldAccessKeys { aws }
    }

    /// The user's keys, each stale when active and older than the
    /// param's days; their last use as `last_use` says.
    async fn observe(
        &self,
        target: &Target,
        params: &Value,
        last_use: LastUse,
    ) -> Result<Observed, ActionError> {
        let days = max_age(params).map_err(ActionError::invalid)?;
        let iam = iam_client(&self.aws, target).await?;
        let user = user_name(&iam, ID, target).await?;
        let (tags, _) = get_user(&iam, &user).await?;
        let read_at = now_secs();
        let mut keys = access_keys(&iam, &user, &tags, last_use).await?;
        for k in &mut keys {
            k.stale = k.active && older_than(k.created_at, read_at, days);
        }
        let state = UserCredentials {
            user,
            read_at,
            keys,
            password: None,
        };
        // Kept keys are reported by `left_in_place`, never RESOLVED.
        let compliant = state.stale_keys().all(|k| k.kept);
        Ok(Observed::new(compliant, state, tags))
    }
}

#[async_trait]
impl Action for IamDeactivateOldAccessKeys {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        max_age(params).map(|_| ())
    }

    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        super::user_target(event, SPEC.resource_types)
    }

    // discover, discover_in_scan, inventory: the account's users.
    crate::actions::listed_targets!(
        super::user_targets,
        super::user_targets_in_scan,
        super::user_count
    );

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        self.observe(target, params, LastUse::Every).await
    }

    /// From the scan's credential report when it shows every active key
    /// younger than the limit; else read as `check` reads.
    async fn check_in_scan(
        &self,
        target: &Target,
        params: &Value,
        reads: &rectify_model::ScanReads,
    ) -> Result<Observed, ActionError> {
        let days = max_age(params).map_err(ActionError::invalid)?;
        match super::judged_by_report(&self.aws, reads, target, days, Staleness::Age).await? {
            Some(observed) => Ok(observed),
            None => self.check(target, params).await,
        }
    }

    /// Reads back what the write changed, the keys' status (with the tags
    /// that keep keys): no last use, which an age does not depend on.
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        self.observe(target, params, LastUse::Never).await
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        let days = max_age(params).map_err(ActionError::invalid)?;
        let state: UserCredentials = recorded(&observed.state, ID)?;
        let old: Vec<_> = state.stale_keys().filter(|k| !k.kept).collect();
        let summary = if old.is_empty() {
            format!(
                "IAM user {} has no active access key older than {days} days to deactivate",
                state.user
            )
        } else {
            format!(
                "deactivate (not delete) access key(s) of IAM user {} older than {days} days: {}",
                state.user,
                key_list(old.iter().copied(), state.read_at)
            )
        };
        let after = Deactivation {
            user: state.user.clone(),
            deactivated: old.iter().map(|k| k.id.clone()).collect(),
            password_removed: false,
        };
        Ok(Change::new(summary, observed.state.clone(), after))
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        max_age(params).map_err(ActionError::invalid)?;
        let after: Deactivation = recorded(&change.after, ID)?;
        let iam = iam_client(&self.aws, target).await?;
        set_key_status(&iam, &after.user, &after.deactivated, false).await
    }

    fn intent(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        recorded::<UserCredentials>(&observed.state, ID)
            .map(|s| recently_used(&s))
            .unwrap_or_default()
    }

    fn left_in_place(&self, _: &Target, params: &Value, observed: &Observed) -> Vec<String> {
        let days = max_age(params).unwrap_or(90);
        recorded::<UserCredentials>(&observed.state, ID)
            .map(|s| kept_reasons(&s, &format!("older than {days} days")))
            .unwrap_or_default()
    }

    fn revert_plan(
        &self,
        _: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        max_age(params).map_err(ActionError::invalid)?;
        reactivation_plan(ID, applied, now)
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        max_age(params).map_err(ActionError::invalid)?;
        let undo: Reactivation = recorded(&change.after, ID)?;
        let iam = iam_client(&self.aws, target).await?;
        set_key_status(&iam, &undo.user, &undo.reactivated, true).await
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        reactivated(ID, change, &self.check(target, params).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::iam::AccessKey;
    use crate::actions::testing::target;
    use crate::AwsSettings;
    use serde_json::json;

    fn key(
        id: &str,
        active: bool,
        stale: bool,
        kept: bool,
        used_days_ago: Option<i64>,
    ) -> AccessKey {
        AccessKey {
            id: id.into(),
            active,
            created: "2020-01-01T00:00:00Z".into(),
            created_at: 1_577_836_800,
            last_used: None,
            last_used_at: used_days_ago.map(|d| 1_800_000_000 - d * 86_400),
            last_used_by: used_days_ago.map(|_| "s3 in us-east-1".into()),
            kept,
            stale,
        }
    }

    #[tokio::test]
    async fn plan_intent_and_kept_keys() {
        let action = IamDeactivateOldAccessKeys::new(Arc::new(
            Aws::new(AwsSettings::new("us-east-1")).await,
        ));
        assert_eq!(max_age(&json!({})).unwrap(), 90);
        assert!(action
            .validate_params(&json!({"max_age_days": -1}))
            .is_err());
        assert!(action.validate_params(&json!({"max_age": 90})).is_err());
        let state = UserCredentials {
            user: "bob".into(),
            read_at: 1_800_000_000,
            keys: vec![
                key("AKIA1", true, true, false, Some(2)),
                key("AKIA2", true, true, true, None),
                key("AKIA3", false, false, false, None),
            ],
            password: None,
        };
        let observed = Observed {
            compliant: false,
            state: serde_json::to_value(&state).unwrap(),
            tags: Default::default(),
        };
        let t = target(
            "AwsIamUser",
            "arn:aws:iam::111122223333:user/bob",
            Value::Null,
        );
        let change = action.plan(&t, &json!({}), &observed).unwrap();
        assert_eq!(
            change.after,
            json!({"user": "bob", "deactivated": ["AKIA1"], "password_removed": false})
        );
        assert!(
            change.summary.contains("deactivate (not delete)"),
            "{}",
            change.summary
        );
        let intent = action.intent(&t, &json!({}), &observed);
        assert_eq!(intent.len(), 1);
        assert!(
            intent[0].contains("AKIA1")
                && intent[0].contains("last used 2 day(s) ago (s3 in us-east-1)")
        );
        let left = action.left_in_place(&t, &json!({}), &observed);
        assert_eq!(left.len(), 1);
        assert!(left[0].contains("AKIA2") && left[0].contains("older than 90 days"));
    }
}
