//! Digest mode: a channel that gets one message per period summing up what
//! happened (counts per outcome, account and control; the worst items)
//! instead of one message per notification. Nothing happened, nothing is
//! sent. What a digest holds is bounded whatever arrives: each item's
//! fields are clipped, the tallies keep their first names and count the
//! rest as `(other)`, and only the worst items are kept.
//!
//! The engine holds the items in the store until the period ends (so a
//! restart loses none) and composes the digest from them with [`Digest`].

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use rectify_model::Notification;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::chat::{clip, text};

/// Items named in a digest at most, worst first.
pub const WORST_MAX: usize = 10;
/// Names per tally (outcome, account, control) at most; the rest are
/// counted under [`OTHER`].
pub const TALLY_NAMES_MAX: usize = 50;
pub const OTHER: &str = "(other)";
/// Longest field kept for a worst item.
const ITEM_FIELD_MAX: usize = 300;
/// Same-item keys remembered per digest for deduplication; past that,
/// items are counted without it.
const SEEN_MAX: usize = 100_000;

/// One digest being composed.
#[derive(Default)]
pub struct Digest {
    /// Every notification, repeats included.
    received: u64,
    /// Notifications about an item not seen before in this digest.
    distinct: u64,
    by_outcome: BTreeMap<String, u64>,
    by_account: BTreeMap<String, u64>,
    by_control: BTreeMap<String, u64>,
    worst: Vec<(u32, Value)>,
    seen: HashSet<String>,
    /// Notifications the store did not keep as items: the period was full.
    dropped: u64,
}

/// The fields of a notification a digest reads.
const ITEM_FIELDS: [&str; 11] = [
    "kind", "outcome", "severity", "account", "region", "resource", "control", "rule", "action",
    "job", "reason",
];

/// What makes a repeat: the same rule, account, resource and what
/// happened. A hash, so the key is short whatever the fields hold.
pub fn item_key(message: &Value) -> String {
    let key = format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}",
        text(message, "rule").unwrap_or_default(),
        text(message, "account").unwrap_or_default(),
        text(message, "resource").unwrap_or_default(),
        what(message),
    );
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The part of a notification a digest keeps: its fields, each clipped.
pub fn item(message: &Value) -> Value {
    let mut item = serde_json::Map::new();
    for key in ITEM_FIELDS {
        if let Some(v) = text(message, key) {
            item.insert(key.into(), json!(clip(&v, ITEM_FIELD_MAX)));
        }
    }
    Value::Object(item)
}

/// What a notification is about: its kind (a refusal, a dead job, a
/// tripped breaker) or else its outcome.
fn what(message: &Value) -> String {
    text(message, "kind")
        .or_else(|| text(message, "outcome"))
        .unwrap_or_else(|| "notification".into())
}

/// How bad an item is: what happened first (a failure or a stop needs a
/// person more than a fix does), then the finding's severity.
fn badness(message: &Value) -> u32 {
    let severity = match text(message, "severity").as_deref() {
        Some("CRITICAL") => 5,
        Some("HIGH") => 4,
        Some("MEDIUM") => 3,
        Some("LOW") => 2,
        Some("INFORMATIONAL") => 1,
        _ => 0,
    };
    let happened = match what(message).as_str() {
        "failed" | "dead" | "breaker-tripped" | "finding-mismatch" => 6,
        "rule-paused" => 5,
        "unmatched" => 4,
        "awaiting-approval" => 3,
        "skipped" => 2,
        "changed" => 1,
        _ => 0,
    };
    happened * 10 + severity
}

fn tally(counts: &mut BTreeMap<String, u64>, name: Option<String>) {
    let name = name.unwrap_or_else(|| "(none)".into());
    let key = if counts.contains_key(&name) || counts.len() < TALLY_NAMES_MAX {
        clip(&name, ITEM_FIELD_MAX)
    } else {
        OTHER.to_string()
    };
    *counts.entry(key).or_default() += 1;
}

impl Digest {
    /// Counts `message` in, or as a repeat when its item is in already.
    pub fn add(&mut self, message: &Value) {
        let key = item_key(message);
        if self.seen.contains(&key) {
            self.received += 1;
            return;
        }
        if self.seen.len() < SEEN_MAX {
            self.seen.insert(key);
        }
        self.add_item(message, 1);
    }

