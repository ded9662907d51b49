//! Turning pattern JSON into validated conditions, and the disjunctive
//! normal form used by both matchers.

use crate::cond::{fold, AnythingBut, Cidr, Cond, Lit, Wild};
use crate::error::{Error, ErrorKind};
use crate::json::{SKind, SVal};

/// Most alternatives a pattern may expand to once its `$or` branches are
/// multiplied out.
pub(crate) const MAX_ALTERNATIVES: usize = 1024;

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

#[derive(Debug, Default)]
struct Node {
    /// (path, positive conditions, whether `exists: false` is also allowed)
    leaves: Vec<(String, Vec<Cond>, bool)>,
    ors: Vec<Vec<Node>>,
}

fn err(kind: ErrorKind, msg: impl Into<String>, path: &str, v: &SVal) -> Error {
    Error::new(kind, msg, path, v.off)
}

/// Validates a pattern tree and returns its alternatives.
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
    let mut n = Node::default();
    node(root, "", &mut n)?;
    let out = dnf(&n, root)?;
    Ok(out)
}

fn is_or_list(v: &SVal) -> bool {
    match &v.kind {
        SKind::Arr(items) => {
            items.len() >= 2 && items.iter().all(|i| matches!(i.kind, SKind::Obj(_)))
        }
        _ => false,
    }
}

fn node(v: &SVal, path: &str, out: &mut Node) -> Result<(), Error> {
    let SKind::Obj(fields) = &v.kind else {
        unreachable!()
    };
    if fields.is_empty() {
        return Err(err(
            ErrorKind::EmptyObject,
            "an object in a pattern must have at least one field",
            path,
            v,
        ));
    }
    for (k, val) in fields {
        if k == "$or" && is_or_list(val) {
            let SKind::Arr(items) = &val.kind else {
                unreachable!()
            };
            let mut alts = Vec::with_capacity(items.len());
            for it in items {
                let mut alt = Node::default();
                node(it, path, &mut alt)?;
                alts.push(alt);
            }
            out.ors.push(alts);
            continue;
        }
        let p = join(path, k);
        match &val.kind {
            SKind::Obj(_) => node(val, &p, out)?,
            SKind::Arr(items) => {
                if items.is_empty() {
                    return Err(err(
                        ErrorKind::EmptyArray,
                        "a value list must not be empty",
                        &p,
                        val,
                    ));
                }
                let mut conds = Vec::new();
                let mut absent = false;
                for it in items {
                    match value_item(it, &p)? {
                        Some(c) => conds.push(c),
                        None => absent = true,
                    }
                }
                out.leaves.push((p, conds, absent));
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
                ))
            }
        }
    }
    Ok(())
}

fn lit(v: &SVal) -> Option<Lit> {
    Some(match &v.kind {
        SKind::Null => Lit::Null,
        SKind::Bool(b) => Lit::Bool(*b),
        SKind::Num(n) => Lit::Num(*n),
        SKind::Str(s) => Lit::Str(s.clone()),
        _ => return None,
    })
}

/// One entry of a value list. `None` means `{"exists": false}`.
fn value_item(v: &SVal, path: &str) -> Result<Option<Cond>, Error> {
    if let Some(l) = lit(v) {
        return Ok(Some(Cond::Exact(l)));
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
        "exists" => match arg.kind {
            SKind::Bool(true) => Cond::Exists,
            SKind::Bool(false) => return Ok(None),
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
    Ok(Some(c))
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

fn anything_but(v: &SVal, path: &str) -> Result<AnythingBut, Error> {
    match &v.kind {
        SKind::Str(s) => Ok(AnythingBut::Values(vec![Lit::Str(s.clone())])),
        SKind::Num(n) => Ok(AnythingBut::Values(vec![Lit::Num(*n)])),
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
                        out.push(Lit::Num(*n))
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
                "prefix" => Ok(AnythingBut::Prefix(strings_or_list(arg, path, op)?)),
                "suffix" => Ok(AnythingBut::Suffix(strings_or_list(arg, path, op)?)),
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
        let SKind::Num(n) = pair[1].kind else {
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
        if n1 > n2 {
            return Err(err(
                ErrorKind::InvalidNumber,
                "the lower bound of a range is above its upper bound",
                path,
                v,
            ));
        }
    }
    Ok(Cond::Numeric { lo, hi })
}

fn cidr(v: &SVal, path: &str) -> Result<Cidr, Error> {
    let bad = || {
        err(
            ErrorKind::InvalidCidr,
            "cidr takes an IPv4 or IPv6 prefix such as \"10.0.0.0/24\"",
            path,
            v,
        )
    };
    let SKind::Str(s) = &v.kind else {
        return Err(bad());
    };
    let (ip, len) = s.split_once('/').ok_or_else(bad)?;
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let len: u8 = len.parse().map_err(|_| bad())?;
    let (v6, addr) = crate::cond::parse_ip(ip).ok_or_else(bad)?;
    if len > if v6 { 128 } else { 32 } {
        return Err(bad());
    }
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

fn dnf(n: &Node, root: &SVal) -> Result<Vec<Conj>, Error> {
    let mut acc: Vec<Conj> = vec![Vec::new()];
    for (p, conds, absent) in &n.leaves {
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
        acc = product(
            acc,
            options.into_iter().map(|t| vec![(p.clone(), t)]).collect(),
        );
    }
    for alts in &n.ors {
        let mut options = Vec::new();
        for a in alts {
            options.extend(dnf(a, root)?);
        }
        if acc.len() * options.len() > MAX_ALTERNATIVES {
            return Err(too_complex(root));
        }
        acc = product(acc, options);
    }
    Ok(acc)
}

fn product(acc: Vec<Conj>, options: Vec<Conj>) -> Vec<Conj> {
    let mut out = Vec::with_capacity(acc.len() * options.len());
    for a in &acc {
        for o in &options {
            let mut c = a.clone();
            c.extend(o.iter().cloned());
            out.push(c);
        }
    }
    out
}
