//! EC2 and VPC controls against moto: IMDSv2 (EC2.8), subnets that give
//! out public addresses (EC2.15), VPC flow logs (EC2.6), unencrypted
//! volumes (EC2.3) and internet gateways outside an allow list. Each
//! change, its intent checks and its undo, read back with the test's own
//! SDK client.

use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, HttpTokensState, InstanceMetadataEndpointState, ResourceType,
    Tag, TagSpecification,
};
use rectify_aws::actions::ec2::detach_unauthorized_internet_gateway::Ec2DetachUnauthorizedInternetGateway;
use rectify_aws::actions::ec2::disable_subnet_public_ip::Ec2DisableSubnetPublicIp;
use rectify_aws::actions::ec2::enable_vpc_flow_logs::Ec2EnableVpcFlowLogs;
use rectify_aws::actions::ec2::encrypt_volume_copy::Ec2EncryptVolumeCopy;
use rectify_aws::actions::ec2::require_imdsv2::Ec2RequireImdsv2;
use rectify_model::{Action, Event};
use serde_json::{json, Value};

use crate::support::{
    assert_undo_refused, finding_event, finding_target, new_vpc, unique, Account, REGION,
};

/// A running instance (moto's stock AMI), optionally in `subnet`, tagged
/// `Name`; its id.
pub(crate) async fn instance(account: &Account, subnet: Option<&str>) -> String {
    let out = account
        .ec2()
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .set_subnet_id(subnet.map(str::to_string))
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(Tag::builder().key("Name").value("web").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    out.instances()[0].instance_id().unwrap().to_string()
}

/// The instance's `(HttpTokens, HttpEndpoint)` as EC2 reports them.
pub(crate) async fn metadata_options(
    account: &Account,
    id: &str,
) -> (Option<String>, Option<String>) {
    let out = account
        .ec2()
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    let options = out.reservations()[0].instances()[0]
        .metadata_options()
        .cloned()
        .unwrap();
    (
        options.http_tokens().map(|t| t.as_str().to_string()),
        options.http_endpoint().map(|e| e.as_str().to_string()),
    )
}

pub(crate) fn arn(account: &Account, kind: &str, id: &str) -> String {
    format!("arn:aws:ec2:{REGION}:{}:{kind}/{id}", account.id)
}

/// An `AWS API Call via CloudTrail` event of `account`.
pub(crate) fn api_call(
    account: &Account,
    source: &str,
    name: &str,
    request: Value,
    response: Value,
) -> Event {
    let body = json!({
        "version": "0", "id": "e-call", "detail-type": "AWS API Call via CloudTrail",
        "source": source, "account": account.id, "time": "2025-01-01T00:00:00Z",
        "region": REGION, "resources": [],
        "detail": {"eventSource": "ec2.amazonaws.com", "eventName": name, "awsRegion": REGION,
                   "recipientAccountId": account.id, "requestParameters": request,
                   "responseElements": response}
    });
    Event {
        id: "e-call".into(),
        source: source.into(),
        detail_type: "AWS API Call via CloudTrail".into(),
        account: account.id.clone(),
        region: REGION.into(),
        time: "2025-01-01T00:00:00Z".into(),
        resources: vec![],
        body,
        parsed: Default::default(),
    }
}

/// EC2.8: HttpTokens optional -> required, the endpoint as it was; the
/// plan waits for approval (intent names IMDSv1 users); undone to
/// optional (read back); an undo after a later change is refused.
#[tokio::test]
async fn imdsv2_required_then_undone() {
    let account = Account::new().await;
    let ec2 = account.ec2();
    let id = instance(&account, None).await;
    ec2.modify_instance_metadata_options()
        .instance_id(&id)
        .http_tokens(HttpTokensState::Optional)
        .http_endpoint(InstanceMetadataEndpointState::Enabled)
        .send()
        .await
        .unwrap();
    let action = Ec2RequireImdsv2::new(account.aws().await);
    assert!(action.spec().approval_by_default);
    let target = finding_target(
        &action,
        &account.id,
        "EC2.8",
        "AwsEc2Instance",
        &arn(&account, "instance", &id),
    );
    let params = json!({});

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert_eq!(observed.tags["Name"], "web");
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.contains("HttpTokens optional -> required"),
        "{}",
        change.summary
    );
    let intent = action.intent(&target, &params, &observed);
    assert!(intent[0].contains("IMDSv1"), "{intent:?}");
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    assert!(action.left_in_place(&target, &params, &after).is_empty());
    assert_eq!(
        metadata_options(&account, &id).await,
        (Some("required".into()), Some("enabled".into()))
    );
    // Compliant now: nothing more to plan.
    assert!(action.intent(&target, &params, &after).is_empty());

    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(
        metadata_options(&account, &id).await,
        (Some("optional".into()), Some("enabled".into()))
    );
    assert_undo_refused(&action, &target, &params, &change).await;

    // The scan lists the instance; a CloudTrail call that turned IMDSv1
    // back on names it.
    let listed = action.discover(&account.id, REGION).await.unwrap();
    assert!(listed.iter().any(|t| t.resource_id == target.resource_id));
    let call = api_call(
        &account,
        "aws.ec2",
        "ModifyInstanceMetadataOptions",
        json!({"ModifyInstanceMetadataOptionsRequest": {"InstanceId": id, "HttpTokens": "optional"}}),
        Value::Null,
    );
    assert_eq!(
        action.target(&call).unwrap().resource_id,
        target.resource_id
    );
}

