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
    // A line that is not JSON, or an entry that is not a record, is
    // counted and skipped; the lines after it are still read.
    let broken = format!(
        "{}\n{{\"eventName\": \"Cut off\n{{\"Records\": [{}, {{\"not\": \"a record\"}}]}}\n",
        stop_logging("e-4"),
        stop_logging("e-5")
    );
    let out = rectify(
        d,
        &["detect", "--output", "json", "-"],
        Some(broken.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("skipped: 1 lines or entries not JSON, 1 not CloudTrail records"),
        "{}",
        text(&out.stderr)
    );
    let found: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&Value> = found
        .iter()
        .map(|f| &f["evidence"]["eventIDs"][0])
        .collect();
    assert_eq!(ids, [&json!("e-4"), &json!("e-5")], "{found:?}");
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

/// Other shapes records come in: `jq '.Records[]'` prints each record over
/// several lines, `aws cloudtrail lookup-events` holds each record as a JSON
/// string, Security Lake keeps them as OCSF events. Each record is found
/// once, with its fields.
#[test]
fn records_printed_by_jq_by_lookup_events_and_from_security_lake_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let records = [stop_logging("e-1"), stop_logging("e-2")];
    let pretty: Vec<String> = records
        .iter()
        .map(|r| serde_json::to_string_pretty(r).unwrap())
        .collect();
    std::fs::write(d.join("jq.json"), pretty.join("\n")).unwrap();
    // Two pages, as the CLI prints them with --max-items and a token.
    let page = |r: &Value| {
        json!({"Events": [{"EventId": r["eventID"], "EventName": "StopLogging", "ReadOnly": "false",
                           "EventTime": "2026-12-06T07:00:00+00:00", "EventSource": "cloudtrail.amazonaws.com",
                           "Username": "mallory", "Resources": [], "CloudTrailEvent": r.to_string()}],
               "NextToken": "t"})
    };
    let lookup = format!(
        "{}\n{}\n",
        serde_json::to_string_pretty(&page(&records[0])).unwrap(),
        serde_json::to_string_pretty(&page(&records[1])).unwrap()
    );
    std::fs::write(d.join("lookup.json"), lookup).unwrap();
    // Amazon Security Lake keeps them as OCSF API Activity events (1.1).
    let ocsf = |r: &Value| {
        json!({"class_uid": 6003, "class_name": "API Activity", "time": 1796540400000u64,
               "metadata": {"product": {"name": "CloudTrail", "vendor_name": "AWS"}, "version": "1.1.0",
                            "uid": r["eventID"], "event_code": "AwsApiCall"},
               "api": {"operation": "StopLogging", "service": {"name": "cloudtrail.amazonaws.com"},
                       "request": {"uid": "r-1", "data": r["requestParameters"]}},
               "actor": {"user": {"type": "IAMUser", "uid": r["userIdentity"]["arn"],
                                  "uid_alt": "AIDAEXAMPLE", "credential_uid": "AKIAEXAMPLEKEY000001",
                                  "account": {"uid": "111122223333"}, "name": "mallory"}},
               "src_endpoint": {"ip": "185.220.101.47"}, "http_request": {"user_agent": "aws-cli/2.15.0"},
               "cloud": {"region": "us-east-1", "provider": "AWS"}})
    };
    let asl = format!("{}\n{}\n", ocsf(&records[0]), ocsf(&records[1]));
    std::fs::write(d.join("asl.json"), asl).unwrap();
    for file in ["jq.json", "lookup.json", "asl.json"] {
        let out = rectify(d, &["detect", "--output", "json", file], None);
        assert_eq!(out.status.code(), Some(0), "{file}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("2 CloudTrail records read"),
            "{file}: {}",
            text(&out.stderr)
        );
        let found: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        let keys: Vec<&Value> = found.iter().map(|f| &f["key"]).collect();
        assert_eq!(keys, [&json!("e-1"), &json!("e-2")], "{file}: {found:?}");
        for f in &found {
            assert_eq!(f["detector"], "cloudtrail-logging-stopped");
            assert_eq!(f["principal"], "arn:aws:iam::111122223333:user/mallory");
            assert_eq!(f["first_seen"], "2026-12-06T07:00:00Z");
            assert_eq!(
                f["resources"][0]["id"],
                "arn:aws:cloudtrail:us-east-1:111122223333:trail/org"
            );
            assert_eq!(f["resources"][2]["id"], "AKIAEXAMPLEKEY000001");
        }
    }
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

#[path = "../../rectify-detect/tests/support/anomaly_corpus.rs"]
mod anomaly_corpus;

/// The anomaly corpus's CloudTrail records as EventBridge delivers them.
fn cloudtrail_event(record: &Value) -> Value {
    let detail_type = if record["eventName"] == "ConsoleLogin" {
        "AWS Console Sign In via CloudTrail"
    } else {
        "AWS API Call via CloudTrail"
    };
    let service = record["eventSource"]
        .as_str()
        .unwrap()
        .trim_end_matches(".amazonaws.com");
    json!({"version": "0", "id": format!("ct-{}", record["eventID"].as_str().unwrap()),
           "detail-type": detail_type, "source": format!("aws.{service}"),
           "account": record["recipientAccountId"], "region": record["awsRegion"],
           "time": record["eventTime"], "resources": [], "detail": record})
}

/// What the anomaly detector found, per finding id: its last detection's
/// (last seen, count, score).
type AnomalyFindings = std::collections::BTreeMap<String, (String, u64, f64)>;

/// The corpus's CloudTrail records, fed through `rectify process` in
/// runs of whole minutes (each run a process that loads the detector's
/// state and saves it at its end), into the store at `store_url`. Returns
/// the anomaly findings read back from the store.
async fn anomaly_findings_through_process(
    store_url: &str,
    minutes: &[Vec<Value>],
    runs: usize,
) -> AnomalyFindings {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rectify.yaml"),
        format!(
            "store: {store_url}\naudit: {{key: none}}\ndetect:\n  builtin: false\n  anomaly:\n    enabled: true\nrules: []\n"
        ),
    )
    .unwrap();
    let per_run = minutes.len().div_ceil(runs);
    for (n, chunk) in minutes.chunks(per_run).enumerate() {
        let lines: Vec<String> = chunk
            .iter()
            .flatten()
            .map(|r| cloudtrail_event(r).to_string())
            .collect();
        assert!(
            lines.len() <= 10_000,
            "one body holds at most 10,000 events"
        );
        let file = dir.path().join(format!("run-{n}.jsonl"));
        std::fs::write(&file, lines.join("\n")).unwrap();
        let out = rectify(
            dir.path(),
            &[
                "--config",
                "rectify.yaml",
                "process",
                file.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(0), "run {n}: {}", text(&out.stderr));
    }
    let store = rectify_store::open(store_url).await.unwrap();
    // The state is in the store after the last run: every kind's forest
    // (under the empty key) and the principals.
    let principals = store.detector_state("anomaly-principal").await.unwrap();
    assert!(
        principals.iter().any(|(k, _)| k.is_empty()),
        "the forest row"
    );
    assert!(principals.len() > 5, "{} rows", principals.len());
    assert!(!store
        .detector_state("anomaly-account")
        .await
        .unwrap()
        .is_empty());
    let rows = store
        .find_findings(&rectify_store::FindingFilter::default())
        .await
        .unwrap();
    rows.into_iter()
        .filter(|r| r.id.starts_with("rectify-detector/anomaly-"))
        .map(|r| {
            let f = &r.finding;
            let evidence: Value =
                serde_json::from_str(f["ProductFields"]["rectify/Evidence"].as_str().unwrap())
                    .unwrap();
            let count: u64 = f["ProductFields"]["rectify/Count"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            (
                r.id.clone(),
                (
                    f["LastObservedAt"].as_str().unwrap().to_string(),
                    count,
                    evidence["score"].as_f64().unwrap(),
                ),
            )
        })
        .collect()
}

/// The same records through a detector that never stopped (in this
/// process), in time order; its open buckets are left open as the
/// process runs leave them.
fn anomaly_findings_uninterrupted(minutes: &[Vec<Value>]) -> AnomalyFindings {
    use rectify_detect::Detector;
    let mut records: Vec<&Value> = minutes.iter().flatten().collect();
    records.sort_by_key(|r| rectify_detect::Record::new(r).epoch_seconds().unwrap());
    let settings = rectify_detect::anomaly::AnomalySettings {
        enabled: true,
        ..Default::default()
    };
    let mut detector = rectify_detect::anomaly::AnomalyDetector::new(&settings, "us-east-1");
    let mut out = AnomalyFindings::new();
    for r in records {
        for d in detector.observe(rectify_detect::Record::new(r)) {
            let score = d.evidence["score"].as_f64().unwrap();
            out.insert(d.finding_id(), (d.last_seen.clone(), d.count, score));
        }
    }
    out
}

/// Minutes of the corpus fed: the last six hours (the attacks are in the
/// last two), so that a run stays within one body's 10,000 events.
fn corpus_minutes() -> Vec<Vec<Value>> {
    let (minutes, attacks) = anomaly_corpus::cloudtrail(11, true);
    assert!(!attacks.is_empty());
    minutes[120..].to_vec()
}

fn assert_same_findings(stored: &AnomalyFindings, expected: &AnomalyFindings) {
    assert!(
        expected.keys().any(|k| k.contains("anomaly-principal")),
        "the corpus's attacks are found: {expected:?}"
    );
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (id, (last_seen, count, score)) in expected {
        let (s_last, s_count, s_score) = &stored[id];
        assert_eq!((s_last, s_count), (last_seen, count), "{id}");
        assert!((s_score - score).abs() < 1e-9, "{id}: {s_score} != {score}");
    }
}

/// With `detect.anomaly.enabled`, CloudTrail events that `rectify process`
/// takes in go through the anomaly detector too; its detections are
/// findings in the store, its state is saved at the end of each run and
/// loaded by the next, and runs with restarts find exactly what one
/// detector that never stopped finds.
#[tokio::test]
async fn anomaly_detections_survive_restarts_of_process_on_sqlite() {
    let minutes = corpus_minutes();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let stored = anomaly_findings_through_process(&url, &minutes, 6).await;
    assert_same_findings(&stored, &anomaly_findings_uninterrupted(&minutes));
}

#[tokio::test]
async fn anomaly_detections_survive_restarts_of_process_on_postgres() {
    let minutes = corpus_minutes();
    let schema = support::PgSchema::new("anomaly_process");
    let stored = anomaly_findings_through_process(&schema.url(), &minutes, 4).await;
    assert_same_findings(&stored, &anomaly_findings_uninterrupted(&minutes));
}

/// `rectify detect --anomaly` scores CloudTrail files and `--flow-logs`
/// (and a flow log among the files, found by its first line) as the
/// library does over the same input, and prints the anomaly detections
/// beside the signature ones.
#[test]
fn detect_runs_the_anomaly_detector_over_cloudtrail_and_flow_logs() {
    use rectify_detect::Detector;
    let (ct, _) = anomaly_corpus::cloudtrail(5, true);
    let (fl, _) = anomaly_corpus::flows(5, true);
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<String> = ct.iter().flatten().map(Value::to_string).collect();
    std::fs::write(dir.path().join("trail.jsonl"), records.join("\n")).unwrap();
    let lines: Vec<&str> = fl.iter().flatten().map(String::as_str).collect();
    let flows = format!(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n{}\n",
        lines.join("\n")
    );
    std::fs::write(dir.path().join("flows.log"), &flows).unwrap();

    // The library over the same input: records in time order, then the
    // flow lines, then the end of the input.
    let mut sorted: Vec<&Value> = ct.iter().flatten().collect();
    sorted.sort_by_key(|r| rectify_detect::Record::new(r).epoch_seconds().unwrap());
    let settings = rectify_detect::anomaly::AnomalySettings {
        enabled: true,
        ..Default::default()
    };
    let mut detector = rectify_detect::anomaly::AnomalyDetector::new(&settings, "us-east-1");
    let mut expected = Vec::new();
    for r in sorted {
        expected.extend(detector.observe(rectify_detect::Record::new(r)));
    }
    expected.extend(detector.observe_flow_lines(flows.as_bytes()).unwrap());
    expected.extend(detector.flush());
    let flows_read = detector.stats().flows;
    assert!(flows_read > 1000, "{flows_read}");
    let summary = |ds: &[Value]| -> Vec<(String, String, String)> {
        let mut v: Vec<_> = ds
            .iter()
            .filter(|d| d["detector"].as_str().unwrap().starts_with("anomaly-"))
            .map(|d| {
                (
                    d["detector"].as_str().unwrap().to_string(),
                    d["key"].as_str().unwrap().to_string(),
                    format!("{:.9}", d["evidence"]["score"].as_f64().unwrap()),
                )
            })
            .collect();
        v.sort();
        v
    };
    let expected: Vec<Value> = expected
        .iter()
        .map(|d| serde_json::to_value(d).unwrap())
        .collect();
    let want = summary(&expected);
    assert!(want.iter().any(|d| d.0 == "anomaly-flow"), "{want:?}");
    assert!(want.iter().any(|d| d.0 == "anomaly-principal"), "{want:?}");

    for args in [
        vec![
            "detect",
            "--anomaly",
            "--output",
            "json",
            "trail.jsonl",
            "--flow-logs",
            "flows.log",
        ],
        // A flow log among the files, and no flag: flow logs turn it on.
        vec!["detect", "--output", "json", "trail.jsonl", "flows.log"],
    ] {
        let out = rectify(dir.path(), &args, None);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let printed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary(&printed), want, "{args:?}");
        assert!(
            text(&out.stderr).contains(&format!("{flows_read} flow log records read")),
            "{}",
            text(&out.stderr)
        );
    }
    // Without the flag or a flow log, only the signatures run.
    let out = rectify(
        dir.path(),
        &["detect", "--output", "json", "trail.jsonl"],
        None,
    );
    let printed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary(&printed).is_empty());
}
