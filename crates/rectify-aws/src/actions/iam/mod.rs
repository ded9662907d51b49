//! IAM remediation actions, one file each, and what the actions on a
//! user's credentials share: the user a target names, its access keys with
//! their last use, the keys kept on purpose, and the writes that
//! deactivate keys and re-activate exactly those.

use std::sync::Arc;

use aws_sdk_iam::types::StatusType;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use rectify_model::{Action, ActionError, Change, Event, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::actions::event_resources::{bad_id, plain_name, target_of};
use crate::actions::{changed_since, collect_pages, recorded, tag_map};
use crate::errors::sdk_error_on;
use crate::Aws;

pub mod contain_role;
pub mod deactivate_access_key;
pub mod deactivate_old_access_keys;
pub mod remove_unused_credentials;
pub mod set_password_policy;

/// This service's actions, in catalog order.
pub fn catalog(aws: &Arc<Aws>) -> Vec<Arc<dyn Action>> {
    vec![
        Arc::new(set_password_policy::IamSetPasswordPolicy::new(aws.clone())),
        Arc::new(deactivate_old_access_keys::IamDeactivateOldAccessKeys::new(
            aws.clone(),
        )),
        Arc::new(remove_unused_credentials::IamRemoveUnusedCredentials::new(
            aws.clone(),
        )),
        Arc::new(deactivate_access_key::IamDeactivateAccessKey::new(
            aws.clone(),
        )),
        Arc::new(contain_role::IamContainRole::new(aws.clone())),
    ]
}

/// The user tag whose value lists access key ids (separated by spaces or
/// commas) that stay active on purpose: reported, never deactivated.
pub(crate) const KEEP_TAG: &str = "rectify:keep-access-keys";

/// A key used this recently is still in use: deactivating it breaks what
/// uses it, so the job waits for a person.
pub(crate) const RECENT_USE_DAYS: i64 = 30;

const DAY: i64 = 86_400;

/// The IAM user of a finding (`AwsIamUser`, its ARN), of a CloudTrail call
/// on a user's keys or login profile (`requestParameters.userName`, else
/// the calling user's own) or of a Config evaluation (`AWS::IAM::User`,
/// whose resource id is the user's id, `AIDA...`).
pub(crate) fn user_target(event: &Event, types: &[&str]) -> Result<Target, ActionError> {
    let arn = |p: &crate::actions::event_resources::Place, name: &str| {
        plain_name(name, 64, "+=,.@_-")
            .map(|n| format!("arn:{}:iam::{}:user/{n}", p.partition, p.account))
    };
    target_of(
        event,
        types,
        "AwsIamUser",
        |p, detail| {
            let named = detail["requestParameters"]["userName"].as_str();
            let own = (detail["userIdentity"]["type"] == "IAMUser")
                .then(|| detail["userIdentity"]["userName"].as_str())
                .flatten();
            arn(p, named.or(own)?)
        },
        "AWS::IAM::User",
        |_, id| plain_name(id, 128, "").map(str::to_string),
    )
}

pub(crate) async fn iam_client(
    aws: &Aws,
    target: &Target,
) -> Result<aws_sdk_iam::Client, ActionError> {
    crate::actions::client_for(aws, target, aws_sdk_iam::Client::new).await
}

/// The name of the user `target` names: the last segment of its ARN, or
/// (a Config evaluation) the user whose id it is, found by listing.
pub(crate) async fn user_name(
    iam: &aws_sdk_iam::Client,
    action: &str,
    target: &Target,
) -> Result<String, ActionError> {
    let id = target.resource_id.as_str();
    if !id.starts_with("arn:") {
        // A user id (`AIDA...`), as AWS Config names users.
        if plain_name(id, 128, "").is_none() {
            return Err(bad_id(action, "IAM user", target));
        }
        let users = list_users(iam).await?;
        return users
            .into_iter()
            .find(|u| u.user_id == id)
            .map(|u| u.user_name)
            .ok_or_else(|| {
                ActionError::new(
                    rectify_model::ErrorClass::NotFound,
                    format!("no IAM user with id {id} in account {}", target.account),
                )
            });
    }
    if !id.contains(":user/") {
        return Err(bad_id(action, "IAM user", target));
    }
    plain_name(target.resource_name(), 64, "+=,.@_-")
        .map(str::to_string)
        .ok_or_else(|| bad_id(action, "IAM user", target))
}

/// The account's users (`ListUsers`, every page).
pub(crate) async fn list_users(
    iam: &aws_sdk_iam::Client,
) -> Result<Vec<aws_sdk_iam::types::User>, ActionError> {
    collect_pages(|marker| {
        let request = iam.list_users().set_marker(marker);
        async move {
            let out = request
                .send()
                .await
                .map_err(|e| sdk_error_on("iam:ListUsers", "the account's users", e))?;
            let next = out.is_truncated().then(|| out.marker().map(str::to_string));
            Ok((out.users().to_vec(), next.flatten()))
        }
    })
    .await
}

/// Every user of the account, as targets (IAM is global: `region` is the
/// one asked).
pub(crate) async fn user_targets(
    aws: &Aws,
    account: &str,
    region: &str,
) -> Result<Vec<Target>, ActionError> {
    let config = aws.config_for(account, region).await?;
    let iam = aws_sdk_iam::Client::new(&config);
    Ok(list_users(&iam)
        .await?
        .into_iter()
        .map(|u| Target::listed(account, region, "AwsIamUser", u.arn))
        .collect())
}

/// [`user_targets`] within a scan: one `ListUsers` per account for every
/// user action of the scan.
pub(crate) async fn user_targets_in_scan(
    aws: &Aws,
    reads: &rectify_model::ScanReads,
    account: &str,
    region: &str,
) -> Result<Vec<Target>, ActionError> {
    let arns = reads
        .once(&format!("iam:ListUsers/{account}"), || async {
            let config = aws.config_for(account, region).await?;
            let iam = aws_sdk_iam::Client::new(&config);
            reads
                .call("iam", "global", || async {
                    Ok(list_users(&iam)
                        .await?
                        .into_iter()
                        .map(|u| u.arn)
                        .collect::<Vec<String>>())
                })
                .await
        })
        .await?;
    Ok(arns
        .iter()
        .map(|arn| Target::listed(account, region, "AwsIamUser", arn.clone()))
        .collect())
}

/// What makes an active access key out of compliance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Staleness {
    /// Created `days` days ago or more (IAM.3).
    Age,
    /// Not used for `days` days or more, counted from its creation when
    /// never used (IAM.8, IAM.22); with `password`, the console password
    /// too.
    Unused { password: bool },
}

