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

#[async_trait]
impl Notifier for SnsNotifier {
    async fn publish(
        &self,
        destination: &str,
        notification: &Notification,
    ) -> Result<(), ActionError> {
        let (region, _account) = topic_region_account(destination)?;
        let client = aws_sdk_sns::Client::new(&self.aws.own_config(region));
        let message = serde_json::to_string(&notification.message)
            .map_err(|e| ActionError::invalid(format!("sns:Publish: message is not JSON: {e}")))?;
        let mut request = client
            .publish()
            .topic_arn(destination)
            .subject(safe_subject(&notification.subject))
            .message(message);
        for key in ["outcome", "account"] {
            if let Some(value) = attribute(&notification.message, key) {
                request = request.message_attributes(key, value);
            }
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
}
