//! The hardest events we know how to build within EventBridge's 256 KB
//! event limit, matched against the 10,000-rule set of the throughput
//! bench. Every event must match in under 10 ms.
//!
//! Run: `cargo bench -p event-pattern --bench worst_case`
//! Environment: `EP_WORST_BYTES` (largest event, default 262144),
//! `EP_WORST_PASSES` (timed passes per event, the best is kept; default 20),
//! `EP_WORST_RULES` (default 10000).

// Shared with the throughput bench, which uses the event generators too.
#[allow(dead_code)]
mod support;

use event_pattern::{MatcherBuilder, Pattern};
use serde_json::{json, Value};
use std::hint::black_box;
use std::time::Instant;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// Every value the rule set tests exactly (or nearly: prefixes, suffixes,
/// numeric ranges), so that each array element opens as many paths as it can.
fn controls() -> Vec<String> {
    support::SERVICES
        .iter()
        .flat_map(|s| (1..=40).map(move |i| format!("{s}.{i}")))
        .collect()
}

/// The largest `n` for which `make(n)` serializes within `limit` bytes.
fn largest(limit: usize, make: &dyn Fn(usize) -> Value) -> (usize, String) {
    let (mut lo, mut hi) = (1usize, 1usize);
    // (An event that does not grow with `n` stops the doubling at 2^20.)
    while hi < 1 << 20 && serde_json::to_string(&make(hi)).unwrap().len() <= limit {
        lo = hi;
        hi *= 2;
    }
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if serde_json::to_string(&make(mid)).unwrap().len() <= limit {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo, serde_json::to_string(&make(lo)).unwrap())
}

fn cycle<T: Clone>(xs: &[T], n: usize) -> Vec<T> {
    (0..n).map(|i| xs[i % xs.len()].clone()).collect()
}

fn envelope(detail: Value) -> Value {
    json!({"version": "0", "id": "6f4e2ab0-0000-4000-a000-000000000001",
           "detail-type": "Security Hub Findings - Imported", "source": "aws.securityhub",
           "account": "111111111111", "time": "2025-01-01T00:00:00Z", "region": "eu-west-1",
           "resources": [], "detail": detail})
}

/// One finding whose every tested field is an array of `n` plain values:
/// the case that was exponential in the number of such fields.
fn plain_arrays(n: usize) -> Value {
    let ctl = controls();
    let accts = support::accounts();
    let types: Vec<&str> = support::RESOURCE_TYPES.to_vec();
    let finding = json!({
        "Compliance": {"SecurityControlId": cycle(&ctl, n), "Status": cycle(&["FAILED", "PASSED"], n)},
        "RecordState": cycle(&["ACTIVE", "ARCHIVED"], n),
        "Workflow": {"Status": cycle(support::WORKFLOW, n)},
        "Severity": {"Label": cycle(support::LABELS, n), "Normalized": (0..n).map(|i| i % 101).collect::<Vec<_>>()},
        "AwsAccountId": cycle(&accts, n),
        "Resources": {"Type": cycle(&types, n),
                      "Id": (0..n).map(|i| format!("arn:aws:s3:::bucket-{i}")).collect::<Vec<_>>(),
                      "Region": cycle(support::REGIONS, n),
                      "Tags": {"env": cycle(&["PROD", "prod"], n)}},
        "Title": cycle(&["x configured securely"], n),
    });
    let mut e = envelope(json!({"findings": [finding]}));
    e["source"] = json!(cycle(
        &["aws.securityhub", "aws.guardduty", "aws.config"],
        n
    ));
    e["detail-type"] = json!(cycle(
        &["Security Hub Findings - Imported", "GuardDuty Finding"],
        n
    ));
    e
}

/// One finding per element, each matching many rules on every field.
fn finding(i: usize) -> Value {
    let ctl = controls();
    let accts = support::accounts();
    json!({
        "Compliance": {"SecurityControlId": ctl[i % ctl.len()], "Status": "FAILED"},
        "RecordState": "ACTIVE", "Workflow": {"Status": "NEW"},
        "Severity": {"Label": support::LABELS[i % 5], "Normalized": (i * 7) % 101},
        "AwsAccountId": accts[i % accts.len()],
        "Resources": [{"Type": support::RESOURCE_TYPES[i % support::RESOURCE_TYPES.len()],
                       "Id": format!("arn:aws:s3:::bucket-{i}"), "Region": "eu-west-1",
                       "Tags": {"env": "PROD"}}]
    })
}

/// Many findings (an array of objects under patterns with several fields).
fn many_findings(n: usize) -> Value {
    envelope(json!({"findings": (0..n).map(finding).collect::<Vec<_>>()}))
}

