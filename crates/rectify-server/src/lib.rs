//! The HTTP source and API of `rectify serve`, and its approval console.
//!
//! Every route but `/healthz` and the console's static page needs
//! `Authorization: Bearer <token>` with a token from the config's
//! `api.tokens`, and the token needs the route's scope: `ingest` for
//! `POST /v1/events`, `read` for the `GET` routes, `approve` for approvals,
//! `admin` for pause and resume. A refused request stores nothing. Query
//! parameters a route does not take are refused (400) everywhere.

mod console;
mod console_api;
mod history;
mod limit;
mod listen;
mod tickets;
mod tls;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rectify_config::{ApiSettings, Scope};
use rectify_engine::Engine;
use rectify_model::JobState;
use rectify_store::{FindingCursor, FindingFilter, JobCursor, JobFilter, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

pub use listen::serve;

/// Bodies larger than this are parsed on a blocking thread, so that a big
/// batch does not hold up the runtime's workers.
const PARSE_INLINE_MAX: usize = 64 * 1024;
/// How long a `/healthz` answer is reused: every probe is a write.
const HEALTH_TTL: Duration = Duration::from_secs(2);
/// The longest a health probe may take before the store counts as down.
const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Default)]
struct Counters {
    requests_refused: AtomicU64,
    requests_rate_limited: AtomicU64,
    connections_refused: AtomicU64,
    events_accepted: AtomicU64,
    events_rejected: AtomicU64,
}

/// When the store was last checked, and the paused flag if it was healthy.
type Verdict = (Instant, Option<bool>);

/// A check of the audit anchors written so far: its report is shown as is.
pub type AnchorFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<serde_json::Value>> + Send>>;
/// Makes an [`AnchorFuture`] each time the audit page asks.
pub type AnchorCheck = Arc<dyn Fn() -> AnchorFuture + Send + Sync>;

/// The audit chain's last verdict, reused for a while.
#[derive(Clone)]
struct AuditChecked {
    at: Instant,
    verdict: rectify_store::AuditVerdict,
    anchors: serde_json::Value,
}

#[derive(Clone)]
pub struct Api {
    engine: Arc<Engine>,
    counters: Arc<Counters>,
    failures: Arc<limit::AuthFailures>,
    /// The last health verdict: when, and the paused flag if healthy.
    health: Arc<tokio::sync::Mutex<Option<Verdict>>>,
    /// The catalog's coverage per standard, as `rectify catalog
    /// --coverage --json` prints it.
    coverage: Option<Arc<serde_json::Value>>,
    anchors: Option<AnchorCheck>,
    audit_verdict: Arc<tokio::sync::Mutex<Option<AuditChecked>>>,
    /// The last `GET /v1/overview` answer and when it was computed.
    overview: Arc<tokio::sync::Mutex<Option<(Instant, serde_json::Value)>>>,
    /// The last `GET /v1/history` computation.
    history: history::Cache,
}

impl Api {
    pub fn new(engine: Arc<Engine>) -> Api {
        let settings = &engine.config().api;
        let failures = limit::AuthFailures::new(
            settings.max_auth_failures,
            Duration::from_secs(settings.auth_failure_window_seconds),
        );
        Api {
            engine,
            counters: Arc::default(),
            failures: Arc::new(failures),
            health: Arc::default(),
            coverage: None,
            anchors: None,
            audit_verdict: Arc::default(),
            overview: Arc::default(),
            history: Arc::default(),
        }
    }

    /// The coverage `GET /v1/rules` shows.
    pub fn with_coverage(mut self, coverage: serde_json::Value) -> Api {
        self.coverage = Some(Arc::new(coverage));
        self
    }

    /// How `GET /v1/audit/verify` checks the anchors (`audit.anchor`).
    pub fn with_anchors(mut self, check: AnchorCheck) -> Api {
        self.anchors = Some(check);
        self
    }
}

/// Checks `api.tls` can be served (the files read and the key fits the
/// certificate), so `serve` fails at start rather than in its task.
pub fn check_tls(settings: &ApiSettings) -> anyhow::Result<()> {
    if let Some(files) = &settings.tls {
        tls::acceptor(files)?;
    }
    Ok(())
}

/// The peer of the connection a request came on.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

