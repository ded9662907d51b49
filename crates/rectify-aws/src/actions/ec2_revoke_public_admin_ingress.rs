//! `aws.ec2.revoke-public-admin-ingress`: revokes the ingress rules of a
//! security group that open admin ports (22, 3389 by default) to the whole
//! internet (`0.0.0.0/0`, `::/0`). Every other rule is kept; of a
//! permission that lists several ranges only the open one goes.
//! Security Hub EC2.13, EC2.14, EC2.19 (EC2.19 covers more high-risk ports
//! than admin ones: add them to `ports` to cover it fully).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, SecurityGroupRule};
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::actions::{collect_pages, ec2_client, kind_of, params_object, reject_unknown, tag_map};
use crate::errors::{sdk_error, sdk_error_on};
use crate::Aws;

pub const ID: &str = "aws.ec2.revoke-public-admin-ingress";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Revoke security group ingress rules that open admin ports to 0.0.0.0/0 or ::/0.",
    controls: &["EC2.13", "EC2.14", "EC2.19"],
    resource_types: &["AwsEc2SecurityGroup"],
    account_wide: false,
    permissions: &[
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSecurityGroupRules",
        "ec2:RevokeSecurityGroupIngress",
    ],
    params: &[ParamSpec {
        name: "ports",
        kind: "array",
        default: "[22, 3389]",
        doc: "TCP/UDP ports that must not be open to the internet.",
    }],
};

const DEFAULT_PORTS: [u16; 2] = [22, 3389];

/// One ingress rule open to the internet on an admin port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRule {
    pub rule_id: String,
    /// `-1` (all), `tcp`, `udp` or a protocol number.
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    pub cidr: String,
}

impl OpenRule {
    fn same_permission(&self, other: &OpenRule) -> bool {
        self.protocol == other.protocol
            && self.from_port == other.from_port
            && self.to_port == other.to_port
            && self.cidr == other.cidr
    }
}

fn parse_ports(params: &Value) -> Result<Vec<u16>, String> {
    let params = params_object(params)?;
    reject_unknown(&params, &["ports"], ID)?;
    let Some(value) = params.get("ports") else {
        return Ok(DEFAULT_PORTS.to_vec());
    };
    let items = value.as_array().ok_or_else(|| {
        format!(
            "params.ports: expected an array of integers, got {}",
            kind_of(value)
        )
    })?;
    if items.is_empty() {
        return Err("params.ports: expected at least one port".into());
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| format!("params.ports[{i}]: expected an integer 0..65535, got {v}"))
        })
        .collect()
}

/// The group id: `Details.AwsEc2SecurityGroup.GroupId`, else the last
/// segment of the resource id.
pub fn group_id(target: &Target) -> Result<String, ActionError> {
    if let Some(id) = target
        .details
        .pointer("/AwsEc2SecurityGroup/GroupId")
        .and_then(Value::as_str)
    {
        return Ok(id.to_string());
    }
    let name = target.resource_name();
    if name.starts_with("sg-") {
        Ok(name.to_string())
    } else {
        Err(ActionError::invalid(format!(
            "{ID}: no security group id in resource {:?}",
            target.resource_id
        )))
    }
}

const WORLD: [&str; 2] = ["0.0.0.0/0", "::/0"];

/// The rule as an `OpenRule` when it is ingress and open to the world,
/// whatever its ports.
pub fn world_rule(rule: &SecurityGroupRule) -> Option<OpenRule> {
    if rule.is_egress().unwrap_or(false) {
        return None;
    }
    let cidr = rule
        .cidr_ipv4()
        .filter(|c| WORLD.contains(c))
        .or_else(|| rule.cidr_ipv6().filter(|c| WORLD.contains(c)))?;
    Some(OpenRule {
        rule_id: rule
            .security_group_rule_id()
            .unwrap_or_default()
            .to_string(),
        protocol: rule.ip_protocol().unwrap_or("-1").to_ascii_lowercase(),
        from_port: rule.from_port().unwrap_or(-1),
        to_port: rule.to_port().unwrap_or(-1),
        cidr: cidr.to_string(),
    })
}

/// The rule as an `OpenRule` when it is ingress, open to the world and
/// covers one of `ports` (all protocols, or TCP/UDP with a range
/// including the port).
pub fn open_rule(rule: &SecurityGroupRule, ports: &[u16]) -> Option<OpenRule> {
    let open = world_rule(rule)?;
    let (from, to) = (open.from_port, open.to_port);
    let covers = match open.protocol.as_str() {
        "-1" | "all" => true,
        "tcp" | "udp" | "6" | "17" => {
            from < 0 || to < 0 || ports.iter().any(|&p| (from..=to).contains(&i32::from(p)))
        }
        _ => false,
    };
    covers.then_some(open)
}

