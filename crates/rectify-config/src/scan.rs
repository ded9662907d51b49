//! The `scan` section: posture scans that `rectify serve` runs on a cron
//! schedule.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `scan`: what a scheduled scan does, and when.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    pub schedule: ScanSchedule,
    /// Send what the actions' checks found through the rules (as
    /// `rectify scan --feed`), each in its rule's mode.
    pub feed: bool,
    /// Accounts scanned (empty: every configured account).
    pub accounts: Vec<String>,
    /// Regions scanned (empty: each account's `regions`, else `aws.region`).
    pub regions: Vec<String>,
    pub send_to_security_hub: bool,
    /// Calls in flight at once per service and region (0: the scanner's
    /// default).
    pub concurrency: usize,
    /// Bucket settings from AWS Config's configuration items: `true` as
    /// `rectify scan --from-config` (not with `feed`), `false` as
    /// `--live`; unset, as `rectify scan` without either.
    pub from_config: Option<bool>,
}

/// A cron expression, in UTC: five fields (minute hour day month weekday)
/// or six with seconds first.
#[derive(Clone)]
pub struct ScanSchedule {
    expression: String,
    cron: croner::Cron,
}

impl std::fmt::Debug for ScanSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ScanSchedule")
            .field(&self.expression)
            .finish()
    }
}

impl ScanSchedule {
    /// Parses `expression`; the error says what is wrong with it.
    pub fn parse(expression: &str) -> Result<ScanSchedule, String> {
        if expression.len() > 200 {
            return Err("a cron expression is at most 200 characters".into());
        }
        let fields = expression.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), found {fields}"
            ));
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(expression)
            .map_err(|e| format!("not a cron expression: {e}"))?;
        let schedule = ScanSchedule {
            expression: expression.to_string(),
            cron,
        };
        // `0 0 30 2 *` parses and never fires.
        if schedule.next_after(SystemTime::now()).is_none() {
            return Err("the expression never fires".into());
        }
        Ok(schedule)
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The first time after `t` (whole seconds, UTC) it fires.
    pub fn next_after(&self, t: SystemTime) -> Option<SystemTime> {
        let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
        let now = jiff::Timestamp::from_second(i64::try_from(secs).ok()?)
            .ok()?
            .to_zoned(jiff::tz::TimeZone::UTC);
        let next = self.cron.find_next_occurrence(&now, false).ok()?;
        let next = u64::try_from(next.timestamp().as_second()).ok()?;
        Some(UNIX_EPOCH + Duration::from_secs(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_and_six_fields_in_utc() {
        let daily = ScanSchedule::parse("0 3 * * *").unwrap();
        // 2026-12-06T10:00:00Z -> the next day 03:00:00Z.
        let t = UNIX_EPOCH + Duration::from_secs(1_796_551_200);
        let next = daily.next_after(t).unwrap();
        assert_eq!(
            next.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_796_551_200 + 17 * 3600
        );
        let every_five = ScanSchedule::parse("*/5 * * * * *").unwrap();
        let next = every_five.next_after(t + Duration::from_secs(1)).unwrap();
        assert_eq!(next, t + Duration::from_secs(5));
        // Strictly after: a fire time is not its own next.
        assert_eq!(
            every_five.next_after(next),
            Some(next + Duration::from_secs(5))
        );
    }

    #[test]
    fn bad_expressions_say_why() {
        for (bad, says) in [
            ("", "expected 5 fields"),
            ("* * *", "expected 5 fields"),
            ("0 3 * * * * *", "found 7"),
            ("61 * * * *", "not a cron expression"),
            ("0 25 * * *", "not a cron expression"),
            ("0 0 30 2 *", "never fires"),
            ("@reboot", "expected 5 fields"),
        ] {
            let e = ScanSchedule::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
