//! Many patterns compiled into one structure.
//!
//! Every alternative of every pattern becomes a sequence of field tests,
//! the test estimated to pass for the fewest events first (an estimate from
//! statistics over all the patterns, see `Selectivity`; `exists: false`
//! tests last). The sequences are merged into a tree of states where they
//! share a prefix: a state has, per field, the conditions leaving it (exact
//! values are numbered once per event and looked up by number; a few other
//! conditions are checked one by one, many are indexed in byte tries and
//! maps). The tree is then laid out depth first in one array of words (see
//! `Matcher::layout`), so that a path's states and their conditions are
//! next to each other in memory. Matching an event collects the event's
//! values for the fields the patterns mention (skipping every other
//! subtree), then walks the states reachable from the root. Each step
//! records which array elements its value came from, and a step is only
//! taken when those agree with the elements chosen so far.

use std::cell::RefCell;

use crate::cond::{comparable, fold, in_range, AnythingBut, Cond, Leaf, Lit, Num, NumRaw, Wild};
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

/// Conditions on one field leaving one state, each leading to a next state
/// (used while building; see [`Matcher::layout`] for the compiled form).
#[derive(Default, Debug)]
struct FieldMatcher {
    /// (value symbol, next state).
    exact: Vec<(u32, u32)>,
    /// Every other kind of condition.
    other: Vec<(Cond, u32)>,
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
            _ => {
                // The conditions for one target are added together.
                let mut same = self.other.iter().rev().take_while(|(_, u)| *u == t);
                if !same.any(|(d, _)| d == c) {
                    self.other.push((c.clone(), t))
                }
            }
        }
    }

    /// Flags of the compiled transition (see [`Matcher::layout`]).
    fn flags(&self) -> u32 {
        let mut f = 0;
        match self.exact.len() {
            0 => {}
            1 => f |= T_SINGLE,
            _ => f |= T_TABLE,
        }
        match self.other.len() {
            0 => {}
            n if n <= FEW_CONDS => f |= T_FEW,
            _ => f |= T_REST,
        }
        f
    }
}

/// Transition flags: one exact value inline.
const T_SINGLE: u32 = 1;
/// Several exact values, in a sorted table.
const T_TABLE: u32 = 2;
/// A few other conditions, checked one by one.
const T_FEW: u32 = 4;
/// Many other conditions, indexed in a [`Rest`].
const T_REST: u32 = 8;

/// Condition kinds in a compiled `T_FEW` list (see [`push_cond`]).
const K_PREFIX: u32 = 1;
const K_SUFFIX: u32 = 2;
const K_PREFIX_IC: u32 = 3;
const K_SUFFIX_IC: u32 = 4;
const K_EQ_IC: u32 = 5;
const K_NUMERIC: u32 = 6;
const K_EXISTS: u32 = 7;
/// Any other condition: index in `Matcher::conds`.
const K_OTHER: u32 = 8;
/// `anything-but` a list of strings.
const K_NOT_STRS: u32 = 9;
/// `anything-but` a list of prefixes.
const K_NOT_PREFIXES: u32 = 10;

/// Appends `b`'s bytes packed little-endian into words (the last one padded
/// with zeros).
fn push_bytes(code: &mut Vec<u32>, b: &[u8]) {
    for c in b.chunks(4) {
        let mut w = [0u8; 4];
        w[..c.len()].copy_from_slice(c);
        code.push(u32::from_le_bytes(w));
    }
}

/// Words taken by `n` packed bytes.
#[inline]
fn byte_words(n: usize) -> usize {
    n.div_ceil(4)
}

/// Whether `s` equals the `s.len()` bytes packed in `w` (see [`push_bytes`]),
/// comparing ASCII letters case-insensitively when `ic` (the packed bytes
/// are then lower case).
#[inline]
fn packed_eq(w: &[u32], s: &[u8], ic: bool) -> bool {
    let mut chunks = s.chunks_exact(4);
    let mut i = 0;
    for c in &mut chunks {
        let mut x = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        if ic {
            x = lower_word(x);
        }
        if x != w[i] {
            return false;
        }
        i += 1;
    }
    let r = chunks.remainder();
    if r.is_empty() {
        return true;
    }
    let mut b = [0u8; 4];
    b[..r.len()].copy_from_slice(r);
    let mut x = u32::from_le_bytes(b);
    if ic {
        x = lower_word(x);
    }
    x == w[i]
}

