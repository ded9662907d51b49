//! rectify's one storage interface — events, findings, the durable job
//! queue and the hash-chained audit log — with two back ends: SQLite (one
//! file, the embedded default) and PostgreSQL (several `rectify serve`
//! replicas sharing one database).
//!
//! Everything goes through the [`Store`] trait, obtained from [`open`]:
//!
//! ```no_run
//! # async fn demo() -> rectify_store::Result<()> {
//! let store = rectify_store::open("sqlite://var/rectify.db").await?;
//! // or: rectify_store::open("postgres://rectify@db.internal:5432/rectify").await?;
//! store.set_paused(false, "ops").await?;
//! # Ok(()) }
//! ```
//!
//! # URLs
//!
//! * `sqlite://PATH` (`sqlite:///abs/path` for an absolute path) and
//!   `sqlite::memory:`.
//! * `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?PARAMS]` or
//!   `postgresql://...`: the libpq URL form as `tokio-postgres` reads it
//!   (`application_name`, `connect_timeout`, `options`, `hostaddr`, ...).
//!   `sslmode` (`disable`, `prefer`, `require`, `verify-ca`,
//!   `verify-full`) and `sslrootcert=PATH` set up TLS with rustls (no
//!   `sslmode`: no TLS). Two parameters are the store's own and are taken
//!   out before connecting:
//!   * `schema=NAME` keeps every table in that schema (created at open if
//!     missing; a plain lower-case identifier). Several rectify
//!     installations — or parallel tests — can share one database this way.
//!     Without it the tables go where the server's `search_path` puts them
//!     (normally `public`).
//!   * `pool_size=N` — connections per process (default 8, at most 256).
//!
//! # Queue semantics
//!
//! The queue is at-least-once. A worker [`claim`](Store::claim)s jobs, which
//! sets them `running` under a lease (owner + expiry) and counts an attempt;
//! it [`renew`](Store::renew)s the lease during long actions and writes the
//! result with [`save_job`](Store::save_job), which is refused once someone
//! else has taken the job over. A job whose lease runs out is claimable by
//! anyone (its holder is taken to be dead). Worker ids must be unique per
//! process (e.g. `host:pid:n`).
//!
//! # Several replicas on PostgreSQL
//!
//! * **Claiming.** [`Store::claim`] is one statement: a `SELECT ... FOR
//!   UPDATE SKIP LOCKED` over the runnable jobs (pending or retrying and
//!   due, or running with an expired lease), in run order, feeding an
//!   `UPDATE` that sets them running under the claimer's lease. Replicas
//!   claiming at the same moment skip each other's rows instead of waiting,
//!   and never get the same job.
//! * **Leases.** A replica that dies leaves its jobs running; once their
//!   lease runs out any replica's next claim takes them (attempts go up).
//!   A worker only writes a job back while it still holds the lease.
//! * **Stable worker ids.** Give each replica a worker id that survives a
//!   restart (e.g. the pod name plus a slot number) and call
//!   [`Store::release_owned`] with it at start: the jobs it held when it
//!   died go back to pending at once instead of after the lease. Do not call
//!   [`Store::recover_expired`] on start-up with several replicas: expired
//!   leases are reclaimed by `claim` anyway.
//! * **Audit chain.** Appends from every replica are serialised by a row
//!   lock on the single chain-head row, so the chain stays linear and
//!   gap-free; the hash layout ([`audit`]) is the same for both back ends,
//!   and so are [`Store::verify_audit`]'s answers.
//! * **Kill switch.** [`Store::set_paused`] is a row in the shared database:
//!   every replica sees it at its next check.
//! * **Clocks.** Times come from each replica's clock; keep clocks in sync
//!   (NTP) and leases much longer than any skew.
//!
//! # Migrations
//!
//! Both back ends keep versioned migrations in a `schema_migrations` table
//! and apply the missing ones when the store is opened. A database whose
//! version is newer than the build is refused ([`StoreError::Migration`]).
//! On PostgreSQL the migration runs in one transaction under
//! `pg_advisory_xact_lock`, so replicas starting at once apply each
//! migration exactly once; on SQLite under `BEGIN IMMEDIATE`.
//!
//! # Times
//!
//! All times the store writes are RFC 3339 UTC with exactly three fraction
//! digits (`2024-05-01T12:00:00.000Z`), so that they compare correctly as
//! text (PostgreSQL stores them as text too, under the `"C"` collation).
//! Times handed in (a job's `created_at`, `updated_at`, `next_run_at`) are
//! normalised to that form on write; see [`timefmt`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rectify_model::{AuditRecord, Event, FindingRef, Job, JobState};

pub mod audit;
pub mod coalesce;
mod common;
pub mod detector_state;
pub mod digest;
pub mod outbox;
mod pg_schema;
mod pg_tls;
mod postgres;
pub mod scans;
mod schema;
mod sqlite;
pub mod tickets;
pub mod timefmt;

pub use audit::AuditKey;
pub use coalesce::{CoalesceHold, CoalesceWindow};
pub use common::NewJob;
pub use detector_state::DetectorStateSave;
pub use digest::{DigestItem, DigestPeriod};
pub use outbox::OutboxItem;
pub use postgres::PostgresStore;
pub use scans::ScanRecord;
pub use sqlite::SqliteStore;
pub use tickets::TicketRow;

pub type Result<T> = std::result::Result<T, StoreError>;

/// What went wrong in the store; every message names the operation or the
/// object that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is not one this build understands.
    #[error("invalid store url {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// A back end this build does not (yet) have.
    #[error("unsupported store: {0}")]
    Unsupported(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The database refused or failed an operation.
    #[error("store: {op}: {source}")]
    Database {
        op: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Schema migration failed, or the database is newer than this build.
    #[error("store migration: {0}")]
    Migration(String),
    /// A stored value could not be read back (corrupt or foreign data).
    #[error("store: cannot decode {what}: {reason}")]
    Decode { what: String, reason: String },
    /// The caller handed in something the store cannot take.
    #[error("store: invalid input: {0}")]
    Invalid(String),
    #[error("store: {0} not found")]
    NotFound(String),
    /// A job id prefix that matches several jobs.
    #[error("store: job id prefix {prefix:?} is ambiguous (matches several jobs)")]
    Ambiguous { prefix: String },
    /// The job is not in the state the operation needs.
    #[error("store: job {id} is {state}, not {expected}")]
    InvalidState {
        id: String,
        state: JobState,
        expected: JobState,
    },
    /// A uniqueness rule was violated (e.g. a second active job for one
    /// idempotency key).
    #[error("store: conflict: {0}")]
    Conflict(String),
    /// The blocking task running the database call died.
    #[error("store: {op}: background task failed: {reason}")]
    Task { op: String, reason: String },
}

impl StoreError {
    /// The database cannot be reached or cannot take writes now (connection
    /// refused or lost, pool exhausted, server shutting down, SQLite busy,
    /// disk full), as opposed to refusing what it was asked to write: the
    /// same request may pass later, and splitting it up would not help.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::InvalidUrl { .. }
            | StoreError::Unsupported(_)
            | StoreError::Io { .. }
            | StoreError::Migration(_) => true,
            StoreError::Database { source, .. } => database_unavailable(source.as_ref()),
            _ => false,
        }
    }
}

