//! Chat messages: Slack Block Kit and a Microsoft Teams Adaptive Card, built
//! from a notification's subject and fields, within each format's limits.

use rectify_model::Notification;
use serde_json::{json, Value};

/// Slack's limits (Block Kit reference): header text, section text, one
/// section field, fields per section.
pub const SLACK_HEADER_MAX: usize = 150;
pub const SLACK_SECTION_MAX: usize = 3000;
pub const SLACK_FIELD_MAX: usize = 2000;
pub const SLACK_FIELDS_MAX: usize = 10;

/// The fields shown as a grid, in this order.
const FIELDS: &[(&str, &str)] = &[
    ("account", "Account"),
    ("region", "Region"),
    ("resource", "Resource"),
    ("control", "Control"),
    ("outcome", "Outcome"),
    ("rule", "Rule"),
];

/// At most `max` characters, an ellipsis marking a cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A field as text; `None` when absent, null or empty.
pub(crate) fn text(message: &Value, key: &str) -> Option<String> {
    match message.get(key)? {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The account with its name when the config gives one.
fn account(message: &Value) -> Option<String> {
    let id = text(message, "account")?;
    Some(match text(message, "account_name") {
        Some(name) => format!("{id} ({name})"),
        None => id,
    })
}

fn fields(message: &Value) -> Vec<(&'static str, String)> {
    FIELDS
        .iter()
        .filter_map(|(key, label)| {
            let value = if *key == "account" {
                account(message)
            } else {
                text(message, key)
            };
            value.map(|v| (*label, v))
        })
        .collect()
}

/// Slack mrkdwn treats `&`, `<` and `>` as control characters.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An incoming-webhook payload: `text` (what a push notification shows)
/// and blocks: a header, the fields, the reason, and a context line.
pub fn slack(notification: &Notification) -> Value {
    let m = &notification.message;
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": clip(&notification.subject, SLACK_HEADER_MAX)},
    })];
    let grid: Vec<Value> = fields(m)
        .into_iter()
        .take(SLACK_FIELDS_MAX)
        .map(|(label, value)| {
            let shown = format!("*{label}*\n{}", slack_escape(&value));
            json!({"type": "mrkdwn", "text": clip(&shown, SLACK_FIELD_MAX)})
        })
        .collect();
    if !grid.is_empty() {
        blocks.push(json!({"type": "section", "fields": grid}));
    }
    if let Some(reason) = text(m, "reason") {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip(&slack_escape(&reason), SLACK_SECTION_MAX)},
        }));
    }
    let context: Vec<String> = [("action", "action"), ("job", "job"), ("mode", "mode")]
        .iter()
        .filter_map(|(key, label)| text(m, key).map(|v| format!("{label} `{}`", slack_escape(&v))))
        .collect();
    if !context.is_empty() {
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": clip(&context.join(" · "), SLACK_SECTION_MAX)}],
        }));
    }
    json!({
        "text": clip(&notification.subject, SLACK_SECTION_MAX),
        "blocks": blocks,
    })
}

/// A Teams incoming-webhook payload: a `message` whose one attachment is
/// an Adaptive Card (title, a fact set, the reason, the job).
pub fn teams(notification: &Notification) -> Value {
    let m = &notification.message;
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": notification.subject,
        "weight": "Bolder",
        "size": "Medium",
        "wrap": true,
    })];
    let facts: Vec<Value> = fields(m)
        .into_iter()
        .map(|(label, value)| json!({"title": label, "value": value}))
        .collect();
    if !facts.is_empty() {
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    if let Some(reason) = text(m, "reason") {
        body.push(json!({"type": "TextBlock", "text": reason, "wrap": true}));
    }
    if let Some(job) = text(m, "job") {
        body.push(json!({
            "type": "TextBlock",
            "text": format!("job {job}"),
            "isSubtle": true,
            "size": "Small",
            "wrap": true,
        }));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_counts_characters() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
        assert_eq!(clip(&"é".repeat(10), 4).chars().count(), 4);
    }

    #[test]
    fn slack_escapes_control_characters() {
        let n = Notification {
            subject: "s".into(),
            message: json!({"reason": "a <b> & c"}),
        };
        assert_eq!(
            slack(&n)["blocks"][1]["text"]["text"],
            "a &lt;b&gt; &amp; c"
        );
    }
}