pub fn router(api: Api) -> Router {
    let protected = Router::new()
        .route("/v1/events", post(post_events))
        .route("/v1/jobs", get(list_jobs))
        .route("/v1/jobs/{id}", get(get_job))
        .route("/v1/jobs/{id}/approve", post(approve_job))
        .route("/v1/jobs/{id}/revert", post(revert_job))
        .route("/v1/jobs/{id}/reject", post(console_api::reject_job))
        .route("/v1/jobs/{id}/retry", post(console_api::retry_job))
        .route("/v1/jobs/{id}/audit", get(console_api::job_audit))
        .route("/v1/findings", get(list_findings))
        .route("/v1/finding", get(console_api::get_finding))
        .route("/v1/fix", post(console_api::fix))
        .route("/v1/overview", get(console_api::overview))
        .route("/v1/history", get(history::history))
        .route("/v1/rules", get(console_api::rules))
        .route("/v1/audit", get(list_audit))
        .route("/v1/audit/verify", get(console_api::audit_verify))
        .route("/v1/whoami", get(console_api::whoami))
        .route("/v1/pause", post(pause))
        .route("/v1/resume", post(resume))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            api.clone(),
            authenticate,
        ));
    let public = Router::new()
        .route("/healthz", get(healthz))
        // Authenticated in the handler: a signature or a `tickets` token.
        .route("/v1/tickets/{system}/webhook", post(tickets::webhook))
        .merge(console::routes())
        .route_layer(axum::middleware::from_fn(refuse_unknown_query));
    let max_body = api.engine.config().api.max_body_bytes;
    Router::new()
        .merge(public)
        .merge(protected)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(api.clone(), bound))
        .with_state(api)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// A request refused before any work: its status and message.
struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

fn bad_request(message: impl Into<String>) -> Refused {
    Refused(StatusCode::BAD_REQUEST, message.into())
}

/// A failure inside rectify: logged (redacted), and answered without
/// internals.
fn internal(what: &str, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %redact(&e.to_string()), "{what}");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("{what}: internal error (details in the server log)"),
    )
}

/// Takes passwords out of URLs (`scheme://user:secret@`) and `password=`
/// parameters in a message.
fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '/' || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&authority[..colon]);
                out.push_str(":***");
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    let lower = out.to_ascii_lowercase();
    if let Some(start) = lower.find("password=") {
        let value = start + "password=".len();
        let end = out[value..]
            .find(|c: char| c.is_whitespace() || c == '&' || c == '"' || c == '\'')
            .map_or(out.len(), |e| value + e);
        out.replace_range(value..end, "***");
    }
    out
}

/// The query parameters each route takes.
fn allowed_query(route: &str) -> &'static [&'static str] {
    match route {
        "/v1/jobs" => &[
            "state", "rule", "account", "action", "finding", "limit", "after",
        ],
        "/v1/findings" => &[
            "account", "control", "severity", "state", "rule", "limit", "after",
        ],
        "/v1/audit" => &["limit", "after"],
        "/v1/finding" => &["id", "product_arn"],
        "/v1/history" => &["days"],
        "/v1/jobs/{id}/reject" => &["reason"],
        "/v1/pause" | "/v1/resume" => &["rule"],
        "/v1/jobs/{id}/approve" => &["plan_digest"],
        _ => &[],
    }
}

/// The query as pairs, refused (400) when it names a parameter the route
/// does not take, or one twice.
fn query(route: &str, uri: &Uri) -> Result<Vec<(String, String)>, Refused> {
    let pairs: Vec<(String, String)> = match uri.query() {
        None | Some("") => Vec::new(),
        Some(_) => match axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri) {
            Ok(q) => q.0,
            Err(e) => return Err(bad_request(format!("query: {e}"))),
        },
    };
    let allowed = allowed_query(route);
    for (i, (key, _)) in pairs.iter().enumerate() {
        if !allowed.contains(&key.as_str()) {
            let takes = if allowed.is_empty() {
                "takes no query parameters".to_string()
            } else {
                format!("takes {}", allowed.join(", "))
            };
            return Err(bad_request(format!(
                "unknown query parameter `{key}`: {route} {takes}"
            )));
        }
        if pairs[..i].iter().any(|(k, _)| k == key) {
            return Err(bad_request(format!("query parameter `{key}` given twice")));
        }
    }
    Ok(pairs)
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

