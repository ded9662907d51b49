//! Email through an SMTP relay (lettre, rustls): STARTTLS required unless
//! the relay is on loopback, AUTH when the config gives a login, transient
//! (4xx, connection) failures retried within the delivery bound.

use std::time::Instant;

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rectify_config::Smtp;
use rectify_model::{ActionError, ErrorClass, Notification};

use crate::template::Rendered;
use crate::webhook::Retry;

fn invalid(what: &str, e: impl std::fmt::Display) -> ActionError {
    ActionError::invalid(format!("smtp: {what}: {e}"))
}

/// The message: `From`, `To` (every address), the rendered subject and
/// plain-text body.
pub fn message(
    smtp: &Smtp,
    notification: &Notification,
    rendered: &Rendered,
) -> Result<Message, ActionError> {
    let from: Mailbox = smtp.from.parse().map_err(|e| invalid("from", e))?;
    let mut builder = Message::builder().from(from);
    for to in &crate::recipients(&smtp.to, smtp.to_owner, notification)? {
        builder = builder.to(to.parse().map_err(|e| invalid("to", e))?);
    }
    builder
        .subject(rendered.subject.trim())
        .message_id(None)
        .date_now()
        .header(ContentType::TEXT_PLAIN)
        .body(rendered.body.clone())
        .map_err(|e| invalid("message", e))
}

fn transport(
    smtp: &Smtp,
    retry: &Retry,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, ActionError> {
    let tls = if smtp.starttls {
        let mut params = TlsParameters::builder(smtp.host.clone());
        if let Some(path) = &smtp.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| invalid(&format!("ca_file {}", path.display()), e))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| invalid("ca_file", e))?;
            params = params.add_root_certificate(cert);
        }
        Tls::Required(params.build_rustls().map_err(|e| invalid("TLS", e))?)
    } else {
        Tls::None
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(retry.request_timeout));
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        let password = String::from_utf8(password.0.clone())
            .map_err(|_| ActionError::invalid("smtp: the password is not UTF-8"))?;
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

/// Sends one message, retrying transient failures with backoff.
pub async fn send(
    smtp: &Smtp,
    notification: &Notification,
    rendered: &Rendered,
    retry: &Retry,
) -> Result<(), ActionError> {
    let email = message(smtp, notification, rendered)?;
    let mailer = transport(smtp, retry)?;
    let deadline = Instant::now() + retry.budget;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let error = match mailer.send(email.clone()).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_permanent() => {
                // 5xx: a refused login or address; retrying will not help.
                let class = match e.status().map(u16::from) {
                    Some(530 | 534 | 535) => ErrorClass::AccessDenied,
                    _ => ErrorClass::Invalid,
                };
                return Err(ActionError::new(class, format!("smtp: {e}")));
            }
            Err(e) => ActionError::new(ErrorClass::Transient, format!("smtp: {e}")),
        };
        let wait = retry.first_backoff * 2u32.saturating_pow(attempt - 1);
        if attempt >= retry.attempts || Instant::now() + wait >= deadline {
            return Err(ActionError::new(
                error.class,
                format!("{} (gave up after {attempt} attempts)", error.message),
            ));
        }
        tracing::warn!(attempt, error = %error, "email delivery failed; retrying");
        tokio::time::sleep(wait).await;
    }
}