/// EC2.8: an instance that already requires IMDSv2 needs no change; a
/// turned-off metadata service stays off when tokens are required.
#[tokio::test]
async fn imdsv2_compliant_and_endpoint_left_off() {
    let account = Account::new().await;
    let ec2 = account.ec2();
    let action = Ec2RequireImdsv2::new(account.aws().await);
    let params = json!({});

    let done = instance(&account, None).await;
    ec2.modify_instance_metadata_options()
        .instance_id(&done)
        .http_tokens(HttpTokensState::Required)
        .http_endpoint(InstanceMetadataEndpointState::Enabled)
        .send()
        .await
        .unwrap();
    let target = finding_target(
        &action,
        &account.id,
        "EC2.8",
        "AwsEc2Instance",
        &arn(&account, "instance", &done),
    );
    let observed = action.check(&target, &params).await.unwrap();
    assert!(observed.compliant);
    assert_eq!(
        metadata_options(&account, &done).await.0.as_deref(),
        Some("required")
    );

    let off = instance(&account, None).await;
    ec2.modify_instance_metadata_options()
        .instance_id(&off)
        .http_tokens(HttpTokensState::Optional)
        .http_endpoint(InstanceMetadataEndpointState::Disabled)
        .send()
        .await
        .unwrap();
    let target = finding_target(
        &action,
        &account.id,
        "EC2.8",
        "AwsEc2Instance",
        &arn(&account, "instance", &off),
    );
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(change.summary.contains("stays off"), "{}", change.summary);
    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.verify(&target, &params).await.unwrap().compliant);
    assert_eq!(
        metadata_options(&account, &off).await,
        (Some("required".into()), Some("disabled".into()))
    );

    // An instance of another account, or an id that is none, is refused
    // before any call.
    let foreign = finding_event(
        &account.id,
        "EC2.8",
        "AwsEc2Instance",
        &format!("arn:aws:ec2:{REGION}:999988887777:instance/{off}"),
        Value::Null,
    );
    assert!(action.target(&foreign).is_err());
    let t = finding_target(&action, &account.id, "EC2.8", "AwsEc2Instance", "i-../../x");
    let refused = action.check(&t, &params).await.unwrap_err();
    assert!(
        refused.message.contains("not a well-formed instance id"),
        "{}",
        refused.message
    );
}