async fn refuse_unknown_query(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    if let Err(refused) = query(&route, request.uri()) {
        return refused.into_response();
    }
    next.run(request).await
}

/// The outer bounds of every request: a declared length over
/// `api.max_body_bytes` is 413 at once; the whole request must be answered
/// within `api.request_timeout_seconds` (503). Bodies are read only once
/// the caller is authenticated ([`read_body_bounded`]).
async fn bound(
    State(api): State<Api>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let settings = &api.engine.config().api;
    let max = settings.max_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return too_large(max);
    }
    let limit = Duration::from_secs(settings.request_timeout_seconds);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!("a request took longer than api.request_timeout_seconds");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "no answer within {} s (api.request_timeout_seconds); events are deduplicated by id, so retrying is safe",
                    settings.request_timeout_seconds
                ),
            )
        }
    }
}

/// Reads a POST body into memory (authenticated callers only, so that
/// strangers cannot make the server hold bodies): within
/// `api.body_read_timeout_seconds` (408, and the connection closed) and
/// `api.max_body_bytes` (413).
async fn read_body_bounded(
    settings: &ApiSettings,
    request: axum::extract::Request,
) -> Result<axum::extract::Request, Box<Response>> {
    if request.method() != Method::POST {
        return Ok(request);
    }
    let max = settings.max_body_bytes;
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(
        Duration::from_secs(settings.body_read_timeout_seconds),
        read_body(body, max),
    )
    .await;
    match read {
        Err(_) => {
            let mut response = error(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {} s (api.body_read_timeout_seconds)",
                    settings.body_read_timeout_seconds
                ),
            );
            // The rest of the body may still come: do not wait for it.
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            Err(Box::new(response))
        }
        Ok(Err(BodyError::TooLarge)) => Err(Box::new(too_large(max))),
        Ok(Err(BodyError::Broken)) => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "the body could not be read",
        ))),
        Ok(Ok(bytes)) => Ok(axum::extract::Request::from_parts(parts, Body::from(bytes))),
    }
}

fn too_large(max: usize) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the body is over {max} bytes (api.max_body_bytes)"),
    )
}

enum BodyError {
    TooLarge,
    Broken,
}

