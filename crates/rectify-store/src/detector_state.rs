//! The `detector_state` table: what a streaming detector learned (a model,
//! per-entity baselines), one row per detector and entity, so that a
//! restart goes on from where it was instead of learning again.

/// One save of a detector's state, written in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetectorStateSave {
    /// Delete every row of the detector first (the state was rebuilt, or
    /// too many entities were dropped since the last save to list them).
    pub replace_all: bool,
    /// (entity, state) rows written over what is there.
    pub upserts: Vec<(String, String)>,
    /// Entities whose rows are deleted (dropped from the detector).
    pub removed: Vec<String>,
}

impl DetectorStateSave {
    pub fn is_empty(&self) -> bool {
        !self.replace_all && self.upserts.is_empty() && self.removed.is_empty()
    }
}

pub(crate) const TABLE: &str = r#"
CREATE TABLE detector_state (
    detector   TEXT NOT NULL,
    entity     TEXT NOT NULL,
    state      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (detector, entity)
);
"#;
