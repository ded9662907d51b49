//! The routes the console needs beyond listing and approving: rejecting
//! and retrying a job, a job's or a finding's audit trail, one finding
//! with the rules it matches and its jobs, the overview's counts, the
//! rules with their activity, the audit chain's verdict, and a fix on
//! demand. Each is an ordinary API route with its scope (see
//! `required_scope`), usable without the console.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rectify_store::{FindingFilter, JobFilter, StoreError};
use serde_json::{json, Value};

use crate::{error, internal, job_view, param, query, Api, Caller};

/// The longest reason a rejection keeps.
const MAX_REASON_CHARS: usize = 1000;
/// Audit records shown for one job or finding.
const TRAIL_RECORDS: usize = 200;
/// Jobs shown for one finding.
const FINDING_JOBS: usize = 100;
/// Days of fixes the overview counts.
const OVERVIEW_DAYS: u64 = 14;
/// Lines of finding counts the overview returns at most.
const OVERVIEW_COUNT_LINES: usize = 5000;
/// How long an overview is reused (a resume or pause clears it).
pub(crate) const OVERVIEW_TTL: Duration = Duration::from_secs(10);
/// How long a verdict on the audit chain is reused: verifying walks the
/// whole log, and a read token must not make the server do it at will.
pub(crate) const VERIFY_TTL: Duration = Duration::from_secs(60);

/// The job read, or the answer to give when there is none.
fn found_job(
    result: Result<Option<rectify_model::Job>, StoreError>,
    id: &str,
) -> Result<rectify_model::Job, Box<Response>> {
    match result {
        Ok(Some(job)) => Ok(job),
        Ok(None) => Err(Box::new(error(
            StatusCode::NOT_FOUND,
            format!("no job {id}"),
        ))),
        Err(e @ StoreError::Ambiguous { .. }) => {
            Err(Box::new(error(StatusCode::BAD_REQUEST, e.to_string())))
        }
        Err(e) => Err(Box::new(internal("reading the job", e))),
    }
}

/// `GET /v1/whoami`: the token's name and scopes, so that the console
/// offers only what the token may do (the routes check again).
pub(crate) async fn whoami(
    State(api): State<Api>,
    axum::Extension(Caller(caller)): axum::Extension<Caller>,
) -> Response {
    let scopes: Vec<&str> = api
        .engine
        .config()
        .api
        .tokens
        .iter()
        .filter(|t| t.name == caller)
        .flat_map(|t| t.scopes.iter().map(|s| s.as_str()))
        .collect();
    Json(json!({"name": caller, "scopes": scopes})).into_response()
}

/// `POST /v1/jobs/{id}/reject?reason=...`: a job waiting for approval is
/// not run; it ends `skipped` with who said no and why.
pub(crate) async fn reject_job(
    State(api): State<Api>,
    axum::Extension(Caller(caller)): axum::Extension<Caller>,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let pairs = match query("/v1/jobs/{id}/reject", &uri) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let reason = param(&pairs, "reason").unwrap_or("").trim();
    if reason.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "reason: say why the change is rejected (it goes into the job and the audit log)",
        );
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return error(
            StatusCode::BAD_REQUEST,
            format!("reason: at most {MAX_REASON_CHARS} characters"),
        );
    }
    match api
        .engine
        .reject(&id, &format!("api:{caller}"), reason)
        .await
    {
        Ok(job) => Json(job_view(&job)).into_response(),
        Err(e @ StoreError::InvalidState { .. }) => error(StatusCode::CONFLICT, e.to_string()),
        Err(StoreError::NotFound(_)) => error(StatusCode::NOT_FOUND, format!("no job {id}")),
        Err(e @ (StoreError::Ambiguous { .. } | StoreError::Invalid(_))) => {
            error(StatusCode::BAD_REQUEST, e.to_string())
        }
        Err(e) => internal("rejecting the job", e),
    }
}

/// `POST /v1/jobs/{id}/retry`: a dead or failed job queued again as a new
/// job (the old one stays as it was).
pub(crate) async fn retry_job(
    State(api): State<Api>,
    axum::Extension(Caller(caller)): axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = found_job(api.engine.store().get_job(&id).await, &id) {
        return *r;
    }
    match api.engine.retry(&id, &format!("api:{caller}")).await {
        Ok(job) => (StatusCode::ACCEPTED, Json(job_view(&job))).into_response(),
        Err(e) if e.downcast_ref::<StoreError>().is_none() => {
            error(StatusCode::CONFLICT, e.to_string())
        }
        Err(e) => internal("queueing the retry", e),
    }
}

