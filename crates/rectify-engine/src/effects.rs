//! Effects of a settled job: the finding's workflow in Security Hub, a
//! notification to the rule's channels, and the audit record. A failed
//! effect is audited and logged; it does not undo the remediation.

use rectify_config::Channel;
use rectify_model::{Job, JobState, Notification, OutcomeKind};
use serde_json::json;

use crate::execute::{flush, AuditLog};
use crate::{outcome_of, Engine};

/// Security Hub's limit on `Note.Text`.
const NOTE_LIMIT: usize = 512;

/// `log` holds the run's audit records not yet written; they go in one
/// transaction with the job's final record.
pub(crate) async fn settle(engine: &Engine, job: &Job, mut log: AuditLog) {
    let outcome = outcome_of(job);
    log.push((
        format!("job.{}", job.state),
        job.id.clone(),
        json!({
            "outcome": outcome.kind, "reason": outcome.reason, "attempts": job.attempts,
            "change": outcome.change, "after": outcome.after,
        }),
    ));
    flush(engine, &mut log).await;
    update_finding(engine, job, outcome.kind, &outcome.reason).await;
    notify(engine, job, outcome.kind, &outcome.reason).await;
}

fn workflow_for(job: &Job, kind: OutcomeKind) -> Option<&'static str> {
    match (kind, job.state) {
        (OutcomeKind::Changed | OutcomeKind::AlreadyCompliant, _) => Some("RESOLVED"),
        (OutcomeKind::Failed, _) | (_, JobState::Dead) => Some("NOTIFIED"),
        _ => None,
    }
}

async fn update_finding(engine: &Engine, job: &Job, kind: OutcomeKind, reason: &str) {
    let Some(finding) = &job.finding else { return };
    let Some(status) = workflow_for(job, kind) else {
        if let Err(e) = engine
            .store
            .set_finding_outcome(finding, &job.id, kind.as_str(), None)
            .await
        {
            tracing::error!(error = %e, "could not record the finding's outcome");
        }
        return;
    };
    let note = truncate(
        &format!(
            "rectify rule {} ({}): {}: {}",
            job.rule_id, job.action, kind, reason
        ),
        NOTE_LIMIT,
    );
    // The finding lives in the Security Hub of its product ARN's region.
    let region = finding
        .product_arn
        .split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .unwrap_or(&job.target.region)
        .to_string();
    match engine
        .updater
        .update_workflow(finding, &region, status, &note)
        .await
    {
        Ok(()) => {
            audit(
                engine,
                "finding.updated",
                &job.id,
                json!({"finding": finding.id, "workflow": status, "note": note}),
            )
            .await;
            if let Err(e) = engine
                .store
                .set_finding_outcome(finding, &job.id, kind.as_str(), Some(status))
                .await
            {
                tracing::error!(error = %e, "could not record the finding's outcome");
            }
        }
        Err(e) => {
            tracing::error!(job = %job.id, error = %e, "BatchUpdateFindings failed");
            audit(
                engine,
                "finding.update-failed",
                &job.id,
                json!({"finding": finding.id, "workflow": status, "error": e}),
            )
            .await;
            let _ = engine
                .store
                .set_finding_outcome(finding, &job.id, kind.as_str(), None)
                .await;
        }
    }
}

async fn notify(engine: &Engine, job: &Job, kind: OutcomeKind, reason: &str) {
    // Dry-run writes nothing outside rectify, notifications included.
    if job.notify.is_empty() || kind == OutcomeKind::Planned {
        return;
    }
    let account = engine.config.account(&job.target.account);
    let message = json!({
        "account": job.target.account,
        "account_name": account.and_then(|a| a.name.clone()),
        "owner": account.and_then(|a| a.owner.clone()),
        "region": job.target.region,
        "resource": job.target.resource_id,
        "resource_type": job.target.resource_type,
        "control": job.control,
        "rule": job.rule_id,
        "action": job.action,
        "mode": job.mode,
        "outcome": kind,
        "state": job.state,
        "reason": reason,
        "job": job.id,
        "finding": job.finding.as_ref().map(|f| &f.id),
        "change": job.outcome.as_ref().and_then(|o| o.change.clone()).or_else(|| job.plan.clone()),
    });
    let notification = Notification {
        subject: truncate(
            &format!(
                "rectify: {} {} on {}",
                kind,
                job.control.as_deref().unwrap_or(&job.action),
                job.target.account
            ),
            100,
        ),
        message,
    };
    for name in &job.notify {
        let Some(Channel::Sns { topic_arn }) = engine.config.notifications.get(name) else {
            tracing::error!(channel = %name, "notification channel is not configured");
            continue;
        };
        match engine.notifier.publish(topic_arn, &notification).await {
            Ok(()) => {
                audit(
                    engine,
                    "notification.sent",
                    &job.id,
                    json!({"channel": name, "outcome": kind}),
                )
                .await
            }
            Err(e) => {
                tracing::error!(channel = %name, error = %e, "notification failed");
                audit(
                    engine,
                    "notification.failed",
                    &job.id,
                    json!({"channel": name, "error": e}),
                )
                .await;
            }
        }
    }
}

async fn audit(engine: &Engine, kind: &str, subject: &str, data: serde_json::Value) {
    if let Err(e) = engine.store.append_audit(kind, subject, &data).await {
        tracing::error!(error = %e, kind, "could not write the audit record");
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("abc", 10), "abc");
        let long = "é".repeat(300);
        let cut = truncate(&long, 512);
        assert!(cut.len() <= 512 && cut.ends_with("..."));
    }
}
