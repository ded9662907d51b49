//! The SQS source: long-polls a queue fed by an EventBridge rule (or an SNS
//! topic), hands each batch of bodies to the intake as one submission, and
//! deletes a message only once its events are committed. A crash between
//! the commit and the delete redelivers the message; ingest knows its
//! events by id, and an open job for the same finding takes it in (a
//! finished one runs again and changes nothing). A body that can never be taken
//! (malformed JSON, an event over 256 KB, events the store refuses) is
//! left on the queue, so that the queue's redrive policy moves it to its
//! dead-letter queue, while the other messages of its batch are deleted:
//! the intake gives each body its own verdict.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use rectify_model::{ActionError, Intake};
use tokio::sync::watch;

use crate::errors::sdk_error;

/// What to poll and how.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    pub queue_url: String,
    /// Long-polling wait of each receive, 0..=20 s.
    pub wait_seconds: u32,
    /// Messages per receive, 1..=10.
    pub max_messages: u32,
}

/// Counts since start, for logs and metrics.
#[derive(Debug, Default)]
pub struct SqsStats {
    pub received: AtomicU64,
    /// Deleted after their events were committed.
    pub accepted: AtomicU64,
    /// Left for the dead-letter queue: they can never be taken.
    pub rejected: AtomicU64,
    /// Receives, deletes or submissions that failed (and are retried).
    pub errors: AtomicU64,
}

/// What one poll did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Polled {
    pub received: usize,
    pub accepted: usize,
    pub rejected: usize,
}

/// Longest pause after failures in a row.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

pub struct SqsSource {
    client: aws_sdk_sqs::Client,
    settings: QueueSettings,
    stats: SqsStats,
}

impl SqsSource {
    /// `config` carries the queue's region and rectify's own credentials.
    pub fn new(config: &SdkConfig, settings: QueueSettings) -> SqsSource {
        SqsSource {
            client: aws_sdk_sqs::Client::new(config),
            settings,
            stats: SqsStats::default(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.settings.queue_url
    }

    pub fn stats(&self) -> &SqsStats {
        &self.stats
    }

    /// Polls until `stop` turns true. A receive in flight is dropped at
    /// once (its messages come back after their visibility timeout); a
    /// batch being committed is finished first. Failures pause the loop,
    /// 1 s doubling to 60 s.
    pub async fn run(&self, intake: &dyn Intake, mut stop: watch::Receiver<bool>) {
        let mut failures = 0u32;
        while !*stop.borrow() {
            // Only the receive is cut short by a stop; a batch received is
            // committed and deleted first.
            let received = tokio::select! {
                received = self.receive() => received,
                _ = stop.wait_for(|s| *s) => break,
            };
            let polled = match received {
                Ok(messages) => self.hand_over(intake, &messages).await,
                Err(e) => Err(e),
            };
            match polled {
                Ok(_) => failures = 0,
                Err(e) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    let pause = backoff(failures);
                    failures = failures.saturating_add(1);
                    tracing::warn!(
                        queue = %self.settings.queue_url,
                        error = %e,
                        retry_in_s = pause.as_secs(),
                        "SQS source"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
            }
        }
    }

    /// One round: receive up to `max_messages`, submit their bodies as one
    /// batch, delete the ones whose events are durable.
    pub async fn poll_once(&self, intake: &dyn Intake) -> Result<Polled, ActionError> {
        let messages = self.receive().await?;
        self.hand_over(intake, &messages).await
    }

    /// One long-polling receive.
    async fn receive(&self) -> Result<Vec<Message>, ActionError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.settings.queue_url)
            .max_number_of_messages(self.settings.max_messages as i32)
            .wait_time_seconds(self.settings.wait_seconds as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| sdk_error("sqs:ReceiveMessage", e))?;
        Ok(out.messages.unwrap_or_default())
    }

    /// Submits the bodies as one batch and deletes what was committed.
    async fn hand_over(
        &self,
        intake: &dyn Intake,
        messages: &[Message],
    ) -> Result<Polled, ActionError> {
        let mut polled = Polled {
            received: messages.len(),
            ..Polled::default()
        };
        if messages.is_empty() {
            return Ok(polled);
        }
        self.stats
            .received
            .fetch_add(messages.len() as u64, Ordering::Relaxed);
        let bodies: Vec<&[u8]> = messages
            .iter()
            .map(|m| m.body().unwrap_or_default().as_bytes())
            .collect();
        // An error of the whole call (the store unavailable): nothing is
        // deleted; a message committed meanwhile comes back and is
        // recognised by its events' ids.
        let verdicts = intake.take(&bodies, "sqs").await.map_err(|e| {
            ActionError::new(
                rectify_model::ErrorClass::Transient,
                format!("submitting SQS messages: {e}"),
            )
        })?;
        let mut done = Vec::new();
        for (message, verdict) in messages.iter().zip(verdicts) {
            let id = message.message_id().unwrap_or_default();
            match verdict {
                Ok(_) => done.push(message),
                Err(reason) => {
                    polled.rejected += 1;
                    let receives = message
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .map(String::as_str)
                        .unwrap_or("?");
                    tracing::warn!(
                        queue = %self.settings.queue_url,
                        message_id = id,
                        receives,
                        %reason,
                        "SQS message refused; left on the queue for its dead-letter queue"
                    );
                }
            }
        }
        self.stats
            .rejected
            .fetch_add(polled.rejected as u64, Ordering::Relaxed);
        polled.accepted = self.delete(&done).await?;
        self.stats
            .accepted
            .fetch_add(polled.accepted as u64, Ordering::Relaxed);
        Ok(polled)
    }

    /// Deletes the messages; a message whose delete fails comes back and
    /// is recognised by its events' ids. Returns how many were deleted.
    async fn delete(
        &self,
        messages: &[&aws_sdk_sqs::types::Message],
    ) -> Result<usize, ActionError> {
        if messages.is_empty() {
            return Ok(0);
        }
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .map_err(|e| ActionError::invalid(format!("sqs:DeleteMessageBatch: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .delete_message_batch()
            .queue_url(&self.settings.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| sdk_error("sqs:DeleteMessageBatch", e))?;
        for failed in out.failed() {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                queue = %self.settings.queue_url,
                entry = failed.id(),
                code = failed.code(),
                "SQS message committed but not deleted: it will come back and be recognised"
            );
        }
        Ok(out.successful().len())
    }
}

/// 1 s, 2 s, 4 s, ... up to [`MAX_BACKOFF`].
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(6)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_minute() {
        let secs: Vec<u64> = (0..9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
