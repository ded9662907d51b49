//! The notification outbox, through the engine and a real HTTP receiver:
//! a channel that fails gets the message on a later round, a message a
//! crashed process had claimed is sent once its claim runs out, and one
//! that fails its last attempt is `dead` and audited. On SQLite and, where
//! the server runs, PostgreSQL.

mod pg_schema;
use pg_schema::Schema;
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
use rectify_store::{outbox, timefmt, OutboxItem};
use serde_json::{json, Value};

const SECRET: &str = "whsec-outbox-0123456789abcdef";

struct NoSns;

#[async_trait]
impl Notifier for NoSns {
    async fn publish(&self, _: &str, _: &Notification) -> Result<(), ActionError> {
        panic!("no SNS channel is configured")
    }
}

fn event(id: &str) -> Event {
    let body = json!({
        "version": "0", "id": id, "source": "outbox.test", "detail-type": "t",
        "account": "111122223333", "region": "eu-west-1", "time": "2026-12-01T10:00:00Z",
        "resources": [format!("res-{id}")], "detail": {}
    });
    rectify_ingest::event_from_value(body.clone(), body.to_string().as_bytes()).unwrap()
}

async fn engine(store: &str, url: &str) -> Engine {
    let yaml = format!(
        "store: {store}\naccounts:\n  - id: \"111122223333\"\n\
         notifications:\n  hooks:\n    webhook: {{url: '{url}', secret_env: HOOK_SECRET}}\n\
         rules:\n  - id: noop\n    pattern: {{source: [outbox.test]}}\n    action: local.noop\n    mode: auto\n    notify: [hooks]\n"
    );
    let env = |name: &str| (name == "HOOK_SECRET").then(|| SECRET.to_string());
    let config = Loader::new()
        .env(&env)
        .load_str(&yaml, std::path::Path::new("outbox.yaml"))
        .unwrap_or_else(|d| panic!("{d:?}"));
    // One attempt per round, so that each round is one request.
    let notifier = ChannelNotifier::with_retry(
        config.notifications.clone(),
        Arc::new(NoSns),
        Retry {
            attempts: 1,
            first_backoff: Duration::from_millis(10),
            budget: Duration::from_secs(3),
            request_timeout: Duration::from_secs(1),
        },
    );
    Engine::new(
        Arc::new(config),
        rectify_store::open(store).await.unwrap(),
        rectify_local::catalog(),
        Arc::new(NoFindingUpdates),
        Arc::new(notifier),
        EngineOptions::default(),
    )
    .unwrap()
}

fn audited(records: &[rectify_model::AuditRecord], kind: &str) -> Vec<Value> {
    records
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| r.data.clone())
        .collect()
}

async fn a_failed_message_is_sent_on_a_later_round(store: &str) {
    // 503 to the first request, 200 after.
    let rx = Receiver::start(vec![Reply::status(503), Reply::status(200)]).await;
    let engine = engine(store, &rx.url).await;
    engine.submit(vec![event("a")], "test").await.unwrap();
    let jobs = engine.drain().await.unwrap();
    assert_eq!(jobs[0].state, JobState::Succeeded, "{:?}", jobs[0]);
    assert_eq!(rx.received().len(), 1);

    // Owed, with its next attempt 30 s out: a round now sends nothing.
    let owed = engine.store().outbox_for_job(&jobs[0].id).await.unwrap();
    assert_eq!(owed.len(), 1);
    assert_eq!(owed[0].state, outbox::PENDING);
    assert_eq!(owed[0].attempts, 1);
    assert!(owed[0].next_attempt_at > timefmt::now_plus(Duration::from_secs(20)));
    assert!(owed[0].last_error.as_deref().unwrap().contains("503"));
    assert_eq!(engine.deliver_outbox().await, 0);
    assert_eq!(rx.received().len(), 1);

    // The wait is over (the row says so): the next round sends it.
    engine
        .store()
        .outbox_settle(&owed[0].id, outbox::PENDING, &timefmt::now(), None)
        .await
        .unwrap();
    assert_eq!(engine.deliver_outbox().await, 1);
    let got = rx.received();
    assert_eq!(got.len(), 2);
    let body: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(body["message"]["job"], json!(jobs[0].id));
    let after = engine.store().outbox_for_job(&jobs[0].id).await.unwrap();
    assert_eq!(after[0].state, outbox::SENT);
    assert_eq!(after[0].attempts, 2);

    let records = engine.store().audit(0, 1000).await.unwrap();
    let failed = audited(&records, "notification.failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0]["next_attempt_at"].is_string());
    let sent = audited(&records, "notification.sent");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["attempt"], 2);
    // Sent once: another round sends nothing more.
    assert_eq!(engine.deliver_outbox().await, 0);
    assert_eq!(rx.received().len(), 2);
}

