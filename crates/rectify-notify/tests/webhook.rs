//! Webhook delivery against a real HTTP receiver on loopback that checks
//! each request's signature the way a receiver is told to (README,
//! Notifications), with an HMAC implementation of its own.

mod receiver;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use receiver::{Received, Receiver, Reply};
use rectify_config::{Channel, Secret, Webhook};
use rectify_model::{ActionError, ErrorClass, Notification, Notifier};
use rectify_notify::{ChannelNotifier, Retry};
use serde_json::{json, Value};

const SECRET: &str = "whsec-test-0123456789abcdef";

/// SNS is not under test here.
struct NoSns;

#[async_trait]
impl Notifier for NoSns {
    async fn publish(&self, _: &str, _: &Notification) -> Result<(), ActionError> {
        panic!("no SNS channel is configured")
    }
}

fn fast_retry() -> Retry {
    Retry {
        attempts: 4,
        first_backoff: Duration::from_millis(100),
        budget: Duration::from_secs(5),
        request_timeout: Duration::from_secs(2),
    }
}

fn notifier(url: &str, retry: Retry) -> ChannelNotifier {
    let mut channels = BTreeMap::new();
    channels.insert(
        "hooks".to_string(),
        Channel::Webhook(Webhook {
            url: url.to_string(),
            secret: Secret(SECRET.as_bytes().to_vec()),
        }),
    );
    ChannelNotifier::with_retry(channels, Arc::new(NoSns), retry)
}

fn notification() -> Notification {
    Notification {
        subject: "rectify: changed S3.8 on 111122223333".into(),
        message: json!({
            "account": "111122223333", "region": "eu-west-1",
            "resource": "arn:aws:s3:::payments-exports", "control": "S3.8",
            "outcome": "changed", "rule": "s3-block-public-access", "job": "job-1",
            "reason": "public access blocked"
        }),
    }
}

/// What a receiver does: recompute HMAC-SHA256(secret, "<timestamp>.<body>")
/// and compare it with the header, and refuse a timestamp more than 300 s
/// from its clock.
fn verified(r: &Received) -> bool {
    let (Some(ts), Some(sig)) = (
        r.headers.get("x-rectify-timestamp"),
        r.headers.get("x-rectify-signature"),
    ) else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let Ok(ts_num) = ts.parse::<u64>() else {
        return false;
    };
    if ts_num.abs_diff(now) > 300 {
        return false;
    }
    let Some(hex_sig) = sig.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let mut signed = format!("{ts}.").into_bytes();
    signed.extend_from_slice(&r.body);
    ring::hmac::verify(&key, &signed, &given).is_ok()
}

#[tokio::test]
async fn a_signed_json_post_the_receiver_verifies() {
    let rx = Receiver::start(vec![Reply::status(204)]).await;
    notifier(&rx.url, fast_retry())
        .publish("hooks", &notification())
        .await
        .unwrap();
    let got = rx.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hook"));
    assert_eq!(r.headers["content-type"], "application/json");
    assert!(r.headers["user-agent"].starts_with("rectify/"));
    assert!(verified(r), "signature: {:?}", r.headers);
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["subject"], "rectify: changed S3.8 on 111122223333");
    assert_eq!(body["message"], notification().message);

    // A body changed on the way, or another key, does not verify.
    let mut tampered = r.clone();
    tampered.body = r.body.replace_first(b"changed", b"skipped");
    assert!(!verified(&tampered));
}

trait ReplaceFirst {
    fn replace_first(&self, from: &[u8], to: &[u8]) -> Vec<u8>;
}

impl ReplaceFirst for Vec<u8> {
    fn replace_first(&self, from: &[u8], to: &[u8]) -> Vec<u8> {
        let i = self.windows(from.len()).position(|w| w == from).unwrap();
        [&self[..i], to, &self[i + from.len()..]].concat()
    }
}

