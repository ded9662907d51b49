//! `aws.ec2.make-snapshots-private`: an EBS snapshot restorable by anyone
//! (Security Hub EC2.1, a critical control) loses the `all` group of its
//! create-volume permission. Only the snapshot the event names is changed:
//! a CloudTrail `ModifySnapshotAttribute` call, or a finding of
//! `rectify scan`, which lists each public snapshot as a target of its
//! own. An account-level finding (Security Hub's EC2.1) names no snapshot:
//! it changes nothing and lists the public snapshots it found. Sharing
//! with named accounts stays; snapshots tagged with `except_tag` stay
//! public and are reported as left in place; a snapshot behind a public
//! AMI waits for a person's approval. The permission as it was can be
//! restored (`rectify jobs revert`).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, OperationType, PermissionGroup, SnapshotAttributeName};
use rectify_model::{Action, ActionError, ActionSpec, Change, Event, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::targets::{described, owned_by_target};
use crate::actions::{
    collect_pages, ec2_client, params_object, recorded, reject_unknown, string_param, tag_map,
    unchanged_since,
};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.ec2.make-snapshots-private";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Make a publicly restorable EBS snapshot private (the one the event names).",
    controls: &["EC2.1"],
    resource_types: &["AwsEc2Snapshot", "AwsAccount"],
    account_wide: false,
    permissions: &[
        "ec2:DescribeSnapshots",
        "ec2:DescribeSnapshotAttribute",
        "ec2:DescribeImages",
        "ec2:ModifySnapshotAttribute",
    ],
    params: &[ParamSpec {
        name: "except_tag",
        kind: "string",
        default: "\"rectify:public-snapshot\"",
        doc: "Snapshots with a tag of this key stay public (published AMIs' snapshots, say); the finding is then NOTIFIED, never RESOLVED.",
    }],
    // Check: the snapshot (owner, tags), its permission, the public AMIs
    // it may back; the write; read-back of the permission.
    calls_per_fix: 5,
    approval_by_default: false,
};

const DEFAULT_EXCEPT_TAG: &str = "rectify:public-snapshot";

fn except_tag(params: &Value) -> Result<String, String> {
    let p = params_object(params)?;
    reject_unknown(&p, &["except_tag"], ID)?;
    Ok(string_param(&p, "except_tag", 128)?.unwrap_or_else(|| DEFAULT_EXCEPT_TAG.to_string()))
}

/// Who may create volumes from a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Permission {
    /// The `all` group: anyone.
    public: bool,
    /// Named accounts, sorted.
    shared_with: Vec<String>,
}

/// One snapshot as `check` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SnapshotState {
    snapshot: String,
    #[serde(flatten)]
    permission: Permission,
    /// It carries `except_tag`: it stays public on purpose.
    excepted: bool,
    /// Public AMIs of the account whose block devices it backs.
    public_images: Vec<String>,
}

pub struct Ec2MakeSnapshotsPrivate {
    aws: Arc<Aws>,
}

impl Ec2MakeSnapshotsPrivate {
    pub fn new(aws: Arc<Aws>) -> Self {
        Ec2MakeSnapshotsPrivate { aws }
    }

    /// The account's snapshots in the region that anyone can restore: ids
    /// and tags. Asked for with `RestorableByUserIds = all`, then each
    /// confirmed from its permission, so that an answer that does not
    /// narrow the listing cannot make a private snapshot look public.
    async fn public_snapshots(
        &self,
        ec2: &aws_sdk_ec2::Client,
    ) -> Result<Vec<(String, Vec<(String, String)>)>, ActionError> {
        let listed: Vec<(String, Vec<(String, String)>)> = collect_pages(|token| {
            let request = ec2
                .describe_snapshots()
                .owner_ids("self")
                .restorable_by_user_ids("all")
                .set_next_token(token);
            async move {
                let out = request.send().await.map_err(|e| {
                    sdk_error_on("ec2:DescribeSnapshots", "the account's snapshots", e)
                })?;
                let found = out
                    .snapshots()
                    .iter()
                    .filter_map(|s| {
                        let tags = s
                            .tags()
                            .iter()
                            .map(|t| {
                                (
                                    t.key().unwrap_or_default().to_string(),
                                    t.value().unwrap_or_default().to_string(),
                                )
                            })
                            .collect();
                        Some((s.snapshot_id()?.to_string(), tags))
                    })
                    .collect();
                Ok((found, out.next_token().map(str::to_string)))
            }
        })
        .await?;
        let mut public = Vec::new();
        for (id, tags) in listed {
            if permission(ec2, &id).await?.public {
                public.push((id, tags));
            }
        }
        public.sort();
        Ok(public)
    }
}

