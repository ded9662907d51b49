//! `aws.rds.make-instance-private`: an RDS DB instance that is publicly
//! accessible (Security Hub RDS.2, a critical control) is modified to
//! `PubliclyAccessible: false`, applied immediately: its endpoint resolves
//! to private addresses only. Clients that reach the database over the
//! internet lose access, so its jobs wait for a person's approval unless a
//! rule says otherwise; a security group that opens the database's port to
//! the whole internet says it was meant to be reached so, and stops even
//! an automatic job. The setting as it was can be restored (`rectify jobs
//! revert`).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::IpPermission;
use rectify_model::{Action, ActionError, ActionSpec, Change, ErrorClass, Event, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{event_target, rds_arn_of, rds_client, rds_error, rds_name, rds_tags};
use crate::actions::{collect_pages, ec2_client, recorded, takes_no_params, unchanged_since};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.rds.make-instance-private";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Make a publicly accessible RDS DB instance private (PubliclyAccessible false, applied immediately); clients on the internet lose access.",
    controls: &["RDS.2"],
    resource_types: &["AwsRdsDbInstance"],
    account_wide: false,
    permissions: &[
        "rds:DescribeDBInstances",
        "rds:ModifyDBInstance",
        "ec2:DescribeSecurityGroups",
    ],
    params: &[],
    // Describe the instance and its security groups, modify, describe the
    // instance again.
    calls_per_fix: 4,
    approval_by_default: true,
};

const TYPES: (&str, &str, &str) = ("AwsRdsDbInstance", "AWS::RDS::DBInstance", "db");

/// The instance as `check` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct InstanceState {
    /// The DB instance identifier.
    instance: String,
    publicly_accessible: bool,
    /// The endpoint clients connect to, `host:port`.
    #[serde(default)]
    endpoint: Option<String>,
    /// Ingress rules of its security groups that open its port to the
    /// whole internet (`sg-1 allows 5432 from 0.0.0.0/0`).
    #[serde(default)]
    open_to_internet: Vec<String>,
}

/// What the action changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Access {
    publicly_accessible: bool,
}

pub struct RdsMakeInstancePrivate {
    aws: Arc<Aws>,
}

/// A DB instance's resource id (`db-` and upper-case letters and digits,
/// as AWS Config names instances) rather than its identifier (lower case).
fn is_resource_id(name: &str) -> bool {
    name.starts_with("db-") && name.chars().any(|c| c.is_ascii_uppercase())
}

impl RdsMakeInstancePrivate {
    pub fn new(aws: Arc<Aws>) -> Self {
        RdsMakeInstancePrivate { aws }
    }

    /// The instance a target names, by identifier or resource id.
    async fn instance(
        &self,
        rds: &aws_sdk_rds::Client,
        target: &Target,
    ) -> Result<aws_sdk_rds::types::DbInstance, ActionError> {
        let name = rds_name(ID, target, TYPES.2)?;
        let request = rds.describe_db_instances();
        let request = if is_resource_id(name) {
            request.filters(
                aws_sdk_rds::types::Filter::builder()
                    .name("dbi-resource-id")
                    .values(name)
                    .build(),
            )
        } else {
            request.db_instance_identifier(name)
        };
        let out = request
            .send()
            .await
            .map_err(|e| rds_error("rds:DescribeDBInstances", name, e))?;
        let instance = out.db_instances().first().cloned().ok_or_else(|| {
            ActionError::new(
                ErrorClass::NotFound,
                format!("RDS DB instance {name} not found"),
            )
        })?;
        if let Some(owner) = instance
            .db_instance_arn()
            .and_then(|a| a.split(':').nth(4))
            .filter(|o| !o.is_empty() && *o != target.account)
        {
            return Err(ActionError::invalid(format!(
                "RDS DB instance {name} is in account {owner}, not {}; refused",
                target.account
            )));
        }
        Ok(instance)
    }

    /// Sets `PubliclyAccessible` of the instance, applied immediately.
    async fn write(&self, target: &Target, instance: &str, to: Access) -> Result<(), ActionError> {
        let rds = rds_client(&self.aws, target).await?;
        rds.modify_db_instance()
            .db_instance_identifier(instance)
            .publicly_accessible(to.publicly_accessible)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| rds_error("rds:ModifyDBInstance", instance, e))?;
        Ok(())
    }
}

