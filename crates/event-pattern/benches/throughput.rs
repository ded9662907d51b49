//! Throughput of the compiled matcher on a seeded corpus of realistic
//! events, against a naive loop over patterns and the `quamina` crate.
//!
//! Run: `cargo bench -p event-pattern --bench throughput`
//! Environment: `EP_BENCH_EVENTS` (default 200000), `EP_BENCH_NAIVE_EVENTS`
//! (default 2000), `EP_BENCH_PASSES` (timed passes per figure, the best is
//! kept; default 3), `EP_BENCH_DIR` (where the corpus is written; default the
//! system temp dir).

mod support;

use event_pattern::{MatcherBuilder, Pattern};
use std::hint::black_box;
use std::io::Write;
use std::time::Instant;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn ns_per(elapsed: std::time::Duration, n: usize) -> f64 {
    elapsed.as_nanos() as f64 / n as f64
}

/// The fastest of `passes` runs (the machine is shared; the minimum is the
/// least disturbed figure).
fn best(passes: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..passes.max(1)).map(|_| f()).fold(f64::MAX, f64::min)
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let n_events = env_usize("EP_BENCH_EVENTS", 200_000);
    let n_naive = env_usize("EP_BENCH_NAIVE_EVENTS", 2_000).min(n_events);
    let passes = env_usize("EP_BENCH_PASSES", 3);
    let dir = std::env::var("EP_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("event-pattern-bench"));
    std::fs::create_dir_all(&dir).unwrap();

    let t = Instant::now();
    let events = support::events(42, n_events);
    let lines: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let path = dir.join("events.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for l in &lines {
        writeln!(f, "{l}").unwrap();
    }
    f.flush().unwrap();
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    println!(
        "corpus: {} events, {:.0} bytes/event on average, written to {} in {:.1}s",
        n_events,
        bytes as f64 / n_events as f64,
        path.display(),
        t.elapsed().as_secs_f64()
    );

    println!();
    println!("| rules | states | matches/event | Matcher::matches_json, from JSON text (ns/event) | events/s | Matcher::matches_into, parsed Value (ns/event) | serde_json parse + matches_into (ns/event) | quamina from JSON text (ns/event) | quamina rules accepted | quamina time / matches_json time | naive loop of Pattern::matches (ns/event) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut out = Vec::with_capacity(1024);
    let sets: Vec<usize> = std::env::var("EP_BENCH_SETS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 100, 1_000, 10_000]);
    for &n_rules in &sets {
        let rules = support::rules(1_000 + n_rules as u64, n_rules);
        let texts: Vec<String> = rules
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect();
        let patterns: Vec<Pattern> = texts.iter().map(|t| Pattern::parse(t).unwrap()).collect();
        let mut b = MatcherBuilder::new();
        for (i, p) in patterns.iter().enumerate() {
            b.add(i, p);
        }
        let m = b.build();

        let mut q = quamina::Quamina::<usize>::new();
        let mut accepted = 0;
        for (i, t) in texts.iter().enumerate() {
            if q.add_pattern(i, t).is_ok() {
                accepted += 1;
            }
        }

        // The naive loop, which also checks the compiled matcher's answers.
        let t = Instant::now();
        let naive_results: Vec<Vec<usize>> = events[..n_naive]
            .iter()
            .map(|e| {
                patterns
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.matches(e))
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();
        let naive = ns_per(t.elapsed(), n_naive);
        for (e, want) in events[..n_naive].iter().zip(&naive_results) {
            assert_eq!(&m.matches(e), want, "compiled and naive disagree");
        }

        // Compiled matcher on already-parsed events (warm-up, then timed).
        for e in events.iter().take(10_000) {
            m.matches_into(e, &mut out);
        }
        let mut hits = 0usize;
        let compiled = best(passes, || {
            hits = 0;
            let t = Instant::now();
            for e in &events {
                m.matches_into(black_box(e), &mut out);
                hits += out.len();
            }
            ns_per(t.elapsed(), n_events)
        });

        // Compiled matcher straight from JSON text.
        for l in lines.iter().take(10_000) {
            m.matches_json(l.as_bytes(), &mut out).unwrap();
        }
        let from_text = best(passes, || {
            let t = Instant::now();
            for l in &lines {
                m.matches_json(black_box(l.as_bytes()), &mut out).unwrap();
                black_box(&out);
            }
            ns_per(t.elapsed(), n_events)
        });

        // Compiled matcher including a serde_json parse of each event.
        let t = Instant::now();
        for l in &lines {
            let v: serde_json::Value = serde_json::from_str(black_box(l)).unwrap();
            m.matches_into(&v, &mut out);
            black_box(&out);
        }
        let with_parse = ns_per(t.elapsed(), n_events);

        // quamina 0.7 can panic on large rule sets; report that instead.
        let quamina = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for l in lines.iter().take(10_000) {
                black_box(q.matches_for_event(l.as_bytes()).unwrap());
            }
            best(passes, || {
                let t = Instant::now();
                for l in &lines {
                    black_box(q.matches_for_event(black_box(l.as_bytes())).unwrap());
                }
                ns_per(t.elapsed(), n_events)
            })
        }))
        .ok();

        let (q_ns, ratio) = match quamina {
            Some(q) => (format!("{q:.0}"), format!("{:.1}x", q / from_text)),
            None => ("panicked".to_string(), "-".to_string()),
        };
        println!(
            "| {} | {} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {}/{} | {} | {:.0} |",
            n_rules,
            m.state_count(),
            hits as f64 / n_events as f64,
            from_text,
            1e9 / from_text,
            compiled,
            with_parse,
            q_ns,
            accepted,
            n_rules,
            ratio,
            naive
        );
    }
}
