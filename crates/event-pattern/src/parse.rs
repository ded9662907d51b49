//! Turning pattern JSON into validated conditions, and the disjunctive
//! normal form used by both matchers.

use crate::cond::{fold, AnythingBut, Cidr, Cond, Lit, Wild};
use crate::error::{Error, ErrorKind};
use crate::json::{SKind, SVal};

/// Most alternatives a pattern may expand to once its `$or` branches (and
/// value lists mixing `exists: false` with other values) are multiplied out.
pub(crate) const MAX_ALTERNATIVES: usize = 4096;

/// EventBridge's cap on `$or` combinations: the product of the lengths of
/// every `$or` array in the pattern may not exceed this.
pub(crate) const MAX_OR_COMBINATIONS: usize = 1000;

/// Field names that may not appear inside a `$or` branch (Event Ruler's
/// `RESERVED_FIELD_NAMES_IN_OR_RELATIONSHIP`); a `$or` whose branches use one
/// is not an OR, and the pattern is read with `$or` as a plain field name.
const RESERVED_IN_OR: &[&str] = &[
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "regex",
    "not-wildcard",
    "not-equals-ignore-case",
    "date-after",
    "date-on-or-after",
    "date-before",
    "date-on-or-before",
    "in-date-range",
    "ip-address-in-range",
    "ip-address-not-in-range",
];

/// Joins a parent path and a key with a dot.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        let mut s = String::with_capacity(parent.len() + 1 + key.len());
        s.push_str(parent);
        s.push('.');
        s.push_str(key);
        s
    }
}

/// What one field of a conjunction requires.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldTest {
    /// Some value at the field satisfies one of the conditions.
    Any(Vec<Cond>),
    /// No value at the field (compatible with the rest of the match).
    Absent,
}

/// One alternative of a pattern: every field test must hold.
pub(crate) type Conj = Vec<(String, FieldTest)>;

/// One member of a pattern object, in document order.
#[derive(Debug)]
enum Item {
    /// (path, positive conditions, whether `exists: false` is also allowed)
    Leaf(String, Vec<Cond>, bool),
    Or(Vec<Vec<Item>>),
}

fn err(kind: ErrorKind, msg: impl Into<String>, path: &str, v: &SVal) -> Error {
    Error::new(kind, msg, path, v.off)
}

/// An error while reading a pattern with `$or` as the OR operator, and
/// whether it is about the shape of a `$or` itself (then EventBridge reads
/// the pattern again with `$or` as a plain field name).
struct ModeError(Error, bool);

impl From<Error> for ModeError {
    fn from(e: Error) -> Self {
        ModeError(e, false)
    }
}

/// Validates a pattern tree and returns its alternatives.
///
/// As in EventBridge, the pattern is first read with `$or` as the OR
/// operator; if that fails, it is read again with `$or` as an ordinary field
/// name (the pre-`$or` reading), and accepted if that succeeds.
pub(crate) fn build(root: &SVal) -> Result<Vec<Conj>, Error> {
    if !matches!(root.kind, SKind::Obj(_)) {
        return Err(err(
            ErrorKind::NotAnObject,
            format!(
                "an event pattern must be a JSON object, not {}",
                root.type_name()
            ),
            "",
            root,
        ));
    }
    if or_product(root) > MAX_OR_COMBINATIONS {
        return Err(err(
            ErrorKind::TooComplex,
            format!("the pattern has more than {MAX_OR_COMBINATIONS} $or combinations"),
            "",
            root,
        ));
    }
    let first = node(root, "", true, false)
        .and_then(|items| dnf(&items, vec![Vec::new()], root).map_err(ModeError::from));
    let ModeError(e1, structural) = match first {
        Ok(c) => return Ok(dedup(c)),
        Err(e) => e,
    };
    if e1.kind == ErrorKind::TooComplex {
        return Err(e1);
    }
    match node(root, "", false, false) {
        Ok(items) => dnf(&items, vec![Vec::new()], root).map(dedup),
        Err(ModeError(e2, _)) => Err(if structural { e2 } else { e1 }),
    }
}

