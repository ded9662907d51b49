//! Versioned schema migrations, recorded in `schema_migrations`.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::{timefmt, Result, StoreError};

/// Account-region slots: at most N changes in flight in one account-region
/// across every replica (`guardrails.max_concurrent_per_account_region`).
/// A slot held by a replica that died frees itself at `until`.
const REGION_SLOTS: &str = r#"
CREATE TABLE region_slots (
    account TEXT NOT NULL,
    region  TEXT NOT NULL,
    holder  TEXT NOT NULL,
    until   TEXT NOT NULL,
    PRIMARY KEY (account, region, holder)
);
"#;

/// (version, name, SQL). Append only: never edit a released migration.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", INITIAL),
    (2, "changes", CHANGES),
    (3, "ingest_hot_path", INGEST_HOT_PATH),
    (4, "region_slots", REGION_SLOTS),
    (5, "unused_indexes", UNUSED_INDEXES),
    (6, "hashed_lookup_keys", HASHED_LOOKUP_KEYS),
    (7, "applying_seq", APPLYING_SEQ),
    (8, "reversals", REVERSALS),
    (9, "tickets", crate::tickets::TABLE),
    (10, "outbox", crate::outbox::TABLE),
    (11, "audit_subject", AUDIT_SUBJECT),
    (12, "detector_state", crate::detector_state::TABLE),
    (13, "scans", crate::scans::TABLES),
    (14, "digests", crate::digest::TABLES),
    (15, "coalescing_and_digest_caps", crate::coalesce::TABLES),
    // PostgreSQL drops its by-owner lease index here; SQLite never had
    // one. Kept so that both back ends share their version numbers.
    (
        16,
        "lease_owner_index",
        "DROP INDEX IF EXISTS jobs_lease_owner;",
    ),
];

/// The audit trail of one job or event (the console's job and finding
/// pages) is read by subject, newest first.
pub(crate) const AUDIT_SUBJECT: &str = r#"
CREATE INDEX audit_log_subject ON audit_log (subject, seq);
"#;

/// Each time rectify undid a change a principal made through the API (a
/// CloudTrail-triggered job), so that rectify stops fighting a person who
/// keeps making the same change on purpose.
pub(crate) const REVERSALS: &str = r#"
CREATE TABLE reversals (
    account   TEXT NOT NULL,
    resource  TEXT NOT NULL,
    principal TEXT NOT NULL,
    at        TEXT NOT NULL
);
CREATE INDEX reversals_by_resource ON reversals (account, resource, principal, at);
"#;

/// The audit sequence number of a job's `job.applying` record, set in the
/// same transaction as that record: a job that runs again after it knows
/// that its change may already be in place (see `Store::mark_applying`).
pub(crate) const APPLYING_SEQ: &str = "ALTER TABLE jobs ADD COLUMN applying_seq INTEGER;";

/// Events and findings are found through a 64-bit hash of their ids
/// (`rectify_key`, see `sqlite::lookup_key`) instead of a unique index on
/// the ids' text. Real ids are random (UUIDs), so every insert lands on a
/// random page of those indexes; with 165-byte finding keys each insert
/// rewrote a page of its own (35 KB written per event at 400,000 events).
/// Hashes are 10 times smaller, so many inserts share a page. Lookups
/// compare the ids themselves too; uniqueness is kept by the single
/// writer, which looks before it inserts inside its transaction. The
/// tables are rebuilt: SQLite cannot drop a primary key in place.
const HASHED_LOOKUP_KEYS: &str = r#"
CREATE TABLE events_v6 (
    id          TEXT NOT NULL,
    source      TEXT NOT NULL,
    detail_type TEXT NOT NULL,
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    time        TEXT NOT NULL,
    resources   TEXT NOT NULL,   -- JSON array
    body        TEXT NOT NULL,   -- JSON envelope, as received when unchanged
    origin      TEXT NOT NULL,
    received_at TEXT NOT NULL,
    key         INTEGER NOT NULL -- rectify_key(id)
);
INSERT INTO events_v6 SELECT id, source, detail_type, account, region, time, resources, body,
    origin, received_at, rectify_key(id) FROM events;
