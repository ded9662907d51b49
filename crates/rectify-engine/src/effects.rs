//! Effects of a settled job: the finding's workflow in Security Hub (an
//! ASFF finding through `BatchUpdateFindings`, an OCSF finding of the new
//! Security Hub through `BatchUpdateFindingsV2`), a notification to the
//! rule's channels, and the audit record. A failed effect is audited and
//! logged; it does not undo the remediation.

use rectify_model::{
    job::FindingRef, Event, Finding, Job, JobState, Mode, Notification, OutcomeKind,
};
use rectify_store::{FindingOutcome, JobSave};
use serde_json::{json, Value};

use crate::execute::{flush, AuditLog};
use crate::{outcome_of, Engine};

/// Security Hub's limit on `Note.Text`.
const NOTE_LIMIT: usize = 512;

/// `log` holds the run's audit records not yet written; they go in one
/// transaction with the job's final record, before any effect. What the
/// effects leave to record (the finding's audit record and outcome in the
/// store) comes back, to be written with the job's final state in one
/// transaction ([`rectify_store::JobWrite::Save`]); a dry-run's records
/// too, as it has no effect to wait for.
///
/// A dry-run job writes nothing outside rectify: only its audit record. A
/// finding is updated only after it is read back from Security Hub and
/// found to be the one the job judged ([`verify_finding`]), and never for
/// a job settled at plan time (its event was never checked against a
/// live resource). What happened to the finding is kept in the job's
/// outcome (`finding_update`), so a failed update is never hidden behind
/// `changed`.
pub(crate) async fn settle(engine: &Engine, job: &mut Job, mut log: AuditLog) -> JobSave {
    let outcome = outcome_of(job);
    let kind = format!("job.{}", job.state);
    // A run after an interruption between this record and the job's final
    // save: the record is there already.
    let recorded = match crate::execute::interrupted(engine, job).await {
        Ok(history) => history.is_some_and(|h| h.contains(&kind)),
        Err(_) => false,
    };
    if !recorded {
        log.push((
            kind,
            job.id.clone(),
            json!({
                "outcome": outcome.kind, "reason": outcome.reason, "attempts": job.attempts,
                "change": outcome.change, "after": outcome.after,
            }),
        ));
    }
    if job.mode == Mode::DryRun || outcome.kind == OutcomeKind::Planned {
        // No effect to wait for: the records go with the final state.
        return JobSave {
            records: log,
            ..JobSave::default()
        };
    }
    // The run's records are durable before anything outside rectify hears
    // of the outcome.
    flush(engine, &mut log).await;
    let mut last = JobSave::default();
    let finding = update_finding(engine, job, outcome.kind, &outcome.reason, &mut last).await;
    if let Some(outcome) = job.outcome.as_mut() {
        outcome.finding_update = finding.as_ref().map(FindingEffect::describe);
    }
    let fixed = matches!(
        finding,
        Some(FindingEffect::Updated("RESOLVED") | FindingEffect::AlreadySettled("RESOLVED"))
    );
    match finding {
        // A redelivery of a generation already settled: no second message.
        Some(FindingEffect::AlreadySettled(_)) => {}
        Some(FindingEffect::Refused(reason)) => {
            if let Some(held) = Held::of(job) {
                notify_refusal(engine, job, held.reference(), &reason).await;
            }
        }
        _ => notify(engine, job, outcome.kind, &outcome.reason).await,
    }
    // Tickets follow jobs checked against a live resource only: a job
    // settled at plan time may come from a forged event.
    if let (Some(Held::Asff(f)), true) = (Held::of(job), job.attempts > 0) {
        let region = hub_region(&f, job);
        crate::tickets::step(engine, job, f, region, &outcome, fixed).await;
    }
    last
}

