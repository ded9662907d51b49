//! Execute: run one claimed job against its target with the account's
//! credentials: check -> (exempt? compliant?) -> plan -> mode gate ->
//! apply -> verify.

use rectify_model::{Action, ActionError, Job, JobState, Mode, Outcome, OutcomeKind};
use serde_json::json;

use crate::{effects, plan::exemption, Engine};

pub(crate) async fn run(engine: &Engine, mut job: Job) -> anyhow::Result<Job> {
    let worker = engine.options.worker_id.clone();
    let mut log = AuditLog::new();
    let result = match engine.actions.get(&job.action).cloned() {
        Some(action) => {
            // This replica's jobs queue here; the store's slot then bounds
            // the account-region across every replica.
            let _local = engine
                .region_slot(&job.target.account, &job.target.region)
                .await;
            match take_shared_slot(engine, &job).await {
                Ok(true) => {
                    let step = steps(engine, action.as_ref(), &mut job, &mut log).await;
                    free_shared_slot(engine, &job).await;
                    step
                }
                Ok(false) => Ok(Step::Defer(
                    rectify_model::rfc3339_after(slot_retry_delay()),
                )),
                Err(e) => Err(e),
            }
        }
        None => Ok(Step::from(Outcome::new(
            OutcomeKind::Failed,
            format!("action {} is not in the catalog", job.action),
        ))),
    };
    job.updated_at = rectify_model::now_rfc3339();
    let result = match result {
        Ok(Step::Settled(outcome)) => Ok(*outcome),
        Ok(Step::Defer(until)) => {
            // The account-region's rate limit or concurrency limit: wait for
            // a slot without spending an attempt.
            job.state = JobState::Pending;
            job.attempts = job.attempts.saturating_sub(1);
            job.next_run_at = Some(until);
            flush(engine, &mut log).await;
            if !engine.store.save_job(&job, Some(&worker)).await? {
                tracing::warn!(job = %job.id, "lost the lease on a job; leaving it to its new owner");
            }
            return Ok(job);
        }
        Err(e) => Err(e),
    };
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
                    log.push((
                        "job.retrying".into(),
                        job.id.clone(),
                        json!({"attempts": job.attempts, "error": error, "next_run_at": job.next_run_at}),
                    ));
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
    if job.state == JobState::Retrying {
        flush(engine, &mut log).await;
    } else {
        engine.metrics.outcome(crate::outcome_of(&job).kind);
        effects::settle(engine, &job, log).await;
    }
    if !engine.store.save_job(&job, Some(&worker)).await? {
        // Our lease ran out and another worker owns the job now.
        tracing::warn!(job = %job.id, "lost the lease on a job; leaving it to its new owner");
    }
    Ok(job)
}

/// How far a run got: settled with an outcome, or deferred by the rate
/// or concurrency limit until the given time.
enum Step {
    Settled(Box<Outcome>),
    Defer(String),
}

impl From<Outcome> for Step {
    fn from(outcome: Outcome) -> Step {
        Step::Settled(Box::new(outcome))
    }
}

/// `guardrails.max_concurrent_per_account_region` across replicas: a slot
/// in the store, held by the job for at most its lease (a replica that
/// dies frees its slots when their lease runs out). True when there is no
/// limit.
async fn take_shared_slot(engine: &Engine, job: &Job) -> Result<bool, ActionError> {
    let Some(limit) = engine.config.guardrails.max_concurrent_per_account_region else {
        return Ok(true);
    };
    let target = &job.target;
    engine
        .store
        .take_slot(
            &target.account,
            &target.region,
            &job.id,
            limit,
            engine.options.lease,
        )
        .await
        .map_err(store_error)
}

async fn free_shared_slot(engine: &Engine, job: &Job) {
    if engine
        .config
        .guardrails
        .max_concurrent_per_account_region
        .is_none()
    {
        return;
    }
    let target = &job.target;
    if let Err(e) = engine
        .store
        .free_slot(&target.account, &target.region, &job.id)
        .await
    {
        // The slot frees itself when the lease runs out.
        tracing::warn!(job = %job.id, error = %e, "could not free the account-region slot");
    }
}

