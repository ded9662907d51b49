//! The SQLite back end: one connection behind a mutex, used from
//! `spawn_blocking`; WAL, `synchronous=NORMAL`, a 5 s busy timeout, cached
//! prepared statements, and `BEGIN IMMEDIATE` for every write transaction so
//! that several processes sharing one file serialise correctly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rectify_model::{AuditRecord, Event, FindingRef, Job, JobState};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};
use serde_json::{json, Value};

use crate::audit::{AuditKey, GENESIS_HASH};
use crate::common::{
    audit_record, cursor_setting, event_rows, finding_rows, from_json, next_record, normalized,
    opt_json, slot_free_at, RawJob, VerifyState, AUDIT_PAGE, SETTING_HEALTH_PROBE, SETTING_PAUSED,
    SETTING_RULE_PAUSED,
};
use crate::schema::LIVE_STATES;
use crate::{
    common, schema, timefmt, AuditVerdict, Enqueued, EventRow, FindingCount, FindingCursor,
    FindingFilter, FindingRow, FindingSpan, FindingUpsert, FixCount, IngestBatch, Ingested,
    JobFilter, JobTally, JobWrite, NewJob, Result, Store, StoreError,
};
const SETTING_AUDIT_HEAD: &str = "audit.head";

/// The SQLite [`Store`].
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// For messages: the file, or `:memory:`.
    location: String,
    /// Stops the background checkpointer when the store goes away.
    _checkpointer: Option<Checkpointer>,
    /// Audit records are HMAC'd under it when set.
    audit_key: Option<AuditKey>,
}

/// Copies the WAL back into the database file on its own thread and
/// connection, so that no commit on the ingest path pays for a checkpoint
/// (and its fsync). The writer's automatic checkpoints are off.
/// WAL length (in pages) past which the checkpointer makes the WAL start
/// over: 4,096 pages of 8 KiB, 32 MiB, below `journal_size_limit` so that
/// the file is overwritten in place, never trimmed and grown again. At
/// 2,000 events/s (small commits, about 70 KB of WAL each) that is a
/// restart every quarter second, each holding writers 3-15 ms (the
/// checkpoint's fsync). Longer WALs did worse: p99 35 ms with restarts at
/// 128 MiB, about 100 ms at 256 MiB, against 7-14 ms at 32 MiB.
#[cfg(not(test))]
const WAL_RESTART_FRAMES: i64 = 4_096;
/// Smaller in tests, so that bounding the WAL takes little data to show.
#[cfg(test)]
const WAL_RESTART_FRAMES: i64 = 512;

struct Checkpointer {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Checkpointer {
    fn start(path: PathBuf, writer: Arc<Mutex<Connection>>) -> Option<Checkpointer> {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let conn = Connection::open(&path).ok()?;
        // Only RESTART waits on locks; see below.
        conn.busy_timeout(Duration::from_millis(50)).ok()?;
        std::thread::Builder::new()
            .name("rectify-sqlite-checkpoint".into())
            .spawn(move || {
                let mut next_restart = std::time::Instant::now();
                let mut restarted_at = 0;
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    // Often, so that each checkpoint copies little and its
                    // fsync is short: one checkpoint a second made commits
                    // stall for tens of milliseconds behind the file
                    // system's journal (p99 at 2,000 events/s: 17-82 ms
                    // every second, 5-8 ms every 100 ms, 4-5 ms every 40).
                    std::thread::sleep(Duration::from_millis(40));
                    // PASSIVE never blocks writers. The WAL starts over
                    // from its beginning only when a commit finds all of
                    // it copied, which under sustained load never happens:
                    // it grew without bound (600 MB for 100,000 events).
                    // Past WAL_RESTART_FRAMES a RESTART checkpoint holds
                    // writers back for the little the passive one left,
                    // and the next commit starts the WAL over
                    // (`journal_size_limit`, set on the writer, trims it).
                    let frames = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                        row.get::<_, i64>(1)
                    });
                    match frames {
                        // A passive checkpoint that copied all it saw does
                        // not restart the WAL: commits made while it ran
                        // are still to copy. Skipped only when the WAL is
                        // the one just restarted, untouched since.
                        Ok(log)
                            if log >= WAL_RESTART_FRAMES
                                && log != restarted_at
                                && std::time::Instant::now() >= next_restart =>
                        {
                            // Holding the writer's connection: no commit is
                            // in flight, so the checkpoint gets the write
                            // lock at once instead of racing the writer for
                            // it (seconds under load), and holds writers
                            // back only while it copies what is left.
                            // A reader in another process (a long query)
                            // can hold the restart back: it waits briefly,
                            // then gives up for a while, so that writers
                            // are never held for long.
                            let _writer = writer.lock().unwrap_or_else(|p| p.into_inner());
                            let restarted = conn
                                .query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| {
                                    Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
                                })
                                .map_err(
                                    |e| tracing::debug!(error = %e, "WAL checkpoint (restart)"),
                                );
                            match restarted {
                                Ok((0, log)) => restarted_at = log,
                                _ => {
                                    next_restart =
                                        std::time::Instant::now() + Duration::from_secs(5)
                                }
                            }
                        }
                        Ok(_) => {}
                        Err(e) => tracing::debug!(error = %e, "WAL checkpoint"),
                    }
                }
            })
            .ok()?;
        Some(Checkpointer { stop })
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.location)
            .finish()
    }
}

/// Maps a rusqlite error to a [`StoreError`] naming the operation; unique
/// constraint violations become [`StoreError::Conflict`].
trait Ctx<T> {
    fn ctx(self, op: &str) -> Result<T>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, op: &str) -> Result<T> {
        self.map_err(|e| db_err(op, e))
    }
}

fn db_err(op: &str, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => {
            StoreError::Conflict(format!("{op}: {e}"))
        }
        _ => StoreError::Database {
            op: op.to_string(),
            source: Box::new(e),
        },
    }
}

fn limit_sql(limit: usize) -> i64 {
    if limit == 0 {
        -1
    } else {
        i64::try_from(limit).unwrap_or(i64::MAX)
    }
}

impl SqliteStore {
    /// Opens (creating it and its parent directories if needed) the database
    /// file at `path` and migrates it.
    pub async fn open_path(path: impl AsRef<Path>) -> Result<Self> {
        let path: PathBuf = path.as_ref().to_path_buf();
        let location = path.display().to_string();
        let loc = location.clone();
        let (conn, path) = tokio::task::spawn_blocking(move || -> Result<(Connection, PathBuf)> {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                    what: "creating directory",
                    path: parent.display().to_string(),
                    source,
                })?;
            }
            create_private(&path)?;
            let mut conn =
                Connection::open(&path).ctx(&format!("opening database {}", path.display()))?;
            configure(&conn, false).map_err(|e| annotate(e, &loc))?;
            schema::migrate(&mut conn).map_err(|e| annotate(e, &loc))?;
            conn.execute_batch("PRAGMA wal_autocheckpoint=0;")
                .ctx("turning off automatic checkpoints")?;
            Ok((conn, path))
        })
        .await
        .map_err(|e| StoreError::Task {
            op: format!("opening {location}"),
            reason: e.to_string(),
        })??;
        let conn = Arc::new(Mutex::new(conn));
        Ok(SqliteStore {
            _checkpointer: Checkpointer::start(path, conn.clone()),
            conn,
            location,
            audit_key: None,
        })
    }

    /// A private in-memory database (gone when the store is dropped).
    pub async fn open_in_memory() -> Result<Self> {
        let mut conn = Connection::open_in_memory().ctx("opening in-memory database")?;
        configure(&conn, true)?;
        schema::migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            _checkpointer: None,
            location: ":memory:".into(),
            audit_key: None,
        })
    }

    /// HMACs new audit records under `key` and verifies with it
    /// ([`crate::audit`]); `None` keeps the log unkeyed.
    pub fn with_audit_key(mut self, key: Option<AuditKey>) -> Self {
        self.audit_key = key;
        self
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn run<T, F>(&self, op: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves no open transaction
            // behind (it rolls back on drop), so the connection is usable.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task {
            op: op.to_string(),
            reason: e.to_string(),
        })?
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction, committed when `f`
    /// succeeds.
    async fn write<T, F>(&self, op: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        self.run(op, move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .ctx(&format!("{op}: begin"))?;
            let out = f(&tx)?;
            tx.commit().ctx(&format!("{op}: commit"))?;
            Ok(out)
        })
        .await
    }
}

fn annotate(e: StoreError, location: &str) -> StoreError {
    match e {
        StoreError::Database { op, source } => StoreError::Database {
            op: format!("{op} ({location})"),
            source,
        },
        StoreError::Migration(m) => StoreError::Migration(format!("{location}: {m}")),
        other => other,
    }
}

fn configure(conn: &Connection, in_memory: bool) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(5))
        .ctx("setting busy_timeout")?;
    if !in_memory {
        // For a new file (an existing one keeps its own): 8 KiB pages
        // halve the write calls of the WAL and the checkpoints against
        // 4 KiB, and a stored event (about 2 KB) wastes less of a page.
        // Larger pages made each small transaction of a running job
        // write more.
        conn.execute_batch("PRAGMA page_size=8192")
            .ctx("setting page_size")?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .ctx("setting journal_mode=WAL")?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(mode, "SQLite did not switch to WAL journal mode");
        }
    }
    // A larger page cache and memory map keep the random-key index inserts
    // of a busy queue (uuid ids, hash keys) out of the kernel.
    conn.execute_batch(
        "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536; \
         PRAGMA mmap_size=268435456; PRAGMA temp_store=MEMORY; \
         PRAGMA journal_size_limit=67108864;",
    )
    .ctx("setting pragmas")?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.create_scalar_function(
        "rectify_key",
        -1,
        rusqlite::functions::FunctionFlags::SQLITE_UTF8
            | rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let parts = (0..ctx.len())
                .map(|i| ctx.get::<String>(i))
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(lookup_key(
                &parts.iter().map(String::as_str).collect::<Vec<_>>(),
            ))
        },
    )
    .ctx("registering rectify_key")?;
    Ok(())
}

/// The lookup key of an event (its id) or a finding (id, product ARN):
/// 64-bit FNV-1a over the parts, each followed by a newline. Stable
/// across builds (it is stored); collisions only cost a second look, as
/// every lookup also compares the ids.
pub(crate) fn lookup_key(parts: &[&str]) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(b'\n')) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash as i64
}

// ---------------------------------------------------------------------------
// Events and findings

const INSERT_EVENT: &str = "INSERT INTO events \
    (id, source, detail_type, account, region, time, resources, body, origin, received_at, key) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/// Stores the event unless one with its id is there (a redelivery):
/// true when it was new.
fn insert_event(tx: &Transaction<'_>, row: &EventRow, now: &str) -> Result<bool> {
    let key = lookup_key(&[&row.id]);
    let seen = tx
        .prepare_cached("SELECT 1 FROM events WHERE key = ?1 AND id = ?2")
        .ctx("preparing event lookup")?
        .exists(params![key, row.id])
        .ctx(&format!("looking up event {}", row.id))?;
    if seen {
        return Ok(false);
    }
    tx.prepare_cached(INSERT_EVENT)
        .ctx("preparing event insert")?
        .execute(params![
            row.id,
            row.source,
            row.detail_type,
            row.account,
            row.region,
            row.time,
            row.resources,
            &*row.body,
            row.origin,
            now,
            key
        ])
        .ctx(&format!("storing event {}", row.id))?;
    Ok(true)
}

const INSERT_FINDING: &str = "INSERT INTO findings \
    (id, product_arn, account, region, control, workflow_status, asff_updated_at, \
     last_event_id, updated_at, finding, key) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

