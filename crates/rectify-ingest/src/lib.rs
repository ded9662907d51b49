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
//!
//! Work per request is bounded and an event that could never be stored is
//! refused here, naming it, rather than failing later (see [`Limits`] and
//! [`IngestError`]): at most 100 findings per import event, at most 10,000
//! events per body after the split, no NUL character anywhere, ids of at
//! most 512 bytes, and every Security Hub finding with a non-empty `Id` and
//! `ProductArn` string.

mod check;
mod envelope;
mod error;

pub use envelope::{event_from_value, fan_out};
pub use error::IngestError;

use rectify_model::Event;
use serde_json::value::RawValue;

/// EventBridge's limit on one event, in bytes.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// Findings Security Hub puts in one "Findings - Imported" event, at most.
pub const MAX_FINDINGS_PER_EVENT: usize = 100;

/// Events one body may yield, after imports are split per finding.
pub const MAX_EVENTS_PER_BODY: usize = 10_000;

/// Longest event id, finding `Id` or `ProductArn` accepted, in bytes.
pub const MAX_ID_BYTES: usize = 512;

/// Bounds on what one body may hold; anything over them is refused with
/// the matching [`IngestError`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest event, in bytes ([`IngestError::TooLarge`]).
    pub max_event_bytes: usize,
    /// Most findings in one Security Hub import event
    /// ([`IngestError::TooManyFindings`]).
    pub max_findings_per_event: usize,
    /// Most events per body, counting each finding of an import as one
    /// ([`IngestError::TooManyEvents`]).
    pub max_events: usize,
    /// Longest event id, finding `Id` or `ProductArn`, in bytes
    /// ([`IngestError::Unstorable`]).
    pub max_id_bytes: usize,
    /// Take events whose source is rectify's own (`rectify.scanner`,
    /// `rectify.detector`). Off for everything that arrives from outside
    /// (HTTP, SQS, Lambda, `rectify process`): such an event is a forgery
    /// ([`IngestError::ReservedSource`]). On only for `rectify test`
    /// fixtures, which never change anything.
    pub allow_own_sources: bool,
}

/// Event sources only rectify itself gives: its posture scanner's and its
/// threat detectors'.
pub const OWN_SOURCES: &[&str] = &[
    rectify_model::SCANNER_SOURCE,
    rectify_model::DETECTOR_SOURCE,
];

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_event_bytes: MAX_EVENT_BYTES,
            max_findings_per_event: MAX_FINDINGS_PER_EVENT,
            max_events: MAX_EVENTS_PER_BODY,
            max_id_bytes: MAX_ID_BYTES,
            allow_own_sources: false,
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
    if raws.len() > limits.max_events {
        return Err(IngestError::TooManyEvents {
            limit: limits.max_events,
        });
    }
    let mut events = Vec::with_capacity(raws.len());
    for (index, (offset, raw)) in raws.into_iter().enumerate() {
        let value: serde_json::Value =
            serde_json::from_str(raw).map_err(|e| malformed(raw, 0, &e).shift(offset))?;
        // An event as EventBridge sends it is stored as received; one
        // taken out of SNS, wrapped or split is serialised again.
        let as_received = envelope::is_plain_event(&value);
        let value = envelope::unwrap_sns(value).map_err(|e| e.at(index))?;
        if let Some(path) = check::nul_at(&value) {
            return Err(IngestError::Unstorable {
                index,
                id: check::event_id(&value).map(check::shorten),
                reason: format!("a NUL character (\\u0000) at {path}, which can not be stored"),
            });
        }
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
            if !limits.allow_own_sources && OWN_SOURCES.contains(&event.source.as_str()) {
                return Err(IngestError::ReservedSource {
                    index,
                    name: event.source.clone(),
                });
            }
            check::event(&event, limits).map_err(|e| e.at(index))?;
            let mut split = fan_out(event);
            if events.len() + split.len() > limits.max_events {
                return Err(IngestError::TooManyEvents {
                    limit: limits.max_events,
                });
            }
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
