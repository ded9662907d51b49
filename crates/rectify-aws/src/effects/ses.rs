//! `Mailer` through SES v2 `SendEmail` (a simple text message).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use rectify_model::{ActionError, Mailer};

use crate::errors::sdk_error;
use crate::Aws;

pub struct SesMailer {
    aws: Arc<Aws>,
}

impl SesMailer {
    pub fn new(aws: Arc<Aws>) -> Self {
        SesMailer { aws }
    }
}

fn utf8(text: &str) -> Result<Content, ActionError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| ActionError::invalid(format!("ses:SendEmail: {e}")))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send_mail(
        &self,
        region: &str,
        from: &str,
        to: &[String],
        subject: &str,
        text: &str,
    ) -> Result<(), ActionError> {
        let client = aws_sdk_sesv2::Client::new(&self.aws.own_config(region));
        let message = Message::builder()
            .subject(utf8(subject)?)
            .body(Body::builder().text(utf8(text)?).build())
            .build();
        client
            .send_email()
            .from_email_address(from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(to.to_vec()))
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| sdk_error("ses:SendEmail", e))?;
        Ok(())
    }
}
