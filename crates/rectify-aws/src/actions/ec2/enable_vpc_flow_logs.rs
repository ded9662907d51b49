//! `aws.ec2.enable-vpc-flow-logs`: a VPC without an active flow log that
//! records rejected traffic (Security Hub EC2.6, AWS Config
//! `vpc-flow-logs-enabled` with `trafficType` REJECT) gets one
//! (`CreateFlowLogs`), delivered where the params say: an S3 bucket or a
//! CloudWatch Logs group (with the role that delivers to it). Without a
//! configured destination the action refuses and says what to set. The
//! flow log it creates carries the tag `rectify:change` (the change's
//! digest); the undo deletes that flow log and no other.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, FlowLogsResourceType, LogDestinationType, ResourceType, Tag, TagSpecification,
    TrafficType,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use rectify_model::{Action, ActionError, ActionSpec, Change, Event, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::targets::{described, id_of, tag_pairs, target_of, VPC};
use crate::actions::{
    changed_since, collect_pages, ec2_client, params_object, recorded, reject_unknown,
    string_param, tag_map,
};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.ec2.enable-vpc-flow-logs";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Create a flow log of a VPC's rejected (or all) traffic, to the S3 bucket or CloudWatch Logs group the params name.",
    controls: &["EC2.6"],
    resource_types: &["AwsEc2Vpc"],
    account_wide: false,
    permissions: &[
        "ec2:DescribeVpcs",
        "ec2:DescribeFlowLogs",
        "ec2:CreateFlowLogs",
        "ec2:CreateTags",
        "ec2:DeleteFlowLogs",
        // CreateFlowLogs to CloudWatch Logs passes the delivery role.
        "iam:PassRole",
        // CreateFlowLogs to S3 sets the bucket policy of log delivery.
        "logs:CreateLogDelivery",
        "logs:DeleteLogDelivery",
    ],
    params: &[
        ParamSpec {
            name: "log_destination_type",
            kind: "string",
            default: "null",
            doc: "Where flow logs go: `s3` or `cloud-watch-logs`. Required: without it the action refuses.",
        },
        ParamSpec {
            name: "log_destination",
            kind: "string",
            default: "null",
            doc: "The bucket (arn:aws:s3:::bucket or arn:aws:s3:::bucket/prefix) or the log group (arn:aws:logs:REGION:ACCOUNT:log-group:NAME, in the VPC's account and region) the flow logs go to. `{account}` and `{region}` are replaced by the VPC's. Required.",
        },
        ParamSpec {
            name: "deliver_logs_permission_arn",
            kind: "string",
            default: "null",
            doc: "For cloud-watch-logs: the IAM role vpc-flow-logs.amazonaws.com assumes to write to the group (arn:aws:iam::ACCOUNT:role/NAME; `{account}` is replaced). Not used for s3.",
        },
        ParamSpec {
            name: "traffic_type",
            kind: "string",
            default: "\"REJECT\"",
            doc: "`REJECT` (what EC2.6 requires) or `ALL`. A VPC already logging REJECT or ALL traffic complies.",
        },
    ],
    // check (DescribeVpcs, DescribeFlowLogs), apply (CreateFlowLogs with
    // its tags), verify (DescribeFlowLogs: what the write changed).
    calls_per_fix: 4,
    approval_by_default: false,
};

const KNOWN: &[&str] = &[
    "log_destination_type",
    "log_destination",
    "deliver_logs_permission_arn",
    "traffic_type",
];

/// The tag that marks the flow log a change created: its digest.
const CHANGE_TAG: &str = "rectify:change";

/// The params, with the destination if one is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Params {
    traffic_type: String,
    destination: Option<Destination>,
}

/// Where a new flow log goes (the placeholders still in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Destination {
    destination_type: String,
    destination: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deliver_logs_permission_arn: Option<String>,
}