/// ASCII-lowercases the four bytes of a word.
#[inline]
fn lower_word(x: u32) -> u32 {
    let b = x.to_le_bytes();
    u32::from_le_bytes([
        b[0].to_ascii_lowercase(),
        b[1].to_ascii_lowercase(),
        b[2].to_ascii_lowercase(),
        b[3].to_ascii_lowercase(),
    ])
}

/// Appends a condition to a compiled `T_FEW` list: `kind | n << 8` (`n` the
/// length of a string operand, or the number of operands of a list), the
/// next state, then the operands (strings packed with [`push_bytes`]; a
/// list's strings each preceded by their length).
fn push_cond(code: &mut Vec<u32>, conds: &mut Vec<Cond>, c: &Cond, next: u32) {
    const MAX: usize = 1 << 24;
    let string = |code: &mut Vec<u32>, kind: u32, p: &str| {
        code.extend_from_slice(&[kind | (p.len() as u32) << 8, next]);
        push_bytes(code, p.as_bytes());
    };
    match c {
        Cond::Prefix(p) if p.len() < MAX => string(code, K_PREFIX, p),
        Cond::Suffix(p) if p.len() < MAX => string(code, K_SUFFIX, p),
        Cond::PrefixIc(p) if p.len() < MAX => string(code, K_PREFIX_IC, p),
        Cond::SuffixIc(p) if p.len() < MAX => string(code, K_SUFFIX_IC, p),
        Cond::EqIc(p) if p.len() < MAX => string(code, K_EQ_IC, p),
        Cond::Exists => code.extend_from_slice(&[K_EXISTS, next]),
        Cond::Numeric { lo, hi } => {
            let bits = lo.map_or(0, |(_, inc)| 1 | (inc as u32) << 1)
                | hi.map_or(0, |(_, inc)| 4 | (inc as u32) << 3);
            let (l, h) = (lo.map_or(0, |b| b.0), hi.map_or(0, |b| b.0));
            code.extend_from_slice(&[K_NUMERIC, next, bits]);
            code.extend_from_slice(&[l as u32, (l >> 32) as u32, h as u32, (h >> 32) as u32]);
        }
        Cond::AnythingBut(AnythingBut::Values(vs))
            if vs.len() < MAX && vs.iter().all(|v| matches!(v, Lit::Str(_))) =>
        {
            code.extend_from_slice(&[K_NOT_STRS | (vs.len() as u32) << 8, next]);
            for v in vs {
                if let Lit::Str(v) = v {
                    code.push(v.len() as u32);
                    push_bytes(code, v.as_bytes());
                }
            }
        }
        Cond::AnythingBut(AnythingBut::Prefix(ps)) if ps.len() < MAX => {
            code.extend_from_slice(&[K_NOT_PREFIXES | (ps.len() as u32) << 8, next]);
            for p in ps {
                code.push(p.len() as u32);
                push_bytes(code, p.as_bytes());
            }
        }
        _ => {
            code.extend_from_slice(&[K_OTHER, next, conds.len() as u32]);
            conds.push(c.clone());
        }
    }
}

/// Words taken by a compiled condition.
fn cond_words(c: &Cond) -> usize {
    let mut code = Vec::new();
    push_cond(&mut code, &mut Vec::new(), c, 0);
    code.len()
}

/// Whether the `n` packed strings of a `K_NOT_STRS` / `K_NOT_PREFIXES` list
/// at `w` contain `s` (or a prefix of `s`, when `prefix`).
#[inline]
fn packed_list_has(w: &[u32], n: u32, s: &[u8], prefix: bool) -> bool {
    let mut k = 0;
    for _ in 0..n {
        let len = w[k] as usize;
        let body = &w[k + 1..k + 1 + byte_words(len)];
        k += 1 + byte_words(len);
        let hit = if prefix {
            s.len() >= len && packed_eq(body, &s[..len], false)
        } else {
            s.len() == len && packed_eq(body, s, false)
        };
        if hit {
            return true;
        }
    }
    false
}