/// What became of the finding behind a settled job.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FindingEffect {
    /// Set to this workflow status.
    Updated(&'static str),
    /// Security Hub already shows this status set by rectify for this rule.
    AlreadySettled(&'static str),
    /// The finding is not the one the job judged; nothing was updated.
    Refused(String),
    /// `BatchUpdateFindings` / `BatchUpdateFindingsV2` (or the read before
    /// it) failed.
    Failed(String),
    /// The outcome calls for no workflow change, or the job was settled at
    /// plan time.
    Unchanged,
}

impl FindingEffect {
    fn describe(&self) -> String {
        match self {
            FindingEffect::Updated(status) => format!("set {status}"),
            FindingEffect::AlreadySettled(status) => {
                format!("already {status} by rectify; not updated again")
            }
            FindingEffect::Refused(reason) => format!("refused: {reason}"),
            FindingEffect::Failed(error) => format!("failed: {error}"),
            FindingEffect::Unchanged => "not updated".into(),
        }
    }
}

/// `RESOLVED` only when the resource now passes the control; `NOTIFIED`
/// when rectify left something in place on purpose (an exemption, a port
/// outside the action's scope, a person who keeps making the change) or
/// could not fix it.
fn workflow_for(job: &Job, kind: OutcomeKind) -> Option<&'static str> {
    let left = job
        .outcome
        .as_ref()
        .is_some_and(|o| !o.left_in_place.is_empty());
    match (kind, job.state) {
        (OutcomeKind::Changed | OutcomeKind::AlreadyCompliant, _) if left => Some("NOTIFIED"),
        (OutcomeKind::Changed | OutcomeKind::AlreadyCompliant, _) => Some("RESOLVED"),
        (OutcomeKind::Skipped, _) if left => Some("NOTIFIED"),
        (OutcomeKind::Failed, _) | (_, JobState::Dead) => Some("NOTIFIED"),
        _ => None,
    }
}

/// The region of the Security Hub that holds the finding: its product
/// ARN's region, else the target's.
fn hub_region(finding: &FindingRef, job: &Job) -> String {
    finding
        .product_arn
        .split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .unwrap_or(&job.target.region)
        .to_string()
}

/// The finding behind a job: an ASFF finding (`job.finding`), or an OCSF
/// finding of the new Security Hub (its `metadata.uid` as `id` and
/// `metadata.product.uid` as `product_arn`, as planning kept them).
#[derive(Debug, Clone)]
enum Held {
    Asff(FindingRef),
    Ocsf(FindingRef),
}

impl Held {
    fn of(job: &Job) -> Option<Held> {
        if let Some(finding) = &job.finding {
            return Some(Held::Asff(finding.clone()));
        }
        let ocsf = job.target.details.get(crate::plan::OCSF_FINDING)?;
        let (uid, product) = match ocsf {
            // A job planned when only the uid was kept.
            Value::String(uid) => (Some(uid.as_str()), None),
            other => (
                other.get("uid").and_then(Value::as_str),
                other.get("product_uid").and_then(Value::as_str),
            ),
        };
        Some(Held::Ocsf(FindingRef {
            id: uid.filter(|u| !u.is_empty())?.to_string(),
            product_arn: product.unwrap_or_default().to_string(),
            generator_id: None,
            severity: None,
        }))
    }

    fn reference(&self) -> &FindingRef {
        match self {
            Held::Asff(f) | Held::Ocsf(f) => f,
        }
    }

    fn read_operation(&self) -> &'static str {
        match self {
            Held::Asff(_) => "securityhub:GetFindings",
            Held::Ocsf(_) => "securityhub:GetFindingsV2",
        }
    }

    fn write_operation(&self) -> &'static str {
        match self {
            Held::Asff(_) => "securityhub:BatchUpdateFindings",
            Held::Ocsf(_) => "securityhub:BatchUpdateFindingsV2",
        }
    }

    /// What an update to `status` sets: the workflow status of an ASFF
    /// finding; for an OCSF finding its status (see [`ocsf_status_for`]).
    fn label(&self, status: &'static str) -> &'static str {
        match (self, ocsf_status_for(status)) {
            (Held::Asff(_), _) => status,
            (Held::Ocsf(_), Some(_)) => "Resolved",
            (Held::Ocsf(_), None) => "commented (status unchanged)",
        }
    }
}

/// OCSF `status_id` Resolved.
const OCSF_RESOLVED: i32 = 4;

/// The OCSF `status_id` an update sets for the workflow status rectify
/// gives ASFF findings: `RESOLVED` is Resolved (4). `NOTIFIED` has no
/// OCSF twin: the status stays as it is and only the comment says what
/// happened (None).
fn ocsf_status_for(workflow: &str) -> Option<i32> {
    (workflow == "RESOLVED").then_some(OCSF_RESOLVED)
}

