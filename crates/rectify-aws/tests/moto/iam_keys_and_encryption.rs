//! IAM.3, IAM.8/IAM.22 (access keys and passwords), KMS.4, SQS.1, SNS.1,
//! ECR.1 and Redshift.1 against moto: each change, its intent checks, what
//! it leaves in place, and its undo, every write read back with the test's
//! own SDK client.
//!
//! moto cannot date a key or a password in the past: the ages these tests
//! need come from `max_age_days` / `unused_days` 0 (every credential is
//! older than 0 days) and 1 (none is).

use aws_sdk_iam::types::StatusType;
use aws_sdk_sqs::types::QueueAttributeName;
use rectify_aws::actions::ecr::enable_scan_on_push::EcrEnableScanOnPush;
use rectify_aws::actions::iam::deactivate_old_access_keys::IamDeactivateOldAccessKeys;
use rectify_aws::actions::iam::remove_unused_credentials::IamRemoveUnusedCredentials;
use rectify_aws::actions::kms::enable_key_rotation::KmsEnableKeyRotation;
use rectify_aws::actions::redshift::make_cluster_private::RedshiftMakeClusterPrivate;
use rectify_aws::actions::sns::encrypt_topic::SnsEncryptTopic;
use rectify_aws::actions::sqs::encrypt_queue::SqsEncryptQueue;
use rectify_model::Action;
use serde_json::{json, Value};

use crate::support::{
    api_call, config_evaluation, finding_event, finding_target, test_sdk_config, undo_then_refuse,
    unique, Account, REGION,
};

/// A user with `keys` new access keys: its ARN, id and key ids.
pub(crate) async fn user_with_keys(
    account: &Account,
    keys: usize,
) -> (String, String, String, Vec<String>) {
    let iam = account.iam();
    let name = unique("user");
    let user = iam
        .create_user()
        .user_name(&name)
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..keys {
        let key = iam
            .create_access_key()
            .user_name(&name)
            .send()
            .await
            .unwrap()
            .access_key
            .unwrap();
        ids.push(key.access_key_id);
    }
    (name, user.arn, user.user_id, ids)
}

/// Signs one request with `key`: moto records it as the key's last use.
async fn use_key(account: &Account, user: &str, key: &str) {
    let secret_free = aws_credential_types::Credentials::new(key, "test", None, None, "key");
    let config = aws_sdk_iam::config::Builder::from(&test_sdk_config().await)
        .credentials_provider(secret_free)
        .build();
    aws_sdk_iam::Client::from_conf(config)
        .list_access_keys()
        .user_name(user)
        .send()
        .await
        .unwrap();
    let last = account
        .iam()
        .get_access_key_last_used()
        .access_key_id(key)
        .send()
        .await
        .unwrap();
    assert!(last.access_key_last_used.unwrap().last_used_date.is_some());
}

/// Each key's status, as the test reads it.
pub(crate) async fn statuses(account: &Account, user: &str) -> Vec<(String, StatusType)> {
    let mut keys: Vec<(String, StatusType)> = account
        .iam()
        .list_access_keys()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key_metadata
        .into_iter()
        .map(|k| (k.access_key_id.unwrap(), k.status.unwrap()))
        .collect();
    keys.sort();
    keys
}

fn all(keys: &[String], status: StatusType) -> Vec<(String, StatusType)> {
    let mut v: Vec<_> = keys.iter().map(|k| (k.clone(), status.clone())).collect();
    v.sort();
    v
}

