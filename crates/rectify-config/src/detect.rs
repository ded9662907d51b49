//! The `detect` section: threat detections over CloudTrail records.

use rectify_detect::Spec;

/// What `detect:` sets up. Absent: no detections run in `rectify serve`
/// (`rectify detect` then uses the built-in pack alone).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectSettings {
    /// The detections that run: the built-in pack (less `disable`, with
    /// `thresholds` applied) then the config's own `detections`.
    pub specs: Vec<Spec>,
    /// The organization's account ids: sharing with, or trust in, any
    /// other account is "outside". Empty: only the record's own account
    /// (and the accounts under `accounts:`) count as inside.
    pub organization_accounts: Vec<String>,
    /// Buckets that hold logs, besides trail buckets rectify sees created.
    pub logging_buckets: Vec<String>,
    /// Also send each detection to Security Hub (`BatchImportFindings`).
    pub security_hub: bool,
    /// Keys (principal, address, ...) tracked at most for thresholds.
    pub max_keys: usize,
}

impl Default for DetectSettings {
    fn default() -> Self {
        DetectSettings {
            specs: rectify_detect::pack::builtin(),
            organization_accounts: Vec::new(),
            logging_buckets: Vec::new(),
            security_hub: false,
            max_keys: rectify_detect::signature::DEFAULT_MAX_KEYS,
        }
    }
}
