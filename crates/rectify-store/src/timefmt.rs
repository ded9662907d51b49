//! The one time format the store writes: RFC 3339, UTC, exactly three
//! fraction digits (`2024-05-01T12:00:00.000Z`). Strings of this form sort
//! as text in time order, which the queue's `next_run_at <= now` and lease
//! checks rely on (also in SQL).

use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use crate::{Result, StoreError};

/// Now, in the store's format.
pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

/// Now plus `d`, in the store's format (lease expiries).
pub fn now_plus(d: Duration) -> String {
    let d = time::Duration::try_from(d).unwrap_or(time::Duration::MAX);
    let t = OffsetDateTime::now_utc()
        .checked_add(d)
        .unwrap_or_else(|| OffsetDateTime::now_utc() + time::Duration::days(365 * 100));
    format(t)
}

/// `t` in UTC with milliseconds (sub-millisecond digits truncated).
pub fn format(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let desc =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&desc).unwrap_or_else(|_| t.to_string())
}

/// Any RFC 3339 time (any offset, any number of fraction digits) in the
/// store's format. `what` names the field for the error.
pub fn normalize(s: &str, what: &str) -> Result<String> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map(format)
        .map_err(|e| StoreError::Invalid(format!("{what} {s:?} is not an RFC 3339 time: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_and_utc() {
        assert_eq!(
            normalize("2024-05-01T12:00:00Z", "t").unwrap(),
            "2024-05-01T12:00:00.000Z"
        );
        assert_eq!(
            normalize("2024-05-01T14:00:00.12+02:00", "t").unwrap(),
            "2024-05-01T12:00:00.120Z"
        );
        assert_eq!(
            normalize("2024-05-01T12:00:00.123456789Z", "t").unwrap(),
            "2024-05-01T12:00:00.123Z"
        );
        assert!(normalize("yesterday", "t").is_err());
        let n = now();
        assert_eq!(n.len(), 24, "{n}");
        assert!(now_plus(Duration::from_secs(60)) > n);
        assert!(now_plus(Duration::MAX) > n);
    }
}