/// IAM.3: old keys deactivated (never deleted), a recently used one named
/// as a reason to wait; the undo re-activates exactly those keys; a second
/// undo after they changed is refused.
#[tokio::test]
async fn old_access_keys_are_deactivated_and_reactivated() {
    let account = Account::new().await;
    let (user, arn, _, keys) = user_with_keys(&account, 2).await;
    use_key(&account, &user, &keys[0]).await;
    let action = IamDeactivateOldAccessKeys::new(account.aws().await);
    let event = finding_event(&account.id, "IAM.3", "AwsIamUser", &arn, Value::Null);
    let target = action.target(&event).unwrap();

    // A day's grace: both keys are new, nothing to do.
    let young = json!({"max_age_days": 1});
    let observed = action.check(&target, &young).await.unwrap();
    assert!(observed.compliant, "{}", observed.state);
    let nothing = action.plan(&target, &young, &observed).unwrap();
    assert_eq!(nothing.after["deactivated"], json!([]));

    let params = json!({"max_age_days": 0});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let intent = action.intent(&target, &params, &observed);
    assert_eq!(intent.len(), 1, "{intent:?}");
    assert!(
        intent[0].contains(&keys[0]) && intent[0].contains("last used 0 day(s) ago"),
        "{intent:?}"
    );
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.starts_with("deactivate (not delete)"),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    assert_eq!(
        statuses(&account, &user).await,
        all(&keys, StatusType::Inactive)
    );
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    assert!(action.left_in_place(&target, &params, &after).is_empty());

    undo_then_refuse(&action, &target, &params, &change, &after).await;
    assert_eq!(
        statuses(&account, &user).await,
        all(&keys, StatusType::Active)
    );

    // A key listed in the keep tag stays active and is reported; the
    // other one is deactivated.
    account
        .iam()
        .tag_user()
        .user_name(&user)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("rectify:keep-access-keys")
                .value(&keys[1])
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    assert_eq!(change.after["deactivated"], json!([keys[0]]));
    action.apply(&target, &params, &change).await.unwrap();
    let read = statuses(&account, &user).await;
    assert!(
        read.contains(&(keys[0].clone(), StatusType::Inactive)),
        "{read:?}"
    );
    assert!(
        read.contains(&(keys[1].clone(), StatusType::Active)),
        "{read:?}"
    );
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    let left = action.left_in_place(&target, &params, &after);
    assert!(left.len() == 1 && left[0].contains(&keys[1]), "{left:?}");
}

/// The user of a Config evaluation (by user id) and of a CloudTrail call
/// (by name); a finding naming a user of another account is refused.
#[tokio::test]
async fn access_key_targets_from_config_and_cloudtrail() {
    let account = Account::new().await;
    let (user, arn, user_id, _) = user_with_keys(&account, 1).await;
    let action = IamDeactivateOldAccessKeys::new(account.aws().await);
    let params = json!({"max_age_days": 0});

    let evaluation = config_evaluation(
        &account.id,
        "access-keys-rotated",
        "AWS::IAM::User",
        &user_id,
    );
    let target = action.target(&evaluation).unwrap();
    assert_eq!(target.resource_id, user_id);
    let observed = action.check(&target, &params).await.unwrap();
    assert_eq!(observed.state["user"], user);
    assert!(!observed.compliant);

    let call = api_call(
        &account.id,
        "aws.iam",
        "UpdateAccessKey",
        json!({"userName": user, "accessKeyId": "AKIAEXAMPLE", "status": "Active"}),
    );
    assert_eq!(action.target(&call).unwrap().resource_id, arn);
    // Without a user name the call was on the caller's own keys.
    let own = api_call(
        &account.id,
        "aws.iam",
        "UpdateAccessKey",
        json!({"accessKeyId": "AKIA1"}),
    );
    assert!(action
        .target(&own)
        .unwrap()
        .resource_id
        .ends_with(":user/mallory"));

    let foreign = finding_event(
        &account.id,
        "IAM.3",
        "AwsIamUser",
        "arn:aws:iam::444455556666:user/bob",
        Value::Null,
    );
    assert!(action.target(&foreign).is_err());
}

