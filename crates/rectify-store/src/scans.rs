//! The `scans` table: one row per posture scan (`rectify scan` by hand, or
//! a scheduled scan in `rectify serve`) with its summary; and the
//! `scan_schedule` table: the claim that lets one replica, and only one,
//! run a scheduled scan at a time.

use serde::{Deserialize, Serialize};

/// One scan as kept in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRecord {
    /// Sorts by start time (a UUIDv7).
    pub id: String,
    pub started_at: String,
    pub finished_at: String,
    /// `manual` (`rectify scan`) or `scheduled` (`rectify serve`).
    pub kind: String,
    /// Who or what started it: the worker of `serve`, or the user and host
    /// of a command.
    pub started_by: String,
    /// What it found: accounts, regions, counts per verdict, severity and
    /// standard, errors (JSON, bounded by the writer).
    pub summary: serde_json::Value,
}

/// Largest summary kept, in bytes of JSON: a summary over this is refused
/// rather than let one scan bloat the table.
pub const MAX_SUMMARY_BYTES: usize = 256 * 1024;

/// The most scans one list returns.
pub const MAX_LIST: usize = 10_000;

impl ScanRecord {
    /// The summary as stored and the two times in the store's format, or
    /// why the record is refused.
    pub(crate) fn checked(&self) -> crate::Result<(String, String, String)> {
        let text = serde_json::to_string(&self.summary)
            .map_err(|e| crate::StoreError::Invalid(format!("scan summary: {e}")))?;
        if text.len() > MAX_SUMMARY_BYTES {
            return Err(crate::StoreError::Invalid(format!(
                "scan summary of {} bytes is over the {MAX_SUMMARY_BYTES} kept",
                text.len()
            )));
        }
        for (what, value) in [
            ("id", &self.id),
            ("kind", &self.kind),
            ("started_by", &self.started_by),
        ] {
            if value.is_empty() || value.chars().count() > 200 {
                return Err(crate::StoreError::Invalid(format!(
                    "a scan's {what} is 1 to 200 characters"
                )));
            }
        }
        let started = crate::timefmt::normalize(&self.started_at, "scan started_at")?;
        let finished = crate::timefmt::normalize(&self.finished_at, "scan finished_at")?;
        Ok((text, started, finished))
    }

    pub(crate) fn from_row(
        id: String,
        started_at: String,
        finished_at: String,
        kind: String,
        started_by: String,
        summary: &str,
    ) -> ScanRecord {
        ScanRecord {
            id,
            started_at,
            finished_at,
            kind,
            started_by,
            // Written by `checked`; a row edited by hand into something
            // else reads back as its text rather than failing the list.
            summary: serde_json::from_str(summary)
                .unwrap_or_else(|_| serde_json::Value::String(summary.to_string())),
        }
    }
}

pub(crate) const TABLES: &str = r#"
CREATE TABLE scans (
    id          TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    kind        TEXT NOT NULL,
    started_by  TEXT NOT NULL,
    summary     TEXT NOT NULL
);
CREATE INDEX scans_started_at ON scans (started_at, id);
CREATE TABLE scan_schedule (
    name      TEXT PRIMARY KEY,
    holder    TEXT NOT NULL,
    until     TEXT NOT NULL,
    last_slot TEXT NOT NULL
);
"#;

/// Takes the schedule `name` for the run due at `slot` when no replica
/// holds it (or its hold ran out) and no replica took that slot or a later
/// one: one row changed when taken. Parameters: name, holder, until, slot,
/// now (SQLite's `?N`; PostgreSQL's `$N` by [`pg`]).
pub(crate) const CLAIM_SQL: &str = "INSERT INTO scan_schedule (name, holder, until, last_slot) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
     until = excluded.until, last_slot = excluded.last_slot \
     WHERE scan_schedule.last_slot < excluded.last_slot AND scan_schedule.until < ?5";

/// Moves the hold of the schedule `name` to `until` while `holder` has it
/// (a past `until` lets it go). Parameters: name, holder, until.
pub(crate) const HOLD_SQL: &str =
    "UPDATE scan_schedule SET until = ?3 WHERE name = ?1 AND holder = ?2";

pub(crate) const INSERT_SQL: &str =
    "INSERT INTO scans (id, started_at, finished_at, kind, started_by, summary) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

pub(crate) const LIST_SQL: &str =
    "SELECT id, started_at, finished_at, kind, started_by, summary FROM scans \
     ORDER BY started_at DESC, id DESC LIMIT ?1";

pub(crate) const GET_SQL: &str =
    "SELECT id, started_at, finished_at, kind, started_by, summary FROM scans WHERE id = ?1";

/// A statement above in PostgreSQL's placeholders.
pub(crate) fn pg(sql: &str) -> String {
    sql.replace('?', "$")
}