/// The create-volume permission of `snapshot`.
async fn permission(ec2: &aws_sdk_ec2::Client, snapshot: &str) -> Result<Permission, ActionError> {
    let out = ec2
        .describe_snapshot_attribute()
        .snapshot_id(snapshot)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
        .map_err(|e| sdk_error_on("ec2:DescribeSnapshotAttribute", snapshot, e))?;
    let perms = out.create_volume_permissions();
    let mut shared_with: Vec<String> = perms
        .iter()
        .filter_map(|p| p.user_id().map(str::to_string))
        .collect();
    shared_with.sort();
    Ok(Permission {
        public: perms
            .iter()
            .any(|p| p.group() == Some(&PermissionGroup::All)),
        shared_with,
    })
}

/// The snapshot id of a snapshot target (`arn:...:snapshot/snap-1` or
/// `snap-1`); `None` for the account.
fn snapshot_of(target: &Target) -> Option<&str> {
    if target.resource_type == "AwsAccount" {
        return None;
    }
    Some(target.resource_name()).filter(|id| id.starts_with("snap-"))
}

fn snapshot_arn(partition: &str, region: &str, id: &str) -> String {
    // Snapshot ARNs name no account.
    format!("arn:{partition}:ec2:{region}::snapshot/{id}")
}

/// The public snapshots an account-level check recorded: `(id, excepted)`.
fn listed_of(state: &Value) -> Vec<(String, bool)> {
    let ids = |key: &str| -> Vec<String> {
        state[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut all: Vec<(String, bool)> = ids("public_snapshots")
        .into_iter()
        .map(|id| (id, false))
        .collect();
    all.extend(ids("excepted").into_iter().map(|id| (id, true)));
    all
}

#[async_trait]
impl Action for Ec2MakeSnapshotsPrivate {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        except_tag(params).map(|_| ())
    }

    /// The snapshot a `ModifySnapshotAttribute` call names
    /// (`requestParameters.snapshotId`); otherwise as for any action (a
    /// finding's `AwsEc2Snapshot` resource, else its account).
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        if event.detail_type == rectify_model::target::CLOUDTRAIL_API_CALL {
            let detail = &event.body["detail"];
            if detail["errorCode"].as_str().is_none_or(str::is_empty) {
                if let Some(id) = detail["requestParameters"]["snapshotId"]
                    .as_str()
                    .filter(|id| id.starts_with("snap-"))
                {
                    let account = detail["recipientAccountId"]
                        .as_str()
                        .unwrap_or(&event.account);
                    let region = detail["awsRegion"].as_str().unwrap_or(&event.region);
                    let partition = rectify_model::partition_of(region);
                    return Ok(Target::listed(
                        account,
                        region,
                        "AwsEc2Snapshot",
                        snapshot_arn(partition, region, id),
                    ));
                }
            }
        }
        Target::from_event(event, SPEC.resource_types).map_err(ActionError::invalid)
    }

    /// The account's snapshots in the target's region: each is a change of
    /// its own now, so the share breaker counts them.
    async fn inventory(&self, target: &Target, _: &Value) -> Result<Option<u64>, ActionError> {
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let all: Vec<()> = collect_pages(|token| {
            let request = ec2
                .describe_snapshots()
                .owner_ids("self")
                .set_next_token(token);
            async move {
                let out = request.send().await.map_err(|e| {
                    sdk_error_on("ec2:DescribeSnapshots", "the account's snapshots", e)
                })?;
                let found = out.snapshots().iter().map(|_| ()).collect();
                Ok((found, out.next_token().map(str::to_string)))
            }
        })
        .await?;
        Ok(Some(all.len() as u64))
    }

    /// Each public snapshot of the account in `region`, a target of its
    /// own: the account-wide sweep is the scanner's.
    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        let ec2 = ec2_client(&self.aws, account, region).await?;
        let partition = rectify_model::partition_of(region);
        Ok(self
            .public_snapshots(&ec2)
            .await?
            .into_iter()
            .map(|(id, _)| {
                Target::listed(
                    account,
                    region,
                    "AwsEc2Snapshot",
                    snapshot_arn(partition, region, &id),
                )
            })
            .collect())
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let except = except_tag(params).map_err(ActionError::invalid)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let Some(id) = snapshot_of(target) else {
            // An account-level finding names no snapshot: nothing is
            // written; the public ones are reported (left in place).
            let (excepted, public): (Vec<_>, Vec<_>) = self
                .public_snapshots(&ec2)
                .await?
                .into_iter()
                .partition(|(_, tags)| tags.iter().any(|(k, _)| *k == except));
            let ids = |v: Vec<(String, Vec<(String, String)>)>| -> Vec<String> {
                v.into_iter().map(|(id, _)| id).collect()
            };
            return Ok(Observed {
                compliant: true,
                state: json!({"public_snapshots": ids(public), "excepted": ids(excepted)}),
                tags: Default::default(),
            });
        };
        let out = ec2
            .describe_snapshots()
            .snapshot_ids(id)
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeSnapshots", id, e))?;
        let snapshot = described(out.snapshots(), |s| s.snapshot_id(), "snapshot", id)?;
        owned_by_target(snapshot.owner_id(), "snapshot", id, target)?;
        let tags = tag_map(
            snapshot
                .tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
        );
        let excepted = tags.contains_key(&except);
        let permission = permission(&ec2, id).await?;
        let public_images = if permission.public {
            backed_public_images(&ec2, id).await?
        } else {
            Vec::new()
        };
        let state = SnapshotState {
            snapshot: id.to_string(),
            permission,
            excepted,
            public_images,
        };
        Ok(Observed {
            // Nothing to do: private, or public on purpose (reported by
            // `left_in_place`, so never RESOLVED).
            compliant: !state.permission.public || state.excepted,
            state: serde_json::to_value(state).expect("plain struct"),
            tags,
        })
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        except_tag(params).map_err(ActionError::invalid)?;
        if snapshot_of(target).is_none() {
            return Err(ActionError::invalid(format!(
                "{ID} changes only the snapshot an event names; `rectify scan` makes each public snapshot of {} in {} a job of its own",
                target.account, target.region
            )));
        }
        let before: SnapshotState = recorded(&observed.state, ID)?;
        let after = Permission {
            public: false,
            ..before.permission.clone()
        };
        let kept = match after.shared_with.len() {
            0 => String::new(),
            n => format!(
                "; sharing with {n} named account{} stays ({})",
                if n == 1 { "" } else { "s" },
                after.shared_with.join(", ")
            ),
        };
        let summary = if before.permission.public {
            format!(
                "make snapshot {} private: remove the `all` group from its create-volume permission{kept}",
                before.snapshot
            )
        } else {
            format!("snapshot {} is not public", before.snapshot)
        };
        Ok(Change::new(summary, observed.state.clone(), after))
    }

    /// Removes the `all` group from the snapshot's create-volume
    /// permission; named accounts keep theirs.
    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        except_tag(params).map_err(ActionError::invalid)?;
        let after: Permission = recorded(&change.after, ID)?;
        self.write(target, None, &after).await
    }

    /// Reads back only what the write changed: the snapshot's
    /// create-volume permission (an account-level target: the check).
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        except_tag(params).map_err(ActionError::invalid)?;
        let Some(id) = snapshot_of(target) else {
            return self.check(target, params).await;
        };
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let permission = permission(&ec2, id).await?;
        Ok(Observed {
            compliant: !permission.public,
            state: json!({
                "snapshot": id,
                "public": permission.public,
                "shared_with": permission.shared_with,
            }),
            tags: Default::default(),
        })
    }

    /// A snapshot behind a public AMI: published on purpose, it seems.
    fn intent(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        let Ok(state) = recorded::<SnapshotState>(&observed.state, ID) else {
            return Vec::new();
        };
        state
            .public_images
            .iter()
            .map(|ami| {
                format!(
                    "snapshot {} backs public AMI {ami}: it looks published on purpose; \
                     approve the job to make it private anyway, or tag it with the except_tag \
                     (default rectify:public-snapshot) to keep it public",
                    state.snapshot
                )
            })
            .collect()
    }

    /// Public snapshots rectify leaves so: excepted by tag, or (for an
    /// account-level finding, which names no snapshot) every public one.
    fn left_in_place(&self, target: &Target, params: &Value, observed: &Observed) -> Vec<String> {
        let except = except_tag(params).unwrap_or_else(|_| DEFAULT_EXCEPT_TAG.to_string());
        if snapshot_of(target).is_none() {
            let (excepted, public): (Vec<_>, Vec<_>) = listed_of(&observed.state)
                .into_iter()
                .partition(|(_, excepted)| *excepted);
            let mut left = Vec::new();
            if !public.is_empty() {
                let ids: Vec<String> = public.into_iter().map(|(id, _)| id).collect();
                left.push(format!(
                    "public snapshot{} {} left as {}: this finding names the account, not a snapshot, \
                     and rectify changes only the snapshot an event names; `rectify scan` makes each \
                     public snapshot a job of its own",
                    if ids.len() == 1 { "" } else { "s" },
                    ids.join(", "),
                    if ids.len() == 1 { "it is" } else { "they are" }
                ));
            }
            left.extend(excepted.into_iter().map(|(id, _)| {
                format!(
                    "snapshot {id} stays public: it carries the tag {except} (param except_tag)"
                )
            }));
            return left;
        }
        match recorded::<SnapshotState>(&observed.state, ID) {
            Ok(s) if s.permission.public && s.excepted => vec![format!(
                "snapshot {} stays public: it carries the tag {except} (param except_tag); \
                 remove the tag to let rectify make it private",
                s.snapshot
            )],
            _ => Vec::new(),
        }
    }

    /// Gives the `all` group (and named accounts) back as `applied`
    /// found them; refuses when the permission is no longer what
    /// `applied` left.
    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        except_tag(params).map_err(ActionError::invalid)?;
        let Some(id) = snapshot_of(target) else {
            return Err(ActionError::invalid(format!(
                "{ID}: a change to a whole account's snapshots cannot be undone by rectify; \
                 share each snapshot again by hand (ModifySnapshotAttribute)"
            )));
        };
        let left: Permission = recorded(&applied.after, ID)?;
        let restore = recorded::<SnapshotState>(&applied.before, ID)?.permission;
        // The permission, from a check or a read-back (which reads only it).
        let current: Permission = recorded(&now.state, ID)?;
        unchanged_since(
            || format!("the create-volume permission of snapshot {id}"),
            &current,
            &left,
        )?;
        Ok(Change {
            summary: format!(
                "make snapshot {id} restorable by anyone again (the `all` group back in its create-volume permission{})",
                if restore.shared_with.is_empty() {
                    String::new()
                } else {
                    format!("; named accounts as they were: {}", restore.shared_with.join(", "))
                }
            ),
            before: serde_json::to_value(current).expect("plain struct"),
            after: serde_json::to_value(restore).expect("plain struct"),
        })
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        except_tag(params).map_err(ActionError::invalid)?;
        let before: Permission = recorded(&change.before, ID)?;
        let after: Permission = recorded(&change.after, ID)?;
        self.write(target, Some(&before), &after).await
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        // What the undo wrote: the permission.
        let now = self.verify(target, params).await?;
        let restored: Permission = recorded(&change.after, ID)?;
        Ok(recorded::<Permission>(&now.state, ID)? == restored)
    }
}

