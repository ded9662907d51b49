use aws_sdk_s3::types::PublicAccessBlockConfiguration;
use rectify_aws::S3BlockPublicAccess;
use rectify_model::Action;
use serde_json::{json, Value};

use crate::support::{assert_undo_refused, finding_target, serve_website, unique, Account};

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
    crate::support::tag_bucket(&s3, &bucket, "owner", "payments").await;

    let action = S3BlockPublicAccess::new(account.aws().await);
    let target = finding_target(
        &action,
        &account.id,
        "S3.8",
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{bucket}"),
    );
    let params = json!({});

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert_eq!(
        observed.state,
        json!({"block_public_acls": true, "ignore_public_acls": false,
            "block_public_policy": false, "restrict_public_buckets": false,
            "configured": true, "website": false, "public_read": [], "cloudfront": []})
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
            "block_public_policy": true, "restrict_public_buckets": true,
            "configured": true})
    );

    action.apply(&target, &params, &change).await.unwrap();
    let verified = action.verify(&target, &params).await.unwrap();
    assert!(verified.compliant);
    assert_eq!(verified.state["configured"], true);

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
    let target = finding_target(
        &action,
        &account.id,
        "S3.8",
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{bucket}"),
    );

    let observed = action.check(&target, &json!({})).await.unwrap();
    assert!(!observed.compliant);
    assert_eq!(
        observed.state,
        json!({"block_public_acls": false, "ignore_public_acls": false,
            "block_public_policy": false, "restrict_public_buckets": false,
            "configured": false, "website": false, "public_read": [], "cloudfront": []})
    );
    assert!(observed.tags.is_empty());
    // Private, without the settings (S3.8): nothing suggests intent.
    assert!(action.intent(&target, &json!({}), &observed).is_empty());
    let change = action.plan(&target, &json!({}), &observed).unwrap();
    action.apply(&target, &json!({}), &change).await.unwrap();
    assert!(action.check(&target, &json!({})).await.unwrap().compliant);
}

#[tokio::test]
async fn missing_bucket_is_not_found() {
    let account = Account::new().await;
    let action = S3BlockPublicAccess::new(account.aws().await);
    let target = finding_target(
        &action,
        &account.id,
        "S3.8",
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{}", unique("rectify-gone")),
    );
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
    let target = finding_target(
        &action,
        &account.id,
        "S3.8",
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{first}"),
    );
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

/// A bucket and an action bound to its account.
async fn bucket(prefix: &str) -> (Account, String, S3BlockPublicAccess, rectify_model::Target) {
    let account = Account::new().await;
    let bucket = unique(prefix);
    account
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let action = S3BlockPublicAccess::new(account.aws().await);
    let target = finding_target(
        &action,
        &account.id,
        "S3.2",
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{bucket}"),
    );
    (account, bucket, action, target)
}

/// The intent reasons of the bucket's check.
async fn intent_of(action: &S3BlockPublicAccess, target: &rectify_model::Target) -> Vec<String> {
    let observed = action.check(target, &json!({})).await.unwrap();
    assert!(!observed.compliant);
    action.intent(target, &json!({}), &observed)
}

#[tokio::test]
async fn a_static_website_is_intent() {
    let (account, bucket, action, target) = bucket("rectify-site").await;
    serve_website(&account.s3(), &bucket).await;
    let intent = intent_of(&action, &target).await;
    assert!(intent[0].contains("hosts a static website"), "{intent:?}");
}

#[tokio::test]
async fn a_public_read_policy_is_intent_unless_narrowed() {
    let (account, bucket, action, target) = bucket("rectify-downloads").await;
    let put = |statement: Value| {
        let s3 = account.s3();
        let bucket = bucket.clone();
        async move {
            s3.put_bucket_policy()
                .bucket(&bucket)
                .policy(json!({"Version": "2012-10-17", "Statement": [statement]}).to_string())
                .send()
                .await
                .unwrap();
        }
    };
    put(
        json!({"Sid": "PublicDownloads", "Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}),
    )
    .await;
    let intent = intent_of(&action, &target).await;
    assert!(
        intent[0].contains("\"PublicDownloads\" grants s3:GetObject to everyone"),
        "{intent:?}"
    );
    // The same grant from one VPC endpoint only: not public.
    put(
        json!({"Sid": "FromTheVpc", "Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*"),
        "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}),
    )
    .await;
    assert!(intent_of(&action, &target).await.is_empty());
}

#[tokio::test]
async fn a_public_read_acl_is_intent() {
    let (account, bucket, action, target) = bucket("rectify-acl").await;
    account
        .s3()
        .put_bucket_acl()
        .bucket(&bucket)
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let intent = intent_of(&action, &target).await;
    assert!(
        intent[0].contains("the bucket ACL grants READ to AllUsers"),
        "{intent:?}"
    );
}

#[tokio::test]
async fn a_cloudfront_origin_is_intent() {
    let (account, bucket, action, target) = bucket("rectify-origin").await;
    let distribution = format!(
        "arn:aws:cloudfront::{}:distribution/E2QWRUHEXAMPLE",
        account.id
    );
    account
        .s3()
        .put_bucket_policy()
        .bucket(&bucket)
        .policy(
            json!({"Version": "2012-10-17", "Statement": [{
                "Sid": "AllowCloudFrontServicePrincipal", "Effect": "Allow",
                "Principal": {"Service": "cloudfront.amazonaws.com"},
                "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*"),
                "Condition": {"StringEquals": {"AWS:SourceArn": distribution}}}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let intent = intent_of(&action, &target).await;
    assert!(
        intent[0].contains("is a CloudFront origin") && intent[0].contains(&distribution),
        "{intent:?}"
    );
}

/// Undo: the flags as they were, or no configuration at all when the
/// bucket had none; refused once the settings changed since.
#[tokio::test]
async fn undo_restores_the_flags_or_deletes_the_configuration() {
    let (account, bucket, action, target) = bucket("rectify-undo").await;
    let s3 = account.s3();
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.check(&target, &params).await.unwrap();
    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    assert!(
        undo.summary
            .contains("delete the Block Public Access configuration"),
        "{}",
        undo.summary
    );
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    let gone = s3.get_public_access_block().bucket(&bucket).send().await;
    assert_eq!(
        gone.unwrap_err().into_service_error().meta().code(),
        Some("NoSuchPublicAccessBlockConfiguration")
    );
    // Changed since (no configuration now): a second undo refuses.
    assert_undo_refused(&action, &target, &params, &change).await;

    // Partly on before: exactly those flags come back.
    s3.put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(false)
                .block_public_policy(true)
                .restrict_public_buckets(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.check(&target, &params).await.unwrap();
    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    let read = s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let c = read.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            c.block_public_acls(),
            c.ignore_public_acls(),
            c.block_public_policy(),
            c.restrict_public_buckets()
        ),
        (Some(true), Some(false), Some(true), Some(false))
    );
}
