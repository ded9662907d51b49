//! `FindingUpdater` through Security Hub `BatchUpdateFindings`.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_securityhub::types::{
    AwsSecurityFindingIdentifier, NoteUpdate, WorkflowStatus, WorkflowUpdate,
};
use rectify_model::{ActionError, FindingRef, FindingUpdater};

use crate::errors::{classify, sdk_error};
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
                .updated_by("rectify")
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