/// IAM.8/IAM.22: an unused key deactivated; the unused password left in
/// place and reported unless `remove_unused_password`, which removes it
/// (read back) and waits for a person; the undo gives the key back and
/// says the password cannot be.
#[tokio::test]
async fn unused_credentials_keys_deactivated_password_kept_unless_asked() {
    let account = Account::new().await;
    let (user, arn, _, keys) = user_with_keys(&account, 1).await;
    let iam = account.iam();
    iam.create_login_profile()
        .user_name(&user)
        .password("Correct-Horse-9-Battery")
        .send()
        .await
        .unwrap();
    let action = IamRemoveUnusedCredentials::new(account.aws().await);
    let event = finding_event(&account.id, "IAM.8", "AwsIamUser", &arn, Value::Null);
    let target = action.target(&event).unwrap();

    let fresh = json!({"unused_days": 1});
    assert!(action.check(&target, &fresh).await.unwrap().compliant);

    let params = json!({"unused_days": 0});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert!(action.intent(&target, &params, &observed).is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.contains("is left in place"),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    assert_eq!(
        statuses(&account, &user).await,
        all(&keys, StatusType::Inactive)
    );
    iam.get_login_profile()
        .user_name(&user)
        .send()
        .await
        .unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    let left = action.left_in_place(&target, &params, &after);
    assert!(
        left.len() == 1 && left[0].contains("console password"),
        "{left:?}"
    );

    // Asked to remove the password: a reason to wait, then gone.
    let removing = json!({"unused_days": 0, "remove_unused_password": true});
    let observed = action.check(&target, &removing).await.unwrap();
    assert!(!observed.compliant);
    let intent = action.intent(&target, &removing, &observed);
    assert!(
        intent.iter().any(|r| r.contains("cannot be undone")),
        "{intent:?}"
    );
    let removal = action.plan(&target, &removing, &observed).unwrap();
    assert_eq!(removal.after["password_removed"], true);
    action.apply(&target, &removing, &removal).await.unwrap();
    let gone = iam
        .get_login_profile()
        .user_name(&user)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&gone),
        Some("NoSuchEntity")
    );
    let after = action.verify(&target, &removing).await.unwrap();
    assert!(after.compliant);
    assert!(action.left_in_place(&target, &removing, &after).is_empty());

    // The first change's undo: the key is active again.
    let now = action.check(&target, &params).await.unwrap();
    let undo = action.revert_plan(&target, &params, &change, &now).unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(
        statuses(&account, &user).await,
        all(&keys, StatusType::Active)
    );
    // The second one's undo (nothing to re-activate) says the password
    // cannot be given back; after the key came back, any undo of the
    // first change is refused.
    let now = action.check(&target, &removing).await.unwrap();
    let note = action
        .revert_plan(&target, &removing, &removal, &now)
        .unwrap();
    assert!(
        note.summary.contains("cannot be restored"),
        "{}",
        note.summary
    );
    let refused = action
        .revert_plan(&target, &params, &change, &now)
        .unwrap_err();
    assert!(
        refused.message.contains("has changed since"),
        "{}",
        refused.message
    );
}

pub(crate) async fn rotation(account: &Account, key: &str) -> bool {
    account
        .kms()
        .get_key_rotation_status()
        .key_id(key)
        .send()
        .await
        .unwrap()
        .key_rotation_enabled
}

