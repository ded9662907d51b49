//! Matching stays linear in the event: the steps a match takes (states
//! visited and values examined, what the step budget counts) stay within
//! a fixed multiple of (values in the event) x (field tests in the
//! patterns), whatever the arrays, and a match over the budget is refused
//! with an error rather than reported as no match.

use event_pattern::{ErrorKind, MatcherBuilder, Pattern};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const KEYS: &[&str] = &["a", "b", "c"];
const STRS: &[&str] = &["x", "y", "xy", "z"];

/// Steps allowed per (value in the event) x (field test in the patterns).
const STEPS_PER_UNIT: u64 = 2;

/// JSON values in `v` (every object, array and scalar).
fn size(v: &Value) -> u64 {
    1 + match v {
        Value::Object(m) => m.values().map(size).sum(),
        Value::Array(a) => a.iter().map(size).sum(),
        _ => 0,
    }
}

/// Field tests in a pattern (its value lists, `$or` not used here).
fn tests(p: &Value) -> u64 {
    match p {
        Value::Object(m) => m.values().map(tests).sum(),
        _ => 1,
    }
}

fn bound(event: &Value, patterns: &[Value]) -> u64 {
    let f: u64 = patterns.iter().map(tests).sum();
    STEPS_PER_UNIT * (size(event) + 1) * (f + 1)
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(STRS).prop_map(|s| json!(s)),
        (0..3i32).prop_map(|n| json!(n)),
    ]
}

/// Events with long arrays: of plain values, of objects, nested.
fn event_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 400, 40, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..40).prop_map(Value::Array),
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
    prop::collection::vec((prop::sample::select(KEYS), event_value()), 1..4).prop_map(|kv| {
        let mut m = Map::new();
        for (k, v) in kv {
            m.insert(k.to_string(), v);
        }
        Value::Object(m)
    })
}

fn value_list() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        prop_oneof![
            scalar(),
            prop::sample::select(STRS).prop_map(|s| json!({"prefix": s})),
            prop::sample::select(STRS).prop_map(|s| json!({"anything-but": s})),
            any::<bool>().prop_map(|b| json!({"exists": b})),
            (0..3i32).prop_map(|n| json!({"numeric": [">=", n]})),
        ],
        1..3,
    )
    .prop_map(Value::Array)
}

fn pattern() -> impl Strategy<Value = Value> {
    let leaf = value_list();
    let node = leaf.prop_recursive(3, 12, 3, |inner| {
        prop::collection::vec((prop::sample::select(KEYS), inner), 1..4).prop_map(|kv| {
            let mut m = Map::new();
            for (k, v) in kv {
                m.insert(k.to_string(), v);
            }
            Value::Object(m)
        })
    });
    prop::collection::vec((prop::sample::select(KEYS), node), 1..4).prop_map(|kv| {
        let mut m = Map::new();
        for (k, v) in kv {
            m.insert(k.to_string(), v);
        }
        Value::Object(m)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn steps_linear_in_event_and_agree_with_reference(
        ps in prop::collection::vec(pattern(), 1..6),
        e in event(),
    ) {
        let patterns: Vec<(Value, Pattern)> = ps
            .into_iter()
            .filter_map(|v| Pattern::from_value(&v).ok().map(|p| (v, p)))
            .collect();
        prop_assume!(!patterns.is_empty());
        let mut b = MatcherBuilder::new();
        for (i, (_, p)) in patterns.iter().enumerate() {
            b.add(i, p);
        }
        let m = b.build();
        let mut out = Vec::new();
        let steps = m.try_matches_into(&e, &mut out).unwrap();
        let values: Vec<Value> = patterns.iter().map(|(v, _)| v.clone()).collect();
        prop_assert!(
            steps <= bound(&e, &values),
            "{} steps for an event of {} values and {} field tests",
            steps,
            size(&e),
            values.iter().map(tests).sum::<u64>()
        );
        let want: Vec<usize> = patterns
            .iter()
            .enumerate()
            .filter(|(_, (_, p))| p.matches(&e))
            .map(|(i, _)| i)
            .collect();
        prop_assert_eq!(&out, &want);
        let mut from_text = Vec::new();
        m.matches_json(e.to_string().as_bytes(), &mut from_text).unwrap();
        prop_assert_eq!(from_text, want);
    }
}

/// k fields whose values are arrays of n plain values: once about n^k
/// visits, now linear.
#[test]
fn plain_value_arrays_are_linear() {
    let fields = ["a", "b", "c", "d"];
    let n = 60;
    // Every field holds its wanted value last, and the last field never:
    // a search through combinations would try all of them.
    let mut event = Map::new();
    for f in fields {
        let mut vals: Vec<Value> = (0..n).map(|i| json!(format!("{f}{i}"))).collect();
        vals.push(json!(format!("{f}-wanted")));
        event.insert(f.to_string(), Value::Array(vals));
    }
    let event = Value::Object(event);
    let miss = json!({"a": ["a-wanted"], "b": ["b-wanted"], "c": ["c-wanted"], "d": ["nowhere"]});
    let hit = json!({"a": ["a-wanted"], "b": ["b-wanted"], "c": [{"prefix": "c"}], "d": [{"anything-but": "d0"}]});
    let mut b = MatcherBuilder::new();
    b.add(1, &Pattern::from_value(&miss).unwrap());
    b.add(2, &Pattern::from_value(&hit).unwrap());
    let m = b.build();
    let mut out = Vec::new();
    let steps = m.try_matches_into(&event, &mut out).unwrap();
    assert_eq!(out, vec![2]);
    assert!(
        steps <= bound(&event, &[miss, hit]),
        "{steps} steps for {} values",
        size(&event)
    );
    // Far below the (n + 1)^4 combinations.
    assert!(steps < 2_000, "{steps} steps");
}

/// An array of objects under a pattern with several fields: one visit per
/// element and field, values of different elements never combined.
#[test]
fn arrays_of_objects_are_linear_and_keep_elements_apart() {
    let n = 2_000;
    // Element i has t = "A" only when i is even, and id = "2" only when i
    // is odd: every value is there, never in the same element.
    let elems: Vec<Value> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                json!({"t": "A", "id": "1", "k": i})
            } else {
                json!({"t": "B", "id": "2", "k": i})
            }
        })
        .collect();
    let event = json!({"r": elems});
    let apart = json!({"r": {"t": ["A"], "id": ["2"]}});
    let together = json!({"r": {"t": ["B"], "id": ["2"], "k": [{"numeric": [">", 1990]}]}});
    let mut b = MatcherBuilder::new();
    b.add(1, &Pattern::from_value(&apart).unwrap());
    b.add(2, &Pattern::from_value(&together).unwrap());
    let m = b.build();
    let mut out = Vec::new();
    let steps = m.try_matches_into(&event, &mut out).unwrap();
    assert_eq!(out, vec![2]);
    assert!(steps <= bound(&event, &[apart, together]), "{steps} steps");
    // About one step per element and field, not one per pair of elements.
    assert!(steps < 20 * n, "{steps} steps for {n} elements");
}

