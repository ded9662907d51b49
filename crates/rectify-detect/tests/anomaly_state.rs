//! The anomaly detector's state survives a restart: trained, saved, and
//! loaded into a new detector, it scores what follows exactly as the
//! detector that never stopped, on SQLite and on PostgreSQL
//! (`RECTIFY_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; each test in a schema of
//! its own, dropped at the end).

#[path = "support/anomaly_corpus.rs"]
mod corpus;

use std::str::FromStr;
use std::sync::Arc;

use rectify_detect::anomaly::AnomalySettings;
use rectify_detect::anomaly::{self, AnomalyDetector, Kind};
use rectify_detect::Detection;
use rectify_store::Store;

/// Every scored bucket becomes a detection, so that comparing detections
/// compares every score.
fn settings() -> AnomalySettings {
    AnomalySettings {
        enabled: true,
        threshold: 0.01,
        ..Default::default()
    }
}

fn score(d: &Detection) -> f64 {
    d.evidence["score"].as_f64().unwrap()
}

/// Minutes of the corpus the first detector learns before the restart.
const TRAINED: usize = 300;

fn feed(
    d: &mut AnomalyDetector,
    ct: &[Vec<serde_json::Value>],
    fl: &[Vec<String>],
) -> Vec<Detection> {
    use rectify_detect::Detector;
    let mut out = Vec::new();
    for (records, lines) in ct.iter().zip(fl) {
        for r in records {
            out.extend(d.observe(rectify_detect::Record::new(r)));
        }
        for l in lines {
            out.extend(d.observe_flow(l));
        }
    }
    out
}

async fn restart_scores_the_same(store: Arc<dyn Store>) {
    let (ct, _) = corpus::cloudtrail(3, true);
    let (fl, _) = corpus::flows(3, true);
    let mut before = AnomalyDetector::new(&settings(), "us-east-1");
    feed(&mut before, &ct[..TRAINED], &fl[..TRAINED]);
    let save = before.take_save();
    // The forest of every kind and every entity are written.
    assert_eq!(save.saves.len(), 3);
    for (_, s) in &save.saves {
        assert!(s.upserts.iter().any(|(entity, _)| entity.is_empty()));
    }
    save.write(store.as_ref()).await.unwrap();
    for kind in Kind::ALL {
        let rows = store.detector_state(kind.detector()).await.unwrap();
        assert_eq!(
            rows.len(),
            before.model_stats(kind).entities + 1,
            "{kind:?}"
        );
    }
    // Nothing changed since: the next save is empty.
    assert_eq!(before.take_save().rows(), 0);

    let mut after = anomaly::load(store.as_ref(), &settings(), "us-east-1")
        .await
        .unwrap();
    for kind in Kind::ALL {
        assert_eq!(
            after.model_stats(kind).entities,
            before.model_stats(kind).entities
        );
    }
    let rest_ct = &ct[TRAINED..];
    let rest_fl = &fl[TRAINED..];
    let mut expected = feed(&mut before, rest_ct, rest_fl);
    expected.extend(before.flush());
    let mut got = feed(&mut after, rest_ct, rest_fl);
    got.extend(after.flush());
    assert!(expected.len() > 500, "{} scored buckets", expected.len());
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        // The restored forest recomputes some sums that the running one
        // kept incrementally: scores agree to the last few bits.
        let (gs, es) = (score(g), score(e));
        assert!((gs - es).abs() <= 1e-9 * es.abs().max(1.0), "{gs} vs {es}");
        let (mut g, mut e) = (g.clone(), e.clone());
        g.evidence["score"] = serde_json::Value::Null;
        e.evidence["score"] = serde_json::Value::Null;
        assert_eq!(g, e);
    }

    // A second save writes only what changed, and a third after a failed
    // write rewrites everything.
    anomaly::save(store.as_ref(), &mut after).await.unwrap();
    let reloaded = anomaly::load(store.as_ref(), &settings(), "us-east-1")
        .await
        .unwrap();
    assert_eq!(
        reloaded.model_stats(Kind::Principal).entities,
        after.model_stats(Kind::Principal).entities
    );
    after.save_failed();
    let full = after.take_save();
    assert!(full.saves.iter().all(|(_, s)| s.replace_all));
}

