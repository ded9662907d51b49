//! Digest mode through the engine and the store, read back by a real
//! receiver on loopback: a burst of 1,000 findings is one message, repeats
//! folded; two replicas delivering at once send it once; a process stopped
//! in the middle of a period, and one that dies holding the digest's claim,
//! lose nothing and send nothing twice. On SQLite and PostgreSQL. A pager
//! channel takes only the severities it names.

mod pg_schema;
use pg_schema::Schema;
mod receiver;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use receiver::{Receiver, Reply};
use rectify_config::{Channel, Loader, Secret, Webhook};
use rectify_engine::quiet::NoFindingUpdates;
use rectify_engine::{Engine, EngineOptions};
use rectify_model::{ActionError, Event, JobState, Notification, Notifier};
use rectify_notify::{ChannelNotifier, Retry};
use rectify_store::{outbox, timefmt};
use serde_json::{json, Value};

const SECRET: &str = "whsec-digest-0123456789abcdef";

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
        "version": "0", "id": id, "source": "digest.test", "detail-type": "t",
        "account": format!("1111222233{:02}", resource % 4), "region": "eu-west-1",
        "time": "2026-12-01T10:00:00Z",
        "resources": [format!("arn:aws:s3:::bucket-{resource}")], "detail": {}
    });
    rectify_ingest::event_from_value(body.clone(), body.to_string().as_bytes()).unwrap()
}

/// An engine whose channel `digest` (a webhook to `url`) sends one digest
/// every `period`.
async fn engine(store: &str, url: &str, period: Duration) -> Engine {
    engine_capped(store, url, period, None).await
}

