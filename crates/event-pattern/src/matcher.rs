//! Many patterns compiled into one structure.
//!
//! Every alternative of every pattern becomes a sequence of field tests,
//! ordered the same way for all patterns (exact tests first, then prefix-like,
//! numeric and anything-but tests; within a kind, fields shared by more
//! patterns first; `exists: false` tests last). The sequences are merged
//! into a tree of states: a state has, per field, an index of the conditions
//! leaving it (exact values are numbered once per event and looked up in
//! sorted tables; byte tries hold prefixes and suffixes; ...). Matching an event
//! collects the event's values for the fields the patterns mention (skipping
//! every other subtree), then walks the states reachable from the root.
//! Each step records which array elements its value came from, and a step
//! is only taken when those agree with the elements chosen so far.

use std::cell::RefCell;

use crate::cond::{comparable, fold, Cond, Leaf, Lit, Num, NumRaw, Wild};
use crate::error::{Error, ErrorKind};
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

/// Every exact value that some pattern tests, numbered. An event value is
/// looked up here once; the per-state tables then compare numbers.
#[derive(Default, Debug)]
struct Symbols {
    strs: FastMap<Box<str>, u32>,
    /// Numbers by comparable value.
    nums: FastMap<i64, u32>,
    /// Numbers with no comparable form, by literal text.
    num_texts: FastMap<Box<str>, u32>,
}

const SYM_NULL: u32 = 0;
const SYM_TRUE: u32 = 1;
const SYM_FALSE: u32 = 2;
const FIRST_SYM: u32 = 3;

impl Symbols {
    fn intern(&mut self, l: &Lit) -> u32 {
        let next = FIRST_SYM + (self.strs.len() + self.nums.len() + self.num_texts.len()) as u32;
        match l {
            Lit::Null => SYM_NULL,
            Lit::Bool(true) => SYM_TRUE,
            Lit::Bool(false) => SYM_FALSE,
            Lit::Str(s) => *self.strs.entry(s.as_str().into()).or_insert(next),
            Lit::Num { cmp: Some(c), .. } => *self.nums.entry(*c).or_insert(next),
            Lit::Num { cmp: None, text } => {
                *self.num_texts.entry(text.as_str().into()).or_insert(next)
            }
        }
    }

    #[inline]
    fn lookup(&self, l: Leaf<'_>) -> u32 {
        match l {
            Leaf::Null => SYM_NULL,
            Leaf::Bool(true) => SYM_TRUE,
            Leaf::Bool(false) => SYM_FALSE,
            Leaf::Str(s) => self.strs.get(s).copied().unwrap_or(NONE),
            Leaf::Num(n) => match n.cmp {
                Some(c) => self.nums.get(&c).copied().unwrap_or(NONE),
                None if self.num_texts.is_empty() => NONE,
                None => self.num_texts.get(&*n.text()).copied().unwrap_or(NONE),
            },
        }
    }
}

/// Conditions on one field leaving one state, each leading to a next state.
#[derive(Default, Debug)]
struct FieldMatcher {
    /// The only exact (value symbol, next state) when there is just one, kept
    /// inline to save a memory access; `(NONE, NONE)` otherwise.
    single: (u32, u32),
    /// (value symbol, next state), sorted, when there are several.
    exact: Vec<(u32, u32)>,
    /// Every other kind of condition, when there is one.
    rest: Option<Box<Rest>>,
}

impl FieldMatcher {
    fn add(&mut self, c: &Cond, t: u32, syms: &mut Symbols) {
        match c {
            Cond::Exact(l) => self.exact.push((syms.intern(l), t)),
            Cond::Wildcard(w) if w.parts.len() == 1 => {
                // No `*` at all: an exact string.
                self.exact
                    .push((syms.intern(&Lit::Str(w.parts[0].clone())), t))
            }
            _ => self.rest.get_or_insert_with(Default::default).add(c, t),
        }
    }

    fn finish(&mut self) {
        self.exact.sort_unstable();
        self.exact.dedup();
        self.single = (NONE, NONE);
        if self.exact.len() == 1 {
            self.single = self.exact[0];
            self.exact = Vec::new();
        }
        self.exact.shrink_to_fit();
    }

