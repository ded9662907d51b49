//! Many patterns compiled into one structure.
//!
//! Every alternative of every pattern becomes a sequence of field tests,
//! ordered the same way for all patterns (most selective kind of test first,
//! then fields shared by more patterns, then by name; `exists: false` tests
//! last). The sequences are merged into a tree of states: a state has, per
//! field, an index of the conditions leaving it (hash tables for exact
//! values, byte tries for prefixes and suffixes, ...). Matching an event
//! collects the event's values for the fields the patterns mention (skipping
//! every other subtree), then walks the states reachable from the root.
//! Each step records which array elements its value came from, and a step
//! is only taken when those agree with the elements chosen so far.

use std::cell::RefCell;

use crate::cond::{fold, Cond, Leaf, Lit, Wild};
use crate::hash::{mix, FastMap, FastSet};
use crate::parse::{Conj, FieldTest};
use crate::Pattern;

const NONE: u32 = u32::MAX;

/// A byte trie whose nodes carry payloads (prefix or reversed-suffix index).
#[derive(Default, Debug)]
struct Trie {
    nodes: Vec<TNode>,
}

#[derive(Default, Debug)]
struct TNode {
    edges: Vec<(u8, u32)>,
    hits: Vec<u32>,
}

impl Trie {
    fn insert(&mut self, bytes: impl Iterator<Item = u8>, payload: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(TNode::default());
        }
        let mut n = 0usize;
        for b in bytes {
            n = match self.nodes[n].edges.binary_search_by_key(&b, |e| e.0) {
                Ok(i) => self.nodes[n].edges[i].1 as usize,
                Err(i) => {
                    let id = self.nodes.len() as u32;
                    self.nodes.push(TNode::default());
                    self.nodes[n].edges.insert(i, (b, id));
                    id as usize
                }
            };
        }
        if !self.nodes[n].hits.contains(&payload) {
            self.nodes[n].hits.push(payload);
        }
    }

    #[inline]
    fn walk(&self, bytes: impl Iterator<Item = u8>, mut f: impl FnMut(u32)) {
        if self.nodes.is_empty() {
            return;
        }
        let mut n = &self.nodes[0];
        n.hits.iter().for_each(|&h| f(h));
        for b in bytes {
            match n.edges.binary_search_by_key(&b, |e| e.0) {
                Ok(i) => n = &self.nodes[n.edges[i].1 as usize],
                Err(_) => return,
            }
            n.hits.iter().for_each(|&h| f(h));
        }
    }
}

fn num_key(x: f64) -> u64 {
    if x == 0.0 {
        0
    } else {
        x.to_bits()
    }
}

/// Conditions on one field leaving one state, each leading to a next state.
#[derive(Default, Debug)]
struct FieldMatcher {
    strs: FastMap<Box<str>, Vec<u32>>,
    nums: FastMap<u64, Vec<u32>>,
    trues: Vec<u32>,
    falses: Vec<u32>,
    nulls: Vec<u32>,
    prefix: Trie,
    suffix: Trie,
    prefix_ic: Trie,
    suffix_ic: Trie,
    eq_ic: FastMap<Box<str>, Vec<u32>>,
    any: Vec<u32>,
    /// Wildcards, indexed by their literal head (or tail) when they have one.
    wilds: Vec<(Wild, u32)>,
    wild_head: Trie,
    wild_tail: Trie,
    /// Conditions checked one by one (anything-but, numeric, cidr, unanchored wildcards).
    other: Vec<(Cond, u32)>,
    has_ic: bool,
}

fn push_unique(v: &mut Vec<u32>, t: u32) {
    if !v.contains(&t) {
        v.push(t);
    }
}

