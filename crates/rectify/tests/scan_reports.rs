//! `rectify scan` as a posture report against the emulator: the verdicts
//! on seeded resources, the summary and compliance report, and every
//! output format checked against its published description (ASFF against
//! botocore's Security Hub model, OCSF against the OCSF 1.3.0 schema, by
//! tests/formats/check_scan_output.py), the HTML self-contained and
//! escaped, CSV one row per verdict.

mod support;

use std::collections::HashSet;
use std::process::Command;

use aws_sdk_ec2::types::{IpPermission, IpRange};
use serde_json::Value;
use support::*;

/// A group with SSH open to the world, its rule described with text that
/// HTML must escape.
async fn described_open_group(account: &str) -> String {
    let config = account_config(account).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let sg = ec2
        .create_security_group()
        .group_name(format!("scan-{}", rand_suffix()))
        .description("scan report test")
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    ec2.authorize_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(
                    IpRange::builder()
                        .cidr_ip("0.0.0.0/0")
                        .description("ops & {vendor}")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    sg
}

fn check_format(kind: &str, path: &std::path::Path) {
    let root = repo_root();
    let out = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/formats/check_scan_output.py"))
        .arg(kind)
        .arg(path)
        .output()
        .expect("run tests/formats/check_scan_output.py (./scripts/venv makes .venv)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{kind} output is not valid:\n{text}");
    assert!(text.contains("0 problem(s)"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn scan_reports_verdicts_in_every_format() {
    let account = new_account();
    let site = Site::new(
        &account,
        "dry-run",
        &format!("arn:aws:sns:{REGION}:{HOME_ACCOUNT}:unused"),
        &rules(""),
    );
    let (open_bucket, s3) = public_bucket(&account, &[]).await;
    let (closed_bucket, _) = public_bucket(&account, &[]).await;
    block_all(&s3, &closed_bucket).await;
    let sg = described_open_group(&account).await;
    let group = format!("arn:aws:ec2:{REGION}:{account}:security-group/{sg}");

    // JSON: verdicts per seeded resource, each resource counted once.
    let out = site.rectify(&["scan", "--output", "json", "--compliance", "cis-3.0"]);
    assert_eq!(out.status.code(), Some(1), "resources fail: exit 1");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report.get("jobs").is_none(),
        "without --feed nothing is fed"
    );
    let results = report["scan"]["results"].as_array().unwrap();
    let verdict = |check: &str, resource: &str| -> bool {
        let found: Vec<&Value> = results
            .iter()
            .filter(|r| r["check"] == check && r["resource_id"] == resource)
            .collect();
        assert_eq!(found.len(), 1, "{check} {resource}: {results:#?}");
        found[0]["pass"].as_bool().unwrap()
    };
    assert!(!verdict(
        "aws.s3.block-public-access",
        &format!("arn:aws:s3:::{open_bucket}")
    ));
    assert!(verdict(
        "aws.s3.block-public-access",
        &format!("arn:aws:s3:::{closed_bucket}")
    ));
    assert!(!verdict("aws.ec2.revoke-public-admin-ingress", &group));
    // A posture check no rule's action answers (moto has no root MFA).
    assert!(!verdict(
        "iam.root-mfa",
        &format!("AWS::::Account:{account}")
    ));
    // The password policy is the enabled action's to judge (IAM.15).
    assert!(results.iter().all(|r| r["check"] != "iam.password-length"));
    // The admin-port checks are the action's: not judged twice.
    assert!(results.iter().all(|r| r["check"] != "ec2.admin-ports-ipv4"));
    // A resource two checks judge (a default group: the admin-port action
    // and the default-group check) is one resource.
    let distinct: HashSet<&str> = results
        .iter()
        .map(|r| r["resource_id"].as_str().unwrap())
        .collect();
    assert!(report["scan"]["verdicts"].as_u64().unwrap() > distinct.len() as u64);
    assert_eq!(
        report["scan"]["checked"].as_u64().unwrap(),
        distinct.len() as u64
    );
    // The summary and the CIS report.
    let summary = &report["summary"][0];
    assert_eq!(summary["account"], account.as_str());
    assert!(summary["all"]["failed"].as_u64().unwrap() >= 3);
    let controls = report["compliance"]["controls"].as_array().unwrap();
    let cis = |id: &str| controls.iter().find(|c| c["control"] == id).cloned();
    let c52 = cis("5.2").expect("CIS 5.2 judged");
    assert!(c52["failed"].as_u64().unwrap() >= 1, "{c52}");
    let c214 = cis("2.1.4").expect("CIS 2.1.4 judged");
    assert_eq!(c214["failed"], 1, "{c214}");
    assert!(c214["passed"].as_u64().unwrap() >= 1, "{c214}");

    // Text: the failures, the summary table and the compliance report.
    let out = site.rectify(&["scan", "--compliance", "pci-dss-4.0"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL   HIGH          aws.s3.block-public-access"),
        "{text}"
    );
    assert!(text.contains(&format!("account {account}:")), "{text}");
    assert!(text.contains("cis-3.0") && text.contains("fsbp"), "{text}");
    assert!(text.contains("PCI DSS v4.0.1:"), "{text}");

    // ASFF and OCSF, checked against their schemas.
    for kind in ["asff", "ocsf"] {
        let out = site.rectify(&["scan", "--output", kind]);
        let path = site.path(&format!("scan.{kind}.json"));
        std::fs::write(&path, &out.stdout).unwrap();
        check_format(kind, &path);
    }
    let out = site.rectify(&["scan", "--output", "asff"]);
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let bucket_finding = |bucket: &str| {
        findings
            .iter()
            .find(|f| {
                f["GeneratorId"] == "rectify/aws.s3.block-public-access"
                    && f["Resources"][0]["Id"] == format!("arn:aws:s3:::{bucket}")
            })
            .unwrap()
            .clone()
    };
    let failed = bucket_finding(&open_bucket);
    assert_eq!(failed["Compliance"]["Status"], "FAILED");
    assert_eq!(failed["RecordState"], "ACTIVE");
    assert_eq!(
        failed["ProductArn"],
        format!("arn:aws:securityhub:{REGION}:{account}:product/{account}/default")
    );
    let passed = bucket_finding(&closed_bucket);
    assert_eq!(passed["Compliance"]["Status"], "PASSED");
    assert_eq!(passed["RecordState"], "ARCHIVED");

    // CSV: a header and one row per verdict.
    let out = site.rectify(&["scan", "--output", "csv"]);
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(csv.starts_with("account,region,check,control,cis_3_0,fsbp,pci_dss_4_0,"));
    assert_eq!(csv.lines().count(), results.len() + 1);

    // HTML: one file, nothing fetched from anywhere, the account's text
    // escaped.
    let out = site.rectify(&["scan", "--output", "html"]);
    let html = String::from_utf8_lossy(&out.stdout);
    assert!(html.starts_with("<!DOCTYPE html>"));
    for outside in [
        "<script", "src=", "href=", "http://", "https://", "@import", "url(",
    ] {
        assert!(!html.contains(outside), "{outside} in the report");
    }
    assert!(
        html.contains("ops &amp; {vendor}"),
        "the rule's description, escaped"
    );
    assert!(!html.contains("ops & {vendor}"));
    assert!(html.contains("CIS AWS Foundations Benchmark v3.0.0"));
    assert!(html.contains(&sg));
}

/// `--send-to-security-hub`: a failed bucket is imported ACTIVE and
/// FAILED; fixed and scanned again, the same finding is PASSED and
/// ARCHIVED, with its FirstObservedAt kept; a bucket that never failed is
/// not sent.
#[tokio::test(flavor = "multi_thread")]
async fn scan_sends_verdicts_to_security_hub_and_archives_what_passes_again() {
    let account = new_account();
    let site = Site::new(
        &account,
        "dry-run",
        &format!("arn:aws:sns:{REGION}:{HOME_ACCOUNT}:unused"),
        &rules(""),
    );
    let (bucket, s3) = public_bucket(&account, &[]).await;
    let (good, _) = public_bucket(&account, &[]).await;
    block_all(&s3, &good).await;
    let id =
        |b: &str| format!("rectify/{account}/{REGION}/aws.s3.block-public-access/arn:aws:s3:::{b}");

    let out = site.rectify(&["scan", "--send-to-security-hub"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("imported into Security Hub"), "{err}");
    let first = securityhub_find(&id(&bucket)).expect("the failure is imported");
    assert_eq!(first["Compliance"]["Status"], "FAILED");
    assert_eq!(first["RecordState"], "ACTIVE");
    assert_eq!(
        first["ProductArn"],
        format!("arn:aws:securityhub:{REGION}:{account}:product/{account}/default")
    );
    assert!(
        securityhub_find(&id(&good)).is_none(),
        "a pass never failed: not sent"
    );
    let observed = first["FirstObservedAt"].as_str().unwrap().to_string();

    block_all(&s3, &bucket).await;
    let out = site.rectify(&["scan", "--send-to-security-hub"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("imported into Security Hub"));
    let again = securityhub_find(&id(&bucket)).unwrap();
    assert_eq!(again["Compliance"]["Status"], "PASSED", "{again}");
    assert_eq!(again["RecordState"], "ARCHIVED");
    assert_eq!(
        again["FirstObservedAt"],
        observed.as_str(),
        "kept across scans"
    );
    assert_ne!(again["UpdatedAt"], first["UpdatedAt"]);
}

/// The HTML report as a person who was sent it sees it: opened from disk
/// in headless Chromium (tests/browser/scan_report.mjs), one row per
/// verdict, the failures first, CIS pass rates as the JSON report computes
/// them, a hostile rule description shown as text, no script run and
/// nothing fetched.
#[tokio::test(flavor = "multi_thread")]
async fn html_report_opens_in_chromium_as_text_only() {
    let account = new_account();
    let site = Site::new(
        &account,
        "dry-run",
        &format!("arn:aws:sns:{REGION}:{HOME_ACCOUNT}:unused"),
        &rules(""),
    );
    let (open_bucket, s3) = public_bucket(&account, &[]).await;
    let (closed_bucket, _) = public_bucket(&account, &[]).await;
    block_all(&s3, &closed_bucket).await;
    let hostile =
        "<img src=x onerror=window.__pwned=true><script>window.__pwned=true;document.title='pwned'</script>";
    let config = account_config(&account).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let sg = ec2
        .create_security_group()
        .group_name(format!("html-{}", rand_suffix()))
        .description("html report test")
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    ec2.authorize_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(3389)
                .to_port(3389)
                .ip_ranges(
                    IpRange::builder()
                        .cidr_ip("0.0.0.0/0")
                        .description(hostile)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let out = site.rectify(&["scan", "--output", "json", "--compliance", "cis-3.0"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = report["scan"]["results"].as_array().unwrap();
    let failed = results
        .iter()
        .filter(|r| r["pass"] == false && r["exempt"] == false)
        .count();
    assert!(failed >= 2, "the open bucket and group fail");
    let rates: serde_json::Map<String, Value> = report["compliance"]["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let rate = match c["pass_rate"].as_f64() {
                Some(r) => format!("{r:.0}%"),
                None => "-".into(),
            };
            (
                c["control"].as_str().unwrap().to_string(),
                Value::from(rate),
            )
        })
        .collect();
    assert_eq!(rates["2.1.4"], "50%", "one bucket of two passes");
    let title = report["compliance"]["title"].as_str().unwrap().to_string();

    let out = site.rectify(&["scan", "--output", "html"]);
    let file = site.path("posture.html");
    std::fs::write(&file, &out.stdout).unwrap();

    let browser_dir = repo_root().join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "the browser driver is not installed: run scripts/browser-deps (make test does)"
    );
    let setup = serde_json::json!({
        "file": file,
        "shot": site.path("posture.png"),
        "verdicts": results.len(),
        "failed": failed,
        "account": account,
        "hostile": hostile,
        "compliance": {title: rates},
        "resources": [
            format!("arn:aws:s3:::{open_bucket}"),
            format!("arn:aws:s3:::{closed_bucket}"),
            format!("arn:aws:ec2:{REGION}:{account}:security-group/{sg}"),
        ],
    });
    let out = Command::new("node")
        .current_dir(&browser_dir)
        .arg("scan_report.mjs")
        .arg(setup.to_string())
        .output()
        .expect("run node (scripts/browser-deps installs what the test needs)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("scan report test: ok"), "{text}");
    assert!(site.path("posture.png").exists());
}

/// `rectify scan --from-config`: without a recording recorder the buckets
/// are read from S3 and a note says why; with one, the same verdicts,
/// and the summary says how many buckets were judged from AWS Config.
/// A plain `rectify scan` does the same without the note; `--live` reads
/// S3 whatever Config records.
#[tokio::test(flavor = "multi_thread")]
async fn scan_from_config_reads_bucket_settings_from_aws_config() {
    let account = new_account();
    let site = Site::new(
        &account,
        "dry-run",
        &format!("arn:aws:sns:{REGION}:{HOME_ACCOUNT}:unused"),
        &rules(""),
    );
    let (open_bucket, s3) = public_bucket(&account, &[]).await;
    let (closed_bucket, _) = public_bucket(&account, &[]).await;
    block_all(&s3, &closed_bucket).await;
    let bucket_verdicts = |out: &std::process::Output| -> Vec<(String, String, bool)> {
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut v: Vec<(String, String, bool)> = report["scan"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["resource_type"] == "AwsS3Bucket")
            .map(|r| {
                (
                    r["check"].as_str().unwrap().to_string(),
                    r["resource_id"].as_str().unwrap().to_string(),
                    r["pass"].as_bool().unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    // Without a recorder the default scan reads S3, and has nothing to say
    // of Config.
    let from_s3 = site.rectify(&["scan", "--output", "json"]);
    let truth = bucket_verdicts(&from_s3);
    let err = String::from_utf8_lossy(&from_s3.stderr);
    assert!(
        !err.contains("note:") && !err.contains("AWS Config"),
        "{err}"
    );
    assert!(truth.contains(&(
        "aws.s3.block-public-access".into(),
        format!("arn:aws:s3:::{open_bucket}"),
        false
    )));
    assert!(truth.contains(&(
        "aws.s3.block-public-access".into(),
        format!("arn:aws:s3:::{closed_bucket}"),
        true
    )));

    let unrecorded = site.rectify(&["scan", "--from-config", "--output", "json"]);
    let err = String::from_utf8_lossy(&unrecorded.stderr);
    assert!(
        err.contains("note: account") && err.contains("bucket settings read from S3"),
        "{err}"
    );
    assert_eq!(bucket_verdicts(&unrecorded), truth);

    let config = aws_sdk_config::Client::new(&account_config(&account).await);
    config
        .put_configuration_recorder()
        .configuration_recorder(
            aws_sdk_config::types::ConfigurationRecorder::builder()
                .name("default")
                .role_arn(format!("arn:aws:iam::{account}:role/config"))
                .recording_group(
                    aws_sdk_config::types::RecordingGroup::builder()
                        .all_supported(true)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    config
        .put_delivery_channel()
        .delivery_channel(
            aws_sdk_config::types::DeliveryChannel::builder()
                .name("default")
                .s3_bucket_name(&closed_bucket)
                .build(),
        )
        .send()
        .await
        .unwrap();
    config
        .start_configuration_recorder()
        .configuration_recorder_name("default")
        .send()
        .await
        .unwrap();
    let recorded = site.rectify(&["scan", "--from-config", "--output", "json"]);
    let err = String::from_utf8_lossy(&recorded.stderr);
    assert!(
        err.contains("the settings of 2 bucket(s) were read from AWS Config"),
        "{err}"
    );
    assert!(!err.contains("note:"), "{err}");
    assert_eq!(bucket_verdicts(&recorded), truth);
    let report: Value = serde_json::from_slice(&recorded.stdout).unwrap();
    assert_eq!(report["scan"]["from_config"], 2);

    // A report-only scan takes them from Config by default where it
    // records; --live and --send-to-security-hub read every bucket.
    let default = site.rectify(&["scan", "--output", "json"]);
    let err = String::from_utf8_lossy(&default.stderr);
    assert!(
        err.contains("the settings of 2 bucket(s) were read from AWS Config"),
        "{err}"
    );
    assert_eq!(bucket_verdicts(&default), truth);
    // The scan history keeps where the settings came from.
    let out = site.rectify(&["--output", "json", "scans", "list", "--limit", "1"]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["summary"]["from_config"], 2, "{listed}");
    let id = listed[0]["id"].as_str().unwrap();
    let shown = site.rectify(&["scans", "show", id]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("from config 2 bucket(s) judged as AWS Config last recorded them"),
        "{shown}"
    );
    let live = site.rectify(&["scan", "--live", "--output", "json"]);
    let err = String::from_utf8_lossy(&live.stderr);
    assert!(!err.contains("AWS Config"), "{err}");
    assert_eq!(bucket_verdicts(&live), truth);
    let report: Value = serde_json::from_slice(&live.stdout).unwrap();
    assert!(report["scan"].get("from_config").is_none(), "{report}");
}
