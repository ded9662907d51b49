//! Plan: turn a (event, rule) match into a job. No I/O: guardrails that
//! need only the config and the event are applied here; those that need
//! the live resource (its tags, its state) run in `execute`.

use rectify_model::{
    job::FindingRef, Event, Job, JobState, Mode, Outcome, OutcomeKind, Rule, Target,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::Engine;

/// `<time>-<digest>`: the digest (128 bits of SHA-256) of the generation
/// (finding id and `UpdatedAt`, else event id), rule and resource decides
/// what is a duplicate; the time in front (the generation's own, so a
/// redelivery gets the same key) only orders the keys. New keys then land
/// at the end of the live-key index instead of on a random page of it: at
/// 200,000 queued jobs, random keys doubled the bytes written per event.
pub(crate) fn idempotency_key(stamp: &str, generation: &str, rule: &str, resource: &str) -> String {
    // The timestamp's digits (YYYYMMDDhhmmssSSS), whatever its spelling;
    // any deterministic value would do, this one sorts by time.
    let mut key: String = stamp
        .chars()
        .filter(char::is_ascii_digit)
        .chain(std::iter::repeat('0'))
        .take(17)
        .collect();
    key.push('-');
    let digest = Sha256::digest(format!("{generation}\n{rule}\n{resource}").as_bytes());
    key.push_str(&hex::encode(&digest[..16]));
    key
}

pub(crate) fn plan(engine: &Engine, event: &Event, rule: &Rule) -> Job {
    let now = rectify_model::now_rfc3339();
    let finding = event.finding();
    let mode = if engine.options.force_dry_run {
        Mode::DryRun
    } else {
        shape_mode(
            engine,
            &rule.id,
            &event.detail_type,
            rule.mode.unwrap_or(engine.config.default_mode),
        )
    };
    let action = engine.actions.get(&rule.action);
    let target = action
        .map(|a| a.target(event).map_err(|e| e.message))
        .unwrap_or_else(|| Err(format!("unknown action {}", rule.action)));
    let (target, verdict) = match target {
        Ok(mut target) => {
            if let Some(principal) = api_caller(event) {
                if !target.details.is_object() {
                    target.details = json!({});
                }
                target.details[CHANGED_BY] = json!(principal);
            }
            // What asked for the job, kept with the target: the custom
            // action a person chose, or the OCSF finding.
            if let Some((key, value)) = asked_by(event) {
                if !target.details.is_object() {
                    target.details = json!({});
                }
                target.details[key] = value;
            }
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
    // A scanner finding is new at every scan; while a job for it is open,
    // the next scan's must coalesce into it: the key leaves the time out.
    let scanned = event.source == rectify_model::SCANNER_SOURCE;
    let (generation, stamp) = match &finding {
        Some(f) if scanned => (f.id.clone(), ""),
        Some(f) => {
            let updated = f.updated_at.as_deref().unwrap_or("");
            (format!("{}@{updated}", f.id), updated)
        }
        None => (event.id.clone(), event.time.as_str()),
    };
    let idempotency_key = idempotency_key(stamp, &generation, &rule.id, &target.key());
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
        // No Security Hub finding stands behind a scanner finding.
        finding: finding.as_ref().filter(|_| !scanned).map(|f| FindingRef {
            id: f.id.clone(),
            product_arn: f.product_arn.clone(),
            generator_id: f.generator_id.clone(),
            // Only Security Hub's labels: the value routes notifications.
            severity: f
                .severity
                .as_ref()
                .and_then(|s| s.label.as_deref())
                .filter(|l| ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"].contains(l))
                .map(str::to_string),
        }),
        // The consolidated id whatever the finding's shape, so that the
        // finding read back at the end names the same control.
        control: finding
            .as_ref()
            .and_then(|f| f.control_id().map(str::to_string))
            .or_else(|| ocsf_control(event)),
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

/// Under `target.details` of a job answering a Security Hub custom action:
/// `{"name": actionName, "arn": the action's ARN}`.
pub(crate) const CUSTOM_ACTION: &str = "CustomAction";
/// Under `target.details` of a job answering an OCSF finding of the new
/// Security Hub: `{"uid": metadata.uid, "product_uid": metadata.product.uid}`,
/// what the job's effects update the finding by.
pub(crate) const OCSF_FINDING: &str = "OcsfFinding";

fn asked_by(event: &Event) -> Option<(&'static str, Value)> {
    let detail = event.detail();
    if event.detail_type == rectify_model::SECURITY_HUB_CUSTOM_ACTION {
        return Some((
            CUSTOM_ACTION,
            json!({"name": detail.get("actionName"), "arn": event.resources.first()}),
        ));
    }
    if event.detail_type == rectify_model::SECURITY_HUB_IMPORTED_V2 {
        let finding = event.finding_value();
        let field = |path: &str| finding.and_then(|f| f.pointer(path)).cloned();
        return Some((
            OCSF_FINDING,
            json!({"uid": field("/metadata/uid"), "product_uid": field("/metadata/product/uid")}),
        ));
    }
    None
}

/// The mode of a job of rule `rule_id` whose rule's mode is `mode`, for an
/// event of `detail_type`:
///
/// - a Security Hub custom action (a person asked for this one fix from the
///   console) waits for approval unless the rule (or an override) sets its
///   own mode: the config's `default_mode` does not make it `auto`;
/// - so does a job of a disruptive action (`approval_by_default` in its
///   spec: replacing a volume, deactivating credentials, ...).
///
/// An OCSF finding of the new Security Hub follows its rule's mode like any
/// other: its job's effects update it (`BatchUpdateFindingsV2`).
pub(crate) fn shape_mode(engine: &Engine, rule_id: &str, detail_type: &str, mode: Mode) -> Mode {
    if mode != Mode::Auto {
        return mode;
    }
    let Some(loaded) = engine.config.rules.iter().find(|r| r.rule.id == rule_id) else {
        return mode;
    };
    if !loaded.mode_is_default {
        return mode;
    }
    let disruptive = engine
        .actions
        .get(&loaded.rule.action)
        .is_some_and(|a| a.spec().approval_by_default);
    if disruptive || detail_type == rectify_model::SECURITY_HUB_CUSTOM_ACTION {
        Mode::Approve
    } else {
        mode
    }
}

/// The detail-type a job's event had, as far as its mode depends on it: a
/// custom action's, as its target records it.
pub(crate) fn asked_kind(job: &Job) -> &'static str {
    if job.target.details.get(CUSTOM_ACTION).is_some() {
        rectify_model::SECURITY_HUB_CUSTOM_ACTION
    } else {
        ""
    }
}

/// The control of an OCSF finding (`Findings Imported V2`):
/// `compliance.control`.
fn ocsf_control(event: &Event) -> Option<String> {
    if event.detail_type != rectify_model::SECURITY_HUB_IMPORTED_V2 {
        return None;
    }
    event
        .finding_value()?
        .pointer("/compliance/control")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

/// The key under a CloudTrail-triggered job's `target.details` that names
/// the principal whose API call it answers.
pub(crate) const CHANGED_BY: &str = "ChangedBy";

/// Who made the API call a CloudTrail event reports: the role behind an
/// assumed-role session (the session name is the caller's to choose), else
/// the identity's ARN.
fn api_caller(event: &Event) -> Option<String> {
    if event.detail_type != rectify_model::target::CLOUDTRAIL_API_CALL {
        return None;
    }
    let identity = event.detail().get("userIdentity")?;
    identity
        .pointer("/sessionContext/sessionIssuer/arn")
        .or_else(|| identity.get("arn"))
        .and_then(Value::as_str)
        .filter(|arn| !arn.is_empty())
        .map(str::to_string)
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

#[cfg(test)]
mod tests {
    use super::idempotency_key;

    #[test]
    fn keys_sort_by_generation_time_and_differ_by_content() {
        let a = idempotency_key("2026-11-29T09:00:00.000Z", "f@t", "r", "arn:1");
        assert_eq!(a.len(), 17 + 1 + 32);
        assert!(a.starts_with("20261129090000000-"), "{a}");
        // Same inputs, same key: a redelivery is recognised.
        assert_eq!(
            a,
            idempotency_key("2026-11-29T09:00:00.000Z", "f@t", "r", "arn:1")
        );
        // Any part of the identity changes the digest.
        assert_ne!(
            a,
            idempotency_key("2026-11-29T09:00:00.000Z", "f@t", "r", "arn:2")
        );
        assert_ne!(
            a,
            idempotency_key("2026-11-29T09:00:00.000Z", "f@t", "q", "arn:1")
        );
        // Later generations sort after earlier ones; seconds-only stamps pad.
        let later = idempotency_key("2026-11-29T09:00:01Z", "f@t2", "r", "arn:1");
        assert!(
            later.starts_with("20261129090001000-") && later > a,
            "{later}"
        );
        // No time at all still gives a key.
        assert!(idempotency_key("", "e", "r", "x").starts_with("00000000000000000-"));
    }
}