/// Findings whose own fields are short arrays: objects and plain arrays mixed.
fn findings_of_arrays(n: usize) -> Value {
    let ctl = controls();
    let fs: Vec<Value> = (0..n)
        .map(|i| {
            let mut f = finding(i);
            f["Compliance"]["SecurityControlId"] = json!([
                ctl[i % ctl.len()],
                ctl[(i + 1) % ctl.len()],
                ctl[(i + 2) % ctl.len()]
            ]);
            f["Severity"]["Label"] = json!(support::LABELS);
            f["Workflow"]["Status"] = json!(["NEW", "NOTIFIED"]);
            f["AwsAccountId"] = json!(support::accounts()[..3]);
            f
        })
        .collect();
    envelope(json!({"findings": fs}))
}

/// Findings at the bottom of arrays nested 100 deep, and an unrelated
/// object nested 100 deep (`serde_json` parses at most 128 levels).
fn nested(n: usize) -> Value {
    let mut fs = json!((0..n).map(finding).collect::<Vec<_>>());
    for _ in 0..100 {
        fs = json!([fs]);
    }
    let mut deep = json!("x");
    for _ in 0..100 {
        deep = json!({ "x": deep });
    }
    envelope(json!({"findings": fs, "deep": deep}))
}

/// The fields of every rule family as plain arrays, in one event.
fn every_family(n: usize) -> Value {
    let accts = support::accounts();
    let calls: Vec<&str> = support::CT_CALLS.iter().map(|c| c.1).collect();
    let srcs: Vec<String> = support::CT_CALLS
        .iter()
        .map(|c| format!("{}.amazonaws.com", c.0))
        .collect();
    let mut e = plain_arrays(n);
    e["account"] = json!(cycle(&accts, n));
    e["detail"]["type"] = json!(cycle(support::GD_TYPES, n));
    e["detail"]["accountId"] = json!(cycle(&accts, n));
    e["detail"]["severity"] = json!((0..n).map(|i| i % 9).collect::<Vec<_>>());
    e["detail"]["eventSource"] = json!(cycle(&srcs, n));
    e["detail"]["eventName"] = json!(cycle(&calls, n));
    e["detail"]["sourceIPAddress"] = json!((0..n)
        .map(|i| format!("10.{}.0.{}", i % 256, i % 200))
        .collect::<Vec<_>>());
    e["detail"]["awsAccountId"] = json!(cycle(&accts, n));
    e["detail"]["configRuleName"] = json!(cycle(support::CONFIG_RULES, n));
    e["detail"]["newEvaluationResult"] = json!({"complianceType": cycle(&["NON_COMPLIANT"], n)});
    e
}

fn main() {
    let limit = env_usize("EP_WORST_BYTES", 256 * 1024);
    let passes = env_usize("EP_WORST_PASSES", 20);
    let n_rules = env_usize("EP_WORST_RULES", 10_000);
    // The same rule set as the throughput bench's 10,000-rule row.
    let rules = support::rules(1_000 + n_rules as u64, n_rules);
    let mut b = MatcherBuilder::new();
    for (i, r) in rules.iter().enumerate() {
        b.add(i, &Pattern::from_value(r).unwrap());
    }
    let m = b.build();

    type Make = fn(usize) -> Value;
    let cases: [(&str, Make); 6] = [
        ("plain arrays on every Security Hub field", plain_arrays),
        (
            "plain arrays on every field of every rule family",
            every_family,
        ),
        ("many findings (array of objects)", many_findings),
        (
            "many findings, each field a short array",
            findings_of_arrays,
        ),
        ("findings under arrays nested 100 deep", nested),
        ("one realistic finding", |_| many_findings(1)),
    ];
    println!(
        "{} rules, {} states, events of at most {limit} bytes, best of {passes} passes",
        m.len(),
        m.state_count()
    );
    println!();
    println!(
        "| event | size (bytes) | n | matches | steps | matches_json (ms) | matches_into (ms) | under 10 ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    let mut out = Vec::new();
    for (name, make) in cases {
        let (n, text) = largest(limit, &make);
        assert!(text.len() <= limit);
        let value: Value = serde_json::from_str(&text).unwrap();
        let time = |f: &mut dyn FnMut()| {
            (0..passes.max(1))
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed().as_secs_f64() * 1e3
                })
                .fold(f64::MAX, f64::min)
        };
        let mut hits = 0;
        let json_ms = time(&mut || {
            m.matches_json(black_box(text.as_bytes()), &mut out)
                .unwrap();
            hits = out.len();
        });
        let mut steps = 0;
        let value_ms = time(&mut || {
            steps = m.try_matches_into(black_box(&value), &mut out).unwrap();
        });
        assert_eq!(out.len(), hits, "matches_json and matches_into disagree");
        let under = if json_ms.max(value_ms) < 10.0 {
            "yes"
        } else {
            "NO"
        };
        println!(
            "| {name} | {} | {n} | {hits} | {steps} | {json_ms:.3} | {value_ms:.3} | {under} |",
            text.len()
        );
    }
}
