//! Precision and recall of detections against a labelled corpus.
//!
//! Labels are JSON lines, one per record: `{"eventID": "...",
//! "detections": ["cloudtrail-logging-stopped"], "incident": "trail-1"}`.
//! A record without a label line, or with no detections, is benign. The
//! records of one incident (same `incident` and detection) are one thing
//! to find: a threshold detection fires once for many records.
//!
//! - recall of a detection: incidents it fired on (a detection whose
//!   evidence names one of the incident's records) over its incidents;
//! - precision: its detections whose evidence names a record labelled
//!   with it, over all its detections.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Detection;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Label {
    #[serde(rename = "eventID")]
    pub event_id: String,
    #[serde(default)]
    pub detections: Vec<String>,
    #[serde(default)]
    pub incident: Option<String>,
}

/// Labels by event id.
pub fn read_labels(text: &str) -> Result<HashMap<String, Label>, String> {
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let label: Label =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        out.insert(label.event_id.clone(), label);
    }
    Ok(out)
}

/// One detection's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub detection: String,
    pub technique: String,
    pub incidents: usize,
    pub found: usize,
    pub fired: usize,
    pub true_positives: usize,
    /// `None` when it never fired (nothing to be wrong about).
    pub precision: Option<f64>,
    /// `None` when the corpus holds no incident for it.
    pub recall: Option<f64>,
}

fn evidence_ids(d: &Detection) -> Vec<&str> {
    d.evidence
        .get("eventIDs")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Scores for each `(id, technique)` in `known`, in that order.
pub fn evaluate(
    labels: &HashMap<String, Label>,
    detections: &[Detection],
    known: &[(String, String)],
) -> Vec<Score> {
    // (detection, incident) -> its records
    let mut incidents: BTreeMap<(&str, String), BTreeSet<&str>> = BTreeMap::new();
    for label in labels.values() {
        for d in &label.detections {
            let incident = label
                .incident
                .clone()
                .unwrap_or_else(|| label.event_id.clone());
            incidents
                .entry((d.as_str(), incident))
                .or_default()
                .insert(label.event_id.as_str());
        }
    }
    known
        .iter()
        .map(|(id, technique)| {
            let mine: Vec<&Detection> = detections.iter().filter(|d| &d.detector == id).collect();
            let labelled_mine = |eid: &str| {
                labels
                    .get(eid)
                    .is_some_and(|l| l.detections.iter().any(|x| x == id))
            };
            let true_positives = mine
                .iter()
                .filter(|d| evidence_ids(d).into_iter().any(labelled_mine))
                .count();
            let own: Vec<&BTreeSet<&str>> = incidents
                .iter()
                .filter(|((d, _), _)| d == id)
                .map(|(_, records)| records)
                .collect();
            let found = own
                .iter()
                .filter(|records| {
                    mine.iter()
                        .any(|d| evidence_ids(d).iter().any(|e| records.contains(e)))
                })
                .count();
            Score {
                detection: id.clone(),
                technique: technique.clone(),
                incidents: own.len(),
                found,
                fired: mine.len(),
                true_positives,
                precision: (!mine.is_empty()).then(|| true_positives as f64 / mine.len() as f64),
                recall: (!own.is_empty()).then(|| found as f64 / own.len() as f64),
            }
        })
        .collect()
}

/// Detections named in the labels that are not among `known` (a typo in
/// a corpus would otherwise pass unnoticed).
pub fn unknown_labels<'a>(
    labels: &'a HashMap<String, Label>,
    known: &[(String, String)],
) -> BTreeSet<&'a str> {
    labels
        .values()
        .flat_map(|l| l.detections.iter())
        .filter(|d| !known.iter().any(|(k, _)| k == *d))
        .map(String::as_str)
        .collect()
}