async fn update_finding(
    engine: &Engine,
    job: &Job,
    kind: OutcomeKind,
    reason: &str,
    last: &mut JobSave,
) -> Option<FindingEffect> {
    let held = Held::of(job)?;
    let finding = held.reference();
    // Settled at plan time: nothing was checked against a live resource,
    // and the event may be forged; its finding is left alone.
    let status = workflow_for(job, kind).filter(|_| job.attempts > 0);
    let Some(status) = status else {
        record_outcome(last, &held, job, kind, None);
        return Some(FindingEffect::Unchanged);
    };
    let region = hub_region(finding, job);
    let read = match &held {
        Held::Asff(f) => engine.updater.read_finding(f, &region).await,
        Held::Ocsf(f) => engine.updater.read_finding_v2(&f.id, &region).await,
    };
    let live = match read {
        Ok(live) => live,
        Err(e) => {
            let error = format!("{}: {}", held.read_operation(), e.message);
            tracing::error!(job = %job.id, finding = %finding.id, %error, "could not read the finding back");
            last.records.push((
                "finding.update-failed".into(),
                job.id.clone(),
                json!({"finding": finding.id, "workflow": status, "error": error}),
            ));
            record_outcome(last, &held, job, kind, None);
            return Some(FindingEffect::Failed(error));
        }
    };
    let verified = match &held {
        Held::Asff(f) => verify_finding(job, f, live.as_ref()),
        Held::Ocsf(f) => verify_ocsf_finding(job, &f.id, live.as_ref(), |live| {
            ocsf_resource(engine, job, live)
        }),
    };
    if let Err(mismatch) = verified {
        tracing::warn!(job = %job.id, finding = %finding.id, %mismatch, "finding does not match the job; not updated");
        last.records.push((
            "finding.mismatch".into(),
            job.id.clone(),
            json!({"finding": finding.id, "product_arn": finding.product_arn, "reason": mismatch}),
        ));
        record_outcome(last, &held, job, kind, None);
        return Some(FindingEffect::Refused(mismatch));
    }
    let prefix = note_prefix(&job.rule_id);
    let settled = live.as_ref().is_some_and(|live| match &held {
        Held::Asff(_) => settled_by_rectify(live, status, &prefix),
        Held::Ocsf(_) => ocsf_settled(live, ocsf_status_for(status), &prefix),
    });
    let label = held.label(status);
    if settled {
        last.records.push((
            "finding.already-settled".into(),
            job.id.clone(),
            json!({"finding": finding.id, "workflow": status}),
        ));
        record_outcome(last, &held, job, kind, Some(status));
        return Some(FindingEffect::AlreadySettled(label));
    }
    let note = truncate(
        &format!("{prefix} ({}): {}: {}", job.action, kind, reason),
        NOTE_LIMIT,
    );
    let written = match &held {
        Held::Asff(f) => {
            engine
                .updater
                .update_workflow(f, &region, status, &note)
                .await
        }
        Held::Ocsf(f) => {
            engine
                .updater
                .update_finding_v2(&f.id, &region, ocsf_status_for(status), &note)
                .await
        }
    };
    match written {
        Ok(()) => {
            last.records.push((
                "finding.updated".into(),
                job.id.clone(),
                json!({"finding": finding.id, "workflow": status, "set": label, "note": note}),
            ));
            record_outcome(last, &held, job, kind, Some(status));
            Some(FindingEffect::Updated(label))
        }
        Err(e) => {
            tracing::error!(
                job = %job.id, finding = %finding.id, operation = held.write_operation(),
                class = ?e.class, error = %e.message, "could not update the finding"
            );
            last.records.push((
                "finding.update-failed".into(),
                job.id.clone(),
                json!({"finding": finding.id, "workflow": status, "error": e}),
            ));
            record_outcome(last, &held, job, kind, None);
            Some(FindingEffect::Failed(e.message))
        }
    }
}

