//! Notification channels that are not AWS services, and [`ChannelNotifier`],
//! the engine's `Notifier` that sends each channel name to its kind: SNS
//! topics through the AWS notifier it is given, webhooks, Slack and Teams
//! over HTTP(S), all on the same retrying delivery.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use rectify_config::Channel;
use rectify_model::{ActionError, Mailer, Notification, Notifier};

pub mod chat;
pub mod coalesce;
pub mod sign;
pub mod smtp;
pub mod webhook;

pub use webhook::{Retry, WebhookSender};

/// Routes a channel name (what the engine passes as the destination) to
/// its channel, coalescing bursts on channels that ask for it.
pub struct ChannelNotifier {
    inner: Arc<Deliver>,
    coalesce: coalesce::Coalescer,
    fallback: BTreeMap<String, String>,
}

/// What sends one notification to one channel.
struct Deliver {
    channels: BTreeMap<String, Channel>,
    sns: Arc<dyn Notifier>,
    webhooks: WebhookSender,
    retry: Retry,
    ses: Option<Arc<dyn Mailer>>,
    ses_region: String,
}

impl ChannelNotifier {
    /// `sns` gets the topic ARN of SNS channels as its destination.
    pub fn new(channels: BTreeMap<String, Channel>, sns: Arc<dyn Notifier>) -> Self {
        Self::with_retry(channels, sns, Retry::default())
    }

    pub fn with_retry(
        channels: BTreeMap<String, Channel>,
        sns: Arc<dyn Notifier>,
        retry: Retry,
    ) -> Self {
        ChannelNotifier {
            inner: Arc::new(Deliver {
                channels,
                sns,
                webhooks: WebhookSender::new(retry),
                retry,
                ses: None,
                ses_region: String::new(),
            }),
            coalesce: coalesce::Coalescer::default(),
            fallback: BTreeMap::new(),
        }
    }

    /// SES channels send through `mailer`, in `default_region` unless the
    /// channel names one.
    pub fn with_ses(mut self, mailer: Arc<dyn Mailer>, default_region: &str) -> Self {
        let inner = Arc::get_mut(&mut self.inner).expect("set up before first use");
        inner.ses = Some(mailer);
        inner.ses_region = default_region.to_string();
        self
    }

    /// Within `window` of a message to a channel, further messages for the
    /// same rule and outcome are held and counted; one summary follows when
    /// the window ends.
    pub fn with_coalescing(mut self, windows: BTreeMap<String, std::time::Duration>) -> Self {
        self.coalesce = coalesce::Coalescer::new(windows);
        self
    }

    /// When a delivery to a channel fails, the message goes to its
    /// fallback channel (one hop); the failure is still reported.
    pub fn with_fallbacks(mut self, fallback: BTreeMap<String, String>) -> Self {
        self.fallback = fallback;
        self
    }
}

/// `to`, plus the account's owner when the channel asks and the owner is
/// an address; never empty.
pub fn recipients(
    to: &[String],
    to_owner: bool,
    notification: &Notification,
) -> Result<Vec<String>, ActionError> {
    let mut all = to.to_vec();
    if to_owner {
        let owner = notification.message.get("owner").and_then(|o| o.as_str());
        // An owner that is not an address (a team name) adds no recipient.
        if let Some(o) = owner.filter(|o| o.contains('@') && !o.contains(char::is_whitespace)) {
            if !all.iter().any(|a| a.eq_ignore_ascii_case(o)) {
                all.push(o.to_string());
            }
        }
    }
    if all.is_empty() {
        return Err(ActionError::invalid(
            "no recipient: the account has no owner address and `to` is empty",
        ));
    }
    Ok(all)
}

fn url(secret: &rectify_config::Secret) -> Result<String, ActionError> {
    String::from_utf8(secret.0.clone())
        .map_err(|_| ActionError::invalid("the webhook URL is not UTF-8"))
}

#[async_trait]
impl Notifier for ChannelNotifier {
    async fn publish(&self, channel: &str, notification: &Notification) -> Result<(), ActionError> {
        let inner = self.inner.clone();
        let flush = move |channel: String, summary: Notification| async move {
            if let Err(e) = inner.deliver(&channel, &summary).await {
                tracing::error!(channel = %channel, error = %e, "coalesced summary failed");
            }
        };
        if self.coalesce.hold(channel, notification, flush) {
            return Ok(());
        }
        let Err(error) = self.inner.deliver(channel, notification).await else {
            return Ok(());
        };
        let Some(other) = self.fallback.get(channel) else {
            return Err(error);
        };
        // The engine audits this channel's failure; the note says where
        // the message went instead.
        let note = match self.inner.deliver(other, notification).await {
            Ok(()) => format!("delivered to the fallback channel `{other}` instead"),
            Err(e) => format!("the fallback channel `{other}` failed too: {e}"),
        };
        Err(ActionError::new(
            error.class,
            format!("{}; {note}", error.message),
        ))
    }
}

impl Deliver {
    async fn deliver(&self, channel: &str, notification: &Notification) -> Result<(), ActionError> {
        match self.channels.get(channel) {
            Some(Channel::Sns { topic_arn }) => self.sns.publish(topic_arn, notification).await,
            Some(Channel::Webhook(hook)) => {
                self.webhooks
                    .send(&hook.url, &hook.secret.0, &webhook::body(notification))
                    .await
            }
            // Chat webhooks are not signed: their URL is the credential.
            Some(Channel::Slack { webhook_url }) => {
                let body = chat::slack(notification).to_string().into_bytes();
                self.webhooks.send(&url(webhook_url)?, b"", &body).await
            }
            Some(Channel::Teams { webhook_url }) => {
                let body = chat::teams(notification).to_string().into_bytes();
                self.webhooks.send(&url(webhook_url)?, b"", &body).await
            }
            Some(Channel::Smtp(relay)) => smtp::send(relay, notification, &self.retry).await,
            Some(Channel::Ses {
                from,
                to,
                region,
                to_owner,
            }) => {
                let Some(ses) = &self.ses else {
                    return Err(ActionError::invalid("no SES mailer is set up"));
                };
                let region = region.as_deref().unwrap_or(&self.ses_region);
                let subject = notification.subject.trim();
                let to = recipients(to, *to_owner, notification)?;
                ses.send_mail(region, from, &to, subject, &notification.plain_text())
                    .await
            }
            None => Err(ActionError::invalid(format!(
                "notification channel `{channel}` is not configured"
            ))),
        }
    }
}