fn owed(id: &str, attempts: u32, next_attempt_at: &str) -> OutboxItem {
    let now = timefmt::now();
    OutboxItem {
        id: id.to_string(),
        channel: "hooks".into(),
        job_id: format!("job-{id}"),
        outcome: "succeeded".into(),
        body: json!({"subject": "rectify: succeeded", "message": {"job": format!("job-{id}")}}),
        attempts,
        next_attempt_at: next_attempt_at.to_string(),
        state: outbox::PENDING.into(),
        last_error: None,
        created_at: now.clone(),
        updated_at: now,
    }
}

async fn a_crashed_claim_is_taken_up_and_the_last_failure_is_dead(store: &str) {
    let rx = Receiver::start(vec![Reply::status(200), Reply::status(500)]).await;
    let engine = engine(store, &rx.url).await;
    // A process claimed this (next_attempt_at = its claim's end) and died
    // before sending; the claim has run out.
    let crashed = owed("crashed", 1, &timefmt::now_minus(Duration::from_secs(1)));
    // Claimed by a live sender: not taken.
    let held = owed("held", 1, &timefmt::now_plus(Duration::from_secs(60)));
    engine.store().outbox_put(&[crashed, held]).await.unwrap();
    assert_eq!(engine.deliver_outbox().await, 1);
    let got = rx.received();
    assert_eq!(got.len(), 1);
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["message"]["job"], "job-crashed");
    assert_eq!(
        engine.store().outbox_for_job("job-held").await.unwrap()[0].state,
        outbox::PENDING
    );

    // Its last attempt fails (500): dead, audited, never sent again.
    let last = owed(
        "last",
        rectify_engine::outbox::MAX_ATTEMPTS - 1,
        &timefmt::now_minus(Duration::from_secs(1)),
    );
    engine.store().outbox_put(&[last]).await.unwrap();
    assert_eq!(engine.deliver_outbox().await, 0);
    let row = &engine.store().outbox_for_job("job-last").await.unwrap()[0];
    assert_eq!(row.state, outbox::DEAD);
    assert_eq!(row.attempts, rectify_engine::outbox::MAX_ATTEMPTS);
    let records = engine.store().audit(0, 1000).await.unwrap();
    let dead = audited(&records, "notification.dead");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["channel"], "hooks");
    let counts = engine.store().outbox_counts().await.unwrap();
    assert_eq!(counts[outbox::SENT], 1);
    assert_eq!(counts[outbox::PENDING], 1);
    assert_eq!(counts[outbox::DEAD], 1);
}

#[tokio::test]
async fn sqlite_a_failed_message_is_sent_on_a_later_round() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("o.db").display());
    a_failed_message_is_sent_on_a_later_round(&store).await;
}

#[tokio::test]
async fn sqlite_a_crashed_claim_is_taken_up_and_the_last_failure_is_dead() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("o.db").display());
    a_crashed_claim_is_taken_up_and_the_last_failure_is_dead(&store).await;
}

#[tokio::test]
async fn postgres_a_failed_message_is_sent_on_a_later_round() {
    let schema = Schema::new("outbox", "later");
    a_failed_message_is_sent_on_a_later_round(&schema.url()).await;
}

#[tokio::test]
async fn postgres_a_crashed_claim_is_taken_up_and_the_last_failure_is_dead() {
    let schema = Schema::new("outbox", "crashed");
    a_crashed_claim_is_taken_up_and_the_last_failure_is_dead(&schema.url()).await;
}
