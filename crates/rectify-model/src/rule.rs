//! A rule: which events (an EventBridge pattern) get which action.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Apply the change as soon as the plan passes the guardrails.
    Auto,
    /// Record the plan and wait for `rectify jobs approve`. The default, so
    /// that nothing writes to an account until someone chose `auto`.
    #[default]
    Approve,
    /// Record and show the plan; write nothing.
    DryRun,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Approve => "approve",
            Mode::DryRun => "dry-run",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    #[serde(default)]
    pub description: String,
    /// Control ids this rule answers (informational, and shown in notes).
    #[serde(default)]
    pub controls: Vec<String>,
    /// EventBridge event pattern.
    pub pattern: Value,
    /// Action id from the catalog.
    pub action: String,
    #[serde(default = "empty_object")]
    pub params: Value,
    /// Unset: the config's `default_mode` (itself `approve` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Notification channel names (see `notifications` in the config).
    #[serde(default)]
    pub notify: Vec<String>,
    /// Disabled rules are loaded and validated but never match.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

fn yes() -> bool {
    true
}
