//! The ticket effect: one ticket per finding in each configured system
//! (ServiceNow incidents, Jira Cloud issues), a note at each remediation
//! step, resolved by rectify when the finding is fixed and read back.
//!
//! Two-way: when a person resolves the ticket (or closes it as an
//! accepted risk), the finding in Security Hub follows (`RESOLVED`, or
//! `SUPPRESSED`) with a note naming the ticket and saying a person closed
//! it. rectify learns of it by polling ([`TicketDesk::poll`]) and through
//! the inbound webhook ([`Tickets::ticket_changed`]); either way the
//! ticket's state is read from the system itself.
//!
//! One ticket per finding and system, under redelivery and crashes: the
//! store's `tickets` row is reserved before the system is called and
//! records the ticket after; a row left reserved by a crash is settled by
//! searching the system for the finding's correlation id before creating.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rectify_config::tickets::{TicketKind, TicketSettings, TicketSystem, TicketTemplate};
use rectify_model::{
    effects::NOTE_AUTHOR, ActionError, ErrorClass, FindingRef, FindingUpdater, TicketStep, Tickets,
};
use rectify_notify::template::{ticket_context, TextTemplates};
use rectify_notify::Retry;
use rectify_store::tickets as state;
use rectify_store::{Store, TicketRow};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

mod http;
pub mod jira;
pub mod servicenow;

/// Security Hub's limit on `Note.Text`.
const NOTE_LIMIT: usize = 512;
/// Open tickets asked about per system and poll.
const POLL_BATCH: usize = 500;
/// ServiceNow's `short_description` holds 160 characters.
const SUMMARY_LIMIT: usize = 160;

/// A ticket as its system knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The system's id (ServiceNow `sys_id`, Jira issue id).
    pub id: String,
    /// What people call it (`INC0010001`, `SEC-12`).
    pub key: String,
}

/// Where a ticket stands in its system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteStatus {
    Open,
    /// Resolved or closed; says how (close code, resolution).
    Resolved(String),
    /// Closed as an accepted risk; says how.
    AcceptedRisk(String),
    /// Canceled: nothing to say about the finding.
    Canceled,
}

/// What a new ticket says.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub summary: String,
    pub description: String,
    /// Finds the ticket again: ServiceNow `correlation_id`, a Jira label.
    pub correlation: String,
}

/// One ticket system's API.
#[async_trait]
pub trait TicketApi: Send + Sync {
    /// The oldest ticket carrying `correlation`, if any.
    async fn find(&self, correlation: &str) -> Result<Option<Remote>, ActionError>;
    async fn create(&self, ticket: &NewTicket) -> Result<Remote, ActionError>;
    async fn note(&self, remote: &Remote, text: &str) -> Result<(), ActionError>;
    /// Closes the ticket as done, saying `text`.
    async fn resolve(&self, remote: &Remote, text: &str) -> Result<(), ActionError>;
    async fn status(&self, remote: &Remote) -> Result<RemoteStatus, ActionError>;
}

/// The correlation id of a finding: ServiceNow's `correlation_id` holds
/// 100 characters and a Jira label no spaces, while finding ids are long
/// ARNs; a hash of the finding's two keys fits both.
pub fn correlation(finding: &FindingRef) -> String {
    let mut hash = Sha256::new();
    hash.update(finding.product_arn.as_bytes());
    hash.update(b"\n");
    hash.update(finding.id.as_bytes());
    format!("rectify-{}", &hex::encode(hash.finalize())[..40])
}

struct System {
    name: String,
    settings: TicketSystem,
    api: Box<dyn TicketApi>,
    texts: Texts,
}

impl System {
    fn label(&self) -> &'static str {
        match self.settings.kind {
            TicketKind::ServiceNow { .. } => "ServiceNow",
            TicketKind::Jira { .. } => "Jira",
        }
    }
}

