//! Throughput of the built-in signature detections on one core: records
//! per second over the labelled corpus (repeated, with times moved on so
//! that windows open and close as in a long log). A benchmark, not a
//! test: it asserts nothing about speed.
//!
//!     cargo test -p rectify-detect --release --test bench -- --ignored --nocapture
//!
//! Figures in docs/performance.md.

// The allocator of the `rectify` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use rectify_detect::run::{parse_records, read_records, ReadStats};
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

    // The same records as CloudTrail log files (one a day, as text) and
    // as JSON lines, read from their bytes by each detector run.
    let files: Vec<String> = records
        .chunks(base.len())
        .map(|day| serde_json::json!({ "Records": day }).to_string())
        .collect();
    let lines: Vec<String> = records
        .chunks(base.len())
        .map(|day| day.iter().map(|r| format!("{r}\n")).collect())
        .collect();
    let mb = |texts: &[String]| texts.iter().map(String::len).sum::<usize>() as f64 / 1e6;
    println!(
        "{} records, {n_specs} detections; log files {:.0} MB, JSON lines {:.0} MB",
        records.len(),
        mb(&files),
        mb(&lines)
    );
    println!("| input | records per CPU-second | best CPU time of 3 | detections fired |");
    println!("|---|---:|---:|---:|");
    let row = |what: &str, run: &mut dyn FnMut() -> (usize, usize)| {
        let mut best = f64::MAX;
        let mut counted = (0, 0);
        for _ in 0..3 {
            let started = cpu_ns();
            counted = run();
            best = best.min((cpu_ns() - started) as f64 / 1e9);
        }
        assert_eq!(counted.0, records.len(), "{what}");
        println!(
            "| {what} | {:.0} | {best:.3} s | {} |",
            counted.0 as f64 / best,
            counted.1
        );
        counted.1
    };
    // Each file (or line) parsed into one `Value`, its records observed
    // in place (no copy).
    let detect_values = |texts: &[String], detector: &mut SignatureDetector| {
        let (mut n, mut found) = (0, 0);
        for text in texts {
            let docs: Vec<&str> = if text.starts_with("{\"Records\"") {
                vec![text.as_str()]
            } else {
                text.lines().collect()
            };
            for doc in docs {
                let v: Value = serde_json::from_str(doc).unwrap();
                for r in rectify_detect::records(&v) {
                    n += 1;
                    found += detector.observe(Record::new(r)).len();
                }
            }
        }
        (n, found)
    };
    let detect_typed = |texts: &[String], detector: &mut SignatureDetector| {
        let (mut n, mut found) = (0, 0);
        let mut stats = ReadStats::default();
        for text in texts {
            for r in read_records(text, &mut stats).unwrap() {
                n += 1;
                found += detector.observe(r).len();
            }
        }
        (n, found)
    };
    let new = || SignatureDetector::new(specs.clone(), &settings).unwrap();
    let parsed = row(
        "records already parsed (`Value`), the whole detector",
        &mut || {
            let mut detector = new();
            let found = records
                .iter()
                .map(|r| detector.observe(Record::new(r)).len())
                .sum();
            (records.len(), found)
        },
    );
    let before = row(
        "log files from bytes, parsed into `Value` (before)",
        &mut || detect_values(&files, &mut new()),
    );
    let after = row(
        "log files from bytes, typed fields borrowed from the text (after)",
        &mut || detect_typed(&files, &mut new()),
    );
    row(
        "JSON lines from bytes, parsed into `Value` (before)",
        &mut || detect_values(&lines, &mut new()),
    );
    let after_lines = row("JSON lines from bytes, typed (after)", &mut || {
        detect_typed(&lines, &mut new())
    });
    // Gzipped, as CloudTrail writes them to S3: decompressed as
    // `rectify detect` does, then read.
    let gzipped: Vec<Vec<u8>> = files
        .iter()
        .map(|f| {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut gz, f.as_bytes()).unwrap();
            gz.finish().unwrap()
        })
        .collect();
    let gunzip = |gz: &[u8]| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(gz), &mut text)
            .unwrap();
        vec![text]
    };
    println!(
        "gzipped log files: {:.0} MB",
        gzipped.iter().map(Vec::len).sum::<usize>() as f64 / 1e6
    );
    row(
        "gzipped log files, parsed into `Value` (before)",
        &mut || {
            let mut detector = new();
            let (mut n, mut found) = (0, 0);
            for gz in &gzipped {
                let (a, b) = detect_values(&gunzip(gz), &mut detector);
                n += a;
                found += b;
            }
            (n, found)
        },
    );
    let after_gz = row("gzipped log files, typed (after)", &mut || {
        let mut detector = new();
        let (mut n, mut found) = (0, 0);
        for gz in &gzipped {
            let (a, b) = detect_typed(&gunzip(gz), &mut detector);
            n += a;
            found += b;
        }
        (n, found)
    });
    assert_eq!(after_gz, parsed);
    assert_eq!(before, parsed);
    assert_eq!(after, parsed);
    assert_eq!(after_lines, parsed);
    row("log files, reading alone: `Value`", &mut || {
        let n = files
            .iter()
            .map(|t| rectify_detect::records(&serde_json::from_str::<Value>(t).unwrap()).len())
            .sum();
        (n, 0)
    });
    row("log files, reading alone: typed", &mut || {
        let mut stats = ReadStats::default();
        let n = files
            .iter()
            .map(|t| read_records(t, &mut stats).unwrap().len())
            .sum();
        (n, 0)
    });
    println!(
        "writing each record's EventBridge shape from its `Value` alone: {:.0} records per CPU-second ({} MB)",
        records.len() as f64 / shape,
        bytes / 1_000_000
    );
}
