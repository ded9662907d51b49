use std::time::{Duration, Instant};

use rectify_aws::SnsNotifier;
use rectify_model::{Notification, Notifier};
use serde_json::{json, Value};

use crate::support::{harness, http_get, new_queue, settings, unique, Account};

/// What moto keeps of each publish to `topic_arn`: the message as sent (the
/// `MessageStructure: json` document) and the group id.
fn sent_to(topic_arn: &str) -> Vec<(Value, Value)> {
    let data: Value = serde_json::from_str(&http_get(&format!(
        "{}/moto-api/data.json",
        harness().moto_url
    )))
    .unwrap();
    let topics = data["sns"]["Topic"].as_array().cloned().unwrap_or_default();
    let topic = topics
        .iter()
        .find(|t| t["arn"] == json!(topic_arn))
        .expect("moto knows the topic");
    topic["sent_notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                serde_json::from_str(n[1].as_str().unwrap()).unwrap(),
                n[4].clone(),
            )
        })
        .collect()
}

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

    // Email subscribers get a readable text; every other protocol the JSON.
    let sent = sent_to(&topic_arn);
    assert_eq!(sent.len(), 1);
    let structure = &sent[0].0;
    let default: Value = serde_json::from_str(structure["default"].as_str().unwrap()).unwrap();
    assert_eq!(default, message);
    let email = structure["email"].as_str().unwrap();
    assert!(email.contains("Outcome:       changed\n"), "{email}");
    assert!(email.contains("Account:       111122223333\n"), "{email}");
    assert!(
        email.contains("Resource:      arn:aws:s3:::payments-exports\n"),
        "{email}"
    );
    assert!(email.contains("Control:       S3.8\n"), "{email}");
}

/// A channel's templates give the subject and the email subscribers' text;
/// every other protocol still gets the JSON message.
#[tokio::test]
async fn a_rendered_subject_and_text_go_to_email_subscribers() {
    let own = Account::own().await;
    let topic_arn = own
        .sns()
        .create_topic()
        .name(unique("rectify-rendered"))
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let aws = std::sync::Arc::new(rectify_aws::Aws::new(settings(vec![])).await);
    let message = json!({"account": "111122223333", "outcome": "failed", "job": "job-r"});
    let notification = Notification {
        subject: "rectify: failed S3.8 on 111122223333".into(),
        message: message.clone(),
    };
    SnsNotifier::new(aws)
        .publish_rendered(
            &topic_arn,
            &notification,
            "[HIGH] S3.8 failed",
            "Hello team,\nS3.8 failed on 111122223333.\n",
        )
        .await
        .unwrap();
    let sent = sent_to(&topic_arn);
    assert_eq!(sent.len(), 1);
    let structure = &sent[0].0;
    assert_eq!(
        structure["email"],
        "Hello team,\nS3.8 failed on 111122223333.\n"
    );
    let default: Value = serde_json::from_str(structure["default"].as_str().unwrap()).unwrap();
    assert_eq!(default, message);
    let data: Value = serde_json::from_str(&http_get(&format!(
        "{}/moto-api/data.json",
        harness().moto_url
    )))
    .unwrap();
    let topic = data["sns"]["Topic"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["arn"] == json!(topic_arn))
        .cloned()
        .unwrap();
    // moto keeps (message id, message, subject, attributes, group id).
    assert_eq!(topic["sent_notifications"][0][2], "[HIGH] S3.8 failed");
}

#[tokio::test]
async fn fifo_topics_get_a_group_per_account_and_one_message_per_job_outcome() {
    use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
    let own = Account::own().await;
    let sns = own.sns();
    let sqs = own.sqs();
    let topic_arn = sns
        .create_topic()
        .name(format!("{}.fifo", unique("rectify-notify")))
        .attributes("FifoTopic", "true")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let (queue_url, queue_arn) = {
        let name = format!("{}.fifo", unique("rectify-inbox"));
        let url = sqs
            .create_queue()
            .queue_name(&name)
            .attributes(QueueAttributeName::FifoQueue, "true")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        (
            url,
            format!(
                "arn:aws:sqs:us-east-1:{}:{name}",
                crate::support::OWN_ACCOUNT
            ),
        )
    };
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();

    let aws = std::sync::Arc::new(rectify_aws::Aws::new(settings(vec![])).await);
    let notifier = SnsNotifier::new(aws);
    let notification = |job: &str, account: &str| Notification {
        subject: format!("rectify: changed S3.8 on {account}"),
        message: json!({"account": account, "outcome": "changed", "job": job, "control": "S3.8"}),
    };
    // The same job's outcome twice (a settle retried), then another job.
    notifier
        .publish(&topic_arn, &notification("job-1", "111122223333"))
        .await
        .unwrap();
    notifier
        .publish(&topic_arn, &notification("job-1", "111122223333"))
        .await
        .unwrap();
    notifier
        .publish(&topic_arn, &notification("job-2", "444455556666"))
        .await
        .unwrap();

    let sent = sent_to(&topic_arn);
    assert_eq!(sent.len(), 3, "SNS accepted every publish");
    assert_eq!(sent[0].1, "111122223333");
    assert_eq!(sent[2].1, "444455556666");

    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.len() < 2 && Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            sqs.delete_message()
                .queue_url(&queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
            let attrs = m.attributes().unwrap();
            received.push((
                serde_json::from_str::<Value>(m.body().unwrap()).unwrap()["job"].clone(),
                attrs[&MessageSystemAttributeName::MessageGroupId].clone(),
                attrs[&MessageSystemAttributeName::MessageDeduplicationId].clone(),
            ));
        }
    }
    // One more receive: the duplicate must not arrive late.
    let late = sqs
        .receive_message()
        .queue_url(&queue_url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(late.messages().is_empty(), "{late:?}");
    received.sort_by_key(|r| r.0.to_string());
    assert_eq!(
        received,
        vec![
            (
                json!("job-1"),
                "111122223333".to_string(),
                "job-1:changed".to_string()
            ),
            (
                json!("job-2"),
                "444455556666".to_string(),
                "job-2:changed".to_string()
            ),
        ]
    );
}

#[tokio::test]
async fn bad_topics_are_errors() {
    // The harness sets the endpoint and credentials the SDK reads.
    harness();
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
