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
//! subtree), then walks the states reachable from the root.
//!
//! Values from different elements of one array are never combined. Only an
//! array that holds two or more of the patterns' fields can break that rule
//! (a "binding" array); each value records the innermost element of such an
//! array it sits in, a step binds that element (and the enclosing ones), and
//! a value is only taken when it agrees with the elements bound so far.
//! Arrays of plain values, or of objects with one tested field, bind
//! nothing, so they cost one visit per value instead of one per combination
//! of values. A state is visited once per combination of the bound elements
//! that matter below it (see `Matcher::rel_key`), and the values of a field
//! are kept in document order, so a step jumps over the elements that can
//! not agree instead of testing each value. A match that still takes more
//! than the step budget (see `MatcherBuilder::set_step_budget`) stops with
//! `ErrorKind::MatchBudgetExceeded`.

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
fn push_cond(code: &mut Vec<u32>, conds: &mut CondTable, c: &Cond, next: u32) {
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
            let id = conds.id(c);
            code.extend_from_slice(&[K_OTHER, next, id]);
        }
    }
}

/// Conditions with no compact form, each stored once, so that equal
/// conditions compile to equal words (which `Matcher::collect_run` relies
/// on to test a condition once per event).
#[derive(Default)]
struct CondTable {
    conds: Vec<Cond>,
    ids: FastMap<String, u32>,
}

impl CondTable {
    fn id(&mut self, c: &Cond) -> u32 {
        let next = self.conds.len() as u32;
        let id = *self.ids.entry(format!("{c:?}")).or_insert(next);
        if id == next {
            self.conds.push(c.clone());
        }
        id
    }
}

/// Words taken by a compiled condition.
fn cond_words(c: &Cond) -> usize {
    let mut code = Vec::new();
    push_cond(&mut code, &mut CondTable::default(), c, 0);
    code.len()
}

/// Words taken by the compiled condition at the start of `w` (see
/// [`push_cond`]).
#[inline]
fn cond_len(w: &[u32]) -> usize {
    let (kind, len) = (w[0] & 0xff, (w[0] >> 8) as usize);
    match kind {
        K_PREFIX | K_SUFFIX | K_PREFIX_IC | K_SUFFIX_IC | K_EQ_IC => 2 + byte_words(len),
        K_NUMERIC => 7,
        K_EXISTS => 2,
        K_NOT_STRS | K_NOT_PREFIXES => 2 + packed_list_words(&w[2..], len as u32),
        _ => 3,
    }
}

/// Runs of at most this many values are tested directly, longer ones
/// through the per-event memo (see `Matcher::collect_run`).
const SHORT_RUN: usize = 4;

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
    /// Conditions checked one by one (anything-but, numeric, cidr,
    /// unanchored wildcards): (id in the matcher's `conds`, next state).
    other: Vec<(u32, u32)>,
    has_ic: bool,
}

fn push_unique(v: &mut Vec<u32>, t: u32) {
    if !v.contains(&t) {
        v.push(t);
    }
}

impl Rest {
    fn add(&mut self, c: &Cond, t: u32, conds: &mut CondTable) {
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
                    self.other.push((conds.id(c), t));
                    return;
                }
                self.wilds.push((w.clone(), t));
            }
            _ => self.other.push((conds.id(c), t)),
        }
    }

    /// Appends the next states reached by `leaf` through the indexed
    /// conditions to `out` (may repeat); `any` and `other` are left to the
    /// caller.
    #[inline]
    fn collect_indexed(&self, leaf: Leaf<'_>, out: &mut Vec<u32>) {
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
    /// Whether two or more fields lie at or below this node, so that an
    /// array here must keep the values of one element together.
    bind: bool,
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
    budget: Option<u64>,
}

/// Steps one match may take by default (see
/// [`MatcherBuilder::set_step_budget`]).
pub const DEFAULT_STEP_BUDGET: u64 = 2_000_000;

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

    /// Sets the most steps one match may take (default
    /// [`DEFAULT_STEP_BUDGET`]). A step is a state visited or a value
    /// examined; matching grows linearly with the event, so only a hostile
    /// event the analysis does not foresee reaches the budget, and the match
    /// then stops with [`ErrorKind::MatchBudgetExceeded`].
    pub fn set_step_budget(&mut self, steps: u64) {
        self.budget = Some(steps);
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
                bind: false,
            }],
            n_fields: 0,
            ids: 0,
            rels: Vec::new(),
            trans_rels: Vec::new(),
            budget: self.budget.unwrap_or(DEFAULT_STEP_BUDGET),
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

        for (_, conjs) in &self.entries {
            for c in conjs {
                for (p, _) in c {
                    m.field_id(p);
                }
            }
        }
        let chains = m.mark_binding_nodes();

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
                let steps = group_by_binding(steps, &chains);
                m.insert(&mut edges, 0, &steps, split, *id);
            }
        }
        let rel = m.relevant_nodes(&chains);
        m.layout(&rel);
        m
    }
}

