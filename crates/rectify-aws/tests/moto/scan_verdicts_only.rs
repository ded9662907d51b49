//! A report-only scan (`rectify scan` without `--feed` or `--dry-run`)
//! reads what decides each verdict and nothing an action reads only to
//! weigh a change: no `GetBucketWebsite` nor `GetBucketAcl` for a bucket
//! whose Block Public Access or TLS denial is missing. The verdicts are
//! those of a scan that reads everything; the state says what was not
//! read, and a plan made from it is refused (a job checks again first).
//! The tags, which there only decide whether a failed verdict is exempt,
//! come from the Resource Groups Tagging API, 100 buckets a call.

use std::collections::BTreeMap;

use aws_sdk_s3::types::BucketCannedAcl;
use rectify_model::{Observed, ScanReads, Target};
use serde_json::json;

use crate::support::{harness, harness_recording, serve_website, unique, Account, REGION};

const TEST: &str = "scan_verdicts_only::a_report_only_scan_skips_the_reads_that_weigh_a_change";
const CHILD: &str = "RECTIFY_TEST_SCAN_VERDICTS_ONLY_CHILD";

const INTENT_ACTIONS: [&str; 2] = ["aws.s3.block-public-access", "aws.s3.require-tls"];

/// Each action's observation of every bucket of the account.
async fn scan(
    account: &Account,
    aws: &std::sync::Arc<rectify_aws::Aws>,
    reads: &ScanReads,
) -> BTreeMap<(String, String), (Target, Observed)> {
    let actions = rectify_aws::catalog(aws.clone());
    let mut out = BTreeMap::new();
    for id in INTENT_ACTIONS {
        let action = actions.iter().find(|a| a.spec().id == id).unwrap();
        for target in action
            .discover_in_scan(&account.id, REGION, reads)
            .await
            .unwrap()
        {
            let observed = action
                .check_in_scan(&target, &json!({}), reads)
                .await
                .unwrap();
            out.insert(
                (id.to_string(), target.resource_id.clone()),
                (target, observed),
            );
        }
    }
    out
}

