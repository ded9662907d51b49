//! CIS 1.20 / IAM.28: IAM Access Analyzer is enabled in the region: an
//! external access analyzer (zone of trust the account, `ACCOUNT`, or the
//! organization, `ORGANIZATION`) exists there with status `ACTIVE`.
//!
//! Unused access and internal access analyzers do not count: IAM.28 (the
//! control Security Hub runs for CIS v3.0 1.20) and its Config rule
//! `iam-external-access-analyzer-enabled` ask for an analyzer for external
//! access. Prowler's `accessanalyzer_enabled` passes on any active analyzer.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_accessanalyzer::types::{AnalyzerStatus, Type};
use rectify_model::{ActionError, Check, CheckSpec, ScanReads, Severity, Verdict};
use serde_json::json;

use super::on_account;
use crate::errors::sdk_error_on;
use crate::Aws;

static SPEC: CheckSpec = CheckSpec {
    id: "access-analyzer.enabled",
    title: "IAM Access Analyzer external access analyzer is enabled",
    severity: Severity::High,
    resource_type: "AwsAccount",
    service: "access-analyzer",
    controls: &["IAM.28"],
    permissions: &["access-analyzer:ListAnalyzers"],
    account_wide: false,
};

/// The most analyzers read per region (AWS allows one external access
/// analyzer per account and region, more in an organization's delegated
/// administrator): a longer listing is refused rather than read without
/// bound.
const MAX_ANALYZERS: usize = 1000;

pub struct AccessAnalyzerEnabled(pub Arc<Aws>);

/// An analyzer as the check judges it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AnalyzerRead {
    pub name: String,
    pub kind: String,
    pub status: String,
}

impl AnalyzerRead {
    /// An external access analyzer, active.
    pub fn counts(&self) -> bool {
        self.status == AnalyzerStatus::Active.as_str()
            && (self.kind == Type::Account.as_str() || self.kind == Type::Organization.as_str())
    }
}

/// The verdict on the region from its analyzers.
pub fn judge(
    account: &str,
    region: &str,
    analyzers: &[AnalyzerRead],
) -> (bool, String, serde_json::Value) {
    let active: Vec<&AnalyzerRead> = analyzers.iter().filter(|a| a.counts()).collect();
    let evidence = match active.first() {
        Some(a) => format!(
            "analyzer {} ({}) is {} in {region}",
            a.name, a.kind, a.status
        ),
        None if analyzers.is_empty() => format!("no IAM Access Analyzer analyzer in {region}"),
        None => format!(
            "no active external access analyzer in {region}: {}",
            analyzers
                .iter()
                .map(|a| format!("{} ({}, {})", a.name, a.kind, a.status))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let state = json!({"account": account, "analyzers": analyzers});
    (!active.is_empty(), evidence, state)
}

#[async_trait]
impl Check for AccessAnalyzerEnabled {
    fn spec(&self) -> &'static CheckSpec {
        &SPEC
    }

    async fn run(
        &self,
        account: &str,
        region: &str,
        r: &ScanReads,
    ) -> Result<Vec<Verdict>, ActionError> {
        let config = self.0.config_for(account, region).await?;
        let client = aws_sdk_accessanalyzer::Client::new(&config);
        let at = format!("account {account} in {region}");
        let mut analyzers: Vec<AnalyzerRead> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let request = client.list_analyzers().set_next_token(token.take());
            let out = r
                .call("access-analyzer", region, || {
                    let request = request.clone();
                    let at = &at;
                    async move {
                        request
                            .send()
                            .await
                            .map_err(|e| sdk_error_on("access-analyzer:ListAnalyzers", at, e))
                    }
                })
                .await?;
            analyzers.extend(out.analyzers().iter().map(|a| AnalyzerRead {
                name: a.name().chars().take(256).collect(),
                kind: a.r#type().as_str().to_string(),
                status: a.status().as_str().to_string(),
            }));
            if analyzers.len() > MAX_ANALYZERS {
                return Err(ActionError::invalid(format!(
                    "access-analyzer:ListAnalyzers: more than {MAX_ANALYZERS} analyzers in {at}"
                )));
            }
            match out.next_token().filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next.to_string()),
                None => break,
            }
        }
        let (pass, evidence, state) = judge(account, region, &analyzers);
        Ok(vec![on_account(account, region, pass, evidence, state)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(name: &str, kind: &str, status: &str) -> AnalyzerRead {
        AnalyzerRead {
            name: name.into(),
            kind: kind.into(),
            status: status.into(),
        }
    }

    #[test]
    fn only_an_active_external_access_analyzer_passes() {
        let (pass, evidence, _) = judge("111122223333", "eu-west-1", &[]);
        assert!(!pass);
        assert_eq!(evidence, "no IAM Access Analyzer analyzer in eu-west-1");

        let (pass, evidence, _) = judge("1", "eu-west-1", &[a("ext", "ACCOUNT", "ACTIVE")]);
        assert!(pass);
        assert_eq!(evidence, "analyzer ext (ACCOUNT) is ACTIVE in eu-west-1");
        assert!(judge("1", "r", &[a("org", "ORGANIZATION", "ACTIVE")]).0);

        for (kind, status) in [
            ("ACCOUNT", "DISABLED"),
            ("ACCOUNT", "CREATING"),
            ("ORGANIZATION", "FAILED"),
            ("ACCOUNT_UNUSED_ACCESS", "ACTIVE"),
            ("ORGANIZATION_UNUSED_ACCESS", "ACTIVE"),
            ("ACCOUNT_INTERNAL_ACCESS", "ACTIVE"),
        ] {
            let (pass, evidence, _) = judge("1", "r", &[a("x", kind, status)]);
            assert!(!pass, "{kind} {status}");
            assert!(
                evidence.contains(&format!("x ({kind}, {status})")),
                "{evidence}"
            );
        }
        let (pass, evidence, _) = judge(
            "1",
            "r",
            &[
                a("unused", "ACCOUNT_UNUSED_ACCESS", "ACTIVE"),
                a("ext", "ACCOUNT", "ACTIVE"),
            ],
        );
        assert!(pass);
        assert!(evidence.starts_with("analyzer ext "), "{evidence}");
    }
}
