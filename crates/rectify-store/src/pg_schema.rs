//! Versioned PostgreSQL schema migrations, recorded in `schema_migrations`
//! and applied under a transaction-scoped advisory lock, so that several
//! replicas starting at once apply each migration exactly once.
//!
//! The tables mirror the SQLite schema ([`crate::schema`]): the same
//! columns, the same text time format, the same partial unique index on
//! live idempotency keys. Text columns that are compared or ordered use the
//! `"C"` collation so that they sort by bytes, as in SQLite (the time format
//! relies on it, and so does the job-id prefix lookup).

use deadpool_postgres::Object;

use crate::audit::{GENESIS_HASH, PG_AUDIT_LANES};
use crate::{timefmt, Result, StoreError};

/// Account-region slots: at most N changes in flight in one account-region
/// across every replica (`guardrails.max_concurrent_per_account_region`).
/// A slot held by a replica that died frees itself at `until`.
const REGION_SLOTS: &str = r#"
CREATE TABLE region_slots (
    account TEXT NOT NULL,
    region  TEXT NOT NULL,
    holder  TEXT NOT NULL,
    until   TEXT COLLATE "C" NOT NULL,
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
    (6, "applying_seq", crate::schema::APPLYING_SEQ),
    (7, "reversals", crate::schema::REVERSALS),
    (8, "tickets", crate::tickets::TABLE),
    (9, "audit_lanes", AUDIT_LANES),
    (10, "outbox", crate::outbox::TABLE),
    (11, "audit_subject", crate::schema::AUDIT_SUBJECT),
    (12, "detector_state", crate::detector_state::TABLE),
    (13, "scans", crate::scans::TABLES),
    (14, "digests", crate::digest::TABLES),
    (15, "coalescing_and_digest_caps", crate::coalesce::TABLES),
    (16, "lease_owner_index", LEASE_OWNER_INDEX),
];

/// Every job passes through `running`, and each pass left an entry under
/// its worker's name in this index that only `VACUUM` removes; all of a
/// worker's entries share one key, so a lease check by worker walked
/// every job the worker had ever run (3.8 ms a check after 10,000 jobs
/// with autovacuum off). The checks go by job id (the primary key); the
/// rare reads by worker (a restart releasing its jobs) walk the running
/// jobs' `jobs_lease_until`.
const LEASE_OWNER_INDEX: &str = "DROP INDEX IF EXISTS jobs_lease_owner;";

