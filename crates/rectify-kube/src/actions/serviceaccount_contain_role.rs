//! `kube.serviceaccount.contain-role`: revokes the AWS permissions of a
//! service account a finding says is compromised (a GuardDuty EKS or
//! Runtime finding about a workload, or a call made as
//! `system:serviceaccount:NS:NAME`). It reads the IAM role the service
//! account's `eks.amazonaws.com/role-arn` annotation names (IAM roles for
//! service accounts) and contains that role exactly as
//! `aws.iam.contain-role` does, through that action: an inline policy
//! denying everything to sessions issued before the change is applied
//! (`aws:TokenIssueTime`), the role's previous inline policy of that name
//! kept for the undo. Pods that assume the role afresh get working
//! sessions again (fix the workload, or remove the annotation, for that);
//! the credentials a thief took from the pod stop working.
//!
//! Not read: EKS Pod Identity associations (a role given to the service
//! account through the EKS API rather than an annotation). The service
//! account itself is not changed. Its jobs wait for approval by default.

use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::ServiceAccount;
use rectify_aws::actions::iam::contain_role::IamContainRole;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{allows_kube_system, gone, object_and_client, recorded, RbacRule};
use crate::client::path_of;
use crate::target::{KubeRef, SERVICE_ACCOUNT};
use crate::Kube;

pub const ID: &str = "kube.serviceaccount.contain-role";

/// The annotation of IAM roles for service accounts (IRSA).
pub const ROLE_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

pub const RBAC: &[RbacRule] = &[RbacRule {
    api_group: "",
    resource: "serviceaccounts",
    verbs: &["get"],
}];

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Contains the IAM role a service account runs as (its eks.amazonaws.com/role-arn annotation) as aws.iam.contain-role does: sessions issued before now are denied (aws:TokenIssueTime). Undo puts the role's policy back.",
    controls: &[],
    resource_types: &[SERVICE_ACCOUNT],
    // IAM: the EKS token, then what aws.iam.contain-role calls on the role.
    // The Kubernetes RBAC is `RBAC` (`rectify kube-rbac`).
    permissions: &[
        "eks:DescribeCluster",
        "iam:GetRole",
        "iam:GetRolePolicy",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
    ],
    account_wide: false,
    params: &[ParamSpec {
        name: super::ALLOW_KUBE_SYSTEM,
        kind: "boolean",
        default: "false",
        doc: "act on service accounts in kube-system too",
    }],
    // get the service account, then contain-role's four.
    calls_per_fix: 5,
    approval_by_default: true,
};

/// The service account and its role, as `check` reads them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    /// `namespace/name`.
    pub service_account: String,
    /// The role its annotation names, if any.
    pub role_arn: Option<String>,
    /// `aws.iam.contain-role`'s state of that role.
    pub role: Option<Value>,
    /// The role is contained (sessions issued before a time are denied).
    pub contained: bool,
}

/// What the change does: `aws.iam.contain-role`'s change to the role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleChange {
    pub service_account: String,
    pub role_arn: String,
    pub role_before: Value,
    pub role_after: Value,
}

pub struct ServiceAccountContainRole {
    kube: Arc<Kube>,
    role: IamContainRole,
}

impl ServiceAccountContainRole {
    pub fn new(kube: Arc<Kube>) -> Self {
        let role = IamContainRole::new(kube.aws().clone());
        ServiceAccountContainRole { kube, role }
    }

    /// The service account's annotation, read from the cluster.
    async fn annotation(
        &self,
        target: &Target,
        params: &Value,
    ) -> Result<(KubeRef, Option<String>), ActionError> {
        let (r, client) =
            object_and_client(&self.kube, target, allows_kube_system(params, ID)?).await?;
        let ns = r.namespace.as_deref().unwrap_or_default();
        let account: ServiceAccount = client
            .get(&path_of::<ServiceAccount>(Some(ns), Some(&r.name)))
            .await?
            .ok_or_else(|| gone(&r))?;
        let arn = account
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ROLE_ANNOTATION))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        Ok((r, arn))
    }

    async fn read(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let (r, arn) = self.annotation(target, params).await?;
        let service_account = format!("{}/{}", r.namespace.unwrap_or_default(), r.name);
        let Some(arn) = arn else {
            let state = AccountState {
                service_account,
                role_arn: None,
                role: None,
                contained: false,
            };
            return Ok(Observed::new(true, state, Default::default()));
        };
        let role_target = role_target(target, &arn)?;
        let role = self.role.check(&role_target, &json!({})).await?;
        let state = AccountState {
            service_account,
            role_arn: Some(arn),
            contained: role.compliant,
            role: Some(role.state),
        };
        Ok(Observed::new(state.contained, state, role.tags))
    }
}