/// Fields of two different arrays of objects, tested in an interleaved
/// order by selectivity: the states after one array's fields do not
/// multiply by the other array's elements.
#[test]
fn two_arrays_of_objects_do_not_multiply() {
    let n = 500;
    let xs: Vec<Value> = (0..n).map(|i| json!({"p": i, "q": "x"})).collect();
    let ys: Vec<Value> = (0..n).map(|i| json!({"p": i, "q": "y"})).collect();
    let event = json!({"xs": xs, "ys": ys});
    let p = json!({"xs": {"p": [{"numeric": [">=", 0]}], "q": ["x"]},
                   "ys": {"p": [{"numeric": [">=", 0]}], "q": ["nowhere"]}});
    let mut b = MatcherBuilder::new();
    b.add(1, &Pattern::from_value(&p).unwrap());
    let m = b.build();
    let mut out = Vec::new();
    let steps = m.try_matches_into(&event, &mut out).unwrap();
    assert!(out.is_empty());
    assert!(
        steps < 40 * n as u64,
        "{steps} steps for {n} elements per array"
    );
}

/// Over the budget, a match is an error (with the ids found until then,
/// each a real match), not a silent "no match".
#[test]
fn over_budget_is_an_error() {
    let elems: Vec<Value> = (0..500).map(|i| json!({"t": "A", "id": i})).collect();
    let event = json!({"source": "s", "r": elems});
    let mut b = MatcherBuilder::new();
    b.add(1, &Pattern::parse(r#"{"source": ["s"]}"#).unwrap());
    b.add(
        2,
        &Pattern::parse(r#"{"r": {"t": ["A"], "id": [{"numeric": [">", 498]}]}}"#).unwrap(),
    );
    let mut tight = MatcherBuilder::new();
    tight.add(1, &Pattern::parse(r#"{"source": ["s"]}"#).unwrap());
    tight.add(
        2,
        &Pattern::parse(r#"{"r": {"t": ["A"], "id": [{"numeric": [">", 498]}]}}"#).unwrap(),
    );
    tight.set_step_budget(50);
    let (m, tight) = (b.build(), tight.build());

    assert_eq!(m.try_matches(&event).unwrap(), vec![1, 2]);
    let e = tight.try_matches(&event).unwrap_err();
    assert_eq!(e.kind, ErrorKind::MatchBudgetExceeded);
    assert!(e.message.contains("50 steps"), "{}", e.message);
    let mut out = Vec::new();
    let e = tight
        .matches_json(event.to_string().as_bytes(), &mut out)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::MatchBudgetExceeded);
    assert!(out.iter().all(|id| [1, 2].contains(id)), "{out:?}");
    // The infallible form returns only real matches.
    assert!(tight.matches(&event).iter().all(|id| [1, 2].contains(id)));
}
