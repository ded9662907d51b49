//! `aws.iam.remove-unused-credentials`: an IAM user's credentials unused
//! for more than `unused_days` (Security Hub IAM.8: 90 days, IAM.22: 45;
//! AWS Config `iam-user-unused-credentials-check`). Active access keys not
//! used for that long (or never used since created that long ago) are made
//! inactive, never deleted. A console password unused that long is left
//! in place and reported, since deleting a login profile cannot be undone
//! with the same password; the param `remove_unused_password: true`
//! removes it (`DeleteLoginProfile`), and such a job always waits for a
//! person. Its jobs wait for approval by default. Keys the user's tag
//! `rectify:keep-access-keys` lists stay active and are reported. The undo
//! re-activates exactly the keys it deactivated (a removed password cannot
//! be given back).

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{Action, ActionError, ActionSpec, Change, Event, Observed, ParamSpec, Target};
use serde_json::Value;

use super::{
    access_keys, days_between, get_user, iam_client, kept_reasons, key_list, now_secs, older_than,
    password, reactivated, reactivation_plan, recently_used, set_key_status, user_name,
    Deactivation, LastUse, Reactivation, Staleness, UserCredentials,
};
use crate::actions::{bool_param, int_param, params_object, recorded, reject_unknown};
use crate::errors::{code_of, sdk_error_on};
use crate::Aws;

pub const ID: &str = "aws.iam.remove-unused-credentials";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Deactivate an IAM user's access keys unused for 90 days; report (or remove, by param) an unused console password.",
    controls: &["IAM.8", "IAM.22"],
    resource_types: &["AwsIamUser"],
    // IAM users are global: `rectify scan` checks each once.
    account_wide: true,
    permissions: &[
        "iam:GetUser",
        "iam:GetLoginProfile",
        "iam:ListAccessKeys",
        "iam:GetAccessKeyLastUsed",
        "iam:UpdateAccessKey",
        "iam:DeleteLoginProfile",
        "iam:ListUsers",
    ],
    params: &[
        ParamSpec {
            name: "unused_days",
            kind: "integer",
            default: "90",
            doc: "Credentials not used for more than this many days (counted from their creation when never used) are unused (IAM.8: 90, IAM.22: 45). 0 counts every credential.",
        },
        ParamSpec {
            name: "remove_unused_password",
            kind: "boolean",
            default: "false",
            doc: "Also delete an unused console password (DeleteLoginProfile). It cannot be given back (the undo re-activates keys only), so such a job always waits for approval. Default: the password is left in place and the finding NOTIFIED.",
        },
    ],
    // GetUser, GetLoginProfile, ListAccessKeys, GetAccessKeyLastUsed (a
    // user with one key), UpdateAccessKey, then GetUser, GetLoginProfile
    // and ListAccessKeys (the last use of active keys only).
    calls_per_fix: 8,
    approval_by_default: true,
};

struct Params {
    days: i64,
    remove_password: bool,
}

fn params_of(params: &Value) -> Result<Params, String> {
    let p = params_object(params)?;
    reject_unknown(&p, &["unused_days", "remove_unused_password"], ID)?;
    Ok(Params {
        days: int_param(&p, "unused_days", 0, 3650, 90)?,
        remove_password: bool_param(&p, "remove_unused_password", false)?,
    })
}

fn checked(params: &Value) -> Result<Params, ActionError> {
    params_of(params).map_err(ActionError::invalid)
}

pub struct IamRemoveUnusedCredentials {
    aws: Arc<Aws>,
}

impl IamRemoveUnusedCredentials {
    pub fn new(aws: Arc<Aws>) -> Self {
        IamRemoveUnusedCredentials { aws }
    }