/// `GET /v1/jobs/{id}/audit`: the job's audit records, oldest first (the
/// last [`TRAIL_RECORDS`]).
pub(crate) async fn job_audit(State(api): State<Api>, Path(id): Path<String>) -> Response {
    let job = match found_job(api.engine.store().get_job(&id).await, &id) {
        Ok(job) => job,
        Err(r) => return *r,
    };
    match api
        .engine
        .store()
        .audit_about(&[job.id.clone(), job.event_id.clone()], TRAIL_RECORDS)
        .await
    {
        Ok(records) => Json(json!({"records": records})).into_response(),
        Err(e) => internal("reading the audit log", e),
    }
}

/// `GET /v1/finding?id=...[&product_arn=...]`: one finding as stored (its
/// ASFF), the rules it matches now, its jobs and its audit trail.
pub(crate) async fn get_finding(State(api): State<Api>, uri: Uri) -> Response {
    let pairs = match query("/v1/finding", &uri) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let Some(id) = param(&pairs, "id") else {
        return error(StatusCode::BAD_REQUEST, "id: the finding's Id is needed");
    };
    let store = api.engine.store();
    let rows = match store
        .find_findings(&FindingFilter {
            id: Some(id.to_owned()),
            limit: 20,
            ..Default::default()
        })
        .await
    {
        Ok(rows) => rows,
        Err(e) => return internal("reading the finding", e),
    };
    let product = param(&pairs, "product_arn");
    let Some(row) = rows
        .into_iter()
        .find(|r| product.is_none_or(|p| p == r.product_arn))
    else {
        return error(StatusCode::NOT_FOUND, format!("no finding {id}"));
    };
    let rules = match finding_event(&row.finding, "Security Hub Findings - Imported") {
        Ok(event) => api.engine.matching_rules(&event),
        Err(_) => Vec::new(),
    };
    let jobs = match store
        .list_jobs(&JobFilter {
            finding_id: Some(row.id.clone()),
            limit: FINDING_JOBS,
            ..Default::default()
        })
        .await
    {
        Ok(jobs) => jobs,
        Err(e) => return internal("listing the finding's jobs", e),
    };
    let mut subjects: Vec<String> = jobs.iter().map(|j| j.id.clone()).collect();
    subjects.push(row.last_event_id.clone());
    subjects.extend(jobs.iter().map(|j| j.event_id.clone()));
    subjects.sort();
    subjects.dedup();
    let audit = match store.audit_about(&subjects, TRAIL_RECORDS).await {
        Ok(records) => records,
        Err(e) => return internal("reading the audit log", e),
    };
    let jobs: Vec<Value> = jobs.iter().map(job_view).collect();
    Json(json!({"finding": row, "rules": rules, "jobs": jobs, "audit": audit})).into_response()
}

/// One finding in the envelope Security Hub gives it, parsed as ingest
/// parses any event (its limits apply).
fn finding_event(finding: &Value, detail_type: &str) -> Result<rectify_model::Event, String> {
    let text = |key: &str| finding.get(key).and_then(Value::as_str).unwrap_or("");
    let account = text("AwsAccountId");
    let region = match text("Region") {
        "" => finding
            .pointer("/Resources/0/Region")
            .and_then(Value::as_str)
            .unwrap_or(""),
        region => region,
    };
    let mut detail = json!({"findings": [finding]});
    if detail_type.ends_with("Custom Action") {
        detail["actionName"] = json!("rectify-console");
        detail["actionDescription"] = json!("Fix on demand from the rectify console");
    }
    let envelope = json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": detail_type,
        "source": "aws.securityhub",
        "account": account,
        "time": rectify_model::now_rfc3339(),
        "region": region,
        "resources": [],
        "detail": detail,
    });
    let body = serde_json::to_vec(&envelope).map_err(|e| e.to_string())?;
    let mut events = rectify_ingest::parse_body(&body, &rectify_ingest::Limits::default())
        .map_err(|e| e.to_string())?;
    match events.len() {
        1 => Ok(events.remove(0)),
        n => Err(format!("expected one finding, read {n}")),
    }
}

