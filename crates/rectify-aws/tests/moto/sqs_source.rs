//! The SQS source against a real queue: what is committed is deleted, what
//! can never be taken stays for the dead-letter queue, and nothing is
//! deleted when the commit fails.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use rectify_aws::{QueueSettings, SqsSource};
use serde_json::{json, Value};

use crate::support::{new_queue, test_sdk_config, Account, MemoryIntake};

fn event(id: &str) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": "Security Hub Findings - Imported",
        "source": "aws.securityhub", "account": "111122223333",
        "time": "2026-12-02T10:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"findings": []}
    })
}

/// A queue with a one-second visibility timeout and a dead-letter queue
/// that takes a message on its third receive.
async fn queue_with_dlq(sqs: &aws_sdk_sqs::Client) -> (String, String) {
    let (dlq_url, dlq_arn) = new_queue(sqs, "rectify-source-dlq", vec![]).await;
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2});
    let attributes = vec![
        (QueueAttributeName::VisibilityTimeout, "1".to_string()),
        (QueueAttributeName::RedrivePolicy, redrive.to_string()),
    ];
    let (url, _) = new_queue(sqs, "rectify-source", attributes).await;
    (url, dlq_url)
}

/// Every body on the queue now (each received once, left in place).
async fn bodies(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let mut all: Vec<String> = out
        .messages()
        .iter()
        .map(|m| m.body().unwrap().to_string())
        .collect();
    all.sort();
    all
}

fn settings(url: &str) -> QueueSettings {
    QueueSettings {
        queue_url: url.to_string(),
        wait_seconds: 1,
        max_messages: 10,
    }
}

#[tokio::test]
async fn committed_messages_are_deleted_and_malformed_ones_go_to_the_dead_letter_queue() {
    let own = Account::own().await;
    let sqs = own.sqs();
    let (url, dlq_url) = queue_with_dlq(&sqs).await;
    let malformed = "{\"source\": }".to_string();
    for body in [
        event("e-1").to_string(),
        json!([event("e-2"), event("e-3")]).to_string(),
        malformed.clone(),
    ] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    let source = SqsSource::new(&test_sdk_config().await, settings(&url));
    let intake = MemoryIntake::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let deadline = Instant::now() + Duration::from_secs(30);
    let run = source.run(&intake, stop_rx);
    let watch = async {
        // The malformed message comes back each second until the queue
        // moves it to its dead-letter queue on its third receive.
        while source.stats().rejected.load(Ordering::Relaxed) < 2
            || source.stats().accepted.load(Ordering::Relaxed) < 2
        {
            assert!(Instant::now() < deadline, "{:?}", source.stats());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stop_tx.send(true).unwrap();
    };
    let stopped = tokio::time::timeout(Duration::from_secs(40), async {
        tokio::join!(run, watch);
    })
    .await;
    assert!(stopped.is_ok(), "the source did not stop");

    let stats = source.stats();
    assert_eq!(stats.accepted.load(Ordering::Relaxed), 2);
    assert_eq!(stats.rejected.load(Ordering::Relaxed), 2);
    assert_eq!(stats.errors.load(Ordering::Relaxed), 0);
    // Each good body was taken exactly once, with the origin `sqs`.
    let mut taken: Vec<String> = intake
        .taken
        .lock()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    taken.sort();
    let mut sent = vec![
        event("e-1").to_string(),
        json!([event("e-2"), event("e-3")]).to_string(),
    ];
    sent.sort();
    assert_eq!(taken, sent);
    assert!(intake.origins.lock().unwrap().iter().all(|o| o == "sqs"));
    // The good ones are gone; the malformed one is in the dead-letter queue.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(bodies(&sqs, &url).await, Vec::<String>::new());
    assert_eq!(bodies(&sqs, &dlq_url).await, vec![malformed]);
}

#[tokio::test]
async fn nothing_is_deleted_when_the_commit_fails() {
    let own = Account::own().await;
    let sqs = own.sqs();
    let (url, _) = queue_with_dlq(&sqs).await;
    sqs.send_message()
        .queue_url(&url)
        .message_body(event("e-9").to_string())
        .send()
        .await
        .unwrap();
    let source = SqsSource::new(&test_sdk_config().await, settings(&url));
    let down = MemoryIntake {
        down: true,
        ..MemoryIntake::default()
    };
    let err = source.poll_once(&down).await.unwrap_err();
    assert!(err.message.contains("store unavailable"), "{err:?}");
    // Back after its visibility timeout, and taken once the store is up.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let up = MemoryIntake::default();
    let polled = source.poll_once(&up).await.unwrap();
    assert_eq!(
        (polled.received, polled.accepted, polled.rejected),
        (1, 1, 0)
    );
    assert_eq!(*up.taken.lock().unwrap(), vec![event("e-9")]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(bodies(&sqs, &url).await, Vec::<String>::new());
}