/// Whether the credential report's `row` shows the user within `days`
/// by `measure` at `now`. The report is made at the scan's start, and a
/// key's creation or last use can only be newer than it says, so a user
/// the report shows within the limit is within it. What it cannot show
/// (a password never used, whose creation the report does not give; 0
/// days, where a key made since the report would count) is never judged
/// from it.
pub(crate) fn within_by_report(
    row: &crate::checks::reads::CredentialRow,
    now: i64,
    days: i64,
    measure: Staleness,
) -> bool {
    if days == 0 {
        return false;
    }
    let recent = |t: Option<i64>| t.is_some_and(|t| !older_than(t, now, days));
    let keys = row.keys.iter().all(|(active, created, used)| {
        !active
            || match measure {
                Staleness::Age => recent(*created),
                Staleness::Unused { .. } => recent(used.or(*created)),
            }
    });
    let password = match measure {
        Staleness::Unused { password: true } => {
            !row.password_enabled || recent(row.password_last_used)
        }
        _ => true,
    };
    keys && password
}

/// A user judged in a scan from the credential report (one report per
/// account and scan, shared with the posture checks) when it shows the
/// user within the limit: compliant, the keys named as the report names
/// them (`access_key_1`, `access_key_2`: it carries no key ids) and no
/// tags read. `None`: the report does not settle it (a user it does not
/// list, a key or password past the limit, which the keep tag may still
/// excuse): the caller reads the user as its check does.
pub(crate) async fn judged_by_report(
    aws: &Aws,
    reads: &rectify_model::ScanReads,
    target: &Target,
    days: i64,
    measure: Staleness,
) -> Result<Option<rectify_model::Observed>, ActionError> {
    let report =
        crate::checks::reads::credential_report(aws, reads, &target.account, &target.region)
            .await?;
    let Some(row) = report.iter().find(|r| r.arn == target.resource_id) else {
        return Ok(None);
    };
    let now = now_secs();
    if !within_by_report(row, now, days, measure) {
        return Ok(None);
    }
    let time = |t: Option<i64>| {
        t.and_then(|t| DateTime::from_secs(t).fmt(Format::DateTime).ok())
            .unwrap_or_default()
    };
    let keys = row
        .keys
        .iter()
        .enumerate()
        .filter(|(_, (active, created, _))| *active || created.is_some())
        .map(|(n, (active, created, used))| AccessKey {
            id: format!("access_key_{}", n + 1),
            active: *active,
            created: time(*created),
            created_at: created.unwrap_or_default(),
            last_used: used.map(|t| time(Some(t))),
            last_used_at: *used,
            last_used_by: None,
            kept: false,
            stale: false,
        })
        .collect();
    let password = match measure {
        Staleness::Unused { .. } if row.password_enabled => Some(Password {
            created: String::new(),
            created_at: 0,
            last_used: row.password_last_used.map(|t| time(Some(t))),
            last_used_at: row.password_last_used,
            stale: false,
        }),
        _ => None,
    };
    let state = UserCredentials {
        user: row.user.clone(),
        read_at: now,
        keys,
        password,
    };
    Ok(Some(rectify_model::Observed::new(
        true,
        state,
        Default::default(),
    )))
}