/// The configured ticket systems, with the store that keeps one ticket per
/// finding and the updater that makes the finding follow a person's close.
pub struct TicketDesk {
    systems: Vec<System>,
    store: Arc<dyn Store>,
    updater: Arc<dyn FindingUpdater>,
    /// A row reserved longer ago than this is an orphan of a crash (not a
    /// step in flight on another worker) and may be settled.
    orphan_after: Duration,
}

fn api_for(settings: &TicketSystem, retry: Retry) -> Box<dyn TicketApi> {
    match &settings.kind {
        TicketKind::ServiceNow {
            user,
            password,
            resolve_close_code,
            accepted_risk_close_codes,
            assignment_group,
        } => Box::new(servicenow::ServiceNow {
            http: http::Http::new("servicenow", &settings.url, user, &password.0, retry),
            resolve_close_code: resolve_close_code.clone(),
            accepted_risk_close_codes: accepted_risk_close_codes.clone(),
            assignment_group: assignment_group.clone(),
        }),
        TicketKind::Jira {
            email,
            api_token,
            project,
            issue_type,
            done_transition,
            accepted_risk_resolutions,
            accepted_risk_statuses,
        } => Box::new(jira::Jira {
            http: http::Http::new("jira", &settings.url, email, &api_token.0, retry),
            project: project.clone(),
            issue_type: issue_type.clone(),
            done_transition: done_transition.clone(),
            accepted_risk_resolutions: accepted_risk_resolutions.clone(),
            accepted_risk_statuses: accepted_risk_statuses.clone(),
        }),
    }
}

/// Cuts `text` to `max` characters, ending in `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Line breaks and runs of blanks as one space (a summary is one line).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Built-in ticket text; a system's `template` replaces any part.
const BUILT_IN_SUMMARY: &str = include_str!("../templates/summary.j2");
const BUILT_IN_DESCRIPTION: &str = include_str!("../templates/description.j2");
const BUILT_IN_NOTE: &str = include_str!("../templates/note.j2");

/// A system's ticket text templates, compiled.
struct Texts {
    own: Option<TextTemplates>,
    built_in: TextTemplates,
}

impl Texts {
    fn new(system: &str, own: &TicketTemplate) -> Texts {
        let built_in = TextTemplates::new(&[
            ("summary", BUILT_IN_SUMMARY),
            ("description", BUILT_IN_DESCRIPTION),
            ("note", BUILT_IN_NOTE),
        ])
        .expect("the built-in ticket templates compile");
        let parts: Vec<(&str, &str)> = [
            ("summary", &own.summary),
            ("description", &own.description),
            ("note", &own.note),
        ]
        .into_iter()
        .filter_map(|(name, source)| source.as_deref().map(|s| (name, s)))
        .collect();
        // Checked when the config was loaded; should one still fail here,
        // the built-in text is used rather than no ticket.
        let own = match TextTemplates::new(&parts) {
            Ok(t) if !parts.is_empty() => Some(t),
            Ok(_) => None,
            Err(e) => {
                tracing::error!(system, error = %e, "ticket template does not compile; using the built-in one");
                None
            }
        };
        Texts { own, built_in }
    }

    /// Part `name` for `step`: the system's own template, else (also when
    /// the own one fails on this step) the built-in one.
    fn render(&self, system: &str, name: &str, step: &TicketStep) -> String {
        let reason = step
            .notification
            .message
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let context = ticket_context(
            &step.notification,
            &json!({
                "rule": step.rule, "job": step.job, "outcome": step.outcome,
                "fixed": step.fixed, "reason": reason,
                "finding_id": step.finding.id, "product_arn": step.finding.product_arn,
                "hub_region": step.hub_region, "system": system,
            }),
        );
        let own = self.own.as_ref().filter(|t| t.has(name));
        if let Some(own) = own {
            match own.render(name, &context) {
                Ok(text) => return text,
                Err(e) => {
                    tracing::error!(system, error = %e.message, "ticket template failed; using the built-in one")
                }
            }
        }
        self.built_in
            .render(name, &context)
            .unwrap_or_else(|_| step.notification.subject.clone())
    }
}