impl Ec2MakeSnapshotsPrivate {
    /// Brings the snapshot's permission from `from` (default: public,
    /// named accounts unchanged) to `to`. `GroupNames`/`UserIds` with an
    /// operation type rather than the `CreateVolumePermission` structure:
    /// both mean the same to EC2, and emulators know only the older form.
    async fn write(
        &self,
        target: &Target,
        from: Option<&Permission>,
        to: &Permission,
    ) -> Result<(), ActionError> {
        let id = snapshot_of(target).ok_or_else(|| {
            ActionError::invalid(format!("{ID} changes only the snapshot an event names"))
        })?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let modify = |op: OperationType| {
            ec2.modify_snapshot_attribute()
                .snapshot_id(id)
                .attribute(SnapshotAttributeName::CreateVolumePermission)
                .operation_type(op)
        };
        let from_public = from.map(|f| f.public).unwrap_or(true);
        if from_public != to.public {
            let op = if to.public {
                OperationType::Add
            } else {
                OperationType::Remove
            };
            modify(op)
                .group_names("all")
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:ModifySnapshotAttribute", id, e))?;
        }
        if let Some(from) = from {
            let add: Vec<String> = to
                .shared_with
                .iter()
                .filter(|a| !from.shared_with.contains(a))
                .cloned()
                .collect();
            let remove: Vec<String> = from
                .shared_with
                .iter()
                .filter(|a| !to.shared_with.contains(a))
                .cloned()
                .collect();
            for (op, accounts) in [(OperationType::Add, add), (OperationType::Remove, remove)] {
                if !accounts.is_empty() {
                    modify(op)
                        .set_user_ids(Some(accounts))
                        .send()
                        .await
                        .map_err(|e| sdk_error_on("ec2:ModifySnapshotAttribute", id, e))?;
                }
            }
        }
        Ok(())
    }
}

