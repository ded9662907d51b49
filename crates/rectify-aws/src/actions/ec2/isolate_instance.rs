//! `aws.ec2.isolate-instance`: containment of an EC2 instance a threat
//! finding names (GuardDuty EC2 findings: `UnauthorizedAccess:EC2/*`,
//! `Backdoor:EC2/*`, `CryptoCurrency:EC2/*`, `Trojan:EC2/*`, ...). In
//! order: every attached EBS volume is snapshotted for forensics (each
//! snapshot tagged with the finding and the instance); the quarantine
//! security group `rectify-quarantine` of the instance's VPC is created,
//! or reused, with no inbound and no outbound rule (the allow-all egress
//! rule EC2 gives a new group is revoked, and read back gone); every
//! network interface of the instance gets that group alone, the groups it
//! had recorded per interface; the instance is tagged `rectify:isolated`;
//! and, when `stop_instance` is set, it is stopped. Connections already
//! tracked by the instance's security groups survive a change of groups
//! (security groups are stateful): the outcome says so, and the finding is
//! marked NOTIFIED, not RESOLVED. An instance of an Auto Scaling group
//! waits for a person (the group may replace it, evidence and all). The
//! undo gives each interface its groups back and starts the instance if
//! this change stopped it; the snapshots, the quarantine group and the
//! tag stay. Its jobs wait for approval by default.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, InstanceStateName, ResourceType, Tag, TagSpecification};
use rectify_model::target::GUARDDUTY_FINDING;
use rectify_model::{Action, ActionError, ActionSpec, Change, Event, Observed, ParamSpec, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::targets::{id_of, tag_pairs, target_of, INSTANCE};
use crate::actions::{
    bool_param, ec2_client, no_change, params_object, recorded, reject_unknown, tag_map,
};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.ec2.isolate-instance";

/// The quarantine group's name, one per VPC.
pub const QUARANTINE_GROUP: &str = "rectify-quarantine";
/// The tag put on the isolated instance (value: the finding).
pub const ISOLATED_TAG: &str = "rectify:isolated";
/// Tags of the forensic snapshots: the finding, and the instance.
pub const FINDING_TAG: &str = "rectify:finding";
pub const FORENSICS_TAG: &str = "rectify:forensics-of";
/// The tag EC2 Auto Scaling puts on the instances of a group.
const ASG_TAG: &str = "aws:autoscaling:groupName";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Isolate an EC2 instance: snapshot its volumes, put every interface in a quarantine group with no rules, tag it, optionally stop it.",
    controls: &[],
    resource_types: &["AwsEc2Instance"],
    account_wide: false,
    permissions: &[
        "ec2:DescribeInstances",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSnapshots",
        "ec2:CreateSnapshot",
        "ec2:CreateSecurityGroup",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:ModifyNetworkInterfaceAttribute",
        "ec2:CreateTags",
        "ec2:StopInstances",
        "ec2:StartInstances",
    ],
    params: &[
        ParamSpec {
            name: "stop_instance",
            kind: "boolean",
            default: "false",
            doc: "Also stop the instance (its memory is lost: take a memory capture first if you need one). The undo starts it again.",
        },
        ParamSpec {
            name: "snapshot_volumes",
            kind: "boolean",
            default: "true",
            doc: "Snapshot every attached EBS volume for forensics before isolating (tagged rectify:finding and rectify:forensics-of; kept after an undo).",
        },
    ],
    // An instance with one volume and one interface, in a VPC without a
    // quarantine group: check (DescribeInstances: interfaces, groups,
    // volumes, tags; DescribeSecurityGroups), apply (DescribeSnapshots,
    // CreateSnapshot, CreateSecurityGroup, DescribeSecurityGroups,
    // RevokeSecurityGroupEgress, ModifyNetworkInterfaceAttribute,
    // CreateTags), verify (the check's two reads).
    calls_per_fix: 11,
    approval_by_default: true,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Params {
    stop: bool,
    snapshot: bool,
}

fn params_of(params: &Value) -> Result<Params, String> {
    let p = params_object(params)?;
    reject_unknown(&p, &["stop_instance", "snapshot_volumes"], ID)?;
    Ok(Params {
        stop: bool_param(&p, "stop_instance", false)?,
        snapshot: bool_param(&p, "snapshot_volumes", true)?,
    })
}

fn params_or_invalid(params: &Value) -> Result<Params, ActionError> {
    params_of(params).map_err(ActionError::invalid)
}

/// One network interface and its security groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Interface {
    id: String,
    groups: Vec<String>,
}

