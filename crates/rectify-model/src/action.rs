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
    /// AWS calls one fix makes on its usual path (check, apply, verify;
    /// credentials not counted): `rectify catalog` shows it, and a test
    /// counts them against the emulator.
    pub calls_per_fix: u32,
    /// Disruptive or destructive: its jobs wait for a person's approval
    /// unless the rule (or an override) sets a mode of its own; the
    /// config's `default_mode: auto` does not make them automatic.
    pub approval_by_default: bool,
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

impl Observed {
    /// What a check read, from the action's own state type (every action
    /// records a plain serializable struct, read back with its own type).
    pub fn new(
        compliant: bool,
        state: impl Serialize,
        tags: serde_json::Map<String, Value>,
    ) -> Observed {
        Observed {
            compliant,
            state: serde_json::to_value(state).expect("plain struct"),
            tags,
        }
    }
}

/// What `apply` will do, shown to people (before/after) and stored with the
/// job so that an approved job applies exactly what was approved.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Change {
    pub summary: String,
    pub before: Value,
    pub after: Value,
}

impl Change {
    /// A change from the state `before` (as a check recorded it) to
    /// `after`, the action's own state type.
    pub fn new(summary: String, before: Value, after: impl Serialize) -> Change {
        Change {
            summary,
            before,
            after: serde_json::to_value(after).expect("plain struct"),
        }
    }

    /// The SHA-256 (hex) of the change's JSON: what an approval is bound
    /// to. The same change planned from the same state has the same digest.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let text = serde_json::to_string(self).unwrap_or_default();
        hex::encode(Sha256::digest(text.as_bytes()))
    }
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
    /// The fix needs a setting the rule does not give (a log bucket, a KMS
    /// key, an allow list): the job is skipped, saying what to set, and
    /// the finding is left as it is.
    NotConfigured,
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

    /// The fix needs a param the rule does not set; `message` says which
    /// and how to set it.
    pub fn not_configured(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::NotConfigured, message)
    }
}

#[async_trait]
pub trait Action: Send + Sync {
    fn spec(&self) -> &'static ActionSpec;

    /// Rejects params the action does not understand; run at config load.
    /// The default accepts none (`{}` or `null`): most actions take no
    /// params, and one that forgets to say which it takes refuses them
    /// rather than silently ignoring them.
    fn validate_params(&self, params: &Value) -> Result<(), String> {
        crate::params::no_params(params, self.spec().id)
    }

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

    /// Reasons the state `observed` may be meant to be so (a bucket that
    /// serves a website, a group used by network interfaces, ...). Pure.
    /// Any reason stops an `auto` job: it waits for a person's approval,
    /// the reasons shown with the plan. Empty (the default): nothing
    /// suggests intent.
    fn intent(&self, target: &Target, params: &Value, observed: &Observed) -> Vec<String> {
        let _ = (target, params, observed);
        Vec::new()
    }

    /// What the action leaves in place on purpose, judged on the state read
    /// back after a change (or found by the check): ports outside its
    /// scope, excepted snapshots, ... Pure. The finding is then marked
    /// `NOTIFIED` with these reasons, never `RESOLVED`. Empty (the
    /// default): the resource passes the control.
    fn left_in_place(&self, target: &Target, params: &Value, observed: &Observed) -> Vec<String> {
        let _ = (target, params, observed);
        Vec::new()
    }

    /// Whether the action's check depends on the parameters of the control
    /// it answers (then the engine reads them from Security Hub and hands
    /// them to [`Action::with_control_parameters`]). False by default.
    fn uses_control_parameters(&self) -> bool {
        false
    }

    /// `params` with the control's parameters as Security Hub holds them
    /// for the account (`BatchGetSecurityControls`: customised values, or
    /// AWS's defaults), for actions whose check depends on them (a port
    /// list, password policy values). `parameters` is the API's
    /// `Parameters` map. The default ignores them.
    fn with_control_parameters(&self, params: &Value, control: &str, parameters: &Value) -> Value {
        let _ = (control, parameters);
        params.clone()
    }

    /// The change that undoes `applied` (a change this action made), given
    /// the state `now` read by `check`: `before` is `now`, `after` is what
    /// `applied.before` recorded. Refuses (`Invalid`) when the resource
    /// has changed since `applied` in a way that a restore would overwrite,
    /// and says what it cannot restore. The default: this action's changes
    /// cannot be undone by rectify.
    fn revert_plan(
        &self,
        target: &Target,
        params: &Value,
        applied: &Change,
        now: &Observed,
    ) -> Result<Change, ActionError> {
        let _ = (target, params, applied, now);
        Err(ActionError::invalid(format!(
            "{} cannot undo its changes",
            self.spec().id
        )))
    }

    /// Writes a change made by [`Action::revert_plan`]; idempotent. The
    /// default refuses, like the default `revert_plan`.
    async fn revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<(), ActionError> {
        let _ = (target, params, change);
        Err(ActionError::invalid(format!(
            "{} cannot undo its changes",
            self.spec().id
        )))
    }

    /// Whether the state read back after a revert is the one `change`
    /// restores. The default compares the state `check` reads with
    /// `change.after`.
    async fn verify_revert(
        &self,
        target: &Target,
        params: &Value,
        change: &Change,
    ) -> Result<bool, ActionError> {
        let now = self.check(target, params).await?;
        Ok(now.state == change.after)
    }

    /// Every resource of the action's type in `account` and `region`, for
    /// `rectify scan`; an account-wide setting is the account itself, in
    /// any region. Empty (the default) for actions that cannot list what
    /// they act on. Read-only.
    async fn discover(&self, account: &str, region: &str) -> Result<Vec<Target>, ActionError> {
        let _ = (account, region);
        Ok(Vec::new())
    }

    /// [`Action::discover`] within a scan: an action whose listing other
    /// actions or checks of the scan also make reads it through `reads`
    /// (made once per scan). The default lists anew.
    async fn discover_in_scan(
        &self,
        account: &str,
        region: &str,
        reads: &crate::ScanReads,
    ) -> Result<Vec<Target>, ActionError> {
        let _ = reads;
        self.discover(account, region).await
    }

    /// [`Action::check`] of a target [`Action::discover_in_scan`] listed:
    /// an action whose listing already holds what its check reads judges
    /// from it, without a call per target. The default checks anew.
    async fn check_in_scan(
        &self,
        target: &Target,
        params: &Value,
        reads: &crate::ScanReads,
    ) -> Result<Observed, ActionError> {
        let _ = reads;
        self.check(target, params).await
    }

    /// The control a finding about `target` answers, for the findings
    /// `rectify scan` makes: the spec's first control, unless the action
    /// checks a different control per target (one target per control,
    /// from `discover`).
    fn finding_control(&self, target: &Target) -> &'static str {
        let _ = target;
        self.spec().controls.first().copied().unwrap_or_default()
    }
}