/// The store keeps the outcome of the ASFF findings it was given (written
/// with the job's final state); OCSF findings have no row there.
fn record_outcome(
    last: &mut JobSave,
    held: &Held,
    job: &Job,
    kind: OutcomeKind,
    status: Option<&str>,
) {
    let Held::Asff(finding) = held else { return };
    last.finding = Some(FindingOutcome {
        finding: finding.clone(),
        job_id: job.id.clone(),
        outcome: kind.as_str().to_string(),
        workflow_status: status.map(str::to_string),
    });
}

/// How every note rectify writes on a finding starts, for one rule.
fn note_prefix(rule_id: &str) -> String {
    format!("rectify rule {rule_id}")
}

/// Whether Security Hub already shows `status` with a note rectify wrote
/// for this rule (its notes start with `prefix`): a redelivery of a
/// settled generation.
fn settled_by_rectify(live: &Value, status: &str, prefix: &str) -> bool {
    let workflow = live
        .pointer("/Workflow/Status")
        .and_then(Value::as_str)
        .or_else(|| live.get("WorkflowState").and_then(Value::as_str));
    let by = live.pointer("/Note/UpdatedBy").and_then(Value::as_str);
    let text = live
        .pointer("/Note/Text")
        .and_then(Value::as_str)
        .unwrap_or("");
    workflow == Some(status)
        && by == Some(rectify_model::effects::NOTE_AUTHOR)
        && written_by_rule(text, prefix)
}

/// Whether a note starts as rectify's notes for the rule of `prefix` do.
fn written_by_rule(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with(" ("))
}

/// Whether the live OCSF finding already shows what rectify would write:
/// the status (when the update sets one) and a comment of this rule's.
fn ocsf_settled(live: &Value, status_id: Option<i32>, prefix: &str) -> bool {
    let status_ok = status_id
        .is_none_or(|want| live.get("status_id").and_then(Value::as_i64) == Some(i64::from(want)));
    status_ok
        && live
            .get("comment")
            .and_then(Value::as_str)
            .is_some_and(|c| written_by_rule(c, prefix))
}

/// The live OCSF finding must be the one the job judged, as for ASFF
/// findings: there at all, the same `metadata.uid`, of the job's account
/// (`cloud.account.uid`), naming the job's resource (`resource_of`: the
/// resource the job's action takes from the live finding, as it took the
/// target from the event), and reporting the job's control
/// (`compliance.control`). `Err` says what differs.
pub(crate) fn verify_ocsf_finding(
    job: &Job,
    uid: &str,
    live: Option<&Value>,
    resource_of: impl Fn(&Value) -> Option<String>,
) -> Result<(), String> {
    let Some(live) = live else {
        return Err(format!("Security Hub has no OCSF finding {uid}"));
    };
    let text = |path: &str| live.pointer(path).and_then(Value::as_str);
    if text("/metadata/uid") != Some(uid) {
        return Err(format!(
            "the finding Security Hub returned is {}, not {uid}",
            text("/metadata/uid").unwrap_or("(no metadata.uid)")
        ));
    }
    let account = job.target.account.as_str();
    if text("/cloud/account/uid") != Some(account) {
        return Err(format!(
            "the finding belongs to account {}, the job acted on account {account}",
            text("/cloud/account/uid").unwrap_or("(none)")
        ));
    }
    let resource = job.target.resource_id.as_str();
    if !resource.is_empty() && resource_of(live).as_deref() != Some(resource) {
        let named: Vec<&str> = live
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("uid").and_then(Value::as_str))
            .collect();
        return Err(format!(
            "the finding does not name resource {resource} (it names: {})",
            named.join(", ")
        ));
    }
    let Some(control) = &job.control else {
        return Err("the job recorded no control to compare".into());
    };
    let live_control = text("/compliance/control");
    if live_control != Some(control.as_str()) {
        return Err(format!(
            "the finding reports control {}, the job judged control {control}",
            live_control.unwrap_or("(none)")
        ));
    }
    Ok(())
}

