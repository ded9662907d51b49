//! Records per second through the anomaly detector on one core, over the
//! labelled corpus of tests/support/anomaly_corpus.rs (eight hours of a
//! small estate, attacks included).
//!
//! ```text
//! cargo bench -p rectify-detect --bench anomaly
//! RECTIFY_BENCH_RUNS=5   runs per figure (default 5; the best is printed)
//! RECTIFY_BENCH_COPIES=4 the corpus fed this many times over, each copy a
//!                        day later (default 4)
//! ```
//!
//! Three figures, each a markdown row for docs/performance.md:
//! CloudTrail records already parsed (what `Detector::observe` costs),
//! CloudTrail log files from their bytes (JSON parsing included: the
//! end-to-end figure), and VPC flow log lines from their text.

// The allocator of the `rectify` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/support/anomaly_corpus.rs"]
mod corpus;

use std::time::{Duration, Instant};

use rectify_detect::anomaly::{AnomalyDetector, Kind};
use rectify_detect::run::{read_records, ReadStats};
use rectify_detect::{records, Detector, Record};
use serde_json::{json, Value};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The corpus `copies` times, each copy a day after the one before.
fn shifted(copies: usize) -> (Vec<Vec<Value>>, Vec<Vec<String>>) {
    let (ct, _) = corpus::cloudtrail(1, true);
    let (fl, _) = corpus::flows(1, true);
    let mut all_ct = Vec::new();
    let mut all_fl = Vec::new();
    for copy in 0..copies as i64 {
        let shift = copy * 86_400;
        for minute in &ct {
            all_ct.push(
                minute
                    .iter()
                    .map(|r| {
                        let mut r = r.clone();
                        let t = time::OffsetDateTime::parse(
                            r["eventTime"].as_str().unwrap(),
                            &time::format_description::well_known::Rfc3339,
                        )
                        .unwrap()
                            + time::Duration::seconds(shift);
                        r["eventTime"] = json!(t
                            .format(&time::format_description::well_known::Rfc3339)
                            .unwrap());
                        r
                    })
                    .collect(),
            );
        }
        for minute in &fl {
            all_fl.push(
                minute
                    .iter()
                    .map(|l| {
                        let mut f: Vec<String> = l.split(' ').map(str::to_string).collect();
                        for i in [10, 11] {
                            if let Ok(t) = f[i].parse::<i64>() {
                                f[i] = (t + shift).to_string();
                            }
                        }
                        f.join(" ")
                    })
                    .collect(),
            );
        }
    }
    (all_ct, all_fl)
}

/// Time this thread has spent on a CPU (Linux), so that the figure is
/// what one core does even when the machine is shared; wall time where
/// that is not readable.
fn cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// (best wall time, best CPU time, records, detections) over `runs`.
fn best_of(
    runs: usize,
    mut f: impl FnMut() -> (usize, usize),
) -> (Duration, Duration, usize, usize) {
    let (mut wall, mut cpu) = (Duration::MAX, Duration::MAX);
    let mut counted = (0, 0);
    for _ in 0..runs {
        let (start, start_cpu) = (Instant::now(), cpu_time());
        counted = f();
        wall = wall.min(start.elapsed());
        if let (Some(a), Some(b)) = (start_cpu, cpu_time()) {
            cpu = cpu.min(b - a);
        }
    }
    if cpu == Duration::MAX {
        cpu = wall;
    }
    (wall, cpu, counted.0, counted.1)
}

fn row(what: &str, (wall, cpu, n, detections): (Duration, Duration, usize, usize)) {
    println!(
        "| {what} | {n} | {detections} | {:.3} s | {:.3} s | {:.0} |",
        wall.as_secs_f64(),
        cpu.as_secs_f64(),
        n as f64 / cpu.as_secs_f64()
    );
}