pub struct Ec2RevokePublicAdminIngress {
    aws: Arc<Aws>,
}

impl Ec2RevokePublicAdminIngress {
    pub fn new(aws: Arc<Aws>) -> Self {
        Ec2RevokePublicAdminIngress { aws }
    }
}

pub(crate) async fn group_rules(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
) -> Result<Vec<SecurityGroupRule>, ActionError> {
    let mut rules = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = ec2
            .describe_security_group_rules()
            .filters(Filter::builder().name("group-id").values(group).build())
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeSecurityGroupRules", group, e))?;
        rules.extend(out.security_group_rules().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(rules),
        }
    }
}

fn state(group: &str, ports: &[u16], open: &[OpenRule]) -> Value {
    json!({ "group_id": group, "ports": ports, "open_ingress": open })
}

fn open_rules_of(value: &Value) -> Result<Vec<OpenRule>, ActionError> {
    serde_json::from_value(value.get("open_ingress").cloned().unwrap_or(Value::Null))
        .map_err(|e| ActionError::invalid(format!("{ID}: unexpected state: {e}")))
}

#[async_trait]
impl Action for Ec2RevokePublicAdminIngress {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        parse_ports(params).map(|_| ())
    }

    /// The account's security groups in the target's region.
    async fn inventory(&self, target: &Target, _: &Value) -> Result<Option<u64>, ActionError> {
        let groups = self.discover(&target.account, &target.region).await?;
        Ok(Some(groups.len() as u64))
    }

    /// The account's security groups in `region`, with their tags.
    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        let ec2 = ec2_client(&self.aws, account, region).await?;
        let partition = rectify_model::partition_of(region);
        collect_pages(|token| {
            let request = ec2.describe_security_groups().set_next_token(token);
            async move {
                let out = request
                    .send()
                    .await
                    .map_err(|e| sdk_error("ec2:DescribeSecurityGroups", e))?;
                let groups = out
                    .security_groups()
                    .iter()
                    .filter_map(|g| {
                        let id = g.group_id()?;
                        let mut target = Target::listed(
                            account,
                            region,
                            "AwsEc2SecurityGroup",
                            format!("arn:{partition}:ec2:{region}:{account}:security-group/{id}"),
                        );
                        target.tags = tag_map(
                            g.tags()
                                .iter()
                                .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
                        );
                        Some(target)
                    })
                    .collect();
                Ok((groups, out.next_token().map(str::to_string)))
            }
        })
        .await
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let ports = parse_ports(params).map_err(ActionError::invalid)?;
        let group = group_id(target)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;

        // The group itself: it must exist, and carries the tags.
        let out = ec2
            .describe_security_groups()
            .group_ids(&group)
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeSecurityGroups", &group, e))?;
        let sg = out.security_groups().first().ok_or_else(|| {
            ActionError::new(
                rectify_model::ErrorClass::NotFound,
                format!(
                    "ec2:DescribeSecurityGroups: InvalidGroup.NotFound: {group} does not exist"
                ),
            )
        })?;
        let tags = tag_map(
            sg.tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
        );

        let open: Vec<OpenRule> = group_rules(&ec2, &group)
            .await?
            .iter()
            .filter(|r| r.group_id().is_none_or(|g| g == group))
            .filter_map(|r| open_rule(r, &ports))
            .collect();
        Ok(Observed {
            compliant: open.is_empty(),
            state: state(&group, &ports, &open),
            tags,
        })
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        let ports = parse_ports(params).map_err(ActionError::invalid)?;
        let group = group_id(target)?;
        let open = open_rules_of(&observed.state)?;
        let summary = if open.is_empty() {
            format!("no ingress rule of {group} opens ports {ports:?} to the internet")
        } else {
            let list: Vec<String> = open
                .iter()
                .map(|r| {
                    let what = match (r.protocol.as_str(), r.from_port, r.to_port) {
                        ("-1", _, _) => "all traffic".to_string(),
                        (p, f, t) if f == t => format!("{p}/{f}"),
                        (p, f, t) => format!("{p}/{f}-{t}"),
                    };
                    format!("{what} from {}", r.cidr)
                })
                .collect();
            format!("revoke ingress of {group}: {}", list.join(", "))
        };
        Ok(Change {
            summary,
            before: state(&group, &ports, &open),
            after: state(&group, &ports, &[]),
        })
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        parse_ports(params).map_err(ActionError::invalid)?;
        let group = group_id(target)?;
        if let Some(planned_group) = change.before.get("group_id").and_then(Value::as_str) {
            if planned_group != group {
                return Err(ActionError::invalid(format!(
                    "{ID}: the change was planned for {planned_group}, not {group}"
                )));
            }
        }
        let planned = open_rules_of(&change.before)?;
        if planned.is_empty() {
            return Ok(());
        }
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        // Revoke exactly the planned rules that still exist: a rerun after a
        // crash finds them gone and does nothing. A planned rule recreated
        // under a new id is matched by its protocol, ports and range.
        let current = group_rules(&ec2, &group).await?;
        let ids: Vec<String> = current
            .iter()
            .filter_map(world_rule)
            .filter(|r| {
                planned
                    .iter()
                    .any(|p| p.rule_id == r.rule_id || p.same_permission(r))
            })
            .map(|r| r.rule_id)
            .filter(|id| !id.is_empty())
            .collect();
        revoke_rules(&ec2, &group, ids, false).await
    }
}

