//! Harm scenarios: S3 buckets that are public on purpose (a static
//! website, a CloudFront origin, a public download bucket) keep serving
//! until a person approves; a private bucket that only lacks Block Public
//! Access (S3.8) is fixed on its own, and the fix can be undone.

use serde_json::{json, Value};

use crate::common::*;
use crate::fixtures::serve_website;
use crate::support::*;

/// A bucket policy with one statement.
async fn put_policy(s3: &aws_sdk_s3::Client, bucket: &str, statement: Value) {
    s3.put_bucket_policy()
        .bucket(bucket)
        .policy(json!({"Version": "2012-10-17", "Statement": [statement]}).to_string())
        .send()
        .await
        .unwrap();
}

fn public_read(bucket: &str) -> Value {
    json!({"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")})
}

/// One Security Hub finding of `control` on the bucket, run through the
/// pack in auto: the job and the finding's id.
fn run_finding(site: &Site, account: &str, control: &str, bucket: &str) -> (Value, String) {
    let f = finding(
        account,
        control,
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{bucket}"),
    );
    let id = f["Id"].as_str().unwrap().to_string();
    let event = site.write_event(&format!("{control}.json"), &imported(account, vec![f]));
    let jobs = site.process(&event, &[]);
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    (jobs[0].clone(), id)
}

/// The job waits for a person, says why in words they can act on, and the
/// bucket and its finding are untouched.
async fn waits_with(
    job: &Value,
    finding_id: &str,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    why: &str,
) {
    assert_eq!(job["state"], "waiting-approval", "{job}");
    let reason = reason(job);
    assert!(reason.contains(why), "{reason}");
    assert!(reason.contains("approve"), "{reason}");
    assert!(
        job["outcome"]["intent"]
            .as_array()
            .is_some_and(|i| !i.is_empty()),
        "{job}"
    );
    assert_eq!(
        bpa(s3, bucket).await,
        [false; 4],
        "bucket {bucket} was blocked"
    );
    never_resolved(finding_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_static_website_keeps_serving() {
    let (account, _inbox, site) = auto_site("harm-site").await;
    let (bucket, s3) = public_bucket(&account, &[]).await;
    serve_website(&s3, &bucket).await;
    put_policy(&s3, &bucket, public_read(&bucket)).await;

    let (job, finding_id) = run_finding(&site, &account, "S3.2", &bucket);
    waits_with(&job, &finding_id, &s3, &bucket, "hosts a static website").await;
    // The near-real-time rule on the policy it was given waits the same way.
    let call = api_call(
        &account,
        "aws.s3",
        "PutBucketPolicy",
        json!({"bucketName": bucket, "policy": "{}"}),
        &format!("arn:aws:sts::{account}:assumed-role/web-deploy/ci"),
    );
    let jobs = site.process(&site.write_event("call.json", &call), &[]);
    assert_eq!(jobs[0]["state"], "waiting-approval", "{}", jobs[0]);
    // ... and so does GuardDuty's finding on the anonymous access.
    let guardduty = json!({
        "version": "0", "id": format!("gd-{}", rand_suffix()), "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty", "account": account, "time": "2026-12-05T10:00:00Z",
        "region": REGION, "resources": [],
        "detail": {"schemaVersion": "2.0", "accountId": account, "region": REGION,
            "partition": "aws", "type": "Policy:S3/BucketAnonymousAccessGranted",
            "resource": {"resourceType": "S3Bucket", "s3BucketDetails": [{"name": bucket}]}}
    });
    let jobs = site.process(&site.write_event("guardduty.json", &guardduty), &[]);
    assert_eq!(jobs[0]["state"], "waiting-approval", "{}", jobs[0]);
    assert!(s3.get_bucket_website().bucket(&bucket).send().await.is_ok());
    assert_eq!(bpa(&s3, &bucket).await, [false; 4]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cloudfront_origin_waits_for_a_person() {
    let (account, _inbox, site) = auto_site("harm-origin").await;
    let (bucket, s3) = public_bucket(&account, &[]).await;
    let distribution = format!("arn:aws:cloudfront::{account}:distribution/E2QWRUHEXAMPLE");
    put_policy(
        &s3,
        &bucket,
        json!({"Sid": "AllowCloudFrontServicePrincipal", "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*"),
            "Condition": {"StringEquals": {"AWS:SourceArn": distribution}}}),
    )
    .await;
    let (job, finding_id) = run_finding(&site, &account, "S3.8", &bucket);
    waits_with(&job, &finding_id, &s3, &bucket, "is a CloudFront origin").await;
    assert!(reason(&job).contains(&distribution), "{}", reason(&job));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_download_bucket_keeps_its_readers() {
    let (account, _inbox, site) = auto_site("harm-downloads").await;
    let (bucket, s3) = public_bucket(&account, &[]).await;
    put_policy(&s3, &bucket, public_read(&bucket)).await;
    let (job, finding_id) = run_finding(&site, &account, "S3.2", &bucket);
    waits_with(
        &job,
        &finding_id,
        &s3,
        &bucket,
        "\"PublicRead\" grants s3:GetObject to everyone",
    )
    .await;
    // The policy is still there, as it was.
    let policy = s3.get_bucket_policy().bucket(&bucket).send().await.unwrap();
    assert!(policy.policy().unwrap().contains("PublicRead"));
}

/// S3.8 on a private bucket that only lacks the settings: fixed without
/// asking, RESOLVED; `rectify jobs revert ID --approve` then deletes the
/// configuration again (the bucket had none), read back.
#[tokio::test(flavor = "multi_thread")]
async fn a_private_bucket_is_fixed_on_its_own_and_undone() {
    let (account, _inbox, site) = auto_site("harm-private").await;
    let (bucket, s3) = public_bucket(&account, &[]).await;
    let (job, finding_id) = run_finding(&site, &account, "S3.8", &bucket);
    assert_eq!(outcome(&job), "changed", "{job}");
    assert_eq!(bpa(&s3, &bucket).await, [true; 4]);
    assert!(securityhub_updates(&finding_id)
        .iter()
        .any(|u| u["body"]["Workflow"]["Status"] == "RESOLVED"));

    let id = job["id"].as_str().unwrap();
    let out = site.rectify(&["jobs", "revert", id, "--approve", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let undo: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome(&undo), "changed", "{undo}");
    assert!(
        reason(&undo).contains("delete the Block Public Access configuration"),
        "{undo}"
    );
    let read = s3.get_public_access_block().bucket(&bucket).send().await;
    assert_eq!(
        read.unwrap_err().into_service_error().meta().code(),
        Some("NoSuchPublicAccessBlockConfiguration")
    );
    // A second undo finds the bucket changed since and refuses plainly.
    let out = site.rectify(&["jobs", "revert", id, "--approve", "--output", "json"]);
    let refused: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(refused["state"], "failed", "{refused}");
    assert!(reason(&refused).contains("has changed since"), "{refused}");
    assert_audit_intact(&site);
}