impl FieldMatcher {
    fn add(&mut self, c: &Cond, t: u32) {
        match c {
            Cond::Exact(Lit::Str(s)) => {
                push_unique(self.strs.entry(s.as_str().into()).or_default(), t)
            }
            Cond::Exact(Lit::Num(x)) => push_unique(self.nums.entry(num_key(*x)).or_default(), t),
            Cond::Exact(Lit::Bool(true)) => push_unique(&mut self.trues, t),
            Cond::Exact(Lit::Bool(false)) => push_unique(&mut self.falses, t),
            Cond::Exact(Lit::Null) => push_unique(&mut self.nulls, t),
            Cond::Prefix(p) => self.prefix.insert(p.bytes(), t),
            Cond::Suffix(p) => self.suffix.insert(p.bytes().rev(), t),
            Cond::PrefixIc(p) => {
                self.has_ic = true;
                self.prefix_ic.insert(p.bytes(), t)
            }
            Cond::SuffixIc(p) => {
                self.has_ic = true;
                self.suffix_ic.insert(p.bytes().rev(), t)
            }
            Cond::EqIc(p) => {
                self.has_ic = true;
                push_unique(self.eq_ic.entry(p.as_str().into()).or_default(), t)
            }
            Cond::Exists => push_unique(&mut self.any, t),
            Cond::Wildcard(w) if w.parts.len() > 1 => {
                let idx = self.wilds.len() as u32;
                let head = &w.parts[0];
                let tail = &w.parts[w.parts.len() - 1];
                if !head.is_empty() {
                    self.wild_head.insert(head.bytes(), idx);
                } else if !tail.is_empty() {
                    self.wild_tail.insert(tail.bytes().rev(), idx);
                } else {
                    self.other.push((c.clone(), t));
                    return;
                }
                self.wilds.push((w.clone(), t));
            }
            Cond::Wildcard(w) => {
                // No `*` at all: an exact string.
                push_unique(self.strs.entry(w.parts[0].as_str().into()).or_default(), t)
            }
            _ => self.other.push((c.clone(), t)),
        }
    }

    /// Appends the next states reached by `leaf` to `out` (may repeat).
    #[inline]
    fn collect(&self, leaf: Leaf<'_>, out: &mut Vec<u32>) {
        match leaf {
            Leaf::Str(s) => {
                if let Some(t) = self.strs.get(s) {
                    out.extend_from_slice(t);
                }
                self.prefix.walk(s.bytes(), |t| out.push(t));
                self.suffix.walk(s.bytes().rev(), |t| out.push(t));
                if !self.wilds.is_empty() {
                    let wilds = &self.wilds;
                    let mut check = |i: u32| {
                        let (w, t) = &wilds[i as usize];
                        if w.is_match(s) {
                            out.push(*t);
                        }
                    };
                    self.wild_head.walk(s.bytes(), &mut check);
                    self.wild_tail.walk(s.bytes().rev(), &mut check);
                }
                if self.has_ic {
                    self.collect_ic(s, out);
                }
            }
            Leaf::Num(x) => {
                if !self.nums.is_empty() {
                    if let Some(t) = self.nums.get(&num_key(x)) {
                        out.extend_from_slice(t);
                    }
                }
            }
            Leaf::Bool(true) => out.extend_from_slice(&self.trues),
            Leaf::Bool(false) => out.extend_from_slice(&self.falses),
            Leaf::Null => out.extend_from_slice(&self.nulls),
        }
        out.extend_from_slice(&self.any);
        for (c, t) in &self.other {
            if c.eval(leaf) {
                out.push(*t);
            }
        }
    }

    fn collect_ic(&self, s: &str, out: &mut Vec<u32>) {
        if s.is_ascii() {
            let lower = |b: u8| b.to_ascii_lowercase();
            self.prefix_ic.walk(s.bytes().map(lower), |t| out.push(t));
            self.suffix_ic
                .walk(s.bytes().rev().map(lower), |t| out.push(t));
            if !self.eq_ic.is_empty() {
                let mut buf = [0u8; 128];
                if s.len() <= buf.len() {
                    for (d, b) in buf.iter_mut().zip(s.bytes()) {
                        *d = b.to_ascii_lowercase();
                    }
                    let key = std::str::from_utf8(&buf[..s.len()]).expect("ascii");
                    if let Some(t) = self.eq_ic.get(key) {
                        out.extend_from_slice(t);
                    }
                } else if let Some(t) = self.eq_ic.get(&*s.to_ascii_lowercase()) {
                    out.extend_from_slice(t);
                }
            }
        } else {
            let f = fold(s);
            self.prefix_ic.walk(f.bytes(), |t| out.push(t));
            self.suffix_ic.walk(f.bytes().rev(), |t| out.push(t));
            if let Some(t) = self.eq_ic.get(&*f) {
                out.extend_from_slice(t);
            }
        }
    }
}

