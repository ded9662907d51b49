//! `Intake`: what a polling source (an SQS queue, a Lambda invocation)
//! hands its messages to.

use async_trait::async_trait;

use crate::Event;

/// Takes message bodies in: ingest, route and plan them, and commit their
/// events and jobs durably. Implemented over the engine by the binary; a
/// source only decides what to acknowledge.
#[async_trait]
pub trait Intake: Send + Sync {
    /// One verdict per body, in order: `Ok(events)` once the body's events
    /// are durable, so the source may acknowledge (delete) it; `Err(reason)`
    /// when the body can never be taken (malformed, too large, refused by
    /// the store), so the source leaves it to its dead-letter queue; one
    /// body's refusal never holds back the others. An `Err` of the whole call
    /// means the store could not take the batch: acknowledge nothing and
    /// try later (a body committed before it failed comes back and is
    /// recognised by its events' ids).
    async fn take(
        &self,
        bodies: &[&[u8]],
        origin: &str,
    ) -> Result<Vec<Result<usize, String>>, IntakeError>;

    /// Like [`Intake::take`], but events already stored are left out
    /// before anything is routed: a poll reads some findings again on
    /// purpose (its overlap window), and must not queue them twice.
    async fn take_new(
        &self,
        bodies: &[&[u8]],
        origin: &str,
    ) -> Result<Vec<Result<usize, String>>, IntakeError>;

    /// A polling source's saved position; `None` before its first save.
    async fn cursor(&self, source: &str) -> Result<Option<String>, IntakeError>;

    /// Saves a polling source's position, once what it covers is durable.
    async fn save_cursor(&self, source: &str, value: &str) -> Result<(), IntakeError>;
}

/// The store (or something else the whole batch needs) failed; no body of
/// the batch was taken.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct IntakeError(pub String);

/// Reads the events of each submission and may add events of its own to
/// it: the threat detectors take CloudTrail API calls in and give their
/// detections (source [`crate::DETECTOR_SOURCE`]) back, committed with
/// what they came from. Runs on the submitting thread, before routing;
/// it must bound its own work and state.
#[async_trait]
pub trait EventTap: Send + Sync {
    fn derive(&self, events: &[Event]) -> Vec<Event>;

    /// Events that the passing of time alone makes (a detector's window
    /// of an entity that went quiet, closed and scored); `now` is seconds
    /// since the epoch. A daemon calls this on a timer and submits what
    /// it gives.
    fn tick(&self, _now: i64) -> Vec<Event> {
        Vec::new()
    }

    /// Writes the state the tap keeps between runs, when its interval has
    /// passed or `force` says so (at shutdown, at the end of a one-shot
    /// run). Never fails the caller: a tap logs a failed write and writes
    /// again at the next call.
    async fn save_state(&self, _force: bool) {}
}
