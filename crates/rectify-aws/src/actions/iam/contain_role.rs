//! `aws.iam.contain-role`: containment of an IAM role whose credentials a
//! threat finding says are misused (GuardDuty findings on a role session's
//! key, such as `UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration
//! .OutsideAWS`, or a rectify detection of a role's trust opened to
//! another account). It attaches the inline policy `rectify-containment`
//! that denies every action on every resource to sessions issued before
//! the moment the change is applied (`DateLessThan aws:TokenIssueTime`),
//! as the IAM console's "Revoke active sessions" does: stolen session
//! credentials stop working, while whatever assumes the role afresh (an
//! instance profile, a Lambda function) gets new sessions that work. The
//! role's other policies and its trust are left as they are; a thief who
//! can still assume the role gets new sessions too (fix the trust policy,
//! or the instance, for that). An inline policy of that name that was
//! there before is kept in the change for the undo, which puts it back (or
//! deletes the containment). Service-linked roles and the roles rectify
//! itself acts as are refused. Its jobs wait for approval by default.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::target::GUARDDUTY_FINDING;
use rectify_model::{Action, ActionError, ActionSpec, Change, ErrorClass, Event, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{iam_client, now_secs};
use crate::actions::event_resources::plain_name;
use crate::actions::{no_change, recorded, tag_map, takes_no_params};
use crate::errors::{code_of, sdk_error_on};
use crate::Aws;

pub const ID: &str = "aws.iam.contain-role";

/// The inline policy the containment attaches.
pub const POLICY_NAME: &str = "rectify-containment";

const ROLE: &str = "AwsIamRole";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Contain an IAM role: an inline policy denying everything to sessions issued before now (aws:TokenIssueTime), as \"Revoke active sessions\" does.",
    controls: &[],
    resource_types: &[ROLE, super::deactivate_access_key::ACCESS_KEY],
    account_wide: false,
    permissions: &[
        "iam:GetRole",
        "iam:GetRolePolicy",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
    ],
    params: &[],
    // check (GetRole, GetRolePolicy), apply (PutRolePolicy), verify
    // (GetRolePolicy); rectify's own identity (sts) not counted.
    calls_per_fix: 4,
    approval_by_default: true,
};

/// The role as `check` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RoleState {
    role: String,
    /// The inline policy `rectify-containment` as it was (its document),
    /// if the role had one: what the undo puts back.
    policy: Option<Value>,
    /// The cut-off of a containment in place (`aws:TokenIssueTime`).
    contained_before: Option<String>,
}

/// What the change writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Containment {
    role: String,
    policy_name: String,
    /// Sessions issued before this are denied: the time the change is
    /// applied, so that sessions issued while the job waited for approval
    /// are revoked too.
    deny_sessions_issued_before: String,
}

/// What the undo writes: the previous inline policy, or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Restore {
    role: String,
    policy: Option<Value>,
}

const AT_APPLY: &str = "the time the change is applied";

/// The containment document: deny all to sessions issued before `cutoff`.
fn containment_document(cutoff: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "RectifyRevokeOlderSessions",
            "Effect": "Deny",
            "Action": ["*"],
            "Resource": ["*"],
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}},
        }],
    })
}

/// The cut-off of `doc` if it is a containment: a statement denying `*` on
/// `*` to sessions issued before a time.
fn containment_cutoff(doc: &Value) -> Option<String> {
    let statements = match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => return None,
    };
    let all = |v: &Value| match v {
        Value::String(s) => s == "*",
        Value::Array(a) => a.iter().any(|x| x == "*"),
        _ => false,
    };
    statements.iter().find_map(|s| {
        let deny_all = s["Effect"] == "Deny" && all(&s["Action"]) && all(&s["Resource"]);
        let cutoff = s["Condition"]["DateLessThan"]["aws:TokenIssueTime"].as_str();
        deny_all.then_some(cutoff).flatten().map(str::to_string)
    })
}

