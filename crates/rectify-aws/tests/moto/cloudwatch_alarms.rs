//! CloudWatch.1 to CloudWatch.14 (aws.cloudwatch.metric-filter-alarm)
//! against moto: a multi-Region trail delivering to a log group, made with
//! the test's own clients; each change read back with them (the filter's
//! pattern, the alarm's settings and topic), the compliant and exempt
//! accounts, dry-run, the undo, and the cases where nothing may be
//! changed (no topic, no qualifying trail, a topic nobody is subscribed
//! to).

use aws_sdk_cloudtrail::types::{EventSelector, ReadWriteType};
use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
use aws_sdk_cloudwatchlogs::types::MetricTransformation;
use rectify_aws::actions::cloudwatch::cis_filters;
use rectify_aws::actions::cloudwatch::metric_filter_alarm::CloudWatchMetricFilterAlarm;
use rectify_model::{Action, ErrorClass, Target};
use serde_json::{json, Value};

use crate::support::{finding_event, unique, Account, REGION};

/// A log group and a trail delivering to it (multi-Region or not),
/// logging read and write management events; the group's name.
pub(crate) async fn trail_to_logs(account: &Account, multi_region: bool) -> String {
    let bucket = unique("trail-logs");
    let group = unique("cloudtrail/logs");
    account
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    account
        .logs()
        .create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .unwrap();
    let name = unique("main");
    let ct = account.cloudtrail();
    ct.create_trail()
        .name(&name)
        .s3_bucket_name(&bucket)
        .is_multi_region_trail(multi_region)
        .cloud_watch_logs_log_group_arn(format!(
            "arn:aws:logs:{REGION}:{}:log-group:{group}:*",
            account.id
        ))
        .cloud_watch_logs_role_arn(format!("arn:aws:iam::{}:role/trail-to-logs", account.id))
        .send()
        .await
        .unwrap();
    ct.start_logging().name(&name).send().await.unwrap();
    ct.put_event_selectors()
        .trail_name(&name)
        .event_selectors(
            EventSelector::builder()
                .read_write_type(ReadWriteType::All)
                .include_management_events(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    group
}

/// An SNS topic, with a (confirmed) email subscription or none.
pub(crate) async fn topic(account: &Account, subscribed: bool) -> String {
    let sns = account.sns();
    let arn = sns
        .create_topic()
        .name(unique("cis-alarms"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    if subscribed {
        sns.subscribe()
            .topic_arn(&arn)
            .protocol("email")
            .endpoint("security@example.com")
            .send()
            .await
            .unwrap();
    }
    arn
}

/// A metric filter made by hand (not by rectify).
async fn hand_filter(account: &Account, group: &str, name: &str, pattern: &str, metric: &str) {
    account
        .logs()
        .put_metric_filter()
        .log_group_name(group)
        .filter_name(name)
        .filter_pattern(pattern)
        .metric_transformations(
            MetricTransformation::builder()
                .metric_name(metric)
                .metric_namespace("LogMetrics")
                .metric_value("1")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// An alarm made (or changed) by hand on a LogMetrics metric.
async fn hand_alarm(account: &Account, name: &str, metric: &str, topic: &str) {
    account
        .cloudwatch()
        .put_metric_alarm()
        .alarm_name(name)
        .metric_name(metric)
        .namespace("LogMetrics")
        .statistic(Statistic::Sum)
        .period(300)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .alarm_actions(topic)
        .send()
        .await
        .unwrap();
}

/// The account target of a Security Hub finding of `control`.
fn target_of(action: &CloudWatchMetricFilterAlarm, account: &Account, control: &str) -> Target {
    let event = finding_event(
        &account.id,
        control,
        "AwsAccount",
        &format!("AWS::::Account:{}", account.id),
        Value::Null,
    );
    let target = action.target(&event).unwrap();
    assert_eq!(target.resource_id, format!("AWS::::Account:{}", account.id));
    assert_eq!(target.details["control"], control);
    target
}

/// The group's metric filters as the test's client reads them: name,
/// pattern, metric namespace and name.
pub(crate) async fn filters(
    account: &Account,
    group: &str,
) -> Vec<(String, String, String, String)> {
    account
        .logs()
        .describe_metric_filters()
        .log_group_name(group)
        .send()
        .await
        .unwrap()
        .metric_filters()
        .iter()
        .map(|f| {
            let t = &f.metric_transformations()[0];
            (
                f.filter_name().unwrap().to_string(),
                f.filter_pattern().unwrap_or_default().to_string(),
                t.metric_namespace().to_string(),
                t.metric_name().to_string(),
            )
        })
        .collect()
}

pub(crate) async fn alarm(
    account: &Account,
    name: &str,
) -> Option<aws_sdk_cloudwatch::types::MetricAlarm> {
    account
        .cloudwatch()
        .describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .unwrap()
        .metric_alarms()
        .first()
        .cloned()
}

/// CloudWatch.1: the root usage filter and its alarm are added to the
/// trail's log group (read back), the account then passes; the undo
/// deletes both; a second undo is refused.
#[tokio::test]
async fn root_usage_filter_and_alarm_added_read_back_and_undone() {
    let account = Account::new().await;
    let group = trail_to_logs(&account, true).await;
    let topic = topic(&account, true).await;
    let action = CloudWatchMetricFilterAlarm::new(account.aws().await);
    let target = target_of(&action, &account, "CloudWatch.1");
    // The topic named with placeholders, as a rule for many accounts would.
    let name = topic.rsplit(':').next().unwrap();
    let params = json!({"sns_topic_arn": format!("arn:aws:sns:{{region}}:{{account}}:{name}")});

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change
            .summary
            .contains("add metric filter rectify-cis-root-usage"),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();

    let root = cis_filters::for_control("CloudWatch.1").unwrap();
    assert_eq!(
        filters(&account, &group).await,
        [(
            "rectify-cis-root-usage".to_string(),
            root.pattern.to_string(),
            "CISBenchmark".to_string(),
            "rectify-cis-root-usage".to_string()
        )]
    );
    let made = alarm(&account, "rectify-cis-root-usage").await.unwrap();
    assert_eq!(made.metric_name(), Some("rectify-cis-root-usage"));
    assert_eq!(made.namespace(), Some("CISBenchmark"));
    assert_eq!(made.statistic(), Some(&Statistic::Sum));
    assert_eq!(made.period(), Some(300));
    assert_eq!(made.threshold(), Some(1.0));
    assert_eq!(
        made.comparison_operator(),
        Some(&ComparisonOperator::GreaterThanOrEqualToThreshold)
    );
    assert_eq!(made.alarm_actions(), std::slice::from_ref(&topic));
    let after = action.verify(&target, &params).await.unwrap();
    assert!(after.compliant, "{}", after.state);
    assert!(action.left_in_place(&target, &params, &after).is_empty());

    // Now compliant: nothing more to do.
    let again = crate::support::assert_fixed_with_nothing_to_do(&action, &target, &params).await;

    let undo = action
        .revert_plan(&target, &params, &change, &again)
        .unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert!(filters(&account, &group).await.is_empty());
    assert!(alarm(&account, "rectify-cis-root-usage").await.is_none());
    let now = action.check(&target, &params).await.unwrap();
    assert!(!now.compliant);
    let refused = action
        .revert_plan(&target, &params, &change, &now)
        .unwrap_err();
    assert!(
        refused.message.contains("has changed since"),
        "{}",
        refused.message
    );
}

/// CloudWatch.4: a filter with the CIS pattern (spelled with spaces, as
/// the Benchmark prints it) is used as it is: only the alarm is added,
/// and only the alarm goes with the undo. The alarm changed by hand
/// since refuses the undo.
#[tokio::test]
async fn an_existing_filter_is_used_and_only_the_alarm_is_added() {
    let account = Account::new().await;
    let group = trail_to_logs(&account, true).await;
    let topic = topic(&account, true).await;
    let spaced = cis_filters::for_control("CloudWatch.4")
        .unwrap()
        .pattern
        .replace("=", " = ")
        .replace("{(", "{ (");
    hand_filter(
        &account,
        &group,
        "IAMPolicyChanges",
        &spaced,
        "IAMPolicyEventCount",
    )
    .await;
    let action = CloudWatchMetricFilterAlarm::new(account.aws().await);
    let target = target_of(&action, &account, "CloudWatch.4");
    let params = json!({"sns_topic_arn": topic, "name_prefix": "cis-"});

    let observed = action.check(&target, &params).await.unwrap();
    assert!(!observed.compliant);
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.contains("existing filter IAMPolicyChanges"),
        "{}",
        change.summary
    );
    action.apply(&target, &params, &change).await.unwrap();
    assert_eq!(filters(&account, &group).await.len(), 1);
    let made = alarm(&account, "cis-iam-policy-changes").await.unwrap();
    assert_eq!(made.metric_name(), Some("IAMPolicyEventCount"));
    assert_eq!(made.namespace(), Some("LogMetrics"));
    assert!(action.verify(&target, &params).await.unwrap().compliant);

    // The alarm pointed elsewhere by hand: the undo would delete what
    // someone changed, so it is refused.
    let other = crate::cloudwatch_alarms::topic(&account, true).await;
    hand_alarm(
        &account,
        "cis-iam-policy-changes",
        "IAMPolicyEventCount",
        &other,
    )
    .await;
    let moved = action.check(&target, &params).await.unwrap();
    let refused = action
        .revert_plan(&target, &params, &change, &moved)
        .unwrap_err();
    assert!(
        refused.message.contains("has changed since"),
        "{}",
        refused.message
    );
    // Put back as the change left it, the undo deletes the alarm only.
    hand_alarm(
        &account,
        "cis-iam-policy-changes",
        "IAMPolicyEventCount",
        &topic,
    )
    .await;
    let now = action.check(&target, &params).await.unwrap();
    let undo = action.revert_plan(&target, &params, &change, &now).unwrap();
    action.revert(&target, &params, &undo).await.unwrap();
    assert!(action.verify_revert(&target, &params, &undo).await.unwrap());
    assert!(alarm(&account, "cis-iam-policy-changes").await.is_none());
    assert_eq!(filters(&account, &group).await[0].0, "IAMPolicyChanges");
}

/// CloudWatch.10: an account with the filter, an alarm and a subscribed
/// topic passes and is left alone; CloudWatch.7's check reads the log
/// group's tags, where the exemption tag is found.
#[tokio::test]
async fn compliant_and_exempt_accounts_are_left_alone() {
    let account = Account::new().await;
    let group = trail_to_logs(&account, true).await;
    let topic = topic(&account, true).await;
    let action = CloudWatchMetricFilterAlarm::new(account.aws().await);
    let params = json!({"sns_topic_arn": topic});

    let target = target_of(&action, &account, "CloudWatch.10");
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    action.apply(&target, &params, &change).await.unwrap();
    let fixed = action.check(&target, &params).await.unwrap();
    assert!(fixed.compliant);
    let noop = action.plan(&target, &params, &fixed).unwrap();
    assert_eq!(noop.before, noop.after);
    assert!(noop.summary.contains("already passes"), "{}", noop.summary);
    // Applying the no-op writes nothing more.
    action.apply(&target, &params, &noop).await.unwrap();
    assert_eq!(filters(&account, &group).await.len(), 1);

    account
        .logs()
        .tag_resource()
        .resource_arn(format!(
            "arn:aws:logs:{REGION}:{}:log-group:{group}",
            account.id
        ))
        .tags("rectify:exempt", "CHG-7: alarms of our own")
        .send()
        .await
        .unwrap();
    let kms = target_of(&action, &account, "CloudWatch.7");
    let observed = action.check(&kms, &params).await.unwrap();
    assert!(!observed.compliant);
    assert_eq!(observed.tags["rectify:exempt"], "CHG-7: alarms of our own");
}

/// CloudWatch.14 in dry-run: check and plan only, nothing written.
#[tokio::test]
async fn dry_run_plans_and_writes_nothing() {
    let account = Account::new().await;
    let group = trail_to_logs(&account, true).await;
    let topic = topic(&account, true).await;
    let action = CloudWatchMetricFilterAlarm::new(account.aws().await);
    let target = target_of(&action, &account, "CloudWatch.14");
    let params = json!({"sns_topic_arn": topic});
    let observed = action.check(&target, &params).await.unwrap();
    let change = action.plan(&target, &params, &observed).unwrap();
    assert!(
        change.summary.contains("rectify-cis-vpc-changes"),
        "{}",
        change.summary
    );
    assert!(filters(&account, &group).await.is_empty());
    assert!(alarm(&account, "rectify-cis-vpc-changes").await.is_none());
}

/// Without a trail Security Hub accepts (none, or a single-Region one)
/// nothing is changed and the job says to fix CloudTrail.1 and
/// CloudTrail.5 first (these checks stop before any CloudWatch call).
#[tokio::test]
async fn no_qualifying_trail_is_not_configured() {
    let account = Account::new().await;
    let action = CloudWatchMetricFilterAlarm::new(account.aws().await);
    let target = target_of(&action, &account, "CloudWatch.5");
    let subscribed = topic(&account, true).await;

    // No trail at all, then a single-Region one.
    let params = json!({"sns_topic_arn": subscribed});
    let observed = action.check(&target, &params).await.unwrap();
    let e = action.plan(&target, &params, &observed).unwrap_err();
    assert_eq!(e.class, ErrorClass::NotConfigured);
    assert!(
        e.message.contains("CloudTrail.1 and CloudTrail.5"),
        "{}",
        e.message
    );
    let single = trail_to_logs(&account, false).await;
    let observed = action.check(&target, &params).await.unwrap();
    let e = action.plan(&target, &params, &observed).unwrap_err();
    assert_eq!(e.class, ErrorClass::NotConfigured);
    assert!(e.message.contains("not multi-Region"), "{}", e.message);
    assert!(filters(&account, &single).await.is_empty());
    assert!(alarm_free(&observed.state));
}

/// What a check found of the control's filters and alarms: nothing.
fn alarm_free(state: &Value) -> bool {
    state["filters"] == json!([]) && state["alarms"] == json!([]) && state["log_group"].is_null()
}

/// Nothing is changed, and the job says what to set, without a topic,
/// without a qualifying trail (single-Region, or none), or with a topic
/// nobody is subscribed to; an alarm on such a topic does not make the
/// account pass.
#[tokio::test]
async fn not_configured_and_unheard_topics_change_nothing() {
    let account = Account::new().await;
    let action = CloudWatchMetricFilterAlarm::new(account.aws().await);
    let target = target_of(&action, &account, "CloudWatch.5");

    let group = trail_to_logs(&account, true).await;
    let observed = action.check(&target, &json!({})).await.unwrap();
    let e = action.plan(&target, &json!({}), &observed).unwrap_err();
    assert_eq!(e.class, ErrorClass::NotConfigured);
    assert!(
        e.message.contains("set params.sns_topic_arn"),
        "{}",
        e.message
    );

    let unheard = topic(&account, false).await;
    let params = json!({"sns_topic_arn": unheard});
    let observed = action.check(&target, &params).await.unwrap();
    let e = action.plan(&target, &params, &observed).unwrap_err();
    assert_eq!(e.class, ErrorClass::NotConfigured);
    assert!(
        e.message.contains("no confirmed subscription"),
        "{}",
        e.message
    );
    assert!(filters(&account, &group).await.is_empty());

    // A filter and an alarm made by hand on the unheard topic: still failing.
    let pattern = cis_filters::for_control("CloudWatch.5").unwrap().pattern;
    hand_filter(
        &account,
        &group,
        "CloudTrailChanges",
        pattern,
        "CloudTrailEventCount",
    )
    .await;
    hand_alarm(
        &account,
        "CloudTrailChanges",
        "CloudTrailEventCount",
        &unheard,
    )
    .await;
    let observed = action.verify(&target, &params).await.unwrap();
    assert!(!observed.compliant, "{}", observed.state);
    assert_eq!(observed.state["alarms"][0]["name"], "CloudTrailChanges");
    assert_eq!(observed.state["alarms"][0]["notified"], json!([]));
}

const SCAN_TEST: &str = "cloudwatch_alarms::a_scan_reads_what_the_fourteen_controls_share_once";
const SCAN_CHILD: &str = "RECTIFY_TEST_CLOUDWATCH_SCAN_CHILD";

/// `rectify scan` checks CloudWatch.1 to 14 of an account at once: the
/// trail, its status and selectors, the group's filters and tags and the
/// topic's subscriptions are read once for the fourteen (through the
/// recording proxy), and each control's verdict, state and tags are those
/// of its own check outside a scan.
#[tokio::test]
async fn a_scan_reads_what_the_fourteen_controls_share_once() {
    let h = if std::env::var_os(SCAN_CHILD).is_some() {
        crate::support::harness_recording()
    } else {
        crate::support::harness()
    };
    if h.recorder.is_none() {
        return crate::call_budget::run_in_child(h, SCAN_TEST, SCAN_CHILD);
    }
    let account = Account::new().await;
    let group = trail_to_logs(&account, true).await;
    let topic = topic(&account, true).await;
    // CloudWatch.1 is monitored (by hand); the other thirteen are not.
    let root = cis_filters::for_control("CloudWatch.1").unwrap();
    hand_filter(&account, &group, "root-usage", root.pattern, "RootUsage").await;
    hand_alarm(&account, "root-usage", "RootUsage", &topic).await;
    let aws = account.aws().await;
    let action = CloudWatchMetricFilterAlarm::new(aws.clone());
    let params = json!({ "sns_topic_arn": topic });
    let targets = action.discover(&account.id, REGION).await.unwrap();
    assert_eq!(targets.len(), 14);
    let mut alone = Vec::new();
    for target in &targets {
        alone.push(action.check(target, &params).await.unwrap());
    }

    let key = crate::call_budget::signing_key(&aws, &account.id).await;
    let recorder = h.recorder.as_ref().unwrap();
    let start = recorder.requests().len();
    let reads = rectify_model::ScanReads::new(8);
    let scanned = futures_util::future::join_all(
        targets
            .iter()
            .map(|t| action.check_in_scan(t, &params, &reads)),
    )
    .await;
    let calls = crate::call_budget::calls_signed_with(recorder, &key, start);

    let mut passing = Vec::new();
    for ((target, alone), scanned) in targets.iter().zip(&alone).zip(scanned) {
        let scanned = scanned.unwrap();
        let control = action.finding_control(target);
        assert_eq!(scanned.compliant, alone.compliant, "{control}");
        assert_eq!(scanned.state, alone.state, "{control}");
        assert_eq!(scanned.tags, alone.tags, "{control}");
        if scanned.compliant {
            passing.push(control);
        }
    }
    assert_eq!(passing, ["CloudWatch.1"]);
    let count = |name: &str| calls.iter().filter(|c| c.ends_with(name)).count();
    eprintln!("{} calls: {calls:?}", calls.len());
    for shared in [
        "DescribeTrails",
        "GetTrailStatus",
        "GetEventSelectors",
        "DescribeMetricFilters",
        "ListTagsForResource",
        "ListSubscriptionsByTopic",
    ] {
        assert_eq!(count(shared), 1, "{shared}: {calls:#?}");
    }
    // One filter matches one control's pattern: its metric's alarms are
    // read once; each failing control asks whether its alarm's name is
    // free.
    assert_eq!(count("DescribeAlarmsForMetric"), 1, "{calls:#?}");
    assert_eq!(count("DescribeAlarms"), 13, "{calls:#?}");
    assert_eq!(calls.len(), 6 + 1 + 13, "{calls:#?}");
}
