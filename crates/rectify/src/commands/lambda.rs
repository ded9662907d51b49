//! `rectify lambda`: the binary as an AWS Lambda function (custom runtime,
//! `provided.al2023`, the binary deployed as `bootstrap`). Each invocation
//! is an EventBridge event (an EventBridge rule targets the function) or
//! an SQS batch (an event source mapping); its events are committed, then
//! the jobs ready to run are run before the invocation answers, because
//! the environment is frozen between invocations.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rectify_engine::{Engine, EngineOptions};
use rectify_lambda::{FunctionError, Invocation, RuntimeApi};
use rectify_model::Intake;
use serde_json::{json, Value};
use tracing::Instrument;

use crate::context;
use crate::intake::EngineIntake;

/// Time kept back from the invocation's deadline to answer it.
const ANSWER_MARGIN: Duration = Duration::from_secs(3);

pub async fn run(config: Option<&Path>) -> anyhow::Result<u8> {
    let api = match RuntimeApi::from_env() {
        Ok(api) => api,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
    };
    let loaded = match context::load(config).await {
        Ok(loaded) => loaded,
        Err(diagnostics) => {
            context::print_diagnostics(&diagnostics);
            let text: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
            let error = FunctionError::new("Rectify.InvalidConfig", text.join("\n"));
            report_init_error(&api, &error).await;
            return Ok(2);
        }
    };
    if loaded.config.store.starts_with("sqlite:") {
        tracing::warn!(
            store = %rectify_store::redact(&loaded.config.store),
            "a SQLite store in Lambda lives only as long as one execution environment \
             (jobs waiting for approval, retries and the audit log are lost with it): \
             use PostgreSQL"
        );
    }
    let options = EngineOptions {
        worker_id: worker_id(),
        ..EngineOptions::default()
    };
    crate::organizations::load_once(&loaded).await;
    let engine = match context::engine_from(loaded, options).await {
        Ok((engine, _)) => engine,
        Err(e) => {
            tracing::error!("{e:#}");
            let error = unavailable(e);
            report_init_error(&api, &error).await;
            return Ok(2);
        }
    };
    let intake = EngineIntake::new(engine.clone());
    tracing::info!("initialised; waiting for invocations");
    loop {
        let invocation = match api.next().await {
            Ok(invocation) => invocation,
            Err(e) => {
                // The Runtime API is gone or broken: Lambda restarts the
                // environment when the runtime exits.
                tracing::error!("{e}");
                return Ok(1);
            }
        };
        // Every log line of the invocation carries its ids (with
        // --log-format json, under `spans`).
        let span = tracing::info_span!(
            "invocation",
            request_id = %invocation.request_id,
            xray_trace_id = invocation.trace_id.as_deref().unwrap_or_default(),
        );
        let answered = async {
            let handled = handle(&engine, &intake, &invocation).await;
            detector_upkeep(&engine).await;
            match handled {
                Ok(result) => {
                    tracing::info!("invocation answered");
                    api.respond(&invocation.request_id, &result).await
                }
                Err(error) => {
                    tracing::warn!(
                        error_type = %error.error_type,
                        error = %error.message,
                        "invocation failed"
                    );
                    api.fail(&invocation.request_id, &error).await
                }
            }
        }
        .instrument(span)
        .await;
        if let Err(e) = answered {
            tracing::error!("{e}");
            return Ok(1);
        }
    }
}

/// At the end of each invocation, with the anomaly detector on: the
/// buckets of entities gone quiet are closed (there is no timer between
/// invocations), and the detector's state is saved once
/// `save_interval_seconds` has passed since the last save (not at every
/// invocation: that would write on every event; an environment Lambda
/// retires loses what it learned since its last save, at most an
/// interval). Failures are logged, never the invocation's.
async fn detector_upkeep(engine: &Engine) {
    let now = rectify_model::now_epoch_seconds();
    if let Err(e) = engine.tick_tap(now, "detector").await {
        tracing::warn!("detections of entities gone quiet not submitted: {e:#}");
    }
    engine.save_tap_state(false).await;
}

/// The store (or the config's store URL) failed: Lambda retries later.
fn unavailable(e: impl std::fmt::Display) -> FunctionError {
    FunctionError::new("Rectify.StoreUnavailable", format!("{e:#}"))
}

async fn report_init_error(api: &RuntimeApi, error: &FunctionError) {
    if let Err(e) = api.init_failed(error).await {
        tracing::error!("{e}");
    }
}

/// One execution environment, by its log stream (unique per environment).
fn worker_id() -> String {
    let name = std::env::var("AWS_LAMBDA_LOG_STREAM_NAME")
        .or_else(|_| std::env::var("AWS_LAMBDA_FUNCTION_NAME"))
        .unwrap_or_else(|_| "local".into());
    format!("lambda@{name}")
}

