//! Running rectify as a service: `rectify report` over jobs made by the
//! pipeline (`rectify process`, real store, real engine, the local test
//! actions), on SQLite and PostgreSQL; `/metrics` of a running `rectify
//! serve` checked by `promtool check metrics`.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

const HOME: &str = "111122223333";
const CAPPED: &str = "222233334444";
const OUTSIDE: &str = "999988887777";
/// The outcomes as the report publishes them, in order: pinned here, so
/// that a change of the published shape fails this test.
const OUTCOMES: [&str; 9] = [
    "fixed",
    "compliant",
    "dry-run",
    "waiting",
    "skipped",
    "refused",
    "failed",
    "reverted",
    "open",
];

fn rectify(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .current_dir(dir)
        .env("RECTIFY_CONFIG", dir.join("rectify.yaml"))
        .env_remove("RECTIFY_LOG")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    eprintln!(
        "$ rectify {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The config: a journal rule (real check, apply, verify and undo on a
/// file), a capped rule on another action (a blast-radius breaker at 4
/// changes per account and action pauses the rules of that action), a
/// rule that waits for approval and a dry-run rule.
fn config(store: &str) -> String {
    format!(
        "store: {store}\ndefault_mode: auto\naudit: {{key: none}}\n\
         accounts:\n  - id: '{HOME}'\n  - id: '{CAPPED}'\n\
         guardrails:\n  max_changes_per_account_per_hour: 4\n\
         api:\n  four_eyes: false\n  tokens:\n    - name: tests\n      token: tok-operations-0123456789\n      scopes: [ingest, read]\n\
         rules:\n\
         \x20 - id: journal\n    pattern: {{source: [example.journal]}}\n    action: local.journal\n\
         \x20 - id: capped\n    pattern: {{source: [example.capped]}}\n    action: local.noop\n\
         \x20 - id: approve\n    pattern: {{source: [example.approve]}}\n    action: local.journal\n    mode: approve\n\
         \x20 - id: dry\n    pattern: {{source: [example.dry]}}\n    action: local.journal\n    mode: dry-run\n"
    )
}

fn event(n: usize, source: &str, account: &str, resource: Option<&str>) -> Value {
    json!({
        "version": "0", "id": format!("ev-{n}"), "detail-type": "Example", "source": source,
        "account": account, "region": "eu-west-1", "time": "2026-12-05T08:00:00Z",
        "resources": resource.map(|r| vec![r]).unwrap_or_default(), "detail": {}
    })
}

/// Runs the pipeline over events that end each way a report counts, one
/// `rectify process` each (in order: the breaker counts changes), then
/// undoes one fix. Returns the expected counts per (rule, account).
fn make_jobs(dir: &Path) -> Vec<(&'static str, &'static str, Value)> {
    let bucket = |n: usize| format!("arn:aws:s3:::journal-{n}");
    let mut events = Vec::new();
    for n in 1..=3 {
        events.push(event(n, "example.journal", HOME, Some(&bucket(n))));
    }
    // Written already: compliant.
    events.push(event(4, "example.journal", HOME, Some(&bucket(1))));
    // No resource to act on: refused at plan time as a failure.
    events.push(event(5, "example.journal", HOME, None));
    // An account outside the config: skipped.
    events.push(event(6, "example.journal", OUTSIDE, Some(&bucket(6))));
    // Four changes pass; the fifth trips the breaker, which pauses the
    // rule; the sixth finds it paused.
    for n in 7..=12 {
        events.push(event(
            n,
            "example.capped",
            CAPPED,
            Some(&format!("arn:aws:s3:::capped-{n}")),
        ));
    }
    events.push(event(
        13,
        "example.approve",
        HOME,
        Some("arn:aws:s3:::wait"),
    ));
    events.push(event(14, "example.dry", HOME, Some("arn:aws:s3:::dry")));
    for (i, e) in events.iter().enumerate() {
        let file = dir.join(format!("event-{i}.json"));
        std::fs::write(&file, e.to_string()).unwrap();
        let out = rectify(dir, &["process", file.to_str().unwrap()]);
        assert!(out.status.code().is_some_and(|c| c <= 1), "event {i}");
    }
    // Undo the fix of journal-2.
    let out = rectify(
        dir,
        &["jobs", "list", "--rule", "journal", "--output", "json"],
    );
    let jobs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let fixed = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["target"]["resource_id"] == bucket(2).as_str())
        .expect("the job of journal-2");
    let out = rectify(
        dir,
        &["jobs", "revert", fixed["id"].as_str().unwrap(), "--approve"],
    );
    assert_eq!(out.status.code(), Some(0));
    let journal = std::fs::read_to_string(dir.join("rectify-journal.txt")).unwrap();
    assert_eq!(journal.lines().count(), 2, "{journal}");

    let counts = |pairs: &[(&str, u64)]| {
        let mut all: serde_json::Map<String, Value> =
            OUTCOMES.iter().map(|o| (o.to_string(), json!(0))).collect();
        for (k, v) in pairs {
            all.insert(k.to_string(), json!(v));
        }
        Value::Object(all)
    };
    vec![
        ("approve", HOME, counts(&[("waiting", 1)])),
        ("capped", CAPPED, counts(&[("fixed", 4), ("refused", 2)])),
        ("dry", HOME, counts(&[("dry-run", 1)])),
        (
            "journal",
            HOME,
            counts(&[
                ("fixed", 3),
                ("compliant", 1),
                ("failed", 1),
                ("reverted", 1),
            ]),
        ),
        ("journal", OUTSIDE, counts(&[("skipped", 1)])),
    ]
}

fn report_matches_the_pipeline(dir: &Path) {
    let expected = make_jobs(dir);

    // JSON: a stable shape, the counts per rule and account.
    let out = rectify(dir, &["report", "--since", "1h", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&report), ["from", "to", "rows", "total"]);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), expected.len(), "{report:#}");
    for (row, (rule, account, outcomes)) in rows.iter().zip(&expected) {
        assert_eq!(
            keys(row),
            ["rule", "account", "control", "matched", "outcomes"]
        );
        assert_eq!(keys(&row["outcomes"]), OUTCOMES);
        assert_eq!(row["rule"], *rule, "{row}");
        assert_eq!(row["account"], *account, "{row}");
        assert!(row["control"].is_null(), "{row}");
        assert_eq!(row["outcomes"], *outcomes, "{rule} {account}");
        let sum: u64 = outcomes
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(row["matched"], sum, "{row}");
    }
    assert_eq!(report["total"]["matched"], 15, "{report:#}");
    assert_eq!(report["total"]["outcomes"]["fixed"], 7);

    // CSV: parses, one header and one line per row, the same numbers.
    let out = rectify(dir, &["report", "--since", "1h", "--output", "csv"]);
    let csv = stdout(&out);
    let lines: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    let mut header = vec!["rule", "account", "control", "matched"];
    header.extend(OUTCOMES);
    assert_eq!(lines[0], header);
    assert_eq!(lines.len(), 1 + expected.len(), "{csv}");
    for (line, row) in lines[1..].iter().zip(rows) {
        assert_eq!(line.len(), header.len(), "{csv}");
        assert_eq!(line[0], row["rule"]);
        assert_eq!(line[1], row["account"]);
        assert_eq!(line[2], "");
        assert_eq!(line[3].parse::<u64>().unwrap(), row["matched"]);
        for (i, outcome) in OUTCOMES.iter().enumerate() {
            assert_eq!(
                line[4 + i].parse::<u64>().unwrap(),
                row["outcomes"][outcome]
            );
        }
    }

    // Text: a table with a total.
    let out = rectify(dir, &["report"]);
    let text = stdout(&out);
    assert!(text.contains("RULE"), "{text}");
    let total: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("total"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        total,
        ["total", "15", "7", "1", "1", "1", "1", "2", "1", "1", "0"]
    );

    // A window before any job: nothing; a bad window: a usage error.
    let out = rectify(
        dir,
        &[
            "report",
            "--from",
            "2020-01-01",
            "--to",
            "2020-01-08",
            "--output",
            "json",
        ],
    );
    let empty: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(empty["rows"], json!([]));
    assert_eq!(empty["total"]["matched"], 0);
    assert_eq!(empty["from"], "2020-01-01T00:00:00.000Z");
    for bad in [
        vec!["report", "--since", "a week"],
        vec!["report", "--from", "2020-01-08", "--to", "2020-01-01"],
        vec!["report", "--since", "7d", "--from", "2020-01-01"],
        vec!["jobs", "list", "--output", "csv"],
    ] {
        assert_eq!(rectify(dir, &bad).status.code(), Some(2), "{bad:?}");
    }
}

