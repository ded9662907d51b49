//! Resilience: a fault-injecting proxy between rectify and the emulator
//! answers a share of calls with throttling, 500, 503, slow answers and
//! dropped connections. Every remediation still ends `changed`; with a
//! permanent fault the job ends dead, with a notification and a note on the
//! finding.

mod support;

use serde_json::{json, Value};
use support::*;

/// The site's config with the execution settings spliced in (the `aws`
/// section replaces the default one): `attempts` in all, short backoff, no
/// SDK retries (rectify's own retries are under test).
fn site(account: &str, topic: &str, attempts: u32) -> Site {
    let site = Site::new(account, "auto", topic, &rules(""));
    let path = site.path("rectify.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let execution = format!(
        "execution:\n  max_attempts: {attempts}\n  backoff_base_ms: 20\n  backoff_max_ms: 200\n\
         aws:\n  region: us-east-1\n  sdk_max_attempts: 1\n"
    );
    let text = text.replace(&format!("aws:\n  region: {REGION}\n"), &execution);
    std::fs::write(&path, text).unwrap();
    site
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_faults_are_retried_until_every_fix_lands() {
    let account = new_account();
    let inbox = Inbox::new(&format!("faults-{account}")).await;
    let site = site(&account, &inbox.topic_arn, 40);
    let member = account_config(&account).await;
    let s3 = s3(&member);
    let bucket = format!("faulty-{account}");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let ec2 = aws_sdk_ec2::Client::new(&member);
    let sg = ec2
        .create_security_group()
        .group_name("open")
        .description("open")
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

    let proxy = FaultProxy::start(&[
        // A quarter of the calls fail: an action that reads what it must
        // weigh before a write (S3: settings, tags, website, policy, ACL)
        // makes about seven calls a run, and gets through within the
        // attempts below.
        "--share",
        "0.25",
        "--faults",
        "throttle,500,503,slow,drop",
        "--slow-seconds",
        "0.3",
        "--seed",
        "11",
    ]);
    let server = Server::start_with(&site, &[("AWS_ENDPOINT_URL", &proxy.url)]);
    let findings = vec![
        finding(
            &account,
            "S3.8",
            "AwsS3Bucket",
            &format!("arn:aws:s3:::{bucket}"),
        ),
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
    let body = imported(&account, findings).to_string();
    let reply = server.submit(&site.token, &body);
    let mut total_attempts = 0;
    for event in reply["events"].as_array().unwrap() {
        let id = event["jobs"][0]["id"].as_str().unwrap();
        let job = server.wait_job(&site.token, id);
        assert_eq!(job["state"], "succeeded", "{job}");
        // A fault on the read-back after a successful write makes the retry
        // find the resource already fixed: either way it is fixed once.
        let kind = job["outcome"]["kind"].as_str().unwrap();
        assert!(kind == "changed" || kind == "already-compliant", "{job}");
        total_attempts += job["attempts"].as_u64().unwrap();
    }
    // Read back behind the proxy's back.
    let flags = s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        flags
            .public_access_block_configuration
            .unwrap()
            .block_public_acls,
        Some(true)
    );
    let iam = aws_sdk_iam::Client::new(&member);
    assert!(iam.get_account_password_policy().send().await.is_ok());
    let groups = ec2
        .describe_security_groups()
        .group_ids(&sg)
        .send()
        .await
        .unwrap();
    assert!(groups.security_groups.unwrap()[0]
        .ip_permissions()
        .is_empty());

    let stats = proxy.stats();
    let injected: u64 = stats["by_fault"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(injected > 0, "no fault was injected: {stats}");
    let (_, metrics) = http(&server.base, "GET", "/metrics", Some(&site.token), None);
    let retries = metric(&metrics, "rectify_job_retries_total");
    assert!(
        retries > 0 || stats["by_fault"].get("slow").is_some(),
        "{metrics}\n{stats}"
    );
    assert_eq!(retries, total_attempts - 3, "{metrics}");
    let settled = metric(&metrics, "rectify_job_outcomes_total{outcome=\"changed\"}")
        + metric(
            &metrics,
            "rectify_job_outcomes_total{outcome=\"already-compliant\"}",
        );
    assert_eq!(settled, 3, "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_fault_ends_dead_with_a_notification_and_a_note() {
    let account = new_account();
    let inbox = Inbox::new(&format!("dead-{account}")).await;
    let site = site(&account, &inbox.topic_arn, 12);
    let member = account_config(&account).await;
    let s3 = s3(&member);
    let bucket = format!("throttled-{account}");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();

    let proxy = FaultProxy::start(&["--permanent", "throttle", "--only-service", "s3"]);
    let server = Server::start_with(&site, &[("AWS_ENDPOINT_URL", &proxy.url)]);
    let f = finding(
        &account,
        "S3.8",
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{bucket}"),
    );
    let finding_id = f["Id"].as_str().unwrap().to_string();
    let body = imported(&account, vec![f]).to_string();
    let (status, reply) = http(
        &server.base,
        "POST",
        "/v1/events",
        Some(&site.token),
        Some(&body),
    );
    assert_eq!(status, 202);
    let reply: Value = serde_json::from_str(&reply).unwrap();
    let id = reply["events"][0]["jobs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let job = server.wait_job(&site.token, &id);
    assert_eq!(job["state"], "dead", "{job}");
    assert_eq!(job["attempts"], 12, "{job}");
    assert!(
        job["last_error"].as_str().unwrap().contains("Throttled"),
        "{job}"
    );

    let (_, dead) = http(
        &server.base,
        "GET",
        "/v1/jobs?state=dead",
        Some(&site.token),
        None,
    );
    let dead: Value = serde_json::from_str(&dead).unwrap();
    assert_eq!(dead["jobs"].as_array().unwrap().len(), 1);
    let messages = inbox.messages().await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["state"], "dead");
    assert_eq!(messages[0]["outcome"], "failed");
    let updates = securityhub_updates(&finding_id);
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["body"]["Workflow"]["Status"], "NOTIFIED");
    assert!(updates[0]["body"]["Note"]["Text"]
        .as_str()
        .unwrap()
        .contains("gave up after 12 attempts"));

    // Once the fault is gone, `rectify jobs retry` finishes the job.
    proxy.configure(json!({"permanent": null, "share": 0.0}));
    drop(server);
    let out = site
        .command()
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .args(["jobs", "retry", &id, "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let retried: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(retried["outcome"]["kind"], "changed", "{retried}");
    let flags = s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        flags
            .public_access_block_configuration
            .unwrap()
            .restrict_public_buckets,
        Some(true)
    );
}
