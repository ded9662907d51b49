//! Hostile input: wrong types, huge values, absurd times, floods of
//! distinct entities and values. Nothing panics, and what the detector
//! holds stays within its bounds.

use serde_json::{json, Value};

use super::*;
use crate::Detector;

fn settings(max_entities: u64) -> AnomalySettings {
    AnomalySettings {
        enabled: true,
        max_entities,
        warmup_buckets: 2,
        ..Default::default()
    }
}

fn record(principal: &str, minute: i64, api: &str, ip: &str) -> Value {
    json!({
        "eventTime": super::report::rfc3339(minute * 60),
        "eventSource": "ec2.amazonaws.com",
        "eventName": api,
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip,
        "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "arn": principal, "accountId": "111122223333"}
    })
}

/// Per entity: its key, its seen sets at their caps, a full bucket.
fn max_per_entity(kind: Kind) -> usize {
    model::MAX_KEY + kind.seen_sets().iter().map(|(_, cap)| cap).sum::<usize>() + 1024 + 8 * 128 + 1
}

#[test]
fn a_flood_of_distinct_principals_keeps_the_cap() {
    let mut d = AnomalyDetector::new(&settings(500), "us-east-1");
    for i in 0..30_000i64 {
        let r = record(
            &format!("arn:aws:iam::111122223333:user/u{i}"),
            29_000_000 + i / 1000,
            "DescribeInstances",
            "203.0.113.9",
        );
        d.observe(Record::new(&r));
    }
    let stats = d.model_stats(Kind::Principal);
    assert_eq!(stats.entities, 500);
    assert_eq!(stats.evicted, 29_500);
    // The account is one entity.
    assert_eq!(d.model_stats(Kind::Account).entities, 1);
    assert!(d.principals.footprint() <= 500 * max_per_entity(Kind::Principal) + 4096);
    // Too many dropped to list: the next save rewrites the kind.
    let save = d.take_save();
    let principal = &save.saves[0].1;
    assert!(principal.replace_all);
    assert!(principal.removed.is_empty());
    assert_eq!(principal.upserts.len(), 501);
}

#[test]
fn one_principal_touching_everything_stays_bounded() {
    let mut d = AnomalyDetector::new(&settings(10), "us-east-1");
    let who = "arn:aws:iam::111122223333:user/noisy";
    for i in 0..30_000i64 {
        let mut r = record(
            who,
            29_000_000 + i / 10_000,
            &format!("Api{i}"),
            &format!("{}.{}.{}.1", i % 200, (i / 200) % 250, i % 7),
        );
        r["awsRegion"] = json!(format!("xx-region-{i}"));
        d.observe(Record::new(&r));
    }
    assert!(d.principals.footprint() <= max_per_entity(Kind::Principal));
    assert!(d.accounts.footprint() <= max_per_entity(Kind::Account));
    let entity = d.principals.entities.values().next().unwrap();
    for (set, (_, cap)) in entity.seen.iter().zip(Kind::Principal.seen_sets()) {
        assert!(set.len() <= *cap);
    }
}

#[test]
fn wrong_types_long_strings_and_absurd_times_do_not_panic() {
    let mut d = AnomalyDetector::new(&settings(100), "us-east-1");
    let long = "x".repeat(1_000_000);
    let inputs = [
        json!({"eventTime": 12, "eventName": "A", "eventSource": "s"}),
        json!({"eventTime": "not a time", "eventName": "A", "eventSource": "s"}),
        json!({"eventTime": "2026-12-06T07:00:00Z", "eventName": 7, "userIdentity": "root"}),
        json!({"eventTime": "2026-12-06T07:00:00Z", "userIdentity": {"arn": ["a"]}, "recipientAccountId": {"x": 1}}),
        json!({"eventTime": "2026-12-06T07:00:00Z", "userIdentity": {"arn": long.clone()}, "sourceIPAddress": long.clone(), "awsRegion": long.clone(), "eventName": long.clone()}),
        json!({"eventTime": "9999-12-31T23:59:59Z", "userIdentity": {"arn": "arn:aws:iam::1:user/t"}, "eventName": "A"}),
        json!({"eventTime": "0001-01-01T00:00:00Z", "userIdentity": {"arn": "arn:aws:iam::1:user/t"}, "eventName": "A"}),
        json!({"eventTime": "2026-12-06T07:00:00Z", "userIdentity": {"arn": "arn:aws:iam::1:user/t"}, "responseElements": {"ConsoleLogin": 5}}),
        json!(null),
        json!([1, 2, 3]),
        json!("string"),
    ];
    for _ in 0..5 {
        for input in &inputs {
            d.observe(Record::new(input));
        }
    }
    d.flush();
    assert_eq!(d.stats().records_without_time, 25);
    for key in d.principals.entities.keys() {
        assert!(key.len() <= model::MAX_KEY);
    }
    let save = d.take_save();
    assert!(save.rows() > 0);
}

