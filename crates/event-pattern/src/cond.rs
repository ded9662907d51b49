//! Value conditions (the leaf operators of the pattern language) and their
//! evaluation against one event value.

/// Largest magnitude a number may have to take part in numeric
/// comparisons (EventBridge: -5.0e9 to +5.0e9 inclusive).
const FIVE_BILLION_MICROS: i128 = 5_000_000_000 * 1_000_000;

/// The "comparable" form of a number given as JSON number text: its value
/// times 10^6 as an integer, when the number lies in [-5e9, 5e9] and has no
/// more than six significant digits after the decimal point. This is the
/// domain in which EventBridge compares numbers by value (`numeric`, and
/// exact numbers such as `300` matching `300.0` or `3e2`); outside it a
/// number only ever equals the same literal text. Exact decimal arithmetic,
/// no floating point.
pub(crate) fn comparable(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let (neg, body) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    // The digits are the integer part's then the fraction's.
    let mut exp: i64 = 0;
    let mut i = 0;
    while i < body.len() && body[i].is_ascii_digit() {
        i += 1;
    }
    let int = &body[..i];
    let mut frac: &[u8] = &[];
    if i < body.len() && body[i] == b'.' {
        i += 1;
        let start = i;
        while i < body.len() && body[i].is_ascii_digit() {
            exp -= 1;
            i += 1;
        }
        frac = &body[start..i];
    }
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if i < body.len() && (body[i] == b'e' || body[i] == b'E') {
        let e = std::str::from_utf8(&body[i + 1..]).ok()?;
        let e: i64 = e.trim_start_matches('+').parse().ok()?;
        exp = exp.checked_add(e.clamp(-100_000, 100_000))?;
    } else if i != body.len() {
        return None;
    }
    let all = || int.iter().chain(frac).map(|d| d - b'0');
    let total = int.len() + frac.len();
    let lead = all().take_while(|&d| d == 0).count();
    if lead == total {
        return Some(0);
    }
    let trail = int
        .iter()
        .chain(frac)
        .rev()
        .take_while(|&&d| d == b'0')
        .count();
    let n = total - lead - trail;
    let digits = || all().skip(lead).take(n);
    exp += trail as i64;
    // value = digits * 10^exp; scaled = digits * 10^(exp + 6).
    let shift = exp + 6;
    if shift < 0 || n as i64 + shift > 17 {
        return None;
    }
    let mut v: i128 = 0;
    for d in digits() {
        v = v * 10 + d as i128;
    }
    for _ in 0..shift {
        v *= 10;
    }
    if v > FIVE_BILLION_MICROS {
        return None;
    }
    Some(if neg { -(v as i64) } else { v as i64 })
}

/// [`comparable`] for a double (a number from a parsed `serde_json::Value`),
/// taken through its shortest round-trip decimal text.
pub(crate) fn comparable_f64(x: f64) -> Option<i64> {
    if !x.is_finite() || x.abs() > 5e9 || (x != 0.0 && x.abs() < 1e-6) {
        return None;
    }
    use std::fmt::Write;
    let mut buf = StackBuf { b: [0; 48], n: 0 };
    write!(buf, "{x}").ok()?;
    comparable(std::str::from_utf8(&buf.b[..buf.n]).ok()?)
}

struct StackBuf {
    b: [u8; 48],
    n: usize,
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.n + s.len();
        if end > self.b.len() {
            return Err(std::fmt::Error);
        }
        self.b[self.n..end].copy_from_slice(s.as_bytes());
        self.n = end;
        Ok(())
    }
}

/// The literal text of an event number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum NumRaw<'a> {
    /// The number's text in a JSON-text event.
    Text(&'a str),
    /// A number of a parsed `serde_json::Value`.
    Value(&'a serde_json::Number),
}

/// A number from an event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Num<'a> {
    /// See [`comparable`].
    pub cmp: Option<i64>,
    pub raw: NumRaw<'a>,
}

impl Num<'_> {
    pub(crate) fn text(&self) -> std::borrow::Cow<'_, str> {
        match self.raw {
            NumRaw::Text(t) => std::borrow::Cow::Borrowed(t),
            NumRaw::Value(n) => std::borrow::Cow::Owned(n.to_string()),
        }
    }

    pub(crate) fn from_number(n: &serde_json::Number) -> Num<'_> {
        const LIM: i64 = 5_000_000_000;
        let cmp = if let Some(i) = n.as_i64() {
            (-LIM..=LIM).contains(&i).then(|| i * 1_000_000)
        } else if n.as_u64().is_some() {
            None
        } else {
            n.as_f64().and_then(comparable_f64)
        };
        Num {
            cmp,
            raw: NumRaw::Value(n),
        }
    }
}

