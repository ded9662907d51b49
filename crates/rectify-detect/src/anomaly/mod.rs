//! Streaming anomaly detection: a Random Cut Forest (the `rcf3` crate)
//! over what each principal, account and network source does per minute.
//!
//! Every CloudTrail record counts toward a one-minute bucket of its
//! principal (the user, or the role behind a session) and of its account;
//! every VPC flow log record toward a bucket of its network interface and
//! of its source address (addresses of the network's own side only). A
//! bucket closes when a record of a later minute arrives for the same
//! entity, or on [`AnomalyDetector::flush`] /
//! [`AnomalyDetector::flush_before`]. A closed bucket becomes a point
//! (calls per minute and against the entity's usual, distinct APIs, error
//! rate, APIs, regions and source networks the entity never used; for
//! flows: bytes out and against the usual, connections, new destinations,
//! rejected connections, destination ports), which the kind's forest
//! scores once the entity has closed `warmup_buckets` buckets. A score
//! above `threshold` is a [`Detection`] (`anomaly-principal`,
//! `anomaly-account`, `anomaly-flow`); anomalous buckets of one entity
//! less than 15 minutes apart update one finding.
//!
//! # How to run it
//!
//! ```no_run
//! # async fn run(settings: &rectify_detect::anomaly::AnomalySettings, store: &dyn rectify_store::Store) -> rectify_store::Result<()> {
//! use rectify_detect::anomaly;
//! use rectify_detect::Detector;
//!
//! // At start: the state saved by the last run (an empty detector when
//! // there is none). `None` when `detect.anomaly.enabled` is false.
//! let Some(mut detector) = anomaly::load_for(settings, "us-east-1", store).await? else { return Ok(()) };
//! # let record = serde_json::json!({});
//! for raw in rectify_detect::records(&record) {
//!     for detection in detector.observe(rectify_detect::Record::new(raw)) {
//!         let _event = detection.event(); // submit like any other event
//!     }
//! }
//! for _detection in detector.observe_flow("2 111122223333 eni-1 10.0.1.5 203.0.113.9 49152 443 6 20 4000 1796540400 1796540460 ACCEPT OK") {}
//! // Every `detector.save_interval()`, and at shutdown (after `flush`):
//! anomaly::save(store, &mut detector).await?;
//! # Ok(()) }
//! ```
//!
//! A daemon that holds the detector behind a lock takes the save under
//! the lock ([`AnomalyDetector::take_save`]) and writes it without
//! ([`AnomalySave::write`]), telling the detector when the write failed
//! ([`AnomalyDetector::save_failed`]: the next save writes everything).
//! A one-shot run over files calls [`AnomalyDetector::flush`] at the end,
//! so the last minute of every entity is scored too.
//!
//! Bounds: at most `max_entities` entities per kind (the least recently
//! seen is dropped, with what it learned), bounded sets of what each has
//! seen (512 APIs, 32 regions, 128 networks per principal; 512
//! destinations per flow entity; the least recently seen half forgotten
//! when full), at most 1,024 distinct values and 8 examples per bucket,
//! entity keys cut at 512 bytes: memory stays bounded whatever arrives.

mod features;
mod flow;
mod live;
mod model;
mod network;
mod persist;
mod report;
mod seen;
pub mod settings;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use settings::AnomalySettings;

pub use features::Kind;
pub use flow::{parse_flow_line, FlowAction, FlowError, FlowRecord, MAX_FLOW_LINE};
pub use live::{LiveAnomaly, QUIET_MINUTES};
pub use model::ModelStats;
pub use persist::{load, load_for, save, AnomalySave};

use crate::{Detection, Detector, Record};
use model::Model;
use seen::fingerprint;

/// The detector: one model per [`Kind`].
pub struct AnomalyDetector {
    principals: Model,
    accounts: Model,
    flows: Model,
    /// Region of flow findings (flow log records name none).
    region: String,
    save_interval: Duration,
    /// The next save writes every row (the last one failed).
    full_save: bool,
    stats: AnomalyStats,
}

/// Input counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnomalyStats {
    /// CloudTrail records counted.
    pub records: u64,
    /// CloudTrail records left out: no `eventTime` that parses.
    pub records_without_time: u64,
    /// Flow log records counted.
    pub flows: u64,
    /// Flow log lines with nothing to count (header, NODATA, SKIPDATA).
    pub flow_lines_empty: u64,
    /// Flow log lines refused (not the default format, or corrupt).
    pub flow_lines_refused: u64,
}

