//! Slack and Teams against a stand-in for each service's incoming webhook:
//! a real HTTP receiver on loopback that checks the payload's shape against
//! the published rules it can state (Block Kit: `blocks[]` of header,
//! section and context blocks, text objects `{type: mrkdwn|plain_text,
//! text}`, header text ≤ 150 characters, section text ≤ 3000, a field ≤
//! 2000, ≤ 10 fields, ≤ 50 blocks; Adaptive Card in a `message`
//! attachment: `type: AdaptiveCard`, `version`, `$schema`, `body[]`).

mod receiver;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use receiver::{Receiver, Reply};
use rectify_config::{Channel, Secret};
use rectify_model::{ActionError, Notification, Notifier};
use rectify_notify::{ChannelNotifier, Retry};
use serde_json::{json, Value};

struct NoSns;

#[async_trait]
impl Notifier for NoSns {
    async fn publish(&self, _: &str, _: &Notification) -> Result<(), ActionError> {
        panic!("no SNS channel is configured")
    }
}

fn notifier(name: &str, channel: Channel) -> ChannelNotifier {
    let channels = BTreeMap::from([(name.to_string(), channel)]);
    let retry = Retry {
        first_backoff: Duration::from_millis(50),
        ..Retry::default()
    };
    ChannelNotifier::with_retry(channels, Arc::new(NoSns), retry)
}

fn secret_url(url: &str) -> Secret {
    Secret(url.as_bytes().to_vec())
}

fn notification(subject: &str, reason: &str) -> Notification {
    Notification {
        subject: subject.into(),
        message: json!({
            "account": "111122223333", "account_name": "payments-prod",
            "region": "eu-west-1", "resource": "arn:aws:s3:::payments-exports",
            "control": "S3.8", "outcome": "changed", "rule": "s3-block-public-access",
            "action": "aws.s3.block-public-access", "job": "job-7", "mode": "auto",
            "reason": reason,
        }),
    }
}

fn chars(v: &Value) -> usize {
    v.as_str().expect("a string").chars().count()
}

/// A Block Kit text object: `{type: mrkdwn|plain_text, text}` (plus the
/// optional `emoji` / `verbatim`), non-empty, at most `max` characters.
fn check_text_object(t: &Value, max: usize, kinds: &[&str], at: &str) {
    let obj = t
        .as_object()
        .unwrap_or_else(|| panic!("{at}: not an object: {t}"));
    let kind = obj["type"].as_str().unwrap_or_default();
    assert!(kinds.contains(&kind), "{at}: text type {kind:?}");
    for key in obj.keys() {
        assert!(
            ["type", "text", "emoji", "verbatim"].contains(&key.as_str()),
            "{at}: unknown key {key}"
        );
    }
    let n = chars(&obj["text"]);
    assert!(n >= 1 && n <= max, "{at}: {n} characters (max {max})");
}

/// The Slack stand-in's check of an incoming-webhook body.
fn check_block_kit(body: &Value) {
    assert!(chars(&body["text"]) >= 1, "the fallback text");
    let blocks = body["blocks"].as_array().expect("blocks[]");
    assert!(
        !blocks.is_empty() && blocks.len() <= 50,
        "{} blocks",
        blocks.len()
    );
    for (i, b) in blocks.iter().enumerate() {
        let at = format!("blocks[{i}]");
        match b["type"].as_str() {
            Some("header") => check_text_object(&b["text"], 150, &["plain_text"], &at),
            Some("section") => {
                assert!(
                    b.get("text").is_some() || b.get("fields").is_some(),
                    "{at}: a section needs text or fields"
                );
                if let Some(t) = b.get("text") {
                    check_text_object(t, 3000, &["mrkdwn", "plain_text"], &at);
                }
                if let Some(fields) = b.get("fields") {
                    let fields = fields.as_array().unwrap();
                    assert!(!fields.is_empty() && fields.len() <= 10, "{at}: fields");
                    for f in fields {
                        check_text_object(f, 2000, &["mrkdwn", "plain_text"], &at);
                    }
                }
            }
            Some("context") => {
                let elements = b["elements"].as_array().unwrap();
                assert!(!elements.is_empty() && elements.len() <= 10, "{at}");
                for e in elements {
                    check_text_object(e, 3000, &["mrkdwn", "plain_text"], &at);
                }
            }
            other => panic!("{at}: block type {other:?}"),
        }
    }
}

