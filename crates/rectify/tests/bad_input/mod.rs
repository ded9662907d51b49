//! For the tests of bad messages among good ones: a PostgreSQL store of
//! the test's own (a schema in the test server) and a batch of events two
//! of which can never be stored. One has a NUL character, which PostgreSQL
//! refuses (and ingest refuses before it); the other breaks a CHECK
//! constraint the test adds to the store, a refusal only the store makes.

#![allow(dead_code)]

use std::process::Command;

use serde_json::{json, Value};

use crate::support::{imported, Site, REGION};

/// The index in [`batch`] of the event the CHECK constraint refuses.
pub const CHECKED: usize = 3;
/// The index in [`batch`] of the event with a NUL character.
pub const NUL: usize = 6;
/// What the CHECK constraint refuses in an event.
const MARKER: &str = "refused-by-check";

/// Ten Security Hub import events, one finding each, of a control no rule
/// acts on (so they are only stored); the findings at [`CHECKED`] and
/// [`NUL`] can never be stored.
pub fn batch(account: &str) -> Vec<Value> {
    (0..10)
        .map(|i| {
            let title = match i {
                NUL => "bucket\u{0}policy".to_string(),
                CHECKED => format!("bucket {MARKER}"),
                _ => format!("bucket {i}"),
            };
            let finding = json!({
                "SchemaVersion": "2018-10-08",
                "Id": format!("arn:aws:securityhub:{REGION}:{account}:security-control/Test.1/finding/{}", rand::random::<u64>()),
                "ProductArn": format!("arn:aws:securityhub:{REGION}::product/aws/securityhub"),
                "GeneratorId": "security-control/Test.1",
                "AwsAccountId": account,
                "Region": REGION,
                "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
                "CreatedAt": "2026-11-29T09:00:00.000Z",
                "UpdatedAt": "2026-11-29T09:00:00.000Z",
                "Severity": {"Label": "HIGH"},
                "Title": title,
                "Description": "test finding",
                "Compliance": {"Status": "FAILED", "SecurityControlId": "Test.1"},
                "Workflow": {"Status": "NEW"},
                "RecordState": "ACTIVE",
                "Resources": [{"Type": "AwsS3Bucket", "Id": format!("arn:aws:s3:::bucket-{i}"), "Region": REGION}]
            });
            imported(account, vec![finding])
        })
        .collect()
}

/// Whether the event at `i` of a [`batch`] can be stored.
pub fn good(i: usize) -> bool {
    i != CHECKED && i != NUL
}

/// The ids of the good events of a [`batch`], sorted.
pub fn good_ids(batch: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = batch
        .iter()
        .enumerate()
        .filter(|(i, _)| good(*i))
        .map(|(_, e)| e["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Its own schema in the test PostgreSQL server (`RECTIFY_TEST_POSTGRES_URL`),
/// dropped on drop.
pub struct PgSchema {
    server: String,
    pub schema: String,
}

impl PgSchema {
    pub fn new(prefix: &str) -> PgSchema {
        let server = std::env::var("RECTIFY_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let schema = format!("{prefix}_{}", rand::random::<u32>());
        PgSchema { server, schema }
    }

    pub fn url(&self) -> String {
        format!("{}?schema={}", self.server, self.schema)
    }

    /// Makes the site's config use this schema as its store.
    pub fn use_in(&self, site: &Site) {
        let path = site.path("rectify.yaml");
        let config = std::fs::read_to_string(&path).unwrap();
        let store = config.lines().find(|l| l.starts_with("store:")).unwrap();
        let config = config.replace(store, &format!("store: {}", self.url()));
        std::fs::write(&path, config).unwrap();
    }

    /// Once rectify has created its tables here, adds the CHECK constraint
    /// that refuses the event at [`CHECKED`].
    pub fn refuse_checked(&self) {
        let table = format!("SELECT to_regclass('{}.events')", self.schema);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.column(&table) != [format!("{}.events", self.schema)] {
            assert!(std::time::Instant::now() < deadline, "no events table");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        self.column(&format!(
            "ALTER TABLE {}.events ADD CONSTRAINT no_marker \
             CHECK (position('{MARKER}' in body::text) = 0)",
            self.schema
        ));
    }

    /// One column of a query's rows.
    pub fn column(&self, sql: &str) -> Vec<String> {
        let out = Command::new("psql")
            .args([self.server.as_str(), "-XAtc", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                self.server.as_str(),
                "-qc",
                &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema),
            ])
            .output();
    }
}