DROP TABLE events;
ALTER TABLE events_v6 RENAME TO events;
CREATE INDEX events_key ON events (key);

CREATE TABLE findings_v6 (
    id              TEXT NOT NULL,
    product_arn     TEXT NOT NULL,
    account         TEXT NOT NULL,
    region          TEXT NOT NULL,
    control         TEXT,
    workflow_status TEXT,
    asff_updated_at TEXT,
    last_event_id   TEXT NOT NULL,
    last_job_id     TEXT,
    last_outcome    TEXT,
    updated_at      TEXT NOT NULL,
    finding         TEXT,          -- JSON (ASFF); NULL: in last_event_id's body
    key             INTEGER NOT NULL -- rectify_key(id, product_arn)
);
INSERT INTO findings_v6 SELECT id, product_arn, account, region, control, workflow_status,
    asff_updated_at, last_event_id, last_job_id, last_outcome, updated_at, finding,
    rectify_key(id, product_arn) FROM findings;
DROP TABLE findings;
ALTER TABLE findings_v6 RENAME TO findings;
CREATE INDEX findings_key ON findings (key);
CREATE INDEX findings_updated_at ON findings (updated_at);
"#;

/// Indexes no query needs, dropped because every ingested event paid for
/// them: nothing reads events by arrival time, and listing a rule's jobs
/// walks `jobs_created_at` newest first.
const UNUSED_INDEXES: &str = r#"
DROP INDEX IF EXISTS events_received_at;
DROP INDEX IF EXISTS jobs_rule_created_at;
"#;

/// Cheaper ingest:
///
/// * A finding that arrived inside an event is not stored a second time:
///   `finding` is NULL and the ASFF is read from `last_event_id`'s body.
///   (SQLite cannot drop a NOT NULL constraint in place: the table is
///   rebuilt.)
/// * The live-key index's predicate is spelled with `=` and `OR`: an `IN`
///   list of more than two values makes SQLite build a temporary b-tree on
///   every insert. Queries that want this index repeat [`LIVE_STATES`]
///   word for word.
const INGEST_HOT_PATH: &str = r#"
CREATE TABLE findings_v3 (
    id              TEXT NOT NULL,
    product_arn     TEXT NOT NULL,
    account         TEXT NOT NULL,
    region          TEXT NOT NULL,
    control         TEXT,
    workflow_status TEXT,
    asff_updated_at TEXT,
    last_event_id   TEXT NOT NULL,
    last_job_id     TEXT,
    last_outcome    TEXT,
    updated_at      TEXT NOT NULL,
    finding         TEXT,          -- JSON (ASFF); NULL: in last_event_id's body
    PRIMARY KEY (id, product_arn)
);
INSERT INTO findings_v3 SELECT id, product_arn, account, region, control, workflow_status,
    asff_updated_at, last_event_id, last_job_id, last_outcome, updated_at, finding FROM findings;
DROP TABLE findings;
ALTER TABLE findings_v3 RENAME TO findings;
CREATE INDEX findings_updated_at ON findings (updated_at);
DROP INDEX jobs_active_idempotency_key;
CREATE UNIQUE INDEX jobs_live_idempotency_key ON jobs (idempotency_key)
    WHERE (state = 'pending' OR state = 'waiting-approval' OR state = 'running' OR state = 'retrying');
"#;

/// The predicate of `jobs_live_idempotency_key`, as queries must write it
/// for SQLite to use that index.
pub(crate) const LIVE_STATES: &str =
    "(state = 'pending' OR state = 'waiting-approval' OR state = 'running' OR state = 'retrying')";