impl TicketDesk {
    pub fn new(
        settings: &TicketSettings,
        store: Arc<dyn Store>,
        updater: Arc<dyn FindingUpdater>,
    ) -> TicketDesk {
        TicketDesk::with_retry(settings, store, updater, Retry::default())
    }

    pub fn with_retry(
        settings: &TicketSettings,
        store: Arc<dyn Store>,
        updater: Arc<dyn FindingUpdater>,
        retry: Retry,
    ) -> TicketDesk {
        let systems = settings
            .systems
            .iter()
            .map(|(name, s)| System {
                name: name.clone(),
                settings: s.clone(),
                api: api_for(s, retry),
                texts: Texts::new(name, &s.template),
            })
            .collect();
        TicketDesk {
            systems,
            store,
            updater,
            orphan_after: Duration::from_secs(120),
        }
    }

    /// How long a reserved row must sit before it counts as a crash's
    /// orphan.
    pub fn with_orphan_after(mut self, after: Duration) -> TicketDesk {
        self.orphan_after = after;
        self
    }

    fn system(&self, name: &str) -> Option<&System> {
        self.systems.iter().find(|s| s.name == name)
    }

    async fn audit(&self, kind: &str, subject: &str, data: Value) {
        if let Err(e) = self.store.append_audit(kind, subject, &data).await {
            tracing::error!(error = %e, kind, "could not write the audit record");
        }
    }

    fn store_error(e: rectify_store::StoreError) -> ActionError {
        ActionError::new(ErrorClass::Transient, format!("tickets: {e}"))
    }

    /// The finding's ticket in `system`, opened (or found again) when
    /// there is none: its remote and state.
    async fn ensure(
        &self,
        system: &System,
        step: &TicketStep,
    ) -> Result<(Remote, String), ActionError> {
        let (row, created) = self
            .store
            .reserve_ticket(&system.name, &step.finding, &step.hub_region)
            .await
            .map_err(Self::store_error)?;
        if row.state != state::RESERVED {
            return Ok((remote_of_row(&row)?, row.state));
        }
        if !created && !self.is_orphan(&row) {
            return Err(ActionError::new(
                ErrorClass::Transient,
                format!(
                    "the {} ticket of finding {} is being opened by another step",
                    system.label(),
                    step.finding.id
                ),
            ));
        }
        let correlation = correlation(&step.finding);
        // A crash after the system made the ticket and before the store
        // recorded it leaves a ticket to find, not to make again.
        let (remote, found) = match system.api.find(&correlation).await? {
            Some(remote) => (remote, true),
            None => {
                let summary = system.texts.render(&system.name, "summary", step);
                let ticket = NewTicket {
                    summary: cut(&one_line(&summary), SUMMARY_LIMIT),
                    description: system.texts.render(&system.name, "description", step),
                    correlation,
                };
                (system.api.create(&ticket).await?, false)
            }
        };
        self.store
            .move_ticket(
                &system.name,
                &step.finding.id,
                state::RESERVED,
                state::OPEN,
                Some((&remote.id, &remote.key)),
            )
            .await
            .map_err(Self::store_error)?;
        self.audit(
            if found {
                "ticket.found"
            } else {
                "ticket.opened"
            },
            &step.job,
            json!({"system": system.name, "ticket": remote.key, "finding": step.finding.id}),
        )
        .await;
        Ok((remote, state::OPEN.to_string()))
    }

    fn is_orphan(&self, row: &TicketRow) -> bool {
        let Some(updated) = rectify_model::parse_rfc3339(&row.updated_at) else {
            return true;
        };
        let age = time_since(updated);
        age >= self.orphan_after
    }

    async fn step_one(&self, system: &System, step: &TicketStep) -> Result<(), ActionError> {
        let (remote, now) = self.ensure(system, step).await?;
        let text = system.texts.render(&system.name, "note", step);
        if step.fixed && (now == state::OPEN || now == state::RESOLVING) {
            return self
                .resolve(system, &step.finding.id, &remote, &now, &text, &step.job)
                .await;
        }
        system.api.note(&remote, &text).await?;
        self.audit(
            "ticket.noted",
            &step.job,
            json!({"system": system.name, "ticket": remote.key, "finding": step.finding.id, "outcome": step.outcome}),
        )
        .await;
        Ok(())
    }