/// Revokes the group's rules with these ids (ingress, or egress); none is
/// nothing to do.
pub(crate) async fn revoke_rules(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    ids: Vec<String>,
    egress: bool,
) -> Result<(), ActionError> {
    if ids.is_empty() {
        return Ok(());
    }
    if egress {
        ec2.revoke_security_group_egress()
            .group_id(group)
            .set_security_group_rule_ids(Some(ids))
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:RevokeSecurityGroupEgress", group, e))?;
    } else {
        ec2.revoke_security_group_ingress()
            .group_id(group)
            .set_security_group_rule_ids(Some(ids))
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:RevokeSecurityGroupIngress", group, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;

    fn rule(
        id: &str,
        proto: &str,
        from: i32,
        to: i32,
        v4: Option<&str>,
        v6: Option<&str>,
    ) -> SecurityGroupRule {
        SecurityGroupRule::builder()
            .security_group_rule_id(id)
            .group_id("sg-1")
            .is_egress(false)
            .ip_protocol(proto)
            .from_port(from)
            .to_port(to)
            .set_cidr_ipv4(v4.map(String::from))
            .set_cidr_ipv6(v6.map(String::from))
            .build()
    }

    #[test]
    fn params() {
        assert_eq!(parse_ports(&json!({})).unwrap(), vec![22, 3389]);
        assert_eq!(
            parse_ports(&json!({"ports": [22, 5432]})).unwrap(),
            vec![22, 5432]
        );
        assert_eq!(
            parse_ports(&json!({"ports": [22, "x"]})).unwrap_err(),
            "params.ports[1]: expected an integer 0..65535, got \"x\""
        );
        assert_eq!(
            parse_ports(&json!({"ports": [70000]})).unwrap_err(),
            "params.ports[0]: expected an integer 0..65535, got 70000"
        );
        assert_eq!(
            parse_ports(&json!({"ports": 22})).unwrap_err(),
            "params.ports: expected an array of integers, got an integer"
        );
        assert!(parse_ports(&json!({"ports": []})).is_err());
        assert!(parse_ports(&json!({"port": [22]}))
            .unwrap_err()
            .starts_with("params.port:"));
    }

    #[test]
    fn which_rules_are_open() {
        let ports = [22, 3389];
        let world22 = rule("r1", "tcp", 22, 22, Some("0.0.0.0/0"), None);
        assert_eq!(open_rule(&world22, &ports).unwrap().cidr, "0.0.0.0/0");
        let range = rule("r2", "tcp", 0, 1000, None, Some("::/0"));
        assert!(open_rule(&range, &ports).is_some());
        let all = rule("r3", "-1", -1, -1, Some("0.0.0.0/0"), None);
        assert_eq!(open_rule(&all, &ports).unwrap().protocol, "-1");
        let udp = rule("r4", "17", 3389, 3389, Some("0.0.0.0/0"), None);
        assert!(open_rule(&udp, &ports).is_some());
        assert!(open_rule(
            &rule("r5", "tcp", 443, 443, Some("0.0.0.0/0"), None),
            &ports
        )
        .is_none());
        assert!(open_rule(&rule("r6", "tcp", 22, 22, Some("10.0.0.0/8"), None), &ports).is_none());
        assert!(open_rule(&rule("r7", "icmp", -1, -1, Some("0.0.0.0/0"), None), &ports).is_none());
        let egress = SecurityGroupRule::builder()
            .is_egress(true)
            .ip_protocol("-1")
            .cidr_ipv4("0.0.0.0/0")
            .build();
        assert!(open_rule(&egress, &ports).is_none());
    }

    #[test]
    fn group_id_from_details_or_arn() {
        let t = target(
            "AwsEc2SecurityGroup",
            "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123",
            Value::Null,
        );
        assert_eq!(group_id(&t).unwrap(), "sg-0123");
        let t = target(
            "AwsEc2SecurityGroup",
            "arn:aws:ec2:us-east-1:111122223333:security-group/whatever",
            json!({"AwsEc2SecurityGroup": {"GroupId": "sg-9"}}),
        );
        assert_eq!(group_id(&t).unwrap(), "sg-9");
        let t = target("AwsEc2SecurityGroup", "nothing", Value::Null);
        assert!(group_id(&t).is_err());
    }
}
