use std::collections::BTreeSet;

use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, ResourceType, Tag, TagSpecification,
};
use rectify_aws::Ec2RevokePublicAdminIngress;
use rectify_model::Action;
use serde_json::{json, Value};

use crate::support::{
    default_group_of, finding_event, finding_target, new_interface, new_subnet, new_vpc, unique,
    Account, REGION,
};

fn perm(proto: &str, from: i32, to: i32, v4: &[&str], v6: &[&str]) -> IpPermission {
    let mut p = IpPermission::builder()
        .ip_protocol(proto)
        .from_port(from)
        .to_port(to);
    for c in v4 {
        p = p.ip_ranges(IpRange::builder().cidr_ip(*c).build());
    }
    for c in v6 {
        p = p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(*c).build());
    }
    p.build()
}

async fn group(
    ec2: &aws_sdk_ec2::Client,
    perms: Vec<IpPermission>,
    tags: &[(&str, &str)],
) -> String {
    let mut spec = TagSpecification::builder().resource_type(ResourceType::SecurityGroup);
    for (k, v) in tags {
        spec = spec.tags(Tag::builder().key(*k).value(*v).build());
    }
    let id = ec2
        .create_security_group()
        .group_name(unique("rectify-sg"))
        .description("rectify test")
        .set_tag_specifications((!tags.is_empty()).then(|| vec![spec.build()]))
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    ec2.authorize_security_group_ingress()
        .group_id(&id)
        .set_ip_permissions(Some(perms))
        .send()
        .await
        .unwrap();
    id
}

/// `(egress, protocol, from, to, cidr)` of every rule of the group.
async fn rules(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
) -> BTreeSet<(bool, String, i32, i32, String)> {
    ec2.describe_security_group_rules()
        .filters(Filter::builder().name("group-id").values(group).build())
        .send()
        .await
        .unwrap()
        .security_group_rules()
        .iter()
        .map(|r| {
            (
                r.is_egress().unwrap(),
                r.ip_protocol().unwrap().to_string(),
                r.from_port().unwrap(),
                r.to_port().unwrap(),
                r.cidr_ipv4().or(r.cidr_ipv6()).unwrap().to_string(),
            )
        })
        .collect()
}

fn rule(
    egress: bool,
    proto: &str,
    from: i32,
    to: i32,
    cidr: &str,
) -> (bool, String, i32, i32, String) {
    (egress, proto.to_string(), from, to, cidr.to_string())
}

fn arn(account: &str, group: &str) -> String {
    format!("arn:aws:ec2:{REGION}:{account}:security-group/{group}")
}

