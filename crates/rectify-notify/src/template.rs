//! Message templates (minijinja): built-in ones for each channel kind,
//! shipped in the binary, and a channel's own from the config.
//!
//! Outside data cannot break a message's format: in the JSON templates
//! (webhook, Slack, Teams) every `{{ value }}` prints as a JSON value, so a
//! quote or a brace in a resource name stays inside its string; on Slack
//! strings are also mrkdwn-escaped (`&`, `<`, `>`), so a finding cannot
//! inject a link or a mention. The output of a JSON template must parse as
//! JSON, or the message is not sent. Email subjects become one line.

use std::collections::BTreeMap;

use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, Output, State, UndefinedBehavior};
use rectify_config::{Channel, ChannelTemplate};
use rectify_model::{ActionError, Notification};
use serde_json::json;

use crate::chat;

/// What a channel's messages look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A subject and plain text: SMTP, SES, and the email text of SNS.
    Email,
    Slack,
    Teams,
    Webhook,
}

impl Kind {
    pub fn of(channel: &Channel) -> Kind {
        match channel {
            Channel::Sns { .. } | Channel::Smtp(_) | Channel::Ses { .. } => Kind::Email,
            Channel::Slack { .. } => Kind::Slack,
            Channel::Teams { .. } => Kind::Teams,
            Channel::Webhook(_) => Kind::Webhook,
        }
    }

    /// The kind of a channel named by its config key (`smtp`, `slack`...).
    pub fn from_config_key(key: &str) -> Option<Kind> {
        Some(match key {
            "sns" | "smtp" | "ses" => Kind::Email,
            "slack" => Kind::Slack,
            "teams" => Kind::Teams,
            "webhook" => Kind::Webhook,
            _ => return None,
        })
    }

    fn body_name(self) -> &'static str {
        match self {
            Kind::Email => "email_body",
            Kind::Slack => "slack.json",
            Kind::Teams => "teams.json",
            Kind::Webhook => "webhook.json",
        }
    }

    fn built_in_body(self) -> &'static str {
        match self {
            Kind::Email => include_str!("../templates/email_body.j2"),
            Kind::Slack => include_str!("../templates/slack.json.j2"),
            Kind::Teams => include_str!("../templates/teams.json.j2"),
            Kind::Webhook => include_str!("../templates/webhook.json.j2"),
        }
    }
}

const SUBJECT: &str = "email_subject";
const BUILT_IN_SUBJECT: &str = include_str!("../templates/email_subject.j2");
/// Work one render may do (minijinja fuel): a loop over outside data
/// cannot run away.
const FUEL: u64 = 200_000;
/// Largest rendered body sent; more is an error, not a cut (a cut would
/// break JSON).
pub const MAX_RENDERED_BYTES: usize = 256 * 1024;

/// A rendered message.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// One line; empty for kinds without a subject.
    pub subject: String,
    pub body: String,
}

/// The templates of one channel, compiled.
pub struct Templates {
    kind: Kind,
    env: Environment<'static>,
}

/// Slack mrkdwn treats `&`, `<` and `>` as control characters.
fn mrkdwn_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Prints values by the template's escaping: JSON values for `json`,
/// mrkdwn-escaped JSON values for `slack`, plain text otherwise. Strings
/// marked safe (blocks built in code) go out as they are.
fn formatter(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    let slack = match state.auto_escape() {
        AutoEscape::Custom(name) if name == "slack" => true,
        AutoEscape::Json => false,
        _ => return minijinja::escape_formatter(out, state, value),
    };
    if value.is_safe() {
        return out
            .write_str(value.as_str().unwrap_or_default())
            .map_err(Error::from);
    }
    let json = match value.as_str() {
        Some(s) if slack => serde_json::to_string(&mrkdwn_escape(s)),
        _ if value.is_undefined() => Ok("null".to_string()),
        _ => serde_json::to_string(value),
    }
    .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))?;
    out.write_str(&json).map_err(Error::from)
}

fn escape_for(name: &str) -> AutoEscape {
    match name {
        "slack.json" => AutoEscape::Custom("slack".into()),
        n if n.ends_with(".json") => AutoEscape::Json,
        _ => AutoEscape::None,
    }
}

/// `value | clip(n)`: at most `n` characters, an ellipsis marking a cut.
fn clip(value: String, max: usize) -> String {
    chat::clip(&value, max)
}

/// `value | pad(n)`: left-aligned in `n` columns.
fn pad(value: String, width: usize) -> String {
    format!("{value:<width$}")
}

