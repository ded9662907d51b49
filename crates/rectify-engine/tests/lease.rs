//! A job that runs longer than its lease keeps it: the running worker
//! renews the lease (every running job's in one call, see the engine's
//! `leases` module), so a second replica never claims the job while the
//! first still works on it. On SQLite with one job, on PostgreSQL with
//! three at once.

use std::sync::Arc;
use std::time::Duration;

mod support;

use rectify_engine::Engine;
use rectify_model::{Event, JobState};
use serde_json::json;
use support::local_engine;

async fn replica(url: &str, concurrency: usize) -> Arc<Engine> {
    // The shortest lease the config allows (5 s), and a job that takes
    // longer than one and a half of them.
    local_engine(&format!(
        "store: {url}\naccounts:\n  - id: \"111122223333\"\nexecution:\n  lease_seconds: 5\n  concurrency: {concurrency}\n\
         rules:\n  - id: slow\n    pattern: {{source: [lease.test]}}\n    action: local.noop\n    params: {{delay_ms: 8000}}\n    mode: auto\n"
    ))
    .await
}

fn event(i: usize) -> Event {
    let body = json!({
        "version": "0", "id": format!("lease-{i}"), "source": "lease.test",
        "detail-type": "t", "account": "111122223333", "region": "eu-west-1",
        "time": "2026-12-01T10:00:00Z", "resources": [format!("res-{i}")], "detail": {}
    });
    rectify_ingest::event_from_value(body.clone(), body.to_string().as_bytes()).unwrap()
}

/// `jobs` slow jobs run at once by one replica; past the first lease the
/// second replica finds none of them to take, and each is claimed and
/// applied once.
async fn held_past_the_lease(url: &str, jobs: usize) {
    let (first, second) = (replica(url, jobs).await, replica(url, jobs).await);
    let events: Vec<Event> = (0..jobs).map(event).collect();
    let submitted = first.submit(events, "test").await.unwrap();
    let ids: Vec<String> = submitted.iter().map(|s| s.jobs[0].id.clone()).collect();

    let running = {
        let first = first.clone();
        tokio::spawn(async move { first.run_ready().await })
    };
    // Past the first lease's end (5 s): without renewal the jobs would now
    // be free to take again.
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    let store = second.store();
    assert_eq!(store.recover_expired().await.unwrap(), 0);
    let taken = second.run_ready().await.unwrap();
    assert!(
        taken.is_empty(),
        "the second replica took a job still running: {taken:?}"
    );
    for id in &ids {
        let during = store.get_job(id).await.unwrap().unwrap();
        assert_eq!(during.state, JobState::Running);
    }

    let done = running.await.unwrap().unwrap();
    assert_eq!(done.len(), jobs);
    let records = store.audit(0, 1000).await.unwrap();
    for id in &ids {
        let job = store.get_job(id).await.unwrap().unwrap();
        assert_eq!(job.state, JobState::Succeeded);
        // Claimed once, run once.
        assert_eq!(job.attempts, 1);
        let applied = records
            .iter()
            .filter(|r| &r.subject == id && r.kind == "job.applying")
            .count();
        assert_eq!(applied, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_held_past_its_lease_is_not_claimed_twice() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("lease.db").display());
    held_past_the_lease(&url, 1).await;
}

/// Drops the test's PostgreSQL schema.
struct Schema {
    server: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([
                self.server.as_str(),
                "-qc",
                &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
            ])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_jobs_held_past_their_lease_are_not_claimed_twice() {
    let schema = Schema {
        server: std::env::var("RECTIFY_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        name: format!("rectify_lease_{}", std::process::id()),
    };
    let sep = if schema.server.contains('?') {
        '&'
    } else {
        '?'
    };
    let url = format!("{}{sep}schema={}", schema.server, schema.name);
    held_past_the_lease(&url, 3).await;
}
