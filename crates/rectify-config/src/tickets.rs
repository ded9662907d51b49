//! The `tickets` section: ticket systems (ServiceNow, Jira Cloud) that get
//! one ticket per finding, and how their answers come back.

use std::collections::BTreeMap;

use crate::Secret;

/// `tickets.poll_seconds` when not given.
pub const DEFAULT_TICKET_POLL_SECONDS: u64 = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketSettings {
    /// How often `rectify serve` asks each system about its open tickets.
    pub poll_seconds: u64,
    /// Signs inbound ticket webhooks (`X-Rectify-Signature`); `None`: only
    /// bearer tokens with the `tickets` scope are taken.
    pub webhook_secret: Option<Secret>,
    /// By name; the name is what the webhook URL and the store use.
    pub systems: BTreeMap<String, TicketSystem>,
}

impl Default for TicketSettings {
    fn default() -> Self {
        TicketSettings {
            poll_seconds: DEFAULT_TICKET_POLL_SECONDS,
            webhook_secret: None,
            systems: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketSystem {
    /// The instance's base URL (`https://acme.service-now.com`,
    /// `https://acme.atlassian.net`), without a trailing slash.
    pub url: String,
    /// The rules whose findings get tickets; empty: every rule.
    pub rules: Vec<String>,
    /// Whether a person closing a ticket updates the finding in Security
    /// Hub (`RESOLVED`, or `SUPPRESSED` for an accepted risk).
    pub update_findings: bool,
    pub kind: TicketKind,
    /// The system's own ticket text, each part replacing the built-in one.
    pub template: TicketTemplate,
}

/// A ticket system's own text templates (minijinja source): `summary` (the
/// incident's short description, the issue's summary), `description` (its
/// body) and `note` (each step's work note or comment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketTemplate {
    pub summary: Option<String>,
    pub description: Option<String>,
    pub note: Option<String>,
}

impl TicketSystem {
    pub fn takes_rule(&self, rule: &str) -> bool {
        self.rules.is_empty() || self.rules.iter().any(|r| r == rule)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketKind {
    /// ServiceNow Table API on the `incident` table, basic auth.
    ServiceNow {
        user: String,
        password: Secret,
        /// `close_code` rectify sets when it resolves an incident.
        resolve_close_code: String,
        /// `close_code`s that mean a person accepted the risk.
        accepted_risk_close_codes: Vec<String>,
        assignment_group: Option<String>,
    },
    /// Jira Cloud REST API v3, basic auth with an account's email and API
    /// token.
    Jira {
        email: String,
        api_token: Secret,
        project: String,
        issue_type: String,
        /// The name of the transition rectify takes to close an issue.
        done_transition: String,
        /// Resolutions that mean a person accepted the risk.
        accepted_risk_resolutions: Vec<String>,
        /// Statuses that mean a person accepted the risk.
        accepted_risk_statuses: Vec<String>,
    },
}

impl TicketKind {
    pub fn name(&self) -> &'static str {
        match self {
            TicketKind::ServiceNow { .. } => "servicenow",
            TicketKind::Jira { .. } => "jira",
        }
    }
}
