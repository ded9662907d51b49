//! The routes the console uses beyond listing and approving: reject and
//! retry (approve scope), filters on jobs and findings, one finding with
//! its rules, jobs and audit trail, a fix on demand that waits for
//! approval, the overview, the rules, the audit verdict and whoami.

mod support;

use rectify_model::JobState;
use serde_json::{json, Value};
use support::*;

/// A Security Hub import of one finding of control `control`.
fn import(id: &str, account: &str, control: &str, severity: &str) -> Value {
    json!({
        "version": "0", "id": format!("ev-{id}"), "source": "aws.securityhub",
        "detail-type": "Security Hub Findings - Imported", "account": account,
        "region": "eu-west-1", "time": "2026-12-01T10:00:00Z", "resources": [],
        "detail": {"findings": [asff(id, account, control, severity)]}
    })
}

fn asff(id: &str, account: &str, control: &str, severity: &str) -> Value {
    json!({
        "SchemaVersion": "2018-10-08", "Id": format!("finding-{id}"),
        "ProductArn": "arn:aws:securityhub:eu-west-1::product/aws/securityhub",
        "GeneratorId": format!("security-control/{control}"),
        "AwsAccountId": account, "Region": "eu-west-1",
        "CreatedAt": "2026-12-01T09:00:00Z", "UpdatedAt": "2026-12-01T10:00:00Z",
        "Severity": {"Label": severity}, "Title": format!("{control} failed"),
        "Compliance": {"Status": "FAILED", "SecurityControlId": control},
        "Workflow": {"Status": "NEW"}, "RecordState": "ACTIVE",
        "Resources": [{"Type": "AwsS3Bucket", "Id": format!("arn:aws:s3:::bucket-{id}"), "Region": "eu-west-1"}]
    })
}