const UPDATE_FINDING: &str = "UPDATE findings SET \
    account = ?3, region = ?4, control = ?5, workflow_status = ?6, asff_updated_at = ?7, \
    last_event_id = ?8, updated_at = ?9, finding = ?10 \
    WHERE rowid = ?11 AND id = ?1 AND product_arn = ?2";

/// Inserts the finding, or updates it unless the stored generation is
/// newer (`UpdatedAt`; a finding without one always wins).
fn upsert_finding_tx(tx: &Transaction<'_>, row: &FindingUpsert, now: &str) -> Result<()> {
    let fields = &row.fields;
    let key = lookup_key(&[&fields.id, &fields.product_arn]);
    let stored: Option<(i64, Option<String>)> = tx
        .prepare_cached(
            "SELECT rowid, asff_updated_at FROM findings \
             WHERE key = ?1 AND id = ?2 AND product_arn = ?3",
        )
        .ctx("preparing finding lookup")?
        .query_row(params![key, fields.id, fields.product_arn], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .ctx(&format!("looking up finding {}", fields.id))?;
    // Both statements take the same parameters; the last is the new row's
    // key or the stored row's rowid.
    let (sql, last) = match stored {
        None => (INSERT_FINDING, key),
        Some((rowid, stored_at)) => {
            let newer = match (&fields.asff_updated_at, &stored_at) {
                (Some(new), Some(old)) => new >= old,
                _ => true,
            };
            if !newer {
                return Ok(());
            }
            (UPDATE_FINDING, rowid)
        }
    };
    tx.prepare_cached(sql)
        .ctx("preparing finding upsert")?
        .execute(params![
            fields.id,
            fields.product_arn,
            fields.account,
            fields.region,
            fields.control,
            fields.workflow_status,
            fields.asff_updated_at,
            row.event_id,
            now,
            row.raw,
            last
        ])
        .ctx(&format!("storing finding {}", fields.id))?;
    Ok(())
}

fn finding_from_row(row: &Row<'_>) -> Result<FindingRow> {
    let get = |i: usize| -> Result<Option<String>> { row.get(i).ctx("reading finding row") };
    let req = |i: usize| -> Result<String> { Ok(get(i)?.unwrap_or_default()) };
    let id = req(0)?;
    // A finding that came in an event is read from the event's body, with
    // serde (the last of duplicate keys wins, as when it was routed; SQLite's
    // json_extract would take the first).
    let finding = match (get(10)?, get(11)?) {
        (Some(raw), _) => from_json(&format!("finding {id}"), &raw)?,
        (None, Some(body)) => {
            let mut event: Value = from_json(&format!("event of finding {id}"), &body)?;
            event
                .pointer_mut("/detail/findings/0")
                .map(Value::take)
                .unwrap_or(Value::Null)
        }
        (None, None) => Value::Null,
    };
    Ok(FindingRow {
        finding,
        id,
        product_arn: req(1)?,
        account: req(2)?,
        region: req(3)?,
        control: get(4)?,
        workflow_status: get(5)?,
        last_event_id: req(6)?,
        last_job_id: get(7)?,
        last_outcome: get(8)?,
        updated_at: req(9)?,
    })
}

// ---------------------------------------------------------------------------
// Jobs

const JOB_COLUMNS: &str = "id, idempotency_key, event_id, rule_id, action, mode, target, params, \
    finding, control, notify, state, attempts, created_at, updated_at, next_run_at, last_error, \
    plan, outcome, approved_by";

fn job_from_row(row: &Row<'_>) -> Result<Job> {
    let s = |i: usize| -> Result<String> { row.get::<_, String>(i).ctx("reading job row") };
    let o = |i: usize| -> Result<Option<String>> { row.get(i).ctx("reading job row") };
    RawJob {
        id: s(0)?,
        idempotency_key: s(1)?,
        event_id: s(2)?,
        rule_id: s(3)?,
        action: s(4)?,
        mode: s(5)?,
        target: s(6)?,
        params: s(7)?,
        finding: o(8)?,
        control: o(9)?,
        notify: s(10)?,
        state: s(11)?,
        attempts: row.get(12).ctx("reading job row")?,
        created_at: s(13)?,
        updated_at: s(14)?,
        next_run_at: o(15)?,
        last_error: o(16)?,
        plan: o(17)?,
        outcome: o(18)?,
        approved_by: o(19)?,
    }
    .decode()
}

fn jobs_from_stmt(
    stmt: &mut rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
    op: &str,
) -> Result<Vec<Job>> {
    let mut rows = stmt.query(params).ctx(op)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx(op)? {
        out.push(job_from_row(row)?);
    }
    Ok(out)
}

fn job_by_id(tx: &Connection, id: &str) -> Result<Option<Job>> {
    let mut stmt = tx
        .prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"))
        .ctx("preparing job lookup")?;
    Ok(jobs_from_stmt(&mut stmt, [id], &format!("reading job {id}"))?.pop())
}

fn active_job_by_key(tx: &Connection, key: &str) -> Result<Option<Job>> {
    let mut stmt = tx
        .prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE idempotency_key = ?1 AND {LIVE_STATES}"
        ))
        .ctx("preparing job key lookup")?;
    Ok(jobs_from_stmt(&mut stmt, [key], &format!("reading job with key {key}"))?.pop())
}

/// By exact id, else by a unique prefix of at least 8 characters.
fn resolve_job(conn: &Connection, id: &str) -> Result<Option<Job>> {
    if let Some(job) = job_by_id(conn, id)? {
        return Ok(Some(job));
    }
    if id.chars().count() < 8 {
        return Err(StoreError::Invalid(format!(
            "job id {id:?} not found, and a prefix needs at least 8 characters"
        )));
    }
    // Every id starting with `id` sorts in [id, id + U+10FFFF).
    let upper = format!("{id}{}", char::MAX);
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 2"
        ))
        .ctx("preparing job prefix lookup")?;
    let mut found = jobs_from_stmt(&mut stmt, [id, upper.as_str()], "reading jobs by prefix")?;
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(StoreError::Ambiguous { prefix: id.into() }),
    }
}

const INSERT_JOB: &str = "INSERT INTO jobs (id, idempotency_key, event_id, rule_id, action, \
    mode, target, params, finding, control, notify, state, attempts, created_at, updated_at, \
    next_run_at, last_error, plan, outcome, approved_by) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, \
    ?20) \
    ON CONFLICT DO NOTHING";

fn enqueue_tx(tx: &Transaction<'_>, new: NewJob) -> Result<Enqueued> {
    let job = &new.job;
    if job.state.is_final() {
        // The unique index only covers live jobs; check by hand.
        if let Some(existing) = job_by_id(tx, &job.id)? {
            return Ok(Enqueued::Duplicate(existing));
        }
        if let Some(existing) = active_job_by_key(tx, &job.idempotency_key)? {
            return Ok(Enqueued::Duplicate(existing));
        }
    }
    let inserted = {
        let mut stmt = tx.prepare_cached(INSERT_JOB).ctx("preparing job insert")?;
        stmt.execute(params![
            job.id,
            job.idempotency_key,
            job.event_id,
            job.rule_id,
            job.action,
            job.mode.as_str(),
            new.target,
            new.params,
            new.finding,
            job.control,
            new.notify,
            job.state.as_str(),
            job.attempts,
            job.created_at,
            job.updated_at,
            job.next_run_at,
            job.last_error,
            new.plan,
            new.outcome,
            job.approved_by,
        ])
        .ctx(&format!("storing job {}", job.id))?
    };
    let job = new.job;
    if inserted == 1 {
        return Ok(Enqueued::Created(job));
    }
    if let Some(existing) = job_by_id(tx, &job.id)? {
        return Ok(Enqueued::Duplicate(existing));
    }
    if let Some(existing) = active_job_by_key(tx, &job.idempotency_key)? {
        return Ok(Enqueued::Duplicate(existing));
    }
    Err(StoreError::Conflict(format!(
        "job {} was not stored and no conflicting job was found",
        job.id
    )))
}

// ---------------------------------------------------------------------------
// Audit

fn audit_from_row(row: &Row<'_>) -> Result<(AuditRecord, String)> {
    let op = "reading audit record";
    Ok(audit_record(
        row.get(0).ctx(op)?,
        0,
        row.get(1).ctx(op)?,
        row.get(2).ctx(op)?,
        row.get(3).ctx(op)?,
        row.get(4).ctx(op)?,
        row.get(5).ctx(op)?,
        row.get(6).ctx(op)?,
    ))
}

/// The chain's tip as last written: (seq, hash).
fn audit_head(conn: &Connection) -> Result<Option<(i64, String)>> {
    let raw: Option<String> = conn
        .prepare_cached("SELECT value FROM settings WHERE key = ?1")
        .ctx("preparing settings lookup")?
        .query_row([SETTING_AUDIT_HEAD], |r| r.get(0))
        .optional()
        .ctx("reading the audit head")?;
    let Some(raw) = raw else { return Ok(None) };
    let bad = || StoreError::Decode {
        what: "the audit head".into(),
        reason: format!("expected \"SEQ HASH\", found {raw:?}"),
    };
    let (seq, hash) = raw.split_once(' ').ok_or_else(bad)?;
    Ok(Some((seq.parse().map_err(|_| bad())?, hash.to_owned())))
}

fn set_setting(
    tx: &Transaction<'_>,
    key: &str,
    value: &str,
    by: Option<&str>,
    now: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO settings (key, value, updated_by, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
         updated_by = excluded.updated_by, updated_at = excluded.updated_at",
    )
    .ctx("preparing settings write")?
    .execute(params![key, value, by, now])
    .ctx(&format!("writing setting {key}"))?;
    Ok(())
}

