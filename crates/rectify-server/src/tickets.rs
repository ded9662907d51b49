//! `POST /v1/tickets/{system}/webhook`: a ticket system saying one of its
//! tickets changed. Authenticated by an HMAC signature under
//! `tickets.webhook_secret_*` (`X-Rectify-Timestamp` and
//! `X-Rectify-Signature: sha256=<hex>` over `<timestamp>.<body>`, within
//! a five-minute replay window) or by a bearer token with the `tickets`
//! scope. The body only names the ticket; what became of it is read from
//! the ticket system itself, so a replayed or forged body changes nothing
//! a poll would not.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rectify_config::Scope;
use rectify_model::ErrorClass;
use rectify_notify::sign::{verify, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use serde_json::{json, Value};

use crate::{client_ip, error, refuse_blocked, Api};

/// Longest ticket reference taken from a body.
const MAX_REFERENCE_LEN: usize = 64;

/// The ticket a webhook body names: `ticket`, a Jira event's `issue.key`
/// or `issue.id`, or a ServiceNow record's `number` or `sys_id` (at the
/// top or under `result`).
fn reference(body: &Value) -> Option<String> {
    [
        "/ticket",
        "/issue/key",
        "/issue/id",
        "/number",
        "/sys_id",
        "/result/number",
        "/result/sys_id",
    ]
    .iter()
    .find_map(|p| body.pointer(p).and_then(Value::as_str))
    .filter(|r| {
        (1..=MAX_REFERENCE_LEN).contains(&r.len())
            && r.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    })
    .map(str::to_string)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether the request carries a valid signature or a bearer token with
/// the `tickets` scope.
fn authenticated(api: &Api, headers: &axum::http::HeaderMap, body: &[u8]) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let settings = &api.engine.config().tickets;
    if let (Some(ts), Some(sig), Some(secret)) = (
        text(TIMESTAMP_HEADER),
        text(SIGNATURE_HEADER),
        settings.webhook_secret.as_ref(),
    ) {
        return verify(&secret.0, ts, sig, body, unix_now());
    }
    let Some(presented) = text(header::AUTHORIZATION.as_str())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
    else {
        return false;
    };
    // Every token is compared, as for the other routes.
    let mut allowed = false;
    for token in &api.engine.config().api.tokens {
        if token.verify(presented) && token.allows(Scope::Tickets) {
            allowed = true;
        }
    }
    allowed
}

pub(crate) async fn webhook(
    State(api): State<Api>,
    Path(system): Path<String>,
    request: Request,
) -> Response {
    let ip = client_ip(&request);
    if let Some(refused) = refuse_blocked(&api, ip) {
        return refused;
    }
    let (parts, body) = request.into_parts();
    let limit = api.engine.config().api.max_body_bytes;
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes (api.max_body_bytes)"),
        );
    };
    if !authenticated(&api, &parts.headers, &body) {
        api.failures.fail(ip);
        return error(
            StatusCode::UNAUTHORIZED,
            "missing or invalid signature, or a bearer token without the `tickets` scope",
        );
    }
    let Some(tickets) = api.engine.tickets() else {
        return error(StatusCode::NOT_FOUND, "no ticket systems are configured");
    };
    let Some(ticket) = serde_json::from_slice::<Value>(&body)
        .ok()
        .as_ref()
        .and_then(reference)
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body names no ticket (`ticket`, `issue.key`, `number` or `sys_id`: letters, digits, `-`, `_`, `.`)",
        );
    };
    match tickets.ticket_changed(&system, &ticket).await {
        Ok(result) => (
            StatusCode::OK,
            Json(json!({"ticket": ticket, "result": result})),
        )
            .into_response(),
        Err(e) if e.class == ErrorClass::NotFound => error(StatusCode::NOT_FOUND, e.message),
        Err(e) => {
            tracing::warn!(system = %system, ticket = %ticket, error = %e, "ticket webhook: could not follow the ticket");
            error(StatusCode::BAD_GATEWAY, e.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_from_vendor_bodies() {
        assert_eq!(
            reference(&json!({"ticket": "INC0010001"})).as_deref(),
            Some("INC0010001")
        );
        assert_eq!(
            reference(&json!({"webhookEvent": "jira:issue_updated", "issue": {"id": "10001", "key": "SEC-7"}})).as_deref(),
            Some("SEC-7")
        );
        assert_eq!(
            reference(&json!({"result": {"sys_id": "a1b2"}})).as_deref(),
            Some("a1b2")
        );
        assert_eq!(reference(&json!({"ticket": "x' OR 1=1"})), None);
        assert_eq!(reference(&json!({"ticket": "A".repeat(65)})), None);
        assert_eq!(reference(&json!({"other": 1})), None);
    }
}