async fn ingest(s: &TestServer, events: Value) -> Value {
    let reply = post_json(s.addr, "/v1/events", Some(INGEST), &events.to_string()).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    reply.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_needs_the_approve_scope_and_a_reason_and_is_final() {
    let s = start("").await;
    let job = s.waiting_job(INGEST, "reject-1").await;
    let path = |q: &str| format!("/v1/jobs/{job}/reject{q}");

    let reply = post_json(s.addr, &path("?reason=no"), Some(READ), "").await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.json()["missing_scope"], "approve");
    for empty in ["", "?reason=", "?reason=%20%20"] {
        let reply = post_json(s.addr, &path(empty), Some(OPS), "").await;
        assert_eq!(reply.status, 400, "{empty}: {}", reply.body);
    }
    let long = "x".repeat(1001);
    let reply = post_json(s.addr, &path(&format!("?reason={long}")), Some(OPS), "").await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let stored = s.engine.store().get_job(&job).await.unwrap().unwrap();
    assert_eq!(
        stored.state,
        JobState::WaitingApproval,
        "refusals changed nothing"
    );

    let reply = post_json(
        s.addr,
        &path("?reason=not%20during%20the%20freeze"),
        Some(OPS),
        "",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let stored = s.engine.store().get_job(&job).await.unwrap().unwrap();
    assert_eq!(stored.state, JobState::Skipped);
    let outcome = stored.outcome.unwrap();
    assert_eq!(outcome.reason, "rejected by api:ops: not during the freeze");
    assert!(outcome.change.is_some(), "the rejected change is kept");
    let trail = get(s.addr, &format!("/v1/jobs/{job}/audit"), Some(READ))
        .await
        .json();
    let rejected = trail["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "job.rejected")
        .expect("a job.rejected record");
    assert_eq!(rejected["data"]["by"], "api:ops");
    assert_eq!(rejected["data"]["reason"], "not during the freeze");
    assert_eq!(
        rejected["data"]["plan_digest"],
        json!(outcome.change.unwrap().digest())
    );
    assert!(trail["records"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["subject"] == job.as_str() || r["subject"] == "reject-1"));

    // Rejected is final: neither approved nor rejected again.
    let reply = post_json(s.addr, &path("?reason=again"), Some(OPS), "").await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    let reply = post_json(s.addr, &format!("/v1/jobs/{job}/approve"), Some(OPS), "").await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    let reply = post_json(
        s.addr,
        "/v1/jobs/00000000-0000-0000-0000-000000000000/reject?reason=x",
        Some(OPS),
        "",
    )
    .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
}

/// A channel every rule without `notify` sends to (top-level keys after
/// `api:`).
const CHANNEL: &str = "notifications:\n  team:\n    sns: arn:aws:sns:eu-west-1:111122223333:rectify-team\ndefault_notify: [team]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_is_told_to_the_rules_channels_through_the_outbox() {
    let s = start(CHANNEL).await;
    let job = s.waiting_job(INGEST, "reject-told").await;
    let before = s.engine.store().outbox_for_job(&job).await.unwrap();
    let reply = post_json(
        s.addr,
        &format!("/v1/jobs/{job}/reject?reason=owner%20asked%20to%20wait"),
        Some(OPS),
        "",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let after = s.engine.store().outbox_for_job(&job).await.unwrap();
    assert_eq!(after.len(), before.len() + 1, "{after:?}");
    let told = after
        .iter()
        .find(|m| !before.iter().any(|b| b.id == m.id))
        .unwrap();
    assert_eq!(told.channel, "team");
    assert_eq!(told.outcome, "skipped");
    assert_eq!(told.state, "sent", "{told:?}");
    let message = &told.body["message"];
    assert_eq!(message["kind"], "rejected", "{message}");
    assert_eq!(message["state"], "skipped");
    assert_eq!(message["job"], job.as_str());
    assert_eq!(
        message["reason"],
        "rejected by api:ops: owner asked to wait"
    );
    assert!(
        message["change"].is_object(),
        "the rejected change: {message}"
    );
    // Both are in the audit log: the rejection and the delivery.
    let trail = get(s.addr, &format!("/v1/jobs/{job}/audit"), Some(READ))
        .await
        .json();
    let kinds: Vec<&str> = trail["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"job.rejected"), "{kinds:?}");
    assert!(kinds.contains(&"notification.sent"), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_dead_or_failed_job_is_retried_as_a_new_job() {
    let s = start("").await;
    let job = s.waiting_job(INGEST, "retry-1").await;
    let retry = format!("/v1/jobs/{job}/retry");
    let reply = post_json(s.addr, &retry, Some(OPS), "").await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert!(reply.body.contains("only dead or failed"), "{}", reply.body);

    // The job ran out of attempts (written as the worker would).
    let store = s.engine.store();
    let mut dead = store.get_job(&job).await.unwrap().unwrap();
    dead.state = JobState::Dead;
    dead.last_error = Some("gave up after 5 attempts".into());
    store.save_job(&dead, None).await.unwrap();

    let reply = post_json(s.addr, &retry, Some(READ), "").await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    let reply = post_json(s.addr, &retry, Some(OPS), "").await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let again = reply.json();
    assert_ne!(again["id"], job.as_str());
    let again = store
        .get_job(again["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.state, JobState::Pending);
    assert_eq!(again.target, dead.target);
    assert_eq!(
        store.get_job(&job).await.unwrap().unwrap().state,
        JobState::Dead,
        "the old job stays"
    );
    let trail = get(s.addr, &format!("/v1/jobs/{}/audit", again.id), Some(READ))
        .await
        .json();
    let retried = trail["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "job.retried")
        .unwrap();
    assert_eq!(retried["data"]["retry_of"], job.as_str());
    assert_eq!(retried["data"]["by"], "api:ops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_and_findings_are_filtered_and_a_finding_shows_its_rules_jobs_and_trail() {
    let s = start("").await;
    let reply = ingest(
        &s,
        json!([
            import("a", "111122223333", "TEST.1", "CRITICAL"),
            import("b", "444455556666", "TEST.1", "LOW"),
            import("c", "111122223333", "S3.8", "LOW"),
        ]),
    )
    .await;
    s.waiting_job(INGEST, "noop-1").await;
    let finding_job = reply["events"][0]["jobs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let ids = |v: &Value, key: &str, field: &str| -> Vec<String> {
        let mut out: Vec<String> = v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[field].as_str().unwrap().to_string())
            .collect();
        out.sort();
        out
    };
    let addr = s.addr;
    let findings = |q: &str| {
        let q = q.to_string();
        async move {
            let reply = get(addr, &format!("/v1/findings?{q}"), Some(READ)).await;
            assert_eq!(reply.status, 200, "{q}: {}", reply.body);
            ids(&reply.json(), "findings", "id")
        }
    };
    assert_eq!(
        findings("account=111122223333").await,
        ["finding-a", "finding-c"]
    );
    assert_eq!(findings("control=TEST.1").await, ["finding-a", "finding-b"]);
    assert_eq!(findings("severity=low").await, ["finding-b", "finding-c"]);
    assert_eq!(findings("state=NEW&severity=CRITICAL").await, ["finding-a"]);
    assert_eq!(
        findings(&format!("rule={FINDING_RULE}&account=111122223333")).await,
        ["finding-a"]
    );
    assert!(findings("account=000000000000").await.is_empty());

    let jobs = |q: &str| {
        let q = q.to_string();
        async move {
            let reply = get(addr, &format!("/v1/jobs?{q}"), Some(READ)).await;
            assert_eq!(reply.status, 200, "{q}: {}", reply.body);
            reply.json()["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["rule_id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(jobs("account=444455556666").await, [FINDING_RULE]);
    assert_eq!(
        jobs("action=local.noop&account=111122223333").await.len(),
        2
    );
    assert_eq!(jobs(&format!("rule={RULE}")).await, [RULE]);
    assert_eq!(jobs("finding=finding-a").await, [FINDING_RULE]);
    assert!(jobs("action=local.journal").await.is_empty());

    // One finding: its ASFF, the rules it matches, its jobs, its trail.
    let reply = get(s.addr, "/v1/finding?id=finding-a", Some(READ)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let one = reply.json();
    assert_eq!(one["finding"]["finding"]["Title"], "TEST.1 failed");
    assert_eq!(one["rules"], json!([FINDING_RULE]));
    assert_eq!(ids(&one, "jobs", "id"), [finding_job.as_str()]);
    let kinds: Vec<&str> = one["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    // The records about its job (a batch's ingest record is about the
    // batch, not about this event).
    assert_eq!(
        kinds,
        ["job.checked", "job.planned", "job.waiting-approval"],
        "{kinds:?}"
    );
    assert!(one["audit"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["subject"] == finding_job.as_str()));
    let reply = get(s.addr, "/v1/finding?id=finding-zz", Some(READ)).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    let reply = get(s.addr, "/v1/finding", Some(READ)).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let reply = get(s.addr, "/v1/finding?id=finding-a", Some(INGEST)).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_on_demand_is_a_custom_action_that_waits_for_approval() {
    let s = start("").await;
    // A stored finding, fixed by its id; a pasted one; a rule that does
    // not match is refused and queues nothing.
    let stored = asff("stored", "111122223333", "TEST.1", "HIGH");
    let reply = post_json(
        s.addr,
        "/v1/fix",
        Some(READ),
        &json!({"finding": stored}).to_string(),
    )
    .await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    let reply = post_json(
        s.addr,
        "/v1/fix",
        Some(OPS),
        &json!({"finding": stored, "rule": RULE}).to_string(),
    )
    .await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(reply.body.contains("does not match"), "{}", reply.body);
    assert!(s
        .engine
        .store()
        .list_jobs(&Default::default())
        .await
        .unwrap()
        .is_empty());
    for bad in ["[]", "{}", "{\"finding\": 3}", "not json"] {
        let reply = post_json(s.addr, "/v1/fix", Some(OPS), bad).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
    }

    let reply = post_json(
        s.addr,
        "/v1/fix",
        Some(OPS),
        &json!({"finding": stored, "rule": FINDING_RULE}).to_string(),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let answer = reply.json();
    let job = answer["submitted"]["jobs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.engine.run_ready().await.unwrap();
    let queued = s.engine.store().get_job(&job).await.unwrap().unwrap();
    assert_eq!(
        queued.state,
        JobState::WaitingApproval,
        "a person's request waits"
    );
    assert_eq!(queued.rule_id, FINDING_RULE);
    assert_eq!(queued.target.resource_id, "arn:aws:s3:::bucket-stored");
    assert!(queued.plan.is_some());
    let event = s
        .engine
        .store()
        .event_origin(&queued.event_id)
        .await
        .unwrap();
    assert_eq!(
        event.as_deref(),
        Some("http:ops"),
        "the event names who asked"
    );

    // By id, from the findings stored.
    ingest(&s, json!([import("byid", "111122223333", "TEST.1", "LOW")])).await;
    let reply = post_json(
        s.addr,
        "/v1/fix",
        Some(OPS),
        &json!({"id": "finding-byid"}).to_string(),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let reply = post_json(
        s.addr,
        "/v1/fix",
        Some(OPS),
        &json!({"id": "finding-none"}).to_string(),
    )
    .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_rules_audit_verdict_and_whoami_answer_readers() {
    let s = start("").await;
    ingest(
        &s,
        json!([
            import("o1", "111122223333", "TEST.1", "HIGH"),
            import("o2", "111122223333", "S3.8", "HIGH"),
        ]),
    )
    .await;
    s.waiting_job(INGEST, "over-1").await;
    let reply = post_json(s.addr, &format!("/v1/pause?rule={RULE}"), Some(OPS), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    let overview = get(s.addr, "/v1/overview", Some(READ)).await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    let overview = overview.json();
    // The test rule's job and the TEST.1 finding's, both planned.
    assert_eq!(overview["queue"]["waiting-approval"], 2, "{overview}");
    assert_eq!(overview["queue"]["pending"], 0, "{overview}");
    assert_eq!(overview["paused"], false);
    assert_eq!(overview["paused_rules"][RULE], "paused by api:ops");
    let high: u64 = overview["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["severity"] == "HIGH" && c["account"] == "111122223333")
        .map(|c| c["findings"].as_u64().unwrap())
        .sum();
    assert_eq!(high, 2, "{overview}");
    let days = overview["days"].as_array().unwrap();
    assert_eq!(days.len(), 14);
    let today: u64 = days[13]["outcomes"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(today, 2, "the two jobs made today: {overview}");

    let rules = get(s.addr, "/v1/rules", Some(READ)).await.json();
    let rule = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == RULE)
        .unwrap();
    assert_eq!(rule["action"], "local.noop");
    assert_eq!(rule["mode"], "approve");
    assert_eq!(rule["matches_24h"], 1);
    assert_eq!(rule["changes_24h"], 0);
    assert_eq!(rule["paused"], "paused by api:ops");
    assert_eq!(rule["pattern"], json!({"source": ["test.source"]}));

    let verdict = get(s.addr, "/v1/audit/verify", Some(READ)).await.json();
    assert_eq!(verdict["intact"], true, "{verdict}");
    assert_eq!(verdict["anchors"]["configured"], false);
    assert!(!verdict["heads"].as_array().unwrap().is_empty());

    let me = get(s.addr, "/v1/whoami", Some(OPS)).await.json();
    assert_eq!(
        me,
        json!({"name": "ops", "scopes": ["read", "approve", "admin"]})
    );
    for path in [
        "/v1/overview",
        "/v1/rules",
        "/v1/audit/verify",
        "/v1/whoami",
    ] {
        assert_eq!(get(s.addr, path, Some(INGEST)).await.status, 403, "{path}");
        assert_eq!(get(s.addr, path, None).await.status, 401, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_counts_open_findings_and_fixes_by_day() {
    let s = start("").await;
    let day = |back: u64| {
        rectify_store::timefmt::now_minus(std::time::Duration::from_secs(back * 86_400))[..10]
            .to_string()
    };
    // Observed two days ago, fixed today; the other opened today.
    let mut old = import("h1", "111122223333", "TEST.1", "HIGH");
    old["detail"]["findings"][0]["FirstObservedAt"] = json!(format!("{}T08:00:00Z", day(2)));
    let mut new = import("h2", "444455556666", "S3.8", "LOW");
    new["detail"]["findings"][0]["CreatedAt"] = json!(rectify_store::timefmt::now());
    let reply = ingest(&s, json!([old, new])).await;
    let job = reply["events"][0]["jobs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.engine.run_ready().await.unwrap();
    let reply = post_json(s.addr, &format!("/v1/jobs/{job}/approve"), Some(OPS), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    s.engine.run_ready().await.unwrap();
    let fixed = s.engine.store().get_job(&job).await.unwrap().unwrap();
    assert_eq!(fixed.state, JobState::Succeeded, "{fixed:?}");
    assert_eq!(
        fixed.outcome.unwrap().kind,
        rectify_model::OutcomeKind::Changed
    );
    // Whether the fixed finding is closed today is the store's say.
    let finding = get(s.addr, "/v1/finding?id=finding-h1", Some(READ))
        .await
        .json();
    let closed = ["RESOLVED", "SUPPRESSED"]
        .contains(&finding["finding"]["workflow_status"].as_str().unwrap_or(""));
    let high_today = if closed { 0 } else { 1 };

    let reply = get(s.addr, "/v1/history?days=4", Some(READ)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let history = reply.json();
    assert_eq!(history["days"], json!([day(3), day(2), day(1), day(0)]));
    assert_eq!(history["open"], json!([0, 1, 1, high_today + 1]));
    assert_eq!(history["fixed"], json!([0, 0, 0, 1]));
    let series = |by: &str, key: &str| {
        history["by"][by]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap_or_else(|| panic!("no {by} {key}: {history}"))
            .clone()
    };
    assert_eq!(
        series("severity", "HIGH")["open"],
        json!([0, 1, 1, high_today])
    );
    assert_eq!(series("severity", "HIGH")["fixed"], json!([0, 0, 0, 1]));
    assert_eq!(series("severity", "LOW")["open"], json!([0, 0, 0, 1]));
    assert_eq!(
        series("account", "444455556666")["open"],
        json!([0, 0, 0, 1])
    );
    assert_eq!(series("control", "TEST.1")["fixed"], json!([0, 0, 0, 1]));
    // The default window, and what is refused.
    let default = get(s.addr, "/v1/history", Some(READ)).await.json();
    assert_eq!(default["days"].as_array().unwrap().len(), 30);
    for bad in ["0", "91", "-1", "x", "1e3"] {
        let reply = get(s.addr, &format!("/v1/history?days={bad}"), Some(READ)).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
    }
    let reply = get(s.addr, "/v1/history?since=1", Some(READ)).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(get(s.addr, "/v1/history", Some(INGEST)).await.status, 403);
    assert_eq!(get(s.addr, "/v1/history", None).await.status, 401);
}