fn database_unavailable(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    if e.is::<deadpool_postgres::PoolError>() {
        return true;
    }
    if let Some(e) = e.downcast_ref::<tokio_postgres::Error>() {
        return match e.code() {
            // Connection exception, insufficient resources, shutdown,
            // system error, a read-only server (a standby after failover).
            Some(code) => {
                let code = code.code();
                ["08", "53", "57P", "58"]
                    .iter()
                    .any(|class| code.starts_with(class))
                    || code == "25006"
            }
            // No answer from the server: closed, I/O, timeout, connect.
            None => {
                e.is_closed()
                    || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
                    || e.to_string().contains("timeout")
                    || e.to_string().starts_with("error connecting")
            }
        };
    }
    if let Some(e) = e.downcast_ref::<rusqlite::Error>() {
        use rusqlite::ErrorCode::*;
        return matches!(
            e.sqlite_error_code(),
            Some(
                DatabaseBusy
                    | DatabaseLocked
                    | CannotOpen
                    | DiskFull
                    | SystemIoFailure
                    | ReadOnly
                    | FileLockingProtocolFailed
                    | OutOfMemory
            )
        );
    }
    false
}

/// The result of an enqueue.
#[derive(Debug, Clone, PartialEq)]
pub enum Enqueued {
    /// The job was stored.
    Created(Job),
    /// A job with the same idempotency key exists and is not final
    /// (pending, waiting-approval, running, retrying), or a job with the
    /// same id exists: that job is returned and nothing was stored.
    Duplicate(Job),
}

impl Enqueued {
    pub fn job(&self) -> &Job {
        match self {
            Enqueued::Created(job) | Enqueued::Duplicate(job) => job,
        }
    }

    pub fn into_job(self) -> Job {
        match self {
            Enqueued::Created(job) | Enqueued::Duplicate(job) => job,
        }
    }

    pub fn is_created(&self) -> bool {
        matches!(self, Enqueued::Created(_))
    }
}

/// What became of a job, as `rectify report` counts it, in its column
/// order:
///
/// * `fixed`: changed and read back as compliant;
/// * `compliant`: already compliant, nothing written;
/// * `dry-run`: planned in dry-run, nothing written;
/// * `waiting`: waiting for a person's approval;
/// * `skipped`: nothing done and nothing to stop (rule disabled, setting
///   not configured, account or region outside the config);
/// * `refused`: rectify declined to act, for safety: an exemption tag, a
///   person's repeated change, a paused rule or a tripped breaker;
/// * `failed`: the action failed, gave up after its attempts, or the
///   read-back did not comply;
/// * `reverted`: an undo (`rectify jobs revert`) restored the state from
///   before a change;
/// * `open`: not settled yet (pending, running, retrying).
pub const REPORT_OUTCOMES: [&str; 9] = [
    "fixed",
    "compliant",
    "dry-run",
    "waiting",
    "skipped",
    "refused",
    "failed",
    "reverted",
    "open",
];

/// How the outcome of a job a person rejected begins (`rejected by
/// api:ops: not during the freeze`).
pub const REJECTED_BY: &str = "rejected by ";

/// One line of [`Store::tally_jobs`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobTally {
    pub rule_id: String,
    /// The target's account.
    pub account: String,
    pub control: Option<String>,
    /// One of [`REPORT_OUTCOMES`].
    pub outcome: String,
    pub jobs: u64,
}

/// Which jobs [`Store::list_jobs`] returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub rule_id: Option<String>,
    /// The target's account.
    pub account: Option<String>,
    /// The action's name (`aws.s3.block_public_access`).
    pub action: Option<String>,
    /// The `Id` of the Security Hub finding the job answers.
    pub finding_id: Option<String>,
    /// At most this many; `0` means no limit.
    pub limit: usize,
    /// Only jobs listed after this one (the last of the previous page).
    pub after: Option<JobCursor>,
}

/// A position in the job listing (newest first): the job with this
/// `created_at` and `id`, which is itself not listed again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobCursor {
    pub created_at: String,
    pub id: String,
}

impl JobCursor {
    /// The position right after `job`.
    pub fn after(job: &Job) -> JobCursor {
        JobCursor {
            created_at: job.created_at.clone(),
            id: job.id.clone(),
        }
    }
}

/// A position in the findings listing (most recently updated first).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FindingCursor {
    pub updated_at: String,
    pub id: String,
    pub product_arn: String,
}

impl FindingCursor {
    /// The position right after `row`.
    pub fn after(row: &FindingRow) -> FindingCursor {
        FindingCursor {
            updated_at: row.updated_at.clone(),
            id: row.id.clone(),
            product_arn: row.product_arn.clone(),
        }
    }
}

/// Which findings [`Store::find_findings`] returns (every field optional;
/// newest first, as [`Store::list_findings`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindingFilter {
    pub account: Option<String>,
    /// The consolidated control id (`S3.8`).
    pub control: Option<String>,
    /// `Severity.Label` of the ASFF (`CRITICAL`, `HIGH`, ...).
    pub severity: Option<String>,
    /// `Workflow.Status` as stored (`NEW`, `NOTIFIED`, `RESOLVED`, ...).
    pub workflow_status: Option<String>,
    /// Only findings a job of this rule answered.
    pub rule_id: Option<String>,
    /// One finding by its `Id` (with any product ARN).
    pub id: Option<String>,
    /// At most this many; `0` means no limit.
    pub limit: usize,
    pub after: Option<FindingCursor>,
}