/// The Teams stand-in's check: a `message` with one Adaptive Card
/// attachment.
fn check_adaptive_card_message(body: &Value) -> &Value {
    assert_eq!(body["type"], "message");
    let attachments = body["attachments"].as_array().expect("attachments[]");
    assert_eq!(attachments.len(), 1);
    assert_eq!(
        attachments[0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachments[0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    let version = card["version"].as_str().expect("version");
    assert!(version.starts_with("1."), "{version}");
    let elements = card["body"].as_array().expect("body[]");
    assert!(!elements.is_empty());
    for e in elements {
        match e["type"].as_str() {
            Some("TextBlock") => assert!(chars(&e["text"]) >= 1),
            Some("FactSet") => {
                for f in e["facts"].as_array().unwrap() {
                    assert!(f["title"].is_string() && f["value"].is_string(), "{f}");
                }
            }
            other => panic!("element type {other:?}"),
        }
    }
    card
}

#[tokio::test]
async fn slack_gets_block_kit_within_its_limits() {
    let rx = Receiver::start(vec![Reply::status(200)]).await;
    let n = notification(
        "rectify: changed S3.8 on 111122223333",
        "public access <blocked> & read back",
    );
    notifier(
        "chat",
        Channel::Slack {
            webhook_url: secret_url(&rx.url),
        },
    )
    .publish("chat", &n)
    .await
    .unwrap();
    let got = rx.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].headers["content-type"], "application/json");
    assert!(
        !got[0].headers.contains_key("x-rectify-signature"),
        "the URL is the credential; nothing to sign with"
    );
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    check_block_kit(&body);
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(
        blocks[0]["text"]["text"],
        "rectify: changed S3.8 on 111122223333"
    );
    let fields: Vec<&str> = blocks[1]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "*Account*\n111122223333 (payments-prod)",
            "*Region*\neu-west-1",
            "*Resource*\narn:aws:s3:::payments-exports",
            "*Control*\nS3.8",
            "*Outcome*\nchanged",
            "*Rule*\ns3-block-public-access",
        ]
    );
    assert_eq!(
        blocks[2]["text"]["text"],
        "public access &lt;blocked&gt; &amp; read back"
    );
    assert_eq!(blocks[3]["type"], "context");
    assert!(blocks[3]["elements"][0]["text"]
        .as_str()
        .unwrap()
        .contains("job `job-7`"));
}

#[tokio::test]
async fn long_subjects_and_reasons_are_clipped_to_slack_limits() {
    let rx = Receiver::start(vec![Reply::status(200)]).await;
    let n = notification(&"s".repeat(400), &"r".repeat(10_000));
    notifier(
        "chat",
        Channel::Slack {
            webhook_url: secret_url(&rx.url),
        },
    )
    .publish("chat", &n)
    .await
    .unwrap();
    let body: Value = serde_json::from_slice(&rx.received()[0].body).unwrap();
    check_block_kit(&body);
    assert_eq!(chars(&body["blocks"][0]["text"]["text"]), 150);
    assert_eq!(chars(&body["blocks"][2]["text"]["text"]), 3000);
}

#[tokio::test]
async fn slack_rate_limits_are_waited_out() {
    let rx = Receiver::start(vec![
        Reply::status(429).header("Retry-After", "1"),
        Reply::status(200),
    ])
    .await;
    notifier(
        "chat",
        Channel::Slack {
            webhook_url: secret_url(&rx.url),
        },
    )
    .publish("chat", &notification("s", "r"))
    .await
    .unwrap();
    let got = rx.received();
    assert_eq!(got.len(), 2);
    assert!(got[1].at - got[0].at >= Duration::from_millis(950));
}

