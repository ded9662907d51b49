//! Targets bound to the finding's account, end to end against the
//! emulator: a finding for account A whose resource names another
//! account, or whose details name another group than its ARN, changes
//! nothing anywhere.

mod support;

use serde_json::{json, Value};
use support::{account_config, finding, imported, new_account, rules, Inbox, Site, REGION};

/// A security group of `account` open to the world on SSH.
async fn ssh_open(account: &str) -> (String, aws_sdk_ec2::Client) {
    let ec2 = aws_sdk_ec2::Client::new(&account_config(account).await);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.1.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap();
    let sg = ec2
        .create_security_group()
        .group_name(format!("ssh-{}", rand::random::<u32>()))
        .description("ssh")
        .vpc_id(vpc)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    ec2.authorize_security_group_ingress()
        .group_id(&sg)
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ip("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    (sg, ec2)
}

async fn ssh_is_open(ec2: &aws_sdk_ec2::Client, sg: &str) -> bool {
    let out = ec2
        .describe_security_groups()
        .group_ids(sg)
        .send()
        .await
        .unwrap();
    out.security_groups()[0].ip_permissions().iter().any(|p| {
        p.from_port() == Some(22)
            && p.ip_ranges()
                .iter()
                .any(|r| r.cidr_ip() == Some("0.0.0.0/0"))
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_finding_naming_another_account_or_group_changes_nothing() {
    let account = new_account();
    let other = new_account();
    let inbox = Inbox::new(&format!("accounts-{account}")).await;
    let site = Site::new(&account, "auto", &inbox.topic_arn, &rules(""));
    let (sg, ec2) = ssh_open(&account).await;
    let (decoy, _) = ssh_open(&account).await;

    // The finding is for `account`; its group's ARN names `other`.
    let across = finding(
        &account,
        "EC2.13",
        "AwsEc2SecurityGroup",
        &format!("arn:aws:ec2:{REGION}:{other}:security-group/{sg}"),
    );
    // The ARN names `sg`, the details another group (`decoy`).
    let mut mixed = finding(
        &account,
        "EC2.13",
        "AwsEc2SecurityGroup",
        &format!("arn:aws:ec2:{REGION}:{account}:security-group/{sg}"),
    );
    mixed["Resources"][0]["Details"] = json!({"AwsEc2SecurityGroup": {"GroupId": decoy}});

    for (name, f, why) in [
        (
            "across",
            across,
            format!("is in account {other}, not in the finding's account {account}"),
        ),
        (
            "mixed",
            mixed,
            format!("names group {sg}, its details group {decoy}"),
        ),
    ] {
        let file = site.write_event(&format!("{name}.json"), &imported(&account, vec![f]));
        let jobs = site.process(&file, &[]);
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        let job: &Value = &jobs[0];
        assert_eq!(job["outcome"]["kind"], "failed", "{job}");
        let reason = job["outcome"]["reason"].as_str().unwrap();
        assert!(
            reason.contains(&why) && reason.ends_with("; refused"),
            "{reason}"
        );
    }
    // Both groups still open: nothing was revoked in the account.
    assert!(ssh_is_open(&ec2, &sg).await);
    assert!(ssh_is_open(&ec2, &decoy).await);
}