/// The inventory of a user action: how many users the target's account
/// has.
pub(crate) async fn user_count(aws: &Aws, target: &Target) -> Result<Option<u64>, ActionError> {
    let iam = iam_client(aws, target).await?;
    Ok(Some(list_users(&iam).await?.len() as u64))
}

/// Whole days from `then` to `now` (seconds since the epoch).
pub(crate) fn days_between(then: i64, now: i64) -> i64 {
    (now - then).max(0) / DAY
}

/// Whether `days` days or more passed from `then` to `now` (0: always).
pub(crate) fn older_than(then: i64, now: i64, days: i64) -> bool {
    now - then >= days * DAY
}

pub(crate) use rectify_model::now_epoch_seconds as now_secs;

fn date_text(t: &DateTime) -> String {
    t.fmt(Format::DateTime).unwrap_or_default()
}

/// One access key as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AccessKey {
    pub id: String,
    pub active: bool,
    pub created: String,
    /// Seconds since the epoch, for the age.
    pub created_at: i64,
    /// When it was last used (`GetAccessKeyLastUsed`), and where.
    pub last_used: Option<String>,
    pub last_used_at: Option<i64>,
    pub last_used_by: Option<String>,
    /// Listed in the user's keep tag: stays active.
    pub kept: bool,
    /// Out of compliance by the action's measure (age, or time unused).
    pub stale: bool,
}

impl AccessKey {
    /// The last use, else the creation: what "unused for" counts from.
    pub fn last_activity(&self) -> i64 {
        self.last_used_at.unwrap_or(self.created_at)
    }

    pub fn used_within(&self, now: i64, days: i64) -> bool {
        self.last_used_at.is_some_and(|t| !older_than(t, now, days))
    }

    pub fn use_text(&self, now: i64) -> String {
        match (&self.last_used_at, &self.last_used_by) {
            (Some(t), Some(by)) => {
                format!("last used {} day(s) ago ({by})", days_between(*t, now))
            }
            (Some(t), None) => format!("last used {} day(s) ago", days_between(*t, now)),
            (None, _) => "never used".to_string(),
        }
    }
}

/// A user's credentials as a check reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UserCredentials {
    pub user: String,
    /// When `check` read it (seconds since the epoch): ages are counted
    /// from it, so a plan is the same for the same reading.
    pub read_at: i64,
    pub keys: Vec<AccessKey>,
    /// The console password, for the actions that read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Password>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Password {
    pub created: String,
    pub created_at: i64,
    pub last_used: Option<String>,
    pub last_used_at: Option<i64>,
    pub stale: bool,
}

impl UserCredentials {
    pub fn stale_keys(&self) -> impl Iterator<Item = &AccessKey> {
        self.keys.iter().filter(|k| k.active && k.stale)
    }
}

