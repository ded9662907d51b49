//! Digest channels (`digest_minutes`): a notification for one is held in
//! the store ([`rectify_store::digest`]) instead of the outbox, a repeat
//! folded into its item by key. When the channel's period ends, whichever
//! process delivers the outbox first claims it, composes the digest
//! ([`rectify_notify::digest::Digest`]) and, in one transaction, removes
//! the items and writes the digest to the outbox, whose delivery (retries,
//! claim after a crash) it then goes through. A crash before that commit
//! leaves the items and the claim, which runs out and is taken up again;
//! after it, the outbox has the message. So each item is in exactly one
//! digest, whatever stops when.

use std::time::Duration;

use rectify_model::Notification;
use rectify_notify::digest::{item, item_key, Digest};
use rectify_store::{outbox, timefmt, DigestItem, DigestPeriod, OutboxItem};
use serde_json::json;

use crate::outbox::CLAIM;
use crate::Engine;

/// Periods claimed per round.
const BATCH: usize = 20;
/// `job_id` of a digest in the outbox and its audit records' subject.
pub const DIGEST_JOB_PREFIX: &str = "digest:";

impl Engine {
    /// The period of `channel` when it is a digest channel.
    pub(crate) fn digest_period(&self, channel: &str) -> Option<Duration> {
        self.config
            .notify_digest
            .get(channel)
            .map(|secs| Duration::from_secs(*secs))
    }

    /// Holds `notification` for the digest channels in `channels`.
    /// `Err` when the store cannot take it.
    pub(crate) async fn hold_for_digest(
        &self,
        channels: &[String],
        notification: &Notification,
    ) -> rectify_store::Result<()> {
        let key = item_key(&notification.message);
        let held = item(&notification.message);
        let items: Vec<DigestItem> = channels
            .iter()
            .filter_map(|channel| {
                let period = self.digest_period(channel)?;
                Some(DigestItem {
                    channel: channel.clone(),
                    item_key: key.clone(),
                    id: uuid::Uuid::now_v7().to_string(),
                    item: held.clone(),
                    received: 1,
                    period_ends_at: timefmt::now_plus(period),
                    max_items: self
                        .config
                        .notify_digest_max_items
                        .get(channel)
                        .copied()
                        .unwrap_or(rectify_config::DIGEST_MAX_ITEMS),
                })
            })
            .collect();
        self.store.digest_put(&items).await
    }

    /// Composes and sends the digests whose period has ended. Returns how
    /// many were sent.
    pub async fn deliver_digests(&self) -> usize {
        let token = uuid::Uuid::now_v7().to_string();
        let mut sent = 0;
        loop {
            let claimed = match self
                .store
                .digest_claim(&token, &timefmt::now_plus(CLAIM), BATCH)
                .await
            {
                Ok(periods) => periods,
                Err(e) => {
                    tracing::error!(error = %e, "could not read the digests");
                    return sent;
                }
            };
            let full = claimed.len() == BATCH;
            for period in claimed {
                if let Some(message) = self.close_digest(&token, period).await {
                    if self.send(message, true).await {
                        sent += 1;
                    }
                }
            }
            if !full {
                return sent;
            }
        }
    }

    /// The digest of a claimed period, written to the outbox (claimed by
    /// this process) as its items are removed; `None` when there is
    /// nothing to send or another process has it now.
    async fn close_digest(&self, token: &str, period: DigestPeriod) -> Option<OutboxItem> {
        let channel = period.channel;
        // A channel no longer in digest mode still gets what it is owed.
        let length = self
            .digest_period(&channel)
            .unwrap_or(Duration::from_secs(60));
        let mut digest = Digest::default();
        let mut keys = Vec::with_capacity(period.items.len());
        for held in &period.items {
            digest.add_item(&held.item, held.received);
            keys.push(held.item_key.clone());
        }
        digest.add_dropped(period.dropped);
        let message = (!digest.is_empty()).then(|| {
            let summary = digest.summary(&channel, length);
            let now = timefmt::now();
            OutboxItem {
                id: uuid::Uuid::now_v7().to_string(),
                channel: channel.clone(),
                job_id: format!("{DIGEST_JOB_PREFIX}{channel}"),
                outcome: "digest".into(),
                body: json!({"subject": summary.subject, "message": summary.message}),
                attempts: 1,
                next_attempt_at: timefmt::now_plus(CLAIM),
                state: outbox::PENDING.into(),
                last_error: None,
                created_at: now.clone(),
                updated_at: now,
            }
        });
        match self
            .store
            .digest_close(
                &channel,
                token,
                &keys,
                period.dropped,
                &timefmt::now_plus(length),
                message.as_ref(),
            )
            .await
        {
            Ok(true) => message,
            Ok(false) => None,
            Err(e) => {
                // The claim runs out and the period is taken up again.
                tracing::error!(error = %e, channel = %channel, "could not close a digest");
                None
            }
        }
    }
}