/// Every change rectify reserved, for the per account-region rate limit
/// and the blast-radius breaker.
const CHANGES: &str = r#"
CREATE TABLE changes (
    id       INTEGER PRIMARY KEY,
    account  TEXT NOT NULL,
    region   TEXT NOT NULL,
    rule_id  TEXT NOT NULL,
    resource TEXT NOT NULL,
    at       TEXT NOT NULL
);
CREATE INDEX changes_account_region_at ON changes (account, region, at);
CREATE INDEX changes_rule_account_at ON changes (rule_id, account, at);
"#;

const INITIAL: &str = r#"
CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    detail_type TEXT NOT NULL,
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    time        TEXT NOT NULL,
    resources   TEXT NOT NULL,   -- JSON array
    body        TEXT NOT NULL,   -- JSON envelope
    origin      TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX events_received_at ON events (received_at);

CREATE TABLE findings (
    id              TEXT NOT NULL,
    product_arn     TEXT NOT NULL,
    account         TEXT NOT NULL,
    region          TEXT NOT NULL,
    control         TEXT,
    workflow_status TEXT,
    asff_updated_at TEXT,        -- the finding's own UpdatedAt
    last_event_id   TEXT NOT NULL,
    last_job_id     TEXT,
    last_outcome    TEXT,
    updated_at      TEXT NOT NULL,
    finding         TEXT NOT NULL, -- JSON (ASFF)
    PRIMARY KEY (id, product_arn)
);
CREATE INDEX findings_updated_at ON findings (updated_at);

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    rule_id         TEXT NOT NULL,
    action          TEXT NOT NULL,
    mode            TEXT NOT NULL,
    target          TEXT NOT NULL,  -- JSON
    params          TEXT NOT NULL,  -- JSON
    finding         TEXT,           -- JSON {Id, ProductArn}
    control         TEXT,
    notify          TEXT NOT NULL,  -- JSON array
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    next_run_at     TEXT,
    last_error      TEXT,
    plan            TEXT,           -- JSON Change
    outcome         TEXT,           -- JSON Outcome
    lease_owner     TEXT,
    lease_until     TEXT,
    approved_by     TEXT,
    approved_at     TEXT,
    run_at          TEXT GENERATED ALWAYS AS (COALESCE(next_run_at, created_at)) VIRTUAL
);
CREATE INDEX jobs_state_next_run_at ON jobs (state, next_run_at);
-- The claim scan (named with INDEXED BY): due jobs in run order, stopping
-- after `limit` instead of sorting the whole backlog.
CREATE INDEX jobs_due ON jobs (run_at) WHERE state IN ('pending','retrying');
CREATE INDEX jobs_lease_until ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_created_at ON jobs (created_at, id);
CREATE INDEX jobs_rule_created_at ON jobs (rule_id, created_at);
CREATE UNIQUE INDEX jobs_active_idempotency_key ON jobs (idempotency_key)
    WHERE state IN ('pending','waiting-approval','running','retrying');

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    time      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    subject   TEXT NOT NULL,
    data      TEXT NOT NULL,        -- canonical JSON, hashed as stored
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

-- Small named values: the kill switch, the audit head.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_by TEXT,
    updated_at TEXT NOT NULL
);
"#;

/// Brings the schema up to date; a no-op when it is. Runs under a write
/// lock so that two processes opening one file do not race.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let db = |op: &str, e: rusqlite::Error| StoreError::Database {
        op: op.to_string(),
        source: Box::new(e),
    };
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            applied_at TEXT NOT NULL
        )",
    )
    .map_err(|e| db("creating schema_migrations", e))?;

    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| db("starting migration", e))?;
    let current: i64 = tx
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()
        .map_err(|e| db("reading schema version", e))?
        .flatten()
        .unwrap_or(0);
    let latest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > latest {
        return Err(StoreError::Migration(format!(
            "database schema version {current} is newer than this build knows ({latest}); upgrade rectify"
        )));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.execute_batch(sql).map_err(|e| {
            StoreError::Migration(format!("applying migration {version} ({name}): {e}"))
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, name, timefmt::now()],
        )
        .map_err(|e| db("recording migration", e))?;
        tracing::info!(version, name, "applied store migration");
    }
    tx.commit().map_err(|e| db("committing migrations", e))
}