/// The resource the job's action takes from an OCSF finding read back:
/// the same code that took the job's target from the event, given the live
/// finding in a `Findings Imported V2` event.
fn ocsf_resource(engine: &Engine, job: &Job, live: &Value) -> Option<String> {
    let action = engine.actions.get(&job.action)?;
    let event = Event {
        id: job.event_id.clone(),
        source: "aws.securityhub".into(),
        detail_type: rectify_model::SECURITY_HUB_IMPORTED_V2.into(),
        // Only what the finding says counts.
        account: String::new(),
        region: job.target.region.clone(),
        time: String::new(),
        resources: Vec::new(),
        body: json!({
            "source": "aws.securityhub",
            "detail-type": rectify_model::SECURITY_HUB_IMPORTED_V2,
            "detail": {"findings": [live]},
        }),
        parsed: Default::default(),
    };
    action.target(&event).ok().map(|t| t.resource_id)
}

/// The live finding must be the one the job judged: same account as the
/// target, the target among its resources, the same control (or, for a
/// finding with no control, the same generator). `Err` says what differs.
pub(crate) fn verify_finding(
    job: &Job,
    wanted: &FindingRef,
    live: Option<&Value>,
) -> Result<(), String> {
    let Some(live) = live else {
        return Err(format!(
            "Security Hub has no finding {} of product {}",
            wanted.id, wanted.product_arn
        ));
    };
    let live: Finding = serde_json::from_value(live.clone())
        .map_err(|e| format!("the finding Security Hub returned is not ASFF: {e}"))?;
    if live.aws_account_id != job.target.account {
        return Err(format!(
            "the finding belongs to account {}, the job acted on account {}",
            live.aws_account_id, job.target.account
        ));
    }
    if !job.target.resource_id.is_empty()
        && !live
            .resources
            .iter()
            .any(|r| r.id == job.target.resource_id)
    {
        return Err(format!(
            "the finding does not name resource {} (it names: {})",
            job.target.resource_id,
            live.resources
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    match (&job.control, &wanted.generator_id) {
        (Some(control), _) => {
            if live.control_id() != Some(control.as_str()) {
                return Err(format!(
                    "the finding reports control {}, the job judged control {control}",
                    live.control_id().unwrap_or("(none)")
                ));
            }
        }
        (None, Some(generator)) => {
            if live.generator_id.as_deref() != Some(generator.as_str()) {
                return Err(format!(
                    "the finding's generator is {}, the job judged generator {generator}",
                    live.generator_id.as_deref().unwrap_or("(none)")
                ));
            }
        }
        (None, None) => {
            return Err("the job recorded neither a control nor a generator to compare".into())
        }
    }
    Ok(())
}

/// Tells the job's channels that a finding named by an event was not the
/// one rectify acted on: a forged or stale event, for the security team.
async fn notify_refusal(engine: &Engine, job: &Job, finding: &FindingRef, reason: &str) {
    let notification = Notification {
        subject: truncate(
            &format!(
                "rectify: finding not updated: it does not match job {}",
                job.id
            ),
            100,
        ),
        message: json!({
            "kind": "finding-mismatch",
            "account": job.target.account,
            "region": job.target.region,
            "resource": job.target.resource_id,
            "control": job.control,
            "rule": job.rule_id,
            "action": job.action,
            "job": job.id,
            "event": job.event_id,
            "finding": finding.id,
            "product_arn": finding.product_arn,
            "severity": finding.severity,
            "reason": reason,
            "outcome": job.outcome.as_ref().map(|o| o.kind),
        }),
    };
    publish(engine, job, &notification, "finding-mismatch").await;
}

/// Tells the job's channels that a person rejected it (the outcome's
/// reason names who and why).
pub(crate) async fn notify_rejected(engine: &Engine, job: &Job) {
    let reason = job
        .outcome
        .as_ref()
        .map(|o| o.reason.as_str())
        .unwrap_or("");
    notify(engine, job, OutcomeKind::Skipped, reason).await;
}

async fn notify(engine: &Engine, job: &Job, kind: OutcomeKind, reason: &str) {
    if job.notify.is_empty() {
        return;
    }
    let account = engine.config.account(&job.target.account);
    let mut message = json!({
        "account": job.target.account,
        "account_name": account.as_ref().and_then(|a| a.name.clone()),
        "owner": account.as_ref().and_then(|a| a.owner.clone()),
        "resource_owner": resource_owner(engine, job),
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
        "finding": Held::of(job).map(|h| h.reference().id.clone()),
        "severity": job.finding.as_ref().and_then(|f| f.severity.clone()),
        "change": job.outcome.as_ref().and_then(|o| o.change.clone()).or_else(|| job.plan.clone()),
    });
    if let Some(situation) = situation(job, kind, reason) {
        message["kind"] = json!(situation);
    }
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
    publish(engine, job, &notification, kind.as_str()).await;
}

/// The resource's owner tag (the tag `accounts.from_organizations.owner_tag`
/// names, `owner` by default), as the finding reported it.
fn resource_owner(engine: &Engine, job: &Job) -> Option<String> {
    let tag = match &engine.config.from_organizations {
        Some(org) => org.owner_tag.clone()?,
        None => rectify_config::DEFAULT_OWNER_TAG.to_string(),
    };
    let value = job
        .target
        .tags
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&tag))?
        .1
        .as_str()?
        .trim();
    // A tag value is outside input: bounded like an address.
    (!value.is_empty() && value.len() <= 254).then(|| value.to_string())
}

/// What calls for a person beyond the outcome: a job that gave up
/// (`dead`), a tripped breaker (`breaker-tripped`), a rule paused by hand
/// (`rule-paused`), a change a person rejected (`rejected`). Routing, digests and templates tell them apart by it.
fn situation(job: &Job, kind: OutcomeKind, reason: &str) -> Option<&'static str> {
    if job.state == JobState::Dead {
        return Some("dead");
    }
    if kind != OutcomeKind::Skipped {
        return None;
    }
    if reason.starts_with(rectify_store::REJECTED_BY) {
        return Some("rejected");
    }
    if crate::execute::tripped_breaker(reason) || reason.contains("(blast-radius breaker") {
        return Some("breaker-tripped");
    }
    let paused = format!("rule {} is paused (", job.rule_id);
    reason.starts_with(&paused).then_some("rule-paused")
}

