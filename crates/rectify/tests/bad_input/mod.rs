//! For the tests of one bad message among good ones: a PostgreSQL store
//! of the test's own (a schema in the test server) and a batch of events
//! one of which PostgreSQL cannot store.

#![allow(dead_code)]

use std::process::Command;

use serde_json::{json, Value};

use crate::support::{imported, Site, REGION};

/// The index of the bad event in [`batch`].
pub const BAD: usize = 6;

/// Ten Security Hub import events, one finding each, of a control no rule
/// acts on (so they are only stored); the finding of the one at [`BAD`]
/// has a NUL character in its title, which PostgreSQL refuses.
pub fn batch(account: &str) -> Vec<Value> {
    (0..10)
        .map(|i| {
            let title = if i == BAD {
                "bucket\u{0}policy".to_string()
            } else {
                format!("bucket {i}")
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

/// The ids of the good events of a [`batch`], sorted.
pub fn good_ids(batch: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = batch
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != BAD)
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
