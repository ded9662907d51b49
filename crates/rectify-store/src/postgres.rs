//! The PostgreSQL back end: a small pool of `tokio-postgres` connections
//! (deadpool), prepared statements cached per connection, every write one
//! statement or one transaction.
//!
//! Several replicas share one database safely:
//!
//! * jobs are claimed with `SELECT ... FOR UPDATE SKIP LOCKED` inside the
//!   claiming `UPDATE`, so two claimers never get the same job and never
//!   wait for each other;
//! * a worker writes a job back only while it holds the job's lease (the
//!   `UPDATE` checks the lease owner);
//! * the audit log is [`PG_AUDIT_LANES`] chains (lanes, see
//!   [`crate::audit`]); an append locks the head row of its records' lanes
//!   in `audit_lanes` (`SELECT ... FOR UPDATE`), which keeps each lane
//!   linear while appends to other lanes go on;
//! * migrations run under `pg_advisory_xact_lock`.
//!
//! Times are stored as text in the store's format ([`crate::timefmt`]), as
//! in SQLite, and compared as text under the `"C"` collation. They come from
//! each replica's clock, so replicas need synchronised clocks (NTP); leases
//! should be much longer than any clock skew.

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use rectify_model::{AuditRecord, Event, FindingRef, Job, JobState};
use serde_json::{json, Value};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::audit::{AuditKey, LaneHead, PG_AUDIT_LANES};
use crate::common::{
    audit_record, cursor_setting, event_rows, finding_rows, from_json, lanes_verdict, new_record,
    normalized, opt_json, slot_free_at, RawJob, VerifyState, AUDIT_PAGE, SETTING_HEALTH_PROBE,
    SETTING_PAUSED, SETTING_RULE_PAUSED,
};
use crate::{
    pg_schema, pg_tls, redact, timefmt, AuditVerdict, ChangeCount, Enqueued, EventRow,
    FindingCount, FindingCursor, FindingFilter, FindingOutcome, FindingRow, FindingSpan,
    FindingUpsert, FixCount, IngestBatch, Ingested, JobFilter, JobSave, JobTally, JobWrite, NewJob,
    Result, Store, StoreError, WriteGate,
};

/// Connections per store unless the URL says `pool_size=N`.
const DEFAULT_POOL_SIZE: usize = 8;
const MAX_POOL_SIZE: usize = 256;
/// Jobs one claim takes at most.
const MAX_CLAIM: usize = 10_000;

/// The advisory lock (with the schema's hash) of the upkeep of `jobs`.
const UPKEEP_LOCK: i32 = 0x5245_434a; // "RECJ"

/// The PostgreSQL [`Store`]. Cheap to share; one per process is enough.
pub struct PostgresStore {
    pool: Pool,
    /// For messages: the URL without its password.
    location: String,
    /// Audit records are HMAC'd under it when set.
    audit_key: Option<AuditKey>,
    /// The claimer's upkeep of `jobs` when autovacuum is off.
    upkeep: std::sync::Arc<JobUpkeep>,
}

/// How often a draining store handle looks after `jobs` when the server
/// does not (`autovacuum = off`). A queue table churns: every claimed job
/// leaves dead entries in `jobs_due` and `jobs_lease_until` that every
/// later claim steps over until `VACUUM` removes them, and the planner,
/// with no statistics, takes a backlog of thousands for a few dozen rows
/// and reads and sorts all of it to claim four (19 ms for 4 of 5,720 due,
/// measured). So the claimer vacuums and analyses `jobs` itself.
const JOB_UPKEEP_EVERY: Duration = Duration::from_secs(30);

/// The upkeep of `jobs` (see [`JOB_UPKEEP_EVERY`]).
#[derive(Default)]
struct JobUpkeep {
    /// When the last upkeep started; None before the first.
    last: std::sync::Mutex<Option<std::time::Instant>>,
    running: std::sync::atomic::AtomicBool,
    /// Read once from the server: true when autovacuum is on (the server
    /// looks after the table) or the role does not own `jobs` (it could
    /// not; said once in the log): the upkeep then does nothing.
    left_alone: tokio::sync::OnceCell<bool>,
}

impl JobUpkeep {
    /// True when an upkeep is due and this caller is to make it.
    fn take_turn(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|at| at.elapsed() < JOB_UPKEEP_EVERY) {
            return false;
        }
        if self.running.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return false;
        }
        *last = Some(std::time::Instant::now());
        true
    }

    fn done(&self) {
        self.running
            .store(false, std::sync::atomic::Ordering::Release);
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.location)
            .finish()
    }
}

/// What a `postgres://` URL says, after the store's own parameters are
/// taken out.
struct PgUrl {
    config: tokio_postgres::Config,
    schema: Option<String>,
    pool_size: usize,
    tls: pg_tls::TlsSettings,
}

fn invalid(url: &str, reason: impl Into<String>) -> StoreError {
    StoreError::InvalidUrl {
        url: redact(url),
        reason: reason.into(),
    }
}

/// A schema name the store accepts: a plain lower-case SQL identifier, so
/// that it needs no quoting rules and means the same quoted or not.
fn valid_schema(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
        && !s.starts_with("pg_")
}

/// `%XX` escapes decoded (a file path in a URL parameter).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_url(url: &str) -> Result<PgUrl> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut schema = None;
    let mut pool_size = DEFAULT_POOL_SIZE;
    let mut tls = pg_tls::TlsSettings::default();
    let mut rest: Vec<&str> = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "schema" => {
                if !valid_schema(value) {
                    return Err(invalid(
                        url,
                        format!(
                            "schema {value:?} is not a plain lower-case identifier \
                             ([a-z_][a-z0-9_]*, at most 63 characters, not pg_*)"
                        ),
                    ));
                }
                schema = Some(value.to_owned());
            }
            "pool_size" => {
                pool_size = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_POOL_SIZE).contains(n))
                    .ok_or_else(|| {
                        invalid(
                            url,
                            format!(
                                "pool_size {value:?} is not a number from 1 to {MAX_POOL_SIZE}"
                            ),
                        )
                    })?;
            }
            // TLS is set up here (rustls), not by the driver, which
            // knows neither verify-ca nor verify-full.
            "sslmode" => {
                tls.mode = pg_tls::SslMode::parse(value).ok_or_else(|| {
                    invalid(
                        url,
                        format!(
                            "sslmode {value:?}: expected disable, prefer, require, verify-ca \
                             or verify-full"
                        ),
                    )
                })?;
            }
            "sslrootcert" if !value.is_empty() => {
                tls.root_cert = Some(std::path::PathBuf::from(percent_decode(value)));
            }
            "sslcert" | "sslkey" | "sslpassword" => {
                return Err(invalid(
                    url,
                    format!("{key}: client certificates are not supported"),
                ));
            }
            _ => rest.push(pair),
        }
    }
    let pg_url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let mut config = tokio_postgres::Config::from_str(&pg_url)
        .map_err(|e| invalid(url, format!("not a PostgreSQL connection URL: {e}")))?;
    config.ssl_mode(tls.mode.driver_mode());
    if config.get_hosts().is_empty() {
        return Err(invalid(url, "no host"));
    }
    if let Some(schema) = &schema {
        let options = match config.get_options() {
            Some(o) if !o.trim().is_empty() => format!("{o} -c search_path={schema}"),
            _ => format!("-c search_path={schema}"),
        };
        config.options(options);
    }
    // Every statement is planned for its own parameters. A plan cached
    // for a prepared statement is made once for any parameters, from the
    // table sizes of that moment, and kept until the table is analysed: a
    // batch update joined to its ids, planned while the table was small,
    // kept scanning the whole table as it grew (3.8 ms a call instead of
    // 0.1 under sustained ingest). Planning afresh costs a fraction of a
    // millisecond. Set `plan_cache_mode` in the URL's options to choose.
    let options = config.get_options().unwrap_or("").trim().to_string();
    if !options.contains("plan_cache_mode") {
        let custom = "-c plan_cache_mode=force_custom_plan";
        config.options(if options.is_empty() {
            custom.to_string()
        } else {
            format!("{options} {custom}")
        });
    }
    if config.get_application_name().is_none() {
        config.application_name("rectify");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(PgUrl {
        config,
        schema,
        pool_size,
        tls,
    })
}

/// Maps a driver error to a [`StoreError`] naming the operation; unique
/// violations become [`StoreError::Conflict`].
trait Ctx<T> {
    fn ctx(self, op: &str) -> Result<T>;
}

impl<T> Ctx<T> for std::result::Result<T, tokio_postgres::Error> {
    fn ctx(self, op: &str) -> Result<T> {
        self.map_err(|e| pg_err(op, e))
    }
}

fn pg_err(op: &str, e: tokio_postgres::Error) -> StoreError {
    // tokio-postgres shows a server error as just "db error"; the server's
    // own words go into the message.
    let detail = e
        .as_db_error()
        .map(|d| format!(" ({}: {})", d.code().code(), d.message()))
        .unwrap_or_default();
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        return StoreError::Conflict(format!("{op}: {e}{detail}"));
    }
    StoreError::Database {
        op: format!("{op}{detail}"),
        source: Box::new(e),
    }
}

fn limit_sql(limit: usize) -> Option<i64> {
    (limit != 0).then(|| i64::try_from(limit).unwrap_or(i64::MAX))
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://` or
    /// `postgresql://`, see [`crate::open`] for the parameters) and
    /// migrates it.
    pub async fn connect(url: &str) -> Result<Self> {
        let parsed = parse_url(url)?;
        let location = redact(url);
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let tls = pg_tls::client_config(&parsed.tls).map_err(|reason| invalid(url, reason))?;
        let manager = match tls {
            Some(tls) => Manager::from_config(
                parsed.config,
                tokio_postgres_rustls::MakeRustlsConnect::new(tls),
                manager_config,
            ),
            None => Manager::from_config(parsed.config, NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(parsed.pool_size)
            .build()
            .map_err(|e| StoreError::Database {
                op: format!("building the connection pool for {location}"),
                source: Box::new(e),
            })?;
        let store = PostgresStore {
            pool,
            location,
            audit_key: None,
            upkeep: Default::default(),
        };
        let mut client = store.client("migrate").await?;
        pg_schema::migrate(&mut client, parsed.schema.as_deref())
            .await
            .map_err(|e| match e {
                StoreError::Migration(m) => {
                    StoreError::Migration(format!("{}: {m}", store.location))
                }
                StoreError::Database { op, source } => StoreError::Database {
                    op: format!("{op} ({})", store.location),
                    source,
                },
                other => other,
            })?;
        drop(client);
        Ok(store)
    }

    /// HMACs new audit records under `key` and verifies with it
    /// ([`crate::audit`]); `None` keeps the log unkeyed.
    pub fn with_audit_key(mut self, key: Option<AuditKey>) -> Self {
        self.audit_key = key;
        self
    }

    async fn client(&self, op: &str) -> Result<Object> {
        self.pool.get().await.map_err(|e| StoreError::Database {
            op: format!("{op}: connecting to {}", self.location),
            source: Box::new(e),
        })
    }

    /// Claims as [`Store::claim`] in one statement and one round trip;
    /// with `unless_paused`, the same statement reads the kill switch and
    /// claims nothing when it is on.
    async fn claim_jobs(
        &self,
        worker: &str,
        lease: Duration,
        limit: usize,
        unless_paused: bool,
    ) -> Result<Vec<Job>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = timefmt::now();
        let until = timefmt::now_plus(lease);
        let client = self.client("claim").await?;
        // One statement. Each branch walks its own index in order, locking
        // up to `limit` rows and skipping rows another claimer has locked:
        // due jobs (pending/retrying) by run order (`run_at <= now` is the
        // range of `jobs_due` itself, so the walk stops at the first job
        // not yet due), and running jobs whose
        // lease ran out. The `limit` first of both, in run order, are taken;
        // rows locked but not taken are released at commit, a moment later.
        // The limit is written into the statement so that the plan is made
        // for it: a generic plan for `LIMIT $n` expects thousands of rows
        // and scans the table. The kill switch, when asked, is a condition
        // of both branches that PostgreSQL evaluates once (a one-time
        // filter): paused, no row is even locked.
        let limit = limit.min(MAX_CLAIM);
        let running = if unless_paused {
            "AND NOT EXISTS (SELECT 1 FROM settings WHERE key = $4 AND value = 'true')"
        } else {
            ""
        };
        let sql = format!(
            "WITH due AS ( \
               SELECT id, run_at FROM jobs \
               WHERE state IN ('pending','retrying') AND run_at <= $1 {running} \
               ORDER BY run_at, id LIMIT {limit} \
               FOR UPDATE SKIP LOCKED), \
             expired AS ( \
               SELECT id, run_at FROM jobs \
               WHERE state = 'running' AND (lease_until IS NULL OR lease_until <= $1) {running} \
               ORDER BY lease_until LIMIT {limit} \
               FOR UPDATE SKIP LOCKED), \
             picked AS ( \
               SELECT id FROM (SELECT id, run_at FROM due \
                               UNION ALL SELECT id, run_at FROM expired) AS c \
               ORDER BY run_at, id LIMIT {limit}) \
             UPDATE jobs SET state = 'running', lease_owner = $2, lease_until = $3, \
               attempts = attempts + 1, updated_at = $1 \
             WHERE id = ANY(ARRAY(SELECT id FROM picked)) \
             RETURNING {JOB_COLUMNS}"
        );
        // Planned afresh at every claim, never from a cached statement: a
        // plan cached while the queue was small (a sort of every due job and
        // a scan of the whole table for the UPDATE) stays cached until the
        // table is analysed, which never happens with autovacuum off, and
        // then costs more with every job queued; under sustained ingest the
        // claim slowed to about a second and draining to a trickle. A fresh
        // plan sees the table's current size and walks `jobs_due` and the
        // primary key. The parameters' types are given, so the statement is
        // parsed, planned and run in one round trip (no describe first).
        let text = tokio_postgres::types::Type::TEXT;
        let mut params: Vec<(&(dyn ToSql + Sync), tokio_postgres::types::Type)> = vec![
            (&now, text.clone()),
            (&worker, text.clone()),
            (&until, text.clone()),
        ];
        if unless_paused {
            params.push((&SETTING_PAUSED, text));
        }
        let rows = client
            .query_typed(sql.as_str(), &params)
            .await
            .ctx("claiming jobs")?;
        let mut jobs = jobs_from_rows(&rows)?;
        jobs.sort_by(|a, b| {
            let run_at = |j: &Job| {
                j.next_run_at
                    .clone()
                    .unwrap_or_else(|| j.created_at.clone())
            };
            run_at(a).cmp(&run_at(b)).then_with(|| a.id.cmp(&b.id))
        });
        drop(client);
        if !jobs.is_empty() {
            self.look_after_jobs();
        }
        Ok(jobs)
    }

    /// Vacuums and analyses `jobs` in the background while jobs are being
    /// claimed, at most every [`JOB_UPKEEP_EVERY`], one store handle of
    /// the database at a time (an advisory lock; the others skip their
    /// turn), and only when the server's autovacuum is off. A role that
    /// does not own the table could not vacuum it: that is said once in
    /// the log and the table left alone (only the claims slow down).
    fn look_after_jobs(&self) {
        if !self.upkeep.take_turn() {
            return;
        }
        let pool = self.pool.clone();
        let upkeep = self.upkeep.clone();
        tokio::spawn(async move {
            // Marked done however the task ends (a runtime shut down with
            // it cancels it), so a later claim can take its turn.
            let _turn = UpkeepTurn(&upkeep);
            if let Err(e) = job_upkeep(&pool, &upkeep).await {
                tracing::warn!(error = %e, "could not vacuum the jobs table");
            }
        });
    }
}

/// An upkeep in progress; ends the turn when dropped.
struct UpkeepTurn<'a>(&'a JobUpkeep);