/// IAM returns policy documents URL-encoded (RFC 3986); some emulators
/// return them as they were sent.
fn decode_document(text: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str(text) {
        return Some(v);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    serde_json::from_slice(&out).ok()
}

fn text(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

fn role_arn(partition: &str, account: &str, name: &str) -> Result<String, ActionError> {
    plain_name(name, 64, "+=,.@_-")
        .map(|n| format!("arn:{partition}:iam::{account}:role/{n}"))
        .ok_or_else(|| ActionError::invalid(format!("{ID}: `{name}` is not a role name; refused")))
}

/// The name of the role `target` names (the last segment of its ARN).
fn role_name(target: &Target) -> Result<String, ActionError> {
    let id = target.resource_id.as_str();
    let name = id
        .strip_prefix("arn:")
        .and_then(|rest| rest.splitn(5, ':').nth(4))
        .and_then(|r| r.strip_prefix("role/"))
        .map(|r| r.rsplit('/').next().unwrap_or(r));
    name.filter(|n| plain_name(n, 64, "+=,.@_-").is_some())
        .map(str::to_string)
        .ok_or_else(|| {
            ActionError::invalid(format!(
                "{ID}: resource id `{id}` names no IAM role; refused"
            ))
        })
}

pub struct IamContainRole {
    aws: Arc<Aws>,
}

impl IamContainRole {
    pub fn new(aws: Arc<Aws>) -> Self {
        IamContainRole { aws }
    }

    /// The role's inline policy `rectify-containment` (`GetRolePolicy`).
    async fn read_policy(
        iam: &aws_sdk_iam::Client,
        role: &str,
    ) -> Result<Option<Value>, ActionError> {
        match iam
            .get_role_policy()
            .role_name(role)
            .policy_name(POLICY_NAME)
            .send()
            .await
        {
            Ok(out) => Ok(Some(decode_document(out.policy_document()).ok_or_else(
                || {
                    ActionError::invalid(format!(
                        "inline policy {POLICY_NAME} of role {role} is not a JSON document"
                    ))
                },
            )?)),
            Err(e) if code_of(&e) == Some("NoSuchEntity") => Ok(None),
            Err(e) => Err(sdk_error_on("iam:GetRolePolicy", role, e)),
        }
    }

    async fn write_policy(
        iam: &aws_sdk_iam::Client,
        role: &str,
        doc: Option<&Value>,
    ) -> Result<(), ActionError> {
        match doc {
            Some(doc) => iam
                .put_role_policy()
                .role_name(role)
                .policy_name(POLICY_NAME)
                .policy_document(doc.to_string())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_error_on("iam:PutRolePolicy", role, e)),
            None => match iam
                .delete_role_policy()
                .role_name(role)
                .policy_name(POLICY_NAME)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if code_of(&e) == Some("NoSuchEntity") => Ok(()),
                Err(e) => Err(sdk_error_on("iam:DeleteRolePolicy", role, e)),
            },
        }
    }

    fn observed(
        role: String,
        policy: Option<Value>,
        tags: serde_json::Map<String, Value>,
    ) -> Observed {
        let contained_before = policy.as_ref().and_then(containment_cutoff);
        let state = RoleState {
            role,
            policy,
            contained_before,
        };
        Observed::new(state.contained_before.is_some(), state, tags)
    }
}

