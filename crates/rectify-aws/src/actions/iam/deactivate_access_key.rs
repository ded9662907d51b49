//! `aws.iam.deactivate-access-key`: containment of one IAM user access key
//! that a threat finding names (GuardDuty IAM findings, which carry the
//! key in `resource.accessKeyDetails` or `Resources[].Details.
//! AwsIamAccessKey`, or a rectify detection of a key created for another
//! user). The key is set `Inactive` (`UpdateAccessKey`), never deleted:
//! whatever signs with it stops working at once, and the undo sets it
//! `Active` again. The plan names the key's last use (when, which service,
//! which region), so the person approving sees whether a workload still
//! signs with it. A key listed in the user's `rectify:keep-access-keys` tag
//! is a reason to wait for a person even when the rule says `auto`.
//! Temporary keys of role sessions (`ASIA...`) and root keys are refused:
//! IAM cannot deactivate them (`aws.iam.contain-role` revokes a role's
//! sessions). Its jobs wait for approval by default.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_iam::types::StatusType;
use rectify_model::target::GUARDDUTY_FINDING;
use rectify_model::{Action, ActionError, ActionSpec, Change, ErrorClass, Event, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{iam_client, now_secs, set_key_status, KEEP_TAG};
use crate::actions::event_resources::plain_name;
use crate::actions::{
    collect_pages, no_change, recorded, tag_map, takes_no_params, unchanged_since,
};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.iam.deactivate-access-key";

/// The ASFF resource type of an access key.
pub(crate) const ACCESS_KEY: &str = "AwsIamAccessKey";

/// How an access key is named as a target's resource id.
const KEY_ID_PREFIX: &str = "AWS::IAM::AccessKey:";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Deactivate (not delete) the IAM user access key a threat finding names (GuardDuty IAM findings, rectify detections).",
    controls: &[],
    resource_types: &[ACCESS_KEY],
    account_wide: false,
    permissions: &[
        "iam:GetAccessKeyLastUsed",
        "iam:GetUser",
        "iam:ListAccessKeys",
        "iam:UpdateAccessKey",
    ],
    params: &[],
    // check (GetAccessKeyLastUsed: the key's user and last use; GetUser:
    // the user's tags; ListAccessKeys: the key's status), apply
    // (UpdateAccessKey), verify (GetAccessKeyLastUsed, ListAccessKeys).
    calls_per_fix: 6,
    approval_by_default: true,
};

/// The key as `check` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct KeyState {
    key: String,
    user: String,
    active: bool,
    created: Option<String>,
    /// When it was last used (`GetAccessKeyLastUsed`), by which service
    /// and in which region.
    last_used: Option<String>,
    last_used_at: Option<i64>,
    last_used_by: Option<String>,
    /// When the check read it (seconds since the epoch), for "N minutes
    /// ago": the same reading plans the same change.
    read_at: i64,
    /// Listed in the user's keep tag.
    kept: bool,
}

/// What the change (and its undo) writes: the key's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct KeyStatus {
    key: String,
    user: String,
    active: bool,
}

