//! Running signature detections over records: from text (a log file,
//! JSON lines of records or of EventBridge events), and inside a
//! submission (the engine's tap).

use std::sync::Mutex;

use rectify_model::{Event, EventTap};
use serde_json::Value;

use crate::signature::SignatureDetector;
use crate::{records, Detection, Detector, Record, DETECTOR_SOURCE};

/// The CloudTrail records `text` holds: a log file (`{"Records": [...]}`),
/// one record or EventBridge event, a JSON array of them, or JSON lines of
/// any of these. A line that is not JSON is an error naming it; JSON that
/// holds no record is skipped.
pub fn parse_records(text: &str) -> Result<Vec<Value>, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    match serde_json::from_str::<Value>(trimmed) {
        Ok(v) => take(v, &mut out),
        Err(e) if e.is_syntax() && e.to_string().contains("trailing characters") || e.is_eof() => {
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                let v: Value =
                    serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
                take(v, &mut out);
            }
        }
        Err(e) => return Err(e.to_string()),
    }
    Ok(out)
}

fn take(v: Value, out: &mut Vec<Value>) {
    if let Value::Array(items) = v {
        for item in items {
            take(item, out);
        }
        return;
    }
    out.extend(records(&v).into_iter().cloned());
}

/// Runs `detector` over `records` in time order (log files are not
/// strictly ordered; windows need order).
pub fn detect_all(detector: &mut SignatureDetector, mut records: Vec<Value>) -> Vec<Detection> {
    records.sort_by_cached_key(|r| Record::new(r).epoch_seconds().unwrap_or(i64::MIN));
    let mut out = Vec::new();
    for r in &records {
        out.extend(detector.observe(Record::new(r)));
    }
    out
}

/// Where a tap hands its detections besides the submission (Security Hub).
pub type DetectionSink = Box<dyn Fn(&[Detection]) + Send + Sync>;

/// The signature detector as the engine's tap: CloudTrail events in a
/// submission are observed, and each detection is added to the
/// submission as a Security Hub import event of source `rectify.detector`.
/// `also` gets every detection too (to send them to Security Hub).
pub struct DetectTap {
    detector: Mutex<SignatureDetector>,
    also: Option<DetectionSink>,
}

impl DetectTap {
    pub fn new(detector: SignatureDetector) -> DetectTap {
        DetectTap {
            detector: Mutex::new(detector),
            also: None,
        }
    }

    pub fn with_sink(mut self, sink: DetectionSink) -> DetectTap {
        self.also = Some(sink);
        self
    }

    /// The detections for these events (what [`EventTap::derive`] turns
    /// into events).
    pub fn detections(&self, events: &[Event]) -> Vec<Detection> {
        let mut detector = match self.detector.lock() {
            Ok(d) => d,
            // A panic elsewhere must not stop detection for good.
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut out = Vec::new();
        for event in events {
            // Never detect on rectify's own findings.
            if event.source == DETECTOR_SOURCE || event.source == rectify_model::SCANNER_SOURCE {
                continue;
            }
            for r in records(&event.body) {
                out.extend(detector.observe(Record::new(r)));
            }
        }
        out
    }
}

impl EventTap for DetectTap {
    fn derive(&self, events: &[Event]) -> Vec<Event> {
        let found = self.detections(events);
        if found.is_empty() {
            return Vec::new();
        }
        if let Some(sink) = &self.also {
            sink(&found);
        }
        found.iter().map(Detection::event).collect()
    }
}
