//! `aws.rds.make-snapshots-private`: an RDS DB snapshot or DB cluster
//! snapshot restorable by anyone (Security Hub RDS.1, a critical control)
//! loses the `all` value of its `restore` attribute. Accounts it is shared
//! with by name keep their access (RDS.1 flags only public snapshots). A
//! snapshot tagged `rectify:public-snapshot` waits for a person's approval.
//! The attribute as it was can be restored (`rectify jobs revert`).

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{Action, ActionError, ActionSpec, Change, ErrorClass, Event, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{event_target, rds_arn_of, rds_client, rds_error, rds_name, rds_tags};
use crate::actions::{collect_pages, recorded, takes_no_params, unchanged_since};
use crate::Aws;

pub const ID: &str = "aws.rds.make-snapshots-private";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Make a publicly restorable RDS DB snapshot or DB cluster snapshot private; accounts it is shared with by name keep their access.",
    controls: &["RDS.1"],
    resource_types: &["AwsRdsDbSnapshot", "AwsRdsDbClusterSnapshot"],
    account_wide: false,
    permissions: &[
        "rds:DescribeDBSnapshots",
        "rds:DescribeDBSnapshotAttributes",
        "rds:ModifyDBSnapshotAttribute",
        "rds:DescribeDBClusterSnapshots",
        "rds:DescribeDBClusterSnapshotAttributes",
        "rds:ModifyDBClusterSnapshotAttribute",
    ],
    params: &[],
    // Describe the snapshot and its attributes, modify, read the
    // attributes back.
    calls_per_fix: 4,
    approval_by_default: false,
};

/// The tag that says a snapshot is public on purpose.
const PUBLIC_TAG: &str = "rectify:public-snapshot";

/// The two kinds of snapshot: `(ASFF type, CloudFormation type, ARN kind)`.
const DB: (&str, &str, &str) = ("AwsRdsDbSnapshot", "AWS::RDS::DBSnapshot", "snapshot");
const CLUSTER: (&str, &str, &str) = (
    "AwsRdsDbClusterSnapshot",
    "AWS::RDS::DBClusterSnapshot",
    "cluster-snapshot",
);

/// Who may restore a snapshot (its `restore` attribute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Restore {
    /// `all`: anyone.
    public: bool,
    /// Accounts named, sorted.
    shared_with: Vec<String>,
}

impl Restore {
    fn of(values: &[String]) -> Restore {
        let mut shared_with: Vec<String> = values
            .iter()
            .filter(|v| !v.eq_ignore_ascii_case("all"))
            .cloned()
            .collect();
        shared_with.sort();
        Restore {
            public: values.iter().any(|v| v.eq_ignore_ascii_case("all")),
            shared_with,
        }
    }
}

/// One snapshot as `check` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SnapshotState {
    snapshot: String,
    cluster: bool,
    #[serde(flatten)]
    restore: Restore,
    /// It carries [`PUBLIC_TAG`].
    #[serde(default)]
    tagged_public: bool,
}

/// Which snapshot a target names: `(name, cluster)`.
fn snapshot_of(target: &Target) -> Result<(&str, bool), ActionError> {
    let cluster = target.resource_type == CLUSTER.0;
    let kind = if cluster { CLUSTER.2 } else { DB.2 };
    Ok((rds_name(ID, target, kind)?, cluster))
}

pub struct RdsMakeSnapshotsPrivate {
    aws: Arc<Aws>,
}

impl RdsMakeSnapshotsPrivate {
    pub fn new(aws: Arc<Aws>) -> Self {
        RdsMakeSnapshotsPrivate { aws }
    }