/// KMS.4: rotation turned on (read back) and off again by the undo; an
/// undo after rotation changed since is refused; an asymmetric key is out
/// of scope, left as it is and reported.
#[tokio::test]
async fn kms_key_rotation_on_and_undone() {
    let account = Account::new().await;
    let kms = account.kms();
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let (key_id, arn) = (key.key_id, key.arn.unwrap());
    let action = KmsEnableKeyRotation::new(account.aws().await);
    let event = finding_event(&account.id, "KMS.4", "AwsKmsKey", &arn, Value::Null);
    let target = action.target(&event).unwrap();
    let params = json!({});

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert!(action.intent(&target, &params, &observed).is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert!(rotation(&account, &key_id).await);
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    assert!(action.left_in_place(&target, &params, &after).is_empty());
    // Compliant now: planning again changes nothing.
    let again = action.plan(&target, &params, &after).unwrap();
    assert!(again.summary.contains("already on"), "{}", again.summary);

    undo_then_refuse(&action, &target, &params, &change, &after).await;
    assert!(!rotation(&account, &key_id).await);

    // The key of a DisableKeyRotation call and of a Config evaluation.
    let call = api_call(
        &account.id,
        "aws.kms",
        "DisableKeyRotation",
        json!({"keyId": key_id}),
    );
    assert_eq!(action.target(&call).unwrap().resource_id, arn);
    let evaluation = config_evaluation(
        &account.id,
        "cmk-backing-key-rotation-enabled",
        "AWS::KMS::Key",
        &key_id,
    );
    assert_eq!(action.target(&evaluation).unwrap().resource_id, arn);

    // An asymmetric key: KMS cannot rotate it; nothing is written.
    let rsa = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::Rsa2048)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let rsa_target = finding_target(
        &action,
        &account.id,
        "KMS.4",
        "AwsKmsKey",
        rsa.arn.as_deref().unwrap(),
    );
    let observed = action.check(&rsa_target, &params).await.unwrap();
    assert!(observed.compliant);
    let left = action.left_in_place(&rsa_target, &params, &observed);
    assert!(left.len() == 1 && left[0].contains("RSA_2048"), "{left:?}");
    let change = action.plan(&rsa_target, &params, &observed).unwrap();
    action.apply(&rsa_target, &params, &change).await.unwrap();
    assert!(!rotation(&account, &rsa.key_id).await);
    // Only the customer managed symmetric key is listed by the scanner.
    let listed = action.discover(&account.id, REGION).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|t| t.resource_id.as_str()).collect();
    assert_eq!(ids, [arn.as_str()]);
}

pub(crate) async fn queue_encryption(
    account: &Account,
    url: &str,
) -> (Option<String>, Option<String>) {
    let attrs = account
        .sqs()
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::SqsManagedSseEnabled)
        .attribute_names(QueueAttributeName::KmsMasterKeyId)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    (
        attrs
            .get(&QueueAttributeName::SqsManagedSseEnabled)
            .cloned(),
        attrs
            .get(&QueueAttributeName::KmsMasterKeyId)
            .filter(|k| !k.is_empty())
            .cloned(),
    )
}

/// SQS.1: SSE-SQS turned on (read back) and off by the undo; a refused
/// undo after a later change; with a KMS key by param, a queue that SNS
/// sends to waits for approval, and the key is set (read back).
#[tokio::test]
async fn sqs_queue_encrypted_and_undone() {
    let account = Account::new().await;
    let sqs = account.sqs();
    let name = unique("queue");
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::SqsManagedSseEnabled, "false")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = format!("arn:aws:sqs:{REGION}:{}:{name}", account.id);
    let action = SqsEncryptQueue::new(account.aws().await);
    let target = finding_target(&action, &account.id, "SQS.1", "AwsSqsQueue", &arn);
    let params = json!({});

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant, "{}", observed.state);
    assert!(action.intent(&target, &params, &observed).is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(change.summary.contains("SSE-SQS"), "{}", change.summary);
    action.apply(&target, &params, &change).await.unwrap();
    assert_eq!(
        queue_encryption(&account, &url).await,
        (Some("true".into()), None)
    );
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);

    undo_then_refuse(&action, &target, &params, &change, &after).await;
    assert_eq!(
        queue_encryption(&account, &url).await,
        (Some("false".into()), None)
    );

    // A KMS key by param, on a queue SNS sends to.
    let key = account
        .kms()
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage", "Resource": arn}]});
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::Policy, policy.to_string())
        .send()
        .await
        .unwrap();
    let with_key = json!({ "kms_key_id": key });
    let observed = action.check(&target, &with_key).await.unwrap();
    let intent = action.intent(&target, &with_key, &observed);
    assert!(
        intent.len() == 1 && intent[0].contains("sns.amazonaws.com"),
        "{intent:?}"
    );
    let change = action.plan(&target, &with_key, &observed).unwrap();
    action.apply(&target, &with_key, &change).await.unwrap();
    assert_eq!(queue_encryption(&account, &url).await.1, Some(key.clone()));
    assert!(action.verify(&target, &with_key).await.unwrap().compliant);

    // The queue of a SetQueueAttributes call and of a Config evaluation;
    // another account's queue URL is refused.
    let call = api_call(
        &account.id,
        "aws.sqs",
        "SetQueueAttributes",
        json!({"queueUrl": url, "attributes": {"SqsManagedSseEnabled": "false"}}),
    );
    assert_eq!(action.target(&call).unwrap().resource_id, arn);
    let evaluation = config_evaluation(&account.id, "sqs-queue-encrypted", "AWS::SQS::Queue", &url);
    assert_eq!(action.target(&evaluation).unwrap().resource_id, arn);
    let foreign = api_call(
        &account.id,
        "aws.sqs",
        "SetQueueAttributes",
        json!({"queueUrl": format!("https://sqs.{REGION}.amazonaws.com/444455556666/{name}")}),
    );
    assert!(action.target(&foreign).is_err());
}