/// Whether `id` looks like an access key id (upper-case letters and
/// digits, 16 to 128 characters).
fn well_formed_key(id: &str) -> bool {
    (16..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// The refusal of a key IAM cannot deactivate: a role session's temporary
/// key or the root user's.
fn refuse_kind(key: &str, principal_type: Option<&str>, principal: &str) -> Option<ActionError> {
    let temporary = key.starts_with("ASIA") || principal_type == Some("AssumedRole");
    if temporary {
        return Some(ActionError::invalid(format!(
            "{ID}: access key {key} is a temporary key of a session of role {principal}: \
             IAM cannot deactivate it; contain the role instead (aws.iam.contain-role revokes \
             its sessions); refused"
        )));
    }
    match principal_type {
        Some("Root") => Some(ActionError::invalid(format!(
            "{ID}: access key {key} belongs to the account's root user: only the root user can \
             deactivate it (Security credentials page); refused"
        ))),
        Some(other) if other != "IAMUser" => Some(ActionError::invalid(format!(
            "{ID}: access key {key} belongs to a principal of type {other}, not an IAM user; refused"
        ))),
        _ => None,
    }
}

fn text(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

/// The target of a key: id `AWS::IAM::AccessKey:<key>`, details
/// `{"AwsIamAccessKey": {"AccessKeyId", "PrincipalName", "PrincipalType"}}`
/// as Security Hub shows GuardDuty's.
fn key_target(
    account: &str,
    region: &str,
    partition: &str,
    key: &str,
    user: Option<&str>,
    principal_type: Option<&str>,
) -> Result<Target, ActionError> {
    if !well_formed_key(key) {
        return Err(ActionError::invalid(format!(
            "{ID}: `{key}` is not an access key id; refused"
        )));
    }
    if let Some(refused) = refuse_kind(key, principal_type, user.unwrap_or("?")) {
        return Err(refused);
    }
    let mut details = serde_json::Map::new();
    details.insert("AccessKeyId".into(), Value::String(key.to_string()));
    if let Some(user) = user {
        details.insert("PrincipalName".into(), Value::String(user.to_string()));
    }
    if let Some(kind) = principal_type {
        details.insert("PrincipalType".into(), Value::String(kind.to_string()));
    }
    Ok(Target {
        partition: partition.to_string(),
        details: serde_json::json!({ "AwsIamAccessKey": details }),
        ..Target::listed(account, region, ACCESS_KEY, format!("{KEY_ID_PREFIX}{key}"))
    })
}

/// The key a target names: from its details, else its id.
fn key_of(target: &Target) -> Result<String, ActionError> {
    let from_details = text(&target.details["AwsIamAccessKey"]["AccessKeyId"]);
    let from_id = target
        .resource_id
        .strip_prefix(KEY_ID_PREFIX)
        .or_else(|| target.resource_id.rsplit([':', '/']).next());
    let key = from_details.or(from_id).unwrap_or_default();
    if target.resource_type != ACCESS_KEY || !well_formed_key(key) {
        return Err(ActionError::invalid(format!(
            "{ID}: resource {} `{}` names no access key; refused",
            target.resource_type, target.resource_id
        )));
    }
    let details = &target.details["AwsIamAccessKey"];
    let principal = text(&details["PrincipalName"]).or(text(&details["UserName"]));
    if let Some(refused) = refuse_kind(
        key,
        text(&details["PrincipalType"]),
        principal.unwrap_or("?"),
    ) {
        return Err(refused);
    }
    Ok(key.to_string())
}

pub struct IamDeactivateAccessKey {
    aws: Arc<Aws>,
}

impl IamDeactivateAccessKey {
    pub fn new(aws: Arc<Aws>) -> Self {
        IamDeactivateAccessKey { aws }
    }

    /// The key's user and last use (`GetAccessKeyLastUsed`, which names
    /// the user a key belongs to), then its status (`ListAccessKeys`);
    /// with the user's tags when `with_tags` (`GetUser`).
    async fn observe(&self, target: &Target, with_tags: bool) -> Result<Observed, ActionError> {
        let key = key_of(target)?;
        let iam = iam_client(&self.aws, target).await?;
        let used = iam
            .get_access_key_last_used()
            .access_key_id(&key)
            .send()
            .await
            .map_err(|e| sdk_error_on("iam:GetAccessKeyLastUsed", &key, e))?;
        let user = used
            .user_name()
            .filter(|u| plain_name(u, 64, "+=,.@_-").is_some())
            .ok_or_else(|| {
                ActionError::new(
                    ErrorClass::NotFound,
                    format!(
                        "access key {key} belongs to no IAM user of account {} (a root or \
                         deleted key)",
                        target.account
                    ),
                )
            })?
            .to_string();
        // The finding may name a user; IAM's answer wins, and a mismatch
        // says the finding is about another key.
        let named = text(&target.details["AwsIamAccessKey"]["PrincipalName"]);
        if let Some(named) = named.filter(|n| *n != user) {
            return Err(ActionError::invalid(format!(
                "{ID}: the finding says access key {key} is IAM user {named}'s, IAM says {user}'s; refused"
            )));
        }
        let tags = if with_tags {
            let out = iam
                .get_user()
                .user_name(&user)
                .send()
                .await
                .map_err(|e| sdk_error_on("iam:GetUser", &user, e))?;
            out.user()
                .map(|u| tag_map(u.tags().iter().map(|t| (t.key(), t.value()))))
                .unwrap_or_default()
        } else {
            Default::default()
        };
        let listed = collect_pages(|marker| {
            let request = iam.list_access_keys().user_name(&user).set_marker(marker);
            let user = user.clone();
            async move {
                let out = request
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("iam:ListAccessKeys", &user, e))?;
                let next = out.is_truncated().then(|| out.marker().map(str::to_string));
                Ok((out.access_key_metadata().to_vec(), next.flatten()))
            }
        })
        .await?;
        let meta = listed
            .iter()
            .find(|k| k.access_key_id() == Some(key.as_str()))
            .ok_or_else(|| {
                ActionError::new(
                    ErrorClass::NotFound,
                    format!("access key {key} of IAM user {user} not found (deleted?)"),
                )
            })?;
        let last = used.access_key_last_used();
        let last_date = last.and_then(|l| l.last_used_date());
        let by = last
            .map(|l| (l.service_name(), l.region()))
            .filter(|(s, _)| !s.is_empty() && *s != "N/A")
            .map(|(s, r)| format!("{s} in {r}"));
        let fmt = |d: &aws_smithy_types::DateTime| {
            d.fmt(aws_smithy_types::date_time::Format::DateTime)
                .unwrap_or_default()
        };
        let kept = tags.get(KEEP_TAG).and_then(Value::as_str).is_some_and(|v| {
            v.split(|c: char| c == ',' || c.is_whitespace())
                .any(|k| k == key)
        });
        let state = KeyState {
            active: meta.status() == Some(&StatusType::Active),
            created: meta.create_date().map(fmt),
            last_used: last_date.map(fmt),
            last_used_at: last_date.map(|d| d.secs()),
            last_used_by: by,
            read_at: now_secs(),
            kept,
            key,
            user,
        };
        Ok(Observed::new(!state.active, state, tags))
    }
}

/// The key's last use, for people: `last used 4 minute(s) ago (s3 in
/// us-east-1)`, or `never used`.
fn last_use_text(state: &KeyState) -> String {
    match state.last_used_at {
        None => "never used".to_string(),
        Some(at) => {
            let ago = (state.read_at - at).max(0);
            let when = if ago < 3600 {
                format!("{} minute(s) ago", ago / 60)
            } else if ago < 86_400 {
                format!("{} hour(s) ago", ago / 3600)
            } else {
                format!("{} day(s) ago", ago / 86_400)
            };
            let at = state.last_used.as_deref().unwrap_or("?");
            match &state.last_used_by {
                Some(by) => format!("last used {when} ({at}, {by})"),
                None => format!("last used {when} ({at})"),
            }
        }
    }
}

#[async_trait]
impl Action for IamDeactivateAccessKey {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    /// A GuardDuty finding's `resource.accessKeyDetails`, or a finding's
    /// (Security Hub, rectify detection) `AwsIamAccessKey` resource.
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        let detail = &event.body["detail"];
        if event.detail_type == GUARDDUTY_FINDING {
            let region = text(&detail["region"]).unwrap_or(&event.region);
            let details = &detail["resource"]["accessKeyDetails"];
            let key = text(&details["accessKeyId"]).ok_or_else(|| {
                ActionError::invalid(format!(
                    "GuardDuty finding {} ({}) names no access key",
                    text(&detail["type"]).unwrap_or("?"),
                    event.id
                ))
            })?;
            return key_target(
                text(&detail["accountId"]).unwrap_or(&event.account),
                region,
                text(&detail["partition"]).unwrap_or(rectify_model::partition_of(region)),
                key,
                text(&details["userName"]),
                text(&details["userType"]),
            );
        }
        let found = Target::from_event(event, SPEC.resource_types).map_err(ActionError::invalid)?;
        let key = key_of(&found)?;
        let details = &found.details["AwsIamAccessKey"];
        let user = text(&details["PrincipalName"]).or(text(&details["UserName"]));
        key_target(
            &found.account,
            &found.region,
            &found.partition,
            &key,
            user,
            text(&details["PrincipalType"]),
        )
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        self.observe(target, true).await
    }

    /// Reads back the key's status alone (no tags: the write changed none).
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        self.observe(target, false).await
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let state: KeyState = recorded(&observed.state, ID)?;
        let summary = if state.active {
            format!(
                "deactivate (not delete) access key {} of IAM user {} ({}{}): whatever signs with \
                 it is refused from now on; the undo sets it Active again",
                state.key,
                state.user,
                last_use_text(&state),
                state
                    .created
                    .as_deref()
                    .map(|c| format!(", created {c}"))
                    .unwrap_or_default()
            )
        } else {
            format!(
                "access key {} of IAM user {} is already inactive ({}): nothing to do",
                state.key,
                state.user,
                last_use_text(&state)
            )
        };
        let after = KeyStatus {
            key: state.key.clone(),
            user: state.user.clone(),
            active: false,
        };
        // Nothing to write: `after` is what was read.
        if !state.active {
            return Ok(no_change(summary, observed));
        }
        Ok(Change::new(summary, observed.state.clone(), after))
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
        let want: KeyStatus = recorded(&change.after, ID)?;
        let iam = iam_client(&self.aws, target).await?;
        set_key_status(&iam, &want.user, &[want.key], want.active).await
    }

    /// A key a person listed in the keep tag was kept active on purpose:
    /// a person decides.
    fn intent(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        let Ok(state) = recorded::<KeyState>(&observed.state, ID) else {
            return Vec::new();
        };
        if !(state.active && state.kept) {
            return Vec::new();
        }
        vec![format!(
            "access key {} of IAM user {} is listed in the user's tag {KEEP_TAG} (kept active on \
             purpose; {}): approve to deactivate it anyway",
            state.key,
            state.user,
            last_use_text(&state)
        )]
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
                "{ID}: that job changed nothing (the key was already inactive): nothing to undo"
            )));
        }
        let left: KeyStatus = recorded(&applied.after, ID)?;
        let current: KeyState = recorded(&now.state, ID)?;
        unchanged_since(
            || format!("the status of access key {} (Active)", left.key),
            &current.active,
            &left.active,
        )?;
        Ok(Change::new(
            format!(
                "set access key {} of IAM user {} Active again",
                left.key, left.user
            ),
            now.state.clone(),
            KeyStatus {
                active: true,
                ..left
            },
        ))
    }

    crate::actions::revert_by_apply!();

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let want: KeyStatus = recorded(&change.after, ID)?;
        let now: KeyState = recorded(&self.verify(target, params).await?.state, ID)?;
        Ok(now.active == want.active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(detail_type: &str, source: &str, detail: Value) -> Event {
        let body = json!({"version": "0", "id": "e-1", "detail-type": detail_type,
            "source": source, "account": "111122223333", "time": "2026-12-02T10:00:00Z",
            "region": "eu-west-1", "resources": [], "detail": detail});
        Event {
            id: "e-1".into(),
            source: source.into(),
            detail_type: detail_type.into(),
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            time: "2026-12-02T10:00:00Z".into(),
            resources: Vec::new(),
            body,
            parsed: Default::default(),
        }
    }

    async fn action() -> IamDeactivateAccessKey {
        IamDeactivateAccessKey::new(Arc::new(
            Aws::new(crate::AwsSettings::new("us-east-1")).await,
        ))
    }

    #[tokio::test]
    async fn targets_from_guardduty_and_asff_and_refusals() {
        let a = action().await;
        let gd = |key: &str, kind: &str| {
            event(
                GUARDDUTY_FINDING,
                "aws.guardduty",
                json!({"accountId": "111122223333", "region": "eu-west-1",
                   "type": "CredentialAccess:IAMUser/AnomalousBehavior",
                   "resource": {"resourceType": "AccessKey", "accessKeyDetails": {
                       "accessKeyId": key, "userName": "build-bot", "userType": kind,
                       "principalId": "AIDAEXAMPLE"}}}),
            )
        };
        let t = a.target(&gd("AKIAIOSFODNN7EXAMPLE", "IAMUser")).unwrap();
        assert_eq!(t.resource_id, "AWS::IAM::AccessKey:AKIAIOSFODNN7EXAMPLE");
        assert_eq!(key_of(&t).unwrap(), "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(
            t.details["AwsIamAccessKey"]["PrincipalName"],
            json!("build-bot")
        );
        let role = a
            .target(&gd("ASIAIOSFODNN7EXAMPLE", "AssumedRole"))
            .unwrap_err();
        assert!(role.message.contains("aws.iam.contain-role"), "{role:?}");
        let root = a.target(&gd("AKIAIOSFODNN7EXAMPLE", "Root")).unwrap_err();
        assert!(root.message.contains("root user"), "{root:?}");
        assert!(a.target(&gd("akia-bad", "IAMUser")).is_err());
        let asff = event(
            "Security Hub Findings - Imported",
            "aws.securityhub",
            json!({"findings": [{"Id": "f-1", "AwsAccountId": "111122223333",
                "ProductArn": "arn:aws:securityhub:eu-west-1::product/aws/guardduty",
                "Region": "eu-west-1", "Resources": [{"Type": "AwsIamAccessKey",
                "Id": "AWS::IAM::AccessKey:AKIAIOSFODNN7EXAMPLE", "Partition": "aws",
                "Region": "eu-west-1", "Details": {"AwsIamAccessKey": {
                    "PrincipalName": "build-bot", "PrincipalType": "IAMUser"}}}]}]}),
        );
        let t = a.target(&asff).unwrap();
        assert_eq!(key_of(&t).unwrap(), "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(t.region, "eu-west-1");
    }

    #[tokio::test]
    async fn plan_names_the_last_use_and_the_undo_reactivates() {
        let a = action().await;
        let t = key_target(
            "111122223333",
            "us-east-1",
            "aws",
            "AKIAIOSFODNN7EXAMPLE",
            None,
            None,
        )
        .unwrap();
        let state = |active: bool| KeyState {
            key: "AKIAIOSFODNN7EXAMPLE".into(),
            user: "build-bot".into(),
            active,
            created: Some("2026-01-01T00:00:00Z".into()),
            last_used: Some("2026-12-02T09:55:00Z".into()),
            last_used_at: Some(1_800_000_000 - 300),
            last_used_by: Some("s3 in us-east-1".into()),
            read_at: 1_800_000_000,
            kept: true,
        };
        let observed = |active: bool| Observed::new(!active, state(active), Default::default());
        let change = a.plan(&t, &json!({}), &observed(true)).unwrap();
        assert!(
            change
                .summary
                .contains("last used 5 minute(s) ago (2026-12-02T09:55:00Z, s3 in us-east-1)"),
            "{}",
            change.summary
        );
        assert_eq!(
            change.after,
            json!({"key": "AKIAIOSFODNN7EXAMPLE", "user": "build-bot", "active": false})
        );
        assert_eq!(a.intent(&t, &json!({}), &observed(true)).len(), 1);
        let noop = a.plan(&t, &json!({}), &observed(false)).unwrap();
        assert_eq!(noop.before, noop.after);
        let undo = a
            .revert_plan(&t, &json!({}), &change, &observed(false))
            .unwrap();
        assert_eq!(undo.after["active"], json!(true));
        assert!(a
            .revert_plan(&t, &json!({}), &change, &observed(true))
            .unwrap_err()
            .message
            .contains("has changed since"));
        assert!(a.validate_params(&json!({"x": 1})).is_err());
    }
}
