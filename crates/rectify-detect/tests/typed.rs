//! Records read from their text (typed fields borrowed from the input,
//! `run::read_records`) against records parsed into `serde_json::Value`
//! (`run::parse_records`): the same records, the same fields, the same
//! EventBridge shape, and the same detections from both detectors, on the
//! whole labelled CloudTrail corpus and on the anomaly corpus; and input
//! that is not JSON is counted and skipped without stopping the rest.

#[path = "support/anomaly_corpus.rs"]
mod corpus;

use std::path::PathBuf;

use rectify_detect::anomaly::AnomalyDetector;
use rectify_detect::evaluate::{evaluate, read_labels};
use rectify_detect::record::Fields;
use rectify_detect::run::{
    detect_all_with, detect_records, parse_records, read_records, ReadStats,
};
use rectify_detect::signature::{eventbridge_text, Settings, SignatureDetector};
use rectify_detect::{Detection, Record};
use serde_json::{json, Value};

fn trail() -> String {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/cloudtrail/trail.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn corpus_settings() -> Settings {
    // As tests/corpus/cloudtrail/rectify.yaml configures it.
    Settings {
        organization_accounts: vec![
            "111122223333".into(),
            "444455556666".into(),
            "777788889999".into(),
        ],
        logging_buckets: vec!["central-audit-logs".into()],
        ..Settings::default()
    }
}

/// Every record of `text` read both ways: the same records in the same
/// order, each with the same fields, value and EventBridge text.
fn assert_same_records(text: &str) -> usize {
    let values = parse_records(text).unwrap();
    let mut stats = ReadStats::default();
    let typed = read_records(text, &mut stats).unwrap();
    assert_eq!(stats.malformed, 0);
    assert_eq!(typed.len(), values.len());
    assert_eq!(stats.records, values.len() as u64);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (v, t) in values.iter().zip(&typed) {
        let from_value = Record::new(v);
        assert_eq!(t.fields(), &Fields::from_value(v), "{v}");
        assert_eq!(t.fields(), from_value.fields());
        assert_eq!(t.epoch_seconds(), from_value.epoch_seconds());
        assert_eq!(t.principal(), from_value.principal());
        assert_eq!(t.partition(), from_value.partition());
        assert_eq!(t.value(), v);
        eventbridge_text(&from_value, &mut a);
        eventbridge_text(t, &mut b);
        let (a, b): (Value, Value) = (
            serde_json::from_slice(&a).unwrap(),
            serde_json::from_slice(&b).unwrap(),
        );
        assert_eq!(a, b);
    }
    values.len()
}

#[test]
fn the_labelled_corpus_reads_the_same_from_text() {
    let text = trail();
    assert!(assert_same_records(&text) > 1000);
    // As JSON lines of records, and of EventBridge events.
    let values = parse_records(&text).unwrap();
    let lines: String = values.iter().map(|v| format!("{v}\n")).collect();
    assert_eq!(assert_same_records(&lines), values.len());
    let events: String = values
        .iter()
        .map(|v| {
            let mut shape = Vec::new();
            eventbridge_text(&Record::new(v), &mut shape);
            format!("{}\n", String::from_utf8(shape).unwrap())
        })
        .collect();
    assert_eq!(assert_same_records(&events), values.len());
}

#[test]
fn signature_and_anomaly_detections_are_the_same_from_text_on_the_corpus() {
    let text = trail();
    let settings = corpus_settings();
    let specs = rectify_detect::pack::builtin();
    let anomaly_settings = rectify_detect::anomaly::AnomalySettings {
        // Short warm-up: the corpus is a day of three accounts.
        warmup_buckets: 5,
        ..corpus::settings()
    };

    let mut detector = SignatureDetector::new(specs.clone(), &settings).unwrap();
    let mut anomaly = AnomalyDetector::new(&anomaly_settings, "us-east-1");
    let mut from_values = detect_all_with(
        &mut detector,
        Some(&mut anomaly),
        parse_records(&text).unwrap(),
    );
    from_values.extend(anomaly.flush());

    let mut detector = SignatureDetector::new(specs.clone(), &settings).unwrap();
    let mut anomaly = AnomalyDetector::new(&anomaly_settings, "us-east-1");
    let mut stats = ReadStats::default();
    let records = read_records(&text, &mut stats).unwrap();
    let mut from_text = detect_records(&mut detector, Some(&mut anomaly), records);
    from_text.extend(anomaly.flush());

    assert!(from_values
        .iter()
        .any(|d| d.detector.starts_with("anomaly-")));
    assert!(from_values.len() > 30, "{}", from_values.len());
    assert_eq!(from_values.len(), from_text.len());
    for (a, b) in from_values.iter().zip(&from_text) {
        assert_eq!(a, b);
    }

    // Precision and recall as docs/detections.md states them: 1 and 1.
    let labels = read_labels(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/corpus/cloudtrail/labels.jsonl"),
        )
        .unwrap(),
    )
    .unwrap();
    let known: Vec<(String, String)> = specs
        .iter()
        .map(|s| (s.id.clone(), s.technique.id.clone()))
        .collect();
    let signatures: Vec<Detection> = from_text
        .into_iter()
        .filter(|d| !d.detector.starts_with("anomaly-"))
        .collect();
    for s in evaluate(&labels, &signatures, &known) {
        assert_eq!((s.recall, s.precision), (Some(1.0), Some(1.0)), "{s:?}");
    }
}

