//! `rectify serve` on PostgreSQL with events that can never be stored
//! among good ones (see `bad_input`), from each polling source: from an
//! SQS queue with a redrive policy, the refused messages end in the
//! dead-letter queue and the other messages of their batch are committed
//! and deleted; from Security Hub, the other findings of the page are
//! committed and the cursor moves on.

mod bad_input;
mod support;

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use serde_json::json;
use support::*;

async fn queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &[(QueueAttributeName, String)],
) -> String {
    let mut create = sqs.create_queue().queue_name(name);
    for (key, value) in attributes {
        create = create.attributes(key.clone(), value);
    }
    create.send().await.unwrap().queue_url.unwrap()
}

async fn arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone()
}

/// Messages on the queue, visible or in flight.
async fn count(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let attributes = out.attributes.unwrap();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|k| attributes[k].parse::<u64>().unwrap())
    .sum()
}

async fn bodies(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    sorted(
        out.messages()
            .iter()
            .map(|m| m.body().unwrap().to_string())
            .collect(),
    )
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unstorable_message_goes_to_the_dead_letter_queue_alone() {
    let account = new_account();
    let pg = bad_input::PgSchema::new("rectify_sqs");
    let sqs = aws_sdk_sqs::Client::new(&home_config().await);
    let dlq = queue(&sqs, &format!("batch-dlq-{account}"), &[]).await;
    let redrive = json!({"deadLetterTargetArn": arn(&sqs, &dlq).await, "maxReceiveCount": 2});
    let url = queue(
        &sqs,
        &format!("batch-{account}"),
        &[
            (QueueAttributeName::VisibilityTimeout, "1".into()),
            (QueueAttributeName::RedrivePolicy, redrive.to_string()),
        ],
    )
    .await;
    let site = Site::new(
        &account,
        "auto",
        &format!("arn:aws:sns:{REGION}:{HOME_ACCOUNT}:unused"),
        &format!(
            "sources:\n  sqs:\n    - queue_url: {url}\n      wait_seconds: 1\n      max_messages: 10\n{}",
            rules("")
        ),
    );
    pg.use_in(&site);
    let server = Server::start(&site);
    pg.refuse_checked();

    // Ten events sent as one batch, two of which can never be stored.
    let events = bad_input::batch(&account);
    let entries = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            SendMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .message_body(e.to_string())
                .build()
                .unwrap()
        })
        .collect();
    let sent = sqs
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some(entries))
        .send()
        .await
        .unwrap();
    assert!(sent.failed().is_empty(), "{sent:?}");

    // A bad message is received twice (a visibility timeout apart), then
    // moved by the queue.
    let deadline = Instant::now() + Duration::from_secs(40);
    while count(&sqs, &dlq).await < 2 || count(&sqs, &url).await > 0 {
        assert!(
            Instant::now() < deadline,
            "queue: {}, dead-letter queue: {}",
            count(&sqs, &url).await,
            count(&sqs, &dlq).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Give a wrongly refused good message time to follow it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(server);

    assert_eq!(count(&sqs, &url).await, 0);
    assert_eq!(
        bodies(&sqs, &dlq).await,
        sorted(vec![
            events[bad_input::CHECKED].to_string(),
            events[bad_input::NUL].to_string()
        ])
    );
    // The eight good events are in the store, the bad ones are not.
    let stored = pg.column(&format!("SELECT id FROM {}.events ORDER BY id", pg.schema));
    assert_eq!(stored, bad_input::good_ids(&events));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unstorable_finding_does_not_hold_back_a_security_hub_poll() {
    let account = new_account();
    let pg = bad_input::PgSchema::new("rectify_poll");
    // Each test's findings apart: a product name of its own.
    let product = format!("poll-bad-{account}");
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let findings: Vec<serde_json::Value> = bad_input::batch(&account)
        .into_iter()
        .map(|event| {
            let mut finding = event["detail"]["findings"][0].clone();
            finding["ProductName"] = json!(product);
            finding["UpdatedAt"] = json!(now);
            finding
        })
        .collect();
    let site = Site::new(
        &account,
        "auto",
        &format!("arn:aws:sns:{REGION}:{HOME_ACCOUNT}:unused"),
        &format!(
            "sources:\n  securityhub:\n    interval_seconds: 10\n    product_name: [{product}]\n{}",
            rules("")
        ),
    );
    pg.use_in(&site);
    let server = Server::start(&site);
    pg.refuse_checked();
    // Seeded now, they are read by the poll after the first.
    securityhub_import(&findings);
    // The poll is done once its cursor is saved.
    let cursor = format!(
        "SELECT value FROM {}.settings WHERE key = 'cursor:securityhub'",
        pg.schema
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while pg.column(&cursor).is_empty() {
        assert!(Instant::now() < deadline, "the poll saved no cursor");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(server);

    // The eight good findings are stored, the bad ones are not.
    let stored = pg.column(&format!(
        "SELECT id FROM {}.findings ORDER BY id",
        pg.schema
    ));
    let mut good: Vec<String> = findings
        .iter()
        .enumerate()
        .filter(|(i, _)| bad_input::good(*i))
        .map(|(_, f)| f["Id"].as_str().unwrap().to_string())
        .collect();
    good.sort();
    assert_eq!(stored, good);
}