/// One line of [`Store::finding_counts`]: how many stored findings share
/// these fields.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FindingCount {
    pub account: String,
    pub control: Option<String>,
    pub severity: Option<String>,
    pub workflow_status: Option<String>,
    pub findings: u64,
}

/// One line of [`Store::finding_spans`]: how many stored findings share
/// these fields and the days they opened and closed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FindingSpan {
    pub account: String,
    pub control: Option<String>,
    /// `Severity.Label`, upper case.
    pub severity: Option<String>,
    /// The first ten characters of `FirstObservedAt`, else `CreatedAt`,
    /// else the time the row was last written: the day it opened when
    /// they are a date (the ASFF is outside input: check before use).
    pub opened: Option<String>,
    /// The day of the row's last write when its workflow status is
    /// `RESOLVED` or `SUPPRESSED` (the day it closed); `None` while open.
    pub closed: Option<String>,
    pub findings: u64,
}

/// One line of [`Store::fixes_by_day`]: jobs that fixed something (the
/// `fixed` outcome of [`REPORT_OUTCOMES`]), by the day they were last
/// written, account, control and the finding's severity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FixCount {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub account: String,
    pub control: Option<String>,
    pub severity: Option<String>,
    pub jobs: u64,
}

/// A finding as stored: the indexed fields plus the whole ASFF document.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FindingRow {
    pub id: String,
    pub product_arn: String,
    pub account: String,
    /// `Region`, else `Resources[0].Region`, else empty.
    pub region: String,
    /// `Compliance.SecurityControlId`, else `ProductFields.ControlId`.
    pub control: Option<String>,
    /// `Workflow.Status` as last received, or as last set by
    /// [`Store::set_finding_outcome`].
    pub workflow_status: Option<String>,
    pub last_event_id: String,
    pub last_job_id: Option<String>,
    pub last_outcome: Option<String>,
    pub updated_at: String,
    /// The ASFF finding as last received.
    pub finding: serde_json::Value,
}

/// An event as the store writes it, serialised by the caller: the JSON
/// work happens on the submitting task, in parallel, and the single writer
/// only inserts.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: String,
    pub source: String,
    pub detail_type: String,
    pub account: String,
    pub region: String,
    pub time: String,
    /// JSON array.
    pub resources: String,
    /// The JSON envelope: the text received when ingest kept it, else
    /// serialised again.
    pub body: std::sync::Arc<str>,
    pub origin: String,
}

impl EventRow {
    pub fn new(event: &Event, origin: &str) -> Result<EventRow> {
        Ok(EventRow {
            id: event.id.clone(),
            source: event.source.clone(),
            detail_type: event.detail_type.clone(),
            account: event.account.clone(),
            region: event.region.clone(),
            time: event.time.clone(),
            resources: common::to_json("event resources", &event.resources)?,
            body: match event.received_text() {
                Some(text) => text.clone(),
                None => common::to_json("event body", &event.body)?.into(),
            },
            origin: origin.to_owned(),
        })
    }
}

/// A finding to insert or update (see [`Store::upsert_finding`]), checked
/// and serialised by the caller.
#[derive(Clone)]
pub struct FindingUpsert {
    pub(crate) event_id: String,
    pub(crate) fields: common::FindingFields,
    /// `None`: the finding is `detail.findings[0]` of the event, stored in
    /// the same transaction, and is read from there.
    pub(crate) raw: Option<String>,
}

impl FindingUpsert {
    /// Fails, naming the event, when the finding has no `Id` or
    /// `ProductArn`.
    pub fn new(event_id: &str, finding: &serde_json::Value) -> Result<FindingUpsert> {
        let mut upsert = FindingUpsert::in_event(event_id, finding)?;
        upsert.raw = Some(common::to_json("finding", finding)?);
        Ok(upsert)
    }

    /// For a finding that is `detail.findings[0]` of event `event_id`,
    /// stored with it ([`Store::ingest`]): only the indexed fields are
    /// written, and the ASFF is read back from the event (the hot path
    /// stores each finding once).
    pub fn in_event(event_id: &str, finding: &serde_json::Value) -> Result<FindingUpsert> {
        let fields = common::FindingFields::from_asff(finding).map_err(|e| match e {
            StoreError::Invalid(m) => StoreError::Invalid(format!("{m} (event {event_id})")),
            other => other,
        })?;
        Ok(FindingUpsert {
            event_id: event_id.to_owned(),
            fields,
            raw: None,
        })
    }
}

/// Builds the audit entries `(kind, subject, data)` of an ingest once its
/// outcome is known (which events were new, which jobs were created),
/// inside the ingest's transaction.
pub type IngestAudit =
    Box<dyn FnOnce(&[bool], &[Enqueued]) -> Vec<(String, String, serde_json::Value)> + Send>;

/// Everything one ingest writes, in one transaction: see [`Store::ingest`].
pub struct IngestBatch {
    pub events: Vec<EventRow>,
    pub findings: Vec<FindingUpsert>,
    pub jobs: Vec<NewJob>,
    pub audit: IngestAudit,
}

/// What [`Store::ingest`] did: per-event "new" flags and per-job enqueue
/// results, in the batch's order, and the audit records it appended.
#[derive(Debug)]
pub struct Ingested {
    pub fresh: Vec<bool>,
    pub jobs: Vec<Enqueued>,
    pub audit: Vec<AuditRecord>,
}

/// An audit entry as the engine writes it: `(kind, subject, data)`.
pub type AuditEntry = (String, String, serde_json::Value);

/// One write of a running job, for [`Store::write_jobs`] (the worker's
/// group commit).
// Each write is moved once, to the committer and into the batch: the
// size of the larger variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum JobWrite {
    /// As [`Store::mark_applying`]: the records (the last one the
    /// `job.applying` record) and the mark, only while `worker` holds the
    /// job. Its answer is whether it did.
    Applying {
        job_id: String,
        worker: String,
        plan: rectify_model::Change,
        records: Vec<AuditEntry>,
    },
    /// Audit records, a finding's outcome and a job's final state, in
    /// that order; see [`JobSave`].
    Save(JobSave),
}

