//! Logging and monitoring (CloudTrail, AWS Config, GuardDuty, CloudWatch
//! alarms) against moto: each change read back with the test's own SDK
//! client, the compliant case, the undo and a refused undo after a later
//! change.

use rectify_aws::actions::cloudtrail::{
    enable_cloudwatch_logs::CloudTrailEnableCloudWatchLogs,
    enable_kms_encryption::CloudTrailEnableKmsEncryption,
    enable_log_file_validation::CloudTrailEnableLogFileValidation,
};
use rectify_aws::actions::config::enable_recorder::ConfigEnableRecorder;
use rectify_aws::actions::guardduty::enable_detector::GuardDutyEnableDetector;
use rectify_model::{Action, Target};
use serde_json::{json, Value};

use crate::support::{finding_event, unique, Account, REGION};

/// A bucket and a single-region trail writing to it, made with the test's
/// clients; the trail's ARN.
pub(crate) async fn trail(account: &Account, name: &str) -> String {
    let bucket = unique("trail-logs");
    account
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    account
        .cloudtrail()
        .create_trail()
        .name(name)
        .s3_bucket_name(&bucket)
        .send()
        .await
        .unwrap()
        .trail_arn
        .unwrap()
}

/// The trail as the test's client reads it.
pub(crate) async fn read_trail(account: &Account, name: &str) -> aws_sdk_cloudtrail::types::Trail {
    account
        .cloudtrail()
        .get_trail()
        .name(name)
        .send()
        .await
        .unwrap()
        .trail
        .unwrap()
}

fn trail_target(account: &Account, arn: &str) -> Target {
    Target::listed(&account.id, REGION, "AwsCloudTrailTrail", arn.to_string())
}

/// CloudTrail.4: a finding's trail gets log file validation (read back);
/// the compliant trail is left alone; undone; a second undo after the
/// setting moved is refused.
#[tokio::test]
async fn log_file_validation_turned_on_and_undone() {
    let account = Account::new().await;
    let name = unique("main");
    let arn = trail(&account, &name).await;
    let action = CloudTrailEnableLogFileValidation::new(account.aws().await);
    let event = finding_event(
        &account.id,
        "CloudTrail.4",
        "AwsCloudTrailTrail",
        &arn,
        Value::Null,
    );
    let target = action.target(&event).unwrap();
    assert_eq!(target.resource_id, arn);
    let params = json!({});

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    assert_eq!(
        change.summary,
        format!("turn on log file validation of trail {name}")
    );
    assert!(action.intent(&target, &params, &observed).is_empty());
    action.apply(&target, &params, &change).await.unwrap();
    assert_eq!(
        read_trail(&account, &name)
            .await
            .log_file_validation_enabled,
        Some(true)
    );
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    assert!(action.left_in_place(&target, &params, &after).is_empty());

    // Now compliant: the plan changes nothing.
    crate::support::assert_fixed_with_nothing_to_do(&action, &target, &params).await;

    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(
        read_trail(&account, &name)
            .await
            .log_file_validation_enabled,
        Some(false)
    );
    let now = action.check(&target, &params).await.unwrap();
    let refused = action
        .revert_plan(&target, &params, &change, &now)
        .unwrap_err();
    assert!(
        refused.message.contains("has changed since"),
        "{}",
        refused.message
    );

    // The scanner lists the trail; a trail ARN of another account is refused.
    let listed = action.discover(&account.id, REGION).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].resource_id, arn);
    let foreign = trail_target(
        &account,
        &format!("arn:aws:cloudtrail:{REGION}:123456789012:trail/{name}"),
    );
    assert!(action.check(&foreign, &params).await.is_err());
}