fn params_of(params: &Value) -> Result<Params, String> {
    let p: Map<String, Value> = params_object(params)?;
    reject_unknown(&p, KNOWN, ID)?;
    let traffic_type = string_param(&p, "traffic_type", 6)?.unwrap_or_else(|| "REJECT".to_string());
    if !["REJECT", "ALL"].contains(&traffic_type.as_str()) {
        return Err(format!(
            "params.traffic_type: REJECT or ALL (EC2.6 asks for rejected traffic at least), got {traffic_type}"
        ));
    }
    let kind = string_param(&p, "log_destination_type", 16)?;
    let destination = string_param(&p, "log_destination", 1024)?;
    let role = string_param(&p, "deliver_logs_permission_arn", 2048)?;
    let destination = match (kind, destination) {
        (None, None) => {
            if role.is_some() {
                return Err(
                    "params.deliver_logs_permission_arn: set log_destination_type and log_destination too"
                        .into(),
                );
            }
            None
        }
        (Some(kind), Some(destination)) => {
            match kind.as_str() {
                "s3" => {
                    if !destination.starts_with("arn:") || !destination.contains(":s3:::") {
                        return Err(format!(
                            "params.log_destination: an S3 bucket ARN (arn:aws:s3:::bucket or arn:aws:s3:::bucket/prefix), got {destination}"
                        ));
                    }
                    if role.is_some() {
                        return Err("params.deliver_logs_permission_arn: only for cloud-watch-logs (S3 delivery needs no role)".into());
                    }
                }
                "cloud-watch-logs" => {
                    if !destination.starts_with("arn:") || !destination.contains(":log-group:") {
                        return Err(format!(
                            "params.log_destination: a CloudWatch Logs group ARN (arn:aws:logs:REGION:ACCOUNT:log-group:NAME), got {destination}"
                        ));
                    }
                    match &role {
                        Some(r) if r.starts_with("arn:") && r.contains(":role/") => {}
                        Some(r) => {
                            return Err(format!(
                                "params.deliver_logs_permission_arn: an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), got {r}"
                            ))
                        }
                        None => return Err("params.deliver_logs_permission_arn: required for cloud-watch-logs (the role vpc-flow-logs.amazonaws.com assumes to write to the group)".into()),
                    }
                }
                other => {
                    return Err(format!(
                        "params.log_destination_type: s3 or cloud-watch-logs, got {other}"
                    ))
                }
            }
            Some(Destination {
                destination_type: kind,
                destination,
                deliver_logs_permission_arn: role,
            })
        }
        (Some(_), None) => {
            return Err("params.log_destination: required with log_destination_type".into())
        }
        (None, Some(_)) => return Err(
            "params.log_destination_type: required with log_destination (s3 or cloud-watch-logs)"
                .into(),
        ),
    };
    Ok(Params {
        traffic_type,
        destination,
    })
}

impl Destination {
    /// The destination for `target`'s account and region: placeholders
    /// replaced, and a log group or role of another account or region
    /// refused.
    fn for_target(&self, target: &Target) -> Result<Destination, ActionError> {
        let fill = |s: &str| {
            s.replace("{account}", &target.account)
                .replace("{region}", &target.region)
        };
        let resolved = Destination {
            destination_type: self.destination_type.clone(),
            destination: fill(&self.destination),
            deliver_logs_permission_arn: self.deliver_logs_permission_arn.as_deref().map(fill),
        };
        let fields =
            |arn: &str| -> Vec<String> { arn.splitn(6, ':').map(str::to_string).collect() };
        if resolved.destination_type == "cloud-watch-logs" {
            let f = fields(&resolved.destination);
            if f.len() < 6 || f[3] != target.region || f[4] != target.account {
                return Err(ActionError::invalid(format!(
                    "{ID}: log group {} is not in the VPC's account {} and region {}; \
                     use {{account}} and {{region}} in params.log_destination",
                    resolved.destination, target.account, target.region
                )));
            }
            if let Some(role) = &resolved.deliver_logs_permission_arn {
                let f = fields(role);
                if f.len() < 6 || f[4] != target.account {
                    return Err(ActionError::invalid(format!(
                        "{ID}: role {role} is not in the VPC's account {}; use {{account}} in params.deliver_logs_permission_arn",
                        target.account
                    )));
                }
            }
        }
        Ok(resolved)
    }
}

/// One flow log of the VPC as `check` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FlowLog {
    id: String,
    traffic_type: String,
    /// `ACTIVE` when it records.
    status: String,
    destination_type: String,
    destination: String,
    /// The `rectify:change` tag: the digest of the change that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_by_change: Option<String>,
}

impl FlowLog {
    fn records_rejects(&self) -> bool {
        self.status == "ACTIVE" && ["REJECT", "ALL"].contains(&self.traffic_type.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct VpcState {
    vpc: String,
    flow_logs: Vec<FlowLog>,
}

/// What a change adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct NewFlowLog {
    traffic_type: String,
    #[serde(flatten)]
    destination: Destination,
}

/// What an undo removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Removal {
    delete_flow_log: String,
}

pub struct Ec2EnableVpcFlowLogs {
    aws: Arc<Aws>,
}

impl Ec2EnableVpcFlowLogs {
    pub fn new(aws: Arc<Aws>) -> Self {
        Ec2EnableVpcFlowLogs { aws }
    }