impl Drop for UpkeepTurn<'_> {
    fn drop(&mut self) {
        self.0.done();
    }
}

/// A pooled connection that holds the upkeep's session lock: dropped
/// before the unlock (the task cancelled mid-vacuum), it leaves the pool
/// and closes, which releases the lock, instead of going back to the pool
/// still holding it.
struct LockedConnection(Option<Object>);

impl LockedConnection {
    fn client(&self) -> &Object {
        self.0.as_ref().expect("held until released")
    }

    /// The lock is released: the connection may go back to the pool.
    fn released(mut self) {
        self.0.take();
    }
}

impl Drop for LockedConnection {
    fn drop(&mut self) {
        if let Some(object) = self.0.take() {
            drop(Object::take(object));
        }
    }
}

/// One upkeep of `jobs` (see [`PostgresStore::look_after_jobs`]).
async fn job_upkeep(pool: &Pool, upkeep: &JobUpkeep) -> Result<()> {
    let client = pool.get().await.map_err(|e| StoreError::Database {
        op: "vacuum jobs: connecting".into(),
        source: Box::new(e),
    })?;
    let left_alone = upkeep
        .left_alone
        .get_or_try_init(|| async {
            let row = client
                .query_one(
                    "SELECT current_setting('autovacuum') = 'on', \
                       pg_has_role((SELECT relowner FROM pg_class \
                                    WHERE oid = 'jobs'::regclass), 'MEMBER'), \
                       current_user::text",
                    &[],
                )
                .await
                .ctx("vacuum jobs: reading the autovacuum setting")?;
            let autovacuum: bool = row.try_get(0).ctx("vacuum jobs: reading")?;
            let owner: bool = row.try_get(1).ctx("vacuum jobs: reading")?;
            let user: String = row.try_get(2).ctx("vacuum jobs: reading")?;
            if !autovacuum && !owner {
                tracing::warn!(
                    role = %user,
                    "autovacuum is off on the database server and the role does not own rectify's \
                     jobs table, so nothing vacuums it and claims slow down as jobs are drained: \
                     turn autovacuum on, or vacuum the jobs table on a schedule"
                );
            }
            Ok::<_, StoreError>(autovacuum || !owner)
        })
        .await?;
    if *left_alone {
        return Ok(());
    }
    let locked: bool = client
        .query_one(
            "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))",
            &[&UPKEEP_LOCK],
        )
        .await
        .and_then(|row| row.try_get(0))
        .ctx("vacuum jobs: taking the upkeep lock")?;
    if !locked {
        return Ok(());
    }
    let held = LockedConnection(Some(client));
    // INDEX_CLEANUP ON: left to itself VACUUM skips the indexes when few
    // pages have dead rows, and the indexes' dead entries are what slow
    // the claim.
    let vacuumed = held
        .client()
        .batch_execute("VACUUM (ANALYZE, INDEX_CLEANUP ON) jobs")
        .await
        .ctx("vacuum jobs");
    let unlocked = held
        .client()
        .query_one(
            "SELECT pg_advisory_unlock($1, hashtext(current_schema()))",
            &[&UPKEEP_LOCK],
        )
        .await
        .ctx("vacuum jobs: releasing the upkeep lock");
    if unlocked.is_ok() {
        held.released();
    }
    vacuumed.and(unlocked.map(|_| ()))
}

// ---------------------------------------------------------------------------
// Rows

const JOB_COLUMNS: &str = "id, idempotency_key, event_id, rule_id, action, mode, \
    target::text, params::text, finding::text, control, notify::text, state, attempts, \
    created_at, updated_at, next_run_at, last_error, plan::text, outcome::text, approved_by";

fn job_from_row(row: &Row) -> Result<Job> {
    let op = "reading job row";
    RawJob {
        id: row.try_get(0).ctx(op)?,
        idempotency_key: row.try_get(1).ctx(op)?,
        event_id: row.try_get(2).ctx(op)?,
        rule_id: row.try_get(3).ctx(op)?,
        action: row.try_get(4).ctx(op)?,
        mode: row.try_get(5).ctx(op)?,
        target: row.try_get(6).ctx(op)?,
        params: row.try_get(7).ctx(op)?,
        finding: row.try_get(8).ctx(op)?,
        control: row.try_get(9).ctx(op)?,
        notify: row.try_get(10).ctx(op)?,
        state: row.try_get(11).ctx(op)?,
        attempts: row.try_get(12).ctx(op)?,
        created_at: row.try_get(13).ctx(op)?,
        updated_at: row.try_get(14).ctx(op)?,
        next_run_at: row.try_get(15).ctx(op)?,
        last_error: row.try_get(16).ctx(op)?,
        plan: row.try_get(17).ctx(op)?,
        outcome: row.try_get(18).ctx(op)?,
        approved_by: row.try_get(19).ctx(op)?,
    }
    .decode()
}

fn jobs_from_rows(rows: &[Row]) -> Result<Vec<Job>> {
    rows.iter().map(job_from_row).collect()
}

/// A finding's `Severity.Label` (its ASFF, else its event's first finding).
const SEVERITY: &str = "COALESCE(f.finding -> 'Severity' ->> 'Label', \
     e.body -> 'detail' -> 'findings' -> 0 -> 'Severity' ->> 'Label')";

const FINDING_COLUMNS: &str = "f.id, f.product_arn, f.account, f.region, f.control, \
    f.workflow_status, f.last_event_id, f.last_job_id, f.last_outcome, f.updated_at, \
    COALESCE(f.finding::text, (e.body -> 'detail' -> 'findings' -> 0)::text)";

fn finding_from_row(row: &Row) -> Result<FindingRow> {
    let op = "reading finding row";
    let id: String = row.try_get(0).ctx(op)?;
    let raw: Option<String> = row.try_get(10).ctx(op)?;
    Ok(FindingRow {
        finding: match raw {
            Some(raw) => from_json(&format!("finding {id}"), &raw)?,
            None => Value::Null,
        },
        id,
        product_arn: row.try_get(1).ctx(op)?,
        account: row.try_get(2).ctx(op)?,
        region: row.try_get(3).ctx(op)?,
        control: row.try_get(4).ctx(op)?,
        workflow_status: row.try_get(5).ctx(op)?,
        last_event_id: row.try_get(6).ctx(op)?,
        last_job_id: row.try_get(7).ctx(op)?,
        last_outcome: row.try_get(8).ctx(op)?,
        updated_at: row.try_get(9).ctx(op)?,
    })
}

const AUDIT_COLUMNS: &str = "seq, lane, time, kind, subject, data, prev_hash, hash";

fn audit_from_row(row: &Row) -> Result<(AuditRecord, String)> {
    let op = "reading audit record";
    let lane: i32 = row.try_get(1).ctx(op)?;
    Ok(audit_record(
        row.try_get(0).ctx(op)?,
        u32::try_from(lane).map_err(|_| StoreError::Decode {
            what: "an audit record".into(),
            reason: format!("negative lane {lane}"),
        })?,
        row.try_get(2).ctx(op)?,
        row.try_get(3).ctx(op)?,
        row.try_get(4).ctx(op)?,
        row.try_get(5).ctx(op)?,
        row.try_get(6).ctx(op)?,
        row.try_get(7).ctx(op)?,
    ))
}

// ---------------------------------------------------------------------------
// Statements used inside transactions (generic over client / transaction)

async fn query_jobs<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    op: &str,
) -> Result<Vec<Job>> {
    let stmt = c.prepare_cached(sql).await.ctx(op)?;
    let rows = c.query(&stmt, params).await.ctx(op)?;
    jobs_from_rows(&rows)
}

async fn job_by_id<C: GenericClient>(c: &C, id: &str) -> Result<Option<Job>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
    Ok(query_jobs(c, &sql, &[&id], &format!("reading job {id}"))
        .await?
        .pop())
}

async fn active_job_by_key<C: GenericClient>(c: &C, key: &str) -> Result<Option<Job>> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE idempotency_key = $1 \
         AND state IN ('pending','waiting-approval','running','retrying')"
    );
    Ok(
        query_jobs(c, &sql, &[&key], &format!("reading job with key {key}"))
            .await?
            .pop(),
    )
}

/// By exact id, else by a unique prefix of at least 8 characters.
async fn resolve_job<C: GenericClient>(c: &C, id: &str) -> Result<Option<Job>> {
    if let Some(job) = job_by_id(c, id).await? {
        return Ok(Some(job));
    }
    if id.chars().count() < 8 {
        return Err(StoreError::Invalid(format!(
            "job id {id:?} not found, and a prefix needs at least 8 characters"
        )));
    }
    // Every id starting with `id` sorts in [id, id + U+10FFFF) under "C".
    let upper = format!("{id}{}", char::MAX);
    let sql =
        format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id >= $1 AND id < $2 ORDER BY id LIMIT 2");
    let mut found = query_jobs(c, &sql, &[&id, &upper], "reading jobs by prefix").await?;
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(StoreError::Ambiguous { prefix: id.into() }),
    }
}

const INSERT_JOB: &str = "INSERT INTO jobs (id, idempotency_key, event_id, rule_id, action, \
    mode, target, params, finding, control, notify, state, attempts, created_at, updated_at, \
    next_run_at, last_error, plan, outcome, approved_by) \
    VALUES ($1, $2, $3, $4, $5, $6, $7::text::json, $8::text::json, $9::text::json, $10, \
    $11::text::json, $12, $13, $14, $15, $16, $17, $18::text::json, $19::text::json, $20) \
    ON CONFLICT DO NOTHING";

async fn enqueue_tx<C: GenericClient>(c: &C, new: NewJob) -> Result<Enqueued> {
    let NewJob {
        job,
        target,
        params,
        finding,
        notify,
        plan,
        outcome,
    } = new;
    if job.state.is_final() {
        // The unique index only covers live jobs; check by hand.
        if let Some(existing) = job_by_id(c, &job.id).await? {
            return Ok(Enqueued::Duplicate(existing));
        }
        if let Some(existing) = active_job_by_key(c, &job.idempotency_key).await? {
            return Ok(Enqueued::Duplicate(existing));
        }
    }
    let attempts = i64::from(job.attempts);
    let stmt = c
        .prepare_cached(INSERT_JOB)
        .await
        .ctx("preparing job insert")?;
    let inserted = c
        .execute(
            &stmt,
            &[
                &job.id,
                &job.idempotency_key,
                &job.event_id,
                &job.rule_id,
                &job.action,
                &job.mode.as_str(),
                &target,
                &params,
                &finding,
                &job.control,
                &notify,
                &job.state.as_str(),
                &attempts,
                &job.created_at,
                &job.updated_at,
                &job.next_run_at,
                &job.last_error,
                &plan,
                &outcome,
                &job.approved_by,
            ],
        )
        .await
        .ctx(&format!("storing job {}", job.id))?;
    if inserted == 1 {
        return Ok(Enqueued::Created(job));
    }
    if let Some(existing) = job_by_id(c, &job.id).await? {
        return Ok(Enqueued::Duplicate(existing));
    }
    if let Some(existing) = active_job_by_key(c, &job.idempotency_key).await? {
        return Ok(Enqueued::Duplicate(existing));
    }
    Err(StoreError::Conflict(format!(
        "job {} was not stored and no conflicting job was found",
        job.id
    )))
}

const INSERT_JOBS: &str = "INSERT INTO jobs (id, idempotency_key, event_id, rule_id, action, \
    mode, target, params, finding, control, notify, state, attempts, created_at, updated_at, \
    next_run_at, last_error, plan, outcome, approved_by) \
    SELECT id, idempotency_key, event_id, rule_id, action, mode, target::json, params::json, \
      finding::json, control, notify::json, state, attempts, created_at, updated_at, \
      next_run_at, last_error, plan::json, outcome::json, approved_by \
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
      $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[], \
      $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[]) \
      WITH ORDINALITY AS j(id, idempotency_key, event_id, rule_id, action, mode, target, \
      params, finding, control, notify, state, attempts, created_at, updated_at, next_run_at, \
      last_error, plan, outcome, approved_by, ord) \
    ORDER BY ord \
    ON CONFLICT DO NOTHING RETURNING id";

/// [`enqueue_tx`] for a batch in one statement: the rows go in in order, so
/// a key (or id) repeated inside the batch conflicts with its first
/// occurrence. Batches holding a job in a final state (which the unique
/// index does not cover) go job by job.
async fn enqueue_batch<C: GenericClient>(c: &C, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>> {
    if jobs.iter().any(|j| j.job.state.is_final()) {
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            out.push(enqueue_tx(c, job).await?);
        }
        return Ok(out);
    }
    let mut text: [Vec<String>; 8] = Default::default();
    let mut opt: [Vec<Option<String>>; 7] = Default::default();
    let mut json: [Vec<String>; 3] = Default::default();
    let mut states = Vec::with_capacity(jobs.len());
    let mut attempts = Vec::with_capacity(jobs.len());
    let mut new_jobs = Vec::with_capacity(jobs.len());
    for new in jobs {
        let job = &new.job;
        for (col, v) in text.iter_mut().zip([
            &job.id,
            &job.idempotency_key,
            &job.event_id,
            &job.rule_id,
            &job.action,
            &job.mode.as_str().to_owned(),
            &job.created_at,
            &job.updated_at,
        ]) {
            col.push(v.clone());
        }
        for (col, v) in json.iter_mut().zip([new.target, new.params, new.notify]) {
            col.push(v);
        }
        for (col, v) in opt.iter_mut().zip([
            new.finding,
            job.control.clone(),
            job.next_run_at.clone(),
            job.last_error.clone(),
            new.plan,
            new.outcome,
            job.approved_by.clone(),
        ]) {
            col.push(v);
        }
        states.push(job.state.as_str());
        attempts.push(i64::from(job.attempts));
        new_jobs.push(new.job);
    }
    let jobs = new_jobs;
    let [ids, keys, event_ids, rule_ids, actions, modes, created, updated] = &text;
    let [targets, params, notifies] = &json;
    let [findings, controls, next_run, last_error, plans, outcomes, approved] = &opt;
    let stmt = c
        .prepare_cached(INSERT_JOBS)
        .await
        .ctx("preparing job batch insert")?;
    let rows = c
        .query(
            &stmt,
            &[
                ids, keys, event_ids, rule_ids, actions, modes, targets, params, findings,
                controls, notifies, &states, &attempts, created, updated, next_run, last_error,
                plans, outcomes, approved,
            ],
        )
        .await
        .ctx(&format!("storing {} jobs", jobs.len()))?;
    let inserted: HashSet<String> = rows
        .iter()
        .map(|r| r.try_get::<_, String>(0))
        .collect::<std::result::Result<_, _>>()
        .ctx("reading stored job ids")?;
    let mut created_ids = HashSet::new();
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        if inserted.contains(&job.id) && created_ids.insert(job.id.clone()) {
            out.push(Enqueued::Created(job));
            continue;
        }
        if let Some(existing) = job_by_id(c, &job.id).await? {
            out.push(Enqueued::Duplicate(existing));
            continue;
        }
        if let Some(existing) = active_job_by_key(c, &job.idempotency_key).await? {
            out.push(Enqueued::Duplicate(existing));
            continue;
        }
        return Err(StoreError::Conflict(format!(
            "job {} was not stored and no conflicting job was found",
            job.id
        )));
    }
    Ok(out)
}

