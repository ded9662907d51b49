//! Credentials against moto, through a recording proxy to see exactly which
//! STS calls were made.

mod support;

use aws_credential_types::provider::ProvideCredentials;
use rectify_aws::{AccountAccess, Aws};
use rectify_model::ErrorClass;

use support::{harness_recording, settings, unique, Account, OWN_ACCOUNT, REGION};

async fn access_key(cfg: &aws_config::SdkConfig) -> String {
    cfg.credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap()
        .access_key_id()
        .to_string()
}

async fn caller_account(cfg: &aws_config::SdkConfig) -> String {
    aws_sdk_sts::Client::new(cfg)
        .get_caller_identity()
        .send()
        .await
        .unwrap()
        .account()
        .unwrap()
        .to_string()
}

/// The recorded `AssumeRole` requests for `role_arn`.
fn assume_role_requests(role_arn: &str) -> Vec<String> {
    let encoded = role_arn.replace(':', "%3A").replace('/', "%2F");
    harness_recording()
        .recorder
        .as_ref()
        .unwrap()
        .requests()
        .into_iter()
        .filter(|r| r.contains("Action=AssumeRole") && r.contains(&encoded))
        .collect()
}

#[tokio::test]
async fn assumed_role_lands_in_its_account_and_is_cached() {
    harness_recording();
    let account = Account::new().await;
    let external_id = unique("ext");
    let aws = Aws::new(settings(vec![AccountAccess {
        id: account.id.clone(),
        role_arn: Some(account.role_arn()),
        external_id: Some(external_id.clone()),
    }]))
    .await;
    assert!(
        aws.s3_force_path_style(),
        "endpoint override set: path style by default"
    );

    let cfg = aws.config_for(&account.id, REGION).await.unwrap();
    assert_eq!(caller_account(&cfg).await, account.id);

    // A bucket made through the assumed session is in that account.
    let bucket = unique("rectify-cred");
    aws.s3(&cfg)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let listed = account.s3().list_buckets().send().await.unwrap();
    assert!(listed
        .buckets()
        .iter()
        .any(|b| b.name() == Some(bucket.as_str())));
    let own = Account::own()
        .await
        .s3()
        .list_buckets()
        .send()
        .await
        .unwrap();
    assert!(!own
        .buckets()
        .iter()
        .any(|b| b.name() == Some(bucket.as_str())));

    // The second and third configs (another region) reuse the session.
    let again = aws.config_for(&account.id, REGION).await.unwrap();
    let elsewhere = aws.config_for(&account.id, "eu-west-1").await.unwrap();
    assert_eq!(elsewhere.region().unwrap().as_ref(), "eu-west-1");
    let key = access_key(&cfg).await;
    assert_eq!(access_key(&again).await, key);
    assert_eq!(access_key(&elsewhere).await, key);
    assert_eq!(aws.assume_role_calls(), 1);

    let calls = assume_role_requests(&account.role_arn());
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert!(
        calls[0].contains(&format!("ExternalId={external_id}")),
        "{}",
        calls[0]
    );
    assert!(
        calls[0].contains(&format!("RoleSessionName=rectify-{}", account.id)),
        "{}",
        calls[0]
    );
    // Signed with rectify's own credentials.
    assert!(
        calls[0].contains("Credential=AKIARECTIFYTESTS0001/"),
        "{}",
        calls[0]
    );
}