    /// Appends the next states reached by a value (with symbol `sym`) to
    /// `out` (may repeat).
    #[inline]
    fn collect(&self, leaf: Leaf<'_>, sym: u32, out: &mut Vec<u32>) {
        if sym != NONE && self.single.0 == sym {
            out.push(self.single.1);
        } else if sym != NONE && !self.exact.is_empty() {
            let e = &self.exact;
            let start = if e.len() <= 8 {
                e.iter().position(|x| x.0 >= sym).unwrap_or(e.len())
            } else {
                e.partition_point(|x| x.0 < sym)
            };
            for &(k, t) in &e[start..] {
                if k != sym {
                    break;
                }
                out.push(t);
            }
        }
        if let Some(r) = &self.rest {
            r.collect(leaf, out);
        }
    }
}

/// The conditions of a [`FieldMatcher`] other than exact values.
#[derive(Default, Debug)]
struct Rest {
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

impl Rest {
    fn add(&mut self, c: &Cond, t: u32) {
        match c {
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
            _ => self.other.push((c.clone(), t)),
        }
    }

    /// Appends the next states reached by `leaf` to `out` (may repeat).
    #[inline]
    fn collect(&self, leaf: Leaf<'_>, out: &mut Vec<u32>) {
        match leaf {
            Leaf::Str(s) => {
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
            Leaf::Num(_) | Leaf::Bool(_) | Leaf::Null => {}
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
    /// The first positive transition, kept inline to save a memory access.
    pos0: Option<(u32, FieldMatcher)>,
    pos: Vec<(u32, FieldMatcher)>,
    absent: Vec<(u32, u32)>,
}

/// A node of the field-path trie used to pick the event's relevant values.
#[derive(Default, Debug)]
struct PathNode {
    children: FastMap<Box<[u8]>, u32>,
    /// The same children as a list, searched linearly when short.
    small: Vec<(Box<[u8]>, u32)>,
    field: u32,
}

/// Above this many children a path node is searched through its hash map.
const SMALL_CHILDREN: usize = 8;

impl PathNode {
    #[inline]
    fn child(&self, kb: &[u8]) -> Option<u32> {
        if self.children.len() <= SMALL_CHILDREN {
            self.small
                .iter()
                .find(|(k, _)| k.len() == kb.len() && **k == *kb)
                .map(|e| e.1)
        } else {
            self.children.get(kb).copied()
        }
    }
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
            syms: Symbols::default(),
            field_exact: Vec::new(),
            paths: vec![PathNode {
                children: FastMap::default(),
                small: Vec::new(),
                field: NONE,
            }],
            n_fields: 0,
            ids: 0,
        };
        // Field statistics decide the order of tests inside each alternative.
        // Fields tested by more patterns come first, so that patterns share
        // the leading states; among equally common fields, the one tested
        // against more distinct values (the more selective) comes first.
        let mut freq: FastMap<&str, usize> = FastMap::default();
        let mut values: FastMap<&str, FastSet<String>> = FastMap::default();
        for (_, conjs) in &self.entries {
            for c in conjs {
                for (p, t) in c {
                    *freq.entry(p.as_str()).or_default() += 1;
                    if let FieldTest::Any(conds) = t {
                        let set = values.entry(p.as_str()).or_default();
                        for cond in conds {
                            if set.len() < 100_000 {
                                set.insert(format!("{cond:?}"));
                            }
                        }
                    }
                }
            }
        }
        let distinct = |p: &str| values.get(p).map_or(0, |s| s.len());
        let mut ids: Vec<usize> = self.entries.iter().map(|e| e.0).collect();
        ids.sort_unstable();
        ids.dedup();
        m.ids = ids.len();

        let mut edges: Vec<FastMap<(u32, String), u32>> = vec![FastMap::default()];
        for (id, conjs) in &self.entries {
            for c in conjs {
                let mut steps: Vec<(&String, &FieldTest)> = c.iter().map(|(p, t)| (p, t)).collect();
                steps.sort_by(|a, b| {
                    let ka = (
                        test_class(a.1),
                        std::cmp::Reverse(freq[a.0.as_str()]),
                        std::cmp::Reverse(distinct(a.0)),
                        a.0,
                    );
                    let kb = (
                        test_class(b.1),
                        std::cmp::Reverse(freq[b.0.as_str()]),
                        std::cmp::Reverse(distinct(b.0)),
                        b.0,
                    );
                    ka.cmp(&kb)
                });
                // Split value lists into one edge per value, so patterns
                // that share a value share the states after it, unless that
                // would multiply this alternative into too many paths.
                let paths: usize = steps
                    .iter()
                    .map(|(_, t)| match t {
                        FieldTest::Any(c) => c.len(),
                        FieldTest::Absent => 1,
                    })
                    .try_fold(1usize, |acc, n| acc.checked_mul(n))
                    .unwrap_or(usize::MAX);
                let split = paths <= MAX_SPLIT_PATHS;
                let steps: Vec<(u32, &FieldTest)> =
                    steps.into_iter().map(|(p, t)| (m.field_id(p), t)).collect();
                m.insert(&mut edges, 0, &steps, split, *id);
            }
        }
        m.field_exact = vec![false; m.n_fields];
        for st in &mut m.states {
            for (f, fm) in &mut st.pos {
                fm.finish();
                if fm.single.0 != NONE || !fm.exact.is_empty() {
                    m.field_exact[*f as usize] = true;
                }
            }
            if !st.pos.is_empty() {
                st.pos0 = Some(st.pos.remove(0));
            }
            st.pos.shrink_to_fit();
            st.accept.shrink_to_fit();
            st.absent.shrink_to_fit();
        }
        m
    }
}

/// Most paths one alternative may be split into (see `Matcher::insert`).
const MAX_SPLIT_PATHS: usize = 16;

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
    syms: Symbols,
    /// Per field: whether some pattern tests it against an exact value (only
    /// then is an event value looked up among the symbols).
    field_exact: Vec<bool>,
    paths: Vec<PathNode>,
    n_fields: usize,
    ids: usize,
}

#[derive(Clone, Copy)]
struct LeafRec<'a> {
    leaf: Leaf<'a>,
    /// Index into `Cx::escaped` when the value is a decoded string.
    esc: u32,
    /// The value's symbol, or `NONE` when no pattern tests it exactly.
    sym: u32,
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
    /// Strings of a JSON-text event that contained escapes, decoded.
    escaped: Vec<String>,
    next_array: u32,
    bind_hash: u64,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Matcher {
    /// The state reached from `s` by `test` on `field`, created if needed.
    fn edge(
        &mut self,
        edges: &mut Vec<FastMap<(u32, String), u32>>,
        s: u32,
        field: u32,
        test: &FieldTest,
    ) -> u32 {
        let key = (field, format!("{test:?}"));
        if let Some(&n) = edges[s as usize].get(&key) {
            return n;
        }
        let n = self.states.len() as u32;
        self.states.push(State::default());
        edges.push(FastMap::default());
        edges[s as usize].insert(key, n);
        let st = &mut self.states[s as usize];
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
                    st.pos[idx].1.add(cond, n, &mut self.syms);
                }
            }
        }
        n
    }

    /// Adds the rest of an alternative's tests below state `s`.
    fn insert(
        &mut self,
        edges: &mut Vec<FastMap<(u32, String), u32>>,
        s: u32,
        steps: &[(u32, &FieldTest)],
        split: bool,
        id: usize,
    ) {
        let Some(((field, test), rest)) = steps.split_first() else {
            let acc = &mut self.states[s as usize].accept;
            if !acc.contains(&id) {
                acc.push(id);
            }
            return;
        };
        match test {
            FieldTest::Any(conds) if split && conds.len() > 1 => {
                for c in conds {
                    let one = FieldTest::Any(vec![c.clone()]);
                    let n = self.edge(edges, s, *field, &one);
                    self.insert(edges, n, rest, split, id);
                }
            }
            _ => {
                let n = self.edge(edges, s, *field, test);
                self.insert(edges, n, rest, split, id);
            }
        }
    }

    fn field_id(&mut self, path: &str) -> u32 {
        let mut n = 0usize;
        for seg in path.split('.') {
            n = match self.paths[n].children.get(seg.as_bytes()) {
                Some(&c) => c as usize,
                None => {
                    let id = self.paths.len() as u32;
                    self.paths.push(PathNode {
                        children: FastMap::default(),
                        small: Vec::new(),
                        field: NONE,
                    });
                    self.paths[n].children.insert(seg.as_bytes().into(), id);
                    self.paths[n].small.push((seg.as_bytes().into(), id));
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
        let r = self.with_scratch(|s| {
            self.run(s, out, |m, cx| {
                if let serde_json::Value::Object(_) | serde_json::Value::Array(_) = event {
                    m.walk(event, 0, cx);
                }
                Ok(())
            })
        });
        debug_assert!(r.is_ok());
    }

    fn run<'a>(
        &self,
        s: &mut Scratch,
        out: &mut Vec<usize>,
        fill: impl FnOnce(&Self, &mut Cx<'_, 'a>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if s.head.len() < self.n_fields {
            s.head.resize(self.n_fields, NONE);
        }
        let leaves: Vec<LeafRec<'_>> = std::mem::take(&mut s.leaves);
        let mut cx = Cx {
            s,
            leaves,
            escaped: Vec::new(),
            next_array: 0,
            bind_hash: 0,
        };
        let res = fill(self, &mut cx);
        if res.is_ok() && (!cx.leaves.is_empty() || !self.states[0].absent.is_empty()) {
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
        if res.is_err() {
            out.clear();
        }
        res
    }

    fn with_scratch<R>(&self, f: impl FnOnce(&mut Scratch) -> R) -> R {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => f(&mut s),
            Err(_) => f(&mut Scratch::default()),
        })
    }

    /// Matches an event given as JSON text (bytes), without building a
    /// `serde_json::Value`: only the parts of the event that some pattern
    /// mentions are decoded, the rest is skipped after a structural check.
    /// Writes the matching ids into `out` (cleared first), sorted and
    /// deduplicated. Returns an error (kind [`ErrorKind::InvalidJson`]) for
    /// malformed input, in which case `out` is left empty.
    pub fn matches_json(&self, json: &[u8], out: &mut Vec<usize>) -> Result<(), Error> {
        out.clear();
        if self.ids == 0 {
            return Ok(());
        }
        self.with_scratch(|s| {
            self.run(s, out, |m, cx| {
                let mut sc = Scan { b: json, i: 0 };
                sc.ws();
                match sc.peek() {
                    Some(b'{') | Some(b'[') => m.scan_value(&mut sc, 0, cx, 0)?,
                    _ => sc.skip_value(0)?,
                }
                sc.ws();
                if sc.i != json.len() {
                    return Err(sc.err("trailing characters after the JSON value"));
                }
                Ok(())
            })
        })
    }

    #[inline]
    fn step(&self, node: u32, key: &[u8]) -> Option<u32> {
        // Path segments never contain a dot, so a dotted event key can only
        // match segment by segment. (Keys are compared as bytes: a key that
        // equals a pattern's segment is valid UTF-8.)
        if let Some(c) = self.paths[node as usize].child(key) {
            return Some(c);
        }
        memchr::memchr(b'.', key)?;
        let mut n = node;
        for seg in key.split(|&b| b == b'.') {
            n = self.paths[n as usize].child(seg)?;
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
                    if let Some(n) = self.step(node, k.as_bytes()) {
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
                    self.push_leaf(f, leaf, NONE, cx);
                }
            }
        }
    }

    #[inline]
    fn push_leaf<'a>(&self, f: u32, leaf: Leaf<'a>, esc: u32, cx: &mut Cx<'_, 'a>) {
        let t0 = cx.s.trails.len() as u32;
        cx.s.trails.extend_from_slice(&cx.s.trail);
        let t1 = cx.s.trails.len() as u32;
        let head = &mut cx.s.head[f as usize];
        if *head == NONE {
            cx.s.touched.push(f);
        }
        let sym = if !self.field_exact[f as usize] {
            NONE
        } else if esc == NONE {
            self.syms.lookup(leaf)
        } else {
            self.syms.lookup(Leaf::Str(&cx.escaped[esc as usize]))
        };
        cx.leaves.push(LeafRec {
            leaf,
            esc,
            sym,
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
        for (field, fm) in state.pos0.iter().chain(state.pos.iter()) {
            let mut li = cx.s.head[*field as usize];
            while li != NONE {
                let rec = cx.leaves[li as usize];
                li = rec.next;
                let (t0, t1) = (rec.t0 as usize, rec.t1 as usize);
                if !compatible(&cx.s.trails[t0..t1], &cx.s.bind) {
                    continue;
                }
                let mark = cx.s.targets.len();
                let leaf = if rec.esc == NONE {
                    rec.leaf
                } else {
                    Leaf::Str(&cx.escaped[rec.esc as usize])
                };
                fm.collect(leaf, rec.sym, &mut cx.s.targets);
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

/// Most nesting accepted in a JSON-text event.
const MAX_EVENT_DEPTH: usize = 256;

/// A cursor over JSON text.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn err(&self, msg: &str) -> Error {
        Error::new(ErrorKind::InvalidJson, msg, "", Some(self.i))
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn expect(&mut self, c: u8) -> Result<(), Error> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err("unexpected character"))
        }
    }

    /// Skips a string whose opening quote is at `self.i`; returns the raw
    /// contents and whether they contain escapes.
    #[inline]
    fn raw_string(&mut self) -> Result<(&'a [u8], bool), Error> {
        let b = self.b;
        let start = self.i + 1;
        let mut i = start;
        let mut esc = false;
        loop {
            match memchr::memchr2(b'"', b'\\', b.get(i..).unwrap_or(&[])) {
                Some(k) => {
                    i += k;
                    if b[i] == b'"' {
                        self.i = i + 1;
                        return Ok((&b[start..i], esc));
                    }
                    esc = true;
                    i += 2;
                }
                None => {
                    self.i = b.len();
                    return Err(self.err("unterminated string"));
                }
            }
        }
    }

    fn literal(&mut self) -> Result<&'a [u8], Error> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if matches!(c, b'-' | b'+' | b'.' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z') {
                self.i += 1;
            } else {
                break;
            }
        }
        if self.i == start {
            return Err(self.err("unexpected character"));
        }
        Ok(&self.b[start..self.i])
    }

    /// Skips a string whose opening quote is at `self.i`.
    #[inline]
    fn skip_string(&mut self) -> Result<(), Error> {
        let b = self.b;
        let mut i = self.i + 1;
        loop {
            match memchr::memchr2(b'"', b'\\', &b[i.min(b.len())..]) {
                Some(k) => {
                    i += k;
                    if b[i] == b'"' {
                        self.i = i + 1;
                        return Ok(());
                    }
                    i += 2;
                }
                None => {
                    self.i = b.len();
                    return Err(self.err("unterminated string"));
                }
            }
        }
    }

    /// Skips one value that no pattern looks into. Scalars are checked;
    /// objects and arrays are only checked for balanced brackets and
    /// terminated strings.
    fn skip_value(&mut self, _depth: usize) -> Result<(), Error> {
        self.ws();
        match self.peek() {
            Some(b'"') => self.skip_string(),
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                let b = self.b;
                while self.i < b.len() {
                    match b[self.i] {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        c @ (b'}' | b']') => {
                            let _ = c;
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Ok(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
                Err(self.err("unexpected end of input"))
            }
            Some(_) => {
                let lit = self.literal()?;
                if scalar(lit).is_none() {
                    return Err(self.err("invalid literal"));
                }
                Ok(())
            }
            None => Err(self.err("unexpected end of input")),
        }
    }
}

/// Parses a non-string JSON scalar.
fn scalar(lit: &[u8]) -> Option<Leaf<'_>> {
    match lit {
        b"null" => Some(Leaf::Null),
        b"true" => Some(Leaf::Bool(true)),
        b"false" => Some(Leaf::Bool(false)),
        _ => {
            let s = std::str::from_utf8(lit).ok()?;
            // JSON grammar: optional minus, digits, optional fraction and exponent.
            let body = s.strip_prefix('-').unwrap_or(s);
            let first = body.bytes().next()?;
            if !first.is_ascii_digit()
                || (first == b'0' && body.len() > 1 && body.as_bytes()[1].is_ascii_digit())
            {
                return None;
            }
            if body.ends_with(['.', 'e', 'E', '+', '-'])
                || body.contains(".e")
                || body.contains(".E")
            {
                return None;
            }
            s.parse::<f64>().ok()?;
            Some(Leaf::Num(Num {
                cmp: comparable(s),
                raw: NumRaw::Text(s),
            }))
        }
    }
}

/// Decodes the escapes of a JSON string's raw contents.
fn unescape(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    let quoted = format!("\"{text}\"");
    serde_json::from_str::<String>(&quoted).ok()
}

impl Matcher {
    fn scan_value<'a>(
        &self,
        sc: &mut Scan<'a>,
        node: u32,
        cx: &mut Cx<'_, 'a>,
        depth: usize,
    ) -> Result<(), Error> {
        if depth > MAX_EVENT_DEPTH {
            return Err(sc.err("event nests too deeply"));
        }
        sc.ws();
        let pn = &self.paths[node as usize];
        match sc.peek() {
            Some(b'{') => {
                if pn.children.is_empty() {
                    return sc.skip_value(depth);
                }
                sc.i += 1;
                sc.ws();
                if sc.peek() == Some(b'}') {
                    sc.i += 1;
                    return Ok(());
                }
                loop {
                    sc.ws();
                    if sc.peek() != Some(b'"') {
                        return Err(sc.err("expected a string key"));
                    }
                    let at = sc.i;
                    let (raw, esc) = sc.raw_string()?;
                    sc.expect(b':')?;
                    let child = if esc {
                        let k = unescape(raw).ok_or_else(|| {
                            Error::new(ErrorKind::InvalidJson, "invalid string", "", Some(at))
                        })?;
                        self.step(node, k.as_bytes())
                    } else {
                        self.step(node, raw)
                    };
                    match child {
                        Some(c) => self.scan_value(sc, c, cx, depth + 1)?,
                        None => sc.skip_value(depth + 1)?,
                    }
                    sc.ws();
                    match sc.peek() {
                        Some(b',') => sc.i += 1,
                        Some(b'}') => {
                            sc.i += 1;
                            return Ok(());
                        }
                        _ => return Err(sc.err("expected ',' or '}'")),
                    }
                }
            }
            Some(b'[') => {
                sc.i += 1;
                let id = cx.next_array;
                cx.next_array += 1;
                sc.ws();
                if sc.peek() == Some(b']') {
                    sc.i += 1;
                    return Ok(());
                }
                let mut idx = 0u32;
                loop {
                    cx.s.trail.push((id, idx));
                    let r = self.scan_value(sc, node, cx, depth + 1);
                    cx.s.trail.pop();
                    r?;
                    idx += 1;
                    sc.ws();
                    match sc.peek() {
                        Some(b',') => sc.i += 1,
                        Some(b']') => {
                            sc.i += 1;
                            return Ok(());
                        }
                        _ => return Err(sc.err("expected ',' or ']'")),
                    }
                }
            }
            Some(b'"') => {
                let at = sc.i;
                let (raw, esc) = sc.raw_string()?;
                if pn.field == NONE || node == 0 {
                    return Ok(());
                }
                let bad = || Error::new(ErrorKind::InvalidJson, "invalid string", "", Some(at));
                if esc {
                    let s = unescape(raw).ok_or_else(bad)?;
                    cx.escaped.push(s);
                    let e = (cx.escaped.len() - 1) as u32;
                    self.push_leaf(pn.field, Leaf::Null, e, cx);
                } else {
                    let s = std::str::from_utf8(raw).map_err(|_| bad())?;
                    self.push_leaf(pn.field, Leaf::Str(s), NONE, cx);
                }
                Ok(())
            }
            Some(_) => {
                let lit = sc.literal()?;
                let leaf = scalar(lit).ok_or_else(|| sc.err("invalid literal"))?;
                if pn.field != NONE && node != 0 {
                    self.push_leaf(pn.field, leaf, NONE, cx);
                }
                Ok(())
            }
            None => Err(sc.err("unexpected end of input")),
        }
    }
}