/// The audit chain in lanes (see [`crate::audit`]): one head row per lane,
/// so that appends to different lanes do not wait for each other, and one
/// sequence for every record's seq. Records written before stay in lane 0,
/// whose head continues from the old single head.
const AUDIT_LANES: &str = r#"
ALTER TABLE audit_log ADD COLUMN lane INTEGER NOT NULL DEFAULT 0;
CREATE INDEX audit_log_lane_seq ON audit_log (lane, seq);
CREATE TABLE audit_lanes (
    lane INTEGER PRIMARY KEY CHECK (lane >= 0),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_lanes (lane, seq, hash) SELECT 0, seq, hash FROM audit_head;
INSERT INTO audit_lanes (lane, seq, hash)
    SELECT g, 0, '{GENESIS}' FROM generate_series(1, {LANES} - 1) AS g;
CREATE SEQUENCE audit_seq AS BIGINT MINVALUE 1;
SELECT setval('audit_seq', GREATEST(last, 1), last > 0)
    FROM (SELECT GREATEST((SELECT COALESCE(MAX(seq), 0) FROM audit_head),
                          (SELECT COALESCE(MAX(seq), 0) FROM audit_log)) AS last) AS l;
DROP TABLE audit_head;
"#;

/// Indexes no query needs, dropped because every ingested event paid for
/// them: nothing reads events by arrival time, and listing a rule's jobs
/// walks `jobs_created_at` newest first.
const UNUSED_INDEXES: &str = r#"
DROP INDEX IF EXISTS events_received_at;
DROP INDEX IF EXISTS jobs_rule_created_at;
"#;

/// A finding that arrived inside an event is not stored a second time:
/// `finding` is NULL and the ASFF is read from `last_event_id`'s body.
const INGEST_HOT_PATH: &str = "ALTER TABLE findings ALTER COLUMN finding DROP NOT NULL;";

/// Every change rectify reserved, for the per account-region rate limit
/// and the blast-radius breaker.
const CHANGES: &str = r#"
CREATE TABLE changes (
    id       BIGSERIAL PRIMARY KEY,
    account  TEXT NOT NULL,
    region   TEXT NOT NULL,
    rule_id  TEXT NOT NULL,
    resource TEXT NOT NULL,
    at       TEXT NOT NULL COLLATE "C"
);
CREATE INDEX changes_account_region_at ON changes (account, region, at);
CREATE INDEX changes_rule_account_at ON changes (rule_id, account, at);
"#;

/// First key of the advisory lock taken around migrations; the second is
/// the hash of the schema name, so stores in different schemas of one
/// database migrate independently.
const MIGRATION_LOCK: i32 = 0x5245_4354; // "RECT"

const INITIAL: &str = r#"
CREATE TABLE events (
    id          TEXT COLLATE "C" PRIMARY KEY,
    source      TEXT NOT NULL,
    detail_type TEXT NOT NULL,
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    time        TEXT COLLATE "C" NOT NULL,
    resources   JSONB NOT NULL,
    body        JSONB NOT NULL,    -- the envelope
    origin      TEXT NOT NULL,
    received_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX events_received_at ON events (received_at);

CREATE TABLE findings (
    id              TEXT COLLATE "C" NOT NULL,
    product_arn     TEXT COLLATE "C" NOT NULL,
    account         TEXT NOT NULL,
    region          TEXT NOT NULL,
    control         TEXT,
    workflow_status TEXT,
    asff_updated_at TEXT COLLATE "C",  -- the finding's own UpdatedAt
    last_event_id   TEXT NOT NULL,
    last_job_id     TEXT,
    last_outcome    TEXT,
    updated_at      TEXT COLLATE "C" NOT NULL,
    finding         JSON NOT NULL,     -- ASFF, kept as received
    PRIMARY KEY (id, product_arn)
);
CREATE INDEX findings_updated_at ON findings (updated_at);

-- JSON (not JSONB) columns keep the text as written, key order included,
-- so a job reads back exactly as it was stored.
CREATE TABLE jobs (
    id              TEXT COLLATE "C" PRIMARY KEY,
    idempotency_key TEXT COLLATE "C" NOT NULL,
    event_id        TEXT NOT NULL,
    rule_id         TEXT COLLATE "C" NOT NULL,
    action          TEXT NOT NULL,
    mode            TEXT NOT NULL,
    target          JSON NOT NULL,
    params          JSON NOT NULL,
    finding         JSON,              -- {Id, ProductArn}
    control         TEXT,
    notify          JSON NOT NULL,     -- array
    state           TEXT COLLATE "C" NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at      TEXT COLLATE "C" NOT NULL,
    updated_at      TEXT COLLATE "C" NOT NULL,
    next_run_at     TEXT COLLATE "C",
    last_error      TEXT,
    plan            JSON,              -- Change
    outcome         JSON,              -- Outcome
    lease_owner     TEXT COLLATE "C",
    lease_until     TEXT COLLATE "C",
    approved_by     TEXT,
    approved_at     TEXT COLLATE "C",
    run_at          TEXT COLLATE "C" GENERATED ALWAYS AS (COALESCE(next_run_at, created_at)) STORED
);
CREATE INDEX jobs_state_next_run_at ON jobs (state, next_run_at);
-- The claim scan: due jobs in run order, and running jobs by lease expiry.
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE state IN ('pending', 'retrying');
CREATE INDEX jobs_lease_until ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_created_at ON jobs (created_at, id);
CREATE INDEX jobs_rule_created_at ON jobs (rule_id, created_at);
CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE state = 'running';
CREATE UNIQUE INDEX jobs_active_idempotency_key ON jobs (idempotency_key)
    WHERE state IN ('pending', 'waiting-approval', 'running', 'retrying');
-- A queue table churns: vacuum and refresh its statistics early, so that the
-- claim keeps walking jobs_due instead of sorting the backlog.
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.05,
                      autovacuum_analyze_scale_factor = 0.02);

CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    time      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    subject   TEXT NOT NULL,
    data      TEXT NOT NULL,           -- canonical JSON, hashed as stored
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

-- The chain's tip: exactly one row, locked (SELECT ... FOR UPDATE) by every
-- append, which serialises appenders across replicas.
CREATE TABLE audit_head (
    id   BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (TRUE, 0, '{GENESIS}');

-- Small named values: the kill switch.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_by TEXT,
    updated_at TEXT NOT NULL
);
"#;

fn db(op: &str, e: tokio_postgres::Error) -> StoreError {
    StoreError::Database {
        op: op.to_string(),
        source: Box::new(e),
    }
}

/// Brings the schema up to date; a no-op when it is. With `schema` Some,
/// that schema is created first (the connections' `search_path` names it).
pub(crate) async fn migrate(client: &mut Object, schema: Option<&str>) -> Result<()> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| db("starting migration", e))?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&MIGRATION_LOCK, &schema.unwrap_or("")],
    )
    .await
    .map_err(|e| db("taking the migration lock", e))?;
    // What exists is not created again: PostgreSQL checks the right to
    // create before it checks existence, and a role that may only use
    // rectify's tables (made by another role) must still open them.
    if let Some(schema) = schema {
        let exists = tx
            .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
            .await
            .map_err(|e| db(&format!("looking for schema {schema}"), e))?
            .is_some();
        if !exists {
            // The name was checked to be a plain lower-case identifier.
            tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .await
                .map_err(|e| db(&format!("creating schema {schema}"), e))?;
        }
    }
    let recorded = tx
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await
        .map_err(|e| db("looking for schema_migrations", e))?
        .get::<_, bool>(0);
    if !recorded {
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    BIGINT PRIMARY KEY,
                name       TEXT NOT NULL,
                applied_at TEXT NOT NULL
            )",
        )
        .await
        .map_err(|e| db("creating schema_migrations", e))?;
    }
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
            &[],
        )
        .await
        .map_err(|e| db("reading schema version", e))?
        .get(0);
    let latest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > latest {
        return Err(StoreError::Migration(format!(
            "database schema version {current} is newer than this build knows ({latest}); upgrade rectify"
        )));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let sql = sql
            .replace("{GENESIS}", GENESIS_HASH)
            .replace("{LANES}", &PG_AUDIT_LANES.to_string());
        tx.batch_execute(&sql).await.map_err(|e| {
            StoreError::Migration(format!("applying migration {version} ({name}): {e}"))
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[version, name, &timefmt::now()],
        )
        .await
        .map_err(|e| db("recording migration", e))?;
        tracing::info!(version, name, "applied store migration");
    }
    tx.commit()
        .await
        .map_err(|e| db("committing migrations", e))
}