async fn read_body(body: Body, max: usize) -> Result<Bytes, BodyError> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        if out.len() + chunk.len() > max {
            return Err(BodyError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

/// Name of the token the caller presented, once verified.
#[derive(Clone)]
struct Caller(String);

/// The scope a protected route needs.
fn required_scope(method: &Method, route: &str) -> Scope {
    match (method, route) {
        (&Method::POST, "/v1/events") => Scope::Ingest,
        (
            &Method::POST,
            "/v1/jobs/{id}/approve"
            | "/v1/jobs/{id}/revert"
            | "/v1/jobs/{id}/reject"
            | "/v1/jobs/{id}/retry"
            | "/v1/fix",
        ) => Scope::Approve,
        (&Method::POST, "/v1/pause" | "/v1/resume") => Scope::Admin,
        _ => Scope::Read,
    }
}

fn client_ip(request: &axum::extract::Request) -> IpAddr {
    request
        .extensions()
        .get::<ClientAddr>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// A 429 with `Retry-After` when `ip` failed to authenticate too often.
fn refuse_blocked(api: &Api, ip: IpAddr) -> Option<Response> {
    let wait = api.failures.blocked(ip)?;
    api.counters
        .requests_rate_limited
        .fetch_add(1, Ordering::Relaxed);
    let seconds = wait.as_secs() + 1;
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many failed authentications from this address; retry in {seconds} s"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    Some(response)
}

async fn authenticate(
    State(api): State<Api>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let ip = client_ip(&request);
    if let Some(refused) = refuse_blocked(&api, ip) {
        return refused;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    // Every token is compared, so the time taken does not tell which
    // matched.
    let mut token = None;
    if let Some(presented) = presented {
        for candidate in &api.engine.config().api.tokens {
            if candidate.verify(presented) && token.is_none() {
                token = Some(candidate);
            }
        }
    }
    let Some(token) = token else {
        api.failures.fail(ip);
        api.counters
            .requests_refused
            .fetch_add(1, Ordering::Relaxed);
        let mut response = error(StatusCode::UNAUTHORIZED, "missing or invalid bearer token");
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return response;
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let scope = required_scope(request.method(), &route);
    if !token.allows(scope) {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({
                "error": format!(
                    "token `{}` lacks the `{scope}` scope that {} {route} needs (api.tokens[].scopes)",
                    token.name,
                    request.method()
                ),
                "missing_scope": scope.as_str(),
            })),
        )
            .into_response();
    }
    if let Err(refused) = query(&route, request.uri()) {
        return refused.into_response();
    }
    let mut request = match read_body_bounded(&api.engine.config().api, request).await {
        Ok(request) => request,
        Err(refused) => return *refused,
    };
    request.extensions_mut().insert(Caller(token.name.clone()));
    next.run(request).await
}

/// Liveness and whether the store still takes writes: `{"status": "ok"}`,
/// or 503 `{"status": "unhealthy"}` with the reason in the log only.
async fn healthz(State(api): State<Api>) -> Response {
    // One probe at a time, and its verdict reused briefly: the route needs
    // no token, so it must not turn requests into writes one for one.
    let mut last = api.health.lock().await;
    let verdict = match *last {
        Some((at, verdict)) if at.elapsed() < HEALTH_TTL => verdict,
        _ => {
            let verdict = probe(&api).await;
            *last = Some((Instant::now(), verdict));
            verdict
        }
    };
    drop(last);
    match verdict {
        Some(paused) => Json(json!({"status": "ok", "paused": paused})).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unhealthy"})),
        )
            .into_response(),
    }
}

/// The paused flag when the store can be read and written.
async fn probe(api: &Api) -> Option<bool> {
    let store = api.engine.store();
    let checked = tokio::time::timeout(HEALTH_PROBE_TIMEOUT, async {
        store.probe_write().await?;
        store.is_paused().await
    })
    .await;
    match checked {
        Ok(Ok(paused)) => Some(paused),
        Ok(Err(e)) => {
            tracing::error!(error = %redact(&e.to_string()), "health check: the store cannot take writes");
            None
        }
        Err(_) => {
            tracing::error!("health check: the store did not answer in time");
            None
        }
    }
}

/// How a body on `POST /v1/events` is declared.
#[derive(Clone, Copy, PartialEq)]
enum BodyKind {
    Json,
    /// What SNS HTTP(S) subscriptions send: taken only when the body is
    /// an SNS notification envelope.
    SnsText,
}

fn body_kind(headers: &HeaderMap) -> Option<BodyKind> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" | "application/x-ndjson" => Some(BodyKind::Json),
        "text/plain" => Some(BodyKind::SnsText),
        _ => None,
    }
}

fn is_sns_notification(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    #[allow(non_snake_case)]
    struct Envelope {
        Type: String,
        #[allow(dead_code)]
        TopicArn: String,
        #[allow(dead_code)]
        Message: String,
    }
    serde_json::from_slice::<Envelope>(body).is_ok_and(|e| e.Type == "Notification")
}

const UNSUPPORTED_BODY: &str = "POST /v1/events takes Content-Type: application/json (one event, an array or JSON lines; application/x-ndjson too), or text/plain only for an SNS notification envelope";

enum Parsed {
    Events(Vec<rectify_model::Event>),
    Unsupported,
    Refused(rectify_ingest::IngestError),
}

fn parse(kind: BodyKind, body: &[u8]) -> Parsed {
    if kind == BodyKind::SnsText && !is_sns_notification(body) {
        return Parsed::Unsupported;
    }
    match rectify_ingest::parse_body(body, &rectify_ingest::Limits::default()) {
        Ok(events) => Parsed::Events(events),
        Err(e) => Parsed::Refused(e),
    }
}

