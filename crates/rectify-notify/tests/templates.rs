//! A channel's own templates, end to end: the config is loaded with the
//! template checker (a file and an inline template), the notifier renders
//! with them, and what arrives is read back: the mail by a real SMTP
//! server (aiosmtpd) on loopback, the webhook body by a receiver on
//! loopback. A broken template is a load error, with its position.

mod receiver;
mod smtp_sink;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use receiver::{Receiver, Reply};
use rectify_config::{Config, Diagnostic, Loader};
use rectify_model::{ActionError, Notification, Notifier};
use rectify_notify::template::Checker;
use rectify_notify::ChannelNotifier;
use serde_json::{json, Value};
use smtp_sink::{parse, SmtpSink, PASSWORD, USER};

const HOOK_SECRET: &str = "whsec-templates-0123456789";

struct NoSns;

#[async_trait]
impl Notifier for NoSns {
    async fn publish(&self, _: &str, _: &Notification) -> Result<(), ActionError> {
        panic!("no SNS channel is configured")
    }
}

fn env(name: &str) -> Option<String> {
    match name {
        "SMTP_USER" => Some(USER.into()),
        "SMTP_PASSWORD" => Some(PASSWORD.into()),
        "HOOK_SECRET" => Some(HOOK_SECRET.into()),
        _ => None,
    }
}

fn load(dir: &Path, yaml: &str) -> Result<Config, Vec<Diagnostic>> {
    Loader::new()
        .env(&env)
        .templates(&Checker)
        .load_str(yaml, &dir.join("rectify.yaml"))
}

/// A finding whose fields try to break each format.
fn hostile() -> Notification {
    Notification {
        subject: "rectify: failed S3.8 on 111122223333".into(),
        message: json!({
            "account": "111122223333", "region": "eu-west-1",
            "resource": "arn:aws:s3:::x\"}, \"injected\": true, {\"a\": \"<!channel>",
            "control": "S3.8", "outcome": "failed", "rule": "s3-block-public-access",
            "job": "job-7", "severity": "HIGH", "owner": "payments-team@example.com",
            "reason": "access denied\r\nBcc: someone@example.com",
        }),
    }
}

#[tokio::test]
async fn own_templates_shape_the_mail_and_the_webhook_body() {
    let sink = SmtpSink::start();
    let rx = Receiver::start(vec![Reply::status(200)]).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mail.txt.j2"),
        "Hello {{ owner }},\n\n{{ control }} on {{ resource }}: {{ outcome | upper }}.\nWhy: {{ reason }}\n",
    )
    .unwrap();
    let yaml = format!(
        r#"notifications:
  mail:
    smtp:
      host: 127.0.0.1
      port: {port}
      username_env: SMTP_USER
      password_env: SMTP_PASSWORD
      ca_file: {cert}
      from: rectify@example.com
      to: [secops@example.com]
    template:
      subject: "[{{{{ severity }}}}] {{{{ control }}}} {{{{ outcome }}}}: {{{{ reason }}}}"
      body_file: mail.txt.j2
  hook:
    webhook:
      url: {url}
      secret_env: HOOK_SECRET
    template:
      body: '{{"text": {{{{ control ~ " " ~ outcome }}}}, "where": {{{{ resource }}}}, "sev": {{{{ severity | lower }}}}, "none": {{{{ nothing }}}}}}'
"#,
        port = sink.port,
        cert = sink.cert.display(),
        url = rx.url,
    );
    let config = load(dir.path(), &yaml).unwrap();
    let notifier = ChannelNotifier::new(config.notifications.clone(), Arc::new(NoSns))
        .with_templates(&config.notify_templates)
        .unwrap();
    notifier.publish("mail", &hostile()).await.unwrap();
    notifier.publish("hook", &hostile()).await.unwrap();

    let mail = sink.received();
    assert_eq!(mail.len(), 1);
    let (headers, body) = parse(mail[0]["data"].as_str().unwrap());
    // The line break in the reason does not start a header.
    assert_eq!(
        headers["subject"],
        "[HIGH] S3.8 failed: access denied Bcc: someone@example.com"
    );
    assert!(!headers.contains_key("bcc"), "{headers:?}");
    assert_eq!(mail[0]["rcpt_tos"], json!(["secops@example.com"]));
    let body = body.replace("=\r\n", "").replace("\r\n", "\n");
    assert!(
        body.starts_with("Hello payments-team@example.com,\n\nS3.8 on arn:aws:s3:::x"),
        "{body}"
    );
    assert!(body.contains(": FAILED.\nWhy: access denied"), "{body}");

    let got = rx.received();
    assert_eq!(got.len(), 1);
    let hook: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        hook,
        json!({
            "text": "S3.8 failed",
            "where": hostile().message["resource"],
            "sev": "high",
            "none": null,
        }),
        "the hostile resource stays one string"
    );
    // Still signed over the rendered body.
    assert!(rectify_notify::sign::verify(
        HOOK_SECRET.as_bytes(),
        &got[0].headers["x-rectify-timestamp"],
        &got[0].headers["x-rectify-signature"],
        &got[0].body,
        got[0].headers["x-rectify-timestamp"].parse().unwrap(),
    ));
}

