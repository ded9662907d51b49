//! Any text: parsing must return a pattern or an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = event_pattern::Pattern::parse(text) {
            // A pattern that parsed from text also validates as a JSON value.
            let v: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
            assert!(event_pattern::Pattern::from_value(&v).is_ok() || text.len() > 4096);
            let _ = p.alternatives();
        }
    }
});
