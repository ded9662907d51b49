//! Effects that do nothing, for runs that must not write outside rectify:
//! `rectify test` fixtures and pipeline benchmarks.

use async_trait::async_trait;
use rectify_model::{job::FindingRef, ActionError, FindingUpdater, Notification, Notifier};

pub struct NoFindingUpdates;
pub struct NoNotifications;

#[async_trait]
impl FindingUpdater for NoFindingUpdates {
    async fn update_workflow(
        &self,
        _: &FindingRef,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<(), ActionError> {
        Ok(())
    }

    async fn read_finding(
        &self,
        _: &FindingRef,
        _: &str,
    ) -> Result<Option<serde_json::Value>, ActionError> {
        Ok(None)
    }

    async fn read_finding_v2(
        &self,
        _: &str,
        _: &str,
    ) -> Result<Option<serde_json::Value>, ActionError> {
        Ok(None)
    }

    async fn update_finding_v2(
        &self,
        _: &str,
        _: &str,
        _: Option<i32>,
        _: &str,
    ) -> Result<(), ActionError> {
        Ok(())
    }
}

#[async_trait]
impl Notifier for NoNotifications {
    async fn publish(&self, _: &str, _: &Notification) -> Result<(), ActionError> {
        Ok(())
    }
}