impl AnomalyDetector {
    /// A detector that has learned nothing yet. `region` is the region
    /// given to flow findings.
    pub fn new(settings: &AnomalySettings, region: &str) -> AnomalyDetector {
        let cap = usize::try_from(settings.max_entities).unwrap_or(usize::MAX);
        let model = |kind| Model::new(kind, cap, settings.warmup_buckets, settings.threshold);
        AnomalyDetector {
            principals: model(Kind::Principal),
            accounts: model(Kind::Account),
            flows: model(Kind::Flow),
            region: region.to_string(),
            save_interval: Duration::from_secs(settings.save_interval_seconds.max(1)),
            full_save: false,
            stats: AnomalyStats::default(),
        }
    }

    /// From `detect.anomaly` and the home region (`aws.region`); `None`
    /// when disabled.
    pub fn from_settings(settings: &AnomalySettings, region: &str) -> Option<AnomalyDetector> {
        settings
            .enabled
            .then(|| AnomalyDetector::new(settings, region))
    }

    /// How often the state should be saved (`save_interval_seconds`).
    pub fn save_interval(&self) -> Duration {
        self.save_interval
    }

    pub fn stats(&self) -> AnomalyStats {
        self.stats
    }

    pub fn model_stats(&self, kind: Kind) -> ModelStats {
        self.model(kind).stats()
    }

    fn model(&self, kind: Kind) -> &Model {
        match kind {
            Kind::Principal => &self.principals,
            Kind::Account => &self.accounts,
            Kind::Flow => &self.flows,
        }
    }

    fn model_mut(&mut self, kind: Kind) -> &mut Model {
        match kind {
            Kind::Principal => &mut self.principals,
            Kind::Account => &mut self.accounts,
            Kind::Flow => &mut self.flows,
        }
    }

    /// Counts one line of a VPC flow log (default version 2 format).
    pub fn observe_flow(&mut self, line: &str) -> Vec<Detection> {
        match parse_flow_line(line) {
            Ok(Some(record)) => self.observe_flow_record(&record),
            Ok(None) => {
                self.stats.flow_lines_empty += 1;
                Vec::new()
            }
            Err(_) => {
                self.stats.flow_lines_refused += 1;
                Vec::new()
            }
        }
    }

    /// Counts every line of a flow log file (or standard input), as
    /// `rectify detect --flow-logs FILE` would: lines longer than
    /// [`MAX_FLOW_LINE`] are skipped without being held whole, so a file
    /// without line breaks cannot fill memory. Call [`Self::flush`] at the
    /// end of the input.
    pub fn observe_flow_lines(
        &mut self,
        mut reader: impl std::io::BufRead,
    ) -> std::io::Result<Vec<Detection>> {
        let mut out = Vec::new();
        let mut line = Vec::with_capacity(256);
        let mut too_long = false;
        loop {
            let buf = reader.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let (chunk, ends_line) = match buf.iter().position(|b| *b == b'\n') {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            if !too_long {
                if line.len() + chunk.len() > MAX_FLOW_LINE {
                    too_long = true;
                    line.clear();
                } else {
                    line.extend_from_slice(chunk);
                }
            }
            let used = ends_line.unwrap_or(buf.len());
            reader.consume(used);
            if ends_line.is_some() {
                out.extend(self.end_flow_line(&line, too_long));
                line.clear();
                too_long = false;
            }
        }
        if !line.is_empty() || too_long {
            out.extend(self.end_flow_line(&line, too_long));
        }
        Ok(out)
    }

    fn end_flow_line(&mut self, line: &[u8], too_long: bool) -> Vec<Detection> {
        match std::str::from_utf8(line) {
            Ok(text) if !too_long => self.observe_flow(text),
            _ => {
                self.stats.flow_lines_refused += 1;
                Vec::new()
            }
        }
    }

    /// Counts one flow log record.
    pub fn observe_flow_record(&mut self, r: &FlowRecord<'_>) -> Vec<Detection> {
        self.stats.flows += 1;
        let mut out = Vec::new();
        let minute = r.start.div_euclid(60);
        // The service port is the lower one: a reply (443 -> 50123) and a
        // request (50123 -> 443) go to the same service, a scan's probes
        // to different ones.
        let service_port = match (r.src_port, r.dst_port) {
            (Some(s), Some(d)) => Some(s.min(d)),
            (s, d) => s.or(d),
        };
        let dst = r.dst.map(|a| a.to_string()).unwrap_or_default();
        let port = service_port.map(|p| p.to_string()).unwrap_or_default();
        let protocol = r.protocol.unwrap_or(0);
        let destination = fingerprint(&[dst.as_bytes(), port.as_bytes(), &[protocol]]);
        let dst_port = fingerprint(&[&r.dst_port.unwrap_or(0).to_be_bytes(), &[protocol]]);
        let local = network::is_local(r.src);
        let mut key = String::with_capacity(64);
        let mut entities: [Option<(usize, u64)>; 2] = [None, None];
        if !r.interface.is_empty() {
            entities[0] = Some((0, if local { r.bytes } else { 0 }));
        }
        if local {
            entities[1] = Some((1, r.bytes));
        }
        let src = r.src.to_string();
        for (which, bytes_out) in entities.into_iter().flatten() {
            key.clear();
            if which == 0 {
                key.push_str("eni:");
                key.push_str(r.interface);
            } else {
                key.push_str("src:");
                key.push_str(&src);
            }
            let region = &self.region;
            let Some(entity) = self.flows.entry(&key, minute, &mut out) else {
                continue;
            };
            let cap = Kind::Flow.seen_sets()[0].1;
            let is_new = entity.seen[0].observe(destination, minute, cap);
            if entity.context.account != r.account {
                entity.context.account = network::truncate(r.account, 64).to_string();
            }
            if entity.context.region.is_empty() {
                entity.context.region = region.clone();
            }
            let Some(bucket) = entity.open.as_mut() else {
                continue;
            };
            bucket.count = bucket.count.saturating_add(1);
            bucket.volume = bucket.volume.saturating_add(bytes_out);
            if r.action == FlowAction::Reject {
                bucket.errors = bucket.errors.saturating_add(1);
            }
            bucket.add_distinct(dst_port);
            if is_new {
                bucket.add_new(0, "destination", &format!("{dst}:{port}"));
            }
        }
        out
    }

    /// Closes every open bucket (end of input, shutdown).
    pub fn flush(&mut self) -> Vec<Detection> {
        self.flush_before(i64::MAX)
    }

    /// Closes the open buckets of minutes before `minute` (minutes since
    /// the epoch): a daemon calls this every minute with the current
    /// minute less a margin for late records, so that an entity that went
    /// quiet is scored without waiting for its next record.
    pub fn flush_before(&mut self, minute: i64) -> Vec<Detection> {
        let mut out = Vec::new();
        for kind in Kind::ALL {
            self.model_mut(kind).close_before(minute, &mut out);
        }
        out
    }
}

/// A failed console sign-in has no `errorCode`, only a `Failure` answer.
fn failed(record: &Record<'_>) -> bool {
    !record.error_code().is_empty() || record.console_login() == "Failure"
}

impl Detector for AnomalyDetector {
    fn id(&self) -> &str {
        "anomaly"
    }

