//! Any bytes as an HTTP body: `parse_body` must return events or a typed
//! refusal, never panic, and what it accepts must be storable (see
//! `invariants.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

mod invariants;

fuzz_target!(|data: &[u8]| {
    let limits = rectify_ingest::Limits::default();
    let result = rectify_ingest::parse_body(data, &limits);
    invariants::check(&result, &limits);
});