#[test]
fn anomaly_detections_are_the_same_from_log_files() {
    let (minutes, _) = corpus::cloudtrail(1, true);
    let settings = corpus::settings();
    let mut d = AnomalyDetector::new(&settings, "us-east-1");
    let mut from_values = Vec::new();
    for minute in &minutes {
        for r in minute {
            from_values.extend(rectify_detect::Detector::observe(&mut d, Record::new(r)));
        }
    }
    from_values.extend(d.flush());

    // One log file a minute, as text.
    let files: Vec<String> = minutes
        .iter()
        .map(|records| json!({ "Records": records }).to_string())
        .collect();
    let mut d = AnomalyDetector::new(&settings, "us-east-1");
    let mut from_text = Vec::new();
    let mut stats = ReadStats::default();
    for file in &files {
        for r in read_records(file, &mut stats).unwrap() {
            from_text.extend(rectify_detect::Detector::observe(&mut d, r));
        }
    }
    from_text.extend(d.flush());
    assert_eq!(
        stats.records,
        minutes.iter().map(Vec::len).sum::<usize>() as u64
    );
    assert!(from_values.len() >= 4, "{}", from_values.len());
    assert_eq!(from_values, from_text);
}

#[test]
fn awkward_records_read_the_same_from_text() {
    // Escapes, fields of other types, repeated keys (the last one counts,
    // as in a `Value`), failed console sign-ins, services, no identity.
    let lines = [
        r#"{"eventName":"Stop\u004cogging","eventSource":"cloudtrail.amazonaws.com","eventTime":"2026-12-06T07:00:00Z","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/\"q\"","accountId":"111122223333"}}"#,
        r#"{"eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com","eventTime":"2026-12-06T07:00:01.5+01:00","responseElements":{"ConsoleLogin":"Failure"},"eventType":"AwsConsoleSignIn"}"#,
        r#"{"eventName":"X","eventSource":"s3.amazonaws.com","eventTime":7,"awsRegion":["us-east-1"],"userIdentity":"root","responseElements":[{"ConsoleLogin":"Failure"}],"errorCode":null}"#,
        r#"{"eventName":"X","eventSource":"s3.amazonaws.com","eventName":"Y","userIdentity":{"arn":"a"},"userIdentity":{"principalId":"p"},"recipientAccountId":"1","recipientAccountId":2}"#,
        r#"{"eventName":"X","eventSource":"ec2.amazonaws.com","eventTime":"2026-02-30T00:00:00Z","userIdentity":{"sessionContext":{"sessionIssuer":{"arn":"arn:aws-cn:iam::1:role/r"}}},"eventID":"","requestID":"req-1"}"#,
        r#"{"eventName":"X","eventSource":"ec2.amazonaws.com","eventTime":"2026-12-06T24:00:00Z","awsRegion":"us-gov-west-1"}"#,
        r#"{"eventName":"X","eventSource":"ec2.amazonaws.com","eventTime":"2024-02-29T23:59:59Z","responseElements":{"ConsoleLogin":"Failure","ConsoleLogin":"Success"}}"#,
        r#"{"detail-type":"AWS Console Sign In via CloudTrail","detail":{"eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com"}}"#,
        r#"{"detail-type":"Security Hub Findings - Imported","detail":{"eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com"}}"#,
        r#"{"detail-type":5,"detail":{},"eventName":"Z","eventSource":"iam.amazonaws.com"}"#,
        r#"{"Records":{"eventName":"Z"},"eventName":"Z","eventSource":"iam.amazonaws.com"}"#,
        r#"[{"eventName":"A","eventSource":"kms.amazonaws.com"},[{"eventName":"B","eventSource":"kms.amazonaws.com"}],3,"x"]"#,
        r#"{"Records":[{"eventName":"C","eventSource":"sts.amazonaws.com"},{"eventName":1,"eventSource":"x"},null]}"#,
        r#"{"eventName":"no source"}"#,
        r#"[]"#,
        r#"null"#,
    ];
    let text = lines.join("\n");
    assert_eq!(assert_same_records(&text), 13);
    for line in lines {
        assert_same_records(line);
    }
    // The ones that decide something, checked by value.
    let mut stats = ReadStats::default();
    let r = read_records(&text, &mut stats).unwrap();
    assert_eq!(stats.not_records, 2);
    assert_eq!(r[0].event_name(), "StopLogging");
    assert_eq!(r[0].principal(), "arn:aws:iam::111122223333:user/\"q\"");
    assert_eq!(r[1].console_login(), "Failure");
    assert_eq!(r[1].epoch_seconds(), Some(1_796_536_801));
    assert_eq!(r[2].epoch_seconds(), None);
    assert_eq!(r[3].event_name(), "Y");
    assert_eq!(r[3].principal(), "p");
    assert_eq!(r[3].account(), "");
    assert_eq!(r[4].epoch_seconds(), None);
    assert_eq!(r[4].id(), "req-1");
    assert_eq!(r[4].principal(), "arn:aws-cn:iam::1:role/r");
    assert_eq!(r[5].epoch_seconds(), None);
    assert_eq!(r[6].epoch_seconds(), Some(1_709_251_199));
    assert_eq!(r[6].console_login(), "Success");
}

