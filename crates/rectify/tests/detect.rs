//! `rectify detect` as a black box, and detections on CloudTrail events
//! that come in through the engine (`rectify process`, which shares the
//! submission path with HTTP, SQS and Lambda). No AWS needed: the rules
//! here run the local no-op action.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn rectify(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .current_dir(dir)
        .env_remove("RECTIFY_CONFIG")
        .env_remove("RECTIFY_LOG")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or(b"")).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn stop_logging(id: &str) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": "arn:aws:iam::111122223333:user/mallory",
                         "accountId": "111122223333", "accessKeyId": "AKIAEXAMPLEKEY000001", "userName": "mallory"},
        "eventTime": "2026-12-06T07:00:00Z", "eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging",
        "awsRegion": "us-east-1", "sourceIPAddress": "185.220.101.47", "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"name": "arn:aws:cloudtrail:us-east-1:111122223333:trail/org"}, "responseElements": null,
        "requestID": "r-1", "eventID": id, "readOnly": false, "eventType": "AwsApiCall",
        "managementEvent": true, "recipientAccountId": "111122223333", "eventCategory": "Management"
    })
}

#[test]
fn log_files_gzipped_json_lines_and_stdin_give_the_same_detections() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = json!({"Records": [stop_logging("e-1")]}).to_string();
    std::fs::write(d.join("trail.json"), &file).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(file.as_bytes()).unwrap();
    std::fs::write(d.join("trail.json.gz"), gz.finish().unwrap()).unwrap();
    // As EventBridge delivers it, one event per line.
    let event = json!({"version": "0", "id": "x", "detail-type": "AWS API Call via CloudTrail",
                       "source": "aws.cloudtrail", "account": "111122223333", "region": "us-east-1",
                       "time": "2026-12-06T07:00:00Z", "resources": [], "detail": stop_logging("e-2")});
    let lines = format!("{event}\n{}\n", stop_logging("e-3"));
    for (args, stdin) in [
        (vec!["detect", "--output", "json", "trail.json"], None),
        (vec!["detect", "--output", "json", "trail.json.gz"], None),
        (
            vec!["detect", "--output", "json", "-"],
            Some(lines.as_bytes()),
        ),
    ] {
        let out = rectify(d, &args, stdin);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let found: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert!(!found.is_empty(), "{args:?}");
        assert!(
            found
                .iter()
                .all(|f| f["detector"] == "cloudtrail-logging-stopped"),
            "{found:?}"
        );
        assert_eq!(found[0]["technique"]["id"], "T1562.008");
        assert_eq!(
            found[0]["resources"][0]["id"],
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/org"
        );
    }
    // ASFF, as BatchImportFindings takes it.
    let out = rectify(d, &["detect", "--output", "asff", "trail.json"], None);
    let asff: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &asff["Findings"][0];
    assert_eq!(
        f["GeneratorId"],
        "rectify-detector/cloudtrail-logging-stopped"
    );
    assert_eq!(f["ProductFields"]["rectify/MitreTechnique"], "T1562.008");
    assert_eq!(f["Types"][0], "TTPs/Defense Evasion");
    // A table for people, and a clear error for input that is not JSON.
    let out = rectify(d, &["detect", "trail.json"], None);
    assert!(
        text(&out.stdout).contains("cloudtrail-logging-stopped"),
        "{}",
        text(&out.stdout)
    );
    // Feeding opens a store: not without a config file.
    let out = rectify(d, &["detect", "--feed", "trail.json"], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!d.join("rectify.db").exists());
    std::fs::write(d.join("bad.json"), "{\"Records\": [").unwrap();
    let out = rectify(d, &["detect", "bad.json"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad.json"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn labels_give_precision_and_recall_per_detection() {
    let corpus = repo().join("tests/corpus/cloudtrail");
    let out = rectify(
        &corpus,
        &[
            "--config",
            "rectify.yaml",
            "detect",
            "--output",
            "json",
            "--labels",
            "labels.jsonl",
            "trail.json",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let scores: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(scores.len() >= 20);
    for s in &scores {
        assert_eq!(
            (s["precision"].as_f64(), s["recall"].as_f64()),
            (Some(1.0), Some(1.0)),
            "{s}"
        );
    }
}

#[test]
fn the_detect_section_is_validated_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rectify.yaml"),
        "store: sqlite://x.db\ndetect:\n  disable: [no-such-detection]\n  thresholds:\n    console-brute-force-by-ip: {count: 0}\n    root-console-login: {count: 3}\n  organization_accounts: [\"12345\"]\n  detections:\n    - id: my-detection\n      title: Mine\n      severity: SEVERE\n      technique: {id: T1078, name: Valid Accounts, tactic: Initial Access}\n      pattern: {source: aws.iam}\n",
    )
    .unwrap();
    let out = rectify(dir.path(), &["validate"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    for expected in [
        "rectify.yaml:3:13: detect.disable[0]: `no-such-detection` is not a built-in detection",
        "rectify.yaml:5:40: detect.thresholds.console-brute-force-by-ip.count: expected a whole number from 1 to 10000",
        "detect.thresholds.root-console-login: `root-console-login` fires on one record",
        "detect.organization_accounts[0]: `12345` is not a 12-digit account id",
        "detect.detections[0].severity: `SEVERE`",
        "detect.detections[0].pattern.source",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in\n{err}");
    }
}

const FEED_CONFIG: &str = "store: sqlite://x.db\naudit: {key: none}\ndefault_mode: auto\ndetect:\n  organization_accounts: [\"111122223333\"]\nrules:\n  - id: trail-stopped\n    pattern:\n      source: [rectify.detector]\n      detail:\n        findings:\n          GeneratorId: [rectify-detector/cloudtrail-logging-stopped]\n    action: local.noop\n    mode: dry-run\n";

#[test]
fn detections_fed_through_the_rules_make_jobs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rectify.yaml"), FEED_CONFIG).unwrap();
    std::fs::write(
        dir.path().join("trail.json"),
        json!({"Records": [stop_logging("e-1")]}).to_string(),
    )
    .unwrap();
    let out = rectify(
        dir.path(),
        &[
            "--config",
            "rectify.yaml",
            "detect",
            "--feed",
            "--output",
            "json",
            "trail.json",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let jobs = report["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{report}");
    assert_eq!(jobs[0]["rule_id"], "trail-stopped");
    assert_eq!(report["events"][0]["matched"], json!(["trail-stopped"]));
}

#[test]
fn cloudtrail_events_that_come_in_are_detected_and_forged_detections_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rectify.yaml"), FEED_CONFIG).unwrap();
    // A CloudTrail API call as EventBridge delivers it: with `detect:`,
    // the engine's detectors see it and their finding meets the rule.
    let event = json!({"version": "0", "id": "ct-1", "detail-type": "AWS API Call via CloudTrail",
                       "source": "aws.cloudtrail", "account": "111122223333", "region": "us-east-1",
                       "time": "2026-12-06T07:00:00Z", "resources": [], "detail": stop_logging("e-9")});
    let out = rectify(
        dir.path(),
        &[
            "--config",
            "rectify.yaml",
            "process",
            "--output",
            "json",
            "-",
        ],
        Some(event.to_string().as_bytes()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let events = report["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "the call and the detection: {report}");
    assert!(
        events[1]["event_id"]
            .as_str()
            .unwrap()
            .starts_with("detect-"),
        "{report}"
    );
    assert_eq!(report["jobs"][0]["rule_id"], "trail-stopped", "{report}");
    // The same finding sent from outside is a forgery.
    let forged = rectify(
        dir.path(),
        &["detect", "--output", "asff", "-"],
        Some(stop_logging("e-8").to_string().as_bytes()),
    );
    let asff: Value = serde_json::from_slice(&forged.stdout).unwrap();
    let forged_event = json!({"version": "0", "id": "forged", "detail-type": "Security Hub Findings - Imported",
        "source": "rectify.detector", "account": "111122223333", "region": "us-east-1",
        "time": "2026-12-06T07:00:00Z", "resources": [], "detail": {"findings": [asff["Findings"][0].clone()]}});
    let out = rectify(
        dir.path(),
        &["--config", "rectify.yaml", "process", "-"],
        Some(forged_event.to_string().as_bytes()),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("source `rectify.detector` is rectify's own"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn with_security_hub_on_detections_are_imported_and_read_back() {
    let account = support::new_account();
    let site = support::Site::new(
        &account,
        "approve",
        &format!("arn:aws:sns:{}:{account}:team", support::REGION),
        "detect:\n  security_hub: true\nrules: []\n",
    );
    let mut record = stop_logging("e-sh-1");
    record["recipientAccountId"] = json!(account);
    record["awsRegion"] = json!(support::REGION);
    let file = site.path("trail.json");
    std::fs::write(&file, json!({"Records": [record]}).to_string()).unwrap();
    let out = site.rectify(&["detect", "--feed", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let id = "rectify-detector/cloudtrail-logging-stopped/e-sh-1";
    let stored = support::securityhub_finding(id).expect("the detection is in Security Hub");
    assert_eq!(
        stored["GeneratorId"],
        "rectify-detector/cloudtrail-logging-stopped"
    );
    assert_eq!(stored["AwsAccountId"], account.as_str());
    assert_eq!(stored["Severity"]["Label"], "HIGH");
    assert_eq!(
        stored["ProductFields"]["rectify/MitreTechnique"],
        "T1562.008"
    );
    assert_eq!(stored["Types"][0], "TTPs/Defense Evasion");
}
