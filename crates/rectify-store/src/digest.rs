//! The digest tables: what a digest channel is owed, held in the store
//! until the channel's period ends, so that a restart or a crash loses
//! none of it and a repeat is folded across processes.
//!
//! `digest_items` holds one row per channel and item (its key names what
//! makes a repeat: rule, account, resource, what happened); a repeat adds
//! to the row's `received`. `digest_periods` holds one row per channel
//! with items: written by the first item, with the period's end. When it
//! is due, one process claims it (a token and a time the claim runs out,
//! like the outbox), composes the digest from the items, and in one
//! transaction deletes the period and the items it read and writes the
//! digest to the outbox. Items written meanwhile stay and open the next
//! period.
//!
//! A period holds at most the channel's cap of distinct items (its row
//! counts them in `items`); what comes past it is counted in `dropped`
//! and said in the digest, so a storm of distinct items cannot grow a
//! period without bound.

use serde::Serialize;

/// One notification held for a digest channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DigestItem {
    /// The channel's name under `notifications`.
    pub channel: String,
    /// What makes a repeat (a hash; at most 128 characters).
    pub item_key: String,
    /// Unique, time-ordered: items are read back in the order they came.
    pub id: String,
    /// The item as the digest reads it (its fields, bounded).
    pub item: serde_json::Value,
    /// How many times it was received (1 when written; repeats add).
    pub received: u64,
    /// When the period ends if this item opens one (store time format).
    pub period_ends_at: String,
    /// Distinct items the channel's period holds at most; past that a new
    /// item is not kept, only counted as dropped (a repeat of a kept one
    /// still adds to it). 0 when read back.
    pub max_items: u64,
}

/// A due period claimed by one process, with the items it holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DigestPeriod {
    pub channel: String,
    /// When the period ended (store time format).
    pub due_at: String,
    /// In the order they came.
    pub items: Vec<DigestItem>,
    /// Notifications not kept as items because the period was full.
    pub dropped: u64,
}

pub(crate) const ITEM_COLUMNS: &str = "channel, item_key, id, item, received";

pub(crate) const TABLES: &str = r#"
CREATE TABLE digest_periods (
    channel       TEXT PRIMARY KEY,
    due_at        TEXT NOT NULL,
    claim_token   TEXT,
    claimed_until TEXT
);
CREATE INDEX digest_periods_due ON digest_periods (due_at);
CREATE TABLE digest_items (
    channel  TEXT NOT NULL,
    item_key TEXT NOT NULL,
    id       TEXT NOT NULL,
    item     TEXT NOT NULL,
    received BIGINT NOT NULL,
    PRIMARY KEY (channel, item_key)
);
"#;
