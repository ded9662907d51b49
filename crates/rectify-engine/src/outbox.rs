//! Notifications go through the store's outbox: written before they are
//! sent, sent at once, and when a channel fails, sent again later with
//! backoff by whichever process runs [`Engine::deliver_outbox`] (`serve`
//! every few seconds, `process` at its end, the Lambda handler at the end
//! of each invocation). A crash between the write and the send leaves the
//! message claimed; the claim runs out and it is sent then. A message
//! that still fails after [`MAX_ATTEMPTS`] is `dead` and audited.

use std::time::Duration;

use rectify_model::Notification;
use rectify_store::{outbox, timefmt, OutboxItem};
use serde_json::json;

use crate::Engine;

/// Attempts before a message is given up (the last one about three
/// hours after the first, with the backoff below).
pub const MAX_ATTEMPTS: u32 = 10;
/// How long a sender holds a claimed message before another may take it.
pub const CLAIM: Duration = Duration::from_secs(120);
/// The wait after the first failure; doubled after each, up to [`MAX_WAIT`].
pub const FIRST_WAIT: Duration = Duration::from_secs(30);
pub const MAX_WAIT: Duration = Duration::from_secs(3600);
/// Messages claimed per round.
const BATCH: usize = 50;

/// The wait before attempt `attempts + 1`.
pub fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    FIRST_WAIT.saturating_mul(1 << doublings).min(MAX_WAIT)
}

impl Engine {
    /// Writes `notification` to the outbox once per channel in
    /// `channels`, claimed by this process, and sends each now. When the
    /// store cannot take it, it is sent anyway (once, without a retry).
    pub(crate) async fn notify_channels(
        &self,
        job_id: &str,
        channels: &[String],
        notification: &Notification,
        what: &str,
    ) {
        let (digest, channels): (Vec<String>, Vec<String>) = channels
            .iter()
            .cloned()
            .partition(|c| self.digest_period(c).is_some());
        // A digest channel's message waits in the store for its period's
        // end; when the store cannot take it, it is sent now instead.
        let channels = match self.hold_for_digest(&digest, notification).await {
            Ok(()) => {
                for channel in &digest {
                    let data = json!({"channel": channel, "outcome": what});
                    crate::effects::audit(self, "notification.held", job_id, data).await;
                }
                channels
            }
            Err(e) => {
                tracing::error!(error = %e, "could not hold notifications for a digest; sending them now");
                channels.into_iter().chain(digest).collect()
            }
        };
        if channels.is_empty() {
            return;
        }
        let now = timefmt::now();
        let claim = timefmt::now_plus(CLAIM);
        let body = json!({"subject": notification.subject, "message": notification.message});
        let items: Vec<OutboxItem> = channels
            .iter()
            .map(|channel| OutboxItem {
                id: uuid::Uuid::now_v7().to_string(),
                channel: channel.clone(),
                job_id: job_id.to_string(),
                outcome: what.to_string(),
                body: body.clone(),
                attempts: 1,
                next_attempt_at: claim.clone(),
                state: outbox::PENDING.to_string(),
                last_error: None,
                created_at: now.clone(),
                updated_at: now.clone(),
            })
            .collect();
        // A coalescing channel's message opens its window (written to the
        // outbox with it) or is counted into the open one.
        let (windowed, items): (Vec<OutboxItem>, Vec<OutboxItem>) = items
            .into_iter()
            .partition(|i| self.coalesce_window(&i.channel).is_some());
        let (opened, items) = match self
            .hold_for_coalescing(job_id, notification, windowed)
            .await
        {
            Ok(opened) => (opened, items),
            Err(windowed) => (Vec::new(), items.into_iter().chain(windowed).collect()),
        };
        for item in opened {
            self.send(item, true).await;
        }
        if items.is_empty() {
            return;
        }
        let durable = match self.store.outbox_put(&items).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "could not write notifications to the outbox; sending without retry");
                false
            }
        };
        for item in items {
            self.send(item, durable).await;
        }
    }

    /// Sends what is due in the outbox: the digests whose period has
    /// ended ([`crate::digest`]), the summaries of coalescing windows that
    /// have closed ([`crate::coalesce`]), messages whose earlier attempt failed and
    /// whose wait is over, and messages a sender claimed and never
    /// settled. Returns how many were sent.
    pub async fn deliver_outbox(&self) -> usize {
        let mut sent = self.deliver_digests().await;
        sent += self.deliver_coalesced().await;
        loop {
            let claimed = match self
                .store
                .outbox_claim(&timefmt::now_plus(CLAIM), BATCH)
                .await
            {
                Ok(items) => items,
                Err(e) => {
                    tracing::error!(error = %e, "could not read the outbox");
                    return sent;
                }
            };
            let full = claimed.len() == BATCH;
            for item in claimed {
                if self.send(item, true).await {
                    sent += 1;
                }
            }
            if !full {
                return sent;
            }
        }
    }

    /// One attempt at one message; settles it and audits the result.
    pub(crate) async fn send(&self, item: OutboxItem, durable: bool) -> bool {
        let notification = Notification {
            subject: item.body["subject"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            message: item.body["message"].clone(),
        };
        let result = self.notifier.publish(&item.channel, &notification).await;
        let (state, next, error) = match &result {
            Ok(()) => (outbox::SENT, timefmt::now(), None),
            Err(_) if item.attempts >= MAX_ATTEMPTS || !durable => {
                (outbox::DEAD, timefmt::now(), result.as_ref().err())
            }
            Err(e) => (
                outbox::PENDING,
                timefmt::now_plus(backoff(item.attempts)),
                Some(e),
            ),
        };
        let error_text = error.map(|e| e.to_string());
        if durable {
            if let Err(e) = self
                .store
                .outbox_settle(&item.id, state, &next, error_text.as_deref())
                .await
            {
                // The claim runs out and the message is sent again: a
                // channel may see it twice, never not at all.
                tracing::error!(error = %e, id = %item.id, "could not settle an outbox message");
            }
        }
        let data = match &error_text {
            None => {
                json!({"channel": item.channel, "outcome": item.outcome, "attempt": item.attempts})
            }
            Some(e) => json!({
                "channel": item.channel, "outcome": item.outcome, "attempt": item.attempts,
                "error": e, "next_attempt_at": (state == outbox::PENDING).then_some(&next),
            }),
        };
        let kind = match state {
            s if s == outbox::SENT => "notification.sent",
            s if s == outbox::DEAD => "notification.dead",
            _ => "notification.failed",
        };
        if let Some(e) = &error_text {
            tracing::error!(channel = %item.channel, error = %e, attempt = item.attempts, "notification failed");
        }
        crate::effects::audit(self, kind, &item.job_id, data).await;
        result.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_from_thirty_seconds_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(2), Duration::from_secs(60));
        assert_eq!(backoff(3), Duration::from_secs(120));
        assert_eq!(backoff(8), Duration::from_secs(3600));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(3600));
    }
}
