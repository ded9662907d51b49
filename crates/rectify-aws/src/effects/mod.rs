//! The AWS implementations of rectify's effects.

pub mod securityhub;
pub mod securityhub_import;
pub mod ses;
pub mod sns;
