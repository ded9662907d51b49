//! The S3 controls against moto: S3.1 (account Block Public Access), S3.5
//! (deny requests without TLS), S3.4 (default encryption), S3.9 (server
//! access logging), S3.6 (cross-account grants of sensitive actions): each
//! change, its intent checks, and its undo, every write read back with the
//! test's own SDK client.

use aws_sdk_s3::types::{Tag, Tagging};
use rectify_aws::actions::s3::access_logging::S3AccessLogging;
use rectify_aws::actions::s3::account_public_access_block::S3AccountPublicAccessBlock;
use rectify_aws::actions::s3::default_encryption::S3DefaultEncryption;
use rectify_aws::actions::s3::require_tls::S3RequireTls;
use rectify_aws::actions::s3::restrict_cross_account::S3RestrictCrossAccount;
use rectify_model::{Action, Change, Target};
use serde_json::{json, Value};

use crate::support::{
    account_finding_target, assert_undo_refused, finding_event, serve_website, unique, Account,
};

/// A bucket of a fresh account, and the target a finding about it gives.
async fn new_bucket(
    account: &Account,
    prefix: &str,
    control: &str,
    action: &dyn Action,
) -> (String, Target) {
    let bucket = unique(prefix);
    account
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let event = finding_event(
        &account.id,
        control,
        "AwsS3Bucket",
        &format!("arn:aws:s3:::{bucket}"),
        Value::Null,
    );
    (bucket, action.target(&event).unwrap())
}

/// The bucket policy as the test's client reads it; `None`: no policy.
pub(crate) async fn policy_of(account: &Account, bucket: &str) -> Option<Value> {
    match account.s3().get_bucket_policy().bucket(bucket).send().await {
        Ok(out) => Some(serde_json::from_str(out.policy().unwrap()).unwrap()),
        Err(e) => {
            assert_eq!(
                e.into_service_error().meta().code(),
                Some("NoSuchBucketPolicy")
            );
            None
        }
    }
}

pub(crate) async fn put_policy(account: &Account, bucket: &str, policy: &Value) {
    account
        .s3()
        .put_bucket_policy()
        .bucket(bucket)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
}

fn statements(policy: &Value) -> Vec<Value> {
    policy["Statement"].as_array().cloned().unwrap_or_default()
}

/// The account's Block Public Access as the test's client reads it; `None`:
/// no configuration.
async fn account_block(account: &Account) -> Option<(bool, bool, bool, bool)> {
    match account
        .s3control()
        .get_public_access_block()
        .account_id(&account.id)
        .send()
        .await
    {
        Ok(out) => {
            let c = out.public_access_block_configuration().unwrap();
            Some((
                c.block_public_acls().unwrap_or(false),
                c.ignore_public_acls().unwrap_or(false),
                c.block_public_policy().unwrap_or(false),
                c.restrict_public_buckets().unwrap_or(false),
            ))
        }
        Err(e) => {
            assert_eq!(
                e.into_service_error().meta().code(),
                Some("NoSuchPublicAccessBlockConfiguration")
            );
            None
        }
    }
}

