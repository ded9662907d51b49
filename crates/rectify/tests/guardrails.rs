//! Guardrails that need no cloud: the account-region rate limit, the
//! blast-radius breaker, rule pauses and the global kill switch, run with
//! the local journal action.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn site(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rectify.yaml"),
        format!(
            "store: sqlite://{}\naccounts:\n  - id: \"111122223333\"\n{extra}\
             rules:\n  - id: journal\n    pattern: {{source: [guard.test]}}\n    action: local.journal\n    params: {{path: {}}}\n    mode: auto\n",
            dir.path().join("r.db").display(),
            dir.path().join("journal.txt").display(),
        ),
    )
    .unwrap();
    dir
}

fn rectify(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rectify"))
        .current_dir(dir)
        .env("RECTIFY_CONFIG", dir.join("rectify.yaml"))
        .args(args)
        .output()
        .unwrap()
}

fn events(dir: &Path, name: &str, range: std::ops::Range<usize>) -> String {
    let lines: Vec<String> = range
        .map(|i| {
            json!({"id": format!("{name}-{i}"), "source": "guard.test", "detail-type": "t",
                   "account": "111122223333", "region": "eu-west-1",
                   "resources": [format!("res-{i}")], "detail": {}})
            .to_string()
        })
        .collect();
    let path = dir.join(format!("{name}.jsonl"));
    std::fs::write(&path, lines.join("\n")).unwrap();
    path.to_str().unwrap().to_string()
}

fn process(dir: &Path, file: &str) -> Vec<Value> {
    let out = rectify(dir, &["process", "--output", "json", file]);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    report["jobs"].as_array().unwrap().clone()
}

