//! Bucket settings read from AWS Config's
//! configuration items (`ListDiscoveredResources`, `BatchGetResourceConfig`)
//! where a recorder of the account's own records buckets and is recording.
//! Against moto's Config with the stand-in that gives its bucket items in
//! AWS Config's format (tests/standins/moto_config_s3.py): every bucket
//! action and check gives the verdict, state and tags it gives from S3's
//! own answers, with one S3 call per bucket (its tags, which AWS Config's
//! batch read leaves out), none in a report-only scan (the tags from the
//! Tagging API); without a recording recorder the buckets are read from
//! S3, and the scan says why when Config was asked for by name
//! (`--from-config`), not otherwise (the default of a report-only scan).
//! `--live` reads every bucket from S3 whatever Config records.

use std::collections::BTreeMap;

use aws_sdk_s3::types::{
    BucketCannedAcl, BucketLoggingStatus, LoggingEnabled, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule,
};
use rectify_model::{ScanReads, SettingsFrom, Target};
use serde_json::{json, Value};

use crate::support::{
    harness, harness_recording, serve_website, start_config_recorder, unique, Account, REGION,
};

const TEST: &str = "scan_from_config::bucket_settings_from_aws_config_give_the_same_verdicts";
const CHILD: &str = "RECTIFY_TEST_SCAN_FROM_CONFIG_CHILD";

const BUCKET_ACTIONS: [&str; 5] = [
    "aws.s3.block-public-access",
    "aws.s3.require-tls",
    "aws.s3.enable-default-encryption",
    "aws.s3.enable-access-logging",
    "aws.s3.restrict-cross-account-actions",
];

