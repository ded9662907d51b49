//! Property tests: the compiled `Matcher` agrees with the reference
//! `Pattern::matches` on random patterns and events.

use event_pattern::{MatcherBuilder, Pattern};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const KEYS: &[&str] = &["a", "b", "c"];
const STRS: &[&str] = &["x", "xy", "Xy", "yx", "", "null", "10.0.0.7", "::1", "a*b"];
const NUMS: &[f64] = &[0.0, 1.0, 1.5, -2.0, 300.0];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(STRS).prop_map(|s| json!(s)),
        prop::sample::select(NUMS).prop_map(|n| json!(n)),
        any::<bool>().prop_map(|b| json!(b)),
        Just(Value::Null),
    ]
}

fn event_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 1..4).prop_map(|kv| {
                let mut m = Map::new();
                for (k, v) in kv {
                    m.insert(k.to_string(), v);
                }
                Value::Object(m)
            }),
        ]
    })
}

fn event() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(KEYS), event_value()), 0..4).prop_map(|kv| {
        let mut m = Map::new();
        for (k, v) in kv {
            m.insert(k.to_string(), v);
        }
        Value::Object(m)
    })
}

fn s() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["x", "X", "y", "", "xy", "1"][..])
}

fn value_item() -> impl Strategy<Value = Value> {
    prop_oneof![
        scalar(),
        s().prop_map(|v| json!({"prefix": v})),
        s().prop_map(|v| json!({"suffix": v})),
        s().prop_map(|v| json!({"prefix": {"equals-ignore-case": v}})),
        s().prop_map(|v| json!({"suffix": {"equals-ignore-case": v}})),
        s().prop_map(|v| json!({"equals-ignore-case": v})),
        prop::sample::select(&["x*", "*y", "*", "x*y", "*x*", "a\\*b", "X*"][..])
            .prop_map(|v| json!({"wildcard": v})),
        s().prop_map(|v| json!({"anything-but": v})),
        prop::sample::select(NUMS).prop_map(|n| json!({"anything-but": n})),
        prop::collection::vec(s(), 1..3).prop_map(|v| json!({"anything-but": v})),
        prop::collection::vec(prop::sample::select(NUMS), 1..3)
            .prop_map(|v| json!({"anything-but": v})),
        s().prop_map(|v| json!({"anything-but": {"prefix": v}})),
        s().prop_map(|v| json!({"anything-but": {"suffix": v}})),
        s().prop_map(|v| json!({"anything-but": {"equals-ignore-case": [v]}})),
        Just(json!({"anything-but": {"wildcard": "x*"}})),
        (
            prop::sample::select(&[">", ">=", "<", "<=", "="][..]),
            prop::sample::select(NUMS)
        )
            .prop_map(|(o, n)| json!({"numeric": [o, n]})),
        (prop::sample::select(NUMS), 0.0..400.0f64)
            .prop_map(|(lo, w)| json!({"numeric": [">=", lo, "<", lo + w.floor()]})),
        prop::sample::select(&["10.0.0.0/8", "::/0", "10.0.0.7/32", "0.0.0.0/0"][..])
            .prop_map(|c| json!({"cidr": c})),
        any::<bool>().prop_map(|b| json!({"exists": b})),
    ]
}