fn dedup(mut conjs: Vec<Conj>) -> Vec<Conj> {
    let mut out: Vec<Conj> = Vec::with_capacity(conjs.len());
    for c in conjs.drain(..) {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// The product of the lengths of every `$or` array (counted whatever the
/// `$or` turns out to mean), as EventBridge counts rule combinations.
fn or_product(v: &SVal) -> usize {
    let SKind::Obj(fields) = &v.kind else {
        return 1;
    };
    let mut p: usize = 1;
    for (k, val) in fields {
        match &val.kind {
            SKind::Arr(items) if k == "$or" => {
                p = p.saturating_mul(items.len().max(1));
                for it in items {
                    p = p.saturating_mul(or_product(it));
                }
            }
            SKind::Obj(_) => p = p.saturating_mul(or_product(val)),
            _ => {}
        }
        if p > MAX_OR_COMBINATIONS {
            return p;
        }
    }
    p
}

fn node(v: &SVal, path: &str, or_mode: bool, in_or: bool) -> Result<Vec<Item>, ModeError> {
    let SKind::Obj(fields) = &v.kind else {
        unreachable!()
    };
    if fields.is_empty() {
        return Err(err(
            ErrorKind::EmptyObject,
            "an object in a pattern must have at least one field",
            path,
            v,
        )
        .into());
    }
    let mut out = Vec::new();
    for (k, val) in fields {
        if or_mode && k == "$or" {
            let structural = |msg: &str, at: &SVal| {
                ModeError(err(ErrorKind::InvalidOperand, msg, path, at), true)
            };
            let SKind::Arr(items) = &val.kind else {
                return Err(structural("$or must be followed by an array", val));
            };
            let mut alts = Vec::with_capacity(items.len());
            for it in items {
                if !matches!(it.kind, SKind::Obj(_)) {
                    return Err(structural("only objects are allowed in a $or array", it));
                }
                alts.push(node(it, path, true, true)?);
            }
            if items.len() < 2 {
                return Err(structural("a $or array needs at least 2 objects", val));
            }
            out.push(Item::Or(alts));
            continue;
        }
        if in_or && RESERVED_IN_OR.contains(&k.as_str()) {
            return Err(ModeError(
                err(
                    ErrorKind::InvalidOperand,
                    format!("\"{k}\" is a reserved name that can not be used inside $or"),
                    &join(path, k),
                    val,
                ),
                true,
            ));
        }
        let p = join(path, k);
        match &val.kind {
            SKind::Obj(_) => out.extend(node(val, &p, or_mode, in_or)?),
            SKind::Arr(items) => {
                if items.is_empty() {
                    return Err(err(
                        ErrorKind::EmptyArray,
                        "a value list must not be empty",
                        &p,
                        val,
                    )
                    .into());
                }
                let mut conds = Vec::new();
                let mut absent = false;
                for it in items {
                    if !value_item(it, &p, &mut conds)? {
                        absent = true;
                    }
                }
                out.push(Item::Leaf(p, conds, absent));
            }
            _ => {
                return Err(err(
                    ErrorKind::LeafNotArray,
                    format!(
                        "the value of a field must be a list or an object, not {}",
                        val.type_name()
                    ),
                    &p,
                    val,
                )
                .into())
            }
        }
    }
    Ok(out)
}

fn lit(v: &SVal) -> Option<Lit> {
    Some(match &v.kind {
        SKind::Null => Lit::Null,
        SKind::Bool(b) => Lit::Bool(*b),
        SKind::Num(n) => Lit::num(n),
        SKind::Str(s) => Lit::Str(s.clone()),
        _ => return None,
    })
}

/// One entry of a value list, appended to `out`. Returns `false` for
/// `{"exists": false}` (which adds no condition).
fn value_item(v: &SVal, path: &str, out: &mut Vec<Cond>) -> Result<bool, Error> {
    if let Some(l) = lit(v) {
        // A string that is an IP address literal also matches the same
        // address written differently (EventBridge compares such values as
        // addresses).
        if let Lit::Str(s) = &l {
            if let Some((v6, a)) = crate::cond::parse_ip(s) {
                out.push(Cond::Cidr(Cidr {
                    v6,
                    net: a,
                    len: if v6 { 128 } else { 32 },
                }));
            }
        }
        out.push(Cond::Exact(l));
        return Ok(true);
    }
    let SKind::Obj(ops) = &v.kind else {
        return Err(err(
            ErrorKind::InvalidOperand,
            "a value list may not contain a nested array",
            path,
            v,
        ));
    };
    if ops.len() != 1 {
        return Err(err(
            ErrorKind::InvalidOperand,
            format!(
                "an operator object must have exactly one key, found {}",
                ops.len()
            ),
            path,
            v,
        ));
    }
    let (op, arg) = &ops[0];
    let c = match op.as_str() {
        "prefix" => match ic_or_string(arg, path, "prefix")? {
            (s, false) => Cond::Prefix(s),
            (s, true) => Cond::PrefixIc(s),
        },
        "suffix" => match ic_or_string(arg, path, "suffix")? {
            (s, false) => Cond::Suffix(s),
            (s, true) => Cond::SuffixIc(s),
        },
        "equals-ignore-case" => Cond::EqIc(fold(&string(arg, path, op)?).into_owned()),
        "wildcard" => Cond::Wildcard(wildcard(arg, path)?),
        "anything-but" => Cond::AnythingBut(anything_but(arg, path)?),
        "numeric" => numeric(arg, path)?,
        "cidr" => Cond::Cidr(cidr(arg, path)?),
        "exactly" => Cond::Exact(Lit::Str(string(arg, path, op)?)),
        "exists" => match arg.kind {
            SKind::Bool(true) => Cond::Exists,
            SKind::Bool(false) => return Ok(false),
            _ => {
                return Err(err(
                    ErrorKind::InvalidOperand,
                    "exists takes true or false",
                    path,
                    arg,
                ))
            }
        },
        other => {
            return Err(err(
                ErrorKind::UnknownOperator,
                format!("unknown operator \"{other}\""),
                path,
                v,
            ))
        }
    };
    out.push(c);
    Ok(true)
}

fn string(v: &SVal, path: &str, op: &str) -> Result<String, Error> {
    match &v.kind {
        SKind::Str(s) => Ok(s.clone()),
        _ => Err(err(
            ErrorKind::InvalidOperand,
            format!("{op} takes a string, not {}", v.type_name()),
            path,
            v,
        )),
    }
}

/// A string operand, or `{"equals-ignore-case": string}` (lower-cased).
fn ic_or_string(v: &SVal, path: &str, op: &str) -> Result<(String, bool), Error> {
    if let SKind::Obj(f) = &v.kind {
        if f.len() == 1 && f[0].0 == "equals-ignore-case" {
            let s = string(&f[0].1, path, op)?;
            return Ok((fold(&s).into_owned(), true));
        }
        return Err(err(
            ErrorKind::InvalidOperand,
            format!("{op} takes a string or {{\"equals-ignore-case\": string}}"),
            path,
            v,
        ));
    }
    Ok((string(v, path, op)?, false))
}

fn wildcard(v: &SVal, path: &str) -> Result<Wild, Error> {
    let s = string(v, path, "wildcard")?;
    let mut parts = vec![String::new()];
    let mut chars = s.chars();
    let mut prev_star = false;
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                if prev_star {
                    return Err(err(
                        ErrorKind::ConsecutiveWildcards,
                        "consecutive wildcard characters are not allowed",
                        path,
                        v,
                    ));
                }
                prev_star = true;
                parts.push(String::new());
                continue;
            }
            '\\' => match chars.next() {
                Some(e @ ('*' | '\\')) => parts.last_mut().expect("non-empty").push(e),
                _ => {
                    return Err(err(
                        ErrorKind::InvalidOperand,
                        "in a wildcard only \\* and \\\\ may be escaped",
                        path,
                        v,
                    ))
                }
            },
            c => parts.last_mut().expect("non-empty").push(c),
        }
        prev_star = false;
    }
    Ok(Wild { parts })
}

