//! Running signature detections over records: from text (a log file,
//! JSON lines of records or of EventBridge events), and inside a
//! submission (the engine's tap).

use std::borrow::Cow;
use std::sync::Mutex;

use rectify_model::{Event, EventTap};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::anomaly::{AnomalyDetector, LiveAnomaly};
use crate::record::{Top, CLOUDTRAIL_DETAIL_TYPES};
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
            // Values one after another (JSON lines, or printed over several
            // lines each); else line by line, naming the first bad line.
            let values: Result<Vec<Value>, _> = serde_json::Deserializer::from_str(trimmed)
                .into_iter()
                .collect();
            if let Ok(values) = values {
                for v in values {
                    take(v, &mut out);
                }
                return Ok(out);
            }
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
pub fn detect_all(detector: &mut SignatureDetector, records: Vec<Value>) -> Vec<Detection> {
    detect_all_with(detector, None, records)
}

/// [`detect_all`], with the anomaly detector (when given) seeing the
/// records too, in the same order. It is not flushed: the caller says
/// when the input ends.
pub fn detect_all_with(
    detector: &mut SignatureDetector,
    anomaly: Option<&mut AnomalyDetector>,
    records: Vec<Value>,
) -> Vec<Detection> {
    detect_records(detector, anomaly, records.iter().map(Record::new).collect())
}

/// [`detect_all_with`] over records already read (from text with
/// [`read_records`], or from values).
pub fn detect_records(
    detector: &mut SignatureDetector,
    mut anomaly: Option<&mut AnomalyDetector>,
    mut records: Vec<Record<'_>>,
) -> Vec<Detection> {
    records.sort_by_cached_key(|r| r.epoch_seconds().unwrap_or(i64::MIN));
    let mut out = Vec::new();
    for r in records {
        match anomaly.as_deref_mut() {
            Some(anomaly) => {
                out.extend(detector.observe(r.clone()));
                out.extend(anomaly.observe(r));
            }
            None => out.extend(detector.observe(r)),
        }
    }
    out
}

/// What reading records from text left out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    /// Records read.
    pub records: u64,
    /// Lines of JSON lines, or entries of a log file's `Records`, that are
    /// not valid JSON: skipped.
    pub malformed: u64,
    /// Entries of a log file's `Records` that are JSON but no CloudTrail
    /// record (no string `eventName` and `eventSource`): skipped.
    pub not_records: u64,
}

/// The CloudTrail records `text` holds, as [`parse_records`] finds them
/// (a log file, one record or EventBridge event, a JSON array of them, or
/// JSON lines of any of these), read from the text without building a
/// `Value` of each: the records borrow from `text`. A line of JSON lines
/// that is not JSON is counted in `stats` and skipped; text that is
/// neither one JSON value nor JSON lines is the error.
pub fn read_records<'a>(text: &'a str, stats: &mut ReadStats) -> Result<Vec<Record<'a>>, String> {
    let trimmed = text.trim();
    let mut out = Vec::new();
    if trimmed.is_empty() {
        return Ok(out);
    }
    match take_text(trimmed, &mut out, stats) {
        Ok(()) => {}
        Err(e) if json_lines(&e, trimmed) => {
            out.clear();
            // A stream of JSON values: JSON lines, or values printed over
            // several lines each (as `jq '.Records[]'` prints them).
            if let Some(values) = json_stream(trimmed) {
                for value in values {
                    take_text(value.get(), &mut out, stats).map_err(|e| e.to_string())?;
                }
                stats.records += out.len() as u64;
                return Ok(out);
            }
            // Not a clean stream: line by line, skipping what is broken.
            let (mut good, mut first_error) = (0, None);
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                let before = out.len();
                match take_text(line, &mut out, stats) {
                    Ok(()) => good += 1,
                    Err(e) => {
                        out.truncate(before);
                        stats.malformed += 1;
                        first_error.get_or_insert_with(|| format!("line {}: {e}", n + 1));
                    }
                }
            }
            // Not one line of JSON: the text is not JSON lines either.
            if good == 0 {
                return Err(first_error.unwrap_or_else(|| e.to_string()));
            }
        }
        Err(e) => return Err(e.to_string()),
    }
    stats.records += out.len() as u64;
    Ok(out)
}