#[test]
fn a_line_that_is_not_json_is_counted_and_skipped() {
    let good = r#"{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","eventTime":"2026-12-06T07:00:00Z"}"#;
    for text in [
        format!("{good}\n{{\"eventName\": \"Cut\n{good}\n"),
        format!("{{\"Records\": [{good},\n{good}\n{good}\n"),
        format!("not json at all\n{good}\n\n{good}\n[1,\n"),
    ] {
        let mut stats = ReadStats::default();
        let records = read_records(&text, &mut stats).unwrap();
        assert_eq!(records.len(), 2, "{text}");
        assert_eq!(stats.records, 2);
        assert!(stats.malformed >= 1, "{text}");
        assert!(records.iter().all(|r| r.event_name() == "StopLogging"));
    }
    // Text that is neither one JSON value nor JSON lines is refused whole.
    let mut stats = ReadStats::default();
    let e = read_records("{\"Records\": [", &mut stats).unwrap_err();
    assert!(e.contains("EOF"), "{e}");
    assert!(read_records("{\"Records\": [1,}", &mut stats).is_err());
    assert!(read_records("  \n ", &mut stats).unwrap().is_empty());
}

#[test]
fn a_key_given_twice_is_matched_on_either_value_from_text() {
    // JSON allows it, CloudTrail does not write it: the fields rectify
    // reads take the last value (as a `Value` does), while the pattern,
    // matched on the record's own text, sees both: repeating a key with
    // a harmless value does not hide a record from a detection.
    let text = r#"{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","eventTime":"2026-12-06T07:00:00Z","eventID":"e-1","eventName":"DescribeTrails","recipientAccountId":"111122223333"}"#;
    let specs = rectify_detect::pack::builtin();
    let mut stats = ReadStats::default();
    let mut detector = SignatureDetector::new(specs.clone(), &corpus_settings()).unwrap();
    let from_text = detect_records(&mut detector, None, read_records(text, &mut stats).unwrap());
    assert_eq!(from_text.len(), 1, "{from_text:?}");
    assert_eq!(from_text[0].detector, "cloudtrail-logging-stopped");
    assert!(from_text[0].description.contains("DescribeTrails"));
    let mut detector = SignatureDetector::new(specs, &corpus_settings()).unwrap();
    let from_value = detect_all_with(&mut detector, None, parse_records(text).unwrap());
    assert!(from_value.is_empty(), "{from_value:?}");
}
