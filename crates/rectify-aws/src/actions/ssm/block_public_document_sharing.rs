//! `aws.ssm.block-public-document-sharing`: turns on the block public
//! sharing setting of SSM documents in the target's account and region
//! (Security Hub SSM.7): the service setting
//! `/ssm/documents/console/public-sharing-permission` set to `Disable`, so
//! that no document of the account can be shared with everyone. Documents
//! already public stay so (SSM.4 answers them). The setting as it was
//! (a value of its own, or the default) can be restored (`rectify jobs
//! revert`).

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{Action, ActionError, ActionSpec, Change, Observed, Target};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ssm_client;
use crate::actions::account_region as where_;
use crate::actions::{account_target, changed_since, recorded, takes_no_params};
use crate::errors::sdk_error_on;
use crate::Aws;

pub const ID: &str = "aws.ssm.block-public-document-sharing";

/// The service setting that allows (`Enable`) or blocks (`Disable`)
/// sharing documents with everyone.
pub const SETTING_ID: &str = "/ssm/documents/console/public-sharing-permission";

static SPEC: ActionSpec = ActionSpec {
    id: ID,
    summary: "Turn on the block public sharing setting of SSM documents in the account and region.",
    controls: &["SSM.7"],
    resource_types: &["AwsAccount"],
    account_wide: false,
    permissions: &[
        "ssm:GetServiceSetting",
        "ssm:UpdateServiceSetting",
        "ssm:ResetServiceSetting",
    ],
    params: &[],
    // Read the setting, update it, read it back.
    calls_per_fix: 3,
    approval_by_default: false,
};

/// The setting as SSM reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Setting {
    /// `Enable` (sharing allowed) or `Disable` (blocked).
    value: String,
    /// `Default`, `Customized`, `PendingUpdate`.
    #[serde(default)]
    status: Option<String>,
}

impl Setting {
    fn blocked(&self) -> bool {
        self.value.eq_ignore_ascii_case("Disable")
    }
}

pub struct SsmBlockPublicDocumentSharing {
    aws: Arc<Aws>,
}

impl SsmBlockPublicDocumentSharing {
    pub fn new(aws: Arc<Aws>) -> Self {
        SsmBlockPublicDocumentSharing { aws }
    }

    async fn read(&self, target: &Target) -> Result<Setting, ActionError> {
        let ssm = ssm_client(&self.aws, target).await?;
        let out = ssm
            .get_service_setting()
            .setting_id(SETTING_ID)
            .send()
            .await
            .map_err(|e| sdk_error_on("ssm:GetServiceSetting", &where_(target), e))?;
        let setting = out.service_setting();
        Ok(Setting {
            value: setting
                .and_then(|s| s.setting_value())
                .unwrap_or("Enable")
                .to_string(),
            status: setting.and_then(|s| s.status()).map(str::to_string),
        })
    }

    /// Sets the value, or resets the setting to its default when `to` is
    /// the default.
    async fn write(&self, target: &Target, to: &Setting) -> Result<(), ActionError> {
        let ssm = ssm_client(&self.aws, target).await?;
        let here = where_(target);
        if to.status.as_deref() == Some("Default") {
            ssm.reset_service_setting()
                .setting_id(SETTING_ID)
                .send()
                .await
                .map_err(|e| sdk_error_on("ssm:ResetServiceSetting", &here, e))?;
        } else {
            ssm.update_service_setting()
                .setting_id(SETTING_ID)
                .setting_value(&to.value)
                .send()
                .await
                .map_err(|e| sdk_error_on("ssm:UpdateServiceSetting", &here, e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Action for SsmBlockPublicDocumentSharing {
    fn spec(&self) -> &'static ActionSpec {
        &SPEC
    }

    /// A setting of each account and region: the account, in `region`.
    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        Ok(account_target(account, region))
    }

    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        takes_no_params(params, ID)?;
        let setting = self.read(target).await?;
        Ok(Observed::new(
            setting.blocked(),
            setting,
            Default::default(),
        ))
    }

    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let before: Setting = recorded(&observed.state, ID)?;
        let place = format!("{}/{}", target.account, target.region);
        let summary = if before.blocked() {
            format!("public sharing of SSM documents is already blocked in {place}")
        } else {
            format!(
                "block public sharing of SSM documents in {place} ({SETTING_ID} set to Disable); documents already public stay so"
            )
        };
        Ok(Change {
            summary,
            before: observed.state.clone(),
            after: serde_json::to_value(Setting {
                value: "Disable".into(),
                status: Some("Customized".into()),
            })
            .expect("plain struct"),
        })
    }

    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let before: Setting = recorded(&change.before, ID)?;
        let after: Setting = recorded(&change.after, ID)?;
        if before.blocked() != after.blocked() {
            self.write(target, &after).await?;
        }
        Ok(())
    }

    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        takes_no_params(params, ID)?;
        let left: Setting = recorded(&applied.after, ID)?;
        let restore: Setting = recorded(&applied.before, ID)?;
        let current: Setting = recorded(&now.state, ID)?;
        let place = format!("{}/{}", target.account, target.region);
        if current.blocked() != left.blocked() {
            return Err(changed_since(
                &format!("the public sharing setting of SSM documents in {place}"),
                &serde_json::to_value(&current).expect("plain struct"),
                &serde_json::to_value(&left).expect("plain struct"),
            ));
        }
        Ok(Change {
            summary: format!(
                "allow public sharing of SSM documents in {place} again ({SETTING_ID} {})",
                if restore.status.as_deref() == Some("Default") {
                    "reset to its default".to_string()
                } else {
                    format!("set to {}", restore.value)
                }
            ),
            before: serde_json::to_value(current).expect("plain struct"),
            after: serde_json::to_value(restore).expect("plain struct"),
        })
    }

    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        takes_no_params(params, ID)?;
        let after: Setting = recorded(&change.after, ID)?;
        self.write(target, &after).await
    }

    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        takes_no_params(params, ID)?;
        let now = self.read(target).await?;
        let restored: Setting = recorded(&change.after, ID)?;
        Ok(now.value.eq_ignore_ascii_case(&restored.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::target;
    use serde_json::json;

    #[tokio::test]
    async fn plan_and_revert_of_the_default() {
        let action = SsmBlockPublicDocumentSharing::new(Arc::new(
            Aws::new(crate::AwsSettings::new("us-east-1")).await,
        ));
        let t = target("AwsAccount", "AWS::::Account:111122223333", Value::Null);
        let params = json!({});
        let open = Observed {
            compliant: false,
            state: json!({"value": "Enable", "status": "Default"}),
            tags: Default::default(),
        };
        let change = action.plan(&t, &params, &open).unwrap();
        assert_eq!(change.after["value"], "Disable");
        assert!(
            change.summary.contains("set to Disable"),
            "{}",
            change.summary
        );
        let now = Observed {
            compliant: true,
            state: json!({"value": "Disable", "status": "Customized"}),
            tags: Default::default(),
        };
        let undo = action.revert_plan(&t, &params, &change, &now).unwrap();
        assert!(
            undo.summary.contains("reset to its default"),
            "{}",
            undo.summary
        );
        // Opened again since: refused.
        assert!(action
            .revert_plan(&t, &params, &change, &open)
            .unwrap_err()
            .message
            .contains("has changed since"));
    }
}