/// Ingress rules of `groups` that let the whole internet reach `port`.
async fn open_to_internet(
    ec2: &aws_sdk_ec2::Client,
    groups: Vec<String>,
    port: i32,
) -> Result<Vec<String>, ActionError> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let what = groups.join(", ");
    let out = ec2
        .describe_security_groups()
        .set_group_ids(Some(groups))
        .send()
        .await
        .map_err(|e| sdk_error_on("ec2:DescribeSecurityGroups", &what, e))?;
    let covers = |p: &IpPermission| {
        p.ip_protocol() == Some("-1")
            || (p.ip_protocol() == Some("tcp")
                && p.from_port().unwrap_or(0) <= port
                && port <= p.to_port().unwrap_or(65535))
    };
    let mut open = Vec::new();
    for group in out.security_groups() {
        let id = group.group_id().unwrap_or_default();
        for p in group.ip_permissions().iter().filter(|p| covers(p)) {
            let v4 = p
                .ip_ranges()
                .iter()
                .filter_map(|r| r.cidr_ip())
                .filter(|c| *c == "0.0.0.0/0");
            let v6 = p
                .ipv6_ranges()
                .iter()
                .filter_map(|r| r.cidr_ipv6())
                .filter(|c| *c == "::/0");
            for cidr in v4.chain(v6) {
                open.push(format!("{id} allows port {port} from {cidr}"));
            }
        }
    }
    Ok(open)
}

#[async_trait]
impl Action for RdsMakeInstancePrivate {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    /// A `ModifyDBInstance` or `CreateDBInstance` call (its instance
    /// identifier), a Config evaluation of an instance (its resource id,
    /// looked up at check), or a finding's instance.
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        event_target(
            event,
            &[(TYPES.0, TYPES.1)],
            |place, detail| {
                let params = &detail["requestParameters"];
                // A renamed instance goes by its new name.
                let id = params["newDBInstanceIdentifier"]
                    .as_str()
                    .or_else(|| params["dBInstanceIdentifier"].as_str())?;
                Some((TYPES.0, rds_arn_of(place, TYPES.2, id)?))
            },
            |place, _, id| rds_arn_of(place, TYPES.2, id),
        )
    }

    /// The account's DB instances in the target's region.
    async fn inventory(&self, target: &Target, _: &Value) -> Result<Option<u64>, ActionError> {
        Ok(Some(self.discover_all(target).await?.len() as u64))
    }

    /// The account's publicly accessible DB instances.
    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        let here = Target::listed(account, region, TYPES.0, String::new());
        Ok(self
            .discover_all(&here)
            .await?
            .into_iter()
            .filter(|(_, public)| *public)
            .map(|(arn, _)| Target::listed(account, region, TYPES.0, arn))
            .collect())
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let rds = rds_client(&self.aws, target).await?;
        let instance = self.instance(&rds, target).await?;
        let public = instance.publicly_accessible().unwrap_or(false);
        let endpoint = instance
            .endpoint()
            .and_then(|e| Some(format!("{}:{}", e.address()?, e.port().unwrap_or_default())));
        let port = instance.endpoint().and_then(|e| e.port());
        let open = match port {
            Some(port) if public => {
                let groups = instance
                    .vpc_security_groups()
                    .iter()
                    .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
                    .collect();
                let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
                open_to_internet(&ec2, groups, port).await?
            }
            _ => Vec::new(),
        };
        let state = InstanceState {
            instance: instance
                .db_instance_identifier()
                .unwrap_or_default()
                .to_string(),
            publicly_accessible: public,
            endpoint,
            open_to_internet: open,
        };
        Ok(Observed::new(!public, state, rds_tags(instance.tag_list())))
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let before: InstanceState = recorded(&observed.state, ID)?;
        let summary = if before.publicly_accessible {
            format!(
                "make RDS DB instance {} private (PubliclyAccessible false, applied immediately): \
                 its endpoint {} no longer resolves to a public address, clients on the internet lose access",
                before.instance,
                before.endpoint.as_deref().unwrap_or("(none yet)")
            )
        } else {
            format!(
                "RDS DB instance {} is not publicly accessible",
                before.instance
            )
        };
        Ok(Change {
            summary,
            before: observed.state.clone(),
            after: serde_json::to_value(Access {
                publicly_accessible: false,
            })
            .expect("plain struct"),
        })
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let before: InstanceState = recorded(&change.before, ID)?;
        let after: Access = recorded(&change.after, ID)?;
        if before.publicly_accessible != after.publicly_accessible {
            self.write(target, &before.instance, after).await?;
        }
        Ok(())
    }

    /// Reads back only what the write changed.
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let rds = rds_client(&self.aws, target).await?;
        let instance = self.instance(&rds, target).await?;
        let access = Access {
            publicly_accessible: instance.publicly_accessible().unwrap_or(false),
        };
        Ok(Observed::new(
            !access.publicly_accessible,
            access,
            Default::default(),
        ))
    }

    /// Security groups that open the database's port to the internet: it
    /// was meant to be reached from there.
    fn intent(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        let Ok(state) = recorded::<InstanceState>(&observed.state, ID) else {
            return Vec::new();
        };
        if !state.publicly_accessible {
            return Vec::new();
        }
        state
            .open_to_internet
            .iter()
            .map(|rule| {
                format!(
                    "RDS DB instance {} is opened to the internet on purpose, it seems ({rule}): \
                     clients connecting over the internet lose access; approve the job to make it private anyway",
                    state.instance
                )
            })
            .collect()
    }

    fn revert_plan(
        &self,
        _: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let before: InstanceState = recorded(&applied.before, ID)?;
        let left: Access = recorded(&applied.after, ID)?;
        let current: InstanceState = recorded(&now.state, ID)?;
        let current_access = Access {
            publicly_accessible: current.publicly_accessible,
        };
        unchanged_since(
            || format!("PubliclyAccessible of RDS DB instance {}", before.instance),
            &current_access,
            &left,
        )?;
        Ok(Change {
            summary: format!(
                "make RDS DB instance {} publicly accessible again (PubliclyAccessible {}, applied immediately)",
                before.instance, before.publicly_accessible
            ),
            before: serde_json::to_value(&current).expect("plain struct"),
            after: serde_json::to_value(Access {
                publicly_accessible: before.publicly_accessible,
            })
            .expect("plain struct"),
        })
    }

    crate::actions::revert_by_apply!();

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let now = self.verify(target, params).await?;
        Ok(now.state == change.after)
    }
}

