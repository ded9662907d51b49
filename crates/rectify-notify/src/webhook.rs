//! Webhook delivery: a signed JSON POST, retried with backoff on 429, 5xx
//! and connection failures within a short bound, so a dead endpoint costs
//! a settled job seconds, never its remediation.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rectify_model::{ActionError, ErrorClass};

use crate::sign::{signature, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// How hard one delivery tries.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Requests at most, the first included.
    pub attempts: u32,
    /// Wait before the second request; doubled before each next one.
    pub first_backoff: Duration,
    /// The whole delivery, waits included, ends within this.
    pub budget: Duration,
    /// One request's bound.
    pub request_timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 4,
            first_backoff: Duration::from_millis(500),
            budget: Duration::from_secs(10),
            request_timeout: Duration::from_secs(5),
        }
    }
}

pub struct WebhookSender {
    client: reqwest::Client,
    retry: Retry,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the
/// services rectify posts to, and falls back to the backoff).
pub fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    value
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// How an HTTP API's refusal is taken: 429 and 5xx are retried, the rest
/// are not.
pub fn status_class(status: u16) -> ErrorClass {
    match status {
        429 => ErrorClass::Throttled,
        500..=599 => ErrorClass::Transient,
        401 | 403 => ErrorClass::AccessDenied,
        404 | 410 => ErrorClass::NotFound,
        _ => ErrorClass::Invalid,
    }
}

impl WebhookSender {
    pub fn new(retry: Retry) -> Self {
        let client = reqwest::Client::builder()
            // A redirect would re-send the signed body somewhere not configured.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("rectify/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's TLS setup");
        WebhookSender { client, retry }
    }

    /// POSTs `body` to `url`, signed when `secret` is not empty. Errors
    /// never show the URL: a chat webhook's URL is itself the credential.
    pub async fn send(&self, url: &str, secret: &[u8], body: &[u8]) -> Result<(), ActionError> {
        let deadline = Instant::now() + self.retry.budget;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let mut request = self
                .client
                .post(url)
                .timeout(self.retry.request_timeout.min(remaining))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
            if !secret.is_empty() {
                // Signed afresh on each attempt: the timestamp is the send's.
                let ts = unix_now();
                request = request
                    .header(TIMESTAMP_HEADER, ts.to_string())
                    .header(SIGNATURE_HEADER, signature(secret, ts, body));
            }
            let (error, hint) = match request.send().await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => {
                    let status = response.status();
                    let class = status_class(status.as_u16());
                    let error =
                        ActionError::new(class, format!("webhook answered {}", status.as_u16()));
                    if !class.retryable() {
                        return Err(error);
                    }
                    (error, retry_after(&response))
                }
                Err(e) => (
                    ActionError::new(
                        ErrorClass::Transient,
                        format!("webhook request failed: {}", e.without_url()),
                    ),
                    None,
                ),
            };
            let backoff = self.retry.first_backoff * 2u32.saturating_pow(attempt - 1);
            let wait = hint.unwrap_or(backoff);
            if attempt >= self.retry.attempts {
                return Err(ActionError::new(
                    error.class,
                    format!("{} (gave up after {attempt} attempts)", error.message),
                ));
            }
            if Instant::now() + wait >= deadline {
                return Err(ActionError::new(
                    error.class,
                    format!(
                        "{} (gave up after {attempt} attempts: waiting {}s more would pass the {}s delivery bound)",
                        error.message,
                        wait.as_secs_f32(),
                        self.retry.budget.as_secs()
                    ),
                ));
            }
            tracing::warn!(attempt, error = %error, "webhook delivery failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}
