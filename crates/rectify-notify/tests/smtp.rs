//! Email against a real SMTP server (aiosmtpd, tests/standins/smtp_sink.py)
//! on loopback, started and stopped by the test: STARTTLS with the
//! server's own certificate trusted through `ca_file`, AUTH, then the
//! message's headers and body as the server received them.

mod smtp_sink;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rectify_config::{Channel, Secret, Smtp};
use rectify_model::{ActionError, ErrorClass, Notification, Notifier};
use rectify_notify::{ChannelNotifier, Retry};
use serde_json::json;
use smtp_sink::{parse, SmtpSink, PASSWORD, USER};

struct NoSns;

#[async_trait]
impl Notifier for NoSns {
    async fn publish(&self, _: &str, _: &Notification) -> Result<(), ActionError> {
        panic!("no SNS channel is configured")
    }
}

fn relay(sink: &SmtpSink, password: &str) -> Smtp {
    Smtp {
        host: "127.0.0.1".into(),
        port: sink.port,
        starttls: true,
        username: Some(USER.into()),
        password: Some(Secret(password.as_bytes().to_vec())),
        ca_file: Some(sink.cert.clone()),
        from: "rectify <rectify@example.com>".into(),
        // The owner (payments-team@) is added by `to_owner`.
        to: vec!["secops@example.com".into()],
        to_owner: true,
    }
}

fn notifier(smtp: Smtp) -> ChannelNotifier {
    let retry = Retry {
        attempts: 2,
        first_backoff: Duration::from_millis(50),
        budget: Duration::from_secs(5),
        request_timeout: Duration::from_secs(3),
    };
    ChannelNotifier::with_retry(
        BTreeMap::from([("mail".to_string(), Channel::Smtp(smtp))]),
        Arc::new(NoSns),
        retry,
    )
}

fn notification() -> Notification {
    Notification {
        subject: "rectify: changed S3.8 on 111122223333".into(),
        message: json!({
            "account": "111122223333", "region": "eu-west-1",
            "resource": "arn:aws:s3:::payments-exports", "control": "S3.8",
            "outcome": "changed", "rule": "s3-block-public-access", "job": "job-9",
            "owner": "payments-team@example.com",
            "reason": "public access blocked — read back",
        }),
    }
}

#[tokio::test]
async fn mail_over_starttls_with_login_reaches_the_server() {
    let sink = SmtpSink::start();
    notifier(relay(&sink, PASSWORD))
        .publish("mail", &notification())
        .await
        .unwrap();
    let got = sink.received();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m["login"], USER, "AUTH after STARTTLS");
    assert_eq!(m["mail_from"], "rectify@example.com");
    assert_eq!(
        m["rcpt_tos"],
        json!(["secops@example.com", "payments-team@example.com"])
    );
    let (headers, body) = parse(m["data"].as_str().unwrap());
    assert_eq!(headers["from"], "rectify <rectify@example.com>");
    assert_eq!(
        headers["to"],
        "secops@example.com, payments-team@example.com"
    );
    assert_eq!(headers["subject"], "rectify: changed S3.8 on 111122223333");
    assert!(headers["content-type"].starts_with("text/plain; charset=utf-8"));
    assert!(headers.contains_key("date") && headers.contains_key("message-id"));
    // The body may be quoted-printable (the reason has a non-ASCII dash).
    let text = body.replace("=\r\n", "");
    assert!(text.contains("Outcome:       changed"), "{text}");
    assert!(
        text.contains("Resource:      arn:aws:s3:::payments-exports"),
        "{text}"
    );
    assert!(text.contains("Job:           job-9"), "{text}");
}

#[tokio::test]
async fn a_refused_login_is_not_retried_and_sends_nothing() {
    let sink = SmtpSink::start();
    let err = notifier(relay(&sink, "wrong-password-000"))
        .publish("mail", &notification())
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::AccessDenied, "{}", err.message);
    assert!(!err.message.contains("wrong-password"), "{}", err.message);
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn a_server_it_cannot_trust_gets_nothing() {
    let sink = SmtpSink::start();
    let mut untrusted = relay(&sink, PASSWORD);
    untrusted.ca_file = None;
    let err = notifier(untrusted)
        .publish("mail", &notification())
        .await
        .unwrap_err();
    assert!(err.message.starts_with("smtp: "), "{}", err.message);
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn the_server_process_is_gone_after_the_test() {
    let sink = SmtpSink::start();
    let pid = sink.child.id();
    drop(sink);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the SMTP server {pid} outlived its test"
    );
}
