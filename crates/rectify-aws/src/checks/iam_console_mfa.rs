//! CIS 1.10 / IAM.5: every IAM user with a console password has MFA
//! (credential report: `password_enabled` and `mfa_active`). Users
//! without a console password are not judged.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};
use serde_json::json;

use super::reads;
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "iam.console-mfa",
    title: "MFA is enabled for every IAM user with a console password",
    severity: Severity::Medium,
    resource_type: "AwsIamUser",
    service: "iam",
    controls: &["IAM.5"],
    permissions: &["iam:GenerateCredentialReport", "iam:GetCredentialReport"],
    account_wide: true,
};

pub struct ConsoleMfa(pub Arc<Aws>);

#[async_trait]
impl Check for ConsoleMfa {
    fn spec(&self) -> &'static CheckSpec {
        &SPEC
    }

    async fn run(
        &self,
        account: &str,
        region: &str,
        r: &ScanReads,
    ) -> Result<Vec<Verdict>, ActionError> {
        let report = reads::credential_report(&self.0, r, account, region).await?;
        Ok(report
            .iter()
            .filter(|row| row.user != "<root_account>" && row.password_enabled)
            .map(|row| {
                Verdict::new(
                    account,
                    region,
                    SPEC.resource_type,
                    row.arn.clone(),
                    row.mfa_active,
                    format!(
                        "{}: console password {} MFA",
                        row.user,
                        if row.mfa_active { "with" } else { "without" }
                    ),
                    json!({"user": row.user, "password_enabled": true, "mfa_active": row.mfa_active}),
                )
            })
            .collect())
    }
}