    /// The `restore` attribute of the snapshot.
    async fn restore(
        &self,
        rds: &aws_sdk_rds::Client,
        name: &str,
        cluster: bool,
    ) -> Result<Restore, ActionError> {
        let values: Vec<String> = if cluster {
            let out = rds
                .describe_db_cluster_snapshot_attributes()
                .db_cluster_snapshot_identifier(name)
                .send()
                .await
                .map_err(|e| rds_error("rds:DescribeDBClusterSnapshotAttributes", name, e))?;
            out.db_cluster_snapshot_attributes_result()
                .map(|r| {
                    r.db_cluster_snapshot_attributes()
                        .iter()
                        .filter(|a| a.attribute_name() == Some("restore"))
                        .flat_map(|a| a.attribute_values().to_vec())
                        .collect()
                })
                .unwrap_or_default()
        } else {
            let out = rds
                .describe_db_snapshot_attributes()
                .db_snapshot_identifier(name)
                .send()
                .await
                .map_err(|e| rds_error("rds:DescribeDBSnapshotAttributes", name, e))?;
            out.db_snapshot_attributes_result()
                .map(|r| {
                    r.db_snapshot_attributes()
                        .iter()
                        .filter(|a| a.attribute_name() == Some("restore"))
                        .flat_map(|a| a.attribute_values().to_vec())
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(Restore::of(&values))
    }

    /// The snapshot's tags; refuses a snapshot that is not the account's.
    async fn tags(
        &self,
        rds: &aws_sdk_rds::Client,
        target: &Target,
        name: &str,
        cluster: bool,
    ) -> Result<Map<String, Value>, ActionError> {
        let not_found = || {
            ActionError::new(
                ErrorClass::NotFound,
                format!("RDS snapshot {name} not found"),
            )
        };
        let (arn, tags) = if cluster {
            let out = rds
                .describe_db_cluster_snapshots()
                .db_cluster_snapshot_identifier(name)
                .send()
                .await
                .map_err(|e| rds_error("rds:DescribeDBClusterSnapshots", name, e))?;
            let s = out.db_cluster_snapshots().first().ok_or_else(not_found)?;
            (
                s.db_cluster_snapshot_arn().map(str::to_string),
                rds_tags(s.tag_list()),
            )
        } else {
            let out = rds
                .describe_db_snapshots()
                .db_snapshot_identifier(name)
                .send()
                .await
                .map_err(|e| rds_error("rds:DescribeDBSnapshots", name, e))?;
            let s = out.db_snapshots().first().ok_or_else(not_found)?;
            (
                s.db_snapshot_arn().map(str::to_string),
                rds_tags(s.tag_list()),
            )
        };
        if let Some(owner) = arn
            .as_deref()
            .and_then(|a| a.split(':').nth(4))
            .filter(|o| !o.is_empty() && *o != target.account)
        {
            return Err(ActionError::invalid(format!(
                "RDS snapshot {name} is in account {owner}, not {}; refused",
                target.account
            )));
        }
        Ok(tags)
    }

    /// Adds `add` to and removes `remove` from the snapshot's `restore`
    /// attribute (one call).
    async fn modify(
        &self,
        target: &Target,
        add: Vec<String>,
        remove: Vec<String>,
    ) -> Result<(), ActionError> {
        if add.is_empty() && remove.is_empty() {
            return Ok(());
        }
        let (name, cluster) = snapshot_of(target)?;
        let rds = rds_client(&self.aws, target).await?;
        let (add, remove) = (
            (!add.is_empty()).then_some(add),
            (!remove.is_empty()).then_some(remove),
        );
        if cluster {
            rds.modify_db_cluster_snapshot_attribute()
                .db_cluster_snapshot_identifier(name)
                .attribute_name("restore")
                .set_values_to_add(add)
                .set_values_to_remove(remove)
                .send()
                .await
                .map_err(|e| rds_error("rds:ModifyDBClusterSnapshotAttribute", name, e))?;
        } else {
            rds.modify_db_snapshot_attribute()
                .db_snapshot_identifier(name)
                .attribute_name("restore")
                .set_values_to_add(add)
                .set_values_to_remove(remove)
                .send()
                .await
                .map_err(|e| rds_error("rds:ModifyDBSnapshotAttribute", name, e))?;
        }
        Ok(())
    }

    /// Brings the attribute from `from` to `to`.
    async fn write(
        &self,
        target: &Target,
        from: &Restore,
        to: &Restore,
    ) -> Result<(), ActionError> {
        let mut add: Vec<String> = to
            .shared_with
            .iter()
            .filter(|a| !from.shared_with.contains(a))
            .cloned()
            .collect();
        let mut remove: Vec<String> = from
            .shared_with
            .iter()
            .filter(|a| !to.shared_with.contains(a))
            .cloned()
            .collect();
        match (from.public, to.public) {
            (false, true) => add.push("all".into()),
            (true, false) => remove.push("all".into()),
            _ => {}
        }
        self.modify(target, add, remove).await
    }
}

#[async_trait]
impl Action for RdsMakeSnapshotsPrivate {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    /// A `ModifyDBSnapshotAttribute` or `ModifyDBClusterSnapshotAttribute`
    /// call (its snapshot identifier), a Config evaluation of a snapshot
    /// (its resource id), or a finding's snapshot resource.
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        event_target(
            event,
            &[(DB.0, DB.1), (CLUSTER.0, CLUSTER.1)],
            |place, detail| {
                let params = &detail["requestParameters"];
                if let Some(id) = params["dBClusterSnapshotIdentifier"].as_str() {
                    return Some((CLUSTER.0, rds_arn_of(place, CLUSTER.2, id)?));
                }
                let id = params["dBSnapshotIdentifier"].as_str()?;
                Some((DB.0, rds_arn_of(place, DB.2, id)?))
            },
            |place, cfn, id| {
                let kind = if cfn == CLUSTER.1 { CLUSTER.2 } else { DB.2 };
                rds_arn_of(place, kind, id)
            },
        )
    }

    /// The account's manual snapshots (of both kinds) that anyone can
    /// restore, each a target of its own.
    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        let here = Target::listed(account, region, DB.0, String::new());
        let rds = rds_client(&self.aws, &here).await?;
        let db: Vec<String> = collect_pages(|marker| {
            let request = rds
                .describe_db_snapshots()
                .snapshot_type("manual")
                .set_marker(marker);
            async move {
                let out = request.send().await.map_err(|e| {
                    rds_error("rds:DescribeDBSnapshots", "the account's snapshots", e)
                })?;
                let ids = out
                    .db_snapshots()
                    .iter()
                    .filter_map(|s| s.db_snapshot_identifier().map(str::to_string))
                    .collect();
                Ok((ids, out.marker().map(str::to_string)))
            }
        })
        .await?;
        let clusters: Vec<String> = collect_pages(|marker| {
            let request = rds
                .describe_db_cluster_snapshots()
                .snapshot_type("manual")
                .set_marker(marker);
            async move {
                let out = request.send().await.map_err(|e| {
                    rds_error(
                        "rds:DescribeDBClusterSnapshots",
                        "the account's cluster snapshots",
                        e,
                    )
                })?;
                let ids = out
                    .db_cluster_snapshots()
                    .iter()
                    .filter_map(|s| s.db_cluster_snapshot_identifier().map(str::to_string))
                    .collect();
                Ok((ids, out.marker().map(str::to_string)))
            }
        })
        .await?;
        let partition = rectify_model::partition_of(region);
        let mut found = Vec::new();
        for (names, (asff, _, kind), cluster) in [(db, DB, false), (clusters, CLUSTER, true)] {
            for name in names {
                if self.restore(&rds, &name, cluster).await?.public {
                    found.push(Target::listed(
                        account,
                        region,
                        asff,
                        format!("arn:{partition}:rds:{region}:{account}:{kind}:{name}"),
                    ));
                }
            }
        }
        Ok(found)
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let (name, cluster) = snapshot_of(target)?;
        let rds = rds_client(&self.aws, target).await?;
        let tags = self.tags(&rds, target, name, cluster).await?;
        let restore = self.restore(&rds, name, cluster).await?;
        let state = SnapshotState {
            snapshot: name.to_string(),
            cluster,
            restore,
            tagged_public: tags.contains_key(PUBLIC_TAG),
        };
        Ok(Observed::new(!state.restore.public, state, tags))
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let before: SnapshotState = recorded(&observed.state, ID)?;
        let after = Restore {
            public: false,
            ..before.restore.clone()
        };
        let what = if before.cluster {
            "DB cluster snapshot"
        } else {
            "DB snapshot"
        };
        let kept = match after.shared_with.len() {
            0 => String::new(),
            n => format!(
                "; the {n} account{} it is shared with by name keep{} access ({})",
                if n == 1 { "" } else { "s" },
                if n == 1 { "s" } else { "" },
                after.shared_with.join(", ")
            ),
        };
        let summary = if before.restore.public {
            format!(
                "make RDS {what} {} private: remove `all` from its restore attribute{kept}",
                before.snapshot
            )
        } else {
            format!("RDS {what} {} is not public", before.snapshot)
        };
        Ok(Change::new(summary, observed.state.clone(), after))
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let before: SnapshotState = recorded(&change.before, ID)?;
        let after: Restore = recorded(&change.after, ID)?;
        // Public read again at apply: only `all` is removed, whoever was
        // added by name since stays.
        let from = Restore {
            public: true,
            shared_with: after.shared_with.clone(),
        };
        if before.restore.public {
            self.write(target, &from, &after).await?;
        }
        Ok(())
    }

    /// Reads back only what the write changed: the `restore` attribute.
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let (name, cluster) = snapshot_of(target)?;
        let rds = rds_client(&self.aws, target).await?;
        let restore = self.restore(&rds, name, cluster).await?;
        Ok(Observed::new(!restore.public, restore, Default::default()))
    }

