//! KMS remediation actions, one file each.

use std::sync::Arc;

use rectify_model::Action;

use crate::Aws;

pub mod enable_key_rotation;

/// This service's actions, in catalog order.
pub fn catalog(aws: &Arc<Aws>) -> Vec<Arc<dyn Action>> {
    vec![Arc::new(enable_key_rotation::KmsEnableKeyRotation::new(
        aws.clone(),
    ))]
}