#[derive(Default, Debug)]
struct State {
    accept: Vec<usize>,
    pos: Vec<(u32, FieldMatcher)>,
    absent: Vec<(u32, u32)>,
}

/// A node of the field-path trie used to pick the event's relevant values.
#[derive(Default, Debug)]
struct PathNode {
    children: FastMap<Box<str>, u32>,
    field: u32,
}

/// Collects patterns for a [`Matcher`].
#[derive(Default, Debug)]
pub struct MatcherBuilder {
    entries: Vec<(usize, Vec<Conj>)>,
}

impl MatcherBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pattern under `id`. Several patterns may share an id; the id
    /// matches when any of them does.
    pub fn add(&mut self, id: usize, p: &Pattern) {
        self.entries.push((id, p.conjs.clone()));
    }

    /// Compiles the patterns added so far.
    pub fn build(self) -> Matcher {
        let mut m = Matcher {
            states: vec![State::default()],
            paths: vec![PathNode {
                children: FastMap::default(),
                field: NONE,
            }],
            n_fields: 0,
            ids: 0,
        };
        // Field statistics decide the order of tests inside each alternative.
        let mut freq: FastMap<&str, usize> = FastMap::default();
        for (_, conjs) in &self.entries {
            for c in conjs {
                for (p, _) in c {
                    *freq.entry(p.as_str()).or_default() += 1;
                }
            }
        }
        let mut ids: Vec<usize> = self.entries.iter().map(|e| e.0).collect();
        ids.sort_unstable();
        ids.dedup();
        m.ids = ids.len();

        let mut edges: Vec<FastMap<(u32, String), u32>> = vec![FastMap::default()];
        for (id, conjs) in &self.entries {
            for c in conjs {
                let mut steps: Vec<(&String, &FieldTest)> = c.iter().map(|(p, t)| (p, t)).collect();
                steps.sort_by(|a, b| {
                    let ka = (test_class(a.1), std::cmp::Reverse(freq[a.0.as_str()]), a.0);
                    let kb = (test_class(b.1), std::cmp::Reverse(freq[b.0.as_str()]), b.0);
                    ka.cmp(&kb)
                });
                let mut s = 0u32;
                for (path, test) in steps {
                    let field = m.field_id(path);
                    let key = (field, format!("{test:?}"));
                    let next = match edges[s as usize].get(&key) {
                        Some(&n) => n,
                        None => {
                            let n = m.states.len() as u32;
                            m.states.push(State::default());
                            edges.push(FastMap::default());
                            edges[s as usize].insert(key, n);
                            let st = &mut m.states[s as usize];
                            match test {
                                FieldTest::Absent => st.absent.push((field, n)),
                                FieldTest::Any(conds) => {
                                    let idx = match st.pos.iter().position(|(f, _)| *f == field) {
                                        Some(i) => i,
                                        None => {
                                            st.pos.push((field, FieldMatcher::default()));
                                            st.pos.len() - 1
                                        }
                                    };
                                    for cond in conds {
                                        st.pos[idx].1.add(cond, n);
                                    }
                                }
                            }
                            n
                        }
                    };
                    s = next;
                }
                let acc = &mut m.states[s as usize].accept;
                if !acc.contains(id) {
                    acc.push(*id);
                }
            }
        }
        m
    }
}

/// Lower classes are tested first: exact values narrow the candidates most.
fn test_class(t: &FieldTest) -> u8 {
    match t {
        FieldTest::Absent => 9,
        FieldTest::Any(conds) => conds
            .iter()
            .map(|c| match c {
                Cond::Exact(_) | Cond::EqIc(_) => 0,
                Cond::Prefix(_)
                | Cond::PrefixIc(_)
                | Cond::Suffix(_)
                | Cond::SuffixIc(_)
                | Cond::Wildcard(_)
                | Cond::Cidr(_) => 1,
                Cond::Numeric { .. } => 2,
                Cond::AnythingBut(_) | Cond::Exists => 3,
            })
            .max()
            .unwrap_or(0),
    }
}

