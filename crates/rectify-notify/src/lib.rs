//! Notification channels that are not AWS services, and [`ChannelNotifier`],
//! the engine's `Notifier` that sends each channel name to its kind: SNS
//! topics through the AWS notifier it is given, webhooks, Slack and Teams
//! over HTTP(S), all on the same retrying delivery. Digests are composed
//! by the engine from what the store holds ([`digest`]) and sent here like
//! any other message.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use rectify_config::Channel;
use rectify_model::{ActionError, Mailer, Notification, Notifier};

pub mod chat;
pub mod coalesce;
pub mod digest;
pub mod sign;
pub mod smtp;
pub mod template;
pub mod webhook;

pub use webhook::{Retry, WebhookSender};

/// Routes a channel name (what the engine passes as the destination) to
/// its channel. Coalescing and digests are the engine's (they are kept in
/// the store); this sends what it is given.
pub struct ChannelNotifier {
    inner: Arc<Deliver>,
    fallback: BTreeMap<String, String>,
    severities: BTreeMap<String, Vec<String>>,
}

/// What sends one notification to one channel.
struct Deliver {
    channels: BTreeMap<String, Channel>,
    templates: BTreeMap<String, template::Templates>,
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
        let templates = channels
            .iter()
            .map(|(name, channel)| {
                let kind = template::Kind::of(channel);
                (name.clone(), template::Templates::built_in(kind))
            })
            .collect();
        ChannelNotifier {
            inner: Arc::new(Deliver {
                channels,
                templates,
                sns,
                webhooks: WebhookSender::new(retry),
                retry,
                ses: None,
                ses_region: String::new(),
            }),
            fallback: BTreeMap::new(),
            severities: BTreeMap::new(),
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

    /// Channels named in `own` render with their own templates (checked
    /// at config load; an error here names the channel and part).
    pub fn with_templates(
        mut self,
        own: &BTreeMap<String, rectify_config::ChannelTemplate>,
    ) -> Result<Self, String> {
        let inner = Arc::get_mut(&mut self.inner).expect("set up before first use");
        inner.templates = template::for_channels(&inner.channels, own)?;
        Ok(self)
    }

    /// Channels in `severities` take only notifications of those
    /// severities (and those that carry none: dead jobs, breakers).
    pub fn with_severities(mut self, severities: BTreeMap<String, Vec<String>>) -> Self {
        self.severities = severities;
        self
    }

    /// When a delivery to a channel fails, the message goes to its
    /// fallback channel (one hop); the failure is still reported.
    pub fn with_fallbacks(mut self, fallback: BTreeMap<String, String>) -> Self {
        self.fallback = fallback;
        self
    }
}

/// The owner a message goes to: the resource's owner tag when it is an
/// address, else the account's owner (from the config or its
/// Organizations tag) when that is one.
fn owner_address(notification: &Notification) -> Option<&str> {
    ["resource_owner", "owner"]
        .iter()
        .filter_map(|key| notification.message.get(*key).and_then(|o| o.as_str()))
        // An owner that is not an address (a team name) is no recipient.
        .find(|o| {
            o.contains('@')
                && !o.contains(char::is_whitespace)
                && !o.contains(',')
                && o.len() <= 254
        })
}

/// `to`, plus the owner ([`owner_address`]) when the channel asks; never
/// empty (with no one to send to, the channel fails and its fallback, if
/// any, gets the message).
pub fn recipients(
    to: &[String],
    to_owner: bool,
    notification: &Notification,
) -> Result<Vec<String>, ActionError> {
    let mut all = to.to_vec();
    if to_owner {
        if let Some(o) = owner_address(notification) {
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

/// Sends `notification` to `channel`, or to its fallback when that fails.
async fn deliver_or_fall_back(
    inner: &Deliver,
    fallback: Option<&String>,
    channel: &str,
    notification: &Notification,
) -> Result<(), ActionError> {
    let Err(error) = inner.deliver(channel, notification).await else {
        return Ok(());
    };
    let Some(other) = fallback else {
        return Err(error);
    };
    // The caller reports this channel's failure; the note says where the
    // message went instead.
    let note = match inner.deliver(other, notification).await {
        Ok(()) => format!("delivered to the fallback channel `{other}` instead"),
        Err(e) => format!("the fallback channel `{other}` failed too: {e}"),
    };
    Err(ActionError::new(
        error.class,
        format!("{}; {note}", error.message),
    ))
}

#[async_trait]
impl Notifier for ChannelNotifier {
    fn takes(&self, channel: &str, notification: &Notification) -> bool {
        let Some(wanted) = self.severities.get(channel) else {
            return true;
        };
        match notification
            .message
            .get("severity")
            .and_then(|s| s.as_str())
        {
            Some(severity) => wanted.iter().any(|w| w.eq_ignore_ascii_case(severity)),
            None => true,
        }
    }

    async fn publish(&self, channel: &str, notification: &Notification) -> Result<(), ActionError> {
        deliver_or_fall_back(
            &self.inner,
            self.fallback.get(channel),
            channel,
            notification,
        )
        .await
    }
}

impl Deliver {
    async fn deliver(&self, channel: &str, notification: &Notification) -> Result<(), ActionError> {
        let (Some(config), Some(templates)) =
            (self.channels.get(channel), self.templates.get(channel))
        else {
            return Err(ActionError::invalid(format!(
                "notification channel `{channel}` is not configured"
            )));
        };
        let rendered = templates.render(notification)?;
        match config {
            Channel::Sns { topic_arn } => {
                self.sns
                    .publish_rendered(topic_arn, notification, &rendered.subject, &rendered.body)
                    .await
            }
            Channel::Webhook(hook) => {
                self.webhooks
                    .send(&hook.url, &hook.secret.0, rendered.body.as_bytes())
                    .await
            }
            // Chat webhooks are not signed: their URL is the credential.
            Channel::Slack { webhook_url } | Channel::Teams { webhook_url } => {
                self.webhooks
                    .send(&url(webhook_url)?, b"", rendered.body.as_bytes())
                    .await
            }
            Channel::Smtp(relay) => smtp::send(relay, notification, &rendered, &self.retry).await,
            Channel::Ses {
                from,
                to,
                region,
                to_owner,
            } => {
                let Some(ses) = &self.ses else {
                    return Err(ActionError::invalid("no SES mailer is set up"));
                };
                let region = region.as_deref().unwrap_or(&self.ses_region);
                let to = recipients(to, *to_owner, notification)?;
                ses.send_mail(region, from, &to, &rendered.subject, &rendered.body)
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn about(message: serde_json::Value) -> Notification {
        Notification {
            subject: "s".into(),
            message,
        }
    }

    #[test]
    fn the_resource_owner_comes_before_the_account_owner() {
        let both = about(
            json!({"resource_owner": "data-team@example.com", "owner": "payments@example.com"}),
        );
        assert_eq!(
            recipients(&[], true, &both).unwrap(),
            ["data-team@example.com"]
        );
        // A tag that is a team name, not an address, falls to the account's.
        let named = about(json!({"resource_owner": "data team", "owner": "payments@example.com"}));
        assert_eq!(
            recipients(&["sec@example.com".into()], true, &named).unwrap(),
            ["sec@example.com", "payments@example.com"]
        );
        let hostile = about(json!({"resource_owner": "a@example.com,b@example.com"}));
        assert!(recipients(&[], true, &hostile).is_err());
        assert_eq!(
            recipients(&["sec@example.com".into()], false, &both).unwrap(),
            ["sec@example.com"]
        );
    }
}
