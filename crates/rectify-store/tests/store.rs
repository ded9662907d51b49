//! The store's behaviour, run against both back ends: every test body is an
//! `async fn(TestDb)`, instantiated once per back end by `both_backends!`.
//! PostgreSQL-only tests (several replicas on one database) are in
//! `postgres.rs`.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rectify_model::{Event, FindingRef, Job, JobState, Mode, Outcome, OutcomeKind};
use rectify_store::{
    audit, coalesce, outbox, timefmt, AuditVerdict, ChangeCount, CoalesceHold, DigestItem,
    DigestPeriod, Enqueued, EventRow, FindingCursor, FindingFilter, FindingUpsert, IngestBatch,
    JobCursor, JobFilter, JobTally, NewJob, OutboxItem, Store, StoreError, WriteGate,
};
use serde_json::{json, Value};
use support::{event, job, lit, Kind, TestDb};

const LONG: Duration = Duration::from_secs(300);

async fn events_dedupe_and_batch(db: TestDb) {
    let store = db.open().await;
    assert!(store.record_event(&event("e-1"), "http").await.unwrap());
    assert!(!store.record_event(&event("e-1"), "sqs").await.unwrap());

    let batch: Vec<(Event, String)> = ["e-1", "e-2", "e-3", "e-2"]
        .iter()
        .map(|id| (event(id), "sqs".to_string()))
        .collect();
    assert_eq!(
        store.record_events(&batch).await.unwrap(),
        vec![false, true, true, false]
    );
    assert!(store.record_events(&[]).await.unwrap().is_empty());

    // A big batch goes through in one transaction.
    let big: Vec<(Event, String)> = (0..5000)
        .map(|i| (event(&format!("big-{i}")), "poll".to_string()))
        .collect();
    let flags = store.record_events(&big).await.unwrap();
    assert_eq!(flags.len(), 5000);
    assert!(flags.iter().all(|f| *f));
}

