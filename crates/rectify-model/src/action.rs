//! The contract every remediation action fulfils. Each action is one file in
//! a catalog crate (e.g. `rectify-aws/src/actions/`) that declares its spec
//! next to its code.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use crate::{Event, Target};

/// What an action is, as data: `rectify catalog` prints it and
/// `rectify iam-policy` builds the least-privilege policy from it.
#[derive(Debug, Serialize)]
pub struct ActionSpec {
    pub id: &'static str,
    pub summary: &'static str,
    /// Security Hub control ids the action remediates.
    pub controls: &'static [&'static str],
    /// ASFF resource types it can take its target from.
    pub resource_types: &'static [&'static str],
    /// IAM actions needed in the target account.
    pub permissions: &'static [&'static str],
    /// One setting per account whatever the region (the IAM password
    /// policy): `rectify scan` checks it once per account, not per region.
    pub account_wide: bool,
    pub params: &'static [ParamSpec],
}

#[derive(Debug, Serialize)]
pub struct ParamSpec {
    pub name: &'static str,
    /// JSON type: `integer`, `boolean`, `string`, `array`.
    pub kind: &'static str,
    /// The default, as JSON text.
    pub default: &'static str,
    pub doc: &'static str,
}

/// The target's state as read by `check` or `verify`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observed {
    pub compliant: bool,
    /// The settings the action governs, as read.
    pub state: Value,
    /// Live tags of the resource, where it has any.
    pub tags: serde_json::Map<String, Value>,
}

/// What `apply` will do, shown to people (before/after) and stored with the
/// job so that an approved job applies exactly what was approved.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Change {
    pub summary: String,
    pub before: Value,
    pub after: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorClass {
    /// The service asked us to slow down: retry with backoff.
    Throttled,
    /// 5xx, timeouts, dropped connections: retry with backoff.
    Transient,
    /// Missing permission or a role we cannot assume: retrying won't help.
    AccessDenied,
    /// The resource is gone.
    NotFound,
    /// Bad params or a request the service rejects: retrying won't help.
    Invalid,
}

impl ErrorClass {
    pub fn retryable(self) -> bool {
        matches!(self, ErrorClass::Throttled | ErrorClass::Transient)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[error("{message}")]
pub struct ActionError {
    pub class: ErrorClass,
    pub message: String,
}

impl ActionError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        ActionError {
            class,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Invalid, message)
    }
}

#[async_trait]
pub trait Action: Send + Sync {
    fn spec(&self) -> &'static ActionSpec;

    /// Rejects params the action does not understand; run at config load.
    fn validate_params(&self, params: &Value) -> Result<(), String>;

    /// The resource this event asks the action to fix.
    fn target(&self, event: &Event) -> Result<Target, ActionError> {
        Target::from_event(event, self.spec().resource_types).map_err(ActionError::invalid)
    }

    /// Read-only: the target's current state and whether it complies.
    async fn check(&self, target: &Target, params: &Value) -> Result<Observed, ActionError>;

    /// Pure: the change that would bring `observed` into compliance.
    fn plan(
        &self,
        target: &Target,
        params: &Value,
        observed: &Observed,
    ) -> Result<Change, ActionError>;

    /// Writes the change. Must be idempotent: a job cut off by a crash runs
    /// again.
    async fn apply(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError>;

    /// Reads the target back after `apply`.
    async fn verify(&self, target: &Target, params: &Value) -> Result<Observed, ActionError> {
        self.check(target, params).await
    }

    /// How many resources of the target's type its account has (in its
    /// region, for regional types): the denominator of the
    /// `max_percent_of_type_per_hour` breaker. `None` (the default) for
    /// actions on one-per-account settings, which that breaker does not
    /// bound. Read-only.
    async fn inventory(&self, target: &Target, params: &Value) -> Result<Option<u64>, ActionError> {
        let _ = (target, params);
        Ok(None)
    }

    /// Every resource of the action's type in `account` and `region`, for
    /// `rectify scan`; an account-wide setting is the account itself, in
    /// any region. Empty (the default) for actions that cannot list what
    /// they act on. Read-only.
    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        let _ = (account, region);
        Ok(Vec::new())
    }
}
