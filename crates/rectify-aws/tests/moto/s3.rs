use aws_sdk_s3::types::{PublicAccessBlockConfiguration, Tag, Tagging};
use rectify_aws::S3BlockPublicAccess;
use rectify_model::Action;
use serde_json::{json, Value};

use crate::support::{finding_event, unique, Account};

#[tokio::test]
async fn blocks_public_access_of_a_bucket() {
    let account = Account::new().await;
    let s3 = account.s3();
    let bucket = unique("rectify-open");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    // Partly open: one flag on, three off.
    s3.put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(false)
                .block_public_policy(false)
                .restrict_public_buckets(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.put_bucket_tagging()
        .bucket(&bucket)
        .tagging(
            Tagging::builder()
                .tag_set(
                    Tag::builder()
                        .key("owner")
                        .value("payments")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let action = S3BlockPublicAccess::new(account.aws().await);
    let event = finding_event(
        &account.id,
        "S3.8",
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{bucket}"),
        Value::Null,
    );
    let target = action.target(&event).unwrap();
    let params = json!({});

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert_eq!(
        observed.state,
        json!({"block_public_acls": true, "ignore_public_acls": false,
            "block_public_policy": false, "restrict_public_buckets": false})
    );
    assert_eq!(
        observed.tags,
        json!({"owner": "payments"}).as_object().unwrap().clone()
    );

    let change = action.plan(&target, &params, &observed).unwrap();
    assert_eq!(change.before, observed.state);
    assert_eq!(
        change.after,
        json!({"block_public_acls": true, "ignore_public_acls": true,
            "block_public_policy": true, "restrict_public_buckets": true})
    );

    action.apply(&target, &params, &change).await.unwrap();
    let verified = action.verify(&target, &params).await.unwrap();
    assert!(verified.compliant);
    assert_eq!(verified.state, change.after);

    // Read back with the test's own client.
    let read = s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let c = read.public_access_block_configuration().unwrap();
    assert_eq!(c.block_public_acls(), Some(true));
    assert_eq!(c.ignore_public_acls(), Some(true));
    assert_eq!(c.block_public_policy(), Some(true));
    assert_eq!(c.restrict_public_buckets(), Some(true));

    // Applying again (a job rerun after a crash) is harmless.
    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.check(&target, &params).await.unwrap().compliant);
}

#[tokio::test]
async fn bucket_without_configuration_or_tags() {
    let account = Account::new().await;
    let bucket = unique("rectify-bare");
    account
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let action = S3BlockPublicAccess::new(account.aws().await);
    let event = finding_event(
        &account.id,
        "S3.8",
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{bucket}"),
        Value::Null,
    );
    let target = action.target(&event).unwrap();

    let observed = action.check(&target, &json!({})).await.unwrap();
    assert!(!observed.compliant);
    assert_eq!(
        observed.state,
        json!({"block_public_acls": false, "ignore_public_acls": false,
            "block_public_policy": false, "restrict_public_buckets": false})
    );
    assert!(observed.tags.is_empty());
    let change = action.plan(&target, &json!({}), &observed).unwrap();
    action.apply(&target, &json!({}), &change).await.unwrap();
    assert!(action.check(&target, &json!({})).await.unwrap().compliant);
}

#[tokio::test]
async fn missing_bucket_is_not_found() {
    let account = Account::new().await;
    let action = S3BlockPublicAccess::new(account.aws().await);
    let event = finding_event(
        &account.id,
        "S3.8",
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{}", unique("rectify-gone")),
        Value::Null,
    );
    let target = action.target(&event).unwrap();
    let err = action.check(&target, &json!({})).await.unwrap_err();
    assert_eq!(
        err.class,
        rectify_model::ErrorClass::NotFound,
        "{}",
        err.message
    );
    assert!(
        err.message.starts_with(&format!(
            "s3:GetBucketPublicAccessBlock on {}: NoSuchBucket",
            target.resource_name()
        )),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn inventory_counts_the_accounts_buckets() {
    let account = Account::new().await;
    let s3 = account.s3();
    let action = S3BlockPublicAccess::new(account.aws().await);
    let first = unique("rectify-count");
    s3.create_bucket().bucket(&first).send().await.unwrap();
    let event = finding_event(
        &account.id,
        "S3.8",
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{first}"),
        Value::Null,
    );
    let target = action.target(&event).unwrap();
    let before = action
        .inventory(&target, &json!({}))
        .await
        .unwrap()
        .unwrap();
    let direct = s3.list_buckets().send().await.unwrap().buckets().len() as u64;
    assert_eq!(before, direct);
    for _ in 0..2 {
        s3.create_bucket()
            .bucket(unique("rectify-count"))
            .send()
            .await
            .unwrap();
    }
    let after = action
        .inventory(&target, &json!({}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, before + 2);
}
