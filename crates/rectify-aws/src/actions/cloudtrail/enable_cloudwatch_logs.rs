//! `aws.cloudtrail.enable-cloudwatch-logs`: makes a trail deliver its
//! events to a CloudWatch Logs log group as well (Security Hub
//! CloudTrail.5), the group and the role CloudTrail assumes to write to it
//! given by the rule's params `log_group_arn` and `role_arn`. The metric
//! filters and alarms of CloudWatch.1 to CloudWatch.14 read that group.
//! The delivery as it was can be restored (`rectify jobs revert`).

use std::sync::Arc;

use rectify_model::{ActionError, ActionSpec, Change, Observed, ParamSpec, Target};
use serde_json::Value;

use super::{trail_of, verify_trail, TrailSettings, TRAIL_TYPE};
use crate::actions::{no_change, params_object, recorded, reject_unknown, string_param};
use crate::Aws;

pub const ID: &str = "aws.cloudtrail.enable-cloudwatch-logs";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Deliver a CloudTrail trail's events to a CloudWatch Logs log group.",
    controls: &["CloudTrail.5"],
    resource_types: &[TRAIL_TYPE],
    account_wide: false,
    permissions: &[
        "cloudtrail:GetTrail",
        "cloudtrail:ListTags",
        "cloudtrail:UpdateTrail",
        "cloudtrail:DescribeTrails",
        "iam:PassRole",
    ],
    params: &[
        ParamSpec {
            name: "log_group_arn",
            kind: "string",
            default: "null",
            doc: "Required to change a trail: the ARN of an existing log group in the trail's account and home region (`arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*`).",
        },
        ParamSpec {
            name: "role_arn",
            kind: "string",
            default: "null",
            doc: "Required to change a trail: the ARN of a role in the trail's account that CloudTrail (cloudtrail.amazonaws.com) may assume, allowed logs:CreateLogStream and logs:PutLogEvents on the group; rectify needs iam:PassRole on it.",
        },
    ],
    // GetTrail and ListTags (check), UpdateTrail, GetTrail (verify).
    calls_per_fix: 4,
    approval_by_default: false,
};

/// The two params, when given, each checked for its shape.
fn destination(params: &Value) -> Result<(Option<String>, Option<String>), String> {
    let p = params_object(params)?;
    reject_unknown(&p, &["log_group_arn", "role_arn"], ID)?;
    let group = string_param(&p, "log_group_arn", 2048)?;
    let role = string_param(&p, "role_arn", 2048)?;
    if let Some(g) = &group {
        let parts: Vec<&str> = g.splitn(7, ':').collect();
        if !matches!(parts[..], ["arn", _, "logs", _, _, "log-group", _]) {
            return Err(format!(
                "params.log_group_arn: {g} is not a log group ARN (arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*)"
            ));
        }
    }
    if let Some(r) = &role {
        let parts: Vec<&str> = r.splitn(6, ':').collect();
        if !matches!(parts[..], ["arn", _, "iam", "", _, name] if name.starts_with("role/")) {
            return Err(format!(
                "params.role_arn: {r} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
            ));
        }
    }
    Ok((group, role))
}

/// The group's ARN as CloudTrail stores it (with the `:*` suffix).
fn group_arn(g: &str) -> String {
    if g.ends_with(":*") {
        g.to_string()
    } else {
        format!("{g}:*")
    }
}

fn complies(s: &TrailSettings) -> bool {
    s.log_group_arn.is_some()
}

fn describe(s: &TrailSettings) -> String {
    match &s.log_group_arn {
        Some(g) => format!("delivery to log group {g}"),
        None => "no delivery to CloudWatch Logs".to_string(),
    }
}

pub struct CloudTrailEnableCloudWatchLogs {
    aws: Arc<Aws>,
}

impl CloudTrailEnableCloudWatchLogs {
    pub fn new(aws: Arc<Aws>) -> Self {
        CloudTrailEnableCloudWatchLogs { aws }
    }