/// The quarantine group as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Quarantine {
    id: String,
    inbound_rules: usize,
    outbound_rules: usize,
}

/// The instance as `check` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct InstanceState {
    instance: String,
    vpc: String,
    /// `running`, `stopped`, ...
    state: String,
    interfaces: Vec<Interface>,
    volumes: Vec<String>,
    auto_scaling_group: Option<String>,
    /// The VPC's quarantine group, if there is one.
    quarantine: Option<Quarantine>,
}

impl InstanceState {
    fn isolated(&self, stop: bool) -> bool {
        let Some(q) = &self.quarantine else {
            return false;
        };
        let stopped = !stop || matches!(self.state.as_str(), "stopped" | "stopping");
        q.inbound_rules == 0
            && q.outbound_rules == 0
            && !self.interfaces.is_empty()
            && self.interfaces.iter().all(|i| i.groups == [q.id.clone()])
            && stopped
    }
}

/// What the change does, and what its undo needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Isolation {
    instance: String,
    vpc: String,
    /// The finding, for the snapshot and instance tags.
    finding: String,
    snapshot_volumes: Vec<String>,
    /// The quarantine group to use; `None`: created by the change.
    quarantine: Option<String>,
    /// The groups each interface had: what the undo restores.
    previous_groups: Vec<Interface>,
    stop: bool,
}

/// What the undo writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Release {
    instance: String,
    groups: Vec<Interface>,
    start: bool,
}