    /// The user's keys and console password, each stale when unused for
    /// more than the param's days; the keys' last use as `last_use` says.
    async fn observe(
        &self,
        target: &Target,
        params: &Value,
        last_use: LastUse,
    ) -> Result<Observed, ActionError> {
        let p = checked(params)?;
        let iam = iam_client(&self.aws, target).await?;
        let user = user_name(&iam, ID, target).await?;
        let (tags, signed_in) = get_user(&iam, &user).await?;
        let read_at = now_secs();
        let mut login = password(&iam, &user, signed_in).await?;
        if let Some(pw) = &mut login {
            pw.stale = older_than(pw.last_used_at.unwrap_or(pw.created_at), read_at, p.days);
        }
        let mut keys = access_keys(&iam, &user, &tags, last_use).await?;
        for k in &mut keys {
            k.stale = k.active && older_than(k.last_activity(), read_at, p.days);
        }
        let state = UserCredentials {
            user,
            read_at,
            keys,
            password: login,
        };
        // What stays on purpose (kept keys, a password not to be removed)
        // is reported by `left_in_place`, never RESOLVED.
        let password_done =
            !state.password.as_ref().is_some_and(|pw| pw.stale) || !p.remove_password;
        let compliant = state.stale_keys().all(|k| k.kept) && password_done;
        Ok(Observed::new(compliant, state, tags))
    }
}

/// The password is unused and the params say to remove it.
fn removes_password(state: &UserCredentials, p: &Params) -> bool {
    p.remove_password && state.password.as_ref().is_some_and(|pw| pw.stale)
}

#[async_trait]
impl Action for IamRemoveUnusedCredentials {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        params_of(params).map(|_| ())
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
    /// (and, when the params remove it, the password) used within the
    /// limit; else read as `check` reads.
    async fn check_in_scan(
        &self,
        target: &Target,
        params: &Value,
        reads: &rectify_model::ScanReads,
    ) -> Result<Observed, ActionError> {
        let p = checked(params)?;
        let measure = Staleness::Unused {
            password: p.remove_password,
        };
        match super::judged_by_report(&self.aws, reads, target, p.days, measure).await? {
            Some(observed) => Ok(observed),
            None => self.check(target, params).await,
        }
    }

