//! What one entity did in one minute (a bucket), and the point in feature
//! space the forest scores for it.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The kinds of entity, one forest each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A CloudTrail caller: the user, or the role behind a session.
    Principal,
    /// An AWS account, every caller in it together.
    Account,
    /// A VPC flow log source address or network interface.
    Flow,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Principal, Kind::Account, Kind::Flow];

    /// The detector id of its detections and of its rows in the store.
    pub fn detector(self) -> &'static str {
        match self {
            Kind::Principal => "anomaly-principal",
            Kind::Account => "anomaly-account",
            Kind::Flow => "anomaly-flow",
        }
    }

    /// Names of the sets of things seen before, in [`Bucket::new`] order,
    /// and how many of each an entity remembers.
    pub(crate) fn seen_sets(self) -> &'static [(&'static str, usize)] {
        match self {
            Kind::Principal => &[("api", 512), ("region", 32), ("network", 128)],
            Kind::Account => &[("api", 1024), ("region", 32), ("network", 512)],
            Kind::Flow => &[("destination", 512)],
        }
    }

    /// The forest's dimensions.
    pub(crate) fn dimensions(self) -> usize {
        self.feature_names().len()
    }

    /// What each dimension of the point measures, for people.
    pub(crate) fn feature_names(self) -> &'static [&'static str] {
        match self {
            Kind::Principal | Kind::Account => &[
                "calls per minute",
                "calls per minute against the usual",
                "distinct APIs",
                "error rate",
                "APIs never called before",
                "new regions",
                "new source networks",
            ],
            Kind::Flow => &[
                "bytes out",
                "bytes out against the usual",
                "connections",
                "new destinations",
                "rejected connections",
                "distinct destination ports",
            ],
        }
    }
}

/// Distinct values counted per bucket before the count saturates.
const MAX_DISTINCT: usize = 1024;
/// Examples of new things kept per bucket for the finding.
const MAX_EXAMPLES: usize = 8;
/// Longest example kept.
const MAX_EXAMPLE_LEN: usize = 128;

/// An entity's usual levels: moving averages over its closed buckets of
/// [`Bucket::level`] and of [`Bucket::novelty_rates`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Usual {
    pub level: f32,
    pub novelty: Vec<f32>,
}

impl Usual {
    /// Moves the levels toward the bucket's: the first buckets set them,
    /// later ones move them slowly. `buckets` counts this one.
    pub(crate) fn learn(&mut self, kind: Kind, bucket: &Bucket, buckets: u64) {
        let alpha = (1.0 / buckets.max(1) as f32).max(0.05);
        let step = |usual: &mut f32, now: f32| {
            let u = if usual.is_finite() { *usual } else { 0.0 };
            *usual = u + alpha * (now - u);
        };
        step(&mut self.level, bucket.level(kind));
        let novelty = bucket.novelty_rates();
        self.novelty.resize(novelty.len(), 0.0);
        for (u, now) in self.novelty.iter_mut().zip(novelty) {
            step(u, now);
        }
    }

    /// The usual level as a count (calls, bytes).
    pub(crate) fn level_count(&self) -> u64 {
        (f64::from(self.level).exp() - 1.0).max(0.0).round() as u64
    }

    pub(crate) fn sanitize(&mut self, kind: Kind) {
        if !self.level.is_finite() {
            self.level = 0.0;
        }
        self.novelty.resize(kind.seen_sets().len(), 0.0);
        for u in &mut self.novelty {
            if !u.is_finite() {
                *u = 0.0;
            }
        }
    }
}

/// One entity's minute.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Bucket {
    /// Minutes since the epoch.
    pub minute: i64,
    /// Calls, or flow records.
    pub count: u64,
    /// Failed calls, or rejected flows.
    pub errors: u64,
    /// Bytes out (flows only).
    pub volume: u64,
    /// Fingerprints of distinct APIs (flows: destination ports), up to
    /// [`MAX_DISTINCT`].
    pub distinct: HashSet<u32>,
    /// Things seen for the first time, per seen set of the kind.
    pub new: Vec<u64>,
    /// Examples of them: `api:iam:ListUsers`, `region:ap-south-1`.
    pub examples: Vec<String>,
}

