//! `aws.redshift.make-cluster-private`: a Redshift cluster must not be
//! publicly accessible (Security Hub Redshift.1, AWS Config
//! `redshift-cluster-public-access-check`): `ModifyCluster` with
//! `PubliclyAccessible` false. Clients outside the cluster's VPC lose it,
//! so its jobs wait for a person's approval by default; a cluster with an
//! Elastic IP (a public address chosen on purpose) is named as such in the
//! plan. The setting is read back: while AWS still applies it (the cluster
//! is `modifying`) the fix is not counted as done. The undo makes the
//! cluster public again.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{Action, ActionError, ActionSpec, Change, Event, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::actions::event_resources::{bad_id, plain_name, target_of};
use crate::actions::{
    changed_since, client_for, collect_pages, recorded, tag_map, takes_no_params,
};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.redshift.make-cluster-private";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Make a Redshift cluster not publicly accessible.",
    controls: &["Redshift.1"],
    resource_types: &["AwsRedshiftCluster"],
    account_wide: false,
    permissions: &["redshift:DescribeClusters", "redshift:ModifyCluster"],
    params: &[],
    // DescribeClusters, ModifyCluster, DescribeClusters.
    calls_per_fix: 3,
    approval_by_default: true,
};

/// The cluster as `check` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ClusterState {
    cluster: String,
    publicly_accessible: bool,
    /// The Elastic IP it is reached by, if one was chosen.
    elastic_ip: Option<String>,
    status: Option<String>,
}

fn cluster_of(target: &Target) -> Result<&str, ActionError> {
    let id = target.resource_id.as_str();
    let name = target.resource_name();
    if !id.starts_with("arn:") || !id.contains(":redshift:") || !id.contains(":cluster:") {
        return Err(bad_id(ID, "Redshift cluster", target));
    }
    plain_name(name, 63, "-").ok_or_else(|| bad_id(ID, "Redshift cluster", target))
}

pub struct RedshiftMakeClusterPrivate {
    aws: Arc<Aws>,
}

impl RedshiftMakeClusterPrivate {
    pub fn new(aws: Arc<Aws>) -> Self {
        RedshiftMakeClusterPrivate { aws }
    }

    async fn client(&self, target: &Target) -> Result<aws_sdk_redshift::Client, ActionError> {
        client_for(&self.aws, target, aws_sdk_redshift::Client::new).await
    }

    async fn write(&self, target: &Target, public: bool) -> Result<(), ActionError> {
        let name = cluster_of(target)?;
        self.client(target)
            .await?
            .modify_cluster()
            .cluster_identifier(name)
            .publicly_accessible(public)
            .send()
            .await
            .map_err(|e| sdk_error_on("redshift:ModifyCluster", name, e))?;
        Ok(())
    }

    async fn clusters(
        &self,
        redshift: &aws_sdk_redshift::Client,
        name: Option<&str>,
    ) -> Result<Vec<aws_sdk_redshift::types::Cluster>, ActionError> {
        collect_pages(|marker| {
            let request = redshift
                .describe_clusters()
                .set_cluster_identifier(name.map(str::to_string))
                .set_marker(marker);
            async move {
                let out = request.send().await.map_err(|e| {
                    sdk_error_on(
                        "redshift:DescribeClusters",
                        name.unwrap_or("the account's clusters"),
                        e,
                    )
                })?;
                Ok((out.clusters().to_vec(), out.marker().map(str::to_string)))
            }
        })
        .await
    }
}

