//! `rectify lambda` against the Lambda Runtime API stand-in
//! (tests/standins/lambda_runtime_standin.py, which checks every request
//! against the API's contract) and the AWS emulator: EventBridge events
//! and SQS batches in, resources fixed, answers and errors as Lambda
//! expects them.

mod bad_input;
mod support;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

/// The stand-in, on a free port; killed on drop.
struct RuntimeApi {
    child: std::process::Child,
    address: String,
}

impl RuntimeApi {
    fn start() -> RuntimeApi {
        let root = repo_root();
        let mut child = Command::new(root.join(".venv/bin/python"))
            .arg(root.join("tests/standins/lambda_runtime_standin.py"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the Lambda Runtime API stand-in (run scripts/venv first)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim().strip_prefix("READY ").expect("READY").into();
        RuntimeApi { child, address }
    }

    fn base(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Queues an invocation with `payload` (JSON) or `raw` text.
    fn invoke(&self, payload: Option<&Value>, raw: Option<&str>) -> String {
        let mut request = json!({"timeout_ms": 60_000});
        if let Some(p) = payload {
            request["event"] = p.clone();
        }
        if let Some(r) = raw {
            request["raw"] = json!(r);
        }
        let (status, body) = http(
            &self.base(),
            "POST",
            "/_standin/invoke",
            None,
            Some(&request.to_string()),
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["request_id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The invocation's answer once it has one.
    fn answer(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = http(
                &self.base(),
                "GET",
                &format!("/_standin/result/{id}"),
                None,
                None,
            );
            assert_eq!(status, 200, "{body}");
            let result: Value = serde_json::from_str(&body).unwrap();
            if result["state"] == "response" || result["state"] == "error" {
                return result;
            }
            assert!(Instant::now() < deadline, "no answer to {id}: {result}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn state(&self) -> Value {
        let (_, body) = http(&self.base(), "GET", "/_standin/state", None, None);
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn public_bucket(account: &str) -> (String, aws_sdk_s3::Client) {
    let s3 = s3(&account_config(account).await);
    let bucket = format!("lambda-{account}-{}", rand::random::<u32>());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    (bucket, s3)
}

async fn blocked(s3: &aws_sdk_s3::Client, bucket: &str) -> bool {
    match s3.get_public_access_block().bucket(bucket).send().await {
        Ok(out) => out
            .public_access_block_configuration
            .unwrap()
            .block_public_policy
            .unwrap_or(false),
        Err(_) => false,
    }
}

fn s3_event(account: &str, bucket: &str) -> Value {
    imported(
        account,
        vec![finding(
            account,
            "S3.8",
            "AwsS3Bucket",
            &format!("arn:aws:s3:::{bucket}"),
        )],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn events_and_sqs_batches_are_remediated_and_answered() {
    let account = new_account();
    let inbox = Inbox::new(&format!("lambda-{account}")).await;
    let site = Site::new(&account, "auto", &inbox.topic_arn, &rules(""));
    let api = RuntimeApi::start();
    let mut function = site
        .command()
        .arg("lambda")
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/12/02/[$LATEST]0123abcd")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start rectify lambda");

    // An EventBridge event, padded past 4 KiB so that the API sends it in
    // chunks, as Lambda does with larger payloads.
    let (first, s3) = public_bucket(&account).await;
    let mut event = s3_event(&account, &first);
    event["detail"]["padding"] = json!("x".repeat(10_000));
    let answer = api.answer(&api.invoke(Some(&event), None));
    assert_eq!(answer["state"], "response", "{answer}");
    assert_eq!(answer["body"]["events"], 1, "{answer}");
    let job = &answer["body"]["jobs"][0];
    assert_eq!(
        (job["rule"].as_str(), job["state"].as_str()),
        (Some("s3-bpa"), Some("succeeded")),
        "{answer}"
    );
    assert_eq!(job["outcome"]["kind"], "changed", "{answer}");
    assert!(blocked(&s3, &first).await);

    // An SQS batch: the good message is taken and its bucket fixed; the
    // malformed one is reported for a retry (and the queue's DLQ).
    let (second, _) = public_bucket(&account).await;
    let batch = json!({"Records": [
        {"messageId": "m-good", "eventSource": "aws:sqs", "awsRegion": REGION,
         "body": s3_event(&account, &second).to_string()},
        {"messageId": "m-bad", "eventSource": "aws:sqs", "awsRegion": REGION,
         "body": "{\"source\": "},
    ]});
    let answer = api.answer(&api.invoke(Some(&batch), None));
    assert_eq!(answer["state"], "response", "{answer}");
    assert_eq!(
        answer["body"],
        json!({"batchItemFailures": [{"itemIdentifier": "m-bad"}]})
    );
    assert!(blocked(&s3, &second).await);

    // A payload that is not an event: an error Lambda reports to the caller.
    let answer = api.answer(&api.invoke(None, Some("{\"source\": ")));
    assert_eq!(answer["state"], "error", "{answer}");
    assert_eq!(answer["error_type_header"], "Rectify.InvalidEvent");
    assert_eq!(answer["body"]["errorType"], "Rectify.InvalidEvent");
    let message = answer["body"]["errorMessage"].as_str().unwrap();
    assert!(message.contains("malformed JSON at byte"), "{message}");

    // The same event again (an EventBridge retry): nothing is changed twice.
    let answer = api.answer(&api.invoke(Some(&event), None));
    assert_eq!(answer["state"], "response", "{answer}");
    let jobs = answer["body"]["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{answer}");
    assert_eq!(jobs[0]["outcome"]["kind"], "already-compliant", "{answer}");

    assert_eq!(api.state()["violations"], json!([]), "{}", api.state());
    assert!(
        function.try_wait().unwrap().is_none(),
        "the function must keep taking invocations"
    );
    let _ = function.kill();
    let _ = function.wait();
    // The owner heard of each change once: the redelivered event found its
    // finding already resolved by the same rule, so no second message.
    let outcomes = inbox.outcomes().await;
    assert_eq!(outcomes, ["changed", "changed"]);
    let out = site.rectify(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0));
}

/// An SQS batch of ten on PostgreSQL, two of which can never be stored
/// (see `bad_input`): only those are reported back; the other eight are
/// stored (and so deleted from the queue by Lambda).
#[tokio::test(flavor = "multi_thread")]
async fn only_the_unstorable_record_of_an_sqs_batch_is_reported() {
    let account = new_account();
    let pg = bad_input::PgSchema::new("rectify_lambda");
    let site = Site::new(
        &account,
        "auto",
        &format!("arn:aws:sns:{REGION}:{HOME_ACCOUNT}:unused"),
        &rules(""),
    );
    pg.use_in(&site);

    let api = RuntimeApi::start();
    let mut function = site
        .command()
        .arg("lambda")
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start rectify lambda");
    pg.refuse_checked();

    let events = bad_input::batch(&account);
    let records: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            json!({
                "messageId": format!("m-{i}"), "eventSource": "aws:sqs", "awsRegion": REGION,
                "body": event.to_string(),
            })
        })
        .collect();
    let answer = api.answer(&api.invoke(Some(&json!({"Records": records})), None));
    assert_eq!(answer["state"], "response", "{answer}");
    assert_eq!(
        answer["body"],
        json!({"batchItemFailures": [
            {"itemIdentifier": format!("m-{}", bad_input::CHECKED)},
            {"itemIdentifier": format!("m-{}", bad_input::NUL)},
        ]})
    );

    // Read the store back: the eight good events, not the bad ones.
    let stored = pg.column(&format!("SELECT id FROM {}.events ORDER BY id", pg.schema));
    assert_eq!(stored, bad_input::good_ids(&events));

    // Each bad event alone, as an EventBridge rule would invoke the
    // function: refused as an event that can never be taken, not as an
    // outage.
    for bad in [bad_input::CHECKED, bad_input::NUL] {
        let answer = api.answer(&api.invoke(Some(&events[bad]), None));
        assert_eq!(answer["state"], "error", "{answer}");
        assert_eq!(
            answer["error_type_header"], "Rectify.InvalidEvent",
            "{answer}"
        );
    }
    let stored = pg.column(&format!("SELECT count(*) FROM {}.events", pg.schema));
    assert_eq!(stored, ["8"]);

    assert_eq!(api.state()["violations"], json!([]), "{}", api.state());
    let _ = function.kill();
    let _ = function.wait();
}

#[test]
fn a_broken_config_is_reported_as_an_init_error() {
    let api = RuntimeApi::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rectify.yaml");
    std::fs::write(&config, "store: sqlite://x.db\ndefault_mode: fast\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .arg("lambda")
        .env("RECTIFY_CONFIG", &config)
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let state = api.state();
    let init = &state["init_error"];
    assert_eq!(
        init["error_type_header"], "Rectify.InvalidConfig",
        "{state}"
    );
    assert_eq!(init["body"]["errorType"], "Rectify.InvalidConfig");
    let message = init["body"]["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("rectify.yaml:2:") && message.contains("default_mode"),
        "{message}"
    );
    assert_eq!(state["violations"], json!([]));
}

#[test]
fn named_bootstrap_it_runs_as_the_lambda_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = dir.path().join("bootstrap");
    std::fs::copy(env!("CARGO_BIN_EXE_rectify"), &bootstrap).unwrap();
    let out = Command::new(&bootstrap)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("AWS_LAMBDA_RUNTIME_API is not set"),
        "{stderr}"
    );
}

/// In a function whose log format is JSON (Lambda sets
/// AWS_LAMBDA_LOG_FORMAT), every line on standard error is a JSON object,
/// and an invocation's lines carry its request id and X-Ray trace id.
#[test]
fn json_logs_carry_the_request_and_trace_ids() {
    let api = RuntimeApi::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rectify.yaml");
    std::fs::write(
        &config,
        format!(
            "store: sqlite://{}\naudit:\n  key: none\n",
            dir.path().join("r.db").display()
        ),
    )
    .unwrap();
    let mut function = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .arg("lambda")
        .env("RECTIFY_CONFIG", &config)
        .env("RECTIFY_LOG", "info")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env_remove("RECTIFY_LOG_FORMAT")
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let refused = api.invoke(None, Some("{\"source\": "));
    assert_eq!(api.answer(&refused)["state"], "error");
    let event = json!({"version": "0", "id": "e-1", "detail-type": "Custom",
        "source": "example.custom", "account": "111122223333",
        "time": "2026-12-01T00:00:00Z", "region": REGION, "resources": [], "detail": {}});
    let answered = api.invoke(Some(&event), None);
    assert_eq!(api.answer(&answered)["state"], "response");
    let _ = function.kill();
    let out = function.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let records: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    // The stand-in's trace header, as Lambda sends it.
    let trace = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1";
    for (id, message) in [
        (&refused, "invocation failed"),
        (&answered, "invocation answered"),
    ] {
        let record = records
            .iter()
            .find(|r| r["message"] == message)
            .unwrap_or_else(|| panic!("no `{message}` line: {stderr}"));
        let span = &record["spans"][0];
        assert_eq!(span["name"], "invocation", "{record}");
        assert_eq!(span["request_id"], id.as_str(), "{record}");
        assert_eq!(span["xray_trace_id"], trace, "{record}");
    }
    assert_eq!(api.state()["violations"], json!([]), "{}", api.state());
}

/// With the anomaly detector on, each invocation ends with its upkeep:
/// the detector's state is saved in the store once
/// `save_interval_seconds` has passed since the last save (here since the
/// function started), not at every invocation.
#[tokio::test(flavor = "multi_thread")]
async fn the_anomaly_state_is_saved_once_the_interval_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("rectify.db").display());
    let config = dir.path().join("rectify.yaml");
    std::fs::write(
        &config,
        format!(
            "store: {url}\naudit: {{key: none}}\ndetect:\n  builtin: false\n  anomaly:\n    enabled: true\n    save_interval_seconds: 3\nrules: []\n"
        ),
    )
    .unwrap();
    let api = RuntimeApi::start();
    let started = Instant::now();
    let mut function = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .current_dir(dir.path())
        .args(["--config", config.to_str().unwrap(), "lambda"])
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("RECTIFY_CONFIG")
        .env_remove("RECTIFY_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start rectify lambda");
    let call = |user: &str, n: usize| {
        json!({"version": "0", "id": format!("ct-{n}"), "detail-type": "AWS API Call via CloudTrail",
               "source": "aws.s3", "account": "111122223333", "region": REGION,
               "time": "2026-12-06T06:00:05Z", "resources": [],
               "detail": {"eventVersion": "1.09", "eventTime": "2026-12-06T06:00:05Z",
                          "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets",
                          "awsRegion": REGION, "sourceIPAddress": "192.0.2.10",
                          "userIdentity": {"type": "IAMUser", "accountId": "111122223333",
                                           "arn": format!("arn:aws:iam::111122223333:user/{user}")},
                          "eventID": format!("e-{n}"), "recipientAccountId": "111122223333"}})
    };
    let store = rectify_store::open(&url).await.unwrap();
    let principals = || async { store.detector_state("anomaly-principal").await.unwrap() };

    // Invocations within the interval: counted, nothing written yet.
    for n in 0..3 {
        let answer = api.answer(&api.invoke(Some(&call("alice", n)), None));
        assert_eq!(answer["state"], "response", "{answer}");
        if started.elapsed() < Duration::from_secs(3) {
            assert!(principals().await.is_empty(), "saved before the interval");
        }
    }
    // The interval has passed: the next invocation's upkeep saves.
    while started.elapsed() < Duration::from_millis(3500) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let answer = api.answer(&api.invoke(Some(&call("bob", 3)), None));
    assert_eq!(answer["state"], "response", "{answer}");
    let saved = principals().await;
    let keys: Vec<&str> = saved.iter().map(|(k, _)| k.as_str()).collect();
    for user in ["alice", "bob"] {
        let key = format!("arn:aws:iam::111122223333:user/{user}");
        assert!(keys.contains(&key.as_str()), "{keys:?}");
    }
    let alice = saved
        .iter()
        .find(|(k, _)| k.ends_with("user/alice"))
        .map(|(_, s)| serde_json::from_str::<Value>(s).unwrap())
        .unwrap();
    // Alice's three calls are in her minute's bucket, saved open.
    assert_eq!(alice["open"]["count"], 3, "{alice}");
    let accounts = store.detector_state("anomaly-account").await.unwrap();
    assert!(
        accounts.iter().any(|(k, _)| k == "111122223333"),
        "{accounts:?}"
    );

    assert_eq!(api.state()["violations"], json!([]), "{}", api.state());
    let _ = function.kill();
    let _ = function.wait();
}
