//! `aws.cloudwatch.metric-filter-alarm`: the CIS log metric filter and
//! alarm of Security Hub CloudWatch.1 to CloudWatch.14 in an account and
//! region, the control taken from the finding and its filter pattern from
//! [`super::cis_filters`].
//!
//! What Security Hub checks, and so what the check and the read-back
//! after a change read: a multi-Region trail of the account, with its home
//! in the region, that is logging, records read and write management
//! events (for CloudWatch.7 without excluding KMS) and delivers to a
//! CloudWatch Logs log group; in that group a metric filter with the
//! control's pattern; an alarm on the filter's metric; the alarm notifies
//! an SNS topic with at least one confirmed subscription.
//!
//! The fix adds what is missing: the filter (a filter with the pattern
//! that is there already is used) and an alarm (Sum over 300 s, at least
//! 1, as CIS prescribes) notifying the topic of params.sns_topic_arn. The
//! trail is not touched: without one, the job says to fix CloudTrail.1 and
//! CloudTrail.5 first; nor is the topic: without a confirmed subscriber
//! nothing is changed (the control would still fail). The undo deletes
//! what the change created, if it is still as the change left it.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
use rectify_model::{
    Action, ActionError, ActionSpec, Change, Event, Observed, ParamSpec, ScanReads, Target,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cis_filters::{self, CisFilter};
use crate::actions::account_region as where_;
use crate::actions::{
    changed_since, client_for, collect_pages, params_object, recorded, reject_unknown,
    string_param, tag_map,
};
use crate::errors::{code_of, sdk_error_on};
use crate::Aws;

pub const ID: &str = "aws.cloudwatch.metric-filter-alarm";

const ALL_CONTROLS: [&str; 14] = [
    "CloudWatch.1",
    "CloudWatch.2",
    "CloudWatch.3",
    "CloudWatch.4",
    "CloudWatch.5",
    "CloudWatch.6",
    "CloudWatch.7",
    "CloudWatch.8",
    "CloudWatch.9",
    "CloudWatch.10",
    "CloudWatch.11",
    "CloudWatch.12",
    "CloudWatch.13",
    "CloudWatch.14",
];

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Add the CIS log metric filter and an alarm notifying an SNS topic to the log group of the account's multi-Region trail (the control of the finding picks the filter).",
    controls: &ALL_CONTROLS,
    resource_types: &["AwsAccount"],
    account_wide: false,
    permissions: &[
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:GetEventSelectors",
        "logs:DescribeMetricFilters",
        "logs:ListTagsForResource",
        "logs:PutMetricFilter",
        "logs:DeleteMetricFilter",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:DescribeAlarmsForMetric",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DeleteAlarms",
        "sns:ListSubscriptionsByTopic",
    ],
    params: &[
        ParamSpec {
            name: "sns_topic_arn",
            kind: "string",
            default: "null",
            doc: "Required to change anything: the SNS topic the alarms notify (arn:aws:sns:REGION:ACCOUNT:NAME, in the target's region; `{account}` and `{region}` are replaced by the target's). It needs at least one confirmed subscription, or nothing is changed.",
        },
        ParamSpec {
            name: "metric_namespace",
            kind: "string",
            default: "\"CISBenchmark\"",
            doc: "The namespace of the metrics the filters rectify adds publish.",
        },
        ParamSpec {
            name: "name_prefix",
            kind: "string",
            default: "\"rectify-cis-\"",
            doc: "Starts the names of the filter, its metric and the alarm rectify adds (then the control's short name, e.g. rectify-cis-root-usage).",
        },
    ],
    // Check: DescribeTrails, GetTrailStatus, GetEventSelectors,
    // DescribeMetricFilters, ListTagsForResource, DescribeAlarms (is the
    // alarm's name free), ListSubscriptionsByTopic; PutMetricFilter,
    // PutMetricAlarm; verify: the three trail reads, DescribeMetricFilters,
    // DescribeAlarmsForMetric, ListSubscriptionsByTopic.
    calls_per_fix: 15,
    approval_by_default: false,
};

const DEFAULT_NAMESPACE: &str = "CISBenchmark";
const DEFAULT_PREFIX: &str = "rectify-cis-";
/// Under `target.details`: the control the job answers.
const CONTROL: &str = "control";
/// At most this many alarm topics are read per check.
const MAX_TOPICS: usize = 10;
/// At most this many pages of a topic's subscriptions are read.
const MAX_SUBSCRIPTION_PAGES: usize = 10;

struct Params {
    topic: Option<String>,
    namespace: String,
    prefix: String,
}

fn parse(params: &Value) -> Result<Params, String> {
    let p = params_object(params)?;
    reject_unknown(
        &p,
        &["sns_topic_arn", "metric_namespace", "name_prefix"],
        ID,
    )?;
    let topic = string_param(&p, "sns_topic_arn", 1024)?;
    if let Some(t) = &topic {
        let parts: Vec<&str> = t.splitn(6, ':').collect();
        if !matches!(parts[..], ["arn", _, "sns", _, _, name] if !name.is_empty() && !name.contains(':'))
        {
            return Err(format!(
                "params.sns_topic_arn: {t} is not a topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
            ));
        }
    }
    let namespace =
        string_param(&p, "metric_namespace", 255)?.unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    let namespace_ok = namespace
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-_/#:".contains(c))
        && !namespace.starts_with("AWS/");
    if !namespace_ok {
        return Err(format!(
            "params.metric_namespace: {namespace:?} is not a namespace of your own (letters, digits, . - _ / # :, not AWS/...)"
        ));
    }
    let prefix =
        string_param(&p, "name_prefix", 200)?.unwrap_or_else(|| DEFAULT_PREFIX.to_string());
    if !prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "params.name_prefix: {prefix:?} may hold letters, digits, - _ . only"
        ));
    }
    Ok(Params {
        topic,
        namespace,
        prefix,
    })
}