/// Many patterns compiled together; see the crate documentation.
#[derive(Debug)]
pub struct Matcher {
    states: Vec<State>,
    paths: Vec<PathNode>,
    n_fields: usize,
    ids: usize,
}

#[derive(Clone, Copy)]
struct LeafRec<'a> {
    leaf: Leaf<'a>,
    next: u32,
    t0: u32,
    t1: u32,
}

/// Reusable per-thread buffers for matching.
#[derive(Default)]
struct Scratch {
    leaves: Vec<LeafRec<'static>>,
    trails: Vec<(u32, u32)>,
    trail: Vec<(u32, u32)>,
    head: Vec<u32>,
    touched: Vec<u32>,
    bind: Vec<(u32, u32)>,
    targets: Vec<u32>,
    visited: FastSet<(u32, u64)>,
}

struct Cx<'s, 'a> {
    s: &'s mut Scratch,
    leaves: Vec<LeafRec<'a>>,
    next_array: u32,
    bind_hash: u64,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Matcher {
    fn field_id(&mut self, path: &str) -> u32 {
        let mut n = 0usize;
        for seg in path.split('.') {
            n = match self.paths[n].children.get(seg) {
                Some(&c) => c as usize,
                None => {
                    let id = self.paths.len() as u32;
                    self.paths.push(PathNode {
                        children: FastMap::default(),
                        field: NONE,
                    });
                    self.paths[n].children.insert(seg.into(), id);
                    id as usize
                }
            };
        }
        if self.paths[n].field == NONE {
            self.paths[n].field = self.n_fields as u32;
            self.n_fields += 1;
        }
        self.paths[n].field
    }

    /// Number of distinct pattern ids.
    pub fn len(&self) -> usize {
        self.ids
    }

    /// Whether no pattern was added.
    pub fn is_empty(&self) -> bool {
        self.ids == 0
    }

    /// Number of automaton states (a measure of the compiled size).
    pub fn state_count(&self) -> usize {
        self.states.len()
    }

    /// The ids of the patterns that match `event`, sorted and deduplicated.
    pub fn matches(&self, event: &serde_json::Value) -> Vec<usize> {
        let mut out = Vec::new();
        self.matches_into(event, &mut out);
        out
    }

    /// Like [`Matcher::matches`], writing into `out` (cleared first). Uses
    /// per-thread scratch buffers, so once they have grown to the size of
    /// the events seen it does not allocate, as long as `out` has capacity
    /// for the result.
    pub fn matches_into(&self, event: &serde_json::Value, out: &mut Vec<usize>) {
        out.clear();
        if self.ids == 0 {
            return;
        }
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => self.run(event, &mut s, out),
            Err(_) => self.run(event, &mut Scratch::default(), out),
        });
    }

    fn run(&self, event: &serde_json::Value, s: &mut Scratch, out: &mut Vec<usize>) {
        if s.head.len() < self.n_fields {
            s.head.resize(self.n_fields, NONE);
        }
        let leaves: Vec<LeafRec<'_>> = std::mem::take(&mut s.leaves);
        let mut cx = Cx {
            s,
            leaves,
            next_array: 0,
            bind_hash: 0,
        };
        if let serde_json::Value::Object(_) | serde_json::Value::Array(_) = event {
            self.walk(event, 0, &mut cx);
        }
        if !cx.leaves.is_empty() || !self.states[0].absent.is_empty() {
            self.visit(0, &mut cx, out);
        }
        out.sort_unstable();
        out.dedup();
        // Reset the scratch buffers, keeping their capacity.
        let Cx { s, mut leaves, .. } = cx;
        for &f in &s.touched {
            s.head[f as usize] = NONE;
        }
        s.touched.clear();
        s.trails.clear();
        s.trail.clear();
        s.bind.clear();
        s.targets.clear();
        s.visited.clear();
        leaves.clear();
        s.leaves = leaves
            .into_iter()
            .map(|_| -> LeafRec<'static> { unreachable!() })
            .collect();
    }

    #[inline]
    fn step(&self, node: u32, key: &str) -> Option<u32> {
        let mut n = node;
        if !key.contains('.') {
            return self.paths[n as usize].children.get(key).copied();
        }
        for seg in key.split('.') {
            n = *self.paths[n as usize].children.get(seg)?;
        }
        Some(n)
    }

    fn walk<'a>(&self, v: &'a serde_json::Value, node: u32, cx: &mut Cx<'_, 'a>) {
        match v {
            serde_json::Value::Object(m) => {
                if self.paths[node as usize].children.is_empty() {
                    return;
                }
                for (k, c) in m {
                    if let Some(n) = self.step(node, k) {
                        self.walk(c, n, cx);
                    }
                }
            }
            serde_json::Value::Array(a) => {
                let id = cx.next_array;
                cx.next_array += 1;
                for (i, e) in a.iter().enumerate() {
                    cx.s.trail.push((id, i as u32));
                    self.walk(e, node, cx);
                    cx.s.trail.pop();
                }
            }
            _ => {
                let f = self.paths[node as usize].field;
                if f == NONE || node == 0 {
                    return;
                }
                if let Some(leaf) = Leaf::from_value(v) {
                    self.push_leaf(f, leaf, cx);
                }
            }
        }
    }

    #[inline]
    fn push_leaf<'a>(&self, f: u32, leaf: Leaf<'a>, cx: &mut Cx<'_, 'a>) {
        let t0 = cx.s.trails.len() as u32;
        cx.s.trails.extend_from_slice(&cx.s.trail);
        let t1 = cx.s.trails.len() as u32;
        let head = &mut cx.s.head[f as usize];
        if *head == NONE {
            cx.s.touched.push(f);
        }
        cx.leaves.push(LeafRec {
            leaf,
            next: *head,
            t0,
            t1,
        });
        *head = (cx.leaves.len() - 1) as u32;
    }

    fn visit(&self, st: u32, cx: &mut Cx<'_, '_>, out: &mut Vec<usize>) {
        if !cx.s.visited.insert((st, cx.bind_hash)) {
            return;
        }
        let state = &self.states[st as usize];
        out.extend_from_slice(&state.accept);
        for (field, fm) in &state.pos {
            let mut li = cx.s.head[*field as usize];
            while li != NONE {
                let rec = cx.leaves[li as usize];
                li = rec.next;
                let (t0, t1) = (rec.t0 as usize, rec.t1 as usize);
                if !compatible(&cx.s.trails[t0..t1], &cx.s.bind) {
                    continue;
                }
                let mark = cx.s.targets.len();
                fm.collect(rec.leaf, &mut cx.s.targets);
                let end = cx.s.targets.len();
                if end == mark {
                    continue;
                }
                if end - mark > 1 {
                    let t = &mut cx.s.targets[mark..];
                    t.sort_unstable();
                    let mut w = 1;
                    for r in 1..t.len() {
                        if t[r] != t[w - 1] {
                            t[w] = t[r];
                            w += 1;
                        }
                    }
                    cx.s.targets.truncate(mark + w);
                }
                let end = cx.s.targets.len();
                let bmark = cx.s.bind.len();
                let hmark = cx.bind_hash;
                for k in t0..t1 {
                    let t = cx.s.trails[k];
                    if !cx.s.bind.contains(&t) {
                        cx.s.bind.push(t);
                        cx.bind_hash = cx
                            .bind_hash
                            .wrapping_add(mix(((t.0 as u64) << 32) | t.1 as u64));
                    }
                }
                for k in mark..end {
                    let next = cx.s.targets[k];
                    self.visit(next, cx, out);
                }
                cx.s.bind.truncate(bmark);
                cx.bind_hash = hmark;
                cx.s.targets.truncate(mark);
            }
        }
        for &(field, next) in &state.absent {
            let mut li = cx.s.head[field as usize];
            let mut found = false;
            while li != NONE {
                let rec = cx.leaves[li as usize];
                li = rec.next;
                if compatible(&cx.s.trails[rec.t0 as usize..rec.t1 as usize], &cx.s.bind) {
                    found = true;
                    break;
                }
            }
            if !found {
                self.visit(next, cx, out);
            }
        }
    }
}

#[inline]
fn compatible(trail: &[(u32, u32)], bound: &[(u32, u32)]) -> bool {
    trail
        .iter()
        .all(|(a, i)| bound.iter().all(|(b, j)| a != b || i == j))
}