#[tokio::test]
async fn revokes_only_world_open_admin_ingress() {
    let account = Account::new().await;
    let ec2 = account.ec2();
    let admin = group(
        &ec2,
        vec![
            // One permission, two ranges: only 0.0.0.0/0 must go.
            perm("tcp", 22, 22, &["0.0.0.0/0", "10.1.0.0/16"], &[]),
            perm("tcp", 3389, 3389, &[], &["::/0"]),
            perm("tcp", 443, 443, &["10.0.0.0/8", "0.0.0.0/0"], &[]),
        ],
        &[("team", "payments")],
    )
    .await;
    let everything = group(
        &ec2,
        vec![
            perm("-1", -1, -1, &["0.0.0.0/0"], &[]),
            perm("tcp", 22, 22, &["10.1.0.0/16"], &[]),
        ],
        &[],
    )
    .await;

    let action = Ec2RevokePublicAdminIngress::new(account.aws().await);
    let params = json!({});

    // Group 1, with the group id from the finding's details.
    let event = finding_event(
        &account.id,
        "EC2.13",
        "AwsEc2SecurityGroup",
        &arn(&account.id, &admin),
        json!({"AwsEc2SecurityGroup": {"GroupId": admin, "GroupName": "x"}}),
    );
    let target = action.target(&event).unwrap();
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert_eq!(
        observed.tags,
        json!({"team": "payments"}).as_object().unwrap().clone()
    );
    let change = action.plan(&target, &params, &observed).unwrap();
    let before: BTreeSet<(String, i64, i64, String)> = change.before["open_ingress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["protocol"].as_str().unwrap().to_string(),
                r["from_port"].as_i64().unwrap(),
                r["to_port"].as_i64().unwrap(),
                r["cidr"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        before,
        BTreeSet::from([
            ("tcp".into(), 22, 22, "0.0.0.0/0".into()),
            ("tcp".into(), 3389, 3389, "::/0".into())
        ])
    );
    assert_eq!(change.after["open_ingress"], json!([]));
    assert_eq!(change.before["group_id"], json!(admin));
    assert!(
        change.summary.contains("tcp/22 from 0.0.0.0/0"),
        "{}",
        change.summary
    );

    action.apply(&target, &params, &change).await.unwrap();
    let verified = action.verify(&target, &params).await.unwrap();
    assert!(verified.compliant, "{}", verified.state);
    assert_eq!(
        rules(&ec2, &admin).await,
        BTreeSet::from([
            rule(false, "tcp", 22, 22, "10.1.0.0/16"),
            rule(false, "tcp", 443, 443, "10.0.0.0/8"),
            rule(false, "tcp", 443, 443, "0.0.0.0/0"),
            rule(true, "-1", -1, -1, "0.0.0.0/0"),
        ])
    );
    // A rerun of the same job changes nothing and fails nothing.
    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.check(&target, &params).await.unwrap().compliant);

    // Group 2: all traffic from anywhere, group id from the ARN only.
    let target = finding_target(
        &action,
        &account.id,
        "EC2.19",
        "AwsEc2SecurityGroup",
        &arn(&account.id, &everything),
    );
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    let open = change.before["open_ingress"].as_array().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0]["protocol"].as_str(), open[0]["cidr"].as_str()),
        (Some("-1"), Some("0.0.0.0/0"))
    );
    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.verify(&target, &params).await.unwrap().compliant);
    // Split, not dropped: everything but the admin ports stays open.
    assert_eq!(
        rules(&ec2, &everything).await,
        BTreeSet::from([
            rule(false, "tcp", 22, 22, "10.1.0.0/16"),
            rule(false, "tcp", 0, 21, "0.0.0.0/0"),
            rule(false, "tcp", 23, 3388, "0.0.0.0/0"),
            rule(false, "tcp", 3390, 65535, "0.0.0.0/0"),
            rule(false, "udp", 0, 21, "0.0.0.0/0"),
            rule(false, "udp", 23, 3388, "0.0.0.0/0"),
            rule(false, "udp", 3390, 65535, "0.0.0.0/0"),
            rule(false, "icmp", -1, -1, "0.0.0.0/0"),
            rule(true, "-1", -1, -1, "0.0.0.0/0")
        ])
    );
}

#[tokio::test]
async fn ports_param_widens_the_check() {
    let account = Account::new().await;
    let ec2 = account.ec2();
    let db = group(
        &ec2,
        vec![
            perm("tcp", 5400, 5500, &["0.0.0.0/0"], &[]),
            perm("tcp", 443, 443, &["0.0.0.0/0"], &[]),
        ],
        &[],
    )
    .await;
    let action = Ec2RevokePublicAdminIngress::new(account.aws().await);
    let target = finding_target(
        &action,
        &account.id,
        "EC2.19",
        "AwsEc2SecurityGroup",
        &arn(&account.id, &db),
    );

    // Default ports: nothing to do.
    assert!(action.check(&target, &json!({})).await.unwrap().compliant);
    // 5432 is inside 5400-5500.
    let params = json!({"ports": [22, 5432]});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.check(&target, &params).await.unwrap().compliant);
    // The range is split around 5432.
    assert_eq!(
        rules(&ec2, &db).await,
        BTreeSet::from([
            rule(false, "tcp", 443, 443, "0.0.0.0/0"),
            rule(false, "tcp", 5400, 5431, "0.0.0.0/0"),
            rule(false, "tcp", 5433, 5500, "0.0.0.0/0"),
            rule(true, "-1", -1, -1, "0.0.0.0/0")
        ])
    );
}