/// Words taken by the `n` packed strings of a list at `w`.
#[inline]
fn packed_list_words(w: &[u32], n: u32) -> usize {
    let mut k = 0;
    for _ in 0..n {
        k += 1 + byte_words(w[k] as usize);
    }
    k
}

/// Above this many non-exact conditions, a transition indexes them in a
/// [`Rest`] (tries and maps) instead of checking them one by one.
const FEW_CONDS: usize = 6;

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

/// [`Cond::eval`], without allocating for case-insensitive tests on ASCII
/// strings.
#[inline]
fn eval_cond(c: &Cond, leaf: Leaf<'_>) -> bool {
    match (c, leaf) {
        (Cond::Prefix(p), Leaf::Str(s)) => s.starts_with(p.as_str()),
        (Cond::Suffix(p), Leaf::Str(s)) => s.ends_with(p.as_str()),
        (Cond::PrefixIc(p), Leaf::Str(s)) if s.is_ascii() => {
            s.len() >= p.len() && s.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
        }
        (Cond::SuffixIc(p), Leaf::Str(s)) if s.is_ascii() => {
            s.len() >= p.len()
                && s.as_bytes()[s.len() - p.len()..].eq_ignore_ascii_case(p.as_bytes())
        }
        (Cond::EqIc(p), Leaf::Str(s)) if s.is_ascii() => s.eq_ignore_ascii_case(p),
        _ => c.eval(leaf),
    }
}

