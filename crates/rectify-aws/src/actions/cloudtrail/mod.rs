//! CloudTrail remediation actions, one file each, and what they share: the
//! trail a finding or event names, reading a trail's settings and tags,
//! writing them with `UpdateTrail`, and the checks of a KMS key param.

use std::sync::Arc;

use rectify_model::{Action, ActionError, Event, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::{client_for, recorded, tag_map};
use crate::errors::sdk_error_on;
use crate::Aws;

/// This service's actions, in catalog order.
pub fn catalog(aws: &Arc<Aws>) -> Vec<Arc<dyn Action>> {
    vec![
        Arc::new(enable_log_file_validation::CloudTrailEnableLogFileValidation::new(aws.clone())),
        Arc::new(enable_kms_encryption::CloudTrailEnableKmsEncryption::new(
            aws.clone(),
        )),
        Arc::new(enable_cloudwatch_logs::CloudTrailEnableCloudWatchLogs::new(
            aws.clone(),
        )),
        Arc::new(enable_multi_region_trail::CloudTrailEnableMultiRegionTrail::new(aws.clone())),
    ]
}

/// The ASFF type of a trail.
pub(crate) const TRAIL_TYPE: &str = "AwsCloudTrailTrail";

/// Whether `name` is a trail name CloudTrail accepts: 3 to 128 letters,
/// digits, `.`, `_`, `-`, starting and ending with a letter or digit.
pub(crate) fn valid_trail_name(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    (3..=128).contains(&name.len())
        && name.chars().all(ok_char)
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// The trail a target names: its ARN
/// (`arn:<partition>:cloudtrail:<region>:<account>:trail/<name>`) in the
/// target's own account and region (the trail's home region, where
/// `UpdateTrail` must be called). Anything else is refused.
pub(crate) fn trail_of<'a>(target: &'a Target, action: &str) -> Result<&'a str, ActionError> {
    let id = target.resource_id.as_str();
    let parts: Vec<&str> = id.splitn(6, ':').collect();
    let refuse = |why: String| ActionError::invalid(format!("{action}: {why}; refused"));
    match parts[..] {
        ["arn", partition, "cloudtrail", region, account, resource] => {
            let name = resource.strip_prefix("trail/").unwrap_or("");
            if !valid_trail_name(name) {
                return Err(refuse(format!("`{id}` does not name a trail")));
            }
            if account != target.account {
                return Err(refuse(format!(
                    "trail `{id}` is in account {account}, not in {}",
                    target.account
                )));
            }
            if region != target.region || partition != target.partition {
                return Err(refuse(format!(
                    "trail `{id}` has its home in {partition}/{region}, not in {}/{}",
                    target.partition, target.region
                )));
            }
            Ok(name)
        }
        _ => Err(refuse(format!("`{id}` is not a trail ARN"))),
    }
}