/// A new VPC (10.0.0.0/16) and a subnet in it (10.0.1.0/24) that maps
/// public IPv4 addresses on launch: `(vpc, subnet)`.
pub(crate) async fn vpc_with_public_ip_subnet(account: &Account) -> (String, String) {
    let ec2 = account.ec2();
    let vpc = new_vpc(&ec2, "10.0.0.0/16").await;
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.0.1.0/24")
        .availability_zone(format!("{REGION}a"))
        .send()
        .await
        .unwrap()
        .subnet
        .unwrap()
        .subnet_id
        .unwrap();
    ec2.modify_subnet_attribute()
        .subnet_id(&subnet)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .unwrap();
    (vpc, subnet)
}

/// An internet gateway attached to `vpc`; its id.
pub(crate) async fn attached_gateway(account: &Account, vpc: &str) -> String {
    let ec2 = account.ec2();
    let igw = ec2
        .create_internet_gateway()
        .send()
        .await
        .unwrap()
        .internet_gateway
        .unwrap()
        .internet_gateway_id
        .unwrap();
    ec2.attach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(vpc)
        .send()
        .await
        .unwrap();
    igw
}

pub(crate) async fn maps_public_ip(account: &Account, subnet: &str) -> bool {
    account
        .ec2()
        .describe_subnets()
        .subnet_ids(subnet)
        .send()
        .await
        .unwrap()
        .subnets()[0]
        .map_public_ip_on_launch()
        .unwrap()
}

