//! One kind's model: its forest, and the entities it tracks (at most a
//! configured number, the least recently seen dropped first), each with
//! its warm-up count, usual level, what it has done before and its open
//! bucket.

use std::collections::{BTreeMap, HashMap};

use rcf3::Forest;
use serde::{Deserialize, Serialize};

use super::features::{Bucket, Kind, Usual};
use super::report::{self, Scored};
use super::seen::SeenSet;
use crate::Detection;

/// Longest entity key kept (an ARN is rarely over 200 bytes); longer keys
/// are cut, so hostile input cannot make one entity hold a huge string.
pub(crate) const MAX_KEY: usize = 512;
/// Entities dropped since the last save that are listed for deletion;
/// past this the next save rewrites the kind's rows instead.
const MAX_REMOVED: usize = 4096;
/// Trees in each forest and points each tree keeps.
pub(crate) const TREES: usize = 50;
pub(crate) const TREE_CAPACITY: usize = 256;
/// A new anomalous bucket this close (minutes) to the last one of the
/// same entity updates that finding instead of opening another.
const EPISODE_GAP_MINUTES: i64 = 15;

/// Where the entity's calls or flows were last seen, for its findings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Context {
    pub account: String,
    pub region: String,
    pub partition: String,
}

/// A run of anomalous buckets reported as one finding.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Episode {
    pub start: i64,
    pub last: i64,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entity {
    /// Buckets closed so far (warm-up counts these).
    pub buckets: u64,
    /// Its usual levels of activity and novelty.
    pub usual: Usual,
    pub seen: Vec<SeenSet>,
    pub open: Option<Bucket>,
    pub episode: Option<Episode>,
    pub context: Context,
    /// Minute of the latest bucket, for the eviction order after a load.
    pub last_minute: i64,
    #[serde(skip)]
    pub dirty: bool,
    #[serde(skip)]
    tick: u64,
}

impl Entity {
    fn new(kind: Kind) -> Entity {
        Entity {
            buckets: 0,
            usual: Usual::default(),
            seen: vec![SeenSet::default(); kind.seen_sets().len()],
            open: None,
            episode: None,
            context: Context::default(),
            last_minute: i64::MIN,
            dirty: true,
            tick: 0,
        }
    }

    /// Brings state read back from the store within this release's bounds.
    pub(crate) fn sanitize(&mut self, kind: Kind) {
        self.usual.sanitize(kind);
        let sets = kind.seen_sets();
        self.seen.resize_with(sets.len(), SeenSet::default);
        for (set, (_, cap)) in self.seen.iter_mut().zip(sets) {
            set.trim(*cap);
        }
        if let Some(b) = &mut self.open {
            b.sanitize(kind);
        }
        for s in [
            &mut self.context.account,
            &mut self.context.region,
            &mut self.context.partition,
        ] {
            s.truncate(super::network::truncate(s, 64).len());
        }
    }
}

/// Counters of one model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelStats {
    pub entities: usize,
    pub buckets_closed: u64,
    pub buckets_scored: u64,
    pub anomalies: u64,
    pub evicted: u64,
}

pub(crate) struct Model {
    pub kind: Kind,
    pub forest: Forest,
    pub forest_dirty: bool,
    pub entities: HashMap<Box<str>, Entity>,
    /// Entities by the tick of their latest bucket: the first is the least
    /// recently seen.
    order: BTreeMap<u64, Box<str>>,
    tick: u64,
    pub cap: usize,
    pub warmup: u64,
    pub threshold: f64,
    /// Entities dropped since the last save.
    pub removed: Vec<String>,
    /// The next save rewrites every row of the kind.
    pub replace_all: bool,
    pub stats: ModelStats,
}

impl Model {
    pub(crate) fn new(kind: Kind, cap: usize, warmup: u64, threshold: f64) -> Model {
        Model {
            kind,
            forest: new_forest(kind),
            forest_dirty: true,
            entities: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            cap: cap.max(1),
            warmup,
            threshold,
            removed: Vec::new(),
            replace_all: false,
            stats: ModelStats::default(),
        }
    }

    /// The entity `key` with an open bucket for `minute`: a record of a
    /// later minute closes (and scores) the open bucket first; a record of
    /// an earlier minute than the open bucket is counted in it.
    pub(crate) fn entry(
        &mut self,
        key: &str,
        minute: i64,
        out: &mut Vec<Detection>,
    ) -> Option<&mut Entity> {
        let key = super::network::truncate(key, MAX_KEY);
        if !self.entities.contains_key(key) {
            self.admit(key);
        }
        let Model {
            kind,
            forest,
            forest_dirty,
            entities,
            order,
            tick,
            warmup,
            threshold,
            stats,
            ..
        } = self;
        let entity = entities.get_mut(key)?;
        let open_minute = entity.open.as_ref().map(|b| b.minute);
        if open_minute.is_none_or(|m| minute > m) {
            if let Some(bucket) = entity.open.take() {
                let scorer = Scorer {
                    kind: *kind,
                    warmup: *warmup,
                    threshold: *threshold,
                };
                *forest_dirty |= scorer.close(forest, key, entity, bucket, stats, out);
            }
            entity.open = Some(Bucket::new(*kind, minute));
            entity.last_minute = minute;
            order.remove(&entity.tick);
            *tick += 1;
            entity.tick = *tick;
            order.insert(*tick, Box::from(key));
        }
        entity.dirty = true;
        Some(entity)
    }

