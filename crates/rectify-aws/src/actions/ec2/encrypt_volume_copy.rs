//! `aws.ec2.encrypt-volume-copy`: an unencrypted EBS volume (Security Hub
//! EC2.3, AWS Config `encrypted-volumes`) cannot be encrypted in place.
//! The action snapshots it (`CreateSnapshot`), copies the snapshot
//! encrypted (`CopySnapshot`, with the param `kms_key_id` or the
//! account's default EBS key) and creates an encrypted volume from the
//! copy in the same Availability Zone, of the same size, type, IOPS and
//! throughput (`CreateVolume`). Each carries the tag
//! `rectify:encrypted-copy-of` (the volume's id), so that a run cut off
//! goes on where it stopped.
//!
//! The swap is left to a person: the original volume stays attached and
//! unencrypted, and the outcome (NOTIFIED, never RESOLVED) says how to
//! swap (stop the instance, detach the original, attach the copy at the
//! same device, start the instance). With the param `replace: true` the
//! action swaps itself: it stops the instance, detaches the original,
//! attaches the copy at the same device and starts the instance again if
//! it was running; the original volume and both snapshots are kept. The
//! jobs wait for a person's approval by default. The undo swaps back if
//! it swapped and deletes the volume and snapshots rectify created.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, InstanceStateName, ResourceType, Snapshot, SnapshotState, Tag, TagSpecification,
    Volume, VolumeType,
};
use rectify_model::{
    Action, ActionError, ActionSpec, Change, ErrorClass, Event, Observed, ParamSpec, Target,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::targets::{described, id_of, listed, tag_pairs, target_of, VOLUME};
use crate::actions::{
    bool_param, changed_since, collect_pages, ec2_client, params_object, recorded, reject_unknown,
    string_param, tag_map,
};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.ec2.encrypt-volume-copy";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Make an encrypted copy of an unencrypted EBS volume (snapshot, encrypted snapshot copy, new volume in the same zone); the swap is left to a person unless replace is set.",
    controls: &["EC2.3"],
    resource_types: &["AwsEc2Volume"],
    account_wide: false,
    permissions: &[
        "ec2:DescribeVolumes",
        "ec2:DescribeSnapshots",
        "ec2:DescribeInstances",
        "ec2:CreateSnapshot",
        "ec2:CopySnapshot",
        "ec2:CreateVolume",
        "ec2:CreateTags",
        "ec2:StopInstances",
        "ec2:StartInstances",
        "ec2:DetachVolume",
        "ec2:AttachVolume",
        "ec2:DeleteVolume",
        "ec2:DeleteSnapshot",
        // The encrypted copy and volume use the KMS key.
        "kms:CreateGrant",
        "kms:DescribeKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
    ],
    params: &[
        ParamSpec {
            name: "kms_key_id",
            kind: "string",
            default: "null",
            doc: "The KMS key of the encrypted copy (ARN or key id). Default: the account's default EBS key.",
        },
        ParamSpec {
            name: "replace",
            kind: "boolean",
            default: "false",
            doc: "Swap the volumes: stop the instance, detach the original, attach the copy at the same device, start the instance again. The instance is down meanwhile. Default: the swap is left to a person.",
        },
    ],
    // check (DescribeVolumes of the volume and of its copies,
    // DescribeSnapshots), apply (the same two reads of what exists,
    // CreateSnapshot, DescribeSnapshots until completed, CopySnapshot,
    // DescribeSnapshots until completed, CreateVolume; snapshots that
    // complete by the first look, replace off), verify (as check).
    calls_per_fix: 13,
    approval_by_default: true,
};

/// The tag on what rectify creates: the original volume's id.
const COPY_TAG: &str = "rectify:encrypted-copy-of";
/// The tag that tells the two snapshots apart: `source` or `encrypted`.
const STAGE_TAG: &str = "rectify:stage";
/// How long `apply` waits for a snapshot, a volume or an instance before
/// it gives up for now (the job runs again and goes on from there).
const WAIT: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Params {
    kms_key_id: Option<String>,
    replace: bool,
}