/// One invocation: an SQS batch answers with the messages it could not
/// take (`batchItemFailures`, for an event source mapping with
/// `ReportBatchItemFailures`): a body that does not parse or that the
/// store refuses, never the others of the batch; only an unavailable
/// store fails the whole invocation. Anything else is taken as events (an
/// EventBridge rule's target) and answers with their jobs.
async fn handle(
    engine: &Arc<Engine>,
    intake: &EngineIntake,
    invocation: &Invocation,
) -> Result<Value, FunctionError> {
    let parsed: Option<Value> = serde_json::from_slice(&invocation.body).ok();
    if let Some(records) = parsed.as_ref().and_then(sqs_records) {
        let bodies: Vec<&[u8]> = records.iter().map(|(_, body)| body.as_bytes()).collect();
        let verdicts = intake.take(&bodies, "lambda").await.map_err(unavailable)?;
        let mut failures = Vec::new();
        for ((message_id, _), verdict) in records.iter().zip(verdicts) {
            if let Err(reason) = verdict {
                tracing::warn!(message_id, %reason, "SQS message refused");
                failures.push(json!({"itemIdentifier": message_id}));
            }
        }
        run_ready_jobs(engine, invocation, &[]).await?;
        return Ok(json!({"batchItemFailures": failures}));
    }
    let events = rectify_ingest::parse_body(&invocation.body, &rectify_ingest::Limits::default())
        .map_err(|e| FunctionError::new("Rectify.InvalidEvent", e.to_string()))?;
    let submitted = engine.submit(events, "lambda").await.map_err(|e| {
        if rectify_engine::store_unavailable(&e) {
            unavailable(e)
        } else {
            // The store refused the event itself: a retry would fail alike.
            FunctionError::new("Rectify.InvalidEvent", format!("{e:#}"))
        }
    })?;
    let own: Vec<String> = submitted
        .iter()
        .flat_map(|e| e.jobs.iter().map(|j| j.id.clone()))
        .collect();
    run_ready_jobs(engine, invocation, &own).await?;
    let mut jobs = Vec::new();
    for event in &submitted {
        for job in &event.jobs {
            let stored = engine.store().get_job(&job.id).await.map_err(unavailable)?;
            if let Some(job) = stored {
                jobs.push(json!({
                    "id": job.id,
                    "rule": job.rule_id,
                    "state": job.state,
                    "outcome": job.outcome,
                }));
            }
        }
    }
    Ok(json!({"events": submitted.len(), "jobs": jobs}))
}

/// `(messageId, body)` of each record when the payload is an SQS batch.
fn sqs_records(payload: &Value) -> Option<Vec<(String, String)>> {
    let records = payload.get("Records")?.as_array()?;
    if records.is_empty()
        || !records
            .iter()
            .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
    {
        return None;
    }
    Some(
        records
            .iter()
            .map(|r| {
                let text = |key: &str| r.get(key).and_then(Value::as_str).unwrap_or_default();
                (text("messageId").to_string(), text("body").to_string())
            })
            .collect(),
    )
}

/// Runs what is ready now (this invocation's jobs, and any an earlier,
/// cut-off environment left behind), then, until the deadline nears,
/// waits for `own` jobs that are backing off before a retry. Jobs of
/// other invocations that wait for a later time are not waited for: they
/// run at an invocation after it. What is left stays queued.
async fn run_ready_jobs(
    engine: &Arc<Engine>,
    invocation: &Invocation,
    own: &[String],
) -> Result<(), FunctionError> {
    engine
        .store()
        .recover_expired()
        .await
        .map_err(unavailable)?;
    let budget = invocation
        .time_left()
        .map(|left| left.saturating_sub(ANSWER_MARGIN))
        .unwrap_or(Duration::from_secs(60));
    let until = tokio::time::Instant::now() + budget;
    let work = async {
        loop {
            engine.run_ready().await.map_err(unavailable)?;
            let mut open = false;
            for id in own {
                let job = engine.store().get_job(id).await.map_err(unavailable)?;
                open |= job.is_some_and(|j| {
                    !j.state.is_final() && j.state != rectify_model::JobState::WaitingApproval
                });
            }
            if !open {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let work = async {
        work.await?;
        // Notifications owed from an earlier invocation whose wait is over.
        engine.deliver_outbox().await;
        Ok(())
    };
    match tokio::time::timeout_at(until, work).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(
                request_id = %invocation.request_id,
                "the invocation's deadline is near: unfinished jobs stay queued"
            );
            Ok(())
        }
    }
}