#[tokio::test]
async fn retried_on_5xx_and_429_honouring_retry_after() {
    let rx = Receiver::start(vec![
        Reply::status(503),
        Reply::status(429).header("Retry-After", "1"),
        Reply::status(200),
    ])
    .await;
    notifier(&rx.url, fast_retry())
        .publish("hooks", &notification())
        .await
        .unwrap();
    let got = rx.received();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(verified), "each attempt is signed afresh");
    let first_wait = got[1].at - got[0].at;
    let second_wait = got[2].at - got[1].at;
    assert!(first_wait >= Duration::from_millis(100), "{first_wait:?}");
    assert!(
        second_wait >= Duration::from_millis(950),
        "Retry-After: 1 honoured: {second_wait:?}"
    );
    assert!(second_wait < Duration::from_secs(3), "{second_wait:?}");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let rx = Receiver::start(vec![Reply::status(401)]).await;
    let err = notifier(&rx.url, fast_retry())
        .publish("hooks", &notification())
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::AccessDenied);
    assert_eq!(err.message, "webhook answered 401");
    assert_eq!(rx.received().len(), 1);
}

#[tokio::test]
async fn a_failing_endpoint_gives_up_within_the_bound() {
    let rx = Receiver::start(vec![Reply::status(500)]).await;
    let started = Instant::now();
    let err = notifier(&rx.url, fast_retry())
        .publish("hooks", &notification())
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient);
    assert_eq!(
        err.message,
        "webhook answered 500 (gave up after 4 attempts)"
    );
    // Backoff 100, 200, 400 ms between the 4 attempts.
    assert_eq!(rx.received().len(), 4);
    assert!(started.elapsed() >= Duration::from_millis(700));
    assert!(started.elapsed() < Duration::from_secs(5));

    // A Retry-After past the bound is not waited for.
    let rx = Receiver::start(vec![Reply::status(429).header("Retry-After", "60")]).await;
    let started = Instant::now();
    let err = notifier(&rx.url, fast_retry())
        .publish("hooks", &notification())
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Throttled);
    assert!(err.message.contains("delivery bound"), "{}", err.message);
    assert_eq!(rx.received().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn an_endpoint_that_is_down_fails_without_showing_its_url() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/T0KEN-in-the-path");
    let err = notifier(&url, fast_retry())
        .publish("hooks", &notification())
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Transient);
    assert!(
        err.message.starts_with("webhook request failed"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("T0KEN"), "{}", err.message);
}

#[tokio::test]
async fn an_unknown_channel_is_an_error() {
    let err = notifier("http://127.0.0.1:9/", fast_retry())
        .publish("nobody", &notification())
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::Invalid);
}

#[tokio::test]
async fn a_failed_delivery_goes_to_the_fallback_channel() {
    let down = Receiver::start(vec![Reply::status(500)]).await;
    let backup = Receiver::start(vec![Reply::status(200)]).await;
    let hook = |url: &str| {
        Channel::Webhook(Webhook {
            url: url.to_string(),
            secret: Secret(SECRET.as_bytes().to_vec()),
        })
    };
    let channels = BTreeMap::from([
        ("primary".to_string(), hook(&down.url)),
        ("backup".to_string(), hook(&backup.url)),
    ]);
    let notifier =
        ChannelNotifier::with_retry(channels, Arc::new(NoSns), fast_retry()).with_fallbacks(
            BTreeMap::from([("primary".to_string(), "backup".to_string())]),
        );
    let err = notifier
        .publish("primary", &notification())
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "webhook answered 500 (gave up after 4 attempts); delivered to the fallback channel `backup` instead"
    );
    assert_eq!(down.received().len(), 4);
    let got = backup.received();
    assert_eq!(got.len(), 1);
    assert!(verified(&got[0]));
    // A channel that works does not touch its fallback.
    notifier.publish("backup", &notification()).await.unwrap();
    assert_eq!(down.received().len(), 4);
}