/// Sends to each of the job's channels that takes it, through the outbox
/// (each delivery audited; a failed one retried later).
async fn publish(engine: &Engine, job: &Job, notification: &Notification, what: &str) {
    let mut channels = Vec::new();
    for name in &job.notify {
        if !engine.config.notifications.contains_key(name) {
            tracing::error!(channel = %name, "notification channel is not configured");
            continue;
        }
        // Routing by severity: a channel may take only some.
        if engine.notifier.takes(name, notification) {
            channels.push(name.clone());
        }
    }
    engine
        .notify_channels(&job.id, &channels, notification, what)
        .await;
}

pub(crate) async fn audit(engine: &Engine, kind: &str, subject: &str, data: serde_json::Value) {
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
    use super::{
        ocsf_settled, ocsf_status_for, situation, truncate, verify_finding, verify_ocsf_finding,
    };
    use rectify_model::{job::FindingRef, Finding, Job, JobState, OutcomeKind, Target};
    use serde_json::json;

    /// A job judged on `finding`, with the control planning gives it.
    fn job_for(finding: &serde_json::Value) -> (Job, FindingRef) {
        let parsed: Finding = serde_json::from_value(finding.clone()).unwrap();
        let resource = &finding["Resources"][0];
        let job: Job = serde_json::from_value(json!({
            "id": "j-1", "idempotency_key": "k", "event_id": "e-1", "rule_id": "r",
            "action": "aws.s3.block-public-access", "mode": "auto",
            "target": Target::listed(
                "111122223333", "eu-west-1",
                resource["Type"].as_str().unwrap(),
                resource["Id"].as_str().unwrap().to_string(),
            ),
            "params": {}, "finding": null, "control": parsed.control_id(), "notify": [],
            "state": "succeeded", "attempts": 1, "created_at": "t", "updated_at": "t",
            "next_run_at": null, "last_error": null, "approved_by": null, "plan": null,
            "outcome": null
        }))
        .unwrap();
        let wanted = FindingRef {
            id: parsed.id.clone(),
            product_arn: parsed.product_arn.clone(),
            generator_id: parsed.generator_id.clone(),
            severity: None,
        };
        (job, wanted)
    }

    #[test]
    fn standard_specific_findings_verify_against_their_consolidated_control() {
        let shape = |generator: &str, fields: serde_json::Value| {
            json!({
                "SchemaVersion": "2018-10-08", "Id": format!("f-{generator}"),
                "ProductArn": "arn:aws:securityhub:eu-west-1::product/aws/securityhub",
                "GeneratorId": generator, "AwsAccountId": "111122223333",
                "Compliance": {"Status": "FAILED"}, "ProductFields": fields,
                "Resources": [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::payments"}]
            })
        };
        let shapes = [
            (
                shape(
                    "pci-dss/v/3.2.1/PCI.S3.1",
                    json!({"StandardsArn": "arn:aws:securityhub:::standards/pci-dss/v/3.2.1", "ControlId": "PCI.S3.1"}),
                ),
                "S3.3",
            ),
            (
                shape(
                    "cis-aws-foundations-benchmark/v/1.4.0/2.1.5.2",
                    json!({"StandardsArn": "arn:aws:securityhub:::standards/cis-aws-foundations-benchmark/v/1.4.0", "ControlId": "2.1.5.2"}),
                ),
                "S3.8",
            ),
            (
                shape(
                    "service-managed-aws-control-tower/v/1.0.0/S3.2",
                    json!({"StandardsArn": "arn:aws:securityhub:::standards/service-managed-aws-control-tower/v/1.0.0", "ControlId": "CT.S3.2"}),
                ),
                "S3.2",
            ),
            (
                shape(
                    "prowler-s3_bucket_level_public_access_block",
                    json!({"ProviderName": "Prowler"}),
                ),
                "S3.8",
            ),
        ];
        for (mut finding, control) in shapes {
            if finding["GeneratorId"]
                .as_str()
                .unwrap()
                .starts_with("prowler-")
            {
                finding["ProductArn"] =
                    json!("arn:aws:securityhub:eu-west-1::product/prowler/prowler");
            }
            let (job, wanted) = job_for(&finding);
            assert_eq!(job.control.as_deref(), Some(control), "{finding}");
            // The live finding, as GetFindings returns it, is the same shape.
            assert_eq!(verify_finding(&job, &wanted, Some(&finding)), Ok(()));
            // Turning consolidated findings on later: the same control.
            let mut consolidated = finding.clone();
            consolidated["Compliance"]["SecurityControlId"] = json!(control);
            assert_eq!(verify_finding(&job, &wanted, Some(&consolidated)), Ok(()));
            // A live finding of another control is refused.
            let mut other = finding.clone();
            other["Compliance"]["SecurityControlId"] = json!("S3.5");
            let err = verify_finding(&job, &wanted, Some(&other)).unwrap_err();
            assert!(
                err.contains(&format!(
                    "reports control S3.5, the job judged control {control}"
                )),
                "{err}"
            );
        }
    }

    fn ocsf(uid: &str) -> serde_json::Value {
        json!({
            "metadata": {"uid": uid, "product": {"uid": "arn:aws:securityhub:us-east-1::productv2/aws/securityhub"}},
            "cloud": {"account": {"uid": "111122223333"}, "region": "us-east-1"},
            "compliance": {"control": "S3.8", "status": "Fail"},
            "resources": [{"uid": "b", "type": "AWS::S3::Bucket"}],
            "status_id": 1, "status": "New"
        })
    }

    #[test]
    fn the_ocsf_finding_read_back_must_be_the_one_the_job_judged() {
        let live = ocsf("u-1");
        let (mut job, _) = job_for(&json!({
            "SchemaVersion": "2018-10-08", "Id": "f", "ProductArn": "p", "GeneratorId": "g",
            "AwsAccountId": "111122223333", "Compliance": {"Status": "FAILED", "SecurityControlId": "S3.8"},
            "Resources": [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b"}]
        }));
        // The action names the bucket by its ARN, as it did for the event.
        let named = |_: &serde_json::Value| Some("arn:aws:s3:::b".to_string());
        assert_eq!(verify_ocsf_finding(&job, "u-1", Some(&live), named), Ok(()));
        let cases: [(Option<serde_json::Value>, &str, Option<&str>, &str); 5] = [
            (
                None,
                "arn:aws:s3:::b",
                Some("S3.8"),
                "has no OCSF finding u-1",
            ),
            (
                Some(ocsf("u-9")),
                "arn:aws:s3:::b",
                Some("S3.8"),
                "is u-9, not u-1",
            ),
            (
                Some(live.clone()),
                "arn:aws:s3:::c",
                Some("S3.8"),
                "does not name resource arn:aws:s3:::c (it names: b)",
            ),
            (
                Some(live.clone()),
                "arn:aws:s3:::b",
                Some("S3.2"),
                "reports control S3.8, the job judged control S3.2",
            ),
            (
                Some(live.clone()),
                "arn:aws:s3:::b",
                None,
                "no control to compare",
            ),
        ];
        for (live, resource, control, want) in cases {
            job.target.resource_id = resource.into();
            job.control = control.map(str::to_string);
            let err = verify_ocsf_finding(&job, "u-1", live.as_ref(), named).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
        job.target.resource_id = "arn:aws:s3:::b".into();
        job.control = Some("S3.8".into());
        job.target.account = "444455556666".into();
        let err = verify_ocsf_finding(&job, "u-1", Some(&live), named).unwrap_err();
        assert!(err.contains("belongs to account 111122223333"), "{err}");
    }

    #[test]
    fn ocsf_status_and_settled_findings() {
        assert_eq!(ocsf_status_for("RESOLVED"), Some(4));
        assert_eq!(ocsf_status_for("NOTIFIED"), None);
        let prefix = "rectify rule r";
        let mut live = ocsf("u-1");
        assert!(!ocsf_settled(&live, Some(4), prefix));
        live["status_id"] = json!(4);
        assert!(!ocsf_settled(&live, Some(4), prefix));
        live["comment"] = json!("rectify rule r (aws.s3.block-public-access): changed: ...");
        assert!(ocsf_settled(&live, Some(4), prefix));
        // Another rule's comment, or a rule whose id only starts the same.
        assert!(!ocsf_settled(&live, Some(4), "rectify rule s"));
        live["comment"] = json!("rectify rule r2 (a): changed: ...");
        assert!(!ocsf_settled(&live, Some(4), prefix));
        // NOTIFIED: the status is not compared, the comment is.
        live["comment"] = json!("rectify rule r (a): failed: ...");
        live["status_id"] = json!(1);
        assert!(ocsf_settled(&live, None, prefix));
        assert!(!ocsf_settled(&live, Some(4), prefix));
    }

    #[test]
    fn dead_jobs_breakers_and_paused_rules_are_named() {
        let (mut job, _) = job_for(&json!({
            "SchemaVersion": "2018-10-08", "Id": "f",
            "ProductArn": "arn:aws:securityhub:eu-west-1::product/aws/securityhub",
            "GeneratorId": "security-control/S3.8", "AwsAccountId": "111122223333",
            "Compliance": {"Status": "FAILED", "SecurityControlId": "S3.8"},
            "Resources": [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b"}]
        }));
        assert_eq!(situation(&job, OutcomeKind::Changed, "done"), None);
        let breaker = "blast-radius breaker: 5 changes by a in account 1 within the last hour (limit 5); rule r paused until `rectify resume --rule ID`";
        assert_eq!(
            situation(&job, OutcomeKind::Skipped, breaker),
            Some("breaker-tripped")
        );
        // A later job of a rule a breaker paused.
        let later = "rule r is paused (blast-radius breaker: 5 changes ...); `rectify resume --rule r` resumes it";
        assert_eq!(
            situation(&job, OutcomeKind::Skipped, later),
            Some("breaker-tripped")
        );
        let by_hand = "rule r is paused (maintenance); `rectify resume --rule r` resumes it";
        assert_eq!(
            situation(&job, OutcomeKind::Skipped, by_hand),
            Some("rule-paused")
        );
        assert_eq!(situation(&job, OutcomeKind::Skipped, "exempt by tag"), None);
        job.state = JobState::Dead;
        assert_eq!(
            situation(&job, OutcomeKind::Failed, "gave up after 5 attempts"),
            Some("dead")
        );
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("abc", 10), "abc");
        let long = "é".repeat(300);
        let cut = truncate(&long, 512);
        assert!(cut.len() <= 512 && cut.ends_with("..."));
    }
}
