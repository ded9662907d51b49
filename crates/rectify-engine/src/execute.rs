//! Execute: run one claimed job against its target with the account's
//! credentials: check -> (exempt? compliant?) -> plan -> mode gate ->
//! apply -> verify.

use rectify_model::{Action, ActionError, Change, Job, JobState, Mode, Outcome, OutcomeKind};
use rectify_store::{ChangeCount, JobSave, JobWrite};
use serde_json::json;

use crate::{effects, plan::exemption, Engine};

/// Runs one claimed job, its lease renewed while it runs (with every other
/// running job's, see [`crate::leases`]) so that a slow job is never
/// claimed by a second worker. A renewal that finds the lease taken means
/// another worker owns the job: this run's final save is then refused by
/// the store.
pub(crate) async fn run(engine: &Engine, job: Job) -> anyhow::Result<Job> {
    let _lease = engine.leases.hold(&job.id);
    // On the heap: a job's future is large, and several run at once on
    // one thread's stack (`run_ready`).
    Box::pin(run_leased(engine, job)).await
}

async fn run_leased(engine: &Engine, mut job: Job) -> anyhow::Result<Job> {
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
            let save = JobSave {
                records: std::mem::take(&mut log),
                finding: None,
                job: Some((job.clone(), Some(worker))),
            };
            if !engine.job_writes.write(JobWrite::Save(save)).await? {
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
                // Nothing to act with until a person sets it: no failure
                // to chase, no finding update, the reason says what to set.
                None if error.class == rectify_model::ErrorClass::NotConfigured => {
                    job.state = JobState::Skipped;
                    job.outcome = Some(Outcome::new(
                        OutcomeKind::Skipped,
                        format!("not configured: {}", error.message),
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
    // The final state goes in one transaction with the records the run
    // and its effects left to write (group-committed with other jobs').
    let mut save = if job.state == JobState::Retrying {
        JobSave {
            records: log,
            ..JobSave::default()
        }
    } else {
        let kind = crate::outcome_of(&job).kind;
        engine.metrics.outcome(kind);
        engine.metrics.job_settled(kind, age(&job.created_at));
        effects::settle(engine, &mut job, log).await
    };
    save.job = Some((job.clone(), Some(worker)));
    if !engine.job_writes.write(JobWrite::Save(save)).await? {
        // Our lease ran out and another worker owns the job now.
        tracing::warn!(job = %job.id, "lost the lease on a job; leaving it to its new owner");
    }
    Ok(job)
}

/// How far a run got: settled with an outcome, or deferred by the rate
/// or concurrency limit until the given time.
pub(crate) enum Step {
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

pub(crate) fn store_error(e: rectify_store::StoreError) -> ActionError {
    ActionError::new(rectify_model::ErrorClass::Transient, format!("store: {e}"))
}

/// Guardrails that need the shared store, checked right before a write:
/// paused rules, the blast-radius breakers, the account-region rate limit.
pub(crate) async fn guard(
    engine: &Engine,
    action: &dyn Action,
    job: &Job,
) -> Result<Option<Step>, ActionError> {
    let limits = &engine.config.guardrails;
    let breakers = limits.max_changes_per_account_per_hour.is_some()
        || limits.max_percent_of_type_per_hour.is_some();
    let since =
        breakers.then(|| rectify_model::rfc3339_before(std::time::Duration::from_secs(3600)));
    // The kill switch, the rule's pause and the breakers' count, read
    // together right before the write (one round trip on PostgreSQL).
    let read = engine
        .store
        .write_gate(
            &job.rule_id,
            since.as_deref().map(|since| ChangeCount {
                account: &job.target.account,
                rule: &job.action,
                since,
            }),
        )
        .await
        .map_err(store_error)?;
    // A job claimed just before `rectify pause` waits, without spending an
    // attempt.
    if read.paused {
        return Ok(Some(Step::Defer(rectify_model::rfc3339_after(
            std::time::Duration::from_secs(5),
        ))));
    }
    if let Some(step) = contested(engine, job).await? {
        return Ok(Some(step));
    }
    if let Some(reason) = &read.rule_paused {
        return Ok(Some(Step::from(Outcome::new(
            OutcomeKind::Skipped,
            format!(
                "rule {} is paused ({reason}); `rectify resume --rule {}` resumes it",
                job.rule_id, job.rule_id
            ),
        ))));
    }
    if let Some(made) = read.changes {
        if let Some(limit) = limits.max_changes_per_account_per_hour {
            if made >= limit {
                let reason = format!(
                    "{BREAKER}: {made} changes by {} in account {} within the last hour (limit {limit})",
                    job.action, job.target.account
                );
                return trip_breaker(engine, job, reason).await.map(Some);
            }
        }
        if let Some(percent) = limits.max_percent_of_type_per_hour {
            // A share of a handful of resources means little: below
            // SHARE_BREAKER_MIN_RESOURCES the count breaker bounds the
            // changes instead.
            let total = inventory(engine, action, job)
                .await?
                .filter(|&n| n >= SHARE_BREAKER_MIN_RESOURCES);
            if let Some(total) = total {
                let allowed = (total * u64::from(percent) / 100).max(1);
                if made >= allowed {
                    let reason = format!(
                        "{BREAKER}: {made} changes within the last hour would pass \
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
            &job.action,
            &job.target.resource_id,
            interval,
        )
        .await
        .map_err(store_error)?;
    Ok(slot.map(Step::Defer))
}

/// The start of the reason a breaker pauses rules with.
const BREAKER: &str = "blast-radius breaker";

/// Whether a paused rule's reason is a tripped breaker's.
pub(crate) fn tripped_breaker(reason: &str) -> bool {
    reason.starts_with(BREAKER)
}

/// Pauses every rule that uses the job's action (the breakers count per
/// action and account, across rules) for every replica, and skips the job
/// with `reason`; the skip reaches the rule's channels through the job's
/// effects.
async fn trip_breaker(engine: &Engine, job: &Job, reason: String) -> Result<Step, ActionError> {
    let mut rules: Vec<&str> = engine
        .config
        .rules
        .iter()
        .filter(|r| r.rule.action == job.action)
        .map(|r| r.rule.id.as_str())
        .collect();
    if !rules.contains(&job.rule_id.as_str()) {
        rules.push(&job.rule_id);
    }
    for rule in &rules {
        engine
            .store
            .set_rule_paused(rule, Some(&reason), BREAKER)
            .await
            .map_err(store_error)?;
    }
    Ok(Step::from(Outcome::new(
        OutcomeKind::Skipped,
        format!(
            "{reason}; rule{} {} paused until `rectify resume --rule ID`",
            if rules.len() == 1 { "" } else { "s" },
            rules.join(", ")
        ),
    )))
}

/// The principal whose API call a job answers (CloudTrail-triggered jobs
/// carry it from plan, see `plan::CHANGED_BY`).
fn changed_by(job: &Job) -> Option<&str> {
    job.target
        .details
        .get(crate::plan::CHANGED_BY)
        .and_then(serde_json::Value::as_str)
}

/// No fight with a person: when rectify has already undone the same
/// principal's change to this resource `guardrails.max_reversals_per_hour`
/// times within the hour, it stops acting on it, says why and tells the
/// rule's channels (through the skip's effects). The undo about to happen
/// is counted by [`record_reversal`] right before the write.
async fn contested(engine: &Engine, job: &Job) -> Result<Option<Step>, ActionError> {
    let (Some(principal), Some(limit)) = (
        changed_by(job),
        engine.config.guardrails.max_reversals_per_hour,
    ) else {
        return Ok(None);
    };
    let hour = std::time::Duration::from_secs(3600);
    let target = &job.target;
    let before = engine
        .store
        .count_reversals(&target.account, &target.resource_id, principal, hour)
        .await
        .map_err(store_error)?;
    if before >= limit {
        let mut outcome = Outcome::new(
            OutcomeKind::Skipped,
            format!(
                "{principal} changed {} back {before} times within the hour after rectify undid it: \
                 someone keeps doing this on purpose, so rectify leaves it to a person \
                 (guardrails.max_reversals_per_hour: {limit})",
                target.resource_id
            ),
        );
        outcome.left_in_place = vec![outcome.reason.clone()];
        return Ok(Some(Step::from(outcome)));
    }
    Ok(None)
}

/// Counts the undo of a principal's change that is about to be written.
async fn record_reversal(engine: &Engine, job: &Job) -> Result<(), ActionError> {
    let Some(principal) = changed_by(job) else {
        return Ok(());
    };
    engine
        .store
        .record_reversal(
            &job.target.account,
            &job.target.resource_id,
            principal,
            std::time::Duration::from_secs(3600),
        )
        .await
        .map_err(store_error)?;
    Ok(())
}

/// The share breaker applies to accounts with at least this many
/// resources of the action's type.
pub const SHARE_BREAKER_MIN_RESOURCES: u64 = 20;

/// How long a control's parameters read from Security Hub are trusted.
const CONTROL_PARAMETERS_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// A control's parameters for an account and region, read at most once
/// per [`CONTROL_PARAMETERS_TTL`].
async fn control_parameters_cached(
    engine: &Engine,
    account: &str,
    control: &str,
    region: &str,
) -> Result<Option<serde_json::Value>, ActionError> {
    let key = format!("{account}/{region}/{control}");
    let cached = engine
        .control_parameters
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .filter(|(at, _)| at.elapsed() < CONTROL_PARAMETERS_TTL)
        .map(|(_, v)| v.clone());
    if let Some(parameters) = cached {
        return Ok(parameters);
    }
    let parameters = engine
        .updater
        .control_parameters(account, control, region)
        .await?;
    engine
        .control_parameters
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, (std::time::Instant::now(), parameters.clone()));
    Ok(parameters)
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
    let counted = engine
        .metrics
        .timed(
            &job.action,
            "inventory",
            action.inventory(&job.target, &job.params),
        )
        .await?;
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
    let save = JobSave {
        records: std::mem::take(log),
        ..JobSave::default()
    };
    if let Err(e) = engine.job_writes.write(JobWrite::Save(save)).await {
        tracing::error!(error = %e, "could not write audit records");
    }
}

async fn steps(
    engine: &Engine,
    action: &dyn Action,
    job: &mut Job,
    log: &mut AuditLog,
) -> Result<Step, ActionError> {
    let id = job.id.clone();
    let reverting = job
        .event_id
        .strip_prefix(crate::revert::REVERT_EVENT)
        .map(str::to_string);
    // A queued job follows the rule as the config holds it now.
    let rule = engine
        .config
        .rules
        .iter()
        .map(|r| &r.rule)
        .find(|r| r.id == job.rule_id);
    if reverting.is_none() {
        match rule {
            None => {
                return Ok(Step::from(Outcome::new(
                    OutcomeKind::Skipped,
                    format!(
                        "rule {} is no longer in the config; nothing written",
                        job.rule_id
                    ),
                )))
            }
            Some(r) if !r.enabled => {
                return Ok(Step::from(Outcome::new(
                    OutcomeKind::Skipped,
                    format!("rule {} is disabled; nothing written", job.rule_id),
                )))
            }
            _ => {}
        }
    }
    let mode = current_mode(engine, job, rule);
    let params = control_parameters(engine, action, job, log).await?;
    // A job that writes nothing now (dry-run, or waiting for a person's
    // approval) plans from what the scan that found it read moments ago;
    // one that may write reads afresh (an approved job reads again and is
    // held back if the change is no longer the one approved).
    let writes_now = mode == Mode::Auto || job.approved_by.is_some();
    let scanned = if reverting.is_none() && !writes_now {
        engine.scanned.take(&job.action, &job.target, &params)
    } else {
        None
    };
    let from_scan = scanned.is_some();
    let observed = match scanned {
        Some(observed) => observed,
        None => {
            engine
                .metrics
                .timed(&job.action, "check", action.check(&job.target, &params))
                .await?
        }
    };
    log.push((
        "job.checked".into(),
        id.clone(),
        if from_scan {
            json!({"compliant": observed.compliant, "state": observed.state, "read_by": "scan"})
        } else {
            json!({"compliant": observed.compliant, "state": observed.state})
        },
    ));
    if let Some(original) = reverting {
        return crate::revert::steps(engine, action, job, log, &params, observed, &original, mode)
            .await;
    }
    if let Some(mut skip) = exemption(&engine.config.guardrails.exempt_tag, &observed.tags) {
        skip.left_in_place = vec![skip.reason.clone()];
        return Ok(skip.into());
    }
    if observed.compliant {
        let left = action.left_in_place(&job.target, &params, &observed);
        // A run after an interruption past the `job.applying` mark: the
        // change went in before the cut, and holds now.
        if let (Some(history), Some(change)) = (interrupted(engine, job).await?, &job.plan) {
            let change = change.clone();
            if !history.iter().any(|kind| kind == "job.applied") {
                log.push((
                    "job.applied".into(),
                    id.clone(),
                    json!({"change": change, "recovered": true}),
                ));
                log.push((
                    "job.verified".into(),
                    id.clone(),
                    json!({"compliant": true, "state": observed.state}),
                ));
            }
            let mut outcome = Outcome::new(
                OutcomeKind::Changed,
                format!(
                    "{} (applied before an interruption; verified now)",
                    change.summary
                ),
            );
            outcome.change = Some(change);
            outcome.after = Some(observed.state);
            outcome.left_in_place = left;
            return Ok(outcome.into());
        }
        let mut outcome = Outcome::new(
            OutcomeKind::AlreadyCompliant,
            if left.is_empty() {
                "already compliant; nothing changed".to_string()
            } else {
                format!("nothing to change; left in place: {}", left.join("; "))
            },
        );
        outcome.after = Some(observed.state);
        outcome.left_in_place = left;
        return Ok(outcome.into());
    }
    let change = action.plan(&job.target, &params, &observed)?;
    let intent = action.intent(&job.target, &params, &observed);
    log.push((
        "job.planned".into(),
        id.clone(),
        json!({"mode": mode, "change": change, "intent": intent}),
    ));
    if let Some(step) = gate(job, log, mode, &change, intent, "") {
        return Ok(step);
    }
    if let Some(step) = guard(engine, action, job).await? {
        return Ok(step);
    }
    record_reversal(engine, job).await?;
    mark_applying(engine, job, log, &change).await?;
    engine
        .metrics
        .timed(
            &job.action,
            "apply",
            action.apply(&job.target, &params, &change),
        )
        .await?;
    log.push(("job.applied".into(), id.clone(), json!({"change": change})));
    let after = engine
        .metrics
        .timed(&job.action, "verify", action.verify(&job.target, &params))
        .await?;
    log.push((
        "job.verified".into(),
        id.clone(),
        json!({"compliant": after.compliant, "state": after.state}),
    ));
    if !after.compliant {
        let mut outcome = Outcome::new(
            OutcomeKind::Failed,
            format!(
                "applied, but the read-back still does not comply: {}",
                after.state
            ),
        );
        outcome.change = Some(change);
        outcome.after = Some(after.state);
        return Ok(outcome.into());
    }
    let left = action.left_in_place(&job.target, &params, &after);
    let mut outcome = Outcome::new(
        OutcomeKind::Changed,
        if left.is_empty() {
            change.summary.clone()
        } else {
            format!("{}; left in place: {}", change.summary, left.join("; "))
        },
    );
    outcome.change = Some(change);
    outcome.after = Some(after.state);
    outcome.left_in_place = left;
    Ok(outcome.into())
}

/// The mode gate, bound to what a person saw: a dry-run stops with the
/// plan; an approval holds only for the change that was shown (a new
/// change goes back to waiting, with what was approved before); an
/// unapproved job waits in `approve` mode, or in any mode when the action
/// saw signs that the state is meant to be so (`intent`). `verb` is put
/// before the change's summary ("undo: " for a revert). None: go ahead.
pub(crate) fn gate(
    job: &mut Job,
    log: &mut AuditLog,
    mode: Mode,
    change: &Change,
    intent: Vec<String>,
    verb: &str,
) -> Option<Step> {
    // What a person saw (and approved, if anyone did).
    let shown = job.plan.replace(change.clone());
    let with = |kind: OutcomeKind, reason: String, intent: Vec<String>| {
        let mut outcome = Outcome::new(kind, reason);
        outcome.change = Some(change.clone());
        outcome.intent = intent;
        Some(Step::from(outcome))
    };
    if mode == Mode::DryRun {
        return with(
            OutcomeKind::Planned,
            format!("dry-run: would {verb}{}", change.summary),
            intent,
        );
    }
    if let Some(by) = job.approved_by.clone() {
        if shown.as_ref().map(Change::digest) == Some(change.digest()) {
            return None;
        }
        log.push((
            "job.replanned".into(),
            job.id.clone(),
            json!({"approved_by": by, "approved": shown, "now": change}),
        ));
        let before = shown
            .as_ref()
            .map(|c| c.summary.as_str())
            .unwrap_or("no change shown");
        return with(
            OutcomeKind::AwaitingApproval,
            format!(
                "the change differs from the one {by} approved ({before}); waiting for approval to {verb}{}",
                change.summary
            ),
            intent,
        );
    }
    if mode == Mode::Approve || !intent.is_empty() {
        let reason = if intent.is_empty() {
            format!("waiting for approval to {verb}{}", change.summary)
        } else {
            format!(
                "waiting for approval to {verb}{}: this may be meant to be so: {}",
                change.summary,
                intent.join("; ")
            )
        };
        return with(OutcomeKind::AwaitingApproval, reason, intent);
    }
    None
}

/// The intent to write on record before the account is touched: the
/// `job.applying` record and the mark on the job, in one transaction
/// (see `Store::mark_applying`). Fails when the lease is lost.
pub(crate) async fn mark_applying(
    engine: &Engine,
    job: &Job,
    log: &mut AuditLog,
    change: &Change,
) -> Result<(), ActionError> {
    log.push((
        "job.applying".into(),
        job.id.clone(),
        json!({"change": change, "approved_by": job.approved_by}),
    ));
    let held = engine
        .job_writes
        .write(JobWrite::Applying {
            job_id: job.id.clone(),
            worker: engine.options.worker_id.clone(),
            plan: change.clone(),
            records: std::mem::take(log),
        })
        .await
        .map_err(store_error)?;
    if !held {
        // Another worker owns the job now; it decides.
        return Err(ActionError::new(
            rectify_model::ErrorClass::Transient,
            "the job's lease was lost before apply; nothing was changed",
        ));
    }
    Ok(())
}

/// The mode the job runs in now: `--dry-run` wins; otherwise the rule's
/// current mode (the config's default when it sets none), so that a rule
/// switched to dry-run stops its queued jobs from writing. A revert job
/// keeps the mode it was made with.
fn current_mode(engine: &Engine, job: &Job, rule: Option<&rectify_model::Rule>) -> Mode {
    if engine.options.force_dry_run || job.mode == Mode::DryRun {
        return Mode::DryRun;
    }
    if job.event_id.starts_with(crate::revert::REVERT_EVENT) {
        return job.mode;
    }
    let mode = rule
        .map(|r| r.mode.unwrap_or(engine.config.default_mode))
        .unwrap_or(job.mode);
    // Custom actions keep waiting for approval as planned (see
    // `plan::shape_mode`).
    crate::plan::shape_mode(engine, &job.rule_id, crate::plan::asked_kind(job), mode)
}

/// The job's params with the control's parameters as Security Hub holds
/// them for the account, for actions that judge by them. When they cannot
/// be read the job does not go on with defaults (a customised authorized
/// port would be revoked): the error is the job's, retried when it is
/// transient.
async fn control_parameters(
    engine: &Engine,
    action: &dyn Action,
    job: &Job,
    log: &mut AuditLog,
) -> Result<serde_json::Value, ActionError> {
    let Some(control) = job
        .control
        .as_ref()
        .filter(|_| action.uses_control_parameters())
    else {
        return Ok(job.params.clone());
    };
    let region = job.target.region.clone();
    match control_parameters_cached(engine, &job.target.account, control, &region).await {
        Ok(Some(parameters)) => {
            let params = action.with_control_parameters(&job.params, control, &parameters);
            if params != job.params {
                log.push((
                    "job.control-parameters".into(),
                    job.id.clone(),
                    json!({"control": control, "parameters": parameters}),
                ));
            }
            Ok(params)
        }
        Ok(None) => Ok(job.params.clone()),
        Err(e) => Err(ActionError::new(
            e.class,
            format!(
                "could not read the parameters of control {control} from Security Hub, so rectify \
                 cannot tell what the account allows: {}",
                e.message
            ),
        )),
    }
}

/// For a job claimed again (attempts > 1): its audit history from its
/// `job.applying` mark on, when an earlier run got that far.
pub(crate) async fn interrupted(
    engine: &Engine,
    job: &Job,
) -> Result<Option<Vec<String>>, ActionError> {
    if job.attempts <= 1 {
        return Ok(None);
    }
    engine
        .store
        .applying_history(&job.id)
        .await
        .map_err(store_error)
}

/// How long ago an RFC 3339 time was (zero when it cannot be read).
fn age(rfc3339: &str) -> std::time::Duration {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| (time::OffsetDateTime::now_utc() - t).try_into().ok())
        .unwrap_or_default()
}
