//! The match path must not allocate per event for exact and prefix patterns
//! once `matches_into` is given a vector with capacity.

use event_pattern::{MatcherBuilder, Pattern};
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNT_HERE: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNT_HERE.with(|c| c.get()) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn finding(control: &str, label: &str, rtype: &str, n: usize) -> serde_json::Value {
    json!({
        "version": "0", "id": format!("id-{n}"), "detail-type": "Security Hub Findings - Imported",
        "source": "aws.securityhub", "account": "123456789012", "region": "us-east-1",
        "resources": [format!("arn:aws:securityhub:us-east-1:123456789012:finding/{n}")],
        "detail": {"findings": [{
            "AwsAccountId": "123456789012",
            "Compliance": {"Status": "FAILED", "SecurityControlId": control},
            "Severity": {"Label": label, "Normalized": 70},
            "Resources": [{"Type": "AwsAccount", "Id": "AWS::::Account:123456789012"},
                          {"Type": rtype, "Id": format!("arn:aws:s3:::bucket-{n}"), "Region": "us-east-1"}],
            "Workflow": {"Status": "NEW"}, "RecordState": "ACTIVE",
            "Title": "S3 general purpose buckets should block public access"
        }]}
    })
}

#[test]
fn no_allocation_per_event_for_exact_and_prefix() {
    let mut b = MatcherBuilder::new();
    let mut id = 0;
    for c in ["S3.1", "S3.8", "EC2.19", "IAM.1", "Lambda.1"] {
        for l in ["HIGH", "CRITICAL", "MEDIUM"] {
            let p = Pattern::parse(&format!(
                r#"{{"source": ["aws.securityhub"], "detail": {{"findings": {{
                    "Compliance": {{"SecurityControlId": ["{c}"], "Status": ["FAILED"]}},
                    "Severity": {{"Label": ["{l}"]}},
                    "Resources": {{"Type": ["AwsS3Bucket"], "Id": [{{"prefix": "arn:aws:s3:::bucket-"}}]}}}}}}}}"#
            ))
            .unwrap();
            b.add(id, &p);
            id += 1;
        }
        let p = Pattern::parse(&format!(
            r#"{{"detail": {{"findings": {{"Compliance": {{"SecurityControlId": [{{"prefix": "{}"}}]}}}}}}}}"#,
            &c[..2]
        ))
        .unwrap();
        b.add(id, &p);
        id += 1;
    }
    let m = b.build();
    let events: Vec<_> = (0..50)
        .map(|n| {
            finding(
                ["S3.1", "S3.8", "EC2.19", "IAM.9"][n % 4],
                ["HIGH", "CRITICAL", "LOW"][n % 3],
                ["AwsS3Bucket", "AwsEc2Instance"][n % 2],
                n,
            )
        })
        .collect();
    let mut out = Vec::with_capacity(64);
    // Warm up the per-thread scratch buffers.
    let mut total = 0;
    for e in &events {
        m.matches_into(e, &mut out);
        total += out.len();
    }
    assert!(total > 0);
    COUNT_HERE.with(|c| c.set(true));
    let mut total2 = 0;
    for _ in 0..20 {
        for e in &events {
            m.matches_into(e, &mut out);
            total2 += out.len();
        }
    }
    COUNT_HERE.with(|c| c.set(false));
    assert_eq!(total2, total * 20);
    assert_eq!(
        ALLOCS.load(Ordering::Relaxed),
        0,
        "allocations on the match path"
    );
    // The counter does see allocations: `matches` returns a fresh Vec.
    COUNT_HERE.with(|c| c.set(true));
    let v = m.matches(&events[0]);
    COUNT_HERE.with(|c| c.set(false));
    assert!(!v.is_empty());
    assert!(ALLOCS.load(Ordering::Relaxed) > 0);
}
