//! `aws.ec2.restrict-default-security-group`: a VPC's default security
//! group allows no traffic (Security Hub EC2.2, CIS 5.4): revokes every
//! ingress and egress rule of it. Resources that still use the default
//! group lose their network access through it, so rules on this action
//! are best left in `approve` mode. Any other group is refused.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, SecurityGroupRule};
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, Target};
use serde_json::{json, Value};

use crate::actions::ec2_revoke_public_admin_ingress::{group_id, group_rules, revoke_rules};
use crate::actions::{collect_pages, ec2_client, no_params, tag_map};
use crate::errors::{sdk_error, sdk_error_on};
use crate::Aws;

pub const ID: &str = "aws.ec2.restrict-default-security-group";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Revoke every ingress and egress rule of a VPC's default security group.",
    controls: &["EC2.2"],
    resource_types: &["AwsEc2SecurityGroup"],
    account_wide: false,
    permissions: &[
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSecurityGroupRules",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupEgress",
    ],
    params: &[],
};

fn validate(params: &Value) -> Result<(), String> {
    no_params(params, ID)
}

pub struct Ec2RestrictDefaultSecurityGroup {
    aws: Arc<Aws>,
}

impl Ec2RestrictDefaultSecurityGroup {
    pub fn new(aws: Arc<Aws>) -> Self {
        Ec2RestrictDefaultSecurityGroup { aws }
    }
}

/// A rule as shown in a plan: its id, and what it lets through.
fn describe(rule: &SecurityGroupRule) -> Value {
    let peer = rule
        .cidr_ipv4()
        .or(rule.cidr_ipv6())
        .or(rule.prefix_list_id())
        .map(str::to_string)
        .or_else(|| {
            rule.referenced_group_info()
                .and_then(|g| g.group_id())
                .map(|g| format!("group {g}"))
        })
        .unwrap_or_default();
    json!({
        "rule_id": rule.security_group_rule_id(),
        "protocol": rule.ip_protocol(),
        "from_port": rule.from_port(),
        "to_port": rule.to_port(),
        "peer": peer,
    })
}

fn rule_ids(state: &Value, direction: &str) -> Vec<String> {
    state[direction]
        .as_array()
        .map(|rules| {
            rules
                .iter()
                .filter_map(|r| r["rule_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[async_trait]
impl Action for Ec2RestrictDefaultSecurityGroup {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        validate(params)
    }

    /// The default security groups of the account's VPCs in `region`.
    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        let ec2 = ec2_client(&self.aws, account, region).await?;
        let partition = rectify_model::partition_of(region);
        collect_pages(|token| {
            let request = ec2
                .describe_security_groups()
                .filters(
                    Filter::builder()
                        .name("group-name")
                        .values("default")
                        .build(),
                )
                .set_next_token(token);
            async move {
                let out = request
                    .send()
                    .await
                    .map_err(|e| sdk_error("ec2:DescribeSecurityGroups", e))?;
                let groups = out
                    .security_groups()
                    .iter()
                    .filter(|g| g.group_name() == Some("default"))
                    .filter_map(|g| {
                        let id = g.group_id()?;
                        Some(Target::listed(
                            account,
                            region,
                            "AwsEc2SecurityGroup",
                            format!("arn:{partition}:ec2:{region}:{account}:security-group/{id}"),
                        ))
                    })
                    .collect();
                Ok((groups, out.next_token().map(str::to_string)))
            }
        })
        .await
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        validate(params).map_err(ActionError::invalid)?;
        let group = group_id(target)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let out = ec2
            .describe_security_groups()
            .group_ids(&group)
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeSecurityGroups", &group, e))?;
        let sg = out.security_groups().first().ok_or_else(|| {
            ActionError::new(
                rectify_model::ErrorClass::NotFound,
                format!("security group {group} not found"),
            )
        })?;
        if sg.group_name() != Some("default") {
            return Err(ActionError::invalid(format!(
                "{ID}: {group} ({}) is not a VPC's default security group; only those are emptied",
                sg.group_name().unwrap_or("?")
            )));
        }
        let rules = group_rules(&ec2, &group).await?;
        let (egress, ingress): (Vec<&SecurityGroupRule>, Vec<&SecurityGroupRule>) =
            rules.iter().partition(|r| r.is_egress() == Some(true));
        Ok(Observed {
            compliant: rules.is_empty(),
            state: json!({
                "group_id": group,
                "ingress": ingress.iter().map(|r| describe(r)).collect::<Vec<_>>(),
                "egress": egress.iter().map(|r| describe(r)).collect::<Vec<_>>(),
            }),
            tags: tag_map(
                sg.tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
            ),
        })
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        validate(params).map_err(ActionError::invalid)?;
        let group = group_id(target)?;
        let (ingress, egress) = (
            rule_ids(&observed.state, "ingress").len(),
            rule_ids(&observed.state, "egress").len(),
        );
        let summary = if ingress + egress == 0 {
            format!("default security group {group} already allows no traffic")
        } else {
            format!(
                "revoke {ingress} ingress and {egress} egress rule(s) of default security group {group}"
            )
        };
        Ok(Change {
            summary,
            before: observed.state.clone(),
            after: json!({ "group_id": group, "ingress": [], "egress": [] }),
        })
    }

    /// Revokes the rules the plan named (a rule added since is found by
    /// the verify that follows).
    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        validate(params).map_err(ActionError::invalid)?;
        let group = group_id(target)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        revoke_rules(&ec2, &group, rule_ids(&change.before, "ingress"), false).await?;
        revoke_rules(&ec2, &group, rule_ids(&change.before, "egress"), true).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_by_direction() {
        let state = json!({
            "group_id": "sg-1",
            "ingress": [{"rule_id": "sgr-1"}, {"rule_id": "sgr-2"}],
            "egress": [{"rule_id": "sgr-3"}]
        });
        assert_eq!(rule_ids(&state, "ingress"), ["sgr-1", "sgr-2"]);
        assert_eq!(rule_ids(&state, "egress"), ["sgr-3"]);
        assert!(rule_ids(&json!({}), "egress").is_empty());
        assert!(validate(&json!({"keep": 1})).is_err());
    }
}
