//! A small JSON reader that keeps byte offsets and the raw text of numbers,
//! so pattern errors can point at the offending value.

use crate::error::{Error, ErrorKind};

/// Maximum nesting of arrays and objects accepted in a pattern.
pub(crate) const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone)]
pub(crate) enum SKind {
    Null,
    Bool(bool),
    /// A number, as its JSON text.
    Num(String),
    Str(String),
    Arr(Vec<SVal>),
    Obj(Vec<(String, SVal)>),
}

/// A JSON value with the byte offset where it starts (if known).
#[derive(Debug, Clone)]
pub(crate) struct SVal {
    pub off: Option<usize>,
    pub kind: SKind,
}

impl SVal {
    pub(crate) fn type_name(&self) -> &'static str {
        match self.kind {
            SKind::Null => "null",
            SKind::Bool(_) => "a boolean",
            SKind::Num(_) => "a number",
            SKind::Str(_) => "a string",
            SKind::Arr(_) => "an array",
            SKind::Obj(_) => "an object",
        }
    }
}

/// Converts a `serde_json::Value` into the offset-carrying form.
pub(crate) fn from_value(v: &serde_json::Value, path: &str, depth: usize) -> Result<SVal, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::new(
            ErrorKind::TooComplex,
            "pattern nests too deeply",
            path,
            None,
        ));
    }
    let kind = match v {
        serde_json::Value::Null => SKind::Null,
        serde_json::Value::Bool(b) => SKind::Bool(*b),
        serde_json::Value::Number(n) => SKind::Num(n.to_string()),
        serde_json::Value::String(s) => SKind::Str(s.clone()),
        serde_json::Value::Array(a) => SKind::Arr(
            a.iter()
                .map(|e| from_value(e, path, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        serde_json::Value::Object(m) => {
            let mut out = Vec::with_capacity(m.len());
            for (k, e) in m {
                let p = crate::parse::join(path, k);
                out.push((k.clone(), from_value(e, &p, depth + 1)?));
            }
            SKind::Obj(out)
        }
    };
    Ok(SVal { off: None, kind })
}

/// Parses JSON text into an offset-carrying tree.
pub(crate) fn parse(text: &str) -> Result<SVal, Error> {
    let mut p = Parser {
        b: text.as_bytes(),
        i: 0,
    };
    p.ws();
    let v = p.value(0, "")?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err("trailing characters after the JSON value"));
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, msg: &str) -> Error {
        Error::new(ErrorKind::InvalidJson, msg, "", Some(self.i))
    }

    fn ws(&mut self) {
        while let Some(c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn lit(&mut self, word: &[u8]) -> Result<(), Error> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn value(&mut self, depth: usize, path: &str) -> Result<SVal, Error> {
        if depth > MAX_DEPTH {
            return Err(Error::new(
                ErrorKind::TooComplex,
                "pattern nests too deeply",
                path,
                Some(self.i),
            ));
        }
        let off = self.i;
        let kind = match self.b.get(self.i) {
            None => return Err(self.err("unexpected end of input")),
            Some(b'n') => {
                self.lit(b"null")?;
                SKind::Null
            }
            Some(b't') => {
                self.lit(b"true")?;
                SKind::Bool(true)
            }
            Some(b'f') => {
                self.lit(b"false")?;
                SKind::Bool(false)
            }
            Some(b'"') => SKind::Str(self.string()?),
            Some(b'-' | b'0'..=b'9') => SKind::Num(self.number()?),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        items.push(self.value(depth + 1, path)?);
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err(self.err("expected ',' or ']'")),
                        }
                    }
                }
                SKind::Arr(items)
            }
            Some(b'{') => {
                self.i += 1;
                let mut fields: Vec<(String, SVal)> = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        if self.b.get(self.i) != Some(&b'"') {
                            return Err(self.err("expected a string key"));
                        }
                        let k = self.string()?;
                        self.ws();
                        if self.b.get(self.i) != Some(&b':') {
                            return Err(self.err("expected ':'"));
                        }
                        self.i += 1;
                        self.ws();
                        let p = crate::parse::join(path, &k);
                        let v = self.value(depth + 1, &p)?;
                        // Last occurrence wins, as with serde_json.
                        if let Some(slot) = fields.iter_mut().find(|(fk, _)| *fk == k) {
                            slot.1 = v;
                        } else {
                            fields.push((k, v));
                        }
                        self.ws();
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err(self.err("expected ',' or '}'")),
                        }
                    }
                }
                SKind::Obj(fields)
            }
            Some(_) => return Err(self.err("unexpected character")),
        };
        Ok(SVal {
            off: Some(off),
            kind,
        })
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let s = self
            .b
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("truncated \\u escape"))?;
        if !s.iter().all(u8::is_ascii_hexdigit) {
            return Err(self.err("invalid \\u escape"));
        }
        let s = std::str::from_utf8(s).map_err(|_| self.err("invalid \\u escape"))?;
        let v = u32::from_str_radix(s, 16).map_err(|_| self.err("invalid \\u escape"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, Error> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(&c) = self.b.get(self.i) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            // The input is a &str and we only stop on ASCII bytes, so this slice is valid UTF-8.
            out.push_str(std::str::from_utf8(&self.b[start..self.i]).expect("utf-8 input"));
            match self.b.get(self.i) {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = *self
                        .b
                        .get(self.i)
                        .ok_or_else(|| self.err("unterminated string"))?;
                    self.i += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(self.err("unpaired surrogate"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("unpaired surrogate"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            out.push(
                                char::from_u32(cp).ok_or_else(|| self.err("invalid code point"))?,
                            );
                        }
                        _ => {
                            self.i -= 1;
                            return Err(self.err("invalid escape"));
                        }
                    }
                }
                Some(_) => return Err(self.err("control character in string")),
            }
        }
    }

    fn number(&mut self) -> Result<String, Error> {
        let start = self.i;
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.i;
            while matches!(p.b.get(p.i), Some(b'0'..=b'9')) {
                p.i += 1;
            }
            p.i - s
        };
        let int_start = self.i;
        let n = digits(self);
        if n == 0 || (n > 1 && self.b[int_start] == b'0') {
            return Err(self.err("invalid number"));
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(self.err("invalid number"));
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("invalid number"));
            }
        }
        Ok(std::str::from_utf8(&self.b[start..self.i])
            .expect("ascii")
            .to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        let v = parse(r#"{"a": [1, "x"]}"#).unwrap();
        match v.kind {
            SKind::Obj(f) => assert_eq!(f[0].1.off, Some(6)),
            _ => panic!(),
        }
        assert_eq!(parse("{\"a\": }").unwrap_err().offset, Some(6));
    }
}