fn strings_or_list(v: &SVal, path: &str, op: &str) -> Result<Vec<String>, Error> {
    match &v.kind {
        SKind::Arr(items) => {
            if items.is_empty() {
                return Err(err(
                    ErrorKind::EmptyArray,
                    format!("{op} list must not be empty"),
                    path,
                    v,
                ));
            }
            items.iter().map(|i| string(i, path, op)).collect()
        }
        _ => Ok(vec![string(v, path, op)?]),
    }
}

/// A number operand that must take part in value comparisons: within
/// [-5e9, 5e9] and with at most six decimals (EventBridge rejects others).
fn comparable_num(text: &str, path: &str, at: &SVal) -> Result<i64, Error> {
    crate::cond::comparable(text).ok_or_else(|| {
        err(
            ErrorKind::InvalidNumber,
            format!(
                "number {text} can not be compared: numbers must be between -5.0e9 and 5.0e9 with at most 6 decimals"
            ),
            path,
            at,
        )
    })
}

fn comparable_lit(text: &str, path: &str, at: &SVal) -> Result<Lit, Error> {
    Ok(Lit::Num {
        cmp: Some(comparable_num(text, path, at)?),
        text: String::new(),
    })
}

/// `anything-but` prefixes and suffixes may not be empty.
fn non_empty(v: Vec<String>, path: &str, at: &SVal) -> Result<Vec<String>, Error> {
    if v.iter().any(|s| s.is_empty()) {
        return Err(err(
            ErrorKind::InvalidOperand,
            "an anything-but prefix or suffix must not be empty",
            path,
            at,
        ));
    }
    Ok(v)
}