/// A metric filter with the control's pattern, by the metric it feeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Filter {
    name: String,
    metric: String,
    namespace: String,
}

/// An alarm on one of those metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Alarm {
    name: String,
    metric: String,
    namespace: String,
    /// The SNS topics among its alarm actions.
    topics: Vec<String>,
    /// Those of them with a confirmed subscription.
    notified: Vec<String>,
}

/// What a change adds (in its `after`) or an undo deletes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Writes {
    log_group: String,
    /// A new filter, with the pattern it is given.
    filter: Option<(Filter, String)>,
    alarm: Option<Alarm>,
}

/// The control's monitoring in an account and region, as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Monitoring {
    control: String,
    /// The trail Security Hub would accept, and its log group's name;
    /// none: no trail of the account and region qualifies.
    trail: Option<String>,
    log_group: Option<String>,
    /// Why each trail of the region does not qualify.
    #[serde(default)]
    trail_problems: Vec<String>,
    /// The group's filters with the control's pattern.
    #[serde(default)]
    filters: Vec<Filter>,
    /// The alarms on their metrics.
    #[serde(default)]
    alarms: Vec<Alarm>,
    /// The pattern of the group's filter that has rectify's name, if any.
    #[serde(default)]
    named_filter_pattern: Option<String>,
    /// The alarm that has rectify's name, if any (read when the control
    /// fails).
    #[serde(default)]
    named_alarm: Option<Alarm>,
    /// The topic of params.sns_topic_arn and its confirmed subscriptions
    /// (read when the control fails).
    #[serde(default)]
    topic: Option<(String, u32)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    creates: Option<Writes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deletes: Option<Writes>,
}

impl Monitoring {
    fn passes(&self) -> bool {
        self.trail.is_some() && self.alarms.iter().any(|a| !a.notified.is_empty())
    }
}

/// The control a target carries (from its finding) and its filter.
fn control_of(target: &Target) -> Result<&'static CisFilter, ActionError> {
    let named = target.details[CONTROL].as_str().unwrap_or("");
    cis_filters::for_control(named).ok_or_else(|| {
        ActionError::invalid(format!(
            "{ID}: the target names no control of CloudWatch.1 to CloudWatch.14 (got {named:?}); \
             it comes from the finding the job answers"
        ))
    })
}

/// The names rectify gives the filter, its metric and the alarm.
fn own_name(params: &Params, filter: &CisFilter) -> String {
    format!("{}{}", params.prefix, filter.slug)
}

