//! The first line is a pattern, the rest an event. Matching must not panic,
//! and when the event is valid JSON the compiled matcher must agree with
//! the reference matcher and take steps linear in the event (see
//! tests/linear_steps.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(nl) = data.iter().position(|&b| b == b'\n') else {
        return;
    };
    let (pat, event) = (&data[..nl], &data[nl + 1..]);
    let Ok(pat) = std::str::from_utf8(pat) else {
        return;
    };
    let Ok(p) = event_pattern::Pattern::parse(pat) else {
        return;
    };
    let mut b = event_pattern::MatcherBuilder::new();
    b.add(1, &p);
    let m = b.build();
    let mut out = Vec::new();
    let _ = m.matches_json(event, &mut out);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(event) {
        let want = p.matches(&v);
        let steps = m
            .try_matches_into(&v, &mut out)
            .expect("within the step budget");
        assert_eq!(out == vec![1], want);
        let pv: serde_json::Value = serde_json::from_str(pat).expect("parsed above");
        let tests = size(&pv) * p.alternatives() as u64;
        assert!(steps <= 2 * (size(&v) + 1) * (tests + 1));
    }
});

/// JSON values in `v` (every object, array and scalar).
fn size(v: &serde_json::Value) -> u64 {
    1 + match v {
        serde_json::Value::Object(m) => m.values().map(size).sum(),
        serde_json::Value::Array(a) => a.iter().map(size).sum(),
        _ => 0,
    }
}
