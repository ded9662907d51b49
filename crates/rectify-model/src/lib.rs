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

/// Current time as RFC 3339 in UTC with exactly three fraction digits
/// (`2026-11-29T10:00:00.000Z`), so that times sort as text.
pub fn now_rfc3339() -> String {
    format_rfc3339(time::OffsetDateTime::now_utc())
}

/// Now plus `delay`, formatted as [`now_rfc3339`].
pub fn rfc3339_after(delay: std::time::Duration) -> String {
    let delay = time::Duration::try_from(delay).unwrap_or(time::Duration::days(36_500));
    format_rfc3339(time::OffsetDateTime::now_utc().saturating_add(delay))
}

/// Now minus `ago`, formatted as [`now_rfc3339`].
pub fn rfc3339_before(ago: std::time::Duration) -> String {
    let ago = time::Duration::try_from(ago).unwrap_or(time::Duration::days(36_500));
    format_rfc3339(time::OffsetDateTime::now_utc().saturating_sub(ago))
}

/// `t` as RFC 3339 in UTC with exactly three fraction digits.
pub fn format_rfc3339(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}
