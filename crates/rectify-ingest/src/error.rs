use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IngestError {
    #[error("empty body: expected an event, an array of events or JSON lines")]
    Empty,
    #[error("malformed JSON at byte {offset}: {message}")]
    Malformed { offset: usize, message: String },
    #[error("event {index} (at byte {offset}) is {size} bytes; the limit is {limit}")]
    TooLarge {
        index: usize,
        offset: usize,
        size: usize,
        limit: usize,
    },
    #[error("event {index}: field `{field}`: {message}")]
    Invalid {
        index: usize,
        field: String,
        message: String,
    },
    /// A Security Hub import event with more findings than
    /// [`crate::Limits::max_findings_per_event`] (Security Hub sends at
    /// most 100).
    #[error(
        "event {index} holds {findings} findings; a Security Hub import carries at most {limit}"
    )]
    TooManyFindings {
        index: usize,
        findings: usize,
        limit: usize,
    },
    /// The body holds more events, once imports are split into one event
    /// per finding, than [`crate::Limits::max_events`].
    #[error("the body holds more than {limit} events (counting one per finding of an import); send fewer per request")]
    TooManyEvents { limit: usize },
    /// An event that could never be stored or acted on: a NUL character
    /// anywhere in it, an id that is not a string or is too long, a
    /// Security Hub finding without a usable `Id` or `ProductArn`. `index`
    /// is the event's position in the body, `id` its id (or the finding's)
    /// when it has one.
    #[error("event {index}{}: {reason}", .id.as_ref().map(|i| format!(" (id {i:?})")).unwrap_or_default())]
    Unstorable {
        index: usize,
        id: Option<String>,
        reason: String,
    },
    /// An event whose `source` is one rectify gives only to what it makes
    /// itself (`rectify.scanner`, `rectify.detector`): from outside, it is
    /// a forgery that could set off remediation or containment.
    #[error("event {index}: source `{name}` is rectify's own (its scanner's or detector's); such events are made inside rectify and never taken from outside")]
    ReservedSource { index: usize, name: String },
}

impl IngestError {
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        IngestError::Invalid {
            index: 0,
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn unstorable(id: Option<&str>, reason: impl Into<String>) -> Self {
        IngestError::Unstorable {
            index: 0,
            id: id.map(str::to_string),
            reason: reason.into(),
        }
    }

    /// The position in the body of the event the error is about, if it is
    /// about one event (for per-message failures in a batch).
    pub fn index(&self) -> Option<usize> {
        match self {
            IngestError::TooLarge { index, .. }
            | IngestError::Invalid { index, .. }
            | IngestError::TooManyFindings { index, .. }
            | IngestError::Unstorable { index, .. }
            | IngestError::ReservedSource { index, .. } => Some(*index),
            IngestError::Empty
            | IngestError::Malformed { .. }
            | IngestError::TooManyEvents { .. } => None,
        }
    }

    pub(crate) fn at(self, index: usize) -> Self {
        match self {
            IngestError::Invalid { field, message, .. } => IngestError::Invalid {
                index,
                field,
                message,
            },
            IngestError::Unstorable { id, reason, .. } => {
                IngestError::Unstorable { index, id, reason }
            }
            IngestError::TooManyFindings {
                findings, limit, ..
            } => IngestError::TooManyFindings {
                index,
                findings,
                limit,
            },
            IngestError::ReservedSource { name, .. } => IngestError::ReservedSource { index, name },
            other => other,
        }
    }

    pub(crate) fn shift(self, by: usize) -> Self {
        match self {
            IngestError::Malformed { offset, message } => IngestError::Malformed {
                offset: offset + by,
                message,
            },
            other => other,
        }
    }
}
