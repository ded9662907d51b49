//! Redshift remediation actions, one file each.

use std::sync::Arc;

use rectify_model::Action;

use crate::Aws;

pub mod make_cluster_private;

/// This service's actions, in catalog order.
pub fn catalog(aws: &Arc<Aws>) -> Vec<Arc<dyn Action>> {
    vec![Arc::new(
        make_cluster_private::RedshiftMakeClusterPrivate::new(aws.clone()),
    )]
}
