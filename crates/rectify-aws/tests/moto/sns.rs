use std::time::{Duration, Instant};

use rectify_aws::SnsNotifier;
use rectify_model::{Notification, Notifier};
use serde_json::{json, Value};

use crate::support::{new_queue, settings, unique, Account};

#[tokio::test]
async fn publishes_to_a_topic_that_reaches_a_queue() {
    // rectify publishes with its own credentials: moto's default account.
    let own = Account::own().await;
    let sns = own.sns();
    let sqs = own.sqs();
    let topic = sns
        .create_topic()
        .name(unique("rectify-notify"))
        .send()
        .await
        .unwrap();
    let topic_arn = topic.topic_arn().unwrap().to_string();
    let (queue_url, queue_arn) = new_queue(&sqs, "rectify-inbox", vec![]).await;
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .unwrap();

    let aws = std::sync::Arc::new(rectify_aws::Aws::new(settings(vec![])).await);
    let notifier = SnsNotifier::new(aws);
    let message = json!({
        "account": "111122223333",
        "region": "us-east-1",
        "resource": "arn:aws:s3:::payments-exports",
        "control": "S3.8",
        "action": "aws.s3.block-public-access",
        "outcome": "changed",
        "rule": "s3-bucket-block-public-access",
        "job": "job-1",
    });
    let notification = Notification {
        subject: "rectify: changed S3.8 on payments-exports — café\nsecond line".into(),
        message: message.clone(),
    };
    notifier.publish(&topic_arn, &notification).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let out = sqs
            .receive_message()
            .queue_url(&queue_url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if let Some(m) = out.messages().first() {
            break m.body().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no message reached the queue");
    };
    let envelope: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], json!(topic_arn));
    assert_eq!(
        envelope["Subject"],
        "rectify: changed S3.8 on payments-exports ? caf? second line"
    );
    let delivered: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(delivered, message);
    assert_eq!(envelope["MessageAttributes"]["outcome"]["Value"], "changed");
    assert_eq!(envelope["MessageAttributes"]["outcome"]["Type"], "String");
    assert_eq!(
        envelope["MessageAttributes"]["account"]["Value"],
        "111122223333"
    );
}

#[tokio::test]
async fn bad_topics_are_errors() {
    let aws = std::sync::Arc::new(rectify_aws::Aws::new(settings(vec![])).await);
    let notifier = SnsNotifier::new(aws);
    let n = Notification {
        subject: "x".into(),
        message: json!({"outcome": "changed"}),
    };
    let err = notifier.publish("not-an-arn", &n).await.unwrap_err();
    assert_eq!(err.class, rectify_model::ErrorClass::Invalid);
    let missing = format!(
        "arn:aws:sns:us-east-1:{}:{}",
        crate::support::OWN_ACCOUNT,
        unique("nobody")
    );
    let err = notifier.publish(&missing, &n).await.unwrap_err();
    assert!(err.message.starts_with("sns:Publish: "), "{}", err.message);
    assert_eq!(
        err.class,
        rectify_model::ErrorClass::NotFound,
        "{}",
        err.message
    );
}
