//! `Notifier` through SNS `Publish`.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;
use rectify_model::{ActionError, Notification, Notifier};
use serde_json::Value;

use crate::errors::sdk_error;
use crate::Aws;

/// Longest subject SNS accepts.
pub const SUBJECT_MAX_CHARS: usize = 100;

pub struct SnsNotifier {
    aws: Arc<Aws>,
}

impl SnsNotifier {
    pub fn new(aws: Arc<Aws>) -> Self {
        SnsNotifier { aws }
    }
}

/// Region and account of an SNS topic ARN
/// (`arn:<partition>:sns:<region>:<account>:<name>`).
pub fn topic_region_account(arn: &str) -> Result<(&str, &str), ActionError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "sns", region, account, name]
            if !region.is_empty() && !account.is_empty() && !name.is_empty() =>
        {
            Ok((region, account))
        }
        _ => Err(ActionError::invalid(format!(
            "not an SNS topic ARN: {arn:?}"
        ))),
    }
}

/// A subject SNS accepts: printable ASCII only (anything else becomes `?`,
/// line breaks and tabs a space), at most 100 characters, never empty.
pub fn safe_subject(subject: &str) -> String {
    let mut out: String = subject
        .chars()
        .map(|c| match c {
            ' '..='~' => c,
            c if c.is_whitespace() => ' ',
            _ => '?',
        })
        .collect();
    out = out.trim().to_string();
    if out.len() > SUBJECT_MAX_CHARS {
        out.truncate(SUBJECT_MAX_CHARS - 3);
        out = format!("{}...", out.trim_end());
    }
    if out.is_empty() {
        out = "rectify notification".into();
    }
    out
}

fn attribute(message: &Value, key: &str) -> Option<MessageAttributeValue> {
    let value = match message.get(key)? {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Null | Value::String(_) => return None,
        other => other.to_string(),
    };
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .ok()
}

/// Longest `MessageGroupId` / `MessageDeduplicationId` a FIFO topic accepts.
const FIFO_ID_MAX_CHARS: usize = 128;

/// The `Message` of a `MessageStructure: json` publish: the raw JSON for
/// every protocol (`default`, which SQS, Lambda and HTTP(S) get) and a
/// readable text for `email` subscriptions. `email-json` keeps the default.
pub fn structured_message(notification: &Notification) -> Result<String, ActionError> {
    structured_message_with_text(notification, &notification.plain_text())
}

/// As [`structured_message`], with `text` for `email` subscriptions.
pub fn structured_message_with_text(
    notification: &Notification,
    text: &str,
) -> Result<String, ActionError> {
    let raw = serde_json::to_string(&notification.message)
        .map_err(|e| ActionError::invalid(format!("sns:Publish: message is not JSON: {e}")))?;
    let structure = serde_json::json!({
        "default": raw,
        "email": text,
    });
    Ok(structure.to_string())
}

/// Whether a topic ARN names a FIFO topic (its name ends in `.fifo`).
pub fn is_fifo_topic(arn: &str) -> bool {
    arn.rsplit(':')
        .next()
        .is_some_and(|name| name.ends_with(".fifo"))
}

/// A FIFO id SNS accepts: alphanumerics and ASCII punctuation only (anything
/// else becomes `_`), at most 128 characters.
fn fifo_id(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    if out.len() > FIFO_ID_MAX_CHARS {
        out.truncate(FIFO_ID_MAX_CHARS);
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

fn text_field<'a>(message: &'a Value, key: &str) -> Option<&'a str> {
    message.get(key)?.as_str().filter(|s| !s.is_empty())
}