/// The trail an event names. Security Hub, OCSF and Prowler findings name
/// it among their resources; a CloudTrail call (`UpdateTrail`,
/// `StopLogging`, ...) by `requestParameters.name` (a name or an ARN); an
/// AWS Config evaluation of `AWS::CloudTrail::Trail` by `resourceId` or
/// `resourceName`. A trail ARN must name the event's account.
pub(crate) fn trail_target(event: &Event, action: &str) -> Result<Target, ActionError> {
    let detail = &event.body["detail"];
    let named = match event.detail_type.as_str() {
        rectify_model::target::CLOUDTRAIL_API_CALL => {
            if let Some(code) = detail["errorCode"].as_str().filter(|c| !c.is_empty()) {
                return Err(ActionError::invalid(format!(
                    "CloudTrail call {} failed ({code}): it changed nothing",
                    detail["eventName"].as_str().unwrap_or("?")
                )));
            }
            detail["requestParameters"]["name"]
                .as_str()
                .or_else(|| detail["requestParameters"]["trailName"].as_str())
        }
        rectify_model::target::CONFIG_COMPLIANCE_CHANGE => {
            let kind = detail["resourceType"].as_str().unwrap_or("");
            if kind != "AWS::CloudTrail::Trail" {
                return Err(ActionError::invalid(format!(
                    "{action}: Config evaluation {} is of `{kind}`, not of a trail",
                    event.id
                )));
            }
            detail["resourceId"]
                .as_str()
                .filter(|s| !s.is_empty())
                .or_else(|| detail["resourceName"].as_str())
        }
        rectify_model::SECURITY_HUB_IMPORTED_V2 => {
            // OCSF names a trail `AWS::CloudTrail::Trail`, by ARN or name.
            let finding = event.finding_value().ok_or_else(|| {
                ActionError::invalid(format!("event {} carries no single OCSF finding", event.id))
            })?;
            let resource = finding["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| {
                    matches!(
                        r["type"].as_str(),
                        Some("AWS::CloudTrail::Trail") | Some(TRAIL_TYPE)
                    )
                })
                .ok_or_else(|| ActionError::invalid(format!("{action}: finding names no trail")))?;
            let arn = [&resource["uid_alt"], &resource["uid"]]
                .into_iter()
                .filter_map(Value::as_str)
                .find(|id| id.starts_with("arn:"));
            let account = finding["cloud"]["account"]["uid"]
                .as_str()
                .unwrap_or(&event.account)
                .to_string();
            let region = resource["region"]
                .as_str()
                .or_else(|| finding["cloud"]["region"].as_str())
                .unwrap_or(&event.region)
                .to_string();
            return finish(
                arn.or_else(|| resource["uid"].as_str()),
                &account,
                &region,
                event,
                action,
            );
        }
        _ => {
            let target = Target::from_event(event, &[TRAIL_TYPE]).map_err(ActionError::invalid)?;
            trail_of(&target, action)?;
            return Ok(target);
        }
    };
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let account = text(&detail["recipientAccountId"])
        .or_else(|| text(&detail["awsAccountId"]))
        .unwrap_or_else(|| event.account.clone());
    let region = text(&detail["awsRegion"]).unwrap_or_else(|| event.region.clone());
    finish(named, &account, &region, event, action)
}

/// The target of a trail named by name or ARN in `account` and `region`.
fn finish(
    named: Option<&str>,
    account: &str,
    region: &str,
    event: &Event,
    action: &str,
) -> Result<Target, ActionError> {
    let named = named.unwrap_or("");
    let arn = if named.starts_with("arn:") {
        named.to_string()
    } else if valid_trail_name(named) {
        format!(
            "arn:{}:cloudtrail:{region}:{account}:trail/{named}",
            rectify_model::partition_of(region)
        )
    } else {
        return Err(ActionError::invalid(format!(
            "{action}: event {} names no trail (got {named:?})",
            event.id
        )));
    };
    // A trail ARN says its own home region.
    let home = arn.split(':').nth(3).unwrap_or(region).to_string();
    let target = Target::listed(account, &home, TRAIL_TYPE, arn);
    target.check_consistent().map_err(|why| {
        ActionError::invalid(format!("{action}: event {}: {why}; refused", event.id))
    })?;
    trail_of(&target, action)?;
    Ok(target)
}

/// The trail settings the actions of this module govern, as `GetTrail`
/// reports them (empty strings as none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TrailSettings {
    pub log_file_validation: bool,
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub log_group_arn: Option<String>,
    #[serde(default)]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub multi_region: bool,
}

impl TrailSettings {
    pub fn from_sdk(trail: &aws_sdk_cloudtrail::types::Trail) -> TrailSettings {
        let some = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
        TrailSettings {
            log_file_validation: trail.log_file_validation_enabled().unwrap_or(false),
            kms_key_id: some(trail.kms_key_id()),
            log_group_arn: some(trail.cloud_watch_logs_log_group_arn()),
            role_arn: some(trail.cloud_watch_logs_role_arn()),
            multi_region: trail.is_multi_region_trail().unwrap_or(false),
        }
    }
}