/// `POST /v1/fix` with `{"finding": {ASFF}}` or `{"id": ..., "product_arn":
/// ...}`, and optionally `"rule"`: the finding goes in as a Security Hub
/// custom action would send it, so every job it makes waits for a
/// person's approval (unless its rule sets a mode itself), planned against
/// the live resource.
pub(crate) async fn fix(
    State(api): State<Api>,
    axum::Extension(Caller(caller)): axum::Extension<Caller>,
    body: Bytes,
) -> Response {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "the body is a JSON object: {\"finding\": {...ASFF...}} or {\"id\": \"...\"}, with an optional \"rule\"",
            )
        }
    };
    let finding = match (
        request.get("finding"),
        request.get("id").and_then(Value::as_str),
    ) {
        (Some(finding @ Value::Object(_)), None) => finding.clone(),
        (None, Some(id)) => {
            let product = request.get("product_arn").and_then(Value::as_str);
            let rows = api
                .engine
                .store()
                .find_findings(&FindingFilter {
                    id: Some(id.to_owned()),
                    limit: 20,
                    ..Default::default()
                })
                .await;
            match rows {
                Ok(rows) => match rows
                    .into_iter()
                    .find(|r| product.is_none_or(|p| p == r.product_arn))
                {
                    Some(row) => row.finding,
                    None => return error(StatusCode::NOT_FOUND, format!("no finding {id}")),
                },
                Err(e) => return internal("reading the finding", e),
            }
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "give either \"finding\" (an ASFF object) or \"id\" (a stored finding's Id)",
            )
        }
    };
    let event = match finding_event(&finding, "Security Hub Findings - Custom Action") {
        Ok(event) => event,
        Err(e) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the finding cannot be read as Security Hub sends it: {e}"),
            )
        }
    };
    let matched = api.engine.matching_rules(&event);
    if let Some(rule) = request.get("rule").and_then(Value::as_str) {
        if !matched.iter().any(|m| m == rule) {
            let known = if matched.is_empty() {
                "no rule matches it".to_string()
            } else {
                format!("it matches {}", matched.join(", "))
            };
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("rule `{rule}` does not match this finding ({known}); nothing was queued"),
            );
        }
    }
    if matched.is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no rule matches this finding; nothing was queued",
        );
    }
    match api
        .engine
        .submit(vec![event], &format!("http:{caller}"))
        .await
    {
        Ok(mut submitted) => {
            let one = submitted.pop();
            (StatusCode::ACCEPTED, Json(json!({"submitted": one}))).into_response()
        }
        Err(e) => internal("queueing the fix", e),
    }
}

/// `GET /v1/overview`: the queue by state, the kill switch, paused rules
/// (by a person or a breaker), stored findings counted by account,
/// control, severity and workflow status, and the jobs of the last
/// [`OVERVIEW_DAYS`] days by day and outcome.
pub(crate) async fn overview(State(api): State<Api>) -> Response {
    // Every open console asks every few seconds; counting the findings
    // reads them all, so one answer serves everyone for a while.
    let mut last = api.overview.lock().await;
    if let Some((at, answer)) = &*last {
        if at.elapsed() < OVERVIEW_TTL {
            return Json(answer.clone()).into_response();
        }
    }
    match compute_overview(&api).await {
        Ok(answer) => {
            *last = Some((Instant::now(), answer.clone()));
            Json(answer).into_response()
        }
        Err(response) => *response,
    }
}

async fn compute_overview(api: &Api) -> Result<Value, Box<Response>> {
    let internal = |what: &str, e: StoreError| Box::new(internal(what, e));
    let store = api.engine.store();
    let queue = match store.count_jobs().await {
        Ok(q) => q,
        Err(e) => return Err(internal("counting jobs", e)),
    };
    let (paused, paused_rules, oldest_due) = match (
        store.is_paused().await,
        store.paused_rules().await,
        store.oldest_due().await,
    ) {
        (Ok(p), Ok(r), Ok(o)) => (p, r, o),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            return Err(internal("reading the switches", e))
        }
    };
    let mut counts = match store.finding_counts().await {
        Ok(c) => c,
        Err(e) => return Err(internal("counting findings", e)),
    };
    let truncated = counts.len() > OVERVIEW_COUNT_LINES;
    counts.truncate(OVERVIEW_COUNT_LINES);
    let mut days = Vec::new();
    let today = rectify_store::timefmt::now();
    for back in (0..OVERVIEW_DAYS).rev() {
        let start_day = day_of(&rectify_store::timefmt::now_minus(Duration::from_secs(
            back * 86_400,
        )));
        let from = format!("{start_day}T00:00:00.000Z");
        let to = if back == 0 {
            today.clone()
        } else {
            format!(
                "{}T00:00:00.000Z",
                day_of(&rectify_store::timefmt::now_minus(Duration::from_secs(
                    (back - 1) * 86_400
                )))
            )
        };
        let tally = match store.tally_jobs(&from, &to).await {
            Ok(t) => t,
            Err(e) => return Err(internal("counting jobs by day", e)),
        };
        let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
        for line in &tally {
            *outcomes.entry(line.outcome.clone()).or_default() += line.jobs;
        }
        days.push(json!({"day": start_day, "outcomes": outcomes}));
    }
    Ok(json!({
        "queue": queue,
        "oldest_due": oldest_due,
        "paused": paused,
        "paused_rules": paused_rules,
        "findings": counts,
        "findings_truncated": truncated,
        "days": days,
        "computed_at": rectify_store::timefmt::now(),
    }))
}

