//! Harm scenarios: the flow around a change (approvals, rule changes, a
//! person who keeps making the change rectify undoes).

use serde_json::{json, Value};

use crate::common::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_holds_for_the_change_shown() {
    let (account, _inbox, site) = setup_with("harm-bound", "approve", PACK_IN_AUTO).await;
    let (sg, ec2) = ssh_open_group(&account).await;
    // EC2.53: its rule closes both SSH and RDP (EC2.13's only SSH).
    let f = finding(
        &account,
        "EC2.53",
        "AwsEc2SecurityGroup",
        &format!("arn:aws:ec2:{REGION}:{account}:security-group/{sg}"),
    );
    let jobs = process_findings(&site, &account, vec![f]);
    assert_eq!(jobs[0]["state"], "waiting-approval", "{}", jobs[0]);
    let id = jobs[0]["id"].as_str().unwrap().to_string();
    let shown = jobs[0]["plan"]["summary"].as_str().unwrap().to_string();
    assert!(
        shown.contains("tcp/22") && !shown.contains("3389"),
        "{shown}"
    );

    // After the approval was asked for, someone opens tcp/3389 too.
    open_to_world(&ec2, &sg, 3389).await;
    let out = site.rectify(&["jobs", "approve", &id, "--by", "alice", "--output", "json"]);
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The approved change (tcp/22) is not the change now (tcp/22 and
    // tcp/3389): nothing is written, and a person is asked again.
    assert_eq!(job["state"], "waiting-approval", "{job}");
    let reason = job["outcome"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("differs from the one cli:alice approved") && reason.contains("3389"),
        "{reason}"
    );
    assert!(job["approved_by"].is_null(), "{job}");
    let open = ingress(&ec2, &sg).await;
    assert!(
        open.contains(&tuple("tcp", 22, 22, "0.0.0.0/0")),
        "{open:?}"
    );
    assert!(
        open.contains(&tuple("tcp", 3389, 3389, "0.0.0.0/0")),
        "{open:?}"
    );

    // An approval of a change that is no longer the one planned is refused.
    let stale = site.rectify(&["jobs", "approve", &id, "--plan-digest", &"0".repeat(64)]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stale.stderr).contains("another change than the one shown"));
    // The digest of the change shown now is accepted, and that change runs.
    let details = site.rectify(&["jobs", "show", &id]);
    let digest = String::from_utf8_lossy(&details.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("plan digest").map(|d| d.trim().to_string()))
        .expect("jobs show prints the plan digest");
    let out = site.rectify(&[
        "jobs",
        "approve",
        &id,
        "--by",
        "bob",
        "--plan-digest",
        &digest,
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome(&job), "changed", "{job}");
    assert!(ingress(&ec2, &sg).await.is_empty());
    assert_audit_intact(&site);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queued_job_follows_the_current_rule() {
    let (account, _inbox, site) = setup_with("harm-follow", "approve", PACK_IN_AUTO).await;
    let (sg, ec2) = ssh_open_group(&account).await;
    let (bucket, s3) = public_bucket(&account, &[]).await;
    let event = site.write_event(
        "event.json",
        &imported(
            &account,
            vec![sg_finding(&account, &sg), s3_finding(&account, &bucket)],
        ),
    );
    let jobs = site.process(&event, &[]);
    assert!(
        jobs.iter().all(|j| j["state"] == "waiting-approval"),
        "{jobs:?}"
    );
    let id_of = |rule: &str| {
        jobs.iter().find(|j| j["rule_id"] == rule).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // While they wait, the security-group rule is switched to dry-run and
    // the S3 rule is disabled, by overrides of the pack's rules.
    let mut config = std::fs::read_to_string(site.path("rectify.yaml")).unwrap();
    config.push_str(
        "overrides:\n  ec2-revoke-public-ssh: {mode: dry-run}\n  s3-bucket-block-public-access: {enabled: false}\n",
    );
    std::fs::write(site.path("rectify.yaml"), config).unwrap();

    let out = site.rectify(&[
        "jobs",
        "approve",
        &id_of("ec2-revoke-public-ssh"),
        "--output",
        "json",
    ]);
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome(&job), "planned", "{job}");
    assert!(ingress(&ec2, &sg)
        .await
        .contains(&tuple("tcp", 22, 22, "0.0.0.0/0")));

    let out = site.rectify(&[
        "jobs",
        "approve",
        &id_of("s3-bucket-block-public-access"),
        "--output",
        "json",
    ]);
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome(&job), "skipped", "{job}");
    assert!(job["outcome"]["reason"]
        .as_str()
        .unwrap()
        .contains("is disabled"));
    assert_eq!(bpa(&s3, &bucket).await, [false; 4]);
}

#[tokio::test(flavor = "multi_thread")]
async fn rectify_stops_fighting_a_person_who_keeps_making_a_change() {
    let (account, inbox, site) = setup_with("harm-fight", "auto", PACK_IN_AUTO).await;
    let (bucket, s3) = public_bucket(&account, &[]).await;
    let alice = format!("arn:aws:sts::{account}:assumed-role/web-admin/alice");
    let mut outcomes = Vec::new();
    for round in 0..3 {
        // Alice takes the bucket's Block Public Access off, again.
        s3.delete_public_access_block()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        let call = api_call(
            &account,
            "aws.s3",
            "DeleteBucketPublicAccessBlock",
            json!({"bucketName": bucket}),
            &alice,
        );
        let file = site.write_event(&format!("call-{round}.json"), &call);
        let jobs = site.process(&file, &[]);
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        outcomes.push(jobs[0].clone());
    }
    let kinds: Vec<&str> = outcomes.iter().map(outcome).collect();
    assert_eq!(kinds, ["changed", "changed", "skipped"], "{outcomes:?}");
    let reason = outcomes[2]["outcome"]["reason"].as_str().unwrap();
    // Named by the role behind the session (a session name is the
    // caller's to choose).
    assert!(
        reason.contains(":role/web-admin") && reason.contains("on purpose"),
        "{reason}"
    );
    // Alice's third change stands; the owner is told why.
    assert_eq!(bpa(&s3, &bucket).await, [false; 4]);
    let messages = inbox.messages().await;
    let last = messages.last().unwrap();
    assert_eq!(last["outcome"], "skipped");
    assert!(last["reason"].as_str().unwrap().contains("on purpose"));
}
