//! `aws.ec2.make-snapshots-private`: no EBS snapshot of the account, in
//! the target's region, may be restorable by anyone (Security Hub EC2.1,
//! a critical control): removes the `all` group from each public
//! snapshot's create-volume permission. Sharing with named accounts stays;
//! snapshots tagged with `except_tag` stay public.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{OperationType, PermissionGroup, SnapshotAttributeName};
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, ParamSpec, Target};
use serde_json::{json, Value};

use crate::actions::{account_target, collect_pages, ec2_client, params_object, reject_unknown};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.ec2.make-snapshots-private";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Make every publicly restorable EBS snapshot of the account and region private.",
    controls: &["EC2.1"],
    resource_types: &["AwsAccount"],
    account_wide: false,
    permissions: &[
        "ec2:DescribeSnapshots",
        "ec2:DescribeSnapshotAttribute",
        "ec2:ModifySnapshotAttribute",
    ],
    params: &[ParamSpec {
        name: "except_tag",
        kind: "string",
        default: "\"rectify:public-snapshot\"",
        doc: "Snapshots with a tag of this key stay public (published AMIs' snapshots, say).",
    }],
};

const DEFAULT_EXCEPT_TAG: &str = "rectify:public-snapshot";

fn except_tag(params: &Value) -> Result<String, String> {
    let p = params_object(params)?;
    reject_unknown(&p, &["except_tag"], ID)?;
    match p.get("except_tag") {
        None => Ok(DEFAULT_EXCEPT_TAG.to_string()),
        Some(Value::String(t)) if !t.is_empty() && t.chars().count() <= 128 => Ok(t.clone()),
        Some(v) => Err(format!(
            "params.except_tag: expected a tag key of 1 to 128 characters, got {v}"
        )),
    }
}

pub struct Ec2MakeSnapshotsPrivate {
    aws: Arc<Aws>,
}

impl Ec2MakeSnapshotsPrivate {
    pub fn new(aws: Arc<Aws>) -> Self {
        Ec2MakeSnapshotsPrivate { aws }
    }

    /// The account's snapshots in the region that anyone can restore,
    /// less those carrying `except`. Asked for with `RestorableByUserIds
    /// = all`, then each confirmed from its permission, so that an answer
    /// that does not narrow the listing can not make a private snapshot
    /// look public.
    async fn public_snapshots(
        &self,
        ec2: &aws_sdk_ec2::Client,
        except: &str,
    ) -> Result<Vec<String>, ActionError> {
        let listed: Vec<String> = collect_pages(|token| {
            let request = ec2
                .describe_snapshots()
                .owner_ids("self")
                .restorable_by_user_ids("all")
                .set_next_token(token);
            async move {
                let out = request.send().await.map_err(|e| {
                    sdk_error_on("ec2:DescribeSnapshots", "the account's snapshots", e)
                })?;
                let ids = out
                    .snapshots()
                    .iter()
                    .filter(|s| !s.tags().iter().any(|t| t.key() == Some(except)))
                    .filter_map(|s| s.snapshot_id().map(str::to_string))
                    .collect();
                Ok((ids, out.next_token().map(str::to_string)))
            }
        })
        .await?;
        let mut public = Vec::new();
        for id in listed {
            let out = ec2
                .describe_snapshot_attribute()
                .snapshot_id(&id)
                .attribute(SnapshotAttributeName::CreateVolumePermission)
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:DescribeSnapshotAttribute", &id, e))?;
            if out
                .create_volume_permissions()
                .iter()
                .any(|p| p.group() == Some(&PermissionGroup::All))
            {
                public.push(id);
            }
        }
        public.sort();
        Ok(public)
    }
}

fn public_of(state: &Value) -> Vec<String> {
    state["public_snapshots"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[async_trait]
impl Action for Ec2MakeSnapshotsPrivate {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        except_tag(params).map(|_| ())
    }

    /// A property of each account and region: the account, in `region`.
    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        Ok(account_target(account, region))
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let except = except_tag(params).map_err(ActionError::invalid)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let public = self.public_snapshots(&ec2, &except).await?;
        Ok(Observed {
            compliant: public.is_empty(),
            state: json!({ "public_snapshots": public }),
            tags: Default::default(),
        })
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        except_tag(params).map_err(ActionError::invalid)?;
        let public = public_of(&observed.state);
        let summary = if public.is_empty() {
            format!(
                "no snapshot of {}/{} is public",
                target.account, target.region
            )
        } else {
            format!(
                "make {} public snapshot(s) of {}/{} private: {}",
                public.len(),
                target.account,
                target.region,
                public.join(", ")
            )
        };
        Ok(Change {
            summary,
            before: observed.state.clone(),
            after: json!({ "public_snapshots": [] }),
        })
    }

    /// Removes the `all` group from the snapshots the plan named; one made
    /// public since is found by the verify that follows.
    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        except_tag(params).map_err(ActionError::invalid)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        for id in public_of(&change.before) {
            // `GroupNames` rather than the `CreateVolumePermission`
            // structure: both mean the same to EC2, and emulators know
            // only the older form.
            ec2.modify_snapshot_attribute()
                .snapshot_id(&id)
                .attribute(SnapshotAttributeName::CreateVolumePermission)
                .operation_type(OperationType::Remove)
                .group_names("all")
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:ModifySnapshotAttribute", &id, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params() {
        assert_eq!(except_tag(&json!({})).unwrap(), "rectify:public-snapshot");
        assert_eq!(
            except_tag(&json!({"except_tag": "published"})).unwrap(),
            "published"
        );
        assert!(except_tag(&json!({"except_tag": ""})).is_err());
        assert!(except_tag(&json!({"except_tag": 5})).is_err());
        assert!(except_tag(&json!({"keep": "x"}))
            .unwrap_err()
            .starts_with("params.keep: unknown param"));
        assert_eq!(
            public_of(&json!({"public_snapshots": ["snap-1", "snap-2"]})),
            ["snap-1", "snap-2"]
        );
    }
}