pub(crate) async fn topic_key(account: &Account, arn: &str) -> Option<String> {
    account
        .sns()
        .get_topic_attributes()
        .topic_arn(arn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default()
        .get("KmsMasterKeyId")
        .filter(|k| !k.is_empty())
        .cloned()
}

/// SNS.1: alias/aws/sns set (read back) and removed by the undo; a
/// refused undo after a later change; a topic CloudWatch publishes to
/// waits for approval.
#[tokio::test]
async fn sns_topic_encrypted_and_undone() {
    let account = Account::new().await;
    let sns = account.sns();
    let arn = sns
        .create_topic()
        .name(unique("topic"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let action = SnsEncryptTopic::new(account.aws().await);
    let target = finding_target(&action, &account.id, "SNS.1", "AwsSnsTopic", &arn);
    let params = json!({});

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert!(action.intent(&target, &params, &observed).is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert_eq!(
        topic_key(&account, &arn).await.as_deref(),
        Some("alias/aws/sns")
    );
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);

    undo_then_refuse(&action, &target, &params, &change, &after).await;
    assert_eq!(topic_key(&account, &arn).await, None);

    // CloudWatch alarms publish to it: the AWS managed key would lose them.
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish", "Resource": arn}]});
    sns.set_topic_attributes()
        .topic_arn(&arn)
        .attribute_name("Policy")
        .attribute_value(policy.to_string())
        .send()
        .await
        .unwrap();
    let observed = action.check(&target, &params).await.unwrap();
    let intent = action.intent(&target, &params, &observed);
    assert!(
        intent.len() == 1 && intent[0].contains("cloudwatch.amazonaws.com"),
        "{intent:?}"
    );

    let call = api_call(
        &account.id,
        "aws.sns",
        "SetTopicAttributes",
        json!({"topicArn": arn, "attributeName": "KmsMasterKeyId", "attributeValue": ""}),
    );
    assert_eq!(action.target(&call).unwrap().resource_id, arn);
    let evaluation = config_evaluation(&account.id, "sns-encrypted-kms", "AWS::SNS::Topic", &arn);
    assert_eq!(action.target(&evaluation).unwrap().resource_id, arn);
}

pub(crate) async fn scan_on_push(account: &Account, name: &str) -> bool {
    account
        .ecr()
        .describe_repositories()
        .repository_names(name)
        .send()
        .await
        .unwrap()
        .repositories
        .unwrap()[0]
        .image_scanning_configuration
        .as_ref()
        .unwrap()
        .scan_on_push
}

/// ECR.1: scan on push turned on (read back); the undo (see below for
/// what moto cannot do).
#[tokio::test]
async fn ecr_scan_on_push_and_undone() {
    let account = Account::new().await;
    let name = format!("team/{}", unique("app"));
    let arn = account
        .ecr()
        .create_repository()
        .repository_name(&name)
        .send()
        .await
        .unwrap()
        .repository
        .unwrap()
        .repository_arn
        .unwrap();
    let action = EcrEnableScanOnPush::new(account.aws().await);
    let target = finding_target(&action, &account.id, "ECR.1", "AwsEcrRepository", &arn);
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert!(scan_on_push(&account, &name).await);
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);

    // The undo sends scanOnPush false. moto cannot take it: the SDK leaves
    // a false `scanOnPush` out of the request (the model's default, which
    // AWS applies) and moto keeps the old value when it is missing. The
    // undo is made and `verify_revert` tells what it reads back; the
    // refusal of an undo after a later change is tested in the action's
    // unit tests, since moto cannot turn scanning off.
    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    assert!(undo.summary.contains("back off"), "{}", undo.summary);
    action.revert(&target, &params, &undo).await.unwrap();
    let reverted = action.verify_revert(&target, &params, &undo).await.unwrap();
    assert_eq!(reverted, !scan_on_push(&account, &name).await);

    let call = api_call(
        &account.id,
        "aws.ecr",
        "PutImageScanningConfiguration",
        json!({"repositoryName": name, "imageScanningConfiguration": {"scanOnPush": false}}),
    );
    assert_eq!(action.target(&call).unwrap().resource_id, arn);
    let evaluation = config_evaluation(
        &account.id,
        "ecr-private-image-scanning-enabled",
        "AWS::ECR::Repository",
        &name,
    );
    assert_eq!(action.target(&evaluation).unwrap().resource_id, arn);
    let listed = action.discover(&account.id, REGION).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].resource_id, arn);
}