impl TrailSettings {
    /// Whether these settings, as read, are the ones `left` recorded:
    /// CloudTrail reports a key given by id as its ARN and a log group ARN
    /// with a `:*` suffix.
    pub fn matches(&self, left: &TrailSettings) -> bool {
        let key = match (&self.kms_key_id, &left.kms_key_id) {
            (Some(now), Some(set)) => same_key(now, set),
            (now, set) => now == set,
        };
        let group = |g: &Option<String>| g.as_deref().map(|g| g.trim_end_matches(":*").to_string());
        key && group(&self.log_group_arn) == group(&left.log_group_arn)
            && self.role_arn == left.role_arn
            && self.log_file_validation == left.log_file_validation
            && self.multi_region == left.multi_region
    }
}

/// Whether `current` (a key ARN, as CloudTrail reports it) is the key
/// `chosen` names (its ARN or its id).
pub(crate) fn same_key(current: &str, chosen: &str) -> bool {
    current == chosen || current.ends_with(&format!(":key/{chosen}"))
}

/// Checks a `kms_key_id` param: a key's ARN or key id. An alias is
/// refused: CloudTrail reports the key by its ARN, so a read-back could
/// not tell it is the key asked for.
pub(crate) fn check_key_param(key: &str) -> Result<(), String> {
    if key.starts_with("alias/") || key.contains(":alias/") {
        return Err(format!(
            "params.kms_key_id: give the key's ARN or key id, not an alias ({key}): CloudTrail reports the key by its ARN"
        ));
    }
    if key.starts_with("arn:") && !key.contains(":kms:") {
        return Err(format!("params.kms_key_id: {key} is not a KMS key ARN"));
    }
    Ok(())
}

/// Refuses a key ARN of another region than the trail's home region
/// (CloudTrail refuses it too); a bare key id is in the trail's region.
pub(crate) fn key_in_home_region(
    key: &str,
    home_region: &str,
    trail: &str,
    action: &str,
) -> Result<(), ActionError> {
    match key.strip_prefix("arn:").and_then(|r| r.split(':').nth(2)) {
        Some(region) if region != home_region => Err(ActionError::invalid(format!(
            "{action}: key {key} is in {region}, trail {trail} in {home_region}: CloudTrail needs a key in the trail's home region"
        ))),
        _ => Ok(()),
    }
}

/// A CloudTrail client in the target's account and region.
pub(crate) async fn client(
    aws: &Aws,
    target: &Target,
) -> Result<aws_sdk_cloudtrail::Client, ActionError> {
    client_for(aws, target, aws_sdk_cloudtrail::Client::new).await
}

/// One trail's settings (`GetTrail`).
pub(crate) async fn read_trail(
    ct: &aws_sdk_cloudtrail::Client,
    name: &str,
) -> Result<TrailSettings, ActionError> {
    let out = ct
        .get_trail()
        .name(name)
        .send()
        .await
        .map_err(|e| sdk_error_on("cloudtrail:GetTrail", &format!("trail {name}"), e))?;
    let trail = out
        .trail()
        .ok_or_else(|| ActionError::invalid(format!("trail {name}: GetTrail returned no trail")))?;
    Ok(TrailSettings::from_sdk(trail))
}

/// The trail's tags (`ListTags`).
pub(crate) async fn trail_tags(
    ct: &aws_sdk_cloudtrail::Client,
    arn: &str,
) -> Result<serde_json::Map<String, Value>, ActionError> {
    let out = ct
        .list_tags()
        .resource_id_list(arn)
        .send()
        .await
        .map_err(|e| sdk_error_on("cloudtrail:ListTags", arn, e))?;
    Ok(tag_map(
        out.resource_tag_list()
            .iter()
            .flat_map(|r| r.tags_list())
            .map(|t| (t.key(), t.value().unwrap_or(""))),
    ))
}

/// A trail setting's check: the trail's settings and tags, `compliant`
/// as `ok` judges the settings.
pub(crate) async fn check_trail(
    aws: &Aws,
    target: &Target,
    action: &str,
    ok: impl Fn(&TrailSettings) -> bool,
) -> Result<Observed, ActionError> {
    let name = trail_of(target, action)?;
    let ct = client(aws, target).await?;
    let settings = read_trail(&ct, name).await?;
    let tags = trail_tags(&ct, &target.resource_id).await?;
    Ok(Observed {
        compliant: ok(&settings),
        state: serde_json::to_value(settings).expect("plain struct"),
        tags,
    })
}

