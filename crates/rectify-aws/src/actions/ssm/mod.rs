//! Systems Manager (SSM) remediation actions, one file each.

use std::sync::Arc;

use rectify_model::{Action, ActionError, Target};

use crate::actions::client_for;
use crate::Aws;

pub mod block_public_document_sharing;
pub mod make_document_private;

/// This service's actions, in catalog order.
pub fn catalog(aws: &Arc<Aws>) -> Vec<Arc<dyn Action>> {
    vec![
        Arc::new(make_document_private::SsmMakeDocumentPrivate::new(
            aws.clone(),
        )),
        Arc::new(block_public_document_sharing::SsmBlockPublicDocumentSharing::new(aws.clone())),
    ]
}

/// An SSM client with the credentials of `target`'s account, in its region.
pub(crate) async fn ssm_client(
    aws: &Aws,
    target: &Target,
) -> Result<aws_sdk_ssm::Client, ActionError> {
    client_for(aws, target, aws_sdk_ssm::Client::new).await
}