/// Inserts event rows in one statement; per-row "new" flags in order. A
/// repeated id inside the batch is new only the first time: only first
/// occurrences are sent.
async fn insert_events<C: GenericClient>(c: &C, rows: &[EventRow], now: &str) -> Result<Vec<bool>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen = HashSet::new();
    let mut first = Vec::with_capacity(rows.len());
    let mut cols: [Vec<&str>; 9] = Default::default();
    for row in rows {
        let is_first = seen.insert(row.id.as_str());
        first.push(is_first);
        if !is_first {
            continue;
        }
        let values = [
            &row.id,
            &row.source,
            &row.detail_type,
            &row.account,
            &row.region,
            &row.time,
            &row.resources,
            &*row.body,
            &row.origin,
        ];
        for (col, value) in cols.iter_mut().zip(values) {
            col.push(value);
        }
    }
    let stmt = c
        .prepare_cached(
            "INSERT INTO events \
             (id, source, detail_type, account, region, time, resources, body, origin, \
              received_at) \
             SELECT id, source, detail_type, account, region, time, resources::jsonb, \
                    body::jsonb, origin, $10 \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                         $6::text[], $7::text[], $8::text[], $9::text[]) \
               AS e(id, source, detail_type, account, region, time, resources, body, origin) \
             ON CONFLICT (id) DO NOTHING RETURNING id",
        )
        .await
        .ctx("preparing event insert")?;
    let stored = c
        .query(
            &stmt,
            &[
                &cols[0], &cols[1], &cols[2], &cols[3], &cols[4], &cols[5], &cols[6], &cols[7],
                &cols[8], &now,
            ],
        )
        .await
        .ctx(&format!("storing {} events", cols[0].len()))?;
    let inserted: HashSet<String> = stored
        .iter()
        .map(|r| r.try_get::<_, String>(0))
        .collect::<std::result::Result<_, _>>()
        .ctx("reading stored event ids")?;
    Ok(rows
        .iter()
        .zip(first)
        .map(|(row, first)| first && inserted.contains(&row.id))
        .collect())
}

/// Upserts findings in order, pipelined on one connection (one round trip
/// of latency for the batch, not one per finding).
async fn upsert_findings_tx<C: GenericClient>(
    c: &C,
    rows: &[FindingUpsert],
    now: &str,
) -> Result<()> {
    futures_util::future::try_join_all(rows.iter().map(|row| upsert_finding_tx(c, row, now)))
        .await?;
    Ok(())
}

const UPSERT_FINDING: &str = "INSERT INTO findings \
    (id, product_arn, account, region, control, workflow_status, asff_updated_at, \
     last_event_id, updated_at, finding) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::json) \
    ON CONFLICT (id, product_arn) DO UPDATE SET \
      account = excluded.account, region = excluded.region, control = excluded.control, \
      workflow_status = excluded.workflow_status, asff_updated_at = excluded.asff_updated_at, \
      last_event_id = excluded.last_event_id, updated_at = excluded.updated_at, \
      finding = excluded.finding \
    WHERE excluded.asff_updated_at IS NULL OR findings.asff_updated_at IS NULL \
      OR excluded.asff_updated_at >= findings.asff_updated_at";

async fn upsert_finding_tx<C: GenericClient>(c: &C, row: &FindingUpsert, now: &str) -> Result<()> {
    let fields = &row.fields;
    let stmt = c
        .prepare_cached(UPSERT_FINDING)
        .await
        .ctx("preparing finding upsert")?;
    c.execute(
        &stmt,
        &[
            &fields.id,
            &fields.product_arn,
            &fields.account,
            &fields.region,
            &fields.control,
            &fields.workflow_status,
            &fields.asff_updated_at,
            &row.event_id,
            &now,
            &row.raw,
        ],
    )
    .await
    .ctx(&format!("storing finding {}", fields.id))?;
    Ok(())
}

/// Appends records, each to the lane of its subject, and moves those
/// lanes' heads, in the caller's transaction (which commits). The heads of
/// the lanes written are locked (`SELECT ... FOR UPDATE`, in lane order so
/// that two appenders never wait for each other in a cycle) until the
/// transaction ends: appenders on other lanes go on meanwhile. Seqs come
/// from one sequence after the lock, so they grow within every lane.
async fn append_audit_tx<C: GenericClient>(
    key: Option<&AuditKey>,
    c: &C,
    entries: &[(&str, &str, &Value)],
) -> Result<Vec<AuditRecord>> {
    append_audit_in_lanes(key, c, entries, Lanes::BySubject).await
}

/// Where the records of one append go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lanes {
    /// Each to the lane of its subject.
    BySubject,
    /// All to the lane of the first one's subject: one lane locked, for
    /// records that have no order to keep with later ones (one ingest
    /// record per submission of a group commit).
    OfFirst,
}

async fn append_audit_in_lanes<C: GenericClient>(
    key: Option<&AuditKey>,
    c: &C,
    entries: &[(&str, &str, &Value)],
    choice: Lanes,
) -> Result<Vec<AuditRecord>> {
    let Some((_, first, _)) = entries.first() else {
        return Ok(Vec::new());
    };
    let first_lane = crate::audit::lane_of(first, PG_AUDIT_LANES);
    let lanes: Vec<u32> = entries
        .iter()
        .map(|(_, subject, _)| match choice {
            Lanes::BySubject => crate::audit::lane_of(subject, PG_AUDIT_LANES),
            Lanes::OfFirst => first_lane,
        })
        .collect();
    let mut wanted: Vec<i32> = lanes.iter().map(|&l| l as i32).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let lock = c
        .prepare_cached(
            "SELECT lane, seq, hash FROM audit_lanes WHERE lane = ANY($1) \
             ORDER BY lane FOR UPDATE",
        )
        .await
        .ctx("preparing audit lane lock")?;
    let next = c
        .prepare_cached("SELECT nextval('audit_seq') FROM generate_series(1, $1::int)")
        .await
        .ctx("preparing audit seq")?;
    let insert = c
        .prepare_cached(
            "INSERT INTO audit_log (seq, lane, time, kind, subject, data, prev_hash, hash) \
             SELECT * FROM UNNEST($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::text[])",
        )
        .await
        .ctx("preparing audit insert")?;
    let update = c
        .prepare_cached(
            "UPDATE audit_lanes AS l SET seq = v.seq, hash = v.hash \
             FROM UNNEST($1::int[], $2::bigint[], $3::text[]) AS v(lane, seq, hash) \
             WHERE l.lane = v.lane",
        )
        .await
        .ctx("preparing audit head update")?;
    // The lock and the seqs in one round trip (pipelined: the server runs
    // them in order, so the seqs are still taken under the lock), as the
    // lanes stay locked until the transaction ends.
    let count = entries.len() as i32;
    let (rows, seq_rows) = futures_util::future::try_join(
        async {
            c.query(&lock, &[&wanted])
                .await
                .ctx("locking the audit lane heads")
        },
        async { c.query(&next, &[&count]).await.ctx("taking audit seqs") },
    )
    .await?;
    let mut heads: BTreeMap<u32, (i64, String)> = BTreeMap::new();
    for row in &rows {
        let lane: i32 = row.try_get(0).ctx("reading an audit lane head")?;
        heads.insert(
            lane as u32,
            (
                row.try_get(1).ctx("reading an audit lane head")?,
                row.try_get(2).ctx("reading an audit lane head")?,
            ),
        );
    }
    if heads.len() != wanted.len() {
        return Err(StoreError::Decode {
            what: "the audit lane heads".into(),
            reason: format!(
                "{} of the lanes {wanted:?} have no row in audit_lanes",
                wanted.len() - heads.len()
            ),
        });
    }
    let mut seqs: Vec<i64> = seq_rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()
        .ctx("reading audit seqs")?;
    seqs.sort_unstable();
    let mut out = Vec::with_capacity(entries.len());
    let mut canonicals = Vec::with_capacity(entries.len());
    for (((kind, subject, data), lane), seq) in entries.iter().zip(&lanes).zip(seqs) {
        let head = heads.get_mut(lane).expect("every lane written was locked");
        let (record, canonical) = new_record(
            key,
            *lane,
            seq,
            std::mem::take(&mut head.1),
            kind,
            subject,
            (*data).clone(),
        );
        *head = (record.seq, record.hash.clone());
        canonicals.push(canonical);
        out.push(record);
    }
    // One statement for the whole batch, and the heads' move with it in
    // one round trip: the lanes are locked while this runs, so every round
    // trip saved is throughput for all replicas.
    let seqs: Vec<i64> = out.iter().map(|r| r.seq).collect();
    let record_lanes: Vec<i32> = out.iter().map(|r| r.lane as i32).collect();
    let times: Vec<&str> = out.iter().map(|r| r.time.as_str()).collect();
    let kinds: Vec<&str> = out.iter().map(|r| r.kind.as_str()).collect();
    let subjects: Vec<&str> = out.iter().map(|r| r.subject.as_str()).collect();
    let datas: Vec<&str> = canonicals.iter().map(String::as_str).collect();
    let prevs: Vec<&str> = out.iter().map(|r| r.prev_hash.as_str()).collect();
    let hashes: Vec<&str> = out.iter().map(|r| r.hash.as_str()).collect();
    let last = seqs.last().copied().unwrap_or(0);
    let head_lanes: Vec<i32> = heads.keys().map(|&l| l as i32).collect();
    let head_seqs: Vec<i64> = heads.values().map(|h| h.0).collect();
    let head_hashes: Vec<&str> = heads.values().map(|h| h.1.as_str()).collect();
    let what = format!("appending audit records up to {last}");
    futures_util::future::try_join(
        async {
            c.execute(
                &insert,
                &[
                    &seqs,
                    &record_lanes,
                    &times,
                    &kinds,
                    &subjects,
                    &datas,
                    &prevs,
                    &hashes,
                ],
            )
            .await
            .ctx(&what)
        },
        async {
            c.execute(&update, &[&head_lanes, &head_seqs, &head_hashes])
                .await
                .ctx("moving the audit lane heads")
        },
    )
    .await?;
    Ok(out)
}

/// [`append_audit_tx`] of one record.
async fn append_one_audit_tx<C: GenericClient>(
    key: Option<&AuditKey>,
    c: &C,
    kind: &str,
    subject: &str,
    data: &Value,
) -> Result<AuditRecord> {
    append_audit_tx(key, c, &[(kind, subject, data)])
        .await?
        .pop()
        .ok_or_else(|| StoreError::Invalid("no audit record written".into()))
}

/// Every lane's head, by lane.
async fn lane_heads<C: GenericClient>(c: &C) -> Result<Vec<LaneHead>> {
    let rows = c
        .query("SELECT lane, seq, hash FROM audit_lanes ORDER BY lane", &[])
        .await
        .ctx("reading the audit lane heads")?;
    rows.iter()
        .map(|r| {
            let lane: i32 = r.try_get(0).ctx("reading an audit lane head")?;
            Ok(LaneHead {
                lane: lane as u32,
                seq: r.try_get(1).ctx("reading an audit lane head")?,
                hash: r.try_get(2).ctx("reading an audit lane head")?,
            })
        })
        .collect()
}

