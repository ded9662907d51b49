//! Containment actions against moto, from GuardDuty's own finding shapes:
//! an IAM user's access key deactivated, a role's older sessions denied,
//! an instance isolated (snapshots, quarantine group on every interface),
//! a bucket closed to a principal. Each: the plan alone writes nothing (a
//! dry run), the change read back with the test's own client, a second
//! finding finds it already contained, the exemption tag is read with the
//! resource, and the undo puts back exactly what was there.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use aws_sdk_iam::types::StatusType;
use rectify_aws::actions::ec2::isolate_instance::{
    Ec2IsolateInstance, FINDING_TAG, ISOLATED_TAG, QUARANTINE_GROUP,
};
use rectify_aws::actions::iam::contain_role::{IamContainRole, POLICY_NAME};
use rectify_aws::actions::iam::deactivate_access_key::IamDeactivateAccessKey;
use rectify_aws::actions::s3::deny_principal::{S3DenyPrincipal, SID};
use rectify_model::{Action, Event};
use serde_json::{json, Value};

use crate::iam_keys_and_encryption::{statuses, user_with_keys};
use crate::support::{
    eventbridge_event, new_subnet, new_vpc, undo_then_refuse, unique, Account, REGION,
};

/// A GuardDuty finding of `kind` about `resource`, as EventBridge delivers it.
pub(crate) fn guardduty(account: &str, kind: &str, resource: Value) -> Event {
    eventbridge_event(
        account,
        "aws.guardduty",
        "GuardDuty Finding",
        json!({"schemaVersion": "2.0", "accountId": account, "region": REGION,
               "partition": "aws", "id": unique("gd"), "type": kind, "severity": 8,
               "resource": resource, "service": {"resourceRole": "ACTOR"}}),
    )
}

pub(crate) fn key_details(key: &str, user: &str, kind: &str) -> Value {
    json!({"resourceType": "AccessKey", "accessKeyDetails": {
        "accessKeyId": key, "userName": user, "userType": kind, "principalId": "AIDAEXAMPLE"}})
}

async fn user_tags(account: &Account, user: &str, key: &str, value: &str) {
    account
        .iam()
        .tag_user()
        .user_name(user)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key(key)
                .value(value)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn an_access_key_is_deactivated_alone_and_reactivated_by_the_undo() {
    let account = Account::new().await;
    let (user, _, _, keys) = user_with_keys(&account, 2).await;
    let action = IamDeactivateAccessKey::new(account.aws().await);
    assert!(action.spec().approval_by_default);
    let event = guardduty(
        &account.id,
        "CredentialAccess:IAMUser/AnomalousBehavior",
        key_details(&keys[0], &user, "IAMUser"),
    );
    let target = action.target(&event).unwrap();
    let params = json!({});
    user_tags(&account, &user, "rectify:exempt", "incident-42").await;

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant, "{}", observed.state);
    // The exemption tag is read with the key's user: the engine skips it.
    assert_eq!(observed.tags["rectify:exempt"], "incident-42");
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.contains(&keys[0]) && change.summary.contains("never used"),
        "{}",
        change.summary
    );
    // Planned only (a dry run): both keys still active.
    assert!(statuses(&account, &user)
        .await
        .iter()
        .all(|(_, s)| *s == StatusType::Active));

    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant, "{}", after.state);
    let mut want = vec![
        (keys[0].clone(), StatusType::Inactive),
        (keys[1].clone(), StatusType::Active),
    ];
    want.sort();
    assert_eq!(statuses(&account, &user).await, want);

    // The finding again: already contained, nothing to write.
    let again = action.check(&target, &params).await.unwrap();
    assert!(again.compliant);

    undo_then_refuse(&action, &target, &params, &change, &again).await;
    assert!(statuses(&account, &user)
        .await
        .iter()
        .all(|(_, s)| *s == StatusType::Active));

    // A role session's key or the root's: refused at once.
    for kind in ["AssumedRole", "Root"] {
        let other = guardduty(
            &account.id,
            "CredentialAccess:IAMUser/AnomalousBehavior",
            key_details(&keys[0], "x", kind),
        );
        assert!(action.target(&other).is_err(), "{kind}");
    }
}

