//! Scan history and scheduled scans against the emulator: `rectify scan`
//! by hand keeps its summary; `rectify serve` with `scan.schedule` scans on
//! its own, one replica at a time, and keeps each summary; `rectify scans
//! list|show` print them; a bad schedule is refused at load.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// The scans table as the store holds it, newest first.
fn stored_scans(site: &Site) -> Vec<(String, String, String, String, String, Value)> {
    let conn = rusqlite::Connection::open(site.path("rectify.db")).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT id, kind, started_by, started_at, finished_at, summary FROM scans \
             ORDER BY started_at DESC, id DESC",
        )
        .unwrap();
    stmt.query_map([], |r| {
        let summary: String = r.get(5)?;
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            serde_json::from_str(&summary).unwrap(),
        ))
    })
    .unwrap()
    .collect::<Result<Vec<_>, _>>()
    .unwrap()
}

fn scans_json(site: &Site, args: &[&str]) -> Value {
    let mut all = vec!["--output", "json", "scans"];
    all.extend_from_slice(args);
    let out = site.rectify(&all);
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_scans_run_in_serve_one_at_a_time_and_are_kept() {
    let account = new_account();
    // Every three seconds (a seconds field), feeding the rules; the rule
    // takes the scanner's findings (source rectify.scanner).
    let scan = "scan:\n  schedule: \"*/3 * * * * *\"\n  feed: true\n  concurrency: 4\n";
    let rule = "rules:\n  - id: s3-bpa\n    controls: [S3.2, S3.3, S3.8]\n    pattern:\n      source: [rectify.scanner]\n      detail:\n        findings:\n          Compliance:\n            Status: [FAILED]\n            SecurityControlId: [S3.2, S3.3, S3.8]\n    action: aws.s3.block-public-access\n    notify: [team]\n";
    let site = Site::new(
        &account,
        "dry-run",
        &format!("arn:aws:sns:{REGION}:{HOME_ACCOUNT}:unused"),
        &format!("{scan}{rule}"),
    );
    let (open_bucket, s3) = public_bucket(&account, &[]).await;
    let (closed_bucket, _) = public_bucket(&account, &[]).await;
    block_all(&s3, &closed_bucket).await;

    // By hand first: kept as `manual`.
    let out = site.rectify(&["scan"]);
    assert_eq!(out.status.code(), Some(1), "a bucket fails");
    let kept = stored_scans(&site);
    assert_eq!(kept.len(), 1);
    let (manual_id, kind, by, _, _, summary) = &kept[0];
    assert_eq!(kind, "manual");
    assert!(by.contains('@'), "{by}");
    assert_eq!(summary["accounts"], serde_json::json!([account]));
    assert_eq!(summary["regions"], serde_json::json!([REGION]));
    assert_eq!(summary["feed"], false);
    assert!(summary["verdicts"]["failed"].as_u64().unwrap() >= 1);

    // Two replicas on one store, each with the schedule.
    let a = Server::start_with(&site, &[("RECTIFY_WORKER_ID", "serve-a")]);
    let b = Server::start_with(&site, &[("RECTIFY_WORKER_ID", "serve-b")]);
    let started = Instant::now();
    let scheduled = loop {
        let scheduled: Vec<_> = stored_scans(&site)
            .into_iter()
            .filter(|s| s.1 == "scheduled")
            .collect();
        if scheduled.len() >= 3 {
            break scheduled;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "fewer than three scheduled scans in 90 s: {scheduled:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    // One scan at a time across the replicas: no two overlap.
    let mut spans: Vec<(&str, &str)> = scheduled
        .iter()
        .map(|s| (s.3.as_str(), s.4.as_str()))
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "scans overlap: {pair:?}");
    }
    for (_, _, by, _, _, summary) in &scheduled {
        assert!(by == "serve-a" || by == "serve-b", "{by}");
        assert_eq!(summary["accounts"], serde_json::json!([account]));
        assert_eq!(summary["feed"], true);
        assert!(summary["resources"].as_u64().unwrap() >= 3, "{summary}");
        assert!(summary["verdicts"]["failed"].as_u64().unwrap() >= 1);
        assert!(summary["by_severity"]["HIGH"]["failed"].as_u64().unwrap() >= 1);
        assert!(summary["by_standard"]["cis-3.0"]["passed"]
            .as_u64()
            .is_some());
        assert!(summary["fed"].as_u64().unwrap() >= 1, "{summary}");
    }
    // What was fed became a job (dry-run: nothing written) for the open
    // bucket, run by a replica's workers.
    let (status, body) = http(&a.base, "GET", "/v1/jobs", Some(&site.token), None);
    assert_eq!(status, 200);
    let jobs: Value = serde_json::from_str(&body).unwrap();
    let job = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["target"]["resource_id"] == format!("arn:aws:s3:::{open_bucket}"))
        .unwrap_or_else(|| panic!("no job for the open bucket: {body}"));
    let job = a.wait_job(&site.token, job["id"].as_str().unwrap());
    assert_eq!(job["rule_id"], "s3-bpa", "{job}");
    assert_eq!(job["mode"], "dry-run", "{job}");
    assert_eq!(
        bpa(&s3, &open_bucket).await,
        [false; 4],
        "dry-run writes nothing"
    );
    drop(a);
    drop(b);

    // The CLI reads the same history.
    let listed = scans_json(&site, &["list", "--limit", "50"]);
    let listed = listed.as_array().unwrap();
    assert!(listed.len() >= 4);
    assert!(listed.iter().any(|s| s["id"] == manual_id.as_str()));
    assert_eq!(listed[0]["kind"], "scheduled");
    assert_eq!(
        scans_json(&site, &["list", "--limit", "1"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let id = scheduled[0].0.as_str();
    let shown = scans_json(&site, &["show", id]);
    assert_eq!(shown["id"], id);
    assert_eq!(shown["summary"], scheduled[0].5);

    let out = site.rectify(&["scans", "list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(manual_id) && text.contains("scheduled"),
        "{text}"
    );
    let out = site.rectify(&["scans", "show", id]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("accounts    {account}")), "{text}");
    assert!(
        text.contains("per standard") && text.contains("cis-3.0"),
        "{text}"
    );
    let out = site.rectify(&["scans", "show", "no-such-scan"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_bad_schedule_is_refused_at_load() {
    let account = new_account();
    for (scan, says) in [
        ("scan:\n  schedule: \"61 * * * *\"\n", "scan.schedule"),
        ("scan:\n  schedule: \"0 0 30 2 *\"\n", "never fires"),
        ("scan:\n  feed: true\n", "missing field `schedule`"),
        (
            "scan:\n  schedule: \"0 3 * * *\"\n  regions: [mars-1]\n",
            "scan.regions[0]",
        ),
    ] {
        let site = Site::new(
            &account,
            "dry-run",
            &format!("arn:aws:sns:{REGION}:{HOME_ACCOUNT}:unused"),
            &format!("{scan}{}", rules("")),
        );
        let out = site.rectify(&["validate"]);
        assert_eq!(out.status.code(), Some(2), "{scan}");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(text.contains(says), "{scan}: {text}");
    }
}