/// S3.1: all four account settings turned on from no configuration (read
/// back with S3 Control), nothing to do once on, the undo deletes the
/// configuration; from partly on, the undo restores exactly those flags;
/// an undo after a later change is refused.
#[tokio::test]
async fn account_block_public_access_is_turned_on_and_undone() {
    let account = Account::new().await;
    let action = S3AccountPublicAccessBlock::new(account.aws().await);
    let target = account_finding_target(&action, &account.id, "S3.1");
    let params = json!({});
    assert_eq!(account_block(&account).await, None);

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert_eq!(observed.state["configured"], false);
    assert!(action.intent(&target, &params, &observed).is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.contains("every bucket of the account"),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant, "{}", after.state);
    assert!(action.left_in_place(&target, &params, &after).is_empty());
    assert_eq!(
        account_block(&account).await,
        Some((true, true, true, true))
    );
    // Once on: compliant, a rerun changes nothing.
    assert!(action.check(&target, &params).await.unwrap().compliant);
    action.apply(&target, &params, &change).await.unwrap();

    let undo = undone(&action, &target, &params, &change).await;
    assert!(
        undo.summary
            .contains("delete the Block Public Access configuration"),
        "{}",
        undo.summary
    );
    assert_eq!(account_block(&account).await, None);
    assert_undo_refused(&action, &target, &params, &change).await;

    // Partly on before: exactly those flags come back.
    account
        .s3control()
        .put_public_access_block()
        .account_id(&account.id)
        .public_access_block_configuration(
            aws_sdk_s3control::types::PublicAccessBlockConfiguration::builder()
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
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert_eq!(
        account_block(&account).await,
        Some((true, true, true, true))
    );
    undone(&action, &target, &params, &change).await;
    assert_eq!(
        account_block(&account).await,
        Some((true, false, true, false))
    );

    // The scanner lists the setting once, as the account.
    assert!(action.spec().account_wide);
    let listed = action.discover(&account.id, "eu-west-1").await.unwrap();
    assert_eq!(
        listed[0].resource_id,
        format!("AWS::::Account:{}", account.id)
    );
}

/// S3.1 for a finding that names another account than its own: refused
/// before any call.
#[tokio::test]
async fn account_block_public_access_refuses_another_account() {
    let account = Account::new().await;
    let action = S3AccountPublicAccessBlock::new(account.aws().await);
    let event = finding_event(
        &account.id,
        "S3.1",
        "AwsAccount",
        "AWS::::Account:444455556666",
        Value::Null,
    );
    assert!(action.target(&event).is_err());
}

/// S3.5: the statement merged into an existing policy, every other
/// statement kept as it was (read back); verify sees a statement the
/// control accepts; the undo takes out only that statement.
#[tokio::test]
async fn tls_statement_is_merged_and_removed_alone() {
    let account = Account::new().await;
    let action = S3RequireTls::new(account.aws().await);
    let (bucket, target) = new_bucket(&account, "rectify-tls", "S3.5", &action).await;
    let params = json!({});
    let existing = json!({"Version": "2012-10-17", "Id": "Existing", "Statement": [
        {"Sid": "PartnerReads", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
         "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")]},
        // Allowing TLS is not denying plain HTTP: the control still fails.
        {"Sid": "TlsAllowed", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": format!("arn:aws:s3:::{bucket}/*"),
         "Condition": {"Bool": {"aws:SecureTransport": "true"}}}
    ]});
    put_policy(&account, &bucket, &existing).await;
    let before = policy_of(&account, &bucket).await.unwrap();

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant, "{}", observed.state);
    assert!(action.intent(&target, &params, &observed).is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change
            .summary
            .contains("its 2 other statement(s) unchanged"),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    let verified = action.verify(&target, &params).await.unwrap();
    assert!(verified.compliant, "{}", verified.state);

    let now = policy_of(&account, &bucket).await.unwrap();
    let all = statements(&now);
    assert_eq!(all.len(), 3, "{now:#}");
    assert_eq!(all[..2], statements(&before)[..]);
    assert_eq!(now["Id"], "Existing");
    assert_eq!(
        all[2],
        json!({"Sid": "RectifyDenyInsecureTransport", "Effect": "Deny", "Principal": "*",
            "Action": "s3:*",
            "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    );
    // A rerun (a job cut off after the write) adds nothing.
    action.apply(&target, &params, &change).await.unwrap();
    assert_eq!(
        statements(&policy_of(&account, &bucket).await.unwrap()).len(),
        3
    );

    let undo = undone(&action, &target, &params, &change).await;
    assert!(
        undo.summary
            .contains("remove statement RectifyDenyInsecureTransport"),
        "{}",
        undo.summary
    );
    assert_eq!(policy_of(&account, &bucket).await.unwrap(), before);
}

/// S3.5 on a bucket without a policy: a policy of one statement is made;
/// the undo deletes it; an undo after someone changed the policy is
/// refused; a bucket that already denies plain HTTP is compliant.
#[tokio::test]
async fn tls_policy_from_nothing_and_compliant_and_changed_since() {
    let account = Account::new().await;
    let action = S3RequireTls::new(account.aws().await);
    let (bucket, target) = new_bucket(&account, "rectify-tls-new", "S3.5", &action).await;
    account
        .s3()
        .put_bucket_tagging()
        .bucket(&bucket)
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("team").value("data").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert_eq!(observed.state["policy"], Value::Null);
    assert_eq!(observed.tags["team"], "data");
    assert!(action.intent(&target, &params, &observed).is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.verify(&target, &params).await.unwrap().compliant);
    let made = policy_of(&account, &bucket).await.unwrap();
    assert_eq!(statements(&made).len(), 1);
    assert_eq!(made["Statement"][0]["Sid"], "RectifyDenyInsecureTransport");

    let undo = undone(&action, &target, &params, &change).await;
    assert!(
        undo.summary.contains("delete the policy"),
        "{}",
        undo.summary
    );
    assert_eq!(policy_of(&account, &bucket).await, None);

    // Applied again, then someone adds a statement: the undo is refused.
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    let mut edited = policy_of(&account, &bucket).await.unwrap();
    edited["Statement"].as_array_mut().unwrap().push(json!({
        "Sid": "Later", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
        "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}));
    put_policy(&account, &bucket, &edited).await;
    let now = assert_undo_refused(&action, &target, &params, &change).await;
    // The edited policy still denies plain HTTP.
    assert!(now.compliant);
    assert_eq!(
        statements(&policy_of(&account, &bucket).await.unwrap()).len(),
        2
    );
}

/// S3.5: a policy with its own denial of plain HTTP (CIS's form, objects
/// only) is compliant and left as it is.
#[tokio::test]
async fn tls_denial_of_its_own_is_compliant() {
    let account = Account::new().await;
    let action = S3RequireTls::new(account.aws().await);
    let (bucket, target) = new_bucket(&account, "rectify-tls-own", "S3.5", &action).await;
    let own = json!({"Version": "2012-10-17", "Statement": [{"Sid": "HttpsOnly",
        "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": format!("arn:aws:s3:::{bucket}/*"),
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]});
    put_policy(&account, &bucket, &own).await;
    let observed = action.check(&target, &params()).await.unwrap();
    assert!(observed.compliant, "{}", observed.state);
    assert_eq!(observed.state["denies_insecure"], "statement \"HttpsOnly\"");
    let read = policy_of(&account, &bucket).await.unwrap();
    assert_eq!(statements(&read).len(), 1);
    // The scanner lists the account's buckets of the region.
    let listed = action.discover(&account.id, "us-east-1").await.unwrap();
    assert!(
        listed
            .iter()
            .any(|t| t.resource_id == format!("arn:aws:s3:::{bucket}")),
        "{listed:?}"
    );
    assert!(action
        .discover(&account.id, "eu-west-1")
        .await
        .unwrap()
        .is_empty());
}

fn params() -> Value {
    json!({})
}

/// The undo of `change`, planned from the state read now, written, and
/// verified by the action; the caller reads the resource back.
async fn undone(action: &dyn Action, target: &Target, params: &Value, change: &Change) -> Change {
    let now = action.check(target, params).await.unwrap();
    let undo = action.revert_plan(target, params, change, &now).unwrap();
    action.revert(target, params, &undo).await.unwrap();
    assert!(action.verify_revert(target, params, &undo).await.unwrap());
    undo
}

/// The bucket's default encryption as the test's client reads it:
/// (algorithm, key, bucket key); `None`: no rule.
pub(crate) async fn encryption_of(
    account: &Account,
    bucket: &str,
) -> Option<(String, Option<String>, Option<bool>)> {
    match account
        .s3()
        .get_bucket_encryption()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => {
            let rule = &out.server_side_encryption_configuration().unwrap().rules()[0];
            let d = rule.apply_server_side_encryption_by_default().unwrap();
            Some((
                d.sse_algorithm().as_str().to_string(),
                d.kms_master_key_id().map(str::to_string),
                rule.bucket_key_enabled(),
            ))
        }
        Err(e) => {
            assert_eq!(
                e.into_service_error().meta().code(),
                Some("ServerSideEncryptionConfigurationNotFoundError")
            );
            None
        }
    }
}

/// S3.4: a bucket without a default encryption rule gets SSE-S3 (read
/// back); the undo deletes the rule again; an undo after a later change
/// is refused.
#[tokio::test]
async fn default_encryption_sse_s3_and_undo() {
    let account = Account::new().await;
    let action = S3DefaultEncryption::new(account.aws().await);
    let (bucket, target) = new_bucket(&account, "rectify-sse", "S3.4", &action).await;
    // moto may give new buckets S3's SSE-S3 default, as AWS does: start
    // from none.
    account
        .s3()
        .delete_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(encryption_of(&account, &bucket).await, None);
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert_eq!(observed.state, json!({"rule": null}));
    assert!(action.intent(&target, &params, &observed).is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.contains("SSE-S3 (AES256)"),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    let (alg, key, _) = encryption_of(&account, &bucket).await.unwrap();
    assert_eq!((alg.as_str(), key), ("AES256", None));

    let undo = undone(&action, &target, &params, &change).await;
    assert!(
        undo.summary.contains("delete the default encryption rule"),
        "{}",
        undo.summary
    );
    assert_eq!(encryption_of(&account, &bucket).await, None);
    assert_undo_refused(&action, &target, &params, &change).await;
}

/// S3.4 with `kms_key_id`: SSE-S3 is not enough, the bucket moves to
/// SSE-KMS with the key and a Bucket Key (read back); any rule complies
/// without the param; a bucket on another KMS key of its own is intent;
/// the undo brings SSE-S3 back.
#[tokio::test]
async fn default_encryption_with_a_kms_key() {
    let account = Account::new().await;
    let kms = account.kms();
    let key = |d: &'static str| {
        let kms = kms.clone();
        async move {
            kms.create_key()
                .description(d)
                .send()
                .await
                .unwrap()
                .key_metadata
                .unwrap()
        }
    };
    let chosen = key("buckets").await;
    let action = S3DefaultEncryption::new(account.aws().await);
    let (bucket, target) = new_bucket(&account, "rectify-kms", "S3.4", &action).await;
    account
        .s3()
        .put_bucket_encryption()
        .bucket(&bucket)
        .server_side_encryption_configuration(sse(
            aws_sdk_s3::types::ServerSideEncryption::Aes256,
            None,
        ))
        .send()
        .await
        .unwrap();
    assert!(action.check(&target, &json!({})).await.unwrap().compliant);

    let params = json!({"kms_key_id": chosen.key_id});
    action.validate_params(&params).unwrap();
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert!(action.intent(&target, &params, &observed).is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.verify(&target, &params).await.unwrap().compliant);
    let (alg, key_read, bucket_key) = encryption_of(&account, &bucket).await.unwrap();
    assert_eq!(alg, "aws:kms");
    assert!(
        key_read.as_deref() == Some(chosen.key_id.as_str()) || key_read == chosen.arn,
        "{key_read:?}"
    );
    assert_eq!(bucket_key, Some(true));

    undone(&action, &target, &params, &change).await;
    assert_eq!(encryption_of(&account, &bucket).await.unwrap().0, "AES256");

    // On a KMS key of its own, another key by param: intent.
    let own = key("own").await;
    account
        .s3()
        .put_bucket_encryption()
        .bucket(&bucket)
        .server_side_encryption_configuration(sse(
            aws_sdk_s3::types::ServerSideEncryption::AwsKms,
            Some(own.arn.clone().unwrap()),
        ))
        .send()
        .await
        .unwrap();
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let intent = action.intent(&target, &params, &observed);
    assert!(intent[0].contains("on purpose"), "{intent:?}");
}

fn sse(
    algorithm: aws_sdk_s3::types::ServerSideEncryption,
    key: Option<String>,
) -> aws_sdk_s3::types::ServerSideEncryptionConfiguration {
    aws_sdk_s3::types::ServerSideEncryptionConfiguration::builder()
        .rules(
            aws_sdk_s3::types::ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    aws_sdk_s3::types::ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(algorithm)
                        .set_kms_master_key_id(key)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .build()
        .unwrap()
}

/// Where the bucket logs, as the test's client reads it.
pub(crate) async fn logging_of(account: &Account, bucket: &str) -> Option<(String, String)> {
    let out = account
        .s3()
        .get_bucket_logging()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    out.logging_enabled()
        .map(|l| (l.target_bucket().to_string(), l.target_prefix().to_string()))
}

/// A log bucket whose policy lets S3's log delivery write to it.
pub(crate) async fn log_bucket(account: &Account) -> String {
    let logs = unique("rectify-logs");
    account
        .s3()
        .create_bucket()
        .bucket(&logs)
        .send()
        .await
        .unwrap();
    put_policy(
        account,
        &logs,
        &json!({"Version": "2012-10-17", "Statement": [{"Sid": "S3ServerAccessLogs",
            "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject", "Resource": format!("arn:aws:s3:::{logs}/*"),
            "Condition": {"StringEquals": {"aws:SourceAccount": account.id}}}]}),
    )
    .await;
    logs
}

/// S3.9: logging into the configured bucket under `<bucket>/` (read
/// back); the undo turns it off; an undo after a later change is refused.
#[tokio::test]
async fn access_logging_into_the_configured_bucket_and_undo() {
    let account = Account::new().await;
    let action = S3AccessLogging::new(account.aws().await);
    let logs = log_bucket(&account).await;
    let (bucket, target) = new_bucket(&account, "rectify-logged", "S3.9", &action).await;
    let params = json!({ "target_bucket": logs });
    action.validate_params(&params).unwrap();
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert!(action.intent(&target, &params, &observed).is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change
            .summary
            .contains(&format!("into s3://{logs}/{bucket}/")),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant, "{}", after.state);
    assert!(action.left_in_place(&target, &params, &after).is_empty());
    assert_eq!(
        logging_of(&account, &bucket).await,
        Some((logs.clone(), format!("{bucket}/")))
    );
    // Logging on (anywhere): compliant, nothing to change.
    let now = action.check(&target, &json!({})).await.unwrap();
    assert!(now.compliant);

    let undo = undone(&action, &target, &params, &change).await;
    assert!(undo.summary.contains("back to off"), "{}", undo.summary);
    assert_eq!(logging_of(&account, &bucket).await, None);
    assert_undo_refused(&action, &target, &params, &change).await;
}

/// S3.9 refuses without a configured log bucket, and for the log bucket
/// itself; nothing is written either time (read back).
#[tokio::test]
async fn access_logging_refuses_without_a_target_or_into_itself() {
    let account = Account::new().await;
    let action = S3AccessLogging::new(account.aws().await);
    let (bucket, target) = new_bucket(&account, "rectify-unlogged", "S3.9", &action).await;
    let observed = action.check(&target, &json!({})).await.unwrap();
    assert!(!observed.compliant);
    let err = action.plan(&target, &json!({}), &observed).unwrap_err();
    assert_eq!(err.class, rectify_model::ErrorClass::NotConfigured);
    assert!(
        err.message.contains("no log bucket configured"),
        "{}",
        err.message
    );
    let itself = json!({ "target_bucket": bucket });
    let err = action.plan(&target, &itself, &observed).unwrap_err();
    assert!(
        err.message.contains("does not log a bucket into itself"),
        "{}",
        err.message
    );
    assert_eq!(logging_of(&account, &bucket).await, None);
}

/// S3.6: the sensitive actions taken out of the statements that grant
/// them to another account (a statement left with none goes), every other
/// statement as it was (read back); the job waits for approval and names
/// the account; the undo puts the policy back; an undo after a later
/// change is refused.
#[tokio::test]
async fn cross_account_policy_actions_are_removed_and_restored() {
    let account = Account::new().await;
    let action = S3RestrictCrossAccount::new(account.aws().await);
    assert!(action.spec().approval_by_default);
    let (bucket, target) = new_bucket(&account, "rectify-shared", "S3.6", &action).await;
    let arn = format!("arn:aws:s3:::{bucket}");
    let objects = format!("arn:aws:s3:::{bucket}/*");
    let original = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "PartnerPipeline", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
         "Action": ["s3:GetObject", "s3:PutObject", "s3:PutObjectAcl"], "Resource": objects},
        {"Sid": "PartnerAdmin", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
         "Action": "s3:PutBucketPolicy", "Resource": arn},
        {"Sid": "OwnRole", "Effect": "Allow",
         "Principal": {"AWS": format!("arn:aws:iam::{}:root", account.id)},
         "Action": "s3:PutBucketAcl", "Resource": arn}
    ]});
    put_policy(&account, &bucket, &original).await;
    let before = policy_of(&account, &bucket).await.unwrap();
    let params = json!({});

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant, "{}", observed.state);
    let intent = action.intent(&target, &params, &observed);
    assert!(intent[0].contains("account(s) 444455556666"), "{intent:?}");
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change
            .summary
            .contains("statement \"PartnerPipeline\" (s3:PutObjectAcl for 444455556666)"),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant, "{}", after.state);
    assert!(action.left_in_place(&target, &params, &after).is_empty());

    let now = policy_of(&account, &bucket).await.unwrap();
    let all = statements(&now);
    assert_eq!(all.len(), 2, "{now:#}");
    assert_eq!(all[0]["Sid"], "PartnerPipeline");
    assert_eq!(all[0]["Action"], json!(["s3:GetObject", "s3:PutObject"]));
    // The account's own grant is not another account's: as it was.
    assert_eq!(all[1], statements(&before)[2]);

    undone(&action, &target, &params, &change).await;
    assert_eq!(policy_of(&account, &bucket).await.unwrap(), before);
    assert_undo_refused(&action, &target, &params, &change).await;
}

/// S3.6: a wildcard grant is left in place and named; a policy changed
/// between the plan and the write is not overwritten.
#[tokio::test]
async fn cross_account_wildcards_are_named_and_later_edits_kept() {
    let account = Account::new().await;
    let action = S3RestrictCrossAccount::new(account.aws().await);
    let (bucket, target) = new_bucket(&account, "rectify-shared-all", "S3.6", &action).await;
    let wildcard = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "PartnerAll", "Effect": "Allow", "Principal": {"AWS": "777788889999"},
         "Action": "s3:*", "Resource": format!("arn:aws:s3:::{bucket}/*")}]});
    put_policy(&account, &bucket, &wildcard).await;
    let params = json!({});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(observed.compliant);
    let left = action.left_in_place(&target, &params, &observed);
    assert!(left[0].contains("grants s3:* to 777788889999"), "{left:?}");

    let narrow = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "PartnerAcl", "Effect": "Allow", "Principal": {"AWS": "777788889999"},
         "Action": "s3:PutObjectAcl", "Resource": format!("arn:aws:s3:::{bucket}/*")}]});
    put_policy(&account, &bucket, &narrow).await;
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    // Someone edits the policy while the job waits for approval.
    put_policy(&account, &bucket, &wildcard).await;
    let err = action.apply(&target, &params, &change).await.unwrap_err();
    assert!(err.message.contains("has changed since"), "{}", err.message);
    assert_eq!(
        statements(&policy_of(&account, &bucket).await.unwrap())[0]["Sid"],
        "PartnerAll"
    );
}

/// S3.5 on a bucket that hosts a static website (HTTP-only endpoint):
/// intent, the job waits for a person.
#[tokio::test]
async fn tls_on_a_website_bucket_is_intent() {
    let account = Account::new().await;
    let action = S3RequireTls::new(account.aws().await);
    let (bucket, target) = new_bucket(&account, "rectify-tls-site", "S3.5", &action).await;
    serve_website(&account.s3(), &bucket).await;
    let observed = action.check(&target, &params()).await.unwrap();
    assert!(!observed.compliant);
    let intent = action.intent(&target, &params(), &observed);
    assert!(intent[0].contains("hosts a static website"), "{intent:?}");
    assert_eq!(policy_of(&account, &bucket).await, None);
}
