//! SQS remediation actions, one file each.

use std::sync::Arc;

use rectify_model::Action;

use crate::Aws;

pub mod encrypt_queue;

/// This service's actions, in catalog order.
pub fn catalog(aws: &Arc<Aws>) -> Vec<Arc<dyn Action>> {
    vec![Arc::new(encrypt_queue::SqsEncryptQueue::new(aws.clone()))]
}
