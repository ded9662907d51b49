//! Throughput of the built-in signature detections on one core: records
//! per second over the labelled corpus (repeated, with times moved on so
//! that windows open and close as in a long log). A benchmark, not a
//! test: it asserts nothing about speed.
//!
//!     cargo test -p rectify-detect --release --test bench -- --ignored --nocapture
//!
//! Figures in docs/performance.md.

use std::path::PathBuf;
use std::time::Instant;

use rectify_detect::run::parse_records;
use rectify_detect::signature::{eventbridge_text, Settings, SignatureDetector};
use rectify_detect::{Detector, Record};
use serde_json::Value;

/// CPU time this thread has used, in nanoseconds (Linux): the machine is
/// shared, so wall time would measure the neighbours too.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn signatures_records_per_second_on_one_core() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/cloudtrail/trail.json");
    let base = parse_records(&std::fs::read_to_string(path).unwrap()).unwrap();
    // 200 copies, each a day later than the one before.
    let mut records: Vec<Value> = Vec::with_capacity(base.len() * 200);
    for copy in 0..200i64 {
        for r in &base {
            let mut r = r.clone();
            let t = Record::new(&r).epoch_seconds().unwrap_or(0) + copy * 86_400;
            let text = time::OffsetDateTime::from_unix_timestamp(t)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            r["eventTime"] = Value::String(text);
            records.push(r);
        }
    }
    let settings = Settings {
        organization_accounts: vec![
            "111122223333".into(),
            "444455556666".into(),
            "777788889999".into(),
        ],
        logging_buckets: vec!["central-audit-logs".into()],
        ..Settings::default()
    };
    let specs = rectify_detect::pack::builtin();
    let n_specs = specs.len();

    // The EventBridge shape alone (a copy of each record).
    let started = cpu_ns();
    let mut bytes = 0usize;
    let mut text = Vec::new();
    for r in &records {
        eventbridge_text(&Record::new(r), &mut text);
        bytes += text.len();
    }
    let shape = (cpu_ns() - started) as f64 / 1e9;
    assert!(bytes > 0);

    let mut best = f64::MAX;
    let mut found = 0;
    for _ in 0..3 {
        let mut detector = SignatureDetector::new(specs.clone(), &settings).unwrap();
        let started = cpu_ns();
        let wall = Instant::now();
        found = 0;
        for r in &records {
            found += detector.observe(Record::new(r)).len();
        }
        let cpu = (cpu_ns() - started) as f64 / 1e9;
        println!(
            "  pass: {cpu:.3} s CPU, {:.3} s wall",
            wall.elapsed().as_secs_f64()
        );
        best = best.min(cpu);
    }
    let per_second = records.len() as f64 / best;
    println!(
        "{} records, {n_specs} detections, {found} detections fired: {:.0} records per CPU-second on one core (best of 3, {:.3} s); \
         writing the EventBridge text alone: {:.0} records/s ({} MB)",
        records.len(),
        per_second,
        best,
        records.len() as f64 / shape,
        bytes / 1_000_000
    );
}
