//! Harm scenarios: security groups and default security groups.

use std::io::{Read, Write};

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange};
use serde_json::{json, Value};

use crate::common::*;
use crate::fixtures::{default_group_of, new_interface, new_subnet, new_vpc};
use crate::support::*;

/// (protocol, from, to, cidr, description) of every ingress rule, sorted.
type Rule = (String, i32, i32, String, String);

async fn ingress_rules(ec2: &aws_sdk_ec2::Client, sg: &str) -> Vec<Rule> {
    let out = ec2
        .describe_security_group_rules()
        .filters(Filter::builder().name("group-id").values(sg).build())
        .send()
        .await
        .unwrap();
    let mut rules: Vec<Rule> = out
        .security_group_rules()
        .iter()
        .filter(|r| r.is_egress() == Some(false))
        .map(|r| {
            (
                r.ip_protocol().unwrap_or_default().to_string(),
                r.from_port().unwrap_or(-1),
                r.to_port().unwrap_or(-1),
                r.cidr_ipv4()
                    .or(r.cidr_ipv6())
                    .unwrap_or_default()
                    .to_string(),
                r.description().unwrap_or_default().to_string(),
            )
        })
        .collect();
    rules.sort();
    rules
}

fn rule(p: &str, from: i32, to: i32, cidr: &str, description: &str) -> Rule {
    (p.into(), from, to, cidr.into(), description.into())
}

fn world(p: &str, from: i32, to: i32, description: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol(p)
        .from_port(from)
        .to_port(to)
        .ip_ranges(
            IpRange::builder()
                .cidr_ip("0.0.0.0/0")
                .description(description)
                .build(),
        )
        .build()
}

/// A group in a VPC of its own with these ingress permissions.
async fn group(
    account: &str,
    name: &str,
    perms: Vec<IpPermission>,
) -> (String, aws_sdk_ec2::Client) {
    let ec2 = aws_sdk_ec2::Client::new(&account_config(account).await);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    let sg = ec2
        .create_security_group()
        .group_name(format!("{name}-{}", rand_suffix()))
        .description(name)
        .vpc_id(vpc.vpc.unwrap().vpc_id.unwrap())
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    ec2.authorize_security_group_ingress()
        .group_id(&sg)
        .set_ip_permissions(Some(perms))
        .send()
        .await
        .unwrap();
    (sg, ec2)
}

fn group_finding(account: &str, control: &str, sg: &str) -> Value {
    finding(
        account,
        control,
        "AwsEc2SecurityGroup",
        &format!("arn:aws:ec2:{REGION}:{account}:security-group/{sg}"),
    )
}