/// What a [`JobWrite::Save`] writes. The records and the finding's outcome
/// are written whether or not the job still is this worker's (they record
/// what happened); the job only as [`Store::save_job`] would. Its answer
/// is `save_job`'s (true when there is no job).
#[derive(Debug, Clone, Default)]
pub struct JobSave {
    pub records: Vec<AuditEntry>,
    /// As [`Store::set_finding_outcome`], except that a finding that is
    /// not stored is no error here (there is nothing to update).
    pub finding: Option<FindingOutcome>,
    /// The job, and the worker that must still hold it (`None`: anyone).
    pub job: Option<(Job, Option<String>)>,
}

/// The outcome a job leaves on its finding (see
/// [`Store::set_finding_outcome`]).
#[derive(Debug, Clone)]
pub struct FindingOutcome {
    pub finding: FindingRef,
    pub job_id: String,
    pub outcome: String,
    pub workflow_status: Option<String>,
}

/// What a job reads of the store right before it writes, in one read
/// ([`Store::write_gate`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteGate {
    /// The kill switch is on (`rectify pause`).
    pub paused: bool,
    /// The job's rule is paused, and why.
    pub rule_paused: Option<String>,
    /// The count asked for with [`ChangeCount`], as
    /// [`Store::count_changes`] gives it; `None` when none was asked.
    pub changes: Option<u64>,
}

/// The changes a [`Store::write_gate`] read counts (the blast-radius
/// breakers' count): as [`Store::count_changes`].
#[derive(Debug, Clone, Copy)]
pub struct ChangeCount<'a> {
    pub account: &'a str,
    pub rule: &'a str,
    pub since: &'a str,
}

/// The result of [`Store::verify_audit`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum AuditVerdict {
    /// Every record's hash recomputes and links to its predecessor.
    /// `keyed` of them verified under the audit key (the rest, all before
    /// the first keyed one, are unkeyed: written before a key was set, or
    /// the store has none).
    Intact { records: u64, keyed: u64 },
    /// `seq` is the first record that is wrong (or missing); `reason` says
    /// how: hash mismatch, prev_hash mismatch, gap in seq, truncation.
    Broken { seq: i64, reason: String },
}

impl AuditVerdict {
    pub fn is_intact(&self) -> bool {
        matches!(self, AuditVerdict::Intact { .. })
    }
}

/// Compares every lane head an anchor vouches for with the log as it is
/// now: for each, the anchored head and what the log holds at its seq in
/// its lane (its MAC is checked separately, [`audit::Anchor::mac_valid`]).
pub async fn check_anchor_heads(
    store: &dyn Store,
    anchor: &audit::Anchor,
) -> Result<Vec<(audit::LaneHead, audit::AnchorCheck)>> {
    let heads = store.audit_heads().await?;
    let mut out = Vec::new();
    for anchored in anchor.heads() {
        let found = anchored_hash(store, &anchored).await?;
        let last_seq = heads
            .iter()
            .find(|h| h.lane == anchored.lane)
            .map(|h| h.seq)
            .unwrap_or(0);
        let check = audit::check_anchored(&anchored.hash, found.as_deref(), last_seq);
        out.push((anchored, check));
    }
    Ok(out)
}

/// The hash of the record the log holds at `head`'s seq in `head`'s lane.
pub async fn anchored_hash(store: &dyn Store, head: &audit::LaneHead) -> Result<Option<String>> {
    Ok(store
        .audit(head.seq - 1, 1)
        .await?
        .into_iter()
        .find(|r| r.seq == head.seq && r.lane == head.lane)
        .map(|r| r.hash))
}

/// The storage interface. Every method is one atomic unit (one
/// transaction) unless it says otherwise.
#[async_trait]
pub trait Store: Send + Sync {
    /// Stores the event; false if an event with this id was already stored
    /// (dedupe of redeliveries).
    async fn record_event(&self, event: &Event, origin: &str) -> Result<bool>;

    /// Many at once in ONE transaction (the ingest hot path batches
    /// commits); returns per-event "new" flags, in order. A repeated id
    /// inside the batch is new only the first time.
    async fn record_events(&self, events: &[(Event, String)]) -> Result<Vec<bool>>;

    /// The ingest hot path in ONE transaction: records the events (as
    /// [`record_events`](Store::record_events)), upserts the findings (as
    /// [`upsert_findings`](Store::upsert_findings)), enqueues the jobs (as
    /// [`enqueue_many`](Store::enqueue_many)) and appends the audit entries
    /// that `batch.audit` builds from those results. Either all of it is
    /// durable or none of it.
    async fn ingest(&self, batch: IngestBatch) -> Result<Ingested>;

    /// Inserts or updates the finding, keyed by (`Id`, `ProductArn`), both
    /// required. Indexed fields come from the ASFF: `AwsAccountId`, `Region`
    /// or `Resources[0].Region`, `Compliance.SecurityControlId` (or
    /// `ProductFields.ControlId`), `Workflow.Status`. A finding whose ASFF
    /// `UpdatedAt` is older than the stored one's is ignored (out-of-order
    /// redelivery). The last job and outcome are kept across updates.
    async fn upsert_finding(&self, event_id: &str, finding: &serde_json::Value) -> Result<()>;

    /// [`upsert_finding`](Store::upsert_finding) for many `(event id,
    /// finding)` pairs in one transaction (the ingest hot path). Every
    /// finding is checked first; one without `Id` or `ProductArn` fails the
    /// batch with a message naming its event.
    async fn upsert_findings(&self, findings: &[(String, serde_json::Value)]) -> Result<()>;

    /// Records the job that last acted on the finding, its outcome and
    /// (when given) the workflow status it was set to.
    /// [`StoreError::NotFound`] if the finding was never stored.
    async fn set_finding_outcome(
        &self,
        finding: &FindingRef,
        job_id: &str,
        outcome: &str,
        workflow_status: Option<&str>,
    ) -> Result<()>;

    /// Most recently updated first (then by id and product ARN); `limit` 0
    /// means no limit; with `after`, only the findings listed after that
    /// position.
    async fn list_findings(
        &self,
        limit: usize,
        after: Option<&FindingCursor>,
    ) -> Result<Vec<FindingRow>>;

    /// The findings that pass `filter` (see [`FindingFilter`]).
    async fn find_findings(&self, filter: &FindingFilter) -> Result<Vec<FindingRow>>;

    /// The stored findings counted by account, control, severity and
    /// workflow status (one scan of the findings).
    async fn finding_counts(&self) -> Result<Vec<FindingCount>>;