/// Creates the database file, if it does not exist yet, readable and
/// writable by its owner only: it holds findings, plans and the audit log.
/// SQLite gives the `-wal` and `-shm` files it creates the main file's mode.
fn create_private(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Io {
            what: "creating database file",
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Appends one record inside `tx`; see [`append_audit_entries_tx`].
fn append_audit_tx(
    key: Option<&AuditKey>,
    tx: &Transaction<'_>,
    kind: &str,
    subject: &str,
    data: Value,
) -> Result<AuditRecord> {
    let mut records =
        append_audit_entries_tx(key, tx, vec![(kind.to_owned(), subject.to_owned(), data)])?;
    records
        .pop()
        .ok_or_else(|| StoreError::Invalid("no audit record written".into()))
}

/// [`Store::save_job`] inside `tx` (`job` normalised).
fn save_job_tx(tx: &Transaction<'_>, job: &Job, worker: Option<&str>) -> Result<bool> {
    let what = |f: &str| format!("job {} {f}", job.id);
    let n = tx
        .prepare_cached(
            "UPDATE jobs SET state = ?2, attempts = ?3, next_run_at = ?4, \
             last_error = ?5, plan = ?6, outcome = ?7, updated_at = ?8, \
             lease_owner = CASE WHEN ?2 = 'running' THEN lease_owner END, \
             lease_until = CASE WHEN ?2 = 'running' THEN lease_until END, \
             approved_by = CASE WHEN ?2 = 'waiting-approval' THEN NULL ELSE approved_by END \
             WHERE id = ?1 AND (?9 IS NULL OR (lease_owner = ?9 AND state = 'running'))",
        )
        .ctx("preparing job save")?
        .execute(params![
            job.id,
            job.state.as_str(),
            job.attempts,
            job.next_run_at,
            job.last_error,
            opt_json(&what("plan"), &job.plan)?,
            opt_json(&what("outcome"), &job.outcome)?,
            job.updated_at,
            worker,
        ])
        .ctx(&format!("saving job {}", job.id))?;
    if n == 0 && worker.is_none() {
        return Err(StoreError::NotFound(format!("job {}", job.id)));
    }
    Ok(n == 1)
}

/// [`Store::mark_applying`] inside `tx`.
fn mark_applying_tx(
    key: Option<&AuditKey>,
    tx: &Transaction<'_>,
    job_id: &str,
    worker: &str,
    plan: &str,
    entries: Vec<(String, String, Value)>,
) -> Result<bool> {
    let held: bool = tx
        .prepare_cached(
            "SELECT 1 FROM jobs WHERE id = ?1 AND lease_owner = ?2 AND state = 'running'",
        )
        .ctx("preparing lease check")?
        .query_row(params![job_id, worker], |_| Ok(true))
        .optional()
        .ctx(&format!("checking the lease of job {job_id}"))?
        .unwrap_or(false);
    if !held {
        return Ok(false);
    }
    let written = append_audit_entries_tx(key, tx, entries)?;
    let seq = written.last().map(|r| r.seq);
    tx.prepare_cached("UPDATE jobs SET plan = ?2, applying_seq = ?3 WHERE id = ?1")
        .ctx("preparing the applying mark")?
        .execute(params![job_id, plan, seq])
        .ctx(&format!("marking job {job_id} as applying"))?;
    Ok(true)
}

/// [`Store::set_finding_outcome`] inside `tx`: the rows updated (0 when
/// the finding is not stored).
fn set_finding_outcome_tx(
    tx: &Transaction<'_>,
    finding: &FindingRef,
    job_id: &str,
    outcome: &str,
    workflow_status: Option<&str>,
) -> Result<usize> {
    tx.prepare_cached(
        "UPDATE findings SET last_job_id = ?3, last_outcome = ?4, \
         workflow_status = COALESCE(?5, workflow_status), updated_at = ?6 \
         WHERE key = ?7 AND id = ?1 AND product_arn = ?2",
    )
    .ctx("preparing finding outcome update")?
    .execute(params![
        finding.id,
        finding.product_arn,
        job_id,
        outcome,
        workflow_status,
        timefmt::now(),
        lookup_key(&[&finding.id, &finding.product_arn])
    ])
    .ctx(&format!("recording the outcome of finding {}", finding.id))
}

/// The body of [`Store::write_jobs`], one write after the other inside
/// `tx` (SQLite has one writer: no lock order to keep).
fn write_jobs_tx(
    key: Option<&AuditKey>,
    tx: &Transaction<'_>,
    writes: Vec<JobWrite>,
) -> Result<Vec<bool>> {
    let mut out = Vec::with_capacity(writes.len());
    for write in writes {
        out.push(match write {
            JobWrite::Applying {
                job_id,
                worker,
                plan,
                records,
            } => {
                let plan = common::to_json(&format!("job {job_id} plan"), &plan)?;
                mark_applying_tx(key, tx, &job_id, &worker, &plan, records)?
            }
            JobWrite::Save(save) => {
                append_audit_entries_tx(key, tx, save.records)?;
                if let Some(f) = &save.finding {
                    set_finding_outcome_tx(
                        tx,
                        &f.finding,
                        &f.job_id,
                        &f.outcome,
                        f.workflow_status.as_deref(),
                    )?;
                }
                match save.job {
                    Some((job, worker)) => save_job_tx(tx, &normalized(&job)?, worker.as_deref())?,
                    None => true,
                }
            }
        });
    }
    Ok(out)
}

/// Appends records in order inside `tx`, reading and moving the chain head
/// once for all of them. The previous record is the recorded head (not
/// merely the last row), so rows deleted from the tail leave a gap that
/// verify reports instead of being silently re-used.
fn append_audit_entries_tx(
    key: Option<&AuditKey>,
    tx: &Transaction<'_>,
    mut entries: Vec<(String, String, Value)>,
) -> Result<Vec<AuditRecord>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let (mut seq, mut hash) = match audit_head(tx)? {
        Some(head) => head,
        None => {
            let tail = tx
                .prepare_cached("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .ctx("preparing audit tail lookup")?
                .query_row([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .optional()
                .ctx("reading the audit tail")?;
            match tail {
                // The head is gone while records remain: go on from the
                // last record, and say so in the log itself, so that the
                // loss stays on record after the head is written again.
                Some((tail_seq, tail_hash)) => {
                    tracing::warn!(
                        tail_seq,
                        "the audit chain head is missing; continuing from the last record"
                    );
                    entries.insert(
                        0,
                        (
                            "audit.head-missing".to_owned(),
                            tail_seq.to_string(),
                            json!({"tail_seq": tail_seq, "tail_hash": tail_hash}),
                        ),
                    );
                    (tail_seq, tail_hash)
                }
                None => (0, GENESIS_HASH.to_string()),
            }
        }
    };
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO audit_log (seq, time, kind, subject, data, prev_hash, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .ctx("preparing audit insert")?;
    let mut out = Vec::with_capacity(entries.len());
    for (kind, subject, data) in entries {
        let (record, canonical) = next_record(key, seq, hash, &kind, &subject, data);
        insert
            .execute(params![
                record.seq,
                record.time,
                record.kind,
                record.subject,
                canonical,
                record.prev_hash,
                record.hash
            ])
            .ctx(&format!("appending audit record {} ({kind})", record.seq))?;
        seq = record.seq;
        hash = record.hash.clone();
        out.push(record);
    }
    let time = out.last().map(|r| r.time.clone()).unwrap_or_default();
    set_setting(
        tx,
        SETTING_AUDIT_HEAD,
        &format!("{seq} {hash}"),
        None,
        &time,
    )?;
    Ok(out)
}

// ---------------------------------------------------------------------------

#[async_trait]
impl Store for SqliteStore {
    async fn record_event(&self, event: &Event, origin: &str) -> Result<bool> {
        let row = EventRow::new(event, origin)?;
        self.write("record_event", move |tx| {
            insert_event(tx, &row, &timefmt::now())
        })
        .await
    }

    async fn record_events(&self, events: &[(Event, String)]) -> Result<Vec<bool>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let rows = event_rows(events)?;
        self.write("record_events", move |tx| {
            let now = timefmt::now();
            rows.iter().map(|row| insert_event(tx, row, &now)).collect()
        })
        .await
    }

    async fn ingest(&self, batch: IngestBatch) -> Result<Ingested> {
        let key = self.audit_key.clone();
        self.write("ingest", move |tx| {
            let now = timefmt::now();
            let IngestBatch {
                events,
                findings,
                jobs,
                audit,
            } = batch;
            let fresh = events
                .iter()
                .map(|row| insert_event(tx, row, &now))
                .collect::<Result<Vec<bool>>>()?;
            for row in &findings {
                upsert_finding_tx(tx, row, &now)?;
            }
            let jobs = jobs
                .into_iter()
                .map(|job| enqueue_tx(tx, job))
                .collect::<Result<Vec<_>>>()?;
            let audit = append_audit_entries_tx(key.as_ref(), tx, audit(&fresh, &jobs))?;
            Ok(Ingested { fresh, jobs, audit })
        })
        .await
    }

    async fn upsert_finding(&self, event_id: &str, finding: &Value) -> Result<()> {
        let row = FindingUpsert::new(event_id, finding)?;
        self.write("upsert_finding", move |tx| {
            upsert_finding_tx(tx, &row, &timefmt::now())
        })
        .await
    }

    async fn upsert_findings(&self, findings: &[(String, Value)]) -> Result<()> {
        if findings.is_empty() {
            return Ok(());
        }
        let rows = finding_rows(findings)?;
        self.write("upsert_findings", move |tx| {
            let now = timefmt::now();
            for row in &rows {
                upsert_finding_tx(tx, row, &now)?;
            }
            Ok(())
        })
        .await
    }

    async fn set_finding_outcome(
        &self,
        finding: &FindingRef,
        job_id: &str,
        outcome: &str,
        workflow_status: Option<&str>,
    ) -> Result<()> {
        let finding = finding.clone();
        let (job_id, outcome) = (job_id.to_owned(), outcome.to_owned());
        let workflow_status = workflow_status.map(str::to_owned);
        self.write("set_finding_outcome", move |tx| {
            let n = set_finding_outcome_tx(
                tx,
                &finding,
                &job_id,
                &outcome,
                workflow_status.as_deref(),
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "finding {} ({})",
                    finding.id, finding.product_arn
                )));
            }
            Ok(())
        })
        .await
    }

    async fn list_findings(
        &self,
        limit: usize,
        after: Option<&FindingCursor>,
    ) -> Result<Vec<FindingRow>> {
        let after = after.cloned();
        self.run("list_findings", move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT f.id, f.product_arn, f.account, f.region, f.control, \
                     f.workflow_status, f.last_event_id, f.last_job_id, f.last_outcome, \
                     f.updated_at, f.finding, e.body \
                     FROM findings f LEFT JOIN events e \
                       ON e.key = rectify_key(f.last_event_id) AND e.id = f.last_event_id \
                     WHERE ?2 IS NULL OR f.updated_at < ?2 \
                       OR (f.updated_at = ?2 AND (f.id > ?3 OR (f.id = ?3 AND f.product_arn > ?4))) \
                     ORDER BY f.updated_at DESC, f.id, f.product_arn LIMIT ?1",
                )
                .ctx("preparing findings listing")?;
            let (updated_at, id, product_arn) = match after {
                Some(c) => (Some(c.updated_at), Some(c.id), Some(c.product_arn)),
                None => (None, None, None),
            };
            let mut rows = stmt
                .query(params![limit_sql(limit), updated_at, id, product_arn])
                .ctx("listing findings")?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().ctx("listing findings")? {
                out.push(finding_from_row(row)?);
            }
            Ok(out)
        })
        .await
    }

    async fn find_findings(&self, filter: &FindingFilter) -> Result<Vec<FindingRow>> {
        let filter = filter.clone();
        self.run("find_findings", move |conn| {
            // The ASFF is the finding's own column, else the first finding
            // of its event's body.
            let mut stmt = conn
                .prepare_cached(
                    "SELECT f.id, f.product_arn, f.account, f.region, f.control, \
                     f.workflow_status, f.last_event_id, f.last_job_id, f.last_outcome, \
                     f.updated_at, f.finding, e.body \
                     FROM findings f LEFT JOIN events e \
                       ON e.key = rectify_key(f.last_event_id) AND e.id = f.last_event_id \
                     WHERE (?2 IS NULL OR f.updated_at < ?2 \
                       OR (f.updated_at = ?2 AND (f.id > ?3 OR (f.id = ?3 AND f.product_arn > ?4)))) \
                       AND (?5 IS NULL OR f.account = ?5) \
                       AND (?6 IS NULL OR f.control = ?6) \
                       AND (?7 IS NULL OR f.workflow_status = ?7) \
                       AND (?8 IS NULL OR f.id = ?8) \
                       AND (?9 IS NULL OR upper(json_extract(COALESCE(f.finding, \
                            json_extract(e.body, '$.detail.findings[0]')), '$.Severity.Label')) = upper(?9)) \
                       AND (?10 IS NULL OR EXISTS (SELECT 1 FROM jobs j WHERE j.rule_id = ?10 \
                            AND json_extract(j.finding, '$.Id') = f.id)) \
                     ORDER BY f.updated_at DESC, f.id, f.product_arn LIMIT ?1",
                )
                .ctx("preparing findings search")?;
            let (updated_at, id, product_arn) = match filter.after {
                Some(c) => (Some(c.updated_at), Some(c.id), Some(c.product_arn)),
                None => (None, None, None),
            };
            let mut rows = stmt
                .query(params![
                    limit_sql(filter.limit),
                    updated_at,
                    id,
                    product_arn,
                    filter.account,
                    filter.control,
                    filter.workflow_status,
                    filter.id,
                    filter.severity,
                    filter.rule_id
                ])
                .ctx("searching findings")?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().ctx("searching findings")? {
                out.push(finding_from_row(row)?);
            }
            Ok(out)
        })
        .await
    }

    async fn finding_counts(&self) -> Result<Vec<FindingCount>> {
        self.run("finding_counts", move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT f.account, f.control, upper(json_extract(COALESCE(f.finding, \
                       json_extract(e.body, '$.detail.findings[0]')), '$.Severity.Label')) AS severity, \
                     f.workflow_status, COUNT(*) \
                     FROM findings f LEFT JOIN events e \
                       ON e.key = rectify_key(f.last_event_id) AND e.id = f.last_event_id \
                     GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
                )
                .ctx("preparing finding counts")?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(FindingCount {
                        account: r.get(0)?,
                        control: r.get(1)?,
                        severity: r.get(2)?,
                        workflow_status: r.get(3)?,
                        findings: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                    })
                })
                .ctx("counting findings")?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row.ctx("counting findings")?);
            }
            Ok(out)
        })
        .await
    }

    async fn finding_spans(&self) -> Result<Vec<FindingSpan>> {
        self.run("finding_spans", move |conn| {
            let sql = common::finding_spans_sql(
                |name| format!("json_extract(f.doc, '$.{name}')"),
                "json_extract(f.doc, '$.Severity.Label')",
                "(SELECT f.account, f.control, f.workflow_status, f.updated_at, \
                   COALESCE(f.finding, json_extract(e.body, '$.detail.findings[0]')) AS doc \
                   FROM findings f LEFT JOIN events e \
                     ON e.key = rectify_key(f.last_event_id) AND e.id = f.last_event_id) f",
            );
            let mut stmt = conn.prepare_cached(&sql).ctx("preparing finding spans")?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(FindingSpan {
                        account: r.get(0)?,
                        control: r.get(1)?,
                        severity: r.get(2)?,
                        opened: r.get(3)?,
                        closed: r.get(4)?,
                        findings: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
                    })
                })
                .ctx("counting finding spans")?;
            rows.map(|row| row.ctx("counting finding spans")).collect()
        })
        .await
    }

    async fn fixes_by_day(&self, from: &str, to: &str) -> Result<Vec<FixCount>> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.run("fixes_by_day", move |conn| {
            let sql = common::fixes_sql(
                "json_extract(outcome, '$.kind')",
                "COALESCE(json_extract(target, '$.account'), '')",
                "json_extract(finding, '$.Severity')",
                "?1",
                "?2",
            );
            let mut stmt = conn
                .prepare_cached(&sql)
                .ctx("preparing the fixes by day")?;
            let rows = stmt
                .query_map(params![from, to], |r| {
                    Ok(FixCount {
                        day: r.get(0)?,
                        account: r.get(1)?,
                        control: r.get(2)?,
                        severity: r.get(3)?,
                        jobs: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                    })
                })
                .ctx("counting fixes by day")?;
            rows.map(|row| row.ctx("counting fixes by day")).collect()
        })
        .await
    }

    async fn enqueue(&self, job: &Job) -> Result<Enqueued> {
        let job = NewJob::new(job.clone())?;
        self.write("enqueue", move |tx| enqueue_tx(tx, job)).await
    }

    async fn enqueue_many(&self, jobs: &[Job]) -> Result<Vec<Enqueued>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let jobs = jobs
            .iter()
            .map(|job| NewJob::new(job.clone()))
            .collect::<Result<Vec<_>>>()?;
        self.write("enqueue_many", move |tx| {
            jobs.into_iter().map(|job| enqueue_tx(tx, job)).collect()
        })
        .await
    }

    async fn claim(&self, worker: &str, lease: Duration, limit: usize) -> Result<Vec<Job>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let worker = worker.to_owned();
        self.write("claim", move |tx| {
            let now = timefmt::now();
            let until = timefmt::now_plus(lease);
            let limit = limit_sql(limit);
            let ids: Vec<String> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT id, ord FROM ( \
                           SELECT id, run_at AS ord FROM jobs INDEXED BY jobs_due \
                           WHERE state IN ('pending','retrying') \
                             AND (next_run_at IS NULL OR next_run_at <= ?1) \
                           ORDER BY run_at LIMIT ?2) \
                         UNION ALL \
                         SELECT id, ord FROM ( \
                           SELECT id, run_at AS ord FROM jobs INDEXED BY jobs_lease_until \
                           WHERE state = 'running' AND (lease_until IS NULL OR lease_until <= ?1) \
                           ORDER BY lease_until LIMIT ?2) \
                         ORDER BY ord, id LIMIT ?2",
                    )
                    .ctx("preparing claim scan")?;
                let rows = stmt
                    .query_map(params![now, limit], |r| r.get::<_, String>(0))
                    .ctx("finding claimable jobs")?;
                rows.collect::<rusqlite::Result<_>>()
                    .ctx("finding claimable jobs")?
            };
            let mut claimed = Vec::with_capacity(ids.len());
            let mut stmt = tx
                .prepare_cached(&format!(
                    "UPDATE jobs SET state = 'running', lease_owner = ?2, lease_until = ?3, \
                     attempts = attempts + 1, updated_at = ?4 WHERE id = ?1 \
                     RETURNING {JOB_COLUMNS}"
                ))
                .ctx("preparing claim update")?;
            for id in ids {
                let mut jobs = jobs_from_stmt(
                    &mut stmt,
                    params![id, worker, until, now],
                    &format!("claiming job {id}"),
                )?;
                claimed.extend(jobs.pop());
            }
            Ok(claimed)
        })
        .await
    }

    async fn renew(&self, job_id: &str, worker: &str, lease: Duration) -> Result<bool> {
        let (job_id, worker) = (job_id.to_owned(), worker.to_owned());
        self.write("renew", move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE jobs SET lease_until = ?3 \
                     WHERE id = ?1 AND lease_owner = ?2 AND state = 'running'",
                )
                .ctx("preparing lease renewal")?
                .execute(params![job_id, worker, timefmt::now_plus(lease)])
                .ctx(&format!("renewing the lease of job {job_id}"))?;
            Ok(n == 1)
        })
        .await
    }

    async fn renew_many(
        &self,
        job_ids: &[String],
        worker: &str,
        lease: Duration,
    ) -> Result<Vec<String>> {
        if job_ids.is_empty() {
            return Ok(Vec::new());
        }
        let (job_ids, worker) = (job_ids.to_vec(), worker.to_owned());
        // One transaction for all of them: one turn of the single writer.
        self.write("renew_many", move |tx| {
            let until = timefmt::now_plus(lease);
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE jobs SET lease_until = ?3 \
                     WHERE id = ?1 AND lease_owner = ?2 AND state = 'running'",
                )
                .ctx("preparing lease renewal")?;
            let mut held = Vec::with_capacity(job_ids.len());
            for id in job_ids {
                let n = stmt
                    .execute(params![id, worker, until])
                    .ctx(&format!("renewing the lease of job {id}"))?;
                if n == 1 {
                    held.push(id);
                }
            }
            Ok(held)
        })
        .await
    }

    async fn save_job(&self, job: &Job, worker: Option<&str>) -> Result<bool> {
        let job = normalized(job)?;
        let worker = worker.map(str::to_owned);
        self.write("save_job", move |tx| {
            save_job_tx(tx, &job, worker.as_deref())
        })
        .await
    }

    async fn write_jobs(&self, writes: &[JobWrite]) -> Result<Vec<bool>> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let writes = writes.to_vec();
        let key = self.audit_key.clone();
        self.write("write_jobs", move |tx| {
            write_jobs_tx(key.as_ref(), tx, writes)
        })
        .await
    }

    async fn get_job(&self, id: &str) -> Result<Option<Job>> {
        let id = id.to_owned();
        self.run("get_job", move |conn| resolve_job(conn, &id))
            .await
    }

    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        let filter = filter.clone();
        self.run("list_jobs", move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs \
                     WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR rule_id = ?2) \
                       AND (?4 IS NULL OR created_at < ?4 OR (created_at = ?4 AND id < ?5)) \
                       AND (?6 IS NULL OR json_extract(target, '$.account') = ?6) \
                       AND (?7 IS NULL OR action = ?7) \
                       AND (?8 IS NULL OR json_extract(finding, '$.Id') = ?8) \
                     ORDER BY created_at DESC, id DESC LIMIT ?3"
                ))
                .ctx("preparing job listing")?;
            let (created_at, id) = match filter.after {
                Some(c) => (Some(c.created_at), Some(c.id)),
                None => (None, None),
            };
            jobs_from_stmt(
                &mut stmt,
                params![
                    filter.state.map(JobState::as_str),
                    filter.rule_id,
                    limit_sql(filter.limit),
                    created_at,
                    id,
                    filter.account,
                    filter.action,
                    filter.finding_id
                ],
                "listing jobs",
            )
        })
        .await
    }

    async fn count_jobs(&self) -> Result<BTreeMap<String, u64>> {
        self.run("count_jobs", move |conn| {
            let mut counts: BTreeMap<String, u64> = JobState::ALL
                .iter()
                .map(|s| (s.as_str().to_owned(), 0))
                .collect();
            let mut stmt = conn
                .prepare_cached("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                .ctx("preparing job count")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .ctx("counting jobs")?;
            for row in rows {
                let (state, n) = row.ctx("counting jobs")?;
                counts.insert(state, u64::try_from(n).unwrap_or(0));
            }
            Ok(counts)
        })
        .await
    }

    async fn oldest_due(&self) -> Result<Option<String>> {
        self.run("oldest_due", move |conn| {
            conn.prepare_cached(
                "SELECT MIN(run_at) FROM jobs INDEXED BY jobs_due \
                 WHERE state IN ('pending','retrying')",
            )
            .ctx("preparing the oldest due job")?
            .query_row([], |r| r.get::<_, Option<String>>(0))
            .ctx("reading the oldest due job")
        })
        .await
    }

    async fn tally_jobs(&self, from: &str, to: &str) -> Result<Vec<JobTally>> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.run("tally_jobs", move |conn| {
            let sql = crate::common::tally_sql(
                "json_extract(outcome, '$.kind')",
                "json_extract(outcome, '$.reason')",
                "json_array_length(outcome, '$.left_in_place')",
                "COALESCE(json_extract(target, '$.account'), '')",
                "?1",
                "?2",
            );
            let mut stmt = conn.prepare_cached(&sql).ctx("preparing the job tally")?;
            let rows = stmt
                .query_map(rusqlite::params![from, to], |r| {
                    Ok(JobTally {
                        rule_id: r.get(0)?,
                        account: r.get(1)?,
                        control: r.get(2)?,
                        outcome: r.get(3)?,
                        jobs: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                    })
                })
                .ctx("tallying jobs")?;
            rows.map(|row| row.ctx("tallying jobs")).collect()
        })
        .await
    }

    async fn approve(&self, id: &str, by: &str) -> Result<Job> {
        let (id, by) = (id.to_owned(), by.to_owned());
        let key = self.audit_key.clone();
        self.write("approve", move |tx| {
            let job =
                resolve_job(tx, &id)?.ok_or_else(|| StoreError::NotFound(format!("job {id}")))?;
            if job.state != JobState::WaitingApproval {
                return Err(StoreError::InvalidState {
                    id: job.id,
                    state: job.state,
                    expected: JobState::WaitingApproval,
                });
            }
            let now = timefmt::now();
            let mut stmt = tx
                .prepare_cached(&format!(
                    "UPDATE jobs SET state = 'pending', approved_by = ?2, approved_at = ?3, \
                     updated_at = ?3 WHERE id = ?1 RETURNING {JOB_COLUMNS}"
                ))
                .ctx("preparing approval")?;
            let approved = jobs_from_stmt(
                &mut stmt,
                params![job.id, by, now],
                &format!("approving job {}", job.id),
            )?
            .pop()
            .ok_or_else(|| StoreError::NotFound(format!("job {}", job.id)))?;
            append_audit_tx(
                key.as_ref(),
                tx,
                "job.approved",
                &approved.id,
                json!({
                    "by": by,
                    "rule": approved.rule_id,
                    "action": approved.action,
                    "target": approved.target.key(),
                    "plan_digest": approved.plan.as_ref().map(rectify_model::Change::digest),
                }),
            )?;
            Ok(approved)
        })
        .await
    }

    async fn reject(&self, id: &str, by: &str, reason: &str) -> Result<Job> {
        let (id, by, reason) = (id.to_owned(), by.to_owned(), reason.to_owned());
        let key = self.audit_key.clone();
        self.write("reject", move |tx| {
            let job =
                resolve_job(tx, &id)?.ok_or_else(|| StoreError::NotFound(format!("job {id}")))?;
            if job.state != JobState::WaitingApproval {
                return Err(StoreError::InvalidState {
                    id: job.id,
                    state: job.state,
                    expected: JobState::WaitingApproval,
                });
            }
            let now = timefmt::now();
            let outcome = common::rejected_outcome(&job, &by, &reason);
            let mut stmt = tx
                .prepare_cached(&format!(
                    "UPDATE jobs SET state = 'skipped', outcome = ?2, updated_at = ?3 \
                     WHERE id = ?1 RETURNING {JOB_COLUMNS}"
                ))
                .ctx("preparing rejection")?;
            let rejected = jobs_from_stmt(
                &mut stmt,
                params![job.id, common::to_json("outcome", &outcome)?, now],
                &format!("rejecting job {}", job.id),
            )?
            .pop()
            .ok_or_else(|| StoreError::NotFound(format!("job {}", job.id)))?;
            append_audit_tx(
                key.as_ref(),
                tx,
                "job.rejected",
                &rejected.id,
                common::rejected_record(&rejected, &by, &reason),
            )?;
            Ok(rejected)
        })
        .await
    }

    async fn recover_expired(&self) -> Result<u64> {
        self.write("recover_expired", move |tx| {
            let now = timefmt::now();
            let n = tx
                .prepare_cached(
                    "UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_until = NULL, \
                     updated_at = ?1 \
                     WHERE state = 'running' AND (lease_until IS NULL OR lease_until <= ?1)",
                )
                .ctx("preparing lease recovery")?
                .execute([now])
                .ctx("recovering jobs with expired leases")?;
            Ok(n as u64)
        })
        .await
    }

    async fn release_owned(&self, worker: &str) -> Result<u64> {
        let worker = worker.to_owned();
        self.write("release_owned", move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_until = NULL, \
                     updated_at = ?1 WHERE state = 'running' AND lease_owner = ?2",
                )
                .ctx("preparing lease release")?
                .execute(rusqlite::params![timefmt::now(), worker])
                .ctx("releasing the worker's jobs")?;
            Ok(n as u64)
        })
        .await
    }

    async fn append_audit(&self, kind: &str, subject: &str, data: &Value) -> Result<AuditRecord> {
        let (kind, subject, data) = (kind.to_owned(), subject.to_owned(), data.clone());
        let key = self.audit_key.clone();
        self.write("append_audit", move |tx| {
            append_audit_tx(key.as_ref(), tx, &kind, &subject, data)
        })
        .await
    }

    async fn append_audit_many(
        &self,
        entries: &[(String, String, Value)],
    ) -> Result<Vec<AuditRecord>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let entries = entries.to_vec();
        let key = self.audit_key.clone();
        self.write("append_audit_many", move |tx| {
            append_audit_entries_tx(key.as_ref(), tx, entries)
        })
        .await
    }

    async fn audit(&self, after_seq: i64, limit: usize) -> Result<Vec<AuditRecord>> {
        self.run("audit", move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, time, kind, subject, data, prev_hash, hash FROM audit_log \
                     WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .ctx("preparing audit listing")?;
            let mut rows = stmt
                .query(params![after_seq, limit_sql(limit)])
                .ctx("reading the audit log")?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().ctx("reading the audit log")? {
                out.push(audit_from_row(row)?.0);
            }
            Ok(out)
        })
        .await
    }

    async fn audit_about(&self, subjects: &[String], limit: usize) -> Result<Vec<AuditRecord>> {
        let subjects = serde_json::to_string(subjects).unwrap_or_else(|_| "[]".into());
        self.run("audit_about", move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, time, kind, subject, data, prev_hash, hash FROM audit_log \
                     WHERE subject IN (SELECT value FROM json_each(?1)) \
                     ORDER BY seq DESC LIMIT ?2",
                )
                .ctx("preparing audit lookup")?;
            let mut rows = stmt
                .query(params![subjects, limit_sql(limit)])
                .ctx("reading the audit log")?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().ctx("reading the audit log")? {
                out.push(audit_from_row(row)?.0);
            }
            out.reverse();
            Ok(out)
        })
        .await
    }

    async fn audit_head(&self) -> Result<Option<(i64, String)>> {
        self.run("audit_head", |conn| audit_head(conn)).await
    }

    async fn verify_audit(&self) -> Result<AuditVerdict> {
        // The head as of now bounds the walk: records appended while we
        // verify are left for the next run.
        let head = self.run("verify_audit", |conn| audit_head(conn)).await?;
        let bound = head.as_ref().map(|h| h.0).unwrap_or(i64::MAX);
        let mut state = VerifyState::new(self.audit_key.clone());
        loop {
            let after = state.last_seq;
            let page: Vec<(AuditRecord, String)> = self
                .run("verify_audit", move |conn| {
                    let mut stmt = conn
                        .prepare_cached(
                            "SELECT seq, time, kind, subject, data, prev_hash, hash \
                             FROM audit_log WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
                        )
                        .ctx("preparing audit scan")?;
                    let mut rows = stmt
                        .query(params![after, bound, AUDIT_PAGE as i64])
                        .ctx("reading the audit log")?;
                    let mut out = Vec::new();
                    while let Some(row) = rows.next().ctx("reading the audit log")? {
                        out.push(audit_from_row(row)?);
                    }
                    Ok(out)
                })
                .await?;
            let done = page.len() < AUDIT_PAGE;
            if let Some(broken) = state.check_page(page.into_iter().map(Ok))? {
                return Ok(broken);
            }
            if done {
                break;
            }
        }
        Ok(state.finish(head))
    }

    async fn reserve_change(
        &self,
        account: &str,
        region: &str,
        rule: &str,
        resource: &str,
        min_interval: Duration,
    ) -> Result<Option<String>> {
        let row = [account, region, rule, resource].map(str::to_owned);
        self.write("reserve_change", move |tx| {
            let last: Option<String> = tx
                .prepare_cached("SELECT max(at) FROM changes WHERE account = ?1 AND region = ?2")
                .ctx("preparing the change lookup")?
                .query_row(params![row[0], row[1]], |r| r.get(0))
                .ctx("reading the last change")?;
            if let Some(free) = last.as_deref().and_then(|l| slot_free_at(l, min_interval)) {
                return Ok(Some(free));
            }
            tx.prepare_cached(
                "INSERT INTO changes (account, region, rule_id, resource, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .ctx("preparing the change insert")?
            .execute(params![row[0], row[1], row[2], row[3], timefmt::now()])
            .ctx("recording the change")?;
            Ok(None)
        })
        .await
    }

    async fn take_slot(
        &self,
        account: &str,
        region: &str,
        holder: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<bool> {
        let (account, region, holder) = (account.to_owned(), region.to_owned(), holder.to_owned());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write("take_slot", move |tx| {
            let now = timefmt::now();
            tx.prepare_cached(
                "DELETE FROM region_slots WHERE account = ?1 AND region = ?2 AND until <= ?3",
            )
            .ctx("preparing slot expiry")?
            .execute(params![account, region, now])
            .ctx("freeing expired slots")?;
            let (held, mine): (i64, i64) = tx
                .prepare_cached(
                    "SELECT count(*), coalesce(sum(holder = ?3), 0) FROM region_slots \
                     WHERE account = ?1 AND region = ?2",
                )
                .ctx("preparing slot count")?
                .query_row(params![account, region, holder], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .ctx("counting slots")?;
            if mine == 0 && held >= limit {
                return Ok(false);
            }
            tx.prepare_cached(
                "INSERT INTO region_slots (account, region, holder, until) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (account, region, holder) DO UPDATE SET until = excluded.until",
            )
            .ctx("preparing slot insert")?
            .execute(params![account, region, holder, timefmt::now_plus(lease)])
            .ctx("taking a slot")?;
            Ok(true)
        })
        .await
    }

    async fn free_slot(&self, account: &str, region: &str, holder: &str) -> Result<()> {
        let (account, region, holder) = (account.to_owned(), region.to_owned(), holder.to_owned());
        self.write("free_slot", move |tx| {
            tx.prepare_cached(
                "DELETE FROM region_slots WHERE account = ?1 AND region = ?2 AND holder = ?3",
            )
            .ctx("preparing slot release")?
            .execute(params![account, region, holder])
            .ctx("freeing a slot")?;
            Ok(())
        })
        .await
    }

    async fn count_changes(&self, account: &str, rule: &str, since: &str) -> Result<u64> {
        let args = [account, rule, since].map(str::to_owned);
        self.run("count_changes", move |conn| {
            let n: i64 = conn
                .prepare_cached(
                    "SELECT count(*) FROM changes WHERE rule_id = ?1 AND account = ?2 AND at >= ?3",
                )
                .ctx("preparing the change count")?
                .query_row(params![args[1], args[0], args[2]], |r| r.get(0))
                .ctx("counting changes")?;
            Ok(n as u64)
        })
        .await
    }

    async fn set_rule_paused(&self, rule: &str, reason: Option<&str>, by: &str) -> Result<()> {
        let (rule, reason, by) = (rule.to_owned(), reason.map(str::to_owned), by.to_owned());
        let audit_key = self.audit_key.clone();
        self.write("set_rule_paused", move |tx| {
            let key = format!("{SETTING_RULE_PAUSED}{rule}");
            match &reason {
                Some(why) => set_setting(tx, &key, why, Some(&by), &timefmt::now())?,
                None => {
                    tx.execute("DELETE FROM settings WHERE key = ?1", [&key])
                        .ctx("clearing the rule pause")?;
                }
            }
            append_audit_tx(
                audit_key.as_ref(),
                tx,
                if reason.is_some() {
                    "rule.paused"
                } else {
                    "rule.resumed"
                },
                &rule,
                json!({ "rule": rule, "reason": reason, "by": by }),
            )?;
            Ok(())
        })
        .await
    }

    async fn paused_rules(&self) -> Result<BTreeMap<String, String>> {
        self.run("paused_rules", move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT key, value FROM settings WHERE key >= ?1 AND key < ?2")
                .ctx("preparing the paused rules lookup")?;
            let rows = stmt
                .query_map(
                    params![
                        SETTING_RULE_PAUSED,
                        format!("{}\u{10FFFF}", SETTING_RULE_PAUSED)
                    ],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .ctx("reading paused rules")?;
            let mut out = BTreeMap::new();
            for row in rows {
                let (key, value) = row.ctx("reading a paused rule")?;
                out.insert(key[SETTING_RULE_PAUSED.len()..].to_string(), value);
            }
            Ok(out)
        })
        .await
    }

    async fn set_paused(&self, paused: bool, by: &str) -> Result<()> {
        let by = by.to_owned();
        let key = self.audit_key.clone();
        self.write("set_paused", move |tx| {
            let now = timefmt::now();
            set_setting(
                tx,
                SETTING_PAUSED,
                if paused { "true" } else { "false" },
                Some(&by),
                &now,
            )?;
            append_audit_tx(
                key.as_ref(),
                tx,
                if paused {
                    "engine.paused"
                } else {
                    "engine.resumed"
                },
                &by,
                json!({ "paused": paused, "by": by }),
            )?;
            Ok(())
        })
        .await
    }

    async fn is_paused(&self) -> Result<bool> {
        self.run("is_paused", |conn| {
            let v: Option<String> = conn
                .prepare_cached("SELECT value FROM settings WHERE key = ?1")
                .ctx("preparing settings lookup")?
                .query_row([SETTING_PAUSED], |r| r.get(0))
                .optional()
                .ctx("reading the paused flag")?;
            Ok(v.as_deref() == Some("true"))
        })
        .await
    }

    async fn event_origin(&self, id: &str) -> Result<Option<String>> {
        let id = id.to_owned();
        self.run("event_origin", move |conn| {
            conn.prepare_cached("SELECT origin FROM events WHERE key = ?1 AND id = ?2")
                .ctx("preparing event lookup")?
                .query_row(params![lookup_key(&[&id]), id], |r| r.get(0))
                .optional()
                .ctx("reading an event's origin")
        })
        .await
    }

    async fn probe_write(&self) -> Result<()> {
        self.write("probe_write", |tx| {
            let now = timefmt::now();
            set_setting(tx, SETTING_HEALTH_PROBE, &now, None, &now)
        })
        .await
    }

    async fn known_events(&self, ids: &[String]) -> Result<std::collections::BTreeSet<String>> {
        let ids = ids.to_vec();
        self.run("known_events", move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT 1 FROM events WHERE key = ?1 AND id = ?2")
                .ctx("preparing event lookup")?;
            let mut known = std::collections::BTreeSet::new();
            for id in ids {
                if stmt
                    .exists(params![lookup_key(&[&id]), id])
                    .ctx("looking up events")?
                {
                    known.insert(id);
                }
            }
            Ok(known)
        })
        .await
    }

    async fn source_cursor(&self, source: &str) -> Result<Option<String>> {
        let key = cursor_setting(source);
        self.run("source_cursor", move |conn| {
            conn.prepare_cached("SELECT value FROM settings WHERE key = ?1")
                .ctx("preparing settings lookup")?
                .query_row([&key], |r| r.get(0))
                .optional()
                .ctx(&format!("reading setting {key}"))
        })
        .await
    }

    async fn set_source_cursor(&self, source: &str, value: &str) -> Result<()> {
        let (key, value, by) = (
            cursor_setting(source),
            value.to_string(),
            source.to_string(),
        );
        self.write("set_source_cursor", move |tx| {
            set_setting(tx, &key, &value, Some(&by), &timefmt::now())
        })
        .await
    }

    async fn reserve_ticket(
        &self,
        system: &str,
        finding: &FindingRef,
        hub_region: &str,
    ) -> Result<(crate::TicketRow, bool)> {
        let (system, id, product, region) = (
            system.to_string(),
            finding.id.clone(),
            finding.product_arn.clone(),
            hub_region.to_string(),
        );
        self.write("reserve_ticket", move |tx| {
            let now = timefmt::now();
            let created = tx
                .prepare_cached(
                    "INSERT INTO tickets (system, finding_id, product_arn, hub_region, state, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (system, finding_id) DO NOTHING",
                )
                .ctx("preparing the ticket reservation")?
                .execute(params![system, id, product, region, crate::tickets::RESERVED, now])
                .ctx("reserving a ticket")?
                == 1;
            let row = ticket_where(tx, "system = ?1 AND finding_id = ?2", &system, &id)?
                .ok_or_else(|| StoreError::NotFound("the reserved ticket row".into()))?;
            Ok((row, created))
        })
        .await
    }

    async fn move_ticket(
        &self,
        system: &str,
        finding_id: &str,
        from: &str,
        to: &str,
        remote: Option<(&str, &str)>,
    ) -> Result<bool> {
        let args = (
            system.to_string(),
            finding_id.to_string(),
            from.to_string(),
            to.to_string(),
            remote.map(|(i, _)| i.to_string()),
            remote.map(|(_, k)| k.to_string()),
        );
        self.write("move_ticket", move |tx| {
            let (system, id, from, to, remote_id, remote_key) = args;
            let moved = tx
                .prepare_cached(
                    "UPDATE tickets SET state = ?4, remote_id = COALESCE(?5, remote_id), \
                     remote_key = COALESCE(?6, remote_key), updated_at = ?7 \
                     WHERE system = ?1 AND finding_id = ?2 AND state = ?3",
                )
                .ctx("preparing a ticket move")?
                .execute(params![
                    system,
                    id,
                    from,
                    to,
                    remote_id,
                    remote_key,
                    timefmt::now()
                ])
                .ctx("moving a ticket")?;
            Ok(moved == 1)
        })
        .await
    }

    async fn get_ticket(&self, system: &str, finding_id: &str) -> Result<Option<crate::TicketRow>> {
        let (system, id) = (system.to_string(), finding_id.to_string());
        self.run("get_ticket", move |conn| {
            ticket_where(conn, "system = ?1 AND finding_id = ?2", &system, &id)
        })
        .await
    }

    async fn find_ticket(&self, system: &str, remote: &str) -> Result<Option<crate::TicketRow>> {
        let (system, remote) = (system.to_string(), remote.to_string());
        self.run("find_ticket", move |conn| {
            ticket_where(
                conn,
                "system = ?1 AND (remote_id = ?2 OR remote_key = ?2)",
                &system,
                &remote,
            )
        })
        .await
    }

    async fn tickets_in_state(
        &self,
        system: &str,
        state: &str,
        limit: usize,
    ) -> Result<Vec<crate::TicketRow>> {
        let (system, state) = (system.to_string(), state.to_string());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run("tickets_in_state", move |conn| {
            let sql = format!(
                "SELECT {} FROM tickets WHERE system = ?1 AND state = ?2 ORDER BY updated_at LIMIT ?3",
                crate::tickets::COLUMNS
            );
            let mut stmt = conn.prepare_cached(&sql).ctx("preparing the ticket list")?;
            let rows = stmt
                .query_map(params![system, state, limit], ticket_row)
                .ctx("listing tickets")?;
            rows.collect::<std::result::Result<Vec<_>, _>>()
                .ctx("reading tickets")
        })
        .await
    }

    async fn outbox_put(&self, items: &[crate::OutboxItem]) -> Result<()> {
        let items = items.to_vec();
        self.write("outbox_put", move |tx| insert_outbox(tx, &items))
            .await
    }

    async fn outbox_claim(
        &self,
        claim_until: &str,
        limit: usize,
    ) -> Result<Vec<crate::OutboxItem>> {
        let claim_until = claim_until.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write("outbox_claim", move |tx| {
            let now = timefmt::now();
            let sql = format!(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?1, updated_at = ?2 \
                 WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?2 \
                 ORDER BY next_attempt_at LIMIT ?3) RETURNING {}",
                crate::outbox::COLUMNS
            );
            let mut stmt = tx.prepare_cached(&sql).ctx("preparing the outbox claim")?;
            let rows = stmt
                .query_map(params![claim_until, now, limit], outbox_row)
                .ctx("claiming from the outbox")?;
            let mut items = rows
                .collect::<std::result::Result<Vec<_>, _>>()
                .ctx("reading the outbox")?;
            items.sort_by(|a, b| a.created_at.cmp(&b.created_at));
            Ok(items)
        })
        .await
    }

    async fn outbox_settle(
        &self,
        id: &str,
        state: &str,
        next_attempt_at: &str,
        error: Option<&str>,
    ) -> Result<()> {
        let args = (
            id.to_string(),
            state.to_string(),
            next_attempt_at.to_string(),
            error.map(str::to_string),
        );
        self.write("outbox_settle", move |tx| {
            let (id, state, next, error) = args;
            tx.prepare_cached(
                "UPDATE outbox SET state = ?2, next_attempt_at = ?3, last_error = ?4, updated_at = ?5 \
                 WHERE id = ?1",
            )
            .ctx("preparing the outbox update")?
            .execute(params![id, state, next, error, timefmt::now()])
            .ctx("settling an outbox message")?;
            Ok(())
        })
        .await
    }

    async fn outbox_counts(&self) -> Result<BTreeMap<String, u64>> {
        self.run("outbox_counts", move |conn| {
            let mut counts: BTreeMap<String, u64> = [
                crate::outbox::PENDING,
                crate::outbox::SENT,
                crate::outbox::DEAD,
            ]
            .iter()
            .map(|s| (s.to_string(), 0))
            .collect();
            let mut stmt = conn
                .prepare_cached("SELECT state, COUNT(*) FROM outbox GROUP BY state")
                .ctx("preparing the outbox count")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .ctx("counting the outbox")?;
            for row in rows {
                let (state, n) = row.ctx("counting the outbox")?;
                counts.insert(state, u64::try_from(n).unwrap_or(0));
            }
            Ok(counts)
        })
        .await
    }

    async fn outbox_for_job(&self, job_id: &str) -> Result<Vec<crate::OutboxItem>> {
        let job_id = job_id.to_string();
        self.run("outbox_for_job", move |conn| {
            let sql = format!(
                "SELECT {} FROM outbox WHERE job_id = ?1 ORDER BY created_at, id",
                crate::outbox::COLUMNS
            );
            let mut stmt = conn.prepare_cached(&sql).ctx("preparing the outbox read")?;
            let rows = stmt
                .query_map(params![job_id], outbox_row)
                .ctx("reading the outbox")?;
            rows.collect::<std::result::Result<Vec<_>, _>>()
                .ctx("reading the outbox")
        })
        .await
    }

    async fn digest_put(&self, items: &[crate::DigestItem]) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let items = items.to_vec();
        self.write("digest_put", move |tx| {
            let mut item = tx
                .prepare_cached(&format!(
                    "INSERT INTO digest_items ({}) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (channel, item_key) \
                     DO UPDATE SET received = digest_items.received + excluded.received",
                    crate::digest::ITEM_COLUMNS
                ))
                .ctx("preparing the digest write")?;
            let mut period = tx
                .prepare_cached(
                    "INSERT INTO digest_periods (channel, due_at) VALUES (?1, ?2) \
                     ON CONFLICT (channel) DO NOTHING",
                )
                .ctx("preparing the digest period write")?;
            let mut repeat = tx
                .prepare_cached(
                    "UPDATE digest_items SET received = received + ?3 \
                     WHERE channel = ?1 AND item_key = ?2",
                )
                .ctx("preparing the digest repeat")?;
            let mut room = tx
                .prepare_cached(
                    "UPDATE digest_periods SET items = items + 1 WHERE channel = ?1 AND items < ?2",
                )
                .ctx("preparing the digest count")?;
            let mut drop = tx
                .prepare_cached(
                    "UPDATE digest_periods SET dropped = dropped + ?2 WHERE channel = ?1",
                )
                .ctx("preparing the digest drop")?;
            for i in &items {
                let received = i64::try_from(i.received).unwrap_or(i64::MAX);
                let max = i64::try_from(i.max_items).unwrap_or(i64::MAX);
                period
                    .execute(params![i.channel, i.period_ends_at])
                    .ctx("opening a digest period")?;
                if repeat
                    .execute(params![i.channel, i.item_key, received])
                    .ctx("folding a digest repeat")?
                    > 0
                {
                    continue;
                }
                if room
                    .execute(params![i.channel, max])
                    .ctx("counting a digest item")?
                    == 0
                {
                    drop.execute(params![i.channel, received])
                        .ctx("dropping a digest item")?;
                    continue;
                }
                item.execute(params![
                    i.channel,
                    i.item_key,
                    i.id,
                    i.item.to_string(),
                    received
                ])
                .ctx("writing a digest item")?;
            }
            Ok(())
        })
        .await
    }

    async fn digest_claim(
        &self,
        token: &str,
        claim_until: &str,
        limit: usize,
    ) -> Result<Vec<crate::DigestPeriod>> {
        let args = (token.to_string(), claim_until.to_string());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write("digest_claim", move |tx| {
            let (token, claim_until) = args;
            let now = timefmt::now();
            let mut claim = tx
                .prepare_cached(
                    "UPDATE digest_periods SET claim_token = ?1, claimed_until = ?2 \
                     WHERE channel IN (SELECT channel FROM digest_periods WHERE due_at <= ?3 \
                     AND (claimed_until IS NULL OR claimed_until <= ?3) ORDER BY due_at LIMIT ?4) \
                     RETURNING channel, due_at, dropped",
                )
                .ctx("preparing the digest claim")?;
            let claimed = claim
                .query_map(params![token, claim_until, now, limit], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .ctx("claiming digests")?
                .collect::<std::result::Result<Vec<_>, _>>()
                .ctx("claiming digests")?;
            let mut read = tx
                .prepare_cached(&format!(
                    "SELECT {} FROM digest_items WHERE channel = ?1 ORDER BY id",
                    crate::digest::ITEM_COLUMNS
                ))
                .ctx("preparing the digest read")?;
            let mut periods = Vec::with_capacity(claimed.len());
            for (channel, due_at, dropped) in claimed {
                let items = read
                    .query_map(params![channel], digest_item_row)
                    .ctx("reading a digest")?
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .ctx("reading a digest")?;
                periods.push(crate::DigestPeriod {
                    channel,
                    due_at,
                    items,
                    dropped: u64::try_from(dropped).unwrap_or(0),
                });
            }
            periods.sort_by(|a, b| a.due_at.cmp(&b.due_at));
            Ok(periods)
        })
        .await
    }

    async fn digest_close(
        &self,
        channel: &str,
        token: &str,
        keys: &[String],
        dropped: u64,
        next_due_at: &str,
        message: Option<&crate::OutboxItem>,
    ) -> Result<bool> {
        let args = (
            channel.to_string(),
            token.to_string(),
            keys.to_vec(),
            next_due_at.to_string(),
            message.cloned(),
        );
        let counted = i64::try_from(dropped).unwrap_or(i64::MAX);
        self.write("digest_close", move |tx| {
            let (channel, token, keys, next_due_at, message) = args;
            let ours: Option<i64> = tx
                .prepare_cached(
                    "DELETE FROM digest_periods WHERE channel = ?1 AND claim_token = ?2 \
                     RETURNING dropped",
                )
                .ctx("preparing the digest close")?
                .query_row(params![channel, token], |r| r.get(0))
                .optional()
                .ctx("closing a digest period")?;
            let Some(dropped_now) = ours else {
                return Ok(false);
            };
            let mut delete = tx
                .prepare_cached("DELETE FROM digest_items WHERE channel = ?1 AND item_key = ?2")
                .ctx("preparing the digest item delete")?;
            for key in &keys {
                delete
                    .execute(params![channel, key])
                    .ctx("deleting a digest item")?;
            }
            // Items and drops counted since the claim open the next period.
            let later = dropped_now.saturating_sub(counted).max(0);
            tx.prepare_cached(
                "INSERT INTO digest_periods (channel, due_at, items, dropped) \
                 SELECT ?1, ?2, (SELECT COUNT(*) FROM digest_items WHERE channel = ?1), ?3 \
                 WHERE ?3 > 0 OR EXISTS (SELECT 1 FROM digest_items WHERE channel = ?1) \
                 ON CONFLICT (channel) DO NOTHING",
            )
            .ctx("preparing the next digest period")?
            .execute(params![channel, next_due_at, later])
            .ctx("opening the next digest period")?;
            insert_outbox(tx, message.as_slice())?;
            Ok(true)
        })
        .await
    }

    async fn digest_held(&self) -> Result<BTreeMap<String, u64>> {
        self.run("digest_held", move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT channel, COUNT(*) FROM digest_items GROUP BY channel")
                .ctx("preparing the digest count")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .ctx("counting digest items")?;
            let mut held = BTreeMap::new();
            for row in rows {
                let (channel, n) = row.ctx("counting digest items")?;
                held.insert(channel, u64::try_from(n).unwrap_or(0));
            }
            Ok(held)
        })
        .await
    }

    async fn coalesce_hold(&self, holds: &[crate::CoalesceHold]) -> Result<Vec<bool>> {
        if holds.is_empty() {
            return Ok(Vec::new());
        }
        let holds = holds.to_vec();
        self.write("coalesce_hold", move |tx| {
            let mut read = tx
                .prepare_cached(
                    "SELECT held, accounts, resources FROM coalesce_windows \
                     WHERE channel = ?1 AND rule = ?2 AND what = ?3",
                )
                .ctx("preparing the window read")?;
            let mut update = tx
                .prepare_cached(
                    "UPDATE coalesce_windows SET held = ?4, accounts = ?5, resources = ?6 \
                     WHERE channel = ?1 AND rule = ?2 AND what = ?3",
                )
                .ctx("preparing the window update")?;
            let mut open = tx
                .prepare_cached(&format!(
                    "INSERT INTO coalesce_windows ({}) VALUES (?1, ?2, ?3, ?4, 0, '[]', '[]')",
                    crate::coalesce::COLUMNS
                ))
                .ctx("preparing the window open")?;
            let mut held_now = Vec::with_capacity(holds.len());
            for h in &holds {
                let row = read
                    .query_row(params![h.channel, h.rule, h.what], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    })
                    .optional()
                    .ctx("reading a window")?;
                match row {
                    Some((held, accounts, resources)) => {
                        let mut held = u64::try_from(held).unwrap_or(0);
                        let mut accounts =
                            crate::coalesce::names(&accounts, crate::coalesce::ACCOUNTS_MAX);
                        let mut resources =
                            crate::coalesce::names(&resources, crate::coalesce::RESOURCES_MAX);
                        crate::coalesce::fold(&mut held, &mut accounts, &mut resources, h);
                        update
                            .execute(params![
                                h.channel,
                                h.rule,
                                h.what,
                                i64::try_from(held).unwrap_or(i64::MAX),
                                serde_json::to_string(&accounts).unwrap_or_default(),
                                serde_json::to_string(&resources).unwrap_or_default(),
                            ])
                            .ctx("counting into a window")?;
                        held_now.push(true);
                    }
                    None => {
                        open.execute(params![h.channel, h.rule, h.what, h.closes_at])
                            .ctx("opening a window")?;
                        insert_outbox(tx, std::slice::from_ref(&h.message))?;
                        held_now.push(false);
                    }
                }
            }
            Ok(held_now)
        })
        .await
    }

    async fn coalesce_claim(
        &self,
        token: &str,
        claim_until: &str,
        limit: usize,
    ) -> Result<Vec<crate::CoalesceWindow>> {
        let args = (token.to_string(), claim_until.to_string());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write("coalesce_claim", move |tx| {
            let (token, claim_until) = args;
            let now = timefmt::now();
            let mut claim = tx
                .prepare_cached(&format!(
                    "UPDATE coalesce_windows SET claim_token = ?1, claimed_until = ?2 \
                     WHERE (channel, rule, what) IN (SELECT channel, rule, what \
                     FROM coalesce_windows WHERE closes_at <= ?3 \
                     AND (claimed_until IS NULL OR claimed_until <= ?3) ORDER BY closes_at LIMIT ?4) \
                     RETURNING {}",
                    crate::coalesce::COLUMNS
                ))
                .ctx("preparing the window claim")?;
            let mut windows = claim
                .query_map(params![token, claim_until, now, limit], window_row)
                .ctx("claiming windows")?
                .collect::<std::result::Result<Vec<_>, _>>()
                .ctx("claiming windows")?;
            windows.sort_by(|a, b| a.closes_at.cmp(&b.closes_at));
            Ok(windows)
        })
        .await
    }

    async fn coalesce_close(
        &self,
        window: &crate::CoalesceWindow,
        token: &str,
        message: Option<&crate::OutboxItem>,
    ) -> Result<bool> {
        let args = (window.clone(), token.to_string(), message.cloned());
        self.write("coalesce_close", move |tx| {
            let (w, token, message) = args;
            let held = i64::try_from(w.held).unwrap_or(i64::MAX);
            let closed = tx
                .prepare_cached(
                    "DELETE FROM coalesce_windows WHERE channel = ?1 AND rule = ?2 AND what = ?3 \
                     AND claim_token = ?4 AND held = ?5",
                )
                .ctx("preparing the window close")?
                .execute(params![w.channel, w.rule, w.what, token, held])
                .ctx("closing a window")?;
            if closed == 0 {
                tx.prepare_cached(
                    "UPDATE coalesce_windows SET claim_token = NULL, claimed_until = NULL \
                     WHERE channel = ?1 AND rule = ?2 AND what = ?3 AND claim_token = ?4",
                )
                .ctx("preparing the window release")?
                .execute(params![w.channel, w.rule, w.what, token])
                .ctx("giving a window back")?;
                return Ok(false);
            }
            insert_outbox(tx, message.as_slice())?;
            Ok(true)
        })
        .await
    }

    async fn coalesce_windows(&self) -> Result<Vec<crate::CoalesceWindow>> {
        self.run("coalesce_windows", move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {} FROM coalesce_windows ORDER BY channel, rule, what",
                    crate::coalesce::COLUMNS
                ))
                .ctx("preparing the window list")?;
            let rows = stmt.query_map([], window_row).ctx("listing windows")?;
            rows.collect::<std::result::Result<Vec<_>, _>>()
                .ctx("listing windows")
        })
        .await
    }

    async fn detector_state(&self, detector: &str) -> Result<Vec<(String, String)>> {
        let detector = detector.to_string();
        self.run("detector_state", move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT entity, state FROM detector_state WHERE detector = ?1 ORDER BY entity",
                )
                .ctx("preparing the detector state read")?;
            let rows = stmt
                .query_map([&detector], |r| Ok((r.get(0)?, r.get(1)?)))
                .ctx("reading detector state")?;
            rows.collect::<std::result::Result<Vec<_>, _>>()
                .ctx("reading detector state")
        })
        .await
    }

    async fn save_detector_state(
        &self,
        detector: &str,
        save: &crate::DetectorStateSave,
    ) -> Result<()> {
        if save.is_empty() {
            return Ok(());
        }
        let (detector, save) = (detector.to_string(), save.clone());
        self.write("save_detector_state", move |tx| {
            if save.replace_all {
                tx.execute(
                    "DELETE FROM detector_state WHERE detector = ?1",
                    [&detector],
                )
                .ctx("clearing detector state")?;
            }
            let mut delete = tx
                .prepare_cached("DELETE FROM detector_state WHERE detector = ?1 AND entity = ?2")
                .ctx("preparing detector state delete")?;
            for entity in &save.removed {
                delete
                    .execute(params![detector, entity])
                    .ctx("deleting detector state")?;
            }
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO detector_state (detector, entity, state, updated_at) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (detector, entity) \
                     DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                )
                .ctx("preparing detector state write")?;
            let now = timefmt::now();
            for (entity, state) in &save.upserts {
                upsert
                    .execute(params![detector, entity, state, now])
                    .ctx("writing detector state")?;
            }
            Ok(())
        })
        .await
    }

    async fn record_scan(&self, scan: &crate::ScanRecord) -> Result<()> {
        let (summary, started, finished) = scan.checked()?;
        let scan = scan.clone();
        self.write("record_scan", move |tx| {
            tx.execute(
                crate::scans::INSERT_SQL,
                params![
                    scan.id,
                    started,
                    finished,
                    scan.kind,
                    scan.started_by,
                    summary
                ],
            )
            .ctx("recording a scan")?;
            Ok(())
        })
        .await
    }

    async fn list_scans(&self, limit: usize) -> Result<Vec<crate::ScanRecord>> {
        let limit = limit.min(crate::scans::MAX_LIST) as i64;
        self.run("list_scans", move |conn| {
            let mut stmt = conn
                .prepare_cached(crate::scans::LIST_SQL)
                .ctx("preparing the scan list")?;
            let rows = stmt.query_map([limit], scan_row).ctx("listing scans")?;
            rows.collect::<std::result::Result<Vec<_>, _>>()
                .ctx("listing scans")
        })
        .await
    }

    async fn get_scan(&self, id: &str) -> Result<Option<crate::ScanRecord>> {
        let id = id.to_string();
        self.run("get_scan", move |conn| {
            conn.query_row(crate::scans::GET_SQL, [&id], scan_row)
                .optional()
                .ctx("reading a scan")
        })
        .await
    }

    async fn claim_scan_schedule(
        &self,
        name: &str,
        slot: &str,
        holder: &str,
        until: &str,
    ) -> Result<bool> {
        let slot = timefmt::normalize(slot, "slot")?;
        let until = timefmt::normalize(until, "until")?;
        let (name, holder) = (name.to_string(), holder.to_string());
        self.write("claim_scan_schedule", move |tx| {
            let changed = tx
                .execute(
                    crate::scans::CLAIM_SQL,
                    params![name, holder, until, slot, timefmt::now()],
                )
                .ctx("claiming the scan schedule")?;
            Ok(changed == 1)
        })
        .await
    }

    async fn hold_scan_schedule(&self, name: &str, holder: &str, until: &str) -> Result<bool> {
        let until = timefmt::normalize(until, "until")?;
        let (name, holder) = (name.to_string(), holder.to_string());
        self.write("hold_scan_schedule", move |tx| {
            let changed = tx
                .execute(crate::scans::HOLD_SQL, params![name, holder, until])
                .ctx("holding the scan schedule")?;
            Ok(changed == 1)
        })
        .await
    }

    async fn mark_applying(
        &self,
        job_id: &str,
        worker: &str,
        plan: &rectify_model::Change,
        records: &[(String, String, Value)],
    ) -> Result<bool> {
        let (job_id, worker) = (job_id.to_owned(), worker.to_owned());
        let plan = crate::common::to_json(&format!("job {job_id} plan"), plan)?;
        let entries = records.to_vec();
        let key = self.audit_key.clone();
        self.write("mark_applying", move |tx| {
            mark_applying_tx(key.as_ref(), tx, &job_id, &worker, &plan, entries)
        })
        .await
    }

    async fn applying_history(&self, job_id: &str) -> Result<Option<Vec<String>>> {
        let job_id = job_id.to_owned();
        self.run("applying_history", move |conn| {
            let seq: Option<i64> = conn
                .prepare_cached("SELECT applying_seq FROM jobs WHERE id = ?1")
                .ctx("preparing applying lookup")?
                .query_row([&job_id], |r| r.get(0))
                .optional()
                .ctx(&format!("reading job {job_id}"))?
                .flatten();
            let Some(seq) = seq else { return Ok(None) };
            // From the mark on, by sequence number: a short range scan.
            let mut stmt = conn
                .prepare_cached(
                    "SELECT kind FROM audit_log WHERE seq >= ?1 AND subject = ?2 ORDER BY seq",
                )
                .ctx("preparing job history")?;
            let kinds = stmt
                .query_map(params![seq, job_id], |r| r.get::<_, String>(0))
                .ctx("reading the job's history")?
                .collect::<std::result::Result<Vec<_>, _>>()
                .ctx("reading the job's history")?;
            Ok(Some(kinds))
        })
        .await
    }

    async fn lease_owners(&self) -> Result<Vec<String>> {
        self.run("lease_owners", move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT DISTINCT lease_owner FROM jobs \
                     WHERE state = 'running' AND lease_owner IS NOT NULL",
                )
                .ctx("preparing lease owner listing")?;
            let owners = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .ctx("listing lease owners")?
                .collect::<std::result::Result<Vec<_>, _>>()
                .ctx("listing lease owners")?;
            Ok(owners)
        })
        .await
    }

    async fn record_reversal(
        &self,
        account: &str,
        resource: &str,
        principal: &str,
        window: Duration,
    ) -> Result<u64> {
        let key = (
            account.to_owned(),
            resource.to_owned(),
            principal.to_owned(),
        );
        self.write("record_reversal", move |tx| {
            let (account, resource, principal) = &key;
            let before = count_reversals_tx(tx, account, resource, principal, window)?;
            tx.prepare_cached(
                "INSERT INTO reversals (account, resource, principal, at) VALUES (?1, ?2, ?3, ?4)",
            )
            .ctx("preparing reversal record")?
            .execute(params![account, resource, principal, timefmt::now()])
            .ctx("recording a reversal")?;
            Ok(before)
        })
        .await
    }

    async fn count_reversals(
        &self,
        account: &str,
        resource: &str,
        principal: &str,
        window: Duration,
    ) -> Result<u64> {
        let key = (
            account.to_owned(),
            resource.to_owned(),
            principal.to_owned(),
        );
        self.run("count_reversals", move |conn| {
            let (account, resource, principal) = &key;
            count_reversals_tx(conn, account, resource, principal, window)
        })
        .await
    }
}

