//! The reference matcher: one pattern against one event, straight from the
//! definitions. It is the specification the compiled [`crate::Matcher`] is
//! tested against.

use crate::cond::Leaf;
use crate::parse::{Conj, FieldTest};
use std::collections::{HashMap, HashSet};

/// A scalar value of the event with its dotted path and the array elements
/// it sits in: `(array id, element index)` from the outermost array inward.
#[derive(Debug)]
pub(crate) struct PathLeaf<'a> {
    pub path: String,
    pub leaf: Leaf<'a>,
    pub trail: Vec<(u32, u32)>,
}

/// Every scalar value in the event. Arrays (nested ones too) are flattened;
/// objects contribute their fields; empty arrays and objects contribute
/// nothing.
pub(crate) fn flatten(v: &serde_json::Value) -> Vec<PathLeaf<'_>> {
    let mut out = Vec::new();
    let mut next_array = 0;
    let mut trail = Vec::new();
    walk(v, None, &mut trail, &mut next_array, &mut out);
    out
}

fn walk<'a>(
    v: &'a serde_json::Value,
    path: Option<String>,
    trail: &mut Vec<(u32, u32)>,
    next_array: &mut u32,
    out: &mut Vec<PathLeaf<'a>>,
) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, c) in m {
                let p = match &path {
                    Some(p) => crate::parse::join(p, k),
                    None => k.clone(),
                };
                walk(c, Some(p), trail, next_array, out);
            }
        }
        serde_json::Value::Array(a) => {
            let id = *next_array;
            *next_array += 1;
            for (i, e) in a.iter().enumerate() {
                trail.push((id, i as u32));
                walk(e, path.clone(), trail, next_array, out);
                trail.pop();
            }
        }
        _ => {
            // A scalar with no field name (the event itself, or an element
            // of a top-level array) can not be addressed by a pattern.
            let Some(path) = path else { return };
            if let Some(leaf) = Leaf::from_value(v) {
                out.push(PathLeaf {
                    path,
                    leaf,
                    trail: trail.clone(),
                });
            }
        }
    }
}

/// Two sets of array positions agree when they pick the same element of
/// every array they both mention.
pub(crate) fn compatible(trail: &[(u32, u32)], bound: &[(u32, u32)]) -> bool {
    trail
        .iter()
        .all(|(a, i)| bound.iter().all(|(b, j)| a != b || i == j))
}

/// Whether the alternatives match: some alternative has a choice of one
/// value per positive field, all from the same array elements, such that
/// no value exists at any `exists: false` field in those elements.
pub(crate) fn matches(conjs: &[Conj], leaves: &[PathLeaf<'_>]) -> bool {
    conjs.iter().any(|c| {
        let pos: Vec<_> = c
            .iter()
            .filter_map(|(p, t)| match t {
                FieldTest::Any(conds) => Some((p.as_str(), conds.as_slice())),
                FieldTest::Absent => None,
            })
            .collect();
        let neg: Vec<&str> = c
            .iter()
            .filter(|(_, t)| matches!(t, FieldTest::Absent))
            .map(|(p, _)| p.as_str())
            .collect();
        let own = shared_trails(c, leaves);
        let mut bound = Vec::new();
        let mut failed = HashSet::new();
        search(&pos, &neg, &own, &mut bound, &mut failed)
    })
}

/// The values of the alternative's fields, their trails keeping only the
/// arrays that hold values of two or more of its fields: an array holding
/// one field's values can never make a choice of values disagree, and
/// leaving it out lets a failed search be recognised when it comes again.
fn shared_trails<'l, 'a>(c: &Conj, leaves: &'l [PathLeaf<'a>]) -> Vec<Own<'l, 'a>> {
    let field = |l: &PathLeaf<'_>| c.iter().position(|(p, _)| *p == l.path);
    // Per array: the first field seen in it, and whether another one was.
    let mut seen: HashMap<u32, (usize, bool)> = HashMap::new();
    for l in leaves {
        if let Some(f) = field(l) {
            for (a, _) in &l.trail {
                let e = seen.entry(*a).or_insert((f, false));
                e.1 |= e.0 != f;
            }
        }
    }
    leaves
        .iter()
        .filter(|l| field(l).is_some())
        .map(|l| Own {
            leaf: l,
            trail: l.trail.iter().copied().filter(|(a, _)| seen[a].1).collect(),
        })
        .collect()
}

/// A value of one alternative's fields, with its trail cut to the arrays
/// that matter (see [`shared_trails`]).
struct Own<'l, 'a> {
    leaf: &'l PathLeaf<'a>,
    trail: Vec<(u32, u32)>,
}

type Positive<'p> = (&'p str, &'p [crate::cond::Cond]);

/// Searches have failed with this many positive fields left and these
/// bound elements (sorted).
type Failed = HashSet<(usize, Vec<(u32, u32)>)>;

fn search(
    pos: &[Positive<'_>],
    neg: &[&str],
    leaves: &[Own<'_, '_>],
    bound: &mut Vec<(u32, u32)>,
    failed: &mut Failed,
) -> bool {
    let Some(((path, conds), rest)) = pos.split_first() else {
        return neg.iter().all(|p| {
            !leaves
                .iter()
                .any(|l| l.leaf.path == *p && compatible(&l.trail, bound))
        });
    };
    let mut key = bound.clone();
    key.sort_unstable();
    let key = (pos.len(), key);
    if failed.contains(&key) {
        return false;
    }
    for l in leaves {
        if l.leaf.path != *path
            || !compatible(&l.trail, bound)
            || !conds.iter().any(|c| c.eval(l.leaf.leaf))
        {
            continue;
        }
        let mark = bound.len();
        for t in &l.trail {
            if !bound.contains(t) {
                bound.push(*t);
            }
        }
        let ok = search(rest, neg, leaves, bound, failed);
        bound.truncate(mark);
        if ok {
            return true;
        }
    }
    failed.insert(key);
    false
}
