//! Ingest: raw bytes from a source become [`Event`]s.
//!
//! A body may hold one event, a JSON array of events, JSON lines, or an SNS
//! notification whose `Message` is an event. Bare ASFF findings (one
//! finding, or a `GetFindings` answer `{"Findings": [...]}`) are given the
//! "Security Hub Findings - Imported" envelope they would have on
//! EventBridge. Each event must fit
//! EventBridge's 256 KB limit. A "Security Hub Findings - Imported" event
//! with N findings becomes N events with one finding each, so that every
//! finding is judged, fixed and reported on its own.

mod envelope;
mod error;

pub use envelope::{event_from_value, fan_out};
pub use error::IngestError;

use rectify_model::Event;
use serde_json::value::RawValue;

/// EventBridge's limit on one event, in bytes.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_event_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_event_bytes: MAX_EVENT_BYTES,
        }
    }
}

/// Parses a body into events (after fan-out). Either every event in the
/// body is accepted or the whole body is refused, so that a client can
/// safely resend it.
pub fn parse_body(body: &[u8], limits: &Limits) -> Result<Vec<Event>, IngestError> {
    let text = std::str::from_utf8(body).map_err(|e| IngestError::Malformed {
        offset: e.valid_up_to(),
        message: "body is not valid UTF-8".into(),
    })?;
    let start = text.len() - text.trim_start().len();
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(IngestError::Empty);
    }
    let mut raws: Vec<(usize, &str)> = Vec::new();
    if trimmed.starts_with('[') {
        let items: Vec<&RawValue> =
            serde_json::from_str(trimmed).map_err(|e| malformed(text, start, &e))?;
        for item in items {
            let raw = item.get();
            raws.push((offset_in(text, raw), raw));
        }
    } else {
        match serde_json::from_str::<&RawValue>(trimmed) {
            Ok(raw) => raws.push((start, raw.get())),
            // More than one value: JSON lines.
            Err(e) if e.is_syntax() && e.to_string().contains("trailing characters") => {
                let mut line_start = 0;
                for line in text.split_inclusive('\n') {
                    let item = line.trim();
                    if !item.is_empty() {
                        let at = line_start + (line.len() - line.trim_start().len());
                        let raw: &RawValue = serde_json::from_str(item)
                            .map_err(|e| malformed(item, 0, &e).shift(at))?;
                        raws.push((at, raw.get()));
                    }
                    line_start += line.len();
                }
            }
            Err(e) => return Err(malformed(text, start, &e)),
        }
    }
    let mut events = Vec::with_capacity(raws.len());
    for (index, (offset, raw)) in raws.into_iter().enumerate() {
        let value: serde_json::Value =
            serde_json::from_str(raw).map_err(|e| malformed(raw, 0, &e).shift(offset))?;
        // An event as EventBridge sends it is stored as received; one
        // taken out of SNS, wrapped or split is serialised again.
        let as_received = envelope::is_plain_event(&value);
        let value = envelope::unwrap_sns(value).map_err(|e| e.at(index))?;
        // Bare ASFF findings (one, or a GetFindings answer) get the
        // envelope Security Hub would give them on EventBridge; the size
        // limit then applies to each finding's event.
        let wrapped = envelope::wrap_asff(value);
        let whole = wrapped.len() == 1;
        for value in wrapped {
            let size = if whole {
                raw.len()
            } else {
                value.to_string().len()
            };
            if size > limits.max_event_bytes {
                return Err(IngestError::TooLarge {
                    index,
                    offset,
                    size,
                    limit: limits.max_event_bytes,
                });
            }
            let event = event_from_value(value, raw.as_bytes()).map_err(|e| e.at(index))?;
            let mut split = fan_out(event);
            if let [event] = split.as_mut_slice() {
                if as_received {
                    event.keep_received_text(raw);
                }
            }
            events.extend(split);
        }
    }
    Ok(events)
}

/// Byte offset of `inner` (a slice of `outer`) within `outer`.
fn offset_in(outer: &str, inner: &str) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}

/// Converts serde_json's line/column into a byte offset into `text`.
fn malformed(text: &str, base: usize, e: &serde_json::Error) -> IngestError {
    let sub = &text[base..];
    let mut offset = 0;
    for (i, line) in sub.split_inclusive('\n').enumerate() {
        if i + 1 == e.line() {
            offset += e.column().saturating_sub(1).min(line.len());
            break;
        }
        offset += line.len();
    }
    let message = e.to_string();
    let message = message
        .rsplit_once(" at line ")
        .map(|(m, _)| m.to_string())
        .unwrap_or(message);
    IngestError::Malformed {
        offset: base + offset,
        message,
    }
}

#[cfg(test)]
mod tests;
