//! Email against a real SMTP server (aiosmtpd, tests/standins/smtp_sink.py)
//! on loopback, started and stopped by the test: STARTTLS with the
//! server's own certificate trusted through `ca_file`, AUTH, then the
//! message's headers and body as the server received them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rectify_config::{Channel, Secret, Smtp};
use rectify_model::{ActionError, ErrorClass, Notification, Notifier};
use rectify_notify::{ChannelNotifier, Retry};
use serde_json::{json, Value};

const USER: &str = "rectify-mailer";
const PASSWORD: &str = "smtp-pass-0123456789";

/// The SMTP server: killed and reaped on drop, so no process outlives the
/// test; it also exits on its own when its stdin (this process) closes.
struct SmtpSink {
    child: Child,
    port: u16,
    out: PathBuf,
    cert: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    fn start() -> SmtpSink {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = root.join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run ./scripts/venv",
            python.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = dir.path().join("mail.jsonl");
        let cert = dir.path().join("cert.pem");
        let mut child = Command::new(python)
            .arg(root.join("tests/standins/smtp_sink.py"))
            .args([
                "--port",
                &port.to_string(),
                "--user",
                USER,
                "--password",
                PASSWORD,
            ])
            .arg("--out")
            .arg(&out)
            .arg("--cert")
            .arg(&cert)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        SmtpSink {
            child,
            port,
            out,
            cert,
            _dir: dir,
        }
    }

    /// Each message the server accepted.
    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

/// The headers (unfolded, by lower-cased name) and the body of a message.
fn parse(data: &str) -> (BTreeMap<String, String>, String) {
    let (head, body) = data.split_once("\r\n\r\n").expect("headers and body");
    let mut headers = BTreeMap::new();
    let mut last = String::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            headers
                .entry(last.clone())
                .and_modify(|v: &mut String| v.push_str(line));
        } else if let Some((k, v)) = line.split_once(':') {
            last = k.trim().to_ascii_lowercase();
            headers.insert(last.clone(), v.trim().to_string());
        }
    }
    (headers, body.to_string())
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
