//! The plain-text rendering of a notification (email bodies).

use rectify_model::Notification;
use serde_json::Value;

/// The fields a person reads first, in this order.
const FIELDS: &[(&str, &str)] = &[
    ("outcome", "Outcome"),
    ("kind", "Kind"),
    ("account", "Account"),
    ("account_name", "Account name"),
    ("owner", "Owner"),
    ("region", "Region"),
    ("resource", "Resource"),
    ("resource_type", "Resource type"),
    ("control", "Control"),
    ("rule", "Rule"),
    ("action", "Action"),
    ("mode", "Mode"),
    ("reason", "Reason"),
    ("job", "Job"),
    ("finding", "Finding"),
];

/// The subject, the main fields one per line, the change, then the whole
/// message as JSON for tools that read mail.
pub fn plain(notification: &Notification) -> String {
    let mut out = format!("{}\n\n", notification.subject.trim());
    for (key, label) in FIELDS {
        let value = match notification.message.get(*key) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) if s.is_empty() => continue,
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        out.push_str(&format!("{:<14} {value}\n", format!("{label}:")));
    }
    if let Some(change) = notification.message.get("change").filter(|c| !c.is_null()) {
        let change = serde_json::to_string_pretty(change).unwrap_or_default();
        out.push_str(&format!("\nChange:\n{change}\n"));
    }
    let full = serde_json::to_string_pretty(&notification.message).unwrap_or_default();
    out.push_str(&format!("\nFull message (JSON):\n{full}\n"));
    out
}
