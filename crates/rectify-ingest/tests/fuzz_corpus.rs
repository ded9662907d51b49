//! Replays the `parse_body` fuzz corpus (`fuzz/corpus/parse_body/`) on
//! stable, through the same invariants as the fuzz target, and checks the
//! answer each file's name announces: `accept-*` must give events,
//! `refuse-<Kind>-*` an `IngestError::<Kind>`, `any-*` only no panic.

#[path = "../fuzz/fuzz_targets/invariants.rs"]
mod invariants;

use rectify_ingest::{parse_body, IngestError, Limits};
use std::path::PathBuf;

/// The variant's name, as used in the corpus file names.
fn kind(e: &IngestError) -> &'static str {
    match e {
        IngestError::Empty => "Empty",
        IngestError::Malformed { .. } => "Malformed",
        IngestError::TooLarge { .. } => "TooLarge",
        IngestError::Invalid { .. } => "Invalid",
        IngestError::TooManyFindings { .. } => "TooManyFindings",
        IngestError::TooManyEvents { .. } => "TooManyEvents",
        IngestError::Unstorable { .. } => "Unstorable",
        IngestError::ReservedSource { .. } => "ReservedSource",
    }
}

#[test]
fn parse_body_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse_body");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let limits = Limits::default();
    let (mut accepted, mut refused) = (0, 0);
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let body = std::fs::read(path).unwrap();
        let result = parse_body(&body, &limits);
        invariants::check(&result, &limits);
        if name.starts_with("accept-") {
            let events = result.unwrap_or_else(|e| panic!("{name}: refused: {e}"));
            assert!(!events.is_empty(), "{name}");
            accepted += 1;
        } else if let Some(rest) = name.strip_prefix("refuse-") {
            let want = rest.split('-').next().unwrap();
            match result {
                Ok(events) => panic!("{name}: accepted {} events", events.len()),
                Err(e) => assert_eq!(kind(&e), want, "{name}: {e}"),
            }
            refused += 1;
        } else {
            assert!(
                name.starts_with("any-"),
                "{name}: name it accept-, refuse-<Kind>- or any-"
            );
        }
    }
    assert!(
        accepted >= 5 && refused >= 10,
        "{accepted} accepted, {refused} refused"
    );
}