/// EC2.15: a private subnet (no route to an internet gateway) stops
/// mapping public addresses without asking; read back; undone; a second
/// undo is refused; a compliant subnet needs no change.
#[tokio::test]
async fn subnet_public_ip_turned_off_then_undone() {
    let account = Account::new().await;
    let (_, subnet) = vpc_with_public_ip_subnet(&account).await;
    let action = Ec2DisableSubnetPublicIp::new(account.aws().await);
    let params = json!({});
    let target = finding_target(
        &action,
        &account.id,
        "EC2.15",
        "AwsEc2Subnet",
        &arn(&account, "subnet", &subnet),
    );

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert_eq!(observed.state["internet_route"], Value::Null);
    assert!(action.intent(&target, &params, &observed).is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.contains("MapPublicIpOnLaunch true -> false"),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    assert!(action.left_in_place(&target, &params, &after).is_empty());
    assert!(!maps_public_ip(&account, &subnet).await);

    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert!(maps_public_ip(&account, &subnet).await);
    assert_undo_refused(&action, &target, &params, &change).await;

    // Off by hand: compliant, nothing to change.
    account
        .ec2()
        .modify_subnet_attribute()
        .subnet_id(&subnet)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .unwrap();
    assert!(action.check(&target, &params).await.unwrap().compliant);

    // The call that turned it on names the subnet; the scan lists it.
    let call = api_call(
        &account,
        "aws.ec2",
        "ModifySubnetAttribute",
        json!({"subnetId": subnet, "mapPublicIpOnLaunch": {"value": true}}),
        Value::Null,
    );
    assert_eq!(
        action.target(&call).unwrap().resource_id,
        target.resource_id
    );
    let listed = action.discover(&account.id, REGION).await.unwrap();
    assert!(listed.iter().any(|t| t.resource_id == target.resource_id));
}

/// EC2.15: a public subnet (its VPC's main route table sends 0.0.0.0/0 to
/// an internet gateway) waits for approval, the gateway named; IPv6
/// addresses on creation are reported as left in place.
#[tokio::test]
async fn public_subnet_asks_and_ipv6_is_left() {
    let account = Account::new().await;
    let ec2 = account.ec2();
    let (vpc, subnet) = vpc_with_public_ip_subnet(&account).await;
    let igw = attached_gateway(&account, &vpc).await;
    let main = ec2
        .describe_route_tables()
        .filters(Filter::builder().name("vpc-id").values(&vpc).build())
        .send()
        .await
        .unwrap()
        .route_tables()[0]
        .route_table_id()
        .unwrap()
        .to_string();
    ec2.create_route()
        .route_table_id(&main)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&igw)
        .send()
        .await
        .unwrap();
    let action = Ec2DisableSubnetPublicIp::new(account.aws().await);
    let params = json!({});
    let target = finding_target(
        &action,
        &account.id,
        "EC2.15",
        "AwsEc2Subnet",
        &arn(&account, "subnet", &subnet),
    );
    let observed = action.check(&target, &params).await.unwrap();
    assert_eq!(observed.state["internet_route"], json!(igw));
    let intent = action.intent(&target, &params, &observed);
    assert!(
        intent[0].contains(&format!("internet gateway {igw}")),
        "{intent:?}"
    );
    // Nothing written yet.
    assert!(maps_public_ip(&account, &subnet).await);

    // Approved: applied; IPv6 on creation stays and is reported.
    ec2.associate_subnet_cidr_block()
        .subnet_id(&subnet)
        .ipv6_cidr_block("2001:db8:1234:1a00::/64")
        .send()
        .await
        .ok();
    ec2.modify_subnet_attribute()
        .subnet_id(&subnet)
        .assign_ipv6_address_on_creation(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .unwrap();
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    assert!(!maps_public_ip(&account, &subnet).await);
    let left = action.left_in_place(&target, &params, &after);
    assert!(left[0].contains("AssignIpv6AddressOnCreation"), "{left:?}");
}

/// The VPC's flow logs as EC2 reports them: `(id, traffic type)`.
pub(crate) async fn flow_logs(account: &Account, vpc: &str) -> Vec<(String, String)> {
    let out = account
        .ec2()
        .describe_flow_logs()
        .filter(Filter::builder().name("resource-id").values(vpc).build())
        .send()
        .await
        .unwrap();
    let mut logs: Vec<(String, String)> = out
        .flow_logs()
        .iter()
        .map(|f| {
            (
                f.flow_log_id().unwrap().to_string(),
                f.traffic_type().unwrap().as_str().to_string(),
            )
        })
        .collect();
    logs.sort();
    logs
}

/// EC2.6: without a destination the plan refuses and says what to set;
/// with a bucket, one REJECT flow log is created (read back); another
/// flow log of the VPC (ACCEPT only, not enough) stays through the
/// undo, which deletes only the one rectify made; a second undo is
/// refused.
#[tokio::test]
async fn vpc_flow_log_created_then_only_it_deleted() {
    let account = Account::new().await;
    let ec2 = account.ec2();
    let (vpc, _) = vpc_with_public_ip_subnet(&account).await;
    let (bucket, accepted) = (unique("flow-logs"), unique("accepted"));
    for b in [&bucket, &accepted] {
        account.s3().create_bucket().bucket(b).send().await.unwrap();
    }
    let theirs = ec2
        .create_flow_logs()
        .resource_type(aws_sdk_ec2::types::FlowLogsResourceType::Vpc)
        .resource_ids(&vpc)
        .traffic_type(aws_sdk_ec2::types::TrafficType::Accept)
        .log_destination_type(aws_sdk_ec2::types::LogDestinationType::S3)
        .log_destination(format!("arn:aws:s3:::{accepted}"))
        .send()
        .await
        .unwrap()
        .flow_log_ids()[0]
        .to_string();
    let action = Ec2EnableVpcFlowLogs::new(account.aws().await);
    let target = finding_target(
        &action,
        &account.id,
        "EC2.6",
        "AwsEc2Vpc",
        &arn(&account, "vpc", &vpc),
    );

    // No destination configured: refused, nothing written.
    let observed = action.check(&target, &json!({})).await.unwrap();
    assert!(!observed.compliant);
    let refused = action.plan(&target, &json!({}), &observed).unwrap_err();
    assert_eq!(refused.class, rectify_model::ErrorClass::NotConfigured);
    assert!(
        refused
            .message
            .contains("log_destination_type (s3 or cloud-watch-logs)"),
        "{}",
        refused.message
    );
    assert_eq!(flow_logs(&account, &vpc).await.len(), 1);

    let params =
        json!({"log_destination_type": "s3", "log_destination": format!("arn:aws:s3:::{bucket}")});
    action.validate_params(&params).unwrap();
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.contains("recording REJECT traffic to s3"),
        "{}",
        change.summary
    );
    assert!(change.summary.contains(&theirs), "{}", change.summary);
    assert!(action.intent(&target, &params, &observed).is_empty());
    action.apply(&target, &params, &change).await.unwrap();
    // Run again after a crash: no second flow log.
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    let logs = flow_logs(&account, &vpc).await;
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(logs.iter().any(|(_, t)| t == "REJECT"), "{logs:?}");

    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    assert!(!undo.summary.contains(&theirs), "{}", undo.summary);
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(
        flow_logs(&account, &vpc).await,
        [(theirs.clone(), "ACCEPT".to_string())]
    );
    assert_undo_refused(&action, &target, &params, &change).await;
}