/// The account's public AMIs whose block devices use `snapshot`.
async fn backed_public_images(
    ec2: &aws_sdk_ec2::Client,
    snapshot: &str,
) -> Result<Vec<String>, ActionError> {
    let images: Vec<String> = collect_pages(|token| {
        // Only the account's own public images can be backed by its
        // snapshot; the block devices are matched here (the
        // `block-device-mapping.snapshot-id` filter is not known everywhere).
        let request = ec2
            .describe_images()
            .owners("self")
            .filters(Filter::builder().name("is-public").values("true").build())
            .set_next_token(token);
        async move {
            let out = request
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:DescribeImages", snapshot, e))?;
            let ids = out
                .images()
                .iter()
                .filter(|i| i.public().unwrap_or(false))
                .filter(|i| {
                    i.block_device_mappings()
                        .iter()
                        .any(|b| b.ebs().and_then(|e| e.snapshot_id()) == Some(snapshot))
                })
                .filter_map(|i| i.image_id().map(str::to_string))
                .collect();
            Ok((ids, out.next_token().map(str::to_string)))
        }
    })
    .await?;
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;

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
            listed_of(&json!({"public_snapshots": ["snap-1"], "excepted": ["snap-2"]})),
            [("snap-1".to_string(), false), ("snap-2".to_string(), true)]
        );
    }

    #[test]
    fn targets() {
        let snap = target(
            "AwsEc2Snapshot",
            "arn:aws:ec2:us-east-1::snapshot/snap-0abc",
            Value::Null,
        );
        assert_eq!(snapshot_of(&snap), Some("snap-0abc"));
        let account = target("AwsAccount", "AWS::::Account:111122223333", Value::Null);
        assert_eq!(snapshot_of(&account), None);
    }
}