/// When a job that found every account-region slot taken tries again: soon,
/// spread so that waiting jobs do not all come back at once.
fn slot_retry_delay() -> std::time::Duration {
    use rand::Rng;
    std::time::Duration::from_millis(rand::rng().random_range(500..=1500))
}

fn store_error(e: rectify_store::StoreError) -> ActionError {
    ActionError::new(rectify_model::ErrorClass::Transient, format!("store: {e}"))
}

/// Guardrails that need the shared store, checked right before a write:
/// paused rules, the blast-radius breakers, the account-region rate limit.
async fn guard(
    engine: &Engine,
    action: &dyn Action,
    job: &Job,
) -> Result<Option<Step>, ActionError> {
    let paused = engine.store.paused_rules().await.map_err(store_error)?;
    if let Some(reason) = paused.get(&job.rule_id) {
        return Ok(Some(Step::from(Outcome::new(
            OutcomeKind::Skipped,
            format!(
                "rule {} is paused ({reason}); `rectify resume --rule {}` resumes it",
                job.rule_id, job.rule_id
            ),
        ))));
    }
    let limits = &engine.config.guardrails;
    if limits.max_changes_per_account_per_hour.is_some()
        || limits.max_percent_of_type_per_hour.is_some()
    {
        let since = rectify_model::rfc3339_before(std::time::Duration::from_secs(3600));
        let made = engine
            .store
            .count_changes(&job.target.account, &job.rule_id, &since)
            .await
            .map_err(store_error)?;
        if let Some(limit) = limits.max_changes_per_account_per_hour {
            if made >= limit {
                let reason = format!(
                    "blast-radius breaker: {made} changes in account {} within the last hour (limit {limit})",
                    job.target.account
                );
                return trip_breaker(engine, job, reason).await.map(Some);
            }
        }
        if let Some(percent) = limits.max_percent_of_type_per_hour {
            if let Some(total) = inventory(engine, action, job).await? {
                // At least one change an hour, whatever the share.
                let allowed = (total * u64::from(percent) / 100).max(1);
                if made >= allowed {
                    let reason = format!(
                        "blast-radius breaker: {made} changes within the last hour would pass \
                         {percent}% of the {total} {} resources of account {} (at most {allowed})",
                        if job.target.resource_type.is_empty() {
                            job.action.as_str()
                        } else {
                            job.target.resource_type.as_str()
                        },
                        job.target.account
                    );
                    return trip_breaker(engine, job, reason).await.map(Some);
                }
            }
        }
    }
    if limits.min_interval_seconds == 0
        && limits.max_changes_per_account_per_hour.is_none()
        && limits.max_percent_of_type_per_hour.is_none()
    {
        // No limit configured: no change bookkeeping on the hot path.
        return Ok(None);
    }
    let interval = std::time::Duration::from_secs(limits.min_interval_seconds);
    let slot = engine
        .store
        .reserve_change(
            &job.target.account,
            &job.target.region,
            &job.rule_id,
            &job.target.resource_id,
            interval,
        )
        .await
        .map_err(store_error)?;
    Ok(slot.map(Step::Defer))
}

/// Pauses the rule for every replica and skips the job with `reason`; the
/// skip reaches the rule's channels through the job's effects.
async fn trip_breaker(engine: &Engine, job: &Job, reason: String) -> Result<Step, ActionError> {
    engine
        .store
        .set_rule_paused(&job.rule_id, Some(&reason), "blast-radius breaker")
        .await
        .map_err(store_error)?;
    Ok(Step::from(Outcome::new(
        OutcomeKind::Skipped,
        format!(
            "{reason}; rule {} paused until `rectify resume --rule {}`",
            job.rule_id, job.rule_id
        ),
    )))
}