    /// The stored findings counted by account, control, severity, the
    /// day they opened and the day they closed (one scan of the
    /// findings): what was open on any day, as far as the store knows.
    async fn finding_spans(&self) -> Result<Vec<FindingSpan>>;

    /// The jobs created at or after `from` and before `to` that fixed
    /// something, counted by the day they were last written, account,
    /// control and severity (bounded by the window, as
    /// [`tally_jobs`](Store::tally_jobs)).
    async fn fixes_by_day(&self, from: &str, to: &str) -> Result<Vec<FixCount>>;

    /// Stores a new job, unless a non-final job with the same idempotency
    /// key (or any job with the same id) exists: then that one comes back as
    /// [`Enqueued::Duplicate`]. A key whose previous job is final gets a new
    /// job.
    async fn enqueue(&self, job: &Job) -> Result<Enqueued>;

    /// [`enqueue`](Store::enqueue) for many jobs in one transaction; a
    /// repeated key inside the batch is a duplicate of the first.
    async fn enqueue_many(&self, jobs: &[Job]) -> Result<Vec<Enqueued>>;

    /// Claims up to `limit` jobs in state pending or retrying whose
    /// next_run_at is null or <= now, ordered by next_run_at (or created_at
    /// when null): sets them running with a lease owned by `worker` until
    /// now+lease, attempts += 1. Running jobs whose lease expired are
    /// claimable too (the holder died). Never hands one job to two claimers.
    async fn claim(&self, worker: &str, lease: Duration, limit: usize) -> Result<Vec<Job>>;

    /// Extends the lease to now+lease (long actions); false if `worker` no
    /// longer holds the job.
    async fn renew(&self, job_id: &str, worker: &str, lease: Duration) -> Result<bool>;