/// The body of [`Store::write_jobs`], in the caller's transaction: a few
/// statements for the whole batch, whatever its size. Row locks are taken
/// first (the applying jobs' rows, the saved jobs' and findings' rows),
/// the audit lane heads last, so the lanes stay locked only for the
/// append itself and the applying marks.
async fn write_jobs_tx<C: GenericClient>(
    key: Option<&AuditKey>,
    c: &C,
    writes: &[JobWrite],
) -> Result<Vec<bool>> {
    let mut out = vec![true; writes.len()];
    // The applying jobs still held by their workers, locked.
    let mut applying_ids = Vec::new();
    let mut applying_workers = Vec::new();
    for w in writes {
        if let JobWrite::Applying { job_id, worker, .. } = w {
            applying_ids.push(job_id.as_str());
            applying_workers.push(worker.as_str());
        }
    }
    let held: HashSet<String> = if applying_ids.is_empty() {
        HashSet::new()
    } else {
        // By id alone, so that the rows are found through the primary key:
        // with `state = 'running'` in the statement PostgreSQL may walk
        // the running jobs' partial index instead, which holds an entry
        // for every job that ever ran until a vacuum. Whose lease it is
        // is compared here.
        let stmt = c
            .prepare_cached(
                "SELECT id, state, lease_owner FROM jobs WHERE id = ANY($1::text[]) \
                 ORDER BY id FOR UPDATE",
            )
            .await
            .ctx("preparing the batch lease check")?;
        let rows = c
            .query(&stmt, &[&applying_ids])
            .await
            .ctx("checking the leases of applying jobs")?;
        let asked: HashSet<(&str, &str)> = applying_ids
            .iter()
            .copied()
            .zip(applying_workers.iter().copied())
            .collect();
        let mut held = HashSet::new();
        for row in &rows {
            let (id, state, owner): (String, String, Option<String>) = (
                row.try_get(0).ctx("reading the leases of applying jobs")?,
                row.try_get(1).ctx("reading the leases of applying jobs")?,
                row.try_get(2).ctx("reading the leases of applying jobs")?,
            );
            let asked_by_owner = owner
                .as_deref()
                .is_some_and(|owner| asked.contains(&(id.as_str(), owner)));
            if state == "running" && asked_by_owner {
                held.insert(id);
            }
        }
        held
    };
    // The jobs' final states, in id order.
    // (index in `writes`, the job normalised, its worker, plan, outcome)
    type Save<'a> = (usize, Job, Option<&'a str>, Option<String>, Option<String>);
    let mut saves: Vec<Save> = Vec::new();
    for (i, w) in writes.iter().enumerate() {
        if let JobWrite::Save(JobSave {
            job: Some((job, worker)),
            ..
        }) = w
        {
            let job = normalized(job)?;
            let what = |f: &str| format!("job {} {f}", job.id);
            let plan = opt_json(&what("plan"), &job.plan)?;
            let outcome = opt_json(&what("outcome"), &job.outcome)?;
            saves.push((i, job, worker.as_deref(), plan, outcome));
        }
    }
    if !saves.is_empty() {
        saves.sort_by(|a, b| a.1.id.cmp(&b.1.id));
        let stmt = c
            .prepare_cached(
                "UPDATE jobs AS j SET state = v.state, attempts = v.attempts, \
                 next_run_at = v.next_run_at, last_error = v.last_error, \
                 plan = v.plan::json, outcome = v.outcome::json, updated_at = v.updated_at, \
                 lease_owner = CASE WHEN v.state = 'running' THEN j.lease_owner END, \
                 lease_until = CASE WHEN v.state = 'running' THEN j.lease_until END, \
                 approved_by = CASE WHEN v.state = 'waiting-approval' THEN NULL \
                   ELSE j.approved_by END \
                 FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], \
                   $6::text[], $7::text[], $8::text[], $9::text[]) \
                   AS v(id, state, attempts, next_run_at, last_error, plan, outcome, \
                   updated_at, worker) \
                 WHERE j.id = v.id \
                   AND (v.worker IS NULL OR (j.lease_owner = v.worker AND j.state = 'running')) \
                 RETURNING j.id",
            )
            .await
            .ctx("preparing the batch job save")?;
        let ids: Vec<&str> = saves.iter().map(|s| s.1.id.as_str()).collect();
        let states: Vec<&str> = saves.iter().map(|s| s.1.state.as_str()).collect();
        let attempts: Vec<i64> = saves.iter().map(|s| i64::from(s.1.attempts)).collect();
        let next: Vec<Option<&str>> = saves.iter().map(|s| s.1.next_run_at.as_deref()).collect();
        let errors: Vec<Option<&str>> = saves.iter().map(|s| s.1.last_error.as_deref()).collect();
        let plans: Vec<Option<&str>> = saves.iter().map(|s| s.3.as_deref()).collect();
        let outcomes: Vec<Option<&str>> = saves.iter().map(|s| s.4.as_deref()).collect();
        let updated: Vec<&str> = saves.iter().map(|s| s.1.updated_at.as_str()).collect();
        let workers: Vec<Option<&str>> = saves.iter().map(|s| s.2).collect();
        let saved: HashSet<String> = c
            .query(
                &stmt,
                &[
                    &ids, &states, &attempts, &next, &errors, &plans, &outcomes, &updated, &workers,
                ],
            )
            .await
            .ctx("saving a batch of jobs")?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()
            .ctx("reading the saved jobs")?;
        for (i, job, worker, _, _) in &saves {
            let ok = saved.contains(&job.id);
            if !ok && worker.is_none() {
                return Err(StoreError::NotFound(format!("job {}", job.id)));
            }
            out[*i] = ok;
        }
    }
    // The findings' outcomes: the last one of a finding wins, as one call
    // after the other would leave it.
    let mut outcomes: BTreeMap<(&str, &str), &FindingOutcome> = BTreeMap::new();
    for w in writes {
        if let JobWrite::Save(JobSave {
            finding: Some(f), ..
        }) = w
        {
            outcomes.insert((f.finding.id.as_str(), f.finding.product_arn.as_str()), f);
        }
    }
    if !outcomes.is_empty() {
        let stmt = c
            .prepare_cached(
                "UPDATE findings AS f SET last_job_id = v.job_id, last_outcome = v.outcome, \
                 workflow_status = COALESCE(v.status, f.workflow_status), updated_at = $6 \
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) \
                   AS v(id, product_arn, job_id, outcome, status) \
                 WHERE f.id = v.id AND f.product_arn = v.product_arn",
            )
            .await
            .ctx("preparing the batch finding outcome update")?;
        let ids: Vec<&str> = outcomes.keys().map(|k| k.0).collect();
        let arns: Vec<&str> = outcomes.keys().map(|k| k.1).collect();
        let jobs: Vec<&str> = outcomes.values().map(|f| f.job_id.as_str()).collect();
        let kinds: Vec<&str> = outcomes.values().map(|f| f.outcome.as_str()).collect();
        let statuses: Vec<Option<&str>> = outcomes
            .values()
            .map(|f| f.workflow_status.as_deref())
            .collect();
        c.execute(
            &stmt,
            &[&ids, &arns, &jobs, &kinds, &statuses, &timefmt::now()],
        )
        .await
        .ctx("recording the outcomes of a batch of findings")?;
    }
    // Every record of the batch in one append: the applying ones only for
    // jobs still held.
    let mut entries: Vec<(&str, &str, &Value)> = Vec::new();
    let mut marks: Vec<(&str, String, Option<usize>)> = Vec::new();
    for w in writes {
        let records = match w {
            JobWrite::Applying {
                job_id,
                plan,
                records,
                ..
            } => {
                if !held.contains(job_id) {
                    continue;
                }
                let plan = crate::common::to_json(&format!("job {job_id} plan"), plan)?;
                let last = (entries.len() + records.len()).checked_sub(1);
                marks.push((job_id.as_str(), plan, last.filter(|_| !records.is_empty())));
                records
            }
            JobWrite::Save(save) => &save.records,
        };
        entries.extend(records.iter().map(|(k, s, d)| (k.as_str(), s.as_str(), d)));
    }
    let written = append_audit_tx(key, c, &entries).await?;
    if !marks.is_empty() {
        let stmt = c
            .prepare_cached(
                "UPDATE jobs AS j SET plan = v.plan::json, applying_seq = v.seq \
                 FROM UNNEST($1::text[], $2::text[], $3::bigint[]) AS v(id, plan, seq) \
                 WHERE j.id = v.id",
            )
            .await
            .ctx("preparing the batch applying mark")?;
        let ids: Vec<&str> = marks.iter().map(|m| m.0).collect();
        let plans: Vec<&str> = marks.iter().map(|m| m.1.as_str()).collect();
        // The seq of each job's last record (its `job.applying` record);
        // none for a job that wrote no record.
        let seqs: Vec<Option<i64>> = marks
            .iter()
            .map(|m| m.2.and_then(|i| written.get(i)).map(|r| r.seq))
            .collect();
        c.execute(&stmt, &[&ids, &plans, &seqs])
            .await
            .ctx("marking a batch of jobs as applying")?;
    }
    for (i, w) in writes.iter().enumerate() {
        if let JobWrite::Applying { job_id, .. } = w {
            out[i] = held.contains(job_id);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------

#[async_trait]
impl Store for PostgresStore {
    async fn record_event(&self, event: &Event, origin: &str) -> Result<bool> {
        let flags = self
            .record_events(&[(event.clone(), origin.to_owned())])
            .await?;
        Ok(flags.first().copied().unwrap_or(false))
    }

    async fn record_events(&self, events: &[(Event, String)]) -> Result<Vec<bool>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let rows = event_rows(events)?;
        let client = self.client("record_events").await?;
        insert_events(&client, &rows, &timefmt::now()).await
    }

    async fn ingest(&self, batch: IngestBatch) -> Result<Ingested> {
        let IngestBatch {
            events,
            findings,
            jobs,
            audit,
        } = batch;
        let mut client = self.client("ingest").await?;
        let tx = client.transaction().await.ctx("ingest: begin")?;
        let now = timefmt::now();
        let fresh = insert_events(&tx, &events, &now).await?;
        upsert_findings_tx(&tx, &findings, &now).await?;
        let jobs = enqueue_batch(&tx, jobs).await?;
        let entries = audit(&fresh, &jobs);
        // The lane heads are locked last, so that appenders wait for each
        // other only while the audit rows go in.
        let refs: Vec<(&str, &str, &Value)> = entries
            .iter()
            .map(|(k, s, d)| (k.as_str(), s.as_str(), d))
            .collect();
        // A group commit holds one submission's record each: locking
        // every lane they hash to would hold up most job appends until
        // this commits.
        let audit =
            append_audit_in_lanes(self.audit_key.as_ref(), &tx, &refs, Lanes::OfFirst).await?;
        tx.commit().await.ctx("ingest: commit")?;
        Ok(Ingested { fresh, jobs, audit })
    }

    async fn upsert_finding(&self, event_id: &str, finding: &Value) -> Result<()> {
        let row = FindingUpsert::new(event_id, finding)?;
        let client = self.client("upsert_finding").await?;
        upsert_finding_tx(&client, &row, &timefmt::now()).await
    }

    async fn upsert_findings(&self, findings: &[(String, Value)]) -> Result<()> {
        if findings.is_empty() {
            return Ok(());
        }
        let rows = finding_rows(findings)?;
        let mut client = self.client("upsert_findings").await?;
        let tx = client.transaction().await.ctx("upsert_findings: begin")?;
        upsert_findings_tx(&tx, &rows, &timefmt::now()).await?;
        tx.commit().await.ctx("upsert_findings: commit")
    }

    async fn set_finding_outcome(
        &self,
        finding: &FindingRef,
        job_id: &str,
        outcome: &str,
        workflow_status: Option<&str>,
    ) -> Result<()> {
        let client = self.client("set_finding_outcome").await?;
        let stmt = client
            .prepare_cached(
                "UPDATE findings SET last_job_id = $3, last_outcome = $4, \
                 workflow_status = COALESCE($5, workflow_status), updated_at = $6 \
                 WHERE id = $1 AND product_arn = $2",
            )
            .await
            .ctx("preparing finding outcome update")?;
        let n = client
            .execute(
                &stmt,
                &[
                    &finding.id,
                    &finding.product_arn,
                    &job_id,
                    &outcome,
                    &workflow_status,
                    &timefmt::now(),
                ],
            )
            .await
            .ctx(&format!("recording the outcome of finding {}", finding.id))?;
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "finding {} ({})",
                finding.id, finding.product_arn
            )));
        }
        Ok(())
    }

    async fn list_findings(
        &self,
        limit: usize,
        after: Option<&FindingCursor>,
    ) -> Result<Vec<FindingRow>> {
        let client = self.client("list_findings").await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {FINDING_COLUMNS} FROM findings f \
                 LEFT JOIN events e ON e.id = f.last_event_id \
                 WHERE $2::text IS NULL OR f.updated_at < $2::text \
                   OR (f.updated_at = $2::text AND (f.id > $3::text \
                       OR (f.id = $3::text AND f.product_arn > $4::text))) \
                 ORDER BY f.updated_at DESC, f.id, f.product_arn LIMIT $1"
            ))
            .await
            .ctx("preparing findings listing")?;
        let (updated_at, id, product_arn) = match after {
            Some(c) => (
                Some(c.updated_at.as_str()),
                Some(c.id.as_str()),
                Some(c.product_arn.as_str()),
            ),
            None => (None, None, None),
        };
        let rows = client
            .query(&stmt, &[&limit_sql(limit), &updated_at, &id, &product_arn])
            .await
            .ctx("listing findings")?;
        rows.iter().map(finding_from_row).collect()
    }

    async fn find_findings(&self, filter: &FindingFilter) -> Result<Vec<FindingRow>> {
        let client = self.client("find_findings").await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {FINDING_COLUMNS} FROM findings f \
                 LEFT JOIN events e ON e.id = f.last_event_id \
                 WHERE ($2::text IS NULL OR f.updated_at < $2::text \
                   OR (f.updated_at = $2::text AND (f.id > $3::text \
                       OR (f.id = $3::text AND f.product_arn > $4::text)))) \
                   AND ($5::text IS NULL OR f.account = $5::text) \
                   AND ($6::text IS NULL OR f.control = $6::text) \
                   AND ($7::text IS NULL OR f.workflow_status = $7::text) \
                   AND ($8::text IS NULL OR f.id = $8::text) \
                   AND ($9::text IS NULL OR upper({SEVERITY}) = upper($9::text)) \
                   AND ($10::text IS NULL OR EXISTS (SELECT 1 FROM jobs j \
                        WHERE j.rule_id = $10::text AND j.finding->>'Id' = f.id)) \
                 ORDER BY f.updated_at DESC, f.id, f.product_arn LIMIT $1"
            ))
            .await
            .ctx("preparing findings search")?;
        let after = filter.after.as_ref();
        let rows = client
            .query(
                &stmt,
                &[
                    &limit_sql(filter.limit),
                    &after.map(|c| c.updated_at.as_str()),
                    &after.map(|c| c.id.as_str()),
                    &after.map(|c| c.product_arn.as_str()),
                    &filter.account,
                    &filter.control,
                    &filter.workflow_status,
                    &filter.id,
                    &filter.severity,
                    &filter.rule_id,
                ],
            )
            .await
            .ctx("searching findings")?;
        rows.iter().map(finding_from_row).collect()
    }

    async fn finding_counts(&self) -> Result<Vec<FindingCount>> {
        let client = self.client("finding_counts").await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT f.account, f.control, upper({SEVERITY}), f.workflow_status, COUNT(*) \
                 FROM findings f LEFT JOIN events e ON e.id = f.last_event_id \
                 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
            ))
            .await
            .ctx("preparing finding counts")?;
        let op = "counting findings";
        let mut out = Vec::new();
        for row in client.query(&stmt, &[]).await.ctx(op)? {
            let n: i64 = row.try_get(4).ctx(op)?;
            out.push(FindingCount {
                account: row.try_get(0).ctx(op)?,
                control: row.try_get(1).ctx(op)?,
                severity: row.try_get(2).ctx(op)?,
                workflow_status: row.try_get(3).ctx(op)?,
                findings: u64::try_from(n).unwrap_or(0),
            });
        }
        Ok(out)
    }

    async fn finding_spans(&self) -> Result<Vec<FindingSpan>> {
        let client = self.client("finding_spans").await?;
        let sql = crate::common::finding_spans_sql(
            |name| {
                format!(
                    "COALESCE(f.finding ->> '{name}', e.body -> 'detail' -> 'findings' -> 0 ->> '{name}')"
                )
            },
            SEVERITY,
            "findings f LEFT JOIN events e ON e.id = f.last_event_id",
        );
        let stmt = client
            .prepare_cached(&sql)
            .await
            .ctx("preparing finding spans")?;
        let op = "counting finding spans";
        let mut out = Vec::new();
        for row in client.query(&stmt, &[]).await.ctx(op)? {
            let n: i64 = row.try_get(5).ctx(op)?;
            out.push(FindingSpan {
                account: row.try_get(0).ctx(op)?,
                control: row.try_get(1).ctx(op)?,
                severity: row.try_get(2).ctx(op)?,
                opened: row.try_get(3).ctx(op)?,
                closed: row.try_get(4).ctx(op)?,
                findings: u64::try_from(n).unwrap_or(0),
            });
        }
        Ok(out)
    }

    async fn fixes_by_day(&self, from: &str, to: &str) -> Result<Vec<FixCount>> {
        let client = self.client("fixes_by_day").await?;
        let sql = crate::common::fixes_sql(
            "(outcome->>'kind')",
            "COALESCE(target->>'account', '')",
            "(finding->>'Severity')",
            "$1::text",
            "$2::text",
        );
        let stmt = client
            .prepare_cached(&sql)
            .await
            .ctx("preparing the fixes by day")?;
        let op = "counting fixes by day";
        let mut out = Vec::new();
        for row in client.query(&stmt, &[&from, &to]).await.ctx(op)? {
            let n: i64 = row.try_get(4).ctx(op)?;
            out.push(FixCount {
                day: row.try_get(0).ctx(op)?,
                account: row.try_get(1).ctx(op)?,
                control: row.try_get(2).ctx(op)?,
                severity: row.try_get(3).ctx(op)?,
                jobs: u64::try_from(n).unwrap_or(0),
            });
        }
        Ok(out)
    }

    async fn enqueue(&self, job: &Job) -> Result<Enqueued> {
        let job = NewJob::new(job.clone())?;
        let mut client = self.client("enqueue").await?;
        let tx = client.transaction().await.ctx("enqueue: begin")?;
        let out = enqueue_tx(&tx, job).await?;
        tx.commit().await.ctx("enqueue: commit")?;
        Ok(out)
    }

    async fn enqueue_many(&self, jobs: &[Job]) -> Result<Vec<Enqueued>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let jobs = jobs
            .iter()
            .map(|job| NewJob::new(job.clone()))
            .collect::<Result<Vec<_>>>()?;
        let mut client = self.client("enqueue_many").await?;
        let tx = client.transaction().await.ctx("enqueue_many: begin")?;
        let out = enqueue_batch(&tx, jobs).await?;
        tx.commit().await.ctx("enqueue_many: commit")?;
        Ok(out)
    }

    async fn claim(&self, worker: &str, lease: Duration, limit: usize) -> Result<Vec<Job>> {
        self.claim_jobs(worker, lease, limit, false).await
    }

    async fn claim_unpaused(
        &self,
        worker: &str,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>> {
        self.claim_jobs(worker, lease, limit, true).await
    }

    async fn renew(&self, job_id: &str, worker: &str, lease: Duration) -> Result<bool> {
        let client = self.client("renew").await?;
        let stmt = client
            .prepare_cached(
                "UPDATE jobs SET lease_until = $3 \
                 WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
            )
            .await
            .ctx("preparing lease renewal")?;
        let n = client
            .execute(&stmt, &[&job_id, &worker, &timefmt::now_plus(lease)])
            .await
            .ctx(&format!("renewing the lease of job {job_id}"))?;
        Ok(n == 1)
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
        let client = self.client("renew_many").await?;
        let stmt = client
            .prepare_cached(
                "UPDATE jobs SET lease_until = $3 \
                 WHERE id = ANY($1) AND lease_owner = $2 AND state = 'running' \
                 RETURNING id",
            )
            .await
            .ctx("preparing lease renewals")?;
        let rows = client
            .query(&stmt, &[&job_ids, &worker, &timefmt::now_plus(lease)])
            .await
            .ctx(&format!("renewing the leases of {} jobs", job_ids.len()))?;
        rows.iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<Vec<String>, _>>()
            .ctx("reading renewed leases")
    }

    async fn save_job(&self, job: &Job, worker: Option<&str>) -> Result<bool> {
        let job = normalized(job)?;
        let what = |f: &str| format!("job {} {f}", job.id);
        let plan = opt_json(&what("plan"), &job.plan)?;
        let outcome = opt_json(&what("outcome"), &job.outcome)?;
        let attempts = i64::from(job.attempts);
        let client = self.client("save_job").await?;
        let stmt = client
            .prepare_cached(
                "UPDATE jobs SET state = $2::text, attempts = $3, next_run_at = $4, \
                 last_error = $5, plan = $6::text::json, outcome = $7::text::json, \
                 updated_at = $8, \
                 lease_owner = CASE WHEN $2::text = 'running' THEN lease_owner END, \
                 lease_until = CASE WHEN $2::text = 'running' THEN lease_until END, \
                 approved_by = CASE WHEN $2::text = 'waiting-approval' THEN NULL ELSE approved_by END \
                 WHERE id = $1 \
                   AND ($9::text IS NULL OR (lease_owner = $9::text AND state = 'running'))",
            )
            .await
            .ctx("preparing job save")?;
        let n = client
            .execute(
                &stmt,
                &[
                    &job.id,
                    &job.state.as_str(),
                    &attempts,
                    &job.next_run_at,
                    &job.last_error,
                    &plan,
                    &outcome,
                    &job.updated_at,
                    &worker,
                ],
            )
            .await
            .ctx(&format!("saving job {}", job.id))?;
        if n == 0 && worker.is_none() {
            return Err(StoreError::NotFound(format!("job {}", job.id)));
        }
        Ok(n == 1)
    }

    async fn get_job(&self, id: &str) -> Result<Option<Job>> {
        let client = self.client("get_job").await?;
        resolve_job(&client, id).await
    }

    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        let client = self.client("list_jobs").await?;
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs \
             WHERE ($1::text IS NULL OR state = $1::text) \
               AND ($2::text IS NULL OR rule_id = $2::text) \
               AND ($4::text IS NULL OR created_at < $4::text \
                    OR (created_at = $4::text AND id < $5::text)) \
               AND ($6::text IS NULL OR target->>'account' = $6::text) \
               AND ($7::text IS NULL OR action = $7::text) \
               AND ($8::text IS NULL OR finding->>'Id' = $8::text) \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        let created_at = filter.after.as_ref().map(|c| c.created_at.as_str());
        let id = filter.after.as_ref().map(|c| c.id.as_str());
        query_jobs(
            &client,
            &sql,
            &[
                &filter.state.map(JobState::as_str),
                &filter.rule_id,
                &limit_sql(filter.limit),
                &created_at,
                &id,
                &filter.account,
                &filter.action,
                &filter.finding_id,
            ],
            "listing jobs",
        )
        .await
    }

    async fn count_jobs(&self) -> Result<BTreeMap<String, u64>> {
        let mut counts: BTreeMap<String, u64> = JobState::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), 0))
            .collect();
        let client = self.client("count_jobs").await?;
        let stmt = client
            .prepare_cached("SELECT state, COUNT(*) FROM jobs GROUP BY state")
            .await
            .ctx("preparing job count")?;
        for row in client.query(&stmt, &[]).await.ctx("counting jobs")? {
            let state: String = row.try_get(0).ctx("counting jobs")?;
            let n: i64 = row.try_get(1).ctx("counting jobs")?;
            counts.insert(state, u64::try_from(n).unwrap_or(0));
        }
        Ok(counts)
    }

    async fn oldest_due(&self) -> Result<Option<String>> {
        let client = self.client("oldest_due").await?;
        let stmt = client
            .prepare_cached("SELECT MIN(run_at) FROM jobs WHERE state IN ('pending', 'retrying')")
            .await
            .ctx("preparing the oldest due job")?;
        let row = client
            .query_one(&stmt, &[])
            .await
            .ctx("reading the oldest due job")?;
        row.try_get(0).ctx("reading the oldest due job")
    }

    async fn tally_jobs(&self, from: &str, to: &str) -> Result<Vec<JobTally>> {
        let client = self.client("tally_jobs").await?;
        let sql = crate::common::tally_sql(
            "(outcome->>'kind')",
            "(outcome->>'reason')",
            "json_array_length(outcome->'left_in_place')",
            "COALESCE(target->>'account', '')",
            "$1::text",
            "$2::text",
        );
        let stmt = client
            .prepare_cached(&sql)
            .await
            .ctx("preparing the job tally")?;
        let mut tally = Vec::new();
        for row in client
            .query(&stmt, &[&from, &to])
            .await
            .ctx("tallying jobs")?
        {
            let jobs: i64 = row.try_get(4).ctx("tallying jobs")?;
            tally.push(JobTally {
                rule_id: row.try_get(0).ctx("tallying jobs")?,
                account: row.try_get(1).ctx("tallying jobs")?,
                control: row.try_get(2).ctx("tallying jobs")?,
                outcome: row.try_get(3).ctx("tallying jobs")?,
                jobs: u64::try_from(jobs).unwrap_or(0),
            });
        }
        Ok(tally)
    }

    async fn approve(&self, id: &str, by: &str) -> Result<Job> {
        let mut client = self.client("approve").await?;
        let tx = client.transaction().await.ctx("approve: begin")?;
        let job = resolve_job(&tx, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("job {id}")))?;
        let now = timefmt::now();
        // The state check is part of the UPDATE, so two approvers racing
        // cannot both succeed.
        let sql = format!(
            "UPDATE jobs SET state = 'pending', approved_by = $2, approved_at = $3, \
             updated_at = $3 WHERE id = $1 AND state = 'waiting-approval' \
             RETURNING {JOB_COLUMNS}"
        );
        let approved = query_jobs(
            &tx,
            &sql,
            &[&job.id, &by, &now],
            &format!("approving job {}", job.id),
        )
        .await?
        .pop();
        let Some(approved) = approved else {
            let current = job_by_id(&tx, &job.id)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("job {}", job.id)))?;
            return Err(StoreError::InvalidState {
                id: current.id,
                state: current.state,
                expected: JobState::WaitingApproval,
            });
        };
        append_one_audit_tx(
            self.audit_key.as_ref(),
            &tx,
            "job.approved",
            &approved.id,
            &json!({
                "by": by,
                "rule": approved.rule_id,
                "action": approved.action,
                "target": approved.target.key(),
                "plan_digest": approved.plan.as_ref().map(rectify_model::Change::digest),
            }),
        )
        .await?;
        tx.commit().await.ctx("approve: commit")?;
        Ok(approved)
    }

    async fn reject(&self, id: &str, by: &str, reason: &str) -> Result<Job> {
        let mut client = self.client("reject").await?;
        let tx = client.transaction().await.ctx("reject: begin")?;
        let job = resolve_job(&tx, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("job {id}")))?;
        let now = timefmt::now();
        let outcome = crate::common::to_json(
            "outcome",
            &crate::common::rejected_outcome(&job, by, reason),
        )?;
        // The state check is part of the UPDATE: an approval racing this
        // rejection wins or loses as a whole.
        let sql = format!(
            "UPDATE jobs SET state = 'skipped', outcome = $2::text::json, updated_at = $3 \
             WHERE id = $1 AND state = 'waiting-approval' RETURNING {JOB_COLUMNS}"
        );
        let rejected = query_jobs(
            &tx,
            &sql,
            &[&job.id, &outcome, &now],
            &format!("rejecting job {}", job.id),
        )
        .await?
        .pop();
        let Some(rejected) = rejected else {
            let current = job_by_id(&tx, &job.id)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("job {}", job.id)))?;
            return Err(StoreError::InvalidState {
                id: current.id,
                state: current.state,
                expected: JobState::WaitingApproval,
            });
        };
        append_one_audit_tx(
            self.audit_key.as_ref(),
            &tx,
            "job.rejected",
            &rejected.id,
            &crate::common::rejected_record(&rejected, by, reason),
        )
        .await?;
        tx.commit().await.ctx("reject: commit")?;
        Ok(rejected)
    }

    async fn recover_expired(&self) -> Result<u64> {
        let client = self.client("recover_expired").await?;
        let stmt = client
            .prepare_cached(
                "UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_until = NULL, \
                 updated_at = $1 \
                 WHERE state = 'running' AND (lease_until IS NULL OR lease_until <= $1)",
            )
            .await
            .ctx("preparing lease recovery")?;
        client
            .execute(&stmt, &[&timefmt::now()])
            .await
            .ctx("recovering jobs with expired leases")
    }

    async fn release_owned(&self, worker: &str) -> Result<u64> {
        let client = self.client("release_owned").await?;
        let stmt = client
            .prepare_cached(
                "UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_until = NULL, \
                 updated_at = $1 WHERE state = 'running' AND lease_owner = $2",
            )
            .await
            .ctx("preparing lease release")?;
        client
            .execute(&stmt, &[&timefmt::now(), &worker])
            .await
            .ctx("releasing the worker's jobs")
    }

    async fn append_audit(&self, kind: &str, subject: &str, data: &Value) -> Result<AuditRecord> {
        let mut client = self.client("append_audit").await?;
        let tx = client.transaction().await.ctx("append_audit: begin")?;
        let record = append_one_audit_tx(self.audit_key.as_ref(), &tx, kind, subject, data).await?;
        tx.commit().await.ctx("append_audit: commit")?;
        Ok(record)
    }

    async fn append_audit_many(
        &self,
        entries: &[(String, String, Value)],
    ) -> Result<Vec<AuditRecord>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let entries: Vec<(&str, &str, &Value)> = entries
            .iter()
            .map(|(k, s, d)| (k.as_str(), s.as_str(), d))
            .collect();
        let mut client = self.client("append_audit_many").await?;
        let tx = client.transaction().await.ctx("append_audit_many: begin")?;
        let records = append_audit_tx(self.audit_key.as_ref(), &tx, &entries).await?;
        tx.commit().await.ctx("append_audit_many: commit")?;
        Ok(records)
    }

    async fn audit(&self, after_seq: i64, limit: usize) -> Result<Vec<AuditRecord>> {
        let client = self.client("audit").await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
            ))
            .await
            .ctx("preparing audit listing")?;
        let rows = client
            .query(&stmt, &[&after_seq, &limit_sql(limit)])
            .await
            .ctx("reading the audit log")?;
        rows.iter()
            .map(|r| audit_from_row(r).map(|(record, _)| record))
            .collect()
    }

    /// Appends on different lanes take their seqs from one sequence but
    /// commit in any order, so a reader that saw seq N may later find a
    /// smaller seq committed. The settled bound: every seq handed out so far
    /// (`v`), lowered to the committed head of each lane an append holds
    /// locked now (an append locks its lanes before it takes seqs, so what
    /// it will commit lies above that head). The three reads go in this
    /// order; the records are read last, after whatever was in flight at
    /// the lock check and has committed since.
    async fn audit_settled(&self, after_seq: i64, limit: usize) -> Result<Vec<AuditRecord>> {
        let client = self.client("audit_settled").await?;
        let handed_out: i64 = client
            .query_one(
                "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM audit_seq",
                &[],
            )
            .await
            .ctx("reading the audit sequence")?
            .try_get(0)
            .ctx("reading the audit sequence")?;
        let heads = client
            .query("SELECT lane, seq FROM audit_lanes", &[])
            .await
            .ctx("reading the audit lane heads")?;
        let idle = client
            .query(
                "SELECT lane FROM audit_lanes FOR KEY SHARE SKIP LOCKED",
                &[],
            )
            .await
            .ctx("finding the audit lanes being appended to")?;
        let idle: std::collections::HashSet<i32> = idle
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()
            .ctx("reading an audit lane")?;
        let mut settled = handed_out;
        for row in &heads {
            let lane: i32 = row.try_get(0).ctx("reading an audit lane head")?;
            let seq: i64 = row.try_get(1).ctx("reading an audit lane head")?;
            if !idle.contains(&lane) {
                settled = settled.min(seq);
            }
        }
        if settled <= after_seq {
            return Ok(Vec::new());
        }
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 AND seq <= $2 \
                 ORDER BY seq LIMIT $3"
            ))
            .await
            .ctx("preparing audit listing")?;
        let rows = client
            .query(&stmt, &[&after_seq, &settled, &limit_sql(limit)])
            .await
            .ctx("reading the audit log")?;
        rows.iter()
            .map(|r| audit_from_row(r).map(|(record, _)| record))
            .collect()
    }

    async fn audit_about(&self, subjects: &[String], limit: usize) -> Result<Vec<AuditRecord>> {
        let client = self.client("audit_about").await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE subject = ANY($1) \
                 ORDER BY seq DESC LIMIT $2"
            ))
            .await
            .ctx("preparing audit lookup")?;
        let rows = client
            .query(&stmt, &[&subjects, &limit_sql(limit)])
            .await
            .ctx("reading the audit log")?;
        let mut out = rows
            .iter()
            .map(|r| audit_from_row(r).map(|(record, _)| record))
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    async fn audit_head(&self) -> Result<Option<(i64, String)>> {
        Ok(self
            .audit_heads()
            .await?
            .into_iter()
            .filter(|h| h.seq > 0)
            .max_by_key(|h| h.seq)
            .map(|h| (h.seq, h.hash)))
    }

    async fn audit_heads(&self) -> Result<Vec<LaneHead>> {
        let client = self.client("audit_heads").await?;
        lane_heads(&client).await
    }

    async fn verify_audit(&self) -> Result<AuditVerdict> {
        let mut client = self.client("verify_audit").await?;
        // One snapshot for the whole walk: records appended while we verify
        // are left for the next run, and every lane must end exactly at
        // its head (a record and its head move in one transaction).
        let client = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .ctx("verify_audit: begin")?;
        let heads = lane_heads(&client).await?;
        let known: Vec<i32> = heads.iter().map(|h| h.lane as i32).collect();
        if let Some(row) = client
            .query_opt(
                "SELECT seq, lane FROM audit_log WHERE lane <> ALL($1) ORDER BY seq DESC LIMIT 1",
                &[&known],
            )
            .await
            .ctx("looking for records outside the known lanes")?
        {
            let seq: i64 = row.try_get(0).ctx("reading the audit log")?;
            let lane: i32 = row.try_get(1).ctx("reading the audit log")?;
            return Ok(AuditVerdict::Broken {
                seq,
                reason: format!(
                    "missing head: record {seq} is in lane {lane}, which has no recorded \
                     head (deleted with records from the end?)"
                ),
            });
        }
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log \
                 WHERE lane = $1 AND seq > $2 ORDER BY seq LIMIT $3"
            ))
            .await
            .ctx("preparing audit scan")?;
        // Every lane is walked; the bad record with the lowest seq is named.
        let mut lanes = Vec::with_capacity(heads.len());
        let mut first_bad: Option<AuditVerdict> = None;
        let mut keep = |broken: AuditVerdict| match (&first_bad, &broken) {
            (Some(AuditVerdict::Broken { seq: old, .. }), AuditVerdict::Broken { seq, .. })
                if old <= seq => {}
            _ => first_bad = Some(broken),
        };
        'lanes: for head in heads {
            let mut state = VerifyState::lane(self.audit_key.clone(), head.lane);
            let lane = head.lane as i32;
            loop {
                let rows = client
                    .query(&stmt, &[&lane, &state.last_seq, &(AUDIT_PAGE as i64)])
                    .await
                    .ctx("reading the audit log")?;
                let done = rows.len() < AUDIT_PAGE;
                if let Some(broken) = state.check_page(rows.iter().map(audit_from_row))? {
                    keep(broken);
                    continue 'lanes;
                }
                if done {
                    break;
                }
            }
            // An empty lane's head is (0, genesis): a record in it is past
            // its head.
            match state.finish_lane(Some((head.seq, head.hash))) {
                Some(broken) => keep(broken),
                None => lanes.push(state),
            }
        }
        if let Some(broken) = first_bad {
            return Ok(broken);
        }
        Ok(lanes_verdict(self.audit_key.is_some(), &lanes))
    }

    async fn reserve_change(
        &self,
        account: &str,
        region: &str,
        rule: &str,
        resource: &str,
        min_interval: Duration,
    ) -> Result<Option<String>> {
        let mut client = self.client("reserve_change").await?;
        let tx = client.transaction().await.ctx("reserve_change: begin")?;
        // One lock per account-region serialises the check and the insert
        // across replicas. The check and the insert are one statement after
        // it (a statement of its own: its snapshot is taken once the lock
        // is held, so it sees the change of the replica that held it
        // before).
        let lock = tx
            .prepare_cached(
                "SELECT pg_advisory_xact_lock(hashtext('rectify.change:' || $1 || '/' || $2))",
            )
            .await
            .ctx("preparing the change slot lock")?;
        tx.execute(&lock, &[&account, &region])
            .await
            .ctx("locking the account-region change slot")?;
        let reserve = tx
            .prepare_cached(
                "WITH last AS (SELECT max(at) AS at FROM changes WHERE account = $1 AND region = $2), \
                 recorded AS ( \
                   INSERT INTO changes (account, region, rule_id, resource, at) \
                   SELECT $1, $2, $3, $4, $5 FROM last WHERE last.at IS NULL OR last.at <= $6 \
                   RETURNING 1) \
                 SELECT last.at, (SELECT count(*) FROM recorded) FROM last",
            )
            .await
            .ctx("preparing the change reservation")?;
        // Free when the last change is at least `min_interval` old: at or
        // before now - min_interval (times in the store's format compare as
        // text).
        let now = timefmt::now();
        let free_from = timefmt::now_minus(min_interval);
        let row = tx
            .query_one(
                &reserve,
                &[&account, &region, &rule, &resource, &now, &free_from],
            )
            .await
            .ctx("recording the change")?;
        let last: Option<String> = row.try_get(0).ctx("reading the last change")?;
        let recorded: i64 = row.try_get(1).ctx("recording the change")?;
        if recorded == 0 {
            // Taken: when it frees (now, should the clock have passed it
            // meanwhile).
            return Ok(Some(
                last.as_deref()
                    .and_then(|l| slot_free_at(l, min_interval))
                    .unwrap_or(now),
            ));
        }
        tx.commit().await.ctx("reserve_change: commit")?;
        Ok(None)
    }

    async fn take_slot(
        &self,
        account: &str,
        region: &str,
        holder: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<bool> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut client = self.client("take_slot").await?;
        let tx = client.transaction().await.ctx("take_slot: begin")?;
        // One lock per account-region serialises count and insert across
        // replicas.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('rectify.slot:' || $1 || '/' || $2))",
            &[&account, &region],
        )
        .await
        .ctx("locking the account-region slots")?;
        let now = timefmt::now();
        tx.execute(
            "DELETE FROM region_slots WHERE account = $1 AND region = $2 AND until <= $3",
            &[&account, &region, &now],
        )
        .await
        .ctx("freeing expired slots")?;
        let row = tx
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE holder = $3) FROM region_slots \
                 WHERE account = $1 AND region = $2",
                &[&account, &region, &holder],
            )
            .await
            .ctx("counting slots")?;
        let held: i64 = row.try_get(0).ctx("counting slots")?;
        let mine: i64 = row.try_get(1).ctx("counting slots")?;
        if mine == 0 && held >= limit {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO region_slots (account, region, holder, until) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account, region, holder) DO UPDATE SET until = excluded.until",
            &[&account, &region, &holder, &timefmt::now_plus(lease)],
        )
        .await
        .ctx("taking a slot")?;
        tx.commit().await.ctx("take_slot: commit")?;
        Ok(true)
    }

    async fn free_slot(&self, account: &str, region: &str, holder: &str) -> Result<()> {
        let client = self.client("free_slot").await?;
        client
            .execute(
                "DELETE FROM region_slots WHERE account = $1 AND region = $2 AND holder = $3",
                &[&account, &region, &holder],
            )
            .await
            .ctx("freeing a slot")?;
        Ok(())
    }

    async fn count_changes(&self, account: &str, rule: &str, since: &str) -> Result<u64> {
        let client = self.client("count_changes").await?;
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM changes WHERE rule_id = $1 AND account = $2 AND at >= $3",
                &[&rule, &account, &since],
            )
            .await
            .ctx("counting changes")?
            .try_get(0)
            .ctx("counting changes")?;
        Ok(n as u64)
    }

    async fn set_rule_paused(&self, rule: &str, reason: Option<&str>, by: &str) -> Result<()> {
        let mut client = self.client("set_rule_paused").await?;
        let tx = client.transaction().await.ctx("set_rule_paused: begin")?;
        let key = format!("{SETTING_RULE_PAUSED}{rule}");
        match reason {
            Some(why) => {
                tx.execute(
                    "INSERT INTO settings (key, value, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                     updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                    &[&key, &why, &by, &timefmt::now()],
                )
                .await
                .ctx("pausing the rule")?;
            }
            None => {
                tx.execute("DELETE FROM settings WHERE key = $1", &[&key])
                    .await
                    .ctx("clearing the rule pause")?;
            }
        }
        append_one_audit_tx(
            self.audit_key.as_ref(),
            &tx,
            if reason.is_some() {
                "rule.paused"
            } else {
                "rule.resumed"
            },
            rule,
            &json!({ "rule": rule, "reason": reason, "by": by }),
        )
        .await?;
        tx.commit().await.ctx("set_rule_paused: commit")
    }

    async fn paused_rules(&self) -> Result<BTreeMap<String, String>> {
        let client = self.client("paused_rules").await?;
        let rows = client
            .query(
                "SELECT key, value FROM settings WHERE starts_with(key, $1)",
                &[&SETTING_RULE_PAUSED],
            )
            .await
            .ctx("reading paused rules")?;
        let mut out = BTreeMap::new();
        for row in rows {
            let key: String = row.try_get(0).ctx("reading a paused rule")?;
            let value: String = row.try_get(1).ctx("reading a paused rule")?;
            out.insert(key[SETTING_RULE_PAUSED.len()..].to_string(), value);
        }
        Ok(out)
    }

    async fn set_paused(&self, paused: bool, by: &str) -> Result<()> {
        let mut client = self.client("set_paused").await?;
        let tx = client.transaction().await.ctx("set_paused: begin")?;
        let now = timefmt::now();
        let stmt = tx
            .prepare_cached(
                "INSERT INTO settings (key, value, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                 updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            )
            .await
            .ctx("preparing settings write")?;
        tx.execute(
            &stmt,
            &[
                &SETTING_PAUSED,
                &if paused { "true" } else { "false" },
                &by,
                &now,
            ],
        )
        .await
        .ctx(&format!("writing setting {SETTING_PAUSED}"))?;
        append_one_audit_tx(
            self.audit_key.as_ref(),
            &tx,
            if paused {
                "engine.paused"
            } else {
                "engine.resumed"
            },
            by,
            &json!({ "paused": paused, "by": by }),
        )
        .await?;
        tx.commit().await.ctx("set_paused: commit")
    }

    async fn is_paused(&self) -> Result<bool> {
        let client = self.client("is_paused").await?;
        let stmt = client
            .prepare_cached("SELECT value FROM settings WHERE key = $1")
            .await
            .ctx("preparing settings lookup")?;
        let v: Option<String> = client
            .query_opt(&stmt, &[&SETTING_PAUSED])
            .await
            .ctx("reading the paused flag")?
            .map(|r| r.try_get(0))
            .transpose()
            .ctx("reading the paused flag")?;
        Ok(v.as_deref() == Some("true"))
    }

    async fn write_gate(&self, rule: &str, changes: Option<ChangeCount<'_>>) -> Result<WriteGate> {
        let client = self.client("write_gate").await?;
        let rule_key = format!("{SETTING_RULE_PAUSED}{rule}");
        // One prepared statement, one round trip: the two settings rows
        // (the kill switch, the rule's pause) and, for the breakers, the
        // count of changes (in a row whose key is NULL).
        let flags = "SELECT key, value, NULL::bigint FROM settings WHERE key IN ($1, $2)";
        let rows = match changes {
            None => {
                let stmt = client
                    .prepare_cached(flags)
                    .await
                    .ctx("preparing the write gate")?;
                client.query(&stmt, &[&SETTING_PAUSED, &rule_key]).await
            }
            Some(c) => {
                let stmt = client
                    .prepare_cached(&format!(
                        "{flags} UNION ALL SELECT NULL, NULL, count(*) FROM changes \
                         WHERE rule_id = $3 AND account = $4 AND at >= $5"
                    ))
                    .await
                    .ctx("preparing the write gate")?;
                client
                    .query(
                        &stmt,
                        &[&SETTING_PAUSED, &rule_key, &c.rule, &c.account, &c.since],
                    )
                    .await
            }
        }
        .ctx("reading the kill switch and the rule's pause")?;
        let mut gate = WriteGate::default();
        for row in rows {
            let key: Option<String> = row.try_get(0).ctx("reading the write gate")?;
            let value: Option<String> = row.try_get(1).ctx("reading the write gate")?;
            match key {
                Some(k) if k == SETTING_PAUSED => gate.paused = value.as_deref() == Some("true"),
                Some(_) => gate.rule_paused = value,
                None => {
                    let n: i64 = row.try_get(2).ctx("counting changes")?;
                    gate.changes = Some(n as u64);
                }
            }
        }
        Ok(gate)
    }

    async fn event_origin(&self, id: &str) -> Result<Option<String>> {
        let client = self.client("event_origin").await?;
        client
            .query_opt("SELECT origin FROM events WHERE id = $1", &[&id])
            .await
            .ctx("reading an event's origin")?
            .map(|r| r.try_get(0))
            .transpose()
            .ctx("reading an event's origin")
    }

    async fn probe_write(&self) -> Result<()> {
        let client = self.client("probe_write").await?;
        let now = timefmt::now();
        client
            .execute(
                "INSERT INTO settings (key, value, updated_by, updated_at) VALUES ($1, $2, NULL, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                 updated_at = excluded.updated_at",
                &[&SETTING_HEALTH_PROBE, &now],
            )
            .await
            .ctx("writing the health probe")?;
        Ok(())
    }

    async fn known_events(&self, ids: &[String]) -> Result<std::collections::BTreeSet<String>> {
        let client = self.client("known_events").await?;
        let rows = client
            .query("SELECT id FROM events WHERE id = ANY($1)", &[&ids])
            .await
            .ctx("looking up events")?;
        rows.iter()
            .map(|r| r.try_get::<_, String>(0).ctx("reading an event id"))
            .collect()
    }

    async fn source_cursor(&self, source: &str) -> Result<Option<String>> {
        let client = self.client("source_cursor").await?;
        let key = cursor_setting(source);
        client
            .query_opt("SELECT value FROM settings WHERE key = $1", &[&key])
            .await
            .ctx(&format!("reading setting {key}"))?
            .map(|r| r.try_get(0))
            .transpose()
            .ctx(&format!("reading setting {key}"))
    }

    async fn set_source_cursor(&self, source: &str, value: &str) -> Result<()> {
        let client = self.client("set_source_cursor").await?;
        let key = cursor_setting(source);
        client
            .execute(
                "INSERT INTO settings (key, value, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                 updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                &[&key, &value, &source, &timefmt::now()],
            )
            .await
            .ctx(&format!("writing setting {key}"))?;
        Ok(())
    }

    async fn reserve_ticket(
        &self,
        system: &str,
        finding: &FindingRef,
        hub_region: &str,
    ) -> Result<(crate::TicketRow, bool)> {
        let client = self.client("reserve_ticket").await?;
        let now = timefmt::now();
        let created = client
            .execute(
                "INSERT INTO tickets (system, finding_id, product_arn, hub_region, state, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (system, finding_id) DO NOTHING",
                &[&system, &finding.id, &finding.product_arn, &hub_region, &crate::tickets::RESERVED, &now],
            )
            .await
            .ctx("reserving a ticket")?
            == 1;
        let row = ticket_where(
            &client,
            "system = $1 AND finding_id = $2",
            system,
            &finding.id,
        )
        .await?
        .ok_or_else(|| StoreError::NotFound("the reserved ticket row".into()))?;
        Ok((row, created))
    }

    async fn move_ticket(
        &self,
        system: &str,
        finding_id: &str,
        from: &str,
        to: &str,
        remote: Option<(&str, &str)>,
    ) -> Result<bool> {
        let client = self.client("move_ticket").await?;
        let (remote_id, remote_key) = (remote.map(|r| r.0), remote.map(|r| r.1));
        let moved = client
            .execute(
                "UPDATE tickets SET state = $4, remote_id = COALESCE($5, remote_id), \
                 remote_key = COALESCE($6, remote_key), updated_at = $7 \
                 WHERE system = $1 AND finding_id = $2 AND state = $3",
                &[
                    &system,
                    &finding_id,
                    &from,
                    &to,
                    &remote_id,
                    &remote_key,
                    &timefmt::now(),
                ],
            )
            .await
            .ctx("moving a ticket")?;
        Ok(moved == 1)
    }

    async fn get_ticket(&self, system: &str, finding_id: &str) -> Result<Option<crate::TicketRow>> {
        let client = self.client("get_ticket").await?;
        ticket_where(
            &client,
            "system = $1 AND finding_id = $2",
            system,
            finding_id,
        )
        .await
    }

    async fn find_ticket(&self, system: &str, remote: &str) -> Result<Option<crate::TicketRow>> {
        let client = self.client("find_ticket").await?;
        ticket_where(
            &client,
            "system = $1 AND (remote_id = $2 OR remote_key = $2)",
            system,
            remote,
        )
        .await
    }

    async fn tickets_in_state(
        &self,
        system: &str,
        state: &str,
        limit: usize,
    ) -> Result<Vec<crate::TicketRow>> {
        let client = self.client("tickets_in_state").await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {} FROM tickets WHERE system = $1 AND state = $2 ORDER BY updated_at LIMIT $3",
            crate::tickets::COLUMNS
        );
        let rows = client
            .query(&sql, &[&system, &state, &limit])
            .await
            .ctx("listing tickets")?;
        rows.iter().map(ticket_row).collect()
    }

    async fn outbox_put(&self, items: &[crate::OutboxItem]) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let client = self.client("outbox_put").await?;
        insert_outbox(&client, items).await
    }

    async fn outbox_claim(
        &self,
        claim_until: &str,
        limit: usize,
    ) -> Result<Vec<crate::OutboxItem>> {
        let client = self.client("outbox_claim").await?;
        let now = timefmt::now();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // SKIP LOCKED: replicas claiming at once take different messages.
        let sql = format!(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, updated_at = $2 \
             WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $2 \
             ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING {}",
            crate::outbox::COLUMNS
        );
        let rows = client
            .query(&sql, &[&claim_until, &now, &limit])
            .await
            .ctx("claiming from the outbox")?;
        let mut items = rows.iter().map(outbox_row).collect::<Result<Vec<_>>>()?;
        items.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(items)
    }

    async fn outbox_settle(
        &self,
        id: &str,
        state: &str,
        next_attempt_at: &str,
        error: Option<&str>,
    ) -> Result<()> {
        let client = self.client("outbox_settle").await?;
        client
            .execute(
                "UPDATE outbox SET state = $2, next_attempt_at = $3, last_error = $4, updated_at = $5 \
                 WHERE id = $1",
                &[&id, &state, &next_attempt_at, &error, &timefmt::now()],
            )
            .await
            .ctx("settling an outbox message")?;
        Ok(())
    }

    async fn outbox_counts(&self) -> Result<BTreeMap<String, u64>> {
        let mut counts: BTreeMap<String, u64> = [
            crate::outbox::PENDING,
            crate::outbox::SENT,
            crate::outbox::DEAD,
        ]
        .iter()
        .map(|s| (s.to_string(), 0))
        .collect();
        let client = self.client("outbox_counts").await?;
        for row in client
            .query("SELECT state, COUNT(*) FROM outbox GROUP BY state", &[])
            .await
            .ctx("counting the outbox")?
        {
            let state: String = row.try_get(0).ctx("counting the outbox")?;
            let n: i64 = row.try_get(1).ctx("counting the outbox")?;
            counts.insert(state, u64::try_from(n).unwrap_or(0));
        }
        Ok(counts)
    }

    async fn outbox_for_job(&self, job_id: &str) -> Result<Vec<crate::OutboxItem>> {
        let client = self.client("outbox_for_job").await?;
        let sql = format!(
            "SELECT {} FROM outbox WHERE job_id = $1 ORDER BY created_at, id",
            crate::outbox::COLUMNS
        );
        client
            .query(&sql, &[&job_id])
            .await
            .ctx("reading the outbox")?
            .iter()
            .map(outbox_row)
            .collect()
    }

    async fn digest_put(&self, items: &[crate::DigestItem]) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let mut client = self.client("digest_put").await?;
        let tx = client.transaction().await.ctx("digest_put: begin")?;
        // The period first, as `digest_close` goes: two transactions
        // meeting on one channel wait for each other rather than deadlock.
        let period = tx
            .prepare_cached(
                "INSERT INTO digest_periods (channel, due_at) VALUES ($1, $2) \
                 ON CONFLICT (channel) DO NOTHING",
            )
            .await
            .ctx("preparing the digest period write")?;
        let item = tx
            .prepare_cached(&format!(
                "INSERT INTO digest_items ({}) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (channel, item_key) \
                 DO UPDATE SET received = digest_items.received + excluded.received",
                crate::digest::ITEM_COLUMNS
            ))
            .await
            .ctx("preparing the digest write")?;
        let repeat = tx
            .prepare_cached(
                "UPDATE digest_items SET received = received + $3 \
                 WHERE channel = $1 AND item_key = $2",
            )
            .await
            .ctx("preparing the digest repeat")?;
        let room = tx
            .prepare_cached(
                "UPDATE digest_periods SET items = items + 1 WHERE channel = $1 AND items < $2",
            )
            .await
            .ctx("preparing the digest count")?;
        let drop = tx
            .prepare_cached("UPDATE digest_periods SET dropped = dropped + $2 WHERE channel = $1")
            .await
            .ctx("preparing the digest drop")?;
        for i in items {
            tx.execute(&period, &[&i.channel, &i.period_ends_at])
                .await
                .ctx("opening a digest period")?;
            let body = i.item.to_string();
            let received = i64::try_from(i.received).unwrap_or(i64::MAX);
            let max = i64::try_from(i.max_items).unwrap_or(i64::MAX);
            if tx
                .execute(&repeat, &[&i.channel, &i.item_key, &received])
                .await
                .ctx("folding a digest repeat")?
                > 0
            {
                continue;
            }
            if tx
                .execute(&room, &[&i.channel, &max])
                .await
                .ctx("counting a digest item")?
                == 0
            {
                tx.execute(&drop, &[&i.channel, &received])
                    .await
                    .ctx("dropping a digest item")?;
                continue;
            }
            tx.execute(&item, &[&i.channel, &i.item_key, &i.id, &body, &received])
                .await
                .ctx("writing a digest item")?;
        }
        tx.commit().await.ctx("digest_put: commit")
    }

    async fn digest_claim(
        &self,
        token: &str,
        claim_until: &str,
        limit: usize,
    ) -> Result<Vec<crate::DigestPeriod>> {
        let client = self.client("digest_claim").await?;
        let now = timefmt::now();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // SKIP LOCKED: replicas claiming at once take different periods.
        let claimed = client
            .query(
                "UPDATE digest_periods SET claim_token = $1, claimed_until = $2 \
                 WHERE channel IN (SELECT channel FROM digest_periods WHERE due_at <= $3 \
                 AND (claimed_until IS NULL OR claimed_until <= $3) ORDER BY due_at LIMIT $4 \
                 FOR UPDATE SKIP LOCKED) RETURNING channel, due_at, dropped",
                &[&token, &claim_until, &now, &limit],
            )
            .await
            .ctx("claiming digests")?;
        let read = client
            .prepare_cached(&format!(
                "SELECT {} FROM digest_items WHERE channel = $1 ORDER BY id",
                crate::digest::ITEM_COLUMNS
            ))
            .await
            .ctx("preparing the digest read")?;
        let mut periods = Vec::with_capacity(claimed.len());
        for row in claimed {
            let channel: String = row.try_get(0).ctx("claiming digests")?;
            let due_at: String = row.try_get(1).ctx("claiming digests")?;
            let dropped: i64 = row.try_get(2).ctx("claiming digests")?;
            let items = client
                .query(&read, &[&channel])
                .await
                .ctx("reading a digest")?
                .iter()
                .map(digest_item_row)
                .collect::<Result<Vec<_>>>()?;
            periods.push(crate::DigestPeriod {
                channel,
                due_at,
                items,
                dropped: u64::try_from(dropped).unwrap_or(0),
            });
        }
        periods.sort_by(|a, b| a.due_at.cmp(&b.due_at));
        Ok(periods)
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
        let mut client = self.client("digest_close").await?;
        let tx = client.transaction().await.ctx("digest_close: begin")?;
        let Some(ours) = tx
            .query_opt(
                "DELETE FROM digest_periods WHERE channel = $1 AND claim_token = $2 \
                 RETURNING dropped",
                &[&channel, &token],
            )
            .await
            .ctx("closing a digest period")?
        else {
            return Ok(false);
        };
        let dropped_now: i64 = ours.try_get(0).ctx("closing a digest period")?;
        let counted = i64::try_from(dropped).unwrap_or(i64::MAX);
        tx.execute(
            "DELETE FROM digest_items WHERE channel = $1 AND item_key = ANY($2)",
            &[&channel, &keys],
        )
        .await
        .ctx("deleting digest items")?;
        // Items and drops counted since the claim open the next period.
        let later = dropped_now.saturating_sub(counted).max(0);
        tx.execute(
            "INSERT INTO digest_periods (channel, due_at, items, dropped) \
             SELECT $1, $2, (SELECT COUNT(*) FROM digest_items WHERE channel = $1), $3::BIGINT \
             WHERE $3::BIGINT > 0 OR EXISTS (SELECT 1 FROM digest_items WHERE channel = $1) \
             ON CONFLICT (channel) DO NOTHING",
            &[&channel, &next_due_at, &later],
        )
        .await
        .ctx("opening the next digest period")?;
        if let Some(message) = message {
            insert_outbox(&tx, std::slice::from_ref(message)).await?;
        }
        tx.commit().await.ctx("digest_close: commit")?;
        Ok(true)
    }

    async fn digest_held(&self) -> Result<BTreeMap<String, u64>> {
        let client = self.client("digest_held").await?;
        let mut held = BTreeMap::new();
        for row in client
            .query(
                "SELECT channel, COUNT(*) FROM digest_items GROUP BY channel",
                &[],
            )
            .await
            .ctx("counting digest items")?
        {
            let channel: String = row.try_get(0).ctx("counting digest items")?;
            let n: i64 = row.try_get(1).ctx("counting digest items")?;
            held.insert(channel, u64::try_from(n).unwrap_or(0));
        }
        Ok(held)
    }

    async fn coalesce_hold(&self, holds: &[crate::CoalesceHold]) -> Result<Vec<bool>> {
        if holds.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.client("coalesce_hold").await?;
        let tx = client.transaction().await.ctx("coalesce_hold: begin")?;
        // Windows in one order whatever the caller's: two transactions
        // meeting on the same windows wait for each other, not deadlock.
        let mut order: Vec<usize> = (0..holds.len()).collect();
        order.sort_by(|&a, &b| {
            let key = |h: &crate::CoalesceHold| (h.channel.clone(), h.rule.clone(), h.what.clone());
            key(&holds[a]).cmp(&key(&holds[b]))
        });
        let open = tx
            .prepare_cached(&format!(
                "INSERT INTO coalesce_windows ({}) VALUES ($1, $2, $3, $4, 0, '[]', '[]') \
                 ON CONFLICT (channel, rule, what) DO NOTHING",
                crate::coalesce::COLUMNS
            ))
            .await
            .ctx("preparing the window open")?;
        let read = tx
            .prepare_cached(
                "SELECT held, accounts, resources FROM coalesce_windows \
                 WHERE channel = $1 AND rule = $2 AND what = $3 FOR UPDATE",
            )
            .await
            .ctx("preparing the window read")?;
        let update = tx
            .prepare_cached(
                "UPDATE coalesce_windows SET held = $4, accounts = $5, resources = $6 \
                 WHERE channel = $1 AND rule = $2 AND what = $3",
            )
            .await
            .ctx("preparing the window update")?;
        let mut held_now = vec![false; holds.len()];
        for i in order {
            let h = &holds[i];
            // A window closed by another process between the insert and
            // the read is opened again by the next try.
            let mut tries = 0;
            held_now[i] = loop {
                tries += 1;
                let opened = tx
                    .execute(&open, &[&h.channel, &h.rule, &h.what, &h.closes_at])
                    .await
                    .ctx("opening a window")?;
                if opened == 1 {
                    insert_outbox(&tx, std::slice::from_ref(&h.message)).await?;
                    break false;
                }
                let Some(row) = tx
                    .query_opt(&read, &[&h.channel, &h.rule, &h.what])
                    .await
                    .ctx("reading a window")?
                else {
                    if tries < 3 {
                        continue;
                    }
                    return Err(StoreError::Task {
                        op: "coalesce_hold".into(),
                        reason: "a coalescing window kept closing while a message was counted in"
                            .into(),
                    });
                };
                let held: i64 = row.try_get(0).ctx("reading a window")?;
                let accounts: String = row.try_get(1).ctx("reading a window")?;
                let resources: String = row.try_get(2).ctx("reading a window")?;
                let mut held = u64::try_from(held).unwrap_or(0);
                let mut accounts = crate::coalesce::names(&accounts, crate::coalesce::ACCOUNTS_MAX);
                let mut resources =
                    crate::coalesce::names(&resources, crate::coalesce::RESOURCES_MAX);
                crate::coalesce::fold(&mut held, &mut accounts, &mut resources, h);
                let held = i64::try_from(held).unwrap_or(i64::MAX);
                let accounts = serde_json::to_string(&accounts).unwrap_or_default();
                let resources = serde_json::to_string(&resources).unwrap_or_default();
                tx.execute(
                    &update,
                    &[&h.channel, &h.rule, &h.what, &held, &accounts, &resources],
                )
                .await
                .ctx("counting into a window")?;
                break true;
            };
        }
        tx.commit().await.ctx("coalesce_hold: commit")?;
        Ok(held_now)
    }

    async fn coalesce_claim(
        &self,
        token: &str,
        claim_until: &str,
        limit: usize,
    ) -> Result<Vec<crate::CoalesceWindow>> {
        let client = self.client("coalesce_claim").await?;
        let now = timefmt::now();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // SKIP LOCKED: replicas claiming at once take different windows.
        let mut windows = client
            .query(
                &format!(
                    "UPDATE coalesce_windows SET claim_token = $1, claimed_until = $2 \
                     WHERE (channel, rule, what) IN (SELECT channel, rule, what \
                     FROM coalesce_windows WHERE closes_at <= $3 \
                     AND (claimed_until IS NULL OR claimed_until <= $3) ORDER BY closes_at LIMIT $4 \
                     FOR UPDATE SKIP LOCKED) RETURNING {}",
                    crate::coalesce::COLUMNS
                ),
                &[&token, &claim_until, &now, &limit],
            )
            .await
            .ctx("claiming windows")?
            .iter()
            .map(window_row)
            .collect::<Result<Vec<_>>>()?;
        windows.sort_by(|a, b| a.closes_at.cmp(&b.closes_at));
        Ok(windows)
    }

    async fn coalesce_close(
        &self,
        window: &crate::CoalesceWindow,
        token: &str,
        message: Option<&crate::OutboxItem>,
    ) -> Result<bool> {
        let mut client = self.client("coalesce_close").await?;
        let tx = client.transaction().await.ctx("coalesce_close: begin")?;
        let held = i64::try_from(window.held).unwrap_or(i64::MAX);
        let closed = tx
            .execute(
                "DELETE FROM coalesce_windows WHERE channel = $1 AND rule = $2 AND what = $3 \
                 AND claim_token = $4 AND held = $5",
                &[&window.channel, &window.rule, &window.what, &token, &held],
            )
            .await
            .ctx("closing a window")?;
        if closed == 0 {
            tx.execute(
                "UPDATE coalesce_windows SET claim_token = NULL, claimed_until = NULL \
                 WHERE channel = $1 AND rule = $2 AND what = $3 AND claim_token = $4",
                &[&window.channel, &window.rule, &window.what, &token],
            )
            .await
            .ctx("giving a window back")?;
            tx.commit().await.ctx("coalesce_close: commit")?;
            return Ok(false);
        }
        if let Some(message) = message {
            insert_outbox(&tx, std::slice::from_ref(message)).await?;
        }
        tx.commit().await.ctx("coalesce_close: commit")?;
        Ok(true)
    }

    async fn coalesce_windows(&self) -> Result<Vec<crate::CoalesceWindow>> {
        let client = self.client("coalesce_windows").await?;
        client
            .query(
                &format!(
                    "SELECT {} FROM coalesce_windows ORDER BY channel, rule, what",
                    crate::coalesce::COLUMNS
                ),
                &[],
            )
            .await
            .ctx("listing windows")?
            .iter()
            .map(window_row)
            .collect()
    }

    async fn detector_state(&self, detector: &str) -> Result<Vec<(String, String)>> {
        let client = self.client("detector_state").await?;
        let rows = client
            .query(
                "SELECT entity, state FROM detector_state WHERE detector = $1 ORDER BY entity",
                &[&detector],
            )
            .await
            .ctx("reading detector state")?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<std::result::Result<Vec<_>, tokio_postgres::Error>>()
            .ctx("reading detector state")
    }

    async fn save_detector_state(
        &self,
        detector: &str,
        save: &crate::DetectorStateSave,
    ) -> Result<()> {
        if save.is_empty() {
            return Ok(());
        }
        let mut client = self.client("save_detector_state").await?;
        let tx = client
            .transaction()
            .await
            .ctx("save_detector_state: begin")?;
        if save.replace_all {
            tx.execute(
                "DELETE FROM detector_state WHERE detector = $1",
                &[&detector],
            )
            .await
            .ctx("clearing detector state")?;
        }
        if !save.removed.is_empty() {
            tx.execute(
                "DELETE FROM detector_state WHERE detector = $1 AND entity = ANY($2)",
                &[&detector, &save.removed],
            )
            .await
            .ctx("deleting detector state")?;
        }
        let upsert = tx
            .prepare_cached(
                "INSERT INTO detector_state (detector, entity, state, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (detector, entity) \
                 DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            )
            .await
            .ctx("preparing detector state write")?;
        let now = timefmt::now();
        for (entity, state) in &save.upserts {
            tx.execute(&upsert, &[&detector, entity, state, &now])
                .await
                .ctx("writing detector state")?;
        }
        tx.commit().await.ctx("save_detector_state: commit")
    }

    async fn record_scan(&self, scan: &crate::ScanRecord) -> Result<()> {
        let (summary, started, finished) = scan.checked()?;
        let client = self.client("record_scan").await?;
        client
            .execute(
                &crate::scans::pg(crate::scans::INSERT_SQL),
                &[
                    &scan.id,
                    &started,
                    &finished,
                    &scan.kind,
                    &scan.started_by,
                    &summary,
                ],
            )
            .await
            .ctx("recording a scan")?;
        Ok(())
    }

    async fn list_scans(&self, limit: usize) -> Result<Vec<crate::ScanRecord>> {
        let limit = limit.min(crate::scans::MAX_LIST) as i64;
        let client = self.client("list_scans").await?;
        let rows = client
            .query(&crate::scans::pg(crate::scans::LIST_SQL), &[&limit])
            .await
            .ctx("listing scans")?;
        rows.iter()
            .map(scan_row)
            .collect::<std::result::Result<Vec<_>, tokio_postgres::Error>>()
            .ctx("listing scans")
    }

    async fn get_scan(&self, id: &str) -> Result<Option<crate::ScanRecord>> {
        let client = self.client("get_scan").await?;
        let row = client
            .query_opt(&crate::scans::pg(crate::scans::GET_SQL), &[&id])
            .await
            .ctx("reading a scan")?;
        row.as_ref().map(scan_row).transpose().ctx("reading a scan")
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
        let client = self.client("claim_scan_schedule").await?;
        let changed = client
            .execute(
                &crate::scans::pg(crate::scans::CLAIM_SQL),
                &[&name, &holder, &until, &slot, &timefmt::now()],
            )
            .await
            .ctx("claiming the scan schedule")?;
        Ok(changed == 1)
    }

    async fn hold_scan_schedule(&self, name: &str, holder: &str, until: &str) -> Result<bool> {
        let until = timefmt::normalize(until, "until")?;
        let client = self.client("hold_scan_schedule").await?;
        let changed = client
            .execute(
                &crate::scans::pg(crate::scans::HOLD_SQL),
                &[&name, &holder, &until],
            )
            .await
            .ctx("holding the scan schedule")?;
        Ok(changed == 1)
    }

    async fn mark_applying(
        &self,
        job_id: &str,
        worker: &str,
        plan: &rectify_model::Change,
        records: &[(String, String, Value)],
    ) -> Result<bool> {
        let plan = crate::common::to_json(&format!("job {job_id} plan"), plan)?;
        let entries: Vec<(&str, &str, &Value)> = records
            .iter()
            .map(|(k, s, d)| (k.as_str(), s.as_str(), d))
            .collect();
        let mut client = self.client("mark_applying").await?;
        let tx = client.transaction().await.ctx("mark_applying: begin")?;
        let held = tx
            .query_opt(
                "SELECT 1 FROM jobs WHERE id = $1 AND lease_owner = $2 AND state = 'running' \
                 FOR UPDATE",
                &[&job_id, &worker],
            )
            .await
            .ctx(&format!("checking the lease of job {job_id}"))?
            .is_some();
        if !held {
            return Ok(false);
        }
        let written = append_audit_tx(self.audit_key.as_ref(), &tx, &entries).await?;
        let seq = written.last().map(|r| r.seq);
        tx.execute(
            "UPDATE jobs SET plan = $2::text::json, applying_seq = $3::bigint WHERE id = $1",
            &[&job_id, &plan, &seq],
        )
        .await
        .ctx(&format!("marking job {job_id} as applying"))?;
        tx.commit().await.ctx("mark_applying: commit")?;
        Ok(true)
    }

    async fn write_jobs(&self, writes: &[JobWrite]) -> Result<Vec<bool>> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.client("write_jobs").await?;
        let tx = client.transaction().await.ctx("write_jobs: begin")?;
        let out = write_jobs_tx(self.audit_key.as_ref(), &tx, writes).await?;
        tx.commit().await.ctx("write_jobs: commit")?;
        Ok(out)
    }

    async fn applying_history(&self, job_id: &str) -> Result<Option<Vec<String>>> {
        let client = self.client("applying_history").await?;
        let seq: Option<i64> = client
            .query_opt(
                "SELECT applying_seq::bigint FROM jobs WHERE id = $1",
                &[&job_id],
            )
            .await
            .ctx(&format!("reading job {job_id}"))?
            .and_then(|row| row.get(0));
        let Some(seq) = seq else { return Ok(None) };
        let rows = client
            .query(
                "SELECT kind FROM audit_log WHERE seq >= $1 AND subject = $2 ORDER BY seq",
                &[&seq, &job_id],
            )
            .await
            .ctx("reading the job's history")?;
        Ok(Some(rows.iter().map(|r| r.get(0)).collect()))
    }

    async fn lease_owners(&self) -> Result<Vec<String>> {
        let client = self.client("lease_owners").await?;
        let rows = client
            .query(
                "SELECT DISTINCT lease_owner FROM jobs \
                 WHERE state = 'running' AND lease_owner IS NOT NULL",
                &[],
            )
            .await
            .ctx("listing lease owners")?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn record_reversal(
        &self,
        account: &str,
        resource: &str,
        principal: &str,
        window: Duration,
    ) -> Result<u64> {
        let before = self
            .count_reversals(account, resource, principal, window)
            .await?;
        let client = self.client("record_reversal").await?;
        client
            .execute(
                "INSERT INTO reversals (account, resource, principal, at) VALUES ($1, $2, $3, $4)",
                &[&account, &resource, &principal, &timefmt::now()],
            )
            .await
            .ctx("recording a reversal")?;
        Ok(before)
    }

    async fn count_reversals(
        &self,
        account: &str,
        resource: &str,
        principal: &str,
        window: Duration,
    ) -> Result<u64> {
        let client = self.client("count_reversals").await?;
        let since = timefmt::now_minus(window);
        let row = client
            .query_one(
                "SELECT COUNT(*) FROM reversals \
                 WHERE account = $1 AND resource = $2 AND principal = $3 AND at > $4",
                &[&account, &resource, &principal, &since],
            )
            .await
            .ctx("counting reversals")?;
        Ok(row.get::<_, i64>(0) as u64)
    }
}

