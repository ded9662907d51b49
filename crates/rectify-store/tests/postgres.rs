//! PostgreSQL only: several store handles on one database, as several
//! `rectify serve` replicas would have, and the `postgres://` URL.
//!
//! The server is `RECTIFY_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); every test works in a
//! schema of its own, dropped at the end.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rectify_model::{AuditRecord, Job, JobState};
use rectify_store::{audit, open, AuditVerdict, Store, StoreError};
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
async fn replicas_appending_keep_every_lane_linear() {
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
                        assert!(recs[1].seq > recs[0].seq);
                        for r in &recs {
                            assert_eq!(r.lane, audit::lane_of(&r.subject, audit::PG_AUDIT_LANES));
                        }
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
    // Every seq taken once; the appends spread over the lanes, each lane
    // one chain whose times follow it.
    for (i, r) in log.iter().enumerate() {
        assert_eq!(r.seq, i as i64 + 1);
    }
    let lanes = by_lane(&log);
    assert!(lanes.len() > 8, "{} lanes used", lanes.len());
    for records in lanes.values() {
        assert_eq!(records[0].prev_hash, audit::GENESIS_HASH);
        for w in records.windows(2) {
            assert_eq!(w[1].prev_hash, w[0].hash);
            assert!(w[1].time >= w[0].time, "times follow the chain");
        }
    }
}