async fn post_events(
    State(api): State<Api>,
    axum::Extension(Caller(caller)): axum::Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(kind) = body_kind(&headers) else {
        api.counters.events_rejected.fetch_add(1, Ordering::Relaxed);
        return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, UNSUPPORTED_BODY);
    };
    let parsed = if body.len() > PARSE_INLINE_MAX {
        match tokio::task::spawn_blocking(move || parse(kind, &body)).await {
            Ok(parsed) => parsed,
            Err(e) => return internal("parsing the body", e),
        }
    } else {
        parse(kind, &body)
    };
    let events = match parsed {
        Parsed::Events(events) => events,
        Parsed::Unsupported => {
            api.counters.events_rejected.fetch_add(1, Ordering::Relaxed);
            return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, UNSUPPORTED_BODY);
        }
        Parsed::Refused(e) => {
            api.counters.events_rejected.fetch_add(1, Ordering::Relaxed);
            let status = match e {
                rectify_ingest::IngestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            return error(status, e.to_string());
        }
    };
    let count = events.len() as u64;
    match api.engine.submit(events, &format!("http:{caller}")).await {
        Ok(submitted) => {
            api.counters
                .events_accepted
                .fetch_add(count, Ordering::Relaxed);
            (StatusCode::ACCEPTED, Json(json!({"events": submitted}))).into_response()
        }
        // The database refused this content (it is not down): a retry
        // would be refused again, so the sender hears it is its request.
        Err(e) if !rectify_engine::store_unavailable(&e) => {
            tracing::warn!(error = %redact(&format!("{e:#}")), "the store refused the events");
            api.counters.events_rejected.fetch_add(1, Ordering::Relaxed);
            error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the events cannot be stored as sent; nothing was stored",
            )
        }
        Err(e) => {
            tracing::error!(error = %redact(&format!("{e:#}")), "could not store events");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "could not store the events; retry",
            )
        }
    }
}

/// `limit`: 1 to 1000, 100 when absent.
fn page_limit(pairs: &[(String, String)]) -> Result<usize, Refused> {
    match param(pairs, "limit") {
        None => Ok(100),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(bad_request(format!(
                "limit must be a whole number from 1 to 1000, not `{v}`"
            ))),
        },
    }
}

/// Cursors are opaque to clients: hex of the position's JSON.
fn encode_cursor(position: &impl Serialize) -> String {
    hex::encode(serde_json::to_vec(position).unwrap_or_default())
}

fn decode_cursor<T: DeserializeOwned>(pairs: &[(String, String)]) -> Result<Option<T>, Refused> {
    let Some(text) = param(pairs, "after") else {
        return Ok(None);
    };
    hex::decode(text)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .map(Some)
        .ok_or_else(|| {
            bad_request("after: not a cursor this API gave (use the `next` of the previous page)")
        })
}

/// Reads one row past the page to know whether there is a next one.
fn page<T>(
    mut rows: Vec<T>,
    limit: usize,
    cursor: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(cursor);
        (rows, next)
    } else {
        (rows, None)
    }
}

fn with_next(mut body: serde_json::Value, next: Option<String>) -> Response {
    if let Some(next) = next {
        body["next"] = json!(next);
    }
    Json(body).into_response()
}

async fn list_jobs(State(api): State<Api>, uri: Uri) -> Response {
    let pairs = match query("/v1/jobs", &uri) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let state = match param(&pairs, "state").map(|s| JobState::parse(s).ok_or(s)) {
        Some(Err(s)) => return error(StatusCode::BAD_REQUEST, format!("unknown state {s}")),
        Some(Ok(s)) => Some(s),
        None => None,
    };
    let (limit, after) = match (page_limit(&pairs), decode_cursor::<JobCursor>(&pairs)) {
        (Ok(l), Ok(a)) => (l, a),
        (Err(r), _) | (_, Err(r)) => return r.into_response(),
    };
    let text = |key: &str| param(&pairs, key).map(str::to_owned);
    let filter = JobFilter {
        state,
        rule_id: text("rule"),
        account: text("account"),
        action: text("action"),
        finding_id: text("finding"),
        limit: limit + 1,
        after,
    };
    match api.engine.store().list_jobs(&filter).await {
        Ok(jobs) => {
            let (jobs, next) = page(jobs, limit, |j| encode_cursor(&JobCursor::after(j)));
            let jobs: Vec<serde_json::Value> = jobs.iter().map(job_view).collect();
            with_next(json!({"jobs": jobs}), next)
        }
        Err(e) => internal("listing jobs", e),
    }
}

/// A job as the API shows it: the stored job, and the digest of its
/// planned change (`plan_digest`), which an approval can name so that it
/// holds only for the change the person saw.
fn job_view(job: &rectify_model::Job) -> serde_json::Value {
    let mut view = serde_json::to_value(job).unwrap_or_default();
    if let (Some(plan), Some(map)) = (&job.plan, view.as_object_mut()) {
        map.insert("plan_digest".into(), json!(plan.digest()));
    }
    view
}

