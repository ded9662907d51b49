use std::sync::Arc;

use rectify_aws::SesMailer;
use rectify_model::{ErrorClass, Mailer};
use serde_json::Value;

use crate::support::{harness, http_get, settings, test_sdk_config, unique};

/// The messages moto's SES kept (every account), as its model data shows
/// them: source, subject, body, destinations.
fn sent() -> Vec<Value> {
    let data: Value = serde_json::from_str(&http_get(&format!(
        "{}/moto-api/data.json",
        harness().moto_url
    )))
    .unwrap();
    data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn mail_sent_through_ses_is_what_ses_kept() {
    harness();
    let ses = aws_sdk_sesv2::Client::new(&test_sdk_config().await);
    let from = format!("{}@example.com", unique("rectify"));
    ses.create_email_identity()
        .email_identity(&from)
        .send()
        .await
        .unwrap();

    let mailer = SesMailer::new(Arc::new(rectify_aws::Aws::new(settings(vec![])).await));
    let subject = format!("rectify: changed S3.8 on 111122223333 ({})", unique("m"));
    let to = vec![
        "payments-team@example.com".to_string(),
        "secops@example.com".to_string(),
    ];
    mailer
        .send_mail(
            "us-east-1",
            &from,
            &to,
            &subject,
            "Outcome:       changed\nJob: job-1\n",
        )
        .await
        .unwrap();

    let kept: Vec<Value> = sent()
        .into_iter()
        .filter(|m| m["subject"] == Value::String(subject.clone()))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["source"], Value::String(from));
    assert_eq!(kept[0]["body"], "Outcome:       changed\nJob: job-1\n");
    assert_eq!(
        kept[0]["destinations"]["ToAddresses"],
        serde_json::json!(["payments-team@example.com", "secops@example.com"])
    );
}

#[tokio::test]
async fn an_unverified_sender_is_refused() {
    harness();
    let mailer = SesMailer::new(Arc::new(rectify_aws::Aws::new(settings(vec![])).await));
    let subject = unique("never-sent");
    let err = mailer
        .send_mail(
            "us-east-1",
            &format!("{}@example.com", unique("nobody")),
            &["a@example.com".to_string()],
            &subject,
            "x",
        )
        .await
        .unwrap_err();
    assert!(
        err.message.starts_with("ses:SendEmail: "),
        "{}",
        err.message
    );
    assert_ne!(err.class, ErrorClass::Transient, "{}", err.message);
    assert!(sent()
        .iter()
        .all(|m| m["subject"] != Value::String(subject.clone())));
}
