//! The contract of a posture check, what `rectify scan` runs: one check is
//! one file in a catalog crate (e.g. `rectify-aws/src/checks/`) that
//! declares what it answers (control ids per standard, severity, resource
//! type, permissions) next to the code that decides pass or fail per
//! resource, with the evidence that decided it.
//!
//! Checks of one scan share a [`ScanReads`]: a listing one check made
//! (the buckets of a region, its security groups, the credential report)
//! is not made again by the next, and calls to one service in one region
//! go through a bounded number of slots, backing off when throttled.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::{OnceCell, Semaphore};

use crate::{ActionError, ErrorClass};

/// How bad a failed check is: the ASFF severity labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Informational,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Informational => "INFORMATIONAL",
        }
    }

    /// ASFF `Severity.Normalized` for the label.
    pub fn normalized(self) -> u8 {
        match self {
            Severity::Critical => 90,
            Severity::High => 70,
            Severity::Medium => 40,
            Severity::Low => 1,
            Severity::Informational => 0,
        }
    }

    /// OCSF `severity_id`.
    pub fn ocsf_id(self) -> u8 {
        match self {
            Severity::Critical => 5,
            Severity::High => 4,
            Severity::Medium => 3,
            Severity::Low => 2,
            Severity::Informational => 1,
        }
    }
}

/// A compliance standard a check answers controls of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Standard {
    /// CIS AWS Foundations Benchmark v3.0.0.
    #[serde(rename = "cis-3.0")]
    Cis30,
    /// AWS Foundational Security Best Practices.
    #[serde(rename = "fsbp")]
    Fsbp,
    /// PCI DSS v4.0.1 (the Security Hub standard's control ids).
    #[serde(rename = "pci-dss-4.0")]
    PciDss40,
}

impl Standard {
    pub const ALL: [Standard; 3] = [Standard::Cis30, Standard::Fsbp, Standard::PciDss40];

    /// The name `--compliance` takes.
    pub fn key(self) -> &'static str {
        match self {
            Standard::Cis30 => "cis-3.0",
            Standard::Fsbp => "fsbp",
            Standard::PciDss40 => "pci-dss-4.0",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Standard::Cis30 => "CIS AWS Foundations Benchmark v3.0.0",
            Standard::Fsbp => "AWS Foundational Security Best Practices",
            Standard::PciDss40 => "PCI DSS v4.0.1",
        }
    }

    pub fn parse(s: &str) -> Option<Standard> {
        Standard::ALL.into_iter().find(|st| st.key() == s)
    }
}

/// What a check is, as data: the scan's reports, `rectify iam-policy
/// --scan` and the compliance report read it.
#[derive(Debug, Serialize)]
pub struct CheckSpec {
    /// `service.what-it-checks`, e.g. `iam.root-access-keys`.
    pub id: &'static str,
    /// What passes, said as a requirement.
    pub title: &'static str,
    pub severity: Severity,
    /// The ASFF type of the resources it judges.
    pub resource_type: &'static str,
    /// The service whose calls it makes (its concurrency slots).
    pub service: &'static str,
    /// The Security Hub (consolidated) control ids it answers; the ids
    /// each standard gives them come from AWS's published mapping
    /// ([`CheckSpec::controls_in`]).
    pub controls: &'static [&'static str],
    /// IAM actions it needs (read-only).
    pub permissions: &'static [&'static str],
    /// One verdict per account, whatever the region: run in the first
    /// region of each account only.
    pub account_wide: bool,
}

impl CheckSpec {
    /// The ids `standard` gives the controls this check answers.
    pub fn controls_in(&self, standard: Standard) -> Vec<&'static str> {
        standard_ids(self.controls, standard)
    }

    /// The control id a finding about it carries: its first Security Hub
    /// control id (what rules and Security Hub name), else the check id.
    pub fn finding_control(&self) -> &'static str {
        self.controls.first().copied().unwrap_or(self.id)
    }
}

impl Standard {
    /// The standard's name in AWS's control mapping.
    fn mapping_name(self) -> &'static str {
        match self {
            Standard::Cis30 => "cis-aws-foundations-benchmark/v/3.0.0",
            Standard::Fsbp => "aws-foundational-security-best-practices/v/1.0.0",
            Standard::PciDss40 => "pci-dss/v/4.0.1",
        }
    }
}