#[test]
fn hostile_flow_lines_do_not_panic_and_sources_stay_capped() {
    let mut d = AnomalyDetector::new(&settings(500), "us-east-1");
    let lines = [
        "2 1 eni-1 10.0.1.5 10.0.2.6 1 2 6 99999999999999999999999 99999999999999999999999 1796540400 1796540460 ACCEPT OK",
        "2 1 eni-1 10.0.1.5 10.0.2.6 1 2 6 1 1 9223372036854775807 9223372036854775807 ACCEPT OK",
        "2 1 eni-1 10.0.1.5 10.0.2.6 1 2 6 1 1 -9223372036854775808 0 REJECT OK",
        "2 1 eni-1 10.0.1.5 10.0.2.6 1 2 6 1 1 1796540400 1796540460 ACCEPT OK",
        "garbage",
        "",
    ];
    for _ in 0..10 {
        for l in lines {
            d.observe_flow(l);
        }
    }
    assert_eq!(d.stats().flow_lines_refused, 10);
    // Many distinct internal sources.
    for i in 0..60_000u32 {
        let [_, b, c, e] = i.to_be_bytes();
        let line = format!(
            "2 1 eni-{} 10.{b}.{c}.{e} 10.9.9.9 40000 443 6 1 100 {} 0 ACCEPT OK",
            i % 50,
            1_796_540_400 + i64::from(i / 1_000) * 60
        );
        d.observe_flow(&line);
    }
    let stats = d.model_stats(Kind::Flow);
    assert_eq!(stats.entities, 500);
    assert!(d.flows.footprint() <= 500 * max_per_entity(Kind::Flow) + 4096);
    d.flush();
}

#[test]
fn warm_up_holds_scoring_back_per_entity() {
    let settings = AnomalySettings {
        enabled: true,
        warmup_buckets: 5,
        threshold: 0.0001,
        ..Default::default()
    };
    let mut d = AnomalyDetector::new(&settings, "us-east-1");
    // Many warmed principals fill the forest; then a new one appears.
    let mut out = Vec::new();
    for minute in 0..200i64 {
        for p in 0..3 {
            let r = record(
                &format!("arn:aws:iam::111122223333:user/p{p}"),
                29_000_000 + minute,
                "DescribeInstances",
                "203.0.113.9",
            );
            out.extend(d.observe(Record::new(&r)));
        }
    }
    assert!(!out.is_empty(), "warmed entities are scored");
    let newcomer = "arn:aws:iam::111122223333:user/new";
    let mut scored = Vec::new();
    for minute in 200..206i64 {
        let r = record(
            newcomer,
            29_000_000 + minute,
            "RunInstances",
            "198.51.100.1",
        );
        scored.extend(
            d.observe(Record::new(&r))
                .into_iter()
                .filter(|x| x.principal.as_deref() == Some(newcomer)),
        );
    }
    scored.extend(
        d.flush()
            .into_iter()
            .filter(|x| x.principal.as_deref() == Some(newcomer)),
    );
    // Six buckets, five of warm-up: only the sixth is scored.
    assert_eq!(scored.len(), 1);
}

#[test]
fn anomalous_minutes_close_together_update_one_finding() {
    let settings = AnomalySettings {
        enabled: true,
        warmup_buckets: 2,
        threshold: 0.0001,
        ..Default::default()
    };
    let mut d = AnomalyDetector::new(&settings, "us-east-1");
    let who = "arn:aws:iam::111122223333:user/p0";
    let mut mine = Vec::new();
    let feed = |d: &mut AnomalyDetector, minute: i64| {
        let mut out = Vec::new();
        for p in 0..3 {
            let r = record(
                &format!("arn:aws:iam::111122223333:user/p{p}"),
                29_000_000 + minute,
                "DescribeInstances",
                "203.0.113.9",
            );
            out.extend(d.observe(Record::new(&r)));
        }
        out
    };
    for minute in 0..200 {
        mine.extend(
            feed(&mut d, minute)
                .into_iter()
                .filter(|x| x.principal.as_deref() == Some(who)),
        );
    }
    // Every scored minute is a detection at this threshold, a minute apart:
    // one finding, its count growing.
    assert!(mine.len() > 10);
    assert!(mine.iter().all(|x| x.key == mine[0].key));
    assert!(mine.windows(2).all(|w| w[1].count > w[0].count));
    assert_eq!(mine[0].first_seen, mine.last().unwrap().first_seen);
    // After a quiet half hour, a new finding.
    let later: Vec<_> = feed(&mut d, 230)
        .into_iter()
        .chain(feed(&mut d, 231))
        .filter(|x| x.principal.as_deref() == Some(who))
        .collect();
    assert_eq!(later.len(), 2, "the buckets of minutes 199 and 230 close");
    assert_eq!(later[0].key, mine[0].key);
    assert_ne!(later[1].key, mine[0].key);
}

#[test]
fn flow_log_files_are_read_line_by_line_and_long_lines_skipped() {
    let mut d = AnomalyDetector::new(&settings(100), "us-east-1");
    let mut text = String::from("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n");
    for i in 0..50 {
        text.push_str(&format!(
            "2 111122223333 eni-1 10.0.1.5 203.0.113.9 49152 443 6 20 4000 {} 0 ACCEPT OK\n",
            1_796_540_400 + i * 60
        ));
    }
    // A line without a break, far past the limit, then one more record
    // without a final newline.
    text.push_str(&"x".repeat(100_000));
    text.push('\n');
    text.push_str("\u{0}\u{ff}\n");
    text.push_str(
        "2 111122223333 eni-1 10.0.1.5 203.0.113.9 49152 443 6 20 4000 1796543400 0 ACCEPT OK",
    );
    // A tiny buffer makes lines span many reads.
    let reader = std::io::BufReader::with_capacity(7, text.as_bytes());
    d.observe_flow_lines(reader).unwrap();
    let stats = d.stats();
    assert_eq!(stats.flows, 51);
    assert_eq!(stats.flow_lines_empty, 1);
    assert_eq!(stats.flow_lines_refused, 2);
    let mut bad = vec![b'2', b' ', 0xff, 0xfe, b'\n'];
    bad.extend(std::iter::repeat_n(b'y', 3 * MAX_FLOW_LINE));
    d.observe_flow_lines(bad.as_slice()).unwrap();
    assert_eq!(d.stats().flow_lines_refused, 4);
}
