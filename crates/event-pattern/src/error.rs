//! Error type returned when a pattern cannot be parsed or validated.

use std::fmt;

/// The class of a pattern error. The names follow the error classes that
/// Amazon EventBridge reports for invalid event patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not valid JSON.
    InvalidJson,
    /// The pattern (or a nested field of it) is not a JSON object.
    NotAnObject,
    /// An object with no fields, where at least one is required.
    EmptyObject,
    /// A value list (or an operator list) is empty.
    EmptyArray,
    /// A field's value is a scalar where a list of values is required.
    LeafNotArray,
    /// An object in a value list names an operator that does not exist.
    UnknownOperator,
    /// An operator is given an operand of the wrong type or shape.
    InvalidOperand,
    /// A `wildcard` operand contains `**`.
    ConsecutiveWildcards,
    /// An `anything-but` list mixes strings and numbers.
    MixedAnythingBut,
    /// A `numeric` or `anything-but` number outside -5e9..5e9 or with more
    /// than six decimals, a non-number `numeric` operand, or a range whose
    /// lower bound is not below its upper bound.
    InvalidNumber,
    /// A malformed `cidr` operand.
    InvalidCidr,
    /// The pattern text is longer than [`crate::Limits::max_pattern_chars`].
    PatternTooLong,
    /// The pattern nests too deeply or its `$or` alternatives multiply
    /// beyond the supported number of combinations.
    TooComplex,
    /// Matching an event took more steps than the matcher's budget (see
    /// [`crate::MatcherBuilder::set_step_budget`]); the event was not fully
    /// matched.
    MatchBudgetExceeded,
}

impl ErrorKind {
    /// A stable name for the kind, e.g. `"EmptyArray"`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidJson => "InvalidJson",
            ErrorKind::NotAnObject => "NotAnObject",
            ErrorKind::EmptyObject => "EmptyObject",
            ErrorKind::EmptyArray => "EmptyArray",
            ErrorKind::LeafNotArray => "LeafNotArray",
            ErrorKind::UnknownOperator => "UnknownOperator",
            ErrorKind::InvalidOperand => "InvalidOperand",
            ErrorKind::ConsecutiveWildcards => "ConsecutiveWildcards",
            ErrorKind::MixedAnythingBut => "MixedAnythingBut",
            ErrorKind::InvalidNumber => "InvalidNumber",
            ErrorKind::InvalidCidr => "InvalidCidr",
            ErrorKind::PatternTooLong => "PatternTooLong",
            ErrorKind::TooComplex => "TooComplex",
            ErrorKind::MatchBudgetExceeded => "MatchBudgetExceeded",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A pattern that could not be parsed or is not a valid event pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// A human-readable description.
    pub message: String,
    /// The dotted field path where the problem was found
    /// (e.g. `"detail.findings.Severity.Label"`); empty for the top level.
    pub path: String,
    /// Byte offset in the JSON text, when the pattern was parsed from text.
    pub offset: Option<usize>,
}

impl Error {
    pub(crate) fn new(
        kind: ErrorKind,
        message: impl Into<String>,
        path: &str,
        offset: Option<usize>,
    ) -> Error {
        Error {
            kind,
            message: message.into(),
            path: path.to_string(),
            offset,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)?;
        if !self.path.is_empty() {
            write!(f, " (at field \"{}\"", self.path)?;
            if let Some(o) = self.offset {
                write!(f, ", byte {o}")?;
            }
            f.write_str(")")?;
        } else if let Some(o) = self.offset {
            write!(f, " (at byte {o})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
