//! What only the SQLite back end has: the in-memory database and file URLs.

use std::collections::BTreeMap;

use rectify_model::Event;
use rectify_store::{open, StoreError};
use serde_json::json;

#[tokio::test]
async fn in_memory_and_invalid_urls() {
    let store = open("sqlite::memory:").await.unwrap();
    let event = Event {
        id: "e".into(),
        source: "aws.securityhub".into(),
        detail_type: "Security Hub Findings - Imported".into(),
        account: "111122223333".into(),
        region: "us-east-1".into(),
        time: "2024-05-01T12:00:00Z".into(),
        resources: vec![],
        body: json!({"id": "e"}),
        parsed: Default::default(),
    };
    assert!(store.record_event(&event, "stdin").await.unwrap());
    let counts: BTreeMap<String, u64> = store.count_jobs().await.unwrap();
    assert_eq!(counts.values().sum::<u64>(), 0);
    for bad in ["sqlite://", "sqlite://x.db?mode=ro", "mysql://h/db"] {
        assert!(
            matches!(open(bad).await, Err(StoreError::InvalidUrl { .. })),
            "{bad}"
        );
    }
}
