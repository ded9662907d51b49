//! `Event`: one EventBridge-shaped event after ingest.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// The typed finding, parsed once on first use.
    #[serde(skip)]
    pub parsed: FindingCache,
}

/// Lazily parsed ASFF finding of an event. A clone starts empty (the
/// clone's body may be changed, as fan-out does) and two caches always
/// compare equal: it is derived data.
#[derive(Default)]
pub struct FindingCache(std::sync::OnceLock<Option<crate::Finding>>);

impl Clone for FindingCache {
    fn clone(&self) -> Self {
        FindingCache::default()
    }
}

impl PartialEq for FindingCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for FindingCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FindingCache")
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

    /// The typed finding, if this event carries one that parses as ASFF.
    /// Parsed once per event, however often it is asked for.
    pub fn finding(&self) -> Option<&crate::Finding> {
        self.parsed
            .0
            .get_or_init(|| {
                self.finding_value()
                    .and_then(|v| crate::Finding::deserialize(v).ok())
            })
            .as_ref()
    }
}