fn count_reversals_tx(
    conn: &Connection,
    account: &str,
    resource: &str,
    principal: &str,
    window: Duration,
) -> Result<u64> {
    let since = timefmt::now_minus(window);
    let n: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM reversals \
             WHERE account = ?1 AND resource = ?2 AND principal = ?3 AND at > ?4",
        )
        .ctx("preparing reversal count")?
        .query_row(params![account, resource, principal, since], |r| r.get(0))
        .ctx("counting reversals")?;
    Ok(n as u64)
}

fn ticket_row(r: &Row<'_>) -> rusqlite::Result<crate::TicketRow> {
    Ok(crate::TicketRow {
        system: r.get(0)?,
        finding_id: r.get(1)?,
        product_arn: r.get(2)?,
        hub_region: r.get(3)?,
        remote_id: r.get(4)?,
        remote_key: r.get(5)?,
        state: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

/// Writes messages to the outbox; an id already there is left as it is.
fn insert_outbox(tx: &Transaction<'_>, items: &[crate::OutboxItem]) -> Result<()> {
    let mut stmt = tx
        .prepare_cached(&format!(
            "INSERT INTO outbox ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (id) DO NOTHING",
            crate::outbox::COLUMNS
        ))
        .ctx("preparing the outbox write")?;
    for i in items {
        stmt.execute(params![
            i.id,
            i.channel,
            i.job_id,
            i.outcome,
            i.body.to_string(),
            i.attempts,
            i.next_attempt_at,
            i.state,
            i.last_error,
            i.created_at,
            i.updated_at
        ])
        .ctx("writing to the outbox")?;
    }
    Ok(())
}

fn window_row(r: &Row<'_>) -> rusqlite::Result<crate::CoalesceWindow> {
    let held: i64 = r.get(4)?;
    let accounts: String = r.get(5)?;
    let resources: String = r.get(6)?;
    Ok(crate::CoalesceWindow {
        channel: r.get(0)?,
        rule: r.get(1)?,
        what: r.get(2)?,
        closes_at: r.get(3)?,
        held: u64::try_from(held).unwrap_or(0),
        accounts: crate::coalesce::names(&accounts, crate::coalesce::ACCOUNTS_MAX),
        resources: crate::coalesce::names(&resources, crate::coalesce::RESOURCES_MAX),
    })
}

fn digest_item_row(r: &Row<'_>) -> rusqlite::Result<crate::DigestItem> {
    let item: String = r.get(3)?;
    let received: i64 = r.get(4)?;
    Ok(crate::DigestItem {
        channel: r.get(0)?,
        item_key: r.get(1)?,
        id: r.get(2)?,
        item: serde_json::from_str(&item).unwrap_or(Value::Null),
        received: u64::try_from(received).unwrap_or(0),
        period_ends_at: String::new(),
        max_items: 0,
    })
}

fn outbox_row(r: &Row<'_>) -> rusqlite::Result<crate::OutboxItem> {
    let body: String = r.get(4)?;
    Ok(crate::OutboxItem {
        id: r.get(0)?,
        channel: r.get(1)?,
        job_id: r.get(2)?,
        outcome: r.get(3)?,
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
        attempts: r.get(5)?,
        next_attempt_at: r.get(6)?,
        state: r.get(7)?,
        last_error: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

/// The one ticket row matching `condition` over `?1` and `?2`.
fn ticket_where(
    conn: &Connection,
    condition: &str,
    first: &str,
    second: &str,
) -> Result<Option<crate::TicketRow>> {
    let sql = format!(
        "SELECT {} FROM tickets WHERE {condition} LIMIT 1",
        crate::tickets::COLUMNS
    );
    conn.prepare_cached(&sql)
        .ctx("preparing a ticket lookup")?
        .query_row(params![first, second], ticket_row)
        .optional()
        .ctx("reading a ticket")
}

/// A `scans` row as read by `LIST_SQL` and `GET_SQL`.
fn scan_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::ScanRecord> {
    let summary: String = r.get(5)?;
    Ok(crate::ScanRecord::from_row(
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        &summary,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key is stored: its values must never change.
    #[test]
    fn lookup_keys_are_stable() {
        assert_eq!(lookup_key(&[]), 0xcbf2_9ce4_8422_2325_u64 as i64);
        assert_eq!(lookup_key(&["a"]), lookup_key(&["a"]));
        assert_ne!(lookup_key(&["ab", "c"]), lookup_key(&["a", "bc"]));
        // FNV-1a of "a\n".
        assert_eq!(lookup_key(&["a"]) as u64, 0x089b_dc07_b544_e7b2);
    }

    /// Writes back to back (the passive checkpoint never catches up) must
    /// not grow the WAL without bound: the checkpointer restarts it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sustained_writes_keep_the_wal_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let store = SqliteStore::open_path(&path).await.unwrap();
        let wal = dir.path().join("wal.db-wal");
        let chunk = "x".repeat(256 * 1024);
        let mut largest = 0;
        // 256 MiB written, 64 times the restart threshold of 4 MiB.
        for i in 0..1024 {
            let value = chunk.clone();
            store
                .write("test write", move |tx| {
                    tx.execute(
                        "INSERT OR REPLACE INTO settings (key, value, updated_at) VALUES (?1, ?2, '')",
                        params![format!("k{}", i % 64), value],
                    )
                    .ctx("writing")?;
                    Ok(())
                })
                .await
                .unwrap();
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        }
        // Without restarts the WAL holds every page written: over 256 MiB.
        // The bound leaves room for a loaded machine, where the
        // checkpointer's turn comes late (or after its 5 s back-off).
        assert!(largest < 96 * 1024 * 1024, "WAL grew to {largest} bytes");
        assert!(largest > 0, "the WAL was never written");
    }
}