/// CloudTrail.2: without a key the plan says what to configure; with one
/// the trail is encrypted (read back), the undo removes the key.
#[tokio::test]
async fn kms_encryption_needs_a_key_and_is_undone() {
    let account = Account::new().await;
    let name = unique("enc");
    let arn = trail(&account, &name).await;
    let key = account
        .kms()
        .create_key()
        .description("trail logs")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let action = CloudTrailEnableKmsEncryption::new(account.aws().await);
    let target = trail_target(&account, &arn);

    let observed = action.check(&target, &json!({})).await.unwrap();
    assert!(!observed.compliant);
    let refused = action.plan(&target, &json!({}), &observed).unwrap_err();
    assert!(
        refused.message.contains("set params.kms_key_id"),
        "{}",
        refused.message
    );
    assert!(read_trail(&account, &name)
        .await
        .kms_key_id
        .unwrap_or_default()
        .is_empty());

    let params = json!({"kms_key_id": key.arn.clone().unwrap()});
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert_eq!(read_trail(&account, &name).await.kms_key_id, key.arn);
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    // Another key than the param's: the change is not what was asked.
    let other = json!({"kms_key_id": "00000000-0000-0000-0000-000000000000"});
    assert!(!action.verify(&target, &other).await.unwrap().compliant);

    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    assert!(
        undo.summary.contains("no KMS encryption"),
        "{}",
        undo.summary
    );
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert!(read_trail(&account, &name)
        .await
        .kms_key_id
        .unwrap_or_default()
        .is_empty());
    // moto does not check the key policy (AWS refuses a key CloudTrail may
    // not use with InsufficientEncryptionPolicyException).
}

/// CloudTrail.5: delivery to a log group (read back), the undo removes it;
/// an undo after the group was changed by hand is refused.
#[tokio::test]
async fn cloudwatch_logs_delivery_and_undo() {
    let account = Account::new().await;
    let name = unique("cwl");
    let arn = trail(&account, &name).await;
    let group = unique("trail-group");
    account
        .logs()
        .create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .unwrap();
    let group_arn = format!("arn:aws:logs:{REGION}:{}:log-group:{group}:*", account.id);
    let role = format!("arn:aws:iam::{}:role/trail-to-logs", account.id);
    let action = CloudTrailEnableCloudWatchLogs::new(account.aws().await);
    let target = trail_target(&account, &arn);
    let params = json!({"log_group_arn": group_arn, "role_arn": role});

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert!(action.plan(&target, &json!({}), &observed).is_err());
    let foreign = json!({"log_group_arn": format!("arn:aws:logs:{REGION}:123456789012:log-group:x"),
                         "role_arn": role});
    assert!(action.plan(&target, &foreign, &observed).is_err());
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    let read = read_trail(&account, &name).await;
    assert_eq!(
        read.cloud_watch_logs_log_group_arn.as_deref(),
        Some(group_arn.as_str())
    );
    assert_eq!(
        read.cloud_watch_logs_role_arn.as_deref(),
        Some(role.as_str())
    );
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);

    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert!(read_trail(&account, &name)
        .await
        .cloud_watch_logs_log_group_arn
        .unwrap_or_default()
        .is_empty());

    // Applied again, then pointed at another group by hand: the undo of
    // the change is refused.
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    account
        .cloudtrail()
        .update_trail()
        .name(&name)
        .cloud_watch_logs_log_group_arn(format!(
            "arn:aws:logs:{REGION}:{}:log-group:other:*",
            account.id
        ))
        .cloud_watch_logs_role_arn(&role)
        .send()
        .await
        .unwrap();
    let now = action.check(&target, &params).await.unwrap();
    assert!(action
        .revert_plan(&target, &params, &change, &now)
        .unwrap_err()
        .message
        .contains("has changed since"));
}

fn account_target(account: &Account) -> Target {
    Target::listed(
        &account.id,
        REGION,
        "AwsAccount",
        format!("AWS::::Account:{}", account.id),
    )
}

/// The region's detectors as the test's client reads them: id and status.
async fn detectors(account: &Account) -> Vec<(String, String)> {
    let gd = account.guardduty();
    let ids = gd
        .list_detectors()
        .send()
        .await
        .unwrap()
        .detector_ids
        .unwrap_or_default();
    let mut out = Vec::new();
    for id in ids {
        let d = gd.get_detector().detector_id(&id).send().await.unwrap();
        out.push((id, d.status.unwrap().as_str().to_string()));
    }
    out
}

