//! Plan: turn a (event, rule) match into a job. No I/O: guardrails that
//! need only the config and the event are applied here; those that need
//! the live resource (its tags, its state) run in `execute`.

use rectify_model::{
    job::FindingRef, Event, Job, JobState, Mode, Outcome, OutcomeKind, Rule, Target,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::Engine;

pub(crate) fn plan(engine: &Engine, event: &Event, rule: &Rule) -> Job {
    let now = rectify_model::now_rfc3339();
    let finding = event.finding();
    let mode = if engine.options.force_dry_run {
        Mode::DryRun
    } else {
        rule.mode.unwrap_or(engine.config.default_mode)
    };
    let action = engine.actions.get(&rule.action);
    let target = action
        .map(|a| a.target(event).map_err(|e| e.message))
        .unwrap_or_else(|| Err(format!("unknown action {}", rule.action)));
    let (target, verdict) = match target {
        Ok(target) => {
            let verdict = guardrails(engine, &target);
            (target, verdict)
        }
        Err(reason) => (
            Target {
                account: event.account.clone(),
                region: event.region.clone(),
                partition: "aws".into(),
                resource_type: String::new(),
                resource_id: String::new(),
                tags: Default::default(),
                details: Value::Null,
            },
            Some(Outcome::new(OutcomeKind::Failed, reason)),
        ),
    };
    let generation = match &finding {
        Some(f) => format!("{}@{}", f.id, f.updated_at.as_deref().unwrap_or("")),
        None => event.id.clone(),
    };
    let idempotency_key = hex::encode(Sha256::digest(
        format!("{generation}\n{}\n{}", rule.id, target.key()).as_bytes(),
    ));
    let state = match &verdict {
        None => JobState::Pending,
        Some(o) if o.kind == OutcomeKind::Failed => JobState::Failed,
        Some(_) => JobState::Skipped,
    };
    Job {
        // Time-ordered ids: new jobs land at the end of the id index.
        id: uuid::Uuid::now_v7().to_string(),
        idempotency_key,
        event_id: event.id.clone(),
        rule_id: rule.id.clone(),
        action: rule.action.clone(),
        mode,
        params: rule.params.clone(),
        finding: finding.as_ref().map(|f| FindingRef {
            id: f.id.clone(),
            product_arn: f.product_arn.clone(),
        }),
        control: finding
            .as_ref()
            .and_then(|f| f.control_id().map(str::to_string)),
        notify: rule.notify.clone(),
        state,
        attempts: 0,
        created_at: now.clone(),
        updated_at: now,
        next_run_at: None,
        last_error: None,
        approved_by: None,
        plan: None,
        outcome: verdict,
        target,
    }
}

/// Guardrails that need no AWS call. `Some` settles the job at once.
fn guardrails(engine: &Engine, target: &Target) -> Option<Outcome> {
    let Some(account) = engine.config.account(&target.account) else {
        return Some(Outcome::new(
            OutcomeKind::Skipped,
            format!(
                "account {} is not in the config; not touched",
                target.account
            ),
        ));
    };
    if !account.regions.is_empty() && !account.regions.iter().any(|r| r == &target.region) {
        return Some(Outcome::new(
            OutcomeKind::Skipped,
            format!(
                "region {} is not in account {}'s regions ({})",
                target.region,
                target.account,
                account.regions.join(", ")
            ),
        ));
    }
    exemption(&engine.config.guardrails.exempt_tag, &target.tags)
}

/// A resource tagged with the exemption key is skipped, whatever the value
/// (the value is kept as the reason).
pub(crate) fn exemption(tag: &str, tags: &serde_json::Map<String, Value>) -> Option<Outcome> {
    tags.get(tag).map(|value| {
        let why = value.as_str().unwrap_or_default();
        let mut outcome = Outcome::new(
            OutcomeKind::Skipped,
            if why.is_empty() {
                format!("resource is tagged {tag}")
            } else {
                format!("resource is tagged {tag}={why}")
            },
        );
        outcome.after = Some(json!({ "exempt_tag": tag }));
        outcome
    })
}
