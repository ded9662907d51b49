//! A fresh database per test, for either back end, plus raw SQL access for
//! tampering and inspection.
//!
//! PostgreSQL tests use the server at `RECTIFY_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test gets its own
//! schema (the store's `schema=` URL parameter), dropped when the test ends,
//! so tests run in parallel and leave nothing behind.

#![allow(dead_code)]

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rectify_store::{open, Store};
use tempfile::TempDir;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn postgres_server_url() -> String {
    std::env::var("RECTIFY_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub kind: Kind,
    url: String,
    dir: Option<TempDir>,
    /// PostgreSQL: the server URL and the test's schema.
    pg: Option<(String, String)>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A schema name unique across processes and runs.
pub fn unique_schema() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "rectify_test_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn with_param(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

impl TestDb {
    pub async fn new(kind: Kind) -> TestDb {
        match kind {
            Kind::Sqlite => Self::sqlite(),
            Kind::Postgres => Self::postgres(),
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}",
            dir.path().join("nested/dir/rectify.db").display()
        );
        TestDb {
            kind: Kind::Sqlite,
            url,
            dir: Some(dir),
            pg: None,
        }
    }

    pub fn postgres() -> TestDb {
        let server = postgres_server_url();
        let schema = unique_schema();
        TestDb {
            kind: Kind::Postgres,
            url: with_param(&server, &format!("schema={schema}")),
            dir: None,
            pg: Some((server, schema)),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new store handle (a new connection or pool: another "replica").
    pub async fn open(&self) -> Arc<dyn Store> {
        open(&self.url)
            .await
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.url))
    }

    /// Runs SQL (one or more statements) straight on the database.
    pub async fn exec(&self, sql: &str) {
        match self.kind {
            Kind::Sqlite => self.sqlite_conn().execute_batch(sql).unwrap(),
            Kind::Postgres => self.pg_conn().await.batch_execute(sql).await.unwrap(),
        }
    }

    /// Rows of a query, every value as text (NULL as None).
    pub async fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        match self.kind {
            Kind::Sqlite => {
                let c = self.sqlite_conn();
                let mut stmt = c.prepare(sql).unwrap();
                let n = stmt.column_count();
                let mut rows = stmt.query([]).unwrap();
                let mut out = Vec::new();
                while let Some(row) = rows.next().unwrap() {
                    let mut vals = Vec::new();
                    for i in 0..n {
                        use rusqlite::types::ValueRef;
                        vals.push(match row.get_ref(i).unwrap() {
                            ValueRef::Null => None,
                            ValueRef::Integer(v) => Some(v.to_string()),
                            ValueRef::Real(v) => Some(v.to_string()),
                            ValueRef::Text(t) | ValueRef::Blob(t) => {
                                Some(String::from_utf8_lossy(t).into_owned())
                            }
                        });
                    }
                    out.push(vals);
                }
                out
            }
            Kind::Postgres => {
                let c = self.pg_conn().await;
                c.simple_query(sql)
                    .await
                    .unwrap()
                    .into_iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(r) => {
                            Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
                        }
                        _ => None,
                    })
                    .collect()
            }
        }
    }

    /// SQL that sets the recorded audit chain head.
    /// SQL that sets the recorded head of `lane` (always 0 on SQLite).
    pub fn set_audit_head_sql(&self, lane: u32, seq: i64, hash: &str) -> String {
        match self.kind {
            Kind::Sqlite => {
                assert_eq!(lane, 0, "a log on SQLite has one lane");
                format!(
                    "INSERT INTO settings (key, value, updated_at) VALUES ('audit.head', '{seq} {hash}', 'x') \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                )
            }
            Kind::Postgres => {
                format!("UPDATE audit_lanes SET seq = {seq}, hash = '{hash}' WHERE lane = {lane}")
            }
        }
    }

    /// The expression of a record's lane in `audit_log` (SQLite has none).
    pub fn lane_column(&self) -> &'static str {
        match self.kind {
            Kind::Sqlite => "0",
            Kind::Postgres => "lane",
        }
    }

    fn sqlite_conn(&self) -> rusqlite::Connection {
        let path = self
            .dir
            .as_ref()
            .unwrap()
            .path()
            .join("nested/dir/rectify.db");
        let c = rusqlite::Connection::open(path).unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c
    }

    /// A plain connection with the test's schema first in the search path.
    pub async fn pg_conn(&self) -> tokio_postgres::Client {
        let (server, schema) = self.pg.as_ref().expect("a PostgreSQL test database");
        pg_connect(server, Some(schema)).await
    }
}

pub async fn pg_connect(server: &str, schema: Option<&str>) -> tokio_postgres::Client {
    let mut config = tokio_postgres::Config::from_str(server).unwrap();
    if let Some(schema) = schema {
        config.options(format!("-c search_path={schema}"));
    }
    let (client, conn) = config
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL server {server}: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, schema)) = self.pg.take() else {
            return;
        };
        // Drop the schema from a thread of its own: Drop cannot await, and
        // the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let c = pg_connect(&server, None).await;
                let _ = c
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                    .await;
            });
        })
        .join();
    }
}

/// Doubles single quotes for an SQL string literal.
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// An imported-finding event about one bucket: the event the store tests
/// record.
pub fn event(id: &str) -> rectify_model::Event {
    rectify_model::Event {
        id: id.into(),
        source: "aws.securityhub".into(),
        detail_type: "Security Hub Findings - Imported".into(),
        account: "111122223333".into(),
        region: "us-east-1".into(),
        time: "2024-05-01T12:00:00Z".into(),
        resources: vec!["arn:aws:s3:::b".into()],
        body: serde_json::json!({"id": id, "detail": {"findings": [{"Id": "f"}]}}),
        parsed: Default::default(),
    }
}

/// A pending job with a finding, a control and a plan: the job the store
/// tests enqueue and move through its states.
pub fn job(id: &str, key: &str) -> rectify_model::Job {
    let now = rectify_model::now_rfc3339();
    rectify_model::Job {
        id: id.into(),
        idempotency_key: key.into(),
        event_id: "e-1".into(),
        rule_id: "rule-a".into(),
        action: "aws.s3.block-public-access".into(),
        mode: rectify_model::Mode::Auto,
        target: rectify_model::Target {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            partition: "aws".into(),
            resource_type: "AwsS3Bucket".into(),
            resource_id: "arn:aws:s3:::b".into(),
            tags: Default::default(),
            details: serde_json::Value::Null,
        },
        params: serde_json::json!({"x": 1}),
        finding: Some(rectify_model::FindingRef {
            id: "f-1".into(),
            product_arn: "arn:p".into(),
            generator_id: None,
            severity: None,
        }),
        control: Some("S3.8".into()),
        notify: vec!["team".into()],
        state: rectify_model::JobState::Pending,
        attempts: 0,
        created_at: now.clone(),
        updated_at: now,
        next_run_at: None,
        last_error: None,
        approved_by: None,
        plan: Some(rectify_model::Change {
            summary: "block".into(),
            before: serde_json::json!({"a": false}),
            after: serde_json::json!({"a": true}),
        }),
        outcome: None,
    }
}