/// A trail setting's read-back after a write: `GetTrail` only.
pub(crate) async fn verify_trail(
    aws: &Aws,
    target: &Target,
    action: &str,
    ok: impl Fn(&TrailSettings) -> bool,
) -> Result<Observed, ActionError> {
    let name = trail_of(target, action)?;
    let ct = client(aws, target).await?;
    let settings = read_trail(&ct, name).await?;
    Ok(Observed {
        compliant: ok(&settings),
        state: serde_json::to_value(settings).expect("plain struct"),
        tags: Default::default(),
    })
}

/// Brings the trail's settings from `from` to `to` in one `UpdateTrail`,
/// sending only the settings that differ (an empty string removes a KMS
/// key or the CloudWatch Logs delivery, as CloudTrail documents).
pub(crate) async fn update_trail(
    aws: &Aws,
    target: &Target,
    action: &str,
    from: &TrailSettings,
    to: &TrailSettings,
) -> Result<(), ActionError> {
    if from == to {
        return Ok(());
    }
    let name = trail_of(target, action)?;
    let ct = client(aws, target).await?;
    let mut request = ct.update_trail().name(name);
    if from.log_file_validation != to.log_file_validation {
        request = request.enable_log_file_validation(to.log_file_validation);
    }
    if from.multi_region != to.multi_region {
        request = request.is_multi_region_trail(to.multi_region);
    }
    if from.kms_key_id != to.kms_key_id {
        request = request.kms_key_id(to.kms_key_id.clone().unwrap_or_default());
    }
    if from.log_group_arn != to.log_group_arn || from.role_arn != to.role_arn {
        request = request
            .cloud_watch_logs_log_group_arn(to.log_group_arn.clone().unwrap_or_default())
            .cloud_watch_logs_role_arn(to.role_arn.clone().unwrap_or_default());
    }
    request
        .send()
        .await
        .map_err(|e| sdk_error_on("cloudtrail:UpdateTrail", &format!("trail {name}"), e))?;
    Ok(())
}

/// The undo of a trail setting change: back to `applied.before` when the
/// trail is still as `applied.after` left it (else refused), with
/// `describe` naming the restored settings in the summary.
pub(crate) fn revert_trail_plan(
    target: &Target,
    action: &str,
    applied: &rectify_model::Change,
    now: &Observed,
    describe: impl Fn(&TrailSettings) -> String,
) -> Result<rectify_model::Change, ActionError> {
    let name = trail_of(target, action)?;
    let left: TrailSettings = recorded(&applied.after, action)?;
    let restore: TrailSettings = recorded(&applied.before, action)?;
    let current: TrailSettings = recorded(&now.state, action)?;
    if !current.matches(&left) {
        return Err(crate::actions::changed_since(
            &format!("trail {name}"),
            &now.state,
            &applied.after,
        ));
    }
    Ok(rectify_model::Change {
        summary: format!("set trail {name} back to {}", describe(&restore)),
        before: now.state.clone(),
        after: applied.before.clone(),
    })
}

/// Writes a change of a trail's settings (`apply` and `revert` alike).
pub(crate) async fn write_change(
    aws: &Aws,
    target: &Target,
    action: &str,
    change: &rectify_model::Change,
) -> Result<(), ActionError> {
    let from: TrailSettings = recorded(&change.before, action)?;
    let to: TrailSettings = recorded(&change.after, action)?;
    update_trail(aws, target, action, &from, &to).await
}

