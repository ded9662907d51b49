//! Undo: a revert is a job of its own that restores the state recorded
//! before a change rectify made. It goes through the same steps as any
//! job (check, plan, approval, guardrails, apply, verify, audit) and
//! refuses plainly when the resource has changed since.

use rectify_model::{Action, ActionError, Job, JobState, Mode, Observed, Outcome, OutcomeKind};
use rectify_store::Enqueued;
use serde_json::{json, Value};

use crate::execute::{gate, guard, mark_applying, store_error, AuditLog, Step};
use crate::Engine;

/// The event id of a revert job: this prefix and the id of the job whose
/// change it undoes.
pub const REVERT_EVENT: &str = "revert:";

/// The key under a revert job's `target.details` that names who asked for
/// the undo (`api:<token name>`, `cli:<user>`).
pub const REQUESTED_BY: &str = "RevertRequestedBy";

/// Who asked for the undo, for a revert job.
pub fn requested_by(job: &Job) -> Option<&str> {
    job.event_id
        .starts_with(REVERT_EVENT)
        .then(|| job.target.details.get(REQUESTED_BY)?.as_str())
        .flatten()
}

impl Engine {
    /// Queues the undo of job `id`'s change, in `mode` (`approve` unless a
    /// person asks for more: the undo is a change too). Refuses a job that
    /// changed nothing, and a second revert while one is queued.
    pub async fn revert(&self, id: &str, by: &str, mode: Mode) -> anyhow::Result<Job> {
        let original = self
            .store
            .get_job(id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no job {id}"))?;
        if original.event_id.starts_with(REVERT_EVENT) {
            anyhow::bail!(
                "job {} is itself a revert; revert the job it undid instead",
                original.id
            );
        }
        let changed = original
            .outcome
            .as_ref()
            .filter(|o| o.kind == OutcomeKind::Changed && o.change.is_some());
        if original.state != JobState::Succeeded || changed.is_none() {
            anyhow::bail!(
                "job {} made no change to undo (it is {}{})",
                original.id,
                original.state,
                original
                    .outcome
                    .as_ref()
                    .map(|o| format!(", {}", o.kind))
                    .unwrap_or_default()
            );
        }
        let now = rectify_model::now_rfc3339();
        let event_id = format!("{REVERT_EVENT}{}", original.id);
        // Who asked, for four eyes on the approval of the undo.
        let mut target = original.target.clone();
        if !target.details.is_object() {
            target.details = json!({});
        }
        target.details[REQUESTED_BY] = json!(by);
        let job = Job {
            id: uuid::Uuid::now_v7().to_string(),
            idempotency_key: crate::plan::idempotency_key(
                "",
                &event_id,
                &original.rule_id,
                &original.target.key(),
            ),
            event_id,
            mode,
            // The Security Hub finding is not the revert's: Security Hub
            // finds the resource failing again by itself.
            finding: None,
            state: JobState::Pending,
            attempts: 0,
            created_at: now.clone(),
            updated_at: now,
            next_run_at: None,
            last_error: None,
            approved_by: None,
            plan: None,
            outcome: None,
            target,
            ..original.clone()
        };
        let job = match self.store.enqueue(&job).await? {
            Enqueued::Created(job) => job,
            Enqueued::Duplicate(other) => {
                anyhow::bail!(
                    "job {} already undoes job {}; see `rectify jobs show {}`",
                    other.id,
                    original.id,
                    other.id
                )
            }
        };
        self.store
            .append_audit(
                "job.revert-requested",
                &job.id,
                &json!({"revert_of": original.id, "by": by, "mode": mode}),
            )
            .await?;
        Ok(job)
    }
}

/// The steps of a revert job, after its check read `now`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn steps(
    engine: &Engine,
    action: &dyn Action,
    job: &mut Job,
    log: &mut AuditLog,
    params: &Value,
    now: Observed,
    original: &str,
    mode: Mode,
) -> Result<Step, ActionError> {
    let original = engine
        .store
        .get_job(original)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ActionError::invalid(format!("job {original} is gone")))?;
    let Some(applied) = original.outcome.as_ref().and_then(|o| o.change.clone()) else {
        return Err(ActionError::invalid(format!(
            "job {} made no change to undo",
            original.id
        )));
    };
    // The action refuses when the resource changed since, and says what
    // it cannot restore.
    let change = action.revert_plan(&job.target, params, &applied, &now)?;
    log.push((
        "job.planned".into(),
        job.id.clone(),
        json!({"mode": mode, "change": change, "revert_of": original.id}),
    ));
    if let Some(step) = gate(job, log, mode, &change, Vec::new(), "undo: ") {
        return Ok(step);
    }
    if let Some(step) = guard(engine, action, job).await? {
        return Ok(step);
    }
    mark_applying(engine, job, log, &change).await?;
    engine
        .metrics
        .timed(
            &job.action,
            "revert",
            action.revert(&job.target, params, &change),
        )
        .await?;
    log.push((
        "job.applied".into(),
        job.id.clone(),
        json!({"change": change, "revert_of": original.id}),
    ));
    let restored = engine
        .metrics
        .timed(
            &job.action,
            "verify",
            action.verify_revert(&job.target, params, &change),
        )
        .await?;
    let after = engine
        .metrics
        .timed(&job.action, "check", action.check(&job.target, params))
        .await?;
    log.push((
        "job.verified".into(),
        job.id.clone(),
        json!({"restored": restored, "state": after.state}),
    ));
    let mut outcome = if restored {
        Outcome::new(
            OutcomeKind::Changed,
            format!("undid job {}: {}", original.id, change.summary),
        )
    } else {
        Outcome::new(
            OutcomeKind::Failed,
            format!(
                "undo of job {} written, but the read-back differs from the state before it: {}",
                original.id, after.state
            ),
        )
    };
    outcome.change = Some(change);
    outcome.after = Some(after.state);
    Ok(outcome.into())
}