/// GuardDuty.1: a detector created where there is none (read back), the
/// compliant account left alone, the undo deletes it; a suspended detector
/// is enabled and the undo suspends it again; an undo after a later change
/// is refused.
#[tokio::test]
async fn guardduty_detector_created_or_enabled_and_undone() {
    let account = Account::new().await;
    let action = GuardDutyEnableDetector::new(account.aws().await);
    let event = finding_event(
        &account.id,
        "GuardDuty.1",
        "AwsAccount",
        &format!("AWS::::Account:{}", account.id),
        Value::Null,
    );
    let target = action.target(&event).unwrap();
    let params = json!({});
    assert!(detectors(&account).await.is_empty());

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.contains("create a detector"),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    // Applied twice (a run cut off): still one detector.
    action.apply(&target, &params, &change).await.unwrap();
    let made = detectors(&account).await;
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].1, "ENABLED");
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    let noop = action.plan(&target, &params, &after).unwrap();
    assert!(noop.summary.contains("already enabled"), "{}", noop.summary);

    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    assert!(undo.summary.contains(&made[0].0), "{}", undo.summary);
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert!(detectors(&account).await.is_empty());

    // A suspended detector of the account's own: enabled, and suspended
    // again by the undo.
    let id = account
        .guardduty()
        .create_detector()
        .enable(false)
        .send()
        .await
        .unwrap()
        .detector_id
        .unwrap();
    let target = account_target(&account);
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(change.summary.contains(&id), "{}", change.summary);
    action.apply(&target, &params, &change).await.unwrap();
    assert_eq!(
        detectors(&account).await,
        [(id.clone(), "ENABLED".to_string())]
    );
    let after = action.verify(&target, &params).await.unwrap();
    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(
        detectors(&account).await,
        [(id.clone(), "DISABLED".to_string())]
    );
    // Suspended now: the undo of the change is refused.
    let now = action.check(&target, &params).await.unwrap();
    assert!(action
        .revert_plan(&target, &params, &change, &now)
        .unwrap_err()
        .message
        .contains("has changed since"));
}

/// AWS Config as the test's client reads it: the recorder (name, all
/// supported, global), whether it records, the channel's bucket.
pub(crate) async fn config_state(
    account: &Account,
) -> (Option<(String, bool, bool)>, bool, Option<String>) {
    let cfg = account.config_service();
    let recorder = cfg
        .describe_configuration_recorders()
        .send()
        .await
        .unwrap()
        .configuration_recorders
        .unwrap_or_default()
        .into_iter()
        .next()
        .map(|r| {
            let g = r.recording_group.unwrap();
            (
                r.name.unwrap(),
                g.all_supported,
                g.include_global_resource_types,
            )
        });
    let recording = cfg
        .describe_configuration_recorder_status()
        .send()
        .await
        .unwrap()
        .configuration_recorders_status
        .unwrap_or_default()
        .iter()
        .any(|s| s.recording);
    let bucket = cfg
        .describe_delivery_channels()
        .send()
        .await
        .unwrap()
        .delivery_channels
        .unwrap_or_default()
        .into_iter()
        .next()
        .and_then(|c| c.s3_bucket_name);
    (recorder, recording, bucket)
}

/// Config.1: without params the plan says what to configure; with them a
/// recorder of all types, a channel and recording (read back); the undo
/// stops and deletes them; an undo after a later change is refused.
#[tokio::test]
async fn config_recorder_turned_on_and_undone() {
    let account = Account::new().await;
    let bucket = unique("config-logs");
    account
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let role = format!("arn:aws:iam::{}:role/config-recorder", account.id);
    let action = ConfigEnableRecorder::new(account.aws().await);
    let event = finding_event(
        &account.id,
        "Config.1",
        "AwsAccount",
        &format!("AWS::::Account:{}", account.id),
        Value::Null,
    );
    let target = action.target(&event).unwrap();
    let params = json!({"role_arn": role, "bucket": bucket});
    assert_eq!(config_state(&account).await, (None, false, None));

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let refused = action.plan(&target, &json!({}), &observed).unwrap_err();
    assert!(
        refused.message.contains("set params.role_arn"),
        "{}",
        refused.message
    );
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    assert_eq!(
        config_state(&account).await,
        (
            Some(("default".into(), true, true)),
            true,
            Some(bucket.clone())
        )
    );
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    let noop = action.plan(&target, &params, &after).unwrap();
    assert_eq!(noop.before, noop.after);

    let undo = action
        .revert_plan(&target, &params, &change, &after)
        .unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(config_state(&account).await, (None, false, None));

    // On again, then stopped by hand: the undo is refused.
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    account
        .config_service()
        .stop_configuration_recorder()
        .configuration_recorder_name("default")
        .send()
        .await
        .unwrap();
    let now = action.check(&target, &params).await.unwrap();
    assert!(!now.compliant);
    assert!(action
        .revert_plan(&target, &params, &change, &now)
        .unwrap_err()
        .message
        .contains("has changed since"));
    // Stopped: the next fix only starts it again.
    let restart = action.plan(&target, &params, &now).unwrap();
    assert!(
        restart.summary.ends_with("start recorder default"),
        "{}",
        restart.summary
    );
}
