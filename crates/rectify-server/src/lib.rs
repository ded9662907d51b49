//! The HTTP source and API of `rectify serve`, and its approval console.
//!
//! Every route but `/healthz` and the console's static page needs
//! `Authorization: Bearer <token>` with a token from the config's
//! `api.tokens`. A refused request stores nothing.

mod console;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rectify_engine::Engine;
use rectify_model::JobState;
use rectify_store::JobFilter;
use serde::Deserialize;
use serde_json::json;

#[derive(Default)]
struct Counters {
    requests_refused: AtomicU64,
    events_accepted: AtomicU64,
    events_rejected: AtomicU64,
}

#[derive(Clone)]
pub struct Api {
    engine: Arc<Engine>,
    counters: Arc<Counters>,
}

impl Api {
    pub fn new(engine: Arc<Engine>) -> Api {
        Api {
            engine,
            counters: Arc::default(),
        }
    }
}

pub fn router(api: Api) -> Router {
    let max_body = api.engine.config().api.max_body_bytes;
    let protected = Router::new()
        .route("/v1/events", post(post_events))
        .route("/v1/jobs", get(list_jobs))
        .route("/v1/jobs/{id}", get(get_job))
        .route("/v1/jobs/{id}/approve", post(approve_job))
        .route("/v1/findings", get(list_findings))
        .route("/v1/audit", get(list_audit))
        .route("/v1/pause", post(pause))
        .route("/v1/resume", post(resume))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            api.clone(),
            authenticate,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(console::routes())
        .merge(protected)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(api)
}

/// Serves until `shutdown` resolves, then stops accepting connections.
pub async fn serve(
    api: Api,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, router(api))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// Name of the token the caller presented, once verified.
#[derive(Clone)]
struct Caller(String);

async fn authenticate(
    State(api): State<Api>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let caller = presented.and_then(|token| {
        api.engine
            .config()
            .api
            .tokens
            .iter()
            .find(|t| t.verify(token))
            .map(|t| t.name.clone())
    });
    match caller {
        Some(name) => {
            request.extensions_mut().insert(Caller(name));
            next.run(request).await
        }
        None => {
            api.counters
                .requests_refused
                .fetch_add(1, Ordering::Relaxed);
            let mut response = error(StatusCode::UNAUTHORIZED, "missing or invalid bearer token");
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Bearer".parse().expect("static header"),
            );
            response
        }
    }
}

async fn healthz(State(api): State<Api>) -> Response {
    match api.engine.store().is_paused().await {
        Ok(paused) => Json(json!({"status": "ok", "paused": paused})).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}")),
    }
}

async fn post_events(State(api): State<Api>, body: Bytes) -> Response {
    let events = match rectify_ingest::parse_body(&body, &rectify_ingest::Limits::default()) {
        Ok(events) => events,
        Err(e) => {
            api.counters.events_rejected.fetch_add(1, Ordering::Relaxed);
            let status = match e {
                rectify_ingest::IngestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            return error(status, e.to_string());
        }
    };
    let count = events.len() as u64;
    match api.engine.submit(events, "http").await {
        Ok(submitted) => {
            api.counters
                .events_accepted
                .fetch_add(count, Ordering::Relaxed);
            (StatusCode::ACCEPTED, Json(json!({"events": submitted}))).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "could not store events");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "could not store the events; retry",
            )
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobsQuery {
    state: Option<String>,
    rule: Option<String>,
    limit: Option<usize>,
}

async fn list_jobs(State(api): State<Api>, Query(q): Query<JobsQuery>) -> Response {
    let state = match q.state.as_deref().map(|s| JobState::parse(s).ok_or(s)) {
        Some(Err(s)) => return error(StatusCode::BAD_REQUEST, format!("unknown state {s}")),
        Some(Ok(s)) => Some(s),
        None => None,
    };
    let filter = JobFilter {
        state,
        rule_id: q.rule,
        limit: q.limit.unwrap_or(100).min(1000),
    };
    match api.engine.store().list_jobs(&filter).await {
        Ok(jobs) => Json(json!({"jobs": jobs})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn get_job(State(api): State<Api>, Path(id): Path<String>) -> Response {
    match api.engine.store().get_job(&id).await {
        Ok(Some(job)) => Json(job).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no job {id}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn approve_job(
    State(api): State<Api>,
    axum::Extension(Caller(caller)): axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    match api.engine.approve(&id, &format!("api:{caller}")).await {
        Ok(job) => Json(job).into_response(),
        Err(e) => error(StatusCode::CONFLICT, e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    limit: Option<usize>,
    after: Option<i64>,
}

async fn list_findings(State(api): State<Api>, Query(q): Query<LimitQuery>) -> Response {
    match api
        .engine
        .store()
        .list_findings(q.limit.unwrap_or(100).min(1000))
        .await
    {
        Ok(rows) => Json(json!({"findings": rows})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn list_audit(State(api): State<Api>, Query(q): Query<LimitQuery>) -> Response {
    let limit = q.limit.unwrap_or(100).min(1000);
    match api.engine.store().audit(q.after.unwrap_or(0), limit).await {
        Ok(records) => Json(json!({"records": records})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn set_paused(api: &Api, caller: &str, paused: bool) -> Response {
    match api
        .engine
        .store()
        .set_paused(paused, &format!("api:{caller}"))
        .await
    {
        Ok(()) => Json(json!({"paused": paused})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn pause(
    State(api): State<Api>,
    axum::Extension(Caller(c)): axum::Extension<Caller>,
) -> Response {
    set_paused(&api, &c, true).await
}

async fn resume(
    State(api): State<Api>,
    axum::Extension(Caller(c)): axum::Extension<Caller>,
) -> Response {
    set_paused(&api, &c, false).await
}

async fn metrics(State(api): State<Api>) -> Response {
    let mut out = String::new();
    let c = &api.counters;
    for (name, help, value) in [
        (
            "rectify_http_requests_refused_total",
            "Requests refused for a missing or bad token.",
            &c.requests_refused,
        ),
        (
            "rectify_events_accepted_total",
            "Events accepted over HTTP (after fan-out).",
            &c.events_accepted,
        ),
        (
            "rectify_event_bodies_rejected_total",
            "Bodies refused as malformed or too large.",
            &c.events_rejected,
        ),
    ] {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
            value.load(Ordering::Relaxed)
        ));
    }
    out.push_str(&api.engine.metrics().render());
    if let Ok(counts) = api.engine.store().count_jobs().await {
        out.push_str(
            "# HELP rectify_jobs Jobs in the store by state.\n# TYPE rectify_jobs gauge\n",
        );
        for (state, n) in counts {
            out.push_str(&format!("rectify_jobs{{state=\"{state}\"}} {n}\n"));
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
