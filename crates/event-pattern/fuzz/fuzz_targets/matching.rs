//! The first line is a pattern, the rest an event. Matching must not panic,
//! and when the event is valid JSON the compiled matcher must agree with
//! the reference matcher.
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
        assert_eq!(m.matches(&v) == vec![1], want);
    }
});