    async fn vpcs(&self, account: &str, region: &str) -> Result<Vec<String>, ActionError> {
        let ec2 = ec2_client(&self.aws, account, region).await?;
        collect_pages(|token| {
            let request = ec2.describe_vpcs().set_next_token(token);
            async move {
                let out = request
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("ec2:DescribeVpcs", "the account's VPCs", e))?;
                let ids = out
                    .vpcs()
                    .iter()
                    .filter(|v| v.owner_id().is_none_or(|o| o == account))
                    .filter_map(|v| v.vpc_id().map(str::to_string))
                    .collect();
                Ok((ids, out.next_token().map(str::to_string)))
            }
        })
        .await
    }
}

/// The flow logs of VPC `id`, by id.
async fn flow_logs_of(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<Vec<FlowLog>, ActionError> {
    let logs = collect_pages(|token| {
        let request = ec2
            .describe_flow_logs()
            .filter(Filter::builder().name("resource-id").values(id).build())
            .set_next_token(token);
        async move {
            let out = request
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:DescribeFlowLogs", id, e))?;
            let logs = out
                .flow_logs()
                .iter()
                .filter(|f| f.resource_id() == Some(id))
                .map(|f| FlowLog {
                    id: f.flow_log_id().unwrap_or_default().to_string(),
                    traffic_type: f
                        .traffic_type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    status: f.flow_log_status().unwrap_or_default().to_string(),
                    destination_type: f
                        .log_destination_type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    destination: f
                        .log_destination()
                        .or(f.log_group_name())
                        .unwrap_or_default()
                        .to_string(),
                    created_by_change: f
                        .tags()
                        .iter()
                        .find(|t| t.key() == Some(CHANGE_TAG))
                        .and_then(|t| t.value().map(str::to_string)),
                })
                .collect();
            Ok((logs, out.next_token().map(str::to_string)))
        }
    })
    .await?;
    let mut flow_logs: Vec<FlowLog> = logs;
    flow_logs.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(flow_logs)
}

#[async_trait]
impl Action for Ec2EnableVpcFlowLogs {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        params_of(params).map(|_| ())
    }

    /// The VPC of an AWS Config evaluation or of a finding's `AwsEc2Vpc`.
    /// (`DeleteFlowLogs` names only flow logs, never their VPC.)
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        target_of(&VPC, event, &[])
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        params_of(params).map_err(ActionError::invalid)?;
        let id = id_of(&VPC, target, ID)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let out = ec2
            .describe_vpcs()
            .vpc_ids(&id)
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeVpcs", &id, e))?;
        let vpc = described(out.vpcs(), |v| v.vpc_id(), "VPC", &id)?;
        let tags = tag_map(tag_pairs(vpc.tags()));
        let flow_logs = flow_logs_of(&ec2, &id).await?;
        let state = VpcState { vpc: id, flow_logs };
        Ok(Observed::new(
            state.flow_logs.iter().any(FlowLog::records_rejects),
            state,
            tags,
        ))
    }

    /// Reads back only what the write changed: the VPC's flow logs.
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        params_of(params).map_err(ActionError::invalid)?;
        let id = id_of(&VPC, target, ID)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let state = VpcState {
            flow_logs: flow_logs_of(&ec2, &id).await?,
            vpc: id,
        };
        Ok(Observed::new(
            state.flow_logs.iter().any(FlowLog::records_rejects),
            state,
            Default::default(),
        ))
    }

    /// Refuses without a configured destination, naming what to set.
    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        let p = params_of(params).map_err(ActionError::invalid)?;
        let before: VpcState = recorded(&observed.state, ID)?;
        let Some(destination) = &p.destination else {
            return Err(ActionError::not_configured(format!(
                "{ID} has no destination for the flow log of VPC {}: set the rule's params \
                 log_destination_type (s3 or cloud-watch-logs) and log_destination (a bucket ARN, \
                 arn:aws:s3:::bucket[/prefix], or a log group ARN, \
                 arn:aws:logs:{{region}}:{{account}}:log-group:NAME), and for cloud-watch-logs \
                 deliver_logs_permission_arn (a role vpc-flow-logs.amazonaws.com can assume); \
                 nothing was changed",
                before.vpc
            )));
        };
        let destination = destination.for_target(target)?;
        let inactive: Vec<&str> = before
            .flow_logs
            .iter()
            .filter(|f| !f.records_rejects())
            .map(|f| f.id.as_str())
            .collect();
        let kept = if inactive.is_empty() {
            String::new()
        } else {
            format!(
                "; its other flow logs ({}) stay as they are",
                inactive.join(", ")
            )
        };
        Ok(Change {
            summary: format!(
                "create a flow log of VPC {} recording {} traffic to {} {}{kept}",
                before.vpc, p.traffic_type, destination.destination_type, destination.destination
            ),
            before: observed.state.clone(),
            after: serde_json::to_value(NewFlowLog {
                traffic_type: p.traffic_type,
                destination,
            })
            .expect("plain struct"),
        })
    }

    /// One `CreateFlowLogs`, tagged with the change's digest. Run again
    /// (after a crash), EC2 answers that the flow log exists: done.
    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        params_of(params).map_err(ActionError::invalid)?;
        let id = id_of(&VPC, target, ID)?;
        let new: NewFlowLog = recorded(&change.after, ID)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let result = ec2
            .create_flow_logs()
            .resource_type(FlowLogsResourceType::Vpc)
            .resource_ids(&id)
            .traffic_type(TrafficType::from(new.traffic_type.as_str()))
            .log_destination_type(LogDestinationType::from(
                new.destination.destination_type.as_str(),
            ))
            .log_destination(&new.destination.destination)
            .set_deliver_logs_permission_arn(new.destination.deliver_logs_permission_arn.clone())
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::VpcFlowLog)
                    .tags(
                        Tag::builder()
                            .key(CHANGE_TAG)
                            .value(change.digest())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) if e.code() == Some("FlowLogAlreadyExists") => return Ok(()),
            Err(e) => return Err(sdk_error_on("ec2:CreateFlowLogs", &id, e)),
        };
        // A refused flow log comes back in `Unsuccessful`, not as an error.
        if let Some(failed) = out.unsuccessful().first() {
            let error = failed.error();
            return Err(ActionError::invalid(format!(
                "ec2:CreateFlowLogs on {id} refused: {} {}",
                error.and_then(|e| e.code()).unwrap_or("?"),
                error.and_then(|e| e.message()).unwrap_or_default()
            )));
        }
        Ok(())
    }

    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        params_of(params).map_err(ActionError::invalid)?;
        let id = id_of(&VPC, target, ID)?;
        let current: VpcState = recorded(&now.state, ID)?;
        let digest = applied.digest();
        let Some(made) = current
            .flow_logs
            .iter()
            .find(|f| f.created_by_change.as_deref() == Some(digest.as_str()))
        else {
            return Err(changed_since(
                &format!("VPC {id}"),
                &json!(current.flow_logs.iter().map(|f| &f.id).collect::<Vec<_>>()),
                &json!(format!("a flow log tagged {CHANGE_TAG}={digest}")),
            ));
        };
        Ok(Change {
            summary: format!(
                "delete flow log {} of VPC {id} (the one rectify created; other flow logs stay)",
                made.id
            ),
            before: now.state.clone(),
            after: json!({"delete_flow_log": made.id}),
        })
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        params_of(params).map_err(ActionError::invalid)?;
        let id = id_of(&VPC, target, ID)?;
        let removal: Removal = recorded(&change.after, ID)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let out = ec2
            .delete_flow_logs()
            .flow_log_ids(&removal.delete_flow_log)
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DeleteFlowLogs", &id, e))?;
        // Already gone (a second run): as wanted.
        if let Some(failed) = out.unsuccessful().first() {
            let code = failed.error().and_then(|e| e.code()).unwrap_or("?");
            if !code.contains("NotFound") {
                return Err(ActionError::invalid(format!(
                    "ec2:DeleteFlowLogs {} refused: {code}",
                    removal.delete_flow_log
                )));
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
        let now: VpcState = recorded(&self.verify(target, params).await?.state, ID)?;
        let removal: Removal = recorded(&change.after, ID)?;
        Ok(!now
            .flow_logs
            .iter()
            .any(|f| f.id == removal.delete_flow_log))
    }

    super::targets::listed_by_id!(VPC, vpcs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params() {
        assert_eq!(params_of(&json!({})).unwrap().destination, None);
        let s3 = params_of(&json!({"log_destination_type": "s3",
                                    "log_destination": "arn:aws:s3:::flow-logs/vpc"}))
        .unwrap();
        assert_eq!(s3.traffic_type, "REJECT");
        assert!(params_of(&json!({"log_destination_type": "s3"})).is_err());
        assert!(
            params_of(&json!({"log_destination_type": "cloud-watch-logs",
                                  "log_destination": "arn:aws:logs:us-east-1:1:log-group:x"}))
            .unwrap_err()
            .contains("deliver_logs_permission_arn: required")
        );
        assert!(params_of(&json!({"traffic_type": "ACCEPT"})).is_err());
        assert!(params_of(&json!({"bucket": "x"})).is_err());
    }
}
