//! The one time format the store writes: RFC 3339, UTC, exactly three
//! fraction digits (`2024-05-01T12:00:00.000Z`). Strings of this form sort
//! as text in time order, which the queue's `next_run_at <= now` and lease
//! checks rely on (also in SQL).

use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::{Result, StoreError};

/// Now, in the store's format.
pub fn now() -> String {
    rectify_model::now_rfc3339()
}

/// Now plus `d`, in the store's format (lease expiries).
pub fn now_plus(d: Duration) -> String {
    rectify_model::rfc3339_after(d)
}

/// Now minus `d`, in the store's format (windows that end now).
pub fn now_minus(d: Duration) -> String {
    rectify_model::rfc3339_before(d)
}

/// `t` in UTC with milliseconds (sub-millisecond digits truncated).
pub fn format(t: OffsetDateTime) -> String {
    rectify_model::format_rfc3339(t)
}

/// Any RFC 3339 time (any offset, any number of fraction digits) in the
/// store's format. `what` names the field for the error (empty: the
/// caller names it).
pub fn normalize(s: &str, what: &str) -> Result<String> {
    if rectify_model::is_canonical_rfc3339(s) {
        return Ok(s.to_owned());
    }
    OffsetDateTime::parse(s, &Rfc3339).map(format).map_err(|e| {
        let msg = format!("{s:?} is not an RFC 3339 time: {e}");
        StoreError::Invalid(if what.is_empty() {
            msg
        } else {
            format!("{what} {msg}")
        })
    })
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
        assert!(normalize("2024-13-01T12:00:00.000Z", "t").is_err());
        assert!(normalize("2024-05-01T24:00:00.000Z", "t").is_err());
        assert_eq!(
            normalize("2024-05-01T12:00:00.000Z", "t").unwrap(),
            "2024-05-01T12:00:00.000Z"
        );
        let t = OffsetDateTime::parse("2024-02-09T03:04:05.006Z", &Rfc3339).unwrap();
        assert_eq!(format(t), "2024-02-09T03:04:05.006Z");
        let n = now();
        assert_eq!(n.len(), 24, "{n}");
        assert!(now_plus(Duration::from_secs(60)) > n);
        assert!(now_plus(Duration::MAX) > n);
    }
}