/// How long an action's resource count is trusted.
const INVENTORY_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// The action's count of the account's resources of the target's type,
/// cached per action, account and region for [`INVENTORY_TTL`].
async fn inventory(
    engine: &Engine,
    action: &dyn Action,
    job: &Job,
) -> Result<Option<u64>, ActionError> {
    let key = format!(
        "{}/{}/{}",
        job.action, job.target.account, job.target.region
    );
    let cached = {
        let cache = engine.inventory.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(&key)
            .filter(|(at, _)| at.elapsed() < INVENTORY_TTL)
            .map(|(_, n)| *n)
    };
    if cached.is_some() {
        return Ok(cached);
    }
    let counted = action.inventory(&job.target, &job.params).await?;
    if let Some(n) = counted {
        engine
            .inventory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (std::time::Instant::now(), n));
    }
    Ok(counted)
}

/// Audit records of one run, written in as few transactions as safety
/// allows: everything up to the plan is made durable before `apply`
/// writes anything, the rest together with the job's final record.
pub(crate) type AuditLog = Vec<(String, String, serde_json::Value)>;

pub(crate) async fn flush(engine: &Engine, log: &mut AuditLog) {
    if log.is_empty() {
        return;
    }
    if let Err(e) = engine.store.append_audit_many(log).await {
        tracing::error!(error = %e, "could not write audit records");
    }
    log.clear();
}

async fn steps(
    engine: &Engine,
    action: &dyn Action,
    job: &mut Job,
    log: &mut AuditLog,
) -> Result<Step, ActionError> {
    let id = job.id.clone();
    let mut audit =
        |kind: &str, data: serde_json::Value| log.push((kind.to_string(), id.clone(), data));
    let observed = action.check(&job.target, &job.params).await?;
    audit(
        "job.checked",
        json!({"compliant": observed.compliant, "state": observed.state}),
    );
    if let Some(skip) = exemption(&engine.config.guardrails.exempt_tag, &observed.tags) {
        return Ok(skip.into());
    }
    if observed.compliant {
        let mut outcome = Outcome::new(
            OutcomeKind::AlreadyCompliant,
            "already compliant; nothing changed",
        );
        outcome.after = Some(observed.state);
        return Ok(outcome.into());
    }
    let change = action.plan(&job.target, &job.params, &observed)?;
    audit("job.planned", json!({"mode": job.mode, "change": change}));
    job.plan = Some(change.clone());
    match job.mode {
        Mode::DryRun => {
            let mut outcome = Outcome::new(
                OutcomeKind::Planned,
                format!("dry-run: would {}", change.summary),
            );
            outcome.change = Some(change);
            return Ok(outcome.into());
        }
        Mode::Approve if job.approved_by.is_none() => {
            let mut outcome = Outcome::new(
                OutcomeKind::AwaitingApproval,
                format!("waiting for approval to {}", change.summary),
            );
            outcome.change = Some(change);
            return Ok(outcome.into());
        }
        _ => {}
    }
    if let Some(step) = guard(engine, action, job).await? {
        return Ok(step);
    }
    // The intent is on record before the account is touched.
    log.push((
        "job.applying".into(),
        id.clone(),
        json!({"change": change, "approved_by": job.approved_by}),
    ));
    flush(engine, log).await;
    action.apply(&job.target, &job.params, &change).await?;
    log.push(("job.applied".into(), id.clone(), json!({"change": change})));
    let after = action.verify(&job.target, &job.params).await?;
    log.push((
        "job.verified".into(),
        id.clone(),
        json!({"compliant": after.compliant, "state": after.state}),
    ));
    if !after.compliant {
        return Ok(Step::from(Outcome {
            kind: OutcomeKind::Failed,
            reason: format!(
                "applied, but the read-back still does not comply: {}",
                after.state
            ),
            change: Some(change),
            after: Some(after.state),
        }));
    }
    Ok(Step::from(Outcome {
        kind: OutcomeKind::Changed,
        reason: change.summary.clone(),
        change: Some(change),
        after: Some(after.state),
    }))
}

/// How long ago an RFC 3339 time was (zero when it cannot be read).
fn age(rfc3339: &str) -> std::time::Duration {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| (time::OffsetDateTime::now_utc() - t).try_into().ok())
        .unwrap_or_default()
}