    /// A snapshot tagged as public on purpose.
    fn intent(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        match recorded::<SnapshotState>(&observed.state, ID) {
            Ok(s) if s.restore.public && s.tagged_public => vec![format!(
                "RDS snapshot {} carries the tag {PUBLIC_TAG}: it looks shared with everyone on purpose; \
                 approve the job to make it private anyway, or tag it with the exemption tag to leave it public",
                s.snapshot
            )],
            _ => Vec::new(),
        }
    }

    /// Gives `all` (and named accounts) back as `applied` found them;
    /// refuses when the attribute is no longer what `applied` left.
    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let (name, _) = snapshot_of(target)?;
        let left: Restore = recorded(&applied.after, ID)?;
        let restore = recorded::<SnapshotState>(&applied.before, ID)?.restore;
        let current = recorded::<SnapshotState>(&now.state, ID)?.restore;
        unchanged_since(
            || format!("the restore attribute of RDS snapshot {name}"),
            &current,
            &left,
        )?;
        Ok(Change {
            summary: format!(
                "make RDS snapshot {name} restorable by anyone again (`all` back in its restore attribute)"
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
        takes_no_params(params, ID)?;
        let before: Restore = recorded(&change.before, ID)?;
        let after: Restore = recorded(&change.after, ID)?;
        self.write(target, &before, &after).await
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let now: Restore = recorded(&self.verify(target, params).await?.state, ID)?;
        Ok(now == recorded::<Restore>(&change.after, ID)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;
    use serde_json::json;

    #[test]
    fn restore_values_and_targets() {
        let r = Restore::of(&["444455556666".into(), "all".into(), "222233334444".into()]);
        assert!(r.public);
        assert_eq!(r.shared_with, ["222233334444", "444455556666"]);
        let t = target(
            "AwsRdsDbClusterSnapshot",
            "arn:aws:rds:us-east-1:111122223333:cluster-snapshot:c-1",
            Value::Null,
        );
        assert_eq!(snapshot_of(&t).unwrap(), ("c-1", true));
        let wrong = target(
            "AwsRdsDbSnapshot",
            "arn:aws:rds:us-east-1:111122223333:cluster-snapshot:c-1",
            Value::Null,
        );
        assert!(snapshot_of(&wrong).is_err());
        assert!(crate::actions::no_params(&json!({"x": 1}), ID).is_err());
    }
}