/// A state while building.
#[derive(Default, Debug)]
struct State {
    accept: Vec<usize>,
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
                .find(|(k, _)| k.len() == kb.len() && k.first() == kb.first() && **k == *kb)
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
            code: Vec::new(),
            n_states: 0,
            exacts: Vec::new(),
            conds: Vec::new(),
            rests: Vec::new(),
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
        // Statistics over all alternatives decide the order of tests inside
        // each alternative: the test estimated to pass for the fewest events
        // comes first, so that an event leaves the paths of the patterns it
        // does not match as early as possible (see `Selectivity`).
        let mut sel = Selectivity::default();
        for (_, conjs) in &self.entries {
            for c in conjs {
                for (p, t) in c {
                    sel.count(p, t);
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
                let mut steps: Vec<(f64, &String, &FieldTest)> =
                    c.iter().map(|(p, t)| (sel.pass(p, t), p, t)).collect();
                steps.sort_by(|a, b| {
                    let ka = (matches!(a.2, FieldTest::Absent), a.0);
                    let kb = (matches!(b.2, FieldTest::Absent), b.0);
                    ka.0.cmp(&kb.0)
                        .then(ka.1.total_cmp(&kb.1))
                        .then_with(|| sel.fields[b.1.as_str()].cmp(&sel.fields[a.1.as_str()]))
                        .then_with(|| a.1.cmp(b.1))
                });
                let steps: Vec<(&String, &FieldTest)> =
                    steps.into_iter().map(|(_, p, t)| (p, t)).collect();
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
        m.layout();
        m
    }
}

/// Most paths one alternative may be split into (see `Matcher::insert`).
const MAX_SPLIT_PATHS: usize = 16;

/// Compile-time statistics used to order the tests of an alternative.
///
/// The share of events passing a test is estimated from the patterns alone:
/// an exact value on a field is assumed as common among events as among the
/// alternatives testing that field, scaled by `d / (d + 1)` where `d` is the
/// number of distinct values the field is tested against (so a field only
/// ever tested against one value counts as passing half the time, and a
/// value shared by few of many alternatives as rare). Other operators get
/// fixed estimates. `exists: false` tests are always last (they are checked
/// against the array elements chosen by the other tests).
#[derive(Default)]
struct Selectivity {
    /// Alternatives testing each field.
    fields: FastMap<String, usize>,
    /// Alternatives testing each field against each exact value.
    values: FastMap<(String, String), usize>,
    /// Distinct exact values per field.
    distinct: FastMap<String, usize>,
}

impl Selectivity {
    /// The key under which an exact-like condition is counted.
    fn exact_key(c: &Cond) -> Option<String> {
        match c {
            Cond::Exact(_) | Cond::EqIc(_) => Some(format!("{c:?}")),
            Cond::Wildcard(w) if w.parts.len() == 1 => Some(format!("{c:?}")),
            _ => None,
        }
    }

    fn count(&mut self, field: &str, t: &FieldTest) {
        *self.fields.entry(field.to_string()).or_default() += 1;
        if let FieldTest::Any(conds) = t {
            for c in conds {
                if let Some(k) = Self::exact_key(c) {
                    let n = self.values.entry((field.to_string(), k)).or_default();
                    if *n == 0 {
                        *self.distinct.entry(field.to_string()).or_default() += 1;
                    }
                    *n += 1;
                }
            }
        }
    }

    /// Estimated share of events passing `t` on `field`.
    fn pass(&self, field: &str, t: &FieldTest) -> f64 {
        let FieldTest::Any(conds) = t else {
            return 1.0;
        };
        let total = self.fields.get(field).copied().unwrap_or(1).max(1) as f64;
        let d = self.distinct.get(field).copied().unwrap_or(0) as f64;
        let p: f64 = conds
            .iter()
            .map(|c| match Self::exact_key(c) {
                Some(k) => {
                    let n = self
                        .values
                        .get(&(field.to_string(), k))
                        .copied()
                        .unwrap_or(1) as f64;
                    (n / total) * d / (d + 1.0)
                }
                None => match c {
                    Cond::Prefix(_)
                    | Cond::PrefixIc(_)
                    | Cond::Suffix(_)
                    | Cond::SuffixIc(_)
                    | Cond::Wildcard(_)
                    | Cond::Cidr(_) => 0.3,
                    Cond::Numeric { .. } => 0.5,
                    _ => 0.9,
                },
            })
            .sum();
        p.min(1.0)
    }
}

/// Many patterns compiled together; see the crate documentation.
#[derive(Debug)]
pub struct Matcher {
    /// The states while building; empty once built (see [`Matcher::layout`]).
    states: Vec<State>,
    /// The compiled states, in depth-first order (see [`Matcher::layout`]).
    code: Vec<u32>,
    n_states: usize,

    /// Exact-value tables, (symbol, next state) sorted, referenced from `code`.
    exacts: Vec<(u32, u32)>,
    /// Conditions with no compact form in `code`, referenced from it.
    conds: Vec<Cond>,
    /// Indexed sets of other conditions, referenced from `code`.
    rests: Vec<Rest>,
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
    /// Whether some field has several values. When none has, a state can
    /// only be reached once (each state has one parent, and each step has
    /// one value to take), so visits need not be recorded.
    multi: bool,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Word offsets in a compiled state's header.
const S_N_ACCEPT: usize = 0;
const S_N_TRANS: usize = 1;
const S_ABSENT: usize = 2;
const S_HEADER: usize = 3;

impl Matcher {
    /// Compiles the built states into `code`, a flat array of `u32` words,
    /// with the states in depth-first order so that the states of a path
    /// (and their transitions) are next to each other in memory. A state at
    /// offset `o` is:
    ///
    /// - `[o]`: number of accepted ids; `[o + 1]`: number of positive
    ///   transitions; `[o + 2]`: number of `exists: false` transitions;
    /// - the accepted ids, two words each (low, high);
    /// - the positive transitions: `field, flags`, then by flag: `T_SINGLE`
    ///   symbol and next state; `T_TABLE` start and length in `exacts`;
    ///   `T_FEW` the number of conditions, the words they take, then each
    ///   condition (see [`push_cond`]); `T_REST` index in `rests`;
    /// - the `exists: false` transitions: `field, next state`.
    ///
    /// Next states are offsets in `code`; the root is at offset 0.
    fn layout(&mut self) {
        let states = std::mem::take(&mut self.states);
        self.n_states = states.len();
        // Depth-first preorder; a state's first child comes right after it,
        // so a chain of single children is contiguous.
        let mut order = Vec::with_capacity(states.len());
        let mut stack = vec![0u32];
        let mut seen = vec![false; states.len()];
        while let Some(st) = stack.pop() {
            if std::mem::replace(&mut seen[st as usize], true) {
                continue;
            }
            order.push(st);
            let s = &states[st as usize];
            let mut kids: Vec<u32> = Vec::new();
            for (_, fm) in &s.pos {
                kids.extend(fm.exact.iter().map(|e| e.1));
                kids.extend(fm.other.iter().map(|e| e.1));
            }
            kids.extend(s.absent.iter().map(|e| e.1));
            stack.extend(kids.iter().rev());
        }
        let mut offset = vec![NONE; states.len()];
        let mut at = 0usize;
        for &st in &order {
            offset[st as usize] = at as u32;
            let s = &states[st as usize];
            at += S_HEADER + 2 * s.accept.len() + 2 * s.absent.len();
            for (_, fm) in &s.pos {
                let flags = fm.flags();
                at += 2
                    + 2 * ((flags & T_SINGLE != 0) as usize + (flags & T_TABLE != 0) as usize)
                    + (flags & T_REST != 0) as usize;
                if flags & T_FEW != 0 {
                    at += 2 + fm.other.iter().map(|(c, _)| cond_words(c)).sum::<usize>();
                }
            }
        }
        assert!(at < NONE as usize, "automaton too large");
        let mut field_exact = vec![false; self.n_fields];
        let mut code = Vec::with_capacity(at);
        for &st in &order {
            let s = &states[st as usize];
            debug_assert_eq!(code.len(), offset[st as usize] as usize);
            code.push(s.accept.len() as u32);
            code.push(s.pos.len() as u32);
            code.push(s.absent.len() as u32);
            for &id in &s.accept {
                let id = id as u64;
                code.extend_from_slice(&[id as u32, (id >> 32) as u32]);
            }
            for (field, fm) in &s.pos {
                let flags = fm.flags();
                code.push(*field);
                code.push(flags);
                let mut exact: Vec<(u32, u32)> = fm
                    .exact
                    .iter()
                    .map(|&(k, t)| (k, offset[t as usize]))
                    .collect();
                exact.sort_unstable();
                exact.dedup();
                if !exact.is_empty() {
                    field_exact[*field as usize] = true;
                }
                if flags & T_SINGLE != 0 {
                    code.extend_from_slice(&[exact[0].0, exact[0].1]);
                } else if flags & T_TABLE != 0 {
                    code.extend_from_slice(&[self.exacts.len() as u32, exact.len() as u32]);
                    self.exacts.extend_from_slice(&exact);
                }
                let other = fm
                    .other
                    .iter()
                    .map(|(c, t)| (c.clone(), offset[*t as usize]));
                if flags & T_FEW != 0 {
                    // The number of conditions, then the words they take.
                    let at = code.len();
                    code.extend_from_slice(&[fm.other.len() as u32, 0]);
                    for (c, t) in other {
                        push_cond(&mut code, &mut self.conds, &c, t);
                    }
                    code[at + 1] = (code.len() - at - 2) as u32;
                } else if flags & T_REST != 0 {
                    code.push(self.rests.len() as u32);
                    let mut r = Rest::default();
                    for (c, t) in other {
                        r.add(&c, t);
                    }
                    self.rests.push(r);
                }
            }
            for &(field, next) in &s.absent {
                code.extend_from_slice(&[field, offset[next as usize]]);
            }
        }
        debug_assert_eq!(code.len(), at);
        self.code = code;
        self.field_exact = field_exact;
    }

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
        self.n_states
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
            multi: false,
        };
        let res = fill(self, &mut cx);
        if res.is_ok() && (!cx.leaves.is_empty() || self.code[S_ABSENT] != 0) {
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
        } else {
            cx.multi = true;
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

    /// Appends the next states reached by a value (with symbol `sym`)
    /// through the transition at `code[t..]` to `out` (may repeat).
    #[inline]
    fn collect(&self, t: usize, flags: u32, leaf: Leaf<'_>, sym: u32, out: &mut Vec<u32>) {
        let code = &self.code;
        let mut k = t + 2;
        if flags & T_SINGLE != 0 {
            if sym != NONE && code[k] == sym {
                out.push(code[k + 1]);
            }
            k += 2;
        } else if flags & T_TABLE != 0 {
            if sym != NONE {
                let (a, n) = (code[k] as usize, code[k + 1] as usize);
                let e = &self.exacts[a..a + n];
                let start = if e.len() <= 8 {
                    e.iter().position(|x| x.0 >= sym).unwrap_or(e.len())
                } else {
                    e.partition_point(|x| x.0 < sym)
                };
                for &(v, next) in &e[start..] {
                    if v != sym {
                        break;
                    }
                    out.push(next);
                }
            }
            k += 2;
        }
        if flags & T_FEW != 0 {
            let n = code[k];
            let words = code[k + 1] as usize;
            self.collect_few(&code[k + 2..k + 2 + words], n, leaf, out);
        } else if flags & T_REST != 0 {
            self.rests[code[k] as usize].collect(leaf, out);
        }
    }

    /// Appends the next states reached by `leaf` through the `n` compiled
    /// conditions in `w` (see [`push_cond`]) to `out`.
    #[inline]
    fn collect_few(&self, w: &[u32], n: u32, leaf: Leaf<'_>, out: &mut Vec<u32>) {
        let mut k = 0;
        for _ in 0..n {
            let (head, next) = (w[k], w[k + 1]);
            let (kind, len) = (head & 0xff, (head >> 8) as usize);
            k += 2;
            let hit = match kind {
                K_PREFIX | K_SUFFIX | K_PREFIX_IC | K_SUFFIX_IC | K_EQ_IC => {
                    let p = &w[k..k + byte_words(len)];
                    k += byte_words(len);
                    match leaf {
                        Leaf::Str(s) => {
                            let ic = kind >= K_PREFIX_IC;
                            let folded;
                            let (b, ic) = if ic && !s.is_ascii() {
                                folded = fold(s);
                                (folded.as_bytes(), false)
                            } else {
                                (s.as_bytes(), ic)
                            };
                            match kind {
                                K_PREFIX | K_PREFIX_IC => {
                                    b.len() >= len && packed_eq(p, &b[..len], ic)
                                }
                                K_SUFFIX | K_SUFFIX_IC => {
                                    b.len() >= len && packed_eq(p, &b[b.len() - len..], ic)
                                }
                                _ => b.len() == len && packed_eq(p, b, ic),
                            }
                        }
                        _ => false,
                    }
                }
                K_NUMERIC => {
                    let bits = w[k];
                    let lo = w[k + 1] as u64 | (w[k + 2] as u64) << 32;
                    let hi = w[k + 3] as u64 | (w[k + 4] as u64) << 32;
                    k += 5;
                    let lo = (bits & 1 != 0).then_some((lo as i64, bits & 2 != 0));
                    let hi = (bits & 4 != 0).then_some((hi as i64, bits & 8 != 0));
                    matches!(leaf, Leaf::Num(Num { cmp: Some(x), .. }) if in_range(lo, hi, x))
                }
                K_EXISTS => true,
                K_NOT_STRS | K_NOT_PREFIXES => {
                    let list = &w[k..];
                    k += packed_list_words(list, len as u32);
                    match leaf {
                        Leaf::Str(s) => {
                            !packed_list_has(list, len as u32, s.as_bytes(), kind == K_NOT_PREFIXES)
                        }
                        _ => true,
                    }
                }
                _ => {
                    let c = &self.conds[w[k] as usize];
                    k += 1;
                    eval_cond(c, leaf)
                }
            };
            if hit {
                out.push(next);
            }
        }
    }

    fn visit(&self, st: u32, cx: &mut Cx<'_, '_>, out: &mut Vec<usize>) {
        if cx.multi && !cx.s.visited.insert((st, cx.bind_hash)) {
            return;
        }
        let code = &self.code;
        let o = st as usize;
        let mut t = o + S_HEADER;
        for _ in 0..code[o + S_N_ACCEPT] {
            out.push((code[t] as u64 | (code[t + 1] as u64) << 32) as usize);
            t += 2;
        }
        for _ in 0..code[o + S_N_TRANS] {
            let (field, flags) = (code[t], code[t + 1]);
            let here = t;
            t += 2
                + 2 * ((flags & T_SINGLE != 0) as usize + (flags & T_TABLE != 0) as usize)
                + (flags & T_REST != 0) as usize;
            if flags & T_FEW != 0 {
                t += 2 + code[t + 1] as usize;
            }
            let mut li = cx.s.head[field as usize];
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
                self.collect(here, flags, leaf, rec.sym, &mut cx.s.targets);
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
        for _ in 0..code[o + S_ABSENT] {
            let (field, next) = (code[t], code[t + 1]);
            t += 2;
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
