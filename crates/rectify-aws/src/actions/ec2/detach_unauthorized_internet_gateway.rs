//! `aws.ec2.detach-unauthorized-internet-gateway`: an internet gateway
//! attached to a VPC outside the allow list (the param `allowed_vpcs`,
//! as AWS Config's `internet-gateway-authorized-vpc-only` takes it) is
//! detached (`DetachInternetGateway`): the VPC loses its way to and from
//! the internet. The jobs wait for a person's approval by default, and
//! the reasons list the VPC's instances that have public addresses. The
//! gateway itself is kept; the undo attaches it again
//! (`AttachInternetGateway`).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::Filter;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use rectify_model::{Action, ActionError, ActionSpec, Change, Event, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::targets::{
    described, id_of, owned_by_target, tag_pairs, target_of, well_formed, INTERNET_GATEWAY, VPC,
};
use crate::actions::{
    ec2_client, params_object, recorded, reject_unknown, tag_map, unchanged_since,
};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.ec2.detach-unauthorized-internet-gateway";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Detach an internet gateway from a VPC that is not in the allow list (allowed_vpcs).",
    controls: &[],
    resource_types: &["AwsEc2InternetGateway"],
    account_wide: false,
    permissions: &[
        "ec2:DescribeInternetGateways",
        "ec2:DescribeInstances",
        "ec2:DetachInternetGateway",
        "ec2:AttachInternetGateway",
    ],
    params: &[ParamSpec {
        name: "allowed_vpcs",
        kind: "array",
        default: "null",
        doc: "The VPC ids (vpc-...) that may have an internet gateway. Required: without it the action refuses to judge.",
    }],
    // check (DescribeInternetGateways, DescribeInstances of the VPC),
    // apply (DetachInternetGateway), verify (DescribeInternetGateways: no
    // VPC outside the list is left whose instances to read).
    calls_per_fix: 4,
    approval_by_default: true,
};

