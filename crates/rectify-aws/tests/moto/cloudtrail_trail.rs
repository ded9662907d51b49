//! CloudTrail.1 (`aws.cloudtrail.enable-multi-region-trail`) against
//! moto: an account without a trail gets one (and its bucket), a stopped
//! trail is started, short event selectors are completed (with the reason
//! to ask a person), a trail of another home region counts; each change
//! read back with the test's own clients, undone, and an undo refused
//! after a later change. moto gives a new trail no event selectors (AWS
//! gives it one recording all management events): the tests set them.

use aws_sdk_cloudtrail::types::{DataResource, EventSelector, ReadWriteType};
use rectify_aws::actions::cloudtrail::enable_multi_region_trail::CloudTrailEnableMultiRegionTrail;
use rectify_model::{Action, ErrorClass, Target};
use serde_json::{json, Value};

use crate::support::{finding_event, unique, Account, REGION};

fn account_target(account: &Account) -> Target {
    Target::listed(
        &account.id,
        REGION,
        "AwsAccount",
        format!("AWS::::Account:{}", account.id),
    )
}

/// A bucket for a trail someone made, with the test's client.
async fn bucket(account: &Account) -> String {
    let name = unique("trail-logs");
    account
        .s3()
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .unwrap();
    name
}

/// A trail made with the test's client: multi-region or not, its
/// selectors (none: moto's default, no selector), not logging.
async fn trail(account: &Account, name: &str, multi_region: bool, selectors: Vec<EventSelector>) {
    let ct = account.cloudtrail();
    ct.create_trail()
        .name(name)
        .s3_bucket_name(bucket(account).await)
        .is_multi_region_trail(multi_region)
        .send()
        .await
        .unwrap();
    if !selectors.is_empty() {
        ct.put_event_selectors()
            .trail_name(name)
            .set_event_selectors(Some(selectors))
            .send()
            .await
            .unwrap();
    }
}

fn selector(kind: ReadWriteType, management: bool) -> EventSelector {
    EventSelector::builder()
        .read_write_type(kind)
        .include_management_events(management)
        .build()
}

/// The trail as the test's client reads it: multi-region, logging, log
/// file validation, and its classic selectors (read/write type,
/// management, data resource types).
async fn read_back(
    account: &Account,
    name: &str,
) -> Option<(bool, bool, bool, Vec<(String, bool, usize)>)> {
    let ct = account.cloudtrail();
    let trail = ct
        .describe_trails()
        .trail_name_list(name)
        .send()
        .await
        .unwrap()
        .trail_list
        .unwrap_or_default()
        .into_iter()
        .find(|t| t.name.as_deref() == Some(name))?;
    let logging = ct
        .get_trail_status()
        .name(name)
        .send()
        .await
        .unwrap()
        .is_logging
        .unwrap_or(false);
    let selectors = ct
        .get_event_selectors()
        .trail_name(name)
        .send()
        .await
        .unwrap()
        .event_selectors
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            (
                s.read_write_type
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                s.include_management_events.unwrap_or(false),
                s.data_resources.unwrap_or_default().len(),
            )
        })
        .collect();
    Some((
        trail.is_multi_region_trail.unwrap_or(false),
        logging,
        trail.log_file_validation_enabled.unwrap_or(false),
        selectors,
    ))
}

async fn bucket_exists(account: &Account, name: &str) -> bool {
    account.s3().head_bucket().bucket(name).send().await.is_ok()
}

