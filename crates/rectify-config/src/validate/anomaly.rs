//! `detect.anomaly`.

use super::Ctx;
use crate::anomaly::AnomalySettings;
use crate::yaml::{join, Node, Val};

const ANOMALY_KEYS: &[&str] = &[
    "enabled",
    "warmup_buckets",
    "threshold",
    "max_entities",
    "save_interval_seconds",
];
const MAX_WARMUP_BUCKETS: u64 = 100_000;
const MAX_ENTITIES: u64 = 10_000_000;
const MAX_SAVE_INTERVAL_SECONDS: u64 = 86_400;
/// Scores of a forest of 256-point trees stay far below this; a threshold
/// above it would never fire.
const MAX_THRESHOLD: f64 = 100.0;

/// The `anomaly` key of the `detect` mapping (the rest of `detect` is
/// read elsewhere).
pub(super) fn read_anomaly(cx: &mut Ctx, detect: &Node) -> AnomalySettings {
    let mut settings = AnomalySettings::default();
    // A `detect` that is not a mapping is reported by the signature
    // detections' reader, once.
    let Val::Map(entries) = &detect.val else {
        return settings;
    };
    let Some(node) = entries
        .iter()
        .find(|e| e.key == "anomaly")
        .map(|e| &e.value)
    else {
        return settings;
    };
    let field = "detect.anomaly";
    let Some(f) = cx.fields(node, field, ANOMALY_KEYS) else {
        return settings;
    };
    if let Some(n) = f.opt("enabled") {
        if let Some(b) = cx.boolean(n, &join(field, "enabled")) {
            settings.enabled = b;
        }
    }
    if let Some(v) = cx.opt_u64(&f, field, "warmup_buckets", 1, MAX_WARMUP_BUCKETS) {
        settings.warmup_buckets = v;
    }
    if let Some(v) = cx.opt_u64(&f, field, "max_entities", 1, MAX_ENTITIES) {
        settings.max_entities = v;
    }
    if let Some(v) = cx.opt_u64(
        &f,
        field,
        "save_interval_seconds",
        1,
        MAX_SAVE_INTERVAL_SECONDS,
    ) {
        settings.save_interval_seconds = v;
    }
    if let Some(n) = f.opt("threshold") {
        let at = join(field, "threshold");
        match &n.val {
            Val::Number(num, _) if num.as_f64().is_some_and(|v| v > 0.0 && v <= MAX_THRESHOLD) => {
                settings.threshold = num.as_f64().unwrap_or(settings.threshold);
            }
            _ => cx.err(
                n.pos,
                &at,
                format!(
                    "expected a number above 0 and at most {MAX_THRESHOLD}, found {}",
                    n.val.kind()
                ),
            ),
        }
    }
    settings
}