/// EC2.6: a VPC that already logs ALL traffic complies; a CloudWatch Logs
/// destination in another account is refused; placeholders name the
/// VPC's own account and region.
#[tokio::test]
async fn vpc_flow_log_compliant_and_destinations_checked() {
    let account = Account::new().await;
    let ec2 = account.ec2();
    let (vpc, _) = vpc_with_public_ip_subnet(&account).await;
    let action = Ec2EnableVpcFlowLogs::new(account.aws().await);
    let target = finding_target(
        &action,
        &account.id,
        "EC2.6",
        "AwsEc2Vpc",
        &arn(&account, "vpc", &vpc),
    );
    let foreign = json!({"log_destination_type": "cloud-watch-logs",
        "log_destination": format!("arn:aws:logs:{REGION}:999988887777:log-group:flows"),
        "deliver_logs_permission_arn": "arn:aws:iam::{account}:role/flow-logs"});
    let observed = action.check(&target, &foreign).await.unwrap();
    let refused = action.plan(&target, &foreign, &observed).unwrap_err();
    assert!(
        refused.message.contains("not in the VPC's account"),
        "{}",
        refused.message
    );

    let own = json!({"log_destination_type": "cloud-watch-logs",
        "log_destination": "arn:aws:logs:{region}:{account}:log-group:flows",
        "deliver_logs_permission_arn": "arn:aws:iam::{account}:role/flow-logs",
        "traffic_type": "ALL"});
    let change = action.plan(&target, &own, &observed).unwrap();
    assert_eq!(
        change.after["destination"],
        json!(format!(
            "arn:aws:logs:{REGION}:{}:log-group:flows",
            account.id
        ))
    );
    action.apply(&target, &own, &change).await.unwrap();
    let after = action.verify(&target, &own).await.unwrap();
    assert!(after.compliant);
    assert_eq!(flow_logs(&account, &vpc).await[0].1, "ALL");
    // Compliant now, whatever the params.
    assert!(action.check(&target, &json!({})).await.unwrap().compliant);
    drop(ec2);
}

/// An unencrypted 8 GiB gp3 volume attached to a new instance at
/// /dev/sdf: `(volume, instance, zone)`.
pub(crate) async fn attached_volume(account: &Account) -> (String, String, String) {
    let ec2 = account.ec2();
    let instance = instance(account, None).await;
    let zone = ec2
        .describe_instances()
        .instance_ids(&instance)
        .send()
        .await
        .unwrap()
        .reservations()[0]
        .instances()[0]
        .placement()
        .unwrap()
        .availability_zone()
        .unwrap()
        .to_string();
    let volume = ec2
        .create_volume()
        .availability_zone(&zone)
        .size(8)
        .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
        .send()
        .await
        .unwrap()
        .volume_id()
        .unwrap()
        .to_string();
    ec2.attach_volume()
        .volume_id(&volume)
        .instance_id(&instance)
        .device("/dev/sdf")
        .send()
        .await
        .unwrap();
    (volume, instance, zone)
}

/// `(encrypted, zone, attached to)` of a volume, read back.
async fn volume_facts(account: &Account, volume: &str) -> (bool, String, Vec<(String, String)>) {
    let out = account
        .ec2()
        .describe_volumes()
        .volume_ids(volume)
        .send()
        .await
        .unwrap();
    let v = &out.volumes()[0];
    (
        v.encrypted().unwrap(),
        v.availability_zone().unwrap().to_string(),
        v.attachments()
            .iter()
            .map(|a| {
                (
                    a.instance_id().unwrap().to_string(),
                    a.device().unwrap().to_string(),
                )
            })
            .collect(),
    )
}