/// The role an annotation names, as `aws.iam.contain-role`'s target: a
/// role ARN (`arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`) of a
/// 12-digit account, whatever else the annotation holds refused.
fn role_target(cluster_target: &Target, arn: &str) -> Result<Target, ActionError> {
    let refused = || {
        ActionError::invalid(format!(
            "{ID}: annotation {ROLE_ANNOTATION} `{}` is not an IAM role ARN; refused",
            arn.chars().take(120).collect::<String>()
        ))
    };
    if arn.len() > 2048 {
        return Err(refused());
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", partition, "iam", "", account, resource] = parts[..] else {
        return Err(refused());
    };
    let partition_ok = matches!(partition, "aws" | "aws-cn" | "aws-us-gov");
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    if !partition_ok || !account_ok || !resource.starts_with("role/") {
        return Err(refused());
    }
    Ok(Target {
        partition: partition.to_string(),
        ..Target::listed(
            account,
            &cluster_target.region,
            "AwsIamRole",
            arn.to_string(),
        )
    })
}

/// The role's change as `aws.iam.contain-role` recorded it.
fn inner(change: &RoleChange, summary: &str) -> Change {
    Change {
        summary: summary.to_string(),
        before: change.role_before.clone(),
        after: change.role_after.clone(),
    }
}

#[async_trait]
impl Action for ServiceAccountContainRole {
    // The target: the workload's service account of a GuardDuty EKS or
    // Runtime finding (`kubernetesWorkloadDetails.serviceAccountName`, or
    // a `system:serviceaccount:` user), as EventBridge or Security Hub
    // delivers it, or of a Kubernetes audit event.
    super::object_action_basics!(SERVICE_ACCOUNT);

