//! Digest mode and routing by severity: a burst of 1,000 findings on a
//! digest channel arrives as one message with the counts and the worst
//! items, read back by a real receiver on loopback; a pager channel takes
//! only the severities it names.

mod receiver;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use receiver::{Receiver, Reply};
use rectify_config::{Channel, Secret, Webhook};
use rectify_model::{ActionError, Notification, Notifier};
use rectify_notify::ChannelNotifier;
use serde_json::{json, Value};

struct NoSns;

#[async_trait]
impl Notifier for NoSns {
    async fn publish(&self, _: &str, _: &Notification) -> Result<(), ActionError> {
        panic!("no SNS channel is configured")
    }
}

fn hook(rx: &Receiver, name: &str) -> (String, Channel) {
    (
        name.to_string(),
        Channel::Webhook(Webhook {
            url: format!("{}/{name}", rx.url),
            secret: Secret(b"whsec-digest-0123456789".to_vec()),
        }),
    )
}

fn finding(i: usize, outcome: &str, severity: &str) -> Notification {
    Notification {
        subject: format!("rectify: {outcome} S3.8 on 1111222233{:02}", i % 4),
        message: json!({
            "account": format!("1111222233{:02}", i % 4),
            "resource": format!("arn:aws:s3:::bucket-{i}"),
            "control": if i.is_multiple_of(2) { "S3.8" } else { "S3.1" },
            "rule": "s3-block-public-access", "outcome": outcome,
            "severity": severity, "job": format!("job-{i}"),
        }),
    }
}

async fn bodies(rx: &Receiver, want: usize, wait: Duration) -> Vec<(String, Value)> {
    let deadline = std::time::Instant::now() + wait;
    while rx.received().len() < want && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing more arrives afterwards.
    tokio::time::sleep(Duration::from_millis(500)).await;
    rx.received()
        .iter()
        .map(|r| (r.path.clone(), serde_json::from_slice(&r.body).unwrap()))
        .collect()
}

#[tokio::test]
async fn a_burst_of_1000_findings_is_one_digest() {
    let rx = Receiver::start(vec![Reply::status(200)]).await;
    let notifier =
        ChannelNotifier::new(BTreeMap::from([hook(&rx, "digest")]), Arc::new(NoSns)).with_digests(
            BTreeMap::from([("digest".to_string(), Duration::from_millis(1500))]),
        );
    let outcome = |i: usize| if i % 100 == 7 { "failed" } else { "changed" };
    for i in 0..1000 {
        notifier
            .publish("digest", &finding(i, outcome(i), "MEDIUM"))
            .await
            .unwrap();
    }
    // A redelivered notification is folded, not counted again.
    for i in 0..50 {
        notifier
            .publish("digest", &finding(i, outcome(i), "MEDIUM"))
            .await
            .unwrap();
    }
    notifier
        .publish("digest", &finding(5000, "changed", "CRITICAL"))
        .await
        .unwrap();
    assert!(rx.received().is_empty(), "nothing before the period ends");

    let got = bodies(&rx, 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let digest = &got[0].1["message"];
    assert_eq!(digest["kind"], "digest");
    assert_eq!(digest["count"], 1001);
    assert_eq!(digest["received"], 1051);
    assert_eq!(digest["by_outcome"], json!({"changed": 991, "failed": 10}));
    assert_eq!(
        digest["by_account"],
        json!({"111122223300": 251, "111122223301": 250, "111122223302": 250, "111122223303": 250})
    );
    assert_eq!(digest["by_control"], json!({"S3.1": 500, "S3.8": 501}));
    let worst = digest["worst"].as_array().unwrap();
    // Failures first (earliest first), before a fix of a CRITICAL finding.
    assert_eq!(worst.len(), 10);
    assert!(worst.iter().all(|w| w["outcome"] == "failed"), "{worst:#?}");
    assert_eq!(worst[0]["resource"], "arn:aws:s3:::bucket-7");
    assert_eq!(worst[9]["resource"], "arn:aws:s3:::bucket-907");
    assert_eq!(
        got[0].1["subject"],
        "rectify digest: 1001 item(s) in the last 1 min (991 changed, 10 failed)"
    );

    // The next notification opens the next digest.
    notifier
        .publish("digest", &finding(6000, "skipped", "LOW"))
        .await
        .unwrap();
    let got = bodies(&rx, 2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].1["message"]["count"], 1);
    assert_eq!(got[1].1["message"]["by_outcome"], json!({"skipped": 1}));
}

#[tokio::test]
async fn a_pager_takes_its_severities_and_the_rest_go_to_the_digest() {
    let rx = Receiver::start(vec![Reply::status(200)]).await;
    let notifier = ChannelNotifier::new(
        BTreeMap::from([hook(&rx, "pager"), hook(&rx, "digest")]),
        Arc::new(NoSns),
    )
    .with_severities(BTreeMap::from([
        (
            "pager".to_string(),
            vec!["CRITICAL".to_string(), "HIGH".to_string()],
        ),
        (
            "digest".to_string(),
            vec!["MEDIUM".into(), "LOW".into(), "INFORMATIONAL".into()],
        ),
    ]))
    .with_digests(BTreeMap::from([(
        "digest".to_string(),
        Duration::from_millis(800),
    )]));
    let severities = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"];
    let mut sent = 0;
    for i in 0..100 {
        let n = finding(i, "changed", severities[i % 5]);
        // What the engine does for each of a job's channels.
        for channel in ["pager", "digest"] {
            if notifier.takes(channel, &n) {
                notifier.publish(channel, &n).await.unwrap();
                sent += 1;
            }
        }
    }
    assert_eq!(sent, 100, "each finding goes to exactly one of the two");
    // A dead job carries no severity: it goes to both.
    let dead = Notification {
        subject: "rectify: failed S3.8 on 111122223333".into(),
        message: json!({"kind": "dead", "outcome": "failed", "job": "job-dead"}),
    };
    assert!(notifier.takes("pager", &dead) && notifier.takes("digest", &dead));
    notifier.publish("pager", &dead).await.unwrap();
    notifier.publish("digest", &dead).await.unwrap();

    let got = bodies(&rx, 42, Duration::from_secs(10)).await;
    let pager: Vec<&Value> = got
        .iter()
        .filter(|(p, _)| p.ends_with("/pager"))
        .map(|(_, b)| b)
        .collect();
    let digests: Vec<&Value> = got
        .iter()
        .filter(|(p, _)| p.ends_with("/digest"))
        .map(|(_, b)| b)
        .collect();
    assert_eq!(pager.len(), 41, "40 CRITICAL or HIGH, and the dead job");
    assert!(pager[..40]
        .iter()
        .all(|b| ["CRITICAL", "HIGH"].contains(&b["message"]["severity"].as_str().unwrap())));
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0]["message"]["count"], 61);
    assert_eq!(
        digests[0]["message"]["by_outcome"],
        json!({"changed": 60, "dead": 1})
    );
    assert_eq!(digests[0]["message"]["worst"][0]["what"], "dead");
}
