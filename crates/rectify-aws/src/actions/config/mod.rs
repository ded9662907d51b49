//! AWS Config remediation actions, one file each.

use std::sync::Arc;

use rectify_model::Action;

use crate::Aws;

pub mod enable_recorder;

/// This service's actions, in catalog order.
pub fn catalog(aws: &Arc<Aws>) -> Vec<Arc<dyn Action>> {
    vec![Arc::new(enable_recorder::ConfigEnableRecorder::new(
        aws.clone(),
    ))]
}
