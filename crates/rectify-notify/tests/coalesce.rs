//! Coalescing through the engine and the store, counted by a real receiver
//! on loopback: a burst of findings for one rule and outcome on a
//! coalescing webhook is two messages (the first, then one summary), also
//! when the process restarts in the middle of the window and when two
//! replicas share the store; a process that dies holding a window's claim
//! loses nothing and sends nothing twice. On SQLite and PostgreSQL.

mod pg_schema;
use pg_schema::Schema;
mod receiver;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use receiver::{Receiver, Reply};
use rectify_config::Loader;
use rectify_engine::quiet::NoFindingUpdates;
use rectify_engine::{Engine, EngineOptions};
use rectify_model::{ActionError, Event, JobState, Notification, Notifier};
use rectify_notify::{ChannelNotifier, Retry};
use rectify_store::{outbox, timefmt};
use serde_json::{json, Value};

const SECRET: &str = "whsec-coalesce-0123456789";

struct NoSns;

#[async_trait]
impl Notifier for NoSns {
    async fn publish(&self, _: &str, _: &Notification) -> Result<(), ActionError> {
        panic!("no SNS channel is configured")
    }
}

/// A finding event about `resource` in one of four accounts.
fn event(id: &str, resource: usize) -> Event {
    let body = json!({
        "version": "0", "id": id, "source": "coalesce.test", "detail-type": "t",
        "account": format!("1111222233{:02}", resource % 4), "region": "eu-west-1",
        "time": "2026-12-01T10:00:00Z",
        "resources": [format!("arn:aws:s3:::bucket-{resource}")], "detail": {}
    });
    rectify_ingest::event_from_value(body.clone(), body.to_string().as_bytes()).unwrap()
}

fn events(prefix: &str, range: std::ops::Range<usize>) -> Vec<Event> {
    range.map(|i| event(&format!("{prefix}-{i}"), i)).collect()
}