async fn get_job(State(api): State<Api>, Path(id): Path<String>) -> Response {
    match api.engine.store().get_job(&id).await {
        Ok(Some(job)) => Json(job_view(&job)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no job {id}")),
        Err(e @ StoreError::Ambiguous { .. }) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => internal("reading the job", e),
    }
}

async fn approve_job(
    State(api): State<Api>,
    axum::Extension(Caller(caller)): axum::Extension<Caller>,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let pairs = match query("/v1/jobs/{id}/approve", &uri) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let shown = param(&pairs, "plan_digest");
    let store = api.engine.store();
    let job = match store.get_job(&id).await {
        Ok(Some(job)) => job,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no job {id}")),
        Err(e @ StoreError::Ambiguous { .. }) => {
            return error(StatusCode::BAD_REQUEST, e.to_string())
        }
        Err(e) => return internal("reading the job", e),
    };
    if api.engine.config().api.four_eyes {
        // An undo is approved by someone other than who asked for it.
        if rectify_engine::revert::requested_by(&job) == Some(format!("api:{caller}").as_str()) {
            return error(
                StatusCode::FORBIDDEN,
                format!(
                    "four eyes: token `{caller}` asked for the undo in job {}; another token must approve it (api.four_eyes)",
                    job.id
                ),
            );
        }
        match store.event_origin(&job.event_id).await {
            Ok(Some(origin)) if origin == format!("http:{caller}") => {
                return error(
                    StatusCode::FORBIDDEN,
                    format!(
                        "four eyes: token `{caller}` submitted the event of job {}; another token must approve it (api.four_eyes)",
                        job.id
                    ),
                )
            }
            Ok(_) => {}
            Err(e) => return internal("reading the job's event", e),
        }
    }
    match api
        .engine
        .approve_shown(&job.id, &format!("api:{caller}"), shown)
        .await
    {
        Ok(job) => Json(job).into_response(),
        Err(e) => match e.downcast_ref::<StoreError>() {
            Some(StoreError::InvalidState { .. }) => error(StatusCode::CONFLICT, e.to_string()),
            Some(StoreError::NotFound(_)) => error(StatusCode::NOT_FOUND, format!("no job {id}")),
            // The plan shown is no longer the plan: show it again.
            None if shown.is_some() => error(StatusCode::CONFLICT, e.to_string()),
            _ => internal("approving the job", e),
        },
    }
}

/// `POST /v1/jobs/{id}/revert`: queues the undo of a job's change, waiting
/// for approval (by another call of the approve route, so a second person
/// can look at the planned restore first).
async fn revert_job(
    State(api): State<Api>,
    axum::Extension(Caller(caller)): axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    match api.engine.store().get_job(&id).await {
        Ok(Some(_)) => {}
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no job {id}")),
        Err(e @ StoreError::Ambiguous { .. }) => {
            return error(StatusCode::BAD_REQUEST, e.to_string())
        }
        Err(e) => return internal("reading the job", e),
    }
    match api
        .engine
        .revert(&id, &format!("api:{caller}"), rectify_model::Mode::Approve)
        .await
    {
        Ok(job) => (StatusCode::ACCEPTED, Json(job)).into_response(),
        Err(e) if e.downcast_ref::<StoreError>().is_none() => {
            error(StatusCode::CONFLICT, e.to_string())
        }
        Err(e) => internal("queueing the revert", e),
    }
}

async fn list_findings(State(api): State<Api>, uri: Uri) -> Response {
    let pairs = match query("/v1/findings", &uri) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let (limit, after) = match (page_limit(&pairs), decode_cursor::<FindingCursor>(&pairs)) {
        (Ok(l), Ok(a)) => (l, a),
        (Err(r), _) | (_, Err(r)) => return r.into_response(),
    };
    let text = |key: &str| param(&pairs, key).map(str::to_owned);
    let filter = FindingFilter {
        account: text("account"),
        control: text("control"),
        severity: text("severity"),
        workflow_status: text("state"),
        rule_id: text("rule"),
        id: None,
        limit: limit + 1,
        after,
    };
    match api.engine.store().find_findings(&filter).await {
        Ok(rows) => {
            let (rows, next) = page(rows, limit, |r| encode_cursor(&FindingCursor::after(r)));
            with_next(json!({"findings": rows}), next)
        }
        Err(e) => internal("listing findings", e),
    }
}

/// The audit log's cursor is the last record's `seq`, as before.
async fn list_audit(State(api): State<Api>, uri: Uri) -> Response {
    let pairs = match query("/v1/audit", &uri) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let limit = match page_limit(&pairs) {
        Ok(l) => l,
        Err(r) => return r.into_response(),
    };
    let after = match param(&pairs, "after").map(str::parse::<i64>) {
        None => 0,
        Some(Ok(seq)) if seq >= 0 => seq,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "after: expected a record's seq (the `next` of the previous page)",
            )
        }
    };
    match api.engine.store().audit_settled(after, limit + 1).await {
        Ok(records) => {
            let (records, next) = page(records, limit, |r| r.seq.to_string());
            with_next(json!({"records": records}), next)
        }
        Err(e) => internal("reading the audit log", e),
    }
}

