//! Through the engine: a settled job is sent to its rule's webhook, signed,
//! and each delivery is audited; a channel that is down is audited as
//! `notification.failed` and the job still succeeds.

mod receiver;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use receiver::{Receiver, Reply};
use rectify_config::Loader;
use rectify_engine::quiet::NoFindingUpdates;
use rectify_engine::{Engine, EngineOptions};
use rectify_model::{ActionError, Event, JobState, Notification, Notifier};
use rectify_notify::{ChannelNotifier, Retry};
use serde_json::{json, Value};

const SECRET: &str = "whsec-engine-0123456789abcdef";

fn env(name: &str) -> Option<String> {
    (name == "HOOK_SECRET").then(|| SECRET.to_string())
}

struct NoSns;

#[async_trait]
impl Notifier for NoSns {
    async fn publish(&self, _: &str, _: &Notification) -> Result<(), ActionError> {
        panic!("no SNS channel is configured")
    }
}

fn event(id: &str) -> Event {
    let body = json!({
        "version": "0", "id": id, "source": "notify.test", "detail-type": "t",
        "account": "111122223333", "region": "eu-west-1", "time": "2026-12-01T10:00:00Z",
        "resources": [format!("res-{id}")], "detail": {}
    });
    rectify_ingest::event_from_value(body.clone(), body.to_string().as_bytes()).unwrap()
}

#[tokio::test]
async fn a_settled_job_reaches_its_webhook_and_a_dead_one_is_audited() {
    let rx = Receiver::start(vec![Reply::status(200)]).await;
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("n.db").display());
    let yaml = format!(
        "store: {store}\naccounts:\n  - id: \"111122223333\"\n    owner: payments@example.com\n\
         notifications:\n  hooks:\n    webhook: {{url: '{}', secret_env: HOOK_SECRET}}\n\
         \x20 down:\n    webhook: {{url: 'http://127.0.0.1:{dead_port}/x', secret_env: HOOK_SECRET}}\n\
         rules:\n  - id: noop\n    pattern: {{source: [notify.test]}}\n    action: local.noop\n    mode: auto\n    notify: [hooks, down]\n",
        rx.url
    );
    let config = Loader::new()
        .env(&env)
        .load_str(&yaml, std::path::Path::new("notify.yaml"))
        .unwrap_or_else(|d| panic!("{d:?}"));
    let notifier = ChannelNotifier::with_retry(
        config.notifications.clone(),
        Arc::new(NoSns),
        Retry {
            attempts: 2,
            first_backoff: Duration::from_millis(50),
            budget: Duration::from_secs(3),
            request_timeout: Duration::from_secs(1),
        },
    );
    let engine = Engine::new(
        Arc::new(config),
        rectify_store::open(&store).await.unwrap(),
        rectify_local::catalog(),
        Arc::new(NoFindingUpdates),
        Arc::new(notifier),
        EngineOptions::default(),
    )
    .unwrap();
    engine.submit(vec![event("a")], "test").await.unwrap();
    let jobs = engine.drain().await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Succeeded, "{:?}", jobs[0]);

    let got = rx.received();
    assert_eq!(got.len(), 1);
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["message"]["job"], json!(jobs[0].id));
    assert_eq!(body["message"]["owner"], "payments@example.com");
    assert_eq!(body["message"]["rule"], "noop");
    let ts: u64 = got[0].headers["x-rectify-timestamp"].parse().unwrap();
    assert_eq!(
        got[0].headers["x-rectify-signature"],
        rectify_notify::sign::signature(SECRET.as_bytes(), ts, &got[0].body)
    );

    let records = engine.store().audit(0, 1000).await.unwrap();
    let of = |kind: &str| -> Vec<Value> {
        records
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.data.clone())
            .collect()
    };
    let sent = of("notification.sent");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["channel"], "hooks");
    let failed = of("notification.failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["channel"], "down");
    let error = failed[0]["error"].to_string();
    assert!(error.contains("webhook request failed"), "{error}");
    assert!(error.contains("gave up after 2 attempts"), "{error}");
    assert!(!error.contains(SECRET));
}