fn day_of(time: &str) -> String {
    time.get(..10).unwrap_or(time).to_string()
}

/// `GET /v1/rules`: every rule of the configuration with its pattern,
/// action, mode, pack, whether it is paused, and its jobs of the last 24
/// hours (matches) with those that changed something (fixed); and the
/// catalog's coverage per standard.
pub(crate) async fn rules(State(api): State<Api>) -> Response {
    let store = api.engine.store();
    let config = api.engine.config();
    let from = rectify_store::timefmt::now_minus(Duration::from_secs(86_400));
    let to = rectify_store::timefmt::now();
    let (tally, paused) = match (
        store.tally_jobs(&from, &to).await,
        store.paused_rules().await,
    ) {
        (Ok(t), Ok(p)) => (t, p),
        (Err(e), _) | (_, Err(e)) => return internal("counting the rules' jobs", e),
    };
    let mut matches: BTreeMap<&str, u64> = BTreeMap::new();
    let mut changes: BTreeMap<&str, u64> = BTreeMap::new();
    for line in &tally {
        *matches.entry(line.rule_id.as_str()).or_default() += line.jobs;
        if line.outcome == "fixed" {
            *changes.entry(line.rule_id.as_str()).or_default() += line.jobs;
        }
    }
    let rules: Vec<Value> = config
        .rules
        .iter()
        .map(|loaded| {
            let rule = &loaded.rule;
            let file = loaded.source.file.display().to_string();
            let pack = file
                .strip_prefix("<pack:")
                .and_then(|p| p.strip_suffix('>'))
                .map(str::to_owned);
            json!({
                "id": rule.id,
                "description": rule.description,
                "controls": rule.controls,
                "enabled": rule.enabled,
                "pattern": rule.pattern,
                "action": rule.action,
                "mode": rule.mode.unwrap_or(config.default_mode),
                "pack": pack,
                "paused": paused.get(&rule.id),
                "matches_24h": matches.get(rule.id.as_str()).copied().unwrap_or(0),
                "changes_24h": changes.get(rule.id.as_str()).copied().unwrap_or(0),
            })
        })
        .collect();
    Json(json!({"rules": rules, "coverage": api.coverage.as_deref()})).into_response()
}

/// `GET /v1/audit/verify`: the chain's verdict (reused for
/// [`VERIFY_TTL`]) and its lane heads.
pub(crate) async fn audit_verify(State(api): State<Api>) -> Response {
    let store = api.engine.store();
    let mut last = api.audit_verdict.lock().await;
    let checked = match &*last {
        Some(checked) if checked.at.elapsed() < VERIFY_TTL => checked.clone(),
        _ => {
            let verdict = match store.verify_audit().await {
                Ok(v) => v,
                Err(e) => return internal("verifying the audit log", e),
            };
            let anchors = match &api.anchors {
                None => json!({"configured": false}),
                Some(check) => match (check.as_ref())().await {
                    Ok(report) => report,
                    Err(e) => {
                        tracing::warn!(error = %crate::redact(&format!("{e:#}")), "checking the audit anchors");
                        json!({"configured": true, "error": "the anchors could not be read (details in the server log)"})
                    }
                },
            };
            let checked = crate::AuditChecked {
                at: Instant::now(),
                verdict,
                anchors,
            };
            *last = Some(checked.clone());
            checked
        }
    };
    drop(last);
    let heads = match store.audit_heads().await {
        Ok(h) => h,
        Err(e) => return internal("reading the audit heads", e),
    };
    Json(json!({
        "intact": checked.verdict.is_intact(),
        "verdict": checked.verdict,
        "anchors": checked.anchors,
        "checked_seconds_ago": checked.at.elapsed().as_secs(),
        "heads": heads,
    }))
    .into_response()
}
