//! One submission the store refuses does not fail the others that share
//! its group commit: they are committed, with their jobs and audit
//! records, and only the refused one gets the error.
//!
//! PostgreSQL refuses a NUL character (`\u0000`) in a JSONB value, as a
//! finding can carry one. SQLite takes it, so there a trigger refuses the
//! same event (a constraint failure, as a CHECK would give). The events
//! are built here and handed to `Engine::submit` directly, past ingest.

mod support;

use std::sync::Arc;

use rectify_engine::Engine;
use rectify_model::Event;
use serde_json::json;
use support::local_engine;

/// Submissions made at once; one of them is refused.
const SUBMISSIONS: usize = 40;
const BAD: usize = 17;

async fn engine(url: &str) -> Arc<Engine> {
    let yaml = format!(
        "store: {url}\naccounts:\n  - id: \"111122223333\"\n\
         rules:\n  - id: noop\n    pattern: {{source: [group.test]}}\n    action: local.noop\n    mode: auto\n"
    );
    local_engine(&yaml).await
}

/// An event with one finding; the bad one has a NUL in its title.
fn event(i: usize) -> Event {
    let title = if i == BAD {
        "bucket\u{0}policy".to_string()
    } else {
        format!("bucket {i}")
    };
    let body = json!({
        "version": "0", "id": format!("group-{i}"), "source": "group.test",
        "detail-type": "Security Hub Findings - Imported", "account": "111122223333",
        "region": "eu-west-1", "time": "2026-12-01T10:00:00Z",
        "resources": [format!("arn:aws:s3:::bucket-{i}")],
        "detail": {"findings": [{
            "SchemaVersion": "2018-10-08", "Id": format!("finding-{i}"),
            "ProductArn": "arn:aws:securityhub:eu-west-1::product/aws/securityhub",
            "GeneratorId": "g", "AwsAccountId": "111122223333", "Title": title,
            "Types": [], "CreatedAt": "2026-12-01T10:00:00Z", "UpdatedAt": "2026-12-01T10:00:00Z",
            "Description": "d", "Severity": {"Label": "HIGH"},
            "Resources": [{"Type": "AwsS3Bucket", "Id": format!("arn:aws:s3:::bucket-{i}")}]
        }]}
    });
    Event {
        id: format!("group-{i}"),
        source: "group.test".into(),
        detail_type: "Security Hub Findings - Imported".into(),
        account: "111122223333".into(),
        region: "eu-west-1".into(),
        time: "2026-12-01T10:00:00Z".into(),
        resources: vec![format!("arn:aws:s3:::bucket-{i}")],
        body,
        parsed: Default::default(),
    }
}

/// Submits every event as its own submission, all at once. On this
/// single-threaded runtime each reaches the committer before it runs, so
/// all of them are in one group.
async fn submit_all_at_once(engine: &Arc<Engine>) {
    let submissions = (0..SUBMISSIONS).map(|i| {
        let engine = engine.clone();
        async move { engine.submit(vec![event(i)], "test").await }
    });
    let results = futures_util::future::join_all(submissions).await;

    for (i, result) in results.iter().enumerate() {
        if i == BAD {
            let e = result.as_ref().expect_err("the bad event must be refused");
            assert!(
                !rectify_engine::store_unavailable(e),
                "a refusal, not an outage: {e:#}"
            );
        } else {
            let submitted = result
                .as_ref()
                .unwrap_or_else(|e| panic!("submission {i} failed: {e:#}"));
            assert_eq!(submitted.len(), 1);
            assert!(submitted[0].new, "{i}");
            assert_eq!(submitted[0].jobs.len(), 1, "{i}");
        }
    }

    // Read back: every good event, its finding and its job are stored, and
    // nothing of the bad one.
    let store = engine.store();
    let ids: Vec<String> = (0..SUBMISSIONS).map(|i| format!("group-{i}")).collect();
    let known = store.known_events(&ids).await.unwrap();
    let expected: std::collections::BTreeSet<String> = (0..SUBMISSIONS)
        .filter(|&i| i != BAD)
        .map(|i| format!("group-{i}"))
        .collect();
    assert_eq!(known, expected);
    let jobs = store
        .list_jobs(&rectify_store::JobFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut job_events: Vec<String> = jobs.iter().map(|j| j.event_id.clone()).collect();
    job_events.sort();
    assert_eq!(job_events, expected.iter().cloned().collect::<Vec<_>>());
    // One ingest audit record per stored submission, in an intact chain.
    let audit = store.audit(0, 1000).await.unwrap();
    let mut subjects: Vec<String> = audit
        .iter()
        .filter(|r| r.kind == "ingest")
        .map(|r| r.subject.clone())
        .collect();
    subjects.sort();
    assert_eq!(subjects, expected.iter().cloned().collect::<Vec<_>>());
    assert!(store.verify_audit().await.unwrap().is_intact());

    // A later submission goes through as usual.
    let again = engine.submit(vec![event(SUBMISSIONS)], "test").await;
    assert!(again.is_ok(), "{again:?}");
}

/// The test's own schema in the test server, dropped even when it fails.
struct Schema {
    server: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([
                self.server.as_str(),
                "-qc",
                &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
            ])
            .output();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn on_postgres_a_nul_in_one_finding_fails_only_its_submission() {
    let schema = Schema {
        server: std::env::var("RECTIFY_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        name: format!("rectify_group_{}", std::process::id()),
    };
    let engine = engine(&format!("{}?schema={}", schema.server, schema.name)).await;
    submit_all_at_once(&engine).await;
}

#[tokio::test(flavor = "current_thread")]
async fn on_sqlite_a_refused_event_fails_only_its_submission() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("group.db");
    let engine = engine(&format!("sqlite://{}", path.display())).await;
    // The store's schema exists now; refuse the event PostgreSQL refuses.
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        r"CREATE TRIGGER refuse_nul BEFORE INSERT ON events
          WHEN instr(NEW.body, '\u0000') > 0
          BEGIN SELECT RAISE(ABORT, 'NUL character refused'); END;",
    )
    .unwrap();
    drop(db);
    submit_all_at_once(&engine).await;
}

/// A store that cannot write (another process holds SQLite's write lock
/// past the busy timeout) fails the whole group at once: splitting it
/// would only wait out the timeout once per part.
#[tokio::test(flavor = "current_thread")]
async fn on_sqlite_a_busy_store_fails_the_group_without_splitting_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let engine = engine(&format!("sqlite://{}", path.display())).await;
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();

    let started = std::time::Instant::now();
    let submissions = (0..8).map(|i| {
        let engine = engine.clone();
        async move { engine.submit(vec![event(100 + i)], "test").await }
    });
    let results = futures_util::future::join_all(submissions).await;
    let took = started.elapsed();
    for result in &results {
        let e = result.as_ref().expect_err("the store is locked");
        assert!(rectify_engine::store_unavailable(e), "{e:#}");
    }
    // One wait of the 5 s busy timeout, not one per part of a split.
    assert!(took < std::time::Duration::from_secs(9), "{took:?}");

    db.execute_batch("ROLLBACK").unwrap();
    let ids: Vec<String> = (100..108).map(|i| format!("group-{i}")).collect();
    assert!(engine.store().known_events(&ids).await.unwrap().is_empty());
    // Once the lock is gone the same submission goes through.
    engine.submit(vec![event(100)], "test").await.unwrap();
}