    /// Reads the service account's annotation, then the role as
    /// `aws.iam.contain-role` does (refusing service-linked roles and
    /// rectify's own). A service account with no role annotation has
    /// nothing to contain.
    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        self.read(target, params).await
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        allows_kube_system(params, ID)?;
        let state: AccountState = recorded(&observed.state, ID)?;
        let (Some(arn), Some(role)) = (&state.role_arn, &state.role) else {
            return Ok(Change {
                summary: format!(
                    "service account {} has no {ROLE_ANNOTATION} annotation: no IAM role to contain",
                    state.service_account
                ),
                before: observed.state.clone(),
                after: observed.state.clone(),
            });
        };
        let role_target = role_target(target, arn)?;
        let role_observed = Observed {
            compliant: state.contained,
            state: role.clone(),
            tags: observed.tags.clone(),
        };
        let change = self.role.plan(&role_target, &json!({}), &role_observed)?;
        if change.before == change.after {
            return Ok(Change {
                summary: format!(
                    "service account {} runs as {arn}: {}",
                    state.service_account, change.summary
                ),
                before: observed.state.clone(),
                after: observed.state.clone(),
            });
        }
        Ok(Change::new(
            format!(
                "service account {} runs as {arn} ({ROLE_ANNOTATION}): {}. Pods that assume the \
                 role again get working sessions: fix the workload too",
                state.service_account, change.summary
            ),
            observed.state.clone(),
            RoleChange {
                service_account: state.service_account.clone(),
                role_arn: arn.clone(),
                role_before: change.before,
                role_after: change.after,
            },
        ))
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        allows_kube_system(params, ID)?;
        if change.before == change.after {
            return Ok(());
        }
        // The role that was approved, even if the annotation changed since.
        let want: RoleChange = recorded(&change.after, ID)?;
        let role_target = role_target(target, &want.role_arn)?;
        self.role
            .apply(&role_target, &json!({}), &inner(&want, &change.summary))
            .await
    }

    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        self.read(target, params).await
    }

    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        allows_kube_system(params, ID)?;
        if applied.before == applied.after {
            return Err(ActionError::invalid(format!(
                "{ID}: that job changed nothing (no role, or the role was already contained): nothing to undo"
            )));
        }
        let done: RoleChange = recorded(&applied.after, ID)?;
        let current: AccountState = recorded(&now.state, ID)?;
        // The role as it is now, whatever the annotation says today.
        let role_now = match (&current.role_arn, current.role) {
            (Some(arn), Some(role)) if *arn == done.role_arn => role,
            _ => {
                return Err(ActionError::invalid(format!(
                    "{ID}: service account {} no longer names role {} (it names {}): undo \
                     aws.iam.contain-role on that role by hand, or put the annotation back first",
                    done.service_account,
                    done.role_arn,
                    current.role_arn.as_deref().unwrap_or("none")
                )))
            }
        };
        let role_target = role_target(target, &done.role_arn)?;
        let role_observed = Observed {
            compliant: current.contained,
            state: role_now,
            tags: Default::default(),
        };
        let undo = self.role.revert_plan(
            &role_target,
            &json!({}),
            &inner(&done, &applied.summary),
            &role_observed,
        )?;
        Ok(Change::new(
            format!("service account {}: {}", done.service_account, undo.summary),
            now.state.clone(),
            RoleChange {
                service_account: done.service_account,
                role_arn: done.role_arn,
                role_before: undo.before,
                role_after: undo.after,
            },
        ))
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        allows_kube_system(params, ID)?;
        let undo: RoleChange = recorded(&change.after, ID)?;
        let role_target = role_target(target, &undo.role_arn)?;
        self.role
            .revert(&role_target, &json!({}), &inner(&undo, &change.summary))
            .await
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        allows_kube_system(params, ID)?;
        let undo: RoleChange = recorded(&change.after, ID)?;
        let role_target = role_target(target, &undo.role_arn)?;
        self.role
            .verify_revert(&role_target, &json!({}), &inner(&undo, &change.summary))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(ns: &str, name: &str) -> Target {
        KubeRef {
            cluster: "lab".into(),
            kind: SERVICE_ACCOUNT,
            namespace: Some(ns.into()),
            name: name.into(),
        }
        .to_target("111122223333", "eu-west-1")
    }

    #[test]
    fn only_role_arns_are_taken_from_the_annotation() {
        let t = account("shop", "checkout");
        let role = role_target(&t, "arn:aws-cn:iam::111122223333:role/team/app").unwrap();
        assert_eq!(role.partition, "aws-cn");
        assert_eq!(role.account, "111122223333");
        assert_eq!(role.resource_type, "AwsIamRole");
        for bad in [
            "arn:aws:iam::111122223333:user/bob",
            "arn:aws:iam::12345:role/app",
            "arn:aws:s3:::bucket",
            "arn:evil:iam::111122223333:role/app",
            "role/app",
            "",
        ] {
            let err = role_target(&t, bad).unwrap_err();
            assert!(
                err.message.contains("not an IAM role ARN"),
                "{bad}: {}",
                err.message
            );
        }
        assert!(role_target(
            &t,
            &format!("arn:aws:iam::111122223333:role/{}", "a".repeat(3000))
        )
        .is_err());
    }

    #[tokio::test]
    async fn no_annotation_is_nothing_to_do_and_nothing_to_undo() {
        let action = ServiceAccountContainRole::new(super::super::testing::kube().await);
        let t = account("shop", "checkout");
        let state = AccountState {
            service_account: "shop/checkout".into(),
            role_arn: None,
            role: None,
            contained: false,
        };
        let observed = Observed::new(true, state, Default::default());
        let change = action.plan(&t, &json!({}), &observed).unwrap();
        assert_eq!(change.before, change.after);
        assert!(change.summary.contains("no IAM role"), "{}", change.summary);
        assert!(action
            .revert_plan(&t, &json!({}), &change, &observed)
            .is_err());
        assert!(SPEC.approval_by_default);
    }
}
