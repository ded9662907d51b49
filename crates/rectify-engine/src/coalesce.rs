//! Coalescing channels (`coalesce_seconds`): the first message for a rule
//! and outcome goes to the outbox and opens a window in the store
//! ([`rectify_store::coalesce`]), in one transaction; the messages that
//! follow within the window are counted into it instead of being sent.
//! When the window has closed, whichever process delivers the outbox
//! first claims it, composes the summary
//! ([`rectify_notify::coalesce::summary`]) and, in one transaction,
//! removes the window and writes the summary to the outbox, whose delivery
//! (retries, claim after a crash) it then goes through. So a restart does
//! not resend the first message of a window, replicas share one window,
//! and each window is summed up once.

use std::time::Duration;

use rectify_model::Notification;
use rectify_notify::coalesce::{about, summary, window_key};
use rectify_store::{outbox, timefmt, CoalesceHold, CoalesceWindow, OutboxItem};
use serde_json::json;

use crate::outbox::CLAIM;
use crate::Engine;

/// Windows claimed per round.
const BATCH: usize = 20;
/// `job_id` of a summary in the outbox and its audit records' subject.
pub const COALESCED_JOB_PREFIX: &str = "coalesced:";

impl Engine {
    /// The window of `channel` when it coalesces.
    pub(crate) fn coalesce_window(&self, channel: &str) -> Option<Duration> {
        self.config
            .notify_coalesce
            .get(channel)
            .map(|secs| Duration::from_secs(*secs))
    }

    /// Offers `items` (messages for coalescing channels, claimed by this
    /// process) to their windows. Returns the ones that opened a window,
    /// written to the outbox, to send now; the others are held and
    /// audited as `notification.held`. `Err` gives the items back when
    /// the store cannot take them.
    pub(crate) async fn hold_for_coalescing(
        &self,
        job_id: &str,
        notification: &Notification,
        items: Vec<OutboxItem>,
    ) -> Result<Vec<OutboxItem>, Vec<OutboxItem>> {
        if items.is_empty() {
            return Ok(items);
        }
        let (rule, what) = window_key(&notification.message);
        let (account, resource) = about(&notification.message);
        let holds: Vec<CoalesceHold> = items
            .iter()
            .map(|item| CoalesceHold {
                channel: item.channel.clone(),
                rule: rule.clone(),
                what: what.clone(),
                account: account.clone(),
                resource: resource.clone(),
                closes_at: timefmt::now_plus(
                    self.coalesce_window(&item.channel).unwrap_or_default(),
                ),
                message: item.clone(),
            })
            .collect();
        let held = match self.store.coalesce_hold(&holds).await {
            Ok(held) => held,
            Err(e) => {
                tracing::error!(error = %e, "could not count notifications into their coalescing windows; sending them");
                return Err(items);
            }
        };
        let mut send = Vec::new();
        for (item, held) in items.into_iter().zip(held) {
            if held {
                let data =
                    json!({"channel": item.channel, "outcome": item.outcome, "coalesced": true});
                crate::effects::audit(self, "notification.held", job_id, data).await;
            } else {
                send.push(item);
            }
        }
        Ok(send)
    }

    /// Sums up and sends the windows that have closed. Returns how many
    /// summaries were sent.
    pub async fn deliver_coalesced(&self) -> usize {
        let token = uuid::Uuid::now_v7().to_string();
        let mut sent = 0;
        loop {
            let claimed = match self
                .store
                .coalesce_claim(&token, &timefmt::now_plus(CLAIM), BATCH)
                .await
            {
                Ok(windows) => windows,
                Err(e) => {
                    tracing::error!(error = %e, "could not read the coalescing windows");
                    return sent;
                }
            };
            let full = claimed.len() == BATCH;
            for window in claimed {
                if let Some(message) = self.close_window(&token, &window).await {
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

    /// The summary of a claimed window, written to the outbox (claimed by
    /// this process) as the window is removed; `None` when it held nothing
    /// after its first message, or when another process has it now or a
    /// message came in since the claim (the next round sums it up).
    async fn close_window(&self, token: &str, window: &CoalesceWindow) -> Option<OutboxItem> {
        let length = self.coalesce_window(&window.channel).unwrap_or_default();
        let message = (window.held > 0).then(|| {
            let summary = summary(
                &window.rule,
                &window.what,
                window.held,
                &window.accounts,
                &window.resources,
                length,
            );
            let now = timefmt::now();
            OutboxItem {
                id: uuid::Uuid::now_v7().to_string(),
                channel: window.channel.clone(),
                job_id: format!("{COALESCED_JOB_PREFIX}{}", window.channel),
                outcome: "coalesced".into(),
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
            .coalesce_close(window, token, message.as_ref())
            .await
        {
            Ok(true) => message,
            Ok(false) => None,
            Err(e) => {
                // The claim runs out and the window is taken up again.
                tracing::error!(error = %e, channel = %window.channel, "could not close a coalescing window");
                None
            }
        }
    }
}