/// The key ids the user's keep tag lists.
fn kept_ids(tags: &serde_json::Map<String, Value>) -> Vec<String> {
    tags.get(KEEP_TAG)
        .and_then(Value::as_str)
        .map(|v| {
            v.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The user's tags and last console sign-in (`GetUser`).
pub(crate) async fn get_user(
    iam: &aws_sdk_iam::Client,
    user: &str,
) -> Result<(serde_json::Map<String, Value>, Option<DateTime>), ActionError> {
    let out = iam
        .get_user()
        .user_name(user)
        .send()
        .await
        .map_err(|e| sdk_error_on("iam:GetUser", user, e))?;
    let u = out.user().ok_or_else(|| {
        ActionError::new(
            rectify_model::ErrorClass::NotFound,
            format!("IAM user {user} not found"),
        )
    })?;
    let tags = tag_map(u.tags().iter().map(|t| (t.key(), t.value())));
    Ok((tags, u.password_last_used().copied()))
}

/// Which keys' last use `access_keys` reads (`GetAccessKeyLastUsed`, one
/// call per key): a read-back reads only what decides compliance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LastUse {
    /// Every key's (a check: ages, intent).
    Every,
    /// The active keys' (an inactive key cannot be out of compliance).
    Active,
    /// None (compliance by the keys' ages).
    Never,
}

/// The user's access keys (`ListAccessKeys`) with their last use as
/// `last_use` says; `stale` left false.
pub(crate) async fn access_keys(
    iam: &aws_sdk_iam::Client,
    user: &str,
    tags: &serde_json::Map<String, Value>,
    last_use: LastUse,
) -> Result<Vec<AccessKey>, ActionError> {
    let listed = collect_pages(|marker| {
        let request = iam.list_access_keys().user_name(user).set_marker(marker);
        async move {
            let out = request
                .send()
                .await
                .map_err(|e| sdk_error_on("iam:ListAccessKeys", user, e))?;
            let next = out.is_truncated().then(|| out.marker().map(str::to_string));
            Ok((out.access_key_metadata().to_vec(), next.flatten()))
        }
    })
    .await?;
    let kept = kept_ids(tags);
    let mut keys = Vec::new();
    for k in listed {
        let Some(id) = k.access_key_id().map(str::to_string) else {
            continue;
        };
        let active = k.status() == Some(&StatusType::Active);
        let read = match last_use {
            LastUse::Every => true,
            LastUse::Active => active,
            LastUse::Never => false,
        };
        let used = match read {
            true => Some(
                iam.get_access_key_last_used()
                    .access_key_id(&id)
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("iam:GetAccessKeyLastUsed", &id, e))?,
            ),
            false => None,
        };
        let last = used.as_ref().and_then(|u| u.access_key_last_used());
        let last_date = last.and_then(|l| l.last_used_date());
        let by = last
            .map(|l| (l.service_name(), l.region()))
            .filter(|(s, _)| !s.is_empty() && *s != "N/A")
            .map(|(s, r)| format!("{s} in {r}"));
        let created = k.create_date();
        keys.push(AccessKey {
            kept: kept.contains(&id),
            id,
            active,
            created: created.map(date_text).unwrap_or_default(),
            created_at: created.map(|d| d.secs()).unwrap_or_default(),
            last_used: last_date.map(date_text),
            last_used_at: last_date.map(|d| d.secs()),
            last_used_by: by,
            stale: false,
        });
    }
    keys.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(keys)
}

/// The user's console password (`GetLoginProfile`), with its last use;
/// `stale` left false. `None`: the user has no password.
pub(crate) async fn password(
    iam: &aws_sdk_iam::Client,
    user: &str,
    last_used: Option<DateTime>,
) -> Result<Option<Password>, ActionError> {
    let out = match iam.get_login_profile().user_name(user).send().await {
        Ok(out) => out,
        Err(e) if crate::errors::code_of(&e) == Some("NoSuchEntity") => return Ok(None),
        Err(e) => return Err(sdk_error_on("iam:GetLoginProfile", user, e)),
    };
    let created = out.login_profile().map(|p| *p.create_date());
    Ok(Some(Password {
        created: created.as_ref().map(date_text).unwrap_or_default(),
        created_at: created.map(|d| d.secs()).unwrap_or_default(),
        last_used: last_used.as_ref().map(date_text),
        last_used_at: last_used.map(|d| d.secs()),
        stale: false,
    }))
}

/// Sets each key of `keys` Active or Inactive (`UpdateAccessKey`).
pub(crate) async fn set_key_status(
    iam: &aws_sdk_iam::Client,
    user: &str,
    keys: &[String],
    active: bool,
) -> Result<(), ActionError> {
    let status = if active {
        StatusType::Active
    } else {
        StatusType::Inactive
    };
    for key in keys {
        iam.update_access_key()
            .user_name(user)
            .access_key_id(key)
            .status(status.clone())
            .send()
            .await
            .map_err(|e| sdk_error_on("iam:UpdateAccessKey", key, e))?;
    }
    Ok(())
}

/// What a change to a user's credentials does: the keys it deactivates,
/// and whether it removes the console password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Deactivation {
    pub user: String,
    pub deactivated: Vec<String>,
    #[serde(default)]
    pub password_removed: bool,
}