#[tokio::test]
async fn a_report_only_scan_skips_the_reads_that_weigh_a_change() {
    let h = if std::env::var_os(CHILD).is_some() {
        harness_recording()
    } else {
        harness()
    };
    if h.recorder.is_none() {
        return crate::call_budget::run_in_child(h, TEST, CHILD);
    }
    let account = Account::new().await;
    let s3 = account.s3();
    // A website everyone reads, and a plain private bucket: neither has
    // Block Public Access nor a TLS denial.
    let site = unique("site");
    s3.create_bucket()
        .bucket(&site)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    serve_website(&s3, &site).await;
    let plain = unique("plain");
    s3.create_bucket().bucket(&plain).send().await.unwrap();
    // Exempt, and so reported: its tag comes from the Tagging API.
    let exempt = unique("exempt");
    s3.create_bucket().bucket(&exempt).send().await.unwrap();
    crate::support::tag_bucket(&s3, &exempt, "rectify:exempt", "public download bucket").await;

    let aws = account.aws().await;
    let key = crate::call_budget::signing_key(&aws, &account.id).await;
    let recorder = h.recorder.as_ref().unwrap();
    let calls_since = |start: usize| crate::call_budget::calls_signed_with(recorder, &key, start);
    let weighing = |calls: &[String]| {
        calls
            .iter()
            .filter(|c| c.starts_with("s3 GET /") && (c.contains("?website") || c.contains("?acl")))
            .count()
    };

    // A scan that may plan: the website and the grants are read.
    let start = recorder.requests().len();
    let full = scan(&account, &aws, &ScanReads::new(8)).await;
    assert!(
        weighing(&calls_since(start)) >= 4,
        "{:#?}",
        calls_since(start)
    );

    let start = recorder.requests().len();
    let report = scan(&account, &aws, &ScanReads::new(8).with_verdicts_only(true)).await;
    let calls = calls_since(start);
    assert_eq!(weighing(&calls), 0, "{calls:#?}");
    // Block Public Access and the policy of each bucket; the tags of all
    // of them in one call.
    let buckets = report.len() / INTENT_ACTIONS.len();
    let bucket_reads = calls
        .iter()
        .filter(|c| c.starts_with("s3 ") && c.contains('?') && !c.starts_with("s3 GET /?"))
        .count();
    assert_eq!(bucket_reads, buckets * 2, "{calls:#?}");
    let tag_reads = calls.iter().filter(|c| c.contains("GetResources")).count();
    assert_eq!(tag_reads, 1, "{calls:#?}");
    assert!(!calls.iter().any(|c| c.contains("?tagging")), "{calls:#?}");

    // The same verdicts for every bucket the account holds.
    assert_eq!(full.len(), report.len());
    for (key, (_, observed)) in &full {
        assert_eq!(report[key].1.compliant, observed.compliant, "{key:?}");
        assert_eq!(report[key].1.tags, observed.tags, "{key:?}");
    }

    let actions = rectify_aws::catalog(aws.clone());
    for id in INTENT_ACTIONS {
        let action = actions.iter().find(|a| a.spec().id == id).unwrap();
        let k = (id.to_string(), format!("arn:aws:s3:::{site}"));
        let (target, observed) = &full[&k];
        assert!(!observed.compliant);
        let reasons = action.intent(target, &json!({}), observed);
        assert!(
            reasons.iter().any(|r| r.contains("static website")),
            "{id}: {reasons:?}"
        );
        assert!(action.plan(target, &json!({}), observed).is_ok(), "{id}");

        // The report's state says what it did not read; a plan from it
        // is refused, and were one made, it would wait for approval.
        let (target, observed) = &report[&k];
        assert!(!observed.compliant);
        let flag = if id == "aws.s3.block-public-access" {
            "intent_not_read"
        } else {
            "website_not_read"
        };
        assert_eq!(observed.state[flag], true, "{id}: {}", observed.state);
        let refused = action.plan(target, &json!({}), observed).unwrap_err();
        assert!(
            refused.message.contains("report-only scan"),
            "{}",
            refused.message
        );
        let reasons = action.intent(target, &json!({}), observed);
        assert!(
            reasons.iter().any(|r| r.contains("was not read")),
            "{id}: {reasons:?}"
        );
    }
    // The plain bucket: out of compliance in both, nothing weighed in the
    // report.
    let k = (
        "aws.s3.block-public-access".to_string(),
        format!("arn:aws:s3:::{plain}"),
    );
    assert!(!report[&k].1.compliant);
    assert_eq!(report[&k].1.state["public_read"], json!([]));
    assert!(report[&k].1.tags.is_empty());
    let k = (
        "aws.s3.require-tls".to_string(),
        format!("arn:aws:s3:::{exempt}"),
    );
    assert_eq!(
        report[&k].1.tags["rectify:exempt"], "public download bucket",
        "{:?}",
        report[&k].1.tags
    );

    // The Tagging API unreachable (as when its permission is not
    // granted): each bucket's tags come from S3, and a note says why.
    // This test runs alone in its own process (`run_in_child`).
    std::env::set_var(
        "AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API",
        "http://127.0.0.1:9",
    );
    let aws = account.aws().await;
    let key = crate::call_budget::signing_key(&aws, &account.id).await;
    let reads = ScanReads::new(8).with_verdicts_only(true);
    let start = recorder.requests().len();
    let fallback = scan(&account, &aws, &reads).await;
    std::env::remove_var("AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API");
    let calls = crate::call_budget::calls_signed_with(recorder, &key, start);
    let tag_reads = calls.iter().filter(|c| c.contains("?tagging")).count();
    assert_eq!(tag_reads, buckets, "{calls:#?}");
    for (key, (_, observed)) in &report {
        assert_eq!(fallback[key].1.tags, observed.tags, "{key:?}");
        assert_eq!(fallback[key].1.compliant, observed.compliant, "{key:?}");
    }
    let notes = reads.notes();
    assert!(
        notes.iter().any(|n| n.contains(
            "bucket tags read from S3: the Resource Groups Tagging API could not be read"
        )),
        "{notes:?}"
    );
}
