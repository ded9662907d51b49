//! The ticket effect: a ticket in a ticketing system (ServiceNow, Jira)
//! per finding, kept in step with the jobs that remediate it, and closed
//! by rectify when the finding is fixed. Implemented in `rectify-tickets`.

use async_trait::async_trait;

use crate::{job::FindingRef, ActionError, Notification};

/// One remediation step of a finding: a settled job, as the engine hands
/// it to the ticket effect.
#[derive(Debug, Clone)]
pub struct TicketStep {
    pub finding: FindingRef,
    /// The region of the Security Hub that holds the finding.
    pub hub_region: String,
    pub rule: String,
    pub job: String,
    /// The outcome kind (`changed`, `failed`, ...).
    pub outcome: String,
    /// True only when Security Hub now shows the finding `RESOLVED` by
    /// rectify after the remediation was read back: the ticket is resolved.
    pub fixed: bool,
    /// What a person reads: subject, and the notification's fields.
    pub notification: Notification,
}

#[async_trait]
pub trait Tickets: Send + Sync {
    /// Opens the finding's ticket in every system that takes the rule (at
    /// most one per finding and system), notes the step on it, and
    /// resolves it when the step fixed the finding.
    async fn on_step(&self, step: &TicketStep) -> Result<(), ActionError>;

    /// A ticketing system said a ticket changed (an inbound webhook naming
    /// it by its number or id): its state is read from the system itself,
    /// never from the message, and the finding follows. Returns what was
    /// done, for the webhook's answer.
    async fn ticket_changed(&self, system: &str, ticket: &str) -> Result<String, ActionError>;

    /// Asks every system about its open tickets once (the finding follows
    /// a person's close) and finishes what a crash cut short: how many
    /// tickets changed state.
    async fn poll(&self) -> usize;
}