/// No trail: the plan says what to set; a dry run (check and plan)
/// writes nothing; with a bucket param and `create_bucket` a trail and
/// its bucket are made (read back: multi-region, logging, all management
/// events, log file validation, the bucket locked down with CloudTrail's
/// policy); applied twice it is still one trail; the undo deletes both;
/// an undo after the trail was stopped by hand is refused.
#[tokio::test]
async fn no_trail_gets_one_with_its_bucket_and_the_undo_removes_both() {
    let account = Account::new().await;
    let action = CloudTrailEnableMultiRegionTrail::new(account.aws().await);
    let event = finding_event(
        &account.id,
        "CloudTrail.1",
        "AwsAccount",
        &format!("AWS::::Account:{}", account.id),
        Value::Null,
    );
    let target = action.target(&event).unwrap();
    assert_eq!(target, account_target(&account));

    let observed = action.check(&target, &json!({})).await.unwrap();
    assert!(!observed.compliant);
    let refused = action.plan(&target, &json!({}), &observed).unwrap_err();
    assert_eq!(refused.class, ErrorClass::NotConfigured);
    assert!(
        refused.message.contains("set params.bucket"),
        "{}",
        refused.message
    );

    let bucket_name = format!("rectify-trail-{}-{REGION}", account.id);
    let no_create = json!({"bucket": "rectify-trail-{account}-{region}"});
    let observed = action.check(&target, &no_create).await.unwrap();
    let refused = action.plan(&target, &no_create, &observed).unwrap_err();
    assert_eq!(refused.class, ErrorClass::NotConfigured);
    assert!(
        refused.message.contains("params.create_bucket"),
        "{}",
        refused.message
    );

    let params = json!({"bucket": "rectify-trail-{account}-{region}", "create_bucket": true});
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change
            .summary
            .starts_with("create multi-region trail rectify-management-events"),
        "{}",
        change.summary
    );
    assert!(action.intent(&target, &params, &observed).is_empty());
    // Planned only (what a dry run does): nothing was written.
    assert!(read_back(&account, "rectify-management-events")
        .await
        .is_none());
    assert!(!bucket_exists(&account, &bucket_name).await);

    action.apply(&target, &params, &change).await.unwrap();
    // Applied again (a run cut off): the bucket is finished, not made
    // twice. (moto replaces a trail on a second CreateTrail where AWS
    // answers TrailAlreadyExistsException, which the action takes as its
    // own trail when it is the multi-region one to the same bucket.)
    action.apply(&target, &params, &change).await.unwrap();
    assert_eq!(
        read_back(&account, "rectify-management-events").await,
        Some((true, true, true, vec![("All".to_string(), true, 0)]))
    );
    let trails = account
        .cloudtrail()
        .describe_trails()
        .send()
        .await
        .unwrap()
        .trail_list
        .unwrap_or_default();
    assert_eq!(trails.len(), 1);
    assert_eq!(
        trails[0].s3_bucket_name.as_deref(),
        Some(bucket_name.as_str())
    );
    let s3 = account.s3();
    let block = s3
        .get_public_access_block()
        .bucket(&bucket_name)
        .send()
        .await
        .unwrap()
        .public_access_block_configuration
        .unwrap();
    assert_eq!(
        (
            block.block_public_acls,
            block.ignore_public_acls,
            block.block_public_policy,
            block.restrict_public_buckets
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let encryption = s3
        .get_bucket_encryption()
        .bucket(&bucket_name)
        .send()
        .await
        .unwrap();
    let rule = &encryption
        .server_side_encryption_configuration
        .unwrap()
        .rules[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default
            .as_ref()
            .unwrap()
            .sse_algorithm
            .as_str(),
        "AES256"
    );
    let policy: Value = serde_json::from_str(
        &s3.get_bucket_policy()
            .bucket(&bucket_name)
            .send()
            .await
            .unwrap()
            .policy
            .unwrap(),
    )
    .unwrap();
    let write = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "AWSCloudTrailWrite")
        .unwrap();
    assert_eq!(
        write["Condition"]["StringEquals"]["aws:SourceArn"],
        format!(
            "arn:aws:cloudtrail:{REGION}:{}:trail/rectify-management-events",
            account.id
        )
    );
    assert_eq!(
        write["Resource"],
        format!("arn:aws:s3:::{bucket_name}/AWSLogs/{}/*", account.id)
    );

    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    let noop = action.plan(&target, &params, &after).unwrap();
    assert_eq!(noop.after["fix"], "nothing");
    assert!(noop.summary.contains("already logs"), "{}", noop.summary);

    let now = action.check(&target, &params).await.unwrap();
    let undo = action.revert_plan(&target, &params, &change, &now).unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert!(read_back(&account, "rectify-management-events")
        .await
        .is_none());
    assert!(!bucket_exists(&account, &bucket_name).await);

    // Made again, then stopped by hand: the undo is refused, and the next
    // fix only starts it.
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    account
        .cloudtrail()
        .stop_logging()
        .name("rectify-management-events")
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
    let restart = action.plan(&target, &params, &now).unwrap();
    assert_eq!(restart.after["fix"], "start-logging");
}

