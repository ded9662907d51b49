//! Runs the data-driven cases in `tests/conformance/*.json` through both the
//! reference matcher (`Pattern::matches`) and the compiled `Matcher`.
//!
//! A case is an object with `name` and either `pattern` (a JSON value) or
//! `pattern_text` (the exact text) or `pattern_text_repeat`
//! (`[head, piece, count, tail]`), and then either `matches` / `nomatch`
//! (lists of events), `error` (an error kind, optionally with `path` and
//! `offset`), or `ok: true` (the pattern must be accepted).

use event_pattern::{Limits, MatcherBuilder, Pattern};
use serde_json::Value;
use std::path::PathBuf;

fn pattern_text(case: &Value) -> String {
    if let Some(t) = case.get("pattern_text") {
        return t.as_str().expect("pattern_text is a string").to_string();
    }
    if let Some(r) = case.get("pattern_text_repeat") {
        let r = r.as_array().unwrap();
        let mut s = r[0].as_str().unwrap().to_string();
        for _ in 0..r[2].as_u64().unwrap() {
            s.push_str(r[1].as_str().unwrap());
        }
        s.push_str(r[3].as_str().unwrap());
        return s;
    }
    serde_json::to_string(&case["pattern"]).unwrap()
}

fn load() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let cases: Vec<Value> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let stem = f.file_stem().unwrap().to_string_lossy().to_string();
        for c in cases {
            out.push((format!("{stem}: {}", c["name"].as_str().unwrap()), c));
        }
    }
    out
}

fn events(case: &Value, key: &str) -> Vec<Value> {
    case.get(key)
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default()
}

#[test]
fn conformance_suite() {
    let cases = load();
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut all = Vec::new();
    for (name, case) in &cases {
        let text = pattern_text(case);
        let parsed = Pattern::parse(&text);
        if let Some(kind) = case.get("error") {
            match &parsed {
                Ok(_) => failures.push(format!("{name}: expected error {kind}, parsed fine")),
                Err(e) => {
                    if e.kind.name() != kind.as_str().unwrap() {
                        failures.push(format!("{name}: expected {kind}, got {e}"));
                    }
                    if let Some(p) = case.get("path") {
                        if e.path != p.as_str().unwrap() {
                            failures.push(format!("{name}: expected path {p}, got {:?}", e.path));
                        }
                    }
                    if let Some(o) = case.get("offset") {
                        if e.offset != Some(o.as_u64().unwrap() as usize) {
                            failures
                                .push(format!("{name}: expected offset {o}, got {:?}", e.offset));
                        }
                    }
                    assert!(!e.to_string().is_empty());
                    // The same error kind from an already-parsed JSON value.
                    if let Ok(v) = serde_json::from_str::<Value>(&text) {
                        match Pattern::from_value(&v) {
                            Ok(_) => failures.push(format!("{name}: from_value accepted it")),
                            Err(e2) => {
                                if e2.kind != e.kind {
                                    failures.push(format!(
                                        "{name}: from_value gave {e2}, text gave {e}"
                                    ));
                                }
                            }
                        }
                    }
                }
            }
            checked += 1;
            continue;
        }
        let p = match parsed {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{name}: unexpected error {e}"));
                continue;
            }
        };
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            match Pattern::from_value(&v) {
                Ok(p2) => {
                    if p2 != p {
                        failures.push(format!("{name}: from_value differs from parse"));
                    }
                }
                Err(e) => failures.push(format!("{name}: from_value error {e}")),
            }
        }
        let mut b = MatcherBuilder::new();
        b.add(0, &p);
        let m = b.build();
        for (key, want) in [("matches", true), ("nomatch", false)] {
            for ev in events(case, key) {
                checked += 1;
                if p.matches(&ev) != want {
                    failures.push(format!(
                        "{name}: Pattern::matches should be {want} for {ev}"
                    ));
                }
                if m.matches(&ev).contains(&0) != want {
                    failures.push(format!("{name}: Matcher should be {want} for {ev}"));
                }
                let mut out = Vec::new();
                match m.matches_json(ev.to_string().as_bytes(), &mut out) {
                    Ok(()) if out.contains(&0) == want => {}
                    r => failures.push(format!(
                        "{name}: Matcher::matches_json should be {want} for {ev}: {r:?}"
                    )),
                }
            }
        }
        all.push((p, case.clone()));
    }
    // All valid patterns in one matcher: every event's match set must equal
    // the set computed pattern by pattern.
    let mut b = MatcherBuilder::new();
    for (i, (p, _)) in all.iter().enumerate() {
        b.add(i, p);
    }
    let m = b.build();
    assert_eq!(m.len(), all.len());
    for (_, case) in &all {
        for ev in events(case, "matches")
            .into_iter()
            .chain(events(case, "nomatch"))
        {
            let want: Vec<usize> = all
                .iter()
                .enumerate()
                .filter(|(_, (p, _))| p.matches(&ev))
                .map(|(i, _)| i)
                .collect();
            let got = m.matches(&ev);
            if got != want {
                failures.push(format!(
                    "combined matcher on {ev}: got {got:?}, want {want:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} conformance failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 200, "only {checked} checks ran");
}

#[test]
fn custom_length_limit() {
    let p = r#"{"source": ["aws.securityhub"]}"#;
    let e = Pattern::parse_with(
        p,
        &Limits {
            max_pattern_chars: 10,
        },
    )
    .unwrap_err();
    assert_eq!(e.kind, event_pattern::ErrorKind::PatternTooLong);
    assert!(Pattern::parse_with(
        p,
        &Limits {
            max_pattern_chars: p.len()
        }
    )
    .is_ok());
}

#[test]
fn error_display_mentions_path_and_offset() {
    let e = Pattern::parse(r#"{"detail": {"state": []}}"#).unwrap_err();
    let s = e.to_string();
    assert!(
        s.contains("EmptyArray") && s.contains("detail.state") && s.contains("21"),
        "{s}"
    );
    let _: &dyn std::error::Error = &e;
}

#[test]
fn public_types_are_thread_safe() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<event_pattern::Matcher>();
    send_sync::<Pattern>();
    send_sync::<event_pattern::Error>();
}