/// moto answers `GetAccessKeyLastUsed` with the signing time of the key's
/// last request: the plan names it.
#[tokio::test]
async fn the_plan_names_the_keys_last_use_and_a_kept_key_waits() {
    let account = Account::new().await;
    let (user, _, _, keys) = user_with_keys(&account, 1).await;
    let signer = aws_credential_types::Credentials::new(&keys[0], "test", None, None, "key");
    let config = aws_sdk_iam::config::Builder::from(&crate::support::test_sdk_config().await)
        .credentials_provider(signer)
        .build();
    aws_sdk_iam::Client::from_conf(config)
        .list_access_keys()
        .user_name(&user)
        .send()
        .await
        .unwrap();
    user_tags(&account, &user, "rectify:keep-access-keys", &keys[0]).await;
    let action = IamDeactivateAccessKey::new(account.aws().await);
    let event = guardduty(
        &account.id,
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
        key_details(&keys[0], &user, "IAMUser"),
    );
    let target = action.target(&event).unwrap();
    let observed = action.check(&target, &json!({})).await.unwrap();
    let change = action.plan(&target, &json!({}), &observed).unwrap();
    assert!(
        change.summary.contains("last used 0 minute(s) ago"),
        "{}",
        change.summary
    );
    let intent = action.intent(&target, &json!({}), &observed);
    assert_eq!(intent.len(), 1, "{intent:?}");
    assert!(intent[0].contains("rectify:keep-access-keys"));
}

async fn role(account: &Account, name: &str, path: &str) {
    account
        .iam()
        .create_role()
        .role_name(name)
        .path(path)
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
}

/// The role's inline policy `rectify-containment`, as the test reads it.
async fn containment_policy(account: &Account, role: &str) -> Option<Value> {
    let out = account
        .iam()
        .get_role_policy()
        .role_name(role)
        .policy_name(POLICY_NAME)
        .send()
        .await
        .ok()?;
    let text = out.policy_document();
    let decoded = serde_json::from_str(text).ok().or_else(|| {
        let mut bytes = Vec::new();
        let raw = text.as_bytes();
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'%' && i + 2 < raw.len() {
                bytes.push(
                    u8::from_str_radix(std::str::from_utf8(&raw[i + 1..i + 3]).ok()?, 16).ok()?,
                );
                i += 3;
            } else {
                bytes.push(raw[i]);
                i += 1;
            }
        }
        serde_json::from_slice(&bytes).ok()
    })?;
    Some(decoded)
}

#[tokio::test]
async fn a_role_is_contained_and_its_previous_inline_policy_comes_back() {
    let account = Account::new().await;
    let name = unique("web-role");
    role(&account, &name, "/app/").await;
    let previous = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "s3:GetObject", "Resource": "*"}]});
    account
        .iam()
        .put_role_policy()
        .role_name(&name)
        .policy_name(POLICY_NAME)
        .policy_document(previous.to_string())
        .send()
        .await
        .unwrap();
    let action = IamContainRole::new(account.aws().await);
    assert!(action.spec().approval_by_default);
    let event = guardduty(
        &account.id,
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        key_details("ASIAIOSFODNN7EXAMPLE", &name, "AssumedRole"),
    );
    let target = action.target(&event).unwrap();
    assert_eq!(
        target.resource_id,
        format!("arn:aws:iam::{}:role/{name}", account.id)
    );
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(change.summary.contains("replaced"), "{}", change.summary);
    // Planned only: the role's own policy is untouched.
    assert_eq!(
        containment_policy(&account, &name).await,
        Some(previous.clone())
    );

    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.verify(&target, &params).await.unwrap().compliant);
    let doc = containment_policy(&account, &name).await.unwrap();
    let statement = &doc["Statement"][0];
    assert_eq!(statement["Effect"], "Deny");
    assert_eq!(statement["Action"], json!(["*"]));
    assert_eq!(statement["Resource"], json!(["*"]));
    let cutoff = statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        .as_str()
        .unwrap();
    assert!(
        cutoff.starts_with("20") && cutoff.ends_with('Z'),
        "{cutoff}"
    );

    // Again: already contained.
    let again = action.check(&target, &params).await.unwrap();
    assert!(again.compliant);
    let noop = action.plan(&target, &params, &again).unwrap();
    assert_eq!(noop.before, noop.after);

    undo_then_refuse(&action, &target, &params, &change, &again).await;
    assert_eq!(containment_policy(&account, &name).await, Some(previous));

    // A role without such a policy: the undo deletes the containment.
    let fresh = unique("fresh-role");
    role(&account, &fresh, "/").await;
    let target = crate::support::finding_target(
        &action,
        &account.id,
        "none",
        "AwsIamRole",
        &format!("arn:aws:iam::{}:role/{fresh}", account.id),
    );
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert!(containment_policy(&account, &fresh).await.is_some());
    let now = action.check(&target, &params).await.unwrap();
    undo_then_refuse(&action, &target, &params, &change, &now).await;
    assert_eq!(containment_policy(&account, &fresh).await, None);
}

