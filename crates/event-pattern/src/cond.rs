//! Value conditions (the leaf operators of the pattern language) and their
//! evaluation against one event value.

use std::net::IpAddr;

/// One scalar value from an event (a leaf of the JSON tree).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Leaf<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(&'a str),
}

impl<'a> Leaf<'a> {
    pub(crate) fn from_value(v: &'a serde_json::Value) -> Option<Leaf<'a>> {
        Some(match v {
            serde_json::Value::Null => Leaf::Null,
            serde_json::Value::Bool(b) => Leaf::Bool(*b),
            serde_json::Value::Number(n) => Leaf::Num(n.as_f64()?),
            serde_json::Value::String(s) => Leaf::Str(s),
            _ => return None,
        })
    }
}

/// A literal value in a pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
}

impl Lit {
    pub(crate) fn eq_leaf(&self, l: Leaf<'_>) -> bool {
        match (self, l) {
            (Lit::Null, Leaf::Null) => true,
            (Lit::Bool(a), Leaf::Bool(b)) => *a == b,
            (Lit::Num(a), Leaf::Num(b)) => *a == b,
            (Lit::Str(a), Leaf::Str(b)) => a == b,
            _ => false,
        }
    }
}

/// A parsed `wildcard` operand: literal pieces separated by `*`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Wild {
    pub parts: Vec<String>,
}

impl Wild {
    pub(crate) fn is_match(&self, s: &str) -> bool {
        let parts = &self.parts;
        if parts.len() == 1 {
            return s == parts[0];
        }
        let first = &parts[0];
        let last = &parts[parts.len() - 1];
        if s.len() < first.len() + last.len() || !s.starts_with(first.as_str()) {
            return false;
        }
        if !s.ends_with(last.as_str()) {
            return false;
        }
        let mut rest = &s[first.len()..s.len() - last.len()];
        for mid in &parts[1..parts.len() - 1] {
            match rest.find(mid.as_str()) {
                Some(i) => rest = &rest[i + mid.len()..],
                None => return false,
            }
        }
        true
    }
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cidr {
    pub v6: bool,
    pub net: u128,
    pub len: u8,
}

impl Cidr {
    pub(crate) fn mask(v6: bool, len: u8) -> u128 {
        let bits = if v6 { 128 } else { 32 };
        if len == 0 {
            0
        } else {
            let all: u128 = if v6 { u128::MAX } else { u32::MAX as u128 };
            all & !((1u128 << (bits - len as u32)) - 1)
        }
    }

    pub(crate) fn contains(&self, s: &str) -> bool {
        match parse_ip(s) {
            Some((v6, a)) => v6 == self.v6 && a & Cidr::mask(v6, self.len) == self.net,
            None => false,
        }
    }
}

pub(crate) fn parse_ip(s: &str) -> Option<(bool, u128)> {
    if s.len() > 45 {
        return None;
    }
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some((false, u32::from(a) as u128)),
        IpAddr::V6(a) => Some((true, u128::from(a))),
    }
}

/// The `anything-but` variants.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AnythingBut {
    Values(Vec<Lit>),
    Prefix(Vec<String>),
    Suffix(Vec<String>),
    Wildcard(Vec<Wild>),
    /// Lower-cased operands.
    EqIc(Vec<String>),
}

/// A numeric bound: value and whether it is inclusive.
pub(crate) type Bound = Option<(f64, bool)>;

/// One positive condition on a field's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    Exact(Lit),
    Prefix(String),
    /// Lower-cased operand.
    PrefixIc(String),
    Suffix(String),
    /// Lower-cased operand.
    SuffixIc(String),
    /// Lower-cased operand.
    EqIc(String),
    Wildcard(Wild),
    AnythingBut(AnythingBut),
    Numeric {
        lo: Bound,
        hi: Bound,
    },
    Cidr(Cidr),
    /// `{"exists": true}`.
    Exists,
}

pub(crate) fn fold(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase() || b >= 0x80) {
        std::borrow::Cow::Owned(s.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

pub(crate) fn in_range(lo: Bound, hi: Bound, x: f64) -> bool {
    if let Some((b, inc)) = lo {
        if !(x > b || (inc && x == b)) {
            return false;
        }
    }
    if let Some((b, inc)) = hi {
        if !(x < b || (inc && x == b)) {
            return false;
        }
    }
    true
}

impl Cond {
    /// Whether a single event value satisfies this condition.
    pub(crate) fn eval(&self, l: Leaf<'_>) -> bool {
        match self {
            Cond::Exact(lit) => lit.eq_leaf(l),
            Cond::Exists => true,
            Cond::Numeric { lo, hi } => matches!(l, Leaf::Num(x) if in_range(*lo, *hi, x)),
            Cond::AnythingBut(ab) => match ab {
                AnythingBut::Values(vs) => !vs.iter().any(|v| v.eq_leaf(l)),
                AnythingBut::Prefix(ps) => {
                    !matches!(l, Leaf::Str(s) if ps.iter().any(|p| s.starts_with(p.as_str())))
                }
                AnythingBut::Suffix(ps) => {
                    !matches!(l, Leaf::Str(s) if ps.iter().any(|p| s.ends_with(p.as_str())))
                }
                AnythingBut::Wildcard(ws) => {
                    !matches!(l, Leaf::Str(s) if ws.iter().any(|w| w.is_match(s)))
                }
                AnythingBut::EqIc(vs) => {
                    !matches!(l, Leaf::Str(s) if { let f = fold(s); vs.iter().any(|v| *v == *f) })
                }
            },
            _ => {
                let Leaf::Str(s) = l else { return false };
                match self {
                    Cond::Prefix(p) => s.starts_with(p.as_str()),
                    Cond::Suffix(p) => s.ends_with(p.as_str()),
                    Cond::PrefixIc(p) => fold(s).starts_with(p.as_str()),
                    Cond::SuffixIc(p) => fold(s).ends_with(p.as_str()),
                    Cond::EqIc(p) => *fold(s) == **p,
                    Cond::Wildcard(w) => w.is_match(s),
                    Cond::Cidr(c) => c.contains(s),
                    _ => unreachable!(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(parts: &[&str]) -> Wild {
        Wild {
            parts: parts.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn wildcard() {
        assert!(w(&["a", "c"]).is_match("abc"));
        assert!(w(&["a", "c"]).is_match("ac"));
        assert!(!w(&["ab", "bc"]).is_match("abc"));
        assert!(w(&["", "x", ""]).is_match("axb"));
        assert!(w(&["", ""]).is_match(""));
        assert!(w(&["a", "b", "a"]).is_match("aba"));
        assert!(!w(&["a", "b", "a"]).is_match("aa"));
        assert!(w(&["a", "b", "a"]).is_match("abba"));
    }

    #[test]
    fn cidr() {
        let c = Cidr {
            v6: false,
            net: 0x0a000000,
            len: 8,
        };
        assert!(c.contains("10.1.2.3"));
        assert!(!c.contains("11.1.2.3"));
        assert!(!c.contains("::1"));
    }
}