fn ticket_row(r: &Row) -> Result<crate::TicketRow> {
    let text = |i: usize| r.try_get::<_, String>(i).ctx("reading a ticket");
    let maybe = |i: usize| r.try_get::<_, Option<String>>(i).ctx("reading a ticket");
    Ok(crate::TicketRow {
        system: text(0)?,
        finding_id: text(1)?,
        product_arn: text(2)?,
        hub_region: text(3)?,
        remote_id: maybe(4)?,
        remote_key: maybe(5)?,
        state: text(6)?,
        created_at: text(7)?,
        updated_at: text(8)?,
    })
}

/// Writes messages to the outbox; an id already there is left as it is.
async fn insert_outbox(client: &impl GenericClient, items: &[crate::OutboxItem]) -> Result<()> {
    let stmt = client
        .prepare_cached(&format!(
            "INSERT INTO outbox ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO NOTHING",
            crate::outbox::COLUMNS
        ))
        .await
        .ctx("preparing the outbox write")?;
    for i in items {
        let body = i.body.to_string();
        let attempts = i32::try_from(i.attempts).unwrap_or(i32::MAX);
        client
            .execute(
                &stmt,
                &[
                    &i.id,
                    &i.channel,
                    &i.job_id,
                    &i.outcome,
                    &body,
                    &attempts,
                    &i.next_attempt_at,
                    &i.state,
                    &i.last_error,
                    &i.created_at,
                    &i.updated_at,
                ],
            )
            .await
            .ctx("writing to the outbox")?;
    }
    Ok(())
}