/// The ids `standard` gives these Security Hub control ids (none where the
/// standard does not hold one), in AWS's published mapping.
pub fn standard_ids(controls: &[&str], standard: Standard) -> Vec<&'static str> {
    let name = standard.mapping_name();
    let mut ids: Vec<&'static str> = crate::controls::mappings()
        .iter()
        .filter(|m| m.standard == name && controls.contains(&m.security_control_id.as_str()))
        .map(|m| m.standard_control_id.as_str())
        .collect();
    ids.dedup();
    ids
}

/// One resource judged by one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub account: String,
    pub region: String,
    pub resource_type: String,
    pub resource_id: String,
    pub pass: bool,
    /// What decided it, in words.
    pub evidence: String,
    /// The settings as read.
    pub state: Value,
    /// The resource's tags, where the read gave them.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub tags: Map<String, Value>,
}

impl Verdict {
    pub fn new(
        account: &str,
        region: &str,
        resource_type: &str,
        resource_id: impl Into<String>,
        pass: bool,
        evidence: impl Into<String>,
        state: Value,
    ) -> Verdict {
        Verdict {
            account: account.to_string(),
            region: region.to_string(),
            resource_type: resource_type.to_string(),
            resource_id: resource_id.into(),
            pass,
            evidence: evidence.into(),
            state,
            tags: Map::new(),
        }
    }
}

#[async_trait]
pub trait Check: Send + Sync {
    fn spec(&self) -> &'static CheckSpec;

    /// Judges every resource of its type in `account` and `region` (for an
    /// account-wide check, the account), reading through `reads`.
    async fn run(
        &self,
        account: &str,
        region: &str,
        reads: &ScanReads,
    ) -> Result<Vec<Verdict>, ActionError>;
}

type Slot = Arc<OnceCell<Arc<dyn Any + Send + Sync>>>;

/// Where a scan takes the settings AWS Config records of a resource:
/// from the resource itself, one read per setting, or from its
/// configuration item (one call answers for 100 resources).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SettingsFrom {
    /// Every setting read from the resource: `rectify scan --live`, and
    /// every scan that feeds the rules.
    #[default]
    Resources,
    /// From the configuration items where a recorder of the account's own
    /// records the type continuously and is recording; elsewhere from the
    /// resource, without a word (the default of a report-only scan).
    ConfigWhereRecorded,
    /// As `ConfigWhereRecorded`, and a region where Config cannot serve is
    /// named in the scan's notes (`rectify scan --from-config`).
    Config,
}

impl SettingsFrom {
    /// Whether settings may come from configuration items at all.
    pub fn config(self) -> bool {
        self != SettingsFrom::Resources
    }
}

/// What the checks and actions of one scan share: reads made once, and
/// concurrency slots per (service, region).
pub struct ScanReads {
    slots: Mutex<HashMap<String, Slot>>,
    limits: Mutex<HashMap<(String, String), Arc<Semaphore>>>,
    per_service: usize,
    attempts: u32,
    first_backoff: Duration,
    throttled: AtomicU64,
    recorded: SettingsFrom,
    verdicts_only: bool,
    from_recorded: AtomicU64,
    notes: Mutex<Vec<String>>,
}

impl Default for ScanReads {
    fn default() -> Self {
        ScanReads::new(8)
    }
}

impl ScanReads {
    /// `per_service`: calls in flight at once to one service in one
    /// region (at least 1).
    pub fn new(per_service: usize) -> ScanReads {
        ScanReads {
            slots: Mutex::new(HashMap::new()),
            limits: Mutex::new(HashMap::new()),
            per_service: per_service.max(1),
            attempts: 6,
            first_backoff: Duration::from_millis(200),
            throttled: AtomicU64::new(0),
            recorded: SettingsFrom::Resources,
            verdicts_only: false,
            from_recorded: AtomicU64::new(0),
            notes: Mutex::new(Vec::new()),
        }
    }

    /// Whether settings may be taken from what AWS Config recorded of a
    /// resource (its configuration item) instead of one read per setting:
    /// a report only, as fresh as Config's recording.
    pub fn with_recorded_settings(mut self, from: SettingsFrom) -> ScanReads {
        self.recorded = from;
        self
    }

    /// Whether settings may come from configuration items in this scan.
    pub fn recorded_settings(&self) -> bool {
        self.recorded.config()
    }

    /// Where this scan takes settings from.
    pub fn settings_from(&self) -> SettingsFrom {
        self.recorded
    }