    /// Reads back what decides compliance after the write: the keys'
    /// status, the last use of the active ones only, and the password
    /// (removed, or reported as left in place).
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        self.observe(target, params, LastUse::Active).await
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        let p = checked(params)?;
        let state: UserCredentials = recorded(&observed.state, ID)?;
        let unused: Vec<_> = state.stale_keys().filter(|k| !k.kept).collect();
        let remove = removes_password(&state, &p);
        let mut parts = Vec::new();
        if !unused.is_empty() {
            parts.push(format!(
                "deactivate (not delete) access key(s) unused for more than {} days: {}",
                p.days,
                key_list(unused.iter().copied(), state.read_at)
            ));
        }
        match &state.password {
            Some(pw) if pw.stale && remove => parts.push(format!(
                "delete the console password (unused for more than {} days; it cannot be given back)",
                p.days
            )),
            Some(pw) if pw.stale => parts.push(format!(
                "the console password, unused for more than {} days, is left in place (remove_unused_password is off)",
                p.days
            )),
            _ => {}
        }
        let summary = if parts.is_empty() {
            format!(
                "IAM user {} has no credential unused for more than {} days",
                state.user, p.days
            )
        } else {
            format!("IAM user {}: {}", state.user, parts.join("; "))
        };
        let after = Deactivation {
            user: state.user.clone(),
            deactivated: unused.iter().map(|k| k.id.clone()).collect(),
            password_removed: remove,
        };
        Ok(Change::new(summary, observed.state.clone(), after))
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        checked(params)?;
        let after: Deactivation = recorded(&change.after, ID)?;
        let iam = iam_client(&self.aws, target).await?;
        set_key_status(&iam, &after.user, &after.deactivated, false).await?;
        if after.password_removed {
            match iam
                .delete_login_profile()
                .user_name(&after.user)
                .send()
                .await
            {
                Ok(_) => {}
                // Already gone (a job run again after a crash).
                Err(e) if code_of(&e) == Some("NoSuchEntity") => {}
                Err(e) => return Err(sdk_error_on("iam:DeleteLoginProfile", &after.user, e)),
            }
        }
        Ok(())
    }

    /// Keys used recently (with a short `unused_days`); a password about
    /// to be deleted, which no undo gives back.
    fn intent(&self, _: &Target, params: &Value, observed: &Observed) -> Vec<String> {
        let (Ok(p), Ok(state)) = (
            params_of(params),
            recorded::<UserCredentials>(&observed.state, ID),
        ) else {
            return Vec::new();
        };
        let mut reasons = recently_used(&state);
        if removes_password(&state, &p) {
            reasons.push(format!(
                "deleting the console password of IAM user {} cannot be undone (AWS keeps no copy): \
                 the user would need a new password from an administrator",
                state.user
            ));
        }
        reasons
    }

    fn left_in_place(&self, _: &Target, params: &Value, observed: &Observed) -> Vec<String> {
        let (Ok(p), Ok(state)) = (
            params_of(params),
            recorded::<UserCredentials>(&observed.state, ID),
        ) else {
            return Vec::new();
        };
        let mut left = kept_reasons(&state, &format!("unused for more than {} days", p.days));
        if let Some(pw) = state
            .password
            .as_ref()
            .filter(|pw| pw.stale && !p.remove_password)
        {
            let since = match pw.last_used_at {
                Some(t) => format!("last used {} day(s) ago", days_between(t, state.read_at)),
                None => format!(
                    "never used, created {} day(s) ago",
                    days_between(pw.created_at, state.read_at)
                ),
            };
            left.push(format!(
                "the console password of IAM user {} ({since}) is left in place: deleting a login \
                 profile cannot be undone with the same password; remove it by hand, or set the \
                 rule's param remove_unused_password: true",
                state.user
            ));
        }
        left
    }

    fn revert_plan(
        &self,
        _: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        checked(params)?;
        reactivation_plan(ID, applied, now)
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        checked(params)?;
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
    use crate::actions::iam::{AccessKey, Password};
    use crate::actions::testing::target;
    use crate::AwsSettings;
    use serde_json::json;

    #[tokio::test]
    async fn the_password_is_kept_unless_asked() {
        let action = IamRemoveUnusedCredentials::new(Arc::new(
            Aws::new(AwsSettings::new("us-east-1")).await,
        ));
        assert!(action.validate_params(&json!({"unused_days": 45})).is_ok());
        assert!(action
            .validate_params(&json!({"remove_unused_password": "yes"}))
            .is_err());
        let state = UserCredentials {
            user: "carol".into(),
            read_at: 1_800_000_000,
            keys: vec![AccessKey {
                id: "AKIA1".into(),
                active: true,
                created: "2020-01-01T00:00:00Z".into(),
                created_at: 1_577_836_800,
                last_used: None,
                last_used_at: None,
                last_used_by: None,
                kept: false,
                stale: true,
            }],
            password: Some(Password {
                created: "2020-01-01T00:00:00Z".into(),
                created_at: 1_577_836_800,
                last_used: None,
                last_used_at: None,
                stale: true,
            }),
        };
        let observed = Observed {
            compliant: false,
            state: serde_json::to_value(&state).unwrap(),
            tags: Default::default(),
        };
        let t = target(
            "AwsIamUser",
            "arn:aws:iam::111122223333:user/carol",
            Value::Null,
        );
        let kept = action.plan(&t, &json!({}), &observed).unwrap();
        assert_eq!(kept.after["password_removed"], false);
        assert!(
            kept.summary.contains("is left in place"),
            "{}",
            kept.summary
        );
        let left = action.left_in_place(&t, &json!({}), &observed);
        assert!(
            left[0].contains("cannot be undone with the same password"),
            "{left:?}"
        );
        assert!(action.intent(&t, &json!({}), &observed).is_empty());
        let removing = json!({"remove_unused_password": true});
        let removed = action.plan(&t, &removing, &observed).unwrap();
        assert_eq!(removed.after["password_removed"], true);
        assert!(action.left_in_place(&t, &removing, &observed).is_empty());
        assert!(action.intent(&t, &removing, &observed)[0].contains("cannot be undone"));
    }
}