fn window_row(r: &Row) -> Result<crate::CoalesceWindow> {
    let op = "reading a window";
    let held: i64 = r.try_get(4).ctx(op)?;
    let accounts: String = r.try_get(5).ctx(op)?;
    let resources: String = r.try_get(6).ctx(op)?;
    Ok(crate::CoalesceWindow {
        channel: r.try_get(0).ctx(op)?,
        rule: r.try_get(1).ctx(op)?,
        what: r.try_get(2).ctx(op)?,
        closes_at: r.try_get(3).ctx(op)?,
        held: u64::try_from(held).unwrap_or(0),
        accounts: crate::coalesce::names(&accounts, crate::coalesce::ACCOUNTS_MAX),
        resources: crate::coalesce::names(&resources, crate::coalesce::RESOURCES_MAX),
    })
}

fn digest_item_row(r: &Row) -> Result<crate::DigestItem> {
    let op = "reading a digest";
    let item: String = r.try_get(3).ctx(op)?;
    let received: i64 = r.try_get(4).ctx(op)?;
    Ok(crate::DigestItem {
        channel: r.try_get(0).ctx(op)?,
        item_key: r.try_get(1).ctx(op)?,
        id: r.try_get(2).ctx(op)?,
        item: serde_json::from_str(&item).unwrap_or(Value::Null),
        received: u64::try_from(received).unwrap_or(0),
        period_ends_at: String::new(),
        max_items: 0,
    })
}