/// The allow list; `None` when not configured.
fn allowed(params: &Value) -> Result<Option<Vec<String>>, String> {
    let p = params_object(params)?;
    reject_unknown(&p, &["allowed_vpcs"], ID)?;
    match p.get("allowed_vpcs") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v.as_str() {
                Some(id) if well_formed(&VPC, id) => Ok(id.to_string()),
                _ => Err(format!("params.allowed_vpcs: VPC ids (vpc-...), got {v}")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(v) => Err(format!("params.allowed_vpcs: an array of VPC ids, got {v}")),
    }
}

fn allowed_or_refuse(params: &Value) -> Result<Vec<String>, ActionError> {
    allowed(params).map_err(ActionError::invalid)?.ok_or_else(|| {
        ActionError::not_configured(format!(
            "{ID} needs the allow list: set the rule's params.allowed_vpcs to the VPC ids that may \
             have an internet gateway (as internet-gateway-authorized-vpc-only's AuthorizedVpcIds); \
             nothing was changed"
        ))
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct GatewayState {
    gateway: String,
    /// The VPCs it is attached to.
    attached: Vec<String>,
    /// Of those, the ones not in the allow list.
    unauthorized: Vec<String>,
    /// Instances of the unauthorized VPCs with a public IPv4 address:
    /// `instance (address)`.
    public_instances: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Attachments {
    attached: Vec<String>,
}

pub struct Ec2DetachUnauthorizedInternetGateway {
    aws: Arc<Aws>,
}

impl Ec2DetachUnauthorizedInternetGateway {
    pub fn new(aws: Arc<Aws>) -> Self {
        Ec2DetachUnauthorizedInternetGateway { aws }
    }
}

#[async_trait]
impl Action for Ec2DetachUnauthorizedInternetGateway {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    /// An absent list loads (the pack's rules carry none) and is refused
    /// when a job runs.
    fn validate_params(&self, params: &Value) -> Result<(), String> {
        allowed(params).map(|_| ())
    }

    /// The gateway an `AttachInternetGateway` call names, or an AWS
    /// Config evaluation's.
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        target_of(
            &INTERNET_GATEWAY,
            event,
            &["/requestParameters/internetGatewayId"],
        )
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let allow = allowed_or_refuse(params)?;
        let id = id_of(&INTERNET_GATEWAY, target, ID)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let out = ec2
            .describe_internet_gateways()
            .internet_gateway_ids(&id)
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeInternetGateways", &id, e))?;
        let gw = described(
            out.internet_gateways(),
            |g| g.internet_gateway_id(),
            "internet gateway",
            &id,
        )?;
        owned_by_target(gw.owner_id(), "internet gateway", &id, target)?;
        let mut attached: Vec<String> = gw
            .attachments()
            .iter()
            .filter_map(|a| a.vpc_id().map(str::to_string))
            .collect();
        attached.sort();
        let unauthorized: Vec<String> = attached
            .iter()
            .filter(|v| !allow.contains(v))
            .cloned()
            .collect();
        let mut public_instances = Vec::new();
        if !unauthorized.is_empty() {
            let out = ec2
                .describe_instances()
                .filters(
                    Filter::builder()
                        .name("vpc-id")
                        .set_values(Some(unauthorized.clone()))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:DescribeInstances", &id, e))?;
            for i in out.reservations().iter().flat_map(|r| r.instances()) {
                if let (Some(instance), Some(ip)) = (i.instance_id(), i.public_ip_address()) {
                    public_instances.push(format!("{instance} ({ip})"));
                }
            }
            public_instances.sort();
        }
        let state = GatewayState {
            gateway: id,
            attached,
            unauthorized,
            public_instances,
        };
        Ok(Observed::new(
            state.unauthorized.is_empty(),
            state,
            tag_map(tag_pairs(gw.tags())),
        ))
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        allowed_or_refuse(params)?;
        let s: GatewayState = recorded(&observed.state, ID)?;
        let left: Vec<String> = s
            .attached
            .iter()
            .filter(|v| !s.unauthorized.contains(v))
            .cloned()
            .collect();
        Ok(Change {
            summary: format!(
                "detach internet gateway {} from VPC {} (not in allowed_vpcs): the VPC loses its internet access; the gateway is kept",
                s.gateway,
                s.unauthorized.join(", ")
            ),
            before: observed.state.clone(),
            after: json!({"attached": left}),
        })
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        allowed_or_refuse(params)?;
        let id = id_of(&INTERNET_GATEWAY, target, ID)?;
        let s: GatewayState = recorded(&change.before, ID)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        for vpc in &s.unauthorized {
            match ec2
                .detach_internet_gateway()
                .internet_gateway_id(&id)
                .vpc_id(vpc)
                .send()
                .await
            {
                Ok(_) => {}
                // Detached already (a second run).
                Err(e) if e.code() == Some("Gateway.NotAttached") => {}
                Err(e) => return Err(sdk_error_on("ec2:DetachInternetGateway", &id, e)),
            }
        }
        Ok(())
    }

    /// Always, before a detach: what loses the internet.
    fn intent(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        let Ok(s) = recorded::<GatewayState>(&observed.state, ID) else {
            return Vec::new();
        };
        if s.unauthorized.is_empty() {
            return Vec::new();
        }
        let mut reasons = vec![format!(
            "VPC {} loses its internet access (in and out) when gateway {} is detached",
            s.unauthorized.join(", "),
            s.gateway
        )];
        if !s.public_instances.is_empty() {
            reasons.push(format!(
                "instances with public addresses in it become unreachable from the internet: {}",
                s.public_instances.join(", ")
            ));
        }
        reasons
    }

    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        allowed(params).map_err(ActionError::invalid)?;
        let id = id_of(&INTERNET_GATEWAY, target, ID)?;
        let before: GatewayState = recorded(&applied.before, ID)?;
        let left: Attachments = recorded(&applied.after, ID)?;
        let current: GatewayState = recorded(&now.state, ID)?;
        unchanged_since(
            || format!("the attachments of internet gateway {id}"),
            &current.attached,
            &left.attached,
        )?;
        Ok(Change {
            summary: format!(
                "attach internet gateway {id} to VPC {} again",
                before.unauthorized.join(", ")
            ),
            before: json!({"attached": current.attached}),
            after: json!({"attached": before.attached}),
        })
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        allowed(params).map_err(ActionError::invalid)?;
        let id = id_of(&INTERNET_GATEWAY, target, ID)?;
        let now: Attachments = recorded(&change.before, ID)?;
        let want: Attachments = recorded(&change.after, ID)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        for vpc in want.attached.iter().filter(|v| !now.attached.contains(v)) {
            match ec2
                .attach_internet_gateway()
                .internet_gateway_id(&id)
                .vpc_id(vpc)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if e.code() == Some("Resource.AlreadyAssociated") => {}
                Err(e) => return Err(sdk_error_on("ec2:AttachInternetGateway", &id, e)),
            }
        }
        Ok(())
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let now: GatewayState = recorded(&self.check(target, params).await?.state, ID)?;
        let want: Attachments = recorded(&change.after, ID)?;
        Ok(now.attached == want.attached)
    }
}
