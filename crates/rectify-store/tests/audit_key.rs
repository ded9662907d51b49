//! The keyed audit log on both back ends: records HMAC'd under a key held
//! outside the database, what someone with write access to the database but
//! without the key can and cannot do, the chain head, and unkeyed records
//! written before a key was set. Also the SQLite file's permissions.

mod support;

use std::sync::Arc;

use rectify_store::{audit, open_with, AuditKey, AuditVerdict, Store, StoreOptions};
use serde_json::json;
use support::{lit, Kind, TestDb};

fn key(byte: u8) -> AuditKey {
    AuditKey::new(vec![byte; 32]).unwrap()
}

async fn open_keyed(db: &TestDb, key: Option<AuditKey>) -> Arc<dyn Store> {
    open_with(db.url(), StoreOptions { audit_key: key })
        .await
        .unwrap()
}

async fn append_n(store: &Arc<dyn Store>, from: usize, n: usize) {
    for i in from..from + n {
        store
            .append_audit("job.applied", &format!("j-{i}"), &json!({"i": i}))
            .await
            .unwrap();
    }
}

fn broken(v: AuditVerdict) -> (i64, String) {
    match v {
        AuditVerdict::Broken { seq, reason } => (seq, reason),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

/// Every record rewritten by someone without the key: hashes recomputed
/// the unkeyed way, lane by lane, one record's data changed, the heads
/// moved along.
async fn rewrite_whole_chain(db: &TestDb, change_seq: i64) {
    let rows = db
        .query(&format!(
            "SELECT seq, time, kind, subject, data, {} FROM audit_log ORDER BY seq",
            db.lane_column()
        ))
        .await;
    let mut heads: std::collections::BTreeMap<u32, (i64, String)> = Default::default();
    let mut sql = String::from("BEGIN;\n");
    for row in rows {
        let [seq, time, kind, subject, data, lane] =
            [0, 1, 2, 3, 4, 5].map(|i| row[i].clone().unwrap());
        let seq: i64 = seq.parse().unwrap();
        let lane: u32 = lane.parse().unwrap();
        let data = if seq == change_seq {
            audit::canonical_json(&json!({"i": "forged"}))
        } else {
            data
        };
        let head = heads
            .entry(lane)
            .or_insert((0, audit::GENESIS_HASH.to_string()));
        let hash =
            audit::record_hash_in_lane(None, lane, &head.1, seq, &time, &kind, &subject, &data);
        sql.push_str(&format!(
            "UPDATE audit_log SET data = {}, prev_hash = {}, hash = {} WHERE seq = {seq};\n",
            lit(&data),
            lit(&head.1),
            lit(&hash)
        ));
        *head = (seq, hash);
    }
    for (lane, (seq, hash)) in heads {
        sql.push_str(&db.set_audit_head_sql(lane, seq, &hash));
        sql.push_str(";\n");
    }
    sql.push_str("COMMIT;");
    db.exec(&sql).await;
}

async fn keyed_records_verify_only_with_their_key(db: TestDb) {
    let store = open_keyed(&db, Some(key(1))).await;
    append_n(&store, 0, 10).await;
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerdict::Intact {
            records: 10,
            keyed: 10
        }
    );
    // Each hash is the HMAC of the documented bytes under the key.
    for r in store.audit(0, 0).await.unwrap() {
        assert_eq!(r.hash, audit::recompute(Some(&key(1)), &r));
        assert_ne!(r.hash, audit::recompute(None, &r));
    }
    // Without the key, or with another, the log does not verify.
    let (seq, reason) = broken(open_keyed(&db, None).await.verify_audit().await.unwrap());
    assert_eq!(seq, 1);
    assert!(reason.contains("audit key"), "{reason}");
    let (seq, _) = broken(
        open_keyed(&db, Some(key(2)))
            .await
            .verify_audit()
            .await
            .unwrap(),
    );
    assert_eq!(seq, 1);
}

async fn full_rewrite_without_the_key_is_detected(db: TestDb) {
    let store = open_keyed(&db, Some(key(1))).await;
    append_n(&store, 0, 8).await;
    // Consistent again as an unkeyed chain, which an unkeyed log accepts.
    rewrite_whole_chain(&db, 3).await;
    let unkeyed = open_keyed(&db, None).await;
    assert!(unkeyed.verify_audit().await.unwrap().is_intact());
    let (_, reason) = broken(store.verify_audit().await.unwrap());
    assert!(reason.contains("no keyed record"), "{reason}");
}

async fn unkeyed_record_after_keyed_ones_is_detected(db: TestDb) {
    let store = open_keyed(&db, Some(key(1))).await;
    append_n(&store, 0, 3).await;
    // Someone without the key appends through a store that has none.
    let forger = open_keyed(&db, None).await;
    append_n(&forger, 3, 1).await;
    let (seq, reason) = broken(store.verify_audit().await.unwrap());
    assert_eq!(seq, 4);
    assert!(reason.contains("unkeyed record"), "{reason}");
}

async fn records_before_the_key_verify_as_unkeyed(db: TestDb) {
    let old = open_keyed(&db, None).await;
    append_n(&old, 0, 4).await;
    drop(old);
    let store = open_keyed(&db, Some(key(1))).await;
    // Nothing keyed yet: the log cannot show it was not rewritten.
    let (_, reason) = broken(store.verify_audit().await.unwrap());
    assert!(reason.contains("no keyed record"), "{reason}");
    append_n(&store, 4, 2).await;
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerdict::Intact {
            records: 6,
            keyed: 2
        }
    );
    let log = store.audit(0, 0).await.unwrap();
    // The first keyed record continues its lane's chain (the one chain on
    // SQLite).
    let before = log[..4]
        .iter()
        .rev()
        .find(|r| r.lane == log[4].lane)
        .map(|r| r.hash.as_str())
        .unwrap_or(audit::GENESIS_HASH);
    assert_eq!(
        log[4].prev_hash, before,
        "the keyed part continues the chain"
    );
}