/// The control an event asks about: the finding's (any shape, through
/// the consolidated id), or for a CloudTrail call that deleted a filter
/// or an alarm, the control its name ends with.
fn control_of_event(event: &Event) -> Option<String> {
    if event.detail_type == rectify_model::SECURITY_HUB_IMPORTED_V2 {
        return event
            .finding_value()?
            .pointer("/compliance/control")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    if let Some(finding) = event.finding() {
        return finding.control_id().map(str::to_string);
    }
    if event.detail_type == rectify_model::target::CLOUDTRAIL_API_CALL {
        let request = &event.body["detail"]["requestParameters"];
        let names = request["alarmNames"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(std::iter::once(&request["filterName"]))
            .filter_map(Value::as_str);
        return names
            .filter_map(cis_filters::for_name)
            .map(|f| f.control.to_string())
            .next();
    }
    None
}

pub struct CloudWatchMetricFilterAlarm {
    aws: Arc<Aws>,
}

impl CloudWatchMetricFilterAlarm {
    pub fn new(aws: Arc<Aws>) -> Self {
        CloudWatchMetricFilterAlarm { aws }
    }

    /// The first trail of the account with its home in the region that
    /// Security Hub accepts, and its log group's name; else why none
    /// does. In a scan the trail reads are made once for the fourteen
    /// controls.
    async fn qualifying_trail(
        &self,
        target: &Target,
        filter: &CisFilter,
        scan: Option<&ScanReads>,
    ) -> Result<Result<(String, String), Vec<String>>, ActionError> {
        let ct = client_for(&self.aws, target, aws_sdk_cloudtrail::Client::new).await?;
        let here = where_(target);
        let region = target.region.as_str();
        let key = format!(
            "cloudtrail:DescribeTrails(home)/{}/{region}",
            target.account
        );
        let trails = ScanReads::shared(scan, &key, "cloudtrail", region, || async {
            ct.describe_trails()
                .include_shadow_trails(false)
                .send()
                .await
                .map(|out| out.trail_list().to_vec())
                .map_err(|e| sdk_error_on("cloudtrail:DescribeTrails", &here, e))
        })
        .await?;
        let mut problems = Vec::new();
        for trail in &trails {
            let Some(arn) = trail.trail_arn() else {
                continue;
            };
            let fields: Vec<&str> = arn.split(':').collect();
            if fields.get(4) != Some(&target.account.as_str())
                || fields.get(3) != Some(&target.region.as_str())
            {
                continue;
            }
            if !trail.is_multi_region_trail().unwrap_or(false) {
                problems.push(format!("trail {arn} is not multi-Region"));
                continue;
            }
            let Some(group) = trail
                .cloud_watch_logs_log_group_arn()
                .and_then(log_group_name)
            else {
                problems.push(format!(
                    "trail {arn} delivers to no CloudWatch Logs log group"
                ));
                continue;
            };
            let key = format!("cloudtrail:GetTrailStatus/{arn}");
            let logging = ScanReads::shared(scan, &key, "cloudtrail", region, || async {
                ct.get_trail_status()
                    .name(arn)
                    .send()
                    .await
                    .map(|status| status.is_logging().unwrap_or(false))
                    .map_err(|e| sdk_error_on("cloudtrail:GetTrailStatus", arn, e))
            })
            .await?;
            if !logging {
                problems.push(format!("trail {arn} is not logging"));
                continue;
            }
            let key = format!("cloudtrail:GetEventSelectors/{arn}");
            let selectors = ScanReads::shared(scan, &key, "cloudtrail", region, || async {
                ct.get_event_selectors()
                    .trail_name(arn)
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("cloudtrail:GetEventSelectors", arn, e))
            })
            .await?;
            let kms_needed = filter.control == "CloudWatch.7";
            if !records_management_events(&selectors, kms_needed) {
                problems.push(format!(
                    "trail {arn} does not record all read and write management events{}",
                    if kms_needed { " (KMS included)" } else { "" }
                ));
                continue;
            }
            return Ok(Ok((arn.to_string(), group)));
        }
        if problems.is_empty() {
            problems.push(format!("no trail has its home in {here}"));
        }
        Ok(Err(problems))
    }

    /// The group's metric filters: those with the control's pattern, and
    /// the pattern of the one named `own` if there is one.
    async fn filters(
        &self,
        target: &Target,
        logs: &aws_sdk_cloudwatchlogs::Client,
        group: &str,
        pattern: &str,
        own: &str,
        scan: Option<&ScanReads>,
    ) -> Result<(Vec<Filter>, Option<String>), ActionError> {
        let region = target.region.as_str();
        let key = format!(
            "logs:DescribeMetricFilters/{}/{region}/{group}",
            target.account
        );
        let all = ScanReads::shared(scan, &key, "logs", region, || {
            collect_pages(|token| {
                let request = logs
                    .describe_metric_filters()
                    .log_group_name(group)
                    .set_next_token(token);
                async move {
                    let out = request.send().await.map_err(|e| {
                        sdk_error_on(
                            "logs:DescribeMetricFilters",
                            &format!("log group {group}"),
                            e,
                        )
                    })?;
                    let next = out.next_token().map(str::to_string);
                    Ok((out.metric_filters().to_vec(), next))
                }
            })
        })
        .await?;
        let mut matching = Vec::new();
        let mut named = None;
        for f in &all {
            let name = f.filter_name().unwrap_or_default();
            let this = f.filter_pattern().unwrap_or_default();
            if name == own {
                named = Some(this.to_string());
            }
            if !cis_filters::same_pattern(this, pattern) {
                continue;
            }
            for t in f.metric_transformations() {
                matching.push(Filter {
                    name: name.to_string(),
                    metric: t.metric_name().to_string(),
                    namespace: t.metric_namespace().to_string(),
                });
            }
        }
        Ok((matching, named))
    }

    /// The alarms on each filter's metric, with the topics they notify
    /// and which of those have a confirmed subscription.
    async fn alarms(
        &self,
        target: &Target,
        filters: &[Filter],
        scan: Option<&ScanReads>,
    ) -> Result<Vec<Alarm>, ActionError> {
        let cw = client_for(&self.aws, target, aws_sdk_cloudwatch::Client::new).await?;
        let region = target.region.as_str();
        let mut alarms = Vec::new();
        for f in filters {
            let key = format!(
                "cloudwatch:DescribeAlarmsForMetric/{}/{region}/{}/{}",
                target.account, f.namespace, f.metric
            );
            let on_metric: Vec<Alarm> =
                ScanReads::shared(scan, &key, "cloudwatch", region, || async {
                    cw.describe_alarms_for_metric()
                        .metric_name(&f.metric)
                        .namespace(&f.namespace)
                        .send()
                        .await
                        .map(|out| out.metric_alarms().iter().map(alarm_of).collect())
                        .map_err(|e| {
                            sdk_error_on(
                                "cloudwatch:DescribeAlarmsForMetric",
                                &format!("metric {}/{}", f.namespace, f.metric),
                                e,
                            )
                        })
                })
                .await?;
            alarms.extend(on_metric);
        }
        let mut topics: Vec<String> = alarms.iter().flat_map(|a| a.topics.clone()).collect();
        topics.sort();
        topics.dedup();
        let mut confirmed = Vec::new();
        for topic in topics.iter().take(MAX_TOPICS) {
            // A topic this account cannot read counts as notifying no one,
            // as Security Hub counts it (a WARNING finding).
            if let Ok(n) = self.confirmed_subscriptions(target, topic, scan).await {
                if n > 0 {
                    confirmed.push(topic.clone());
                }
            }
        }
        for a in &mut alarms {
            a.notified = a
                .topics
                .iter()
                .filter(|t| confirmed.contains(t))
                .cloned()
                .collect();
        }
        Ok(alarms)
    }

    /// Whether `topic` has a confirmed subscription: 0, or the confirmed
    /// ones of the first page that has any (1 is enough to know).
    async fn confirmed_subscriptions(
        &self,
        target: &Target,
        topic: &str,
        scan: Option<&ScanReads>,
    ) -> Result<u32, ActionError> {
        let sns = client_for(&self.aws, target, aws_sdk_sns::Client::new).await?;
        let key = format!("sns:ListSubscriptionsByTopic/{topic}");
        ScanReads::shared(scan, &key, "sns", &target.region, || async {
            let mut token = None;
            let mut confirmed = 0;
            for _ in 0..MAX_SUBSCRIPTION_PAGES {
                let out = sns
                    .list_subscriptions_by_topic()
                    .topic_arn(topic)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("sns:ListSubscriptionsByTopic", topic, e))?;
                // A pending subscription's ARN is "PendingConfirmation".
                confirmed += out
                    .subscriptions()
                    .iter()
                    .filter(|s| s.subscription_arn().is_some_and(|a| a.starts_with("arn:")))
                    .count() as u32;
                token = out
                    .next_token()
                    .filter(|t| !t.is_empty())
                    .map(str::to_string);
                if token.is_none() || confirmed > 0 {
                    break;
                }
            }
            Ok(confirmed)
        })
        .await
    }

    /// The control's monitoring as Security Hub evaluates it; with
    /// `for_fix`, also what a fix needs to know (the names it would use,
    /// the topic's subscribers, the group's tags).
    async fn read(
        &self,
        target: &Target,
        params: &Params,
        for_fix: bool,
        scan: Option<&ScanReads>,
    ) -> Result<(Monitoring, serde_json::Map<String, Value>), ActionError> {
        let filter = control_of(target)?;
        let mut state = Monitoring {
            control: filter.control.to_string(),
            trail: None,
            log_group: None,
            trail_problems: Vec::new(),
            filters: Vec::new(),
            alarms: Vec::new(),
            named_filter_pattern: None,
            named_alarm: None,
            topic: None,
            creates: None,
            deletes: None,
        };
        let mut tags = serde_json::Map::new();
        let (trail, group) = match self.qualifying_trail(target, filter, scan).await? {
            Ok(found) => found,
            Err(problems) => {
                state.trail_problems = problems;
                return Ok((state, tags));
            }
        };
        state.trail = Some(trail);
        state.log_group = Some(group.clone());
        let own = own_name(params, filter);
        let logs = client_for(&self.aws, target, aws_sdk_cloudwatchlogs::Client::new).await?;
        let (filters, named) = self
            .filters(target, &logs, &group, filter.pattern, &own, scan)
            .await?;
        state.filters = filters;
        state.named_filter_pattern = named;
        state.alarms = self.alarms(target, &state.filters, scan).await?;
        if !for_fix {
            return Ok((state, tags));
        }
        // The group's tags hold the exemption tag.
        let group_arn = format!(
            "arn:{}:logs:{}:{}:log-group:{group}",
            target.partition, target.region, target.account
        );
        let key = format!("logs:ListTagsForResource/{group_arn}");
        tags = ScanReads::shared(scan, &key, "logs", &target.region, || async {
            logs.list_tags_for_resource()
                .resource_arn(&group_arn)
                .send()
                .await
                .map(|out| {
                    out.tags()
                        .map(|t| tag_map(t.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
                        .unwrap_or_default()
                })
                .map_err(|e| sdk_error_on("logs:ListTagsForResource", &group_arn, e))
        })
        .await?;
        if state.passes() {
            return Ok((state, tags));
        }
        let cw = client_for(&self.aws, target, aws_sdk_cloudwatch::Client::new).await?;
        let out = cw
            .describe_alarms()
            .alarm_names(&own)
            .send()
            .await
            .map_err(|e| sdk_error_on("cloudwatch:DescribeAlarms", &format!("alarm {own}"), e))?;
        state.named_alarm = out.metric_alarms().first().map(alarm_of);
        if let Some(topic) = params.topic.as_deref().map(|t| fill(t, target)) {
            let confirmed = match self.confirmed_subscriptions(target, &topic, scan).await {
                Ok(n) => n,
                Err(e) if e.class == rectify_model::ErrorClass::NotFound => 0,
                Err(e) => return Err(e),
            };
            state.topic = Some((topic, confirmed));
        }
        Ok((state, tags))
    }

    async fn observe(
        &self,
        target: &Target,
        params: &Value,
        for_fix: bool,
        scan: Option<&ScanReads>,
    ) -> Result<Observed, ActionError> {
        let params = parse(params).map_err(ActionError::invalid)?;
        let (state, tags) = self.read(target, &params, for_fix, scan).await?;
        Ok(Observed {
            compliant: state.passes(),
            state: serde_json::to_value(state).expect("plain struct"),
            tags,
        })
    }

    /// Writes a change's `creates` (apply) or an undo's `deletes`.
    async fn write(&self, target: &Target, change: &Change) -> Result<(), ActionError> {
        let after: Monitoring = recorded(&change.after, ID)?;
        let logs = client_for(&self.aws, target, aws_sdk_cloudwatchlogs::Client::new).await?;
        let cw = client_for(&self.aws, target, aws_sdk_cloudwatch::Client::new).await?;
        if let Some(w) = &after.creates {
            let group = &w.log_group;
            if let Some((f, pattern)) = &w.filter {
                let transformation = aws_sdk_cloudwatchlogs::types::MetricTransformation::builder()
                    .metric_name(&f.metric)
                    .metric_namespace(&f.namespace)
                    .metric_value("1")
                    .build()
                    .map_err(|e| ActionError::invalid(format!("{ID}: {e}")))?;
                logs.put_metric_filter()
                    .log_group_name(group)
                    .filter_name(&f.name)
                    .filter_pattern(pattern)
                    .metric_transformations(transformation)
                    .send()
                    .await
                    .map_err(|e| {
                        sdk_error_on("logs:PutMetricFilter", &format!("log group {group}"), e)
                    })?;
            }
            if let Some(a) = &w.alarm {
                let watches = cis_filters::for_control(&after.control)
                    .map(|f| f.watches)
                    .unwrap_or("the metric");
                cw.put_metric_alarm()
                    .alarm_name(&a.name)
                    .alarm_description(format!(
                        "{}: {watches} (CIS log metric filter on log group {group}; made by rectify)",
                        after.control
                    ))
                    .metric_name(&a.metric)
                    .namespace(&a.namespace)
                    .statistic(Statistic::Sum)
                    .period(300)
                    .evaluation_periods(1)
                    .threshold(1.0)
                    .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
                    .treat_missing_data("notBreaching")
                    .actions_enabled(true)
                    .set_alarm_actions(Some(a.topics.clone()))
                    .send()
                    .await
                    .map_err(|e| {
                        sdk_error_on("cloudwatch:PutMetricAlarm", &format!("alarm {}", a.name), e)
                    })?;
            }
        }
        if let Some(w) = &after.deletes {
            if let Some(a) = &w.alarm {
                cw.delete_alarms()
                    .alarm_names(&a.name)
                    .send()
                    .await
                    .map_err(|e| {
                        sdk_error_on("cloudwatch:DeleteAlarms", &format!("alarm {}", a.name), e)
                    })?;
            }
            if let Some((f, _)) = &w.filter {
                let gone = logs
                    .delete_metric_filter()
                    .log_group_name(&w.log_group)
                    .filter_name(&f.name)
                    .send()
                    .await;
                // Idempotent: a filter deleted by a run cut off is gone.
                if let Err(e) = gone {
                    if code_of(&e) != Some("ResourceNotFoundException") {
                        return Err(sdk_error_on(
                            "logs:DeleteMetricFilter",
                            &format!("filter {} of log group {}", f.name, w.log_group),
                            e,
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// `{account}` and `{region}` of a param replaced by the target's.
fn fill(value: &str, target: &Target) -> String {
    value
        .replace("{account}", &target.account)
        .replace("{region}", &target.region)
}

/// The name of the log group a trail's `CloudWatchLogsLogGroupArn`
/// (`arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*`) names.
fn log_group_name(arn: &str) -> Option<String> {
    let rest = arn.splitn(7, ':').nth(6)?;
    let name = rest.strip_suffix(":*").unwrap_or(rest);
    (!name.is_empty()).then(|| name.to_string())
}

fn alarm_of(a: &aws_sdk_cloudwatch::types::MetricAlarm) -> Alarm {
    Alarm {
        name: a.alarm_name().unwrap_or_default().to_string(),
        metric: a.metric_name().unwrap_or_default().to_string(),
        namespace: a.namespace().unwrap_or_default().to_string(),
        topics: a
            .alarm_actions()
            .iter()
            .filter(|t| t.split(':').nth(2) == Some("sns"))
            .cloned()
            .collect(),
        notified: Vec::new(),
    }
}

/// Whether a trail's event selectors record every read and write
/// management event (`kms`: KMS's not excluded), as CIS audits it.
fn records_management_events(
    out: &aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput,
    kms: bool,
) -> bool {
    let basic = out.event_selectors().iter().any(|s| {
        s.include_management_events().unwrap_or(false)
            && s.read_write_type()
                .is_some_and(|t| *t == aws_sdk_cloudtrail::types::ReadWriteType::All)
            && !(kms
                && s.exclude_management_event_sources()
                    .iter()
                    .any(|e| e == "kms.amazonaws.com"))
    });
    let advanced = out.advanced_event_selectors().iter().any(|s| {
        let fields = s.field_selectors();
        let management = fields
            .iter()
            .any(|f| f.field() == "eventCategory" && f.equals().iter().any(|v| v == "Management"));
        // A readOnly selector keeps only reads or only writes.
        let one_kind = fields.iter().any(|f| f.field() == "readOnly");
        let kms_left_out = fields.iter().any(|f| {
            f.field() == "eventSource" && f.not_equals().iter().any(|v| v == "kms.amazonaws.com")
        });
        management && !one_kind && !(kms && kms_left_out)
    });
    basic || advanced
}

#[async_trait]
impl Action for CloudWatchMetricFilterAlarm {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    fn validate_params(&self, params: &Value) -> Result<(), String> {
        parse(params).map(|_| ())
    }

    /// The account and region of the finding (its account resource, or
    /// the finding's own account when it names another resource), with
    /// the finding's control under `details.control`.
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        let control = control_of_event(event).unwrap_or_default();
        if cis_filters::for_control(&control).is_none() {
            return Err(ActionError::invalid(format!(
                "{ID}: event {} is not about CloudWatch.1 to CloudWatch.14 (control {control:?})",
                event.id
            )));
        }
        let mut target = match Target::from_event(event, &["AwsAccount"]) {
            Ok(t) => t,
            Err(why) => {
                let finding = event.finding().ok_or_else(|| ActionError::invalid(why))?;
                let region = finding
                    .region
                    .clone()
                    .unwrap_or_else(|| event.region.clone());
                let account = &finding.aws_account_id;
                let target = Target::listed(
                    account,
                    &region,
                    "AwsAccount",
                    format!("AWS::::Account:{account}"),
                );
                target.check_consistent().map_err(ActionError::invalid)?;
                target
            }
        };
        if !target.details.is_object() {
            target.details = serde_json::json!({});
        }
        target.details[CONTROL] = Value::String(control);
        Ok(target)
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        self.observe(target, params, true, None).await
    }

    /// As `check`, with the reads the fourteen controls share (the
    /// trails, the group's filters and tags, the alarms of a metric, a
    /// topic's subscriptions) made once per scan.
    async fn check_in_scan(
        &self,
        target: &Target,
        params: &Value,
        reads: &ScanReads,
    ) -> Result<Observed, ActionError> {
        self.observe(target, params, true, Some(reads)).await
    }

    /// The account in `region` once per control, each target naming its
    /// control, so that `rectify scan` reports CloudWatch.1 to 14 apart.
    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        Ok(ALL_CONTROLS
            .iter()
            .map(|control| {
                let mut target = Target::listed(
                    account,
                    region,
                    "AwsAccount",
                    format!("AWS::::Account:{account}"),
                );
                target.details = serde_json::json!({ CONTROL: control });
                target
            })
            .collect())
    }

    fn finding_control(&self, target: &Target) -> &'static str {
        control_of(target)
            .map(|f| f.control)
            .unwrap_or(ALL_CONTROLS[0])
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        let p = parse(params).map_err(ActionError::invalid)?;
        let filter = control_of(target)?;
        let before: Monitoring = recorded(&observed.state, ID)?;
        let place = format!("{}/{}", target.account, target.region);
        if before.passes() {
            let alarm = before.alarms.iter().find(|a| !a.notified.is_empty());
            return Ok(Change {
                summary: format!(
                    "{} already passes in {place}: alarm {} notifies {}",
                    filter.control,
                    alarm.map(|a| a.name.as_str()).unwrap_or("?"),
                    alarm.map(|a| a.notified.join(", ")).unwrap_or_default()
                ),
                before: observed.state.clone(),
                after: observed.state.clone(),
            });
        }
        let (Some(_), Some(group)) = (&before.trail, &before.log_group) else {
            return Err(ActionError::not_configured(format!(
                "{ID}: {} needs a multi-Region trail of account {} with its home in {}, logging read and \
                 write management events to CloudWatch Logs, and there is none ({}): fix CloudTrail.1 and \
                 CloudTrail.5 first (aws.cloudtrail.enable-cloudwatch-logs), then this job can run again",
                filter.control,
                target.account,
                target.region,
                before.trail_problems.join("; ")
            )));
        };
        let Some((topic, confirmed)) = &before.topic else {
            return Err(ActionError::not_configured(format!(
                "{ID}: the alarm of {} must notify an SNS topic, and the rule names none: set \
                 params.sns_topic_arn (arn:aws:sns:{{region}}:ACCOUNT:NAME, a topic with a confirmed \
                 subscription)",
                filter.control
            )));
        };
        if topic.split(':').nth(3) != Some(target.region.as_str()) {
            return Err(ActionError::invalid(format!(
                "{ID}: topic {topic} is not in {}, where the alarm is; CloudWatch notifies topics of its own region",
                target.region
            )));
        }
        if *confirmed == 0 {
            return Err(ActionError::not_configured(format!(
                "{ID}: topic {topic} has no confirmed subscription, so {} would still fail with an alarm \
                 notifying it: subscribe someone to the topic (and confirm), then this job can run again",
                filter.control
            )));
        }
        let own = own_name(&p, filter);
        // A filter with the pattern is used as it is; else rectify's own.
        let (metric, new_filter) = match before.filters.first() {
            Some(f) => (f.clone(), None),
            None => {
                if let Some(pattern) = &before.named_filter_pattern {
                    return Err(ActionError::invalid(format!(
                        "{ID}: log group {group} has a metric filter named {own} with another pattern \
                         ({pattern}); rectify will not overwrite it: set params.name_prefix to another prefix"
                    )));
                }
                let f = Filter {
                    name: own.clone(),
                    metric: own.clone(),
                    namespace: p.namespace.clone(),
                };
                (f.clone(), Some((f, filter.pattern.to_string())))
            }
        };
        if let Some(existing) = &before.named_alarm {
            return Err(ActionError::invalid(format!(
                "{ID}: an alarm named {own} exists already (on metric {}/{}, notifying {}); rectify will \
                 not overwrite it: set params.name_prefix to another prefix",
                existing.namespace,
                existing.metric,
                if existing.topics.is_empty() { "no topic".to_string() } else { existing.topics.join(", ") }
            )));
        }
        let alarm = Alarm {
            name: own.clone(),
            metric: metric.metric.clone(),
            namespace: metric.namespace.clone(),
            topics: vec![topic.clone()],
            notified: vec![topic.clone()],
        };
        let mut after = before.clone();
        if let Some((f, _)) = &new_filter {
            after.filters.push(f.clone());
        }
        after.alarms.push(alarm.clone());
        after.creates = Some(Writes {
            log_group: group.clone(),
            filter: new_filter.clone(),
            alarm: Some(alarm),
        });
        let summary = match &new_filter {
            Some(_) => format!(
                "{}: add metric filter {own} ({}) to log group {group} and alarm {own} on it notifying {topic}",
                filter.control, filter.watches
            ),
            None => format!(
                "{}: add alarm {own} on the metric {}/{} of the existing filter {} in log group {group}, notifying {topic}",
                filter.control, metric.namespace, metric.metric, metric.name
            ),
        };
        Ok(Change {
            summary,
            before: observed.state.clone(),
            after: serde_json::to_value(after).expect("plain struct"),
        })
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        parse(params).map_err(ActionError::invalid)?;
        control_of(target)?;
        self.write(target, change).await
    }

    /// The whole control read again, as Security Hub evaluates it.
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        self.observe(target, params, false, None).await
    }

    /// Deletes the alarm and the filter the change created, when they are
    /// still as it left them.
    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        parse(params).map_err(ActionError::invalid)?;
        let left: Monitoring = recorded(&applied.after, ID)?;
        let current: Monitoring = recorded(&now.state, ID)?;
        let Some(made) = left.creates else {
            return Err(ActionError::invalid(format!(
                "{ID}: the change created nothing in {}/{}, so there is nothing to undo",
                target.account, target.region
            )));
        };
        let filter_kept = match &made.filter {
            Some((f, _)) => current.filters.contains(f),
            None => true,
        };
        let alarm_kept = made.alarm.as_ref().is_none_or(|a| {
            current.alarms.iter().any(|c| {
                c.name == a.name
                    && c.metric == a.metric
                    && c.namespace == a.namespace
                    && c.topics == a.topics
            })
        });
        if !filter_kept || !alarm_kept || current.log_group.as_deref() != Some(&made.log_group) {
            return Err(changed_since(
                &format!(
                    "the {} filter and alarm in {}/{}",
                    left.control, target.account, target.region
                ),
                &now.state,
                &applied.after,
            ));
        }
        let mut restore = current.clone();
        if let Some((f, _)) = &made.filter {
            restore.filters.retain(|c| c != f);
        }
        if let Some(a) = &made.alarm {
            restore.alarms.retain(|c| c.name != a.name);
        }
        let what: Vec<String> = [
            made.alarm.as_ref().map(|a| format!("alarm {}", a.name)),
            made.filter
                .as_ref()
                .map(|(f, _)| format!("metric filter {} of log group {}", f.name, made.log_group)),
        ]
        .into_iter()
        .flatten()
        .collect();
        restore.deletes = Some(made);
        Ok(Change {
            summary: format!("delete {} (made by the change)", what.join(" and ")),
            before: now.state.clone(),
            after: serde_json::to_value(restore).expect("plain struct"),
        })
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        parse(params).map_err(ActionError::invalid)?;
        self.write(target, change).await
    }

    /// The deleted filter and alarm are gone.
    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        parse(params).map_err(ActionError::invalid)?;
        let after: Monitoring = recorded(&change.after, ID)?;
        let Some(w) = after.deletes else {
            return Ok(true);
        };
        if let Some((f, _)) = &w.filter {
            let logs = client_for(&self.aws, target, aws_sdk_cloudwatchlogs::Client::new).await?;
            let out = logs
                .describe_metric_filters()
                .log_group_name(&w.log_group)
                .filter_name_prefix(&f.name)
                .send()
                .await
                .map_err(|e| sdk_error_on("logs:DescribeMetricFilters", &w.log_group, e))?;
            if out
                .metric_filters()
                .iter()
                .any(|m| m.filter_name() == Some(f.name.as_str()))
            {
                return Ok(false);
            }
        }
        if let Some(a) = &w.alarm {
            let cw = client_for(&self.aws, target, aws_sdk_cloudwatch::Client::new).await?;
            let out = cw
                .describe_alarms()
                .alarm_names(&a.name)
                .send()
                .await
                .map_err(|e| sdk_error_on("cloudwatch:DescribeAlarms", &a.name, e))?;
            if !out.metric_alarms().is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;
    use crate::AwsSettings;
    use serde_json::json;

    fn account(control: &str) -> Target {
        target(
            "AwsAccount",
            "AWS::::Account:111122223333",
            json!({ "control": control }),
        )
    }

    fn monitoring(control: &str) -> Monitoring {
        Monitoring {
            control: control.into(),
            trail: Some("arn:aws:cloudtrail:us-east-1:111122223333:trail/main".into()),
            log_group: Some("trail-logs".into()),
            trail_problems: vec![],
            filters: vec![],
            alarms: vec![],
            named_filter_pattern: None,
            named_alarm: None,
            topic: Some(("arn:aws:sns:us-east-1:111122223333:alerts".into(), 1)),
            creates: None,
            deletes: None,
        }
    }

    fn observed(m: &Monitoring) -> Observed {
        Observed {
            compliant: m.passes(),
            state: serde_json::to_value(m).unwrap(),
            tags: Default::default(),
        }
    }

    async fn action() -> CloudWatchMetricFilterAlarm {
        CloudWatchMetricFilterAlarm::new(Arc::new(Aws::new(AwsSettings::new("us-east-1")).await))
    }

    #[tokio::test]
    async fn params_are_checked() {
        let a = action().await;
        assert!(a.validate_params(&json!({})).is_ok());
        assert!(a
            .validate_params(&json!({"sns_topic_arn": "arn:aws:sns:{region}:{account}:alerts"}))
            .is_ok());
        for bad in [
            json!({"sns_topic_arn": "alerts"}),
            json!({"sns_topic_arn": "arn:aws:sqs:us-east-1:111122223333:q"}),
            json!({"metric_namespace": "AWS/Logs"}),
            json!({"name_prefix": "a:b"}),
            json!({"name_prefix": "a*"}),
        ] {
            assert!(a.validate_params(&bad).is_err(), "{bad}");
        }
    }

    /// Every control of the table plans its own pattern, names and alarm.
    #[tokio::test]
    async fn every_control_plans_its_filter_and_alarm() {
        let a = action().await;
        let params = json!({"sns_topic_arn": "arn:aws:sns:{region}:{account}:alerts"});
        for row in &cis_filters::CIS_FILTERS {
            let t = account(row.control);
            let m = monitoring(row.control);
            let change = a.plan(&t, &params, &observed(&m)).unwrap();
            let after: Monitoring = serde_json::from_value(change.after.clone()).unwrap();
            let made = after.creates.clone().unwrap();
            let (f, pattern) = made.filter.unwrap();
            assert_eq!(pattern, row.pattern);
            assert_eq!(f.name, format!("rectify-cis-{}", row.slug));
            assert_eq!(f.namespace, "CISBenchmark");
            let alarm = made.alarm.unwrap();
            assert_eq!(alarm.metric, f.metric);
            assert_eq!(alarm.topics, ["arn:aws:sns:us-east-1:111122223333:alerts"]);
            assert!(after.passes(), "{}", row.control);
            assert!(
                change.summary.starts_with(row.control),
                "{}",
                change.summary
            );
        }
    }

    #[tokio::test]
    async fn refusals_say_what_to_do() {
        let a = action().await;
        let params = json!({"sns_topic_arn": "arn:aws:sns:us-east-1:111122223333:alerts"});
        let t = account("CloudWatch.4");

        let mut no_trail = monitoring("CloudWatch.4");
        no_trail.trail = None;
        no_trail.log_group = None;
        no_trail.trail_problems = vec!["trail x is not multi-Region".into()];
        let e = a.plan(&t, &params, &observed(&no_trail)).unwrap_err();
        assert_eq!(e.class, rectify_model::ErrorClass::NotConfigured);
        assert!(
            e.message.contains("CloudTrail.1 and CloudTrail.5"),
            "{}",
            e.message
        );
        assert!(e.message.contains("not multi-Region"), "{}", e.message);

        let mut no_topic = monitoring("CloudWatch.4");
        no_topic.topic = None;
        let e = a.plan(&t, &json!({}), &observed(&no_topic)).unwrap_err();
        assert_eq!(e.class, rectify_model::ErrorClass::NotConfigured);
        assert!(
            e.message.contains("set params.sns_topic_arn"),
            "{}",
            e.message
        );

        let mut unheard = monitoring("CloudWatch.4");
        unheard.topic = Some(("arn:aws:sns:us-east-1:111122223333:alerts".into(), 0));
        let e = a.plan(&t, &params, &observed(&unheard)).unwrap_err();
        assert_eq!(e.class, rectify_model::ErrorClass::NotConfigured);
        assert!(
            e.message.contains("no confirmed subscription"),
            "{}",
            e.message
        );

        let mut elsewhere = monitoring("CloudWatch.4");
        elsewhere.topic = Some(("arn:aws:sns:eu-west-1:111122223333:alerts".into(), 1));
        assert!(a.plan(&t, &params, &observed(&elsewhere)).is_err());

        // Names taken by something else are not overwritten.
        let mut taken = monitoring("CloudWatch.4");
        taken.named_filter_pattern = Some("{$.eventName=Other}".into());
        let e = a.plan(&t, &params, &observed(&taken)).unwrap_err();
        assert!(e.message.contains("params.name_prefix"), "{}", e.message);
        let mut taken = monitoring("CloudWatch.4");
        taken.named_alarm = Some(Alarm {
            name: "rectify-cis-iam-policy-changes".into(),
            metric: "m".into(),
            namespace: "n".into(),
            topics: vec![],
            notified: vec![],
        });
        assert!(a.plan(&t, &params, &observed(&taken)).is_err());

        // A target without a control of the table is refused.
        assert!(a
            .plan(
                &account("CloudWatch.15"),
                &params,
                &observed(&monitoring("CloudWatch.15"))
            )
            .is_err());
    }

    #[tokio::test]
    async fn an_existing_filter_is_used_and_the_undo_deletes_only_what_was_made() {
        let a = action().await;
        let params = json!({"sns_topic_arn": "arn:aws:sns:us-east-1:111122223333:alerts"});
        let t = account("CloudWatch.1");
        let mut m = monitoring("CloudWatch.1");
        m.filters = vec![Filter {
            name: "RootUsage".into(),
            metric: "RootUsageCount".into(),
            namespace: "LogMetrics".into(),
        }];
        // An alarm whose topic nobody confirmed does not count.
        m.alarms = vec![Alarm {
            name: "old".into(),
            metric: "RootUsageCount".into(),
            namespace: "LogMetrics".into(),
            topics: vec!["arn:aws:sns:us-east-1:111122223333:nobody".into()],
            notified: vec![],
        }];
        assert!(!m.passes());
        let change = a.plan(&t, &params, &observed(&m)).unwrap();
        let after: Monitoring = serde_json::from_value(change.after.clone()).unwrap();
        let made = after.creates.clone().unwrap();
        assert!(made.filter.is_none());
        assert_eq!(made.alarm.as_ref().unwrap().metric, "RootUsageCount");
        assert!(
            change.summary.contains("existing filter RootUsage"),
            "{}",
            change.summary
        );

        // The state as the change left it: the undo deletes the alarm only.
        let mut now = after.clone();
        now.creates = None;
        let undo = a
            .revert_plan(&t, &params, &change, &observed(&now))
            .unwrap();
        let restore: Monitoring = serde_json::from_value(undo.after).unwrap();
        let deletes = restore.deletes.unwrap();
        assert!(deletes.filter.is_none());
        assert_eq!(deletes.alarm.unwrap().name, "rectify-cis-root-usage");
        assert_eq!(restore.alarms.len(), 1);

        // The alarm changed since (another topic): refused.
        let mut moved = now.clone();
        moved.alarms[1].topics = vec!["arn:aws:sns:us-east-1:111122223333:other".into()];
        let e = a
            .revert_plan(&t, &params, &change, &observed(&moved))
            .unwrap_err();
        assert!(e.message.contains("has changed since"), "{}", e.message);
    }

    #[test]
    fn log_group_names_and_event_controls() {
        assert_eq!(
            log_group_name("arn:aws:logs:us-east-1:111122223333:log-group:aws/trail:logs:*")
                .as_deref(),
            Some("aws/trail:logs")
        );
        assert_eq!(
            log_group_name("arn:aws:logs:us-east-1:111122223333:log-group:"),
            None
        );
        let call = |name: &str, params: Value| {
            let body = json!({"version": "0", "id": "e-1", "detail-type": "AWS API Call via CloudTrail",
                "source": "aws.logs", "account": "111122223333", "region": "us-east-1",
                "time": "2026-12-05T08:00:00Z", "resources": [],
                "detail": {"eventName": name, "awsRegion": "us-east-1",
                           "recipientAccountId": "111122223333", "requestParameters": params}});
            serde_json::from_value::<Event>(json!({"id": "e-1", "source": "aws.logs",
                "detail_type": "AWS API Call via CloudTrail", "account": "111122223333",
                "region": "us-east-1", "time": "2026-12-05T08:00:00Z", "resources": [],
                "body": body}))
            .unwrap()
        };
        let deleted = call(
            "DeleteMetricFilter",
            json!({"logGroupName": "trail-logs", "filterName": "rectify-cis-vpc-changes"}),
        );
        assert_eq!(control_of_event(&deleted).as_deref(), Some("CloudWatch.14"));
        let alarms = call(
            "DeleteAlarms",
            json!({"alarmNames": ["unrelated", "rectify-cis-nacl-changes"]}),
        );
        assert_eq!(control_of_event(&alarms).as_deref(), Some("CloudWatch.11"));
        let other = call("DeleteMetricFilter", json!({"filterName": "app-errors"}));
        assert_eq!(control_of_event(&other), None);
    }
}