/// The JSON values `text` holds one after another, each borrowed from it;
/// None when any of it is not JSON.
fn json_stream(text: &str) -> Option<Vec<&RawValue>> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<&RawValue>()
        .collect::<Result<Vec<_>, _>>()
        .ok()
}

/// `aws cloudtrail lookup-events` output (`{"Events": [{...,
/// "CloudTrailEvent": "<the record as a JSON string>"}]}`, one page or
/// several printed one after another) as JSON lines of its records; None
/// when `text` is not that. The records are strings inside the output,
/// so they cannot be read in place.
pub fn lookup_events_as_lines(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Page<'a> {
        #[serde(rename = "Events", borrow)]
        events: Vec<LookupEvent<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct LookupEvent<'a> {
        #[serde(rename = "CloudTrailEvent", borrow, default)]
        cloud_trail_event: Option<Cow<'a, str>>,
    }
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') || !trimmed.contains("\"CloudTrailEvent\"") {
        return None;
    }
    let mut lines = String::new();
    for page in serde_json::Deserializer::from_str(trimmed).into_iter::<Page>() {
        for event in page.ok()?.events {
            if let Some(record) = event.cloud_trail_event {
                // The record's own newlines (none in what CloudTrail
                // writes) would split it across lines.
                lines.push_str(&record.replace(['\n', '\r'], " "));
                lines.push('\n');
            }
        }
    }
    Some(lines)
}

/// Whether text that is not one JSON value is read as JSON lines: after
/// its first value comes more (what [`parse_records`] decides too), or,
/// its first line broken, its next line is a JSON value of its own.
fn json_lines(e: &serde_json::Error, text: &str) -> bool {
    if e.is_syntax() && e.to_string().contains("trailing characters") || e.is_eof() {
        return true;
    }
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    lines.next();
    lines
        .next()
        .is_some_and(|l| serde_json::from_str::<serde::de::IgnoredAny>(l).is_ok())
}

/// The records of one JSON value's text, as [`records`] finds them in its
/// `Value`.
fn take_text<'a>(
    text: &'a str,
    out: &mut Vec<Record<'a>>,
    stats: &mut ReadStats,
) -> Result<(), serde_json::Error> {
    match Top::parse(text)? {
        Top::Array(items) => {
            for item in items {
                take_text(item.get(), out, stats)?;
            }
        }
        Top::Object(top) => {
            if let Some(items) = top.records {
                for item in items {
                    match Record::from_text(item.get()) {
                        Ok(Some(r)) => out.push(r),
                        Ok(None) => stats.not_records += 1,
                        Err(_) => stats.malformed += 1,
                    }
                }
            } else if let (Some(detail_type), Some(detail)) = (&top.detail_type, top.detail) {
                if CLOUDTRAIL_DETAIL_TYPES.contains(&detail_type.as_ref()) {
                    if let Some(r) = Record::from_text(detail.get())? {
                        out.push(r);
                    }
                }
            } else if let Some(r) = Record::from_fields(top.fields, text) {
                out.push(r);
            }
        }
        Top::Other => {}
    }
    Ok(())
}

/// Where a tap hands its detections besides the submission (Security Hub).
pub type DetectionSink = Box<dyn Fn(&[Detection]) + Send + Sync>;

/// The detectors as the engine's tap: CloudTrail events in a submission
/// are observed by the signatures and, when enabled, the anomaly
/// detector, and each detection is added to the submission as a Security
/// Hub import event of source `rectify.detector`. `also` gets every
/// detection too (to send them to Security Hub).
pub struct DetectTap {
    detector: Mutex<SignatureDetector>,
    anomaly: Option<LiveAnomaly>,
    also: Option<DetectionSink>,
}

impl DetectTap {
    pub fn new(detector: SignatureDetector) -> DetectTap {
        DetectTap {
            detector: Mutex::new(detector),
            anomaly: None,
            also: None,
        }
    }

    pub fn with_sink(mut self, sink: DetectionSink) -> DetectTap {
        self.also = Some(sink);
        self
    }

    /// Records also go through the anomaly detector.
    pub fn with_anomaly(mut self, anomaly: LiveAnomaly) -> DetectTap {
        self.anomaly = Some(anomaly);
        self
    }