    /// Closes the ticket as fixed; `RESOLVING` marks it meanwhile so that
    /// the poll, not a person's close, finishes a resolution a crash cut.
    async fn resolve(
        &self,
        system: &System,
        finding_id: &str,
        remote: &Remote,
        now: &str,
        text: &str,
        subject: &str,
    ) -> Result<(), ActionError> {
        if now == state::OPEN
            && !self
                .store
                .move_ticket(
                    &system.name,
                    finding_id,
                    state::OPEN,
                    state::RESOLVING,
                    None,
                )
                .await
                .map_err(Self::store_error)?
        {
            // A person closed it (or another step resolved it) meanwhile.
            return Ok(());
        }
        system.api.resolve(remote, text).await?;
        self.store
            .move_ticket(
                &system.name,
                finding_id,
                state::RESOLVING,
                state::RESOLVED,
                None,
            )
            .await
            .map_err(Self::store_error)?;
        self.audit(
            "ticket.resolved",
            subject,
            json!({"system": system.name, "ticket": remote.key, "finding": finding_id}),
        )
        .await;
        Ok(())
    }

    /// Brings one row in step with its system: what changed, if anything.
    async fn check(&self, system: &System, row: &TicketRow) -> Result<Option<String>, ActionError> {
        let finding = FindingRef {
            id: row.finding_id.clone(),
            product_arn: row.product_arn.clone(),
            generator_id: None,
            severity: None,
        };
        match row.state.as_str() {
            state::RESERVED if self.is_orphan(row) => {
                // Adopt a ticket a crash left unrecorded; never create here.
                let Some(remote) = system.api.find(&correlation(&finding)).await? else {
                    return Ok(None);
                };
                self.store
                    .move_ticket(
                        &system.name,
                        &row.finding_id,
                        state::RESERVED,
                        state::OPEN,
                        Some((&remote.id, &remote.key)),
                    )
                    .await
                    .map_err(Self::store_error)?;
                self.audit(
                    "ticket.found",
                    &remote.key,
                    json!({"system": system.name, "ticket": remote.key, "finding": row.finding_id}),
                )
                .await;
                Ok(Some(format!("found {} again", remote.key)))
            }
            state::RESOLVING => {
                let remote = remote_of_row(row)?;
                if system.api.status(&remote).await? == RemoteStatus::Open {
                    let text = "rectify: the finding is fixed: Security Hub shows it RESOLVED after rectify read the resource back.";
                    system.api.resolve(&remote, text).await?;
                }
                self.store
                    .move_ticket(
                        &system.name,
                        &row.finding_id,
                        state::RESOLVING,
                        state::RESOLVED,
                        None,
                    )
                    .await
                    .map_err(Self::store_error)?;
                Ok(Some(format!("resolved {}", remote.key)))
            }
            state::OPEN => {
                let remote = remote_of_row(row)?;
                let status = system.api.status(&remote).await?;
                self.follow(system, row, &finding, &remote, status).await
            }
            _ => Ok(None),
        }
    }