fn statuses(finding: &Value) -> Vec<String> {
    securityhub_updates(finding["Id"].as_str().unwrap())
        .iter()
        .map(|u| {
            u["body"]["Workflow"]["Status"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// `UpdateSecurityControl` on the Security Hub stand-in, as a person
/// customising a control would call it.
fn update_security_control(body: &Value) {
    let base = &env().securityhub;
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    write!(
        stream,
        "PATCH /securityControl/update HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20261205/{REGION}/securityhub/aws4_request, SignedHeaders=host, Signature={}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        "0".repeat(64),
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_load_balancer_open_on_443_is_left_open() {
    let (account, _inbox, site) = auto_site("harm-lb").await;
    let (sg, ec2) = group(
        &account,
        "alb",
        vec![world("tcp", 443, 443, "public https")],
    )
    .await;
    let findings = vec![
        group_finding(&account, "EC2.19", &sg),
        group_finding(&account, "EC2.18", &sg),
    ];
    let jobs = process_findings(&site, &account, findings);
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    for job in &jobs {
        assert_eq!(outcome(job), "already-compliant", "{job}");
    }
    assert_eq!(
        ingress_rules(&ec2, &sg).await,
        [rule("tcp", 443, 443, "0.0.0.0/0", "public https")]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_web_server_behind_an_all_traffic_rule_keeps_443_and_the_split_can_be_undone() {
    let (account, _inbox, site) = auto_site("harm-web").await;
    let (sg, ec2) = group(&account, "web", vec![world("-1", -1, -1, "web tier")]).await;
    let f = group_finding(&account, "EC2.13", &sg);
    let jobs = process_findings(&site, &account, vec![f.clone()]);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    assert_eq!(outcome(job), "changed", "{job}");
    // The plan shows both halves: the wide rule revoked, the rest opened
    // again to the same source.
    let summary = job["outcome"]["change"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("all traffic from 0.0.0.0/0") && summary.contains("open again"),
        "{summary}"
    );
    assert_eq!(
        job["outcome"]["change"]["before"]["open_ingress"][0]["protocol"],
        "-1"
    );
    assert!(job["outcome"]["change"]["after"]["added"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["protocol"] == "tcp" && r["from_port"] == 23 && r["to_port"] == 65535));
    let now = ingress_rules(&ec2, &sg).await;
    assert!(!now.iter().any(|r| r.0 == "-1"), "{now:?}");
    assert!(
        now.contains(&rule("tcp", 0, 21, "0.0.0.0/0", "web tier")),
        "{now:?}"
    );
    // 443 stays open, with the rule's description.
    assert!(
        now.contains(&rule("tcp", 23, 65535, "0.0.0.0/0", "web tier")),
        "{now:?}"
    );
    assert!(
        now.contains(&rule("udp", 23, 65535, "0.0.0.0/0", "web tier")),
        "{now:?}"
    );
    // SSH is closed, but RDP and the other high-risk ports are still open:
    // the finding is not resolved, and the reason says what stays.
    never_resolved(f["Id"].as_str().unwrap());
    assert_eq!(statuses(&f), ["NOTIFIED"]);
    let reason = reason(job);
    assert!(
        reason.contains("left in place") && reason.contains("3389"),
        "{reason}"
    );

    // Undo: the all-traffic rule comes back with its description, the
    // split rules go.
    let id = job["id"].as_str().unwrap();
    let out = site.rectify(&["jobs", "revert", id, "--approve", "--output", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        ingress_rules(&ec2, &sg).await,
        [rule("-1", -1, -1, "0.0.0.0/0", "web tier")]
    );
    // A second undo is refused: nothing of it is left to undo.
    let again = site.rectify(&["jobs", "revert", id, "--approve"]);
    assert_ne!(again.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undo_is_refused_when_the_group_changed_since() {
    let (account, _inbox, site) = auto_site("harm-undo-changed").await;
    let (sg, ec2) = group(
        &account,
        "ops",
        vec![world("tcp", 22, 22, "ssh from anywhere")],
    )
    .await;
    let f = group_finding(&account, "EC2.13", &sg);
    let jobs = process_findings(&site, &account, vec![f]);
    assert_eq!(outcome(&jobs[0]), "changed", "{:?}", jobs);
    // Someone opens SSH again since, for a vendor: an undo would put
    // the old rule over theirs.
    ec2.authorize_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(world("tcp", 22, 22, "vendor access until friday"))
        .send()
        .await
        .unwrap();
    let id = jobs[0]["id"].as_str().unwrap();
    let out = site.rectify(&["jobs", "revert", id, "--approve", "--output", "json"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("changed since") && text.contains("open again: tcp/22 from 0.0.0.0/0"),
        "{text}"
    );
    assert_eq!(
        ingress_rules(&ec2, &sg).await,
        [rule(
            "tcp",
            22,
            22,
            "0.0.0.0/0",
            "vendor access until friday"
        )]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_open_on_3306_is_not_already_compliant_for_ec2_19() {
    let (account, _inbox, site) = auto_site("harm-mysql").await;
    let (sg, ec2) = group(
        &account,
        "db",
        vec![
            world("tcp", 3306, 3306, "mysql"),
            world("tcp", 443, 443, "https"),
        ],
    )
    .await;
    let f = group_finding(&account, "EC2.19", &sg);
    let jobs = process_findings(&site, &account, vec![f.clone()]);
    assert_eq!(outcome(&jobs[0]), "changed", "{:?}", jobs);
    assert!(
        reason(&jobs[0]).contains("tcp/3306"),
        "{}",
        reason(&jobs[0])
    );
    assert_eq!(
        ingress_rules(&ec2, &sg).await,
        [rule("tcp", 443, 443, "0.0.0.0/0", "https")]
    );
    assert_eq!(statuses(&f), ["RESOLVED"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customised_ec2_18_port_list_is_honoured() {
    // A superset of AWS's default (80, 443): what other tests expect of
    // EC2.18 holds while this one runs.
    update_security_control(&json!({
        "SecurityControlId": "EC2.18",
        "Parameters": {"authorizedTcpPorts": {"ValueType": "CUSTOM", "Value": {"IntegerList": [80, 443, 8443]}}},
        "LastUpdateReason": "the admin UI is public on purpose"
    }));
    let (account, _inbox, site) = auto_site("harm-ec2-18").await;
    let (sg, ec2) = group(
        &account,
        "app",
        vec![
            world("tcp", 8443, 8443, "admin ui"),
            world("tcp", 8080, 8080, "debug"),
        ],
    )
    .await;
    let f = group_finding(&account, "EC2.18", &sg);
    let jobs = process_findings(&site, &account, vec![f.clone()]);
    assert_eq!(outcome(&jobs[0]), "changed", "{:?}", jobs);
    assert_eq!(
        ingress_rules(&ec2, &sg).await,
        [rule("tcp", 8443, 8443, "0.0.0.0/0", "admin ui")]
    );
    assert_eq!(statuses(&f), ["RESOLVED"]);
    // The audit log names the parameters the job judged by.
    let log = site.rectify(&["audit", "list"]);
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(
        log.contains("job.control-parameters") && log.contains("8443"),
        "{log}"
    );
}

/// The default group of a new VPC (moto gives it its default rules).
async fn default_group(ec2: &aws_sdk_ec2::Client) -> (String, String) {
    let vpc = new_vpc(ec2, "10.1.0.0/16").await;
    let sg = default_group_of(ec2, &vpc).await;
    // Make sure it has an ingress rule of its own as well.
    ec2.authorize_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(2049)
                .to_port(2049)
                .ip_ranges(
                    IpRange::builder()
                        .cidr_ip("10.1.0.0/16")
                        .description("nfs")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    (vpc, sg)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_default_group_used_by_an_efs_mount_target_waits_for_approval() {
    let account = new_account();
    let inbox = Inbox::new(&format!("harm-default-sg-{account}")).await;
    let site = Site::new(
        &account,
        "auto",
        &inbox.topic_arn,
        &format!("{PACK_IN_AUTO}overrides:\n  ec2-default-security-group-closed: {{mode: auto}}\n"),
    );
    let ec2 = aws_sdk_ec2::Client::new(&account_config(&account).await);
    let (vpc, used) = default_group(&ec2).await;
    let subnet = new_subnet(&ec2, &vpc, "10.1.1.0/24").await;
    let eni = new_interface(
        &ec2,
        &subnet,
        &used,
        "EFS mount target for fs-0123456789abcdef0 (fsmt-0123)",
    )
    .await;
    let before = ingress_rules(&ec2, &used).await;
    let (_, unused) = default_group(&ec2).await;

    let f_used = group_finding(&account, "EC2.2", &used);
    let f_unused = group_finding(&account, "EC2.2", &unused);
    let event = site.write_event(
        "event.json",
        &imported(&account, vec![f_used.clone(), f_unused.clone()]),
    );
    let jobs = site.process(&event, &[]);
    let job_of = |sg: &str| {
        jobs.iter()
            .find(|j| j["target"]["resource_id"].as_str().unwrap().ends_with(sg))
            .unwrap()
            .clone()
    };
    // Used: nothing written; the person sees which interface uses it.
    let waiting = job_of(&used);
    assert_eq!(outcome(&waiting), "awaiting-approval", "{waiting}");
    let why = reason(&waiting);
    assert!(
        why.contains(&eni) && why.contains("EFS mount target"),
        "{why}"
    );
    assert_eq!(ingress_rules(&ec2, &used).await, before);
    never_resolved(f_used["Id"].as_str().unwrap());
    // Unused: emptied at once, in auto.
    let done = job_of(&unused);
    assert_eq!(outcome(&done), "changed", "{done}");
    assert!(ingress_rules(&ec2, &unused).await.is_empty());

    // Undo brings the rules back, descriptions included.
    let id = done["id"].as_str().unwrap();
    let out = site.rectify(&["jobs", "revert", id, "--approve", "--output", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = ingress_rules(&ec2, &unused).await;
    assert!(
        restored.contains(&rule("tcp", 2049, 2049, "10.1.0.0/16", "nfs")),
        "{restored:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approved_default_group_change_asks_again_after_a_new_rule() {
    let account = new_account();
    let inbox = Inbox::new(&format!("harm-default-reask-{account}")).await;
    let site = Site::new(
        &account,
        "auto",
        &inbox.topic_arn,
        &format!("{PACK_IN_AUTO}overrides:\n  ec2-default-security-group-closed: {{mode: auto}}\n"),
    );
    let ec2 = aws_sdk_ec2::Client::new(&account_config(&account).await);
    let (vpc, sg) = default_group(&ec2).await;
    let subnet = new_subnet(&ec2, &vpc, "10.1.2.0/24").await;
    new_interface(
        &ec2,
        &subnet,
        &sg,
        "VPC Endpoint Interface vpce-0123456789abcdef0",
    )
    .await;
    let f = group_finding(&account, "EC2.2", &sg);
    let jobs = process_findings(&site, &account, vec![f.clone()]);
    assert_eq!(outcome(&jobs[0]), "awaiting-approval", "{:?}", jobs);
    assert!(
        reason(&jobs[0]).contains("VPC Endpoint Interface"),
        "{}",
        reason(&jobs[0])
    );
    let id = jobs[0]["id"].as_str().unwrap().to_string();

    // A rule is added after the plan was shown, then the plan is approved.
    ec2.authorize_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(
                    IpRange::builder()
                        .cidr_ip("10.0.0.0/8")
                        .description("bastion")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = site.rectify(&["jobs", "approve", &id, "--by", "alice", "--output", "json"]);
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    // What alice approved is not what would be written now: asked again,
    // nothing written.
    assert_eq!(job["state"], "waiting-approval", "{job}");
    let why = reason(&job);
    assert!(
        why.contains("differs from the one cli:alice approved"),
        "{why}"
    );
    let now = ingress_rules(&ec2, &sg).await;
    assert!(
        now.contains(&rule("tcp", 22, 22, "10.0.0.0/8", "bastion")),
        "{now:?}"
    );
    never_resolved(f["Id"].as_str().unwrap());

    // Approved again, as shown now: the group is emptied.
    let out = site.rectify(&["jobs", "approve", &id, "--by", "bob", "--output", "json"]);
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome(&job), "changed", "{job}");
    assert!(ingress_rules(&ec2, &sg).await.is_empty());
}