    /// The detections for these events (what [`EventTap::derive`] turns
    /// into events).
    pub fn detections(&self, events: &[Event]) -> Vec<Detection> {
        let mut seen: Vec<&Value> = Vec::new();
        for event in events {
            // Never detect on rectify's own findings.
            if event.source == DETECTOR_SOURCE || event.source == rectify_model::SCANNER_SOURCE {
                continue;
            }
            seen.extend(records(&event.body));
        }
        if seen.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        {
            let mut detector = match self.detector.lock() {
                Ok(d) => d,
                // A panic elsewhere must not stop detection for good.
                Err(poisoned) => poisoned.into_inner(),
            };
            for r in &seen {
                out.extend(detector.observe(Record::new(r)));
            }
        }
        if let Some(anomaly) = &self.anomaly {
            out.extend(anomaly.observe(&seen));
        }
        out
    }

    fn to_events(&self, found: Vec<Detection>) -> Vec<Event> {
        if found.is_empty() {
            return Vec::new();
        }
        if let Some(sink) = &self.also {
            sink(&found);
        }
        found.iter().map(Detection::event).collect()
    }
}

#[async_trait::async_trait]
impl EventTap for DetectTap {
    fn derive(&self, events: &[Event]) -> Vec<Event> {
        let found = self.detections(events);
        self.to_events(found)
    }

    fn tick(&self, now: i64) -> Vec<Event> {
        match &self.anomaly {
            Some(anomaly) => self.to_events(anomaly.tick(now)),
            None => Vec::new(),
        }
    }

    async fn save_state(&self, force: bool) {
        if let Some(anomaly) = &self.anomaly {
            anomaly.save(force).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging", "eventID": "@id@"}"#;

    fn ids(records: &[Record]) -> Vec<String> {
        records.iter().map(|r| r.id().to_string()).collect()
    }

    #[test]
    fn values_printed_over_several_lines_are_read_one_after_another() {
        let pretty = |id: &str| {
            let v: Value = serde_json::from_str(&RECORD.replace("@id@", id)).unwrap();
            serde_json::to_string_pretty(&v).unwrap()
        };
        let text = format!("{}\n{}\n", pretty("a"), pretty("b"));
        let mut stats = ReadStats::default();
        let records = read_records(&text, &mut stats).unwrap();
        assert_eq!(ids(&records), ["a", "b"]);
        assert_eq!(stats.records, 2);
        assert_eq!(stats.malformed, 0);
        let values = parse_records(&text).unwrap();
        let value_ids: Vec<&str> = values
            .iter()
            .map(|v| v["eventID"].as_str().unwrap())
            .collect();
        assert_eq!(value_ids, ["a", "b"]);
        // A broken value among JSON lines is still skipped line by line.
        let text = format!(
            "{}\n{{\"eventName\": \n{}\n",
            RECORD.replace("@id@", "a"),
            RECORD.replace("@id@", "b")
        );
        let mut stats = ReadStats::default();
        let records = read_records(&text, &mut stats).unwrap();
        assert_eq!(ids(&records), ["a", "b"]);
        assert_eq!(stats.malformed, 1);
    }

    #[test]
    fn lookup_events_output_gives_its_records_as_lines() {
        let event = |id: &str| {
            serde_json::json!({"EventId": id, "EventName": "StopLogging",
                               "CloudTrailEvent": RECORD.replace("@id@", id)})
        };
        let text = format!(
            "{}\n{}",
            serde_json::json!({"Events": [event("a"), event("b")], "NextToken": "t"}),
            serde_json::json!({"Events": [event("c"), {"EventId": "no-record"}]})
        );
        let lines = lookup_events_as_lines(&text).unwrap();
        let mut stats = ReadStats::default();
        assert_eq!(
            ids(&read_records(&lines, &mut stats).unwrap()),
            ["a", "b", "c"]
        );
        // Anything else is left alone.
        assert_eq!(lookup_events_as_lines(RECORD), None);
        assert_eq!(lookup_events_as_lines(r#"{"Records": []}"#), None);
        assert_eq!(
            lookup_events_as_lines(r#"{"Events": 1, "CloudTrailEvent": 2}"#),
            None
        );
    }
}