fn anything_but(v: &SVal, path: &str) -> Result<AnythingBut, Error> {
    match &v.kind {
        SKind::Str(s) => Ok(AnythingBut::Values(vec![Lit::Str(s.clone())])),
        SKind::Num(n) => Ok(AnythingBut::Values(vec![comparable_lit(n, path, v)?])),
        SKind::Arr(items) => {
            if items.is_empty() {
                return Err(err(
                    ErrorKind::EmptyArray,
                    "anything-but list must not be empty",
                    path,
                    v,
                ));
            }
            let mut strs = 0;
            let mut nums = 0;
            let mut out = Vec::new();
            for it in items {
                match &it.kind {
                    SKind::Str(s) => {
                        strs += 1;
                        out.push(Lit::Str(s.clone()))
                    }
                    SKind::Num(n) => {
                        nums += 1;
                        out.push(comparable_lit(n, path, it)?)
                    }
                    _ => {
                        return Err(err(
                            ErrorKind::InvalidOperand,
                            "anything-but list must hold only strings or only numbers",
                            path,
                            it,
                        ))
                    }
                }
                if strs > 0 && nums > 0 {
                    return Err(err(
                        ErrorKind::MixedAnythingBut,
                        "anything-but list mixes strings and numbers",
                        path,
                        it,
                    ));
                }
            }
            Ok(AnythingBut::Values(out))
        }
        SKind::Obj(f) if f.len() == 1 => {
            let (op, arg) = &f[0];
            match op.as_str() {
                "prefix" => Ok(AnythingBut::Prefix(non_empty(
                    strings_or_list(arg, path, op)?,
                    path,
                    arg,
                )?)),
                "suffix" => Ok(AnythingBut::Suffix(non_empty(
                    strings_or_list(arg, path, op)?,
                    path,
                    arg,
                )?)),
                "equals-ignore-case" => Ok(AnythingBut::EqIc(
                    strings_or_list(arg, path, op)?
                        .iter()
                        .map(|s| fold(s).into_owned())
                        .collect(),
                )),
                "wildcard" => {
                    let list: Vec<&SVal> = match &arg.kind {
                        SKind::Arr(items) if items.is_empty() => {
                            return Err(err(
                                ErrorKind::EmptyArray,
                                "wildcard list must not be empty",
                                path,
                                arg,
                            ))
                        }
                        SKind::Arr(items) => items.iter().collect(),
                        _ => vec![arg],
                    };
                    Ok(AnythingBut::Wildcard(
                        list.into_iter()
                            .map(|a| wildcard(a, path))
                            .collect::<Result<_, _>>()?,
                    ))
                }
                other => Err(err(
                    ErrorKind::UnknownOperator,
                    format!("unknown operator \"{other}\" inside anything-but"),
                    path,
                    v,
                )),
            }
        }
        _ => Err(err(
            ErrorKind::InvalidOperand,
            "anything-but takes a string, a number, a list of them, or one of prefix, suffix, wildcard, equals-ignore-case",
            path,
            v,
        )),
    }
}

fn numeric(v: &SVal, path: &str) -> Result<Cond, Error> {
    let bad = |msg: &str, at: &SVal| err(ErrorKind::InvalidOperand, msg, path, at);
    let SKind::Arr(items) = &v.kind else {
        return Err(bad("numeric takes a list such as [\">\", 0, \"<=\", 5]", v));
    };
    if items.is_empty() {
        return Err(err(
            ErrorKind::EmptyArray,
            "numeric list must not be empty",
            path,
            v,
        ));
    }
    if items.len() != 2 && items.len() != 4 {
        return Err(bad(
            "numeric takes one or two comparisons: [op, number] or [op, number, op, number]",
            v,
        ));
    }
    let mut terms = Vec::new();
    for pair in items.chunks(2) {
        let SKind::Str(op) = &pair[0].kind else {
            return Err(bad("expected a comparison operator", &pair[0]));
        };
        let SKind::Num(n) = &pair[1].kind else {
            return Err(err(
                ErrorKind::InvalidNumber,
                "numeric comparisons take a JSON number",
                path,
                &pair[1],
            ));
        };
        if !matches!(op.as_str(), "=" | "<" | "<=" | ">" | ">=") {
            return Err(bad(&format!("unknown numeric operator \"{op}\""), &pair[0]));
        }
        let n = comparable_num(n, path, &pair[1])?;
        terms.push((op.as_str(), n, &pair[0]));
    }
    let mut lo = None;
    let mut hi = None;
    if terms.len() == 1 {
        let (op, n, _) = terms[0];
        match op {
            "=" => {
                lo = Some((n, true));
                hi = Some((n, true));
            }
            ">" => lo = Some((n, false)),
            ">=" => lo = Some((n, true)),
            "<" => hi = Some((n, false)),
            _ => hi = Some((n, true)),
        }
    } else {
        let (op1, n1, at1) = terms[0];
        let (op2, n2, at2) = terms[1];
        match op1 {
            ">" => lo = Some((n1, false)),
            ">=" => lo = Some((n1, true)),
            _ => return Err(bad("a range must start with a lower bound (> or >=)", at1)),
        }
        match op2 {
            "<" => hi = Some((n2, false)),
            "<=" => hi = Some((n2, true)),
            _ => return Err(bad("a range must end with an upper bound (< or <=)", at2)),
        }
        if n1 >= n2 {
            return Err(err(
                ErrorKind::InvalidNumber,
                "the lower bound of a range must be below its upper bound",
                path,
                v,
            ));
        }
    }
    Ok(Cond::Numeric { lo, hi })
}

