//! A job that runs longer than its lease keeps it: the running worker
//! renews the lease, so a second replica never claims the job while the
//! first still works on it.

use std::sync::Arc;
use std::time::Duration;

mod support;

use rectify_engine::Engine;
use rectify_model::{Event, JobState};
use serde_json::json;
use support::local_engine;

async fn replica(url: &str) -> Arc<Engine> {
    // The shortest lease the config allows (5 s), and a job that takes
    // longer than one and a half of them.
    local_engine(&format!(
        "store: {url}\naccounts:\n  - id: \"111122223333\"\nexecution:\n  lease_seconds: 5\n  concurrency: 1\n\
         rules:\n  - id: slow\n    pattern: {{source: [lease.test]}}\n    action: local.noop\n    params: {{delay_ms: 8000}}\n    mode: auto\n"
    ))
    .await
}

fn event() -> Event {
    let body = json!({
        "version": "0", "id": "lease-1", "source": "lease.test",
        "detail-type": "t", "account": "111122223333", "region": "eu-west-1",
        "time": "2026-12-01T10:00:00Z", "resources": ["res-1"], "detail": {}
    });
    rectify_ingest::event_from_value(body.clone(), body.to_string().as_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_held_past_its_lease_is_not_claimed_twice() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("lease.db").display());
    let (first, second) = (replica(&url).await, replica(&url).await);
    let submitted = first.submit(vec![event()], "test").await.unwrap();
    let id = submitted[0].jobs[0].id.clone();

    let running = {
        let first = first.clone();
        tokio::spawn(async move { first.run_ready().await })
    };
    // Past the first lease's end (5 s): without renewal the job would now
    // be free to take again.
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    let store = second.store();
    assert_eq!(store.recover_expired().await.unwrap(), 0);
    let taken = second.run_ready().await.unwrap();
    assert!(
        taken.is_empty(),
        "the second replica took a job still running: {taken:?}"
    );
    let during = store.get_job(&id).await.unwrap().unwrap();
    assert_eq!(during.state, JobState::Running);

    let done = running.await.unwrap().unwrap();
    assert_eq!(done.len(), 1);
    let job = store.get_job(&id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Succeeded);
    // Claimed once, run once.
    assert_eq!(job.attempts, 1);
    let applied = store
        .audit(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.subject == id && r.kind == "job.applying")
        .count();
    assert_eq!(applied, 1);
}