/// The account's trails whose home is `region` (`DescribeTrails` without
/// shadow trails), for `rectify scan`; organization trails of another
/// account are left out.
pub(crate) async fn discover_trails(
    aws: &Aws,
    account: &str,
    region: &str,
) -> Result<Vec<Target>, ActionError> {
    let config = aws.config_for(account, region).await?;
    let ct = aws_sdk_cloudtrail::Client::new(&config);
    let out = ct
        .describe_trails()
        .include_shadow_trails(false)
        .send()
        .await
        .map_err(|e| {
            sdk_error_on(
                "cloudtrail:DescribeTrails",
                &format!("account {account} in {region}"),
                e,
            )
        })?;
    Ok(out
        .trail_list()
        .iter()
        .filter_map(|t| t.trail_arn())
        .filter(|arn| arn.split(':').nth(4) == Some(account))
        .filter(|arn| arn.split(':').nth(3) == Some(region))
        .map(|arn| Target::listed(account, region, TRAIL_TYPE, arn.to_string()))
        .collect())
}

/// Whether the trail now has the settings `change.after` restores.
pub(crate) async fn verify_trail_revert(
    aws: &Aws,
    target: &Target,
    action: &str,
    change: &rectify_model::Change,
) -> Result<bool, ActionError> {
    let name = trail_of(target, action)?;
    let ct = client(aws, target).await?;
    let now = read_trail(&ct, name).await?;
    let restored: TrailSettings = recorded(&change.after, action)?;
    Ok(now.matches(&restored))
}

/// The `Action` impl of an action on one trail setting: `$params`
/// checks the params (`Result<_, String>`), `$complies` judges the
/// settings `check` reads (with the trail's tags), `$describe` names
/// restored settings in an undo's summary, and the type's own
/// `plan_trail` and `verify_trail` do what differs.
macro_rules! trail_setting_action {
    ($action:ty, $params:path, $complies:path, $describe:path) => {
        #[async_trait::async_trait]
        impl rectify_model::Action for $action {
            fn spec(&self) -> &'static rectify_model::ActionSpec {
                &SPEC
            }

            fn validate_params(&self, params: &serde_json::Value) -> Result<(), String> {
                $params(params).map(|_| ())
            }

            fn target(
                &self,
                event: &rectify_model::Event,
            ) -> Result<rectify_model::Target, rectify_model::ActionError> {
                $crate::actions::cloudtrail::trail_target(event, ID)
            }

            async fn check(
                &self,
                target: &rectify_model::Target,
                params: &serde_json::Value,
            ) -> Result<rectify_model::Observed, rectify_model::ActionError> {
                $params(params).map_err(rectify_model::ActionError::invalid)?;
                $crate::actions::cloudtrail::check_trail(&self.aws, target, ID, $complies).await
            }

            fn plan(
                &self,
                target: &rectify_model::Target,
                params: &serde_json::Value,
                observed: &rectify_model::Observed,
            ) -> Result<rectify_model::Change, rectify_model::ActionError> {
                self.plan_trail(target, params, observed)
            }

            async fn apply(
                &self,
                target: &rectify_model::Target,
                params: &serde_json::Value,
                change: &rectify_model::Change,
            ) -> Result<(), rectify_model::ActionError> {
                $params(params).map_err(rectify_model::ActionError::invalid)?;
                $crate::actions::cloudtrail::write_change(&self.aws, target, ID, change).await
            }

            async fn verify(
                &self,
                target: &rectify_model::Target,
                params: &serde_json::Value,
            ) -> Result<rectify_model::Observed, rectify_model::ActionError> {
                self.verify_trail(target, params).await
            }

            fn revert_plan(
                &self,
                target: &rectify_model::Target,
                params: &serde_json::Value,
                applied: &rectify_model::Change,
                now: &rectify_model::Observed,
            ) -> Result<rectify_model::Change, rectify_model::ActionError> {
                $params(params).map_err(rectify_model::ActionError::invalid)?;
                $crate::actions::cloudtrail::revert_trail_plan(target, ID, applied, now, $describe)
            }

            async fn revert(
                &self,
                target: &rectify_model::Target,
                params: &serde_json::Value,
                change: &rectify_model::Change,
            ) -> Result<(), rectify_model::ActionError> {
                $params(params).map_err(rectify_model::ActionError::invalid)?;
                $crate::actions::cloudtrail::write_change(&self.aws, target, ID, change).await
            }

            async fn verify_revert(
                &self,
                target: &rectify_model::Target,
                params: &serde_json::Value,
                change: &rectify_model::Change,
            ) -> Result<bool, rectify_model::ActionError> {
                $params(params).map_err(rectify_model::ActionError::invalid)?;
                $crate::actions::cloudtrail::verify_trail_revert(&self.aws, target, ID, change)
                    .await
            }

            /// The account's trails with their home in `region`.
            async fn discover(
                &self,
                account: &str,
                region: &str,
            ) -> Result<Vec<rectify_model::Target>, rectify_model::ActionError> {
                $crate::actions::cloudtrail::discover_trails(&self.aws, account, region).await
            }
        }
    };
}
pub(crate) use trail_setting_action;

