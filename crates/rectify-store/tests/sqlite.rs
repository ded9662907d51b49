//! What only the SQLite back end has: the in-memory database and file URLs.

mod support;

use std::collections::BTreeMap;

use rectify_model::Event;
use rectify_store::{open, StoreError};
use serde_json::json;

/// The shared test event, naming no resource, with a body of its id only.
fn event(id: &str) -> Event {
    Event {
        resources: vec![],
        body: json!({ "id": id }),
        ..support::event(id)
    }
}

#[tokio::test]
async fn in_memory_and_invalid_urls() {
    let store = open("sqlite::memory:").await.unwrap();
    assert!(store.record_event(&event("e"), "stdin").await.unwrap());
    let counts: BTreeMap<String, u64> = store.count_jobs().await.unwrap();
    assert_eq!(counts.values().sum::<u64>(), 0);
    for bad in ["sqlite://", "sqlite://x.db?mode=ro", "mysql://h/db"] {
        assert!(
            matches!(open(bad).await, Err(StoreError::InvalidUrl { .. })),
            "{bad}"
        );
    }
}

/// A database written before migration 6 (events and findings keyed by
/// their ids' text) upgrades in place: rows keep their data, gain their
/// lookup keys, and are found again (a redelivered event is recognised,
/// a finding is updated rather than added, and reads back from its event).
#[tokio::test]
async fn upgrade_to_hashed_lookup_keys_keeps_events_and_findings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}", path.display());
    drop(open(&url).await.unwrap());
    // Back to the tables of migrations 3 to 5 (and none of the later
    // ones), with one event and the
    // finding it carried.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        r#"
        DROP TABLE events;
        CREATE TABLE events (id TEXT PRIMARY KEY, source TEXT NOT NULL, detail_type TEXT NOT NULL,
            account TEXT NOT NULL, region TEXT NOT NULL, time TEXT NOT NULL,
            resources TEXT NOT NULL, body TEXT NOT NULL, origin TEXT NOT NULL,
            received_at TEXT NOT NULL);
        DROP TABLE findings;
        CREATE TABLE findings (id TEXT NOT NULL, product_arn TEXT NOT NULL, account TEXT NOT NULL,
            region TEXT NOT NULL, control TEXT, workflow_status TEXT, asff_updated_at TEXT,
            last_event_id TEXT NOT NULL, last_job_id TEXT, last_outcome TEXT,
            updated_at TEXT NOT NULL, finding TEXT, PRIMARY KEY (id, product_arn));
        CREATE INDEX findings_updated_at ON findings (updated_at);
        INSERT INTO events VALUES ('old-event', 'aws.securityhub', 'Security Hub Findings - Imported',
            '111122223333', 'us-east-1', '2024-05-01T12:00:00Z', '[]',
            '{"id":"old-event","detail":{"findings":[{"Id":"f-old","ProductArn":"arn:p","UpdatedAt":"2024-05-01T12:00:00.000Z"}]}}',
            'http', '2024-05-01T12:00:01.000Z');
        INSERT INTO findings VALUES ('f-old', 'arn:p', '111122223333', 'us-east-1', NULL, 'NEW',
            '2024-05-01T12:00:00.000Z', 'old-event', NULL, NULL, '2024-05-01T12:00:01.000Z', NULL);
        ALTER TABLE jobs DROP COLUMN applying_seq;
        DROP TABLE reversals;
        DROP TABLE tickets;
        DROP INDEX audit_log_subject;
        DROP TABLE coalesce_windows; DROP TABLE digest_items;
        DROP TABLE digest_periods;
        DROP TABLE detector_state;
        DROP TABLE scans;
        DROP TABLE scan_schedule;
        DROP TABLE outbox;
        DELETE FROM schema_migrations WHERE version >= 6;
        "#,
    )
    .unwrap();
    drop(conn);

    let store = open(&url).await.unwrap();
    assert!(!store
        .record_event(&event("old-event"), "http")
        .await
        .unwrap());
    let findings = store.list_findings(10, None).await.unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].id, "f-old");
    assert_eq!(findings[0].finding["UpdatedAt"], "2024-05-01T12:00:00.000Z");
    // A newer generation updates the same row.
    let newer = json!({"Id": "f-old", "ProductArn": "arn:p", "AwsAccountId": "111122223333",
        "UpdatedAt": "2024-06-01T00:00:00.000Z", "Workflow": {"Status": "NOTIFIED"}});
    store.upsert_finding("new-event", &newer).await.unwrap();
    let findings = store.list_findings(10, None).await.unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].workflow_status.as_deref(), Some("NOTIFIED"));
    assert_eq!(findings[0].last_event_id, "new-event");
    // An older one does not.
    store
        .upsert_finding(
            "stale-event",
            &json!({"Id": "f-old", "ProductArn": "arn:p",
        "AwsAccountId": "111122223333", "UpdatedAt": "2024-01-01T00:00:00.000Z"}),
        )
        .await
        .unwrap();
    assert_eq!(
        store.list_findings(10, None).await.unwrap()[0].last_event_id,
        "new-event"
    );
}

/// A database from before digests were held in the store (schema 13)
/// upgrades in place: its outbox is kept, and digests are held from then on.
#[tokio::test]
async fn upgrade_to_digests_keeps_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}", path.display());
    let store = open(&url).await.unwrap();
    let owed = rectify_store::OutboxItem {
        id: "m-1".into(),
        channel: "ops".into(),
        job_id: "j-1".into(),
        outcome: "changed".into(),
        body: json!({"subject": "s", "message": {"job": "j-1"}}),
        attempts: 1,
        next_attempt_at: "2026-12-01T10:00:00.000Z".into(),
        state: rectify_store::outbox::PENDING.into(),
        last_error: None,
        created_at: "2026-12-01T10:00:00.000Z".into(),
        updated_at: "2026-12-01T10:00:00.000Z".into(),
    };
    store.outbox_put(std::slice::from_ref(&owed)).await.unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE coalesce_windows; DROP TABLE digest_items; DROP TABLE digest_periods;
         DELETE FROM schema_migrations WHERE version >= 14;",
    )
    .unwrap();
    drop(conn);

    let store = open(&url).await.unwrap();
    assert_eq!(store.outbox_for_job("j-1").await.unwrap(), [owed]);
    let past = rectify_store::timefmt::now_minus(std::time::Duration::from_secs(1));
    let item = rectify_store::DigestItem {
        channel: "ops".into(),
        item_key: "k".into(),
        id: "i-1".into(),
        item: json!({"resource": "r"}),
        received: 1,
        period_ends_at: past,
        max_items: 10_000,
    };
    store.digest_put(&[item]).await.unwrap();
    let claimed = store
        .digest_claim(
            "t",
            &rectify_store::timefmt::now_plus(std::time::Duration::from_secs(60)),
            5,
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].items[0].item["resource"], "r");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let name: String = conn
        .query_row(
            "SELECT name FROM schema_migrations WHERE version = 14",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(name, "digests");
}