fn kinds(jobs: &[Value]) -> Vec<String> {
    jobs.iter()
        .map(|j| j["outcome"]["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn one_change_per_account_region_every_interval() {
    let dir = site("guardrails:\n  min_interval_seconds: 1\n");
    let file = events(dir.path(), "rate", 0..3);
    let started = Instant::now();
    let jobs = process(dir.path(), &file);
    assert_eq!(kinds(&jobs), ["changed", "changed", "changed"]);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Read the applied times back from the audit log: a second apart.
    let out = rectify(
        dir.path(),
        &["audit", "list", "--limit", "1000", "--output", "json"],
    );
    let records: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut applied: Vec<time::OffsetDateTime> = records
        .iter()
        .filter(|r| r["kind"] == "job.applying")
        .map(|r| {
            time::OffsetDateTime::parse(
                r["time"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        })
        .collect();
    applied.sort();
    assert_eq!(applied.len(), 3);
    for pair in applied.windows(2) {
        assert!(
            pair[1] - pair[0] >= time::Duration::milliseconds(900),
            "{applied:?}"
        );
    }
    // Deferral spends no attempt.
    assert!(jobs.iter().all(|j| j["attempts"] == 1), "{jobs:?}");
}

#[test]
fn the_blast_radius_breaker_pauses_the_rule_until_resumed() {
    let dir =
        site("guardrails:\n  max_changes_per_account_per_hour: 2\nexecution:\n  concurrency: 1\n");
    let file = events(dir.path(), "burst", 0..4);
    let jobs = process(dir.path(), &file);
    assert_eq!(kinds(&jobs), ["changed", "changed", "skipped", "skipped"]);
    assert!(
        jobs[2]["outcome"]["reason"]
            .as_str()
            .unwrap()
            .contains("blast-radius breaker: 2 changes"),
        "{}",
        jobs[2]
    );
    assert!(
        jobs[3]["outcome"]["reason"]
            .as_str()
            .unwrap()
            .contains("rule journal is paused"),
        "{}",
        jobs[3]
    );
    let journal = std::fs::read_to_string(dir.path().join("journal.txt")).unwrap();
    assert_eq!(journal.lines().count(), 2);

    // Resuming the rule lets the next finding through, then the breaker
    // trips again (still 2 changes in the hour).
    assert_eq!(
        rectify(dir.path(), &["resume", "--rule", "journal"])
            .status
            .code(),
        Some(0)
    );
    let jobs = process(dir.path(), &events(dir.path(), "after", 10..11));
    assert_eq!(kinds(&jobs), ["skipped"]);
    assert_eq!(
        rectify(dir.path(), &["resume", "--rule", "nope"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn pausing_a_rule_or_everything_holds_the_work() {
    let dir = site("");
    assert_eq!(
        rectify(dir.path(), &["pause", "--rule", "journal"])
            .status
            .code(),
        Some(0)
    );
    let jobs = process(dir.path(), &events(dir.path(), "held", 0..1));
    assert_eq!(kinds(&jobs), ["skipped"]);
    assert!(!dir.path().join("journal.txt").exists());
    assert_eq!(
        rectify(dir.path(), &["resume", "--rule", "journal"])
            .status
            .code(),
        Some(0)
    );

    // The kill switch: events are recorded and jobs queued, nothing runs.
    assert_eq!(rectify(dir.path(), &["pause"]).status.code(), Some(0));
    let out = rectify(
        dir.path(),
        &[
            "process",
            "--output",
            "json",
            &events(dir.path(), "killed", 1..2),
        ],
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["paused"], true);
    assert_eq!(report["jobs"][0]["state"], "pending");
    assert!(!dir.path().join("journal.txt").exists());
    assert_eq!(rectify(dir.path(), &["resume"]).status.code(), Some(0));
    let out = rectify(
        dir.path(),
        &["jobs", "list", "--state", "pending", "--output", "json"],
    );
    let pending: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pending.len(), 1);
}

#[test]
fn one_job_at_a_time_per_account_region_when_configured() {
    let run = |extra: &str| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("rectify.yaml"),
            format!(
                "store: sqlite://{}\naccounts:\n  - id: \"111122223333\"\nexecution:\n  concurrency: 4\n{extra}\
                 rules:\n  - id: slow\n    pattern: {{source: [guard.test]}}\n    action: local.noop\n    params: {{delay_ms: 400}}\n    mode: auto\n",
                dir.path().join("r.db").display()
            ),
        )
        .unwrap();
        let file = events(dir.path(), "slow", 0..4);
        let started = Instant::now();
        let jobs = process(dir.path(), &file);
        assert_eq!(kinds(&jobs), ["changed"; 4]);
        started.elapsed()
    };
    let limited = run("guardrails:\n  max_concurrent_per_account_region: 1\n");
    assert!(limited >= Duration::from_millis(1600), "{limited:?}");
    let free = run("");
    assert!(free < limited, "{free:?} vs {limited:?}");
}

#[test]
fn the_share_breaker_counts_against_the_accounts_resources_of_the_type() {
    let run = |inventory: u64, events_n: usize| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("rectify.yaml"),
            format!(
                "store: sqlite://{}\naccounts:\n  - id: \"111122223333\"\nexecution:\n  concurrency: 1\n\
                 guardrails:\n  max_percent_of_type_per_hour: 20\n\
                 rules:\n  - id: share\n    pattern: {{source: [guard.test]}}\n    action: local.noop\n    params: {{inventory: {inventory}}}\n    mode: auto\n",
                dir.path().join("r.db").display()
            ),
        )
        .unwrap();
        let file = events(dir.path(), "share", 0..events_n);
        let jobs = process(dir.path(), &file);
        (dir, jobs)
    };
    // 20% of 40 resources: eight changes, then the rule is paused.
    let (dir, jobs) = run(40, 10);
    let mut expected = vec!["changed"; 8];
    expected.extend(["skipped", "skipped"]);
    assert_eq!(kinds(&jobs), expected);
    let reason = jobs[8]["outcome"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("would pass 20% of the 40") && reason.contains("at most 8"),
        "{reason}"
    );
    let paused = rectify(dir.path(), &["jobs", "list", "--output", "json"]);
    assert!(paused.status.success());
    let resumed = rectify(dir.path(), &["resume", "--rule", "share"]);
    assert_eq!(resumed.status.code(), Some(0));
    // An account with fewer than 20 resources of the type is bounded by
    // the count breaker (20 an hour by default), not by a share of it.
    let (_dir, jobs) = run(3, 4);
    assert_eq!(kinds(&jobs), ["changed"; 4]);
}

#[test]
fn a_change_is_undone_by_a_revert_job_after_approval() {
    let dir = site("");
    let journal = dir.path().join("journal.txt");
    let jobs = process(dir.path(), &events(dir.path(), "undo", 0..2));
    assert_eq!(kinds(&jobs), ["changed", "changed"]);
    let id = jobs[0]["id"].as_str().unwrap().to_string();
    let resource = jobs[0]["target"]["resource_id"]
        .as_str()
        .unwrap()
        .to_string();

    // The revert is planned and waits for a person.
    let out = rectify(dir.path(), &["jobs", "revert", &id, "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let revert: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(revert["state"], "waiting-approval", "{revert}");
    assert_eq!(revert["event_id"], format!("revert:{id}"));
    let summary = revert["plan"]["summary"].as_str().unwrap();
    assert!(summary.contains("take res-0 out"), "{summary}");
    assert!(std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .any(|l| l == resource));

    // A second revert of the same job is refused while one is queued.
    let again = rectify(dir.path(), &["jobs", "revert", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already undoes"));

    let revert_id = revert["id"].as_str().unwrap();
    let out = rectify(
        dir.path(),
        &["jobs", "approve", revert_id, "--output", "json"],
    );
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["outcome"]["kind"], "changed", "{done}");
    let lines: Vec<String> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    // Only the reverted job's effect is gone.
    assert_eq!(lines, ["res-1"]);

    // Undoing it again: the resource changed since (the line is gone), so
    // the revert refuses plainly and writes nothing.
    let out = rectify(
        dir.path(),
        &["jobs", "revert", &id, "--approve", "--output", "json"],
    );
    let refused: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(refused["state"], "failed", "{refused}");
    assert!(refused["outcome"]["reason"]
        .as_str()
        .unwrap()
        .contains("changed since"));
    // A revert job cannot itself be reverted, nor a job that changed nothing.
    let nested = rectify(dir.path(), &["jobs", "revert", revert_id]);
    assert_eq!(nested.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&nested.stderr).contains("is itself a revert"));
    let audit = rectify(
        dir.path(),
        &["audit", "list", "--limit", "1000", "--output", "json"],
    );
    let records: Vec<Value> = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(
        records
            .iter()
            .filter(|r| r["kind"] == "job.revert-requested")
            .count(),
        2
    );
}