/// A stopped multi-region trail that records all management events is
/// started (nothing else changes, no reason to ask), the compliant
/// account is left alone, the undo stops it again; its exemption tag is
/// what the check reports.
#[tokio::test]
async fn stopped_trail_started_and_stopped_again() {
    let account = Account::new().await;
    trail(
        &account,
        "org-audit",
        true,
        vec![selector(ReadWriteType::All, true)],
    )
    .await;
    let action = CloudTrailEnableMultiRegionTrail::new(account.aws().await);
    let target = account_target(&account);
    let params = json!({});

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    assert!(observed.tags.is_empty());
    let change = action.plan(&target, &params, &observed).unwrap();
    assert_eq!(
        change.summary,
        "start logging of multi-region trail org-audit (stopped; it records read and write management events)"
    );
    assert!(action.intent(&target, &params, &observed).is_empty());
    action.apply(&target, &params, &change).await.unwrap();
    assert_eq!(
        read_back(&account, "org-audit").await,
        Some((true, true, false, vec![("All".to_string(), true, 0)]))
    );
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant);
    let again = action.check(&target, &params).await.unwrap();
    assert!(again.compliant);
    assert_eq!(
        action.plan(&target, &params, &again).unwrap().after["fix"],
        "nothing"
    );

    let undo = action
        .revert_plan(&target, &params, &change, &again)
        .unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert!(!read_back(&account, "org-audit").await.unwrap().1);

    // Stopped on purpose and tagged so: the check hands the trail's tags
    // to the engine, which leaves an exempt resource alone.
    let arn = format!("arn:aws:cloudtrail:{REGION}:{}:trail/org-audit", account.id);
    account
        .cloudtrail()
        .add_tags()
        .resource_id(&arn)
        .tags_list(
            aws_sdk_cloudtrail::types::Tag::builder()
                .key("rectify:exempt")
                .value("migration")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let exempt = action.check(&target, &params).await.unwrap();
    assert!(!exempt.compliant);
    assert_eq!(exempt.tags.get("rectify:exempt"), Some(&json!("migration")));
}