fn asff(updated_at: &str, workflow: &str) -> Value {
    json!({
        "Id": "f-1",
        "ProductArn": "arn:p",
        "AwsAccountId": "111122223333",
        "UpdatedAt": updated_at,
        "Resources": [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b", "Region": "eu-west-1"}],
        "Compliance": {"Status": "FAILED", "SecurityControlId": "S3.8"},
        "Workflow": {"Status": workflow},
    })
}

async fn findings_upsert_and_outcome(db: TestDb) {
    let store = db.open().await;
    store
        .upsert_finding("e-1", &asff("2024-05-01T12:00:00.000Z", "NEW"))
        .await
        .unwrap();
    let rows = store.list_findings(10, None).await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.id, "f-1");
    assert_eq!(row.product_arn, "arn:p");
    assert_eq!(row.account, "111122223333");
    assert_eq!(row.region, "eu-west-1");
    assert_eq!(row.control.as_deref(), Some("S3.8"));
    assert_eq!(row.workflow_status.as_deref(), Some("NEW"));
    assert_eq!(row.last_event_id, "e-1");
    assert_eq!(row.finding["Compliance"]["Status"], "FAILED");

    let fref = FindingRef {
        id: "f-1".into(),
        product_arn: "arn:p".into(),
        generator_id: None,
        severity: None,
    };
    store
        .set_finding_outcome(&fref, "j-1", "changed", Some("RESOLVED"))
        .await
        .unwrap();
    let row = store.list_findings(0, None).await.unwrap().remove(0);
    assert_eq!(row.last_job_id.as_deref(), Some("j-1"));
    assert_eq!(row.last_outcome.as_deref(), Some("changed"));
    assert_eq!(row.workflow_status.as_deref(), Some("RESOLVED"));

    // A newer import updates the row and keeps the last job.
    store
        .upsert_finding("e-2", &asff("2024-05-02T12:00:00.000Z", "NOTIFIED"))
        .await
        .unwrap();
    let row = store.list_findings(10, None).await.unwrap().remove(0);
    assert_eq!(row.last_event_id, "e-2");
    assert_eq!(row.workflow_status.as_deref(), Some("NOTIFIED"));
    assert_eq!(row.last_job_id.as_deref(), Some("j-1"));

    // An older redelivery does not overwrite it.
    store
        .upsert_finding("e-0", &asff("2024-04-01T12:00:00Z", "NEW"))
        .await
        .unwrap();
    let row = store.list_findings(10, None).await.unwrap().remove(0);
    assert_eq!(row.last_event_id, "e-2");

    // Outcome without a workflow status keeps the status.
    store
        .set_finding_outcome(&fref, "j-2", "failed", None)
        .await
        .unwrap();
    let row = store.list_findings(10, None).await.unwrap().remove(0);
    assert_eq!(row.workflow_status.as_deref(), Some("NOTIFIED"));
    assert_eq!(row.last_outcome.as_deref(), Some("failed"));

    // Region from the top level wins; a second finding lists too.
    store
        .upsert_finding(
            "e-3",
            &json!({"Id": "f-2", "ProductArn": "arn:p", "AwsAccountId": "1", "Region": "us-west-2",
                    "ProductFields": {"ControlId": "EC2.19"}}),
        )
        .await
        .unwrap();
    let rows = store.list_findings(10, None).await.unwrap();
    assert_eq!(rows.len(), 2);
    let f2 = rows.iter().find(|r| r.id == "f-2").unwrap();
    assert_eq!(f2.region, "us-west-2");
    assert_eq!(f2.control.as_deref(), Some("EC2.19"));
    assert_eq!(store.list_findings(1, None).await.unwrap().len(), 1);

    // Errors name what is wrong.
    let err = store
        .upsert_finding("e-4", &json!({"ProductArn": "x"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Id"), "{err}");
    let missing = FindingRef {
        id: "nope".into(),
        product_arn: "arn:p".into(),
        generator_id: None,
        severity: None,
    };
    let err = store
        .set_finding_outcome(&missing, "j", "changed", None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

async fn enqueue_duplicate_vs_new_after_final(db: TestDb) {
    let store = db.open().await;
    let first = store.enqueue(&job("job-0001-a", "k1")).await.unwrap();
    assert!(first.is_created());
    let stored = store.get_job("job-0001-a").await.unwrap().unwrap();
    assert_eq!(&stored, first.job());
    assert_eq!(stored.plan.as_ref().unwrap().summary, "block");
    assert_eq!(stored.finding.as_ref().unwrap().product_arn, "arn:p");

    // Same key while the first is live: duplicate of the first.
    match store.enqueue(&job("job-0002-b", "k1")).await.unwrap() {
        Enqueued::Duplicate(j) => assert_eq!(j.id, "job-0001-a"),
        other => panic!("expected duplicate, got {other:?}"),
    }
    // Same id again: duplicate too.
    assert!(!store
        .enqueue(&job("job-0001-a", "other"))
        .await
        .unwrap()
        .is_created());

    // Every live state blocks the key.
    for state in [
        JobState::WaitingApproval,
        JobState::Running,
        JobState::Retrying,
    ] {
        let mut j = stored.clone();
        j.state = state;
        assert!(store.save_job(&j, None).await.unwrap());
        assert!(!store
            .enqueue(&job("job-0003-c", "k1"))
            .await
            .unwrap()
            .is_created());
    }

    // Once final, the key gets a new job.
    let mut done = stored.clone();
    done.state = JobState::Succeeded;
    done.outcome = Some(Outcome::new(OutcomeKind::Changed, "done"));
    assert!(store.save_job(&done, None).await.unwrap());
    let again = store.enqueue(&job("job-0004-d", "k1")).await.unwrap();
    assert!(again.is_created());

    // Batches: one transaction, a key repeated inside is a duplicate.
    let res = store
        .enqueue_many(&[
            job("job-0005-e", "k2"),
            job("job-0006-f", "k2"),
            job("job-0007-g", "k1"),
        ])
        .await
        .unwrap();
    assert!(res[0].is_created());
    assert_eq!(res[1].job().id, "job-0005-e");
    assert!(!res[1].is_created());
    assert_eq!(res[2].job().id, "job-0004-d");

    let counts = store.count_jobs().await.unwrap();
    assert_eq!(counts.len(), JobState::ALL.len());
    assert_eq!(counts["pending"], 2);
    assert_eq!(counts["succeeded"], 1);
    assert_eq!(counts["dead"], 0);

    // Listing: newest first, filters.
    let all = store.list_jobs(&JobFilter::default()).await.unwrap();
    assert_eq!(all.len(), 3);
    let pending = store
        .list_jobs(&JobFilter {
            state: Some(JobState::Pending),
            rule_id: Some("rule-a".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert!(store
        .list_jobs(&JobFilter {
            rule_id: Some("other".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .is_empty());
}

async fn get_job_by_prefix(db: TestDb) {
    let store = db.open().await;
    store.enqueue(&job("abcdef12-0001", "k1")).await.unwrap();
    store.enqueue(&job("abcdef12-0002", "k2")).await.unwrap();
    store.enqueue(&job("zzzzzzzz-0003", "k3")).await.unwrap();
    assert_eq!(
        store.get_job("zzzzzzzz").await.unwrap().unwrap().id,
        "zzzzzzzz-0003"
    );
    assert_eq!(
        store.get_job("abcdef12-0002").await.unwrap().unwrap().id,
        "abcdef12-0002"
    );
    assert!(matches!(
        store.get_job("abcdef12").await,
        Err(StoreError::Ambiguous { .. })
    ));
    assert!(store.get_job("abcdef12-9").await.unwrap().is_none());
    assert!(matches!(
        store.get_job("abc").await,
        Err(StoreError::Invalid(_))
    ));
}

async fn claim_respects_next_run_at_and_leases(db: TestDb) {
    let store = db.open().await;
    let mut later = job("later-001", "k-later");
    later.state = JobState::Retrying;
    later.next_run_at = Some("2999-01-01T00:00:00Z".into());
    let mut due = job("due-00001", "k-due");
    due.state = JobState::Retrying;
    due.next_run_at = Some("2000-01-01T00:00:00.5+01:00".into());
    let mut waiting = job("wait-0001", "k-wait");
    waiting.state = JobState::WaitingApproval;
    let mut done = job("done-0001", "k-done");
    done.state = JobState::Failed;
    store
        .enqueue_many(&[later, due, job("now-00001", "k-now"), waiting, done])
        .await
        .unwrap();

    let got = store.claim("w1", LONG, 10).await.unwrap();
    let ids: Vec<&str> = got.iter().map(|j| j.id.as_str()).collect();
    // The overdue retry first (its next_run_at is older), then the new one.
    assert_eq!(ids, vec!["due-00001", "now-00001"]);
    for j in &got {
        assert_eq!(j.state, JobState::Running);
        assert_eq!(j.attempts, 1);
    }
    assert!(store.claim("w2", LONG, 10).await.unwrap().is_empty());
    assert!(store.claim("w2", LONG, 0).await.unwrap().is_empty());

    // A lease that ran out is claimable by someone else.
    let short = store.enqueue(&job("short-001", "k-short")).await.unwrap();
    let got = store
        .claim("w1", Duration::from_millis(50), 10)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, short.job().id);
    assert!(store.claim("w2", LONG, 10).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(120)).await;
    let taken = store.claim("w2", LONG, 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id, "short-001");
    assert_eq!(taken[0].attempts, 2);

    // The first holder lost it: renew and save are refused.
    assert!(!store.renew("short-001", "w1", LONG).await.unwrap());
    let mut result = taken[0].clone();
    result.state = JobState::Succeeded;
    assert!(!store.save_job(&result, Some("w1")).await.unwrap());
    assert_eq!(
        store.get_job("short-001").await.unwrap().unwrap().state,
        JobState::Running
    );
    // The new holder renews and saves.
    assert!(store.renew("short-001", "w2", LONG).await.unwrap());
    result.outcome = Some(Outcome::new(OutcomeKind::Changed, "ok"));
    result.updated_at = rectify_model::now_rfc3339();
    assert!(store.save_job(&result, Some("w2")).await.unwrap());
    let saved = store.get_job("short-001").await.unwrap().unwrap();
    assert_eq!(saved.state, JobState::Succeeded);
    assert_eq!(saved.outcome.unwrap().kind, OutcomeKind::Changed);
    // A final job is not claimed, renewed or saved by a worker any more.
    assert!(!store.renew("short-001", "w2", LONG).await.unwrap());
    assert!(!store.save_job(&result, Some("w2")).await.unwrap());
    // Saving a job that does not exist, without a worker, is an error.
    assert!(matches!(
        store.save_job(&job("ghost-0001", "g"), None).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn retry_with_backoff_is_claimed_when_due(db: TestDb) {
    let store = db.open().await;
    store.enqueue(&job("retry-001", "k")).await.unwrap();
    let mut j = store.claim("w", LONG, 1).await.unwrap().remove(0);
    j.state = JobState::Retrying;
    j.last_error = Some("throttled".into());
    j.next_run_at = Some(rectify_store::timefmt::now_plus(Duration::from_millis(100)));
    assert!(store.save_job(&j, Some("w")).await.unwrap());
    assert!(store.claim("w", LONG, 1).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(150)).await;
    let again = store.claim("w", LONG, 1).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].last_error.as_deref(), Some("throttled"));
}

async fn recover_expired_returns_running_jobs_to_pending(db: TestDb) {
    let store = db.open().await;
    store.enqueue(&job("rec-00001", "k1")).await.unwrap();
    store.enqueue(&job("rec-00002", "k2")).await.unwrap();
    // The live claim first: a slow machine must not let it take over the
    // short lease instead of the other job.
    store.claim("alive", LONG, 1).await.unwrap();
    store
        .claim("dead", Duration::from_millis(10), 1)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(store.recover_expired().await.unwrap(), 1);
    let counts = store.count_jobs().await.unwrap();
    assert_eq!(counts["pending"], 1);
    assert_eq!(counts["running"], 1);
    assert_eq!(store.recover_expired().await.unwrap(), 0);
}

async fn concurrent_claimers_never_share_a_job(db: TestDb) {
    // Two stores on one database: two connections, as two processes would be.
    let a = db.open().await;
    let b = db.open().await;
    const JOBS: usize = 300;
    let jobs: Vec<Job> = (0..JOBS)
        .map(|i| job(&format!("conc-{i:05}"), &format!("k{i}")))
        .collect();
    a.enqueue_many(&jobs).await.unwrap();

    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = if t % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let worker = format!("w{t}");
            let mut mine = Vec::new();
            loop {
                let got = store.claim(&worker, LONG, 3).await.unwrap();
                if got.is_empty() {
                    break;
                }
                for mut j in got {
                    j.state = JobState::Succeeded;
                    assert!(store.save_job(&j, Some(&worker)).await.unwrap());
                    mine.push(j.id);
                }
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for t in tasks {
        for id in t.await.unwrap() {
            total += 1;
            assert!(seen.insert(id.clone()), "{id} claimed twice");
        }
    }
    assert_eq!(total, JOBS);
    assert_eq!(a.count_jobs().await.unwrap()["succeeded"], JOBS as u64);
}

async fn approve_only_from_waiting_approval(db: TestDb) {
    let store = db.open().await;
    let mut j = job("appr-0001-x", "k1");
    j.state = JobState::WaitingApproval;
    j.mode = Mode::Approve;
    store.enqueue(&j).await.unwrap();
    store.enqueue(&job("appr-0002-y", "k2")).await.unwrap();

    let err = store.approve("appr-0002-y", "alice").await.unwrap_err();
    assert!(matches!(
        err,
        StoreError::InvalidState {
            state: JobState::Pending,
            ..
        }
    ));
    assert!(err.to_string().contains("pending"), "{err}");
    assert!(matches!(
        store.approve("nope-nope-nope", "alice").await,
        Err(StoreError::NotFound(_))
    ));

    let approved = store.approve("appr-0001", "alice").await.unwrap();
    assert_eq!(approved.state, JobState::Pending);
    assert_eq!(approved.approved_by.as_deref(), Some("alice"));
    assert_eq!(
        store
            .get_job("appr-0001-x")
            .await
            .unwrap()
            .unwrap()
            .approved_by
            .as_deref(),
        Some("alice")
    );
    let log = store.audit(0, 0).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].kind, "job.approved");
    assert_eq!(log[0].subject, "appr-0001-x");
    assert_eq!(log[0].data["by"], "alice");
    // Twice is an error naming the state it is in now.
    let err = store.approve("appr-0001-x", "bob").await.unwrap_err();
    assert!(err.to_string().contains("is pending"), "{err}");
}

/// `n` records about one subject: one chain on either back end (on
/// PostgreSQL, one lane).
async fn append_n(store: &Arc<dyn Store>, n: usize) {
    for i in 0..n {
        let rec = store
            .append_audit(
                "job.applied",
                "j-1",
                &json!({"z": i, "a": {"y": [1, 2], "b": "text"}, "float": 1.5}),
            )
            .await
            .unwrap();
        assert_eq!(rec.seq, i as i64 + 1);
    }
}

async fn audit_chain_appends_and_verifies(db: TestDb) {
    let store = db.open().await;
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerdict::Intact {
            records: 0,
            keyed: 0
        }
    );
    append_n(&store, 25).await;
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerdict::Intact {
            records: 25,
            keyed: 0
        }
    );
    let log = store.audit(0, 0).await.unwrap();
    assert_eq!(log.len(), 25);
    assert_eq!(log[0].prev_hash, audit::GENESIS_HASH);
    for w in log.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
        assert_eq!(w[1].seq, w[0].seq + 1);
    }
    // An auditor recomputes each hash from the record alone.
    for r in &log {
        assert_eq!(audit::recompute(None, r), r.hash);
    }
    let page = store.audit(10, 5).await.unwrap();
    assert_eq!(
        page.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![11, 12, 13, 14, 15]
    );

    // Reopening keeps the chain and continues it.
    drop(store);
    let store = db.open().await;
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerdict::Intact {
            records: 25,
            keyed: 0
        }
    );
    let next = store
        .append_audit("job.retried", "j-1", &json!({}))
        .await
        .unwrap();
    assert_eq!(next.seq, 26);
    assert_eq!(next.prev_hash, log[24].hash);
    assert!(store.verify_audit().await.unwrap().is_intact());
}

async fn concurrent_appends_keep_the_chain(db: TestDb) {
    let a = db.open().await;
    let b = db.open().await;
    let mut tasks = Vec::new();
    for t in 0..6 {
        let store = if t % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                store
                    .append_audit("k", &format!("{t}-{i}"), &json!({"i": i}))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        b.verify_audit().await.unwrap(),
        AuditVerdict::Intact {
            records: 120,
            keyed: 0
        }
    );
}

fn broken(v: AuditVerdict) -> (i64, String) {
    match v {
        AuditVerdict::Broken { seq, reason } => (seq, reason),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

async fn audit_tamper_edit_data(db: TestDb) {
    let store = db.open().await;
    append_n(&store, 10).await;
    db.exec("UPDATE audit_log SET data = replace(data, '\"text\"', '\"TEXT\"') WHERE seq = 4")
        .await;
    let (seq, reason) = broken(store.verify_audit().await.unwrap());
    assert_eq!(seq, 4);
    assert!(reason.contains("hash mismatch"), "{reason}");
}

async fn audit_tamper_reorder_keys_is_detected(db: TestDb) {
    let store = db.open().await;
    append_n(&store, 3).await;
    db.exec("UPDATE audit_log SET data = '{\"z\":1,\"float\":1.5,\"a\":{\"y\":[1,2],\"b\":\"text\"}}' WHERE seq = 2").await;
    assert_eq!(broken(store.verify_audit().await.unwrap()).0, 2);
}

async fn audit_tamper_delete_row(db: TestDb) {
    let store = db.open().await;
    append_n(&store, 10).await;
    db.exec("DELETE FROM audit_log WHERE seq = 6").await;
    let (seq, reason) = broken(store.verify_audit().await.unwrap());
    match db.kind {
        // One lane: seqs follow each other without gaps.
        Kind::Sqlite => {
            assert_eq!(seq, 6);
            assert!(reason.contains("gap in seq"), "{reason}");
        }
        // Other lanes take seqs in between: the next record's link breaks.
        Kind::Postgres => {
            assert_eq!(seq, 7);
            assert!(reason.contains("prev_hash mismatch"), "{reason}");
        }
    }
}

async fn audit_tamper_delete_tail(db: TestDb) {
    let store = db.open().await;
    append_n(&store, 10).await;
    db.exec("DELETE FROM audit_log WHERE seq >= 9").await;
    let (seq, reason) = broken(store.verify_audit().await.unwrap());
    let (expected, what, after_append) = match db.kind {
        Kind::Sqlite => (9, "gap in seq", 9),
        // The lane's recorded head (10) is gone; the next append links to
        // it, so the hole shows at that record.
        Kind::Postgres => (10, "truncated", 11),
    };
    assert_eq!(seq, expected);
    assert!(reason.contains(what), "{reason}");
    // Appending does not paper over the hole.
    store.append_audit("k", "j-1", &json!(null)).await.unwrap();
    assert_eq!(broken(store.verify_audit().await.unwrap()).0, after_append);
}

async fn audit_tamper_change_hash(db: TestDb) {
    let store = db.open().await;
    append_n(&store, 10).await;
    db.exec("UPDATE audit_log SET hash = '1111111111111111111111111111111111111111111111111111111111111111' WHERE seq = 3").await;
    let (seq, reason) = broken(store.verify_audit().await.unwrap());
    assert_eq!(seq, 3);
    assert!(reason.contains("hash mismatch"), "{reason}");
}

async fn audit_tamper_rewrite_link(db: TestDb) {
    let store = db.open().await;
    append_n(&store, 10).await;
    // Record 7 re-hashed consistently over a forged prev_hash.
    let row = db
        .query("SELECT time, kind, subject, data FROM audit_log WHERE seq = 7")
        .await
        .remove(0);
    let [time, kind, subject, data] = [0, 1, 2, 3].map(|i| row[i].clone().unwrap());
    let forged_prev = "2".repeat(64);
    let hash = audit::record_hash_canonical(&forged_prev, 7, &time, &kind, &subject, &data);
    db.exec(&format!(
        "UPDATE audit_log SET prev_hash = {}, hash = {} WHERE seq = 7",
        lit(&forged_prev),
        lit(&hash)
    ))
    .await;
    let (seq, reason) = broken(store.verify_audit().await.unwrap());
    assert_eq!(seq, 7);
    assert!(reason.contains("prev_hash mismatch"), "{reason}");
}

async fn audit_verify_streams_past_one_page(db: TestDb) {
    let store = db.open().await;
    // More than one page of 1000 records, written straight in one
    // transaction for speed, then one record broken on the second page.
    let mut sql = String::from("BEGIN;\n");
    let mut prev = audit::GENESIS_HASH.to_string();
    for chunk in (1..=1500i64).collect::<Vec<_>>().chunks(100) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|&seq| {
                let data = audit::canonical_json(&json!({"n": seq}));
                let time = "2024-05-01T12:00:00.000Z";
                let hash = audit::record_hash_canonical(&prev, seq, time, "k", "s", &data);
                let row = format!(
                    "({seq}, {}, 'k', 's', {}, {}, {})",
                    lit(time),
                    lit(&data),
                    lit(&prev),
                    lit(&hash)
                );
                prev = hash;
                row
            })
            .collect();
        sql.push_str(&format!(
            "INSERT INTO audit_log (seq, time, kind, subject, data, prev_hash, hash) VALUES {};\n",
            rows.join(", ")
        ));
    }
    sql.push_str(&db.set_audit_head_sql(0, 1500, &prev));
    sql.push_str(";\nCOMMIT;");
    db.exec(&sql).await;
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerdict::Intact {
            records: 1500,
            keyed: 0
        }
    );
    db.exec("UPDATE audit_log SET kind = 'x' WHERE seq = 1234")
        .await;
    assert_eq!(broken(store.verify_audit().await.unwrap()).0, 1234);
}

async fn paused_flag_persists(db: TestDb) {
    let store = db.open().await;
    assert!(!store.is_paused().await.unwrap());
    store.set_paused(true, "alice").await.unwrap();
    assert!(store.is_paused().await.unwrap());
    drop(store);
    let store = db.open().await;
    assert!(store.is_paused().await.unwrap());
    store.set_paused(false, "bob").await.unwrap();
    assert!(!store.is_paused().await.unwrap());
    let kinds: Vec<String> = store
        .audit(0, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|r| format!("{} {}", r.kind, r.subject))
        .collect();
    assert_eq!(kinds, vec!["engine.paused alice", "engine.resumed bob"]);
    // Visible to another connection on the same database at once.
    let other = db.open().await;
    store.set_paused(true, "carol").await.unwrap();
    assert!(other.is_paused().await.unwrap());
}

async fn migrations_are_idempotent_on_reopen(db: TestDb) {
    let store = db.open().await;
    store.record_event(&event("e-1"), "http").await.unwrap();
    store.enqueue(&job("mig-00001", "k")).await.unwrap();
    drop(store);
    for _ in 0..3 {
        let store = db.open().await;
        assert!(!store.record_event(&event("e-1"), "http").await.unwrap());
        assert!(store.get_job("mig-00001").await.unwrap().is_some());
    }
    let versions = db
        .query("SELECT version, name FROM schema_migrations ORDER BY version")
        .await;
    let mut expected = vec![
        vec![Some("1".to_string()), Some("initial".to_string())],
        vec![Some("2".to_string()), Some("changes".to_string())],
        vec![Some("3".to_string()), Some("ingest_hot_path".to_string())],
        vec![Some("4".to_string()), Some("region_slots".to_string())],
        vec![Some("5".to_string()), Some("unused_indexes".to_string())],
    ];
    let mut later = vec!["applying_seq", "reversals", "tickets"];
    match db.kind {
        Kind::Sqlite => later.insert(0, "hashed_lookup_keys"),
        Kind::Postgres => later.push("audit_lanes"),
    }
    later.push("outbox");
    later.push("audit_subject");
    later.push("detector_state");
    later.push("scans");
    for name in later {
        let version = expected.len() + 1;
        expected.push(vec![Some(version.to_string()), Some(name.to_string())]);
    }
    expected.push(vec![Some("14".to_string()), Some("digests".to_string())]);
    expected.push(vec![
        Some("15".to_string()),
        Some("coalescing_and_digest_caps".to_string()),
    ]);
    expected.push(vec![
        Some("16".to_string()),
        Some("lease_owner_index".to_string()),
    ]);
    assert_eq!(versions, expected);
    if matches!(db.kind, Kind::Sqlite) {
        let mode = db.query("PRAGMA journal_mode").await;
        assert_eq!(mode[0][0].as_deref(), Some("wal"));
        let page = db.query("PRAGMA page_size").await;
        assert_eq!(page[0][0].as_deref(), Some("8192"));
    }

    // A database from a newer build is refused with a clear message.
    db.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')")
        .await;
    let err = rectify_store::open(db.url()).await.err().unwrap();
    assert!(err.to_string().contains("newer"), "{err}");
}

async fn times_are_normalised_for_text_comparison(db: TestDb) {
    let store = db.open().await;
    let mut j = job("time-0001", "k");
    j.created_at = "2024-05-01T12:00:00Z".into();
    j.updated_at = "2024-05-01T14:00:00.1+02:00".into();
    let created = store.enqueue(&j).await.unwrap().into_job();
    assert_eq!(created.created_at, "2024-05-01T12:00:00.000Z");
    assert_eq!(created.updated_at, "2024-05-01T12:00:00.100Z");
    j.id = "time-0002".into();
    j.idempotency_key = "k2".into();
    j.created_at = "not a time".into();
    let err = store.enqueue(&j).await.unwrap_err();
    assert!(err.to_string().contains("created_at"), "{err}");
}

async fn batch_findings_and_audit(db: TestDb) {
    let store = db.open().await;
    let findings: Vec<(String, Value)> = (0..50)
        .map(|i| {
            (
                format!("e-{i}"),
                json!({"Id": format!("f-{i}"), "ProductArn": "arn:p", "AwsAccountId": "1"}),
            )
        })
        .collect();
    store.upsert_findings(&findings).await.unwrap();
    assert_eq!(store.list_findings(0, None).await.unwrap().len(), 50);
    // One bad finding fails the batch, naming its event, and stores nothing.
    let bad = vec![
        (
            "e-x".to_string(),
            json!({"Id": "f-x", "ProductArn": "arn:p"}),
        ),
        ("e-y".to_string(), json!({"Id": "f-y"})),
    ];
    let err = store.upsert_findings(&bad).await.unwrap_err();
    assert!(
        err.to_string().contains("ProductArn") && err.to_string().contains("e-y"),
        "{err}"
    );
    assert_eq!(store.list_findings(0, None).await.unwrap().len(), 50);

    // One subject: one chain on either back end (one lane on PostgreSQL).
    store.append_audit("first", "s", &json!(1)).await.unwrap();
    let recs = store
        .append_audit_many(&[
            ("a".to_string(), "s".to_string(), json!({"b": 1, "a": 2})),
            ("b".to_string(), "s".to_string(), json!([3])),
        ])
        .await
        .unwrap();
    assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(recs[1].prev_hash, recs[0].hash);
    assert_eq!(store.audit(1, 0).await.unwrap(), recs);
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerdict::Intact {
            records: 3,
            keyed: 0
        }
    );
}

/// Not a benchmark; catches an accidental per-row commit or full scan.
async fn ingest_and_claim_throughput(db: TestDb) {
    let store = db.open().await;
    let start = std::time::Instant::now();
    let events: Vec<(Event, String)> = (0..20_000)
        .map(|i| (event(&format!("t-{i}")), "sqs".to_string()))
        .collect();
    for chunk in events.chunks(500) {
        store.record_events(chunk).await.unwrap();
    }
    let jobs: Vec<Job> = (0..20_000)
        .map(|i| job(&format!("tj-{i:06}"), &format!("tk-{i}")))
        .collect();
    for chunk in jobs.chunks(500) {
        store.enqueue_many(chunk).await.unwrap();
    }
    let ingest = start.elapsed();
    let start = std::time::Instant::now();
    for _ in 0..100 {
        let got = store.claim("w", LONG, 10).await.unwrap();
        assert_eq!(got.len(), 10);
    }
    let claims = start.elapsed();
    eprintln!("20k events + 20k jobs: {ingest:?}; 100 claims of 10 over a 20k backlog: {claims:?}");
    assert!(ingest < Duration::from_secs(60), "{ingest:?}");
    assert!(claims < Duration::from_secs(20), "{claims:?}");
}

async fn release_owned_returns_only_that_workers_jobs(db: TestDb) {
    let store = db.open().await;
    let jobs: Vec<Job> = (0..5)
        .map(|i| job(&format!("own-{i:05}"), &format!("k{i}")))
        .collect();
    store.enqueue_many(&jobs).await.unwrap();
    assert_eq!(store.claim("pod-0", LONG, 3).await.unwrap().len(), 3);
    assert_eq!(store.claim("pod-1", LONG, 1).await.unwrap().len(), 1);
    // pod-0 restarts under the same id: its jobs go back at once.
    assert_eq!(store.release_owned("pod-0").await.unwrap(), 3);
    assert_eq!(store.release_owned("pod-0").await.unwrap(), 0);
    let counts = store.count_jobs().await.unwrap();
    assert_eq!(counts["pending"], 4);
    assert_eq!(counts["running"], 1);
    let again = store.claim("pod-0", LONG, 10).await.unwrap();
    assert_eq!(again.len(), 4);
    assert_eq!(again.iter().filter(|j| j.attempts == 2).count(), 3);
    // A released job's old lease no longer lets anyone save it... except
    // the new holder.
    let mut j = again[0].clone();
    j.state = JobState::Succeeded;
    assert!(!store.save_job(&j, Some("pod-1")).await.unwrap());
    assert!(store.save_job(&j, Some("pod-0")).await.unwrap());
}

async fn applying_marks_leases_and_reversals(db: TestDb) {
    let store = db.open().await;
    store.enqueue(&job("apply-00001", "ka")).await.unwrap();
    let claimed = store.claim("pod-a", LONG, 1).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(store.lease_owners().await.unwrap(), ["pod-a"]);
    assert_eq!(store.applying_history("apply-00001").await.unwrap(), None);
    let change = rectify_model::Change {
        summary: "turn it on".into(),
        before: json!({"on": false}),
        after: json!({"on": true}),
    };
    let records = vec![
        (
            "job.checked".to_string(),
            "apply-00001".to_string(),
            json!({}),
        ),
        (
            "job.applying".to_string(),
            "apply-00001".to_string(),
            json!({"n": 1}),
        ),
    ];
    // Only the holder of the lease may mark the job.
    assert!(!store
        .mark_applying("apply-00001", "pod-b", &change, &records)
        .await
        .unwrap());
    assert!(store
        .mark_applying("apply-00001", "pod-a", &change, &records)
        .await
        .unwrap());
    // The mark is the `job.applying` record: the history starts there.
    store
        .append_audit("job.applied", "apply-00001", &json!({}))
        .await
        .unwrap();
    store
        .append_audit("job.other", "another-job", &json!({}))
        .await
        .unwrap();
    assert_eq!(
        store.applying_history("apply-00001").await.unwrap(),
        Some(vec!["job.applying".to_string(), "job.applied".to_string()])
    );
    let stored = store.get_job("apply-00001").await.unwrap().unwrap();
    assert_eq!(stored.plan, Some(change));
    assert!(store.verify_audit().await.unwrap().is_intact());

    let hour = Duration::from_secs(3600);
    assert_eq!(
        store
            .record_reversal("111122223333", "arn:r", "arn:p", hour)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .record_reversal("111122223333", "arn:r", "arn:p", hour)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_reversals("111122223333", "arn:r", "arn:p", hour)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .count_reversals("111122223333", "arn:r", "arn:someone-else", hour)
            .await
            .unwrap(),
        0
    );
}

async fn job_times_have_the_store_format(db: TestDb) {
    let store = db.open().await;
    let mut j = job("fmt-00001", "k");
    j.next_run_at = Some("2000-01-01T00:00:00+00:00".into());
    j.state = JobState::Retrying;
    store.enqueue(&j).await.unwrap();
    let claimed = store.claim("w", LONG, 1).await.unwrap().remove(0);
    for t in [&claimed.created_at, &claimed.updated_at] {
        assert_eq!(t.len(), 24, "{t}");
        assert_eq!(rectify_store::timefmt::normalize(t, "t").unwrap(), *t);
    }
    assert_eq!(
        claimed.next_run_at.as_deref(),
        Some("2000-01-01T00:00:00.000Z")
    );
    let listed = store.list_jobs(&JobFilter::default()).await.unwrap();
    assert_eq!(listed, vec![claimed]);
}

async fn enqueue_many_repeated_ids_and_final_states(db: TestDb) {
    let store = db.open().await;
    // A repeated id inside one batch is a duplicate of its first occurrence.
    let res = store
        .enqueue_many(&[
            job("rep-00001", "ka"),
            job("rep-00001", "kb"),
            job("rep-00002", "kb"),
        ])
        .await
        .unwrap();
    assert!(res[0].is_created());
    assert!(!res[1].is_created());
    assert_eq!(res[1].job().idempotency_key, "ka");
    assert!(res[2].is_created());
    // A batch holding a final job: the final one does not take a live key.
    let mut done = job("rep-00003", "ka");
    done.state = JobState::Succeeded;
    let mut done2 = job("rep-00004", "kc");
    done2.state = JobState::Dead;
    let res = store
        .enqueue_many(&[done, done2, job("rep-00005", "kc")])
        .await
        .unwrap();
    assert_eq!(res[0].job().id, "rep-00001");
    assert!(!res[0].is_created());
    assert!(res[1].is_created());
    assert!(res[2].is_created());
    assert_eq!(
        store.list_jobs(&JobFilter::default()).await.unwrap().len(),
        4
    );
}

/// A finding event as the engine hands it to `ingest`.
fn finding_event(id: &str, finding: &Value) -> Event {
    let mut e = event(id);
    e.body = json!({"id": id, "detail": {"findings": [finding]}});
    e
}

fn ingest_batch(events: &[Event], jobs: Vec<Job>) -> IngestBatch {
    let jobs = jobs
        .into_iter()
        .map(NewJob::new)
        .collect::<Result<Vec<_>, _>>();
    IngestBatch {
        events: events
            .iter()
            .map(|e| EventRow::new(e, "http").unwrap())
            .collect(),
        findings: events
            .iter()
            .map(|e| FindingUpsert::in_event(&e.id, &e.body["detail"]["findings"][0]).unwrap())
            .collect(),
        jobs: jobs.unwrap(),
        audit: Box::new(|fresh: &[bool], jobs: &[Enqueued]| {
            vec![(
                "ingest".to_string(),
                "batch".to_string(),
                json!({
                    "fresh": fresh,
                    "created": jobs.iter().filter(|j| j.is_created()).map(|j| j.job().id.clone()).collect::<Vec<_>>(),
                }),
            )]
        }),
    }
}

/// An event whose body is exactly the text received is stored as that
/// text; its finding reads back as it was routed, duplicate keys included
/// (the last one wins, as in serde_json).
async fn events_are_stored_as_received(db: TestDb) {
    let store = db.open().await;
    let f = asff("2024-05-01T12:00:00.000Z", "NEW");
    let finding = serde_json::to_string_pretty(&f).unwrap();
    // An extra Workflow key before the real one: routing sees the last.
    let finding = finding.replacen("{", "{\n  \"Workflow\": {\"Status\": \"RESOLVED\"},", 1);
    let text = format!("{{\"id\": \"e-raw\",\n \"detail\": {{\"findings\": [{finding}]}}}}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["detail"]["findings"][0]["Workflow"]["Status"], "NEW");
    let mut e = event("e-raw");
    e.body = body;
    e.keep_received_text(&text);
    store.ingest(ingest_batch(&[e], Vec::new())).await.unwrap();
    let row = store.list_findings(10, None).await.unwrap().remove(0);
    assert_eq!(row.finding["Workflow"]["Status"], "NEW");
    assert_eq!(row.finding["Id"], f["Id"]);
    if matches!(db.kind, Kind::Sqlite) {
        let stored = db.query("SELECT body FROM events WHERE id = 'e-raw'").await;
        assert_eq!(stored, vec![vec![Some(text)]]);
    }
}

/// What a polling source keeps: which events are stored already (it reads
/// some twice), and its cursor, across reopening.
async fn known_events_and_source_cursors(db: TestDb) {
    let store = db.open().await;
    store.record_event(&event("e-known"), "poll").await.unwrap();
    let asked = [
        "e-known".to_string(),
        "e-new".to_string(),
        "e-known".to_string(),
    ];
    let known = store.known_events(&asked).await.unwrap();
    assert_eq!(known.into_iter().collect::<Vec<_>>(), ["e-known"]);
    assert!(store.known_events(&[]).await.unwrap().is_empty());

    assert_eq!(store.source_cursor("securityhub").await.unwrap(), None);
    store
        .set_source_cursor("securityhub", "2026-12-02T10:00:00.000Z")
        .await
        .unwrap();
    store
        .set_source_cursor("securityhub", "2026-12-02T11:00:00.000Z")
        .await
        .unwrap();
    drop(store);
    let store = db.open().await;
    assert_eq!(
        store.source_cursor("securityhub").await.unwrap().as_deref(),
        Some("2026-12-02T11:00:00.000Z")
    );
    assert_eq!(store.source_cursor("other").await.unwrap(), None);
}

/// One ticket row per finding and system: a second reservation (a
/// redelivery, another worker) gets the same row, not a new one; moves are
/// compare-and-set, so only one of two racing closers wins.
async fn one_ticket_per_finding_and_system(db: TestDb) {
    use rectify_store::tickets as state;
    let store = db.open().await;
    let finding = FindingRef {
        id: "arn:aws:securityhub:us-east-1:111122223333:security-control/S3.8/finding/t-1".into(),
        product_arn: "arn:aws:securityhub:us-east-1::product/aws/securityhub".into(),
        generator_id: None,
        severity: None,
    };
    let (row, created) = store
        .reserve_ticket("snow", &finding, "us-east-1")
        .await
        .unwrap();
    assert!(created);
    assert_eq!(
        (row.state.as_str(), row.remote_id.as_deref()),
        (state::RESERVED, None)
    );
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (store, finding) = (store.clone(), finding.clone());
            tokio::spawn(async move { store.reserve_ticket("snow", &finding, "us-east-1").await })
        })
        .collect();
    for racer in racers {
        let (again, created) = racer.await.unwrap().unwrap();
        assert!(!created);
        assert_eq!(again.created_at, row.created_at);
    }
    // Another system keeps its own ticket for the same finding.
    assert!(
        store
            .reserve_ticket("jira", &finding, "us-east-1")
            .await
            .unwrap()
            .1
    );

    assert!(store
        .move_ticket(
            "snow",
            &finding.id,
            state::RESERVED,
            state::OPEN,
            Some(("sys-1", "INC0010001"))
        )
        .await
        .unwrap());
    assert!(!store
        .move_ticket(
            "snow",
            &finding.id,
            state::RESERVED,
            state::OPEN,
            Some(("sys-2", "INC0010002"))
        )
        .await
        .unwrap());
    let open = store
        .get_ticket("snow", &finding.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            open.state.as_str(),
            open.remote_id.as_deref(),
            open.remote_key.as_deref()
        ),
        (state::OPEN, Some("sys-1"), Some("INC0010001"))
    );
    assert_eq!(
        store.find_ticket("snow", "INC0010001").await.unwrap(),
        Some(open.clone())
    );
    assert_eq!(
        store.find_ticket("snow", "sys-1").await.unwrap(),
        Some(open.clone())
    );
    assert_eq!(store.find_ticket("jira", "INC0010001").await.unwrap(), None);
    let listed = store
        .tickets_in_state("snow", state::OPEN, 10)
        .await
        .unwrap();
    assert_eq!(listed, vec![open]);

    // The poll and the webhook both see a person's close: one moves it.
    let (a, b) = tokio::join!(
        store.move_ticket(
            "snow",
            &finding.id,
            state::OPEN,
            state::CLOSED_BY_PERSON,
            None
        ),
        store.move_ticket(
            "snow",
            &finding.id,
            state::OPEN,
            state::CLOSED_BY_PERSON,
            None
        ),
    );
    assert!(a.unwrap() ^ b.unwrap());
    drop(store);
    let store = db.open().await;
    let closed = store
        .get_ticket("snow", &finding.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed.state, state::CLOSED_BY_PERSON);
    assert_eq!(closed.remote_key.as_deref(), Some("INC0010001"));
    assert!(store
        .tickets_in_state("snow", state::OPEN, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn ingest_writes_everything_in_one_transaction(db: TestDb) {
    let store = db.open().await;
    let f1 = asff("2024-05-01T12:00:00.000Z", "NEW");
    let events = vec![finding_event("e-1", &f1)];
    let done = store
        .ingest(ingest_batch(&events, vec![job("ing-00001", "k-1")]))
        .await
        .unwrap();
    assert_eq!(done.fresh, vec![true]);
    assert!(done.jobs[0].is_created());
    assert_eq!(done.audit.len(), 1);
    assert_eq!(done.audit[0].data["created"], json!(["ing-00001"]));
    assert_eq!(done.audit[0].data["fresh"], json!([true]));

    // The finding is stored once, in its event, and reads back whole.
    let row = store.list_findings(10, None).await.unwrap().remove(0);
    assert_eq!(row.id, "f-1");
    assert_eq!(row.last_event_id, "e-1");
    assert_eq!(row.finding, f1);
    let raw = db.query("SELECT finding FROM findings").await;
    assert_eq!(raw, vec![vec![None]]);
    assert!(store.get_job("ing-00001").await.unwrap().is_some());

    // A redelivery: the event is not new, the live job absorbs the new one,
    // and both are in the audit record.
    let again = store
        .ingest(ingest_batch(&events, vec![job("ing-00002", "k-1")]))
        .await
        .unwrap();
    assert_eq!(again.fresh, vec![false]);
    assert_eq!(again.jobs[0].job().id, "ing-00001");
    assert!(!again.jobs[0].is_created());
    assert_eq!(again.audit[0].data["created"], json!([]));

    // A newer import in another event moves the finding to that event.
    let f2 = asff("2024-05-02T12:00:00.000Z", "NOTIFIED");
    store
        .ingest(ingest_batch(&[finding_event("e-2", &f2)], Vec::new()))
        .await
        .unwrap();
    let row = store.list_findings(10, None).await.unwrap().remove(0);
    assert_eq!(row.last_event_id, "e-2");
    assert_eq!(row.finding["Workflow"]["Status"], "NOTIFIED");
    assert!(store.verify_audit().await.unwrap().is_intact());

    // A job that cannot be stored is refused before the transaction, with
    // its field named.
    let mut bad = job("ing-00003", "k-3");
    bad.created_at = "yesterday".into();
    let err = NewJob::new(bad).err().unwrap();
    assert!(err.to_string().contains("created_at"), "{err}");

    // A failure inside the transaction leaves nothing behind: the event
    // written before the failing job insert is rolled back too.
    match db.kind {
        Kind::Sqlite => {
            db.exec(
                "CREATE TRIGGER boom BEFORE INSERT ON jobs WHEN NEW.id = 'ing-boom' \
                 BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )
            .await
        }
        Kind::Postgres => {
            db.exec(
                "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN \
                 IF NEW.id = 'ing-boom' THEN RAISE EXCEPTION 'refused'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER boom BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION boom()",
            )
            .await
        }
    }
    let err = store
        .ingest(ingest_batch(
            &[finding_event("e-3", &f1)],
            vec![job("ing-boom", "k-3")],
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    assert!(store.record_event(&event("e-3"), "http").await.unwrap());
    assert_eq!(store.audit(0, 0).await.unwrap().len(), 3);
    assert!(store.get_job("ing-boom").await.unwrap().is_none());
}

async fn region_slots_bound_holders_across_handles(db: TestDb) {
    // Two handles on one database stand for two replicas.
    let a = db.open().await;
    let b = db.open().await;
    assert!(a
        .take_slot("1", "eu-west-1", "job-1", 2, LONG)
        .await
        .unwrap());
    assert!(b
        .take_slot("1", "eu-west-1", "job-2", 2, LONG)
        .await
        .unwrap());
    assert!(!a
        .take_slot("1", "eu-west-1", "job-3", 2, LONG)
        .await
        .unwrap());
    // Another region and a holder taking its own slot again are not bound.
    assert!(b
        .take_slot("1", "us-east-1", "job-3", 2, LONG)
        .await
        .unwrap());
    assert!(a
        .take_slot("1", "eu-west-1", "job-1", 2, LONG)
        .await
        .unwrap());
    b.free_slot("1", "eu-west-1", "job-2").await.unwrap();
    assert!(a
        .take_slot("1", "eu-west-1", "job-3", 2, LONG)
        .await
        .unwrap());
    // A slot whose holder died frees itself when its lease runs out.
    let c = db.open().await;
    assert!(c
        .take_slot("2", "eu-west-1", "dead", 1, Duration::from_millis(50))
        .await
        .unwrap());
    assert!(!a
        .take_slot("2", "eu-west-1", "job-4", 1, LONG)
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(a
        .take_slot("2", "eu-west-1", "job-4", 1, LONG)
        .await
        .unwrap());

    // Many holders racing from several handles never exceed the limit.
    let stores = [a, b, c];
    let held = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = stores[i % 3].clone();
        let (held, peak) = (held.clone(), peak.clone());
        tasks.push(tokio::spawn(async move {
            let me = format!("race-{i}");
            loop {
                if store
                    .take_slot("3", "eu-west-1", &me, 2, LONG)
                    .await
                    .unwrap()
                {
                    let now = held.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    held.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    store.free_slot("3", "eu-west-1", &me).await.unwrap();
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Never more than the limit (that it is reached depends on timing).
    let peak = peak.load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=2).contains(&peak), "{peak} holders at once");
}

/// Walks a listing page by page: every row once, in the order of the
/// unbounded listing, whatever the ties in the sort key.
async fn job_pages_follow_the_cursor(db: TestDb) {
    let store = db.open().await;
    // Two groups with the same created_at, to exercise the id tie-break.
    for i in 0..7 {
        let mut j = job(&format!("job-{i:02}"), &format!("key-{i}"));
        j.created_at = if i < 4 {
            "2024-05-01T12:00:00.000Z".into()
        } else {
            format!("2024-05-0{}T12:00:00.000Z", i - 2)
        };
        if i == 5 {
            j.rule_id = "rule-b".into();
        }
        store.enqueue(&j).await.unwrap();
    }
    let all: Vec<String> = store
        .list_jobs(&JobFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(all.len(), 7);
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_jobs(&JobFilter {
                limit: 3,
                after: after.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(JobCursor::after(last));
        seen.extend(page.into_iter().map(|j| j.id));
    }
    assert_eq!(seen, all);
    // The cursor combines with the filters.
    let first = store
        .list_jobs(&JobFilter {
            rule_id: Some("rule-a".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    let rest = store
        .list_jobs(&JobFilter {
            rule_id: Some("rule-a".into()),
            after: Some(JobCursor::after(first.last().unwrap())),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(first.len() + rest.len(), 6);
    assert!(rest
        .iter()
        .all(|j| j.rule_id == "rule-a" && j.id != "job-05"));
}

async fn finding_pages_follow_the_cursor(db: TestDb) {
    let store = db.open().await;
    // One batch: the rows are likely to share `updated_at`.
    let batch: Vec<(String, Value)> = (0..5)
        .map(|i| {
            let mut f = asff("2024-05-01T12:00:00.000Z", "NEW");
            f["Id"] = json!(format!("f-{i}"));
            f["ProductArn"] = json!(if i % 2 == 0 { "arn:p" } else { "arn:q" });
            ("e-1".to_string(), f)
        })
        .collect();
    store.upsert_findings(&batch).await.unwrap();
    let mut same_id = asff("2024-05-01T12:00:00.000Z", "NEW");
    same_id["Id"] = json!("f-0");
    same_id["ProductArn"] = json!("arn:other");
    store.upsert_finding("e-2", &same_id).await.unwrap();
    let all: Vec<(String, String)> = store
        .list_findings(0, None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.product_arn))
        .collect();
    assert_eq!(all.len(), 6);
    let mut seen = Vec::new();
    let mut after: Option<FindingCursor> = None;
    loop {
        let page = store.list_findings(2, after.as_ref()).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(FindingCursor::after(last));
        seen.extend(page.into_iter().map(|r| (r.id, r.product_arn)));
    }
    assert_eq!(seen, all);
}

async fn event_origin_and_write_probe(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.event_origin("e-1").await.unwrap(), None);
    store.record_event(&event("e-1"), "http:ops").await.unwrap();
    // A redelivery from elsewhere keeps the first origin.
    store.record_event(&event("e-1"), "sqs").await.unwrap();
    assert_eq!(
        store.event_origin("e-1").await.unwrap().as_deref(),
        Some("http:ops")
    );
    store.probe_write().await.unwrap();
    store.probe_write().await.unwrap();
}

async fn oldest_due_and_window_tally(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.oldest_due().await.unwrap(), None);
    let at = |day: u32| format!("2026-01-0{day}T00:00:00.000Z");
    let mut pending = job("j-1", "k-1");
    pending.created_at = at(1);
    let mut retrying = job("j-2", "k-2");
    retrying.created_at = at(2);
    let mut fixed = job("j-3", "k-3");
    fixed.created_at = at(3);
    let mut other = job("j-4", "k-4");
    other.created_at = at(3);
    other.rule_id = "rule-b".into();
    other.control = None;
    for j in [&pending, &retrying, &fixed, &other] {
        assert!(store.enqueue(j).await.unwrap().is_created());
    }
    retrying.state = JobState::Retrying;
    retrying.next_run_at = Some(at(5));
    store.save_job(&retrying, None).await.unwrap();
    fixed.state = JobState::Succeeded;
    fixed.outcome = Some(Outcome::new(OutcomeKind::Changed, "done"));
    store.save_job(&fixed, None).await.unwrap();
    other.state = JobState::Skipped;
    other.outcome = Some(Outcome::new(
        OutcomeKind::Skipped,
        "rule rule-b is paused (by ops)",
    ));
    store.save_job(&other, None).await.unwrap();

    // The earliest run time of the pending and retrying jobs.
    assert_eq!(store.oldest_due().await.unwrap(), Some(at(1)));
    let tally = |rule: &str, control: Option<&str>, outcome: &str, jobs: u64| JobTally {
        rule_id: rule.into(),
        account: "111122223333".into(),
        control: control.map(str::to_string),
        outcome: outcome.into(),
        jobs,
    };
    // Only the window's jobs, from included, to not.
    assert_eq!(
        store.tally_jobs(&at(1), &at(3)).await.unwrap(),
        [tally("rule-a", Some("S3.8"), "open", 2)]
    );
    assert_eq!(
        store.tally_jobs(&at(3), &at(4)).await.unwrap(),
        [
            tally("rule-a", Some("S3.8"), "fixed", 1),
            tally("rule-b", None, "refused", 1)
        ]
    );
    assert_eq!(store.tally_jobs(&at(4), &at(9)).await.unwrap(), []);
}

/// What the console's history is drawn from: findings by the day they
/// opened (first observed, else created) and closed (resolved or
/// suppressed), and the jobs that fixed something by day, account,
/// control and severity.
async fn finding_spans_and_fixes_by_day(db: TestDb) {
    let store = db.open().await;
    let mut open = asff("2024-05-01T12:00:00.000Z", "NEW");
    open["FirstObservedAt"] = json!("2024-04-20T08:00:00.000Z");
    open["CreatedAt"] = json!("2024-04-21T08:00:00.000Z");
    open["Severity"] = json!({"Label": "high"});
    store.upsert_finding("e-1", &open).await.unwrap();
    // Resolved, read from its event, without FirstObservedAt.
    let mut closed = asff("2024-05-02T12:00:00.000Z", "RESOLVED");
    closed["Id"] = json!("f-2");
    closed["CreatedAt"] = json!("2024-04-25T08:00:00.000Z");
    closed["Severity"] = json!({"Label": "LOW"});
    store
        .ingest(ingest_batch(&[finding_event("e-2", &closed)], Vec::new()))
        .await
        .unwrap();
    // No date at all: the row's own time stands in.
    let mut odd = asff("2024-05-03T12:00:00.000Z", "NEW");
    odd["Id"] = json!("f-3");
    odd["FirstObservedAt"] = json!(42);
    store.upsert_finding("e-3", &odd).await.unwrap();
    let today = rectify_store::timefmt::now()[..10].to_string();
    let mut spans = store.finding_spans().await.unwrap();
    spans.sort_by(|a, b| a.opened.cmp(&b.opened));
    let line = |s: &rectify_store::FindingSpan| {
        (
            s.control.clone(),
            s.severity.clone(),
            s.opened.clone(),
            s.closed.clone(),
            s.findings,
        )
    };
    assert_eq!(spans.len(), 3, "{spans:?}");
    assert!(spans.iter().all(|s| s.account == "111122223333"));
    assert_eq!(spans[0].opened.as_deref(), Some("2024-04-20"));
    assert_eq!(
        line(&spans[0]),
        (
            Some("S3.8".into()),
            Some("HIGH".into()),
            Some("2024-04-20".into()),
            None,
            1
        )
    );
    assert_eq!(
        line(&spans[1]),
        (
            Some("S3.8".into()),
            Some("LOW".into()),
            Some("2024-04-25".into()),
            Some(today.clone()),
            1
        )
    );
    // SQLite and PostgreSQL render a JSON number differently; either way
    // it is not a date, and the reader must check.
    assert_eq!(spans[2].closed, None);
    assert_eq!(spans[2].severity, None);

    let at = |day: u32| format!("2026-02-0{day}T10:00:00.000Z");
    let mut fixed = job("fix-1", "fk-1");
    fixed.created_at = at(1);
    fixed.finding.as_mut().unwrap().severity = Some("critical".into());
    let mut also = job("fix-2", "fk-2");
    also.created_at = at(2);
    let mut undo = job("fix-3", "fk-3");
    undo.created_at = at(2);
    undo.event_id = "revert:fix-1".into();
    let mut failed = job("fix-4", "fk-4");
    failed.created_at = at(2);
    for j in [&fixed, &also, &undo, &failed] {
        assert!(store.enqueue(j).await.unwrap().is_created());
    }
    for (j, day) in [(&mut fixed, 3), (&mut also, 3), (&mut undo, 3)] {
        j.state = JobState::Succeeded;
        j.outcome = Some(Outcome::new(OutcomeKind::Changed, "done"));
        j.updated_at = at(day);
        store.save_job(j, None).await.unwrap();
    }
    failed.state = JobState::Failed;
    failed.outcome = Some(Outcome::new(OutcomeKind::Changed, "read back wrong"));
    store.save_job(&failed, None).await.unwrap();
    let fix = |severity: Option<&str>, jobs: u64| rectify_store::FixCount {
        day: "2026-02-03".into(),
        account: "111122223333".into(),
        control: Some("S3.8".into()),
        severity: severity.map(str::to_string),
        jobs,
    };
    // By the day they were written; undos and failures are not fixes.
    let mut fixes = store.fixes_by_day(&at(1), &at(9)).await.unwrap();
    fixes.sort_by(|a, b| a.severity.cmp(&b.severity));
    assert_eq!(fixes, [fix(None, 1), fix(Some("CRITICAL"), 1)]);
    // Only the window's jobs (by creation).
    assert_eq!(
        store.fixes_by_day(&at(2), &at(9)).await.unwrap(),
        [fix(None, 1)]
    );
}

/// What the console reads and writes: a rejection (only of a waiting job,
/// with its audit record), findings by their fields and by a rule's jobs,
/// their counts, jobs by account, action and finding, and the audit
/// records about given subjects.
async fn console_reject_filters_and_trails(db: TestDb) {
    let store = db.open().await;
    let mut waiting = job("cons-0001-w", "k1");
    waiting.state = JobState::WaitingApproval;
    waiting.mode = Mode::Approve;
    waiting.plan = Some(rectify_model::Change {
        summary: "block public access".into(),
        before: json!({"block": false}),
        after: json!({"block": true}),
    });
    store.enqueue(&waiting).await.unwrap();
    let mut other = job("cons-0002-p", "k2");
    other.target.account = "444455556666".into();
    other.action = "aws.ec2.revoke".into();
    other.rule_id = "rule-b".into();
    other.finding.as_mut().unwrap().id = "f-2".into();
    store.enqueue(&other).await.unwrap();

    let err = store
        .reject("cons-0002-p", "alice", "no")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidState {
                state: JobState::Pending,
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        store.reject("nope-nope-nope", "alice", "no").await,
        Err(StoreError::NotFound(_))
    ));
    let rejected = store.reject("cons-0001", "alice", "not now").await.unwrap();
    assert_eq!(rejected.state, JobState::Skipped);
    let outcome = rejected.outcome.unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Skipped);
    assert_eq!(outcome.reason, "rejected by alice: not now");
    assert_eq!(outcome.change, waiting.plan);
    let stored = store.get_job("cons-0001-w").await.unwrap().unwrap();
    assert_eq!(stored.state, JobState::Skipped);
    // Neither approved nor rejected again.
    assert!(matches!(
        store.approve("cons-0001-w", "bob").await,
        Err(StoreError::InvalidState { .. })
    ));
    assert!(matches!(
        store.reject("cons-0001-w", "bob", "x").await,
        Err(StoreError::InvalidState { .. })
    ));
    store
        .append_audit("other", "cons-0002-p", &json!({}))
        .await
        .unwrap();
    store
        .append_audit("unrelated", "zzz", &json!({}))
        .await
        .unwrap();
    let trail = store
        .audit_about(&["cons-0001-w".into()], 10)
        .await
        .unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0].kind, "job.rejected");
    assert_eq!(trail[0].data["by"], "alice");
    assert_eq!(trail[0].data["reason"], "not now");
    assert_eq!(
        trail[0].data["plan_digest"],
        json!(waiting.plan.as_ref().unwrap().digest())
    );
    let both = store
        .audit_about(&["cons-0001-w".into(), "cons-0002-p".into()], 10)
        .await
        .unwrap();
    assert_eq!(
        both.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(),
        ["job.rejected", "other"]
    );
    let newest = store
        .audit_about(&["cons-0001-w".into(), "cons-0002-p".into()], 1)
        .await
        .unwrap();
    assert_eq!(newest[0].kind, "other", "the limit keeps the newest");

    let jobs = |filter: JobFilter| {
        let store = store.clone();
        async move {
            let mut ids: Vec<String> = store
                .list_jobs(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|j| j.id)
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(
        jobs(JobFilter {
            account: Some("444455556666".into()),
            ..Default::default()
        })
        .await,
        ["cons-0002-p"]
    );
    assert_eq!(
        jobs(JobFilter {
            action: Some("aws.s3.block-public-access".into()),
            ..Default::default()
        })
        .await,
        ["cons-0001-w"]
    );
    assert_eq!(
        jobs(JobFilter {
            finding_id: Some("f-2".into()),
            ..Default::default()
        })
        .await,
        ["cons-0002-p"]
    );
    assert!(jobs(JobFilter {
        account: Some("1".into()),
        ..Default::default()
    })
    .await
    .is_empty());

    // Findings: one in its own row, one read from its event's body.
    let mut high = asff("2024-05-01T12:00:00.000Z", "NEW");
    high["Severity"] = json!({"Label": "HIGH"});
    store.upsert_finding("e-1", &high).await.unwrap();
    let mut low = asff("2024-05-02T12:00:00.000Z", "RESOLVED");
    low["Id"] = json!("f-2");
    low["AwsAccountId"] = json!("444455556666");
    low["Severity"] = json!({"Label": "LOW"});
    low["Compliance"]["SecurityControlId"] = json!("EC2.13");
    // The row's time is its write's (milliseconds): the second write must
    // land in a later one for "newest first" to hold.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store
        .ingest(ingest_batch(&[finding_event("e-2", &low)], Vec::new()))
        .await
        .unwrap();
    let found = |filter: FindingFilter| {
        let store = store.clone();
        async move {
            let mut ids: Vec<String> = store
                .find_findings(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|f| f.id)
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(found(FindingFilter::default()).await, ["f-1", "f-2"]);
    assert_eq!(
        found(FindingFilter {
            severity: Some("low".into()),
            ..Default::default()
        })
        .await,
        ["f-2"]
    );
    assert_eq!(
        found(FindingFilter {
            severity: Some("HIGH".into()),
            ..Default::default()
        })
        .await,
        ["f-1"]
    );
    assert_eq!(
        found(FindingFilter {
            account: Some("444455556666".into()),
            ..Default::default()
        })
        .await,
        ["f-2"]
    );
    assert_eq!(
        found(FindingFilter {
            control: Some("S3.8".into()),
            ..Default::default()
        })
        .await,
        ["f-1"]
    );
    assert_eq!(
        found(FindingFilter {
            workflow_status: Some("RESOLVED".into()),
            ..Default::default()
        })
        .await,
        ["f-2"]
    );
    assert_eq!(
        found(FindingFilter {
            rule_id: Some("rule-b".into()),
            ..Default::default()
        })
        .await,
        ["f-2"]
    );
    assert_eq!(
        found(FindingFilter {
            id: Some("f-1".into()),
            ..Default::default()
        })
        .await,
        ["f-1"]
    );
    assert_eq!(
        found(FindingFilter {
            limit: 1,
            ..Default::default()
        })
        .await,
        ["f-2"],
        "newest first"
    );
    let row = store
        .find_findings(&FindingFilter {
            id: Some("f-2".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        row.finding["Severity"]["Label"], "LOW",
        "read from the event"
    );

    let mut counts = store.finding_counts().await.unwrap();
    counts.sort_by(|a, b| a.account.cmp(&b.account));
    assert_eq!(counts.len(), 2);
    assert_eq!(
        (
            counts[0].account.as_str(),
            counts[0].control.as_deref(),
            counts[0].severity.as_deref(),
            counts[0].workflow_status.as_deref(),
            counts[0].findings
        ),
        ("111122223333", Some("S3.8"), Some("HIGH"), Some("NEW"), 1)
    );
    assert_eq!(counts[1].severity.as_deref(), Some("LOW"));
    assert_eq!(counts[1].workflow_status.as_deref(), Some("RESOLVED"));
}

async fn detector_state_saves_replaces_and_deletes(db: TestDb) {
    use rectify_store::DetectorStateSave;
    let store = db.open().await;
    assert!(store
        .detector_state("anomaly-principal")
        .await
        .unwrap()
        .is_empty());
    let rows = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(e, s)| (e.to_string(), s.to_string()))
            .collect()
    };
    let save = DetectorStateSave {
        replace_all: false,
        upserts: rows(&[
            ("", "{\"forest\":1}"),
            ("arn:aws:iam::1:user/a", "{\"n\":1}"),
            ("b", "{}"),
        ]),
        removed: vec![],
    };
    store
        .save_detector_state("anomaly-principal", &save)
        .await
        .unwrap();
    store
        .save_detector_state(
            "anomaly-flow",
            &DetectorStateSave {
                upserts: rows(&[("eni:eni-1", "{}")]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.detector_state("anomaly-principal").await.unwrap(),
        rows(&[
            ("", "{\"forest\":1}"),
            ("arn:aws:iam::1:user/a", "{\"n\":1}"),
            ("b", "{}")
        ])
    );
    // Written over, and deleted.
    store
        .save_detector_state(
            "anomaly-principal",
            &DetectorStateSave {
                upserts: rows(&[("arn:aws:iam::1:user/a", "{\"n\":2}")]),
                removed: vec!["b".into(), "never-saved".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.detector_state("anomaly-principal").await.unwrap(),
        rows(&[
            ("", "{\"forest\":1}"),
            ("arn:aws:iam::1:user/a", "{\"n\":2}")
        ])
    );
    // Replaced whole; the other detector's rows stay.
    store
        .save_detector_state(
            "anomaly-principal",
            &DetectorStateSave {
                replace_all: true,
                upserts: rows(&[("c", "{}")]),
                removed: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.detector_state("anomaly-principal").await.unwrap(),
        rows(&[("c", "{}")])
    );
    assert_eq!(
        store.detector_state("anomaly-flow").await.unwrap(),
        rows(&[("eni:eni-1", "{}")])
    );
    // An empty save writes nothing.
    store
        .save_detector_state("anomaly-flow", &DetectorStateSave::default())
        .await
        .unwrap();
    assert_eq!(store.detector_state("anomaly-flow").await.unwrap().len(), 1);
}

fn held(channel: &str, key: &str, n: u64, ends: &str) -> DigestItem {
    DigestItem {
        channel: channel.into(),
        item_key: key.into(),
        id: uuid_like(key),
        item: json!({"resource": key, "outcome": "changed"}),
        received: n,
        period_ends_at: ends.into(),
        max_items: 10_000,
    }
}

/// Time-ordered ids, as the engine's (UUID v7) are.
fn uuid_like(key: &str) -> String {
    format!("{}-{key}", timefmt::now())
}

fn digest_message(id: &str, channel: &str) -> OutboxItem {
    let now = timefmt::now();
    OutboxItem {
        id: id.into(),
        channel: channel.into(),
        job_id: format!("digest:{channel}"),
        outcome: "digest".into(),
        body: json!({"subject": "digest", "message": {"kind": "digest"}}),
        attempts: 1,
        next_attempt_at: timefmt::now_plus(LONG),
        state: outbox::PENDING.into(),
        last_error: None,
        created_at: now.clone(),
        updated_at: now,
    }
}

async fn digests_fold_repeats_claim_once_and_close_with_the_outbox(db: TestDb) {
    let store = db.open().await;
    let past = timefmt::now_minus(Duration::from_secs(1));
    let later = timefmt::now_plus(LONG);
    // Two items and a repeat on `ops`; the first item opens the period
    // (ended already), the others do not move its end.
    store
        .digest_put(&[held("ops", "a", 1, &past), held("ops", "b", 1, &later)])
        .await
        .unwrap();
    store
        .digest_put(&[held("ops", "a", 1, &later)])
        .await
        .unwrap();
    // `quiet`'s period has not ended.
    store
        .digest_put(&[held("quiet", "q", 1, &later)])
        .await
        .unwrap();
    assert_eq!(
        store.digest_held().await.unwrap(),
        BTreeMap::from([("ops".to_string(), 2), ("quiet".to_string(), 1)])
    );

    let claimed = store.digest_claim("one", &later, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    assert_eq!(claimed[0].channel, "ops");
    assert_eq!(claimed[0].due_at, past);
    let items: Vec<(&str, u64)> = claimed[0]
        .items
        .iter()
        .map(|i| (i.item_key.as_str(), i.received))
        .collect();
    assert_eq!(items, [("a", 2), ("b", 1)]);
    assert_eq!(claimed[0].items[0].item["resource"], "a");
    // Held by a live claim: another process gets nothing.
    assert!(store
        .digest_claim("two", &later, 10)
        .await
        .unwrap()
        .is_empty());
    // Only the claim's holder closes it.
    assert!(!store
        .digest_close(
            "ops",
            "two",
            &["a".into()],
            0,
            &later,
            Some(&digest_message("d-two", "ops"))
        )
        .await
        .unwrap());

    // An item that comes after the claim is not in this digest: it stays
    // and opens the next period.
    store
        .digest_put(&[held("ops", "c", 1, &later)])
        .await
        .unwrap();
    let next = timefmt::now_minus(Duration::from_millis(10));
    assert!(store
        .digest_close(
            "ops",
            "one",
            &["a".into(), "b".into()],
            0,
            &next,
            Some(&digest_message("d-one", "ops"))
        )
        .await
        .unwrap());
    let written = store.outbox_for_job("digest:ops").await.unwrap();
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0].id, "d-one");
    assert_eq!(
        store.digest_held().await.unwrap(),
        BTreeMap::from([("ops".to_string(), 1), ("quiet".to_string(), 1)])
    );
    // Closed: a second close does nothing.
    assert!(!store
        .digest_close(
            "ops",
            "one",
            &["c".into()],
            0,
            &next,
            Some(&digest_message("d-again", "ops"))
        )
        .await
        .unwrap());
    let claimed = store.digest_claim("three", &later, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].due_at, next);
    assert_eq!(claimed[0].items.len(), 1);
    assert_eq!(claimed[0].items[0].item_key, "c");
    assert!(store
        .digest_close("ops", "three", &["c".into()], 0, &later, None)
        .await
        .unwrap());
    assert_eq!(
        store.digest_held().await.unwrap(),
        BTreeMap::from([("quiet".to_string(), 1)])
    );
    assert_eq!(store.outbox_for_job("digest:ops").await.unwrap().len(), 1);
}

async fn a_digest_claim_that_ran_out_is_taken_over_once(db: TestDb) {
    let past = timefmt::now_minus(Duration::from_secs(1));
    let later = timefmt::now_plus(LONG);
    let store = db.open().await;
    let items: Vec<DigestItem> = (0..300)
        .map(|i| held("ops", &format!("k{i:03}"), 1, &past))
        .collect();
    store.digest_put(&items).await.unwrap();
    // A process claimed it and died: its claim has run out.
    let dead = store.digest_claim("dead", &past, 10).await.unwrap();
    assert_eq!(dead[0].items.len(), 300);
    // Replicas claim at once: exactly one gets it.
    let replicas: Vec<Arc<dyn Store>> = open_replicas(4, &db).await;
    let claims = replicas.iter().enumerate().map(|(n, r)| {
        let r = r.clone();
        let later = later.clone();
        async move {
            (
                n,
                r.digest_claim(&format!("r{n}"), &later, 10).await.unwrap(),
            )
        }
    });
    let got: Vec<(usize, Vec<DigestPeriod>)> = futures_util::future::join_all(claims)
        .await
        .into_iter()
        .filter(|(_, c)| !c.is_empty())
        .collect();
    assert_eq!(got.len(), 1, "{got:?}");
    let (winner, periods) = &got[0];
    assert_eq!(periods[0].items.len(), 300);
    let keys: Vec<String> = periods[0]
        .items
        .iter()
        .map(|i| i.item_key.clone())
        .collect();
    // The dead process comes back: its close is refused, nothing written.
    assert!(!store
        .digest_close(
            "ops",
            "dead",
            &keys,
            0,
            &later,
            Some(&digest_message("d-dead", "ops"))
        )
        .await
        .unwrap());
    assert!(store
        .digest_close(
            "ops",
            &format!("r{winner}"),
            &keys,
            0,
            &later,
            Some(&digest_message("d-live", "ops"))
        )
        .await
        .unwrap());
    let written = store.outbox_for_job("digest:ops").await.unwrap();
    assert_eq!(
        written.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["d-live"]
    );
    assert!(store.digest_held().await.unwrap().is_empty());
}

fn window_hold(channel: &str, what: &str, resource: usize, closes_at: &str) -> CoalesceHold {
    let now = timefmt::now();
    CoalesceHold {
        channel: channel.into(),
        rule: "s3-block".into(),
        what: what.into(),
        account: format!("1111222233{:02}", resource % 3),
        resource: format!("arn:aws:s3:::bucket-{resource}"),
        closes_at: closes_at.into(),
        message: OutboxItem {
            id: format!("m-{channel}-{what}-{resource}"),
            channel: channel.into(),
            job_id: format!("job-{resource}"),
            outcome: what.into(),
            body: json!({"subject": "s", "message": {"resource": resource}}),
            attempts: 1,
            next_attempt_at: timefmt::now_plus(LONG),
            state: outbox::PENDING.into(),
            last_error: None,
            created_at: now.clone(),
            updated_at: now,
        },
    }
}

fn summary_message(id: &str, channel: &str) -> OutboxItem {
    OutboxItem {
        job_id: format!("coalesced:{channel}"),
        outcome: "coalesced".into(),
        ..digest_message(id, channel)
    }
}

/// Coalescing windows: the first message opens one and is written to the
/// outbox with it; the rest are counted (bounded names); one claim at a
/// time; a message counted in after the claim makes the close give the
/// window back, and the next close has it too.
async fn coalescing_windows_open_count_claim_once_and_close_with_the_outbox(db: TestDb) {
    let store = db.open().await;
    let past = timefmt::now_minus(Duration::from_secs(1));
    let later = timefmt::now_plus(LONG);
    let held = store
        .coalesce_hold(&[window_hold("ops", "changed", 0, &past)])
        .await
        .unwrap();
    assert_eq!(held, [false]);
    for i in 1..100 {
        // Another outcome, and another channel, open their own windows.
        let got = store
            .coalesce_hold(&[
                window_hold("ops", "changed", i, &later),
                window_hold("ops", "failed", i, &later),
                window_hold("quiet", "changed", i, &later),
            ])
            .await
            .unwrap();
        assert_eq!(got, [true, i > 1, i > 1], "{i}");
    }
    let mut written = Vec::new();
    for job in ["job-0", "job-1"] {
        for m in store.outbox_for_job(job).await.unwrap() {
            written.push(m.id);
        }
    }
    assert_eq!(
        written,
        ["m-ops-changed-0", "m-ops-failed-1", "m-quiet-changed-1"]
    );
    let windows = store.coalesce_windows().await.unwrap();
    assert_eq!(windows.len(), 3);
    assert_eq!(windows[0].what, "changed");
    assert_eq!(windows[0].held, 99);
    assert_eq!(windows[0].closes_at, past);
    assert_eq!(windows[0].accounts.len(), 3);
    assert_eq!(windows[0].resources.len(), coalesce::RESOURCES_MAX);
    assert_eq!(windows[0].resources[0], "arn:aws:s3:::bucket-1");

    // Only the closed window is claimed, once.
    let claimed = store.coalesce_claim("one", &later, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    assert_eq!(claimed[0], windows[0]);
    assert!(store
        .coalesce_claim("two", &later, 10)
        .await
        .unwrap()
        .is_empty());
    // Only the claim's holder closes it.
    assert!(!store
        .coalesce_close(&claimed[0], "two", Some(&summary_message("s-two", "ops")))
        .await
        .unwrap());
    // A message counted in after the claim: the close is refused and the
    // window given back, so the next claim sums up 100.
    assert_eq!(
        store
            .coalesce_hold(&[window_hold("ops", "changed", 100, &later)])
            .await
            .unwrap(),
        [true]
    );
    assert!(!store
        .coalesce_close(&claimed[0], "one", Some(&summary_message("s-one", "ops")))
        .await
        .unwrap());
    let again = store.coalesce_claim("three", &later, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].held, 100);
    assert!(store
        .coalesce_close(&again[0], "three", Some(&summary_message("s-three", "ops")))
        .await
        .unwrap());
    let summaries = store.outbox_for_job("coalesced:ops").await.unwrap();
    assert_eq!(
        summaries.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["s-three"]
    );
    assert_eq!(store.coalesce_windows().await.unwrap().len(), 2);
    // The window is gone: the next message opens a new one.
    assert_eq!(
        store
            .coalesce_hold(&[window_hold("ops", "changed", 101, &later)])
            .await
            .unwrap(),
        [false]
    );
    assert_eq!(store.outbox_for_job("job-101").await.unwrap().len(), 1);
}

/// Replicas offering the first message of a window at once: exactly one
/// opens it (one message in the outbox), the others are counted in.
async fn replicas_share_one_coalescing_window(db: TestDb) {
    let later = timefmt::now_plus(LONG);
    let replicas = open_replicas(4, &db).await;
    let holds = replicas.iter().enumerate().map(|(n, r)| {
        let r = r.clone();
        let later = later.clone();
        async move {
            let mut opened = 0;
            for i in 0..25 {
                let hold = window_hold("ops", "changed", n * 100 + i, &later);
                if !r.coalesce_hold(&[hold]).await.unwrap()[0] {
                    opened += 1;
                }
            }
            opened
        }
    });
    let opened: usize = futures_util::future::join_all(holds).await.iter().sum();
    assert_eq!(opened, 1);
    let windows = replicas[0].coalesce_windows().await.unwrap();
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0].held, 99);
}

/// Digest periods hold at most `max_items` distinct items: the rest are
/// counted as dropped, repeats of kept items still fold, and a drop after
/// the claim goes to the next period.
async fn a_digest_period_is_capped_and_counts_what_it_dropped(db: TestDb) {
    let store = db.open().await;
    let past = timefmt::now_minus(Duration::from_secs(1));
    let later = timefmt::now_plus(LONG);
    let capped = |key: &str, ends: &str| DigestItem {
        max_items: 50,
        ..held("ops", key, 1, ends)
    };
    let items: Vec<DigestItem> = (0..500)
        .map(|i| capped(&format!("k{i:03}"), &past))
        .collect();
    store.digest_put(&items).await.unwrap();
    // A repeat of a kept item folds; one of a dropped item is dropped again.
    store
        .digest_put(&[capped("k000", &past), capped("k499", &past)])
        .await
        .unwrap();
    assert_eq!(store.digest_held().await.unwrap()["ops"], 50);
    let claimed = store.digest_claim("one", &later, 10).await.unwrap();
    assert_eq!(claimed[0].items.len(), 50);
    assert_eq!(claimed[0].items[0].received, 2);
    assert_eq!(claimed[0].dropped, 451);
    // Dropped after the claim: told by the next period.
    store.digest_put(&[capped("late", &past)]).await.unwrap();
    let keys: Vec<String> = claimed[0]
        .items
        .iter()
        .map(|i| i.item_key.clone())
        .collect();
    assert!(store
        .digest_close("ops", "one", &keys, 451, &past, None)
        .await
        .unwrap());
    assert!(store.digest_held().await.unwrap().is_empty());
    let next = store.digest_claim("two", &later, 10).await.unwrap();
    assert_eq!(next.len(), 1);
    assert!(next[0].items.is_empty());
    assert_eq!(next[0].dropped, 1);
    assert!(store
        .digest_close("ops", "two", &[], 1, &past, None)
        .await
        .unwrap());
    // Room again: a new period keeps items.
    store.digest_put(&[capped("fresh", &later)]).await.unwrap();
    assert_eq!(store.digest_held().await.unwrap()["ops"], 1);
}

/// A database of schema 14 (windows in memory, digests uncapped) upgrades
/// in place: its held digest items stay, and windows are kept from then on.
async fn upgrade_from_14_keeps_digests_and_adds_windows(db: TestDb) {
    let store = db.open().await;
    let past = timefmt::now_minus(Duration::from_secs(1));
    let later = timefmt::now_plus(LONG);
    store
        .digest_put(&[held("ops", "a", 1, &past)])
        .await
        .unwrap();
    drop(store);
    db.exec(
        "DROP TABLE coalesce_windows; \
         ALTER TABLE digest_periods DROP COLUMN items; \
         ALTER TABLE digest_periods DROP COLUMN dropped; \
         DELETE FROM schema_migrations WHERE version >= 15",
    )
    .await;
    let store = db.open().await;
    let version = db.query("SELECT MAX(version) FROM schema_migrations").await;
    assert_eq!(version[0][0].as_deref(), Some("16"));
    let claimed = store.digest_claim("t", &later, 5).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].items[0].item_key, "a");
    assert_eq!(claimed[0].dropped, 0);
    assert_eq!(
        store
            .coalesce_hold(&[window_hold("ops", "changed", 0, &later)])
            .await
            .unwrap(),
        [false]
    );
    assert_eq!(store.coalesce_windows().await.unwrap().len(), 1);
}

async fn open_replicas(n: usize, db: &TestDb) -> Vec<Arc<dyn Store>> {
    let mut stores = Vec::with_capacity(n);
    for _ in 0..n {
        stores.push(db.open().await);
    }
    stores
}

fn scan_record(id: &str, started_at: &str, failed: u64) -> rectify_store::ScanRecord {
    rectify_store::ScanRecord {
        id: id.to_string(),
        started_at: started_at.to_string(),
        finished_at: "2026-12-06T03:00:09Z".to_string(),
        kind: "scheduled".to_string(),
        started_by: "serve@host-a".to_string(),
        summary: json!({"accounts": ["111122223333"], "verdicts": {"failed": failed}}),
    }
}

async fn scan_history_keeps_lists_and_reads_back(db: TestDb) {
    let store = db.open().await;
    assert!(store.list_scans(10).await.unwrap().is_empty());
    store
        .record_scan(&scan_record("scan-1", "2026-12-06T03:00:00Z", 2))
        .await
        .unwrap();
    store
        .record_scan(&scan_record("scan-2", "2026-12-07T03:00:00+00:00", 5))
        .await
        .unwrap();
    // An id kept already is refused; so is a summary over the bound.
    assert!(store
        .record_scan(&scan_record("scan-1", "2026-12-08T03:00:00Z", 0))
        .await
        .is_err());
    let mut huge = scan_record("scan-3", "2026-12-08T03:00:00Z", 0);
    huge.summary = json!({"errors": ["x".repeat(rectify_store::scans::MAX_SUMMARY_BYTES)]});
    assert!(matches!(
        store.record_scan(&huge).await,
        Err(StoreError::Invalid(_))
    ));
    let mut bad_time = scan_record("scan-4", "yesterday", 0);
    bad_time.kind = "manual".into();
    assert!(store.record_scan(&bad_time).await.is_err());

    let listed = store.list_scans(10).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        vec!["scan-2", "scan-1"]
    );
    // Times come back in the store's format, the summary as written.
    assert_eq!(listed[0].started_at, "2026-12-07T03:00:00.000Z");
    assert_eq!(listed[0].finished_at, "2026-12-06T03:00:09.000Z");
    assert_eq!(listed[0].summary["verdicts"]["failed"], 5);
    assert_eq!(store.list_scans(1).await.unwrap().len(), 1);
    let one = store.get_scan("scan-1").await.unwrap().unwrap();
    assert_eq!(one.started_by, "serve@host-a");
    assert_eq!(one.kind, "scheduled");
    assert_eq!(one.summary["accounts"][0], "111122223333");
    assert!(store.get_scan("scan-9").await.unwrap().is_none());
}

async fn scan_schedule_runs_each_slot_once_one_holder_at_a_time(db: TestDb) {
    let replicas = [db.open().await, db.open().await];
    let names = ["a", "b"];
    let slot1 = "2026-12-06T03:00:00.000Z";
    let slot2 = "2026-12-06T03:01:00.000Z";
    let slot3 = "2026-12-06T03:02:00.000Z";
    let later = rectify_store::timefmt::now_plus(LONG);
    let past = rectify_store::timefmt::now_minus(Duration::from_secs(1));
    // Two replicas wake for the same slot at once: one takes it.
    let (took_a, took_b) = tokio::join!(
        replicas[0].claim_scan_schedule("scan", slot1, "a", &later),
        replicas[1].claim_scan_schedule("scan", slot1, "b", &later)
    );
    let (took_a, took_b) = (took_a.unwrap(), took_b.unwrap());
    assert!(took_a ^ took_b, "a {took_a}, b {took_b}");
    let (h, o) = if took_a { (0, 1) } else { (1, 0) };
    let (holder, other) = (&replicas[h], &replicas[o]);
    // The next slot is not taken while the first scan still holds it, and
    // only the holder moves the hold.
    assert!(!other
        .claim_scan_schedule("scan", slot2, names[o], &later)
        .await
        .unwrap());
    assert!(!other
        .hold_scan_schedule("scan", names[o], &later)
        .await
        .unwrap());
    assert!(holder
        .hold_scan_schedule("scan", names[h], &later)
        .await
        .unwrap());
    // Let go: a slot already run is never taken again, a new one is.
    assert!(holder
        .hold_scan_schedule("scan", names[h], &past)
        .await
        .unwrap());
    assert!(!other
        .claim_scan_schedule("scan", slot1, names[o], &later)
        .await
        .unwrap());
    assert!(other
        .claim_scan_schedule("scan", slot2, names[o], &past)
        .await
        .unwrap());
    // A hold that ran out (its replica died) does not block the next slot.
    assert!(holder
        .claim_scan_schedule("scan", slot3, names[h], &later)
        .await
        .unwrap());
    let rows = db
        .query("SELECT holder, last_slot FROM scan_schedule WHERE name = 'scan'")
        .await;
    assert_eq!(rows[0][0].as_deref(), Some(names[h]));
    assert_eq!(rows[0][1].as_deref(), Some(slot3));
}

/// A database of schema 12 (before scan history) upgrades in place: its
/// jobs stay, and scans are kept from then on.
async fn upgrade_from_12_adds_scan_history(db: TestDb) {
    let store = db.open().await;
    store.enqueue(&job("old-00001", "k-old")).await.unwrap();
    drop(store);
    db.exec(
        "DROP TABLE scans; DROP TABLE scan_schedule; \
         DROP TABLE coalesce_windows; DROP TABLE digest_items; DROP TABLE digest_periods; \
         DELETE FROM schema_migrations WHERE version >= 13",
    )
    .await;
    let store = db.open().await;
    assert!(store.get_job("old-00001").await.unwrap().is_some());
    let version = db.query("SELECT MAX(version) FROM schema_migrations").await;
    assert_eq!(version[0][0].as_deref(), Some("16"));
    store
        .record_scan(&scan_record("scan-after", "2026-12-06T03:00:00Z", 1))
        .await
        .unwrap();
    assert_eq!(store.list_scans(5).await.unwrap()[0].id, "scan-after");
    assert!(store
        .claim_scan_schedule("scan", "2026-12-06T03:00:00Z", "a", "2026-12-06T04:00:00Z")
        .await
        .unwrap());
}

/// Every test body, once per back end: `sqlite::NAME` and `postgres::NAME`.
/// A job settled as the worker saves it.
fn settled(mut job: Job, n: usize) -> Job {
    job.state = JobState::Succeeded;
    job.outcome = Some(Outcome::new(OutcomeKind::Changed, format!("fixed {n}")));
    job.updated_at = rectify_model::now_rfc3339();
    job
}

fn records(id: &str, kinds: &[&str]) -> Vec<(String, String, Value)> {
    kinds
        .iter()
        .map(|k| (k.to_string(), id.to_string(), json!({"job": id})))
        .collect()
}

/// Many running jobs' writes in one call (the worker's group commit):
/// applying marks, final states with their audit records and findings'
/// outcomes, each answered on its own; a job whose lease another worker
/// took is refused without failing the others; a write the store refuses
/// fails the whole batch and leaves nothing of it.
async fn write_jobs_batches_many_jobs(db: TestDb) {
    use rectify_store::{FindingOutcome, JobSave, JobWrite};
    let store = db.open().await;
    let change = rectify_model::Change {
        summary: "turn it on".into(),
        before: json!({"on": false}),
        after: json!({"on": true}),
    };
    // A job pod-a held once, now pod-b's: its lease ran out and pod-b took it.
    store.enqueue(&job("taken-0001", "k-taken")).await.unwrap();
    assert_eq!(
        store
            .claim("pod-a", Duration::from_millis(1), 1)
            .await
            .unwrap()
            .len(),
        1
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(store.claim("pod-b", LONG, 1).await.unwrap().len(), 1);
    // Forty jobs pod-a holds, and one finding they answer.
    store
        .upsert_finding("e-1", &asff("2024-05-01T12:00:00.000Z", "NEW"))
        .await
        .unwrap();
    const N: usize = 40;
    let ids: Vec<String> = (0..N).map(|i| format!("batch-{i:04}")).collect();
    let jobs: Vec<Job> = ids.iter().map(|id| job(id, &format!("k-{id}"))).collect();
    store.enqueue_many(&jobs).await.unwrap();
    let claimed = store.claim("pod-a", LONG, N).await.unwrap();
    assert_eq!(claimed.len(), N);
    let taken = store.get_job("taken-0001").await.unwrap().unwrap();

    // Applying marks for half of them, and for the taken job.
    let mut writes: Vec<JobWrite> = ids
        .iter()
        .step_by(2)
        .map(|id| JobWrite::Applying {
            job_id: id.clone(),
            worker: "pod-a".into(),
            plan: change.clone(),
            records: records(id, &["job.checked", "job.planned", "job.applying"]),
        })
        .collect();
    writes.push(JobWrite::Applying {
        job_id: taken.id.clone(),
        worker: "pod-a".into(),
        plan: change.clone(),
        records: records(&taken.id, &["job.applying"]),
    });
    let answers = store.write_jobs(&writes).await.unwrap();
    assert_eq!(answers.len(), N / 2 + 1);
    assert!(answers[..N / 2].iter().all(|held| *held), "{answers:?}");
    assert!(!answers[N / 2], "the taken job is not pod-a's to mark");
    for id in ids.iter().step_by(2) {
        let marked = store.get_job(id).await.unwrap().unwrap();
        assert_eq!(marked.plan.as_ref(), Some(&change), "{id}");
    }

    // Every job's final state with its records; the last one also sets
    // the finding's outcome; the taken job's save is refused.
    let fref = FindingRef {
        id: "f-1".into(),
        product_arn: "arn:p".into(),
        generator_id: None,
        severity: None,
    };
    let mut writes: Vec<JobWrite> = claimed
        .iter()
        .enumerate()
        .map(|(n, j)| {
            JobWrite::Save(JobSave {
                records: records(&j.id, &["job.applied", "job.succeeded"]),
                finding: (n == N - 1).then(|| FindingOutcome {
                    finding: fref.clone(),
                    job_id: j.id.clone(),
                    outcome: "changed".into(),
                    workflow_status: Some("RESOLVED".into()),
                }),
                job: Some((settled(j.clone(), n), Some("pod-a".into()))),
            })
        })
        .collect();
    writes.push(JobWrite::Save(JobSave {
        records: records(&taken.id, &["job.succeeded"]),
        // A finding the store does not hold is nothing to update.
        finding: Some(FindingOutcome {
            finding: FindingRef {
                id: "f-unknown".into(),
                ..fref.clone()
            },
            job_id: taken.id.clone(),
            outcome: "changed".into(),
            workflow_status: None,
        }),
        job: Some((settled(taken.clone(), 99), Some("pod-a".into()))),
    }));
    // Records alone (an effect's, of a job settled at plan time).
    writes.push(JobWrite::Save(JobSave {
        records: records("planned-0001", &["finding.updated"]),
        ..JobSave::default()
    }));
    let answers = store.write_jobs(&writes).await.unwrap();
    assert_eq!(answers.len(), N + 2);
    assert!(answers[..N].iter().all(|saved| *saved), "{answers:?}");
    assert!(!answers[N], "the taken job's save is refused");
    assert!(answers[N + 1]);

    // Read back: state, outcome, lease, history, records per job.
    for (n, id) in claimed.iter().map(|j| &j.id).enumerate() {
        let stored = store.get_job(id).await.unwrap().unwrap();
        assert_eq!(stored.state, JobState::Succeeded, "{id}");
        assert_eq!(stored.outcome.unwrap().reason, format!("fixed {n}"));
        let kinds: Vec<String> = store
            .audit_about(std::slice::from_ref(id), 100)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.kind)
            .collect();
        let marked = ids.iter().position(|i| i == id).unwrap() % 2 == 0;
        if marked {
            assert_eq!(
                kinds,
                [
                    "job.checked",
                    "job.planned",
                    "job.applying",
                    "job.applied",
                    "job.succeeded"
                ],
                "{id}"
            );
            assert_eq!(
                store.applying_history(id).await.unwrap(),
                Some(vec![
                    "job.applying".to_string(),
                    "job.applied".to_string(),
                    "job.succeeded".to_string()
                ]),
                "{id}"
            );
        } else {
            assert_eq!(kinds, ["job.applied", "job.succeeded"], "{id}");
            assert_eq!(store.applying_history(id).await.unwrap(), None);
        }
    }
    let still = store.get_job("taken-0001").await.unwrap().unwrap();
    assert_eq!(still.state, JobState::Running);
    assert_ne!(
        still.plan.as_ref(),
        Some(&change),
        "pod-a's mark was not written"
    );
    assert_eq!(store.lease_owners().await.unwrap(), ["pod-b"]);
    // The taken job's records are written all the same: they say what
    // pod-a did.
    let kinds: Vec<String> = store
        .audit_about(&["taken-0001".to_string()], 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(kinds, ["job.succeeded"]);
    let row = &store.list_findings(10, None).await.unwrap()[0];
    assert_eq!(row.last_job_id.as_deref(), Some(claimed[N - 1].id.as_str()));
    assert_eq!(row.last_outcome.as_deref(), Some("changed"));
    assert_eq!(row.workflow_status.as_deref(), Some("RESOLVED"));
    assert_eq!(
        store
            .audit_about(&["planned-0001".to_string()], 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let verdict = store.verify_audit().await.unwrap();
    assert!(verdict.is_intact(), "{verdict:?}");
    let written = store.audit(0, 0).await.unwrap().len();

    // One write the store refuses (a job that does not exist, saved by no
    // worker) fails the batch, and nothing of the batch is written.
    store.enqueue(&job("later-0001", "k-later")).await.unwrap();
    let later = store.claim("pod-a", LONG, 1).await.unwrap().remove(0);
    let refused = store
        .write_jobs(&[
            JobWrite::Save(JobSave {
                records: records(&later.id, &["job.succeeded"]),
                finding: None,
                job: Some((settled(later.clone(), 1), Some("pod-a".into()))),
            }),
            JobWrite::Save(JobSave {
                records: records("nobody", &["job.succeeded"]),
                finding: None,
                job: Some((settled(job("missing-0001", "k-missing"), 2), None)),
            }),
        ])
        .await;
    assert!(
        matches!(refused, Err(StoreError::NotFound(_))),
        "{refused:?}"
    );
    assert_eq!(store.audit(0, 0).await.unwrap().len(), written);
    let later = store.get_job(&later.id).await.unwrap().unwrap();
    assert_eq!(later.state, JobState::Running);
    assert!(store.write_jobs(&[]).await.unwrap().is_empty());
}

/// Several handles (replicas) writing batches at once: every job's final
/// state is stored and the chain (its lanes) verifies.
async fn write_jobs_from_replicas_at_once(db: TestDb) {
    use rectify_store::{JobSave, JobWrite};
    let stores = open_replicas(3, &db).await;
    const PER: usize = 30;
    let mut handles = Vec::new();
    for (r, store) in stores.iter().enumerate() {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let worker = format!("replica-{r}");
            let jobs: Vec<Job> = (0..PER)
                .map(|i| job(&format!("r{r}-job-{i:04}"), &format!("k-{r}-{i}")))
                .collect();
            store.enqueue_many(&jobs).await.unwrap();
            let mut claimed = Vec::new();
            while claimed.len() < PER {
                let got = store.claim(&worker, LONG, PER).await.unwrap();
                if got.is_empty() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                claimed.extend(got);
            }
            // Batches of five, one after the other.
            for chunk in claimed.chunks(5) {
                let writes: Vec<JobWrite> = chunk
                    .iter()
                    .map(|j| {
                        JobWrite::Save(JobSave {
                            records: records(&j.id, &["job.applied", "job.succeeded"]),
                            finding: None,
                            job: Some((settled(j.clone(), 0), Some(worker.clone()))),
                        })
                    })
                    .collect();
                assert!(store.write_jobs(&writes).await.unwrap().iter().all(|s| *s));
            }
            claimed.len()
        }));
    }
    let mut done = 0;
    for h in handles {
        done += h.await.unwrap();
    }
    assert_eq!(done, 3 * PER);
    let counts = stores[0].count_jobs().await.unwrap();
    assert_eq!(counts["succeeded"], (3 * PER) as u64, "{counts:?}");
    assert_eq!(stores[0].audit(0, 0).await.unwrap().len(), 2 * 3 * PER);
    let verdict = stores[0].verify_audit().await.unwrap();
    assert!(verdict.is_intact(), "{verdict:?}");
}

/// The read a job makes right before it writes: the kill switch, its
/// rule's pause and (asked for) the breakers' count, as the separate reads
/// give them.
async fn write_gate_reads_the_switch_the_rule_and_the_count(db: TestDb) {
    let store = db.open().await;
    assert_eq!(
        store.write_gate("rule-a", None).await.unwrap(),
        WriteGate::default()
    );
    store
        .set_rule_paused("rule-a", Some("too many changes"), "alice")
        .await
        .unwrap();
    let gate = store.write_gate("rule-a", None).await.unwrap();
    assert_eq!(gate.rule_paused.as_deref(), Some("too many changes"));
    assert!(!gate.paused);
    assert_eq!(gate.changes, None);
    // Another rule is not paused; a rule whose id starts like it neither.
    assert_eq!(
        store.write_gate("rule-b", None).await.unwrap().rule_paused,
        None
    );
    assert_eq!(
        store.write_gate("rule-", None).await.unwrap().rule_paused,
        None
    );

    store.set_paused(true, "bob").await.unwrap();
    let gate = store.write_gate("rule-b", None).await.unwrap();
    assert!(gate.paused);
    assert_eq!(gate.rule_paused, None);

    // Two changes by the action in one account, one in another.
    let since = timefmt::now();
    for (account, resource) in [("111", "r-1"), ("111", "r-2"), ("222", "r-3")] {
        assert_eq!(
            store
                .reserve_change(account, "eu-west-1", "act.fix", resource, Duration::ZERO)
                .await
                .unwrap(),
            None
        );
    }
    let count = |account: &'static str, rule: &'static str, since: String| {
        let store = store.clone();
        async move {
            let gate = store
                .write_gate(
                    "rule-a",
                    Some(ChangeCount {
                        account,
                        rule,
                        since: &since,
                    }),
                )
                .await
                .unwrap();
            // The flags come with the count.
            assert!(gate.paused);
            assert_eq!(gate.rule_paused.as_deref(), Some("too many changes"));
            let alone = store.count_changes(account, rule, &since).await.unwrap();
            assert_eq!(gate.changes, Some(alone));
            alone
        }
    };
    assert_eq!(count("111", "act.fix", since.clone()).await, 2);
    assert_eq!(count("222", "act.fix", since.clone()).await, 1);
    assert_eq!(count("111", "act.other", since.clone()).await, 0);
    assert_eq!(
        count("111", "act.fix", "2999-01-01T00:00:00.000000Z".into()).await,
        0
    );

    // Resumed, both read false again.
    store.set_paused(false, "bob").await.unwrap();
    store
        .set_rule_paused("rule-a", None, "alice")
        .await
        .unwrap();
    let gate = store.write_gate("rule-a", None).await.unwrap();
    assert_eq!(gate, WriteGate::default());
}

/// The rate limit's reservation: one change per account-region per
/// interval, recorded only when taken; a taken slot says when it frees.
async fn reserve_change_spaces_changes_per_account_region(db: TestDb) {
    let store = db.open().await;
    let hour = Duration::from_secs(3600);
    let since = timefmt::now();
    let before = timefmt::now();
    assert_eq!(
        store
            .reserve_change("111", "eu-west-1", "act.fix", "r-1", hour)
            .await
            .unwrap(),
        None
    );
    let free = store
        .reserve_change("111", "eu-west-1", "act.fix", "r-2", hour)
        .await
        .unwrap()
        .expect("the slot is taken for an hour");
    // About an hour after the first change, in the store's format.
    let after_an_hour = |t: &str| {
        let t = rectify_model::parse_rfc3339(t).unwrap();
        rectify_model::format_rfc3339(t + time::Duration::HOUR)
    };
    assert!(free >= after_an_hour(&before), "{free}");
    assert!(free <= after_an_hour(&timefmt::now()), "{free}");
    assert_eq!(timefmt::normalize(&free, "free").unwrap(), free);
    // The refused change was not recorded; another region is free.
    assert_eq!(
        store.count_changes("111", "act.fix", &since).await.unwrap(),
        1
    );
    assert_eq!(
        store
            .reserve_change("111", "us-east-1", "act.fix", "r-3", hour)
            .await
            .unwrap(),
        None
    );
    // Without an interval every change is recorded.
    for resource in ["r-4", "r-5"] {
        assert_eq!(
            store
                .reserve_change("222", "eu-west-1", "act.fix", resource, Duration::ZERO)
                .await
                .unwrap(),
            None
        );
    }
    assert_eq!(
        store.count_changes("222", "act.fix", &since).await.unwrap(),
        2
    );
    assert_eq!(
        store.count_changes("111", "act.fix", &since).await.unwrap(),
        2
    );
}

/// While the kill switch is on, the claim takes nothing (due jobs and
/// expired leases alike) and touches nothing; resumed, it claims as
/// `claim` does.
async fn claim_unpaused_takes_nothing_while_paused(db: TestDb) {
    let store = db.open().await;
    store
        .enqueue_many(&[job("gate-0001", "k-1"), job("gate-0002", "k-2")])
        .await
        .unwrap();
    // One running job whose lease runs out.
    let short = store
        .claim_unpaused("w1", Duration::from_millis(50), 1)
        .await
        .unwrap();
    assert_eq!(short.len(), 1);
    assert_eq!(short[0].id, "gate-0001");
    tokio::time::sleep(Duration::from_millis(120)).await;

    store.set_paused(true, "alice").await.unwrap();
    assert!(store
        .claim_unpaused("w2", LONG, 10)
        .await
        .unwrap()
        .is_empty());
    let pending = store.get_job("gate-0002").await.unwrap().unwrap();
    assert_eq!(pending.state, JobState::Pending);
    assert_eq!(pending.attempts, 0);
    let expired = store.get_job("gate-0001").await.unwrap().unwrap();
    assert_eq!(expired.state, JobState::Running);
    assert_eq!(expired.attempts, 1);

    store.set_paused(false, "alice").await.unwrap();
    assert!(store
        .claim_unpaused("w2", LONG, 0)
        .await
        .unwrap()
        .is_empty());
    let got = store.claim_unpaused("w2", LONG, 10).await.unwrap();
    let ids: Vec<(&str, u32)> = got.iter().map(|j| (j.id.as_str(), j.attempts)).collect();
    assert_eq!(ids, vec![("gate-0001", 2), ("gate-0002", 1)]);
    for id in ["gate-0001", "gate-0002"] {
        let j = store.get_job(id).await.unwrap().unwrap();
        assert_eq!(j.state, JobState::Running);
    }
    // The first holder lost its job to the second.
    assert!(!store.renew("gate-0001", "w1", LONG).await.unwrap());
    assert!(store.renew("gate-0001", "w2", LONG).await.unwrap());
}

/// Many leases renewed in one call: only the ones the worker still holds,
/// and those then outlast their first lease.
async fn renew_many_renews_only_held_leases(db: TestDb) {
    let store = db.open().await;
    store
        .enqueue_many(&[
            job("lease-001", "k-1"),
            job("lease-002", "k-2"),
            job("lease-003", "k-3"),
            job("lease-004", "k-4"),
        ])
        .await
        .unwrap();
    let short = Duration::from_millis(400);
    assert_eq!(store.claim("w1", short, 3).await.unwrap().len(), 3);
    assert_eq!(store.claim("w2", LONG, 1).await.unwrap().len(), 1);
    // lease-003 is done: a final job is renewed no more.
    let mut done = store.get_job("lease-003").await.unwrap().unwrap();
    done.state = JobState::Succeeded;
    assert!(store.save_job(&done, Some("w1")).await.unwrap());

    assert!(store.renew_many(&[], "w1", LONG).await.unwrap().is_empty());
    let asked: Vec<String> = [
        "lease-001",
        "lease-002",
        "lease-003",
        "lease-004",
        "ghost-001",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut renewed = store.renew_many(&asked, "w1", LONG).await.unwrap();
    renewed.sort();
    assert_eq!(renewed, vec!["lease-001", "lease-002"]);
    // Past the first lease nothing is free to claim: the two were renewed,
    // lease-004 is w2's under a long lease.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(store.claim("w3", LONG, 10).await.unwrap().is_empty());
    for id in ["lease-001", "lease-002"] {
        let j = store.get_job(id).await.unwrap().unwrap();
        assert_eq!(j.state, JobState::Running);
        assert_eq!(j.attempts, 1);
    }
    // The holder still saves them.
    for id in ["lease-001", "lease-002"] {
        let mut j = store.get_job(id).await.unwrap().unwrap();
        j.state = JobState::Succeeded;
        assert!(store.save_job(&j, Some("w1")).await.unwrap());
    }
    assert!(store
        .renew_many(&asked[..2], "w1", LONG)
        .await
        .unwrap()
        .is_empty());
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::TestDb::new(super::Kind::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::TestDb::new(super::Kind::Postgres).await).await
                }
            )*
        }
    };
}

both_backends!(
    events_dedupe_and_batch,
    findings_upsert_and_outcome,
    enqueue_duplicate_vs_new_after_final,
    get_job_by_prefix,
    claim_respects_next_run_at_and_leases,
    retry_with_backoff_is_claimed_when_due,
    recover_expired_returns_running_jobs_to_pending,
    concurrent_claimers_never_share_a_job,
    approve_only_from_waiting_approval,
    audit_chain_appends_and_verifies,
    concurrent_appends_keep_the_chain,
    audit_tamper_edit_data,
    audit_tamper_reorder_keys_is_detected,
    audit_tamper_delete_row,
    audit_tamper_delete_tail,
    audit_tamper_change_hash,
    audit_tamper_rewrite_link,
    audit_verify_streams_past_one_page,
    paused_flag_persists,
    migrations_are_idempotent_on_reopen,
    times_are_normalised_for_text_comparison,
    batch_findings_and_audit,
    ingest_and_claim_throughput,
    release_owned_returns_only_that_workers_jobs,
    job_times_have_the_store_format,
    enqueue_many_repeated_ids_and_final_states,
    ingest_writes_everything_in_one_transaction,
    region_slots_bound_holders_across_handles,
    events_are_stored_as_received,
    known_events_and_source_cursors,
    job_pages_follow_the_cursor,
    finding_pages_follow_the_cursor,
    event_origin_and_write_probe,
    applying_marks_leases_and_reversals,
    oldest_due_and_window_tally,
    finding_spans_and_fixes_by_day,
    one_ticket_per_finding_and_system,
    console_reject_filters_and_trails,
    detector_state_saves_replaces_and_deletes,
    digests_fold_repeats_claim_once_and_close_with_the_outbox,
    a_digest_claim_that_ran_out_is_taken_over_once,
    coalescing_windows_open_count_claim_once_and_close_with_the_outbox,
    replicas_share_one_coalescing_window,
    a_digest_period_is_capped_and_counts_what_it_dropped,
    upgrade_from_14_keeps_digests_and_adds_windows,
    scan_history_keeps_lists_and_reads_back,
    scan_schedule_runs_each_slot_once_one_holder_at_a_time,
    upgrade_from_12_adds_scan_history,
    write_jobs_batches_many_jobs,
    write_jobs_from_replicas_at_once,
    write_gate_reads_the_switch_the_rule_and_the_count,
    reserve_change_spaces_changes_per_account_region,
    claim_unpaused_takes_nothing_while_paused,
    renew_many_renews_only_held_leases,
);
