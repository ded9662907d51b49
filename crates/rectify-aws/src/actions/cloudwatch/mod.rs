//! CloudWatch (metric filters and alarms) remediation actions, one file
//! each, and the CIS metric filters they add.

use std::sync::Arc;

use rectify_model::Action;

use crate::Aws;

pub mod cis_filters;
pub mod metric_filter_alarm;

/// This service's actions, in catalog order.
pub fn catalog(aws: &Arc<Aws>) -> Vec<Arc<dyn Action>> {
    vec![Arc::new(
        metric_filter_alarm::CloudWatchMetricFilterAlarm::new(aws.clone()),
    )]
}
