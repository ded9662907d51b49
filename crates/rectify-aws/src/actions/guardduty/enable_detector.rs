//! `aws.guardduty.enable-detector`: makes GuardDuty run in the target's
//! account and region (Security Hub GuardDuty.1): a detector is created
//! and enabled where there is none, a suspended detector is enabled again.
//! The undo deletes the detector the change created, or suspends the one
//! it enabled (`rectify jobs revert`).

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::account_region as where_;
use crate::actions::{changed_since, client_for, recorded, takes_no_params};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.guardduty.enable-detector";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Enable GuardDuty in the account and region (create or enable its detector).",
    controls: &["GuardDuty.1"],
    resource_types: &["AwsAccount"],
    account_wide: false,
    permissions: &[
        "guardduty:ListDetectors",
        "guardduty:GetDetector",
        "guardduty:CreateDetector",
        "guardduty:UpdateDetector",
        "guardduty:DeleteDetector",
        "iam:CreateServiceLinkedRole",
    ],
    params: &[],
    // ListDetectors (check; none found), ListDetectors and CreateDetector
    // (apply: a detector made by a run cut off is not made twice),
    // ListDetectors and GetDetector (verify).
    calls_per_fix: 5,
    approval_by_default: false,
};

/// The region's detector as `check` reads it (a region has one at most).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Detector {
    /// None: GuardDuty has no detector in the region.
    detector_id: Option<String>,
    enabled: bool,
}

pub struct GuardDutyEnableDetector {
    aws: Arc<Aws>,
}

impl GuardDutyEnableDetector {
    pub fn new(aws: Arc<Aws>) -> Self {
        GuardDutyEnableDetector { aws }
    }

    async fn read(&self, target: &Target) -> Result<Detector, ActionError> {
        let gd = client_for(&self.aws, target, aws_sdk_guardduty::Client::new).await?;
        let here = where_(target);
        let ids = gd
            .list_detectors()
            .send()
            .await
            .map_err(|e| sdk_error_on("guardduty:ListDetectors", &here, e))?
            .detector_ids
            .unwrap_or_default();
        let Some(id) = ids.into_iter().next() else {
            return Ok(Detector {
                detector_id: None,
                enabled: false,
            });
        };
        let out = gd
            .get_detector()
            .detector_id(&id)
            .send()
            .await
            .map_err(|e| sdk_error_on("guardduty:GetDetector", &here, e))?;
        let enabled = out.status().is_some_and(|s| s.as_str() == "ENABLED");
        Ok(Detector {
            detector_id: Some(id),
            enabled,
        })
    }

    /// Brings the detector from `from` to `to`: created, enabled or
    /// suspended, or deleted (`to` without a detector).
    async fn write(
        &self,
        target: &Target,
        from: &Detector,
        to: &Detector,
    ) -> Result<(), ActionError> {
        let gd = client_for(&self.aws, target, aws_sdk_guardduty::Client::new).await?;
        let here = where_(target);
        match (&from.detector_id, &to.detector_id) {
            (None, _) if to.enabled => {
                gd.create_detector()
                    .enable(true)
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("guardduty:CreateDetector", &here, e))?;
            }
            (Some(id), None) => {
                gd.delete_detector()
                    .detector_id(id)
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("guardduty:DeleteDetector", &here, e))?;
            }
            (Some(id), Some(_)) if from.enabled != to.enabled => {
                gd.update_detector()
                    .detector_id(id)
                    .enable(to.enabled)
                    .send()
                    .await
                    .map_err(|e| sdk_error_on("guardduty:UpdateDetector", &here, e))?;
            }
            _ => {}
        }
        Ok(())
    }
}

fn observed(detector: Detector) -> Observed {
    Observed::new(detector.enabled, detector, Default::default())
}

#[async_trait]
impl Action for GuardDutyEnableDetector {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    // discover: a setting of each account and region: the account, in `region`.
    crate::actions::account_setting_discover!();

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        Ok(observed(self.read(target).await?))
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let before: Detector = recorded(&observed.state, ID)?;
        let place = format!("{}/{}", target.account, target.region);
        let summary = match (&before.detector_id, before.enabled) {
            (_, true) => format!("GuardDuty is already enabled in {place}"),
            (None, _) => format!("enable GuardDuty in {place} (create a detector)"),
            (Some(id), false) => format!("enable GuardDuty's suspended detector {id} in {place}"),
        };
        let after = Detector {
            detector_id: before.detector_id.clone(),
            enabled: true,
        };
        Ok(Change::new(summary, observed.state.clone(), after))
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let before: Detector = recorded(&change.before, ID)?;
        let after: Detector = recorded(&change.after, ID)?;
        // Idempotent: a detector created by a run cut off is enabled, not
        // created twice.
        let now = self.read(target).await?;
        if now.enabled {
            return Ok(());
        }
        let from = if now.detector_id.is_some() {
            now
        } else {
            before
        };
        let to = Detector {
            detector_id: from.detector_id.clone(),
            ..after
        };
        self.write(target, &from, &to).await
    }

    /// Deletes the detector the change created, or suspends the one it
    /// enabled; refuses when GuardDuty is no longer as the change left it.
    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let before: Detector = recorded(&applied.before, ID)?;
        let current: Detector = recorded(&now.state, ID)?;
        let place = format!("{}/{}", target.account, target.region);
        let same = current.enabled
            && (before.detector_id.is_none() || before.detector_id == current.detector_id);
        if !same || before.enabled {
            return Err(changed_since(
                &format!("GuardDuty in {place}"),
                &now.state,
                &applied.after,
            ));
        }
        let (summary, restore) = match &before.detector_id {
            None => (
                format!(
                    "delete the GuardDuty detector {} the change created in {place} (its findings go with it)",
                    current.detector_id.as_deref().unwrap_or("?")
                ),
                Detector { detector_id: None, enabled: false },
            ),
            Some(id) => (
                format!("suspend GuardDuty's detector {id} in {place} again"),
                before.clone(),
            ),
        };
        Ok(Change::new(summary, now.state.clone(), restore))
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let from: Detector = recorded(&change.before, ID)?;
        let to: Detector = recorded(&change.after, ID)?;
        self.write(target, &from, &to).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;
    use crate::AwsSettings;
    use serde_json::json;

    #[tokio::test]
    async fn plans_and_undo_plans() {
        let a =
            GuardDutyEnableDetector::new(Arc::new(Aws::new(AwsSettings::new("us-east-1")).await));
        assert!(a.validate_params(&json!({"x": 1})).is_err());
        let t = target("AwsAccount", "AWS::::Account:111122223333", Value::Null);
        let none = observed(Detector {
            detector_id: None,
            enabled: false,
        });
        let change = a.plan(&t, &json!({}), &none).unwrap();
        assert_eq!(
            change.summary,
            "enable GuardDuty in 111122223333/us-east-1 (create a detector)"
        );
        let created = observed(Detector {
            detector_id: Some("d-1".into()),
            enabled: true,
        });
        let undo = a.revert_plan(&t, &json!({}), &change, &created).unwrap();
        assert_eq!(undo.after, json!({"detector_id": null, "enabled": false}));
        // Suspended since: refused.
        let suspended = observed(Detector {
            detector_id: Some("d-1".into()),
            enabled: false,
        });
        assert!(a.revert_plan(&t, &json!({}), &change, &suspended).is_err());
    }
}