fn outbox_row(r: &Row) -> Result<crate::OutboxItem> {
    let text = |i: usize| r.try_get::<_, String>(i).ctx("reading the outbox");
    let body = text(4)?;
    let attempts: i32 = r.try_get(5).ctx("reading the outbox")?;
    Ok(crate::OutboxItem {
        id: text(0)?,
        channel: text(1)?,
        job_id: text(2)?,
        outcome: text(3)?,
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_attempt_at: text(6)?,
        state: text(7)?,
        last_error: r.try_get(8).ctx("reading the outbox")?,
        created_at: text(9)?,
        updated_at: text(10)?,
    })
}

/// The one ticket row matching `condition` over `$1` and `$2`.
async fn ticket_where(
    client: &Object,
    condition: &str,
    first: &str,
    second: &str,
) -> Result<Option<crate::TicketRow>> {
    let sql = format!(
        "SELECT {} FROM tickets WHERE {condition} LIMIT 1",
        crate::tickets::COLUMNS
    );
    client
        .query_opt(&sql, &[&first, &second])
        .await
        .ctx("reading a ticket")?
        .as_ref()
        .map(ticket_row)
        .transpose()
}

/// A `scans` row as read by `LIST_SQL` and `GET_SQL`.
fn scan_row(
    r: &tokio_postgres::Row,
) -> std::result::Result<crate::ScanRecord, tokio_postgres::Error> {
    let summary: String = r.try_get(5)?;
    Ok(crate::ScanRecord::from_row(
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        &summary,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_parameters_are_taken_out_of_the_url() {
        let p = parse_url("postgres://u@h:5433/db?schema=tenant_a&pool_size=3&application_name=x")
            .unwrap();
        assert_eq!(p.schema.as_deref(), Some("tenant_a"));
        assert_eq!(p.pool_size, 3);
        assert_eq!(p.config.get_dbname(), Some("db"));
        assert_eq!(p.config.get_ports(), &[5433]);
        assert_eq!(p.config.get_application_name(), Some("x"));
        assert_eq!(
            p.config.get_options(),
            Some("-c search_path=tenant_a -c plan_cache_mode=force_custom_plan")
        );

        let p = parse_url(
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=/etc/ca%20dir/ca.pem&schema=s",
        )
        .unwrap();
        assert_eq!(p.tls.mode, pg_tls::SslMode::VerifyFull);
        assert_eq!(
            p.tls.root_cert.as_deref(),
            Some(std::path::Path::new("/etc/ca dir/ca.pem"))
        );
        assert_eq!(
            p.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        let p = parse_url("postgres://u@h/db?sslmode=prefer").unwrap();
        assert_eq!(
            p.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Prefer
        );

        let p = parse_url("postgresql://u@h/db").unwrap();
        assert_eq!(p.tls, pg_tls::TlsSettings::default());
        assert_eq!(p.schema, None);
        assert_eq!(p.pool_size, DEFAULT_POOL_SIZE);
        assert_eq!(p.config.get_application_name(), Some("rectify"));
        assert_eq!(
            p.config.get_options(),
            Some("-c plan_cache_mode=force_custom_plan")
        );
        // An operator's own plan_cache_mode is kept.
        let p = parse_url("postgres://u@h/db?options=-c%20plan_cache_mode%3Dauto").unwrap();
        assert_eq!(p.config.get_options(), Some("-c plan_cache_mode=auto"));

        for bad in [
            "postgres://u@h/db?schema=Bad",
            "postgres://u@h/db?schema=a;drop",
            "postgres://u@h/db?schema=pg_catalog",
            "postgres://u@h/db?schema=",
            "postgres://u@h/db?pool_size=0",
            "postgres://u@h/db?sslmode=verify-everything",
            "postgres://u@h/db?sslcert=/c.pem",
            "postgres://u:secret@h/db?nonsense=1",
        ] {
            match parse_url(bad) {
                Err(StoreError::InvalidUrl { url, .. }) => {
                    assert!(!url.contains("secret"), "{url}")
                }
                other => panic!("{bad}: expected an invalid URL, got {:?}", other.err()),
            }
        }
    }
}