#[async_trait]
impl Action for RedshiftMakeClusterPrivate {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    /// A finding's cluster; the cluster of a `ModifyCluster` call
    /// (`requestParameters.clusterIdentifier`); the cluster of a Config
    /// evaluation (`AWS::Redshift::Cluster`, by identifier).
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        let arn = |p: &crate::actions::event_resources::Place, name: &str| {
            plain_name(name, 63, "-").map(|n| p.arn("redshift", &format!("cluster:{n}")))
        };
        target_of(
            event,
            SPEC.resource_types,
            "AwsRedshiftCluster",
            |p, d| arn(p, d["requestParameters"]["clusterIdentifier"].as_str()?),
            "AWS::Redshift::Cluster",
            arn,
        )
    }

    async fn inventory(&self, target: &Target, _: &Value) -> Result<Option<u64>, ActionError> {
        let redshift = self.client(target).await?;
        Ok(Some(self.clusters(&redshift, None).await?.len() as u64))
    }

    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        let config = self.aws.config_for(account, region).await?;
        let redshift = aws_sdk_redshift::Client::new(&config);
        let partition = rectify_model::partition_of(region);
        Ok(self
            .clusters(&redshift, None)
            .await?
            .iter()
            .filter_map(|c| c.cluster_identifier())
            .map(|name| {
                Target::listed(
                    account,
                    region,
                    "AwsRedshiftCluster",
                    format!("arn:{partition}:redshift:{region}:{account}:cluster:{name}"),
                )
            })
            .collect())
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let name = cluster_of(target)?;
        let redshift = self.client(target).await?;
        let found = self.clusters(&redshift, Some(name)).await?;
        let cluster = found
            .iter()
            .find(|c| c.cluster_identifier() == Some(name))
            .ok_or_else(|| {
                ActionError::new(
                    rectify_model::ErrorClass::NotFound,
                    format!("Redshift cluster {name} not found"),
                )
            })?;
        let state = ClusterState {
            cluster: name.to_string(),
            publicly_accessible: cluster.publicly_accessible().unwrap_or(false),
            elastic_ip: cluster
                .elastic_ip_status()
                .and_then(|e| e.elastic_ip())
                .map(str::to_string),
            status: cluster.cluster_status().map(str::to_string),
        };
        let tags = tag_map(
            cluster
                .tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
        );
        Ok(Observed::new(!state.publicly_accessible, state, tags))
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let before: ClusterState = recorded(&observed.state, ID)?;
        let summary = if before.publicly_accessible {
            format!(
                "make Redshift cluster {} not publicly accessible (clients outside its VPC lose it)",
                before.cluster
            )
        } else {
            format!(
                "Redshift cluster {} is not publicly accessible",
                before.cluster
            )
        };
        Ok(Change {
            summary,
            after: json!({"cluster": before.cluster, "publicly_accessible": false}),
            before: observed.state.clone(),
        })
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let before: ClusterState = recorded(&change.before, ID)?;
        if before.publicly_accessible {
            self.write(target, false).await?;
        }
        Ok(())
    }

    /// A public cluster with an Elastic IP: an address chosen so that it
    /// is reached from outside.
    fn intent(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        match recorded::<ClusterState>(&observed.state, ID) {
            Ok(ClusterState {
                cluster,
                publicly_accessible: true,
                elastic_ip: Some(ip),
                ..
            }) => vec![format!(
                "Redshift cluster {cluster} is reached at Elastic IP {ip}, an address chosen for \
                 access from outside its VPC; approve to make it private anyway"
            )],
            _ => Vec::new(),
        }
    }

    fn revert_plan(
        &self,
        _: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let found: ClusterState = recorded(&applied.before, ID)?;
        let current: ClusterState = recorded(&now.state, ID)?;
        if current.publicly_accessible {
            return Err(changed_since(
                &format!("public access of Redshift cluster {}", current.cluster),
                &json!({"publicly_accessible": true}),
                &json!({"publicly_accessible": false}),
            ));
        }
        Ok(Change {
            summary: format!(
                "make Redshift cluster {} publicly accessible again",
                current.cluster
            ),
            before: json!({"cluster": current.cluster, "publicly_accessible": false}),
            after: json!({"cluster": current.cluster, "publicly_accessible": found.publicly_accessible}),
        })
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        if change.after["publicly_accessible"] == true {
            self.write(target, true).await?;
        }
        Ok(())
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let now: ClusterState = recorded(&self.check(target, params).await?.state, ID)?;
        Ok(change.after["publicly_accessible"] == now.publicly_accessible)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;

    #[tokio::test]
    async fn cluster_ids_and_intent() {
        let t = target(
            "AwsRedshiftCluster",
            "arn:aws:redshift:us-east-1:111122223333:cluster:analytics",
            Value::Null,
        );
        assert_eq!(cluster_of(&t).unwrap(), "analytics");
        assert!(cluster_of(&target("AwsRedshiftCluster", "analytics", Value::Null)).is_err());
        assert!(cluster_of(&target(
            "AwsRedshiftCluster",
            "arn:aws:redshift:us-east-1:111122223333:snapshot:a/b",
            Value::Null
        ))
        .is_err());
        let action = |state: Value| Observed {
            compliant: false,
            state,
            tags: Default::default(),
        };
        let with_ip = action(json!({"cluster": "analytics", "publicly_accessible": true,
                                    "elastic_ip": "203.0.113.9", "status": "available"}));
        let r = RedshiftMakeClusterPrivate::new(Arc::new(
            Aws::new(crate::AwsSettings::new("us-east-1")).await,
        ));
        assert!(r.intent(&t, &Value::Null, &with_ip)[0].contains("203.0.113.9"));
        let without = action(json!({"cluster": "analytics", "publicly_accessible": true,
                                    "elastic_ip": null, "status": "available"}));
        assert!(r.intent(&t, &Value::Null, &without).is_empty());
    }
}