impl Bucket {
    pub(crate) fn new(kind: Kind, minute: i64) -> Bucket {
        Bucket {
            minute,
            count: 0,
            errors: 0,
            volume: 0,
            distinct: HashSet::new(),
            new: vec![0; kind.seen_sets().len()],
            examples: Vec::new(),
        }
    }

    /// Brings a bucket read back from the store within this release's
    /// bounds.
    pub(crate) fn sanitize(&mut self, kind: Kind) {
        self.new.resize(kind.seen_sets().len(), 0);
        if self.distinct.len() > MAX_DISTINCT {
            self.distinct = self.distinct.iter().copied().take(MAX_DISTINCT).collect();
        }
        self.examples.truncate(MAX_EXAMPLES);
        for e in &mut self.examples {
            e.truncate(super::network::truncate(e, MAX_EXAMPLE_LEN).len());
        }
    }

    pub(crate) fn add_distinct(&mut self, fp: u64) {
        if self.distinct.len() < MAX_DISTINCT {
            self.distinct.insert((fp ^ (fp >> 32)) as u32);
        }
    }

    pub(crate) fn add_new(&mut self, set: usize, label: &str, value: &str) {
        if let Some(n) = self.new.get_mut(set) {
            *n = n.saturating_add(1);
        }
        if self.examples.len() < MAX_EXAMPLES {
            let mut example = format!("{label}:{value}");
            example.truncate(super::network::truncate(&example, MAX_EXAMPLE_LEN).len());
            self.examples.push(example);
        }
    }

    fn new_at(&self, set: usize) -> u64 {
        self.new.get(set).copied().unwrap_or(0)
    }

    /// The quantity whose usual level an entity tracks: calls, or bytes out.
    pub(crate) fn level(&self, kind: Kind) -> f32 {
        match kind {
            Kind::Principal | Kind::Account => ln1p(self.count),
            Kind::Flow => ln1p(self.volume),
        }
    }

    /// The share of the bucket's records that brought something new, per
    /// seen set: the rate whose usual level an entity tracks.
    pub(crate) fn novelty_rates(&self) -> Vec<f32> {
        self.new
            .iter()
            .map(|n| {
                if self.count == 0 {
                    0.0
                } else {
                    (*n as f64 / self.count as f64).clamp(0.0, 1.0) as f32
                }
            })
            .collect()
    }

    /// The point the forest scores. Counts are on a log scale (a burst of
    /// ten times the calls is as far as another ten times) and measured
    /// against the entity's usual where entities differ widely: new
    /// networks are counted beyond what the entity's usual share of
    /// calls from new networks predicts (a role whose callers change
    /// address on every call sees new networks all the time; a person
    /// does not). Only excess counts: a quiet minute is no sign of
    /// compromise. Weights keep the signs of compromise (novelty, errors)
    /// from being drowned by volume; every coordinate is finite and
    /// bounded whatever the input.
    pub(crate) fn point(&self, kind: Kind, usual: &Usual) -> Vec<f32> {
        let finite = |x: f32| if x.is_finite() { x } else { 0.0 };
        let level = self.level(kind);
        let level_excess = (level - finite(usual.level)).clamp(0.0, 50.0);
        let new_excess = |i: usize| {
            let new = self.new.get(i).copied().unwrap_or(0);
            let rate = finite(usual.novelty.get(i).copied().unwrap_or(0.0)).clamp(0.0, 1.0);
            let expected = f64::from(rate) * self.count as f64;
            ((new as f64).ln_1p() - expected.ln_1p()).clamp(0.0, 50.0) as f32
        };
        match kind {
            Kind::Principal | Kind::Account => vec![
                level,
                level_excess,
                ln1p(self.distinct.len() as u64),
                3.0 * self.error_rate(),
                2.0 * new_excess(0),
                3.0 * new_excess(1),
                3.0 * new_excess(2),
            ],
            Kind::Flow => vec![
                level / 2.0,
                level_excess / 2.0,
                ln1p(self.count),
                2.0 * new_excess(0),
                2.0 * ln1p(self.errors),
                ln1p(self.distinct.len() as u64),
            ],
        }
    }

