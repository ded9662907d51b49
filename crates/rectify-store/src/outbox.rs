//! The `outbox` table: every notification rectify owes a channel, written
//! before it is sent. Delivery is tried at once; what fails stays pending
//! with a time for the next attempt (backoff), and what a crash cut off is
//! taken up again when its claim runs out, so a message is neither lost nor
//! holding up a remediation. A message that fails too often is `dead`, and
//! stays in the table for a person to see.

use serde::Serialize;

/// Owed: to be sent at `next_attempt_at` (or, while a sender holds it,
/// when its claim runs out).
pub const PENDING: &str = "pending";
/// The channel took it.
pub const SENT: &str = "sent";
/// Given up after the last attempt; kept for people to see.
pub const DEAD: &str = "dead";

/// One notification owed to one channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxItem {
    /// Unique per message and channel (time-ordered).
    pub id: String,
    /// The channel's name under `notifications`.
    pub channel: String,
    /// The job the message is about.
    pub job_id: String,
    /// What happened (the outcome kind, `finding-mismatch`, ...).
    pub outcome: String,
    /// The notification: `{"subject": ..., "message": {...}}`.
    pub body: serde_json::Value,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it may next be sent (store time format).
    pub next_attempt_at: String,
    /// One of the states above.
    pub state: String,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

pub(crate) const COLUMNS: &str =
    "id, channel, job_id, outcome, body, attempts, next_attempt_at, state, last_error, created_at, updated_at";

pub(crate) const TABLE: &str = r#"
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    channel         TEXT NOT NULL,
    job_id          TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    body            TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    state           TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_by_job ON outbox (job_id);
"#;