fn params_of(params: &Value) -> Result<Params, String> {
    let p = params_object(params)?;
    reject_unknown(&p, &["kms_key_id", "replace"], ID)?;
    Ok(Params {
        kms_key_id: string_param(&p, "kms_key_id", 2048)?,
        replace: bool_param(&p, "replace", false)?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Attachment {
    instance: String,
    device: String,
}

/// A snapshot or volume rectify created for the volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Made {
    id: String,
    /// `source` or `encrypted` (snapshots); `volume`.
    stage: String,
    state: String,
    encrypted: bool,
    /// Instances a created volume is attached to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    attached_to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct VolumeState {
    volume: String,
    encrypted: bool,
    availability_zone: String,
    size: i32,
    volume_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iops: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    throughput: Option<i32>,
    attachments: Vec<Attachment>,
    /// What rectify created for it, sorted by id.
    made: Vec<Made>,
}

impl VolumeState {
    fn copy(&self) -> Option<&Made> {
        self.made.iter().find(|m| m.stage == "volume")
    }
}

/// What a change brings about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Plan {
    kms_key_id: Option<String>,
    replace: bool,
}

/// What an undo removes (and swaps back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Undo {
    /// `(instance, device)` to attach the original at again, when the
    /// copy took its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    swap_back: Option<Attachment>,
    delete_volume: Option<String>,
    delete_snapshots: Vec<String>,
}

pub struct Ec2EncryptVolumeCopy {
    aws: Arc<Aws>,
}

fn creation_tags(kind: ResourceType, volume: &str, stage: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .tags(Tag::builder().key(COPY_TAG).value(volume).build())
        .tags(Tag::builder().key(STAGE_TAG).value(stage).build())
        .build()
}

/// What rectify created for one volume, from the snapshots and volumes
/// that carry its tag, sorted by id.
fn made_of(snapshots: &[Snapshot], volumes: &[Volume]) -> Vec<Made> {
    let stage = |tags: &[Tag]| {
        tags.iter()
            .find(|t| t.key() == Some(STAGE_TAG))
            .and_then(|t| t.value())
            .unwrap_or_default()
            .to_string()
    };
    let mut made: Vec<Made> = snapshots
        .iter()
        .map(|s| Made {
            id: s.snapshot_id().unwrap_or_default().to_string(),
            stage: stage(s.tags()),
            state: s
                .state()
                .map(|x| x.as_str().to_string())
                .unwrap_or_default(),
            encrypted: s.encrypted().unwrap_or(false),
            attached_to: Vec::new(),
        })
        .chain(volumes.iter().map(|v| {
            Made {
                id: v.volume_id().unwrap_or_default().to_string(),
                stage: "volume".into(),
                state: v
                    .state()
                    .map(|x| x.as_str().to_string())
                    .unwrap_or_default(),
                encrypted: v.encrypted().unwrap_or(false),
                attached_to: v
                    .attachments()
                    .iter()
                    .filter_map(|a| a.instance_id().map(str::to_string))
                    .collect(),
            }
        }))
        .collect();
    made.sort_by(|a, b| a.id.cmp(&b.id));
    made
}

/// The volume `v` (id `id`) as the check reads it, with what rectify made
/// for it.
fn observed_of(id: &str, v: &Volume, made: Vec<Made>) -> (VolumeState, Observed) {
    let state = VolumeState {
        volume: id.to_string(),
        encrypted: v.encrypted().unwrap_or(false),
        availability_zone: v.availability_zone().unwrap_or_default().to_string(),
        size: v.size().unwrap_or_default(),
        volume_type: v
            .volume_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        iops: v.iops(),
        throughput: v.throughput(),
        attachments: v
            .attachments()
            .iter()
            .filter_map(|a| {
                Some(Attachment {
                    instance: a.instance_id()?.to_string(),
                    device: a.device().unwrap_or_default().to_string(),
                })
            })
            .collect(),
        made,
    };
    let observed = Observed {
        // Encrypted, or an encrypted copy exists (what is left to do
        // is reported by `left_in_place`).
        compliant: state.encrypted
            || state
                .copy()
                .is_some_and(|c| c.encrypted && c.state != "error"),
        state: serde_json::to_value(&state).expect("plain struct"),
        tags: tag_map(tag_pairs(v.tags())),
    };
    (state, observed)
}

/// Whether `tags` name `volume` as what rectify copied.
fn made_for(tags: &[Tag], volume: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some(COPY_TAG) && t.value() == Some(volume))
}

