//! The `tickets` table: one ticket per finding and ticket system. The row
//! is reserved before the ticket system is called and gets the ticket's
//! id after, so a redelivered or re-run step finds it and never opens a
//! second ticket; a row still `reserved` after a crash is settled by
//! searching the system for the finding before creating again.

use serde::Serialize;

/// The row is claimed; the ticket system may or may not have the ticket.
pub const RESERVED: &str = "reserved";
/// The ticket is open in the system.
pub const OPEN: &str = "open";
/// rectify is closing the ticket (the finding was fixed and read back).
pub const RESOLVING: &str = "resolving";
/// rectify closed the ticket.
pub const RESOLVED: &str = "resolved";
/// A person resolved the ticket; the finding was set `RESOLVED`.
pub const CLOSED_BY_PERSON: &str = "closed-by-person";
/// A person canceled the ticket; the finding was left as it is.
pub const CANCELED: &str = "canceled";
/// A person closed the ticket as an accepted risk; the finding was set
/// `SUPPRESSED`.
pub const ACCEPTED_RISK: &str = "accepted-risk";

/// A finding's ticket in one ticket system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketRow {
    /// The system's name under `tickets.systems`.
    pub system: String,
    pub finding_id: String,
    pub product_arn: String,
    /// The region of the Security Hub holding the finding.
    pub hub_region: String,
    /// The system's own id (ServiceNow `sys_id`, Jira issue id); `None`
    /// while reserved.
    pub remote_id: Option<String>,
    /// What people call it (`INC0010001`, `SEC-12`).
    pub remote_key: Option<String>,
    /// One of the states above.
    pub state: String,
    pub created_at: String,
    pub updated_at: String,
}

pub(crate) const COLUMNS: &str =
    "system, finding_id, product_arn, hub_region, remote_id, remote_key, state, created_at, updated_at";

pub(crate) const TABLE: &str = r#"
CREATE TABLE tickets (
    system      TEXT NOT NULL,
    finding_id  TEXT NOT NULL,
    product_arn TEXT NOT NULL,
    hub_region  TEXT NOT NULL,
    remote_id   TEXT,
    remote_key  TEXT,
    state       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (system, finding_id)
);
CREATE INDEX tickets_by_state ON tickets (system, state);
CREATE INDEX tickets_by_remote_id ON tickets (system, remote_id);
CREATE INDEX tickets_by_remote_key ON tickets (system, remote_key);
"#;