    /// Counts in an item the store held, received `received` times (its
    /// repeats already folded by its key).
    pub fn add_item(&mut self, message: &Value, received: u64) {
        self.received += received.max(1);
        self.distinct += 1;
        let what = what(message);
        tally(&mut self.by_outcome, Some(what.clone()));
        tally(&mut self.by_account, text(message, "account"));
        tally(&mut self.by_control, text(message, "control"));
        let rank = badness(message);
        let full = self.worst.len() >= WORST_MAX;
        if full && self.worst.last().is_some_and(|(r, _)| *r >= rank) {
            return;
        }
        let mut item = serde_json::Map::new();
        item.insert("what".into(), json!(what));
        for key in [
            "severity", "outcome", "account", "region", "resource", "control", "rule", "action",
            "job", "reason",
        ] {
            if let Some(v) = text(message, key) {
                item.insert(key.into(), json!(clip(&v, ITEM_FIELD_MAX)));
            }
        }
        // Worst first; among equals, the earliest stays ahead.
        let at = self.worst.partition_point(|(r, _)| *r >= rank);
        self.worst.insert(at, (rank, Value::Object(item)));
        self.worst.truncate(WORST_MAX);
    }

    /// Counts in `n` notifications the store dropped because the period
    /// held its cap of items already: they are told as "and N more".
    pub fn add_dropped(&mut self, n: u64) {
        self.dropped = self.dropped.saturating_add(n);
        self.received = self.received.saturating_add(n);
    }

    /// Whether nothing was counted in.
    pub fn is_empty(&self) -> bool {
        self.distinct == 0 && self.dropped == 0
    }

    /// The digest's message for `channel`, whose period is `period`.
    pub fn summary(self, channel: &str, period: Duration) -> Notification {
        let minutes = period.as_secs().div_ceil(60).max(1);
        let counts: Vec<String> = self
            .by_outcome
            .iter()
            .map(|(what, n)| format!("{n} {what}"))
            .collect();
        let folded = self.received - self.distinct - self.dropped;
        let mut reason = format!(
            "{} across {} account(s) and {} control(s); {} notification(s) received, {folded} repeat(s) folded",
            counts.join(", "),
            self.by_account.len(),
            self.by_control.len(),
            self.received,
        );
        let mut more = String::new();
        if self.dropped > 0 {
            more = format!(" and {} more", self.dropped);
            reason.push_str(&format!(
                "; and {} more not itemised: the period was full",
                self.dropped
            ));
        }
        let worst: Vec<Value> = self.worst.into_iter().map(|(_, v)| v).collect();
        Notification {
            subject: format!(
                "rectify digest: {} item(s){more} in the last {minutes} min ({})",
                self.distinct,
                counts.join(", ")
            ),
            message: json!({
                "kind": "digest",
                "channel": channel,
                "period_seconds": period.as_secs(),
                "count": self.distinct,
                "received": self.received,
                "dropped": self.dropped,
                "by_outcome": self.by_outcome,
                "by_account": self.by_account,
                "by_control": self.by_control,
                "worst": worst,
                "reason": reason,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_items_are_kept_worst_first() {
        let mut d = Digest::default();
        for i in 0..30 {
            d.add(&json!({"outcome": "changed", "resource": format!("r{i}"), "severity": "LOW"}));
        }
        d.add(&json!({"outcome": "failed", "resource": "bad", "severity": "LOW"}));
        d.add(&json!({"outcome": "changed", "resource": "crit", "severity": "CRITICAL"}));
        assert_eq!(d.worst.len(), WORST_MAX);
        assert_eq!(d.worst[0].1["resource"], "bad");
        assert_eq!(d.worst[1].1["resource"], "crit");
        assert_eq!(d.worst[2].1["resource"], "r0");
    }

    #[test]
    fn tallies_are_bounded_and_repeats_folded() {
        let mut d = Digest::default();
        for i in 0..200 {
            d.add(&json!({"outcome": "changed", "account": format!("{i:012}"), "resource": "r"}));
            d.add(&json!({"outcome": "changed", "account": format!("{i:012}"), "resource": "r"}));
        }
        assert_eq!(d.received, 400);
        assert_eq!(d.distinct, 200);
        assert_eq!(d.by_account.len(), TALLY_NAMES_MAX + 1);
        assert_eq!(d.by_account[OTHER], 150);
    }
}
