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
}

impl IngestError {
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        IngestError::Invalid {
            index: 0,
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn at(self, index: usize) -> Self {
        match self {
            IngestError::Invalid { field, message, .. } => IngestError::Invalid {
                index,
                field,
                message,
            },
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