async fn set_paused(api: &Api, caller: &str, uri: &Uri, route: &str, paused: bool) -> Response {
    let response = set_paused_now(api, caller, uri, route, paused).await;
    // The overview shows what is paused: not as it was before this call.
    *api.overview.lock().await = None;
    response
}

async fn set_paused_now(api: &Api, caller: &str, uri: &Uri, route: &str, paused: bool) -> Response {
    let pairs = match query(route, uri) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let by = format!("api:{caller}");
    let store = api.engine.store();
    let Some(rule) = param(&pairs, "rule") else {
        return match store.set_paused(paused, &by).await {
            Ok(()) => Json(json!({"paused": paused})).into_response(),
            Err(e) => internal("setting the kill switch", e),
        };
    };
    if api.engine.config().rule(rule).is_none() {
        return error(
            StatusCode::NOT_FOUND,
            format!("no rule `{rule}` in the configuration"),
        );
    }
    let reason = format!("paused by {by}");
    match store
        .set_rule_paused(rule, paused.then_some(reason.as_str()), &by)
        .await
    {
        Ok(()) => Json(json!({"rule": rule, "paused": paused})).into_response(),
        Err(e) => internal("pausing the rule", e),
    }
}

async fn pause(
    State(api): State<Api>,
    axum::Extension(Caller(c)): axum::Extension<Caller>,
    uri: Uri,
) -> Response {
    set_paused(&api, &c, &uri, "/v1/pause", true).await
}

async fn resume(
    State(api): State<Api>,
    axum::Extension(Caller(c)): axum::Extension<Caller>,
    uri: Uri,
) -> Response {
    set_paused(&api, &c, &uri, "/v1/resume", false).await
}

async fn metrics(State(api): State<Api>) -> Response {
    let c = &api.counters;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let server = rectify_engine::metrics::counter_families(&[
        (
            "rectify_http_requests_refused_total",
            "Requests refused for a missing or bad token.",
            load(&c.requests_refused),
        ),
        (
            "rectify_http_requests_rate_limited_total",
            "Requests refused (429) after too many failed authentications.",
            load(&c.requests_rate_limited),
        ),
        (
            "rectify_http_connections_refused_total",
            "Connections closed at once because api.max_connections were open.",
            load(&c.connections_refused),
        ),
        (
            "rectify_events_accepted_total",
            "Events accepted over HTTP (after fan-out).",
            load(&c.events_accepted),
        ),
        (
            "rectify_event_bodies_rejected_total",
            "Bodies refused as malformed, too large or of another content type.",
            load(&c.events_rejected),
        ),
    ]);
    let engine = &api.engine;
    let out = engine
        .metrics()
        .render(engine.store().as_ref(), server)
        .await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_urls_and_password_parameters() {
        assert_eq!(
            redact("store: postgres://rectify:s3cret@db:5432/x failed"),
            "store: postgres://rectify:***@db:5432/x failed"
        );
        assert_eq!(
            redact("connect host=db password=hunter2 user=x"),
            "connect host=db password=*** user=x"
        );
        assert_eq!(
            redact("sqlite://rectify.db: disk full"),
            "sqlite://rectify.db: disk full"
        );
    }
}
