#[path = "../benches/support/mod.rs"]
mod support;
use event_pattern::{MatcherBuilder, Pattern};
use std::time::Instant;
fn main() {
    let events = support::events(42, 1000);
    let lines: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let rules = support::rules(1000 + n as u64, n);
    let mut b = MatcherBuilder::new();
    for (i, r) in rules.iter().enumerate() { b.add(i, &Pattern::from_value(r).unwrap()); }
    let m = b.build();
    let mut out = Vec::with_capacity(100);
    let mut ba = f64::MAX;
    for _ in 0..100 {
        let t = Instant::now();
        for l in &lines { m.matches_json(l.as_bytes(), &mut out).unwrap(); }
        ba = ba.min(t.elapsed().as_nanos() as f64 / 1000.0);
    }
    println!("n {n} json {ba:.0} ns");
}