/// What an undo does: the keys it makes active again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Reactivation {
    pub user: String,
    pub reactivated: Vec<String>,
}

/// The undo of `applied`: re-activate exactly the keys it deactivated,
/// refused when any of them is no longer inactive (or gone). A removed
/// password cannot be restored (the old one is unknown): said so.
pub(crate) fn reactivation_plan(
    action: &str,
    applied: &Change,
    now: &rectify_model::Observed,
) -> Result<Change, ActionError> {
    let done: Deactivation = recorded(&applied.after, action)?;
    let current: UserCredentials = recorded(&now.state, action)?;
    let status_now: Vec<Value> = done
        .deactivated
        .iter()
        .map(|id| {
            let status = match current.keys.iter().find(|k| &k.id == id) {
                Some(k) if k.active => "Active",
                Some(_) => "Inactive",
                None => "deleted",
            };
            json!({"key": id, "status": status})
        })
        .collect();
    let left: Vec<Value> = done
        .deactivated
        .iter()
        .map(|id| json!({"key": id, "status": "Inactive"}))
        .collect();
    if status_now != left {
        return Err(changed_since(
            &format!("the access keys of IAM user {}", done.user),
            &Value::Array(status_now),
            &Value::Array(left),
        ));
    }
    let mut summary = if done.deactivated.is_empty() {
        format!("no access key of IAM user {} to re-activate", done.user)
    } else {
        format!(
            "re-activate access key(s) {} of IAM user {}",
            done.deactivated.join(", "),
            done.user
        )
    };
    if done.password_removed {
        summary.push_str(
            "; the console password it removed cannot be restored (AWS keeps no copy): \
             give the user a new one (CreateLoginProfile) if they still need the console",
        );
    }
    Ok(Change {
        summary,
        before: applied.after.clone(),
        after: serde_json::to_value(Reactivation {
            user: done.user,
            reactivated: done.deactivated,
        })
        .expect("plain struct"),
    })
}

/// Whether every key `change` re-activates is active now.
pub(crate) fn reactivated(
    action: &str,
    change: &Change,
    now: &rectify_model::Observed,
) -> Result<bool, ActionError> {
    let want: Reactivation = recorded(&change.after, action)?;
    let current: UserCredentials = recorded(&now.state, action)?;
    Ok(want
        .reactivated
        .iter()
        .all(|id| current.keys.iter().any(|k| &k.id == id && k.active)))
}

/// Keys of a user in a reason: `AKIA... (created ..., last used ...)`.
pub(crate) fn key_list<'a>(keys: impl Iterator<Item = &'a AccessKey>, now: i64) -> String {
    keys.map(|k| {
        format!(
            "{} (created {} day(s) ago, {})",
            k.id,
            days_between(k.created_at, now),
            k.use_text(now)
        )
    })
    .collect::<Vec<_>>()
    .join(", ")
}

/// The reasons of intent shared by the key actions: stale keys used in the
/// last [`RECENT_USE_DAYS`] days are still in use.
pub(crate) fn recently_used(state: &UserCredentials) -> Vec<String> {
    state
        .stale_keys()
        .filter(|k| !k.kept && k.used_within(state.read_at, RECENT_USE_DAYS))
        .map(|k| {
            format!(
                "access key {} of IAM user {} was {}: something still signs requests with it and \
                 fails once it is inactive; rotate it first (a new key in that place), or approve \
                 to deactivate it anyway (the undo re-activates it)",
                k.id,
                state.user,
                k.use_text(state.read_at)
            )
        })
        .collect()
}