    /// Failed calls per call, pulled toward none for small counts: one
    /// denied call out of two is a person's typo, forty failed sign-ins
    /// out of forty-five are not.
    fn error_rate(&self) -> f32 {
        const PRIOR_CALLS: f64 = 4.0;
        (self.errors as f64 / (self.count as f64 + PRIOR_CALLS)).clamp(0.0, 1.0) as f32
    }

    /// The raw values behind the point, for the finding's evidence.
    pub(crate) fn evidence(&self, kind: Kind, usual: &Usual) -> Value {
        let usual = usual.level_count();
        let mut m = Map::new();
        match kind {
            Kind::Principal | Kind::Account => {
                m.insert("calls".into(), json!(self.count));
                m.insert("usual_calls".into(), json!(usual));
                m.insert("distinct_apis".into(), json!(self.distinct.len()));
                m.insert("errors".into(), json!(self.errors));
                m.insert("new_apis".into(), json!(self.new_at(0)));
                m.insert("new_regions".into(), json!(self.new_at(1)));
                m.insert("new_networks".into(), json!(self.new_at(2)));
            }
            Kind::Flow => {
                m.insert("bytes_out".into(), json!(self.volume));
                m.insert("usual_bytes_out".into(), json!(usual));
                m.insert("connections".into(), json!(self.count));
                m.insert("new_destinations".into(), json!(self.new_at(0)));
                m.insert("rejected".into(), json!(self.errors));
                m.insert("distinct_ports".into(), json!(self.distinct.len()));
            }
        }
        Value::Object(m)
    }

    /// A dimension's value as a person reads it ("412 (usually 12)").
    pub(crate) fn describe(&self, kind: Kind, dimension: usize, usual: &Usual) -> String {
        let usual = usual.level_count();
        match (kind, dimension) {
            (Kind::Flow, 0 | 1) => format!("{} (usually {usual})", self.volume),
            (_, 0 | 1) => format!("{} (usually {usual})", self.count),
            (Kind::Flow, 2) => self.count.to_string(),
            (Kind::Flow, 3) => self.new_at(0).to_string(),
            (Kind::Flow, 4) => self.errors.to_string(),
            (Kind::Flow, _) => self.distinct.len().to_string(),
            (_, 2) => self.distinct.len().to_string(),
            (_, 3) => format!("{} failed of {}", self.errors, self.count),
            (_, 4) => self.new_at(0).to_string(),
            (_, 5) => self.new_at(1).to_string(),
            _ => self.new_at(2).to_string(),
        }
    }
}

fn ln1p(n: u64) -> f32 {
    (n as f64).ln_1p() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_finite_for_extreme_counts() {
        for kind in Kind::ALL {
            let mut b = Bucket::new(kind, 0);
            b.count = u64::MAX;
            b.errors = u64::MAX;
            b.volume = u64::MAX;
            for n in b.new.iter_mut() {
                *n = u64::MAX;
            }
            for u in [0.0, 1e30, -1e30, f32::MAX, f32::NAN, f32::INFINITY] {
                let usual = Usual {
                    level: u,
                    novelty: vec![u; 5],
                };
                let p = b.point(kind, &usual);
                assert_eq!(p.len(), kind.dimensions());
                assert!(p.iter().all(|x| x.is_finite() && x.abs() <= 200.0), "{p:?}");
            }
            let empty = Bucket::new(kind, 0).point(kind, &Usual::default());
            assert!(empty.iter().all(|x| *x == 0.0));
        }
    }

    #[test]
    fn distinct_values_and_examples_are_bounded() {
        let mut b = Bucket::new(Kind::Principal, 0);
        for i in 0..100_000u64 {
            b.add_distinct(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            b.add_new(0, "api", &"x".repeat(10_000));
        }
        assert_eq!(b.distinct.len(), MAX_DISTINCT);
        assert_eq!(b.examples.len(), MAX_EXAMPLES);
        assert!(b.examples.iter().all(|e| e.len() <= MAX_EXAMPLE_LEN));
        assert_eq!(b.new[0], 100_000);
    }
}