    /// Starts tracking `key`, dropping the least recently seen entity when
    /// the model is full (its open bucket is not scored).
    fn admit(&mut self, key: &str) {
        while self.entities.len() >= self.cap {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entities.remove(&oldest);
            self.stats.evicted += 1;
            if self.removed.len() < MAX_REMOVED {
                self.removed.push(oldest.into());
            } else {
                self.replace_all = true;
                self.removed.clear();
            }
        }
        self.entities.insert(Box::from(key), Entity::new(self.kind));
    }

    /// Puts a loaded entity back, in its place in the eviction order.
    pub(crate) fn restore_entity(&mut self, key: String, mut entity: Entity) {
        entity.sanitize(self.kind);
        entity.dirty = false;
        self.tick += 1;
        entity.tick = self.tick;
        let key: Box<str> = key.into();
        self.order.insert(self.tick, key.clone());
        self.entities.insert(key, entity);
    }

    /// Closes the open buckets older than `minute` (all of them with
    /// `i64::MAX`).
    pub(crate) fn close_before(&mut self, minute: i64, out: &mut Vec<Detection>) {
        let scorer = Scorer {
            kind: self.kind,
            warmup: self.warmup,
            threshold: self.threshold,
        };
        // Keys in eviction order, so the forest sees buckets in the same
        // order on every run (a hash map's order is random per process).
        let keys: Vec<Box<str>> = self.order.values().cloned().collect();
        for key in keys {
            let Some(entity) = self.entities.get_mut(&key) else {
                continue;
            };
            if entity.open.as_ref().is_some_and(|b| b.minute < minute) {
                if let Some(bucket) = entity.open.take() {
                    self.forest_dirty |=
                        scorer.close(&mut self.forest, &key, entity, bucket, &mut self.stats, out);
                    entity.dirty = true;
                }
            }
        }
    }

    /// Entries held in sets and keys, for the bound tests.
    #[cfg(test)]
    pub(crate) fn footprint(&self) -> usize {
        self.entities
            .iter()
            .map(|(k, e)| {
                k.len()
                    + e.seen.iter().map(SeenSet::len).sum::<usize>()
                    + e.open.as_ref().map_or(0, |b| {
                        b.distinct.len() + b.examples.iter().map(String::len).sum::<usize>()
                    })
            })
            .sum::<usize>()
            + self.order.len()
            + self.removed.len()
    }

    pub(crate) fn stats(&self) -> ModelStats {
        ModelStats {
            entities: self.entities.len(),
            ..self.stats
        }
    }
}

/// A forest of this release's shape for the kind, seeded so that runs on
/// the same input give the same scores.
pub(crate) fn new_forest(kind: Kind) -> Forest {
    let seed = match kind {
        Kind::Principal => 0x5eed_0001,
        Kind::Account => 0x5eed_0002,
        Kind::Flow => 0x5eed_0003,
    };
    // Shape constants are known to be valid; a failure here is a bug
    // caught by every test.
    // No score until the trees hold a full sample: a young forest finds
    // everything unusual.
    Forest::builder(kind.dimensions())
        .num_trees(TREES)
        .capacity(TREE_CAPACITY)
        .output_after(TREE_CAPACITY)
        .seed(seed)
        .build()
        .expect("forest shape constants are valid")
}

struct Scorer {
    kind: Kind,
    warmup: u64,
    threshold: f64,
}

impl Scorer {
    /// Scores a closed bucket (once the entity is warmed up and the forest
    /// has seen enough), teaches it to the forest, and updates the
    /// entity's usual level. True when the forest changed.
    fn close(
        &self,
        forest: &mut Forest,
        key: &str,
        entity: &mut Entity,
        bucket: Bucket,
        stats: &mut ModelStats,
        out: &mut Vec<Detection>,
    ) -> bool {
        stats.buckets_closed += 1;
        let point = bucket.point(self.kind, &entity.usual);
        let mut changed = false;
        // An entity's first buckets teach nothing: everything it does is
        // new then, and "all new" must not look normal to the forest.
        if entity.buckets >= self.warmup {
            if forest.is_ready() {
                if let Ok(score) = forest.score(&point) {
                    stats.buckets_scored += 1;
                    if score > self.threshold {
                        stats.anomalies += 1;
                        let attribution: Vec<f64> = forest
                            .attribution(&point)
                            .map(|a| a.into_iter().map(|x| x.total()).collect())
                            .unwrap_or_default();
                        let episode = continue_episode(&mut entity.episode, &bucket);
                        out.push(report::detection(&Scored {
                            kind: self.kind,
                            key,
                            context: &entity.context,
                            bucket: &bucket,
                            usual: &entity.usual,
                            score,
                            threshold: self.threshold,
                            attribution: &attribution,
                            episode: &episode,
                        }));
                    }
                }
            }
            changed = forest.update(&point).is_ok();
        }
        entity.buckets = entity.buckets.saturating_add(1);
        entity.usual.learn(self.kind, &bucket, entity.buckets);
        changed
    }
}

fn continue_episode(episode: &mut Option<Episode>, bucket: &Bucket) -> Episode {
    match episode {
        Some(e) if bucket.minute.saturating_sub(e.last) <= EPISODE_GAP_MINUTES => {
            e.last = e.last.max(bucket.minute);
            e.count = e.count.saturating_add(bucket.count);
        }
        _ => {
            *episode = Some(Episode {
                start: bucket.minute,
                last: bucket.minute,
                count: bucket.count,
            })
        }
    }
    episode.clone().unwrap_or(Episode {
        start: bucket.minute,
        last: bucket.minute,
        count: bucket.count,
    })
}