#[tokio::test]
async fn service_linked_roles_and_rectifys_own_role_are_refused() {
    let account = Account::new().await;
    let action = IamContainRole::new(account.aws().await);
    let linked = unique("AWSServiceRoleForThing");
    role(&account, &linked, "/aws-service-role/thing.amazonaws.com/").await;
    for (name, why) in [
        (linked.as_str(), "service-linked"),
        ("rectify", "rectify itself"),
    ] {
        let target = crate::support::finding_target(
            &action,
            &account.id,
            "none",
            "AwsIamRole",
            &format!("arn:aws:iam::{}:role/{name}", account.id),
        );
        let refused = action.check(&target, &json!({})).await.unwrap_err();
        assert!(refused.message.contains(why), "{}", refused.message);
        assert_eq!(containment_policy(&account, name).await, None);
    }
}

/// A VPC, a subnet, an instance in it with a second interface (two groups
/// on the first, one on the second) and an attached volume: the
/// instance id.
async fn instance_with_two_interfaces(account: &Account) -> (String, String, Vec<String>) {
    let ec2 = account.ec2();
    let vpc = new_vpc(&ec2, "10.42.0.0/16").await;
    let subnet = new_subnet(&ec2, &vpc, "10.42.1.0/24").await;
    let group = |name: String| {
        let ec2 = ec2.clone();
        let vpc = vpc.clone();
        async move {
            ec2.create_security_group()
                .group_name(name)
                .description("app")
                .vpc_id(vpc)
                .send()
                .await
                .unwrap()
                .group_id
                .unwrap()
        }
    };
    let (a, b, c) = (
        group(unique("web")).await,
        group(unique("ssh")).await,
        group(unique("db")).await,
    );
    let instance = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        // The groups on the interface: moto 5.2.5 adds groups given to
        // RunInstances itself to every interface attached later (AWS does
        // not).
        .network_interfaces(
            aws_sdk_ec2::types::InstanceNetworkInterfaceSpecification::builder()
                .device_index(0)
                .subnet_id(&subnet)
                .groups(&a)
                .groups(&b)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    let eni = crate::support::new_interface(&ec2, &subnet, &c, "second").await;
    ec2.attach_network_interface()
        .network_interface_id(&eni)
        .instance_id(&instance)
        .device_index(1)
        .send()
        .await
        .unwrap();
    let mut groups = vec![a, b, c];
    groups.sort();
    (instance, vpc, groups)
}

/// Each interface of the instance and its groups, as the test reads them.
async fn interface_groups(account: &Account, instance: &str) -> Vec<Vec<String>> {
    let out = account
        .ec2()
        .describe_network_interfaces()
        .filters(
            Filter::builder()
                .name("attachment.instance-id")
                .values(instance)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut all: Vec<(String, Vec<String>)> = out
        .network_interfaces()
        .iter()
        .map(|n| {
            let mut g: Vec<String> = n
                .groups()
                .iter()
                .map(|g| g.group_id().unwrap().to_string())
                .collect();
            g.sort();
            (n.network_interface_id().unwrap().to_string(), g)
        })
        .collect();
    all.sort();
    all.into_iter().map(|(_, g)| g).collect()
}

#[tokio::test]
async fn an_instance_is_isolated_on_every_interface_and_released_by_the_undo() {
    let account = Account::new().await;
    let (instance, vpc, _) = instance_with_two_interfaces(&account).await;
    let before = interface_groups(&account, &instance).await;
    assert_eq!(before.len(), 2, "{before:?}");
    let action = Ec2IsolateInstance::new(account.aws().await);
    assert!(action.spec().approval_by_default);
    let event = guardduty(
        &account.id,
        "Backdoor:EC2/C&CActivity.B!DNS",
        json!({"resourceType": "Instance", "instanceDetails": {"instanceId": instance}}),
    );
    let finding = event.body["detail"]["id"].as_str().unwrap().to_string();
    let target = action.target(&event).unwrap();
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant, "{}", observed.state);
    let volumes = observed.state["volumes"].as_array().unwrap().len();
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(change.summary.contains("stay open"), "{}", change.summary);
    // Planned only: the interfaces keep their groups.
    assert_eq!(interface_groups(&account, &instance).await, before);

    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant, "{}", after.state);
    // Read back: the quarantine group has no rule either way, and every
    // interface has it alone.
    let groups = account
        .ec2()
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
        .unwrap();
    let q = &groups.security_groups()[0];
    assert!(q.ip_permissions().is_empty(), "{q:?}");
    assert!(q.ip_permissions_egress().is_empty(), "{q:?}");
    let q = q.group_id().unwrap().to_string();
    assert_eq!(
        interface_groups(&account, &instance).await,
        vec![vec![q.clone()], vec![q.clone()]]
    );
    // The forensic snapshots, tagged with the finding; the instance's tag.
    let snapshots = account
        .ec2()
        .describe_snapshots()
        .owner_ids("self")
        .filters(
            Filter::builder()
                .name(format!("tag:{FINDING_TAG}"))
                .values(&finding)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(snapshots.snapshots().len(), volumes);
    assert!(volumes >= 1);
    let tags = account
        .ec2()
        .describe_tags()
        .filters(
            Filter::builder()
                .name("resource-id")
                .values(&instance)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == Some(ISOLATED_TAG) && t.value() == Some(finding.as_str())));
    // Tracked connections are said to survive; the finding stays open.
    let left = action.left_in_place(&target, &params, &after);
    assert!(left[0].contains("survive"), "{left:?}");

    // The finding again: already isolated, nothing to do; the apply of a
    // re-run job takes no second snapshot.
    let again = action.check(&target, &params).await.unwrap();
    assert!(again.compliant);
    action.apply(&target, &params, &change).await.unwrap();
    let snapshots = account
        .ec2()
        .describe_snapshots()
        .owner_ids("self")
        .filters(
            Filter::builder()
                .name(format!("tag:{FINDING_TAG}"))
                .values(&finding)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(snapshots.snapshots().len(), volumes);

    undo_then_refuse(&action, &target, &params, &change, &again).await;
    assert_eq!(interface_groups(&account, &instance).await, before);

    // A second instance in the same VPC reuses the group, and with
    // stop_instance is stopped; its undo starts it again.
    let second = account
        .ec2()
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .subnet_id(
            account
                .ec2()
                .describe_instances()
                .instance_ids(&instance)
                .send()
                .await
                .unwrap()
                .reservations()[0]
                .instances()[0]
                .subnet_id()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    let stop = json!({"stop_instance": true, "snapshot_volumes": false});
    let event = guardduty(
        &account.id,
        "CryptoCurrency:EC2/BitcoinTool.B",
        json!({"resourceType": "Instance", "instanceDetails": {"instanceId": second}}),
    );
    let target = action.target(&event).unwrap();
    let observed = action.check(&target, &stop).await.unwrap();
    assert_eq!(observed.state["quarantine"]["id"], json!(q));
    let change = action.plan(&target, &stop, &observed).unwrap();
    action.apply(&target, &stop, &change).await.unwrap();
    let state = |id: String| {
        let ec2 = account.ec2();
        async move {
            ec2.describe_instances()
                .instance_ids(id)
                .send()
                .await
                .unwrap()
                .reservations()[0]
                .instances()[0]
                .state()
                .unwrap()
                .name()
                .unwrap()
                .as_str()
                .to_string()
        }
    };
    assert_eq!(state(second.clone()).await, "stopped");
    assert_eq!(
        interface_groups(&account, &second).await,
        vec![vec![q.clone()]]
    );
    let now = action.check(&target, &stop).await.unwrap();
    assert!(now.compliant);
    let undo = action.revert_plan(&target, &stop, &change, &now).unwrap();
    action.revert(&target, &stop, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &stop, &undo).await.unwrap());
    assert_eq!(state(second.clone()).await, "running");
}

/// An instance of an Auto Scaling group (the tag EC2 Auto Scaling puts on
/// its instances) waits for a person; the exemption tag is read with it.
#[tokio::test]
async fn an_auto_scaling_instance_waits_for_a_person() {
    let account = Account::new().await;
    let ec2 = account.ec2();
    let vpc = new_vpc(&ec2, "10.43.0.0/16").await;
    let subnet = new_subnet(&ec2, &vpc, "10.43.1.0/24").await;
    let instance = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .subnet_id(&subnet)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(
                    Tag::builder()
                        .key("aws:autoscaling:groupName")
                        .value("web-asg")
                        .build(),
                )
                .tags(Tag::builder().key("rectify:exempt").value("ir").build())
                .build(),
        )
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    let action = Ec2IsolateInstance::new(account.aws().await);
    let event = guardduty(
        &account.id,
        "Trojan:EC2/DNSDataExfiltration",
        json!({"resourceType": "Instance", "instanceDetails": {"instanceId": instance}}),
    );
    let target = action.target(&event).unwrap();
    let observed = action.check(&target, &json!({})).await.unwrap();
    assert_eq!(observed.tags["rectify:exempt"], "ir");
    let intent = action.intent(&target, &json!({}), &observed);
    assert!(
        intent[0].contains("Auto Scaling group web-asg"),
        "{intent:?}"
    );
}