async fn missing_head_is_broken(db: TestDb) {
    let store = open_keyed(&db, Some(key(1))).await;
    append_n(&store, 0, 5).await;
    match db.kind {
        Kind::Sqlite => {
            db.exec("DELETE FROM settings WHERE key = 'audit.head'")
                .await
        }
        Kind::Postgres => db.exec("DELETE FROM audit_lanes").await,
    }
    let (seq, reason) = broken(store.verify_audit().await.unwrap());
    assert_eq!(seq, 5);
    assert!(reason.contains("missing head"), "{reason}");
}

async fn deleting_tail_and_head_is_detected(db: TestDb) {
    let store = open_keyed(&db, Some(key(1))).await;
    append_n(&store, 0, 10).await;
    match db.kind {
        Kind::Sqlite => {
            db.exec("DELETE FROM audit_log WHERE seq > 7; DELETE FROM settings WHERE key = 'audit.head'")
                .await
        }
        Kind::Postgres => {
            db.exec("DELETE FROM audit_log WHERE seq > 7; DELETE FROM audit_lanes")
                .await
        }
    }
    let (seq, reason) = broken(store.verify_audit().await.unwrap());
    assert_eq!(seq, 7);
    assert!(reason.contains("missing head"), "{reason}");
    if db.kind == Kind::Sqlite {
        // The next append goes on from the last record and records that
        // the head was missing, keyed, so the loss stays on record.
        store.append_audit("k", "s", &json!(null)).await.unwrap();
        let log = store.audit(7, 0).await.unwrap();
        assert_eq!(log[0].kind, "audit.head-missing");
        assert_eq!(log[0].data["tail_seq"], 7);
        assert!(store.verify_audit().await.unwrap().is_intact());
    }
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::TestDb::new(super::Kind::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::TestDb::new(super::Kind::Postgres).await).await
                }
            )*
        }
    };
}

both_backends!(
    keyed_records_verify_only_with_their_key,
    full_rewrite_without_the_key_is_detected,
    unkeyed_record_after_keyed_ones_is_detected,
    records_before_the_key_verify_as_unkeyed,
    missing_head_is_broken,
    deleting_tail_and_head_is_detected,
);

#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/rectify.db");
    // Whatever the umask lets through, the files are the owner's alone.
    let store = rectify_store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    store.append_audit("k", "s", &json!({})).await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        let mode = std::fs::metadata(&file)
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}: {:o}", mode & 0o777);
    }
}
