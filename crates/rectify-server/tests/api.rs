//! The HTTP API over loopback: token scopes, four eyes, the failed-login
//! limit, per-rule pause, query checks, bounded lists with cursors, what
//! is refused (404, 415) and the health check.

mod support;

use std::collections::BTreeSet;

use serde_json::{json, Value};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_route_needs_its_scope() {
    let s = start("").await;
    let job = s.waiting_job(INGEST, "scope-1").await;

    // The ingest-only token cannot read; the reader cannot ingest,
    // approve or pause.
    for (method, path, token, scope) in [
        ("GET", "/v1/jobs".to_string(), INGEST, "read"),
        ("GET", format!("/v1/jobs/{job}"), INGEST, "read"),
        ("GET", "/v1/findings".to_string(), INGEST, "read"),
        ("GET", "/v1/audit".to_string(), INGEST, "read"),
        ("GET", "/metrics".to_string(), INGEST, "read"),
        ("POST", "/v1/events".to_string(), READ, "ingest"),
        ("POST", format!("/v1/jobs/{job}/approve"), READ, "approve"),
        ("POST", "/v1/pause".to_string(), READ, "admin"),
        ("POST", "/v1/resume".to_string(), INGEST, "admin"),
    ] {
        let body = if path == "/v1/events" {
            event("scope-2").to_string()
        } else {
            String::new()
        };
        let reply = request(
            s.addr,
            method,
            &path,
            Some(token),
            &[("Content-Type", "application/json")],
            &body,
        )
        .await;
        assert_eq!(reply.status, 403, "{method} {path}: {}", reply.body);
        let answer = reply.json();
        assert_eq!(answer["missing_scope"], scope, "{answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains(&format!("lacks the `{scope}` scope")),
            "{answer}"
        );
    }
    // Nothing the refused requests asked for happened.
    assert!(!s.engine.store().is_paused().await.unwrap());
    assert_eq!(
        s.engine.store().get_job(&job).await.unwrap().unwrap().state,
        rectify_model::JobState::WaitingApproval
    );
    assert!(s
        .engine
        .store()
        .known_events(&["scope-2".into()])
        .await
        .unwrap()
        .is_empty());

    // With the scope, the same routes answer.
    assert_eq!(get(s.addr, "/v1/jobs", Some(READ)).await.status, 200);
    assert_eq!(get(s.addr, "/metrics", Some(READ)).await.status, 200);
    let reply = post_json(s.addr, "/v1/pause", Some(OPS), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(s.engine.store().is_paused().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_origin_names_the_token_and_four_eyes_hold() {
    let s = start("").await;
    let job = s.waiting_job(ALL, "four-eyes-1").await;
    assert_eq!(
        s.engine
            .store()
            .event_origin("four-eyes-1")
            .await
            .unwrap()
            .as_deref(),
        Some("http:all")
    );
    let audit = s.engine.store().audit(0, 0).await.unwrap();
    assert!(
        audit.iter().any(|r| r.data["origin"] == "http:all"),
        "{audit:?}"
    );

    // The token that submitted the event may not approve its job.
    let reply = post_json(s.addr, &format!("/v1/jobs/{job}/approve"), Some(ALL), "").await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.body.contains("four eyes"), "{}", reply.body);
    let stored = s.engine.store().get_job(&job).await.unwrap().unwrap();
    assert_eq!(stored.state, rectify_model::JobState::WaitingApproval);
    assert_eq!(stored.approved_by, None);

    // Another token may.
    let reply = post_json(s.addr, &format!("/v1/jobs/{job}/approve"), Some(OPS), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let stored = s.engine.store().get_job(&job).await.unwrap().unwrap();
    assert_eq!(stored.approved_by.as_deref(), Some("api:ops"));
    assert_eq!(stored.state, rectify_model::JobState::Pending);

    // Approving it again is a conflict; a job that does not exist is 404.
    let reply = post_json(s.addr, &format!("/v1/jobs/{job}/approve"), Some(OPS), "").await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    let reply = post_json(
        s.addr,
        "/v1/jobs/00000000-0000-0000-0000-000000000000/approve",
        Some(OPS),
        "",
    )
    .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_eyes_can_be_turned_off() {
    let s = start("  four_eyes: false\n").await;
    let job = s.waiting_job(ALL, "one-person").await;
    let reply = post_json(s.addr, &format!("/v1/jobs/{job}/approve"), Some(ALL), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        s.engine
            .store()
            .get_job(&job)
            .await
            .unwrap()
            .unwrap()
            .approved_by
            .as_deref(),
        Some("api:all")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_limited_per_client_address() {
    let s = start("  max_auth_failures: 3\n").await;
    for _ in 0..3 {
        let reply = get(s.addr, "/v1/jobs", Some("wrong-token-0123456789")).await;
        assert_eq!(reply.status, 401, "{}", reply.body);
    }
    // Now even the right token is not looked at from this address.
    let reply = get(s.addr, "/v1/jobs", Some(READ)).await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    let wait: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");

    // Another address is not held back.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let stream = socket.connect(s.addr).await.unwrap();
    let reply = request_on(stream, s.addr, "GET", "/v1/jobs", Some(READ), &[], "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    let metrics = get(s.addr, "/metrics", Some(READ)).await;
    assert_eq!(metrics.status, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_one_rule() {
    let s = start("").await;
    let store = s.engine.store();
    let reply = post_json(s.addr, &format!("/v1/pause?rule={RULE}"), Some(OPS), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), json!({"rule": RULE, "paused": true}));
    assert!(store.paused_rules().await.unwrap().contains_key(RULE));
    assert!(!store.is_paused().await.unwrap(), "the global switch moved");

    let reply = post_json(s.addr, "/v1/pause?rule=no-such-rule", Some(OPS), "").await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert!(reply.body.contains("no-such-rule"));
    assert_eq!(store.paused_rules().await.unwrap().len(), 1);

    let reply = post_json(s.addr, &format!("/v1/resume?rule={RULE}"), Some(OPS), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(store.paused_rules().await.unwrap().is_empty());

    // Without `rule`: the global switch, as before.
    let reply = post_json(s.addr, "/v1/pause", Some(OPS), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(store.is_paused().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_query_parameters_are_refused_everywhere() {
    let s = start("").await;
    let job = s.waiting_job(ALL, "query-1").await;
    for (method, path, token) in [
        ("GET", "/healthz?verbose=1".to_string(), None),
        ("GET", "/?x=1".to_string(), None),
        ("POST", "/v1/events?dry=1".to_string(), Some(ALL)),
        ("GET", "/v1/jobs?stat=dead".to_string(), Some(ALL)),
        ("GET", format!("/v1/jobs/{job}?full=1"), Some(ALL)),
        ("POST", format!("/v1/jobs/{job}/approve?force=1"), Some(OPS)),
        ("GET", "/v1/findings?status=x".to_string(), Some(ALL)),
        ("GET", "/v1/finding?id=x&full=1".to_string(), Some(ALL)),
        ("GET", "/v1/overview?days=30".to_string(), Some(ALL)),
        ("GET", "/v1/rules?id=x".to_string(), Some(ALL)),
        ("POST", format!("/v1/jobs/{job}/reject?why=x"), Some(OPS)),
        ("POST", format!("/v1/jobs/{job}/retry?now=1"), Some(OPS)),
        ("POST", "/v1/fix?rule=x".to_string(), Some(OPS)),
        ("GET", "/v1/audit?from=1".to_string(), Some(ALL)),
        ("POST", "/v1/pause?rules=x".to_string(), Some(ALL)),
        ("POST", "/v1/resume?all=1".to_string(), Some(ALL)),
        ("GET", "/metrics?name=x".to_string(), Some(ALL)),
        ("GET", "/v1/jobs?limit=1&limit=2".to_string(), Some(ALL)),
    ] {
        let body = if path.starts_with("/v1/events") {
            event("query-2").to_string()
        } else {
            String::new()
        };
        let reply = request(
            s.addr,
            method,
            &path,
            token,
            &[("Content-Type", "application/json")],
            &body,
        )
        .await;
        assert_eq!(reply.status, 400, "{method} {path}: {}", reply.body);
        assert!(reply.body.contains("query parameter"), "{}", reply.body);
    }
    let store = s.engine.store();
    assert!(!store.is_paused().await.unwrap());
    assert!(store
        .known_events(&["query-2".into()])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.get_job(&job).await.unwrap().unwrap().state,
        rectify_model::JobState::WaitingApproval
    );
}

/// Follows `next` until the end; the ids of every page, in order.
async fn walk(s: &TestServer, route: &str, key: &str, id: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..100 {
        let path = match &next {
            Some(cursor) => format!("{route}?limit={limit}&after={cursor}"),
            None => format!("{route}?limit={limit}"),
        };
        let reply = get(s.addr, &path, Some(READ)).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        let page = reply.json();
        let rows = page[key].as_array().unwrap();
        assert!(rows.len() <= limit, "{page}");
        out.extend(rows.iter().map(|r| r[id].to_string()));
        match page["next"].as_str() {
            Some(cursor) => next = Some(cursor.to_string()),
            None => return out,
        }
    }
    panic!("{route}: no end after 100 pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_bounded_and_paged() {
    let s = start("").await;
    let events: Vec<Value> = (0..7)
        .map(|i| {
            let mut e = event(&format!("page-{i}"));
            e["source"] = json!("aws.securityhub");
            e["detail-type"] = json!("Security Hub Findings - Imported");
            e["detail"] = json!({"findings": [{
                "SchemaVersion": "2018-10-08", "Id": format!("finding-{i}"),
                "ProductArn": "arn:aws:securityhub:eu-west-1::product/aws/securityhub",
                "AwsAccountId": "111122223333", "UpdatedAt": "2026-12-01T10:00:00Z",
                "Resources": [{"Type": "AwsS3Bucket", "Id": format!("arn:aws:s3:::b-{i}")}]
            }]});
            e
        })
        .collect();
    let reply = post_json(
        s.addr,
        "/v1/events",
        Some(INGEST),
        &Value::Array(events).to_string(),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    for i in 0..5 {
        submit(s.addr, INGEST, &format!("job-{i}")).await;
    }

    for bad in ["0", "1001", "-1", "ten", ""] {
        for route in ["/v1/jobs", "/v1/findings", "/v1/audit"] {
            let reply = get(s.addr, &format!("{route}?limit={bad}"), Some(READ)).await;
            assert_eq!(reply.status, 400, "{route}?limit={bad}: {}", reply.body);
            assert!(reply.body.contains("1 to 1000"), "{}", reply.body);
        }
    }
    for route in ["/v1/jobs", "/v1/findings", "/v1/audit"] {
        let reply = get(s.addr, &format!("{route}?after=zz"), Some(READ)).await;
        assert_eq!(reply.status, 400, "{route}: {}", reply.body);
    }

    // Paged listings hold exactly what one large page holds.
    for (route, key, id) in [
        ("/v1/jobs", "jobs", "id"),
        ("/v1/findings", "findings", "id"),
        ("/v1/audit", "records", "seq"),
    ] {
        let whole = get(s.addr, &format!("{route}?limit=1000"), Some(READ)).await;
        let whole = whole.json();
        assert!(whole.get("next").is_none(), "{whole}");
        let all: Vec<String> = whole[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[id].to_string())
            .collect();
        assert!(all.len() >= 5, "{route}: {all:?}");
        let paged = walk(&s, route, key, id, 2).await;
        assert_eq!(paged, all, "{route}");
        let unique: BTreeSet<&String> = paged.iter().collect();
        assert_eq!(unique.len(), paged.len(), "{route}: a row listed twice");
    }
    // Seven findings and five jobs were stored: every one is listed.
    assert_eq!(walk(&s, "/v1/findings", "findings", "id", 3).await.len(), 7);
    assert_eq!(walk(&s, "/v1/jobs", "jobs", "id", 3).await.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_json_or_an_sns_envelope_is_taken() {
    let s = start("").await;
    let store = s.engine.store();
    let body = event("ct-1").to_string();
    for content_type in [
        None,
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
    ] {
        let headers: Vec<(&str, &str)> = content_type
            .map(|c| vec![("Content-Type", c)])
            .unwrap_or_default();
        let reply = request(s.addr, "POST", "/v1/events", Some(INGEST), &headers, &body).await;
        assert_eq!(reply.status, 415, "{content_type:?}: {}", reply.body);
        assert!(reply.body.contains("application/json"), "{}", reply.body);
    }
    assert!(store
        .known_events(&["ct-1".into()])
        .await
        .unwrap()
        .is_empty());

    // What SNS HTTP(S) subscriptions send: text/plain, a notification.
    let envelope = json!({
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": "arn:aws:sns:eu-west-1:111122223333:findings",
        "Message": event("ct-sns").to_string(),
        "Timestamp": "2026-12-01T10:00:00.000Z"
    });
    let reply = request(
        s.addr,
        "POST",
        "/v1/events",
        Some(INGEST),
        &[
            ("Content-Type", "text/plain; charset=UTF-8"),
            ("x-amz-sns-message-type", "Notification"),
        ],
        &envelope.to_string(),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    // What EventBridge API destinations send.
    let reply = request(
        s.addr,
        "POST",
        "/v1/events",
        Some(INGEST),
        &[("Content-Type", "application/json; charset=utf-8")],
        &body,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(
        store
            .known_events(&["ct-1".into(), "ct-sns".into()])
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batch_is_taken() {
    // Over the size parsed inline: parsed on a blocking thread.
    let s = start("").await;
    let events: Vec<Value> = (0..400).map(|i| event(&format!("big-{i}"))).collect();
    let body = Value::Array(events).to_string();
    assert!(body.len() > 64 * 1024);
    let reply = post_json(s.addr, "/v1/events", Some(INGEST), &body).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.json()["events"].as_array().unwrap().len(), 400);
    let known = s
        .engine
        .store()
        .known_events(&["big-0".into(), "big-399".into()])
        .await
        .unwrap();
    assert_eq!(known.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_without_internals() {
    let s = start("").await;
    let reply = get(s.addr, "/healthz", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), json!({"status": "ok", "paused": false}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_names_the_plan_it_approves_and_reverts_are_jobs() {
    let s = start("").await;
    let job = s.waiting_job(INGEST, "bound").await;
    let stored = s.engine.store().get_job(&job).await.unwrap().unwrap();
    let digest = stored.plan.as_ref().unwrap().digest();

    // A digest of another plan: the person saw something else.
    let path = format!("/v1/jobs/{job}/approve?plan_digest={}", "0".repeat(64));
    let reply = post_json(s.addr, &path, Some(OPS), "").await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert!(reply.body.contains("another change"), "{}", reply.body);
    let stored = s.engine.store().get_job(&job).await.unwrap().unwrap();
    assert_eq!(stored.state, rectify_model::JobState::WaitingApproval);

    // The digest of the plan shown: approved, and the record keeps it.
    let path = format!("/v1/jobs/{job}/approve?plan_digest={digest}");
    let reply = post_json(s.addr, &path, Some(OPS), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let audit = s.engine.store().audit(0, 1000).await.unwrap();
    let approved = audit
        .iter()
        .find(|r| r.kind == "job.approved" && r.subject == job)
        .unwrap();
    assert_eq!(approved.data["plan_digest"], digest.as_str());

    // Reverts: approve scope; a job that changed nothing cannot be undone;
    // an unknown job is 404.
    let revert = format!("/v1/jobs/{job}/revert");
    let reply = post_json(s.addr, &revert, Some(READ), "").await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    let reply = post_json(s.addr, &revert, Some(OPS), "").await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert!(
        reply.body.contains("made no change to undo"),
        "{}",
        reply.body
    );
    let reply = post_json(
        s.addr,
        "/v1/jobs/00000000-0000-0000-0000-000000000000/revert",
        Some(OPS),
        "",
    )
    .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undo_is_approved_by_another_token_than_the_one_that_asked() {
    let s = start("").await;
    let mut body = event("undo-me");
    body["source"] = serde_json::json!("test.journal");
    let reply = post_json(s.addr, "/v1/events", Some(INGEST), &body.to_string()).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let job = reply.json()["events"][0]["jobs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.engine.run_ready().await.unwrap();
    let reply = post_json(s.addr, &format!("/v1/jobs/{job}/approve"), Some(OPS), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    s.engine.run_ready().await.unwrap();
    let journal = s.dir.path().join("journal.txt");
    assert_eq!(
        std::fs::read_to_string(&journal).unwrap(),
        "arn:aws:s3:::bucket-undo-me\n"
    );

    // ops asks for the undo; it is planned and waits.
    let reply = post_json(s.addr, &format!("/v1/jobs/{job}/revert"), Some(OPS), "").await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let undo = reply.json()["id"].as_str().unwrap().to_string();
    s.engine.run_ready().await.unwrap();
    let waiting = s.engine.store().get_job(&undo).await.unwrap().unwrap();
    assert_eq!(waiting.state, rectify_model::JobState::WaitingApproval);
    // ops may not approve its own undo; another token may.
    let reply = post_json(s.addr, &format!("/v1/jobs/{undo}/approve"), Some(OPS), "").await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.body.contains("asked for the undo"), "{}", reply.body);
    let reply = post_json(s.addr, &format!("/v1/jobs/{undo}/approve"), Some(ALL), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    s.engine.run_ready().await.unwrap();
    let done = s.engine.store().get_job(&undo).await.unwrap().unwrap();
    assert_eq!(done.state, rectify_model::JobState::Succeeded, "{done:?}");
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_the_store_refuses_are_a_client_error_not_a_retry() {
    let s = start("").await;
    // The database refuses one event by its content (a constraint); it is
    // not down.
    let db = rusqlite::Connection::open(s.dir.path().join("rectify.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON events
         WHEN NEW.id = 'poison'
         BEGIN SELECT RAISE(ABORT, 'refused'); END;",
    )
    .unwrap();
    drop(db);
    let reply = post_json(
        s.addr,
        "/v1/events",
        Some(INGEST),
        &event("poison").to_string(),
    )
    .await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(!reply.body.contains("retry"), "{}", reply.body);
    // Good events are still taken.
    let reply = post_json(
        s.addr,
        "/v1/events",
        Some(INGEST),
        &event("good").to_string(),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert!(s
        .engine
        .store()
        .known_events(&["good".into()])
        .await
        .unwrap()
        .contains("good"));
    assert!(s
        .engine
        .store()
        .known_events(&["poison".into()])
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_posing_as_rectifys_detector_or_scanner_are_refused() {
    let s = start("").await;
    for (id, source) in [
        ("forged-d", "rectify.detector"),
        ("forged-s", "rectify.scanner"),
    ] {
        let mut forged = event(id);
        forged["source"] = json!(source);
        let reply = post_json(s.addr, "/v1/events", Some(INGEST), &forged.to_string()).await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert!(reply.body.contains("rectify's own"), "{}", reply.body);
        assert!(s
            .engine
            .store()
            .known_events(&[id.into()])
            .await
            .unwrap()
            .is_empty());
    }
}