/// An engine whose rule tells `team` (a webhook coalescing for `window`)
/// and `every` (a webhook that gets every message).
async fn engine(store: &str, url: &str, window: Duration) -> Engine {
    let accounts: String = (0..4)
        .map(|i| format!("  - id: \"1111222233{i:02}\"\n"))
        .collect();
    let yaml = format!(
        "store: {store}\naccounts:\n{accounts}\
         guardrails:\n  max_changes_per_account_per_hour: off\n  max_percent_of_type_per_hour: off\n\
         notifications:\n\
         \x20 team:\n    webhook: {{url: '{url}/team', secret_env: HOOK_SECRET}}\n    coalesce_seconds: {}\n\
         \x20 every:\n    webhook: {{url: '{url}/every', secret_env: HOOK_SECRET}}\n\
         rules:\n  - id: s3-block\n    pattern: {{source: [coalesce.test]}}\n    action: local.noop\n    mode: auto\n    notify: [team, every]\n",
        window.as_secs()
    );
    let env = |name: &str| (name == "HOOK_SECRET").then(|| SECRET.to_string());
    let config = Loader::new()
        .env(&env)
        .load_str(&yaml, std::path::Path::new("coalesce.yaml"))
        .unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(config.notify_coalesce["team"], window.as_secs());
    let notifier = ChannelNotifier::with_retry(
        config.notifications.clone(),
        Arc::new(NoSns),
        Retry {
            attempts: 1,
            first_backoff: Duration::from_millis(10),
            budget: Duration::from_secs(3),
            request_timeout: Duration::from_secs(2),
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

/// Submits the events and runs jobs with a delivery round after, as a
/// one-shot command does; returns how many jobs this engine ran (another
/// engine on the same store may run some).
async fn run(engine: &Engine, events: Vec<Event>) -> usize {
    engine.submit(events, "test").await.unwrap();
    let jobs = engine.drain().await.unwrap();
    let bad: Vec<_> = jobs
        .iter()
        .filter(|j| j.state != JobState::Succeeded)
        .collect();
    assert!(bad.is_empty(), "{:?}", bad.first());
    jobs.len()
}

/// The bodies the receiver got on `path`.
fn got(rx: &Receiver, path: &str) -> Vec<Value> {
    rx.received()
        .iter()
        .filter(|r| r.path.ends_with(path))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// Delivery rounds until `want` messages arrived on `/team` (or `wait` is
/// over), then one more: nothing else comes.
async fn deliver_until(engine: &Engine, rx: &Receiver, want: usize, wait: Duration) -> Vec<Value> {
    let deadline = Instant::now() + wait;
    while got(rx, "/team").len() < want && Instant::now() < deadline {
        engine.deliver_outbox().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    engine.deliver_outbox().await;
    got(rx, "/team")
}

async fn a_burst_across_a_restart_and_two_replicas_is_one_message_and_one_summary(store: &str) {
    let rx = Receiver::start(vec![Reply::status(200)]).await;
    let window = Duration::from_secs(15);
    let started = Instant::now();
    let one = engine(store, &rx.url, window).await;
    assert_eq!(run(&one, events("a", 0..80)).await, 80);
    assert_eq!(got(&rx, "/team").len(), 1);
    // The process stops in the middle of the window.
    drop(one);

    // Started again: the window is still open, nothing goes out at once.
    let two = engine(store, &rx.url, window).await;
    assert_eq!(run(&two, events("b", 80..140)).await, 60);
    // A second replica on the same store, both running at once.
    let three = engine(store, &rx.url, window).await;
    let (x, y) = tokio::join!(
        run(&two, events("c", 140..170)),
        run(&three, events("d", 170..200))
    );
    assert_eq!(x + y, 60);
    assert!(started.elapsed() < window, "the test needs a longer window");
    let team = got(&rx, "/team");
    assert_eq!(team.len(), 1, "{team:#?}");
    // Jobs run in any order: the first to settle opened the window.
    let first = team[0]["message"]["resource"].as_str().unwrap().to_string();
    assert!(first.starts_with("arn:aws:s3:::bucket-"), "{first}");
    // The channel without a window got every message.
    assert_eq!(got(&rx, "/every").len(), 200);
    let windows = two.store().coalesce_windows().await.unwrap();
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0].held, 199);
    let audit = two.store().audit(0, 100_000).await.unwrap();
    let held = audit
        .iter()
        .filter(|r| r.kind == "notification.held" && r.data["channel"] == "team")
        .count();
    assert_eq!(held, 199);

    // Both replicas deliver when the window is over: one summary.
    tokio::time::sleep(window.saturating_sub(started.elapsed())).await;
    let (a, b) = tokio::join!(two.deliver_outbox(), three.deliver_outbox());
    assert!(a + b <= 1, "{a} + {b}");
    let team = deliver_until(&two, &rx, 2, Duration::from_secs(15)).await;
    assert_eq!(team.len(), 2, "{team:#?}");
    let summary = &team[1]["message"];
    assert_eq!(summary["kind"], "coalesced");
    assert_eq!(summary["rule"], "s3-block");
    assert_eq!(summary["outcome"], "changed");
    assert_eq!(summary["count"], 199);
    assert_eq!(summary["accounts"].as_array().unwrap().len(), 4);
    assert_eq!(summary["resources"].as_array().unwrap().len(), 20);
    // The held ones, each once: not the one that went out first.
    let named: std::collections::BTreeSet<&str> = summary["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(named.len(), 20);
    assert!(!named.contains(first.as_str()));
    assert_eq!(summary["resources_omitted"], 179);
    assert_eq!(
        team[1]["subject"],
        "rectify: 199 more changed by rule s3-block in the last 15 s"
    );
    // The summary went through the outbox, signed like any webhook message.
    let sent = two.store().outbox_for_job("coalesced:team").await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].state, outbox::SENT);
    let request = rx
        .received()
        .into_iter()
        .filter(|r| r.path.ends_with("/team"))
        .nth(1)
        .unwrap();
    assert!(request.headers["x-rectify-signature"].starts_with("sha256="));
    assert!(two.store().coalesce_windows().await.unwrap().is_empty());
    assert_eq!(two.deliver_outbox().await + three.deliver_outbox().await, 0);

    // After the window, the next message goes out at once and opens a new one.
    assert_eq!(run(&three, events("e", 200..201)).await, 1);
    let team = got(&rx, "/team");
    assert_eq!(team.len(), 3);
    assert_eq!(team[2]["message"]["resource"], "arn:aws:s3:::bucket-200");
}

async fn a_crash_holding_a_windows_claim_loses_nothing(store: &str) {
    let rx = Receiver::start(vec![Reply::status(200)]).await;
    let window = Duration::from_secs(6);
    let started = Instant::now();
    let first = engine(store, &rx.url, window).await;
    assert_eq!(run(&first, events("a", 0..50)).await, 50);
    assert!(started.elapsed() < window, "the test needs a longer window");
    assert_eq!(got(&rx, "/team").len(), 1);

    // When the window closes, a process claims it and dies before writing
    // the summary: the claim holds it for a while, and nothing is sent.
    tokio::time::sleep(window.saturating_sub(started.elapsed())).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let claimed = loop {
        let claimed = first
            .store()
            .coalesce_claim("crashed", &timefmt::now_plus(Duration::from_secs(2)), 10)
            .await
            .unwrap();
        if !claimed.is_empty() || Instant::now() > deadline {
            break claimed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].held, 49);
    let second = engine(store, &rx.url, window).await;
    assert_eq!(second.deliver_outbox().await, 0);
    assert_eq!(got(&rx, "/team").len(), 1);

    // Its claim runs out: the summary goes, once.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let team = deliver_until(&second, &rx, 2, Duration::from_secs(10)).await;
    assert_eq!(team.len(), 2, "{team:#?}");
    assert_eq!(team[1]["message"]["count"], 49);
    // The dead process comes back: it cannot close what it had claimed.
    assert!(!second
        .store()
        .coalesce_close(&claimed[0], "crashed", None)
        .await
        .unwrap());
    assert_eq!(second.deliver_outbox().await, 0);
    assert_eq!(got(&rx, "/team").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_burst_across_a_restart_and_two_replicas_is_one_message_and_one_summary() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("c.db").display());
    a_burst_across_a_restart_and_two_replicas_is_one_message_and_one_summary(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_crash_holding_a_windows_claim_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("c.db").display());
    a_crash_holding_a_windows_claim_loses_nothing(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_burst_across_a_restart_and_two_replicas_is_one_message_and_one_summary() {
    let schema = Schema::new("coalesce", "burst");
    a_burst_across_a_restart_and_two_replicas_is_one_message_and_one_summary(&schema.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_crash_holding_a_windows_claim_loses_nothing() {
    let schema = Schema::new("coalesce", "crash");
    a_crash_holding_a_windows_claim_loses_nothing(&schema.url()).await;
}
