//! YAML text to a tree of positioned nodes.
//!
//! Plain scalars are resolved per the YAML 1.2 core schema (`null`/`~`/empty,
//! `true`/`false`, integers, floats); quoted and block scalars are always
//! strings. Anchors and aliases are resolved. Duplicate keys, non-scalar keys,
//! unsupported tags and more than one document are errors.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in a file, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    fn of(mark: &Marker) -> Pos {
        Pos {
            line: mark.line(),
            col: mark.col() + 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Bool(bool),
    /// A finite number; `raw` is the scalar as written.
    Number(serde_json::Number, String),
    /// `.inf`, `-.inf`, `.nan`: valid YAML, not representable in JSON.
    NonFinite(String),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub val: Val,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

/// A problem found while parsing, at a position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParseError {
    pub pos: Pos,
    /// Field path of the node the problem is in (may be empty).
    pub field: String,
    pub message: String,
}

impl Val {
    /// How the value is called in "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Val::Null => "null",
            Val::Bool(_) => "a boolean",
            Val::Number(n, _) if n.is_f64() => "a float",
            Val::Number(..) => "an integer",
            Val::NonFinite(_) => "a float",
            Val::Str(_) => "a string",
            Val::Seq(_) => "a list",
            Val::Map(_) => "a mapping",
        }
    }
}

impl Node {
    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.val {
            Val::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value),
            _ => None,
        }
    }

    /// The node at a path relative to this one: `a.b[2].c`. Stops at the
    /// deepest node that exists.
    pub fn lookup(&self, path: &str) -> &Node {
        let mut node = self;
        for part in split_path(path) {
            let next = match (&node.val, part) {
                (Val::Map(entries), PathPart::Key(k)) => {
                    entries.iter().find(|e| e.key == k).map(|e| &e.value)
                }
                (Val::Seq(items), PathPart::Index(i)) => items.get(i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node
    }

    /// The node as JSON. Errors name the path (relative to `field`).
    pub fn to_json(&self, field: &str) -> Result<serde_json::Value, ParseError> {
        use serde_json::Value;
        Ok(match &self.val {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Number(n, _) => Value::Number(n.clone()),
            Val::NonFinite(raw) => {
                return Err(ParseError {
                    pos: self.pos,
                    field: field.to_string(),
                    message: format!("`{raw}` cannot be represented in JSON"),
                })
            }
            Val::Str(s) => Value::String(s.clone()),
            Val::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(item.to_json(&format!("{field}[{i}]"))?);
                }
                Value::Array(out)
            }
            Val::Map(entries) => {
                let mut out = serde_json::Map::new();
                for e in entries {
                    let sub = join(field, &e.key);
                    out.insert(e.key.clone(), e.value.to_json(&sub)?);
                }
                Value::Object(out)
            }
        })
    }
}

enum PathPart<'a> {
    Key(&'a str),
    Index(usize),
}

fn split_path(path: &str) -> Vec<PathPart<'_>> {
    let mut parts = Vec::new();
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (key, rest) = match segment.find('[') {
            Some(i) => segment.split_at(i),
            None => (segment, ""),
        };
        if !key.is_empty() {
            parts.push(PathPart::Key(key));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            match idx.trim_end_matches(']').parse() {
                Ok(i) => parts.push(PathPart::Index(i)),
                Err(_) => parts.push(PathPart::Key(idx)),
            }
        }
    }
    parts
}

/// `parent.key`, or `key` at the top.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Parses one YAML document. An empty stream gives `None`. A syntax error
/// stops the parse (`Err`); problems the parser can step over (duplicate
/// keys, odd tags) are returned next to the tree, all of them.
pub(crate) fn parse(text: &str) -> Result<(Option<Node>, Vec<ParseError>), ParseError> {
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        errors: Vec::new(),
    };
    let root = builder.stream()?;
    Ok((root, builder.errors))
}

