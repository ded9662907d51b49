//! SNS remediation actions, one file each.

use std::sync::Arc;

use rectify_model::Action;

use crate::Aws;

pub mod encrypt_topic;

/// This service's actions, in catalog order.
pub fn catalog(aws: &Arc<Aws>) -> Vec<Arc<dyn Action>> {
    vec![Arc::new(encrypt_topic::SnsEncryptTopic::new(aws.clone()))]
}