    fn observe(&mut self, record: Record<'_>) -> Vec<Detection> {
        let mut out = Vec::new();
        let Some(seconds) = record.epoch_seconds() else {
            self.stats.records_without_time += 1;
            return out;
        };
        self.stats.records += 1;
        let minute = seconds.div_euclid(60);
        let (source, name) = (record.event_source(), record.event_name());
        let api = fingerprint(&[source.as_bytes(), name.as_bytes()]);
        let region = record.region();
        let region_fp = fingerprint(&[region.as_bytes()]);
        let source_ip = record.source_ip();
        let network_fp = network::network_fingerprint(source_ip);
        let is_failure = failed(&record);
        let (account, partition) = (record.account(), record.partition());
        for kind in [Kind::Principal, Kind::Account] {
            let key = match kind {
                Kind::Principal => record.principal(),
                _ => account,
            };
            if key.is_empty() {
                continue;
            }
            let sets = kind.seen_sets();
            let Some(entity) = self.model_mut(kind).entry(key, minute, &mut out) else {
                continue;
            };
            let new_api = entity.seen[0].observe(api, minute, sets[0].1);
            let new_region =
                !region.is_empty() && entity.seen[1].observe(region_fp, minute, sets[1].1);
            let new_network =
                !source_ip.is_empty() && entity.seen[2].observe(network_fp, minute, sets[2].1);
            let context = &mut entity.context;
            if context.account != account {
                context.account = network::truncate(account, 64).to_string();
            }
            if !region.is_empty() && context.region != region {
                context.region = network::truncate(region, 64).to_string();
            }
            if context.partition != partition {
                context.partition = network::truncate(partition, 64).to_string();
            }
            let Some(bucket) = entity.open.as_mut() else {
                continue;
            };
            bucket.count = bucket.count.saturating_add(1);
            if is_failure {
                bucket.errors = bucket.errors.saturating_add(1);
            }
            bucket.add_distinct(api);
            if new_api {
                let service = source.strip_suffix(".amazonaws.com").unwrap_or(source);
                bucket.add_new(0, "api", &format!("{service}:{name}"));
            }
            if new_region {
                bucket.add_new(1, "region", region);
            }
            if new_network {
                bucket.add_new(2, "network", &network::source_network(source_ip));
            }
        }
        out
    }
}