impl RdsMakeInstancePrivate {
    /// Every DB instance of the account in the target's region: its ARN
    /// and whether it is publicly accessible.
    async fn discover_all(&self, here: &Target) -> Result<Vec<(String, bool)>, ActionError> {
        let rds = rds_client(&self.aws, here).await?;
        collect_pages(|marker| {
            let request = rds.describe_db_instances().set_marker(marker);
            async move {
                let out = request.send().await.map_err(|e| {
                    rds_error("rds:DescribeDBInstances", "the account's DB instances", e)
                })?;
                let found = out
                    .db_instances()
                    .iter()
                    .filter_map(|i| {
                        Some((
                            i.db_instance_arn()?.to_string(),
                            i.publicly_accessible().unwrap_or(false),
                        ))
                    })
                    .collect();
                Ok((found, out.marker().map(str::to_string)))
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn resource_ids_and_intent() {
        assert!(is_resource_id("db-ABCDEFGHIJKL0123"));
        assert!(!is_resource_id("db-orders"));
        let state = json!({"instance": "orders", "publicly_accessible": true,
            "endpoint": "orders.x:5432", "open_to_internet": ["sg-1 allows port 5432 from 0.0.0.0/0"]});
        let observed = Observed {
            compliant: false,
            state,
            tags: Default::default(),
        };
        let t = crate::actions::testing::target("AwsRdsDbInstance", "orders", Value::Null);
        let aws = Arc::new(Aws::new(crate::AwsSettings::new("us-east-1")).await);
        let action = RdsMakeInstancePrivate::new(aws);
        let reasons = action.intent(&t, &json!({}), &observed);
        assert_eq!(reasons.len(), 1);
        assert!(reasons[0].contains("sg-1 allows port 5432"), "{reasons:?}");
    }
}
