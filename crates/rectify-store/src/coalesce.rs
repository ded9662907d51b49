//! The coalescing windows of channels with `coalesce_seconds`, held in the
//! store so that a restart does not forget them and replicas share them.
//!
//! One row per channel, rule and what happened (the outcome, or the kind
//! for a refusal): written by the first message, which goes to the outbox
//! in the same transaction and opens the window; the messages that follow
//! are counted into the row (`held`, the first accounts and resources,
//! bounded) instead of being sent. When the window has closed, one process
//! claims the row (a token and a time the claim runs out, like the
//! digests), composes the summary, and in one transaction deletes the row
//! and writes the summary to the outbox. A message counted in after the
//! claim makes the close fail (`held` changed) and gives the claim back,
//! so the next round sends a summary that has it too.

use serde::Serialize;

use crate::outbox::OutboxItem;

/// Resources named in a window at most (the count covers them all).
pub const RESOURCES_MAX: usize = 20;
/// Accounts named in a window at most.
pub const ACCOUNTS_MAX: usize = 50;
/// Longest account or resource kept; longer ones are cut.
pub const NAME_MAX: usize = 2048;

/// A message offered to a coalescing window.
#[derive(Debug, Clone, PartialEq)]
pub struct CoalesceHold {
    pub channel: String,
    pub rule: String,
    /// The outcome, or the kind for a refusal.
    pub what: String,
    pub account: String,
    pub resource: String,
    /// When the window closes if this message opens it (store time format).
    pub closes_at: String,
    /// Written to the outbox (claimed by the caller) when this message
    /// opens the window.
    pub message: OutboxItem,
}

/// One open window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoalesceWindow {
    pub channel: String,
    pub rule: String,
    pub what: String,
    /// Store time format.
    pub closes_at: String,
    /// Messages counted in after the first (which was sent).
    pub held: u64,
    /// Distinct accounts of the held messages, first [`ACCOUNTS_MAX`].
    pub accounts: Vec<String>,
    /// Distinct resources of the held messages, first [`RESOURCES_MAX`].
    pub resources: Vec<String>,
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(NAME_MAX) {
        Some((at, _)) => s[..at].to_string(),
        None => s.to_string(),
    }
}

/// Counts `hold` into the window's `held`, `accounts` and `resources`.
pub(crate) fn fold(
    held: &mut u64,
    accounts: &mut Vec<String>,
    resources: &mut Vec<String>,
    hold: &CoalesceHold,
) {
    *held = held.saturating_add(1);
    let account = cut(&hold.account);
    if accounts.len() < ACCOUNTS_MAX && !accounts.contains(&account) {
        accounts.push(account);
    }
    let resource = cut(&hold.resource);
    if resources.len() < RESOURCES_MAX && !resources.contains(&resource) {
        resources.push(resource);
    }
}

/// A stored name list (JSON), bounded again on the way in.
pub(crate) fn names(text: &str, max: usize) -> Vec<String> {
    let mut names: Vec<String> = serde_json::from_str(text).unwrap_or_default();
    names.truncate(max);
    names
}

pub(crate) const COLUMNS: &str = "channel, rule, what, closes_at, held, accounts, resources";

/// Migration 15: the windows, and per digest period the items it holds
/// and how many it dropped past the channel's cap.
pub(crate) const TABLES: &str = r#"
CREATE TABLE coalesce_windows (
    channel       TEXT NOT NULL,
    rule          TEXT NOT NULL,
    what          TEXT NOT NULL,
    closes_at     TEXT NOT NULL,
    held          BIGINT NOT NULL,
    accounts      TEXT NOT NULL,
    resources     TEXT NOT NULL,
    claim_token   TEXT,
    claimed_until TEXT,
    PRIMARY KEY (channel, rule, what)
);
CREATE INDEX coalesce_windows_due ON coalesce_windows (closes_at);
ALTER TABLE digest_periods ADD COLUMN items BIGINT NOT NULL DEFAULT 0;
ALTER TABLE digest_periods ADD COLUMN dropped BIGINT NOT NULL DEFAULT 0;
"#;
