//! The detector's state in the store (`detector_state`), one row per kind
//! and entity plus the kind's forest under the empty entity, so that a
//! restart scores as the last run would have.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::AnomalySettings;
use rcf3::Forest;
use rectify_store::{DetectorStateSave, Store};
use serde::{Deserialize, Serialize};

use super::features::Kind;
use super::model::{Entity, Model, TREES};
use super::AnomalyDetector;

/// The entity under which a kind's forest is kept (records without an
/// entity are not counted, so no entity has this key).
const FOREST_ROW: &str = "";
/// The layout of points and rows; a forest saved under another is not
/// loaded (it would score points of another shape).
const LAYOUT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct ForestRow {
    layout: u32,
    dimensions: usize,
    /// The forest as `rcf3` writes it.
    forest: String,
}

/// What one save writes, per detector id.
#[derive(Debug, Clone, Default)]
pub struct AnomalySave {
    pub saves: Vec<(&'static str, DetectorStateSave)>,
}

impl AnomalySave {
    /// Writes it, one transaction per kind.
    pub async fn write(&self, store: &dyn Store) -> rectify_store::Result<()> {
        for (detector, save) in &self.saves {
            store.save_detector_state(detector, save).await?;
        }
        Ok(())
    }

    /// Rows it writes.
    pub fn rows(&self) -> usize {
        self.saves.iter().map(|(_, s)| s.upserts.len()).sum()
    }
}

impl AnomalyDetector {
    /// What changed since the last save (everything after a failed one),
    /// marked saved.
    pub fn take_save(&mut self) -> AnomalySave {
        let full = std::mem::take(&mut self.full_save);
        let saves = Kind::ALL
            .into_iter()
            .map(|kind| (kind.detector(), self.model_mut(kind).take_save(full)))
            .collect();
        AnomalySave { saves }
    }

    /// The last save did not reach the store: the next writes everything.
    pub fn save_failed(&mut self) {
        self.full_save = true;
    }
}

impl Model {
    fn take_save(&mut self, full: bool) -> DetectorStateSave {
        let full = full || std::mem::take(&mut self.replace_all);
        let mut save = DetectorStateSave {
            replace_all: full,
            ..Default::default()
        };
        if full || self.forest_dirty {
            match self.forest.to_json() {
                Ok(forest) => {
                    let row = ForestRow {
                        layout: LAYOUT,
                        dimensions: self.kind.dimensions(),
                        forest,
                    };
                    if let Ok(text) = serde_json::to_string(&row) {
                        save.upserts.push((FOREST_ROW.to_string(), text));
                        self.forest_dirty = false;
                    }
                }
                Err(e) => tracing::warn!(detector = self.kind.detector(), "forest not saved: {e}"),
            }
        }
        for (key, entity) in self.entities.iter_mut() {
            if full || entity.dirty {
                if let Ok(text) = serde_json::to_string(entity) {
                    save.upserts.push((key.to_string(), text));
                    entity.dirty = false;
                }
            }
        }
        save.upserts.sort_by(|a, b| a.0.cmp(&b.0));
        let removed = std::mem::take(&mut self.removed);
        if !full {
            save.removed = removed;
        }
        save
    }

    /// Loads saved rows into a new model. Rows that do not read (another
    /// layout, corrupt) are left out and the next save rewrites the kind.
    fn restore(&mut self, rows: Vec<(String, String)>) {
        let mut entities: Vec<(String, Entity)> = Vec::with_capacity(rows.len());
        let mut unreadable = 0usize;
        for (key, text) in rows {
            if key == FOREST_ROW {
                match read_forest(self.kind, &text) {
                    Some(forest) => {
                        self.forest = forest;
                        self.forest_dirty = false;
                    }
                    None => unreadable += 1,
                }
                continue;
            }
            match serde_json::from_str::<Entity>(&text) {
                Ok(entity) if key.len() <= super::model::MAX_KEY => entities.push((key, entity)),
                _ => unreadable += 1,
            }
        }
        // The most recently seen last, so that they are dropped last, and
        // only as many as the model takes now.
        entities.sort_by_key(|(_, e)| e.last_minute);
        let over = entities.len().saturating_sub(self.cap);
        if over > 0 || unreadable > 0 {
            tracing::warn!(
                detector = self.kind.detector(),
                unreadable,
                over_cap = over,
                "saved anomaly state partly left out; the next save rewrites it"
            );
            self.replace_all = true;
        }
        for (key, entity) in entities.into_iter().skip(over) {
            self.restore_entity(key, entity);
        }
    }
}

/// A saved forest of this release's shape that answers a query, or `None`.
fn read_forest(kind: Kind, text: &str) -> Option<Forest> {
    let row: ForestRow = serde_json::from_str(text).ok()?;
    if row.layout != LAYOUT || row.dimensions != kind.dimensions() {
        return None;
    }
    let forest = Forest::from_json(row.forest.as_bytes()).ok()?;
    let config = forest.config();
    if config.input_dim() != kind.dimensions()
        || config.shingle_size() != 1
        || forest.num_trees() != TREES
    {
        return None;
    }
    // A forest edited or damaged in the database could hold indexes that
    // do not match: try it once before trusting it.
    let probe = vec![0.0f32; kind.dimensions()];
    let answers = catch_unwind(AssertUnwindSafe(|| {
        forest.score(&probe).is_ok_and(f64::is_finite) && forest.clone().update(&probe).is_ok()
    }))
    .unwrap_or(false);
    answers.then_some(forest)
}

/// A detector with the state the store holds (an empty one where it holds
/// none).
pub async fn load(
    store: &dyn Store,
    settings: &AnomalySettings,
    region: &str,
) -> rectify_store::Result<AnomalyDetector> {
    let mut detector = AnomalyDetector::new(settings, region);
    for kind in Kind::ALL {
        let rows = store.detector_state(kind.detector()).await?;
        detector.model_mut(kind).restore(rows);
    }
    Ok(detector)
}

/// [`load`] with `detect.anomaly` and the home region (`aws.region`);
/// `None` when disabled.
pub async fn load_for(
    settings: &AnomalySettings,
    region: &str,
    store: &dyn Store,
) -> rectify_store::Result<Option<AnomalyDetector>> {
    if !settings.enabled {
        return Ok(None);
    }
    load(store, settings, region).await.map(Some)
}

/// Writes what changed since the last save.
pub async fn save(store: &dyn Store, detector: &mut AnomalyDetector) -> rectify_store::Result<()> {
    let save = detector.take_save();
    let written = save.write(store).await;
    if written.is_err() {
        detector.save_failed();
    }
    written
}

#[cfg(test)]
mod tests {
    use super::super::model::new_forest;
    use super::*;

    #[test]
    fn damaged_or_foreign_forests_are_not_loaded() {
        assert!(read_forest(Kind::Principal, "not json").is_none());
        let flow = serde_json::to_string(&ForestRow {
            layout: LAYOUT,
            dimensions: Kind::Flow.dimensions(),
            forest: new_forest(Kind::Flow).to_json().unwrap(),
        })
        .unwrap();
        assert!(read_forest(Kind::Principal, &flow).is_none());
        assert!(read_forest(Kind::Flow, &flow).is_some());
        let old = flow.replace(&format!("\"layout\":{LAYOUT}"), "\"layout\":999");
        assert!(read_forest(Kind::Flow, &old).is_none());
    }
}
