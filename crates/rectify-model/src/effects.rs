//! Interfaces of the effects that reach outside: updating the finding and
//! notifying people. Implemented per provider (e.g. `rectify-aws`).

use async_trait::async_trait;
use serde_json::Value;

use crate::{job::FindingRef, ActionError};

/// `Note.UpdatedBy` of every note rectify writes on a finding.
pub const NOTE_AUTHOR: &str = "rectify";

/// A message for a notification channel.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Notification {
    pub subject: String,
    /// JSON with at least: account, region, resource, control, action,
    /// outcome, rule, job.
    pub message: Value,
}

/// The fields a person reads first, in this order.
const TEXT_FIELDS: &[(&str, &str)] = &[
    ("outcome", "Outcome"),
    ("kind", "Kind"),
    ("account", "Account"),
    ("account_name", "Account name"),
    ("owner", "Owner"),
    ("region", "Region"),
    ("resource", "Resource"),
    ("resource_type", "Resource type"),
    ("control", "Control"),
    ("rule", "Rule"),
    ("action", "Action"),
    ("mode", "Mode"),
    ("reason", "Reason"),
    ("job", "Job"),
    ("finding", "Finding"),
];

impl Notification {
    /// A plain-text rendering for people (email bodies): the subject, the
    /// main fields one per line, the change, then the whole message as
    /// JSON for tools that read mail.
    pub fn plain_text(&self) -> String {
        let mut out = format!("{}\n\n", self.subject.trim());
        for (key, label) in TEXT_FIELDS {
            let value = match self.message.get(*key) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) if s.is_empty() => continue,
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            out.push_str(&format!("{:<14} {value}\n", format!("{label}:")));
        }
        if let Some(change) = self.message.get("change").filter(|c| !c.is_null()) {
            let change = serde_json::to_string_pretty(change).unwrap_or_default();
            out.push_str(&format!("\nChange:\n{change}\n"));
        }
        let full = serde_json::to_string_pretty(&self.message).unwrap_or_default();
        out.push_str(&format!("\nFull message (JSON):\n{full}\n"));
        out
    }
}

#[async_trait]
pub trait Notifier: Send + Sync {
    /// Publishes to one channel. The engine passes the channel's name from
    /// `notifications`; the SNS notifier is given a topic ARN.
    async fn publish(
        &self,
        destination: &str,
        notification: &Notification,
    ) -> Result<(), ActionError>;

    /// Whether `destination` takes `notification` at all (a channel may
    /// take only some severities). The engine skips, and does not audit, a
    /// channel that does not.
    fn takes(&self, _destination: &str, _notification: &Notification) -> bool {
        true
    }

    /// Publishes with a subject and a text for people rendered from the
    /// channel's templates (SNS gives the text to email subscriptions).
    /// Notifiers without such a part send as [`Notifier::publish`] does.
    async fn publish_rendered(
        &self,
        destination: &str,
        notification: &Notification,
        _subject: &str,
        _text: &str,
    ) -> Result<(), ActionError> {
        self.publish(destination, notification).await
    }
}

/// Sends a plain-text email through a mail service (SES).
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send_mail(
        &self,
        region: &str,
        from: &str,
        to: &[String],
        subject: &str,
        text: &str,
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

    /// The finding as Security Hub holds it now (`GetFindings` by Id and
    /// ProductArn in `region`), as the API sent it; `None` when Security
    /// Hub has no such finding.
    async fn read_finding(
        &self,
        finding: &FindingRef,
        region: &str,
    ) -> Result<Option<Value>, ActionError>;

    /// An OCSF finding of the new Security Hub as it holds it now
    /// (`GetFindingsV2` by `metadata.uid` in `region`), as the API sent it;
    /// `None` when Security Hub has no such finding.
    async fn read_finding_v2(
        &self,
        metadata_uid: &str,
        region: &str,
    ) -> Result<Option<Value>, ActionError>;

    /// Sets an OCSF finding's `status_id` (when `Some`) and comment through
    /// `BatchUpdateFindingsV2` by its `metadata.uid` in `region`.
    async fn update_finding_v2(
        &self,
        metadata_uid: &str,
        region: &str,
        status_id: Option<i32>,
        comment: &str,
    ) -> Result<(), ActionError>;

    /// The `Parameters` map of a control as Security Hub holds it for the
    /// account in `region` (`BatchGetSecurityControls`): customised values
    /// and AWS's defaults. `None` when Security Hub does not know the
    /// control or has no parameters for it.
    async fn control_parameters(
        &self,
        account: &str,
        control: &str,
        region: &str,
    ) -> Result<Option<Value>, ActionError> {
        let _ = (account, control, region);
        Ok(None)
    }
}