#[tokio::test]
async fn teams_gets_an_adaptive_card() {
    let rx = Receiver::start(vec![Reply::status(200)]).await;
    let n = notification(
        "rectify: changed S3.8 on 111122223333",
        "public access blocked",
    );
    notifier(
        "teams",
        Channel::Teams {
            webhook_url: secret_url(&rx.url),
        },
    )
    .publish("teams", &n)
    .await
    .unwrap();
    let got = rx.received();
    assert_eq!(got.len(), 1);
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    let card = check_adaptive_card_message(&body);
    let elements = card["body"].as_array().unwrap();
    assert_eq!(elements[0]["text"], "rectify: changed S3.8 on 111122223333");
    let facts: Vec<(String, String)> = elements[1]["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["title"].as_str().unwrap().into(),
                f["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        facts[0],
        ("Account".into(), "111122223333 (payments-prod)".into())
    );
    assert_eq!(facts[4], ("Outcome".into(), "changed".into()));
    assert_eq!(elements[2]["text"], "public access blocked");
}

#[tokio::test]
async fn a_teams_endpoint_that_refuses_is_an_error_without_its_url() {
    let rx = Receiver::start(vec![Reply::status(400)]).await;
    let err = notifier(
        "teams",
        Channel::Teams {
            webhook_url: secret_url(&rx.url),
        },
    )
    .publish("teams", &notification("s", "r"))
    .await
    .unwrap_err();
    assert_eq!(err.message, "webhook answered 400");
    assert_eq!(rx.received().len(), 1);
}

/// A mailer that keeps what it is asked to send (SES itself is tested
/// against moto in rectify-aws).
#[derive(Default)]
struct KeptMail(std::sync::Mutex<Vec<Mail>>);

/// Region, from, to, subject, text.
type Mail = (String, String, Vec<String>, String, String);

#[async_trait]
impl rectify_model::Mailer for KeptMail {
    async fn send_mail(
        &self,
        region: &str,
        from: &str,
        to: &[String],
        subject: &str,
        text: &str,
    ) -> Result<(), ActionError> {
        self.0.lock().unwrap().push((
            region.into(),
            from.into(),
            to.to_vec(),
            subject.into(),
            text.into(),
        ));
        Ok(())
    }
}

#[tokio::test]
async fn ses_channels_go_to_the_mailer_in_their_region() {
    let kept = Arc::new(KeptMail::default());
    let channels = BTreeMap::from([
        (
            "mail".to_string(),
            Channel::Ses {
                from: "rectify@example.com".into(),
                to: vec!["a@example.com".into()],
                region: None,
                to_owner: true,
            },
        ),
        (
            "eu-mail".to_string(),
            Channel::Ses {
                from: "rectify@example.com".into(),
                to: vec!["b@example.com".into()],
                region: Some("eu-west-1".into()),
                to_owner: false,
            },
        ),
    ]);
    let n = ChannelNotifier::new(channels, Arc::new(NoSns)).with_ses(kept.clone(), "us-east-2");
    let mut msg = notification("rectify: changed S3.8 on 111122223333", "blocked");
    msg.message["owner"] = json!("payments-team@example.com");
    n.publish("mail", &msg).await.unwrap();
    n.publish("eu-mail", &msg).await.unwrap();
    let kept = kept.0.lock().unwrap();
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0].0, "us-east-2");
    assert_eq!(kept[1].0, "eu-west-1");
    // `to_owner`: the account's owner is added; not on the other channel.
    assert_eq!(kept[0].2, ["a@example.com", "payments-team@example.com"]);
    assert_eq!(kept[1].2, ["b@example.com"]);
    assert_eq!(kept[0].3, "rectify: changed S3.8 on 111122223333");
    assert!(
        kept[0].4.contains("Outcome:       changed\n"),
        "{}",
        kept[0].4
    );
}

#[test]
fn owner_recipients() {
    let mut n = notification("s", "r");
    assert_eq!(
        rectify_notify::recipients(&["a@example.com".into()], true, &n).unwrap(),
        ["a@example.com"],
        "no owner: the fixed recipients only"
    );
    assert!(rectify_notify::recipients(&[], true, &n).is_err());
    n.message["owner"] = json!("Payments team");
    assert!(
        rectify_notify::recipients(&[], true, &n).is_err(),
        "an owner that is not an address is not mailed"
    );
    n.message["owner"] = json!("A@example.com");
    assert_eq!(
        rectify_notify::recipients(&["a@example.com".into()], true, &n).unwrap(),
        ["a@example.com"],
        "not twice"
    );
}