/// A `cidr` operand: an address (see [`crate::cond::parse_ip`]), one `/`,
/// and a decimal mask length (an optional sign is accepted; negative is
/// not). EventBridge requires the length to be below the address width:
/// at most 31 for IPv4, 127 for IPv6.
fn cidr(v: &SVal, path: &str) -> Result<Cidr, Error> {
    let bad = |msg: &str| err(ErrorKind::InvalidCidr, msg.to_string(), path, v);
    let SKind::Str(s) = &v.kind else {
        return Err(bad("cidr takes a string such as \"10.0.0.0/24\""));
    };
    let mut parts = s.split('/');
    let (Some(ip), Some(len), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("malformed CIDR, one '/' required"));
    };
    let digits = len.strip_prefix(['+', '-']).unwrap_or(len);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("malformed CIDR, mask bits must be an integer"));
    }
    let neg = len.starts_with('-');
    let t = digits.trim_start_matches('0');
    if t.len() > 10 {
        return Err(bad("malformed CIDR, mask bits must be an integer"));
    }
    let n: i64 = if t.is_empty() {
        0
    } else {
        t.parse()
            .map_err(|_| bad("malformed CIDR, mask bits must be an integer"))?
    };
    if n > i32::MAX as i64 + neg as i64 {
        return Err(bad("malformed CIDR, mask bits must be an integer"));
    }
    if neg && n != 0 {
        return Err(bad("malformed CIDR, mask bits must not be negative"));
    }
    let (v6, addr) = crate::cond::parse_ip(ip).ok_or_else(|| bad("invalid IP address in CIDR"))?;
    if !v6 && n > 31 {
        return Err(bad("IPv4 mask bits must be < 32"));
    }
    if v6 && n > 127 {
        return Err(bad("IPv6 mask bits must be < 128"));
    }
    let len = n as u8;
    Ok(Cidr {
        v6,
        net: addr & Cidr::mask(v6, len),
        len,
    })
}

fn too_complex(root: &SVal) -> Error {
    err(
        ErrorKind::TooComplex,
        format!("the pattern expands to more than {MAX_ALTERNATIVES} alternatives"),
        "",
        root,
    )
}

/// Multiplies out the items, in document order, onto the alternatives
/// built so far. A field written again replaces its earlier test in each
/// alternative (as in EventBridge, where the last write of a field path
/// wins, inside and outside `$or` branches alike).
fn dnf(items: &[Item], mut acc: Vec<Conj>, root: &SVal) -> Result<Vec<Conj>, Error> {
    for it in items {
        match it {
            Item::Leaf(p, conds, absent) => {
                let mut options = Vec::new();
                if !conds.is_empty() {
                    options.push(FieldTest::Any(conds.clone()));
                }
                if *absent {
                    options.push(FieldTest::Absent);
                }
                if acc.len() * options.len() > MAX_ALTERNATIVES {
                    return Err(too_complex(root));
                }
                let mut out = Vec::with_capacity(acc.len() * options.len());
                for c in &acc {
                    for o in &options {
                        let mut c2: Conj = c.iter().filter(|(q, _)| q != p).cloned().collect();
                        c2.push((p.clone(), o.clone()));
                        out.push(c2);
                    }
                }
                acc = out;
            }
            Item::Or(branches) => {
                let mut out = Vec::new();
                for b in branches {
                    out.extend(dnf(b, acc.clone(), root)?);
                    if out.len() > MAX_ALTERNATIVES {
                        return Err(too_complex(root));
                    }
                }
                acc = out;
            }
        }
    }
    Ok(acc)
}
