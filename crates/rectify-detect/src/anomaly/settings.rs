//! `detect.anomaly`: the streaming anomaly detector's settings. They live
//! here, beside the detector, and `rectify_config::anomaly` re-exports
//! them for the config loader.

/// The default `detect.anomaly.warmup_buckets`.
pub const DEFAULT_WARMUP_BUCKETS: u64 = 30;
/// The default `detect.anomaly.threshold`.
pub const DEFAULT_THRESHOLD: f64 = 3.0;
/// The default `detect.anomaly.max_entities`.
pub const DEFAULT_MAX_ENTITIES: u64 = 10_000;
/// The default `detect.anomaly.save_interval_seconds`.
pub const DEFAULT_SAVE_INTERVAL_SECONDS: u64 = 300;

/// `detect.anomaly`.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalySettings {
    /// Off unless set: the detector keeps state per principal, account and
    /// network interface, which is memory and store space to opt into.
    pub enabled: bool,
    /// Closed one-minute buckets an entity needs before its buckets are
    /// scored (and before they teach the model).
    pub warmup_buckets: u64,
    /// The Random Cut Forest score above which a bucket is an anomaly.
    pub threshold: f64,
    /// Entities tracked per kind (principals, accounts, flow sources and
    /// interfaces); the least recently seen is dropped for a new one.
    pub max_entities: u64,
    /// How often `rectify serve` writes the detector's state to the store
    /// (it also does on shutdown).
    pub save_interval_seconds: u64,
}

impl Default for AnomalySettings {
    fn default() -> Self {
        AnomalySettings {
            enabled: false,
            warmup_buckets: DEFAULT_WARMUP_BUCKETS,
            threshold: DEFAULT_THRESHOLD,
            max_entities: DEFAULT_MAX_ENTITIES,
            save_interval_seconds: DEFAULT_SAVE_INTERVAL_SECONDS,
        }
    }
}
