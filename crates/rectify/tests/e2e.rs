//! End to end: vulnerable resources built in the emulator with real SDK
//! calls, findings sent through `rectify process` and `POST /v1/events`,
//! the resources, the finding updates, the notifications and the audit
//! chain read back.

mod support;

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range};
use serde_json::{json, Value};
use support::*;

fn outcome(job: &Value) -> &str {
    job["outcome"]["kind"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_public_bucket_is_fixed_resolved_notified_and_audited() {
    let account = new_account();
    let inbox = Inbox::new(&format!("e2e-s3-{account}")).await;
    let site = Site::new(&account, "auto", &inbox.topic_arn, &rules(""));
    let (bucket, s3) = public_bucket(&account, &[]).await;
    assert_eq!(bpa(&s3, &bucket).await, [false; 4]);

    let f = s3_finding(&account, &bucket);
    let finding_id = f["Id"].as_str().unwrap().to_string();
    let event = site.write_event("event.json", &imported(&account, vec![f]));
    let jobs = site.process(&event, &[]);
    assert_eq!(jobs.len(), 1);
    assert_eq!(outcome(&jobs[0]), "changed", "{}", jobs[0]);
    assert_eq!(jobs[0]["state"], "succeeded");
    assert_eq!(bpa(&s3, &bucket).await, [true; 4]);

    // The finding is resolved with a note naming the rule and the change.
    let updates = securityhub_updates(&finding_id);
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert!(updates[0]["valid"].as_bool().unwrap(), "{}", updates[0]);
    assert_eq!(updates[0]["body"]["Workflow"]["Status"], "RESOLVED");
    let note = updates[0]["body"]["Note"]["Text"].as_str().unwrap();
    assert!(
        note.contains("s3-bpa") && note.contains("changed"),
        "{note}"
    );

    // The owner hears about it.
    let messages = inbox.messages().await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!(m["account"], account.as_str());
    assert_eq!(m["region"], REGION);
    assert_eq!(m["resource"], format!("arn:aws:s3:::{bucket}"));
    assert_eq!(m["control"], "S3.8");
    assert_eq!(m["action"], "aws.s3.block-public-access");
    assert_eq!(m["outcome"], "changed");
    assert_eq!(m["owner"], format!("owner-{account}@example.com"));

    // The same event again: one change in all, then already compliant;
    // the generation is settled, so no second update and no second message.
    let again = site.process(&event, &[]);
    assert_eq!(outcome(&again[0]), "already-compliant", "{}", again[0]);
    assert_eq!(bpa(&s3, &bucket).await, [true; 4]);
    assert_eq!(securityhub_updates(&finding_id).len(), 1);
    assert!(inbox.messages().await.is_empty());
    assert_audit_intact(&site);
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_plans_and_writes_nothing() {
    let (account, inbox, site) = setup("e2e-dry", "auto").await;
    let (bucket, s3) = public_bucket(&account, &[]).await;
    let f = s3_finding(&account, &bucket);
    let finding_id = f["Id"].as_str().unwrap().to_string();
    let event = site.write_event("event.json", &imported(&account, vec![f]));

    let jobs = site.process(&event, &["--dry-run"]);
    assert_eq!(outcome(&jobs[0]), "planned", "{}", jobs[0]);
    assert_eq!(
        jobs[0]["outcome"]["change"]["after"]["block_public_acls"], true,
        "{}",
        jobs[0]
    );
    assert_eq!(bpa(&s3, &bucket).await, [false; 4]);
    assert!(securityhub_updates(&finding_id).is_empty());
    assert!(inbox.messages().await.is_empty());
    assert_audit_intact(&site);
}

/// The `rectify process` exit code and jobs for one event file.
fn process_with_code(site: &Site, file: &std::path::Path) -> (Option<i32>, Vec<Value>) {
    let out = site.rectify(&["process", "--output", "json", file.to_str().unwrap()]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("process prints JSON");
    (
        out.status.code(),
        report["jobs"].as_array().cloned().unwrap_or_default(),
    )
}

fn audit_kinds(site: &Site) -> Vec<String> {
    let out = site.rectify(&["audit", "list", "--limit", "1000", "--output", "json"]);
    let records: Value = serde_json::from_slice(&out.stdout).unwrap();
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_event_cannot_resolve_a_real_finding() {
    let (account, inbox, site) = setup("e2e-forged", "auto").await;
    // A real finding about a public bucket, held by Security Hub.
    let (public, _) = public_bucket(&account, &[]).await;
    let real = s3_finding(&account, &public);
    let real_id = real["Id"].as_str().unwrap().to_string();
    // The forged event names the real finding but points at a bucket that
    // already complies, hoping for "already compliant" and RESOLVED.
    let (compliant, s3) = public_bucket(&account, &[]).await;
    block_all(&s3, &compliant).await;
    let mut forged = real.clone();
    forged["Resources"][0]["Id"] = json!(format!("arn:aws:s3:::{compliant}"));
    forged["Note"] =
        json!({"Text": "fixed, trust me", "UpdatedBy": "x", "UpdatedAt": "2026-11-29T09:00:00Z"});
    let event = site.write_event("forged.json", &imported(&account, vec![forged]));

    let (code, jobs) = process_with_code(&site, &event);
    assert_eq!(outcome(&jobs[0]), "already-compliant", "{}", jobs[0]);
    let update = jobs[0]["outcome"]["finding_update"].as_str().unwrap();
    assert!(
        update.starts_with("refused:") && update.contains(&public),
        "{update}"
    );
    // Nothing was written to Security Hub; the run says something is wrong.
    assert!(securityhub_updates(&real_id).is_empty());
    assert_eq!(code, Some(1));
    assert!(audit_kinds(&site).contains(&"finding.mismatch".to_string()));
    // The security channel hears of the mismatch, not of a fix.
    let messages = inbox.messages().await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["kind"], "finding-mismatch");
    assert_eq!(messages[0]["finding"], real_id.as_str());

    // A finding Security Hub has never seen is not created by an update.
    let ghost = unseeded_finding(
        &account,
        "S3.8",
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{compliant}"),
    );
    let ghost_id = ghost["Id"].as_str().unwrap().to_string();
    let event = site.write_event("ghost.json", &imported(&account, vec![ghost]));
    let (code, jobs) = process_with_code(&site, &event);
    assert_eq!(code, Some(1));
    assert!(jobs[0]["outcome"]["finding_update"]
        .as_str()
        .unwrap()
        .contains("has no finding"));
    assert!(securityhub_updates(&ghost_id).is_empty());
    assert_audit_intact(&site);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_time_failure_leaves_the_finding_alone() {
    let (account, _inbox, site) = setup("e2e-planfail", "auto").await;
    // A real finding whose resource the action cannot act on.
    let f = finding(&account, "S3.8", "AwsEc2Instance", "i-0123456789abcdef0");
    let id = f["Id"].as_str().unwrap().to_string();
    let event = site.write_event("event.json", &imported(&account, vec![f]));
    let (code, jobs) = process_with_code(&site, &event);
    assert_eq!(outcome(&jobs[0]), "failed", "{}", jobs[0]);
    assert_eq!(code, Some(1));
    assert!(securityhub_updates(&id).is_empty());
}

/// A fix that needs a setting the rule does not give (S3.9: where the
/// access logs go) skips its job saying what to set: nothing is written,
/// the finding is left as it is.
#[tokio::test(flavor = "multi_thread")]
async fn a_fix_without_its_setting_is_skipped_saying_what_to_set() {
    let pack = "packs: [aws-foundational]\ndefault_notify: [team]\n";
    let (account, _inbox, site) = setup_with("e2e-notconf", "auto", pack).await;
    let (bucket, s3) = public_bucket(&account, &[]).await;
    let f = finding(
        &account,
        "S3.9",
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{bucket}"),
    );
    let id = f["Id"].as_str().unwrap().to_string();
    let event = site.write_event("event.json", &imported(&account, vec![f]));
    let jobs = site.process(&event, &[]);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["rule_id"], "s3-bucket-access-logging");
    assert_eq!(jobs[0]["state"], "skipped", "{}", jobs[0]);
    let reason = jobs[0]["outcome"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("not configured: ") && reason.contains("params.target_bucket"),
        "{reason}"
    );
    let logging = s3
        .get_bucket_logging()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(logging.logging_enabled().is_none(), "nothing written");
    assert!(securityhub_updates(&id).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_writes_nothing_whatever_the_outcome() {
    let (account, inbox, site) = setup("e2e-dry-any", "dry-run").await;
    // Already compliant: no RESOLVED in dry-run.
    let (bucket, s3) = public_bucket(&account, &[]).await;
    block_all(&s3, &bucket).await;
    let compliant = s3_finding(&account, &bucket);
    let compliant_id = compliant["Id"].as_str().unwrap().to_string();
    // Failed: a bucket that does not exist; no NOTIFIED in dry-run.
    let gone = s3_finding(&account, &format!("gone-{account}-{}", rand_suffix()));
    let gone_id = gone["Id"].as_str().unwrap().to_string();
    let event = site.write_event("event.json", &imported(&account, vec![compliant, gone]));
    let jobs = site.process(&event, &[]);
    let kinds: Vec<&str> = jobs.iter().map(outcome).collect();
    assert!(kinds.contains(&"already-compliant"), "{kinds:?}");
    assert!(kinds.contains(&"failed"), "{kinds:?}");
    assert!(securityhub_updates(&compliant_id).is_empty());
    assert!(securityhub_updates(&gone_id).is_empty());
    assert!(inbox.messages().await.is_empty());
    // The same with --dry-run over an auto rule.
    let (account, inbox, site) = setup("e2e-dry-flag", "auto").await;
    let (bucket, s3) = public_bucket(&account, &[]).await;
    block_all(&s3, &bucket).await;
    let f = s3_finding(&account, &bucket);
    let id = f["Id"].as_str().unwrap().to_string();
    let event = site.write_event("event.json", &imported(&account, vec![f]));
    let jobs = site.process(&event, &["--dry-run"]);
    assert_eq!(outcome(&jobs[0]), "already-compliant", "{}", jobs[0]);
    assert!(securityhub_updates(&id).is_empty());
    assert!(inbox.messages().await.is_empty());
    // Only the audit record is written.
    assert!(audit_kinds(&site).contains(&"job.succeeded".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn exempt_resources_and_unknown_accounts_are_left_alone() {
    let (account, _inbox, site) = setup("e2e-exempt", "auto").await;
    let (bucket, s3) =
        public_bucket(&account, &[("rectify:exempt", "public website, CHG-1234")]).await;
    let f = s3_finding(&account, &bucket);
    let event = site.write_event("event.json", &imported(&account, vec![f]));
    let jobs = site.process(&event, &[]);
    assert_eq!(outcome(&jobs[0]), "skipped", "{}", jobs[0]);
    assert!(jobs[0]["outcome"]["reason"]
        .as_str()
        .unwrap()
        .contains("rectify:exempt"));
    assert_eq!(bpa(&s3, &bucket).await, [false; 4]);

    // An account that is not in the config: recorded, not touched.
    let stranger = new_account();
    let (bucket, s3) = public_bucket(&stranger, &[]).await;
    let f = s3_finding(&stranger, &bucket);
    let event = site.write_event("stranger.json", &imported(&stranger, vec![f]));
    let jobs = site.process(&event, &[]);
    assert_eq!(outcome(&jobs[0]), "skipped", "{}", jobs[0]);
    assert!(jobs[0]["outcome"]["reason"]
        .as_str()
        .unwrap()
        .contains("not in the config"));
    assert_eq!(bpa(&s3, &bucket).await, [false; 4]);
    assert_audit_intact(&site);
}

#[tokio::test(flavor = "multi_thread")]
async fn approve_mode_waits_for_approval() {
    let (account, _inbox, site) = setup("e2e-approve", "approve").await;
    let (bucket, s3) = public_bucket(&account, &[]).await;
    let f = s3_finding(&account, &bucket);
    let event = site.write_event("event.json", &imported(&account, vec![f]));
    let jobs = site.process(&event, &[]);
    assert_eq!(jobs[0]["state"], "waiting-approval", "{}", jobs[0]);
    assert_eq!(bpa(&s3, &bucket).await, [false; 4]);

    let id = jobs[0]["id"].as_str().unwrap();
    let out = site.rectify(&["jobs", "approve", id, "--by", "alice", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome(&job), "changed", "{job}");
    assert_eq!(job["approved_by"], "cli:alice");
    assert_eq!(bpa(&s3, &bucket).await, [true; 4]);
    // Approving twice is refused.
    assert_eq!(
        site.rectify(&["jobs", "approve", id]).status.code(),
        Some(1)
    );
    assert_audit_intact(&site);
}

async fn open_security_group(account: &str) -> (String, aws_sdk_ec2::Client) {
    let ec2 = aws_sdk_ec2::Client::new(&account_config(account).await);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc.unwrap().vpc_id.unwrap();
    let sg = ec2
        .create_security_group()
        .group_name(format!("bastion-{}", rand_suffix()))
        .description("bastion")
        .vpc_id(vpc_id)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let world = IpRange::builder().cidr_ip("0.0.0.0/0").build();
    let perms = [
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(22)
            .to_port(22)
            .ip_ranges(world.clone())
            .ip_ranges(IpRange::builder().cidr_ip("10.1.0.0/16").build())
            .build(),
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(3389)
            .to_port(3389)
            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
            .build(),
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
            .build(),
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .ip_ranges(world)
            .build(),
    ];
    ec2.authorize_security_group_ingress()
        .group_id(&sg)
        .set_ip_permissions(Some(perms.to_vec()))
        .send()
        .await
        .unwrap();
    (sg, ec2)
}

/// What `open_security_group` opened, less the admin ports open to the
/// world: the rest stays.
async fn assert_only_admin_ports_revoked(ec2: &aws_sdk_ec2::Client, sg: &str) {
    assert_eq!(
        ingress(ec2, sg).await,
        vec![
            tuple("tcp", 22, 22, "10.1.0.0/16"),
            tuple("tcp", 443, 443, "0.0.0.0/0"),
            tuple("tcp", 443, 443, "10.0.0.0/8"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn security_group_fixed_through_the_http_api() {
    let (account, inbox, site) = setup("e2e-sg", "auto").await;
    let (sg, ec2) = open_security_group(&account).await;
    let server = Server::start(&site);

    let f = finding(
        &account,
        "EC2.13",
        "AwsEc2SecurityGroup",
        &format!("arn:aws:ec2:{REGION}:{account}:security-group/{sg}"),
    );
    let finding_id = f["Id"].as_str().unwrap().to_string();
    let body = imported(&account, vec![f]).to_string();

    // A wrong token: 401, and nothing is stored.
    let (status, _) = http(
        &server.base,
        "POST",
        "/v1/events",
        Some("wrong-token-0123456789"),
        Some(&body),
    );
    assert_eq!(status, 401);
    let (status, _) = http(&server.base, "POST", "/v1/events", None, Some(&body));
    assert_eq!(status, 401);
    // Malformed and oversized bodies: 400 with the byte offset, 413; nothing stored.
    let (status, reply) = http(
        &server.base,
        "POST",
        "/v1/events",
        Some(&site.token),
        Some("{\"source\": }"),
    );
    assert_eq!(status, 400, "{reply}");
    assert!(reply.contains("malformed JSON at byte 11"), "{reply}");
    let mut huge = imported(&account, vec![]);
    huge["detail"]["padding"] = json!("x".repeat(300 * 1024));
    let (status, reply) = http(
        &server.base,
        "POST",
        "/v1/events",
        Some(&site.token),
        Some(&huge.to_string()),
    );
    assert_eq!(status, 413, "{reply}");
    let (_, jobs) = http(&server.base, "GET", "/v1/jobs", Some(&site.token), None);
    assert_eq!(
        serde_json::from_str::<Value>(&jobs).unwrap()["jobs"],
        json!([])
    );
    let (_, findings) = http(&server.base, "GET", "/v1/findings", Some(&site.token), None);
    assert_eq!(
        serde_json::from_str::<Value>(&findings).unwrap()["findings"],
        json!([])
    );

    let reply = server.submit(&site.token, &body);
    let id = reply["events"][0]["jobs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let job = server.wait_job(&site.token, &id);
    assert_eq!(outcome(&job), "changed", "{job}");

    // Only the world-open admin ports went; everything else stayed.
    assert_only_admin_ports_revoked(&ec2, &sg).await;
    let updates = securityhub_updates(&finding_id);
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["body"]["Workflow"]["Status"], "RESOLVED");
    let messages = inbox.messages().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["control"], "EC2.13");
    assert_eq!(messages[0]["outcome"], "changed");

    let (status, findings) = http(&server.base, "GET", "/v1/findings", Some(&site.token), None);
    assert_eq!(status, 200);
    let findings: Value = serde_json::from_str(&findings).unwrap();
    assert_eq!(findings["findings"][0]["id"], finding_id.as_str());
    let (status, health) = http(&server.base, "GET", "/healthz", None, None);
    assert_eq!((status, health.contains("ok")), (200, true));
    drop(server);
    assert_audit_intact(&site);
}

async fn password_policy(account: &str) -> Option<aws_sdk_iam::types::PasswordPolicy> {
    let iam = aws_sdk_iam::Client::new(&account_config(account).await);
    iam.get_account_password_policy()
        .send()
        .await
        .ok()
        .and_then(|o| o.password_policy)
}

#[tokio::test(flavor = "multi_thread")]
async fn password_policy_set_with_param_overrides() {
    let account = new_account();
    let inbox = Inbox::new(&format!("e2e-iam-{account}")).await;
    let site = Site::new(
        &account,
        "auto",
        &inbox.topic_arn,
        &rules("    params: {}\n").replacen(
            "action: aws.iam.set-password-policy\n    notify: [team]\n    params: {}",
            "action: aws.iam.set-password-policy\n    notify: [team]\n    params: {minimum_password_length: 16}",
            1,
        ),
    );
    assert!(password_policy(&account).await.is_none());
    let f = finding(
        &account,
        "IAM.7",
        "AwsAccount",
        &format!("AWS::::Account:{account}"),
    );
    let event = site.write_event("event.json", &imported(&account, vec![f]));
    let jobs = site.process(&event, &[]);
    assert_eq!(outcome(&jobs[0]), "changed", "{}", jobs[0]);
    let p = password_policy(&account).await.expect("a policy now");
    assert_eq!(p.minimum_password_length, Some(16));
    // No expiry added and users' own changes left as they were, unless
    // configured.
    assert_eq!(p.max_password_age.unwrap_or(0), 0);
    assert_eq!(p.password_reuse_prevention, Some(24));
    assert!(
        p.require_symbols
            && p.require_numbers
            && p.require_uppercase_characters
            && p.require_lowercase_characters
    );
    assert!(!p.allow_users_to_change_password);
    let messages = inbox.messages().await;
    assert_eq!(messages[0]["control"], "IAM.7");
    assert_audit_intact(&site);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_event_with_three_findings_fixes_three_resources() {
    let (account, inbox, site) = setup("e2e-three", "auto").await;
    let (bucket, s3) = public_bucket(&account, &[]).await;
    let (sg, ec2) = open_security_group(&account).await;
    let findings = vec![
        s3_finding(&account, &bucket),
        finding(
            &account,
            "EC2.13",
            "AwsEc2SecurityGroup",
            &format!("arn:aws:ec2:{REGION}:{account}:security-group/{sg}"),
        ),
        finding(
            &account,
            "IAM.7",
            "AwsAccount",
            &format!("AWS::::Account:{account}"),
        ),
    ];
    let event = site.write_event("event.json", &imported(&account, findings));
    let jobs = site.process(&event, &[]);
    let mut kinds: Vec<(&str, &str)> = jobs
        .iter()
        .map(|j| (j["rule_id"].as_str().unwrap(), outcome(j)))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("ec2-admin-ports", "changed"),
            ("iam-password-policy", "changed"),
            ("s3-bpa", "changed")
        ]
    );
    assert_eq!(bpa(&s3, &bucket).await, [true; 4]);
    assert!(!ingress(&ec2, &sg)
        .await
        .contains(&tuple("tcp", 22, 22, "0.0.0.0/0")));
    assert!(password_policy(&account).await.is_some());
    assert_eq!(inbox.messages().await.len(), 3);
    assert_audit_intact(&site);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_audit_record_is_detected() {
    let (account, _inbox, site) = setup("e2e-audit", "auto").await;
    let (bucket, _) = public_bucket(&account, &[]).await;
    let f = s3_finding(&account, &bucket);
    let event = site.write_event("event.json", &imported(&account, vec![f]));
    site.process(&event, &["--dry-run"]);
    assert_audit_intact(&site);

    let db = rusqlite::Connection::open(site.path("rectify.db")).unwrap();
    let table: String = db
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%audit%' ORDER BY name LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let changed = db
        .execute(
            &format!("UPDATE {table} SET kind = 'job.forged' WHERE seq = 2"),
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(db);
    let out = site.rectify(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("record 2"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unmatched_events_are_recorded_and_acknowledged() {
    let (account, _inbox, site) = setup("e2e-unmatched", "auto").await;
    let mut f = finding(
        &account,
        "CloudTrail.2",
        "AwsCloudTrailTrail",
        "arn:aws:cloudtrail:us-east-1:1:trail/t",
    );
    f["Compliance"]["Status"] = json!("FAILED");
    let event = site.write_event("event.json", &imported(&account, vec![f]));
    let out = site.rectify(&["process", event.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("matched no rule"));
    let out = site.rectify(&["audit", "list", "--output", "json"]);
    let records: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(records
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["kind"] == "ingest"
            && r["data"]["unmatched"] == json!([0])
            && r["data"]["jobs"] == json!({})));
}

#[test]
fn malformed_and_oversized_input_is_refused_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rectify.yaml");
    std::fs::write(
        &config,
        format!("store: sqlite://{}\n", dir.path().join("db").display()),
    )
    .unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"source": "aws.securityhub", "detail-type": x}"#).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rectify"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "process",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("malformed JSON at byte 45"), "{err}");
    // Nothing was stored.
    assert!(
        !dir.path().join("db").exists()
            || std::fs::metadata(dir.path().join("db")).unwrap().len() < 1_000_000
    );
}

/// `sources.sqs`: `rectify serve` takes findings from a queue (as an
/// EventBridge rule delivers them), fixes the resource once even when the
/// event arrives twice, deletes what it committed and leaves a malformed
/// message on the queue.
#[tokio::test(flavor = "multi_thread")]
async fn findings_taken_from_an_sqs_queue() {
    let account = new_account();
    let inbox = Inbox::new(&format!("e2e-sqs-{account}")).await;
    let (bucket, s3) = public_bucket(&account, &[]).await;
    let sqs = aws_sdk_sqs::Client::new(&home_config().await);
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("e2e-source-{account}"))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "1",
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let site = Site::new(
        &account,
        "auto",
        &inbox.topic_arn,
        &format!(
            "sources:\n  sqs:\n    - queue_url: {queue_url}\n      wait_seconds: 1\n{}",
            rules("")
        ),
    );
    let event = imported(&account, vec![s3_finding(&account, &bucket)]).to_string();
    let malformed = "{\"detail-type\": \"Security Hub Findings - Imported\", ";
    // The same event twice (a redelivery), and a body that is not JSON.
    for body in [event.as_str(), event.as_str(), malformed] {
        sqs.send_message()
            .queue_url(&queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    let server = Server::start(&site);
    let job = server.wait_first_job(&site.token);
    assert_eq!(outcome(&job), "changed", "{job}");
    assert_eq!(bpa(&s3, &bucket).await, [true; 4]);

    // Give the duplicate time to be taken (and recognised), then look.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (_, body) = http(&server.base, "GET", "/v1/jobs", Some(&site.token), None);
    let jobs = serde_json::from_str::<Value>(&body).unwrap()["jobs"].clone();
    assert_eq!(jobs.as_array().unwrap().len(), 1, "{jobs}");
    let (_, metrics) = http(&server.base, "GET", "/metrics", Some(&site.token), None);
    let count = |result: &str| -> u64 {
        let key = format!("rectify_source_messages_total{{result=\"{result}\",source=\"sqs\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&key))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {metrics}"))
    };
    assert_eq!(count("taken"), 2);
    assert!(count("refused") >= 1);
    drop(server);

    // Only the malformed message is left on the queue.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let left = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<&str> = left.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies, vec![malformed]);
    assert_eq!(inbox.messages().await.len(), 1);
    assert_audit_intact(&site);
}

/// `sources.securityhub`: `rectify serve` polls Security Hub (the stand-in),
/// fixes the resource a NEW finding names and resolves the finding; the
/// poll's cursor is saved in the store.
#[tokio::test(flavor = "multi_thread")]
async fn findings_polled_from_security_hub() {
    let account = new_account();
    let inbox = Inbox::new(&format!("e2e-poll-{account}")).await;
    let (bucket, s3) = public_bucket(&account, &[]).await;
    let mut f = s3_finding(&account, &bucket);
    // Each test's findings apart: a product name of its own.
    let product = format!("poll-{account}");
    f["ProductName"] = json!(product);
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    f["UpdatedAt"] = json!(now);
    let finding_id = f["Id"].as_str().unwrap().to_string();
    securityhub_import(&[f]);

    let site = Site::new(
        &account,
        "auto",
        &inbox.topic_arn,
        &format!(
            "sources:\n  securityhub:\n    interval_seconds: 10\n    product_name: [{product}]\n{}",
            rules("")
        ),
    );
    let server = Server::start(&site);
    let job = server.wait_first_job(&site.token);
    assert_eq!(outcome(&job), "changed", "{job}");
    assert_eq!(bpa(&s3, &bucket).await, [true; 4]);
    let updates = securityhub_updates(&finding_id);
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["body"]["Workflow"]["Status"], "RESOLVED");
    drop(server);
    // The cursor is in the store, at the finding's update time.
    let db = rusqlite::Connection::open(site.path("rectify.db")).unwrap();
    let cursor: String = db
        .query_row(
            "SELECT value FROM settings WHERE key = 'cursor:securityhub'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        time::OffsetDateTime::parse(&cursor, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp(),
        time::OffsetDateTime::parse(&now, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp()
    );
    assert_audit_intact(&site);
}

/// The built-in pack's CloudTrail rules: a bucket policy set and SSH
/// opened by hand are undone from the API calls alone; rectify's own call
/// (through the account's configured role) is left alone.
#[tokio::test(flavor = "multi_thread")]
async fn cloudtrail_api_calls_are_remediated() {
    let pack = "packs: [aws-foundational]\ndefault_notify: [team]\n";
    let (account, inbox, site) = setup_with("e2e-ct", "auto", pack).await;
    let (bucket, s3) = public_bucket(&account, &[]).await;
    let (sg, ec2) = open_security_group(&account).await;
    let alice = format!("arn:aws:sts::{account}:assumed-role/developer/alice");
    let own = format!("arn:aws:sts::{account}:assumed-role/rectify/rectify-{account}");
    let (other_bucket, _) = public_bucket(&account, &[]).await;
    let events = json!([
        api_call(
            &account,
            "aws.s3",
            "PutBucketPolicy",
            json!({"bucketName": bucket, "bucketPolicy": {"Version": "2012-10-17"}}),
            &alice
        ),
        api_call(
            &account,
            "aws.ec2",
            "AuthorizeSecurityGroupIngress",
            json!({"groupId": sg, "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
            &alice
        ),
        api_call(
            &account,
            "aws.s3",
            "DeleteBucketPublicAccessBlock",
            json!({"bucketName": other_bucket}),
            &own
        ),
    ]);
    let file = site.write_event("calls.json", &events);
    let jobs = site.process(&file, &[]);
    let summary: Vec<(&str, &str)> = jobs
        .iter()
        .map(|j| (j["rule_id"].as_str().unwrap(), outcome(j)))
        .collect();
    // The policy set by hand has no TLS-only statement: S3.5's rule adds
    // one, next to the Block Public Access settings.
    assert_eq!(
        summary,
        [
            ("s3-bucket-public-access-changed", "changed"),
            ("s3-bucket-policy-changed-require-tls", "changed"),
            ("ec2-public-ingress-added", "changed")
        ],
        "{jobs:?}"
    );
    assert_eq!(bpa(&s3, &bucket).await, [true; 4]);
    assert_eq!(
        bpa(&s3, &other_bucket).await,
        [false; 4],
        "rectify's own call"
    );
    assert_only_admin_ports_revoked(&ec2, &sg).await;
    // No finding to update; the owner still hears of each change.
    let outcomes = inbox.outcomes().await;
    assert_eq!(outcomes, ["changed", "changed", "changed"]);
    assert_audit_intact(&site);
}

/// `rectify scan` with the CloudWatch.1-14 rule: an account without a
/// trail fails every one of the fourteen controls, and the scan reports
/// each under its own control id (one finding and one job per control,
/// the control carried to the job's target), not fourteen times the
/// first.
#[tokio::test(flavor = "multi_thread")]
async fn scan_reports_each_cloudwatch_control_apart() {
    let mut pack = "packs: [aws-foundational]\ndefault_notify: [team]\noverrides:\n".to_string();
    for id in built_in_rule_ids() {
        if id != "cloudwatch-metric-filter-alarm" {
            pack.push_str(&format!("  {id}: {{enabled: false}}\n"));
        }
    }
    let (account, _inbox, site) = setup_with("e2e-scan-cw", "auto", &pack).await;
    let out = site.rectify(&["scan", "--dry-run", "--output", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("scan prints JSON");
    let jobs = report["jobs"].as_array().unwrap();
    let mut controls: Vec<&str> = jobs
        .iter()
        .map(|j| {
            assert_eq!(j["rule_id"], "cloudwatch-metric-filter-alarm", "{j}");
            assert_eq!(
                j["target"]["resource_id"],
                format!("AWS::::Account:{account}"),
                "{j}"
            );
            j["target"]["details"]["control"].as_str().unwrap()
        })
        .collect();
    controls.sort_by_key(|c| c.trim_start_matches("CloudWatch.").parse::<u32>().unwrap());
    let expected: Vec<String> = (1..=14).map(|n| format!("CloudWatch.{n}")).collect();
    assert_eq!(
        controls,
        expected,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("14 out of compliance"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `rectify scan`: the posture scanner finds the public bucket, the open
/// security group and the missing password policy of an account by itself
/// (no finding), plans them in dry-run, fixes them, and finds nothing
/// the next time.
#[tokio::test(flavor = "multi_thread")]
async fn scan_finds_and_fixes_what_no_finding_reported() {
    // The pack's rules of the first six actions; the others are switched
    // off here (overrides), their scans are tested with their actions.
    let core = [
        "s3-bucket-block-public-access",
        "ec2-revoke-public-admin-ingress",
        "ec2-revoke-public-ssh",
        "ec2-revoke-public-rdp",
        "ec2-revoke-public-high-risk-ports",
        "ec2-restrict-unauthorized-ports",
        "iam-account-password-policy",
        "iam-password-expiry",
        "ec2-ebs-default-encryption",
        "ec2-snapshots-private",
        "ec2-default-security-group-closed",
    ];
    let mut pack = "packs: [aws-foundational]\ndefault_notify: [team]\noverrides:\n".to_string();
    for id in built_in_rule_ids() {
        if !core.contains(&id.as_str()) {
            pack.push_str(&format!("  {id}: {{enabled: false}}\n"));
        }
    }
    let pack = pack.as_str();
    let (account, inbox, site) = setup_with("e2e-scan", "auto", pack).await;
    let (bucket, s3) = public_bucket(&account, &[]).await;
    let (sg, ec2) = open_security_group(&account).await;
    let (exempt, _) = public_bucket(&account, &[("rectify:exempt", "website")]).await;
    assert!(password_policy(&account).await.is_none());

    let scan = |extra: &[&str]| {
        let mut args = vec!["scan", "--output", "json"];
        args.extend_from_slice(extra);
        let out = site.rectify(&args);
        let report: Value = serde_json::from_slice(&out.stdout).expect("scan prints JSON");
        let mut jobs: Vec<(String, String, String)> = report["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| {
                (
                    j["rule_id"].as_str().unwrap().to_string(),
                    j["target"]["resource_id"].as_str().unwrap().to_string(),
                    outcome(j).to_string(),
                )
            })
            .collect();
        jobs.sort();
        (out.status.code(), jobs)
    };
    let group_arn = format!("arn:aws:ec2:{REGION}:{account}:security-group/{sg}");
    let expected = |kind: &str| {
        let mut all = vec![
            (
                "ec2-revoke-public-admin-ingress".to_string(),
                group_arn.clone(),
                kind.to_string(),
            ),
            (
                "iam-account-password-policy".to_string(),
                format!("AWS::::Account:{account}"),
                kind.to_string(),
            ),
            (
                "ec2-ebs-default-encryption".to_string(),
                format!("AWS::::Account:{account}"),
                kind.to_string(),
            ),
            (
                "s3-bucket-block-public-access".to_string(),
                format!("arn:aws:s3:::{bucket}"),
                kind.to_string(),
            ),
        ];
        all.sort();
        all
    };

    // The VPCs' default security groups (moto gives them rules) are
    // emptied only with approval, whatever the config's default mode.
    let default_groups = |jobs: &mut Vec<(String, String, String)>| -> Vec<(String, String)> {
        let (groups, rest): (Vec<_>, Vec<_>) = jobs
            .drain(..)
            .partition(|(rule, _, _)| rule == "ec2-default-security-group-closed");
        *jobs = rest;
        groups
            .into_iter()
            .map(|(_, id, outcome)| (id, outcome))
            .collect()
    };
    let (code, mut jobs) = scan(&["--dry-run"]);
    assert_eq!(code, Some(0));
    let groups = default_groups(&mut jobs);
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert!(groups.iter().all(|(_, outcome)| outcome == "planned"));
    assert_eq!(jobs, expected("planned"));
    assert_eq!(
        bpa(&s3, &bucket).await,
        [false; 4],
        "dry-run writes nothing"
    );

    let (code, mut jobs) = scan(&["--feed"]);
    assert_eq!(code, Some(0));
    let waiting = default_groups(&mut jobs);
    assert!(
        waiting
            .iter()
            .all(|(_, outcome)| outcome == "awaiting-approval"),
        "{waiting:?}"
    );
    assert_eq!(jobs, expected("changed"));
    assert_eq!(bpa(&s3, &bucket).await, [true; 4]);
    assert_eq!(
        bpa(&s3, &exempt).await,
        [false; 4],
        "the exemption tag holds"
    );
    assert_only_admin_ports_revoked(&ec2, &sg).await;
    assert!(password_policy(&account).await.is_some());
    // No Security Hub finding stands behind these: none was updated.
    let (_, requests) = http(&env().securityhub, "GET", "/_standin/requests", None, None);
    assert!(!requests.contains(&format!(
        "rectify-scanner/aws.s3.block-public-access/S3.2/arn:aws:s3:::{bucket}"
    )));
    // Told of each change, and of the two changes waiting for approval.
    let mut outcomes = inbox.outcomes().await;
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            "awaiting-approval",
            "awaiting-approval",
            "changed",
            "changed",
            "changed",
            "changed"
        ]
    );

    // Nothing left (the exempt bucket makes no finding).
    // (The default groups' jobs still wait for approval: the same jobs.)
    let (code, mut jobs) = scan(&["--feed"]);
    assert_eq!(code, Some(0));
    assert_eq!(default_groups(&mut jobs), waiting);
    assert_eq!(jobs, []);
    assert_audit_intact(&site);
}

/// A finding with `Resources[].Details`, as Security Hub sends them: the
/// read-back of the finding goes through the SDK's deserializer for
/// resource details, whose stack needs are far above a default thread's.
#[tokio::test(flavor = "multi_thread")]
async fn a_finding_with_resource_details_is_read_back_and_resolved() {
    let (account, _inbox, site) = setup("e2e-details", "auto").await;
    let (sg, ec2) = ssh_open_group(&account).await;
    let mut f = unseeded_finding(
        &account,
        "EC2.13",
        "AwsEc2SecurityGroup",
        &format!("arn:aws:ec2:{REGION}:{account}:security-group/{sg}"),
    );
    f["Resources"][0]["Details"] = json!({"AwsEc2SecurityGroup": {
        "GroupId": sg, "GroupName": "ssh", "OwnerId": account, "VpcId": "vpc-0123456789abcdef0",
        "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                           "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    }});
    securityhub_import(std::slice::from_ref(&f));
    let id = f["Id"].as_str().unwrap().to_string();
    let event = site.write_event("event.json", &imported(&account, vec![f]));
    let out = site.rectify(&["process", "--output", "json", event.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome(&report["jobs"][0]), "changed", "{report}");
    assert!(ingress(&ec2, &sg).await.is_empty());
    let updates = securityhub_updates(&id);
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["body"]["Workflow"]["Status"], "RESOLVED");
}

/// The ids of the built-in pack's rules, from its files.
fn built_in_rule_ids() -> Vec<String> {
    let dir = repo_root().join("crates/rectify/packs/aws-foundational");
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        ids.extend(
            text.lines()
                .filter_map(|l| l.strip_prefix("- id: "))
                .map(|id| id.trim().to_string()),
        );
    }
    ids
}

/// The OCSF fixture of S3.8 (`Findings Imported V2`, the bucket by name in
/// `resources[].uid`) moved into `account`, this region and `bucket`, with
/// a finding uid of its own; the finding is put in the Security Hub
/// stand-in as the new Security Hub would hold it. Returns the event and
/// the finding's `metadata.uid`.
fn ocsf_s3_event(account: &str, bucket: &str) -> (Value, String) {
    let path = repo_root().join("examples/fixtures/ocsf-v2-s3-8-status-id/event.json");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("111122223333", account)
        .replace("eu-west-1", REGION)
        .replace("payments-exports", bucket)
        .replace("4d5e-example", &format!("f-{}", rand_suffix()))
        .replace("c8f3d4e5-example", &format!("ev-{}", rand_suffix()));
    let event: Value = serde_json::from_str(&text).unwrap();
    let finding = event["detail"]["findings"][0].clone();
    securityhub_put_v2(std::slice::from_ref(&finding));
    let uid = finding["metadata"]["uid"].as_str().unwrap().to_string();
    (event, uid)
}

const PACK: &str = "packs: [aws-foundational]\ndefault_notify: [team]\n";

#[tokio::test(flavor = "multi_thread")]
async fn an_ocsf_finding_is_fixed_then_resolved_through_v2() {
    let (account, _inbox, site) = setup_with("e2e-ocsf", "auto", PACK).await;
    let (bucket, s3) = public_bucket(&account, &[]).await;
    let (event, uid) = ocsf_s3_event(&account, &bucket);
    let before = securityhub_read_v2(&uid).unwrap();
    assert_eq!(before["status_id"], 1, "{before}");

    let file = site.write_event("ocsf.json", &event);
    let jobs = site.process(&file, &[]);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    // The pack's OCSF rule runs in its mode (its Security Hub twin's: the
    // config's default, auto), not held for approval.
    assert_eq!(jobs[0]["rule_id"], "ocsf-s3-bucket-block-public-access");
    assert_eq!(jobs[0]["mode"], "auto", "{}", jobs[0]);
    assert_eq!(outcome(&jobs[0]), "changed", "{}", jobs[0]);
    assert_eq!(bpa(&s3, &bucket).await, [true; 4]);
    assert_eq!(jobs[0]["outcome"]["finding_update"], "set Resolved");

    // Security Hub holds the finding Resolved, with rectify's note.
    let after = securityhub_read_v2(&uid).unwrap();
    assert_eq!(after["status_id"], 4, "{after}");
    assert_eq!(after["status"], "Resolved");
    let comment = after["comment"].as_str().unwrap();
    assert!(
        comment.starts_with(
            "rectify rule ocsf-s3-bucket-block-public-access (aws.s3.block-public-access): changed"
        ),
        "{comment}"
    );
    // Read back before the update, one valid update.
    assert!(!securityhub_v2_requests("GetFindingsV2", &uid).is_empty());
    let writes = securityhub_v2_requests("BatchUpdateFindingsV2", &uid);
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0]["valid"], true, "{}", writes[0]);
    assert_eq!(writes[0]["body"]["MetadataUids"], json!([uid]));

    // The same event again: already compliant, and the finding already
    // shows what rectify would write: no second update.
    let again = site.process(&file, &[]);
    assert_eq!(outcome(&again[0]), "already-compliant", "{}", again[0]);
    let update = again[0]["outcome"]["finding_update"].as_str().unwrap();
    assert!(update.starts_with("already Resolved"), "{update}");
    assert_eq!(
        securityhub_v2_requests("BatchUpdateFindingsV2", &uid).len(),
        1
    );

    // An event naming a real finding but another, compliant bucket: the
    // finding read back names the first bucket; nothing is written to it.
    let (public, _) = public_bucket(&account, &[]).await;
    let (real, real_uid) = ocsf_s3_event(&account, &public);
    let mut forged = real.clone();
    forged["detail"]["findings"][0]["resources"][0]["uid"] = json!(bucket);
    let file = site.write_event("forged.json", &forged);
    let jobs = site.process(&file, &[]);
    assert_eq!(outcome(&jobs[0]), "already-compliant", "{}", jobs[0]);
    let update = jobs[0]["outcome"]["finding_update"].as_str().unwrap();
    assert!(
        update.starts_with("refused:") && update.contains(&public),
        "{update}"
    );
    assert!(securityhub_v2_requests("BatchUpdateFindingsV2", &real_uid).is_empty());
    assert_eq!(securityhub_read_v2(&real_uid).unwrap()["status_id"], 1);
    assert_audit_intact(&site);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ocsf_finding_whose_fix_fails_is_not_resolved() {
    let (account, _inbox, site) = setup_with("e2e-ocsf-fail", "auto", PACK).await;
    // The finding names a bucket that is not there: the fix cannot land.
    let gone = format!("gone-{account}-{}", rand_suffix());
    let (event, uid) = ocsf_s3_event(&account, &gone);
    let file = site.write_event("ocsf.json", &event);
    let jobs = site.process(&file, &[]);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(outcome(&jobs[0]), "failed", "{}", jobs[0]);
    assert_eq!(
        jobs[0]["outcome"]["finding_update"],
        "set commented (status unchanged)"
    );

    // The status stays New; the comment says why.
    let after = securityhub_read_v2(&uid).unwrap();
    assert_eq!(after["status_id"], 1, "{after}");
    assert_eq!(after["status"], "New");
    let comment = after["comment"].as_str().unwrap();
    assert!(
        comment.starts_with(
            "rectify rule ocsf-s3-bucket-block-public-access (aws.s3.block-public-access): failed"
        ),
        "{comment}"
    );
    let writes = securityhub_v2_requests("BatchUpdateFindingsV2", &uid);
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0]["valid"], true, "{}", writes[0]);
    assert!(writes[0]["body"].get("StatusId").is_none(), "{}", writes[0]);
    assert_audit_intact(&site);
}
