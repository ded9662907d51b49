//! Harm scenarios: containment. GuardDuty's finding on a compromised
//! instance waits for a person under the built-in pack, even with the
//! config's default mode `auto`; with the rule itself switched to `auto`,
//! an instance of an Auto Scaling group still waits (the group would
//! replace it, evidence and all), and an instance with several interfaces
//! is isolated on every one, the finding never RESOLVED (connections
//! already open survive a change of security groups).

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use serde_json::{json, Value};

use crate::common::*;
use crate::fixtures::{new_interface, new_subnet, new_vpc};
use crate::support::*;

fn guardduty(account: &str, kind: &str, instance: &str) -> Value {
    json!({
        "version": "0", "id": format!("gd-{}", rand_suffix()), "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty", "account": account, "time": "2026-12-05T10:00:00Z",
        "region": REGION, "resources": [],
        "detail": {"schemaVersion": "2.0", "accountId": account, "region": REGION,
            "partition": "aws", "id": format!("f{}", rand_suffix()), "type": kind, "severity": 8,
            "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": instance}},
            "service": {"resourceRole": "ACTOR"}}
    })
}

/// Each interface's groups, sorted.
async fn groups_of(ec2: &aws_sdk_ec2::Client, instance: &str) -> Vec<Vec<String>> {
    let out = ec2
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

async fn run_instance(ec2: &aws_sdk_ec2::Client, subnet: &str, tags: &[(&str, &str)]) -> String {
    let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
    for (k, v) in tags {
        spec = spec.tags(Tag::builder().key(*k).value(*v).build());
    }
    let mut request = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .subnet_id(subnet);
    if !tags.is_empty() {
        request = request.tag_specifications(spec.build());
    }
    request.send().await.unwrap().instances()[0]
        .instance_id()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compromised_instance_waits_for_a_person_under_the_pack() {
    let (account, _inbox, site) = auto_site("harm-isolate").await;
    let ec2 = aws_sdk_ec2::Client::new(&account_config(&account).await);
    let vpc = new_vpc(&ec2, "10.50.0.0/16").await;
    let subnet = new_subnet(&ec2, &vpc, "10.50.1.0/24").await;
    let instance = run_instance(&ec2, &subnet, &[]).await;
    let before = groups_of(&ec2, &instance).await;
    let event = guardduty(&account, "Backdoor:EC2/C&CActivity.B", &instance);
    let jobs = site.process(&site.write_event("gd.json", &event), &[]);
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    assert_eq!(jobs[0]["rule_id"], "guardduty-ec2-isolate-instance");
    assert_eq!(jobs[0]["state"], "waiting-approval", "{}", jobs[0]);
    assert_eq!(groups_of(&ec2, &instance).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_rule_in_auto_an_auto_scaling_instance_still_waits_and_others_are_isolated_on_every_interface(
) {
    let account = new_account();
    let inbox = Inbox::new(&format!("harm-isolate-auto-{account}")).await;
    let config =
        format!("{PACK_IN_AUTO}overrides:\n  guardduty-ec2-isolate-instance: {{mode: auto}}\n");
    let site = Site::new(&account, "auto", &inbox.topic_arn, &config);
    let ec2 = aws_sdk_ec2::Client::new(&account_config(&account).await);
    let vpc = new_vpc(&ec2, "10.51.0.0/16").await;
    let subnet = new_subnet(&ec2, &vpc, "10.51.1.0/24").await;

    let scaled = run_instance(&ec2, &subnet, &[("aws:autoscaling:groupName", "web-asg")]).await;
    let before = groups_of(&ec2, &scaled).await;
    let event = guardduty(&account, "CryptoCurrency:EC2/BitcoinTool.B", &scaled);
    let jobs = site.process(&site.write_event("scaled.json", &event), &[]);
    assert_eq!(jobs[0]["state"], "waiting-approval", "{}", jobs[0]);
    assert!(
        reason(&jobs[0]).contains("Auto Scaling group web-asg"),
        "{}",
        jobs[0]
    );
    assert_eq!(groups_of(&ec2, &scaled).await, before);

    // Two interfaces: both end up in the quarantine group alone.
    let instance = run_instance(&ec2, &subnet, &[]).await;
    let group = ec2
        .create_security_group()
        .group_name(format!("db-{}", rand_suffix()))
        .description("db")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let eni = new_interface(&ec2, &subnet, &group, "second").await;
    ec2.attach_network_interface()
        .network_interface_id(&eni)
        .instance_id(&instance)
        .device_index(1)
        .send()
        .await
        .unwrap();
    let event = guardduty(&account, "Trojan:EC2/DNSDataExfiltration", &instance);
    let jobs = site.process(&site.write_event("trojan.json", &event), &[]);
    assert_eq!(jobs[0]["outcome"]["kind"], "changed", "{}", jobs[0]);
    let now = groups_of(&ec2, &instance).await;
    assert_eq!(now.len(), 2);
    assert!(
        now.iter().all(|g| g.len() == 1 && g[0] == now[0][0]),
        "{now:?}"
    );
    assert!(
        jobs[0].to_string().contains("survive"),
        "the outcome says open connections survive: {}",
        jobs[0]
    );
}
