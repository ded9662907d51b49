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
pub mod check;
pub mod controls;
pub mod effects;
pub mod event;
pub mod intake;
pub mod job;
pub mod mac;
pub mod params;
pub mod rule;
pub mod target;
pub mod ticket;

pub use action::{Action, ActionError, ActionSpec, Change, ErrorClass, Observed, ParamSpec};
pub use asff::Finding;
pub use check::{Check, CheckSpec, ScanReads, SettingsFrom, Severity, Standard, Verdict};
pub use effects::{FindingUpdater, Mailer, Notification, Notifier};
pub use event::{
    routing_view, Event, Origin, DETECTOR_SOURCE, SCANNER_SOURCE, SECURITY_HUB_CUSTOM_ACTION,
    SECURITY_HUB_IMPORTED, SECURITY_HUB_IMPORTED_V2,
};
pub use intake::{EventTap, Intake, IntakeError};
pub use job::{AuditRecord, FindingRef, Job, JobState, Outcome, OutcomeKind};
pub use rule::{Mode, Rule};
pub use target::{partition_of, Target};
pub use ticket::{TicketStep, Tickets};

/// Current time as RFC 3339 in UTC with exactly three fraction digits
/// (`2026-11-29T10:00:00.000Z`), so that times sort as text.
pub fn now_rfc3339() -> String {
    format_rfc3339(time::OffsetDateTime::now_utc())
}

/// Seconds since the epoch, now.
pub fn now_epoch_seconds() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
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

/// An RFC 3339 timestamp (any offset, any number of fraction digits).
pub fn parse_rfc3339(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// `t` as RFC 3339 in UTC with exactly three fraction digits.
pub fn format_rfc3339(t: time::OffsetDateTime) -> String {
    // Written digit by digit: this runs several times per event on the
    // ingest path, where `format!` showed in profiles.
    let t = t.to_offset(time::UtcOffset::UTC);
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, t.year().clamp(0, 9999) as u32);
    put(5, 2, t.month() as u32);
    put(8, 2, u32::from(t.day()));
    put(11, 2, u32::from(t.hour()));
    put(14, 2, u32::from(t.minute()));
    put(17, 2, u32::from(t.second()));
    put(20, 3, u32::from(t.millisecond()));
    out.iter().map(|&b| b as char).collect()
}

/// True when `s` is already in [`format_rfc3339`]'s form (fixed width,
/// UTC, fields in range), so it needs no parsing to be normalised.
pub fn is_canonical_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 24 {
        return false;
    }
    let shape = b"dddd-dd-ddTdd:dd:dd.dddZ";
    let fits = b.iter().zip(shape).all(|(c, want)| match want {
        b'd' => c.is_ascii_digit(),
        other => c == other,
    });
    let num = |at: usize| u32::from(b[at] - b'0') * 10 + u32::from(b[at + 1] - b'0');
    fits && (1..=12).contains(&num(5))
        && (1..=31).contains(&num(8))
        && num(11) < 24
        && num(14) < 60
        && num(17) < 60
}