/// Volumes and snapshots tagged as rectify's copies of `volume`.
pub(crate) async fn copies_of(account: &Account, volume: &str) -> (Vec<String>, Vec<String>) {
    let ec2 = account.ec2();
    let filter = || {
        Filter::builder()
            .name("tag:rectify:encrypted-copy-of")
            .values(volume)
            .build()
    };
    let vols = ec2
        .describe_volumes()
        .filters(filter())
        .send()
        .await
        .unwrap();
    let snaps = ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(filter())
        .send()
        .await
        .unwrap();
    (
        vols.volumes()
            .iter()
            .map(|v| v.volume_id().unwrap().to_string())
            .collect(),
        snaps
            .snapshots()
            .iter()
            .map(|s| s.snapshot_id().unwrap().to_string())
            .collect(),
    )
}

/// EC2.3 without replace: a snapshot, an encrypted copy of it and an
/// encrypted volume in the same zone are created (read back); the
/// original stays attached and unencrypted, and the outcome says how to
/// swap (left in place, so NOTIFIED); a second run creates nothing more;
/// the undo deletes the volume and both snapshots, and a second undo is
/// refused. moto's CopySnapshot keeps the source's encryption flag
/// (unencrypted) whatever `Encrypted` says, so the snapshot copy's
/// encryption is not asserted here; the volume's is.
#[tokio::test]
async fn volume_copy_encrypted_swap_left_then_undone() {
    let account = Account::new().await;
    let (volume, instance, zone) = attached_volume(&account).await;
    let action = Ec2EncryptVolumeCopy::new(account.aws().await);
    assert!(action.spec().approval_by_default);
    let params = json!({});
    let target = finding_target(
        &action,
        &account.id,
        "EC2.3",
        "AwsEc2Volume",
        &arn(&account, "volume", &volume),
    );
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let intent = action.intent(&target, &params, &observed);
    assert!(
        intent[0].contains(&format!("attached to instance {instance}")),
        "{intent:?}"
    );
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.contains("the swap is left to a person"),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    let (vols, snaps) = copies_of(&account, &volume).await;
    assert_eq!((vols.len(), snaps.len()), (1, 2), "{vols:?} {snaps:?}");
    let copy = &vols[0];
    let (encrypted, copy_zone, attached) = volume_facts(&account, copy).await;
    assert!(encrypted);
    assert_eq!(copy_zone, zone);
    assert!(attached.is_empty());
    let original = volume_facts(&account, &volume).await;
    assert_eq!(
        original,
        (
            false,
            zone.clone(),
            vec![(instance.clone(), "/dev/sdf".to_string())]
        )
    );
    let left = action.left_in_place(&target, &params, &after);
    assert!(
        left[0].contains(&format!("attach {copy} at /dev/sdf")),
        "{left:?}"
    );
    assert!(left.iter().any(|l| l.contains("snapshots")), "{left:?}");

    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(copies_of(&account, &volume).await, (vec![], vec![]));
    assert_eq!(volume_facts(&account, &volume).await.2.len(), 1);
    let now = assert_undo_refused(&action, &target, &params, &change).await;
    assert!(!now.compliant);
}

