//! PostgreSQL only: several store handles on one database, as several
//! `rectify serve` replicas would have, and the `postgres://` URL.
//!
//! The server is `RECTIFY_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); every test works in a
//! schema of its own, dropped at the end.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rectify_model::{Job, JobState};
use rectify_store::{open, AuditVerdict, Store, StoreError};
use serde_json::json;
use support::{postgres_server_url, with_param, TestDb};

const LONG: Duration = Duration::from_secs(300);

/// The shared test job for a bucket of its own, without a finding, a
/// control or a plan, and with nested params (read back key for key).
fn job(id: &str, key: &str) -> Job {
    let mut job = support::job(id, key);
    job.target.resource_id = format!("arn:aws:s3:::{id}");
    job.params = json!({"z": 1, "a": {"y": 2, "b": 3}});
    job.finding = None;
    job.control = None;
    job.notify = vec![];
    job.plan = None;
    job
}

async fn replicas(db: &TestDb, n: usize) -> Vec<Arc<dyn Store>> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(open(&with_param(db.url(), "pool_size=3")).await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_claim_every_job_exactly_once() {
    let db = TestDb::postgres();
    let stores = replicas(&db, 4).await;
    const JOBS: usize = 600;
    let jobs: Vec<Job> = (0..JOBS)
        .map(|i| job(&format!("rep-{i:05}"), &format!("k{i}")))
        .collect();
    for chunk in jobs.chunks(200) {
        stores[0].enqueue_many(chunk).await.unwrap();
    }
    let mut tasks = Vec::new();
    for t in 0..16 {
        let store = stores[t % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            let worker = format!("replica-{}:{t}", t % 4);
            let mut mine = Vec::new();
            loop {
                let got = store.claim(&worker, LONG, 1 + t % 5).await.unwrap();
                if got.is_empty() {
                    break;
                }
                for mut j in got {
                    assert_eq!(j.attempts, 1, "{} claimed again", j.id);
                    j.state = JobState::Succeeded;
                    assert!(store.save_job(&j, Some(&worker)).await.unwrap());
                    mine.push(j.id);
                }
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(seen.insert(id.clone()), "{id} claimed twice");
        }
    }
    assert_eq!(seen.len(), JOBS);
    let counts = stores[3].count_jobs().await.unwrap();
    assert_eq!(counts["succeeded"], JOBS as u64);
    assert_eq!(counts["running"] + counts["pending"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_appending_keep_one_linear_chain() {
    let db = TestDb::postgres();
    let stores = replicas(&db, 4).await;
    // Something for approve() to append about.
    for i in 0..4 {
        let mut j = job(&format!("appr-{i:05}"), &format!("ka{i}"));
        j.state = JobState::WaitingApproval;
        stores[0].enqueue(&j).await.unwrap();
    }
    let mut tasks = Vec::new();
    for t in 0..12 {
        let store = stores[t % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            for i in 0..15 {
                match (t + i) % 5 {
                    0 => {
                        let recs = store
                            .append_audit_many(&[
                                ("batch".into(), format!("{t}-{i}a"), json!({"i": i})),
                                ("batch".into(), format!("{t}-{i}b"), json!([i])),
                            ])
                            .await
                            .unwrap();
                        assert_eq!(recs[1].seq, recs[0].seq + 1);
                        assert_eq!(recs[1].prev_hash, recs[0].hash);
                        n += 2;
                    }
                    1 if i < 4 && t < 4 => {
                        store
                            .approve(&format!("appr-{t:05}"), &format!("user{t}"))
                            .await
                            .unwrap();
                        n += 1;
                    }
                    2 if i == 2 => {
                        store.set_paused(t % 2 == 0, "ops").await.unwrap();
                        n += 1;
                    }
                    _ => {
                        store
                            .append_audit("k", &format!("{t}-{i}"), &json!({"t": t, "i": i}))
                            .await
                            .unwrap();
                        n += 1;
                    }
                }
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    for store in &stores {
        assert_eq!(
            store.verify_audit().await.unwrap(),
            AuditVerdict::Intact {
                records: total,
                keyed: 0
            }
        );
    }
    let log = stores[1].audit(0, 0).await.unwrap();
    assert_eq!(log.len() as u64, total);
    for (i, r) in log.iter().enumerate() {
        assert_eq!(r.seq, i as i64 + 1);
    }
    for w in log.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
        assert!(w[1].time >= w[0].time, "times follow the chain");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_lease_passes_to_another_replica() {
    let db = TestDb::postgres();
    let stores = replicas(&db, 2).await;
    let (a, b) = (&stores[0], &stores[1]);
    a.enqueue(&job("lease-0001", "k")).await.unwrap();
    let held = a.claim("a:1", Duration::from_millis(300), 5).await.unwrap();
    assert_eq!(held.len(), 1);
    assert!(b.claim("b:1", LONG, 5).await.unwrap().is_empty());
    // Expired but not taken over: the holder may still renew and save.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(a
        .renew("lease-0001", "a:1", Duration::from_millis(100))
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let taken = b.claim("b:1", LONG, 5).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].attempts, 2);
    // The old holder lost it everywhere.
    let mut late = held[0].clone();
    late.state = JobState::Succeeded;
    assert!(!a.save_job(&late, Some("a:1")).await.unwrap());
    assert!(!a.renew("lease-0001", "a:1", LONG).await.unwrap());
    let mut done = taken[0].clone();
    done.state = JobState::Succeeded;
    assert!(b.save_job(&done, Some("b:1")).await.unwrap());
    assert_eq!(
        a.get_job("lease-0001").await.unwrap().unwrap().state,
        JobState::Succeeded
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_replica_releases_its_own_jobs() {
    let db = TestDb::postgres();
    let stores = replicas(&db, 2).await;
    let jobs: Vec<Job> = (0..6)
        .map(|i| job(&format!("rel-{i:05}"), &format!("k{i}")))
        .collect();
    stores[0].enqueue_many(&jobs).await.unwrap();
    assert_eq!(stores[0].claim("pod-a:0", LONG, 4).await.unwrap().len(), 4);
    assert_eq!(stores[1].claim("pod-b:0", LONG, 2).await.unwrap().len(), 2);
    // pod-a dies; a new process with the same stable id starts.
    drop(stores);
    let restarted = open(db.url()).await.unwrap();
    assert_eq!(restarted.release_owned("pod-a:0").await.unwrap(), 4);
    let counts = restarted.count_jobs().await.unwrap();
    assert_eq!((counts["pending"], counts["running"]), (4, 2));
    let again = restarted.claim("pod-a:0", LONG, 10).await.unwrap();
    assert_eq!(again.len(), 4);
    assert!(again.iter().all(|j| j.attempts == 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_at_once_migrate_once() {
    let db = TestDb::postgres();
    let url = db.url().to_string();
    let opens: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { open(&url).await.map(|_| ()) })
        })
        .collect();
    for o in opens {
        o.await.unwrap().unwrap();
    }
    let rows = db
        .query("SELECT version, name FROM schema_migrations ORDER BY version")
        .await;
    assert_eq!(rows.len(), 8);
    assert_eq!(rows[0][1].as_deref(), Some("initial"));
    assert_eq!(rows[1][1].as_deref(), Some("changes"));
    assert_eq!(rows[2][1].as_deref(), Some("ingest_hot_path"));
    assert_eq!(rows[3][1].as_deref(), Some("region_slots"));
    assert_eq!(rows[4][1].as_deref(), Some("unused_indexes"));
    assert_eq!(rows[5][1].as_deref(), Some("applying_seq"));
    assert_eq!(rows[6][1].as_deref(), Some("reversals"));
    assert_eq!(rows[7][1].as_deref(), Some("tickets"));
    let head = db.query("SELECT seq, hash FROM audit_head").await;
    assert_eq!(head.len(), 1);
    assert_eq!(head[0][0].as_deref(), Some("0"));
}

#[tokio::test]
async fn schemas_keep_installations_apart() {
    let (one, two) = (TestDb::postgres(), TestDb::postgres());
    let a = one.open().await;
    let b = two.open().await;
    a.enqueue(&job("sep-00001", "k")).await.unwrap();
    a.append_audit("k", "s", &json!(1)).await.unwrap();
    assert!(b.get_job("sep-00001").await.unwrap().is_none());
    assert_eq!(b.audit(0, 0).await.unwrap().len(), 0);
    assert!(b
        .enqueue(&job("sep-00001", "k"))
        .await
        .unwrap()
        .is_created());
}

#[tokio::test]
async fn job_json_reads_back_as_written() {
    let db = TestDb::postgres();
    let store = db.open().await;
    let j = job("json-0001", "k");
    store.enqueue(&j).await.unwrap();
    let back = store.get_job("json-0001").await.unwrap().unwrap();
    // Key order kept (JSON columns, not JSONB).
    assert_eq!(
        serde_json::to_string(&back.params).unwrap(),
        r#"{"z":1,"a":{"y":2,"b":3}}"#
    );
}

#[tokio::test]
async fn urls() {
    let server = postgres_server_url();
    // postgresql:// works as well as postgres://.
    let alt = format!(
        "postgresql://{}",
        server.split_once("://").map(|(_, rest)| rest).unwrap()
    );
    let db = TestDb::postgres();
    let schema_param = db.url().rsplit_once("schema=").unwrap().1.to_string();
    let store = open(&with_param(&alt, &format!("schema={schema_param}")))
        .await
        .unwrap();
    assert!(!store.is_paused().await.unwrap());

    for bad in [
        format!("{server}?schema=Upper"),
        format!("{server}?pool_size=lots"),
        format!("{server}?sslmode=bogus"),
        format!("{server}?sslcert=/client.pem"),
    ] {
        assert!(
            matches!(open(&bad).await, Err(StoreError::InvalidUrl { .. })),
            "{bad}"
        );
    }
    // Nobody listens: an error naming the server, never the password.
    let err = open("postgres://u:hunter2@127.0.0.1:1/x")
        .await
        .err()
        .unwrap();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
