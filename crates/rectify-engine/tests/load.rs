//! Load: 100,000 events through the whole pipeline (submit, claim, check,
//! plan, guardrails, apply, verify, effects, audit) with the no-op action,
//! on SQLite and on PostgreSQL. Every event must end as exactly one
//! succeeded job and the audit chain must verify.
//!
//! Slow in a debug build: `make test` runs them in release
//! (`cargo test --release -p rectify-engine --test load -- --ignored`).
//! `RECTIFY_LOAD_EVENTS` changes the number of events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rectify_config::Loader;
use rectify_engine::quiet::{NoFindingUpdates, NoNotifications};
use rectify_engine::{Engine, EngineOptions};
use rectify_model::Event;
use serde_json::json;

fn events() -> usize {
    std::env::var("RECTIFY_LOAD_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn event(i: usize) -> Event {
    let body = json!({
        "version": "0", "id": format!("load-{i}"), "source": "load.test",
        "detail-type": "t", "account": "111122223333", "region": "eu-west-1",
        "time": "2026-12-01T10:00:00Z", "resources": [format!("res-{i}")], "detail": {"n": i}
    });
    rectify_ingest::event_from_value(body.clone(), body.to_string().as_bytes()).unwrap()
}

async fn run(url: &str) {
    let total = events();
    let yaml = format!(
        "store: {url}\naccounts:\n  - id: \"111122223333\"\nexecution:\n  concurrency: 16\n\
         guardrails:\n  max_changes_per_account_per_hour: off\n  max_percent_of_type_per_hour: off\n\
         rules:\n  - id: noop\n    pattern: {{source: [load.test]}}\n    action: local.noop\n    mode: auto\n"
    );
    let config = Loader::new()
        .load_str(&yaml, std::path::Path::new("load.yaml"))
        .unwrap_or_else(|d| panic!("{d:?}"));
    let engine = Arc::new(
        Engine::new(
            Arc::new(config),
            rectify_store::open(url).await.unwrap(),
            rectify_local::catalog(),
            Arc::new(NoFindingUpdates),
            Arc::new(NoNotifications),
            EngineOptions::default(),
        )
        .unwrap(),
    );
    let started = Instant::now();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = {
        let e = engine.clone();
        tokio::spawn(async move { e.work(stop_rx).await })
    };
    for chunk in (0..total).collect::<Vec<_>>().chunks(500) {
        let batch: Vec<Event> = chunk.iter().map(|i| event(*i)).collect();
        engine.submit(batch, "load").await.unwrap();
    }
    loop {
        let counts = engine.store().count_jobs().await.unwrap();
        let open: u64 = ["pending", "running", "retrying"]
            .iter()
            .map(|s| counts[*s])
            .sum();
        if open == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "stuck: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop_tx.send(true).unwrap();
    worker.await.unwrap().unwrap();
    let counts = engine.store().count_jobs().await.unwrap();
    // One job per event, every one succeeded: nothing lost, nothing twice.
    assert_eq!(counts["succeeded"] as usize, total, "{counts:?}");
    assert_eq!(counts.values().sum::<u64>() as usize, total, "{counts:?}");
    assert!(engine.store().verify_audit().await.unwrap().is_intact());
    eprintln!(
        "{url}: {total} events through the pipeline in {:.1?} ({:.0} events/s)",
        started.elapsed(),
        total as f64 / started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "minutes long; make test runs it in release"]
async fn whole_pipeline_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    run(&format!(
        "sqlite://{}",
        dir.path().join("load.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "minutes long; make test runs it in release"]
async fn whole_pipeline_on_postgres() {
    let base = std::env::var("RECTIFY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let schema = format!("rectify_load_{}", std::process::id());
    let url = format!("{base}?schema={schema}");
    run(&url).await;
    let dropped = std::process::Command::new("psql")
        .args([&base, "-qc", &format!("DROP SCHEMA {schema} CASCADE")])
        .status();
    assert!(dropped.map(|s| s.success()).unwrap_or(false));
}
