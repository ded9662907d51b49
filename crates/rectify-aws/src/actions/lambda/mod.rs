//! Lambda remediation actions, one file each.

use std::sync::Arc;

use rectify_model::Action;

use crate::Aws;

pub mod remove_public_permissions;

/// This service's actions, in catalog order.
pub fn catalog(aws: &Arc<Aws>) -> Vec<Arc<dyn Action>> {
    vec![Arc::new(
        remove_public_permissions::LambdaRemovePublicPermissions::new(aws.clone()),
    )]
}