    /// [`claim`](Store::claim), unless the kill switch is on (then
    /// nothing is claimed). The flag is read by the claim itself where the
    /// store can (PostgreSQL: one statement, one round trip); this default
    /// reads it just before.
    async fn claim_unpaused(
        &self,
        worker: &str,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>> {
        if limit == 0 || self.is_paused().await? {
            return Ok(Vec::new());
        }
        self.claim(worker, lease, limit).await
    }

    /// [`renew`](Store::renew) for many jobs of `worker` at once (one
    /// statement on PostgreSQL, one transaction on SQLite): the ids of
    /// those still held by `worker`, whose leases now run to now+lease.
    async fn renew_many(
        &self,
        job_ids: &[String],
        worker: &str,
        lease: Duration,
    ) -> Result<Vec<String>> {
        let mut held = Vec::with_capacity(job_ids.len());
        for id in job_ids {
            if self.renew(id, worker, lease).await? {
                held.push(id.clone());
            }
        }
        Ok(held)
    }

    /// Writes `records` (the run's audit records up to its `job.applying`
    /// record, which must come last) and, in the same transaction, notes
    /// on the job that its change `plan` is about to be applied, so that a
    /// run after an interruption knows the change may already be in place.
    /// False (and nothing written) when `worker` no longer holds the job.
    async fn mark_applying(
        &self,
        job_id: &str,
        worker: &str,
        plan: &rectify_model::Change,
        records: &[(String, String, serde_json::Value)],
    ) -> Result<bool>;

    /// Many running jobs' writes ([`JobWrite`]) at once: on PostgreSQL and
    /// SQLite in ONE transaction (group commit: one commit, one WAL flush,
    /// for the writes of every job running at the moment), durable
    /// together or not at all; the answers are in `writes`' order. A lost
    /// lease is an answer (false) for its write only, never an error of
    /// the batch. Any other error fails the whole batch and writes
    /// nothing; the caller may then write each on its own to find the one
    /// at fault. This default writes each with its own call, one after the
    /// other (not atomic as a whole).
    async fn write_jobs(&self, writes: &[JobWrite]) -> Result<Vec<bool>> {
        let mut out = Vec::with_capacity(writes.len());
        for write in writes {
            out.push(match write {
                JobWrite::Applying {
                    job_id,
                    worker,
                    plan,
                    records,
                } => self.mark_applying(job_id, worker, plan, records).await?,
                JobWrite::Save(save) => {
                    if !save.records.is_empty() {
                        self.append_audit_many(&save.records).await?;
                    }
                    if let Some(f) = &save.finding {
                        match self
                            .set_finding_outcome(
                                &f.finding,
                                &f.job_id,
                                &f.outcome,
                                f.workflow_status.as_deref(),
                            )
                            .await
                        {
                            Ok(()) | Err(StoreError::NotFound(_)) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    match &save.job {
                        Some((job, worker)) => self.save_job(job, worker.as_deref()).await?,
                        None => true,
                    }
                }
            });
        }
        Ok(out)
    }

    /// For a job marked with [`Store::mark_applying`]: the kinds of its
    /// audit records from the `job.applying` record on, oldest first.
    /// None when the job was never marked.
    async fn applying_history(&self, job_id: &str) -> Result<Option<Vec<String>>>;

    /// The workers holding running jobs, each once.
    async fn lease_owners(&self) -> Result<Vec<String>>;

    /// Records that rectify is undoing a change `principal` made to
    /// `resource` of `account`, and returns how many such undos were
    /// recorded within the last `window` before this one.
    async fn record_reversal(
        &self,
        account: &str,
        resource: &str,
        principal: &str,
        window: Duration,
    ) -> Result<u64>;

    /// How many undos of `principal`'s changes to `resource` were recorded
    /// within the last `window`.
    async fn count_reversals(
        &self,
        account: &str,
        resource: &str,
        principal: &str,
        window: Duration,
    ) -> Result<u64>;

    /// Writes the job's mutable fields (state, attempts, next_run_at,
    /// last_error, plan, outcome, updated_at). With `worker` Some, only if
    /// that worker still holds the job (it is running under its lease; an
    /// expired lease nobody took over still counts); returns false otherwise
    /// (someone else took it). A state other than running releases the
    /// lease. [`StoreError::NotFound`] if the job does not exist and
    /// `worker` is None.
    async fn save_job(&self, job: &Job, worker: Option<&str>) -> Result<bool>;

    /// By id, or by a unique prefix of at least 8 characters
    /// ([`StoreError::Ambiguous`] if several match).
    async fn get_job(&self, id: &str) -> Result<Option<Job>>;

    /// Newest (created_at) first.
    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>>;

    /// Number of jobs per state, keyed by [`JobState::as_str`]; every state
    /// is present (zero when none).
    async fn count_jobs(&self) -> Result<BTreeMap<String, u64>>;

    /// The run time (`next_run_at`, else `created_at`) of the job claimed
    /// next: the earliest of the pending and retrying jobs; None when there
    /// are none. Its age is how far the workers are behind.
    async fn oldest_due(&self) -> Result<Option<String>>;

    /// The jobs created at or after `from` and before `to` (RFC 3339, the
    /// store's format), counted by rule, account, control and report
    /// outcome ([`REPORT_OUTCOMES`]). The scan is bounded by the window
    /// (the `created_at` index).
    async fn tally_jobs(&self, from: &str, to: &str) -> Result<Vec<JobTally>>;

    /// waiting-approval -> pending, recording who approved (the job's
    /// `approved_by` and a `job.approved` audit record, in the same
    /// transaction). [`StoreError::InvalidState`] if the job is in another
    /// state; the id may be a prefix as in [`get_job`](Store::get_job).
    async fn approve(&self, id: &str, by: &str) -> Result<Job>;

    /// waiting-approval -> skipped: a person said no. The outcome names who
    /// and why, and a `job.rejected` audit record is written in the same
    /// transaction. [`StoreError::InvalidState`] if the job is in another
    /// state (approved or rejected meanwhile).
    async fn reject(&self, id: &str, by: &str, reason: &str) -> Result<Job>;

    /// On startup of a single-process deployment: running jobs whose lease
    /// expired -> pending (attempts kept). Returns how many.
    async fn recover_expired(&self) -> Result<u64>;

    /// Running jobs leased by `worker` -> pending, whatever their lease.
    /// A worker with a stable id calls this when it starts: jobs it held
    /// when it died are taken up at once instead of after the lease.
    async fn release_owned(&self, worker: &str) -> Result<u64>;

    /// Appends to the hash-chained audit log and returns the record.
    /// Serialised: seq strictly increasing from 1 without gaps, prev_hash =
    /// previous record's hash ([`audit::GENESIS_HASH`] for the first). See
    /// [`audit`] for the hash.
    async fn append_audit(
        &self,
        kind: &str,
        subject: &str,
        data: &serde_json::Value,
    ) -> Result<AuditRecord>;

    /// [`append_audit`](Store::append_audit) for many `(kind, subject,
    /// data)` entries in one transaction; they get consecutive seqs, in
    /// order.
    async fn append_audit_many(
        &self,
        entries: &[(String, String, serde_json::Value)],
    ) -> Result<Vec<AuditRecord>>;

    /// Records with seq > `after_seq`, in order; `limit` 0 means no limit.
    async fn audit(&self, after_seq: i64, limit: usize) -> Result<Vec<AuditRecord>>;

    /// As [`Store::audit`], for a reader that follows the log by seq (the
    /// API's `after` cursor, `rectify audit list --after`): only records
    /// below every seq that an append still in flight may commit, so a
    /// record that commits after a later seq was read is never skipped.
    /// With one writer at a time (SQLite) seqs commit in order and this is
    /// [`Store::audit`].
    async fn audit_settled(&self, after_seq: i64, limit: usize) -> Result<Vec<AuditRecord>> {
        self.audit(after_seq, limit).await
    }

    /// The newest `limit` records whose subject is one of `subjects`
    /// (a job id, an event id), oldest first.
    async fn audit_about(&self, subjects: &[String], limit: usize) -> Result<Vec<AuditRecord>>;

    /// Streams through all records in order, recomputing every hash (under
    /// the store's audit key, see [`StoreOptions`]), and names the first
    /// bad record. Records exist but the chain head is gone: broken.
    async fn verify_audit(&self) -> Result<AuditVerdict>;

    /// The chain head as recorded: `(seq, hash)` of the last record,
    /// `None` while the log is empty (or the head is gone). In a log of
    /// several lanes, the head of the lane whose last record has the
    /// highest seq.
    async fn audit_head(&self) -> Result<Option<(i64, String)>>;

    /// Every lane's head as recorded, by lane (see [`audit`]); empty lanes
    /// have seq 0. A single-lane log has only lane 0.
    async fn audit_heads(&self) -> Result<Vec<audit::LaneHead>> {
        Ok(self
            .audit_head()
            .await?
            .map(|(seq, hash)| vec![audit::LaneHead { lane: 0, seq, hash }])
            .unwrap_or_default())
    }

    /// Rate limit and blast-radius record in one step: when the last change
    /// in `account`/`region` is at least `min_interval` old (or there is
    /// none), records this change (rule, resource, now) and returns `None`;
    /// otherwise records nothing and returns the time the slot frees up.
    /// Serialised across replicas.
    async fn reserve_change(
        &self,
        account: &str,
        region: &str,
        rule: &str,
        resource: &str,
        min_interval: Duration,
    ) -> Result<Option<String>>;

    /// Takes one of the `limit` concurrency slots of `account`/`region` for
    /// `holder` until now+`lease`: true when taken (or already held by
    /// `holder`, whose lease is extended), false when all are held by
    /// others. Slots past their lease are free. Serialised across
    /// replicas: with any number of them, at most `limit` holders at once.
    async fn take_slot(
        &self,
        account: &str,
        region: &str,
        holder: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<bool>;

    /// Gives `holder`'s slot in `account`/`region` back (a no-op when it
    /// holds none).
    async fn free_slot(&self, account: &str, region: &str, holder: &str) -> Result<()>;

    /// Changes recorded by `reserve_change` for `rule` in `account` at or
    /// after `since` (RFC 3339, the store's format).
    async fn count_changes(&self, account: &str, rule: &str, since: &str) -> Result<u64>;

    /// Pauses one rule (`reason: Some`) or resumes it (`None`), for every
    /// replica; audited.
    async fn set_rule_paused(&self, rule: &str, reason: Option<&str>, by: &str) -> Result<()>;

    /// Paused rules and why.
    async fn paused_rules(&self) -> Result<BTreeMap<String, String>>;

    /// Global kill switch (persisted, visible to all replicas); the change
    /// is also written to the audit log (`engine.paused` /
    /// `engine.resumed`, subject `by`).
    async fn set_paused(&self, paused: bool, by: &str) -> Result<()>;

    async fn is_paused(&self) -> Result<bool>;

    /// The kill switch, whether `rule` is paused, and (when `changes` asks
    /// for it) the breakers' count of changes, as one read: what a job
    /// checks right before it writes. On PostgreSQL one round trip; this
    /// default asks [`is_paused`](Store::is_paused),
    /// [`paused_rules`](Store::paused_rules) and
    /// [`count_changes`](Store::count_changes) in turn.
    async fn write_gate(&self, rule: &str, changes: Option<ChangeCount<'_>>) -> Result<WriteGate> {
        let paused = self.is_paused().await?;
        let rule_paused = self.paused_rules().await?.remove(rule);
        let changes = match changes {
            Some(c) => Some(self.count_changes(c.account, c.rule, c.since).await?),
            None => None,
        };
        Ok(WriteGate {
            paused,
            rule_paused,
            changes,
        })
    }

    /// The origin the event was first stored with (e.g. `http:<token
    /// name>`), `None` if no such event is stored.
    async fn event_origin(&self, id: &str) -> Result<Option<String>>;

    /// Writes and commits a small row (the `health.probe` setting) to show
    /// the store can still take writes: fails when the disk is full, the
    /// database is read-only or unreachable.
    async fn probe_write(&self) -> Result<()>;

    /// Which of `ids` are events already stored.
    async fn known_events(&self, ids: &[String]) -> Result<std::collections::BTreeSet<String>>;

    /// A polling source's saved position (the Security Hub poll's cursor),
    /// `None` before the first save.
    async fn source_cursor(&self, source: &str) -> Result<Option<String>>;

    /// Saves a polling source's position.
    async fn set_source_cursor(&self, source: &str, value: &str) -> Result<()>;

    /// Claims the finding's ticket row in `system` (state
    /// [`tickets::RESERVED`]) unless there is one: the row, and whether
    /// this call created it.
    async fn reserve_ticket(
        &self,
        system: &str,
        finding: &FindingRef,
        hub_region: &str,
    ) -> Result<(TicketRow, bool)>;

    /// Moves the finding's ticket from state `from` to `to`, setting the
    /// remote id and key when given: false when the row is not in `from`
    /// (someone else moved it first).
    async fn move_ticket(
        &self,
        system: &str,
        finding_id: &str,
        from: &str,
        to: &str,
        remote: Option<(&str, &str)>,
    ) -> Result<bool>;

    /// The finding's ticket row in `system`.
    async fn get_ticket(&self, system: &str, finding_id: &str) -> Result<Option<TicketRow>>;

    /// The ticket row in `system` whose remote id or key is `remote`.
    async fn find_ticket(&self, system: &str, remote: &str) -> Result<Option<TicketRow>>;

    /// Up to `limit` ticket rows of `system` in `state`, least recently
    /// updated first.
    async fn tickets_in_state(
        &self,
        system: &str,
        state: &str,
        limit: usize,
    ) -> Result<Vec<TicketRow>>;

    /// Writes notifications owed to channels (state
    /// [`outbox::PENDING`]); an id already present is left as it is.
    async fn outbox_put(&self, items: &[OutboxItem]) -> Result<()>;

    /// Claims up to `limit` pending messages due by now, oldest due first:
    /// each gets one more attempt and `next_attempt_at = claim_until`, so a
    /// sender that dies holding it gives it up when that time passes.
    async fn outbox_claim(&self, claim_until: &str, limit: usize) -> Result<Vec<OutboxItem>>;

    /// Settles a claimed message: `state` (pending again, sent or dead),
    /// the next attempt's time (when pending) and the last error.
    async fn outbox_settle(
        &self,
        id: &str,
        state: &str,
        next_attempt_at: &str,
        error: Option<&str>,
    ) -> Result<()>;

    /// Messages per state.
    async fn outbox_counts(&self) -> Result<BTreeMap<String, u64>>;

    /// The messages about one job, oldest first.
    async fn outbox_for_job(&self, job_id: &str) -> Result<Vec<OutboxItem>>;

    /// Holds items for digest channels ([`digest`]): each is written, or
    /// when its channel already holds its key, adds its `received` to
    /// that row; the first item of a channel with no open period opens
    /// one ending at its `period_ends_at`. A new item for a period that
    /// holds `max_items` already is not written: its `received` is added
    /// to the period's `dropped`.
    async fn digest_put(&self, items: &[DigestItem]) -> Result<()>;

    /// Claims up to `limit` periods that have ended and that no live claim
    /// holds, with their items: each is held under `token` until
    /// `claim_until`, so a process that dies holding one gives it up then.
    async fn digest_claim(
        &self,
        token: &str,
        claim_until: &str,
        limit: usize,
    ) -> Result<Vec<DigestPeriod>>;

    /// Closes a period claimed under `token`, in one transaction: deletes
    /// the period and the items of `keys` (those the digest was made of),
    /// and writes `message` (the digest) to the outbox. Items written
    /// since the claim stay and open the next period, ending at
    /// `next_due_at`, and so do drops counted past the claim's `dropped`
    /// (the count the digest told). `false`, and nothing done, when the claim is no
    /// longer this one's (it ran out and another process took it).
    async fn digest_close(
        &self,
        channel: &str,
        token: &str,
        keys: &[String],
        dropped: u64,
        next_due_at: &str,
        message: Option<&OutboxItem>,
    ) -> Result<bool>;

    /// Items held per channel (distinct items, not repeats).
    async fn digest_held(&self) -> Result<BTreeMap<String, u64>>;

    /// Offers messages to coalescing windows ([`coalesce`]), in one
    /// transaction: a message whose window is open (or closed and not yet
    /// summed up) is counted into it (`true`: held, send nothing); one
    /// with no window opens it, closing at its `closes_at`, and its
    /// `message` is written to the outbox (`false`: send it now).
    async fn coalesce_hold(&self, holds: &[CoalesceHold]) -> Result<Vec<bool>>;

    /// Claims up to `limit` windows that have closed and that no live
    /// claim holds: each is held under `token` until `claim_until`, so a
    /// process that dies holding one gives it up then.
    async fn coalesce_claim(
        &self,
        token: &str,
        claim_until: &str,
        limit: usize,
    ) -> Result<Vec<CoalesceWindow>>;

    /// Closes a window claimed under `token`, in one transaction: deletes
    /// it and writes `message` (its summary) to the outbox. `false`, and
    /// nothing written, when the claim is no longer this one's or when a
    /// message was counted in since the claim (`held` differs); the claim
    /// is then given back, so the next round sums up the window again.
    async fn coalesce_close(
        &self,
        window: &CoalesceWindow,
        token: &str,
        message: Option<&OutboxItem>,
    ) -> Result<bool>;

    /// Every window, open or closed and not yet summed up.
    async fn coalesce_windows(&self) -> Result<Vec<CoalesceWindow>>;

    /// Every saved row of a streaming detector's state: (entity, state),
    /// in entity order.
    async fn detector_state(&self, detector: &str) -> Result<Vec<(String, String)>>;

    /// Writes a save of a detector's state in one transaction.
    async fn save_detector_state(&self, detector: &str, save: &DetectorStateSave) -> Result<()>;

    /// Keeps one scan's summary in the history (an id already kept is an
    /// error).
    async fn record_scan(&self, scan: &ScanRecord) -> Result<()>;

    /// The `limit` latest scans (at most [`scans::MAX_LIST`]), newest first.
    async fn list_scans(&self, limit: usize) -> Result<Vec<ScanRecord>>;

    async fn get_scan(&self, id: &str) -> Result<Option<ScanRecord>>;

    /// Takes the scan schedule `name` for its run due at `slot` (a time in
    /// the store's format), held by `holder` until `until`: false when
    /// another replica holds it now, or already took this slot or a later
    /// one. One scheduled scan at a time across replicas, and a slot runs
    /// once.
    async fn claim_scan_schedule(
        &self,
        name: &str,
        slot: &str,
        holder: &str,
        until: &str,
    ) -> Result<bool>;

    /// Moves `holder`'s hold of the schedule `name` to `until` (a time
    /// already past lets it go); false when `holder` no longer holds it.
    async fn hold_scan_schedule(&self, name: &str, holder: &str, until: &str) -> Result<bool>;
}

/// How [`open_with`] sets the store up beyond its URL.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Audit records are HMAC-SHA256'd under this key ([`audit`]); `None`:
    /// plain SHA-256 (an unkeyed log, which anyone with write access to the
    /// database can rewrite consistently).
    pub audit_key: Option<audit::AuditKey>,
}

/// Opens (creating if needed) the store at `url` and runs its migrations,
/// with an unkeyed audit log; see [`open_with`].
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    open_with(url, StoreOptions::default()).await
}

/// Opens (creating if needed) the store at `url` and runs its migrations.
///
/// * `sqlite://PATH` — a database file; `sqlite:///abs/path` for an
///   absolute path. Parent directories are created; a new file (and its
///   `-wal` and `-shm` files) is readable by its owner only (0600).
/// * `sqlite::memory:` — a private in-memory database (tests).
/// * `postgres://...`, `postgresql://...` — PostgreSQL; see the
///   [crate docs](crate#urls) for the parameters (`schema=`, `pool_size=`,
///   `sslmode=`, `sslrootcert=`).
///
/// Error messages never carry the URL's password.
pub async fn open_with(url: &str, options: StoreOptions) -> Result<Arc<dyn Store>> {
    let key = options.audit_key;
    if url == "sqlite::memory:" || url == "sqlite://:memory:" {
        return Ok(Arc::new(
            SqliteStore::open_in_memory().await?.with_audit_key(key),
        ));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(StoreError::InvalidUrl {
                url: redact(url),
                reason: "no path after sqlite://".into(),
            });
        }
        if path.contains('?') {
            return Err(StoreError::InvalidUrl {
                url: redact(url),
                reason: "sqlite:// URLs take no query parameters".into(),
            });
        }
        return Ok(Arc::new(
            SqliteStore::open_path(path).await?.with_audit_key(key),
        ));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(
            PostgresStore::connect(url).await?.with_audit_key(key),
        ));
    }
    Err(StoreError::InvalidUrl {
        url: redact(url),
        reason: "expected sqlite://PATH, sqlite::memory: or postgres://...".into(),
    })
}

