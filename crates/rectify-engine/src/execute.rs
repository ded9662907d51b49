//! Execute: run one claimed job against its target with the account's
//! credentials: check -> (exempt? compliant?) -> plan -> mode gate ->
//! apply -> verify.

use rectify_model::{Action, ActionError, Job, JobState, Mode, Outcome, OutcomeKind};
use serde_json::json;

use crate::{effects, plan::exemption, Engine};

pub(crate) async fn run(engine: &Engine, mut job: Job) -> anyhow::Result<Job> {
    let worker = engine.options.worker_id.clone();
    let result = match engine.actions.get(&job.action).cloned() {
        Some(action) => steps(engine, action.as_ref(), &mut job).await,
        None => Ok(Outcome::new(
            OutcomeKind::Failed,
            format!("action {} is not in the catalog", job.action),
        )),
    };
    job.updated_at = rectify_model::now_rfc3339();
    match result {
        Ok(outcome) => {
            job.state = match outcome.kind {
                OutcomeKind::Changed | OutcomeKind::AlreadyCompliant | OutcomeKind::Planned => {
                    JobState::Succeeded
                }
                OutcomeKind::AwaitingApproval => JobState::WaitingApproval,
                OutcomeKind::Skipped | OutcomeKind::Unmatched => JobState::Skipped,
                OutcomeKind::Failed => JobState::Failed,
            };
            job.next_run_at = None;
            job.outcome = Some(outcome);
        }
        Err(error) => {
            engine.metrics.error(error.class);
            job.last_error = Some(format!("{:?}: {}", error.class, error.message));
            let too_old = age(&job.created_at) > engine.options.retry.max_age;
            let delay = error
                .class
                .retryable()
                .then(|| engine.options.retry.delay(job.attempts))
                .flatten()
                .filter(|_| !too_old);
            match delay {
                Some(delay) => {
                    engine.metrics.retry();
                    job.state = JobState::Retrying;
                    job.next_run_at = Some(rectify_model::rfc3339_after(delay));
                    engine
                        .store
                        .append_audit(
                            "job.retrying",
                            &job.id,
                            &json!({"attempts": job.attempts, "error": error, "next_run_at": job.next_run_at}),
                        )
                        .await?;
                }
                None if error.class.retryable() => {
                    engine.metrics.dead();
                    job.state = JobState::Dead;
                    job.outcome = Some(Outcome::new(
                        OutcomeKind::Failed,
                        format!(
                            "gave up after {} attempt{}{}: {}",
                            job.attempts,
                            if job.attempts == 1 { "" } else { "s" },
                            if too_old {
                                " (the job is past execution.max_age_seconds)"
                            } else {
                                ""
                            },
                            error.message
                        ),
                    ));
                }
                None => {
                    job.state = JobState::Failed;
                    job.outcome = Some(Outcome::new(OutcomeKind::Failed, error.message));
                }
            }
        }
    }
    // Effects first, then the final state: a crash in between runs the job
    // again (its check then finds nothing to do) rather than losing the
    // finding update or the notification.
    if job.state != JobState::Retrying {
        engine.metrics.outcome(crate::outcome_of(&job).kind);
        effects::settle(engine, &job).await;
    }
    if !engine.store.save_job(&job, Some(&worker)).await? {
        // Our lease ran out and another worker owns the job now.
        tracing::warn!(job = %job.id, "lost the lease on a job; leaving it to its new owner");
    }
    Ok(job)
}

async fn steps(
    engine: &Engine,
    action: &dyn Action,
    job: &mut Job,
) -> Result<Outcome, ActionError> {
    let audit = |kind: &'static str, data: serde_json::Value| {
        let store = engine.store.clone();
        let id = job.id.clone();
        async move {
            if let Err(e) = store.append_audit(kind, &id, &data).await {
                tracing::error!(error = %e, kind, "could not write the audit record");
            }
        }
    };
    let observed = action.check(&job.target, &job.params).await?;
    audit(
        "job.checked",
        json!({"compliant": observed.compliant, "state": observed.state}),
    )
    .await;
    if let Some(skip) = exemption(&engine.config.guardrails.exempt_tag, &observed.tags) {
        return Ok(skip);
    }
    if observed.compliant {
        let mut outcome = Outcome::new(
            OutcomeKind::AlreadyCompliant,
            "already compliant; nothing changed",
        );
        outcome.after = Some(observed.state);
        return Ok(outcome);
    }
    let change = action.plan(&job.target, &job.params, &observed)?;
    audit("job.planned", json!({"mode": job.mode, "change": change})).await;
    job.plan = Some(change.clone());
    match job.mode {
        Mode::DryRun => {
            let mut outcome = Outcome::new(
                OutcomeKind::Planned,
                format!("dry-run: would {}", change.summary),
            );
            outcome.change = Some(change);
            return Ok(outcome);
        }
        Mode::Approve if job.approved_by.is_none() => {
            let mut outcome = Outcome::new(
                OutcomeKind::AwaitingApproval,
                format!("waiting for approval to {}", change.summary),
            );
            outcome.change = Some(change);
            return Ok(outcome);
        }
        _ => {}
    }
    action.apply(&job.target, &job.params, &change).await?;
    audit(
        "job.applied",
        json!({"change": change, "approved_by": job.approved_by}),
    )
    .await;
    let after = action.verify(&job.target, &job.params).await?;
    audit(
        "job.verified",
        json!({"compliant": after.compliant, "state": after.state}),
    )
    .await;
    if !after.compliant {
        return Ok(Outcome {
            kind: OutcomeKind::Failed,
            reason: format!(
                "applied, but the read-back still does not comply: {}",
                after.state
            ),
            change: Some(change),
            after: Some(after.state),
        });
    }
    Ok(Outcome {
        kind: OutcomeKind::Changed,
        reason: change.summary.clone(),
        change: Some(change),
        after: Some(after.state),
    })
}

/// How long ago an RFC 3339 time was (zero when it cannot be read).
fn age(rfc3339: &str) -> std::time::Duration {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| (time::OffsetDateTime::now_utc() - t).try_into().ok())
        .unwrap_or_default()
}