/// `value | pretty_json`: indented JSON, for reading.
fn pretty_json(value: Value) -> Result<String, Error> {
    serde_json::to_string_pretty(&value)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(FUEL));
    env.set_auto_escape_callback(escape_for);
    env.set_formatter(formatter);
    env.add_filter("clip", clip);
    env.add_filter("pad", pad);
    env.add_filter("pretty_json", pretty_json);
    env
}

fn describe(e: &Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// A notification built to exercise a template at load: every field set,
/// with the characters that break formats, and a digest's fields.
fn sample() -> Notification {
    let hostile = "x\"}]{<a href='y'>&\n\\u0000 @channel <!here> *b* `c`";
    Notification {
        subject: format!("rectify: changed S3.8 on 111122223333 {hostile}"),
        message: json!({
            "account": "111122223333", "account_name": hostile, "owner": "team@example.com",
            "region": "us-east-1", "resource": hostile, "resource_type": "AwsS3Bucket",
            "control": "S3.8", "rule": "s3-block-public", "action": "s3_block_public_access",
            "mode": "enforce", "outcome": "changed", "state": "succeeded", "reason": hostile,
            "job": "job-1", "finding": "arn:finding", "severity": "HIGH",
            "change": {"before": hostile, "after": null},
            "kind": "digest", "count": 3, "by_outcome": {"changed": 2, "failed": 1},
            "by_account": {"111122223333": 3}, "by_control": {"S3.8": 3},
            "worst": [{"severity": "HIGH", "outcome": "failed", "account": "111122223333",
                       "resource": hostile, "control": "S3.8"}],
        }),
    }
}

impl Templates {
    /// The built-in templates of `kind`, with `own` parts in their place.
    pub fn new(kind: Kind, own: &ChannelTemplate) -> Result<Templates, String> {
        let mut env = environment();
        let subject = own
            .subject
            .clone()
            .unwrap_or_else(|| BUILT_IN_SUBJECT.into());
        let body = own
            .body
            .clone()
            .unwrap_or_else(|| kind.built_in_body().into());
        env.add_template_owned(SUBJECT, subject)
            .map_err(|e| format!("subject: {}", describe(&e)))?;
        env.add_template_owned(kind.body_name(), body)
            .map_err(|e| format!("body: {}", describe(&e)))?;
        Ok(Templates { kind, env })
    }

    /// The built-in templates of `kind`.
    pub fn built_in(kind: Kind) -> Templates {
        Templates::new(kind, &ChannelTemplate::default()).expect("the built-in templates compile")
    }

    /// Renders `notification`. Errors name the template part, never the
    /// message's content.
    pub fn render(&self, notification: &Notification) -> Result<Rendered, ActionError> {
        let context = self.context(notification);
        let subject = match self.kind {
            Kind::Email => one_line(&self.render_part(SUBJECT, &context)?),
            _ => String::new(),
        };
        let body = self.render_part(self.kind.body_name(), &context)?;
        if body.len() > MAX_RENDERED_BYTES {
            return Err(ActionError::invalid(format!(
                "template: the body is {} bytes, more than {MAX_RENDERED_BYTES}",
                body.len()
            )));
        }
        if self.kind != Kind::Email {
            serde_json::from_str::<serde_json::Value>(&body).map_err(|e| {
                ActionError::invalid(format!("template: the body is not JSON: {e}"))
            })?;
        }
        Ok(Rendered { subject, body })
    }

    fn render_part(&self, name: &str, context: &Value) -> Result<String, ActionError> {
        let template = self
            .env
            .get_template(name)
            .map_err(|e| ActionError::invalid(format!("template {name}: {}", describe(&e))))?;
        template
            .render(context)
            .map_err(|e| ActionError::invalid(format!("template {name}: {}", describe(&e))))
    }

    /// The message's fields at the top level, plus `subject`, `message`
    /// (all of it) and, for chat kinds, the built-in blocks.
    fn context(&self, notification: &Notification) -> Value {
        let mut map: BTreeMap<String, Value> = BTreeMap::new();
        if let Some(fields) = notification.message.as_object() {
            for (k, v) in fields {
                map.insert(k.clone(), Value::from(Serde(v)));
            }
        }
        map.insert("subject".into(), Value::from(notification.subject.clone()));
        map.insert("message".into(), Value::from(Serde(&notification.message)));
        match self.kind {
            Kind::Slack => {
                let blocks = chat::slack(notification)["blocks"].to_string();
                map.insert("slack_blocks".into(), Value::from_safe_string(blocks));
            }
            Kind::Teams => {
                let card = chat::teams(notification);
                let body = card["attachments"][0]["content"]["body"].to_string();
                map.insert("teams_body".into(), Value::from_safe_string(body));
            }
            Kind::Email | Kind::Webhook => {}
        }
        Value::from(map)
    }
}

/// A subject is one line: line breaks and runs of blanks become one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Compiled templates for every channel: the built-in ones of its kind
/// unless `own` names the channel.
pub fn for_channels(
    channels: &BTreeMap<String, Channel>,
    own: &BTreeMap<String, ChannelTemplate>,
) -> Result<BTreeMap<String, Templates>, String> {
    let none = ChannelTemplate::default();
    channels
        .iter()
        .map(|(name, channel)| {
            let given = own.get(name).unwrap_or(&none);
            Templates::new(Kind::of(channel), given)
                .map(|t| (name.clone(), t))
                .map_err(|e| format!("notifications.{name}.template.{e}"))
        })
        .collect()
}

/// Named plain-text templates over a JSON context (ticket text): the same
/// filters and work limit as the channel templates, no escaping (the
/// ticket systems take text, and their APIs get it as a JSON string).
pub struct TextTemplates {
    env: Environment<'static>,
}

impl TextTemplates {
    /// Compiles `(name, source)` parts; the error names the part.
    pub fn new(parts: &[(&str, &str)]) -> Result<TextTemplates, String> {
        let mut env = environment();
        for (name, source) in parts {
            env.add_template_owned(name.to_string(), source.to_string())
                .map_err(|e| format!("{name}: {}", describe(&e)))?;
        }
        Ok(TextTemplates { env })
    }

    /// Whether a part `name` was given.
    pub fn has(&self, name: &str) -> bool {
        self.env.get_template(name).is_ok()
    }

    /// Renders part `name` over `context`, at most [`MAX_RENDERED_BYTES`].
    /// Errors name the part, never the content.
    pub fn render(&self, name: &str, context: &serde_json::Value) -> Result<String, ActionError> {
        let template = self
            .env
            .get_template(name)
            .map_err(|e| ActionError::invalid(format!("template {name}: {}", describe(&e))))?;
        let text = template
            .render(Value::from(Serde(context)))
            .map_err(|e| ActionError::invalid(format!("template {name}: {}", describe(&e))))?;
        if text.len() > MAX_RENDERED_BYTES {
            return Err(ActionError::invalid(format!(
                "template {name}: {} bytes, more than {MAX_RENDERED_BYTES}",
                text.len()
            )));
        }
        Ok(text)
    }
}

/// What a ticket template sees: the notification's fields at the top
/// level, `subject`, `message` (all of it), and `extra`'s keys (the
/// ticket step's own: `rule`, `job`, `outcome`, `fixed`, `finding_id`,
/// `product_arn`, `hub_region`, `system`) over them.
pub fn ticket_context(notification: &Notification, extra: &serde_json::Value) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    if let Some(fields) = notification.message.as_object() {
        map.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    map.insert("subject".into(), json!(notification.subject));
    map.insert("message".into(), notification.message.clone());
    if let Some(fields) = extra.as_object() {
        map.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    serde_json::Value::Object(map)
}

/// The ticket step fields of the load-time sample.
fn sample_ticket_extra() -> serde_json::Value {
    json!({
        "rule": "s3-block-public", "job": "job-1", "outcome": "changed", "fixed": true,
        "finding_id": "arn:aws:securityhub:us-east-1:111122223333:finding/x\"}<b>",
        "product_arn": "arn:aws:securityhub:us-east-1::product/aws/securityhub",
        "hub_region": "us-east-1", "system": "servicenow",
    })
}

/// The config loader's check: a template compiles and renders a sample
/// notification full of hostile characters into the channel's format.
/// Kind `ticket` checks a ticket system's text template (part `summary`,
/// `description` or `note`) the same way.
pub struct Checker;

impl rectify_config::TemplateChecker for Checker {
    fn check(&self, kind: &str, part: &str, source: &str) -> Result<(), String> {
        if kind == "ticket" {
            let templates = TextTemplates::new(&[(part, source)])
                .map_err(|e| format!("the template does not compile: {e}"))?;
            let context = ticket_context(&sample(), &sample_ticket_extra());
            return templates
                .render(part, &context)
                .map(|_| ())
                .map_err(|e| format!("the template fails on a sample ticket step: {}", e.message));
        }
        let kind = Kind::from_config_key(kind).ok_or_else(|| format!("unknown kind `{kind}`"))?;
        let own = match part {
            "subject" => ChannelTemplate {
                subject: Some(source.into()),
                body: None,
            },
            _ => ChannelTemplate {
                subject: None,
                body: Some(source.into()),
            },
        };
        let templates = Templates::new(kind, &own)
            .map_err(|e| format!("the template does not compile: {e}"))?;
        templates
            .render(&sample())
            .map(|_| ())
            .map_err(|e| format!("the template fails on a sample notification: {}", e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(resource: &str) -> Notification {
        Notification {
            subject: "rectify: changed S3.8 on 111122223333".into(),
            message: json!({
                "account": "111122223333", "region": "us-east-1", "resource": resource,
                "control": "S3.8", "outcome": "changed", "rule": "r1", "reason": "done",
                "job": "j1",
            }),
        }
    }

    #[test]
    fn the_built_in_email_text_matches_the_plain_text() {
        let n = notification("bucket-1");
        let got = Templates::built_in(Kind::Email).render(&n).unwrap();
        assert_eq!(got.subject, n.subject);
        assert_eq!(got.body.trim_end(), n.plain_text().trim_end());
    }

    #[test]
    fn the_built_in_chat_and_webhook_bodies_are_the_coded_ones() {
        let n = notification("bucket-1");
        let slack: serde_json::Value =
            serde_json::from_str(&Templates::built_in(Kind::Slack).render(&n).unwrap().body)
                .unwrap();
        assert_eq!(slack, chat::slack(&n));
        let teams: serde_json::Value =
            serde_json::from_str(&Templates::built_in(Kind::Teams).render(&n).unwrap().body)
                .unwrap();
        assert_eq!(teams, chat::teams(&n));
        let hook: serde_json::Value =
            serde_json::from_str(&Templates::built_in(Kind::Webhook).render(&n).unwrap().body)
                .unwrap();
        assert_eq!(hook, json!({"subject": n.subject, "message": n.message}));
    }

    #[test]
    fn hostile_fields_stay_inside_their_json_strings() {
        let hostile = "a\"}, \"x\": [<http://evil|click> & <!channel>";
        let own = ChannelTemplate {
            subject: None,
            body: Some(r#"{"text": "*{{ resource }}*", "r": {{ resource }}}"#.into()),
        };
        // Quoting a value by hand in a JSON template breaks the output; that
        // is an error, not a broken message.
        let err = Templates::new(Kind::Slack, &own)
            .unwrap()
            .render(&notification(hostile))
            .unwrap_err();
        assert!(err.message.contains("not JSON"), "{}", err.message);
        let own = ChannelTemplate {
            subject: None,
            body: Some(r#"{"text": {{ "*" ~ resource ~ "*" }}, "r": {{ resource }}}"#.into()),
        };
        let body = Templates::new(Kind::Slack, &own)
            .unwrap()
            .render(&notification(hostile))
            .unwrap()
            .body;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["r"],
            "a\"}, \"x\": [&lt;http://evil|click&gt; &amp; &lt;!channel&gt;"
        );
        assert_eq!(v.as_object().unwrap().len(), 2);
        let hook = Templates::new(
            Kind::Webhook,
            &ChannelTemplate {
                subject: None,
                body: Some(r#"{"r": {{ resource }}, "missing": {{ nothing.deeper }}}"#.into()),
            },
        )
        .unwrap()
        .render(&notification(hostile))
        .unwrap()
        .body;
        let v: serde_json::Value = serde_json::from_str(&hook).unwrap();
        assert_eq!(v["r"], hostile);
        assert_eq!(v["missing"], serde_json::Value::Null);
    }

    #[test]
    fn an_email_subject_is_one_line() {
        let own = ChannelTemplate {
            subject: Some("[{{ control }}] {{ resource }}".into()),
            body: None,
        };
        let got = Templates::new(Kind::Email, &own)
            .unwrap()
            .render(&notification("b\r\nBcc: victim@example.com"))
            .unwrap();
        assert_eq!(got.subject, "[S3.8] b Bcc: victim@example.com");
    }

    #[test]
    fn the_checker_reports_syntax_unknown_filters_and_non_json() {
        use rectify_config::TemplateChecker;
        assert!(Checker.check("smtp", "subject", "{{ control }}").is_ok());
        let e = Checker.check("smtp", "body", "{% if %}").unwrap_err();
        assert!(e.contains("does not compile"), "{e}");
        let e = Checker
            .check("slack", "body", "{{ x | nosuch }}")
            .unwrap_err();
        assert!(e.contains("nosuch"), "{e}");
        let e = Checker
            .check("webhook", "body", "subject: {{ subject }}")
            .unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
        let e = Checker
            .check(
                "webhook",
                "body",
                "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            )
            .unwrap_err();
        assert!(e.contains("fuel"), "{e}");
    }
}