/// `MessageGroupId` and `MessageDeduplicationId` of a publish to a FIFO
/// topic: one group per account (so one account's notifications stay in
/// order without holding up another's), and a job's outcome sent once
/// within SNS's 5-minute deduplication window even when a settle is retried.
pub fn fifo_ids(notification: &Notification) -> (String, String) {
    let message = &notification.message;
    let group = text_field(message, "account").unwrap_or("rectify");
    // A refusal carries the job's outcome too: its kind tells it apart.
    let what = text_field(message, "kind")
        .or_else(|| text_field(message, "outcome"))
        .unwrap_or("notification");
    let dedup = match text_field(message, "job") {
        Some(job) => format!("{job}:{what}"),
        None => format!("{what}:{}", notification.subject),
    };
    (fifo_id(group), fifo_id(&dedup))
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn publish(
        &self,
        destination: &str,
        notification: &Notification,
    ) -> Result<(), ActionError> {
        let text = notification.plain_text();
        self.publish_rendered(destination, notification, &notification.subject, &text)
            .await
    }

    async fn publish_rendered(
        &self,
        destination: &str,
        notification: &Notification,
        subject: &str,
        text: &str,
    ) -> Result<(), ActionError> {
        let (region, _account) = topic_region_account(destination)?;
        let client = aws_sdk_sns::Client::new(&self.aws.own_config(region));
        let mut request = client
            .publish()
            .topic_arn(destination)
            .subject(safe_subject(subject))
            .message_structure("json")
            .message(structured_message_with_text(notification, text)?);
        for key in ["outcome", "account"] {
            if let Some(value) = attribute(&notification.message, key) {
                request = request.message_attributes(key, value);
            }
        }
        if is_fifo_topic(destination) {
            let (group, dedup) = fifo_ids(notification);
            request = request
                .message_group_id(group)
                .message_deduplication_id(dedup);
        }
        request
            .send()
            .await
            .map_err(|e| sdk_error("sns:Publish", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_arns() {
        assert_eq!(
            topic_region_account("arn:aws:sns:eu-west-1:111122223333:security").unwrap(),
            ("eu-west-1", "111122223333")
        );
        assert!(topic_region_account("arn:aws:sqs:eu-west-1:111122223333:q").is_err());
        assert!(topic_region_account("security").is_err());
        assert!(topic_region_account("arn:aws:sns:eu-west-1:111122223333:").is_err());
    }

    #[test]
    fn subjects() {
        assert_eq!(
            safe_subject("rectify: changed S3.2"),
            "rectify: changed S3.2"
        );
        assert_eq!(safe_subject("bucket café\nfixed"), "bucket caf? fixed");
        assert_eq!(safe_subject(" \n "), "rectify notification");
        let long = safe_subject(&"x".repeat(300));
        assert_eq!(long.len(), 100);
        assert!(long.ends_with("..."));
    }

    fn sample() -> Notification {
        Notification {
            subject: "rectify: changed S3.8 on 111122223333".into(),
            message: serde_json::json!({
                "account": "111122223333",
                "region": "us-east-1",
                "resource": "arn:aws:s3:::payments-exports",
                "control": "S3.8",
                "outcome": "changed",
                "reason": "public access blocked",
                "owner": null,
                "job": "0193a7c4-job",
            }),
        }
    }

    #[test]
    fn structured_messages_keep_the_raw_json_as_default() {
        let n = sample();
        let s: Value = serde_json::from_str(&structured_message(&n).unwrap()).unwrap();
        let default: Value = serde_json::from_str(s["default"].as_str().unwrap()).unwrap();
        assert_eq!(default, n.message);
        let email = s["email"].as_str().unwrap();
        assert!(email.starts_with("rectify: changed S3.8 on 111122223333\n\n"));
        assert!(email.contains("Outcome:       changed\n"), "{email}");
        assert!(email.contains("Resource:      arn:aws:s3:::payments-exports\n"));
        assert!(email.contains("Reason:        public access blocked\n"));
        assert!(
            !email.contains("Owner:"),
            "null fields are left out: {email}"
        );
    }

    #[test]
    fn fifo_topics_and_ids() {
        assert!(is_fifo_topic(
            "arn:aws:sns:us-east-1:111122223333:alerts.fifo"
        ));
        assert!(!is_fifo_topic("arn:aws:sns:us-east-1:111122223333:alerts"));
        let mut n = sample();
        assert_eq!(
            fifo_ids(&n),
            ("111122223333".into(), "0193a7c4-job:changed".into())
        );
        n.message["kind"] = "finding-mismatch".into();
        assert_eq!(fifo_ids(&n).1, "0193a7c4-job:finding-mismatch");
        n.message["job"] = "j b\u{e9}".repeat(100).into();
        let (_, dedup) = fifo_ids(&n);
        assert_eq!(dedup.len(), 128);
        assert!(dedup.chars().all(|c| c.is_ascii_graphic()));
    }
}
