//! `aws.ec2.restrict-default-security-group`: a VPC's default security
//! group allows no traffic (Security Hub EC2.2, CIS 5.4): revokes every
//! ingress and egress rule of it. Resources that still use the default
//! group lose their network access through it: the check lists the
//! network interfaces in the group (EFS mount targets, interface
//! endpoints, RDS, Lambda, ...) and, when there are any, the change waits
//! for a person's approval with that list. Any other group is refused.
//! Undo: the rules come back with their descriptions.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, PrefixListId, SecurityGroupRule, UserIdGroupPair,
};
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, Target};
use serde_json::{json, Value};

use crate::actions::ec2::revoke_public_admin_ingress::{group_id, group_rules, revoke_rules};
use crate::actions::ec2::targets::group_target;
use crate::actions::{collect_pages, ec2_client, tag_map, takes_no_params};
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
        "ec2:DescribeNetworkInterfaces",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:AuthorizeSecurityGroupEgress",
    ],
    params: &[],
    // Check: the group (name, tags), its rules, the interfaces in it;
    // revoke ingress, revoke egress; read-back of the rules.
    calls_per_fix: 6,
    approval_by_default: true,
};

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
        "cidr_ipv4": rule.cidr_ipv4(),
        "cidr_ipv6": rule.cidr_ipv6(),
        "prefix_list_id": rule.prefix_list_id(),
        "group": rule.referenced_group_info().and_then(|g| g.group_id()),
        "description": rule.description().filter(|d| !d.is_empty()),
    })
}

/// A described rule without its id: what a restore brings back.
fn without_id(rule: &Value) -> Value {
    let mut rule = rule.clone();
    if let Some(map) = rule.as_object_mut() {
        map.remove("rule_id");
    }
    rule
}

/// The rules of one direction, without ids, sorted: for comparisons.
fn rule_set(state: &Value, direction: &str) -> Vec<String> {
    let mut all: Vec<String> = state[direction]
        .as_array()
        .map(|rules| rules.iter().map(|r| without_id(r).to_string()).collect())
        .unwrap_or_default();
    all.sort();
    all
}

/// The permission that re-creates a described rule.
fn permission(rule: &Value) -> IpPermission {
    let text = |key: &str| rule[key].as_str().map(str::to_string);
    let description = text("description");
    let mut p = IpPermission::builder()
        .set_ip_protocol(text("protocol"))
        .set_from_port(rule["from_port"].as_i64().map(|n| n as i32))
        .set_to_port(rule["to_port"].as_i64().map(|n| n as i32));
    if let Some(cidr) = text("cidr_ipv4") {
        p = p.ip_ranges(
            IpRange::builder()
                .cidr_ip(cidr)
                .set_description(description)
                .build(),
        );
    } else if let Some(cidr) = text("cidr_ipv6") {
        p = p.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(cidr)
                .set_description(description)
                .build(),
        );
    } else if let Some(list) = text("prefix_list_id") {
        p = p.prefix_list_ids(
            PrefixListId::builder()
                .prefix_list_id(list)
                .set_description(description)
                .build(),
        );
    } else if let Some(group) = text("group") {
        p = p.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(group)
                .set_description(description)
                .build(),
        );
    }
    p.build()
}

/// The network interfaces in the group, as a person can tell them apart.
async fn interfaces(ec2: &aws_sdk_ec2::Client, group: &str) -> Result<Vec<Value>, ActionError> {
    collect_pages(|token| {
        let request = ec2
            .describe_network_interfaces()
            .filters(Filter::builder().name("group-id").values(group).build())
            .set_next_token(token);
        async move {
            let out = request
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:DescribeNetworkInterfaces", group, e))?;
            let items = out
                .network_interfaces()
                .iter()
                .map(|n| {
                    json!({
                        "id": n.network_interface_id(),
                        "description": n.description().unwrap_or_default(),
                        "type": n.interface_type().map(|t| t.as_str().to_string()),
                        "requester": n.requester_id(),
                        "instance": n.attachment().and_then(|a| a.instance_id()),
                    })
                })
                .collect();
            Ok((items, out.next_token().map(str::to_string)))
        }
    })
    .await
}

