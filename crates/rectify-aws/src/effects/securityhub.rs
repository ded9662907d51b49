//! `FindingUpdater` through Security Hub `BatchUpdateFindings`, and the
//! controls' parameters through `BatchGetSecurityControls`; the new
//! Security Hub's OCSF findings (`Findings Imported V2`) through
//! `GetFindingsV2` (read back) and `BatchUpdateFindingsV2` (status and
//! comment), by their `metadata.uid`. What to write, and whether the
//! finding read back is the one a job judged, is the engine's to decide.

use std::sync::Arc;

use async_trait::async_trait;

use aws_sdk_securityhub::types::{
    AllowedOperators, AwsSecurityFindingFilters, AwsSecurityFindingIdentifier, CompositeFilter,
    NoteUpdate, OcsfFindingFilters, OcsfStringField, OcsfStringFilter, StringFilter,
    StringFilterComparison, WorkflowStatus, WorkflowUpdate,
};
use rectify_model::{ActionError, ErrorClass, FindingRef, FindingUpdater};
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

    /// The OCSF finding as Security Hub holds it now (`GetFindingsV2`,
    /// `metadata.uid` EQUALS), as the API sent it; None when there is none.
    async fn read_finding_v2(
        &self,
        metadata_uid: &str,
        region: &str,
    ) -> Result<Option<Value>, ActionError> {
        let config = self.aws.securityhub_config(region).await?;
        let client = aws_sdk_securityhub::Client::new(&config);
        let raw = RawBody::default();
        client
            .get_findings_v2()
            .filters(
                OcsfFindingFilters::builder()
                    .composite_filters(
                        CompositeFilter::builder()
                            .string_filters(
                                OcsfStringFilter::builder()
                                    .field_name(OcsfStringField::MetadataUid)
                                    .filter(
                                        StringFilter::builder()
                                            .value(metadata_uid)
                                            .comparison(StringFilterComparison::Equals)
                                            .build(),
                                    )
                                    .build(),
                            )
                            .operator(AllowedOperators::And)
                            .build(),
                    )
                    .composite_operator(AllowedOperators::And)
                    .build(),
            )
            .max_results(2)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| sdk_error("securityhub:GetFindingsV2", e))?;
        let page = raw.json("securityhub:GetFindingsV2")?;
        Ok(ocsf_finding_of(&page, metadata_uid))
    }

    /// Sets an OCSF finding's status (`status_id`, when `status_id` is
    /// Some) and comment through `BatchUpdateFindingsV2` by its
    /// `metadata.uid`. A finding Security Hub reports unprocessed is an
    /// error, as for `BatchUpdateFindings`.
    async fn update_finding_v2(
        &self,
        metadata_uid: &str,
        region: &str,
        status_id: Option<i32>,
        comment: &str,
    ) -> Result<(), ActionError> {
        let config = self.aws.securityhub_config(region).await?;
        let client = aws_sdk_securityhub::Client::new(&config);
        let mut request = client
            .batch_update_findings_v2()
            .metadata_uids(metadata_uid)
            .set_status_id(status_id);
        if !comment.trim().is_empty() {
            request = request.comment(truncate_note(comment, NOTE_MAX_CHARS));
        }
        let out = request
            .send()
            .await
            .map_err(|e| sdk_error("securityhub:BatchUpdateFindingsV2", e))?;
        if let Some(failed) = out.unprocessed_findings().first() {
            let code = failed
                .error_code()
                .map(|c| c.as_str().to_string())
                .unwrap_or_else(|| "error".into());
            // A failure on Security Hub's side or a concurrent update may
            // pass on a later attempt.
            let class = match code.as_str() {
                "InternalServerException" | "ConflictException" => ErrorClass::Transient,
                other => classify(Some(other), None),
            };
            return Err(ActionError::new(
                class,
                format!(
                    "securityhub:BatchUpdateFindingsV2: finding {metadata_uid} not updated: {code}: {}",
                    failed.error_message().unwrap_or_default()
                ),
            ));
        }
        if !out
            .processed_findings()
            .iter()
            .any(|p| p.metadata_uid() == Some(metadata_uid))
        {
            return Err(ActionError::new(
                classify(Some("ResourceNotFoundException"), None),
                format!(
                    "securityhub:BatchUpdateFindingsV2: finding {metadata_uid} is neither processed nor unprocessed"
                ),
            ));
        }
        Ok(())
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

/// The one finding with this `metadata.uid` in a `GetFindingsV2` answer.
pub fn ocsf_finding_of(page: &Value, metadata_uid: &str) -> Option<Value> {
    page.get("Findings")?
        .as_array()?
        .iter()
        .find(|f| f.pointer("/metadata/uid").and_then(Value::as_str) == Some(metadata_uid))
        .cloned()
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

    fn ocsf(uid: &str) -> Value {
        serde_json::json!({
            "metadata": {"uid": uid, "product": {"uid": "arn:aws:securityhub:us-east-1::productv2/aws/securityhub"}},
            "cloud": {"account": {"uid": "111122223333"}, "region": "us-east-1"},
            "compliance": {"control": "S3.8", "status": "Fail"},
            "resources": [{"uid": "arn:aws:s3:::b", "type": "AWS::S3::Bucket"}],
            "status_id": 1, "status": "New"
        })
    }

    #[test]
    fn the_ocsf_finding_of_a_page_is_the_one_with_the_uid() {
        let page = serde_json::json!({"Findings": [ocsf("other"), ocsf("u-1")]});
        let live = ocsf_finding_of(&page, "u-1");
        assert_eq!(live.as_ref().unwrap()["metadata"]["uid"], "u-1");
        assert!(ocsf_finding_of(&page, "u-2").is_none());
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
