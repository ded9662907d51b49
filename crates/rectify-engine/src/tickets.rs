//! The ticket effect of a settled job: the job's step handed to the
//! configured ticket systems, its failure audited (it never undoes the
//! remediation nor holds up the job).

use rectify_model::{FindingRef, Job, Notification, Outcome, TicketStep};
use serde_json::json;

use crate::effects::audit;
use crate::Engine;

pub(crate) async fn step(
    engine: &Engine,
    job: &Job,
    finding: FindingRef,
    hub_region: String,
    outcome: &Outcome,
    fixed: bool,
) {
    let Some(tickets) = &engine.tickets else {
        return;
    };
    let control = job.control.as_deref().unwrap_or(&job.action);
    let message = json!({
        "outcome": outcome.kind,
        "account": job.target.account,
        "region": job.target.region,
        "resource": job.target.resource_id,
        "resource_type": job.target.resource_type,
        "control": job.control,
        "rule": job.rule_id,
        "action": job.action,
        "mode": job.mode,
        "reason": outcome.reason,
        "job": job.id,
        "finding": finding.id,
    });
    let step = TicketStep {
        hub_region,
        rule: job.rule_id.clone(),
        job: job.id.clone(),
        outcome: outcome.kind.as_str().to_string(),
        fixed,
        notification: Notification {
            subject: format!(
                "rectify: {control} on {} in account {}",
                job.target.resource_id, job.target.account
            ),
            message,
        },
        finding,
    };
    if let Err(e) = tickets.on_step(&step).await {
        tracing::error!(job = %job.id, finding = %step.finding.id, error = %e, "ticket update failed");
        audit(
            engine,
            "ticket.failed",
            &job.id,
            json!({"finding": step.finding.id, "error": e.message}),
        )
        .await;
    }
}