#[tokio::test]
async fn missing_group_is_not_found() {
    let account = Account::new().await;
    let action = Ec2RevokePublicAdminIngress::new(account.aws().await);
    let target = finding_target(
        &action,
        &account.id,
        "EC2.13",
        "AwsEc2SecurityGroup",
        &arn(&account.id, "sg-0123456789abcdef0"),
    );
    let err = action.check(&target, &json!({})).await.unwrap_err();
    assert_eq!(
        err.class,
        rectify_model::ErrorClass::NotFound,
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_change_applies_only_to_its_own_group() {
    let account = Account::new().await;
    let ec2 = account.ec2();
    let a = group(&ec2, vec![perm("tcp", 22, 22, &["0.0.0.0/0"], &[])], &[]).await;
    let b = group(&ec2, vec![perm("tcp", 22, 22, &["0.0.0.0/0"], &[])], &[]).await;
    let action = Ec2RevokePublicAdminIngress::new(account.aws().await);
    let target_a = finding_target(
        &action,
        &account.id,
        "EC2.13",
        "AwsEc2SecurityGroup",
        &arn(&account.id, &a),
    );
    let target_b = finding_target(
        &action,
        &account.id,
        "EC2.13",
        "AwsEc2SecurityGroup",
        &arn(&account.id, &b),
    );
    let observed = action.check(&target_a, &json!({})).await.unwrap();
    let change = action.plan(&target_a, &json!({}), &observed).unwrap();
    let err = action
        .apply(&target_b, &json!({}), &change)
        .await
        .unwrap_err();
    assert_eq!(err.class, rectify_model::ErrorClass::Invalid);
    assert!(!action.check(&target_b, &json!({})).await.unwrap().compliant);
}

#[tokio::test]
async fn inventory_counts_the_regions_security_groups() {
    let account = Account::new().await;
    let ec2 = account.ec2();
    let id = group(&ec2, vec![perm("tcp", 22, 22, &["10.0.0.0/8"], &[])], &[]).await;
    let action = Ec2RevokePublicAdminIngress::new(account.aws().await);
    let event = finding_event(
        &account.id,
        "EC2.13",
        "AwsEc2SecurityGroup",
        &arn(&account.id, &id),
        json!({"AwsEc2SecurityGroup": {"GroupId": id, "GroupName": "x"}}),
    );
    let target = action.target(&event).unwrap();
    let before = action
        .inventory(&target, &json!({}))
        .await
        .unwrap()
        .unwrap();
    let direct = ec2
        .describe_security_groups()
        .send()
        .await
        .unwrap()
        .security_groups()
        .len() as u64;
    assert_eq!(before, direct);
    group(&ec2, vec![perm("tcp", 443, 443, &["10.0.0.0/8"], &[])], &[]).await;
    let after = action
        .inventory(&target, &json!({}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, before + 1);
}

/// EC2.2: a VPC's default security group emptied of every rule; any other
/// group refused; the scanner lists only default groups.
#[tokio::test]
async fn empties_a_default_security_group_and_refuses_others() {
    use aws_sdk_ec2::types::Filter;
    use rectify_aws::Ec2RestrictDefaultSecurityGroup;

    let account = Account::new().await;
    let ec2 = account.ec2();
    let vpc = new_vpc(&ec2, "10.9.0.0/16").await;
    let default_group = default_group_of(&ec2, &vpc).await;
    let other = ec2
        .create_security_group()
        .group_name(unique("app"))
        .description("app")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let rules = |group: String| {
        let ec2 = ec2.clone();
        async move {
            ec2.describe_security_group_rules()
                .filters(Filter::builder().name("group-id").values(group).build())
                .send()
                .await
                .unwrap()
                .security_group_rules()
                .len()
        }
    };
    assert!(
        rules(default_group.clone()).await > 0,
        "moto's default group has rules"
    );

    let action = Ec2RestrictDefaultSecurityGroup::new(account.aws().await);
    let arn = |g: &str| format!("arn:aws:ec2:{REGION}:{}:security-group/{g}", account.id);
    let target = finding_target(
        &action,
        &account.id,
        "EC2.2",
        "AwsEc2SecurityGroup",
        &arn(&default_group),
    );
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(change.summary.starts_with("revoke"), "{}", change.summary);
    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.verify(&target, &params).await.unwrap().compliant);
    assert_eq!(rules(default_group.clone()).await, 0);

    // Not a default group: refused, untouched.
    let event = finding_event(
        &account.id,
        "EC2.2",
        "AwsEc2SecurityGroup",
        &arn(&other),
        Value::Null,
    );
    let err = action
        .check(&action.target(&event).unwrap(), &params)
        .await
        .unwrap_err();
    assert!(
        err.message
            .contains("is not a VPC's default security group"),
        "{err:?}"
    );
    let listed = action.discover(&account.id, REGION).await.unwrap();
    assert!(listed.iter().any(|t| t.resource_id == arn(&default_group)));
    assert!(!listed.iter().any(|t| t.resource_id == arn(&other)));
}

/// `(protocol, from, to, cidr, description)` of the group's ingress.
async fn described(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
) -> BTreeSet<(String, i32, i32, String, String)> {
    ec2.describe_security_group_rules()
        .filters(Filter::builder().name("group-id").values(group).build())
        .send()
        .await
        .unwrap()
        .security_group_rules()
        .iter()
        .filter(|r| r.is_egress() == Some(false))
        .map(|r| {
            (
                r.ip_protocol().unwrap().to_string(),
                r.from_port().unwrap(),
                r.to_port().unwrap(),
                r.cidr_ipv4().or(r.cidr_ipv6()).unwrap().to_string(),
                r.description().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn described_perm(proto: &str, from: i32, to: i32, cidr: &str, description: &str) -> IpPermission {
    let p = IpPermission::builder()
        .ip_protocol(proto)
        .from_port(from)
        .to_port(to);
    if cidr.contains(':') {
        p.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(cidr)
                .description(description)
                .build(),
        )
        .build()
    } else {
        p.ip_ranges(
            IpRange::builder()
                .cidr_ip(cidr)
                .description(description)
                .build(),
        )
        .build()
    }
}

fn d(
    proto: &str,
    from: i32,
    to: i32,
    cidr: &str,
    description: &str,
) -> (String, i32, i32, String, String) {
    (proto.into(), from, to, cidr.into(), description.into())
}

#[tokio::test]
async fn a_port_range_is_split_with_its_description_and_undone() {
    let account = Account::new().await;
    let ec2 = account.ec2();
    let web = group(
        &ec2,
        vec![
            described_perm("tcp", 0, 1000, "::/0", "public v6"),
            described_perm("tcp", 443, 443, "10.0.0.0/8", "inside"),
        ],
        &[],
    )
    .await;
    let action = Ec2RevokePublicAdminIngress::new(account.aws().await);
    let target = finding_target(
        &action,
        &account.id,
        "EC2.13",
        "AwsEc2SecurityGroup",
        &arn(&account.id, &web),
    );
    let params = json!({"ports": [22]});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    // Both halves are in the plan.
    assert!(
        change.summary.contains("tcp/0-1000 from ::/0"),
        "{}",
        change.summary
    );
    assert!(
        change.summary.contains("tcp 0-21, 23-1000 from ::/0"),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant, "{}", after.state);
    assert_eq!(
        described(&ec2, &web).await,
        BTreeSet::from([
            d("tcp", 0, 21, "::/0", "public v6"),
            d("tcp", 23, 1000, "::/0", "public v6"),
            d("tcp", 443, 443, "10.0.0.0/8", "inside"),
        ])
    );
    // 443 is inside 23-1000; no high-risk port is left open by ports [22]
    // except those inside the kept range: reported, never silent.
    let left = action.left_in_place(&target, &params, &after);
    assert!(
        left.iter()
            .any(|l| l.contains("tcp/23-1000") && l.contains("23")),
        "{left:?}"
    );
    // A rerun of the same change does nothing more.
    action.apply(&target, &params, &change).await.unwrap();
    assert_eq!(described(&ec2, &web).await.len(), 3);

    // Undo: the range comes back with its description, the halves go.
    let now = action.check(&target, &params).await.unwrap();
    let undo = action.revert_plan(&target, &params, &change, &now).unwrap();
    assert!(undo.summary.contains("new rule ids"), "{}", undo.summary);
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(
        described(&ec2, &web).await,
        BTreeSet::from([
            d("tcp", 0, 1000, "::/0", "public v6"),
            d("tcp", 443, 443, "10.0.0.0/8", "inside"),
        ])
    );
    // Undone once: the group is no longer as the change left it.
    let now = action.check(&target, &params).await.unwrap();
    let err = action
        .revert_plan(&target, &params, &change, &now)
        .unwrap_err();
    assert!(err.message.contains("changed since"), "{}", err.message);
}

#[tokio::test]
async fn ec2_18_keeps_only_the_authorized_ports() {
    let account = Account::new().await;
    let ec2 = account.ec2();
    let app = group(
        &ec2,
        vec![
            described_perm("-1", -1, -1, "0.0.0.0/0", "everything"),
            described_perm("tcp", 443, 443, "0.0.0.0/0", "https"),
            described_perm("udp", 53, 53, "0.0.0.0/0", "dns"),
        ],
        &[],
    )
    .await;
    let action = Ec2RevokePublicAdminIngress::new(account.aws().await);
    let target = finding_target(
        &action,
        &account.id,
        "EC2.18",
        "AwsEc2SecurityGroup",
        &arn(&account.id, &app),
    );
    // Security Hub's parameters (customised: 8443 too) win over the rule's.
    let params = action.with_control_parameters(
        &json!({"authorized_tcp_ports": [80, 443]}),
        "EC2.18",
        &json!({
            "authorizedTcpPorts": {"ValueType": "CUSTOM", "Value": {"IntegerList": [443, 8443]}},
            "authorizedUdpPorts": {"ValueType": "DEFAULT"}
        }),
    );
    assert_eq!(params, json!({"authorized_tcp_ports": [443, 8443]}));
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.verify(&target, &params).await.unwrap().compliant);
    assert_eq!(
        described(&ec2, &app).await,
        BTreeSet::from([
            d("tcp", 443, 443, "0.0.0.0/0", "https"),
            d("tcp", 8443, 8443, "0.0.0.0/0", "everything"),
            d("icmp", -1, -1, "0.0.0.0/0", "everything"),
        ])
    );
    // The undo does not revoke the 443 rule that was there before.
    let now = action.check(&target, &params).await.unwrap();
    let undo = action.revert_plan(&target, &params, &change, &now).unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert_eq!(
        described(&ec2, &app).await,
        BTreeSet::from([
            d("-1", -1, -1, "0.0.0.0/0", "everything"),
            d("tcp", 443, 443, "0.0.0.0/0", "https"),
            d("udp", 53, 53, "0.0.0.0/0", "dns"),
        ])
    );
}

#[tokio::test]
async fn a_default_group_in_use_is_shown_and_its_rules_come_back() {
    use rectify_aws::Ec2RestrictDefaultSecurityGroup;

    let account = Account::new().await;
    let ec2 = account.ec2();
    let vpc = new_vpc(&ec2, "10.8.0.0/16").await;
    let default_group = default_group_of(&ec2, &vpc).await;
    ec2.authorize_security_group_ingress()
        .group_id(&default_group)
        .ip_permissions(described_perm(
            "tcp",
            443,
            443,
            "10.8.0.0/16",
            "endpoint https",
        ))
        .send()
        .await
        .unwrap();
    let before = described(&ec2, &default_group).await;
    let action = Ec2RestrictDefaultSecurityGroup::new(account.aws().await);
    let target = finding_target(
        &action,
        &account.id,
        "EC2.2",
        "AwsEc2SecurityGroup",
        &arn(&account.id, &default_group),
    );
    let params = json!({});

    // Nobody uses it: nothing suggests intent.
    let observed = action.check(&target, &params).await.unwrap();
    assert!(action.intent(&target, &params, &observed).is_empty());

    // An interface endpoint's network interface in it: the reason names it.
    let subnet = new_subnet(&ec2, &vpc, "10.8.1.0/24").await;
    let eni = new_interface(
        &ec2,
        &subnet,
        &default_group,
        "VPC Endpoint Interface vpce-0abc",
    )
    .await;
    let observed = action.check(&target, &params).await.unwrap();
    let intent = action.intent(&target, &params, &observed);
    assert_eq!(intent.len(), 1);
    assert!(
        intent[0].contains(&eni) && intent[0].contains("VPC Endpoint Interface vpce-0abc"),
        "{intent:?}"
    );

    // Emptied (a person approved), then undone with descriptions.
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert!(described(&ec2, &default_group).await.is_empty());
    let now = action.check(&target, &params).await.unwrap();
    let undo = action.revert_plan(&target, &params, &change, &now).unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(described(&ec2, &default_group).await, before);
    assert!(before.contains(&d("tcp", 443, 443, "10.8.0.0/16", "endpoint https")));

    // A rule added after the change: the undo is refused.
    let change = action
        .plan(
            &target,
            &params,
            &action.check(&target, &params).await.unwrap(),
        )
        .unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    ec2.authorize_security_group_ingress()
        .group_id(&default_group)
        .ip_permissions(described_perm("tcp", 22, 22, "10.8.0.0/16", "new"))
        .send()
        .await
        .unwrap();
    let now = action.check(&target, &params).await.unwrap();
    let err = action
        .revert_plan(&target, &params, &change, &now)
        .unwrap_err();
    assert!(err.message.contains("has rules again"), "{}", err.message);
}
