//! Interfaces of the effects that reach outside: updating the finding and
//! notifying people. Implemented per provider (e.g. `rectify-aws`).

use async_trait::async_trait;
use serde_json::Value;

use crate::{job::FindingRef, ActionError};

/// A message for a notification channel.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Notification {
    pub subject: String,
    /// JSON with at least: account, region, resource, control, action,
    /// outcome, rule, job.
    pub message: Value,
}

#[async_trait]
pub trait Notifier: Send + Sync {
    /// Publishes to one channel; `destination` is e.g. an SNS topic ARN.
    async fn publish(
        &self,
        destination: &str,
        notification: &Notification,
    ) -> Result<(), ActionError>;
}

#[async_trait]
pub trait FindingUpdater: Send + Sync {
    /// Sets the finding's workflow status (`RESOLVED`, `NOTIFIED`, ...) and
    /// note through Security Hub `BatchUpdateFindings` in `region`.
    async fn update_workflow(
        &self,
        finding: &FindingRef,
        region: &str,
        status: &str,
        note: &str,
    ) -> Result<(), ActionError>;
}
