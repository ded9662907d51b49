//! `detect.anomaly`: what loads, and what `rectify validate` reports.

use std::path::Path;

use rectify_config::anomaly::{AnomalySettings, DEFAULT_THRESHOLD};
use rectify_config::Loader;

fn load(yaml: &str) -> Result<rectify_config::Config, Vec<rectify_config::Diagnostic>> {
    Loader::new().load_str(yaml, Path::new("rectify.yaml"))
}

fn messages(yaml: &str) -> Vec<String> {
    load(yaml)
        .expect_err("the config should not load")
        .into_iter()
        .map(|d| {
            format!(
                "{}:{}: {}: {}",
                d.line.unwrap_or(0),
                d.column.unwrap_or(0),
                d.field,
                d.message
            )
        })
        .collect()
}

#[test]
fn off_by_default_and_every_key_loads() {
    let c = load("store: sqlite://x.db\n").unwrap();
    assert_eq!(c.anomaly, AnomalySettings::default());
    assert!(!c.anomaly.enabled);
    assert_eq!(c.anomaly.threshold, DEFAULT_THRESHOLD);
    let c = load("detect:\n  anomaly:\n    enabled: true\n    warmup_buckets: 10\n    threshold: 2.5\n    max_entities: 500\n    save_interval_seconds: 60\n").unwrap();
    assert_eq!(
        c.anomaly,
        AnomalySettings {
            enabled: true,
            warmup_buckets: 10,
            threshold: 2.5,
            max_entities: 500,
            save_interval_seconds: 60,
        }
    );
    // A whole-number threshold is a number too; an empty section is the defaults.
    assert_eq!(
        load("detect:\n  anomaly:\n    threshold: 4\n")
            .unwrap()
            .anomaly
            .threshold,
        4.0
    );
    assert_eq!(
        load("detect:\n  anomaly:\n").unwrap().anomaly,
        AnomalySettings::default()
    );
}

#[test]
fn wrong_values_are_reported_with_their_place() {
    let got = messages(
        "detect:\n  anomaly:\n    enabled: yes please\n    warmup_buckets: 0\n    threshold: -1\n    max_entities: many\n    save_interval_seconds: 100000\n    treshold: 3\n",
    );
    assert_eq!(
        got,
        vec![
            "3:14: detect.anomaly.enabled: expected a boolean, found a string".to_string(),
            "4:21: detect.anomaly.warmup_buckets: expected a whole number from 1 to 100000, found an integer (put it in quotes to make it a string)".into(),
            "5:16: detect.anomaly.threshold: expected a number above 0 and at most 100, found an integer".into(),
            "6:19: detect.anomaly.max_entities: expected a whole number from 1 to 10000000, found a string".into(),
            "7:28: detect.anomaly.save_interval_seconds: expected a whole number from 1 to 86400, found an integer (put it in quotes to make it a string)".into(),
            "8:5: detect.anomaly.treshold: unknown field `treshold`, expected one of `enabled`, `warmup_buckets`, `threshold`, `max_entities`, `save_interval_seconds`".into(),
        ]
    );
    assert_eq!(
        messages("detect: [anomaly]\n"),
        vec!["1:9: detect: expected a mapping, found a list".to_string()]
    );
    assert_eq!(
        messages("detect:\n  anomaly:\n    threshold: .nan\n"),
        vec!["3:16: detect.anomaly.threshold: expected a number above 0 and at most 100, found a float".to_string()]
    );
}