/// How one interface reads in a reason: `eni-1 (EFS mount target for
/// fs-1, requester amazon-elasticfilesystem)`.
fn interface_text(n: &Value) -> String {
    let mut about: Vec<String> = Vec::new();
    for key in ["description", "type", "requester", "instance"] {
        if let Some(v) = n[key].as_str().filter(|v| !v.is_empty()) {
            about.push(if key == "description" {
                v.to_string()
            } else {
                format!("{key} {v}")
            });
        }
    }
    format!("{} ({})", n["id"].as_str().unwrap_or("?"), about.join(", "))
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

/// The group's rules, by direction: compliant when there are none.
async fn rules_state(ec2: &aws_sdk_ec2::Client, group: &str) -> Result<Observed, ActionError> {
    let rules = group_rules(ec2, group).await?;
    let (egress, ingress): (Vec<&SecurityGroupRule>, Vec<&SecurityGroupRule>) =
        rules.iter().partition(|r| r.is_egress() == Some(true));
    Ok(Observed {
        compliant: rules.is_empty(),
        state: json!({
            "group_id": group,
            "ingress": ingress.iter().map(|r| describe(r)).collect::<Vec<_>>(),
            "egress": egress.iter().map(|r| describe(r)).collect::<Vec<_>>(),
        }),
        tags: Default::default(),
    })
}

#[async_trait]
impl Action for Ec2RestrictDefaultSecurityGroup {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    /// The default security groups of the account's VPCs in `region`.
    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        let ec2 = ec2_client(&self.aws, account, region).await?;
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
                    .filter_map(|g| group_target(account, region, g))
                    .collect();
                Ok((groups, out.next_token().map(str::to_string)))
            }
        })
        .await
    }

    /// The default groups among the region's security groups, listed
    /// once per scan.
    async fn discover_in_scan(
        &self,
        account: &str,
        region: &str,
        reads: &rectify_model::ScanReads,
    ) -> Result<Vec<Target>, ActionError> {
        let groups =
            crate::checks::reads::security_groups(&self.aws, reads, account, region).await?;
        Ok(groups
            .iter()
            .filter(|g| g.group_name() == Some("default"))
            .filter_map(|g| group_target(account, region, g))
            .collect())
    }

    /// A default group the scan's listing shows without rules complies as
    /// listed; one with rules is read as [`Action::check`] reads it (its
    /// rule ids and the interfaces using it are what a plan needs).
    async fn check_in_scan(
        &self,
        target: &Target,
        params: &Value,
        reads: &rectify_model::ScanReads,
    ) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let group = group_id(target)?;
        let groups = crate::checks::reads::security_groups(
            &self.aws,
            reads,
            &target.account,
            &target.region,
        )
        .await?;
        match groups.iter().find(|g| g.group_id() == Some(group.as_str())) {
            Some(sg)
                if sg.group_name() == Some("default")
                    && sg.ip_permissions().is_empty()
                    && sg.ip_permissions_egress().is_empty() =>
            {
                Ok(Observed {
                    compliant: true,
                    state: json!({"group_id": group, "ingress": [], "egress": [], "interfaces": []}),
                    tags: tag_map(
                        sg.tags()
                            .iter()
                            .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
                    ),
                })
            }
            _ => self.check(target, params).await,
        }
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
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
        let mut state = rules_state(&ec2, &group).await?;
        // Who would lose traffic matters only when there are rules to revoke.
        let users = if state.compliant {
            Vec::new()
        } else {
            interfaces(&ec2, &group).await?
        };
        state.state["interfaces"] = json!(users);
        Ok(Observed {
            compliant: state.compliant,
            state: state.state,
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
        takes_no_params(params, ID)?;
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
            after: json!({
                "group_id": group,
                "ingress": [],
                "egress": [],
                "interfaces": observed.state["interfaces"],
            }),
        })
    }

    /// Interfaces in the group: their traffic through it stops.
    fn intent(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        let users = observed.state["interfaces"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if users.is_empty() {
            return Vec::new();
        }
        vec![format!(
            "{} network interface(s) use this default security group and lose the traffic its rules allow: {}; move them to a group of their own first, or approve",
            users.len(),
            users.iter().map(interface_text).collect::<Vec<_>>().join("; ")
        )]
    }

    /// Brings back the rules the change revoked, when the group has no
    /// rule now (a rule added since would be mixed with the old ones).
    fn revert_plan(
        &self,
        target: &Target,
        _: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        let group = group_id(target)?;
        let added: Vec<String> = ["ingress", "egress"]
            .iter()
            .flat_map(|d| rule_set(&now.state, d))
            .collect();
        if !added.is_empty() {
            return Err(ActionError::invalid(format!(
                "default security group {group} has rules again since rectify emptied it ({}); rectify will not mix the old rules with them: restore by hand",
                added.join(", ")
            )));
        }
        let restore = |d: &str| -> Vec<Value> {
            applied.before[d]
                .as_array()
                .map(|rules| rules.iter().map(without_id).collect())
                .unwrap_or_default()
        };
        let (ingress, egress) = (restore("ingress"), restore("egress"));
        Ok(Change {
            summary: format!(
                "restore {} ingress and {} egress rule(s) of default security group {group}, descriptions kept (with new rule ids)",
                ingress.len(),
                egress.len()
            ),
            before: json!({"group_id": group, "ingress": [], "egress": []}),
            after: json!({"group_id": group, "ingress": ingress, "egress": egress}),
        })
    }

    async fn revert(&self, target: &Target, _: &Value, change: &Change) -> Result<(), ActionError> {
        let group = group_id(target)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let now = group_rules(&ec2, &group).await?;
        let present: Vec<String> = now
            .iter()
            .map(|r| without_id(&describe(r)).to_string())
            .collect();
        // Only what is missing: a rerun adds nothing twice.
        let missing = |d: &str| -> Vec<IpPermission> {
            change.after[d]
                .as_array()
                .map(|rules| {
                    rules
                        .iter()
                        .filter(|r| !present.contains(&without_id(r).to_string()))
                        .map(permission)
                        .collect()
                })
                .unwrap_or_default()
        };
        let (ingress, egress) = (missing("ingress"), missing("egress"));
        if !ingress.is_empty() {
            ec2.authorize_security_group_ingress()
                .group_id(&group)
                .set_ip_permissions(Some(ingress))
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:AuthorizeSecurityGroupIngress", &group, e))?;
        }
        if !egress.is_empty() {
            ec2.authorize_security_group_egress()
                .group_id(&group)
                .set_ip_permissions(Some(egress))
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:AuthorizeSecurityGroupEgress", &group, e))?;
        }
        Ok(())
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let now = self.check(target, params).await?;
        Ok(["ingress", "egress"]
            .iter()
            .all(|d| rule_set(&now.state, d) == rule_set(&change.after, d)))
    }

    /// Reads back only what the write changed: the group's rules.
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let group = group_id(target)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        rules_state(&ec2, &group).await
    }

    /// Revokes the rules the plan named (a rule added since is found by
    /// the verify that follows).
    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
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
        assert!(crate::actions::no_params(&json!({"keep": 1}), ID).is_err());
    }
}
