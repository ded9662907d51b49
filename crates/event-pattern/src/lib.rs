//! Amazon EventBridge event patterns: parsing, validation and matching.
//!
//! A [`Pattern`] is one parsed and validated event pattern; it can match an
//! event on its own with [`Pattern::matches`]. A [`Matcher`], built with a
//! [`MatcherBuilder`], compiles many patterns into one structure whose cost
//! per event grows with the size of the event and the number of matches,
//! not with the number of patterns.
//!
//! ```
//! use event_pattern::{MatcherBuilder, Pattern};
//! use serde_json::json;
//!
//! let p = Pattern::parse(r#"{"source": ["aws.securityhub"],
//!     "detail": {"findings": {"Severity": {"Label": ["HIGH", "CRITICAL"]}}}}"#).unwrap();
//! let event = json!({"source": "aws.securityhub",
//!     "detail": {"findings": [{"Severity": {"Label": "HIGH"}}]}});
//! assert!(p.matches(&event));
//!
//! let mut b = MatcherBuilder::new();
//! b.add(7, &p);
//! let m = b.build();
//! assert_eq!(m.matches(&event), vec![7]);
//! ```
//!
//! Semantics follow EventBridge's content filtering, with one deliberate
//! strictness: values taken from different elements of the same array are
//! never combined into one match (see the crate README).

#![warn(missing_docs)]

mod cond;
mod error;
mod hash;
mod json;
mod matcher;
mod parse;
mod reference;

pub use error::{Error, ErrorKind};
pub use matcher::{Matcher, MatcherBuilder, DEFAULT_STEP_BUDGET};

/// Limits applied when parsing a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted pattern, in characters of JSON text (default 4096,
    /// as in EventBridge).
    pub max_pattern_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pattern_chars: 4096,
        }
    }
}

/// One parsed and validated event pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    /// The alternatives of the pattern (its `$or` branches multiplied out).
    pub(crate) conjs: Vec<parse::Conj>,
}

impl Pattern {
    /// Parses and validates a pattern from JSON text, with default [`Limits`].
    pub fn parse(json: &str) -> Result<Pattern, Error> {
        Self::parse_with(json, &Limits::default())
    }

    /// Parses and validates a pattern from JSON text.
    pub fn parse_with(json: &str, limits: &Limits) -> Result<Pattern, Error> {
        if let Some((at, _)) = json.char_indices().nth(limits.max_pattern_chars) {
            let mut e = too_long(json.chars().count(), limits);
            e.offset = Some(at);
            return Err(e);
        }
        let v = json::parse(json)?;
        Ok(Pattern {
            conjs: parse::build(&v)?,
        })
    }

    /// Validates a pattern that is already a JSON value (for instance one
    /// read from a YAML rule), with default [`Limits`] applied to its
    /// compact JSON text. Errors carry no byte offset.
    pub fn from_value(v: &serde_json::Value) -> Result<Pattern, Error> {
        let text_len = serde_json::to_string(v)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        let limits = Limits::default();
        if text_len > limits.max_pattern_chars {
            return Err(too_long(text_len, &limits));
        }
        let sv = json::from_value(v, "", 0)?;
        Ok(Pattern {
            conjs: parse::build(&sv)?,
        })
    }

    /// Whether `event` matches this pattern (reference semantics).
    pub fn matches(&self, event: &serde_json::Value) -> bool {
        let leaves = reference::flatten(event);
        reference::matches(&self.conjs, &leaves)
    }

    /// Number of alternatives once `$or` branches are multiplied out.
    pub fn alternatives(&self) -> usize {
        self.conjs.len()
    }
}

impl std::str::FromStr for Pattern {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Pattern::parse(s)
    }
}

/// The error for a pattern of `n` characters over the limit; `offset` is
/// filled in by the caller when the text is known.
fn too_long(n: usize, limits: &Limits) -> Error {
    Error::new(
        ErrorKind::PatternTooLong,
        format!(
            "the pattern is {n} characters long; the limit is {}",
            limits.max_pattern_chars
        ),
        "",
        None,
    )
}
