//! ECR remediation actions, one file each.

use std::sync::Arc;

use rectify_model::Action;

use crate::Aws;

/// This service's actions, in catalog order.
pub fn catalog(aws: &Arc<Aws>) -> Vec<Arc<dyn Action>> {
    let _ = aws;
    Vec::new()
}