    /// Makes the finding follow a person's close of its ticket.
    async fn follow(
        &self,
        system: &System,
        row: &TicketRow,
        finding: &FindingRef,
        remote: &Remote,
        status: RemoteStatus,
    ) -> Result<Option<String>, ActionError> {
        let subject = format!("{}/{}", system.name, remote.key);
        let (to, workflow, how) = match &status {
            RemoteStatus::Open => return Ok(None),
            RemoteStatus::Canceled => (state::CANCELED, None, "canceled".to_string()),
            RemoteStatus::Resolved(how) => (state::CLOSED_BY_PERSON, Some("RESOLVED"), how.clone()),
            RemoteStatus::AcceptedRisk(how) => (
                state::ACCEPTED_RISK,
                Some("SUPPRESSED"),
                format!("an accepted risk ({how})"),
            ),
        };
        let workflow = workflow.filter(|_| system.settings.update_findings);
        let mut note = None;
        if let Some(workflow) = workflow {
            let text = cut(
                &format!(
                    "rectify: {} ticket {} was closed by a person as {how}; set {workflow} on the ticket's word, not on a read-back by rectify.",
                    system.label(),
                    remote.key
                ),
                NOTE_LIMIT,
            );
            if let Err(e) = self
                .updater
                .update_workflow(finding, &row.hub_region, workflow, &text)
                .await
            {
                // The row stays open: the next poll tries again.
                self.audit(
                    "ticket.finding-update-failed",
                    &subject,
                    json!({"system": system.name, "ticket": remote.key, "finding": finding.id, "workflow": workflow, "error": e.message}),
                )
                .await;
                return Err(e);
            }
            note = Some(text);
        }
        let moved = self
            .store
            .move_ticket(&system.name, &row.finding_id, state::OPEN, to, None)
            .await
            .map_err(Self::store_error)?;
        if moved {
            self.audit(
                "ticket.closed-by-person",
                &subject,
                json!({
                    "system": system.name, "ticket": remote.key, "finding": finding.id,
                    "closed_as": how, "workflow": workflow, "note": note, "note_by": NOTE_AUTHOR,
                }),
            )
            .await;
        }
        Ok(Some(match workflow {
            Some(w) => format!("{} closed by a person; finding set {w}", remote.key),
            None => format!("{} closed by a person; finding left as it is", remote.key),
        }))
    }
}

fn time_since(t: time::OffsetDateTime) -> Duration {
    let elapsed = time::OffsetDateTime::now_utc() - t;
    Duration::try_from(elapsed).unwrap_or(Duration::ZERO)
}

fn remote_of_row(row: &TicketRow) -> Result<Remote, ActionError> {
    match (&row.remote_id, &row.remote_key) {
        (Some(id), Some(key)) => Ok(Remote {
            id: id.clone(),
            key: key.clone(),
        }),
        _ => Err(ActionError::invalid(format!(
            "the ticket row of finding {} has no remote id",
            row.finding_id
        ))),
    }
}

#[async_trait]
impl Tickets for TicketDesk {
    async fn on_step(&self, step: &TicketStep) -> Result<(), ActionError> {
        let mut errors = Vec::new();
        for system in &self.systems {
            if !system.settings.takes_rule(&step.rule) {
                continue;
            }
            if let Err(e) = self.step_one(system, step).await {
                errors.push(format!("{}: {}", system.name, e.message));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ActionError::new(ErrorClass::Transient, errors.join("; ")))
        }
    }

    async fn ticket_changed(&self, system: &str, ticket: &str) -> Result<String, ActionError> {
        let Some(sys) = self.system(system) else {
            return Err(ActionError::new(
                ErrorClass::NotFound,
                format!("no ticket system `{system}` is configured"),
            ));
        };
        let row = self
            .store
            .find_ticket(system, ticket)
            .await
            .map_err(Self::store_error)?
            .ok_or_else(|| {
                ActionError::new(
                    ErrorClass::NotFound,
                    format!("rectify has no ticket `{ticket}` in `{system}`"),
                )
            })?;
        Ok(self
            .check(sys, &row)
            .await?
            .unwrap_or_else(|| format!("no change ({})", row.state)))
    }