/// The same records with every hour folded into one minute: sixty times
/// the records per bucket, as a busy estate has them, so that the cost
/// per record shows rather than the cost per bucket.
fn dense(ct: &[Vec<Value>]) -> Vec<Vec<Value>> {
    ct.chunks(60)
        .enumerate()
        .map(|(hour, minutes)| {
            let t = time::OffsetDateTime::from_unix_timestamp(corpus::START + hour as i64 * 60)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            minutes
                .iter()
                .flatten()
                .map(|r| {
                    let mut r = r.clone();
                    r["eventTime"] = json!(t);
                    r
                })
                .collect()
        })
        .collect()
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not used.
    let runs = env_usize("RECTIFY_BENCH_RUNS", 5);
    let copies = env_usize("RECTIFY_BENCH_COPIES", 4);
    let (ct, fl) = shifted(copies);
    let settings = corpus::settings();
    // One CloudTrail log file per minute, as CloudTrail delivers them
    // (it writes one about every five minutes per account and region).
    let files: Vec<Vec<u8>> = ct
        .iter()
        .map(|records| serde_json::to_vec(&json!({ "Records": records })).unwrap())
        .collect();
    let total_records: usize = ct.iter().map(Vec::len).sum();
    let total_lines: usize = fl.iter().map(Vec::len).sum();
    let bytes: usize = files.iter().map(Vec::len).sum();
    println!(
        "corpus: {total_records} CloudTrail records ({:.0} MB as log files), {total_lines} flow log lines, {} minutes, best of {runs} runs",
        bytes as f64 / 1e6,
        ct.len()
    );
    println!("| input | records | detections | wall time | CPU time | records per CPU second |");
    println!("|---|---|---|---|---|---|");

    let mut buckets = (0, 0);
    let parsed = best_of(runs, || {
        let mut d = AnomalyDetector::new(&settings, "us-east-1");
        let mut found = 0;
        for minute in &ct {
            for r in minute {
                found += d.observe(Record::new(r)).len();
            }
        }
        found += d.flush().len();
        buckets = [Kind::Principal, Kind::Account]
            .map(|k| d.model_stats(k))
            .iter()
            .map(|s| (s.buckets_closed, s.buckets_scored))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        (total_records, found)
    });
    row(
        "CloudTrail records, parsed (one bucket per 12 records)",
        parsed,
    );

    let counting = best_of(runs, || {
        let mut d = AnomalyDetector::new(
            &rectify_detect::anomaly::AnomalySettings {
                warmup_buckets: 100_000,
                ..settings.clone()
            },
            "us-east-1",
        );
        for minute in &ct {
            for r in minute {
                d.observe(Record::new(r));
            }
        }
        d.flush();
        (total_records, 0)
    });
    row(
        "CloudTrail records, parsed, counted only (no bucket scored)",
        counting,
    );
    let per_bucket = (parsed.1.as_secs_f64() - counting.1.as_secs_f64()) / buckets.0.max(1) as f64;

    let folded = dense(&ct);
    let dense_run = best_of(runs, || {
        let mut d = AnomalyDetector::new(&settings, "us-east-1");
        let mut found = 0;
        for minute in &folded {
            for r in minute {
                found += d.observe(Record::new(r)).len();
            }
        }
        found += d.flush().len();
        (total_records, found)
    });
    row(
        "CloudTrail records, parsed, an hour per minute (one bucket per 700 records)",
        dense_run,
    );

    let from_bytes = best_of(runs, || {
        let mut d = AnomalyDetector::new(&settings, "us-east-1");
        let (mut n, mut found) = (0, 0);
        for file in &files {
            let value: Value = serde_json::from_slice(file).unwrap();
            for r in records(&value) {
                n += 1;
                found += d.observe(Record::new(r)).len();
            }
        }
        found += d.flush().len();
        (n, found)
    });
    row(
        "CloudTrail log files, from bytes, parsed into `Value` (before)",
        from_bytes,
    );

    let from_bytes_typed = best_of(runs, || {
        let mut d = AnomalyDetector::new(&settings, "us-east-1");
        let (mut n, mut found) = (0, 0);
        let mut stats = ReadStats::default();
        for file in &files {
            let text = std::str::from_utf8(file).unwrap();
            for r in read_records(text, &mut stats).unwrap() {
                n += 1;
                found += d.observe(r).len();
            }
        }
        found += d.flush().len();
        (n, found)
    });
    row(
        "CloudTrail log files, from bytes, typed fields borrowed from the text (after)",
        from_bytes_typed,
    );
    assert_eq!(from_bytes.3, from_bytes_typed.3, "the same detections");

    let parse_only = best_of(runs, || {
        let mut n = 0;
        for file in &files {
            let value: Value = serde_json::from_slice(file).unwrap();
            n += records(&value).len();
        }
        (n, 0)
    });
    row(
        "CloudTrail log files, reading alone: `Value` (before)",
        parse_only,
    );

    let read_only = best_of(runs, || {
        let mut n = 0;
        let mut stats = ReadStats::default();
        for file in &files {
            let text = std::str::from_utf8(file).unwrap();
            n += read_records(text, &mut stats).unwrap().len();
        }
        (n, 0)
    });
    row(
        "CloudTrail log files, reading alone: typed (after)",
        read_only,
    );

    let flows = best_of(runs, || {
        let mut d = AnomalyDetector::new(&settings, "us-east-1");
        let mut found = 0;
        for minute in &fl {
            for line in minute {
                found += d.observe_flow(line).len();
            }
        }
        found += d.flush().len();
        (total_lines, found)
    });
    row("VPC flow log lines, from text", flows);

    // What a save costs once everything has been seen: every row written.
    let mut d = AnomalyDetector::new(&settings, "us-east-1");
    for (records, lines) in ct.iter().zip(&fl) {
        for r in records {
            d.observe(Record::new(r));
        }
        for line in lines {
            d.observe_flow(line);
        }
    }
    let start = Instant::now();
    let save = d.take_save();
    let took = start.elapsed();
    let bytes: usize = save
        .saves
        .iter()
        .flat_map(|(_, s)| s.upserts.iter().map(|(_, state)| state.len()))
        .sum();
    let forests: usize = save
        .saves
        .iter()
        .flat_map(|(_, s)| s.upserts.iter().filter(|(e, _)| e.is_empty()))
        .map(|(_, state)| state.len())
        .sum();
    println!(
        "\nCloudTrail buckets closed {} (scored {}): {:.0} microseconds of CPU per closed bucket beyond counting",
        buckets.0,
        buckets.1,
        per_bucket * 1e6
    );
    println!(
        "full save: {} rows, {:.1} MB ({:.1} MB of it the three forests), serialized in {:.0} ms",
        save.rows(),
        bytes as f64 / 1e6,
        forests as f64 / 1e6,
        took.as_secs_f64() * 1e3
    );
}