/// The keys kept active on purpose (listed in the keep tag), as reasons.
pub(crate) fn kept_reasons(state: &UserCredentials, what: &str) -> Vec<String> {
    state
        .stale_keys()
        .filter(|k| k.kept)
        .map(|k| {
            format!(
                "access key {} of IAM user {} is {what} and stays active: the user's tag {KEEP_TAG} \
                 lists it; remove it from the tag to let rectify deactivate it",
                k.id, state.user
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::reads::CredentialRow;

    #[test]
    fn the_report_settles_only_users_within_the_limit() {
        let now = 1_000 * DAY;
        let days_ago = |d: i64| Some(now - d * DAY);
        let row = |keys: [(bool, Option<i64>, Option<i64>); 2]| CredentialRow {
            user: "u".into(),
            keys,
            ..Default::default()
        };
        let unused = Staleness::Unused { password: false };
        // No key: within either way.
        let none = row([(false, None, None), (false, None, None)]);
        assert!(within_by_report(&none, now, 90, Staleness::Age));
        assert!(within_by_report(&none, now, 90, unused));
        // 0 days: never settled (a key made since would count).
        assert!(!within_by_report(&none, now, 0, Staleness::Age));
        // A key made 100 days ago, used yesterday: old, not unused.
        let used = row([(true, days_ago(100), days_ago(1)), (false, None, None)]);
        assert!(!within_by_report(&used, now, 90, Staleness::Age));
        assert!(within_by_report(&used, now, 90, unused));
        // Never used, made 89 days ago: within 90 both ways; 90 days: not.
        let new = row([(false, days_ago(400), None), (true, days_ago(89), None)]);
        assert!(within_by_report(&new, now, 90, Staleness::Age));
        assert!(within_by_report(&new, now, 90, unused));
        let at_limit = row([(true, days_ago(90), None), (false, None, None)]);
        assert!(!within_by_report(&at_limit, now, 90, Staleness::Age));
        assert!(!within_by_report(&at_limit, now, 90, unused));
        // An inactive old key does not count; an active one without a
        // date is not settled.
        let inactive = row([(false, days_ago(500), days_ago(500)), (false, None, None)]);
        assert!(within_by_report(&inactive, now, 90, Staleness::Age));
        let undated = row([(true, None, None), (false, None, None)]);
        assert!(!within_by_report(&undated, now, 90, unused));
        // The password counts only when the params remove it, and only a
        // recent use settles it (the report has no creation date for it).
        let mut pw = none.clone();
        pw.password_enabled = true;
        assert!(within_by_report(&pw, now, 90, unused));
        let removing = Staleness::Unused { password: true };
        assert!(!within_by_report(&pw, now, 90, removing));
        pw.password_last_used = days_ago(10);
        assert!(within_by_report(&pw, now, 90, removing));
        pw.password_last_used = days_ago(95);
        assert!(!within_by_report(&pw, now, 90, removing));
    }

    #[test]
    fn days_and_kept_keys() {
        assert_eq!(days_between(0, 3 * DAY + 5), 3);
        assert!(older_than(0, DAY, 1));
        assert!(!older_than(0, DAY - 1, 1));
        assert!(older_than(5, 5, 0));
        let tags = tag_map([(KEEP_TAG, "AKIA1, AKIA2 AKIA3")]);
        assert_eq!(kept_ids(&tags), ["AKIA1", "AKIA2", "AKIA3"]);
        assert!(kept_ids(&Default::default()).is_empty());
    }

    #[test]
    fn the_undo_reactivates_exactly_what_was_deactivated() {
        let applied = Change {
            summary: String::new(),
            before: Value::Null,
            after: json!({"user": "bob", "deactivated": ["AKIA1"], "password_removed": true}),
        };
        let key = |id: &str, active: bool| AccessKey {
            id: id.into(),
            active,
            created: String::new(),
            created_at: 0,
            last_used: None,
            last_used_at: None,
            last_used_by: None,
            kept: false,
            stale: false,
        };
        let observed = |keys: Vec<AccessKey>| rectify_model::Observed {
            compliant: true,
            state: serde_json::to_value(UserCredentials {
                user: "bob".into(),
                read_at: 0,
                keys,
                password: None,
            })
            .unwrap(),
            tags: Default::default(),
        };
        let now = observed(vec![key("AKIA1", false), key("AKIA2", true)]);
        let undo = reactivation_plan("a", &applied, &now).unwrap();
        assert_eq!(undo.after, json!({"user": "bob", "reactivated": ["AKIA1"]}));
        assert!(
            undo.summary.contains("cannot be restored"),
            "{}",
            undo.summary
        );
        let since = observed(vec![key("AKIA1", true)]);
        assert!(reactivation_plan("a", &applied, &since)
            .unwrap_err()
            .message
            .contains("has changed since"));
        let gone = observed(vec![]);
        assert!(reactivation_plan("a", &applied, &gone).is_err());
        assert!(reactivated("a", &undo, &since).unwrap());
        assert!(!reactivated("a", &undo, &now).unwrap());
    }
}
