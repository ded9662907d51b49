//! Audit anchors in S3 under Object Lock, and a KMS HMAC key as the audit
//! log's signer, against moto.

use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use aws_sdk_s3::types::ObjectLockMode;
use rectify_aws::anchor::{AnchorBucket, KmsMac};
use rectify_model::mac::MacSigner;

use crate::support::{test_sdk_config, unique, Account};

#[tokio::test]
async fn kms_hmac_key_makes_and_checks_macs() {
    let config = test_sdk_config().await;
    let kms = aws_sdk_kms::Client::new(&config);
    let key = kms
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .unwrap();
    let key_id = key.key_metadata().unwrap().arn().unwrap().to_string();
    let signer = KmsMac::new(&config, &key_id);

    let mac = signer.mac(b"rectify-audit-record-key-v1").await.unwrap();
    assert_eq!(mac.len(), 32, "HMAC-SHA256");
    assert_eq!(
        signer.mac(b"rectify-audit-record-key-v1").await.unwrap(),
        mac,
        "the derived record key is the same at every start"
    );
    assert_ne!(signer.mac(b"another message").await.unwrap(), mac);
    assert!(signer
        .verify(b"rectify-audit-record-key-v1", &mac)
        .await
        .unwrap());
    assert!(!signer
        .verify(b"rectify-audit-record-key-v2", &mac)
        .await
        .unwrap());
    let mut forged = mac.clone();
    forged[0] ^= 1;
    assert!(!signer
        .verify(b"rectify-audit-record-key-v1", &forged)
        .await
        .unwrap());
    assert!(signer.describe().contains(&key_id));

    // Another key gives another MAC; a key not made for MACs is refused.
    let other = kms
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .unwrap();
    let other = KmsMac::new(&config, other.key_metadata().unwrap().key_id());
    assert_ne!(
        other.mac(b"rectify-audit-record-key-v1").await.unwrap(),
        mac
    );
    let encrypt_only = kms.create_key().send().await.unwrap();
    let err = KmsMac::new(&config, encrypt_only.key_metadata().unwrap().key_id())
        .mac(b"x")
        .await
        .unwrap_err();
    assert!(err.contains("GenerateMac"), "{err}");
}

#[tokio::test]
async fn anchors_are_locked_in_compliance_mode() {
    let own = Account::own().await;
    let s3 = own.s3();
    let bucket = unique("rectify-anchors");
    s3.create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let anchors = AnchorBucket::new(s3.clone(), &bucket, "/prod/audit/");
    anchors.check_object_lock().await.unwrap();

    let first = anchors.put(7, br#"{"seq":7}"#.to_vec(), 2).await.unwrap();
    let second = anchors.put(12, br#"{"seq":12}"#.to_vec(), 2).await.unwrap();
    assert!(
        first.starts_with("prod/audit/00000000000000000007-"),
        "{first}"
    );
    assert_eq!(
        anchors.list().await.unwrap(),
        vec![
            (first.clone(), br#"{"seq":7}"#.to_vec()),
            (second, br#"{"seq":12}"#.to_vec())
        ]
    );

    let head = s3
        .head_object()
        .bucket(&bucket)
        .key(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    let until = head.object_lock_retain_until_date().unwrap().secs();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (now + 2 * 86_400 - 120..=now + 2 * 86_400 + 120).contains(&until),
        "retained until {until}, now {now}"
    );
    // Nobody deletes a locked version before its date, whatever their
    // rights.
    let version = head.version_id().unwrap().to_string();
    let deleted = s3
        .delete_object()
        .bucket(&bucket)
        .key(&first)
        .version_id(&version)
        .send()
        .await;
    let err = deleted.expect_err("a locked anchor was deleted");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("AccessDenied"),
        "{err:?}"
    );
    let still = s3
        .get_object()
        .bucket(&bucket)
        .key(&first)
        .version_id(&version)
        .send()
        .await
        .unwrap();
    assert_eq!(
        still.body.collect().await.unwrap().into_bytes().as_ref(),
        br#"{"seq":7}"#
    );
}

#[tokio::test]
async fn a_bucket_without_object_lock_is_refused() {
    let own = Account::own().await;
    let s3 = own.s3();
    let bucket = unique("rectify-no-lock");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let err = AnchorBucket::new(s3, &bucket, "a")
        .check_object_lock()
        .await
        .unwrap_err();
    assert!(err.contains(&bucket), "{err}");
}
