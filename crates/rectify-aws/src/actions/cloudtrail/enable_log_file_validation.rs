//! `aws.cloudtrail.enable-log-file-validation`: turns on log file
//! integrity validation of a trail (Security Hub CloudTrail.4), so that
//! CloudTrail delivers a signed digest file each hour with which a
//! modified or deleted log file can be detected. Nothing else of the trail
//! changes; the setting as it was can be restored (`rectify jobs revert`).

use std::sync::Arc;

use rectify_model::{ActionError, ActionSpec, Change, Observed, Target};
use serde_json::Value;

use super::{trail_of, verify_trail, TrailSettings, TRAIL_TYPE};
use crate::actions::{no_params, recorded};
use crate::Aws;

pub const ID: &str = "aws.cloudtrail.enable-log-file-validation";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Turn on log file integrity validation of a CloudTrail trail.",
    controls: &["CloudTrail.4"],
    resource_types: &[TRAIL_TYPE],
    account_wide: false,
    permissions: &[
        "cloudtrail:GetTrail",
        "cloudtrail:ListTags",
        "cloudtrail:UpdateTrail",
        "cloudtrail:DescribeTrails",
    ],
    params: &[],
    // GetTrail and ListTags (check), UpdateTrail, GetTrail (verify).
    calls_per_fix: 4,
    approval_by_default: false,
};

fn validate(params: &Value) -> Result<(), String> {
    no_params(params, ID)
}

fn complies(s: &TrailSettings) -> bool {
    s.log_file_validation
}

fn on_off(s: &TrailSettings) -> String {
    format!(
        "log file validation {}",
        if s.log_file_validation { "on" } else { "off" }
    )
}

pub struct CloudTrailEnableLogFileValidation {
    aws: Arc<Aws>,
}

impl CloudTrailEnableLogFileValidation {
    pub fn new(aws: Arc<Aws>) -> Self {
        CloudTrailEnableLogFileValidation { aws }
    }

    async fn verify_trail(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        validate(params).map_err(ActionError::invalid)?;
        verify_trail(&self.aws, target, ID, complies).await
    }

    fn plan_trail(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        validate(params).map_err(ActionError::invalid)?;
        let name = trail_of(target, ID)?;
        let before: TrailSettings = recorded(&observed.state, ID)?;
        let after = TrailSettings {
            log_file_validation: true,
            ..before.clone()
        };
        let summary = if before.log_file_validation {
            format!("log file validation is already on for trail {name}")
        } else {
            format!("turn on log file validation of trail {name}")
        };
        Ok(Change {
            summary,
            before: observed.state.clone(),
            after: serde_json::to_value(after).expect("plain struct"),
        })
    }
}

super::trail_setting_action!(
    CloudTrailEnableLogFileValidation,
    validate,
    complies,
    on_off
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;
    use crate::AwsSettings;
    use rectify_model::Action;
    use serde_json::json;

    #[tokio::test]
    async fn plan_and_undo_plan() {
        let a = CloudTrailEnableLogFileValidation::new(Arc::new(
            Aws::new(AwsSettings::new("us-east-1")).await,
        ));
        assert!(a.validate_params(&json!({})).is_ok());
        assert!(a.validate_params(&json!({"x": 1})).is_err());
        let t = target(
            TRAIL_TYPE,
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/main",
            Value::Null,
        );
        let off = Observed {
            compliant: false,
            state: json!({"log_file_validation": false, "multi_region": true}),
            tags: Default::default(),
        };
        let change = a.plan(&t, &json!({}), &off).unwrap();
        assert_eq!(change.after["log_file_validation"], true);
        assert_eq!(change.after["multi_region"], true);
        assert_eq!(change.summary, "turn on log file validation of trail main");
        let after = Observed {
            compliant: true,
            state: change.after.clone(),
            tags: Default::default(),
        };
        let undo = a.revert_plan(&t, &json!({}), &change, &after).unwrap();
        assert_eq!(
            undo.summary,
            "set trail main back to log file validation off"
        );
        // Turned off by someone since: refused.
        assert!(a.revert_plan(&t, &json!({}), &change, &off).is_err());
    }
}