#[test]
fn report_counts_what_the_pipeline_did_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rectify.yaml"), config("sqlite://r.db")).unwrap();
    report_matches_the_pipeline(dir.path());
}

#[test]
fn report_counts_what_the_pipeline_did_on_postgres() {
    let schema = support::PgSchema::new("rectify_report");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rectify.yaml"), config(&schema.url())).unwrap();
    report_matches_the_pipeline(dir.path());
}

/// `rectify serve` after some work, scraped, and the text handed to
/// `promtool check metrics` (Debian's `prometheus` package; make test
/// installs it). Without promtool the test says so loudly and passes,
/// unless RECTIFY_REQUIRE_PROMTOOL is set (as `make test` sets it).
#[test]
fn metrics_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("rectify.yaml"), config("sqlite://m.db")).unwrap();
    // Outcomes, a breaker, a waiting job: every kind of series shows.
    make_jobs(dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .current_dir(dir)
        .env("RECTIFY_CONFIG", dir.join("rectify.yaml"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let token = "tok-operations-0123456789";
    let mut metrics = None;
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            // A dry-run job: its check is timed, nothing is written.
            let body = event(20, "example.dry", HOME, Some("arn:aws:s3:::served")).to_string();
            let (status, reply) =
                support::http(&base, "POST", "/v1/events", Some(token), Some(&body));
            assert_eq!(status, 202, "{reply}");
            // The worker picks the job up: wait for its outcome to count.
            for _ in 0..100 {
                let (status, text) = support::http(&base, "GET", "/metrics", Some(token), None);
                assert_eq!(status, 200, "{text}");
                if text.contains("rectify_job_duration_seconds_count{outcome=\"planned\"} 1") {
                    metrics = Some(text);
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let metrics = metrics.expect("the served job settled and /metrics counted it");
    for line in [
        "rectify_events_accepted_total 1",
        "rectify_jobs{state=\"waiting-approval\"} 1",
        "rectify_breakers_tripped 1",
        "rectify_rules_paused 1",
        "rectify_rule_paused{cause=\"breaker\",rule=\"capped\"} 1",
        "rectify_paused 0",
        "rectify_ingest_duration_seconds_count 1",
        "rectify_action_call_duration_seconds_count{action=\"local.journal\",call=\"check\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in\n{metrics}"
        );
    }
    assert!(
        metrics.contains("rectify_build_info{commit=\""),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("rectify_queue_oldest_due_seconds ")),
        "{metrics}"
    );

    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut promtool = match promtool {
        Ok(child) => child,
        Err(e) if std::env::var_os("RECTIFY_REQUIRE_PROMTOOL").is_none() => {
            eprintln!(
                "\n*** SKIPPED: promtool is not installed ({e}); /metrics was NOT checked. \
                 `scripts/promtool-deps` installs it; RECTIFY_REQUIRE_PROMTOOL=1 makes this a failure. ***\n"
            );
            return;
        }
        Err(e) => panic!("RECTIFY_REQUIRE_PROMTOOL is set and promtool cannot run: {e}"),
    };
    {
        use std::io::Write;
        let mut input = promtool.stdin.take().unwrap();
        input.write_all(metrics.as_bytes()).unwrap();
    }
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
