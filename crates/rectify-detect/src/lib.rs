//! Threat detection, a source of findings like Security Hub or the posture
//! scanner: it reads CloudTrail records (and VPC flow log records), and what
//! it detects becomes an ASFF finding in a Security Hub import event with
//! source [`DETECTOR_SOURCE`], routed through the same rules, modes,
//! guardrails, audit and undo as any other finding.

pub mod anomaly;
pub mod evaluate;
pub mod finding;
pub mod ocsf;
pub mod pack;
pub mod record;
pub mod run;
pub mod signature;

pub use finding::{DetectedResource, Detection, Technique, DETECTOR_SOURCE};
pub use record::{records, Record};
pub use signature::{SignatureDetector, Spec};

/// A detector fed CloudTrail records one at a time. What it returns is
/// new or updated detections; state it keeps between records is bounded
/// by the detector (windows per entity, a cap on entities).
pub trait Detector: Send {
    /// A stable id, used in config and in finding ids.
    fn id(&self) -> &str;
    fn observe(&mut self, record: Record<'_>) -> Vec<Detection>;
}
