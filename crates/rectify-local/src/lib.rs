//! Local actions: they touch no cloud account, so the whole pipeline can be
//! exercised (and measured) without one.
//!
//! - `local.noop`: always compliant after one apply that does nothing.
//! - `local.journal`: appends the target's id to a journal file; compliant
//!   when the journal already holds it. Lets a test count effects exactly.

pub mod actions;

use std::sync::Arc;

use rectify_model::Action;

pub fn catalog() -> Vec<Arc<dyn Action>> {
    vec![
        Arc::new(actions::noop::Noop),
        Arc::new(actions::journal::Journal),
    ]
}
