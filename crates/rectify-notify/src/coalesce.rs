//! Coalescing: a storm of findings is not a storm of messages. On a channel
//! with a window, the first message for a rule and outcome goes out at
//! once; the ones that follow within the window are held and counted, and
//! one summary (how many, which accounts and resources) is sent when the
//! window ends.
//!
//! The engine keeps the windows in the store (so a restart does not forget
//! one and replicas share them) and composes the summary here.

use std::time::Duration;

use rectify_model::Notification;
use serde_json::{json, Value};

/// Resources named in a summary at most; the count covers them all.
pub const SUMMARY_RESOURCES_MAX: usize = 20;

fn field(message: &Value, key: &str) -> String {
    match message.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// What a window is for, besides its channel: the rule, and what
/// happened (a refusal's kind comes first, else the outcome).
pub fn window_key(message: &Value) -> (String, String) {
    let what = match field(message, "kind") {
        k if !k.is_empty() => k,
        _ => field(message, "outcome"),
    };
    (field(message, "rule"), what)
}

/// The account and resource a held message is about.
pub fn about(message: &Value) -> (String, String) {
    (field(message, "account"), field(message, "resource"))
}

/// The summary of a window that held `held` messages after its first.
pub fn summary(
    rule: &str,
    what: &str,
    held: u64,
    accounts: &[String],
    resources: &[String],
    window: Duration,
) -> Notification {
    let resources = &resources[..resources.len().min(SUMMARY_RESOURCES_MAX)];
    Notification {
        subject: format!(
            "rectify: {held} more {what} by rule {rule} in the last {} s",
            window.as_secs()
        ),
        message: json!({
            "kind": "coalesced",
            "rule": rule,
            "outcome": what,
            "count": held,
            "accounts": accounts,
            "resources": resources,
            "resources_omitted": held.saturating_sub(resources.len() as u64),
            "window_seconds": window.as_secs(),
            "reason": format!(
                "{held} more notifications like the one before were held to avoid a flood; the jobs and the audit log have each one"
            ),
        }),
    }
}
