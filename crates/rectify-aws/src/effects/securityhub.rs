//! `FindingUpdater` through Security Hub `BatchUpdateFindings`, and the
//! controls' parameters through `BatchGetSecurityControls`.

use std::sync::Arc;

use async_trait::async_trait;

use aws_sdk_securityhub::types::{
    AwsSecurityFindingFilters, AwsSecurityFindingIdentifier, NoteUpdate, StringFilter,
    StringFilterComparison, WorkflowStatus, WorkflowUpdate,
};
use rectify_model::{ActionError, FindingRef, FindingUpdater};
use serde_json::Value;

use crate::errors::{classify, sdk_error};
use crate::sources::securityhub::RawBody;
use crate::Aws;

/// Longest note Security Hub accepts.
pub const NOTE_MAX_CHARS: usize = 512;

pub struct SecurityHubUpdater {
    aws: Arc<Aws>,
}

impl SecurityHubUpdater {
    pub fn new(aws: Arc<Aws>) -> Self {
        SecurityHubUpdater { aws }
    }
}

/// `note` cut to `max` characters on a char boundary, ending in `…` when
/// cut.
pub fn truncate_note(note: &str, max: usize) -> String {
    if note.chars().count() <= max {
        return note.to_string();
    }
    let mut out: String = note.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[async_trait]
impl FindingUpdater for SecurityHubUpdater {
    async fn update_workflow(
        &self,
        finding: &FindingRef,
        region: &str,
        status: &str,
        note: &str,
    ) -> Result<(), ActionError> {
        let config = self.aws.securityhub_config(region).await?;
        let client = aws_sdk_securityhub::Client::new(&config);
        let id = AwsSecurityFindingIdentifier::builder()
            .id(&finding.id)
            .product_arn(&finding.product_arn)
            .build();
        let mut request = client
            .batch_update_findings()
            .finding_identifiers(id)
            .workflow(
                WorkflowUpdate::builder()
                    .status(WorkflowStatus::from(status))
                    .build(),
            );
        if !note.trim().is_empty() {
            let note = NoteUpdate::builder()
                .text(truncate_note(note, NOTE_MAX_CHARS))
                .updated_by(rectify_model::effects::NOTE_AUTHOR)
                .build();
            request = request.note(note);
        }
        let out = request
            .send()
            .await
            .map_err(|e| sdk_error("securityhub:BatchUpdateFindings", e))?;
        if let Some(failed) = out.unprocessed_findings().first() {
            let code = failed.error_code().unwrap_or("error");
            return Err(ActionError::new(
                classify(Some(code), None),
                format!(
                    "securityhub:BatchUpdateFindings: finding {} not updated: {}: {}",
                    finding.id,
                    code,
                    failed.error_message().unwrap_or_default()
                ),
            ));
        }
        Ok(())
    }

    async fn read_finding(
        &self,
        finding: &FindingRef,
        region: &str,
    ) -> Result<Option<Value>, ActionError> {
        let config = self.aws.securityhub_config(region).await?;
        let client = aws_sdk_securityhub::Client::new(&config);
        let equals = |value: &str| {
            StringFilter::builder()
                .value(value)
                .comparison(StringFilterComparison::Equals)
                .build()
        };
        let raw = RawBody::default();
        client
            .get_findings()
            .filters(
                AwsSecurityFindingFilters::builder()
                    .id(equals(&finding.id))
                    .product_arn(equals(&finding.product_arn))
                    .build(),
            )
            .max_results(2)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| sdk_error("securityhub:GetFindings", e))?;
        let page = raw.json("securityhub:GetFindings")?;
        // Filters are exact, but only a finding with both keys equal is
        // the one the job names.
        Ok(page
            .get("Findings")
            .and_then(Value::as_array)
            .and_then(|all| {
                all.iter().find(|f| {
                    f.get("Id").and_then(Value::as_str) == Some(finding.id.as_str())
                        && f.get("ProductArn").and_then(Value::as_str)
                            == Some(finding.product_arn.as_str())
                })
            })
            .cloned())
    }

    /// `BatchGetSecurityControls` for one control, with the hub's
    /// credentials; the `Parameters` map as the API sent it (customised
    /// values and AWS's defaults alike).
    async fn control_parameters(
        &self,
        _account: &str,
        control: &str,
        region: &str,
    ) -> Result<Option<Value>, ActionError> {
        let config = self.aws.securityhub_config(region).await?;
        let client = aws_sdk_securityhub::Client::new(&config);
        // The SDK's parameter values are a union; the raw JSON is what
        // the actions read.
        let raw = RawBody::default();
        client
            .batch_get_security_controls()
            .security_control_ids(control)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| sdk_error("securityhub:BatchGetSecurityControls", e))?;
        let page = raw.json("securityhub:BatchGetSecurityControls")?;
        Ok(parameters_of(&page, control))
    }
}

/// The `Parameters` of `control` in a `BatchGetSecurityControls` answer;
/// None when it is not there or has none.
pub fn parameters_of(page: &Value, control: &str) -> Option<Value> {
    page.get("SecurityControls")?
        .as_array()?
        .iter()
        .find(|c| c.get("SecurityControlId").and_then(Value::as_str) == Some(control))?
        .get("Parameters")
        .filter(|p| p.as_object().is_some_and(|m| !m.is_empty()))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_of_one_control() {
        let page = serde_json::json!({"SecurityControls": [
            {"SecurityControlId": "EC2.19", "Parameters": {}},
            {"SecurityControlId": "EC2.18", "Parameters": {"authorizedTcpPorts": {"ValueType": "DEFAULT", "Value": {"IntegerList": [80, 443]}}}}
        ], "UnprocessedIds": []});
        assert_eq!(
            parameters_of(&page, "EC2.18").unwrap()["authorizedTcpPorts"]["Value"]["IntegerList"],
            serde_json::json!([80, 443])
        );
        assert!(parameters_of(&page, "EC2.19").is_none());
        assert!(parameters_of(&page, "IAM.7").is_none());
    }

    #[test]
    fn notes_are_cut_on_char_boundaries() {
        assert_eq!(truncate_note("short", 512), "short");
        let exact = "é".repeat(512);
        assert_eq!(truncate_note(&exact, 512), exact);
        let long = "é".repeat(600);
        let cut = truncate_note(&long, 512);
        assert_eq!(cut.chars().count(), 512);
        assert!(cut.ends_with('…'));
        let emoji = "🔒".repeat(513);
        assert_eq!(truncate_note(&emoji, 512).chars().count(), 512);
    }
}