fn tag_filter(volume: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{COPY_TAG}"))
        .values(volume)
        .build()
}

/// Polls `done` every few seconds until it holds, up to [`WAIT`]; then a
/// transient error (the job runs again later and goes on).
async fn wait_for<F, Fut>(what: &str, mut done: F) -> Result<(), ActionError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, ActionError>>,
{
    let start = std::time::Instant::now();
    let mut pause = Duration::from_secs(2);
    loop {
        if done().await? {
            return Ok(());
        }
        if start.elapsed() > WAIT {
            return Err(ActionError::new(
                ErrorClass::Transient,
                format!(
                    "{ID}: still waiting for {what}; the job goes on from there when it runs again"
                ),
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}

impl Ec2EncryptVolumeCopy {
    pub fn new(aws: Arc<Aws>) -> Self {
        Ec2EncryptVolumeCopy { aws }
    }

    /// The snapshots and volumes rectify created for `volume`.
    async fn made(ec2: &aws_sdk_ec2::Client, volume: &str) -> Result<Vec<Made>, ActionError> {
        let snaps = ec2
            .describe_snapshots()
            .owner_ids("self")
            .filters(tag_filter(volume))
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeSnapshots", volume, e))?;
        let vols = ec2
            .describe_volumes()
            .filters(tag_filter(volume))
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeVolumes", volume, e))?;
        Ok(made_of(snaps.snapshots(), vols.volumes()))
    }

    async fn read(&self, target: &Target) -> Result<(VolumeState, Observed), ActionError> {
        let id = id_of(&VOLUME, target, ID)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let out = ec2
            .describe_volumes()
            .volume_ids(&id)
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeVolumes", &id, e))?;
        let v = described(out.volumes(), |v| v.volume_id(), "volume", &id)?;
        let made = Self::made(&ec2, &id).await?;
        Ok(observed_of(&id, v, made))
    }

    /// Every volume of the region and every snapshot rectify made (by its
    /// tag), listed once per scan: the volumes' checks judge from them
    /// without a call per volume.
    async fn listed_in_scan(
        &self,
        account: &str,
        region: &str,
        reads: &rectify_model::ScanReads,
    ) -> Result<Arc<(Vec<Volume>, Vec<Snapshot>)>, ActionError> {
        let key = format!("ec2:DescribeVolumes+DescribeSnapshots/{account}/{region}");
        reads
            .once(&key, || async {
                let ec2 = ec2_client(&self.aws, account, region).await?;
                let at = format!("account {account} in {region}");
                let volumes = collect_pages(|token| {
                    let request = ec2
                        .describe_volumes()
                        .max_results(500)
                        .set_next_token(token);
                    let at = at.as_str();
                    reads.call("ec2", region, move || {
                        let request = request.clone();
                        async move {
                            let out = request
                                .send()
                                .await
                                .map_err(|e| sdk_error_on("ec2:DescribeVolumes", at, e))?;
                            Ok((out.volumes().to_vec(), out.next_token().map(str::to_string)))
                        }
                    })
                })
                .await?;
                let snapshots = collect_pages(|token| {
                    let request = ec2
                        .describe_snapshots()
                        .owner_ids("self")
                        .filters(Filter::builder().name("tag-key").values(COPY_TAG).build())
                        .max_results(1000)
                        .set_next_token(token);
                    let at = at.as_str();
                    reads.call("ec2", region, move || {
                        let request = request.clone();
                        async move {
                            let out = request
                                .send()
                                .await
                                .map_err(|e| sdk_error_on("ec2:DescribeSnapshots", at, e))?;
                            Ok((
                                out.snapshots().to_vec(),
                                out.next_token().map(str::to_string),
                            ))
                        }
                    })
                })
                .await?;
                Ok((volumes, snapshots))
            })
            .await
    }

    async fn snapshot_completed(
        ec2: &aws_sdk_ec2::Client,
        snapshot: &str,
    ) -> Result<bool, ActionError> {
        let out = ec2
            .describe_snapshots()
            .snapshot_ids(snapshot)
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeSnapshots", snapshot, e))?;
        match out.snapshots().first().and_then(|s| s.state()) {
            Some(SnapshotState::Completed) => Ok(true),
            Some(SnapshotState::Error) => Err(ActionError::invalid(format!(
                "snapshot {snapshot} failed (state error); delete it to let rectify try again"
            ))),
            _ => Ok(false),
        }
    }

    async fn volume_state(ec2: &aws_sdk_ec2::Client, volume: &str) -> Result<String, ActionError> {
        let out = ec2
            .describe_volumes()
            .volume_ids(volume)
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeVolumes", volume, e))?;
        Ok(out
            .volumes()
            .first()
            .and_then(|v| v.state())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default())
    }

    async fn instance_state(
        ec2: &aws_sdk_ec2::Client,
        instance: &str,
    ) -> Result<InstanceStateName, ActionError> {
        let out = ec2
            .describe_instances()
            .instance_ids(instance)
            .send()
            .await
            .map_err(|e| sdk_error_on("ec2:DescribeInstances", instance, e))?;
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find_map(|i| i.state().and_then(|s| s.name()).cloned())
            .ok_or_else(|| {
                ActionError::new(
                    ErrorClass::NotFound,
                    format!("instance {instance} not found"),
                )
            })
    }

    /// Moves the volume at `at` from `from` to `to`: stops the instance
    /// if it runs, detaches `from`, attaches `to` at the same device,
    /// starts the instance again if it was running.
    async fn swap(
        ec2: &aws_sdk_ec2::Client,
        at: &Attachment,
        from: &str,
        to: &str,
    ) -> Result<(), ActionError> {
        let instance = at.instance.as_str();
        let was_running = Self::instance_state(ec2, instance).await? == InstanceStateName::Running;
        if was_running {
            ec2.stop_instances()
                .instance_ids(instance)
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:StopInstances", instance, e))?;
            wait_for(&format!("instance {instance} to stop"), || async {
                Ok(Self::instance_state(ec2, instance).await? == InstanceStateName::Stopped)
            })
            .await?;
        }
        if Self::volume_state(ec2, from).await? == "in-use" {
            ec2.detach_volume()
                .volume_id(from)
                .instance_id(instance)
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:DetachVolume", from, e))?;
            wait_for(&format!("volume {from} to detach"), || async {
                Ok(Self::volume_state(ec2, from).await? == "available")
            })
            .await?;
        }
        if Self::volume_state(ec2, to).await? == "available" {
            ec2.attach_volume()
                .volume_id(to)
                .instance_id(instance)
                .device(&at.device)
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:AttachVolume", to, e))?;
            wait_for(&format!("volume {to} to attach"), || async {
                Ok(Self::volume_state(ec2, to).await? == "in-use")
            })
            .await?;
        }
        if was_running {
            ec2.start_instances()
                .instance_ids(instance)
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:StartInstances", instance, e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Action for Ec2EncryptVolumeCopy {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        params_of(params).map(|_| ())
    }

    /// The volume an `AttachVolume` call names, an AWS Config
    /// `encrypted-volumes` evaluation's, or a finding's `AwsEc2Volume`.
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        target_of(&VOLUME, event, &["/requestParameters/volumeId"])
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        params_of(params).map_err(ActionError::invalid)?;
        Ok(self.read(target).await?.1)
    }

    /// From the scan's listing of the region's volumes and of the
    /// snapshots rectify made; a volume it does not hold is read anew.
    async fn check_in_scan(
        &self,
        target: &Target,
        params: &Value,
        reads: &rectify_model::ScanReads,
    ) -> Result<Observed, ActionError> {
        params_of(params).map_err(ActionError::invalid)?;
        let id = id_of(&VOLUME, target, ID)?;
        let listed = self
            .listed_in_scan(&target.account, &target.region, reads)
            .await?;
        let (volumes, snapshots) = (&listed.0, &listed.1);
        let Some(v) = volumes.iter().find(|v| v.volume_id() == Some(id.as_str())) else {
            return self.check(target, params).await;
        };
        let made = made_of(
            &snapshots
                .iter()
                .filter(|s| made_for(s.tags(), &id))
                .cloned()
                .collect::<Vec<_>>(),
            &volumes
                .iter()
                .filter(|v| made_for(v.tags(), &id))
                .cloned()
                .collect::<Vec<_>>(),
        );
        Ok(observed_of(&id, v, made).1)
    }

    fn plan(&self, _: &Target, params: &Value, observed: &Observed) -> Result<Change, ActionError> {
        let p = params_of(params).map_err(ActionError::invalid)?;
        let s: VolumeState = recorded(&observed.state, ID)?;
        let key = p
            .kms_key_id
            .clone()
            .unwrap_or_else(|| "the account's default EBS key".into());
        let swap = match (p.replace, s.attachments.first()) {
            (true, Some(a)) => format!(
                "; then swap: stop instance {} (if running), detach {}, attach the copy at {}, start it again; the original volume and both snapshots are kept",
                a.instance, s.volume, a.device
            ),
            (false, Some(a)) => format!(
                "; the swap is left to a person: {} stays attached to instance {} at {} and unencrypted",
                s.volume, a.instance, a.device
            ),
            (_, None) => format!("; {} is attached to nothing and stays as it is", s.volume),
        };
        Ok(Change {
            summary: format!(
                "make an encrypted copy of volume {} ({} GiB {}, {}): snapshot it, copy the snapshot encrypted with {key}, create a volume from the copy in {}{swap}",
                s.volume, s.size, s.volume_type, s.availability_zone, s.availability_zone
            ),
            before: observed.state.clone(),
            after: serde_json::to_value(Plan {
                kms_key_id: p.kms_key_id,
                replace: p.replace,
            })
            .expect("plain struct"),
        })
    }

    /// Goes on from what exists (tagged), so a run cut off resumes.
    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        params_of(params).map_err(ActionError::invalid)?;
        let plan: Plan = recorded(&change.after, ID)?;
        let s: VolumeState = recorded(&change.before, ID)?;
        let id = id_of(&VOLUME, target, ID)?;
        if s.volume != id {
            return Err(ActionError::invalid(format!(
                "{ID}: the change is of volume {}, not {id}",
                s.volume
            )));
        }
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        let made = Self::made(&ec2, &id).await?;
        let find = |stage: &str| made.iter().find(|m| m.stage == stage).map(|m| m.id.clone());

        let source = match find("source") {
            Some(snap) => snap,
            None => ec2
                .create_snapshot()
                .volume_id(&id)
                .description(format!("rectify: source of the encrypted copy of {id}"))
                .tag_specifications(creation_tags(ResourceType::Snapshot, &id, "source"))
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:CreateSnapshot", &id, e))?
                .snapshot_id()
                .unwrap_or_default()
                .to_string(),
        };
        wait_for(&format!("snapshot {source} of {id}"), || {
            Self::snapshot_completed(&ec2, &source)
        })
        .await?;

        let encrypted = match find("encrypted") {
            Some(snap) => snap,
            None => ec2
                .copy_snapshot()
                .source_snapshot_id(&source)
                .source_region(&target.region)
                .encrypted(true)
                .set_kms_key_id(plan.kms_key_id.clone())
                .description(format!("rectify: encrypted copy of {source} ({id})"))
                .tag_specifications(creation_tags(ResourceType::Snapshot, &id, "encrypted"))
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:CopySnapshot", &source, e))?
                .snapshot_id()
                .unwrap_or_default()
                .to_string(),
        };
        wait_for(&format!("encrypted snapshot {encrypted} of {id}"), || {
            Self::snapshot_completed(&ec2, &encrypted)
        })
        .await?;

        let copy = match find("volume") {
            Some(vol) => vol,
            None => {
                let provisioned = ["io1", "io2", "gp3"].contains(&s.volume_type.as_str());
                ec2.create_volume()
                    .availability_zone(&s.availability_zone)
                    .snapshot_id(&encrypted)
                    .volume_type(VolumeType::from(s.volume_type.as_str()))
                    .set_iops(s.iops.filter(|_| provisioned))
                    .set_throughput(s.throughput.filter(|_| s.volume_type == "gp3"))
                    .encrypted(true)
                    .set_kms_key_id(plan.kms_key_id.clone())
                    .tag_specifications(creation_tags(ResourceType::Volume, &id, "volume"))
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("ec2:CreateVolume", &id, e))?
                    .volume_id()
                    .unwrap_or_default()
                    .to_string()
            }
        };
        if plan.replace {
            if let Some(at) = s.attachments.first() {
                wait_for(&format!("volume {copy} to be available"), || async {
                    let state = Self::volume_state(&ec2, &copy).await?;
                    Ok(state == "available" || state == "in-use")
                })
                .await?;
                Self::swap(&ec2, at, &id, &copy).await?;
            }
        }
        Ok(())
    }

    /// Always: a copy takes disk space and, swapped, stops the instance.
    fn intent(&self, _: &Target, params: &Value, observed: &Observed) -> Vec<String> {
        let Ok(s) = recorded::<VolumeState>(&observed.state, ID) else {
            return Vec::new();
        };
        let replace = params_of(params).map(|p| p.replace).unwrap_or(false);
        s.attachments
            .iter()
            .map(|a| {
                if replace {
                    format!(
                        "volume {} is attached to instance {} at {}: replace stops the instance, swaps the volume and starts it again (downtime; data written after the snapshot is not in the copy)",
                        s.volume, a.instance, a.device
                    )
                } else {
                    format!(
                        "volume {} is attached to instance {} at {}: the copy is made from a snapshot of a volume in use (data written after the snapshot is not in the copy) and costs its storage until someone swaps it in",
                        s.volume, a.instance, a.device
                    )
                }
            })
            .collect()
    }

    fn left_in_place(&self, _: &Target, _: &Value, observed: &Observed) -> Vec<String> {
        let Ok(s) = recorded::<VolumeState>(&observed.state, ID) else {
            return Vec::new();
        };
        if s.encrypted {
            return Vec::new();
        }
        let Some(copy) = s.copy() else {
            return Vec::new();
        };
        let snapshots: Vec<&str> = s
            .made
            .iter()
            .filter(|m| m.stage != "volume")
            .map(|m| m.id.as_str())
            .collect();
        let mut left = Vec::new();
        for a in &s.attachments {
            left.push(format!(
                "volume {} is still attached to instance {} at {} and unencrypted; the encrypted copy {} waits in {}: stop the instance, detach {}, attach {} at {}, start the instance (or run the job with replace: true)",
                s.volume, a.instance, a.device, copy.id, s.availability_zone, s.volume, copy.id, a.device
            ));
        }
        if s.attachments.is_empty() {
            left.push(format!(
                "volume {} stays unencrypted{}; the encrypted copy is {}; delete {} once the copy is in use",
                s.volume,
                if copy.attached_to.is_empty() {
                    String::new()
                } else {
                    format!(" (detached; the copy is attached to {})", copy.attached_to.join(", "))
                },
                copy.id,
                s.volume
            ));
        }
        left.push(format!(
            "snapshots {} (rectify:encrypted-copy-of {}) are kept; delete them when no longer needed",
            snapshots.join(", "),
            s.volume
        ));
        left
    }

    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        params_of(params).map_err(ActionError::invalid)?;
        let id = id_of(&VOLUME, target, ID)?;
        let before: VolumeState = recorded(&applied.before, ID)?;
        let current: VolumeState = recorded(&now.state, ID)?;
        let Some(copy) = current.copy() else {
            return Err(changed_since(
                &format!("volume {id}"),
                &json!(current.made),
                &json!("an encrypted copy tagged rectify:encrypted-copy-of"),
            ));
        };
        let swap_back = match before.attachments.first() {
            Some(at) if copy.attached_to.contains(&at.instance) => {
                if !current.attachments.is_empty() {
                    return Err(changed_since(
                        &format!("volume {id}"),
                        &json!(current.attachments),
                        &json!("detached, its copy in its place"),
                    ));
                }
                Some(at.clone())
            }
            _ if !copy.attached_to.is_empty() => {
                return Err(ActionError::invalid(format!(
                    "{ID}: the copy {} is attached to {} (not by rectify); detach it first",
                    copy.id,
                    copy.attached_to.join(", ")
                )))
            }
            _ => None,
        };
        let undo = Undo {
            swap_back: swap_back.clone(),
            delete_volume: Some(copy.id.clone()),
            delete_snapshots: current
                .made
                .iter()
                .filter(|m| m.stage != "volume")
                .map(|m| m.id.clone())
                .collect(),
        };
        Ok(Change {
            summary: format!(
                "{}delete what rectify created for volume {id}: volume {} and snapshots {}",
                match &swap_back {
                    Some(at) => format!(
                        "put volume {id} back on instance {} at {} (stopping and starting it if running); ",
                        at.instance, at.device
                    ),
                    None => String::new(),
                },
                copy.id,
                undo.delete_snapshots.join(", ")
            ),
            before: now.state.clone(),
            after: serde_json::to_value(undo).expect("plain struct"),
        })
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        params_of(params).map_err(ActionError::invalid)?;
        let id = id_of(&VOLUME, target, ID)?;
        let undo: Undo = recorded(&change.after, ID)?;
        let ec2 = ec2_client(&self.aws, &target.account, &target.region).await?;
        if let (Some(at), Some(copy)) = (&undo.swap_back, &undo.delete_volume) {
            Self::swap(&ec2, at, copy, &id).await?;
        }
        // What is still there (a second run finds less).
        let present: Vec<String> = Self::made(&ec2, &id)
            .await?
            .into_iter()
            .map(|m| m.id)
            .collect();
        if let Some(copy) = undo.delete_volume.as_ref().filter(|c| present.contains(c)) {
            ec2.delete_volume()
                .volume_id(copy)
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:DeleteVolume", copy, e))?;
        }
        for snap in undo.delete_snapshots.iter().filter(|s| present.contains(s)) {
            ec2.delete_snapshot()
                .snapshot_id(snap)
                .send()
                .await
                .map_err(|e| sdk_error_on("ec2:DeleteSnapshot", snap, e))?;
        }
        Ok(())
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        params_of(params).map_err(ActionError::invalid)?;
        let (now, _) = self.read(target).await?;
        let undo: Undo = recorded(&change.after, ID)?;
        let gone = now.made.iter().all(|m| {
            Some(&m.id) != undo.delete_volume.as_ref() && !undo.delete_snapshots.contains(&m.id)
        });
        let back = match &undo.swap_back {
            Some(at) => now.attachments.contains(at),
            None => true,
        };
        Ok(gone && back)
    }

    async fn inventory(&self, target: &Target, _: &Value) -> Result<Option<u64>, ActionError> {
        Ok(Some(
            self.volumes(&target.account, &target.region).await?.len() as u64,
        ))
    }

    /// The account's unencrypted volumes in `region` (encrypted ones
    /// need nothing).
    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        let unencrypted = self
            .volumes(account, region)
            .await?
            .into_iter()
            .filter(|(_, encrypted)| !encrypted)
            .map(|(id, _)| id);
        Ok(listed(&VOLUME, account, region, unencrypted))
    }

    async fn discover_in_scan(
        &self,
        account: &str,
        region: &str,
        reads: &rectify_model::ScanReads,
    ) -> Result<Vec<Target>, ActionError> {
        let listed_now = self.listed_in_scan(account, region, reads).await?;
        let unencrypted = listed_now
            .0
            .iter()
            .filter(|v| !v.encrypted().unwrap_or(false))
            .filter_map(|v| v.volume_id().map(str::to_string));
        Ok(listed(&VOLUME, account, region, unencrypted))
    }
}

impl Ec2EncryptVolumeCopy {
    /// The account's volumes in `region`: `(id, encrypted)`.
    async fn volumes(
        &self,
        account: &str,
        region: &str,
    ) -> Result<Vec<(String, bool)>, ActionError> {
        let ec2 = ec2_client(&self.aws, account, region).await?;
        collect_pages(|token| {
            let request = ec2.describe_volumes().set_next_token(token);
            async move {
                let out = request
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("ec2:DescribeVolumes", "the account's volumes", e))?;
                let ids = out
                    .volumes()
                    .iter()
                    .filter_map(|v| {
                        Some((v.volume_id()?.to_string(), v.encrypted().unwrap_or(false)))
                    })
                    .collect();
                Ok((ids, out.next_token().map(str::to_string)))
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params() {
        assert_eq!(
            params_of(&json!({})).unwrap(),
            Params {
                kms_key_id: None,
                replace: false
            }
        );
        assert!(params_of(&json!({"replace": true})).unwrap().replace);
        assert!(params_of(&json!({"replace": "yes"})).is_err());
        assert!(params_of(&json!({"swap": true})).is_err());
    }
}
