//! IAM remediation actions, one file each.

use std::sync::Arc;

use rectify_model::Action;

use crate::Aws;

pub mod set_password_policy;

/// This service's actions, in catalog order.
pub fn catalog(aws: &Arc<Aws>) -> Vec<Arc<dyn Action>> {
    vec![Arc::new(set_password_policy::IamSetPasswordPolicy::new(
        aws.clone(),
    ))]
}
