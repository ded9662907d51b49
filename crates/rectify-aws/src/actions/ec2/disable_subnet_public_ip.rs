//! `aws.ec2.disable-subnet-public-ip`: a subnet that gives every instance
//! launched in it a public IPv4 address (`MapPublicIpOnLaunch`, Security
//! Hub EC2.15, AWS Config `subnet-auto-assign-public-ip-disabled`) stops
//! doing so (`ModifySubnetAttribute`). Instances running now keep their
//! addresses; only later launches that ask for none get none. A subnet
//! whose route table sends 0.0.0.0/0 to an internet gateway (a public
//! subnet, which may rely on the addresses) or a default subnet waits for
//! a person's approval. IPv6 addresses assigned on creation are left as
//! they are and reported. The undo turns the setting back on.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter};
use rectify_model::{Action, ActionError, ActionSpec, Change, Event, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::targets::{described, id_of, tag_pairs, target_of, SUBNET};
use crate::actions::{
    collect_pages, ec2_client, recorded, tag_map, takes_no_params, unchanged_since,
};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.ec2.disable-subnet-public-ip";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Stop a subnet from assigning public IPv4 addresses to instances launched in it.",
    controls: &["EC2.15"],
    resource_types: &["AwsEc2Subnet"],
    account_wide: false,
    permissions: &[
        "ec2:DescribeSubnets",
        "ec2:DescribeRouteTables",
        "ec2:ModifySubnetAttribute",
    ],
    params: &[],
    // check (DescribeSubnets, DescribeRouteTables), apply
    // (ModifySubnetAttribute), verify (DescribeSubnets).
    calls_per_fix: 4,
    approval_by_default: false,
};

/// The subnet as `check` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SubnetState {
    subnet: String,
    vpc: String,
    map_public_ip_on_launch: bool,
    /// The default subnet of its zone (in the default VPC).
    default_for_az: bool,
    /// The internet gateway its route table sends 0.0.0.0/0 to, if any.
    internet_route: Option<String>,
    /// IPv6 addresses given on creation (left as it is).
    assign_ipv6_on_creation: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Setting {
    map_public_ip_on_launch: bool,
}

pub struct Ec2DisableSubnetPublicIp {
    aws: Arc<Aws>,
}

impl Ec2DisableSubnetPublicIp {
    pub fn new(aws: Arc<Aws>) -> Self {
        Ec2DisableSubnetPublicIp { aws }
    }

    async fn write(&self, target: &Target, on: bool) -> Result<(), ActionError> {
        let id = id_of(&SUBNET, target, ID)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        ec2.modify_subnet_attribute()
            .subnet_id(&id)
            .map_public_ip_on_launch(AttributeBooleanValue::builder().value(on).build())
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:ModifySubnetAttribute", &id, e))?;
        Ok(())
    }

    async fn subnets(&self, account: &str, region: &str) -> Result<Vec<String>, ActionError> {
        let ec2 = ec2_client(&self.aws, account, region).await?;
        collect_pages(|token| {
            let request = ec2.describe_subnets().set_next_token(token);
            async move {
                let out = request
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("ec2:DescribeSubnets", "the account's subnets", e))?;
                // Subnets shared with the account are another's to change.
                let ids = out
                    .subnets()
                    .iter()
                    .filter(|s| s.owner_id().is_none_or(|o| o == account))
                    .filter_map(|s| s.subnet_id().map(str::to_string))
                    .collect();
                Ok((ids, out.next_token().map(str::to_string)))
            }
        })
        .await
    }
}

/// The subnet as the action records it.
fn state_of(
    subnet: &aws_sdk_ec2::types::Subnet,
    id: String,
    internet_route: Option<String>,
) -> SubnetState {
    SubnetState {
        subnet: id,
        internet_route,
        vpc: subnet.vpc_id().unwrap_or_default().to_string(),
        map_public_ip_on_launch: subnet.map_public_ip_on_launch().unwrap_or(false),
        default_for_az: subnet.default_for_az().unwrap_or(false),
        assign_ipv6_on_creation: subnet.assign_ipv6_address_on_creation().unwrap_or(false),
    }
}

/// The subnet `id` of `target`'s account (a subnet shared from another
/// account is refused).
async fn describe_subnet(
    ec2: &aws_sdk_ec2::Client,
    target: &Target,
    id: &str,
) -> Result<aws_sdk_ec2::types::Subnet, ActionError> {
    let out = ec2
        .describe_subnets()
        .subnet_ids(id)
        .send()
        .await
        .map_err(|e| sdk_error_on("ec2:DescribeSubnets", id, e))?;
    let subnet = described(out.subnets(), |s| s.subnet_id(), "subnet", id)?;
    if let Some(owner) = subnet.owner_id().filter(|o| *o != target.account) {
        return Err(ActionError::invalid(format!(
            "subnet {id} is owned by account {owner} (shared with {}); refused",
            target.account
        )));
    }
    Ok(subnet.clone())
}