/// [`engine`], its digest holding at most `cap` items per period.
async fn engine_capped(store: &str, url: &str, period: Duration, cap: Option<u64>) -> Engine {
    let accounts: String = (0..4)
        .map(|i| format!("  - id: \"1111222233{i:02}\"\n"))
        .collect();
    let yaml = format!(
        "store: {store}\naccounts:\n{accounts}\
         guardrails:\n  max_changes_per_account_per_hour: off\n  max_percent_of_type_per_hour: off\n\
         notifications:\n  digest:\n    webhook: {{url: '{url}/digest', secret_env: HOOK_SECRET}}\n    digest_minutes: 1\n\
         rules:\n  - id: noop\n    pattern: {{source: [digest.test]}}\n    action: local.noop\n    mode: auto\n    notify: [digest]\n"
    );
    let env = |name: &str| (name == "HOOK_SECRET").then(|| SECRET.to_string());
    let mut config = Loader::new()
        .env(&env)
        .load_str(&yaml, std::path::Path::new("digest.yaml"))
        .unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(config.notify_digest["digest"], 60);
    // A minute is the shortest period the config takes; a test waits less.
    config
        .notify_digest
        .insert("digest".into(), period.as_secs());
    if let Some(cap) = cap {
        config.notify_digest_max_items.insert("digest".into(), cap);
    }
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

/// Runs the events' jobs; `deliver`: then a delivery round, as a one-shot
/// command does.
async fn run(engine: &Engine, events: Vec<Event>, deliver: bool) {
    let n = events.len();
    engine.submit(events, "test").await.unwrap();
    let jobs = if deliver {
        engine.drain().await.unwrap()
    } else {
        engine.run_ready().await.unwrap()
    };
    assert_eq!(jobs.len(), n);
    let bad: Vec<_> = jobs
        .iter()
        .filter(|j| j.state != JobState::Succeeded)
        .collect();
    assert!(bad.is_empty(), "{:?}", bad.first());
}

/// Delivery rounds until `want` messages arrived (or `wait` is over),
/// then the bodies.
async fn deliver_until(engine: &Engine, rx: &Receiver, want: usize, wait: Duration) -> Vec<Value> {
    let deadline = Instant::now() + wait;
    while rx.received().len() < want && Instant::now() < deadline {
        engine.deliver_outbox().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing more comes after.
    engine.deliver_outbox().await;
    rx.received()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn sum(tally: &Value) -> u64 {
    tally
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum()
}

async fn a_burst_of_1000_findings_is_one_digest(store: &str) {
    let rx = Receiver::start(vec![Reply::status(200)]).await;
    // The period may end while the burst is still running (a busy
    // machine): nothing is sent before a delivery round, and the round
    // sends whatever the period holds by then.
    let period = Duration::from_secs(2);
    let one = engine(store, &rx.url, period).await;
    let started = Instant::now();
    run(
        &one,
        (0..1000).map(|i| event(&format!("e-{i}"), i)).collect(),
        false,
    )
    .await;
    // The same findings again (new events, new jobs): repeats, folded.
    run(
        &one,
        (0..50).map(|i| event(&format!("again-{i}"), i)).collect(),
        false,
    )
    .await;
    assert!(rx.received().is_empty());
    assert_eq!(one.store().digest_held().await.unwrap()["digest"], 1000);
    let audit = one.store().audit(0, 100_000).await.unwrap();
    let held = audit
        .iter()
        .filter(|r| r.kind == "notification.held")
        .count();
    assert_eq!(held, 1050);

    // Two replicas deliver at once when the period is over: one message.
    let two = engine(store, &rx.url, period).await;
    tokio::time::sleep(period.saturating_sub(started.elapsed())).await;
    let (a, b) = tokio::join!(one.deliver_outbox(), two.deliver_outbox());
    assert_eq!(a + b, rx.received().len());
    let got = deliver_until(&one, &rx, 1, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let digest = &got[0]["message"];
    assert_eq!(digest["kind"], "digest");
    assert_eq!(digest["count"], 1000);
    assert_eq!(digest["received"], 1050);
    assert_eq!(sum(&digest["by_outcome"]), 1000);
    assert_eq!(
        digest["by_account"],
        json!({"111122223300": 250, "111122223301": 250, "111122223302": 250, "111122223303": 250})
    );
    assert_eq!(digest["worst"].as_array().unwrap().len(), 10);
    assert!(got[0]["subject"]
        .as_str()
        .unwrap()
        .starts_with("rectify digest: 1000 item(s)"));
    // The request is the webhook's: signed.
    let request = &rx.received()[0];
    assert!(request.path.ends_with("/digest"));
    assert!(request.headers["x-rectify-signature"].starts_with("sha256="));

    // Sent, and nothing is held any more.
    assert!(one.store().digest_held().await.unwrap().is_empty());
    let sent = one.store().outbox_for_job("digest:digest").await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].state, outbox::SENT);
    assert_eq!(one.deliver_outbox().await + two.deliver_outbox().await, 0);
    assert_eq!(rx.received().len(), 1);
}

async fn a_stop_mid_period_and_a_crash_holding_the_claim_lose_nothing(store: &str) {
    let rx = Receiver::start(vec![Reply::status(200)]).await;
    let period = Duration::from_secs(30);
    let started = Instant::now();
    let first = engine(store, &rx.url, period).await;
    run(
        &first,
        (0..300).map(|i| event(&format!("a-{i}"), i)).collect(),
        true,
    )
    .await;
    assert!(started.elapsed() < period, "the test needs a longer period");
    assert!(rx.received().is_empty());
    // The process stops in the middle of the period.
    drop(first);

    // Started again: it goes on with the same period.
    let second = engine(store, &rx.url, period).await;
    run(
        &second,
        (300..600).map(|i| event(&format!("b-{i}"), i)).collect(),
        true,
    )
    .await;
    run(
        &second,
        (0..20).map(|i| event(&format!("c-{i}"), i)).collect(),
        true,
    )
    .await;
    assert!(started.elapsed() < period, "the test needs a longer period");
    assert!(rx.received().is_empty());
    assert_eq!(second.store().digest_held().await.unwrap()["digest"], 600);

    // When the period ends, a process claims the digest and dies before
    // writing it: the claim holds it for a while, and nothing is sent.
    tokio::time::sleep(period.saturating_sub(started.elapsed())).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let claimed = loop {
        let claimed = second
            .store()
            .digest_claim("crashed", &timefmt::now_plus(Duration::from_secs(2)), 10)
            .await
            .unwrap();
        if !claimed.is_empty() || Instant::now() > deadline {
            break claimed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].items.len(), 600);
    assert_eq!(second.deliver_outbox().await, 0);
    assert!(rx.received().is_empty());

    // Its claim runs out: the digest goes, with every item once.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let got = deliver_until(&second, &rx, 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let digest = &got[0]["message"];
    assert_eq!(digest["count"], 600);
    assert_eq!(digest["received"], 620);
    assert_eq!(sum(&digest["by_account"]), 600);
    assert!(second.store().digest_held().await.unwrap().is_empty());
    // The dead process comes back: it cannot close what it had claimed.
    let keys: Vec<String> = claimed[0]
        .items
        .iter()
        .map(|i| i.item_key.clone())
        .collect();
    assert!(!second
        .store()
        .digest_close("digest", "crashed", &keys, 0, &timefmt::now(), None)
        .await
        .unwrap());
    assert_eq!(second.deliver_outbox().await, 0);
    assert_eq!(rx.received().len(), 1);
}

async fn a_storm_of_distinct_items_is_capped_and_told(store: &str) {
    let rx = Receiver::start(vec![Reply::status(200)]).await;
    let period = Duration::from_secs(2);
    let one = engine_capped(store, &rx.url, period, Some(100)).await;
    let started = Instant::now();
    run(
        &one,
        (0..400).map(|i| event(&format!("e-{i}"), i)).collect(),
        false,
    )
    .await;
    // The period keeps 100 items, whatever arrives.
    assert_eq!(one.store().digest_held().await.unwrap()["digest"], 100);
    tokio::time::sleep(period.saturating_sub(started.elapsed())).await;
    let got = deliver_until(&one, &rx, 1, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    let digest = &got[0]["message"];
    assert_eq!(digest["count"], 100);
    assert_eq!(digest["dropped"], 300);
    assert_eq!(digest["received"], 400);
    assert_eq!(sum(&digest["by_account"]), 100);
    let subject = got[0]["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("rectify digest: 100 item(s) and 300 more in the last"),
        "{subject}"
    );
    assert!(digest["reason"]
        .as_str()
        .unwrap()
        .contains("and 300 more not itemised: the period was full"));
    assert!(one.store().digest_held().await.unwrap().is_empty());
    // The next period starts empty, with room again.
    assert_eq!(one.deliver_outbox().await, 0);
    assert_eq!(rx.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_storm_of_distinct_items_is_capped_and_told() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("d.db").display());
    a_storm_of_distinct_items_is_capped_and_told(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_storm_of_distinct_items_is_capped_and_told() {
    let schema = Schema::new("digest", "cap");
    a_storm_of_distinct_items_is_capped_and_told(&schema.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_burst_of_1000_findings_is_one_digest() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("d.db").display());
    a_burst_of_1000_findings_is_one_digest(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_stop_mid_period_and_a_crash_holding_the_claim_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("d.db").display());
    a_stop_mid_period_and_a_crash_holding_the_claim_lose_nothing(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_burst_of_1000_findings_is_one_digest() {
    let schema = Schema::new("digest", "burst");
    a_burst_of_1000_findings_is_one_digest(&schema.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_stop_mid_period_and_a_crash_holding_the_claim_lose_nothing() {
    let schema = Schema::new("digest", "stop");
    a_stop_mid_period_and_a_crash_holding_the_claim_lose_nothing(&schema.url()).await;
}

fn hook(rx: &Receiver, name: &str) -> (String, Channel) {
    (
        name.to_string(),
        Channel::Webhook(Webhook {
            url: format!("{}/{name}", rx.url),
            secret: Secret(SECRET.as_bytes().to_vec()),
        }),
    )
}

#[tokio::test]
async fn a_pager_takes_only_its_severities() {
    let rx = Receiver::start(vec![Reply::status(200)]).await;
    let notifier = ChannelNotifier::new(
        BTreeMap::from([hook(&rx, "pager"), hook(&rx, "digest")]),
        Arc::new(NoSns),
    )
    .with_severities(BTreeMap::from([
        (
            "pager".to_string(),
            vec!["CRITICAL".to_string(), "HIGH".to_string()],
        ),
        (
            "digest".to_string(),
            vec!["MEDIUM".into(), "LOW".into(), "INFORMATIONAL".into()],
        ),
    ]));
    let severities = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"];
    let mut pager = 0;
    for i in 0..100 {
        let n = Notification {
            subject: "s".into(),
            message: json!({"severity": severities[i % 5], "resource": format!("r{i}")}),
        };
        let takes = (notifier.takes("pager", &n), notifier.takes("digest", &n));
        assert!(
            takes.0 != takes.1,
            "each finding goes to exactly one of the two"
        );
        if takes.0 {
            notifier.publish("pager", &n).await.unwrap();
            pager += 1;
        }
    }
    // A dead job carries no severity: it goes to both.
    let dead = Notification {
        subject: "rectify: failed S3.8 on 111122223333".into(),
        message: json!({"kind": "dead", "outcome": "failed", "job": "job-dead"}),
    };
    assert!(notifier.takes("pager", &dead) && notifier.takes("digest", &dead));
    notifier.publish("pager", &dead).await.unwrap();
    let got = rx.received();
    assert_eq!(pager, 40);
    assert_eq!(got.len(), 41);
    for r in &got[..40] {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(["CRITICAL", "HIGH"].contains(&body["message"]["severity"].as_str().unwrap()));
    }
}
