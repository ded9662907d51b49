//! Two engines on one store stand for two `rectify serve` replicas: the
//! account-region concurrency limit holds across them, not only within
//! each.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rectify_engine::Engine;
use rectify_model::Event;
use serde_json::json;
use support::local_engine;

async fn replica(url: &str, limit: Option<usize>) -> Arc<Engine> {
    let guardrails = limit
        .map(|n| format!("guardrails:\n  max_concurrent_per_account_region: {n}\n"))
        .unwrap_or_default();
    let yaml = format!(
        "store: {url}\naccounts:\n  - id: \"111122223333\"\nexecution:\n  concurrency: 1\n{guardrails}\
         rules:\n  - id: slow\n    pattern: {{source: [replica.test]}}\n    action: local.noop\n    params: {{delay_ms: 300}}\n    mode: auto\n"
    );
    local_engine(&yaml).await
}

fn event(i: usize) -> Event {
    let body = json!({
        "version": "0", "id": format!("replica-{i}"), "source": "replica.test",
        "detail-type": "t", "account": "111122223333", "region": "eu-west-1",
        "time": "2026-12-01T10:00:00Z", "resources": [format!("res-{i}")], "detail": {}
    });
    rectify_ingest::event_from_value(body.clone(), body.to_string().as_bytes()).unwrap()
}

/// Submits 4 jobs, runs both replicas (each one job at a time, so that
/// both take work) until all are done, and returns how long that took.
async fn run_two_replicas(limit: Option<usize>) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let (a, b) = (replica(&url, limit).await, replica(&url, limit).await);
    a.submit((0..4).map(event).collect(), "test").await.unwrap();
    let started = Instant::now();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let workers = [a.clone(), b.clone()].map(|e| {
        let stop = stop_rx.clone();
        tokio::spawn(async move { e.work(stop).await })
    });
    loop {
        let counts = a.store().count_jobs().await.unwrap();
        if counts["succeeded"] == 4 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{counts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    stop_tx.send(true).unwrap();
    for w in workers {
        w.await.unwrap().unwrap();
    }
    // Every slot was given back.
    let slots = rectify_store::open(&url)
        .await
        .unwrap()
        .take_slot(
            "111122223333",
            "eu-west-1",
            "probe",
            1,
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert!(slots, "a slot was left taken");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrency_limit_holds_across_replicas() {
    // One at a time across both replicas: four 300 ms actions one after the
    // other.
    let limited = run_two_replicas(Some(1)).await;
    assert!(limited >= Duration::from_millis(1200), "{limited:?}");
    // Without the limit the two replicas run them side by side.
    let free = run_two_replicas(None).await;
    assert!(free < limited, "{free:?} vs {limited:?}");
}
