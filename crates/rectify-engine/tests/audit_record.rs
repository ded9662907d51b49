//! The ingest audit record: which events came, which were redeliveries or
//! matched nothing, and which jobs each rule created.

use std::sync::Arc;

use rectify_config::Loader;
use rectify_engine::quiet::{NoFindingUpdates, NoNotifications};
use rectify_engine::{Engine, EngineOptions};
use rectify_model::Event;
use serde_json::json;

fn event(id: &str, source: &str) -> Event {
    let body = json!({
        "version": "0", "id": id, "source": source, "detail-type": "t",
        "account": "111122223333", "region": "eu-west-1", "time": "2026-12-01T10:00:00Z",
        "resources": [format!("res-{id}")], "detail": {}
    });
    rectify_ingest::event_from_value(body.clone(), body.to_string().as_bytes()).unwrap()
}

#[tokio::test]
async fn ingest_record_lists_events_redeliveries_and_jobs_per_rule() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let yaml = format!(
        "store: {url}\naccounts:\n  - id: \"111122223333\"\n\
                rules:\n  - id: noop\n    pattern: {{source: [audit.test]}}\n    action: local.noop\n    mode: auto\n"
    );
    let config = Loader::new()
        .load_str(&yaml, std::path::Path::new("audit.yaml"))
        .unwrap_or_else(|d| panic!("{d:?}"));
    let engine = Engine::new(
        Arc::new(config),
        rectify_store::open(&url).await.unwrap(),
        rectify_local::catalog(),
        Arc::new(NoFindingUpdates),
        Arc::new(NoNotifications),
        EngineOptions::default(),
    )
    .unwrap();
    let first = engine
        .submit(vec![event("a", "audit.test"), event("b", "other")], "test")
        .await
        .unwrap();
    let job = first[0].jobs[0].id.clone();
    engine
        .submit(vec![event("a", "audit.test")], "test")
        .await
        .unwrap();

    let records = engine.store().audit(0, 100).await.unwrap();
    let ingests: Vec<_> = records.iter().filter(|r| r.kind == "ingest").collect();
    assert_eq!(ingests.len(), 2);
    let data = &ingests[0].data;
    assert_eq!(data["origin"], "test");
    assert_eq!(data["events"], json!(["a", "b"]));
    assert_eq!(data["kinds"], json!({"audit.test / t": 1, "other / t": 1}));
    assert_eq!(data["unmatched"], json!([1]));
    assert!(data.get("redelivered").is_none());
    assert_eq!(data["jobs"]["noop"]["action"], "local.noop");
    assert_eq!(data["jobs"]["noop"]["mode"], "auto");
    assert_eq!(
        data["jobs"]["noop"]["created"],
        json!([[job, 0, "111122223333/eu-west-1//res-a", "pending"]])
    );
    // The redelivery: no new job (the queued one absorbs it).
    let again = &ingests[1].data;
    assert_eq!(again["redelivered"], json!([0]));
    assert_eq!(again["jobs"], json!({}));
}