/// The bucket's policy and Block Public Access, as the test reads them.
async fn bucket_state(account: &Account, bucket: &str) -> (Option<Value>, Option<bool>) {
    let s3 = account.s3();
    let policy = s3
        .get_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .ok()
        .and_then(|p| p.policy().map(|t| serde_json::from_str(t).unwrap()));
    let block = s3
        .get_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .ok()
        .and_then(|o| o.public_access_block_configuration().cloned())
        .map(|c| {
            c.block_public_acls() == Some(true)
                && c.ignore_public_acls() == Some(true)
                && c.block_public_policy() == Some(true)
                && c.restrict_public_buckets() == Some(true)
        });
    (policy, block)
}

#[tokio::test]
async fn a_bucket_is_closed_to_the_principal_and_reopened_by_the_undo() {
    let account = Account::new().await;
    let bucket = unique("exports");
    let s3 = account.s3();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let own = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Partner", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{}:root", account.id)},
        "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]});
    s3.put_bucket_policy()
        .bucket(&bucket)
        .policy(own.to_string())
        .send()
        .await
        .unwrap();
    let action = S3DenyPrincipal::new(account.aws().await);
    assert!(action.spec().approval_by_default);
    let mut resource = key_details("AKIAIOSFODNN7EXAMPLE", "mallory", "IAMUser");
    resource["resourceType"] = json!("S3Bucket");
    resource["s3BucketDetails"] =
        json!([{"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")}]);
    let event = guardduty(&account.id, "Exfiltration:S3/AnomalousBehavior", resource);
    let target = action.target(&event).unwrap();
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(change.summary.contains("mallory"), "{}", change.summary);
    // Planned only: nothing written.
    assert_eq!(
        bucket_state(&account, &bucket).await,
        (Some(own.clone()), None)
    );

    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.verify(&target, &params).await.unwrap().compliant);
    let (policy, block) = bucket_state(&account, &bucket).await;
    assert_eq!(block, Some(true));
    let policy = policy.unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2, "{policy}");
    assert_eq!(statements[0], own["Statement"][0]);
    let ours = &statements[1];
    assert_eq!(ours["Sid"], SID);
    assert_eq!(ours["Effect"], "Deny");
    assert_eq!(
        ours["Condition"]["ArnLike"]["aws:PrincipalArn"][0],
        format!("arn:aws:iam::{}:user/mallory", account.id)
    );

    let again = action.check(&target, &params).await.unwrap();
    assert!(again.compliant);
    undo_then_refuse(&action, &target, &params, &change, &again).await;
    assert_eq!(bucket_state(&account, &bucket).await, (Some(own), None));

    // The roles rectify acts as are never denied.
    let mut resource = key_details("ASIAIOSFODNN7EXAMPLE", "rectify", "AssumedRole");
    resource["resourceType"] = json!("S3Bucket");
    resource["s3BucketDetails"] = json!([{"name": bucket}]);
    let event = guardduty(&account.id, "Exfiltration:S3/AnomalousBehavior", resource);
    let target = action.target(&event).unwrap();
    let refused = action.check(&target, &params).await.unwrap_err();
    assert!(
        refused.message.contains("rectify itself"),
        "{}",
        refused.message
    );
}