fn pattern_obj(depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop::collection::vec(value_item(), 1..3).prop_map(Value::Array);
    let field = if depth == 0 {
        leaf.boxed()
    } else {
        prop_oneof![3 => leaf, 1 => pattern_obj(depth - 1)].boxed()
    };
    let key = prop::sample::select(&["a", "b", "c", "a.b", "b.a"][..]);
    let obj = prop::collection::vec((key, field), 1..4).prop_map(|kv| {
        let mut m = Map::new();
        for (k, v) in kv {
            m.insert(k.to_string(), v);
        }
        Value::Object(m)
    });
    if depth == 0 {
        obj.boxed()
    } else {
        let alt = pattern_obj(depth - 1);
        (
            obj,
            prop::option::weighted(0.25, prop::collection::vec(alt, 2..3)),
        )
            .prop_map(|(mut o, ors)| {
                if let Some(ors) = ors {
                    o.as_object_mut()
                        .unwrap()
                        .insert("$or".to_string(), Value::Array(ors));
                }
                o
            })
            .boxed()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn compiled_agrees_with_reference(
        pats in prop::collection::vec(pattern_obj(2), 1..8),
        events in prop::collection::vec(event(), 1..6),
    ) {
        let parsed: Vec<Pattern> = pats
            .iter()
            .filter_map(|p| Pattern::from_value(p).ok())
            .collect();
        prop_assume!(!parsed.is_empty());
        let mut b = MatcherBuilder::new();
        for (i, p) in parsed.iter().enumerate() {
            b.add(i, p);
        }
        let m = b.build();
        for ev in &events {
            let want: Vec<usize> = parsed
                .iter()
                .enumerate()
                .filter(|(_, p)| p.matches(ev))
                .map(|(i, _)| i)
                .collect();
            prop_assert_eq!(m.matches(ev), want.clone(), "event {}", ev);
            let mut out = Vec::new();
            m.matches_json(serde_json::to_string_pretty(ev).unwrap().as_bytes(), &mut out).unwrap();
            prop_assert_eq!(out, want, "event text {}", ev);
        }
    }

    #[test]
    fn text_and_value_parsing_agree(p in pattern_obj(2)) {
        let text = serde_json::to_string(&p).unwrap();
        let a = Pattern::parse(&text);
        let b = Pattern::from_value(&p);
        match (a, b) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(a), Err(b)) => prop_assert_eq!(a.kind, b.kind),
            (a, b) => prop_assert!(false, "parse {:?} vs from_value {:?}", a, b),
        }
    }

    #[test]
    fn json_scanner_never_panics(s in "[\\[\\]{}\",:a-c0-9. \\\\eu-]{0,48}") {
        let mut b = MatcherBuilder::new();
        b.add(0, &Pattern::parse(r#"{"a": [{"exists": true}], "b": {"c": [{"exists": false}]}}"#).unwrap());
        let m = b.build();
        let mut out = Vec::new();
        let r = m.matches_json(s.as_bytes(), &mut out);
        if let Ok(v) = serde_json::from_str::<Value>(&s) {
            prop_assert!(r.is_ok(), "valid JSON rejected: {}", s);
            prop_assert_eq!(out, m.matches(&v));
        }
    }

    #[test]
    fn parser_never_panics(s in "\\PC{0,64}") {
        let _ = Pattern::parse(&s);
    }
}

#[test]
fn matching_ids_shared_by_several_patterns() {
    let mut b = MatcherBuilder::new();
    b.add(3, &Pattern::parse(r#"{"a": ["x"]}"#).unwrap());
    b.add(3, &Pattern::parse(r#"{"b": ["y"]}"#).unwrap());
    b.add(1, &Pattern::parse(r#"{"a": [{"prefix": "x"}]}"#).unwrap());
    let m = b.build();
    assert_eq!(m.len(), 2);
    assert_eq!(m.matches(&json!({"a": "x", "b": "y"})), vec![1, 3]);
    assert!(MatcherBuilder::new().build().is_empty());
}

#[test]
fn json_text_edge_cases() {
    let mut b = MatcherBuilder::new();
    b.add(0, &Pattern::parse(r#"{"a": {"b": ["x\"y"]}}"#).unwrap());
    b.add(1, &Pattern::parse(r#"{"a": {"n": [1.5]}}"#).unwrap());
    b.add(2, &Pattern::parse(r#"{"k\u00e9y": [true]}"#).unwrap());
    let m = b.build();
    let mut out = Vec::new();
    m.matches_json(
        br#" {"z": [1, {"q": "\u0041"}], "a" : {"b": "x\"y", "n": 15e-1}, "k\u00e9y": true} "#,
        &mut out,
    )
    .unwrap();
    assert_eq!(out, vec![0, 1, 2]);
    for bad in [
        &b"{"[..],
        b"{\"a\": }",
        b"{\"a\": 01}",
        b"[1,]",
        b"{} x",
        b"{\"a\": {\"n\": 1.}}",
        b"\"abc",
    ] {
        assert!(
            m.matches_json(bad, &mut out).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
        assert!(out.is_empty());
    }
    // A subtree that no pattern looks into is only checked for balanced
    // brackets and terminated strings.
    assert!(m.matches_json(b"{\"z\": [1 2]}", &mut out).is_ok());
    assert!(m.matches_json(b"{\"z\": [1, 2}", &mut out).is_ok() || out.is_empty());
    assert!(m.matches_json(b"{\"z\": [\"1, 2]}", &mut out).is_err());
}