/// EC2.3 with replace: the instance's device now holds the encrypted
/// copy and the original is detached (read back); the original volume is
/// reported as left; the undo puts the original back and deletes the
/// copy. An encrypted volume needs nothing.
#[tokio::test]
async fn volume_copy_replaced_then_swapped_back() {
    let account = Account::new().await;
    let (volume, instance, _) = attached_volume(&account).await;
    let action = Ec2EncryptVolumeCopy::new(account.aws().await);
    let params = json!({"replace": true});
    let target = finding_target(
        &action,
        &account.id,
        "EC2.3",
        "AwsEc2Volume",
        &arn(&account, "volume", &volume),
    );
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(change.summary.contains("then swap"), "{}", change.summary);
    assert!(action.intent(&target, &params, &observed)[0].contains("stops the instance"));
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    let (vols, _) = copies_of(&account, &volume).await;
    let copy = vols[0].clone();
    assert_eq!(
        volume_facts(&account, &copy).await.2,
        vec![(instance.clone(), "/dev/sdf".to_string())]
    );
    assert!(volume_facts(&account, &volume).await.2.is_empty());
    let left = action.left_in_place(&target, &params, &after);
    assert!(left[0].contains("stays unencrypted (detached"), "{left:?}");

    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    assert!(undo.summary.contains("put volume"), "{}", undo.summary);
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(
        volume_facts(&account, &volume).await.2,
        vec![(instance.clone(), "/dev/sdf".to_string())]
    );
    assert_eq!(copies_of(&account, &volume).await, (vec![], vec![]));

    let ec2 = account.ec2();
    let sealed = ec2
        .create_volume()
        .availability_zone(format!("{REGION}a"))
        .size(1)
        .encrypted(true)
        .send()
        .await
        .unwrap()
        .volume_id()
        .unwrap()
        .to_string();
    let t = finding_target(
        &action,
        &account.id,
        "EC2.3",
        "AwsEc2Volume",
        &arn(&account, "volume", &sealed),
    );
    assert!(action.check(&t, &params).await.unwrap().compliant);
    assert!(!action
        .discover(&account.id, REGION)
        .await
        .unwrap()
        .iter()
        .any(|d| d.resource_id == t.resource_id));
}

pub(crate) async fn gateway_vpcs(account: &Account, igw: &str) -> Vec<String> {
    let out = account
        .ec2()
        .describe_internet_gateways()
        .internet_gateway_ids(igw)
        .send()
        .await
        .unwrap();
    out.internet_gateways()[0]
        .attachments()
        .iter()
        .map(|a| a.vpc_id().unwrap().to_string())
        .collect()
}

/// An internet gateway on a VPC outside `allowed_vpcs`: without the list
/// the check refuses; with it, the job waits for approval (the reasons
/// name the VPC and its public instance), the gateway is detached (read
/// back) and attached again by the undo; a second undo is refused; a
/// gateway on an allowed VPC needs nothing.
#[tokio::test]
async fn internet_gateway_detached_then_reattached() {
    let account = Account::new().await;
    let (vpc, subnet) = vpc_with_public_ip_subnet(&account).await;
    let igw = attached_gateway(&account, &vpc).await;
    let _web = instance(&account, Some(&subnet)).await;
    let action = Ec2DetachUnauthorizedInternetGateway::new(account.aws().await);
    assert!(action.spec().approval_by_default);
    let call = api_call(
        &account,
        "aws.ec2",
        "AttachInternetGateway",
        json!({"internetGatewayId": igw, "vpcId": vpc}),
        Value::Null,
    );
    let target = action.target(&call).unwrap();
    assert_eq!(target.resource_id, arn(&account, "internet-gateway", &igw));

    let refused = action.check(&target, &json!({})).await.unwrap_err();
    assert_eq!(refused.class, rectify_model::ErrorClass::NotConfigured);
    assert!(
        refused.message.contains("params.allowed_vpcs"),
        "{}",
        refused.message
    );

    let params = json!({"allowed_vpcs": ["vpc-0123456789abcdef0"]});
    action.validate_params(&params).unwrap();
    assert!(action
        .validate_params(&json!({"allowed_vpcs": ["prod"]}))
        .is_err());
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let intent = action.intent(&target, &params, &observed);
    assert!(intent[0].contains(&vpc), "{intent:?}");
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    assert!(gateway_vpcs(&account, &igw).await.is_empty());

    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(gateway_vpcs(&account, &igw).await, vec![vpc.clone()]);
    assert_undo_refused(&action, &target, &params, &change).await;

    // Allowed: nothing to do.
    let ok = json!({"allowed_vpcs": [vpc]});
    assert!(action.check(&target, &ok).await.unwrap().compliant);
    assert_eq!(gateway_vpcs(&account, &igw).await, [vpc]);
}
