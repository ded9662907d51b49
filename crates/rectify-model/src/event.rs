//! `Event`: one EventBridge-shaped event after ingest.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `source` of the events `rectify scan` makes: Security Hub import
/// events carrying findings rectify found itself (no Security Hub finding
/// stands behind them, so none is updated).
pub const SCANNER_SOURCE: &str = "rectify.scanner";

/// Where an event came from; kept for the audit log and for replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Http,
    File,
    Stdin,
    Sqs,
    Lambda,
    Poll,
    Scanner,
}

impl Origin {
    pub fn as_str(&self) -> &'static str {
        match self {
            Origin::Http => "http",
            Origin::File => "file",
            Origin::Stdin => "stdin",
            Origin::Sqs => "sqs",
            Origin::Lambda => "lambda",
            Origin::Poll => "poll",
            Origin::Scanner => "scanner",
        }
    }
}

/// One event in the EventBridge envelope. A Security Hub import with N
/// findings has already been split into N events, each with exactly one
/// element in `detail.findings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Envelope `id`; for a fanned-out finding, `{id}/{index}`.
    pub id: String,
    pub source: String,
    pub detail_type: String,
    pub account: String,
    pub region: String,
    pub time: String,
    pub resources: Vec<String>,
    /// The whole envelope as received (after fan-out), which is what rule
    /// patterns are matched against.
    pub body: Value,
    /// What is known of `body` without looking again: its typed finding,
    /// and the text it was parsed from.
    #[serde(skip)]
    pub parsed: Derived,
}

/// Data derived from an event's body. A clone starts empty (the clone's
/// body may be changed, as fan-out does) and two always compare equal.
#[derive(Default)]
pub struct Derived {
    /// The typed ASFF finding, parsed on first use.
    finding: std::sync::OnceLock<Option<crate::Finding>>,
    /// The JSON text `body` was parsed from, when it is exactly that
    /// (stored as received instead of serialised again).
    received: Option<std::sync::Arc<str>>,
}

impl Clone for Derived {
    fn clone(&self) -> Self {
        Derived::default()
    }
}

impl PartialEq for Derived {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Derived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Derived")
    }
}

impl Event {
    pub fn detail(&self) -> &Value {
        self.body.get("detail").unwrap_or(&Value::Null)
    }

    /// The single finding of a Security Hub event, if this is one.
    pub fn finding_value(&self) -> Option<&Value> {
        match self.detail().get("findings") {
            Some(Value::Array(items)) if items.len() == 1 => items.first(),
            _ => None,
        }
    }

    /// Records that `body` is exactly the parse of `text` (no envelope added
    /// or removed, nothing split off), so that it can be stored as
    /// received. Whoever changes `body` afterwards must not keep the text:
    /// build a new event, or clone it (a clone forgets the text).
    pub fn keep_received_text(&mut self, text: &str) {
        self.parsed.received = Some(text.into());
    }

    /// The text `body` was parsed from, if [`Event::keep_received_text`]
    /// recorded it.
    pub fn received_text(&self) -> Option<&std::sync::Arc<str>> {
        self.parsed.received.as_ref()
    }

    /// The typed finding, if this event carries one that parses as ASFF.
    /// Parsed once per event, however often it is asked for.
    pub fn finding(&self) -> Option<&crate::Finding> {
        self.parsed
            .finding
            .get_or_init(|| {
                self.finding_value()
                    .and_then(|v| crate::Finding::deserialize(v).ok())
            })
            .as_ref()
    }
}