#[tokio::test]
async fn concurrent_first_calls_assume_once() {
    harness_recording();
    let account = Account::new().await;
    let aws = std::sync::Arc::new(Aws::new(settings(vec![account.access()])).await);
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let aws = aws.clone();
        let id = account.id.clone();
        tasks.push(tokio::spawn(async move {
            aws.config_for(&id, REGION).await.map(|_| ())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(aws.assume_role_calls(), 1);
    let calls = assume_role_requests(&account.role_arn());
    assert_eq!(calls.len(), 1);
    assert!(!calls[0].contains("ExternalId="), "{}", calls[0]);
}

#[tokio::test]
async fn account_without_role_uses_own_credentials() {
    harness_recording();
    let id = support::random_account();
    let aws = Aws::new(settings(vec![AccountAccess {
        id: id.clone(),
        role_arn: None,
        external_id: None,
    }]))
    .await;
    let cfg = aws.config_for(&id, REGION).await.unwrap();
    assert_eq!(access_key(&cfg).await, "AKIARECTIFYTESTS0001");
    assert_eq!(caller_account(&cfg).await, OWN_ACCOUNT);
    assert_eq!(aws.assume_role_calls(), 0);
}

#[tokio::test]
async fn unknown_account_is_refused() {
    harness_recording();
    let aws = Aws::new(settings(vec![])).await;
    let err = aws.config_for("210987654321", REGION).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::AccessDenied);
    assert_eq!(err.message, "account 210987654321 is not configured");
}

#[tokio::test]
async fn unreachable_sts_is_transient() {
    harness_recording();
    // A role in an account whose STS cannot be reached: the endpoint is
    // process-wide here, so point a private SdkConfig at a closed port.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let cfg = support::test_sdk_config()
        .await
        .to_builder()
        .endpoint_url(closed)
        .build();
    let err = aws_sdk_sts::Client::new(&cfg)
        .assume_role()
        .role_arn("arn:aws:iam::111122223333:role/rectify")
        .role_session_name("rectify-111122223333")
        .send()
        .await
        .unwrap_err();
    let err = rectify_aws::sdk_error("sts:AssumeRole", err);
    assert_eq!(err.class, ErrorClass::Transient, "{}", err.message);
}

#[tokio::test]
async fn a_session_in_another_account_refuses_every_job_of_the_account() {
    harness_recording();
    let account = Account::new().await;
    let other = Account::new().await;
    // The account's role_arn names a role of another account (the config
    // refuses this; a role that lands elsewhere is caught at run time).
    let aws = Aws::new(settings(vec![AccountAccess {
        id: account.id.clone(),
        role_arn: Some(other.role_arn()),
        external_id: Some("e-1".into()),
    }]))
    .await;
    let err = aws.config_for(&account.id, REGION).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::AccessDenied, "{}", err.message);
    assert!(
        err.message.contains(&format!(
            "the session of {} is in account {}",
            other.role_arn(),
            other.id
        )),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains(&format!("every job of account {} is refused", account.id)),
        "{}",
        err.message
    );
    // Checked once: the next job of the account is refused without
    // assuming the role again.
    let again = aws.config_for(&account.id, "eu-west-1").await.unwrap_err();
    assert_eq!(again, err);
    assert_eq!(aws.assume_role_calls(), 1);
    assert_eq!(assume_role_requests(&other.role_arn()).len(), 1);
}

#[tokio::test]
async fn every_s3_call_on_a_bucket_names_its_owner() {
    use rectify_model::Action;
    harness_recording();
    let account = Account::new().await;
    let bucket = unique("rectify-owner");
    account
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let aws = std::sync::Arc::new(Aws::new(settings(vec![account.access()])).await);
    let action = rectify_aws::S3BlockPublicAccess::new(aws);
    let target = rectify_model::Target::listed(
        &account.id,
        REGION,
        "AwsS3Bucket",
        format!("arn:aws:s3:::{bucket}"),
    );
    let params = serde_json::json!({});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert!(action.verify(&target, &params).await.unwrap().compliant);
    let read = account
        .s3()
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let c = read.public_access_block_configuration().unwrap();
    assert_eq!(c.block_public_policy(), Some(true));

    let on_bucket: Vec<String> = harness_recording()
        .recorder
        .as_ref()
        .unwrap()
        .requests()
        .into_iter()
        .filter(|r| {
            r.lines()
                .next()
                .is_some_and(|l| l.contains(&format!("/{bucket}")))
        })
        // The test's own calls (signed with its key) name no owner.
        .filter(|r| !r.contains("Credential=AKIARECTIFYTESTS0002/"))
        .collect();
    // Get and put of the configuration, the tags, and the read-back.
    assert!(on_bucket.len() >= 4, "{on_bucket:#?}");
    for r in &on_bucket {
        let owner = r.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("x-amz-expected-bucket-owner")
                .then(|| v.trim().to_string())
        });
        assert_eq!(owner.as_deref(), Some(account.id.as_str()), "{r}");
    }
}