/// Selectors that record only write events and leave KMS out are
/// completed beside the trail's data-event selector, the job asking a
/// person first; the undo restores them; a trail of another home region
/// counts for this region.
#[tokio::test]
async fn short_selectors_completed_with_a_reason_and_restored() {
    let account = Account::new().await;
    let data = EventSelector::builder()
        .read_write_type(ReadWriteType::WriteOnly)
        .include_management_events(true)
        .exclude_management_event_sources("kms.amazonaws.com")
        .data_resources(
            DataResource::builder()
                .r#type("AWS::S3::Object")
                .values("arn:aws:s3:::payments/")
                .build(),
        )
        .build();
    trail(&account, "writes", true, vec![data]).await;
    account
        .cloudtrail()
        .start_logging()
        .name("writes")
        .send()
        .await
        .unwrap();
    let action = CloudTrailEnableMultiRegionTrail::new(account.aws().await);
    let target = account_target(&account);
    let params = json!({});

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    assert_eq!(change.after["fix"], "selectors");
    let intent = action.intent(&target, &params, &observed);
    assert_eq!(intent.len(), 1);
    assert!(intent[0].contains("set by someone"), "{}", intent[0]);
    action.apply(&target, &params, &change).await.unwrap();
    assert_eq!(
        read_back(&account, "writes").await.unwrap().3,
        vec![
            ("All".to_string(), true, 0),
            ("WriteOnly".to_string(), false, 1)
        ]
    );
    assert!(action.verify(&target, &params).await.unwrap().compliant);

    let now = action.check(&target, &params).await.unwrap();
    let undo = action.revert_plan(&target, &params, &change, &now).unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert_eq!(
        read_back(&account, "writes").await.unwrap().3,
        vec![("WriteOnly".to_string(), true, 1)]
    );

    // A logging multi-region trail with its home in another region passes
    // this region: nothing to do here.
    let other = Account::new().await;
    let eu = aws_sdk_cloudtrail::Client::from_conf(
        other
            .cloudtrail()
            .config()
            .to_builder()
            .region(aws_config::Region::new("eu-west-1"))
            .build(),
    );
    eu.create_trail()
        .name("eu-home")
        .s3_bucket_name(bucket(&other).await)
        .is_multi_region_trail(true)
        .send()
        .await
        .unwrap();
    eu.put_event_selectors()
        .trail_name("eu-home")
        .event_selectors(selector(ReadWriteType::All, true))
        .send()
        .await
        .unwrap();
    eu.start_logging().name("eu-home").send().await.unwrap();
    let action = CloudTrailEnableMultiRegionTrail::new(other.aws().await);
    let here = action
        .check(&account_target(&other), &params)
        .await
        .unwrap();
    assert!(here.compliant, "{}", here.state);
    assert_eq!(here.state["multi_region"][0]["home_region"], "eu-west-1");
}

/// Harm: a single-region trail already has the name a new trail would
/// take (the plan says to name another); a single-region trail does not
/// pass, and is not changed into a multi-region one.
#[tokio::test]
async fn a_single_region_trail_is_neither_enough_nor_changed() {
    let account = Account::new().await;
    trail(
        &account,
        "rectify-management-events",
        false,
        vec![selector(ReadWriteType::All, true)],
    )
    .await;
    account
        .cloudtrail()
        .start_logging()
        .name("rectify-management-events")
        .send()
        .await
        .unwrap();
    let action = CloudTrailEnableMultiRegionTrail::new(account.aws().await);
    let target = account_target(&account);
    let params = json!({"bucket": bucket(&account).await});
    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let refused = action.plan(&target, &params, &observed).unwrap_err();
    assert_eq!(refused.class, ErrorClass::NotConfigured);
    assert!(
        refused.message.contains("params.trail_name"),
        "{}",
        refused.message
    );
    assert_eq!(
        read_back(&account, "rectify-management-events").await,
        Some((false, true, false, vec![("All".to_string(), true, 0)]))
    );

    // Another name: a new multi-region trail beside it, to the existing
    // bucket (not created, not deleted by the undo).
    let named = json!({"bucket": params["bucket"], "trail_name": "all-regions",
                       "log_file_validation": false});
    let change = action.plan(&target, &named, &observed).unwrap();
    assert_eq!(change.after["create_bucket"], false);
    action.apply(&target, &named, &change).await.unwrap();
    assert_eq!(
        read_back(&account, "all-regions").await,
        Some((true, true, false, vec![("All".to_string(), true, 0)]))
    );
    assert!(action.verify(&target, &named).await.unwrap().compliant);
    let now = action.check(&target, &named).await.unwrap();
    let undo = action.revert_plan(&target, &named, &change, &now).unwrap();
    action.revert(&target, &named, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &named, &undo).await.unwrap());
    assert!(read_back(&account, "all-regions").await.is_none());
    assert!(bucket_exists(&account, params["bucket"].as_str().unwrap()).await);
    assert!(read_back(&account, "rectify-management-events")
        .await
        .is_some());
}