pub mod enable_cloudwatch_logs;
pub mod enable_kms_encryption;
pub mod enable_log_file_validation;
pub mod enable_multi_region_trail;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;
    use serde_json::json;

    #[test]
    fn trail_names_and_arns() {
        assert!(valid_trail_name("org-trail_1.x"));
        assert!(!valid_trail_name("ab"));
        assert!(!valid_trail_name("-abc"));
        assert!(!valid_trail_name("a b c"));
        let ok = target(
            TRAIL_TYPE,
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/main",
            Value::Null,
        );
        assert_eq!(trail_of(&ok, "x").unwrap(), "main");
        for bad in [
            "arn:aws:cloudtrail:us-east-1:444455556666:trail/main",
            "arn:aws:cloudtrail:eu-west-1:111122223333:trail/main",
            "arn:aws:s3:::bucket",
            "main",
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/a b",
        ] {
            let t = target(TRAIL_TYPE, bad, json!(null));
            assert!(trail_of(&t, "x").is_err(), "{bad}");
        }
    }

    fn event(detail_type: &str, detail: Value) -> Event {
        let body = json!({"version": "0", "id": "e-1", "detail-type": detail_type,
            "source": "aws.cloudtrail", "account": "111122223333", "region": "eu-west-1",
            "time": "2026-12-05T08:00:00Z", "resources": [], "detail": detail});
        serde_json::from_value(json!({"id": "e-1", "source": "aws.cloudtrail",
            "detail_type": detail_type, "account": "111122223333", "region": "eu-west-1",
            "time": "2026-12-05T08:00:00Z", "resources": [], "body": body}))
        .unwrap()
    }

    #[test]
    fn trails_named_by_calls_and_config_evaluations() {
        let call = event(
            rectify_model::target::CLOUDTRAIL_API_CALL,
            json!({"eventName": "UpdateTrail", "awsRegion": "eu-west-1",
                   "recipientAccountId": "111122223333",
                   "requestParameters": {"name": "main"}}),
        );
        let t = trail_target(&call, "x").unwrap();
        assert_eq!(
            t.resource_id,
            "arn:aws:cloudtrail:eu-west-1:111122223333:trail/main"
        );
        // An ARN of another account is refused.
        let other = event(
            rectify_model::target::CLOUDTRAIL_API_CALL,
            json!({"eventName": "UpdateTrail", "awsRegion": "eu-west-1",
                   "recipientAccountId": "111122223333",
                   "requestParameters": {"name": "arn:aws:cloudtrail:eu-west-1:444455556666:trail/main"}}),
        );
        assert!(trail_target(&other, "x").is_err());
        let failed = event(
            rectify_model::target::CLOUDTRAIL_API_CALL,
            json!({"eventName": "UpdateTrail", "errorCode": "AccessDenied",
                   "requestParameters": {"name": "main"}}),
        );
        assert!(trail_target(&failed, "x").is_err());
        let config = event(
            rectify_model::target::CONFIG_COMPLIANCE_CHANGE,
            json!({"resourceType": "AWS::CloudTrail::Trail", "resourceId": "main",
                   "awsAccountId": "111122223333", "awsRegion": "eu-west-1"}),
        );
        assert_eq!(
            trail_target(&config, "x").unwrap().resource_id,
            "arn:aws:cloudtrail:eu-west-1:111122223333:trail/main"
        );
    }
}
