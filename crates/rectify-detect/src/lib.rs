//! Threat detection, a source of findings like Security Hub or the posture
//! scanner: it reads CloudTrail records (and VPC flow log records), and what
//! it detects becomes an ASFF finding in a Security Hub import event with
//! source [`DETECTOR_SOURCE`], routed through the same rules, modes,
//! guardrails, audit and undo as any other finding.

pub mod finding;

pub use finding::{Detection, DetectedResource, Technique, DETECTOR_SOURCE};