struct Builder<'a> {
    parser: Parser<std::str::Chars<'a>>,
    anchors: HashMap<usize, Node>,
    errors: Vec<ParseError>,
}

impl Builder<'_> {
    fn next(&mut self) -> Result<(Event, Marker), ParseError> {
        self.parser.next_token().map_err(|e| {
            let mark = e.marker();
            ParseError {
                pos: Pos::of(mark),
                field: String::new(),
                message: format!("YAML syntax error: {}", e.info()),
            }
        })
    }

    fn stream(&mut self) -> Result<Option<Node>, ParseError> {
        let mut root = None;
        let mut documents = 0;
        loop {
            let (event, mark) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => break,
                Event::DocumentStart => {
                    documents += 1;
                    let (event, mark) = self.next()?;
                    if matches!(event, Event::DocumentEnd) {
                        continue;
                    }
                    let node = self.node(event, mark, "")?;
                    if documents > 1 {
                        self.errors.push(ParseError {
                            pos: node.pos,
                            field: String::new(),
                            message:
                                "a second YAML document is not allowed here (one document per file)"
                                    .into(),
                        });
                    } else {
                        root = Some(node);
                    }
                }
                other => {
                    return Err(ParseError {
                        pos: Pos::of(&mark),
                        field: String::new(),
                        message: format!("unexpected YAML event {other:?}"),
                    })
                }
            }
        }
        Ok(root)
    }

    fn node(&mut self, event: Event, mark: Marker, field: &str) -> Result<Node, ParseError> {
        let pos = Pos::of(&mark);
        let (node, anchor) = match event {
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(n) => {
                    let mut n = n.clone();
                    n.pos = pos;
                    (n, 0)
                }
                None => {
                    self.errors.push(ParseError {
                        pos,
                        field: field.to_string(),
                        message: "alias to an unknown anchor".into(),
                    });
                    (
                        Node {
                            val: Val::Null,
                            pos,
                        },
                        0,
                    )
                }
            },
            Event::Scalar(text, style, anchor, tag) => {
                let val = self.scalar(text, style, tag.as_ref(), pos, field);
                (Node { val, pos }, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_collection_tag(tag.as_ref(), "seq", pos, field);
                let mut items = Vec::new();
                loop {
                    let (event, mark) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    let sub = format!("{field}[{}]", items.len());
                    items.push(self.node(event, mark, &sub)?);
                }
                (
                    Node {
                        val: Val::Seq(items),
                        pos,
                    },
                    anchor,
                )
            }
            Event::MappingStart(anchor, tag) => {
                self.check_collection_tag(tag.as_ref(), "map", pos, field);
                let mut entries: Vec<Entry> = Vec::new();
                loop {
                    let (event, mark) = self.next()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let key_node = self.node(event, mark, field)?;
                    let key = match &key_node.val {
                        Val::Str(s) => Some(s.clone()),
                        Val::Number(_, raw) | Val::NonFinite(raw) => Some(raw.clone()),
                        Val::Bool(b) => Some(b.to_string()),
                        Val::Null => Some(String::new()),
                        Val::Seq(_) | Val::Map(_) => {
                            self.errors.push(ParseError {
                                pos: key_node.pos,
                                field: field.to_string(),
                                message: "a mapping key must be a scalar".into(),
                            });
                            None
                        }
                    };
                    let (event, mark) = self.next()?;
                    let sub = join(field, key.as_deref().unwrap_or("?"));
                    let value = self.node(event, mark, &sub)?;
                    let Some(key) = key else { continue };
                    if let Some(first) = entries.iter().find(|e| e.key == key) {
                        self.errors.push(ParseError {
                            pos: key_node.pos,
                            field: sub,
                            message: format!(
                                "duplicate key `{key}` (first defined at line {}, column {})",
                                first.key_pos.line, first.key_pos.col
                            ),
                        });
                        continue;
                    }
                    entries.push(Entry {
                        key,
                        key_pos: key_node.pos,
                        value,
                    });
                }
                // A block mapping's start mark is at its first `:`; the
                // first key is where a reader sees the mapping begin.
                let pos = match entries.first() {
                    Some(e) if (e.key_pos.line, e.key_pos.col) < (pos.line, pos.col) => e.key_pos,
                    _ => pos,
                };
                let node = Node {
                    val: Val::Map(entries),
                    pos,
                };
                (node, anchor)
            }
            other => {
                return Err(ParseError {
                    pos,
                    field: field.to_string(),
                    message: format!("unexpected YAML event {other:?}"),
                })
            }
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    fn check_collection_tag(&mut self, tag: Option<&Tag>, want: &str, pos: Pos, field: &str) {
        if let Some(tag) = tag {
            if !(is_core(tag) && tag.suffix == want) {
                self.errors.push(ParseError {
                    pos,
                    field: field.to_string(),
                    message: format!("unsupported tag `{}{}`", tag.handle, tag.suffix),
                });
            }
        }
    }

    fn scalar(
        &mut self,
        text: String,
        style: TScalarStyle,
        tag: Option<&Tag>,
        pos: Pos,
        field: &str,
    ) -> Val {
        if let Some(tag) = tag {
            if is_core(tag) {
                let resolved = resolve_plain(&text);
                let ok = match tag.suffix.as_str() {
                    "str" => return Val::Str(text),
                    "null" => matches!(resolved, Val::Null),
                    "bool" => matches!(resolved, Val::Bool(_)),
                    "int" => matches!(&resolved, Val::Number(n, _) if !n.is_f64()),
                    "float" => {
                        if let Val::Number(n, raw) = &resolved {
                            if !n.is_f64() {
                                let f = n.as_f64().unwrap_or_default();
                                return serde_json::Number::from_f64(f)
                                    .map(|n| Val::Number(n, raw.clone()))
                                    .unwrap_or(Val::NonFinite(raw.clone()));
                            }
                        }
                        matches!(resolved, Val::Number(..) | Val::NonFinite(_))
                    }
                    _ => false,
                };
                if ok {
                    return resolved;
                }
            }
            self.errors.push(ParseError {
                pos,
                field: field.to_string(),
                message: format!(
                    "unsupported tag `{}{}` on this value",
                    tag.handle, tag.suffix
                ),
            });
            return Val::Str(text);
        }
        match style {
            TScalarStyle::Plain => resolve_plain(&text),
            _ => Val::Str(text),
        }
    }
}

fn is_core(tag: &Tag) -> bool {
    tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!"
}

/// YAML 1.2 core schema resolution of a plain scalar.
pub(crate) fn resolve_plain(text: &str) -> Val {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Val::Null,
        "true" | "True" | "TRUE" => return Val::Bool(true),
        "false" | "False" | "FALSE" => return Val::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return Val::NonFinite(text.to_string()),
        _ => {}
    }
    let raw = text.to_string();
    let int = |digits: &str, radix: u32, negative: bool| -> Option<Val> {
        let magnitude = u64::from_str_radix(digits, radix).ok()?;
        let number = if negative {
            let v = i64::try_from(magnitude).ok()?.checked_neg()?;
            serde_json::Number::from(v)
        } else {
            serde_json::Number::from(magnitude)
        };
        Some(Val::Number(number, raw.clone()))
    };
    if let Some(hex) = text.strip_prefix("0x") {
        if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            if let Some(v) = int(hex, 16, false) {
                return v;
            }
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if !oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            if let Some(v) = int(oct, 8, false) {
                return v;
            }
        }
    }
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(v) = int(unsigned, 10, negative) {
            return v;
        }
        // Too large for 64 bits: falls through to a float.
    }
    if is_core_float(unsigned) {
        if let Ok(f) = text.parse::<f64>() {
            if let Some(n) = serde_json::Number::from_f64(f) {
                return Val::Number(n, raw);
            }
        }
    }
    Val::Str(raw)
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` (sign already removed).
fn is_core_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let int_digits = digits(&mut i);
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac = digits(&mut i);
        if int_digits == 0 && frac == 0 {
            return false;
        }
    } else if int_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        let (root, errors) = parse(text).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        root.unwrap()
    }

    fn errors(text: &str) -> Vec<ParseError> {
        parse(text).unwrap().1
    }

    #[test]
    fn core_schema() {
        let n = root("a: 1\nb: '1'\nc: ~\nd: true\ne: 1.5\nf: 0x1F\ng: 012\nh: yes\ni: -3\nj: .inf\nk: 1e3\nl: 99999999999999999999999\n");
        let v = |k: &str| n.get(k).unwrap().val.clone();
        assert!(matches!(v("a"), Val::Number(n, _) if n.as_u64() == Some(1)));
        assert_eq!(v("b"), Val::Str("1".into()));
        assert_eq!(v("c"), Val::Null);
        assert_eq!(v("d"), Val::Bool(true));
        assert!(matches!(v("e"), Val::Number(n, _) if n.as_f64() == Some(1.5)));
        assert!(matches!(v("f"), Val::Number(n, _) if n.as_u64() == Some(31)));
        assert!(matches!(v("g"), Val::Number(n, raw) if n.as_u64() == Some(12) && raw == "012"));
        assert_eq!(v("h"), Val::Str("yes".into()));
        assert!(matches!(v("i"), Val::Number(n, _) if n.as_i64() == Some(-3)));
        assert_eq!(v("j"), Val::NonFinite(".inf".into()));
        assert!(matches!(v("k"), Val::Number(n, _) if n.as_f64() == Some(1000.0)));
        assert!(matches!(v("l"), Val::Number(n, _) if n.is_f64()));
    }

    #[test]
    fn positions_are_one_based() {
        let n = root("top:\n  inner: value\n");
        let top = match &n.val {
            Val::Map(e) => &e[0],
            _ => panic!(),
        };
        assert_eq!(top.key_pos, Pos { line: 1, col: 1 });
        let inner = match &top.value.val {
            Val::Map(e) => &e[0],
            _ => panic!(),
        };
        assert_eq!(inner.key_pos, Pos { line: 2, col: 3 });
        assert_eq!(inner.value.pos, Pos { line: 2, col: 10 });
    }

    #[test]
    fn anchors_and_tags() {
        let n = root("a: &x {k: [1, 2]}\nb: *x\nc: !!str 12\n");
        assert_eq!(n.get("a").unwrap().val, n.get("b").unwrap().val);
        assert_eq!(n.get("c").unwrap().val, Val::Str("12".into()));
        let errs = errors("a: !custom 1\n");
        assert!(errs[0].message.contains("unsupported tag"), "{errs:?}");
    }

    #[test]
    fn duplicate_keys() {
        let errs = errors("a: 1\nb:\n  c: 1\n  c: 2\n");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "b.c");
        assert_eq!(errs[0].pos, Pos { line: 4, col: 3 });
        assert!(errs[0].message.contains("line 3, column 3"));
    }

    #[test]
    fn syntax_error() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.message.starts_with("YAML syntax error"), "{err:?}");
        assert!(err.pos.line >= 1);
    }

    #[test]
    fn empty_and_lookup() {
        assert_eq!(parse("").unwrap(), (None, vec![]));
        assert_eq!(parse("# only a comment\n").unwrap(), (None, vec![]));
        let n = root("a:\n  - x: 1\n  - x: {y: 2}\n");
        assert_eq!(n.lookup("a[1].x.y").pos, Pos { line: 3, col: 12 });
        assert_eq!(n.lookup("a[1].nope").pos, Pos { line: 3, col: 5 });
        assert_eq!(n.lookup("a[1].x.nope").pos, Pos { line: 3, col: 8 });
        assert_eq!(n.lookup("a").pos, Pos { line: 2, col: 3 });
    }
}