/// A tag value of `text`: the characters tags take, at most 256.
fn tag_value(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect()
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn text(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

/// The finding an event carries: GuardDuty's id, an ASFF or OCSF
/// finding's id, else the event's.
fn finding_id(event: &Event) -> String {
    let detail = &event.body["detail"];
    if event.detail_type == GUARDDUTY_FINDING {
        if let Some(id) = text(&detail["id"]) {
            return id.to_string();
        }
    }
    if let Some(f) = event.finding() {
        return f.id.clone();
    }
    if let Some(f) = event.finding_value() {
        if let Some(id) = text(&f["metadata"]["uid"]).or(text(&f["finding_info"]["uid"])) {
            return id.to_string();
        }
    }
    event.id.clone()
}

pub struct Ec2IsolateInstance {
    aws: Arc<Aws>,
}

impl Ec2IsolateInstance {
    pub fn new(aws: Arc<Aws>) -> Self {
        Ec2IsolateInstance { aws }
    }

    /// The instance with its interfaces (`DescribeInstances`) and its VPC's
    /// quarantine group (`DescribeSecurityGroups`).
    async fn observe(&self, target: &Target, stop: bool) -> Result<Observed, ActionError> {
        let id = id_of(&INSTANCE, target, ID)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let out = ec2
            .describe_instances()
            .instance_ids(&id)
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeInstances", &id, e))?;
        let instance = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(id.as_str()))
            .filter(|i| i.state().and_then(|s| s.name()) != Some(&InstanceStateName::Terminated))
            .ok_or_else(|| {
                ActionError::new(
                    rectify_model::ErrorClass::NotFound,
                    format!("instance {id} not found (or terminated)"),
                )
            })?;
        let vpc = instance.vpc_id().map(str::to_string).ok_or_else(|| {
            ActionError::invalid(format!(
                "{ID}: instance {id} is in no VPC: security groups cannot isolate it; refused"
            ))
        })?;
        // Each interface's own groups, as DescribeInstances reports them.
        let mut interfaces: Vec<Interface> = instance
            .network_interfaces()
            .iter()
            .filter_map(|n| {
                let mut groups: Vec<String> = n
                    .groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string))
                    .collect();
                groups.sort();
                Some(Interface {
                    id: n.network_interface_id()?.to_string(),
                    groups,
                })
            })
            .collect();
        interfaces.sort_by(|a, b| a.id.cmp(&b.id));
        let mut volumes: Vec<String> = instance
            .block_device_mappings()
            .iter()
            .filter_map(|m| m.ebs().and_then(|e| e.volume_id()).map(str::to_string))
            .collect();
        volumes.sort();
        volumes.dedup();
        let tags = tag_map(tag_pairs(instance.tags()));
        let groups = ec2
            .describe_security_groups()
            .filters(Filter::builder().name("vpc-id").values(&vpc).build())
            .filters(
                Filter::builder()
                    .name("group-name")
                    .values(QUARANTINE_GROUP)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeSecurityGroups", QUARANTINE_GROUP, e))?;
        let quarantine = groups
            .security_groups()
            .iter()
            .find(|g| g.group_name() == Some(QUARANTINE_GROUP) && g.vpc_id() == Some(vpc.as_str()))
            .and_then(|g| {
                Some(Quarantine {
                    id: g.group_id()?.to_string(),
                    inbound_rules: g.ip_permissions().len(),
                    outbound_rules: g.ip_permissions_egress().len(),
                })
            });
        let state = InstanceState {
            instance: id,
            vpc,
            state: instance
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string())
                .unwrap_or_default(),
            interfaces,
            volumes,
            auto_scaling_group: tags
                .get(ASG_TAG)
                .and_then(Value::as_str)
                .map(str::to_string),
            quarantine,
        };
        Ok(Observed::new(state.isolated(stop), state, tags))
    }

    /// The quarantine group of `vpc`, made with no rule: created (tagged),
    /// then its egress rules (EC2's default allow-all) read and revoked.
    async fn create_quarantine(
        ec2: &aws_sdk_ec2::Client,
        vpc: &str,
        instance: &str,
    ) -> Result<String, ActionError> {
        let created = ec2
            .create_security_group()
            .group_name(QUARANTINE_GROUP)
            .description("rectify quarantine: no inbound, no outbound")
            .vpc_id(vpc)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::SecurityGroup)
                    .tags(tag("rectify:quarantine", "true"))
                    .tags(tag("Name", QUARANTINE_GROUP))
                    .build(),
            )
            .send()
            .await;
        let id = match created {
            Ok(out) => out.group_id().unwrap_or_default().to_string(),
            // Made meanwhile (another isolation in the VPC): use it.
            Err(e) if crate::errors::code_of(&e) == Some("InvalidGroup.Duplicate") => {
                let out = ec2
                    .describe_security_groups()
                    .filters(Filter::builder().name("vpc-id").values(vpc).build())
                    .filters(
                        Filter::builder()
                            .name("group-name")
                            .values(QUARANTINE_GROUP)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("ec2:DescribeSecurityGroups", vpc, e))?;
                out.security_groups()
                    .first()
                    .and_then(|g| g.group_id())
                    .unwrap_or_default()
                    .to_string()
            }
            Err(e) => return Err(sdk_error_on("ec2:CreateSecurityGroup", instance, e)),
        };
        if id.is_empty() {
            return Err(ActionError::new(
                rectify_model::ErrorClass::Transient,
                format!("ec2:CreateSecurityGroup in {vpc} returned no group id"),
            ));
        }
        Self::revoke_egress(ec2, &id).await?;
        Ok(id)
    }

    /// Revokes every outbound rule of group `id` (read first).
    async fn revoke_egress(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<(), ActionError> {
        let out = ec2
            .describe_security_groups()
            .group_ids(id)
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeSecurityGroups", id, e))?;
        let egress: Vec<_> = out
            .security_groups()
            .iter()
            .filter(|g| g.group_id() == Some(id))
            .flat_map(|g| g.ip_permissions_egress().iter().cloned())
            .collect();
        if egress.is_empty() {
            return Ok(());
        }
        ec2.revoke_security_group_egress()
            .group_id(id)
            .set_ip_permissions(Some(egress))
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:RevokeSecurityGroupEgress", id, e))?;
        Ok(())
    }

    async fn set_groups(
        ec2: &aws_sdk_ec2::Client,
        interface: &str,
        groups: &[String],
    ) -> Result<(), ActionError> {
        ec2.modify_network_interface_attribute()
            .network_interface_id(interface)
            .set_groups(Some(groups.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:ModifyNetworkInterfaceAttribute", interface, e))?;
        Ok(())
    }
}

#[async_trait]
impl Action for Ec2IsolateInstance {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        params_of(params).map(|_| ())
    }

    /// A GuardDuty finding's `resource.instanceDetails.instanceId`, or a
    /// finding's `AwsEc2Instance`; the finding's id rides along in the
    /// target's details (`FindingId`) for the snapshot tags.
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        let mut target = if event.detail_type == GUARDDUTY_FINDING {
            let detail = &event.body["detail"];
            let id =
                text(&detail["resource"]["instanceDetails"]["instanceId"]).ok_or_else(|| {
                    ActionError::invalid(format!(
                        "GuardDuty finding {} ({}) names no instance",
                        text(&detail["type"]).unwrap_or("?"),
                        event.id
                    ))
                })?;
            let account = text(&detail["accountId"]).unwrap_or(&event.account);
            let region = text(&detail["region"]).unwrap_or(&event.region);
            let listed = super::targets::listed(&INSTANCE, account, region, [id.to_string()]);
            let target = listed.into_iter().next().expect("one id, one target");
            id_of(&INSTANCE, &target, ID)?;
            target
        } else {
            target_of(&INSTANCE, event, &["/requestParameters/instanceId"])?
        };
        let mut details = match std::mem::take(&mut target.details) {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        details.insert("FindingId".into(), Value::String(finding_id(event)));
        target.details = Value::Object(details);
        Ok(target)
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let p = params_or_invalid(params)?;
        self.observe(target, p.stop).await
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        let p = params_or_invalid(params)?;
        let state: InstanceState = recorded(&observed.state, ID)?;
        if state.isolated(p.stop) {
            return Ok(no_change(
                format!(
                    "instance {} is already isolated (every interface in {} alone, which has no \
                     rule): nothing to do",
                    state.instance,
                    state
                        .quarantine
                        .as_ref()
                        .map(|q| q.id.as_str())
                        .unwrap_or("?")
                ),
                observed,
            ));
        }
        if let Some(q) = state
            .quarantine
            .as_ref()
            .filter(|q| q.inbound_rules + q.outbound_rules > 0)
        {
            return Err(ActionError::invalid(format!(
                "{ID}: security group {} ({QUARANTINE_GROUP}) of {} has {} inbound and {} outbound \
                 rule(s): not a quarantine; remove its rules (or the group) and run again; refused",
                q.id, state.vpc, q.inbound_rules, q.outbound_rules
            )));
        }
        if state.interfaces.is_empty() {
            return Err(ActionError::invalid(format!(
                "{ID}: instance {} has no network interface to isolate; refused",
                state.instance
            )));
        }
        let finding = target.details["FindingId"]
            .as_str()
            .unwrap_or("unknown finding")
            .to_string();
        let snapshots = if p.snapshot {
            state.volumes.clone()
        } else {
            Vec::new()
        };
        let group = match &state.quarantine {
            Some(q) => format!("the VPC's quarantine group {} (no rules)", q.id),
            None => format!(
                "a new quarantine group {QUARANTINE_GROUP} in {} (its default allow-all egress \
                 rule revoked: no rules at all)",
                state.vpc
            ),
        };
        let interfaces = state
            .interfaces
            .iter()
            .map(|i| format!("{} (was {})", i.id, i.groups.join(", ")))
            .collect::<Vec<_>>()
            .join("; ");
        let mut summary = format!("isolate instance {} ({}): ", state.instance, state.state);
        if !snapshots.is_empty() {
            summary.push_str(&format!(
                "snapshot volume(s) {} for forensics (kept, tagged {FINDING_TAG}); ",
                snapshots.join(", ")
            ));
        }
        summary.push_str(&format!(
            "put interface(s) {interfaces} in {group}; tag it {ISOLATED_TAG}"
        ));
        if p.stop {
            summary.push_str("; stop it (memory is lost)");
        }
        summary.push_str(
            "; connections already open stay open (security groups track them) until they \
             close or the instance stops",
        );
        Ok(Change::new(
            summary,
            observed.state.clone(),
            Isolation {
                instance: state.instance.clone(),
                vpc: state.vpc.clone(),
                finding,
                snapshot_volumes: snapshots,
                quarantine: state.quarantine.as_ref().map(|q| q.id.clone()),
                previous_groups: state.interfaces.clone(),
                stop: p.stop && !matches!(state.state.as_str(), "stopped" | "stopping"),
            },
        ))
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        params_or_invalid(params)?;
        if change.before == change.after {
            return Ok(());
        }
        let plan: Isolation = recorded(&change.after, ID)?;
        if plan.instance != id_of(&INSTANCE, target, ID)? {
            return Err(ActionError::invalid(format!(
                "{ID}: the change is for instance {}, not this target's; refused",
                plan.instance
            )));
        }
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let finding = tag_value(&plan.finding);
        // Evidence first. A job run again after a crash does not snapshot
        // a volume twice for the same finding.
        if !plan.snapshot_volumes.is_empty() {
            let taken = ec2
                .describe_snapshots()
                .owner_ids("self")
                .filters(
                    Filter::builder()
                        .name(format!("tag:{FORENSICS_TAG}"))
                        .values(&plan.instance)
                        .build(),
                )
                .filters(
                    Filter::builder()
                        .name(format!("tag:{FINDING_TAG}"))
                        .values(&finding)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:DescribeSnapshots", &plan.instance, e))?;
            let done: Vec<&str> = taken
                .snapshots()
                .iter()
                .filter_map(|s| s.volume_id())
                .collect();
            for volume in plan
                .snapshot_volumes
                .iter()
                .filter(|v| !done.contains(&v.as_str()))
            {
                ec2.create_snapshot()
                    .volume_id(volume)
                    .description(format!(
                        "rectify forensic snapshot of {volume} of {} ({})",
                        plan.instance,
                        plan.finding.chars().take(120).collect::<String>()
                    ))
                    .tag_specifications(
                        TagSpecification::builder()
                            .resource_type(ResourceType::Snapshot)
                            .tags(tag(FINDING_TAG, &finding))
                            .tags(tag(FORENSICS_TAG, &plan.instance))
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("ec2:CreateSnapshot", volume, e))?;
            }
        }
        let quarantine = match &plan.quarantine {
            Some(id) => id.clone(),
            None => Self::create_quarantine(&ec2, &plan.vpc, &plan.instance).await?,
        };
        for interface in &plan.previous_groups {
            Self::set_groups(&ec2, &interface.id, std::slice::from_ref(&quarantine)).await?;
        }
        ec2.create_tags()
            .resources(&plan.instance)
            .tags(tag(ISOLATED_TAG, &finding))
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:CreateTags", &plan.instance, e))?;
        if plan.stop {
            ec2.stop_instances()
                .instance_ids(&plan.instance)
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:StopInstances", &plan.instance, e))?;
        }
        Ok(())
    }

    /// An instance of an Auto Scaling group: the group's health checks may
    /// terminate it once it is cut off, and the evidence with it.
    fn intent(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        let Ok(state) = recorded::<InstanceState>(&observed.state, ID) else {
            return Vec::new();
        };
        match &state.auto_scaling_group {
            Some(group) => vec![format!(
                "instance {} belongs to Auto Scaling group {group}: once isolated it fails its \
                 health checks and the group may terminate it (and its memory and disks with \
                 it) and launch another; detach it from the group (or suspend the group's \
                 ReplaceUnhealthy and HealthCheck processes) before approving",
                state.instance
            )],
            None => Vec::new(),
        }
    }

    /// Security groups are stateful: connections tracked before the change
    /// survive it; the snapshots stay.
    fn left_in_place(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        let Ok(state) = recorded::<InstanceState>(&observed.state, ID) else {
            return Vec::new();
        };
        if state.quarantine.is_none() {
            return Vec::new();
        }
        vec![format!(
            "instance {} is isolated, but connections it had open before (tracked by its former \
             security groups) survive a change of groups until they close: stop the instance \
             (stop_instance: true) or block its subnet's network ACL to cut them; forensic \
             snapshots of its volumes are tagged {FORENSICS_TAG}={}",
            state.instance, state.instance
        )]
    }

    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        params_or_invalid(params)?;
        if applied.before == applied.after {
            return Err(ActionError::invalid(format!(
                "{ID}: that job changed nothing (the instance was already isolated): nothing to undo"
            )));
        }
        let id = id_of(&INSTANCE, target, ID)?;
        let done: Isolation = recorded(&applied.after, ID)?;
        let current: InstanceState = recorded(&now.state, ID)?;
        let quarantine = current
            .quarantine
            .as_ref()
            .map(|q| q.id.clone())
            .unwrap_or_default();
        // Every interface the change isolated still has the quarantine
        // group alone.
        let now_groups: Vec<Interface> = done
            .previous_groups
            .iter()
            .map(|i| Interface {
                id: i.id.clone(),
                groups: current
                    .interfaces
                    .iter()
                    .find(|c| c.id == i.id)
                    .map(|c| c.groups.clone())
                    .unwrap_or_default(),
            })
            .collect();
        let left: Vec<Interface> = done
            .previous_groups
            .iter()
            .map(|i| Interface {
                id: i.id.clone(),
                groups: vec![quarantine.clone()],
            })
            .collect();
        crate::actions::unchanged_since(
            || format!("the security groups of the interfaces of instance {id}"),
            &now_groups,
            &left,
        )?;
        let start = done.stop;
        Ok(Change::new(
            format!(
                "give the interface(s) of instance {id} their security groups back ({}){}; the \
                 forensic snapshots, the quarantine group and the {ISOLATED_TAG} tag stay",
                done.previous_groups
                    .iter()
                    .map(|i| format!("{}: {}", i.id, i.groups.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; "),
                if start { "; start it again" } else { "" }
            ),
            now.state.clone(),
            Release {
                instance: id,
                groups: done.previous_groups,
                start,
            },
        ))
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        params_or_invalid(params)?;
        let undo: Release = recorded(&change.after, ID)?;
        if undo.instance != id_of(&INSTANCE, target, ID)? {
            return Err(ActionError::invalid(format!(
                "{ID}: the undo is for instance {}, not this target's; refused",
                undo.instance
            )));
        }
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        for interface in &undo.groups {
            Self::set_groups(&ec2, &interface.id, &interface.groups).await?;
        }
        if undo.start {
            ec2.start_instances()
                .instance_ids(&undo.instance)
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:StartInstances", &undo.instance, e))?;
        }
        Ok(())
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let p = params_or_invalid(params)?;
        let undo: Release = recorded(&change.after, ID)?;
        let now: InstanceState = recorded(&self.observe(target, p.stop).await?.state, ID)?;
        Ok(undo.groups.iter().all(|want| {
            now.interfaces
                .iter()
                .any(|i| i.id == want.id && i.groups == want.groups)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(groups: &[&[&str]], quarantine: Option<(usize, usize)>, asg: bool) -> Observed {
        let s = InstanceState {
            instance: "i-0123456789abcdef0".into(),
            vpc: "vpc-0123456789abcdef0".into(),
            state: "running".into(),
            interfaces: groups
                .iter()
                .enumerate()
                .map(|(n, g)| Interface {
                    id: format!("eni-{n}"),
                    groups: g.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
            volumes: vec!["vol-1".into()],
            auto_scaling_group: asg.then(|| "web".to_string()),
            quarantine: quarantine.map(|(i, o)| Quarantine {
                id: "sg-q".into(),
                inbound_rules: i,
                outbound_rules: o,
            }),
        };
        let compliant = s.isolated(false);
        Observed::new(compliant, s, Default::default())
    }

    #[tokio::test]
    async fn plan_intent_and_undo() {
        let a = Ec2IsolateInstance::new(Arc::new(
            Aws::new(crate::AwsSettings::new("us-east-1")).await,
        ));
        let mut t = crate::actions::testing::target(
            "AwsEc2Instance",
            "arn:aws:ec2:us-east-1:111122223333:instance/i-0123456789abcdef0",
            json!({"FindingId": "gd-1"}),
        );
        t.region = "us-east-1".into();
        let open = state(&[&["sg-a", "sg-b"], &["sg-c"]], None, true);
        assert!(!open.compliant);
        let change = a.plan(&t, &json!({}), &open).unwrap();
        let plan: Isolation = recorded(&change.after, ID).unwrap();
        assert_eq!(plan.previous_groups.len(), 2);
        assert_eq!(plan.snapshot_volumes, ["vol-1"]);
        assert_eq!(plan.quarantine, None);
        assert!(change
            .summary
            .contains("connections already open stay open"));
        assert!(a.intent(&t, &json!({}), &open)[0].contains("Auto Scaling group web"));
        let isolated = state(&[&["sg-q"], &["sg-q"]], Some((0, 0)), false);
        assert!(isolated.compliant);
        let noop = a.plan(&t, &json!({}), &isolated).unwrap();
        assert_eq!(noop.before, noop.after);
        assert_eq!(a.left_in_place(&t, &json!({}), &isolated).len(), 1);
        let undo = a.revert_plan(&t, &json!({}), &change, &isolated).unwrap();
        let release: Release = recorded(&undo.after, ID).unwrap();
        assert_eq!(release.groups[0].groups, ["sg-a", "sg-b"]);
        assert!(a
            .revert_plan(&t, &json!({}), &change, &open)
            .unwrap_err()
            .message
            .contains("has changed since"));
        let ruled = state(&[&["sg-a"]], Some((1, 0)), false);
        assert!(a.plan(&t, &json!({}), &ruled).is_err());
        assert!(a.validate_params(&json!({"stop_instance": "yes"})).is_err());
        assert_eq!(tag_value("arn:aws:x/y#z"), "arn:aws:x/y_z");
    }
}
