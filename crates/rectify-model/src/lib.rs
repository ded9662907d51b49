//! The plain values handed between rectify's pipeline stages:
//!
//! ```text
//! sources -> ingest -> route -> plan -> queue -> execute -> effects
//!   bytes     Event     Match    Plan     Job     Outcome   AuditRecord
//! ```
//!
//! Nothing here does I/O; every stage crate depends on this one and on
//! nothing upstream of it.

pub mod action;
pub mod asff;
pub mod effects;
pub mod event;
pub mod job;
pub mod rule;
pub mod target;

pub use action::{Action, ActionError, ActionSpec, Change, ErrorClass, Observed, ParamSpec};
pub use asff::Finding;
pub use effects::{FindingUpdater, Notification, Notifier};
pub use event::{Event, Origin};
pub use job::{AuditRecord, FindingRef, Job, JobState, Outcome, OutcomeKind};
pub use rule::{Mode, Rule};
pub use target::Target;

/// Current time as RFC 3339 with millisecond precision, in UTC.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(now.millisecond() as u32 * 1_000_000).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
