//! CIS 1.14 / IAM.3: active access keys are rotated every 90 days or
//! less (the credential report's `access_key_N_last_rotated`).

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};

use super::days_since;
use super::reads::CredentialRow;
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "iam.access-key-rotation",
    title: "IAM users' active access keys are rotated every 90 days or less",
    severity: Severity::Medium,
    resource_type: "AwsIamUser",
    service: "iam",
    controls: &["IAM.3"],
    permissions: &["iam:GenerateCredentialReport", "iam:GetCredentialReport"],
    account_wide: true,
};

pub const MAX_KEY_AGE_DAYS: i64 = 90;

pub struct AccessKeyRotation {
    aws: Arc<Aws>,
    /// A key this many days old or older fails (91: older than 90 days).
    fail_at_days: i64,
}

impl AccessKeyRotation {
    pub fn new(aws: Arc<Aws>) -> Self {
        Self::failing_at(aws, MAX_KEY_AGE_DAYS + 1)
    }

    /// With another age limit (tests: 0 fails every active key).
    pub fn failing_at(aws: Arc<Aws>, fail_at_days: i64) -> Self {
        AccessKeyRotation { aws, fail_at_days }
    }
}

/// The user's active keys `fail_at_days` old or older, in words.
pub fn old_keys(row: &CredentialRow, now: i64, fail_at_days: i64) -> Vec<String> {
    row.keys
        .iter()
        .enumerate()
        .filter(|(_, (active, _, _))| *active)
        .filter_map(|(n, (_, rotated, _))| {
            let days = days_since((*rotated)?, now);
            (days >= fail_at_days).then(|| format!("access key {} is {days} days old", n + 1))
        })
        .collect()
}

#[async_trait]
impl Check for AccessKeyRotation {
    fn spec(&self) -> &'static CheckSpec {
        &SPEC
    }

    async fn run(
        &self,
        account: &str,
        region: &str,
        r: &ScanReads,
    ) -> Result<Vec<Verdict>, ActionError> {
        let days = self.fail_at_days;
        super::per_user_verdicts(
            &self.aws,
            r,
            account,
            region,
            super::UserVerdicts {
                spec: &SPEC,
                evidence: "old_keys",
                passed: format!("no active key {} days old or older", self.fail_at_days),
            },
            |row, now| old_keys(row, now, days),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_keys_past_ninety_days_fail() {
        let now = 200 * 86_400;
        let mut row = CredentialRow::default();
        row.keys[0] = (true, Some(now - 90 * 86_400), None);
        let limit = MAX_KEY_AGE_DAYS + 1;
        assert!(old_keys(&row, now, limit).is_empty());
        row.keys[0].1 = Some(now - 91 * 86_400);
        assert_eq!(old_keys(&row, now, limit), ["access key 1 is 91 days old"]);
        row.keys[0].0 = false;
        assert!(old_keys(&row, now, limit).is_empty());
    }
}
