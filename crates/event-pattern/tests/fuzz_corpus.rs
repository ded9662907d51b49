//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the same checks
//! as the fuzz targets, so they also run on stable in every `cargo test`.

use event_pattern::{MatcherBuilder, Pattern};
use std::path::PathBuf;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// JSON values in `v` (every object, array and scalar).
fn size(v: &serde_json::Value) -> u64 {
    1 + match v {
        serde_json::Value::Object(m) => m.values().map(size).sum(),
        serde_json::Value::Array(a) => a.iter().map(size).sum(),
        _ => 0,
    }
}

#[test]
fn parse_corpus() {
    let inputs = corpus("parse");
    assert!(!inputs.is_empty());
    for data in inputs {
        if let Ok(text) = std::str::from_utf8(&data) {
            if Pattern::parse(text).is_ok() {
                let v: serde_json::Value = serde_json::from_str(text).unwrap();
                assert!(Pattern::from_value(&v).is_ok() || text.len() > 4096);
            }
        }
    }
}

#[test]
fn matching_corpus() {
    let inputs = corpus("matching");
    assert!(!inputs.is_empty());
    let mut compared = 0;
    for data in inputs {
        let Some(nl) = data.iter().position(|&b| b == b'\n') else {
            continue;
        };
        let (pat, event) = (&data[..nl], &data[nl + 1..]);
        let Ok(pat) = std::str::from_utf8(pat) else {
            continue;
        };
        let Ok(p) = Pattern::parse(pat) else {
            continue;
        };
        let mut b = MatcherBuilder::new();
        b.add(1, &p);
        let m = b.build();
        let mut out = Vec::new();
        let _ = m.matches_json(event, &mut out);
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(event) {
            let steps = m
                .try_matches_into(&v, &mut out)
                .expect("within the step budget");
            assert_eq!(out == vec![1], p.matches(&v));
            // Linear in the event (see tests/linear_steps.rs); the pattern's
            // JSON values times its alternatives bound its field tests.
            let pv: serde_json::Value = serde_json::from_str(pat).unwrap();
            let tests = size(&pv) * p.alternatives() as u64;
            assert!(steps <= 2 * (size(&v) + 1) * (tests + 1), "{steps} steps");
            compared += 1;
        }
    }
    assert!(compared > 0);
}