async fn dropped_entities_leave_the_store(store: Arc<dyn Store>) {
    use rectify_detect::Detector;
    let settings = AnomalySettings {
        enabled: true,
        max_entities: 3,
        ..Default::default()
    };
    let mut d = AnomalyDetector::new(&settings, "us-east-1");
    let mut rng = corpus::Rng::new(9);
    for (i, name) in ["user/u1", "user/u2", "user/u3"].iter().enumerate() {
        let who = corpus::Principal::new(corpus::ACCOUNT, name, "");
        let r = corpus::call(
            &mut rng,
            &who,
            corpus::START + i as i64,
            "s3:ListBuckets",
            "us-east-1",
            "192.0.2.1",
            None,
        );
        d.observe(rectify_detect::Record::new(&r));
    }
    anomaly::save(store.as_ref(), &mut d).await.unwrap();
    assert_eq!(
        store
            .detector_state("anomaly-principal")
            .await
            .unwrap()
            .len(),
        4
    );
    // A fourth principal drops the least recently seen (u1).
    let who = corpus::Principal::new(corpus::ACCOUNT, "user/u4", "");
    let r = corpus::call(
        &mut rng,
        &who,
        corpus::START + 60,
        "s3:ListBuckets",
        "us-east-1",
        "192.0.2.1",
        None,
    );
    d.observe(rectify_detect::Record::new(&r));
    assert_eq!(d.model_stats(Kind::Principal).entities, 3);
    assert_eq!(d.model_stats(Kind::Principal).evicted, 1);
    anomaly::save(store.as_ref(), &mut d).await.unwrap();
    let entities: Vec<String> = store
        .detector_state("anomaly-principal")
        .await
        .unwrap()
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    assert_eq!(
        entities,
        vec![
            "".to_string(),
            "arn:aws:iam::111122223333:user/u2".into(),
            "arn:aws:iam::111122223333:user/u3".into(),
            "arn:aws:iam::111122223333:user/u4".into(),
        ]
    );
    // Loaded with a smaller cap, the most recently seen are kept.
    let smaller = AnomalySettings {
        max_entities: 2,
        ..settings
    };
    let d = anomaly::load(store.as_ref(), &smaller, "us-east-1")
        .await
        .unwrap();
    assert_eq!(d.model_stats(Kind::Principal).entities, 2);
    // Damaged rows are left out, not fatal.
    store
        .save_detector_state(
            "anomaly-principal",
            &rectify_store::DetectorStateSave {
                upserts: vec![
                    (
                        "arn:aws:iam::111122223333:user/u2".into(),
                        "{not json".into(),
                    ),
                    ("".into(), "[]".into()),
                ],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let d = anomaly::load(store.as_ref(), &settings, "us-east-1")
        .await
        .unwrap();
    assert_eq!(d.model_stats(Kind::Principal).entities, 2);
}

fn sqlite() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("rectify.db").display());
    (dir, url)
}

/// A PostgreSQL schema of its own, dropped on drop.
struct PgSchema {
    server: String,
    schema: String,
}

impl PgSchema {
    fn new() -> PgSchema {
        let server = std::env::var("RECTIFY_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let schema = format!("rectify_anomaly_{}_{nanos}", std::process::id());
        PgSchema { server, schema }
    }

    fn url(&self) -> String {
        let sep = if self.server.contains('?') { '&' } else { '?' };
        format!("{}{sep}schema={}", self.server, self.schema)
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (server, schema) = (self.server.clone(), self.schema.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let config = tokio_postgres::Config::from_str(&server).unwrap();
                if let Ok((client, conn)) = config.connect(tokio_postgres::NoTls).await {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                        .await;
                }
            });
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_restart_scores_the_same() {
    let (_dir, url) = sqlite();
    restart_scores_the_same(rectify_store::open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_scores_the_same() {
    let pg = PgSchema::new();
    restart_scores_the_same(rectify_store::open(&pg.url()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_dropped_entities_leave_the_store() {
    let (_dir, url) = sqlite();
    dropped_entities_leave_the_store(rectify_store::open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dropped_entities_leave_the_store() {
    let pg = PgSchema::new();
    dropped_entities_leave_the_store(rectify_store::open(&pg.url()).await.unwrap()).await;
}

/// One call by `user` at `minute` (minutes since the epoch).
fn call_at(user: &str, minute: i64) -> serde_json::Value {
    let t = time::OffsetDateTime::from_unix_timestamp(minute * 60 + 7).unwrap();
    serde_json::json!({
        "eventTime": t.format(&time::format_description::well_known::Rfc3339).unwrap(),
        "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets",
        "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
        "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "accountId": "111122223333",
                         "arn": format!("arn:aws:iam::111122223333:user/{user}")},
    })
}

/// The detector as `serve` runs it: the timer closes a quiet entity's
/// minute once it is 10 minutes behind the newest record (or the clock
/// when nothing came), and the state is written when due or forced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_detector_closes_quiet_minutes_and_saves_when_due() {
    let (_dir, url) = sqlite();
    let store = rectify_store::open(&url).await.unwrap();
    let settings = AnomalySettings {
        enabled: true,
        save_interval_seconds: 3600,
        ..Default::default()
    };
    let live = anomaly::LiveAnomaly::load(&settings, "us-east-1", store.clone())
        .await
        .unwrap()
        .expect("enabled");
    let m = 29_000_000i64;
    let (a0, a1, b0, b1) = (
        call_at("alice", m),
        call_at("alice", m + 1),
        call_at("bob", m + 18),
        call_at("bob", m + 19),
    );
    let closed = || live.model_stats(Kind::Principal).buckets_closed;
    // In time order: alice's minute m closes with her record of m + 1,
    // bob's m + 18 with his of m + 19.
    live.observe(&[&a1, &b1, &a0, &b0]);
    assert_eq!(closed(), 2);
    // The newest record is minute m + 19: alice's m + 1 is more than 10
    // minutes behind it and closes; bob's m + 19 stays open, whatever the
    // clock says.
    live.tick((m + 100_000) * 60);
    assert_eq!(closed(), 3);
    // Nothing came since: the clock decides.
    live.tick((m + 25) * 60);
    assert_eq!(closed(), 3);
    live.tick((m + 30) * 60);
    assert_eq!(closed(), 4);
    let alice = "arn:aws:iam::111122223333:user/alice".to_string();

    // Not due yet: nothing written; forced: everything.
    assert!(live.save(false).await);
    assert!(store
        .detector_state("anomaly-principal")
        .await
        .unwrap()
        .is_empty());
    assert!(live.save(true).await);
    let rows = store.detector_state("anomaly-principal").await.unwrap();
    assert!(rows.iter().any(|(k, _)| *k == alice), "{rows:?}");
    assert!(rows.iter().any(|(k, _)| k.is_empty()), "the forest row");
}