/// Buckets in every state the bucket actions judge.
async fn seed(account: &Account) -> Vec<String> {
    let s3 = account.s3();
    let mut names = Vec::new();
    for _ in 0..3 {
        let name = unique("plain");
        s3.create_bucket().bucket(&name).send().await.unwrap();
        names.push(name);
    }
    let logs = unique("logs");
    s3.create_bucket().bucket(&logs).send().await.unwrap();
    let log_delivery = "uri=http://acs.amazonaws.com/groups/s3/LogDelivery";
    s3.put_bucket_acl()
        .bucket(&logs)
        .grant_write(log_delivery)
        .grant_read_acp(log_delivery)
        .send()
        .await
        .unwrap();
    names.push(logs.clone());

    // Every setting on.
    let kept = unique("kept");
    s3.create_bucket().bucket(&kept).send().await.unwrap();
    s3.put_public_access_block()
        .bucket(&kept)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.put_bucket_encryption()
        .bucket(&kept)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::AwsKms)
                                .kms_master_key_id("alias/aws/s3")
                                .build()
                                .unwrap(),
                        )
                        .bucket_key_enabled(true)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    s3.put_bucket_logging()
        .bucket(&kept)
        .bucket_logging_status(
            BucketLoggingStatus::builder()
                .logging_enabled(
                    LoggingEnabled::builder()
                        .target_bucket(&logs)
                        .target_prefix("kept/")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let tls = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [format!("arn:aws:s3:::{kept}"), format!("arn:aws:s3:::{kept}/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]});
    s3.put_bucket_policy()
        .bucket(&kept)
        .policy(tls.to_string())
        .send()
        .await
        .unwrap();
    crate::support::tag_bucket(&s3, &kept, "owner", "payments").await;
    names.push(kept);

    // Public on purpose: a website read by everyone.
    let site = unique("site");
    s3.create_bucket()
        .bucket(&site)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    serve_website(&s3, &site).await;
    names.push(site);
    names
}

/// Every bucket verdict of one scan: the actions' (compliant, state,
/// tags) and the bucket checks' (pass, evidence, state), by id and bucket.
async fn scan(
    account: &Account,
    aws: &std::sync::Arc<rectify_aws::Aws>,
    reads: &ScanReads,
) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    let actions = rectify_aws::catalog(aws.clone());
    for id in BUCKET_ACTIONS {
        let action = actions.iter().find(|a| a.spec().id == id).unwrap();
        let targets: Vec<Target> = action
            .discover_in_scan(&account.id, REGION, reads)
            .await
            .unwrap();
        for target in &targets {
            let o = action
                .check_in_scan(target, &json!({}), reads)
                .await
                .unwrap();
            out.insert(
                (id.to_string(), target.resource_id.clone()),
                json!({"compliant": o.compliant, "state": o.state, "tags": o.tags}),
            );
        }
    }
    for check in rectify_aws::checks::catalog(aws) {
        if check.spec().resource_type != "AwsS3Bucket" {
            continue;
        }
        for v in check.run(&account.id, REGION, reads).await.unwrap() {
            out.insert(
                (check.spec().id.to_string(), v.resource_id.clone()),
                json!({"pass": v.pass, "evidence": v.evidence, "state": v.state, "tags": v.tags}),
            );
        }
    }
    out
}

#[tokio::test]
async fn bucket_settings_from_aws_config_give_the_same_verdicts() {
    let h = if std::env::var_os(CHILD).is_some() {
        harness_recording()
    } else {
        harness()
    };
    if h.recorder.is_none() {
        return crate::call_budget::run_in_child(h, TEST, CHILD);
    }
    let account = Account::new().await;
    let buckets = seed(&account).await;
    let aws = account.aws().await;
    let key = crate::call_budget::signing_key(&aws, &account.id).await;
    let recorder = h.recorder.as_ref().unwrap();
    let calls_since = |start: usize| crate::call_budget::calls_signed_with(recorder, &key, start);
    let s3_per_bucket = |calls: &[String]| {
        calls
            .iter()
            .filter(|c| c.starts_with("s3 ") && c.contains('?') && !c.starts_with("s3 GET /?"))
            .count()
    };

    // No recorder yet: every setting read from S3, and the scan says why.
    let start = recorder.requests().len();
    let from_s3 = ScanReads::new(8);
    let truth = scan(&account, &aws, &from_s3).await;
    assert!(s3_per_bucket(&calls_since(start)) >= buckets.len() * 6);
    let unrecorded = ScanReads::new(8).with_recorded_settings(SettingsFrom::Config);
    let start = recorder.requests().len();
    assert_eq!(scan(&account, &aws, &unrecorded).await, truth);
    assert!(s3_per_bucket(&calls_since(start)) >= buckets.len() * 6);
    assert_eq!(unrecorded.recorded_resources(), 0);
    let notes = unrecorded.notes();
    assert!(
        notes.len() == 1 && notes[0].contains("no configuration recorder of the account's own"),
        "{notes:?}"
    );
    // The default of a report-only scan: the same, without a word.
    let quiet = ScanReads::new(8).with_recorded_settings(SettingsFrom::ConfigWhereRecorded);
    let start = recorder.requests().len();
    assert_eq!(scan(&account, &aws, &quiet).await, truth);
    assert!(s3_per_bucket(&calls_since(start)) >= buckets.len() * 6);
    assert_eq!(quiet.recorded_resources(), 0);
    assert!(quiet.notes().is_empty(), "{:?}", quiet.notes());

    // Recording: the same verdicts, state and tags, from the items alone.
    start_config_recorder(&account.config_service(), &account.id, &buckets[3]).await;
    let from_config = ScanReads::new(8).with_recorded_settings(SettingsFrom::Config);
    let start = recorder.requests().len();
    let recorded = scan(&account, &aws, &from_config).await;
    let calls = calls_since(start);
    for (k, v) in &truth {
        assert_eq!(recorded.get(k), Some(v), "{k:?}");
    }
    assert_eq!(recorded.len(), truth.len());
    // Only the tags (the exemption tag is the bucket's own).
    assert_eq!(s3_per_bucket(&calls), buckets.len(), "{calls:#?}");
    assert!(
        calls
            .iter()
            .filter(|c| c.starts_with("s3 ") && c.contains('?') && !c.starts_with("s3 GET /?"))
            .all(|c| c.contains("tagging")),
        "{calls:#?}"
    );
    let count = |name: &str| calls.iter().filter(|c| c.ends_with(name)).count();
    assert_eq!(count("ListDiscoveredResources"), 1, "{calls:#?}");
    assert_eq!(count("BatchGetResourceConfig"), 1, "{calls:#?}");
    assert_eq!(count("DescribeConfigurationRecorders"), 1, "{calls:#?}");
    assert_eq!(from_config.recorded_resources(), buckets.len() as u64);
    assert!(from_config.notes().is_empty(), "{:?}", from_config.notes());
    // The default takes them from the items too, now that Config records;
    // told to read the buckets (`--live`), it reads every one.
    let default = ScanReads::new(8).with_recorded_settings(SettingsFrom::ConfigWhereRecorded);
    let start = recorder.requests().len();
    assert_eq!(scan(&account, &aws, &default).await, recorded);
    assert_eq!(s3_per_bucket(&calls_since(start)), buckets.len());
    assert_eq!(default.recorded_resources(), buckets.len() as u64);
    let live = ScanReads::new(8).with_recorded_settings(SettingsFrom::Resources);
    let start = recorder.requests().len();
    assert_eq!(scan(&account, &aws, &live).await, truth);
    assert!(s3_per_bucket(&calls_since(start)) >= buckets.len() * 6);
    assert_eq!(live.recorded_resources(), 0);

    // As `rectify scan --from-config` reads (a report only): the tags too
    // come in one call, from the Tagging API; no S3 call per bucket.
    let report_only = ScanReads::new(8)
        .with_recorded_settings(SettingsFrom::Config)
        .with_verdicts_only(true);
    let start = recorder.requests().len();
    let reported = scan(&account, &aws, &report_only).await;
    let calls = calls_since(start);
    assert_eq!(s3_per_bucket(&calls), 0, "{calls:#?}");
    assert_eq!(
        calls.iter().filter(|c| c.ends_with("GetResources")).count(),
        1,
        "{calls:#?}"
    );
    assert_eq!(reported.len(), truth.len());
    for (k, v) in &truth {
        let got = &reported[k];
        assert_eq!(got.get("compliant"), v.get("compliant"), "{k:?}");
        assert_eq!(got.get("pass"), v.get("pass"), "{k:?}");
        assert_eq!(got["tags"], v["tags"], "{k:?}");
    }

    // What the verdicts say, to be sure they judged something.
    let bpa = |b: &str| {
        truth[&(
            "aws.s3.block-public-access".into(),
            format!("arn:aws:s3:::{b}"),
        )]
            .clone()
    };
    assert_eq!(bpa(&buckets[4])["compliant"], true);
    assert_eq!(bpa(&buckets[4])["tags"]["owner"], "payments");
    let site = bpa(&buckets[5]);
    assert_eq!(site["compliant"], false);
    assert_eq!(site["state"]["website"], true, "{site}");
    assert!(
        site["state"]["public_read"]
            .to_string()
            .contains("AllUsers"),
        "{site}"
    );
    let encryption = |b: &str| {
        truth[&(
            "aws.s3.enable-default-encryption".into(),
            format!("arn:aws:s3:::{b}"),
        )]["compliant"]
            .clone()
    };
    assert_eq!(encryption(&buckets[4]), true);
    let logging = |b: &str| {
        truth[&(
            "aws.s3.enable-access-logging".into(),
            format!("arn:aws:s3:::{b}"),
        )]["compliant"]
            .clone()
    };
    assert_eq!(logging(&buckets[4]), true);
    assert_eq!(logging(&buckets[0]), false);
}