/// The internet gateway the route table of `subnet` (its own, else the
/// VPC's main table) sends 0.0.0.0/0 to.
async fn internet_route(
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
    subnet: &str,
) -> Result<Option<String>, ActionError> {
    let tables = collect_pages(|token| {
        let request = ec2
            .describe_route_tables()
            .filters(Filter::builder().name("vpc-id").values(vpc).build())
            .set_next_token(token);
        async move {
            let out = request
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:DescribeRouteTables", subnet, e))?;
            Ok((
                out.route_tables().to_vec(),
                out.next_token().map(str::to_string),
            ))
        }
    })
    .await?;
    let own = tables.iter().find(|t| {
        t.associations()
            .iter()
            .any(|a| a.subnet_id() == Some(subnet))
    });
    let table = own.or_else(|| {
        tables
            .iter()
            .find(|t| t.associations().iter().any(|a| a.main() == Some(true)))
    });
    Ok(table.and_then(|t| {
        t.routes()
            .iter()
            .find(|r| {
                r.destination_cidr_block() == Some("0.0.0.0/0")
                    && r.gateway_id().is_some_and(|g| g.starts_with("igw-"))
            })
            .and_then(|r| r.gateway_id().map(str::to_string))
    }))
}

#[async_trait]
impl Action for Ec2DisableSubnetPublicIp {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    /// The subnet a `ModifySubnetAttribute` call names, an AWS Config
    /// evaluation's, or a finding's `AwsEc2Subnet`.
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        target_of(&SUBNET, event, &["/requestParameters/subnetId"])
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let id = id_of(&SUBNET, target, ID)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let subnet = describe_subnet(&ec2, target, &id).await?;
        let vpc = subnet.vpc_id().unwrap_or_default();
        let route = internet_route(&ec2, vpc, &id).await?;
        let state = state_of(&subnet, id, route);
        Ok(Observed::new(
            !state.map_public_ip_on_launch,
            state,
            tag_map(tag_pairs(subnet.tags())),
        ))
    }

    /// Reads back only what the write changed: the subnet's
    /// MapPublicIpOnLaunch (no route tables).
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let id = id_of(&SUBNET, target, ID)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let subnet = describe_subnet(&ec2, target, &id).await?;
        // The route (for intent only) is not read back.
        let state = state_of(&subnet, id, None);
        Ok(Observed::new(
            !state.map_public_ip_on_launch,
            state,
            Default::default(),
        ))
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let before: SubnetState = recorded(&observed.state, ID)?;
        Ok(Change {
            summary: format!(
                "stop subnet {} (VPC {}) from assigning public IPv4 addresses on launch \
                 (MapPublicIpOnLaunch true -> false); running instances keep theirs",
                before.subnet, before.vpc
            ),
            before: observed.state.clone(),
            after: json!({"map_public_ip_on_launch": false}),
        })
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let after: Setting = recorded(&change.after, ID)?;
        self.write(target, after.map_public_ip_on_launch).await
    }

    /// A public subnet (0.0.0.0/0 to an internet gateway) or a default
    /// subnet: what launches there may count on a public address.
    fn intent(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        let Ok(s) = recorded::<SubnetState>(&observed.state, ID) else {
            return Vec::new();
        };
        if !s.map_public_ip_on_launch {
            return Vec::new();
        }
        let mut reasons = Vec::new();
        if let Some(igw) = &s.internet_route {
            reasons.push(format!(
                "subnet {} is a public subnet: its route table sends 0.0.0.0/0 to internet \
                 gateway {igw}; instances launched there later (an Auto Scaling group, a launch \
                 template without AssociatePublicIpAddress) get no public address and lose \
                 internet access unless they ask for one",
                s.subnet
            ));
        }
        if s.default_for_az {
            reasons.push(format!(
                "subnet {} is a default subnet: instances launched without naming a subnet go \
                 there and have counted on a public address",
                s.subnet
            ));
        }
        reasons
    }

    /// IPv6 addresses assigned on creation stay; AWS Config's rule counts
    /// them too.
    fn left_in_place(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        match recorded::<SubnetState>(&observed.state, ID) {
            Ok(s) if s.assign_ipv6_on_creation => vec![format!(
                "subnet {} still gives instances an IPv6 address on creation \
                 (AssignIpv6AddressOnCreation), which is reachable from the internet when the \
                 VPC routes ::/0 to an internet gateway; rectify leaves it (AWS Config's \
                 subnet-auto-assign-public-ip-disabled counts it)",
                s.subnet
            )],
            _ => Vec::new(),
        }
    }

    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let id = id_of(&SUBNET, target, ID)?;
        let left: Setting = recorded(&applied.after, ID)?;
        let restore: SubnetState = recorded(&applied.before, ID)?;
        let current: SubnetState = recorded(&now.state, ID)?;
        unchanged_since(
            || format!("MapPublicIpOnLaunch of subnet {id}"),
            &current.map_public_ip_on_launch,
            &left.map_public_ip_on_launch,
        )?;
        Ok(Change {
            summary: format!(
                "let subnet {id} assign public IPv4 addresses on launch again (MapPublicIpOnLaunch false -> {})",
                restore.map_public_ip_on_launch
            ),
            before: now.state.clone(),
            after: json!({"map_public_ip_on_launch": restore.map_public_ip_on_launch}),
        })
    }

    crate::actions::revert_by_apply!();

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let now: SubnetState = recorded(&self.check(target, params).await?.state, ID)?;
        let after: Setting = recorded(&change.after, ID)?;
        Ok(now.map_public_ip_on_launch == after.map_public_ip_on_launch)
    }

    super::targets::listed_by_id!(SUBNET, subnets);
}