pub(crate) async fn cluster_public(account: &Account, name: &str) -> bool {
    account
        .redshift()
        .describe_clusters()
        .cluster_identifier(name)
        .send()
        .await
        .unwrap()
        .clusters
        .unwrap()[0]
        .publicly_accessible
        .unwrap()
}

/// Redshift.1: made private (read back) and public again by the undo; a
/// refused undo after a later change.
#[tokio::test]
async fn redshift_cluster_made_private_and_undone() {
    let account = Account::new().await;
    let name = unique("analytics");
    account
        .redshift()
        .create_cluster()
        .cluster_identifier(&name)
        .node_type("ra3.xlplus")
        .cluster_type("single-node")
        .master_username("admin")
        .master_user_password("Secret-Passw0rd")
        .publicly_accessible(true)
        .send()
        .await
        .unwrap();
    let arn = format!("arn:aws:redshift:{REGION}:{}:cluster:{name}", account.id);
    let action = RedshiftMakeClusterPrivate::new(account.aws().await);
    assert!(action.spec().approval_by_default);
    let target = finding_target(
        &action,
        &account.id,
        "Redshift.1",
        "AwsRedshiftCluster",
        &arn,
    );
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert!(action.intent(&target, &params, &observed).is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert!(!cluster_public(&account, &name).await);
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);

    undo_then_refuse(&action, &target, &params, &change, &after).await;
    assert!(cluster_public(&account, &name).await);

    let call = api_call(
        &account.id,
        "aws.redshift",
        "ModifyCluster",
        json!({"clusterIdentifier": name, "publiclyAccessible": true}),
    );
    assert_eq!(action.target(&call).unwrap().resource_id, arn);
    let evaluation = config_evaluation(
        &account.id,
        "redshift-cluster-public-access-check",
        "AWS::Redshift::Cluster",
        &name,
    );
    assert_eq!(action.target(&evaluation).unwrap().resource_id, arn);
}