    /// Whether the scan only reports (it feeds no rule and plans no
    /// change: `rectify scan` without `--feed` or `--dry-run`, a scheduled
    /// scan with `feed: false`). Its checks then read what decides each
    /// verdict and skip what an action reads only to weigh a change (a
    /// bucket's website and grants, which say it may be public on purpose).
    pub fn with_verdicts_only(mut self, verdicts_only: bool) -> ScanReads {
        self.verdicts_only = verdicts_only;
        self
    }

    /// Whether `scan` (if any) is a report-only scan
    /// ([`ScanReads::with_verdicts_only`]); outside a scan, never.
    pub fn verdicts_only(scan: Option<&ScanReads>) -> bool {
        scan.is_some_and(|reads| reads.verdicts_only)
    }

    /// Counts `n` resources judged from their configuration items.
    pub fn count_recorded(&self, n: u64) {
        self.from_recorded.fetch_add(n, Ordering::Relaxed);
    }

    /// How many resources were judged from their configuration items.
    pub fn recorded_resources(&self) -> u64 {
        self.from_recorded.load(Ordering::Relaxed)
    }

    /// Keeps `note` for the scan's report (said once however often it is
    /// noted).
    pub fn note(&self, note: impl Into<String>) {
        let note = note.into();
        let mut notes = self.notes.lock().unwrap_or_else(|p| p.into_inner());
        if !notes.contains(&note) {
            notes.push(note);
        }
    }

    /// What the scan's reads noted, in order.
    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The value `key` names if a read has already made it in this scan;
    /// `None` otherwise (nothing is read).
    pub fn made<T: Any + Send + Sync>(&self, key: &str) -> Option<Arc<T>> {
        let slot = {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.get(key)?.clone()
        };
        slot.get()?.clone().downcast::<T>().ok()
    }

    /// Backoff settings: `attempts` tries in all, the first wait
    /// `first_backoff`, doubled each time (with jitter).
    pub fn with_backoff(mut self, attempts: u32, first_backoff: Duration) -> ScanReads {
        self.attempts = attempts.max(1);
        self.first_backoff = first_backoff;
        self
    }