#[tokio::test]
async fn slack_strings_are_escaped_for_mrkdwn_in_an_own_template() {
    let rx = Receiver::start(vec![Reply::status(200)]).await;
    let yaml = r#"notifications:
  chat:
    slack:
      webhook_url_env: SLACK_URL
    template:
      body: '{"text": {{ "*" ~ control ~ "* " ~ resource }}}'
"#;
    let url = rx.url.clone();
    let lookup = move |name: &str| (name == "SLACK_URL").then(|| url.clone());
    let config = Loader::new()
        .env(&lookup)
        .templates(&Checker)
        .load_str(yaml, Path::new("rectify.yaml"))
        .unwrap();
    let notifier = ChannelNotifier::new(config.notifications.clone(), Arc::new(NoSns))
        .with_templates(&config.notify_templates)
        .unwrap();
    notifier.publish("chat", &hostile()).await.unwrap();
    let got = rx.received();
    assert_eq!(got.len(), 1);
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        body["text"],
        "*S3.8* arn:aws:s3:::x\"}, \"injected\": true, {\"a\": \"&lt;!channel&gt;"
    );
}

fn diagnostics(yaml: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), yaml)
        .expect_err("the config should not load")
        .iter()
        .map(|d| d.to_string())
        .collect()
}

#[test]
fn a_broken_template_is_a_load_error_with_its_position() {
    let head = "notifications:\n  hook:\n    webhook: {url: 'https://hooks.example.com/r', secret_env: HOOK_SECRET}\n    template:\n";
    let got = diagnostics(&format!("{head}      body: '{{{{ subject '\n"));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("rectify.yaml:5:")
            && got[0].contains("notifications.hook.template.body")
            && got[0].contains("does not compile"),
        "{got:?}"
    );
    let got = diagnostics(&format!("{head}      body: '{{{{ subject | shout }}}}'\n"));
    assert!(got[0].contains("unknown filter"), "{got:?}");
    // Not JSON for a JSON channel.
    let got = diagnostics(&format!("{head}      body: 'subject={{{{ subject }}}}'\n"));
    assert!(got[0].contains("not JSON"), "{got:?}");
    // Chat and webhook channels have no subject.
    let got = diagnostics(&format!("{head}      subject: 'x'\n"));
    assert!(got[0].contains("has no subject"), "{got:?}");
    let got = diagnostics(&format!("{head}      body_file: missing.j2\n"));
    assert!(got[0].contains("cannot read template file"), "{got:?}");
    let got = diagnostics(&format!("{head}      colour: red\n"));
    assert!(got[0].contains("colour"), "{got:?}");
}

#[test]
fn a_ticket_template_is_checked_at_load_and_kept_per_system() {
    let head = "tickets:\n  systems:\n    snow:\n      servicenow: {url: 'https://acme.service-now.com', user: rectify, password_env: HOOK_SECRET}\n      template:\n";
    let got = diagnostics(&format!("{head}        summary: '{{{{ control '\n"));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("rectify.yaml:6:")
            && got[0].contains("tickets.systems.snow.template.summary")
            && got[0].contains("does not compile"),
        "{got:?}"
    );
    let got = diagnostics(&format!("{head}        note: '{{{{ reason | shout }}}}'\n"));
    assert!(got[0].contains("unknown filter"), "{got:?}");
    let got = diagnostics(&format!("{head}        body: 'x'\n"));
    assert!(got[0].contains("body"), "{got:?}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("incident.j2"),
        "{{ finding_id }} in {{ account }} ({{ system }})",
    )
    .unwrap();
    let config = load(
        dir.path(),
        &format!("{head}        summary: '{{{{ control }}}} {{{{ resource }}}}'\n        description_file: incident.j2\n"),
    )
    .unwrap_or_else(|d| panic!("{d:?}"));
    let template = &config.tickets.systems["snow"].template;
    assert_eq!(
        template.summary.as_deref(),
        Some("{{ control }} {{ resource }}")
    );
    assert_eq!(
        template.description.as_deref(),
        Some("{{ finding_id }} in {{ account }} ({{ system }})")
    );
    assert_eq!(template.note, None);
}