    /// Errors are logged per ticket; one bad ticket never stops the others.
    async fn poll(&self) -> usize {
        let mut changed = 0;
        for system in &self.systems {
            for from in [state::RESERVED, state::RESOLVING, state::OPEN] {
                let rows = match self
                    .store
                    .tickets_in_state(&system.name, from, POLL_BATCH)
                    .await
                {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::error!(system = %system.name, error = %e, "could not list tickets");
                        continue;
                    }
                };
                for row in rows {
                    match self.check(system, &row).await {
                        Ok(Some(_)) => changed += 1,
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(system = %system.name, finding = %row.finding_id, error = %e, "ticket check failed");
                        }
                    }
                }
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_fits_servicenow_and_jira() {
        let finding = FindingRef {
            id: format!(
                "arn:aws:securityhub:us-east-1:111122223333:security-control/S3.8/finding/{}",
                "f".repeat(200)
            ),
            product_arn: "arn:aws:securityhub:us-east-1::product/aws/securityhub".into(),
            generator_id: None,
            severity: None,
        };
        let c = correlation(&finding);
        // ServiceNow's correlation_id holds 100 characters; a Jira label
        // has no spaces.
        assert_eq!(c.len(), 48);
        assert!(c.starts_with("rectify-") && !c.contains(' '));
        assert_eq!(c, correlation(&finding.clone()));
        let other = FindingRef {
            product_arn: "arn:aws:securityhub:us-east-1::product/other/x".into(),
            ..finding.clone()
        };
        assert_ne!(c, correlation(&other));
    }

    fn step(fixed: bool) -> TicketStep {
        TicketStep {
            finding: FindingRef {
                id: "arn:finding/1".into(),
                product_arn: "arn:product".into(),
                generator_id: None,
                severity: Some("HIGH".into()),
            },
            hub_region: "eu-west-1".into(),
            rule: "s3-bpa".into(),
            job: "job-1".into(),
            outcome: "changed".into(),
            fixed,
            notification: rectify_model::Notification {
                subject: "rectify: changed S3.8 on 111122223333".into(),
                message: json!({
                    "account": "111122223333", "owner": null, "resource": "arn:aws:s3:::b",
                    "reason": "blocked public access", "change": {"after": true},
                    "severity": "HIGH", "empty": "",
                }),
            },
        }
    }

    #[test]
    fn the_built_in_ticket_text_lists_the_fields_and_the_step() {
        let texts = Texts::new("snow", &TicketTemplate::default());
        let step = step(true);
        assert_eq!(
            texts.render("snow", "summary", &step),
            "rectify: changed S3.8 on 111122223333"
        );
        assert_eq!(
            texts.render("snow", "description", &step),
            "rectify: changed S3.8 on 111122223333\naccount: 111122223333\n\
             resource: arn:aws:s3:::b\nreason: blocked public access\n\
             change: {\"after\": true}\nseverity: HIGH\nproduct_arn: arn:product"
        );
        assert_eq!(
            texts.render("snow", "note", &step),
            "rectify rule s3-bpa job job-1: changed: blocked public access. The finding is \
             fixed: Security Hub shows it RESOLVED after rectify read the resource back."
        );
    }

    #[test]
    fn an_own_part_replaces_only_itself() {
        let own = TicketTemplate {
            summary: Some(
                "[{{ severity }}] {{ resource }} ({{ system }}, {{ hub_region }})".into(),
            ),
            description: None,
            note: Some("{{ outcome }}{% if fixed %}, fixed{% endif %}: {{ finding_id }}".into()),
        };
        let texts = Texts::new("snow", &own);
        assert_eq!(
            texts.render("snow", "summary", &step(false)),
            "[HIGH] arn:aws:s3:::b (snow, eu-west-1)"
        );
        assert_eq!(
            texts.render("snow", "note", &step(false)),
            "changed: arn:finding/1"
        );
        assert_eq!(
            texts.render("snow", "note", &step(true)),
            "changed, fixed: arn:finding/1"
        );
        assert!(texts
            .render("snow", "description", &step(false))
            .ends_with("product_arn: arn:product"));
    }

    #[test]
    fn adf_has_one_paragraph_per_line() {
        let doc = jira::adf("first line\n\nsecond line\n");
        assert_eq!(doc["type"], "doc");
        assert_eq!(doc["version"], 1);
        let paragraphs = doc["content"].as_array().unwrap();
        assert_eq!(paragraphs.len(), 2);
        assert_eq!(paragraphs[1]["content"][0]["text"], "second line");
    }

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("short", 10), "short");
        let long = "é".repeat(200);
        let out = cut(&long, 160);
        assert_eq!(out.chars().count(), 160);
        assert!(out.ends_with('…'));
    }
}
