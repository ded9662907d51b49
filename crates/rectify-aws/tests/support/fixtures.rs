//! Resources the emulator tests build and read again and again (VPCs,
//! subnets, default groups, network interfaces, a public AMI, the EBS
//! default encryption, a website bucket), through the test's own clients.
//! Shared by the action tests (`tests/moto`) and the harm suite
//! (`tests/harm`), which include this file by path; it needs only the SDK
//! crates.
#![allow(dead_code)]

use aws_sdk_ec2::types::{
    Filter, LaunchPermission, LaunchPermissionModifications, OperationType, PermissionGroup,
    SnapshotAttributeName,
};

/// A new VPC with `cidr`: its id.
pub async fn new_vpc(ec2: &aws_sdk_ec2::Client, cidr: &str) -> String {
    ec2.create_vpc()
        .cidr_block(cidr)
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap()
}

/// A new subnet of `vpc` with `cidr`: its id.
pub async fn new_subnet(ec2: &aws_sdk_ec2::Client, vpc: &str, cidr: &str) -> String {
    ec2.create_subnet()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .send()
        .await
        .unwrap()
        .subnet
        .unwrap()
        .subnet_id
        .unwrap()
}

/// The id of `vpc`'s default security group (EC2 makes it with the VPC).
pub async fn default_group_of(ec2: &aws_sdk_ec2::Client, vpc: &str) -> String {
    ec2.describe_security_groups()
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .filters(
            Filter::builder()
                .name("group-name")
                .values("default")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .group_id()
        .unwrap()
        .to_string()
}

/// A network interface in `subnet` using `group`, described as
/// `description` (what tells the actions who uses a group): its id.
pub async fn new_interface(
    ec2: &aws_sdk_ec2::Client,
    subnet: &str,
    group: &str,
    description: &str,
) -> String {
    ec2.create_network_interface()
        .subnet_id(subnet)
        .groups(group)
        .description(description)
        .send()
        .await
        .unwrap()
        .network_interface
        .unwrap()
        .network_interface_id
        .unwrap()
}

/// An AMI named `name`, made from a new instance and launchable by
/// everyone: the AMI's id and the id of the snapshot behind it.
pub async fn public_ami(ec2: &aws_sdk_ec2::Client, name: &str) -> (String, String) {
    let instance = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    let ami = ec2
        .create_image()
        .instance_id(instance)
        .name(name)
        .send()
        .await
        .unwrap()
        .image_id
        .unwrap();
    ec2.modify_image_attribute()
        .image_id(&ami)
        .launch_permission(
            LaunchPermissionModifications::builder()
                .add(
                    LaunchPermission::builder()
                        .group(PermissionGroup::All)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let image = ec2.describe_images().image_ids(&ami).send().await.unwrap();
    let snapshot = image.images()[0].block_device_mappings()[0]
        .ebs()
        .unwrap()
        .snapshot_id()
        .unwrap()
        .to_string();
    (ami, snapshot)
}

/// The account's EBS encryption by default: whether it is on, and the
/// default KMS key.
pub async fn ebs_default_encryption(ec2: &aws_sdk_ec2::Client) -> (bool, String) {
    let on = ec2
        .get_ebs_encryption_by_default()
        .send()
        .await
        .unwrap()
        .ebs_encryption_by_default()
        .unwrap();
    let key = ec2
        .get_ebs_default_kms_key_id()
        .send()
        .await
        .unwrap()
        .kms_key_id()
        .unwrap()
        .to_string();
    (on, key)
}

/// Gives `bucket` the one tag `key` = `value`.
pub async fn tag_bucket(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, value: &str) {
    let tag = aws_sdk_s3::types::Tag::builder()
        .key(key)
        .value(value)
        .build()
        .unwrap();
    s3.put_bucket_tagging()
        .bucket(bucket)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(tag)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Makes `bucket` serve a static website (index.html): what tells the
/// bucket actions that it is public on purpose.
pub async fn serve_website(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.put_bucket_website()
        .bucket(bucket)
        .website_configuration(
            aws_sdk_s3::types::WebsiteConfiguration::builder()
                .index_document(
                    aws_sdk_s3::types::IndexDocument::builder()
                        .suffix("index.html")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Puts a configuration recorder `default` of every supported type (not
/// started).
pub async fn put_config_recorder(config: &aws_sdk_config::Client, account: &str) {
    config
        .put_configuration_recorder()
        .configuration_recorder(
            aws_sdk_config::types::ConfigurationRecorder::builder()
                .name("default")
                .role_arn(format!("arn:aws:iam::{account}:role/config"))
                .recording_group(
                    aws_sdk_config::types::RecordingGroup::builder()
                        .all_supported(true)
                        .include_global_resource_types(true)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// [`put_config_recorder`], its delivery channel to `bucket`, and starts
/// it.
pub async fn start_config_recorder(config: &aws_sdk_config::Client, account: &str, bucket: &str) {
    put_config_recorder(config, account).await;
    config
        .put_delivery_channel()
        .delivery_channel(
            aws_sdk_config::types::DeliveryChannel::builder()
                .name("default")
                .s3_bucket_name(bucket)
                .build(),
        )
        .send()
        .await
        .unwrap();
    config
        .start_configuration_recorder()
        .configuration_recorder_name("default")
        .send()
        .await
        .unwrap();
}

/// A new 1 GiB volume in availability zone `zone`: its id.
pub async fn new_volume(ec2: &aws_sdk_ec2::Client, zone: &str) -> String {
    ec2.create_volume()
        .availability_zone(zone)
        .size(1)
        .send()
        .await
        .unwrap()
        .volume_id
        .unwrap()
}

/// Adds `all` (None) or a named account to snapshot `id`'s create-volume
/// permission.
pub async fn share_snapshot(ec2: &aws_sdk_ec2::Client, id: &str, with: Option<&str>) {
    let request = ec2
        .modify_snapshot_attribute()
        .snapshot_id(id)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .operation_type(OperationType::Add);
    match with {
        None => request.group_names("all"),
        Some(account) => request.user_ids(account),
    }
    .send()
    .await
    .unwrap();
}

/// Snapshot `id`'s create-volume permission, read back: `all` and the
/// named accounts, sorted.
pub async fn snapshot_permissions(ec2: &aws_sdk_ec2::Client, id: &str) -> Vec<String> {
    let out = ec2
        .describe_snapshot_attribute()
        .snapshot_id(id)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
        .unwrap();
    let mut all: Vec<String> = out
        .create_volume_permissions()
        .iter()
        .map(|p| match p.group() {
            Some(PermissionGroup::All) => "all".to_string(),
            _ => p.user_id().unwrap_or_default().to_string(),
        })
        .collect();
    all.sort();
    all
}