    async fn verify_trail(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        let (group, _) = destination(params).map_err(ActionError::invalid)?;
        verify_trail(&self.aws, target, ID, |s| {
            match (&s.log_group_arn, &group) {
                (Some(now), Some(g)) => *now == group_arn(g),
                (now, _) => now.is_some(),
            }
        })
        .await
    }

    fn plan_trail(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        let (group, role) = destination(params).map_err(ActionError::invalid)?;
        let name = trail_of(target, ID)?;
        let before: TrailSettings = recorded(&observed.state, ID)?;
        if let Some(current) = &before.log_group_arn {
            return Ok(no_change(
                format!("trail {name} already delivers to log group {current}"),
                observed,
            ));
        }
        let (Some(group), Some(role)) = (group, role) else {
            return Err(ActionError::not_configured(format!(
                "{ID}: trail {name} delivers to no CloudWatch Logs log group, and the rule does not say where: \
                 set params.log_group_arn (an existing log group in account {} and {}) and params.role_arn \
                 (a role CloudTrail may assume, allowed logs:CreateLogStream and logs:PutLogEvents on it)",
                target.account, target.region
            )));
        };
        let group_parts: Vec<&str> = group.split(':').collect();
        if group_parts[3] != target.region || group_parts[4] != target.account {
            return Err(ActionError::invalid(format!(
                "{ID}: log group {group} is not in the trail's account {} and home region {}; refused",
                target.account, target.region
            )));
        }
        if role.split(':').nth(4) != Some(target.account.as_str()) {
            return Err(ActionError::invalid(format!(
                "{ID}: role {role} is not in the trail's account {}; refused",
                target.account
            )));
        }
        let group = group_arn(&group);
        let after = TrailSettings {
            log_group_arn: Some(group.clone()),
            role_arn: Some(role.clone()),
            ..before
        };
        Ok(Change {
            summary: format!(
                "deliver the events of trail {name} to log group {group} too (CloudTrail writes with role {role})"
            ),
            before: observed.state.clone(),
            after: serde_json::to_value(after).expect("plain struct"),
        })
    }
}

super::trail_setting_action!(
    CloudTrailEnableCloudWatchLogs,
    destination,
    complies,
    describe
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;
    use crate::AwsSettings;
    use rectify_model::Action;
    use serde_json::json;

    #[tokio::test]
    async fn params_and_plans() {
        let a = CloudTrailEnableCloudWatchLogs::new(Arc::new(
            Aws::new(AwsSettings::new("us-east-1")).await,
        ));
        let group = "arn:aws:logs:us-east-1:111122223333:log-group:trail";
        let role = "arn:aws:iam::111122223333:role/trail-to-logs";
        let params = json!({"log_group_arn": group, "role_arn": role});
        assert!(a.validate_params(&params).is_ok());
        assert!(a
            .validate_params(&json!({"log_group_arn": "trail"}))
            .is_err());
        assert!(a
            .validate_params(&json!({"role_arn": "arn:aws:iam::111122223333:user/x"}))
            .is_err());
        let t = target(
            TRAIL_TYPE,
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/main",
            Value::Null,
        );
        let none = Observed {
            compliant: false,
            state: json!({"log_file_validation": false}),
            tags: Default::default(),
        };
        let refused = a.plan(&t, &json!({}), &none).unwrap_err();
        assert!(
            refused.message.contains("set params.log_group_arn"),
            "{}",
            refused.message
        );
        let elsewhere = json!({"log_group_arn": "arn:aws:logs:us-east-1:444455556666:log-group:x",
                               "role_arn": role});
        assert!(a.plan(&t, &elsewhere, &none).is_err());
        let change = a.plan(&t, &params, &none).unwrap();
        assert_eq!(change.after["log_group_arn"], format!("{group}:*"));
        assert_eq!(change.after["role_arn"], role);
    }
}