/// The log's records grouped by lane, each lane in seq order.
fn by_lane(log: &[AuditRecord]) -> BTreeMap<u32, Vec<AuditRecord>> {
    let mut lanes: BTreeMap<u32, Vec<AuditRecord>> = BTreeMap::new();
    for r in log {
        lanes.entry(r.lane).or_default().push(r.clone());
    }
    lanes
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
    assert_eq!(rows.len(), 16);
    assert_eq!(rows[0][1].as_deref(), Some("initial"));
    assert_eq!(rows[1][1].as_deref(), Some("changes"));
    assert_eq!(rows[2][1].as_deref(), Some("ingest_hot_path"));
    assert_eq!(rows[3][1].as_deref(), Some("region_slots"));
    assert_eq!(rows[4][1].as_deref(), Some("unused_indexes"));
    assert_eq!(rows[5][1].as_deref(), Some("applying_seq"));
    assert_eq!(rows[6][1].as_deref(), Some("reversals"));
    assert_eq!(rows[7][1].as_deref(), Some("tickets"));
    assert_eq!(rows[8][1].as_deref(), Some("audit_lanes"));
    assert_eq!(rows[9][1].as_deref(), Some("outbox"));
    assert_eq!(rows[10][1].as_deref(), Some("audit_subject"));
    assert_eq!(rows[11][1].as_deref(), Some("detector_state"));
    assert_eq!(rows[12][1].as_deref(), Some("scans"));
    assert_eq!(rows[13][0].as_deref(), Some("14"));
    assert_eq!(rows[13][1].as_deref(), Some("digests"));
    assert_eq!(rows[14][0].as_deref(), Some("15"));
    assert_eq!(rows[14][1].as_deref(), Some("coalescing_and_digest_caps"));
    assert_eq!(rows[15][1].as_deref(), Some("lease_owner_index"));
    let indexes = db
        .query("SELECT indexname FROM pg_indexes WHERE tablename = 'jobs' AND schemaname = current_schema()")
        .await;
    assert!(
        !indexes
            .iter()
            .any(|i| i[0].as_deref() == Some("jobs_lease_owner")),
        "{indexes:?}"
    );
    let heads = db
        .query("SELECT lane, seq, hash FROM audit_lanes ORDER BY lane")
        .await;
    assert_eq!(heads.len(), audit::PG_AUDIT_LANES as usize);
    for (lane, head) in heads.iter().enumerate() {
        assert_eq!(head[0], Some(lane.to_string()));
        assert_eq!(head[1].as_deref(), Some("0"));
        assert_eq!(head[2].as_deref(), Some(audit::GENESIS_HASH));
    }
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

/// Two subjects in two different lanes (neither lane 0), and a store with
/// `n` records about each, appended in turn, under an audit key; the
/// records of the first subject's lane and of the second's.
async fn two_lanes(db: &TestDb, n: usize) -> (Arc<dyn Store>, Vec<AuditRecord>, Vec<AuditRecord>) {
    let store = rectify_store::open_with(
        db.url(),
        rectify_store::StoreOptions {
            audit_key: Some(audit_key()),
        },
    )
    .await
    .unwrap();
    let (a, b) = ("job-c", "job-d");
    let lane = |s: &str| audit::lane_of(s, audit::PG_AUDIT_LANES);
    assert!(lane(a) != lane(b) && lane(a) > 0 && lane(b) > 0);
    for i in 0..n {
        for subject in [a, b] {
            store
                .append_audit("job.step", subject, &json!({"i": i}))
                .await
                .unwrap();
        }
    }
    let lanes = by_lane(&store.audit(0, 0).await.unwrap());
    assert_eq!(lanes.len(), 2);
    (store, lanes[&lane(a)].clone(), lanes[&lane(b)].clone())
}

fn audit_key() -> rectify_store::AuditKey {
    rectify_store::AuditKey::new(vec![7u8; 32]).unwrap()
}

fn broken(v: AuditVerdict) -> (i64, String) {
    match v {
        AuditVerdict::Broken { seq, reason } => (seq, reason),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_chain_their_records_and_cover_the_lane_number() {
    let db = TestDb::postgres();
    let (store, a, b) = two_lanes(&db, 4).await;
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerdict::Intact {
            records: 8,
            keyed: 8
        }
    );
    for lane in [&a, &b] {
        assert_eq!(lane[0].prev_hash, audit::GENESIS_HASH);
        for w in lane.windows(2) {
            assert_eq!(w[1].prev_hash, w[0].hash);
            // The other lane took the seq in between.
            assert_eq!(w[1].seq, w[0].seq + 2);
        }
        // The documented bytes, lane number included, recomputed.
        for r in lane.iter() {
            let data = audit::canonical_json(&r.data);
            let body = format!(
                "{}{{\"data\":{data},\"kind\":\"{}\",\"lane\":{},\"seq\":{},\"subject\":\"{}\",\"time\":\"{}\"}}",
                r.prev_hash, r.kind, r.lane, r.seq, r.subject, r.time
            );
            assert_eq!(
                r.hash,
                hex::encode(audit::hmac_sha256(&[7u8; 32], &[body.as_bytes()]))
            );
        }
    }
    // Every lane head as recorded, the empty ones at (0, genesis).
    let heads = store.audit_heads().await.unwrap();
    assert_eq!(heads.len(), audit::PG_AUDIT_LANES as usize);
    for h in &heads {
        match [&a, &b].iter().find(|l| l[0].lane == h.lane) {
            Some(lane) => {
                let last = lane.last().unwrap();
                assert_eq!((h.seq, h.hash.as_str()), (last.seq, last.hash.as_str()));
            }
            None => assert_eq!((h.seq, h.hash.as_str()), (0, audit::GENESIS_HASH)),
        }
    }
    assert_eq!(
        store.audit_head().await.unwrap(),
        Some((8, b[3].hash.clone()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_inside_one_lane_is_detected() {
    // Edited data.
    let db = TestDb::postgres();
    let (store, a, _) = two_lanes(&db, 4).await;
    db.exec(&format!(
        "UPDATE audit_log SET data = '{{\"i\":9}}' WHERE seq = {}",
        a[2].seq
    ))
    .await;
    let (seq, reason) = broken(store.verify_audit().await.unwrap());
    assert_eq!(seq, a[2].seq);
    assert!(reason.contains("hash mismatch"), "{reason}");
    assert!(reason.contains(&format!("lane {}", a[2].lane)), "{reason}");

    // A record deleted from the middle of a lane.
    let db = TestDb::postgres();
    let (store, a, _) = two_lanes(&db, 4).await;
    db.exec(&format!("DELETE FROM audit_log WHERE seq = {}", a[1].seq))
        .await;
    let (seq, reason) = broken(store.verify_audit().await.unwrap());
    assert_eq!(seq, a[2].seq);
    assert!(reason.contains("prev_hash mismatch"), "{reason}");

    // Two records of a lane swapped.
    let db = TestDb::postgres();
    let (store, a, _) = two_lanes(&db, 4).await;
    db.exec(&format!(
        "UPDATE audit_log SET seq = -1 WHERE seq = {s1}; \
         UPDATE audit_log SET seq = {s1} WHERE seq = {s2}; \
         UPDATE audit_log SET seq = {s2} WHERE seq = -1",
        s1 = a[1].seq,
        s2 = a[2].seq
    ))
    .await;
    let (seq, _) = broken(store.verify_audit().await.unwrap());
    assert_eq!(seq, a[1].seq);

    // The last record moved to the other lane, both heads moved to match.
    let db = TestDb::postgres();
    let (store, a, b) = two_lanes(&db, 4).await;
    let moved = &b[3];
    db.exec(&format!(
        "UPDATE audit_log SET lane = {la}, prev_hash = '{}' WHERE seq = {}; \
         UPDATE audit_lanes SET seq = {}, hash = '{}' WHERE lane = {la}; \
         UPDATE audit_lanes SET seq = {}, hash = '{}' WHERE lane = {lb}",
        a[3].hash,
        moved.seq,
        moved.seq,
        moved.hash,
        b[2].seq,
        b[2].hash,
        la = a[0].lane,
        lb = moved.lane,
    ))
    .await;
    let (seq, reason) = broken(store.verify_audit().await.unwrap());
    assert_eq!(seq, moved.seq);
    assert!(reason.contains("hash mismatch"), "{reason}");

    // A lane's tail deleted, its head left.
    let db = TestDb::postgres();
    let (store, a, _) = two_lanes(&db, 4).await;
    db.exec(&format!(
        "DELETE FROM audit_log WHERE lane = {} AND seq >= {}",
        a[0].lane, a[2].seq
    ))
    .await;
    let (seq, reason) = broken(store.verify_audit().await.unwrap());
    assert_eq!(seq, a[3].seq);
    assert!(reason.contains("truncated"), "{reason}");

    // A lane's head row deleted.
    let db = TestDb::postgres();
    let (store, a, _) = two_lanes(&db, 4).await;
    db.exec(&format!(
        "DELETE FROM audit_lanes WHERE lane = {}",
        a[0].lane
    ))
    .await;
    let (seq, reason) = broken(store.verify_audit().await.unwrap());
    assert_eq!(seq, a[3].seq);
    assert!(reason.contains("missing head"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anchor_catches_a_lane_cut_back_with_its_head() {
    let db = TestDb::postgres();
    let (store, a, b) = two_lanes(&db, 4).await;
    let key = audit_key();
    let anchor = audit::Anchor::sign_heads(
        &key,
        &store.audit_heads().await.unwrap(),
        "2026-12-06T05:00:00.000Z",
    )
    .await
    .unwrap();
    assert!(anchor.mac_valid(&key).await.unwrap());
    // Both lanes' heads, and the top one as the anchor's seq.
    assert_eq!(anchor.lanes.len(), 2);
    assert_eq!((anchor.seq, &anchor.hash), (b[3].seq, &b[3].hash));
    let body = serde_json::to_value(&anchor).unwrap();
    let back: audit::Anchor = serde_json::from_value(body).unwrap();
    assert!(back.mac_valid(&key).await.unwrap());
    // Changing any lane head breaks the MAC.
    let mut forged = anchor.clone();
    forged.lanes[0].seq -= 2;
    assert!(!forged.mac_valid(&key).await.unwrap());

    let checks = rectify_store::check_anchor_heads(store.as_ref(), &anchor)
        .await
        .unwrap();
    assert!(checks
        .iter()
        .all(|(_, c)| *c == audit::AnchorCheck::Matches));

    // Lane a's last two records deleted and its head set back to match:
    // the log alone looks whole, the anchor does not.
    db.exec(&format!(
        "DELETE FROM audit_log WHERE lane = {lane} AND seq >= {}; \
         UPDATE audit_lanes SET seq = {}, hash = '{}' WHERE lane = {lane}",
        a[2].seq,
        a[1].seq,
        a[1].hash,
        lane = a[1].lane
    ))
    .await;
    assert!(store.verify_audit().await.unwrap().is_intact());
    let checks = rectify_store::check_anchor_heads(store.as_ref(), &anchor)
        .await
        .unwrap();
    for (head, check) in checks {
        if head.lane == a[0].lane {
            assert_eq!(check, audit::AnchorCheck::Truncated { last_seq: a[1].seq });
        } else {
            assert_eq!(check, audit::AnchorCheck::Matches);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_from_before_lanes_still_verifies_and_goes_on_in_lanes() {
    let db = TestDb::postgres();
    let store = db.open().await;
    drop(store);
    // The database as the release before lanes left it (schema version 8):
    // one head row, no lane column, 30 records in one chain.
    let mut sql = String::from(
        "BEGIN;
         DROP TABLE audit_lanes; DROP SEQUENCE audit_seq;
         DROP INDEX audit_log_lane_seq; ALTER TABLE audit_log DROP COLUMN lane;
         DROP INDEX audit_log_subject;
         DROP TABLE coalesce_windows; DROP TABLE digest_items; DROP TABLE digest_periods;
         DROP TABLE detector_state;
         DROP TABLE scans;
         DROP TABLE scan_schedule;
         DROP TABLE outbox;
         DELETE FROM schema_migrations WHERE version >= 9;
         CREATE TABLE audit_head (id BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
                                  seq BIGINT NOT NULL, hash TEXT NOT NULL);\n",
    );
    let mut prev = audit::GENESIS_HASH.to_string();
    for seq in 1..=30i64 {
        let data = audit::canonical_json(&json!({"n": seq}));
        let time = "2026-11-01T12:00:00.000Z";
        let subject = format!("j-{}", seq % 7);
        let hash = audit::record_hash_canonical(&prev, seq, time, "job.applied", &subject, &data);
        sql.push_str(&format!(
            "INSERT INTO audit_log (seq, time, kind, subject, data, prev_hash, hash) \
             VALUES ({seq}, '{time}', 'job.applied', '{subject}', '{data}', '{prev}', '{hash}');\n"
        ));
        prev = hash;
    }
    sql.push_str(&format!(
        "INSERT INTO audit_head (id, seq, hash) VALUES (TRUE, 30, '{prev}'); COMMIT;"
    ));
    db.exec(&sql).await;
    let old: Vec<Vec<Option<String>>> = db
        .query("SELECT seq, prev_hash, hash FROM audit_log ORDER BY seq")
        .await;

    // Opening migrates: the old chain becomes lane 0, unchanged.
    let store = db.open().await;
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerdict::Intact {
            records: 30,
            keyed: 0
        }
    );
    assert_eq!(store.audit_head().await.unwrap(), Some((30, prev.clone())));
    for i in 0..40 {
        store
            .append_audit("job.applied", &format!("new-{i}"), &json!({"i": i}))
            .await
            .unwrap();
    }
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerdict::Intact {
            records: 70,
            keyed: 0
        }
    );
    let log = store.audit(0, 0).await.unwrap();
    // Seqs go on after the old head; the old records read back as written.
    assert_eq!(
        log.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=70).collect::<Vec<_>>()
    );
    for (r, row) in log.iter().zip(&old) {
        assert_eq!(r.lane, 0);
        assert_eq!(Some(r.prev_hash.clone()), row[1]);
        assert_eq!(Some(r.hash.clone()), row[2]);
    }
    // A new record of lane 0 continues the old chain.
    let lanes = by_lane(&log);
    if let Some(first_new) = lanes[&0].iter().find(|r| r.seq > 30) {
        assert_eq!(first_new.prev_hash, prev);
    }
    assert!(lanes.len() > 8, "{} lanes used", lanes.len());
}

/// A reader following the log by seq never skips a record: while an append
/// on one lane holds its seq uncommitted, a later seq committed on another
/// lane is not listed yet (a cursor past it would skip the first for
/// good); once that append is gone, it is.
#[tokio::test]
async fn a_cursor_over_the_log_waits_for_appends_still_in_flight() {
    let db = TestDb::postgres();
    let store = db.open().await;
    let (a, b) = ("job-c", "job-d");
    let lane = |s: &str| audit::lane_of(s, audit::PG_AUDIT_LANES) as i32;
    assert_ne!(lane(a), lane(b));
    let first = store
        .append_audit("job.step", a, &json!({"i": 0}))
        .await
        .unwrap();

    // An append on a's lane as the store makes one, left in flight: the
    // lane head locked, a seq taken, nothing committed.
    let mut slow = db.pg_conn().await;
    let tx = slow.transaction().await.unwrap();
    tx.query(
        "SELECT seq FROM audit_lanes WHERE lane = $1 FOR UPDATE",
        &[&lane(a)],
    )
    .await
    .unwrap();
    let held: i64 = scalar(&tx, "SELECT nextval('audit_seq')").await;

    let later = store
        .append_audit("job.step", b, &json!({"i": 1}))
        .await
        .unwrap();
    assert!(later.seq > held);
    // The plain listing shows the later record already; the settled one
    // stops below the seq still in flight.
    let all: Vec<i64> = store
        .audit(0, 0)
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(all, vec![first.seq, later.seq]);
    let settled: Vec<i64> = store
        .audit_settled(0, 0)
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(settled, vec![first.seq]);
    assert!(store.audit_settled(first.seq, 10).await.unwrap().is_empty());

    tx.rollback().await.unwrap();
    let settled: Vec<i64> = store
        .audit_settled(first.seq, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(settled, vec![later.seq]);
}

/// A database from before digests were held in the store (schema 13)
/// upgrades in place: its outbox is kept, and digests are held from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_to_digests_keeps_the_outbox() {
    let db = TestDb::postgres();
    let store = db.open().await;
    let owed = rectify_store::OutboxItem {
        id: "m-1".into(),
        channel: "ops".into(),
        job_id: "j-1".into(),
        outcome: "changed".into(),
        body: json!({"subject": "s", "message": {"job": "j-1"}}),
        attempts: 1,
        next_attempt_at: "2026-12-01T10:00:00.000Z".into(),
        state: rectify_store::outbox::PENDING.into(),
        last_error: None,
        created_at: "2026-12-01T10:00:00.000Z".into(),
        updated_at: "2026-12-01T10:00:00.000Z".into(),
    };
    store.outbox_put(std::slice::from_ref(&owed)).await.unwrap();
    drop(store);
    db.exec(
        "DROP TABLE coalesce_windows; DROP TABLE digest_items; DROP TABLE digest_periods;
         DELETE FROM schema_migrations WHERE version >= 14;",
    )
    .await;

    let store = db.open().await;
    assert_eq!(store.outbox_for_job("j-1").await.unwrap(), [owed]);
    let item = rectify_store::DigestItem {
        channel: "ops".into(),
        item_key: "k".into(),
        id: "i-1".into(),
        item: json!({"resource": "r"}),
        received: 1,
        period_ends_at: rectify_store::timefmt::now_minus(Duration::from_secs(1)),
        max_items: 10_000,
    };
    store.digest_put(&[item]).await.unwrap();
    let claimed = store
        .digest_claim(
            "t",
            &rectify_store::timefmt::now_plus(Duration::from_secs(60)),
            5,
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].items[0].item["resource"], "r");
    let rows = db
        .query("SELECT name FROM schema_migrations WHERE version = 14")
        .await;
    assert_eq!(rows, [[Some("digests".to_string())]]);
}

/// With autovacuum off (as the servers of this project run), the claimer
/// vacuums and analyses `jobs` itself, once per interval however often it
/// claims; with those statistics a claim under a backlog walks `jobs_due`
/// in order instead of reading and sorting every due job. With
/// autovacuum on, it leaves the table to the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claimer_looks_after_the_jobs_table() {
    let db = TestDb::postgres();
    let store = db.open().await;
    let raw = db.pg_conn().await;
    let autovacuum: bool = scalar(&raw, "SELECT current_setting('autovacuum') = 'on'").await;
    let upkeep = || async {
        let row = raw
            .query_one(
                "SELECT vacuum_count, analyze_count FROM pg_stat_user_tables \
                 WHERE schemaname = current_schema() AND relname = 'jobs'",
                &[],
            )
            .await
            .unwrap();
        (row.get::<_, i64>(0), row.get::<_, i64>(1))
    };
    assert_eq!(
        upkeep().await,
        (0, 0),
        "a new schema's jobs were never vacuumed"
    );

    const BACKLOG: usize = 3_000;
    let jobs: Vec<Job> = (0..BACKLOG)
        .map(|i| job(&format!("due-{i:05}"), &format!("k{i}")))
        .collect();
    for chunk in jobs.chunks(500) {
        store.enqueue_many(chunk).await.unwrap();
    }
    let first = store.claim("w1", LONG, 4).await.unwrap();
    let ids: Vec<&str> = first.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["due-00000", "due-00001", "due-00002", "due-00003"]);

    if autovacuum {
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            upkeep().await.0,
            0,
            "autovacuum is on: rectify vacuums nothing"
        );
        return;
    }
    // The upkeep runs in the background; the server's counters follow
    // within a second or so.
    let mut counts = upkeep().await;
    for _ in 0..100 {
        if counts == (1, 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        counts = upkeep().await;
    }
    assert_eq!(
        counts,
        (1, 1),
        "one VACUUM (ANALYZE) of jobs after the first claim"
    );

    // More claims within the interval: no second upkeep.
    for _ in 0..5 {
        assert_eq!(store.claim("w1", LONG, 4).await.unwrap().len(), 4);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(upkeep().await, (1, 1), "at most one upkeep per interval");

    // The claim's due branch, planned with the statistics it left: an
    // ordered walk of jobs_due that stops after the few rows it takes.
    let plan: Vec<String> = raw
        .query(
            "EXPLAIN SELECT id, run_at FROM jobs \
             WHERE state IN ('pending','retrying') AND run_at <= '9999' \
             ORDER BY run_at, id LIMIT 4 FOR UPDATE SKIP LOCKED",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("Index Scan using jobs_due"), "{plan}");
    assert!(!plan.contains("Sort"), "{plan}");
    let estimated = raw
        .query_one(
            "SELECT reltuples::bigint FROM pg_class \
             WHERE oid = (quote_ident(current_schema()) || '.jobs')::regclass",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(
        estimated, BACKLOG as i64,
        "the statistics count the backlog"
    );
}

/// A role that may only use rectify's tables (another role created and
/// migrated them) opens the store and claims, and cannot vacuum `jobs`:
/// the claimer then leaves it alone (and says so once in its log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_only_uses_the_tables_claims_and_vacuums_nothing() {
    let db = TestDb::postgres();
    let owner_store = db.open().await;
    owner_store
        .enqueue_many(&[job("not-mine-1", "k1"), job("not-mine-2", "k2")])
        .await
        .unwrap();
    let raw = db.pg_conn().await;
    let schema: String = scalar(&raw, "SELECT current_schema()::text").await;
    let role = format!("{schema}_worker");
    raw.batch_execute(&format!(
        "CREATE ROLE \"{role}\" LOGIN; \
         GRANT USAGE ON SCHEMA \"{schema}\" TO \"{role}\"; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \"{schema}\" TO \"{role}\"; \
         GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA \"{schema}\" TO \"{role}\";"
    ))
    .await
    .unwrap();
    let url = db
        .url()
        .replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
    assert_ne!(url, db.url(), "the test server URL names the postgres role");
    let worker_store = open(&url).await.unwrap();
    let claimed = worker_store.claim("w1", LONG, 2).await.unwrap();
    assert_eq!(claimed.len(), 2);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let vacuums: i64 = scalar(
        &raw,
        "SELECT vacuum_count + analyze_count FROM pg_stat_user_tables \
         WHERE schemaname = current_schema() AND relname = 'jobs'",
    )
    .await;
    assert_eq!(vacuums, 0);
    drop(worker_store);
    raw.batch_execute(&format!("DROP OWNED BY \"{role}\"; DROP ROLE \"{role}\";"))
        .await
        .ok();
}

/// The one value a statement without parameters returns.
async fn scalar<T>(conn: &impl tokio_postgres::GenericClient, sql: &str) -> T
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    conn.query_one(sql, &[]).await.unwrap().get(0)
}
