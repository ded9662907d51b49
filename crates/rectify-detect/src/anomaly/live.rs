//! The anomaly detector inside a running engine (`rectify serve`,
//! `rectify process`, the Lambda function): records from submissions in,
//! quiet entities' buckets closed on a timer, state saved to the store on
//! an interval and at the end, without holding up submissions while it
//! writes.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rectify_store::Store;
use serde_json::Value;

use super::{AnomalyDetector, AnomalySettings};
use crate::{Detection, Detector, Record};

/// A bucket is closed by the timer once its minute is this many minutes
/// behind the newest record seen (or behind the clock when no record came
/// since the last tick): CloudTrail delivers most events within a few
/// minutes, and a record that arrives later than this counts in a new
/// bucket of its entity.
pub const QUIET_MINUTES: i64 = 10;

struct State {
    detector: AnomalyDetector,
    /// Newest record minute since the last tick.
    newest_minute: Option<i64>,
}

/// The detector shared by the submitting threads, the timer and the saver.
pub struct LiveAnomaly {
    state: Mutex<State>,
    store: Arc<dyn Store>,
    interval: Duration,
    /// When the last save reached the store; held while saving, so that
    /// saves reach the store one at a time and in order.
    saved_at: tokio::sync::Mutex<Option<Instant>>,
}

impl LiveAnomaly {
    /// The detector with the state `store` holds; `None` when
    /// `detect.anomaly.enabled` is false.
    pub async fn load(
        settings: &AnomalySettings,
        region: &str,
        store: Arc<dyn Store>,
    ) -> rectify_store::Result<Option<LiveAnomaly>> {
        let Some(detector) = super::load_for(settings, region, store.as_ref()).await? else {
            return Ok(None);
        };
        Ok(Some(LiveAnomaly::new(detector, store)))
    }

    pub fn new(detector: AnomalyDetector, store: Arc<dyn Store>) -> LiveAnomaly {
        LiveAnomaly {
            interval: detector.save_interval(),
            state: Mutex::new(State {
                detector,
                newest_minute: None,
            }),
            store,
            // Loaded just now: the first save is due an interval later.
            saved_at: tokio::sync::Mutex::new(Some(Instant::now())),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not stop detection for good.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Observes `records` in time order (a log file is not strictly
    /// ordered, and a bucket closes at the first record of a later minute).
    pub fn observe(&self, records: &[&Value]) -> Vec<Detection> {
        let mut timed: Vec<Record<'_>> = records.iter().map(|r| Record::new(r)).collect();
        timed.sort_by_cached_key(|r| r.epoch_seconds().unwrap_or(i64::MIN));
        let mut state = self.state();
        let mut out = Vec::new();
        for record in timed {
            if let Some(s) = record.epoch_seconds() {
                let minute = s.div_euclid(60);
                state.newest_minute = Some(state.newest_minute.map_or(minute, |m| m.max(minute)));
            }
            out.extend(state.detector.observe(record));
        }
        out
    }

    /// Closes the buckets of entities gone quiet: minutes more than
    /// [`QUIET_MINUTES`] before the newest record since the last tick, or
    /// before `now` (seconds since the epoch) when none came or the newest
    /// is in the future.
    pub fn tick(&self, now: i64) -> Vec<Detection> {
        let now_minute = now.div_euclid(60);
        let mut state = self.state();
        let reference = match state.newest_minute.take() {
            Some(m) => m.min(now_minute),
            None => now_minute,
        };
        state
            .detector
            .flush_before(reference.saturating_sub(QUIET_MINUTES))
    }

    /// Writes what changed since the last save, when `save_interval_seconds`
    /// has passed since it (or `force`). A failed write is logged, and the
    /// next call writes everything again; the detector is not locked while
    /// the store writes.
    pub async fn save(&self, force: bool) -> bool {
        let mut saved_at = self.saved_at.lock().await;
        if !force && saved_at.is_some_and(|t| t.elapsed() < self.interval) {
            return true;
        }
        let save = self.state().detector.take_save();
        let rows = save.rows();
        match save.write(self.store.as_ref()).await {
            Ok(()) => {
                *saved_at = Some(Instant::now());
                tracing::debug!(rows, "anomaly detector state saved");
                true
            }
            Err(e) => {
                self.state().detector.save_failed();
                // Due again at the next call.
                *saved_at = None;
                tracing::warn!("anomaly detector state not saved (retried at the next save): {e}");
                false
            }
        }
    }

    /// The counters of one kind's model.
    pub fn model_stats(&self, kind: super::Kind) -> super::ModelStats {
        self.state().detector.model_stats(kind)
    }

    /// Closes every open bucket (the end of a run over files).
    pub fn flush(&self) -> Vec<Detection> {
        self.state().detector.flush()
    }
}