/// One scalar value from an event (a leaf of the JSON tree).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Leaf<'a> {
    Null,
    Bool(bool),
    Num(Num<'a>),
    Str(&'a str),
}

impl<'a> Leaf<'a> {
    pub(crate) fn from_value(v: &'a serde_json::Value) -> Option<Leaf<'a>> {
        Some(match v {
            serde_json::Value::Null => Leaf::Null,
            serde_json::Value::Bool(b) => Leaf::Bool(*b),
            serde_json::Value::Number(n) => Leaf::Num(Num::from_number(n)),
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
    /// A number: its comparable form when it has one, else its literal text
    /// (EventBridge matches such a number, e.g. a 12-digit account id, only
    /// against the same text).
    Num {
        cmp: Option<i64>,
        text: String,
    },
    Str(String),
}

impl Lit {
    pub(crate) fn num(text: &str) -> Lit {
        match comparable(text) {
            Some(c) => Lit::Num {
                cmp: Some(c),
                text: String::new(),
            },
            None => Lit::Num {
                cmp: None,
                text: text.to_string(),
            },
        }
    }

    pub(crate) fn eq_leaf(&self, l: Leaf<'_>) -> bool {
        match (self, l) {
            (Lit::Null, Leaf::Null) => true,
            (Lit::Bool(a), Leaf::Bool(b)) => *a == b,
            (Lit::Num { cmp: Some(a), .. }, Leaf::Num(n)) => n.cmp == Some(*a),
            (Lit::Num { cmp: None, text }, Leaf::Num(n)) => n.cmp.is_none() && *n.text() == **text,
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
        let mut rest = &s.as_bytes()[first.len()..s.len() - last.len()];
        for mid in &parts[1..parts.len() - 1] {
            match memchr::memmem::find(rest, mid.as_bytes()) {
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

/// Reads an IP address literal the way EventBridge does: four dot-separated
/// runs of decimal digits (each at most 255, leading zeros allowed and read
/// as decimal), or a string of hex digits and colons with at least one colon
/// (no embedded IPv4 part, no zone). An IPv4-mapped IPv6 address
/// (`::ffff:a.b.c.d` written in hex) counts as the IPv4 address.
pub(crate) fn parse_ip(s: &str) -> Option<(bool, u128)> {
    if s.len() > 64 || s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    if b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        let mut parts = 0;
        let mut v: u128 = 0;
        for p in s.split('.') {
            parts += 1;
            if p.is_empty() || parts > 4 {
                return None;
            }
            let t = p.trim_start_matches('0');
            if t.len() > 3 {
                return None;
            }
            let o: u32 = if t.is_empty() { 0 } else { t.parse().ok()? };
            if o > 255 {
                return None;
            }
            v = (v << 8) | o as u128;
        }
        return (parts == 4).then_some((false, v));
    }
    if b.contains(&b':') && b.iter().all(|c| c.is_ascii_hexdigit() || *c == b':') {
        let a: std::net::Ipv6Addr = s.parse().ok()?;
        if let Some(v4) = a.to_ipv4_mapped() {
            return Some((false, u32::from(v4) as u128));
        }
        return Some((true, u128::from(a)));
    }
    None
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

/// A numeric bound: comparable value (see [`comparable`]) and whether it is
/// inclusive.
pub(crate) type Bound = Option<(i64, bool)>;

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

pub(crate) fn in_range(lo: Bound, hi: Bound, x: i64) -> bool {
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
            Cond::Numeric { lo, hi } => {
                matches!(l, Leaf::Num(Num { cmp: Some(x), .. }) if in_range(*lo, *hi, x))
            }
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
    fn comparable_numbers() {
        assert_eq!(comparable("300"), Some(300_000_000));
        assert_eq!(comparable("300.0"), Some(300_000_000));
        assert_eq!(comparable("3.0e2"), Some(300_000_000));
        assert_eq!(comparable("-0"), Some(0));
        assert_eq!(comparable("0.000001"), Some(1));
        assert_eq!(comparable("0.0000001"), None);
        assert_eq!(comparable("1.00000010"), None);
        assert_eq!(comparable("5e9"), Some(5_000_000_000_000_000));
        assert_eq!(comparable("-5000000000"), Some(-5_000_000_000_000_000));
        assert_eq!(comparable("5000000000.000001"), None);
        assert_eq!(comparable("123456789012"), None);
        assert_eq!(comparable("1e400"), None);
        assert_eq!(comparable_f64(0.1), Some(100_000));
        assert_eq!(comparable_f64(1e-7), None);
        assert_eq!(
            comparable_f64(4999999999.999999),
            Some(4_999_999_999_999_999)
        );
    }

    #[test]
    fn ip_literals() {
        assert_eq!(parse_ip("10.0.0.1"), Some((false, 0x0a000001)));
        assert_eq!(parse_ip("010.000.000.001"), Some((false, 0x0a000001)));
        assert_eq!(parse_ip("10.0.0.256"), None);
        assert_eq!(parse_ip("::ffff:a00:1"), Some((false, 0x0a000001)));
        assert_eq!(parse_ip("::ffff:10.0.0.1"), None);
        assert_eq!(parse_ip("fe80::1%eth0"), None);
        assert!(parse_ip("2001:DB8::1").is_some());
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
