//! CIS 1.12 / IAM.22: credentials unused for 45 days or more are
//! disabled. From the credential report: a console password, or an
//! active access key, not used (never used: not set) for 45 days fails.

use std::sync::Arc;

use async_trait::async_trait;
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};

use super::days_since;
use super::reads::CredentialRow;
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "iam.unused-credentials",
    title: "IAM users' credentials unused for 45 days or more are removed or deactivated",
    severity: Severity::Medium,
    resource_type: "AwsIamUser",
    service: "iam",
    controls: &["IAM.22"],
    permissions: &["iam:GenerateCredentialReport", "iam:GetCredentialReport"],
    account_wide: true,
};

/// Days of disuse CIS v3.0 allows.
pub const MAX_UNUSED_DAYS: i64 = 45;

pub struct UnusedCredentials {
    aws: Arc<Aws>,
    fail_at_days: i64,
}

impl UnusedCredentials {
    pub fn new(aws: Arc<Aws>) -> Self {
        Self::failing_at(aws, MAX_UNUSED_DAYS)
    }

    /// With another limit (tests: 0 fails every credential).
    pub fn failing_at(aws: Arc<Aws>, fail_at_days: i64) -> Self {
        UnusedCredentials { aws, fail_at_days }
    }
}

/// The user's credentials idle for `fail_at_days` or more, in words. A
/// credential never used counts from when it was set.
pub fn stale(row: &CredentialRow, now: i64, fail_at_days: i64) -> Vec<String> {
    let mut out = Vec::new();
    if row.password_enabled {
        let since = row
            .password_last_used
            .or(row.password_last_changed)
            .or(row.created);
        if let Some(t) = since.filter(|t| days_since(*t, now) >= fail_at_days) {
            out.push(format!(
                "console password {} for {} days",
                if row.password_last_used.is_some() {
                    "unused"
                } else {
                    "never used"
                },
                days_since(t, now)
            ));
        }
    }
    for (n, (active, rotated, used)) in row.keys.iter().enumerate() {
        if !active {
            continue;
        }
        if let Some(t) = used
            .or(*rotated)
            .filter(|t| days_since(*t, now) >= fail_at_days)
        {
            out.push(format!(
                "access key {} {} for {} days",
                n + 1,
                if used.is_some() {
                    "unused"
                } else {
                    "never used"
                },
                days_since(t, now)
            ));
        }
    }
    out
}

#[async_trait]
impl Check for UnusedCredentials {
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
                evidence: "stale",
                passed: format!("no credential idle for {} days", self.fail_at_days),
            },
            |row, now| stale(row, now, days),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_password_and_keys_fail_and_fresh_ones_pass() {
        let now = 100 * 86_400;
        let mut row = CredentialRow {
            user: "u".into(),
            password_enabled: true,
            password_last_used: Some(now - 10 * 86_400),
            ..Default::default()
        };
        assert!(stale(&row, now, MAX_UNUSED_DAYS).is_empty());
        row.password_last_used = Some(now - 45 * 86_400);
        assert_eq!(
            stale(&row, now, MAX_UNUSED_DAYS),
            ["console password unused for 45 days"]
        );
        row.password_enabled = false;
        row.keys[1] = (true, Some(now - 60 * 86_400), None);
        assert_eq!(
            stale(&row, now, MAX_UNUSED_DAYS),
            ["access key 2 never used for 60 days"]
        );
        row.keys[1].0 = false;
        assert!(stale(&row, now, MAX_UNUSED_DAYS).is_empty());
    }
}