#[async_trait]
impl Action for IamContainRole {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    /// A finding's `AwsIamRole`; the role of a session's key (a GuardDuty
    /// finding's `accessKeyDetails` or a finding's `AwsIamAccessKey` of
    /// principal type `AssumedRole`).
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        let detail = &event.body["detail"];
        if event.detail_type == GUARDDUTY_FINDING {
            let region = text(&detail["region"]).unwrap_or(&event.region);
            let account = text(&detail["accountId"]).unwrap_or(&event.account);
            let partition =
                text(&detail["partition"]).unwrap_or(rectify_model::partition_of(region));
            let key = &detail["resource"]["accessKeyDetails"];
            if key["userType"] != "AssumedRole" {
                return Err(ActionError::invalid(format!(
                    "GuardDuty finding {} ({}) is not about a role session (user type {})",
                    text(&detail["type"]).unwrap_or("?"),
                    event.id,
                    text(&key["userType"]).unwrap_or("none")
                )));
            }
            let name = text(&key["userName"]).unwrap_or_default();
            return Ok(Target {
                partition: partition.to_string(),
                ..Target::listed(account, region, ROLE, role_arn(partition, account, name)?)
            });
        }
        let found = Target::from_event(event, SPEC.resource_types).map_err(ActionError::invalid)?;
        if found.resource_type == ROLE {
            role_name(&found)?;
            return Ok(found);
        }
        let details = &found.details["AwsIamAccessKey"];
        if details["PrincipalType"] != "AssumedRole" {
            return Err(ActionError::invalid(format!(
                "{ID}: access key `{}` is not a role session's (principal type {}); refused",
                found.resource_id,
                text(&details["PrincipalType"]).unwrap_or("none")
            )));
        }
        let name = text(&details["PrincipalName"]).unwrap_or_default();
        let arn = role_arn(&found.partition, &found.account, name)?;
        Ok(Target {
            details: Value::Null,
            ..Target::listed(&found.account, &found.region, ROLE, arn)
        })
    }

    /// Reads the role (`GetRole`: path, tags) and its containment policy;
    /// refuses a service-linked role and the roles rectify acts as.
    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let name = role_name(target)?;
        let own = self.aws.own_role_names_in(&target.account).await?;
        if own.contains(&name) {
            return Err(ActionError::invalid(format!(
                "{ID}: role {name} is a role rectify itself acts as in account {}: containing it \
                 would cut rectify off (and its undo with it); refused",
                target.account
            )));
        }
        let iam = iam_client(&self.aws, target).await?;
        let out = iam
            .get_role()
            .role_name(&name)
            .send()
            .await
            .map_err(|e| sdk_error_on("iam:GetRole", &name, e))?;
        let role = out.role().ok_or_else(|| {
            ActionError::new(ErrorClass::NotFound, format!("IAM role {name} not found"))
        })?;
        if role.path().starts_with("/aws-service-role/") {
            return Err(ActionError::invalid(format!(
                "{ID}: role {name} is a service-linked role (path {}): AWS manages it and only \
                 its service assumes it; refused",
                role.path()
            )));
        }
        let tags = tag_map(role.tags().iter().map(|t| (t.key(), t.value())));
        let policy = Self::read_policy(&iam, &name).await?;
        Ok(Self::observed(name, policy, tags))
    }

    /// Reads back the containment policy alone.
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let name = role_name(target)?;
        let iam = iam_client(&self.aws, target).await?;
        let policy = Self::read_policy(&iam, &name).await?;
        Ok(Self::observed(name, policy, Default::default()))
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let state: RoleState = recorded(&observed.state, ID)?;
        if let Some(cutoff) = &state.contained_before {
            return Ok(no_change(
                format!(
                    "role {} is already contained: sessions issued before {cutoff} are denied \
                     (inline policy {POLICY_NAME}); nothing to do",
                    state.role
                ),
                observed,
            ));
        }
        let replaced = match &state.policy {
            Some(_) => format!(
                "; the role's own inline policy named {POLICY_NAME} is replaced, its document \
                 kept for the undo"
            ),
            None => String::new(),
        };
        Ok(Change::new(
            format!(
                "contain role {}: inline policy {POLICY_NAME} denies every action to sessions \
                 issued before {AT_APPLY} (aws:TokenIssueTime), as \"Revoke active sessions\" \
                 does; sessions assumed afterwards work, and connections or calls already \
                 authorised are not undone{replaced}",
                state.role
            ),
            observed.state.clone(),
            Containment {
                role: state.role.clone(),
                policy_name: POLICY_NAME.into(),
                deny_sessions_issued_before: AT_APPLY.into(),
            },
        ))
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
        let want: Containment = recorded(&change.after, ID)?;
        if want.role != role_name(target)? {
            return Err(ActionError::invalid(format!(
                "{ID}: the change is for role {}, not this target's; refused",
                want.role
            )));
        }
        let cutoff = aws_smithy_types::DateTime::from_secs(now_secs())
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default();
        let iam = iam_client(&self.aws, target).await?;
        Self::write_policy(&iam, &want.role, Some(&containment_document(&cutoff))).await
    }

    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        if applied.before == applied.after {
            return Err(ActionError::invalid(format!(
                "{ID}: that job changed nothing (the role was already contained): nothing to undo"
            )));
        }
        let name = role_name(target)?;
        let before: RoleState = recorded(&applied.before, ID)?;
        let current: RoleState = recorded(&now.state, ID)?;
        let Some(cutoff) = current.contained_before.clone() else {
            return Err(crate::actions::changed_since(
                &format!("inline policy {POLICY_NAME} of role {name}"),
                &current.policy.clone().unwrap_or(Value::Null),
                &json!("a containment (deny * to sessions issued before the change)"),
            ));
        };
        let summary = match &before.policy {
            Some(_) => format!(
                "put back role {name}'s own inline policy {POLICY_NAME} as it was before the \
                 containment (sessions issued before {cutoff} work again)"
            ),
            None => format!(
                "delete inline policy {POLICY_NAME} of role {name}: sessions issued before \
                 {cutoff} work again"
            ),
        };
        Ok(Change::new(
            summary,
            now.state.clone(),
            Restore {
                role: name,
                policy: before.policy,
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
        let undo: Restore = recorded(&change.after, ID)?;
        if undo.role != role_name(target)? {
            return Err(ActionError::invalid(format!(
                "{ID}: the undo is for role {}, not this target's; refused",
                undo.role
            )));
        }
        let iam = iam_client(&self.aws, target).await?;
        Self::write_policy(&iam, &undo.role, undo.policy.as_ref()).await
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let undo: Restore = recorded(&change.after, ID)?;
        let now: RoleState = recorded(&self.verify(target, params).await?.state, ID)?;
        Ok(now.policy == undo.policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;

    #[test]
    fn documents_and_names() {
        let doc = containment_document("2026-12-06T08:00:00Z");
        assert_eq!(
            containment_cutoff(&doc).as_deref(),
            Some("2026-12-06T08:00:00Z")
        );
        let allow = json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}});
        assert_eq!(containment_cutoff(&allow), None);
        let encoded = "%7B%22Statement%22%3A%5B%5D%7D";
        assert_eq!(decode_document(encoded), Some(json!({"Statement": []})));
        assert_eq!(decode_document("%7"), None);
        let t = target(
            ROLE,
            "arn:aws:iam::111122223333:role/service/app-role",
            Value::Null,
        );
        assert_eq!(role_name(&t).unwrap(), "app-role");
        let bad = target(ROLE, "arn:aws:iam::111122223333:user/bob", Value::Null);
        assert!(role_name(&bad).is_err());
    }

    #[tokio::test]
    async fn plan_and_undo() {
        let a = IamContainRole::new(Arc::new(
            Aws::new(crate::AwsSettings::new("us-east-1")).await,
        ));
        let t = target(ROLE, "arn:aws:iam::111122223333:role/app", Value::Null);
        let previous = json!({"Version": "2012-10-17", "Statement": []});
        let open =
            IamContainRole::observed("app".into(), Some(previous.clone()), Default::default());
        assert!(!open.compliant);
        let change = a.plan(&t, &json!({}), &open).unwrap();
        assert!(change.summary.contains("replaced"), "{}", change.summary);
        assert_eq!(change.after["deny_sessions_issued_before"], AT_APPLY);
        let contained = IamContainRole::observed(
            "app".into(),
            Some(containment_document("2026-12-06T08:00:00Z")),
            Default::default(),
        );
        assert!(contained.compliant);
        let undo = a.revert_plan(&t, &json!({}), &change, &contained).unwrap();
        assert_eq!(undo.after["policy"], previous);
        assert!(a
            .revert_plan(&t, &json!({}), &change, &open)
            .unwrap_err()
            .message
            .contains("has changed since"));
        let noop = a.plan(&t, &json!({}), &contained).unwrap();
        assert_eq!(noop.before, noop.after);
    }
}