/// Reorders an alternative's tests so that the tests of fields under the
/// same binding node are consecutive (recursively, a depth-first order of
/// the binding nodes), keeping the given order otherwise: each group takes
/// the place of its first test. Once the tests under a binding node are
/// done, the element bound there no longer matters, so the states after
/// them are visited once, not once per element (see `Matcher::rel_key`).
/// `exists: false` tests still come after the positive tests of the groups
/// they share, so they are checked against every element that matters.
fn group_by_binding<'t>(
    steps: Vec<(u32, &'t FieldTest)>,
    chains: &[Vec<u32>],
) -> Vec<(u32, &'t FieldTest)> {
    let mut first: FastMap<&[u32], usize> = FastMap::default();
    for (i, (f, _)) in steps.iter().enumerate() {
        let chain = &chains[*f as usize];
        for k in 1..=chain.len() {
            first.entry(&chain[..k]).or_insert(i);
        }
    }
    let mut keyed: Vec<(Vec<usize>, (u32, &FieldTest))> = steps
        .into_iter()
        .enumerate()
        .map(|(i, step)| {
            let chain = &chains[step.0 as usize];
            let mut key: Vec<usize> = (1..=chain.len()).map(|k| first[&chain[..k]]).collect();
            key.push(i);
            (key, step)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.into_iter().map(|(_, step)| step).collect()
}

/// The binding nodes that matter at a state and at each of its transitions
/// (sorted path node ids; see `Matcher::relevant_nodes`).
#[derive(Default)]
struct Relevant {
    state: Vec<u32>,
    trans: Vec<Vec<u32>>,
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
    /// Per state, the binding nodes some field tested at or below it lies
    /// under (sorted path node ids), referenced from `code`.
    rels: Vec<u32>,
    /// Per transition, its relevant binding nodes as (start, length) in
    /// `rels`, referenced from `code`.
    trans_rels: Vec<(u32, u32)>,
    /// Most steps one match may take.
    budget: u64,
}

#[derive(Clone, Copy)]
struct LeafRec<'a> {
    leaf: Leaf<'a>,
    /// Index into `Cx::escaped` when the value is a decoded string.
    esc: u32,
    /// The value's symbol, or `NONE` when no pattern tests it exactly.
    sym: u32,
    /// The previous value of the same field (a list while collecting).
    next: u32,
    /// The innermost element of a binding array the value sits in, or `NONE`.
    elem: u32,
}

/// An array at a binding node. Arrays directly inside it are flattened
/// into it: two values are in the same element exactly when they are in
/// the same innermost non-array value.
#[derive(Clone, Copy)]
struct ArrRec {
    node: u32,
    /// The values inside the array end before `leaves[hi]` (document order).
    hi: u32,
}

/// One element of an [`ArrRec`].
#[derive(Clone, Copy)]
struct ElemRec {
    arr: u32,
    /// The element of a binding array this array sits in, or `NONE`.
    parent: u32,
    /// The values inside the element are `leaves[lo..hi]`.
    lo: u32,
    hi: u32,
}

/// Values of one field in one element: `by_field[lo..hi]`, and their
/// symbols `syms[syms_lo..syms_hi]`.
#[derive(Clone, Copy)]
struct Run {
    lo: u32,
    hi: u32,
    syms_lo: u32,
    syms_hi: u32,
}

/// Reusable per-thread buffers for matching.
#[derive(Default)]
struct Scratch {
    leaves: Vec<LeafRec<'static>>,
    head: Vec<u32>,
    touched: Vec<u32>,
    /// Per field, its values as a range of `runs` (valid when touched).
    field_range: Vec<(u32, u32)>,
    /// The values of every touched field, each field's in document order.
    by_field: Vec<u32>,
    /// Each field's values cut into runs of consecutive values sitting in
    /// the same element (they bind the same elements).
    runs: Vec<Run>,
    /// Per run, the symbols of its values, sorted and deduplicated.
    syms: Vec<u32>,
    /// Per (run, condition) hash, whether a value of the run satisfies the
    /// condition (see `Matcher::collect_run`).
    memo: FastMap<u64, bool>,
    arrs: Vec<ArrRec>,
    elems: Vec<ElemRec>,
    /// Per array, the element the current path has taken from it, or `NONE`.
    bound: Vec<u32>,
    /// The arrays with a bound element, in binding order (for undoing).
    bind: Vec<u32>,
    targets: Vec<u32>,
    /// (state, key) pairs visited (see `Matcher::rel_key`), for keys other
    /// than 0.
    visited: FastSet<(u32, u64)>,
    /// (transition, key) pairs scanned, for keys other than 0.
    visited_trans: FastSet<(u32, u64)>,
    /// Per state number and per transition, the last run (`generation`)
    /// that visited it with key 0 (no bound element mattering there, the
    /// usual case), so that those visits need no hashing.
    seen_states: Vec<u32>,
    seen_trans: Vec<u32>,
    /// Counts runs on this thread, whatever the matcher.
    generation: u32,
}

struct Cx<'s, 'a> {
    s: &'s mut Scratch,
    leaves: Vec<LeafRec<'a>>,
    /// Strings of a JSON-text event that contained escapes, decoded.
    escaped: Vec<String>,
    /// The innermost element of a binding array being collected, or `NONE`.
    elem: u32,
    /// Whether some field has several values. When none has, a state can
    /// only be reached once (each state has one parent, and each step has
    /// one value to take), so visits need not be recorded.
    multi: bool,
    steps: u64,
    /// Whether the step budget ran out.
    over: bool,
}

impl Cx<'_, '_> {
    fn open_array(&mut self, node: u32) -> u32 {
        let hi = self.leaves.len() as u32;
        self.s.arrs.push(ArrRec { node, hi });
        self.s.bound.push(NONE);
        (self.s.arrs.len() - 1) as u32
    }

    fn close_array(&mut self, arr: u32) {
        self.s.arrs[arr as usize].hi = self.leaves.len() as u32;
    }

    /// Starts an element of `arr`; returns the element to restore after it.
    fn open_elem(&mut self, arr: u32) -> u32 {
        let lo = self.leaves.len() as u32;
        self.s.elems.push(ElemRec {
            arr,
            parent: self.elem,
            lo,
            hi: lo,
        });
        std::mem::replace(&mut self.elem, (self.s.elems.len() - 1) as u32)
    }

    fn close_elem(&mut self, outer: u32) {
        self.s.elems[self.elem as usize].hi = self.leaves.len() as u32;
        self.elem = outer;
    }

    /// Whether value `li` agrees with the bound elements; if not, the first
    /// value index that might (every value before it inside the same array
    /// sits in another element than the bound one).
    #[inline]
    fn agrees(&self, li: u32) -> Result<(), u32> {
        let mut e = self.leaves[li as usize].elem;
        while e != NONE {
            let er = self.s.elems[e as usize];
            let b = self.s.bound[er.arr as usize];
            if b == NONE {
                e = er.parent;
            } else if b == e {
                // The enclosing elements were bound with this one.
                return Ok(());
            } else {
                let br = self.s.elems[b as usize];
                return Err(if li < br.lo {
                    br.lo
                } else {
                    self.s.arrs[er.arr as usize].hi
                });
            }
        }
        Ok(())
    }

    /// Binds the elements value `li` sits in.
    #[inline]
    fn bind(&mut self, li: u32) {
        let mut e = self.leaves[li as usize].elem;
        while e != NONE {
            let er = self.s.elems[e as usize];
            if self.s.bound[er.arr as usize] != NONE {
                break;
            }
            self.s.bound[er.arr as usize] = e;
            self.s.bind.push(er.arr);
            e = er.parent;
        }
    }

    fn unbind(&mut self, mark: usize) {
        while self.s.bind.len() > mark {
            let a = self.s.bind.pop().expect("len > mark");
            self.s.bound[a as usize] = NONE;
        }
    }

    /// Counts a step; false once the budget has run out.
    #[inline]
    fn step(&mut self, budget: u64) -> bool {
        self.steps += 1;
        if self.steps > budget {
            self.over = true;
        }
        !self.over
    }
}

/// The index of the first run at or after `r` in `runs[..end]` whose values
/// start at value index `li` or later.
#[inline]
fn skip_to(runs: &[Run], by_field: &[u32], r: usize, end: usize, li: u32) -> usize {
    r + runs[r..end].partition_point(|run| by_field[run.lo as usize] < li)
}

/// Whether a value of run `ri` (`values`) satisfies a condition (compiled
/// as `words`, its next state left out): in a short run tested directly, in
/// a longer one once per event and remembered in `memo`.
#[inline]
fn run_has<'w>(
    ri: u32,
    words: impl Iterator<Item = &'w u32>,
    values: &[u32],
    memo: &mut FastMap<u64, bool>,
    steps: &mut u64,
    hit: impl Fn(u32) -> bool,
) -> bool {
    if values.len() <= SHORT_RUN {
        *steps += values.len() as u64;
        return values.iter().any(|&li| hit(li));
    }
    let key = words.fold(mix(ri as u64), |h, &x| mix(h ^ x as u64));
    if let Some(&found) = memo.get(&key) {
        *steps += 1;
        return found;
    }
    let mut found = false;
    for &li in values {
        *steps += 1;
        if hit(li) {
            found = true;
            break;
        }
    }
    memo.insert(key, found);
    found
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Word offsets in a compiled state's header.
const S_N_ACCEPT: usize = 0;
const S_N_TRANS: usize = 1;
const S_ABSENT: usize = 2;
/// Where the state's relevant binding nodes start in `rels`, and how many.
const S_REL: usize = 3;
const S_REL_LEN: usize = 4;
/// The index in `trans_rels` of the state's first transition.
const S_TRANS_REL: usize = 5;
/// The state's number, 0 to `n_states - 1`.
const S_INDEX: usize = 6;
const S_HEADER: usize = 7;

impl Matcher {
    /// Compiles the built states into `code`, a flat array of `u32` words,
    /// with the states in depth-first order so that the states of a path
    /// (and their transitions) are next to each other in memory. A state at
    /// offset `o` is:
    ///
    /// - `[o]`: number of accepted ids; `[o + 1]`: number of positive
    ///   transitions; `[o + 2]`: number of `exists: false` transitions;
    ///   `[o + 3]`, `[o + 4]`: start and length of the state's relevant
    ///   binding nodes in `rels`; `[o + 5]`: the index in `trans_rels` of
    ///   the relevant binding nodes of its first transition (the others
    ///   follow, positive then `exists: false`); `[o + 6]`: the state's
    ///   number (its place in this order);
    /// - the accepted ids, two words each (low, high);
    /// - the positive transitions: `field, flags`, then by flag: `T_SINGLE`
    ///   symbol and next state; `T_TABLE` start and length in `exacts`;
    ///   `T_FEW` the number of conditions, the words they take, then each
    ///   condition (see [`push_cond`]); `T_REST` index in `rests`;
    /// - the `exists: false` transitions: `field, next state`.
    ///
    /// Next states are offsets in `code`; the root is at offset 0.
    fn layout(&mut self, rel: &[Relevant]) {
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
        let mut cond_table = CondTable::default();
        let mut code = Vec::with_capacity(at);
        for (number, &st) in order.iter().enumerate() {
            let s = &states[st as usize];
            debug_assert_eq!(code.len(), offset[st as usize] as usize);
            code.push(s.accept.len() as u32);
            code.push(s.pos.len() as u32);
            code.push(s.absent.len() as u32);
            let r = &rel[st as usize];
            code.extend_from_slice(&[
                self.rels.len() as u32,
                r.state.len() as u32,
                self.trans_rels.len() as u32,
                number as u32,
            ]);
            self.rels.extend_from_slice(&r.state);
            for t in &r.trans {
                self.trans_rels
                    .push((self.rels.len() as u32, t.len() as u32));
                self.rels.extend_from_slice(t);
            }
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
                        push_cond(&mut code, &mut cond_table, &c, t);
                    }
                    code[at + 1] = (code.len() - at - 2) as u32;
                } else if flags & T_REST != 0 {
                    code.push(self.rests.len() as u32);
                    let mut r = Rest::default();
                    for (c, t) in other {
                        r.add(&c, t, &mut cond_table);
                    }
                    self.rests.push(r);
                }
            }
            for &(field, next) in &s.absent {
                code.extend_from_slice(&[field, offset[next as usize]]);
            }
        }
        debug_assert_eq!(code.len(), at);
        self.conds = cond_table.conds;
        self.code = code;
        self.field_exact = field_exact;
    }

    /// Marks the path nodes with two or more fields at or below them, and
    /// returns, per field, the binding nodes on its path (root first).
    fn mark_binding_nodes(&mut self) -> Vec<Vec<u32>> {
        // Children are created after their parent, so a reverse pass sees
        // every child before its parent.
        let mut below = vec![0usize; self.paths.len()];
        for n in (0..self.paths.len()).rev() {
            let kids: usize = self.paths[n]
                .small
                .iter()
                .map(|(_, c)| below[*c as usize])
                .sum();
            below[n] = kids + (self.paths[n].field != NONE) as usize;
            self.paths[n].bind = below[n] >= 2;
        }
        let mut chains = vec![Vec::new(); self.n_fields];
        let mut stack = vec![(0u32, Vec::new())];
        while let Some((n, mut chain)) = stack.pop() {
            let node = &self.paths[n as usize];
            if node.bind {
                chain.push(n);
            }
            if node.field != NONE {
                chains[node.field as usize] = chain.clone();
            }
            for (_, c) in &node.small {
                stack.push((*c, chain.clone()));
            }
        }
        chains
    }

    /// Per built state, the binding nodes that some field tested at or
    /// below the state (or below each of its transitions) lies under: only
    /// elements bound at these nodes can change what is matched there.
    fn relevant_nodes(&self, chains: &[Vec<u32>]) -> Vec<Relevant> {
        let mut rel: Vec<Relevant> = Vec::with_capacity(self.states.len());
        rel.resize_with(self.states.len(), Relevant::default);
        let sorted = |mut v: Vec<u32>| {
            v.sort_unstable();
            v.dedup();
            v
        };
        // A state's children are created after it.
        for st in (0..self.states.len()).rev() {
            let s = &self.states[st];
            let mut trans = Vec::with_capacity(s.pos.len() + s.absent.len());
            for (field, fm) in &s.pos {
                let mut r = chains[*field as usize].clone();
                let next = fm.exact.iter().map(|e| e.1);
                for t in next.chain(fm.other.iter().map(|e| e.1)) {
                    r.extend_from_slice(&rel[t as usize].state);
                }
                trans.push(sorted(r));
            }
            for &(field, t) in &s.absent {
                let mut r = chains[field as usize].clone();
                r.extend_from_slice(&rel[t as usize].state);
                trans.push(sorted(r));
            }
            rel[st].state = sorted(trans.concat());
            rel[st].trans = trans;
        }
        rel
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
                        bind: false,
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
    /// When the match runs out of steps (see
    /// [`MatcherBuilder::set_step_budget`]) this returns the ids found until
    /// then; [`Matcher::try_matches`] reports that case.
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
        let _ = self.try_matches_into(event, out);
    }

    /// The ids of the patterns that match `event`, sorted and deduplicated,
    /// or an error of kind [`ErrorKind::MatchBudgetExceeded`] when the match
    /// takes more steps than the budget.
    pub fn try_matches(&self, event: &serde_json::Value) -> Result<Vec<usize>, Error> {
        let mut out = Vec::new();
        self.try_matches_into(event, &mut out)?;
        Ok(out)
    }

    /// Like [`Matcher::try_matches`], writing into `out` (cleared first);
    /// returns the number of steps the match took (states visited and
    /// values examined, what the budget limits). On
    /// [`ErrorKind::MatchBudgetExceeded`], `out` holds the ids matched
    /// before the budget ran out (each a real match, the list possibly
    /// incomplete).
    pub fn try_matches_into(
        &self,
        event: &serde_json::Value,
        out: &mut Vec<usize>,
    ) -> Result<u64, Error> {
        out.clear();
        if self.ids == 0 {
            return Ok(0);
        }
        self.with_scratch(|s| {
            self.run(s, out, |m, cx| {
                if let serde_json::Value::Object(_) | serde_json::Value::Array(_) = event {
                    m.walk(event, 0, cx);
                }
                Ok(())
            })
        })
    }

    fn run<'a>(
        &self,
        s: &mut Scratch,
        out: &mut Vec<usize>,
        fill: impl FnOnce(&Self, &mut Cx<'_, 'a>) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        if s.head.len() < self.n_fields {
            s.head.resize(self.n_fields, NONE);
            s.field_range.resize(self.n_fields, (0, 0));
        }
        if s.seen_states.len() < self.n_states {
            s.seen_states.resize(self.n_states, 0);
        }
        if s.seen_trans.len() < self.trans_rels.len() {
            s.seen_trans.resize(self.trans_rels.len(), 0);
        }
        s.generation = s.generation.wrapping_add(1);
        if s.generation == 0 {
            s.seen_states.fill(0);
            s.seen_trans.fill(0);
            s.generation = 1;
        }
        let leaves: Vec<LeafRec<'_>> = std::mem::take(&mut s.leaves);
        let mut cx = Cx {
            s,
            leaves,
            escaped: Vec::new(),
            elem: NONE,
            multi: false,
            steps: 0,
            over: false,
        };
        let mut res = fill(self, &mut cx);
        if res.is_ok() && (!cx.leaves.is_empty() || self.code[S_ABSENT] != 0) {
            self.index_fields(&mut cx);
            self.visit(0, &mut cx, out);
            if cx.over {
                res = Err(Error::new(
                    ErrorKind::MatchBudgetExceeded,
                    format!(
                        "matching the event took more than {} steps; it was stopped",
                        self.budget
                    ),
                    "",
                    None,
                ));
            }
        }
        out.sort_unstable();
        out.dedup();
        let steps = cx.steps;
        // Reset the scratch buffers, keeping their capacity.
        let Cx { s, mut leaves, .. } = cx;
        for &f in &s.touched {
            s.head[f as usize] = NONE;
        }
        s.touched.clear();
        s.by_field.clear();
        s.runs.clear();
        s.syms.clear();
        s.memo.clear();
        s.arrs.clear();
        s.elems.clear();
        s.bound.clear();
        s.bind.clear();
        s.targets.clear();
        s.visited.clear();
        s.visited_trans.clear();
        leaves.clear();
        s.leaves = leaves
            .into_iter()
            .map(|_| -> LeafRec<'static> { unreachable!() })
            .collect();
        match res {
            Ok(()) => Ok(steps),
            Err(e) => {
                if e.kind != ErrorKind::MatchBudgetExceeded {
                    out.clear();
                }
                Err(e)
            }
        }
    }

    /// Lays out each touched field's values in document order in
    /// `by_field` (they were collected as lists, newest first), cut into
    /// runs of values in the same element.
    fn index_fields(&self, cx: &mut Cx<'_, '_>) {
        let s = &mut *cx.s;
        for &f in &s.touched {
            let start = s.by_field.len();
            let mut li = s.head[f as usize];
            while li != NONE {
                s.by_field.push(li);
                li = cx.leaves[li as usize].next;
            }
            s.by_field[start..].reverse();
            let r0 = s.runs.len();
            let mut lo = start;
            while lo < s.by_field.len() {
                let elem = cx.leaves[s.by_field[lo] as usize].elem;
                let mut hi = lo + 1;
                while hi < s.by_field.len() && cx.leaves[s.by_field[hi] as usize].elem == elem {
                    hi += 1;
                }
                let syms_lo = s.syms.len();
                for &li in &s.by_field[lo..hi] {
                    let sym = cx.leaves[li as usize].sym;
                    if sym != NONE {
                        s.syms.push(sym);
                    }
                }
                s.syms[syms_lo..].sort_unstable();
                let mut w = syms_lo;
                for r in syms_lo..s.syms.len() {
                    if w == syms_lo || s.syms[r] != s.syms[w - 1] {
                        s.syms[w] = s.syms[r];
                        w += 1;
                    }
                }
                s.syms.truncate(w);
                s.runs.push(Run {
                    lo: lo as u32,
                    hi: hi as u32,
                    syms_lo: syms_lo as u32,
                    syms_hi: w as u32,
                });
                lo = hi;
            }
            s.field_range[f as usize] = (r0 as u32, s.runs.len() as u32);
        }
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
    /// deduplicated. Returns an error of kind [`ErrorKind::InvalidJson`] for
    /// malformed input, in which case `out` is left empty, or of kind
    /// [`ErrorKind::MatchBudgetExceeded`] (see [`Matcher::try_matches_into`]).
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
            .map(|_| ())
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
                if self.paths[node as usize].bind {
                    let arr = cx.open_array(node);
                    self.walk_elems(a, node, arr, cx);
                    cx.close_array(arr);
                } else {
                    for e in a {
                        self.walk(e, node, cx);
                    }
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

    /// The elements of binding array `arr` (arrays inside it flattened).
    fn walk_elems<'a>(&self, a: &'a [serde_json::Value], node: u32, arr: u32, cx: &mut Cx<'_, 'a>) {
        for e in a {
            if let serde_json::Value::Array(inner) = e {
                self.walk_elems(inner, node, arr, cx);
            } else {
                let outer = cx.open_elem(arr);
                self.walk(e, node, cx);
                cx.close_elem(outer);
            }
        }
    }

    #[inline]
    fn push_leaf<'a>(&self, f: u32, leaf: Leaf<'a>, esc: u32, cx: &mut Cx<'_, 'a>) {
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
            elem: cx.elem,
        });
        *head = (cx.leaves.len() - 1) as u32;
    }

    /// Appends the next states reached through the transition at
    /// `code[t..]` by some value of run `run` to `s.targets` (may repeat).
    /// The values of a run bind the same elements, so which of them
    /// satisfies a condition does not matter, only whether one does: exact
    /// values are looked up among the run's symbols, and in a long run each
    /// other condition is tested once per event (`s.memo`, keyed by the
    /// condition's compiled words), however many states share it.
    fn collect_run(&self, t: usize, flags: u32, ri: u32, cx: &mut Cx<'_, '_>) {
        let code = &self.code;
        let s = &mut *cx.s;
        let run = s.runs[ri as usize];
        let syms = &s.syms[run.syms_lo as usize..run.syms_hi as usize];
        let values = &s.by_field[run.lo as usize..run.hi as usize];
        let leaves = &cx.leaves;
        let escaped = &cx.escaped;
        let leaf = |li: u32| {
            let rec = leaves[li as usize];
            if rec.esc == NONE {
                rec.leaf
            } else {
                Leaf::Str(&escaped[rec.esc as usize])
            }
        };
        let out = &mut s.targets;
        let mut k = t + 2;
        if flags & T_SINGLE != 0 {
            cx.steps += 1;
            if syms.binary_search(&code[k]).is_ok() {
                out.push(code[k + 1]);
            }
            k += 2;
        } else if flags & T_TABLE != 0 {
            let (a, n) = (code[k] as usize, code[k + 1] as usize);
            let e = &self.exacts[a..a + n];
            if e.len() <= syms.len() {
                cx.steps += e.len() as u64;
                for &(v, next) in e {
                    if syms.binary_search(&v).is_ok() {
                        out.push(next);
                    }
                }
            } else {
                cx.steps += syms.len() as u64;
                for &sym in syms {
                    let start = e.partition_point(|x| x.0 < sym);
                    for &(v, next) in &e[start..] {
                        if v != sym {
                            break;
                        }
                        out.push(next);
                    }
                }
            }
            k += 2;
        }
        if flags & T_FEW != 0 {
            let n = code[k];
            let words = code[k + 1] as usize;
            let w = &code[k + 2..k + 2 + words];
            let mut at = 0;
            for _ in 0..n {
                let end = at + cond_len(&w[at..]);
                let cond = &w[at..end];
                // The condition without its next state.
                let words = cond[..1].iter().chain(&cond[2..]);
                let hit = run_has(ri, words, values, &mut s.memo, &mut cx.steps, |li| {
                    self.cond_hit(cond, leaf(li))
                });
                if hit {
                    out.push(cond[1]);
                }
                at = end;
            }
        } else if flags & T_REST != 0 {
            let rest = &self.rests[code[k] as usize];
            for &li in values {
                cx.steps += 1;
                rest.collect_indexed(leaf(li), out);
            }
            if !values.is_empty() {
                out.extend_from_slice(&rest.any);
            }
            for &(id, next) in &rest.other {
                // The same words as this condition compiled in a `T_FEW` list.
                let words = [K_OTHER, id];
                let c = &self.conds[id as usize];
                if run_has(ri, words.iter(), values, &mut s.memo, &mut cx.steps, |li| {
                    eval_cond(c, leaf(li))
                }) {
                    out.push(next);
                }
            }
        }
    }

    /// Whether `leaf` satisfies the compiled condition `w` (see
    /// [`push_cond`]).
    #[inline]
    fn cond_hit(&self, w: &[u32], leaf: Leaf<'_>) -> bool {
        let (kind, len) = (w[0] & 0xff, (w[0] >> 8) as usize);
        match kind {
            K_PREFIX | K_SUFFIX | K_PREFIX_IC | K_SUFFIX_IC | K_EQ_IC => {
                let p = &w[2..2 + byte_words(len)];
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
                            K_PREFIX | K_PREFIX_IC => b.len() >= len && packed_eq(p, &b[..len], ic),
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
                let bits = w[2];
                let lo = w[3] as u64 | (w[4] as u64) << 32;
                let hi = w[5] as u64 | (w[6] as u64) << 32;
                let lo = (bits & 1 != 0).then_some((lo as i64, bits & 2 != 0));
                let hi = (bits & 4 != 0).then_some((hi as i64, bits & 8 != 0));
                matches!(leaf, Leaf::Num(Num { cmp: Some(x), .. }) if in_range(lo, hi, x))
            }
            K_EXISTS => true,
            K_NOT_STRS | K_NOT_PREFIXES => match leaf {
                Leaf::Str(s) => {
                    !packed_list_has(&w[2..], len as u32, s.as_bytes(), kind == K_NOT_PREFIXES)
                }
                _ => true,
            },
            _ => eval_cond(&self.conds[w[2] as usize], leaf),
        }
    }

    /// A hash of the elements bound at the binding nodes `rels[at..at + n]`
    /// (those that matter at a state or transition, see
    /// [`Matcher::relevant_nodes`]): two visits with the same key match the
    /// same ids there.
    #[inline]
    fn rel_key(&self, at: usize, n: usize, cx: &Cx<'_, '_>) -> u64 {
        if n == 0 || cx.s.bind.is_empty() {
            return 0;
        }
        let rel = &self.rels[at..at + n];
        let mut h = 0u64;
        for &a in &cx.s.bind {
            if rel.contains(&cx.s.arrs[a as usize].node) {
                let e = cx.s.bound[a as usize];
                h = h.wrapping_add(mix((a as u64) << 32 | e as u64));
            }
        }
        h
    }

    fn visit(&self, st: u32, cx: &mut Cx<'_, '_>, out: &mut Vec<usize>) {
        if !cx.step(self.budget) {
            return;
        }
        let o = st as usize;
        let code = &self.code;
        if cx.multi {
            let key = self.rel_key(code[o + S_REL] as usize, code[o + S_REL_LEN] as usize, cx);
            let first = if key == 0 {
                let seen = &mut cx.s.seen_states[code[o + S_INDEX] as usize];
                std::mem::replace(seen, cx.s.generation) != cx.s.generation
            } else {
                cx.s.visited.insert((st, key))
            };
            if !first {
                return;
            }
        }
        // Transitions are deduplicated on their own relevant elements: a
        // state may be visited once per element of an array that only a
        // later transition cares about.
        let mut ti = code[o + S_TRANS_REL] as usize;
        let mut first_time = |cx: &mut Cx<'_, '_>| {
            ti += 1;
            if !cx.multi {
                return true;
            }
            let (at, n) = self.trans_rels[ti - 1];
            match self.rel_key(at as usize, n as usize, cx) {
                0 => {
                    let seen = &mut cx.s.seen_trans[ti - 1];
                    std::mem::replace(seen, cx.s.generation) != cx.s.generation
                }
                key => cx.s.visited_trans.insert((ti as u32, key)),
            }
        };
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
            if !first_time(cx) || cx.s.head[field as usize] == NONE {
                continue;
            }
            let (r0, r1) = cx.s.field_range[field as usize];
            let (r0, r1) = (r0 as usize, r1 as usize);
            let mut r = r0;
            while r < r1 {
                if !cx.step(self.budget) {
                    return;
                }
                let li = cx.s.by_field[cx.s.runs[r].lo as usize];
                if let Err(next) = cx.agrees(li) {
                    r = skip_to(&cx.s.runs, &cx.s.by_field, r + 1, r1, next);
                    continue;
                }
                let mark = cx.s.targets.len();
                self.collect_run(here, flags, r as u32, cx);
                r += 1;
                if cx.steps > self.budget {
                    cx.over = true;
                    return;
                }
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
                cx.bind(li);
                for k in mark..end {
                    let next = cx.s.targets[k];
                    self.visit(next, cx, out);
                }
                cx.unbind(bmark);
                cx.s.targets.truncate(mark);
                if cx.over {
                    return;
                }
            }
        }
        for _ in 0..code[o + S_ABSENT] {
            let (field, next) = (code[t], code[t + 1]);
            t += 2;
            if !first_time(cx) {
                continue;
            }
            let mut found = false;
            if cx.s.head[field as usize] != NONE {
                let (r0, r1) = cx.s.field_range[field as usize];
                let (r0, r1) = (r0 as usize, r1 as usize);
                let mut r = r0;
                while r < r1 {
                    if !cx.step(self.budget) {
                        return;
                    }
                    match cx.agrees(cx.s.by_field[cx.s.runs[r].lo as usize]) {
                        Ok(()) => {
                            found = true;
                            break;
                        }
                        Err(n) => r = skip_to(&cx.s.runs, &cx.s.by_field, r + 1, r1, n),
                    }
                }
            }
            if !found {
                self.visit(next, cx, out);
                if cx.over {
                    return;
                }
            }
        }
    }
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
                if pn.bind {
                    let arr = cx.open_array(node);
                    let r = self.scan_elems(sc, node, arr, cx, depth);
                    cx.close_array(arr);
                    return r;
                }
                sc.i += 1;
                sc.ws();
                if sc.peek() == Some(b']') {
                    sc.i += 1;
                    return Ok(());
                }
                loop {
                    self.scan_value(sc, node, cx, depth + 1)?;
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

    /// Scans an array at binding node `node` (its `[` at `sc.i`) as elements
    /// of `arr`, arrays inside it flattened (see [`ArrRec`]).
    fn scan_elems<'a>(
        &self,
        sc: &mut Scan<'a>,
        node: u32,
        arr: u32,
        cx: &mut Cx<'_, 'a>,
        depth: usize,
    ) -> Result<(), Error> {
        if depth > MAX_EVENT_DEPTH {
            return Err(sc.err("event nests too deeply"));
        }
        sc.i += 1;
        sc.ws();
        if sc.peek() == Some(b']') {
            sc.i += 1;
            return Ok(());
        }
        loop {
            sc.ws();
            if sc.peek() == Some(b'[') {
                self.scan_elems(sc, node, arr, cx, depth + 1)?;
            } else {
                let outer = cx.open_elem(arr);
                let r = self.scan_value(sc, node, cx, depth + 1);
                cx.close_elem(outer);
                r?;
            }
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
}
