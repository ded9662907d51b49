//! A storm of findings is not a storm of messages: 1,000 notifications for
//! one rule and outcome on a coalescing webhook arrive as two messages (the
//! first, then one summary), counted by a real receiver on loopback.

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

fn finding(i: usize, outcome: &str) -> Notification {
    Notification {
        subject: format!("rectify: {outcome} S3.8 on 111122223333"),
        message: json!({
            "account": "111122223333", "resource": format!("arn:aws:s3:::bucket-{i}"),
            "control": "S3.8", "rule": "s3-block-public-access", "outcome": outcome,
            "job": format!("job-{i}"),
        }),
    }
}

async fn bodies(rx: &Receiver, want: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while rx.received().len() < want && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing more arrives afterwards.
    tokio::time::sleep(Duration::from_millis(300)).await;
    rx.received()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn a_burst_of_1000_findings_is_two_messages_per_rule_and_outcome() {
    let rx = Receiver::start(vec![Reply::status(200)]).await;
    let hook = |name: &str| {
        (
            name.to_string(),
            Channel::Webhook(Webhook {
                url: rx.url.clone(),
                secret: Secret(b"whsec-coalesce-0123456789".to_vec()),
            }),
        )
    };
    let channels = BTreeMap::from([hook("team"), hook("every")]);
    let notifier = ChannelNotifier::new(channels, Arc::new(NoSns)).with_coalescing(BTreeMap::from(
        [("team".to_string(), Duration::from_millis(800))],
    ));

    for i in 0..1000 {
        notifier
            .publish("team", &finding(i, "changed"))
            .await
            .unwrap();
    }
    // Another outcome is not folded into the first.
    notifier
        .publish("team", &finding(1000, "failed"))
        .await
        .unwrap();
    let got = bodies(&rx, 3).await;
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(got[0]["message"]["job"], "job-0");
    assert_eq!(got[1]["message"]["job"], "job-1000");
    let summary = &got[2]["message"];
    assert_eq!(summary["kind"], "coalesced");
    assert_eq!(summary["outcome"], "changed");
    assert_eq!(summary["rule"], "s3-block-public-access");
    assert_eq!(summary["count"], 999);
    assert_eq!(summary["resources"].as_array().unwrap().len(), 20);
    assert_eq!(summary["resources"][0], "arn:aws:s3:::bucket-1");
    assert_eq!(summary["resources_omitted"], 979);
    assert_eq!(
        got[2]["subject"],
        "rectify: 999 more changed by rule s3-block-public-access in the last 0 s"
    );

    // After the window, the next one goes out at once and opens a new one.
    notifier
        .publish("team", &finding(2000, "changed"))
        .await
        .unwrap();
    let got = bodies(&rx, 4).await;
    assert_eq!(got.len(), 4);
    assert_eq!(got[3]["message"]["job"], "job-2000");

    // A channel without a window sends every message.
    for i in 0..25 {
        notifier
            .publish("every", &finding(i, "changed"))
            .await
            .unwrap();
    }
    assert_eq!(bodies(&rx, 29).await.len(), 29);
}