    /// How many calls came back throttled (and were tried again).
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// The value `key` names, read by `read` the first time it is asked
    /// for in this scan; callers asking at once wait for the one read.
    /// A failed read is not kept: the next caller tries again.
    pub async fn once<T, F, Fut>(&self, key: &str, read: F) -> Result<Arc<T>, ActionError>
    where
        T: Any + Send + Sync,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ActionError>>,
    {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry(key.to_string()).or_default().clone()
        };
        let value = slot
            .get_or_try_init(|| async move {
                let v = read().await?;
                Ok::<_, ActionError>(Arc::new(v) as Arc<dyn Any + Send + Sync>)
            })
            .await?
            .clone();
        value.downcast::<T>().map_err(|_| {
            ActionError::invalid(format!("scan read {key}: asked for as another type"))
        })
    }

    /// One read made once per scan: `read` under `key`, in a slot of
    /// `service` in `region`, when `scan` is a scan's reads; read anew
    /// outside a scan (a job's check before it writes, a read-back).
    pub async fn shared<T, F, Fut>(
        scan: Option<&ScanReads>,
        key: &str,
        service: &str,
        region: &str,
        read: F,
    ) -> Result<T, ActionError>
    where
        T: Clone + Any + Send + Sync,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ActionError>>,
    {
        let Some(reads) = scan else {
            return read().await;
        };
        let value = reads
            .once(key, || reads.call(service, region, &read))
            .await?;
        Ok(T::clone(&value))
    }

    /// Runs `call` in one of the slots of `service` in `region`, trying
    /// again with exponential backoff (and jitter) while it comes back
    /// throttled, up to the attempts set.
    pub async fn call<T, F, Fut>(
        &self,
        service: &str,
        region: &str,
        mut call: F,
    ) -> Result<T, ActionError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ActionError>>,
    {
        let limit = {
            let mut limits = self.limits.lock().unwrap_or_else(|p| p.into_inner());
            limits
                .entry((service.to_string(), region.to_string()))
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_service)))
                .clone()
        };
        let mut wait = self.first_backoff;
        let mut attempt = 1;
        loop {
            let result = {
                let _permit = limit
                    .acquire()
                    .await
                    .map_err(|_| ActionError::invalid("scan slots closed"))?;
                call().await
            };
            match result {
                Err(e) if e.class == ErrorClass::Throttled && attempt < self.attempts => {
                    self.throttled.fetch_add(1, Ordering::Relaxed);
                    // Full jitter: anywhere in [wait/2, wait).
                    let half = wait.as_millis() as u64 / 2;
                    let jitter = if half == 0 { 0 } else { random_u64() % half };
                    tokio::time::sleep(Duration::from_millis(half + jitter)).await;
                    wait = (wait * 2).min(Duration::from_secs(20));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

fn random_u64() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn a_read_is_made_once_and_failures_are_not_kept() {
        let reads = ScanReads::new(2);
        let made = AtomicUsize::new(0);
        let read = || async {
            made.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ActionError>(vec![1, 2, 3])
        };
        let (a, b) = tokio::join!(reads.once("k", read), reads.once("k", read));
        assert_eq!(*a.unwrap(), vec![1, 2, 3]);
        assert_eq!(*b.unwrap(), vec![1, 2, 3]);
        assert_eq!(made.load(Ordering::SeqCst), 1);
        let failed = reads
            .once::<u8, _, _>("f", || async { Err(ActionError::invalid("no")) })
            .await;
        assert!(failed.is_err());
        let again = reads.once("f", || async { Ok::<u8, ActionError>(7) }).await;
        assert_eq!(*again.unwrap(), 7);
        // The same key asked for as another type is an error, not a panic.
        assert!(reads
            .once::<String, _, _>("k", || async { Ok(String::new()) })
            .await
            .is_err());
    }

    #[tokio::test]
    async fn made_answers_only_what_a_read_made_and_notes_are_said_once() {
        let reads = ScanReads::new(1);
        assert!(reads.made::<u8>("k").is_none());
        reads
            .once("k", || async { Ok::<u8, ActionError>(3) })
            .await
            .unwrap();
        assert_eq!(reads.made::<u8>("k").as_deref(), Some(&3));
        assert!(reads.made::<String>("k").is_none());
        reads.note("a");
        reads.note("b");
        reads.note("a");
        assert_eq!(reads.notes(), ["a", "b"]);
        assert!(!reads.recorded_settings());
        let reads = ScanReads::new(1).with_recorded_settings(SettingsFrom::ConfigWhereRecorded);
        assert!(reads.recorded_settings());
        assert_eq!(reads.settings_from(), SettingsFrom::ConfigWhereRecorded);
        reads.count_recorded(2);
        reads.count_recorded(3);
        assert_eq!(reads.recorded_resources(), 5);
    }

    #[tokio::test]
    async fn shared_reads_are_made_once_in_a_scan_and_every_time_outside() {
        let made = AtomicUsize::new(0);
        let read = || async {
            made.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ActionError>(String::from("trail"))
        };
        let reads = ScanReads::new(1);
        for _ in 0..3 {
            let got = ScanReads::shared(Some(&reads), "t", "cloudtrail", "eu-west-1", read).await;
            assert_eq!(got.unwrap(), "trail");
        }
        assert_eq!(made.load(Ordering::SeqCst), 1);
        for _ in 0..3 {
            let got = ScanReads::shared(None, "t", "cloudtrail", "eu-west-1", read).await;
            assert_eq!(got.unwrap(), "trail");
        }
        assert_eq!(made.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn throttled_calls_back_off_then_give_up() {
        let reads = ScanReads::new(1).with_backoff(3, Duration::from_millis(2));
        let tries = AtomicUsize::new(0);
        let out: Result<(), _> = reads
            .call("ec2", "eu-west-1", || async {
                tries.fetch_add(1, Ordering::SeqCst);
                Err(ActionError::new(ErrorClass::Throttled, "slow down"))
            })
            .await;
        assert_eq!(out.unwrap_err().class, ErrorClass::Throttled);
        assert_eq!(tries.load(Ordering::SeqCst), 3);
        assert_eq!(reads.throttled(), 2);
        // Anything else is not tried again.
        let tries = AtomicUsize::new(0);
        let out: Result<(), _> = reads
            .call("ec2", "eu-west-1", || async {
                tries.fetch_add(1, Ordering::SeqCst);
                Err(ActionError::invalid("bad"))
            })
            .await;
        assert!(out.is_err());
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn calls_to_one_service_and_region_stay_within_their_slots() {
        let reads = Arc::new(ScanReads::new(2));
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (reads, now, most) = (reads.clone(), now.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                reads
                    .call("s3", "us-east-1", || async {
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(n, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        now.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, ActionError>(())
                    })
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }
}
