//! The built-in detections against the labelled corpus in
//! tests/corpus/cloudtrail (made by its generate.py): every attack found,
//! nothing benign flagged. The same figures `rectify detect --labels`
//! prints (docs/detections.md).

use std::path::PathBuf;

use rectify_detect::evaluate::{evaluate, read_labels, unknown_labels};
use rectify_detect::run::{detect_all, parse_records};
use rectify_detect::signature::{Settings, SignatureDetector};

fn corpus(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/corpus/cloudtrail")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_detection_has_recall_1_and_precision_1_on_the_corpus() {
    let records = parse_records(&corpus("trail.json")).unwrap();
    assert!(records.len() > 1000, "{}", records.len());
    let labels = read_labels(&corpus("labels.jsonl")).unwrap();
    assert_eq!(labels.len(), records.len(), "one label line per record");
    let specs = rectify_detect::pack::builtin();
    let known: Vec<(String, String)> = specs
        .iter()
        .map(|s| (s.id.clone(), s.technique.id.clone()))
        .collect();
    assert!(
        unknown_labels(&labels, &known).is_empty(),
        "{:?}",
        unknown_labels(&labels, &known)
    );
    // As tests/corpus/cloudtrail/rectify.yaml configures it.
    let settings = Settings {
        organization_accounts: vec![
            "111122223333".into(),
            "444455556666".into(),
            "777788889999".into(),
        ],
        logging_buckets: vec!["central-audit-logs".into()],
        ..Settings::default()
    };
    let mut detector = SignatureDetector::new(specs, &settings).unwrap();
    let detections = detect_all(&mut detector, records);
    let scores = evaluate(&labels, &detections, &known);
    let mut problems = Vec::new();
    for s in &scores {
        if s.incidents == 0 {
            problems.push(format!("{}: no incident in the corpus", s.detection));
        }
        if s.recall != Some(1.0) || s.precision != Some(1.0) {
            let stray: Vec<String> = detections
                .iter()
                .filter(|d| d.detector == s.detection)
                .map(|d| d.evidence["eventIDs"].to_string())
                .collect();
            problems.push(format!("{s:?} {stray:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
