//! JSON over HTTPS to a ticket system: basic auth, bounded answers, and
//! retries on 429 (after its `Retry-After`), 5xx and connection failures
//! within a time budget, as for webhooks.

use std::time::{Duration, Instant};

use rectify_model::{ActionError, ErrorClass};
use rectify_notify::webhook::{retry_after, status_class};
use rectify_notify::Retry;
use serde_json::Value;

/// Longest answer read from a ticket system.
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// Longest wait a `Retry-After` may ask for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

pub struct Http {
    client: reqwest::Client,
    base: String,
    user: String,
    secret: String,
    retry: Retry,
    /// Names the system in errors (`servicenow`, `jira`).
    label: &'static str,
}

impl Http {
    pub fn new(label: &'static str, base: &str, user: &str, secret: &[u8], retry: Retry) -> Http {
        let client = reqwest::Client::builder()
            // Credentials go with every request: never to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("rectify/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's TLS setup");
        Http {
            client,
            base: base.trim_end_matches('/').to_string(),
            user: user.to_string(),
            secret: String::from_utf8_lossy(secret).into_owned(),
            retry,
            label,
        }
    }

    /// Sends `method path` (path and query, already encoded) with `body`
    /// as JSON; the answer's JSON (`Null` for an empty one) when it is a
    /// 2xx. Errors name the method, the path without its query, and the
    /// status, never the credentials.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ActionError> {
        let what = format!(
            "{} {} {}",
            self.label,
            method,
            path.split('?').next().unwrap_or(path)
        );
        let deadline = Instant::now() + self.retry.budget;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let mut request = self
                .client
                .request(method.clone(), format!("{}{path}", self.base))
                .timeout(self.retry.request_timeout.min(remaining))
                .basic_auth(&self.user, Some(&self.secret))
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            let (error, hint) = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let hint = retry_after(&response);
                    let text = read_bounded(response).await;
                    if status.is_success() {
                        let text = text.map_err(|e| {
                            ActionError::new(ErrorClass::Transient, format!("{what}: {e}"))
                        })?;
                        if text.trim().is_empty() {
                            return Ok(Value::Null);
                        }
                        return serde_json::from_str(&text).map_err(|e| {
                            ActionError::invalid(format!("{what}: the answer is not JSON: {e}"))
                        });
                    }
                    let class = status_class(status.as_u16());
                    let detail = text.map(|t| short(&t)).unwrap_or_default();
                    let error = ActionError::new(
                        class,
                        format!("{what} answered {}: {detail}", status.as_u16()),
                    );
                    if !class.retryable() {
                        return Err(error);
                    }
                    (error, hint)
                }
                Err(e) => (
                    ActionError::new(
                        ErrorClass::Transient,
                        format!("{what} failed: {}", e.without_url()),
                    ),
                    None,
                ),
            };
            let backoff = self.retry.first_backoff * 2u32.saturating_pow(attempt - 1);
            let wait = hint.map(|h| h.min(MAX_RETRY_AFTER)).unwrap_or(backoff);
            if attempt >= self.retry.attempts || Instant::now() + wait >= deadline {
                return Err(ActionError::new(
                    error.class,
                    format!("{} (gave up after {attempt} attempts)", error.message),
                ));
            }
            tracing::warn!(attempt, error = %error, "ticket system request failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

async fn read_bounded(mut response: reqwest::Response) -> Result<String, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| e.without_url().to_string())?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!(
                "the answer is larger than {MAX_ANSWER_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The start of an error answer, on one line.
fn short(text: &str) -> String {
    let line: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
    line
}

/// `s` percent-encoded for a URL's query or path segment.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