/// The URL without its secrets, for messages: the password of the user
/// part (`user:***@`) and the value of a `password` query parameter
/// (`password=***`).
pub fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &base[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &base[..scheme_end + 3],
                    &userinfo[..colon],
                    &base[at..]
                ),
                None => base.to_string(),
            }
        }
        _ => base.to_string(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert_eq!(
            redact("postgres://u@h/db?sslmode=require&password=hunter2&schema=a"),
            "postgres://u@h/db?sslmode=require&password=***&schema=a"
        );
        assert_eq!(
            redact("postgresql://u:p%40ss@h/db?PASSWORD=x"),
            "postgresql://u:***@h/db?PASSWORD=***"
        );
    }

    /// The error and all its sources, as `{:#}` of an error chain shows them.
    fn anyhow_like(err: &StoreError) -> String {
        let mut text = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            text.push_str(&format!(": {s} / {s:?}"));
            source = s.source();
        }
        text
    }

    #[tokio::test]
    async fn urls() {
        // Nothing listens on port 1: the error names the server, not the
        // password.
        let err = open("postgres://u:p@127.0.0.1:1/x").await.err().unwrap();
        assert!(matches!(err, StoreError::Database { .. }), "{err}");
        assert!(!err.to_string().contains(":p@"), "{err}");
        assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
        // A password given as a query parameter stays out of every message,
        // whatever fails.
        for url in [
            "postgres://u@127.0.0.1:1/x?password=hunter2",
            "postgres://u@127.0.0.1:1/x?password=hunter2&sslmode=bogus",
            "postgres://u:hunter2@127.0.0.1:1/x?pool_size=0",
            "mysql://u:hunter2@h/x?password=hunter2",
        ] {
            let err = open(url).await.err().unwrap();
            for text in [
                err.to_string(),
                format!("{err:?}"),
                format!("{:#}", anyhow_like(&err)),
            ] {
                assert!(!text.contains("hunter2"), "{url}: {text}");
            }
        }
        assert!(matches!(
            open("mysql://x").await.err(),
            Some(StoreError::InvalidUrl { .. })
        ));
        assert!(matches!(
            open("sqlite://x.db?mode=ro").await.err(),
            Some(StoreError::InvalidUrl { .. })
        ));
        assert!(matches!(
            open("sqlite://").await.err(),
            Some(StoreError::InvalidUrl { .. })
        ));
        assert!(open("sqlite::memory:").await.is_ok());
    }
}
